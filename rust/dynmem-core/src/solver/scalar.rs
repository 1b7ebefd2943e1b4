//! The solver's passes in 64-bit integers: the definition the vector forms
//! (`x86_64/`) must match, and what runs for large caps, other CPUs and the
//! items a vector loop leaves over.

use super::{Tier, WEIGHT_SCALE};

/// What a probe at level `L` found: `S` at `L` and at `L + 1` (every item
/// rises by at most one unit per level, so `s1 − s0` items step up at
/// `L + 1`), and the weight of the items below their cap at `L` (the
/// search's slope; it takes it for the slope at `L + 1` too, which only
/// its speed depends on).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair {
    pub s0: u64,
    pub w0: u64,
    pub s1: u64,
}

impl Pair {
    /// The sums of two parts.
    pub(crate) fn merged(self, o: Pair) -> Pair {
        Pair {
            s0: self.s0 + o.s0,
            w0: self.w0 + o.w0,
            s1: self.s1 + o.s1,
        }
    }

    /// How many items step up at `L + 1`.
    pub(crate) fn stepping(&self) -> usize {
        (self.s1 - self.s0) as usize
    }
}

/// The probe at level `level` over `range` in 64-bit integers: adds to
/// `sums` and appends the tier weight of each item that steps up at
/// `level + 1` to `list` (at `*k`, in position order; `*k ≤` the first
/// index of `range`, so the list never overtakes the items).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn probe_int(
    level: u64,
    caps: &[u32],
    weights: &[u16],
    tier: Tier,
    list: &mut [u32],
    k: &mut usize,
    sums: &mut Pair,
    range: std::ops::Range<usize>,
) {
    for i in range {
        let w = tier.weight(weights[i]);
        let c = caps[i] as u64;
        let x0 = (level * w / WEIGHT_SCALE).min(c);
        let x1 = ((level + 1) * w / WEIGHT_SCALE).min(c);
        sums.s0 += x0;
        sums.s1 += x1;
        sums.w0 += if x0 < c { w } else { 0 };
        list[*k] = w as u32;
        *k += (x1 > x0) as usize;
    }
}

/// Which of the items stepping up at `L + 1` get the remainder's units: all
/// those of tier weight above `cut`, and the first `ties` (in position
/// order) of weight `cut`. `cut > W`: none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub cut: u64,
    pub ties: u64,
}

/// The hand-out at level `lo` over `range`, in place: replaces each cap in
/// `caps_out` by `min(cap, floor(lo·w/W))`, plus one unit if it steps up at
/// `lo + 1` and `cut` picks it (`*seen`: the stepping items of the cut
/// weight met so far in this part). In the weight-0 tier, positive items
/// are full and keep their cap.
#[inline(always)]
pub(crate) fn finish_int(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    cut: Cut,
    seen: &mut u64,
    range: std::ops::Range<usize>,
) {
    let zero_tier = matches!(tier, Tier::Zero);
    for i in range {
        let (c, w0) = (caps_out[i] as u64, weights[i]);
        if zero_tier && w0 > 0 {
            continue; // full: keeps its cap
        }
        let w = tier.weight(w0);
        let x = (lo * w / WEIGHT_SCALE).min(c);
        let step = x < c && (lo + 1) * w / WEIGHT_SCALE > x;
        let tie = step && w == cut.cut;
        let bonus = (step && w > cut.cut) || (tie && *seen < cut.ties);
        *seen += tie as u64;
        caps_out[i] = (x + bonus as u64) as u32;
    }
}

/// Of the lanes `bits` of a vector step whose items step up at the cut
/// weight, those that get a unit: the first of them while fewer than
/// `ties` such items were `seen` before (all are counted in `seen`).
#[inline(always)]
pub(crate) fn take_ties(bits: u32, seen: &mut u64, ties: u64) -> u32 {
    let avail = ties.saturating_sub(*seen);
    let count = bits.count_ones() as u64;
    *seen += count;
    if count <= avail {
        return bits;
    }
    let (mut rest, mut taken) = (bits, 0u32);
    for _ in 0..avail {
        taken |= rest & rest.wrapping_neg(); // the lowest lane left
        rest &= rest - 1;
    }
    taken
}
