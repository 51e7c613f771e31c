//! Equivalence with the reference book over long random streams: every event's sink
//! output against the reference's before/after difference, and the whole state
//! (BBO, depth, queues, orders, counters) every few thousand events.

mod common;

use std::collections::BTreeMap;

use common::daylike::{generate, DayConfig};
use common::gen::{Gen, GenConfig, RefMode};
use common::reference::RefBook;
use common::{apply, apply_ref, assert_books_eq, Ctx, Ev, Recorder};
use hotpath_book::{Bbo, BookConfig, Books, Level, Order, Side, TradeKind};

struct Scenario {
    name: &'static str,
    books: BookConfig,
    gen: GenConfig,
    events: usize,
    /// Events dropped before either book sees any (a mid-day start).
    skip: usize,
    full_check_every: usize,
    check_sink: bool,
}

fn levels_of(r: &RefBook, locate: u16) -> BTreeMap<(u8, u32), (u64, u32)> {
    let mut m = BTreeMap::new();
    for side in [Side::Buy, Side::Sell] {
        for Level {
            price,
            shares,
            orders,
        } in r.depth(locate, side)
        {
            m.insert((side as u8, price), (shares, orders));
        }
    }
    m
}

/// Checks one event's sink output against the reference's change.
/// What the reference looked like, before an event, where the event can change it.
struct Before {
    locate: Option<u16>,
    levels: BTreeMap<(u8, u32), (u64, u32)>,
    bbo: Bbo,
    order: Option<Order>,
    max_locates: usize,
}

impl Before {
    fn take(r: &RefBook, ev: &Ev) -> Before {
        let locate = match *ev {
            Ev::Add { locate, .. } => ((locate as usize) < r.max_locates).then_some(locate),
            _ => ev.target_ref().and_then(|x| r.locate_of(x)),
        };
        Before {
            locate,
            levels: locate.map(|l| levels_of(r, l)).unwrap_or_default(),
            bbo: locate.map(|l| r.bbo(l)).unwrap_or_default(),
            order: ev.target_ref().and_then(|x| r.order(x)),
            max_locates: r.max_locates,
        }
    }
}

fn check_sink(ev: &Ev, before: &Before, after: &RefBook, rec: &Recorder, ctx: &Ctx) {
    let locate = before.locate;
    // Trades.
    let want_trade = match *ev {
        Ev::Exec {
            order_ref, shares, ..
        }
        | Ev::ExecPrice {
            order_ref, shares, ..
        } => before.order.filter(|_| shares > 0).map(|o| {
            let (price, kind) = match *ev {
                Ev::ExecPrice { price, .. } => (price, TradeKind::ExecutionWithPrice),
                _ => (o.price, TradeKind::Execution),
            };
            (o.locate, order_ref, o.side, shares, price, kind)
        }),
        Ev::Trade {
            locate,
            order_ref,
            side,
            shares,
            price,
        } => ((locate as usize) < before.max_locates).then_some((
            locate,
            order_ref,
            side,
            shares,
            price,
            TradeKind::NonCross,
        )),
        _ => None,
    };
    let got_trade: Vec<_> = rec
        .trades
        .iter()
        .map(|t| (t.locate, t.order_ref, t.side, t.shares, t.price, t.kind))
        .collect();
    assert_eq!(
        got_trade,
        want_trade.into_iter().collect::<Vec<_>>(),
        "{ctx}: trades"
    );

    // Levels and BBO, on the one locate an event can change.
    let Some(locate) = locate else {
        assert!(
            rec.levels.is_empty() && rec.bbos.is_empty(),
            "{ctx}: no book change"
        );
        return;
    };
    let (l0, l1) = (&before.levels, levels_of(after, locate));
    let mut want = BTreeMap::new();
    for (k, v) in &l1 {
        if l0.get(k) != Some(v) {
            want.insert(*k, *v);
        }
    }
    for k in l0.keys() {
        if !l1.contains_key(k) {
            want.insert(*k, (0, 0));
        }
    }
    let mut got = BTreeMap::new();
    for u in &rec.levels {
        assert_eq!(u.locate, locate, "{ctx}: level update's locate");
        let dup = got.insert((u.side as u8, u.price), (u.shares, u.orders));
        assert!(dup.is_none(), "{ctx}: a level reported twice: {u:?}");
    }
    assert_eq!(got, want, "{ctx}: level updates");
    let (b0, b1) = (before.bbo, after.bbo(locate));
    if b0 == b1 {
        assert!(
            rec.bbos.is_empty(),
            "{ctx}: bbo reported without a change: {:?}",
            rec.bbos
        );
    } else {
        assert_eq!(rec.bbos.len(), 1, "{ctx}: one bbo update");
        assert_eq!(
            (rec.bbos[0].locate, rec.bbos[0].bbo),
            (locate, b1),
            "{ctx}: bbo"
        );
    }
}

fn run(sc: Scenario) {
    let mut books = Books::new(sc.books);
    let mut reference = RefBook::new(sc.books.max_locates);
    let mut gen = Gen::new(sc.gen.clone());
    let mut rec = Recorder::default();
    for _ in 0..sc.skip {
        gen.next_event();
    }
    for i in 0..sc.events {
        let ev = gen.next_event();
        let ctx = Ctx(sc.name, i, &ev);
        if sc.check_sink {
            let before = Before::take(&reference, &ev);
            rec.clear();
            apply(&mut books, &ev, i as u64, &mut rec);
            apply_ref(&mut reference, &ev);
            check_sink(&ev, &before, &reference, &rec, &ctx);
        } else {
            apply(&mut books, &ev, i as u64, &mut rec);
            apply_ref(&mut reference, &ev);
            rec.clear();
        }
        if (i + 1) % sc.full_check_every == 0 {
            assert_books_eq(&books, &reference, &ctx);
        }
    }
    assert_books_eq(&books, &reference, &format!("{} end", sc.name));
    let s = books.stats();
    assert_eq!(
        s.orders_dropped_table_full, 0,
        "{}: the scenario must fit",
        sc.name
    );
    assert_eq!(s.levels_exhausted, 0, "{}: the scenario must fit", sc.name);
    // The stream exercised what it should.
    assert!(
        s.unknown_refs > 0 && s.crossed > 0 && s.live_orders > 0,
        "{}: {s:?}",
        sc.name
    );
    if sc.skip == 0 {
        // Without a mid-day start the generator knows every anomaly it injected.
        let e = gen.expected;
        assert_eq!(
            (
                s.unknown_refs,
                s.duplicate_refs,
                s.executions_clamped,
                s.cancels_clamped
            ),
            (
                e.unknown_refs,
                e.duplicate_refs,
                e.executions_clamped,
                e.cancels_clamped
            ),
            "{}",
            sc.name
        );
        assert_eq!(
            (s.zero_shares, s.locate_mismatches, s.locate_out_of_range),
            (e.zero_shares, e.locate_mismatches, e.locate_out_of_range),
            "{}",
            sc.name
        );
    }
}

fn small_books() -> BookConfig {
    BookConfig {
        order_capacity: 1 << 14,
        max_locates: 64,
        max_levels: 1 << 14,
        max_probe: 1024,
    }
}

#[test]
fn every_event_sink_output_matches_the_reference() {
    run(Scenario {
        name: "sink",
        books: small_books(),
        gen: GenConfig {
            seed: 11,
            live_target: 1_000,
            ..Default::default()
        },
        events: 200_000,
        skip: 0,
        full_check_every: 5_000,
        check_sink: true,
    });
}

#[test]
fn long_sequential_stream_matches_the_reference() {
    run(Scenario {
        name: "sequential",
        books: small_books(),
        gen: GenConfig {
            seed: 12,
            live_target: 5_000,
            ..Default::default()
        },
        events: 3_000_000,
        skip: 0,
        full_check_every: 50_000,
        check_sink: false,
    });
}

#[test]
fn mid_day_start_matches_the_reference() {
    run(Scenario {
        name: "mid-day",
        books: small_books(),
        gen: GenConfig {
            seed: 13,
            live_target: 2_000,
            ..Default::default()
        },
        events: 200_000,
        skip: 100_000,
        full_check_every: 20_000,
        check_sink: true,
    });
}

#[test]
fn crowded_table_with_scattered_refs_matches_the_reference() {
    // 64 home slots for ~1,500 live orders: long probe runs, far placements and
    // far-bit clearing on every path, all within max_probe.
    run(Scenario {
        name: "crowded",
        books: BookConfig {
            order_capacity: 64,
            max_locates: 64,
            max_levels: 1 << 14,
            max_probe: 4096,
        },
        gen: GenConfig {
            seed: 14,
            live_target: 1_500,
            refs: RefMode::Scattered,
            ..Default::default()
        },
        events: 150_000,
        skip: 0,
        full_check_every: 10_000,
        check_sink: true,
    });
}

#[test]
fn every_locate_and_deep_books_match_the_reference() {
    // All 65,536 locates valid; few locates so that books get deep (blocks grow
    // well past the 8-level linear scan).
    run(Scenario {
        name: "deep",
        books: BookConfig {
            order_capacity: 1 << 15,
            max_locates: 65536,
            max_levels: 1 << 15,
            max_probe: 1024,
        },
        gen: GenConfig {
            seed: 15,
            locates: 3,
            max_locates: 65536,
            live_target: 6_000,
            ..Default::default()
        },
        events: 300_000,
        skip: 0,
        full_check_every: 100_000,
        check_sink: false,
    });
}

#[test]
fn day_like_stream_matches_the_reference() {
    // The benchmark's stream at a small scale: Zipf symbols, deep queues at the top
    // levels, executions at the front of the best level, references in runs.
    let day = generate(&DayConfig {
        seed: 21,
        symbols: 300,
        live_target: 60_000,
        messages: 600_000,
        recent_pick: 0.7,
    });
    let cfg = BookConfig {
        order_capacity: 1 << 17,
        max_locates: 512,
        max_levels: 1 << 16,
        max_probe: 1024,
    };
    let mut books = Books::new(cfg);
    let mut reference = RefBook::new(cfg.max_locates);
    let mut rec = Recorder::default();
    for (i, ev) in day.warmup.iter().chain(&day.flow).enumerate() {
        apply(&mut books, ev, i as u64, &mut rec);
        apply_ref(&mut reference, ev);
        rec.clear();
        if (i + 1) % 250_000 == 0 {
            assert_books_eq(&books, &reference, &Ctx("day-like", i, ev));
        }
    }
    assert_books_eq(&books, &reference, &"day-like end");
    let s = books.stats();
    assert_eq!(
        s.unknown_refs + s.crossed + s.orders_dropped_table_full + s.levels_exhausted,
        0
    );
    assert!(s.live_orders > 50_000, "{s:?}");
}
