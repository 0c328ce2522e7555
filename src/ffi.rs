//! The exported C functions. Each one only names its arguments, hands them to `validate`,
//! and runs the checked call in `ops`, inside the boundary guard.

use crate::boundary::{guard, guard_value, last_error};
use crate::desc::CauchyTensorDesc;
use crate::math::Element;
use crate::status::CauchyStatus;
use crate::validate::{check_reduce, Arg, RawCall, RawTensor};
use crate::{ops, pool};
use std::ffi::c_char;

fn raw<'a, T>(arg: Arg, ptr: *const T, desc: *const CauchyTensorDesc) -> RawTensor<'a, T> {
    RawTensor { arg, ptr, desc, call: std::marker::PhantomData }
}

fn inputs<'a, T>(
    img1: *const T,
    img1_desc: *const CauchyTensorDesc,
    img2: *const T,
    img2_desc: *const CauchyTensorDesc,
) -> (RawTensor<'a, T>, RawTensor<'a, T>) {
    (raw(Arg::Img1, img1, img1_desc), raw(Arg::Img2, img2, img2_desc))
}

fn grads<'a, T>(
    g1: *mut T,
    g1_desc: *const CauchyTensorDesc,
    g2: *mut T,
    g2_desc: *const CauchyTensorDesc,
) -> Option<(RawTensor<'a, T>, RawTensor<'a, T>)> {
    Some((raw(Arg::GradImg1, g1, g1_desc), raw(Arg::GradImg2, g2, g2_desc)))
}

/// Check and run a loss, backward or fused call.
///
/// # Safety
/// The C caller's promises of API.md: descriptors readable, data pointers addressing the
/// elements their descriptors describe.
unsafe fn call<T: Element>(c: RawCall<T>) -> CauchyStatus {
    guard(|| c.check_then(ops::run_one, ops::run_call))
}

unsafe fn reduce<T: Element>(
    x: *const T,
    x_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut T,
) -> CauchyStatus {
    guard(|| ops::run_reduce(&check_reduce(&raw(Arg::X, x, x_desc), reduction, out)?))
}

unsafe fn loss<T: Element>(
    img1: *const T,
    img1_desc: *const CauchyTensorDesc,
    img2: *const T,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut T,
    out_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    let (img1, img2) = inputs(img1, img1_desc, img2, img2_desc);
    call(RawCall {
        img1,
        img2,
        reduction,
        grad_out: None,
        out: Some(raw(Arg::Out, out, out_desc)),
        grads: None,
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn backward<T: Element>(
    img1: *const T,
    img1_desc: *const CauchyTensorDesc,
    img2: *const T,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    grad_out: *const T,
    grad_out_desc: *const CauchyTensorDesc,
    grad_img1: *mut T,
    grad_img1_desc: *const CauchyTensorDesc,
    grad_img2: *mut T,
    grad_img2_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    let (img1, img2) = inputs(img1, img1_desc, img2, img2_desc);
    call(RawCall {
        img1,
        img2,
        reduction,
        grad_out: Some(raw(Arg::GradOut, grad_out, grad_out_desc)),
        out: None,
        grads: grads(grad_img1, grad_img1_desc, grad_img2, grad_img2_desc),
    })
}

#[allow(clippy::too_many_arguments)]
unsafe fn loss_and_grad<T: Element>(
    img1: *const T,
    img1_desc: *const CauchyTensorDesc,
    img2: *const T,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut T,
    out_desc: *const CauchyTensorDesc,
    grad_img1: *mut T,
    grad_img1_desc: *const CauchyTensorDesc,
    grad_img2: *mut T,
    grad_img2_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    let (img1, img2) = inputs(img1, img1_desc, img2, img2_desc);
    call(RawCall {
        img1,
        img2,
        reduction,
        grad_out: None,
        out: Some(raw(Arg::Out, out, out_desc)),
        grads: grads(grad_img1, grad_img1_desc, grad_img2, grad_img2_desc),
    })
}

/// The Cauchy loss `log1p((img1 - img2)^2 / 2)` of two float tensors of one shape.
///
/// `reduction` is CAUCHY_REDUCTION_NONE (out: a tensor of img1's shape), _MEAN or _SUM (out:
/// one element). `img1_desc` is required; `img2_desc` and `out_desc` may be NULL for "img1's
/// shape, C-contiguous" (for MEAN / SUM, `out_desc` may be any one-element descriptor).
/// `out` may be an exact alias of an input (same pointer and layout) for in-place use.
/// Every element is within 1 ULP of the correctly rounded exact loss; MEAN / SUM within 1 ULP
/// of the correctly rounded exact mean / sum.
///
/// Returns CAUCHY_STATUS_OK, or a failure status with nothing written (see
/// cauchy_last_error_message()).
///
/// # Safety
/// Descriptors and data must describe readable (inputs) / writable (outputs) memory.
#[no_mangle]
pub unsafe extern "C" fn cauchy_loss_f32(
    img1: *const f32,
    img1_desc: *const CauchyTensorDesc,
    img2: *const f32,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut f32,
    out_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    loss(img1, img1_desc, img2, img2_desc, reduction, out, out_desc)
}

/// cauchy_loss_f32() for double: each element within 2 ULP of the correctly rounded loss of
/// `d = img1 - img2` (the exact difference where that overflows); MEAN / SUM with relative error
/// at most 2^-50.
///
/// # Safety
/// As cauchy_loss_f32().
#[no_mangle]
pub unsafe extern "C" fn cauchy_loss_f64(
    img1: *const f64,
    img1_desc: *const CauchyTensorDesc,
    img2: *const f64,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut f64,
    out_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    loss(img1, img1_desc, img2, img2_desc, reduction, out, out_desc)
}

/// The gradients of the Cauchy loss: `grad_img1 = g * factor * 2d / (d^2 + 2)` with
/// `d = img1 - img2`, and `grad_img2 = -grad_img1` (bit for bit).
///
/// `reduction` NONE: `grad_out` (g) is a tensor of img1's shape, factor 1. MEAN: `grad_out` is
/// one element, factor 1/numel. SUM: one element, factor 1. `grad_img1` / `grad_img2` may each be
/// NULL to skip it (both NULL: the call only validates). Descriptors other than `img1_desc` may
/// be NULL ("img1's shape, C-contiguous"). Each result is within 1 ULP of the correctly rounded
/// exact value.
///
/// # Safety
/// As cauchy_loss_f32().
#[no_mangle]
pub unsafe extern "C" fn cauchy_loss_backward_f32(
    img1: *const f32,
    img1_desc: *const CauchyTensorDesc,
    img2: *const f32,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    grad_out: *const f32,
    grad_out_desc: *const CauchyTensorDesc,
    grad_img1: *mut f32,
    grad_img1_desc: *const CauchyTensorDesc,
    grad_img2: *mut f32,
    grad_img2_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    backward(
        img1,
        img1_desc,
        img2,
        img2_desc,
        reduction,
        grad_out,
        grad_out_desc,
        grad_img1,
        grad_img1_desc,
        grad_img2,
        grad_img2_desc,
    )
}

/// cauchy_loss_backward_f32() for double: each result within 2 ULP of the correctly rounded
/// exact value.
///
/// # Safety
/// As cauchy_loss_f32().
#[no_mangle]
pub unsafe extern "C" fn cauchy_loss_backward_f64(
    img1: *const f64,
    img1_desc: *const CauchyTensorDesc,
    img2: *const f64,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    grad_out: *const f64,
    grad_out_desc: *const CauchyTensorDesc,
    grad_img1: *mut f64,
    grad_img1_desc: *const CauchyTensorDesc,
    grad_img2: *mut f64,
    grad_img2_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    backward(
        img1,
        img1_desc,
        img2,
        img2_desc,
        reduction,
        grad_out,
        grad_out_desc,
        grad_img1,
        grad_img1_desc,
        grad_img2,
        grad_img2_desc,
    )
}

/// Forward and backward in one pass with upstream gradient 1 (a training step): `out` as in
/// cauchy_loss_f32(), `grad_img1` / `grad_img2` as in cauchy_loss_backward_f32() (MEAN scales
/// them by 1/numel). The results are bit-identical to the two separate calls.
///
/// # Safety
/// As cauchy_loss_f32().
#[no_mangle]
pub unsafe extern "C" fn cauchy_loss_and_grad_f32(
    img1: *const f32,
    img1_desc: *const CauchyTensorDesc,
    img2: *const f32,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut f32,
    out_desc: *const CauchyTensorDesc,
    grad_img1: *mut f32,
    grad_img1_desc: *const CauchyTensorDesc,
    grad_img2: *mut f32,
    grad_img2_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    loss_and_grad(
        img1,
        img1_desc,
        img2,
        img2_desc,
        reduction,
        out,
        out_desc,
        grad_img1,
        grad_img1_desc,
        grad_img2,
        grad_img2_desc,
    )
}

/// cauchy_loss_and_grad_f32() for double.
///
/// # Safety
/// As cauchy_loss_f32().
#[no_mangle]
pub unsafe extern "C" fn cauchy_loss_and_grad_f64(
    img1: *const f64,
    img1_desc: *const CauchyTensorDesc,
    img2: *const f64,
    img2_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut f64,
    out_desc: *const CauchyTensorDesc,
    grad_img1: *mut f64,
    grad_img1_desc: *const CauchyTensorDesc,
    grad_img2: *mut f64,
    grad_img2_desc: *const CauchyTensorDesc,
) -> CauchyStatus {
    loss_and_grad(
        img1,
        img1_desc,
        img2,
        img2_desc,
        reduction,
        out,
        out_desc,
        grad_img1,
        grad_img1_desc,
        grad_img2,
        grad_img2_desc,
    )
}

/// The MEAN or SUM of any float tensor into `*out` (CAUCHY_REDUCTION_NONE is
/// CAUCHY_STATUS_INVALID_REDUCTION). Error at most half an ULP of the result plus
/// 2^-40 * sum(|x_i|); a NaN, or +inf with -inf, gives NaN; a sum beyond FLT_MAX gives ±inf;
/// an empty tensor gives +0 (SUM) or NaN (MEAN).
///
/// # Safety
/// `x_desc` readable; `x` addresses the elements it describes; `out` one writable float.
#[no_mangle]
pub unsafe extern "C" fn cauchy_reduce_f32(
    x: *const f32,
    x_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut f32,
) -> CauchyStatus {
    reduce(x, x_desc, reduction, out)
}

/// cauchy_reduce_f32() for double: error at most half an ULP plus 2^-50 * sum(|x_i|), also when
/// partial sums would overflow.
///
/// # Safety
/// As cauchy_reduce_f32().
#[no_mangle]
pub unsafe extern "C" fn cauchy_reduce_f64(
    x: *const f64,
    x_desc: *const CauchyTensorDesc,
    reduction: i32,
    out: *mut f64,
) -> CauchyStatus {
    reduce(x, x_desc, reduction, out)
}

/// The name of a status value ("CAUCHY_STATUS_OK", ...), "CAUCHY_STATUS_UNKNOWN" for a value
/// this version does not know. The string is static.
#[no_mangle]
pub extern "C" fn cauchy_status_name(status: i32) -> *const c_char {
    let name = CauchyStatus::from_code(status).map_or(c"CAUCHY_STATUS_UNKNOWN", |s| s.name());
    name.as_ptr()
}

/// This thread's last failure message ("" if there was none), naming the argument and the
/// values involved. Valid until the next failing call on this thread; successful calls leave it.
#[no_mangle]
pub extern "C" fn cauchy_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), last_error)
}

/// The library's version as MAJOR*10000 + MINOR*100 + PATCH (compare with
/// CAUCHY_VERSION_NUMBER to detect a header/library mismatch).
#[no_mangle]
pub extern "C" fn cauchy_version() -> u32 {
    crate::VERSION_NUMBER
}

/// The library's version as text, "MAJOR.MINOR.PATCH". The string is static.
#[no_mangle]
pub extern "C" fn cauchy_version_string() -> *const c_char {
    crate::VERSION_STRING.as_ptr()
}

/// The kernel path in use: "avx512" (AVX-512 F, DQ, BW and VL with AVX2 and FMA), "avx2" (AVX2
/// and FMA) or "portable". Every path gives bit-identical results; `CAUCHY_KERNEL=portable`,
/// `=avx2` or `=avx512` in the environment forces one (read once, at first use; a path this CPU
/// lacks is ignored). The string is static.
#[no_mangle]
pub extern "C" fn cauchy_kernel_name() -> *const c_char {
    guard_value(c"portable".as_ptr(), || crate::dispatch::isa().name().as_ptr())
}

/// Set the number of threads later calls use: 0 restores the default (CAUCHY_NUM_THREADS when it
/// holds a valid number, else every core); n > 4096 is CAUCHY_STATUS_INVALID_ARGUMENT. Results
/// are bit-identical for every thread count. Affects the whole process.
#[no_mangle]
pub extern "C" fn cauchy_set_num_threads(n: usize) -> CauchyStatus {
    guard(|| pool::set_num_threads(n))
}

/// The number of threads calls use now (the resolved count, never 0).
#[no_mangle]
pub extern "C" fn cauchy_get_num_threads() -> usize {
    guard_value(1, pool::num_threads)
}
