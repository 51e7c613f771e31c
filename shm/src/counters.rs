//! Counters region: named counters, gauges and heartbeats that operators read live.
//!
//! Counters are registered at start (component, name, kind, unit), the region is
//! created with all metadata in place and then sealed: nothing is registered after
//! start. Each value sits on its own 64-byte line. Every counter has exactly one writer
//! (its handle is neither `Clone` nor `Sync`), which updates it with a plain atomic
//! store: no locked read-modify-write on the hot path. Readers (`hotpath stat`) map the
//! file read-only.
//!
//! One process owns one region (`<component>.counters` in the instance directory); the
//! owner holds the producer lock, so readers can tell a live component from a dead one.
//! Heartbeats are CLOCK_MONOTONIC nanoseconds, comparable across processes.
//!
//! ```text
//! 4096         metadata: capacity x 128 bytes (CounterMeta)
//! data_offset  values:   capacity x 64 bytes (u64 in the first 8 bytes of each line)
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::header::{Expect, ObjectKind, COUNTER_META_SIZE, COUNTER_VALUE_SIZE, HEADER_PAGE};
use crate::object::{CreateSpec, Liveness, LockMode, Role, ShmObject};
use crate::ShmError;

/// Metadata of one counter as it lies in the file.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CounterMeta {
    pub kind: u32,
    pub id: u32,
    pub component: [u8; 32],
    pub name: [u8; 56],
    pub unit: [u8; 16],
    pub reserved: [u8; 16],
}
const _: () = assert!(std::mem::size_of::<CounterMeta>() as u64 == COUNTER_META_SIZE);

/// Layout hash stored in a counters region's `type_hash` field.
pub const COUNTERS_LAYOUT_HASH: u64 = {
    let mut h = crate::message::FNV_OFFSET;
    h = crate::message::fnv_str(
        h,
        "CounterMeta:kind:u32,id:u32,component:32,name:56,unit:16",
    );
    crate::message::fnv_u64(h, COUNTER_META_SIZE)
};
const COUNTERS_TYPE_NAME: &str = "counters";

/// What a counter means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CounterKind {
    /// Monotonic total (rates are computed from it).
    Counter = 1,
    /// A level that goes up and down.
    Gauge = 2,
    /// CLOCK_MONOTONIC nanoseconds of the component's last sign of life.
    Heartbeat = 3,
}

impl CounterKind {
    fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(CounterKind::Counter),
            2 => Some(CounterKind::Gauge),
            3 => Some(CounterKind::Heartbeat),
            _ => None,
        }
    }

    /// Lower-case name for tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterKind::Counter => "counter",
            CounterKind::Gauge => "gauge",
            CounterKind::Heartbeat => "heartbeat",
        }
    }
}

/// Index of a registered counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterId(u32);

#[derive(Debug, Clone)]
struct Entry {
    kind: CounterKind,
    component: String,
    name: String,
    unit: String,
}

/// Checks a component, counter or unit name: 1..=max bytes of `[a-z0-9_]`, so it is a
/// valid part of a Prometheus metric name as it stands.
pub fn check_name(what: &str, name: &str, max: usize) -> Result<(), ShmError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ShmError::Invalid {
            what: format!("{what} `{name}`"),
            problem: format!("must be 1 to {max} characters of a-z, 0-9 and _"),
        })
    }
}

fn encode<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

/// Registers counters before the region exists.
#[derive(Debug, Default)]
pub struct CountersBuilder {
    entries: Vec<Entry>,
}

impl CountersBuilder {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(
        &mut self,
        kind: CounterKind,
        component: &str,
        name: &str,
        unit: &str,
    ) -> Result<CounterId, ShmError> {
        check_name("component", component, 31)?;
        check_name("counter", name, 55)?;
        if !unit.is_empty() {
            check_name("unit", unit, 15)?;
        }
        if self
            .entries
            .iter()
            .any(|e| e.component == component && e.name == name)
        {
            return Err(ShmError::Invalid {
                what: format!("counter `{component}.{name}`"),
                problem: "registered twice".into(),
            });
        }
        let id = CounterId(self.entries.len() as u32);
        self.entries.push(Entry {
            kind,
            component: component.into(),
            name: name.into(),
            unit: unit.into(),
        });
        Ok(id)
    }

    /// Registers a monotonic counter.
    pub fn counter(
        &mut self,
        component: &str,
        name: &str,
        unit: &str,
    ) -> Result<CounterId, ShmError> {
        self.add(CounterKind::Counter, component, name, unit)
    }

    /// Registers a gauge.
    pub fn gauge(
        &mut self,
        component: &str,
        name: &str,
        unit: &str,
    ) -> Result<CounterId, ShmError> {
        self.add(CounterKind::Gauge, component, name, unit)
    }

    /// Registers the component's heartbeat.
    pub fn heartbeat(&mut self, component: &str) -> Result<CounterId, ShmError> {
        self.add(CounterKind::Heartbeat, component, "heartbeat", "ns")
    }

    /// Creates the region at `path` with everything registered so far, and seals it.
    /// The creating process becomes the owner (holds the producer lock).
    pub fn create(self, path: &Path) -> Result<CountersRegion, ShmError> {
        if self.entries.is_empty() {
            return Err(ShmError::Invalid {
                what: path.display().to_string(),
                problem: "a counters region needs at least one counter".into(),
            });
        }
        let spec = CreateSpec {
            kind: ObjectKind::Counters,
            capacity: self.entries.len() as u64,
            slot_size: COUNTER_VALUE_SIZE,
            type_hash: COUNTERS_LAYOUT_HASH,
            type_name: COUNTERS_TYPE_NAME,
            creator_role: Some((Role::Producer, LockMode::Exclusive)),
        };
        let entries = &self.entries;
        let obj = ShmObject::create(path, &spec, |obj| {
            for (i, e) in entries.iter().enumerate() {
                let meta = CounterMeta {
                    kind: e.kind as u32,
                    id: i as u32,
                    component: encode(&e.component),
                    name: encode(&e.name),
                    unit: encode(&e.unit),
                    reserved: [0; 16],
                };
                let off = HEADER_PAGE as usize + i * COUNTER_META_SIZE as usize;
                let bytes = meta.as_bytes();
                assert!(off + bytes.len() <= obj.layout().data_offset as usize);
                // SAFETY: the metadata table lies between the header page and
                // data_offset (asserted), inside the mapping; the file is not yet
                // visible to anyone else.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), obj.base().add(off), bytes.len())
                };
            }
            Ok(())
        })?;
        Ok(CountersRegion {
            taken: vec![false; self.entries.len()],
            obj: Arc::new(obj),
        })
    }
}

/// A created region; hands out one writer handle per counter.
#[derive(Debug)]
pub struct CountersRegion {
    obj: Arc<ShmObject>,
    taken: Vec<bool>,
}

impl CountersRegion {
    fn cell(&mut self, id: CounterId) -> CounterCell {
        let i = id.0 as usize;
        assert!(
            i < self.taken.len(),
            "counter id {i} is not from this region"
        );
        assert!(
            !self.taken[i],
            "counter id {i} handed out twice: one writer per counter"
        );
        self.taken[i] = true;
        let off = self.obj.layout().data_offset + i as u64 * COUNTER_VALUE_SIZE;
        let cell: *const AtomicU64 = self.obj.atomic_u64(off);
        CounterCell {
            _obj: Arc::clone(&self.obj),
            cell,
        }
    }

    /// The writer handle of a counter or gauge. Panics if taken twice (a bug).
    pub fn counter(&mut self, id: CounterId) -> Counter {
        Counter(self.cell(id))
    }

    /// The writer handle of a heartbeat. Panics if taken twice (a bug).
    pub fn heartbeat(&mut self, id: CounterId) -> Heartbeat {
        let hb = Heartbeat(self.cell(id));
        hb.beat();
        hb
    }

    /// The region's file.
    pub fn path(&self) -> &Path {
        self.obj.path()
    }
}

#[derive(Debug)]
struct CounterCell {
    _obj: Arc<ShmObject>,
    cell: *const AtomicU64,
}

// SAFETY: the pointer targets a value line inside the mapping that `_obj` keeps alive;
// moving the handle to another thread moves the only writer with it. Not Sync: a
// counter has one writer.
unsafe impl Send for CounterCell {}

impl CounterCell {
    #[inline(always)]
    fn atomic(&self) -> &AtomicU64 {
        // SAFETY: valid for as long as `_obj` lives, which is as long as `self`.
        unsafe { &*self.cell }
    }
}

/// The single writer of one counter or gauge.
#[derive(Debug)]
pub struct Counter(CounterCell);

impl Counter {
    /// Adds `n` (load then store: one writer, no locked instruction).
    #[inline(always)]
    pub fn add(&self, n: u64) {
        let a = self.0.atomic();
        a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Adds one.
    #[inline(always)]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Sets the value (gauges, or totals kept elsewhere).
    #[inline(always)]
    pub fn set(&self, v: u64) {
        self.0.atomic().store(v, Ordering::Relaxed)
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.atomic().load(Ordering::Relaxed)
    }
}

/// The single writer of a component's heartbeat.
#[derive(Debug)]
pub struct Heartbeat(CounterCell);

impl Heartbeat {
    /// Records "alive now" (CLOCK_MONOTONIC, a vDSO read).
    #[inline]
    pub fn beat(&self) {
        self.beat_at(crate::clock::monotonic_ns())
    }

    /// Records "alive at `now_ns`" when the caller already has the time.
    #[inline(always)]
    pub fn beat_at(&self, now_ns: u64) {
        self.0.atomic().store(now_ns, Ordering::Relaxed)
    }
}

/// One counter as a reader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterInfo {
    pub kind: CounterKind,
    pub component: String,
    pub name: String,
    pub unit: String,
}

/// A read-only view of a region, for `hotpath stat` and tests.
#[derive(Debug)]
pub struct CountersReader {
    obj: ShmObject,
    infos: Vec<CounterInfo>,
}

fn decode_field(
    path: &Path,
    i: usize,
    field: &str,
    bytes: &[u8],
    max: usize,
) -> Result<String, ShmError> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = std::str::from_utf8(&bytes[..end])
        .ok()
        .filter(|s| check_name(field, s, max).is_ok() || (field == "unit" && s.is_empty()));
    s.map(str::to_owned).ok_or_else(|| {
        ShmError::bad_field(
            path,
            format!("counters[{i}].{field}"),
            format!(
                "{:?} is not a valid name",
                String::from_utf8_lossy(&bytes[..end])
            ),
        )
    })
}

impl CountersReader {
    /// Maps the region read-only and validates its header and every counter's metadata.
    pub fn open(path: &Path) -> Result<Self, ShmError> {
        let expect = Expect {
            kind: Some(ObjectKind::Counters),
            message: Some((COUNTERS_TYPE_NAME, COUNTERS_LAYOUT_HASH)),
            slot_size: Some(COUNTER_VALUE_SIZE),
        };
        let obj = ShmObject::attach(path, expect, false)?;
        let n = obj.layout().capacity as usize;
        let mut infos = Vec::with_capacity(n);
        for i in 0..n {
            let off = HEADER_PAGE as usize + i * COUNTER_META_SIZE as usize;
            let mut raw = [0u8; COUNTER_META_SIZE as usize];
            // SAFETY: the metadata table lies between the header page and data_offset,
            // inside the validated mapping; a byte copy is valid whatever the contents.
            unsafe {
                std::ptr::copy_nonoverlapping(obj.base().add(off), raw.as_mut_ptr(), raw.len())
            };
            let meta = CounterMeta::read_from_bytes(&raw).expect("exact size");
            let kind = CounterKind::from_u32(meta.kind).ok_or_else(|| {
                ShmError::bad_field(
                    path,
                    format!("counters[{i}].kind"),
                    format!("{} is not a counter kind", meta.kind),
                )
            })?;
            infos.push(CounterInfo {
                kind,
                component: decode_field(path, i, "component", &meta.component, 31)?,
                name: decode_field(path, i, "name", &meta.name, 55)?,
                unit: decode_field(path, i, "unit", &meta.unit, 15)?,
            });
        }
        Ok(CountersReader { obj, infos })
    }

    /// Every counter's metadata, in registration order.
    pub fn infos(&self) -> &[CounterInfo] {
        &self.infos
    }

    /// Current values, in the order of [`Self::infos`].
    pub fn values(&self) -> Vec<u64> {
        let data = self.obj.layout().data_offset;
        (0..self.infos.len() as u64)
            .map(|i| {
                self.obj
                    .atomic_u64(data + i * COUNTER_VALUE_SIZE)
                    .load(Ordering::Relaxed)
            })
            .collect()
    }

    /// The value of `component.name`, if registered.
    pub fn get(&self, component: &str, name: &str) -> Option<u64> {
        let i = self
            .infos
            .iter()
            .position(|c| c.component == component && c.name == name)?;
        Some(self.values()[i])
    }

    /// Whether the owning process is alive (holds the region's lock).
    pub fn owner_liveness(&self) -> Result<Liveness, ShmError> {
        Ok(if self.obj.role_held(Role::Producer)? {
            Liveness::Alive
        } else {
            Liveness::Dead
        })
    }

    /// The pid of the process that created the region.
    pub fn owner_pid(&self) -> u32 {
        self.obj.header().creator_pid
    }

    /// The region's file.
    pub fn path(&self) -> &Path {
        self.obj.path()
    }
}
