//! Core discipline: how one component's thread holds its core.
//!
//! A [`CoreDiscipline`] is part of each component's configuration (serde, so it reads
//! from TOML or JSON; field names as below, idle kinds in kebab-case):
//!
//! ```json
//! { "core": 1, "fifo_priority": 50, "mlock": true, "idle": "busy-spin" }
//! ```
//!
//! - `core`: pin the thread to this core ([`crate::pin`]); absent: leave it to the
//!   scheduler.
//! - `fifo_priority`: run it `SCHED_FIFO` at this priority (1..=99), so no ordinary
//!   thread preempts it. Needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` at least as high.
//!   Mind the kernel's RT throttling ([`RtThrottle`]): a `SCHED_FIFO` thread that runs
//!   flat out, as a spinning one does, is held off its core for
//!   up to `sched_rt_period_us − sched_rt_runtime_us` of every period (50 ms of every
//!   second by default). Kernels from 6.12 give that time to ordinary threads only when
//!   one wants the core, but the core's own kernel threads are enough: on 6.18, with
//!   every movable task moved off the core, a spinning `SCHED_FIFO` thread still lost
//!   48-53 ms a second. A spinning `SCHED_FIFO` thread needs
//!   `kernel.sched_rt_runtime_us = -1` and an isolated core.
//! - `mlock`: `mlockall(MCL_CURRENT | MCL_FUTURE)`, so no page of the process is ever
//!   paged out or faulted in lazily after start. Process-wide. Needs `CAP_IPC_LOCK` or an
//!   `RLIMIT_MEMLOCK` larger than the process. Pair it with [`prefault`] on the rings and
//!   pools mapped at start (locking maps pages in too, but prefaulting works without it).
//! - `idle`: what the duty cycle does when it found no work ([`IdleKind`]): `busy-spin`
//!   for the feed and gateway cores, `backoff` for components sharing a core.
//!
//! [`CoreDiscipline::apply_to_current_thread`] validates everything first (a priority
//! out of range or a core this process may not use is an error before anything
//! changes), then pins, sets the policy and locks memory, in that order; if a later
//! step is refused it restores the thread's previous affinity and policy, so the thread
//! is left as it was.

use std::fmt;
use std::io;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::idle::{Backoff, BusySpin, IdleStrategy, SpinThenYield};
use crate::pin::{available_cores, pin_current_thread, PinError};

/// Empty cycles [`IdleKind::SpinThenYield`] spins before it starts yielding.
pub const SPIN_THEN_YIELD_SPINS: u32 = 1 << 14;

/// The lowest and highest `SCHED_FIFO` priorities Linux accepts.
pub const FIFO_PRIORITIES: std::ops::RangeInclusive<u8> = 1..=99;

/// Which idle strategy a component uses (`busy-spin`, `spin-then-yield`, `backoff`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleKind {
    /// [`BusySpin`]: never gives the core up (a whole core; lowest latency).
    BusySpin,
    /// [`SpinThenYield`]: spins [`SPIN_THEN_YIELD_SPINS`] empty cycles, then yields.
    #[default]
    SpinThenYield,
    /// [`Backoff`] (its defaults): spins, yields, then sleeps from 1 µs up to 1 ms.
    Backoff,
}

impl IdleKind {
    /// Every kind, in order of politeness.
    pub const ALL: [IdleKind; 3] = [
        IdleKind::BusySpin,
        IdleKind::SpinThenYield,
        IdleKind::Backoff,
    ];

    /// The kebab-case name, as in configs and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            IdleKind::BusySpin => "busy-spin",
            IdleKind::SpinThenYield => "spin-then-yield",
            IdleKind::Backoff => "backoff",
        }
    }

    /// A fresh strategy of this kind.
    pub fn strategy(&self) -> Idle {
        match self {
            IdleKind::BusySpin => Idle::BusySpin(BusySpin),
            IdleKind::SpinThenYield => {
                Idle::SpinThenYield(SpinThenYield::new(SPIN_THEN_YIELD_SPINS))
            }
            IdleKind::Backoff => Idle::Backoff(Backoff::default()),
        }
    }
}

impl fmt::Display for IdleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`IdleKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown idle strategy `{0}` (expected busy-spin, spin-then-yield or backoff)")]
pub struct ParseIdleKindError(pub String);

impl FromStr for IdleKind {
    type Err = ParseIdleKindError;

    /// The kebab-case names; case and `_` for `-` are forgiven on the command line.
    fn from_str(s: &str) -> Result<IdleKind, ParseIdleKindError> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        IdleKind::ALL
            .into_iter()
            .find(|k| k.as_str() == norm)
            .ok_or_else(|| ParseIdleKindError(s.to_string()))
    }
}

/// An idle strategy chosen at run time, dispatched by `match` (no allocation, no
/// virtual call on the duty cycle).
#[derive(Debug, Clone, Copy)]
pub enum Idle {
    /// See [`BusySpin`].
    BusySpin(BusySpin),
    /// See [`SpinThenYield`].
    SpinThenYield(SpinThenYield),
    /// See [`Backoff`].
    Backoff(Backoff),
}

impl Idle {
    /// Which kind this is.
    pub fn kind(&self) -> IdleKind {
        match self {
            Idle::BusySpin(_) => IdleKind::BusySpin,
            Idle::SpinThenYield(_) => IdleKind::SpinThenYield,
            Idle::Backoff(_) => IdleKind::Backoff,
        }
    }
}

impl IdleStrategy for Idle {
    #[inline]
    fn idle(&mut self, work: usize) {
        match self {
            Idle::BusySpin(s) => s.idle(work),
            Idle::SpinThenYield(s) => s.idle(work),
            Idle::Backoff(s) => s.idle(work),
        }
    }

    fn reset(&mut self) {
        match self {
            Idle::BusySpin(s) => s.reset(),
            Idle::SpinThenYield(s) => s.reset(),
            Idle::Backoff(s) => s.reset(),
        }
    }
}

/// One component's core discipline (see the module doc). The default changes nothing
/// and idles with `spin-then-yield`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoreDiscipline {
    /// Pin the thread to this core.
    pub core: Option<usize>,
    /// Run the thread `SCHED_FIFO` at this priority (1..=99).
    pub fifo_priority: Option<u8>,
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)` (process-wide).
    pub mlock: bool,
    /// The idle strategy of the component's duty cycle.
    pub idle: IdleKind,
}

/// What [`CoreDiscipline::apply_to_current_thread`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The core the thread is pinned to.
    pub core: Option<usize>,
    /// The `SCHED_FIFO` priority it runs at.
    pub fifo_priority: Option<u8>,
    /// Whether the process's memory is locked.
    pub mlocked: bool,
    /// The idle strategy to use (make it with [`IdleKind::strategy`]).
    pub idle: IdleKind,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.core {
            Some(c) => write!(f, "pinned to core {c}")?,
            None => write!(f, "not pinned")?,
        }
        match self.fifo_priority {
            Some(p) => write!(f, ", SCHED_FIFO {p}")?,
            None => write!(f, ", normal scheduling")?,
        }
        if self.mlocked {
            write!(f, ", memory locked")?;
        }
        write!(f, ", idle {}", self.idle)
    }
}

/// A core discipline that is invalid or was refused, naming the remedy.
#[derive(Debug, thiserror::Error)]
pub enum DisciplineError {
    /// `fifo_priority` outside 1..=99.
    #[error("fifo_priority {0} is out of range: SCHED_FIFO priorities are 1..=99")]
    BadPriority(u8),
    /// The core is not one this process may use, or pinning was refused.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// `sched_setscheduler` said EPERM.
    #[error(
        "SCHED_FIFO priority {priority} refused (EPERM): the process needs CAP_SYS_NICE \
         (run as root, `setcap cap_sys_nice+ep` on the binary, or \
         AmbientCapabilities=CAP_SYS_NICE in its systemd unit) or an RLIMIT_RTPRIO of at \
         least {priority} (now {rtprio_limit}: `ulimit -r {priority}`, or `rtprio` in \
         /etc/security/limits.conf)"
    )]
    FifoNotPermitted {
        /// The priority asked for.
        priority: u8,
        /// The soft RLIMIT_RTPRIO at the time.
        rtprio_limit: String,
    },
    /// `sched_setscheduler` failed otherwise.
    #[error("SCHED_FIFO priority {priority}: {source}")]
    Fifo {
        /// The priority asked for.
        priority: u8,
        /// What the kernel said.
        source: io::Error,
    },
    /// `mlockall` failed (EPERM: no privilege at all; ENOMEM: over the limit).
    #[error(
        "mlockall(MCL_CURRENT | MCL_FUTURE) failed: {source}; locking needs CAP_IPC_LOCK \
         (run as root or grant it) or an RLIMIT_MEMLOCK larger than the process's memory \
         (now {memlock_limit}: `ulimit -l unlimited`, `memlock` in \
         /etc/security/limits.conf, or LimitMEMLOCK=infinity in its systemd unit)"
    )]
    Mlock {
        /// What the kernel said.
        source: io::Error,
        /// The soft RLIMIT_MEMLOCK at the time.
        memlock_limit: String,
    },
}

impl CoreDiscipline {
    /// Checks the priority range and that the core is one this process may use, without
    /// changing anything.
    pub fn validate(&self) -> Result<(), DisciplineError> {
        if let Some(p) = self.fifo_priority {
            if !FIFO_PRIORITIES.contains(&p) {
                return Err(DisciplineError::BadPriority(p));
            }
        }
        if let Some(core) = self.core {
            let available = available_cores();
            if !available.contains(&core) {
                return Err(PinError::NoSuchCore { core, available }.into());
            }
        }
        Ok(())
    }

    /// A fresh idle strategy of the configured kind.
    pub fn idle_strategy(&self) -> Idle {
        self.idle.strategy()
    }

    /// Validates, then applies the discipline to the calling thread: pin, `SCHED_FIFO`,
    /// `mlockall`. On a refusal, the thread's affinity and policy are put back as they
    /// were (best effort) and the error names the step and the remedy.
    pub fn apply_to_current_thread(&self) -> Result<Applied, DisciplineError> {
        self.validate()?;
        let affinity = self.core.and_then(|_| saved_affinity());
        let policy = self.fifo_priority.and_then(|_| saved_policy());
        let undo = |pinned: bool, fifo: bool| {
            if let (true, Some(p)) = (fifo, policy) {
                let _ = set_policy(p.0, p.1);
            }
            if let (true, Some(a)) = (pinned, affinity) {
                let _ = set_affinity(&a);
            }
        };
        if let Some(core) = self.core {
            pin_current_thread(core)?;
        }
        if let Some(priority) = self.fifo_priority {
            if let Err(e) = set_policy(libc::SCHED_FIFO, i32::from(priority)) {
                undo(self.core.is_some(), false);
                return Err(if e.raw_os_error() == Some(libc::EPERM) {
                    DisciplineError::FifoNotPermitted {
                        priority,
                        rtprio_limit: rlimit_text(libc::RLIMIT_RTPRIO, ""),
                    }
                } else {
                    DisciplineError::Fifo {
                        priority,
                        source: e,
                    }
                });
            }
        }
        if self.mlock {
            // SAFETY: mlockall takes only flags and changes no memory contents.
            let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
            if rc != 0 {
                let source = io::Error::last_os_error();
                undo(self.core.is_some(), self.fifo_priority.is_some());
                return Err(DisciplineError::Mlock {
                    source,
                    memlock_limit: rlimit_text(libc::RLIMIT_MEMLOCK, " bytes"),
                });
            }
        }
        Ok(Applied {
            core: self.core,
            fifo_priority: self.fifo_priority,
            mlocked: self.mlock,
            idle: self.idle,
        })
    }
}

/// Puts the calling thread back on normal scheduling (`SCHED_OTHER`), e.g. before it
/// does slow work at shutdown.
pub fn set_normal_scheduling() -> io::Result<()> {
    set_policy(libc::SCHED_OTHER, 0)
}

/// The calling thread's scheduling policy (`libc::SCHED_OTHER`, `libc::SCHED_FIFO`, ..)
/// and priority.
pub fn current_scheduling() -> io::Result<(i32, i32)> {
    saved_policy().ok_or_else(io::Error::last_os_error)
}

/// The cores the calling thread may run on, ascending.
pub fn current_thread_affinity() -> io::Result<Vec<usize>> {
    let set = saved_affinity().ok_or_else(io::Error::last_os_error)?;
    let n = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: CPU_ISSET reads bit `c` of `set`, and every `c` < n is inside the set.
    Ok((0..n)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Moves the calling thread, a helper of a hot thread (the one reading a NIC's
/// counters, say), off the hot thread's cores: onto `allowed` (the cores the process
/// started with, before anything was pinned) without `hot` (the hot thread's), or onto
/// all of `allowed` if that leaves none. Also puts it back on normal scheduling, in case
/// it inherited the hot thread's real-time policy. Returns the cores it now runs on.
pub fn move_helper_off(hot: &[usize], allowed: &[usize]) -> io::Result<Vec<usize>> {
    let n = 8 * std::mem::size_of::<libc::cpu_set_t>();
    let rest: Vec<usize> = allowed
        .iter()
        .copied()
        .filter(|c| *c < n && !hot.contains(c))
        .collect();
    let cores: Vec<usize> = if rest.is_empty() {
        allowed.iter().copied().filter(|&c| c < n).collect()
    } else {
        rest
    };
    if cores.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no core to move the helper thread to",
        ));
    }
    // SAFETY: cpu_set_t is a plain bit array, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in &cores {
        // SAFETY: c < n is inside the set.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set_affinity(&set)?;
    set_normal_scheduling()?;
    Ok(cores)
}

fn set_policy(policy: libc::c_int, priority: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param for the duration of the call; pid 0 is the
    // calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn saved_policy() -> Option<(libc::c_int, libc::c_int)> {
    // SAFETY: no pointers; pid 0 is the calling thread.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is valid and writable for the call.
    let rc = unsafe { libc::sched_getparam(0, &mut param) };
    (policy >= 0 && rc == 0).then_some((policy, param.sched_priority))
}

fn saved_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit array, for which all zeroes is a valid value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and writable for size_of::<cpu_set_t>() bytes; pid 0 is
    // the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    (rc == 0).then_some(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The soft limit of `resource` for an error message, with `unit` after a number.
fn rlimit_text(resource: libc::__rlimit_resource_t, unit: &str) -> String {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid and writable for the call.
    if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
        return "unknown".into();
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        format!("{}{unit}", lim.rlim_cur)
    }
}

/// The system's page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// How [`prefault_range`] touches each page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// Read a byte: maps the page in without dirtying it (for read-only maps).
    Read,
    /// Atomically replace a byte with itself (a compare-exchange): a write fault, so the
    /// page is allocated and dirtied now, yet no concurrent user can see a change.
    Write,
}

/// Write-touches one byte per page of `buf` (rings and pools mapped at start), so the
/// hot path takes no page faults on them later. Returns the pages touched.
pub fn prefault(buf: &mut [u8]) -> usize {
    // SAFETY: `buf` is valid and writable for its length, and exclusively ours.
    unsafe { prefault_range(buf.as_mut_ptr(), buf.len(), Touch::Write) }
}

/// Read-touches one byte per page of `buf` (for read-only maps). Returns the pages
/// touched.
pub fn prefault_read(buf: &[u8]) -> usize {
    // SAFETY: `buf` is valid for reads of its length; Touch::Read only loads.
    unsafe { prefault_range(buf.as_ptr().cast_mut(), buf.len(), Touch::Read) }
}

/// Touches one byte in each page that `[ptr, ptr + len)` overlaps; returns the pages
/// touched.
///
/// # Safety
///
/// The range must be mapped and readable for [`Touch::Read`], writable for
/// [`Touch::Write`], and stay so during the call. Other threads or processes may use it
/// concurrently: each touch is a single atomic access that changes no value.
pub unsafe fn prefault_range(ptr: *mut u8, len: usize, touch: Touch) -> usize {
    use std::sync::atomic::{AtomicU8, Ordering};
    let page = page_size();
    let start = ptr as usize;
    let end = start.saturating_add(len);
    let mut addr = start;
    let mut pages = 0;
    while addr < end {
        // SAFETY: `addr` lies inside the range the caller vouches for; a byte is always
        // aligned for AtomicU8, and every access to it here is atomic.
        let byte = unsafe { AtomicU8::from_ptr(ptr.add(addr - start)) };
        match touch {
            Touch::Read => {
                std::hint::black_box(byte.load(Ordering::Relaxed));
            }
            // A compare-exchange of a value with itself, not `fetch_or(0)`: LLVM turns
            // an idempotent read-modify-write into a fenced load, which would not fault
            // the page in for writing.
            Touch::Write => loop {
                let v = byte.load(Ordering::Relaxed);
                if byte
                    .compare_exchange(v, v, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    break;
                }
            },
        }
        pages += 1;
        addr = (addr / page + 1) * page;
    }
    pages
}

/// Capability numbers (linux/capability.h) that the knobs here and the packet sockets
/// of DPDK's `net_af_packet` need.
pub const CAP_NET_RAW: u32 = 13;
/// See [`CAP_NET_RAW`]: link flags and new interfaces (`net_af_packet`, `net_tap`,
/// `net_af_xdp`).
pub const CAP_NET_ADMIN: u32 = 12;
/// See [`CAP_NET_RAW`]: what libxdp needs to load `net_af_xdp`'s XDP program.
pub const CAP_SYS_ADMIN: u32 = 21;
/// See [`CAP_NET_RAW`].
pub const CAP_IPC_LOCK: u32 = 14;
/// See [`CAP_NET_RAW`].
pub const CAP_SYS_NICE: u32 = 23;

/// Whether this process holds capability `cap` in its effective set (from
/// `/proc/self/status`; where that cannot be read, whether it runs as root).
pub fn has_capability(cap: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    match eff {
        Some(bits) => bits & (1 << cap) != 0,
        None => {
            // SAFETY: geteuid has no preconditions.
            let euid = unsafe { libc::geteuid() };
            euid == 0
        }
    }
}

/// Where the kernel keeps its RT throttling budget.
pub const SCHED_RT_RUNTIME: &str = "/proc/sys/kernel/sched_rt_runtime_us";
/// See [`SCHED_RT_RUNTIME`].
pub const SCHED_RT_PERIOD: &str = "/proc/sys/kernel/sched_rt_period_us";

/// The kernel's RT throttling: real-time threads on a core may run `runtime_us` of
/// every `period_us`, and may be held off for the rest of the period (before 6.12 the
/// core then idles; from 6.12 ordinary threads that want the core get it).
/// `runtime_us` −1 (or at least the period) turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtThrottle {
    /// `kernel.sched_rt_runtime_us`: −1 for no limit.
    pub runtime_us: i64,
    /// `kernel.sched_rt_period_us`.
    pub period_us: u64,
}

impl RtThrottle {
    /// From the two files' texts.
    pub fn parse(runtime: &str, period: &str) -> Result<RtThrottle, String> {
        let runtime_us = runtime
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|&r| r >= -1)
            .ok_or_else(|| {
                format!(
                    "sched_rt_runtime_us `{}` is not -1 or a count of µs",
                    runtime.trim()
                )
            })?;
        let period_us = period
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| {
                format!(
                    "sched_rt_period_us `{}` is not a count of µs",
                    period.trim()
                )
            })?;
        Ok(RtThrottle {
            runtime_us,
            period_us,
        })
    }

    /// This host's, from [`SCHED_RT_RUNTIME`] and [`SCHED_RT_PERIOD`].
    pub fn read() -> Result<RtThrottle, String> {
        let read = |p: &str| std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"));
        RtThrottle::parse(&read(SCHED_RT_RUNTIME)?, &read(SCHED_RT_PERIOD)?)
    }

    /// How long of each period a real-time thread that never stops is held off its
    /// core, in µs; `None` when throttling is off.
    pub fn stall_us(&self) -> Option<u64> {
        u64::try_from(self.runtime_us)
            .ok()
            .filter(|&r| r < self.period_us)
            .map(|r| self.period_us - r)
    }
}

impl fmt::Display for RtThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sched_rt_runtime_us {} of sched_rt_period_us {}",
            self.runtime_us, self.period_us
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn rt_throttling_stalls_for_what_the_period_leaves_over() {
        let t = RtThrottle::parse("950000\n", "1000000\n").unwrap();
        assert_eq!(t.stall_us(), Some(50_000));
        assert_eq!(
            t.to_string(),
            "sched_rt_runtime_us 950000 of sched_rt_period_us 1000000"
        );
        assert_eq!(RtThrottle::parse("-1", "1000000").unwrap().stall_us(), None);
        assert_eq!(
            RtThrottle::parse("1000000", "1000000").unwrap().stall_us(),
            None
        );
        assert_eq!(
            RtThrottle::parse("0", "1000000").unwrap().stall_us(),
            Some(1_000_000)
        );
        for (r, p, bad) in [
            ("-2", "1000000", "-2"),
            ("x", "1000000", "x"),
            ("1", "0", "`0`"),
            ("1", "", "``"),
        ] {
            let e = RtThrottle::parse(r, p).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        // This host's files read (every Linux kernel with RT scheduling has them).
        let host = RtThrottle::read().unwrap();
        assert!(host.period_us > 0);
    }

    /// Serialises the tests that lock memory or look at residency (`mlockall` is
    /// process-wide: MCL_FUTURE would fault in a fresh map before it was prefaulted).
    static MEMORY: Mutex<()> = Mutex::new(());

    fn memory() -> std::sync::MutexGuard<'static, ()> {
        MEMORY.lock().unwrap_or_else(|e| e.into_inner())
    }

    use super::{has_capability, CAP_IPC_LOCK, CAP_SYS_NICE};

    #[test]
    fn a_helper_thread_moves_off_the_hot_threads_core_unless_it_is_the_only_one() {
        std::thread::spawn(|| {
            let allowed = current_thread_affinity().unwrap();
            assert!(
                allowed.len() >= 2,
                "the suite runs on two cores or more: {allowed:?}"
            );
            let hot = *allowed.last().unwrap();
            // Pinned to the hot core, as a thread made by the hot thread is.
            crate::pin::pin_current_thread(hot).unwrap();
            let rest: Vec<usize> = allowed.iter().copied().filter(|&c| c != hot).collect();
            assert_eq!(move_helper_off(&[hot], &allowed).unwrap(), rest);
            assert_eq!(current_thread_affinity().unwrap(), rest);
            assert_eq!(current_scheduling().unwrap().0, libc::SCHED_OTHER);
            // Nowhere else to go: all of `allowed`.
            assert_eq!(move_helper_off(&allowed, &allowed).unwrap(), allowed);
            assert_eq!(current_thread_affinity().unwrap(), allowed);
            assert!(move_helper_off(&[], &[]).is_err());
        })
        .join()
        .unwrap();
    }

    fn soft_limit(resource: libc::__rlimit_resource_t) -> libc::rlim_t {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is valid and writable.
        assert_eq!(unsafe { libc::getrlimit(resource, &mut lim) }, 0);
        lim.rlim_cur
    }

    fn locked_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn parses_from_json_with_defaults_and_kebab_case() {
        let d: CoreDiscipline = serde_json::from_str(
            r#"{ "core": 1, "fifo_priority": 50, "mlock": true, "idle": "busy-spin" }"#,
        )
        .unwrap();
        assert_eq!(
            d,
            CoreDiscipline {
                core: Some(1),
                fifo_priority: Some(50),
                mlock: true,
                idle: IdleKind::BusySpin
            }
        );
        let d: CoreDiscipline = serde_json::from_str("{}").unwrap();
        assert_eq!(d, CoreDiscipline::default());
        assert_eq!(d.idle, IdleKind::SpinThenYield);
        // Per component, as a config file holds them.
        let m: std::collections::BTreeMap<String, CoreDiscipline> = serde_json::from_str(
            r#"{ "feed": { "core": 1, "idle": "busy-spin" },
                 "offload": { "idle": "backoff" },
                 "gateway": { "core": 0, "fifo_priority": 10, "idle": "spin-then-yield" } }"#,
        )
        .unwrap();
        assert_eq!(m["offload"].idle, IdleKind::Backoff);
        assert_eq!(m["gateway"].fifo_priority, Some(10));
        for bad in [
            r#"{ "idle": "busy_spin" }"#,
            r#"{ "idle": "sleep" }"#,
            r#"{ "cpu": 1 }"#,
            r#"{ "fifo_priority": 300 }"#,
            r#"{ "core": -1 }"#,
        ] {
            assert!(
                serde_json::from_str::<CoreDiscipline>(bad).is_err(),
                "{bad}"
            );
        }
        let back: CoreDiscipline =
            serde_json::from_str(&serde_json::to_string(&m["gateway"]).unwrap()).unwrap();
        assert_eq!(back, m["gateway"]);
    }

    #[test]
    fn idle_kind_from_str_and_strategies() {
        for k in IdleKind::ALL {
            assert_eq!(k.as_str().parse::<IdleKind>().unwrap(), k);
            assert_eq!(k.to_string(), k.as_str());
            let mut s = k.strategy();
            assert_eq!(s.kind(), k);
            s.idle(0);
            s.idle(3);
            s.reset();
        }
        assert_eq!("Busy_Spin".parse::<IdleKind>().unwrap(), IdleKind::BusySpin);
        assert_eq!(" backoff ".parse::<IdleKind>().unwrap(), IdleKind::Backoff);
        let err = "yield".parse::<IdleKind>().unwrap_err();
        assert_eq!(err, ParseIdleKindError("yield".into()));
        assert!(err.to_string().contains("spin-then-yield"), "{err}");
        let d = CoreDiscipline {
            idle: IdleKind::Backoff,
            ..Default::default()
        };
        assert!(matches!(d.idle_strategy(), Idle::Backoff(_)));
    }

    #[test]
    fn validation_fails_before_anything_is_applied() {
        let _m = memory();
        let cores = available_cores();
        let last = *cores.last().unwrap();
        std::thread::spawn(move || {
            let before = current_thread_affinity().unwrap();
            for p in [0u8, 100, 255] {
                let d = CoreDiscipline {
                    core: Some(last),
                    fifo_priority: Some(p),
                    mlock: true,
                    ..Default::default()
                };
                let err = d.apply_to_current_thread().unwrap_err();
                assert!(
                    matches!(err, DisciplineError::BadPriority(q) if q == p),
                    "{err}"
                );
                assert!(err.to_string().contains("1..=99"), "{err}");
            }
            let d = CoreDiscipline {
                core: Some(100_000),
                fifo_priority: Some(10),
                mlock: true,
                ..Default::default()
            };
            let err = d.apply_to_current_thread().unwrap_err();
            assert!(
                matches!(
                    err,
                    DisciplineError::Pin(PinError::NoSuchCore { core: 100_000, .. })
                ),
                "{err}"
            );
            assert_eq!(current_thread_affinity().unwrap(), before, "not pinned");
            assert_eq!(current_scheduling().unwrap().0, libc::SCHED_OTHER);
            assert_eq!(locked_kib(), 0, "not locked");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn applying_only_pinning_succeeds() {
        let cores = available_cores();
        let last = *cores.last().unwrap();
        let applied = std::thread::spawn(move || {
            let d = CoreDiscipline {
                core: Some(last),
                idle: IdleKind::BusySpin,
                ..Default::default()
            };
            let a = d.apply_to_current_thread().unwrap();
            assert_eq!(current_thread_affinity().unwrap(), vec![last]);
            assert_eq!(current_scheduling().unwrap().0, libc::SCHED_OTHER);
            a
        })
        .join()
        .unwrap();
        assert_eq!(
            applied,
            Applied {
                core: Some(last),
                fifo_priority: None,
                mlocked: false,
                idle: IdleKind::BusySpin
            }
        );
        let text = applied.to_string();
        assert!(
            text.contains(&format!("core {last}")) && text.contains("busy-spin"),
            "{text}"
        );
    }

    #[test]
    fn sched_fifo_is_set_or_refused_with_the_remedy() {
        const PRIO: u8 = 10;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let may = has_capability(CAP_SYS_NICE) || soft_limit(libc::RLIMIT_RTPRIO) >= PRIO.into();
        std::thread::spawn(move || {
            let d = CoreDiscipline {
                fifo_priority: Some(PRIO),
                ..Default::default()
            };
            match d.apply_to_current_thread() {
                Ok(a) => {
                    assert!(
                        may,
                        "SCHED_FIFO granted without CAP_SYS_NICE or RLIMIT_RTPRIO"
                    );
                    assert_eq!(a.fifo_priority, Some(PRIO));
                    assert_eq!(
                        current_scheduling().unwrap(),
                        (libc::SCHED_FIFO, i32::from(PRIO))
                    );
                    set_normal_scheduling().unwrap();
                    assert_eq!(current_scheduling().unwrap(), (libc::SCHED_OTHER, 0));
                }
                Err(e) => {
                    assert!(!may, "root={root}, CAP_SYS_NICE or RLIMIT_RTPRIO held: {e}");
                    assert!(matches!(e, DisciplineError::FifoNotPermitted { .. }), "{e}");
                    let text = e.to_string();
                    assert!(text.contains("CAP_SYS_NICE") && text.contains("ulimit -r"));
                }
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn mlockall_is_applied_or_refused_with_the_remedy() {
        let _m = memory();
        let may =
            has_capability(CAP_IPC_LOCK) || soft_limit(libc::RLIMIT_MEMLOCK) == libc::RLIM_INFINITY;
        let cannot = !has_capability(CAP_IPC_LOCK) && soft_limit(libc::RLIMIT_MEMLOCK) == 0;
        let d = CoreDiscipline {
            mlock: true,
            ..Default::default()
        };
        match d.apply_to_current_thread() {
            Ok(a) => {
                assert!(
                    !cannot,
                    "locked without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0"
                );
                assert!(a.mlocked);
                assert!(locked_kib() > 0);
                // SAFETY: munlockall takes no arguments and changes no memory contents.
                assert_eq!(unsafe { libc::munlockall() }, 0);
                assert_eq!(locked_kib(), 0);
            }
            Err(e) => {
                assert!(
                    !may,
                    "CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK held: {e}"
                );
                assert!(matches!(e, DisciplineError::Mlock { .. }), "{e}");
                let text = e.to_string();
                assert!(text.contains("RLIMIT_MEMLOCK") && text.contains("CAP_IPC_LOCK"));
            }
        }
    }

    const CHILD: &str = "HOTPATH_HW_UNPRIVILEGED_CHILD";

    /// Runs itself again in a child process that gives up its privileges (limits to 0,
    /// and root becomes `nobody`), where both refusals must happen and be undone.
    #[test]
    fn unprivileged_refusals_name_the_remedy_and_leave_nothing_applied() {
        if std::env::var_os(CHILD).is_some() {
            unprivileged_child();
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "discipline::tests::unprivileged_refusals_name_the_remedy_and_leave_nothing_applied",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("child: refusals checked"),
            "{stdout}\n{stderr}"
        );
    }

    fn unprivileged_child() {
        let zero = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        for r in [libc::RLIMIT_RTPRIO, libc::RLIMIT_MEMLOCK] {
            // SAFETY: `zero` is a valid rlimit; lowering a limit needs no privilege.
            assert_eq!(unsafe { libc::setrlimit(r, &zero) }, 0);
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            const NOBODY: libc::uid_t = 65534;
            // SAFETY: plain syscalls on ids; glibc applies them to every thread. Dropping
            // root's uid drops its capabilities.
            unsafe {
                assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
                assert_eq!(libc::setgid(NOBODY), 0);
                assert_eq!(libc::setuid(NOBODY), 0);
            }
        }
        if has_capability(CAP_SYS_NICE) || has_capability(CAP_IPC_LOCK) {
            println!("child: refusals checked (skipped: capabilities held without root)");
            return;
        }
        let before = current_thread_affinity().unwrap();
        let core = *available_cores().last().unwrap();
        let d = CoreDiscipline {
            core: Some(core),
            fifo_priority: Some(10),
            ..Default::default()
        };
        let e = d.apply_to_current_thread().unwrap_err();
        assert!(
            matches!(e, DisciplineError::FifoNotPermitted { priority: 10, .. }),
            "{e}"
        );
        let text = e.to_string();
        assert!(
            text.contains("EPERM") && text.contains("CAP_SYS_NICE"),
            "{text}"
        );
        assert!(
            text.contains("ulimit -r 10") && text.contains("now 0"),
            "{text}"
        );
        println!("child: {text}");
        assert_eq!(current_thread_affinity().unwrap(), before, "pin undone");
        assert_eq!(current_scheduling().unwrap().0, libc::SCHED_OTHER);

        let d = CoreDiscipline {
            core: Some(core),
            mlock: true,
            ..Default::default()
        };
        let e = d.apply_to_current_thread().unwrap_err();
        assert!(matches!(e, DisciplineError::Mlock { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("RLIMIT_MEMLOCK") && text.contains("CAP_IPC_LOCK"),
            "{text}"
        );
        println!("child: {text}");
        assert_eq!(current_thread_affinity().unwrap(), before, "pin undone");
        assert_eq!(locked_kib(), 0);
        println!("child: refusals checked");
    }

    /// A fresh private anonymous map of `pages` pages, unmapped on drop.
    struct Map {
        ptr: *mut u8,
        len: usize,
    }

    impl Map {
        fn new(pages: usize, prot: libc::c_int) -> Map {
            let len = pages * page_size();
            // SAFETY: a new anonymous private mapping; no existing memory is affected.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    prot,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            Map { ptr: p.cast(), len }
        }

        fn resident(&self) -> usize {
            let mut v = vec![0u8; self.len / page_size()];
            // SAFETY: `ptr` is page-aligned and mapped for `len` bytes; `v` has one byte
            // per page.
            let rc = unsafe { libc::mincore(self.ptr.cast(), self.len, v.as_mut_ptr()) };
            assert_eq!(rc, 0);
            v.iter().filter(|&&b| b & 1 != 0).count()
        }
    }

    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `new`, no longer borrowed.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }

    #[test]
    fn prefault_touches_every_page() {
        let _m = memory();
        let page = page_size();
        let map = Map::new(64, libc::PROT_READ | libc::PROT_WRITE);
        assert_eq!(map.resident(), 0, "a fresh map has no pages yet");
        // SAFETY: the map is ours, writable, and alive while the slice is.
        let buf = unsafe { std::slice::from_raw_parts_mut(map.ptr, map.len) };
        assert_eq!(prefault(buf), 64);
        assert_eq!(map.resident(), 64);
        assert!(buf.iter().all(|&b| b == 0), "prefaulting changes no byte");
        // An unaligned slice counts every page it overlaps.
        assert_eq!(prefault(&mut buf[100..100 + page]), 2);
        assert_eq!(prefault(&mut buf[0..1]), 1);
        assert_eq!(prefault(&mut []), 0);

        let ro = Map::new(16, libc::PROT_READ);
        // SAFETY: the map is ours, readable, and alive while the slice is.
        let buf = unsafe { std::slice::from_raw_parts(ro.ptr, ro.len) };
        assert_eq!(prefault_read(buf), 16);
        assert_eq!(ro.resident(), 16, "read faults map the pages in");
    }
}
