//! AVX-512 forms of the solver's passes, for caps ≤ `F64_EXACT_CAP`:
//! 8 items per step in f64 lanes. `trunc((level·w + ½)·10⁻⁴)` is
//! `floor(level·w / W)` exactly there (see `F64_EXACT_CAP`), and the sums
//! are integers below 2^53, so they are exact in any order. Checked
//! against the integer forms in the tests.
//!
//! Every function here that executes vector instructions enables AVX-512
//! F/BW/VL/DQ (which imply AVX2 and FMA) and is safe to call from another
//! such function; `vector_prefix!` calls the kernels where `Form::of` found
//! those features. `unsafe` is left to the loads and stores.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::solver::{Tier, WEIGHT_SCALE};
use std::arch::x86_64::*;

/// Caps and tier weights of items `i..i + 8` as f64, and the mask of
/// the items that are full (positive items in the weight-0 tier).
///
/// # Safety
/// `i + 8 ≤ caps.len()` and `i + 8 ≤ weights.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn load(caps: &[u32], weights: &[u16], tier: Tier, i: usize) -> (__m512d, __m512d, u8) {
    debug_assert!(i + 8 <= caps.len() && i + 8 <= weights.len());
    // SAFETY: `caps[i..i + 8]` is in bounds (the caller's contract).
    let c = _mm512_cvtepu32_pd(unsafe { _mm256_loadu_si256(caps.as_ptr().add(i).cast()) });
    // SAFETY: `weights[i..i + 8]` is in bounds (the caller's contract).
    let w = _mm256_cvtepu16_epi32(unsafe { _mm_loadu_si128(weights.as_ptr().add(i).cast()) });
    let positive = _mm256_test_epi32_mask(w, w);
    match tier {
        Tier::Positive => (c, _mm512_cvtepu32_pd(w), 0),
        Tier::Zero => (
            c,
            _mm512_maskz_mov_pd(!positive, _mm512_set1_pd(WEIGHT_SCALE as f64)),
            positive,
        ),
    }
}

/// floor(level·w / W) per lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn share(level: __m512d, w: __m512d) -> __m512d {
    let y = _mm512_mul_pd(_mm512_fmadd_pd(level, w, _mm512_set1_pd(0.5)), _mm512_set1_pd(1e-4));
    _mm512_roundscale_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y)
}

/// `eval` over whole groups of 8: (items covered, units, weight below cap).
/// Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn eval(level: u64, caps: &[u32], weights: &[u16], tier: Tier) -> (usize, u64, u64) {
    assert!(weights.len() >= caps.len());
    let n = caps.len() / 8 * 8;
    let l = _mm512_set1_pd(level as f64);
    let (mut s, mut ws) = (_mm512_setzero_pd(), _mm512_setzero_pd());
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 8 ≤ n ≤ caps.len() ≤ weights.len()` (asserted above).
        let (c, w, _) = unsafe { load(caps, weights, tier, i) };
        let x = share(l, w);
        let below = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, c);
        s = _mm512_add_pd(s, _mm512_min_pd(x, c));
        ws = _mm512_mask_add_pd(ws, below, ws, w);
        i += 8;
    }
    (n, _mm512_reduce_add_pd(s) as u64, _mm512_reduce_add_pd(ws) as u64)
}

/// `handout_int` over whole groups of 8, in place: (items covered, units
/// given). Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn handout(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    keys: &mut [u32],
    k: &mut usize,
) -> (usize, u64) {
    let n = caps_out.len() / 8 * 8;
    assert!(weights.len() >= caps_out.len() && keys.len() >= n && *k == 0);
    let (l0, l1) = (_mm512_set1_pd(lo as f64), _mm512_set1_pd((lo + 1) as f64));
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut given = _mm512_setzero_pd();
    // `i + 8 ≤ n ≤` the lengths of `caps_out`, `weights` and `keys`
    // (asserted above), and `keys` takes at most one entry per item, so
    // `*k ≤ i`.
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 8 ≤ n`, within `caps_out` and `weights`.
        let (c, w, full) = unsafe { load(caps_out, weights, tier, i) };
        let x = _mm512_min_pd(share(l0, w), c);
        let o = _mm512_cvttpd_epu32(_mm512_mask_blend_pd(full, x, c));
        // SAFETY: `i + 8 ≤ n`, within `caps_out`.
        unsafe { _mm256_storeu_si256(caps_out.as_mut_ptr().add(i).cast(), o) };
        given = _mm512_mask_add_pd(given, !full, given, x);
        let step = !full & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, c) & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(share(l1, w), x);
        let idx = _mm256_add_epi32(lanes, _mm256_set1_epi32(i as i32));
        // SAFETY: the compress-store writes `step.count_ones() ≤ 8` entries
        // from `*k ≤ i`, so below `i + 8 ≤ n ≤ keys.len()`.
        unsafe { _mm256_mask_compressstoreu_epi32(keys.as_mut_ptr().add(*k).cast(), step, idx) };
        *k += step.count_ones() as usize;
        i += 8;
    }
    (n, _mm512_reduce_add_pd(given) as u64)
}
