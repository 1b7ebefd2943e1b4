//! The AVX-512 form of pass 1 and the contention floors: 16 VMs per step in
//! u32 lanes, the [`Vector`] that `x86_64/pass1.rs` writes them over (lane
//! masks in mask registers, sums added under them; the target's f64 step in
//! two halves of 8, converted with the u32 conversions).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use super::{hsum, store_u32x16, u16x16, u32_lanes, u32x16, u8x16, widen_sum, V};
use crate::model::rules::Stage;
use crate::model::View;
use crate::solver::Scan;
use crate::tick::x86_64::pass1::{ScanLanes, Vector};
use crate::tick::Pass1;
use std::arch::x86_64::*;

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn s32(x: u32) -> V {
    _mm512_set1_epi32(x as i32)
}

// SAFETY: every method executes AVX-512 F/BW/VL/DQ instructions only, which
// the trait's contract has enabled, and loads and stores only within
// `i..i + 16`.
unsafe impl Vector for V {
    const N: usize = 16;
    type Mask = __mmask16;
    /// In every lane, as `_mm512_srlv_epi32` takes it.
    type Shift = V;
    type Array = [u32; 16];

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn splat(x: u32) -> V {
        s32(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn add(a: V, b: V) -> V {
        _mm512_add_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn sub(a: V, b: V) -> V {
        _mm512_sub_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn and(a: V, b: V) -> V {
        _mm512_and_si512(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn andnot(a: V, b: V) -> V {
        _mm512_andnot_si512(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn min(a: V, b: V) -> V {
        _mm512_min_epu32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn max(a: V, b: V) -> V {
        _mm512_max_epu32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn eq(a: V, b: V) -> __mmask16 {
        _mm512_cmpeq_epi32_mask(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn or_mask(a: __mmask16, b: __mmask16) -> __mmask16 {
        a | b
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn any(m: __mmask16) -> bool {
        m != 0
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn add_in(acc: V, m: __mmask16, x: V) -> V {
        _mm512_mask_add_epi32(acc, m, acc, x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn add_outside(acc: V, m: __mmask16, x: V) -> V {
        _mm512_mask_add_epi32(acc, !m, acc, x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn keep(m: __mmask16, x: V) -> V {
        _mm512_maskz_mov_epi32(m, x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn shift(log2: u32) -> V {
        s32(log2)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn shr(x: V, s: V) -> V {
        _mm512_srlv_epi32(x, s)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn u8s(p: &[u8], i: usize) -> V {
        // SAFETY: the trait's contract.
        unsafe { u8x16(p, i) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn u16s(p: &[u16], i: usize) -> V {
        // SAFETY: the trait's contract.
        unsafe { u16x16(p, i) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn u32s(p: &[u32], i: usize) -> V {
        // SAFETY: the trait's contract.
        unsafe { u32x16(p, i) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn store(p: &mut [u32], i: usize, x: V) {
        // SAFETY: the trait's contract.
        unsafe { store_u32x16(p, i, x) }
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn widen_sum(x: V) -> V {
        widen_sum(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn add64(a: V, b: V) -> V {
        _mm512_add_epi64(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn hsum64(x: V) -> u64 {
        hsum(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn lanes(x: V) -> [u32; 16] {
        u32_lanes(x)
    }

    /// The f64 step in two halves of 8, capped at the maximum while still
    /// f64 (so that it fits u32; the clamp gives the maximum either way).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn targets(dmx: V, b: V, mn: V, mx: V, up: V) -> V {
        let b = _mm512_add_epi32(b, s32(100));
        let half = |d: __m256i, b: __m256i, m: __m256i| {
            let x = _mm512_mul_pd(_mm512_cvtepu32_pd(d), _mm512_cvtepu32_pd(b));
            let t = _mm512_mul_pd(_mm512_add_pd(x, _mm512_set1_pd(99.5)), _mm512_set1_pd(0.01));
            _mm512_cvttpd_epu32(_mm512_min_pd(t, _mm512_cvtepu32_pd(m)))
        };
        let lo = half(
            _mm512_castsi512_si256(dmx),
            _mm512_castsi512_si256(b),
            _mm512_castsi512_si256(mx),
        );
        let hi = half(
            _mm512_extracti64x4_epi64::<1>(dmx),
            _mm512_extracti64x4_epi64::<1>(b),
            _mm512_extracti64x4_epi64::<1>(mx),
        );
        let t = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
        let t = _mm512_andnot_si512(up, _mm512_add_epi32(t, up));
        _mm512_min_epu32(_mm512_max_epu32(t, mn), mx)
    }

    /// Sums and extremes under masks.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    unsafe fn scan_add(s: &mut ScanLanes<V>, c: V, w: V) {
        let (pos_w, has_c) = (_mm512_test_epi32_mask(w, w), _mm512_test_epi32_mask(c, c));
        let [total, positive, w_pos, n_zero] = &mut s.sums;
        *total = _mm512_add_epi32(*total, c);
        *positive = _mm512_mask_add_epi32(*positive, pos_w, *positive, c);
        *w_pos = _mm512_mask_add_epi32(*w_pos, pos_w & has_c, *w_pos, w);
        *n_zero = _mm512_mask_add_epi32(*n_zero, !pos_w & has_c, *n_zero, s32(1));
        s.max_pos = _mm512_mask_max_epu32(s.max_pos, pos_w, s.max_pos, c);
        s.min_w = _mm512_mask_min_epu32(s.min_w, pos_w & has_c, s.min_w, w);
        s.max_zero = _mm512_mask_max_epu32(s.max_zero, !pos_w, s.max_zero, c);
    }
}

/// Pass 1 over whole groups of 16 VMs (`x86_64/pass1.rs`); returns how many
/// VMs it covered.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn pass1(v: &mut View, p: &mut Pass1) -> usize {
    // SAFETY: this function enables AVX-512 F/BW/VL/DQ, `V`'s features.
    unsafe { crate::tick::x86_64::pass1::pass1::<V>(v, p) }
}

/// `floors` over whole groups of 16 VMs (`x86_64/pass1.rs`); returns how
/// many VMs it covered.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn floors(v: &View, target: &[u32], caps: &mut [u32], u: u64, stage: Stage, scan: &mut Scan) -> usize {
    // SAFETY: this function enables AVX-512 F/BW/VL/DQ, `V`'s features.
    unsafe { crate::tick::x86_64::pass1::floors::<V>(v, target, caps, u, stage, scan) }
}
