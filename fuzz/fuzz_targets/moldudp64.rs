//! MoldUDP64 fuzz target. One input is used four ways:
//! 1. parsed as a downstream packet (accepted packets must add up exactly) and as a
//!    request packet;
//! 2. fed whole into a session on line A, and into the request server's responder both
//!    as a downstream packet (history) and as a request;
//! 3. split into chunks (`[control][length][bytes]`) fed to a session on lines A, B and
//!    retransmission with the time moving as the control byte says;
//! 4. read as a script that builds *valid* packets (data, heartbeat, end of session,
//!    another session) with fuzzer-chosen sequences, sizes and lines, so the state
//!    machine itself (gaps, buffer, requests, give-up) is explored, not just the parser.
//!
//! Every delivery must be in strictly increasing order and at most once, and the
//! session's counting invariant must hold after every step.
#![no_main]

use std::net::SocketAddr;

use hotpath_feed::moldudp64::{
    write_end_of_session, write_heartbeat, write_request, Action, Line, Packet, PacketBuilder,
    PacketKind, Request, Responder, ServerConfig, Session, SessionConfig, Sink, StartAt,
    HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

const SESSION: [u8; 10] = *b"FUZZSESS01";

fn config(start: StartAt) -> SessionConfig {
    SessionConfig {
        session: None,
        start,
        buffer_capacity: 64,
        max_message_len: 32,
        request_delay_ns: 10,
        request_interval_ns: 100,
        request_timeout_ns: 1_000,
        max_request_count: 50,
        max_request_attempts: 3,
        max_gap_age_ns: 100_000,
    }
}

#[derive(Default)]
struct Check {
    last: Option<u64>,
    delivered: u64,
    lost: u64,
}

impl Sink for Check {
    fn message(&mut self, sequence: u64, _message: &[u8]) {
        if let Some(last) = self.last {
            assert!(sequence > last, "{sequence} delivered after {last}");
        }
        self.last = Some(sequence);
        self.delivered += 1;
    }
    fn lost(&mut self, first: u64, count: u64) {
        assert!(count > 0);
        if let Some(last) = self.last {
            assert!(first > last, "lost {first} after {last}");
        }
        self.last = Some(first + count - 1);
        self.lost += count;
    }
}

fn check(s: &Session, c: &Check, action: Option<Action>) {
    let st = s.stats();
    assert_eq!(
        st.messages_missing,
        st.messages_recovered_total() + st.messages_lost + s.missing()
    );
    assert_eq!(st.messages_delivered, c.delivered);
    assert_eq!(st.messages_lost, c.lost);
    assert!(s.buffered() <= s.buffer_capacity());
    assert!(s.next_sequence() <= s.high_water());
    if let Some(action) = action {
        let Action::Request { sequence, count } = action;
        assert!((1..=50).contains(&count));
        assert_eq!(sequence, s.next_sequence());
        let mut buf = [0u8; 20];
        assert_eq!(s.write_request(&action, &mut buf), Ok(20));
        let r = Request::new_checked(&buf[..]).expect("our request parses");
        assert_eq!((r.sequence(), r.count()), (sequence, count));
    }
}

fn parse(data: &[u8]) {
    if let Ok(p) = Packet::new_checked(data) {
        let mut total = HEADER_LEN;
        let mut n = 0u32;
        for m in p.messages() {
            total += 2 + m.len();
            n += 1;
        }
        assert_eq!(total, data.len());
        assert_eq!(n, u32::from(p.message_count()));
        if p.kind() != PacketKind::Data {
            assert_eq!(n, 0);
        }
        assert_eq!(p.sequenced().count() as u32, n);
    }
    if let Ok(r) = Request::new_checked(data) {
        assert_eq!(data.len(), 20);
        assert!(r.sequence().checked_add(u64::from(r.count())).is_some());
    }
}

fn server(data: &[u8]) {
    let mut c = ServerConfig::new(SESSION);
    c.history_capacity = 64;
    c.max_message_len = 32;
    c.max_packet_len = 120;
    c.max_packets_per_request = 8;
    let mut r = Responder::new(c).expect("valid server config");
    let _ = r.record_packet(data);
    for (i, chunk) in data.chunks(7).enumerate() {
        let _ = r.push(i as u64 + 1, chunk);
    }
    let from = SocketAddr::from(([127, 0, 0, 1], 9));
    let mut request = [0u8; 20];
    let seq = u64::from(data.first().copied().unwrap_or(0));
    let count = u16::from(data.get(1).copied().unwrap_or(0));
    write_request(&mut request, &SESSION, seq, count).unwrap();
    for bytes in [data, &request[..]] {
        let _ = r.handle_request(bytes, from, 0, |p| {
            assert!(p.len() <= 120);
            let p = Packet::new_checked(p).expect("server sends valid packets");
            assert_eq!(p.session(), &SESSION);
            assert!(p.count() >= 1);
            Ok(())
        });
    }
}

fn chunks(data: &[u8]) {
    let mut s = Session::new(config(StartAt::FirstSeen)).expect("valid config");
    let mut c = Check::default();
    let out = s.on_packet(Line::A, data, 0, &mut c);
    check(&s, &c, out.action);
    let mut now = 0u64;
    let mut rest = data;
    while rest.len() >= 2 {
        let ctl = rest[0];
        let len = usize::from(rest[1]).min(rest.len() - 2);
        let chunk = &rest[2..2 + len];
        rest = &rest[2 + len..];
        now += u64::from(ctl >> 2) * 100;
        let out = s.on_packet(Line::ALL[usize::from(ctl % 3)], chunk, now, &mut c);
        check(&s, &c, out.action);
        let action = s.poll(now, &mut c);
        check(&s, &c, action);
    }
}

/// Script: each op is `[op][a][b]` then, for data, `count` size bytes.
fn script(data: &[u8]) {
    let start = match data.first() {
        Some(b) if b & 1 == 0 => StartAt::FirstSeen,
        Some(b) => StartAt::Sequence(u64::from(b >> 1)),
        None => return,
    };
    let mut s = Session::new(config(start)).expect("valid config");
    let mut c = Check::default();
    let mut now = 0u64;
    let mut buf = [0u8; 2048];
    let mut i = 1;
    while i + 3 <= data.len() {
        let (op, a, b) = (data[i], data[i + 1], data[i + 2]);
        i += 3;
        let line = Line::ALL[usize::from((op >> 3) % 3)];
        now = match op >> 6 {
            0 => now + u64::from(b) * 10,
            1 => now + u64::from(b) * 1_000,
            2 => now + u64::from(b) * 100_000,
            _ => now.saturating_sub(u64::from(b)),
        };
        // Sequences mostly near 1..300, sometimes near u64::MAX.
        let seq = if a == 0xFF {
            u64::MAX - u64::from(b)
        } else {
            1 + u64::from(a) + u64::from(b & 0x3F)
        };
        let len = match op & 0x07 {
            0..=3 => {
                let count = usize::from(b % 12) + 1;
                let seq = seq.min(u64::MAX - count as u64);
                let mut pb = PacketBuilder::new(&mut buf, &SESSION, seq).unwrap();
                for k in 0..count {
                    let size = data.get(i + k).map_or(0, |x| usize::from(x % 48));
                    let body = &data[..size.min(data.len())];
                    if pb.push(body).is_err() {
                        break;
                    }
                }
                i += count;
                pb.len()
            }
            4 => write_heartbeat(&mut buf, &SESSION, seq).unwrap(),
            5 => write_end_of_session(&mut buf, &SESSION, seq).unwrap(),
            6 => write_heartbeat(&mut buf, b"OTHERSESS1", seq).unwrap(),
            _ => {
                let action = s.poll(now, &mut c);
                check(&s, &c, action);
                continue;
            }
        };
        let out = s.on_packet(line, &buf[..len], now, &mut c);
        check(&s, &c, out.action);
    }
}

fuzz_target!(|data: &[u8]| {
    parse(data);
    server(data);
    chunks(data);
    script(data);
});
