//! The file header every shm object starts with, and its validation.
//!
//! ```text
//! offset  size  field
//!      0     8  magic            "HOTPATH1" little-endian; written last, with release ordering
//!      8     4  layout_version   LAYOUT_VERSION of the build that made the file
//!     12     4  kind             1 = SPSC ring, 2 = broadcast ring, 3 = counters region
//!     16     4  header_size      size of this header (136)
//!     20     4  creator_pid
//!     24     8  type_hash        layout hash of the message type (0 for counters)
//!     32     8  capacity         slots (power of two for rings) or counters
//!     40     8  slot_size        bytes per slot
//!     48     8  data_offset      where slots (or counter values) start
//!     56     8  file_size        total bytes the file must have
//!     64     8  created_unix_ns
//!     72    64  type_name        NUL-padded UTF-8
//! ```
//!
//! The header page (4 KiB) is immutable once published. Rings keep their indices on a
//! control page after it; slots start on the next page.

use std::path::Path;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::ShmError;

/// "HOTPATH1" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"HOTPATH1");
/// Bumped whenever any shared layout (header, control page, counters metadata) changes.
pub const LAYOUT_VERSION: u32 = 1;
/// Bytes reserved for the header (one page).
pub const HEADER_PAGE: u64 = 4096;
/// Rings' control page (indices, pids) starts here.
pub const CONTROL_OFFSET: u64 = HEADER_PAGE;
/// Rings' slots start here.
pub const RING_DATA_OFFSET: u64 = HEADER_PAGE + 4096;
/// Largest ring capacity accepted (slots).
pub const MAX_RING_CAPACITY: u64 = 1 << 32;
/// Largest slot accepted (bytes).
pub const MAX_SLOT_SIZE: u64 = 1 << 20;
/// Largest file accepted (bytes).
pub const MAX_FILE_SIZE: u64 = 1 << 40;
/// Largest counters region accepted (counters).
pub const MAX_COUNTERS: u64 = 1 << 16;
/// Bytes of metadata per counter.
pub const COUNTER_META_SIZE: u64 = 128;
/// Bytes per counter value (one cache line each).
pub const COUNTER_VALUE_SIZE: u64 = 64;

/// What a shm file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ObjectKind {
    /// Single-producer single-consumer ring.
    Spsc = 1,
    /// One producer, any number of consumers that may lag and lose messages.
    Broadcast = 2,
    /// Named counters and heartbeats.
    Counters = 3,
}

impl ObjectKind {
    /// Decodes the `kind` field.
    pub fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(ObjectKind::Spsc),
            2 => Some(ObjectKind::Broadcast),
            3 => Some(ObjectKind::Counters),
            _ => None,
        }
    }

    /// Short lower-case name, as `hotpath shm ls` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Spsc => "spsc",
            ObjectKind::Broadcast => "broadcast",
            ObjectKind::Counters => "counters",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header exactly as it lies in the file.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RawHeader {
    pub magic: u64,
    pub layout_version: u32,
    pub kind: u32,
    pub header_size: u32,
    pub creator_pid: u32,
    pub type_hash: u64,
    pub capacity: u64,
    pub slot_size: u64,
    pub data_offset: u64,
    pub file_size: u64,
    pub created_unix_ns: u64,
    pub type_name: [u8; 64],
}

/// Size of [`RawHeader`] in bytes.
pub const HEADER_SIZE: usize = 136;
const _: () = assert!(std::mem::size_of::<RawHeader>() == HEADER_SIZE);
const _: () = assert!((HEADER_SIZE as u64) <= HEADER_PAGE);

impl RawHeader {
    /// The `type_name` field as text (lossy; up to the first NUL).
    pub fn type_name(&self) -> String {
        let end = self.type_name.iter().position(|&b| b == 0).unwrap_or(64);
        String::from_utf8_lossy(&self.type_name[..end]).into_owned()
    }

    /// Encodes a type name into the fixed field (truncated to 63 bytes on a char boundary).
    pub fn encode_name(name: &str) -> [u8; 64] {
        let mut out = [0u8; 64];
        let mut end = name.len().min(63);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        out[..end].copy_from_slice(&name.as_bytes()[..end]);
        out
    }
}

/// Layout facts derived from a validated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub kind: ObjectKind,
    pub capacity: u64,
    pub slot_size: u64,
    pub data_offset: u64,
    pub file_size: u64,
}

impl Layout {
    /// Computes where the data goes and how big the file is for a kind, capacity and slot size.
    /// Fails (naming the field) when a value is out of range.
    pub fn compute(
        path: &Path,
        kind: ObjectKind,
        capacity: u64,
        slot_size: u64,
    ) -> Result<Layout, ShmError> {
        match kind {
            ObjectKind::Spsc | ObjectKind::Broadcast => {
                if capacity == 0 || !capacity.is_power_of_two() {
                    return Err(ShmError::bad_field(
                        path,
                        "capacity",
                        format!("{capacity} is not a power of two"),
                    ));
                }
                if capacity > MAX_RING_CAPACITY {
                    return Err(ShmError::bad_field(
                        path,
                        "capacity",
                        format!("{capacity} exceeds the maximum {MAX_RING_CAPACITY}"),
                    ));
                }
            }
            ObjectKind::Counters => {
                if capacity == 0 || capacity > MAX_COUNTERS {
                    return Err(ShmError::bad_field(
                        path,
                        "capacity",
                        format!("{capacity} counters is outside 1..={MAX_COUNTERS}"),
                    ));
                }
                if slot_size != COUNTER_VALUE_SIZE {
                    return Err(ShmError::bad_field(
                        path,
                        "slot_size",
                        format!("{slot_size} but counter values take {COUNTER_VALUE_SIZE} bytes"),
                    ));
                }
            }
        }
        if slot_size == 0 || slot_size > MAX_SLOT_SIZE {
            return Err(ShmError::bad_field(
                path,
                "slot_size",
                format!("{slot_size} is outside 1..={MAX_SLOT_SIZE}"),
            ));
        }
        let data_offset = match kind {
            ObjectKind::Spsc | ObjectKind::Broadcast => RING_DATA_OFFSET,
            ObjectKind::Counters => {
                HEADER_PAGE + (capacity * COUNTER_META_SIZE).next_multiple_of(HEADER_PAGE)
            }
        };
        let file_size = capacity
            .checked_mul(slot_size)
            .and_then(|d| d.checked_add(data_offset))
            .filter(|&s| s <= MAX_FILE_SIZE)
            .ok_or_else(|| {
                ShmError::bad_field(
                    path,
                    "capacity",
                    format!(
                        "{capacity} slots of {slot_size} bytes exceed the maximum file size {MAX_FILE_SIZE}"
                    ),
                )
            })?;
        Ok(Layout {
            kind,
            capacity,
            slot_size,
            data_offset,
            file_size,
        })
    }
}

/// What the caller expects to find; `None` accepts anything valid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect {
    pub kind: Option<ObjectKind>,
    /// (type name, layout hash)
    pub message: Option<(&'static str, u64)>,
    pub slot_size: Option<u64>,
}

/// Checks a header read from `path` (whose length is `file_len`) field by field.
/// Never panics, whatever the bytes.
pub fn validate(
    path: &Path,
    bytes: &[u8],
    file_len: u64,
    expect: Expect,
) -> Result<(RawHeader, Layout), ShmError> {
    let Ok((h, _)) = RawHeader::read_from_prefix(bytes) else {
        return Err(ShmError::Truncated {
            path: path.into(),
            field: "header",
            needed: HEADER_SIZE as u64,
            actual: file_len,
        });
    };
    if h.magic == 0 {
        return Err(ShmError::NotPublished { path: path.into() });
    }
    if h.magic != MAGIC {
        return Err(ShmError::BadMagic {
            path: path.into(),
            found: h.magic,
            expected: MAGIC,
        });
    }
    if h.layout_version != LAYOUT_VERSION {
        return Err(ShmError::VersionMismatch {
            path: path.into(),
            found: h.layout_version,
            expected: LAYOUT_VERSION,
        });
    }
    if h.header_size as usize != HEADER_SIZE {
        return Err(ShmError::bad_field(
            path,
            "header_size",
            format!(
                "{} but this layout's header is {HEADER_SIZE} bytes",
                h.header_size
            ),
        ));
    }
    let Some(kind) = ObjectKind::from_u32(h.kind) else {
        return Err(ShmError::WrongKind {
            path: path.into(),
            found: format!("unknown kind {}", h.kind),
            expected: expect.kind.unwrap_or(ObjectKind::Spsc),
        });
    };
    if let Some(want) = expect.kind {
        if want != kind {
            return Err(ShmError::WrongKind {
                path: path.into(),
                found: kind.to_string(),
                expected: want,
            });
        }
    }
    if let Some((name, hash)) = expect.message {
        if h.type_hash != hash {
            return Err(ShmError::IncompatibleType {
                path: path.into(),
                found_name: h.type_name(),
                found: h.type_hash,
                expected_name: name,
                expected: hash,
            });
        }
    }
    if let Some(slot) = expect.slot_size {
        if h.slot_size != slot {
            return Err(ShmError::bad_field(
                path,
                "slot_size",
                format!("{} but the message type needs {slot}", h.slot_size),
            ));
        }
    }
    let layout = Layout::compute(path, kind, h.capacity, h.slot_size)?;
    if h.data_offset != layout.data_offset {
        return Err(ShmError::bad_field(
            path,
            "data_offset",
            format!(
                "{} but the layout puts data at {}",
                h.data_offset, layout.data_offset
            ),
        ));
    }
    if h.file_size != layout.file_size {
        return Err(ShmError::bad_field(
            path,
            "file_size",
            format!("{} but the layout needs {}", h.file_size, layout.file_size),
        ));
    }
    if file_len < layout.file_size {
        return Err(ShmError::Truncated {
            path: path.into(),
            field: "file_size",
            needed: layout.file_size,
            actual: file_len,
        });
    }
    Ok((h, layout))
}
