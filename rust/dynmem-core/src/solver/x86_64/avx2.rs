//! AVX2 forms of the probe and the hand-out, 8 items per step in i32
//! lanes (caps ≤ `F64_EXACT_CAP` = 2^22): `floor(level·w/W)` and whether it
//! steps up at `level + 1` come from [`Shares8`], exactly, without f64 lanes
//! (which AVX2 has only 4 of); the probe's list of stepping weights is one
//! left-packing permute per step.
//!
//! Every function here that executes vector instructions enables AVX2 and
//! FMA and is safe to call from another such function; `vector_prefix!`
//! calls the kernels where `Form::of` found those features. `unsafe` is
//! left to the loads and stores.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::solver::scalar::{Handout, Pair};
use crate::solver::{Tier, DIV_W_MAGIC, WEIGHT_SCALE};
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

/// `floor(level·w/W)` for one level in 8 i32 lanes, exactly. With
/// `level = q·W + r` (`r < W`): `q·w + floor(r·w/W)`. `r·w < 10^8 < 2^27`
/// is an exact i32 product, and `floor(r·w/W)` its product with
/// [`DIV_W_MAGIC`] shifted right by 45. `q·w` is exact in f32 up to 2^24;
/// above 2^23 it is clamped to 2^23, beyond every cap. The step at
/// `level + 1` is `floor(((r·w mod W) + w)/W)`, 0 or 1 (`w ≤ W`).

#[derive(Clone, Copy)]
pub(crate) struct Shares8 {
    r: __m256i,
    q: __m256,
}

impl Shares8 {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn of(level: u64) -> Shares8 {
        Shares8 {
            r: _mm256_set1_epi32((level % WEIGHT_SCALE) as i32),
            // (Exact: at most 2^24.)
            q: _mm256_set1_ps((level / WEIGHT_SCALE).min(1 << 24) as f32),
        }
    }

    /// For caps `c` (each ≤ 2^22) and tier weights `w` (each ≤ W): each
    /// item's `x = min(c, floor(level·w/W))`, and the lanes (all ones) of the
    /// items that step up at `level + 1` (`x < c` and the share rises).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn at(&self, c: __m256i, w: __m256i) -> (__m256i, __m256i) {
        let rw = _mm256_mullo_epi32(self.r, w);
        // floor(rw / W) = rw·M >> 45 for rw < 2^27, in the even and the odd
        // lanes' 64-bit products (no divider: pass 2's statistics use it).
        let magic = _mm256_set1_epi64x(DIV_W_MAGIC as i64);
        let even = _mm256_srli_epi64::<45>(_mm256_mul_epu32(rw, magic));
        let odd = _mm256_srli_epi64::<45>(_mm256_mul_epu32(_mm256_srli_epi64::<32>(rw), magic));
        let f = _mm256_or_si256(even, _mm256_slli_epi64::<32>(odd));
        // r·w mod W, and whether adding w carries past W.
        let m = _mm256_sub_epi32(rw, _mm256_mullo_epi32(f, _mm256_set1_epi32(WEIGHT_SCALE as i32)));
        let rises = _mm256_cmpgt_epi32(_mm256_add_epi32(m, w), _mm256_set1_epi32(WEIGHT_SCALE as i32 - 1));
        let qw = _mm256_mul_ps(self.q, _mm256_cvtepi32_ps(w));
        let qw = _mm256_cvttps_epi32(_mm256_min_ps(qw, _mm256_set1_ps((1u32 << 23) as f32)));
        let x = _mm256_min_epi32(c, _mm256_add_epi32(qw, f));
        (x, _mm256_and_si256(rises, _mm256_cmpgt_epi32(c, x)))
    }
}

/// The u32 lanes of `x` added pairwise into 4 u64 lanes, added to `acc`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn widen_into(acc: __m256i, x: __m256i) -> __m256i {
    let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(x));
    let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(x));
    _mm256_add_epi64(acc, _mm256_add_epi64(lo, hi))
}

/// The sum of the 4 u64 lanes of `x`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(x: __m256i) -> u64 {
    let mut a = [0u64; 4];
    // SAFETY: `a` is 32 writable bytes.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), x) };
    a.iter().sum()
}

/// The tier weights of 8 items (u32 lanes) from their weights.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn tier_weights(w8: __m256i, tier: Tier) -> __m256i {
    match tier {
        Tier::Positive => w8,
        Tier::Zero => _mm256_and_si256(
            _mm256_cmpeq_epi32(w8, _mm256_setzero_si256()),
            _mm256_set1_epi32(WEIGHT_SCALE as i32),
        ),
    }
}

/// Steps whose u32 lane sums are widened at once: each adds at most 2^22
/// per lane (a cap, or a weight), so 256 of them stay below 2^31.
const FOLD: usize = 256;

/// `probe_int` over whole groups of 8: (items covered, sums, entries
/// listed). Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn probe(level: u64, caps: &[u32], weights: &[u16], tier: Tier, list: &mut [u32]) -> (usize, Pair, usize) {
    let n = caps.len() / 8 * 8;
    assert!(weights.len() >= caps.len() && list.len() >= n);
    let shares = Shares8::of(level);
    let z = _mm256_setzero_si256();
    let (mut s0, mut s1, mut w0) = (z, z, z);
    let mut k = 0usize;
    // `i + 8 ≤ n ≤` the lengths of `caps`, `weights` and `list` (asserted
    // above), and the list takes at most one entry per item, so `k ≤ i`.
    let mut i = 0;
    while i < n {
        let end = n.min(i + 8 * FOLD);
        let (mut p0, mut p1, mut pw) = (z, z, z);
        while i < end {
            // SAFETY: `weights[i..i + 8]` and `caps[i..i + 8]` are in bounds.
            let (w8, c8) = unsafe {
                (
                    _mm256_cvtepu16_epi32(_mm_loadu_si128(weights.as_ptr().add(i).cast())),
                    _mm256_loadu_si256(caps.as_ptr().add(i).cast()),
                )
            };
            let w8 = tier_weights(w8, tier);
            let (x0, step) = shares.at(c8, w8);
            p0 = _mm256_add_epi32(p0, x0);
            p1 = _mm256_sub_epi32(_mm256_add_epi32(p1, x0), step); // x1 = x0 + 1 where it steps
            pw = _mm256_add_epi32(pw, _mm256_and_si256(_mm256_cmpgt_epi32(c8, x0), w8));
            let bits = _mm256_movemask_ps(_mm256_castsi256_ps(step)) as usize;
            // The stepping items' weights, packed to the front, branch-free.
            let perm = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(PACK.0[bits] as i64));
            // SAFETY: `k ≤ i` and `i + 8 ≤ n ≤ list.len()`: 8 entries from `k` are in bounds.
            unsafe { _mm256_storeu_si256(list.as_mut_ptr().add(k).cast(), _mm256_permutevar8x32_epi32(w8, perm)) };
            k += PACK.1[bits] as usize;
            i += 8;
        }
        (s0, s1, w0) = (widen_into(s0, p0), widen_into(s1, p1), widen_into(w0, pw));
    }
    let sums = Pair {
        s0: hsum(s0),
        w0: hsum(w0),
        s1: hsum(s1),
    };
    (n, sums, k)
}

/// A [`Handout`] in lanes, for [`Hand8::units`].
#[derive(Clone, Copy)]
pub(crate) struct Hand8 {
    shares: Shares8,
    cut: __m256i,
    tie_end: usize,
}

impl Hand8 {
    /// `h` in lanes (every cap ≤ `F64_EXACT_CAP`, for exactness).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn of(h: Handout) -> Hand8 {
        Hand8 {
            shares: Shares8::of(h.level),
            // (Above every weight when none is cut.)
            cut: _mm256_set1_epi32(h.cut.cut.min(WEIGHT_SCALE + 1) as i32),
            tie_end: h.cut.tie_end,
        }
    }

    /// [`Handout::units`] of the items at positions `i..i + 8` with caps
    /// `c` (each ≤ 2^22) and tier weights `w`, in u32 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn units(&self, i: usize, c: __m256i, w: __m256i) -> __m256i {
        let (x, step) = self.shares.at(c, w);
        let mut bonus = _mm256_cmpgt_epi32(w, self.cut);
        if i < self.tie_end {
            // The lanes before `tie_end` take a unit at the cut weight too.
            let before = _mm256_set1_epi32((self.tie_end - i).min(8) as i32);
            let early = _mm256_cmpgt_epi32(before, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            bonus = _mm256_or_si256(bonus, _mm256_and_si256(early, _mm256_cmpeq_epi32(w, self.cut)));
        }
        // (step and bonus: −1 where a unit is added.)
        _mm256_sub_epi32(x, _mm256_and_si256(step, bonus))
    }
}

/// `finish_int` over whole groups of 8, in place: how many items it
/// covered. Every cap ≤ `F64_EXACT_CAP` (for exactness, not safety).
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
        // The full items: positive ones in the weight-0 tier.
        let full = match tier {
            Tier::Positive => zero,
            Tier::Zero => _mm256_xor_si256(_mm256_cmpeq_epi32(w8, zero), _mm256_set1_epi32(-1)),
        };
        let w8 = tier_weights(w8, tier);
        let o = _mm256_blendv_epi8(hand.units(i, c8, w8), c8, full);
        // SAFETY: `i + 8 ≤ n`, within `caps_out`.
        unsafe { _mm256_storeu_si256(caps_out.as_mut_ptr().add(i).cast(), o) };
        i += 8;
    }
    n
}
