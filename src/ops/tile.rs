//! The tile kernel: element-wise work over a group of strided runs, with every operand read
//! and written in the order of its own memory (see [`run_tile`]).

use super::{
    compute, has_grads, stream, Plan, Scratch, BACKWARD, GRAD1, GRAD2, GRAD_OUT, IMG1, IMG2, OUT,
};
use crate::layout::{Run, GROUP};
use crate::math::Element;
use crate::prefetch::{prefetch, prefetch_span};
use crate::sum::Acc;

/// Elements per run in a tile of [`run_tile`]: a tile is up to [`GROUP`] runs (64) by `PIECE`.
/// Wide tiles make long rows where an operand is read or written across the runs (a
/// contiguous output of transposed inputs): a row of 16 f32 elements not aligned to a cache
/// line touches two lines for one line of data, a row of 64 touches five for four (f32
/// 4096x4096 transposed inputs, one thread, buffers 16 bytes past a line: 142-145 ms against
/// 158-174 with tiles of 16 runs by 64; with aligned buffers both measure 136-164). Pieces of
/// 32 rather than 16 halve the tiles, each with its set-up and its prefetches of a line per
/// run, where every line of a transposed operand lies in a page of its own: the same case,
/// 2 threads of an AVX-512 Xeon, 22.4 to 19.3 ms (contiguous: 10.4).
const PIECE: usize = 32;

/// Elements per tile.
const TILE: usize = GROUP * PIECE;

/// A tile of up to [`GROUP`] consecutive runs of a strided walk, by [`PIECE`] elements
/// per run, at a time: each operand is read and written in the order of its own memory
/// (along the runs where its step is 1, else across them), so that, for example, a transposed
/// input and a contiguous output both move whole cache lines. Element-wise work only: the
/// order of the elements is the tile's.
///
/// # Safety
/// As [`super::run_chunks`], for every run in `runs` (which share their steps).
#[inline(always)]
pub(super) unsafe fn run_tile<T: Element, const MODE: u8>(
    p: &Plan,
    ptrs: &[*mut T; 6],
    runs: &[Run<6>],
    acc: &mut Acc,
) {
    let mut room = Scratch::<T, TILE>::new();
    room.zero(TILE);
    let mut s = room.bufs();
    let longest = runs.iter().map(|r| r.len).max().unwrap_or(0);
    for at in (0..longest).step_by(PIECE) {
        // Element j of run r sits at r * PIECE + j in the buffers; missing ones (short runs)
        // keep stale values, computed but never stored.
        let tile = Tile { ptrs, runs, at };
        for k in [IMG1, IMG2, GRAD_OUT, OUT, GRAD1, GRAD2] {
            tile.prefetch_next(k, k >= OUT);
        }
        tile.read(IMG1, s.x);
        tile.read(IMG2, s.y);
        if p.grad_tensor {
            tile.read(GRAD_OUT, s.g);
        }
        let n = runs.len() * PIECE;
        let inputs = (&s.x[..n], &s.y[..n], p.grad_tensor.then_some(&s.g[..n]));
        let scratch = (&mut s.losses[..n], s.parts.each_mut().map(|p| &mut **p));
        compute::<T, MODE>(p, inputs, scratch, &mut s.grads[..n], acc);
        if MODE != BACKWARD && p.loss_tensor {
            tile.write(OUT, s.losses, T::narrow, p.stream);
        }
        if has_grads(MODE) && !ptrs[GRAD1].is_null() {
            tile.write(GRAD1, s.grads, |g| g, p.stream);
        }
        if has_grads(MODE) && !ptrs[GRAD2].is_null() {
            tile.write(GRAD2, s.grads, T::neg, p.stream);
        }
    }
}

/// The tile of [`run_tile`] whose pieces start at element `at` of each run.
struct Tile<'a, T> {
    ptrs: &'a [*mut T; 6],
    runs: &'a [Run<6>],
    at: usize,
}

impl<T> Tile<'_, T> {
    /// Ask the CPU to fetch operand `k`'s part of the next tile (`write`: for writing): the
    /// hardware prefetchers follow only a few streams, and a tile has one per run and operand.
    /// Where the operand is contiguous along the runs that is every line of each run's next
    /// piece; else the next piece's elements of the first and the last run, whose lines hold
    /// the whole column when the runs are neighbours in memory. Hints only: addresses past
    /// the end are never dereferenced.
    #[inline(always)]
    fn prefetch_next(&self, k: usize, write: bool) {
        if !self.ptrs[k].is_null() {
            let hint = |q: *mut T| prefetch(q, write);
            let (step, next) = (self.runs[0].step[k], self.at + PIECE);
            let at = |r: &Run<6>, j: usize| {
                self.ptrs[k].wrapping_offset(r.start[k] + (next + j) as isize * step)
            };
            if step == 1 {
                for r in self.runs {
                    prefetch_span(at(r, 0), PIECE, write);
                }
            } else {
                // Plain loops: as an iterator's closure it was compiled apart, without the
                // kernel's target features, and called per tile (in the profile of a
                // transposed call a tenth of the time, which stayed the same without it: the
                // calls waited on memory).
                for r in [&self.runs[0], &self.runs[self.runs.len() - 1]] {
                    for j in 0..PIECE {
                        hint(at(r, j));
                    }
                }
            }
        }
    }

    /// Each run's piece of operand `k`: its first address and its length (the last runs may
    /// be short), and the operand's step along the runs.
    #[inline(always)]
    fn pieces(&self, k: usize) -> ([(*mut T, usize); GROUP], isize) {
        let step = self.runs[0].step[k];
        let mut pieces = [(self.ptrs[k], 0); GROUP];
        for (p, r) in pieces.iter_mut().zip(self.runs) {
            let first = self.ptrs[k].wrapping_offset(r.start[k] + self.at as isize * step);
            *p = (first, PIECE.min(r.len.saturating_sub(self.at)));
        }
        (pieces, step)
    }

    /// Operand `k`'s elements of the tile into `buf` (element j of run r at r * PIECE + j).
    #[inline(always)]
    unsafe fn read(&self, k: usize, buf: &mut [T]) {
        let buf: &mut [T; TILE] = buf.try_into().expect("a tile's buffer");
        let (pieces, step) = self.pieces(k);
        if step == 1 {
            // Whole pieces at once: an element-wise closure would be copied one at a time.
            for (dst, &(q, len)) in buf.chunks_exact_mut(PIECE).zip(&pieces[..self.runs.len()]) {
                // Whole pieces as arrays: inlined moves, not a call to memcpy (a copy of
                // constant length in this branch was merged with the other's call).
                if len == PIECE {
                    let whole = q.cast::<[T; PIECE]>().read_unaligned();
                    dst.as_mut_ptr().cast::<[T; PIECE]>().write_unaligned(whole);
                } else {
                    std::ptr::copy_nonoverlapping(q, dst.as_mut_ptr(), len);
                }
            }
        } else {
            self.across(&pieces, step, |e, q| buf[e] = q.read());
        }
    }

    /// `f` of each element of `buf` (laid out as [`Self::read`] fills it) to operand `k`;
    /// with `streaming`, the rows of a [`Self::neighbours`] tile by non-temporal stores.
    #[inline(always)]
    unsafe fn write<U: Copy>(
        &self,
        k: usize,
        buf: &[U],
        f: impl Fn(U) -> T,
        streaming: Option<stream::Width>,
    ) where
        T: Copy,
    {
        let buf: &[U; TILE] = buf.try_into().expect("a tile's buffer");
        let (pieces, step) = self.pieces(k);
        if step == 1 {
            for (src, &(q, len)) in buf.chunks_exact(PIECE).zip(&pieces[..self.runs.len()]) {
                for (j, &v) in src[..len].iter().enumerate() {
                    q.add(j).write(f(v));
                }
            }
        } else if let (Some(first), Some(width)) = (self.neighbours(&pieces), streaming) {
            // Whole rows past the caches where aligned: no read of each line before it is
            // written, which a row in a page of its own pays in full.
            for j in 0..PIECE {
                let row = first.wrapping_offset(j as isize * step);
                // A loop, not `array::from_fn`, which the compiler may leave uninlined (then
                // without the kernels' target features).
                let mut vals = [f(buf[j]); GROUP];
                for (i, v) in vals.iter_mut().enumerate().skip(1) {
                    *v = f(buf[i * PIECE + j]);
                }
                if (row as usize).is_multiple_of(16) {
                    stream::stream_out(row, &vals, width);
                } else {
                    std::ptr::copy_nonoverlapping(vals.as_ptr(), row, GROUP);
                }
            }
        } else {
            self.across(&pieces, step, |e, q| q.write(f(buf[e])));
        }
    }

    /// The first element's address where the tile is full and its runs are neighbours in
    /// memory: each step along the runs is then one contiguous row of GROUP elements.
    #[inline(always)]
    fn neighbours(&self, pieces: &[(*mut T, usize); GROUP]) -> Option<*mut T> {
        let pieces = &pieces[..self.runs.len()];
        (pieces.len() == GROUP
            && pieces
                .iter()
                .enumerate()
                .all(|(i, &(q, len))| len == PIECE && q == pieces[0].0.wrapping_add(i)))
        .then(|| pieces[0].0)
    }

    /// `f(e, q)` for every element of an operand whose step along the runs is not 1, a step
    /// along the runs at a time: `e` its place in the buffers, `q` its address.
    #[inline(always)]
    unsafe fn across(
        &self,
        pieces: &[(*mut T, usize); GROUP],
        step: isize,
        mut f: impl FnMut(usize, *mut T),
    ) {
        if let Some(first) = self.neighbours(pieces) {
            for j in 0..PIECE {
                let row = first.wrapping_offset(j as isize * step);
                for i in 0..GROUP {
                    f(i * PIECE + j, row.wrapping_add(i));
                }
            }
        } else {
            for j in 0..PIECE {
                for (i, &(q, len)) in pieces[..self.runs.len()].iter().enumerate() {
                    if j < len {
                        f(i * PIECE + j, q.wrapping_offset(j as isize * step));
                    }
                }
            }
        }
    }
}
