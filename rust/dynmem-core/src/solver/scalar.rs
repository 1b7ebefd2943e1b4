//! The solver's passes in 64-bit integers: the definition the vector forms
//! (`x86_64/`) must match, and what runs for large caps; and the portable
//! form for small caps ([`Shares32`]: the same shares in 32-bit operations,
//! in loops the compiler vectorizes), which runs on other CPUs and on the
//! items a vector loop leaves over.

use super::{Tier, DIV_W_MAGIC, WEIGHT_SCALE};

/// [`WEIGHT_SCALE`] as a u32.
const W32: u32 = WEIGHT_SCALE as u32;

/// `floor(level·w/W)` for one level in 32-bit operations, exactly, for caps
/// up to 2^22 (`F64_EXACT_CAP`) and weights up to W: the portable twin of
/// AVX2's `Shares8`, written for the loop vectorizer (4 lanes on SSE2 and
/// NEON). With `level = q·W + r` (`r < W`): `q·w + floor(r·w/W)`. `r·w <
/// 10^8` is an exact u32 product, `floor(r·w/W)` its product with
/// [`DIV_W_MAGIC`] shifted right by 45; `q·w` is exact in f32 up to 2^24
/// and clamped to 2^23, above every cap. The step at `level + 1` is
/// `(r·w mod W) + w ≥ W` (`w ≤ W`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shares32 {
    q: f32,
    r: u32,
}

impl Shares32 {
    pub(crate) fn of(level: u64) -> Shares32 {
        Shares32 {
            // (Exact: at most 2^24.)
            q: (level / WEIGHT_SCALE).min(1 << 24) as f32,
            r: (level % WEIGHT_SCALE) as u32,
        }
    }

    /// For cap `c ≤ 2^22` and tier weight `w ≤ W`: `x = min(c,
    /// floor(level·w/W))`, and whether the item steps up at `level + 1`
    /// (`x < c` and its share rises).
    #[inline(always)]
    pub(crate) fn at(self, c: u32, w: u32) -> (u32, bool) {
        let rw = self.r * w;
        let f = ((rw as u64 * DIV_W_MAGIC) >> 45) as u32;
        let rises = rw - f * W32 + w >= W32;
        // A select rather than `f32::min` (whose NaN rule keeps the loop
        // scalar), and a plain conversion: 0 ≤ q·w, clamped to 2^23.
        let qw = self.q * w as f32;
        let qw = if qw < (1u32 << 23) as f32 {
            qw
        } else {
            (1u32 << 23) as f32
        };
        // SAFETY: `qw` is a number in [0, 2^23] (q and w are finite and
        // non-negative), so it converts to i32 without rounding past it.
        let qw = unsafe { qw.to_int_unchecked::<i32>() } as u32;
        let x = c.min(qw + f);
        (x, rises & (c > x))
    }
}

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
/// index of `range`, so the list never overtakes the items). For any cap;
/// [`probe_small`] is the same for caps up to 2^22.
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

/// Items per block of [`probe_small`]: its sums in u32 (each item adds at
/// most 2^22 + 1 units, or a weight), its stepping flags on the stack.
const BLOCK: usize = 256;

/// [`probe_int`] for caps up to 2^22, by [`Shares32`], in blocks: one loop
/// without branch or store but the stepping flags', which the compiler
/// vectorizes (sums per block in u32), then one that lists the stepping
/// items' weights from the flags.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn probe_small(
    level: u64,
    caps: &[u32],
    weights: &[u16],
    tier: Tier,
    list: &mut [u32],
    k: &mut usize,
    sums: &mut Pair,
    range: std::ops::Range<usize>,
) {
    assert!(*k <= range.start && range.end <= list.len());
    let shares = Shares32::of(level);
    let mut lo = range.start;
    while lo < range.end {
        let hi = range.end.min(lo + BLOCK);
        let (caps, weights) = (&caps[lo..hi], &weights[lo..hi]);
        let mut steps = [0u8; BLOCK];
        let (s0, s1, w0) = match tier {
            Tier::Positive => probe_block(shares, caps, weights, |w| w as u32, &mut steps),
            Tier::Zero => probe_block(shares, caps, weights, |w| (w == 0) as u32 * W32, &mut steps),
        };
        (sums.s0, sums.s1, sums.w0) = (sums.s0 + s0 as u64, sums.s1 + s1 as u64, sums.w0 + w0 as u64);
        for (j, (&w, &step)) in weights.iter().zip(&steps).enumerate() {
            // SAFETY: `*k ≤ lo + j`: it was at most `range.start` (asserted)
            // and grows by at most one per item; and `lo + j < range.end ≤
            // list.len()` (asserted). (An index the compiler cannot bound
            // costs a compare and a branch per item here.)
            unsafe { *list.get_unchecked_mut(*k) = tier.weight(w) as u32 };
            debug_assert!(*k <= lo + j);
            *k += step as usize;
        }
        lo = hi;
    }
}

/// [`probe_small`]'s sums over one block (`S` at `L` and `L + 1`, the
/// weight below its cap), each item's stepping flag in `steps`.
#[inline(always)]
fn probe_block(
    shares: Shares32,
    caps: &[u32],
    weights: &[u16],
    tier_w: impl Fn(u16) -> u32,
    steps: &mut [u8; BLOCK],
) -> (u32, u32, u32) {
    let (mut s0, mut s1, mut w0) = (0u32, 0u32, 0u32);
    let n = caps.len().min(weights.len()).min(BLOCK);
    for j in 0..n {
        let (c, w) = (caps[j], tier_w(weights[j]));
        let (x, step) = shares.at(c, w);
        s0 += x;
        s1 += x + step as u32;
        w0 += if x < c { w } else { 0 };
        steps[j] = step as u8;
    }
    (s0, s1, w0)
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

    /// The hand-out for caps up to 2^22, in 32-bit operations ([`HandSmall`]).
    pub(crate) fn small(&self) -> HandSmall {
        HandSmall {
            shares: Shares32::of(self.level),
            // (Above every weight when none is cut.)
            cut: self.cut.cut.min(WEIGHT_SCALE + 1) as u32,
            tie_end: self.cut.tie_end,
        }
    }
}

/// A [`Handout`] for caps up to 2^22, by [`Shares32`]: pass 2's portable
/// form computes each VM's units on its way, in a loop the compiler
/// vectorizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandSmall {
    shares: Shares32,
    cut: u32,
    tie_end: usize,
}

impl HandSmall {
    /// [`Handout::units`] of an item with cap `c ≤ 2^22` and tier weight
    /// `w`; `early`: its position is before the cut's `tie_end` (a loop
    /// over a block compares its index in the block, in 32 bits).
    #[inline(always)]
    pub(crate) fn units(&self, c: u32, w: u32, early: bool) -> u32 {
        let (x, step) = self.shares.at(c, w);
        let bonus = w > self.cut || (w == self.cut && early);
        x + (step & bonus) as u32
    }

    /// The position where the cut's ties end.
    pub(crate) fn tie_end(&self) -> usize {
        self.tie_end
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
