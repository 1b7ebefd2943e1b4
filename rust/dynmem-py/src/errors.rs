//! The one mapping from the core's errors to `dynmem.errors`: [`raise`]
//! picks the exception class for an `ErrorKind` and builds it with `.field`
//! and `.value`; every exception this crate raises is made there.
//! [`map_err`] and [`OrRaise`] route a `dynmem_core::Error` to it; the other
//! functions are shorthands for the binding's own errors.

use crate::lock::Busy;
use dynmem_core::{Error, ErrorKind, Result, Value};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyType};
use pyo3::IntoPyObjectExt;

static CONFIG_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIG_TYPE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INSUFFICIENT_MEMORY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static STATE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static POLICY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Builds the `dynmem.errors` exception for `kind`, carrying `.field` and
/// `.value` (`MemoryError` with the message for `OutOfMemory`: the machine,
/// not the caller, is at fault). Every error leaving this crate goes through here.
pub fn raise(py: Python<'_>, kind: ErrorKind, field: Option<&str>, value: Py<PyAny>, message: &str) -> PyErr {
    let (cell, name) = match kind {
        ErrorKind::OutOfMemory => return PyMemoryError::new_err(message.to_string()),
        ErrorKind::Config => (&CONFIG_ERROR, "ConfigError"),
        ErrorKind::ConfigType => (&CONFIG_TYPE_ERROR, "ConfigTypeError"),
        ErrorKind::InsufficientMemory => (&INSUFFICIENT_MEMORY_ERROR, "InsufficientMemoryError"),
        ErrorKind::State => (&STATE_ERROR, "StateError"),
        ErrorKind::Policy => (&POLICY_ERROR, "PolicyError"),
    };
    match cell
        .import(py, "dynmem.errors", name)
        .and_then(|cls| cls.call1((message, field, value)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// `ConfigError` with `.field` and `.value` (the value converted to Python).
pub fn config_error<'py>(py: Python<'py>, field: &str, value: impl IntoPyObject<'py>, message: &str) -> PyErr {
    match value.into_py_any(py) {
        Ok(value) => raise(py, ErrorKind::Config, Some(field), value, message),
        Err(e) => e,
    }
}

/// Longest repr an error message shows of a value (a huge int or string
/// is cut, its length said).
const MAX_SHOWN: usize = 120;

/// `repr(v)` for an error message, cut to [`MAX_SHOWN`] characters.
pub fn shown(v: &Bound<'_, PyAny>) -> String {
    let ty = || v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    let Ok(r) = v.repr() else {
        return format!("<{} without a repr>", ty()); // e.g. an int past Python's digit limit
    };
    let r = r.to_string_lossy().into_owned();
    let len = r.chars().count();
    if len <= MAX_SHOWN {
        return r;
    }
    let head: String = r.chars().take(MAX_SHOWN / 2).collect();
    format!("{head}… ({len} characters)")
}

/// `ConfigTypeError`: "{field} must be {what}, got {repr} ({type})".
pub fn type_error(field: &str, v: &Bound<'_, PyAny>, what: &str) -> PyErr {
    let shown = shown(v);
    let ty = v.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    raise(
        v.py(),
        ErrorKind::ConfigType,
        Some(field),
        v.clone().unbind(),
        &format!("{field} must be {what}, got {shown} ({ty})"),
    )
}

/// `StateError` for a host that another thread is using, or that a thread
/// was inside when this process was forked, or that an operation panicked in.
pub fn host_busy(py: Python<'_>, why: Busy) -> PyErr {
    let message = match why {
        Busy::Thread => "the host is busy: another thread is using it, or this is a call from inside its tick (a policy's allocate cannot use its host)",
        Busy::Forked => {
            "the host was in use by another thread when this process was forked: \
             its state is undefined here (make hosts in the child, or fork while no thread is inside one)"
        }
        Busy::Poisoned => "the host is unusable: an earlier operation on it failed part-way",
    };
    raise(py, ErrorKind::State, None, py.None(), message)
}

/// Maps a core error to its Python exception, the value as a Python object.
pub fn map_err(py: Python<'_>, e: Error) -> PyErr {
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

/// `core_result.or_raise(py)?`: a core error becomes its Python exception.
pub trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| map_err(py, e))
    }
}
