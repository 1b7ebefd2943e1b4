//! Which vector forms of the hot loops may run: [`VectorCap`] (a host's
//! cap, lowered by tests to compare forms) against what the CPU has,
//! detected at run time (cached by the standard library).

/// The widest vector forms a host's hot loops may use. Every form gives
/// identical results; tests lower the cap to compare them. The forms run
/// only where the CPU has the instructions (detected at run time, cached by
/// the standard library).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VectorCap {
    /// The portable scalar loops (the definition).
    Scalar = 0,
    /// x86-64 AVX2 + FMA: 4 VMs (or solver items) per step.
    Avx2 = 1,
    /// x86-64 AVX-512 F/BW/VL/DQ: 8 VMs (or solver items) per step.
    Avx512 = 2,
}

/// Whether the AVX-512 forms may run under `cap`.
#[inline]
pub(crate) fn avx512(cap: VectorCap) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap >= VectorCap::Avx512
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        false
    }
}

/// Whether the AVX2 forms may run under `cap`.
#[inline]
pub(crate) fn avx2(cap: VectorCap) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cap >= VectorCap::Avx2
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        false
    }
}

/// Which forms of the hot loops this CPU runs: `"avx512"`, `"avx2"` or
/// `"scalar"` (results are identical; only speed differs).
pub fn vector_path() -> &'static str {
    if avx512(VectorCap::Avx512) {
        "avx512"
    } else if avx2(VectorCap::Avx512) {
        "avx2"
    } else {
        "scalar"
    }
}
