//! libcauchy's speed against the memory bound: `cargo bench --bench throughput [-- WORDS]`.
//!
//! For f32 and f64, every operation at 1, 6144, 1M and 16.7M elements, with one thread and with
//! every core, it prints a Markdown table: the median time per call, elements and bytes per
//! second, the bound (the time of a plain streaming kernel reading and writing the same bytes on
//! the same buffers and threads, measured in the same run), time / bound, and the speedup over a
//! naive scalar loop. Then the small-call latencies, transposed against contiguous inputs, and
//! the performance targets with PASS / FAIL. Progress goes to stderr, the tables to stdout.
//!
//! WORDS (or the environment variable `BENCH_FILTER`) select a subset: every word must be a
//! type (`f32`), a size (`1`, `6144`, `1M`, `16.7M`), `strided`, or part of an operation's name
//! (`mean`, `bwd`, `fwd-none`). `QUICK=1` takes few samples, for a smoke run.
//! Run without `--bench` (as `cargo test --all-targets` does) it only prints how to run it.

use cauchy::{
    CauchyStatus, CauchyTensorDesc, CAUCHY_REDUCTION_MEAN, CAUCHY_REDUCTION_NONE,
    CAUCHY_REDUCTION_SUM,
};
use rayon::ThreadPool;
use std::collections::HashMap;
use std::hint::black_box;
use std::ops::{Add, Neg};
use std::time::Instant;

/// The sizes measured: elements, label, the (contiguous) shape used.
const SIZES: [(usize, &str, &[i64]); 4] = [
    (1, "1", &[1]),
    (6144, "6144", &[2, 3, 32, 32]),
    (1 << 20, "1M", &[1, 4, 512, 512]),
    (1 << 24, "16.7M", &[16, 4, 512, 512]),
];

/// The transposed view: a 4096 x 4096 tensor with strides [1, 4096].
const SIDE: i64 = 4096;

/// Below this many elements the bound kernel runs on the calling thread, as the library does:
/// waking other threads costs more than it saves.
const PARALLEL_MIN: usize = 1 << 16;

// ------------------------------------------------------------------------------------------
// Element types

/// f32 or f64: conversions for the naive reference and the library's calls for that type.
trait Float: Copy + Send + Sync + Add<Output = Self> + Neg<Output = Self> + 'static {
    const NAME: &'static str;
    const ZERO: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// Run `op` through the C API: `x` (img1 and img2) and `o` (the tensor outputs and a NONE
    /// grad_out) are the descriptors; one-element operands get NULL descriptors.
    ///
    /// # Safety
    /// `p` addresses buffers holding the elements the descriptors describe.
    unsafe fn call(
        op: Op,
        p: Ptrs<Self>,
        x: &CauchyTensorDesc,
        o: &CauchyTensorDesc,
    ) -> CauchyStatus;
}

macro_rules! float_impl {
    ($t:ty, $loss:ident, $backward:ident, $fused:ident, $reduce:ident) => {
        impl Float for $t {
            const NAME: &'static str = stringify!($t);
            const ZERO: Self = 0.0;
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self.into()
            }
            unsafe fn call(
                op: Op,
                p: Ptrs<Self>,
                x: &CauchyTensorDesc,
                o: &CauchyTensorDesc,
            ) -> CauchyStatus {
                let (none, mean, sum) =
                    (CAUCHY_REDUCTION_NONE, CAUCHY_REDUCTION_MEAN, CAUCHY_REDUCTION_SUM);
                let one = std::ptr::null();
                match op {
                    Op::FwdNone => cauchy::$loss(p.x, x, p.y, x, none, p.out, o),
                    Op::FwdMean => cauchy::$loss(p.x, x, p.y, x, mean, p.out, one),
                    Op::BwdNone => {
                        cauchy::$backward(p.x, x, p.y, x, none, p.g, o, p.g1, o, p.g2, o)
                    }
                    Op::BwdMean => {
                        cauchy::$backward(p.x, x, p.y, x, mean, p.g, one, p.g1, o, p.g2, o)
                    }
                    Op::LossGrad => {
                        cauchy::$fused(p.x, x, p.y, x, mean, p.out, one, p.g1, o, p.g2, o)
                    }
                    Op::Reduce => cauchy::$reduce(p.x, x, sum, p.out),
                }
            }
        }
    };
}

float_impl!(
    f32,
    cauchy_loss_f32,
    cauchy_loss_backward_f32,
    cauchy_loss_and_grad_f32,
    cauchy_reduce_f32
);
float_impl!(
    f64,
    cauchy_loss_f64,
    cauchy_loss_backward_f64,
    cauchy_loss_and_grad_f64,
    cauchy_reduce_f64
);

fn check(status: CauchyStatus) {
    if status != CauchyStatus::CAUCHY_STATUS_OK {
        // SAFETY: the library returns a NUL-terminated string valid until this thread's next failure.
        let msg = unsafe { std::ffi::CStr::from_ptr(cauchy::cauchy_last_error_message()) };
        panic!("libcauchy call failed: {status:?}: {}", msg.to_string_lossy());
    }
}

// ------------------------------------------------------------------------------------------
// Operations

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    /// cauchy_loss NONE: reads img1, img2; writes out.
    FwdNone,
    /// cauchy_loss MEAN: reads img1, img2.
    FwdMean,
    /// cauchy_loss_backward NONE (a grad_out tensor): reads img1, img2, grad_out; writes both grads.
    BwdNone,
    /// cauchy_loss_backward MEAN (a scalar grad_out): reads img1, img2; writes both grads.
    BwdMean,
    /// cauchy_loss_and_grad MEAN: reads img1, img2; writes the mean and both grads.
    LossGrad,
    /// cauchy_reduce SUM: reads x.
    Reduce,
}

impl Op {
    const ALL: [Op; 6] =
        [Op::FwdNone, Op::FwdMean, Op::BwdNone, Op::BwdMean, Op::LossGrad, Op::Reduce];

    fn name(self) -> &'static str {
        match self {
            Op::FwdNone => "fwd-none",
            Op::FwdMean => "fwd-mean",
            Op::BwdNone => "bwd-none",
            Op::BwdMean => "bwd-mean",
            Op::LossGrad => "loss-grad-mean",
            Op::Reduce => "reduce-sum",
        }
    }

    /// Tensors of numel elements read and written (one-element operands not counted).
    fn traffic(self) -> (usize, usize) {
        match self {
            Op::FwdNone => (2, 1),
            Op::FwdMean => (2, 0),
            Op::BwdNone => (3, 2),
            Op::BwdMean | Op::LossGrad => (2, 2),
            Op::Reduce => (1, 0),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Buffers

/// `len` elements, page aligned, every element written (so every page is faulted in) at creation.
struct Buf<T> {
    ptr: *mut T,
    len: usize,
}

impl<T> Buf<T> {
    fn layout(len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(len.max(1) * size_of::<T>(), 4096).unwrap()
    }

    fn new(len: usize, value: impl Fn(usize) -> T) -> Self {
        // SAFETY: the layout has a non-zero size; every element is written before use.
        let ptr = unsafe { std::alloc::alloc(Self::layout(len)) }.cast::<T>();
        assert!(!ptr.is_null(), "cannot allocate {len} elements");
        for i in 0..len {
            unsafe { ptr.add(i).write(value(i)) };
        }
        Buf { ptr, len }
    }
}

impl<T> Drop for Buf<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.cast(), Self::layout(self.len)) }
    }
}

/// The operands of every measurement, `len` elements each.
struct Bufs<T> {
    x: Buf<T>,
    y: Buf<T>,
    g: Buf<T>,
    out: Buf<T>,
    g1: Buf<T>,
    g2: Buf<T>,
}

/// Raw pointers to the operands, which the measured closures capture by copy.
#[derive(Clone, Copy)]
struct Ptrs<T> {
    x: *mut T,
    y: *mut T,
    g: *mut T,
    out: *mut T,
    g1: *mut T,
    g2: *mut T,
}

impl<T: Float> Bufs<T> {
    /// Regression-like data: img1 normal, img2 = img1 plus half as much normal noise, grad_out
    /// normal.
    fn new(len: usize) -> Self {
        let val = |f: fn(u64) -> f64| Buf::new(len, move |i| T::from_f64(f(i as u64)));
        Bufs {
            x: val(|i| normal(i, 0)),
            y: val(|i| normal(i, 0) + 0.5 * normal(i, 1)),
            g: val(|i| normal(i, 2)),
            out: val(|_| 0.0),
            g1: val(|_| 0.0),
            g2: val(|_| 0.0),
        }
    }

    fn ptrs(&mut self) -> Ptrs<T> {
        let Bufs { x, y, g, out, g1, g2 } = self;
        Ptrs { x: x.ptr, y: y.ptr, g: g.ptr, out: out.ptr, g1: g1.ptr, g2: g2.ptr }
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Approximately standard normal (Irwin-Hall: four uniforms, centred, variance 1), a pure
/// function of the index and the stream.
fn normal(i: u64, stream: u64) -> f64 {
    let u = |k: u64| (splitmix(i * 16 + stream * 4 + k) >> 11) as f64 * (-53f64).exp2();
    (u(0) + u(1) + u(2) + u(3) - 2.0) * 3f64.sqrt()
}

/// A shape and its strides (None: contiguous); `desc` borrows them.
struct Layout {
    shape: Vec<i64>,
    strides: Option<Vec<i64>>,
}

impl Layout {
    fn contiguous(shape: &[i64]) -> Layout {
        Layout { shape: shape.to_vec(), strides: None }
    }

    fn desc(&self) -> CauchyTensorDesc {
        CauchyTensorDesc {
            ndim: self.shape.len(),
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        }
    }
}

// ------------------------------------------------------------------------------------------
// The naive reference

/// The textbook formula, one element after another in f64 on one thread, with the library's
/// semantics (MEAN divides by numel, grad_img2 = -grad_img1). Plain safe Rust as anyone would
/// write it: the compiler may vectorise the arithmetic-only backward loop, not the ln_1p calls.
fn naive<T: Float>(op: Op, p: Ptrs<T>, n: usize) {
    // SAFETY: the buffers hold at least n elements and nothing else uses them meanwhile.
    let (x, y, g) = unsafe {
        let s = |p: *mut T| std::slice::from_raw_parts(p, n);
        (s(p.x), s(p.y), s(p.g))
    };
    let (out, g1, g2) = unsafe {
        let s = |p: *mut T| std::slice::from_raw_parts_mut(p, n);
        (s(p.out), s(p.g1), s(p.g2))
    };
    let diff = |a: &T, b: &T| a.to_f64() - b.to_f64();
    let loss = |d: f64| (0.5 * d * d).ln_1p();
    let grad = |d: f64| 2.0 * d / (d * d + 2.0);
    let inputs = x.iter().zip(y);
    let grads = g1.iter_mut().zip(g2.iter_mut());
    match op {
        Op::FwdNone => {
            for (o, (a, b)) in out.iter_mut().zip(inputs) {
                *o = T::from_f64(loss(diff(a, b)));
            }
        }
        Op::FwdMean => {
            out[0] = T::from_f64(inputs.map(|(a, b)| loss(diff(a, b))).sum::<f64>() / n as f64);
        }
        Op::BwdNone => {
            for ((r1, r2), ((a, b), u)) in grads.zip(inputs.zip(g)) {
                *r1 = T::from_f64(u.to_f64() * grad(diff(a, b)));
                *r2 = -*r1;
            }
        }
        Op::BwdMean | Op::LossGrad => {
            let factor = if op == Op::BwdMean { g[0].to_f64() } else { 1.0 } / n as f64;
            let mut sum = 0.0;
            for ((r1, r2), (a, b)) in grads.zip(inputs) {
                let d = diff(a, b);
                if op == Op::LossGrad {
                    sum += loss(d);
                }
                *r1 = T::from_f64(factor * grad(d));
                *r2 = -*r1;
            }
            out[0] = T::from_f64(sum / n as f64);
        }
        Op::Reduce => out[0] = T::from_f64(x.iter().map(|v| v.to_f64()).sum()),
    }
}

// ------------------------------------------------------------------------------------------
// The bound: plain streaming of the same bytes

/// Elements per step of the streaming kernel (independent accumulators for the read-only case).
const L: usize = 32;

/// Non-temporal stores are tried on x86-64 (the bound is the faster of the two store kinds).
const HAS_NT: bool = cfg!(target_arch = "x86_64");

/// Reads R arrays and sums them; writes the sum to the first output and its negation to the
/// second (as grad_img2 = -grad_img1); with no outputs, accumulates the sum. `NT`: stores bypass
/// the caches.
struct Stream<T, const R: usize, const W: usize, const NT: bool> {
    ins: [*const T; R],
    outs: [*mut T; W],
}

// SAFETY: threads read the inputs and write disjoint ranges of the outputs.
unsafe impl<T, const R: usize, const W: usize, const NT: bool> Sync for Stream<T, R, W, NT> {}

/// Thread k's share of n elements out of `parts`: contiguous, starting at a multiple of 1024
/// elements (aligned for the non-temporal stores).
fn share(n: usize, k: usize, parts: usize) -> (usize, usize) {
    let chunk = n.div_ceil(parts).next_multiple_of(1024);
    ((k * chunk).min(n), ((k + 1) * chunk).min(n))
}

impl<T: Float, const R: usize, const W: usize, const NT: bool> Stream<T, R, W, NT> {
    /// All n elements: on the calling thread, or one contiguous share per thread of `pool`.
    fn all(self, n: usize, pool: Option<&ThreadPool>) -> T {
        match pool {
            None => self.run(0, n),
            Some(pool) => pool
                .broadcast(|c| {
                    let (lo, hi) = share(n, c.index(), c.num_threads());
                    self.run(lo, hi)
                })
                .into_iter()
                .fold(T::ZERO, Add::add),
        }
    }

    /// The elements lo..hi, compiled for AVX-512 or AVX2 where the CPU has it, with the
    /// library's widest non-temporal stores there: 64, 32 or 16 bytes.
    fn run(&self, lo: usize, hi: usize) -> T {
        // SAFETY (all calls): the pointers address at least hi elements (see `stream`), and
        // the CPU has the features of the copy called.
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            return unsafe { self.run_avx512(lo, hi) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return unsafe { self.run_avx2(lo, hi) };
        }
        unsafe { self.body::<16>(lo, hi) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, lo: usize, hi: usize) -> T {
        unsafe { self.body::<64>(lo, hi) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, lo: usize, hi: usize) -> T {
        unsafe { self.body::<32>(lo, hi) }
    }

    /// `WIDTH`: the bytes of each non-temporal store (64 in a copy for AVX-512F, 32 for AVX).
    #[inline(always)]
    unsafe fn body<const WIDTH: usize>(&self, lo: usize, hi: usize) -> T {
        let mut acc = [T::ZERO; L];
        let mut i = lo;
        while i + L <= hi {
            let mut v = unsafe { *self.ins[0].add(i).cast::<[T; L]>() };
            for src in &self.ins[1..] {
                let a = unsafe { &*src.add(i).cast::<[T; L]>() };
                v.iter_mut().zip(a).for_each(|(v, a)| *v = *v + *a);
            }
            if W == 0 {
                acc.iter_mut().zip(&v).for_each(|(s, v)| *s = *s + *v);
            }
            for (w, dst) in self.outs.iter().enumerate() {
                if w == 1 {
                    v.iter_mut().for_each(|v| *v = -*v);
                }
                unsafe { store::<T, NT, WIDTH>(dst.add(i), &v) };
            }
            i += L;
        }
        for j in i..hi {
            let v = self.ins.iter().fold(T::ZERO, |s, src| s + unsafe { *src.add(j) });
            acc[0] = acc[0] + v;
            for (w, dst) in self.outs.iter().enumerate() {
                unsafe { *dst.add(j) = if w == 1 { -v } else { v } };
            }
        }
        #[cfg(target_arch = "x86_64")]
        if NT {
            unsafe { std::arch::x86_64::_mm_sfence() };
        }
        acc.into_iter().fold(T::ZERO, Add::add)
    }
}

/// Store L elements at `dst` (64-byte aligned when NT), non-temporal `WIDTH` bytes at a time
/// (64 only in a copy compiled for AVX-512F, 32 only in one for AVX).
#[inline(always)]
unsafe fn store<T: Float, const NT: bool, const WIDTH: usize>(dst: *mut T, v: &[T; L]) {
    /// The stores by `$stream` of vectors `$vec` loaded by `$load`.
    #[cfg(target_arch = "x86_64")]
    macro_rules! stream {
        ($vec:ident, $load:ident, $stream:ident) => {{
            use std::arch::x86_64::{$load, $stream, $vec};
            let (src, dst) = (v.as_ptr().cast::<$vec>(), dst.cast::<$vec>());
            for k in 0..size_of::<[T; L]>() / size_of::<$vec>() {
                unsafe { $stream(dst.add(k), $load(src.add(k))) };
            }
            return;
        }};
    }
    #[cfg(target_arch = "x86_64")]
    match (NT, WIDTH) {
        (true, 64) => stream!(__m512i, _mm512_loadu_si512, _mm512_stream_si512),
        (true, 32) => stream!(__m256i, _mm256_loadu_si256, _mm256_stream_si256),
        (true, _) => stream!(__m128i, _mm_loadu_si128, _mm_stream_si128),
        (false, _) => {}
    }
    unsafe { dst.cast::<[T; L]>().write(*v) };
}

/// The plain streaming kernel with `op`'s traffic over the first n elements of the buffers.
fn stream<T: Float>(op: Op, p: Ptrs<T>, n: usize, pool: Option<&ThreadPool>, nt: bool) -> T {
    let (x, y, g) = (p.x.cast_const(), p.y.cast_const(), p.g.cast_const());
    match (op.traffic(), nt) {
        ((1, 0), _) => Stream::<T, 1, 0, false> { ins: [x], outs: [] }.all(n, pool),
        ((2, 0), _) => Stream::<T, 2, 0, false> { ins: [x, y], outs: [] }.all(n, pool),
        ((2, 1), false) => Stream::<T, 2, 1, false> { ins: [x, y], outs: [p.out] }.all(n, pool),
        ((2, 1), true) => Stream::<T, 2, 1, true> { ins: [x, y], outs: [p.out] }.all(n, pool),
        ((2, 2), false) => {
            Stream::<T, 2, 2, false> { ins: [x, y], outs: [p.g1, p.g2] }.all(n, pool)
        }
        ((2, 2), true) => Stream::<T, 2, 2, true> { ins: [x, y], outs: [p.g1, p.g2] }.all(n, pool),
        ((3, 2), false) => {
            Stream::<T, 3, 2, false> { ins: [x, y, g], outs: [p.g1, p.g2] }.all(n, pool)
        }
        ((3, 2), true) => {
            Stream::<T, 3, 2, true> { ins: [x, y, g], outs: [p.g1, p.g2] }.all(n, pool)
        }
        (t, _) => unreachable!("no streaming kernel for {t:?}"),
    }
}

// ------------------------------------------------------------------------------------------
// Timing

struct Cfg {
    quick: bool,
    words: Vec<String>,
}

impl Cfg {
    fn from_env() -> Cfg {
        let quick = std::env::var("QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        // cargo bench passes `--bench`; every other argument is a filter word.
        let mut words: Vec<String> =
            std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
        if let Ok(f) = std::env::var("BENCH_FILTER") {
            words.extend(f.split_whitespace().map(String::from));
        }
        Cfg { quick, words }
    }

    /// Whether every filter word is one of `names` or part of the operation's name.
    fn selects(&self, names: &[&str], op: Op) -> bool {
        self.words.iter().all(|w| {
            names.iter().any(|n| n.eq_ignore_ascii_case(w)) || op.name().contains(&w.to_lowercase())
        })
    }

    /// Seconds of samples per measurement (all its closures together).
    fn budget(&self) -> f64 {
        if self.quick {
            0.03
        } else {
            0.4
        }
    }

    /// The fewest samples per closure: fewer for the naive reference and for calls slower than
    /// a quarter of a second a round (the current scalar code at 16.7M elements).
    fn min_samples(&self, naive: bool, round_s: f64) -> usize {
        let slow = round_s > 0.25;
        match (self.quick, naive || slow) {
            (true, true) => 1,
            (true, false) | (false, true) => 3,
            (false, false) => 7,
        }
    }
}

/// Each sample is a batch of calls lasting at least this long; the time per call is its mean.
const MIN_SAMPLE_S: f64 = 50e-6;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The median seconds per call of each closure. Each is warmed up first; then the samples are
/// taken in turns, one of each closure per round, so a noisy moment hits them alike.
fn measure(cfg: &Cfg, fs: &mut [&mut dyn FnMut()], naive: bool) -> Vec<f64> {
    let warm_s = if cfg.quick { 0.005 } else { 0.02 };
    let per_call: Vec<f64> = fs
        .iter_mut()
        .map(|f| {
            let (start, mut calls) = (Instant::now(), 0);
            while calls == 0 || start.elapsed().as_secs_f64() < warm_s {
                f();
                calls += 1;
            }
            start.elapsed().as_secs_f64() / calls as f64
        })
        .collect();
    let batch: Vec<usize> =
        per_call.iter().map(|t| (MIN_SAMPLE_S / t).ceil().max(1.0) as usize).collect();
    let round: f64 = per_call.iter().zip(&batch).map(|(t, &k)| t * k as f64).sum();
    let samples = ((cfg.budget() / round) as usize).clamp(cfg.min_samples(naive, round), 1000);
    let mut times = vec![Vec::with_capacity(samples); fs.len()];
    for _ in 0..samples {
        for ((f, &k), t) in fs.iter_mut().zip(&batch).zip(&mut times) {
            let start = Instant::now();
            for _ in 0..k {
                f();
            }
            t.push(start.elapsed().as_secs_f64() / k as f64);
        }
    }
    times.into_iter().map(median).collect()
}

// ------------------------------------------------------------------------------------------
// The measurements

struct Row {
    dtype: &'static str,
    op: Op,
    n: usize,
    threads: usize,
    bytes: f64,
    time: f64,
    bound: f64,
    bound_nt: bool,
    naive: f64,
}

struct StridedRow {
    op: Op,
    layout: &'static str,
    threads: usize,
    contiguous: f64,
    strided: f64,
}

#[derive(Default)]
struct Results {
    rows: Vec<Row>,
    strided: Vec<StridedRow>,
}

/// The thread counts measured (1 and every core) and a pool of each size for the bound.
struct Threads {
    counts: Vec<usize>,
    pools: HashMap<usize, ThreadPool>,
}

impl Threads {
    fn new() -> Threads {
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut counts = vec![1, all];
        counts.dedup();
        let pool = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
        Threads { pools: counts.iter().map(|&t| (t, pool(t))).collect(), counts }
    }

    fn all(&self) -> usize {
        *self.counts.last().unwrap()
    }

    /// The bound's pool for t threads and n elements (None: the calling thread).
    fn pool(&self, t: usize, n: usize) -> Option<&ThreadPool> {
        (t > 1 && n >= PARALLEL_MIN).then(|| &self.pools[&t])
    }
}

/// Every selected measurement of one element type; `strided`: also the transposed view.
fn bench_type<T: Float>(cfg: &Cfg, threads: &Threads, res: &mut Results, strided: bool) {
    let cells: Vec<(Op, usize, &str, &[i64])> = SIZES
        .iter()
        .flat_map(|&(n, label, shape)| Op::ALL.map(|op| (op, n, label, shape)))
        .filter(|&(op, _, label, _)| cfg.selects(&[T::NAME, label], op))
        .collect();
    let strided_ops: Vec<Op> = [Op::FwdMean, Op::FwdNone]
        .into_iter()
        .filter(|&op| strided && cfg.selects(&[T::NAME, "strided", "16.7M"], op))
        .collect();
    let side = SIDE as usize;
    let Some(len) = cells.iter().map(|c| c.1).chain(strided_ops.iter().map(|_| side * side)).max()
    else {
        return;
    };
    eprintln!("{}: filling {len} elements per operand", T::NAME);
    let mut bufs = Bufs::<T>::new(len);
    let p = black_box(bufs.ptrs());
    let mut naive_times = HashMap::new();
    for &t in &threads.counts {
        check(cauchy::cauchy_set_num_threads(t));
        for &(op, n, label, shape) in &cells {
            let naive_t = *naive_times
                .entry((op, n))
                .or_insert_with(|| measure(cfg, &mut [&mut || naive(op, p, n)], true)[0]);
            let layout = Layout::contiguous(shape);
            let d = layout.desc();
            let pool = threads.pool(t, n);
            let mut lib = || check(unsafe { T::call(op, p, &d, &d) });
            let mut plain = || {
                black_box(stream(op, p, n, pool, false));
            };
            let mut nt = || {
                black_box(stream(op, p, n, pool, true));
            };
            let m = if HAS_NT && op.traffic().1 > 0 {
                measure(cfg, &mut [&mut lib, &mut plain, &mut nt], false)
            } else {
                measure(cfg, &mut [&mut lib, &mut plain], false)
            };
            let bound_nt = m.len() == 3 && m[2] < m[1];
            let (r, w) = op.traffic();
            let row = Row {
                dtype: T::NAME,
                op,
                n,
                threads: t,
                bytes: ((r + w) * n * size_of::<T>()) as f64,
                time: m[0],
                bound: if bound_nt { m[2] } else { m[1] },
                bound_nt,
                naive: naive_t,
            };
            eprintln!(
                "{} {} {label} threads={t}: {} (bound {}, naive {})",
                T::NAME,
                op.name(),
                fmt_time(row.time),
                fmt_time(row.bound),
                fmt_time(row.naive)
            );
            res.rows.push(row);
        }
        for &op in &strided_ops {
            res.strided.extend(bench_strided(cfg, op, p, t));
        }
    }
}

/// The transposed 4096 x 4096 view (strides [1, 4096]) against the contiguous tensor, for
/// forward `op` (MEAN or NONE) on t threads.
fn bench_strided<T: Float>(cfg: &Cfg, op: Op, p: Ptrs<T>, t: usize) -> Vec<StridedRow> {
    let contiguous = Layout::contiguous(&[SIDE, SIDE]);
    let transposed = Layout { shape: vec![SIDE, SIDE], strides: Some(vec![1, SIDE]) };
    let (c, tr) = (contiguous.desc(), transposed.desc());
    let mut base = || check(unsafe { T::call(op, p, &c, &c) });
    let mut inputs_t = || check(unsafe { T::call(op, p, &tr, &c) });
    let mut all_t = || check(unsafe { T::call(op, p, &tr, &tr) });
    let row =
        |layout, contiguous, strided| StridedRow { op, layout, threads: t, contiguous, strided };
    let rows = if op == Op::FwdNone {
        let m = measure(cfg, &mut [&mut base, &mut inputs_t, &mut all_t], false);
        vec![
            row("img1, img2 transposed; out contiguous", m[0], m[1]),
            row("img1, img2, out transposed", m[0], m[2]),
        ]
    } else {
        let m = measure(cfg, &mut [&mut base, &mut inputs_t], false);
        vec![row("img1, img2 transposed", m[0], m[1])]
    };
    for r in &rows {
        eprintln!(
            "{} strided {} threads={t} ({}): {} vs {}",
            T::NAME,
            op.name(),
            r.layout,
            fmt_time(r.strided),
            fmt_time(r.contiguous)
        );
    }
    rows
}

// ------------------------------------------------------------------------------------------
// Output

fn fmt_time(s: f64) -> String {
    match s {
        s if s < 1e-6 => format!("{:.1} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.2} µs", s * 1e6),
        s if s < 1.0 => format!("{:.2} ms", s * 1e3),
        s => format!("{s:.2} s"),
    }
}

fn fmt_rate(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.1} M", v / 1e6),
        v => format!("{:.0} k", v / 1e3),
    }
}

fn size_label(n: usize) -> &'static str {
    SIZES.iter().find(|s| s.0 == n).map_or("?", |s| s.1)
}

fn cpu_field(cpuinfo: &str, key: &str) -> String {
    cpuinfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "?".into(), |(_, v)| v.trim().to_string())
}

fn caches() -> String {
    let dir = "/sys/devices/system/cpu/cpu0/cache";
    let read = |i: usize, f: &str| std::fs::read_to_string(format!("{dir}/index{i}/{f}")).ok();
    (0..8)
        .filter_map(|i| {
            let (level, kind, size) = (read(i, "level")?, read(i, "type")?, read(i, "size")?);
            let kind = match kind.trim() {
                "Data" => "d",
                "Instruction" => return None,
                _ => "",
            };
            Some(format!("L{}{kind} {}", level.trim(), size.trim()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn simd() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let features = [
            ("sse4.2", std::is_x86_feature_detected!("sse4.2")),
            ("avx", std::is_x86_feature_detected!("avx")),
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512dq", std::is_x86_feature_detected!("avx512dq")),
            ("avx512bw", std::is_x86_feature_detected!("avx512bw")),
            ("avx512vl", std::is_x86_feature_detected!("avx512vl")),
        ];
        let pick = |has: bool| {
            features.iter().filter(|f| f.1 == has).map(|f| f.0).collect::<Vec<_>>().join(" ")
        };
        format!("{} (not detected: {})", pick(true), pick(false))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        format!("{} (no x86 feature detection)", std::env::consts::ARCH)
    }
}

fn print_header(cfg: &Cfg, threads: &Threads) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    // SAFETY: a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(cauchy::cauchy_version_string()) };
    println!("## libcauchy throughput\n");
    println!(
        "- machine: {} (family {}, model {}), {} cores; {}",
        cpu_field(&cpuinfo, "model name"),
        cpu_field(&cpuinfo, "cpu family"),
        cpu_field(&cpuinfo, "model"),
        threads.all(),
        caches()
    );
    println!("- SIMD: {}", simd());
    println!(
        "- libcauchy {}; threads {:?}; {}; filter: {}",
        version.to_string_lossy(),
        threads.counts,
        if cfg.quick { "QUICK=1 (few samples)" } else { "full run" },
        if cfg.words.is_empty() { "none".to_string() } else { cfg.words.join(" ") }
    );
    let shapes: Vec<String> = SIZES.iter().map(|(_, l, s)| format!("{l} = {s:?}")).collect();
    println!("- shapes: {}", shapes.join(", "));
    println!();
}

fn print_table(rows: &[Row]) {
    println!("| type | operation | elements | threads | median time | elements/s | GB/s | bound | bound GB/s | time / bound | naive | speedup |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let key = |r: &Row| (r.dtype, Op::ALL.iter().position(|&o| o == r.op), r.n, r.threads);
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| key(r));
    for r in sorted {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {}{} | {:.1} | {:.2} | {} | {:.1}x |",
            r.dtype,
            r.op.name(),
            size_label(r.n),
            r.threads,
            fmt_time(r.time),
            fmt_rate(r.n as f64 / r.time),
            r.bytes / r.time / 1e9,
            fmt_time(r.bound),
            if r.bound_nt { " (nt)" } else { "" },
            r.bytes / r.bound / 1e9,
            r.time / r.bound,
            fmt_time(r.naive),
            r.naive / r.time
        );
    }
    println!();
    println!(
        "Columns: median time per call; elements/s and GB/s (bytes of the tensors read and written, \
         one-element operands not counted); bound = the median time of a plain streaming kernel \
         reading and writing the same tensors on the same threads ((nt): its non-temporal-store \
         variant was the faster); time / bound (1.00 = at the memory bound); naive = a plain \
         one-thread loop of the textbook formula in f64; speedup = naive / time."
    );
    println!();
}

fn find<'a>(rows: &'a [Row], dtype: &str, op: Op, n: usize, threads: usize) -> Option<&'a Row> {
    rows.iter().find(|r| r.dtype == dtype && r.op == op && r.n == n && r.threads == threads)
}

fn print_small(rows: &[Row], all: usize) {
    if !rows.iter().any(|r| r.n <= 6144 && r.threads == all) {
        return;
    }
    println!("### Small calls ({all} threads set; calls this small run on the calling thread)\n");
    println!("| operation | f32, 1 element | f64, 1 element | f32, 6144 | f64, 6144 |");
    println!("|---|--:|--:|--:|--:|");
    for op in Op::ALL {
        let cell =
            |dtype, n| find(rows, dtype, op, n, all).map_or("-".into(), |r| fmt_time(r.time));
        println!(
            "| {} | {} | {} | {} | {} |",
            op.name(),
            cell("f32", 1),
            cell("f64", 1),
            cell("f32", 6144),
            cell("f64", 6144)
        );
    }
    println!();
}

fn print_strided(strided: &[StridedRow]) {
    if strided.is_empty() {
        return;
    }
    println!("### Transposed 4096x4096 f32 view (strides [1, 4096]) against contiguous\n");
    println!("| operation | layout | threads | contiguous | transposed | ratio |");
    println!("|---|---|--:|--:|--:|--:|");
    for s in strided {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} |",
            s.op.name(),
            s.layout,
            s.threads,
            fmt_time(s.contiguous),
            fmt_time(s.strided),
            s.strided / s.contiguous
        );
    }
    println!();
}

fn print_targets(res: &Results, all: usize) {
    println!("### Targets\n");
    println!("| target | measured | goal | result |");
    println!("|---|--:|--:|---|");
    let line =
        |what: String, value: Option<(f64, String)>, goal: &str, pass: &dyn Fn(f64) -> bool| {
            let (measured, result) = match value {
                Some((v, text)) => (text, if pass(v) { "PASS" } else { "FAIL" }),
                None => ("not measured".into(), "-"),
            };
            println!("| {what} | {measured} | {goal} | {result} |");
        };
    for dtype in ["f32", "f64"] {
        for op in [Op::FwdMean, Op::LossGrad, Op::BwdNone] {
            let ratio = find(&res.rows, dtype, op, 1 << 24, all).map(|r| r.time / r.bound);
            line(
                format!("{dtype} {} 16.7M, {all} threads: time / bound", op.name()),
                ratio.map(|v| (v, format!("{v:.2}"))),
                "≤ 1.3",
                &|v| v <= 1.3,
            );
        }
    }
    let small = find(&res.rows, "f32", Op::FwdMean, 6144, all).map(|r| r.time);
    line(
        "f32 fwd-mean 6144 (2x3x32x32), one call".into(),
        small.map(|t| (t, fmt_time(t))),
        "< 3 µs",
        &|t| t < 3e-6,
    );
    let one = res.rows.iter().filter(|r| r.n == 1).max_by(|a, b| a.time.total_cmp(&b.time));
    line(
        format!(
            "one-element call, slowest operation{}",
            one.map_or(String::new(), |r| format!(
                " ({} {}, threads {})",
                r.dtype,
                r.op.name(),
                r.threads
            ))
        ),
        one.map(|r| (r.time, fmt_time(r.time))),
        "< 100 ns",
        &|t| t < 100e-9,
    );
    let worst = res
        .strided
        .iter()
        .max_by(|a, b| (a.strided / a.contiguous).total_cmp(&(b.strided / b.contiguous)));
    line(
        format!(
            "transposed 4096x4096 f32 / contiguous, worst{}",
            worst.map_or(String::new(), |s| format!(
                " ({}, {}, threads {})",
                s.op.name(),
                s.layout,
                s.threads
            ))
        ),
        worst.map(|s| (s.strided / s.contiguous, format!("{:.2}", s.strided / s.contiguous))),
        "≤ 2",
        &|v| v <= 2.0,
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and a
    // test run should not take minutes.
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: a benchmark; run it with `cargo bench --bench throughput`");
        return;
    }
    let cfg = Cfg::from_env();
    let threads = Threads::new();
    print_header(&cfg, &threads);
    let start = Instant::now();
    let mut res = Results::default();
    bench_type::<f32>(&cfg, &threads, &mut res, true);
    bench_type::<f64>(&cfg, &threads, &mut res, false);
    check(cauchy::cauchy_set_num_threads(0));
    print_table(&res.rows);
    print_small(&res.rows, threads.all());
    print_strided(&res.strided);
    print_targets(&res, threads.all());
    eprintln!("done in {:.0} s", start.elapsed().as_secs_f64());
}
