//! The AVX2 form of pass 1 and the contention floors: 8 VMs per step in u32
//! lanes, the [`Vector`] that `x86_64/pass1.rs` writes them over (lane masks
//! as all-ones lanes; the target's f64 step in two halves of 4, converted
//! with the one-instruction i32 conversions, `vcvtdq2pd`/`vcvttpd2dq`,
//! instead of the 2^52 magic number and a rounding), and the loads and
//! sums that pass 2 (`avx2.rs`) shares.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::rules::Stage;
use crate::model::View;
use crate::solver::Scan;
use crate::tick::x86_64::pass1::{ScanLanes, Vector};
use crate::tick::Pass1;
use std::arch::x86_64::*;

type V = __m256i;

/// 8 u32 entries from `p[i]`.
///
/// # Safety
/// `i + 8 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn u32x8(p: &[u32], i: usize) -> V {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: `p[i..i + 8]` is in bounds (the caller's contract).
    unsafe { _mm256_loadu_si256(p.as_ptr().add(i).cast()) }
}

/// 8 u16 entries from `p[i]`, in u32 lanes.
///
/// # Safety
/// `i + 8 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn u16x8(p: &[u16], i: usize) -> V {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: `p[i..i + 8]` is in bounds (the caller's contract).
    _mm256_cvtepu16_epi32(unsafe { _mm_loadu_si128(p.as_ptr().add(i).cast()) })
}

/// 8 u8 entries from `p[i]`, in u32 lanes (one 8-byte load).
///
/// # Safety
/// `i + 8 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn u8x8(p: &[u8], i: usize) -> V {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: `p[i..i + 8]` is in bounds (the caller's contract).
    _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p.as_ptr().add(i).cast()) })
}

/// Stores the 8 u32 lanes of `x` at `p[i]`.
///
/// # Safety
/// `i + 8 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn store_u32x8(p: &mut [u32], i: usize, x: V) {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: `p[i..i + 8]` is in bounds (the caller's contract).
    unsafe { _mm256_storeu_si256(p.as_mut_ptr().add(i).cast(), x) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn s32(x: u32) -> V {
    _mm256_set1_epi32(x as i32)
}

/// The u32 lanes of `x` added pairwise into 4 u64 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn widen_sum(x: V) -> V {
    let lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(x));
    let hi = _mm256_cvtepu32_epi64(_mm256_extracti128_si256::<1>(x));
    _mm256_add_epi64(lo, hi)
}

/// The sum of the 4 u64 lanes of `x`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn hsum64(x: V) -> u64 {
    let mut a = [0u64; 4];
    // SAFETY: `a` is 32 writable bytes.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), x) };
    a.iter().sum()
}

/// The 8 u32 lanes of `x`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn u32_lanes(x: V) -> [u32; 8] {
    let mut a = [0u32; 8];
    // SAFETY: `a` is 32 writable bytes.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), x) };
    a
}

// SAFETY: every method executes AVX2 instructions only, which the trait's
// contract has enabled, and loads and stores only within `i..i + 8`.
unsafe impl Vector for V {
    const N: usize = 8;
    /// All-ones lanes.
    type Mask = V;
    /// As `_mm256_srl_epi32` takes it.
    type Shift = __m128i;
    type Array = [u32; 8];

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn splat(x: u32) -> V {
        s32(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add(a: V, b: V) -> V {
        _mm256_add_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sub(a: V, b: V) -> V {
        _mm256_sub_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn and(a: V, b: V) -> V {
        _mm256_and_si256(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn andnot(a: V, b: V) -> V {
        _mm256_andnot_si256(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn min(a: V, b: V) -> V {
        _mm256_min_epu32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn max(a: V, b: V) -> V {
        _mm256_max_epu32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn eq(a: V, b: V) -> V {
        _mm256_cmpeq_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn or_mask(a: V, b: V) -> V {
        _mm256_or_si256(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn any(m: V) -> bool {
        _mm256_movemask_ps(_mm256_castsi256_ps(m)) != 0
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_in(acc: V, m: V, x: V) -> V {
        _mm256_add_epi32(acc, _mm256_and_si256(m, x))
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_outside(acc: V, m: V, x: V) -> V {
        _mm256_add_epi32(acc, _mm256_andnot_si256(m, x))
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn keep(m: V, x: V) -> V {
        _mm256_and_si256(m, x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn shift(log2: u32) -> __m128i {
        _mm_cvtsi32_si128(log2 as i32)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn shr(x: V, s: __m128i) -> V {
        _mm256_srl_epi32(x, s)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn u8s(p: &[u8], i: usize) -> V {
        // SAFETY: the trait's contract.
        unsafe { u8x8(p, i) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn u16s(p: &[u16], i: usize) -> V {
        // SAFETY: the trait's contract.
        unsafe { u16x8(p, i) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn u32s(p: &[u32], i: usize) -> V {
        // SAFETY: the trait's contract.
        unsafe { u32x8(p, i) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store(p: &mut [u32], i: usize, x: V) {
        // SAFETY: the trait's contract.
        unsafe { store_u32x8(p, i, x) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn widen_sum(x: V) -> V {
        widen_sum(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn add64(a: V, b: V) -> V {
        _mm256_add_epi64(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum64(x: V) -> u64 {
        hsum64(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn lanes(x: V) -> [u32; 8] {
        u32_lanes(x)
    }

    /// The f64 step in two halves of 4: the product is below 2^32 and the
    /// result below 2^31, so the i32 conversions hold it.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn targets(dmx: V, b: V, mn: V, mx: V, up: V) -> V {
        let b = _mm256_add_epi32(b, s32(100));
        let half = |d: __m128i, b: __m128i| {
            let x = _mm256_mul_pd(_mm256_cvtepi32_pd(d), _mm256_cvtepi32_pd(b));
            let t = _mm256_mul_pd(_mm256_add_pd(x, _mm256_set1_pd(99.5)), _mm256_set1_pd(0.01));
            _mm256_cvttpd_epi32(t)
        };
        let lo = half(_mm256_castsi256_si128(dmx), _mm256_castsi256_si128(b));
        let hi = half(_mm256_extracti128_si256::<1>(dmx), _mm256_extracti128_si256::<1>(b));
        let t = _mm256_andnot_si256(up, _mm256_add_epi32(_mm256_set_m128i(hi, lo), up));
        _mm256_min_epu32(_mm256_max_epu32(t, mn), mx)
    }

    /// All-ones masks, which leave a minimum alone when or-ed in and count
    /// one when subtracted.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scan_add(s: &mut ScanLanes<V>, c: V, w: V) {
        let zero = _mm256_setzero_si256();
        let zero_w = _mm256_cmpeq_epi32(w, zero);
        let no_c = _mm256_cmpeq_epi32(c, zero);
        let skip = _mm256_or_si256(zero_w, no_c); // not (w > 0 and c > 0)
        let c_pos = _mm256_andnot_si256(zero_w, c);
        let counted = _mm256_andnot_si256(no_c, zero_w); // w = 0 and c > 0: −1
        let [total, positive, w_pos, n_zero] = &mut s.sums;
        *total = _mm256_add_epi32(*total, c);
        *positive = _mm256_add_epi32(*positive, c_pos);
        *w_pos = _mm256_add_epi32(*w_pos, _mm256_andnot_si256(skip, w));
        *n_zero = _mm256_sub_epi32(*n_zero, counted);
        s.max_pos = _mm256_max_epu32(s.max_pos, c_pos);
        s.min_w = _mm256_min_epu32(s.min_w, _mm256_or_si256(w, skip));
        s.max_zero = _mm256_max_epu32(s.max_zero, _mm256_and_si256(zero_w, c));
    }
}

/// Pass 1 over whole groups of 8 VMs (`x86_64/pass1.rs`); returns how many
/// VMs it covered.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn pass1(v: &mut View, p: &mut Pass1) -> usize {
    // SAFETY: this function enables AVX2 and FMA, `V`'s features.
    unsafe { crate::tick::x86_64::pass1::pass1::<V>(v, p) }
}

/// `floors` over whole groups of 8 VMs (`x86_64/pass1.rs`); returns how many
/// VMs it covered.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn floors(v: &View, target: &[u32], caps: &mut [u32], u: u64, stage: Stage, scan: &mut Scan) -> usize {
    // SAFETY: this function enables AVX2 and FMA, `V`'s features.
    unsafe { crate::tick::x86_64::pass1::floors::<V>(v, target, caps, u, stage, scan) }
}
