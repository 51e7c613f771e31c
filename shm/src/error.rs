//! Typed errors. Every error that concerns a file names the file; every error about
//! a header or control field names the field, so an operator can tell what is wrong
//! without a debugger.

use std::io;
use std::path::PathBuf;

use crate::header::ObjectKind;

/// Errors from creating, attaching to or inspecting a shm object.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// An operating-system call failed (open, ftruncate, mmap, fcntl, rename...).
    #[error("{path}: {op} failed: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// The file is shorter than its header says it must be (or shorter than a header).
    #[error("{path}: truncated: field `{field}` needs {needed} bytes but the file has {actual}")]
    Truncated {
        path: PathBuf,
        field: &'static str,
        needed: u64,
        actual: u64,
    },

    /// The magic number is absent or wrong: not a hotpath shm file.
    #[error("{path}: field `magic`: found {found:#018x}, expected {expected:#018x} (not a hotpath shm object)")]
    BadMagic {
        path: PathBuf,
        found: u64,
        expected: u64,
    },

    /// The magic number is still zero: the creator has not finished (or died while creating).
    #[error("{path}: field `magic` is zero: the header was never published (creation unfinished or interrupted)")]
    NotPublished { path: PathBuf },

    /// The file was written by a build with another layout version.
    #[error("{path}: field `layout_version`: file has version {found}, this build reads version {expected}")]
    VersionMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    /// The object is of another kind (e.g. a counters region opened as a ring).
    #[error("{path}: field `kind`: file holds {found}, expected {expected}")]
    WrongKind {
        path: PathBuf,
        found: String,
        expected: ObjectKind,
    },

    /// The message type stored in the file is not the one the caller expects.
    #[error("{path}: field `type_hash`: file holds messages of type `{found_name}` (layout hash {found:#018x}), expected `{expected_name}` (layout hash {expected:#018x})")]
    IncompatibleType {
        path: PathBuf,
        found_name: String,
        found: u64,
        expected_name: &'static str,
        expected: u64,
    },

    /// A header or control field holds a value that cannot be right.
    #[error("{path}: field `{field}`: {problem}")]
    BadField {
        path: PathBuf,
        field: String,
        problem: String,
    },

    /// Another live process already holds this role (producer or consumer).
    #[error("{path}: the {role} role is already held by a live process{}", pid_note(*.pid))]
    RoleTaken {
        path: PathBuf,
        role: &'static str,
        pid: u32,
    },

    /// An object with this name exists and its owner is alive.
    #[error("{path}: already exists and its owner (pid {pid}) is alive")]
    InUse { path: PathBuf, pid: u32 },

    /// An argument given by the caller is invalid (capacity, name...).
    #[error("{what}: {problem}")]
    Invalid { what: String, problem: String },
}

fn pid_note(pid: u32) -> String {
    if pid == 0 {
        String::new()
    } else {
        format!(" (pid {pid})")
    }
}

impl ShmError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        ShmError::Io {
            path: path.into(),
            op,
            source,
        }
    }

    pub(crate) fn bad_field(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ShmError::BadField {
            path: path.into(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The field this error names, if it names one (used by tests and tools).
    pub fn field(&self) -> Option<&str> {
        match self {
            ShmError::Truncated { field, .. } => Some(field),
            ShmError::BadMagic { .. } | ShmError::NotPublished { .. } => Some("magic"),
            ShmError::VersionMismatch { .. } => Some("layout_version"),
            ShmError::WrongKind { .. } => Some("kind"),
            ShmError::IncompatibleType { .. } => Some("type_hash"),
            ShmError::BadField { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Errors seen while using an attached ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The peer wrote an index that no correct peer could write: the ring is corrupt.
    #[error("{path}: field `{field}`: value {value} is impossible here ({why}); ring is corrupt")]
    Corrupt {
        path: PathBuf,
        field: &'static str,
        value: u64,
        why: &'static str,
    },
    /// The ring is drained and the producer holds no lock any more: it died or exited.
    #[error("{path}: producer is gone (its lock was released) and the ring is drained")]
    ProducerDead { path: PathBuf },
}

/// Why a push did not happen. The value is handed back either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError<T> {
    /// The ring is full: the caller decides (count a drop, retry later).
    Full(T),
    /// The consumer's index is impossible; the ring is corrupt and nothing was written.
    Corrupt(T, RingError),
}

impl<T> PushError<T> {
    /// The value that was not pushed.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::Corrupt(v, _) => v,
        }
    }
}
