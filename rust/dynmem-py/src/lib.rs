//! PyO3 bindings of dynmem-core: argument conversion, the one error mapping,
//! numpy bulk access and GIL release. No balancer logic lives here.

use dynmem_core::{self as core, Action, ErrorKind, Event, Policy, Value, VmChange, VmSpec};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::borrow::Cow;
use std::sync::{Mutex, MutexGuard};

use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// Hosts with at least this many VMs release the GIL during a tick.
const DETACH_MIN_VMS: usize = 4096;

static CONFIG_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIG_TYPE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INSUFFICIENT_MEMORY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Builds the `dynmem.errors` exception for `kind`, carrying `.field` and
/// `.value`. Every error leaving this crate goes through here.
fn raise(py: Python<'_>, kind: ErrorKind, field: Option<&str>, value: Py<PyAny>, message: &str) -> PyErr {
    let (cell, name) = match kind {
        ErrorKind::Config => (&CONFIG_ERROR, "ConfigError"),
        ErrorKind::ConfigType => (&CONFIG_TYPE_ERROR, "ConfigTypeError"),
        ErrorKind::InsufficientMemory => (&INSUFFICIENT_MEMORY_ERROR, "InsufficientMemoryError"),
        ErrorKind::State => (&STATE_ERROR, "StateError"),
    };
    match cell
        .import(py, "dynmem.errors", name)
        .and_then(|cls| cls.call1((message, field, value)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Maps a core error to its Python exception.
fn map_err(py: Python<'_>, e: core::Error) -> PyErr {
    let value: Py<PyAny> = match &e.value {
        Value::None => py.None(),
        Value::Bool(v) => PyBool::new(py, *v).to_owned().into_any().unbind(),
        Value::Int(v) => v
            .into_pyobject(py)
            .map(|o| o.into_any().unbind())
            .unwrap_or_else(|_| py.None()),
        Value::Float(v) => PyFloat::new(py, *v).into_any().unbind(),
        Value::Str(s) => s
            .into_pyobject(py)
            .map(|o| o.into_any().unbind())
            .unwrap_or_else(|_| py.None()),
    };
    raise(py, e.kind, e.field.as_deref(), value, &e.message)
}

trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}
impl<T> OrRaise<T> for core::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| map_err(py, e))
    }
}

fn type_error(field: &str, v: &Bound<'_, PyAny>, what: &str) -> PyErr {
    let shown = v.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
    let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    raise(
        v.py(),
        ErrorKind::ConfigType,
        Some(field),
        v.clone().unbind(),
        &format!("{field} must be {what}, got {shown} ({ty})"),
    )
}

/// An integer argument: ints and objects with `__index__`, never bool or float.
/// Largest `Host.threads` (a sanity bound, far above any machine's CPUs).
const MAX_THREADS: i64 = 4096;

fn int_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<i64> {
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyFloat>() {
        return Err(type_error(field, v, "an integer"));
    }
    let as_int = if v.is_instance_of::<PyInt>() {
        v.clone()
    } else {
        match v.call_method0("__index__") {
            Ok(i) => i,
            Err(_) => return Err(type_error(field, v, "an integer")),
        }
    };
    as_int.extract::<i64>().map_err(|_| {
        let shown = v.repr().map(|r| r.to_string()).unwrap_or_default();
        raise(
            v.py(),
            ErrorKind::Config,
            Some(field),
            v.clone().unbind(),
            &format!("{field} is out of range, got {shown}"),
        )
    })
}

fn opt_int_arg(field: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => int_arg(field, v).map(Some),
    }
}

/// A real-number argument: int or float, never bool.
fn float_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() {
        return Err(type_error(field, v, "a number"));
    }
    v.extract::<f64>().map_err(|_| type_error(field, v, "a number"))
}

fn bool_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| type_error(field, v, "True or False"))
}

fn policy_arg(p: &Bound<'_, PyAny>) -> PyResult<Policy> {
    let int = |f: &str| -> PyResult<u32> {
        let v = int_arg(f, &p.getattr(f)?)?;
        u32::try_from(v).map_err(|_| map_err(p.py(), core::Error::config(f, v, "must be a positive integer")))
    };
    let real = |f: &str| -> PyResult<f64> { float_arg(f, &p.getattr(f)?) };
    Ok(Policy {
        balloon_unit_mb: int("balloon_unit_mb")?,
        hot_add_chunk_mb: int("hot_add_chunk_mb")?,
        boot_report_delay_s: real("boot_report_delay_s")?,
        remove_delay_s: real("remove_delay_s")?,
        remove_rate_mb_per_s: real("remove_rate_mb_per_s")?,
    })
}

fn i64_array<'py>(py: Python<'py>, it: impl Iterator<Item = i64>) -> Bound<'py, PyArray1<i64>> {
    PyArray1::from_iter(py, it)
}

/// A `VmChange` from keyword-style optional values.
fn change_arg(kw: Option<&Bound<'_, PyDict>>) -> PyResult<VmChange> {
    let Some(kw) = kw else { return Ok(VmChange::default()) };
    let get = |k: &str| -> PyResult<Option<Bound<'_, PyAny>>> { kw.get_item(k) };
    for key in kw.keys() {
        let k: String = key.extract()?;
        if ![
            "startup_mb",
            "minimum_mb",
            "maximum_mb",
            "buffer_pct",
            "weight",
            "dynamic",
        ]
        .contains(&k.as_str())
        {
            return Err(raise(
                kw.py(),
                ErrorKind::Config,
                Some("changes"),
                key.unbind(),
                &format!("changes: unknown setting {k:?}"),
            ));
        }
    }
    let (s, mn, mx) = (get("startup_mb")?, get("minimum_mb")?, get("maximum_mb")?);
    let (b, w, d) = (get("buffer_pct")?, get("weight")?, get("dynamic")?);
    vm_change([s.as_ref(), mn.as_ref(), mx.as_ref(), b.as_ref(), w.as_ref(), d.as_ref()])
}

/// A `VmChange` from optional values of startup, minimum, maximum, buffer,
/// weight and dynamic; `None` (absent or Python `None`) leaves a setting as it is.
fn vm_change([s, mn, mx, b, w, d]: [Option<&Bound<'_, PyAny>>; 6]) -> PyResult<VmChange> {
    Ok(VmChange {
        startup_mb: opt_int_arg("startup_mb", s)?,
        minimum_mb: opt_int_arg("minimum_mb", mn)?,
        maximum_mb: opt_int_arg("maximum_mb", mx)?,
        buffer_pct: opt_int_arg("buffer_pct", b)?,
        weight: opt_int_arg("weight", w)?,
        dynamic: match d {
            Some(d) if !d.is_none() => Some(bool_arg("dynamic", d)?),
            _ => None,
        },
    })
}

fn u32_2d<'py>(py: Python<'py>, v: &[u32], rows: usize, cols: usize) -> PyResult<Bound<'py, PyAny>> {
    // Widen in one exact-size pass, then hand the buffer to numpy (no copy).
    let wide: Vec<i64> = v.iter().map(|&x| x as i64).collect();
    Ok(PyArray1::from_vec(py, wide).reshape([rows, cols])?.into_any())
}

/// Converts and checks `run`'s arguments (events, dt, record_every, demand).
fn run_input<'py>(
    core: &core::Host,
    py: Python<'py>,
    demand_mb: PyReadonlyArray2<'py, i64>,
    dt_s: &Bound<'py, PyAny>,
    events: &Bound<'py, PyList>,
    record_every: &Bound<'py, PyAny>,
) -> PyResult<core::RunInput> {
    let dt = float_arg("dt_s", dt_s)?;
    let every = int_arg("record_every", record_every)?;
    let every = usize::try_from(every)
        .map_err(|_| map_err(py, core::Error::config("record_every", every, "must be at least 1")))?;
    let mut evs = Vec::with_capacity(events.len());
    for (i, item) in events.iter().enumerate() {
        let field = format!("events[{i}]");
        let shape = "a (tick, vm_id, action, changes) tuple";
        let t = item.cast::<PyTuple>().map_err(|_| type_error(&field, &item, shape))?;
        if t.len() != 4 {
            return Err(type_error(&field, &item, shape));
        }
        let tick_field = format!("{field}.tick");
        let tick = int_arg(&tick_field, &t.get_item(0)?)?;
        let tick = u64::try_from(tick)
            .map_err(|_| map_err(py, core::Error::config(&tick_field, tick, "must be at least 0")))?;
        let vm: u64 = t.get_item(1)?.extract()?;
        let action_obj = t.get_item(2)?;
        let action: String = action_obj.extract().map_err(|_| {
            type_error(
                &format!("{field}.action"),
                &action_obj,
                "'start', 'stop' or 'configure'",
            )
        })?;
        let changes = t.get_item(3)?;
        let action = match action.as_str() {
            "start" => Action::Start,
            "stop" => Action::Stop,
            "configure" => Action::Configure(change_arg(changes.cast::<PyDict>().ok())?),
            other => {
                return Err(raise(
                    py,
                    ErrorKind::Config,
                    Some("action"),
                    other.into_pyobject(py)?.into_any().unbind(),
                    &format!("{field}.action must be 'start', 'stop' or 'configure', got {other:?}"),
                ))
            }
        };
        evs.push(Event { tick, vm, action });
    }
    let ticks = demand_mb.shape()[0];
    let owned;
    let slice = match demand_mb.as_slice() {
        Ok(s) => s,
        Err(_) => {
            owned = demand_mb.as_array().iter().copied().collect::<Vec<i64>>();
            &owned[..]
        }
    };
    core.check_run(slice, ticks, dt, &evs, every).or_raise(py)
}

/// The Rust-owned host (wrapped by `dynmem.Host`).
/// Frozen, with the core behind a mutex: a second thread using the host while
/// one is inside it (the GIL released) gets `StateError`, never a crash.
#[pyclass(module = "dynmem._dynmem", name = "Host", frozen)]
struct PyHost {
    core: Mutex<core::Host>,
}

fn busy(py: Python<'_>) -> PyErr {
    raise(
        py,
        ErrorKind::State,
        None,
        py.None(),
        "the host is in use by another thread",
    )
}

impl PyHost {
    /// The core, or `StateError` if another thread is using it.
    fn core(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, core::Host>> {
        self.core.try_lock().map_err(|_| busy(py))
    }
}

#[pymethods]
impl PyHost {
    #[new]
    #[pyo3(signature = (physical_mb, reserve_mb, policy))]
    fn new(
        py: Python<'_>,
        physical_mb: &Bound<'_, PyAny>,
        reserve_mb: Option<&Bound<'_, PyAny>>,
        policy: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let physical = int_arg("physical_mb", physical_mb)?;
        let reserve = opt_int_arg("reserve_mb", reserve_mb)?;
        let policy = policy_arg(policy)?;
        Ok(PyHost {
            core: Mutex::new(core::Host::new(physical, reserve, policy).or_raise(py)?),
        })
    }

    #[getter]
    fn physical_mb(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.core(py)?.physical_mb())
    }
    #[getter]
    fn reserve_mb(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.core(py)?.reserve_mb())
    }
    #[getter]
    fn time_s(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(self.core(py)?.time_s())
    }
    #[getter]
    fn available_mb(&self, py: Python<'_>) -> PyResult<i64> {
        Ok(self.core(py)?.available_mb())
    }
    #[getter]
    fn heap_bytes(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.heap_bytes())
    }
    #[getter]
    fn threads(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.threads())
    }
    #[setter]
    fn set_threads(&self, py: Python<'_>, threads: &Bound<'_, PyAny>) -> PyResult<()> {
        let t = int_arg("threads", threads)?;
        if !(0..=MAX_THREADS).contains(&t) {
            let msg = format!("threads must be between 0 (all CPUs) and {MAX_THREADS}, got {t}");
            return Err(raise(
                py,
                ErrorKind::Config,
                Some("threads"),
                t.into_pyobject(py)?.into_any().unbind(),
                &msg,
            ));
        }
        self.core(py)?.set_threads(t as usize);
        Ok(())
    }
    /// Caps the core's vector forms: "scalar", "avx2" or "avx512" (the
    /// default: the widest the CPU has). Results are identical whatever the
    /// cap; for tests that check every form, and for measuring each.
    fn _set_vector_cap(&self, py: Python<'_>, cap: &str) -> PyResult<()> {
        let cap = match cap {
            "scalar" => core::VectorCap::Scalar,
            "avx2" => core::VectorCap::Avx2,
            "avx512" => core::VectorCap::Avx512,
            _ => {
                return Err(raise(
                    py,
                    ErrorKind::Config,
                    Some("cap"),
                    cap.into_pyobject(py)?.into_any().unbind(),
                    "cap must be \"scalar\", \"avx2\" or \"avx512\"",
                ))
            }
        };
        self.core(py)?.set_vector_cap(cap);
        Ok(())
    }
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.core(py)?.len())
    }

    #[pyo3(signature = (name, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic))]
    #[allow(clippy::too_many_arguments)]
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
    ) -> PyResult<u64> {
        let name: String = name.extract().map_err(|_| type_error("name", name, "a string"))?;
        let spec = VmSpec {
            startup_mb: int_arg("startup_mb", startup_mb)?,
            minimum_mb: opt_int_arg("minimum_mb", minimum_mb)?,
            maximum_mb: int_arg("maximum_mb", maximum_mb)?,
            buffer_pct: int_arg("buffer_pct", buffer_pct)?,
            weight: int_arg("weight", weight)?,
            dynamic: bool_arg("dynamic", dynamic)?,
        };
        self.core(py)?.add_vm(&name, &spec).or_raise(py)
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
        let ids = ids.as_array().to_vec();
        let mut guard = self.core(py)?;
        let core: &mut core::Host = &mut guard;
        let out = if ids.len() >= DETACH_MIN_VMS {
            py.detach(|| core.start_many(&ids))
        } else {
            core.start_many(&ids)
        };
        let failed = out.or_raise(py)?;
        let mut ok = vec![true; ids.len()];
        for (k, _) in &failed {
            ok[*k] = false;
        }
        let failed = failed.into_iter().map(|(k, e)| (k, e.message)).collect();
        Ok((PyArray1::from_vec(py, ok), failed))
    }

    /// Ids of the VMs that are off (`off=True`) or started, in order.
    fn ids_where_off<'py>(&self, py: Python<'py>, off: bool) -> PyResult<Bound<'py, PyArray1<u64>>> {
        Ok(PyArray1::from_vec(py, self.core(py)?.ids_where_off(off)))
    }

    /// Stops VMs in bulk (all or nothing).
    fn stop_many(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u64>) -> PyResult<()> {
        let ids = ids.as_array().to_vec();
        self.core(py)?.stop_many(&ids).or_raise(py)
    }

    /// Adds VMs in bulk (all or nothing); every array has one entry per
    /// name; `minimum_mb` entries below 0 mean "equal to startup".
    #[pyo3(signature = (names, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic))]
    #[allow(clippy::too_many_arguments)]
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
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        // Names borrowed from the Python strings (no copy per name).
        let items: Vec<Bound<'py, PyString>> = names
            .iter()
            .map(|x| x.cast_into::<PyString>().map_err(PyErr::from))
            .collect::<PyResult<_>>()?;
        let names: Vec<Cow<'_, str>> = items.iter().map(|x| x.to_cow()).collect::<PyResult<_>>()?;
        let n = names.len();
        let (s, mx, mn) = (startup_mb.as_array(), maximum_mb.as_array(), minimum_mb.as_array());
        let (b, w, d) = (buffer_pct.as_array(), weight.as_array(), dynamic.as_array());
        if [s.len(), mx.len(), mn.len(), b.len(), w.len(), d.len()]
            .iter()
            .any(|&l| l != n)
        {
            return Err(raise(
                py,
                ErrorKind::Config,
                Some("names"),
                py.None(),
                "every setting must have one entry per name",
            ));
        }
        let specs: Vec<VmSpec> = (0..n)
            .map(|k| VmSpec {
                startup_mb: s[k],
                minimum_mb: (mn[k] >= 0).then_some(mn[k]),
                maximum_mb: mx[k],
                buffer_pct: b[k],
                weight: w[k],
                dynamic: d[k],
            })
            .collect();
        let ids = self.core(py)?.add_vms(&names, &specs).or_raise(py)?;
        Ok(PyArray1::from_vec(py, ids))
    }

    fn remove_vm(&self, py: Python<'_>, id: u64) -> PyResult<()> {
        self.core(py)?.remove_vm(id).or_raise(py)
    }

    fn find(&self, py: Python<'_>, name: &str) -> PyResult<u64> {
        self.core(py)?.find(name).or_raise(py)
    }

    fn ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let core = self.core(py)?;
        Ok(PyArray1::from_vec(py, core.ids()))
    }

    /// Every VM's name, in order, in one call (no handles).
    fn names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let core = self.core(py)?;
        PyList::new(py, (0..core.len()).map(|pos| core.name(pos)))
    }

    /// One balancing pass; releases the GIL on large hosts.
    fn tick(&self, py: Python<'_>, dt_s: &Bound<'_, PyAny>) -> PyResult<()> {
        let dt = float_arg("dt_s", dt_s)?;
        let mut guard = self.core(py)?;
        let core: &mut core::Host = &mut guard;
        let r = if core.len() >= DETACH_MIN_VMS {
            py.detach(|| core.tick(dt))
        } else {
            core.tick(dt)
        };
        r.or_raise(py)
    }

    /// Checks a run's inputs without running it (what `run` checks first).
    #[pyo3(signature = (demand_mb, dt_s, events, record_every))]
    fn check_run<'py>(
        &self,
        py: Python<'py>,
        demand_mb: PyReadonlyArray2<'py, i64>,
        dt_s: &Bound<'py, PyAny>,
        events: &Bound<'py, PyList>,
        record_every: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        run_input(&*self.core(py)?, py, demand_mb, dt_s, events, record_every).map(|_| ())
    }

    /// Runs `demand_mb.shape[0]` ticks in Rust with the GIL released, after
    /// checking every input and copying the demand matrix (the caller's
    /// buffer is not read while the GIL is released).
    /// `events`: `(tick, vm_id, "start"|"stop"|"configure", changes|None)`;
    /// the result's `events` lists `(index, tick, error_message|None)` in the order run.
    #[pyo3(signature = (demand_mb, dt_s, events, record_every))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        demand_mb: PyReadonlyArray2<'py, i64>,
        dt_s: &Bound<'py, PyAny>,
        events: &Bound<'py, PyList>,
        record_every: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let input = run_input(&*self.core(py)?, py, demand_mb, dt_s, events, record_every)?;
        let mut guard = self.core(py)?;
        let core: &mut core::Host = &mut guard;
        let mut rec = py.detach(|| core.run_checked(&input)).or_raise(py)?;
        let (rows, n) = (rec.rows(), rec.vms);
        let d = PyDict::new(py);
        d.set_item("tick", PyArray1::from_slice(py, &rec.tick))?;
        d.set_item("time_s", PyArray1::from_slice(py, &rec.time_s))?;
        d.set_item("demand_mb", u32_2d(py, &rec.demand_mb, rows, n)?)?;
        d.set_item("assigned_mb", u32_2d(py, &rec.assigned_mb, rows, n)?)?;
        d.set_item("visible_mb", u32_2d(py, &rec.visible_mb, rows, n)?)?;
        d.set_item("target_mb", u32_2d(py, &rec.target_mb, rows, n)?)?;
        let (pressure, status) = (std::mem::take(&mut rec.pressure), std::mem::take(&mut rec.status));
        d.set_item("pressure", PyArray1::from_vec(py, pressure).reshape([rows, n])?)?;
        d.set_item("status", PyArray1::from_vec(py, status).reshape([rows, n])?)?;
        d.set_item("available_mb", PyArray1::from_slice(py, &rec.available_mb))?;
        d.set_item("average_pressure", PyArray1::from_slice(py, &rec.average_pressure))?;
        let log = PyList::empty(py);
        for e in &rec.events {
            let msg: Option<&str> = e.error.as_ref().map(|x| x.message.as_str());
            log.append((e.index, e.tick, msg))?;
        }
        d.set_item("events", log)?;
        Ok(d)
    }

    /// Sets every demand from a C-contiguous int64 array in `ids()` order.
    fn set_demand_mb(&self, py: Python<'_>, demand_mb: PyReadonlyArray1<'_, i64>) -> PyResult<()> {
        let slice = demand_mb.as_slice().map_err(|_| {
            raise(
                py,
                ErrorKind::Config,
                Some("demand_mb"),
                py.None(),
                "demand_mb must be a contiguous 1-D array",
            )
        })?;
        self.core(py)?.set_demands(slice).or_raise(py)
    }

    fn demand_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let core = self.core(py)?;
        Ok(i64_array(py, core.demands().iter().map(|&d| d as i64)))
    }
    fn assigned_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let core = self.core(py)?;
        Ok(i64_array(py, core.assigned().iter().map(|&d| d as i64)))
    }
    fn visible_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let core = self.core(py)?;
        Ok(i64_array(py, core.visible().iter().map(|&d| d as i64)))
    }
    fn target_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let core = self.core(py)?;
        Ok(i64_array(py, (0..core.len()).map(|p| core.target_mb(p) as i64)))
    }
    fn paging_mb<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let core = self.core(py)?;
        Ok(i64_array(py, (0..core.len()).map(|p| core.paging_mb(p) as i64)))
    }
    fn status_codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<u8>>> {
        let core = self.core(py)?;
        Ok(PyArray1::from_iter(py, (0..core.len()).map(|p| core.status(p) as u8)))
    }
    fn pressure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let core = self.core(py)?;
        Ok(PyArray1::from_iter(py, (0..core.len()).map(|p| core.pressure(p))))
    }

    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.core(py)?.host_counters();
        let d = PyDict::new(py);
        d.set_item("Available Memory", c.available_memory_mb)?;
        d.set_item("Average Pressure", c.average_pressure)?;
        d.set_item("System Current Pressure", c.system_current_pressure)?;
        Ok(d)
    }
}

/// A handle to one VM: the host and the VM's id, nothing else. Reads go to
/// the host's arrays; a handle to a removed VM raises `StateError`.
#[pyclass(module = "dynmem._dynmem", name = "VmHandle", subclass, frozen)]
struct VmHandle {
    host: Py<PyHost>,
    id: u64,
}

impl VmHandle {
    fn read<T>(&self, py: Python<'_>, f: impl FnOnce(&core::Host, usize) -> T) -> PyResult<T> {
        let h = self.host.get().core(py)?;
        let pos = h.position(self.id).or_raise(py)?;
        Ok(f(&h, pos))
    }
    fn write<T>(&self, py: Python<'_>, f: impl FnOnce(&mut core::Host) -> core::Result<T>) -> PyResult<T> {
        let mut h = self.host.get().core(py)?;
        f(&mut h).or_raise(py)
    }
    fn change(&self, py: Python<'_>, change: VmChange) -> PyResult<()> {
        self.write(py, |h| h.configure(self.id, &change))
    }
}

#[pymethods]
impl VmHandle {
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
        self.read(py, |h, p| h.name(p).to_string())
    }
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |h, p| h.state(p).as_str())
    }
    #[getter]
    fn status(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.read(py, |h, p| h.status(p).as_str())
    }
    #[getter]
    fn demand_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |h, p| h.demand_mb(p))
    }
    #[setter]
    fn set_demand_mb(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let d = int_arg("demand_mb", value)?;
        self.write(py, |h| h.set_demand(self.id, d))
    }
    #[getter]
    fn assigned_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |h, p| h.assigned_mb(p))
    }
    #[getter]
    fn visible_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |h, p| h.visible_mb(p))
    }
    #[getter]
    fn target_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |h, p| h.target_mb(p))
    }
    #[getter]
    fn pressure(&self, py: Python<'_>) -> PyResult<f64> {
        self.read(py, |h, p| h.pressure(p))
    }
    #[getter]
    fn paging_mb(&self, py: Python<'_>) -> PyResult<u64> {
        self.read(py, |h, p| h.paging_mb(p))
    }
    #[getter]
    fn startup_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |h, p| h.config(p).startup_mb)
    }
    #[setter]
    fn set_startup_mb(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.change(
            py,
            VmChange {
                startup_mb: Some(int_arg("startup_mb", value)?),
                ..Default::default()
            },
        )
    }
    #[getter]
    fn minimum_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |h, p| h.config(p).minimum_mb)
    }
    #[setter]
    fn set_minimum_mb(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.change(
            py,
            VmChange {
                minimum_mb: Some(int_arg("minimum_mb", value)?),
                ..Default::default()
            },
        )
    }
    #[getter]
    fn maximum_mb(&self, py: Python<'_>) -> PyResult<u32> {
        self.read(py, |h, p| h.config(p).maximum_mb)
    }
    #[setter]
    fn set_maximum_mb(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.change(
            py,
            VmChange {
                maximum_mb: Some(int_arg("maximum_mb", value)?),
                ..Default::default()
            },
        )
    }
    #[getter]
    fn buffer_pct(&self, py: Python<'_>) -> PyResult<u16> {
        self.read(py, |h, p| h.config(p).buffer_pct)
    }
    #[setter]
    fn set_buffer_pct(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.change(
            py,
            VmChange {
                buffer_pct: Some(int_arg("buffer_pct", value)?),
                ..Default::default()
            },
        )
    }
    #[getter]
    fn weight(&self, py: Python<'_>) -> PyResult<u16> {
        self.read(py, |h, p| h.config(p).weight)
    }
    #[setter]
    fn set_weight(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.change(
            py,
            VmChange {
                weight: Some(int_arg("weight", value)?),
                ..Default::default()
            },
        )
    }
    #[getter]
    fn dynamic(&self, py: Python<'_>) -> PyResult<bool> {
        self.read(py, |h, p| h.config(p).dynamic)
    }
    #[setter]
    fn set_dynamic(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.change(
            py,
            VmChange {
                dynamic: Some(bool_arg("dynamic", value)?),
                ..Default::default()
            },
        )
    }

    /// Changes several settings at once, atomically.
    #[pyo3(signature = (*, startup_mb=None, minimum_mb=None, maximum_mb=None, buffer_pct=None, weight=None, dynamic=None))]
    #[allow(clippy::too_many_arguments)]
    fn configure(
        &self,
        py: Python<'_>,
        startup_mb: Option<&Bound<'_, PyAny>>,
        minimum_mb: Option<&Bound<'_, PyAny>>,
        maximum_mb: Option<&Bound<'_, PyAny>>,
        buffer_pct: Option<&Bound<'_, PyAny>>,
        weight: Option<&Bound<'_, PyAny>>,
        dynamic: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let change = vm_change([startup_mb, minimum_mb, maximum_mb, buffer_pct, weight, dynamic])?;
        self.change(py, change)
    }

    /// Starts the VM (`InsufficientMemoryError` if startup memory can't be found).
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, |h| h.start(self.id))
    }
    /// Stops the VM; its memory returns to the host.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        self.write(py, |h| h.stop(self.id))
    }

    #[getter]
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.read(py, |h, p| h.vm_counters(p))?;
        let d = PyDict::new(py);
        d.set_item("Added Memory", c.added_memory_mb)?;
        d.set_item("Removed Memory", c.removed_memory_mb)?;
        d.set_item("Memory Add Operations", c.add_operations)?;
        d.set_item("Memory Remove Operations", c.remove_operations)?;
        d.set_item("Physical Memory", c.physical_memory_mb)?;
        d.set_item("Guest Visible Physical Memory", c.guest_visible_physical_memory_mb)?;
        d.set_item("Current Pressure", c.current_pressure)?;
        d.set_item("Average Pressure", c.average_pressure)?;
        d.set_item("Minimum Pressure", c.minimum_pressure)?;
        d.set_item("Maximum Pressure", c.maximum_pressure)?;
        Ok(d)
    }

    /// True while the VM is still on its host.
    #[getter]
    fn exists(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.host.get().core(py)?.position(self.id).is_ok())
    }
}

#[pymodule]
fn _dynmem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHost>()?;
    m.add_class::<VmHandle>()?;
    m.add("DETACH_MIN_VMS", DETACH_MIN_VMS)?;
    m.add("VECTOR_PATH", core::vector_path())?;
    m.add("PARALLEL_MIN_VMS", core::PARALLEL_MIN_VMS)?;
    m.add("MAX_DEMAND_MB", core::config::MAX_DEMAND_MB)?;
    m.add("MAX_MAXIMUM_MB", core::config::MAX_MAXIMUM_MB)?;
    Ok(())
}
