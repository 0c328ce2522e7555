//! Non-temporal ("streaming") stores for large outputs: written past the caches, an output
//! neither evicts the inputs still to be read nor costs a read of each line before it is
//! written (which ordinary stores do). Measured on the f32 backward at 16.7M elements and 2
//! threads: 22.4 ms with ordinary stores, 17 ms with these. x86-64 only (16 bytes at a time
//! with SSE2, which every path has; wider where the path has AVX or AVX-512F); elsewhere
//! [`stream`] says no and outputs are written plainly.

use crate::dispatch::{isa, Isa};

/// From this many bytes per output a call streams its outputs: about a core's share of a
/// last-level cache, so the caller would not find them there anyway. At 1M f32 elements
/// (4 MiB per output) the f32 backward took 1.13 ms with streaming, 1.46 without (2 threads).
const STREAM_MIN_BYTES: usize = 1 << 22;

/// Elements of one streamed piece (a stack buffer filled, then copied out).
pub(super) const PIECE: usize = 64;

/// The widest non-temporal store the kernel path in use has ([`isa`]): 16 bytes (SSE2, every
/// x86-64 CPU), 32 (AVX) or 64 (AVX-512F). A full cache line at a time is what the CPU writes
/// best (16-byte stores are not merged): at 16.7M elements on 2 threads (AVX-512, outputs on
/// a cache line, best of 15 in turns) float64 loss-and-gradient 18.5 ms with 16-byte stores,
/// 17.0 with 64-byte ones; float64 backward NONE 23.4 and 22.8, float32 8.2 and 7.7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Width {
    Xmm,
    Ymm,
    Zmm,
}

impl Width {
    fn bytes(self) -> usize {
        match self {
            Width::Xmm => 16,
            Width::Ymm => 32,
            Width::Zmm => 64,
        }
    }
}

/// Whether a call with `numel` elements of `size` bytes streams its outputs, and with what.
pub(super) fn stream(numel: usize, size: usize) -> Option<Width> {
    let width = match isa() {
        Isa::Avx512 => Width::Zmm,
        Isa::Avx2 => Width::Ymm,
        Isa::Portable => Width::Xmm,
    };
    (cfg!(target_arch = "x86_64") && numel.saturating_mul(size) >= STREAM_MIN_BYTES)
        .then_some(width)
}

/// How many elements to write plainly before the outputs in `dsts` (NULL: absent) are
/// `align`-byte aligned; `None` when they never are after the same number (or none is
/// present).
pub(super) fn head<T>(dsts: [*mut T; 2], align: usize) -> Option<usize> {
    let size = std::mem::size_of::<T>();
    let mut present = dsts.iter().filter(|p| !p.is_null()).map(|&p| p as usize % align);
    let first = present.next()?;
    present.all(|m| m == first).then_some((align - first) % align / size)
}

/// [`head`] for the widest alignment `width` can use, else for 16 bytes (the narrowest
/// store's).
pub(super) fn widest_head<T>(dsts: [*mut T; 2], width: Width) -> Option<usize> {
    head(dsts, width.bytes()).or_else(|| head(dsts, 16))
}

/// The widest of the widths up to `width` (at least 16 bytes) to which every present output
/// of `dsts` (NULL: absent) is aligned.
pub(super) fn aligned<T>(dsts: [*mut T; 2], width: Width) -> Width {
    [Width::Zmm, Width::Ymm]
        .into_iter()
        .find(|&w| w.bytes() <= width.bytes() && head(dsts, w.bytes()) == Some(0))
        .unwrap_or(Width::Xmm)
}

/// Copy `src` to `dst` by non-temporal stores, each as wide as `width` and the alignment of
/// `dst` allow.
///
/// # Safety
/// `N` elements are writable from `dst` on, `dst` is 16-byte aligned, and `width` is the
/// one [`stream`] gave (so the CPU has its instructions).
#[inline(always)]
pub(super) unsafe fn stream_out<T: Copy, const N: usize>(dst: *mut T, src: &[T; N], width: Width) {
    let fits = |w: usize| size_of_val(src).is_multiple_of(w) && (dst as usize).is_multiple_of(w);
    if width == Width::Zmm && fits(64) {
        stream_as::<T, N, 64>(dst, src);
    } else if width != Width::Xmm && fits(32) {
        stream_as::<T, N, 32>(dst, src);
    } else {
        stream_as::<T, N, 16>(dst, src);
    }
}

/// Copy `src` to `dst` by non-temporal stores of `W` bytes (16, 32 or 64) each, or of
/// [`group_bytes`]`(W)` where a whole `src` is narrower; `W = 0`: by plain stores, unaligned.
/// Chosen per span instead of per store (the fused call's groups), the tests of width and
/// alignment leave the loop: float32 loss-and-gradient MEAN at 16.7M on 2 threads 2-6% faster.
///
/// # Safety
/// `N` elements are writable from `dst` on; unless `W = 0`, `dst` is aligned to that store
/// width, and the CPU has the instructions of that width.
#[inline(always)]
pub(super) unsafe fn stream_as<T: Copy, const N: usize, const W: usize>(dst: *mut T, src: &[T; N]) {
    const { assert!((N * size_of::<T>()).is_multiple_of(16) && matches!(W, 0 | 16 | 32 | 64)) };
    if W == 0 || cfg!(not(target_arch = "x86_64")) {
        dst.cast::<[T; N]>().write_unaligned(*src);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let (d, s) = (dst.cast::<u8>(), src.as_ptr().cast::<u8>());
        // The wider stores are calls, never made, in the copies compiled without them.
        let w = const { group_bytes::<T, N>(W) };
        for k in (0..size_of_val(src)).step_by(w) {
            match w {
                64 => _mm512_stream_si512(d.add(k).cast(), _mm512_loadu_si512(s.add(k).cast())),
                32 => _mm256_stream_si256(d.add(k).cast(), _mm256_loadu_si256(s.add(k).cast())),
                _ => _mm_stream_si128(d.add(k).cast(), _mm_loadu_si128(s.add(k).cast())),
            }
        }
    }
}

/// The store width [`stream_as`] uses for `N` elements of `T` at a time with stores of up to
/// `w` bytes: `w`, or the largest power of two that divides a whole group if that is less.
const fn group_bytes<T, const N: usize>(w: usize) -> usize {
    let divides = 1 << (N * size_of::<T>()).trailing_zeros();
    if divides < w {
        divides
    } else {
        w
    }
}

/// Order the non-temporal stores before anything this thread writes next (such as the signal
/// that its block is done): they are weakly ordered.
///
/// # Safety
/// None: every x86-64 CPU has the instruction. (`unsafe` only because the intrinsic is an
/// unsafe function before Rust 1.86.)
#[inline(always)]
pub(super) unsafe fn fence() {
    #[cfg(target_arch = "x86_64")]
    std::arch::x86_64::_mm_sfence();
}
