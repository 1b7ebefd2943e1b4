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
    find_level_paired(budget, |l| (probe(l), None), false, hint, lo, hi).0
}

/// [`find_level`] with a probe that may also evaluate the next level in the
/// same pass (`probe(L)` returns `S` and the rising weight at `L` and, if
/// it has them, at `L + 1`): a probe that lands on the answer then closes
/// the bracket by itself. Returns the level and `S` there.
///
/// `paired`: every probe has the next level. The search then aims each
/// probe at its best guess of the answer itself (a first tangent step
/// exactly as far as the tangent says, a chord or a hint at the lower end
/// of the bracket allowed), so that when the guess is right that one pass
/// closes the bracket with the answer as the probed level.
pub(crate) fn find_level_paired(
    budget: u64,
    mut probe: impl FnMut(u64) -> ((u64, u64), Option<(u64, u64)>),
    paired: bool,
    hint: Option<u64>,
    lo: End,
    hi: End,
) -> (u64, u64) {
    // The bracket: S(lo) ≤ budget < S(hi), with S and the slope weight (Σw
    // of the items below their cap) at each end.
    let (mut lo, mut s_lo, mut w_lo, mut probed_lo) = (lo.level, lo.s, lo.w, lo.probed);
    let (mut hi, mut s_hi, mut w_hi, mut probed_hi) = (hi.level, hi.s, hi.w, hi.probed);
    // The lowest level a probe may take: above lo, or lo itself when a
    // probe has the next level (it then finds S(lo + 1)).
    let above = !paired as u64;
    let mut next = hint.filter(|&h| h >= lo + above && h < hi);
    // Tangent steps go `boost / 4` times as far as the tangent says (first
    // 1.25×, plus one level, to cross the answer despite the staircase),
    // doubling while they fail to cross: an exponential search. Paired, the
    // first step from each end goes exactly to the tangent's level (4/4):
    // the answer itself when S is straight there.
    let first = if paired { 4 } else { 5 };
    let (mut boost_up, mut boost_down) = (first, first);
    let grow = |boost: u64| if boost == 4 { 5 } else { boost.saturating_mul(2) };
    let mut width_before = [u64::MAX; 3]; // the bracket's width 1, 2 and 3 probes ago
    let mut bisecting = false;
    let tangent = |gap: u64, w: u64, boost: u64, up: bool| -> u64 {
        // At least one unit's worth: from a plateau (gap 0) the step must still grow.
        let (num, den) = (gap.max(1) as u128 * WEIGHT_SCALE as u128, w.max(1) as u128);
        // (The exact step up lands on the last level the tangent fits.)
        let step = if up && boost == 4 { num / den } else { num.div_ceil(den) };
        (step.saturating_mul(boost as u128) / 4).min(u64::MAX as u128 / 2) as u64 + (boost > 4) as u64
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
            let d = tangent(s_hi - budget, w_hi, boost_down, false);
            boost_down = grow(boost_down);
            hi.saturating_sub(d)
        } else if w_lo > 0 {
            let u = tangent(budget - s_lo, w_lo, boost_up, true);
            boost_up = grow(boost_up);
            lo.saturating_add(u)
        } else {
            lo + width / 2
        };
        let cand = cand.clamp(lo + above, hi - 1);
        let ((s, w), next_level) = probe(cand);
        width_before = [width, width_before[0], width_before[1]];
        if s > budget {
            (hi, s_hi, w_hi, probed_hi) = (cand, s, w, true);
        } else {
            (lo, s_lo, w_lo, probed_lo) = (cand, s, w, true);
            // The next level too (cand + 1 ≤ hi): it fits, or it is the answer's upper end.
            if let Some((s1, w1)) = next_level {
                if s1 > budget {
                    (hi, s_hi, w_hi, probed_hi) = (cand + 1, s1, w1, true);
                } else {
                    (lo, s_lo, w_lo) = (cand + 1, s1, w1);
                }
            }
        }
    }
    (lo, s_lo)
}
