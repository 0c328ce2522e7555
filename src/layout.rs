//! Checked layouts and the walk over them.
//!
//! A [`Layout`] is a shape with strides that validation has proved sound (sizes >= 0, numel
//! and byte extent fit). A [`Walk`] merges the layouts of every operand of one call into the
//! fewest dimensions (dropping size-1 dimensions and fusing dimensions that are contiguous in
//! every operand) and hands out runs of elements in the memory order of the first operand
//! (logical C order unless its strides are permuted, as in a transposed view), which is also
//! the order that reductions group their sums in: results never depend on how work is split.

/// The largest number of dimensions a descriptor may have.
pub(crate) use crate::desc::CAUCHY_MAX_NDIM as MAX_NDIM;
use std::mem::MaybeUninit;

/// A checked shape and strides (in elements) of one operand, borrowed from the caller's
/// descriptor for the duration of the call, so that checked calls stay small to move.
#[derive(Clone, Copy, Debug)]
pub struct Layout<'a> {
    sizes: &'a [i64],
    /// `None`: C-contiguous.
    strides: Option<&'a [i64]>,
    numel: usize,
}

impl<'a> Layout<'a> {
    /// A layout whose sizes are >= 0 with product `numel`, and whose strides (one per size)
    /// reach no further than an `isize` byte offset: validation's findings, not checked here.
    pub fn trusted(sizes: &'a [i64], strides: Option<&'a [i64]>, numel: usize) -> Layout<'a> {
        Layout { sizes, strides, numel }
    }

    /// One element, no dimensions.
    pub fn scalar() -> Layout<'static> {
        Layout { sizes: &[], strides: None, numel: 1 }
    }

    /// The same shape, C-contiguous.
    pub fn contiguous(&self) -> Layout<'a> {
        Layout { strides: None, ..*self }
    }

    pub fn numel(&self) -> usize {
        self.numel
    }

    pub fn sizes(&self) -> &'a [i64] {
        self.sizes
    }

    /// `(size, stride)` of each dimension, outermost first (an empty tensor's strides read 0:
    /// they are never used).
    pub fn dims(&self) -> impl Iterator<Item = (usize, isize)> + 'a {
        let (sizes, numel, strides) = (self.sizes, self.numel, self.strides);
        sizes.iter().enumerate().map(move |(d, &n)| {
            let stride = match strides {
                _ if numel == 0 => 0,
                Some(s) => s[d] as isize,
                // C-contiguous: the product of the inner sizes (no division: calls have few
                // dimensions, and an integer division costs more than their multiplications).
                None => sizes[d + 1..].iter().product::<i64>() as isize,
            };
            (n as usize, stride)
        })
    }

    /// The lowest and highest element offsets this layout touches (`None` when empty), in
    /// `i128` so that strides not yet checked cannot wrap.
    #[inline]
    pub fn offset_range(&self) -> Option<(i128, i128)> {
        if self.numel == 0 {
            return None;
        }
        let Some(strides) = self.strides else { return Some((0, self.numel as i128 - 1)) };
        let (mut lo, mut hi) = (0, 0);
        for (&n, &s) in self.sizes.iter().zip(strides) {
            let reach = s as i128 * (n as i128 - 1);
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        Some((lo, hi))
    }

    /// `(size, stride)` of every dimension of size > 1: the normalised layout.
    pub fn normalised(&self) -> impl Iterator<Item = (usize, isize)> + 'a {
        self.dims().filter(|&(n, _)| n > 1)
    }

    /// Whether two distinct indices can reach the same element (the API.md test).
    pub fn self_overlaps(&self) -> bool {
        if self.numel <= 1 {
            return false;
        }
        // C-contiguous, or dimensions whose strides already grow innermost first (outputs in C
        // order): they pass in their own order, which is then the sorted one, so no sort.
        let Some(strides) = self.strides else { return false };
        let inner_first = self.sizes.iter().zip(strides).rev();
        if each_steps_past(inner_first.map(|(&n, &s)| (s.unsigned_abs() as usize, n as usize))) {
            return false;
        }
        let mut dims = [(0usize, 0usize); MAX_NDIM];
        let mut count = 0;
        for (n, s) in self.normalised() {
            dims[count] = (s.unsigned_abs(), n);
            count += 1;
        }
        dims[..count].sort_unstable();
        !each_steps_past(dims[..count].iter().copied())
    }
}

/// The overlap rule over `(|stride|, size)` dimensions taken in the given order: whether each
/// dimension of size > 1 steps past the reach of those before it.
fn each_steps_past(dims: impl Iterator<Item = (usize, usize)>) -> bool {
    let mut reach: usize = 0;
    dims.filter(|&(_, n)| n > 1).all(|(s, n)| {
        let past = s > reach;
        reach += s * (n - 1);
        past
    })
}

/// The most runs [`Walk::for_each_group`] hands out at once.
pub(crate) const GROUP: usize = 64;

/// The joint walk over `K` operands of one shape, in its fused dimensions; `'r` is the
/// [`WideRoom`] it may use.
pub struct Walk<'r, const K: usize> {
    numel: usize,
    dims: Dims<'r, K>,
}

/// Fused dimensions a walk holds inline. Few layouts need more after fusion (contiguous ones
/// need one, transposed views two); those few go to a [`WideRoom`], so that the common call
/// neither zeroes nor moves room for [`MAX_NDIM`] dimensions.
const INLINE_DIMS: usize = 4;

enum Dims<'r, const K: usize> {
    /// One run in which every operand steps by 1: C-contiguous operands (the common call), or
    /// at most one element (whose strides never matter). Built without looking at a stride.
    Line,
    Inline(Fused<K, INLINE_DIMS>),
    Wide(&'r Fused<K, MAX_NDIM>),
}

/// Room for the fused dimensions of a walk that needs more than it holds inline: uninitialised
/// until such a walk fills it, so it costs the common call nothing, and kept by the caller
/// (on its stack: no call allocates for its layout).
pub struct WideRoom<const K: usize>(MaybeUninit<Fused<K, MAX_NDIM>>);

impl<const K: usize> Default for WideRoom<K> {
    fn default() -> WideRoom<K> {
        WideRoom(MaybeUninit::uninit())
    }
}

/// At most `D` dimensions, outermost first, with the strides of each operand per dimension.
pub struct Fused<const K: usize, const D: usize> {
    ndim: usize,
    size: [usize; D],
    stride: [[isize; K]; D],
}

/// One contiguous-in-index run: `len` elements; operand `k` starts at element offset
/// `start[k]` and moves by `step[k]` elements.
#[derive(Clone, Copy, Debug)]
pub struct Run<const K: usize> {
    pub start: [isize; K],
    pub step: [isize; K],
    pub len: usize,
}

impl<'r, const K: usize> Walk<'r, K> {
    /// Merge the layouts of `K` operands that all have the shape of `shape`, in `room` where
    /// they need it.
    /// (Inlined, and the fused dimensions built in place by a call of their own, so that the
    /// common call neither calls nor moves anything here.)
    #[inline(always)]
    pub fn new(shape: &Layout, layouts: [&Layout; K], room: &'r mut WideRoom<K>) -> Walk<'r, K> {
        if shape.numel <= 1 || layouts.iter().all(|l| l.strides.is_none()) {
            Walk { numel: shape.numel, dims: Dims::Line }
        } else {
            Walk::fused(shape, layouts, room)
        }
    }

    /// [`Walk::new`] for a layout that is not a [`Dims::Line`].
    fn fused(shape: &Layout, layouts: [&Layout; K], room: &'r mut WideRoom<K>) -> Walk<'r, K> {
        let dims = match Fused::new(shape, layouts) {
            Some(few) => Dims::Inline(few),
            None => Dims::Wide(room.0.write(
                Fused::new(shape, layouts).expect("a layout has at most MAX_NDIM dimensions"),
            )),
        };
        Walk { numel: shape.numel, dims }
    }

    pub fn numel(&self) -> usize {
        self.numel
    }

    /// Whether every operand steps by one element along the innermost dimension.
    pub fn inner_contiguous(&self) -> bool {
        let inner = match &self.dims {
            Dims::Line => return true,
            Dims::Inline(d) => d.stride[d.ndim - 1],
            Dims::Wide(d) => d.stride[d.ndim - 1],
        };
        inner.iter().all(|&s| s == 1)
    }

    /// Call `f` on the runs covering logical indices `begin..end`, in order (inlined, so that
    /// `f` is compiled with the caller's target features).
    #[inline(always)]
    pub fn for_each_run(&self, begin: usize, end: usize, mut f: impl FnMut(Run<K>)) {
        match &self.dims {
            Dims::Line if begin < end => {
                f(Run { start: [begin as isize; K], step: [1; K], len: end - begin })
            }
            Dims::Line => {}
            Dims::Inline(d) => d.for_each_run(begin, end, f),
            Dims::Wide(d) => d.for_each_run(begin, end, f),
        }
    }

    /// The runs of `begin..end` in order, up to [`GROUP`] consecutive ones at a time, so that
    /// a kernel can work on a tile across neighbouring runs (see `ops`).
    #[inline(always)]
    pub fn for_each_group(&self, begin: usize, end: usize, mut f: impl FnMut(&[Run<K>])) {
        let mut runs = [Run { start: [0; K], step: [0; K], len: 0 }; GROUP];
        let mut count = 0;
        self.for_each_run(begin, end, |run| {
            runs[count] = run;
            count += 1;
            if count == GROUP {
                f(&runs);
                count = 0;
            }
        });
        if count > 0 {
            f(&runs[..count]);
        }
    }
}

impl<const K: usize, const D: usize> Fused<K, D> {
    /// Drop size-1 dimensions and fuse dimensions that are contiguous in every operand;
    /// `None` when more than `D` dimensions remain.
    fn new(shape: &Layout, layouts: [&Layout; K]) -> Option<Fused<K, D>> {
        let mut w = Fused { ndim: 0, size: [0; D], stride: [[0; K]; D] };
        // The dimensions of size > 1 with every operand's stride, ordered by the first
        // operand's memory layout: largest |stride| outermost, ties in logical order (so a
        // C-ordered first operand keeps C order). Its elements are then read in memory order.
        let mut dims = [(0usize, [0isize; K]); MAX_NDIM];
        let mut count = 0;
        let mut strides = layouts.map(|l| l.dims());
        for &n in shape.sizes() {
            let s: [isize; K] = strides.each_mut().map(|it| it.next().map_or(0, |(_, s)| s));
            if n > 1 {
                dims[count] = (n as usize, s);
                count += 1;
            }
        }
        let mut order: [usize; MAX_NDIM] = std::array::from_fn(|d| d);
        order[..count]
            .sort_unstable_by_key(|&d| (std::cmp::Reverse(dims[d].1[0].unsigned_abs()), d));
        for &(n, s) in order[..count].iter().map(|&d| &dims[d]) {
            if w.ndim > 0 {
                let last = w.ndim - 1;
                // Fuse with the previous dimension when, for every operand, stepping the outer
                // index equals stepping the inner one n times.
                if (0..K).all(|k| w.stride[last][k] == s[k] * n as isize) {
                    w.size[last] *= n;
                    w.stride[last] = s;
                    continue;
                }
            }
            if w.ndim == D {
                return None;
            }
            w.size[w.ndim] = n;
            w.stride[w.ndim] = s;
            w.ndim += 1;
        }
        Some(w)
    }

    #[inline(always)]
    fn for_each_run(&self, begin: usize, end: usize, mut f: impl FnMut(Run<K>)) {
        if begin >= end {
            return;
        }
        let inner = self.ndim - 1;
        // Multi-index of `begin` and the offsets it reaches.
        let mut idx = [0usize; D];
        let mut off = [0isize; K];
        let mut rest = begin;
        for d in (0..self.ndim).rev() {
            if rest == 0 {
                break; // the outer indices are 0 (the first block: no divisions)
            }
            idx[d] = rest % self.size[d];
            rest /= self.size[d];
            for (k, o) in off.iter_mut().enumerate() {
                *o += idx[d] as isize * self.stride[d][k];
            }
        }
        let mut pos = begin;
        while pos < end {
            let len = (self.size[inner] - idx[inner]).min(end - pos);
            f(Run { start: off, step: self.stride[inner], len });
            pos += len;
            if pos >= end {
                break;
            }
            // Advance the multi-index by `len` (which always reaches the end of the inner run).
            for (k, o) in off.iter_mut().enumerate() {
                *o -= idx[inner] as isize * self.stride[inner][k];
            }
            idx[inner] = 0;
            let mut d = inner;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                for (k, o) in off.iter_mut().enumerate() {
                    *o += self.stride[d][k];
                }
                if idx[d] < self.size[d] {
                    break;
                }
                for (k, o) in off.iter_mut().enumerate() {
                    *o -= idx[d] as isize * self.stride[d][k];
                }
                idx[d] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout<'a>(sizes: &'a [i64], strides: &'a [i64]) -> Layout<'a> {
        Layout::trusted(sizes, Some(strides), sizes.iter().product::<i64>() as usize)
    }

    /// The offsets the runs of `begin..end` visit, in order.
    fn visited<const K: usize>(w: &Walk<'_, K>, k: usize, begin: usize, end: usize) -> Vec<isize> {
        let mut seen = vec![];
        w.for_each_run(begin, end, |r| {
            seen.extend((0..r.len).map(|i| r.start[k] + i as isize * r.step[k]));
        });
        seen
    }

    /// The offset of each logical index in `range`, straight from the sizes and strides.
    fn logical(sizes: &[i64], strides: &[i64], range: std::ops::Range<i64>) -> Vec<isize> {
        let offset = |mut e: i64| {
            let mut off = 0;
            for (&n, &s) in sizes.iter().zip(strides).rev() {
                off += e % n * s;
                e /= n;
            }
            off as isize
        };
        range.map(offset).collect()
    }

    #[test]
    fn contiguous_dimensions_fuse_into_one() {
        let l = layout(&[2, 3, 4], &[12, 4, 1]);
        let mut room = WideRoom::default();
        let w = Walk::<1>::new(&l, [&l], &mut room);
        let Dims::Inline(d) = &w.dims else { panic!("one dimension was not kept inline") };
        assert_eq!((d.ndim, d.size[0]), (1, 24));
    }

    #[test]
    fn runs_visit_every_offset_in_logical_order() {
        // A 3x4 view with padded rows: element [i][j] at offset i*5 + j.
        let l = layout(&[3, 4], &[5, 1]);
        let mut room = WideRoom::default();
        let w = Walk::<1>::new(&l, [&l], &mut room);
        assert_eq!(visited(&w, 0, 2, 11), logical(&[3, 4], &[5, 1], 2..11));
    }

    #[test]
    fn runs_follow_the_first_operands_memory_order() {
        // A transposed 3x4 view (element [i][j] at offset j*3 + i) is read in memory order;
        // a C-contiguous second operand follows it (element [i][j] at i*4 + j).
        let (t, c) = (layout(&[3, 4], &[1, 3]), Layout::trusted(&[3, 4], None, 12));
        let mut room = WideRoom::default();
        let w = Walk::<2>::new(&t, [&t, &c], &mut room);
        assert_eq!(visited(&w, 0, 0, 12), (0..12).collect::<Vec<_>>());
        let second: Vec<isize> = (0..12).map(|m| (m % 3) * 4 + m / 3).collect();
        assert_eq!(visited(&w, 1, 2, 11), second[2..11]);
    }

    #[test]
    fn dimensions_beyond_the_inline_ones_walk_from_the_room() {
        // Six dimensions of size 2 that cannot fuse (every stride is padded), against a
        // contiguous second operand.
        let sizes = [2, 2, 2, 2, 2, 2];
        let strides = [-200, 50, 24, -6, 3, 1];
        let (l, c) = (layout(&sizes, &strides), Layout::trusted(&sizes, None, 64));
        let mut room = WideRoom::default();
        let w = Walk::<2>::new(&l, [&l, &c], &mut room);
        assert!(matches!(w.dims, Dims::Wide(_)));
        for (begin, end) in [(0, 64), (5, 6), (13, 50)] {
            assert_eq!(
                visited(&w, 0, begin, end),
                logical(&sizes, &strides, begin as i64..end as i64)
            );
            assert_eq!(
                visited(&w, 1, begin, end),
                (begin as isize..end as isize).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn self_overlap_follows_the_sorted_stride_rule() {
        assert!(!Layout::trusted(&[3, 4], None, 12).self_overlaps());
        assert!(!layout(&[3, 4], &[4, 1]).self_overlaps());
        assert!(!layout(&[3, 4], &[1, 3]).self_overlaps());
        assert!(!layout(&[3, 4], &[-4, -1]).self_overlaps());
        assert!(layout(&[3, 4], &[0, 1]).self_overlaps());
        assert!(layout(&[3, 4], &[2, 1]).self_overlaps());
        assert!(!layout(&[1, 4], &[0, 1]).self_overlaps());
    }
}
