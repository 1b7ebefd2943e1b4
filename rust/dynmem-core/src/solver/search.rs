//! The search for the water level: a bracketed tangent/chord search on the
//! concave staircase `S(L)`, falling back to bisection (see the module docs
//! of `solver`).

use super::WEIGHT_SCALE;

/// One end of the search's bracket: a level, `S` there and the weight of
/// the items still rising there; `probed` once a pass evaluated it (rather
/// than it being a bound known without a pass: only probed ends are near
/// the answer, and the chord is taken only between two of them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    pub level: u64,
    pub s: u64,
    pub w: u64,
    pub probed: bool,
}

/// Finds the largest level `L` with `S(L) ≤ budget`, given the bracket
/// `S(lo) ≤ budget < S(hi)`; `probe(L)` is one pass, returning `S(L)` and
/// the weight of the items still rising there (the slope of `S` is about
/// that weight `/ W` units per level). See the module docs. The search is
/// exact for any non-decreasing `S`; it is fast when `S` is concave
/// (Hyper-V's fill) or nearly so, or when both ends are probed and close.
pub(crate) fn find_level(
    budget: u64,
    mut probe: impl FnMut(u64) -> (u64, u64),
    hint: Option<u64>,
    lo: End,
    hi: End,
) -> u64 {
    // The bracket: S(lo) ≤ budget < S(hi), with S and the slope weight (Σw
    // of the items below their cap) at each end.
    let (mut lo, mut s_lo, mut w_lo, mut probed_lo) = (lo.level, lo.s, lo.w, lo.probed);
    let (mut hi, mut s_hi, mut w_hi, mut probed_hi) = (hi.level, hi.s, hi.w, hi.probed);
    let mut next = hint.filter(|&h| h > lo && h < hi);
    // Tangent steps go `boost / 4` times as far as the tangent says (first
    // 1.25×, plus one level, to cross the answer despite the staircase),
    // doubling while they fail to cross: an exponential search.
    let (mut boost_up, mut boost_down) = (5u64, 5u64);
    let mut width_before = [u64::MAX; 3]; // the bracket's width 1, 2 and 3 probes ago
    let mut bisecting = false;
    let tangent = |gap: u64, w: u64, boost: u64| -> u64 {
        // At least one unit's worth: from a plateau (gap 0) the step must still grow.
        let step = (gap.max(1) as u128 * WEIGHT_SCALE as u128).div_ceil(w.max(1) as u128);
        (step.saturating_mul(boost as u128) / 4).min(u64::MAX as u128 / 2) as u64 + 1
    };
    while hi - lo > 1 {
        let width = hi - lo;
        // Three probes that did not halve the bracket: bisect from then on,
        // whatever the other rules would say (this bounds the worst case;
        // one-sided tangent steps can otherwise crawl a level at a time).
        bisecting |= width > 8 && width_before[2] != u64::MAX && width > width_before[2] / 2;
        let cand = if let Some(h) = next.take() {
            h
        } else if bisecting {
            lo + width / 2
        } else if probed_lo && probed_hi {
            // The chord through both ends, rounded down (the answer is the
            // last level that fits).
            lo + ((budget - s_lo) as u128 * width as u128 / (s_hi - s_lo) as u128) as u64
        } else if probed_hi && w_hi > 0 {
            // S is concave: the tangent at hi lies above it, so stepping down
            // along it lands at or below the answer.
            let d = tangent(s_hi - budget, w_hi, boost_down);
            boost_down = boost_down.saturating_mul(2);
            hi.saturating_sub(d)
        } else if w_lo > 0 {
            let u = tangent(budget - s_lo, w_lo, boost_up);
            boost_up = boost_up.saturating_mul(2);
            lo.saturating_add(u)
        } else {
            lo + width / 2
        };
        let cand = cand.clamp(lo + 1, hi - 1);
        let (s, w) = probe(cand);
        width_before = [width, width_before[0], width_before[1]];
        if s > budget {
            (hi, s_hi, w_hi, probed_hi) = (cand, s, w, true);
        } else {
            (lo, s_lo, w_lo, probed_lo) = (cand, s, w, true);
        }
    }
    lo
}
