//! Memory hints for big hot tables: transparent huge pages and software prefetch.
//!
//! A dependent load that misses costs ~250 ns on these machines at 64-256 MiB with
//! 4 KiB pages, much of it the page walk (nested paging). [`advise_huge_pages`] asks the
//! kernel to back a region with 2 MiB pages (`madvise(MADV_HUGEPAGE)`; effective when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or `always`), and
//! [`prefetch`] starts loading a line without waiting for it, so a caller can overlap
//! the misses of the next messages with the work on the current one. Both are hints:
//! they change no memory contents, and are safe to call on any live reference.

/// Asks for huge pages under `region` (best before it is first touched). Returns
/// whether the kernel accepted the advice (false where THP is off or unsupported).
pub fn advise_huge_pages<T>(region: &[T]) -> bool {
    // Only whole huge pages inside the region.
    let (a, b) = huge_span(region);
    if b <= a {
        return false;
    }
    // SAFETY: [a, b) lies inside `region`, memory this process owns for the borrow's
    // duration; MADV_HUGEPAGE only changes how the kernel backs the pages, never their
    // contents or the mapping's validity.
    let rc = unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE) };
    rc == 0
}

/// The whole 2 MiB pages inside `region`: `[a, b)`, empty if there are none.
fn huge_span<T>(region: &[T]) -> (usize, usize) {
    span_of(region.as_ptr() as usize, std::mem::size_of_val(region))
}

fn span_of(start: usize, len: usize) -> (usize, usize) {
    const HUGE: usize = 2 << 20;
    (start.next_multiple_of(HUGE), (start + len) / HUGE * HUGE)
}

/// How much of `region`'s whole 2 MiB pages the kernel backs with transparent huge
/// pages right now, percent, from `/proc/self/smaps` (`None` if the region holds no
/// whole huge page or smaps cannot be read). `madvise` is only advice: when memory
/// is fragmented the kernel falls back to 4 KiB pages for part of a region, and a
/// random access there costs about twice as much (a longer page walk).
pub fn huge_page_coverage<T>(region: &[T]) -> Option<f64> {
    huge_page_coverage_at(region.as_ptr() as usize, std::mem::size_of_val(region))
}

/// [`huge_page_coverage`] of the `len` bytes at address `start` (as reported by, for
/// example, `Books::memory_regions`).
pub fn huge_page_coverage_at(start: usize, len: usize) -> Option<f64> {
    let (a, b) = span_of(start, len);
    if b <= a {
        return None;
    }
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    Some(coverage_in(&smaps, a, b))
}

/// [`huge_page_coverage`] over smaps text: each mapping overlapping `[a, b)` counts
/// its `AnonHugePages`, at most its overlap (a mapping reaching past the region is
/// assumed to hold its huge pages inside it).
fn coverage_in(smaps: &str, a: usize, b: usize) -> f64 {
    let mut overlap = 0usize;
    let mut huge = 0usize;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                overlap = hi.min(b).saturating_sub(lo.max(a));
                continue;
            }
        }
        if first == "AnonHugePages:" && overlap > 0 {
            let kb: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
            huge += (kb * 1024).min(overlap);
        }
    }
    100.0 * huge as f64 / (b - a) as f64
}

/// A vector of `n` copies of `fill`, allocated, advised onto huge pages, then filled
/// (touched) in that order, so the kernel backs it with 2 MiB pages where transparent
/// huge pages allow it, and nothing faults in later on a hot path.
pub fn huge_vec<T: Clone>(n: usize, fill: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(v.spare_capacity_mut());
    v.resize(n, fill);
    v
}

/// Starts loading the cache line of `r` into all cache levels without waiting.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch is a hint: it reads nothing the program can observe and
        // cannot fault; the address comes from a valid reference anyway.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
                (r as *const T).cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_page_advice_covers_only_whole_pages() {
        let tiny = [0u8; 100];
        assert!(
            !advise_huge_pages(&tiny),
            "no whole 2 MiB page inside 100 bytes"
        );
        let mut big: Vec<u64> = Vec::with_capacity(4 << 20); // 32 MiB
        let accepted = advise_huge_pages(big.spare_capacity_mut());
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if thp.contains("[madvise]") || thp.contains("[always]") {
            assert!(accepted, "THP is on ({thp}) but the advice was refused");
        }
        big.resize(4 << 20, 7);
        prefetch(&big[1000]);
        assert_eq!(big[1000], 7, "hints change nothing");
        let c = huge_page_coverage(&big).expect("32 MiB holds whole huge pages");
        assert!((0.0..=100.0).contains(&c), "{c}");
        assert_eq!(huge_page_coverage(&tiny), None);
    }

    #[test]
    fn coverage_counts_huge_pages_of_the_mappings_overlapping_the_region() {
        let smaps = "\
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
Size:               4096 kB
AnonHugePages:      2048 kB
7f0000400000-7f0000800000 rw-p 00000000 00:00 0
Size:               4096 kB
AnonHugePages:      4096 kB
7f0000800000-7f0000c00000 rw-p 00000000 00:00 0
Size:               4096 kB
AnonHugePages:      4096 kB
";
        let mib = 1 << 20;
        let base = 0x7f00_0000_0000usize;
        // The first two mappings: 2 + 4 of 8 MiB.
        assert_eq!(coverage_in(smaps, base, base + 8 * mib), 75.0);
        // Half of the third only: its 4 MiB of huge pages capped at the 2 MiB overlap.
        assert_eq!(coverage_in(smaps, base + 8 * mib, base + 10 * mib), 100.0);
        assert_eq!(coverage_in(smaps, base + 12 * mib, base + 14 * mib), 0.0);
    }
}
