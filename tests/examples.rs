//! The C examples in c_examples/ compile as strict C99 against include/cauchy.h, run, and exit
//! 0, natively and under valgrind memcheck.

mod common;

use common::cbuild::{self, Link};

/// Compile c_examples/<name>.c, which must exist, and run it both ways.
fn example(name: &str) {
    let source = format!("c_examples/{name}.c");
    assert!(cbuild::repo().join(&source).is_file(), "{source} is missing");
    let exe = cbuild::compile(&source, Link::Shared, &cbuild::strict("-std=c99"));
    cbuild::assert_success(&source, &cbuild::run(&exe));
    if let Some(out) = cbuild::run_valgrind(&exe) {
        cbuild::assert_success(&format!("{source} under valgrind"), &out);
    }
}

#[test]
fn quickstart() {
    example("quickstart");
}

#[test]
fn strided() {
    example("strided");
}

#[test]
fn errors() {
    example("errors");
}
