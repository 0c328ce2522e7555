//! Compiles the C / C++ test programs against the built library (with the `cc` crate, so the
//! compiler is the one cargo would use for this target) and runs them, natively or under
//! valgrind.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which build of the library a program links against.
#[derive(Clone, Copy, Debug)]
pub enum Link {
    /// `libcauchy.so`, found at run time through an rpath.
    Shared,
    /// `libcauchy.a` with the system libraries Rust's std needs.
    Static,
}

/// What `rustc --print native-static-libs` lists for Linux targets: a static Rust library
/// needs these after it on the link line.
const NATIVE_STATIC_LIBS: &[&str] =
    &["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"];

/// `std` with every warning an error: how every C test program and example must compile.
pub fn strict(std: &str) -> Vec<&str> {
    vec![std, "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
}

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>/deps/, beside the test binary: when cargo builds the library for tests it
/// writes libcauchy.so and libcauchy.a there, fresh, and does not copy them up to
/// target/<profile>/ (only `cargo build` does, so those copies may be stale).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Compile `source` (relative to the repository root; `.cpp` is C++) with `flags` into an
/// executable linked against the library, and return the executable's path.
pub fn compile(source: &str, link: Link, flags: &[&str]) -> PathBuf {
    // Tests run in parallel threads and in several test binaries: every build gets its own name.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let source = repo().join(source);
    let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cprograms");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join(format!(
        "{}-{}-{}-{}",
        stem(&std::env::current_exe().unwrap()),
        stem(source.parent().unwrap()),
        stem(&source),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let compiler = cc::Build::new()
        .target(env!("CAUCHY_BUILD_TARGET"))
        .host(env!("CAUCHY_BUILD_HOST"))
        .opt_level(1)
        .debug(true)
        .cargo_metadata(false)
        .cpp(source.extension().is_some_and(|e| e == "cpp"))
        .get_compiler();
    let mut cmd = compiler.to_command();
    cmd.args(flags).arg("-I").arg(repo().join("include")).arg(&source).arg("-o").arg(&exe);
    let lib = lib_dir();
    match link {
        Link::Shared => {
            cmd.arg("-L").arg(&lib).arg("-lcauchy");
            cmd.arg(format!("-Wl,-rpath,{}", lib.display()));
        }
        Link::Static => {
            cmd.arg(lib.join("libcauchy.a")).args(NATIVE_STATIC_LIBS);
        }
    }
    cmd.arg("-lm"); // for the programs themselves (ldexp)
    let out = cmd.output().expect("cannot start the C compiler");
    assert!(
        out.status.success(),
        "compiling failed: {cmd:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// What a program printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

fn output(mut cmd: Command) -> Output {
    // cargo puts target/<profile>/ on LD_LIBRARY_PATH, which beats the rpath and would load
    // a stale libcauchy.so from there.
    cmd.env_remove("LD_LIBRARY_PATH");
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run a compiled program.
pub fn run(exe: &Path) -> Output {
    output(Command::new(exe))
}

/// Run a compiled program under valgrind memcheck (any memory error or leak: exit status 99).
/// `None` when valgrind is not installed: the test then passes with a note, except under CI
/// (the `CI` variable set), where a silently skipped check would hide regressions.
pub fn run_valgrind(exe: &Path) -> Option<Output> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is not on PATH: install valgrind (CI is set: this check may not be skipped)"
        );
        eprintln!("note: valgrind is not on PATH, skipping the memcheck run of {}", exe.display());
        return None;
    }
    let mut cmd = Command::new("valgrind");
    cmd.args(["--error-exitcode=99", "--leak-check=full", "--quiet"]).arg(exe);
    Some(output(cmd))
}

/// Assert that a program exited with status 0, showing its output otherwise.
pub fn assert_success(what: &str, out: &Output) {
    assert_eq!(
        out.code,
        Some(0),
        "{what} failed\n--- stdout\n{}\n--- stderr\n{}",
        out.stdout,
        out.stderr
    );
}
