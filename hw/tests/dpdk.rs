//! The safe DPDK wrapper on `net_pcap` virtual devices (no NIC, no hugepages, no PCI).
//! One EAL per process, so this binary initialises it once and every test shares it.
#![cfg(feature = "dpdk")]

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hotpath_hw::dpdk::{DpdkError, Eal, Port, PortConfig};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

/// EAL arguments for tests: no hugepages, PCI or shared config; devices come later.
const TEST_EAL: [&str; 8] = [
    "--no-huge",
    "--no-pci",
    "--no-shconf",
    "-m",
    "512",
    "-l",
    "0",
    "--log-level=lib.eal:error",
];

/// The EAL, started with no devices; tests attach theirs with `Eal::probe`. DPDK's
/// ethdev calls are not meant to race with hot plug, so tests take turns.
fn eal() -> (&'static Eal, std::sync::MutexGuard<'static, ()>) {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    (Eal::get_or_init(&TEST_EAL).expect("EAL init"), guard)
}

/// Frames of distinct lengths and contents, so order and bytes are both checked.
fn frames(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = 60 + (i * 7) % 1400;
            (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
        })
        .collect()
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
}

/// Polls until `want` frames arrived or nothing came for a while.
fn receive_all(rx: &mut hotpath_hw::dpdk::RxQueue, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::with_capacity(want);
    let mut idle = Instant::now();
    while got.len() < want && idle.elapsed() < Duration::from_secs(2) {
        if rx.rx_burst(|f| got.push(f.to_vec())) > 0 {
            idle = Instant::now();
        }
    }
    got
}

#[test]
fn a_pcap_vdev_delivers_every_frame_in_order_byte_for_byte() {
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.pcap");
    let sent = frames(5000);
    write_pcap(&path, &sent);
    let port_id = eal
        .probe(&format!("net_pcap1,rx_pcap={}", path.display()))
        .expect("probe net_pcap");
    assert_eq!(eal.port_by_name("net_pcap1").unwrap(), port_id);
    let mut port = Port::open(eal, port_id, &PortConfig::default()).expect("open");
    assert_eq!(port.name(), "net_pcap1");
    assert_eq!(port.driver(), "net_pcap");
    let mut rx = port.rx_queue(0).expect("queue 0");
    assert!(port.rx_queue(0).is_none(), "a queue is handed out once");
    assert!(port.rx_queue(1).is_none(), "only one queue configured");
    let got = receive_all(&mut rx, sent.len());
    assert_eq!(got.len(), sent.len());
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g, s, "frame {i}");
    }
    let st = port.stats();
    assert_eq!(st.ipackets, sent.len() as u64);
    assert_eq!(st.ibytes, sent.iter().map(|f| f.len() as u64).sum::<u64>());
    assert_eq!((st.imissed, st.ierrors, st.rx_nombuf), (0, 0, 0));
    assert_eq!(rx.multi_segment(), 0);
    // Bursts are freed in bulk: nothing is held back but what the PMD keeps in its ring.
    assert_eq!(port.mbufs_in_use(0), 0, "every mbuf returned to the pool");
}

#[test]
fn the_real_moldudp64_capture_arrives_as_in_the_file() {
    let (eal, _g) = eal();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/itch50/moldudp64_multiple_packets.pcap");
    let mut want = Vec::new();
    let mut r = PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    while let Some(p) = r.next_packet() {
        want.push(p.unwrap().data.into_owned());
    }
    let port_id = eal
        .probe(&format!("net_pcap2,rx_pcap={}", path.display()))
        .unwrap();
    let mut port = Port::open(eal, port_id, &PortConfig::default()).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    assert_eq!(receive_all(&mut rx, want.len()), want);
}

#[test]
fn errors_name_what_is_wrong() {
    let (eal, _g) = eal();
    // A second init is refused, whatever the arguments.
    assert!(matches!(
        Eal::init(&["--no-huge"]),
        Err(DpdkError::AlreadyInitialised)
    ));
    // An unknown driver.
    let e = eal.probe("net_nosuchdriver0").unwrap_err();
    assert!(matches!(e, DpdkError::Probe { .. }), "{e}");
    assert!(e.to_string().contains("net_nosuchdriver0"), "{e}");
    // A pcap that does not exist.
    let e = eal
        .probe("net_pcap9,rx_pcap=/nonexistent/x.pcap")
        .unwrap_err();
    assert!(e.to_string().contains("net_pcap9"), "{e}");
    // Ports by a name or number that is not there.
    let e = eal.port_by_name("net_pcap77").unwrap_err();
    assert!(matches!(e, DpdkError::NoSuchPort(..)), "{e}");
    assert!(eal.port_by_name("999").is_err());
    assert!(Port::open(eal, 999, &PortConfig::default()).is_err());
    // Too many queues for the device.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.pcap");
    write_pcap(&path, &frames(1));
    let id = eal
        .probe(&format!("net_pcap3,rx_pcap={}", path.display()))
        .unwrap();
    let cfg = PortConfig {
        rx_queues: 64,
        ..PortConfig::default()
    };
    let e = Port::open(eal, id, &cfg).unwrap_err();
    assert!(e.to_string().contains("rx queue count"), "{e}");
    // The port is still usable after the refused configuration.
    let mut port = Port::open(eal, id, &PortConfig::default()).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    assert_eq!(receive_all(&mut rx, 1).len(), 1);
    // A pool too small for what the driver wants (`infinite_rx` keeps an mbuf per
    // packet of its file): the error names the queue and both sizes.
    let path = dir.path().join("six_hundred.pcap");
    write_pcap(&path, &frames(600));
    let id = eal
        .probe(&format!(
            "net_pcap8,rx_pcap={},infinite_rx=1",
            path.display()
        ))
        .unwrap();
    let small = PortConfig {
        rx_desc: 64,
        mbufs_per_queue: 511,
        ..PortConfig::default()
    };
    let e = Port::open(eal, id, &small).unwrap_err();
    assert!(matches!(e, DpdkError::RxQueueSetup { queue: 0, .. }), "{e}");
    let text = e.to_string();
    for part in ["net_pcap8", "RX queue 0", "64 descriptors", "511 mbufs"] {
        assert!(text.contains(part), "{part}: {text}");
    }
    // A port whose setup failed is closed; a new one with a pool large enough works.
    assert!(Port::open(eal, id, &PortConfig::default()).is_err());
    let id = eal
        .probe(&format!(
            "net_pcap14,rx_pcap={},infinite_rx=1",
            path.display()
        ))
        .unwrap();
    let enough = PortConfig {
        mbufs_per_queue: 1023,
        ..small
    };
    let mut port = Port::open(eal, id, &enough).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let n = receive_all(&mut rx, 700).len();
    assert!(n >= 700, "{n}: replayed past the end of the file");
}

/// A frame larger than an mbuf's data room arrives as a chain of segments: counted,
/// not handed out, and the frames around it still arrive whole (this reads each
/// mbuf's segment count, length and data in place).
#[test]
fn a_frame_in_several_segments_is_counted_not_lent() {
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jumbo.pcap");
    let mut sent = frames(40);
    let jumbo: Vec<u8> = (0..5000).map(|j| (j * 13) as u8).collect();
    for at in [3, 17, 30] {
        sent.insert(at, jumbo.clone());
    }
    write_pcap(&path, &sent);
    let id = eal
        .probe(&format!("net_pcap4,rx_pcap={}", path.display()))
        .unwrap();
    let mut port = Port::open(eal, id, &PortConfig::default()).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let want: Vec<Vec<u8>> = sent.iter().filter(|f| f.len() < 2000).cloned().collect();
    assert_eq!(want.len(), 40);
    assert_eq!(receive_all(&mut rx, want.len()), want);
    assert_eq!(rx.multi_segment(), 3);
    assert_eq!(port.stats().ipackets, 43);
    assert_eq!(
        port.mbufs_in_use(0),
        0,
        "every segment returned to the pool"
    );
}

/// A burst lent one packet at a time (`fill`, `peek`, `advance`), as a source merging
/// two ports takes them: every frame once, in order, multi-segment ones passed; the rest
/// of a fill is what `rx_burst` hands out next; a queue dropped while it holds a fill
/// gives its mbufs back.
#[test]
fn a_fill_lends_its_frames_one_at_a_time_and_gives_its_mbufs_back() {
    let (eal, _g) = eal();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fill.pcap");
    let mut sent = frames(300);
    let jumbo: Vec<u8> = (0..5000).map(|j| (j * 11) as u8).collect();
    for at in [5, 70, 200] {
        sent.insert(at, jumbo.clone());
    }
    write_pcap(&path, &sent);
    let want: Vec<Vec<u8>> = sent.iter().filter(|f| f.len() < 2000).cloned().collect();
    let id = eal
        .probe(&format!("net_pcap5,rx_pcap={}", path.display()))
        .unwrap();
    let mut port = Port::open(eal, id, &PortConfig::default()).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let mut got: Vec<Vec<u8>> = Vec::new();
    // The first fill: half taken one at a time, the rest by rx_burst.
    let deadline = Instant::now() + Duration::from_secs(2);
    while rx.fill() == 0 {
        assert!(Instant::now() < deadline, "nothing arrived");
    }
    assert!(
        rx.filled_a_burst(),
        "a 303-frame capture fills a whole burst"
    );
    for _ in 0..hotpath_hw::dpdk::BURST / 2 {
        got.push(rx.peek().expect("a frame of the fill").to_vec());
        rx.advance();
    }
    let rest = rx.rx_burst(|f| got.push(f.to_vec()));
    assert!(rest > 0 && rest <= hotpath_hw::dpdk::BURST / 2, "{rest}");
    // Then fills to the end.
    let mut idle = Instant::now();
    while got.len() < want.len() && idle.elapsed() < Duration::from_secs(2) {
        if rx.fill() > 0 {
            idle = Instant::now();
        }
        while let Some(f) = rx.peek() {
            got.push(f.to_vec());
            rx.advance();
        }
    }
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {i}");
    }
    assert_eq!(rx.multi_segment(), 3);
    rx.fill();
    assert_eq!(port.mbufs_in_use(0), 0, "every mbuf returned to the pool");

    // A fill held when the queue is dropped goes back to the pool too.
    let id = eal
        .probe(&format!("net_pcap6,rx_pcap={}", path.display()))
        .unwrap();
    let mut port = Port::open(eal, id, &PortConfig::default()).unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while rx.fill() == 0 {
        assert!(Instant::now() < deadline, "nothing arrived");
    }
    assert!(port.mbufs_in_use(0) > 0, "the fill holds its mbufs");
    drop(rx);
    assert_eq!(port.mbufs_in_use(0), 0, "the dropped queue's fill returned");
}
