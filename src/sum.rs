//! Deterministic, accurate sums.
//!
//! Values are added in a double-double ([`Acc`]), so the grouping of the additions changes
//! the result by far less than its last bit; the grouping is still fixed (blocks of
//! [`BLOCK`] logical elements, combined in block order) so that results are bit-identical
//! for every thread count. Infinities and NaN are counted apart, so that they give IEEE's
//! answer (NaN for a NaN or inf - inf) instead of poisoning the compensation terms.
//!
//! Losses (never negative) go to [`LANES`] lanes by their position in the block, each lane
//! summed in order: the additions vectorise, and the grouping depends only on logical indices,
//! not on how a layout splits the block into runs. f32 losses take plain f64 lanes (2^11
//! terms per lane and block lose at most 2^-42 relative); f64 losses take compensated ones.
//!
//! Terms below the normal range (f64 losses of residuals under 2^-500) cannot be rounded one
//! by one without an error of up to half a subnormal step each, which adds up; they are summed
//! apart, scaled by [`TINY_SCALE`], and scaled back once at the end.

use crate::dd::{two_sum, Dd};
use crate::log64::log_dd;

/// The factor by which [`Acc::add_tiny`] terms are scaled: 2^1000.
pub(crate) const TINY_SCALE: f64 = f64::from_bits((1023 + 1000) << 52);

/// Below this magnitude the main sum is carried into the scaled domain for the final rounding.
const SMALL: f64 = f64::from_bits((1023 - 900) << 52); // 2^-900

/// Logical elements per block: the unit of both work sharing and sum grouping.
pub(crate) const BLOCK: usize = 1 << 14;

const SAW_NAN: u8 = 1;
const SAW_POS_INF: u8 = 2;
const SAW_NEG_INF: u8 = 4;

/// The number of lanes losses are summed in (two AVX2 vectors of f64).
pub(crate) const LANES: usize = 8;

/// log(2) as a double-double.
const LN2: Dd = Dd { hi: std::f64::consts::LN_2, lo: 2.3190468138462996e-17 };

/// The largest `t` the product lanes take (see [`Acc::add_log_factors`]): a lane takes at
/// most `RENORM_EVERY / LANES` = 8 factors between renormalisations, so from below
/// `RENORM_AT` it stays below 2^(64 + 8 * 101), far from overflow.
const MAX_T: f64 = 1.2676506002282294e30; // 2^100

/// Block positions between renormalisations of the product lanes.
const RENORM_EVERY: usize = 64;

/// A product lane at or above this (2^64) is renormalised: `1 + q` is then `q` to 2^-64.
const RENORM_AT: f64 = 18446744073709551616.0;

/// A running sum: finite values as a double-double, tiny ones scaled apart, non-finite ones
/// as flags; losses in lanes until the block is merged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Acc {
    sum: Dd,
    tiny: Dd,
    special: u8,
    /// The lanes' sums and (compensated lanes only) their rounding errors.
    lanes: [f64; LANES],
    lanes_lo: [f64; LANES],
    /// How many losses the lanes have taken: the next one's position in the block.
    pos: usize,
    /// Product lanes: lane `k`'s factors `1 + t` multiply to `(1 + prod[k]) * 2^prod_exp[k]`,
    /// whose log is the sum of its losses.
    prod: [f64; LANES],
    prod_exp: [i64; LANES],
}

impl Acc {
    /// Add one value.
    #[inline(always)]
    pub fn add(&mut self, x: f64) {
        if x.is_finite() {
            let s = two_sum(self.sum.hi, x);
            self.sum.hi = s.hi;
            self.sum.lo += s.lo;
        } else {
            self.special |= if x.is_nan() {
                SAW_NAN
            } else if x > 0.0 {
                SAW_POS_INF
            } else {
                SAW_NEG_INF
            };
        }
    }

    /// Add a tiny non-negative term given as `term * TINY_SCALE`, exactly as a double-double.
    #[inline(always)]
    pub fn add_tiny(&mut self, scaled: Dd) {
        let s = two_sum(self.tiny.hi, scaled.hi);
        self.tiny.hi = s.hi;
        self.tiny.lo += s.lo + scaled.lo;
    }

    /// Add the next losses of the block (each >= 0, +inf or NaN; or finite values of any sign,
    /// see [`Acc::add_values`]), each to the lane of its position; `COMPENSATED` keeps each
    /// lane's rounding errors (f64 losses, reduced values).
    #[inline(always)]
    pub fn add_losses<const COMPENSATED: bool>(&mut self, vals: &[f64]) {
        let (mut hi, mut lo) = (self.lanes, self.lanes_lo);
        let mut add = |k: usize, v: f64| {
            if COMPENSATED {
                let s = two_sum(hi[k], v);
                (hi[k], lo[k]) = (s.hi, lo[k] + s.lo);
            } else {
                hi[k] += v;
            }
        };
        let head = ((LANES - self.pos % LANES) % LANES).min(vals.len());
        let (first, body) = vals.split_at(head);
        for (i, &v) in first.iter().enumerate() {
            add((self.pos + i) % LANES, v);
        }
        let groups = body.chunks_exact(LANES);
        let rest = groups.remainder();
        for group in groups {
            for (k, &v) in group.iter().enumerate() {
                add(k, v);
            }
        }
        for (k, &v) in rest.iter().enumerate() {
            add(k, v);
        }
        (self.lanes, self.lanes_lo) = (hi, lo);
        self.pos += vals.len();
    }

    /// Add the next losses of the block, `log(1 + t)` for each `t` of `ts` (>= 0, +inf or
    /// NaN), each to the lane of its position: multiplied into the product lanes as
    /// `q' = q (1 + t) + t` (two operations, where a log takes thirty), with one log per lane
    /// when the block is merged. A `t` above [`MAX_T`] (or NaN) is set to 0 there, and its
    /// loss `rare(j)` (`j` its index in `ts`) added to the sum lanes instead.
    ///
    /// Error: each step rounds `q'` by at most 2^-52 relative (all terms are positive), which
    /// moves `log(1 + q')` by at most 2^-52 times the lane's final loss sum (as
    /// `q/(1 + q) <= log(1 + q)`), and a renormalisation by 2^-64 of the product; a lane takes
    /// at most 2^11 losses per block: below 2^-40 of its sum, far below the f32 guarantees
    /// (and too coarse for f64's).
    #[inline(always)]
    pub fn add_log_factors(&mut self, ts: &mut [f64], rare: impl Fn(usize) -> f64) {
        // Whether any `t` is above MAX_T (NaN and +inf included), from the bits: above
        // MAX_T's, or with the sign bit set (a NaN); an integer OR, which vectorises.
        let flag = |t: f64| MAX_T.to_bits().wrapping_sub(t.to_bits()) | t.to_bits();
        if ts.iter().fold(0, |any, &t| any | flag(t)) >> 63 != 0 {
            for (j, t) in ts.iter_mut().enumerate().filter(|(_, t)| **t > MAX_T || t.is_nan()) {
                let k = (self.pos + j) % LANES;
                let s = two_sum(self.lanes[k], rare(j));
                (self.lanes[k], self.lanes_lo[k]) = (s.hi, self.lanes_lo[k] + s.lo);
                *t = 0.0;
            }
        }
        // Pieces that end where the block position is a multiple of RENORM_EVERY, so that the
        // lanes are renormalised at the same positions however the block is split into calls.
        let mut ts = &ts[..];
        while !ts.is_empty() {
            if self.pos % RENORM_EVERY == 0 {
                self.renormalise();
            }
            let len = (RENORM_EVERY - self.pos % RENORM_EVERY).min(ts.len());
            let piece;
            (piece, ts) = ts.split_at(len);
            for_lanes::<LANES, _>(self.pos, piece, &mut self.prod, |q, k, t| {
                q[k] = q[k].mul_add(1.0 + t, t)
            });
            self.pos += len;
        }
    }

    /// Move the binary exponent of each product lane at or above [`RENORM_AT`] to `prod_exp`:
    /// `1 + q` becomes `q = m 2^e` (m in [1, 2)), kept as `(1 + (m - 1)) 2^e`.
    fn renormalise(&mut self) {
        // Arithmetic instead of selects, so that the loop vectorises: for a lane below
        // RENORM_AT, `e = 0` and `q * 1 - 0 = q`.
        for (q, exp) in self.prod.iter_mut().zip(&mut self.prod_exp) {
            let big = (*q >= RENORM_AT) as u64;
            let e = ((q.to_bits() >> 52) - 1023) & big.wrapping_neg();
            *q = *q * f64::from_bits((1023 - e) << 52) - big as f64;
            *exp += e as i64;
        }
    }

    /// Add the next values of the block, of any sign or class (`cauchy_reduce`); non-finite
    /// ones are replaced by 0 in `vals` after being recorded. Finite values go to the
    /// compensated lanes; a lane that overflows makes the whole sum overflow (see
    /// [`Acc::overflowed`]), as the running sum would.
    #[inline(always)]
    pub fn add_values(&mut self, vals: &mut [f64]) {
        if vals.iter().fold(false, |any, v| any | !v.is_finite()) {
            for v in vals.iter_mut().filter(|v| !v.is_finite()) {
                self.add(*v);
                *v = 0.0;
            }
        }
        self.add_losses::<true>(vals);
        if self.lanes.iter().fold(false, |any, v| any | !v.is_finite()) {
            (self.sum.hi, self.lanes, self.lanes_lo) = (f64::INFINITY, [0.0; LANES], [0.0; LANES]);
        }
    }

    /// The same sum with the lanes added into the main sum, in lane order: the sum lanes,
    /// then the logs of the product lanes.
    fn folded(&self) -> Acc {
        let mut acc =
            Acc { sum: self.sum, tiny: self.tiny, special: self.special, ..Acc::default() };
        for (k, (&hi, &lo)) in self.lanes.iter().zip(&self.lanes_lo).enumerate() {
            if k >= self.pos {
                // This lane and the later ones never took a loss (a short block, or a merged
                // total): each step adds (+0, +0) to the same sum, so when one step leaves its
                // bits as they are, every step does.
                let step = acc.sum + Dd::default();
                if (step.hi.to_bits(), step.lo.to_bits())
                    == (acc.sum.hi.to_bits(), acc.sum.lo.to_bits())
                {
                    break;
                }
            }
            if hi.is_finite() {
                acc.sum = acc.sum + Dd { hi, lo };
            } else {
                acc.add(hi); // +inf or NaN (the low part is then meaningless)
            }
        }
        // Then the product lanes' logs: `e ln2 + log1p(q)`, with `1 + q` exactly as a
        // double-double (log_dd keeps the relative precision of small logs). A lane at 1 adds
        // nothing (not even +0).
        for (&q, &e) in self.prod.iter().zip(&self.prod_exp).filter(|&(&q, &e)| (q, e) != (0.0, 0))
        {
            let u = two_sum(1.0, q);
            acc.sum = acc.sum + (LN2 * e as f64 + Dd::new(log_dd(u.hi, u.lo)));
        }
        acc
    }

    /// Add another partial (the later one in logical order).
    pub fn merge(&mut self, other: &Acc) {
        let other = other.folded();
        self.sum = self.sum + other.sum;
        self.tiny = self.tiny + other.tiny;
        self.special |= other.special;
    }

    /// The IEEE result when a non-finite value was added, else `None`.
    pub fn special(&self) -> Option<f64> {
        match self.special {
            0 => None,
            SAW_POS_INF => Some(f64::INFINITY),
            SAW_NEG_INF => Some(f64::NEG_INFINITY),
            _ => Some(f64::NAN),
        }
    }

    /// Whether finite values overflowed the running sum (possible for f64 data only).
    pub fn overflowed(&self) -> bool {
        self.special == 0 && !(self.sum.hi.is_finite() && self.sum.lo.is_finite())
    }

    /// The sum divided by `divisor` (1 for SUM, numel for MEAN), rounded once to f64.
    pub fn result(&self, divisor: f64) -> f64 {
        let acc = self.folded();
        acc.result_folded(divisor)
    }

    fn result_folded(&self, divisor: f64) -> f64 {
        if let Some(s) = self.special() {
            return s / divisor;
        }
        let d = Dd::new(divisor);
        let (sum, tiny) = (self.sum / d, self.tiny / d);
        if tiny.hi == 0.0 {
            sum.to_f64()
        } else if sum.hi.abs() < SMALL {
            // Round in the scaled domain, where no subnormal step limits the precision.
            (sum * TINY_SCALE + tiny).to_f64() / TINY_SCALE
        } else {
            (sum + Dd::new(tiny.hi / TINY_SCALE)).to_f64()
        }
    }
}

/// Call `f(lanes, k, v)` for each value `v` of `vals`, the next values of a block from
/// position `pos` on, in order, with `k` the lane of its position among `N`: a head up to lane
/// 0, whole groups of `N`, and the rest. The groups work on a copy of `lanes` indexed only by
/// constants, which the compiler keeps in vector registers.
#[inline(always)]
fn for_lanes<const N: usize, S: Copy>(
    pos: usize,
    vals: &[f64],
    lanes: &mut S,
    f: impl Fn(&mut S, usize, f64),
) {
    let head = ((N - pos % N) % N).min(vals.len());
    let (first, body) = vals.split_at(head);
    for (i, &v) in first.iter().enumerate() {
        f(lanes, (pos + i) % N, v);
    }
    let groups = body.chunks_exact(N);
    let rest = groups.remainder();
    let mut local = *lanes;
    for group in groups {
        for (k, &v) in group.iter().enumerate() {
            f(&mut local, k, v);
        }
    }
    *lanes = local;
    for (k, &v) in rest.iter().enumerate() {
        f(lanes, k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensation_keeps_the_small_terms() {
        let mut a = Acc::default();
        for x in [1e16, 1.0, -1e16, 1.0] {
            a.add(x);
        }
        assert_eq!(a.result(1.0), 2.0);
    }

    #[test]
    fn infinities_of_both_signs_give_nan() {
        let mut a = Acc::default();
        a.add(f64::INFINITY);
        a.add(1.0);
        assert_eq!(a.result(1.0), f64::INFINITY);
        a.add(f64::NEG_INFINITY);
        assert!(a.result(1.0).is_nan());
    }

    #[test]
    fn log_factors_do_not_depend_on_how_a_block_is_split() {
        // Losses from 0 to about 85, one in 97 above MAX_T (taken apart), over 1000 positions
        // (16 renormalisations).
        let ts: Vec<f64> = (0..1000)
            .map(|i| {
                let d = (i as f64 * 0.37).sin() * 13.0;
                0.5 * d * d * if i % 97 == 5 { 1e40 } else { 1.0 }
            })
            .collect();
        let sum = |split: usize| {
            let mut acc = Acc::default();
            for (c, chunk) in ts.chunks(split).enumerate() {
                acc.add_log_factors(&mut chunk.to_vec(), |j| ts[c * split + j].ln_1p());
            }
            // Both parts of the double-double, whose low part shows any other grouping.
            let s = acc.folded().sum;
            (s.hi.to_bits(), s.lo.to_bits())
        };
        let whole = sum(ts.len());
        for split in [1, 3, 8, 63, 64, 100] {
            assert_eq!(sum(split), whole, "split {split}");
        }
        let plain: f64 = ts.iter().map(|t| t.ln_1p()).sum();
        let whole = f64::from_bits(whole.0) + f64::from_bits(whole.1);
        assert!((whole / plain - 1.0).abs() < 1e-13, "{whole} against {plain}");
    }

    #[test]
    fn tiny_terms_round_once() {
        // 1000 terms of 2277.025 subnormal steps each: 2277025 steps, not 1000 * 2277.
        let step = f64::from_bits(1);
        let mut a = Acc::default();
        for _ in 0..1000 {
            a.add_tiny(Dd::new(2277.025 * (step * TINY_SCALE)));
        }
        assert_eq!(a.result(1.0), 2277025.0 * step);
    }
}
