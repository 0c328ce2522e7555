//! Generates include/cauchy.h with cbindgen, adding the version macros from Cargo.toml.
//! The header is rewritten only when its text changes, so builds do not loop; CI checks that
//! the committed header equals a fresh generation.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    for watched in ["src", "cbindgen.toml", "build.rs"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    // The C test programs are compiled by the `cc` crate from integration tests, where cargo
    // sets neither TARGET nor HOST: pass them on.
    for var in ["TARGET", "HOST"] {
        println!("cargo:rustc-env=CAUCHY_BUILD_{var}={}", std::env::var(var).unwrap());
    }
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let v = |part: &str| std::env::var(format!("CARGO_PKG_VERSION_{part}")).unwrap();
    let (major, minor, patch) = (v("MAJOR"), v("MINOR"), v("PATCH"));
    config.after_includes = Some(format!(
        "\n/** The version of this header; cauchy_version() gives the library's. */\n\
         #define CAUCHY_VERSION_MAJOR {major}\n\
         #define CAUCHY_VERSION_MINOR {minor}\n\
         #define CAUCHY_VERSION_PATCH {patch}\n\
         #define CAUCHY_VERSION_NUMBER (CAUCHY_VERSION_MAJOR * 10000 + CAUCHY_VERSION_MINOR * 100 + CAUCHY_VERSION_PATCH)\n\
         #define CAUCHY_VERSION_STRING \"{major}.{minor}.{patch}\"",
    ));
    let header = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    let mut text = Vec::new();
    header.write(&mut text);
    let path = dir.join("include").join("cauchy.h");
    if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).expect("cannot write include/cauchy.h");
    }
}
