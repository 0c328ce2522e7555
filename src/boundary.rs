//! The FFI boundary: every exported body runs inside [`guard`], which turns errors into a
//! status and this thread's message, and catches panics so none crosses into C.

use crate::status::{CauchyStatus, Error};
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    /// The message of this thread's last failure; "" until one happens.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Record `e` as this thread's last failure and return its status.
fn fail(e: &Error) -> CauchyStatus {
    let text = CString::new(e.to_string().replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|m| *m.borrow_mut() = text);
    e.status()
}

/// The description of a caught panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_string())
}

/// Run a fallible exported body: `Ok` is `CAUCHY_STATUS_OK`, an error or a panic is recorded
/// and mapped to its status.
pub fn guard(body: impl FnOnce() -> Result<(), Error>) -> CauchyStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => CauchyStatus::CAUCHY_STATUS_OK,
        Ok(Err(e)) => fail(&e),
        Err(payload) => fail(&Error::Internal(panic_text(payload.as_ref()))),
    }
}

/// Run an infallible exported body, answering `fallback` should it panic anyway.
pub fn guard_value<R>(fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// This thread's last failure message; valid until the next failing call on this thread.
pub fn last_error() -> *const c_char {
    LAST_ERROR.with(|m| m.borrow().as_ptr())
}
