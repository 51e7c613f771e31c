//! An obviously-correct reference book, for equivalence tests.
//!
//! Plain std collections, no capacity limits, no cleverness: orders in a `HashMap`,
//! each side a `BTreeMap` from price to a `VecDeque` of references in time priority,
//! level aggregates recomputed from the orders whenever asked. Its methods mirror
//! `hotpath_book::Books` (same names, same arguments minus the sink and timestamps)
//! and follow the anomaly rules documented on `hotpath_book::BookStats`, so a test can
//! drive both with one stream and compare every query and the counters
//! (`BookStats::semantic`). It does not model capacity limits: give the `Books` under
//! test enough room (no `orders_dropped_table_full`, no `levels_exhausted`).
//!
//! Reusable: include it with `#[path = ".../common/reference.rs"] mod reference;`; it
//! needs only `hotpath_book`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};

use hotpath_book::{Bbo, BookStats, Level, Order, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefOrder {
    pub locate: u16,
    pub side: Side,
    pub shares: u32,
    pub price: u32,
}

#[derive(Debug, Default, Clone)]
pub struct RefSides {
    pub bids: BTreeMap<u32, VecDeque<u64>>,
    pub asks: BTreeMap<u32, VecDeque<u64>>,
    pub crossed: bool,
}

impl RefSides {
    fn side(&self, side: Side) -> &BTreeMap<u32, VecDeque<u64>> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<u32, VecDeque<u64>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RefBook {
    pub max_locates: usize,
    pub orders: HashMap<u64, RefOrder>,
    pub books: BTreeMap<u16, RefSides>,
    pub symbols: HashMap<u16, [u8; 8]>,
    pub states: HashMap<u16, u8>,
    pub last_system_event: Option<u8>,
    /// Events and anomalies; the gauges are filled by `stats()`.
    counts: BookStats,
}

impl RefBook {
    pub fn new(max_locates: usize) -> RefBook {
        RefBook {
            max_locates,
            orders: HashMap::new(),
            books: BTreeMap::new(),
            symbols: HashMap::new(),
            states: HashMap::new(),
            last_system_event: None,
            counts: BookStats::default(),
        }
    }

    // ------------------------------------------------------------ events

    pub fn add(&mut self, locate: u16, order_ref: u64, side: Side, shares: u32, price: u32) {
        self.counts.adds += 1;
        if locate as usize >= self.max_locates {
            self.counts.locate_out_of_range += 1;
            return;
        }
        self.insert(locate, order_ref, side, shares, price);
        self.update_crossed(locate);
    }

    pub fn execute(&mut self, locate: u16, order_ref: u64, shares: u32) {
        self.counts.executions += 1;
        self.take(locate, order_ref, shares, true);
    }

    pub fn execute_with_price(&mut self, locate: u16, order_ref: u64, shares: u32, _price: u32) {
        self.counts.executions_with_price += 1;
        self.take(locate, order_ref, shares, true);
    }

    pub fn cancel(&mut self, locate: u16, order_ref: u64, shares: u32) {
        self.counts.cancels += 1;
        self.take(locate, order_ref, shares, false);
    }

    pub fn delete(&mut self, locate: u16, order_ref: u64) {
        self.counts.deletes += 1;
        let Some(o) = self.known(locate, order_ref) else {
            return;
        };
        self.remove(order_ref);
        self.update_crossed(o.locate);
    }

    pub fn replace(&mut self, locate: u16, old_ref: u64, new_ref: u64, shares: u32, price: u32) {
        self.counts.replaces += 1;
        let Some(o) = self.known(locate, old_ref) else {
            return;
        };
        if shares == 0 {
            self.counts.zero_shares += 1;
            self.remove(old_ref);
        } else if new_ref != old_ref && self.orders.contains_key(&new_ref) {
            self.counts.duplicate_refs += 1;
            self.remove(old_ref);
        } else {
            self.remove(old_ref);
            self.insert(o.locate, new_ref, o.side, shares, price);
        }
        self.update_crossed(o.locate);
    }

    pub fn trade(&mut self, locate: u16, _order_ref: u64, _side: Side, _shares: u32, _price: u32) {
        self.counts.trades += 1;
        if locate as usize >= self.max_locates {
            self.counts.locate_out_of_range += 1;
        }
    }

    pub fn stock_directory(&mut self, locate: u16, symbol: [u8; 8]) {
        self.counts.directories += 1;
        if locate as usize >= self.max_locates {
            self.counts.locate_out_of_range += 1;
        } else {
            self.symbols.insert(locate, symbol);
        }
    }

    pub fn trading_action(&mut self, locate: u16, state: u8) {
        self.counts.trading_actions += 1;
        if locate as usize >= self.max_locates {
            self.counts.locate_out_of_range += 1;
        } else {
            self.states.insert(locate, state);
        }
    }

    pub fn system_event(&mut self, code: u8) {
        self.counts.system_events += 1;
        self.last_system_event = Some(code);
    }

    // ------------------------------------------------------------ queries

    pub fn stats(&self) -> BookStats {
        BookStats {
            live_orders: self.orders.len() as u64,
            live_levels: self
                .books
                .values()
                .map(|b| (b.bids.len() + b.asks.len()) as u64)
                .sum(),
            ..self.counts
        }
    }

    /// The locate an event on `order_ref` changes, if the order is live.
    pub fn locate_of(&self, order_ref: u64) -> Option<u16> {
        self.orders.get(&order_ref).map(|o| o.locate)
    }

    pub fn order(&self, order_ref: u64) -> Option<Order> {
        self.orders.get(&order_ref).map(|o| Order {
            order_ref,
            locate: o.locate,
            side: o.side,
            shares: o.shares,
            price: o.price,
        })
    }

    /// Levels of one side, best first.
    pub fn depth(&self, locate: u16, side: Side) -> Vec<Level> {
        let Some(b) = self.books.get(&locate) else {
            return Vec::new();
        };
        let levels = b.side(side);
        let make = |(&price, q): (&u32, &VecDeque<u64>)| Level {
            price,
            shares: q.iter().map(|r| self.orders[r].shares as u64).sum(),
            orders: q.len() as u32,
        };
        match side {
            Side::Buy => levels.iter().rev().map(make).collect(),
            Side::Sell => levels.iter().map(make).collect(),
        }
    }

    pub fn bbo(&self, locate: u16) -> Bbo {
        Bbo {
            bid: self.depth(locate, Side::Buy).first().copied(),
            ask: self.depth(locate, Side::Sell).first().copied(),
        }
    }

    /// `(order_ref, shares)` of a level's orders, oldest first.
    pub fn orders_at_level(&self, locate: u16, side: Side, price: u32) -> Vec<(u64, u32)> {
        self.books
            .get(&locate)
            .and_then(|b| b.side(side).get(&price))
            .map(|q| q.iter().map(|r| (*r, self.orders[r].shares)).collect())
            .unwrap_or_default()
    }

    pub fn crossed(&self, locate: u16) -> bool {
        self.books.get(&locate).is_some_and(|b| b.crossed)
    }

    pub fn symbol(&self, locate: u16) -> Option<[u8; 8]> {
        self.symbols.get(&locate).copied()
    }

    pub fn trading_state(&self, locate: u16) -> Option<u8> {
        self.states.get(&locate).copied().filter(|&s| s != 0)
    }

    pub fn halted(&self, locate: u16) -> bool {
        matches!(self.trading_state(locate), Some(b'H' | b'P'))
    }

    /// Locates with at least one level.
    pub fn active_locates(&self) -> Vec<u16> {
        self.books
            .iter()
            .filter(|(_, b)| !b.bids.is_empty() || !b.asks.is_empty())
            .map(|(l, _)| *l)
            .collect()
    }

    // ------------------------------------------------------------ internals

    /// A live order named by an E, C, X, D or U, counting unknown references and
    /// locate mismatches.
    fn known(&mut self, locate: u16, order_ref: u64) -> Option<RefOrder> {
        match self.orders.get(&order_ref) {
            None => {
                self.counts.unknown_refs += 1;
                None
            }
            Some(o) => {
                if o.locate != locate {
                    self.counts.locate_mismatches += 1;
                }
                Some(*o)
            }
        }
    }

    /// E, C (execution) or X (cancel): take shares off, clamped; gone at zero.
    fn take(&mut self, locate: u16, order_ref: u64, shares: u32, execution: bool) {
        let Some(o) = self.known(locate, order_ref) else {
            return;
        };
        if shares == 0 {
            self.counts.zero_shares += 1;
            return;
        }
        if shares > o.shares {
            if execution {
                self.counts.executions_clamped += 1;
            } else {
                self.counts.cancels_clamped += 1;
            }
        }
        if shares >= o.shares {
            self.remove(order_ref);
        } else {
            self.orders.get_mut(&order_ref).unwrap().shares -= shares;
        }
        self.update_crossed(o.locate);
    }

    fn insert(&mut self, locate: u16, order_ref: u64, side: Side, shares: u32, price: u32) {
        if shares == 0 {
            self.counts.zero_shares += 1;
            return;
        }
        if self.orders.contains_key(&order_ref) {
            self.counts.duplicate_refs += 1;
            return;
        }
        self.orders.insert(
            order_ref,
            RefOrder {
                locate,
                side,
                shares,
                price,
            },
        );
        self.books
            .entry(locate)
            .or_default()
            .side_mut(side)
            .entry(price)
            .or_default()
            .push_back(order_ref);
    }

    fn remove(&mut self, order_ref: u64) {
        let o = self.orders.remove(&order_ref).expect("live order");
        let levels = self.books.get_mut(&o.locate).unwrap().side_mut(o.side);
        let q = levels.get_mut(&o.price).unwrap();
        let i = q.iter().position(|&r| r == order_ref).unwrap();
        q.remove(i);
        if q.is_empty() {
            levels.remove(&o.price);
        }
    }

    fn update_crossed(&mut self, locate: u16) {
        let Some(b) = self.books.get_mut(&locate) else {
            return;
        };
        let now = match (b.bids.keys().next_back(), b.asks.keys().next()) {
            (Some(bid), Some(ask)) => bid >= ask,
            _ => false,
        };
        if now && !b.crossed {
            self.counts.crossed += 1;
        }
        b.crossed = now;
    }
}
