//! Broadcast ring in a shm file (market data): one producer, any number of consumers,
//! which may join late and map the file read-only.
//!
//! The producer never waits: it overwrites the oldest slot. Each slot carries a
//! sequence word used as a seqlock: message `n` is being written while the word is
//! `2n + 1` and complete when it is `2n + 2`. A consumer that wants message `n` reads
//! the word, copies the payload, and reads the word again; if it ever sees a word
//! beyond `2n + 2`, the producer has lapped it. It then reports exactly how many
//! messages it missed and resynchronises to the newest position (as Aeron's broadcast
//! receiver does: a lapped market-data reader wants the present, not a stale backlog).
//!
//! Payloads are copied as 64-bit words with relaxed atomic loads and stores, so a copy
//! racing the producer is a well-defined (if torn) read that the second sequence check
//! rejects, never undefined behaviour.
//!
//! ```text
//! 4096  tail (u64: messages published)   producer_pid (u32)
//! 8192  slots: capacity x (8-byte sequence + payload rounded up to 8 bytes)
//! ```

use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::error::RingError;
use crate::header::{Expect, ObjectKind, CONTROL_OFFSET};
use crate::object::{CreateSpec, Liveness, LockMode, Role, ShmObject};
use crate::spsc::protocol::MAX_POSITION;
use crate::{ShmError, ShmMessage};

/// Offset of the published-message count.
pub const TAIL_OFFSET: u64 = CONTROL_OFFSET;
/// Offset of the producer's pid.
pub const PRODUCER_PID_OFFSET: u64 = CONTROL_OFFSET + 8;

const LIVENESS_EVERY: u32 = 1 << 12;

/// Bytes per slot for a message type: the sequence word plus the payload in whole words.
pub const fn slot_size<T>() -> u64 {
    8 + (std::mem::size_of::<T>() as u64).next_multiple_of(8)
}

fn expect<T: ShmMessage>() -> Expect {
    Expect {
        kind: Some(ObjectKind::Broadcast),
        message: Some((T::TYPE_NAME, T::LAYOUT_HASH)),
        slot_size: Some(slot_size::<T>()),
    }
}

/// Where a new consumer starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinAt {
    /// With the next message published (the default for live market data).
    Latest,
    /// With the oldest message still in the ring.
    Oldest,
}

/// What a receive found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<T> {
    /// The next message, with its position (0-based count of messages before it).
    Message { seq: u64, msg: T },
    /// Nothing new yet.
    Empty,
    /// The producer overwrote `lost` messages this consumer had not read; reading
    /// resumes at position `resume_at`.
    Lagged { lost: u64, resume_at: u64 },
}

#[derive(Debug)]
struct Slots<T> {
    obj: ShmObject,
    base: *mut u8,
    slot_size: usize,
    mask: u64,
    words: usize,
    _t: PhantomData<T>,
}

// SAFETY: `base` points into `obj`'s mapping, which lives as long as the struct; all
// access through it is atomic. T is Send.
unsafe impl<T: Send> Send for Slots<T> {}

impl<T: ShmMessage> Slots<T> {
    fn new(obj: ShmObject) -> Self {
        let layout = *obj.layout();
        // SAFETY: validated layout: data_offset + capacity * slot_size is in the mapping.
        let base = unsafe { obj.base().add(layout.data_offset as usize) };
        Slots {
            obj,
            base,
            slot_size: layout.slot_size as usize,
            mask: layout.capacity - 1,
            words: std::mem::size_of::<T>().div_ceil(8),
            _t: PhantomData,
        }
    }

    #[inline(always)]
    fn word(&self, slot: usize, w: usize) -> &AtomicU64 {
        debug_assert!(slot as u64 <= self.mask && w <= self.words);
        // SAFETY: slot <= mask < capacity and w <= words, so the 8 bytes lie inside this
        // slot, inside the mapping; slot_size and data_offset are multiples of 8, so the
        // word is aligned. Every access to slot memory, in any process, is atomic.
        unsafe { AtomicU64::from_ptr(self.base.add(slot * self.slot_size + w * 8).cast()) }
    }

    fn tail(&self) -> &AtomicU64 {
        self.obj.atomic_u64(TAIL_OFFSET)
    }

    fn capacity(&self) -> u64 {
        self.mask + 1
    }
}

/// Creates a broadcast ring at `path` with `capacity` slots (a power of two).
pub fn create<T: ShmMessage>(path: &Path, capacity: u64) -> Result<Publisher<T>, ShmError> {
    let spec = CreateSpec {
        kind: ObjectKind::Broadcast,
        capacity,
        slot_size: slot_size::<T>(),
        type_hash: T::LAYOUT_HASH,
        type_name: T::TYPE_NAME,
        creator_role: Some((Role::Producer, LockMode::Exclusive)),
    };
    let obj = ShmObject::create(path, &spec, |_| Ok(()))?;
    Ok(Publisher::new(obj))
}

/// The producer end. Never waits for consumers.
#[derive(Debug)]
pub struct Publisher<T> {
    slots: Slots<T>,
    next: u64,
}

impl<T: ShmMessage> Publisher<T> {
    fn new(obj: ShmObject) -> Self {
        obj.atomic_u32(PRODUCER_PID_OFFSET)
            .store(std::process::id(), Ordering::Relaxed);
        let slots = Slots::new(obj);
        let next = slots.tail().load(Ordering::Acquire);
        Publisher { slots, next }
    }

    /// Attaches as the producer of an existing ring (after the previous one died),
    /// continuing its numbering.
    pub fn attach(path: &Path) -> Result<Self, ShmError> {
        let obj = ShmObject::attach(path, expect::<T>(), true)?;
        obj.lock(Role::Producer, LockMode::Exclusive)?;
        let tail = obj.atomic_u64(TAIL_OFFSET).load(Ordering::Acquire);
        if tail > MAX_POSITION {
            return Err(ShmError::bad_field(
                path,
                "tail",
                format!("{tail} exceeds the largest position (2^62)"),
            ));
        }
        Ok(Publisher::new(obj))
    }

    #[inline(always)]
    fn write(&mut self, msg: &T) {
        let n = self.next;
        let slot = (n & self.slots.mask) as usize;
        let seq = self.slots.word(slot, 0);
        seq.store(2 * n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let bytes = msg.as_bytes();
        for (w, chunk) in bytes.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.slots
                .word(slot, w + 1)
                .store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        seq.store(2 * n + 2, Ordering::Release);
        self.next = n + 1;
    }

    /// Publishes one message. Returns its position.
    #[inline]
    pub fn publish(&mut self, msg: &T) -> u64 {
        let n = self.next;
        self.write(msg);
        self.slots.tail().store(self.next, Ordering::Release);
        n
    }

    /// Publishes several messages with one update of the published count.
    #[inline]
    pub fn publish_batch(&mut self, msgs: &[T]) {
        for m in msgs {
            self.write(m);
        }
        self.slots.tail().store(self.next, Ordering::Release);
    }

    /// Messages published over the ring's life.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.slots.capacity()
    }

    /// Whether at least one consumer is attached.
    pub fn has_consumers(&self) -> Result<bool, ShmError> {
        self.slots.obj.role_held(Role::Consumer)
    }

    /// The ring's file.
    pub fn path(&self) -> &Path {
        self.slots.obj.path()
    }
}

/// A consumer end. Any number may attach; each maps the file read-only and writes
/// nothing to it, so consumers cannot disturb the producer or each other.
#[derive(Debug)]
pub struct Subscriber<T> {
    slots: Slots<T>,
    next: u64,
    last_tail: u64,
    lost: u64,
}

impl<T: ShmMessage> Subscriber<T> {
    /// Attaches as a consumer, starting at `join`.
    pub fn attach(path: &Path, join: JoinAt) -> Result<Self, ShmError> {
        let obj = ShmObject::attach(path, expect::<T>(), false)?;
        obj.lock(Role::Consumer, LockMode::Shared)?;
        let slots = Slots::new(obj);
        let tail = slots.tail().load(Ordering::Acquire);
        if tail > MAX_POSITION {
            return Err(ShmError::bad_field(
                path,
                "tail",
                format!("{tail} exceeds the largest position (2^62)"),
            ));
        }
        let next = match join {
            JoinAt::Latest => tail,
            JoinAt::Oldest => tail.saturating_sub(slots.capacity()),
        };
        Ok(Subscriber {
            slots,
            next,
            last_tail: tail,
            lost: 0,
        })
    }

    /// Reads the next message if it is there, or reports a lap.
    #[inline]
    pub fn try_recv(&mut self) -> Result<Received<T>, RingError> {
        let n = self.next;
        let slot = (n & self.slots.mask) as usize;
        let seq = self.slots.word(slot, 0);
        let want = 2 * n + 2;
        let s1 = seq.load(Ordering::Acquire);
        if s1 < want {
            // Not written yet (or being written right now).
            return Ok(Received::Empty);
        }
        if s1 == want {
            let mut msg = T::new_zeroed();
            let bytes = msg.as_mut_bytes();
            for (w, chunk) in bytes.chunks_mut(8).enumerate() {
                let v = self.slots.word(slot, w + 1).load(Ordering::Relaxed);
                chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
            }
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                self.next = n + 1;
                return Ok(Received::Message { seq: n, msg });
            }
        }
        // The slot holds a later message: the producer lapped us.
        self.resync(n)
    }

    #[cold]
    fn resync(&mut self, n: u64) -> Result<Received<T>, RingError> {
        let tail = self.slots.tail().load(Ordering::Acquire);
        if tail < self.last_tail {
            return Err(self.corrupt(tail, "went backwards"));
        }
        if tail > MAX_POSITION {
            return Err(self.corrupt(tail, "exceeds the largest position (2^62)"));
        }
        self.last_tail = tail;
        if tail <= n {
            // A sequence word claims a message the published count has not reached
            // yet. The producer stores the count after the word, so give it a moment:
            // only a count that stays behind is corrupt, and that shows as backwards or
            // as a lap that never resolves, both reported above or on the next call.
            return Ok(Received::Empty);
        }
        let lost = tail - n;
        self.lost += lost;
        self.next = tail;
        Ok(Received::Lagged {
            lost,
            resume_at: tail,
        })
    }

    fn corrupt(&self, value: u64, why: &'static str) -> RingError {
        RingError::Corrupt {
            path: self.slots.obj.path().into(),
            field: "tail",
            value,
            why,
        }
    }

    /// Receives the next message or lap report, calling `idle` while there is none.
    /// Returns [`RingError::ProducerDead`] once everything published has been read and
    /// the producer's lock is gone.
    pub fn recv_wait(&mut self, mut idle: impl FnMut()) -> Result<Received<T>, RingError> {
        let mut empty: u32 = 0;
        loop {
            match self.try_recv()? {
                Received::Empty => {}
                other => return Ok(other),
            }
            empty = empty.wrapping_add(1);
            if empty.is_multiple_of(LIVENESS_EVERY)
                && matches!(self.producer_liveness(), Ok(Liveness::Dead))
            {
                match self.try_recv()? {
                    Received::Empty => {
                        return Err(RingError::ProducerDead {
                            path: self.slots.obj.path().into(),
                        })
                    }
                    other => return Ok(other),
                }
            }
            idle();
        }
    }

    /// Messages this consumer has lost to laps since it attached.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Position of the next message this consumer will read.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Messages the producer has published (a fresh read of the shared count).
    pub fn published(&self) -> u64 {
        self.slots.tail().load(Ordering::Acquire)
    }

    /// Whether the producer holds the ring (alive), held it once (dead), or never did.
    pub fn producer_liveness(&self) -> Result<Liveness, ShmError> {
        if self.slots.obj.role_held(Role::Producer)? {
            Ok(Liveness::Alive)
        } else if self
            .slots
            .obj
            .atomic_u32(PRODUCER_PID_OFFSET)
            .load(Ordering::Relaxed)
            == 0
        {
            Ok(Liveness::Never)
        } else {
            Ok(Liveness::Dead)
        }
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.slots.capacity()
    }

    /// The ring's file.
    pub fn path(&self) -> &Path {
        self.slots.obj.path()
    }
}
