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
use hotpath_feed::source::{Lines, NotOurs, PacketSource, SourceError};
use pcap_file::pcap::{PcapReader, PcapWriter};

const MESSAGES: u64 = 100_000;

/// A generated day sent to `dst`, without the packets `drop` picks (by index; the
/// end of session, last, is always kept). Returns the capture and the packets kept.
pub fn day_to(dst: SocketAddrV4, drop: impl Fn(usize) -> bool) -> (Vec<u8>, u64) {
    day(
        PcapOptions {
            dst,
            ..PcapOptions::default()
        },
        drop,
    )
}

/// [`day_to`] with the capture's addresses and session given.
fn day(opts: PcapOptions, drop: impl Fn(usize) -> bool) -> (Vec<u8>, u64) {
    let cfg = GenConfig {
        messages: MESSAGES,
        seed: 21,
        symbols: 30,
        live_target: None,
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

/// A feed handler fed `src` until it ends.
fn run_to_end(src: &mut Merged) -> Feed<NullSink> {
    let mut feed = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    while !matches!(feed.pump(src), Err(SourceError::End)) {
        feed.poll(hotpath_shm::clock::monotonic_ns());
    }
    feed
}

#[test]
fn two_sources_one_line_each_deliver_every_message_once() {
    let a = SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 1), 26477);
    let b = SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 2), 26477);
    let lines = Lines {
        a: Some(a),
        b: Some(b),
        ..Lines::default()
    };
    // Disjoint losses: A misses every tenth packet from the third, B from the eighth.
    let (cap_a, kept_a) = day_to(a, |i| i % 10 == 2);
    let (cap_b, kept_b) = day_to(b, |i| i % 10 == 7);
    let source = |name: &str, cap: Vec<u8>| -> Box<dyn PacketSource> {
        Box::new(PcapSource::from_bytes(Path::new(name), cap, lines, Pace::AsFast).unwrap())
    };
    assert!(Merged::new(Vec::new()).is_none());
    let mut src = Merged::new(vec![source("a.pcap", cap_a), source("b.pcap", cap_b)]).unwrap();
    let feed = run_to_end(&mut src);
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

/// Source-specific multicast (RFC 4607): two channels (S1,G) and (S2,G) share a group,
/// line A is S1's and line B is S2's, and a third host sending to the group is neither.
#[test]
fn two_channels_of_one_group_are_told_apart_by_their_sources() {
    let g = SocketAddrV4::new(Ipv4Addr::new(232, 1, 1, 1), 26477);
    let from = |ip: [u8; 4]| SocketAddrV4::new(Ipv4Addr::from(ip), 26400);
    let (s1, s2, s3) = (
        from([10, 0, 0, 1]),
        from([10, 0, 0, 2]),
        from([10, 0, 0, 3]),
    );
    let lines = Lines {
        a: Some(g),
        b: Some(g),
        a_source: Some(*s1.ip()),
        b_source: Some(*s2.ip()),
    };
    let opts = |src, session: &[u8; 10]| PcapOptions {
        src,
        dst: g,
        session: *session,
        ..PcapOptions::default()
    };
    let (cap_a, kept_a) = day(opts(s1, b"HOTPATH001"), |i| i % 10 == 2);
    let (cap_b, kept_b) = day(opts(s2, b"HOTPATH001"), |i| i % 10 == 7);
    // Another session on the same group, from a host that is neither line's source.
    let (cap_c, sent_c) = day(opts(s3, b"INTRUDER01"), |i| i % 2 == 1);
    let source = |name: &str, cap: Vec<u8>| -> Box<dyn PacketSource> {
        Box::new(PcapSource::from_bytes(Path::new(name), cap, lines, Pace::AsFast).unwrap())
    };
    let mut src = Merged::new(vec![
        source("a.pcap", cap_a),
        source("c.pcap", cap_c),
        source("b.pcap", cap_b),
    ])
    .unwrap();
    let feed = run_to_end(&mut src);
    let s = feed.session.stats();
    assert_eq!(feed.core.stats.messages, MESSAGES, "{s:?}");
    assert_eq!(s.messages_lost, 0);
    assert_eq!(
        s.other_session_packets, 0,
        "the third host never reached the session"
    );
    assert_eq!(s.packets[Line::A.index()], kept_a, "line A is S1's packets");
    assert_eq!(s.packets[Line::B.index()], kept_b, "line B is S2's packets");
    assert_eq!(s.messages_recovered[Line::B.index()], s.messages_missing);
    let st = src.stats();
    assert_eq!(st.packets, kept_a + kept_b);
    assert_eq!(st.other_sources, sent_c);
    assert_eq!(st.other_destinations, 0);

    // The counters tell a wrong source from a wrong destination.
    let other_g = SocketAddrV4::new(Ipv4Addr::new(232, 1, 1, 2), 26477);
    assert_eq!(lines.classify(*s1.ip(), g), Ok(Line::A));
    assert_eq!(lines.classify(*s2.ip(), g), Ok(Line::B));
    assert_eq!(lines.classify(*s3.ip(), g), Err(NotOurs::Source));
    assert_eq!(lines.classify(*s1.ip(), other_g), Err(NotOurs::Destination));
    let any = Lines {
        a: Some(g),
        b: Some(other_g),
        ..Lines::default()
    };
    assert_eq!(
        any.classify(*s3.ip(), g),
        Ok(Line::A),
        "no source: any host"
    );
    assert_eq!(any.classify(*s3.ip(), other_g), Ok(Line::B));
    let everything = Lines::default();
    assert_eq!(everything.classify(*s3.ip(), other_g), Ok(Line::A));
}
