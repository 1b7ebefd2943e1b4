//! Xen squeezed's rule: every solver VM at the same fraction
//! `γ = clamp(surplus / Σ range, 0, 1)` of its `[minimum, maximum]`
//! (`docs/policies.md`, "ProportionalPolicy").

use crate::model::{in_solver, Vms};

/// Writes `g` for the solver set: `minimum + x·u`, `x = floor(range·S/R)`
/// units, the rounding remainder one unit each to the first VMs with room.
pub(super) fn allocate(v: &Vms, pool: u64, u: u64, g: &mut [u32]) {
    let shift = u.trailing_zeros();
    let n = v.len();
    let (mut sum_min, mut sum_range) = (0u64, 0u64);
    for i in (0..n).filter(|&i| in_solver(v.flags[i])) {
        sum_min += v.minimum[i] as u64;
        sum_range += ((v.maximum[i] - v.minimum[i]) as u64) >> shift;
    }
    let surplus = pool.saturating_sub(sum_min) >> shift; // units
    if sum_range <= surplus {
        for i in 0..n {
            g[i] = if in_solver(v.flags[i]) { v.maximum[i] } else { 0 };
        }
        return;
    }
    let mut given = 0u64;
    for i in 0..n {
        if !in_solver(v.flags[i]) {
            g[i] = 0;
            continue;
        }
        let range = ((v.maximum[i] - v.minimum[i]) as u64) >> shift;
        let x = (range as u128 * surplus as u128 / sum_range as u128) as u64;
        given += x;
        g[i] = v.minimum[i] + (x << shift) as u32;
    }
    // The remainder: fewer units than VMs with a positive range, each of
    // which has at least one unit of room (x < range when S < R).
    let mut rest = surplus - given;
    for i in 0..n {
        if rest == 0 {
            break;
        }
        if in_solver(v.flags[i]) && g[i] < v.maximum[i] {
            g[i] += u as u32;
            rest -= 1;
        }
    }
    debug_assert_eq!(rest, 0, "the remainder fits the VMs with room");
}
