//! Every function on many layouts, element by element against the plain reference.
//!
//! Layouts: ndim 0 (NULL shape), 1, 2, 4 and 64 (size-1 dimensions with strides the library
//! must ignore), contiguous (NULL and explicit strides), transposed, flipped, sliced, expanded
//! inputs and mixes, per operand; sizes around the 16384-element block and past the pool's
//! threshold. Outputs live in sentinel-padded buffers: every element outside the described view
//! must stay untouched. Also in-place exact aliases, empty tensors and one-element descriptors.
//!
//! Tolerances: element results within `Float::ULP` of the reference rounded to the type (1 for
//! f32; 4 for f64, the library's 2 plus the plain f64 reference's own error); loss SUM / MEAN
//! within `Float::SUM_RTOL` relative of the reference sum (2^-23 for f32, 2^-46 for f64);
//! `cauchy_reduce` within `SUM_RTOL * sum(|x_i|)`.

mod common;

use cauchy::{
    CauchyStatus, CauchyTensorDesc, CAUCHY_REDUCTION_MEAN as MEAN, CAUCHY_REDUCTION_NONE as NONE,
    CAUCHY_REDUCTION_SUM as SUM,
};
use common::paths;
use common::reference;
use common::tensors::{contiguous, odd_unit_strides, ok, strides_in_order, Float, Rng, View};
use std::ptr::{null, null_mut};

/// How one operand is laid out.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// NULL strides.
    Null,
    Contiguous,
    /// Dimensions stored in reverse order.
    Transposed,
    /// Negative strides on every other dimension.
    Flipped,
    /// Every other element.
    Sliced,
    /// Stride 0 on the last dimension of size > 1 (an input broadcast along it).
    Expanded,
    /// Transposed, every third element, the first dimension flipped.
    Mixed,
}

const INPUT_KINDS: [Kind; 7] = [
    Kind::Null,
    Kind::Contiguous,
    Kind::Transposed,
    Kind::Flipped,
    Kind::Sliced,
    Kind::Expanded,
    Kind::Mixed,
];
/// Outputs may not repeat elements, so no `Expanded`.
const OUTPUT_KINDS: [Kind; 6] =
    [Kind::Null, Kind::Contiguous, Kind::Transposed, Kind::Flipped, Kind::Sliced, Kind::Mixed];

fn strides(shape: &[i64], kind: Kind) -> Option<Vec<i64>> {
    let n = shape.len();
    let forward: Vec<usize> = (0..n).collect();
    let reverse: Vec<usize> = (0..n).rev().collect();
    let mut s = match kind {
        Kind::Null => return None,
        Kind::Contiguous | Kind::Flipped | Kind::Expanded => contiguous(shape),
        Kind::Transposed => strides_in_order(shape, &reverse, 1),
        Kind::Sliced => strides_in_order(shape, &forward, 2),
        Kind::Mixed => strides_in_order(shape, &reverse, 3),
    };
    let big: Vec<usize> = (0..n).filter(|&d| shape[d] > 1).collect();
    match kind {
        Kind::Flipped => big.iter().step_by(2).for_each(|&d| s[d] = -s[d]),
        Kind::Mixed => big.iter().take(1).for_each(|&d| s[d] = -s[d]),
        Kind::Expanded => big.iter().last().into_iter().for_each(|&d| s[d] = 0),
        _ => {}
    }
    Some(odd_unit_strides(shape, s))
}

fn view<T: Float>(shape: &[i64], kind: Kind, fill: impl FnMut() -> T) -> View<T> {
    View::new(shape, strides(shape, kind).as_deref(), fill)
}

fn output<T: Float>(shape: &[i64], kind: Kind) -> View<T> {
    View::output(shape, strides(shape, kind).as_deref())
}

/// The layouts of every operand of one case.
#[derive(Clone, Copy, Debug)]
struct Layouts {
    img1: Kind,
    img2: Kind,
    grad_out: Kind,
    out: Kind,
    grad1: Kind,
    grad2: Kind,
}

/// Panics unless each element is within `T::ULP` of the reference value rounded to `T`.
fn assert_elements<T: Float>(what: &str, got: &[T], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let d = T::ulp(g, T::from_f64(w));
        assert!(d <= T::ULP, "{what}: element {i}: got {g:?}, reference {w:e} ({d} ULP)");
    }
}

fn assert_sum_close<T: Float>(what: &str, got: T, want: f64, scale: f64) {
    let err = (got.to_f64() - want).abs();
    assert!(err <= T::SUM_RTOL * scale, "{what}: got {got:?}, reference {want:e}");
}

fn assert_bits<T: Float>(what: &str, got: &[T], want: &[T]) {
    let bits = |v: &[T]| v.iter().map(|x| x.bits()).collect::<Vec<_>>();
    assert_eq!(bits(got), bits(want), "{what}: not bit-identical");
}

static ONE_SHAPE: [i64; 3] = [1, 1, 1];
static ONE_STRIDES: [i64; 3] = [5, -3, 0];

/// The one-element descriptors a MEAN / SUM `out` or `grad_out` may have: NULL, a scalar, and
/// [1, 1, 1] with strides that must be ignored.
fn one_element_descs() -> [Option<CauchyTensorDesc>; 3] {
    let scalar = CauchyTensorDesc { ndim: 0, shape: null(), strides: null() };
    let ones =
        CauchyTensorDesc { ndim: 3, shape: ONE_SHAPE.as_ptr(), strides: ONE_STRIDES.as_ptr() };
    [None, Some(scalar), Some(ones)]
}

fn desc_ptr(d: &Option<CauchyTensorDesc>) -> *const CauchyTensorDesc {
    d.as_ref().map_or(null(), |d| d)
}

/// Run `call` with a one-element output under every one-element descriptor; they must agree
/// bit for bit and write only that element. Returns it.
fn one_element<T: Float>(
    what: &str,
    call: impl Fn(*mut T, *const CauchyTensorDesc) -> CauchyStatus,
) -> T {
    let results: Vec<T> = one_element_descs()
        .iter()
        .map(|d| {
            let mut cell = [T::sentinel(); 3];
            ok(call(&mut cell[1], desc_ptr(d)), what);
            assert_eq!([cell[0].bits(), cell[2].bits()], [T::sentinel().bits(); 2], "{what}");
            cell[1]
        })
        .collect();
    assert_bits(what, &results, &[results[0]; 3]);
    results[0]
}

/// The results of one backward or fused call: the gradient views after the call.
struct Grads<T> {
    g1: View<T>,
    g2: View<T>,
}

impl<T: Float> Grads<T> {
    fn new(shape: &[i64], l: &Layouts) -> Grads<T> {
        Grads { g1: output(shape, l.grad1), g2: output(shape, l.grad2) }
    }

    /// Check against the reference gradients; grad_img2 must be the exact negation.
    fn check(&self, what: &str, want: &[f64]) {
        let g1 = self.g1.values();
        assert_elements(&format!("{what} grad_img1"), &g1, want);
        let neg: Vec<T> = g1.iter().map(|&v| -v).collect();
        assert_bits(&format!("{what} grad_img2 = -grad_img1"), &self.g2.values(), &neg);
        self.g1.assert_outside_untouched(&format!("{what} grad_img1"));
        self.g2.assert_outside_untouched(&format!("{what} grad_img2"));
    }
}

/// Check every function and reduction on one shape with the layouts `l`.
fn check_case<T: Float>(shape: &[i64], l: Layouts, rng: &mut Rng) {
    let what = format!("{} {shape:?} {l:?}", T::NAME);
    let x = view::<T>(shape, l.img1, || rng.value(-4.0, 4.0));
    let y = view::<T>(shape, l.img2, || rng.value(-4.0, 4.0));
    let g = view::<T>(shape, l.grad_out, || rng.value(-2.0, 2.0));
    let (xs, ys, gs) = (x.values(), y.values(), g.values());
    let n = xs.len() as f64;
    let pairs = || xs.iter().zip(&ys).map(|(&a, &b)| (a, b));
    let losses: Vec<f64> = pairs().map(|(a, b)| T::ref_loss(a, b)).collect();
    let total = reference::sum(losses.iter().copied());
    let (xp, xd, yp, yd) = (x.ptr(), x.desc(), y.ptr(), y.desc());

    // Forward.
    let mut out = output::<T>(shape, l.out);
    ok(unsafe { T::LOSS(xp, xd, yp, yd, NONE, out.ptr_mut(), out.desc()) }, &what);
    assert_elements(&format!("{what} loss NONE"), &out.values(), &losses);
    out.assert_outside_untouched(&format!("{what} loss NONE"));
    let mut reduced = vec![];
    for (red, want) in [(MEAN, total / n), (SUM, total)] {
        let w = format!("{what} loss reduction {red}");
        let got = one_element::<T>(&w, |o, od| unsafe { T::LOSS(xp, xd, yp, yd, red, o, od) });
        assert_sum_close(&w, got, want, want);
        reduced.push(got);
    }

    // Backward with a tensor upstream gradient, then with a one-element one.
    let backward = |red, g: *const T, gd, w: &str| {
        let mut gr = Grads::<T>::new(shape, &l);
        let (g1, g2) = (gr.g1.ptr_mut(), gr.g2.ptr_mut());
        let status =
            unsafe { T::BACKWARD(xp, xd, yp, yd, red, g, gd, g1, gr.g1.desc(), g2, gr.g2.desc()) };
        ok(status, w);
        gr
    };
    let want: Vec<f64> = pairs().zip(&gs).map(|((a, b), &gv)| T::ref_grad(a, b, gv)).collect();
    let w = format!("{what} backward NONE");
    backward(NONE, g.ptr(), g.desc(), &w).check(&w, &want);
    let upstream = T::from_f64(-0.75);
    for (red, factor) in [(MEAN, n), (SUM, 1.0)] {
        let want: Vec<f64> = pairs().map(|(a, b)| T::ref_grad(a, b, upstream) / factor).collect();
        for d in one_element_descs() {
            let w = format!("{what} backward reduction {red} grad_out {d:?}");
            backward(red, &upstream, desc_ptr(&d), &w).check(&w, &want);
        }
    }

    // Fused: bit for bit the forward call plus the backward call with upstream gradient 1.
    let (ones, one) = (vec![T::from_f64(1.0); xs.len()], T::from_f64(1.0));
    for red in [NONE, MEAN, SUM] {
        let w = format!("{what} fused reduction {red}");
        let back = backward(red, if red == NONE { ones.as_ptr() } else { &one }, null(), &w);
        let mut fused = Grads::<T>::new(shape, &l);
        let (g1, g2) = (fused.g1.ptr_mut(), fused.g2.ptr_mut());
        let (g1d, g2d) = (fused.g1.desc(), fused.g2.desc());
        let call = |o, od| unsafe { T::FUSED(xp, xd, yp, yd, red, o, od, g1, g1d, g2, g2d) };
        if red == NONE {
            let mut fout = output::<T>(shape, l.out);
            ok(call(fout.ptr_mut(), fout.desc()), &w);
            assert_bits(&format!("{w} loss"), &fout.values(), &out.values());
            fout.assert_outside_untouched(&w);
        } else {
            let got = one_element::<T>(&w, call);
            assert_bits(&format!("{w} loss"), &[got], &[reduced[(red == SUM) as usize]]);
        }
        assert_bits(&format!("{w} grad_img1"), &fused.g1.values(), &back.g1.values());
        assert_bits(&format!("{w} grad_img2"), &fused.g2.values(), &back.g2.values());
        fused.g1.assert_outside_untouched(&w);
        fused.g2.assert_outside_untouched(&w);
    }

    // cauchy_reduce over img1's view.
    let sum = reference::sum(xs.iter().map(|v| v.to_f64()));
    let scale = reference::sum(xs.iter().map(|v| v.to_f64().abs()));
    for (red, want, scale) in [(MEAN, sum / n, scale / n), (SUM, sum, scale)] {
        let mut got = T::sentinel();
        ok(unsafe { T::REDUCE(xp, xd, red, &mut got) }, &what);
        assert_sum_close(&format!("{what} reduce {red}"), got, want, scale);
    }
}

/// 64 dimensions, mostly of size 1, with a few of size 2 and 3 (36 elements).
fn shape64() -> Vec<i64> {
    (0..64)
        .map(|d| match d {
            5 | 40 => 2,
            17 | 63 => 3,
            _ => 1,
        })
        .collect()
}

/// Every combination of input layouts, each with every output layout, on small shapes.
fn small_shapes<T: Float>() {
    let mut rng = Rng(1);
    for shape in [vec![], vec![7], vec![5, 6], vec![2, 3, 1, 4], shape64()] {
        for (i, &img1) in INPUT_KINDS.iter().enumerate() {
            for &img2 in &INPUT_KINDS {
                for (j, &out) in OUTPUT_KINDS.iter().enumerate() {
                    let l = Layouts {
                        img1,
                        img2,
                        grad_out: INPUT_KINDS[(i + j) % INPUT_KINDS.len()],
                        out,
                        grad1: out,
                        grad2: OUTPUT_KINDS[(i + j + 1) % OUTPUT_KINDS.len()],
                    };
                    check_case::<T>(&shape, l, &mut rng);
                }
            }
        }
    }
}

#[test]
fn small_shapes_f32() {
    small_shapes::<f32>();
}

#[test]
fn small_shapes_f64() {
    small_shapes::<f64>();
}

/// Sizes around the block size (16384), past the pool's threshold (65536) and past the
/// element-wise block (262144, so that blocks cut runs and tiles get short runs), with a few
/// layout mixes each, one of them the transposed-inputs case the tiles are for.
fn large_shapes<T: Float>() {
    use Kind::*;
    let mut rng = Rng(2);
    let mixes = [
        Layouts { img1: Null, img2: Null, grad_out: Null, out: Null, grad1: Null, grad2: Null },
        Layouts {
            img1: Mixed,
            img2: Expanded,
            grad_out: Flipped,
            out: Sliced,
            grad1: Transposed,
            grad2: Mixed,
        },
        Layouts {
            img1: Transposed,
            img2: Flipped,
            grad_out: Expanded,
            out: Mixed,
            grad1: Flipped,
            grad2: Sliced,
        },
        Layouts {
            img1: Transposed,
            img2: Transposed,
            grad_out: Null,
            out: Null,
            grad1: Contiguous,
            grad2: Transposed,
        },
    ];
    let shapes: [&[i64]; 9] = [
        &[16383],
        &[16384],
        &[16385],
        &[2, 16385],
        &[128, 128],
        &[257, 263],
        &[3, 1, 151, 149],
        &[300, 1001],
        &[4099, 70],
    ];
    for shape in shapes {
        for l in mixes {
            check_case::<T>(shape, l, &mut rng);
        }
    }
}

#[test]
fn large_shapes_f32() {
    large_shapes::<f32>();
}

#[test]
fn large_shapes_f64() {
    large_shapes::<f64>();
}

/// Exact aliases (an output with the very pointer and layout of an input) give the
/// out-of-place results bit for bit, on contiguous and strided layouts, below and above the
/// pool's threshold.
fn in_place<T: Float>() {
    use Kind::*;
    let mut rng = Rng(3);
    let shapes: [&[i64]; 2] = [&[6, 7], &[257, 263]];
    for shape in shapes {
        for (k1, k2) in [(Null, Null), (Mixed, Flipped), (Sliced, Transposed)] {
            let what = format!("{} {shape:?} img1 {k1:?} img2 {k2:?}", T::NAME);
            let x = view::<T>(shape, k1, || rng.value(-4.0, 4.0));
            let y = view::<T>(shape, k2, || rng.value(-4.0, 4.0));
            let g = view::<T>(shape, k1, || rng.value(-2.0, 2.0));
            let half = T::from_f64(0.5);
            // Out of place: the loss, and the gradients for a NONE and a SUM upstream gradient.
            let mut out = output::<T>(shape, Null);
            ok(
                unsafe {
                    T::LOSS(x.ptr(), x.desc(), y.ptr(), y.desc(), NONE, out.ptr_mut(), null())
                },
                &what,
            );
            let grads = |red, gp: *const T, gd| {
                let (mut g1, mut g2) = (output::<T>(shape, Null), output::<T>(shape, Null));
                let status = unsafe {
                    T::BACKWARD(
                        x.ptr(),
                        x.desc(),
                        y.ptr(),
                        y.desc(),
                        red,
                        gp,
                        gd,
                        g1.ptr_mut(),
                        null(),
                        g2.ptr_mut(),
                        null(),
                    )
                };
                ok(status, &what);
                (g1.values(), g2.values())
            };
            let (g1_none, g2_none) = grads(NONE, g.ptr(), g.desc());
            let (g1_sum, g2_sum) = grads(SUM, &half, null());
            let (g1_one, g2_one) = grads(MEAN, &T::from_f64(1.0), null());

            for (alias_y, name) in [(false, "out = img1"), (true, "out = img2")] {
                let (mut a, mut b) = (x.copy(), y.copy());
                let o = if alias_y { (b.ptr_mut(), b.desc()) } else { (a.ptr_mut(), a.desc()) };
                ok(unsafe { T::LOSS(a.ptr(), a.desc(), b.ptr(), b.desc(), NONE, o.0, o.1) }, &what);
                assert_bits(
                    &format!("{what} {name}"),
                    &if alias_y { b } else { a }.values(),
                    &out.values(),
                );
            }
            for (red, gp, gd, want1, want2) in [
                (NONE, g.ptr(), g.desc(), &g1_none, &g2_none),
                (SUM, &half as *const T, null(), &g1_sum, &g2_sum),
            ] {
                let (mut a, mut b) = (x.copy(), y.copy());
                let (ap, bp) = (a.ptr_mut(), b.ptr_mut());
                let status = unsafe {
                    T::BACKWARD(ap, a.desc(), bp, b.desc(), red, gp, gd, ap, a.desc(), bp, b.desc())
                };
                ok(status, &what);
                let w = format!("{what} reduction {red} grad_img1 = img1, grad_img2 = img2");
                assert_bits(&w, &a.values(), want1);
                assert_bits(&w, &b.values(), want2);
            }
            let mut c = g.copy();
            let mut g2 = output::<T>(shape, Null);
            let cp = c.ptr_mut();
            let status = unsafe {
                T::BACKWARD(
                    x.ptr(),
                    x.desc(),
                    y.ptr(),
                    y.desc(),
                    NONE,
                    cp,
                    c.desc(),
                    cp,
                    c.desc(),
                    g2.ptr_mut(),
                    null(),
                )
            };
            ok(status, &what);
            assert_bits(&format!("{what} grad_img1 = grad_out"), &c.values(), &g1_none);
            assert_bits(&format!("{what} grad_img1 = grad_out, grad_img2"), &g2.values(), &g2_none);

            // Fused: out = img1 with grad_img2 = img2 (NONE); grad_img1 = img1, grad_img2 = img2 (MEAN).
            let (mut a, mut b) = (x.copy(), y.copy());
            let mut g1 = output::<T>(shape, Null);
            let (ap, bp) = (a.ptr_mut(), b.ptr_mut());
            let status = unsafe {
                T::FUSED(
                    ap,
                    a.desc(),
                    bp,
                    b.desc(),
                    NONE,
                    ap,
                    a.desc(),
                    g1.ptr_mut(),
                    null(),
                    bp,
                    b.desc(),
                )
            };
            ok(status, &what);
            let ones = vec![T::from_f64(1.0); x.numel()];
            let (g1_ones, g2_ones) = grads(NONE, ones.as_ptr(), null());
            let w = format!("{what} fused NONE out = img1, grad_img2 = img2");
            assert_bits(&w, &a.values(), &out.values());
            assert_bits(&w, &g1.values(), &g1_ones);
            assert_bits(&w, &b.values(), &g2_ones);
            let (mut a, mut b) = (x.copy(), y.copy());
            let mut mean = T::sentinel();
            let (ap, bp) = (a.ptr_mut(), b.ptr_mut());
            let status = unsafe {
                T::FUSED(
                    ap,
                    a.desc(),
                    bp,
                    b.desc(),
                    MEAN,
                    &mut mean,
                    null(),
                    ap,
                    a.desc(),
                    bp,
                    b.desc(),
                )
            };
            ok(status, &what);
            let w = format!("{what} fused MEAN grad_img1 = img1, grad_img2 = img2");
            assert_bits(&w, &a.values(), &g1_one);
            assert_bits(&w, &b.values(), &g2_one);
        }
    }
}

#[test]
fn in_place_f32() {
    in_place::<f32>();
}

#[test]
fn in_place_f64() {
    in_place::<f64>();
}

/// Empty tensors, whatever the other sizes (huge ones included) and with NULL data pointers:
/// NONE and backward write nothing, SUM gives +0 and MEAN NaN.
fn empty<T: Float>() {
    let huge = 1i64 << 40;
    let layouts: [(&[i64], Option<&[i64]>); 5] = [
        (&[0], None),
        (&[0, huge], None),
        (&[huge, 0], Some(&[huge, 1])),
        (&[3, 0, 5], Some(&[-7, 0, 2])),
        (&[2, 3, 0], Some(&[i64::MAX, i64::MIN, 1])),
    ];
    for (shape, strides) in layouts {
        let what = format!("{} empty {shape:?} strides {strides:?}", T::NAME);
        let desc = CauchyTensorDesc {
            ndim: shape.len(),
            shape: shape.as_ptr(),
            strides: strides.map_or(null(), |s| s.as_ptr()),
        };
        let d: *const CauchyTensorDesc = &desc;
        let one = T::from_f64(1.0);
        // Every output a sentinel cell (non-NULL, so that a stray write would show).
        let mut cells = [T::sentinel(); 3];
        let [o, g1, g2] = cells.each_mut().map(|c| c as *mut T);
        let untouched = |cells: &[T; 3], w: &str| {
            assert_eq!(cells.map(|c| c.bits()), [T::sentinel().bits(); 3], "{what}: {w} wrote");
        };
        // SAFETY (all calls): descriptors describe no element; cells are valid for one.
        unsafe {
            ok(T::LOSS(null(), d, null(), d, NONE, o, d), &what);
            ok(T::LOSS(null(), d, null(), d, NONE, null_mut(), null()), &what);
            ok(T::BACKWARD(null(), d, null(), d, NONE, null(), d, g1, d, g2, d), &what);
            for red in [MEAN, SUM] {
                ok(T::BACKWARD(null(), d, null(), d, red, &one, null(), g1, d, g2, d), &what);
            }
            ok(T::FUSED(null(), d, null(), d, NONE, o, d, g1, d, g2, d), &what);
            untouched(&cells, "NONE / backward");
            for red in [MEAN, SUM] {
                let mut results = vec![];
                ok(T::LOSS(null(), d, null(), d, red, o, null()), &what);
                results.push(*o);
                ok(T::FUSED(null(), d, null(), d, red, o, null(), g1, d, g2, d), &what);
                results.push(*o);
                ok(T::REDUCE(null(), d, red, o), &what);
                results.push(*o);
                *o = T::sentinel();
                untouched(&cells, "fused");
                for r in results {
                    if red == SUM {
                        assert_eq!(r.bits(), 0, "{what}: SUM gave {r:?}, not +0");
                    } else {
                        assert!(r.to_f64().is_nan(), "{what}: MEAN gave {r:?}, not NaN");
                    }
                }
            }
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

/// Backward and the fused MEAN with one gradient skipped (a NULL pointer) over several blocks:
/// the other is the one the full backward call gives, bit for bit, and nothing else is
/// written.
fn skipped_gradient<T: Float>() {
    let n = 2 * 16 * 16384 + 7; // past the element-wise block (16 x 16384)
    let shape = [n as i64];
    let d = CauchyTensorDesc { ndim: 1, shape: shape.as_ptr(), strides: null() };
    let mut rng = Rng(7);
    let x: Vec<T> = (0..n).map(|_| rng.value::<T>(-9.0, 9.0)).collect();
    let y: Vec<T> = (0..n).map(|_| rng.value::<T>(-3.0, 3.0)).collect();
    let g: Vec<T> = (0..n).map(|_| rng.value::<T>(-3.0, 3.0)).collect();
    let (xp, yp, gp) = (x.as_ptr(), y.as_ptr(), g.as_ptr());
    let mut full = [vec![T::sentinel(); n], vec![T::sentinel(); n]];
    let [f1, f2] = &mut full;
    ok(
        unsafe {
            T::BACKWARD(xp, &d, yp, &d, NONE, gp, &d, f1.as_mut_ptr(), &d, f2.as_mut_ptr(), &d)
        },
        "full",
    );
    for skip in [0, 1] {
        let mut only = vec![T::sentinel(); n];
        let (o, none) = (only.as_mut_ptr(), null_mut());
        let (g1, g2) = if skip == 0 { (none, o) } else { (o, none) };
        ok(unsafe { T::BACKWARD(xp, &d, yp, &d, NONE, gp, &d, g1, &d, g2, &d) }, "one gradient");
        assert_bits(&format!("{} grad_img{} alone", T::NAME, 2 - skip), &only, &full[1 - skip]);
    }
    // The fused MEAN (whose contiguous spans write the gradients in the sum's loop): the
    // backward MEAN's gradients for an upstream 1 and the forward MEAN, with each gradient
    // skipped in turn and with both.
    let (one, mut mean) = (T::from_f64(1.0), T::sentinel());
    let [f1, f2] = &mut full;
    let (p1, p2) = (f1.as_mut_ptr(), f2.as_mut_ptr());
    ok(unsafe { T::BACKWARD(xp, &d, yp, &d, MEAN, &one, null(), p1, &d, p2, &d) }, "backward");
    ok(unsafe { T::LOSS(xp, &d, yp, &d, MEAN, &mut mean, null()) }, "forward");
    for skip in [0, 1, 2] {
        let mut bufs = [vec![T::sentinel(); n], vec![T::sentinel(); n]];
        let ptrs = bufs.each_mut().map(|b| b.as_mut_ptr());
        let [g1, g2] = [0, 1].map(|k| if k == skip { null_mut() } else { ptrs[k] });
        let mut got = T::sentinel();
        ok(unsafe { T::FUSED(xp, &d, yp, &d, MEAN, &mut got, null(), g1, &d, g2, &d) }, "fused");
        let what = format!("{} fused, grad_img{} skipped", T::NAME, skip + 1);
        assert_bits(&format!("{what}: mean"), &[got], &[mean]);
        for k in [0, 1] {
            let want = if k == skip { vec![T::sentinel(); n] } else { full[k].clone() };
            assert_bits(&format!("{what}: grad_img{}", k + 1), &bufs[k], &want);
        }
    }
}

#[test]
fn skipped_gradient_f32() {
    skipped_gradient::<f32>();
}

#[test]
fn skipped_gradient_f64() {
    skipped_gradient::<f64>();
}

/// Elements a buffer needs beyond its contents for [`line_offset`]: a cache line's worth.
const LINE_SLACK: usize = 16;

/// The index of the element of `buf` that lies `bytes` past a 64-byte boundary (a cache line,
/// the widest non-temporal store's alignment).
fn line_offset<T>(buf: &[T], bytes: usize) -> usize {
    let size = std::mem::size_of::<T>();
    assert!(bytes.is_multiple_of(size) && bytes < 64);
    buf.as_ptr().align_offset(64) + bytes / size
}

/// The output alignments the non-temporal stores tell apart, in bytes past a cache line: none
/// (64-byte stores), 16, 32 and 48 (narrower stores, or a head written plainly up to the next
/// line), and one element (16-byte aligned nowhere: not streamed).
fn line_offsets<T>() -> [usize; 5] {
    [0, 16, 32, 48, std::mem::size_of::<T>()]
}

/// Backward calls of 4 MiB per output and more, whose contiguous outputs are written by
/// non-temporal stores where they allow it: the bits of the same data in a strided view, with
/// both gradients and each alone, with the outputs at each alignment the stores tell apart
/// (as [`line_offsets`]; the same for both, or not), and in place; nothing around the outputs
/// is written.
fn large_backward_matches_strided<T: Float>() {
    let n = (1 << 22) / std::mem::size_of::<T>() + 77; // past the threshold; a partial piece
    let shape = [n as i64];
    let d = CauchyTensorDesc { ndim: 1, shape: shape.as_ptr(), strides: null() };
    let mut rng = Rng(11);
    let values: Vec<[T; 3]> = (0..n)
        .map(|_| [rng.value(-4.0, 4.0), rng.value(-4.0, 4.0), rng.value(-2.0, 2.0)])
        .collect();
    let column = |k: usize| values.iter().map(|v| v[k]).collect::<Vec<T>>();
    let (mut x, y, mut g) = (column(0), column(1), column(2));
    // Rare pairs, which the float64 kernels redo apart: a residual beyond 2^500 (inf in
    // float32) every 997 elements, an infinite upstream gradient every 1009.
    x.iter_mut().step_by(997).for_each(|v| *v = T::from_f64(1e300));
    g.iter_mut().skip(5).step_by(1009).for_each(|v| *v = T::from_f64(f64::INFINITY));
    let half = T::from_f64(0.5);
    for red in [NONE, MEAN] {
        let (gp, gd) =
            if red == NONE { (g.as_ptr(), &d as *const _) } else { (&half as *const T, null()) };
        // The general walk: every operand every other element.
        let sliced = strides(&shape, Kind::Sliced);
        let view = |v: &[T]| View::of(&shape, sliced.as_deref(), v);
        let (xs, ys, gs) = (view(&x), view(&y), view(&g));
        let (mut w1, mut w2) = (output::<T>(&shape, Kind::Sliced), output(&shape, Kind::Sliced));
        let (sgp, sgd) = if red == NONE { (gs.ptr(), gs.desc()) } else { (gp, gd) };
        let status = unsafe {
            let (a, b) = (w1.desc(), w2.desc());
            T::BACKWARD(
                xs.ptr(),
                xs.desc(),
                ys.ptr(),
                ys.desc(),
                red,
                sgp,
                sgd,
                w1.ptr_mut(),
                a,
                w2.ptr_mut(),
                b,
            )
        };
        ok(status, "strided");
        let want = [w1.values(), w2.values()];
        let e = std::mem::size_of::<T>(); // one element off
        for (a1, a2) in [(0, 0), (16, 16), (32, 32), (e, e), (0, 32), (48, 0), (e, 2 * e)] {
            for (has1, has2) in [(true, true), (true, false), (false, true)] {
                let what = format!("{} red {red} bytes {a1}, {a2} outputs {has1}, {has2}", T::NAME);
                let mut bufs = [0; 2].map(|_| vec![T::sentinel(); n + 2 * LINE_SLACK]);
                let (o1, o2) = (line_offset(&bufs[0], a1), line_offset(&bufs[1], a2));
                let [b1, b2] = &mut bufs;
                let p1 = if has1 { b1[o1..].as_mut_ptr() } else { null_mut() };
                let p2 = if has2 { b2[o2..].as_mut_ptr() } else { null_mut() };
                let status = unsafe {
                    T::BACKWARD(x.as_ptr(), &d, y.as_ptr(), &d, red, gp, gd, p1, &d, p2, &d)
                };
                ok(status, &what);
                for (k, (buf, has, off)) in
                    [(&bufs[0], has1, o1), (&bufs[1], has2, o2)].into_iter().enumerate()
                {
                    let range = if has { off..off + n } else { 0..0 };
                    if has {
                        assert_bits(
                            &format!("{what}: grad_img{}", k + 1),
                            &buf[range.clone()],
                            &want[k],
                        );
                    }
                    let outside = buf.iter().enumerate().filter(|(i, _)| !range.contains(i));
                    for (i, v) in outside {
                        assert!(v.bits() == T::sentinel().bits(), "{what}: element {i} written");
                    }
                }
            }
        }
        // In place: grad_img1 over img1 itself.
        let (mut inplace, mut other) = (x.clone(), vec![T::sentinel(); n]);
        let status = unsafe {
            let (xp, op) = (inplace.as_mut_ptr(), other.as_mut_ptr());
            T::BACKWARD(xp, &d, y.as_ptr(), &d, red, gp, gd, xp, &d, op, &d)
        };
        ok(status, "in place");
        assert_bits(&format!("{} red {red} in place: grad_img1", T::NAME), &inplace, &want[0]);
        assert_bits(&format!("{} red {red} in place: grad_img2", T::NAME), &other, &want[1]);
    }
}

#[test]
fn large_backward_matches_strided_f32() {
    large_backward_matches_strided::<f32>();
}

#[test]
fn large_backward_matches_strided_f64() {
    large_backward_matches_strided::<f64>();
}

/// Every function on `n` elements in the layout `kind`: the bits of every result, in order.
fn all_results<T: Float>(n: i64, kind: Kind, values: &[[T; 3]]) -> Vec<u64> {
    let shape = [n];
    let strides = strides(&shape, kind);
    let operand = |k: usize| {
        View::of(&shape, strides.as_deref(), &values.iter().map(|v| v[k]).collect::<Vec<_>>())
    };
    let (x, y, g) = (operand(0), operand(1), operand(2));
    let (xp, xd, yp, yd) = (x.ptr(), x.desc(), y.ptr(), y.desc());
    let (mut out, mut g1, mut g2) =
        (output::<T>(&shape, kind), output(&shape, kind), output(&shape, kind));
    let mut bits = vec![];
    let mut keep = |views: &[&View<T>], one: T| {
        bits.extend(views.iter().flat_map(|v| v.values()).chain([one]).map(|v| v.bits()));
    };
    let upstream = T::from_f64(0.75);
    for red in [NONE, MEAN, SUM] {
        let mut one = T::sentinel();
        let (o, od) =
            if red == NONE { (out.ptr_mut(), out.desc()) } else { (&mut one as *mut T, null()) };
        ok(unsafe { T::LOSS(xp, xd, yp, yd, red, o, od) }, "loss");
        keep(&[&out], one);
        let (gp, gd) =
            if red == NONE { (g.ptr(), g.desc()) } else { (&upstream as *const T, null()) };
        let (g1p, g1d, g2p, g2d) = (g1.ptr_mut(), g1.desc(), g2.ptr_mut(), g2.desc());
        ok(unsafe { T::BACKWARD(xp, xd, yp, yd, red, gp, gd, g1p, g1d, g2p, g2d) }, "backward");
        keep(&[&g1, &g2], one);
        ok(unsafe { T::FUSED(xp, xd, yp, yd, red, o, od, g1p, g1d, g2p, g2d) }, "fused");
        keep(&[&out, &g1, &g2], one);
        if red != NONE {
            ok(unsafe { T::REDUCE(xp, xd, red, &mut one) }, "reduce");
            keep(&[], one);
        }
    }
    bits
}

/// Small contiguous calls (one run, stride 1, scratch buffers zeroed only as far as used,
/// sums of fewer elements than lanes) give the bits of the same data in a strided view (the
/// general walk): one element up to past a lane group and a chunk.
fn small_calls_match_strided<T: Float>() {
    let mut rng = Rng(3);
    for n in (1..=17).chain([63, 64, 65, 130]) {
        let values: Vec<[T; 3]> = (0..n)
            .map(|_| [rng.value(-4.0, 4.0), rng.value(-4.0, 4.0), rng.value(-2.0, 2.0)])
            .collect();
        let want = all_results::<T>(n, Kind::Sliced, &values);
        for kind in [Kind::Null, Kind::Contiguous, Kind::Flipped] {
            let got = all_results::<T>(n, kind, &values);
            assert!(got == want, "{} n = {n} {kind:?}: not bit-identical to Sliced", T::NAME);
        }
    }
}

/// Forward and fused calls of 4 MiB per output and more, whose contiguous outputs (loss
/// tensors and gradients alike) are written by non-temporal stores a whole chunk or group at a
/// time where they are 16-byte aligned, and whose contiguous sums read their inputs in place a
/// span at a time: the bits of the same data through strided views (which never stream, and
/// sum a chunk at a time), with the outputs at each alignment the stores tell apart
/// ([`line_offsets`]), and nothing around them written, and in place. One residual in 997 is
/// huge (`t` above the product lanes' limit), so that spans and chunks refuse the direct sum;
/// in float64 one in 4099 is beyond 2^500, so that gradients are redone.
fn large_calls_match_strided<T: Float>() {
    let n = (1 << 22) / std::mem::size_of::<T>() + 77; // past the threshold; a partial chunk
    let shape = [n as i64];
    let d = CauchyTensorDesc { ndim: 1, shape: shape.as_ptr(), strides: null() };
    let mut rng = Rng(5);
    let (mut x, y): (Vec<T>, Vec<T>) =
        (0..n).map(|_| (rng.value::<T>(-4.0, 4.0), rng.value::<T>(-4.0, 4.0))).unzip();
    x.iter_mut().step_by(997).for_each(|v| *v = T::from_f64(1e30));
    // In float64, residuals beyond 2^500 too, whose gradients are redone apart (from the
    // inputs, which an in-place call must not have overwritten yet); in float32 1e300 would
    // be inf, and every sum too.
    if T::from_f64(1e300).to_f64().is_finite() {
        x.iter_mut().skip(3).step_by(4099).for_each(|v| *v = T::from_f64(1e300));
    }
    let sliced = strides(&shape, Kind::Sliced);
    let (xs, ys) =
        (View::of(&shape, sliced.as_deref(), &x), View::of(&shape, sliced.as_deref(), &y));
    for red in [NONE, MEAN] {
        // Three outputs: the loss tensor (NONE) and the two gradients.
        let mut views = [0; 3].map(|_| output::<T>(&shape, Kind::Sliced));
        let mut one = T::sentinel();
        let [o, g1, g2] = &mut views;
        let (op, od) =
            if red == NONE { (o.ptr_mut(), o.desc()) } else { (&mut one as *mut T, null()) };
        let status = unsafe {
            let (g1d, g2d) = (g1.desc(), g2.desc());
            T::FUSED(
                xs.ptr(),
                xs.desc(),
                ys.ptr(),
                ys.desc(),
                red,
                op,
                od,
                g1.ptr_mut(),
                g1d,
                g2.ptr_mut(),
                g2d,
            )
        };
        ok(status, "strided");
        let want = views.each_ref().map(|v| v.values());
        let want_sum = one;
        for bytes in line_offsets::<T>() {
            let what = format!("{} red {red} bytes {bytes}", T::NAME);
            let mut bufs = [0; 3].map(|_| vec![T::sentinel(); n + 2 * LINE_SLACK]);
            let offs = bufs.each_ref().map(|b| line_offset(b, bytes));
            let [o, g1, g2] = [0, 1, 2].map(|k| bufs[k][offs[k]..].as_mut_ptr());
            let o = if red == NONE { o } else { &mut one as *mut T };
            let od = if red == NONE { &d as *const _ } else { null() };
            ok(
                unsafe { T::FUSED(x.as_ptr(), &d, y.as_ptr(), &d, red, o, od, g1, &d, g2, &d) },
                &what,
            );
            if red == MEAN {
                assert_bits(&format!("{what}: mean"), &[one], &[want_sum]);
            }
            let written = if red == NONE { 0..3 } else { 1..3 };
            for (k, (buf, off)) in bufs.iter().zip(offs).enumerate() {
                let range = if written.contains(&k) { off..off + n } else { 0..0 };
                if written.contains(&k) {
                    assert_bits(&format!("{what}: output {k}"), &buf[range.clone()], &want[k]);
                }
                let outside = buf.iter().enumerate().filter(|(i, _)| !range.contains(i));
                for (i, v) in outside {
                    assert!(
                        v.bits() == T::sentinel().bits(),
                        "{what}: output {k} element {i} written"
                    );
                }
            }
        }
        if red == MEAN {
            // In place, img1's buffer taking the first gradient (an exact alias): the spans
            // that refuse the direct sum must still read img1 as it was.
            let (mut xg, mut g2, mut mean) = (x.clone(), vec![T::sentinel(); n], T::sentinel());
            let p = xg.as_mut_ptr();
            let (yp, g2p) = (y.as_ptr(), g2.as_mut_ptr());
            ok(
                unsafe { T::FUSED(p, &d, yp, &d, MEAN, &mut mean, null(), p, &d, g2p, &d) },
                "in place",
            );
            let what = format!("{} in place", T::NAME);
            assert_bits(&format!("{what}: mean"), &[mean], &[want_sum]);
            assert_bits(&format!("{what}: grad1"), &xg, &want[1]);
            assert_bits(&format!("{what}: grad2"), &g2, &want[2]);
        }
        // The forward call alone, aligned.
        let mut buf = vec![T::sentinel(); if red == NONE { n } else { 1 }];
        let od = if red == NONE { &d as *const _ } else { null() };
        ok(unsafe { T::LOSS(x.as_ptr(), &d, y.as_ptr(), &d, red, buf.as_mut_ptr(), od) }, "loss");
        let want_loss = if red == NONE { &want[0][..] } else { &[want_sum][..] };
        assert_bits(&format!("{} loss red {red}", T::NAME), &buf, want_loss);
    }
}

/// Transposed inputs with contiguous outputs of 4 MiB and more, which the tile kernel writes a
/// row at a time, by non-temporal stores where a row is 16-byte aligned: the bits of the same
/// values from contiguous inputs, with the outputs at each of [`line_offsets`], and nothing
/// around them written.
fn large_transposed_matches_contiguous<T: Float>() {
    let side = if std::mem::size_of::<T>() == 4 { 1024 } else { 768 }; // 4 MiB, 4.5 MiB
    let n = side * side;
    let shape = [side as i64, side as i64];
    let (transposed, contiguous) = ([1, side as i64], None);
    let mut rng = Rng(7);
    let (x, y): (Vec<T>, Vec<T>) =
        (0..n).map(|_| (rng.value::<T>(-4.0, 4.0), rng.value::<T>(-4.0, 4.0))).unzip();
    let (xt, yt) = (View::of(&shape, contiguous, &x), View::of(&shape, contiguous, &y));
    // The same logical values through transposed strides: element [i, j] at j * side + i.
    let t = |v: &[T]| (0..n).map(|e| v[(e % side) * side + e / side]).collect::<Vec<T>>();
    let (xs, ys) = (t(&x), t(&y));
    let d = CauchyTensorDesc { ndim: 2, shape: shape.as_ptr(), strides: transposed.as_ptr() };
    let c = CauchyTensorDesc { ndim: 2, shape: shape.as_ptr(), strides: null() };
    for bytes in line_offsets::<T>() {
        let what = format!("{} bytes {bytes}", T::NAME);
        let mut bufs = [0; 3].map(|_| vec![T::sentinel(); n + 2 * LINE_SLACK]);
        let mut want = [0; 3].map(|_| vec![T::sentinel(); n]);
        let offs = bufs.each_ref().map(|b| line_offset(b, bytes));
        let [o, g1, g2] = [0, 1, 2].map(|k| bufs[k][offs[k]..].as_mut_ptr());
        let [wo, w1, w2] = want.each_mut().map(|b| b.as_mut_ptr());
        unsafe {
            ok(
                T::FUSED(xt.ptr(), xt.desc(), yt.ptr(), yt.desc(), NONE, wo, &c, w1, &c, w2, &c),
                &what,
            );
            ok(T::FUSED(xs.as_ptr(), &d, ys.as_ptr(), &d, NONE, o, &c, g1, &c, g2, &c), &what);
        }
        for (k, (buf, off)) in bufs.iter().zip(offs).enumerate() {
            assert_bits(&format!("{what}: output {k}"), &buf[off..off + n], &want[k]);
            let mut outside = buf.iter().enumerate().filter(|(i, _)| !(off..off + n).contains(i));
            assert!(outside.all(|(_, v)| v.bits() == T::sentinel().bits()), "{what}: {k} around");
        }
        let mut loss = vec![T::sentinel(); n];
        ok(
            unsafe { T::LOSS(xs.as_ptr(), &d, ys.as_ptr(), &d, NONE, loss.as_mut_ptr(), &c) },
            &what,
        );
        assert_bits(&format!("{what}: loss"), &loss, &want[0]);
    }
}

#[test]
fn large_transposed_matches_contiguous_f32() {
    large_transposed_matches_contiguous::<f32>();
}

#[test]
fn large_transposed_matches_contiguous_f64() {
    large_transposed_matches_contiguous::<f64>();
}

#[test]
fn large_calls_match_strided_f32() {
    large_calls_match_strided::<f32>();
}

#[test]
fn large_calls_match_strided_f64() {
    large_calls_match_strided::<f64>();
}

#[test]
fn small_calls_match_strided_f32() {
    small_calls_match_strided::<f32>();
}

#[test]
fn small_calls_match_strided_f64() {
    small_calls_match_strided::<f64>();
}

/// The large calls again on the other kernel paths this CPU has, in child processes: their
/// non-temporal stores differ (16, 32 or 64 bytes at a time).
#[test]
fn large_calls_on_every_path() {
    if std::env::var_os("CAUCHY_KERNEL").is_some() {
        return;
    }
    for path in paths::kernel_paths().into_iter().filter(|&p| p != paths::path_in_use()) {
        let summary = paths::rerun_on(path, "large_", "large_calls_match_strided_f64");
        println!("kernel path {path}: {summary}");
    }
}
