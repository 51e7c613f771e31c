//! Idle strategies: what a polling loop does after a duty cycle that found no work.
//!
//! The choice is per component: the feed and gateway cores busy-spin (lowest latency,
//! a whole core), the offload bridge backs off to sleeping (it shares a core).

use std::time::Duration;

/// Called once per duty cycle with the amount of work done; idles only when zero.
pub trait IdleStrategy {
    /// `work` is what the cycle did (messages handled); 0 means idle.
    fn idle(&mut self, work: usize);
    /// Forget any accumulated back-off (e.g. after a burst).
    fn reset(&mut self) {}
}

/// Never yields the core: a PAUSE per empty cycle (~28 ns on these machines).
#[derive(Debug, Default, Clone, Copy)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    #[inline(always)]
    fn idle(&mut self, work: usize) {
        if work == 0 {
            std::hint::spin_loop();
        }
    }
}

/// Spins `spins` empty cycles, then yields the core to the scheduler each empty cycle.
#[derive(Debug, Clone, Copy)]
pub struct SpinThenYield {
    spins: u32,
    count: u32,
}

impl SpinThenYield {
    /// Spin this many empty cycles before yielding.
    pub fn new(spins: u32) -> Self {
        SpinThenYield { spins, count: 0 }
    }
}

impl IdleStrategy for SpinThenYield {
    #[inline]
    fn idle(&mut self, work: usize) {
        if work > 0 {
            self.count = 0;
            return;
        }
        if self.count < self.spins {
            self.count += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    fn reset(&mut self) {
        self.count = 0;
    }
}

/// Spins, then yields, then sleeps with a doubling period up to `max_park`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    spins: u32,
    yields: u32,
    min_park: Duration,
    max_park: Duration,
    count: u32,
    park: Duration,
}

impl Backoff {
    /// `spins` spins, then `yields` yields, then sleeps from `min_park` doubling to `max_park`.
    pub fn new(spins: u32, yields: u32, min_park: Duration, max_park: Duration) -> Self {
        Backoff {
            spins,
            yields,
            min_park,
            max_park,
            count: 0,
            park: min_park,
        }
    }

    /// Current sleep period (for tests and stats).
    pub fn park(&self) -> Duration {
        self.park
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(100, 10, Duration::from_micros(1), Duration::from_millis(1))
    }
}

impl IdleStrategy for Backoff {
    fn idle(&mut self, work: usize) {
        if work > 0 {
            self.reset();
            return;
        }
        if self.count < self.spins {
            self.count += 1;
            std::hint::spin_loop();
        } else if self.count < self.spins + self.yields {
            self.count += 1;
            std::thread::yield_now();
        } else {
            std::thread::sleep(self.park);
            self.park = (self.park * 2).min(self.max_park);
        }
    }
    fn reset(&mut self) {
        self.count = 0;
        self.park = self.min_park;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_escalates_then_resets_on_work() {
        let mut b = Backoff::new(2, 1, Duration::from_micros(1), Duration::from_micros(4));
        for _ in 0..3 {
            b.idle(0); // 2 spins, 1 yield
        }
        assert_eq!(b.park(), Duration::from_micros(1));
        b.idle(0);
        assert_eq!(b.park(), Duration::from_micros(2));
        b.idle(0);
        b.idle(0);
        assert_eq!(b.park(), Duration::from_micros(4), "capped at max_park");
        b.idle(5);
        assert_eq!(b.park(), Duration::from_micros(1));
    }

    #[test]
    fn spin_then_yield_counts_only_empty_cycles() {
        let mut s = SpinThenYield::new(3);
        s.idle(0);
        s.idle(0);
        assert_eq!(s.count, 2);
        s.idle(1);
        assert_eq!(s.count, 0);
        let mut b = BusySpin;
        b.idle(0);
        b.idle(1);
    }
}
