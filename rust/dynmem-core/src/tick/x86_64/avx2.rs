//! The AVX2 form of pass 2: 4 VMs per step in u64/f64 lanes, for x86-64
//! CPUs without AVX-512 (pass 1 and the floors: `avx2/pass1.rs`, u32 lanes). AVX2 has no mask registers, no
//! unsigned 64-bit compares and no u64 ↔ f64 conversions, so: masks are
//! all-ones lanes; every compared value is below 2^63 (u32-derived), so
//! signed compares are right; conversions go through the 2^52 magic
//! number, exact for values below 2^52 (every value here is below 2^45).
//!
//! Every function here that executes vector instructions enables AVX2 and
//! FMA and is safe to call from another such function; `vector_prefix!`
//! calls the kernels where `Form::of` found those features. `unsafe` is
//! left to the loads and stores: `unsafe fn`s whose callers keep them in
//! bounds, each use with its `SAFETY` reason.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{Counter, VmState, DYNAMIC, STATE_MASK};
use crate::tick::{Alloc, Filled, Lanes, Pass2};
use std::arch::x86_64::*;

mod pass1;
pub(crate) use pass1::{floors, pass1};

type V = __m256i;

const MAGIC: i64 = 0x4330_0000_0000_0000; // 2^52 as f64 bits

/// 4 u32 entries from `p[i]`, in u64 lanes.
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn u32x4(p: &[u32], i: usize) -> V {
    debug_assert!(i + 4 <= p.len());
    // SAFETY: `p[i..i + 4]` is in bounds (the caller's contract).
    _mm256_cvtepu32_epi64(unsafe { _mm_loadu_si128(p.as_ptr().add(i).cast()) })
}

/// 4 u8 entries from `p[i]`, in u64 lanes (checked: panics past the end).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn u8x4(p: &[u8], i: usize) -> V {
    debug_assert!(i + 4 <= p.len());
    let w = i32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(w))
}

/// Stores the 4 u64 lanes of `x` (each below 2^32) at `p[i]` as u32.
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_u32x4(p: &mut [u32], i: usize, x: V) {
    debug_assert!(i + 4 <= p.len());
    let packed = _mm256_permutevar8x32_epi32(x, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    // SAFETY: `p[i..i + 4]` is in bounds (the caller's contract).
    unsafe { _mm_storeu_si128(p.as_mut_ptr().add(i).cast(), _mm256_castsi256_si128(packed)) }
}

/// 4 f64 entries from `p[i]`.
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn f64x4(p: &[f64], i: usize) -> __m256d {
    debug_assert!(i + 4 <= p.len());
    // SAFETY: `p[i..i + 4]` is in bounds (the caller's contract).
    unsafe { _mm256_loadu_pd(p.as_ptr().add(i)) }
}

/// Stores the lanes of `x` where `m` is all ones at `p[i..i + 4]`.
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_f64x4(p: &mut [f64], i: usize, m: V, x: __m256d) {
    debug_assert!(i + 4 <= p.len());
    // SAFETY: `p[i..i + 4]` is in bounds (the caller's contract).
    unsafe { _mm256_maskstore_pd(p.as_mut_ptr().add(i), m, x) }
}

/// The 4 u64 lanes of `x`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn u64_lanes(x: V) -> [u64; 4] {
    let mut a = [0u64; 4];
    // SAFETY: `a` is 32 writable bytes.
    unsafe { _mm256_storeu_si256(a.as_mut_ptr().cast(), x) };
    a
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn splat(x: u64) -> V {
    _mm256_set1_epi64x(x as i64)
}
/// u64 lanes (< 2^52) to f64, exactly.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn to_f64(x: V) -> __m256d {
    let magic = _mm256_set1_epi64x(MAGIC);
    _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(x, magic)),
        _mm256_castsi256_pd(magic),
    )
}
/// Lane-wise `a > b` for values below 2^63.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn gt(a: V, b: V) -> V {
    _mm256_cmpgt_epi64(a, b)
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn min(a: V, b: V) -> V {
    _mm256_blendv_epi8(a, b, gt(a, b))
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn max(a: V, b: V) -> V {
    _mm256_blendv_epi8(b, a, gt(a, b))
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn ceil_u(x: V, u: u64) -> V {
    _mm256_andnot_si256(splat(u - 1), _mm256_add_epi64(x, splat(u - 1)))
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn any(m: V) -> bool {
    _mm256_movemask_pd(_mm256_castsi256_pd(m)) != 0
}
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(x: V) -> u64 {
    u64_lanes(x).iter().sum()
}

/// Stores the low words of counter `k`'s new values `sum` (u64 lanes,
/// each below 2^63) for VMs `i..i + 4`, and moves any carry out of them
/// to `v.carries`.
///
/// # Safety
/// `i + 4 ≤` the length of counter `k`'s column.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn count4(v: &mut View, k: Counter, i: usize, sum: V) {
    // SAFETY: `i + 4` is within the column (the caller's contract).
    unsafe { store_u32x4(v.counter_mut(k), i, sum) };
    if any(gt(sum, splat(u32::MAX as u64))) {
        for (j, &s) in u64_lanes(sum).iter().enumerate().filter(|(_, &s)| s >> 32 != 0) {
            v.carry(k, i + j, s);
        }
    }
}

/// `g` of VMs `i..i + 4` in u64 lanes (any value in non-solver lanes).
///
/// # Safety
/// `i + 4 ≤ v.len()`, every column of `v` holds `v.len()` entries and
/// `g.check(v.len())` has passed.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn g4(g: Lanes, v: &View, i: usize) -> V {
    match g {
        // SAFETY: `i + 4 ≤ v.len() ≤ target.len()` (the caller's contract).
        Lanes::Targets(target) => unsafe { u32x4(target, i) },
        // SAFETY: the caller's contract is `filled4`'s.
        Lanes::Filled(f) => unsafe { filled4(v, &f, i) },
    }
}

/// [`Filled`]'s `g` for VMs `i..i + 4`, in u64 lanes.
///
/// # Safety
/// `i + 4 ≤ v.len()`, every column of `v` holds `v.len()` entries and
/// `i + 4 ≤ g.extra.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn filled4(v: &View, g: &Filled, i: usize) -> V {
    // SAFETY: `i + 4` is within the columns (the caller's contract).
    let mn = unsafe { u32x4(v.minimum, i) };
    let floor = if g.stage == Stage::Buffers {
        // SAFETY: as for `mn`.
        let (d, mx) = unsafe { (u32x4(v.demand, i), u32x4(v.maximum, i)) };
        demand_caps4(d, mn, mx, g.u)
    } else {
        mn
    };
    // SAFETY: `i + 4 ≤ g.extra.len()` (the caller's contract).
    let extra = unsafe { u32x4(g.extra, i) };
    _mm256_add_epi64(floor, _mm256_sllv_epi64(extra, splat(g.shift as u64)))
}

/// `demand_cap_of` of demands `d`, minimums `mn` and maximums `mx`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn demand_caps4(d: V, mn: V, mx: V, u: u64) -> V {
    min(max(ceil_u(d, u), mn), mx)
}

/// Pass 2 over whole groups of 4 VMs; returns how many VMs it covered
/// and their Σ assigned afterwards.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn pass2(v: &mut View, m: &Pass2, g_of: impl Alloc) -> (usize, u64, bool) {
    v.assert_columns();
    let g_lanes = g_of.lanes();
    g_lanes.check(v.len());
    let n = v.len() / 4 * 4;
    let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
    let (dt, delay) = (_mm256_set1_pd(m.dt_s), _mm256_set1_pd(m.remove_delay_s));
    let (step, zero) = (splat(m.lazy_step), _mm256_setzero_si256());
    let prompt_all = if m.prompt_all { splat(u64::MAX) } else { zero };
    let mut total = zero;
    // Lanes whose VM is not at rest (see `tick::pass2`): booting, or its
    // memory moved or is above `g` (its excess clock runs).
    let (mut active, starting) = (zero, splat(VmState::Starting as u64));
    // The loads and stores at `i` below touch VMs `i..i + 4` ("the
    // group"), with `i + 4 ≤ n`: within every column and what `g_lanes`
    // reads (asserted above; the loop changes entries, never a slice).
    let mut i = 0;
    while i < n {
        let f = u8x4(v.flags, i);
        let on = _mm256_xor_si256(
            _mm256_cmpeq_epi64(_mm256_and_si256(f, splat(STATE_MASK as u64)), zero),
            splat(u64::MAX),
        );
        let solver = _mm256_cmpeq_epi64(f, running_dynamic);
        // SAFETY: the group is in bounds.
        let (g, a0) = unsafe { (g4(g_lanes, v, i), u32x4(v.assigned, i)) };
        // Prompt removal of all excess (when this tick needs it).
        let prompt_m = _mm256_and_si256(_mm256_and_si256(prompt_all, solver), gt(a0, g));
        let prompt = _mm256_and_si256(prompt_m, _mm256_sub_epi64(a0, g));
        let a = _mm256_sub_epi64(a0, prompt);
        // Lazy removal: the excess clock runs while above g.
        let over = _mm256_and_si256(solver, gt(a, g));
        let excess = _mm256_and_si256(over, _mm256_sub_epi64(a, g));
        // SAFETY: the group is in bounds.
        let clock0 = unsafe { f64x4(v.clock_s, i) };
        let clock = _mm256_and_pd(_mm256_castsi256_pd(over), _mm256_add_pd(clock0, dt));
        let lazy = _mm256_and_si256(over, _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_GE_OQ>(clock, delay)));
        let take = _mm256_and_si256(lazy, min(excess, step));
        // The clock resets when no excess is left.
        let spent = _mm256_cmpeq_epi64(take, excess);
        let clock = _mm256_andnot_pd(_mm256_castsi256_pd(spent), clock);
        // SAFETY: the group is in bounds.
        unsafe { store_f64x4(v.clock_s, i, solver, clock) };
        // Adds up to g.
        let under = _mm256_and_si256(solver, gt(g, a));
        let add = _mm256_and_si256(under, _mm256_sub_epi64(g, a));
        let booting = _mm256_cmpeq_epi64(_mm256_and_si256(f, splat(STATE_MASK as u64)), starting);
        active = _mm256_or_si256(
            active,
            _mm256_or_si256(_mm256_or_si256(prompt_m, over), _mm256_or_si256(under, booting)),
        );
        let a = _mm256_add_epi64(_mm256_sub_epi64(a, take), add);
        // SAFETY: the group is in bounds.
        unsafe { store_u32x4(v.assigned, i, a) };
        // Counters (masks are −1 per lane: subtracting one counts one).
        // Unconditional: with 4 lanes, "any lane changed" is a coin toss.
        let removed = _mm256_add_epi64(prompt, take);
        // SAFETY: the group is in bounds.
        unsafe {
            count4(v, Counter::Removed, i, _mm256_add_epi64(u32x4(v.removed, i), removed));
            let ops = _mm256_sub_epi64(_mm256_sub_epi64(u32x4(v.remove_ops, i), prompt_m), lazy);
            count4(v, Counter::RemoveOps, i, ops);
            count4(v, Counter::Added, i, _mm256_add_epi64(u32x4(v.added, i), add));
            count4(v, Counter::AddOps, i, _mm256_sub_epi64(u32x4(v.add_ops, i), under));
        }
        // Hot-add where the VM now holds more than its guest sees (rare).
        // SAFETY: the group is in bounds.
        let grow = _mm256_and_si256(under, gt(a, unsafe { u32x4(v.visible, i) }));
        let mut bits = _mm256_movemask_pd(_mm256_castsi256_pd(grow)) as u32;
        while bits != 0 {
            let j = i + bits.trailing_zeros() as usize;
            let (a, vis, max) = (v.assigned[j] as u64, v.visible[j] as u64, v.maximum[j] as u64);
            v.visible[j] = crate::model::rules::visible_after_add(a, vis, max, v.guests.chunk_mb(j)) as u32;
            bits &= bits - 1;
        }
        // Statistics, only in the lanes of VMs that are on whose demand or
        // assigned memory may have changed (marked, or moved here).
        let marks = (v.dirty[i / 64] >> (i % 64)) as u32 & 15;
        let moved = _mm256_andnot_si256(_mm256_cmpeq_epi64(a, a0), on);
        let on_bits = _mm256_movemask_pd(_mm256_castsi256_pd(on)) as u32;
        let changed = (marks & on_bits) | _mm256_movemask_pd(_mm256_castsi256_pd(moved)) as u32;
        if changed != 0 {
            // SAFETY: the group is in bounds.
            unsafe { resample4(v, i, changed, a, m.time_s) };
        }
        total = _mm256_add_epi64(total, _mm256_and_si256(on, a));
        i += 4;
    }
    (n, hsum(total), _mm256_testz_si256(active, active) == 0)
}

/// The statistics' step (`model::vms::pressure_step`) in the lanes of
/// `changed` (bit per lane) of the group at `i`, whose assigned memory is
/// now `a`: the same f64 operations, in the same order, as the scalar form.
///
/// # Safety
/// `i + 4 ≤ v.len()` (the group is in bounds).
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn resample4(v: &mut View, i: usize, changed: u32, a: V, time_s: f64) {
    let (t, hundred) = (_mm256_set1_pd(time_s), _mm256_set1_pd(100.0));
    let bit = _mm256_set_epi64x(8, 4, 2, 1);
    let lanes = _mm256_cmpeq_epi64(_mm256_and_si256(splat(changed as u64), bit), bit);
    // SAFETY: the group is in bounds (the caller's contract).
    unsafe {
        let d = u32x4(v.demand, i);
        let p = _mm256_mul_pd(_mm256_div_pd(to_f64(d), to_f64(a)), hundred);
        let now = f64x4(v.p_now, i);
        let moved = _mm256_and_si256(lanes, _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_NEQ_UQ>(p, now)));
        if _mm256_testz_si256(moved, moved) != 0 {
            return;
        }
        let old = _mm256_and_pd(_mm256_cmp_pd::<_CMP_ORD_Q>(now, now), now); // NaN: none open, 0
        let sum = _mm256_add_pd(f64x4(v.p_sum, i), _mm256_mul_pd(old, t));
        store_f64x4(v.p_sum, i, moved, _mm256_sub_pd(sum, _mm256_mul_pd(p, t)));
        store_f64x4(v.p_now, i, moved, p);
        let moved_pd = _mm256_castsi256_pd(moved);
        let lower = _mm256_and_pd(moved_pd, _mm256_cmp_pd::<_CMP_LT_OQ>(p, f64x4(v.p_min, i)));
        store_f64x4(v.p_min, i, _mm256_castpd_si256(lower), p);
        let higher = _mm256_and_pd(moved_pd, _mm256_cmp_pd::<_CMP_GT_OQ>(p, f64x4(v.p_max, i)));
        store_f64x4(v.p_max, i, _mm256_castpd_si256(higher), p);
    }
}
