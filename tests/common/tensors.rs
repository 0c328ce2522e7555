//! Test scaffolding shared by the layout, determinism and thread tests: the f32 and f64 entry
//! points behind one trait (so every test is written once for both types), strided views in
//! padded buffers (so a test can see every element a call touched), stride builders and a
//! seeded random source.

use super::reference;
use cauchy::{CauchyStatus, CauchyTensorDesc};
use std::fmt::Debug;
use std::ops::Neg;

type Desc = *const CauchyTensorDesc;
pub type LossFn<T> =
    unsafe extern "C" fn(*const T, Desc, *const T, Desc, i32, *mut T, Desc) -> CauchyStatus;
/// Backward (`Third` = `*const T`, grad_out) and fused (`*mut T`, out) share a signature.
pub type GradFn<T, Third> = unsafe extern "C" fn(
    *const T,
    Desc,
    *const T,
    Desc,
    i32,
    Third,
    Desc,
    *mut T,
    Desc,
    *mut T,
    Desc,
) -> CauchyStatus;
pub type BackwardFn<T> = GradFn<T, *const T>;
pub type FusedFn<T> = GradFn<T, *mut T>;
pub type ReduceFn<T> = unsafe extern "C" fn(*const T, Desc, i32, *mut T) -> CauchyStatus;

/// An element type: its C functions, its reference and its tolerances.
pub trait Float: Copy + PartialEq + Debug + Send + Sync + Neg<Output = Self> + 'static {
    const NAME: &'static str;
    const LOSS: LossFn<Self>;
    const BACKWARD: BackwardFn<Self>;
    const FUSED: FusedFn<Self>;
    const REDUCE: ReduceFn<Self>;
    /// ULPs an element result may be from the reference rounded to this type (the library's
    /// bound plus the plain f64 reference's own error for f64).
    const ULP: u64;
    /// Relative tolerance of a sum against the reference sum (about one ULP for f32; for f64
    /// the 2^-50 bound plus the reference's own error).
    const SUM_RTOL: f64;
    /// A residual whose squared half is about the type's smallest subnormal.
    const TINY_D: f64;
    /// A magnitude well inside the type's subnormal range.
    const SUBNORMAL: f64;
    /// A quiet NaN with a payload no computation produces: marks untouched output elements.
    fn sentinel() -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn bits(self) -> u64;
    fn ulp(a: Self, b: Self) -> u64;
    fn ref_loss(x: Self, y: Self) -> f64;
    /// `g * dloss/dx`, unscaled.
    fn ref_grad(x: Self, y: Self, g: Self) -> f64;
}

macro_rules! float {
    ($t:ty, $loss:ident, $bwd:ident, $fused:ident, $reduce:ident, $ulp:expr, $rtol:expr,
     $tiny:expr, $sub:expr, $nan:expr, $rloss:path, $rgrad:path, $rulp:path) => {
        impl Float for $t {
            const NAME: &'static str = stringify!($t);
            const LOSS: LossFn<$t> = cauchy::$loss;
            const BACKWARD: BackwardFn<$t> = cauchy::$bwd;
            const FUSED: FusedFn<$t> = cauchy::$fused;
            const REDUCE: ReduceFn<$t> = cauchy::$reduce;
            const ULP: u64 = $ulp;
            const SUM_RTOL: f64 = $rtol;
            const TINY_D: f64 = $tiny;
            const SUBNORMAL: f64 = $sub;
            fn sentinel() -> $t {
                <$t>::from_bits($nan)
            }
            fn from_f64(v: f64) -> $t {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn bits(self) -> u64 {
                self.to_bits() as u64
            }
            fn ulp(a: $t, b: $t) -> u64 {
                $rulp(a, b)
            }
            fn ref_loss(x: $t, y: $t) -> f64 {
                $rloss(x, y)
            }
            fn ref_grad(x: $t, y: $t, g: $t) -> f64 {
                $rgrad(x, y, g, 1.0)
            }
        }
    };
}

float!(
    f32,
    cauchy_loss_f32,
    cauchy_loss_backward_f32,
    cauchy_loss_and_grad_f32,
    cauchy_reduce_f32,
    1,
    1.0 / (1u64 << 23) as f64,
    1.3e-23,
    1e-42,
    0x7fc5_a5a5,
    reference::loss_f32,
    reference::grad_f32,
    reference::ulp_f32
);
float!(
    f64,
    cauchy_loss_f64,
    cauchy_loss_backward_f64,
    cauchy_loss_and_grad_f64,
    cauchy_reduce_f64,
    4,
    1.0 / (1u64 << 46) as f64,
    1e-161,
    1e-318,
    0x7ff8_a5a5_a5a5_a5a5,
    reference::loss_f64,
    reference::grad_f64,
    reference::ulp_f64
);

/// Panics unless `status` is OK, with the library's message.
pub fn ok(status: CauchyStatus, what: &str) {
    if status != CauchyStatus::CAUCHY_STATUS_OK {
        // SAFETY: the library returns a NUL-terminated string valid until the next failure.
        let msg = unsafe { std::ffi::CStr::from_ptr(cauchy::cauchy_last_error_message()) };
        panic!("{what}: {status:?}: {msg:?}");
    }
}

/// Elements kept free on each side of a view, to catch writes just outside it.
const PAD: usize = 3;

/// A strided view into a padded buffer: logical element `i` (C order) is `buf[index[i]]`.
pub struct View<T> {
    pub buf: Vec<T>,
    base: usize,
    shape: Vec<i64>,
    strides: Option<Vec<i64>>,
    /// Points into `shape` and `strides`, whose heap storage never moves.
    desc: CauchyTensorDesc,
    index: Vec<usize>,
}

// SAFETY: the descriptor's pointers address this view's own vectors, which move with it.
unsafe impl<T: Send> Send for View<T> {}

impl<T: Float> View<T> {
    /// A view of `shape` with `strides` (`None`: NULL strides, C-contiguous), every buffer
    /// element (padding included) drawn from `fill`.
    pub fn new(shape: &[i64], strides: Option<&[i64]>, mut fill: impl FnMut() -> T) -> View<T> {
        let offsets = reference::offsets(shape, strides);
        let lo = offsets.iter().copied().min().unwrap_or(0);
        let hi = offsets.iter().copied().max().unwrap_or(0);
        let base = PAD as isize - lo;
        View::with(
            (0..(hi - lo) as usize + 1 + 2 * PAD).map(|_| fill()).collect(),
            base as usize,
            shape.to_vec(),
            strides.map(<[i64]>::to_vec),
            offsets.iter().map(|&o| (base + o) as usize).collect(),
        )
    }

    fn with(
        buf: Vec<T>,
        base: usize,
        shape: Vec<i64>,
        strides: Option<Vec<i64>>,
        index: Vec<usize>,
    ) -> View<T> {
        let desc = CauchyTensorDesc {
            ndim: shape.len(),
            shape: if shape.is_empty() { std::ptr::null() } else { shape.as_ptr() },
            strides: strides.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        };
        View { buf, base, shape, strides, desc, index }
    }

    /// An output view: every buffer element the sentinel.
    pub fn output(shape: &[i64], strides: Option<&[i64]>) -> View<T> {
        View::new(shape, strides, T::sentinel)
    }

    /// A view of `shape` with `strides` whose logical elements (C order) are `values` (one
    /// per element: no stride 0), the padding the sentinel.
    pub fn of(shape: &[i64], strides: Option<&[i64]>, values: &[T]) -> View<T> {
        let mut v = View::output(shape, strides);
        assert_eq!(v.index.len(), values.len());
        for (&i, &x) in v.index.iter().zip(values) {
            v.buf[i] = x;
        }
        v
    }

    /// A copy with the same layout over a fresh buffer.
    pub fn copy(&self) -> View<T> {
        let (shape, strides) = (self.shape.clone(), self.strides.clone());
        View::with(self.buf.clone(), self.base, shape, strides, self.index.clone())
    }

    /// The descriptor (NULL shape for ndim 0), valid while `self` stays where it is.
    pub fn desc(&self) -> *const CauchyTensorDesc {
        &self.desc
    }

    /// Element [0, ..., 0].
    pub fn ptr(&self) -> *const T {
        self.buf[self.base..].as_ptr()
    }

    pub fn ptr_mut(&mut self) -> *mut T {
        self.buf[self.base..].as_mut_ptr()
    }

    pub fn numel(&self) -> usize {
        self.index.len()
    }

    /// The elements in C order.
    pub fn values(&self) -> Vec<T> {
        self.index.iter().map(|&i| self.buf[i]).collect()
    }

    /// Panics if a buffer element outside the view is not the sentinel.
    pub fn assert_outside_untouched(&self, what: &str) {
        let mut inside = vec![false; self.buf.len()];
        for &i in &self.index {
            inside[i] = true;
        }
        for (i, v) in self.buf.iter().enumerate() {
            assert!(
                inside[i] || v.bits() == T::sentinel().bits(),
                "{what}: buffer element {i} outside the view was written ({v:?})"
            );
        }
    }
}

/// Strides of a tensor stored with its dimensions in `order` (outermost first) and `step`
/// elements between neighbours of the innermost one: a reversed order is a transposed view,
/// `step` 2 takes every other element.
pub fn strides_in_order(shape: &[i64], order: &[usize], step: i64) -> Vec<i64> {
    let mut strides = vec![0; shape.len()];
    let mut next = step;
    for &d in order.iter().rev() {
        strides[d] = next;
        next *= shape[d].max(1);
    }
    strides
}

/// C-contiguous strides.
pub fn contiguous(shape: &[i64]) -> Vec<i64> {
    strides_in_order(shape, &(0..shape.len()).collect::<Vec<_>>(), 1)
}

/// Replace the strides of size-1 dimensions by values the library must ignore.
pub fn odd_unit_strides(shape: &[i64], mut strides: Vec<i64>) -> Vec<i64> {
    const ODD: [i64; 6] = [i64::MAX, -7, 0, 1 << 40, i64::MIN, 3];
    for (d, s) in strides.iter_mut().enumerate() {
        if shape[d] == 1 {
            *s = ODD[d % ODD.len()];
        }
    }
    strides
}

/// A seeded splitmix64 stream: reproducible data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi), rounded to `T`.
    pub fn value<T: Float>(&mut self, lo: f64, hi: f64) -> T {
        T::from_f64(self.uniform(lo, hi))
    }
}

/// A 64-bit digest of the bits of `values` (FNV-1a over each value's bits): compares outputs
/// of millions of elements without keeping them.
pub fn digest<T: Float>(values: &[T]) -> u64 {
    values
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ v.bits()).wrapping_mul(0x0000_0100_0000_01b3))
}
