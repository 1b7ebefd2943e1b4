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
use crate::par::in_parts;
use crate::solver::{find_level, End, WEIGHT_SCALE};

const W: u64 = WEIGHT_SCALE;

/// Effective shares: `w·(1 − τ)/(1 − τ·f)` with `f = min(1, demand /
/// assigned)` the active fraction, computed as `floor(w·(1 − τ)·a / (a −
/// τ·min(d, a)) + 0.5)` in f64, in that order (one division; the reference
/// does the same operations), at least 1 for a positive weight.
#[inline(always)]
pub(crate) fn effective_shares(weight: u16, demand: u32, assigned: u32, keep: f64, idle_tax: f64) -> u16 {
    let a = assigned.max(1) as f64;
    let active = demand.min(assigned.max(1)) as f64;
    let e = weight as f64 * keep * a / (a - idle_tax * active) + 0.5;
    let q = (e as u64).min(W) as u16; // e ≥ 0.5: the cast floors
    q.max((weight > 0) as u16)
}

/// Which VMs rise with the level: those with positive effective shares, or
/// (once all of those are at their target) those with none, equally.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tier {
    Positive,
    Zero,
}

/// `(x, rising weight)` of an item `(lo, hi, q)` (units, share) at `level`:
/// `clamp(floor(level·q/W), lo, hi)`, and `q` while it is strictly inside.
/// An item outside the solver set is `(0, 0, 0)`: it holds 0.
#[inline(always)]
fn at(level: u64, lo: u32, hi: u32, q: u16) -> (u64, u64) {
    let raw = level * q as u64 / W; // level ≤ 2^35, q ≤ W: no overflow
    let (lo, hi) = (lo as u64, hi as u64);
    (raw.clamp(lo, hi), if raw >= lo && raw < hi { q as u64 } else { 0 })
}

/// Σ x and Σ rising weight at `level` over some items.
fn probe_part(level: u64, (lo, hi, q): (&[u32], &[u32], &[u16])) -> (u64, u64) {
    let n = lo.len();
    let (hi, q) = (&hi[..n], &q[..n]);
    let (mut sum, mut slope) = (0u64, 0u64);
    for i in 0..n {
        let (x, r) = at(level, lo[i], hi[i], q[i]);
        sum += x;
        slope += r;
    }
    (sum, slope)
}

/// Fills the items' columns for `tier` (full length; `(0, 0, 0)` outside
/// the solver set): in the positive tier the effective shares are computed
/// (and kept in `s.q`), in the weight-0 tier read from there. Returns Σ lo,
/// the all-capped level and Σ x there.
fn items(v: &Vms, target: &[u32], shift: u32, tier: Tier, idle_tax: f64, s: &mut PolicyScratch) -> (u64, u64, u64) {
    let n = v.len();
    for col in [&mut s.lo, &mut s.hi] {
        col.clear();
        col.resize(n, 0);
    }
    for col in [&mut s.qt, &mut s.q]
        .into_iter()
        .take(if tier == Tier::Positive { 2 } else { 1 })
    {
        col.clear();
        col.resize(n, 0);
    }
    let keep = 1.0 - idle_tax;
    let (mut s_0, mut s_hi) = (0u64, 0u64);
    // The item with the largest hi / q sets the all-capped level (compared
    // by cross-multiplying: one division in all, not one per item).
    let (mut hb, mut qb) = (0u64, 1u64);
    let cols = v
        .flags
        .iter()
        .zip(&v.minimum)
        .zip(target)
        .zip(&v.weight)
        .zip(&v.demand)
        .zip(&v.assigned);
    let out =
        s.lo.iter_mut()
            .zip(s.hi.iter_mut())
            .zip(s.qt.iter_mut())
            .zip(s.q.iter_mut());
    for ((((((&f, &mn), &t), &w), &d), &a), (((lo_out, hi_out), qt), q_all)) in cols.zip(out) {
        if !in_solver(f) {
            continue;
        }
        let (mut lo, hi) = (mn >> shift, t >> shift);
        let q = match tier {
            Tier::Positive => {
                *q_all = effective_shares(w, d, a, keep, idle_tax);
                *q_all
            }
            Tier::Zero if *q_all == 0 => W as u16,
            Tier::Zero => {
                lo = hi; // at its target already
                0
            }
        };
        (*qt, *lo_out, *hi_out) = (q, lo, hi);
        s_0 += lo as u64;
        s_hi += if q > 0 { hi } else { lo } as u64;
        if q > 0 && hi as u64 * qb > hb * q as u64 {
            (hb, qb) = (hi as u64, q as u64);
        }
    }
    (s_0, (hb * W).div_ceil(qb), s_hi)
}

/// A bracket around the level from the last tick's (`hint`): probe it,
/// then step along the slope there a quarter further than it says (plus a
/// level) until the budget is crossed, then along the chord between the two
/// probed ends, until the bracket is [`NARROW`] or six probes are spent.
/// Without a hint, the bounds.
fn bracket(budget: u64, probe: &impl Fn(u64) -> (u64, u64), hint: Option<u64>, lo: End, hi: End) -> (End, End) {
    let Some(mut next) = hint else { return (lo, hi) };
    let (mut lo, mut hi) = (lo, hi);
    for _ in 0..6 {
        let level = next.clamp(lo.level + 1, hi.level - 1);
        let (s, w) = probe(level);
        let e = End {
            level,
            s,
            w,
            probed: true,
        };
        let step = |gap: u64| {
            let d = (gap as u128 * W as u128).div_ceil(w.max(1) as u128);
            (d * 5 / 4).min(u64::MAX as u128 / 4) as u64 + 1
        };
        if s <= budget {
            lo = e;
            next = level.saturating_add(step(budget - s));
        } else {
            hi = e;
            next = level.saturating_sub(step(s - budget));
        }
        if hi.level - lo.level <= NARROW {
            break;
        }
        if lo.probed && hi.probed {
            // The chord between the ends (S is nearly linear there).
            let width = (hi.level - lo.level) as u128;
            next = lo.level + ((budget - lo.s) as u128 * width / (hi.s - lo.s) as u128) as u64;
        }
    }
    (lo, hi)
}

/// A bracket this narrow (levels) is finished in one pass ([`finish`]).
const NARROW: u64 = 64;

/// The level in one pass, when the bracket is narrow: every unit an item
/// gains between the ends is counted at the level where it is gained
/// (`ceil(v·W/q)` for its `v`-th unit), and the running total from `S(lo)`
/// finds the last level that fits. `O(N + width + S(hi) − S(lo))`; `None`
/// when the bracket is too wide for that to pay.
fn finish(
    budget: u64,
    lo: End,
    hi: End,
    (lo_x, hi_x, q): (&[u32], &[u32], &[u16]),
    hist: &mut Vec<u64>,
) -> Option<u64> {
    let n = lo_x.len();
    let width = hi.level - lo.level;
    if width > 1 << 16 || hi.s - lo.s > 4 * n as u64 + 4096 {
        return None;
    }
    hist.clear();
    hist.resize(width as usize, 0); // hist[k]: units gained at level lo + 1 + k
    for i in 0..n {
        if q[i] == 0 {
            continue;
        }
        let qi = q[i] as u64;
        let x0 = at(lo.level, lo_x[i], hi_x[i], q[i]).0;
        let x1 = at(hi.level, lo_x[i], hi_x[i], q[i]).0;
        for v in x0 + 1..=x1 {
            hist[((v * W).div_ceil(qi) - lo.level - 1) as usize] += 1;
        }
    }
    let mut s = lo.s;
    for (k, &h) in hist.iter().enumerate() {
        if s + h > budget {
            return Some(lo.level + k as u64);
        }
        s += h;
    }
    unreachable!("S(hi) > budget")
}

#[allow(clippy::too_many_arguments)]
pub(super) fn allocate(
    v: &Vms,
    target: &[u32],
    pool: u64,
    u: u64,
    idle_tax: f64,
    g: &mut [u32],
    s: &mut PolicyScratch,
    parts: usize,
) {
    let n = v.len();
    if targets_fit(v, target, pool) {
        give_targets(v, target, g);
        s.level = None;
        return;
    }
    let shift = u.trailing_zeros();
    let budget = pool >> shift;
    // The weight-0 tier once every positive item is at its target.
    let mut tier = Tier::Positive;
    let (mut s_0, mut hi_level, mut s_hi) = items(v, target, shift, tier, idle_tax, s);
    if s_hi <= budget {
        tier = Tier::Zero;
        (s_0, hi_level, s_hi) = items(v, target, shift, tier, idle_tax, s);
    }
    debug_assert!(s_0 <= budget && budget < s_hi, "Σ lo ≤ budget < Σ hi");
    let (lo, hi, q) = (&s.lo[..], &s.hi[..], &s.qt[..]);
    let probe = |level: u64| -> (u64, u64) {
        in_parts(
            (lo, hi, q),
            n,
            parts,
            &|d| probe_part(level, d),
            &|a: (u64, u64), b: (u64, u64), _| (a.0 + b.0, a.1 + b.1),
        )
    };
    let (lo_end, hi_end) = bracket(
        budget,
        &probe,
        s.level.filter(|&h| tier == Tier::Positive && h > 0 && h < hi_level),
        End {
            level: 0,
            s: s_0,
            w: 0,
            probed: false,
        },
        End {
            level: hi_level,
            s: s_hi,
            w: 0,
            probed: false,
        },
    );
    let level = match finish(budget, lo_end, hi_end, (lo, hi, q), &mut s.by_weight2) {
        Some(level) => level,
        None => find_level(budget, probe, None, lo_end, hi_end),
    };
    #[cfg(test)]
    assert_eq!(
        level,
        find_level(budget, probe, None, lo_end, hi_end),
        "one-pass finish"
    );
    s.level = (tier == Tier::Positive).then_some(level);
    // Hand-out: x(level) to everyone, and a unit each to `rest` of the items
    // stepping up at level + 1, by (q desc, position): a histogram of the
    // steppers' q finds the cut.
    let hist = &mut s.by_weight;
    hist.clear();
    hist.resize(W as usize + 1, 0);
    let mut sum = 0u64;
    for i in 0..n {
        let x = at(level, lo[i], hi[i], q[i]).0;
        sum += x;
        g[i] = (x << shift) as u32;
        if at(level + 1, lo[i], hi[i], q[i]).0 > x {
            hist[q[i] as usize] += 1;
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
    for i in 0..n {
        let qq = q[i] as usize;
        if qq < cut || (qq == cut && at_cut == 0) {
            continue;
        }
        if at(level + 1, lo[i], hi[i], q[i]).0 > at(level, lo[i], hi[i], q[i]).0 {
            g[i] += u as u32;
            rest -= 1;
            if qq == cut {
                at_cut -= 1;
            }
        }
    }
    debug_assert_eq!(rest, 0, "the remainder is smaller than the number of steppers");
}
