//! Clocks behind one trait: the TSC, the system clock and a simulated clock.
//!
//! Everything that needs the time takes a [`Clock`] (nanoseconds on a monotonic
//! timeline), so production code reads the TSC and tests drive a [`SimClock`].
//!
//! - [`SystemClock`]: `CLOCK_MONOTONIC` (`clock_gettime` through the vDSO), plus a wall
//!   reading ([`SystemClock::realtime_ns`], ns since the Unix epoch) for comparing with
//!   exchange timestamps. The wall clock can step, so it is not a [`Clock`].
//! - [`TscClock`]: the time-stamp counter converted to `CLOCK_MONOTONIC` nanoseconds
//!   with a fixed-point multiply and shift (as the Linux kernel's clocksources do; no
//!   floating point and no system call on the read path). It refuses a TSC that is not
//!   invariant ([`TscSupport`]) unless forced.
//! - [`SimClock`]: set and advanced by hand, shared between threads, for deterministic
//!   tests.
//!
//! ## Calibration and the stated tolerance
//!
//! [`TscClock::calibrate`] takes a *paired sample* at each end of the interval: several
//! rounds of `rdtsc; clock_gettime(CLOCK_MONOTONIC); rdtsc` (fenced with `lfence`),
//! keeping the round with the smallest bracket (the two TSC reads closest together) and
//! taking the bracket's midpoint as the TSC value at that monotonic instant. The two
//! pairs give `mult = (Δns << 32) / Δticks`; the clock reads
//! `ns_base + ((tsc − tsc_base) × mult) >> 32` with a 128-bit product (so, unlike the
//! kernel's 64-bit form, there is no overflow window to re-base against), and its origin
//! `(tsc_base, ns_base)` is the first pair, so it matches `CLOCK_MONOTONIC` at calibration.
//!
//! The stated tolerance, which `hw/tests/clock.rs` asserts: calibrated over
//! [`CALIBRATION_INTERVAL`] (200 ms), the clock agrees with `CLOCK_MONOTONIC` over a
//! following ~200 ms interval to within [`TOLERANCE_OFFSET_NS`] (20 µs) in offset and
//! [`TOLERANCE_RATE_PPM`] (50 ppm) in rate. On the development VM (AMD EPYC, KVM,
//! clocksource `tsc`) the measured figures are far inside that: see `docs/HOST.md`.
//! `CLOCK_MONOTONIC` is slewed by NTP (up to 500 ppm) while the TSC is not, so on a host
//! whose time daemon is correcting hard the two part ways: [`TscClock::drift`] measures
//! by how much, and [`TscClock::recalibrate`] re-anchors.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::tsc::rdtsc;

/// Default calibration interval for [`TscClock::calibrate`].
pub const CALIBRATION_INTERVAL: Duration = Duration::from_millis(200);

/// Stated tolerance: after calibrating over [`CALIBRATION_INTERVAL`], a [`TscClock`]
/// reading differs from `CLOCK_MONOTONIC` by less than this (20 µs) over a following
/// ~200 ms interval.
pub const TOLERANCE_OFFSET_NS: u64 = 20_000;

/// Stated tolerance: after calibrating over [`CALIBRATION_INTERVAL`], a [`TscClock`]'s
/// rate differs from `CLOCK_MONOTONIC`'s by less than this (50 ppm) over a following
/// ~200 ms interval.
pub const TOLERANCE_RATE_PPM: f64 = 50.0;

/// Rounds of `rdtsc; clock_gettime; rdtsc` per paired sample; the tightest one is kept.
pub const SAMPLE_ROUNDS: u32 = 64;

/// Fixed-point shift of the tick-to-ns conversion: `ns = (ticks * mult) >> SHIFT`.
const SHIFT: u32 = 32;

const NS_PER_S: u64 = 1_000_000_000;

/// A source of nanoseconds on a monotonic timeline (never goes backwards for a reader).
///
/// Implementors are `Send + Sync`, so one clock can be shared by every component
/// (`Arc<dyn Clock>` or a reference).
pub trait Clock: Send + Sync {
    /// Nanoseconds since the clock's origin (for [`SystemClock`] and [`TscClock`], the
    /// `CLOCK_MONOTONIC` timeline: boot, not counting suspend).
    fn now_ns(&self) -> u64;
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    #[inline]
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}

fn clock_gettime_ns(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call, and
    // clock_gettime writes nothing else; the clock ids used here always exist on Linux.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime({id})");
    // A negative wall time (before 1970) saturates to 0.
    (ts.tv_sec.max(0) as u64) * NS_PER_S + ts.tv_nsec as u64
}

/// `CLOCK_MONOTONIC` in nanoseconds.
#[inline]
pub fn monotonic_ns() -> u64 {
    clock_gettime_ns(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` (wall time) in nanoseconds since the Unix epoch. It can step when
/// the time is set, so measure intervals with a [`Clock`] instead.
#[inline]
pub fn realtime_ns() -> u64 {
    clock_gettime_ns(libc::CLOCK_REALTIME)
}

/// The system clock: `CLOCK_MONOTONIC` as a [`Clock`], and the wall time beside it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SystemClock;

impl SystemClock {
    /// Wall time: nanoseconds since the Unix epoch (`CLOCK_REALTIME`), for comparing
    /// with exchange timestamps. Not monotonic.
    #[inline]
    pub fn realtime_ns(&self) -> u64 {
        realtime_ns()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        monotonic_ns()
    }
}

/// A clock moved only by hand, for deterministic tests. Clones share one time.
#[derive(Debug, Default, Clone)]
pub struct SimClock {
    ns: Arc<AtomicU64>,
}

impl SimClock {
    /// A clock reading `start_ns`.
    pub fn new(start_ns: u64) -> SimClock {
        SimClock {
            ns: Arc::new(AtomicU64::new(start_ns)),
        }
    }

    /// Sets the time to `ns`. Moving it backwards is allowed (a test of how code copes
    /// with that may want it); keeping the timeline monotonic is the test's business.
    pub fn set(&self, ns: u64) {
        self.ns.store(ns, Ordering::Release);
    }

    /// Moves the time forward by `by`; returns the new time.
    pub fn advance(&self, by: Duration) -> u64 {
        self.advance_ns(u64::try_from(by.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Moves the time forward by `ns` nanoseconds (saturating); returns the new time.
    pub fn advance_ns(&self, ns: u64) -> u64 {
        let mut cur = self.ns.load(Ordering::Acquire);
        loop {
            let new = cur.saturating_add(ns);
            match self
                .ns
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return new,
                Err(seen) => cur = seen,
            }
        }
    }
}

impl Clock for SimClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.ns.load(Ordering::Acquire)
    }
}

/// The TSC flags `/proc/cpuinfo` reports (present on every processor listed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CpuinfoTscFlags {
    /// `tsc`: there is a time-stamp counter.
    pub tsc: bool,
    /// `constant_tsc`: it ticks at a constant rate whatever the core's frequency.
    pub constant_tsc: bool,
    /// `nonstop_tsc`: it keeps ticking in deep C-states.
    pub nonstop_tsc: bool,
}

impl CpuinfoTscFlags {
    /// Constant and non-stop: the kernel's reading of an invariant TSC.
    pub fn invariant(&self) -> bool {
        self.tsc && self.constant_tsc && self.nonstop_tsc
    }
}

/// Reads the TSC flags from the text of `/proc/cpuinfo`: a flag counts only if every
/// processor's `flags` line has it. `None` when there is no `flags` line at all (not
/// x86, or not cpuinfo).
pub fn parse_cpuinfo_tsc_flags(cpuinfo: &str) -> Option<CpuinfoTscFlags> {
    let mut all: Option<CpuinfoTscFlags> = None;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim() != "flags" {
            continue;
        }
        let mut these = CpuinfoTscFlags::default();
        for flag in value.split_whitespace() {
            match flag {
                "tsc" => these.tsc = true,
                "constant_tsc" => these.constant_tsc = true,
                "nonstop_tsc" => these.nonstop_tsc = true,
                _ => {}
            }
        }
        all = Some(match all {
            None => these,
            Some(a) => CpuinfoTscFlags {
                tsc: a.tsc && these.tsc,
                constant_tsc: a.constant_tsc && these.constant_tsc,
                nonstop_tsc: a.nonstop_tsc && these.nonstop_tsc,
            },
        });
    }
    all
}

/// CPUID leaf 0x8000_0007, EDX bit 8 ("invariant TSC"). `None` where there is no
/// CPUID (not x86_64); `Some(false)` when the leaf is not implemented.
pub fn cpuid_invariant_tsc() -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // SAFETY: every x86_64 CPU implements CPUID, and leaves 0x8000_0000 (highest
        // extended leaf) and 0x8000_0007 (asked only when implemented) only read
        // identification registers. (Newer toolchains declare `__cpuid` safe.)
        #[allow(unused_unsafe)]
        let (max_ext, edx) = unsafe {
            let max_ext = __cpuid(0x8000_0000).eax;
            let edx = if max_ext >= 0x8000_0007 {
                __cpuid(0x8000_0007).edx
            } else {
                0
            };
            (max_ext, edx)
        };
        Some(max_ext >= 0x8000_0007 && edx & (1 << 8) != 0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// Whether the TSC can serve as a clock: CPUID's word and `/proc/cpuinfo`'s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TscSupport {
    /// CPUID 0x8000_0007 EDX bit 8 ([`cpuid_invariant_tsc`]); `None` without CPUID.
    pub cpuid_invariant: Option<bool>,
    /// The flags in `/proc/cpuinfo` ([`parse_cpuinfo_tsc_flags`]); `None` when the file
    /// is unreadable or lists no flags.
    pub cpuinfo: Option<CpuinfoTscFlags>,
}

impl TscSupport {
    /// Asks the CPU and `/proc/cpuinfo`.
    pub fn detect() -> TscSupport {
        TscSupport {
            cpuid_invariant: cpuid_invariant_tsc(),
            cpuinfo: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .as_deref()
                .and_then(parse_cpuinfo_tsc_flags),
        }
    }

    /// Invariant when CPUID says so and `/proc/cpuinfo`, if readable, agrees (the kernel
    /// may have found what CPUID did not tell: a hypervisor that hides the bit, or
    /// errata for which it clears the flags).
    pub fn is_invariant(&self) -> bool {
        self.cpuid_invariant == Some(true) && self.cpuinfo.is_none_or(|f| f.invariant())
    }
}

impl fmt::Display for TscSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yn = |b: bool| if b { "yes" } else { "no" };
        match self.cpuid_invariant {
            Some(b) => write!(f, "CPUID invariant TSC: {}", yn(b))?,
            None => write!(f, "CPUID invariant TSC: no CPUID (not x86_64)")?,
        }
        match self.cpuinfo {
            Some(c) => write!(
                f,
                "; /proc/cpuinfo: tsc {}, constant_tsc {}, nonstop_tsc {}",
                yn(c.tsc),
                yn(c.constant_tsc),
                yn(c.nonstop_tsc)
            ),
            None => write!(f, "; /proc/cpuinfo: no TSC flags read"),
        }
    }
}

/// Why a [`TscClock`] could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    /// The TSC may change rate with the core's frequency or stop in deep sleep.
    #[error(
        "the TSC is not invariant ({0}), so it is refused as a clock; use SystemClock, \
         or force it with TscClock::calibrate_with(.., force = true)"
    )]
    NotInvariant(TscSupport),
    /// The samples did not let a rate be computed (a zero interval, a counter that did
    /// not advance, or a thread moved between cores whose counters disagree).
    #[error("TSC calibration failed: {0}")]
    Calibration(String),
}

/// How a [`TscClock`] was calibrated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// Measured TSC frequency, ticks per second.
    pub tsc_hz: u64,
    /// Fixed-point multiplier: `ns = (ticks * mult) >> shift`.
    pub mult: u64,
    /// Fixed-point shift.
    pub shift: u32,
    /// `CLOCK_MONOTONIC` time between the two paired samples.
    pub interval_ns: u64,
    /// The wider of the two kept samples' brackets (`rdtsc` to `rdtsc` around
    /// `clock_gettime`), in ns: each end's uncertainty is at most half of it.
    pub bracket_ns: u64,
    /// What detection said.
    pub support: TscSupport,
    /// Whether a non-invariant TSC was used because the caller forced it.
    pub forced: bool,
}

impl Calibration {
    /// Upper bound on the rate error the sampling itself allows, in ppm.
    pub fn uncertainty_ppm(&self) -> f64 {
        self.bracket_ns as f64 / self.interval_ns.max(1) as f64 * 1e6
    }
}

/// The TSC against `CLOCK_MONOTONIC`, measured now by [`TscClock::drift`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftReport {
    /// `TscClock` minus `CLOCK_MONOTONIC`, in ns (positive: the TSC clock is ahead).
    pub offset_ns: i64,
    /// `CLOCK_MONOTONIC` time since the clock's origin (its calibration).
    pub since_calibration_ns: u64,
    /// `offset_ns` per elapsed time, in parts per million: the mean rate error since
    /// calibration.
    pub ppm: f64,
    /// Half the measuring sample's bracket, in ns: how far `offset_ns` may be off.
    pub uncertainty_ns: u64,
}

impl DriftReport {
    /// Whether |offset| < `max_offset_ns` and |ppm| < `max_ppm`.
    pub fn within(&self, max_offset_ns: u64, max_ppm: f64) -> bool {
        self.offset_ns.unsigned_abs() < max_offset_ns && self.ppm.abs() < max_ppm
    }

    /// Whether the report is inside the stated tolerance ([`TOLERANCE_OFFSET_NS`],
    /// [`TOLERANCE_RATE_PPM`]).
    pub fn within_tolerance(&self) -> bool {
        self.within(TOLERANCE_OFFSET_NS, TOLERANCE_RATE_PPM)
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TSC clock {:+} ns (±{} ns) against CLOCK_MONOTONIC after {:.3} s ({:+.3} ppm)",
            self.offset_ns,
            self.uncertainty_ns,
            self.since_calibration_ns as f64 / 1e9,
            self.ppm
        )
    }
}

/// The TSC read with `lfence` on both sides, so neither read drifts past the
/// instructions around it (for calibration; the clock itself reads plain `rdtsc`).
#[inline(always)]
fn rdtsc_ordered() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::_mm_lfence;
        // SAFETY: lfence is part of SSE2, which every x86_64 CPU has; it only orders
        // instruction execution. (Newer toolchains declare it safe.)
        #[allow(unused_unsafe)]
        unsafe {
            _mm_lfence()
        };
        let t = rdtsc();
        // SAFETY: as above.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_lfence()
        };
        t
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        rdtsc()
    }
}

/// A TSC value and the `CLOCK_MONOTONIC` time it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pair {
    /// Midpoint of the two TSC reads around `clock_gettime`.
    tsc: u64,
    ns: u64,
    /// Ticks between the two TSC reads.
    bracket: u64,
}

/// The tightest of `rounds` `rdtsc; clock_gettime; rdtsc` samples (rounds in which the
/// counter went backwards, a thread moved between cores, are skipped and retried a
/// bounded number of times).
fn paired_sample(rounds: u32) -> Result<Pair, ClockError> {
    let mut best: Option<Pair> = None;
    let mut kept = 0;
    for _ in 0..rounds.max(1).saturating_mul(16) {
        let a = rdtsc_ordered();
        let ns = monotonic_ns();
        let b = rdtsc_ordered();
        if b < a {
            continue;
        }
        let bracket = b - a;
        if best.is_none_or(|p| bracket < p.bracket) {
            best = Some(Pair {
                tsc: a + bracket / 2,
                ns,
                bracket,
            });
        }
        kept += 1;
        if kept == rounds.max(1) {
            break;
        }
    }
    best.ok_or_else(|| ClockError::Calibration("the TSC kept going backwards".into()))
}

/// The TSC as a [`Clock`] on the `CLOCK_MONOTONIC` timeline (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TscClock {
    tsc_base: u64,
    ns_base: u64,
    mult: u64,
    shift: u32,
    calibration: Calibration,
}

impl TscClock {
    /// Detects invariance and calibrates over `interval` ([`CALIBRATION_INTERVAL`] is a
    /// good choice; the thread sleeps meanwhile). Refuses a TSC that is not invariant.
    pub fn calibrate(interval: Duration) -> Result<TscClock, ClockError> {
        TscClock::calibrate_with(interval, &TscSupport::detect(), false)
    }

    /// Calibrates over `interval` given what detection said (`support`, injectable for
    /// tests); with `force`, even a TSC that is not invariant is used.
    pub fn calibrate_with(
        interval: Duration,
        support: &TscSupport,
        force: bool,
    ) -> Result<TscClock, ClockError> {
        if !support.is_invariant() && !force {
            return Err(ClockError::NotInvariant(*support));
        }
        let start = paired_sample(SAMPLE_ROUNDS)?;
        std::thread::sleep(interval);
        let end = paired_sample(SAMPLE_ROUNDS)?;
        TscClock::from_pairs(start, end, *support, force && !support.is_invariant())
    }

    /// The line through two paired samples, anchored at the first.
    fn from_pairs(
        start: Pair,
        end: Pair,
        support: TscSupport,
        forced: bool,
    ) -> Result<TscClock, ClockError> {
        let ticks = end.tsc.saturating_sub(start.tsc);
        let ns = end.ns.saturating_sub(start.ns);
        if ticks == 0 || ns == 0 {
            return Err(ClockError::Calibration(format!(
                "no interval to measure ({ticks} ticks in {ns} ns)"
            )));
        }
        let mult = ((u128::from(ns) << SHIFT) + u128::from(ticks) / 2) / u128::from(ticks);
        let mult = u64::try_from(mult).ok().filter(|&m| m > 0).ok_or_else(|| {
            ClockError::Calibration(format!("implausible rate: {ticks} ticks in {ns} ns"))
        })?;
        let tsc_hz = u64::try_from(u128::from(ticks) * u128::from(NS_PER_S) / u128::from(ns))
            .unwrap_or(u64::MAX);
        let mut clock = TscClock {
            tsc_base: start.tsc,
            ns_base: start.ns,
            mult,
            shift: SHIFT,
            calibration: Calibration {
                tsc_hz,
                mult,
                shift: SHIFT,
                interval_ns: ns,
                bracket_ns: 0,
                support,
                forced,
            },
        };
        clock.calibration.bracket_ns = clock.delta_ns(start.bracket.max(end.bracket));
        Ok(clock)
    }

    /// How this clock was calibrated.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Measured TSC frequency, ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        self.calibration.tsc_hz
    }

    /// A tick count (e.g. the difference of two [`rdtsc`] reads) in nanoseconds.
    #[inline(always)]
    pub fn delta_ns(&self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.mult)) >> self.shift) as u64
    }

    /// A TSC value (from [`rdtsc`]) on this clock's timeline, in ns. Values from before
    /// the origin read as the origin.
    #[inline(always)]
    pub fn ticks_to_ns(&self, tsc: u64) -> u64 {
        self.ns_base + self.delta_ns(tsc.saturating_sub(self.tsc_base))
    }

    /// Compares this clock with `CLOCK_MONOTONIC` now (one paired sample, a few µs).
    pub fn drift(&self) -> DriftReport {
        let p = paired_sample(SAMPLE_ROUNDS).unwrap_or_else(|_| {
            let tsc = rdtsc();
            Pair {
                tsc,
                ns: monotonic_ns(),
                bracket: 0,
            }
        });
        let offset = i128::from(self.ticks_to_ns(p.tsc)) - i128::from(p.ns);
        let offset_ns =
            i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        let since = p.ns.saturating_sub(self.ns_base);
        DriftReport {
            offset_ns,
            since_calibration_ns: since,
            ppm: if since == 0 {
                0.0
            } else {
                offset_ns as f64 / since as f64 * 1e6
            },
            uncertainty_ns: self.delta_ns(p.bracket).div_ceil(2),
        }
    }

    /// Measures the drift, then calibrates afresh over `interval` (same detection result
    /// and forcing as before) and re-anchors to `CLOCK_MONOTONIC`; returns the drift
    /// measured before. The readings step by about that offset, so recalibrate when no
    /// interval being timed spans the call.
    pub fn recalibrate(&mut self, interval: Duration) -> Result<DriftReport, ClockError> {
        let before = self.drift();
        let c = self.calibration;
        *self = TscClock::calibrate_with(interval, &c.support, c.forced)?;
        Ok(before)
    }
}

impl Clock for TscClock {
    #[inline(always)]
    fn now_ns(&self) -> u64 {
        self.ticks_to_ns(rdtsc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITH_NONSTOP: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\n\
        flags\t\t: fpu tsc msr rdtscp lm constant_tsc rep_good nonstop_tsc cpuid tsc_known_freq\n\
        bogomips\t: 4890.80\n\n\
        processor\t: 1\nvendor_id\t: AuthenticAMD\n\
        flags\t\t: fpu tsc msr rdtscp lm constant_tsc rep_good nonstop_tsc cpuid tsc_known_freq\n";
    const WITHOUT_NONSTOP: &str = "processor\t: 0\n\
        flags\t\t: fpu tsc msr constant_tsc rep_good cpuid\n\n\
        processor\t: 1\n\
        flags\t\t: fpu tsc msr constant_tsc rep_good cpuid\n";
    /// One processor lacks nonstop_tsc: the flag does not hold for the machine.
    const MIXED: &str = "processor\t: 0\nflags\t\t: tsc constant_tsc nonstop_tsc\n\n\
        processor\t: 1\nflags\t\t: tsc constant_tsc\n";
    /// An arm64 cpuinfo: `Features`, no `flags`.
    const ARM: &str = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n";

    #[test]
    fn cpuinfo_flags_with_and_without_nonstop_tsc() {
        let f = parse_cpuinfo_tsc_flags(WITH_NONSTOP).unwrap();
        assert_eq!(
            f,
            CpuinfoTscFlags {
                tsc: true,
                constant_tsc: true,
                nonstop_tsc: true
            }
        );
        assert!(f.invariant());
        let f = parse_cpuinfo_tsc_flags(WITHOUT_NONSTOP).unwrap();
        assert!(f.tsc && f.constant_tsc && !f.nonstop_tsc);
        assert!(!f.invariant());
        let f = parse_cpuinfo_tsc_flags(MIXED).unwrap();
        assert!(f.constant_tsc && !f.nonstop_tsc, "{f:?}");
        assert_eq!(parse_cpuinfo_tsc_flags(ARM), None);
        assert_eq!(parse_cpuinfo_tsc_flags(""), None);
        // `tsc_known_freq` and `rdtscp` are not `tsc`; a flag must match whole.
        let f = parse_cpuinfo_tsc_flags("flags : rdtscp tsc_known_freq constant_tsc_x").unwrap();
        assert_eq!(f, CpuinfoTscFlags::default());
    }

    #[test]
    fn invariance_needs_cpuid_and_no_disagreement_from_cpuinfo() {
        let good = parse_cpuinfo_tsc_flags(WITH_NONSTOP);
        let bad = parse_cpuinfo_tsc_flags(WITHOUT_NONSTOP);
        let s = |cpuid, cpuinfo| TscSupport {
            cpuid_invariant: cpuid,
            cpuinfo,
        };
        assert!(s(Some(true), good).is_invariant());
        assert!(s(Some(true), None).is_invariant(), "cpuinfo unreadable");
        assert!(!s(Some(true), bad).is_invariant(), "the kernel disagrees");
        assert!(!s(Some(false), good).is_invariant());
        assert!(!s(None, good).is_invariant(), "no CPUID");
        let text = s(Some(true), bad).to_string();
        assert!(text.contains("nonstop_tsc no"), "{text}");
    }

    #[test]
    fn detection_on_this_machine_is_consistent() {
        let d = TscSupport::detect();
        #[cfg(target_arch = "x86_64")]
        assert!(d.cpuid_invariant.is_some());
        if let (Some(c), Some(f)) = (d.cpuid_invariant, d.cpuinfo) {
            // Linux derives both flags from the same CPUID bit.
            assert!(!c || f.tsc, "{d}");
        }
    }

    #[test]
    fn a_non_invariant_tsc_is_refused_unless_forced() {
        let not = TscSupport {
            cpuid_invariant: Some(false),
            cpuinfo: parse_cpuinfo_tsc_flags(WITHOUT_NONSTOP),
        };
        let err = TscClock::calibrate_with(Duration::from_millis(1), &not, false).unwrap_err();
        assert!(
            matches!(err, ClockError::NotInvariant(s) if s == not),
            "{err}"
        );
        assert!(err.to_string().contains("not invariant"), "{err}");
        let forced = TscClock::calibrate_with(Duration::from_millis(5), &not, true).unwrap();
        assert!(forced.calibration().forced);
        assert!(forced.tsc_hz() > 0);
        let yes = TscSupport {
            cpuid_invariant: Some(true),
            cpuinfo: None,
        };
        let c = TscClock::calibrate_with(Duration::from_millis(5), &yes, false).unwrap();
        assert!(!c.calibration().forced);
    }

    #[test]
    fn fixed_point_conversion_goes_through_both_samples() {
        let start = Pair {
            tsc: 1_000_000,
            ns: 5_000,
            bracket: 40,
        };
        // 2,445,404,000 ticks in one second: this VM's TSC.
        let end = Pair {
            tsc: 1_000_000 + 2_445_404_000,
            ns: 5_000 + NS_PER_S,
            bracket: 80,
        };
        let c = TscClock::from_pairs(start, end, TscSupport::default(), true).unwrap();
        assert_eq!(c.tsc_hz(), 2_445_404_000);
        assert_eq!(c.ticks_to_ns(start.tsc), 5_000);
        assert!(c.ticks_to_ns(end.tsc).abs_diff(end.ns) <= 1);
        assert_eq!(
            c.ticks_to_ns(0),
            5_000,
            "before the origin reads as the origin"
        );
        // An hour of ticks: exact to well under a ppm (no overflow with the u128 product).
        let hour = c.delta_ns(2_445_404_000 * 3600);
        assert!(hour.abs_diff(3600 * NS_PER_S) < 10_000, "{hour}");
        assert_eq!(c.calibration().bracket_ns, 32, "80 ticks at 2.445 GHz");
        assert!(c.calibration().uncertainty_ppm() < 0.1);
        // Years of ticks still convert without wrapping.
        assert!(c.delta_ns(u64::MAX) > 7_000_000_000_000_000_000);
        let zero = TscClock::from_pairs(start, start, TscSupport::default(), true);
        assert!(matches!(zero, Err(ClockError::Calibration(_))));
    }

    #[test]
    fn sim_clock_is_set_and_advanced_by_hand_and_shared() {
        let c = SimClock::new(1_000);
        assert_eq!(c.now_ns(), 1_000);
        let shared: Arc<dyn Clock> = Arc::new(c.clone());
        assert_eq!(c.advance(Duration::from_micros(2)), 3_000);
        assert_eq!(shared.now_ns(), 3_000, "clones share one time");
        c.set(10);
        assert_eq!(shared.now_ns(), 10);
        assert_eq!(c.advance_ns(5), 15);
        c.set(u64::MAX - 1);
        assert_eq!(c.advance_ns(10), u64::MAX, "saturates");
        let c = SimClock::default();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.advance_ns(1);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.now_ns(), 4000);
    }

    #[test]
    fn system_clock_is_monotonic_and_wall_time_is_recent() {
        let c = SystemClock;
        let mut prev = c.now_ns();
        for _ in 0..10_000 {
            let now = c.now_ns();
            assert!(now >= prev);
            prev = now;
        }
        // After 2020-01-01 and before 2200: a wall time, not a monotonic one.
        let wall = c.realtime_ns();
        assert!(wall > 1_577_836_800 * NS_PER_S && wall < 7_258_118_400 * NS_PER_S);
        let by_std = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(by_std.abs_diff(wall) < 5 * NS_PER_S);
    }
}
