//! The plain reference implementation: the textbook formulas, element by element, in C order,
//! in more precision than the element type where that is cheap. It shares no code with the
//! library's kernels (src/), and is meant to be obviously correct rather than fast.
//!
//! Precision: for f32 data everything is computed in f64 (relative error ~1e-15, far below
//! an f32 ULP). For f64 data the formulas are plain f64 (a few ULP), valid for |d| < 1e150;
//! the hard f64 regions are checked against the mpmath tables instead (tests/accuracy.rs).
#![allow(dead_code)]

/// `log(0.5*d^2 + 1)` for f32 inputs, in f64 (not rounded to f32).
pub fn loss_f32(x: f32, y: f32) -> f64 {
    let d = x as f64 - y as f64;
    (0.5 * d * d).ln_1p()
}

/// `g * factor * 2d / (d^2 + 2)` for f32 inputs, in f64 (not rounded).
pub fn grad_f32(x: f32, y: f32, g: f32, factor: f64) -> f64 {
    let d = x as f64 - y as f64;
    let dloss = if d.is_infinite() { 0.0f64.copysign(d) } else { 2.0 * d / (d * d + 2.0) };
    g as f64 * factor * dloss
}

/// `log(0.5*d^2 + 1)` in plain f64 (moderate |d| only).
pub fn loss_f64(x: f64, y: f64) -> f64 {
    let d = x - y;
    (0.5 * d * d).ln_1p()
}

/// `g * factor * 2d / (d^2 + 2)` in plain f64 (moderate |d| only).
pub fn grad_f64(x: f64, y: f64, g: f64, factor: f64) -> f64 {
    let d = x - y;
    g * factor * (2.0 * d / (d * d + 2.0))
}

/// Element offsets of a strided tensor in C (row-major logical) order; `strides = None` means
/// C-contiguous.
pub fn offsets(shape: &[i64], strides: Option<&[i64]>) -> Vec<isize> {
    let contiguous: Vec<i64> = (0..shape.len()).map(|d| shape[d + 1..].iter().product()).collect();
    let strides = strides.unwrap_or(&contiguous);
    let numel: i64 = shape.iter().product();
    let mut out = Vec::with_capacity(numel.max(0) as usize);
    for flat in 0..numel {
        let mut rest = flat;
        let mut off = 0i64;
        for d in (0..shape.len()).rev() {
            off += (rest % shape[d]) * strides[d];
            rest /= shape[d];
        }
        out.push(off as isize);
    }
    out
}

/// The sum of f64 values in f64 with Kahan-Babuska (Neumaier) compensation.
pub fn sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for v in values {
        let t = s + v;
        c += if s.abs() >= v.abs() { (s - t) + v } else { (v - t) + s };
        s = t;
    }
    s + c
}

/// ULP distance between two f32 values (+0 and -0 equal; NaN only matches NaN).
pub fn ulp_f32(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    let key = |v: f32| {
        let bits = v.to_bits() as i64;
        if v.is_sign_negative() {
            -(bits & 0x7fff_ffff)
        } else {
            bits
        }
    };
    (key(a) - key(b)).unsigned_abs()
}

/// ULP distance between two f64 values (+0 and -0 equal; NaN only matches NaN).
pub fn ulp_f64(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() { 0 } else { u64::MAX };
    }
    let key = |v: f64| {
        let bits = v.to_bits() as i128;
        if v.is_sign_negative() {
            -(bits & 0x7fff_ffff_ffff_ffff)
        } else {
            bits
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}
