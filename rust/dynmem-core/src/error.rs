//! The core's one error type. The binding crate maps each [`ErrorKind`] to a
//! Python exception class in a single function.

use std::fmt;

/// What went wrong, coarse enough to pick an exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A setting or argument has an illegal value.
    Config,
    /// A setting or argument has the wrong type (raised by bindings).
    ConfigType,
    /// A VM's startup memory cannot be found.
    InsufficientMemory,
    /// Wrong state for the operation, or an unknown / removed VM.
    State,
    /// The machine could not give the memory an operation needs (Python:
    /// `MemoryError`); the message says how many bytes.
    OutOfMemory,
    /// An allocation policy failed or gave an answer that breaks the rules
    /// (Python: `PolicyError`).
    Policy,
    /// The operation does not exist on the host's Windows Server release
    /// (Python: `VersionError`); the message names the release.
    Version,
}

/// The offending value, kept typed so bindings can hand it back as-is.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => write!(f, "None"),
            Value::Bool(v) => write!(f, "{}", if *v { "True" } else { "False" }),
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v as i128)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i128)
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v as i128)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

/// An error with the field at fault, the value, and a full message that
/// names both.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub field: Option<String>,
    pub value: Value,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, field: Option<&str>, value: Value, message: String) -> Self {
        Error {
            kind,
            field: field.map(str::to_string),
            value,
            message,
        }
    }

    /// `"{field} {requirement}, got {value}"`.
    pub fn config(field: &str, value: impl Into<Value>, requirement: &str) -> Self {
        let value = value.into();
        let message = format!("{field} {requirement}, got {value}");
        Error::new(ErrorKind::Config, Some(field), value, message)
    }

    pub fn state(field: Option<&str>, value: impl Into<Value>, message: String) -> Self {
        Error::new(ErrorKind::State, field, value.into(), message)
    }

    /// The same error about entry `k` of a bulk argument: `startup_mb`
    /// becomes `startup_mb[k]`, in the field and the message.
    pub fn at_entry(self, k: usize) -> Self {
        let field = self.field.as_deref().unwrap_or("vm");
        let entry = format!("{field}[{k}]");
        let message = self.message.replacen(field, &entry, 1);
        Error {
            field: Some(entry),
            message,
            ..self
        }
    }

    /// `OutOfMemory`: `field` needed `bytes` more and the allocation failed.
    pub fn out_of_memory(field: &str, bytes: usize) -> Self {
        let message = format!("{field} needs {bytes} bytes of memory, and the allocation failed");
        Error::new(ErrorKind::OutOfMemory, Some(field), Value::from(bytes as u64), message)
    }
}

/// Room for `extra` more items in `v`, or an `OutOfMemory` error naming
/// `field` and the bytes: the fallible form of `Vec::reserve_exact`, for
/// every allocation whose size a caller's input decides.
pub fn try_reserve<T>(v: &mut Vec<T>, extra: usize, field: &str) -> Result<()> {
    v.try_reserve_exact(extra)
        .map_err(|_| Error::out_of_memory(field, extra.saturating_mul(std::mem::size_of::<T>())))
}

/// An empty vector with room for `n` items (see [`try_reserve`]).
pub fn try_vec<T>(n: usize, field: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    try_reserve(&mut v, n, field)?;
    Ok(v)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
