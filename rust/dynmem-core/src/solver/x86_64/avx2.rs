//! AVX2 forms of the probe and the hand-out: as the AVX-512 ones, in 4
//! f64 lanes (caps ≤ `F64_EXACT_CAP` < 2^31, so i32 conversions are exact);
//! the probe covers 8 items per step so that its list of stepping weights
//! is one left-packing permute per step.
//!
//! Every function here that executes vector instructions enables AVX2 and
//! FMA and is safe to call from another such function; `vector_prefix!`
//! calls the kernels where `Form::of` found those features. `unsafe` is
//! left to the loads and stores.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::solver::scalar::{Handout, Pair};
use crate::solver::{Tier, WEIGHT_SCALE};
use std::arch::x86_64::*;

/// For each 8-bit mask, the indices of its set bits in order, one per
/// byte (the permutation that packs those lanes to the front), and how
/// many bits are set (a table: `popcnt` is not among the features enabled).
static PACK: ([u64; 256], [u8; 256]) = {
    let (mut t, mut count) = ([0u64; 256], [0u8; 256]);
    let mut m = 0;
    while m < 256 {
        let (mut v, mut j, mut b) = (0u64, 0, 0);
        while b < 8 {
            if (m >> b) & 1 == 1 {
                v |= (b as u64) << (8 * j);
                j += 1;
            }
            b += 1;
        }
        (t[m], count[m]) = (v, j as u8);
        m += 1;
    }
    (t, count)
};

/// floor(level·w / W) per lane.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn share(level: __m256d, w: __m256d) -> __m256d {
    let y = _mm256_mul_pd(_mm256_fmadd_pd(level, w, _mm256_set1_pd(0.5)), _mm256_set1_pd(1e-4));
    _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y)
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(x: __m256d) -> u64 {
    let mut a = [0.0f64; 4];
    // SAFETY: `a` is 32 writable bytes.
    unsafe { _mm256_storeu_pd(a.as_mut_ptr(), x) };
    a.iter().sum::<f64>() as u64
}

/// `probe_int` over whole groups of 8: (items covered, sums, entries
/// listed). Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn probe(level: u64, caps: &[u32], weights: &[u16], tier: Tier, list: &mut [u32]) -> (usize, Pair, usize) {
    let n = caps.len() / 8 * 8;
    assert!(weights.len() >= caps.len() && list.len() >= n);
    let (l0, l1) = (_mm256_set1_pd(level as f64), _mm256_set1_pd((level + 1) as f64));
    let z = _mm256_setzero_pd();
    let (mut s0, mut s1, mut w0) = (z, z, z);
    let mut k = 0usize;
    // `i + 8 ≤ n ≤` the lengths of `caps`, `weights` and `list` (asserted
    // above), and the list takes at most one entry per item, so `k ≤ i`.
    let mut i = 0;
    while i < n {
        // SAFETY: `weights[i..i + 8]` is in bounds.
        let w8 = _mm256_cvtepu16_epi32(unsafe { _mm_loadu_si128(weights.as_ptr().add(i).cast()) });
        let w8 = match tier {
            Tier::Positive => w8,
            Tier::Zero => _mm256_and_si256(
                _mm256_cmpeq_epi32(w8, _mm256_setzero_si256()),
                _mm256_set1_epi32(WEIGHT_SCALE as i32),
            ),
        };
        let mut bits = 0usize;
        for (h, wh) in [_mm256_castsi256_si128(w8), _mm256_extracti128_si256::<1>(w8)]
            .into_iter()
            .enumerate()
        {
            // SAFETY: `caps[i + 4h..i + 4h + 4]` is in bounds.
            let c = _mm256_cvtepi32_pd(unsafe { _mm_loadu_si128(caps.as_ptr().add(i + 4 * h).cast()) });
            let w = _mm256_cvtepi32_pd(wh);
            let x0 = _mm256_min_pd(share(l0, w), c);
            let x1 = _mm256_min_pd(share(l1, w), c);
            s0 = _mm256_add_pd(s0, x0);
            s1 = _mm256_add_pd(s1, x1);
            w0 = _mm256_add_pd(w0, _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(x0, c), w));
            bits |= (_mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(x1, x0)) as usize) << (4 * h);
        }
        // The stepping items' weights, packed to the front, branch-free.
        let perm = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(PACK.0[bits] as i64));
        // SAFETY: `k ≤ i` and `i + 8 ≤ n ≤ list.len()`: 8 entries from `k` are in bounds.
        unsafe { _mm256_storeu_si256(list.as_mut_ptr().add(k).cast(), _mm256_permutevar8x32_epi32(w8, perm)) };
        k += PACK.1[bits] as usize;
        i += 8;
    }
    let sums = Pair {
        s0: hsum(s0),
        w0: hsum(w0),
        s1: hsum(s1),
    };
    (n, sums, k)
}

/// `min(cap, floor(level·w / W))` at the levels `l0` and `l1`, for 4 caps
/// and weights in i32 lanes (caps < 2^31), as i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn shares_at(l0: __m256d, l1: __m256d, c: __m128i, w: __m128i) -> (__m128i, __m128i) {
    let (c, w) = (_mm256_cvtepi32_pd(c), _mm256_cvtepi32_pd(w));
    (
        _mm256_cvttpd_epi32(_mm256_min_pd(share(l0, w), c)),
        _mm256_cvttpd_epi32(_mm256_min_pd(share(l1, w), c)),
    )
}

/// A [`Handout`] in lanes, for [`Hand8::units`].
#[derive(Clone, Copy)]
pub(crate) struct Hand8 {
    l0: __m256d,
    l1: __m256d,
    cut: __m256i,
    tie_end: usize,
}

impl Hand8 {
    /// `h` in lanes (every cap ≤ `F64_EXACT_CAP`, for exactness).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn of(h: Handout) -> Hand8 {
        Hand8 {
            l0: _mm256_set1_pd(h.level as f64),
            l1: _mm256_set1_pd((h.level + 1) as f64),
            // (Above every weight when none is cut.)
            cut: _mm256_set1_epi32(h.cut.cut.min(WEIGHT_SCALE + 1) as i32),
            tie_end: h.cut.tie_end,
        }
    }

    /// [`Handout::units`] of the items at positions `i..i + 8` with caps
    /// `c` (each < 2^31) and tier weights `w`, in u32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn units(&self, i: usize, c: __m256i, w: __m256i) -> __m256i {
        let (x_a, y_a) = shares_at(self.l0, self.l1, _mm256_castsi256_si128(c), _mm256_castsi256_si128(w));
        let (x_b, y_b) = shares_at(
            self.l0,
            self.l1,
            _mm256_extracti128_si256::<1>(c),
            _mm256_extracti128_si256::<1>(w),
        );
        let x = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(x_a), x_b);
        let y = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(y_a), y_b);
        // (A weight-0 item never steps.)
        let step = _mm256_cmpgt_epi32(y, x);
        let mut bonus = _mm256_cmpgt_epi32(w, self.cut);
        if i < self.tie_end {
            // The lanes before `tie_end` take a unit at the cut weight too.
            let before = _mm256_set1_epi32((self.tie_end - i).min(8) as i32);
            let early = _mm256_cmpgt_epi32(before, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            bonus = _mm256_or_si256(bonus, _mm256_and_si256(early, _mm256_cmpeq_epi32(w, self.cut)));
        }
        // (bonus: −1 where a unit is added.)
        _mm256_sub_epi32(x, _mm256_and_si256(step, bonus))
    }
}

/// `finish_int` over whole groups of 8, in place: how many items it
/// covered. The shares in f64 lanes, the rest in u32 lanes (both shares
/// capped at the cap first, so below 2^31). Every cap ≤ `F64_EXACT_CAP`
/// (for exactness, not safety).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn finish(h: Handout, caps_out: &mut [u32], weights: &[u16], tier: Tier) -> usize {
    let n = caps_out.len() / 8 * 8;
    assert!(weights.len() >= caps_out.len());
    let hand = Hand8::of(h);
    let zero = _mm256_setzero_si256();
    let mut i = 0;
    while i < n {
        // SAFETY: `i + 8 ≤ n`, within `caps_out` and `weights`.
        let (c8, w8) = unsafe {
            (
                _mm256_loadu_si256(caps_out.as_ptr().add(i).cast()),
                _mm256_cvtepu16_epi32(_mm_loadu_si128(weights.as_ptr().add(i).cast())),
            )
        };
        // The tier weights, and the full items (positive ones in the weight-0 tier).
        let (w8, full) = match tier {
            Tier::Positive => (w8, zero),
            Tier::Zero => {
                let free = _mm256_cmpeq_epi32(w8, zero);
                (
                    _mm256_and_si256(free, _mm256_set1_epi32(WEIGHT_SCALE as i32)),
                    _mm256_xor_si256(free, _mm256_set1_epi32(-1)),
                )
            }
        };
        let o = _mm256_blendv_epi8(hand.units(i, c8, w8), c8, full);
        // SAFETY: `i + 8 ≤ n`, within `caps_out`.
        unsafe { _mm256_storeu_si256(caps_out.as_mut_ptr().add(i).cast(), o) };
        i += 8;
    }
    n
}
