//! Python values to core values and back. Arguments are type-checked here
//! (`int_arg`, `float_arg`, `bool_arg`, the policy, VM settings and changes,
//! bulk arrays, `run`'s input), with error messages that are part of the
//! API; counter dicts and widened columns go back to Python.

use crate::errors::{config_error, map_err, shown, type_error, OrRaise};
use dynmem_core::error::try_vec;
use dynmem_core::{self as core, Action, CounterValue, Event, Mechanics, VectorCap, VmChange, VmId, VmSpec};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use std::borrow::Cow;

/// Largest `Host.threads` (a sanity bound, far above any machine's CPUs).
const MAX_THREADS: i64 = 4096;

/// The settings a `VmChange` can hold, in the order of [`vm_change`]'s argument.
const SETTINGS: [&str; 6] = [
    "startup_mb",
    "minimum_mb",
    "maximum_mb",
    "buffer_pct",
    "weight",
    "dynamic",
];

/// An integer argument: ints and objects with `__index__`, never bool or float.
pub fn int_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<i64> {
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyFloat>() {
        return Err(type_error(field, v, "an integer"));
    }
    let as_int = if v.is_instance_of::<PyInt>() {
        v.clone()
    } else {
        v.call_method0("__index__")
            .map_err(|_| type_error(field, v, "an integer"))?
    };
    as_int.extract::<i64>().map_err(|_| {
        let shown = shown(v);
        config_error(v.py(), field, v, &format!("{field} is out of range, got {shown}"))
    })
}

/// A string argument, borrowed: a `str` (else `ConfigTypeError`) that is
/// valid Unicode (a lone surrogate cannot be a VM's name: `ConfigError`).
/// `field` is only built for an error.
pub fn str_arg<'a>(v: &'a Bound<'_, PyAny>, field: impl Fn() -> String) -> PyResult<Cow<'a, str>> {
    let s = v.cast::<PyString>().map_err(|_| type_error(&field(), v, "a string"))?;
    s.to_cow().map_err(|_| {
        let field = field();
        let message = format!("{field} must be valid Unicode (no lone surrogates), got {}", shown(v));
        config_error(v.py(), &field, v, &message)
    })
}

/// An optional integer: absent or `None` is `None`.
pub fn opt_int_arg(field: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => int_arg(field, v).map(Some),
    }
}

/// A real-number argument: int or float, never bool. `what` is what it must
/// be (`"a number"`, or the range, e.g. [`core::host::DT_WHAT`]): the words of
/// a wrong type's error and of an int too large for a float.
pub fn float_arg(field: &str, v: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>() {
        return Err(type_error(field, v, what));
    }
    v.extract::<f64>().map_err(|_| {
        if v.is_instance_of::<PyInt>() {
            let message = format!("{field} must be {what}, got {}", shown(v));
            config_error(v.py(), field, v, &message)
        } else {
            type_error(field, v, what)
        }
    })
}

/// `True` or `False`, nothing else.
pub fn bool_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| type_error(field, v, "True or False"))
}

/// `Host.threads`: 0 (all CPUs) to [`MAX_THREADS`].
pub fn threads_arg(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    let t = int_arg("threads", v)?;
    if !(0..=MAX_THREADS).contains(&t) {
        let requirement = format!("must be between 0 (all CPUs) and {MAX_THREADS}");
        return Err(map_err(v.py(), core::Error::config("threads", t, &requirement)));
    }
    Ok(t as usize)
}

/// A vector cap by name: "scalar", "avx2" or "avx512".
pub fn vector_cap_arg(py: Python<'_>, cap: &str) -> PyResult<VectorCap> {
    match cap {
        "scalar" => Ok(VectorCap::Scalar),
        "avx2" => Ok(VectorCap::Avx2),
        "avx512" => Ok(VectorCap::Avx512),
        _ => Err(config_error(
            py,
            "cap",
            cap,
            "cap must be \"scalar\", \"avx2\" or \"avx512\"",
        )),
    }
}

/// A `Mechanics` from the attributes of a `dynmem.HyperVPolicy`.
pub fn policy_arg(p: &Bound<'_, PyAny>) -> PyResult<Mechanics> {
    let int = |f: &str| -> PyResult<u32> {
        let v = int_arg(f, &p.getattr(f)?)?;
        u32::try_from(v).map_err(|_| map_err(p.py(), Mechanics::size_error(f, v.into())))
    };
    let real = |f: &str| -> PyResult<f64> { float_arg(f, &p.getattr(f)?, "a number") };
    Ok(Mechanics {
        balloon_unit_mb: int("balloon_unit_mb")?,
        hot_add_chunk_mb: int("hot_add_chunk_mb")?,
        boot_report_delay_s: real("boot_report_delay_s")?,
        remove_delay_s: real("remove_delay_s")?,
        remove_rate_mb_per_s: real("remove_rate_mb_per_s")?,
    })
}

/// A `VmChange` from a dict of settings by name (`VmHandle.configure`'s
/// keywords, or an event's `changes`, named `field`); a key that is not one
/// of the six settings is a `ConfigTypeError`, as an unknown keyword is.
/// Each value's field is `{prefix}{setting}`.
pub fn change_arg(field: &str, prefix: &str, kw: Option<&Bound<'_, PyDict>>) -> PyResult<VmChange> {
    let Some(kw) = kw else { return Ok(VmChange::default()) };
    for key in kw.keys() {
        let known = key.cast::<PyString>().ok().and_then(|k| k.to_str().ok());
        if !known.is_some_and(|k| SETTINGS.contains(&k)) {
            return Err(type_error(
                field,
                &key,
                &format!("settings among {}", SETTINGS.join(", ")),
            ));
        }
    }
    let mut values: [Option<Bound<'_, PyAny>>; 6] = Default::default();
    for (value, key) in values.iter_mut().zip(SETTINGS) {
        *value = kw.get_item(key)?;
    }
    let [s, mn, mx, b, w, d] = values.each_ref().map(Option::as_ref);
    let at = |name: &str| format!("{prefix}{name}");
    Ok(VmChange {
        startup_mb: opt_int_arg(&at("startup_mb"), s)?,
        minimum_mb: opt_int_arg(&at("minimum_mb"), mn)?,
        maximum_mb: opt_int_arg(&at("maximum_mb"), mx)?,
        buffer_pct: opt_int_arg(&at("buffer_pct"), b)?,
        weight: opt_int_arg(&at("weight"), w)?,
        dynamic: match d {
            Some(d) if !d.is_none() => Some(bool_arg(&at("dynamic"), d)?),
            _ => None,
        },
    })
}

/// `add_vms`' settings, one array entry per VM each (`minimum_mb` below 0:
/// equal to startup), as specs.
pub fn vm_specs(
    py: Python<'_>,
    n: usize,
    [s, mx, mn, b, w]: [PyReadonlyArray1<'_, i64>; 5],
    d: PyReadonlyArray1<'_, bool>,
) -> PyResult<Vec<VmSpec>> {
    let (s, mx, mn) = (s.as_array(), mx.as_array(), mn.as_array());
    let (b, w, d) = (b.as_array(), w.as_array(), d.as_array());
    if [s.len(), mx.len(), mn.len(), b.len(), w.len(), d.len()]
        .iter()
        .any(|&l| l != n)
    {
        return Err(config_error(
            py,
            "names",
            py.None(),
            "every setting must have one entry per name",
        ));
    }
    let mut specs = try_vec(n, "names").or_raise(py)?;
    specs.extend((0..n).map(|k| VmSpec {
        startup_mb: s[k],
        minimum_mb: (mn[k] >= 0).then_some(mn[k]),
        maximum_mb: mx[k],
        buffer_pct: b[k],
        weight: w[k],
        dynamic: d[k],
    }));
    Ok(specs)
}

/// `add_vms`' names, borrowed from the Python strings (no copy per name);
/// errors name the entry, `names[k]`.
pub fn names_arg<'a, 'py>(items: &'a [Bound<'py, PyAny>]) -> PyResult<Vec<Cow<'a, str>>> {
    let Some(first) = items.first() else {
        return Ok(Vec::new());
    };
    let mut names = try_vec(items.len(), "names").or_raise(first.py())?;
    for (k, item) in items.iter().enumerate() {
        names.push(str_arg(item, || format!("names[{k}]"))?);
    }
    Ok(names)
}

/// Bulk ids from a numpy array, as the core's `VmId`s.
pub fn ids_arg(py: Python<'_>, ids: &PyReadonlyArray1<'_, u64>, field: &str) -> PyResult<Vec<VmId>> {
    let ids = ids.as_array();
    let mut out = try_vec(ids.len(), field).or_raise(py)?;
    out.extend(ids.iter().map(|&id| VmId(id)));
    Ok(out)
}

/// Every demand, from a C-contiguous int64 array.
pub fn demand_slice<'a>(py: Python<'_>, demand_mb: &'a PyReadonlyArray1<'_, i64>) -> PyResult<&'a [i64]> {
    (demand_mb.as_slice())
        .map_err(|_| config_error(py, "demand_mb", py.None(), "demand_mb must be a contiguous 1-D array"))
}

/// One `(tick, vm_id, action, changes)` tuple of `run`'s `events`, at `events[i]`.
fn event_arg(i: usize, item: &Bound<'_, PyAny>) -> PyResult<Event> {
    let py = item.py();
    let field = format!("events[{i}]");
    let shape = "a (tick, vm_id, action, changes) tuple";
    let t = item.cast::<PyTuple>().map_err(|_| type_error(&field, item, shape))?;
    if t.len() != 4 {
        return Err(type_error(&field, item, shape));
    }
    let tick_field = format!("{field}.tick");
    let tick = int_arg(&tick_field, &t.get_item(0)?)?;
    let tick =
        u64::try_from(tick).map_err(|_| map_err(py, core::Error::config(&tick_field, tick, "must be at least 0")))?;
    let vm_field = format!("{field}.vm");
    let vm = int_arg(&vm_field, &t.get_item(1)?)?;
    let vm = u64::try_from(vm).map_err(|_| map_err(py, core::Error::config(&vm_field, vm, "must be a VM id")))?;
    let action_obj = t.get_item(2)?;
    let action_field = format!("{field}.action");
    let actions = "'start', 'stop', 'restart' or 'configure'";
    let action = str_arg(&action_obj, || action_field.clone())?;
    let changes = t.get_item(3)?;
    let changes_field = format!("{field}.changes");
    let action = match &*action {
        "start" => Action::Start,
        "stop" => Action::Stop,
        "restart" => Action::Restart,
        "configure" => {
            let kw = match changes.cast::<PyDict>() {
                Ok(d) => Some(d),
                Err(_) if changes.is_none() => None,
                Err(_) => return Err(type_error(&changes_field, &changes, "a dict of settings or None")),
            };
            Action::Configure(change_arg(&changes_field, &format!("{changes_field}."), kw)?)
        }
        other => {
            let message = format!("{action_field} must be {actions}, got {other:?}");
            return Err(config_error(py, &action_field, other, &message));
        }
    };
    Ok(Event {
        tick,
        vm: VmId(vm),
        action,
    })
}

/// Converts and checks `run`'s arguments (events, dt, record_every, demand)
/// against `core`, copying the demand matrix.
pub fn run_input(
    core: &core::Host,
    demand_mb: PyReadonlyArray2<'_, i64>,
    dt_s: &Bound<'_, PyAny>,
    events: &Bound<'_, PyList>,
    (record_every, hold_ticks): (&Bound<'_, PyAny>, &Bound<'_, PyAny>),
) -> PyResult<core::RunInput> {
    let py = events.py();
    let dt = float_arg("dt_s", dt_s, core::host::DT_WHAT)?;
    let count = |field: &str, v: &Bound<'_, PyAny>| -> PyResult<usize> {
        let x = int_arg(field, v)?;
        usize::try_from(x).map_err(|_| map_err(py, core::Error::config(field, x, "must be at least 1")))
    };
    let every = count("record_every", record_every)?;
    let hold = count("hold_ticks", hold_ticks)?;
    let mut evs = try_vec(events.len(), "events").or_raise(py)?;
    for (i, item) in events.iter().enumerate() {
        evs.push(event_arg(i, &item)?);
    }
    let ticks = demand_mb.shape()[0]; // rows, each held `hold` ticks
    let owned;
    let slice = match demand_mb.as_slice() {
        Ok(s) => s,
        Err(_) => {
            let all = demand_mb.as_array();
            owned = try_vec(all.len(), "demand_mb").or_raise(py).map(|mut v: Vec<i64>| {
                v.extend(all.iter().copied());
                v
            })?;
            &owned[..]
        }
    };
    core.check_run_held(slice, ticks, hold, dt, &evs, every).or_raise(py)
}

/// A column of MB widened to int64, the type Python sees (an `OutOfMemory`
/// error naming `field` where the machine has no room for it).
pub fn widen(v: &[u32], field: &str) -> core::Result<Vec<i64>> {
    let mut out = try_vec(v.len(), field)?;
    out.extend(v.iter().map(|&x| i64::from(x)));
    Ok(out)
}

/// Counters as a dict in the core's order: whole numbers as Python ints,
/// pressures as floats.
pub fn counters_dict<'py>(py: Python<'py>, named: &[(&str, CounterValue)]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for &(name, value) in named {
        match value {
            CounterValue::Int(v) => d.set_item(name, v)?,
            CounterValue::Real(v) => d.set_item(name, v)?,
        }
    }
    Ok(d)
}
