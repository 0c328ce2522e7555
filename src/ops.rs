//! The operations over checked calls: one blocked, deterministic driver ([`blocks`]), the
//! chunk kernel for the loss/gradient calls (the tile kernel for strided ones is in [`tile`],
//! the streaming stores for large outputs in [`stream`]), the sum for `cauchy_reduce`, and the
//! one-element call's scalar path ([`one`]).
//!
//! Aliasing: an output may be the very memory of an input (an exact alias, which validation
//! allows), so kernels work on raw pointers and read every input of a chunk before writing
//! its outputs. The only slices ever formed over operand memory are shared ones over one
//! chunk of a contiguous input, used only before any output of that chunk is written (no
//! other thread touches the chunk's elements).

use crate::dd::Dd;
use crate::dispatch::{isa, Isa};
use crate::fpenv::DefaultFpEnv;
use crate::layout::{Run, Walk, WideRoom};
use crate::math::{upstream_factor, Element};
use crate::pool;
use crate::status::Error;
use crate::sum::{Acc, Also, Partial, BLOCK};
use crate::validate::{Call, LossOut, OneCall, Operand, ReduceCall, Reduction, Upstream};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::ptr::null_mut;
use tile::run_tile;

mod stream;
mod tile;

/// Below this many elements a call runs on the calling thread (no pool, no allocation).
const PARALLEL_MIN: usize = 4 * BLOCK;

/// Element-wise calls (no sum) take blocks this many times longer: their blocks only share
/// work, and longer ones give [`Walk::for_each_group`] more strided runs to tile.
const ELEMENTWISE_BLOCKS: usize = 16;

/// Sum `body` over the blocks of `n` walk-ordered elements (`body(begin, end, acc)`), `len`
/// elements per block, into `total` (fresh), on the pool when it is worth it. Each block
/// starts a fresh [`Acc`]; partials are merged in block order, so the result does not depend
/// on which thread ran which block.
fn blocks(
    n: usize,
    len: usize,
    total: &mut Acc,
    body: impl Fn(usize, usize, &mut Acc) + Sync,
) -> Result<(), Error> {
    let count = n.div_ceil(len);
    if count == 1 {
        // One block sums straight into the total (merging it into an empty one gives the
        // same bits), with no partial to move: the small call's path.
        body(0, n, total);
        return Ok(());
    }
    let block = |b: usize| {
        let mut acc = Acc::default();
        body(b * len, ((b + 1) * len).min(n), &mut acc);
        acc.finish()
    };
    if n < PARALLEL_MIN || pool::num_threads() == 1 {
        for b in 0..count {
            total.merge(&block(b));
        }
    } else {
        // Workers install the default floating-point environment per block (the calling
        // thread already runs under the one `run_call` / `run_reduce` set).
        let on_worker = |b: usize| {
            let _env = DefaultFpEnv::enter();
            block(b)
        };
        let partials: Vec<Partial> =
            pool::run(|| (0..count).into_par_iter().map(on_worker).collect())?;
        for p in &partials {
            total.merge(p);
        }
    }
    Ok(())
}

/// The divisor that turns a sum into the requested reduction.
fn divisor(mean: bool, numel: usize) -> f64 {
    if mean {
        numel as f64
    } else {
        1.0
    }
}

/// Raw pointers handed to worker threads.
///
/// Validation proved that outputs do not overlap each other or any input (other than as an
/// exact alias) and do not overlap themselves, and every logical index belongs to exactly one
/// block, so no two threads touch the same output element.
#[derive(Clone, Copy)]
struct Ptrs<T, const K: usize>([*mut T; K]);
// SAFETY: see the type's documentation; T is a plain float.
unsafe impl<T: Send, const K: usize> Send for Ptrs<T, K> {}
unsafe impl<T: Sync, const K: usize> Sync for Ptrs<T, K> {}

impl<T, const K: usize> Ptrs<T, K> {
    /// The pointers (a method, so that closures capture the `Sync` wrapper, not its field).
    fn get(&self) -> [*mut T; K] {
        self.0
    }
}

const IMG1: usize = 0;
const IMG2: usize = 1;
const GRAD_OUT: usize = 2;
const OUT: usize = 3;
const GRAD1: usize = 4;
const GRAD2: usize = 5;

/// What the kernels do, fixed for the whole call.
#[derive(Clone, Copy)]
struct Plan {
    loss_tensor: bool,
    loss_sum: bool,
    grad: bool,
    grad_tensor: bool,
    /// Whether large outputs are streamed, and with what stores ([`stream`]).
    stream: Option<stream::Width>,
    /// The upstream scalar over the MEAN divisor (when the upstream is not a tensor).
    factor: Dd,
}

/// Run the copy of an operation for this CPU: its copy for AVX-512 or AVX2 (see
/// [`compiled_for`]) or the portable one.
fn on_isa<C>(
    c: &C,
    avx512: unsafe fn(&C) -> Result<(), Error>,
    avx2: unsafe fn(&C) -> Result<(), Error>,
    portable: unsafe fn(&C) -> Result<(), Error>,
) -> Result<(), Error> {
    let copy = match isa() {
        Isa::Avx512 => avx512,
        Isa::Avx2 => avx2,
        Isa::Portable => portable,
    };
    // SAFETY: `isa()` only picks paths the CPU supports.
    unsafe { copy(c) }
}

/// Run a loss, backward or fused call (the copy of [`call`] for this CPU).
pub fn run_call<T: Element>(c: &Call<T>) -> Result<(), Error> {
    on_isa(c, call_avx512, call_avx2, call)
}

/// Run a one-element loss, backward or fused call (the copy of [`one`] for this CPU).
pub fn run_one<T: Element>(c: &OneCall<T>) -> Result<(), Error> {
    on_isa(c, one_avx512, one_avx2, one)
}

/// A one-element call: the chunk kernel's element functions on arrays of one element, which
/// the compiler reduces to the scalar arithmetic (no walk, blocks, buffers or loops). The same
/// functions on the same element as the chunk kernel, so the same bits; a SUM or MEAN is the
/// element's loss, which meets the sum's guarantee (f32: the same 1 ULP; f64: 2 ULP is within
/// 2^-50) without the product lane's fold (half of such a call's time). Inlined as [`call`]
/// is.
#[inline(always)]
fn one<T: Element>(c: &OneCall<T>) -> Result<(), Error> {
    let _env = DefaultFpEnv::enter();
    let [g1, g2] = c.grads;
    // SAFETY: validation checked every non-NULL pointer (aligned; the caller promised its
    // element readable or writable). Every input is read before any output is written (an
    // output may be an input's exact alias).
    unsafe {
        let (x, y) = ([c.img1.read()], [c.img2.read()]);
        // The upstream factor g / 1 (see `upstream_factor`), g = 1 for the fused call.
        let g = if c.grad_out.is_null() { 1.0 } else { c.grad_out.read().widen() };
        let mut grad = [T::ZERO];
        if !g1.is_null() || !g2.is_null() {
            T::grads(&x, &y, None, upstream_factor(g, 1.0), &mut grad);
        }
        if !c.out.is_null() {
            let mut loss = [0.0];
            T::losses(&x, &y, &mut loss);
            c.out.write(T::narrow(loss[0]));
        }
        if !g1.is_null() {
            g1.write(grad[0]);
        }
        if !g2.is_null() {
            g2.write(grad[0].neg());
        }
    }
    Ok(())
}

/// A loss, backward or fused call. Inlined into copies compiled for each path (see
/// [`compiled_for`]), like the kernels: the set-up and the final fold have double-double
/// steps, whose fused multiply-adds are library calls in a portable build (a tenth of a
/// one-element f64 loss-and-gradient call).
#[inline(always)]
fn call<T: Element>(c: &Call<T>) -> Result<(), Error> {
    let _env = DefaultFpEnv::enter();
    let numel = c.img1.layout.numel();
    let mean = c.reduction == Reduction::Mean;
    let grad = c.grad_img1.is_some() || c.grad_img2.is_some();
    let g = match c.upstream {
        // SAFETY: validation checked the pointer (non-NULL, aligned); the caller promised it
        // is readable. Read before any output is written, so an alias is harmless.
        Upstream::Scalar(p) => unsafe { p.read() }.widen(),
        _ => 1.0,
    };
    let plan = Plan {
        loss_tensor: matches!(c.out, LossOut::Tensor(_)),
        loss_sum: matches!(c.out, LossOut::Scalar(_)),
        grad,
        grad_tensor: matches!(c.upstream, Upstream::Tensor(_)),
        stream: stream::stream(numel, std::mem::size_of::<T>()),
        factor: upstream_factor(g, if mean && grad { numel as f64 } else { 1.0 }),
    };
    if !plan.loss_tensor && !plan.loss_sum && !plan.grad {
        return Ok(()); // backward with both gradients skipped: validation was the whole job
    }
    let ops: [Option<&Operand<T>>; 6] = [
        Some(&c.img1),
        Some(&c.img2),
        match &c.upstream {
            Upstream::Tensor(op) => Some(op),
            _ => None,
        },
        match &c.out {
            LossOut::Tensor(op) => Some(op),
            _ => None,
        },
        c.grad_img1.as_ref(),
        c.grad_img2.as_ref(),
    ];
    // Absent operands have a NULL pointer, never dereferenced.
    let ptrs = Ptrs(ops.map(|o| o.map_or(null_mut(), |o| o.ptr)));
    // Absent operands walk with img1's strides (so they never block dimension fusion).
    let layouts = ops.map(|o| o.map_or(&c.img1.layout, |o| &o.layout));
    let mut room = WideRoom::default();
    let walk = Walk::new(&c.img1.layout, layouts, &mut room);
    let contiguous = walk.inner_contiguous();
    let group = match mode(&plan) {
        BACKWARD => group_fn::<T, BACKWARD>(contiguous),
        SUM => group_fn::<T, SUM>(contiguous),
        LOSS => group_fn::<T, LOSS>(contiguous),
        _ => group_fn::<T, FUSED>(contiguous),
    };
    let len = if plan.loss_sum { BLOCK } else { ELEMENTWISE_BLOCKS * BLOCK };
    let mut acc = Acc::default();
    blocks(numel, len, &mut acc, |begin, end, acc| {
        // SAFETY: validation proved each operand's elements addressable by its layout;
        // `isa()` only picks paths the CPU supports.
        unsafe { kernel(group, &plan, &ptrs.get(), &walk, (begin, end), acc) }
    })?;
    if let LossOut::Scalar(p) = c.out {
        // SAFETY: validated one-element output, written once after every input was read.
        unsafe { p.write(T::narrow(acc.result(divisor(mean, numel)))) };
    }
    Ok(())
}

/// What a call computes, as a kernel parameter: each kind gets its own compiled kernel (one
/// kernel for all measured slower, its loss loops sensitive to what else it holds).
const BACKWARD: u8 = 0;
const LOSS: u8 = 1;
const FUSED: u8 = 2;
/// The forward SUM / MEAN: a mode of its own, so that reading contiguous inputs in place for
/// it does not change how the compiler builds the element-wise forward's loss loops (a choice
/// at run time had made the f64 one scalar).
const SUM: u8 = 3;

/// The kind of call a plan makes.
fn mode(p: &Plan) -> u8 {
    match (p.grad, p.loss_tensor || p.loss_sum) {
        (true, false) => BACKWARD,
        (false, _) if p.loss_sum => SUM,
        (false, _) => LOSS,
        (true, true) => FUSED,
    }
}

/// Whether a kind of call computes gradients.
const fn has_grads(mode: u8) -> bool {
    mode == BACKWARD || mode == FUSED
}

/// Elements per chunk: the unit of the vectorised loops in [`Element`].
const CHUNK: usize = 64;

/// The bytes of each input per span of [`run_chunks`]'s in-place sums: the calls and tests
/// around each span cost about as much as a chunk's arithmetic (f32 MEAN of 6144 elements,
/// AVX-512: 2.9 against 2.3 microseconds).
const SPAN_BYTES: usize = 512;

/// [`SPAN_BYTES`] for the fused call, whose spans also write gradients. Measured in float32
/// with a gradient pass after each span's sum: f32 loss-and-gradient MEAN in turns, 6144
/// elements 10.4 to 9.3 us, 16.7M on 2 threads 21.5 to 19.8 ms against 512 bytes; 256 and 128
/// bytes slower still, 4096 no faster. With both in one loop ([`fused_span`]), 512 and 2048
/// bytes showed no difference beyond the noise.
const FUSED_SPAN_BYTES: usize = 1024;

/// Blocks up to this long zero this much of their [`Scratch`] (at most [`CHUNK`]).
const SHORT: usize = 8;

/// Room for the buffers of one chunk ([`run_chunks`], made once per block) or tile
/// ([`run_tile`]), zeroed only as far as the block or tile reaches (zeroing all of it was a
/// quarter of a one-element call's time). The buffers are handed out as [`Bufs`], slices
/// derived from the kernel's `&mut Scratch`, which the compiler then knows alias nothing else
/// (slices kept apart from it made the sums' loops 6% slower).
struct Scratch<T, const N: usize = CHUNK> {
    /// `x`, `y`, `g` and `grads`, their first `len` elements initialised (see `bufs`).
    bufs: [[MaybeUninit<T>; N]; 4],
    /// `losses`, its first `len` elements initialised.
    losses: [MaybeUninit<f64>; N],
    /// For sums, which take [`CHUNK`] elements at a time; the first `len.min(CHUNK)`
    /// initialised.
    parts: [[MaybeUninit<f64>; CHUNK]; 2],
    len: usize,
}

/// The buffers of a [`Scratch`], each `len` elements long.
struct Bufs<'s, T> {
    x: &'s mut [T],
    y: &'s mut [T],
    g: &'s mut [T],
    grads: &'s mut [T],
    losses: &'s mut [f64],
    parts: [&'s mut [f64]; 2],
}

impl<T: Element, const N: usize> Scratch<T, N> {
    /// Room with no buffer initialised yet (built where it stays, then [`Scratch::zero`]ed:
    /// a room finished here was moved, 3 KB).
    fn new() -> Self {
        Scratch {
            bufs: [[MaybeUninit::uninit(); N]; 4],
            losses: [MaybeUninit::uninit(); N],
            parts: [[MaybeUninit::uninit(); CHUNK]; 2],
            len: 0,
        }
    }

    /// Initialise at least the buffers' first `len.min(N)` elements, which [`Scratch::bufs`]
    /// hands out: for short blocks a constant [`SHORT`] (see [`fill`]).
    fn zero(&mut self, len: usize) {
        const { assert!(SHORT <= N) };
        self.len = if len <= SHORT { SHORT } else { len.min(N) };
        for b in &mut self.bufs {
            fill(b, self.len, T::ZERO);
        }
        fill(&mut self.losses, self.len, 0.0);
        for p in &mut self.parts {
            fill(p, self.len.min(CHUNK), 0.0);
        }
    }

    /// The buffers, as long as [`Scratch::zero`] made them (empty before).
    fn bufs(&mut self) -> Bufs<'_, T> {
        let len = self.len;
        // SAFETY: the first `len` elements of each (of the parts, `len.min(CHUNK)`) are
        // initialised: none from `new`, and `zero` initialises those it counts.
        let [x, y, g, grads] = self.bufs.each_mut().map(|b| unsafe { assume_init(&mut b[..len]) });
        let losses = unsafe { assume_init(&mut self.losses[..len]) };
        let parts = self.parts.each_mut().map(|p| unsafe { assume_init(&mut p[..len.min(CHUNK)]) });
        Bufs { x, y, g, grads, losses, parts }
    }
}

/// Initialise the first `len` elements of `a` to `v`: [`SHORT`] of them as a whole array of
/// that constant length, which the compiler stores inline (filled as a slice, even of a
/// constant length, each buffer was a library call: a twentieth of a one-element call).
#[inline(always)]
fn fill<U: Copy, const M: usize>(a: &mut [MaybeUninit<U>; M], len: usize, v: U) {
    match a.first_chunk_mut::<SHORT>() {
        Some(head) if len == SHORT => *head = [MaybeUninit::new(v); SHORT],
        _ => a[..len].fill(MaybeUninit::new(v)),
    }
}

/// `buf` as the values it holds.
///
/// # Safety
/// Every element of `buf` is initialised.
unsafe fn assume_init<U>(buf: &mut [MaybeUninit<U>]) -> &mut [U] {
    // SAFETY: `MaybeUninit<U>` has `U`'s layout, and the caller promises the values.
    unsafe { &mut *(buf as *mut [MaybeUninit<U>] as *mut [U]) }
}

/// The loss and gradient kernel over one run (`CONTIGUOUS`: every step is 1, which the
/// compiler then knows). Each chunk of the run is copied into `s`, computed by the
/// [`Element`] chunk functions, and written back: every input of a chunk is read before any
/// output is written (exact aliases), and strided and contiguous layouts give the same values.
///
/// # Safety
/// Every non-NULL pointer, offset by the run, addresses valid elements; NULL ones are only
/// used where the plan says the operand is absent.
#[inline(always)]
unsafe fn run_chunks<T: Element, const CONTIGUOUS: bool, const MODE: u8>(
    p: &Plan,
    ptrs: &[*mut T; 6],
    run: Run<6>,
    s: &mut Scratch<T>,
    acc: &mut Acc,
) {
    let step = if CONTIGUOUS { [1; 6] } else { run.step };
    // Element `base` of operand `k` in this run.
    let at =
        |k: usize, base: usize| ptrs[k].wrapping_offset(run.start[k] + base as isize * step[k]);
    let direct = reads_in_place(CONTIGUOUS, MODE);
    // Absent operands have NULL base pointers, whose offset addresses are never used.
    let out = |k: usize, base: usize| if ptrs[k].is_null() { null_mut() } else { at(k, base) };
    if direct && MODE == BACKWARD {
        let ins = [IMG1, IMG2, GRAD_OUT].map(|k| at(k, 0).cast_const());
        let outs = [out(GRAD1, 0), out(GRAD2, 0)];
        if T::ONE_PASS_GRAD || separate(outs, ins) {
            // One loop over the run, element by element (and the pairs to redo again).
            one_pass_grads(p, ins, outs, run.len);
            return;
        }
    }
    let mut s = s.bufs();
    if direct && (MODE == SUM || MODE == FUSED && !p.loss_tensor) {
        // Spans read in place, with no copy and no buffer of results: the loss sum straight
        // from the inputs, with the gradients in the same loop where it can (`fused_span`),
        // else in one pass after it (inputs still in L1), or chunk by chunk where an output
        // is an input and the type redoes rare gradients (which read the inputs again).
        let span = if MODE == FUSED { FUSED_SPAN_BYTES } else { SPAN_BYTES } / size_of::<T>();
        for base in (0..run.len).step_by(span) {
            let n = span.min(run.len - base);
            let (x, y) = (at(IMG1, base), at(IMG2, base));
            let (xs, ys) = (std::slice::from_raw_parts(x, n), std::slice::from_raw_parts(y, n));
            let outs = [out(GRAD1, base), out(GRAD2, base)];
            if MODE == FUSED && fused_span(p, (xs, ys), outs, acc) {
                continue;
            }
            let ins = [x, y, at(GRAD_OUT, base)].map(<*mut T>::cast_const);
            if MODE == FUSED && !(T::ONE_PASS_GRAD || separate(outs, ins)) {
                let span = (base, base + n);
                run_chunk_loop::<T, CONTIGUOUS, MODE>(p, ptrs, at, step, span, &mut s, acc);
                continue;
            }
            T::sum_losses(xs, ys, s.parts.each_mut().map(|p| &mut **p), acc);
            if MODE == FUSED {
                one_pass_grads(p, ins, outs, n);
            }
        }
        return;
    }
    run_chunk_loop::<T, CONTIGUOUS, MODE>(p, ptrs, at, step, (0, run.len), &mut s, acc);
}

/// Whether [`run_chunks`] reads its inputs in place: contiguous ones, for all but the
/// element-wise forward (measured faster; the element-wise loss loops measured faster on
/// copies). All outputs are written after the chunk's last read (an output may be an input's
/// exact alias), and no other thread touches its elements.
const fn reads_in_place(contiguous: bool, mode: u8) -> bool {
    contiguous && mode != LOSS
}

/// [`run_chunks`]' elements `from..to` of its run, a chunk at a time (`at(k, j)`: element
/// `j` of operand `k`, `step[k]` apart).
///
/// # Safety
/// As [`run_chunks`].
#[inline(always)]
unsafe fn run_chunk_loop<T: Element, const CONTIGUOUS: bool, const MODE: u8>(
    p: &Plan,
    ptrs: &[*mut T; 6],
    at: impl Fn(usize, usize) -> *mut T,
    step: [isize; 6],
    (from, to): (usize, usize),
    s: &mut Bufs<'_, T>,
    acc: &mut Acc,
) {
    let direct = reads_in_place(CONTIGUOUS, MODE);
    for base in (from..to).step_by(CHUNK) {
        let n = CHUNK.min(to - base);
        let x = input(at(IMG1, base), step[IMG1], direct, &mut s.x[..n]);
        let y = input(at(IMG2, base), step[IMG2], direct, &mut s.y[..n]);
        let g =
            p.grad_tensor.then(|| input(at(GRAD_OUT, base), step[GRAD_OUT], direct, &mut s.g[..n]));
        let (losses, grads) = (&mut s.losses[..n], &mut s.grads[..n]);
        compute::<T, MODE>(
            p,
            (x, y, g),
            (losses, s.parts.each_mut().map(|p| &mut **p)),
            grads,
            acc,
        );
        store_results::<T, MODE>(p, ptrs, |k| at(k, base), &step, losses, grads);
    }
}

/// The fused call's loss sum and gradients of a span in one loop, so that the sum's
/// arithmetic runs while the gradients' divisions are under way: the groups of
/// [`Element::try_sum_losses`] also write their gradients to `outs` (NULL: absent), by
/// [`Element::fused_grad`] (a span with a pair to redo is refused by the sum). Returns false
/// where it did not add the span's losses (the gradients may be written): where an output is
/// an input (its gradients would overwrite the values a refused sum reads again), the
/// upstream is a tensor (the groups take the scalar factor), streamed outputs are not 16-byte
/// aligned, or the sum refuses the span. Measured against a chunk's sum and then its
/// gradients, float64 loss-and-gradient MEAN, 16.7M elements on 2 threads (AVX-512, in
/// turns): 29-35 against 38-43 ms.
///
/// # Safety
/// `outs` are writable for the span's length, and alias no other operand but exactly.
#[inline(always)]
unsafe fn fused_span<T: Element>(
    p: &Plan,
    (x, y): (&[T], &[T]),
    outs: [*mut T; 2],
    acc: &mut Acc,
) -> bool {
    if !separate(outs, [x.as_ptr(), y.as_ptr()])
        || p.grad_tensor
        || p.stream.is_some() && stream::head(outs, 16) != Some(0)
    {
        return false;
    }
    debug_assert!(p.factor.hi.is_finite(), "the fused call's factor: 1 or 1/numel");
    let g = (p.factor, outs);
    // The store width is chosen here, once per span, and is a constant in the groups' loop.
    match p.stream.map(|w| stream::aligned(outs, w)) {
        None => span_grads::<T, 0>((x, y), g, acc),
        Some(stream::Width::Xmm) => span_grads::<T, 16>((x, y), g, acc),
        Some(stream::Width::Ymm) => span_grads::<T, 32>((x, y), g, acc),
        Some(stream::Width::Zmm) => span_grads::<T, 64>((x, y), g, acc),
    }
}

/// [`Element::try_sum_losses`] of a [`fused_span`] with its [`SpanGrads`]: whether both
/// outputs are present is a constant in the groups' loop too (with a test of each per group,
/// float32 loss-and-gradient MEAN at 16.7M on 2 threads was 3-6% slower, in cache 3%).
///
/// # Safety
/// As [`fused_span`], whose tests have passed.
#[inline(always)]
unsafe fn span_grads<T: Element, const W: usize>(
    (x, y): (&[T], &[T]),
    (factor, outs): (Dd, [*mut T; 2]),
    acc: &mut Acc,
) -> bool {
    if outs.iter().all(|o| !o.is_null()) {
        T::try_sum_losses(x, y, acc, SpanGrads::<T, W, true> { factor, outs })
    } else {
        T::try_sum_losses(x, y, acc, SpanGrads::<T, W, false> { factor, outs })
    }
}

/// The gradients a [`fused_span`] group writes, a group of the sum's lanes at a time: by
/// non-temporal stores of `W` bytes (a large call's: see [`stream::stream_as`]), or plainly
/// for `W = 0`; `BOTH`: neither output is absent (NULL).
struct SpanGrads<T, const W: usize, const BOTH: bool> {
    factor: Dd,
    outs: [*mut T; 2],
}

impl<T: Element, const N: usize, const W: usize, const BOTH: bool> Also<T, N>
    for SpanGrads<T, W, BOTH>
{
    /// Large calls only (streamed): in cache, at 6144 elements, the prefetches cost the
    /// float32 fused call 14%.
    #[inline(always)]
    fn ahead(&self) -> bool {
        W != 0
    }

    #[inline(always)]
    fn group(&mut self, j: usize, x: &[T; N], y: &[T; N], [hi, lo]: &[[f64; N]; 2]) {
        // A pair the sum would refuse (so that the caller redoes the span) may get any value.
        // A loop, not `array::from_fn`, which the compiler may leave uninlined (then without
        // the kernels' target features: a library call per multiply-add).
        let mut v = [T::ZERO; N];
        for (k, v) in v.iter_mut().enumerate() {
            *v = T::fused_grad(x[k], y[k], self.factor, [hi[k], lo[k]]);
        }
        for (o, v) in self.outs.into_iter().zip([v, v.map(T::neg)]) {
            // SAFETY: (of `fused_span`) each present output is writable for the span, and
            // when streamed aligned to `W` bytes at its start (`stream::aligned`), so at each
            // group (a whole number of stores of `stream::group_bytes`).
            if BOTH || !o.is_null() {
                unsafe { stream::stream_as::<T, N, W>(o.add(j), &v) };
            }
        }
    }
}

/// Whether none of the outputs `outs` is one of the inputs `ins` (the only overlap that
/// validation lets through is an exact alias).
fn separate<T, const N: usize>(outs: [*mut T; 2], ins: [*const T; N]) -> bool {
    outs.iter().all(|&o| !ins.contains(&o.cast_const()))
}

/// The gradients of `len` contiguous elements from `[x, y, g]` on (`g` read only for an
/// upstream tensor), element by element, written to `outs` as [`write_grads`] does.
///
/// # Safety
/// As [`write_grads`], with `len` elements readable from each input the plan reads; the
/// outputs are [`separate`] from the inputs unless `T::ONE_PASS_GRAD`.
#[inline(always)]
unsafe fn one_pass_grads<T: Element>(
    p: &Plan,
    [x, y, g]: [*const T; 3],
    outs: [*mut T; 2],
    len: usize,
) {
    if p.grad_tensor {
        grads_by(|j| Dd::new(g.add(j).read().widen()), [x, y], outs, len, p.stream);
    } else {
        grads_by(|_| p.factor, [x, y], outs, len, p.stream);
    }
}

/// [`one_pass_grads`] with the factor of element `j` given by `f(j)`: the first pass of each
/// gradient, then the pairs it flags again, from the inputs, which it left as they were.
/// float64 backward against a chunk at a time (a buffer, then copied out), AVX-512, in
/// turns: 6144 elements 5.7 against 7.5 microseconds; 16.7M on 2 threads 22.1-23.3 against
/// 23.1-24.3 ms.
///
/// # Safety
/// As [`one_pass_grads`].
#[inline(always)]
unsafe fn grads_by<T: Element>(
    f: impl Fn(usize) -> Dd,
    [x, y]: [*const T; 2],
    outs: [*mut T; 2],
    len: usize,
    stream: Option<stream::Width>,
) {
    let pair = |j: usize| (x.add(j).read(), y.add(j).read(), f(j));
    let mut redo = false;
    let first = |j: usize| {
        let (x, y, f) = pair(j);
        let (v, again) = T::first_grad(x, y, f);
        redo |= again;
        v
    };
    write_grads(len, first, outs, stream);
    if T::ONE_PASS_GRAD || !redo {
        return;
    }
    stream::fence(); // the streamed values before those written over them
    for j in 0..len {
        let (x, y, f) = pair(j);
        if T::first_grad(x, y, f).1 {
            let v = T::grad(x, y, f);
            let at = outs.map(|o| if o.is_null() { o } else { o.add(j) });
            write_grads(1, |_| v, at, None);
        }
    }
}

/// Write the results of a chunk from `at(k)` on, `step[k]` apart, for the outputs `k` the
/// call has (NULL in `ptrs`: absent): the losses of a loss tensor, the gradients, and their
/// negations.
///
/// # Safety
/// Those elements of each present output are writable.
#[inline(always)]
unsafe fn store_results<T: Element, const MODE: u8>(
    p: &Plan,
    ptrs: &[*mut T; 6],
    at: impl Fn(usize) -> *mut T,
    step: &[isize; 6],
    losses: &[f64],
    grads: &[T],
) {
    if MODE != BACKWARD && p.loss_tensor {
        store(at(OUT), step[OUT], losses, T::narrow, p.stream);
    }
    if has_grads(MODE) && !ptrs[GRAD1].is_null() {
        store(at(GRAD1), step[GRAD1], grads, |v| v, p.stream);
    }
    if has_grads(MODE) && !ptrs[GRAD2].is_null() {
        store(at(GRAD2), step[GRAD2], grads, T::neg, p.stream);
    }
}

/// Write `grad(j)` for `j < len` to the first gradient and its negation to the second, from
/// their first elements on (NULL: absent); for `stream`, by non-temporal stores where the
/// outputs are aligned for them.
///
/// # Safety
/// `len` elements of each present output are writable; `grad(j)` reads only element `j`
/// of the inputs (so an output may be an input's exact alias).
#[inline(always)]
unsafe fn write_grads<T: Element>(
    len: usize,
    grad: impl FnMut(usize) -> T,
    [g1, g2]: [*mut T; 2],
    stream: Option<stream::Width>,
) {
    match (g1.is_null(), g2.is_null()) {
        (false, false) => write_each::<T, true, true>(len, grad, [g1, g2], stream),
        (false, true) => write_each::<T, true, false>(len, grad, [g1, g2], stream),
        (true, false) => write_each::<T, false, true>(len, grad, [g1, g2], stream),
        (true, true) => {}
    }
}

/// [`write_grads`] with the outputs present fixed at compile time (`FIRST`, `SECOND`): a
/// choice made inside the loops became masked stores, slow on x86, or slower streaming.
///
/// # Safety
/// As [`write_grads`].
#[inline(always)]
unsafe fn write_each<T: Element, const FIRST: bool, const SECOND: bool>(
    len: usize,
    mut grad: impl FnMut(usize) -> T,
    [g1, g2]: [*mut T; 2],
    stream: Option<stream::Width>,
) {
    let put = |j: usize, v: T| {
        if FIRST {
            g1.add(j).write(v);
        }
        if SECOND {
            g2.add(j).write(v.neg());
        }
    };
    let Some((head, width)) = stream.and_then(|w| stream::widest_head([g1, g2], w).map(|h| (h, w)))
    else {
        return (0..len).for_each(|j| put(j, grad(j)));
    };
    let head = head.min(len);
    (0..head).for_each(|j| put(j, grad(j)));
    let (mut v, mut w) = ([T::ZERO; stream::PIECE], [T::ZERO; stream::PIECE]);
    let mut base = head;
    while len - base >= stream::PIECE {
        for j in 0..stream::PIECE {
            v[j] = grad(base + j);
            w[j] = v[j].neg();
        }
        if FIRST {
            stream::stream_out(g1.add(base), &v, width);
        }
        if SECOND {
            stream::stream_out(g2.add(base), &w, width);
        }
        base += stream::PIECE;
    }
    (base..len).for_each(|j| put(j, grad(j)));
}

/// The losses (into `losses`, or added to `acc` for a sum, through `parts`) and the
/// gradients (into `grads`) of one chunk or tile of inputs `(x, y, g)`, as the plan and the
/// kind of call say.
#[inline(always)]
fn compute<T: Element, const MODE: u8>(
    p: &Plan,
    (x, y, g): (&[T], &[T], Option<&[T]>),
    (losses, parts): (&mut [f64], [&mut [f64]; 2]),
    grads: &mut [T],
    acc: &mut Acc,
) {
    let (loss, grad, [t, t_lo]) = (MODE != BACKWARD, has_grads(MODE), parts);
    if loss && grad && !p.loss_tensor {
        // The fused call with a loss sum: both at once, for types that share work.
        return T::sum_losses_and_grads((x, y), [t, t_lo], acc, (g, p.factor), grads);
    }
    if loss && p.loss_tensor {
        T::losses(x, y, losses);
    } else if loss {
        T::sum_losses(x, y, [t, t_lo], acc);
    }
    if grad {
        T::grads(x, y, g, p.factor, grads);
    }
}

/// The `buf.len()` input elements from `src` on, `step` apart: in place if `direct` (the
/// step is then 1), else copied into `buf`.
///
/// # Safety
/// Those elements are readable, and not written while the returned slice is in use.
#[inline(always)]
unsafe fn input<T: Copy>(src: *const T, step: isize, direct: bool, buf: &mut [T]) -> &[T] {
    if direct {
        std::slice::from_raw_parts(src, buf.len())
    } else {
        load(src, step, buf, |v| v);
        buf
    }
}

/// Read `dst.len()` elements from `src` on, `step` apart, through `f` (a plain loop, which
/// vectorises, when the step is 1: a strided run may still be contiguous in some operands).
///
/// # Safety
/// Those elements are readable.
#[inline(always)]
unsafe fn load<T: Copy, U>(src: *const T, step: isize, dst: &mut [U], f: impl Fn(T) -> U) {
    if step == 1 {
        dst.iter_mut().enumerate().for_each(|(j, d)| *d = f(src.add(j).read()));
    } else {
        dst.iter_mut().enumerate().for_each(|(j, d)| *d = f(src.offset(j as isize * step).read()));
    }
}

/// Write `f(src[j])` for each `j` from `dst` on, `step` apart (vectorised when the step is 1;
/// iterating over `src` rather than indexing it leaves no bounds check, which would keep the
/// last elements out of the vector loop). With `streaming`, a whole chunk to a contiguous,
/// 16-byte aligned `dst` goes by non-temporal stores ([`stream`]; [`kernel`] fences them).
///
/// # Safety
/// Those elements are writable.
#[inline(always)]
unsafe fn store<T: Copy, U: Copy>(
    dst: *mut T,
    step: isize,
    src: &[U],
    f: impl Fn(U) -> T,
    streaming: Option<stream::Width>,
) {
    match (<&[U; CHUNK]>::try_from(src), streaming) {
        (Ok(whole), Some(width)) if step == 1 && (dst as usize).is_multiple_of(16) => {
            stream::stream_out(dst, &whole.map(f), width);
        }
        _ if step == 1 => {
            src.iter().enumerate().for_each(|(j, &v)| dst.add(j).write(f(v)));
        }
        _ => {
            src.iter().enumerate().for_each(|(j, &v)| dst.offset(j as isize * step).write(f(v)));
        }
    }
}

/// A group of runs: [`run_tile`] for several runs of an element-wise call, else
/// [`run_chunks`] on each.
///
/// # Safety
/// As [`run_chunks`], for every run in `runs`.
#[inline(always)]
unsafe fn run_group<T: Element, const CONTIGUOUS: bool, const MODE: u8>(
    p: &Plan,
    ptrs: &[*mut T; 6],
    runs: &[Run<6>],
    s: &mut Scratch<T>,
    acc: &mut Acc,
) {
    if CONTIGUOUS || p.loss_sum || runs.len() == 1 {
        // A plain loop: an iterator adaptor's closure could be compiled apart, without the
        // caller's target features.
        for &run in runs {
            run_chunks::<T, CONTIGUOUS, MODE>(p, ptrs, run, s, acc);
        }
    } else {
        run_tile::<T, MODE>(p, ptrs, runs, acc);
    }
}

/// A compiled [`run_group`]: itself (portable) or a copy from [`compiled_for`]. Called through
/// this pointer it stays a function of its own, not inlined into the walk's closure, where the
/// compiler would lose track of which references may alias and vectorise less.
type GroupFn<T> = unsafe fn(&Plan, &[*mut T; 6], &[Run<6>], &mut Scratch<T>, &mut Acc);

/// The [`run_group`] for this CPU, layout and kind of call.
fn group_fn<T: Element, const MODE: u8>(contiguous: bool) -> GroupFn<T> {
    match (isa(), contiguous) {
        (Isa::Avx512, true) => run_group_avx512::<T, true, MODE>,
        (Isa::Avx512, false) => run_group_avx512::<T, false, MODE>,
        (Isa::Avx2, true) => run_group_avx2::<T, true, MODE>,
        (Isa::Avx2, false) => run_group_avx2::<T, false, MODE>,
        (Isa::Portable, true) => run_group::<T, true, MODE>,
        (Isa::Portable, false) => run_group::<T, false, MODE>,
    }
}

/// Copies of [`run_group`], [`sum_run`], [`call`], [`one`] and [`reduce`] compiled for the target
/// features `$features` (on x86-64; elsewhere [`isa`] never picks them). Everything they call
/// is `#[inline(always)]`, so the whole kernel is compiled for those features (the calls'
/// kernels are reached through pointers, so each is still a function of its own).
macro_rules! compiled_for {
    ($features:literal, $group:ident, $sum:ident, $call:ident, $one:ident, $reduce:ident) => {
        #[doc = concat!("[`run_group`] compiled for ", $features, ".")]
        ///
        /// # Safety
        /// As [`run_group`], on a CPU with these features.
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = $features))]
        unsafe fn $group<T: Element, const CONTIGUOUS: bool, const MODE: u8>(
            p: &Plan,
            ptrs: &[*mut T; 6],
            runs: &[Run<6>],
            s: &mut Scratch<T>,
            acc: &mut Acc,
        ) {
            run_group::<T, CONTIGUOUS, MODE>(p, ptrs, runs, s, acc)
        }

        #[doc = concat!("[`sum_run`] compiled for ", $features, ".")]
        ///
        /// # Safety
        /// As [`sum_run`], on a CPU with these features.
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = $features))]
        unsafe fn $sum<T: Element>(x: *const T, run: Run<1>, scale: f64, acc: &mut Acc) {
            sum_run(x, run, scale, acc)
        }

        #[doc = concat!("[`call`] compiled for ", $features, ".")]
        ///
        /// # Safety
        /// On a CPU with these features.
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = $features))]
        unsafe fn $call<T: Element>(c: &Call<T>) -> Result<(), Error> {
            call(c)
        }

        #[doc = concat!("[`one`] compiled for ", $features, ".")]
        ///
        /// # Safety
        /// On a CPU with these features.
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = $features))]
        unsafe fn $one<T: Element>(c: &OneCall<T>) -> Result<(), Error> {
            one(c)
        }

        #[doc = concat!("[`reduce`] compiled for ", $features, ".")]
        ///
        /// # Safety
        /// On a CPU with these features.
        #[cfg_attr(target_arch = "x86_64", target_feature(enable = $features))]
        unsafe fn $reduce<T: Element>(c: &ReduceCall<T>) -> Result<(), Error> {
            reduce(c)
        }
    };
}

compiled_for!("avx2,fma", run_group_avx2, sum_run_avx2, call_avx2, one_avx2, reduce_avx2);
compiled_for!(
    "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma",
    run_group_avx512,
    sum_run_avx512,
    call_avx512,
    one_avx512,
    reduce_avx512
);

/// `group` over the logical elements `begin..end` of `walk`: a run at a time where the walk is
/// contiguous, the call sums or is small, else [`crate::layout::GROUP`] runs at a time (tiles,
/// whose buffers take 48 KB (f32) or 80 KB (f64) of stack: kept to large calls, which usually
/// run on the pool's threads).
///
/// # Safety
/// As [`run_chunks`], for every run of `walk`, with a `group` the CPU supports.
unsafe fn kernel<T: Element>(
    group: GroupFn<T>,
    p: &Plan,
    ptrs: &[*mut T; 6],
    walk: &Walk<'_, 6>,
    (begin, end): (usize, usize),
    acc: &mut Acc,
) {
    let mut s = Scratch::new();
    s.zero(end - begin);
    if walk.inner_contiguous() || p.loss_sum || walk.numel() < PARALLEL_MIN {
        walk.for_each_run(begin, end, |r| group(p, ptrs, &[r], &mut s, acc));
    } else {
        walk.for_each_group(begin, end, |runs| group(p, ptrs, runs, &mut s, acc));
    }
    if p.stream.is_some() {
        // Once per block, for all its runs' non-temporal stores, before the block is done.
        stream::fence();
    }
}

/// Add the elements of `run` over `x`, times `scale`, to `acc`, a chunk at a time.
///
/// # Safety
/// Every element of the run is readable from `x`.
#[inline(always)]
unsafe fn sum_run<T: Element>(x: *const T, run: Run<1>, scale: f64, acc: &mut Acc) {
    let (mut vals, step) = ([0.0; CHUNK], run.step[0]);
    for base in (0..run.len).step_by(CHUNK) {
        let vals = &mut vals[..CHUNK.min(run.len - base)];
        let src = x.wrapping_offset(run.start[0] + base as isize * step);
        load(src, step, vals, |v| v.widen() * scale);
        if T::PLAIN_REDUCE {
            acc.add_values::<false>(vals);
        } else {
            acc.add_values::<true>(vals);
        }
    }
}

/// A compiled [`sum_run`] (a pointer for the reason [`GroupFn`] gives).
type SumFn<T> = unsafe fn(*const T, Run<1>, f64, &mut Acc);

/// `2^64`: the pre-scaling (by its inverse) that keeps an overflowing f64 sum finite.
const SCALE_UP: f64 = 18446744073709551616.0;

/// Run a `cauchy_reduce_*` call (the copy of [`reduce`] for this CPU).
pub fn run_reduce<T: Element>(c: &ReduceCall<T>) -> Result<(), Error> {
    on_isa(c, reduce_avx512, reduce_avx2, reduce)
}

/// A `cauchy_reduce_*` call (inlined as [`call`] is).
#[inline(always)]
fn reduce<T: Element>(c: &ReduceCall<T>) -> Result<(), Error> {
    let _env = DefaultFpEnv::enter();
    let numel = c.x.layout.numel();
    if numel == 1 {
        // One value is its sum and its mean, exactly (+0 added: a -0 sums to +0, as in the
        // lanes); the walk, blocks and fold were four fifths of such a call's time.
        // SAFETY: validated one-element input and output; the input is read first.
        unsafe { c.out.write(T::narrow(c.x.ptr.read().widen() + 0.0)) };
        return Ok(());
    }
    let sum: SumFn<T> = match isa() {
        Isa::Avx512 => sum_run_avx512::<T>,
        Isa::Avx2 => sum_run_avx2::<T>,
        Isa::Portable => sum_run::<T>,
    };
    let mut room = WideRoom::default();
    let walk = Walk::new(&c.x.layout, [&c.x.layout], &mut room);
    let ptr = Ptrs([c.x.ptr]);
    let sum_scaled = |scale: f64, acc: &mut Acc| {
        blocks(walk.numel(), BLOCK, acc, |begin, end, acc| {
            // SAFETY: validation proved the input's elements addressable by its layout;
            // `isa()` only picks paths the CPU supports.
            walk.for_each_run(begin, end, |run| unsafe { sum(ptr.get()[0], run, scale, acc) })
        })
    };
    let mut acc = Acc::default();
    sum_scaled(1.0, &mut acc)?;
    let result = match acc.result_unless_overflowed(divisor(c.mean, numel)) {
        Some(result) => result,
        None => {
            // Finite values whose running sum overflowed (f64 only): sum again at 2^-64 scale;
            // scaling back rounds exactly, or overflows to ±inf when the true sum does.
            let mut acc = Acc::default();
            sum_scaled(1.0 / SCALE_UP, &mut acc)?;
            acc.result(divisor(c.mean, numel)) * SCALE_UP
        }
    };
    // SAFETY: validated one-element output.
    unsafe { c.out.write(T::narrow(result)) };
    Ok(())
}
