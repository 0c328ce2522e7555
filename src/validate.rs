//! The one place that checks arguments: raw C descriptors and pointers in, checked [`Call`]s
//! out. Every check finishes before the caller computes anything, so a rejected call writes
//! nothing.

use crate::desc::{
    CauchyTensorDesc, CAUCHY_REDUCTION_MEAN, CAUCHY_REDUCTION_NONE, CAUCHY_REDUCTION_SUM,
};
use crate::layout::{Layout, MAX_NDIM};
use crate::status::{Error, ShapeText};
use std::marker::PhantomData;
use std::ptr::null_mut;

/// What the loss is reduced to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Mean,
    Sum,
}

impl Reduction {
    fn parse(r: i32) -> Result<Reduction, Error> {
        match r {
            CAUCHY_REDUCTION_NONE => Ok(Reduction::None),
            CAUCHY_REDUCTION_MEAN => Ok(Reduction::Mean),
            CAUCHY_REDUCTION_SUM => Ok(Reduction::Sum),
            other => Err(Error::InvalidReduction(other)),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Reduction::None => "CAUCHY_REDUCTION_NONE",
            Reduction::Mean => "CAUCHY_REDUCTION_MEAN",
            Reduction::Sum => "CAUCHY_REDUCTION_SUM",
        }
    }
}

/// A checked tensor operand: element [0, ..., 0] at `ptr`, the rest as `layout` says.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a, T> {
    pub ptr: *mut T,
    pub layout: Layout<'a>,
}

/// Where the upstream gradient comes from.
#[derive(Clone, Copy, Debug)]
pub enum Upstream<'a, T> {
    /// No gradient is computed (forward only).
    Absent,
    /// The fused call: upstream gradient 1.
    One,
    /// A one-element `grad_out` (MEAN / SUM backward).
    Scalar(*const T),
    /// A full `grad_out` tensor (NONE backward).
    Tensor(Operand<'a, T>),
}

/// Where the loss goes.
#[derive(Clone, Copy, Debug)]
pub enum LossOut<'a, T> {
    /// Not computed (backward only).
    Absent,
    /// One element: the MEAN or SUM.
    Scalar(*mut T),
    /// The element-wise loss tensor.
    Tensor(Operand<'a, T>),
}

/// A checked loss, backward or fused call.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a, T> {
    pub reduction: Reduction,
    pub img1: Operand<'a, T>,
    pub img2: Operand<'a, T>,
    pub upstream: Upstream<'a, T>,
    pub out: LossOut<'a, T>,
    pub grad_img1: Option<Operand<'a, T>>,
    pub grad_img2: Option<Operand<'a, T>>,
}

/// A checked `cauchy_reduce_*` call.
#[derive(Clone, Copy, Debug)]
pub struct ReduceCall<'a, T> {
    pub mean: bool,
    pub x: Operand<'a, T>,
    pub out: *mut T,
}

/// A checked one-element loss, backward or fused call: each operand's one element, NULL where
/// the call has no such operand. The reduction is not kept: one element is its own SUM and
/// MEAN (the loss, and the upstream factor `g / 1`).
#[derive(Clone, Copy, Debug)]
pub struct OneCall<T> {
    pub img1: *const T,
    pub img2: *const T,
    /// The upstream gradient, tensor or scalar alike; NULL: 1 (fused) or none (forward).
    pub grad_out: *const T,
    pub out: *mut T,
    pub grads: [*mut T; 2],
}

/// A tensor parameter of the C functions, named in messages (a byte to pass around, not two
/// strings).
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    Img1,
    Img2,
    GradOut,
    Out,
    GradImg1,
    GradImg2,
    X,
}

impl Arg {
    /// The data parameter's name.
    fn name(self) -> &'static str {
        self.names().0
    }

    /// The descriptor parameter's name.
    fn desc_name(self) -> &'static str {
        self.names().1
    }

    /// Both names.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Arg::Img1 => ("img1", "img1_desc"),
            Arg::Img2 => ("img2", "img2_desc"),
            Arg::GradOut => ("grad_out", "grad_out_desc"),
            Arg::Out => ("out", "out_desc"),
            Arg::GradImg1 => ("grad_img1", "grad_img1_desc"),
            Arg::GradImg2 => ("grad_img2", "grad_img2_desc"),
            Arg::X => ("x", "x_desc"),
        }
    }
}

/// A raw pointer with its descriptor, as the C caller passed them; `'a` is the call.
///
/// The fields are in the reverse order of the C parameters (`repr(C)` keeps it), with `arg`
/// between: in the parameters' order, two that a caller passes on the stack were copied by
/// one 16-byte load of its two 8-byte stores, which the CPU cannot forward (a tenth of a
/// one-element loss-and-gradient call, perf).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct RawTensor<'a, T> {
    pub desc: *const CauchyTensorDesc,
    pub arg: Arg,
    pub ptr: *const T,
    pub call: PhantomData<&'a ()>,
}

/// Read and check a descriptor: ndim, sizes and numel.
///
/// # Safety
/// `desc`'s `shape` / `strides` (when not NULL) point at `ndim` values readable for `'a`.
unsafe fn read_desc<'a>(arg: &'static str, desc: &CauchyTensorDesc) -> Result<Layout<'a>, Error> {
    let ndim = desc.ndim;
    if ndim > MAX_NDIM {
        return Err(Error::TooManyDims { arg, ndim, max: MAX_NDIM });
    }
    let sizes: &[i64] = match (ndim, desc.shape.is_null()) {
        (0, _) => &[],
        (_, true) => return Err(Error::NullPointer { arg, why: "->shape with ndim > 0" }),
        // SAFETY: the caller promises `ndim` readable sizes.
        (n, false) => std::slice::from_raw_parts(desc.shape, n),
    };
    if let Some((dim, &size)) = sizes.iter().enumerate().find(|(_, &s)| s < 0) {
        return Err(Error::NegativeSize { arg, dim, size });
    }
    let numel = match sizes.iter().try_fold(1i64, |acc, &s| acc.checked_mul(s)) {
        _ if sizes.contains(&0) => 0,
        Some(n) if n <= isize::MAX as i64 => n as usize,
        _ => return Err(Error::NumelOverflow { arg, shape: ShapeText(sizes.to_vec()) }),
    };
    // SAFETY: as above, `ndim` readable strides when not NULL.
    let strides = (!desc.strides.is_null()).then(|| std::slice::from_raw_parts(desc.strides, ndim));
    Ok(Layout::trusted(sizes, strides, numel))
}

/// Check that the bytes a layout spans fit in an address offset (`isize`).
fn check_extent(arg: &'static str, l: &Layout, elem: usize) -> Result<(), Error> {
    let Some((lo, hi)) = l.offset_range() else { return Ok(()) };
    if (hi - lo + 1) * elem as i128 > isize::MAX as i128 {
        return Err(Error::ExtentOverflow { arg, shape: shape_text(l), strides: strides_text(l) });
    }
    Ok(())
}

impl<'a, T> RawTensor<'a, T> {
    /// The checked layout of this operand's descriptor, NULL meaning `default`'s shape,
    /// C-contiguous (`None` = the descriptor is required).
    unsafe fn layout(&self, default: Option<&Layout<'a>>) -> Result<Layout<'a>, Error> {
        let layout = match (self.desc.as_ref(), default) {
            (Some(d), _) => read_desc(self.arg.desc_name(), d)?,
            (None, Some(like)) => like.contiguous(),
            (None, None) => return Err(Error::NullPointer { arg: self.arg.desc_name(), why: "" }),
        };
        // A NULL descriptor's contiguous layout may span more than img1's own (which may
        // repeat elements with stride 0), so both are checked.
        check_extent(self.arg.desc_name(), &layout, std::mem::size_of::<T>())?;
        Ok(layout)
    }

    /// Check the data pointer against its layout: NULL only when empty, aligned always.
    fn checked_ptr(&self, numel: usize) -> Result<*mut T, Error> {
        if self.ptr.is_null() {
            if numel > 0 {
                return Err(Error::NullPointer { arg: self.arg.name(), why: "" });
            }
        } else if !(self.ptr as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Error::Misaligned {
                arg: self.arg.name(),
                addr: self.ptr as usize,
                align: std::mem::align_of::<T>(),
            });
        }
        Ok(self.ptr as *mut T)
    }

    /// A full tensor operand with img1's shape (img1 itself when `like` is `None`).
    ///
    /// # Safety
    /// As [`read_desc`].
    pub unsafe fn tensor(&self, like: Option<&Layout<'a>>) -> Result<Operand<'a, T>, Error> {
        let layout = self.layout(like)?;
        if let Some(want) = like {
            if layout.sizes() != want.sizes() {
                return Err(Error::ShapeMismatch {
                    arg: self.arg.name(),
                    got: shape_text(&layout),
                    want: shape_text(want),
                });
            }
        }
        Ok(Operand { ptr: self.checked_ptr(layout.numel())?, layout })
    }

    /// A one-element operand (a MEAN / SUM result or upstream gradient); NULL descriptor allowed.
    ///
    /// # Safety
    /// As [`read_desc`].
    pub unsafe fn scalar(&self, reduction: Reduction) -> Result<*mut T, Error> {
        let layout = self.layout(Some(&Layout::scalar()))?;
        if layout.numel() != 1 {
            return Err(Error::NotOneElement {
                arg: self.arg.name(),
                reduction: reduction.name(),
                got: shape_text(&layout),
                numel: layout.numel() as u128,
            });
        }
        self.checked_ptr(1)
    }
}

fn shape_text(l: &Layout) -> ShapeText {
    ShapeText(l.sizes().to_vec())
}

fn strides_text(l: &Layout) -> ShapeText {
    ShapeText(l.dims().map(|(_, s)| s as i64).collect())
}

/// The bytes an operand touches, `[start, end)`, or `None` when it is empty.
fn span<T>(ptr: *const T, l: &Layout) -> Option<(i128, i128)> {
    let (lo, hi) = l.offset_range()?;
    let size = std::mem::size_of::<T>() as i128;
    let base = ptr as usize as i128;
    Some((base + lo * size, base + (hi + 1) * size))
}

fn intersects(a: Option<(i128, i128)>, b: Option<(i128, i128)>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.0 < b.1 && b.0 < a.1)
}

/// One operand as the overlap rules see it.
struct Region<'a> {
    name: &'static str,
    ptr: usize,
    span: Option<(i128, i128)>,
    layout: Option<&'a Layout<'a>>,
}

impl<'a> Region<'a> {
    /// An operand the call does not have: it touches nothing.
    const ABSENT: Region<'static> = Region { name: "", ptr: 0, span: None, layout: None };

    fn tensor<T>(name: &'static str, op: &'a Operand<'_, T>) -> Region<'a> {
        Region {
            name,
            ptr: op.ptr as usize,
            span: span(op.ptr, &op.layout),
            layout: Some(&op.layout),
        }
    }

    fn scalar<T>(name: &'static str, ptr: *const T) -> Region<'a> {
        Region { name, ptr: ptr as usize, span: span(ptr, &Layout::scalar()), layout: None }
    }

    /// Same pointer and the same normalised layout (a one-element operand normalises to none).
    fn exact_alias(&'a self, other: &'a Region) -> bool {
        let norm = |r: &'a Region| r.layout.into_iter().flat_map(|l| l.normalised());
        self.ptr == other.ptr && norm(self).eq(norm(other))
    }
}

/// The overlap rules of API.md: outputs do not overlap themselves, each other, or any input
/// except as an exact alias.
fn check_overlaps(outputs: &[Region], inputs: &[Region]) -> Result<(), Error> {
    for out in outputs {
        if let Some(l) = out.layout {
            if l.self_overlaps() {
                return Err(Error::SelfOverlap {
                    arg: out.name,
                    shape: shape_text(l),
                    strides: strides_text(l),
                });
            }
        }
    }
    for (i, out) in outputs.iter().enumerate() {
        for input in inputs {
            if intersects(out.span, input.span) && !out.exact_alias(input) {
                return Err(Error::Overlap { out: out.name, other: input.name });
            }
        }
        for other in &outputs[i + 1..] {
            if intersects(out.span, other.span) {
                return Err(Error::Overlap { out: out.name, other: other.name });
            }
        }
    }
    Ok(())
}

/// The raw arguments of a loss, backward or fused call (absent ones NULL).
pub struct RawCall<'a, T> {
    pub img1: RawTensor<'a, T>,
    pub img2: RawTensor<'a, T>,
    pub reduction: i32,
    /// `Some` for backward.
    pub grad_out: Option<RawTensor<'a, T>>,
    /// `Some` for forward and fused.
    pub out: Option<RawTensor<'a, T>>,
    /// `Some` for backward and fused.
    pub grads: Option<(RawTensor<'a, T>, RawTensor<'a, T>)>,
}

impl<'a, T> RawCall<'a, T> {
    /// Check everything, in argument order, and hand the checked call to `run_one` (every
    /// operand one element) or `run`.
    ///
    /// `run` borrows the call where it was built: returned instead, the call (about 300
    /// bytes) was copied three times on its way out, about a tenth of a one-element call's
    /// work.
    ///
    /// # Safety
    /// Every non-NULL descriptor points at a readable `CauchyTensorDesc` whose arrays hold
    /// `ndim` values. Data pointers are not read here.
    pub unsafe fn check_then(
        &self,
        run_one: impl Fn(&OneCall<T>) -> Result<(), Error>,
        run: impl Fn(&Call<'a, T>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match &self.check_one() {
            Some(one) => run_one(one),
            None => self.check_many(run),
        }
    }

    /// The checks of [`RawCall::check_then`] for a call that is not one element: a function
    /// of its own, so that the one-element call does not set up its 2 KB frame.
    ///
    /// # Safety
    /// As [`RawCall::check_then`].
    #[inline(never)]
    unsafe fn check_many(
        &self,
        run: impl Fn(&Call<'a, T>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if let Ok(call) = &self.check_with::<Quick>() {
            return run(call);
        }
        run(&self.check_with::<Full>()?)
    }

    /// The common one-element call only, each descriptor read once and no layout built (a
    /// call checked as a [`Call`] took half of a one-element call's time): every operand one
    /// element (see [`one_element`]), its pointer non-NULL and aligned, and no output closer
    /// than an element to another or to an input but at the same address. Each test implies
    /// that [`Full`]'s rule passes, and one element passes Full's stride rules (extent,
    /// self-overlap, alias) whatever the strides. `None` hands the call on to [`Quick`].
    ///
    /// # Safety
    /// As [`RawCall::check_then`].
    unsafe fn check_one(&self) -> Option<OneCall<T>> {
        let (img1, ndim) = one_first(&self.img1)?;
        let img2 = one_operand(&self.img2, Some(ndim))?;
        let reduction = Reduction::parse(self.reduction).ok()?;
        // A MEAN / SUM output or upstream scalar may have any number of sizes.
        let like = (reduction == Reduction::None).then_some(ndim);
        let maybe = |raw: &Option<RawTensor<T>>| match raw {
            Some(raw) => one_operand(raw, like),
            None => Some(null_mut()),
        };
        let (grad_out, out) = (maybe(&self.grad_out)?, maybe(&self.out)?);
        let mut grads = [null_mut(); 2];
        if let Some(pair) = &self.grads {
            for (slot, raw) in grads.iter_mut().zip([&pair.0, &pair.1]) {
                if !raw.ptr.is_null() {
                    *slot = one_operand(raw, Some(ndim))?;
                }
            }
        }
        let fine = one_overlaps_fine([out, grads[0], grads[1]], [img1, img2, grad_out]);
        fine.then_some(OneCall { img1, img2, grad_out, out, grads })
    }

    /// The checks of [`RawCall::check_then`] under the rules `R`.
    unsafe fn check_with<R: Rules>(&self) -> Result<Call<'a, T>, R::Error> {
        let img1 = R::tensor(&self.img1, None)?;
        let like = Some(&img1.layout);
        let img2 = R::tensor(&self.img2, like)?;
        let reduction = Reduction::parse(self.reduction).map_err(R::fail)?;
        let upstream = match (&self.grad_out, reduction) {
            (None, _) if self.grads.is_some() => Upstream::One,
            (None, _) => Upstream::Absent,
            (Some(g), Reduction::None) => Upstream::Tensor(R::tensor(g, like)?),
            (Some(g), _) => Upstream::Scalar(R::scalar(g, reduction)?),
        };
        let out = match (&self.out, reduction) {
            (None, _) => LossOut::Absent,
            (Some(o), Reduction::None) => LossOut::Tensor(R::tensor(o, like)?),
            (Some(o), _) => LossOut::Scalar(R::scalar(o, reduction)?),
        };
        let mut grads = [None, None];
        if let Some(pair) = &self.grads {
            for (slot, raw) in grads.iter_mut().zip([&pair.0, &pair.1]) {
                if !raw.ptr.is_null() {
                    *slot = Some(R::tensor(raw, like)?);
                }
            }
        }
        let [grad_img1, grad_img2] = grads;
        let call = Call { reduction, img1, img2, upstream, out, grad_img1, grad_img2 };
        call.check_overlaps::<R>(self)?;
        Ok(call)
    }
}

impl<'a, T> Call<'a, T> {
    fn check_overlaps<R: Rules>(&self, raw: &RawCall<'a, T>) -> Result<(), R::Error> {
        let upstream = match (&self.upstream, &raw.grad_out) {
            (Upstream::Tensor(op), Some(r)) => Region::tensor(r.arg.name(), op),
            (Upstream::Scalar(p), Some(r)) => Region::scalar(r.arg.name(), *p),
            _ => Region::ABSENT,
        };
        let out = match (&self.out, &raw.out) {
            (LossOut::Tensor(op), Some(r)) => Region::tensor(r.arg.name(), op),
            (LossOut::Scalar(p), Some(r)) => Region::scalar(r.arg.name(), *p),
            _ => Region::ABSENT,
        };
        // Inlined, so that rules which read no name (Quick) build none.
        #[inline(always)]
        fn grad<'r, T>(op: &'r Option<Operand<T>>, raw: Option<&RawTensor<T>>) -> Region<'r> {
            match (op, raw) {
                (Some(op), Some(r)) => Region::tensor(r.arg.name(), op),
                _ => Region::ABSENT,
            }
        }
        let (r1, r2) = raw.grads.as_ref().map_or((None, None), |(a, b)| (Some(a), Some(b)));
        R::overlaps::<T>(
            &[out, grad(&self.grad_img1, r1), grad(&self.grad_img2, r2)],
            &[
                Region::tensor(raw.img1.arg.name(), &self.img1),
                Region::tensor(raw.img2.arg.name(), &self.img2),
                upstream,
            ],
        )
    }
}

/// Check a `cauchy_reduce_*` call.
///
/// # Safety
/// As [`RawCall::check_then`].
pub unsafe fn check_reduce<'a, T>(
    x: &RawTensor<'a, T>,
    reduction: i32,
    out: *mut T,
) -> Result<ReduceCall<'a, T>, Error> {
    if let Some(call) = check_reduce_one(x, reduction, out) {
        return Ok(call);
    }
    check_reduce_with::<Quick, T>(x, reduction, out)
        .or_else(|()| check_reduce_with::<Full, T>(x, reduction, out))
}

/// [`check_reduce`] of a one-element `x` only, as [`RawCall::check_one`].
///
/// # Safety
/// As [`RawCall::check_then`].
unsafe fn check_reduce_one<'a, T>(
    x: &RawTensor<'a, T>,
    reduction: i32,
    out: *mut T,
) -> Option<ReduceCall<'a, T>> {
    let (ptr, _) = one_first(x)?;
    let mean = match Reduction::parse(reduction).ok()? {
        Reduction::None => return None,
        r => r == Reduction::Mean,
    };
    let fine = quick_ptr(out).is_ok() && one_overlaps_fine([out], [ptr]);
    let x = Operand { ptr, layout: Layout::scalar() };
    fine.then_some(ReduceCall { mean, x, out })
}

/// [`check_reduce`] under the rules `R`.
unsafe fn check_reduce_with<'a, R: Rules, T>(
    x: &RawTensor<'a, T>,
    reduction: i32,
    out: *mut T,
) -> Result<ReduceCall<'a, T>, R::Error> {
    let x = R::tensor(x, None)?;
    let mean = match Reduction::parse(reduction).map_err(R::fail)? {
        Reduction::None => return Err(R::fail(Error::ReductionNotAllowed(reduction))),
        r => r == Reduction::Mean,
    };
    let out_raw = RawTensor {
        arg: Arg::Out,
        ptr: out as *const T,
        desc: std::ptr::null(),
        call: PhantomData,
    };
    // A NULL descriptor: one element whatever the reduction (named only in that message).
    let out = R::scalar(&out_raw, Reduction::Sum)?;
    R::overlaps::<T>(&[Region::scalar("out", out)], &[Region::tensor("x", &x)])?;
    Ok(ReduceCall { mean, x, out })
}

/// How operands and overlaps are checked. [`Full`] is the definition: every rule of API.md,
/// every message. [`Quick`] (C-contiguous tensors of img1's shape, NULL one-element
/// descriptors) accepts only the common call, through cheap tests each of which implies that
/// the full rule passes and builds a value that computes the same; anything else it hands on
/// (`Err(())`), so every failure is found and reported by [`Full`]. (One-element calls are
/// checked before either, by [`RawCall::check_one`] and [`check_reduce_one`].)
trait Rules {
    type Error;
    /// The failure for `e` found outside the operand rules (a reduction out of range).
    fn fail(e: Error) -> Self::Error;
    /// A full tensor operand with `like`'s shape (img1 itself when `like` is `None`).
    ///
    /// # Safety
    /// As [`read_desc`].
    unsafe fn tensor<'a, T>(
        raw: &RawTensor<'a, T>,
        like: Option<&Layout<'a>>,
    ) -> Result<Operand<'a, T>, Self::Error>;
    /// A one-element operand.
    ///
    /// # Safety
    /// As [`read_desc`].
    unsafe fn scalar<T>(raw: &RawTensor<T>, reduction: Reduction) -> Result<*mut T, Self::Error>;
    /// The overlap rules over the call's outputs and inputs, operands of `T`.
    fn overlaps<T>(outputs: &[Region], inputs: &[Region]) -> Result<(), Self::Error>;
}

/// Every rule, reporting the first that fails.
struct Full;

impl Rules for Full {
    type Error = Error;

    fn fail(e: Error) -> Error {
        e
    }

    unsafe fn tensor<'a, T>(
        raw: &RawTensor<'a, T>,
        like: Option<&Layout<'a>>,
    ) -> Result<Operand<'a, T>, Error> {
        raw.tensor(like)
    }

    unsafe fn scalar<T>(raw: &RawTensor<T>, reduction: Reduction) -> Result<*mut T, Error> {
        raw.scalar(reduction)
    }

    fn overlaps<T>(outputs: &[Region], inputs: &[Region]) -> Result<(), Error> {
        check_overlaps(outputs, inputs)
    }
}

/// The common call only (see [`Rules`]); the comments say why each test implies [`Full`]'s.
struct Quick;

impl Rules for Quick {
    type Error = ();

    fn fail(_: Error) {}

    unsafe fn tensor<'a, T>(
        raw: &RawTensor<'a, T>,
        like: Option<&Layout<'a>>,
    ) -> Result<Operand<'a, T>, ()> {
        let layout = match (raw.desc.as_ref(), like) {
            // img1's layout, which Quick found C-contiguous, non-empty and in range.
            (None, Some(like)) => like.contiguous(),
            // A C-contiguous descriptor whose ndim is in range and whose shape is readable
            // (read_desc's first checks). With `like`, its sizes are img1's, so read_desc and
            // check_extent find what they found for img1, and the shapes match; without, the
            // sizes pass read_desc's and check_extent's tests by `quick_numel`.
            (Some(d), like) if d.strides.is_null() => {
                let sizes = quick_sizes(d).ok_or(())?;
                match like {
                    Some(like) if sizes.iter().eq(like.sizes()) => {
                        Layout::trusted(sizes, None, like.numel())
                    }
                    Some(_) => return Err(()),
                    None => Layout::trusted(sizes, None, quick_numel::<T>(sizes).ok_or(())?),
                }
            }
            _ => return Err(()),
        };
        Ok(Operand { ptr: quick_ptr(raw.ptr)?, layout })
    }

    unsafe fn scalar<T>(raw: &RawTensor<T>, _: Reduction) -> Result<*mut T, ()> {
        // A NULL descriptor is one element in range.
        match raw.desc.is_null() {
            true => quick_ptr(raw.ptr),
            false => Err(()),
        }
    }

    fn overlaps<T>(outputs: &[Region], inputs: &[Region]) -> Result<(), ()> {
        // Quick tensors are C-contiguous (so none overlaps itself) with img1's sizes, so two
        // at one address are exact aliases; anything else must be disjoint.
        let alias =
            |a: &Region, b: &Region| a.ptr == b.ptr && a.layout.is_some() && b.layout.is_some();
        let fine = outputs.iter().enumerate().all(|(i, out)| {
            inputs.iter().all(|input| !intersects(out.span, input.span) || alias(out, input))
                && outputs[i + 1..].iter().all(|other| !intersects(out.span, other.span))
        });
        fine.then_some(()).ok_or(())
    }
}

/// The number of elements of `sizes` when each is at least 1 and all of them span at most
/// `isize::MAX` bytes of `T` (read_desc's and check_extent's limits, for C-contiguous
/// strides); `None` otherwise.
fn quick_numel<T>(sizes: &[i64]) -> Option<usize> {
    let numel = sizes.iter().try_fold(1usize, |n, &s| n.checked_mul(usize::try_from(s).ok()?))?;
    let fits = numel >= 1 && numel.checked_mul(std::mem::size_of::<T>())? <= isize::MAX as usize;
    fits.then_some(numel)
}

/// The pointer of an operand of at least one element, when it is non-NULL and aligned (then
/// checked_ptr accepts it).
fn quick_ptr<T>(ptr: *const T) -> Result<*mut T, ()> {
    match ptr.is_null() || !ptr.is_aligned() {
        true => Err(()),
        false => Ok(ptr as *mut T),
    }
}

/// The sizes of a descriptor whose ndim is in range and whose shape is readable (read_desc's
/// first checks); `None` otherwise.
///
/// # Safety
/// As [`read_desc`].
unsafe fn quick_sizes<'a>(d: &CauchyTensorDesc) -> Option<&'a [i64]> {
    match (d.ndim, d.shape.is_null()) {
        (0, _) => Some(&[]),
        // SAFETY: the caller promises `ndim` readable sizes.
        (n, false) if n <= MAX_NDIM => Some(std::slice::from_raw_parts(d.shape, n)),
        _ => None,
    }
}

/// The sizes of a descriptor that passes [`quick_sizes`] with every size 1 (read_desc's tests
/// pass, with one element); `None` otherwise.
///
/// # Safety
/// As [`read_desc`].
unsafe fn one_element<'a>(d: &CauchyTensorDesc) -> Option<&'a [i64]> {
    quick_sizes(d).filter(|sizes| sizes.iter().all(|&n| n == 1))
}

/// The pointer of a one-element operand: its descriptor NULL (img1's one element, or a
/// one-element MEAN / SUM operand), or one element with `ndim` sizes (img1's, so the shapes
/// match; `None`: any number); the pointer as [`quick_ptr`] accepts it.
///
/// # Safety
/// As [`read_desc`].
#[inline(always)]
unsafe fn one_operand<T>(raw: &RawTensor<T>, ndim: Option<usize>) -> Option<*mut T> {
    let fits = |sizes: &[i64]| ndim.is_none_or(|n| sizes.len() == n);
    match raw.desc.as_ref().is_none_or(|d| one_element(d).is_some_and(fits)) {
        true => quick_ptr(raw.ptr).ok(),
        false => None,
    }
}

/// The pointer and ndim of img1 (or `x`) when it is one element: its descriptor, which is
/// required, passes [`one_element`]; the pointer as [`quick_ptr`] accepts it.
///
/// # Safety
/// As [`read_desc`].
#[inline(always)]
unsafe fn one_first<T>(raw: &RawTensor<T>) -> Option<(*mut T, usize)> {
    let ndim = raw.desc.as_ref().and_then(|d| one_element(d))?.len();
    Some((quick_ptr(raw.ptr).ok()?, ndim))
}

/// The overlap rules for one-element operands (NULL: absent): one element's normalised layout
/// is empty, so two at one address are exact aliases, and two present ones intersect only
/// closer than an element apart.
#[inline(always)]
fn one_overlaps_fine<T, const N: usize, const M: usize>(
    outputs: [*mut T; N],
    inputs: [*mut T; M],
) -> bool {
    // Plain loops over the constant-length arrays: as iterator adaptors they were a function
    // call of their own, a sixth of a one-element call.
    let near = |a: *mut T, b: *mut T| {
        !a.is_null() && !b.is_null() && (a as usize).abs_diff(b as usize) < size_of::<T>()
    };
    for i in 0..N {
        for input in inputs {
            if near(outputs[i], input) && outputs[i] != input {
                return false;
            }
        }
        for other in &outputs[i + 1..] {
            if near(outputs[i], *other) {
                return false;
            }
        }
    }
    true
}
