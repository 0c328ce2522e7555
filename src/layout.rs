//! Checked layouts and the walk over them.
//!
//! A [`Layout`] is a shape with strides that validation has proved sound (sizes >= 0, numel
//! and byte extent fit). A [`Walk`] merges the layouts of every operand of one call into the
//! fewest dimensions (dropping size-1 dimensions and fusing dimensions that are contiguous in
//! every operand) and hands out runs of elements in logical C order, which is also the order
//! that reductions group their sums in: results never depend on how work is split.

/// The largest number of dimensions a descriptor may have.
pub(crate) use crate::desc::CAUCHY_MAX_NDIM as MAX_NDIM;

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
        let (numel, strides) = (self.numel, self.strides);
        // C-contiguous: the stride of dimension d is numel / (size_0 * ... * size_d).
        let mut step = numel as isize;
        self.sizes.iter().enumerate().map(move |(d, &n)| {
            let stride = match strides {
                _ if numel == 0 => 0,
                Some(s) => s[d] as isize,
                None => {
                    step /= n as isize;
                    step
                }
            };
            (n as usize, stride)
        })
    }

    /// The lowest and highest element offsets this layout touches (`None` when empty).
    pub fn offset_range(&self) -> Option<(isize, isize)> {
        if self.numel == 0 {
            return None;
        }
        let (mut lo, mut hi) = (0isize, 0isize);
        for (n, s) in self.dims() {
            let reach = s * (n as isize - 1);
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
        let mut dims = [(0usize, 0usize); MAX_NDIM];
        let mut count = 0;
        for (n, s) in self.normalised() {
            dims[count] = (s.unsigned_abs(), n);
            count += 1;
        }
        dims[..count].sort_unstable();
        let mut reach: usize = 0;
        for &(s, n) in &dims[..count] {
            if s <= reach {
                return true;
            }
            reach += s * (n - 1);
        }
        false
    }
}

/// The joint walk over `K` operands of one shape: dimensions outermost first, with the
/// strides of each operand per dimension.
pub struct Walk<const K: usize> {
    ndim: usize,
    size: [usize; MAX_NDIM],
    stride: [[isize; K]; MAX_NDIM],
    numel: usize,
}

/// One contiguous-in-index run: `len` elements; operand `k` starts at element offset
/// `start[k]` and moves by `step[k]` elements.
#[derive(Clone, Copy, Debug)]
pub struct Run<const K: usize> {
    pub start: [isize; K],
    pub step: [isize; K],
    pub len: usize,
}

impl<const K: usize> Walk<K> {
    /// Merge the layouts of `K` operands that all have the shape of `shape`.
    pub fn new(shape: &Layout, layouts: [&Layout; K]) -> Walk<K> {
        let mut w =
            Walk { ndim: 0, size: [0; MAX_NDIM], stride: [[0; K]; MAX_NDIM], numel: shape.numel };
        if shape.numel == 0 {
            // Nothing to visit; the strides of an empty tensor are never looked at.
            w.ndim = 1;
            return w;
        }
        let mut dims = layouts.map(|l| l.dims());
        for &n in shape.sizes() {
            let s: [isize; K] = dims.each_mut().map(|it| it.next().map_or(0, |(_, s)| s));
            let n = n as usize;
            if n == 1 {
                continue;
            }
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
            w.size[w.ndim] = n;
            w.stride[w.ndim] = s;
            w.ndim += 1;
        }
        if w.ndim == 0 {
            // A single element: one dimension keeps the run logic uniform.
            w.size[0] = 1;
            w.ndim = 1;
        }
        w
    }

    pub fn numel(&self) -> usize {
        self.numel
    }

    /// Whether every operand steps by one element along the innermost dimension.
    pub fn inner_contiguous(&self) -> bool {
        self.stride[self.ndim - 1].iter().all(|&s| s == 1)
    }

    /// Call `f` on the runs covering logical indices `begin..end`, in order (inlined, so that
    /// `f` is compiled with the caller's target features).
    #[inline(always)]
    pub fn for_each_run(&self, begin: usize, end: usize, mut f: impl FnMut(Run<K>)) {
        if begin >= end {
            return;
        }
        let inner = self.ndim - 1;
        // Multi-index of `begin` and the offsets it reaches.
        let mut idx = [0usize; MAX_NDIM];
        let mut off = [0isize; K];
        let mut rest = begin;
        for d in (0..self.ndim).rev() {
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

    #[test]
    fn contiguous_dimensions_fuse_into_one() {
        let l = layout(&[2, 3, 4], &[12, 4, 1]);
        let w = Walk::<1>::new(&l, [&l]);
        assert_eq!(w.ndim, 1);
        assert_eq!(w.size[0], 24);
    }

    #[test]
    fn runs_visit_every_offset_in_logical_order() {
        // A transposed 3x4 view: element [i][j] at offset j*3 + i.
        let l = layout(&[3, 4], &[1, 3]);
        let w = Walk::<1>::new(&l, [&l]);
        let mut seen = vec![];
        w.for_each_run(2, 11, |r| {
            for i in 0..r.len {
                seen.push(r.start[0] + i as isize * r.step[0]);
            }
        });
        let want: Vec<isize> = (2..11).map(|e| (e % 4) * 3 + e / 4).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn self_overlap_follows_the_sorted_stride_rule() {
        assert!(!layout(&[3, 4], &[1, 3]).self_overlaps());
        assert!(!layout(&[3, 4], &[-4, -1]).self_overlaps());
        assert!(layout(&[3, 4], &[0, 1]).self_overlaps());
        assert!(layout(&[3, 4], &[2, 1]).self_overlaps());
        assert!(!layout(&[1, 4], &[0, 1]).self_overlaps());
    }
}
