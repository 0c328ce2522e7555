//! Which instruction set the kernels are compiled for, chosen once per process.
//!
//! The element kernels exist once, as generic Rust; [`Isa`] picks the copy the compiler built
//! for AVX-512 (512-bit vectors, with AVX2 and FMA), for AVX2 and FMA (hardware fused
//! multiply-adds inlined into the double-double arithmetic), or the portable copy. All compute
//! bit-identical results (fused multiply-add is exact either way and the compiler never
//! contracts other operations), so the choice changes speed only. `CAUCHY_KERNEL=portable`,
//! `=avx2` or `=avx512` forces a path (read once, at first use; a path the CPU lacks falls back
//! to the best one it has), which is how the tests cover every path.

use std::sync::OnceLock;

/// A kernel path, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    Portable,
}

/// Every path, best first.
const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

impl Isa {
    /// The name `CAUCHY_KERNEL` and `cauchy_kernel_name()` use, NUL-terminated.
    pub fn name(self) -> &'static std::ffi::CStr {
        match self {
            Isa::Avx512 => c"avx512",
            Isa::Avx2 => c"avx2",
            Isa::Portable => c"portable",
        }
    }

    /// Whether this CPU runs the path: the AVX-512 copy is compiled for the foundation,
    /// doubleword/quadword, byte/word and vector-length extensions (every AVX-512 CPU since
    /// Skylake-SP has them) together with AVX2 and FMA.
    fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        let has = |features: &[bool]| features.iter().all(|&f| f);
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => has(&[is_x86_feature_detected!("avx2"), is_x86_feature_detected!("fma")]),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.supported()
                    && has(&[
                        is_x86_feature_detected!("avx512f"),
                        is_x86_feature_detected!("avx512dq"),
                        is_x86_feature_detected!("avx512bw"),
                        is_x86_feature_detected!("avx512vl"),
                    ])
            }
            #[cfg(not(target_arch = "x86_64"))]
            Isa::Avx2 | Isa::Avx512 => false,
        }
    }
}

/// The path in use: `CAUCHY_KERNEL` when it names a supported path, else the best supported.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = ALL.into_iter().find(|i| i.supported());
        let forced = std::env::var("CAUCHY_KERNEL")
            .ok()
            .and_then(|v| ALL.into_iter().find(|i| i.name().to_str() == Ok(v.trim())));
        forced.filter(|i| i.supported()).or(best).unwrap_or(Isa::Portable)
    })
}
