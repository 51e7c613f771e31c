//! hotpath-benches: benchmark harnesses behind `hotpath bench`, and criterion
//! micro-benchmarks (`cargo bench -p hotpath-benches`).
//!
//! - [`feed`]: the feed benchmark: decode vs itchy, decode+book, end-to-end replay.
//! - [`fmt`]: number formatting for tables.
//! - [`machine`]: what machine a report was measured on.
//! - [`memprobe`]: what a cache miss costs on it right now (reported with the feed
//!   benchmark).
//! - [`ring`]: the ring benchmark: round-trip latency (HdrHistogram) and throughput of
//!   hotpath's shm SPSC ring, in-process and cross-process, against a raw cache-line
//!   ping-pong (the physical floor), `rtrb` and crossbeam's `ArrayQueue`.
//! - [`sources`]: the packet-source benchmark: packets/s through the feed's decode from
//!   the DPDK source (`net_pcap` vdev), the pcap-file source and recvmmsg on loopback
//!   multicast, against `dpdk-testpmd` rxonly on the same vdev (feature `dpdk`).

pub mod feed;
pub mod fmt;
pub mod machine;
pub mod memprobe;
pub mod ring;
pub mod sources;

/// The median of `v` (the mean of the middle two for an even count); 0 for none. The
/// one every harness reports its rounds with.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
