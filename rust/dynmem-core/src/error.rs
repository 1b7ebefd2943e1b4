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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
