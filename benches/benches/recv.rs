//! What the kernel's receive stamps (`SO_TIMESTAMPNS`, which the UDP source asks for)
//! cost per datagram: 256 datagrams of 1,400 bytes sent to a loopback multicast group
//! and drained with `recvmmsg` (`hotpath_hw::net::McastRx`, bursts of 64), with the
//! stamps on and off, in the same run. On `lo` the kernel receives in the sender's
//! system call, so the time covers both sides, as it does on one host.
//!
//! Then lines A and B of one port through `UdpSource`, on one socket (one `recvmmsg` a
//! poll, the default) and on a socket each (`sockets=per-line`): a poll that finds
//! nothing, 128 packets sent on both lines and drained, and the same drain alone with
//! the packets queued first.
//!
//! `cargo bench -p hotpath-benches --bench recv`

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpath_feed::source::udp::{Sockets, UdpSource};
use hotpath_feed::source::PacketSource;
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
                        rx.recv_burst(|_, info| stamped += u64::from(info.kernel_ns != 0))
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

/// Both ways of reading the lines, by bench name.
const WAYS: [(&str, Sockets); 2] = [("one_socket", Sockets::One), ("per_line", Sockets::PerLine)];

fn lines_on_one_port(c: &mut Criterion) {
    let port = 45_000 + (std::process::id() % 20_000) as u16;
    let a = SocketAddrV4::new(Ipv4Addr::new(239, 77, 9, 2), port);
    let b = SocketAddrV4::new(Ipv4Addr::new(239, 77, 9, 3), port);
    let open = |sockets| UdpSource::open_lines((a, None), Some((b, None)), "lo", sockets).unwrap();
    let tx = mcast_tx("lo").unwrap();
    let payload = [0x5au8; 1400];
    let mut idle = c.benchmark_group("udp_lines_a_b_empty_poll");
    for (name, sockets) in WAYS {
        let mut src = open(sockets);
        idle.bench_function(name, |bench| {
            bench.iter(|| src.recv_burst(&mut |_, _| {}).unwrap())
        });
    }
    idle.finish();
    // Sent and drained; then the receiving side alone, the packets queued before the
    // clock starts.
    for (group, send_timed) in [
        ("udp_lines_a_b_128x2x1400B", true),
        ("udp_lines_a_b_queued_128x2x1400B", false),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(2 * PAIRS));
        for (name, sockets) in WAYS {
            let mut src = open(sockets);
            g.bench_function(name, |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let sent_from = Instant::now();
                        for _ in 0..PAIRS {
                            tx.send_to(&payload, a).unwrap();
                            tx.send_to(&payload, b).unwrap();
                        }
                        let t = if send_timed {
                            sent_from
                        } else {
                            Instant::now()
                        };
                        drain(&mut src);
                        total += t.elapsed();
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

/// Receives until [`PAIRS`] packets came on each line.
fn drain(src: &mut UdpSource) {
    let mut lines = [0u64; 2];
    while lines[0] + lines[1] < 2 * PAIRS {
        src.recv_burst(&mut |_, meta| lines[meta.line.index()] += 1)
            .unwrap();
    }
    assert_eq!(lines, [PAIRS, PAIRS]);
}

/// Packets sent on each line per iteration.
const PAIRS: u64 = 128;

criterion_group!(benches, send_and_drain, lines_on_one_port);
criterion_main!(benches);
