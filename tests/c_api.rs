//! The C API from C: programs in tests/c compiled against the built library (shared and
//! static) and run, natively and under valgrind.
//!
//! - header_*: include/cauchy.h compiles as C99, C11, C++11 and C++17 with every warning an
//!   error, declares API.md's signatures and constants, and matches the library's version.
//! - errors_*: every status of API.md provoked from C for each function and type; see
//!   tests/c/errors.c for what each check asserts.
//! - compute_*: every function and reduction over several layouts, checked here against the
//!   reference implementation, including that nothing outside the outputs is written.

mod common;

use common::cbuild::{self, strict, Link, Output};
use common::reference::{grad_f32, grad_f64, loss_f32, loss_f64, offsets, sum, ulp_f32, ulp_f64};

/// Compile and run tests/c/header_check.{c,cpp} with `std`.
fn header_check(source: &str, std: &str) {
    let out = cbuild::run(&cbuild::compile(source, Link::Shared, &strict(std)));
    cbuild::assert_success(&format!("{source} as {std}"), &out);
    let want = format!("version {}", env!("CARGO_PKG_VERSION"));
    assert!(out.stdout.lines().any(|l| l == want), "{}", out.stdout);
}

#[test]
fn header_c99() {
    header_check("tests/c/header_check.c", "-std=c99");
}

#[test]
fn header_c11() {
    header_check("tests/c/header_check.c", "-std=c11");
}

#[test]
fn header_cpp11() {
    header_check("tests/c/header_check.cpp", "-std=c++11");
}

#[test]
fn header_cpp17() {
    header_check("tests/c/header_check.cpp", "-std=c++17");
}

/// The checks tests/c/errors.c prints: a count that drops means a case silently went missing.
const ERROR_CHECKS: usize = 398;

fn errors_program() -> std::path::PathBuf {
    let mut flags = strict("-std=c99");
    flags.push("-pthread");
    cbuild::compile("tests/c/errors.c", Link::Shared, &flags)
}

fn check_errors_output(out: &Output) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    let failed: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FAIL")).collect();
    assert!(failed.is_empty(), "failed checks:\n{failed:#?}");
    cbuild::assert_success("tests/c/errors.c", out);
    let checks = lines.iter().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(checks, ERROR_CHECKS, "{}", out.stdout);
}

#[test]
fn errors() {
    check_errors_output(&cbuild::run(&errors_program()));
}

#[test]
fn errors_valgrind() {
    if let Some(out) = cbuild::run_valgrind(&errors_program()) {
        check_errors_output(&out);
    }
}

/// One operand of a call printed by compute.c.
#[derive(Debug)]
struct Operand {
    role: String,
    seed: u64,
    len: usize,
    base: isize,
    shape: Vec<i64>,
    strides: Vec<i64>,
    /// An output's whole buffer after the call (raw bits); empty for inputs.
    after: Vec<u64>,
}

/// One call printed by compute.c.
#[derive(Debug)]
struct Call {
    layout: String,
    func: String,
    f64: bool,
    reduction: i32,
    status: i32,
    ops: Vec<Operand>,
}

fn parse_operand(line: &str) -> Operand {
    let mut t = line.split_whitespace().skip(1);
    let mut next = || t.next().expect("a short op line");
    let role = next().to_string();
    let seed = next().parse().unwrap();
    let len = next().parse().unwrap();
    let base = next().parse().unwrap();
    let ndim: usize = next().parse().unwrap();
    let shape = (0..ndim).map(|_| next().parse().unwrap()).collect();
    let strides = (0..ndim).map(|_| next().parse().unwrap()).collect();
    let after = t.map(|b| u64::from_str_radix(b, 16).unwrap()).collect();
    Operand { role, seed, len, base, shape, strides, after }
}

fn parse_calls(stdout: &str) -> Vec<Call> {
    let mut calls: Vec<Call> = vec![];
    for line in stdout.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t[0] {
            "call" => calls.push(Call {
                layout: t[1].to_string(),
                func: t[2].to_string(),
                f64: t[3] == "f64",
                reduction: t[4].parse().unwrap(),
                status: t[5].parse().unwrap(),
                ops: vec![],
            }),
            "op" => calls.last_mut().unwrap().ops.push(parse_operand(line)),
            _ => panic!("unexpected line {line}"),
        }
    }
    calls
}

/// compute.c's generator: a 53-bit mantissa scaled by one of eight magnitudes.
fn lcg_buffer(seed: u64, len: usize) -> Vec<f64> {
    const EXPONENTS: [i64; 8] = [-30, -12, -4, -1, 0, 2, 6, 12];
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mantissa = ((state >> 8) & ((1 << 53) - 1)) as i64 - (1 << 52);
            let scale =
                f64::from_bits(((1023 + EXPONENTS[(state >> 61) as usize] - 52) as u64) << 52);
            mantissa as f64 * scale
        })
        .collect()
}

/// Element-wise tolerances: f32 against the f64 reference rounded to f32; f64 against the
/// plain f64 reference, whose own roundings take up to 4 of these ULPs (the library's are 2).
const F32_ULPS: u64 = 1;
const F64_ULPS: u64 = 6;
/// f64 MEAN / SUM of the loss: the library's 2^-50 plus the reference's element errors.
const F64_SUM_REL: f64 = 1.0 / (1u64 << 49) as f64;

impl Call {
    fn what(&self) -> String {
        let ty = if self.f64 { "f64" } else { "f32" };
        format!("{} {} {ty} reduction {}", self.layout, self.func, self.reduction)
    }

    fn op(&self, role: &str) -> Option<&Operand> {
        self.ops.iter().find(|o| o.role == role)
    }

    /// A buffer's contents before the call, as the call's type, widened to f64.
    fn initial(&self, op: &Operand) -> Vec<f64> {
        let values = lcg_buffer(op.seed, op.len);
        if self.f64 {
            values
        } else {
            values.into_iter().map(|v| v as f32 as f64).collect()
        }
    }

    fn bits(&self, v: f64) -> u64 {
        if self.f64 {
            v.to_bits()
        } else {
            (v as f32).to_bits() as u64
        }
    }

    fn value(&self, bits: u64) -> f64 {
        if self.f64 {
            f64::from_bits(bits)
        } else {
            f32::from_bits(bits as u32) as f64
        }
    }

    /// The buffer positions of an operand's elements, in C order.
    fn positions(op: &Operand) -> Vec<usize> {
        offsets(&op.shape, Some(&op.strides)).into_iter().map(|o| (op.base + o) as usize).collect()
    }

    /// An input's elements before the call, in C order.
    fn elements(&self, op: &Operand) -> Vec<f64> {
        let initial = self.initial(op);
        Self::positions(op).into_iter().map(|p| initial[p]).collect()
    }

    /// An output's elements after the call, in C order; asserts that every other position of
    /// its buffer kept its initial bits.
    fn written(&self, op: &Operand) -> Vec<u64> {
        let positions = Self::positions(op);
        let initial = self.initial(op);
        assert_eq!(op.after.len(), op.len, "{}: {} buffer", self.what(), op.role);
        for (p, (&after, &before)) in op.after.iter().zip(&initial).enumerate() {
            assert!(
                positions.contains(&p) || after == self.bits(before),
                "{}: {} written at buffer position {p}, outside its elements",
                self.what(),
                op.role
            );
        }
        positions.into_iter().map(|p| op.after[p]).collect()
    }

    /// Assert an element-wise result within the ULP tolerance of `want`.
    fn assert_close(&self, role: &str, i: usize, got: u64, want: f64) {
        let ulps = if self.f64 {
            ulp_f64(f64::from_bits(got), want)
        } else {
            ulp_f32(f32::from_bits(got as u32), want as f32)
        };
        assert!(
            ulps <= if self.f64 { F64_ULPS } else { F32_ULPS },
            "{}: {role}[{i}] = {:e}, want {want:e} ({ulps} ULP)",
            self.what(),
            self.value(got)
        );
    }

    fn loss(&self, x: f64, y: f64) -> f64 {
        if self.f64 {
            loss_f64(x, y)
        } else {
            loss_f32(x as f32, y as f32)
        }
    }

    fn grad(&self, x: f64, y: f64, g: f64, factor: f64) -> f64 {
        if self.f64 {
            grad_f64(x, y, g, factor)
        } else {
            grad_f32(x as f32, y as f32, g as f32, factor)
        }
    }

    /// The one value of a MEAN / SUM output.
    fn scalar_out(&self) -> f64 {
        let out = self.written(self.op("out").unwrap());
        self.value(out[0])
    }

    /// Check a MEAN / SUM of losses against the reference sum `want`.
    fn assert_loss_sum(&self, want: f64) {
        let got = self.scalar_out();
        let ok = if self.f64 {
            (got - want).abs() <= F64_SUM_REL * want.abs()
        } else {
            ulp_f32(got as f32, want as f32) <= F32_ULPS
        };
        assert!(ok, "{}: out = {got:e}, want {want:e}", self.what());
    }

    /// Check a cauchy_reduce result: API.md's bound (half an ULP plus 2^-40 (f32) / 2^-50 (f64)
    /// of sum |x_i|, over numel for MEAN) plus the reference's own error.
    fn assert_reduce(&self, x: &[f64], mean: bool) {
        let n = if mean { x.len() as f64 } else { 1.0 };
        let want = sum(x.iter().copied()) / n;
        let abs = sum(x.iter().map(|v| v.abs())) / n;
        let got = self.scalar_out();
        let (ulp, rel) = if self.f64 {
            (f64::from_bits(want.abs().to_bits() + 1) - want.abs(), 2f64.powi(-50))
        } else {
            let w = want.abs() as f32;
            ((f32::from_bits(w.to_bits() + 1) - w) as f64, 2f64.powi(-40))
        };
        let tolerance = ulp / 2.0 + rel * abs + 2f64.powi(-52) * abs;
        assert!(
            (got - want).abs() <= tolerance,
            "{}: out = {got:e}, want {want:e} (tolerance {tolerance:e})",
            self.what()
        );
    }

    /// Check one call; returns how many result values it checked.
    fn check(&self) -> usize {
        assert_eq!(self.status, 0, "{}: status", self.what());
        let x = self.elements(self.op("img1").unwrap());
        let (mean, tensor) = (self.reduction == 1, self.reduction == 0);
        if self.func == "reduce" {
            self.assert_reduce(&x, mean);
            return 1;
        }
        let y = self.elements(self.op("img2").unwrap());
        let losses: Vec<f64> = x.iter().zip(&y).map(|(&a, &b)| self.loss(a, b)).collect();
        let mut checked = 0;
        if let Some(out) = self.op("out") {
            if tensor {
                for (i, (&got, &want)) in self.written(out).iter().zip(&losses).enumerate() {
                    self.assert_close("out", i, got, want);
                }
                checked += losses.len();
            } else {
                let total = sum(losses.iter().copied());
                self.assert_loss_sum(if mean { total / losses.len() as f64 } else { total });
                checked += 1;
            }
        }
        if self.func == "loss" {
            return checked;
        }
        let g: Vec<f64> = match self.op("grad_out") {
            Some(op) if tensor => self.elements(op),
            Some(op) => vec![self.elements(op)[0]; x.len()],
            None => vec![1.0; x.len()],
        };
        let factor = if mean { 1.0 / x.len() as f64 } else { 1.0 };
        let grad1 = self.written(self.op("grad_img1").unwrap());
        let grad2 = self.written(self.op("grad_img2").unwrap());
        for i in 0..x.len() {
            self.assert_close("grad_img1", i, grad1[i], self.grad(x[i], y[i], g[i], factor));
            let negated = self.bits(-self.value(grad1[i]));
            assert_eq!(grad2[i], negated, "{}: grad_img2[{i}] is not -grad_img1[{i}]", self.what());
        }
        checked + 2 * x.len()
    }
}

/// The calls compute.c makes: 8 layouts x 2 types x (3 loss + 3 backward + 3 fused + 2 reduce).
const COMPUTE_CALLS: usize = 8 * 2 * 11;

fn compute_program(link: Link) -> std::path::PathBuf {
    cbuild::compile("tests/c/compute.c", link, &strict("-std=c99"))
}

fn check_compute_output(out: &Output) {
    cbuild::assert_success("tests/c/compute.c", out);
    let calls = parse_calls(&out.stdout);
    assert_eq!(calls.len(), COMPUTE_CALLS);
    let checked: usize = calls.iter().map(Call::check).sum();
    println!("{} calls, {checked} results checked", calls.len());
}

#[test]
fn compute_shared() {
    check_compute_output(&cbuild::run(&compute_program(Link::Shared)));
}

#[test]
fn compute_static() {
    check_compute_output(&cbuild::run(&compute_program(Link::Static)));
}

#[test]
fn compute_valgrind() {
    if let Some(out) = cbuild::run_valgrind(&compute_program(Link::Shared)) {
        check_compute_output(&out);
    }
}
