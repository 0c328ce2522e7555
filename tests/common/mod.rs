//! Code shared by the integration tests.
#![allow(dead_code)]

pub mod cbuild;
pub mod paths;
pub mod reference;
pub mod tensors;
