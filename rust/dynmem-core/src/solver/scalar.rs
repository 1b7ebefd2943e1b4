//! The solver's passes in 64-bit integers: the definition the vector forms
//! (`x86_64/`) must match, and what runs for large caps, other CPUs and the
//! items a vector loop leaves over.

use super::{Tier, WEIGHT_SCALE};

/// [`eval`](super::eval) in 64-bit integers: the definition.
#[inline]
pub(crate) fn eval_int(level: u64, caps: &[u32], weights: &[u16], tier: Tier) -> (u64, u64) {
    let (mut s, mut wsum) = (0u64, 0u64);
    for (&c, &w) in caps.iter().zip(weights) {
        let w = tier.weight(w);
        let c = c as u64;
        let x = (level * w / WEIGHT_SCALE).min(c);
        s += x;
        wsum += if x < c { w } else { 0 };
    }
    (s, wsum)
}

/// The hand-out at level `lo` over `range`, in place: replaces each cap in
/// `caps_out` by the units given, appends the items that step up at `lo + 1`
/// to `keys` (at `*k`, in position order) and returns the units given (in
/// the weight-0 tier, positive items are full and not counted).
#[inline(always)]
pub(crate) fn handout_int(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    keys: &mut [u32],
    k: &mut usize,
    range: std::ops::Range<usize>,
) -> u64 {
    let zero_tier = matches!(tier, Tier::Zero);
    let mut given = 0u64;
    for i in range {
        let (c, w0) = (caps_out[i] as u64, weights[i]);
        let w = tier.weight(w0);
        let full = zero_tier && w0 > 0;
        let x = (lo * w / WEIGHT_SCALE).min(c);
        caps_out[i] = if full { c } else { x } as u32;
        given += if full { 0 } else { x };
        let step = !full && x < c && (lo + 1) * w / WEIGHT_SCALE > x;
        keys[*k] = i as u32;
        *k += step as usize;
    }
    given
}
