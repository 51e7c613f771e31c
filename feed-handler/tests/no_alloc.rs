//! The whole hot path allocates nothing after warm-up: packet source (pcap in memory),
//! MoldUDP64 session (including gaps, buffering and give-up), ITCH decode, L3 books and
//! the shm publisher. A counting global allocator proves it.

use hotpath_book::BookConfig;
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{Feed, FeedConfig, ShmPublisher};
use hotpath_feed::moldudp64::Line;
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, PacketSource, RxMeta, SourceError};
use hotpath_hw::alloc::CountingAllocator;
use hotpath_shm::md::MdEvent;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

#[test]
fn no_allocation_on_the_hot_path_after_warm_up() {
    let mut pcap = Vec::new();
    gen::write_pcap(
        Generator::new(GenConfig {
            messages: 400_000,
            seed: 77,
            symbols: 50,
            live_target: None,
        })
        .unwrap(),
        &mut pcap,
        &PcapOptions::default(),
        |_| {},
    )
    .unwrap();
    let dir = tempfile::Builder::new().tempdir_in("/dev/shm").unwrap();
    let ring = hotpath_shm::broadcast::create::<MdEvent>(&dir.path().join("md"), 1 << 16).unwrap();
    let cfg = FeedConfig {
        books: BookConfig {
            order_capacity: 1 << 18,
            max_levels: 1 << 18,
            ..BookConfig::default()
        },
        ..FeedConfig::default()
    };
    let mut feed = Feed::new(&cfg, ShmPublisher::new(ring, true)).unwrap();
    let mut src =
        PcapSource::from_bytes("day.pcap".as_ref(), pcap, Lines::default(), Pace::AsFast).unwrap();

    // Collect the packets (allocating, before the measurement) so that the measured
    // part can also reorder and drop them: the session's gap machinery must not
    // allocate either.
    let mut packets: Vec<Vec<u8>> = Vec::new();
    loop {
        match src.recv_burst(&mut |p, _| packets.push(p.to_vec())) {
            Ok(_) => {}
            Err(SourceError::End) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let warm = packets.len() / 5;
    let meta = |ts| RxMeta {
        ts_ns: ts,
        read_ns: ts,
        capture_ts_ns: 0,
        line: Line::A,
    };
    let mut now = 1_000u64;
    for p in &packets[..warm] {
        let _ = feed.on_packet(p, meta(now));
        now += 1_000;
    }
    let rest = &packets[warm..];
    let mut i = 0;
    let allocations = ALLOC.allocations_in(|| {
        while i < rest.len() {
            if i % 97 == 5 && i + 1 < rest.len() {
                // Swap two packets: a gap, buffering, then the fill.
                let _ = feed.on_packet(&rest[i + 1], meta(now));
                let _ = feed.on_packet(&rest[i], meta(now + 10));
                i += 2;
            } else if i % 997 == 11 {
                // Drop one on line A; line B brings it a little later.
                let _ = feed.on_packet(&rest[i + 1], meta(now));
                let _ = feed.on_packet(
                    &rest[i],
                    RxMeta {
                        line: Line::B,
                        ..meta(now + 50)
                    },
                );
                let _ = feed.on_packet(
                    &rest[i + 1],
                    RxMeta {
                        line: Line::B,
                        ..meta(now + 60)
                    },
                );
                i += 2;
            } else {
                let _ = feed.on_packet(&rest[i], meta(now));
                i += 1;
            }
            feed.poll(now);
            now += 1_000;
        }
    });
    assert_eq!(
        feed.core.stats.messages,
        400_000,
        "{:?}",
        feed.session.stats()
    );
    assert!(feed.session.stats().gaps_detected > 10, "the gap path ran");
    assert!(feed.core.publisher.published() > 100_000);
    assert_eq!(allocations, 0, "allocations on the hot path after warm-up");
    let _ = PacketSource::stats(&src);
}

/// The UDP source allocates nothing once open, on one socket for both lines and on a
/// socket each (bursts merged by the kernel's stamps, a burst's rest held to the next
/// poll).
#[test]
fn the_udp_source_allocates_nothing_once_open() {
    use hotpath_feed::source::udp::{Sockets, UdpSource};
    use std::net::{Ipv4Addr, SocketAddrV4};
    const SENT: u64 = 500;
    let port = 47_000 + (std::process::id() % 10_000) as u16;
    for (i, sockets) in [Sockets::One, Sockets::PerLine].into_iter().enumerate() {
        let a = SocketAddrV4::new(Ipv4Addr::new(239, 202, 1 + i as u8, 1), port);
        let b = SocketAddrV4::new(Ipv4Addr::new(239, 202, 1 + i as u8, 2), port);
        let mut udp = UdpSource::open_lines((a, None), Some((b, None)), "lo", sockets).unwrap();
        let tx = hotpath_hw::net::mcast_tx("lo").unwrap();
        for n in 0..SENT {
            tx.send_to(&n.to_be_bytes(), a).unwrap();
            tx.send_to(&n.to_be_bytes(), b).unwrap();
        }
        let mut lines = [0u64; 2];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let allocations = ALLOC.allocations_in(|| {
            while lines[0] + lines[1] < 2 * SENT && std::time::Instant::now() < deadline {
                udp.recv_burst(&mut |_, meta| lines[meta.line.index()] += 1)
                    .unwrap();
            }
        });
        assert_eq!(lines, [SENT, SENT], "{}", udp.describe());
        assert_eq!(allocations, 0, "{}", udp.describe());
    }
}
