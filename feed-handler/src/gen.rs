//! `hotpath gen`: a deterministic synthetic ITCH 5.0 day for benchmarks and soak tests.
//!
//! The stream looks like a trading day: system events (start of messages, system and
//! market hours), a stock directory and trading actions for every symbol, then the
//! order flow, then the closing system events. The flow's mix and price-level
//! distribution follow published full-day Nasdaq statistics (../shared/data/README.md
//! and the public breakdowns of TotalView-ITCH days):
//!
//! | event | share of the flow |
//! |---|---|
//! | add order (A 93%, F with attribution 7%) | ~45% |
//! | order delete (D) | ~39.5% |
//! | order replace (U) | ~9% |
//! | order executed (E, C 8% of them) | ~2.5% |
//! | order cancel (X, partial) | ~1.5% |
//! | non-cross trade (P) | ~1% |
//! | NOII (I) | ~1.5% |
//!
//! - Adds land on the best level of their side half of the time and within three
//!   levels 92% of the time (a geometric tail beyond); a few improve the spread.
//! - The live order count is steered towards a target (default: 1.9 million, the
//!   published peak of a full day, or fewer for short streams) by leaning the
//!   add/delete balance, so a 50-million-message stream holds a day-like population.
//! - Deletes mostly hit recent orders (most orders live briefly), sometimes any live
//!   order; executions take the order at the front of the best level (time priority);
//!   books never cross.
//! - Symbols' activity follows a Zipf law (a few names carry most of the flow).
//! - Order reference numbers increase through the day, as Nasdaq assigns them.
//! - Timestamps run from 09:30 to 16:00, non-decreasing.
//!
//! The generator keeps its own exact book, so every delete, execution, cancel and
//! replace refers to a live order with enough shares: a consumer that builds books
//! from the stream must never see an unknown reference.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use hotpath_book::Side;

use crate::itch::encode::MessageFields;
use crate::moldudp64::{write_end_of_session, PacketBuilder, SessionId, HEADER_LEN};
use crate::net::write_udp_frame;
use crate::rng::Rng;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// Total messages, header and trailer included.
    pub messages: u64,
    pub seed: u64,
    /// Number of symbols (stock locates 1..=symbols).
    pub symbols: u16,
    /// Live orders to steer towards; `None`: min(1.9 M, messages / 25).
    pub live_target: Option<u64>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            messages: 1_000_000,
            seed: 1,
            symbols: 100,
            live_target: None,
        }
    }
}

/// One generated message, before encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// S: system event code (O S Q M E C).
    System { code: u8 },
    /// R: stock directory.
    Directory {
        locate: u16,
        stock: [u8; 8],
        round_lot: u32,
    },
    /// H: trading action (state T = trading).
    Trading {
        locate: u16,
        stock: [u8; 8],
        state: u8,
    },
    /// A (mpid None) or F.
    Add {
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        stock: [u8; 8],
        price: u32,
        mpid: Option<[u8; 4]>,
    },
    /// E.
    Executed {
        locate: u16,
        order_ref: u64,
        shares: u32,
        match_number: u64,
    },
    /// C.
    ExecutedWithPrice {
        locate: u16,
        order_ref: u64,
        shares: u32,
        match_number: u64,
        price: u32,
    },
    /// X.
    Cancel {
        locate: u16,
        order_ref: u64,
        shares: u32,
    },
    /// D.
    Delete { locate: u16, order_ref: u64 },
    /// U.
    Replace {
        locate: u16,
        old_ref: u64,
        new_ref: u64,
        shares: u32,
        price: u32,
    },
    /// P.
    Trade {
        locate: u16,
        order_ref: u64,
        side: Side,
        shares: u32,
        stock: [u8; 8],
        price: u32,
        match_number: u64,
    },
    /// I (NOII), carrying reference prices around the book.
    Imbalance {
        locate: u16,
        stock: [u8; 8],
        paired: u64,
        imbalance: u64,
        direction: u8,
        far: u32,
        near: u32,
        reference: u32,
    },
}

impl Event {
    /// The ITCH message type this event encodes as.
    pub fn msg_type(&self) -> u8 {
        match self {
            Event::System { .. } => b'S',
            Event::Directory { .. } => b'R',
            Event::Trading { .. } => b'H',
            Event::Add { mpid: None, .. } => b'A',
            Event::Add { mpid: Some(_), .. } => b'F',
            Event::Executed { .. } => b'E',
            Event::ExecutedWithPrice { .. } => b'C',
            Event::Cancel { .. } => b'X',
            Event::Delete { .. } => b'D',
            Event::Replace { .. } => b'U',
            Event::Trade { .. } => b'P',
            Event::Imbalance { .. } => b'I',
        }
    }
}

/// Generation cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenError {
    #[error("--messages {messages} is too few: the header and trailer alone take {needed} for {symbols} symbols")]
    TooFewMessages {
        messages: u64,
        needed: u64,
        symbols: u16,
    },
    #[error("--symbols must be 1 to 65535")]
    NoSymbols,
}

const TICK: u32 = 100; // $0.01 in ITCH price units (4 implied decimals)
const DAY_START_NS: u64 = 34_200 * 1_000_000_000; // 09:30
const DAY_END_NS: u64 = 57_600 * 1_000_000_000; // 16:00
const PRE_OPEN_NS: u64 = 14_400 * 1_000_000_000; // 04:00, for the header

#[derive(Debug, Clone, Copy)]
struct Order {
    locate: u16,
    side: Side,
    shares: u32,
    price: u32,
}

/// A level: its live order count and its queue in time priority. Removed orders stay
/// in the queue (lazily dropped when they reach the front), so a removal is O(1).
#[derive(Debug, Default)]
struct GenLevel {
    live: u32,
    queue: VecDeque<u64>,
}

#[derive(Debug, Default)]
struct StockBook {
    bids: BTreeMap<u32, GenLevel>,
    asks: BTreeMap<u32, GenLevel>,
}

#[derive(Debug)]
struct Stock {
    symbol: [u8; 8],
    /// Where the book is centred when a side is empty.
    anchor: u32,
    book: StockBook,
}

impl Stock {
    fn best(&self, side: Side) -> Option<u32> {
        match side {
            Side::Buy => self.book.bids.keys().next_back().copied(),
            Side::Sell => self.book.asks.keys().next().copied(),
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<u32, GenLevel> {
        match side {
            Side::Buy => &mut self.book.bids,
            Side::Sell => &mut self.book.asks,
        }
    }
}

/// Produces the events of a synthetic day, in order, deterministically from the seed.
#[derive(Debug)]
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
    stocks: Vec<Stock>,
    /// Cumulative Zipf weights for picking a stock.
    popularity: Vec<f64>,
    orders: HashMap<u64, Order>,
    /// Live references (unordered) with their positions, for uniform picks.
    live: Vec<u64>,
    live_pos: HashMap<u64, usize>,
    live_target: u64,
    next_ref: u64,
    next_match: u64,
    header: VecDeque<Event>,
    flow_left: u64,
    trailer: VecDeque<Event>,
    emitted: u64,
    ts: u64,
    step_ns: u64,
}

fn symbol(i: u16) -> [u8; 8] {
    // Four letters from the index, like a real ticker, space padded.
    let mut s = [b' '; 8];
    let mut v = i as u32;
    for c in s.iter_mut().take(4).rev() {
        *c = b'A' + (v % 26) as u8;
        v /= 26;
    }
    s
}

impl Generator {
    /// Checks the config and sets up the header, the stocks and the trailer.
    pub fn new(cfg: GenConfig) -> Result<Generator, GenError> {
        if cfg.symbols == 0 {
            return Err(GenError::NoSymbols);
        }
        let k = cfg.symbols as u64;
        let needed = 3 + 2 * k + 3;
        if cfg.messages < needed {
            return Err(GenError::TooFewMessages {
                messages: cfg.messages,
                needed,
                symbols: cfg.symbols,
            });
        }
        let mut rng = Rng::new(cfg.seed);
        let mut stocks = Vec::with_capacity(k as usize);
        let mut header = VecDeque::new();
        header.push_back(Event::System { code: b'O' });
        header.push_back(Event::System { code: b'S' });
        for i in 0..cfg.symbols {
            // Prices from $5 to $500, log-uniform, on a whole-cent grid.
            let dollars = (5.0f64.ln() + rng.unit() * (100.0f64).ln()).exp();
            let anchor = ((dollars * 100.0) as u32).max(1) * TICK;
            let stock = Stock {
                symbol: symbol(i),
                anchor,
                book: StockBook::default(),
            };
            header.push_back(Event::Directory {
                locate: i + 1,
                stock: stock.symbol,
                round_lot: 100,
            });
            stocks.push(stock);
        }
        for (i, s) in stocks.iter().enumerate() {
            header.push_back(Event::Trading {
                locate: i as u16 + 1,
                stock: s.symbol,
                state: b'T',
            });
        }
        header.push_back(Event::System { code: b'Q' });
        let trailer: VecDeque<Event> = [b'M', b'E', b'C']
            .into_iter()
            .map(|code| Event::System { code })
            .collect();
        let mut popularity = Vec::with_capacity(k as usize);
        let mut acc = 0.0;
        for r in 0..k {
            acc += 1.0 / (r as f64 + 1.0);
            popularity.push(acc);
        }
        let flow = cfg.messages - header.len() as u64 - trailer.len() as u64;
        let live_target = cfg
            .live_target
            .unwrap_or_else(|| (cfg.messages / 25).clamp(1, 1_900_000));
        Ok(Generator {
            rng,
            stocks,
            popularity,
            orders: HashMap::with_capacity(live_target as usize * 2),
            live: Vec::with_capacity(live_target as usize * 2),
            live_pos: HashMap::with_capacity(live_target as usize * 2),
            live_target,
            next_ref: 1,
            next_match: 1,
            header,
            flow_left: flow,
            trailer,
            emitted: 0,
            ts: PRE_OPEN_NS,
            step_ns: ((DAY_END_NS - DAY_START_NS) / flow.max(1)).max(1),
            cfg,
        })
    }

    /// Live orders right now (for tests and progress displays).
    pub fn live_orders(&self) -> usize {
        self.orders.len()
    }

    /// Events still to come.
    pub fn remaining(&self) -> u64 {
        self.cfg.messages - self.emitted
    }

    fn pick_stock(&mut self) -> usize {
        let total = *self.popularity.last().expect("at least one symbol");
        let x = self.rng.unit() * total;
        // Ranks are shuffled against locates by a fixed permutation so that locate 1
        // is not always the busiest.
        let rank = self
            .popularity
            .partition_point(|&c| c <= x)
            .min(self.popularity.len() - 1);
        (rank * 7919) % self.stocks.len()
    }

    fn add_live(&mut self, r: u64, o: Order) {
        self.orders.insert(r, o);
        self.live_pos.insert(r, self.live.len());
        self.live.push(r);
        let st = &mut self.stocks[o.locate as usize - 1];
        let level = st.side_mut(o.side).entry(o.price).or_default();
        level.live += 1;
        level.queue.push_back(r);
    }

    fn remove_live(&mut self, r: u64) -> Order {
        let o = self.orders.remove(&r).expect("live order");
        let pos = self.live_pos.remove(&r).expect("live position");
        self.live.swap_remove(pos);
        if pos < self.live.len() {
            self.live_pos.insert(self.live[pos], pos);
        }
        let st = &mut self.stocks[o.locate as usize - 1];
        let levels = st.side_mut(o.side);
        let level = levels.get_mut(&o.price).expect("level of a live order");
        level.live -= 1;
        if level.live == 0 {
            levels.remove(&o.price);
        }
        o
    }

    /// A live order: mostly a recent one, sometimes any.
    fn pick_live(&mut self) -> Option<u64> {
        if self.live.is_empty() {
            return None;
        }
        if self.rng.chance(0.7) {
            for _ in 0..4 {
                let back = self.rng.geometric(0.02) + 1;
                if back < self.next_ref {
                    let r = self.next_ref - back;
                    if self.orders.contains_key(&r) {
                        return Some(r);
                    }
                }
            }
        }
        Some(self.live[self.rng.below(self.live.len() as u64) as usize])
    }

    /// Levels away from the best: 0 half the time, within 3 for 92%.
    fn level_offset(&mut self) -> u32 {
        let u = self.rng.unit();
        if u < 0.50 {
            0
        } else if u < 0.75 {
            1
        } else if u < 0.92 {
            2
        } else {
            3 + self.rng.geometric(0.3) as u32
        }
    }

    fn shares(&mut self) -> u32 {
        if self.rng.chance(0.15) {
            1 + self.rng.below(99) as u32 // odd lots
        } else {
            100 * (1 + self.rng.geometric(0.45) as u32).min(100)
        }
    }

    fn price_for(&mut self, si: usize, side: Side) -> u32 {
        let improve = self.rng.chance(0.05);
        let offset = self.level_offset();
        let st = &self.stocks[si];
        let (bid, ask) = (st.best(Side::Buy), st.best(Side::Sell));
        let spread_ticks = 1 + self.rng.below(3) as u32;
        match side {
            Side::Buy => {
                let top = match (bid, ask) {
                    (Some(b), Some(a)) if improve && a - b > TICK => b + TICK,
                    (Some(b), _) => b,
                    (None, Some(a)) => a.saturating_sub(spread_ticks * TICK).max(TICK),
                    (None, None) => st.anchor,
                };
                let p = top.saturating_sub(offset * TICK).max(TICK);
                match ask {
                    Some(a) if p >= a => a.saturating_sub(TICK).max(TICK),
                    _ => p,
                }
            }
            Side::Sell => {
                let top = match (bid, ask) {
                    (Some(b), Some(a)) if improve && a - b > TICK => a - TICK,
                    (_, Some(a)) => a,
                    (Some(b), None) => b + spread_ticks * TICK,
                    (None, None) => st.anchor + spread_ticks * TICK,
                };
                let p = top + offset * TICK;
                match bid {
                    Some(b) if p <= b => b + TICK,
                    _ => p,
                }
            }
        }
    }

    fn add(&mut self) -> Event {
        let si = self.pick_stock();
        let side = if self.rng.chance(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let mut price = self.price_for(si, side);
        // A buy at or above the ask (only possible when the ask is one tick) goes
        // to the other side of the book instead: the generator never crosses.
        let st = &self.stocks[si];
        let crosses = match side {
            Side::Buy => st.best(Side::Sell).is_some_and(|a| price >= a),
            Side::Sell => st.best(Side::Buy).is_some_and(|b| price <= b),
        };
        let side = if crosses {
            price = match side {
                Side::Buy => st.best(Side::Sell).expect("checked") + TICK,
                Side::Sell => st
                    .best(Side::Buy)
                    .expect("checked")
                    .saturating_sub(TICK)
                    .max(TICK),
            };
            match side {
                Side::Buy => Side::Sell,
                Side::Sell => Side::Buy,
            }
        } else {
            side
        };
        let shares = self.shares();
        let r = self.next_ref;
        self.next_ref += 1;
        let locate = si as u16 + 1;
        self.add_live(
            r,
            Order {
                locate,
                side,
                shares,
                price,
            },
        );
        let mpid = if self.rng.chance(0.07) {
            Some(*[b"GSCO", b"MSCO", b"VIRT", b"CDRG", b"NITE"][self.rng.below(5) as usize])
        } else {
            None
        };
        Event::Add {
            locate,
            order_ref: r,
            side,
            shares,
            stock: self.stocks[si].symbol,
            price,
            mpid,
        }
    }

    fn delete(&mut self) -> Option<Event> {
        let r = self.pick_live()?;
        let o = self.remove_live(r);
        Some(Event::Delete {
            locate: o.locate,
            order_ref: r,
        })
    }

    fn replace(&mut self) -> Option<Event> {
        let old = self.pick_live()?;
        let o = self.remove_live(old);
        let si = o.locate as usize - 1;
        // Same side, usually at or next to the old price, never crossing.
        let step = self.rng.below(3) as i64 - 1;
        let mut price = (o.price as i64 + step * TICK as i64).max(TICK as i64) as u32;
        let st = &self.stocks[si];
        match o.side {
            Side::Buy => {
                if let Some(a) = st.best(Side::Sell) {
                    if price >= a {
                        price = a.saturating_sub(TICK).max(TICK);
                    }
                }
            }
            Side::Sell => {
                if let Some(b) = st.best(Side::Buy) {
                    if price <= b {
                        price = b + TICK;
                    }
                }
            }
        }
        if o.side == Side::Buy && st.best(Side::Sell).is_some_and(|a| price >= a) {
            // A one-tick market at the minimum price: put the order back, delete instead.
            self.add_live(old, o);
            return self.delete();
        }
        let shares = self.shares();
        let new = self.next_ref;
        self.next_ref += 1;
        self.add_live(
            new,
            Order {
                locate: o.locate,
                side: o.side,
                shares,
                price,
            },
        );
        Some(Event::Replace {
            locate: o.locate,
            old_ref: old,
            new_ref: new,
            shares,
            price,
        })
    }

    fn execute(&mut self) -> Option<Event> {
        // The order at the front of the best level of a busy stock's side.
        for _ in 0..8 {
            let si = self.pick_stock();
            let side = if self.rng.chance(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let orders = &self.orders;
            let st = &mut self.stocks[si];
            let level = match side {
                Side::Buy => st.book.bids.values_mut().next_back(),
                Side::Sell => st.book.asks.values_mut().next(),
            };
            let Some(level) = level else { continue };
            // Drop removed orders from the front: the first live one has priority.
            while level.queue.front().is_some_and(|r| !orders.contains_key(r)) {
                level.queue.pop_front();
            }
            let Some(&r) = level.queue.front() else {
                continue;
            };
            let o = self.orders[&r];
            let shares = if self.rng.chance(0.6) || o.shares <= 1 {
                o.shares
            } else {
                1 + self.rng.below(o.shares as u64 - 1) as u32
            };
            if shares == o.shares {
                self.remove_live(r);
            } else {
                self.orders.get_mut(&r).expect("live").shares -= shares;
            }
            let m = self.next_match;
            self.next_match += 1;
            return Some(if self.rng.chance(0.08) {
                Event::ExecutedWithPrice {
                    locate: o.locate,
                    order_ref: r,
                    shares,
                    match_number: m,
                    price: o.price,
                }
            } else {
                Event::Executed {
                    locate: o.locate,
                    order_ref: r,
                    shares,
                    match_number: m,
                }
            });
        }
        None
    }

    fn cancel(&mut self) -> Option<Event> {
        for _ in 0..8 {
            let r = self.pick_live()?;
            let o = self.orders[&r];
            if o.shares < 2 {
                continue;
            }
            let shares = 1 + self.rng.below(o.shares as u64 - 1) as u32;
            self.orders.get_mut(&r).expect("live").shares -= shares;
            return Some(Event::Cancel {
                locate: o.locate,
                order_ref: r,
                shares,
            });
        }
        None
    }

    fn trade(&mut self) -> Event {
        let si = self.pick_stock();
        let st = &self.stocks[si];
        let price = match (st.best(Side::Buy), st.best(Side::Sell)) {
            (Some(b), Some(a)) => (b / 2 + a / 2) / TICK * TICK,
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => st.anchor,
        };
        let m = self.next_match;
        self.next_match += 1;
        let shares = self.shares();
        Event::Trade {
            locate: si as u16 + 1,
            order_ref: 0,
            side: if self.rng.chance(0.5) {
                Side::Buy
            } else {
                Side::Sell
            },
            shares,
            stock: self.stocks[si].symbol,
            price,
            match_number: m,
        }
    }

    fn imbalance(&mut self) -> Event {
        let si = self.pick_stock();
        let st = &self.stocks[si];
        let reference = st
            .best(Side::Buy)
            .or(st.best(Side::Sell))
            .unwrap_or(st.anchor);
        Event::Imbalance {
            locate: si as u16 + 1,
            stock: st.symbol,
            paired: 100 * self.rng.below(10_000),
            imbalance: 100 * self.rng.below(1_000),
            direction: *b"BSNO".get(self.rng.below(4) as usize).expect("in range"),
            far: reference,
            near: reference,
            reference,
        }
    }

    fn flow_event(&mut self) -> Event {
        // Lean the add/delete balance towards the live-order target.
        let live = self.orders.len() as f64;
        let target = self.live_target as f64;
        let lean = ((target - live) / target).clamp(-1.0, 1.0) * 0.08;
        let p_add = 0.45 + lean;
        let p_delete = p_add + 0.395 - lean;
        let u = self.rng.unit();
        let ev = if u < p_add || self.live.is_empty() {
            Some(self.add())
        } else if u < p_delete {
            self.delete()
        } else if u < p_delete + 0.09 {
            self.replace()
        } else if u < p_delete + 0.115 {
            self.execute()
        } else if u < p_delete + 0.13 {
            self.cancel()
        } else if u < p_delete + 0.14 {
            Some(self.trade())
        } else {
            Some(self.imbalance())
        };
        ev.unwrap_or_else(|| self.add())
    }
}

impl Iterator for Generator {
    /// (timestamp in ns since midnight, event)
    type Item = (u64, Event);

    fn next(&mut self) -> Option<(u64, Event)> {
        let ev = if let Some(e) = self.header.pop_front() {
            self.ts += 1_000;
            if matches!(e, Event::System { code: b'Q' }) {
                self.ts = DAY_START_NS;
            }
            e
        } else if self.flow_left > 0 {
            self.flow_left -= 1;
            // Non-decreasing, with jitter around the mean step.
            self.ts += self.rng.below(2 * self.step_ns + 1);
            self.ts = self.ts.min(DAY_END_NS - 1);
            self.flow_event()
        } else if let Some(e) = self.trailer.pop_front() {
            self.ts = self.ts.max(DAY_END_NS) + 1_000;
            e
        } else {
            return None;
        };
        self.emitted += 1;
        Some((self.ts, ev))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining() as usize;
        (n, Some(n))
    }
}

/// The ITCH fields of an event at `ts` (tracking numbers are 0).
pub fn to_fields(ts: u64, ev: &Event) -> MessageFields {
    use crate::itch::encode::*;
    let (l, t) = (0u16, ts);
    match *ev {
        Event::System { code } => SystemEventFields {
            stock_locate: l,
            tracking_number: 0,
            timestamp: t,
            event_code: code,
        }
        .into(),
        Event::Directory {
            locate,
            stock,
            round_lot,
        } => StockDirectoryFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            stock,
            market_category: b'Q',
            financial_status_indicator: b'N',
            round_lot_size: round_lot,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_sub_type: *b"Z ",
            authenticity: b'P',
            short_sale_threshold_indicator: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'1',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }
        .into(),
        Event::Trading {
            locate,
            stock,
            state,
        } => StockTradingActionFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            stock,
            trading_state: state,
            reserved: b' ',
            reason: *b"    ",
        }
        .into(),
        Event::Add {
            locate,
            order_ref,
            side,
            shares,
            stock,
            price,
            mpid: None,
        } => AddOrderFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
            side,
            shares,
            stock,
            price,
        }
        .into(),
        Event::Add {
            locate,
            order_ref,
            side,
            shares,
            stock,
            price,
            mpid: Some(attribution),
        } => AddOrderMpidFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
            side,
            shares,
            stock,
            price,
            attribution,
        }
        .into(),
        Event::Executed {
            locate,
            order_ref,
            shares,
            match_number,
        } => OrderExecutedFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
            executed_shares: shares,
            match_number,
        }
        .into(),
        Event::ExecutedWithPrice {
            locate,
            order_ref,
            shares,
            match_number,
            price,
        } => OrderExecutedWithPriceFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
            executed_shares: shares,
            match_number,
            printable: b'Y',
            execution_price: price,
        }
        .into(),
        Event::Cancel {
            locate,
            order_ref,
            shares,
        } => OrderCancelFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
            cancelled_shares: shares,
        }
        .into(),
        Event::Delete { locate, order_ref } => OrderDeleteFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
        }
        .into(),
        Event::Replace {
            locate,
            old_ref,
            new_ref,
            shares,
            price,
        } => OrderReplaceFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            original_order_ref: old_ref,
            new_order_ref: new_ref,
            shares,
            price,
        }
        .into(),
        Event::Trade {
            locate,
            order_ref,
            side,
            shares,
            stock,
            price,
            match_number,
        } => NonCrossTradeFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            order_ref,
            side,
            shares,
            stock,
            price,
            match_number,
        }
        .into(),
        Event::Imbalance {
            locate,
            stock,
            paired,
            imbalance,
            direction,
            far,
            near,
            reference,
        } => NetOrderImbalanceFields {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: t,
            paired_shares: paired,
            imbalance_shares: imbalance,
            imbalance_direction: direction,
            stock,
            far_price: far,
            near_price: near,
            current_reference_price: reference,
            cross_type: b'C',
            price_variation_indicator: b'L',
        }
        .into(),
    }
}

/// Writes the stream in Nasdaq's raw file format (2-byte length before each message),
/// calling `progress` every 2^16 messages with the count so far.
pub fn write_itch<W: std::io::Write>(
    gen: Generator,
    out: &mut W,
    mut progress: impl FnMut(u64),
) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut n = 0u64;
    for (ts, ev) in gen {
        to_fields(ts, &ev).append_framed(&mut buf);
        n += 1;
        if buf.len() > (1 << 20) - 128 {
            out.write_all(&buf)?;
            buf.clear();
        }
        if n.is_multiple_of(1 << 16) {
            progress(n);
        }
    }
    out.write_all(&buf)?;
    progress(n);
    Ok(n)
}

/// How `--pcap` output is framed.
#[derive(Debug, Clone)]
pub struct PcapOptions {
    /// MoldUDP64 session name (10 characters).
    pub session: SessionId,
    /// Source and destination of the UDP datagrams.
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// Largest MoldUDP64 packet (UDP payload), in bytes.
    pub max_packet: usize,
    /// Capture date: ns since the epoch of the day's midnight (UTC).
    pub midnight_unix_ns: u64,
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions {
            session: *b"HOTPATH001",
            src: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 26400),
            dst: SocketAddrV4::new(Ipv4Addr::new(239, 1, 1, 1), 26477),
            max_packet: 1400,
            // 2026-11-25 00:00:00 UTC
            midnight_unix_ns: 1_795_564_800 * 1_000_000_000,
        }
    }
}

/// Writes the stream as a pcap capture of MoldUDP64 packets (sequence numbers from 1,
/// each packet filled up to `max_packet` bytes, stamped with its first message's
/// time), ending with an end-of-session packet. Returns (messages, packets).
pub fn write_pcap<W: std::io::Write>(
    gen: Generator,
    out: W,
    opts: &PcapOptions,
    progress: impl FnMut(u64),
) -> Result<(u64, u64), pcap_file::PcapError> {
    let mut buf = [0u8; crate::itch::MAX_MESSAGE_LEN];
    let msgs = gen.map(move |(ts, ev)| {
        let n = to_fields(ts, &ev).encode_into(&mut buf);
        buf[..n].to_vec()
    });
    pack_pcap(msgs, out, opts, progress)
}

/// Packs a raw ITCH stream (Nasdaq's file format) into a MoldUDP64 pcap, as
/// [`write_pcap`] does; a truncated last record is left out.
pub fn itch_to_pcap<W: std::io::Write>(
    raw: &[u8],
    out: W,
    opts: &PcapOptions,
    progress: impl FnMut(u64),
) -> Result<(u64, u64), pcap_file::PcapError> {
    let msgs = crate::itch::LengthPrefixed::new(raw).filter_map(Result::ok);
    pack_pcap(msgs, out, opts, progress)
}

fn pack_pcap<W: std::io::Write, M: AsRef<[u8]>>(
    msgs: impl Iterator<Item = M>,
    out: W,
    opts: &PcapOptions,
    mut progress: impl FnMut(u64),
) -> Result<(u64, u64), pcap_file::PcapError> {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::{DataLink, TsResolution};
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        snaplen: 65_535,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(out, header)?;
    let mut pending: Vec<u8> = Vec::with_capacity(opts.max_packet);
    let mut offsets: Vec<(usize, usize)> = Vec::with_capacity(256);
    let mut packet = vec![0u8; opts.max_packet.max(HEADER_LEN + 2 + 64)];
    let mut frame = Vec::with_capacity(opts.max_packet + 64);
    let mut next_seq = 1u64;
    let (mut messages, mut packets) = (0u64, 0u64);
    let mut first_ts = 0u64;
    let mut flush = |pending: &mut Vec<u8>,
                     offsets: &mut Vec<(usize, usize)>,
                     first_ts: u64,
                     next_seq: &mut u64,
                     w: &mut PcapWriter<W>|
     -> Result<u64, pcap_file::PcapError> {
        let len = if offsets.is_empty() {
            write_end_of_session(&mut packet, &opts.session, *next_seq)
                .expect("20-byte packet fits")
        } else {
            let mut b =
                PacketBuilder::with_max_len(&mut packet, &opts.session, *next_seq, opts.max_packet)
                    .expect("buffer holds a header");
            for &(at, l) in offsets.iter() {
                b.push(&pending[at..at + l]).expect("sized to fit");
            }
            *next_seq += offsets.len() as u64;
            b.finish().len()
        };
        frame.clear();
        write_udp_frame(&mut frame, opts.src, opts.dst, &packet[..len]);
        let ts = Duration::from_nanos(opts.midnight_unix_ns + first_ts);
        w.write_packet(&PcapPacket::new(ts, frame.len() as u32, &frame))?;
        pending.clear();
        offsets.clear();
        Ok(1)
    };
    for m in msgs {
        let m = m.as_ref();
        let l = m.len();
        let used = HEADER_LEN + pending.len() + 2 * offsets.len();
        if !offsets.is_empty() && used + 2 + l > opts.max_packet {
            packets += flush(&mut pending, &mut offsets, first_ts, &mut next_seq, &mut w)?;
        }
        if offsets.is_empty() {
            // The ITCH header's 6-byte timestamp (bytes 5..11), 0 if the message is short.
            first_ts = m
                .get(5..11)
                .map(|b| b.iter().fold(0u64, |acc, &x| acc << 8 | x as u64))
                .unwrap_or(0);
        }
        let at = pending.len();
        pending.extend_from_slice(m);
        offsets.push((at, l));
        messages += 1;
        if messages % (1 << 16) == 0 {
            progress(messages);
        }
    }
    if !offsets.is_empty() {
        packets += flush(&mut pending, &mut offsets, first_ts, &mut next_seq, &mut w)?;
    }
    // End of session.
    packets += flush(&mut pending, &mut offsets, first_ts, &mut next_seq, &mut w)?;
    progress(messages);
    Ok((messages, packets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: GenConfig) -> Vec<(u64, Event)> {
        Generator::new(cfg).unwrap().collect()
    }

    #[test]
    fn exact_count_deterministic_and_seed_dependent() {
        let cfg = GenConfig {
            messages: 20_000,
            seed: 42,
            symbols: 20,
            live_target: None,
        };
        let a = run(cfg.clone());
        assert_eq!(a.len(), 20_000);
        assert_eq!(a, run(cfg.clone()));
        assert_ne!(a, run(GenConfig { seed: 43, ..cfg }));
        assert!(
            a.windows(2).all(|w| w[0].0 <= w[1].0),
            "timestamps never go back"
        );
        assert_eq!(a[0].1, Event::System { code: b'O' });
        assert_eq!(a.last().unwrap().1, Event::System { code: b'C' });
    }

    #[test]
    fn refuses_impossible_configs() {
        let e = Generator::new(GenConfig {
            messages: 10,
            symbols: 10,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(e, GenError::TooFewMessages { needed: 26, .. }),
            "{e}"
        );
        assert!(Generator::new(GenConfig {
            symbols: 0,
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn mix_follows_the_published_shape() {
        let n = 400_000u64;
        let events = run(GenConfig {
            messages: n,
            seed: 7,
            symbols: 50,
            live_target: Some(5_000),
        });
        let mut counts: HashMap<u8, u64> = HashMap::new();
        for (_, e) in &events {
            *counts.entry(e.msg_type()).or_default() += 1;
        }
        let share = |t: &[u8]| {
            t.iter()
                .map(|c| counts.get(c).copied().unwrap_or(0))
                .sum::<u64>() as f64
                / n as f64
        };
        let adds = share(b"AF");
        let deletes = share(b"D");
        assert!((0.38..0.50).contains(&adds), "adds {adds}");
        assert!((0.32..0.44).contains(&deletes), "deletes {deletes}");
        assert!((0.06..0.12).contains(&share(b"U")), "replaces");
        assert!((0.01..0.04).contains(&share(b"EC")), "executions");
        assert!((0.005..0.03).contains(&share(b"X")), "cancels");
        assert!(share(b"P") > 0.003 && (0.005..0.025).contains(&share(b"I")));
        assert!(counts[&b'F'] > 0 && counts[&b'C'] > 0);
    }

    #[test]
    fn live_population_tracks_the_target() {
        let mut g = Generator::new(GenConfig {
            messages: 300_000,
            seed: 3,
            symbols: 30,
            live_target: Some(20_000),
        })
        .unwrap();
        let mut peak = 0;
        for _ in 0..290_000 {
            g.next();
            peak = peak.max(g.live_orders());
        }
        assert!((15_000..=26_000).contains(&peak), "peak live orders {peak}");
    }
}
