//! Policies: a built-in one by name, or a Python object whose `allocate`
//! implements the core's `External` rule ([`PyExternal`]). The view it gets
//! is `dynmem.PolicyView` ([`PyPolicyView`]), columns moved into numpy
//! without a copy; its answer is converted here and checked by the core.

use dynmem_core::{Error, ErrorKind, External, Policy, PolicyView, Result, Value};
use numpy::{PyArray1, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::{Arc, Mutex};

use crate::convert::float_arg;
use crate::errors::{map_err, shown};

/// The VMs a user policy divides the pool among this tick: the running
/// dynamic VMs (those finishing their boot in this tick included), in host
/// order, as read-only int64 arrays.
#[pyclass(module = "dynmem._dynmem", name = "PolicyView", frozen)]
pub struct PyPolicyView {
    /// Each VM's id (`VM.id`), in the view's order.
    #[pyo3(get)]
    ids: Py<PyArray1<i64>>,
    /// Each VM's demand (MB), as the guest reports it.
    #[pyo3(get)]
    demand_mb: Py<PyArray1<i64>>,
    /// Each VM's assigned memory (MB) before this tick's allocation.
    #[pyo3(get)]
    assigned_mb: Py<PyArray1<i64>>,
    /// Each VM's minimum memory (MB): an allocation may not go below it.
    #[pyo3(get)]
    minimum_mb: Py<PyArray1<i64>>,
    /// Each VM's maximum memory (MB): an allocation may not go above it.
    #[pyo3(get)]
    maximum_mb: Py<PyArray1<i64>>,
    /// Each VM's target (MB): demand plus its buffer, rounded up to the
    /// balloon unit and clamped to [minimum_mb, maximum_mb].
    #[pyo3(get)]
    target_mb: Py<PyArray1<i64>>,
    /// Each VM's memory buffer (%).
    #[pyo3(get)]
    buffer_pct: Py<PyArray1<i64>>,
    /// Each VM's memory weight, 0–10000.
    #[pyo3(get)]
    weight: Py<PyArray1<i64>>,
    /// Seconds this tick covers.
    #[pyo3(get)]
    dt_s: f64,
    /// The host's simulated time (s) at the start of this tick.
    #[pyo3(get)]
    time_s: f64,
    /// The balloon unit (MB): allocations are rounded down to multiples of it.
    #[pyo3(get)]
    balloon_unit_mb: u64,
    /// Memory (MB) the policy divides among the view's VMs: at most this in all.
    #[pyo3(get)]
    pool_mb: u64,
    len: usize,
}

#[pymethods]
impl PyPolicyView {
    fn __len__(&self) -> usize {
        self.len
    }
    fn __repr__(&self) -> String {
        format!(
            "<PolicyView {} VMs, pool_mb={}, dt_s={:?}>",
            self.len, self.pool_mb, self.dt_s
        )
    }
}

impl PyPolicyView {
    fn new(py: Python<'_>, v: PolicyView) -> PyPolicyView {
        let col = |c: Vec<i64>| {
            let a = PyArray1::from_vec(py, c);
            // Read-only: the view is a snapshot, not a way to change the host.
            let _ = a.getattr("flags").and_then(|f| f.setattr("writeable", false));
            a.unbind()
        };
        PyPolicyView {
            len: v.len(),
            ids: col(v.ids),
            demand_mb: col(v.demand_mb),
            assigned_mb: col(v.assigned_mb),
            minimum_mb: col(v.minimum_mb),
            maximum_mb: col(v.maximum_mb),
            target_mb: col(v.target_mb),
            buffer_pct: col(v.buffer_pct),
            weight: col(v.weight),
            dt_s: v.dt_s,
            time_s: v.time_s,
            balloon_unit_mb: v.balloon_unit_mb,
            pool_mb: v.pool_mb,
        }
    }
}

/// A Python policy object as the core's [`External`] rule. An exception
/// raised by its `allocate` is kept here (the core only sees that the
/// policy failed) and raised by [`PyExternal::take_raised`]'s caller.
#[derive(Debug)]
pub struct PyExternal {
    obj: Py<PyAny>,
    raised: Mutex<Option<PyErr>>,
}

fn policy_error(field: &str, value: Value, message: String) -> Error {
    Error::new(ErrorKind::Policy, Some(field), value, message)
}

impl PyExternal {
    /// The exception the last failing `allocate` raised, if any.
    pub fn take_raised(&self) -> Option<PyErr> {
        self.raised.lock().ok().and_then(|mut r| r.take())
    }

    /// The answer as int64 values: a 1-D numpy array of integers.
    fn answer(py: Python<'_>, a: &Bound<'_, PyAny>) -> Result<Vec<i64>> {
        let what = "a 1-D numpy array of integers (MB), one per VM of the view";
        let bad = |why: &str| {
            policy_error(
                "allocation",
                Value::Str(shown(a)),
                format!("allocate must return {what}; {why}"),
            )
        };
        let np = py.import("numpy").map_err(|_| bad("numpy cannot be imported"))?;
        let is_array = np.getattr("ndarray").and_then(|t| a.is_instance(&t)).unwrap_or(false);
        if !is_array {
            let ty = a.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(bad(&format!("got {ty}")));
        }
        let kind: String = a
            .getattr("dtype")
            .and_then(|d| d.getattr("kind"))
            .and_then(|k| k.extract())
            .unwrap_or_default();
        let dtype = a.getattr("dtype").map(|d| d.to_string()).unwrap_or_default();
        if kind != "i" && kind != "u" {
            return Err(bad(&format!("got dtype {dtype}")));
        }
        let ndim: usize = a.getattr("ndim").and_then(|n| n.extract()).unwrap_or(0);
        if ndim != 1 {
            let shape = a.getattr("shape").map(|s| s.to_string()).unwrap_or_default();
            return Err(bad(&format!("got shape {shape}")));
        }
        // Unsigned values above i64::MAX: any of them is above every maximum.
        if kind == "u" {
            let too_big = a
                .call_method0("max")
                .and_then(|m| m.extract::<u64>())
                .map(|m| m > i64::MAX as u64)
                .unwrap_or(false);
            if too_big {
                return Err(bad("an entry is above 2^63 - 1"));
            }
        }
        let cast = a
            .call_method1("astype", ("int64",))
            .map_err(|_| bad("it could not be read as int64"))?;
        let arr: PyReadonlyArray1<'_, i64> = cast.extract().map_err(|_| bad("it could not be read as int64"))?;
        let _ = arr.len();
        Ok(arr.as_array().to_vec())
    }
}

impl External for PyExternal {
    fn allocate(&self, pool_mb: u64, view: PolicyView) -> Result<Vec<i64>> {
        Python::attach(|py| {
            let view = Py::new(py, PyPolicyView::new(py, view))
                .map_err(|e| policy_error("allocation", Value::None, format!("the policy view: {e}")))?;
            match self.obj.bind(py).call_method1("allocate", (pool_mb, view)) {
                Ok(a) => PyExternal::answer(py, &a),
                Err(e) => {
                    let message = format!(
                        "the policy's allocate raised {}",
                        e.value(py).repr().map(|r| r.to_string()).unwrap_or_default()
                    );
                    if let Ok(mut r) = self.raised.lock() {
                        *r = Some(e);
                    }
                    Err(policy_error("allocation", Value::None, message))
                }
            }
        })
    }
}

/// The core policy for `rule`, the Python side's description of it:
/// `("hyperv",)`, `("static",)`, `("proportional",)`, `("shares", idle_tax)`,
/// `("strict",)` or `("external", obj)`; the external rule too, to take its
/// exceptions from.
pub fn rule_arg(rule: &Bound<'_, PyTuple>) -> PyResult<(Policy, Option<Arc<PyExternal>>)> {
    let py = rule.py();
    let kind: String = rule.get_item(0)?.extract()?;
    let policy = match kind.as_str() {
        "hyperv" => Policy::HyperV,
        "static" => Policy::Static,
        "proportional" => Policy::Proportional,
        "strict" => Policy::StrictPriority,
        "shares" => Policy::Shares {
            idle_tax: float_arg("idle_tax", &rule.get_item(1)?, "a number in [0, 1)")?,
        },
        "external" => {
            let ext = Arc::new(PyExternal {
                obj: rule.get_item(1)?.unbind(),
                raised: Mutex::new(None),
            });
            return Ok((Policy::External(ext.clone()), Some(ext)));
        }
        other => {
            return Err(map_err(
                py,
                Error::config("policy", Value::Str(other.into()), "must be a dynmem.Policy"),
            ))
        }
    };
    Ok((policy, None))
}

/// The Python exception for a core error of a host with external rule
/// `ext`: where the policy's `allocate` raised, a `PolicyError` chained to
/// that exception (or the exception itself when it is not an `Exception`,
/// such as `KeyboardInterrupt`); else the error's own.
pub fn policy_raise(py: Python<'_>, ext: Option<&Arc<PyExternal>>, e: Error) -> PyErr {
    let raised = ext
        .filter(|_| e.kind == ErrorKind::Policy)
        .and_then(|x| x.take_raised());
    let mapped = map_err(py, e);
    match raised {
        None => mapped,
        Some(orig) if !orig.is_instance_of::<pyo3::exceptions::PyException>(py) => orig,
        Some(orig) => {
            mapped.set_cause(py, Some(orig));
            mapped
        }
    }
}
