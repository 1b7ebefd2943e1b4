//! The data model, below everything else: a host's VMs as a struct of
//! arrays ([`vms`]), the column views the passes work on (`view`), the
//! spec's formulas ([`rules`]), Hyper-V's counters ([`counters`]), ids and names.

pub mod counters;
pub(crate) mod guests;
pub(crate) mod ids;
pub(crate) mod names;
pub mod rules;
pub(crate) mod view;
pub mod vms;

pub use counters::{CounterValue, HostCounters, VmCounters};
pub(crate) use guests::GuestTable;
pub use ids::VmId;
pub(crate) use view::View;
pub(crate) use vms::{
    each_column, in_solver, pressure_of, pressure_step, state_of, Carries, Counter, Vms, DYNAMIC, STATE_MASK,
};
pub use vms::{Status, VmState};
