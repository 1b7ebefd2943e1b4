//! Which vector forms of the hot loops may run: [`VectorCap`] (a host's
//! cap, lowered by tests to compare forms) against what the CPU has,
//! detected at run time (cached by the standard library).

/// The widest vector forms a host's hot loops may use. Every form gives
/// identical results; tests lower the cap to compare them. The forms run
/// only where the CPU has the instructions (detected at run time, cached by
/// the standard library).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VectorCap {
    /// The portable loops (the definition): straight-line blocks that the
    /// compiler vectorises for the baseline (SSE2 on x86-64, NEON on aarch64).
    Scalar = 0,
    /// x86-64 AVX2 + FMA: 8 VMs per step in the tick's passes (u32 lanes;
    /// f64 work in halves of 4) and 8 solver items (two halves of 4 f64 lanes).
    Avx2 = 1,
    /// x86-64 AVX-512 F/BW/VL/DQ: 16 VMs per step in the tick's passes
    /// (u32 lanes), 8 in the solver (64-bit lanes).
    Avx512 = 2,
}

/// The form a pass runs in: the widest that a cap allows and the CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Scalar,
    Avx2,
    Avx512,
}

impl Form {
    /// The widest form `cap` allows on this CPU.
    #[inline]
    pub(crate) fn of(cap: VectorCap) -> Form {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if cap >= VectorCap::Avx512
                && has!("avx2")
                && has!("avx512f")
                && has!("avx512bw")
                && has!("avx512vl")
                && has!("avx512dq")
            {
                return Form::Avx512;
            }
            if cap >= VectorCap::Avx2 && has!("avx2") && has!("fma") {
                return Form::Avx2;
            }
        }
        let _ = cap;
        Form::Scalar
    }
}

/// The one dispatch of the hot loops: `vector_prefix!(cap, kernel(args))`
/// calls `avx512::kernel(args)` or `avx2::kernel(args)` (the kernel modules
/// in scope where it is used), whichever [`Form::of`] picks, and evaluates to
/// its result; with no vector form it evaluates to `Default::default()`.
/// A kernel returns how many leading VMs (or items) it did, and its partial
/// results; the caller's scalar loop does the rest.
macro_rules! vector_prefix {
    ($cap:expr, $kernel:ident ( $($arg:expr),* $(,)? )) => {{
        match $crate::simd::Form::of($cap) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Form::of` detected every feature the AVX-512 kernels enable.
            $crate::simd::Form::Avx512 => unsafe { avx512::$kernel($($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Form::of` detected AVX2 and FMA, all the AVX2 kernels enable.
            $crate::simd::Form::Avx2 => unsafe { avx2::$kernel($($arg),*) },
            _ => Default::default(),
        }
    }};
}
pub(crate) use vector_prefix;

/// Which forms of the hot loops this CPU runs: `"avx512"`, `"avx2"` or
/// `"scalar"` (results are identical; only speed differs).
pub fn vector_path() -> &'static str {
    match Form::of(VectorCap::Avx512) {
        Form::Avx512 => "avx512",
        Form::Avx2 => "avx2",
        Form::Scalar => "scalar",
    }
}
