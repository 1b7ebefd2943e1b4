//! `parse_table`, the trace loaders' numeric CSV parser (`dynmem_core::table`)
//! for Python: bytes in, a float64 array of the wanted columns out, with the
//! GIL released while it parses.

use crate::errors::OrRaise;
use dynmem_core::table::{self, Dialect, RowProblem};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

type Parsed = (Py<PyArray2<f64>>, Py<PyArray1<u64>>, Vec<(usize, &'static str, usize)>);

/// Parses `data` (the lines after a header; its first line is line
/// `first_line`): every non-blank line must hold `fields` numbers
/// separated by `delimiter` (`quote`-enclosed where given, with decimal
/// commas where `decimal_comma`, `dd.MM.yyyy HH:mm:ss` read as UTC epoch
/// seconds where `day_first_time`). Returns `(values, lines, problems)`:
/// values `(len(wanted), rows)` (NaN in a bad row), each row's line, and
/// `(row, "fields" | "number", count or field)` per bad row.
#[pyfunction]
#[pyo3(signature = (data, first_line, fields, wanted, delimiter, quote, decimal_comma, day_first_time))]
pub fn parse_table(
    py: Python<'_>,
    data: &[u8],
    first_line: u64,
    fields: usize,
    wanted: Vec<usize>,
    delimiter: char,
    quote: Option<char>,
    decimal_comma: bool,
    day_first_time: bool,
) -> PyResult<Parsed> {
    let byte = |c: char, what: &str| {
        u8::try_from(c)
            .ok()
            .filter(u8::is_ascii)
            .ok_or_else(|| PyValueError::new_err(format!("{what} must be an ASCII character")))
    };
    let d = Dialect {
        delimiter: byte(delimiter, "delimiter")?,
        quote: quote.map(|q| byte(q, "quote")).transpose()?,
        decimal_comma,
        day_first_time,
    };
    if wanted.iter().any(|&k| k >= fields) {
        return Err(PyValueError::new_err("wanted columns must be below fields"));
    }
    let t = py
        .detach(|| table::parse(data, first_line, fields, &wanted, &d))
        .or_raise(py)?;
    let rows = t.lines.len();
    let mut flat = Vec::with_capacity(rows * wanted.len());
    for c in &t.columns {
        flat.extend_from_slice(c);
    }
    let values =
        Array2::from_shape_vec((wanted.len(), rows), flat).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let problems = t
        .problems
        .iter()
        .map(|&(row, p)| match p {
            RowProblem::Fields(n) => (row, "fields", n),
            RowProblem::NotANumber(k) => (row, "number", k),
        })
        .collect();
    Ok((
        values.into_pyarray(py).unbind(),
        PyArray1::from_vec(py, t.lines).unbind(),
        problems,
    ))
}
