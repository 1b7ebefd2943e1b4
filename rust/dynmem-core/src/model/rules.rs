//! The specification's formulas (`docs/balancer.md`): the target, the demand
//! cap, the default reserve, rounding to balloon units, hot-add growth of
//! visible memory, and what is computed from a VM whenever it is read.

use crate::version::Version;

use super::vms::{in_solver, pressure_of, state_of, Status, VmState, DYNAMIC};

/// The stage of a contended tick (`docs/balancer.md`, "Allocation"; stage 0,
/// where every target fits, needs no water-filling). Each solver VM gets its
/// stage's floor plus a weighted share of its room above the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Stage 1, every demand cap fits: floor = demand cap, room up to the
    /// target (the buffers are shared).
    Buffers = 0,
    /// Stage 2: floor = minimum, room up to the demand cap (the demand is
    /// shared).
    Demand = 1,
}

impl Stage {
    /// The bounds `(floor, ceiling)` of a solver VM's room in this stage,
    /// from its target, demand cap and minimum (numbers or vector lanes).
    #[inline(always)]
    pub(crate) fn room_bounds<T>(self, target: T, demand_cap: T, minimum: T) -> (T, T) {
        match self {
            Stage::Buffers => (demand_cap, target),
            Stage::Demand => (minimum, demand_cap),
        }
    }
}

/// The 2008 R2 SP1 rule of thumb: 384 MB + 64 MB per GB of physical memory
/// (every release's default, [`Version::default_reserve_mb`]).
pub fn default_reserve_mb(physical_mb: u64) -> u64 {
    Version::W2008R2Sp1.default_reserve_mb(physical_mb)
}

// `u` (the balloon unit) is a power of two: rounding is a mask.
#[inline(always)]
pub(crate) fn floor_u(x: u64, u: u64) -> u64 {
    x & !(u - 1)
}
#[inline(always)]
pub(crate) fn ceil_u(x: u64, u: u64) -> u64 {
    (x + u - 1) & !(u - 1)
}

/// `clamp(ceil_u(ceil(demand·(100+buffer)/100)), minimum, maximum)`.
#[inline(always)]
pub fn target_of(demand: u32, buffer_pct: u16, minimum: u32, maximum: u32, u: u64) -> u64 {
    // (x + 99) / 100: one multiply by the reciprocal (x < 2^44, no overflow);
    // max then min: `clamp` also checks minimum ≤ maximum, every time.
    #[allow(clippy::manual_div_ceil)] // (div_ceil computes the remainder too)
    let t = (demand as u64 * (100 + buffer_pct as u64) + 99) / 100;
    ceil_u(t, u).max(minimum as u64).min(maximum as u64)
}

/// `ceil(demand·(100+buffer)/100)` in f64, as the vector forms compute it
/// (there is no 64-bit vector divide): the product is an integer below
/// 2^44, exact; `(x + 99.5)·0.01` lies at least 0.005 from every integer
/// and is computed with an absolute error below 10⁻⁴ at these magnitudes,
/// so its truncation is exact. The tests check it against the integer form.
#[cfg(test)]
pub(crate) fn ceil_pct_f64(demand: u32, buffer_pct: u16) -> u64 {
    let x = demand as f64 * (100 + buffer_pct as u32) as f64;
    ((x + 99.5) * 0.01) as u64
}

/// `clamp(ceil_u(demand), minimum, maximum)`.
#[inline(always)]
pub(crate) fn demand_cap_of(demand: u32, minimum: u32, maximum: u32, u: u64) -> u64 {
    ceil_u(demand as u64, u).max(minimum as u64).min(maximum as u64)
}

/// [`target_of`] in u32 arithmetic, the form the tick's passes compute
/// (`up` is `u − 1`): the demand is first capped at the maximum, which
/// changes neither value (both are clamped to the maximum, a multiple of the
/// unit), so that the product stays below 2^31 (2^20 MB × 2100 %).
#[inline(always)]
pub(crate) fn target_u32(demand: u32, buffer_pct: u16, minimum: u32, maximum: u32, up: u32) -> u32 {
    #[allow(clippy::manual_div_ceil)] // (as `target_of`: div_ceil computes the remainder too)
    let t = (demand.min(maximum) * (100 + buffer_pct as u32) + 99) / 100;
    ((t + up) & !up).max31(minimum).min31(maximum)
}

/// [`demand_cap_of`] in u32 arithmetic, as [`target_u32`] (`up` is `u − 1`).
#[inline(always)]
pub(crate) fn demand_cap_u32(demand: u32, minimum: u32, maximum: u32, up: u32) -> u32 {
    ((demand.min(maximum) + up) & !up).max31(minimum).min31(maximum)
}

/// Order of values below 2^31 (MB and balloon units under the 1 TB
/// maximum, once a demand is capped at the maximum), compared as i32: the
/// same order, and the compare that SSE2 (x86-64's baseline) has for 32-bit
/// lanes (it has no unsigned one), so the tick's portable loops vectorize
/// without flipping sign bits.
pub(crate) trait Below31: Copy {
    fn gt31(self, other: Self) -> bool;
    fn min31(self, other: Self) -> Self;
    fn max31(self, other: Self) -> Self;
}

impl Below31 for u32 {
    #[inline(always)]
    fn gt31(self, other: u32) -> bool {
        (self as i32) > (other as i32)
    }
    #[inline(always)]
    fn min31(self, other: u32) -> u32 {
        (self as i32).min(other as i32) as u32
    }
    #[inline(always)]
    fn max31(self, other: u32) -> u32 {
        (self as i32).max(other as i32) as u32
    }
}

/// Visible memory after an add to `a`: unchanged while the guest already
/// sees `a`; else it grows by whole hot-add chunks (up to the maximum, and
/// at least to `a`).
#[inline(always)]
pub(crate) fn visible_after_add(a: u64, vis: u64, maximum: u64, chunk: u64) -> u64 {
    if a > vis {
        (vis + (a - vis).div_ceil(chunk) * chunk).min(maximum).max(a)
    } else {
        vis
    }
}

/// Hyper-V's `AvailableMemoryBuffer` (Msvm_SummaryInformation): the buffer
/// actually free, `assigned − demand`, as a whole-number percent of the
/// configured buffer `demand × buffer_pct / 100`, rounded down (toward −∞,
/// so it is negative exactly when assigned < demand):
/// `floor(10000 × (assigned − demand) / (demand × buffer_pct))`. Not capped
/// above. Demand 0 (a configured buffer of 0 MB, all of it free): 100.
#[inline(always)]
pub fn available_buffer_pct(demand: u32, assigned: u32, buffer_pct: u16) -> i64 {
    let (d, a) = (demand as i64, assigned as i64);
    if d == 0 {
        return 100;
    }
    // |10000 × (a − d)| < 2^46 and d × buffer < 2^43: exact in i64.
    (10_000 * (a - d)).div_euclid(d * buffer_pct as i64)
}

/// Hyper-V's `MemoryAvailable`: `assigned − demand` as a whole-number
/// percent of assigned memory, rounded down (toward −∞):
/// `floor(100 × (assigned − demand) / assigned)`; 0 when nothing is assigned.
#[inline(always)]
pub fn memory_available_pct(demand: u32, assigned: u32) -> i64 {
    let (d, a) = (demand as i64, assigned as i64);
    if a == 0 {
        return 0;
    }
    (100 * (a - d)).div_euclid(a)
}

/// `Get-VM`'s `MemoryDemand` (MB): `floor(assigned × (100 − MemoryAvailable)
/// / 100)`, in steps of 1 % of assigned memory. With `MemoryAvailable`
/// rounded down this is never below the demand and less than
/// `demand + assigned / 100 + 1`; 0 when demand is 0 or nothing is assigned.
#[inline(always)]
pub fn reported_demand_mb(demand: u32, assigned: u32) -> u64 {
    let a = assigned as i64;
    // 100 − MemoryAvailable = ceil(100 × demand / assigned) ≥ 0.
    (a * (100 - memory_available_pct(demand, assigned)) / 100) as u64
}

/// Memory Status by Hyper-V's rule for a dynamic VM that is on: "paging"
/// while a Smart Paging file is in use, else from `AvailableMemoryBuffer`:
/// below 0 "warning", above 80 "ok", else "low".
#[inline(always)]
pub fn dynamic_status(available_buffer_pct: i64, smart_paging_mb: u32) -> Status {
    if smart_paging_mb > 0 {
        Status::Paging
    } else if available_buffer_pct < 0 {
        Status::Warning
    } else if available_buffer_pct > 80 {
        Status::Ok
    } else {
        Status::Low
    }
}

/// What is computed from a VM's settings and memory whenever it is read
/// (docs/balancer.md, "Status and counters").
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Live {
    pub target_mb: u64,
    pub pressure: f64,
    pub status: Status,
    /// `AvailableMemoryBuffer` of a dynamic VM that is on; 0 otherwise.
    pub available_buffer_pct: i64,
}

impl Live {
    #[inline(always)]
    pub(crate) fn of(
        flags: u8,
        demand: u32,
        assigned: u32,
        (startup, minimum, maximum): (u32, u32, u32),
        buffer: u16,
        smart_paging_mb: u32,
        u: u64,
    ) -> Live {
        if state_of(flags) == VmState::Off {
            return Live {
                target_mb: 0,
                pressure: 0.0,
                status: Status::Off,
                available_buffer_pct: 0,
            };
        }
        let target_mb = if in_solver(flags) {
            target_of(demand, buffer, minimum, maximum, u)
        } else {
            startup as u64
        };
        let pressure = if assigned == 0 {
            0.0
        } else {
            pressure_of(demand, assigned)
        };
        if flags & DYNAMIC == 0 {
            return Live {
                target_mb,
                pressure,
                status: Status::Static,
                available_buffer_pct: 0,
            };
        }
        let available_buffer_pct = available_buffer_pct(demand, assigned, buffer);
        Live {
            target_mb,
            pressure,
            status: dynamic_status(available_buffer_pct, smart_paging_mb),
            available_buffer_pct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MAX_BUFFER_PCT;

    /// Demand 1000 MB, buffer 20 %: the configured buffer is 200 MB, so 80 %
    /// of it is 160 MB free (assigned 1160).
    #[test]
    fn status_pins_the_80_percent_threshold_on_both_sides() {
        let cases = [
            (1162, 81, Status::Ok),     // 162/200 = 81 %
            (1161, 80, Status::Low),    // 80.5 % rounds down to 80: not above 80
            (1160, 80, Status::Low),    // exactly 80 %
            (1001, 0, Status::Low),     // 0.5 % → 0
            (1000, 0, Status::Low),     // no buffer free, no shortfall
            (999, -1, Status::Warning), // −0.5 % rounds down to −1
            (500, -250, Status::Warning),
            (3000, 1000, Status::Ok), // not capped above
        ];
        for (assigned, pct, status) in cases {
            assert_eq!(available_buffer_pct(1000, assigned, 20), pct, "assigned {assigned}");
            assert_eq!(dynamic_status(pct, 0), status, "assigned {assigned}");
        }
        // Demand 0: the (empty) configured buffer is all free.
        assert_eq!(available_buffer_pct(0, 512, 20), 100);
        assert_eq!(dynamic_status(100, 0), Status::Ok);
        // A Smart Paging file in use outranks the buffer.
        assert_eq!(dynamic_status(500, 1), Status::Paging);
        assert_eq!(dynamic_status(-5, 1), Status::Paging);
    }

    #[test]
    fn memory_available_and_reported_demand_by_hand() {
        // (demand, assigned, MemoryAvailable, MemoryDemand)
        let cases = [
            (1000, 2048, 51, 1003), // 51.17 % → 51; 2048 × 49 / 100 = 1003.52 → 1003
            (1000, 1000, 0, 1000),
            (1100, 1000, -10, 1100),
            (1001, 1000, -1, 1010), // −0.1 % → −1: whole steps of 1 % of assigned
            (1, 1000, 99, 10),
            (0, 1000, 100, 0),
            (0, 0, 0, 0), // off
            (700, 0, 0, 0),
        ];
        for (d, a, ma, rd) in cases {
            assert_eq!(memory_available_pct(d, a), ma, "demand {d} assigned {a}");
            assert_eq!(reported_demand_mb(d, a), rd, "demand {d} assigned {a}");
        }
    }

    /// The u32 forms the tick computes equal the u64 definitions at the
    /// extremes of every input (maximum a multiple of the unit, at most 1 TB).
    #[test]
    fn u32_target_and_demand_cap_match_the_definitions() {
        use crate::config::MAX_MAXIMUM_MB;
        let demands = [
            0u32,
            1,
            2,
            99,
            100,
            101,
            511,
            512,
            4095,
            1 << 20,
            (1 << 20) + 1,
            1 << 31,
            u32::MAX,
        ];
        for u in [1u64, 2, 64, 1024] {
            let up = (u - 1) as u32;
            for mx in [u as u32, 512, 8192, MAX_MAXIMUM_MB - 1024, MAX_MAXIMUM_MB] {
                let mx = mx / u as u32 * u as u32;
                for mn in [0u32, 1, 32, 511, mx / 2, mx, mx + 1] {
                    for b in [0u16, 1, 5, 20, 99, 100, 1999, MAX_BUFFER_PCT] {
                        for d in demands {
                            let case = format!("d {d} b {b} mn {mn} mx {mx} u {u}");
                            assert_eq!(
                                target_u32(d, b, mn, mx, up) as u64,
                                target_of(d, b, mn, mx, u),
                                "{case}"
                            );
                            assert_eq!(
                                demand_cap_u32(d, mn, mx, up) as u64,
                                demand_cap_of(d, mn, mx, u),
                                "{case}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reported_demand_is_demand_rounded_up_to_a_percent_step() {
        for a in [32u32, 100, 1000, 1024, 4095, 65536, u32::MAX] {
            for d in [0u32, 1, 31, 32, 99, 500, 1023, 4096, 100_000, u32::MAX] {
                let r = reported_demand_mb(d, a);
                assert!(r >= d as u64, "d {d} a {a} r {r}");
                assert!(r < d as u64 + a as u64 / 100 + 1, "d {d} a {a} r {r}");
                // extremes stay exact in i64
                let _ = available_buffer_pct(d, a, MAX_BUFFER_PCT);
                let _ = available_buffer_pct(d, a, 5);
            }
        }
    }
}
