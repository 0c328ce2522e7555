//! Double-double arithmetic: a value `hi + lo` carried with about 106 bits.
//!
//! Used where one f64 rounding would cost the f64 guarantees: the residual square, the
//! gradient's division, the scaling by the upstream gradient and by `1/numel`, and sums.

/// `hi + lo` with `|lo| <= ulp(hi) / 2` after normalisation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dd {
    pub hi: f64,
    pub lo: f64,
}

/// `a + b` exactly as `s + e` (Knuth's TwoSum; no ordering precondition).
#[inline(always)]
pub fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    Dd { hi: s, lo: e }
}

/// `a + b` exactly as `s + e` when `|a| >= |b|` (Fast2Sum: half the operations of
/// [`two_sum`]).
#[inline(always)]
pub fn fast_two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    Dd { hi: s, lo: b - (s - a) }
}

/// `1 + t` for `t = t.hi + t.lo >= 0` (`t.hi` finite), as `u + u_lo`: Fast2Sum of 1 and
/// `t.hi`, then `t.lo`. Exact but for one rounding of the low part below `t = 2^53` (where
/// `1 >= t`, or else `u - 1` is exact and within a factor 2 of `t`); above, within 2^-53 of
/// `1 + t` (the rounding of `u - 1`). Four operations, where an exact [`two_sum`] takes seven:
/// the float64 sums take one per element, and the fused call's gradients share it.
#[inline(always)]
pub fn one_plus(t: Dd) -> Dd {
    let u = 1.0 + t.hi;
    Dd { hi: u, lo: (t.hi - (u - 1.0)) + t.lo }
}

/// `a * b` exactly as `p + e` (exact while `a * b` neither overflows nor underflows).
#[inline(always)]
pub fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    Dd { hi: p, lo: a.mul_add(b, -p) }
}

impl Dd {
    #[inline(always)]
    pub fn new(hi: f64) -> Dd {
        Dd { hi, lo: 0.0 }
    }

    /// The nearest f64 (an infinite or NaN `hi` is returned as it is, never `inf + NaN`).
    #[inline(always)]
    pub fn to_f64(self) -> f64 {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }
}

impl std::ops::Add for Dd {
    type Output = Dd;

    /// `self + other`, renormalised.
    #[inline(always)]
    fn add(self, other: Dd) -> Dd {
        let s = two_sum(self.hi, other.hi);
        let lo = s.lo + (self.lo + other.lo);
        let hi = s.hi + lo;
        Dd { hi, lo: lo - (hi - s.hi) }
    }
}

impl std::ops::Mul<f64> for Dd {
    type Output = Dd;

    /// `self * b`, renormalised.
    #[inline(always)]
    fn mul(self, b: f64) -> Dd {
        let p = two_prod(self.hi, b);
        let lo = p.lo + self.lo * b;
        let hi = p.hi + lo;
        Dd { hi, lo: lo - (hi - p.hi) }
    }
}

impl std::ops::Div for Dd {
    type Output = Dd;

    /// `self / den` with one Newton correction of the quotient.
    #[inline(always)]
    fn div(self, den: Dd) -> Dd {
        let q = self.hi / den.hi;
        let r = (q.mul_add(-den.hi, self.hi) + self.lo) - q * den.lo;
        let lo = r / den.hi;
        let hi = q + lo;
        Dd { hi, lo: lo - (hi - q) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sum_is_exact() {
        let s = two_sum(1.0, 1e-30);
        assert_eq!(s.hi, 1.0);
        assert_eq!(s.lo, 1e-30);
    }

    #[test]
    fn division_recovers_a_third_to_double_double_precision() {
        let third = Dd::new(1.0) / Dd::new(3.0);
        let back = third * 3.0;
        assert_eq!(back.hi, 1.0);
        assert!(back.lo.abs() < 1e-31);
    }

    #[test]
    fn non_finite_high_part_passes_through() {
        assert_eq!(Dd { hi: f64::INFINITY, lo: f64::NAN }.to_f64(), f64::INFINITY);
    }
}
