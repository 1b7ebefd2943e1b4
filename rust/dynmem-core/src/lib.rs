//! dynmem-core: the Hyper-V Dynamic Memory balancer, with no Python in it.
//!
//! [`Host`] holds a host's VMs as a struct of arrays and runs the balancer
//! ([`Host::tick`]); [`solver::fill`] is the weighted water-filling at its
//! heart. `docs/balancer.md` in the repository is the specification.

pub mod config;
pub mod error;
pub mod host;
mod names;
pub mod policy;
pub mod run;
pub mod solver;
mod tick;

pub use config::{VmChange, VmConfig, VmSpec};
pub use error::{Error, ErrorKind, Result, Value};
pub use host::{default_reserve_mb, Host, HostCounters, Status, VmCounters, VmState};
pub use policy::Policy;
pub use run::{Action, Event, EventOutcome, Record, RunInput};

/// Whether the AVX-512 forms of the hot loops may run: `allowed` (tests
/// switch them off to compare) and the CPU has AVX-512 F/BW/VL/DQ (and
/// AVX2, which they also use). The
/// standard library caches the detection.
#[inline]
pub(crate) fn avx512(allowed: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        allowed
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = allowed;
        false
    }
}

/// Which forms of the hot loops this CPU runs: `"avx512"` or `"scalar"`
/// (results are identical; only speed differs).
pub fn vector_path() -> &'static str {
    if avx512(true) {
        "avx512"
    } else {
        "scalar"
    }
}

#[cfg(test)]
mod tests;
