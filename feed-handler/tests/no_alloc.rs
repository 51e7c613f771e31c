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
