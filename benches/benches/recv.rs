//! What the kernel's receive stamps (`SO_TIMESTAMPNS`, which the UDP source asks for)
//! cost per datagram: 256 datagrams of 1,400 bytes sent to a loopback multicast group
//! and drained with `recvmmsg` (`hotpath_hw::net::McastRx`, bursts of 64), with the
//! stamps on and off, in the same run. On `lo` the kernel receives in the sender's
//! system call, so the time covers both sides, as it does on one host.
//!
//! `cargo bench -p hotpath-benches --bench recv`

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpath_hw::net::{mcast_tx, McastRx};

const DATAGRAMS: u64 = 256;

fn send_and_drain(c: &mut Criterion) {
    let group = SocketAddrV4::new(
        Ipv4Addr::new(239, 77, 9, 1),
        40_000 + (std::process::id() % 20_000) as u16,
    );
    let mut rx = McastRx::open(group, "lo", 64).unwrap();
    let tx = mcast_tx("lo").unwrap();
    let payload = [0x5au8; 1400];
    let mut g = c.benchmark_group("recvmmsg_256x1400B");
    g.throughput(Throughput::Elements(DATAGRAMS));
    for (name, on) in [("kernel_stamps", true), ("no_stamps", false)] {
        rx.set_kernel_timestamps(on).unwrap();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    for _ in 0..DATAGRAMS {
                        tx.send_to(&payload, group).unwrap();
                    }
                    let (mut got, mut stamped) = (0, 0);
                    while got < DATAGRAMS {
                        rx.recv_burst(|_, _, _, ts| stamped += u64::from(ts != 0))
                            .map(|n| got += n as u64)
                            .unwrap();
                    }
                    total += t.elapsed();
                    assert_eq!(stamped, if on { DATAGRAMS } else { 0 });
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, send_and_drain);
criterion_main!(benches);
