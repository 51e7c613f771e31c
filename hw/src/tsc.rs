//! The time-stamp counter: the cheapest clock there is (one instruction, no vDSO call),
//! for timing individual messages in benchmarks and, later, stamping the hot path.
//!
//! [`Tsc::calibrate`] measures ticks per nanosecond against the monotonic clock, for
//! benchmarks. The clock proper, with invariant-TSC detection, a fixed-point conversion
//! onto the `CLOCK_MONOTONIC` timeline and drift checks, is [`crate::clock::TscClock`].

use std::time::{Duration, Instant};

/// Reads the time-stamp counter (x86_64 `rdtsc`; elsewhere the monotonic clock in ns).
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64; it reads a counter register.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static T0: OnceLock<Instant> = OnceLock::new();
        T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// A calibrated conversion from ticks to nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tsc {
    ns_per_tick: f64,
}

impl Tsc {
    /// Measures the tick rate over `over` (e.g. 50 ms) against `Instant`.
    pub fn calibrate(over: Duration) -> Tsc {
        let (t0, c0) = (Instant::now(), rdtsc());
        while t0.elapsed() < over {
            std::hint::spin_loop();
        }
        let (c1, t1) = (rdtsc(), Instant::now());
        let ticks = c1.saturating_sub(c0).max(1);
        Tsc {
            ns_per_tick: (t1 - t0).as_nanos() as f64 / ticks as f64,
        }
    }

    /// Nanoseconds per tick.
    pub fn ns_per_tick(&self) -> f64 {
        self.ns_per_tick
    }

    /// `ticks` in nanoseconds.
    #[inline(always)]
    pub fn to_ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_agrees_with_the_monotonic_clock() {
        let tsc = Tsc::calibrate(Duration::from_millis(20));
        assert!(tsc.ns_per_tick() > 0.0);
        let (t0, c0) = (Instant::now(), rdtsc());
        std::thread::sleep(Duration::from_millis(30));
        let (c1, t1) = (rdtsc(), Instant::now());
        let measured = tsc.to_ns(c1 - c0) as f64;
        let truth = (t1 - t0).as_nanos() as f64;
        assert!(
            (measured / truth - 1.0).abs() < 0.05,
            "{measured} ns vs {truth} ns"
        );
        assert!(rdtsc() >= c1, "monotonic on one core");
    }
}
