//! The order table: orders by 64-bit reference number in pre-allocated, stable slots.
//!
//! Open addressing over `2^k` home slots (plus `max_probe` spill slots past the end, so
//! probe runs never wrap). References are cut into runs of 8 (`BLOCK_BITS`): a run
//! keeps its order inside one 256-byte block of slots (the increasing references of a
//! day fill consecutive slots, two per cache line), and the run number is scrambled
//! (Fibonacci hashing) to pick the block. So a burst of long-lived orders (an opening,
//! a warm-up) does not leave one dense stretch of the table that later laps of
//! references must probe through, and references that differ only in high bits still
//! spread out.
//!
//! The runs are short because late in a day every block holds survivors of earlier
//! laps (a quarter of the homes at the published peak of live orders). A new run is
//! dense, so each survivor in its way pushes every later reference of the run one slot
//! further from home: displacement grows with the run's length. Runs of 128 (4 KiB,
//! once chosen for the hardware prefetcher's sake) left 96% of new orders off their
//! home's line and some 61 slots away, past the neighbourhood; runs of 8 leave about
//! half on it and none beyond 6 (the `new_references_among_survivors` test), and
//! replay a generated 50 M-message day 6-8 ns a message faster. On a day with few live
//! orders the long runs were 1-3 ns faster (docs/PERFORMANCE.md).
//!
//! Membership is a hopscotch-style bitmap kept in each home slot: bit `d` (d < 31) of
//! `slots[h].hop` says that `slots[h + d]` holds an order whose home is `h`; bit 31
//! says that at least one order homed at `h` lies further than 30 slots away (then
//! `h + 31 ..= h + max_far` is scanned). So a lookup reads the home slot's line, and
//! in the common case finds the order in it; an unknown reference costs that one
//! line too. Entries never move once placed (no robin hood, no backward shift), so
//! the slot index is a stable handle for the price-level queues threaded through the
//! entries. Freeing a slot needs no tombstone: its bit goes, and the slot is free.

/// All ones if `b`, else zero.
#[inline(always)]
fn mask(b: bool) -> usize {
    (b as usize).wrapping_neg()
}

/// Slots past the spill slots that no order is placed in: [`OrderTable::blank`] and
/// [`OrderTable::scratch`].
pub(crate) const SPARE: usize = 2;

/// Marks "no slot" in queue links.
pub(crate) const NIL: u32 = u32::MAX;
/// Size of one slot.
pub(crate) const SLOT_BYTES: usize = std::mem::size_of::<Slot>();
/// Slots per 64-byte cache line.
const SLOTS_PER_LINE: usize = 64 / SLOT_BYTES;

const LIVE: u8 = 1;
const SELL: u8 = 2;
/// Neighbourhood bits: displacements 0..=30 are recorded exactly.
const NEAR: u32 = 31;
const NEAR_MASK: u32 = (1 << NEAR) - 1;
const FAR: u32 = 1 << NEAR;
/// References per run kept together in one block of slots: 2^3 = 8 slots = 256 bytes,
/// four lines.
const BLOCK_BITS: u32 = 3;

/// One order (or a free slot). 32 bytes, aligned to 32: two per cache line, never
/// one across two. (Unaligned, the table started 16 bytes into a line, where a large
/// `malloc` puts it, and every other slot straddled two lines: a lookup needed both.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(32))]
pub(crate) struct Slot {
    pub order_ref: u64,
    pub shares: u32,
    pub price: u32,
    /// Previous (older) order at the same price level, or NIL.
    pub prev: u32,
    /// Next (younger) order at the same price level, or NIL.
    pub next: u32,
    /// Membership bitmap of the orders whose home is this slot (see the module docs).
    /// Belongs to the slot position, not to the order stored in it.
    pub hop: u32,
    pub locate: u16,
    flags: u8,
    /// How far the order lies past its home (`NEAR` for that far or further), so
    /// that freeing it needs no hash of its reference. Belongs to the order.
    disp: u8,
}

const _: () = assert!(SLOT_BYTES == 32);

impl Slot {
    const EMPTY: Slot = Slot {
        order_ref: 0,
        shares: 0,
        price: 0,
        prev: NIL,
        next: NIL,
        hop: 0,
        locate: 0,
        flags: 0,
        disp: 0,
    };

    #[inline]
    pub fn live(&self) -> bool {
        self.flags & LIVE != 0
    }

    #[inline]
    pub fn side(&self) -> crate::Side {
        if self.flags & SELL != 0 {
            crate::Side::Sell
        } else {
            crate::Side::Buy
        }
    }

    #[inline]
    pub fn set_side(&mut self, side: crate::Side) {
        self.flags = LIVE | ((side as u8) << 1);
    }
}

/// Home slots for `capacity` orders: at least twice as many, a power of two. A day's
/// references fill the table in runs, so a run meets the survivors of earlier laps;
/// under half full, probe runs stay within the 31-slot neighbourhood.
pub(crate) fn homes(capacity: usize) -> usize {
    // At least two blocks, so the block number has at least one bit (a shift below 64).
    (2 * capacity).next_power_of_two().max(2 << BLOCK_BITS)
}

/// What [`OrderTable::claim_new`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The key now lives in this slot.
    Placed(u32),
    /// The key was live already; nothing changed.
    Duplicate,
    /// No free slot within `max_probe` of its home; nothing changed.
    Full,
}

pub(crate) struct OrderTable {
    pub slots: Vec<Slot>,
    /// 64 minus the number of block-number bits (for Fibonacci hashing).
    block_shift: u32,
    max_probe: usize,
    /// Largest displacement beyond the neighbourhood ever placed (0 if none) since the
    /// last reset: how far a far-bit scan must look.
    max_far: usize,
    /// Largest displacement ever placed.
    pub max_disp: usize,
    pub live: u64,
    /// Placements beyond the neighbourhood.
    pub far_placements: u64,
}

impl Clone for OrderTable {
    fn clone(&self) -> OrderTable {
        let mut t = OrderTable {
            slots: Vec::new(),
            ..*self
        };
        t.slots = self.slots.clone();
        t
    }

    /// Copies into the existing slots (no allocation when the sizes match).
    fn clone_from(&mut self, source: &OrderTable) {
        self.slots.clone_from(&source.slots);
        self.block_shift = source.block_shift;
        self.max_probe = source.max_probe;
        self.max_far = source.max_far;
        self.max_disp = source.max_disp;
        self.live = source.live;
        self.far_placements = source.far_placements;
    }
}

impl OrderTable {
    /// A table for `capacity` live orders: `homes(capacity)` home slots.
    pub fn new(capacity: usize, max_probe: usize) -> OrderTable {
        let homes = homes(capacity);
        OrderTable {
            // Writes (so faults in) every slot now, not on the hot path.
            slots: hotpath_hw::mem::huge_vec(homes + max_probe + SPARE, Slot::EMPTY),
            block_shift: 64 - (homes.trailing_zeros() - BLOCK_BITS),
            max_probe,
            max_far: 0,
            max_disp: 0,
            live: 0,
            far_placements: 0,
        }
    }

    pub fn reset(&mut self) {
        self.slots.fill(Slot::EMPTY);
        self.max_far = 0;
        self.max_disp = 0;
        self.live = 0;
        self.far_placements = 0;
    }

    #[inline(always)]
    pub fn home(&self, key: u64) -> usize {
        let run = key >> BLOCK_BITS;
        // The top bits of the scrambled run number: a block below homes >> BLOCK_BITS
        // (there are at least two blocks, so the shift is below 64).
        let block = run.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.block_shift;
        ((block << BLOCK_BITS) | (key & ((1 << BLOCK_BITS) - 1))) as usize
    }

    /// The slot holding `key`, if live.
    #[inline(always)]
    pub fn find(&self, key: u64) -> Option<u32> {
        self.find_from(self.home(key), key)
    }

    /// [`Self::find`] with the home slot already computed.
    #[inline(always)]
    fn find_from(&self, h: usize, key: u64) -> Option<u32> {
        let hop = self.slots[h].hop;
        let mut near = hop & NEAR_MASK;
        while near != 0 {
            let i = h + near.trailing_zeros() as usize;
            if self.slots[i].order_ref == key {
                return Some(i as u32);
            }
            near &= near - 1;
        }
        if hop & FAR != 0 {
            return self.find_far(h, key);
        }
        None
    }

    #[cold]
    #[inline(never)]
    fn find_far(&self, h: usize, key: u64) -> Option<u32> {
        let end = (h + self.max_far).min(self.slots.len() - 1);
        (h + NEAR as usize..=end)
            .find(|&i| {
                let s = &self.slots[i];
                s.live() && s.order_ref == key
            })
            .map(|i| i as u32)
    }

    /// Starts loading the home slot of `key` and the line after it (prefetches:
    /// nothing waits for them), so a lookup soon after finds them in cache. The second
    /// line is for an order displaced past its home's line, which happens to about
    /// half of new orders late in a day (see the module docs); with it the second
    /// stage reaches their neighbours too (1.6 ns a message faster on a 50 M day).
    /// Returns the home, for [`Self::touch_neighbours`].
    #[inline(always)]
    pub fn touch(&self, key: u64) -> usize {
        let h = self.home(key);
        if let Some(s) = self.slots.get(h) {
            hotpath_hw::mem::prefetch(s);
        }
        if let Some(s) = self.slots.get(h + SLOTS_PER_LINE) {
            hotpath_hw::mem::prefetch(s);
        }
        h
    }

    /// Second stage of a prefetch: reads home slot `h` (from [`Self::touch`] a few
    /// messages earlier, so in cache by now) and starts loading the queue neighbours
    /// of the first order in its neighbourhood, which a delete or full execution will
    /// unlink. That order is not checked to be `key`'s: under half full it nearly
    /// always is, a wrong guess only loads lines nobody needs, and the check would be
    /// a branch on data. If that order lies beyond the two lines the first stage
    /// loaded, it starts loading its line instead of its neighbours. With `wanted`
    /// false the prefetches go to a slot in cache, chosen without a branch.
    #[inline(always)]
    pub fn touch_neighbours(&self, h: usize, wanted: bool) {
        let Some(home) = self.slots.get(h) else {
            return;
        };
        // An empty neighbourhood gives h + 31 (a spill slot at worst: there are
        // max_probe >= 32 of them).
        let d = (home.hop | FAR).trailing_zeros() as usize;
        let last = self.slots.len() - 1;
        let i = (h + (d & mask(wanted))).min(last);
        // The first stage loaded the home slot's line and the next. An order displaced
        // further is not read here, which would wait for DRAM: its line is
        // prefetched, and its neighbours are left to the apply.
        let base = self.slots.as_ptr() as usize / SLOT_BYTES;
        let loaded = (base + i) / SLOTS_PER_LINE - (base + h) / SLOTS_PER_LINE <= 1;
        hotpath_hw::mem::prefetch(&self.slots[i]);
        // The neighbours are read from the order's slot, or from the blank slot
        // (neighbours NIL, so the loads go to the last slot, in cache) when they are
        // not wanted or the order's line is not loaded yet. Chosen under a mask, not
        // by a branch: which case a message is in is data, and as a branch (an `if`,
        // or a select that the compiler made a branch to skip the neighbours' loads)
        // it was mispredicted on half the messages in valgrind's branch simulation.
        let blank = self.blank();
        let from = blank ^ ((i ^ blank) & mask(wanted & loaded));
        let s = &self.slots[from];
        for n in [s.prev, s.next] {
            hotpath_hw::mem::prefetch(&self.slots[(n as usize).min(last)]);
        }
    }

    /// A slot no order is ever placed in, and that nothing writes: its queue links
    /// stay NIL. (The one before the scratch slot; a claim reaches at most
    /// `homes - 1 + max_probe`, the slot before it.)
    #[inline(always)]
    pub(crate) fn blank(&self) -> usize {
        self.slots.len() - 2
    }

    /// A slot no order is ever placed in (the last). Queue code stores into it
    /// instead of branching on whether a neighbour exists; it stays free, so nothing
    /// reads what is stored. NIL clamped to it (`min`) is it: there are under
    /// `NIL` slots (at most 2^31 homes, for a capacity of at most 2^30).
    #[inline(always)]
    pub fn scratch(&self) -> usize {
        self.slots.len() - 1
    }

    /// Places `key` (which must not be live) in the first free slot at or after its
    /// home, marks it live and returns the slot; `None` if none within `max_probe`.
    /// The caller sets the other fields.
    #[inline]
    pub fn claim(&mut self, key: u64) -> Option<u32> {
        let h = self.home(key);
        self.claim_at(h, key)
    }

    /// [`Self::claim`] for a key that may be live already: one look at its home
    /// answers both questions (a new order's reference is checked and placed with one
    /// hash and one home line).
    #[inline(always)]
    pub fn claim_new(&mut self, key: u64) -> Claim {
        let h = self.home(key);
        if self.find_from(h, key).is_some() {
            return Claim::Duplicate;
        }
        match self.claim_at(h, key) {
            Some(i) => Claim::Placed(i),
            None => Claim::Full,
        }
    }

    #[inline(always)]
    fn claim_at(&mut self, h: usize, key: u64) -> Option<u32> {
        let d = if !self.slots[h].live() {
            0
        } else {
            self.slots[h + 1..=h + self.max_probe]
                .iter()
                .position(|s| !s.live())?
                + 1
        };
        let i = h + d;
        if d < NEAR as usize {
            self.slots[h].hop |= 1 << d;
        } else {
            self.slots[h].hop |= FAR;
            self.max_far = self.max_far.max(d);
            self.far_placements += 1;
        }
        self.max_disp = self.max_disp.max(d);
        let s = &mut self.slots[i];
        s.order_ref = key;
        s.flags = LIVE;
        s.disp = d.min(NEAR as usize) as u8;
        self.live += 1;
        Some(i as u32)
    }

    /// Frees slot `i` (which must be live).
    #[inline]
    pub fn release(&mut self, i: u32) {
        let i = i as usize;
        let s = &mut self.slots[i];
        s.flags = 0;
        s.prev = NIL;
        s.next = NIL;
        let d = s.disp as usize;
        self.live -= 1;
        if d < NEAR as usize {
            self.slots[i - d].hop &= !(1 << d);
        } else {
            self.release_far(i);
        }
    }

    /// [`Self::release`] of slot `i`, whose order lay beyond its home's
    /// neighbourhood: its home from its reference (a hash, which the common case does
    /// without).
    #[cold]
    #[inline(never)]
    fn release_far(&mut self, i: usize) {
        let h = self.home(self.slots[i].order_ref);
        // Keep the far bit while another order homed at h still lies beyond the
        // neighbourhood.
        let end = (h + self.max_far).min(self.slots.len() - 1);
        let still = (h + NEAR as usize..=end).any(|j| {
            let s = &self.slots[j];
            s.live() && self.home(s.order_ref) == h
        });
        if !still {
            self.slots[h].hop &= !FAR;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_slot_spans_two_cache_lines() {
        // A large allocation starts 16 bytes into a line unless the type asks for
        // more: with 32-byte slots aligned to 32, each lies within one line.
        let t = OrderTable::new(1 << 16, 64);
        let base = t.slots.as_ptr() as usize;
        assert_eq!(base % 32, 0, "table at {base:#x}");
        for i in [0, 1, 2, 3, t.slots.len() - 1] {
            let a = std::ptr::addr_of!(t.slots[i]) as usize;
            assert_eq!(a / 64, (a + SLOT_BYTES - 1) / 64, "slot {i} at {a:#x}");
        }
    }

    #[test]
    fn sequential_keys_take_consecutive_slots_within_a_block() {
        let mut t = OrderTable::new(1 << 16, 64);
        let base = 1u64 << 20;
        for k in base..base + 1000 {
            let i = t.claim(k).unwrap();
            assert_eq!(i as usize, t.home(k));
            assert_eq!(t.find(k), Some(i));
            if k % (1 << BLOCK_BITS) != 0 {
                assert_eq!(t.home(k), t.home(k - 1) + 1);
            }
        }
        assert_eq!(t.find(5000), None);
        // Runs spread over the table.
        let blocks: std::collections::HashSet<usize> = (0..512u64)
            .map(|r| t.home(r << BLOCK_BITS) >> BLOCK_BITS)
            .collect();
        assert!(blocks.len() > 300, "{}", blocks.len());
    }

    #[test]
    fn new_references_among_survivors_stay_on_their_home_line() {
        // Late in a day the table holds long-lived orders from earlier laps of the
        // references, spread all over it (here a quarter of the homes), and each
        // new stretch of references has to fit between them. Placed in long runs,
        // every survivor in a run's way pushed all later references of the run one
        // slot further from home, off the lines the second prefetch stage reads and
        // out of the neighbourhood.
        let mut t = OrderTable::new(1 << 14, 64);
        let homes = homes(1 << 14) as u64;
        let mut survivors = 0;
        for k in 0..4 * homes {
            // A fixed scramble of k: keeps about one in 16.
            if (k.wrapping_mul(0xD1B5_4A32_D192_ED03) >> 60) == 0 {
                assert!(t.claim(k).is_some());
                survivors += 1;
            }
        }
        assert!(survivors > homes / 4 - homes / 40, "{survivors} survivors");
        let base = t.slots.as_ptr() as usize / SLOT_BYTES;
        let line = |i: usize| (base + i) / SLOTS_PER_LINE;
        let (mut on_line, mut worst) = (0, 0);
        let fresh = 4 * homes..4 * homes + 4096;
        for k in fresh.clone() {
            let i = t.claim(k).expect("room") as usize;
            let h = t.home(k);
            on_line += usize::from(line(i) == line(h));
            worst = worst.max(i - h);
        }
        let share = on_line as f64 / fresh.count() as f64;
        // Runs of 8: 49% on their home's line, displaced by at most 6. (Runs of 128
        // gave 4% and 61.)
        assert!(share > 0.35, "{:.0}% on their home's line", share * 100.0);
        assert!(worst < NEAR as usize, "displaced by up to {worst}");
    }

    #[test]
    fn collisions_probe_and_release_clears_membership() {
        let mut t = OrderTable::new(64, 64);
        // Keys with the same home: k and k + 64 * m differ above bit 6 but the fold
        // moves them; build keys with the same home explicitly.
        let h0 = t.home(7);
        let mut same = vec![7u64];
        let mut k = 8u64;
        while same.len() < 40 {
            if t.home(k) == h0 {
                same.push(k);
            }
            k += 1;
        }
        let slots: Vec<u32> = same.iter().map(|&k| t.claim(k).unwrap()).collect();
        for (k, s) in same.iter().zip(&slots) {
            assert_eq!(t.find(*k), Some(*s), "key {k}");
        }
        assert!(t.far_placements > 0);
        // Remove the far ones: the far bit goes with the last of them.
        for (k, s) in same.iter().zip(&slots).rev().take(15) {
            t.release(*s);
            assert_eq!(t.find(*k), None);
        }
        assert_eq!(t.slots[h0].hop & FAR, 0);
        for (k, s) in same.iter().zip(&slots).take(25) {
            assert_eq!(t.find(*k), Some(*s));
        }
    }

    #[test]
    fn claim_new_places_once_and_refuses_a_live_key() {
        let mut t = OrderTable::new(64, 32);
        assert!(matches!(t.claim_new(42), Claim::Placed(_)));
        let Claim::Placed(i) = t.claim_new(43) else {
            panic!("43 not placed")
        };
        assert_eq!(t.claim_new(42), Claim::Duplicate);
        assert_eq!(t.claim_new(43), Claim::Duplicate);
        assert_eq!(t.live, 2);
        t.release(i);
        assert_eq!(t.claim_new(43), Claim::Placed(i));
        // A key far from its home (past the neighbourhood) is still found as live.
        // (An empty table: 42 and 43 could lie in the probe range used below.)
        let mut t = OrderTable::new(64, 32);
        let h0 = t.home(0);
        let mut k = 1u64;
        let mut same = vec![0u64];
        while same.len() < 33 {
            if t.home(k) == h0 {
                same.push(k);
            }
            k += 1;
        }
        for &key in &same {
            assert!(matches!(t.claim_new(key), Claim::Placed(_)), "key {key}");
        }
        assert!(t.far_placements > 0);
        for &key in &same {
            assert_eq!(t.claim_new(key), Claim::Duplicate, "key {key}");
        }
        while t.home(k) != h0 {
            k += 1;
        }
        assert_eq!(t.claim_new(k), Claim::Full);
    }

    #[test]
    fn no_claim_reaches_the_spare_slots() {
        // Keys homed at the last home fill its whole probe range, the spill slots
        // past the end included; the one after them must find the table full.
        let mut t = OrderTable::new(64, 32);
        let last_home = t.slots.len() - 32 - SPARE - 1;
        let mut placed = 0;
        let mut k = 0u64;
        loop {
            if t.home(k) == last_home {
                match t.claim_new(k) {
                    Claim::Placed(i) => {
                        assert!((i as usize) < t.blank(), "key {k} in slot {i}");
                        placed += 1;
                    }
                    Claim::Full => break,
                    Claim::Duplicate => unreachable!(),
                }
            }
            k += 1;
        }
        assert_eq!(placed, 33);
        for spare in [t.blank(), t.scratch()] {
            assert!(!t.slots[spare].live());
        }
    }

    #[test]
    fn full_neighbourhood_returns_none() {
        let mut t = OrderTable::new(64, 32);
        let h0 = t.home(0);
        let mut n = 0;
        let mut k = 0u64;
        while n < 33 {
            if t.home(k) == h0 {
                assert!(t.claim(k).is_some());
                n += 1;
            }
            k += 1;
        }
        while t.home(k) != h0 {
            k += 1;
        }
        assert_eq!(t.claim(k), None);
    }
}
