//! VMware ESX's rule (Waldspurger, OSDI 2002): memory in proportion to
//! shares per page adjusted by the idle memory tax, between the reservation
//! (minimum) and the target (`docs/policies.md`, "SharesPolicy").
//!
//! In balloon units, VM `i` holds `x_i(L) = clamp(floor(L·q_i/W), lo_i,
//! hi_i)` at integer level `L`, `q_i` its effective shares. The level is
//! found by the solver's bracketed search (`solver::find_level`) over
//! one-pass probes; the last tick's level is probed first. The remainder
//! goes one unit each to the VMs that step up at `L + 1`, highest `q` first,
//! ties by position.

use super::{give_targets, targets_fit, PolicyScratch};
use crate::model::{in_solver, Vms};
use crate::solver::{find_level, WEIGHT_SCALE};

const W: u64 = WEIGHT_SCALE;

/// Effective shares `round(w·(1 − τ)/(1 − τ·f))`, at least 1 for a positive
/// weight, with `f = min(1, demand / assigned)` the active fraction.
pub(crate) fn effective_shares(weight: u16, demand: u32, assigned: u32, idle_tax: f64) -> u16 {
    if weight == 0 {
        return 0;
    }
    let f = if assigned == 0 {
        1.0
    } else {
        (demand as f64 / assigned as f64).min(1.0)
    };
    let e = weight as f64 * (1.0 - idle_tax) / (1.0 - idle_tax * f);
    (e.round() as u64).clamp(1, W) as u16
}

/// Which VMs rise with the level: those with positive effective shares, or
/// (once all of those are at their target) those with none, equally.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tier {
    Positive,
    Zero,
}

/// One solver VM's bounds (units) and its share in `tier` (0: fixed).
#[inline(always)]
fn bounds(v: &Vms, target: &[u32], q: &[u16], i: usize, shift: u32, tier: Tier) -> (u64, u64, u64) {
    let (lo, hi) = ((v.minimum[i] >> shift) as u64, (target[i] >> shift) as u64);
    match (tier, q[i]) {
        (Tier::Positive, q) => (lo, hi, q as u64),
        (Tier::Zero, 0) => (lo, hi, W),
        (Tier::Zero, _) => (hi, hi, 0), // at its target already
    }
}

/// `(x, rising)` of an item at `level`.
#[inline(always)]
fn at(level: u64, (lo, hi, q): (u64, u64, u64)) -> (u64, bool) {
    if q == 0 {
        return (lo, false);
    }
    let raw = level.saturating_mul(q) / W;
    (raw.clamp(lo, hi), raw >= lo && raw < hi)
}

pub(super) fn allocate(
    v: &Vms,
    target: &[u32],
    pool: u64,
    u: u64,
    idle_tax: f64,
    g: &mut [u32],
    s: &mut PolicyScratch,
) {
    let n = v.len();
    if targets_fit(v, target, pool) {
        give_targets(v, target, g);
        s.level = None;
        return;
    }
    let shift = u.trailing_zeros();
    let budget = pool >> shift;
    s.q.clear();
    s.q.extend((0..n).map(|i| {
        if in_solver(v.flags[i]) {
            effective_shares(v.weight[i], v.demand[i], v.assigned[i], idle_tax)
        } else {
            0
        }
    }));
    let q = &s.q;
    let solver_vms = || (0..n).filter(|&i| in_solver(v.flags[i]));
    // All positive items at their target: the weight-0 tier.
    let full: u64 = solver_vms()
        .map(|i| {
            let (lo, hi, qi) = bounds(v, target, q, i, shift, Tier::Positive);
            if qi > 0 {
                hi
            } else {
                lo
            }
        })
        .sum();
    let tier = if full <= budget { Tier::Zero } else { Tier::Positive };
    let probe = |level: u64| -> (u64, u64) {
        let (mut sum, mut slope) = (0u64, 0u64);
        for i in solver_vms() {
            let b = bounds(v, target, q, i, shift, tier);
            let (x, rising) = at(level, b);
            sum += x;
            slope += if rising { b.2 } else { 0 };
        }
        (sum, slope)
    };
    // Level 0: every item at its floor; the all-capped level: every item at its bound.
    let (mut s_0, mut hi_level, mut s_hi) = (0u64, 0u64, 0u64);
    for i in solver_vms() {
        let (lo, hi, qi) = bounds(v, target, q, i, shift, tier);
        s_0 += lo;
        if qi > 0 {
            hi_level = hi_level.max((hi * W).div_ceil(qi));
            s_hi += hi;
        } else {
            s_hi += lo;
        }
    }
    debug_assert!(s_0 <= budget && budget < s_hi, "Σ lo ≤ budget < Σ hi");
    let hint = s.level.filter(|_| tier == Tier::Positive);
    let level = find_level(budget, probe, hint, (s_0, 0), (hi_level, s_hi));
    s.level = (tier == Tier::Positive).then_some(level);
    // Hand-out: x(level) to everyone, and a unit each to `rest` of the items
    // stepping up at level + 1, by (q desc, position): a histogram of the
    // steppers' q finds the cut.
    let hist = &mut s.by_weight;
    hist.clear();
    hist.resize(W as usize + 1, 0);
    let mut sum = 0u64;
    for i in 0..n {
        if !in_solver(v.flags[i]) {
            g[i] = 0;
            continue;
        }
        let b = bounds(v, target, q, i, shift, tier);
        let x = at(level, b).0;
        sum += x;
        g[i] = (x << shift) as u32;
        if at(level + 1, b).0 > x {
            hist[b.2 as usize] += 1;
        }
    }
    let mut rest = budget - sum;
    if rest == 0 {
        return;
    }
    let (mut cut, mut above) = (0usize, 0u64);
    for qq in (0..=W as usize).rev() {
        if above + hist[qq] >= rest {
            cut = qq;
            break;
        }
        above += hist[qq];
    }
    let mut at_cut = rest - above;
    for i in solver_vms() {
        let b = bounds(v, target, q, i, shift, tier);
        let qq = b.2 as usize;
        if qq < cut || (qq == cut && at_cut == 0) {
            continue;
        }
        if at(level + 1, b).0 > at(level, b).0 {
            g[i] += u as u32;
            rest -= 1;
            if qq == cut {
                at_cut -= 1;
            }
        }
    }
    debug_assert_eq!(rest, 0, "the remainder is smaller than the number of steppers");
}
