//! Property tests of attach on random, truncated and corrupted files: whatever the bytes,
//! attach (and the first operations after a successful attach) return a typed error or
//! succeed; they never panic. Errors name the file, and header errors name the field.
//!
//! Files live in a scratch directory on tmpfs (`/dev/shm`). Each property runs 256 cases.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{scratch, Seq};
use hotpath_shm::broadcast::{self, JoinAt, Received};
use hotpath_shm::counters::{CounterInfo, CounterMeta, CountersBuilder, CountersReader};
use hotpath_shm::header::{self, Layout, ObjectKind, HEADER_SIZE, MAGIC};
use hotpath_shm::spsc::protocol::MAX_POSITION;
use hotpath_shm::{dir, spsc, PushError, RingError, ShmError, ShmMessage};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // Failures print the minimal input; do not write regression files into the
        // source tree (found bugs get a deterministic test below instead).
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------
// Pristine files
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Spsc,
    Broadcast,
    Counters,
}

const SPSC_CAPACITY: u64 = 8;
const BROADCAST_CAPACITY: u64 = 8;
/// Enough counters for the metadata table (5120 bytes) to spill onto a second page, so
/// there is unused padding before the values (data_offset 12288).
const COUNTERS: usize = 40;

struct Pristine {
    bytes: Vec<u8>,
    /// Counters only: what a reader of the pristine file sees.
    infos: Vec<CounterInfo>,
}

/// A valid file of each kind, made once, with no lock held (its creator is gone):
/// an SPSC ring with head 3 and tail 6, a broadcast ring that has wrapped (tail 11), and
/// a counters region of 40 counters with names up to their maximum lengths.
fn pristine(kind: Kind) -> &'static Pristine {
    static SPSC: OnceLock<Pristine> = OnceLock::new();
    static BROADCAST: OnceLock<Pristine> = OnceLock::new();
    static COUNTER_REGION: OnceLock<Pristine> = OnceLock::new();
    let cell = match kind {
        Kind::Spsc => &SPSC,
        Kind::Broadcast => &BROADCAST,
        Kind::Counters => &COUNTER_REGION,
    };
    cell.get_or_init(|| {
        let d = scratch();
        let path = d.path().join("pristine");
        let mut infos = Vec::new();
        match kind {
            Kind::Spsc => {
                let mut p = spsc::create::<Seq>(&path, SPSC_CAPACITY).unwrap();
                let mut c = spsc::Consumer::<Seq>::attach(&path).unwrap();
                for i in 0..6 {
                    p.try_push(Seq::new(i)).unwrap();
                }
                for i in 0..3 {
                    assert_eq!(c.try_pop().unwrap().unwrap().seq, i);
                }
            }
            Kind::Broadcast => {
                let mut p = broadcast::create::<Seq>(&path, BROADCAST_CAPACITY).unwrap();
                for i in 0..11 {
                    p.publish(&Seq::new(i));
                }
            }
            Kind::Counters => {
                let mut b = CountersBuilder::new();
                let mut ids = Vec::new();
                for i in 0..COUNTERS {
                    let component = if i == 0 {
                        "c".repeat(31) // longest component
                    } else {
                        format!("comp{}", i % 4)
                    };
                    let id = match i % 3 {
                        0 if i == 0 => b.counter(&component, &"n".repeat(55), &"u".repeat(15)),
                        0 => b.counter(&component, &format!("packets_{i}"), "packets"),
                        1 => b.gauge(&component, &format!("depth_{i}"), ""),
                        _ => b.counter(&component, &format!("bytes_{i}"), "bytes"),
                    };
                    ids.push(id.unwrap());
                }
                let mut region = b.create(&path).unwrap();
                for (i, id) in ids.into_iter().enumerate() {
                    region.counter(id).set(i as u64 * 1000);
                }
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        if kind == Kind::Counters {
            infos = CountersReader::open(&path).unwrap().infos().to_vec();
        }
        Pristine { bytes, infos }
    })
}

fn write_file(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("victim");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn le_u64(bytes: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------
// Checks shared by the properties
// ---------------------------------------------------------------------------------

/// Every error concerning a file names it.
fn names_path(e: &ShmError, path: &Path) -> Result<(), TestCaseError> {
    let shown = e.to_string();
    prop_assert!(
        shown.contains(&path.display().to_string()),
        "error does not name the file: {shown}"
    );
    Ok(())
}

/// After a successful attach, a ring read returns a value or `Corrupt`, nothing else.
fn ring_read<T>(r: Result<T, RingError>, path: &Path) -> Result<(), TestCaseError> {
    match r {
        Ok(_) => Ok(()),
        Err(e @ RingError::Corrupt { .. }) => {
            prop_assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!("unexpected ring error: {e}"))),
    }
}

/// Pops, batch-pops, consumes and measures a few times; then attaches a producer and
/// pushes. Never a panic, only values, Full or Corrupt.
fn exercise_spsc(path: &Path, mut c: spsc::Consumer<Seq>) -> Result<(), TestCaseError> {
    let mut out = [Seq::default(); 3];
    for _ in 0..3 {
        ring_read(c.try_pop(), path)?;
        ring_read(c.pop_slice(&mut out), path)?;
        ring_read(
            c.consume(2, |m| {
                std::hint::black_box(m);
            }),
            path,
        )?;
        ring_read(c.len(), path)?;
        ring_read(c.is_empty(), path)?;
    }
    // The indices passed the consumer's attach and the consumer only moved head forward
    // within them, so the producer's attach (same checks) must succeed too.
    let mut p = spsc::Producer::<Seq>::attach(path)
        .map_err(|e| TestCaseError::fail(format!("producer attach after consumer attach: {e}")))?;
    for i in 0..3 {
        match p.try_push(Seq::new(i)) {
            Ok(()) | Err(PushError::Full(_)) => {}
            Err(PushError::Corrupt(_, e)) => ring_read::<()>(Err(e), path)?,
        }
        ring_read(p.push_slice(&[Seq::new(10), Seq::new(11)]), path)?;
        ring_read(p.free_slots(), path)?;
        ring_read(c.try_pop(), path)?;
    }
    Ok(())
}

/// Receives a few times from both ends of the ring. Never a panic.
fn exercise_broadcast(path: &Path, mut s: broadcast::Subscriber<Seq>) -> Result<(), TestCaseError> {
    let mut oldest = broadcast::Subscriber::<Seq>::attach(path, JoinAt::Oldest)
        .map_err(|e| TestCaseError::fail(format!("second attach failed: {e}")))?;
    for _ in 0..4 {
        for sub in [&mut s, &mut oldest] {
            match sub.try_recv() {
                Ok(Received::Message { .. } | Received::Empty | Received::Lagged { .. }) => {}
                Err(e) => ring_read::<()>(Err(e), path)?,
            }
            let _ = sub.published();
        }
    }
    Ok(())
}

/// Reads every counter's value (the reader maps the file read-only).
fn exercise_counters(r: CountersReader) {
    let values = r.values();
    assert_eq!(values.len(), r.infos().len());
    let _ = r.owner_liveness();
}

// ---------------------------------------------------------------------------------
// 1. Random bytes
// ---------------------------------------------------------------------------------

fn random_file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Short files, around the header size.
        proptest::collection::vec(any::<u8>(), 0..=2 * HEADER_SIZE),
        proptest::collection::vec(any::<u8>(), 0..16 * 1024),
    ]
}

/// Random bytes cannot hold the magic: only these errors are possible.
fn random_bytes_error(e: &ShmError, len: usize, path: &Path) -> Result<(), TestCaseError> {
    names_path(e, path)?;
    match e {
        ShmError::Truncated {
            field: "header",
            needed,
            actual,
            ..
        } => {
            prop_assert!(len < HEADER_SIZE, "{e}");
            prop_assert_eq!(*needed, HEADER_SIZE as u64);
            prop_assert_eq!(*actual, len as u64);
        }
        ShmError::BadMagic { found, .. } => {
            prop_assert!(len >= HEADER_SIZE, "{e}");
            prop_assert_ne!(*found, MAGIC);
        }
        ShmError::NotPublished { .. } => prop_assert!(len >= HEADER_SIZE, "{e}"),
        other => prop_assert!(false, "unexpected error for random bytes: {other}"),
    }
    prop_assert_eq!(
        e.field(),
        if len < HEADER_SIZE {
            Some("header")
        } else {
            Some("magic")
        }
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_attach(bytes in random_file()) {
        prop_assume!(bytes.len() < 8 || le_u64(&bytes, 0) != MAGIC);
        let d = scratch();
        let path = write_file(d.path(), &bytes);
        let len = bytes.len();

        let e = spsc::Consumer::<Seq>::attach(&path).expect_err("spsc consumer attached");
        random_bytes_error(&e, len, &path)?;
        let e = spsc::Producer::<Seq>::attach(&path).expect_err("spsc producer attached");
        random_bytes_error(&e, len, &path)?;
        let e = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest)
            .expect_err("broadcast subscriber attached");
        random_bytes_error(&e, len, &path)?;
        let e = CountersReader::open(&path).expect_err("counters reader opened");
        random_bytes_error(&e, len, &path)?;
        let e = dir::inspect(&path).expect_err("inspect succeeded");
        random_bytes_error(&e, len, &path)?;
        // The file is untouched by failed attaches.
        prop_assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}

// ---------------------------------------------------------------------------------
// 2. Truncated valid files
// ---------------------------------------------------------------------------------

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Spsc),
        Just(Kind::Broadcast),
        Just(Kind::Counters)
    ]
}

/// A kind and a length strictly shorter than its pristine file.
fn truncation() -> impl Strategy<Value = (Kind, usize)> {
    kind().prop_flat_map(|k| {
        let full = pristine(k).bytes.len();
        (
            Just(k),
            prop_oneof![0..=HEADER_SIZE, 0..full, full - 64..full],
        )
    })
}

fn attach_typed(kind: Kind, path: &Path) -> Result<(), ShmError> {
    match kind {
        Kind::Spsc => spsc::Consumer::<Seq>::attach(path).map(drop),
        Kind::Broadcast => broadcast::Subscriber::<Seq>::attach(path, JoinAt::Latest).map(drop),
        Kind::Counters => CountersReader::open(path).map(drop),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn truncated_files_are_truncated((kind, cut) in truncation()) {
        let full = pristine(kind).bytes.len();
        let d = scratch();
        let path = write_file(d.path(), &pristine(kind).bytes[..cut]);
        // Cut inside the header: the header cannot be read. Anywhere after it the header
        // is intact and valid, so the only thing wrong is the length it promises.
        let (field, needed) = if cut < HEADER_SIZE {
            ("header", HEADER_SIZE as u64)
        } else {
            ("file_size", full as u64)
        };
        let typed = attach_typed(kind, &path).expect_err("a truncated file attached");
        let inspected = dir::inspect(&path).expect_err("a truncated file was inspected");
        let mut errors = vec![typed, inspected];
        if kind == Kind::Spsc {
            errors.push(spsc::Producer::<Seq>::attach(&path).expect_err("producer attached"));
        }
        for e in &errors {
            names_path(e, &path)?;
            match e {
                ShmError::Truncated { field: f, needed: n, actual, .. } => {
                    prop_assert_eq!(*f, field);
                    prop_assert_eq!(*n, needed);
                    prop_assert_eq!(*actual, cut as u64);
                }
                other => prop_assert!(false, "expected Truncated, got {other}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// 3. Bytes flipped in the header or a ring's control page
// ---------------------------------------------------------------------------------

/// The header field at byte `off` (< 136).
fn header_field(off: usize) -> &'static str {
    match off {
        0..8 => "magic",
        8..12 => "layout_version",
        12..16 => "kind",
        16..20 => "header_size",
        20..24 => "creator_pid",
        24..32 => "type_hash",
        32..40 => "capacity",
        40..48 => "slot_size",
        48..56 => "data_offset",
        56..64 => "file_size",
        64..72 => "created_unix_ns",
        72..136 => "type_name",
        _ => unreachable!("offset {off} is not in the header"),
    }
}

/// Who attaches: a typed end (which checks kind, type hash and slot size against its
/// message type) or `dir::inspect` (which accepts any valid object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Typed,
    Inspect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Never checked: changing it cannot make attach fail.
    Free,
    /// Checked on its own: changing it always makes attach fail.
    Hard,
    /// Checked against the layout derived from other fields (kind, capacity,
    /// slot_size): changing one alone fails, changing several might agree again.
    Coupled,
}

fn check(field: &str, api: Api) -> Check {
    match (field, api) {
        ("creator_pid" | "created_unix_ns" | "type_name", _) => Check::Free,
        ("type_hash", Api::Inspect) => Check::Free,
        ("magic" | "layout_version" | "header_size", _) => Check::Hard,
        ("kind" | "type_hash" | "slot_size", Api::Typed) => Check::Hard,
        ("kind" | "slot_size" | "capacity" | "data_offset" | "file_size", _) => Check::Coupled,
        _ => unreachable!("{field}"),
    }
}

/// The fields an error may name when `field` alone is changed.
fn blamed(field: &'static str, api: Api) -> &'static [&'static str] {
    match (field, api) {
        // A new capacity is either invalid, or valid with another data offset (counters
        // whose metadata table changes page count) or another file size.
        ("capacity", _) => &["capacity", "data_offset", "file_size"],
        // inspect expects no particular kind: another valid kind is judged by its own
        // layout rules (an spsc ring of 64-byte slots is a valid counters layout!).
        ("kind", Api::Inspect) => &["kind", "capacity", "slot_size", "data_offset", "file_size"],
        // inspect expects no slot size: a valid new one changes the file size.
        ("slot_size", Api::Inspect) => &["slot_size", "file_size"],
        ("magic", _) => &["magic"],
        ("layout_version", _) => &["layout_version"],
        ("header_size", _) => &["header_size"],
        ("kind", Api::Typed) => &["kind"],
        ("type_hash", Api::Typed) => &["type_hash"],
        ("slot_size", Api::Typed) => &["slot_size"],
        ("data_offset", _) => &["data_offset"],
        ("file_size", _) => &["file_size"],
        _ => &[],
    }
}

/// Flips (offset -> xor mask, never 0, distinct offsets) in the header, weighted towards
/// the checked fields before the type name.
fn header_flips() -> impl Strategy<Value = BTreeMap<usize, u8>> {
    let offset = prop_oneof![2 => 0..HEADER_SIZE, 3 => 0..72usize];
    proptest::collection::btree_map(offset, 1..=255u8, 1..8)
}

/// Flips in a ring's control page, weighted towards the words in use.
fn control_flips() -> impl Strategy<Value = BTreeMap<usize, u8>> {
    let offset = prop_oneof![
        4 => 4096..4104usize, // tail
        1 => 4104..4112usize, // producer pid
        4 => 4224..4232usize, // head (spsc)
        1 => 4232..4240usize, // consumer pid (spsc)
        1 => 4096..8192usize, // anywhere
    ];
    proptest::collection::btree_map(offset, 1..=255u8, 1..8)
}

fn flip(kind: Kind, flips: &BTreeMap<usize, u8>) -> Vec<u8> {
    let mut bytes = pristine(kind).bytes.clone();
    for (&off, &mask) in flips {
        bytes[off] ^= mask;
    }
    bytes
}

/// What the header flips allow attach (by `api`) to do: whether it must succeed, whether
/// it may succeed, and which fields an error may name.
struct Allowed {
    must_succeed: bool,
    may_succeed: bool,
    fields: BTreeSet<&'static str>,
}

fn allowed(kind: Kind, header_fields: &BTreeSet<&'static str>, api: Api) -> Allowed {
    let checks: Vec<Check> = header_fields.iter().map(|f| check(f, api)).collect();
    let coupled = checks.iter().filter(|r| **r == Check::Coupled).count();
    let mut fields: BTreeSet<&'static str> = header_fields
        .iter()
        .flat_map(|f| blamed(f, api).iter().copied())
        .collect();
    let only_kind = header_fields
        .iter()
        .all(|f| check(f, api) != Check::Coupled || *f == "kind");
    let may_succeed = !checks.contains(&Check::Hard)
        && (coupled == 0 || coupled >= 2 || (api == Api::Inspect && only_kind));
    if coupled >= 2 && api == Api::Typed && kind == Kind::Spsc {
        // A smaller capacity that agrees with the rest may be too small for the indices.
        fields.insert("head");
        fields.insert("tail");
    }
    Allowed {
        must_succeed: checks.iter().all(|r| *r == Check::Free),
        may_succeed,
        fields,
    }
}

/// Checks an attach result against what the flips allow; `also` accepts further fields.
fn check_against<T>(
    r: Result<T, ShmError>,
    allowed: &Allowed,
    also: impl Fn(&str) -> bool,
    path: &Path,
) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(v) => {
            prop_assert!(allowed.may_succeed, "attach succeeded");
            Ok(Some(v))
        }
        Err(e) => {
            names_path(&e, path)?;
            prop_assert!(
                !allowed.must_succeed,
                "only unchecked fields changed, yet: {e}"
            );
            let field = e.field();
            prop_assert!(
                field.is_some_and(|f| allowed.fields.contains(f) || also(f)),
                "error names {:?}, expected one of {:?}: {e}",
                field,
                allowed.fields
            );
            Ok(None)
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn flipped_header_bytes(kind in kind(), flips in header_flips()) {
        let d = scratch();
        let path = write_file(d.path(), &flip(kind, &flips));
        let fields: BTreeSet<&'static str> = flips.keys().map(|&o| header_field(o)).collect();

        // The typed end of the file's own kind.
        let typed = allowed(kind, &fields, Api::Typed);
        match kind {
            Kind::Spsc => {
                let r = spsc::Consumer::<Seq>::attach(&path);
                if let Some(c) = check_against(r, &typed, |_| false, &path)? {
                    exercise_spsc(&path, c)?;
                }
            }
            Kind::Broadcast => {
                let r = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest);
                if let Some(s) = check_against(r, &typed, |_| false, &path)? {
                    exercise_broadcast(&path, s)?;
                }
            }
            Kind::Counters => {
                // A capacity that agrees with a changed layout makes the reader look at
                // rows that hold no counter.
                let rows = |f: &str| typed.may_succeed && f.starts_with("counters[");
                if let Some(r) = check_against(CountersReader::open(&path), &typed, rows, &path)? {
                    exercise_counters(r);
                }
            }
        }

        // The operator's view accepts any valid object.
        let inspect = allowed(kind, &fields, Api::Inspect);
        check_against(dir::inspect(&path), &inspect, |_| false, &path)?;
        // And listing the directory never fails because of one bad file.
        prop_assert_eq!(dir::list(d.path()).unwrap().len(), 1);
    }

    #[test]
    fn flipped_spsc_control_bytes(flips in control_flips()) {
        let bytes = flip(Kind::Spsc, &flips);
        let d = scratch();
        let path = write_file(d.path(), &bytes);
        // The header is intact, so the only check left is on the indices, which can be
        // predicted exactly.
        let head = le_u64(&bytes, spsc::HEAD_OFFSET as usize);
        let tail = le_u64(&bytes, spsc::TAIL_OFFSET as usize);
        let indices_ok = tail <= MAX_POSITION && head <= tail && tail - head <= SPSC_CAPACITY;
        match spsc::Consumer::<Seq>::attach(&path) {
            Ok(c) => {
                prop_assert!(indices_ok, "attach took head {}, tail {}", head, tail);
                exercise_spsc(&path, c)?;
            }
            Err(e) => {
                names_path(&e, &path)?;
                prop_assert!(!indices_ok, "valid indices refused: {e}");
                let blame = if tail <= MAX_POSITION && head > tail { "head" } else { "tail" };
                prop_assert!(matches!(e, ShmError::BadField { .. }), "{e}");
                prop_assert_eq!(e.field(), Some(blame), "{}", e);
            }
        }
        // The producer end checks the same indices.
        match spsc::Producer::<Seq>::attach(&path) {
            Ok(p) => {
                prop_assert!(indices_ok);
                drop(p);
            }
            Err(e) => prop_assert!(!indices_ok && e.field().is_some(), "{e}"),
        }
        prop_assert!(dir::inspect(&path).is_ok());
    }

    #[test]
    fn flipped_broadcast_control_bytes(flips in control_flips()) {
        let d = scratch();
        let path = write_file(d.path(), &flip(Kind::Broadcast, &flips));
        // A subscriber checks only that the published count is a possible position
        // (at most 2^62); past that, whatever the count says, receiving is Ok or Corrupt.
        let tail = le_u64(&flip(Kind::Broadcast, &flips), broadcast::TAIL_OFFSET as usize);
        match broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest) {
            Ok(s) => {
                prop_assert!(tail <= MAX_POSITION, "attached with tail {}", tail);
                exercise_broadcast(&path, s)?;
            }
            Err(e) => {
                names_path(&e, &path)?;
                prop_assert!(tail > MAX_POSITION, "refused tail {}: {e}", tail);
                prop_assert_eq!(e.field(), Some("tail"), "{}", e);
            }
        }
        prop_assert!(dir::inspect(&path).is_ok());
    }
}

/// The field a typed attach blames when the capacity alone becomes `capacity`, from the
/// layout rules in src/header.rs: rings need a power of two up to 2^32 (data always at
/// 8192); counters need 1..=65536, and their data follows the metadata pages.
fn capacity_blame(kind: Kind, capacity: u64) -> &'static str {
    match kind {
        Kind::Spsc | Kind::Broadcast if capacity.is_power_of_two() && capacity <= 1 << 32 => {
            "file_size"
        }
        Kind::Counters if (1..=1 << 16).contains(&capacity) => {
            let data_offset = 4096 + (capacity * 128).next_multiple_of(4096);
            if data_offset != COUNTERS_DATA_OFFSET as u64 {
                "data_offset"
            } else {
                "file_size"
            }
        }
        _ => "capacity",
    }
}

/// Single flips, enumerated rather than sampled: every header byte of every kind, with
/// several masks, makes the typed attach name exactly the field the byte belongs to (for
/// capacity: the field its layout rules blame), or succeed if the field is unchecked;
/// and `dir::inspect` stays within what the flip allows.
#[test]
fn every_single_header_byte_names_its_field() {
    for kind in [Kind::Spsc, Kind::Broadcast, Kind::Counters] {
        let d = scratch();
        for off in 0..HEADER_SIZE {
            for mask in [0x01u8, 0x02, 0x10, 0x40, 0x80, 0xff] {
                let flips = BTreeMap::from([(off, mask)]);
                let bytes = flip(kind, &flips);
                let path = write_file(d.path(), &bytes);
                let field = header_field(off);
                let what = format!("{kind:?} byte {off} ({field}) ^ {mask:#04x}");
                match (check(field, Api::Typed), attach_typed(kind, &path)) {
                    (Check::Free, r) => assert!(r.is_ok(), "{what}: {r:?}"),
                    (_, Ok(())) => panic!("{what}: accepted"),
                    (_, Err(e)) => {
                        let want = if field == "capacity" {
                            capacity_blame(kind, le_u64(&bytes, 32))
                        } else {
                            field
                        };
                        assert_eq!(e.field(), Some(want), "{what}: {e}");
                        assert!(e.to_string().contains(&path.display().to_string()));
                    }
                }
                let allowed = allowed(kind, &BTreeSet::from([field]), Api::Inspect);
                check_against(dir::inspect(&path), &allowed, |_| false, &path)
                    .unwrap_or_else(|e| panic!("{what}: inspect: {e}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// 4. Bytes flipped in a counters region's metadata table
// ---------------------------------------------------------------------------------

const COUNTERS_DATA_OFFSET: usize = 12288;

/// The checked sub-field of a counter's metadata at byte `within` (< 128), if checked.
fn meta_field(within: usize) -> Option<&'static str> {
    match within {
        0..4 => Some("kind"),
        4..8 => None, // id: not checked
        8..40 => Some("component"),
        40..96 => Some("name"),
        96..112 => Some("unit"),
        112..128 => None, // reserved
        _ => unreachable!(),
    }
}

fn meta_flips() -> impl Strategy<Value = BTreeMap<usize, u8>> {
    let offset = prop_oneof![
        // The table; the table and the padding after it; the counter with the longest names.
        3 => 4096usize..4096 + COUNTERS * 128,
        1 => 4096usize..COUNTERS_DATA_OFFSET,
        1 => 4096usize..4096 + 128,
    ];
    proptest::collection::btree_map(offset, 1..=255u8, 1..8)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn flipped_counter_metadata(flips in meta_flips()) {
        let p = pristine(Kind::Counters);
        assert_eq!(le_u64(&p.bytes, 48) as usize, COUNTERS_DATA_OFFSET);
        let mut bytes = p.bytes.clone();
        for (&off, &mask) in &flips {
            bytes[off] ^= mask;
        }
        let d = scratch();
        let path = write_file(d.path(), &bytes);
        // (counter, sub-field) pairs whose checked bytes changed.
        let touched: BTreeSet<(usize, &'static str)> = flips
            .keys()
            .filter(|&&o| o < 4096 + COUNTERS * 128)
            .filter_map(|&o| {
                let i = (o - 4096) / 128;
                meta_field((o - 4096) % 128).map(|f| (i, f))
            })
            .collect();
        match CountersReader::open(&path) {
            Ok(r) => {
                // Counters whose checked bytes were not touched read as before.
                for (i, info) in r.infos().iter().enumerate() {
                    let untouched = !touched.iter().any(|&(j, _)| j == i);
                    if untouched {
                        prop_assert_eq!(info, &p.infos[i], "counter {}", i);
                    }
                }
                exercise_counters(r);
            }
            Err(e) => {
                names_path(&e, &path)?;
                prop_assert!(!touched.is_empty(), "only unchecked bytes changed, yet: {e}");
                let field = e.field().unwrap_or_default().to_owned();
                prop_assert!(
                    matches!(e, ShmError::BadField { .. }) && field.starts_with("counters["),
                    "{e}"
                );
                prop_assert!(
                    touched.iter().any(|(i, f)| field == format!("counters[{i}].{f}")),
                    "error names {field}, but only {touched:?} changed"
                );
            }
        }
        // inspect only reads the header: the table is none of its business.
        prop_assert!(dir::inspect(&path).is_ok());
    }
}

// ---------------------------------------------------------------------------------
// 5. Plausible headers over random contents
// ---------------------------------------------------------------------------------

/// `s` NUL-padded into a fixed-size name field.
fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out[..s.len()].copy_from_slice(s.as_bytes());
    out
}

/// A header with the right magic, version and size, aimed at one kind (or none), whose
/// other fields are usually right for that kind and sometimes not, over random contents,
/// with ring indices that are small, huge, near 2^63 or near u64::MAX.
fn plausible_file() -> impl Strategy<Value = Vec<u8>> {
    let right = || proptest::bool::weighted(0.875);
    let base = prop_oneof![
        2 => 0u64..64,
        2 => (u64::MAX - 64)..=u64::MAX,
        1 => (u64::MAX / 2 - 64)..=(u64::MAX / 2 + 64),
        1 => any::<u64>(),
    ];
    (
        (
            prop_oneof![3 => Just(0u8), 3 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8)],
            any::<u32>(),
            right(),
            right(),
            right(),
            right(),
        ),
        (
            0u32..=6,
            1u64..=200,
            prop_oneof![1u64..256, any::<u64>()],
            any::<u64>(),
        ),
        (
            base,
            any::<u64>(),
            any::<u64>(),
            proptest::bool::weighted(0.25),
        ),
        (
            prop_oneof![3 => Just(0usize), 1 => 1usize..64],
            any::<u64>(),
        ),
    )
        .prop_map(|(aim, sizes, indices, fill)| {
            let (target, random_kind, hash_right, slot_right, capacity_right, layout_right) = aim;
            let (ring_log, counters, odd_size, odd) = sizes;
            let (base, ahead, random_index, random_indices) = indices;
            let meta_right = hash_right;
            let (short, seed) = fill;
            let kind = match target {
                0 => ObjectKind::Spsc as u32,
                1 => ObjectKind::Broadcast as u32,
                2 => ObjectKind::Counters as u32,
                _ => random_kind,
            };
            let (hash, slot, capacity) = match target {
                0 | 1 => (
                    Seq::LAYOUT_HASH,
                    if target == 0 {
                        64
                    } else {
                        broadcast::slot_size::<Seq>()
                    },
                    1u64 << ring_log,
                ),
                _ => (hotpath_shm::counters::COUNTERS_LAYOUT_HASH, 64, counters),
            };
            let hash = if hash_right { hash } else { odd };
            let slot = if slot_right { slot } else { odd_size };
            let capacity = if capacity_right { capacity } else { odd };
            let layout = ObjectKind::from_u32(kind)
                .and_then(|k| Layout::compute(Path::new("x"), k, capacity, slot).ok());
            let (data_offset, file_size) = match layout {
                Some(l) if layout_right => (l.data_offset, l.file_size),
                _ => (8192, 8192 + odd % 8192),
            };
            let len = (file_size.min(64 * 1024) as usize).saturating_sub(short);
            // Deterministic filler (xorshift), cheaper than a random vector per case.
            let mut x = seed | 1;
            let mut bytes: Vec<u8> = (0..len.max(4240))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let h = header::RawHeader {
                magic: MAGIC,
                layout_version: header::LAYOUT_VERSION,
                kind,
                header_size: HEADER_SIZE as u32,
                creator_pid: 1,
                type_hash: hash,
                capacity,
                slot_size: slot,
                data_offset,
                file_size,
                created_unix_ns: 0,
                type_name: header::RawHeader::encode_name("Seq"),
            };
            bytes[..HEADER_SIZE].copy_from_slice(zerocopy::IntoBytes::as_bytes(&h));
            // Mostly within a capacity (plus one) of each other, so attach often passes.
            let (head, tail) = if random_indices {
                (base, random_index)
            } else {
                (
                    base,
                    base.saturating_add(ahead % (capacity.min(1 << 20) + 2)),
                )
            };
            if target == 2 && meta_right && layout.is_some() {
                // Valid counter metadata, so the reader gets as far as the values.
                let rows = (data_offset as usize).min(bytes.len()).saturating_sub(4096) / 128;
                for i in 0..(capacity as usize).min(rows) {
                    let meta = CounterMeta {
                        kind: 1 + (i % 3) as u32,
                        id: i as u32,
                        component: fixed("comp"),
                        name: fixed(&format!("n{i}")),
                        unit: fixed(if i % 2 == 0 { "ns" } else { "" }),
                        reserved: [0; 16],
                    };
                    bytes[4096 + i * 128..][..128]
                        .copy_from_slice(zerocopy::IntoBytes::as_bytes(&meta));
                }
            } else {
                bytes[4096..4104].copy_from_slice(&tail.to_le_bytes());
                bytes[4224..4232].copy_from_slice(&head.to_le_bytes());
            }
            bytes.truncate(len);
            bytes
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plausible_headers_over_random_contents(bytes in plausible_file()) {
        let d = scratch();
        let path = write_file(d.path(), &bytes);
        match spsc::Consumer::<Seq>::attach(&path) {
            Ok(c) => exercise_spsc(&path, c)?,
            Err(e) => names_path(&e, &path)?,
        }
        match broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest) {
            Ok(s) => exercise_broadcast(&path, s)?,
            Err(e) => names_path(&e, &path)?,
        }
        match CountersReader::open(&path) {
            Ok(r) => exercise_counters(r),
            Err(e) => names_path(&e, &path)?,
        }
        if let Err(e) = dir::inspect(&path) {
            names_path(&e, &path)?;
        }
    }
}

// ---------------------------------------------------------------------------------
// Regressions: positions near the top of u64 once overflowed index arithmetic
// ---------------------------------------------------------------------------------

/// A broadcast `tail` of 2^63 + 11 (the top bit of byte 4103 flipped) used to attach
/// and then overflow `2 * n + 2` on the first receive; it is now refused at attach.
#[test]
fn broadcast_huge_tail_is_refused() {
    let d = scratch();
    let mut bytes = pristine(Kind::Broadcast).bytes.clone();
    bytes[4103] ^= 0x80;
    let path = write_file(d.path(), &bytes);
    let e = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest).unwrap_err();
    assert_eq!(e.field(), Some("tail"), "{e}");
    let e = broadcast::Publisher::<Seq>::attach(&path).unwrap_err();
    assert_eq!(e.field(), Some("tail"), "{e}");
}

/// SPSC indices both at u64::MAX - 1 (an "empty ring") used to attach and then overflow
/// `tail += n` on the second push; they are now refused at attach, by both ends.
#[test]
fn spsc_positions_near_u64_max_are_refused() {
    let d = scratch();
    let mut bytes = pristine(Kind::Spsc).bytes.clone();
    let near = (u64::MAX - 1).to_le_bytes();
    bytes[spsc::TAIL_OFFSET as usize..][..8].copy_from_slice(&near);
    bytes[spsc::HEAD_OFFSET as usize..][..8].copy_from_slice(&near);
    let path = write_file(d.path(), &bytes);
    let e = spsc::Producer::<Seq>::attach(&path).unwrap_err();
    assert_eq!(e.field(), Some("tail"), "{e}");
    let e = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert_eq!(e.field(), Some("tail"), "{e}");
}
