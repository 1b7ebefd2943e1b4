//! `PyFleet`, the class `dynmem._dynmem.Fleet`: many core hosts in one core
//! `Fleet`, VMs in one global order. Bulk reads and writes cross as numpy
//! arrays; placement, starts, ticks and runs release the GIL on large
//! fleets (a user placement rule takes it back for each call). Also the
//! snapshot functions of hosts and fleets (`host_snapshot`, ...).

use crate::convert::{
    demand_slice, float_arg, ids_arg, int_arg, names_arg, opt_int_arg, policy_arg, threads_arg, vm_specs,
};
use crate::errors::{config_error, host_busy, OrRaise};
use crate::host::{PyHost, DETACH_MIN_VMS};
use crate::lock::{HostGuard, HostLock};
use crate::policy::rule_arg;
use dynmem_core::fleet::{DynamicOptimization, FleetView, Placement, Request, Score};
use dynmem_core::{self as core, Fleet, VmId};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::time::{Duration, Instant};

#[pyclass(module = "dynmem._dynmem", name = "Fleet", frozen)]
pub struct PyFleet {
    core: HostLock<Fleet>,
}

impl PyFleet {
    fn core(&self, py: Python<'_>) -> PyResult<HostGuard<'_, Fleet>> {
        self.core.try_lock().map_err(|why| host_busy(py, why))
    }

    /// `f` on the core, the GIL released for fleets of `DETACH_MIN_VMS` VMs or more.
    fn with_core<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Fleet) -> T + Send) -> PyResult<T> {
        let mut guard = self.core(py)?;
        let core: &mut Fleet = &mut guard;
        Ok(if core.len() >= DETACH_MIN_VMS {
            py.detach(|| f(core))
        } else {
            f(core)
        })
    }
}

fn arr<T: numpy::Element>(py: Python<'_>, v: Vec<T>) -> Bound<'_, PyArray1<T>> {
    PyArray1::from_vec(py, v)
}

fn widen(v: Vec<u32>) -> Vec<i64> {
    v.into_iter().map(i64::from).collect()
}

#[pymethods]
impl PyFleet {
    #[new]
    #[pyo3(signature = (physical_mb, reserve_mb, policy))]
    fn new(
        py: Python<'_>,
        physical_mb: PyReadonlyArray1<'_, i64>,
        reserve_mb: Option<&Bound<'_, PyAny>>,
        policy: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let reserve = opt_int_arg("reserve_mb", reserve_mb)?;
        let policy = policy_arg(policy)?;
        let physical = physical_mb.as_array().to_vec();
        Ok(PyFleet {
            core: HostLock::new(Fleet::new(&physical, reserve, policy).or_raise(py)?),
        })
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.len())
    }
    #[getter]
    fn host_count(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.host_count())
    }
    #[getter]
    fn time_s(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(self.core(py)?.time_s())
    }
    #[getter]
    fn threads(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.threads())
    }
    #[setter]
    fn set_threads(&self, py: Python<'_>, threads: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = threads_arg(threads)?;
        self.core(py)?.set_threads(t);
        Ok(())
    }
    #[getter]
    fn heap_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.heap_bytes())
    }

    /// Adds VMs (off, on no host); `names` a list of str, or an int `n` for
    /// the names "vm-{id}" made here. Returns their ids (uint64).
    #[pyo3(signature = (names, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic))]
    fn add_vms<'py>(
        &self,
        py: Python<'py>,
        names: &Bound<'py, PyAny>,
        startup_mb: PyReadonlyArray1<'py, i64>,
        maximum_mb: PyReadonlyArray1<'py, i64>,
        minimum_mb: PyReadonlyArray1<'py, i64>,
        buffer_pct: PyReadonlyArray1<'py, i64>,
        weight: PyReadonlyArray1<'py, i64>,
        dynamic: PyReadonlyArray1<'py, bool>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let columns = [startup_mb, maximum_mb, minimum_mb, buffer_pct, weight];
        let ids = if let Ok(list) = names.cast::<PyList>() {
            let items: Vec<Bound<'py, PyAny>> = list.iter().collect();
            let names = names_arg(&items)?;
            let specs = vm_specs(py, names.len(), columns, dynamic)?;
            self.core(py)?.add_vms(&names, &specs).or_raise(py)?
        } else {
            let n = int_arg("names", names)?;
            if n < 0 {
                return Err(config_error(
                    py,
                    "names",
                    n,
                    &format!("names must be a list of str or a count of at least 0, got {n}"),
                ));
            }
            let specs = vm_specs(py, n as usize, columns, dynamic)?;
            let mut core = self.core(py)?;
            let first = core.len();
            let made: Vec<String> = (first..first + n as usize).map(|k| format!("vm-{k}")).collect();
            core.add_vms(&made, &specs).or_raise(py)?
        };
        Ok(arr(py, ids.into_iter().map(u64::from).collect()))
    }

    /// Places VMs by `rule` ("first_fit", "best_fit", "worst_fit",
    /// "rating"), `score` for a rating ("free_after", "sum_minimum",
    /// "pressure"), or `user`, a callable `(request: dict, view: dict) -> int`.
    #[pyo3(signature = (ids, rule, score, max_ratio, user))]
    fn place<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u64>,
        rule: &str,
        score: &str,
        max_ratio: Option<f64>,
        user: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let ids = ids_arg(py, &ids, "vms")?;
        let score = match score {
            "free_after" => Score::FreeAfter,
            "sum_minimum" => Score::SumMinimum,
            "pressure" => Score::Pressure,
            s => {
                return Err(config_error(
                    py,
                    "score",
                    s,
                    &format!("score must be 'free_after', 'sum_minimum' or 'pressure', got {s:?}"),
                ))
            }
        };
        if let Some(f) = user {
            let mut raised: Option<PyErr> = None;
            let mut call = |r: &Request, v: &FleetView<'_>| -> core::Result<i64> {
                let out = (|| -> PyResult<i64> {
                    let req = PyDict::new(py);
                    req.set_item("vm", r.vm.0)?;
                    req.set_item("startup_mb", r.startup_mb)?;
                    req.set_item("minimum_mb", r.minimum_mb)?;
                    req.set_item("maximum_mb", r.maximum_mb)?;
                    req.set_item("weight", r.weight)?;
                    let view = PyDict::new(py);
                    view.set_item("free_mb", PyArray1::from_slice(py, v.free_mb))?;
                    view.set_item("physical_mb", PyArray1::from_slice(py, v.physical_mb))?;
                    view.set_item("maximum_sum_mb", PyArray1::from_slice(py, v.maximum_sum_mb))?;
                    int_arg("placement", &f.call1((req, view))?)
                })();
                out.map_err(|e| {
                    raised = Some(e);
                    core::Error::config("placement", 0i64, "raised")
                })
            };
            let mut core = self.core(py)?;
            let res = core.place(&ids, Placement::User(&mut call), max_ratio);
            if let Some(e) = raised {
                return Err(e);
            }
            return Ok(arr(py, res.or_raise(py)?));
        }
        let code = match rule {
            "first_fit" => 0,
            "best_fit" => 1,
            "worst_fit" => 2,
            "rating" => 3,
            s => {
                return Err(config_error(
                    py,
                    "rule",
                    s,
                    &format!("rule must be 'first_fit', 'best_fit', 'worst_fit' or 'rating', got {s:?}"),
                ))
            }
        };
        let hosts = self
            .with_core(py, |f| {
                let rule = match code {
                    0 => Placement::FirstFit,
                    1 => Placement::BestFit,
                    2 => Placement::WorstFit,
                    _ => Placement::Rating(score),
                };
                f.place(&ids, rule, max_ratio)
            })?
            .or_raise(py)?;
        Ok(arr(py, hosts))
    }

    /// Starts placed VMs; returns which started.
    fn start_many<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u64>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let ids = ids_arg(py, &ids, "vms")?;
        Ok(arr(py, self.with_core(py, |f| f.start_many(&ids))?.or_raise(py)?))
    }
    fn stop_many(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u64>) -> PyResult<()> {
        let ids = ids_arg(py, &ids, "vms")?;
        self.core(py)?.stop_many(&ids).or_raise(py)
    }
    fn can_start<'py>(
        &self,
        py: Python<'py>,
        startup_mb: &Bound<'py, PyAny>,
        weight: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let (s, w) = (int_arg("startup_mb", startup_mb)?, int_arg("weight", weight)?);
        Ok(arr(py, self.core(py)?.can_start(s, w).or_raise(py)?))
    }
    fn set_demand_mb(&self, py: Python<'_>, demand_mb: PyReadonlyArray1<'_, i64>) -> PyResult<()> {
        let slice = demand_slice(py, &demand_mb)?;
        self.with_core(py, |f| f.set_demands(slice))?.or_raise(py)
    }
    fn tick(&self, py: Python<'_>, dt_s: &Bound<'_, PyAny>) -> PyResult<()> {
        let dt = float_arg("dt_s", dt_s, core::host::DT_WHAT)?;
        self.with_core(py, |f| f.tick(dt))?.or_raise(py)
    }
    fn assigned_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(py, widen(self.core(py)?.assigned())))
    }
    fn demand_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(py, widen(self.core(py)?.demands())))
    }
    fn visible_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(py, widen(self.core(py)?.visible())))
    }
    fn host_of<'py>(&self, py: Python<'py>, ids: PyReadonlyArray1<'py, u64>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let ids = ids_arg(py, &ids, "vms")?;
        Ok(arr(py, self.core(py)?.host_of(&ids).or_raise(py)?))
    }
    fn hosts_of_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(py, self.core(py)?.hosts_of_all()))
    }
    fn host_available_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(py, self.core(py)?.host_available()))
    }
    fn host_free_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(py, self.core(py)?.host_free()))
    }
    fn host_physical_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(arr(
            py,
            self.core(py)?.hosts().iter().map(|h| h.physical_mb() as i64).collect(),
        ))
    }
    fn name(&self, py: Python<'_>, id: u64) -> PyResult<String> {
        self.core(py)?.name(VmId(id)).map(str::to_string).or_raise(py)
    }
    fn find(&self, py: Python<'_>, name: &str) -> PyResult<u64> {
        self.core(py)?.find(name).map(u64::from).or_raise(py)
    }
    /// Live migration: returns which moves began.
    fn migrate<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u64>,
        to: PyReadonlyArray1<'py, i64>,
        duration_s: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let ids = ids_arg(py, &ids, "vms")?;
        let (to, d) = (to.as_array().to_vec(), duration_s.as_array().to_vec());
        Ok(arr(py, self.core(py)?.migrate(&ids, &to, &d).or_raise(py)?))
    }
    /// Turns dynamic optimization on with (threshold, interval_s,
    /// duration_s), or off with None.
    fn set_dynamic_optimization(&self, py: Python<'_>, settings: Option<(f64, f64, f64)>) -> PyResult<()> {
        let s = settings.map(|(threshold, interval_s, duration_s)| DynamicOptimization {
            threshold,
            interval_s,
            duration_s,
        });
        self.core(py)?.set_dynamic_optimization(s).or_raise(py)
    }
    fn dynamic_optimization(&self, py: Python<'_>) -> PyResult<Option<(f64, f64, f64)>> {
        Ok(self
            .core(py)?
            .dynamic_optimization()
            .map(|s| (s.threshold, s.interval_s, s.duration_s)))
    }
    fn host_pressure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        Ok(arr(py, self.core(py)?.host_pressure()))
    }
    /// Moves in flight: (vm id, from host, to host, end time s).
    fn migrations(&self, py: Python<'_>) -> PyResult<Vec<(u64, usize, usize, f64)>> {
        Ok(self
            .core(py)?
            .migrations()
            .iter()
            .map(|m| (m.vm().0, m.from_host(), m.to_host(), m.end_s()))
            .collect())
    }
    /// Runs `demand_mb.shape[0]` ticks with the GIL released; returns a dict
    /// of arrays: tick, time_s, assigned_mb (rows × VMs), host_available_mb
    /// (rows × hosts), ticks.
    fn run<'py>(
        &self,
        py: Python<'py>,
        demand_mb: PyReadonlyArray2<'py, i64>,
        dt_s: &Bound<'py, PyAny>,
        record_every: usize,
        first_tick: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let dt = float_arg("dt_s", dt_s, core::host::DT_WHAT)?;
        let demand = demand_mb.as_array().iter().copied().collect::<Vec<i64>>();
        let mut guard = self.core(py)?;
        let core: &mut Fleet = &mut guard;
        let cols = demand_mb.as_array().ncols();
        if cols != core.len() {
            return Err(config_error(
                py,
                "demand_mb",
                cols,
                &format!(
                    "demand_mb must have one column per VM of the fleet ({}), got {cols}",
                    core.len()
                ),
            ));
        }
        // Signals (Ctrl-C) are checked between ticks about every 50 ms: one
        // that raises ends the run after a whole tick, the fleet as after it.
        let mut raised: Option<PyErr> = None;
        let r = py
            .detach(|| {
                let mut last = Instant::now();
                core.run(&demand, dt, record_every, first_tick, || {
                    if last.elapsed() < Duration::from_millis(50) {
                        return false;
                    }
                    last = Instant::now();
                    raised = Python::attach(|py| py.check_signals()).err();
                    raised.is_some()
                })
            })
            .or_raise(py)?;
        if let Some(e) = raised {
            return Err(e);
        }
        let out = PyDict::new(py);
        let rows = r.tick.len();
        out.set_item("ticks", r.ticks)?;
        out.set_item("tick", arr(py, r.tick))?;
        out.set_item("time_s", arr(py, r.time_s))?;
        out.set_item("assigned_mb", arr(py, widen(r.assigned_mb)).reshape([rows, r.vms])?)?;
        let avail: Bound<'py, PyArray2<i64>> = arr(py, r.host_available_mb).reshape([rows, r.hosts])?;
        out.set_item("host_available_mb", avail)?;
        Ok(out)
    }
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.core(py)?.snapshot();
        Ok(PyBytes::new(py, &bytes))
    }
    #[staticmethod]
    fn from_snapshot(py: Python<'_>, data: &[u8]) -> PyResult<PyFleet> {
        Ok(PyFleet {
            core: HostLock::new(Fleet::from_snapshot(data).or_raise(py)?),
        })
    }
    /// Host `k` as a snapshot (what a `Host` view reads).
    fn host_snapshot<'py>(&self, py: Python<'py>, k: usize) -> PyResult<Bound<'py, PyBytes>> {
        let core = self.core(py)?;
        let bytes = core.host(k).or_raise(py)?.snapshot();
        Ok(PyBytes::new(py, &bytes))
    }
    /// The mechanics as a tuple (unit, chunk, boot delay, remove delay, rate).
    fn mechanics(&self, py: Python<'_>) -> PyResult<MechanicsTuple> {
        Ok(mechanics_tuple(self.core(py)?.policy()))
    }
}

/// A `HyperVPolicy`'s fields in order, as Python rebuilds it.
pub type MechanicsTuple = (u32, u32, f64, f64, f64);

pub fn mechanics_tuple(m: &core::Mechanics) -> MechanicsTuple {
    (
        m.balloon_unit_mb,
        m.hot_add_chunk_mb,
        m.boot_report_delay_s,
        m.remove_delay_s,
        m.remove_rate_mb_per_s,
    )
}

/// A host's snapshot (bytes).
#[pyfunction]
pub fn host_snapshot<'py>(py: Python<'py>, host: &PyHost) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = host.core(py)?.snapshot();
    Ok(PyBytes::new(py, &bytes))
}

/// The host a snapshot holds, its mechanics as a tuple, and its policy:
/// the kind (`"hyperv"`, ..., `"external"`) and the idle tax (shares; else
/// 0). `rule` is the Python side's description of the policy to give a
/// host whose snapshot says it had a user policy (`("external", obj)`).
#[pyfunction]
#[pyo3(signature = (data, rule=None))]
pub fn host_from_snapshot(
    py: Python<'_>,
    data: &[u8],
    rule: Option<&Bound<'_, PyTuple>>,
) -> PyResult<(PyHost, MechanicsTuple, &'static str, f64)> {
    let (external, ext) = match rule {
        Some(rule) => match rule_arg(rule)? {
            (core::Policy::External(e), ext) => (Some(e), ext),
            _ => (None, None),
        },
        None => (None, None),
    };
    let h = core::Host::from_snapshot_with(data, external).or_raise(py)?;
    let m = mechanics_tuple(h.mechanics());
    let (kind, tax) = match *h.policy() {
        core::Policy::Shares { idle_tax } => ("shares", idle_tax),
        ref p => (p.name(), 0.0),
    };
    let ext = if kind == "external" { ext } else { None };
    Ok((PyHost::from_core(h, ext), m, kind, tax))
}
