//! [`Guest`]: what a VM's operating system reports and accepts, as a profile
//! of parameters (`Host::add_vm_with_guest`): when its driver starts to
//! report, the balloon floor it keeps, the chunks it hot-adds memory in.
//! `"windows"` is today's behaviour (the host policy's report delay and
//! hot-add chunk, ballooned down to its minimum); `"linux"` follows
//! `drivers/hv/hv_balloon.c` (shared `dynamic-memory.md` §8). A user may
//! define others: a slow driver (a long report delay) or a stuck one (one
//! that never reports, so it is never ballooned). `docs/balancer.md`,
//! "Guest profiles", is the specification.

use crate::error::{Error, Result};

/// The balloon floor a guest keeps (MB it refuses to balloon below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalloonFloor {
    /// None: ballooned down to the VM's minimum.
    None,
    /// `hv_balloon`'s piecewise-linear floor of the VM's memory
    /// ([`hv_balloon_floor_mb`]), added to the demand it reports.
    HvBalloon,
}

/// The chunks a guest hot-adds memory in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HotAdd {
    /// The host policy's `hot_add_chunk_mb`.
    Policy,
    /// Chunks of this many MB (a multiple of the host's balloon unit).
    Chunk(u32),
    /// Linux memory blocks ([`memory_block_mb`]): 128 MB for VMs of up to
    /// 64 GB, larger above.
    MemoryBlocks,
}

/// A guest operating system's profile. Equal profiles share one entry of a
/// host's table of profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Guest {
    /// The profile's name ("windows", "linux", or a user's).
    pub name: String,
    /// Seconds after start before the driver reports demand: `None` is the
    /// host policy's `boot_report_delay_s`; `f64::INFINITY` never reports
    /// (a stuck driver: the VM holds its startup memory, never ballooned).
    pub report_delay_s: Option<f64>,
    pub balloon_floor: BalloonFloor,
    pub hot_add: HotAdd,
}

/// Longest finite report delay accepted (s): a year, as the policy's delays.
pub const MAX_REPORT_DELAY_S: f64 = 365.0 * 86400.0;
/// Largest fixed hot-add chunk accepted (MB), as the policy's.
pub const MAX_CHUNK_MB: u32 = 65536;
/// Longest profile name accepted (bytes).
pub const MAX_GUEST_NAME: usize = 64;
/// The guests `Guest::named` knows, in order.
pub const GUEST_NAMES: [&str; 2] = ["windows", "linux"];

impl Guest {
    /// Windows: reports after the host policy's `boot_report_delay_s`
    /// (once its start-up services have finished), can be ballooned down
    /// to its minimum, hot-adds in the policy's `hot_add_chunk_mb`. Every
    /// VM's guest unless another is given: today's behaviour.
    pub fn windows() -> Guest {
        Guest {
            name: "windows".to_string(),
            report_delay_s: None,
            balloon_floor: BalloonFloor::None,
            hot_add: HotAdd::Policy,
        }
    }

    /// Linux (`hv_balloon`): reports after 45 one-second reports, adds its
    /// balloon floor to the demand it reports and refuses to balloon below
    /// it, hot-adds in memory blocks.
    pub fn linux() -> Guest {
        Guest {
            name: "linux".to_string(),
            report_delay_s: Some(45.0),
            balloon_floor: BalloonFloor::HvBalloon,
            hot_add: HotAdd::MemoryBlocks,
        }
    }

    /// The built-in profile called `name` (`GUEST_NAMES`), or a `Config`
    /// error on `guest`.
    pub fn named(name: &str) -> Result<Guest> {
        match name {
            "windows" => Ok(Guest::windows()),
            "linux" => Ok(Guest::linux()),
            _ => Err(Error::config(
                "guest",
                name,
                &format!("must be one of {GUEST_NAMES:?} or a dynmem.Guest"),
            )),
        }
    }

    /// Checks every field (the hot-add chunk against the host's balloon
    /// unit `unit`); the first bad one is reported, as `guest.<field>`.
    pub fn validate(&self, unit: u32) -> Result<()> {
        let name = self.name.as_str();
        if name.trim().is_empty() || name.len() > MAX_GUEST_NAME {
            return Err(Error::config(
                "guest.name",
                name,
                &format!("must be a non-empty string of at most {MAX_GUEST_NAME} bytes"),
            ));
        }
        if let Some(d) = self.report_delay_s {
            if !(d == f64::INFINITY || (d.is_finite() && (0.0..=MAX_REPORT_DELAY_S).contains(&d))) {
                return Err(Error::config(
                    "guest.report_delay_s",
                    d,
                    &format!("must be a number of seconds between 0 and {MAX_REPORT_DELAY_S}, or inf (never reports)"),
                ));
            }
        }
        if let HotAdd::Chunk(c) = self.hot_add {
            if !(1..=MAX_CHUNK_MB).contains(&c) {
                return Err(Error::config(
                    "guest.hot_add_chunk_mb",
                    c,
                    &format!("must be between 1 and {MAX_CHUNK_MB}"),
                ));
            }
            if !c.is_multiple_of(unit) {
                return Err(Error::config(
                    "guest.hot_add_chunk_mb",
                    c,
                    &format!("must be a multiple of balloon_unit_mb ({unit})"),
                ));
            }
        }
        Ok(())
    }

    /// The report delay (s) on a host whose policy says `policy_delay_s`.
    pub fn report_delay(&self, policy_delay_s: f64) -> f64 {
        self.report_delay_s.unwrap_or(policy_delay_s)
    }

    /// The balloon floor (MB) of a VM of `memory_mb` (its startup memory),
    /// rounded up to the balloon unit `unit`; 0 without a floor.
    pub fn floor_mb(&self, memory_mb: u32, unit: u32) -> u32 {
        match self.balloon_floor {
            BalloonFloor::None => 0,
            BalloonFloor::HvBalloon => {
                let u = unit as u64;
                (hv_balloon_floor_mb(memory_mb as u64).div_ceil(u) * u) as u32
            }
        }
    }
}

/// `hv_balloon`'s balloon floor (MB, rounded up to a whole MB) of a guest of
/// `memory_mb`: `compute_balloon_floor()`, piecewise linear, 128 MB → 72,
/// 512 → 168, 2 GB → 360, 8 GB → 744, 32 GB → 1512 (slopes 1/2, 1/4, 1/8,
/// 1/16, 1/32), below 128 MB 8 + memory / 2; past 32 GB the last segment
/// goes on (slope 1/32), as the kernel's does.
pub fn hv_balloon_floor_mb(memory_mb: u64) -> u64 {
    let (base, shift) = match memory_mb {
        0..128 => (8, 1),
        128..512 => (40, 2),
        512..2048 => (104, 3),
        2048..8192 => (232, 4),
        _ => (488, 5),
    };
    base + memory_mb.div_ceil(1 << shift)
}

/// Linux's memory block (MB) for a VM that booted with `startup_mb`
/// (`probe_memory_block_size`, x86-64): 128 MB up to 64 GB; above, the
/// largest power of two of at most 2 GB that divides the boot memory
/// (the kernel looks at the end of boot memory, which includes the PCI
/// hole; dynmem has none). Never below the balloon unit `unit`.
pub fn memory_block_mb(startup_mb: u32, unit: u32) -> u32 {
    let block = if startup_mb <= 65536 {
        128
    } else {
        (1u32 << startup_mb.trailing_zeros()).clamp(128, 2048)
    };
    block.max(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_table_points_of_the_shared_doc() {
        // 128 MiB → 72, 512 → 168, 2 GiB → 360, 8 GiB → 744, 32 GiB → 1512.
        for (m, f) in [(128, 72), (512, 168), (2048, 360), (8192, 744), (32768, 1512)] {
            assert_eq!(hv_balloon_floor_mb(m), f, "{m}");
        }
        // In between: 1 GiB is on the 1/8 segment: 104 + 128.
        assert_eq!(hv_balloon_floor_mb(1024), 232);
        // Below 128: 8 + m/2 (the kernel's comment: 16 → 16, 32 → 24).
        assert_eq!(hv_balloon_floor_mb(32), 24);
        // Past 32 GiB the 1/32 slope goes on: 64 GiB → 488 + 2048.
        assert_eq!(hv_balloon_floor_mb(65536), 2536);
        // Continuous at every joint, and never above the memory.
        for m in [128u64, 512, 2048, 8192] {
            assert!(hv_balloon_floor_mb(m - 1) <= hv_balloon_floor_mb(m));
        }
        for m in 32..100_000u64 {
            assert!(hv_balloon_floor_mb(m) < m);
        }
        // Rounded up to whole MB, then to the balloon unit.
        assert_eq!(hv_balloon_floor_mb(1026), 233); // 104 + 128.25
        assert_eq!(Guest::linux().floor_mb(1026, 2), 234);
        assert_eq!(Guest::windows().floor_mb(32768, 2), 0);
    }

    #[test]
    fn memory_blocks() {
        assert_eq!(memory_block_mb(1024, 2), 128);
        assert_eq!(memory_block_mb(65536, 2), 128);
        assert_eq!(memory_block_mb(131072, 2), 2048);
        assert_eq!(memory_block_mb(65536 + 512, 2), 512);
        assert_eq!(memory_block_mb(65536 + 64, 2), 128);
        assert_eq!(memory_block_mb(1024, 256), 256);
    }

    #[test]
    fn named_and_validate() {
        assert_eq!(Guest::named("linux").unwrap(), Guest::linux());
        let e = Guest::named("freebsd").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("guest"));
        assert!(e.message.contains("\"freebsd\""), "{}", e.message);
        Guest::linux().validate(2).unwrap();
        let stuck = Guest {
            name: "stuck".into(),
            report_delay_s: Some(f64::INFINITY),
            ..Guest::windows()
        };
        stuck.validate(2).unwrap();
        for (g, field) in [
            (
                Guest {
                    report_delay_s: Some(-1.0),
                    ..Guest::windows()
                },
                "guest.report_delay_s",
            ),
            (
                Guest {
                    report_delay_s: Some(f64::NAN),
                    ..Guest::windows()
                },
                "guest.report_delay_s",
            ),
            (
                Guest {
                    name: " ".into(),
                    ..Guest::windows()
                },
                "guest.name",
            ),
            (
                Guest {
                    hot_add: HotAdd::Chunk(3),
                    ..Guest::windows()
                },
                "guest.hot_add_chunk_mb",
            ),
            (
                Guest {
                    hot_add: HotAdd::Chunk(0),
                    ..Guest::windows()
                },
                "guest.hot_add_chunk_mb",
            ),
        ] {
            let e = g.validate(2).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{e}");
        }
    }
}
