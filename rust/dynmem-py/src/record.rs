//! `RunRecord`, the typed result of `Host.run`: the recorded series as numpy
//! arrays and the events' outcomes, from which `dynmem.Host.run` builds its
//! `Timeline`. The core's buffers become the arrays without a copy; the u32
//! MB series are widened to int64 once, into the buffer numpy then owns.

use crate::convert::widen;
use crate::errors::OrRaise;
use dynmem_core::{CounterValue, HostCounters, Record, VmCounters};
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// What a run recorded: row `r` after tick `tick[r]`; per-VM series have
/// shape `(rows, vms)` in the host's VM order.
#[pyclass(module = "dynmem._dynmem", name = "RunRecord", frozen, get_all)]
pub struct RunRecord {
    /// Ticks run: all of the run's, or those before a signal stopped it.
    ticks: usize,
    tick: Py<PyArray1<u64>>,
    time_s: Py<PyArray1<f64>>,
    demand_mb: Py<PyArray2<i64>>,
    assigned_mb: Py<PyArray2<i64>>,
    visible_mb: Py<PyArray2<i64>>,
    target_mb: Py<PyArray2<i64>>,
    pressure: Py<PyArray2<f64>>,
    /// Memory status codes (ok, low, warning, off).
    status: Py<PyArray2<u8>>,
    available_mb: Py<PyArray1<i64>>,
    average_pressure: Py<PyArray1<f64>>,
    /// `(index in run's events, tick, error message or None)` of every
    /// event, in the order run.
    events: Py<PyTuple>,
    /// Hyper-V's per-VM counters by name, each `(rows, vms)` (int64 for MB
    /// and counts, float64 for pressures); `None` unless the run recorded them.
    counters: Option<Py<PyDict>>,
    /// Hyper-V's host counters by name, each `(rows,)`; `None` unless recorded.
    host_counters: Option<Py<PyDict>>,
}

/// `{name: array}` of `named(item)`'s values, `shape` each, in name order.
fn by_name<'py, T, const K: usize>(
    py: Python<'py>,
    items: &[T],
    named: impl Fn(&T) -> [(&'static str, CounterValue); K],
    names: [&'static str; K],
    shape: (usize, usize),
) -> PyResult<Option<Py<PyDict>>> {
    if items.is_empty() {
        return Ok(None);
    }
    let out = PyDict::new(py);
    let values: Vec<[(&'static str, CounterValue); K]> = items.iter().map(&named).collect();
    for (k, name) in names.iter().enumerate() {
        let array = match values[0][k].1 {
            CounterValue::Int(_) => {
                let v: Vec<i64> = values
                    .iter()
                    .map(|c| if let CounterValue::Int(x) = c[k].1 { x } else { 0 })
                    .collect();
                grid(py, v, shape.0, shape.1)?.into_any()
            }
            CounterValue::Real(_) => {
                let v: Vec<f64> = values
                    .iter()
                    .map(|c| if let CounterValue::Real(x) = c[k].1 { x } else { 0.0 })
                    .collect();
                grid(py, v, shape.0, shape.1)?.into_any()
            }
        };
        out.set_item(*name, array)?;
    }
    Ok(Some(out.unbind()))
}

/// `v` as a `(rows, cols)` array that owns `v`'s buffer.
fn grid<T: Element>(py: Python<'_>, v: Vec<T>, rows: usize, cols: usize) -> PyResult<Py<PyArray2<T>>> {
    let a = Array2::from_shape_vec((rows, cols), v).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py).unbind())
}

fn line<T: Element>(py: Python<'_>, v: Vec<T>) -> Py<PyArray1<T>> {
    PyArray1::from_vec(py, v).unbind()
}

impl RunRecord {
    /// Hands `record`'s buffers to numpy.
    pub fn new(py: Python<'_>, record: Record) -> PyResult<Self> {
        let (rows, vms) = (record.rows(), record.vms);
        let Record {
            ticks,
            tick,
            time_s,
            demand_mb,
            assigned_mb,
            visible_mb,
            target_mb,
            pressure,
            status,
            available_mb,
            average_pressure,
            events,
            counters,
            host_counters,
            ..
        } = record;
        let mb = |v: Vec<u32>| grid(py, widen(&v, "demand_mb").or_raise(py)?, rows, vms);
        let outcomes = events
            .iter()
            .map(|e| (e.index, e.tick, e.error.as_ref().map(|x| x.message.as_str())));
        Ok(RunRecord {
            ticks,
            tick: line(py, tick),
            time_s: line(py, time_s),
            demand_mb: mb(demand_mb)?,
            assigned_mb: mb(assigned_mb)?,
            visible_mb: mb(visible_mb)?,
            target_mb: mb(target_mb)?,
            pressure: grid(py, pressure, rows, vms)?,
            status: grid(py, status, rows, vms)?,
            available_mb: line(py, available_mb),
            average_pressure: line(py, average_pressure),
            events: PyTuple::new(py, outcomes)?.unbind(),
            counters: by_name(py, &counters, VmCounters::named, VmCounters::NAMES, (rows, vms))?,
            host_counters: match by_name(py, &host_counters, HostCounters::named, HostCounters::NAMES, (rows, 1))? {
                // (rows,) arrays: one value per row
                Some(d) => {
                    let flat = PyDict::new(py);
                    for (k, v) in d.bind(py).iter() {
                        flat.set_item(k, v.call_method1("reshape", (rows,))?)?;
                    }
                    Some(flat.unbind())
                }
                None => None,
            },
        })
    }
}
