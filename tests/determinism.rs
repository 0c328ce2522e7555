//! Determinism: every function gives bit-identical results for thread counts 1, 2, 3 and 8,
//! on repeated calls, and with flush-to-zero / denormals-are-zero set on the calling thread.
//!
//! Tensors of about three million elements (many 16384-element blocks, so the pool splits the
//! work), contiguous and strided, with subnormal inputs and results; plus a million elements so
//! tiny that their sums are themselves subnormal, where a flushed merge or final rounding would
//! show. Outputs are compared through a digest of the whole padded buffers a function writes.

mod common;

use cauchy::{
    CAUCHY_REDUCTION_MEAN as MEAN, CAUCHY_REDUCTION_NONE as NONE, CAUCHY_REDUCTION_SUM as SUM,
};
use common::tensors::{digest, ok, strides_in_order, Float, Rng, View};
use std::sync::Mutex;

/// The thread count is global to the process: a test that changes it holds this lock.
static THREADS: Mutex<()> = Mutex::new(());

const N: i64 = 3_000_001;

/// The operands of one call pattern.
struct Case<T> {
    name: &'static str,
    schedule: Schedule,
    x: View<T>,
    y: View<T>,
    g: View<T>,
    out: View<T>,
    g1: View<T>,
    g2: View<T>,
}

/// Thread counts and flush-to-zero per run; the first run is the baseline.
type Schedule = &'static [(usize, bool)];

impl<T: Float> Case<T> {
    /// `strides`: x, y, grad_out, out, grad_img1, grad_img2 (`None`: NULL, contiguous).
    fn new(
        name: &'static str,
        schedule: Schedule,
        shape: &[i64],
        strides: [Option<Vec<i64>>; 6],
        x: impl FnMut() -> T,
        y: impl FnMut() -> T,
        rng: &mut Rng,
    ) -> Case<T> {
        let [xs, ys, gs, os, g1s, g2s] = strides;
        Case {
            name,
            schedule,
            x: View::new(shape, xs.as_deref(), x),
            y: View::new(shape, ys.as_deref(), y),
            g: View::new(shape, gs.as_deref(), || rng.value(-2.0, 2.0)),
            out: View::output(shape, os.as_deref()),
            g1: View::output(shape, g1s.as_deref()),
            g2: View::output(shape, g2s.as_deref()),
        }
    }

    /// Run every function and reduction; the digests of all their outputs, named.
    fn outputs(&mut self) -> Vec<(String, u64)> {
        let mut digests = vec![];
        let (xp, xd, yp, yd) = (self.x.ptr(), self.x.desc(), self.y.ptr(), self.y.desc());
        let (od, g1d, g2d) = (self.out.desc(), self.g1.desc(), self.g2.desc());
        let upstream = T::from_f64(0.75);
        for red in [NONE, MEAN, SUM] {
            let (gp, gd) = if red == NONE {
                (self.g.ptr(), self.g.desc())
            } else {
                (&upstream as *const T, std::ptr::null())
            };
            let od = if red == NONE { od } else { std::ptr::null() };
            // Each function with the outputs it writes (out, grad_img1, grad_img2).
            for (f, written) in [("loss", 0..1), ("backward", 1..3), ("fused", 0..3)] {
                let mut views = [&mut self.out, &mut self.g1, &mut self.g2];
                views[written.clone()].iter_mut().for_each(|v| v.buf.fill(T::sentinel()));
                let [o, g1, g2] = views.map(|v| v.ptr_mut());
                // SAFETY: every pointer and descriptor comes from a live view.
                let status = unsafe {
                    match f {
                        "loss" => T::LOSS(xp, xd, yp, yd, red, o, od),
                        "backward" => T::BACKWARD(xp, xd, yp, yd, red, gp, gd, g1, g1d, g2, g2d),
                        _ => T::FUSED(xp, xd, yp, yd, red, o, od, g1, g1d, g2, g2d),
                    }
                };
                let what = format!("{} {f} reduction {red}", self.name);
                ok(status, &what);
                let views = [("out", &self.out), ("grad_img1", &self.g1), ("grad_img2", &self.g2)];
                for (name, v) in &views[written] {
                    digests.push((format!("{what} {name}"), digest(&v.buf)));
                }
            }
        }
        for red in [MEAN, SUM] {
            let mut r = T::sentinel();
            // SAFETY: as above; `r` is one writable element.
            ok(unsafe { T::REDUCE(xp, xd, red, &mut r) }, self.name);
            digests.push((format!("{} reduce {red}", self.name), r.bits()));
        }
        digests
    }
}

/// The three cases: ordinary values with one element in eight a subnormal input and one in
/// eight a subnormal loss, contiguous and strided; and residuals so small that every sum is
/// subnormal, with `x` (the tensor `cauchy_reduce` sums) all subnormal.
fn cases<T: Float>() -> Vec<Case<T>> {
    let mixed = |rng: &mut Rng| {
        let scale = match rng.next_u64() % 8 {
            0 => T::SUBNORMAL,
            1 => T::TINY_D,
            _ => 4.0,
        };
        rng.value::<T>(-scale, scale)
    };
    let (mut a, mut b, mut c, mut d) = (Rng(10), Rng(11), Rng(12), Rng(13));
    let mut rng = Rng(14);
    // The strided case: x transposed and flipped, y and grad_img2 sliced, grad_out expanded,
    // out transposed, grad_img1 contiguous.
    let shape = [1001, 2999];
    let t = strides_in_order(&shape, &[1, 0], 1);
    let sliced = strides_in_order(&shape, &[0, 1], 2);
    let strided = [
        Some(vec![-t[0], t[1]]),
        Some(sliced.clone()),
        Some(vec![0, 1]),
        Some(t),
        None,
        Some(sliced),
    ];
    vec![
        Case::new(
            "contiguous",
            &[(1, false), (2, false), (3, false), (8, false), (8, false), (3, true)],
            &[N],
            Default::default(),
            || mixed(&mut a),
            || mixed(&mut b),
            &mut rng,
        ),
        Case::new(
            "strided",
            &[(1, false), (3, false), (8, true)],
            &shape,
            strided,
            || mixed(&mut a),
            || mixed(&mut b),
            &mut rng,
        ),
        Case::new(
            "tiny",
            &[(1, false), (1, true), (8, true)],
            &[N / 3],
            Default::default(),
            || c.value(-T::SUBNORMAL, T::SUBNORMAL),
            || d.value(-T::TINY_D, T::TINY_D),
            &mut rng,
        ),
    ]
}

/// Run `f` with flush-to-zero and denormals-are-zero set on this thread (MXCSR bits 0x8040),
/// restoring the caller's mode afterwards.
#[cfg(target_arch = "x86_64")]
fn with_ftz<R>(f: impl FnOnce() -> R) -> R {
    use std::arch::asm;
    let mut saved = 0u32;
    // SAFETY: stmxcsr / ldmxcsr move the 32-bit MXCSR to / from the given local; the value
    // loaded is the saved one with two defined control bits set.
    unsafe { asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack, preserves_flags)) };
    let ftz = saved | 0x8040;
    unsafe { asm!("ldmxcsr [{}]", in(reg) &ftz, options(nostack, preserves_flags)) };
    let flushed = std::hint::black_box(f64::MIN_POSITIVE) / 4.0 == 0.0;
    let r = f();
    unsafe { asm!("ldmxcsr [{}]", in(reg) &saved, options(nostack, preserves_flags)) };
    assert!(flushed, "flush-to-zero did not take effect");
    r
}

fn deterministic<T: Float>() {
    let _lock = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for mut case in cases::<T>() {
        let mut baseline = None;
        for (run, &(threads, ftz)) in case.schedule.iter().enumerate() {
            ok(cauchy::cauchy_set_num_threads(threads), "set threads");
            #[cfg(target_arch = "x86_64")]
            let got = if ftz { with_ftz(|| case.outputs()) } else { case.outputs() };
            #[cfg(not(target_arch = "x86_64"))]
            let got = case.outputs();
            for (want, got) in baseline.get_or_insert_with(|| got.clone()).iter().zip(&got) {
                let ftz = if ftz { " and flush-to-zero" } else { "" };
                assert_eq!(want, got, "{} run {run} with {threads} threads{ftz}: differs", T::NAME);
            }
        }
    }
    ok(cauchy::cauchy_set_num_threads(0), "restore threads");
}

#[test]
fn deterministic_f32() {
    deterministic::<f32>();
}

#[test]
fn deterministic_f64() {
    deterministic::<f64>();
}

/// Every case's output digests on this process's kernel path, one line each.
fn all_digests() -> Vec<String> {
    fn of<T: Float>() -> impl Iterator<Item = String> {
        cases::<T>().into_iter().flat_map(|mut c| c.outputs()).map(|(n, d)| format!("{n} {d:x}"))
    }
    of::<f32>().chain(of::<f64>()).collect()
}

/// The kernel paths (`CAUCHY_KERNEL`) give bit-identical results: this process's default path
/// against the portable one, run in a child process of this test binary.
#[test]
fn kernel_paths_agree() {
    if std::env::var_os("CAUCHY_KERNEL").is_some() {
        for line in all_digests() {
            println!("digest {line}");
        }
        return;
    }
    let mine = {
        let _lock = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        all_digests()
    };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["kernel_paths_agree", "--exact", "--nocapture"])
        .env("CAUCHY_KERNEL", "portable")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let portable: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("digest ")).collect();
    assert_eq!(mine.len(), portable.len(), "the portable run printed {} digests", portable.len());
    for (a, b) in mine.iter().zip(&portable) {
        assert_eq!(a, b, "default and portable kernel paths differ");
    }
}
