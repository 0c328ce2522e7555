//! libcauchy: the Cauchy (Lorentzian) robust regression loss `log1p((x - y)^2 / 2)`, its
//! gradient and its reductions, for C callers through `include/cauchy.h`.
//!
//! Layers, calls going one way only:
//!
//! - [`ffi`]: the `extern "C"` functions; each names its arguments and runs inside the
//!   [`boundary`] guard (errors to statuses and the thread's message, panics caught).
//! - [`validate`]: raw descriptors and pointers to checked calls; the only place that checks.
//! - [`ops`]: checked calls run over [`layout`] walks in fixed blocks, summing with [`sum`],
//!   on the [`pool`], under the default floating-point environment ([`fpenv`]), with the
//!   kernels compiled for the instruction set [`dispatch`] picked.
//! - [`math`]: the element loss and gradient per element type, with [`dd`] where f64 needs
//!   more than f64 and [`log64`] for its logarithm (no library call in any loop).

pub mod boundary;
pub mod dd;
pub mod desc;
pub mod dispatch;
pub mod ffi;
pub mod fpenv;
pub mod layout;
pub mod log64;
pub mod math;
pub mod ops;
pub mod pool;
pub mod prefetch;
pub mod status;
pub mod sum;
pub mod validate;

pub use desc::*;
pub use ffi::*;
pub use status::CauchyStatus;

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// MAJOR*10000 + MINOR*100 + PATCH, from Cargo.toml.
pub const VERSION_NUMBER: u32 = parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) * 10000
    + parse_u32(env!("CARGO_PKG_VERSION_MINOR")) * 100
    + parse_u32(env!("CARGO_PKG_VERSION_PATCH"));

/// "MAJOR.MINOR.PATCH", NUL-terminated.
pub const VERSION_STRING: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(s) => s,
    Err(_) => panic!("version string has a NUL byte"),
};
