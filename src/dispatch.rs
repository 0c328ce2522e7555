//! Which instruction set the kernels are compiled for, chosen once per process.
//!
//! The element kernels exist once, as generic Rust; [`Isa`] picks the copy the compiler built
//! with AVX2 and FMA (hardware fused multiply-adds inlined into the double-double arithmetic)
//! or the portable copy. Both compute bit-identical results (fused multiply-add is exact either
//! way and the compiler never contracts other operations), so the choice changes speed only.
//! `CAUCHY_KERNEL=portable` or `=avx2` forces a path (read once, at first use; a path the CPU
//! lacks falls back to the best one it has), which is how the tests cover every path.

use std::sync::OnceLock;

/// A kernel path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Portable,
    Avx2,
}

impl Isa {
    /// The name `CAUCHY_KERNEL` and `cauchy_kernel_name()` use, NUL-terminated.
    pub fn name(self) -> &'static std::ffi::CStr {
        match self {
            Isa::Portable => c"portable",
            Isa::Avx2 => c"avx2",
        }
    }

    fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 => false,
        }
    }
}

/// The path in use: `CAUCHY_KERNEL` when it names a supported path, else the best supported.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = [Isa::Avx2, Isa::Portable].into_iter().find(|i| i.supported());
        let forced = std::env::var("CAUCHY_KERNEL").ok().and_then(|v| {
            [Isa::Portable, Isa::Avx2].into_iter().find(|i| i.name().to_str() == Ok(v.trim()))
        });
        forced.filter(|i| i.supported()).or(best).unwrap_or(Isa::Portable)
    })
}
