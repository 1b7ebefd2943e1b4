//! The specification's formulas (`docs/balancer.md`): the target, the demand
//! cap, the default reserve, rounding to balloon units, hot-add growth of
//! visible memory, and what is computed from a VM whenever it is read.

use super::vms::{in_solver, state_of, Status, VmState};

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

/// The 2008 R2 SP1 rule of thumb: 384 MB + 64 MB per GB of physical memory.
pub fn default_reserve_mb(physical_mb: u64) -> u64 {
    384 + 64 * physical_mb / 1024
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
    let t = (demand as u64 * (100 + buffer_pct as u64)).div_ceil(100);
    ceil_u(t, u).clamp(minimum as u64, maximum as u64)
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
    ceil_u(demand as u64, u).clamp(minimum as u64, maximum as u64)
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

/// What is computed from a VM's settings and memory whenever it is read
/// (docs/balancer.md, "Status and counters").
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Live {
    pub target_mb: u64,
    pub pressure: f64,
    pub status: Status,
}

impl Live {
    #[inline(always)]
    pub(crate) fn of(
        flags: u8,
        demand: u32,
        assigned: u32,
        (startup, minimum, maximum): (u32, u32, u32),
        buffer: u16,
        u: u64,
    ) -> Live {
        if state_of(flags) == VmState::Off {
            return Live {
                target_mb: 0,
                pressure: 0.0,
                status: Status::Off,
            };
        }
        let target_mb = if in_solver(flags) {
            target_of(demand, buffer, minimum, maximum, u)
        } else {
            startup as u64
        };
        let a = assigned as u64;
        Live {
            target_mb,
            pressure: if a == 0 {
                0.0
            } else {
                demand as f64 / assigned as f64 * 100.0
            },
            status: if a < demand as u64 {
                Status::Warning
            } else if a < target_mb {
                Status::Low
            } else {
                Status::Ok
            },
        }
    }
}
