//! What taking two DPDK ports' datagrams in MoldUDP64 sequence order (`DpdkPorts`, the
//! feed's source for lines A and B on two NICs) costs against a burst of each port in
//! turn (`Merged`, what it did before), with one port alone (`DpdkSource`) as the
//! floor, in the same run. Each port is a `net_pcap` device replaying the same
//! generated day from memory (`infinite_rx=1`), as two lines carrying the same packets.
//! The sink reads each datagram's length and first word, so the figure is the sources'
//! own cost: the PMD's copy, the frame parse, and for the ordered merge the look at
//! each datagram's sequence number and the comparison.
//!
//! `cargo bench -p hotpath-benches --features dpdk --bench ports`

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpath_feed::gen::{self, GenConfig, Generator, PcapOptions};
use hotpath_feed::source::dpdk::{DpdkPorts, DpdkSource};
use hotpath_feed::source::merged::Merged;
use hotpath_feed::source::{Lines, PacketSource};
use hotpath_hw::dpdk::{Eal, Port, PortConfig};

/// Datagrams taken per timed iteration.
const TAKE: u64 = 4096;

/// A generated day in packets of at most `max_packet` bytes; the packets written.
fn write_day(path: &Path, max_packet: usize) -> u64 {
    let cfg = GenConfig {
        messages: 100_000,
        seed: 5,
        symbols: 30,
        live_target: None,
    };
    let opts = PcapOptions {
        max_packet,
        ..PcapOptions::default()
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    gen::write_pcap(Generator::new(cfg).unwrap(), file, &opts, |_| {})
        .unwrap()
        .1
}

fn eal() -> &'static Eal {
    let args =
        "--no-huge --no-pci --no-shconf --no-telemetry -m 2048 -l 0 --log-level=lib.eal:error";
    Eal::get_or_init(&args.split(' ').collect::<Vec<_>>()).expect("EAL init")
}

/// A port replaying `pcap` from memory, as a feed source.
fn port(name: &str, pcap: &Path, packets: u64) -> DpdkSource {
    let eal = eal();
    let id = eal
        .probe(&format!("{name},rx_pcap={},infinite_rx=1", pcap.display()))
        .expect("probe");
    let cfg = PortConfig {
        // infinite_rx holds every packet of the file in an mbuf, besides the ring's.
        mbufs_per_queue: u32::try_from(packets + 8192).unwrap(),
        ..PortConfig::default()
    };
    let port = Port::open(eal, id, &cfg).expect("open port");
    DpdkSource::on_port(port, Lines::default(), None).unwrap()
}

/// Takes [`TAKE`] datagrams from `src`, `iters` times; the time.
fn take(src: &mut dyn PacketSource, iters: u64) -> Duration {
    let mut fold = 0u64;
    let t = Instant::now();
    for _ in 0..iters {
        let mut taken = 0;
        while taken < TAKE {
            src.recv_burst(&mut |p, _| {
                taken += 1;
                fold = fold.wrapping_add(p.len() as u64 ^ u64::from(p[0]));
            })
            .unwrap();
        }
    }
    let elapsed = t.elapsed();
    std::hint::black_box(fold);
    elapsed
}

fn two_ports(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for (n, max_packet) in [(0, 1400usize), (1, 72)] {
        let pcap = dir.path().join(format!("day{max_packet}.pcap"));
        let packets = write_day(&pcap, max_packet);
        let mut one = port(&format!("net_pcap_one{n}"), &pcap, packets);
        let mut ordered = DpdkPorts::new(vec![
            port(&format!("net_pcap_sa{n}"), &pcap, packets),
            port(&format!("net_pcap_sb{n}"), &pcap, packets),
        ])
        .unwrap();
        let mut in_turn = Merged::new(vec![
            Box::new(port(&format!("net_pcap_ta{n}"), &pcap, packets)) as Box<dyn PacketSource>,
            Box::new(port(&format!("net_pcap_tb{n}"), &pcap, packets)),
        ])
        .unwrap();
        let mut g = c.benchmark_group(format!("dpdk_ports_{max_packet}B_max"));
        g.throughput(Throughput::Elements(TAKE));
        g.bench_function("one_port", |b| b.iter_custom(|iters| take(&mut one, iters)));
        g.bench_function("two_ports_sequence_order", |b| {
            b.iter_custom(|iters| take(&mut ordered, iters))
        });
        g.bench_function("two_ports_in_turn", |b| {
            b.iter_custom(|iters| take(&mut in_turn, iters))
        });
        g.finish();
    }
}

criterion_group!(benches, two_ports);
criterion_main!(benches);
