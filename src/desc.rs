//! The plain-data types and constants of the C surface.

/// The most dimensions a `CauchyTensorDesc` may have.
pub const CAUCHY_MAX_NDIM: usize = 64;

/// `reduction`: the element-wise loss tensor (ATen's `at::Reduction::None`).
pub const CAUCHY_REDUCTION_NONE: i32 = 0;
/// `reduction`: the sum of the losses divided by numel, one element (`at::Reduction::Mean`).
pub const CAUCHY_REDUCTION_MEAN: i32 = 1;
/// `reduction`: the sum of the losses, one element (`at::Reduction::Sum`).
pub const CAUCHY_REDUCTION_SUM: i32 = 2;

/// The shape and layout of one tensor operand. It owns nothing, and is frozen for the 0.x ABI.
///
/// The data pointer passed beside a descriptor points at element [0, ..., 0]; element
/// [i0, ..., in] is at `data + i0*strides[0] + ... + in*strides[n]`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CauchyTensorDesc {
    /// Number of dimensions, 0 ..= CAUCHY_MAX_NDIM; 0 is a scalar with one element.
    pub ndim: usize,
    /// `ndim` sizes, each >= 0; may be NULL when ndim == 0.
    pub shape: *const i64,
    /// `ndim` strides counted in elements, any sign (0 repeats an element: inputs only);
    /// NULL means C-contiguous.
    pub strides: *const i64,
}
