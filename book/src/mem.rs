//! Big tables: allocated, advised onto huge pages, then filled (touched) in that order,
//! so the kernel backs them with 2 MiB pages where transparent huge pages allow it.

/// A vector of `n` copies of `fill`, on huge pages where the host allows.
pub(crate) fn huge_vec<T: Copy>(n: usize, fill: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    hotpath_hw::mem::advise_huge_pages(v.spare_capacity_mut());
    v.resize(n, fill);
    v
}
