//! Price levels: one pre-allocated pool, carved into per-side blocks.
//!
//! Each book side keeps its levels in one contiguous block, sorted by key ascending
//! with the best level LAST (bids: key = price; asks: key = !price, so the lowest ask
//! has the highest key). Most updates land on the best few levels, so a search from
//! the end finds them in one or two cache lines, and adding or removing a level near
//! the top moves only the few levels above it. Levels are found by price, so moving
//! them within a block (or to a bigger block) invalidates nothing.
//!
//! Blocks come from a pool of `max_levels` slots in power-of-two sizes (8, 16, 32, ...):
//! a free list per size, a bump pointer, and splitting of a bigger free block when
//! both are empty. A side that fills its block moves to one twice the size and frees
//! the old one; sides never shrink.

use crate::table::NIL;

pub(crate) const LEVEL_BYTES: usize = std::mem::size_of::<LevelSlot>();
/// Smallest block: 2^3 = 8 levels.
pub(crate) const MIN_CLASS: u8 = 3;
const CLASSES: usize = 32;

/// One price level: aggregates and its order queue (time priority: head is oldest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LevelSlot {
    pub key: u32,
    pub orders: u32,
    pub shares: u64,
    pub head: u32,
    pub tail: u32,
}

const _: () = assert!(LEVEL_BYTES == 24);

impl LevelSlot {
    pub const EMPTY: LevelSlot = LevelSlot {
        key: 0,
        orders: 0,
        shares: 0,
        head: NIL,
        tail: NIL,
    };

    pub fn new(key: u32) -> LevelSlot {
        LevelSlot {
            key,
            ..LevelSlot::EMPTY
        }
    }
}

/// Finds `key` in a side's sorted block: `Ok(index)` or `Err(insertion index)`.
/// Scans the best (last) eight levels, then bisects the rest.
#[inline(always)]
pub(crate) fn search(seg: &[LevelSlot], key: u32) -> Result<usize, usize> {
    let mut i = seg.len();
    let lim = i.saturating_sub(8);
    while i > lim {
        let k = seg[i - 1].key;
        if k == key {
            return Ok(i - 1);
        }
        if k < key {
            return Err(i);
        }
        i -= 1;
    }
    if i == 0 {
        return Err(0);
    }
    search_deep(&seg[..i], key)
}

#[inline(never)]
fn search_deep(seg: &[LevelSlot], key: u32) -> Result<usize, usize> {
    seg.binary_search_by(|l| l.key.cmp(&key))
}

pub(crate) struct LevelPool {
    pub lv: Vec<LevelSlot>,
    free: [u32; CLASSES],
    bump: usize,
    /// Slots handed out in blocks (in use by sides or in free lists' blocks carved).
    pub in_blocks: u64,
}

impl Clone for LevelPool {
    fn clone(&self) -> LevelPool {
        LevelPool {
            lv: self.lv.clone(),
            free: self.free,
            bump: self.bump,
            in_blocks: self.in_blocks,
        }
    }

    /// Copies into the existing pool (no allocation when the sizes match).
    fn clone_from(&mut self, source: &LevelPool) {
        self.lv.clone_from(&source.lv);
        self.free = source.free;
        self.bump = source.bump;
        self.in_blocks = source.in_blocks;
    }
}

impl LevelPool {
    pub fn new(max_levels: usize) -> LevelPool {
        LevelPool {
            lv: hotpath_hw::mem::huge_vec(max_levels, LevelSlot::EMPTY),
            free: [NIL; CLASSES],
            bump: 0,
            in_blocks: 0,
        }
    }

    pub fn reset(&mut self) {
        self.lv.fill(LevelSlot::EMPTY);
        self.free = [NIL; CLASSES];
        self.bump = 0;
        self.in_blocks = 0;
    }

    /// A block of `2^class` slots, or `None` if the pool cannot supply one.
    pub fn alloc(&mut self, class: u8) -> Option<u32> {
        let c = class as usize;
        if c >= CLASSES {
            return None;
        }
        let b = if self.free[c] != NIL {
            self.pop(c)
        } else if self.bump + (1usize << c) <= self.lv.len() {
            let b = self.bump as u32;
            self.bump += 1 << c;
            b
        } else {
            // Split the smallest bigger free block.
            let mut big = (c + 1..CLASSES).find(|&k| self.free[k] != NIL)?;
            let b = self.pop(big);
            while big > c {
                big -= 1;
                self.push(b + (1u32 << big), big);
            }
            b
        };
        self.in_blocks += 1 << c;
        Some(b)
    }

    pub fn free(&mut self, start: u32, class: u8) {
        self.in_blocks -= 1 << class;
        self.push(start, class as usize);
    }

    fn pop(&mut self, c: usize) -> u32 {
        let b = self.free[c];
        self.free[c] = self.lv[b as usize].head;
        b
    }

    fn push(&mut self, b: u32, c: usize) {
        self.lv[b as usize].head = self.free[c];
        self.free[c] = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(keys: &[u32]) -> Vec<LevelSlot> {
        keys.iter().map(|&k| LevelSlot::new(k)).collect()
    }

    #[test]
    fn search_finds_and_places() {
        let keys: Vec<u32> = (0..40).map(|k| k * 10).collect();
        let s = seg(&keys);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(search(&s, *k), Ok(i));
            assert_eq!(search(&s, *k + 5), Err(i + 1));
        }
        assert_eq!(search(&s, 0), Ok(0));
        assert_eq!(search(&seg(&[5]), 1), Err(0));
        assert_eq!(search(&[], 1), Err(0));
    }

    #[test]
    fn pool_bumps_reuses_and_splits() {
        let mut p = LevelPool::new(64);
        let a = p.alloc(3).unwrap();
        let b = p.alloc(4).unwrap();
        assert_eq!((a, b), (0, 8));
        let c = p.alloc(5).unwrap();
        assert_eq!(c, 24);
        assert!(p.alloc(4).is_none()); // 56 + 16 > 64
        p.free(c, 5);
        assert_eq!(p.alloc(3), Some(56)); // the bump pointer first
                                          // Then the free 32 at 24 splits into 8 + 8 + 16.
        assert_eq!(p.alloc(3), Some(24));
        assert_eq!(p.alloc(4), Some(40));
        assert_eq!(p.alloc(3), Some(32));
        assert!(p.alloc(3).is_none());
        p.free(a, 3);
        assert_eq!(p.alloc(3), Some(0));
    }
}
