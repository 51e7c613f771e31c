//! What the books publish: level changes, BBO changes and trades.

use crate::{Bbo, Side};

/// A price level's new aggregates after an event. `orders == 0` (and `shares == 0`)
/// means the level is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelUpdate {
    pub locate: u16,
    pub side: Side,
    pub price: u32,
    pub shares: u64,
    pub orders: u32,
    pub ts: u64,
}

/// The best bid and offer of a locate after an event that changed either side's best
/// level (price, shares or order count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BboUpdate {
    pub locate: u16,
    pub bbo: Bbo,
    pub ts: u64,
}

/// Which message a [`Trade`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TradeKind {
    /// E: an execution at the resting order's price.
    Execution,
    /// C: an execution at the price in the message.
    ExecutionWithPrice,
    /// P: a trade against a non-displayed order; no book change.
    NonCross,
}

/// A trade to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    pub locate: u16,
    pub order_ref: u64,
    /// The resting order's side (E, C) or the message's (P).
    pub side: Side,
    /// Shares as the message says (even when more than the book had left).
    pub shares: u32,
    /// The print price: the resting order's price (E) or the message's (C, P).
    pub price: u32,
    pub kind: TradeKind,
    pub ts: u64,
}

/// Receives the books' changes as they happen. Every method defaults to a no-op, and
/// the `WANTS_*` constants let the books skip even building an argument nobody reads:
/// a sink that ignores something costs nothing for it.
///
/// Per event, the calls come in this order: the trade (E, C, P), then each changed
/// level once with its final aggregates (a replace can change two), then at most one
/// [`BookSink::bbo`], only if the BBO's price, shares or order count changed.
pub trait BookSink {
    /// Whether [`BookSink::level`] is wanted.
    const WANTS_LEVELS: bool = true;
    /// Whether [`BookSink::bbo`] is wanted.
    const WANTS_BBO: bool = true;
    /// Whether [`BookSink::trade`] is wanted.
    const WANTS_TRADES: bool = true;

    /// A price level changed.
    #[inline(always)]
    fn level(&mut self, _update: &LevelUpdate) {}

    /// The BBO changed.
    #[inline(always)]
    fn bbo(&mut self, _update: &BboUpdate) {}

    /// An execution (E, C) or a non-cross trade (P).
    #[inline(always)]
    fn trade(&mut self, _trade: &Trade) {}

    /// A trading action (H) set a locate's state.
    #[inline(always)]
    fn trading_state(&mut self, _locate: u16, _state: u8, _ts: u64) {}
}

/// Ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl BookSink for NullSink {
    const WANTS_LEVELS: bool = false;
    const WANTS_BBO: bool = false;
    const WANTS_TRADES: bool = false;
}

impl<S: BookSink + ?Sized> BookSink for &mut S {
    const WANTS_LEVELS: bool = S::WANTS_LEVELS;
    const WANTS_BBO: bool = S::WANTS_BBO;
    const WANTS_TRADES: bool = S::WANTS_TRADES;

    #[inline(always)]
    fn level(&mut self, update: &LevelUpdate) {
        (**self).level(update)
    }

    #[inline(always)]
    fn bbo(&mut self, update: &BboUpdate) {
        (**self).bbo(update)
    }

    #[inline(always)]
    fn trade(&mut self, trade: &Trade) {
        (**self).trade(trade)
    }

    #[inline(always)]
    fn trading_state(&mut self, locate: u16, state: u8, ts: u64) {
        (**self).trading_state(locate, state, ts)
    }
}
