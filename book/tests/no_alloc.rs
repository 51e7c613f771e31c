//! After `Books::new`, nothing allocates: a counting global allocator sees zero
//! allocations (on this thread) while long streams with every event type, every
//! anomaly, capacity exhaustion, the queries and `reset` run after a warm-up.

mod common;

use common::daylike::{generate, DayConfig};
use common::gen::{Gen, GenConfig, RefMode};
use common::{apply, Ev};
use hotpath_book::{BboUpdate, BookConfig, BookSink, Books, LevelUpdate, NullSink, Side, Trade};
use hotpath_hw::alloc::CountingAllocator;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOC.allocations_in(f)
}

/// A sink that reads everything and keeps a fixed-size summary.
#[derive(Default)]
struct Summing {
    n: u64,
    acc: u64,
}

impl BookSink for Summing {
    fn level(&mut self, u: &LevelUpdate) {
        self.n += 1;
        self.acc = self.acc.wrapping_add(u.shares + u.price as u64);
    }
    fn bbo(&mut self, u: &BboUpdate) {
        self.n += 1;
        self.acc = self.acc.wrapping_add(u.bbo.bid.map_or(0, |l| l.shares));
    }
    fn trade(&mut self, t: &Trade) {
        self.n += 1;
        self.acc = self.acc.wrapping_add(t.shares as u64);
    }
    fn trading_state(&mut self, _locate: u16, state: u8, _ts: u64) {
        self.acc = self.acc.wrapping_add(state as u64);
    }
}

/// Runs `events` through `books` with both sinks, with queries mixed in.
fn drive(books: &mut Books, events: &[Ev], sink: &mut Summing) {
    let mut probe = 0u64;
    for (i, e) in events.iter().enumerate() {
        if let Some(next) = events.get(i + 4).and_then(Ev::target_ref) {
            books.prefetch(next);
        }
        if i % 2 == 0 {
            apply(books, e, i as u64, sink);
        } else {
            apply(books, e, i as u64, &mut NullSink);
        }
        if i % 1000 == 0 {
            let locate = match *e {
                Ev::Add { locate, .. } | Ev::Delete { locate, .. } => locate,
                _ => 1,
            };
            books.prefetch_locate(locate);
            let bbo = books.bbo(locate);
            probe += bbo.bid.map_or(0, |l| l.shares);
            for side in [Side::Buy, Side::Sell] {
                for l in books.depth(locate, side).take(10) {
                    probe += books
                        .orders_at_level(locate, side, l.price)
                        .map(|o| o.1 as u64)
                        .sum::<u64>();
                }
            }
            if let Some(r) = e.target_ref() {
                probe += books.order(r).map_or(0, |o| o.shares as u64);
            }
            probe += books.stats().live_orders + books.symbol(locate).map_or(0, |s| s[0] as u64);
            probe += books.halted(locate) as u64 + books.crossed(locate) as u64;
        }
    }
    std::hint::black_box(probe);
}

#[test]
fn no_allocation_after_warm_up_with_every_event_and_anomaly() {
    let events: Vec<Ev> = Gen::new(GenConfig {
        seed: 99,
        locates: 40,
        max_locates: 64,
        anomaly_rate: 0.05,
        refs: RefMode::Sequential,
        live_target: 20_000,
        cross_rate: 0.01,
    })
    .take(600_000)
    .collect();
    // The counter works.
    assert!(allocations_in(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))) > 0);
    let (warm, rest) = events.split_at(100_000);
    let mut books = Books::new(BookConfig {
        order_capacity: 1 << 16,
        max_locates: 64,
        max_levels: 1 << 15,
        max_probe: 1024,
    });
    let mut sink = Summing::default();
    drive(&mut books, warm, &mut sink);
    let n = allocations_in(|| drive(&mut books, rest, &mut sink));
    assert_eq!(n, 0, "allocations after warm-up");
    let s = books.stats();
    // Every event type and anomaly went through.
    assert!(s.adds > 0 && s.executions > 0 && s.executions_with_price > 0 && s.cancels > 0);
    assert!(s.deletes > 0 && s.replaces > 0 && s.trades > 0 && s.directories > 0);
    assert!(s.trading_actions > 0 && s.system_events > 0);
    assert!(s.unknown_refs > 0 && s.duplicate_refs > 0 && s.executions_clamped > 0);
    assert!(s.cancels_clamped > 0 && s.zero_shares > 0 && s.locate_mismatches > 0);
    assert!(s.locate_out_of_range > 0 && s.crossed > 0 && sink.n > 0);
}

#[test]
fn no_allocation_when_capacities_run_out() {
    let events: Vec<Ev> = Gen::new(GenConfig {
        seed: 7,
        locates: 60,
        max_locates: 64,
        anomaly_rate: 0.02,
        refs: RefMode::Scattered,
        live_target: 5_000,
        cross_rate: 0.0,
    })
    .take(300_000)
    .collect();
    let (warm, rest) = events.split_at(50_000);
    // 128 home slots + 32 spill for ~5,000 orders; 8 pool levels for 60 books.
    let mut books = Books::new(BookConfig {
        order_capacity: 64,
        max_locates: 64,
        max_levels: 8,
        max_probe: 32,
    });
    let mut sink = Summing::default();
    drive(&mut books, warm, &mut sink);
    let snapshot = books.clone();
    let n = allocations_in(|| {
        drive(&mut books, rest, &mut sink);
        books.reset();
        drive(&mut books, warm, &mut sink);
        books.clone_from(&snapshot);
    });
    assert_eq!(n, 0, "allocations after warm-up");
    let s = books.stats();
    assert!(s.orders_dropped_table_full > 0, "{s:?}");
    assert!(s.levels_exhausted > 0, "{s:?}");
}

#[test]
fn no_allocation_on_a_day_like_stream() {
    let day = generate(&DayConfig {
        seed: 5,
        symbols: 500,
        live_target: 100_000,
        messages: 400_000,
        recent_pick: 0.7,
    });
    let mut books = Books::new(BookConfig {
        order_capacity: 1 << 18,
        max_locates: 1024,
        max_levels: 1 << 16,
        max_probe: 1024,
    });
    let mut sink = Summing::default();
    drive(&mut books, &day.warmup, &mut sink);
    let n = allocations_in(|| drive(&mut books, &day.flow, &mut sink));
    assert_eq!(n, 0, "allocations after warm-up");
    let s = books.stats();
    assert_eq!(
        s.unknown_refs + s.orders_dropped_table_full + s.levels_exhausted,
        0,
        "{s:?}"
    );
    assert!(s.live_orders > 50_000, "{s:?}");
}
