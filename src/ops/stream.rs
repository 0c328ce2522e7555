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

/// Copy `src` to `dst` by non-temporal stores, each as wide as `width` and the alignment of
/// `dst` allow.
///
/// # Safety
/// `N` elements are writable from `dst` on, `dst` is 16-byte aligned, and `width` is the
/// one [`stream`] gave (so the CPU has its instructions).
#[inline(always)]
pub(super) unsafe fn stream_out<T: Copy, const N: usize>(dst: *mut T, src: &[T; N], width: Width) {
    let bytes = std::mem::size_of_val(src);
    const { assert!((N * std::mem::size_of::<T>()).is_multiple_of(16)) };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let (d, s) = (dst.cast::<u8>(), src.as_ptr().cast::<u8>());
        let fits = |w: usize| bytes.is_multiple_of(w) && (dst as usize).is_multiple_of(w);
        // The wider stores are calls, never made, in the copies compiled without them.
        if width == Width::Zmm && fits(64) {
            for k in (0..bytes).step_by(64) {
                _mm512_stream_si512(d.add(k).cast(), _mm512_loadu_si512(s.add(k).cast()));
            }
        } else if width != Width::Xmm && fits(32) {
            for k in (0..bytes).step_by(32) {
                _mm256_stream_si256(d.add(k).cast(), _mm256_loadu_si256(s.add(k).cast()));
            }
        } else {
            for k in (0..bytes).step_by(16) {
                _mm_stream_si128(d.add(k).cast(), _mm_loadu_si128(s.add(k).cast()));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    std::ptr::copy_nonoverlapping(src.as_ptr(), dst, N);
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
