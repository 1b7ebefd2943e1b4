//! dynmem-core: the Hyper-V Dynamic Memory balancer, with no Python in it.
//!
//! [`Host`] holds a host's VMs as a struct of arrays and runs the balancer
//! ([`Host::tick`]); [`solver::fill`] is the weighted water-filling at its
//! heart. `docs/balancer.md` in the repository is the specification;
//! `DEVELOPERS.md` draws the modules and the direction of their imports.

// Off x86-64 only the scalar forms exist; the dispatch's `mut`s and the
// vector forms' checks are then unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, dead_code))]
#![deny(unsafe_op_in_unsafe_fn)]

mod balancer;
pub mod config;
pub mod error;
pub mod fleet;
/// Random operation sequences and their checks: the fuzz target's and the
/// seeded test's (not part of the API).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod guest;
pub mod host;
pub mod mechanics;
pub mod model;
mod par;
pub mod policy;
pub mod run;
mod simd;
pub mod snapshot;
pub mod solver;
pub mod table;
mod tick;
pub mod version;

pub use config::{VmChange, VmConfig, VmSpec};
pub use error::{Error, ErrorKind, Result, Value};
pub use fleet::Fleet;
pub use guest::{BalloonFloor, Guest, HotAdd};
pub use host::{Host, VmRef, PARALLEL_MIN_VMS};
pub use mechanics::Mechanics;
pub use model::rules::default_reserve_mb;
pub use model::{CounterValue, HostCounters, Status, VmCounters, VmId, VmState};
pub use policy::{External, Policy, PolicyView};
pub use run::{Action, Event, EventOutcome, Record, RunInput};
pub use simd::{vector_path, VectorCap};
pub use version::Version;

#[cfg(test)]
mod tests;
