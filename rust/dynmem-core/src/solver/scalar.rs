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
/// those of tier weight above `cut`, and those of weight `cut` at positions
/// before `tie_end` (the first so many of them, in position order). `cut >
/// W`: none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub cut: u64,
    pub tie_end: usize,
}

impl Cut {
    /// No remainder: no item gets a unit above its share.
    pub(crate) const NONE: Cut = Cut {
        cut: u64::MAX,
        tie_end: 0,
    };

    /// The cut for the items from `mid` on, positions counted from `mid`.
    pub(crate) fn from(self, mid: usize) -> Cut {
        Cut {
            tie_end: self.tie_end.saturating_sub(mid),
            ..self
        }
    }
}

/// The water-filling's answer at level `level` with the remainder's `cut`:
/// item `i` of cap `c` and tier weight `w` gets `min(c, floor(level·w/W))`
/// units, plus one if it steps up at `level + 1` and the cut picks it.
/// Pass 2 applies it on its way (`tick::Level`), or [`finish_int`] writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handout {
    pub level: u64,
    pub cut: Cut,
}

impl Handout {
    /// The units of the item at position `pos` with cap `c` and tier weight `w`.
    #[inline(always)]
    pub(crate) fn units(&self, c: u64, w: u64, pos: usize) -> u64 {
        let Handout { level, cut } = *self;
        let x = (level * w / WEIGHT_SCALE).min(c);
        let step = x < c && (level + 1) * w / WEIGHT_SCALE > x;
        let bonus = step && (w > cut.cut || (w == cut.cut && pos < cut.tie_end));
        x + bonus as u64
    }
}

/// The hand-out `h` over `range`, in place: replaces each cap in
/// `caps_out` by its units ([`Handout::units`]). In the weight-0 tier,
/// positive items are full and keep their cap.
#[inline(always)]
pub(crate) fn finish_int(h: Handout, caps_out: &mut [u32], weights: &[u16], tier: Tier, range: std::ops::Range<usize>) {
    let zero_tier = matches!(tier, Tier::Zero);
    for i in range {
        let (c, w0) = (caps_out[i] as u64, weights[i]);
        if zero_tier && w0 > 0 {
            continue; // full: keeps its cap
        }
        caps_out[i] = h.units(c, tier.weight(w0), i) as u32;
    }
}
