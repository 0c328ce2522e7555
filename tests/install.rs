//! Installation: `make install` into a temporary prefix, then programs built against what it
//! installed, the ways README.md shows.
//!
//! - layout: the files, the SONAME and the symlinks, the headers, what pkg-config says, the
//!   CMake version check; the library cargo builds has no SONAME.
//! - pkg_config_c, cmake_c, cpp_example: README.md's commands, run as they are (from a copy of
//!   tests/consumer/, with `PREFIX` set to the temporary prefix), and their programs run.
//! - cpp_api: tests/consumer/cpp_api.cpp with -std=c++17 and every warning an error.
//! - destdir: a staged install (`DESTDIR`) and `make uninstall`.
//! - readme_shows_the_consumers: README.md shows tests/consumer/CMakeLists.txt and
//!   example.cpp as they are, and the example's output.
//!
//! The programs run without cargo's LD_LIBRARY_PATH, so they load the installed
//! libcauchy.so.0 (through their rpath). Without make, pkg-config, cmake or a C / C++
//! compiler the tests pass with a note, except when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const MAJOR: &str = env!("CARGO_PKG_VERSION_MAJOR");

/// The checks tests/consumer/cpp_api.cpp prints: a count that drops means a case went missing.
const CPP_API_CHECKS: usize = 58;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("install-test").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether every tool answers `--version`. A missing one fails the test when `CI` is set (a
/// silently skipped check would hide regressions); otherwise the test passes with a note.
fn have(tools: &[&str], test: &str) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| Command::new(t).arg("--version").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} not on PATH: install them (CI is set: {test} may not be skipped)"
    );
    eprintln!("note: {missing:?} not on PATH, skipping {test}");
    false
}

/// Run a command without cargo's LD_LIBRARY_PATH; return its stdout, or panic with its output.
fn run(mut cmd: Command) -> String {
    cmd.env_remove("LD_LIBRARY_PATH");
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `make <args>` in the repository, building in <target>/install/ (as a plain `make install`
/// does in target/install/).
fn make(args: &[String]) -> String {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let mut cmd = Command::new("make");
    cmd.arg("-C").arg(repo()).args(args);
    cmd.arg(format!("BUILD_DIR={}", target.join("install").display()));
    run(cmd)
}

/// The prefix `make install PREFIX=...` filled, once for all tests.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let prefix = scratch("prefix");
        make(&["install".into(), format!("PREFIX={}", prefix.display())]);
        prefix
    })
}

/// The line of README.md that starts with `start`.
fn readme_line(start: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let line = readme.lines().find(|l| l.starts_with(start));
    line.unwrap_or_else(|| panic!("README.md has no line starting with {start:?}")).to_string()
}

/// Run a README command with bash in a folder holding a copy of tests/consumer/ (and an empty
/// target/), with `PREFIX` the installed prefix; return its stdout.
fn run_readme_command(test: &str, start: &str) -> (PathBuf, String) {
    let command = readme_line(start);
    let dir = scratch(test);
    let consumer = dir.join("tests").join("consumer");
    std::fs::create_dir_all(&consumer).unwrap();
    std::fs::create_dir_all(dir.join("target")).unwrap();
    for entry in std::fs::read_dir(repo().join("tests").join("consumer")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, consumer.join(path.file_name().unwrap())).unwrap();
    }
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&command).current_dir(&dir).env("PREFIX", prefix());
    let stdout = run(cmd);
    (dir, stdout)
}

/// A field of `readelf -d`: the SONAME or the NEEDED libraries of an ELF file.
fn dynamic(file: &Path, tag: &str) -> Vec<String> {
    let mut cmd = Command::new("readelf");
    cmd.arg("-d").arg(file);
    let text = run(cmd);
    let tag = format!("({tag})");
    text.lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()))
        .collect()
}

fn pkg_config(args: &[&str]) -> String {
    let mut cmd = Command::new("pkg-config");
    cmd.args(args).arg("cauchy").env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig"));
    run(cmd).trim().to_string()
}

#[test]
fn layout() {
    if !have(&["make", "readelf", "pkg-config", "cmake"], "layout") {
        return;
    }
    let lib = prefix().join("lib");
    let real = format!("libcauchy.so.{VERSION}");
    let soname = format!("libcauchy.so.{MAJOR}");
    assert!(lib.join(&real).symlink_metadata().unwrap().is_file(), "{real} is not a plain file");
    assert_eq!(dynamic(&lib.join(&real), "SONAME"), std::slice::from_ref(&soname));
    for (link, to) in [(soname.as_str(), real.as_str()), ("libcauchy.so", soname.as_str())] {
        let target = std::fs::read_link(lib.join(link)).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(target, Path::new(to), "{link} points elsewhere");
    }
    assert!(std::fs::metadata(lib.join("libcauchy.a")).unwrap().len() > 0);
    for header in ["cauchy.h", "cauchy.hpp"] {
        let installed = std::fs::read(prefix().join("include").join(header)).unwrap();
        assert!(installed == std::fs::read(repo().join("include").join(header)).unwrap());
    }

    // pkg-config
    assert_eq!(pkg_config(&["--modversion"]), VERSION);
    assert_eq!(pkg_config(&["--cflags"]), format!("-I{}/include", prefix().display()));
    assert_eq!(pkg_config(&["--libs"]), format!("-L{} -lcauchy", lib.display()));
    assert_eq!(
        pkg_config(&["--static", "--libs"]),
        format!("-L{} -lcauchy -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc", lib.display())
    );

    // CMake: cauchyConfigVersion.cmake with the variables find_package(cauchy <request>) sets.
    let cmake_dir = lib.join("cmake").join("cauchy");
    assert!(cmake_dir.join("cauchyConfig.cmake").is_file());
    let parts: Vec<u32> = VERSION.split('.').map(|p| p.parse().unwrap()).collect();
    let (major, minor, patch) = (parts[0], parts[1], parts[2]);
    let mut cases = vec![
        (VERSION.to_string(), "TRUE TRUE"),
        (format!("{major}.{minor}"), "TRUE FALSE"),
        (major.to_string(), "TRUE FALSE"),
        (format!("{major}.{minor}.{}", patch + 1), "FALSE FALSE"),
        (format!("{}", major + 1), "FALSE FALSE"),
        (format!("{major}.{}", minor + 1), "FALSE FALSE"),
    ];
    if major == 0 && minor > 0 {
        cases.push((format!("0.{}", minor - 1), "FALSE FALSE")); // 0.x: another ABI
    }
    let dir = scratch("cmake-version");
    for (request, want) in cases {
        let nums: Vec<&str> = request.split('.').collect();
        let mut script = format!("set(PACKAGE_FIND_VERSION \"{request}\")\n");
        script += &format!("set(PACKAGE_FIND_VERSION_COUNT {})\n", nums.len());
        for (i, name) in ["MAJOR", "MINOR", "PATCH"].iter().enumerate() {
            let n = nums.get(i).copied().unwrap_or("0");
            script += &format!("set(PACKAGE_FIND_VERSION_{name} {n})\n");
        }
        script += &format!("include(\"{}/cauchyConfigVersion.cmake\")\n", cmake_dir.display());
        script += "message(\"${PACKAGE_VERSION_COMPATIBLE} ${PACKAGE_VERSION_EXACT}\")\n";
        std::fs::write(dir.join("check.cmake"), script).unwrap();
        let out = Command::new("cmake").arg("-P").arg(dir.join("check.cmake")).output().unwrap();
        let got = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(got, want, "find_package(cauchy {request}) with libcauchy {VERSION}");
    }

    // The library cargo builds (which the other tests and the quick-start link) has no
    // SONAME: programs linked against it need no libcauchy.so.0 beside it.
    let deps = std::env::current_exe().unwrap().parent().unwrap().join("libcauchy.so");
    assert_eq!(dynamic(&deps, "SONAME"), Vec::<String>::new(), "{}", deps.display());
}

#[test]
fn pkg_config_c() {
    if !have(&["make", "pkg-config", "cc", "bash", "readelf"], "pkg_config_c") {
        return;
    }
    let (dir, stdout) = run_readme_command("pkg-config", "cc -std=c99 tests/consumer/consumer.c ");
    assert_eq!(stdout, format!("consumer ok {VERSION}\n"));
    let needed = dynamic(&dir.join("target").join("consumer"), "NEEDED");
    assert!(needed.contains(&format!("libcauchy.so.{MAJOR}")), "{needed:?}");
}

#[test]
fn cmake_c() {
    if !have(&["make", "cmake", "cc", "bash", "readelf"], "cmake_c") {
        return;
    }
    let (dir, stdout) = run_readme_command("cmake", "cmake -S tests/consumer ");
    let ok = format!("consumer ok {VERSION}\n");
    assert_eq!(stdout.matches(&ok).count(), 2, "{stdout}"); // consumer and consumer_static
    let build = dir.join("target").join("consumer-cmake");
    let needed = dynamic(&build.join("consumer"), "NEEDED");
    assert!(needed.contains(&format!("libcauchy.so.{MAJOR}")), "{needed:?}");
    let needed = dynamic(&build.join("consumer_static"), "NEEDED");
    assert!(!needed.iter().any(|n| n.starts_with("libcauchy")), "{needed:?}");
}

#[test]
fn cpp_example() {
    if !have(&["make", "pkg-config", "c++", "bash"], "cpp_example") {
        return;
    }
    let (_, stdout) =
        run_readme_command("cpp-example", "c++ -std=c++17 tests/consumer/example.cpp ");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```text\n{stdout}```\n")),
        "README.md does not show the example's output:\n{stdout}"
    );
}

#[test]
fn cpp_api() {
    if !have(&["make", "pkg-config", "c++"], "cpp_api") {
        return;
    }
    let dir = scratch("cpp-api");
    let exe = dir.join("cpp_api");
    let mut cmd = Command::new("c++");
    cmd.args(["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]);
    cmd.arg(repo().join("tests/consumer/cpp_api.cpp"));
    cmd.args(pkg_config(&["--cflags", "--libs"]).split_whitespace());
    cmd.arg(format!("-Wl,-rpath,{}", prefix().join("lib").display()));
    cmd.arg("-o").arg(&exe);
    run(cmd);
    let stdout = run(Command::new(&exe));
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(failed.is_empty(), "failed checks:\n{failed:#?}");
    assert!(stdout.ends_with(&format!("cpp_api: {CPP_API_CHECKS} checks, 0 failed\n")), "{stdout}");
}

#[test]
fn destdir() {
    if !have(&["make"], "destdir") {
        return;
    }
    prefix(); // the build
    let stage = scratch("stage");
    let args = |target: &str| {
        vec![target.to_string(), format!("DESTDIR={}", stage.display()), "PREFIX=/usr/local".into()]
    };
    make(&args("install"));
    let root = stage.join("usr/local");
    let pc = std::fs::read_to_string(root.join("lib/pkgconfig/cauchy.pc")).unwrap();
    assert!(pc.starts_with("prefix=/usr/local\nlibdir=${prefix}/lib\n"), "{pc}");
    assert!(pc.contains(&format!("\nVersion: {VERSION}\n")), "{pc}");
    let config = std::fs::read_to_string(root.join("lib/cmake/cauchy/cauchyConfig.cmake")).unwrap();
    assert!(config.contains(&format!("\"/usr/local/lib/libcauchy.so.{VERSION}\"")), "{config}");
    assert!(root.join("include/cauchy.hpp").is_file());

    make(&args("uninstall"));
    let mut left = Vec::new();
    let mut dirs = vec![stage.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                left.push(path);
            }
        }
    }
    assert!(left.is_empty(), "make uninstall left {left:?}");
    assert!(!root.join("lib/cmake/cauchy").exists());
}

#[test]
fn readme_shows_the_consumers() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for (file, lang) in [("CMakeLists.txt", "cmake"), ("example.cpp", "cpp")] {
        let text = std::fs::read_to_string(repo().join("tests/consumer").join(file)).unwrap();
        assert!(
            readme.contains(&format!("```{lang}\n{text}```\n")),
            "README.md does not show tests/consumer/{file} as it is"
        );
    }
    assert!(readme_line("make install PREFIX=").len() > "make install PREFIX=".len());
}
