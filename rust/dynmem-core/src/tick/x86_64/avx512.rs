//! The AVX-512 form of pass 2: 16 VMs per step in u32 lanes (its f64 steps
//! in two halves of 8); pass 1 and the floors, the same width: `avx512/pass1.rs`.
//!
//! Every function here that executes vector instructions enables AVX-512
//! F/BW/VL/DQ (which imply AVX2 and FMA) and is safe to call from another
//! such function; `vector_prefix!` calls the kernels where `Form::of` found
//! those features. `unsafe` is left to the loads and stores: `unsafe fn`s
//! whose callers keep them in bounds, each use with its `SAFETY` reason.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{Counter, VmState, DYNAMIC, STATE_MASK};
use crate::tick::{Alloc, Filled, Lanes, Pass2};
use std::arch::x86_64::*;

mod pass1;
pub(crate) use pass1::{floors, pass1};

type V = __m512i;

/// 16 u32 entries from `p[i]` as they are (u32 lanes).
///
/// # Safety
/// `i + 16 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn u32x16(p: &[u32], i: usize) -> V {
    debug_assert!(i + 16 <= p.len());
    // SAFETY: `p[i..i + 16]` is in bounds (the caller's contract).
    unsafe { _mm512_loadu_si512(p.as_ptr().add(i).cast()) }
}

/// Stores the 16 u32 lanes of `x` at `p[i]`.
///
/// # Safety
/// `i + 16 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn store_u32x16(p: &mut [u32], i: usize, x: V) {
    debug_assert!(i + 16 <= p.len());
    // SAFETY: `p[i..i + 16]` is in bounds (the caller's contract).
    unsafe { _mm512_storeu_si512(p.as_mut_ptr().add(i).cast(), x) }
}

/// 16 u16 entries from `p[i]`, in u32 lanes.
///
/// # Safety
/// `i + 16 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn u16x16(p: &[u16], i: usize) -> V {
    debug_assert!(i + 16 <= p.len());
    // SAFETY: `p[i..i + 16]` is in bounds (the caller's contract).
    _mm512_cvtepu16_epi32(unsafe { _mm256_loadu_si256(p.as_ptr().add(i).cast()) })
}

/// 16 u8 entries from `p[i]`, in u32 lanes.
///
/// # Safety
/// `i + 16 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn u8x16(p: &[u8], i: usize) -> V {
    debug_assert!(i + 16 <= p.len());
    // SAFETY: `p[i..i + 16]` is in bounds (the caller's contract).
    _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(p.as_ptr().add(i).cast()) })
}

/// 8 f64 entries from `p[i]`.
///
/// # Safety
/// `i + 8 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn f64x8(p: &[f64], i: usize) -> __m512d {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: `p[i..i + 8]` is in bounds (the caller's contract).
    unsafe { _mm512_loadu_pd(p.as_ptr().add(i)) }
}

/// Stores the lanes of `x` that `m` selects at `p[i..i + 8]`.
///
/// # Safety
/// `i + 8 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn store_f64x8(p: &mut [f64], i: usize, m: __mmask8, x: __m512d) {
    debug_assert!(i + 8 <= p.len());
    // SAFETY: `p[i..i + 8]` is in bounds (the caller's contract).
    unsafe { _mm512_mask_storeu_pd(p.as_mut_ptr().add(i), m, x) }
}

/// The 16 u32 lanes of `x`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn u32_lanes(x: V) -> [u32; 16] {
    let mut a = [0u32; 16];
    // SAFETY: `a` is 64 writable bytes.
    unsafe { _mm512_storeu_si512(a.as_mut_ptr().cast(), x) };
    a
}

/// `g` of VMs `i..i + 16` in u32 lanes (any value in non-solver lanes;
/// every `g` is at most the maximum, 2^20 MB).
///
/// # Safety
/// `i + 16 ≤ v.len()`, every column of `v` holds `v.len()` entries and
/// `g.check(v.len())` has passed.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn g16(g: Lanes, v: &View, i: usize) -> V {
    match g {
        // SAFETY: `i + 16 ≤ v.len() ≤ target.len()` (the caller's contract).
        Lanes::Targets(target) => unsafe { u32x16(target, i) },
        // SAFETY: the caller's contract is `filled16`'s.
        Lanes::Filled(f) => unsafe { filled16(v, &f, i) },
    }
}

/// [`Filled`]'s `g` for VMs `i..i + 16`, in u32 lanes.
/// The demand cap is `clamp(ceil_u(min(d, max)), min, max)`: equal to
/// `demand_cap_of` (the maximum is a multiple of `u`), and no lane can
/// overflow (everything is at most the maximum, 2^20).
///
/// # Safety
/// `i + 16 ≤ v.len()`, every column of `v` holds `v.len()` entries and
/// `i + 16 ≤ g.extra.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn filled16(v: &View, g: &Filled, i: usize) -> V {
    // SAFETY: `i + 16` is within the columns (the caller's contract).
    let mn = unsafe { u32x16(v.minimum, i) };
    let floor = if g.stage == Stage::Buffers {
        // SAFETY: as for `mn`.
        let (d, mx) = unsafe { (u32x16(v.demand, i), u32x16(v.maximum, i)) };
        let d = _mm512_min_epu32(d, mx);
        let up = _mm512_set1_epi32((g.u - 1) as i32);
        let d = _mm512_andnot_si512(up, _mm512_add_epi32(d, up));
        _mm512_min_epu32(_mm512_max_epu32(d, mn), mx)
    } else {
        mn
    };
    // SAFETY: `i + 16 ≤ g.extra.len()` (the caller's contract).
    let extra = unsafe { u32x16(g.extra, i) };
    _mm512_add_epi32(floor, _mm512_sllv_epi32(extra, _mm512_set1_epi32(g.shift as i32)))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn hsum(x: V) -> u64 {
    _mm512_reduce_add_epi64(x) as u64
}

/// Adds `inc` (u32 lanes) to counter `k` of VMs `i..i + 16`: the low
/// words in place, any carry out of them to `v.carries`.
///
/// # Safety
/// `i + 16 ≤` the length of counter `k`'s column.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn count16(v: &mut View, k: Counter, i: usize, inc: V) {
    // SAFETY: `i + 16` is within the column (the caller's contract).
    let lo = unsafe { u32x16(v.counter_mut(k), i) };
    let sum = _mm512_add_epi32(lo, inc);
    // SAFETY: as for `lo`.
    unsafe { store_u32x16(v.counter_mut(k), i, sum) };
    let carried = _mm512_cmplt_epu32_mask(sum, lo);
    if carried != 0 {
        let (los, incs) = (u32_lanes(lo), u32_lanes(inc));
        for j in (0..16).filter(|&j| carried >> j & 1 != 0) {
            v.carry(k, i + j, los[j] as u64 + incs[j] as u64);
        }
    }
}

/// Pass 2 over whole groups of 16 VMs; returns how many VMs it covered
/// and their Σ assigned afterwards. Memory is in u32 lanes (16 VMs per
/// register: every quantity here is at most 2^32 − 1, and `g`, assigned
/// and visible at most 2^20), the clock and the statistics in two halves
/// of 8 f64 lanes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn pass2(v: &mut View, m: &Pass2, g_of: impl Alloc) -> (usize, u64, bool) {
    v.assert_columns();
    let g_lanes = g_of.lanes();
    g_lanes.check(v.len());
    let n = v.len() / 16 * 16;
    let running_dynamic = _mm512_set1_epi32((VmState::Running as u8 | DYNAMIC) as i32);
    let state_mask = _mm512_set1_epi32(STATE_MASK as i32);
    let (dt, delay) = (_mm512_set1_pd(m.dt_s), _mm512_set1_pd(m.remove_delay_s));
    // min(excess, step) is the same with the step capped at 2^32 − 1.
    let step = _mm512_set1_epi32(m.lazy_step.min(u32::MAX as u64) as u32 as i32);
    let one = _mm512_set1_epi32(1);
    let zero_pd = _mm512_setzero_pd();
    // Σ assigned: u32 lanes for up to 2048 groups (each adds ≤ 2^20 per
    // lane), then folded into u64 lanes.
    let (mut total, mut part, mut groups) = (_mm512_setzero_si512(), _mm512_setzero_si512(), 0);
    // Lanes whose VM is not at rest (see `tick::pass2`): booting, or its
    // memory moved or is above `g` (its excess clock runs).
    let (mut active, starting) = (0u16, _mm512_set1_epi32(VmState::Starting as i32));
    // The loads and stores at `i` below touch VMs `i..i + 16` ("the
    // group"), with `i + 16 ≤ n`: within every column and what `g_lanes`
    // reads (asserted above; the loop changes entries, never a slice).
    let mut i = 0;
    while i < n {
        // SAFETY: the group is in bounds.
        let (f, g, a0) = unsafe { (u8x16(v.flags, i), g16(g_lanes, v, i), u32x16(v.assigned, i)) };
        let on = _mm512_test_epi32_mask(f, state_mask);
        let solver = _mm512_cmpeq_epi32_mask(f, running_dynamic);
        // Prompt removal of all excess (when this tick needs it).
        let prompt_m = if m.prompt_all {
            _mm512_mask_cmpgt_epu32_mask(solver, a0, g)
        } else {
            0
        };
        let prompt = _mm512_maskz_sub_epi32(prompt_m, a0, g);
        let a = _mm512_sub_epi32(a0, prompt);
        // Lazy removal: the excess clock runs while above g (f64, in halves).
        let over = _mm512_mask_cmpgt_epu32_mask(solver, a, g);
        let excess = _mm512_maskz_sub_epi32(over, a, g);
        // SAFETY: the group is in bounds.
        let (c0_lo, c0_hi) = unsafe { (f64x8(v.clock_s, i), f64x8(v.clock_s, i + 8)) };
        let c_lo = _mm512_maskz_add_pd(over as u8, c0_lo, dt);
        let c_hi = _mm512_maskz_add_pd((over >> 8) as u8, c0_hi, dt);
        let lazy_lo = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(over as u8, c_lo, delay);
        let lazy_hi = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>((over >> 8) as u8, c_hi, delay);
        let lazy = lazy_lo as u16 | (lazy_hi as u16) << 8;
        let take = _mm512_maskz_min_epu32(lazy, excess, step);
        // The clock resets when no excess is left; stored only where
        // it changed (a clock that stays 0 leaves its line clean).
        let spent = _mm512_cmpeq_epi32_mask(take, excess);
        let c_lo = _mm512_mask_blend_pd(spent as u8, c_lo, zero_pd);
        let c_hi = _mm512_mask_blend_pd((spent >> 8) as u8, c_hi, zero_pd);
        let (b_lo, b0_lo) = (_mm512_castpd_si512(c_lo), _mm512_castpd_si512(c0_lo));
        let (b_hi, b0_hi) = (_mm512_castpd_si512(c_hi), _mm512_castpd_si512(c0_hi));
        let moved_lo = _mm512_mask_cmpneq_epi64_mask(solver as u8, b_lo, b0_lo);
        let moved_hi = _mm512_mask_cmpneq_epi64_mask((solver >> 8) as u8, b_hi, b0_hi);
        // SAFETY: the group is in bounds.
        unsafe {
            store_f64x8(v.clock_s, i, moved_lo, c_lo);
            store_f64x8(v.clock_s, i + 8, moved_hi, c_hi);
        }
        // Adds up to g.
        let under = _mm512_mask_cmpgt_epu32_mask(solver, g, a);
        let add = _mm512_maskz_sub_epi32(under, g, a);
        active |= prompt_m | over | under | _mm512_cmpeq_epi32_mask(_mm512_and_si512(f, state_mask), starting);
        let a = _mm512_add_epi32(_mm512_sub_epi32(a, take), add);
        // SAFETY: the group is in bounds.
        unsafe { store_u32x16(v.assigned, i, a) };
        // Counters.
        let removed = _mm512_add_epi32(prompt, take);
        if _mm512_test_epi32_mask(removed, removed) != 0 {
            let took = lazy & _mm512_test_epi32_mask(take, take);
            let ops = _mm512_add_epi32(_mm512_maskz_mov_epi32(prompt_m, one), _mm512_maskz_mov_epi32(took, one));
            // SAFETY: the group is in bounds.
            unsafe {
                count16(v, Counter::Removed, i, removed);
                count16(v, Counter::RemoveOps, i, ops);
            }
        }
        if under != 0 {
            // SAFETY: the group is in bounds.
            unsafe {
                count16(v, Counter::Added, i, add);
                count16(v, Counter::AddOps, i, _mm512_maskz_mov_epi32(under, one));
            }
            // Hot-add where the VM now holds more than its guest sees (rare).
            // SAFETY: the group is in bounds.
            let mut grow = _mm512_mask_cmpgt_epu32_mask(under, a, unsafe { u32x16(v.visible, i) });
            while grow != 0 {
                let j = i + grow.trailing_zeros() as usize;
                let (a, vis, max) = (v.assigned[j] as u64, v.visible[j] as u64, v.maximum[j] as u64);
                v.visible[j] = crate::model::rules::visible_after_add(a, vis, max, v.guests.chunk_mb(j)) as u32;
                grow &= grow - 1;
            }
        }
        // Statistics, only in the lanes of VMs that are on whose demand or
        // assigned memory may have changed (marked, or moved here): no
        // division and no f64 write for a VM whose pressure held.
        let marks = (v.dirty[i / 64] >> (i % 64)) as u16;
        let changed = on & (marks | _mm512_cmpneq_epu32_mask(a, a0));
        if changed != 0 {
            // SAFETY: the group is in bounds.
            unsafe { resample16(v, i, changed, a, m.time_s) };
        }
        part = _mm512_mask_add_epi32(part, on, part, a);
        groups += 1;
        if groups == 2048 {
            total = _mm512_add_epi64(total, widen_sum(part));
            (part, groups) = (_mm512_setzero_si512(), 0);
        }
        i += 16;
    }
    total = _mm512_add_epi64(total, widen_sum(part));
    (n, hsum(total), active != 0)
}

/// The statistics' step (`model::vms::pressure_step`) in the lanes of
/// `changed` of the group at `i`, whose assigned memory is now `a`: where
/// the pressure differs from the open interval's, that interval closes and
/// the new one opens; the same f64 operations, in the same order, as the
/// scalar form.
///
/// # Safety
/// `i + 16 ≤ v.len()` (the group is in bounds).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn resample16(v: &mut View, i: usize, changed: u16, a: V, time_s: f64) {
    let (t, hundred) = (_mm512_set1_pd(time_s), _mm512_set1_pd(100.0));
    // SAFETY: the group is in bounds (the caller's contract).
    let d = unsafe { u32x16(v.demand, i) };
    let halves = [
        (_mm512_castsi512_si256(d), _mm512_castsi512_si256(a)),
        (_mm512_extracti64x4_epi64::<1>(d), _mm512_extracti64x4_epi64::<1>(a)),
    ];
    for (h, (dh, ah)) in halves.into_iter().enumerate() {
        let (k, lanes) = (i + 8 * h, (changed >> (8 * h)) as u8);
        if lanes == 0 {
            continue;
        }
        let p = _mm512_mul_pd(_mm512_div_pd(_mm512_cvtepu32_pd(dh), _mm512_cvtepu32_pd(ah)), hundred);
        // SAFETY: `k + 8 ≤ i + 16`: in bounds.
        unsafe {
            let now = f64x8(v.p_now, k);
            let moved = _mm512_mask_cmp_pd_mask::<_CMP_NEQ_UQ>(lanes, p, now);
            if moved == 0 {
                continue;
            }
            let old = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask::<_CMP_ORD_Q>(now, now), now); // NaN: none open, 0
            let sum = _mm512_add_pd(f64x8(v.p_sum, k), _mm512_mul_pd(old, t));
            store_f64x8(v.p_sum, k, moved, _mm512_sub_pd(sum, _mm512_mul_pd(p, t)));
            store_f64x8(v.p_now, k, moved, p);
            let lower = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(moved, p, f64x8(v.p_min, k));
            store_f64x8(v.p_min, k, lower, p);
            let higher = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(moved, p, f64x8(v.p_max, k));
            store_f64x8(v.p_max, k, higher, p);
        }
    }
}

/// The 16 u32 lanes of `x` added pairwise into 8 u64 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn widen_sum(x: V) -> V {
    let lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(x));
    let hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(x));
    _mm512_add_epi64(lo, hi)
}
