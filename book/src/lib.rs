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
//! [`Books::new`] allocates and touches everything; after it returns no method
//! allocates. The default [`BookConfig`] holds 320 MiB: an order table of 8 Mi slots
//! (256 MiB, for 4 Mi live orders at under half load), a level pool of 2 Mi levels
//! (48 MiB) and a 256-byte record for each of the 65,536 locates (16 MiB). A capacity
//! that runs out is counted ([`BookStats::orders_dropped_table_full`],
//! [`BookStats::levels_exhausted`]) and the order is dropped; nothing panics.
//!
//! # Design
//! - Orders live in an open-addressing table keyed by the 64-bit reference, at slots
//!   that never move (32 bytes: reference, shares, price, queue links, locate, side).
//!   References are placed in runs of 8 consecutive slots (one 256-byte block per
//!   run, the run scrambled to pick the block), so the increasing references of a day
//!   fill slots two to a line, and a run squeezes past few survivors of earlier laps;
//!   a per-home membership bitmap finds an order (or proves a reference unknown) by
//!   reading one cache line in the common case. See `table.rs`.
//! - A price level's orders form a doubly linked list through the slots (indices),
//!   in time priority: appended on add, unlinked on delete or full execution, left in
//!   place by a partial execution or cancel.
//! - Each locate has a 256-byte record holding the best four levels of each side
//!   (aggregates and queue ends), rank `k` of both sides in cache line `k`: line 0
//!   has both best levels and where the deeper levels are. Levels beyond the best four
//!   sit in one sorted block per side in a pre-allocated pool, best last, searched
//!   from the end. Half of all updates touch a best level and 92% one of the best
//!   three, so most events need the order's slot and one or two lines of its record.
//!
//! # Anomalies
//! Counted in [`BookStats`], never fatal: unknown references (E, C, X, D, U; as after
//! a mid-day start), duplicate references on add, executions or cancels of more shares
//! than remain (clamped: the order goes), zero-share events, a locate that differs
//! from the order's, locates out of range, and crossed books (transitions into the
//! crossed state). The exact rules are on the fields of [`BookStats`].
//!
//! # Latency
//! The cost is memory misses: an order's slot, its queue neighbours, a rarely used
//! locate's record. Two things help a lot on these machines:
//! - Huge pages for the large allocations (with 4 KiB pages nearly every cold access
//!   is also a TLB miss): run with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, or have
//!   the host layer advise [`Books::memory_regions`].
//! - [`Books::prefetch`] and [`Books::prefetch_locate`] for a packet's worth of
//!   messages before handling them (or a few messages ahead), so their misses
//!   overlap instead of queueing.
#![forbid(unsafe_code)]

mod books;
mod config;
mod levels;
mod sink;
mod stats;
mod table;

pub use books::{Books, Depth, OrdersAtLevel, Prefetched};
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
