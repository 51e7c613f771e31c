//! Single-producer single-consumer ring in a shm file (orders, execution reports, events).
//!
//! Wait-free on both sides. The producer's line (tail, pid) and the consumer's line
//! (head, pid) are 128 bytes apart so neither side's writes invalidate the other's
//! line (and the adjacent-line prefetcher does not pair them). Each side caches the
//! other's index. The producer publishes its tail on every push (a message is visible
//! at once); the consumer releases read slots in batches (an eighth of the ring, at
//! most 64), at every poll that finds the ring empty, and on drop, so a ring kept
//! full moves the head's cache line once per batch instead of once per message (see
//! [`protocol::ConsumerState`]). [`Producer::try_push`] never blocks: a full ring hands
//! the value back.
//!
//! ```text
//! 4096  tail (u64)   producer_pid (u32)     <- producer's 128-byte line
//! 4224  head (u64)   consumer_pid (u32)     <- consumer's 128-byte line
//! 8192  slots: capacity x size_of::<T>()
//! ```

pub mod protocol;

use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{PushError, RingError};
use crate::header::{Expect, ObjectKind, CONTROL_OFFSET};
use crate::object::{CreateSpec, Liveness, LockMode, Role, ShmObject};
use crate::{ShmError, ShmMessage};
use protocol::{BadIndex, ConsumerState, ProducerState};

/// Offset of the producer's tail index.
pub const TAIL_OFFSET: u64 = CONTROL_OFFSET;
/// Offset of the producer's pid.
pub const PRODUCER_PID_OFFSET: u64 = CONTROL_OFFSET + 8;
/// Offset of the consumer's head index.
pub const HEAD_OFFSET: u64 = CONTROL_OFFSET + 128;
/// Offset of the consumer's pid.
pub const CONSUMER_PID_OFFSET: u64 = CONTROL_OFFSET + 136;

/// How many empty polls [`Consumer::pop_wait`] makes between liveness checks (a syscall).
const LIVENESS_EVERY: u32 = 1 << 12;

fn expect<T: ShmMessage>() -> Expect {
    Expect {
        kind: Some(ObjectKind::Spsc),
        message: Some((T::TYPE_NAME, T::LAYOUT_HASH)),
        slot_size: Some(std::mem::size_of::<T>() as u64),
    }
}

fn spec<T: ShmMessage>(capacity: u64, role: Role) -> CreateSpec<'static> {
    CreateSpec {
        kind: ObjectKind::Spsc,
        capacity,
        slot_size: std::mem::size_of::<T>() as u64,
        type_hash: T::LAYOUT_HASH,
        type_name: T::TYPE_NAME,
        creator_role: Some((role, LockMode::Exclusive)),
    }
}

/// The mapped ring plus raw pointers into it, shared by both ends.
#[derive(Debug)]
struct RingMap<T> {
    obj: ShmObject,
    slots: *mut T,
    head: *const AtomicU64,
    tail: *const AtomicU64,
    capacity: u64,
    _t: PhantomData<T>,
}

// SAFETY: the raw pointers point into `obj`'s mapping, which moves with the struct and
// lives as long as it; T is Send. The ends themselves are not Sync (all methods take
// &mut self), so a ring end is used from one thread at a time.
unsafe impl<T: Send> Send for RingMap<T> {}

impl<T> RingMap<T> {
    #[inline(always)]
    fn tail_cell(&self) -> &AtomicU64 {
        // SAFETY: obtained from `obj.atomic_u64` (in bounds, aligned); the mapping lives
        // as long as `self`.
        unsafe { &*self.tail }
    }

    #[inline(always)]
    fn head_cell(&self) -> &AtomicU64 {
        // SAFETY: as for tail_cell.
        unsafe { &*self.head }
    }
}

impl<T: ShmMessage> RingMap<T> {
    /// Maps the ring and returns it with the (head, tail) it validated: the ends start
    /// from exactly these values, never from a second read a peer could have changed.
    fn new(obj: ShmObject, role: Role) -> Result<(Self, u64, u64), ShmError> {
        let capacity = obj.layout().capacity;
        let data = obj.layout().data_offset as usize;
        // SAFETY: the header was validated: data_offset + capacity * size_of::<T>() is
        // within the mapping, and data_offset is page-aligned so every slot is aligned
        // for T (whose size is a multiple of its alignment, itself <= 64).
        let slots = unsafe { obj.base().add(data) }.cast::<T>();
        // Resolved (and bounds-checked) once here rather than on every push and pop.
        let head: *const AtomicU64 = obj.atomic_u64(HEAD_OFFSET);
        let tail: *const AtomicU64 = obj.atomic_u64(TAIL_OFFSET);
        let map = RingMap {
            obj,
            slots,
            head,
            tail,
            capacity,
            _t: PhantomData,
        };
        let (head, tail) = map.indices();
        if let Err(bad) = protocol::check_indices(capacity, head, tail) {
            return Err(ShmError::bad_field(
                map.obj.path(),
                bad.field,
                format!("{} {}", bad.value, bad.why),
            ));
        }
        let pid_off = match role {
            Role::Producer => PRODUCER_PID_OFFSET,
            Role::Consumer => CONSUMER_PID_OFFSET,
        };
        map.obj
            .atomic_u32(pid_off)
            .store(std::process::id(), Ordering::Relaxed);
        Ok((map, head, tail))
    }

    fn attach(path: &Path, role: Role) -> Result<(Self, u64, u64), ShmError> {
        let obj = ShmObject::attach(path, expect::<T>(), true)?;
        if let Err(e) = obj.lock(role, LockMode::Exclusive) {
            let pid_off = match role {
                Role::Producer => PRODUCER_PID_OFFSET,
                Role::Consumer => CONSUMER_PID_OFFSET,
            };
            let pid = obj.atomic_u32(pid_off).load(Ordering::Relaxed);
            return Err(match e {
                ShmError::RoleTaken { path, role, .. } => ShmError::RoleTaken { path, role, pid },
                other => other,
            });
        }
        RingMap::new(obj, role)
    }

    fn indices(&self) -> (u64, u64) {
        (
            self.head_cell().load(Ordering::Acquire),
            self.tail_cell().load(Ordering::Acquire),
        )
    }

    fn liveness(&self, role: Role, pid_offset: u64) -> Result<Liveness, ShmError> {
        if self.obj.role_held(role)? {
            Ok(Liveness::Alive)
        } else if self.obj.atomic_u32(pid_offset).load(Ordering::Relaxed) == 0 {
            Ok(Liveness::Never)
        } else {
            Ok(Liveness::Dead)
        }
    }

    fn corrupt(&self, bad: BadIndex) -> RingError {
        RingError::Corrupt {
            path: self.obj.path().into(),
            field: bad.field,
            value: bad.value,
            why: bad.why,
        }
    }
}

/// How many slots ahead of the one it writes [`Producer::try_push`] claims a line for
/// writing. A slot's line was last read by the consumer, on the other core; without
/// this the push's store waits for that line's ownership to come back (the store
/// buffer fills and the producer stalls, one line at a time). Claiming it eight
/// pushes early overlaps those transfers. Measured in `bench ring` (see
/// docs/PERFORMANCE.md): 4, 8 and 16 all help; 8 was steadiest.
const PREFETCH_AHEAD: u64 = 8;

/// Whether the CPU has `prefetchw` (CPUID 0x8000_0001, ECX bit 8: PRFCHW, which
/// AMD calls 3DNowPrefetch; Intel since Broadwell).
fn has_prefetchw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // Leaf 0x8000_0000 says which extended leaves exist.
        let max = __cpuid(0x8000_0000).eax;
        max >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Asks for the line at `p` in a writable state (`prefetchw`), without waiting. Only
/// called when [`has_prefetchw`] said yes.
#[inline(always)]
fn prefetch_write<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has prefetchw (checked once, at attach); it is a hint: it never
    // faults (whatever the address), reads or writes nothing the program can observe,
    // and touches no flags or stack.
    unsafe {
        std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Creates an SPSC ring at `path` with `capacity` slots (a power of two) and returns its
/// producer end. The consumer attaches with [`Consumer::attach`].
pub fn create<T: ShmMessage>(path: &Path, capacity: u64) -> Result<Producer<T>, ShmError> {
    let obj = ShmObject::create(path, &spec::<T>(capacity, Role::Producer), |_| Ok(()))?;
    Ok(Producer::from_map(RingMap::new(obj, Role::Producer)?))
}

/// Creates an SPSC ring and returns its consumer end (e.g. a gateway creating the
/// order ring that strategies attach to as producers).
pub fn create_for_consumer<T: ShmMessage>(
    path: &Path,
    capacity: u64,
) -> Result<Consumer<T>, ShmError> {
    let obj = ShmObject::create(path, &spec::<T>(capacity, Role::Consumer), |_| Ok(()))?;
    Ok(Consumer::from_map(RingMap::new(obj, Role::Consumer)?))
}

/// The producer end. Exactly one per ring (enforced by its lock).
#[derive(Debug)]
pub struct Producer<T> {
    map: RingMap<T>,
    state: ProducerState,
    /// Free slots beyond which a push prefetches ahead: [`PREFETCH_AHEAD`], or
    /// `u64::MAX` (never) on a CPU without `prefetchw`.
    prefetch_when_free: u64,
}

impl<T: ShmMessage> Producer<T> {
    /// Attaches as the producer of an existing ring.
    pub fn attach(path: &Path) -> Result<Self, ShmError> {
        Ok(Producer::from_map(RingMap::attach(path, Role::Producer)?))
    }

    fn from_map((map, head, tail): (RingMap<T>, u64, u64)) -> Self {
        Producer {
            state: ProducerState::new(map.capacity, head, tail),
            map,
            prefetch_when_free: if has_prefetchw() {
                PREFETCH_AHEAD
            } else {
                u64::MAX
            },
        }
    }

    /// Pushes one message, or hands it back if the ring is full (or corrupt).
    #[inline(always)]
    pub fn try_push(&mut self, value: T) -> Result<(), PushError<T>> {
        match self.state.free(self.map.head_cell(), 1) {
            Ok(0) => Err(PushError::Full(value)),
            Ok(free) => {
                let slot = self.state.slot(0);
                // Only a slot the consumer has released (it is done with the line).
                if free > self.prefetch_when_free {
                    let ahead = self.state.slot(PREFETCH_AHEAD);
                    prefetch_write(self.map.slots.wrapping_add(ahead));
                }
                // SAFETY: slot < capacity (masked), so the pointer is in the mapping and
                // aligned; the protocol guarantees the consumer is not reading this slot
                // (it is free: between head + capacity and tail).
                unsafe { self.map.slots.add(slot).write(value) };
                self.state.commit(self.map.tail_cell(), 1);
                Ok(())
            }
            Err(bad) => Err(PushError::Corrupt(value, self.map.corrupt(bad))),
        }
    }

    /// Pushes as many of `values` as fit, with one index publication; returns how many.
    #[inline(always)]
    pub fn push_slice(&mut self, values: &[T]) -> Result<usize, RingError> {
        let want = values.len() as u64;
        let free = self
            .state
            .free(self.map.head_cell(), want)
            .map_err(|b| self.map.corrupt(b))?;
        let n = want.min(free) as usize;
        // The n free slots are at most two contiguous runs: to the end of the ring, then
        // from its start.
        let first = self.state.slot(0);
        let run = n.min(self.map.capacity as usize - first);
        // SAFETY: first + run <= capacity and n - run <= first (the second run starts at
        // slot 0 and is shorter than the free space), so both copies stay inside the
        // slots; the slots are free (the consumer does not read them), and `values` is
        // ordinary memory that cannot overlap the mapping's slots.
        unsafe {
            std::ptr::copy_nonoverlapping(values.as_ptr(), self.map.slots.add(first), run);
            std::ptr::copy_nonoverlapping(values.as_ptr().add(run), self.map.slots, n - run);
        }
        let n = n as u64;
        if n > 0 {
            self.state.commit(self.map.tail_cell(), n);
        }
        Ok(n as usize)
    }

    /// Free slots right now (refreshes the consumer's index).
    pub fn free_slots(&mut self) -> Result<u64, RingError> {
        self.state
            .free(self.map.head_cell(), self.map.capacity)
            .map_err(|b| self.map.corrupt(b))
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.map.capacity
    }

    /// Messages pushed over the ring's life.
    pub fn position(&self) -> u64 {
        self.state.tail()
    }

    /// Whether a consumer holds the ring.
    pub fn consumer_liveness(&self) -> Result<Liveness, ShmError> {
        self.map.liveness(Role::Consumer, CONSUMER_PID_OFFSET)
    }

    /// The ring's file.
    pub fn path(&self) -> &Path {
        self.map.obj.path()
    }
}

/// The consumer end. Exactly one per ring (enforced by its lock).
#[derive(Debug)]
pub struct Consumer<T> {
    map: RingMap<T>,
    state: ConsumerState,
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        // Hand the producer every slot read: a consumer that re-attaches resumes from
        // the published head, so nothing it read is read twice.
        self.state.flush(self.map.head_cell());
    }
}

impl<T: ShmMessage> Consumer<T> {
    /// Attaches as the consumer of an existing ring.
    pub fn attach(path: &Path) -> Result<Self, ShmError> {
        Ok(Consumer::from_map(RingMap::attach(path, Role::Consumer)?))
    }

    fn from_map((map, head, tail): (RingMap<T>, u64, u64)) -> Self {
        Consumer {
            state: ConsumerState::new(map.capacity, head, tail),
            map,
        }
    }

    /// Pops one message if there is one.
    #[inline(always)]
    pub fn try_pop(&mut self) -> Result<Option<T>, RingError> {
        let avail = self
            .state
            .available(self.map.tail_cell(), self.map.head_cell(), 1)
            .map_err(|b| self.map.corrupt(b))?;
        if avail == 0 {
            return Ok(None);
        }
        let slot = self.state.slot(0);
        // SAFETY: slot is masked (in bounds, aligned); it lies between head and the tail
        // the producer published with release ordering (acquired above), so it is fully
        // written and the producer will not touch it until head moves past it. T is
        // FromBytes, so whatever bytes are there form a valid T.
        let v = unsafe { self.map.slots.add(slot).read() };
        self.state.commit(self.map.head_cell(), 1);
        Ok(Some(v))
    }

    /// Pops up to `out.len()` messages with one index publication; returns how many.
    #[inline(always)]
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, RingError> {
        let avail = self
            .state
            .available(self.map.tail_cell(), self.map.head_cell(), out.len() as u64)
            .map_err(|b| self.map.corrupt(b))?;
        let n = (out.len() as u64).min(avail) as usize;
        let first = self.state.slot(0);
        let run = n.min(self.map.capacity as usize - first);
        // SAFETY: as in try_pop, for the n readable slots, which are at most two
        // contiguous runs inside the slots (first + run <= capacity, n - run <= first);
        // `out` is ordinary memory that cannot overlap the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(self.map.slots.add(first), out.as_mut_ptr(), run);
            std::ptr::copy_nonoverlapping(self.map.slots, out.as_mut_ptr().add(run), n - run);
        }
        if n > 0 {
            self.state.commit(self.map.head_cell(), n as u64);
        }
        Ok(n)
    }

    /// Hands up to `max` messages to `f` in place (no copy out of the ring), then
    /// releases them with one index publication; returns how many.
    #[inline(always)]
    pub fn consume(&mut self, max: usize, mut f: impl FnMut(&T)) -> Result<usize, RingError> {
        let avail = self
            .state
            .available(self.map.tail_cell(), self.map.head_cell(), max as u64)
            .map_err(|b| self.map.corrupt(b))?;
        let n = (max as u64).min(avail);
        for k in 0..n {
            let slot = self.state.slot(k);
            // SAFETY: as in try_pop; the reference does not outlive this iteration, and
            // the slot is not released (head not published) until after the loop.
            f(unsafe { &*self.map.slots.add(slot) });
        }
        if n > 0 {
            self.state.commit(self.map.head_cell(), n);
        }
        Ok(n as usize)
    }

    /// Pops one message, calling `idle` while the ring is empty. Returns
    /// [`RingError::ProducerDead`] once the ring is drained and the producer's lock is
    /// gone (it died or exited), so a consumer never hangs on a dead producer.
    pub fn pop_wait(&mut self, mut idle: impl FnMut()) -> Result<T, RingError> {
        let mut empty: u32 = 0;
        loop {
            if let Some(v) = self.try_pop()? {
                return Ok(v);
            }
            empty = empty.wrapping_add(1);
            if empty.is_multiple_of(LIVENESS_EVERY) && !self.producer_alive() {
                // The producer's last writes happened before its lock was released:
                // drain them before reporting its death.
                if let Some(v) = self.try_pop()? {
                    return Ok(v);
                }
                return Err(RingError::ProducerDead {
                    path: self.map.obj.path().into(),
                });
            }
            idle();
        }
    }

    fn producer_alive(&self) -> bool {
        // An error querying the lock is treated as alive: never report a death we did
        // not observe.
        !matches!(self.producer_liveness(), Ok(Liveness::Dead))
    }

    /// Whether the producer holds the ring (alive), held it once (dead), or never did.
    pub fn producer_liveness(&self) -> Result<Liveness, ShmError> {
        self.map.liveness(Role::Producer, PRODUCER_PID_OFFSET)
    }

    /// Releases every message read so far to the producer now. Reads release slots
    /// in batches (see [`protocol::ConsumerState`]): every [`protocol::lazy_release`]
    /// messages, at every poll that finds the ring empty, and on drop.
    pub fn flush(&mut self) {
        self.state.flush(self.map.head_cell());
    }

    /// Sets how many read messages are released to the producer at once (clamped to
    /// 1..=capacity; the default is [`protocol::lazy_release`] of the capacity).
    ///
    /// The choice is about a consumer that dies: up to a batch of messages it had read
    /// is not yet released, so the next consumer to attach reads them again
    /// (at-least-once, which suits event and journal rings). With 1, every pop releases
    /// its slot before returning the message, so a message is never read twice and one
    /// being handled when the consumer dies is lost (at-most-once: an order ring whose
    /// consumer does not de-duplicate wants this).
    pub fn set_release_batch(&mut self, n: u64) {
        self.state.flush(self.map.head_cell());
        self.state.set_lazy(n);
    }

    /// The release batch (see [`Consumer::set_release_batch`]).
    pub fn release_batch(&self) -> u64 {
        self.state.lazy()
    }

    /// Messages read but not yet released to the producer.
    pub fn pending_release(&self) -> u64 {
        self.state.pending()
    }

    /// Messages waiting right now (refreshes the producer's index).
    pub fn len(&mut self) -> Result<u64, RingError> {
        self.state
            .available(
                self.map.tail_cell(),
                self.map.head_cell(),
                self.map.capacity + 1,
            )
            .map_err(|b| self.map.corrupt(b))
    }

    /// Whether no message is waiting.
    pub fn is_empty(&mut self) -> Result<bool, RingError> {
        Ok(self.len()? == 0)
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.map.capacity
    }

    /// Messages consumed over the ring's life.
    pub fn position(&self) -> u64 {
        self.state.head()
    }

    /// The ring's file.
    pub fn path(&self) -> &Path {
        self.map.obj.path()
    }
}
