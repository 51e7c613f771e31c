//! Lines A and B from two sources polled as one (`Merged`): each line loses packets the
//! other has, and the session, arbitrating, delivers every message once.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use hotpath_book::NullSink;
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{Feed, FeedConfig};
use hotpath_feed::moldudp64::Line;
use hotpath_feed::source::merged::Merged;
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, PacketSource, SourceError};
use pcap_file::pcap::{PcapReader, PcapWriter};

const MESSAGES: u64 = 100_000;

/// A generated day sent to `dst`, without the packets `drop` picks (by index; the
/// end of session, last, is always kept). Returns the capture and the packets kept.
pub fn day_to(dst: SocketAddrV4, drop: impl Fn(usize) -> bool) -> (Vec<u8>, u64) {
    let cfg = GenConfig {
        messages: MESSAGES,
        seed: 21,
        symbols: 30,
        live_target: None,
    };
    let opts = PcapOptions {
        dst,
        ..PcapOptions::default()
    };
    let mut full = Vec::new();
    let (_, packets) =
        gen::write_pcap(Generator::new(cfg).unwrap(), &mut full, &opts, |_| {}).unwrap();
    let mut r = PcapReader::new(&full[..]).unwrap();
    let mut w = PcapWriter::with_header(Vec::new(), r.header()).unwrap();
    let (mut i, mut kept) = (0usize, 0u64);
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        if i as u64 + 1 == packets || !drop(i) {
            w.write_packet(&p).unwrap();
            kept += 1;
        }
        i += 1;
    }
    (w.into_writer(), kept)
}

#[test]
fn two_sources_one_line_each_deliver_every_message_once() {
    let a = SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 1), 26477);
    let b = SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 2), 26477);
    let lines = Lines {
        a: Some(a),
        b: Some(b),
    };
    // Disjoint losses: A misses every tenth packet from the third, B from the eighth.
    let (cap_a, kept_a) = day_to(a, |i| i % 10 == 2);
    let (cap_b, kept_b) = day_to(b, |i| i % 10 == 7);
    let source = |name: &str, cap: Vec<u8>| -> Box<dyn PacketSource> {
        Box::new(PcapSource::from_bytes(Path::new(name), cap, lines, Pace::AsFast).unwrap())
    };
    assert!(Merged::new(Vec::new()).is_none());
    let mut src = Merged::new(vec![source("a.pcap", cap_a), source("b.pcap", cap_b)]).unwrap();
    let mut feed = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    while !matches!(feed.pump(&mut src), Err(SourceError::End)) {
        feed.poll(hotpath_shm::clock::monotonic_ns());
    }
    let s = feed.session.stats();
    assert_eq!(feed.core.stats.messages, MESSAGES, "{s:?}");
    assert_eq!(s.messages_lost, 0);
    assert!(feed.session.is_finished());
    assert_eq!(s.packets[Line::A.index()], kept_a);
    assert_eq!(s.packets[Line::B.index()], kept_b);
    // A is polled first, so its losses are the gaps, and B filled every one of them.
    assert!(s.gaps_detected > 0, "A's losses made gaps");
    assert!(s.messages_missing > 0);
    assert_eq!(
        s.messages_recovered[Line::B.index()],
        s.messages_missing,
        "{s:?}"
    );
    let st = src.stats();
    assert_eq!(st.packets, kept_a + kept_b);
    assert_eq!(st.other_destinations, 0);
    assert_eq!(
        src.describe(),
        format!(
            "{} + {}",
            src.parts()[0].describe(),
            src.parts()[1].describe()
        )
    );
    assert!(src.describe().contains("a.pcap") && src.describe().contains("b.pcap"));
    assert_eq!(src.nic_stats(), None, "no source has a port");
    assert!(
        src.nic_reader().is_none(),
        "nothing for another thread to read"
    );
    // Ended for good: every part has.
    assert!(matches!(
        src.recv_burst(&mut |_, _| {}),
        Err(SourceError::End)
    ));
}
