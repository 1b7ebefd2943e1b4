//! The allocation solver: staged, weighted water-filling in whole units.
//!
//! # Algorithm
//! [`fill`] hands `budget` units to items with capacities `caps` in
//! proportion to their weights. With `W = 10_000` (the largest weight), an
//! item of weight `w` holds `min(cap, floor(L·w/W))` units at integer water
//! level `L`. The solver finds the largest `L` whose total fits the budget by
//! bisection over `L` (each probe is one pass over the items), then gives
//! the remainder, one unit each, to the items that would step up at `L + 1`,
//! highest weight first, ties by position. Because `w ≤ W`, an item rises by
//! at most one unit per level, so the remainder is always smaller than the
//! number of such items.
//!
//! Complexity: `O(N · log2(Lmax))` with `Lmax ≤ cap·W/w_min` (≤ ~33 probes
//! for any legal input), plus `O(k log k)` to order the `k` items stepping at
//! `L + 1`; no allocation beyond the caller's scratch vector.
//!
//! Weight 0 is served only once every positive weight is capped; the rest
//! then goes to the weight-0 items with equal weights, by the same rule.
//! The result equals handing out units one at a time to the item whose next
//! unit has the lowest threshold level `ceil(k·W/w)` (ties: higher weight,
//! then earlier position) — the pure-Python reference does exactly that.

/// Weight scale: the largest legal weight.
pub const WEIGHT_SCALE: u64 = 10_000;

/// Units held at level `level` by an item of weight `w` and capacity `cap`.
#[inline(always)]
fn at_level(level: u64, w: u64, cap: u64) -> u64 {
    (level * w / WEIGHT_SCALE).min(cap)
}

/// Water-fills `budget` units over the items with `weight(i) > 0`, writing
/// `out[i]` for those items only. Precondition: their capacities sum to
/// more than `budget`.
fn level_fill(
    budget: u64,
    caps: &[u64],
    weight: impl Fn(usize) -> u64,
    out: &mut [u64],
    scratch: &mut Vec<(u64, usize)>,
) {
    let total = |level: u64| -> u64 {
        let mut s = 0u64;
        for (i, &c) in caps.iter().enumerate() {
            s += at_level(level, weight(i), c);
        }
        s
    };
    // Level at which every item is capped: the answer lies below it.
    let mut hi = 0u64;
    for (i, &c) in caps.iter().enumerate() {
        let w = weight(i);
        if w > 0 {
            hi = hi.max((c * WEIGHT_SCALE).div_ceil(w));
        }
    }
    let mut lo = 0u64; // total(lo) <= budget, total(hi) > budget
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if total(mid) <= budget {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut given = 0u64;
    scratch.clear();
    for (i, &c) in caps.iter().enumerate() {
        let w = weight(i);
        if w == 0 {
            continue;
        }
        let x = at_level(lo, w, c);
        out[i] = x;
        given += x;
        if x < c && (lo + 1) * w / WEIGHT_SCALE > x {
            scratch.push((w, i));
        }
    }
    let rest = (budget - given) as usize;
    debug_assert!(rest < scratch.len().max(1));
    if rest > 0 {
        // Highest weight first, then earlier position.
        scratch.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in &scratch[..rest] {
            out[i] += 1;
        }
    }
}

/// Hands `budget` units to items by weighted water-filling (see the module
/// docs). Writes every `out[i]` (`0 ≤ out[i] ≤ caps[i]`) and returns the
/// units left over (non-zero only when every item is at its cap).
pub fn fill(
    budget: u64,
    caps: &[u64],
    weights: &[u16],
    out: &mut [u64],
    scratch: &mut Vec<(u64, usize)>,
) -> u64 {
    assert_eq!(caps.len(), weights.len());
    assert_eq!(caps.len(), out.len());
    let total: u64 = caps.iter().sum();
    if total <= budget {
        out.copy_from_slice(caps);
        return budget - total;
    }
    let positive: u64 = caps.iter().zip(weights).filter(|(_, &w)| w > 0).map(|(c, _)| c).sum();
    if positive > budget {
        for (o, &w) in out.iter_mut().zip(weights) {
            if w == 0 {
                *o = 0;
            }
        }
        level_fill(budget, caps, |i| weights[i] as u64, out, scratch);
    } else {
        for ((o, &c), &w) in out.iter_mut().zip(caps).zip(weights) {
            if w > 0 {
                *o = c;
            }
        }
        let zero_weight = |i: usize| if weights[i] == 0 { WEIGHT_SCALE } else { 0 };
        level_fill(budget - positive, caps, zero_weight, out, scratch);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(budget: u64, caps: &[u64], weights: &[u16]) -> (Vec<u64>, u64) {
        let mut out = vec![u64::MAX; caps.len()];
        let left = fill(budget, caps, weights, &mut out, &mut Vec::new());
        (out, left)
    }

    /// Unit-at-a-time greedy: the obviously-correct definition.
    fn greedy(budget: u64, caps: &[u64], weights: &[u16]) -> Vec<u64> {
        let mut x = vec![0u64; caps.len()];
        let positive_capped = |x: &[u64]| (0..caps.len()).all(|i| weights[i] == 0 || x[i] == caps[i]);
        for _ in 0..budget {
            let zero_stage = positive_capped(&x);
            let mut best: Option<(u64, u64, usize)> = None; // (threshold, W - w, i)
            for i in 0..caps.len() {
                let w = if zero_stage {
                    if weights[i] == 0 { WEIGHT_SCALE } else { 0 }
                } else {
                    weights[i] as u64
                };
                if w == 0 || x[i] == caps[i] {
                    continue;
                }
                let key = (((x[i] + 1) * WEIGHT_SCALE).div_ceil(w), WEIGHT_SCALE - w, i);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
            match best {
                Some((_, _, i)) => x[i] += 1,
                None => break,
            }
        }
        x
    }

    #[test]
    fn everything_fits() {
        assert_eq!(run(100, &[10, 20], &[1, 0]), (vec![10, 20], 70));
    }

    #[test]
    fn proportional_to_weight() {
        // The reference scenario: 3.5 GB above the floors in 2 MB units.
        assert_eq!(run(1792, &[1000, 2000], &[2000, 5000]).0, vec![512, 1280]);
    }

    #[test]
    fn remainder_goes_to_higher_weight_then_earlier() {
        assert_eq!(run(3, &[10, 10], &[5000, 5000]).0, vec![2, 1]);
        assert_eq!(run(3, &[10, 10], &[4000, 5000]).0, vec![1, 2]);
    }

    #[test]
    fn caps_respected_and_rest_redistributed() {
        assert_eq!(run(10, &[2, 100], &[5000, 5000]).0, vec![2, 8]);
    }

    #[test]
    fn weight_zero_served_last() {
        assert_eq!(run(10, &[6, 100], &[1, 0]).0, vec![6, 4]);
        assert_eq!(run(5, &[6, 100], &[1, 0]).0, vec![5, 0]);
        assert_eq!(run(7, &[4, 4, 4], &[0, 0, 0]).0, vec![3, 2, 2]);
    }

    #[test]
    fn matches_greedy_on_pseudorandom_inputs() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..3000 {
            let n = 1 + next(7) as usize;
            let caps: Vec<u64> = (0..n).map(|_| next(40)).collect();
            let weights: Vec<u16> = (0..n)
                .map(|_| match next(4) {
                    0 => 0,
                    1 => 10_000,
                    _ => next(10_001) as u16,
                })
                .collect();
            let budget = next(caps.iter().sum::<u64>() + 5);
            let (got, left) = run(budget, &caps, &weights);
            assert_eq!(got, greedy(budget, &caps, &weights), "budget {budget} caps {caps:?} w {weights:?}");
            assert_eq!(got.iter().sum::<u64>() + left, budget);
        }
    }
}
