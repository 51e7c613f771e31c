//! Hand-written scenarios: time priority, replace semantics, sink output, each anomaly
//! rule, capacity exhaustion, queries, config.

mod common;

use common::Recorder;
use hotpath_book::{
    Bbo, BookConfig, Books, ConfigError, Level, LevelUpdate, NullSink, Order, Side, TradeKind,
};

const L: u16 = 7;

fn books() -> Books {
    Books::new(BookConfig {
        order_capacity: 1 << 10,
        max_locates: 16,
        max_levels: 1 << 10,
        max_probe: 64,
    })
}

fn queue(b: &Books, side: Side, price: u32) -> Vec<(u64, u32)> {
    b.orders_at_level(L, side, price).collect()
}

fn lvl(price: u32, shares: u64, orders: u32) -> Level {
    Level {
        price,
        shares,
        orders,
    }
}

#[test]
fn time_priority_survives_partial_fills_and_cancels() {
    let mut b = books();
    let s = &mut NullSink;
    for (r, sh) in [(1, 100), (2, 200), (3, 300)] {
        b.add(L, r, Side::Buy, sh, 10_000, 0, s);
    }
    assert_eq!(
        queue(&b, Side::Buy, 10_000),
        vec![(1, 100), (2, 200), (3, 300)]
    );
    b.execute(L, 2, 50, 0, s);
    b.cancel(L, 1, 30, 0, s);
    assert_eq!(
        queue(&b, Side::Buy, 10_000),
        vec![(1, 70), (2, 150), (3, 300)]
    );
    b.delete(L, 2, 0, s);
    assert_eq!(queue(&b, Side::Buy, 10_000), vec![(1, 70), (3, 300)]);
    // Replace at the same price: to the back, new reference.
    b.replace(L, 1, 9, 70, 10_000, 0, s);
    assert_eq!(queue(&b, Side::Buy, 10_000), vec![(3, 300), (9, 70)]);
    assert_eq!(b.order(1), None);
    // Replace to another price keeps the side.
    b.replace(L, 3, 10, 5, 9_900, 0, s);
    assert_eq!(queue(&b, Side::Buy, 9_900), vec![(10, 5)]);
    assert_eq!(
        b.order(10),
        Some(Order {
            order_ref: 10,
            locate: L,
            side: Side::Buy,
            shares: 5,
            price: 9_900
        })
    );
    let d: Vec<_> = b.depth(L, Side::Buy).collect();
    assert_eq!(d, vec![lvl(10_000, 70, 1), lvl(9_900, 5, 1)]);
    // A full execution and a full cancel remove the order.
    b.execute(L, 9, 70, 0, s);
    b.cancel(L, 10, 5, 0, s);
    assert_eq!(b.depth(L, Side::Buy).count(), 0);
    assert_eq!(b.stats().live_orders, 0);
    assert_eq!(b.stats().live_levels, 0);
}

#[test]
fn sink_sees_levels_bbo_and_trades_in_order() {
    let mut b = books();
    let mut rec = Recorder::default();
    b.add(L, 1, Side::Sell, 100, 10_100, 5, &mut rec);
    assert_eq!(
        rec.levels,
        vec![LevelUpdate {
            locate: L,
            side: Side::Sell,
            price: 10_100,
            shares: 100,
            orders: 1,
            ts: 5
        }]
    );
    assert_eq!(rec.bbos.len(), 1);
    assert_eq!(
        rec.bbos[0].bbo,
        Bbo {
            bid: None,
            ask: Some(lvl(10_100, 100, 1))
        }
    );
    rec.clear();
    // A level behind the best: a level update, no BBO.
    b.add(L, 2, Side::Sell, 50, 10_200, 6, &mut rec);
    assert_eq!(rec.levels.len(), 1);
    assert!(rec.bbos.is_empty());
    rec.clear();
    // E: the trade at the order's price, then the level, then the BBO.
    b.execute(L, 1, 40, 7, &mut rec);
    assert_eq!(rec.trades.len(), 1);
    let t = rec.trades[0];
    assert_eq!(
        (t.order_ref, t.side, t.shares, t.price, t.kind),
        (1, Side::Sell, 40, 10_100, TradeKind::Execution)
    );
    assert_eq!((rec.levels[0].shares, rec.levels[0].orders), (60, 1));
    assert_eq!(rec.bbos[0].bbo.ask, Some(lvl(10_100, 60, 1)));
    rec.clear();
    // C: the print price is the message's.
    b.execute_with_price(L, 1, 60, 10_050, 8, &mut rec);
    assert_eq!(
        (rec.trades[0].price, rec.trades[0].kind),
        (10_050, TradeKind::ExecutionWithPrice)
    );
    assert_eq!(
        (
            rec.levels[0].price,
            rec.levels[0].shares,
            rec.levels[0].orders
        ),
        (10_100, 0, 0)
    );
    assert_eq!(rec.bbos[0].bbo.ask, Some(lvl(10_200, 50, 1)));
    rec.clear();
    // P: reported, no book change.
    b.trade(L, 0, Side::Buy, 10, 10_150, 9, &mut rec);
    assert_eq!(rec.trades[0].kind, TradeKind::NonCross);
    assert!(rec.levels.is_empty() && rec.bbos.is_empty());
    rec.clear();
    // A replace at the same price and shares changes no aggregate: nothing published.
    b.replace(L, 2, 3, 50, 10_200, 10, &mut rec);
    assert!(rec.levels.is_empty() && rec.bbos.is_empty());
    assert_eq!(queue(&b, Side::Sell, 10_200), vec![(3, 50)]);
    // H: the state goes to the sink.
    b.trading_action(L, b'H', 11, &mut rec);
    assert_eq!(rec.states, vec![(L, b'H')]);
    assert!(b.halted(L));
}

#[test]
fn anomalies_are_counted_and_harmless() {
    let mut b = books();
    let s = &mut NullSink;
    // Mid-day start: events for orders never seen.
    b.execute(L, 100, 1, 0, s);
    b.execute_with_price(L, 100, 1, 1, 0, s);
    b.cancel(L, 100, 1, 0, s);
    b.delete(L, 100, 0, s);
    b.replace(L, 100, 101, 1, 1, 0, s);
    assert_eq!(b.stats().unknown_refs, 5);
    assert_eq!(b.order(101), None);
    // Duplicate add: ignored, the first order stays as it was.
    b.add(L, 1, Side::Buy, 100, 10_000, 0, s);
    b.add(L, 1, Side::Sell, 999, 20_000, 0, s);
    assert_eq!(b.stats().duplicate_refs, 1);
    assert_eq!(b.order(1).unwrap().shares, 100);
    assert_eq!(b.level_count(L, Side::Sell), 0);
    // Over-execution and over-cancel: clamped, the order goes.
    b.add(L, 2, Side::Buy, 100, 10_000, 0, s);
    b.execute(L, 1, 150, 0, s);
    b.cancel(L, 2, 101, 0, s);
    let st = b.stats();
    assert_eq!(
        (st.executions_clamped, st.cancels_clamped, st.live_orders),
        (1, 1, 0)
    );
    // Zero shares: an add is not added, an execution changes nothing.
    b.add(L, 3, Side::Buy, 0, 10_000, 0, s);
    assert_eq!(b.order(3), None);
    b.add(L, 4, Side::Buy, 10, 10_000, 0, s);
    b.execute(L, 4, 0, 0, s);
    b.replace(L, 4, 5, 0, 10_000, 0, s); // removes 4, adds nothing
    assert_eq!(b.stats().zero_shares, 3);
    assert_eq!((b.order(4), b.order(5)), (None, None));
    // Replace onto a live reference: the old order goes, the new one is not added.
    b.add(L, 6, Side::Buy, 10, 10_000, 0, s);
    b.add(L, 7, Side::Buy, 20, 10_000, 0, s);
    b.replace(L, 6, 7, 30, 9_000, 0, s);
    assert_eq!(b.stats().duplicate_refs, 2);
    assert_eq!((b.order(6), b.order(7).unwrap().shares), (None, 20));
    // Replace keeping its reference is fine.
    b.replace(L, 7, 7, 25, 9_000, 0, s);
    assert_eq!(b.order(7).unwrap().price, 9_000);
    // Locate mismatch: applied to the order's own book.
    b.delete(L + 1, 7, 0, s);
    assert_eq!(b.stats().locate_mismatches, 1);
    assert_eq!(b.order(7), None);
    // Out of range locates are ignored.
    b.add(16, 8, Side::Buy, 1, 1, 0, s);
    b.trade(16, 0, Side::Buy, 1, 1, 0, s);
    b.stock_directory(16, *b"X       ");
    b.trading_action(16, b'H', 0, s);
    assert_eq!(b.stats().locate_out_of_range, 4);
    assert_eq!(b.order(8), None);
}

#[test]
fn crossed_counts_transitions_into_the_crossed_state() {
    let mut b = books();
    let s = &mut NullSink;
    b.add(L, 1, Side::Sell, 100, 10_000, 0, s);
    b.add(L, 2, Side::Buy, 100, 9_900, 0, s);
    assert!(!b.crossed(L));
    b.add(L, 3, Side::Buy, 100, 10_000, 0, s); // locked: bid == ask counts as crossed
    assert!(b.crossed(L));
    b.add(L, 4, Side::Buy, 100, 10_100, 0, s); // still crossed: not counted again
    assert_eq!(b.stats().crossed, 1);
    b.delete(L, 1, 0, s);
    assert!(!b.crossed(L));
    b.add(L, 5, Side::Sell, 100, 10_050, 0, s);
    assert!(b.crossed(L));
    assert_eq!(b.stats().crossed, 2);
}

#[test]
fn extreme_prices_sort_correctly() {
    let mut b = books();
    let s = &mut NullSink;
    for (r, p) in [(1, 0), (2, u32::MAX), (3, 1), (4, u32::MAX - 1)] {
        b.add(L, r, Side::Buy, 1, p, 0, s);
        b.add(L, r + 10, Side::Sell, 1, p, 0, s);
    }
    let bids: Vec<u32> = b.depth(L, Side::Buy).map(|l| l.price).collect();
    let asks: Vec<u32> = b.depth(L, Side::Sell).map(|l| l.price).collect();
    assert_eq!(bids, vec![u32::MAX, u32::MAX - 1, 1, 0]);
    assert_eq!(asks, vec![0, 1, u32::MAX - 1, u32::MAX]);
}

/// A level's sort key is 0 for a bid at price 0 and for an ask at `u32::MAX`, the
/// same key an empty inline rank holds: such a level must still be found (and joined,
/// not duplicated) whichever rank it sits at, in the record or in the pool.
#[test]
fn key_zero_levels_are_found_at_every_rank() {
    for (side, worst, better) in [
        (Side::Buy, 0u32, [9u32, 8, 7, 6, 5]),
        (
            Side::Sell,
            u32::MAX,
            [
                u32::MAX - 9,
                u32::MAX - 8,
                u32::MAX - 7,
                u32::MAX - 6,
                u32::MAX - 5,
            ],
        ),
    ] {
        let mut b = books();
        let mut next_ref = 1u64;
        let mut add = |b: &mut Books, price: u32| {
            b.add(L, next_ref, side, 10, price, 0, &mut NullSink);
            next_ref += 1;
            next_ref - 1
        };
        // With 0 to 5 better levels in front of it: at ranks 0..3, then in the pool.
        for n in 0..=better.len() {
            b.reset();
            for &p in &better[..n] {
                add(&mut b, p);
            }
            let first = add(&mut b, worst);
            let second = add(&mut b, worst);
            let depth: Vec<Level> = b.depth(L, side).collect();
            assert_eq!(depth.len(), n + 1, "{side:?} behind {n}: {depth:?}");
            assert_eq!(depth[n], lvl(worst, 20, 2), "{side:?} behind {n}");
            assert_eq!(
                b.orders_at_level(L, side, worst).collect::<Vec<_>>(),
                vec![(first, 10), (second, 10)]
            );
            // Emptied, it goes, and the ranks behind it read as empty again.
            b.delete(L, first, 0, &mut NullSink);
            b.delete(L, second, 0, &mut NullSink);
            assert_eq!(b.level_count(L, side), n, "{side:?} behind {n}");
            let again = add(&mut b, worst);
            assert_eq!(b.depth(L, side).nth(n), Some(lvl(worst, 10, 1)));
            assert_eq!(b.order(again).map(|o| o.price), Some(worst));
            assert_eq!(b.stats().live_levels, n as u64 + 1);
        }
    }
}

#[test]
fn deep_books_grow_their_pool_block() {
    let mut b = books();
    let s = &mut NullSink;
    // 300 levels in a scrambled order: the best four inline, the rest in a block
    // that grows 8 -> 16 -> ... -> 512.
    for i in 0..300u64 {
        let p = 10_000 + ((i * 7919) % 300) as u32 * 100;
        b.add(L, i + 1, Side::Sell, 10, p, 0, s);
    }
    let d: Vec<_> = b.depth(L, Side::Sell).collect();
    assert_eq!(d.len(), 300);
    assert!(d.windows(2).all(|w| w[0].price < w[1].price));
    assert_eq!(b.bbo(L).ask, Some(lvl(10_000, 10, 1)));
    // Remove from the top down: levels move up from the pool.
    for i in 0..300u64 {
        b.delete(L, i + 1, 0, s);
    }
    assert_eq!(b.stats().live_levels, 0);
    assert_eq!(b.bbo(L), Bbo::default());
}

#[test]
fn capacities_run_out_gracefully() {
    // Levels: 4 in the record + one 8-level block per book; the 13th is refused.
    let mut b = Books::new(BookConfig {
        order_capacity: 64,
        max_locates: 4,
        max_levels: 8,
        max_probe: 32,
    });
    let s = &mut NullSink;
    for i in 0..13u64 {
        b.add(1, i + 1, Side::Buy, 10, 1_000 + i as u32, 0, s);
    }
    let st = b.stats();
    assert_eq!(
        (st.levels_exhausted, st.live_levels, st.live_orders),
        (1, 12, 12)
    );
    assert_eq!(b.order(13), None);
    b.delete(1, 13, 0, s); // the dropped order is unknown later
    assert_eq!(b.stats().unknown_refs, 1);
    // Joining an existing level still works.
    b.add(1, 14, Side::Buy, 10, 1_000, 0, s);
    assert_eq!(b.order(14).unwrap().shares, 10);
    // Orders: 128 home slots + 32 spill slots; the rest is refused, never a panic.
    let mut b = Books::new(BookConfig {
        order_capacity: 64,
        max_locates: 4,
        max_levels: 64,
        max_probe: 32,
    });
    for r in 0..1_000u64 {
        b.add(1, r * 1_000_003, Side::Sell, 1, 5_000, 0, s);
    }
    let st = b.stats();
    assert!(st.orders_dropped_table_full > 0);
    assert_eq!(st.live_orders + st.orders_dropped_table_full, 1_000);
    assert_eq!(
        b.depth(1, Side::Sell).next().unwrap().orders as u64,
        st.live_orders
    );
}

#[test]
fn directory_state_system_and_reset() {
    let mut b = books();
    let s = &mut NullSink;
    assert_eq!(b.symbol(L), None);
    b.stock_directory(L, *b"AAPL    ");
    assert_eq!(b.symbol(L), Some(*b"AAPL    "));
    assert_eq!(b.trading_state(L), None);
    b.trading_action(L, b'T', 0, s);
    assert!(!b.halted(L));
    b.trading_action(L, b'P', 0, s);
    assert!(b.halted(L));
    b.system_event(b'O', 0);
    assert_eq!(b.last_system_event(), Some(b'O'));
    b.add(L, 1, Side::Buy, 1, 1, 0, s);
    assert_eq!(b.active_locates().collect::<Vec<_>>(), vec![L]);
    b.reset();
    assert_eq!(b.stats(), Default::default());
    assert_eq!(
        (b.symbol(L), b.order(1), b.bbo(L)),
        (None, None, Bbo::default())
    );
    assert_eq!(b.active_locates().count(), 0);
}

#[test]
fn config_is_checked_and_sized() {
    assert!(BookConfig::default().validate().is_ok());
    let bad = BookConfig {
        max_locates: 70_000,
        ..Default::default()
    };
    assert_eq!(bad.validate(), Err(ConfigError::MaxLocates(70_000)));
    assert!(Books::try_new(BookConfig {
        order_capacity: 1,
        ..Default::default()
    })
    .is_err());
    assert!(Books::try_new(BookConfig {
        max_probe: 8,
        ..Default::default()
    })
    .is_err());
    let cfg = BookConfig {
        order_capacity: 1000,
        max_locates: 10,
        max_levels: 100,
        max_probe: 64,
    };
    let b = Books::new(cfg);
    assert_eq!(b.memory_bytes(), cfg.memory_bytes());
    let regions = b.memory_regions();
    assert_eq!(regions.iter().map(|r| r.1).sum::<usize>(), b.memory_bytes());
    assert!(regions.iter().all(|r| r.0 != 0));
    // 2048 home slots + 64 spill + 2 spare, 32 bytes; 100 levels of 24; 10 records
    // of 256.
    assert_eq!(cfg.memory_bytes(), (2048 + 66) * 32 + 100 * 24 + 10 * 256);
    let d = BookConfig::default();
    assert_eq!(
        d.memory_bytes(),
        ((1 << 23) + 1026) * 32 + (1 << 21) * 24 + 65536 * 256
    );
}
