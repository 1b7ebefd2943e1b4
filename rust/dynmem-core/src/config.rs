//! Per-VM settings and their validation (Hyper-V's legal ranges).

use crate::error::{Error, Result, Value};

/// Smallest legal minimum (MB).
pub const MIN_MINIMUM_MB: u32 = 32;
/// Largest legal maximum (MB): 1 TB.
pub const MAX_MAXIMUM_MB: u32 = 1_048_576;
pub const MIN_BUFFER_PCT: u16 = 5;
pub const MAX_BUFFER_PCT: u16 = 2000;
pub const MAX_WEIGHT: u16 = 10_000;
/// Largest demand accepted (MB).
pub const MAX_DEMAND_MB: u64 = u32::MAX as u64;

/// A VM's settings, as validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmConfig {
    pub startup_mb: u32,
    pub minimum_mb: u32,
    pub maximum_mb: u32,
    pub buffer_pct: u16,
    pub weight: u16,
    pub dynamic: bool,
}

/// Settings as a caller gives them: wide integers so that out-of-range
/// values reach validation instead of wrapping. `minimum_mb: None` means
/// "equal to startup".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmSpec {
    pub startup_mb: i64,
    pub minimum_mb: Option<i64>,
    pub maximum_mb: i64,
    pub buffer_pct: i64,
    pub weight: i64,
    pub dynamic: bool,
}

impl Default for VmSpec {
    fn default() -> Self {
        VmSpec {
            startup_mb: 1024,
            minimum_mb: None,
            maximum_mb: MAX_MAXIMUM_MB as i64,
            buffer_pct: 20,
            weight: 5000,
            dynamic: true,
        }
    }
}

/// A partial change of settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VmChange {
    pub startup_mb: Option<i64>,
    pub minimum_mb: Option<i64>,
    pub maximum_mb: Option<i64>,
    pub buffer_pct: Option<i64>,
    pub weight: Option<i64>,
    pub dynamic: Option<bool>,
}

fn size(field: &str, v: i64, unit: u32) -> Result<u32> {
    if v < MIN_MINIMUM_MB as i64 || v > MAX_MAXIMUM_MB as i64 {
        return Err(Error::config(
            field,
            v,
            &format!("must be between {MIN_MINIMUM_MB} and {MAX_MAXIMUM_MB} MB"),
        ));
    }
    if v % unit as i64 != 0 {
        return Err(Error::config(
            field,
            v,
            &format!("must be a multiple of {unit} MB (the policy's balloon_unit_mb)"),
        ));
    }
    Ok(v as u32)
}

fn ranged(field: &str, v: i64, lo: u16, hi: u16) -> Result<u16> {
    if v < lo as i64 || v > hi as i64 {
        return Err(Error::config(field, v, &format!("must be between {lo} and {hi}")));
    }
    Ok(v as u16)
}

impl VmSpec {
    /// Validates every field, then the order minimum ≤ startup ≤ maximum.
    pub fn validate(&self, unit: u32) -> Result<VmConfig> {
        let startup_mb = size("startup_mb", self.startup_mb, unit)?;
        let minimum_mb = match self.minimum_mb {
            None => startup_mb,
            Some(m) => size("minimum_mb", m, unit)?,
        };
        let maximum_mb = size("maximum_mb", self.maximum_mb, unit)?;
        let buffer_pct = ranged("buffer_pct", self.buffer_pct, MIN_BUFFER_PCT, MAX_BUFFER_PCT)?;
        let weight = ranged("weight", self.weight, 0, MAX_WEIGHT)?;
        if minimum_mb > startup_mb {
            return Err(Error::config(
                "minimum_mb",
                minimum_mb,
                &format!("must not exceed startup_mb ({startup_mb})"),
            ));
        }
        if maximum_mb < startup_mb {
            return Err(Error::config(
                "maximum_mb",
                maximum_mb,
                &format!("must be at least startup_mb ({startup_mb})"),
            ));
        }
        Ok(VmConfig {
            startup_mb,
            minimum_mb,
            maximum_mb,
            buffer_pct,
            weight,
            dynamic: self.dynamic,
        })
    }
}

impl VmConfig {
    pub fn to_spec(self) -> VmSpec {
        VmSpec {
            startup_mb: self.startup_mb as i64,
            minimum_mb: Some(self.minimum_mb as i64),
            maximum_mb: self.maximum_mb as i64,
            buffer_pct: self.buffer_pct as i64,
            weight: self.weight as i64,
            dynamic: self.dynamic,
        }
    }

    /// The settings after `change`, validated as a whole; `running` applies
    /// Hyper-V's runtime rules (maximum only up, minimum only down, startup
    /// and dynamic only while off); `startup_runtime` lets startup change
    /// while running too (a static VM whose release can resize it: the
    /// host checks the memory).
    pub fn apply(
        self,
        change: &VmChange,
        unit: u32,
        running: bool,
        startup_runtime: bool,
        vm: &str,
    ) -> Result<VmConfig> {
        let mut spec = self.to_spec();
        if let Some(v) = change.startup_mb {
            spec.startup_mb = v;
        }
        if let Some(v) = change.minimum_mb {
            spec.minimum_mb = Some(v);
        }
        if let Some(v) = change.maximum_mb {
            spec.maximum_mb = v;
        }
        if let Some(v) = change.buffer_pct {
            spec.buffer_pct = v;
        }
        if let Some(v) = change.weight {
            spec.weight = v;
        }
        if let Some(v) = change.dynamic {
            spec.dynamic = v;
        }
        let new = spec.validate(unit)?;
        if running {
            let rule = |field: &str, value: i64, what: &str| {
                Err(Error::state(
                    Some(field),
                    value,
                    format!("{field} {what} while VM '{vm}' is running, got {value}"),
                ))
            };
            let off_only = |field: &str, value: Value| {
                Err(Error::state(
                    Some(field),
                    value.clone(),
                    format!("{field} can only change while VM '{vm}' is off, got {value}"),
                ))
            };
            if new.startup_mb != self.startup_mb && !startup_runtime {
                return off_only("startup_mb", Value::from(new.startup_mb));
            }
            if new.dynamic != self.dynamic {
                return off_only("dynamic", Value::from(new.dynamic));
            }
            if new.maximum_mb < self.maximum_mb {
                return rule(
                    "maximum_mb",
                    new.maximum_mb as i64,
                    &format!("can only rise (now {})", self.maximum_mb),
                );
            }
            if new.minimum_mb > self.minimum_mb {
                return rule(
                    "minimum_mb",
                    new.minimum_mb as i64,
                    &format!("can only fall (now {})", self.minimum_mb),
                );
            }
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_defaults_to_startup() {
        let c = VmSpec {
            startup_mb: 2048,
            ..VmSpec::default()
        }
        .validate(2)
        .unwrap();
        assert_eq!(c.minimum_mb, 2048);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(VmSpec, &str); 8] = [
            (
                VmSpec {
                    startup_mb: -2,
                    ..VmSpec::default()
                },
                "startup_mb",
            ),
            (
                VmSpec {
                    startup_mb: 1025,
                    ..VmSpec::default()
                },
                "startup_mb",
            ),
            (
                VmSpec {
                    minimum_mb: Some(16),
                    ..VmSpec::default()
                },
                "minimum_mb",
            ),
            (
                VmSpec {
                    maximum_mb: 2_097_152,
                    ..VmSpec::default()
                },
                "maximum_mb",
            ),
            (
                VmSpec {
                    buffer_pct: 4,
                    ..VmSpec::default()
                },
                "buffer_pct",
            ),
            (
                VmSpec {
                    weight: 10_001,
                    ..VmSpec::default()
                },
                "weight",
            ),
            (
                VmSpec {
                    minimum_mb: Some(2048),
                    ..VmSpec::default()
                },
                "minimum_mb",
            ),
            (
                VmSpec {
                    maximum_mb: 512,
                    ..VmSpec::default()
                },
                "maximum_mb",
            ),
        ];
        for (spec, field) in cases {
            let e = spec.validate(2).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{e}");
        }
    }

    #[test]
    fn runtime_rules() {
        let c = VmSpec {
            minimum_mb: Some(512),
            maximum_mb: 4096,
            ..VmSpec::default()
        }
        .validate(2)
        .unwrap();
        let up = VmChange {
            maximum_mb: Some(8192),
            minimum_mb: Some(256),
            ..Default::default()
        };
        assert!(c.apply(&up, 2, true, false, "a").is_ok());
        for (change, field) in [
            (
                VmChange {
                    maximum_mb: Some(2048),
                    ..Default::default()
                },
                "maximum_mb",
            ),
            (
                VmChange {
                    minimum_mb: Some(1024),
                    ..Default::default()
                },
                "minimum_mb",
            ),
            (
                VmChange {
                    startup_mb: Some(2048),
                    ..Default::default()
                },
                "startup_mb",
            ),
            (
                VmChange {
                    dynamic: Some(false),
                    ..Default::default()
                },
                "dynamic",
            ),
        ] {
            let e = c.apply(&change, 2, true, false, "a").unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::State);
            assert_eq!(e.field.as_deref(), Some(field));
            assert!(c.apply(&change, 2, false, false, "a").is_ok());
        }
    }
}
