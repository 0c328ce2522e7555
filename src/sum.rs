//! Deterministic, accurate sums.
//!
//! Values are added in a double-double ([`Acc`]), so the grouping of the additions changes
//! the result by far less than its last bit; the grouping is still fixed (blocks of
//! [`BLOCK`] logical elements, combined in block order) so that results are bit-identical
//! for every thread count. Infinities and NaN are counted apart, so that they give IEEE's
//! answer (NaN for a NaN or inf - inf) instead of poisoning the compensation terms.

use crate::dd::{two_sum, Dd};

/// Logical elements per block: the unit of both work sharing and sum grouping.
pub(crate) const BLOCK: usize = 1 << 14;

const SAW_NAN: u8 = 1;
const SAW_POS_INF: u8 = 2;
const SAW_NEG_INF: u8 = 4;

/// A running sum: finite values as a double-double, non-finite ones as flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Acc {
    sum: Dd,
    special: u8,
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

    /// Add another partial (the later one in logical order).
    pub fn merge(&mut self, other: &Acc) {
        self.sum = self.sum + other.sum;
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

    /// The finite sum as a double-double (meaningless when `special()` is `Some`, or when the
    /// finite values overflowed: then `hi` is not finite).
    pub fn total(&self) -> Dd {
        self.sum
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
        assert_eq!(a.total().to_f64(), 2.0);
    }

    #[test]
    fn infinities_of_both_signs_give_nan() {
        let mut a = Acc::default();
        a.add(f64::INFINITY);
        a.add(1.0);
        assert_eq!(a.special(), Some(f64::INFINITY));
        a.add(f64::NEG_INFINITY);
        assert!(a.special().unwrap().is_nan());
    }
}
