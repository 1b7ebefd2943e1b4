//! `dynmem._dynmem`, the PyO3 bindings of dynmem-core: this file registers
//! the classes and constants. `convert` checks and converts arguments,
//! `errors` maps core errors to `dynmem.errors`, `host` and `vm` are the
//! `Host` and `VmHandle` classes (`lock`: the host's fork-aware try-lock), `record` is `Host.run`'s result,
//! `policy` the built-in policies by name and Python's user policies, `table` the trace loaders' CSV
//! parser. No
//! balancer logic lives here.

// Methods mirror the Python signatures, however many arguments they take.
#![allow(clippy::too_many_arguments)]

mod convert;
mod errors;
mod fleet;
mod guest;
mod host;
mod lock;
mod policy;
mod record;
mod table;
mod vm;

use dynmem_core::{self as core, HostCounters, VmCounters};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Called in a forked child by `os.register_at_fork` (see `lock.rs`).
#[pyfunction]
fn _after_fork_in_child() {
    lock::forget_pid();
}

#[pymodule]
fn _dynmem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(table::parse_table, m)?)?;
    m.add_function(wrap_pyfunction!(guest::_check_guest, m)?)?;
    m.add_function(wrap_pyfunction!(guest::_guest_fields, m)?)?;
    m.add("GUEST_NAMES", PyTuple::new(py, core::guest::GUEST_NAMES)?)?;
    m.add_class::<host::PyHost>()?;
    m.add_class::<vm::VmHandle>()?;
    m.add_class::<record::RunRecord>()?;
    m.add_class::<policy::PyPolicyView>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<fleet::PyFleet>()?;
    m.add_function(wrap_pyfunction!(fleet::host_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(fleet::host_from_snapshot, m)?)?;
    m.add("SNAPSHOT_VERSION", core::snapshot::FORMAT_VERSION)?;
    m.add("DETACH_MIN_VMS", host::DETACH_MIN_VMS)?;
    m.add("VECTOR_PATH", core::vector_path())?;
    m.add("PARALLEL_MIN_VMS", core::PARALLEL_MIN_VMS)?;
    m.add("MAX_DEMAND_MB", core::config::MAX_DEMAND_MB)?;
    m.add("MAX_MAXIMUM_MB", core::config::MAX_MAXIMUM_MB)?;
    m.add("VM_COUNTER_NAMES", PyTuple::new(py, VmCounters::NAMES)?)?;
    m.add("HOST_COUNTER_NAMES", PyTuple::new(py, HostCounters::NAMES)?)?;
    Ok(())
}
