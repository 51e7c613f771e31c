//! ITCH decoding, hotpath vs itchy, on the real 1000-message sample (once and repeated
//! 100 times): both read the same fields and must produce the same checksum.
//!
//! `cargo bench -p hotpath-benches --bench itch`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpath_benches::feed::{hotpath_checksum, itchy_checksum};

const REAL_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/itch50/12302019_0930_first1000.itch"
);

fn decode(c: &mut Criterion) {
    let file = std::fs::read(REAL_FILE)
        .unwrap_or_else(|e| panic!("cannot read the real ITCH sample {REAL_FILE}: {e}"));
    for repeat in [1usize, 100] {
        let buf = file.repeat(repeat);
        let messages = 1000 * repeat as u64;
        assert_eq!(
            hotpath_checksum(&buf),
            itchy_checksum(&buf),
            "checksums differ"
        );
        let mut group = c.benchmark_group(format!("itch_decode/{}KiB", buf.len() / 1024));
        group.throughput(Throughput::Elements(messages));
        group.bench_function("hotpath", |b| b.iter(|| hotpath_checksum(black_box(&buf))));
        group.bench_function("itchy", |b| b.iter(|| itchy_checksum(black_box(&buf))));
        group.finish();
    }
}

criterion_group!(benches, decode);
criterion_main!(benches);
