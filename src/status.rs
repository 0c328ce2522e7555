//! Status codes and the one error type of the library.
//!
//! Every failure inside the library is an [`Error`]; [`Error::status`] is the one place that maps
//! a failure to the integer the C caller sees, and its `Display` is the message that
//! `cauchy_last_error_message()` returns.

use thiserror::Error;

/// The result of every fallible function: an `int32_t` at the ABI.
///
/// `CAUCHY_STATUS_OK` (0) is success; every non-zero value is a failure, and values may be added
/// in later versions, so treat any unknown non-zero value as a failure.
/// `cauchy_status_name()` names a value and `cauchy_last_error_message()` explains the last
/// failure of the calling thread.
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauchyStatus {
    /// Success.
    CAUCHY_STATUS_OK = 0,
    /// A required pointer (data or descriptor) is NULL.
    CAUCHY_STATUS_NULL_POINTER = 1,
    /// An operand's shape differs from img1's (or a one-element operand has more elements).
    CAUCHY_STATUS_SHAPE_MISMATCH = 2,
    /// ndim > CAUCHY_MAX_NDIM, a negative size, or a numel or byte extent that overflows.
    CAUCHY_STATUS_INVALID_SHAPE = 3,
    /// The reduction is not 0, 1 or 2, or is not allowed for this call.
    CAUCHY_STATUS_INVALID_REDUCTION = 4,
    /// An output overlaps an input, another output, or itself.
    CAUCHY_STATUS_OVERLAP = 5,
    /// Any other bad argument: a misaligned pointer, a thread count out of range.
    CAUCHY_STATUS_INVALID_ARGUMENT = 6,
    /// A bug: an internal failure caught at the boundary; outputs are unspecified.
    CAUCHY_STATUS_INTERNAL = 7,
}

impl CauchyStatus {
    /// Every status, indexed by its value.
    const ALL: [CauchyStatus; 8] = [
        CauchyStatus::CAUCHY_STATUS_OK,
        CauchyStatus::CAUCHY_STATUS_NULL_POINTER,
        CauchyStatus::CAUCHY_STATUS_SHAPE_MISMATCH,
        CauchyStatus::CAUCHY_STATUS_INVALID_SHAPE,
        CauchyStatus::CAUCHY_STATUS_INVALID_REDUCTION,
        CauchyStatus::CAUCHY_STATUS_OVERLAP,
        CauchyStatus::CAUCHY_STATUS_INVALID_ARGUMENT,
        CauchyStatus::CAUCHY_STATUS_INTERNAL,
    ];

    /// The status with this value, if there is one (a C caller may pass any integer).
    pub fn from_code(code: i32) -> Option<CauchyStatus> {
        usize::try_from(code).ok().and_then(|i| Self::ALL.get(i).copied())
    }

    /// The constant's name as a NUL-terminated C string.
    pub fn name(self) -> &'static std::ffi::CStr {
        match self {
            CauchyStatus::CAUCHY_STATUS_OK => c"CAUCHY_STATUS_OK",
            CauchyStatus::CAUCHY_STATUS_NULL_POINTER => c"CAUCHY_STATUS_NULL_POINTER",
            CauchyStatus::CAUCHY_STATUS_SHAPE_MISMATCH => c"CAUCHY_STATUS_SHAPE_MISMATCH",
            CauchyStatus::CAUCHY_STATUS_INVALID_SHAPE => c"CAUCHY_STATUS_INVALID_SHAPE",
            CauchyStatus::CAUCHY_STATUS_INVALID_REDUCTION => c"CAUCHY_STATUS_INVALID_REDUCTION",
            CauchyStatus::CAUCHY_STATUS_OVERLAP => c"CAUCHY_STATUS_OVERLAP",
            CauchyStatus::CAUCHY_STATUS_INVALID_ARGUMENT => c"CAUCHY_STATUS_INVALID_ARGUMENT",
            CauchyStatus::CAUCHY_STATUS_INTERNAL => c"CAUCHY_STATUS_INTERNAL",
        }
    }
}

/// A shape printed the way the messages show it: `[2, 3, 4]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeText(pub Vec<i64>);

impl std::fmt::Display for ShapeText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s}")?;
        }
        f.write_str("]")
    }
}

/// Everything that can go wrong, with the argument's name and the values involved.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("{arg} is NULL{why}")]
    NullPointer { arg: &'static str, why: &'static str },
    #[error("{arg} shape {got} does not match img1 shape {want}")]
    ShapeMismatch { arg: &'static str, got: ShapeText, want: ShapeText },
    #[error("{arg} must hold exactly one element for reduction {reduction}, but its shape {got} holds {numel}")]
    NotOneElement { arg: &'static str, reduction: &'static str, got: ShapeText, numel: u128 },
    #[error("{arg} has ndim {ndim}, more than CAUCHY_MAX_NDIM ({max})")]
    TooManyDims { arg: &'static str, ndim: usize, max: usize },
    #[error("{arg} has negative size {size} in dimension {dim}")]
    NegativeSize { arg: &'static str, dim: usize, size: i64 },
    #[error("{arg} shape {shape} has more elements than fit in a signed 64-bit count")]
    NumelOverflow { arg: &'static str, shape: ShapeText },
    #[error("{arg} (shape {shape}, strides {strides}) spans more bytes than an address can hold")]
    ExtentOverflow { arg: &'static str, shape: ShapeText, strides: ShapeText },
    #[error("reduction {0} is not CAUCHY_REDUCTION_NONE (0), CAUCHY_REDUCTION_MEAN (1) or CAUCHY_REDUCTION_SUM (2)")]
    InvalidReduction(i32),
    #[error("reduction {0} (CAUCHY_REDUCTION_NONE) is not allowed here: use CAUCHY_REDUCTION_MEAN (1) or CAUCHY_REDUCTION_SUM (2)")]
    ReductionNotAllowed(i32),
    #[error("{arg} (shape {shape}, strides {strides}) overlaps itself: an output needs one distinct element per index")]
    SelfOverlap { arg: &'static str, shape: ShapeText, strides: ShapeText },
    #[error("{out} overlaps {other} without being an exact alias (same pointer and layout) of it")]
    Overlap { out: &'static str, other: &'static str },
    #[error("{arg} ({addr:#x}) is not aligned to its element size ({align} bytes)")]
    Misaligned { arg: &'static str, addr: usize, align: usize },
    #[error("thread count {0} is more than 4096")]
    TooManyThreads(usize),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The status code for this error: the only mapping from errors to codes.
    pub fn status(&self) -> CauchyStatus {
        use CauchyStatus::*;
        match self {
            Error::NullPointer { .. } => CAUCHY_STATUS_NULL_POINTER,
            Error::ShapeMismatch { .. } | Error::NotOneElement { .. } => {
                CAUCHY_STATUS_SHAPE_MISMATCH
            }
            Error::TooManyDims { .. }
            | Error::NegativeSize { .. }
            | Error::NumelOverflow { .. }
            | Error::ExtentOverflow { .. } => CAUCHY_STATUS_INVALID_SHAPE,
            Error::InvalidReduction(_) | Error::ReductionNotAllowed(_) => {
                CAUCHY_STATUS_INVALID_REDUCTION
            }
            Error::SelfOverlap { .. } | Error::Overlap { .. } => CAUCHY_STATUS_OVERLAP,
            Error::Misaligned { .. } | Error::TooManyThreads(_) => CAUCHY_STATUS_INVALID_ARGUMENT,
            Error::Internal(_) => CAUCHY_STATUS_INTERNAL,
        }
    }
}
