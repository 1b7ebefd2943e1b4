//! `VmHandle`, the class `dynmem._dynmem.VmHandle` that `dynmem.VM`
//! subclasses. The six settings' getters and setters are written by one
//! macro, each setter a `VmChange` of its one setting.

use crate::convert::{bool_arg, change_arg, counters_dict, int_arg};
use crate::errors::OrRaise;
use crate::host::PyHost;
use dynmem_core::{self as core, VmChange, VmId, VmRef};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A handle to one VM: the host and the VM's id, nothing else. Reads go to
/// the host's arrays; a handle to a removed VM raises `StateError`.
#[pyclass(module = "dynmem._dynmem", name = "VmHandle", subclass, frozen)]
pub struct VmHandle {
    host: Py<PyHost>,
    id: u64,
}

impl VmHandle {
    fn read<T>(&self, py: Python<'_>, f: impl FnOnce(VmRef<'_>) -> T) -> PyResult<T> {
        let h = self.host.get().core(py)?;
        let vm = h.vm(VmId(self.id)).or_raise(py)?;
        Ok(f(vm))
    }
    fn write<T>(&self, py: Python<'_>, f: impl FnOnce(&mut core::Host) -> core::Result<T>) -> PyResult<T> {
        let mut h = self.host.get().core(py)?;
        f(&mut h).or_raise(py)
    }
    fn change(&self, py: Python<'_>, change: VmChange) -> PyResult<()> {
        self.write(py, |h| h.configure(VmId(self.id), &change))
    }
}

/// Writes `VmHandle`'s `#[pymethods]` block: for each `setting / setter:
/// type = conversion`, a getter reading the VM's config and a setter applying
/// a `VmChange` of that one setting (the value converted under the setting's
/// name); then the other methods as given. PyO3 takes one methods block per
/// class and no macros inside it, so the macro writes the whole block.
macro_rules! vm_methods {
    (settings { $($name:ident / $set:ident: $ty:ty = $arg:ident),+ $(,)? } $($methods:tt)*) => {
        #[pymethods]
        impl VmHandle {
            $(
                #[getter]
                fn $name(&self, py: Python<'_>) -> PyResult<$ty> {
                    self.read(py, |vm| vm.config().$name)
                }
                #[setter]
                fn $set(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
                    let value = $arg(stringify!($name), value)?;
                    self.change(py, VmChange { $name: Some(value), ..VmChange::default() })
                }
            )+
            $($methods)*
        }
    };
}

vm_methods! {
    settings {
        startup_mb / set_startup_mb: u32 = int_arg,
        minimum_mb / set_minimum_mb: u32 = int_arg,
        maximum_mb / set_maximum_mb: u32 = int_arg,
        buffer_pct / set_buffer_pct: u16 = int_arg,
        weight / set_weight: u16 = int_arg,
        dynamic / set_dynamic: bool = bool_arg,
    }

    #[new]
    fn new(host: Py<PyHost>, id: u64) -> Self {
        VmHandle { host, id }
    }

    #[getter]
    fn id(&self) -> u64 {
        self.id
    }
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |vm| vm.name().to_string())
    }
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |vm| vm.state().as_str())
    }
    #[getter]
    fn status(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |vm| vm.status().as_str())
    }
    #[getter]
    fn demand_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.demand_mb())
    }
    #[setter]
    fn set_demand_mb(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = int_arg("demand_mb", value)?;
        self.write(py, |h| h.set_demand(VmId(self.id), d))
    }
    #[getter]
    fn assigned_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.assigned_mb())
    }
    #[getter]
    fn visible_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.visible_mb())
    }
    #[getter]
    fn target_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |vm| vm.target_mb())
    }
    #[getter]
    fn pressure(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |vm| vm.pressure())
    }
    #[getter]
    fn paging_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |vm| vm.paging_mb())
    }

    /// Changes several settings at once, atomically: keywords among
    /// startup_mb, minimum_mb, maximum_mb, buffer_pct, weight and dynamic
    /// (`None` leaves a setting as it is; another keyword is a `ConfigTypeError`).
    #[pyo3(signature = (**changes))]
    fn configure(&self, py: Python<'_>, changes: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let change = change_arg("configure", "", changes)?;
        self.change(py, change)
    }

    /// Starts the VM (`InsufficientMemoryError` if startup memory can't be found).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, |h| h.start(VmId(self.id)))
    }
    /// Stops the VM; its memory returns to the host.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, |h| h.stop(VmId(self.id)))
    }

    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.read(py, |vm| vm.counters())?;
        counters_dict(py, &counters.named())
    }

    /// True while the VM is still on its host.
    #[getter]
    fn exists(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.host.get().core(py)?.vm(VmId(self.id)).is_ok())
    }
}
