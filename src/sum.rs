//! Deterministic, accurate sums.
//!
//! Values are added in a double-double ([`Acc`]), so the grouping of the additions changes
//! the result by far less than its last bit; the grouping is still fixed (blocks of
//! [`BLOCK`] logical elements, combined in block order) so that results are bit-identical
//! for every thread count. Infinities and NaN are counted apart, so that they give IEEE's
//! answer (NaN for a NaN or inf - inf) instead of poisoning the compensation terms.
//!
//! Values go to [`LANES`] lanes by their position in the block, each lane taken in order: the
//! steps vectorise, and the grouping depends only on logical indices, not on how a layout
//! splits the block into runs. Reduced values are summed in compensated lanes (plain ones for
//! f32, whose guarantee allows them: see [`Acc::add_values`]). Losses
//! `log(1 + t)` are not summed but multiplied, as factors `1 + t`, into product lanes
//! ([`LANES`] plain ones for f32, [`DD_LANES`] double-double ones for f64) whose
//! logs are taken once per block ([`Acc::add_log_factors`]): two operations per element where
//! a log costs thirty (f32), fifteen (eight once the lanes hold their whole products: see
//! [`Acc::renormalise`]) where it costs sixty (f64, in double-double); the few
//! losses the lanes cannot take (huge, non-finite) are summed in the compensated lanes.
//!
//! Terms below the normal range (f64 losses of residuals under 2^-500) cannot be rounded one
//! by one without an error of up to half a subnormal step each, which adds up; they are summed
//! apart, scaled by [`TINY_SCALE`], and scaled back once at the end.

use crate::dd::{fast_two_sum, one_plus, two_sum, Dd};
use crate::log64::log_dd;
use crate::prefetch::group_ahead;

/// The factor by which [`Total::add_tiny`] terms are scaled: 2^1000.
pub(crate) const TINY_SCALE: f64 = f64::from_bits((1023 + 1000) << 52);

/// Below this magnitude the main sum is carried into the scaled domain for the final rounding.
const SMALL: f64 = f64::from_bits((1023 - 900) << 52); // 2^-900

/// Logical elements per block: the unit of both work sharing and sum grouping.
pub(crate) const BLOCK: usize = 1 << 14;

const SAW_NAN: u8 = 1;
const SAW_POS_INF: u8 = 2;
const SAW_NEG_INF: u8 = 4;

/// The number of sum lanes and of plain product lanes (two AVX2 vectors of f64).
pub(crate) const LANES: usize = 8;

/// The number of double-double product lanes (f64 losses): twice [`LANES`], so that more
/// of their long steps (fifteen dependent operations each) overlap. With eight, all in one
/// AVX-512 vector, the f64 MEAN took 1.5 times as long.
pub(crate) const DD_LANES: usize = 2 * LANES;

/// The number of product lanes: [`DD_LANES`] double-double ones, else [`LANES`] plain ones.
const fn prod_lanes(dd: bool) -> usize {
    if dd {
        DD_LANES
    } else {
        LANES
    }
}

/// log(2) as a double-double.
const LN2: Dd = Dd { hi: std::f64::consts::LN_2, lo: 2.3190468138462996e-17 };

/// The largest `t` the product lanes take (see [`Acc::add_log_factors`]): a lane takes at
/// most 8 factors between renormalisations (see [`renorm_every`]), so from below `RENORM_AT`
/// it stays below 2^(64 + 8 * 101), far from overflow.
pub(crate) const MAX_T: f64 = 1.2676506002282294e30; // 2^100

/// A word whose sign bit says whether `t` is above [`MAX_T`], +inf or NaN (integer operations,
/// so that an OR of them over a chunk vectorises).
#[inline(always)]
pub(crate) fn above_max_t(t: f64) -> u64 {
    above(t, MAX_T)
}

/// [`above_max_t`] of `s / 2`, for plain lanes' parts `s = 2t` (which are above `2 MAX_T`
/// exactly where `t` is above MAX_T).
#[inline(always)]
pub(crate) fn above_twice_max_t(s: f64) -> u64 {
    above(s, 2.0 * MAX_T)
}

/// A word whose sign bit says whether `v` is above `max >= 0`, +inf or NaN.
#[inline(always)]
fn above(v: f64, max: f64) -> u64 {
    // Below max's bits the difference is positive; a negative NaN has the sign bit itself.
    max.to_bits().wrapping_sub(v.to_bits()) | v.to_bits()
}

/// What a skipped factor's element adds instead (see [`Acc::add_log_factors`]).
pub enum Rare {
    /// Its loss, to the sum lanes.
    Loss(f64),
    /// Its loss times [`TINY_SCALE`], to the tiny sum (see [`Total::add_tiny`]).
    Tiny(Dd),
}

/// Block positions between renormalisations of the product lanes: 8 factors per lane, for
/// [`LANES`] plain lanes (`dd` false) or [`DD_LANES`] double-double ones. (With 64 positions
/// for both, the f64 sums' renormalisations took 3-6% of their time.)
const fn renorm_every(dd: bool) -> usize {
    8 * prod_lanes(dd)
}

/// The least `q` of every double-double lane from which they take their whole products
/// (2^-30: see [`Acc::renormalise`]).
const WHOLE_FROM: f64 = 9.313225746154785e-10;

/// A product lane at or above this (2^64) is renormalised: `1 + q` is then `q` to 2^-64.
const RENORM_AT: f64 = 18446744073709551616.0;

/// What lanes fold into: finite values as a double-double, tiny ones scaled apart, non-finite
/// ones as flags.
#[derive(Clone, Copy, Debug, Default)]
struct Total {
    sum: Dd,
    tiny: Dd,
    special: u8,
}

impl Total {
    /// Add one value.
    #[inline(always)]
    fn add(&mut self, x: f64) {
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
    fn add_tiny(&mut self, scaled: Dd) {
        let s = two_sum(self.tiny.hi, scaled.hi);
        self.tiny.hi = s.hi;
        self.tiny.lo += s.lo + scaled.lo;
    }

    /// The IEEE result when a non-finite value was added, else `None`.
    fn special(&self) -> Option<f64> {
        match self.special {
            0 => None,
            SAW_POS_INF => Some(f64::INFINITY),
            SAW_NEG_INF => Some(f64::NEG_INFINITY),
            _ => Some(f64::NAN),
        }
    }

    /// Whether finite values overflowed the running sum (possible for f64 data only).
    fn overflowed(&self) -> bool {
        self.special == 0 && !(self.sum.hi.is_finite() && self.sum.lo.is_finite())
    }

    /// The sum divided by `divisor`, rounded once to f64.
    #[inline(always)]
    fn result(&self, divisor: f64) -> f64 {
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

/// What [`Acc::try_add_factors`] also does with each group of values (a trait, not a closure:
/// a closure was compiled apart, without the kernels' target features, and called per group).
pub trait Also<A, const N: usize> {
    /// Take the group of values from index `j` on, with what the loop formed for each pair
    /// `k`: for double-double lanes its `1 + t` as `ones[0][k] + ones[1][k]` (the step's own,
    /// [`one_plus`] of the parts `t_of` gave); for plain lanes `1 + t` rounded (the step's
    /// factor) and the second part `t_of` gave.
    fn group(&mut self, j: usize, a: &[A; N], b: &[A; N], ones: &[[f64; N]; 2]);

    /// Whether the loop asks for the values ahead of each group ([`group_ahead`]).
    #[inline(always)]
    fn ahead(&self) -> bool {
        true
    }
}

/// Nothing more.
impl<A, const N: usize> Also<A, N> for () {
    #[inline(always)]
    fn group(&mut self, _: usize, _: &[A; N], _: &[A; N], _: &[[f64; N]; 2]) {}
}

/// A finished block's sum ([`Acc::finish`]).
pub struct Partial(Total);

/// A running sum: a [`Total`], and losses in lanes until the block is merged.
///
/// Aligned to a cache line, as are its lanes (checked below): the loops load and store the
/// lanes as whole vectors between pieces, and a lane vector split across two lines made the
/// float64 MEAN 1.3 to 1.7 times as slow on 2 threads (2M elements, 1.06-1.10 against
/// 1.18-1.77 ms), where the workers' stacks placed it so.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
pub struct Acc {
    total: Total,
    /// The lanes' sums and (compensated lanes only) their rounding errors.
    lanes: [f64; LANES],
    lanes_lo: [f64; LANES],
    /// How many losses the lanes have taken: the next one's position in the block.
    pos: usize,
    /// Product lanes: lane `k`'s factors `1 + t` multiply to
    /// `(1 + q + prod_lo[k]) * 2^prod_exp[k]`, whose log is the sum of its losses, with
    /// `q = prod[k]` (`prod_lo` is not kept normalised) for double-double lanes, and
    /// `q = prod[k] / 2` for plain lanes (`prod_lo` is 0; see [`factor_step`]); to
    /// `(prod[k] + prod_lo[k]) * 2^prod_exp[k]` once `whole` (see [`Acc::renormalise`]).
    prod: [f64; DD_LANES],
    prod_lo: [f64; DD_LANES],
    prod_exp: [i64; DD_LANES],
    /// Whether the double-double lanes hold their whole products (`1 + q`), not `q`.
    whole: bool,
    /// Whether the product lanes are plain ones (which hold `2q`).
    plain: bool,
}

const _: () = {
    use std::mem::offset_of;
    let lanes = [
        offset_of!(Acc, lanes),
        offset_of!(Acc, lanes_lo),
        offset_of!(Acc, prod),
        offset_of!(Acc, prod_lo),
        offset_of!(Acc, prod_exp),
    ];
    let mut k = 0;
    while k < lanes.len() {
        assert!(lanes[k] % 64 == 0, "Acc's lanes start on cache lines");
        k += 1;
    }
};

impl Acc {
    /// Add the next values of the block, each to the lane of its position: compensated, or
    /// plain sums (not `COMPENSATED`; see [`Acc::add_values`]).
    #[inline(always)]
    fn add_to_lanes<const COMPENSATED: bool>(&mut self, vals: &[f64]) {
        let (mut hi, mut lo) = (self.lanes, self.lanes_lo);
        let mut add = |k: usize, v: f64| {
            if COMPENSATED {
                lane_add(&mut hi[k], &mut lo[k], v);
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

    /// Add the next losses of the block, `log(1 + t)`, each to the lane of its position, with
    /// `0 <= t <= MAX_T` given by its parts `[hi, lo]` (equally long): `2t = hi` to 2^-53 for
    /// plain product lanes (f32 losses, `hi = d^2`; `lo` is not read), `t = hi + lo` exactly
    /// for `DD` lanes (double-double, f64 losses). The factors `1 + t` are
    /// multiplied into the product lanes, `q' = q (1 + t) + t` (two operations, or fifteen in
    /// double-double, where a log takes thirty or sixty; double-double lanes later hold their
    /// whole products, see [`Acc::renormalise`]), with one log per lane when the block
    /// is merged. Where `any_rare`, the elements `j` with `rare(j)` (those with no such `t`:
    /// `t` above [`MAX_T`] or not finite, or a loss that needs the tiny sum) are skipped (all
    /// parts set to 0) and that added instead.
    ///
    /// Error, plain lanes: each step rounds `q'` by at most 2^-52 relative (all terms are
    /// positive), which moves `log(1 + q')` by at most 2^-52 times the lane's final loss sum
    /// (as `q/(1 + q) <= log(1 + q)`), and a renormalisation by 2^-64 of the product; a lane
    /// takes at most 2^11 losses per block: below 2^-40 of its sum, far below the f32
    /// guarantees. Double-double lanes: about 2^-104 per step and per renormalisation.
    #[inline(always)]
    pub fn add_log_factors<const DD: bool>(
        &mut self,
        [hi, lo]: [&mut [f64]; 2],
        any_rare: bool,
        rare: impl Fn(usize) -> Option<Rare>,
    ) {
        self.plain = !DD;
        if any_rare {
            for j in 0..hi.len() {
                match rare(j) {
                    None => continue,
                    Some(Rare::Loss(loss)) => {
                        let k = (self.pos + j) % LANES;
                        lane_add(&mut self.lanes[k], &mut self.lanes_lo[k], loss);
                    }
                    Some(Rare::Tiny(scaled)) => self.total.add_tiny(scaled),
                }
                (hi[j], lo[j]) = (0.0, 0.0);
            }
        }
        // A piece at a time, up to each renormalisation (see `next_piece`).
        let (mut hi, mut lo) = (&hi[..], &lo[..hi.len()]);
        while !hi.is_empty() {
            let len = self.next_piece::<DD>(hi.len());
            let (piece, piece_lo);
            ((piece, hi), (piece_lo, lo)) = (hi.split_at(len), lo.split_at(len));
            if DD {
                /// The double-double steps of a piece, for a constant form of the lanes.
                #[inline(always)]
                fn dd_piece<const WHOLE: bool>(acc: &mut Acc, piece: [&[f64]; 2]) {
                    let mut q = (acc.prod, acc.prod_lo);
                    for_lanes::<DD_LANES, _>(acc.pos, piece, &mut q, |(q, q_lo), k, t, t_lo| {
                        factor_step::<true, WHOLE>(&mut q[k], &mut q_lo[k], t, t_lo);
                    });
                    (acc.prod, acc.prod_lo) = q;
                }
                if self.whole {
                    dd_piece::<true>(self, [piece, piece_lo]);
                } else {
                    dd_piece::<false>(self, [piece, piece_lo]);
                }
            } else {
                // `piece` twice: the second is never read.
                let r = self.prod.first_chunk_mut::<LANES>().expect("LANES <= DD_LANES");
                for_lanes::<LANES, _>(self.pos, [piece, piece], r, |r, k, s, _| {
                    factor_step::<false, false>(&mut r[k], &mut 0.0, s, 0.0);
                });
            }
            self.pos += len;
        }
    }

    /// [`Acc::add_log_factors`] straight from the inputs, `N` = [`prod_lanes`]`(DD)` lanes:
    /// the factors `1 + t` of the next values (equally long slices), with `t`'s parts and a
    /// flag word given by `t_of(a[j], b[j])`, multiplied in as it does (the same operations in
    /// the same order), in one loop with no buffer of `t`. Returns false, leaving the sum as it
    /// was, where the values do not start at lane 0 and end at a lane's end, or where some
    /// flag has its sign bit set (a rare element: see [`above_max_t`]); the caller then takes
    /// the buffered path. (The loss sums at 6144 elements on AVX-512, where the buffered
    /// path's separate loops cost more than the test: f32 3.1 to 2.8 microseconds, f64 6.6 to
    /// 5.5.) `also` is given each group of `N` values in the same loop (the fused call's
    /// gradients); not at all where the values are not aligned.
    #[inline(always)]
    pub fn try_add_factors<A: Copy, const DD: bool, const N: usize>(
        &mut self,
        [a, b]: [&[A]; 2],
        t_of: impl Fn(A, A) -> ([f64; 2], u64),
        mut also: impl Also<A, N>,
    ) -> bool {
        const { assert!(N == prod_lanes(DD)) };
        if !self.pos.is_multiple_of(N) || !a.len().is_multiple_of(N) {
            return false;
        }
        self.plain = !DD;
        let saved = (self.prod, self.prod_lo, self.prod_exp, self.pos, self.whole);
        let mut flags = [0; N];
        // The pieces of `add_log_factors`, written out again: shared through a closure, the
        // closure was compiled apart, without the kernels' target features (8x slower).
        let (mut a, mut b, mut j) = (a, &b[..a.len()], 0);
        while !a.is_empty() {
            // A whole number of groups of N, as `renorm_every` is a multiple of N.
            let len = self.next_piece::<DD>(a.len());
            let (piece_a, piece_b);
            ((piece_a, a), (piece_b, b)) = (a.split_at(len), b.split_at(len));
            let q = self.prod.first_chunk_mut::<N>().expect("N <= DD_LANES");
            let q_lo = self.prod_lo.first_chunk_mut::<N>().expect("N <= DD_LANES");
            let (mut local, mut local_lo) = (*q, *q_lo);
            let lanes = (&mut local, &mut local_lo);
            let piece = [piece_a, piece_b];
            if DD && self.whole {
                factor_groups::<_, DD, true, N>(lanes, piece, &t_of, &mut also, &mut flags, j);
            } else {
                factor_groups::<_, DD, false, N>(lanes, piece, &t_of, &mut also, &mut flags, j);
            }
            *q = local;
            if DD {
                *q_lo = local_lo;
            }
            j += len;
            self.pos += len;
        }
        if flags.iter().fold(0, |f, &l| f | l) >> 63 != 0 {
            (self.prod, self.prod_lo, self.prod_exp, self.pos, self.whole) = saved;
            return false;
        }
        true
    }

    /// The length of the next piece of at most `remaining` factors: up to the next position
    /// where the lanes are renormalised, so that they are renormalised at the same positions
    /// however a block is split into calls; renormalised first where the piece starts at one.
    #[inline(always)]
    fn next_piece<const DD: bool>(&mut self, remaining: usize) -> usize {
        if self.pos.is_multiple_of(renorm_every(DD)) && self.pos > 0 {
            self.renormalise::<DD>();
        }
        (renorm_every(DD) - self.pos % renorm_every(DD)).min(remaining)
    }

    /// Move the binary exponent of each product lane whose `q` is at or above [`RENORM_AT`]
    /// to `prod_exp`: `1 + q` becomes `(1 + q) 2^-e 2^e`, kept as `(1 + (m - 1) + 2^-e) 2^e`
    /// for `m = q 2^-e` in [1, 2) (plain lanes, not `DD`: without the `2^-e`, below 2^-64 of
    /// the product, and as `2 (m - 1)`), and a whole product `p` as `(p 2^-e) 2^e`.
    ///
    /// Double-double lanes first take their whole products once every lane's `q` is at least
    /// [`WHOLE_FROM`] (or renormalised): a step is then `p' = p (1 + t)`, eight operations
    /// with `1 + t`, where `q' = q (1 + t) + t` takes fifteen. A whole product carries its
    /// error relative to itself, about 2^-104 per step, which is 2^-74 of a lane's loss sum
    /// `log p` from then on (`q` keeps it relative to `q`, as tiny losses need).
    #[inline(always)] // into the callers' AVX2 copies (else its multiply-add is a libm call)
    fn renormalise<const DD: bool>(&mut self) {
        if DD
            && !self.whole
            && (0..DD_LANES).all(|k| self.prod[k] >= WHOLE_FROM || self.prod_exp[k] > 0)
        {
            for k in 0..DD_LANES {
                // 1 + q exactly as a double-double but for one rounding of the low part.
                let u = two_sum(1.0, self.prod[k]);
                let p = fast_two_sum(u.hi, u.lo + self.prod_lo[k]);
                (self.prod[k], self.prod_lo[k]) = (p.hi, p.lo);
            }
            self.whole = true;
        }
        // Whether the lanes' 1 is implicit (in all but whole products), and its value in a
        // lane (plain lanes hold 2q).
        let implicit = !(DD && self.whole);
        let unit = if DD { 1.0 } else { 2.0 };
        // Arithmetic instead of selects, so that the loop vectorises: for a lane below
        // RENORM_AT, `e = 0`, `q * 1 - 0 = q` and the low part takes `1 * 0`. (Wrapping: a
        // lane may hold inf or NaN from factors that `try_add_factors` then refuses.)
        for k in 0..prod_lanes(DD) {
            let q = self.prod[k];
            let big = ((q >= unit * RENORM_AT) as u64).wrapping_neg();
            let e = ((q.to_bits() >> 52).wrapping_sub(unit.to_bits() >> 52)) & big;
            let scale = f64::from_bits(1023u64.wrapping_sub(e) << 52);
            let one = if implicit { f64::from_bits(unit.to_bits() & big) } else { 0.0 };
            self.prod[k] = q * scale - one;
            if DD {
                let lo = self.prod_lo[k].mul_add(scale, scale * one);
                let s = fast_two_sum(self.prod[k], lo);
                (self.prod[k], self.prod_lo[k]) = (s.hi, s.lo);
            }
            self.prod_exp[k] += e as i64;
        }
    }

    /// Add the next values of the block, of any sign or class (`cauchy_reduce`); non-finite
    /// ones are replaced by 0 in `vals` after being recorded. Finite values go to the lanes,
    /// compensated or (not `COMPENSATED`) plain; a lane that overflows makes the whole sum
    /// overflow (see [`Acc::result_unless_overflowed`]), as the running sum would.
    ///
    /// Plain lanes (one addition per value, where compensation takes six): a lane adds at
    /// most `BLOCK / LANES` = 2048 values per block, each rounded by 2^-53 of the lane's sum
    /// of |x|, so the error stays below 2^-42 of the sum of |x|: within the f32 guarantee of
    /// `cauchy_reduce` (2^-40), not the f64 one (2^-50).
    #[inline(always)]
    pub fn add_values<const COMPENSATED: bool>(&mut self, vals: &mut [f64]) {
        if vals.iter().fold(false, |any, v| any | !v.is_finite()) {
            for v in vals.iter_mut().filter(|v| !v.is_finite()) {
                self.total.add(*v);
                *v = 0.0;
            }
        }
        self.add_to_lanes::<COMPENSATED>(vals);
        if self.lanes.iter().fold(false, |any, v| any | !v.is_finite()) {
            (self.total.sum.hi, self.lanes, self.lanes_lo) =
                (f64::INFINITY, [0.0; LANES], [0.0; LANES]);
        }
    }

    /// The total with the lanes added in: the sum lanes, then the logs of the product lanes.
    /// They are summed by [`Fold`]'s compensated lanes, then added to the total.
    #[inline(always)]
    fn folded(&self) -> Total {
        let mut total = self.total;
        let mut fold = Fold::default();
        let (mut hi, mut lo) = (self.lanes, self.lanes_lo);
        for k in 0..LANES {
            if !hi[k].is_finite() {
                total.add(hi[k]); // +inf or NaN (the low part is then meaningless)
                (hi[k], lo[k]) = (0.0, 0.0);
            }
        }
        fold.add(&hi, &lo);
        // Each product lane's log, `e ln2 + log1p(q)`, with `1 + q` (or the whole product) as
        // a double-double (log_dd keeps the relative precision of small logs), LANES lanes at
        // a time (vectorised). A lane that never took a factor, (0, 0, 0), gives exactly +0;
        // the lanes from LANES on take none in plain sums, and are then skipped.
        let untouched =
            |k: usize| (self.prod[k], self.prod_lo[k], self.prod_exp[k]) == (0.0, 0.0, 0);
        for first in (0..DD_LANES).step_by(LANES) {
            let lanes = first..first + LANES;
            if first > 0 && lanes.clone().all(untouched) {
                break;
            }
            let (mut e_hi, mut e_lo, mut logs) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
            for (i, k) in lanes.enumerate() {
                let q_lo = self.prod_lo[k];
                let q = if self.plain { 0.5 * self.prod[k] } else { self.prod[k] };
                let u = if self.whole {
                    fast_two_sum(q, q_lo)
                } else {
                    let u = two_sum(1.0, q);
                    fast_two_sum(u.hi, u.lo + q_lo)
                };
                let e = LN2 * self.prod_exp[k] as f64;
                (e_hi[i], e_lo[i], logs[i]) = (e.hi, e.lo, log_dd(u.hi, u.lo));
            }
            fold.add(&e_hi, &e_lo);
            fold.add(&logs, &[0.0; LANES]);
        }
        // Lanes that took nothing (a merged total's) leave the total's bits as they are.
        let sum = fold.sum();
        if sum != Dd::default() {
            total.sum = total.sum + sum;
        }
        total
    }

    /// This sum with its lanes folded, to merge: on the thread that ran the block, as the
    /// fold takes a log per lane (merged on one thread, the folds were an eighth of the f32
    /// MEAN's time at 16.7M elements on two).
    #[inline(always)]
    pub fn finish(&self) -> Partial {
        Partial(self.folded())
    }

    /// Add another block's partial (the later one in logical order).
    pub fn merge(&mut self, Partial(other): &Partial) {
        let total = &mut self.total;
        total.sum = total.sum + other.sum;
        total.tiny = total.tiny + other.tiny;
        total.special |= other.special;
    }

    /// The sum divided by `divisor` (1 for SUM, numel for MEAN), rounded once to f64.
    #[inline(always)]
    pub fn result(&self, divisor: f64) -> f64 {
        self.folded().result(divisor)
    }

    /// [`Acc::result`], or `None` where finite values overflowed the running sum, lanes
    /// included (possible for f64 data only); the lanes are folded once for both.
    #[inline(always)]
    pub fn result_unless_overflowed(&self, divisor: f64) -> Option<f64> {
        let total = self.folded();
        (!total.overflowed()).then(|| total.result(divisor))
    }
}

/// The compensated lanes that [`Acc::folded`] sums its terms in, `LANES` at a time: each
/// term's rounding error is kept exactly (TwoSum) and the errors are summed plainly (Ogita,
/// Rump and Oishi's Sum2), so the sum is within about `(n 2^-53)^2` of the sum of the `n`
/// terms' magnitudes, where the terms themselves (logs rounded to f64) carry 2^-53. Adding
/// into a running double-double instead, one normalised addition after another, made a
/// chain of twenty-four dependent additions, most of a small call's time: MEAN of 16
/// elements, f32 0.27 -> 0.18 microseconds, f64 0.39 -> 0.23 (of 2 elements, where only
/// two logs were taken, 0.16 -> 0.21).
#[derive(Default)]
struct Fold {
    sum: [f64; LANES],
    err: [f64; LANES],
}

impl Fold {
    /// Add the terms `hi[k] + lo[k]` to lane `k`.
    #[inline(always)]
    fn add(&mut self, hi: &[f64; LANES], lo: &[f64; LANES]) {
        for k in 0..LANES {
            lane_add(&mut self.sum[k], &mut self.err[k], hi[k]);
            self.err[k] += lo[k];
        }
    }

    /// The lanes' sum, halves added pairwise.
    #[inline(always)]
    fn sum(mut self) -> Dd {
        let mut n = LANES;
        while n > 1 {
            n /= 2;
            for k in 0..n {
                let v = self.sum[k + n];
                lane_add(&mut self.sum[k], &mut self.err[k], v);
                self.err[k] += self.err[k + n];
            }
        }
        two_sum(self.sum[0], self.err[0])
    }
}

/// Add `v` to the compensated sum lane `hi` (rounded) and `lo` (the rounding errors).
#[inline(always)]
fn lane_add(hi: &mut f64, lo: &mut f64, v: f64) {
    let s = two_sum(*hi, v);
    (*hi, *lo) = (s.hi, *lo + s.lo);
}

/// The groups of one piece of [`Acc::try_add_factors`], `N` values at a time from index `j`
/// of its values on, for a constant form of the lanes (`WHOLE`: see [`Acc::renormalise`]).
#[inline(always)]
fn factor_groups<A: Copy, const DD: bool, const WHOLE: bool, const N: usize>(
    (local, local_lo): (&mut [f64; N], &mut [f64; N]),
    [piece_a, piece_b]: [&[A]; 2],
    t_of: &impl Fn(A, A) -> ([f64; 2], u64),
    also: &mut impl Also<A, N>,
    flags: &mut [u64; N],
    mut j: usize,
) {
    for (ga, gb) in piece_a.chunks_exact(N).zip(piece_b.chunks_exact(N)) {
        // Arrays of constant length, which the compiler keeps in vector registers.
        let (ga, gb): (&[A; N], &[A; N]) =
            (ga.try_into().expect("a group"), gb.try_into().expect("a group"));
        if also.ahead() {
            group_ahead(ga, gb);
        }
        // (Loops, not `array::from_fn`: see `SpanGrads::group`.)
        let mut parts = [([0.0; 2], 0); N];
        for (k, p) in parts.iter_mut().enumerate() {
            *p = t_of(ga[k], gb[k]);
        }
        // `also` before the plain steps, so that its long operations (the f32 gradients'
        // quotients) start first; after the double-double ones, whose parts are then dead
        // (live, they spilled the vector registers). Measured in turns, the fused call at 6144
        // elements on AVX-512: f32 6.1 against 5.5 microseconds, f64 20 against 11.
        if !DD {
            also.group(j, ga, gb, &plain_ones(&parts));
        }
        // For double-double lanes `also` gets the steps' own `1 + t`, kept in their loop: in a
        // loop of its own, it was shuffled and spilled (f64 fused call at 6144 elements 2.5
        // times as slow).
        let mut dd_ones = [[0.0; N]; 2];
        for (k, &([t, t_lo], flag)) in parts.iter().enumerate() {
            flags[k] |= flag;
            let one = factor_step::<DD, WHOLE>(&mut local[k], &mut local_lo[k], t, t_lo);
            if DD {
                (dd_ones[0][k], dd_ones[1][k]) = (one.hi, one.lo);
            }
        }
        if DD {
            also.group(j, ga, gb, &dd_ones);
        }
        j += N;
    }
}

/// One product lane's step for the factor `1 + t`: `q' = q (1 + t) + t`, in double-double
/// (`DD`, with `t = t + t_lo`) or plain (`q_lo` and `t_lo` not read); for double-double
/// lanes that hold their whole products (`WHOLE`), `p' = p (1 + t)`. Returns the `1 + t` it
/// multiplied by ([`one_plus`] for double-double lanes, which the fused call's gradients
/// share).
///
/// A plain step takes the lane `r = 2q` and `s = 2t = d^2` (in `q` and `t`):
/// `r' = r (1 + t) + s` has the bits of `2 (q (1 + t) + t)`, in two operations (`1 + t` as
/// `s/2 + 1`, one multiply-add) where `t = s/2`, `1 + t` and the step took three. The float32
/// sums in cache are held by their operations (6144 elements in turns: MEAN 2.19 -> 2.06
/// microseconds, loss-and-gradient 4.30 -> 4.17). The lanes hold `2q` throughout: doubled
/// and halved around each piece of steps instead, they made a longer chain of dependent
/// operations, and the MEAN took 2.49.
#[inline(always)]
fn factor_step<const DD: bool, const WHOLE: bool>(
    q: &mut f64,
    q_lo: &mut f64,
    t: f64,
    t_lo: f64,
) -> Dd {
    if !DD {
        let u = t.mul_add(0.5, 1.0);
        *q = q.mul_add(u, t);
        return Dd::new(u);
    }
    // Exact below t = 2^53; above, within 2^-53 of itself, which moves its loss (above 36) by
    // 2^-58 of itself.
    let u = one_plus(Dd { hi: t, lo: t_lo });
    (*q, *q_lo) = if WHOLE { whole_step(*q, *q_lo, u) } else { dd_step(*q, *q_lo, [t, t_lo], u) };
    u
}

/// One double-double product step, `q' = q (1 + t) + t`, for `q = q_hi + q_lo` (`q_lo` not
/// normalised: it grows by about 2^-52 of `q` per step), `t = t_hi + t_lo`, all >= 0, and
/// `u = 1 + t`.
#[inline(always)]
fn dd_step(q: f64, q_lo: f64, [t, t_lo]: [f64; 2], u: Dd) -> (f64, f64) {
    let (p, p_lo) = whole_step(q, q_lo, u);
    // p + t exactly (Fast2Sum with the larger first), then the low parts.
    let (big, small) = if p > t { (p, t) } else { (t, p) };
    let s = big + small;
    (s, (small - (s - big)) + t_lo + p_lo)
}

/// `p u` for `p = p + p_lo` (`p_lo` not normalised) as a double-double, to about 2^-105 of
/// itself: the exact product of the high parts and the low parts' products.
#[inline(always)]
fn whole_step(p: f64, p_lo: f64, u: Dd) -> (f64, f64) {
    let hi = p * u.hi;
    (hi, p_lo.mul_add(u.hi, p.mul_add(u.lo, p.mul_add(u.hi, -hi))))
}

/// What a group of plain lanes gives [`Also::group`]: `1 + t` of each pair, rounded (as its
/// step forms it from `s = 2t`), and the second parts `t_of` gave (arrays of parts stay in
/// vector registers).
#[inline(always)]
fn plain_ones<const N: usize>(parts: &[([f64; 2], u64); N]) -> [[f64; N]; 2] {
    let mut ones = [[0.0; N]; 2];
    for (k, &([s, second], _)) in parts.iter().enumerate() {
        (ones[0][k], ones[1][k]) = (s.mul_add(0.5, 1.0), second);
    }
    ones
}

/// Call `f(lanes, k, a, b)` for each `j`, `a = vals[0][j]` and `b = vals[1][j]` (equally long
/// slices: the next values of a block from position `pos` on), in order, with `k` the lane of
/// its position among `N`: a head up to lane 0, whole groups of `N`, and the rest. The groups
/// work on a copy of `lanes` indexed only by constants, which the compiler keeps in vector
/// registers.
#[inline(always)]
fn for_lanes<const N: usize, S: Copy>(
    pos: usize,
    [a, b]: [&[f64]; 2],
    lanes: &mut S,
    f: impl Fn(&mut S, usize, f64, f64),
) {
    let head = ((N - pos % N) % N).min(a.len());
    let ((a_head, a), (b_head, b)) = (a.split_at(head), b[..a.len()].split_at(head));
    for (i, (&a, &b)) in a_head.iter().zip(b_head).enumerate() {
        f(lanes, (pos + i) % N, a, b);
    }
    let (groups, b_groups) = (a.chunks_exact(N), b.chunks_exact(N));
    let rest = groups.remainder().iter().zip(b_groups.remainder());
    let mut local = *lanes;
    for (group, b_group) in groups.zip(b_groups) {
        for (k, (&a, &b)) in group.iter().zip(b_group).enumerate() {
            f(&mut local, k, a, b);
        }
    }
    *lanes = local;
    for (k, (&a, &b)) in rest.enumerate() {
        f(lanes, k, a, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensation_keeps_the_small_terms() {
        let mut a = Total::default();
        for x in [1e16, 1.0, -1e16, 1.0] {
            a.add(x);
        }
        assert_eq!(a.result(1.0), 2.0);
    }

    #[test]
    fn fold_keeps_the_lanes_low_parts() {
        // Lane 0 takes 2^60 and 1 (low part 1), lane 1 -2^60 and 0.5: the high parts cancel
        // in the fold, the low parts are the sum.
        let mut vals = [0.0; 2 * LANES];
        (vals[0], vals[LANES], vals[1], vals[LANES + 1]) =
            (2f64.powi(60), 1.0, -2f64.powi(60), 0.5);
        let mut a = Acc::default();
        a.add_values::<true>(&mut vals);
        assert_eq!(a.result(1.0), 1.5);
    }

    #[test]
    fn infinities_of_both_signs_give_nan() {
        let mut a = Total::default();
        a.add(f64::INFINITY);
        a.add(1.0);
        assert_eq!(a.result(1.0), f64::INFINITY);
        a.add(f64::NEG_INFINITY);
        assert!(a.result(1.0).is_nan());
    }

    /// The double-double bits of the sum of `log(1 + t)` over `ts` (`t = hi + lo`, plain
    /// lanes taking `2 hi` only), given to the lanes `split` at a time; `t` above MAX_T apart.
    /// `DIRECT`: each piece first offered to `try_add_factors`.
    fn log_sum<const DD: bool, const DIRECT: bool>(ts: &[[f64; 2]], split: usize) -> (u64, u64) {
        let mut acc = Acc::default();
        let part = |t: f64| if DD { t } else { 2.0 * t };
        for (c, chunk) in ts.chunks(split).enumerate() {
            let (mut hi, mut lo): (Vec<f64>, Vec<f64>) =
                chunk.iter().map(|t| (part(t[0]), t[1])).unzip();
            if DIRECT {
                let before = acc.folded().sum;
                let n = prod_lanes(DD);
                let aligned = acc.pos % n == 0 && hi.len() % n == 0;
                let rare = hi.iter().any(|&t| t > part(MAX_T));
                // Taken exactly where aligned with no rare `t`; else left as it was.
                let t_of =
                    |t, t_lo| ([t, t_lo], if DD { above_max_t(t) } else { above_twice_max_t(t) });
                let taken = if DD {
                    acc.try_add_factors::<_, true, DD_LANES>([&hi, &lo], t_of, ())
                } else {
                    acc.try_add_factors::<_, false, LANES>([&hi, &lo], t_of, ())
                };
                assert_eq!(taken, aligned && !rare);
                if taken {
                    continue;
                }
                assert_eq!(acc.folded().sum, before);
            }
            let any = hi.iter().any(|&t| t > part(MAX_T));
            acc.add_log_factors::<DD>([&mut hi, &mut lo], any, |j| {
                let [hi, lo] = ts[c * split + j];
                (hi > MAX_T).then(|| Rare::Loss((hi + if DD { lo } else { 0.0 }).ln_1p()))
            });
        }
        // Both parts, whose low one shows any other grouping.
        let s = acc.folded().sum;
        (s.hi.to_bits(), s.lo.to_bits())
    }

    #[test]
    fn log_factors_do_not_depend_on_how_a_block_is_split() {
        // Losses from 0 to about 85, one in 97 above MAX_T (taken apart), over 1000 positions
        // (15 renormalisations of plain lanes, 7 of double-double ones); as double-doubles,
        // with the low part of d^2/2 for d/2.
        let ds: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 0.37).sin() * 13.0 * if i % 97 == 5 { 1e20 } else { 1.0 })
            .collect();
        let dd: Vec<[f64; 2]> = ds
            .iter()
            .map(|&d| {
                let t = 0.5 * d * d;
                [t, (0.5 * d).mul_add(d, -t)]
            })
            .collect();
        let want: f64 = ds.iter().map(|&d| (0.5 * d * d).ln_1p()).sum();
        let splits = [1, 3, 8, 16, 32, 63, 64, 100, 128];
        for (whole, got) in [
            (log_sum::<false, false>(&dd, 1000), splits.map(|s| log_sum::<false, false>(&dd, s))),
            (log_sum::<false, false>(&dd, 1000), splits.map(|s| log_sum::<false, true>(&dd, s))),
            (log_sum::<true, false>(&dd, 1000), splits.map(|s| log_sum::<true, false>(&dd, s))),
            (log_sum::<true, false>(&dd, 1000), splits.map(|s| log_sum::<true, true>(&dd, s))),
        ] {
            assert!(got.iter().all(|&g| g == whole), "{got:?} against {whole:?}");
            let sum = f64::from_bits(whole.0) + f64::from_bits(whole.1);
            assert!((sum / want - 1.0).abs() < 1e-13, "{sum} against {want}");
        }
    }

    /// A block's lanes that take their whole products give the sum of lanes that never do
    /// (pieces of 128 positions, before the first renormalisation, merged in order), within
    /// the rounding of the lanes' logs (2^-53 each): losses of a typical size (whole from
    /// position 128 on), small ones whose lanes reach `WHOLE_FROM` later in the block, tiny
    /// ones whose lanes never do, and typical ones with one lane of tiny ones. (A product
    /// formed wrongly when the lanes turn whole fails it.)
    #[test]
    fn whole_products_keep_the_sum() {
        // The residual of each position, and whether the lanes end whole.
        type Case = (fn(usize) -> f64, bool);
        let cases: [Case; 4] = [
            (|i| (i as f64 * 0.37).sin() * 2.0, true),
            (|i| (i as f64 * 0.37).sin() * 1e-5, true),
            (|i| (i as f64 * 0.37).sin() * 1e-9, false),
            (|i| (i as f64 * 0.37).sin() * if i % 16 == 3 { 1e-9 } else { 2.0 }, false),
        ];
        for (d_of, whole) in cases {
            let parts = |range: std::ops::Range<usize>| -> [Vec<f64>; 2] {
                let t = |d: f64| [0.5 * d * d, (0.5 * d).mul_add(d, -0.5 * d * d)];
                let (hi, lo) = range.map(|i| t(d_of(i))).map(|[h, l]| (h, l)).unzip();
                [hi, lo]
            };
            let mut block = Acc::default();
            let [mut hi, mut lo] = parts(0..BLOCK);
            block.add_log_factors::<true>([&mut hi, &mut lo], false, |_| None);
            assert_eq!(block.whole, whole);
            let mut pieces = Acc::default();
            for at in (0..BLOCK).step_by(128) {
                let mut piece = Acc { pos: at, ..Acc::default() };
                let [mut hi, mut lo] = parts(at..at + 128);
                piece.add_log_factors::<true>([&mut hi, &mut lo], false, |_| None);
                assert!(!piece.whole);
                pieces.merge(&piece.finish());
            }
            let (got, want) = (block.folded().sum, pieces.folded().sum);
            let diff = (got.hi - want.hi) + (got.lo - want.lo);
            assert!((diff / want.hi).abs() < 2f64.powi(-51), "{got:?} against {want:?}");
        }
    }

    #[test]
    fn tiny_terms_round_once() {
        // 1000 terms of 2277.025 subnormal steps each: 2277025 steps, not 1000 * 2277.
        let step = f64::from_bits(1);
        let mut a = Total::default();
        for _ in 0..1000 {
            a.add_tiny(Dd::new(2277.025 * (step * TINY_SCALE)));
        }
        assert_eq!(a.result(1.0), 2277025.0 * step);
    }
}
