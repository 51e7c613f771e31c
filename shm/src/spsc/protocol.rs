//! The SPSC index protocol, separate from where the indices live, so the same code runs
//! over shared memory in production and over loom's model atomics in `tests/loom.rs`.
//!
//! Positions are u64 counters that only grow (2^64 messages never wrap in practice);
//! the slot of position `p` is `p & mask`. The producer owns `tail`, the consumer owns
//! `head`; each keeps a cached copy of the other's index and refreshes it (acquire load)
//! only when the cache says there is no room / nothing to read. Publishing is a release
//! store after the slot writes, so the reader that acquires the index sees the slots.
//!
//! Indices written by the peer are untrusted: a refresh that sees an index go backwards
//! or past the other side is reported as corruption, so no value a hostile or broken
//! peer writes can make a slot access go out of bounds or overlap a slot in use.

use std::sync::atomic::Ordering;

/// Largest position a peer may publish: 2^62 messages is 146 years at a billion a
/// second, and keeping positions this far below 2^64 means no index arithmetic here
/// (or `2n + 2` in the broadcast ring) can overflow, whatever a corrupt file holds.
pub const MAX_POSITION: u64 = 1 << 62;

/// Where an index lives: a std atomic in a mapping, or a loom atomic in a model test.
pub trait IndexCell {
    fn load(&self, order: Ordering) -> u64;
    fn store(&self, value: u64, order: Ordering);
}

impl IndexCell for std::sync::atomic::AtomicU64 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u64 {
        std::sync::atomic::AtomicU64::load(self, order)
    }
    #[inline(always)]
    fn store(&self, value: u64, order: Ordering) {
        std::sync::atomic::AtomicU64::store(self, value, order)
    }
}

/// An index written by the peer that no correct peer could have written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadIndex {
    pub field: &'static str,
    pub value: u64,
    pub why: &'static str,
}

/// The producer's private state.
#[derive(Debug, Clone)]
pub struct ProducerState {
    tail: u64,
    cached_head: u64,
    mask: u64,
}

impl ProducerState {
    /// Resumes at the indices found in the ring (both must already be validated).
    pub fn new(capacity: u64, head: u64, tail: u64) -> Self {
        debug_assert!(capacity.is_power_of_two() && head <= tail && tail - head <= capacity);
        ProducerState {
            tail,
            cached_head: head,
            mask: capacity - 1,
        }
    }

    /// Free slots, refreshing the cached head only if fewer than `want` are known free.
    #[inline(always)]
    pub fn free<I: IndexCell>(&mut self, head: &I, want: u64) -> Result<u64, BadIndex> {
        let capacity = self.mask + 1;
        let free = capacity - (self.tail - self.cached_head);
        if free >= want {
            return Ok(free);
        }
        let h = head.load(Ordering::Acquire);
        if h > MAX_POSITION {
            return Err(BadIndex {
                field: "head",
                value: h,
                why: "exceeds the largest position (2^62)",
            });
        }
        if h < self.cached_head {
            return Err(BadIndex {
                field: "head",
                value: h,
                why: "went backwards",
            });
        }
        if h > self.tail {
            return Err(BadIndex {
                field: "head",
                value: h,
                why: "is past the producer's tail",
            });
        }
        self.cached_head = h;
        Ok(capacity - (self.tail - h))
    }

    /// Slot index of the `k`-th position after the tail.
    #[inline(always)]
    pub fn slot(&self, k: u64) -> usize {
        ((self.tail + k) & self.mask) as usize
    }

    /// Publishes `n` written slots.
    #[inline(always)]
    pub fn commit<I: IndexCell>(&mut self, tail: &I, n: u64) {
        self.tail += n;
        tail.store(self.tail, Ordering::Release);
    }

    /// Position of the next message.
    pub fn tail(&self) -> u64 {
        self.tail
    }
}

/// Most slots the consumer keeps read but unreleased (see [`ConsumerState`]).
pub const MAX_LAZY_RELEASE: u64 = 64;

/// The consumer's release batch for a ring of `capacity` slots: an eighth of the ring,
/// at most [`MAX_LAZY_RELEASE`], at least 1 (no batching).
pub fn lazy_release(capacity: u64) -> u64 {
    (capacity / 8).clamp(1, MAX_LAZY_RELEASE)
}

/// The consumer's private state.
///
/// The consumer releases slots lazily: a commit publishes `head` only once `lazy`
/// slots have been read since the last publication, and every refresh of the cached
/// tail (the consumer ran out of known messages) first publishes whatever is pending.
/// So while the ring stays full the producer, which refreshes its cached head on
/// every push, finds `lazy` free slots per refresh instead of one, and the head's
/// cache line crosses cores once per `lazy` messages instead of once per message.
/// The producer only ever sees less room than there is (never a slot still being
/// read), and a consumer that drains the ring publishes everything at its first empty
/// poll; [`ConsumerState::flush`] publishes on demand (the ring end calls it on drop).
#[derive(Debug, Clone)]
pub struct ConsumerState {
    head: u64,
    /// The head last published.
    published: u64,
    cached_tail: u64,
    mask: u64,
    lazy: u64,
}

impl ConsumerState {
    /// Resumes at the indices found in the ring (both must already be validated), with
    /// the default release batch ([`lazy_release`]).
    pub fn new(capacity: u64, head: u64, tail: u64) -> Self {
        Self::with_lazy(capacity, head, tail, lazy_release(capacity))
    }

    /// [`ConsumerState::new`] releasing slots in batches of `lazy` (1: every commit
    /// publishes; clamped to 1..=capacity).
    pub fn with_lazy(capacity: u64, head: u64, tail: u64, lazy: u64) -> Self {
        debug_assert!(capacity.is_power_of_two() && head <= tail && tail - head <= capacity);
        ConsumerState {
            head,
            published: head,
            cached_tail: tail,
            mask: capacity - 1,
            lazy: lazy.clamp(1, capacity),
        }
    }

    /// Readable slots, refreshing the cached tail only if fewer than `want` are known
    /// (and then first publishing any slots read but not yet released to `head`).
    #[inline(always)]
    pub fn available<I: IndexCell>(
        &mut self,
        tail: &I,
        head: &I,
        want: u64,
    ) -> Result<u64, BadIndex> {
        let avail = self.cached_tail - self.head;
        if avail >= want {
            return Ok(avail);
        }
        self.flush(head);
        let t = tail.load(Ordering::Acquire);
        if t > MAX_POSITION {
            return Err(BadIndex {
                field: "tail",
                value: t,
                why: "exceeds the largest position (2^62)",
            });
        }
        if t < self.cached_tail {
            return Err(BadIndex {
                field: "tail",
                value: t,
                why: "went backwards",
            });
        }
        if t - self.head > self.mask + 1 {
            return Err(BadIndex {
                field: "tail",
                value: t,
                why: "is more than a capacity ahead of the consumer's head",
            });
        }
        self.cached_tail = t;
        Ok(t - self.head)
    }

    /// Slot index of the `k`-th position after the head.
    #[inline(always)]
    pub fn slot(&self, k: u64) -> usize {
        ((self.head + k) & self.mask) as usize
    }

    /// Marks `n` slots read; publishes them to the producer once `lazy` are pending.
    #[inline(always)]
    pub fn commit<I: IndexCell>(&mut self, head: &I, n: u64) {
        self.head += n;
        if self.head - self.published >= self.lazy {
            self.published = self.head;
            head.store(self.head, Ordering::Release);
        }
    }

    /// Changes the release batch (clamped to 1..=capacity); pending slots stay pending
    /// until the next commit or refresh.
    pub fn set_lazy(&mut self, lazy: u64) {
        self.lazy = lazy.clamp(1, self.mask + 1);
    }

    /// The release batch.
    pub fn lazy(&self) -> u64 {
        self.lazy
    }

    /// Publishes every slot read so far (a no-op if none is pending).
    #[inline(always)]
    pub fn flush<I: IndexCell>(&mut self, head: &I) {
        if self.published != self.head {
            self.published = self.head;
            head.store(self.head, Ordering::Release);
        }
    }

    /// Slots read but not yet published to the producer.
    pub fn pending(&self) -> u64 {
        self.head - self.published
    }

    /// Position of the next message to read.
    pub fn head(&self) -> u64 {
        self.head
    }
}

/// Checks a (head, tail) pair read at attach time.
pub fn check_indices(capacity: u64, head: u64, tail: u64) -> Result<(), BadIndex> {
    if tail > MAX_POSITION {
        return Err(BadIndex {
            field: "tail",
            value: tail,
            why: "exceeds the largest position (2^62)",
        });
    }
    if head > tail {
        return Err(BadIndex {
            field: "head",
            value: head,
            why: "is past the tail",
        });
    }
    if tail - head > capacity {
        return Err(BadIndex {
            field: "tail",
            value: tail,
            why: "is more than a capacity ahead of the head",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn producer_sees_full_and_refreshes() {
        let head = AtomicU64::new(0);
        let tail = AtomicU64::new(0);
        let mut p = ProducerState::new(4, 0, 0);
        assert_eq!(p.free(&head, 1), Ok(4));
        p.commit(&tail, 4);
        assert_eq!(p.free(&head, 1), Ok(0));
        head.store(3, Ordering::Release);
        assert_eq!(p.free(&head, 1), Ok(3));
        assert_eq!(p.slot(0), 0);
    }

    #[test]
    fn consumer_releases_in_batches_and_on_refresh() {
        let head = AtomicU64::new(0);
        let tail = AtomicU64::new(0);
        assert_eq!(lazy_release(4096), MAX_LAZY_RELEASE);
        assert_eq!(lazy_release(64), 8);
        assert_eq!(lazy_release(4), 1);
        let mut p = ProducerState::new(8, 0, 0);
        let mut c = ConsumerState::with_lazy(8, 0, 0, 3);
        p.commit(&tail, 8);
        assert_eq!(c.available(&tail, &head, 1), Ok(8));
        c.commit(&head, 1);
        c.commit(&head, 1);
        // Two read, none released: the producer still sees a full ring.
        assert_eq!((head.load(Ordering::Relaxed), c.pending()), (0, 2));
        assert_eq!(p.free(&head, 1), Ok(0));
        c.commit(&head, 1);
        assert_eq!((head.load(Ordering::Relaxed), c.pending()), (3, 0));
        assert_eq!(p.free(&head, 1), Ok(3));
        // Reading on from the cache publishes nothing; running out of known messages
        // (a refresh) publishes what is pending first.
        c.commit(&head, 2);
        assert_eq!(c.available(&tail, &head, 3), Ok(3));
        assert_eq!(head.load(Ordering::Relaxed), 3);
        assert_eq!(c.available(&tail, &head, 4), Ok(3));
        assert_eq!(head.load(Ordering::Relaxed), 5);
        c.commit(&head, 1);
        c.flush(&head);
        assert_eq!((head.load(Ordering::Relaxed), c.pending()), (6, 0));
        // With a batch of 1, every commit publishes.
        let mut c1 = ConsumerState::with_lazy(8, 6, 8, 1);
        c1.commit(&head, 1);
        assert_eq!(head.load(Ordering::Relaxed), 7);
    }

    #[test]
    fn hostile_indices_are_reported() {
        let head = AtomicU64::new(0);
        let tail = AtomicU64::new(0);
        let mut p = ProducerState::new(4, 0, 0);
        p.commit(&tail, 4);
        head.store(9, Ordering::Relaxed);
        assert_eq!(p.free(&head, 1).unwrap_err().field, "head");

        let mut c = ConsumerState::new(4, 0, 0);
        tail.store(5, Ordering::Relaxed);
        assert_eq!(c.available(&tail, &head, 1).unwrap_err().field, "tail");
        tail.store(2, Ordering::Relaxed);
        assert_eq!(c.available(&tail, &head, 1), Ok(2));
        tail.store(1, Ordering::Relaxed);
        assert_eq!(
            c.available(&tail, &head, 3).unwrap_err().why,
            "went backwards"
        );
        assert!(check_indices(4, 3, 2).is_err());
        assert!(check_indices(4, 0, 5).is_err());
        assert!(check_indices(4, 1, 5).is_ok());
        assert_eq!(
            check_indices(4, MAX_POSITION + 1, MAX_POSITION + 1)
                .unwrap_err()
                .field,
            "tail"
        );
        let mut c = ConsumerState::new(4, 0, 0);
        tail.store(u64::MAX - 1, Ordering::Relaxed);
        assert_eq!(c.available(&tail, &head, 1).unwrap_err().field, "tail");
        let mut p = ProducerState::new(4, 0, 4);
        head.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(p.free(&head, 1).unwrap_err().field, "head");
    }
}
