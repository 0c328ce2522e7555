//! The floating-point environment the kernels need, whatever the host program set.
//!
//! A host may run with flush-to-zero / denormals-are-zero (PyTorch's `set_flush_denormal`,
//! `-ffast-math` start-up code) or another rounding mode. The guarantees assume IEEE defaults,
//! so every thread that computes holds a [`DefaultFpEnv`] guard: it saves the control register,
//! installs the defaults and restores the caller's value when dropped.

/// Restores the saved floating-point control state on drop.
///
/// On entry the register is written only when it differs from the defaults; on exit each
/// architecture restores it the cheaper way (see `imp::restore`).
pub struct DefaultFpEnv {
    saved: u64,
}

impl DefaultFpEnv {
    #[inline]
    pub fn enter() -> DefaultFpEnv {
        let saved = imp::read();
        set(saved, imp::defaults_for(saved));
        DefaultFpEnv { saved }
    }
}

impl Drop for DefaultFpEnv {
    #[inline]
    fn drop(&mut self) {
        imp::restore(self.saved);
    }
}

/// Write `want` unless the register, read as `now`, already holds it.
#[inline]
fn set(now: u64, want: u64) {
    if now != want {
        imp::write(want);
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    /// MXCSR: all exceptions masked, round to nearest, no FTZ/DAZ; the status flags are kept.
    pub fn defaults_for(saved: u64) -> u64 {
        0x1F80 | (saved & 0x3F)
    }

    /// Write `saved` back whatever MXCSR holds (which also clears the status flags the work
    /// raised): on the development machine (Zen) reading MXCSR takes about 6 ns, writing it
    /// under 1, so a read to skip the write cost more than the write (a sixteenth of a
    /// one-element call).
    #[inline]
    pub fn restore(saved: u64) {
        write(saved);
    }

    #[inline]
    pub fn read() -> u64 {
        let mut v: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR to the given address, which is `v`.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack, preserves_flags))
        };
        v as u64
    }

    #[inline]
    pub fn write(v: u64) {
        let v = v as u32;
        // SAFETY: ldmxcsr loads MXCSR from `v`; every value we write has reserved bits clear.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack, preserves_flags)) };
    }
}

#[cfg(target_arch = "aarch64")]
mod imp {
    /// FPCR with FZ (bit 24), FZ16 (bit 19), DN (bit 25) and the rounding mode (bits 22-23) clear.
    pub fn defaults_for(saved: u64) -> u64 {
        saved & !((1 << 24) | (1 << 25) | (1 << 19) | (3 << 22))
    }

    /// Write `saved` back if FPCR changed: reading it is cheap, writing it may stall (the
    /// status flags live in FPSR, so a caller in the defaults pays two reads).
    #[inline]
    pub fn restore(saved: u64) {
        super::set(read(), saved);
    }

    #[inline]
    pub fn read() -> u64 {
        let v: u64;
        // SAFETY: reading FPCR has no side effects.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) v, options(nomem, nostack, preserves_flags))
        };
        v
    }

    #[inline]
    pub fn write(v: u64) {
        // SAFETY: writes only the control bits computed from a value read from FPCR.
        unsafe {
            std::arch::asm!("msr fpcr, {}", in(reg) v, options(nomem, nostack, preserves_flags))
        };
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    //! Other targets: the environment is left as the host set it (documented in the README).
    pub fn defaults_for(saved: u64) -> u64 {
        saved
    }
    pub fn restore(_: u64) {}
    pub fn read() -> u64 {
        0
    }
    pub fn write(_: u64) {}
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn guard_clears_flush_to_zero_and_restores_it() {
        let before = imp::read();
        imp::write(before | 0x8040); // FTZ | DAZ
        {
            let _g = DefaultFpEnv::enter();
            let tiny = std::hint::black_box(f64::MIN_POSITIVE);
            assert!(tiny / 4.0 > 0.0, "subnormal flushed inside the guard");
        }
        assert_eq!(imp::read() & 0x8040, 0x8040);
        imp::write(before);
    }
}
