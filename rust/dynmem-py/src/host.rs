//! `PyHost`, the class `dynmem._dynmem.Host`: settings, VMs, ticks and runs
//! of one core host. Bulk reads and writes cross as numpy arrays; large
//! ticks, bulk starts and whole runs release the GIL.

use crate::convert::{
    bool_arg, counters_dict, demand_slice, float_arg, ids_arg, int_arg, names_arg, opt_int_arg, policy_arg, run_input,
    str_arg, threads_arg, vector_cap_arg, vm_specs, widen,
};
use crate::errors::{host_busy, OrRaise};
use crate::guest::{guest_arg, guest_fields, Fields};
use crate::lock::{HostGuard, HostLock};
use crate::policy::{policy_raise, rule_arg, PyExternal};
use crate::record::RunRecord;
use dynmem_core::error::try_vec;
use dynmem_core::{self as core, VmId, VmSpec};
use numpy::{Element, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::types::{PyDict, PyList};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Hosts with at least this many VMs release the GIL during a tick.
pub const DETACH_MIN_VMS: usize = 4096;
/// How often `run` checks for signals (Ctrl-C), at most.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The Rust-owned host (wrapped by `dynmem.Host`).
/// Frozen, with the core behind a try-lock: a second thread using the host
/// while one is inside it (the GIL released) gets `StateError`, never a
/// crash; so does a forked child using a host that a thread was inside at
/// the fork (`crate::lock`).
#[pyclass(module = "dynmem._dynmem", name = "Host", frozen)]
pub struct PyHost {
    core: HostLock<core::Host>,
    /// The user policy, where the host has one: its `allocate`'s exceptions
    /// are raised from here.
    external: Option<Arc<PyExternal>>,
}

impl PyHost {
    /// A binding host around a core host (a restored snapshot).
    /// A host around a core one (restored from a snapshot), with its user
    /// policy where it has one.
    pub fn from_core(core: core::Host, external: Option<Arc<PyExternal>>) -> PyHost {
        PyHost {
            core: HostLock::new(core),
            external,
        }
    }

    /// The core, or `StateError` if another thread is using it.
    pub fn core(&self, py: Python<'_>) -> PyResult<HostGuard<'_, core::Host>> {
        self.core.try_lock().map_err(|why| host_busy(py, why))
    }

    /// `f` on the core, with the GIL released if `vms` is `DETACH_MIN_VMS` or more.
    fn with_core<T: Send>(
        &self,
        py: Python<'_>,
        vms: impl FnOnce(&core::Host) -> usize,
        f: impl FnOnce(&mut core::Host) -> T + Send,
    ) -> PyResult<T> {
        let mut guard = self.core(py)?;
        let core: &mut core::Host = &mut guard;
        Ok(if vms(core) >= DETACH_MIN_VMS {
            py.detach(|| f(core))
        } else {
            f(core)
        })
    }

    /// One value per VM, in `ids()` order, as a numpy array.
    fn column<'py, T: Element>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&core::Host) -> core::Result<Vec<T>>,
    ) -> PyResult<Bound<'py, PyArray1<T>>> {
        Ok(PyArray1::from_vec(py, f(&*self.core(py)?).or_raise(py)?))
    }
}

/// PyO3 takes one `#[pymethods]` block per class and no macro inside it, so
/// this macro writes `PyHost`'s: a getter per `name: type` of `getters` (the
/// core's method of that name), a method per `name: type = |host| values` of
/// `columns` (the values, one per VM, as a numpy array), then the methods given.
macro_rules! host_methods {
    (getters { $($g:ident: $gt:ty),+ $(,)? } columns { $($c:ident: $ct:ty = |$h:ident| $v:expr),+ $(,)? } $($methods:tt)*) => {
        #[pymethods]
        impl PyHost {
            $(#[getter] fn $g(&self, py: Python<'_>) -> PyResult<$gt> { Ok(self.core(py)?.$g()) })+
            $(fn $c<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<$ct>>> { self.column(py, |$h| Ok($v)) })+
            $($methods)*
        }
    };
}

host_methods! {
    getters { physical_mb: u64, reserve_mb: u64, time_s: f64, available_mb: i64, heap_bytes: usize, threads: usize }
    columns {
        ids: u64 = |h| h.ids().into_iter().map(u64::from).collect(),
        demand_mb: i64 = |h| widen(&h.demands(), "demand_mb")?,
        assigned_mb: i64 = |h| widen(h.assigned(), "assigned_mb")?,
        visible_mb: i64 = |h| widen(h.visible(), "visible_mb")?,
        target_mb: i64 = |h| h.targets().into_iter().map(|t| t as i64).collect(),
        paging_mb: i64 = |h| h.vms().map(|vm| vm.paging_mb() as i64).collect(),
        status_codes: u8 = |h| h.statuses().into_iter().map(|s| s as u8).collect(),
        available_buffer_pct: i64 = |h| h.available_buffer_pcts(),
        memory_available_pct: i64 = |h| h.vms().map(|vm| vm.memory_available_pct()).collect(),
        reported_demand_mb: i64 = |h| h.vms().map(|vm| vm.reported_demand_mb() as i64).collect(),
        guest_reported_mb: i64 = |h| widen(h.reported_demands(), "guest_reported_mb")?,
        smart_paging_mb: i64 = |h| h.vms().map(|vm| vm.smart_paging_mb() as i64).collect(),
        pressure: f64 = |h| h.pressures(),
    }

    #[new]
    /// `policy` gives the mechanics (its fields), `rule` the allocation
    /// policy (see `policy::rule_arg`), `version` the Windows Server release
    /// (`dynmem_core::Version::NAMES`; None: the newest),
    /// `smart_paging_drain_s` the Smart Paging drain time (None: 600 s).
    /// `numa_nodes`: a node count (equal nodes) or a list of node sizes in
    /// MB; `numa_spanning`: whether a VM's memory may span nodes.
    #[pyo3(signature = (physical_mb, reserve_mb, policy, rule, version=None, smart_paging_drain_s=None, numa_nodes=None, numa_spanning=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        physical_mb: &Bound<'_, PyAny>,
        reserve_mb: Option<&Bound<'_, PyAny>>,
        policy: &Bound<'_, PyAny>,
        rule: &Bound<'_, PyTuple>,
        version: Option<&Bound<'_, PyAny>>,
        smart_paging_drain_s: Option<&Bound<'_, PyAny>>,
        numa_nodes: Option<&Bound<'_, PyAny>>,
        numa_spanning: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let physical = int_arg("physical_mb", physical_mb)?;
        let reserve = opt_int_arg("reserve_mb", reserve_mb)?;
        let version = match version {
            None => core::Version::default(),
            Some(v) => core::Version::parse(&str_arg(v, || "version".to_string())?).or_raise(py)?,
        };
        let drain_s = match smart_paging_drain_s {
            None => core::host::DEFAULT_SMART_PAGING_DRAIN_S,
            Some(d) => float_arg("smart_paging_drain_s", d, "a number of seconds")?,
        };
        let spanning = match numa_spanning {
            None => true,
            Some(v) => bool_arg("numa_spanning", v)?,
        };
        let nodes = numa_nodes.map(numa_arg).transpose()?;
        let mech = policy_arg(policy)?;
        let (rule, external) = rule_arg(rule)?;
        let host = core::Host::new(physical, reserve, mech)
            .and_then(|h| h.with_policy(rule))
            .and_then(|h| h.with_version(version))
            .and_then(|h| h.with_smart_paging_drain_s(drain_s))
            .and_then(|h| match nodes {
                None => Ok(h),
                Some(NumaArg::Count(n)) => h.with_equal_numa(n, spanning),
                Some(NumaArg::Sizes(sizes)) => h.with_numa(&sizes, spanning),
            });
        Ok(PyHost {
            core: HostLock::new(host.or_raise(py)?),
            external,
        })
    }

    #[setter]
    fn set_threads(&self, py: Python<'_>, threads: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = threads_arg(threads)?;
        self.core(py)?.set_threads(t);
        Ok(())
    }
    /// Caps the core's vector forms: "scalar", "avx2" or "avx512" (the
    /// default: the widest the CPU has). Results are identical whatever the
    /// cap; for tests that check every form, and for measuring each.
    /// NUMA node sizes (MB), in node order: one node of physical memory on
    /// a host without NUMA.
    fn numa_nodes_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        self.column(py, |h| Ok(h.numa_nodes_mb().into_iter().map(|s| s as i64).collect()))
    }
    /// Memory available on each NUMA node (MB), in node order.
    fn numa_available_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        self.column(py, |h| Ok(h.numa_available_mb()))
    }
    /// Each VM's preferred NUMA node, in `ids()` order: −1 when off.
    fn numa_node<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        self.column(py, |h| Ok(h.numa_node_of_vms()))
    }
    /// Whether a VM's memory may span NUMA nodes.
    #[getter]
    fn numa_spanning(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.core(py)?.numa_spanning())
    }
    /// The Windows Server release the host runs ("2008r2sp1" … "2022").
    #[getter]
    fn version(&self, py: Python<'_>) -> PyResult<&'static str> {
        Ok(self.core(py)?.version().as_str())
    }
    /// Smart Paging drain time (s): a file is gone this long after its
    /// restart, or at its guest's first report if that is later.
    #[getter]
    fn smart_paging_drain_s(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(self.core(py)?.smart_paging_drain_s())
    }
    /// How many VMs use a Smart Paging file now.
    #[getter]
    fn paging_vms(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.paging_vms())
    }
    fn _set_vector_cap(&self, py: Python<'_>, cap: &str) -> PyResult<()> {
        let cap = vector_cap_arg(py, cap)?;
        self.core(py)?.set_vector_cap(cap);
        Ok(())
    }
    /// Allows the tick's sparse paths (default on: a quiet tick of a host
    /// at rest costs O(1)); results are identical either way. For tests
    /// that compare sparse and dense ticking, and for measuring both.
    fn _set_sparse(&self, py: Python<'_>, on: bool) -> PyResult<()> {
        self.core(py)?.set_sparse(on);
        Ok(())
    }
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.len())
    }

    /// `guest`: a built-in profile's name or a `dynmem.Guest` (None: "windows").
    #[pyo3(signature = (name, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic, guest=None))]
    fn add_vm(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        startup_mb: &Bound<'_, PyAny>,
        maximum_mb: &Bound<'_, PyAny>,
        minimum_mb: Option<&Bound<'_, PyAny>>,
        buffer_pct: &Bound<'_, PyAny>,
        weight: &Bound<'_, PyAny>,
        dynamic: &Bound<'_, PyAny>,
        guest: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let name = str_arg(name, || "name".to_string())?;
        let spec = VmSpec {
            startup_mb: int_arg("startup_mb", startup_mb)?,
            minimum_mb: opt_int_arg("minimum_mb", minimum_mb)?,
            maximum_mb: int_arg("maximum_mb", maximum_mb)?,
            buffer_pct: int_arg("buffer_pct", buffer_pct)?,
            weight: int_arg("weight", weight)?,
            dynamic: bool_arg("dynamic", dynamic)?,
        };
        let guest = match guest {
            Some(g) if !g.is_none() => Some(guest_arg(g, "guest")?),
            _ => None,
        };
        let mut core = self.core(py)?;
        match guest {
            None => core.add_vm(&name, &spec),
            Some(g) => core.add_vm_with_guest(&name, &spec, &g),
        }
        .map(u64::from)
        .or_raise(py)
    }

    /// Starts VMs in order, as one `start` each would. Returns a boolean
    /// array (started or not) and `(index, message)` of every start that
    /// failed for want of memory.
    #[allow(clippy::type_complexity)]
    fn start_many<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u64>,
    ) -> PyResult<(Bound<'py, PyArray1<bool>>, Vec<(usize, String)>)> {
        let ids = ids_arg(py, &ids, "vms")?;
        let failed = self
            .with_core(py, |_| ids.len(), |h| h.start_many(&ids))?
            .or_raise(py)?;
        let mut ok = try_vec(ids.len(), "vms").or_raise(py)?;
        ok.resize(ids.len(), true);
        for (k, _) in &failed {
            ok[*k] = false;
        }
        let failed = failed.into_iter().map(|(k, e)| (k, e.message)).collect();
        Ok((PyArray1::from_vec(py, ok), failed))
    }

    /// Ids of the VMs that are off (`off=True`) or started, in order.
    fn ids_where_off<'py>(&self, py: Python<'py>, off: bool) -> PyResult<Bound<'py, PyArray1<u64>>> {
        self.column(py, |h| Ok(h.ids_where_off(off).into_iter().map(u64::from).collect()))
    }

    /// Stops VMs in bulk (all or nothing).
    fn restart_many(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u64>) -> PyResult<()> {
        let ids = ids_arg(py, &ids, "vms")?;
        self.core(py)?.restart_many(&ids).or_raise(py)
    }
    fn stop_many(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u64>) -> PyResult<()> {
        let ids = ids_arg(py, &ids, "vms")?;
        self.core(py)?.stop_many(&ids).or_raise(py)
    }

    /// Adds VMs in bulk (all or nothing); every array has one entry per
    /// name; `minimum_mb` entries below 0 mean "equal to startup". `guests`:
    /// None (every VM "windows"), one profile (a name or `dynmem.Guest`) for
    /// every VM, or distinct profiles with `guest_index` giving each VM's.
    #[pyo3(signature = (names, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic, guests=None, guest_index=None))]
    fn add_vms<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyList>,
        startup_mb: PyReadonlyArray1<'py, i64>,
        maximum_mb: PyReadonlyArray1<'py, i64>,
        minimum_mb: PyReadonlyArray1<'py, i64>,
        buffer_pct: PyReadonlyArray1<'py, i64>,
        weight: PyReadonlyArray1<'py, i64>,
        dynamic: PyReadonlyArray1<'py, bool>,
        guests: Option<&Bound<'py, PyList>>,
        guest_index: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let profiles = match guests {
            None => None,
            Some(list) => Some(guests_arg(py, list, guest_index.as_ref(), names.len())?),
        };
        let mut items = try_vec(names.len(), "names").or_raise(py)?;
        items.extend(names.iter());
        let names = names_arg(&items)?;
        let columns = [startup_mb, maximum_mb, minimum_mb, buffer_pct, weight];
        let specs = vm_specs(py, names.len(), columns, dynamic)?;
        let mut core = self.core(py)?;
        let ids = match profiles {
            None => core.add_vms(&names, &specs),
            Some(p) => core.add_vms_with_guests(&names, &specs, &p),
        }
        .or_raise(py)?;
        Ok(PyArray1::from_vec(py, ids.into_iter().map(u64::from).collect()))
    }

    fn remove_vm(&self, py: Python<'_>, id: u64) -> PyResult<()> {
        self.core(py)?.remove_vm(VmId(id)).or_raise(py)
    }

    fn find(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<u64> {
        let name = str_arg(name, || "name".to_string())?;
        self.core(py)?.find(&name).map(u64::from).or_raise(py)
    }

    /// An independent copy of the host (the core is `Clone`): what
    /// `copy.copy` and `copy.deepcopy` of a `dynmem.Host` give.
    fn copy(&self, py: Python<'_>) -> PyResult<PyHost> {
        let core = self.core(py)?.clone();
        Ok(PyHost {
            core: HostLock::new(core),
            external: self.external.clone(),
        })
    }

    /// Every VM's name, in order, in one call (no handles).
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let core = self.core(py)?;
        PyList::new(py, core.vms().map(|vm| vm.name()))
    }

    /// One balancing pass; releases the GIL on large hosts.
    fn tick(&self, py: Python<'_>, dt_s: &Bound<'_, PyAny>) -> PyResult<()> {
        let dt = float_arg("dt_s", dt_s, core::host::DT_WHAT)?;
        // A user policy takes the GIL on every tick: the tick keeps it.
        let detach = if self.external.is_some() { usize::MAX } else { DETACH_MIN_VMS };
        let mut guard = self.core(py)?;
        let core: &mut core::Host = &mut guard;
        let r = if core.len() >= detach { py.detach(|| core.tick(dt)) } else { core.tick(dt) };
        r.map_err(|e| policy_raise(py, self.external.as_ref(), e))
    }

    /// Checks a run's inputs without running it (what `run` checks first).
    #[pyo3(signature = (demand_mb, dt_s, events, record_every, hold_ticks=None))]
    fn check_run<'py>(
        &self,
        py: Python<'py>,
        demand_mb: PyReadonlyArray2<'py, i64>,
        dt_s: &Bound<'py, PyAny>,
        events: &Bound<'py, PyList>,
        record_every: &Bound<'py, PyAny>,
        hold_ticks: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let one = 1i64.into_pyobject(py)?.into_any();
        let hold = hold_ticks.unwrap_or(&one);
        run_input(&*self.core(py)?, demand_mb, dt_s, events, (record_every, hold)).map(|_| ())
    }

    /// Runs `demand_mb.shape[0]` ticks in Rust with the GIL released, after
    /// checking every input and copying the demand matrix (the caller's
    /// buffer is not read while the GIL is released).
    /// `events`: `(tick, vm_id, "start"|"stop"|"configure", changes|None)`;
    /// the result's `events` lists `(index, tick, error_message|None)` in the order run.
    /// `record_counters`: also record every VM's and the host's Hyper-V
    /// counters after each recorded tick (`RunRecord.counters`).
    /// `hold_ticks`: each row of `demand_mb` holds for this many ticks (the
    /// run is rows × hold_ticks ticks; event ticks and `record_every` count ticks).
    #[pyo3(signature = (demand_mb, dt_s, events, record_every, record_counters=false, hold_ticks=None))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        demand_mb: PyReadonlyArray2<'py, i64>,
        dt_s: &Bound<'py, PyAny>,
        events: &Bound<'py, PyList>,
        record_every: &Bound<'py, PyAny>,
        record_counters: bool,
        hold_ticks: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<RunRecord> {
        let mut guard = self.core(py)?;
        let core: &mut core::Host = &mut guard;
        let one = 1i64.into_pyobject(py)?.into_any();
        let hold = hold_ticks.unwrap_or(&one);
        let input =
            run_input(core, demand_mb, dt_s, events, (record_every, hold))?.record_counters(record_counters);
        // Signals are checked between ticks every SIGNAL_CHECK (the check
        // takes the GIL back, so not on every tick); one that raises (Ctrl-C:
        // KeyboardInterrupt) ends the run after a whole tick, and the
        // exception carries what was recorded as `_dynmem_record`.
        let mut raised: Option<PyErr> = None;
        let record = py
            .detach(|| {
                let mut last = Instant::now();
                core.run_checked_until(&input, || {
                    if last.elapsed() < SIGNAL_CHECK {
                        return false;
                    }
                    last = Instant::now();
                    raised = Python::attach(|py| py.check_signals()).err();
                    raised.is_some()
                })
            })
            .or_raise(py)?;
        // A signal that came during the last SIGNAL_CHECK is taken here, with
        // the record, rather than by Python once this returns, without it.
        // A user policy's failure ends the run too, the record with it.
        let mut record = record;
        let failure = record.failure.take();
        let raised = match failure {
            Some(e) => Some(policy_raise(py, self.external.as_ref(), e)),
            None => raised.or_else(|| py.check_signals().err()),
        };
        let record = RunRecord::new(py, record)?;
        match raised {
            None => Ok(record),
            Some(e) => {
                e.value(py).setattr("_dynmem_record", Py::new(py, record)?)?;
                Err(e)
            }
        }
    }

    /// Sets every demand from a C-contiguous int64 array in `ids()` order.
    fn set_demand_mb(&self, py: Python<'_>, demand_mb: PyReadonlyArray1<'_, i64>) -> PyResult<()> {
        let slice = demand_slice(py, &demand_mb)?;
        self.core(py)?.set_demands(slice).or_raise(py)
    }

    /// Every VM's guest profile as an index into `guest_profiles()`.
    fn guest_index<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u8>>> {
        self.column(py, |h| Ok(h.guest_indices().to_vec()))
    }
    /// The host's distinct guest profiles (their fields), index 0 "windows".
    fn guest_profiles(&self, py: Python<'_>) -> PyResult<Vec<Fields>> {
        let core = self.core(py)?;
        core.guest_profiles().iter().map(|g| guest_fields(py, g)).collect()
    }

    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = self.core(py)?.host_counters();
        counters_dict(py, &counters.named())
    }
}

/// The per-VM profiles of a bulk add: `list` holds one profile (every VM)
/// or distinct ones that `index` (one entry per VM) picks from.
fn guests_arg(
    py: Python<'_>,
    list: &Bound<'_, PyList>,
    index: Option<&PyReadonlyArray1<'_, i64>>,
    n: usize,
) -> PyResult<Vec<core::Guest>> {
    // Errors name the first VM of each profile: `guest[j]`.
    let index = index.map(|i| i.as_slice()).transpose()?;
    let field = |k: usize| match index {
        None if list.len() == 1 => "guest".to_string(),
        None => format!("guest[{k}]"),
        Some(ix) => format!("guest[{}]", ix.iter().position(|&i| i == k as i64).unwrap_or(k)),
    };
    let distinct: Vec<core::Guest> = list
        .iter()
        .enumerate()
        .map(|(k, g)| guest_arg(&g, &field(k)))
        .collect::<PyResult<_>>()?;
    let Some(index) = index else {
        return Ok(distinct);
    };
    if index.len() != n {
        let e = core::Error::config(
            "guest",
            index.len() as u64,
            &format!("must have one entry per name ({n} names)"),
        );
        return Err(e).or_raise(py);
    }
    let mut out = try_vec(n, "guest").or_raise(py)?;
    for &k in index {
        match distinct.get(k as usize) {
            Some(g) if k >= 0 => out.push(g.clone()),
            _ => return Err(core::Error::config("guest", k, "index out of range")).or_raise(py),
        }
    }
    Ok(out)
}

/// `numa_nodes`: a node count or a sequence of node sizes (MB).
enum NumaArg {
    Count(i64),
    Sizes(Vec<i64>),
}

fn numa_arg(v: &Bound<'_, PyAny>) -> PyResult<NumaArg> {
    use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyFrozenSet, PySet, PyString};
    let wrong = || crate::errors::type_error("numa_nodes", v, "a node count or a list of node sizes (MB)");
    let unordered = v.is_instance_of::<PyDict>() || v.is_instance_of::<PySet>() || v.is_instance_of::<PyFrozenSet>();
    let text = v.is_instance_of::<PyString>() || v.is_instance_of::<PyBytes>();
    if unordered || text || v.is_instance_of::<PyBool>() || v.is_instance_of::<PyFloat>() {
        return Err(wrong());
    }
    // A sized iterable (list, tuple, numpy array) is node sizes; else a count.
    if !v.hasattr("__len__")? {
        return int_arg("numa_nodes", v).map(NumaArg::Count).map_err(|_| wrong());
    }
    let items = v.try_iter().map_err(|_| wrong())?;
    let mut sizes = Vec::new();
    for (k, item) in items.enumerate() {
        sizes.push(int_arg(&format!("numa_nodes[{k}]"), &item?)?);
    }
    Ok(NumaArg::Sizes(sizes))
}
