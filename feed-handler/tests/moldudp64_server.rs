//! The request server over real loopback UDP sockets: it runs in its own thread on
//! 127.0.0.1:0 and clients send it request packets.
//!
//! Absence of a reply is checked by ordering, not by sleeping: the server answers the
//! requests of one socket in the order they arrive, so after the requests that must get
//! no answer, a valid request is sent and the first packet received must be its answer.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hotpath_feed::moldudp64::{
    write_heartbeat, write_request, Action, Line, Packet, PacketBuilder, RateLimit, RequestServer,
    ServerConfig, Session, SessionConfig, SessionId, StartAt,
};

const S: SessionId = *b"SERVERSESS";
const OTHER: SessionId = *b"OTHERSESS0";
const WAIT: Duration = Duration::from_secs(5);

/// Deterministic message of 20..=60 bytes.
fn msg(seq: u64) -> Vec<u8> {
    let len = 20 + (seq % 41) as usize;
    (0..len)
        .map(|i| (seq as u8).wrapping_add(i as u8))
        .collect()
}

struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<RequestServer>,
}

impl Running {
    fn start(mut server: RequestServer) -> Running {
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            server
                .run_until(&flag, Duration::from_millis(10))
                .expect("request server failed");
            server
        });
        Running { addr, stop, handle }
    }

    fn stop(self) -> RequestServer {
        self.stop.store(true, Ordering::Release);
        self.handle.join().expect("server thread panicked")
    }
}

fn client() -> UdpSocket {
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c
}

fn send_request(c: &UdpSocket, to: SocketAddr, session: &SessionId, seq: u64, count: u16) {
    let mut b = [0u8; 20];
    write_request(&mut b, session, seq, count).unwrap();
    c.send_to(&b, to).unwrap();
}

fn recv(c: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 65_536];
    let (n, _) = c
        .recv_from(&mut buf)
        .expect("no reply from the request server");
    buf[..n].to_vec()
}

/// Receives packets until they hold `messages` messages; returns them.
fn recv_messages(c: &UdpSocket, messages: usize) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut got = 0;
    while got < messages {
        let p = recv(c);
        got += usize::from(Packet::new_checked(&p[..]).expect("valid reply").count());
        packets.push(p);
    }
    assert_eq!(got, messages, "more messages than asked for");
    packets
}

/// Checks session, MTU and contents; returns the sequences, in order.
fn check_reply(packets: &[Vec<u8>], max_len: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for (i, bytes) in packets.iter().enumerate() {
        assert!(
            bytes.len() <= max_len,
            "packet {i} is {} bytes",
            bytes.len()
        );
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.session(), &S);
        for (seq, m) in p.sequenced() {
            assert_eq!(m, &msg(seq)[..], "content of {seq}");
            seqs.push(seq);
        }
        if i + 1 < packets.len() {
            // Packets are filled: the next message would not have fit.
            let next = Packet::new_checked(&packets[i + 1][..]).unwrap().sequence();
            if next == p.next_sequence() {
                assert!(
                    bytes.len() + 2 + msg(next).len() > max_len,
                    "packet {i} had room for {next}"
                );
            }
        }
    }
    seqs
}

fn config(max_packet_len: usize) -> ServerConfig {
    ServerConfig {
        history_capacity: 128,
        max_packet_len,
        max_packets_per_request: 100,
        rate_limit: None,
        ..ServerConfig::new(S)
    }
}

#[test]
fn answers_requests_split_by_mtu_and_ignores_what_it_cannot_answer() {
    let mut server = RequestServer::bind("127.0.0.1:0", config(200)).unwrap();
    for seq in 1..=200 {
        server.responder_mut().push(seq, &msg(seq)).unwrap();
    }
    assert_eq!(server.responder().oldest(), 73);
    let run = Running::start(server);
    let c = client();

    // 50 messages of 20..60 bytes in packets of at most 200 bytes.
    send_request(&c, run.addr, &S, 100, 50);
    let packets = recv_messages(&c, 50);
    assert!(packets.len() >= 10, "only {} packets", packets.len());
    assert_eq!(check_reply(&packets, 200), (100..150).collect::<Vec<_>>());

    // Straddling the start of the history: only what it still has.
    send_request(&c, run.addr, &S, 70, 10);
    let packets = recv_messages(&c, 7);
    assert_eq!(check_reply(&packets, 200), (73..80).collect::<Vec<_>>());

    // No answer: too old, not yet seen, another session, malformed, count 0.
    send_request(&c, run.addr, &S, 1, 5);
    send_request(&c, run.addr, &S, 201, 5);
    send_request(&c, run.addr, &OTHER, 100, 5);
    c.send_to(&[0u8; 21], run.addr).unwrap();
    send_request(&c, run.addr, &S, 100, 0);
    // ...so the next packet is the answer to this one.
    send_request(&c, run.addr, &S, 150, 1);
    let p = recv(&c);
    let p = Packet::new_checked(&p[..]).unwrap();
    assert_eq!((p.sequence(), p.count()), (150, 1));

    let server = run.stop();
    let st = server.stats();
    assert_eq!(st.requests, 8);
    assert_eq!(st.requests_served, 3);
    assert_eq!(st.requests_unavailable, 2);
    assert_eq!(st.requests_other_session, 1);
    assert_eq!(st.requests_malformed.iter().sum::<u64>(), 1);
    assert_eq!(st.requests_empty, 1);
    assert_eq!(st.messages_sent, 58);
    assert_eq!(st.messages_unavailable, 3 + 5 + 5);
    assert_eq!(st.send_errors, 0);
}

#[test]
fn packet_and_rate_limits() {
    let mut c = config(200);
    c.max_packets_per_request = 2;
    let mut server = RequestServer::bind("127.0.0.1:0", c).unwrap();
    for seq in 1..=100 {
        server.responder_mut().push(seq, &msg(seq)).unwrap();
    }
    let run = Running::start(server);
    let a = client();
    send_request(&a, run.addr, &S, 1, 50);
    let first = recv(&a);
    let second = recv(&a);
    let seqs = check_reply(&[first, second], 200);
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() < 50);
    // The packet limit ended that answer: the next packet answers the next request.
    send_request(&a, run.addr, &S, 90, 1);
    let p = recv(&a);
    assert_eq!(Packet::new_checked(&p[..]).unwrap().sequence(), 90);
    let server = run.stop();
    assert_eq!(server.stats().requests_truncated, 1);
    assert_eq!(server.stats().packets_sent, 3);

    // A token bucket of burst 3, refilling one packet a second, per requester.
    let mut c = config(200);
    c.rate_limit = Some(RateLimit {
        packets_per_sec: 1,
        burst: 3,
    });
    let mut server = RequestServer::bind("127.0.0.1:0", c).unwrap();
    for seq in 1..=100 {
        server.responder_mut().push(seq, &msg(seq)).unwrap();
    }
    let run = Running::start(server);
    let (a, b) = (client(), client());
    send_request(&a, run.addr, &S, 1, 60);
    send_request(&b, run.addr, &S, 1, 60);
    for c in [&a, &b] {
        let packets: Vec<Vec<u8>> = (0..3).map(|_| recv(c)).collect();
        let seqs = check_reply(&packets, 200);
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        assert!(seqs.len() < 60);
    }
    let server = run.stop();
    let st = server.stats();
    assert_eq!(st.packets_sent, 6, "three packets per requester");
    assert_eq!(st.requests_rate_limited, 2);
}

#[test]
fn a_session_recovers_a_gap_through_the_server() {
    let mut server = RequestServer::bind("127.0.0.1:0", ServerConfig::new(S)).unwrap();
    // Fed with downstream packets, 5 messages each.
    let mut buf = [0u8; 1472];
    for first in (1..=100u64).step_by(5) {
        let mut b = PacketBuilder::new(&mut buf, &S, first).unwrap();
        for seq in first..first + 5 {
            b.push(&msg(seq)).unwrap();
        }
        assert_eq!(server.responder_mut().record_packet(b.finish()), Ok(5));
    }
    let run = Running::start(server);

    let mut session = Session::new(SessionConfig {
        session: Some(S),
        start: StartAt::Sequence(1),
        ..SessionConfig::default()
    })
    .unwrap();
    let mut delivered = Vec::new();
    let mut sink = |seq: u64, m: &[u8]| {
        assert_eq!(m, &msg(seq)[..]);
        delivered.push(seq);
    };
    let packet = |first: u64, count: u64| {
        let mut buf = [0u8; 1472];
        let mut b = PacketBuilder::new(&mut buf, &S, first).unwrap();
        for seq in first..first + count {
            b.push(&msg(seq)).unwrap();
        }
        b.finish().to_vec()
    };
    let _ = session.on_packet(Line::A, &packet(1, 10), 0, &mut sink);
    let _ = session.on_packet(Line::A, &packet(21, 10), 1_000, &mut sink);
    let mut hb = [0u8; 20];
    write_heartbeat(&mut hb, &S, 31).unwrap();
    let _ = session.on_packet(Line::B, &hb, 2_000, &mut sink);
    let action = session
        .poll(1_000_000, &mut sink)
        .expect("a request for the gap");
    assert_eq!(
        action,
        Action::Request {
            sequence: 11,
            count: 20
        },
        "from the first missing sequence up to the highest known one"
    );

    let c = client();
    let mut req = [0u8; 20];
    let n = session.write_request(&action, &mut req).unwrap();
    c.send_to(&req[..n], run.addr).unwrap();
    let mut t = 2_000_000;
    while session.has_gap() {
        let p = recv(&c);
        let out = session.on_packet(Line::Retransmission, &p, t, &mut sink);
        assert_eq!(out.rejected, None);
        t += 1_000;
    }
    // 21..=30 were buffered from line A, so the server's copies of them are
    // duplicates; wait for all of them so the counts are final.
    while session.stats().duplicates[Line::Retransmission.index()] < 10 {
        let p = recv(&c);
        let _ = session.on_packet(Line::Retransmission, &p, t, &mut sink);
    }
    assert_eq!(delivered, (1..=30).collect::<Vec<_>>());
    let st = session.stats();
    assert_eq!(st.messages_recovered[Line::Retransmission.index()], 10);
    assert_eq!(st.duplicates[Line::Retransmission.index()], 10);
    assert_eq!(st.requests_sent, 1);
    assert_eq!(session.missing(), 0);
    let server = run.stop();
    assert_eq!(server.stats().messages_sent, 20);
}

#[test]
fn records_a_feed_socket() {
    let feed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let feed_addr = feed.local_addr().unwrap();
    let server = RequestServer::bind("127.0.0.1:0", ServerConfig::new(S))
        .unwrap()
        .with_feed(feed)
        .unwrap();
    let run = Running::start(server);

    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 1472];
    for first in [1u64, 6, 11, 16] {
        let mut b = PacketBuilder::new(&mut buf, &S, first).unwrap();
        for seq in first..first + 5 {
            b.push(&msg(seq)).unwrap();
        }
        sender.send_to(b.finish(), feed_addr).unwrap();
    }
    let mut b = PacketBuilder::new(&mut buf, &OTHER, 21).unwrap();
    b.push(b"not ours").unwrap();
    sender.send_to(b.finish(), feed_addr).unwrap();
    sender.send_to(&[1, 2, 3], feed_addr).unwrap();

    let c = client();
    send_request(&c, run.addr, &S, 1, 25);
    let packets = recv_messages(&c, 20);
    assert_eq!(check_reply(&packets, 1472), (1..=20).collect::<Vec<_>>());
    let server = run.stop();
    let st = server.stats();
    assert_eq!(st.feed_packets, 4);
    assert_eq!(st.feed_other_session, 1);
    assert_eq!(st.feed_malformed.iter().sum::<u64>(), 1);
    assert_eq!(st.history_stored, 20);
    assert_eq!(st.messages_unavailable, 5);
}
