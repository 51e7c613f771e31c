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

#[test]
fn a_live_af_packet_port_on_loopback_feeds_the_handler_every_sequence_once() {
    const MESSAGES: u64 = 60_000;
    let (eal, _g) = eal();
    let probed = eal.probe("net_af_packet0,iface=lo");
    if !hotpath_hw::discipline::has_capability(hotpath_hw::discipline::CAP_NET_RAW) {
        // A packet socket needs CAP_NET_RAW: refused, and the error says which device.
        let e = probed.expect_err("net_af_packet without CAP_NET_RAW");
        assert!(e.to_string().contains("net_af_packet0"), "{e}");
        return;
    }
    let port = Port::open(
        eal,
        probed.expect("probe net_af_packet on lo"),
        &PortConfig::default(),
    )
    .expect("open af_packet port");

    // The day's MoldUDP64 payloads, sent as unicast UDP on loopback to a socket that
    // is bound (so no ICMP comes back) but never read: the DPDK port sees the frames.
    let mut pcap = Vec::new();
    let cfg = GenConfig {
        messages: MESSAGES,
        seed: 8,
        symbols: 10,
        live_target: None,
    };
    gen::write_pcap(
        Generator::new(cfg).unwrap(),
        &mut pcap,
        &PcapOptions::default(),
        |_| {},
    )
    .unwrap();
    let mut file =
        PcapSource::from_bytes(Path::new("day.pcap"), pcap, Lines::default(), Pace::AsFast)
            .unwrap();
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    while !matches!(
        file.recv_burst(&mut |p, _| payloads.push(p.to_vec())),
        Err(SourceError::End)
    ) {}
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dst = match sink.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    };
    let lines = Lines {
        a: Some(dst),
        b: None,
    };
    let mut src = DpdkSource::on_port(port, lines, None).unwrap();
    let mut feed = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    let sender = std::thread::spawn(move || {
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for p in &payloads {
            tx.send_to(p, dst).unwrap();
            // ~40k packets/s: well inside what the PMD's ring and this loop keep up with.
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_micros(25) {
                std::hint::spin_loop();
            }
        }
        drop(sink);
        payloads.len() as u64
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !feed.session.is_finished() && std::time::Instant::now() < deadline {
        feed.pump(&mut src).unwrap();
    }
    let sent = sender.join().unwrap();
    let s = feed.session.stats();
    assert!(
        feed.session.is_finished(),
        "end of session never arrived: {s:?}"
    );
    assert_eq!(
        feed.core.stats.messages, MESSAGES,
        "every message delivered once"
    );
    assert_eq!((s.gaps_detected, s.messages_lost), (0, 0));
    assert_eq!(feed.session.next_sequence(), MESSAGES + 1);
    let nic = src.nic_stats().unwrap();
    assert!(
        nic.ipackets >= sent,
        "the port saw {} of {sent} frames",
        nic.ipackets
    );
    assert_eq!(nic.imissed, 0);
    assert!(
        src.describe().contains("net_af_packet"),
        "{}",
        src.describe()
    );
}
