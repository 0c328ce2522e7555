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

    /// The same sum with the lanes added into the main sum, in lane order.
    fn folded(&self) -> Acc {
        let mut acc = Acc { lanes: [0.0; LANES], lanes_lo: [0.0; LANES], pos: 0, ..*self };
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
