//! ns/event of the books on a day-like stream (see tests/common/daylike.rs): 8,000
//! Zipf-active symbols, ~1.9 M live orders, the published full-day mix.
//!
//! Each measured pass starts from the same state (reset, then the warm-up replayed
//! untimed) and times the whole flow, so passes and variants are comparable.
//!
//! `cargo bench -p hotpath-book --bench book` runs criterion (elements = messages;
//! ns/message = 1e3 / Melem/s). `BOOK_BENCH_QUICK=1` instead prints ns/message per
//! variant (median of `BOOK_BENCH_PASSES`, default 5) without criterion.
//! `BOOK_BENCH_MESSAGES` sets the flow length (default 10 M).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::daylike::{generate, DayConfig, DayStream};
use common::{apply, Ev};
use criterion::{Criterion, SamplingMode, Throughput};
use hotpath_book::{BboUpdate, BookConfig, BookSink, Books, LevelUpdate, NullSink, Trade};

/// Counts what it is told: the cost of a sink that reads everything.
#[derive(Default)]
struct Counting {
    levels: u64,
    bbos: u64,
    trades: u64,
    acc: u64,
}

impl BookSink for Counting {
    #[inline]
    fn level(&mut self, u: &LevelUpdate) {
        self.levels += 1;
        self.acc = self.acc.wrapping_add(u.shares ^ u.price as u64);
    }
    #[inline]
    fn bbo(&mut self, u: &BboUpdate) {
        self.bbos += 1;
        self.acc = self.acc.wrapping_add(
            u.bbo.bid.map_or(0, |l| l.shares) ^ u.bbo.ask.map_or(0, |l| l.price as u64),
        );
    }
    #[inline]
    fn trade(&mut self, t: &Trade) {
        self.trades += 1;
        self.acc = self.acc.wrapping_add(t.shares as u64);
    }
}

/// What a decoder knows of a message before handing it to the books: its locate and
/// the reference it names.
#[inline(always)]
fn prefetch(books: &Books, ev: &Ev) {
    match *ev {
        Ev::Add {
            locate, order_ref, ..
        } => {
            books.prefetch_locate(locate);
            books.prefetch(order_ref);
        }
        Ev::Exec {
            locate, order_ref, ..
        }
        | Ev::ExecPrice {
            locate, order_ref, ..
        }
        | Ev::Cancel {
            locate, order_ref, ..
        }
        | Ev::Delete { locate, order_ref }
        | Ev::Replace {
            locate,
            old_ref: order_ref,
            ..
        } => {
            books.prefetch_locate(locate);
            books.prefetch(order_ref);
        }
        _ => {}
    }
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    /// One event after another, NullSink.
    Plain,
    /// As Plain, with a sink that reads every level, BBO and trade.
    CountingSink,
    /// Prefetch the order and book of the event `k` ahead.
    Ahead(usize),
    /// Packets of `b` events: prefetch all their orders and books, then handle them.
    Batch(usize),
}

fn run(books: &mut Books, flow: &[Ev], v: Variant) -> u64 {
    let mut ts = 0u64;
    match v {
        Variant::Plain => {
            for ev in flow {
                ts += 1;
                apply(books, ev, ts, &mut NullSink);
            }
            0
        }
        Variant::CountingSink => {
            let mut s = Counting::default();
            for ev in flow {
                ts += 1;
                apply(books, ev, ts, &mut s);
            }
            s.acc ^ s.levels ^ s.bbos ^ s.trades
        }
        Variant::Ahead(k) => {
            for (i, ev) in flow.iter().enumerate() {
                if let Some(next) = flow.get(i + k) {
                    prefetch(books, next);
                }
                ts += 1;
                apply(books, ev, ts, &mut NullSink);
            }
            0
        }
        Variant::Batch(b) => {
            for chunk in flow.chunks(b) {
                for ev in chunk {
                    prefetch(books, ev);
                }
                for ev in chunk {
                    ts += 1;
                    apply(books, ev, ts, &mut NullSink);
                }
            }
            0
        }
    }
}

fn prepare(books: &mut Books, day: &DayStream) {
    books.reset();
    for (i, ev) in day.warmup.iter().enumerate() {
        apply(books, ev, i as u64, &mut NullSink);
    }
}

/// One timed pass over the flow, from the warmed-up snapshot (copied in, untimed).
fn pass(books: &mut Books, warmed: &Books, day: &DayStream, v: Variant) -> Duration {
    books.clone_from(warmed);
    let t = Instant::now();
    black_box(run(books, black_box(&day.flow), v));
    t.elapsed()
}

const VARIANTS: [Variant; 5] = [
    Variant::Plain,
    Variant::CountingSink,
    Variant::Ahead(4),
    Variant::Batch(8),
    Variant::Batch(16),
];

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let messages = env("BOOK_BENCH_MESSAGES", 10_000_000);
    let mut cfg = DayConfig {
        messages,
        ..Default::default()
    };
    if let Some(p) = std::env::var("BOOK_BENCH_RECENT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.recent_pick = p;
    }
    cfg.symbols = env("BOOK_BENCH_SYMBOLS", cfg.symbols as usize) as u16;
    cfg.live_target = env("BOOK_BENCH_LIVE", cfg.live_target);
    let t = Instant::now();
    let day = generate(&cfg);
    eprintln!(
        "stream: {} warm-up + {} flow messages, {} symbols, live target {} (generated in {:.1?})",
        day.warmup.len(),
        day.flow.len(),
        cfg.symbols,
        cfg.live_target,
        t.elapsed()
    );
    let mut books = Books::new(BookConfig {
        order_capacity: env("BOOK_BENCH_CAPACITY", BookConfig::default().order_capacity),
        ..BookConfig::default()
    });
    prepare(&mut books, &day);
    let warmed = books.clone();
    let s0 = books.stats();
    run(&mut books, &day.flow, Variant::Plain);
    let s1 = books.stats();
    eprintln!(
        "after warm-up: {} live orders, {} levels; after flow: {} live orders, {} levels, \
         {} level slots in blocks, max probe {}, far placements {}, unknown refs {}, crossed {}",
        s0.live_orders,
        s0.live_levels,
        s1.live_orders,
        s1.live_levels,
        s1.level_slots_in_use,
        s1.max_probe_seen,
        s1.far_placements,
        s1.unknown_refs,
        s1.crossed
    );
    eprintln!(
        "books hold {} MiB; GLIBC_TUNABLES={}",
        books.memory_bytes() >> 20,
        std::env::var("GLIBC_TUNABLES").unwrap_or_default()
    );

    if std::env::var_os("BOOK_BENCH_QUICK").is_some() {
        // Passes interleaved across variants, so that the host's noise hits them alike.
        let passes = env("BOOK_BENCH_PASSES", 5);
        let only = std::env::var("BOOK_BENCH_VARIANTS").unwrap_or_default();
        let chosen: Vec<Variant> = VARIANTS
            .into_iter()
            .filter(|v| only.is_empty() || only.split(',').any(|o| format!("{v:?}").starts_with(o)))
            .collect();
        let mut ns = vec![Vec::new(); chosen.len()];
        for _ in 0..passes {
            for (i, v) in chosen.iter().enumerate() {
                ns[i].push(
                    pass(&mut books, &warmed, &day, *v).as_secs_f64() * 1e9 / messages as f64,
                );
            }
        }
        for (v, mut ns) in chosen.into_iter().zip(ns) {
            ns.sort_by(f64::total_cmp);
            eprintln!(
                "{:<16} median {:6.1} ns/message (min {:.1}, max {:.1}, {} passes)",
                format!("{v:?}"),
                ns[ns.len() / 2],
                ns[0],
                ns[ns.len() - 1],
                passes
            );
        }
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("book");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(40))
        .throughput(Throughput::Elements(messages as u64));
    for v in VARIANTS {
        g.bench_function(format!("{v:?}"), |bch| {
            bch.iter_custom(|iters| (0..iters).map(|_| pass(&mut books, &warmed, &day, v)).sum())
        });
    }
    g.finish();
    c.final_summary();
}
