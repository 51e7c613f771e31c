//! A random but (mostly) valid event stream for tests, with injected anomalies.
//!
//! The generator keeps an exact model of the live orders, so every E/C/X/D/U it means
//! to be valid names a live order with enough shares, and each anomaly it injects is
//! one by construction; `expected` counts them (the `BookStats` anomaly fields it can
//! know without a book: everything but `crossed`). Prices cluster near each locate's
//! moving mid (most adds at or next to it), deletes mostly take recent orders, so
//! updates concentrate near the top of book while deep levels exist too.

#![allow(dead_code)]

use std::collections::HashMap;

use hotpath_book::{BookStats, Side};

use super::Ev;

/// splitmix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Failures before the first success, success probability `p`.
    pub fn geometric(&mut self, p: f64) -> u64 {
        let u = self.unit().max(1e-300);
        (u.ln() / (1.0 - p).ln()).floor() as u64
    }
}

/// How references are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefMode {
    /// Increasing, with occasional small gaps (as Nasdaq assigns them).
    Sequential,
    /// Random 40-bit values: collisions and long probe runs in a small table.
    Scattered,
}

#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    /// Locates used: `1..=locates`.
    pub locates: u16,
    /// Locates at or above this are out of range for the books (for injection).
    pub max_locates: usize,
    /// Chance that an event is an anomaly.
    pub anomaly_rate: f64,
    pub refs: RefMode,
    /// Live orders to hover around.
    pub live_target: usize,
    /// Chance that an add is priced through the other side (crossing).
    pub cross_rate: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            locates: 16,
            max_locates: 64,
            anomaly_rate: 0.02,
            refs: RefMode::Sequential,
            live_target: 2_000,
            cross_rate: 0.002,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Live {
    locate: u16,
    side: Side,
    shares: u32,
}

pub struct Gen {
    pub cfg: GenConfig,
    pub rng: Rng,
    live: HashMap<u64, Live>,
    live_vec: Vec<u64>,
    live_pos: HashMap<u64, usize>,
    /// Recently issued references, newest last (for young-biased picks).
    recent: Vec<u64>,
    used: std::collections::HashSet<u64>,
    next_ref: u64,
    mids: Vec<u32>,
    /// Anomalies injected so far (and zero-share events), in `BookStats` fields.
    pub expected: BookStats,
    pub emitted: u64,
}

const TICK: u32 = 100;

impl Gen {
    pub fn new(cfg: GenConfig) -> Gen {
        let mut rng = Rng::new(cfg.seed);
        let mids = (0..=cfg.locates as u32)
            .map(|_| (20 + rng.below(400) as u32) * TICK * 10)
            .collect();
        Gen {
            rng,
            live: HashMap::new(),
            live_vec: Vec::new(),
            live_pos: HashMap::new(),
            recent: Vec::new(),
            used: Default::default(),
            next_ref: 1 + (cfg.seed % 1000) * 1_000_000,
            mids,
            cfg,
            expected: BookStats::default(),
            emitted: 0,
        }
    }

    pub fn live_orders(&self) -> usize {
        self.live.len()
    }

    fn fresh_ref(&mut self) -> u64 {
        loop {
            let r = match self.cfg.refs {
                RefMode::Sequential => {
                    self.next_ref += 1 + if self.rng.chance(0.05) {
                        self.rng.below(5)
                    } else {
                        0
                    };
                    self.next_ref
                }
                RefMode::Scattered => self.rng.next_u64() & ((1 << 40) - 1),
            };
            if self.used.insert(r) {
                self.recent.push(r);
                if self.recent.len() > 4096 {
                    self.recent.drain(..2048);
                }
                return r;
            }
        }
    }

    /// A reference never issued (and never to be: fresh refs skip it).
    fn unknown_ref(&mut self) -> u64 {
        loop {
            let r = (1u64 << 50) + self.rng.below(1 << 40);
            if self.used.insert(r) {
                return r;
            }
        }
    }

    fn add_live(&mut self, r: u64, o: Live) {
        self.live.insert(r, o);
        self.live_pos.insert(r, self.live_vec.len());
        self.live_vec.push(r);
    }

    fn remove_live(&mut self, r: u64) -> Live {
        let o = self.live.remove(&r).expect("live");
        let p = self.live_pos.remove(&r).expect("pos");
        self.live_vec.swap_remove(p);
        if p < self.live_vec.len() {
            self.live_pos.insert(self.live_vec[p], p);
        }
        o
    }

    fn pick_live(&mut self) -> Option<u64> {
        if self.live_vec.is_empty() {
            return None;
        }
        if self.rng.chance(0.7) && !self.recent.is_empty() {
            for _ in 0..4 {
                let back = (self.rng.geometric(0.05) as usize).min(self.recent.len() - 1);
                let r = self.recent[self.recent.len() - 1 - back];
                if self.live.contains_key(&r) {
                    return Some(r);
                }
            }
        }
        Some(self.live_vec[self.rng.below(self.live_vec.len() as u64) as usize])
    }

    fn pick_locate(&mut self) -> u16 {
        // Skewed: low locates busier.
        let n = self.cfg.locates as u64;
        let a = 1 + self.rng.below(n);
        let b = 1 + self.rng.below(n);
        a.min(b) as u16
    }

    fn shares(&mut self) -> u32 {
        if self.rng.chance(0.2) {
            1 + self.rng.below(99) as u32
        } else {
            100 * (1 + self.rng.geometric(0.4) as u32)
        }
    }

    fn price(&mut self, locate: u16, side: Side) -> u32 {
        let mid = self.mids[locate as usize];
        let off = if self.rng.chance(0.5) {
            0
        } else if self.rng.chance(0.8) {
            1 + self.rng.below(3) as u32
        } else {
            4 + self.rng.geometric(0.08) as u32
        };
        if self.rng.chance(self.cfg.cross_rate) {
            // Through the other side.
            return match side {
                Side::Buy => mid + (1 + self.rng.below(3) as u32) * TICK,
                Side::Sell => mid - (1 + self.rng.below(3) as u32) * TICK,
            };
        }
        match side {
            Side::Buy => mid.saturating_sub(off * TICK).max(TICK),
            Side::Sell => mid + TICK + off * TICK,
        }
    }

    fn drift(&mut self, locate: u16) {
        if self.rng.chance(0.01) {
            let m = &mut self.mids[locate as usize];
            if self.rng.chance(0.5) {
                *m += TICK;
            } else if *m > 10 * TICK {
                *m -= TICK;
            }
        }
    }

    fn side(&mut self) -> Side {
        if self.rng.chance(0.5) {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// A locate other than `l` (for mismatches).
    fn other_locate(&mut self, l: u16) -> u16 {
        let n = self.cfg.locates.max(2) as u64;
        let o = 1 + self.rng.below(n) as u16;
        if o == l {
            if l == 1 {
                2
            } else {
                1
            }
        } else {
            o
        }
    }

    pub fn next_event(&mut self) -> Ev {
        self.emitted += 1;
        let anomaly = self.rng.chance(self.cfg.anomaly_rate);
        let lean = if self.live.len() < self.cfg.live_target {
            0.08
        } else {
            -0.08
        };
        let u = self.rng.unit();
        if u < 0.40 + lean || self.live.is_empty() {
            self.add(anomaly)
        } else if u < 0.72 {
            self.delete(anomaly)
        } else if u < 0.84 {
            self.replace(anomaly)
        } else if u < 0.90 {
            self.execute(anomaly, false)
        } else if u < 0.92 {
            self.execute(anomaly, true)
        } else if u < 0.96 {
            self.cancel(anomaly)
        } else if u < 0.98 {
            let locate = if anomaly {
                self.out_of_range()
            } else {
                self.pick_locate()
            };
            Ev::Trade {
                locate,
                order_ref: 0,
                side: self.side(),
                shares: self.shares(),
                price: self.mids[(locate as usize).min(self.cfg.locates as usize)],
            }
        } else if u < 0.985 {
            let locate = if anomaly {
                self.out_of_range()
            } else {
                self.pick_locate()
            };
            let mut symbol = *b"SYM     ";
            symbol[3] = b'A' + (locate % 26) as u8;
            Ev::Directory { locate, symbol }
        } else if u < 0.99 {
            let locate = if anomaly {
                self.out_of_range()
            } else {
                self.pick_locate()
            };
            let state = [b'H', b'P', b'Q', b'T'][self.rng.below(4) as usize];
            Ev::TradingAction { locate, state }
        } else {
            Ev::System {
                code: b"OSQMEC"[self.rng.below(6) as usize],
            }
        }
    }

    fn out_of_range(&mut self) -> u16 {
        if self.cfg.max_locates >= 65536 {
            return 1;
        }
        self.expected.locate_out_of_range += 1;
        (self.cfg.max_locates + self.rng.below((65536 - self.cfg.max_locates) as u64) as usize)
            as u16
    }

    fn add(&mut self, anomaly: bool) -> Ev {
        let locate = self.pick_locate();
        self.drift(locate);
        let side = self.side();
        let price = self.price(locate, side);
        let shares = self.shares();
        if anomaly {
            match self.rng.below(3) {
                0 if !self.live_vec.is_empty() => {
                    let r = self.live_vec[self.rng.below(self.live_vec.len() as u64) as usize];
                    self.expected.duplicate_refs += 1;
                    return Ev::Add {
                        locate,
                        order_ref: r,
                        side,
                        shares,
                        price,
                    };
                }
                1 => {
                    let r = self.fresh_ref();
                    self.expected.zero_shares += 1;
                    return Ev::Add {
                        locate,
                        order_ref: r,
                        side,
                        shares: 0,
                        price,
                    };
                }
                _ => {
                    let r = self.fresh_ref();
                    let locate = self.out_of_range();
                    if locate as usize >= self.cfg.max_locates {
                        return Ev::Add {
                            locate,
                            order_ref: r,
                            side,
                            shares,
                            price,
                        };
                    }
                }
            }
        }
        let r = self.fresh_ref();
        self.add_live(
            r,
            Live {
                locate,
                side,
                shares,
            },
        );
        Ev::Add {
            locate,
            order_ref: r,
            side,
            shares,
            price,
        }
    }

    /// The locate a valid event names, or with a small chance another (a mismatch).
    fn named_locate(&mut self, o: Live, anomaly: bool) -> u16 {
        if anomaly && self.rng.chance(0.3) {
            self.expected.locate_mismatches += 1;
            self.other_locate(o.locate)
        } else {
            o.locate
        }
    }

    fn delete(&mut self, anomaly: bool) -> Ev {
        if anomaly && self.rng.chance(0.6) {
            self.expected.unknown_refs += 1;
            let order_ref = self.unknown_ref();
            let locate = self.pick_locate();
            return Ev::Delete { locate, order_ref };
        }
        let Some(r) = self.pick_live() else {
            return self.add(false);
        };
        let o = self.remove_live(r);
        let locate = self.named_locate(o, anomaly);
        Ev::Delete {
            locate,
            order_ref: r,
        }
    }

    fn replace(&mut self, anomaly: bool) -> Ev {
        let kind = if anomaly { self.rng.below(5) } else { 99 };
        if kind == 0 {
            self.expected.unknown_refs += 1;
            let old_ref = self.unknown_ref();
            let new_ref = self.fresh_ref();
            let locate = self.pick_locate();
            return Ev::Replace {
                locate,
                old_ref,
                new_ref,
                shares: 100,
                price: 100 * TICK,
            };
        }
        let Some(old) = self.pick_live() else {
            return self.add(false);
        };
        let o = self.remove_live(old);
        let locate = if kind == 1 {
            self.named_locate(o, true)
        } else {
            o.locate
        };
        let shares = if kind == 2 {
            self.expected.zero_shares += 1;
            0
        } else if self.rng.chance(0.3) {
            o.shares
        } else {
            self.shares()
        };
        let price = if self.rng.chance(0.4) {
            // Often unchanged: exercises the in-place requeue.
            self.mids[o.locate as usize] // may or may not equal the old price
        } else {
            self.price(o.locate, o.side)
        };
        if kind == 3 && !self.live_vec.is_empty() {
            let dup = self.live_vec[self.rng.below(self.live_vec.len() as u64) as usize];
            self.expected.duplicate_refs += 1;
            return Ev::Replace {
                locate,
                old_ref: old,
                new_ref: dup,
                shares,
                price,
            };
        }
        let new_ref = if kind == 4 { old } else { self.fresh_ref() };
        if shares > 0 {
            self.add_live(
                new_ref,
                Live {
                    locate: o.locate,
                    side: o.side,
                    shares,
                },
            );
        }
        Ev::Replace {
            locate,
            old_ref: old,
            new_ref,
            shares,
            price,
        }
    }

    fn execute(&mut self, anomaly: bool, with_price: bool) -> Ev {
        let kind = if anomaly { self.rng.below(4) } else { 99 };
        if kind == 0 {
            self.expected.unknown_refs += 1;
            let order_ref = self.unknown_ref();
            let locate = self.pick_locate();
            return if with_price {
                Ev::ExecPrice {
                    locate,
                    order_ref,
                    shares: 100,
                    price: 100 * TICK,
                }
            } else {
                Ev::Exec {
                    locate,
                    order_ref,
                    shares: 100,
                }
            };
        }
        let Some(r) = self.pick_live() else {
            return self.add(false);
        };
        let o = self.live[&r];
        let locate = if kind == 1 {
            self.named_locate(o, true)
        } else {
            o.locate
        };
        let shares = match kind {
            2 => {
                self.expected.executions_clamped += 1;
                o.shares + 1 + self.rng.below(100) as u32
            }
            3 => {
                self.expected.zero_shares += 1;
                0
            }
            _ => {
                if self.rng.chance(0.5) || o.shares == 1 {
                    o.shares
                } else {
                    1 + self.rng.below(o.shares as u64 - 1) as u32
                }
            }
        };
        if shares >= o.shares {
            self.remove_live(r);
        } else if shares > 0 {
            self.live.get_mut(&r).unwrap().shares -= shares;
        }
        if with_price {
            let price = self.mids[o.locate as usize];
            Ev::ExecPrice {
                locate,
                order_ref: r,
                shares,
                price,
            }
        } else {
            Ev::Exec {
                locate,
                order_ref: r,
                shares,
            }
        }
    }

    fn cancel(&mut self, anomaly: bool) -> Ev {
        let kind = if anomaly { self.rng.below(4) } else { 99 };
        if kind == 0 {
            self.expected.unknown_refs += 1;
            let order_ref = self.unknown_ref();
            let locate = self.pick_locate();
            return Ev::Cancel {
                locate,
                order_ref,
                shares: 100,
            };
        }
        let Some(r) = self.pick_live() else {
            return self.add(false);
        };
        let o = self.live[&r];
        let locate = if kind == 1 {
            self.named_locate(o, true)
        } else {
            o.locate
        };
        let shares = match kind {
            2 => {
                self.expected.cancels_clamped += 1;
                o.shares + 1 + self.rng.below(100) as u32
            }
            3 => {
                self.expected.zero_shares += 1;
                0
            }
            _ => {
                if o.shares == 1 || self.rng.chance(0.1) {
                    o.shares // a cancel of everything left: the order goes
                } else {
                    1 + self.rng.below(o.shares as u64 - 1) as u32
                }
            }
        };
        if shares >= o.shares {
            self.remove_live(r);
        } else if shares > 0 {
            self.live.get_mut(&r).unwrap().shares -= shares;
        }
        Ev::Cancel {
            locate,
            order_ref: r,
            shares,
        }
    }
}

impl Iterator for Gen {
    type Item = Ev;
    fn next(&mut self) -> Option<Ev> {
        Some(self.next_event())
    }
}
