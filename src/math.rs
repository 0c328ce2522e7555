//! Element math: the loss and its gradient for one pair of values, for each element type.
//!
//! f32 is computed in f64, where neither `x - y` nor `d*d` can overflow or lose a subnormal, and
//! rounded once. f64 carries the residual square and the gradient's quotient as double-doubles
//! (`dd`), switches to `log(d^2/2) = 2 log(|d|/sqrt 2)` where `d*d` would overflow, and to the
//! exact half difference `h = x/2 - y/2` where `x - y` itself overflows.

use crate::dd::{two_prod, two_sum, Dd};
use crate::sum::Acc;
use std::f64::consts::{FRAC_1_SQRT_2, LN_2};

/// Below this |d| (2^-500) the loss is `d^2/2` to far below an ULP, and may be subnormal:
/// sums take it exactly, scaled (see `sum`).
const TINY: f64 = f64::from_bits(0x20B0_0000_0000_0000);

/// Above this |d|, `d*d/2` is replaced by the logarithmic form; `2/d^2` is then below 2^-999,
/// far under half an ULP of the loss (which is above 690 there).
const LARGE: f64 = f64::from_bits(0x5F30_0000_0000_0000); // 2^500

/// A floating-point element type the library computes on.
pub trait Element: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    /// The loss of one pair as f64, before the final rounding to `Self`.
    fn loss_wide(x: Self, y: Self) -> f64;
    /// Whether `add_loss` adds exactly `loss_wide` (so a sum may take precomputed losses).
    const SUMS_LOSS_WIDE: bool = true;
    /// Add the loss of one pair to a sum (more precisely than `loss_wide` where that matters).
    #[inline(always)]
    fn add_loss(acc: &mut Acc, x: Self, y: Self) {
        acc.add(Self::loss_wide(x, y));
    }
    /// `g * dloss/dx / n`, rounded once to `Self`.
    fn grad(x: Self, y: Self, g: Self, n: f64) -> Self;
    /// Round an f64 result to `Self` (once).
    fn narrow(v: f64) -> Self;
    /// The exact f64 value of `self`.
    fn widen(self) -> f64;
    /// `-self`, exactly (flips the sign bit, NaN included).
    fn neg(self) -> Self;
}

impl Element for f32 {
    #[inline(always)]
    fn loss_wide(x: f32, y: f32) -> f64 {
        let d = x as f64 - y as f64;
        log1p_for_f32(0.5 * d * d)
    }

    #[inline(always)]
    fn grad(x: f32, y: f32, g: f32, n: f64) -> f32 {
        let d = x as f64 - y as f64;
        // 2d / (d^2 + 2) written so that d = ±0 and d = ±inf give ±0 with d's sign.
        let dloss = 2.0 / (d + 2.0 / d);
        (g as f64 * dloss / n) as f32
    }

    #[inline(always)]
    fn narrow(v: f64) -> f32 {
        v as f32
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        self as f64
    }

    #[inline(always)]
    fn neg(self) -> f32 {
        -self
    }
}

impl Element for f64 {
    #[inline(always)]
    fn loss_wide(x: f64, y: f64) -> f64 {
        match residual(x, y) {
            Residual::Plain(d) => loss_of_abs(d.abs()),
            // loss = log(2 h^2) = 2 (log|h| + log sqrt 2); the rounding of h is below 2^-53
            // relative, far under an ULP of a loss near 1418.
            Residual::Half(h) => 2.0 * (h.hi.abs().ln() + 0.5 * LN_2),
        }
    }

    const SUMS_LOSS_WIDE: bool = false;

    #[inline(always)]
    fn add_loss(acc: &mut Acc, x: f64, y: f64) {
        let a = (x - y).abs();
        if a < TINY {
            // d^2/2 * 2^1000 = (d * 2^500)^2 / 2, exact as a double-double.
            let scaled = a * 2f64.powi(500);
            acc.add_tiny(two_prod(0.5 * scaled, scaled));
        } else {
            acc.add(Self::loss_wide(x, y));
        }
    }

    #[inline(always)]
    fn grad(x: f64, y: f64, g: f64, n: f64) -> f64 {
        let d = x - y;
        let r = residual(x, y);
        if !g.is_finite() {
            // IEEE product rules: inf * 0 = NaN, inf * nonzero = inf, NaN propagates; only the
            // derivative's sign and whether it is zero matter here.
            let dloss = match r {
                Residual::Half(h) => 1.0 / h.hi,
                Residual::Plain(d) => 2.0 / (d + 2.0 / d),
            };
            return g * dloss / n;
        }
        let ga = g.abs();
        let magnitude = match r {
            // g * 2/d = g / (d/2), with d/2 = h exactly as a double-double.
            Residual::Half(h) => Dd::new(ga) / abs_dd(h),
            Residual::Plain(d) => {
                let a = d.abs();
                if a == f64::INFINITY {
                    Dd::new(0.0)
                } else if a > LARGE {
                    Dd::new(ga) / Dd::new(0.5 * a)
                } else {
                    let sq = two_prod(a, a);
                    Dd::new(2.0 * a) / (Dd::new(2.0) + sq) * ga
                }
            }
        };
        let m = if n == 1.0 { magnitude } else { magnitude / Dd::new(n) }.to_f64();
        // The IEEE sign of g * dloss/dx: dloss/dx has the sign of d (±0 included).
        if g.is_sign_negative() != d.is_sign_negative() {
            -m
        } else {
            m
        }
    }

    #[inline(always)]
    fn narrow(v: f64) -> f64 {
        v
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }

    #[inline(always)]
    fn neg(self) -> f64 {
        -self
    }
}

/// The residual of an f64 pair: `x - y` rounded, or, where that overflows for finite inputs,
/// the exact half difference `x/2 - y/2` as a double-double.
enum Residual {
    Plain(f64),
    Half(Dd),
}

#[inline(always)]
fn residual(x: f64, y: f64) -> Residual {
    let d = x - y;
    if d.is_infinite() && x.is_finite() && y.is_finite() {
        Residual::Half(two_sum(0.5 * x, -0.5 * y))
    } else {
        Residual::Plain(d)
    }
}

#[inline(always)]
fn abs_dd(v: Dd) -> Dd {
    if v.hi < 0.0 {
        Dd { hi: -v.hi, lo: -v.lo }
    } else {
        v
    }
}

/// `log1p(a^2 / 2)` for `a = |d|` (NaN and +inf included), within about 1 ULP.
#[inline(always)]
fn loss_of_abs(a: f64) -> f64 {
    if a > LARGE {
        // log(a^2/2) = 2 log(a / sqrt 2); the product's rounding is 2^-53 relative in the
        // argument, about 2^-62 of the result's ULP.
        return 2.0 * (a * FRAC_1_SQRT_2).ln();
    }
    // t = a^2/2 exactly as a double-double (a/2 is exact unless a is subnormal, and then t
    // underflows to 0 either way); then log1p(t) = log(u) for u = 1 + t = uh + ul, and
    // log(uh + ul) = log(uh) + ul/uh to far below an ULP.
    let t = two_prod(0.5 * a, a);
    let u = two_sum(1.0, t.hi);
    u.hi.ln() + (u.lo + t.lo) / u.hi
}

/// `log1p(t)` for `t >= 0` (or NaN), to about 2^-35 relative: far below half an f32 ULP, so
/// the result rounds to f32 within 1 ULP of the correctly rounded value. No library call and
/// no branch (the `if`s are selects), so loops over it vectorise.
///
/// `u = 1 + t` is split as `2^k * m` with `m` in [sqrt(2)/2, sqrt(2)), `m` is moved into
/// [2^(-1/6), 2^(1/6)) by a factor 2^(±1/3) (exactly 1 around `u = 1`, where `m - 1` is exact
/// and small losses keep their relative precision), and `log(1 + f) = f * g(f)` with a
/// degree-7 near-minimax polynomial `g` (relative error 2.9e-11; Chebyshev interpolation of
/// `log1p(f)/f` on that interval, by scripts/fit_log1p.py). The rounding error of `u` is added back
/// while `u <= 2`, where it is exact and matters.
#[inline(always)]
fn log1p_for_f32(t: f64) -> f64 {
    const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
    const TWO_52: f64 = 4503599627370496.0;
    const CBRT2: f64 = 1.2599210498948732; // 2^(1/3)
    const INV_CBRT2: f64 = 0.7937005259840998; // 2^(-1/3)
    const SEG_LO: f64 = 0.8908987181403393; // 2^(-1/6)
    const SEG_HI: f64 = 1.122462048309373; // 2^(1/6)
    const LN2_3: f64 = 0.23104906018664842; // log(2) / 3
    const G: [f64; 8] = [
        0.9999999999755529,
        -0.5000000008201853,
        0.33333339283436175,
        -0.24999942107513365,
        0.19997709327900848,
        -0.16676055831114175,
        0.14570816126566702,
        -0.12178172199965687,
    ];
    let u = 1.0 + t;
    let c = if u <= 2.0 { t - (u - 1.0) } else { 0.0 };
    let bits = u.to_bits();
    let k = bits.wrapping_sub(SQRT_HALF_BITS) >> 52;
    let m = f64::from_bits(bits.wrapping_sub(k << 52));
    let kf = f64::from_bits(0x4330_0000_0000_0000 | k) - TWO_52;
    let (scale, third) = if m < SEG_LO {
        (CBRT2, -1.0)
    } else if m >= SEG_HI {
        (INV_CBRT2, 1.0)
    } else {
        (1.0, 0.0)
    };
    let f = m.mul_add(scale, -1.0);
    let g = G.iter().rev().fold(0.0f64, |acc, &c| acc.mul_add(f, c));
    let loss = kf.mul_add(LN_2, third * LN2_3) + f.mul_add(g, c);
    // NaN and +inf pass through (their bits make no sense above).
    if u < f64::INFINITY {
        loss
    } else {
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log1p_for_f32_is_far_below_an_f32_ulp() {
        // Log-uniform t from 2^-300 to 2^256, against the platform's double log1p (~1e-16).
        let mut worst = 0f64;
        for i in 0..200_000 {
            let t =
                2f64.powf(-300.0 + 556.0 * (i as f64 / 200_000.0)) * (1.0 + (i % 7) as f64 / 7.0);
            worst = worst.max((log1p_for_f32(t) / t.ln_1p() - 1.0).abs());
        }
        assert!(worst < 1e-10, "relative error {worst:e}");
        assert_eq!(log1p_for_f32(0.0).to_bits(), 0);
        assert_eq!(log1p_for_f32(f64::INFINITY), f64::INFINITY);
        assert!(log1p_for_f32(f64::NAN).is_nan());
    }

    #[test]
    fn zero_residual_gives_signed_zero_gradient() {
        assert_eq!(f64::loss_wide(1.0, 1.0).to_bits(), 0.0f64.to_bits());
        assert!(f64::grad(-0.0, 0.0, 1.0, 1.0).is_sign_negative());
        assert!(f32::grad(-0.0, 0.0, 1.0, 1.0).is_sign_negative());
        assert!(f64::grad(0.0, -0.0, 1.0, 1.0).is_sign_positive());
    }

    #[test]
    fn overflowing_difference_stays_finite() {
        let l = f64::loss_wide(f64::MAX, -f64::MAX);
        // log((2 * DBL_MAX)^2 / 2) = 1420.2585...
        assert!(l.is_finite() && l > 1420.0 && l < 1420.5, "{l}");
        let g = f64::grad(f64::MAX, -f64::MAX, 1.0, 1.0);
        assert!(g > 0.0 && g < 1e-307, "{g}");
    }

    #[test]
    fn infinite_upstream_times_zero_derivative_is_nan() {
        assert!(f64::grad(1.0, 1.0, f64::INFINITY, 1.0).is_nan());
        assert!(f32::grad(1.0, 1.0, f32::INFINITY, 1.0).is_nan());
        // The exact difference of these is finite, so the derivative is not zero.
        assert_eq!(f64::grad(f64::MAX, -f64::MAX, f64::NEG_INFINITY, 1.0), f64::NEG_INFINITY);
    }
}
