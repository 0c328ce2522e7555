//! Accuracy of the exported C functions against the correctly rounded tables that
//! scripts/gen_reference.py computes with mpmath (tests/data/; the formats are described at
//! the top of the script), under the bounds of shared/API.md, "Numerical guarantees".
//!
//! Every test prints the worst error it measured and the case that reached it:
//! `cargo test --release --test accuracy -- --nocapture`.

mod common;

use cauchy::{
    CauchyStatus, CauchyTensorDesc as Desc, CAUCHY_REDUCTION_MEAN as MEAN,
    CAUCHY_REDUCTION_NONE as NONE, CAUCHY_REDUCTION_SUM as SUM,
};
use common::paths;
use common::reference::{ulp_f32, ulp_f64};
use common::tensors::{GradFn, LossFn, ReduceFn};
use std::collections::BTreeMap;
use std::fmt::{Debug, Display, LowerExp};
use std::ops::Neg;
use std::ptr::null;

/// An element type: its encoding in the tables, its ULP distance, the contract's element-wise
/// bound and the library's functions for it.
trait Float: Copy + Default + PartialOrd + Debug + LowerExp + Neg<Output = Self> {
    const NAME: &'static str;
    /// Significand bits, `p` of the seeded generator.
    const P: u32;
    /// The contract's bound, in ULP, for the element-wise loss, gradient and backward.
    const ULPS: u64;
    const MAX: Self;
    const LOSS: LossFn<Self>;
    const BACKWARD: GradFn<Self, *const Self>;
    const LOSS_AND_GRAD: GradFn<Self, *mut Self>;
    const REDUCE: ReduceFn<Self>;
    fn from_bits64(bits: u64) -> Self;
    fn bits64(self) -> u64;
    /// Exact for every value of the type.
    fn to_f64(self) -> f64;
    /// Exact for the values the tests pass (representable in the type).
    fn from_f64(v: f64) -> Self;
    fn ulp(a: Self, b: Self) -> u64;
    fn is_nan(self) -> bool;
    fn is_subnormal(self) -> bool;
}

macro_rules! float {
    ($t:ident, $bits:ty, $p:expr, $ulps:expr, $ulp:ident,
     $loss:ident, $backward:ident, $fused:ident, $reduce:ident) => {
        impl Float for $t {
            const NAME: &'static str = stringify!($t);
            const P: u32 = $p;
            const ULPS: u64 = $ulps;
            const MAX: $t = $t::MAX;
            const LOSS: LossFn<$t> = cauchy::$loss;
            const BACKWARD: GradFn<$t, *const $t> = cauchy::$backward;
            const LOSS_AND_GRAD: GradFn<$t, *mut $t> = cauchy::$fused;
            const REDUCE: ReduceFn<$t> = cauchy::$reduce;
            fn from_bits64(bits: u64) -> $t {
                $t::from_bits(bits as $bits)
            }
            fn bits64(self) -> u64 {
                self.to_bits() as u64
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> $t {
                v as $t
            }
            fn ulp(a: $t, b: $t) -> u64 {
                $ulp(a, b)
            }
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            fn is_subnormal(self) -> bool {
                $t::is_subnormal(self)
            }
        }
    };
}

float! { f32, u32, 24, 1, ulp_f32,
cauchy_loss_f32, cauchy_loss_backward_f32, cauchy_loss_and_grad_f32, cauchy_reduce_f32 }
float! { f64, u64, 53, 2, ulp_f64,
cauchy_loss_f64, cauchy_loss_backward_f64, cauchy_loss_and_grad_f64, cauchy_reduce_f64 }

// ---------------------------------------------------------------------------------------------
// Calls: 1-D operands of `n` elements; a single x, y pair is repeated with stride 0.

fn ok(status: CauchyStatus, what: &str) {
    assert_eq!(status, CauchyStatus::CAUCHY_STATUS_OK, "{what}");
}

/// The input layout shared by x and y: `[n]`, stride 1, or 0 to repeat one pair.
fn input_layout<T>(x: &[T], n: usize) -> ([i64; 1], [i64; 1]) {
    ([n as i64], [i64::from(x.len() > 1)])
}

fn one_or_n(reduction: i32, n: usize) -> usize {
    if reduction == NONE {
        n
    } else {
        1
    }
}

/// `cauchy_loss`: the loss tensor (NONE) or the one reduced value.
fn forward<T: Float>(x: &[T], y: &[T], n: usize, reduction: i32) -> Vec<T> {
    let (shape, strides) = input_layout(x, n);
    let desc = Desc { ndim: 1, shape: shape.as_ptr(), strides: strides.as_ptr() };
    let mut out = vec![T::default(); one_or_n(reduction, n)];
    // SAFETY: every pointer addresses the elements its descriptor describes (NULL: contiguous).
    let status = unsafe {
        T::LOSS(x.as_ptr(), &desc, y.as_ptr(), &desc, reduction, out.as_mut_ptr(), null())
    };
    ok(status, "cauchy_loss");
    out
}

/// `cauchy_loss_backward` with upstream `g` (n values for NONE, one for MEAN / SUM), or
/// `cauchy_loss_and_grad` (`g` None), giving `[out, grad_img1, grad_img2]` (out empty for
/// backward).
fn gradients<T: Float>(x: &[T], y: &[T], n: usize, reduction: i32, g: Option<&[T]>) -> [Vec<T>; 3] {
    let (shape, strides) = input_layout(x, n);
    let desc = Desc { ndim: 1, shape: shape.as_ptr(), strides: strides.as_ptr() };
    let (mut grad1, mut grad2) = (vec![T::default(); n], vec![T::default(); n]);
    let mut out = vec![T::default(); if g.is_some() { 0 } else { one_or_n(reduction, n) }];
    let (g1, g2) = (grad1.as_mut_ptr(), grad2.as_mut_ptr());
    let (x, y) = (x.as_ptr(), y.as_ptr());
    // NULL descriptors: img1's shape, contiguous (one element for a reduced out or grad_out).
    let (d, c) = (&desc as *const Desc, null());
    // SAFETY: as in `forward`; grad_out is read (backward), out written (fused).
    let status = unsafe {
        match g {
            Some(g) => T::BACKWARD(x, d, y, d, reduction, g.as_ptr(), c, g1, c, g2, c),
            None => T::LOSS_AND_GRAD(x, d, y, d, reduction, out.as_mut_ptr(), c, g1, c, g2, c),
        }
    };
    ok(status, "cauchy_loss_backward / cauchy_loss_and_grad");
    [out, grad1, grad2]
}

/// The same bits, or both NaN (NaN payloads are unspecified).
fn same<T: Float>(a: T, b: T) -> bool {
    a.bits64() == b.bits64() || (a.is_nan() && b.is_nan())
}

/// `cauchy_reduce` of a contiguous 1-D tensor.
fn reduce<T: Float>(values: &[T], reduction: i32) -> T {
    let shape = [values.len() as i64];
    let desc = Desc { ndim: 1, shape: shape.as_ptr(), strides: null() };
    let mut out = T::default();
    // SAFETY: `values` holds the elements the descriptor describes; `out` is one element.
    ok(unsafe { T::REDUCE(values.as_ptr(), &desc, reduction, &mut out) }, "cauchy_reduce");
    out
}

// ---------------------------------------------------------------------------------------------
// Tables

fn read_table(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The non-comment lines of a table, with their line numbers and columns.
fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.split_whitespace().collect()))
}

fn hex<T: Float>(s: &str) -> T {
    T::from_bits64(u64::from_str_radix(s, 16).unwrap_or_else(|e| panic!("{s}: {e}")))
}

/// One row of elementwise_<type>.txt.
struct Case<T> {
    line: usize,
    tag: String,
    x: T,
    y: T,
    g: T,
    n: usize,
    loss: T,
    dloss: T,
    dloss_n: T,
    gdloss: T,
    gdloss_n: T,
}

impl<T: Float> Case<T> {
    /// d is ±0 or ±inf: the contract fixes the sign of a zero loss or gradient.
    fn fixed_sign(&self) -> bool {
        let (x, y) = (self.x.to_f64(), self.y.to_f64());
        x - y == 0.0 || x.is_infinite() || y.is_infinite()
    }

    /// The same for a backward product, where g = ±0 fixes it too (IEEE rules apply to g).
    fn fixed_product_sign(&self) -> bool {
        self.fixed_sign() || self.g.to_f64() == 0.0
    }

    fn finite(&self) -> bool {
        self.x.to_f64().is_finite() && self.y.to_f64().is_finite()
    }
}

impl<T: Float> Display for Case<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "line {} ({}): x={:e} y={:e} g={:e} n={}",
            self.line, self.tag, self.x, self.y, self.g, self.n
        )
    }
}

fn cases<T: Float>() -> Vec<Case<T>> {
    rows(&read_table(&format!("elementwise_{}.txt", T::NAME)))
        .map(|(line, c)| Case {
            line,
            tag: c[9].to_string(),
            x: hex(c[0]),
            y: hex(c[1]),
            g: hex(c[2]),
            n: c[3].parse().unwrap(),
            loss: hex(c[4]),
            dloss: hex(c[5]),
            dloss_n: hex(c[6]),
            gdloss: hex(c[7]),
            gdloss_n: hex(c[8]),
        })
        .collect()
}

/// One line of sums_<type>.txt, its data materialised: the values (`reduce`) or the x, y
/// pairs interleaved (`loss`).
struct SumCase<T> {
    line: usize,
    kind: String,
    name: String,
    data: Vec<T>,
    /// Correctly rounded result, lowest and highest allowed result.
    sum: [T; 3],
    mean: [T; 3],
}

fn sum_cases<T: Float>(elementwise: &[Case<T>]) -> Vec<SumCase<T>> {
    let pairs = |keep: &dyn Fn(&Case<T>) -> bool| -> Vec<T> {
        elementwise.iter().filter(|c| keep(c)).flat_map(|c| [c.x, c.y]).collect()
    };
    rows(&read_table(&format!("sums_{}.txt", T::NAME)))
        .map(|(line, c)| {
            let len: usize = c[2].parse().unwrap();
            let data = match c[3].split(':').collect::<Vec<_>>()[..] {
                ["inline"] => c[10..].iter().map(|s| hex(s)).collect(),
                ["sweep"] => pairs(&|c| c.tag == "sweep" && c.finite()),
                ["finite"] => pairs(&Case::finite),
                ["seed", seed, lo, hi] => {
                    let count = if c[0] == "loss" { 2 * len } else { len };
                    seeded(seed.parse().unwrap(), count, lo.parse().unwrap(), hi.parse().unwrap())
                }
                _ => panic!("line {line}: unknown source {}", c[3]),
            };
            assert_eq!(data.len(), if c[0] == "loss" { 2 * len } else { len }, "line {line}");
            SumCase {
                line,
                kind: c[0].to_string(),
                name: c[1].to_string(),
                data,
                sum: [hex(c[4]), hex(c[5]), hex(c[6])],
                mean: [hex(c[7]), hex(c[8]), hex(c[9])],
            }
        })
        .collect()
}

/// SplitMix64, as `splitmix64` in scripts/gen_reference.py.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `seeded_values` of scripts/gen_reference.py: per value r = next(), m = r >> (64 - p),
/// e = lo + next() % (hi - lo + 1), value = m * 2^e, negated when r is odd (exact in `T`
/// for the ranges the tables use).
fn seeded<T: Float>(seed: u64, count: usize, lo: i32, hi: i32) -> Vec<T> {
    let mut rng = SplitMix64(seed);
    let pow2 = |e: i32| match e {
        -1022.. => f64::from_bits(((e + 1023) as u64) << 52),
        _ => f64::from_bits(1 << (e + 1074)),
    };
    (0..count)
        .map(|_| {
            let r = rng.next();
            let e = lo + (rng.next() % (hi - lo + 1) as u64) as i32;
            let v = (r >> (64 - T::P)) as f64 * pow2(e);
            T::from_f64(if r & 1 == 1 { -v } else { v })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checks

/// The worst error per quantity and the failures of one test, printed and asserted at its end.
#[derive(Default)]
struct Report {
    /// Per quantity: the worst error (in the unit its name gives) and the case.
    worst: BTreeMap<String, (f64, String)>,
    failures: Vec<String>,
}

impl Report {
    fn note(&mut self, what: &str, error: f64, case: &dyn Display) {
        let worst = self.worst.entry(what.to_string()).or_insert((0.0, String::new()));
        if error > worst.0 || worst.1.is_empty() {
            *worst = (error, case.to_string());
        }
    }

    /// `got` within `bound` ULP of the table's `want` (NaN only for NaN), and bit-exact where
    /// `want` is a zero whose sign the contract fixes.
    fn ulps<T: Float>(
        &mut self,
        what: &str,
        got: T,
        want: T,
        bound: u64,
        fixed_sign: bool,
        case: &dyn Display,
    ) {
        let ulps = T::ulp(got, want);
        let what = format!("{what}, ULP");
        let sign_wrong = fixed_sign && want.to_f64() == 0.0 && got.bits64() != want.bits64();
        if ulps != u64::MAX {
            self.note(&what, ulps as f64, case);
        }
        if ulps > bound || sign_wrong {
            self.failures.push(format!(
                "{what}: got {got:e} ({:#x}), want {want:e} ({:#x}), {ulps} ULP, {case}",
                got.bits64(),
                want.bits64()
            ));
        }
    }

    /// `grad_img2` is the bitwise negation of `grad_img1`.
    fn negation<T: Float>(&mut self, what: &str, grad1: T, grad2: T, case: &dyn Display) {
        if grad2.bits64() != (-grad1).bits64() {
            self.failures
                .push(format!("{what}: grad_img2 {grad2:e} is not -grad_img1 {grad1:e}, {case}"));
        }
    }

    /// `got` within `[lo, hi]`. The error is measured in ULP from the correctly rounded
    /// `want`, or, where the contract's bound is absolute (`cauchy_reduce`), as a share of the
    /// allowed error (about half the interval's width; for the report only).
    fn within<T: Float>(
        &mut self,
        what: &str,
        got: T,
        [want, lo, hi]: [T; 3],
        absolute: bool,
        case: &dyn Display,
    ) {
        let ulps = T::ulp(got, want);
        let half = |v: T| v.to_f64() / 2.0; // halves keep f64 differences finite
        if absolute {
            let share = if got == want {
                0.0
            } else {
                (half(got) - half(want)).abs() / (half(hi) - half(lo))
            };
            self.note(&format!("{what}, share of bound"), (share * 1e3).round() / 1e3, case);
        } else if ulps != u64::MAX {
            self.note(&format!("{what}, ULP"), ulps as f64, case);
        }
        if !(lo <= got && got <= hi) {
            self.failures.push(format!(
                "{what}: got {got:e} ({:#x}), want {want:e} ({:#x}) in [{lo:e}, {hi:e}], \
                 {ulps} ULP from it, {case}",
                got.bits64(),
                want.bits64()
            ));
        }
    }

    fn finish(self, title: &str) {
        println!("{title}: worst error");
        for (what, (error, case)) in &self.worst {
            println!("  {what:<34} {error:>5}  {case}");
        }
        let shown: Vec<&str> = self.failures.iter().take(20).map(String::as_str).collect();
        assert!(
            self.failures.is_empty(),
            "{title}: {} failures, first ones:\n{}",
            self.failures.len(),
            shown.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Loss, gradient and backward of every table case: whole-table calls with NONE (and a
/// grad_out tensor), then per case one-element calls and the scalar-upstream reductions, MEAN
/// over `n` stride-0 copies of the pair.
fn elementwise<T: Float>() {
    let cases = cases::<T>();
    let column = |f: fn(&Case<T>) -> T| cases.iter().map(f).collect::<Vec<T>>();
    let (x, y, g, n) = (column(|c| c.x), column(|c| c.y), column(|c| c.g), cases.len());
    let loss = forward(&x, &y, n, NONE);
    let [fused_loss, fused1, fused2] = gradients(&x, &y, n, NONE, None);
    let [_, back1, back2] = gradients(&x, &y, n, NONE, Some(&g));
    let mut r = Report::default();
    let bound = T::ULPS;
    for (i, c) in cases.iter().enumerate() {
        r.ulps("loss", loss[i], c.loss, bound, c.fixed_sign(), c);
        r.ulps("loss (fused)", fused_loss[i], c.loss, bound, c.fixed_sign(), c);
        r.ulps("gradient", fused1[i], c.dloss, bound, c.fixed_sign(), c);
        r.negation("gradient", fused1[i], fused2[i], c);
        r.ulps("backward NONE", back1[i], c.gdloss, bound, c.fixed_product_sign(), c);
        r.negation("backward NONE", back1[i], back2[i], c);
        // One element (its own path): the loss, its SUM and MEAN (the loss itself, bit for
        // bit), and the fused loss and gradient.
        let one_loss = forward(&[c.x], &[c.y], 1, NONE)[0];
        for reduction in [NONE, SUM, MEAN] {
            let loss = forward(&[c.x], &[c.y], 1, reduction)[0];
            r.ulps("loss, one element", loss, c.loss, bound, c.fixed_sign(), c);
            let [out, grad1, grad2] = gradients(&[c.x], &[c.y], 1, reduction, None);
            r.ulps("loss, one element (fused)", out[0], c.loss, bound, c.fixed_sign(), c);
            for v in [loss, out[0]] {
                assert!(same(v, one_loss), "{c}: one-element {reduction} {v:e}, NONE {one_loss:e}");
            }
            r.ulps("gradient, one element", grad1[0], c.dloss, bound, c.fixed_sign(), c);
            r.negation("gradient, one element", grad1[0], grad2[0], c);
        }
        let [_, sum1, sum2] = gradients(&[c.x], &[c.y], 1, SUM, Some(&[c.g]));
        r.ulps("backward SUM", sum1[0], c.gdloss, bound, c.fixed_product_sign(), c);
        r.negation("backward SUM", sum1[0], sum2[0], c);
        let [_, mean1, mean2] = gradients(&[c.x], &[c.y], c.n, MEAN, Some(&[c.g]));
        let [_, fused_mean1, fused_mean2] = gradients(&[c.x], &[c.y], c.n, MEAN, None);
        for k in 0..c.n {
            r.ulps("backward MEAN", mean1[k], c.gdloss_n, bound, c.fixed_product_sign(), c);
            r.negation("backward MEAN", mean1[k], mean2[k], c);
            r.ulps("gradient MEAN (fused)", fused_mean1[k], c.dloss_n, bound, c.fixed_sign(), c);
            r.negation("gradient MEAN (fused)", fused_mean1[k], fused_mean2[k], c);
        }
    }
    // The fused call's gradients (SUM and MEAN share work with the loss sum) are those of the
    // backward call with an upstream 1, bit for bit (NaN payloads aside), on every case.
    for reduction in [SUM, MEAN] {
        let [_, fused, _] = gradients(&x, &y, n, reduction, None);
        let [_, back, _] = gradients(&x, &y, n, reduction, Some(&[T::from_f64(1.0)]));
        let differ = (0..n).filter(|&i| !same(fused[i], back[i])).count();
        assert_eq!(differ, 0, "{}: fused and backward gradients differ ({reduction})", T::NAME);
    }
    r.finish(&format!("{} element-wise, {} cases (bound {bound} ULP)", T::NAME, cases.len()));
}

#[test]
fn elementwise_f32() {
    elementwise::<f32>();
}

#[test]
fn elementwise_f64() {
    elementwise::<f64>();
}

/// SUM and MEAN of the loss (cauchy_loss and cauchy_loss_and_grad) and cauchy_reduce of the
/// sums table, within the ranges the table allows.
fn sums<T: Float>() {
    let elementwise = cases::<T>();
    let mut r = Report::default();
    for s in sum_cases(&elementwise) {
        let case = format!("line {} {} {}", s.line, s.kind, s.name);
        if s.kind == "reduce" {
            r.within("reduce SUM", reduce(&s.data, SUM), s.sum, true, &case);
            r.within("reduce MEAN", reduce(&s.data, MEAN), s.mean, true, &case);
            continue;
        }
        let (x, y): (Vec<T>, Vec<T>) = s.data.chunks(2).map(|p| (p[0], p[1])).unzip();
        for (reduction, what, want) in [(SUM, "loss SUM", s.sum), (MEAN, "loss MEAN", s.mean)] {
            r.within(what, forward(&x, &y, x.len(), reduction)[0], want, false, &case);
            let [fused, ..] = gradients(&x, &y, x.len(), reduction, None);
            r.within(&format!("{what} (fused)"), fused[0], want, false, &case);
        }
    }
    r.finish(&format!("{} SUM / MEAN", T::NAME));
}

#[test]
fn sums_f32() {
    sums::<f32>();
}

#[test]
fn sums_f64() {
    sums::<f64>();
}

/// The IEEE rules of the contract, written out by hand (the tables hold these cases too).
fn ieee_rules<T: Float>() {
    let f = T::from_f64;
    let (inf, nan) = (f(f64::INFINITY), f(f64::NAN));
    // x, y, loss, gradient: zeros have the sign of IEEE x - y, d = ±inf gives +inf and ±0.
    let rows = [
        (f(0.0), f(0.0), f(0.0), f(0.0)),
        (f(-0.0), f(0.0), f(0.0), f(-0.0)),
        (f(0.0), f(-0.0), f(0.0), f(0.0)),
        (f(-0.0), f(-0.0), f(0.0), f(0.0)),
        (f(-2.5), f(-2.5), f(0.0), f(0.0)),
        (inf, f(1.0), inf, f(0.0)),
        (f(1.0), inf, inf, f(-0.0)),
        (-inf, T::MAX, inf, f(-0.0)),
        (inf, -inf, inf, f(0.0)),
        (inf, inf, nan, nan),
        (nan, f(1.0), nan, nan),
        (f(1.0), nan, nan, nan),
        (nan, inf, nan, nan),
    ];
    for (x, y, loss, grad) in rows {
        let [out, grad1, grad2] = gradients(&[x], &[y], 1, NONE, None);
        assert!(
            same(out[0], loss) && same(grad1[0], grad) && same(grad2[0], -grad),
            "x={x:e} y={y:e}: loss {:e}, gradient {:e} {:e}",
            out[0],
            grad1[0],
            grad2[0]
        );
        // Infinite or NaN upstream gradients times a zero derivative are NaN.
        if grad.to_f64() == 0.0 {
            for g in [inf, -inf, nan] {
                let [_, got, _] = gradients(&[x], &[y], 1, SUM, Some(&[g]));
                assert!(got[0].is_nan(), "x={x:e} y={y:e} g={g:e}: {:e}", got[0]);
            }
        }
    }
    // Infinite upstream gradients times a nonzero derivative are infinite, with the sign of
    // the product, however small or large the derivative: residuals from the least subnormal
    // (whose 2/d overflows) to one whose x - y overflows.
    let tiny = T::from_bits64(1);
    let residuals = [(tiny, f(0.0)), (f(0.0), tiny), (f(3.0), f(1.0)), (-T::MAX, T::MAX)];
    for (x, y) in residuals {
        for g in [inf, -inf] {
            let (positive_d, positive_g) = (x.to_f64() > y.to_f64(), g.to_f64() > 0.0);
            let want = if positive_d == positive_g { inf } else { -inf };
            for reduction in [NONE, SUM, MEAN] {
                let [_, got1, got2] = gradients(&[x], &[y], 1, reduction, Some(&[g]));
                assert!(
                    same(got1[0], want) && same(got2[0], -want),
                    "x={x:e} y={y:e} g={g:e} ({reduction}): {:e} {:e}",
                    got1[0],
                    got2[0]
                );
            }
        }
    }
}

#[test]
fn ieee_rules_f32() {
    ieee_rules::<f32>();
}

#[test]
fn ieee_rules_f64() {
    ieee_rules::<f64>();
}

/// `cauchy_reduce` of one element (its own path): the SUM and the MEAN are the value, exactly
/// (-0 sums to +0, as in a longer sum; NaN stays NaN), whatever the descriptor says of the
/// element's place (no dimensions, or sizes 1 with or without strides): every input of the
/// element-wise table, subnormals, the largest floats and infinities among them.
fn one_element_reduce<T: Float>() {
    let cases = cases::<T>();
    let values = cases.iter().flat_map(|c| [c.x, c.y, c.g]);
    let values =
        values.chain([0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN].map(T::from_f64));
    let (shape, strides) = ([1i64; 3], [-5i64, 0, 1 << 40]);
    let descs = [
        Desc { ndim: 0, shape: null(), strides: null() },
        Desc { ndim: 3, shape: shape.as_ptr(), strides: null() },
        Desc { ndim: 3, shape: shape.as_ptr(), strides: strides.as_ptr() },
    ];
    let mut checked = 0;
    for v in values {
        let want = if v.bits64() == T::from_f64(-0.0).bits64() { T::default() } else { v };
        for (reduction, desc) in
            [SUM, MEAN].into_iter().flat_map(|r| descs.iter().map(move |d| (r, d)))
        {
            let (x, mut out) = ([v], T::from_f64(7.0));
            // SAFETY: one readable element at `x`, however the descriptor places it; `out` is one.
            ok(unsafe { T::REDUCE(x.as_ptr(), desc, reduction, &mut out) }, "cauchy_reduce");
            assert!(same(out, want), "{}: reduce({reduction}) of {v:e} gave {out:e}", T::NAME);
            checked += 1;
        }
    }
    println!("{}: {checked} one-element reductions are their value", T::NAME);
}

#[test]
fn one_element_reduce_f32() {
    one_element_reduce::<f32>();
}

#[test]
fn one_element_reduce_f64() {
    one_element_reduce::<f64>();
}

/// Empty tensors: NONE and backward write nothing, SUM is +0, MEAN is NaN.
fn empty<T: Float>() {
    let sentinel = T::from_f64(7.0);
    for shape in [&[0i64][..], &[3, 0, 2]] {
        let desc = Desc { ndim: shape.len(), shape: shape.as_ptr(), strides: null() };
        let data = [T::default()];
        let call = |reduction: i32| {
            let (mut out, mut grad1, mut grad2) = ([sentinel], [sentinel], [sentinel]);
            let (p, d, c) = (data.as_ptr(), &desc as *const Desc, null());
            let (g1, g2) = (grad1.as_mut_ptr(), grad2.as_mut_ptr());
            // SAFETY: no element is addressed; every pointer is valid for one element anyway.
            unsafe {
                ok(T::LOSS(p, d, p, d, reduction, out.as_mut_ptr(), c), "cauchy_loss");
                ok(T::BACKWARD(p, d, p, d, reduction, p, c, g1, c, g2, c), "backward");
            }
            assert_eq!(
                [grad1[0].bits64(), grad2[0].bits64()],
                [sentinel.bits64(); 2],
                "backward wrote to an empty gradient"
            );
            let mut reduced = sentinel;
            if reduction != NONE {
                // SAFETY: as above.
                ok(unsafe { T::REDUCE(p, d, reduction, &mut reduced) }, "cauchy_reduce");
            }
            [out[0], reduced]
        };
        assert_eq!(
            call(NONE)[0].bits64(),
            sentinel.bits64(),
            "{shape:?}: NONE wrote to an empty output"
        );
        for v in call(SUM) {
            assert_eq!(v.bits64(), 0, "{shape:?}: SUM of nothing is +0, got {v:e}");
        }
        for v in call(MEAN) {
            assert!(v.is_nan(), "{shape:?}: MEAN of nothing is NaN, got {v:e}");
        }
    }
}

#[test]
fn empty_f32() {
    empty::<f32>();
}

#[test]
fn empty_f64() {
    empty::<f64>();
}

/// Flush-to-zero and denormals-are-zero set by the host change no result: every table case
/// (the subnormal ones among them) gives the same bits as in the default environment.
#[cfg(target_arch = "x86_64")]
#[test]
fn flush_to_zero_changes_nothing() {
    use std::arch::asm;
    const FTZ_DAZ: u32 = 0x8040;
    fn mxcsr() -> u32 {
        let mut v = 0u32;
        // SAFETY: stmxcsr stores MXCSR to `v`.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags)) };
        v
    }
    fn set_mxcsr(v: u32) {
        // SAFETY: ldmxcsr loads MXCSR from `v`, a value read from MXCSR with FTZ/DAZ added.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, preserves_flags)) };
    }
    /// Restores the saved MXCSR when dropped, even when an assertion fails.
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_mxcsr(self.0);
        }
    }

    /// The inputs, prepared before FTZ/DAZ is set (the test's own arithmetic would flush).
    struct Inputs<T> {
        x: Vec<T>,
        y: Vec<T>,
        g: Vec<T>,
        subnormal_x: Vec<T>,
    }
    fn inputs<T: Float>() -> Inputs<T> {
        let cases = cases::<T>();
        let column = |f: fn(&Case<T>) -> T| cases.iter().map(f).collect::<Vec<T>>();
        let x = column(|c| c.x);
        let subnormal_x = x.iter().copied().filter(|v| v.is_subnormal()).collect();
        Inputs { y: column(|c| c.y), g: column(|c| c.g), subnormal_x, x }
    }
    /// The bits of every result: forward, fused and backward calls, reductions included.
    fn outputs<T: Float>(i: &Inputs<T>) -> Vec<u64> {
        let n = i.x.len();
        let mut out = forward(&i.x, &i.y, n, NONE);
        for reduction in [NONE, SUM, MEAN] {
            out.extend(gradients(&i.x, &i.y, n, reduction, None).concat());
        }
        out.extend(gradients(&i.x, &i.y, n, NONE, Some(&i.g)).concat());
        out.extend(gradients(&i.x, &i.y, n, MEAN, Some(&i.g[..1])).concat());
        for reduction in [SUM, MEAN] {
            out.extend([
                reduce(&i.x, reduction),
                reduce(&i.subnormal_x, reduction),
                reduce(&i.subnormal_x[..1], reduction), // one element: its own path
                reduce(&i.g, reduction),
            ]);
        }
        out.into_iter().map(T::bits64).collect()
    }

    let (single, double) = (inputs::<f32>(), inputs::<f64>());
    assert!(!single.subnormal_x.is_empty() && !double.subnormal_x.is_empty());
    let default_env = (outputs(&single), outputs(&double));
    let flushed = {
        let _restore = Restore(mxcsr());
        set_mxcsr(mxcsr() | FTZ_DAZ);
        assert_eq!(std::hint::black_box(f64::MIN_POSITIVE) / 4.0, 0.0, "FTZ is not in effect");
        let results = (outputs(&single), outputs(&double));
        assert_eq!(mxcsr() & FTZ_DAZ, FTZ_DAZ, "the library did not restore the caller's MXCSR");
        results
    };
    assert!(default_env.0 == flushed.0, "f32 results change under FTZ/DAZ");
    assert!(default_env.1 == flushed.1, "f64 results change under FTZ/DAZ");
    println!("FTZ/DAZ: {} f32 and {} f64 results bit-identical", flushed.0.len(), flushed.1.len());
}

/// The whole suite again on every kernel path this CPU has, each forced with `CAUCHY_KERNEL`
/// in a child process running this test binary; the child checks that its path is in use.
#[test]
fn every_kernel_path() {
    if let Ok(forced) = std::env::var("CAUCHY_KERNEL") {
        assert_eq!(paths::path_in_use(), forced, "forced kernel path not in use");
        return;
    }
    for path in paths::kernel_paths() {
        let summary = paths::rerun_on(path, "", "elementwise_f32");
        println!("kernel path {path}: {summary}");
    }
}
