//! The re-request socket as `Feed::poll` reads it: not at all while nothing is missing,
//! and at most `MAX_ANSWERS_PER_POLL` answers a cycle however many are waiting.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hotpath_book::NullSink;
use hotpath_feed::handler::{Feed, FeedConfig, MAX_ANSWERS_PER_POLL};
use hotpath_feed::moldudp64::{Line, PacketBuilder};
use hotpath_feed::source::RxMeta;

fn packet(buf: &mut [u8], sequence: u64) -> &[u8] {
    let mut b = PacketBuilder::new(buf, b"HOTPATH001", sequence).unwrap();
    b.push(b"S\0\0\0\0\0\0\0\0\0\0O").unwrap();
    b.finish()
}

#[test]
fn answers_are_read_only_while_missing_and_at_most_a_bounded_number_a_cycle() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let SocketAddr::V4(server_addr) = server.local_addr().unwrap() else {
        unreachable!()
    };
    let mut feed = Feed::new(&FeedConfig::default(), NullSink)
        .unwrap()
        .with_request_server(server_addr)
        .unwrap();
    let meta = |ts_ns| RxMeta {
        ts_ns,
        read_ns: ts_ns,
        capture_ts_ns: 0,
        line: Line::A,
    };
    let mut buf = [0u8; 256];
    let _ = feed.on_packet(packet(&mut buf, 1), meta(1_000));
    assert_eq!(feed.session.missing(), 0);

    let from = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (feed_addr, mut now) = {
        // The feed's socket is learnt from its first request, which a gap brings.
        let mut now = 2_000;
        // A gap: sequences 2..=9 are missing; the session asks the server for them.
        let _ = feed.on_packet(packet(&mut buf, 10), meta(now));
        assert_eq!(feed.session.missing(), 8);
        server
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut req = [0u8; 64];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no request reached the server");
            now += 1_000_000;
            feed.poll(now);
            if let Ok((_, addr)) = server.recv_from(&mut req) {
                break (addr, now);
            }
        }
    };

    // A flood of answers (malformed ones: they fill nothing, so the gap stays open).
    const FLOOD: usize = 3 * MAX_ANSWERS_PER_POLL + 5;
    for i in 0..FLOOD {
        from.send_to(&[i as u8; 7], feed_addr).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50)); // loopback delivery
                                                   // (Within microseconds of the request, on the session's clock: the gap is young,
                                                   // not yet given up.)
    let mut per_poll = Vec::new();
    let mut total = 0;
    while total < FLOOD {
        let n = feed.poll(now);
        assert!(n <= MAX_ANSWERS_PER_POLL, "{n} answers in one cycle");
        per_poll.push(n);
        total += n;
        now += 1_000;
        assert!(per_poll.len() < 100, "answers never drained: {per_poll:?}");
    }
    assert_eq!(
        per_poll[..3],
        [MAX_ANSWERS_PER_POLL; 3],
        "a full cycle takes the bound"
    );
    assert_eq!(total, FLOOD);
    assert_eq!(feed.session.missing(), 8, "junk fills no gap");

    // Line A fills the gap. Answers that come now are not read while nothing is
    // missing, and are read once a new gap opens.
    for seq in 2..=9 {
        let _ = feed.on_packet(packet(&mut buf, seq), meta(now));
    }
    assert_eq!(feed.session.missing(), 0);
    for i in 0..10u8 {
        from.send_to(&[i; 7], feed_addr).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..10 {
        now += 1_000;
        assert_eq!(feed.poll(now), 0, "read with nothing missing");
    }
    let _ = feed.on_packet(packet(&mut buf, 20), meta(now));
    assert_eq!(feed.session.missing(), 9);
    assert_eq!(
        feed.poll(now + 1_000),
        10,
        "the waiting answers, at the next gap"
    );
}
