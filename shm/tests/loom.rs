//! Loom model tests of the SPSC index protocol (`hotpath_shm::spsc::protocol`).
//!
//! The protocol is generic over where its indices live ([`IndexCell`]), so these models
//! run the very code the shm rings run, over loom's model atomics. Slots are loom
//! `UnsafeCell`s: loom checks every slot access against the happens-before relation it
//! derives from the index loads and stores, so a missing release/acquire or a slot
//! released before it is read is reported as a causality violation, not left to luck.
//!
//! The producer and consumer steps below mirror `Producer::try_push`/`push_slice` and
//! `Consumer::try_pop`/`pop_slice` in `src/spsc/mod.rs` call for call (free/available,
//! slot writes or reads, commit), including the batch calls' split of the n slots into
//! a run to the end of the slots and a run from slot 0; the values each slot must hold
//! check that split, and loom checks that no access strays outside the n slots granted.
//!
//! Compiled only with `--cfg loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --profile ci -p hotpath-shm --test loom --target-dir target/loom
//! ```
#![cfg(loom)]

use std::sync::atomic::Ordering;

use hotpath_shm::spsc::protocol::{ConsumerState, IndexCell, ProducerState};
use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;

/// Preemptions loom explores per execution unless `LOOM_MAX_PREEMPTIONS` says otherwise.
/// The spin-on-empty/full loops make an unbounded search explode (every extra
/// preemption lets a side spin once more). With 3, loom may switch sides at any shared
/// access up to three times per execution (on top of the switches at yields and thread
/// ends), and still explores every value each index load may return; the whole file
/// takes a few seconds in release mode (bound 4: ~15 s, bound 6: ~2 min, neither
/// finding anything more).
const PREEMPTION_BOUND: usize = 3;

/// An index in a loom model atomic, with the orderings the protocol asks for.
struct Index(AtomicU64);

impl IndexCell for Index {
    fn load(&self, order: Ordering) -> u64 {
        self.0.load(order)
    }
    fn store(&self, value: u64, order: Ordering) {
        self.0.store(value, order)
    }
}

/// A deliberately broken index: ignores the requested ordering and uses `Relaxed`, as a
/// build that got the orderings wrong would. Used to prove the models can fail.
struct RelaxedIndex(AtomicU64);

impl IndexCell for RelaxedIndex {
    fn load(&self, _order: Ordering) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn store(&self, value: u64, _order: Ordering) {
        self.0.store(value, Ordering::Relaxed)
    }
}

/// Builds an index cell holding zero.
trait NewIndex: IndexCell + Send + Sync + 'static {
    fn zero() -> Self;
}

impl NewIndex for Index {
    fn zero() -> Self {
        Index(AtomicU64::new(0))
    }
}

impl NewIndex for RelaxedIndex {
    fn zero() -> Self {
        RelaxedIndex(AtomicU64::new(0))
    }
}

/// The shared part of a ring: the two indices and the slots.
struct Ring<I> {
    tail: I,
    head: I,
    slots: Vec<UnsafeCell<u64>>,
}

// SAFETY: which thread may touch which slot is exactly what the protocol under test
// decides; every slot access goes through loom's `UnsafeCell`, which panics on any
// access not ordered by happens-before, so sharing the ring cannot hide a data race.
unsafe impl<I: Sync> Sync for Ring<I> {}

impl<I: NewIndex> Ring<I> {
    /// An empty ring whose head and tail are both at `start`.
    fn new(capacity: usize, start: u64) -> Self {
        let (tail, head) = (I::zero(), I::zero());
        tail.store(start, Ordering::Relaxed);
        head.store(start, Ordering::Relaxed);
        Ring {
            tail,
            head,
            slots: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
        }
    }
}

/// `Producer::try_push`: one slot, one publication. False when the ring is full.
fn push_one<I: IndexCell>(ring: &Ring<I>, p: &mut ProducerState, value: u64) -> bool {
    match p
        .free(&ring.head, 1)
        .expect("a correct consumer never corrupts head")
    {
        0 => false,
        _ => {
            let slot = p.slot(0);
            // SAFETY: the slot is free (between head + capacity and tail); loom checks it.
            ring.slots[slot].with_mut(|s| unsafe { *s = value });
            p.commit(&ring.tail, 1);
            true
        }
    }
}

/// `Producer::push_slice`: as many as fit, one publication. Returns how many.
fn push_slice<I: IndexCell>(ring: &Ring<I>, p: &mut ProducerState, values: &[u64]) -> usize {
    let want = values.len() as u64;
    let free = p
        .free(&ring.head, want)
        .expect("a correct consumer never corrupts head");
    let n = want.min(free) as usize;
    // As push_slice copies them: a run to the end of the slots, then one from slot 0.
    let first = p.slot(0);
    let run = n.min(ring.slots.len() - first);
    let targets = (first..first + run).chain(0..n - run);
    for (slot, &v) in targets.zip(&values[..n]) {
        // SAFETY: among the n free slots; loom checks it.
        ring.slots[slot].with_mut(|s| unsafe { *s = v });
    }
    if n > 0 {
        p.commit(&ring.tail, n as u64);
    }
    n
}

/// `Consumer::try_pop`: read the slot, then release it.
fn pop_one<I: IndexCell>(ring: &Ring<I>, c: &mut ConsumerState) -> Option<u64> {
    let avail = c
        .available(&ring.tail, &ring.head, 1)
        .expect("a correct producer never corrupts tail");
    if avail == 0 {
        return None;
    }
    let slot = c.slot(0);
    // SAFETY: published by the producer (acquired above); loom checks it.
    let v = ring.slots[slot].with(|s| unsafe { *s });
    c.commit(&ring.head, 1);
    Some(v)
}

/// `Consumer::pop_slice`: read up to `out.len()` slots, then release them all at once.
fn pop_slice<I: IndexCell>(ring: &Ring<I>, c: &mut ConsumerState, out: &mut [u64]) -> usize {
    let avail = c
        .available(&ring.tail, &ring.head, out.len() as u64)
        .expect("a correct producer never corrupts tail");
    let n = (out.len() as u64).min(avail) as usize;
    // As pop_slice copies them: a run to the end of the slots, then one from slot 0.
    let first = c.slot(0);
    let run = n.min(ring.slots.len() - first);
    let sources = (first..first + run).chain(0..n - run);
    for (slot, o) in sources.zip(&mut out[..n]) {
        // SAFETY: among the n published slots; loom checks it.
        *o = ring.slots[slot].with(|s| unsafe { *s });
    }
    if n > 0 {
        c.commit(&ring.head, n as u64);
    }
    n
}

/// BROKEN on purpose: releases the slot (publishes head) before reading it, so the
/// producer may overwrite it while the consumer reads. Must be caught by loom.
fn pop_one_release_before_read<I: IndexCell>(ring: &Ring<I>, c: &mut ConsumerState) -> Option<u64> {
    let avail = c
        .available(&ring.tail, &ring.head, 1)
        .expect("a correct producer never corrupts tail");
    if avail == 0 {
        return None;
    }
    let slot = c.slot(0);
    c.commit(&ring.head, 1);
    // SAFETY: none: this is the bug loom must report.
    Some(ring.slots[slot].with(|s| unsafe { *s }))
}

/// How each side moves messages in a model.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `try_push` / `try_pop`.
    One,
    /// `push_slice` / `pop_slice` with up to this many at once.
    Batch(usize),
    /// `try_pop` with the slot released before it is read (consumer only; broken).
    ReleaseBeforeRead,
}

/// What a model observed across all explored executions (std atomics: not modelled).
#[derive(Default)]
struct Seen {
    full: std::sync::atomic::AtomicUsize,
    empty: std::sync::atomic::AtomicUsize,
    executions: std::sync::atomic::AtomicUsize,
}

/// One model: a producer pushes 1..=n into an empty ring whose indices start at
/// `start` (as after an attach), and a consumer must receive exactly 1..=n, in order.
fn model<I: NewIndex>(
    capacity: usize,
    start: u64,
    n: u64,
    produce: Step,
    consume: Step,
) -> std::sync::Arc<Seen> {
    model_lazy::<I>(capacity, start, n, produce, consume, None)
}

/// [`model`] with the consumer releasing slots in batches of `lazy` (`None`: the
/// default for the capacity, [`hotpath_shm::spsc::protocol::lazy_release`]).
fn model_lazy<I: NewIndex>(
    capacity: usize,
    start: u64,
    n: u64,
    produce: Step,
    consume: Step,
    lazy: Option<u64>,
) -> std::sync::Arc<Seen> {
    let seen = std::sync::Arc::new(Seen::default());
    let seen_in = std::sync::Arc::clone(&seen);
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(PREEMPTION_BOUND);
    }
    builder.check(move || {
        let ring = Arc::new(Ring::<I>::new(capacity, start));
        let cap = capacity as u64;

        let producer = {
            let ring = Arc::clone(&ring);
            let seen = std::sync::Arc::clone(&seen_in);
            thread::spawn(move || {
                let mut p = ProducerState::new(cap, start, start);
                let mut next = 1u64;
                while next <= n {
                    let pushed = match produce {
                        Step::One => push_one(&ring, &mut p, next) as u64,
                        Step::Batch(b) => {
                            let batch: Vec<u64> = (next..=n).take(b).collect();
                            push_slice(&ring, &mut p, &batch) as u64
                        }
                        Step::ReleaseBeforeRead => unreachable!("consumer-only step"),
                    };
                    if pushed == 0 {
                        seen.full.fetch_add(1, Ordering::Relaxed);
                        thread::yield_now();
                    }
                    next += pushed;
                }
                p
            })
        };

        let consumer = {
            let ring = Arc::clone(&ring);
            let seen = std::sync::Arc::clone(&seen_in);
            thread::spawn(move || {
                let mut c = match lazy {
                    Some(l) => ConsumerState::with_lazy(cap, start, start, l),
                    None => ConsumerState::new(cap, start, start),
                };
                let mut expect = 1u64;
                let mut out = [0u64; 2];
                while expect <= n {
                    let got: &[u64] = match consume {
                        Step::One => match pop_one(&ring, &mut c) {
                            Some(v) => {
                                out[0] = v;
                                &out[..1]
                            }
                            None => &[],
                        },
                        Step::Batch(b) => {
                            let k = pop_slice(&ring, &mut c, &mut out[..b]);
                            &out[..k]
                        }
                        Step::ReleaseBeforeRead => {
                            match pop_one_release_before_read(&ring, &mut c) {
                                Some(v) => {
                                    out[0] = v;
                                    &out[..1]
                                }
                                None => &[],
                            }
                        }
                    };
                    if got.is_empty() {
                        seen.empty.fetch_add(1, Ordering::Relaxed);
                        thread::yield_now();
                    }
                    for &v in got {
                        assert_eq!(v, expect, "out of order, duplicated or torn");
                        expect += 1;
                    }
                }
                c
            })
        };

        let mut p = producer.join().unwrap();
        let mut c = consumer.join().unwrap();
        // As `Consumer`'s drop does: release what was read and not yet published.
        c.flush(&ring.head);
        // Everything was consumed exactly once: nothing left, all slots free again.
        assert_eq!(p.tail(), start + n);
        assert_eq!(c.head(), start + n);
        assert_eq!(c.available(&ring.tail, &ring.head, 1), Ok(0));
        assert_eq!(p.free(&ring.head, cap), Ok(cap));
        assert_eq!(ring.tail.load(Ordering::Relaxed), start + n);
        assert_eq!(ring.head.load(Ordering::Relaxed), start + n);
        seen_in.executions.fetch_add(1, Ordering::Relaxed);
    });
    eprintln!(
        "model capacity={capacity} start={start} n={n} produce={produce:?} consume={consume:?} \
         lazy={lazy:?}: \
         {} executions, {} full and {} empty polls",
        seen.executions.load(Ordering::Relaxed),
        seen.full.load(Ordering::Relaxed),
        seen.empty.load(Ordering::Relaxed),
    );
    seen
}

fn executions(seen: &Seen) -> usize {
    seen.executions.load(Ordering::Relaxed)
}

#[test]
fn single_push_pop_capacity_4() {
    let seen = model::<Index>(4, 0, 3, Step::One, Step::One);
    assert!(executions(&seen) > 1);
    assert!(
        seen.empty.load(Ordering::Relaxed) > 0,
        "empty ring explored"
    );
}

#[test]
fn single_push_pop_capacity_2_wraps_and_refreshes() {
    // 4 messages through 2 slots: positions 2 and 3 reuse slots 0 and 1, and the
    // producer's cached head (0) runs out after 2 pushes in every execution, so it must
    // refresh; some executions find the ring really full and spin.
    let seen = model::<Index>(2, 0, 4, Step::One, Step::One);
    assert!(executions(&seen) > 1);
    assert!(seen.full.load(Ordering::Relaxed) > 0, "full ring explored");
    assert!(
        seen.empty.load(Ordering::Relaxed) > 0,
        "empty ring explored"
    );
}

#[test]
fn batch_push_2_pop_2_capacity_2() {
    // push_slice of 2 into 2 slots sees partial room (1 free) in some executions;
    // pop_slice of up to 2 sees 1 or 2 available.
    let seen = model::<Index>(2, 0, 4, Step::Batch(2), Step::Batch(2));
    assert!(executions(&seen) > 1);
    assert!(seen.full.load(Ordering::Relaxed) > 0, "full ring explored");
}

#[test]
fn batch_push_2_pop_2_capacity_4() {
    let seen = model::<Index>(4, 0, 4, Step::Batch(2), Step::Batch(2));
    assert!(executions(&seen) > 1);
}

#[test]
fn batch_push_single_pop_capacity_2() {
    let seen = model::<Index>(2, 0, 3, Step::Batch(2), Step::One);
    assert!(executions(&seen) > 1);
}

#[test]
fn resumed_mid_stream_odd_start_batches_wrap() {
    // Indices resumed at 5 (as a re-attached end finds them): the first slot is 1, so
    // a batch of 2 straddles the end of the slot array (a run of 1, then 1 from slot 0),
    // and 5 messages through 2 slots wrap twice more.
    let seen = model::<Index>(2, 5, 5, Step::Batch(2), Step::Batch(2));
    assert!(executions(&seen) > 1);
}

#[test]
fn single_push_batch_pop_capacity_2() {
    let seen = model::<Index>(2, 0, 3, Step::One, Step::Batch(2));
    assert!(executions(&seen) > 1);
}

#[test]
fn lazy_release_single_capacity_4() {
    // The consumer publishes head every 2 reads (and at every empty poll): the producer
    // works with a stale head, finds the ring full more often, and must still never
    // write a slot the consumer is reading; 5 messages through 4 slots wrap.
    let seen = model_lazy::<Index>(4, 0, 5, Step::One, Step::One, Some(2));
    assert!(executions(&seen) > 1);
    assert!(seen.full.load(Ordering::Relaxed) > 0, "full ring explored");
}

#[test]
fn lazy_release_whole_ring_capacity_2() {
    // A batch as large as the ring: nothing is released until the consumer has read
    // both slots or polls an empty ring; the producer waits on a full ring meanwhile.
    let seen = model_lazy::<Index>(2, 0, 4, Step::One, Step::One, Some(2));
    assert!(executions(&seen) > 1);
    assert!(seen.full.load(Ordering::Relaxed) > 0, "full ring explored");
}

#[test]
fn lazy_release_batches_resumed_odd_start() {
    let seen = model_lazy::<Index>(4, 3, 6, Step::Batch(2), Step::Batch(2), Some(3));
    assert!(executions(&seen) > 1);
}

/// The models can fail: with every index access Relaxed, the consumer's read of a
/// slot is not ordered after the producer's write of it.
#[test]
#[should_panic(expected = "Causality violation: Concurrent read and write accesses")]
fn broken_relaxed_indices_are_caught() {
    model::<RelaxedIndex>(2, 0, 3, Step::One, Step::One);
}

/// The models can fail: a consumer that publishes head before reading the slot lets
/// the producer overwrite the slot during the read (needs the wrap: 3 messages, 2 slots).
#[test]
#[should_panic(expected = "Causality violation: Concurrent read and write accesses")]
fn broken_release_before_read_is_caught() {
    model::<Index>(2, 0, 3, Step::One, Step::ReleaseBeforeRead);
}
