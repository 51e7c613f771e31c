//! [`Books`]: every locate's L3 book, the order table and the level pool.

use std::hint::select_unpredictable;

use crate::levels::{search, LevelPool, LevelSlot, MIN_CLASS};
use crate::sink::{BboUpdate, BookSink, LevelUpdate, Trade, TradeKind};
use crate::table::{Claim, OrderTable, Slot, NIL};
use crate::{Bbo, BookConfig, BookStats, ConfigError, Level, Order, Side};

/// One side's levels beyond the best four: a block of the level pool, sorted by key
/// ascending, so its last element is the side's fifth-best level.
#[derive(Debug, Clone, Copy, Default)]
struct PoolSide {
    start: u32,
    len: u32,
}

/// Levels of each side kept in the locate's record (the best `INLINE`); deeper
/// ones go to the pool.
const INLINE: usize = 4;

/// Everything about one locate, in four cache lines (128-byte aligned, so the
/// adjacent-line prefetcher brings them in pairs). The best `INLINE` levels of both
/// sides come first, rank by rank (`ranks[k][side]`, 48 bytes a rank): an array, so
/// that reaching rank `k` is an address computation, not a branch on `k` (a `match`
/// on the rank mispredicted about once in seven events). Then where the deeper levels
/// are, and the locate's state.
///
/// Levels of a side, best first: `ranks[0][s]` .. `ranks[INLINE - 1][s]`, then the
/// pool block from its end. A level slot with `orders == 0` is empty, and levels fill
/// in that order. An empty rank is `LevelSlot::EMPTY`, key 0 (`find_level` relies
/// on it).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(128))]
struct Rec {
    ranks: [[LevelSlot; 2]; INLINE],
    pool: [PoolSide; 2],
    /// Pool block size class per side (0: no block yet).
    class: [u8; 2],
    crossed: bool,
    trading_state: u8,
    has_symbol: bool,
    symbol: [u8; 8],
}

const _: () = assert!(std::mem::size_of::<Rec>() == 256);
const _: () = assert!(std::mem::offset_of!(Rec, pool) == 192);

impl Rec {
    const EMPTY: Rec = Rec {
        ranks: [[LevelSlot::EMPTY; 2]; INLINE],
        pool: [PoolSide { start: 0, len: 0 }; 2],
        class: [0; 2],
        crossed: false,
        trading_state: 0,
        has_symbol: false,
        symbol: [b' '; 8],
    };

    #[inline(always)]
    fn rank(&self, k: usize) -> &[LevelSlot; 2] {
        &self.ranks[k % INLINE]
    }

    #[inline(always)]
    fn rank_mut(&mut self, k: usize) -> &mut [LevelSlot; 2] {
        &mut self.ranks[k % INLINE]
    }
}

pub(crate) const REC_BYTES: usize = std::mem::size_of::<Rec>();

/// Where a level of a side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Rank in the record (0: the best level).
    Inline(usize),
    /// Position in the side's pool block.
    Pool(usize),
}

const TOP_LEVEL: Where = Where::Inline(0);

/// What an internal step changed, for the end of the event.
type Touched = u8;
/// The best level of a side changed (aggregates or price): publish the BBO.
const TOP: Touched = 1;
/// The best price of a side changed: the book may have crossed or uncrossed.
const TOP_PRICE: Touched = 2;

/// A level's sort key: the price for bids, its complement for asks, so that on both
/// sides the best level has the highest key.
#[inline(always)]
fn key_of(side: Side, price: u32) -> u32 {
    price ^ 0u32.wrapping_sub(side as u32)
}

#[inline(always)]
fn price_of(side: Side, key: u32) -> u32 {
    key ^ 0u32.wrapping_sub(side as u32)
}

#[inline(always)]
fn level_mut<'a>(
    recs: &'a mut [Rec],
    pool: &'a mut [LevelSlot],
    loc: usize,
    s: usize,
    w: Where,
) -> &'a mut LevelSlot {
    match w {
        Where::Inline(k) => &mut recs[loc].rank_mut(k)[s],
        Where::Pool(p) => &mut pool[recs[loc].pool[s].start as usize + p],
    }
}

/// Takes slot `i` out of its level's queue. Without a branch on whether it had an
/// older or a younger neighbour: a missing one (NIL, above every slot index) is
/// clamped to the table's scratch slot, which takes the store, and the level's head
/// or tail is chosen by a conditional move. (Whether a removed order was its level's
/// youngest is data; as a branch it was mispredicted nearly every other delete in
/// valgrind's branch simulation of a replay.)
#[inline(always)]
fn unlink(table: &mut OrderTable, i: u32, lvl: &mut LevelSlot) {
    let scratch = table.scratch();
    let slots = &mut table.slots;
    let (p, n) = {
        let s = &slots[i as usize];
        (s.prev, s.next)
    };
    slots[(p as usize).min(scratch)].next = n;
    slots[(n as usize).min(scratch)].prev = p;
    // A select marked unpredictable: the compiler turns a plain one, or the same
    // under a mask, back into a branch.
    lvl.head = select_unpredictable(p == NIL, n, lvl.head);
    lvl.tail = select_unpredictable(n == NIL, p, lvl.tail);
}

#[inline(always)]
fn link_tail(slots: &mut [Slot], i: u32, lvl: &mut LevelSlot) {
    let t = lvl.tail;
    {
        let s = &mut slots[i as usize];
        s.prev = t;
        s.next = NIL;
    }
    if t != NIL {
        slots[t as usize].next = i;
    } else {
        lvl.head = i;
    }
    lvl.tail = i;
}

/// What [`Books::prefetch`] touched (the order's home slot in the table), for the
/// second stage, [`Books::prefetch_neighbours`], without hashing the reference again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefetched(usize);

impl Prefetched {
    /// Nothing prefetched (home slot 0, harmless to look at).
    pub const NONE: Prefetched = Prefetched(0);
}

/// L3 order books for every stock locate, built from ITCH-style events.
///
/// Everything is allocated in [`Books::new`]; no method allocates afterwards. See the
/// crate docs for the design and the anomaly rules.
pub struct Books {
    table: OrderTable,
    pool: LevelPool,
    recs: Vec<Rec>,
    stats: BookStats,
    cfg: BookConfig,
    last_system_event: Option<u8>,
}

/// A copy of the whole state. `clone` allocates; `clone_from` into books of the same
/// config only copies (a snapshot for a replay, a test, a benchmark).
impl Clone for Books {
    fn clone(&self) -> Books {
        Books {
            table: self.table.clone(),
            pool: self.pool.clone(),
            recs: self.recs.clone(),
            stats: self.stats,
            cfg: self.cfg,
            last_system_event: self.last_system_event,
        }
    }

    fn clone_from(&mut self, source: &Books) {
        self.table.clone_from(&source.table);
        self.pool.clone_from(&source.pool);
        self.recs.clone_from(&source.recs);
        self.stats = source.stats;
        self.cfg = source.cfg;
        self.last_system_event = source.last_system_event;
    }
}

impl std::fmt::Debug for Books {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Books")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Books {
    /// Allocates (and touches, so no page faults later) everything for `cfg`.
    ///
    /// # Panics
    /// On a config that [`BookConfig::validate`] refuses; see [`Books::try_new`].
    pub fn new(cfg: BookConfig) -> Books {
        Books::try_new(cfg).unwrap_or_else(|e| panic!("invalid BookConfig: {e}"))
    }

    /// [`Books::new`], with a bad config as an error.
    pub fn try_new(cfg: BookConfig) -> Result<Books, ConfigError> {
        cfg.validate()?;
        Ok(Books {
            table: OrderTable::new(cfg.order_capacity, cfg.max_probe),
            pool: LevelPool::new(cfg.max_levels),
            recs: hotpath_hw::mem::huge_vec(cfg.max_locates, Rec::EMPTY),
            stats: BookStats::default(),
            cfg,
            last_system_event: None,
        })
    }

    /// The config it was built with.
    pub fn config(&self) -> &BookConfig {
        &self.cfg
    }

    /// Empties every book, the order table and the counters, without allocating (for
    /// a new day, or a resynchronisation). Touches all the memory: tens of ms.
    pub fn reset(&mut self) {
        self.table.reset();
        self.pool.reset();
        self.recs.fill(Rec::EMPTY);
        self.stats = BookStats::default();
        self.last_system_event = None;
    }

    /// Bytes held: the order table, the level pool and the per-locate records.
    pub fn memory_bytes(&self) -> usize {
        self.table.slots.len() * crate::table::SLOT_BYTES
            + self.pool.lv.len() * crate::levels::LEVEL_BYTES
            + self.recs.len() * REC_BYTES
    }

    /// The three large allocations (order table, level pool, locate records) as
    /// `(address, bytes)`, for the host layer to back with huge pages
    /// (`madvise(MADV_HUGEPAGE)`, then `MADV_COLLAPSE` since they are already
    /// touched): with 4 KiB pages nearly every cold access is also a TLB miss. This
    /// crate cannot do it itself (no `unsafe`). Without code, glibc does it for every
    /// large allocation when run with `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`.
    pub fn memory_regions(&self) -> [(usize, usize); 3] {
        [
            (
                self.table.slots.as_ptr() as usize,
                self.table.slots.len() * crate::table::SLOT_BYTES,
            ),
            (
                self.pool.lv.as_ptr() as usize,
                self.pool.lv.len() * crate::levels::LEVEL_BYTES,
            ),
            (self.recs.as_ptr() as usize, self.recs.len() * REC_BYTES),
        ]
    }

    /// The counters, with the gauges filled in.
    pub fn stats(&self) -> BookStats {
        BookStats {
            live_orders: self.table.live,
            level_slots_in_use: self.pool.in_blocks,
            far_placements: self.table.far_placements,
            max_probe_seen: self.table.max_disp as u64,
            ..self.stats
        }
    }

    /// Touches the order table where `order_ref` lives, so that handling its message
    /// soon after finds the line in cache. Call it for the next message(s) while
    /// handling the current one, or for a whole packet's worth before handling any:
    /// the loads overlap instead of queueing. (A prefetch instruction, through hotpath-hw.)
    /// The answer is for [`Books::prefetch_neighbours`]; it can be ignored.
    #[inline(always)]
    pub fn prefetch(&self, order_ref: u64) -> Prefetched {
        Prefetched(self.table.touch(order_ref))
    }

    /// The second stage of [`Books::prefetch`], a few messages later: looks at the
    /// order's slot (now in cache) and starts loading its neighbours in the level's
    /// queue, which a delete or full execution touches to unlink them.
    ///
    /// With `wanted` false it starts no new load (it reads the home slot only), so a
    /// caller can run it for every message and pass the type test as data rather than
    /// branch on it.
    #[inline(always)]
    pub fn prefetch_neighbours(&self, first: Prefetched, wanted: bool) {
        self.table.touch_neighbours(first.0, wanted);
    }

    /// Touches a locate's book record (best levels), like [`Books::prefetch`].
    #[inline(always)]
    pub fn prefetch_locate(&self, locate: u16) {
        if let Some(r) = self.recs.get(locate as usize) {
            // Lines 0 (rank 0) and 2 (rank 3 starts at 144); the adjacent-line
            // prefetcher brings 1 and 3.
            hotpath_hw::mem::prefetch(&r.ranks[0]);
            hotpath_hw::mem::prefetch(&r.ranks[3]);
        }
    }

    // ------------------------------------------------------------------ events

    /// A or F: a new order at the back of its price level's queue.
    #[allow(clippy::too_many_arguments)]
    // Out of line on purpose: inlined into a replay loop it once cost 22 more
    // instructions per message there (register pressure; callgrind, see
    // docs/PERFORMANCE.md). With `delete` inlined it saves 2, but paired timings were
    // within 2 ns either way (five pairings), so it stays a call.
    #[inline(never)]
    pub fn add<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        price: u32,
        ts: u64,
        sink: &mut S,
    ) {
        self.stats.adds += 1;
        if locate as usize >= self.recs.len() {
            self.stats.locate_out_of_range += 1;
            return;
        }
        let t = self.insert_order(locate, order_ref, side, shares, price, ts, sink);
        self.finish(locate as usize, t, ts, sink);
    }

    /// E: `shares` of the order executed at its price.
    #[inline]
    pub fn execute<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        shares: u32,
        ts: u64,
        sink: &mut S,
    ) {
        self.stats.executions += 1;
        self.execute_inner(locate, order_ref, shares, None, ts, sink);
    }

    /// C: `shares` of the order executed at `price` (the print price, for the trade
    /// report; the book changes as for E).
    #[inline]
    pub fn execute_with_price<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        shares: u32,
        price: u32,
        ts: u64,
        sink: &mut S,
    ) {
        self.stats.executions_with_price += 1;
        self.execute_inner(locate, order_ref, shares, Some(price), ts, sink);
    }

    /// X: `shares` of the order cancelled; it keeps its place in the queue.
    #[inline]
    pub fn cancel<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        shares: u32,
        ts: u64,
        sink: &mut S,
    ) {
        self.stats.cancels += 1;
        let Some(i) = self.lookup(locate, order_ref) else {
            return;
        };
        let o = self.table.slots[i as usize];
        if shares == 0 {
            self.stats.zero_shares += 1;
            return;
        }
        let t = if shares >= o.shares {
            if shares > o.shares {
                self.stats.cancels_clamped += 1;
            }
            self.remove_order(i, ts, sink)
        } else {
            self.reduce_order(i, shares, ts, sink)
        };
        self.finish(o.locate as usize, t, ts, sink);
    }

    /// D: the order is gone.
    // Always inlined: left to the compiler it stayed a call, whose prologue and
    // epilogue (six registers saved and restored) cost 7.6 instructions a message in
    // a replay, 39% of whose messages are deletes. Inlined, replays ran 1.5 ns a
    // message faster on a day whose orders stay in cache and 1.8-2.3 ns faster on the
    // 50 M-message day (paired medians of 10 rounds). `add` stays out of line (see
    // there).
    #[inline(always)]
    pub fn delete<S: BookSink>(&mut self, locate: u16, order_ref: u64, ts: u64, sink: &mut S) {
        self.stats.deletes += 1;
        let Some(i) = self.lookup(locate, order_ref) else {
            return;
        };
        let loc = self.table.slots[i as usize].locate as usize;
        let t = self.remove_order(i, ts, sink);
        self.finish(loc, t, ts, sink);
    }

    /// U: the old order is removed and a new one, same side, goes to the back of the
    /// queue at `price`. At an unchanged price the level stays (one level update,
    /// none at all if the shares are unchanged too).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn replace<S: BookSink>(
        &mut self,
        locate: u16,
        old_ref: u64,
        new_ref: u64,
        shares: u32,
        price: u32,
        ts: u64,
        sink: &mut S,
    ) {
        self.stats.replaces += 1;
        let Some(old) = self.lookup(locate, old_ref) else {
            return;
        };
        let o = self.table.slots[old as usize];
        let ok = if shares == 0 {
            self.stats.zero_shares += 1;
            false
        } else if new_ref != old_ref && self.table.find(new_ref).is_some() {
            self.stats.duplicate_refs += 1;
            false
        } else {
            true
        };
        let t = if !ok {
            self.remove_order(old, ts, sink)
        } else if price == o.price {
            self.requeue(old, new_ref, shares, ts, sink)
        } else {
            let t = self.remove_order(old, ts, sink);
            t | match self.table.claim(new_ref) {
                Some(i) => self.place_claimed(i, o.locate, o.side(), shares, price, ts, sink),
                None => {
                    self.stats.orders_dropped_table_full += 1;
                    0
                }
            }
        };
        self.finish(o.locate as usize, t, ts, sink);
    }

    /// P: a trade against a non-displayed order. No book change; reported.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn trade<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        price: u32,
        ts: u64,
        sink: &mut S,
    ) {
        self.stats.trades += 1;
        if locate as usize >= self.recs.len() {
            self.stats.locate_out_of_range += 1;
            return;
        }
        if S::WANTS_TRADES {
            sink.trade(&Trade {
                locate,
                order_ref,
                side,
                shares,
                price,
                kind: TradeKind::NonCross,
                ts,
            });
        }
    }

    /// R: the locate's symbol (8 bytes, space padded as in ITCH).
    pub fn stock_directory(&mut self, locate: u16, symbol: [u8; 8]) {
        self.stats.directories += 1;
        match self.recs.get_mut(locate as usize) {
            Some(r) => {
                r.symbol = symbol;
                r.has_symbol = true;
            }
            None => self.stats.locate_out_of_range += 1,
        }
    }

    /// H: the locate's trading state (`H` halted, `P` paused, `Q` quotation only,
    /// `T` trading). The book keeps taking orders whatever the state, as ITCH does.
    pub fn trading_action<S: BookSink>(&mut self, locate: u16, state: u8, ts: u64, sink: &mut S) {
        self.stats.trading_actions += 1;
        match self.recs.get_mut(locate as usize) {
            Some(r) => {
                r.trading_state = state;
                sink.trading_state(locate, state, ts);
            }
            None => self.stats.locate_out_of_range += 1,
        }
    }

    /// S: remembered (see [`Books::last_system_event`]); no book change.
    pub fn system_event(&mut self, code: u8, _ts: u64) {
        self.stats.system_events += 1;
        self.last_system_event = Some(code);
    }

    // ------------------------------------------------------------------ queries

    /// Best bid and offer (empty for an unknown locate).
    pub fn bbo(&self, locate: u16) -> Bbo {
        if (locate as usize) < self.recs.len() {
            self.bbo_at(locate as usize)
        } else {
            Bbo::default()
        }
    }

    /// The levels of one side, best first.
    pub fn depth(&self, locate: u16, side: Side) -> Depth<'_> {
        let s = side as usize;
        match self.recs.get(locate as usize) {
            Some(r) => {
                let ps = r.pool[s];
                Depth {
                    inline: r.ranks.map(|k| k[s]),
                    next_inline: 0,
                    pool: &self.pool.lv[ps.start as usize..(ps.start + ps.len) as usize],
                    side,
                }
            }
            None => Depth {
                inline: [LevelSlot::EMPTY; INLINE],
                next_inline: INLINE,
                pool: &[],
                side,
            },
        }
    }

    /// Appends the best `n` levels of one side to `out`.
    pub fn depth_into(&self, locate: u16, side: Side, n: usize, out: &mut impl Extend<Level>) {
        out.extend(self.depth(locate, side).take(n));
    }

    /// How many levels one side has.
    pub fn level_count(&self, locate: u16, side: Side) -> usize {
        self.depth(locate, side).len()
    }

    /// The orders of one level, in time priority (oldest first): `(order_ref, shares)`.
    /// Empty if there is no such level.
    pub fn orders_at_level(&self, locate: u16, side: Side, price: u32) -> OrdersAtLevel<'_> {
        let s = side as usize;
        let loc = locate as usize;
        let head = if loc < self.recs.len() {
            match self.find_level(loc, s, key_of(side, price)) {
                Ok(w) => match w {
                    Where::Inline(k) => self.recs[loc].rank(k)[s].head,
                    Where::Pool(p) => self.pool.lv[self.recs[loc].pool[s].start as usize + p].head,
                },
                Err(_) => NIL,
            }
        } else {
            NIL
        };
        OrdersAtLevel {
            slots: &self.table.slots,
            cur: head,
        }
    }

    /// A live order.
    pub fn order(&self, order_ref: u64) -> Option<Order> {
        let s = &self.table.slots[self.table.find(order_ref)? as usize];
        Some(Order {
            order_ref,
            locate: s.locate,
            side: s.side(),
            shares: s.shares,
            price: s.price,
        })
    }

    /// The symbol from the stock directory (R), space padded.
    pub fn symbol(&self, locate: u16) -> Option<[u8; 8]> {
        self.recs
            .get(locate as usize)
            .filter(|r| r.has_symbol)
            .map(|r| r.symbol)
    }

    /// The last trading state (H) of a locate, if any.
    pub fn trading_state(&self, locate: u16) -> Option<u8> {
        self.recs
            .get(locate as usize)
            .map(|r| r.trading_state)
            .filter(|&s| s != 0)
    }

    /// Halted (`H`) or paused (`P`) by the last trading action.
    pub fn halted(&self, locate: u16) -> bool {
        matches!(self.trading_state(locate), Some(b'H' | b'P'))
    }

    /// Whether the locate's book is crossed (best bid >= best ask) right now.
    pub fn crossed(&self, locate: u16) -> bool {
        self.recs.get(locate as usize).is_some_and(|r| r.crossed)
    }

    /// The last system event code (S), if any.
    pub fn last_system_event(&self) -> Option<u8> {
        self.last_system_event
    }

    /// Locates whose book has at least one level, ascending.
    pub fn active_locates(&self) -> impl Iterator<Item = u16> + '_ {
        self.recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.ranks[0][0].orders + r.ranks[0][1].orders > 0)
            .map(|(i, _)| i as u16)
    }

    // ------------------------------------------------------------------ internals

    #[inline(always)]
    fn lookup(&mut self, locate: u16, order_ref: u64) -> Option<u32> {
        match self.table.find(order_ref) {
            None => {
                self.stats.unknown_refs += 1;
                None
            }
            Some(i) => {
                if self.table.slots[i as usize].locate != locate {
                    self.stats.locate_mismatches += 1;
                }
                Some(i)
            }
        }
    }

    #[inline(always)]
    fn execute_inner<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        shares: u32,
        price: Option<u32>,
        ts: u64,
        sink: &mut S,
    ) {
        let Some(i) = self.lookup(locate, order_ref) else {
            return;
        };
        let o = self.table.slots[i as usize];
        if shares == 0 {
            self.stats.zero_shares += 1;
            return;
        }
        if S::WANTS_TRADES {
            sink.trade(&Trade {
                locate: o.locate,
                order_ref,
                side: o.side(),
                shares,
                price: price.unwrap_or(o.price),
                kind: if price.is_some() {
                    TradeKind::ExecutionWithPrice
                } else {
                    TradeKind::Execution
                },
                ts,
            });
        }
        let t = if shares >= o.shares {
            if shares > o.shares {
                self.stats.executions_clamped += 1;
            }
            self.remove_order(i, ts, sink)
        } else {
            self.reduce_order(i, shares, ts, sink)
        };
        self.finish(o.locate as usize, t, ts, sink);
    }

    /// Checks an add (shares, duplicate) and places it.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn insert_order<S: BookSink>(
        &mut self,
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        price: u32,
        ts: u64,
        sink: &mut S,
    ) -> Touched {
        if shares == 0 {
            self.stats.zero_shares += 1;
            return 0;
        }
        match self.table.claim_new(order_ref) {
            Claim::Placed(i) => self.place_claimed(i, locate, side, shares, price, ts, sink),
            Claim::Duplicate => {
                self.stats.duplicate_refs += 1;
                0
            }
            Claim::Full => {
                self.stats.orders_dropped_table_full += 1;
                0
            }
        }
    }

    /// Fills in and queues an order whose slot `i` was just claimed.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn place_claimed<S: BookSink>(
        &mut self,
        i: u32,
        locate: u16,
        side: Side,
        shares: u32,
        price: u32,
        ts: u64,
        sink: &mut S,
    ) -> Touched {
        let loc = locate as usize;
        let s = side as usize;
        let key = key_of(side, price);
        let (w, t) = match self.find_level(loc, s, key) {
            Ok(w) => (w, if w == TOP_LEVEL { TOP } else { 0 }),
            Err(w) => {
                if !self.insert_level(loc, s, w, key) {
                    self.table.release(i);
                    self.stats.levels_exhausted += 1;
                    return 0;
                }
                (w, if w == TOP_LEVEL { TOP | TOP_PRICE } else { 0 })
            }
        };
        {
            let slot = &mut self.table.slots[i as usize];
            slot.shares = shares;
            slot.price = price;
            slot.locate = locate;
            slot.set_side(side);
        }
        let lvl = level_mut(&mut self.recs, &mut self.pool.lv, loc, s, w);
        link_tail(&mut self.table.slots, i, lvl);
        lvl.orders += 1;
        lvl.shares += shares as u64;
        let (orders, total) = (lvl.orders, lvl.shares);
        emit_level(sink, locate, side, key, total, orders, ts);
        t
    }

    /// Removes a live order: unlinks it, updates (or removes) its level, frees its slot.
    #[inline(always)]
    fn remove_order<S: BookSink>(&mut self, i: u32, ts: u64, sink: &mut S) -> Touched {
        let o = self.table.slots[i as usize];
        let (loc, side) = (o.locate as usize, o.side());
        let s = side as usize;
        let key = key_of(side, o.price);
        let Ok(w) = self.find_level(loc, s, key) else {
            debug_assert!(false, "a live order without its level");
            self.table.release(i);
            return 0;
        };
        let lvl = level_mut(&mut self.recs, &mut self.pool.lv, loc, s, w);
        unlink(&mut self.table, i, lvl);
        lvl.orders -= 1;
        lvl.shares -= o.shares as u64;
        let (orders, total) = (lvl.orders, lvl.shares);
        self.table.release(i);
        emit_level(sink, o.locate, side, key, total, orders, ts);
        if orders == 0 {
            self.remove_level(loc, s, w);
            if w == TOP_LEVEL {
                TOP | TOP_PRICE
            } else {
                0
            }
        } else if w == TOP_LEVEL {
            TOP
        } else {
            0
        }
    }

    /// Takes `by` (< the order's shares) off a live order; it keeps its place.
    #[inline(always)]
    fn reduce_order<S: BookSink>(&mut self, i: u32, by: u32, ts: u64, sink: &mut S) -> Touched {
        let o = self.table.slots[i as usize];
        let (loc, side) = (o.locate as usize, o.side());
        let s = side as usize;
        let key = key_of(side, o.price);
        let Ok(w) = self.find_level(loc, s, key) else {
            debug_assert!(false, "a live order without its level");
            return 0;
        };
        self.table.slots[i as usize].shares = o.shares - by;
        let lvl = level_mut(&mut self.recs, &mut self.pool.lv, loc, s, w);
        lvl.shares -= by as u64;
        let (orders, total) = (lvl.orders, lvl.shares);
        emit_level(sink, o.locate, side, key, total, orders, ts);
        if w == TOP_LEVEL {
            TOP
        } else {
            0
        }
    }

    /// U at an unchanged price: the old order leaves the queue, the new one joins its
    /// back, and the level stays.
    #[inline(always)]
    fn requeue<S: BookSink>(
        &mut self,
        old: u32,
        new_ref: u64,
        shares: u32,
        ts: u64,
        sink: &mut S,
    ) -> Touched {
        let o = self.table.slots[old as usize];
        let (loc, side) = (o.locate as usize, o.side());
        let s = side as usize;
        let key = key_of(side, o.price);
        let Ok(w) = self.find_level(loc, s, key) else {
            debug_assert!(false, "a live order without its level");
            self.table.release(old);
            return 0;
        };
        {
            let lvl = level_mut(&mut self.recs, &mut self.pool.lv, loc, s, w);
            unlink(&mut self.table, old, lvl);
        }
        self.table.release(old);
        let top = if w == TOP_LEVEL { TOP } else { 0 };
        match self.table.claim(new_ref) {
            Some(n) => {
                {
                    let slot = &mut self.table.slots[n as usize];
                    slot.shares = shares;
                    slot.price = o.price;
                    slot.locate = o.locate;
                    slot.set_side(side);
                }
                let lvl = level_mut(&mut self.recs, &mut self.pool.lv, loc, s, w);
                link_tail(&mut self.table.slots, n, lvl);
                if shares == o.shares {
                    return 0;
                }
                lvl.shares = lvl.shares - o.shares as u64 + shares as u64;
                let (orders, total) = (lvl.orders, lvl.shares);
                emit_level(sink, o.locate, side, key, total, orders, ts);
                top
            }
            None => {
                self.stats.orders_dropped_table_full += 1;
                let lvl = level_mut(&mut self.recs, &mut self.pool.lv, loc, s, w);
                lvl.orders -= 1;
                lvl.shares -= o.shares as u64;
                let (orders, total) = (lvl.orders, lvl.shares);
                emit_level(sink, o.locate, side, key, total, orders, ts);
                if orders == 0 {
                    self.remove_level(loc, s, w);
                    top | if top != 0 { TOP_PRICE } else { 0 }
                } else {
                    top
                }
            }
        }
    }

    /// Finds the level with `key` on side `s` of locate `loc`: `Ok(where it is)` or
    /// `Err(where it would go)`. The best `INLINE` levels are in the record; deeper
    /// ones are searched in the pool block from its end.
    #[inline(always)]
    fn find_level(&self, loc: usize, s: usize, key: u32) -> Result<Where, Where> {
        let r = &self.recs[loc];
        // The first rank not above `key` is where it is or belongs. An empty rank has
        // key 0 (`LevelSlot::EMPTY`), so it stops the scan too. Chosen with
        // conditional moves, not a branch per rank: which rank an event's level is at
        // is data, and a loop that stopped there mispredicted 0.9 times per message
        // (valgrind's branch simulation of a replay).
        let mut k = INLINE;
        for j in (0..INLINE).rev() {
            if key >= r.ranks[j][s].key {
                k = j;
            }
        }
        if k < INLINE {
            let l = &r.ranks[k][s];
            // A real level's key can be 0 too (a bid at price 0), so check `orders`.
            return if l.key == key && l.orders != 0 {
                Ok(Where::Inline(k))
            } else {
                Err(Where::Inline(k))
            };
        }
        let ps = r.pool[s];
        let seg = &self.pool.lv[ps.start as usize..(ps.start + ps.len) as usize];
        search(seg, key).map(Where::Pool).map_err(Where::Pool)
    }

    /// Makes an empty level with `key` at `w` (from [`Books::find_level`]), moving the
    /// levels below it down; false (and nothing changed) if the pool is exhausted.
    #[inline(always)]
    fn insert_level(&mut self, loc: usize, s: usize, w: Where, key: u32) -> bool {
        let new = LevelSlot::new(key);
        match w {
            Where::Inline(k) => {
                let last = self.recs[loc].rank(INLINE - 1)[s];
                if last.orders > 0 {
                    let end = self.recs[loc].pool[s].len as usize;
                    if !self.pool_insert(loc, s, end, last) {
                        return false;
                    }
                }
                let r = &mut self.recs[loc];
                for j in (k + 1..INLINE).rev() {
                    r.rank_mut(j)[s] = r.rank(j - 1)[s];
                }
                r.rank_mut(k)[s] = new;
            }
            Where::Pool(p) => {
                if !self.pool_insert(loc, s, p, new) {
                    return false;
                }
            }
        }
        self.stats.live_levels += 1;
        true
    }

    /// Removes the (empty) level at `w`, moving the levels below it up.
    #[inline(always)]
    fn remove_level(&mut self, loc: usize, s: usize, w: Where) {
        match w {
            Where::Inline(k) => {
                let next = self.pool_pop(loc, s);
                let r = &mut self.recs[loc];
                for j in k..INLINE - 1 {
                    r.rank_mut(j)[s] = r.rank(j + 1)[s];
                }
                r.rank_mut(INLINE - 1)[s] = next;
            }
            Where::Pool(p) => {
                let ps = self.recs[loc].pool[s];
                let (start, len) = (ps.start as usize, ps.len as usize);
                if p + 1 < len {
                    self.pool
                        .lv
                        .copy_within(start + p + 1..start + len, start + p);
                }
                self.recs[loc].pool[s].len -= 1;
            }
        }
        self.stats.live_levels -= 1;
    }

    /// The pool's best level (its last), removed; an empty slot if there is none.
    #[inline(always)]
    fn pool_pop(&mut self, loc: usize, s: usize) -> LevelSlot {
        let ps = &mut self.recs[loc].pool[s];
        if ps.len == 0 {
            return LevelSlot::EMPTY;
        }
        ps.len -= 1;
        self.pool.lv[(ps.start + ps.len) as usize]
    }

    /// Inserts `lvl` at position `p` of a side's pool block (growing it if full).
    #[inline(always)]
    fn pool_insert(&mut self, loc: usize, s: usize, p: usize, lvl: LevelSlot) -> bool {
        let r = &self.recs[loc];
        let cap = if r.class[s] == 0 {
            0
        } else {
            1u32 << r.class[s]
        };
        if r.pool[s].len == cap && !self.grow(loc, s) {
            return false;
        }
        let ps = self.recs[loc].pool[s];
        let (start, len) = (ps.start as usize, ps.len as usize);
        if p < len {
            self.pool
                .lv
                .copy_within(start + p..start + len, start + p + 1);
        }
        self.pool.lv[start + p] = lvl;
        self.recs[loc].pool[s].len += 1;
        true
    }

    /// Moves a full pool block to one twice the size.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, loc: usize, s: usize) -> bool {
        let class = self.recs[loc].class[s];
        let new_class = if class == 0 { MIN_CLASS } else { class + 1 };
        let Some(b) = self.pool.alloc(new_class) else {
            return false;
        };
        let ps = self.recs[loc].pool[s];
        if class != 0 {
            let start = ps.start as usize;
            self.pool
                .lv
                .copy_within(start..start + ps.len as usize, b as usize);
            self.pool.free(ps.start, class);
        }
        self.recs[loc].pool[s] = PoolSide {
            start: b,
            len: ps.len,
        };
        self.recs[loc].class[s] = new_class;
        true
    }

    /// The end of an event: crossed state and the BBO, if the top changed.
    #[inline(always)]
    fn finish<S: BookSink>(&mut self, loc: usize, t: Touched, ts: u64, sink: &mut S) {
        if t == 0 {
            return;
        }
        if t & TOP_PRICE != 0 {
            let r = &mut self.recs[loc];
            let (b, a) = (&r.ranks[0][0], &r.ranks[0][1]);
            let now = b.orders > 0 && a.orders > 0 && b.key >= !a.key;
            if now && !r.crossed {
                self.stats.crossed += 1;
            }
            r.crossed = now;
        }
        if S::WANTS_BBO {
            sink.bbo(&BboUpdate {
                locate: loc as u16,
                bbo: self.bbo_at(loc),
                ts,
            });
        }
    }

    #[inline]
    fn bbo_at(&self, loc: usize) -> Bbo {
        let r = &self.recs[loc];
        let level = |side: Side| {
            let l = &r.ranks[0][side as usize];
            (l.orders > 0).then(|| Level {
                price: price_of(side, l.key),
                shares: l.shares,
                orders: l.orders,
            })
        };
        Bbo {
            bid: level(Side::Buy),
            ask: level(Side::Sell),
        }
    }
}

#[inline(always)]
fn emit_level<S: BookSink>(
    sink: &mut S,
    locate: u16,
    side: Side,
    key: u32,
    shares: u64,
    orders: u32,
    ts: u64,
) {
    if S::WANTS_LEVELS {
        sink.level(&LevelUpdate {
            locate,
            side,
            price: price_of(side, key),
            shares,
            orders,
            ts,
        });
    }
}

/// The levels of one side, best first. See [`Books::depth`].
#[derive(Debug, Clone)]
pub struct Depth<'a> {
    inline: [LevelSlot; INLINE],
    next_inline: usize,
    pool: &'a [LevelSlot],
    side: Side,
}

impl Iterator for Depth<'_> {
    type Item = Level;

    #[inline]
    fn next(&mut self) -> Option<Level> {
        let l = if self.next_inline < INLINE && self.inline[self.next_inline].orders > 0 {
            self.next_inline += 1;
            self.inline[self.next_inline - 1]
        } else {
            self.next_inline = INLINE;
            let (l, rest) = self.pool.split_last()?;
            self.pool = rest;
            *l
        };
        Some(Level {
            price: price_of(self.side, l.key),
            shares: l.shares,
            orders: l.orders,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let inline = self.inline[self.next_inline.min(INLINE)..]
            .iter()
            .take_while(|l| l.orders > 0)
            .count();
        let n = inline + self.pool.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Depth<'_> {}

/// The orders of a level, oldest first: `(order_ref, shares)`. See
/// [`Books::orders_at_level`].
#[derive(Debug, Clone)]
pub struct OrdersAtLevel<'a> {
    slots: &'a [Slot],
    cur: u32,
}

impl Iterator for OrdersAtLevel<'_> {
    type Item = (u64, u32);

    #[inline]
    fn next(&mut self) -> Option<(u64, u32)> {
        let s = self.slots.get(self.cur as usize)?;
        self.cur = s.next;
        Some((s.order_ref, s.shares))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::NullSink;

    fn queue(b: &Books, price: u32) -> Vec<u64> {
        b.orders_at_level(1, Side::Buy, price)
            .map(|(r, _)| r)
            .collect()
    }

    #[test]
    fn unlinking_keeps_the_queue_and_leaves_the_spare_slots_alone() {
        let mut b = Books::new(BookConfig {
            order_capacity: 64,
            max_locates: 4,
            max_levels: 64,
            max_probe: 32,
        });
        let s = &mut NullSink;
        for r in 1..=6 {
            b.add(1, r, Side::Buy, 100, 10_000, 0, s);
        }
        // The oldest, the youngest, one in the middle, then the last two (each the
        // only one of its kind at some point): both links present, either missing,
        // both missing.
        for (gone, left) in [
            (1, vec![2, 3, 4, 5, 6]),
            (6, vec![2, 3, 4, 5]),
            (4, vec![2, 3, 5]),
            (2, vec![3, 5]),
            (5, vec![3]),
            (3, vec![]),
        ] {
            b.delete(1, gone, 0, s);
            assert_eq!(queue(&b, 10_000), left, "after deleting {gone}");
            let blank = &b.table.slots[b.table.blank()];
            assert_eq!(
                (blank.prev, blank.next),
                (NIL, NIL),
                "after deleting {gone}"
            );
            assert!(!b.table.slots[b.table.scratch()].live());
        }
        // The level went with its last order, and a new one starts a fresh queue.
        assert!(b.bbo(1).bid.is_none());
        b.add(1, 7, Side::Buy, 100, 10_000, 0, s);
        assert_eq!(queue(&b, 10_000), vec![7]);
    }
}
