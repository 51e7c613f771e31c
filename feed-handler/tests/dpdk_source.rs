//! The DPDK packet source on `net_pcap` virtual devices: the real MoldUDP64 capture
//! decodes to exactly what the pcap-file source gives, and a generated capture of a
//! million packets arrives complete, every sequence once, nothing missed by the port.
//! One EAL per process: every test here shares it.
#![cfg(feature = "dpdk")]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hotpath_book::NullSink;
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{Feed, FeedConfig};
use hotpath_feed::moldudp64::{Line, Packet};
use hotpath_feed::source::dpdk::DpdkSource;
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, PacketSource, SourceError};
use hotpath_hw::dpdk::{Eal, Port, PortConfig};

/// The EAL without devices (tests attach theirs); tests take turns with hot plug.
fn eal() -> (&'static Eal, MutexGuard<'static, ()>) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let args = "--no-huge --no-pci --no-shconf -m 512 -l 0 --log-level=lib.eal:error";
    let args: Vec<&str> = args.split(' ').collect();
    (Eal::get_or_init(&args).expect("EAL init"), guard)
}

fn dpdk_source(eal: &Eal, vdev: &str, pcap: &Path) -> DpdkSource {
    let id = eal
        .probe(&format!("{vdev},rx_pcap={}", pcap.display()))
        .expect("probe");
    let port = Port::open(eal, id, &PortConfig::default()).expect("open port");
    DpdkSource::on_port(port, Lines::default(), Some(Duration::from_millis(300))).unwrap()
}

/// Every (line, sequence, message) a source hands out, in order.
fn messages(src: &mut dyn PacketSource) -> Vec<(Line, u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let r = src.recv_burst(&mut |payload, meta| {
            let p = Packet::new_checked(payload).expect("MoldUDP64 packet");
            for (seq, m) in p.sequenced() {
                out.push((meta.line, seq, m.to_vec()));
            }
        });
        match r {
            Ok(_) => {}
            Err(SourceError::End) => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

fn real_capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/itch50/moldudp64_multiple_packets.pcap")
}

#[test]
fn the_real_capture_decodes_to_the_same_messages_as_the_pcap_file_source() {
    let (eal, _g) = eal();
    let path = real_capture();
    let mut file = PcapSource::open(&path, Lines::default(), Pace::AsFast).unwrap();
    let want = messages(&mut file);
    assert!(!want.is_empty());
    let mut dpdk = dpdk_source(eal, "net_pcap10", &path);
    assert!(
        dpdk.describe().contains("net_pcap10"),
        "{}",
        dpdk.describe()
    );
    let got = messages(&mut dpdk);
    assert_eq!(got, want);
    assert_eq!(dpdk.stats(), file.stats(), "same packets, bytes and skips");
    assert_eq!(dpdk.port_stats().imissed, 0);

    // And the feed handler builds the same from both.
    let mut by_file = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    let mut src = PcapSource::open(&path, Lines::default(), Pace::AsFast).unwrap();
    while !matches!(by_file.pump(&mut src), Err(SourceError::End)) {}
    let mut by_dpdk = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    let mut src = dpdk_source(eal, "net_pcap11", &path);
    while !matches!(by_dpdk.pump(&mut src), Err(SourceError::End)) {}
    assert_eq!(by_dpdk.core.stats, by_file.core.stats);
    assert!(by_dpdk.core.stats.messages > 0);
}

#[test]
fn a_million_generated_packets_arrive_complete_every_sequence_once() {
    // Small messages share a packet now and then: 1.15 M messages make over 1 M packets.
    const MESSAGES: u64 = 1_150_000;
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.pcap");
    // About one message per packet: a MoldUDP64 header (20) plus one length-prefixed
    // message of up to 50 bytes.
    let opts = PcapOptions {
        max_packet: 20 + 2 + 50,
        ..PcapOptions::default()
    };
    let cfg = GenConfig {
        messages: MESSAGES,
        seed: 4,
        symbols: 50,
        live_target: None,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let (msgs, packets) =
        gen::write_pcap(Generator::new(cfg).unwrap(), file, &opts, |_| {}).unwrap();
    assert_eq!(msgs, MESSAGES);
    assert!(packets >= 1_000_000, "{packets} packets");

    let mut src = dpdk_source(eal, "net_pcap12", &path);
    let mut next_seq = 1u64;
    let mut seen_packets = 0u64;
    loop {
        let r = src.recv_burst(&mut |payload, _| {
            let p = Packet::new_checked(payload).expect("packet");
            seen_packets += 1;
            for (seq, _) in p.sequenced() {
                assert_eq!(seq, next_seq, "every sequence once and in order");
                next_seq += 1;
            }
        });
        if matches!(r, Err(SourceError::End)) {
            break;
        }
    }
    assert_eq!(next_seq - 1, MESSAGES, "every message delivered");
    assert_eq!(seen_packets, packets);
    let ps = src.port_stats();
    assert_eq!(ps.ipackets, packets);
    assert_eq!((ps.imissed, ps.ierrors, ps.rx_nombuf), (0, 0, 0));
    assert_eq!(src.stats().packets, packets);
    assert_eq!(src.multi_segment(), 0);
}
