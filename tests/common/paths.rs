//! The kernel paths (`CAUCHY_KERNEL`) and a test binary's tests rerun on each of them.

use std::process::Command;

/// The kernel paths this CPU runs, as `CAUCHY_KERNEL` names them, portable first.
pub fn kernel_paths() -> Vec<&'static str> {
    let mut paths = vec!["portable"];
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        paths.push("avx2");
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
        {
            paths.push("avx512");
        }
    }
    paths
}

/// The path this process's calls take.
pub fn path_in_use() -> &'static str {
    unsafe { std::ffi::CStr::from_ptr(cauchy::cauchy_kernel_name()) }.to_str().unwrap()
}

/// Run this test binary's tests matching `filter` (all for `""`) in a child process with
/// `CAUCHY_KERNEL` set to `path`; panics with its output unless every test passed and the
/// output names `must_pass` as passed. Returns the summary line.
pub fn rerun_on(path: &str, filter: &str, must_pass: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg(filter)
        .env("CAUCHY_KERNEL", path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("test {must_pass} ... ok")),
        "tests on kernel path {path}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().rev().find(|l| l.starts_with("test result"));
    summary.unwrap_or_default().to_string()
}
