//! dynmem-core: the Hyper-V Dynamic Memory balancer, with no Python in it.
//!
//! [`Host`] holds a host's VMs as a struct of arrays and runs the balancer
//! ([`Host::tick`]); [`solver::fill`] is the weighted water-filling at its
//! heart. `docs/balancer.md` in the repository is the specification.

pub mod config;
pub mod error;
pub mod host;
pub mod policy;
pub mod run;
pub mod solver;
mod tick;

pub use config::{VmChange, VmConfig, VmSpec};
pub use error::{Error, ErrorKind, Result, Value};
pub use host::{default_reserve_mb, Host, HostCounters, Status, VmCounters, VmState};
pub use policy::Policy;
pub use run::{Action, Event, EventOutcome, Record, RunInput};

#[cfg(test)]
mod tests;
