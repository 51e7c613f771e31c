//! The DPDK packet source on virtual devices. On `net_pcap`: the real MoldUDP64 capture
//! decodes to exactly what the pcap-file source gives, and a generated capture of a
//! million packets arrives complete, every sequence once, nothing missed by the port.
//! Live, on `net_af_packet` (loopback), `net_af_xdp` (a veth pair made for the test)
//! and `net_tap`: a generated day sent as UDP feeds the handler every sequence once.
//! After warm-up the source allocates nothing, also while it answers the IGMP queries
//! among its packets (a `net_pcap` port whose TX capture holds the reports). One EAL
//! per process: every test here shares it.
#![cfg(feature = "dpdk")]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hotpath_book::{BookConfig, NullSink};
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::handler::{Feed, FeedConfig};
use hotpath_feed::moldudp64::{Line, Packet};
use hotpath_feed::source::dpdk::{DpdkPorts, DpdkSource};
use hotpath_feed::source::merged::Merged;
use hotpath_feed::source::pcap::{Pace, PcapSource};
use hotpath_feed::source::{Lines, PacketSource, SourceError};
use hotpath_hw::alloc::CountingAllocator;
use hotpath_hw::discipline::{has_capability, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN};
use hotpath_hw::dpdk::{Eal, Port, PortConfig};
use hotpath_hw::net::mcast_tx;

mod net_support;
use net_support::{link_local, up_with_address, Veth};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

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

/// Writes a generated day of `messages` messages (50 symbols) to a pcap at `path`, in
/// MoldUDP64 packets of at most `max_packet` bytes; returns the packets written.
fn write_day(path: &Path, messages: u64, seed: u64, max_packet: usize) -> u64 {
    let opts = PcapOptions {
        max_packet,
        ..PcapOptions::default()
    };
    let cfg = GenConfig {
        messages,
        seed,
        symbols: 50,
        live_target: None,
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (msgs, packets) =
        gen::write_pcap(Generator::new(cfg).unwrap(), file, &opts, |_| {}).unwrap();
    assert_eq!(msgs, messages);
    packets
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
    let packets = write_day(&path, MESSAGES, 4, 20 + 2 + 50);
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
fn the_dpdk_source_allocates_nothing_after_warm_up() {
    // Receive, parse in the mbuf, lend, bulk free, the port's counters, the idle end:
    // none of it may allocate once running (the feed behind it is proven so by
    // `no_alloc.rs`; DPDK's own memory is its pools, allocated at start).
    const MESSAGES: u64 = 200_000;
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.pcap");
    write_day(&path, MESSAGES, 13, 200);
    let mut src = dpdk_source(eal, "net_pcap13", &path);
    let fc = roomy_books();
    let mut feed = Feed::new(&fc, NullSink).unwrap();
    while feed.core.stats.messages < MESSAGES / 5 {
        feed.pump(&mut src).unwrap();
    }
    let mut end = None;
    let allocations = ALLOC.allocations_in(|| loop {
        match feed.pump(&mut src) {
            Ok(_) => {}
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    });
    assert!(matches!(end, Some(SourceError::End)), "{end:?}");
    assert_eq!(feed.core.stats.messages, MESSAGES, "every message applied");
    assert!(feed.session.is_finished());
    assert_eq!(allocations, 0, "allocations after warm-up");
    assert_eq!(src.port_stats().imissed, 0);
}

/// Books with room for a generated day's orders and levels, so that they never grow
/// (allocate) while a test counts allocations.
fn roomy_books() -> FeedConfig {
    FeedConfig {
        books: BookConfig {
            order_capacity: 1 << 18,
            max_levels: 1 << 18,
            ..BookConfig::default()
        },
        ..FeedConfig::default()
    }
}

/// An IGMP message in a frame as a querier sends it: Ethernet to 01:00:5e:00:00:01,
/// IPv4 with the router alert option, the IGMP checksum filled in (or spoilt).
fn igmp_frame(igmp: &[u8], good_checksum: bool) -> Vec<u8> {
    use hotpath_feed::net::internet_checksum;
    let mut m = igmp.to_vec();
    let c = internet_checksum(&m) ^ u16::from(!good_checksum);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = vec![
        0x01, 0x00, 0x5e, 0, 0, 1, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00,
    ];
    let mut ip = [0u8; 24];
    ip[0] = 0x46;
    ip[2..4].copy_from_slice(&((24 + m.len()) as u16).to_be_bytes());
    ip[8] = 1;
    ip[9] = 2;
    ip[12..16].copy_from_slice(&[10, 0, 0, 254]);
    ip[16..20].copy_from_slice(&[224, 0, 0, 1]);
    ip[20..24].copy_from_slice(&[0x94, 0x04, 0, 0]);
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&m);
    f
}

#[test]
fn a_port_that_joins_answers_the_queries_in_its_traffic_without_allocating() {
    use hotpath_feed::igmp::{IgmpConfig, Version};
    use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
    const MESSAGES: u64 = 200_000;
    const QUERY_EVERY: usize = 5_000;
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join("day.pcap");
    let packets = write_day(&day, MESSAGES, 17, 200) as usize;
    // The day with queries among its packets: a version 3 general query with a
    // maximum response time of 0 (answer at once) every QUERY_EVERY packets, and after
    // the first two, a query about another group and one with a bad checksum.
    let general = [0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let other = [0x11, 0, 0, 0, 239, 9, 9, 9, 0, 0, 0, 0];
    let rx = dir.path().join("rx.pcap");
    let mut reader = PcapReader::new(std::fs::File::open(&day).unwrap()).unwrap();
    let mut writer =
        PcapWriter::with_header(std::fs::File::create(&rx).unwrap(), reader.header()).unwrap();
    let mut queries = 0;
    let mut i = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        if i > 0 && i % QUERY_EVERY == 0 {
            let mut put = |f: Vec<u8>| {
                writer
                    .write_packet(&PcapPacket::new(p.timestamp, f.len() as u32, &f))
                    .unwrap();
            };
            put(igmp_frame(&general, true));
            queries += 1;
            if queries == 2 {
                put(igmp_frame(&other, true));
                put(igmp_frame(&general, false));
            }
        }
        writer.write_packet(&p).unwrap();
        i += 1;
    }
    drop(writer);
    assert_eq!(i, packets);
    let tx = dir.path().join("tx.pcap");
    let id = eal
        .probe(&format!(
            "net_pcap17,rx_pcap={},tx_pcap={}",
            rx.display(),
            tx.display()
        ))
        .expect("probe");
    let port = Port::open(eal, id, &PortConfig::default()).expect("open port");
    let mut src =
        DpdkSource::on_port(port, Lines::default(), Some(Duration::from_millis(300))).unwrap();
    let group = Ipv4Addr::new(239, 1, 1, 1);
    src.join(&IgmpConfig {
        version: Version::V3,
        ip: Ipv4Addr::new(10, 0, 0, 7),
        vlan: None,
        groups: vec![group],
        sources: Vec::new(),
    })
    .unwrap();
    let mut feed = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    while feed.core.stats.messages < MESSAGES / 10 {
        feed.pump(&mut src).unwrap();
    }
    let mut end = None;
    let allocations = ALLOC.allocations_in(|| loop {
        if let Err(e) = feed.pump(&mut src) {
            end = Some(e);
            break;
        }
    });
    assert!(matches!(end, Some(SourceError::End)), "{end:?}");
    assert_eq!(feed.core.stats.messages, MESSAGES);
    assert_eq!(allocations, 0, "allocations after warm-up");
    let igmp = src.stats().igmp;
    assert_eq!(igmp.queries, queries);
    assert_eq!((igmp.other_queries, igmp.malformed), (1, 1));
    assert_eq!(igmp.send_failures, 0);
    src.close(); // the leave, counted
    let sent = src.stats().igmp.sent;
    assert_eq!(sent, igmp.sent + 1, "the leave");
    drop(src); // the port closes and its TX capture is written
               // What the port sent: the join (twice if the replay took a second), an answer to
               // each query, the leave; every one a version 3 report about our group.
    let mut reader = PcapReader::new(std::fs::File::open(&tx).unwrap()).unwrap();
    let mut records = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let ip = hotpath_feed::net::parse_ipv4_frame(&p.data).unwrap();
        assert_eq!((ip.protocol, ip.dst), (2, Ipv4Addr::new(224, 0, 0, 22)));
        let m = ip.payload;
        assert_eq!((m[0], u16::from_be_bytes([m[6], m[7]])), (0x22, 1));
        assert_eq!(&m[12..16], &group.octets());
        records.push(m[8]);
    }
    let joins = records.iter().take_while(|&&r| r == 4).count();
    assert!((1..=2).contains(&joins), "{records:?}");
    assert_eq!(records.len() as u64, sent, "every frame counted was sent");
    let answers = &records[joins..records.len() - 1];
    assert_eq!(answers, vec![2; queries as usize], "{records:?}");
    assert_eq!(records.last(), Some(&3), "the leave: {records:?}");
}

/// The MoldUDP64 payloads of a generated day of `messages` messages, in order.
fn day_payloads(messages: u64, seed: u64) -> Vec<Vec<u8>> {
    let mut pcap = Vec::new();
    let cfg = GenConfig {
        messages,
        seed,
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
    payloads
}

/// A live port: a generated day's payloads are sent with `tx` to `dst` (the feed's line
/// A) while the feed handler pumps a `DpdkSource` on `port`. Every message must arrive
/// once, with no gap; the source must lend each payload `copies` times (the session
/// drops the repeats), the port must have seen every frame and missed none, and the
/// source must name `device`.
fn feed_live(port: Port, tx: UdpSocket, dst: SocketAddrV4, device: &str, copies: u64) {
    const MESSAGES: u64 = 60_000;
    let payloads = day_payloads(MESSAGES, 8);
    let lines = Lines {
        a: Some(dst),
        b: None,
        ..Lines::default()
    };
    let mut src = DpdkSource::on_port(port, lines, None).unwrap();
    let mut feed = Feed::new(&FeedConfig::default(), NullSink).unwrap();
    let sender = std::thread::spawn(move || {
        for p in &payloads {
            tx.send_to(p, dst).unwrap();
            // ~40k packets/s: well inside what the PMD's ring and this loop keep up with.
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(25) {
                std::hint::spin_loop();
            }
        }
        payloads.len() as u64
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !feed.session.is_finished() && Instant::now() < deadline {
        feed.pump(&mut src).unwrap();
    }
    let sent = sender.join().unwrap();
    assert!(
        feed.session.is_finished(),
        "{device}: end of session never arrived: {:?}; port: {:?}",
        feed.session.stats(),
        src.port_stats()
    );
    // Take the repeats still on their way (the end of session's second copy).
    let linger = Instant::now() + Duration::from_millis(200);
    while Instant::now() < linger {
        feed.pump(&mut src).unwrap();
    }
    let s = feed.session.stats();
    assert_eq!(
        feed.core.stats.messages, MESSAGES,
        "{device}: every message delivered once"
    );
    assert_eq!((s.gaps_detected, s.messages_lost), (0, 0), "{device}");
    assert_eq!(feed.session.next_sequence(), MESSAGES + 1, "{device}");
    assert_eq!(
        src.stats().packets,
        copies * sent,
        "{device}: every payload lent {copies} time(s)"
    );
    assert_eq!(s.packets[Line::A.index()], copies * sent, "{device}: {s:?}");
    assert_eq!(
        s.duplicates[Line::A.index()],
        (copies - 1) * MESSAGES,
        "{device}: {s:?}"
    );
    let nic = src.nic_stats().unwrap();
    assert!(
        nic.ipackets >= copies * sent,
        "{device}: the port saw {} of {sent} frames x {copies}",
        nic.ipackets
    );
    assert_eq!(nic.imissed, 0, "{device}");
    // Every frame the port took is lent or counted (the interface's own IPv6 and IGMP
    // chatter among them); a software PMD counts a frame when it hands it out.
    let st = src.stats();
    assert_eq!(
        nic.ipackets,
        st.packets + st.skipped_frames + st.other_destinations + src.multi_segment(),
        "{device}: {st:?}"
    );
    assert!(src.describe().contains(device), "{}", src.describe());
}

/// Whether this process holds every capability in `caps`.
fn holds(caps: &[u32]) -> bool {
    caps.iter().all(|&c| has_capability(c))
}

/// Without the capabilities a device needs (measured by dropping each in turn:
/// `net_af_packet` CAP_NET_RAW for its packet socket and CAP_NET_ADMIN to set the
/// link's flags; `net_tap` CAP_NET_ADMIN to make its interface; `net_af_xdp` both of
/// those and CAP_SYS_ADMIN for libxdp to load its program), its port must be refused,
/// naming the device.
fn refused_without_capabilities(eal: &Eal, devargs: &str) {
    let device = devargs.split(',').next().unwrap();
    let e = eal
        .probe(devargs)
        .and_then(|id| Port::open(eal, id, &PortConfig::default()).map(|_| id))
        .expect_err("a port without the capabilities its device needs");
    assert!(e.to_string().contains(device), "{e}");
}

#[test]
fn a_live_af_packet_port_on_loopback_feeds_the_handler_every_sequence_once() {
    let (eal, _g) = eal();
    // A ring of 4,096 frames (the PMD's default is 512): on lo the port takes each
    // frame twice, so the default holds ~6 ms of this test's traffic, and a shared
    // 2-core machine can keep the polling thread off its core longer than that (seen
    // once in a clean-clone run: 31 packets lost together).
    let devargs = "net_af_packet0,iface=lo,framecnt=4096";
    if !holds(&[CAP_NET_RAW, CAP_NET_ADMIN]) {
        refused_without_capabilities(eal, devargs);
        return;
    }
    let id = eal.probe(devargs).expect("probe net_af_packet on lo");
    let port = Port::open(eal, id, &PortConfig::default()).expect("open af_packet port");
    // Unicast UDP on loopback to a socket that is bound (so no ICMP comes back) but
    // never read: the DPDK port sees the frames.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dst = match sink.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        other => panic!("{other}"),
    };
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A packet socket on loopback sees each frame twice: leaving and arriving.
    feed_live(port, tx, dst, "net_af_packet0", 2);
}

#[test]
fn a_live_af_xdp_port_on_a_veth_feeds_the_handler_every_sequence_once() {
    let (eal, _g) = eal();
    if !holds(&[CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN]) {
        refused_without_capabilities(eal, "net_af_xdp0,iface=lo");
        return;
    }
    // The feed as multicast out of one end of a veth pair; the AF_XDP socket on the
    // other end takes every frame before the kernel's stack sees it.
    let veth = Veth::new(71);
    let devargs = format!("net_af_xdp0,iface={}", veth.rx);
    let id = eal.probe(&devargs).expect("probe net_af_xdp");
    let port = Port::open(eal, id, &PortConfig::default()).expect("open af_xdp port");
    let tx = mcast_tx(&veth.tx).unwrap();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 254, 71, 1), 26477);
    feed_live(port, tx, group, "net_af_xdp0", 1);
}

#[test]
fn a_live_tap_port_feeds_the_handler_every_sequence_once() {
    let (eal, _g) = eal();
    let tap = format!("hptap{}", std::process::id() % 100_000);
    let devargs = format!("net_tap0,iface={tap}");
    if !holds(&[CAP_NET_ADMIN]) {
        refused_without_capabilities(eal, &devargs);
        return;
    }
    // The PMD makes the kernel interface; what the kernel sends out of it, the port
    // receives. Closing the port removes the interface.
    let id = eal.probe(&devargs).expect("probe net_tap");
    let port = Port::open(eal, id, &PortConfig::default()).expect("open tap port");
    up_with_address(&tap, link_local(72));
    let tx = mcast_tx(&tap).unwrap();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 254, 72, 1), 26477);
    feed_live(port, tx, group, "net_tap0", 1);
}

/// A generated day addressed to `dst`, written to `path` without the packets `drop`
/// picks by index (the end of session, last, is always kept); the packets written.
fn write_line(path: &Path, dst: SocketAddrV4, drop: impl Fn(u64) -> bool) -> u64 {
    let cfg = GenConfig {
        messages: 100_000,
        seed: 47,
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
    let mut r = pcap_file::pcap::PcapReader::new(&full[..]).unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut w = pcap_file::pcap::PcapWriter::with_header(file, r.header()).unwrap();
    let (mut i, mut kept) = (0u64, 0u64);
    while let Some(p) = r.next_packet() {
        if i + 1 == packets || !drop(i) {
            w.write_packet(&p.unwrap()).unwrap();
            kept += 1;
        }
        i += 1;
    }
    kept
}

/// Lines A and B on two ports (two `net_pcap` devices, each replaying its line as fast
/// as it is polled, so every burst is full, as under a backlog), line A without every
/// 20th packet. Taken in sequence order ([`DpdkPorts`]), each packet line A lost comes
/// from line B at its place: no gap opens and nothing waits in the out-of-order buffer.
/// The same two lines read a burst of each port in turn ([`Merged`]) open gaps: line
/// A's burst runs ahead of its holes.
#[test]
fn two_ports_taken_in_sequence_order_repair_one_lines_losses_without_a_gap() {
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 1), 26_477),
        SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 2), 26_477),
    );
    let lines = Lines {
        a: Some(a),
        b: Some(b),
        ..Lines::default()
    };
    let (path_a, path_b) = (dir.path().join("a.pcap"), dir.path().join("b.pcap"));
    let kept_a = write_line(&path_a, a, |i| i % 20 == 7);
    let packets = write_line(&path_b, b, |_| false);
    let lost_a = packets - kept_a;
    assert!(lost_a > 100, "{lost_a} of {packets}");
    let mut vdev = 0;
    let mut port = |path: &Path| {
        vdev += 1;
        let id = eal
            .probe(&format!("net_pcap2{vdev},rx_pcap={}", path.display()))
            .expect("probe");
        let port = Port::open(eal, id, &PortConfig::default()).expect("open port");
        DpdkSource::on_port(port, lines, Some(Duration::from_millis(300))).unwrap()
    };
    let fc = roomy_books();
    // Warmed up on the day's first 20,000 messages; the rest counted for allocations.
    let run = |src: &mut dyn PacketSource| {
        let mut feed = Feed::new(&fc, NullSink).unwrap();
        while feed.core.stats.messages < 20_000 {
            feed.pump(src).unwrap();
        }
        let allocations =
            ALLOC.allocations_in(|| while !matches!(feed.pump(src), Err(SourceError::End)) {});
        (feed, allocations)
    };

    let mut ordered = DpdkPorts::new(vec![port(&path_a), port(&path_b)]).unwrap();
    let (feed, allocations) = run(&mut ordered);
    assert_eq!(allocations, 0, "allocations after warm-up");
    let s = feed.session.stats();
    assert_eq!(feed.core.stats.messages, 100_000);
    assert_eq!(s.messages_lost, 0);
    let seen = (s.gaps_detected, s.out_of_order_buffered);
    eprintln!("in sequence order: {lost_a} packets lost on A; (gaps, buffered) {seen:?}");
    assert_eq!(seen, (0, 0));
    // Line B's copy came first exactly where line A had none (not the end of session).
    assert_eq!(s.packets_first[Line::B.index()], lost_a);
    assert_eq!(s.packets_first[Line::A.index()], kept_a - 1);
    let st = ordered.stats();
    assert_eq!(
        st.packets,
        kept_a + packets,
        "both lines' datagrams counted"
    );

    let parts: Vec<Box<dyn PacketSource>> = vec![Box::new(port(&path_a)), Box::new(port(&path_b))];
    let (feed, _) = run(&mut Merged::new(parts).unwrap());
    let s = feed.session.stats();
    assert_eq!(feed.core.stats.messages, 100_000);
    let seen = (s.gaps_detected, s.out_of_order_buffered);
    eprintln!("a burst of each port in turn: (gaps, buffered) {seen:?}");
    assert!(seen.0 > 0 && seen.1 > 0, "{seen:?}");
}
