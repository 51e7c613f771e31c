//! hotpath-book: L3 order books for every stock locate.
//!
//! [`Books`] holds the order book of every ITCH stock locate (`u16`), fed by decoded
//! ITCH 5.0 events as plain values: [`Books::add`] (A, F), [`Books::execute`] (E),
//! [`Books::execute_with_price`] (C), [`Books::cancel`] (X), [`Books::delete`] (D),
//! [`Books::replace`] (U), [`Books::trade`] (P), [`Books::stock_directory`] (R),
//! [`Books::trading_action`] (H) and [`Books::system_event`] (S). Each book-changing
//! event reports through a [`BookSink`] (levels, BBO, trades; [`NullSink`] ignores
//! all of it at no cost). Prices are `u32` with 4 implied decimals; `ts` is ITCH
//! nanoseconds since midnight.
//!
//! # Memory
//! [`Books::new`] allocates and touches everything (the default [`BookConfig`] holds
//! about 226 MiB: a 4 Mi-slot order table of 128 MiB, a 4 Mi-level pool of 96 MiB and
//! 2 MiB of per-locate state). After it returns no method allocates. A capacity that
//! runs out is counted ([`BookStats::orders_dropped_table_full`],
//! [`BookStats::levels_exhausted`]) and the order is dropped; nothing panics.
//!
//! # Design
//! - Orders live in an open-addressing table keyed by the 64-bit reference, at slots
//!   that never move (32 bytes: reference, shares, price, queue links, locate, side).
//!   The hash is almost the identity, so the increasing references of a day fill
//!   consecutive slots; a per-home membership bitmap finds an order (or proves a
//!   reference unknown) by reading one cache line in the common case.
//! - A price level's orders form a doubly linked list through the slots (indices),
//!   in time priority: appended on add, unlinked on delete or full execution, left in
//!   place by a partial execution or cancel.
//! - Each book side keeps its levels in one sorted block of a pre-allocated pool,
//!   best level last, searched from the end: the best few levels, where most updates
//!   land, are found in a cache line or two.
//!
//! # Anomalies
//! Counted in [`BookStats`], never fatal: unknown references (E, C, X, D, U; as after
//! a mid-day start), duplicate references on add, executions or cancels of more shares
//! than remain (clamped: the order goes), zero-share events, a locate that differs
//! from the order's, locates out of range, and crossed books (transitions into the
//! crossed state).
//!
//! # Latency
//! A lookup of an order whose slot is not in cache costs a memory miss (~250 ns on
//! big tables here); [`Books::prefetch`] lets the caller start those loads for the
//! next messages (a packet's worth) while it handles the current one.
#![forbid(unsafe_code)]

mod books;
mod config;
mod levels;
mod sink;
mod stats;
mod table;

pub use books::{Books, Depth, OrdersAtLevel};
pub use config::{BookConfig, ConfigError};
pub use sink::{BboUpdate, BookSink, LevelUpdate, NullSink, Trade, TradeKind};
pub use stats::BookStats;

/// The side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Side {
    /// A bid.
    Buy = 0,
    /// An offer.
    Sell = 1,
}

impl Side {
    /// ITCH's buy/sell indicator: `B` or `S`.
    pub fn from_itch(b: u8) -> Option<Side> {
        match b {
            b'B' => Some(Side::Buy),
            b'S' => Some(Side::Sell),
            _ => None,
        }
    }

    /// The ITCH byte for this side.
    pub fn to_itch(self) -> u8 {
        match self {
            Side::Buy => b'B',
            Side::Sell => b'S',
        }
    }
}

/// One price level's aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Level {
    /// Price, 4 implied decimals.
    pub price: u32,
    /// Total shares of the level's orders.
    pub shares: u64,
    /// Number of orders at the level.
    pub orders: u32,
}

/// Best bid and offer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Bbo {
    pub bid: Option<Level>,
    pub ask: Option<Level>,
}

/// A live order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Order {
    pub order_ref: u64,
    pub locate: u16,
    pub side: Side,
    pub shares: u32,
    pub price: u32,
}
