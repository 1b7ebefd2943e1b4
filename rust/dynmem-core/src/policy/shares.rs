//! VMware ESX's rule (Waldspurger, OSDI 2002): memory in proportion to
//! shares, idle memory taxed (`docs/policies.md`, "SharesPolicy").
//!
//! ESX revokes from the VM with the lowest `ρ = S / (A + k·(P − A))` (`A`
//! active, `P` allocated pages, `k = 1/(1 − τ)`); at equilibrium `ρ` is
//! equal, so `P = A + (1 − τ)·(c·S − A)` above the active memory and
//! `P = c·S` below it, for one level `c`. Here `A` is the demand cap: in
//! balloon units VM `i` holds `x_i(L) = clamp(r_i(L), lo_i, hi_i)` at
//! integer level `L`, with `r_i(L) = floor(L·w_i/W)` up to its demand cap
//! `d_i` and `floor((t·d_i·W + (W − t)·L·w_i)/W²)` above it (`t = τ·W`).
//! The level is found from the last tick's (a bracket of a few probes, then
//! one counting pass) or by the solver's search (`solver::find_level`);
//! the remainder goes one unit each to the VMs that step up at `L + 1`,
//! highest weight first, ties by position.

use super::{give_targets, PolicyScratch};
use crate::model::rules::demand_cap_of;
use crate::model::{in_solver, Vms};
use crate::par::in_parts;
use crate::solver::{find_level, End, WEIGHT_SCALE};

const W: u64 = WEIGHT_SCALE;

/// The idle tax as `t = round(τ·W)`, at most `W − 1`: the rule's integer τ.
pub(crate) fn tax_of(idle_tax: f64) -> u64 {
    ((idle_tax * W as f64).round() as u64).min(W - 1)
}

/// Which VMs rise with the level: those with a positive weight, or (once all
/// of those are at their target) those of weight 0, with equal weights.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tier {
    Positive,
    Zero,
}

/// One VM as the rule sees it (units; `w` its weight in the tier, 0: fixed).
#[derive(Clone, Copy)]
struct Item {
    lo: u64,
    hi: u64,
    d: u64,
    w: u64,
}

impl Item {
    #[inline(always)]
    fn of(lo: &[u32], hi: &[u32], d: &[u32], w: &[u16], i: usize) -> Item {
        Item {
            lo: lo[i] as u64,
            hi: hi[i] as u64,
            d: d[i] as u64,
            w: w[i] as u64,
        }
    }

    /// `(x, slope weight)` at `level`: the holding, and the weight the VM
    /// rises with there (`w` up to its demand cap, `w·(W − t)/W` above, 0
    /// at a bound). Products saturate: a saturated `r` is above any `hi`.
    #[inline(always)]
    fn at(self, level: u64, t: u64) -> (u64, u64) {
        if self.w == 0 {
            return (self.lo, 0);
        }
        let lw = level.saturating_mul(self.w);
        let (r, slope) = if lw <= self.d * W {
            (lw / W, self.w)
        } else {
            let num = (t * self.d * W).saturating_add((W - t).saturating_mul(lw));
            (num / (W * W), self.w * (W - t) / W)
        };
        (
            r.clamp(self.lo, self.hi),
            if r >= self.lo && r < self.hi { slope } else { 0 },
        )
    }

    /// The lowest level at which `r ≥ v` (`v ≥ 1`, `w > 0`).
    #[inline(always)]
    fn level_of(self, v: u64, t: u64) -> u64 {
        if v <= self.d {
            (v * W).div_ceil(self.w)
        } else {
            (v * W * W - t * self.d * W).div_ceil((W - t) * self.w)
        }
    }
}

/// Some items' columns: (floor, ceiling), (demand cap, weight).
type Cols<'a> = ((&'a [u32], &'a [u32]), (&'a [u32], &'a [u16]));

/// Σ x and Σ slope weight at `level` over some items.
fn probe_part(level: u64, t: u64, ((lo, hi), (d, w)): Cols<'_>) -> (u64, u64) {
    let n = lo.len();
    let (hi, d, w) = (&hi[..n], &d[..n], &w[..n]);
    let (mut sum, mut slope) = (0u64, 0u64);
    for i in 0..n {
        let (x, r) = Item::of(lo, hi, d, w, i).at(level, t);
        sum += x;
        slope += r;
    }
    (sum, slope)
}

/// Fills the items' columns for `tier` (full length; zero outside the
/// solver set, which holds 0). Returns Σ lo, the all-capped level and Σ x
/// there.
fn items(v: &Vms, target: &[u32], u: u64, t: u64, tier: Tier, s: &mut PolicyScratch) -> (u64, u64, u64) {
    let n = v.len();
    let shift = u.trailing_zeros();
    for col in [&mut s.lo, &mut s.hi, &mut s.d] {
        col.clear();
        col.resize(n, 0);
    }
    s.qt.clear();
    s.qt.resize(n, 0);
    let (mut s_0, mut s_hi) = (0u64, 0u64);
    let mut best = (0u64, 1u64); // the largest level fraction (num, den)
    for i in 0..n {
        if !in_solver(v.flags[i]) {
            continue;
        }
        let (mut lo, hi) = (v.minimum[i] >> shift, target[i] >> shift);
        let d = (demand_cap_of(v.demand[i], v.minimum[i], v.maximum[i], u) >> shift) as u32;
        let w = match (tier, v.weight[i]) {
            (Tier::Positive, w) => w,
            (Tier::Zero, 0) => W as u16,
            (Tier::Zero, _) => {
                lo = hi; // at its target already
                0
            }
        };
        (s.lo[i], s.hi[i], s.d[i], s.qt[i]) = (lo, hi, d, w);
        s_0 += lo as u64;
        if w > 0 && hi > lo {
            // The level at which the item reaches hi is num / den rounded up
            // ([`Item::level_of`]); the largest fraction is kept by
            // cross-multiplying, one division in all rather than one per VM.
            let (h, d, w) = (hi as u64, d as u64, w as u64);
            let (num, den) = if h <= d {
                (h * W, w)
            } else {
                (h * W * W - t * d * W, (W - t) * w)
            };
            if num as u128 * best.1 as u128 > best.0 as u128 * den as u128 {
                best = (num, den);
            }
            s_hi += hi as u64;
        } else {
            s_hi += lo as u64;
        }
    }
    (s_0, best.0.div_ceil(best.1), s_hi)
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
/// ([`Item::level_of`]), and the running total from `S(lo)` finds the last
/// level that fits. `O(N + width + S(hi) − S(lo))`; `None` when the bracket
/// is too wide for that to pay.
fn finish(
    budget: u64,
    (lo, hi): (End, End),
    t: u64,
    cols: (&[u32], &[u32], &[u32], &[u16]),
    hist: &mut Vec<u64>,
) -> Option<u64> {
    let (lo_x, hi_x, d, w) = cols;
    let n = lo_x.len();
    let width = hi.level - lo.level;
    if width > 1 << 16 || hi.s - lo.s > 4 * n as u64 + 4096 {
        return None;
    }
    hist.clear();
    hist.resize(width as usize, 0); // hist[k]: units gained at level lo + 1 + k
    for i in 0..n {
        let item = Item::of(lo_x, hi_x, d, w, i);
        if item.w == 0 {
            continue;
        }
        let x0 = item.at(lo.level, t).0;
        let x1 = item.at(hi.level, t).0;
        for v in x0 + 1..=x1 {
            hist[(item.level_of(v, t) - lo.level - 1) as usize] += 1;
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
    (target, fit): (&[u32], bool),
    pool: u64,
    u: u64,
    idle_tax: f64,
    g: &mut [u32],
    s: &mut PolicyScratch,
    parts: usize,
) {
    let n = v.len();
    if fit {
        give_targets(v, target, g);
        s.level = None;
        return;
    }
    let (shift, t) = (u.trailing_zeros(), tax_of(idle_tax));
    let budget = pool >> shift;
    // The weight-0 tier once every positive item is at its target.
    let mut tier = Tier::Positive;
    let (mut s_0, mut hi_level, mut s_hi) = items(v, target, u, t, tier, s);
    if s_hi <= budget {
        tier = Tier::Zero;
        (s_0, hi_level, s_hi) = items(v, target, u, t, tier, s);
    }
    debug_assert!(s_0 <= budget && budget < s_hi, "Σ lo ≤ budget < Σ hi");
    let (lo, hi, d, w) = (&s.lo[..], &s.hi[..], &s.d[..], &s.qt[..]);
    let probe = |level: u64| -> (u64, u64) {
        in_parts(
            ((lo, hi), (d, w)),
            n,
            parts,
            &|c| probe_part(level, t, c),
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
    let level = match finish(budget, (lo_end, hi_end), t, (lo, hi, d, w), &mut s.by_weight2) {
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
    // stepping up at level + 1, by (weight desc, position): a histogram of
    // the steppers' weights finds the cut.
    let hist = &mut s.by_weight;
    hist.clear();
    hist.resize(W as usize + 1, 0);
    let mut sum = 0u64;
    for i in 0..n {
        let item = Item::of(lo, hi, d, w, i);
        let x = item.at(level, t).0;
        sum += x;
        g[i] = (x << shift) as u32;
        if item.at(level + 1, t).0 > x {
            hist[item.w as usize] += 1;
        }
    }
    let mut rest = budget - sum;
    if rest == 0 {
        return;
    }
    let (mut cut, mut above) = (0usize, 0u64);
    for ww in (0..=W as usize).rev() {
        if above + hist[ww] >= rest {
            cut = ww;
            break;
        }
        above += hist[ww];
    }
    let mut at_cut = rest - above;
    for i in 0..n {
        let item = Item::of(lo, hi, d, w, i);
        let ww = item.w as usize;
        if ww < cut || (ww == cut && at_cut == 0) {
            continue;
        }
        if item.at(level + 1, t).0 > item.at(level, t).0 {
            g[i] += u as u32;
            rest -= 1;
            if ww == cut {
                at_cut -= 1;
            }
        }
    }
    debug_assert_eq!(rest, 0, "the remainder is smaller than the number of steppers");
}
