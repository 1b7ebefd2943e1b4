//! Guest profiles between Python and the core: `dynmem.Guest` (or a
//! built-in's name) to a `dynmem_core::Guest` ([`guest_arg`]), and back as
//! the tuple of its fields ([`guest_fields`]) that `dynmem.Guest` is built
//! from. The rules are the core's (`dynmem_core::guest`).

use crate::convert::{float_arg, int_arg, str_arg};
use crate::errors::{type_error, OrRaise};
use dynmem_core::guest::{BalloonFloor, Guest, HotAdd, GUEST_NAMES};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The fields of a guest profile as Python sees them: (name, report_delay_s
/// or None, balloon_floor, hot_add_chunk_mb: None, an int or "memory_blocks").
pub type Fields = (String, Option<f64>, &'static str, Py<PyAny>);

/// A profile from a built-in's name (`"windows"`, `"linux"`) or an object
/// with `dynmem.Guest`'s attributes; `field` names the argument in errors
/// (`guest`, or `guest[3]` of a bulk add). Types are checked here; values
/// by the core when the profile is used (`Guest::validate`).
pub fn guest_arg(v: &Bound<'_, PyAny>, field: &str) -> PyResult<Guest> {
    let py = v.py();
    if v.is_instance_of::<PyString>() {
        let name = str_arg(v, || field.to_string())?;
        return Guest::named(&name)
            .map_err(|e| dynmem_core::Error {
                field: Some(field.to_string()),
                message: e.message.replacen("guest", field, 1),
                ..e
            })
            .or_raise(py);
    }
    let attr = |name: &str| {
        v.getattr(name)
            .map_err(|_| type_error(field, v, &format!("one of {GUEST_NAMES:?} or a dynmem.Guest")))
    };
    let sub = |name: &str| format!("{field}.{name}");
    let name = attr("name")?;
    let name = str_arg(&name, || sub("name"))?.into_owned();
    let delay = attr("report_delay_s")?;
    let report_delay_s = if delay.is_none() {
        None
    } else {
        Some(float_arg(
            &sub("report_delay_s"),
            &delay,
            "a number of seconds or None",
        )?)
    };
    let floor = attr("balloon_floor")?;
    let balloon_floor = match &*str_arg(&floor, || sub("balloon_floor"))? {
        "none" => BalloonFloor::None,
        "hv_balloon" => BalloonFloor::HvBalloon,
        other => {
            let e = dynmem_core::Error::config(&sub("balloon_floor"), other, "must be \"none\" or \"hv_balloon\"");
            return Err(e).or_raise(py);
        }
    };
    let chunk = attr("hot_add_chunk_mb")?;
    let hot_add = if chunk.is_none() {
        HotAdd::Policy
    } else if chunk.is_instance_of::<PyString>() {
        match &*str_arg(&chunk, || sub("hot_add_chunk_mb"))? {
            "memory_blocks" => HotAdd::MemoryBlocks,
            other => {
                let what = "must be None (the policy's), a number of MB or \"memory_blocks\"";
                return Err(dynmem_core::Error::config(&sub("hot_add_chunk_mb"), other, what)).or_raise(py);
            }
        }
    } else {
        let c = int_arg(&sub("hot_add_chunk_mb"), &chunk)?;
        match u32::try_from(c) {
            Ok(c) => HotAdd::Chunk(c),
            Err(_) => {
                let max = dynmem_core::guest::MAX_CHUNK_MB;
                let e =
                    dynmem_core::Error::config(&sub("hot_add_chunk_mb"), c, &format!("must be between 1 and {max}"));
                return Err(e).or_raise(py);
            }
        }
    };
    Ok(Guest {
        name,
        report_delay_s,
        balloon_floor,
        hot_add,
    })
}

/// The fields of `g` for `dynmem.Guest(*fields)`.
pub fn guest_fields(py: Python<'_>, g: &Guest) -> PyResult<Fields> {
    let chunk = match g.hot_add {
        HotAdd::Policy => py.None(),
        HotAdd::Chunk(c) => c.into_pyobject(py)?.into_any().unbind(),
        HotAdd::MemoryBlocks => PyString::new(py, "memory_blocks").into_any().unbind(),
    };
    let floor = match g.balloon_floor {
        BalloonFloor::None => "none",
        BalloonFloor::HvBalloon => "hv_balloon",
    };
    Ok((g.name.clone(), g.report_delay_s, floor, chunk))
}

/// Checks a `dynmem.Guest`'s fields (what `Guest.__post_init__` calls): a
/// `ConfigTypeError` or `ConfigError` naming `guest.<field>` and the value.
/// (A fixed hot-add chunk is checked against a host's balloon unit when
/// a VM is added with it.)
#[pyfunction]
pub fn _check_guest(guest: &Bound<'_, PyAny>) -> PyResult<()> {
    guest_arg(guest, "guest")?.validate(1).or_raise(guest.py())
}

/// The fields of the built-in profile `name` ("windows" or "linux"), for
/// `dynmem.Guest.windows()` / `.linux()`.
#[pyfunction]
pub fn _guest_fields(py: Python<'_>, name: &str) -> PyResult<Fields> {
    guest_fields(py, &Guest::named(name).or_raise(py)?)
}
