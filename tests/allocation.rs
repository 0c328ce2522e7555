//! Small calls allocate nothing: every operation, f32 and f64, on contiguous, transposed and
//! unfusable strided layouts below the size where the pool is used, counted by a global
//! allocator that tallies the allocations of the calling thread.

mod common;

use cauchy::{
    CAUCHY_REDUCTION_MEAN as MEAN, CAUCHY_REDUCTION_NONE as NONE, CAUCHY_REDUCTION_SUM as SUM,
};
use common::tensors::{ok, Float, Rng, View};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::{null, null_mut};

/// The system allocator, counting each thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed straight to `System`; the count is a const-initialised
// thread-local `Cell`, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// How many allocations `f` made on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Every operation on inputs of `shape` laid out by `strides` (outputs C-contiguous), once
/// to warm up (the first call reads the environment), then counted.
fn every_op_allocates_nothing<T: Float>(shape: &[i64], strides: Option<&[i64]>) {
    let mut rng = Rng(7);
    let x = View::<T>::new(shape, strides, || rng.value(-4.0, 4.0));
    let y = View::<T>::new(shape, strides, || rng.value(-4.0, 4.0));
    let g = View::<T>::new(shape, strides, || rng.value(-2.0, 2.0));
    let (mut out, mut g1, mut g2) =
        (View::<T>::output(shape, None), View::output(shape, None), View::output(shape, None));
    let mut scalar = T::sentinel();
    let upstream = T::sentinel();
    let mut calls = || {
        let (xp, xd, yp, yd) = (x.ptr(), x.desc(), y.ptr(), y.desc());
        // SAFETY: every pointer addresses the elements its descriptor describes.
        unsafe {
            ok(T::LOSS(xp, xd, yp, yd, NONE, out.ptr_mut(), out.desc()), "loss NONE");
            for r in [MEAN, SUM] {
                ok(T::LOSS(xp, xd, yp, yd, r, &mut scalar, null()), "loss MEAN/SUM");
                ok(T::REDUCE(xp, xd, r, &mut scalar), "reduce");
            }
            let (g1p, g1d, g2p, g2d) = (g1.ptr_mut(), g1.desc(), g2.ptr_mut(), g2.desc());
            ok(T::BACKWARD(xp, xd, yp, yd, NONE, g.ptr(), g.desc(), g1p, g1d, g2p, g2d), "bwd");
            ok(
                T::BACKWARD(xp, xd, yp, yd, MEAN, &upstream, null(), g1p, g1d, null_mut(), null()),
                "bwd MEAN",
            );
            ok(
                T::FUSED(xp, xd, yp, yd, MEAN, &mut scalar, null(), g1p, g1d, g2p, g2d),
                "fused MEAN",
            );
            ok(
                T::FUSED(xp, xd, yp, yd, NONE, out.ptr_mut(), out.desc(), g1p, g1d, g2p, g2d),
                "fused",
            );
        }
    };
    calls();
    let n = allocations(calls);
    assert_eq!(n, 0, "{} {shape:?} strides {strides:?}: {n} allocations", T::NAME);
}

fn every_layout<T: Float>() {
    every_op_allocates_nothing::<T>(&[1], None);
    every_op_allocates_nothing::<T>(&[2, 3, 32, 32], None);
    // A transposed 64x64 view: two fused dimensions.
    every_op_allocates_nothing::<T>(&[64, 64], Some(&[1, 64]));
    // Six dimensions that fuse with nothing (every stride padded, two flipped): more than a
    // walk keeps inline.
    every_op_allocates_nothing::<T>(&[2, 3, 2, 3, 2, 3], Some(&[-400, 100, 40, -12, 5, 1]));
}

#[test]
fn small_f32_calls_allocate_nothing() {
    every_layout::<f32>();
}

#[test]
fn small_f64_calls_allocate_nothing() {
    every_layout::<f64>();
}
