//! Element math: the loss and its gradient for one pair of values, for each element type.
//!
//! f32 is computed in f64, where neither `x - y` nor `d*d` can overflow or lose a subnormal, and
//! rounded once. f64 carries the residual square and the gradient's quotient as double-doubles
//! (`dd`), switches to `log(d^2/2) = 2 log(|d|/sqrt 2)` where `d*d` would overflow, and to the
//! exact half difference `h = x/2 - y/2` where `x - y` itself overflows.

use crate::dd::{one_plus, two_prod, two_sum, Dd};
use crate::log64::log_dd;
use crate::sum::{above_max_t, above_twice_max_t, Acc, Also, Rare, DD_LANES, LANES};
use std::f64::consts::{FRAC_1_SQRT_2, LN_2};

/// Below this |d| (2^-500) the loss is `d^2/2` to far below an ULP, and may be subnormal:
/// sums take it exactly, scaled (see `sum`).
const TINY: f64 = f64::from_bits(0x20B0_0000_0000_0000);

/// Above this |d|, `d*d/2` is replaced by the logarithmic form; `2/d^2` is then below 2^-999,
/// far under half an ULP of the loss (which is above 690 there).
const LARGE: f64 = f64::from_bits(0x5F30_0000_0000_0000); // 2^500

/// A floating-point element type the library computes on, a chunk of elements at a time.
///
/// Each chunk function runs one loop over the chunk that is free of branches and library
/// calls, so that it vectorises; the rare elements that need another formula are redone one
/// by one afterwards. Results never depend on an element's neighbours.
///
/// Sealed: implemented for f32 and f64 only.
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static
{
    /// Zero, to fill scratch chunks.
    const ZERO: Self;
    /// The loss of each pair as f64, before the final rounding to `Self`.
    fn losses(x: &[Self], y: &[Self], out: &mut [f64]);
    /// Add the losses of the pairs to a sum, through the parts of `t = d^2/2` (see
    /// [`Acc::add_log_factors`]), `t[0].len()` pairs at a time.
    fn sum_losses(x: &[Self], y: &[Self], t: [&mut [f64]; 2], acc: &mut Acc);
    /// Add the losses of the pairs to a sum straight from the inputs, in this type's product
    /// lanes, handing each group of pairs to `also` in the same loop; false where the sum
    /// refuses them, adding nothing (see [`Acc::try_add_factors`]).
    fn try_sum_losses<A: Also<Self, LANES> + Also<Self, DD_LANES>>(
        x: &[Self],
        y: &[Self],
        acc: &mut Acc,
        also: A,
    ) -> bool;
    /// `f * dloss/dx` of each pair, rounded once: `f` is `g[j]` for an upstream tensor `g`,
    /// else `factor` (the upstream scalar over the MEAN divisor, see [`upstream_factor`]).
    fn grads(x: &[Self], y: &[Self], g: Option<&[Self]>, factor: Dd, out: &mut [Self]);
    /// [`Element::sum_losses`] and then [`Element::grads`] of the same pairs (the fused call
    /// with a loss sum); a type may share work between the two.
    #[inline(always)]
    fn sum_losses_and_grads(
        (x, y): (&[Self], &[Self]),
        t: [&mut [f64]; 2],
        acc: &mut Acc,
        (g, factor): (Option<&[Self]>, Dd),
        out: &mut [Self],
    ) {
        Self::sum_losses(x, y, t, acc);
        Self::grads(x, y, g, factor, out);
    }
    /// Whether `cauchy_reduce` adds this type's values in plain lanes, without compensation
    /// (see [`Acc::add_values`]: within the f32 guarantee, not the f64 one).
    const PLAIN_REDUCE: bool;
    /// Whether [`Element::first_grad`] never asks for a pair to be redone, so that a kernel
    /// may write each gradient over the memory of its inputs at once.
    const ONE_PASS_GRAD: bool;
    /// `f * dloss/dx` of one pair: the value `grads` gives it.
    fn grad(x: Self, y: Self, f: Dd) -> Self;
    /// The vectorised first pass of [`Element::grad`]: its value, unless the flag asks for
    /// the pair to be redone by `grad` (never for a pair whose [`Element::factor_parts`] flag
    /// word has a clear sign bit, with a finite `f` of at most 2^500: the fused call's).
    fn first_grad(x: Self, y: Self, f: Dd) -> (Self, bool);
    /// [`Element::first_grad`]'s value (the same bits) for a pair whose loss the sum takes,
    /// given what the sum's loop formed for it (`sum`, see [`Also::group`]): its `1 + t`, as
    /// a double-double for f64, and for f32 rounded, then `d`.
    fn fused_grad(x: Self, y: Self, f: Dd, sum: [f64; 2]) -> Self;
    /// The parts of `t = d^2/2` a pair's loss sum takes ([`Acc::try_add_factors`]: two for
    /// f64; for f32, whose sums use plain lanes, `d^2 = 2t`, then `d` for the fused call's
    /// gradients), and its flag word: sign bit set for a pair the product lanes do not take
    /// (see [`Element::sum_losses`]).
    fn factor_parts(x: Self, y: Self) -> ([f64; 2], u64);
    /// Round an f64 result to `Self` (once).
    fn narrow(v: f64) -> Self;
    /// The exact f64 value of `self`.
    fn widen(self) -> f64;
    /// `-self`, exactly (flips the sign bit, NaN included).
    fn neg(self) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `g / n` as a double-double (a zero or non-finite `g` gives `g / n` in the high part
/// alone, which keeps the sign of a zero). `n = 1` (every call but a MEAN of several
/// elements) skips the division, whose two dependent `divsd` took about 8% of a one-element
/// loss-and-gradient call (perf): `g / 1` is `g`.
#[inline(always)]
pub fn upstream_factor(g: f64, n: f64) -> Dd {
    if n == 1.0 {
        Dd::new(g)
    } else if g.is_finite() && g != 0.0 {
        Dd::new(g) / Dd::new(n)
    } else {
        Dd::new(g / n)
    }
}

impl Element for f32 {
    const ZERO: f32 = 0.0;

    #[inline(always)]
    fn losses(x: &[f32], y: &[f32], out: &mut [f64]) {
        for ((l, &x), &y) in out.iter_mut().zip(x).zip(y) {
            *l = log1p_for_f32(0.5 * residual_f32(x, y).1);
        }
    }

    #[inline(always)]
    fn sum_losses(x: &[f32], y: &[f32], t: [&mut [f64]; 2], acc: &mut Acc) {
        sum_f32::<false>(x, y, t, acc, (None, Dd::default(), &mut []));
    }

    #[inline(always)]
    fn try_sum_losses<A: Also<f32, LANES> + Also<f32, DD_LANES>>(
        x: &[f32],
        y: &[f32],
        acc: &mut Acc,
        also: A,
    ) -> bool {
        acc.try_add_factors::<_, false, LANES>([x, y], f32::factor_parts, also)
    }

    /// The gradients from the sum's `d` and `d^2`: each input is
    /// converted to f64 once (`vcvtps2pd` is slow on some CPUs), with the bits of
    /// [`Element::grads`].
    #[inline(always)]
    fn sum_losses_and_grads(
        (x, y): (&[f32], &[f32]),
        t: [&mut [f64]; 2],
        acc: &mut Acc,
        (g, factor): (Option<&[f32]>, Dd),
        out: &mut [f32],
    ) {
        sum_f32::<true>(x, y, t, acc, (g, factor, out));
    }

    #[inline(always)]
    fn grads(x: &[f32], y: &[f32], g: Option<&[f32]>, factor: Dd, out: &mut [f32]) {
        let (x, y) = (&x[..out.len()], &y[..out.len()]);
        grads_f32(|j| residual_f32(x[j], y[j]), g, factor, out);
    }

    const PLAIN_REDUCE: bool = true;

    const ONE_PASS_GRAD: bool = true;

    #[inline(always)]
    fn grad(x: f32, y: f32, f: Dd) -> f32 {
        let (d, d2) = residual_f32(x, y);
        grad_f32(d, d2, f.hi)
    }

    #[inline(always)]
    fn first_grad(x: f32, y: f32, f: Dd) -> (f32, bool) {
        (f32::grad(x, y, f), false)
    }

    /// `grad_f32`'s operations from the sum's `1 + t` and `d`, for a finite `d` (the `d` of
    /// the group's conversions, which the compiler vectorised badly where this formed it again).
    #[inline(always)]
    fn fused_grad(_: f32, _: f32, f: Dd, [one, d]: [f64; 2]) -> f32 {
        (f.hi * quotient_f32(d, one)) as f32
    }

    #[inline(always)]
    fn factor_parts(x: f32, y: f32) -> ([f64; 2], u64) {
        let (d, d2) = residual_f32(x, y);
        ([d2, d], above_twice_max_t(d2))
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

/// `t = d^2/2` for f32 inputs, to 2^-53.
#[inline(always)]
fn t_f32(x: f32, y: f32) -> f64 {
    0.5 * residual_f32(x, y).1
}

/// `d = x - y` and `d^2` for f32 inputs, in f64 (`d` rounded by at most 2^-53; neither
/// overflows for finite inputs).
#[inline(always)]
fn residual_f32(x: f32, y: f32) -> (f64, f64) {
    let d = x as f64 - y as f64;
    (d, d * d)
}

/// `f * 2d / (d^2 + 2) = f * d / (1 + t)` (`t = d^2/2`) rounded to f32, from `d` and
/// `d2 = d^2` in f64, by [`quotient_f32`]: within 2^-33 before the rounding, far below an f32 ULP
/// (so the factor's low part does not matter either). For d = ±inf (`1 + t = inf`) the
/// derivative is ±0, selected; NaN passes. `f` multiplies last, so that an infinite `f` gives
/// ±inf (and a zero `f` a zero of the right sign), as `f * (d / (1 + t))` does.
#[inline(always)]
fn grad_f32(d: f64, d2: f64, f: f64) -> f32 {
    let one = 1.0 + 0.5 * d2;
    let q = if one == f64::INFINITY {
        f64::from_bits(d.to_bits() & (1 << 63))
    } else {
        quotient_f32(d, one)
    };
    (f * q) as f32
}

/// `n / v` for `1 <= v <= 2^259` (the f32 gradients' `1 + t`) to 2^-34, without a division:
/// a float64 division takes the divider 16 cycles per 8 lanes on AVX-512, more than all the
/// rest of a backward. The bits of `v` subtracted from a constant give `r` within 5.1% of
/// `1 / v` (a line through each binade); then with `e = 1 - v r`, `n r (1 + e)(1 + e^2)(1 + e^4)`
/// is `(1 - e^8) n / v`. `n r` is formed beside `e` and the steps refine it, not `r`: the
/// chain of dependent operations is one multiplication shorter than refining `r` and then
/// multiplying (float32 loss-and-gradient MEAN of 6144 elements, AVX-512, in turns: 4.53 to
/// 4.36 microseconds). A zero `n` keeps its sign: it comes with `v = 1`, where `e > 0`.
#[inline(always)]
fn quotient_f32(n: f64, v: f64) -> f64 {
    let r = f64::from_bits(0x7FDE_6238_22FC_16E6u64.wrapping_sub(v.to_bits()));
    let (e, q) = (v.mul_add(-r, 1.0), n * r);
    let (e2, q) = (e * e, q.mul_add(e, q));
    let (e4, q) = (e2 * e2, q.mul_add(e2, q));
    q.mul_add(e4, q)
}

/// The f32 gradients of [`Element::grads`], with pair `j`'s `(d, d^2)` given by `dd(j)`.
#[inline(always)]
fn grads_f32(dd: impl Fn(usize) -> (f64, f64), g: Option<&[f32]>, factor: Dd, out: &mut [f32]) {
    match g {
        Some(g) => {
            let g = &g[..out.len()];
            for (j, v) in out.iter_mut().enumerate() {
                let (d, d2) = dd(j);
                *v = grad_f32(d, d2, g[j] as f64);
            }
        }
        None => {
            for (j, v) in out.iter_mut().enumerate() {
                let (d, d2) = dd(j);
                *v = grad_f32(d, d2, factor.hi);
            }
        }
    }
}

/// The f32 loss sum, `s.len()` pairs at a time: `s = d^2 = 2t` to 2^-53, whose factors
/// `1 + t` the sum's lanes take, but for t above MAX_T (|d| beyond 2^50) or NaN. With `D`,
/// `d` is kept in the second part, and the gradients of [`Element::grads`] for `(g, factor)`
/// go to `out` from each piece's `d` and `s` before the sum takes them. (A closure doing this
/// was compiled apart, without the kernels' target features: SSE2 code, half the fused call's
/// time.)
#[inline(always)]
fn sum_f32<const D: bool>(
    x: &[f32],
    y: &[f32],
    [s, d]: [&mut [f64]; 2],
    acc: &mut Acc,
    (g, factor, out): (Option<&[f32]>, Dd, &mut [f32]),
) {
    // All at once where it can; else a chunk at a time, each chunk again first straight.
    if !D && f32::try_sum_losses(x, y, acc, ()) {
        return;
    }
    let n = s.len();
    for (at, (x, y)) in (0..).step_by(n).zip(x.chunks(n).zip(y.chunks(n))) {
        let (s, d) = (&mut s[..x.len()], &mut d[..x.len()]);
        if D {
            for (((s, d), &x), &y) in s.iter_mut().zip(d.iter_mut()).zip(x).zip(y) {
                (*d, *s) = residual_f32(x, y);
            }
            let g = g.map(|g| &g[at..at + d.len()]);
            grads_f32(|j| (d[j], s[j]), g, factor, &mut out[at..at + d.len()]);
        } else {
            if f32::try_sum_losses(x, y, acc, ()) {
                continue;
            }
            for ((s, &x), &y) in s.iter_mut().zip(x).zip(y) {
                *s = residual_f32(x, y).1;
            }
        }
        let flags = s.iter().fold(0, |f, &s| f | above_twice_max_t(s));
        acc.add_log_factors::<false>([s, d], flags >> 63 != 0, |j| {
            let t = t_f32(x[j], y[j]);
            (above_max_t(t) >> 63 != 0).then(|| Rare::Loss(log1p_for_f32(t)))
        });
    }
}

impl Element for f64 {
    const ZERO: f64 = 0.0;

    #[inline(always)]
    fn losses(x: &[f64], y: &[f64], out: &mut [f64]) {
        let mut half = false;
        for ((l, &x), &y) in out.iter_mut().zip(x).zip(y) {
            *l = loss_of_abs((x - y).abs());
            half |= difference_overflows(x, y);
        }
        if half {
            for ((l, &x), &y) in out.iter_mut().zip(x).zip(y) {
                if difference_overflows(x, y) {
                    *l = loss_of_half(x, y);
                }
            }
        }
    }

    #[inline(always)]
    fn sum_losses(x: &[f64], y: &[f64], [t, t_lo]: [&mut [f64]; 2], acc: &mut Acc) {
        // t = d^2/2 as a double-double (d/2 is exact; the low part is exact, or subnormal and
        // within 2^-73 of t). The sum's lanes take the losses as factors 1 + t, but for t
        // above MAX_T (|d| beyond 2^50), NaN, and residuals below TINY (whose losses may be
        // subnormal: they go to the tiny sum), each taken apart with its exact loss.
        if f64::try_sum_losses(x, y, acc, ()) {
            return;
        }
        for (x, y) in x.chunks(t.len()).zip(y.chunks(t.len())) {
            let (t, t_lo) = (&mut t[..x.len()], &mut t_lo[..x.len()]);
            let mut flags = 0;
            for (((t, t_lo), &x), &y) in t.iter_mut().zip(t_lo.iter_mut()).zip(x).zip(y) {
                let ([hi, lo], flag) = f64::factor_parts(x, y);
                (*t, *t_lo, flags) = (hi, lo, flags | flag);
            }
            acc.add_log_factors::<true>([t, t_lo], flags >> 63 != 0, |j| {
                let (x, y) = (x[j], y[j]);
                let (d, a) = (x - y, (x - y).abs());
                if tiny_flag(d) >> 63 != 0 {
                    // d^2/2 * 2^1000 = (d * 2^500)^2 / 2, exact as a double-double.
                    let scaled = a * 2f64.powi(500);
                    Some(Rare::Tiny(two_prod(0.5 * scaled, scaled)))
                } else if above_max_t(0.5 * d * d) >> 63 == 0 {
                    None
                } else if difference_overflows(x, y) {
                    Some(Rare::Loss(loss_of_half(x, y)))
                } else {
                    Some(Rare::Loss(loss_of_abs(a)))
                }
            });
        }
    }

    #[inline(always)]
    fn try_sum_losses<A: Also<f64, LANES> + Also<f64, DD_LANES>>(
        x: &[f64],
        y: &[f64],
        acc: &mut Acc,
        also: A,
    ) -> bool {
        acc.try_add_factors::<_, true, DD_LANES>([x, y], f64::factor_parts, also)
    }

    #[inline(always)]
    fn grads(x: &[f64], y: &[f64], g: Option<&[f64]>, factor: Dd, out: &mut [f64]) {
        match g {
            Some(g) => {
                let g = &g[..out.len()]; // as long as `out`: `g[j]` needs no bounds check
                grads_f64(x, y, |j| Dd::new(g[j]), out)
            }
            None => grads_f64(x, y, |_| factor, out),
        }
    }

    const PLAIN_REDUCE: bool = false;

    const ONE_PASS_GRAD: bool = false;

    fn grad(x: f64, y: f64, f: Dd) -> f64 {
        let mut v = [0.0];
        grads_f64(&[x], &[y], |_| f, &mut v);
        v[0]
    }

    #[inline(always)]
    fn first_grad(x: f64, y: f64, f: Dd) -> (f64, bool) {
        // The flag word's sign bit is set for |d| beyond 2^50 and NaN, where `rare_grad` is.
        let d = x - y;
        (with_sign(grad_magnitude(d.abs(), f), f.hi, d), rare_grad(d, f))
    }

    /// `grad_magnitude`'s operations, with the sum's `1 + t` of the pair (formed from the same
    /// `t = (d/2) d`: the same bits, which `fused_gradient_is_the_first_gradient` checks).
    #[inline(always)]
    fn fused_grad(x: f64, y: f64, f: Dd, [hi, lo]: [f64; 2]) -> f64 {
        let d = x - y;
        with_sign(quotient(d.abs(), Dd { hi, lo }, f), f.hi, d)
    }

    #[inline(always)]
    fn factor_parts(x: f64, y: f64) -> ([f64; 2], u64) {
        let d = x - y;
        let p = two_prod(0.5 * d, d);
        ([p.hi, p.lo], above_max_t(p.hi) | tiny_flag(d))
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

/// The f64 gradients with the factor of element `j` given by `f(j)`: one vectorised pass,
/// then the rare elements again.
#[inline(always)]
fn grads_f64(x: &[f64], y: &[f64], f: impl Fn(usize) -> Dd, out: &mut [f64]) {
    let mut redo = false;
    // One length for all, so that indexing below `n` needs no bounds check (a check would
    // keep the last elements out of the vector loop).
    let n = out.len();
    let (x, y) = (&x[..n], &y[..n]);
    for j in 0..n {
        let again;
        (out[j], again) = f64::first_grad(x[j], y[j], f(j));
        redo |= again;
    }
    if redo {
        for (j, ((v, &x), &y)) in out.iter_mut().zip(x).zip(y).enumerate() {
            if rare_grad(x - y, f(j)) {
                *v = grad_rare(x, y, f(j));
            }
        }
    }
}

/// A word whose sign bit is set for `0 < |d| < TINY` (integer operations, as for
/// `above_max_t`): the f64 residuals whose losses go to the tiny sum.
#[inline(always)]
fn tiny_flag(d: f64) -> u64 {
    let a = d.to_bits() & !(1 << 63);
    a.wrapping_sub(TINY.to_bits()) & !a.wrapping_sub(1)
}

/// Whether `x - y` overflows for finite `x` and `y` (the exact half difference is used then).
#[inline(always)]
fn difference_overflows(x: f64, y: f64) -> bool {
    (x - y).abs() == f64::INFINITY && x.is_finite() && y.is_finite()
}

/// The loss where `x - y` overflows: `log(2 h^2) = 2 (log|h| + log sqrt 2)` for the exact
/// half difference `h`, whose rounding is below 2^-53 relative, far under an ULP of a loss
/// near 1418.
fn loss_of_half(x: f64, y: f64) -> f64 {
    let h = two_sum(0.5 * x, -0.5 * y);
    2.0 * (log_dd(h.hi.abs(), 0.0) + 0.5 * LN_2)
}

/// Whether [`grad_magnitude`] does not apply: `|d|` beyond `LARGE` or NaN, or an upstream
/// factor beyond `FACTOR_MAX` (the same bound) or NaN.
#[inline(always)]
fn rare_grad(d: f64, f: Dd) -> bool {
    // The magnitudes' bits order as the magnitudes do, NaN above infinity: the larger of the
    // two against the bound is one compare per element, not two.
    const { assert!(FACTOR_MAX == LARGE) };
    let magnitude = |v: f64| v.to_bits() & !(1 << 63);
    magnitude(d).max(magnitude(f.hi)) > LARGE.to_bits()
}

/// `|m|` with the IEEE sign of `f * dloss/dx`: dloss/dx has the sign of `d` (±0 included).
/// So the magnitudes may be computed from a signed `f`: rounding to nearest is symmetric, so
/// they are the same, and only the signs of zeros would differ.
#[inline(always)]
fn with_sign(m: f64, f: f64, d: f64) -> f64 {
    // Bit operations: no compare and select.
    const SIGN: u64 = 1 << 63;
    f64::from_bits(m.to_bits() & !SIGN | (f.to_bits() ^ d.to_bits()) & SIGN)
}

/// `f * 2a / (a^2 + 2) = f * a / (1 + t)` for `0 <= a <= LARGE` and `|f| <= FACTOR_MAX`:
/// `t = a^2/2` exactly (`a/2` is exact but for subnormal `a`, whose `t` is far below an ULP of
/// 1), its `1 + t` by [`one_plus`], the float64 sums' own (so that the fused call shares it),
/// then [`quotient`]. Below `a = 2^26.5` the result is rounded once from a double-double;
/// above, `1 + t` is within 2^-53 of itself, so the result within half an ULP plus 2^-53
/// relative (under 1.5 ULP).
#[inline(always)]
fn grad_magnitude(a: f64, f: Dd) -> f64 {
    quotient(a, one_plus(two_prod(0.5 * a, a)), f)
}

/// The largest upstream factor [`quotient`] takes: `num f` stays below 2^1000 for every
/// `num <= LARGE`. Larger ones are rare ([`grad_rare`]).
const FACTOR_MAX: f64 = LARGE;

/// `f * num / den` for `0 <= num <= LARGE`, `den >= 1` as a double-double and
/// `|f| <= FACTOR_MAX`, rounded once (the sign of a zero aside: see [`with_sign`]): `num f`
/// as a double-double (exact but for the low part of `f`, and where the product nears the
/// subnormals), one division, and one correction of the quotient. The factor multiplies
/// first, so it is not a second double-double product after the division: two operations
/// fewer. With [`rare_grad`]'s one compare, the float64 backward NONE takes 25 vector
/// operations per 8 elements on AVX-512, not 28 (in turns, 6144 elements: 8.1 to 7.5 µs, the
/// loss-and-gradient MEAN 11.0 to 10.2; 16.7M on 2 threads 2-3.5% and 2-11% faster).
#[inline(always)]
fn quotient(num: f64, den: Dd, f: Dd) -> f64 {
    let n = two_prod(num, f.hi);
    let n_lo = num.mul_add(f.lo, n.lo);
    let inv = 1.0 / den.hi;
    let q = n.hi * inv;
    let r = q.mul_add(-den.lo, q.mul_add(-den.hi, n.hi) + n_lo);
    q + r * inv
}

/// The gradient where [`grad_magnitude`] does not apply: `|d|` beyond `LARGE` (or NaN), an
/// overflowing `x - y`, or an upstream factor that is non-finite or beyond `FACTOR_MAX`.
fn grad_rare(x: f64, y: f64, f: Dd) -> f64 {
    let d = x - y;
    let half = difference_overflows(x, y).then(|| two_sum(0.5 * x, -0.5 * y));
    if !f.hi.is_finite() {
        // IEEE product rules: inf * 0 = NaN, inf * nonzero = inf, NaN propagates; only the
        // derivative's sign and whether it is zero matter here: zero for d = ±0 and ±inf (but
        // where `x - y` overflows), else the sign of `d`. (Not a formula such as
        // `2 / (d + 2/d)`, whose `2/d` overflows for |d| <= 2^-1023 and gives 0.)
        let dloss = match half {
            None if d == 0.0 || d.is_infinite() => 0f64.copysign(d),
            _ => d.signum(), // NaN for NaN
        };
        return f.hi * dloss;
    }
    let a = d.abs();
    // Its sign aside, which `with_sign` sets.
    let magnitude = match half {
        // f * 2/d = f / (d/2), with d/2 = h exactly as a double-double.
        Some(h) => (f / h).to_f64(),
        None if a == f64::INFINITY => 0.0,
        None if a > LARGE => (f / Dd::new(0.5 * a)).to_f64(),
        // Divided first, so that neither step overflows or underflows: `f / (1 + t)` is at
        // least 2^-499, and the product at most `f`.
        None if f.hi.abs() > FACTOR_MAX => ((f / one_plus(two_prod(0.5 * a, a))) * a).to_f64(),
        None => grad_magnitude(a, f), // NaN
    };
    with_sign(magnitude, f.hi, d)
}

/// `log1p(a^2 / 2)` for `a = |d|` (NaN and +inf included), within about 1 ULP.
///
/// `t = a^2/2` exactly as a double-double (a/2 is exact unless a is subnormal, and then t
/// underflows to 0 either way); then `log1p(t) = log(u)` for `u = 1 + t` as a double-double.
/// Above `LARGE`, `log(a^2/2) = 2 log(a / sqrt 2)`; the product's rounding is 2^-53 relative
/// in the argument, about 2^-62 of the result's ULP. Both are computed and one is selected.
#[inline(always)]
fn loss_of_abs(a: f64) -> f64 {
    let t = two_prod(0.5 * a, a);
    let u = two_sum(1.0, t.hi);
    let (hi, lo, k) =
        if a > LARGE { (a * FRAC_1_SQRT_2, 0.0, 2.0) } else { (u.hi, u.lo + t.lo, 1.0) };
    k * log_dd(hi, lo)
}

/// `log1p(t)` for `t >= 0` (or NaN), to about 2^-35 relative: far below half an f32 ULP, so
/// the result rounds to f32 within 1 ULP of the correctly rounded value. No library call and
/// no branch (the `if`s are selects), so loops over it vectorise.
///
/// `u = 1 + t` is split as `2^k * m` with `m` in [sqrt(2)/2, sqrt(2)), `m` is moved into
/// [2^(-1/6), 2^(1/6)) by a factor 2^(±1/3) (exactly 1 around `u = 1`, where `m - 1` is exact
/// and small losses keep their relative precision), and `log(1 + f) = f * g(f)` with a
/// degree-7 near-minimax polynomial `g`, evaluated by [`estrin`] (relative error 2.9e-11;
/// Chebyshev interpolation of `log1p(f)/f` on that interval, by scripts/fit_log1p.py). The
/// rounding error of `u` is added back while `u <= 2`, where it is exact and matters.
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
    let g = estrin(f, &G);
    let loss = kf.mul_add(LN_2, third * LN2_3) + f.mul_add(g, c);
    // NaN and +inf pass through (their bits make no sense above).
    if u < f64::INFINITY {
        loss
    } else {
        u
    }
}

/// `c[0] + c[1] x + ... + c[7] x^7` by Estrin's scheme: three dependent multiply-adds
/// instead of Horner's seven, so that a loop over elements is not bound by their latency.
#[inline(always)]
pub(crate) fn estrin(x: f64, c: &[f64; 8]) -> f64 {
    let (x2, pair) = (x * x, |k: usize| c[k + 1].mul_add(x, c[k]));
    let (low, high) = (pair(2).mul_add(x2, pair(0)), pair(6).mul_add(x2, pair(4)));
    high.mul_add(x2 * x2, low)
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

    fn loss<T: Element>(x: T, y: T) -> f64 {
        let mut l = [0.0];
        T::losses(&[x], &[y], &mut l);
        l[0]
    }

    fn grad<T: Element>(x: T, y: T, g: f64) -> T {
        let mut v = [T::ZERO];
        T::grads(&[x], &[y], None, upstream_factor(g, 1.0), &mut v);
        v[0]
    }

    /// Upstream factors beyond `FACTOR_MAX` (redone by `grad_rare`, dividing first) give the
    /// vectorised quotient's gradients for the same factors scaled by a power of two, scaled
    /// back (the exact values scale exactly): within an ULP (both are rounded once from
    /// approximations far closer), over residuals from the least subnormal to `LARGE`, and
    /// factors on both sides of the bound up to the largest double.
    #[test]
    fn factors_beyond_the_bound_scale() {
        let ulps = |a: f64, b: f64| (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs();
        for i in 0..20_000 {
            let a =
                2f64.powf(-1074.0 + 1573.0 * (i as f64 / 20_000.0)) * (1.0 + (i % 7) as f64 / 7.0);
            let (x, y) = if i % 2 == 0 { (a, 0.0) } else { (-0.5 * a, 0.5 * a) };
            let c = 1.0 + (1 + i % 13) as f64 / 14.0; // above 1: `FACTOR_MAX` is not rare
            for (k, big) in [(1, FACTOR_MAX), (24, 2f64.powi(523)), (524, f64::MAX / 2.0)] {
                let g = big * c;
                let small = grad(x, y, g * 2f64.powi(-k));
                assert!(
                    rare_grad(x - y, Dd::new(g)) && !rare_grad(x - y, Dd::new(g * 2f64.powi(-k)))
                );
                let want = small * 2f64.powi(k);
                let got = grad(x, y, g);
                assert!(ulps(got, want) <= 1, "x={x:e} y={y:e} g={g:e}: {got:e} against {want:e}");
            }
        }
    }

    #[test]
    fn one_gradient_is_the_chunk_gradient() {
        fn check<T: Element>(pairs: &[(T, T)]) {
            let (x, y): (Vec<T>, Vec<T>) = pairs.iter().copied().unzip();
            let f = upstream_factor(-0.75, 3.0);
            let mut v = vec![T::ZERO; x.len()];
            T::grads(&x, &y, None, f, &mut v);
            for (i, &v) in v.iter().enumerate() {
                assert_eq!(T::grad(x[i], y[i], f).widen().to_bits(), v.widen().to_bits(), "{i}");
            }
        }
        check::<f32>(&[(1.5, -2.0), (0.0, -0.0), (f32::MAX, -f32::MAX), (1e-45, 0.0), (3.0, 3.0)]);
        check::<f64>(&[
            (1.5, -2.0),
            (-0.0, 0.0),
            (f64::MAX, -f64::MAX),
            (1e300, 0.0),
            (5e-324, 0.0),
        ]);
    }

    /// The fused call's gradients (from the sum's `1 + t`) have the first pass's bits for
    /// every pair the sum's lanes take: log-uniform residuals over the lanes' whole range,
    /// its ends, and `t` around 2^53 (where `one_plus` stops being exact), with
    /// upstream factors exact in one double and not.
    #[test]
    fn fused_gradient_is_the_first_gradient() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut ds: Vec<f64> = (0..200_000)
            .map(|_| {
                let r = next();
                let e = -500.0 + 550.0 * (r >> 11) as f64 / (1u64 << 53) as f64;
                let d = 2f64.powf(e) * (1.0 + (r % 1000) as f64 / 1000.0);
                if r & 1 == 0 {
                    d
                } else {
                    -d
                }
            })
            .collect();
        for edge in [0.0, TINY, 2f64.powi(26), 2f64.powf(26.5), 2f64.powi(27), 2f64.powi(50)] {
            ds.extend([edge, -edge, edge * (1.0 + f64::EPSILON), edge * (1.0 - f64::EPSILON)]);
        }
        let factors = [Dd::new(1.0), upstream_factor(1.0, 3.0), upstream_factor(-0.75, 6144.0)];
        let mut checked = 0;
        for (i, &d) in ds.iter().enumerate() {
            // The residual as x - y, with y away from 0 for two pairs in three.
            let y = 0.375 * (i % 3) as f64;
            let x = d + y;
            let ([hi, lo], flag) = f64::factor_parts(x, y);
            if flag >> 63 != 0 {
                continue; // not taken by the lanes, so redone apart
            }
            let one = one_plus(Dd { hi, lo });
            for f in factors {
                let (first, fused) =
                    (f64::first_grad(x, y, f).0, f64::fused_grad(x, y, f, [one.hi, one.lo]));
                assert_eq!(first.to_bits(), fused.to_bits(), "x = {x:e}, y = {y:e}, f = {f:?}");
            }
            checked += 1;
        }
        assert!(checked > 190_000, "{checked} pairs checked");
    }

    /// Within 2^-33 over `1 <= v <= 2^259` (log-uniform, with each binade's ends), for
    /// numerators of each sign from the least to the largest f32 residual; and a zero keeps
    /// its sign at `v = 1`.
    #[test]
    fn quotient_is_far_below_an_f32_ulp() {
        let mut worst = 0f64;
        for i in 0..200_000 {
            let v = 2f64.powf(259.0 * (i as f64 / 200_000.0));
            let n = [2f64.powi(-149), -1.0, 3.0, -(2f64.powi(129))][i % 4];
            for v in [v, v.floor().max(1.0), f64::from_bits(v.to_bits() | 0xF_FFFF_FFFF_FFFF)] {
                worst = worst.max((quotient_f32(n, v) * v / n - 1.0).abs());
            }
        }
        assert!(worst < 2f64.powi(-33), "relative error {worst:e}");
        assert!(quotient_f32(-0.0, 1.0).is_sign_negative());
        assert!(quotient_f32(0.0, 1.0).is_sign_positive());
    }

    #[test]
    fn infinite_residual_gives_signed_zero_gradient() {
        for (x, y, sign) in [(f32::INFINITY, 0.0, 1.0), (0.0, f32::INFINITY, -1.0)] {
            let g = grad(x, y, 0.5);
            assert!(g == 0.0 && g.signum() == sign, "{x} - {y}: {g}");
            assert!(grad(x, y, f64::INFINITY).is_nan(), "{x} - {y}");
        }
        assert_eq!(grad(f64::INFINITY, 0.0, 1.0).to_bits(), 0);
    }

    #[test]
    fn zero_residual_gives_signed_zero_gradient() {
        assert_eq!(loss(1.0f64, 1.0).to_bits(), 0.0f64.to_bits());
        assert!(grad(-0.0f64, 0.0, 1.0).is_sign_negative());
        assert!(grad(-0.0f32, 0.0, 1.0).is_sign_negative());
        assert!(grad(0.0f64, -0.0, 1.0).is_sign_positive());
    }

    #[test]
    fn overflowing_difference_stays_finite() {
        let l = loss(f64::MAX, -f64::MAX);
        // log((2 * DBL_MAX)^2 / 2) = 1420.2585...
        assert!(l.is_finite() && l > 1420.0 && l < 1420.5, "{l}");
        let g = grad(f64::MAX, -f64::MAX, 1.0);
        assert!(g > 0.0 && g < 1e-307, "{g}");
    }

    #[test]
    fn infinite_upstream_times_zero_derivative_is_nan() {
        assert!(grad(1.0f64, 1.0, f64::INFINITY).is_nan());
        assert!(grad(1.0f32, 1.0, f64::INFINITY).is_nan());
        // The exact difference of these is finite, so the derivative is not zero.
        assert_eq!(grad(f64::MAX, -f64::MAX, f64::NEG_INFINITY), f64::NEG_INFINITY);
    }
}
