//! The allocation solver: weighted water-filling in whole units.
//!
//! # Definition
//! [`fill`] hands `budget` units to items with capacities `caps` in
//! proportion to their weights. With `W = 10_000` (the largest weight), an
//! item of weight `w` holds `min(cap, floor(L·w/W))` units at integer water
//! level `L`. The answer is the largest `L` whose total `S(L)` fits the
//! budget; the remainder `budget − S(L)` goes one unit each to the items
//! that would step up at `L + 1`, highest weight first, ties by position.
//! Because `w ≤ W`, an item rises by at most one unit per level, so the
//! remainder is always smaller than the number of such items. Weight 0 is
//! served only once every positive weight is capped; the rest then goes to
//! the weight-0 items with equal weights, by the same rule.
//!
//! This equals handing out units one at a time to the item whose next unit
//! has the lowest threshold level `ceil(k·W/w)` (ties: higher weight, then
//! earlier position) — the pure-Python reference does exactly that, and the
//! unit tests below check the two against each other.
//!
//! # Algorithm and complexity
//! Finding `L` is a bracketed search on the concave, piecewise linear `S`.
//! One pass over the items evaluates `S(L)` and the weight `Σw` of the items
//! still below their cap (the slope of `S` is about `Σw/W` units per level);
//! level 0 and the all-capped level need no pass, and the caller's own pass
//! over the items supplies their totals ([`Scan`]), so the solver adds none.
//! The bracket `[lo, hi)` holds levels known to fit and not to fit. Because
//! `S` is concave, a tangent lands at or below the answer and a chord at or
//! above it, so: from one probed end, step along its tangent (¼ further
//! than it says, plus a level, to cross despite the staircase; doubling
//! while it fails to cross: an exponential search); once both ends are
//! probed, take the chord through them; if three probes have not halved the
//! bracket, bisect. [`fill_with_hint`] probes the hint first (the host
//! passes the previous tick's level for the same stage). Under contention
//! at 100k VMs with demand moving ±3 % every tick this takes 3–4 passes
//! (the previous Newton search took ~16 there). Three probes that do not
//! halve the bracket switch the search to bisection for good, so the worst
//! case is `O(log2 Lmax)`, about 60 passes (the tests include adversarial
//! inputs a review found, where a one-sided search crawled a level per
//! pass, and bound their passes).
//!
//! The remainder goes to the `k` items stepping at `L + 1` through a
//! histogram of their weights (which weight is cut, and how many of it get
//! a unit, in position order), not a sort; the hand-out lists those items
//! branch-free. Overall `O(N·passes + W)`, and no allocation beyond the
//! caller's scratch.
//!
//! The passes (probe and hand-out) have AVX-512 (8 items per step) and AVX2
//! (4 per step) forms (`x86_64/`), used when the CPU has them and every cap
//! is ≤ 2^22 units: `floor(L·w/W)` is computed exactly in f64 lanes; results
//! are identical to the integer forms (`scalar.rs`; tested). On large hosts
//! each pass runs in parts on the pool (`par/`), merged in position order,
//! so results do not depend on the number of threads.

mod scalar;
mod search;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64::{avx2, avx512};

use crate::par::in_parts;
use crate::simd::vector_prefix;
use crate::VectorCap;
use scalar::{eval_int, handout_int};
pub(crate) use search::{find_level, End};

/// Weight scale: the largest legal weight.
pub const WEIGHT_SCALE: u64 = 10_000;

/// Which items a round of water-filling serves, and with what weight:
/// positive weights first, weight 0 only once every positive item is
/// capped. (Not the balancer's stages: a tier is inside one fill.)
#[derive(Clone, Copy)]
enum Tier {
    /// Items of positive weight, by their weight.
    Positive,
    /// Items of weight 0, with equal weights (the others are capped).
    Zero,
}

impl Tier {
    /// The weight an item has in this tier (0: not served).
    #[inline(always)]
    fn weight(self, w: u16) -> u64 {
        match self {
            Tier::Positive => w as u64,
            Tier::Zero => (w == 0) as u64 * WEIGHT_SCALE,
        }
    }
}

/// Largest capacity for which [`eval`] may use its floating-point form:
/// levels then stay at or below `2^22·W`, `level·w` below `2^49`, and every step
/// of `((level·w) + ½)·10⁻⁴` is exact enough that its floor is `level·w / W`.
const F64_EXACT_CAP: u64 = 1 << 22;

/// How a fill runs its passes: `vector_cap` caps the vector forms (the caller
/// lowers it to scalar unless every cap ≤ [`F64_EXACT_CAP`]; each runs
/// where the CPU has it), and each pass goes in `parts` parts on the
/// pool (sums and lists merged in order: the same result for any `parts`).
#[derive(Clone, Copy)]
struct Exec {
    vector_cap: VectorCap,
    parts: usize,
}

/// One pass at level `level`: units held and the weight of the items below
/// their cap.
#[inline]
fn eval(level: u64, caps: &[u32], weights: &[u16], tier: Tier, ex: Exec) -> (u64, u64) {
    #[cfg(test)]
    tests::PASSES.with(|p| p.set(p.get() + 1));
    eval_parts(level, caps, weights, tier, ex.vector_cap, ex.parts)
}

/// [`eval`] in `parts` parts.
fn eval_parts(
    level: u64,
    caps: &[u32],
    weights: &[u16],
    tier: Tier,
    vector_cap: VectorCap,
    parts: usize,
) -> (u64, u64) {
    let part = |(caps, weights): (&[u32], &[u16])| {
        // (The caller lowered the cap to scalar unless every cap is small.)
        let (done, s, wsum): (usize, u64, u64) = vector_prefix!(vector_cap, eval(level, caps, weights, tier));
        let (s2, w2) = eval_int(level, &caps[done..], &weights[done..], tier);
        (s + s2, wsum + w2)
    };
    let merge = |a: (u64, u64), b: (u64, u64), _| (a.0 + b.0, a.1 + b.1);
    in_parts((caps, weights), caps.len(), parts, &part, &merge)
}

/// The hand-out at level `lo` over all items, in `parts` parts, in place:
/// replaces each cap in `caps_out` by the units given, lists the items that
/// step up at `lo + 1` at the front of `keys` in position order, and
/// returns the units given and how many are listed.
fn handout_parts(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    keys: &mut [u32],
    vector_cap: VectorCap,
    parts: usize,
) -> (u64, usize) {
    let n = caps_out.len();
    let mid = crate::par::split_point(n, parts);
    if parts > 1 && mid > 0 {
        let (co1, co2) = caps_out.split_at_mut(mid);
        let (keys1, keys2) = keys.split_at_mut(mid);
        let (w1, w2) = weights.split_at(mid);
        let ((g1, k1), (g2, k2)) = crate::par::join(
            || handout_parts(lo, co1, w1, tier, keys1, vector_cap, parts / 2),
            || handout_parts(lo, co2, w2, tier, keys2, vector_cap, parts - parts / 2),
        );
        // The second part's list, moved up behind the first's (k1 ≤ mid, so
        // each entry moves down or stays) and made absolute.
        for j in 0..k2 {
            keys[k1 + j] = keys[mid + j] + mid as u32;
        }
        return (g1 + g2, k1 + k2);
    }
    let mut k = 0usize;
    // (The caller lowered the cap to scalar unless every cap is small.)
    let (done, mut given): (usize, u64) =
        vector_prefix!(vector_cap, handout(lo, caps_out, weights, tier, keys, &mut k));
    given += handout_int(lo, caps_out, weights, tier, keys, &mut k, done..n);
    (given, k)
}

/// Water-fills `budget` units over the items the tier serves, in place
/// (each cap in `caps_out` becomes the units given), and returns the level. Precondition: their
/// capacities sum to more than `budget`. `hint` (e.g. the previous tick's
/// level) is probed first: when demand barely moves it is the answer, and
/// the search costs two passes.
/// `w_lo` is the weight of the items with room (their slope at level 0, which
/// needs no pass), `hi` a level at which every item is capped and `s_hi` the
/// units held there (the tier's capacity).
#[allow(clippy::too_many_arguments)]
fn level_fill(
    budget: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    keys: &mut Vec<u32>,
    hint: Option<u64>,
    w_lo: u64,
    hi: (u64, u64),
    ex: Exec,
) -> u64 {
    let (lo, hi) = (
        End {
            level: 0,
            s: 0,
            w: w_lo,
            probed: false,
        },
        End {
            level: hi.0,
            s: hi.1,
            w: 0,
            probed: false,
        },
    );
    let lo = find_level(budget, |l| eval(l, caps_out, weights, tier, ex), hint, lo, hi);
    // Hand out x = min(cap, floor(lo·w/W)) to every item (in the weight-0
    // tier, positive items are full) and list, branch-free, the items that
    // step up at lo + 1, in position order, with a histogram of their weights.
    let n = caps_out.len();
    if keys.len() < n {
        keys.resize(n, 0); // once per size, so that ticks do not allocate
    }
    let keys_n = &mut keys[..n];
    let (given, k) = handout_parts(lo, caps_out, weights, tier, keys_n, ex.vector_cap, ex.parts);
    let out = caps_out;
    let rest = (budget - given) as usize;
    debug_assert!(rest < k.max(1));
    if rest == 0 {
        return lo;
    }
    // The remainder goes to the highest weights, then earliest positions:
    // the cut weight is the rest-th largest weight among the stepping items
    // (a selection among few of them; a histogram of their weights when
    // many), and `at_cut` of the items of that weight get a unit.
    let (cut, at_cut) = remainder_cut(&keys_n[..k], weights, tier, rest);
    #[cfg(test)]
    assert_eq!(
        (cut, at_cut),
        remainder_cut_with(&keys_n[..k], weights, tier, rest, 0),
        "selection = histogram"
    );
    let mut at_cut = at_cut;
    for &i in &keys_n[..k] {
        let w = tier.weight(weights[i as usize]) as usize;
        if w > cut || (w == cut && at_cut > 0) {
            at_cut -= (w == cut) as usize;
            out[i as usize] += 1;
        }
    }
    lo
}

/// Stepping items up to which the remainder's cut weight is found by a
/// selection on the stack (a 1 KB buffer) rather than a histogram of every
/// weight: clearing and scanning 10,001 counts cost ~60k instructions a
/// call whatever the host size, which dominated fleets of small hosts.
const SMALL_CUT: usize = 512;

/// The weight `cut` of the `rest`-th largest weight among the stepping
/// items `keys` (`1 ≤ rest < keys.len()`, every weight ≥ 1 in `tier`), and
/// how many of the items of weight `cut` get a unit (the earliest ones).
fn remainder_cut(keys: &[u32], weights: &[u16], tier: Tier, rest: usize) -> (usize, usize) {
    remainder_cut_with(keys, weights, tier, rest, SMALL_CUT)
}

/// [`remainder_cut`], selecting up to `small` items (tests compare both ways).
fn remainder_cut_with(keys: &[u32], weights: &[u16], tier: Tier, rest: usize, small: usize) -> (usize, usize) {
    let k = keys.len();
    if k <= small.min(SMALL_CUT) {
        let mut buf = [0u16; SMALL_CUT];
        let ws = &mut buf[..k];
        for (w, &i) in ws.iter_mut().zip(keys) {
            *w = tier.weight(weights[i as usize]) as u16; // ≤ WEIGHT_SCALE
        }
        ws.select_nth_unstable_by(rest - 1, |a, b| b.cmp(a)); // descending
        let cut = ws[rest - 1] as usize;
        let above = ws.iter().filter(|&&w| w as usize > cut).count();
        return (cut, rest - above);
    }
    let mut counts = [0u32; WEIGHT_SCALE as usize + 1];
    for &i in keys {
        counts[tier.weight(weights[i as usize]) as usize] += 1;
    }
    let mut acc = 0usize;
    for w in (1..=WEIGHT_SCALE as usize).rev() {
        if acc + counts[w] as usize >= rest {
            return (w, rest - acc);
        }
        acc += counts[w] as usize;
    }
    unreachable!("the remainder is smaller than the number of stepping items")
}

/// Hands `budget` units to items by weighted water-filling (see the module
/// docs). Writes every `out[i]` (`0 ≤ out[i] ≤ caps[i]`) and returns the
/// units left over (non-zero only when every item is at its cap).
pub fn fill(budget: u64, caps: &[u32], weights: &[u16], out: &mut [u32], keys: &mut Vec<u32>) -> u64 {
    fill_with_hint(budget, caps, weights, out, keys, &mut None)
}

/// What [`fill_scanned`] needs to know about the items before its first
/// pass: totals, the slope at level 0 and bounds on the all-capped levels.
/// A caller that builds `caps` in a pass of its own accumulates it there
/// ([`Scan::add`]) and saves the solver a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    pub(crate) total: u64,
    pub(crate) positive: u64,
    pub(crate) w_pos: u64,
    pub(crate) max_pos: u32,
    pub(crate) min_w: u16,
    pub(crate) n_zero: u64,
    pub(crate) max_zero: u32,
}

impl Default for Scan {
    fn default() -> Scan {
        Scan {
            total: 0,
            positive: 0,
            w_pos: 0,
            max_pos: 0,
            min_w: WEIGHT_SCALE as u16,
            n_zero: 0,
            max_zero: 0,
        }
    }
}

impl Scan {
    /// Accounts for one item.
    #[inline(always)]
    pub fn add(&mut self, c: u32, w: u16) {
        self.total += c as u64;
        if w > 0 {
            self.positive += c as u64;
            if c > 0 {
                self.w_pos += w as u64;
                self.max_pos = self.max_pos.max(c);
                self.min_w = self.min_w.min(w);
            }
        } else if c > 0 {
            self.n_zero += 1;
            self.max_zero = self.max_zero.max(c);
        }
    }

    /// The scan of the items of `self` and of `o` together.
    pub(crate) fn merged(mut self, o: &Scan) -> Scan {
        self.total += o.total;
        self.positive += o.positive;
        self.w_pos += o.w_pos;
        self.max_pos = self.max_pos.max(o.max_pos);
        self.min_w = self.min_w.min(o.min_w);
        self.n_zero += o.n_zero;
        self.max_zero = self.max_zero.max(o.max_zero);
        self
    }

    /// The scan of all items.
    pub fn of(caps: &[u32], weights: &[u16]) -> Scan {
        let mut scan = Scan::default();
        for (&c, &w) in caps.iter().zip(weights) {
            scan.add(c, w);
        }
        scan
    }
}

/// [`fill`], probing the level in `*level` first and leaving the level found
/// in it (`None` when no water-filling was needed; the flag marks the
/// weight-0 tier). The result does not depend on the hint, only the number
/// of passes does.
pub fn fill_with_hint(
    budget: u64,
    caps: &[u32],
    weights: &[u16],
    out: &mut [u32],
    keys: &mut Vec<u32>,
    level: &mut Option<(bool, u64)>,
) -> u64 {
    fill_scanned(budget, caps, weights, Scan::of(caps, weights), out, keys, level)
}

/// [`fill_with_hint`] with the items' [`Scan`] already made (it must be the
/// scan of exactly these `caps` and `weights`).
///
/// # Panics
/// If `caps`, `weights` and `out` differ in length, or a weight exceeds
/// [`WEIGHT_SCALE`] (the host validates weights before they get here).
pub fn fill_scanned(
    budget: u64,
    caps: &[u32],
    weights: &[u16],
    scan: Scan,
    out: &mut [u32],
    keys: &mut Vec<u32>,
    level: &mut Option<(bool, u64)>,
) -> u64 {
    assert!(
        weights.iter().all(|&w| w as u64 <= WEIGHT_SCALE),
        "solver::fill: weights must be at most {WEIGHT_SCALE}"
    );
    assert_eq!(caps.len(), out.len());
    out.copy_from_slice(caps);
    fill_scanned_with(budget, out, weights, scan, keys, level, (VectorCap::Avx512, 1))
}

/// [`fill_scanned`] in place (each cap in `caps_out` becomes the units
/// given), with the vector forms capped at `vector_cap` and each pass in
/// `parts` parts on the pool (`par/`): the same results for any of them.
pub(crate) fn fill_scanned_with(
    budget: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    scan: Scan,
    keys: &mut Vec<u32>,
    level: &mut Option<(bool, u64)>,
    (simd, parts): (VectorCap, usize),
) -> u64 {
    assert_eq!(caps_out.len(), weights.len());
    let Scan {
        total,
        positive,
        w_pos,
        max_pos,
        min_w,
        n_zero,
        max_zero,
    } = scan;
    if total <= budget {
        // Everyone gets their cap: `caps_out` already says so.
        *level = None;
        return budget - total;
    }
    // Every positive item is capped at level ceil(max cap·W / min weight):
    // a bound for the search that needs no division per item.
    // The vector forms' f64 arithmetic is exact for small caps only.
    let vector_cap = if max_pos.max(max_zero) as u64 <= F64_EXACT_CAP {
        simd
    } else {
        VectorCap::Scalar
    };
    let ex = Exec { vector_cap, parts };
    if positive > budget {
        let hint = level.and_then(|(zero, l)| (!zero).then_some(l));
        let hi = ((max_pos as u64 * WEIGHT_SCALE).div_ceil(min_w as u64), positive);
        *level = Some((
            false,
            level_fill(budget, caps_out, weights, Tier::Positive, keys, hint, w_pos, hi, ex),
        ));
    } else {
        let hint = level.and_then(|(zero, l)| zero.then_some(l));
        let (w0, hi0) = (n_zero * WEIGHT_SCALE, (max_zero as u64, total - positive));
        *level = Some((
            true,
            level_fill(
                budget - positive,
                caps_out,
                weights,
                Tier::Zero,
                keys,
                hint,
                w0,
                hi0,
                ex,
            ),
        ));
    }
    0
}
