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

use crate::solver::scalar::{Handout, Pair};
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

/// `probe_int` over whole groups of 8: (items covered, sums, entries
/// listed). Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn probe(level: u64, caps: &[u32], weights: &[u16], tier: Tier, list: &mut [u32]) -> (usize, Pair, usize) {
    let n = caps.len() / 8 * 8;
    assert!(weights.len() >= caps.len() && list.len() >= n);
    let (l0, l1) = (_mm512_set1_pd(level as f64), _mm512_set1_pd((level + 1) as f64));
    let z = _mm512_setzero_pd();
    let (mut s0, mut s1, mut w0) = (z, z, z);
    let mut k = 0usize;
    // `i + 8 ≤ n ≤` the lengths of `caps`, `weights` and `list` (asserted
    // above), and the list takes at most one entry per item, so `k ≤ i`.
    let mut i = 0;
    while i < n {
        // SAFETY: `caps[i..i + 8]` is in bounds.
        let c = _mm512_cvtepu32_pd(unsafe { _mm256_loadu_si256(caps.as_ptr().add(i).cast()) });
        // SAFETY: `weights[i..i + 8]` is in bounds.
        let w8 = _mm256_cvtepu16_epi32(unsafe { _mm_loadu_si128(weights.as_ptr().add(i).cast()) });
        let w8 = match tier {
            Tier::Positive => w8,
            Tier::Zero => _mm256_maskz_mov_epi32(
                _mm256_cmpeq_epi32_mask(w8, _mm256_setzero_si256()),
                _mm256_set1_epi32(WEIGHT_SCALE as i32),
            ),
        };
        let w = _mm512_cvtepu32_pd(w8);
        let x0 = _mm512_min_pd(share(l0, w), c);
        let x1 = _mm512_min_pd(share(l1, w), c);
        s0 = _mm512_add_pd(s0, x0);
        s1 = _mm512_add_pd(s1, x1);
        w0 = _mm512_mask_add_pd(w0, _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x0, c), w0, w);
        let step = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(x1, x0);
        // The stepping items' weights, packed to the front (compressed in a
        // register: a compressing store is slow on Zen 4).
        // SAFETY: `k ≤ i` and `i + 8 ≤ n ≤ list.len()`: 8 entries from `k` are in bounds.
        unsafe { _mm256_storeu_si256(list.as_mut_ptr().add(k).cast(), _mm256_maskz_compress_epi32(step, w8)) };
        k += step.count_ones() as usize;
        i += 8;
    }
    let sums = Pair {
        s0: _mm512_reduce_add_pd(s0) as u64,
        w0: _mm512_reduce_add_pd(w0) as u64,
        s1: _mm512_reduce_add_pd(s1) as u64,
    };
    (n, sums, k)
}

/// A [`Handout`] in lanes, for [`Hand8::units`].
#[derive(Clone, Copy)]
pub(crate) struct Hand8 {
    l0: __m512d,
    l1: __m512d,
    cut: __m512d,
    one: __m512d,
    tie_end: usize,
}

impl Hand8 {
    /// `h` in lanes (every cap ≤ `F64_EXACT_CAP`, for exactness).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) fn of(h: Handout) -> Hand8 {
        Hand8 {
            l0: _mm512_set1_pd(h.level as f64),
            l1: _mm512_set1_pd((h.level + 1) as f64),
            cut: _mm512_set1_pd(h.cut.cut as f64), // (above every weight when none is cut)
            one: _mm512_set1_pd(1.0),
            tie_end: h.cut.tie_end,
        }
    }

    /// [`Handout::units`] of the items at positions `i..i + 8` with caps `c`
    /// and tier weights `w`, in f64 lanes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) fn units(&self, i: usize, c: __m512d, w: __m512d) -> __m512d {
        let x = _mm512_min_pd(share(self.l0, w), c);
        // (A weight-0 item never steps.)
        let step = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, c) & _mm512_cmp_pd_mask::<_CMP_GT_OQ>(share(self.l1, w), x);
        let mut bonus = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(w, self.cut);
        if i < self.tie_end {
            // The lanes before `tie_end` take a unit at the cut weight too.
            let early = (1u32 << (self.tie_end - i).min(8)).wrapping_sub(1) as u8;
            bonus |= early & _mm512_cmp_pd_mask::<_CMP_EQ_OQ>(w, self.cut);
        }
        _mm512_mask_add_pd(x, step & bonus, x, self.one)
    }
}

/// `finish_int` over whole groups of 8, in place: how many items it
/// covered. Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn finish(h: Handout, caps_out: &mut [u32], weights: &[u16], tier: Tier) -> usize {
    let n = caps_out.len() / 8 * 8;
    assert!(weights.len() >= caps_out.len());
    let hand = Hand8::of(h);
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 8 ≤ n`, within `caps_out` and `weights`.
        let (c, w, full) = unsafe { load(caps_out, weights, tier, i) };
        let o = _mm512_cvttpd_epu32(_mm512_mask_blend_pd(full, hand.units(i, c, w), c));
        // SAFETY: `i + 8 ≤ n`, within `caps_out`.
        unsafe { _mm256_storeu_si256(caps_out.as_mut_ptr().add(i).cast(), o) };
        i += 8;
    }
    n
}
