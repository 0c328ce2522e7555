//! Software prefetch: hints that ask the CPU to fetch cache lines before the loops read them.
//! The hardware prefetchers alone left the large sums far from the memory bound.

/// The bytes of a cache line.
pub(crate) const LINE: usize = 64;

/// How far ahead of each group of values the direct sums and the fused spans ask for their
/// inputs, in bytes ([`group_ahead`]): a line at a time, in step with the loop. Measured on
/// the 2-core AVX-512 Xeon, in turns, at 16.7M elements on 2 threads, against the same with
/// no prefetch in the fused call and, in the sums, the lines of a whole span 2048 elements
/// ahead at the span's start: float32 MEAN 2.9-3.2 against 3.3-3.4 ms, float64 MEAN 9.6-10.0
/// against 10.9-11.2, float32 loss-and-gradient MEAN 7.3-9.2 against 8.1-10.3 (float64 no
/// different beyond the noise). Asked for a span at a time, the prefetches had made the
/// kernels that write gradients slower.
const GROUP_AHEAD: usize = 4096;

/// [`prefetch_span`] the lines [`GROUP_AHEAD`] bytes past the groups `a` and `b`.
#[inline(always)]
pub(crate) fn group_ahead<A, const N: usize>(a: &[A; N], b: &[A; N]) {
    let ahead = |g: &[A; N]| g.as_ptr().cast::<u8>().wrapping_add(GROUP_AHEAD);
    prefetch_span(ahead(a), size_of::<[A; N]>(), false);
    prefetch_span(ahead(b), size_of::<[A; N]>(), false);
}

/// [`prefetch`] every line of the `len` elements from `q` on.
#[inline(always)]
pub(crate) fn prefetch_span<T>(q: *const T, len: usize, write: bool) {
    let q = q.cast::<u8>();
    (0..len * size_of::<T>()).step_by(LINE).for_each(|b| prefetch(q.wrapping_add(b), write));
}

/// Ask the CPU to fetch the cache line at `q` (`write`: for writing). A hint only: `q` is
/// never dereferenced, and may lie past the end of any buffer.
#[inline(always)]
pub(crate) fn prefetch<T>(q: *const T, write: bool) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0, _MM_HINT_T0};
        if write {
            _mm_prefetch::<_MM_HINT_ET0>(q.cast())
        } else {
            _mm_prefetch::<_MM_HINT_T0>(q.cast())
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (q, write);
}
