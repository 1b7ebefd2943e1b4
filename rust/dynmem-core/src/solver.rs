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
//! (4 per step) forms, used when the CPU has them and every cap is ≤ 2^22
//! units: `floor(L·w/W)` is computed exactly in f64 lanes; results are
//! identical to the integer forms (tested). Single-threaded on purpose: a tick is deterministic and
//! allocation-free, and a caller wanting both cores runs two hosts (the
//! bindings release the GIL for `run`, large ticks and large batch starts).

use crate::VectorCap;

/// Weight scale: the largest legal weight.
pub const WEIGHT_SCALE: u64 = 10_000;

/// Which items a water-filling stage serves, and with what weight.
#[derive(Clone, Copy)]
enum Stage {
    /// Items of positive weight, by their weight.
    Positive,
    /// Items of weight 0, with equal weights (the others are capped).
    Zero,
}

impl Stage {
    /// The weight an item has in this stage (0: not served).
    #[inline(always)]
    fn weight(self, w: u16) -> u64 {
        match self {
            Stage::Positive => w as u64,
            Stage::Zero => (w == 0) as u64 * WEIGHT_SCALE,
        }
    }
}

/// Largest capacity for which [`eval`] may use its floating-point form:
/// levels then stay at or below `2^22·W`, `level·w` below `2^49`, and every step
/// of `((level·w) + ½)·10⁻⁴` is exact enough that its floor is `level·w / W`.
const F64_EXACT_CAP: u64 = 1 << 22;

/// How a fill runs its passes: `fast` caps the vector forms (the caller
/// lowers it to scalar unless every cap ≤ [`F64_EXACT_CAP`]; each runs
/// where the CPU has it), and each pass goes in `parts` parts on the
/// pool (sums and lists merged in order: the same result for any `parts`).
#[derive(Clone, Copy)]
struct Exec {
    fast: VectorCap,
    parts: usize,
}

/// One pass at level `level`: units held and the weight of the items below
/// their cap.
#[inline]
fn eval(level: u64, caps: &[u32], weights: &[u16], stage: Stage, ex: Exec) -> (u64, u64) {
    #[cfg(test)]
    tests::PASSES.with(|p| p.set(p.get() + 1));
    eval_parts(level, caps, weights, stage, ex.fast, ex.parts)
}

/// [`eval`] in `parts` parts.
fn eval_parts(level: u64, caps: &[u32], weights: &[u16], stage: Stage, fast: VectorCap, parts: usize) -> (u64, u64) {
    let mid = crate::split_point(caps.len(), parts);
    if parts > 1 && mid > 0 {
        let (a, b) = crate::pool::join(
            || eval_parts(level, &caps[..mid], &weights[..mid], stage, fast, parts / 2),
            || eval_parts(level, &caps[mid..], &weights[mid..], stage, fast, parts - parts / 2),
        );
        return (a.0 + b.0, a.1 + b.1);
    }
    let mut done = 0;
    let (mut s, mut wsum) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(fast) {
        // SAFETY: the features were just detected; caps are small.
        (done, s, wsum) = unsafe { simd::eval(level, caps, weights, stage) };
    } else if crate::avx2(fast) {
        // SAFETY: as above.
        (done, s, wsum) = unsafe { avx2::eval(level, caps, weights, stage) };
    }
    let _ = fast;
    let (s2, w2) = eval_int(level, &caps[done..], &weights[done..], stage);
    (s + s2, wsum + w2)
}

/// [`eval`] in 64-bit integers: the definition.
#[inline]
fn eval_int(level: u64, caps: &[u32], weights: &[u16], stage: Stage) -> (u64, u64) {
    let (mut s, mut wsum) = (0u64, 0u64);
    for (&c, &w) in caps.iter().zip(weights) {
        let w = stage.weight(w);
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
/// the weight-0 stage, positive items are full and not counted).
#[inline(always)]
fn handout_int(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    stage: Stage,
    keys: &mut [u32],
    k: &mut usize,
    range: std::ops::Range<usize>,
) -> u64 {
    let zero_stage = matches!(stage, Stage::Zero);
    let mut given = 0u64;
    for i in range {
        let (c, w0) = (caps_out[i] as u64, weights[i]);
        let w = stage.weight(w0);
        let full = zero_stage && w0 > 0;
        let x = (lo * w / WEIGHT_SCALE).min(c);
        caps_out[i] = if full { c } else { x } as u32;
        given += if full { 0 } else { x };
        let step = !full && x < c && (lo + 1) * w / WEIGHT_SCALE > x;
        keys[*k] = i as u32;
        *k += step as usize;
    }
    given
}

#[cfg(target_arch = "x86_64")]
mod simd {
    //! AVX-512 forms of the solver's passes, for caps ≤ `F64_EXACT_CAP`:
    //! 8 items per step in f64 lanes. `trunc((level·w + ½)·10⁻⁴)` is
    //! `floor(level·w / W)` exactly there (see `F64_EXACT_CAP`), and the sums
    //! are integers below 2^53, so they are exact in any order. Checked
    //! against the integer forms in the tests.
    use super::{Stage, WEIGHT_SCALE};
    use std::arch::x86_64::*;

    /// Caps and stage weights of items `i..i + 8` as f64, and the mask of
    /// the items that are full (positive items in the weight-0 stage).
    /// (`caps` points at 8 readable caps from `i`.)
    #[inline(always)]
    unsafe fn load(caps: *const u32, weights: &[u16], stage: Stage, i: usize) -> (__m512d, __m512d, u8) {
        debug_assert!(i + 8 <= weights.len());
        unsafe {
            let c = _mm512_cvtepu32_pd(_mm256_loadu_si256(caps.add(i) as *const __m256i));
            let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(weights.as_ptr().add(i) as *const __m128i));
            let positive = _mm256_test_epi32_mask(w, w);
            match stage {
                Stage::Positive => (c, _mm512_cvtepu32_pd(w), 0),
                Stage::Zero => (
                    c,
                    _mm512_maskz_mov_pd(!positive, _mm512_set1_pd(WEIGHT_SCALE as f64)),
                    positive,
                ),
            }
        }
    }

    /// floor(level·w / W) per lane.
    #[inline(always)]
    pub(super) unsafe fn share(level: __m512d, w: __m512d) -> __m512d {
        unsafe {
            let y = _mm512_mul_pd(_mm512_fmadd_pd(level, w, _mm512_set1_pd(0.5)), _mm512_set1_pd(1e-4));
            _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y)
        }
    }

    /// `eval` over whole groups of 8: (items covered, units, weight below cap).
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL/DQ; every cap ≤ `F64_EXACT_CAP` (for
    /// exactness, not safety). Lengths are checked.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(super) unsafe fn eval(level: u64, caps: &[u32], weights: &[u16], stage: Stage) -> (usize, u64, u64) {
        assert!(weights.len() >= caps.len());
        let n = caps.len() / 8 * 8;
        let l = _mm512_set1_pd(level as f64);
        let (mut s, mut ws) = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let mut i = 0;
        while i < n {
            unsafe {
                let (c, w, _) = load(caps.as_ptr(), weights, stage, i);
                let x = share(l, w);
                let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, c);
                s = _mm512_add_pd(s, _mm512_min_pd(x, c));
                ws = _mm512_mask_add_pd(ws, below, ws, w);
            }
            i += 8;
        }
        (n, _mm512_reduce_add_pd(s) as u64, _mm512_reduce_add_pd(ws) as u64)
    }

    /// `handout_int` over whole groups of 8, in place: (items covered, units
    /// given).
    ///
    /// # Safety
    /// As [`eval`]. Lengths are checked; `keys` takes at most one entry per
    /// item, so the compress-store at `*k ≤ i` stays below `i + 8 ≤ n`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(super) unsafe fn handout(
        lo: u64,
        caps_out: &mut [u32],
        weights: &[u16],
        stage: Stage,
        keys: &mut [u32],
        k: &mut usize,
    ) -> (usize, u64) {
        let n = caps_out.len() / 8 * 8;
        assert!(weights.len() >= caps_out.len() && keys.len() >= n && *k == 0);
        // One pointer for the reads and the writes of each group.
        let p = caps_out.as_mut_ptr();
        let (l0, l1) = (_mm512_set1_pd(lo as f64), _mm512_set1_pd((lo + 1) as f64));
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut given = _mm512_setzero_pd();
        let mut i = 0;
        while i < n {
            unsafe {
                let (c, w, full) = load(p, weights, stage, i);
                let x = _mm512_min_pd(share(l0, w), c);
                let o = _mm512_mask_blend_pd(full, x, c);
                _mm256_storeu_si256(p.add(i) as *mut __m256i, _mm512_cvttpd_epu32(o));
                given = _mm512_mask_add_pd(given, !full, given, x);
                let step =
                    !full & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, c) & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(share(l1, w), x);
                let idx = _mm256_add_epi32(lanes, _mm256_set1_epi32(i as i32));
                _mm256_mask_compressstoreu_epi32(keys.as_mut_ptr().add(*k) as *mut i32, step, idx);
                *k += step.count_ones() as usize;
            }
            i += 8;
        }
        (n, _mm512_reduce_add_pd(given) as u64)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! AVX2 forms of the probe and the hand-out: as the AVX-512 ones, in 4
    //! f64 lanes (caps ≤ `F64_EXACT_CAP` < 2^31, so i32 conversions are exact).
    use super::{Stage, WEIGHT_SCALE};
    use std::arch::x86_64::*;

    /// Caps and stage weights of items `i..i + 4` as f64, and the lanes that
    /// are full (positive items in the weight-0 stage) as all-ones.
    /// (`caps` points at 4 readable caps from `i`.)
    #[inline(always)]
    unsafe fn load(caps: *const u32, weights: &[u16], stage: Stage, i: usize) -> (__m256d, __m256d, __m256d) {
        debug_assert!(i + 4 <= weights.len());
        unsafe {
            let c = _mm256_cvtepi32_pd(_mm_loadu_si128(caps.add(i) as *const __m128i));
            let w = _mm256_cvtepi32_pd(_mm_cvtepu16_epi32(_mm_loadl_epi64(
                weights.as_ptr().add(i) as *const __m128i
            )));
            let zero = _mm256_setzero_pd();
            match stage {
                Stage::Positive => (c, w, zero),
                Stage::Zero => {
                    let positive = _mm256_cmp_pd::<_CMP_GT_OQ>(w, zero);
                    (
                        c,
                        _mm256_andnot_pd(positive, _mm256_set1_pd(WEIGHT_SCALE as f64)),
                        positive,
                    )
                }
            }
        }
    }

    #[inline(always)]
    pub(super) unsafe fn share(level: __m256d, w: __m256d) -> __m256d {
        unsafe {
            let y = _mm256_mul_pd(_mm256_fmadd_pd(level, w, _mm256_set1_pd(0.5)), _mm256_set1_pd(1e-4));
            _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y)
        }
    }

    #[inline(always)]
    unsafe fn hsum(x: __m256d) -> f64 {
        let mut a = [0.0f64; 4];
        unsafe { _mm256_storeu_pd(a.as_mut_ptr(), x) };
        a.iter().sum()
    }

    /// `eval` over whole groups of 4: (items covered, units, weight below cap).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; every cap ≤ `F64_EXACT_CAP`. Lengths are checked.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn eval(level: u64, caps: &[u32], weights: &[u16], stage: Stage) -> (usize, u64, u64) {
        assert!(weights.len() >= caps.len());
        let n = caps.len() / 4 * 4;
        let l = _mm256_set1_pd(level as f64);
        let (mut s, mut ws) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        let mut i = 0;
        while i < n {
            unsafe {
                let (c, w, _) = load(caps.as_ptr(), weights, stage, i);
                let x = share(l, w);
                let below = _mm256_cmp_pd::<_CMP_LT_OQ>(x, c);
                s = _mm256_add_pd(s, _mm256_min_pd(x, c));
                ws = _mm256_add_pd(ws, _mm256_and_pd(below, w));
            }
            i += 4;
        }
        unsafe { (n, hsum(s) as u64, hsum(ws) as u64) }
    }

    /// `handout_int` over whole groups of 4, in place: (items covered, units
    /// given).
    ///
    /// # Safety
    /// As [`eval`]. Lengths are checked; `keys` takes at most one entry per
    /// item, so `*k ≤ i` and the writes stay below `i + 4 ≤ n`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn handout(
        lo: u64,
        caps_out: &mut [u32],
        weights: &[u16],
        stage: Stage,
        keys: &mut [u32],
        k: &mut usize,
    ) -> (usize, u64) {
        let n = caps_out.len() / 4 * 4;
        assert!(weights.len() >= caps_out.len() && keys.len() >= n && *k == 0);
        // One pointer for the reads and the writes of each group.
        let p = caps_out.as_mut_ptr();
        let (l0, l1) = (_mm256_set1_pd(lo as f64), _mm256_set1_pd((lo + 1) as f64));
        let mut given = _mm256_setzero_pd();
        let mut i = 0;
        while i < n {
            unsafe {
                let (c, w, full) = load(p, weights, stage, i);
                let x = _mm256_min_pd(share(l0, w), c);
                let o = _mm256_blendv_pd(x, c, full);
                _mm_storeu_si128(p.add(i) as *mut __m128i, _mm256_cvttpd_epi32(o));
                given = _mm256_add_pd(given, _mm256_andnot_pd(full, x));
                let step = _mm256_andnot_pd(
                    full,
                    _mm256_and_pd(
                        _mm256_cmp_pd::<_CMP_LT_OQ>(x, c),
                        _mm256_cmp_pd::<_CMP_GT_OQ>(share(l1, w), x),
                    ),
                );
                // Append the stepping items' positions, branch-free.
                let bits = _mm256_movemask_pd(step) as usize;
                for j in 0..4 {
                    *keys.get_unchecked_mut(*k) = (i + j) as u32;
                    *k += (bits >> j) & 1;
                }
            }
            i += 4;
        }
        (n, unsafe { hsum(given) } as u64)
    }
}

/// Finds the largest level `L` with `S(L) ≤ budget`, given `S(0) = 0` with
/// slope weight `w_lo` and `S(hi) = s_hi > budget`. See the module docs.
#[allow(clippy::too_many_arguments)]
fn find_level(
    budget: u64,
    caps: &[u32],
    weights: &[u16],
    stage: Stage,
    ex: Exec,
    hint: Option<u64>,
    w_lo: u64,
    (hi, s_hi): (u64, u64),
) -> u64 {
    // The bracket: S(lo) ≤ budget < S(hi), with S and the slope weight (Σw
    // of the items below their cap) at each end. An end is "probed" once a
    // pass has evaluated it, rather than it being level 0 or the all-capped
    // bound; only probed ends are near the answer.
    let (mut lo, mut s_lo, mut w_lo, mut probed_lo) = (0u64, 0u64, w_lo, false);
    let (mut hi, mut s_hi, mut w_hi, mut probed_hi) = (hi, s_hi, 0u64, false);
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
        let (s, w) = eval(cand, caps, weights, stage, ex);
        width_before = [width, width_before[0], width_before[1]];
        if s > budget {
            (hi, s_hi, w_hi, probed_hi) = (cand, s, w, true);
        } else {
            (lo, s_lo, w_lo, probed_lo) = (cand, s, w, true);
        }
    }
    lo
}

/// The hand-out at level `lo` over all items, in `parts` parts, in place:
/// replaces each cap in `caps_out` by the units given, lists the items that
/// step up at `lo + 1` at the front of `keys` in position order, and
/// returns the units given and how many are listed.
fn handout_parts(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    stage: Stage,
    keys: &mut [u32],
    fast: VectorCap,
    parts: usize,
) -> (u64, usize) {
    let n = caps_out.len();
    let mid = crate::split_point(n, parts);
    if parts > 1 && mid > 0 {
        let (co1, co2) = caps_out.split_at_mut(mid);
        let (keys1, keys2) = keys.split_at_mut(mid);
        let (w1, w2) = weights.split_at(mid);
        let ((g1, k1), (g2, k2)) = crate::pool::join(
            || handout_parts(lo, co1, w1, stage, keys1, fast, parts / 2),
            || handout_parts(lo, co2, w2, stage, keys2, fast, parts - parts / 2),
        );
        // The second part's list, moved up behind the first's (k1 ≤ mid, so
        // each entry moves down or stays) and made absolute.
        for j in 0..k2 {
            keys[k1 + j] = keys[mid + j] + mid as u32;
        }
        return (g1 + g2, k1 + k2);
    }
    let (mut k, mut done, mut given) = (0usize, 0usize, 0u64);
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(fast) {
        // SAFETY: the features were just detected; caps are small.
        (done, given) = unsafe { simd::handout(lo, caps_out, weights, stage, keys, &mut k) };
    } else if crate::avx2(fast) {
        // SAFETY: as above.
        (done, given) = unsafe { avx2::handout(lo, caps_out, weights, stage, keys, &mut k) };
    }
    let _ = fast;
    given += handout_int(lo, caps_out, weights, stage, keys, &mut k, done..n);
    (given, k)
}

/// Water-fills `budget` units over the items the stage serves, in place
/// (each cap in `caps_out` becomes the units given), and returns the level. Precondition: their
/// capacities sum to more than `budget`. `hint` (e.g. the previous tick's
/// level) is probed first: when demand barely moves it is the answer, and
/// the search costs two passes.
/// `w_lo` is the weight of the items with room (their slope at level 0, which
/// needs no pass), `hi` a level at which every item is capped and `s_hi` the
/// units held there (the stage's capacity).
#[allow(clippy::too_many_arguments)]
fn level_fill(
    budget: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    stage: Stage,
    keys: &mut Vec<u32>,
    hint: Option<u64>,
    w_lo: u64,
    hi: (u64, u64),
    ex: Exec,
) -> u64 {
    let lo = find_level(budget, caps_out, weights, stage, ex, hint, w_lo, hi);
    // Hand out x = min(cap, floor(lo·w/W)) to every item (in the weight-0
    // stage, positive items are full) and list, branch-free, the items that
    // step up at lo + 1, in position order, with a histogram of their weights.
    let n = caps_out.len();
    if keys.len() < n {
        keys.resize(n, 0); // once per size, so that ticks do not allocate
    }
    let keys_n = &mut keys[..n];
    let (given, k) = handout_parts(lo, caps_out, weights, stage, keys_n, ex.fast, ex.parts);
    let out = caps_out;
    let rest = (budget - given) as usize;
    debug_assert!(rest < k.max(1));
    if rest == 0 {
        return lo;
    }
    // The remainder goes to the highest weights, then earliest positions:
    // the cut weight from a histogram of the stepping items' weights.
    let mut counts = [0u32; WEIGHT_SCALE as usize + 1];
    for &i in &keys_n[..k] {
        counts[stage.weight(weights[i as usize]) as usize] += 1;
    }
    let (mut cut, mut at_cut, mut acc) = (0usize, 0usize, 0usize);
    for w in (1..=WEIGHT_SCALE as usize).rev() {
        if acc + counts[w] as usize >= rest {
            (cut, at_cut) = (w, rest - acc);
            break;
        }
        acc += counts[w] as usize;
    }
    for &i in &keys_n[..k] {
        let w = stage.weight(weights[i as usize]) as usize;
        if w > cut || (w == cut && at_cut > 0) {
            at_cut -= (w == cut) as usize;
            out[i as usize] += 1;
        }
    }
    lo
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
/// weight-0 stage). The result does not depend on the hint, only the number
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
/// given), with the vector forms capped at `simd` and each pass in `parts`
/// parts on the pool (`pool.rs`): the same results for any of them.
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
    let fast = if max_pos.max(max_zero) as u64 <= F64_EXACT_CAP {
        simd
    } else {
        VectorCap::Scalar
    };
    let ex = Exec { fast, parts };
    if positive > budget {
        let hint = level.and_then(|(zero, l)| (!zero).then_some(l));
        let hi = ((max_pos as u64 * WEIGHT_SCALE).div_ceil(min_w as u64), positive);
        *level = Some((
            false,
            level_fill(budget, caps_out, weights, Stage::Positive, keys, hint, w_pos, hi, ex),
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
                Stage::Zero,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    thread_local!(pub(crate) static PASSES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });

    /// Passes `f` makes over the items.
    fn passes(f: impl FnOnce()) -> u64 {
        let before = PASSES.with(|p| p.get());
        f();
        PASSES.with(|p| p.get()) - before
    }

    fn run(budget: u64, caps: &[u32], weights: &[u16]) -> (Vec<u32>, u64) {
        let mut out = vec![u32::MAX; caps.len()];
        let left = fill(budget, caps, weights, &mut out, &mut Vec::new());
        (out, left)
    }

    /// Unit-at-a-time greedy: the obviously-correct definition.
    fn greedy(budget: u64, caps: &[u32], weights: &[u16]) -> Vec<u32> {
        let mut x = vec![0u32; caps.len()];
        let positive_capped = |x: &[u32]| (0..caps.len()).all(|i| weights[i] == 0 || x[i] == caps[i]);
        for _ in 0..budget {
            let zero_stage = positive_capped(&x);
            let mut best: Option<(u64, u64, usize)> = None; // (threshold, W - w, i)
            for i in 0..caps.len() {
                let w = if zero_stage {
                    if weights[i] == 0 {
                        WEIGHT_SCALE
                    } else {
                        0
                    }
                } else {
                    weights[i] as u64
                };
                if w == 0 || x[i] == caps[i] {
                    continue;
                }
                let key = (((x[i] as u64 + 1) * WEIGHT_SCALE).div_ceil(w), WEIGHT_SCALE - w, i);
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

    struct Rng(u64);
    impl Rng {
        fn next(&mut self, m: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % m
        }
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
        assert_eq!(run(5, &[10, 10, 10, 10], &[7000, 7000, 7000, 7000]).0, vec![2, 1, 1, 1]);
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
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..4000 {
            let n = 1 + r.next(8) as usize;
            let caps: Vec<u32> = (0..n).map(|_| r.next(40) as u32).collect();
            let weights: Vec<u16> = (0..n)
                .map(|_| match r.next(5) {
                    0 => 0,
                    1 => 10_000,
                    2 => 1 + r.next(3) as u16,
                    _ => r.next(10_001) as u16,
                })
                .collect();
            let budget = r.next(caps.iter().map(|&c| c as u64).sum::<u64>() + 5);
            let (got, left) = run(budget, &caps, &weights);
            assert_eq!(
                got,
                greedy(budget, &caps, &weights),
                "budget {budget} caps {caps:?} w {weights:?}"
            );
            assert_eq!(got.iter().map(|&c| c as u64).sum::<u64>() + left, budget);
        }
    }

    #[test]
    fn result_does_not_depend_on_the_hint() {
        let mut r = Rng(0x1234_5678_9abc_def1);
        for _ in 0..2000 {
            let n = 1 + r.next(12) as usize;
            let caps: Vec<u32> = (0..n).map(|_| r.next(60) as u32).collect();
            let weights: Vec<u16> = (0..n)
                .map(|_| if r.next(4) == 0 { 0 } else { 1 + r.next(10_000) as u16 })
                .collect();
            let budget = r.next(caps.iter().map(|&c| c as u64).sum::<u64>() + 3);
            let (want, _) = run(budget, &caps, &weights);
            for hint in [0u64, 1, 2, 7, 100, 5000, 1 << 30] {
                let mut out = vec![0; n];
                let mut level = Some((r.next(2) == 0, hint));
                fill_with_hint(budget, &caps, &weights, &mut out, &mut Vec::new(), &mut level);
                assert_eq!(out, want, "hint {hint}");
            }
        }
    }

    #[test]
    fn vector_passes_equal_integer_passes() {
        let mut r = Rng(0x5151_7e57_0ddb_a11d);
        for round in 0..3000 {
            // Every tenth set is long enough to be evaluated in parts.
            let n = 1 + r.next(if round % 10 == 9 { 600 } else { 40 }) as usize;
            let big = round % 3 == 0;
            let caps: Vec<u32> = (0..n)
                .map(|_| {
                    if big {
                        F64_EXACT_CAP as u32 - r.next(3) as u32
                    } else {
                        r.next(5000) as u32
                    }
                })
                .collect();
            let weights: Vec<u16> = (0..n)
                .map(|_| match r.next(4) {
                    0 => 0,
                    1 => [1, 3, 9_999, 10_000][r.next(4) as usize],
                    _ => r.next(10_001) as u16,
                })
                .collect();
            let max_level = F64_EXACT_CAP * WEIGHT_SCALE;
            for level in [
                0,
                1,
                9_999,
                10_000,
                10_001,
                r.next(1 << 20),
                r.next(max_level),
                max_level,
            ] {
                for (stage, cap) in [Stage::Positive, Stage::Zero]
                    .into_iter()
                    .flat_map(|s| [(s, VectorCap::Avx512), (s, VectorCap::Avx2)])
                {
                    let ex = Exec {
                        fast: cap,
                        parts: 1 + round % 3,
                    };
                    assert_eq!(
                        eval(level, &caps, &weights, stage, ex),
                        eval_int(level, &caps, &weights, stage),
                        "{cap:?} in {} parts: level {level}",
                        ex.parts
                    );
                }
            }
            // The whole fill, with and without the vector forms.
            let total: u64 = caps.iter().map(|&c| c as u64).sum();
            let budget = r.next(total + 2);
            let scan = Scan::of(&caps, &weights);
            let mut outs = [vec![0u32; n], vec![0u32; n], vec![0u32; n]];
            for (out, simd) in outs
                .iter_mut()
                .zip([VectorCap::Avx512, VectorCap::Avx2, VectorCap::Scalar])
            {
                out.copy_from_slice(&caps);
                let parts = 1 + out.len() % 3; // (cuts only long lists)
                fill_scanned_with(budget, out, &weights, scan, &mut Vec::new(), &mut None, (simd, parts));
            }
            assert_eq!(outs[0], outs[2], "budget {budget} caps {caps:?} weights {weights:?}");
            assert_eq!(
                outs[1], outs[2],
                "AVX2: budget {budget} caps {caps:?} weights {weights:?}"
            );
        }
    }

    /// `floor(L·w/W)` in f64 lanes (both vector forms' `share`) at the top
    /// of the range the search can probe, for every weight, at the levels
    /// where `L·w mod W` is 0, 1, W/2 or W − 1 (closest to an integer).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn float_share_is_exact_at_the_top_for_every_weight() {
        use std::arch::x86_64::*;
        let top = F64_EXACT_CAP * WEIGHT_SCALE;
        let (wide, narrow) = (crate::avx512(VectorCap::Avx512), crate::avx2(VectorCap::Avx2));
        for w in 1..=WEIGHT_SCALE {
            let mut levels = vec![top, top - 1, top - 2];
            for target in [WEIGHT_SCALE - 1, 0, 1, WEIGHT_SCALE / 2] {
                if let Some(l) = (top - WEIGHT_SCALE..=top)
                    .rev()
                    .find(|l| l * w % WEIGHT_SCALE == target)
                {
                    levels.push(l);
                }
            }
            for l in levels {
                let want = (l * w / WEIGHT_SCALE) as f64;
                let mut got = [0.0f64; 8];
                // SAFETY: each form runs only where the CPU has it.
                unsafe {
                    if wide {
                        let x = simd::share(_mm512_set1_pd(l as f64), _mm512_set1_pd(w as f64));
                        _mm512_storeu_pd(got.as_mut_ptr(), x);
                        assert_eq!(got, [want; 8], "AVX-512: weight {w} level {l}");
                    }
                    if narrow {
                        let x = avx2::share(_mm256_set1_pd(l as f64), _mm256_set1_pd(w as f64));
                        _mm256_storeu_pd(got.as_mut_ptr(), x);
                        assert_eq!(got[..4], [want; 4], "AVX2: weight {w} level {l}");
                    }
                }
            }
        }
    }

    /// Inputs on which the search once crawled a level per pass (a review
    /// found them: a probe exactly at the budget, and a first step past every
    /// cap), and random edge shapes: the same result with and without the
    /// vector forms, the whole budget handed out, and few passes.
    #[test]
    fn search_stays_logarithmic_on_adversarial_inputs() {
        let run_both = |budget: u64, caps: &[u32], weights: &[u16]| -> u64 {
            let n = caps.len();
            let scan = Scan::of(caps, weights);
            let mut outs = [vec![7u32; n], vec![9u32; n], vec![5u32; n]];
            let mut most = 0;
            for (out, simd) in outs
                .iter_mut()
                .zip([VectorCap::Avx512, VectorCap::Scalar, VectorCap::Avx2])
            {
                let p = passes(|| {
                    out.copy_from_slice(caps);
                    let left = fill_scanned_with(budget, out, weights, scan, &mut Vec::new(), &mut None, (simd, 1));
                    assert_eq!(out.iter().map(|&x| x as u64).sum::<u64>() + left, budget);
                });
                most = most.max(p);
            }
            assert_eq!(outs[0], outs[1], "budget {budget} caps {caps:?} weights {weights:?}");
            assert_eq!(
                outs[2], outs[1],
                "AVX2: budget {budget} caps {caps:?} weights {weights:?}"
            );
            most
        };
        let cap = F64_EXACT_CAP as u32;
        let p1 = run_both(1, &[1, 1], &[1, 10_000]);
        let p2 = run_both(F64_EXACT_CAP, &[cap, 1], &[10_000, 1]);
        assert!(p1 <= 60 && p2 <= 60, "{p1} {p2}");
        let mut r = Rng(0x0bad_cafe_dead_beef);
        for round in 0..4000 {
            let n = 1 + r.next(if round % 10 == 0 { 300 } else { 20 }) as usize;
            let shape = r.next(6);
            let caps: Vec<u32> = (0..n)
                .map(|_| match shape {
                    0 => cap,
                    1 => cap >> r.next(23),
                    2 => r.next(3) as u32,
                    3 => [1, cap][r.next(2) as usize],
                    4 => cap + r.next(3) as u32, // just over: the integer forms
                    _ => r.next(5000) as u32,
                })
                .collect();
            let wshape = r.next(5);
            let weights: Vec<u16> = (0..n)
                .map(|_| match wshape {
                    0 => 0,
                    1 => 1,
                    2 => [1, 10_000][r.next(2) as usize],
                    3 => [0, 1][r.next(2) as usize],
                    _ => r.next(10_001) as u16,
                })
                .collect();
            let total: u64 = caps.iter().map(|&c| c as u64).sum();
            let budget = [0, 1, total.saturating_sub(1), r.next(total + 2)][r.next(4) as usize];
            let p = run_both(budget, &caps, &weights);
            assert!(p <= 70, "{p} passes: budget {budget} caps {caps:?} weights {weights:?}");
        }
    }

    /// Plain bisection on the level: the previous, simpler search.
    fn bisection(budget: u64, caps: &[u32], weights: &[u16]) -> u64 {
        let s = |l: u64| -> u64 {
            caps.iter()
                .zip(weights)
                .map(|(&c, &w)| (l * w as u64 / WEIGHT_SCALE).min(c as u64))
                .sum()
        };
        let (mut lo, mut hi) = (0u64, 1u64 << 40);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if s(mid) <= budget {
                lo = mid
            } else {
                hi = mid
            }
        }
        lo
    }

    #[test]
    fn large_inputs_hit_the_same_level_as_bisection() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let n = 2000 + r.next(3000) as usize;
            let caps: Vec<u32> = (0..n).map(|_| r.next(5000) as u32).collect();
            let weights: Vec<u16> = (0..n)
                .map(|_| {
                    if round % 4 == 0 {
                        [1u16, 10_000][r.next(2) as usize]
                    } else {
                        1 + r.next(10_000) as u16
                    }
                })
                .collect();
            let total: u64 = caps.iter().map(|&c| c as u64).sum();
            let budget = r.next(total);
            let (got, _) = run(budget, &caps, &weights);
            let level = bisection(budget, &caps, &weights);
            assert_eq!(got.iter().map(|&x| x as u64).sum::<u64>(), budget);
            for i in 0..n {
                let base = (level * weights[i] as u64 / WEIGHT_SCALE).min(caps[i] as u64);
                let x = got[i] as u64;
                assert!(x == base || x == base + 1, "item {i}: {x} vs level share {base}");
            }
        }
    }
}
