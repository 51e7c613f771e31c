//! Where shm objects live, and the operator's view of them (`hotpath shm ls|clean`).
//!
//! Objects live in `<root>/<instance>/`, root `/dev/shm/hotpath` unless the
//! `HOTPATH_SHM_ROOT` environment variable or a `--shm-root` flag says otherwise.
//! Directories are created mode 0700 and files mode 0600: market data and orders are
//! the firm's alone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::header::{Expect, ObjectKind};
use crate::object::{any_role_held, Liveness, Role, ShmObject};
use crate::{broadcast, spsc, ShmError};

/// Default root of all instances.
pub const DEFAULT_ROOT: &str = "/dev/shm/hotpath";
/// Environment variable that overrides the root.
pub const ROOT_ENV: &str = "HOTPATH_SHM_ROOT";

/// The root to use: `$HOTPATH_SHM_ROOT` if set, else [`DEFAULT_ROOT`].
pub fn default_root() -> PathBuf {
    std::env::var_os(ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
}

/// Checks an instance or object name: 1..=64 characters of `[A-Za-z0-9_.-]`, not
/// starting with a dot (so no `..`, no hidden files, no path separators).
pub fn check_object_name(what: &str, name: &str) -> Result<(), ShmError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(ShmError::Invalid {
            what: format!("{what} name `{name}`"),
            problem:
                "must be 1 to 64 characters of A-Z, a-z, 0-9, _, - and ., not starting with a dot"
                    .into(),
        })
    }
}

/// `<root>/<instance>`, after checking the instance name.
pub fn instance_dir(root: &Path, instance: &str) -> Result<PathBuf, ShmError> {
    check_object_name("instance", instance)?;
    Ok(root.join(instance))
}

/// Everything an operator wants to know about one object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub path: PathBuf,
    pub name: String,
    pub kind: ObjectKind,
    pub type_name: String,
    pub capacity: u64,
    pub slot_size: u64,
    pub file_size: u64,
    pub creator_pid: u32,
    pub created_unix_ns: u64,
    /// Producer of a ring, owner of a counters region.
    pub producer: Liveness,
    pub producer_pid: u32,
    /// SPSC consumer, or any broadcast consumer; `Never` for counters.
    pub consumer: Liveness,
    pub consumer_pid: u32,
    /// Messages published (rings).
    pub published: Option<u64>,
    /// Messages consumed (SPSC).
    pub consumed: Option<u64>,
    /// Messages waiting (SPSC: tail - head; broadcast: min(published, capacity)).
    pub fill: Option<u64>,
}

fn liveness(obj: &ShmObject, role: Role, pid: u32) -> Result<Liveness, ShmError> {
    Ok(if obj.role_held(role)? {
        Liveness::Alive
    } else if pid == 0 {
        Liveness::Never
    } else {
        Liveness::Dead
    })
}

/// Maps `path` read-only and reads its header and control words.
pub fn inspect(path: &Path) -> Result<ObjectInfo, ShmError> {
    let obj = ShmObject::attach(path, Expect::default(), false)?;
    let h = *obj.header();
    let l = *obj.layout();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = ObjectInfo {
        path: path.into(),
        name,
        kind: l.kind,
        type_name: h.type_name(),
        capacity: l.capacity,
        slot_size: l.slot_size,
        file_size: l.file_size,
        creator_pid: h.creator_pid,
        created_unix_ns: h.created_unix_ns,
        producer: Liveness::Never,
        producer_pid: 0,
        consumer: Liveness::Never,
        consumer_pid: 0,
        published: None,
        consumed: None,
        fill: None,
    };
    match l.kind {
        ObjectKind::Spsc => {
            let tail = obj.atomic_u64(spsc::TAIL_OFFSET).load(Ordering::Acquire);
            let head = obj.atomic_u64(spsc::HEAD_OFFSET).load(Ordering::Acquire);
            info.producer_pid = obj
                .atomic_u32(spsc::PRODUCER_PID_OFFSET)
                .load(Ordering::Relaxed);
            info.consumer_pid = obj
                .atomic_u32(spsc::CONSUMER_PID_OFFSET)
                .load(Ordering::Relaxed);
            info.producer = liveness(&obj, Role::Producer, info.producer_pid)?;
            info.consumer = liveness(&obj, Role::Consumer, info.consumer_pid)?;
            info.published = Some(tail);
            info.consumed = Some(head);
            // Read racily while both sides run; clamp what a snapshot may show.
            info.fill = Some(tail.saturating_sub(head).min(l.capacity));
        }
        ObjectKind::Broadcast => {
            let tail = obj
                .atomic_u64(broadcast::TAIL_OFFSET)
                .load(Ordering::Acquire);
            info.producer_pid = obj
                .atomic_u32(broadcast::PRODUCER_PID_OFFSET)
                .load(Ordering::Relaxed);
            info.producer = liveness(&obj, Role::Producer, info.producer_pid)?;
            info.consumer = liveness(&obj, Role::Consumer, 0)?;
            info.published = Some(tail);
            info.fill = Some(tail.min(l.capacity));
        }
        ObjectKind::Counters => {
            info.producer_pid = h.creator_pid;
            info.producer = liveness(&obj, Role::Producer, h.creator_pid)?;
        }
    }
    Ok(info)
}

/// One file of an instance directory: its path and what inspecting it found.
pub type Listed = (PathBuf, Result<ObjectInfo, ShmError>);

/// Every object in an instance directory, sorted by name; a file that is not a valid
/// object comes back as its error (so `ls` can show it and `clean` can judge it).
/// Temporary files of objects being created (dot-files) are skipped.
pub fn list(dir: &Path) -> Result<Vec<Listed>, ShmError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ShmError::io(dir, "read directory", e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| ShmError::io(dir, "read directory", e))?;
        let path = entry.path();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let info = inspect(&path);
        out.push((path, info));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Instance names under `root`, sorted.
pub fn instances(root: &Path) -> Result<Vec<String>, ShmError> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ShmError::io(root, "read directory", e)),
    };
    let mut names: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| check_object_name("instance", n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// What `clean` did (or would do) with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanOutcome {
    /// Removed (or, in a dry run, would be): no live process holds it.
    Removed,
    /// Kept: a live process holds one of its locks.
    KeptAlive,
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the objects in `dir` that no live process holds (their owners are dead),
/// and leftovers of creations whose creator is dead. With `dry_run`, only reports.
/// Removes the directory itself when it ends up empty.
pub fn clean(dir: &Path, dry_run: bool) -> Result<Vec<(PathBuf, CleanOutcome)>, ShmError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ShmError::io(dir, "read directory", e)),
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        let fname = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let alive = if let Some(rest) = fname.strip_prefix('.') {
            // `.name.PID.N.tmp`: a creation in progress, or abandoned by a dead process.
            let pid = rest
                .strip_suffix(".tmp")
                .and_then(|r| r.rsplit('.').nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            match pid {
                Some(pid) => pid_alive(pid),
                None => continue, // not ours: leave it alone
            }
        } else {
            any_role_held(&path)?
        };
        if alive {
            out.push((path, CleanOutcome::KeptAlive));
            continue;
        }
        if !dry_run {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(ShmError::io(&path, "remove", e)),
            }
        }
        out.push((path, CleanOutcome::Removed));
    }
    if !dry_run {
        // Only succeeds when empty; anything else (files kept) leaves it in place.
        let _ = fs::remove_dir(dir);
    }
    Ok(out)
}
