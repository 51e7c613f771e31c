//! What a cache miss costs on this machine right now: random loads over a region far
//! bigger than any cache, one at a time (latency) and eight independent chains at a
//! time (what overlapping misses buys). Reported with the feed benchmark, much of
//! whose decode + book time is such misses, so that its figures can be read against
//! the memory the run had (the VMs here have slow and fast spells, and an effective
//! last-level cache of a few MiB whatever `lscpu` says).

use serde::{Deserialize, Serialize};

/// The figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemProbe {
    /// Region size, MiB (on huge pages where the host allows).
    pub region_mib: usize,
    /// ns per load when each load's address comes from the one before.
    pub dependent_load_ns: f64,
    /// ns per load with eight independent chains in flight.
    pub parallel8_load_ns: f64,
}

/// `u64` words per 64-byte line; a line's first word holds the index of the next
/// line to visit.
const LINE_WORDS: usize = 8;

/// A single cycle through `lines` lines in random order (Sattolo's algorithm, so
/// every line is visited before the chase repeats): `next[i]` follows line `i`.
pub fn random_cycle(lines: usize, mut seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..lines as u32).collect();
    for i in (1..lines).rev() {
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let j = (r % i as u64) as usize;
        order.swap(i, j);
    }
    let mut next = vec![0u32; lines];
    for k in 0..lines {
        next[order[k] as usize] = order[(k + 1) % lines];
    }
    next
}

/// Measures `region_mib` MiB with `loads` loads per pass.
pub fn probe(region_mib: usize, loads: usize) -> MemProbe {
    let lines = (region_mib << 20) / (LINE_WORDS * 8);
    let mut v = hotpath_hw::mem::huge_vec(lines * LINE_WORDS, 0u64);
    for (i, n) in random_cycle(lines, 0x9E37_79B9_7F4A_7C15)
        .into_iter()
        .enumerate()
    {
        v[i * LINE_WORDS] = n as u64;
    }
    let chase = |starts: &mut [u64], rounds: usize| {
        for _ in 0..rounds {
            for s in starts.iter_mut() {
                *s = v[*s as usize * LINE_WORDS];
            }
        }
    };
    // Warm the TLB and page tables once.
    let mut one = [0u64];
    chase(&mut one, loads / 4);
    let t = std::time::Instant::now();
    chase(&mut one, loads);
    let dependent = t.elapsed().as_nanos() as f64 / loads as f64;
    let mut eight: [u64; 8] = std::array::from_fn(|k| (k * lines / 8) as u64);
    let t = std::time::Instant::now();
    chase(&mut eight, loads / 8);
    let parallel = t.elapsed().as_nanos() as f64 / (loads / 8 * 8) as f64;
    std::hint::black_box((one, eight));
    MemProbe {
        region_mib,
        dependent_load_ns: dependent,
        parallel8_load_ns: parallel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chase_visits_every_line_once_per_cycle() {
        for lines in [2, 3, 17, 1000] {
            let next = random_cycle(lines, 7);
            let mut seen = vec![false; lines];
            let mut i = 0usize;
            for _ in 0..lines {
                assert!(!seen[i], "line {i} twice in {lines}");
                seen[i] = true;
                i = next[i] as usize;
            }
            assert_eq!(i, 0, "back at the start after {lines}");
        }
    }
}
