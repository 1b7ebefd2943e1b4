//! `VmHandle`, the class `dynmem._dynmem.VmHandle` that `dynmem.VM`
//! subclasses. The six settings' getters and setters are written by one
//! macro, each setter a `VmChange` of its one setting.

use crate::convert::{bool_arg, change_arg, counters_dict, int_arg};
use crate::errors::OrRaise;
use crate::guest::{guest_fields, Fields};
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
    (settings { $($(#[doc = $doc:literal])* $name:ident / $set:ident: $ty:ty = $arg:ident),+ $(,)? } $($methods:tt)*) => {
        #[pymethods]
        impl VmHandle {
            $(
                $(#[doc = $doc])*
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
        /// Startup memory (MB): what the VM gets when it starts, and holds
        /// until its guest reports demand. A multiple of the balloon unit
        /// (2 MB), minimum_mb ≤ startup_mb ≤ maximum_mb; changes only while
        /// the VM is off.
        startup_mb / set_startup_mb: u32 = int_arg,
        /// Minimum memory (MB), at least 32: the balancer never takes a
        /// running dynamic VM below it. While the VM runs it may only fall.
        minimum_mb / set_minimum_mb: u32 = int_arg,
        /// Maximum memory (MB), at most `dynmem.MAX_MAXIMUM_MB` (1 TB): the
        /// balancer never gives the VM more. While the VM runs it may only
        /// rise.
        maximum_mb / set_maximum_mb: u32 = int_arg,
        /// Memory buffer (%), 5–2000: memory the balancer aims to give on top
        /// of demand (target = demand × (100 + buffer_pct) / 100).
        buffer_pct / set_buffer_pct: u16 = int_arg,
        /// Memory weight (Hyper-V's priority), 0–10000, default 5000: under
        /// contention memory above the minimum is shared in proportion to
        /// it; weight 0 is served last.
        weight / set_weight: u16 = int_arg,
        /// True for Dynamic Memory; False for a static VM, which holds its
        /// startup memory while it runs. Changes only while the VM is off.
        dynamic / set_dynamic: bool = bool_arg,
    }

    #[new]
    fn new(host: Py<PyHost>, id: u64) -> Self {
        VmHandle { host, id }
    }

    /// The VM's id on its host: an integer no other VM of that host gets,
    /// even after this one is removed (a name can be reused; an id is not).
    #[getter]
    fn id(&self) -> u64 {
        self.id
    }
    /// Its guest profile's fields (name, report_delay_s, balloon_floor,
    /// hot_add_chunk_mb), which `dynmem.VM.guest` makes a `dynmem.Guest` of.
    #[getter]
    fn _guest_fields(&self, py: Python<'_>) -> PyResult<Fields> {
        let h = self.host.get().core(py)?;
        let vm = h.vm(VmId(self.id)).or_raise(py)?;
        guest_fields(py, vm.guest())
    }
    /// Its guest's balloon floor (MB): what a Linux guest keeps free and adds
    /// to the demand it reports; 0 for a guest without one ("windows").
    #[getter]
    fn balloon_floor_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.balloon_floor_mb())
    }
    /// The demand its guest reports to the balancer (MB): demand_mb + its
    /// balloon floor. Pressure, status and target are of this figure.
    #[getter]
    fn guest_reported_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.guest_reported_mb())
    }
    /// The VM's name, unique on its host.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.read(py, |vm| vm.name().to_string())
    }
    /// Power state: "off"; "starting" (started, dynamic, its guest not yet
    /// reporting demand: it holds its startup memory for the policy's
    /// boot_report_delay_s); or "running" (a static VM runs at once).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |vm| vm.state().as_str())
    }
    /// Memory Status, by Hyper-V's rule (Msvm_SummaryInformation): for a
    /// dynamic VM that is on, "paging" while a Smart Paging file is in use,
    /// else from available_buffer_pct: below 0 "warning", above 80 "ok",
    /// else "low". "" for a static VM that is on (Hyper-V shows nothing),
    /// "off" when off. Live: a demand set between ticks shows at once.
    #[getter]
    fn status(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |vm| vm.status().as_str())
    }
    /// The guest's committed memory (MB), what it needs without paging: set
    /// it to drive the VM (0..=MAX_DEMAND_MB). The balancer acts on it at the
    /// next tick; a starting VM's guest reports it only after its report
    /// delay (boot_report_delay_s for the default guest), a Linux guest with
    /// its balloon floor on top (guest_reported_mb).
    #[getter]
    fn demand_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.demand_mb())
    }
    #[setter]
    fn set_demand_mb(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = int_arg("demand_mb", value)?;
        self.write(py, |h| h.set_demand(VmId(self.id), d))
    }
    /// Physical memory assigned to the VM (MB); Hyper-V's counter Physical
    /// Memory. 0 when off.
    #[getter]
    fn assigned_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.assigned_mb())
    }
    /// Guest-visible physical memory (MB); Hyper-V's counter Guest Visible
    /// Physical Memory. Grows in hot_add_chunk_mb chunks and never shrinks
    /// while the VM runs (ballooned memory stays visible).
    #[getter]
    fn visible_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.visible_mb())
    }
    /// What the balancer aims to give the VM (MB): demand plus the buffer,
    /// rounded up to the balloon unit and clamped to [minimum_mb,
    /// maximum_mb] (startup_mb while starting or static; 0 when off).
    #[getter]
    fn target_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |vm| vm.target_mb())
    }
    /// Current pressure (%): guest_reported_mb / assigned_mb × 100 (for the
    /// default guest demand_mb / assigned_mb); Hyper-V's counter Current
    /// Pressure. 0 when off.
    #[getter]
    fn pressure(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |vm| vm.pressure())
    }
    /// Memory the guest pages inside itself (MB): max(0, demand_mb −
    /// assigned_mb); 0 when off.
    #[getter]
    fn paging_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |vm| vm.paging_mb())
    }
    /// Hyper-V's AvailableMemoryBuffer (%, a whole number): the buffer
    /// actually free, assigned_mb − demand_mb, as a percent of the configured
    /// buffer demand_mb × buffer_pct / 100, rounded down (negative exactly
    /// when the guest pages; not capped above); 100 when demand_mb is 0; 0
    /// when off or static.
    #[getter]
    fn available_buffer_pct(&self, py: Python<'_>) -> PyResult<i64> {
        self.read(py, |vm| vm.available_buffer_pct())
    }
    /// Hyper-V's MemoryAvailable (%, a whole number): assigned_mb −
    /// demand_mb as a percent of assigned_mb, rounded down (negative when the
    /// guest pages); 0 when off.
    #[getter]
    fn memory_available_pct(&self, py: Python<'_>) -> PyResult<i64> {
        self.read(py, |vm| vm.memory_available_pct())
    }
    /// What Get-VM's MemoryDemand shows (MB): assigned_mb × (100 −
    /// memory_available_pct) / 100 rounded down, in steps of 1 % of
    /// assigned memory; never below demand_mb while on; 0 when off.
    #[getter]
    fn reported_demand_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |vm| vm.reported_demand_mb())
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
    /// Restarts a VM that is on: a stop and a start in one operation. The
    /// start finds memory as start() does (free memory, then ballooning
    /// running dynamic VMs of weight <= its own down to their minimum_mb).
    /// If that is short of startup_mb, then from version "2012" on the VM
    /// starts with all it found (MB, a multiple of the balloon unit) and the
    /// rest of startup_mb goes to a Smart Paging file: smart_paging_mb and
    /// the counter "Smart Paging Working Set Size" show it (MB), status is
    /// "paging", and the file drains after each tick until it is gone,
    /// within the host's smart_paging_drain_s (s). Its own memory comes
    /// back to it, so a restart never fails for memory. An off VM is a
    /// `StateError`; on "2008r2sp1" a restart short of memory would be a
    /// `VersionError`, which minimum = startup there makes impossible.
    fn restart(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, |h| h.restart(VmId(self.id)))
    }
    /// Smart Paging working set (MB): the part of startup_mb a restart()
    /// could not find, paged to a Smart Paging file until the file drains;
    /// 0 almost always. The counter "Smart Paging Working Set Size".
    #[getter]
    fn smart_paging_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |vm| vm.smart_paging_mb())
    }

    /// Hyper-V's per-VM counters ("Hyper-V Dynamic Memory VM"), a new dict
    /// each read, keyed by Hyper-V's names in the order of
    /// `dynmem._dynmem.VM_COUNTER_NAMES`:
    ///
    /// - "Added Memory", "Removed Memory": MB, over the VM's life
    /// - "Memory Add Operations", "Memory Remove Operations": counts
    /// - "Physical Memory", "Guest Visible Physical Memory": MB, now
    /// - "Current Pressure": %, now
    /// - "Average Pressure", "Minimum Pressure", "Maximum Pressure": %,
    ///   over the ticks the VM ran
    /// - "Guest Available Memory": MB, max(0, assigned − demand) now: the
    ///   guest's free memory (0 when off)
    /// - "Smart Paging Working Set Size": MB, the part of startup memory a
    ///   restart paged to a Smart Paging file (smart_paging_mb)
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
