//! Property tests: invariants after every event of arbitrary (small-domain) event
//! sequences, agreement with the reference, and anomaly counts equal to what the
//! generator injected.

mod common;

use common::gen::{Gen, GenConfig, RefMode};
use common::reference::RefBook;
use common::{apply, apply_ref, assert_books_eq, Ev};
use hotpath_book::{BookConfig, Books, NullSink, Side};
use proptest::prelude::*;

const LOCATES: usize = 3;

fn config() -> BookConfig {
    BookConfig {
        order_capacity: 64,
        max_locates: LOCATES,
        max_levels: 1024,
        max_probe: 256,
    }
}

/// Small domains so that duplicates, unknown references, clamping, shared levels,
/// crossing and locate mismatches all happen often. Locate 3 is out of range.
fn ev() -> impl Strategy<Value = Ev> {
    let locate = 0u16..=LOCATES as u16;
    let r = 1u64..24;
    let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
    let shares = prop_oneof![1 => Just(0u32), 6 => 1u32..400];
    let price = (95u32..106).prop_map(|p| p * 100);
    prop_oneof![
        8 => (locate.clone(), r.clone(), side.clone(), shares.clone(), price.clone()).prop_map(
            |(locate, order_ref, side, shares, price)| Ev::Add { locate, order_ref, side, shares, price }
        ),
        2 => (locate.clone(), r.clone(), shares.clone())
            .prop_map(|(locate, order_ref, shares)| Ev::Exec { locate, order_ref, shares }),
        1 => (locate.clone(), r.clone(), shares.clone(), price.clone()).prop_map(
            |(locate, order_ref, shares, price)| Ev::ExecPrice { locate, order_ref, shares, price }
        ),
        2 => (locate.clone(), r.clone(), shares.clone())
            .prop_map(|(locate, order_ref, shares)| Ev::Cancel { locate, order_ref, shares }),
        4 => (locate.clone(), r.clone()).prop_map(|(locate, order_ref)| Ev::Delete { locate, order_ref }),
        3 => (locate.clone(), r.clone(), r.clone(), shares, price.clone()).prop_map(
            |(locate, old_ref, new_ref, shares, price)| Ev::Replace { locate, old_ref, new_ref, shares, price }
        ),
        1 => (locate.clone(), side, price).prop_map(|(locate, side, price)| Ev::Trade {
            locate,
            order_ref: 0,
            side,
            shares: 100,
            price
        }),
        1 => (locate, prop_oneof![Just(b'H'), Just(b'T')])
            .prop_map(|(locate, state)| Ev::TradingAction { locate, state }),
    ]
}

/// The invariants, through the public queries only.
fn check_invariants(b: &Books) -> Result<(), TestCaseError> {
    let stats = b.stats();
    let (mut orders_total, mut levels_total) = (0u64, 0u64);
    for locate in 0..LOCATES as u16 {
        let mut best = [None, None];
        for side in [Side::Buy, Side::Sell] {
            let levels: Vec<_> = b.depth(locate, side).collect();
            prop_assert_eq!(levels.len(), b.level_count(locate, side));
            levels_total += levels.len() as u64;
            for w in levels.windows(2) {
                match side {
                    Side::Buy => prop_assert!(w[0].price > w[1].price, "bids strictly descending"),
                    Side::Sell => prop_assert!(w[0].price < w[1].price, "asks strictly ascending"),
                }
            }
            for l in &levels {
                let q: Vec<_> = b.orders_at_level(locate, side, l.price).collect();
                prop_assert!(l.orders > 0, "no empty level");
                prop_assert_eq!(q.len() as u32, l.orders, "order count = queue length");
                prop_assert_eq!(q.iter().map(|o| o.1 as u64).sum::<u64>(), l.shares);
                for &(r, shares) in &q {
                    prop_assert!(shares > 0, "no live order with 0 shares");
                    let o = b.order(r).expect("queued order is live");
                    prop_assert_eq!(
                        (o.locate, o.side, o.price, o.shares),
                        (locate, side, l.price, shares)
                    );
                }
                orders_total += l.orders as u64;
            }
            best[side as usize] = levels.first().copied();
        }
        let bbo = b.bbo(locate);
        prop_assert_eq!(bbo.bid, best[0], "bbo bid = first bid level");
        prop_assert_eq!(bbo.ask, best[1], "bbo ask = first ask level");
        if let (Some(bid), Some(ask)) = (bbo.bid, bbo.ask) {
            if bid.price >= ask.price {
                prop_assert!(
                    b.crossed(locate) && stats.crossed > 0,
                    "crossed and counted"
                );
            } else {
                prop_assert!(!b.crossed(locate));
            }
        } else {
            prop_assert!(!b.crossed(locate));
        }
    }
    prop_assert_eq!(
        orders_total,
        stats.live_orders,
        "every live order is in a level"
    );
    prop_assert_eq!(levels_total, stats.live_levels);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_event(evs in prop::collection::vec(ev(), 1..200)) {
        let mut b = Books::new(config());
        let mut r = RefBook::new(LOCATES);
        for (i, e) in evs.iter().enumerate() {
            apply(&mut b, e, i as u64, &mut NullSink);
            apply_ref(&mut r, e);
            check_invariants(&b)?;
            prop_assert_eq!(b.stats().semantic(), r.stats(), "after {:?}", e);
        }
        assert_books_eq(&b, &r, &"end");
    }

    #[test]
    fn anomaly_counts_match_what_was_injected(
        seed in any::<u64>(),
        rate in 0.0f64..0.3,
        scattered in any::<bool>(),
        n in 1usize..3000,
    ) {
        let mut b = Books::new(BookConfig { order_capacity: 1 << 12, max_locates: 16, max_levels: 1 << 12, max_probe: 512 });
        let mut g = Gen::new(GenConfig {
            seed,
            locates: 8,
            max_locates: 16,
            anomaly_rate: rate,
            refs: if scattered { RefMode::Scattered } else { RefMode::Sequential },
            live_target: 300,
            cross_rate: 0.0,
        });
        for i in 0..n {
            let e = g.next_event();
            apply(&mut b, &e, i as u64, &mut NullSink);
        }
        let s = b.stats();
        let e = g.expected;
        prop_assert_eq!(s.unknown_refs, e.unknown_refs);
        prop_assert_eq!(s.duplicate_refs, e.duplicate_refs);
        prop_assert_eq!(s.executions_clamped, e.executions_clamped);
        prop_assert_eq!(s.cancels_clamped, e.cancels_clamped);
        prop_assert_eq!(s.zero_shares, e.zero_shares);
        prop_assert_eq!(s.locate_mismatches, e.locate_mismatches);
        prop_assert_eq!(s.locate_out_of_range, e.locate_out_of_range);
        prop_assert_eq!(s.live_orders, g.live_orders() as u64);
        prop_assert_eq!(s.orders_dropped_table_full + s.levels_exhausted, 0);
        check_invariants_any(&b, 16)?;
    }
}

/// The structural invariants for any number of locates.
fn check_invariants_any(b: &Books, locates: u16) -> Result<(), TestCaseError> {
    let mut total = 0u64;
    for locate in 0..locates {
        for side in [Side::Buy, Side::Sell] {
            for l in b.depth(locate, side) {
                let q: Vec<_> = b.orders_at_level(locate, side, l.price).collect();
                prop_assert_eq!(q.len() as u32, l.orders);
                prop_assert_eq!(q.iter().map(|o| o.1 as u64).sum::<u64>(), l.shares);
                total += l.orders as u64;
            }
        }
    }
    prop_assert_eq!(total, b.stats().live_orders);
    Ok(())
}
