//! A shm object: one file, mapped, with a validated header and role locks.
//!
//! Creation writes the whole object under a temporary name, publishes the header
//! (magic last, release ordering), takes the creator's role lock, and only then links
//! the file under its real name, so no reader ever sees a half-made object.
//!
//! Liveness uses open-file-description (OFD) byte-range locks: each role (producer,
//! consumer) locks one byte of the file. The kernel drops the lock when the holder's
//! file is closed, including when the process is killed, so a peer can tell "alive and
//! idle" (lock held) from "dead" (lock free) without trusting a PID.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use zerocopy::IntoBytes;

use crate::header::{self, Expect, Layout, ObjectKind, RawHeader, HEADER_SIZE};
use crate::ShmError;

/// A role in an object, each guarded by its own lock byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The producer of a ring, or the owner (writer) of a counters region.
    Producer,
    /// The consumer of an SPSC ring; consumers of a broadcast ring share this byte.
    Consumer,
}

impl Role {
    fn byte(self) -> i64 {
        match self {
            Role::Producer => 0,
            Role::Consumer => 1,
        }
    }

    /// Lower-case name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        }
    }
}

/// How a role lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Only one holder (SPSC producer and consumer, counters owner, broadcast producer).
    Exclusive,
    /// Many holders (broadcast consumers).
    Shared,
}

/// Whether a role's holder is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// A process holds the role's lock.
    Alive,
    /// The role was taken once (a pid was recorded) but no process holds the lock now.
    Dead,
    /// Nobody has ever taken the role.
    Never,
}

impl Liveness {
    /// Lower-case name for tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
            Liveness::Never => "none",
        }
    }
}

/// A mapped, validated shm file.
#[derive(Debug)]
pub struct ShmObject {
    path: PathBuf,
    file: File,
    map: MmapRaw,
    header: RawHeader,
    layout: Layout,
}

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateSpec<'a> {
    pub kind: ObjectKind,
    pub capacity: u64,
    pub slot_size: u64,
    pub type_hash: u64,
    pub type_name: &'a str,
    /// The role lock the creator takes before the file becomes visible.
    pub creator_role: Option<(Role, LockMode)>,
}

static TMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

fn create_parent(path: &Path) -> Result<(), ShmError> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ShmError::io(dir, "create directory", e))
}

impl ShmObject {
    /// Creates the object at `path` and returns it mapped read-write. An existing file
    /// at `path` is replaced only when no live process holds any of its locks.
    pub fn create(
        path: &Path,
        spec: &CreateSpec<'_>,
        init: impl FnOnce(&ShmObject) -> Result<(), ShmError>,
    ) -> Result<ShmObject, ShmError> {
        let layout = Layout::compute(path, spec.kind, spec.capacity, spec.slot_size)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ShmError::Invalid {
                what: path.display().to_string(),
                problem: "not a file name".into(),
            })?;
        create_parent(path)?;
        remove_if_stale(path)?;

        let pid = std::process::id();
        let tmp = path.with_file_name(format!(
            ".{name}.{pid}.{}.tmp",
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| ShmError::io(&tmp, "create", e))?;
        let result = (|| {
            file.set_len(layout.file_size)
                .map_err(|e| ShmError::io(&tmp, "set length", e))?;
            let map = MmapOptions::new()
                .len(layout.file_size as usize)
                .map_raw(&file)
                .map_err(|e| ShmError::io(&tmp, "mmap", e))?;
            let header = RawHeader {
                magic: 0,
                layout_version: header::LAYOUT_VERSION,
                kind: spec.kind as u32,
                header_size: HEADER_SIZE as u32,
                creator_pid: pid,
                type_hash: spec.type_hash,
                capacity: layout.capacity,
                slot_size: layout.slot_size,
                data_offset: layout.data_offset,
                file_size: layout.file_size,
                created_unix_ns: crate::clock::unix_ns(),
                type_name: RawHeader::encode_name(spec.type_name),
            };
            let obj = ShmObject {
                path: tmp.clone(),
                file,
                map,
                header,
                layout,
            };
            obj.prefault_write();
            init(&obj)?;
            let bytes = header.as_bytes();
            // SAFETY: the mapping is at least HEADER_PAGE (4096) bytes long, larger than
            // the header, and nobody else can see the temporary file yet (it was created
            // with O_EXCL under a name unique to this process).
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), obj.base(), bytes.len());
            }
            // The magic goes last, with release ordering: whoever reads it sees the rest.
            obj.atomic_u64(0).store(header::MAGIC, Ordering::Release);
            let mut obj = obj;
            obj.header.magic = header::MAGIC;
            if let Some((role, mode)) = spec.creator_role {
                obj.lock(role, mode)?;
            }
            match fs::hard_link(&tmp, path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(ShmError::InUse {
                        path: path.into(),
                        pid: 0,
                    })
                }
                Err(e) => return Err(ShmError::io(path, "link", e)),
            }
            obj.path = path.into();
            Ok(obj)
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    /// Opens and validates the object at `path`; `writable` maps it read-write.
    pub fn attach(path: &Path, expect: Expect, writable: bool) -> Result<ShmObject, ShmError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| ShmError::io(path, "open", e))?;
        let file_len = file
            .metadata()
            .map_err(|e| ShmError::io(path, "stat", e))?
            .len();
        let mut buf = [0u8; HEADER_SIZE];
        let want = (file_len as usize).min(HEADER_SIZE);
        file.read_exact_at(&mut buf[..want], 0)
            .map_err(|e| ShmError::io(path, "read header", e))?;
        let (header, layout) = header::validate(path, &buf[..want], file_len, expect)?;
        let mut opts = MmapOptions::new();
        opts.len(layout.file_size as usize);
        let map = if writable {
            opts.map_raw(&file)
        } else {
            opts.map_raw_read_only(&file)
        }
        .map_err(|e| ShmError::io(path, "mmap", e))?;
        let obj = ShmObject {
            path: path.into(),
            file,
            map,
            header,
            layout,
        };
        obj.prefault_read();
        Ok(obj)
    }

    /// The file this object lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header.
    pub fn header(&self) -> &RawHeader {
        &self.header
    }

    /// The validated layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Base address of the mapping.
    pub fn base(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a mapping has at least a header page.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The 8-byte aligned word at `offset` as an atomic.
    ///
    /// Panics if `offset` is misaligned or out of bounds: offsets come from this crate's
    /// layout constants, never from the file, so that is a bug here, not bad input.
    pub fn atomic_u64(&self, offset: u64) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.map.len() as u64);
        // SAFETY: in bounds and 8-aligned (checked above; the mapping is page-aligned);
        // the memory lives as long as `self.map`, which outlives the returned borrow;
        // every access to this word, in any process, is atomic.
        unsafe { AtomicU64::from_ptr(self.base().add(offset as usize).cast()) }
    }

    /// The 4-byte aligned word at `offset` as an atomic (same rules as [`Self::atomic_u64`]).
    pub fn atomic_u32(&self, offset: u64) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.map.len() as u64);
        // SAFETY: as for atomic_u64, with 4-byte alignment.
        unsafe { AtomicU32::from_ptr(self.base().add(offset as usize).cast()) }
    }

    /// Takes a role lock without waiting. Fails with [`ShmError::RoleTaken`] when a live
    /// process already holds it (exclusively, or at all for an exclusive request).
    pub fn lock(&self, role: Role, mode: LockMode) -> Result<(), ShmError> {
        let kind = match mode {
            LockMode::Exclusive => libc::F_WRLCK,
            LockMode::Shared => libc::F_RDLCK,
        };
        match ofd_lock(&self.file, libc::F_OFD_SETLK, kind, role.byte()) {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    || e.raw_os_error() == Some(libc::EACCES) =>
            {
                Err(ShmError::RoleTaken {
                    path: self.path.clone(),
                    role: role.as_str(),
                    pid: 0,
                })
            }
            Err(e) => Err(ShmError::io(&self.path, "lock", e)),
        }
    }

    /// Whether another open file (another process, or another handle in this one)
    /// holds `role`'s lock. A lock held through this very handle is not seen.
    pub fn role_held(&self, role: Role) -> Result<bool, ShmError> {
        role_held(&self.file, role).map_err(|e| ShmError::io(&self.path, "query lock", e))
    }

    fn prefault_write(&self) {
        let base = self.base();
        let mut off = 0;
        while off < self.map.len() {
            // SAFETY: `off` is inside the mapping; the file is still private to this
            // process (temporary name) and freshly zeroed, so writing zero changes nothing
            // but makes the kernel allocate the page now rather than on the hot path.
            unsafe { std::ptr::write_volatile(base.add(off), 0u8) };
            off += 4096;
        }
    }

    fn prefault_read(&self) {
        let base = self.base();
        let mut off = 0;
        while off < self.map.len() {
            // SAFETY: `off` is inside the mapping; a byte read is valid for any contents.
            // The read is volatile so it is not elided: it maps the page in now.
            unsafe { std::ptr::read_volatile(base.add(off)) };
            off += 4096;
        }
    }
}

fn ofd_lock(
    file: &File,
    cmd: libc::c_int,
    kind: libc::c_int,
    byte: i64,
) -> io::Result<libc::flock> {
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte;
    fl.l_len = 1;
    fl.l_pid = 0; // required for OFD locks
                  // SAFETY: fd is open for the life of `file`; `fl` is a valid flock the kernel may
                  // read and (for GETLK) write.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fl)
    }
}

fn role_held(file: &File, role: Role) -> io::Result<bool> {
    let fl = ofd_lock(file, libc::F_OFD_GETLK, libc::F_WRLCK, role.byte())?;
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

/// Whether any process holds any role lock on the file at `path`. Works on files whose
/// header is corrupt, so stale garbage can be cleaned.
pub fn any_role_held(path: &Path) -> Result<bool, ShmError> {
    let file = File::open(path).map_err(|e| ShmError::io(path, "open", e))?;
    for role in [Role::Producer, Role::Consumer] {
        if role_held(&file, role).map_err(|e| ShmError::io(path, "query lock", e))? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes `path` if it exists and nobody holds any of its locks; refuses when a live
/// process does.
fn remove_if_stale(path: &Path) -> Result<(), ShmError> {
    match any_role_held(path) {
        Ok(true) => {
            let pid = read_creator_pid(path).unwrap_or(0);
            Err(ShmError::InUse {
                path: path.into(),
                pid,
            })
        }
        Ok(false) => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ShmError::io(path, "remove stale", e)),
        },
        Err(ShmError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn read_creator_pid(path: &Path) -> Option<u32> {
    let file = File::open(path).ok()?;
    let mut buf = [0u8; 4];
    file.read_exact_at(&mut buf, 20).ok()?;
    Some(u32::from_le_bytes(buf))
}
