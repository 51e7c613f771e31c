//! A day-like stream for the benchmark and the no-allocation test, following the
//! published full-day Nasdaq statistics (the same targets as the project's `hotpath
//! gen`, written independently here so the book crate depends on nothing):
//!
//! - mix: adds ~44%, deletes ~38%, replaces ~9%, executions ~2.5% (C 8% of them),
//!   partial cancels ~1.5%, non-cross trades ~1%;
//! - adds land on the best level half the time, within three levels 92% of the time
//!   (a geometric tail beyond), 5% improve the spread; books never cross;
//! - deletes, replaces and cancels take a recent order 70% of the time (geometric,
//!   mean ~50 references back: most orders live briefly), otherwise any live order
//!   uniformly; executions take the front order of a best level;
//! - symbol activity is Zipf over `symbols` names; references increase through the
//!   day; the live population is first built up (warm-up: the same flow leaning
//!   towards adds) to `live_target` (1.9 M, a full day's peak) and then held there.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use hotpath_book::Side;

use super::gen::Rng;
use super::Ev;

#[derive(Debug, Clone)]
pub struct DayConfig {
    pub seed: u64,
    pub symbols: u16,
    pub live_target: usize,
    /// Messages after the warm-up.
    pub messages: usize,
    /// Chance that a delete, replace or cancel takes a recent order (else any live
    /// order, uniformly). Default 0.7.
    pub recent_pick: f64,
}

impl Default for DayConfig {
    fn default() -> Self {
        DayConfig {
            seed: 1,
            symbols: 8000,
            live_target: 1_900_000,
            messages: 10_000_000,
            recent_pick: 0.7,
        }
    }
}

pub struct DayStream {
    /// Builds the population: symbols, then mostly adds until `live_target`.
    pub warmup: Vec<Ev>,
    /// The measured day-like flow.
    pub flow: Vec<Ev>,
}

const TICK: u32 = 100;

#[derive(Clone, Copy)]
struct O {
    locate: u16,
    side: Side,
    shares: u32,
    price: u32,
}

/// A level in the generator's own book: live order count, and the references in
/// arrival order with lazy deletion (an entry is live while `orders[r]` is).
#[derive(Default)]
struct Lv {
    live: u32,
    queue: VecDeque<u64>,
}

#[derive(Default)]
struct Stock {
    anchor: u32,
    bids: BTreeMap<u32, Lv>,
    asks: BTreeMap<u32, Lv>,
}

impl Stock {
    fn best(&self, side: Side) -> Option<u32> {
        match side {
            Side::Buy => self.bids.keys().next_back().copied(),
            Side::Sell => self.asks.keys().next().copied(),
        }
    }
    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<u32, Lv> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

struct G {
    rng: Rng,
    stocks: Vec<Stock>,
    zipf: Vec<f64>,
    /// By reference (dense from 1).
    orders: Vec<Option<O>>,
    live: Vec<u64>,
    live_pos: Vec<u32>,
    next_ref: u64,
    recent_pick: f64,
}

impl G {
    fn pick_stock(&mut self) -> usize {
        let total = *self.zipf.last().unwrap();
        let x = self.rng.unit() * total;
        let rank = self
            .zipf
            .partition_point(|&c| c <= x)
            .min(self.zipf.len() - 1);
        (rank * 7919) % self.stocks.len()
    }

    fn add_live(&mut self, r: u64, o: O) {
        let ri = r as usize;
        if self.orders.len() <= ri {
            self.orders.resize(ri + 1 + (ri >> 2), None);
            self.live_pos.resize(ri + 1 + (ri >> 2), u32::MAX);
        }
        self.orders[ri] = Some(o);
        self.live_pos[ri] = self.live.len() as u32;
        self.live.push(r);
        let lv = self.stocks[o.locate as usize - 1]
            .side_mut(o.side)
            .entry(o.price)
            .or_default();
        lv.live += 1;
        lv.queue.push_back(r);
    }

    fn remove_live(&mut self, r: u64) -> O {
        let o = self.orders[r as usize].take().unwrap();
        let p = self.live_pos[r as usize] as usize;
        self.live.swap_remove(p);
        if p < self.live.len() {
            self.live_pos[self.live[p] as usize] = p as u32;
        }
        let levels = self.stocks[o.locate as usize - 1].side_mut(o.side);
        let lv = levels.get_mut(&o.price).unwrap();
        lv.live -= 1;
        if lv.live == 0 {
            levels.remove(&o.price);
        }
        o
    }

    fn pick_live(&mut self) -> Option<u64> {
        if self.live.is_empty() {
            return None;
        }
        if self.rng.chance(self.recent_pick) {
            for _ in 0..4 {
                let back = self.rng.geometric(0.02) + 1;
                if back < self.next_ref {
                    let r = self.next_ref - back;
                    if self.orders[r as usize].is_some() {
                        return Some(r);
                    }
                }
            }
        }
        Some(self.live[self.rng.below(self.live.len() as u64) as usize])
    }

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
            1 + self.rng.below(99) as u32
        } else {
            100 * (1 + self.rng.geometric(0.45) as u32).min(100)
        }
    }

    fn price_for(&mut self, si: usize, side: Side) -> u32 {
        let improve = self.rng.chance(0.05);
        let offset = self.level_offset();
        let spread = 1 + self.rng.below(3) as u32;
        let st = &self.stocks[si];
        let (bid, ask) = (st.best(Side::Buy), st.best(Side::Sell));
        match side {
            Side::Buy => {
                let top = match (bid, ask) {
                    (Some(b), Some(a)) if improve && a - b > TICK => b + TICK,
                    (Some(b), _) => b,
                    (None, Some(a)) => a.saturating_sub(spread * TICK).max(TICK),
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
                    (Some(b), None) => b + spread * TICK,
                    (None, None) => st.anchor + spread * TICK,
                };
                let p = top + offset * TICK;
                match bid {
                    Some(b) if p <= b => b + TICK,
                    _ => p,
                }
            }
        }
    }

    fn crosses(&self, si: usize, side: Side, price: u32) -> bool {
        let st = &self.stocks[si];
        match side {
            Side::Buy => st.best(Side::Sell).is_some_and(|a| price >= a),
            Side::Sell => st.best(Side::Buy).is_some_and(|b| price <= b),
        }
    }

    fn add(&mut self) -> Option<Ev> {
        let si = self.pick_stock();
        let side = if self.rng.chance(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = self.price_for(si, side);
        if self.crosses(si, side, price) {
            return None; // a one-tick market at the minimum price: skip
        }
        let shares = self.shares();
        let r = self.next_ref;
        self.next_ref += 1;
        let locate = si as u16 + 1;
        self.add_live(
            r,
            O {
                locate,
                side,
                shares,
                price,
            },
        );
        Some(Ev::Add {
            locate,
            order_ref: r,
            side,
            shares,
            price,
        })
    }

    fn delete(&mut self) -> Option<Ev> {
        let r = self.pick_live()?;
        let o = self.remove_live(r);
        Some(Ev::Delete {
            locate: o.locate,
            order_ref: r,
        })
    }

    fn replace(&mut self) -> Option<Ev> {
        let old = self.pick_live()?;
        let o = self.remove_live(old);
        let si = o.locate as usize - 1;
        let step = self.rng.below(3) as i64 - 1;
        let price = (o.price as i64 + step * TICK as i64).max(TICK as i64) as u32;
        if self.crosses(si, o.side, price) {
            self.add_live(old, o);
            return None;
        }
        let shares = self.shares();
        let new = self.next_ref;
        self.next_ref += 1;
        self.add_live(new, O { shares, price, ..o });
        Some(Ev::Replace {
            locate: o.locate,
            old_ref: old,
            new_ref: new,
            shares,
            price,
        })
    }

    fn execute(&mut self) -> Option<Ev> {
        for _ in 0..8 {
            let si = self.pick_stock();
            let side = if self.rng.chance(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let orders = &self.orders;
            let st = &mut self.stocks[si];
            let best = match side {
                Side::Buy => st.bids.values_mut().next_back(),
                Side::Sell => st.asks.values_mut().next(),
            };
            let Some(lv) = best else { continue };
            while lv
                .queue
                .front()
                .is_some_and(|&r| orders[r as usize].is_none())
            {
                lv.queue.pop_front();
            }
            let Some(&r) = lv.queue.front() else { continue };
            let o = self.orders[r as usize].unwrap();
            let shares = if self.rng.chance(0.6) || o.shares <= 1 {
                o.shares
            } else {
                1 + self.rng.below(o.shares as u64 - 1) as u32
            };
            if shares == o.shares {
                self.remove_live(r);
            } else {
                self.orders[r as usize].as_mut().unwrap().shares -= shares;
            }
            return Some(if self.rng.chance(0.08) {
                Ev::ExecPrice {
                    locate: o.locate,
                    order_ref: r,
                    shares,
                    price: o.price,
                }
            } else {
                Ev::Exec {
                    locate: o.locate,
                    order_ref: r,
                    shares,
                }
            });
        }
        None
    }

    fn cancel(&mut self) -> Option<Ev> {
        for _ in 0..8 {
            let r = self.pick_live()?;
            let o = self.orders[r as usize].unwrap();
            if o.shares < 2 {
                continue;
            }
            let shares = 1 + self.rng.below(o.shares as u64 - 1) as u32;
            self.orders[r as usize].as_mut().unwrap().shares -= shares;
            return Some(Ev::Cancel {
                locate: o.locate,
                order_ref: r,
                shares,
            });
        }
        None
    }

    fn trade(&mut self) -> Ev {
        let si = self.pick_stock();
        let st = &self.stocks[si];
        let price = match (st.best(Side::Buy), st.best(Side::Sell)) {
            (Some(b), Some(a)) => (b / 2 + a / 2) / TICK * TICK,
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => st.anchor,
        };
        let shares = self.shares();
        Ev::Trade {
            locate: si as u16 + 1,
            order_ref: 0,
            side: if self.rng.chance(0.5) {
                Side::Buy
            } else {
                Side::Sell
            },
            shares,
            price,
        }
    }

    /// One event of the flow; `lean` > 0 favours adds over deletes.
    fn flow_event(&mut self, lean: f64) -> Ev {
        loop {
            let p_add = 0.44 + lean;
            let p_del = p_add + 0.38 - lean;
            let u = self.rng.unit() * 0.96;
            let ev = if u < p_add || self.live.is_empty() {
                self.add()
            } else if u < p_del {
                self.delete()
            } else if u < p_del + 0.09 {
                self.replace()
            } else if u < p_del + 0.115 {
                self.execute()
            } else if u < p_del + 0.13 {
                self.cancel()
            } else {
                Some(self.trade())
            };
            if let Some(ev) = ev {
                return ev;
            }
        }
    }
}

pub fn generate(cfg: &DayConfig) -> DayStream {
    let mut rng = Rng::new(cfg.seed);
    let n = cfg.symbols as usize;
    let mut stocks = Vec::with_capacity(n);
    let mut warmup = Vec::with_capacity(cfg.live_target * 5 + 2 * n);
    for i in 0..n {
        let dollars = (5.0f64.ln() + rng.unit() * 100.0f64.ln()).exp();
        stocks.push(Stock {
            anchor: ((dollars * 100.0) as u32).max(1) * TICK,
            ..Default::default()
        });
        let mut symbol = [b' '; 8];
        let mut v = i as u32;
        for c in symbol.iter_mut().take(4).rev() {
            *c = b'A' + (v % 26) as u8;
            v /= 26;
        }
        warmup.push(Ev::Directory {
            locate: i as u16 + 1,
            symbol,
        });
        warmup.push(Ev::TradingAction {
            locate: i as u16 + 1,
            state: b'T',
        });
    }
    let mut zipf = Vec::with_capacity(n);
    let mut acc = 0.0;
    for r in 0..n {
        acc += 1.0 / (r as f64 + 1.0);
        zipf.push(acc);
    }
    let mut g = G {
        rng,
        stocks,
        zipf,
        orders: Vec::new(),
        live: Vec::new(),
        live_pos: Vec::new(),
        next_ref: 1,
        recent_pick: cfg.recent_pick,
    };
    // Warm-up: the flow, leaning towards adds, until the target population: about
    // 9 M messages for 1.9 M live orders, spread over references as in a day's
    // build-up (not one dense burst).
    while g.live.len() < cfg.live_target {
        let ev = g.flow_event(0.08);
        warmup.push(ev);
    }
    let mut flow = Vec::with_capacity(cfg.messages);
    let target = cfg.live_target as f64;
    for _ in 0..cfg.messages {
        let lean = ((target - g.live.len() as f64) / target).clamp(-1.0, 1.0) * 0.5;
        let ev = g.flow_event(lean.clamp(-0.08, 0.08));
        flow.push(ev);
    }
    DayStream { warmup, flow }
}
