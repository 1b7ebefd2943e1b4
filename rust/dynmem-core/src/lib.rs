//! dynmem-core: the Hyper-V Dynamic Memory balancer, with no Python in it.
//!
//! [`Host`] holds a host's VMs as a struct of arrays and runs the balancer
//! ([`Host::tick`]); [`solver::fill`] is the weighted water-filling at its
//! heart. `docs/balancer.md` in the repository is the specification.

// Off x86-64 only the scalar forms exist; the dispatch's `mut`s and the
// vector forms' checks are then unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, dead_code))]

pub mod config;
pub mod error;
pub mod host;
mod ids;
mod names;
pub mod policy;
mod pool;
pub mod run;
pub mod solver;
mod tick;

pub use config::{VmChange, VmConfig, VmSpec};
pub use error::{Error, ErrorKind, Result, Value};
pub use host::{default_reserve_mb, CounterValue, Host, HostCounters, Status, VmCounters, VmState, PARALLEL_MIN_VMS};
pub use policy::Policy;
pub use run::{Action, Event, EventOutcome, Record, RunInput};

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

#[cfg(test)]
mod tests;

/// Where to cut `n` VMs (or items) to be run in `parts` parts: the first
/// `parts / 2` parts' share, rounded down to a multiple of 64 (so that the
/// parts share at most one cache line per column). 0: do not cut.
pub(crate) fn split_point(n: usize, parts: usize) -> usize {
    if parts < 2 {
        return 0;
    }
    (n / parts * (parts / 2)) & !63
}
