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
//! One pass over the items (a probe) evaluates `S` at a level `L` and at
//! `L + 1`, the weight `Σw` of the items still below their cap at `L` (the
//! slope of `S` is about `Σw/W` units per level), and lists the tier
//! weights of the items stepping up at `L + 1` (`S(L + 1) − S(L)` of them);
//! level 0 and the all-capped level need no pass, and the caller's own pass
//! over the items supplies their totals ([`Scan`]), so the solver adds none.
//! The bracket `[lo, hi)` holds levels known to fit and not to fit. Because
//! `S` is concave, a tangent lands at or below the answer and a chord at or
//! above it, so: from one probed end, step exactly to the tangent's level
//! first, then ¼ further than it says, plus a level, to cross despite the
//! staircase (doubling while it fails to cross: an exponential search);
//! once both ends are probed, take the chord through them; if three probes
//! have not halved the bracket, bisect. A probe is aimed at the guess of the
//! answer itself (it may take the bracket's lower end), so that a right
//! guess closes the bracket in that one pass, with the stepping items
//! listed for the answer. [`fill_with_hint`] probes the hint first (the
//! host passes the previous tick's level for the same stage): a level that
//! did not move costs one pass, one that moved by a level or two, two
//! (under contention at 20k–100k VMs with demand moving ±3 % every tick,
//! 1–1.5 a tick; the search before paired probes took 3–4, the Newton
//! search before it ~16). Three probes that do not halve the bracket switch
//! the search to bisection for good, so the worst case is `O(log2 Lmax)`,
//! about 60 passes (the tests include adversarial inputs a review found,
//! where a one-sided search crawled a level per pass, and bound their
//! passes).
//!
//! The remainder goes to the `k` items stepping at `L + 1`: from the listed
//! weights (a selection among few, a histogram of them when many) come the
//! cut weight and how many items of it get a unit, in position order, and
//! a count over the items (64 at a time, stopping there) finds the position
//! where those ties end (`Cut`). (When the last probe was not at the
//! answer, one more probe there lists them.) The level and the cut are the
//! answer (`Handout`: each item's units follow from its cap, its weight and
//! its position alone, so parts need nothing from each other). The host's
//! tick hands it to pass 2, which computes each VM's units on its way
//! (`solve_scanned`, `tick::Level`); [`fill`] writes them in one last
//! pass. Overall `O(N·passes + W)`, and no allocation beyond the caller's
//! scratch (the list takes the `keys` buffer).
//!
//! The passes (probe and hand-out) have AVX-512 (8 items per step in f64
//! lanes) and AVX2 (8 per step in i32 lanes, `Shares8`: `L·w/W` split at
//! `L = q·W + r`, the division a multiplication; lists packed by a permute
//! from a table) forms (`x86_64/`; pass 2 uses their `Hand8::units`), used
//! when the CPU has them and every cap is ≤ 2^22 units: `floor(L·w/W)` is
//! computed exactly in either; results are identical to the integer forms
//! (`scalar.rs`; tested). On large hosts each pass runs in parts on the
//! pool (`par/`): sums merged, each part's list kept in its own stretch of
//! the buffer (ended by [`LIST_END`]), so results do not depend on the
//! number of threads. (The count for `tie_end` runs on one thread: it
//! reads two columns, once at most.)

mod scalar;
mod search;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64::{avx2, avx512};

use crate::par::{in_parts, split_point};
use crate::simd::vector_prefix;
use crate::VectorCap;
use scalar::{finish_int, probe_int, probe_small, Pair};
pub(crate) use scalar::{Cut, Handout};
use search::find_level_paired;
pub(crate) use search::{find_level, End};

/// Weight scale: the largest legal weight.
pub const WEIGHT_SCALE: u64 = 10_000;

/// Which items a round of water-filling serves, and with what weight:
/// positive weights first, weight 0 only once every positive item is
/// capped. (Not the balancer's stages: a tier is inside one fill.)
#[derive(Clone, Copy)]
pub(crate) enum Tier {
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

/// Largest capacity for which the passes may use their floating-point forms:
/// levels then stay at or below `2^22·W`, `level·w` below `2^49`, and every step
/// of `((level·w) + ½)·10⁻⁴` is exact enough that its floor is `level·w / W`.
const F64_EXACT_CAP: u64 = 1 << 22;

/// `ceil(2^45 / W)`: `floor(x / W) = (x · DIV_W_MAGIC) >> 45` for every
/// `x < 2^27`, since `DIV_W_MAGIC · W − 2^45 = 1168 ≤ 2^(45 − 27)`
/// (Granlund and Montgomery's condition for an exact division by invariant
/// integers); checked in the tests. (`r·w < W² = 10^8 < 2^27`: AVX2's
/// `Shares8` and the portable `Shares32` divide it so.)
pub(crate) const DIV_W_MAGIC: u64 = (1u64 << 45).div_ceil(WEIGHT_SCALE);

/// Ends a part's list of stepping weights when it is shorter than the part
/// (weights are at most [`WEIGHT_SCALE`]).
const LIST_END: u32 = u32::MAX;

/// How a fill runs its passes: `vector_cap` caps the vector forms (the caller
/// lowers it to scalar unless every cap ≤ [`F64_EXACT_CAP`]; each runs
/// where the CPU has it), and each pass goes in `parts` parts on the
/// pool (sums merged, lists kept per part: the same result for any `parts`).
#[derive(Clone, Copy)]
struct Exec {
    vector_cap: VectorCap,
    parts: usize,
    /// Every cap ≤ [`F64_EXACT_CAP`]: the portable passes may take
    /// 32-bit lanes ([`scalar::Shares32`]).
    small: bool,
}

/// One probe pass at `level`, in parts: `S` and the rising weight at
/// `level` and `level + 1` ([`Pair`]), and in `list` each part's list of
/// the tier weights of its items stepping up at `level + 1` (at the front
/// of the part's stretch of `list`, in position order, ended by
/// [`LIST_END`] when shorter than the part).
fn probe(level: u64, caps: &[u32], weights: &[u16], tier: Tier, list: &mut [u32], ex: Exec) -> Pair {
    #[cfg(test)]
    tests::PASSES.with(|p| p.set(p.get() + 1));
    let part = |(caps, weights, list): (&[u32], &[u16], &mut [u32])| {
        let n = caps.len();
        // (The caller lowered the cap to scalar unless every cap is small.)
        let (done, mut sums, mut k): (usize, Pair, usize) =
            vector_prefix!(ex.vector_cap, probe(level, caps, weights, tier, list));
        if ex.small {
            probe_small(level, caps, weights, tier, list, &mut k, &mut sums, done..n);
        } else {
            probe_int(level, caps, weights, tier, list, &mut k, &mut sums, done..n);
        }
        if k < n {
            list[k] = LIST_END;
        }
        sums
    };
    let n = caps.len();
    in_parts((caps, weights, &mut list[..n]), n, ex.parts, &part, &|a: Pair, b, _| {
        a.merged(b)
    })
}

/// Calls `f` with the range of each part that [`in_parts`] cuts `start..start + n`
/// into for `parts` parts, in position order.
fn for_each_part(start: usize, n: usize, parts: usize, f: &mut impl FnMut(std::ops::Range<usize>)) {
    let mid = split_point(n, parts);
    if parts > 1 && mid > 0 {
        for_each_part(start, mid, parts / 2, f);
        for_each_part(start + mid, n - mid, parts - parts / 2, f);
    } else {
        f(start..start + n);
    }
}

/// Each entry of the parts' lists of stepping weights in `list` (as
/// [`probe`] left them over `n` items in `parts` parts), in position order;
/// `k`: how many there are, if known.
fn for_each_listed(list: &[u32], n: usize, parts: usize, k: Option<usize>, mut f: impl FnMut(u32)) {
    if let (Some(k), 0) = (k, split_point(n, parts)) {
        // One part: its list is the first `k` entries (4 a step: fewer
        // loop instructions per entry).
        let quads = list[..k].chunks_exact(4);
        let tail = quads.remainder();
        for q in quads {
            f(q[0]);
            f(q[1]);
            f(q[2]);
            f(q[3]);
        }
        tail.iter().for_each(|&w| f(w));
        return;
    }
    for_each_part(0, n, parts, &mut |r| {
        for &w in &list[r] {
            if w == LIST_END {
                break;
            }
            f(w);
        }
    });
}

/// The hand-out `h`, in parts, in place: each cap in `caps_out` becomes
/// its units ([`Handout::units`]; full items of the weight-0 tier keep
/// their cap).
fn finish(h: Handout, caps_out: &mut [u32], weights: &[u16], tier: Tier, ex: Exec) {
    let n = caps_out.len();
    let part = |(caps_out, weights, start): (&mut [u32], &[u16], Offset)| {
        let h = Handout {
            cut: h.cut.from(start.0),
            ..h
        };
        let n = caps_out.len();
        // (The caller lowered the cap to scalar unless every cap is small.)
        let done: usize = vector_prefix!(ex.vector_cap, finish(h, caps_out, weights, tier));
        finish_int(h, caps_out, weights, tier, done..n);
    };
    in_parts((caps_out, weights, Offset(0)), n, ex.parts, &part, &|_, _, _| ());
}

/// Where a part starts among the items (what [`in_parts`] cuts).
#[derive(Clone, Copy)]
struct Offset(usize);

impl crate::par::Split for Offset {
    fn split_at(self, mid: usize) -> (Offset, Offset) {
        (self, Offset(self.0 + mid))
    }
}

/// Water-fills `budget` units over the items the tier serves: the level and
/// the remainder's cut ([`Handout`]; `caps_out` is left as it was, scratch
/// for [`finish`] to hand out in place). Precondition: their
/// capacities sum to more than `budget`. `hint` (e.g. the previous tick's
/// level) is probed first: when the level has not moved, that one probe
/// (at the hint and the level above) finds it.
/// `w_lo` is the weight of the items with room (their slope at level 0, which
/// needs no pass), `hi` a level at which every item is capped and `s_hi` the
/// units held there (the tier's capacity). `list` is scratch (grown to the
/// number of items once, so that ticks do not allocate).
#[allow(clippy::too_many_arguments)]
fn level_fill(
    budget: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    list: &mut Vec<u32>,
    hint: Option<u64>,
    w_lo: u64,
    hi: (u64, u64),
    ex: Exec,
) -> Handout {
    let n = caps_out.len();
    if list.len() < n {
        list.resize(n, 0); // once per size, so that ticks do not allocate
    }
    let list = &mut list[..n];
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
    // Every probe evaluates two levels and lists the items stepping up
    // between them: the last one's level and sums.
    let mut listed: Option<(u64, Pair)> = None;
    let (lo, s_lo) = find_level_paired(
        budget,
        |l| {
            let p = probe(l, caps_out, weights, tier, list, ex);
            listed = Some((l, p));
            ((p.s0, p.w0), Some((p.s1, p.w0)))
        },
        true,
        hint,
        lo,
        hi,
    );
    // x = min(cap, floor(lo·w/W)) to every item, and the remainder one unit
    // each to the items stepping up at lo + 1: the highest weights, then
    // the earliest positions.
    let rest = budget - s_lo;
    let cut = if rest == 0 {
        Cut::NONE
    } else {
        let sums = match listed {
            Some((l, p)) if l == lo => p,
            _ => probe(lo, caps_out, weights, tier, list, ex),
        };
        debug_assert!(sums.s0 == s_lo && (rest as usize) < sums.stepping());
        let k = sums.stepping();
        let (cut, ties) = remainder_cut(list, n, ex.parts, k, rest as usize);
        #[cfg(test)]
        assert_eq!(
            (cut, ties),
            remainder_cut_with(list, n, ex.parts, k, rest as usize, 0),
            "selection = histogram"
        );
        let tie_end = tie_end(lo, caps_out, weights, tier, cut, ties);
        Cut { cut, tie_end }
    };
    Handout { level: lo, cut }
}

/// Stepping items up to which the remainder's cut weight is found by a
/// selection on the stack (a 1 KB buffer) rather than a histogram of every
/// weight: clearing and scanning 10,001 counts cost ~60k instructions a
/// call whatever the host size, which dominated fleets of small hosts.
const SMALL_CUT: usize = 512;

/// Which stepping items get the remainder's units: the `rest`-th largest
/// of the `k` stepping weights listed in `list` (`1 ≤ rest < k`; as
/// [`probe`] left them over `n` items in `parts` parts) is the cut weight,
/// and the earliest items of that weight get what those above leave: how
/// many ([`tie_end`] finds where they end).
fn remainder_cut(list: &[u32], n: usize, parts: usize, k: usize, rest: usize) -> (u64, u64) {
    remainder_cut_with(list, n, parts, k, rest, SMALL_CUT)
}

/// [`remainder_cut`], selecting up to `small` items (tests compare both ways).
fn remainder_cut_with(list: &[u32], n: usize, parts: usize, k: usize, rest: usize, small: usize) -> (u64, u64) {
    if k <= small.min(SMALL_CUT) {
        let mut buf = [0u16; SMALL_CUT];
        let mut m = 0;
        for_each_listed(list, n, parts, Some(k), |w| {
            buf[m] = w as u16; // ≤ WEIGHT_SCALE
            m += 1;
        });
        let ws = &mut buf[..m];
        ws.select_nth_unstable_by(rest - 1, |a, b| b.cmp(a)); // descending
        let cut = ws[rest - 1] as usize;
        let above = ws.iter().filter(|&&w| w as usize > cut).count();
        return (cut as u64, (rest - above) as u64);
    }
    let mut counts = [0u32; WEIGHT_SCALE as usize + 1];
    for_each_listed(list, n, parts, Some(k), |w| counts[w as usize] += 1);
    // Down from the top weight, 16 weights at a time until the one that
    // holds the cut (the counts total fewer than 2^32: one per item).
    const CHUNK: usize = 16;
    let top = WEIGHT_SCALE as usize; // (a multiple of CHUNK)
    let mut acc = 0usize;
    for base in (0..=top / CHUNK).rev().map(|j| j * CHUNK) {
        let chunk = &counts[base..(base + CHUNK).min(top + 1)];
        let sum = chunk.iter().sum::<u32>() as usize;
        if acc + sum < rest {
            acc += sum;
            continue;
        }
        for (w, &c) in chunk.iter().enumerate().rev() {
            if acc + c as usize >= rest {
                return ((base + w) as u64, (rest - acc) as u64);
            }
            acc += c as usize;
        }
    }
    unreachable!("the remainder is smaller than the number of stepping items")
}

/// Where the `ties` earliest items of tier weight `cut` that step up at
/// `level + 1` end: the position after the last of them (0 if `ties` is
/// 0). All have the same shares, `s0` at `level` and `s1 > s0` above, so
/// one steps exactly when its cap is above `s0`: a count over both columns
/// (which the compiler vectorizes), 64 items at a time, until the chunk
/// that holds the last, walked item by item.
fn tie_end(level: u64, caps: &[u32], weights: &[u16], tier: Tier, cut: u64, ties: u64) -> usize {
    if ties == 0 {
        return 0;
    }
    let s0 = level * cut / WEIGHT_SCALE;
    debug_assert!((level + 1) * cut / WEIGHT_SCALE > s0, "items of the cut weight step");
    // Items of tier weight `cut`: of that weight (positive tier), or of
    // weight 0 when `cut` is the weight-0 tier's (W).
    let key = match tier {
        Tier::Positive => cut as u16, // (≤ W: some stepping item has it)
        Tier::Zero => 0,
    };
    let s0 = s0.min(u32::MAX as u64) as u32;
    let tie = |c: u32, w: u16| (w == key) & (c > s0);
    const CHUNK: usize = 64;
    let mut seen = 0u64;
    let mut start = 0;
    while start < caps.len() {
        let end = caps.len().min(start + CHUNK);
        let (c, w) = (&caps[start..end], &weights[start..end]);
        let mut here = 0u32;
        for (&c, &w) in c.iter().zip(w) {
            here += tie(c, w) as u32;
        }
        if seen + (here as u64) < ties {
            seen += here as u64;
            start = end;
            continue;
        }
        for (p, (&c, &w)) in c.iter().zip(w).enumerate() {
            seen += tie(c, w) as u64;
            if seen == ties {
                return start + p + 1;
            }
        }
        unreachable!("the chunk holds the last tie");
    }
    unreachable!("fewer items of the cut weight step up than get a unit")
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
    match solve_scanned(budget, caps_out, weights, scan, keys, level, (simd, parts)) {
        Solved::Written(left) => left,
        Solved::Hand(h) => {
            finish(
                h,
                caps_out,
                weights,
                Tier::Positive,
                Exec {
                    vector_cap: simd,
                    parts,
                    small: true, // (a hand-out: every cap is small)
                },
            );
            0
        }
    }
}

/// What [`solve_scanned`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Solved {
    /// The caps are the units given (the units left over: non-zero only
    /// when every item is at its cap).
    Written(u64),
    /// The items of positive weight share the budget: each gets its
    /// [`Handout::units`] at its cap and weight (the caps are unchanged; every
    /// cap ≤ `F64_EXACT_CAP`, so the vector forms may compute it).
    Hand(Handout),
}

/// [`fill_scanned_with`], except that when the positive items share the
/// budget and every cap is small, the hand-out is returned rather than
/// written ([`Solved::Hand`]: pass 2 applies it on its way, saving a pass).
pub(crate) fn solve_scanned(
    budget: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    scan: Scan,
    keys: &mut Vec<u32>,
    level: &mut Option<(bool, u64)>,
    (simd, parts): (VectorCap, usize),
) -> Solved {
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
        return Solved::Written(budget - total);
    }
    // Every positive item is capped at level ceil(max cap·W / min weight):
    // a bound for the search that needs no division per item.
    // The vector forms' f64 arithmetic is exact for small caps only.
    let small = max_pos.max(max_zero) as u64 <= F64_EXACT_CAP;
    let vector_cap = if small { simd } else { VectorCap::Scalar };
    let ex = Exec {
        vector_cap,
        parts,
        small,
    };
    if positive > budget {
        let hint = level.and_then(|(zero, l)| (!zero).then_some(l));
        let hi = ((max_pos as u64 * WEIGHT_SCALE).div_ceil(min_w as u64), positive);
        let h = level_fill(budget, caps_out, weights, Tier::Positive, keys, hint, w_pos, hi, ex);
        *level = Some((false, h.level));
        if small {
            return Solved::Hand(h);
        }
        finish(h, caps_out, weights, Tier::Positive, ex);
    } else {
        let hint = level.and_then(|(zero, l)| zero.then_some(l));
        let (w0, hi0) = (n_zero * WEIGHT_SCALE, (max_zero as u64, total - positive));
        let h = level_fill(
            budget - positive,
            caps_out,
            weights,
            Tier::Zero,
            keys,
            hint,
            w0,
            hi0,
            ex,
        );
        *level = Some((true, h.level));
        finish(h, caps_out, weights, Tier::Zero, ex);
    }
    Solved::Written(0)
}
