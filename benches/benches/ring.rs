//! Single-thread cost of moving one 64-byte message through each ring (push then pop
//! on the same thread, so no cache line changes core), and of 64 at a time.
//!
//! `cargo bench -p hotpath-benches --bench ring` (under a minute).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use hotpath_benches::ring::{Msg, BATCH};
use hotpath_shm::spsc;

const CAPACITY: u64 = 4096;

fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("hotpath-bench-")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn push_pop_one(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop_one");
    g.throughput(Throughput::Elements(1));

    let d = scratch();
    let path = d.path().join("one");
    let mut p = spsc::create::<Msg>(&path, CAPACITY).unwrap();
    let mut q = spsc::Consumer::<Msg>::attach(&path).unwrap();
    let mut seq = 0u64;
    g.bench_function("hotpath_spsc", |b| {
        b.iter(|| {
            seq += 1;
            p.try_push(black_box(Msg::new(seq))).unwrap();
            black_box(q.try_pop().unwrap().unwrap())
        })
    });

    let (mut p, mut q) = rtrb::RingBuffer::<Msg>::new(CAPACITY as usize);
    g.bench_function("rtrb", |b| {
        b.iter(|| {
            seq += 1;
            p.push(black_box(Msg::new(seq))).unwrap();
            black_box(q.pop().unwrap())
        })
    });

    let aq = Arc::new(ArrayQueue::<Msg>::new(CAPACITY as usize));
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter(|| {
            seq += 1;
            aq.push(black_box(Msg::new(seq))).unwrap();
            black_box(aq.pop().unwrap())
        })
    });
    g.finish();
}

fn push_pop_slice(c: &mut Criterion) {
    let mut g = c.benchmark_group("push_pop_slice");
    g.throughput(Throughput::Elements(BATCH as u64));
    let input: Vec<Msg> = (0..BATCH as u64).map(Msg::new).collect();
    let mut out = vec![Msg::default(); BATCH];

    let d = scratch();
    let path = d.path().join("slice");
    let mut p = spsc::create::<Msg>(&path, CAPACITY).unwrap();
    let mut q = spsc::Consumer::<Msg>::attach(&path).unwrap();
    g.bench_function(BenchmarkId::new("hotpath_spsc", BATCH), |b| {
        b.iter(|| {
            assert_eq!(p.push_slice(black_box(&input)).unwrap(), BATCH);
            assert_eq!(q.pop_slice(black_box(&mut out)).unwrap(), BATCH);
        })
    });

    let (mut p, mut q) = rtrb::RingBuffer::<Msg>::new(CAPACITY as usize);
    g.bench_function(BenchmarkId::new("rtrb_chunks", BATCH), |b| {
        b.iter(|| {
            p.push_entire_slice(black_box(&input)).unwrap();
            q.pop_entire_slice(black_box(&mut out)).unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    targets = push_pop_one, push_pop_slice
}
criterion_main!(benches);
