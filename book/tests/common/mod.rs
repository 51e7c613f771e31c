//! Shared test support: the event type, the reference book, stream generators, a
//! recording sink and full-state comparison.

#![allow(dead_code)]

pub mod daylike;
pub mod gen;
pub mod reference;

use hotpath_book::{BboUpdate, BookSink, Books, LevelUpdate, Side, Trade};
use reference::RefBook;

/// One decoded event, as plain values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    Add {
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        price: u32,
    },
    Exec {
        locate: u16,
        order_ref: u64,
        shares: u32,
    },
    ExecPrice {
        locate: u16,
        order_ref: u64,
        shares: u32,
        price: u32,
    },
    Cancel {
        locate: u16,
        order_ref: u64,
        shares: u32,
    },
    Delete {
        locate: u16,
        order_ref: u64,
    },
    Replace {
        locate: u16,
        old_ref: u64,
        new_ref: u64,
        shares: u32,
        price: u32,
    },
    Trade {
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        price: u32,
    },
    Directory {
        locate: u16,
        symbol: [u8; 8],
    },
    TradingAction {
        locate: u16,
        state: u8,
    },
    System {
        code: u8,
    },
}

impl Ev {
    /// The reference an event looks up (E, C, X, D, U's old), if any.
    pub fn target_ref(&self) -> Option<u64> {
        match *self {
            Ev::Exec { order_ref, .. }
            | Ev::ExecPrice { order_ref, .. }
            | Ev::Cancel { order_ref, .. }
            | Ev::Delete { order_ref, .. } => Some(order_ref),
            Ev::Replace { old_ref, .. } => Some(old_ref),
            _ => None,
        }
    }
}

/// Drives `Books` with one event.
#[inline]
pub fn apply<S: BookSink>(b: &mut Books, ev: &Ev, ts: u64, sink: &mut S) {
    match *ev {
        Ev::Add {
            locate,
            order_ref,
            side,
            shares,
            price,
        } => b.add(locate, order_ref, side, shares, price, ts, sink),
        Ev::Exec {
            locate,
            order_ref,
            shares,
        } => b.execute(locate, order_ref, shares, ts, sink),
        Ev::ExecPrice {
            locate,
            order_ref,
            shares,
            price,
        } => b.execute_with_price(locate, order_ref, shares, price, ts, sink),
        Ev::Cancel {
            locate,
            order_ref,
            shares,
        } => b.cancel(locate, order_ref, shares, ts, sink),
        Ev::Delete { locate, order_ref } => b.delete(locate, order_ref, ts, sink),
        Ev::Replace {
            locate,
            old_ref,
            new_ref,
            shares,
            price,
        } => b.replace(locate, old_ref, new_ref, shares, price, ts, sink),
        Ev::Trade {
            locate,
            order_ref,
            side,
            shares,
            price,
        } => b.trade(locate, order_ref, side, shares, price, ts, sink),
        Ev::Directory { locate, symbol } => b.stock_directory(locate, symbol),
        Ev::TradingAction { locate, state } => b.trading_action(locate, state, ts, sink),
        Ev::System { code } => b.system_event(code, ts),
    }
}

/// Drives the reference book with one event.
pub fn apply_ref(r: &mut RefBook, ev: &Ev) {
    match *ev {
        Ev::Add {
            locate,
            order_ref,
            side,
            shares,
            price,
        } => r.add(locate, order_ref, side, shares, price),
        Ev::Exec {
            locate,
            order_ref,
            shares,
        } => r.execute(locate, order_ref, shares),
        Ev::ExecPrice {
            locate,
            order_ref,
            shares,
            price,
        } => r.execute_with_price(locate, order_ref, shares, price),
        Ev::Cancel {
            locate,
            order_ref,
            shares,
        } => r.cancel(locate, order_ref, shares),
        Ev::Delete { locate, order_ref } => r.delete(locate, order_ref),
        Ev::Replace {
            locate,
            old_ref,
            new_ref,
            shares,
            price,
        } => r.replace(locate, old_ref, new_ref, shares, price),
        Ev::Trade {
            locate,
            order_ref,
            side,
            shares,
            price,
        } => r.trade(locate, order_ref, side, shares, price),
        Ev::Directory { locate, symbol } => r.stock_directory(locate, symbol),
        Ev::TradingAction { locate, state } => r.trading_action(locate, state),
        Ev::System { code } => r.system_event(code),
    }
}

/// Records everything (allocates: not for the no-allocation test).
#[derive(Debug, Default)]
pub struct Recorder {
    pub levels: Vec<LevelUpdate>,
    pub bbos: Vec<BboUpdate>,
    pub trades: Vec<Trade>,
    pub states: Vec<(u16, u8)>,
}

impl Recorder {
    pub fn clear(&mut self) {
        self.levels.clear();
        self.bbos.clear();
        self.trades.clear();
        self.states.clear();
    }
}

impl BookSink for Recorder {
    fn level(&mut self, u: &LevelUpdate) {
        self.levels.push(*u);
    }
    fn bbo(&mut self, u: &BboUpdate) {
        self.bbos.push(*u);
    }
    fn trade(&mut self, t: &Trade) {
        self.trades.push(*t);
    }
    fn trading_state(&mut self, locate: u16, state: u8, _ts: u64) {
        self.states.push((locate, state));
    }
}

/// Asserts that one locate's books agree: BBO, full depth of both sides, every
/// level's order queue (time priority), crossed state, symbol and trading state.
pub fn assert_locate_eq(b: &Books, r: &RefBook, locate: u16, ctx: &dyn std::fmt::Display) {
    assert_eq!(
        b.bbo(locate),
        r.bbo(locate),
        "{ctx}: bbo of locate {locate}"
    );
    for side in [Side::Buy, Side::Sell] {
        let got: Vec<_> = b.depth(locate, side).collect();
        let want = r.depth(locate, side);
        assert_eq!(got, want, "{ctx}: depth of locate {locate} {side:?}");
        assert_eq!(b.level_count(locate, side), want.len());
        for l in &want {
            let got: Vec<_> = b.orders_at_level(locate, side, l.price).collect();
            let want = r.orders_at_level(locate, side, l.price);
            assert_eq!(
                got, want,
                "{ctx}: queue of locate {locate} {side:?} at {}",
                l.price
            );
        }
    }
    assert_eq!(
        b.crossed(locate),
        r.crossed(locate),
        "{ctx}: crossed of locate {locate}"
    );
    assert_eq!(
        b.symbol(locate),
        r.symbol(locate),
        "{ctx}: symbol of locate {locate}"
    );
    assert_eq!(
        b.trading_state(locate),
        r.trading_state(locate),
        "{ctx}: state of {locate}"
    );
    assert_eq!(b.halted(locate), r.halted(locate));
}

/// Asserts that the whole state agrees: every locate below `max_locates`, the active
/// locate sets, every live order, and the counters.
pub fn assert_books_eq(b: &Books, r: &RefBook, ctx: &dyn std::fmt::Display) {
    assert_eq!(b.stats().semantic(), r.stats(), "{ctx}: stats");
    let active: Vec<u16> = b.active_locates().collect();
    assert_eq!(active, r.active_locates(), "{ctx}: active locates");
    for locate in 0..r.max_locates.min(65536) {
        assert_locate_eq(b, r, locate as u16, ctx);
    }
    for (&order_ref, _) in r.orders.iter() {
        assert_eq!(
            b.order(order_ref),
            r.order(order_ref),
            "{ctx}: order {order_ref}"
        );
    }
    assert_eq!(b.last_system_event(), r.last_system_event);
}

/// A lazily formatted assertion context: `name event i ev`.
pub struct Ctx<'a>(pub &'a str, pub usize, pub &'a Ev);

impl std::fmt::Display for Ctx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} event {} {:?}", self.0, self.1, self.2)
    }
}
