//! [`Mechanics`]: every delay, rate and unit of the balancer's mechanics
//! (Python's `HyperVPolicy`). See `docs/balancer.md` for what each one does
//! and why the default. Not an allocation policy: those decide *how much*
//! each VM gets; these decide how fast and in what steps memory moves.

use crate::error::{Error, Result, Value};

/// The delays, rates and units of the Hyper-V balancer's mechanics.
#[derive(Debug, Clone, PartialEq)]
pub struct Mechanics {
    /// Granularity of every allocation and balloon operation (MB). VM sizes
    /// must be multiples of it. Hyper-V: 2 MB.
    pub balloon_unit_mb: u32,
    /// Guest-visible memory grows in chunks of this size (MB). Linux
    /// `hv_balloon`: 128 MB.
    pub hot_add_chunk_mb: u32,
    /// Seconds after start before the guest reports demand.
    pub boot_report_delay_s: f64,
    /// Seconds excess memory must persist before lazy ballooning starts.
    pub remove_delay_s: f64,
    /// Lazy ballooning speed (MB/s).
    pub remove_rate_mb_per_s: f64,
}

impl Default for Mechanics {
    fn default() -> Self {
        Mechanics {
            balloon_unit_mb: 2,
            hot_add_chunk_mb: 128,
            boot_report_delay_s: 45.0,
            remove_delay_s: 5.0,
            remove_rate_mb_per_s: 256.0,
        }
    }
}

/// Largest balloon unit accepted (MB).
pub const MAX_BALLOON_UNIT_MB: u32 = 1024;
/// Largest hot-add chunk accepted (MB).
pub const MAX_HOT_ADD_CHUNK_MB: u32 = 65536;
/// Longest delay accepted (s): a year.
pub const MAX_DELAY_S: f64 = 365.0 * 86400.0;

impl Mechanics {
    /// Checks every field; the first bad one is reported.
    /// The error for a `balloon_unit_mb` or `hot_add_chunk_mb` of `v` out of
    /// range: any integer, so that a binding can report one too large for
    /// the field's type with the same words.
    pub fn size_error(field: &str, v: i128) -> Error {
        let requirement = if field == "balloon_unit_mb" {
            format!("must be a power of two between 1 and {MAX_BALLOON_UNIT_MB}")
        } else {
            format!("must be between 1 and {MAX_HOT_ADD_CHUNK_MB}")
        };
        Error::config(field, Value::Int(v), &requirement)
    }

    pub fn validate(&self) -> Result<()> {
        let u = self.balloon_unit_mb;
        if !(1..=MAX_BALLOON_UNIT_MB).contains(&u) || !u.is_power_of_two() {
            return Err(Mechanics::size_error("balloon_unit_mb", u.into()));
        }
        let c = self.hot_add_chunk_mb;
        if !(1..=MAX_HOT_ADD_CHUNK_MB).contains(&c) {
            return Err(Mechanics::size_error("hot_add_chunk_mb", c.into()));
        }
        if !c.is_multiple_of(u) {
            return Err(Error::config(
                "hot_add_chunk_mb",
                c,
                &format!("must be a multiple of balloon_unit_mb ({u})"),
            ));
        }
        for (field, v) in [
            ("boot_report_delay_s", self.boot_report_delay_s),
            ("remove_delay_s", self.remove_delay_s),
        ] {
            if !(v.is_finite() && (0.0..=MAX_DELAY_S).contains(&v)) {
                return Err(Error::config(
                    field,
                    v,
                    &format!("must be a finite number of seconds between 0 and {MAX_DELAY_S}"),
                ));
            }
        }
        let r = self.remove_rate_mb_per_s;
        if !(r.is_finite() && r > 0.0 && r <= 1e12) {
            return Err(Error::config(
                "remove_rate_mb_per_s",
                r,
                "must be a finite number of MB/s above 0 and at most 1e12",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        Mechanics::default().validate().unwrap();
    }

    #[test]
    fn rejects_each_bad_field() {
        let bad = [
            Mechanics {
                balloon_unit_mb: 0,
                ..Mechanics::default()
            },
            Mechanics {
                balloon_unit_mb: 6,
                ..Mechanics::default()
            },
            Mechanics {
                hot_add_chunk_mb: 129,
                ..Mechanics::default()
            },
            Mechanics {
                boot_report_delay_s: f64::NAN,
                ..Mechanics::default()
            },
            Mechanics {
                remove_delay_s: -1.0,
                ..Mechanics::default()
            },
            Mechanics {
                remove_rate_mb_per_s: 0.0,
                ..Mechanics::default()
            },
            Mechanics {
                remove_rate_mb_per_s: f64::INFINITY,
                ..Mechanics::default()
            },
        ];
        let fields = [
            "balloon_unit_mb",
            "balloon_unit_mb",
            "hot_add_chunk_mb",
            "boot_report_delay_s",
            "remove_delay_s",
            "remove_rate_mb_per_s",
            "remove_rate_mb_per_s",
        ];
        for (p, f) in bad.iter().zip(fields) {
            let e = p.validate().unwrap_err();
            assert_eq!(e.field.as_deref(), Some(f), "{e}");
            assert!(e.message.starts_with(f));
        }
    }
}
