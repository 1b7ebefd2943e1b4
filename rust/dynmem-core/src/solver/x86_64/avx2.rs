//! AVX2 forms of the probe and the hand-out: as the AVX-512 ones, in 4
//! f64 lanes (caps ≤ `F64_EXACT_CAP` < 2^31, so i32 conversions are exact).
//!
//! Every function here that executes vector instructions enables AVX2 and
//! FMA and is safe to call from another such function; `vector_prefix!`
//! calls the kernels where `Form::of` found those features. `unsafe` is
//! left to the loads and stores.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::solver::{Tier, WEIGHT_SCALE};
use std::arch::x86_64::*;

/// Caps and tier weights of items `i..i + 4` as f64, and the lanes that
/// are full (positive items in the weight-0 tier) as all-ones.
///
/// # Safety
/// `i + 4 ≤ caps.len()` and `i + 4 ≤ weights.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load(caps: &[u32], weights: &[u16], tier: Tier, i: usize) -> (__m256d, __m256d, __m256d) {
    debug_assert!(i + 4 <= caps.len() && i + 4 <= weights.len());
    // SAFETY: `caps[i..i + 4]` is in bounds (the caller's contract).
    let c = _mm256_cvtepi32_pd(unsafe { _mm_loadu_si128(caps.as_ptr().add(i).cast()) });
    // SAFETY: `weights[i..i + 4]` is in bounds (the caller's contract).
    let w = unsafe { _mm_loadl_epi64(weights.as_ptr().add(i).cast()) };
    let w = _mm256_cvtepi32_pd(_mm_cvtepu16_epi32(w));
    let zero = _mm256_setzero_pd();
    match tier {
        Tier::Positive => (c, w, zero),
        Tier::Zero => {
            let positive = _mm256_cmp_pd::<_CMP_GT_OQ>(w, zero);
            (
                c,
                _mm256_andnot_pd(positive, _mm256_set1_pd(WEIGHT_SCALE as f64)),
                positive,
            )
        }
    }
}

/// floor(level·w / W) per lane.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn share(level: __m256d, w: __m256d) -> __m256d {
    let y = _mm256_mul_pd(_mm256_fmadd_pd(level, w, _mm256_set1_pd(0.5)), _mm256_set1_pd(1e-4));
    _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(x: __m256d) -> f64 {
    let mut a = [0.0f64; 4];
    // SAFETY: `a` is 32 writable bytes.
    unsafe { _mm256_storeu_pd(a.as_mut_ptr(), x) };
    a.iter().sum()
}

/// `eval` over whole groups of 4: (items covered, units, weight below cap).
/// Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn eval(level: u64, caps: &[u32], weights: &[u16], tier: Tier) -> (usize, u64, u64) {
    assert!(weights.len() >= caps.len());
    let n = caps.len() / 4 * 4;
    let l = _mm256_set1_pd(level as f64);
    let (mut s, mut ws) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 4 ≤ n ≤ caps.len() ≤ weights.len()` (asserted above).
        let (c, w, _) = unsafe { load(caps, weights, tier, i) };
        let x = share(l, w);
        let below = _mm256_cmp_pd::<_CMP_LT_OQ>(x, c);
        s = _mm256_add_pd(s, _mm256_min_pd(x, c));
        ws = _mm256_add_pd(ws, _mm256_and_pd(below, w));
        i += 4;
    }
    (n, hsum(s) as u64, hsum(ws) as u64)
}

/// `handout_int` over whole groups of 4, in place: (items covered, units
/// given). Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn handout(
    lo: u64,
    caps_out: &mut [u32],
    weights: &[u16],
    tier: Tier,
    keys: &mut [u32],
    k: &mut usize,
) -> (usize, u64) {
    let n = caps_out.len() / 4 * 4;
    assert!(weights.len() >= caps_out.len() && keys.len() >= n && *k == 0);
    let (l0, l1) = (_mm256_set1_pd(lo as f64), _mm256_set1_pd((lo + 1) as f64));
    let mut given = _mm256_setzero_pd();
    // `i + 4 ≤ n ≤` the lengths of `caps_out`, `weights` and `keys`
    // (asserted above), and `keys` takes at most one entry per item, so
    // `*k ≤ i`.
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 4 ≤ n`, within `caps_out` and `weights`.
        let (c, w, full) = unsafe { load(caps_out, weights, tier, i) };
        let x = _mm256_min_pd(share(l0, w), c);
        let o = _mm256_cvttpd_epi32(_mm256_blendv_pd(x, c, full));
        // SAFETY: `i + 4 ≤ n`, within `caps_out`.
        unsafe { _mm_storeu_si128(caps_out.as_mut_ptr().add(i).cast(), o) };
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
            // SAFETY: `*k ≤ i + j < n ≤ keys.len()`.
            unsafe { *keys.get_unchecked_mut(*k) = (i + j) as u32 };
            *k += (bits >> j) & 1;
        }
        i += 4;
    }
    (n, hsum(given) as u64)
}
