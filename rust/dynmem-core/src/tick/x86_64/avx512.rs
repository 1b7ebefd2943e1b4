//! The AVX-512 form of pass 2: 16 VMs per step in u32 lanes (its f64 steps
//! in two halves of 8); pass 1 and the floors, the same width: `avx512/pass1.rs`.
//!
//! Every function here that executes vector instructions enables AVX-512
//! F/BW/VL/DQ (which imply AVX2 and FMA) and is safe to call from another
//! such function; `vector_prefix!` calls the kernels where `Form::of` found
//! those features. `unsafe` is left to the loads and stores: `unsafe fn`s
//! whose callers keep them in bounds, each use with its `SAFETY` reason.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::guests::GuestCols;
use crate::model::ids::Ids;
use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{Carries, Counter, VmState, DYNAMIC, STATE_MASK};
use crate::solver::x86_64::avx512::Hand8;
use crate::tick::{Alloc, Filled, Lanes, Level, Pass2};
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

/// The columns a [`Filled`] or [`Level`] allocation's `g` is computed from.
#[derive(Clone, Copy)]
struct GCols<'a> {
    minimum: &'a [u32],
    demand: &'a [u32],
    maximum: &'a [u32],
    weight: &'a [u16],
}

/// `g` of VMs `i..i + 16` in u32 lanes (any value in non-solver lanes;
/// every `g` is at most the maximum, 2^20 MB); `BUFFERS`: a [`Filled`]
/// allocation's stage is `Stage::Buffers` (a constant, so that the loops
/// do not test the stage every step).
///
/// # Safety
/// `i + 16 ≤` the length of every column of `c`, and `g.check` has passed
/// for that length.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn g16<const BUFFERS: bool>(g: Lanes, c: GCols, i: usize) -> V {
    match g {
        // SAFETY: `i + 16 ≤ target.len()` (the caller's contract).
        Lanes::Targets(target) => unsafe { u32x16(target, i) },
        // SAFETY: the caller's contract is `filled16`'s.
        Lanes::Filled(f) => unsafe { filled16::<BUFFERS>(c, &f, i) },
        // SAFETY: the caller's contract is `level16`'s.
        Lanes::Level(l) => unsafe { level16::<BUFFERS>(c, &l, i) },
    }
}

/// The floor of VMs `i..i + 16` in a contended stage (`BUFFERS`: stage 1's,
/// the demand cap; else the minimum), in u32 lanes. The demand cap is
/// `clamp(ceil_u(min(d, max)), min, max)`: equal to `demand_cap_of` (the
/// maximum is a multiple of `u`), and no lane can overflow (everything is
/// at most the maximum, 2^20).
///
/// # Safety
/// `i + 16 ≤` the length of every column of `c`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn floor16<const BUFFERS: bool>(c: GCols, u: u64, i: usize) -> V {
    // SAFETY: `i + 16` is within the columns (the caller's contract).
    let mn = unsafe { u32x16(c.minimum, i) };
    if !BUFFERS {
        return mn;
    }
    // SAFETY: as for `mn`.
    let (d, mx) = unsafe { (u32x16(c.demand, i), u32x16(c.maximum, i)) };
    let d = _mm512_min_epu32(d, mx);
    let up = _mm512_set1_epi32((u - 1) as i32);
    let d = _mm512_andnot_si512(up, _mm512_add_epi32(d, up));
    _mm512_min_epu32(_mm512_max_epu32(d, mn), mx)
}

/// [`Level`]'s `g` for VMs `i..i + 16`, in u32 lanes (`BUFFERS`: its
/// stage is `Stage::Buffers`): the floor plus the hand-out's units, computed
/// in two halves of 8 f64 lanes (rooms ≤ the solver's `F64_EXACT_CAP`).
///
/// # Safety
/// `i + 16 ≤` the length of every column of `c` and of `g.rooms`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn level16<const BUFFERS: bool>(c: GCols, g: &Level, i: usize) -> V {
    debug_assert_eq!(BUFFERS, g.stage == Stage::Buffers);
    let hand = Hand8::of(g.hand);
    // SAFETY: `i + 16` is within the columns and `g.rooms` (the caller's contract).
    let (rooms, w) = unsafe { (u32x16(g.rooms, i), u16x16(c.weight, i)) };
    let lo = hand.units(
        i,
        _mm512_cvtepu32_pd(_mm512_castsi512_si256(rooms)),
        _mm512_cvtepu32_pd(_mm512_castsi512_si256(w)),
    );
    let hi = hand.units(
        i + 8,
        _mm512_cvtepu32_pd(_mm512_extracti64x4_epi64::<1>(rooms)),
        _mm512_cvtepu32_pd(_mm512_extracti64x4_epi64::<1>(w)),
    );
    let units = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(_mm512_cvttpd_epu32(lo)), _mm512_cvttpd_epu32(hi));
    // SAFETY: as above.
    let floor = unsafe { floor16::<BUFFERS>(c, g.u, i) };
    _mm512_add_epi32(floor, _mm512_sllv_epi32(units, _mm512_set1_epi32(g.shift as i32)))
}

/// [`Filled`]'s `g` for VMs `i..i + 16`, in u32 lanes (`BUFFERS`: its
/// stage is `Stage::Buffers`).
/// The demand cap is `clamp(ceil_u(min(d, max)), min, max)`: equal to
/// `demand_cap_of` (the maximum is a multiple of `u`), and no lane can
/// overflow (everything is at most the maximum, 2^20).
///
/// # Safety
/// `i + 16 ≤` the length of every column of `c` and of `g.extra`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn filled16<const BUFFERS: bool>(c: GCols, g: &Filled, i: usize) -> V {
    debug_assert_eq!(BUFFERS, g.stage == Stage::Buffers);
    // SAFETY: `i + 16` is within the columns and `g.extra` (the caller's contract).
    let (floor, extra) = unsafe { (floor16::<BUFFERS>(c, g.u, i), u32x16(g.extra, i)) };
    _mm512_add_epi32(floor, _mm512_sllv_epi32(extra, _mm512_set1_epi32(g.shift as i32)))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn hsum(x: V) -> u64 {
    _mm512_reduce_add_epi64(x) as u64
}

/// Stores the lanes of `x` that `m` selects at `p[i..i + 16]`.
///
/// # Safety
/// `i + 16 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn store_u32x16_in(p: &mut [u32], i: usize, m: u16, x: V) {
    debug_assert!(i + 16 <= p.len());
    // SAFETY: `p[i..i + 16]` is in bounds (the caller's contract).
    unsafe { _mm512_mask_storeu_epi32(p.as_mut_ptr().add(i).cast(), m, x) }
}

/// Adds `inc` to the low words of a counter at `col[i..i + 16]` in the
/// lanes of `m` (stored only there: a line of counters no VM of which
/// moved stays clean); returns the old low words and the lanes that
/// carried out of them.
///
/// # Safety
/// `i + 16 ≤ col.len()`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn count16(col: &mut [u32], i: usize, m: u16, inc: V) -> (V, u16) {
    // SAFETY: `i + 16` is within the column (the caller's contract).
    let lo = unsafe { u32x16(col, i) };
    let sum = _mm512_add_epi32(lo, inc);
    // SAFETY: as for `lo`.
    unsafe { store_u32x16_in(col, i, m, sum) };
    (lo, _mm512_mask_cmplt_epu32_mask(m, sum, lo))
}

/// One kind of move's two counters (MB, operations) of VMs `i..i + 16`:
/// `inc` MB and one operation in the lanes of `m`; carries to `to` (the
/// carries, the ids and the position of the view's first VM).
///
/// # Safety
/// `i + 16 ≤` the length of both columns.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn count_move(
    (mb, ops): (&mut [u32], &mut [u32]),
    (k_mb, k_ops): (Counter, Counter),
    (i, m, inc): (usize, u16, V),
    (to, ids, first): (&mut Carries, &Ids, usize),
) {
    let first = first + i;
    let one = _mm512_set1_epi32(1);
    // SAFETY: the caller's contract is `count16`'s.
    let ((lo, c), (lo_ops, c_ops)) = unsafe { (count16(mb, i, m, inc), count16(ops, i, m, one)) };
    if c | c_ops != 0 {
        carry16(to, ids, first, k_mb, (lo, inc, c));
        carry16(to, ids, first, k_ops, (lo_ops, one, c_ops));
    }
}

/// The counters of removals and of adds.
const REMOVES: (Counter, Counter) = (Counter::Removed, Counter::RemoveOps);
const ADDS: (Counter, Counter) = (Counter::Added, Counter::AddOps);

/// Where a counter's low words carried (rare: once per 2^32): the lanes of
/// `carried` of VMs `first..first + 16`, whose low words were `lo` and
/// grew by `inc`, go to `to` (as `View::carry` notes one).
#[cold]
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn carry16(to: &mut Carries, ids: &Ids, first: usize, k: Counter, (lo, inc, carried): (V, V, u16)) {
    let (los, incs) = (u32_lanes(lo), u32_lanes(inc));
    for j in (0..16).filter(|&j| carried >> j & 1 != 0) {
        to.push((ids.get(first + j), k, los[j] as u64 + incs[j] as u64));
    }
}

/// Hot-add (rare): each VM `i + j` for the bits `j` of `grow` now holds
/// more than its guest sees.
#[cold]
#[inline(never)]
fn hot_add(v: (&[u32], &mut [u32], &[u32]), guests: &GuestCols, i: usize, mut grow: u16) {
    let (assigned, visible, maximum) = v;
    while grow != 0 {
        let j = i + grow.trailing_zeros() as usize;
        let (a, vis, max) = (assigned[j] as u64, visible[j] as u64, maximum[j] as u64);
        visible[j] = crate::model::rules::visible_after_add(a, vis, max, guests.chunk_mb(j)) as u32;
        grow &= grow - 1;
    }
}

/// The statistics' columns.
struct Stats<'a> {
    p_sum: &'a mut [f64],
    p_min: &'a mut [f64],
    p_max: &'a mut [f64],
    p_now: &'a mut [f64],
}

/// Steps of 16 VMs whose Σ assigned fits u32 lanes (each adds ≤ 2^20 per lane).
const FOLD: usize = 2048;

/// Pass 2 over whole groups of 16 VMs; returns how many VMs it covered,
/// their Σ assigned afterwards and whether some VM is not at rest. Memory
/// is in u32 lanes (16 VMs per register: every quantity here is at most
/// 2^32 − 1, and `g`, assigned and visible at most 2^20), the clock and
/// the statistics in two halves of 8 f64 lanes. One loop per kind of
/// removal and stage ([`pass2_as`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn pass2(v: &mut View, m: &Pass2, g_of: impl Alloc) -> (usize, u64, bool) {
    if m.lazy_step == 0 {
        // (Never from the balancer, whose step is at least the unit.) The
        // loops take every lazily removing lane to remove something; with
        // a step of 0 the scalar form does all.
        return (0, 0, false);
    }
    let buffers = match g_of.lanes() {
        Lanes::Targets(_) => false,
        Lanes::Filled(f) => f.stage == Stage::Buffers,
        Lanes::Level(l) => l.stage == Stage::Buffers,
    };
    match (m.prompt_all, buffers) {
        (true, true) => pass2_as::<true, true>(v, m, g_of),
        (true, false) => pass2_as::<true, false>(v, m, g_of),
        (false, true) => pass2_as::<false, true>(v, m, g_of),
        (false, false) => pass2_as::<false, false>(v, m, g_of),
    }
}

/// [`pass2`] with `m.prompt_all == PROMPT` and, for a [`Filled`]
/// allocation, its stage `Stage::Buffers` when `BUFFERS`. The columns are taken apart
/// into locals first (no reloads through the view after each store); each
/// column is written only in the lanes that changed: assigned memory and
/// the counters where a VM's memory moved, the excess clock where it ran
/// or stopped, the statistics where the pressure moved.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn pass2_as<const PROMPT: bool, const BUFFERS: bool>(v: &mut View, m: &Pass2, g_of: impl Alloc) -> (usize, u64, bool) {
    v.assert_columns();
    let g_lanes = g_of.lanes();
    g_lanes.check(v.len());
    let n = v.len() / 16 * 16;
    let (ids, first, guests) = (v.ids, v.start, v.guests);
    let cols = GCols {
        minimum: v.minimum,
        demand: v.demand,
        maximum: v.maximum,
        weight: v.weight,
    };
    let (flags, demand, maximum, dirty) = (&*v.flags, v.demand, v.maximum, &*v.dirty);
    let (assigned, visible, clock_s) = (&mut *v.assigned, &mut *v.visible, &mut *v.clock_s);
    let (added, removed) = (&mut *v.added, &mut *v.removed);
    let (add_ops, remove_ops) = (&mut *v.add_ops, &mut *v.remove_ops);
    let carries = &mut v.carries;
    let mut stats = Stats {
        p_sum: v.p_sum,
        p_min: v.p_min,
        p_max: v.p_max,
        p_now: v.p_now,
    };
    let state8 = _mm_set1_epi8(STATE_MASK as i8);
    let solver8 = _mm_set1_epi8((VmState::Running as u8 | DYNAMIC) as i8);
    let one8 = _mm_set1_epi8(1);
    let (dt, delay) = (_mm512_set1_pd(m.dt_s), _mm512_set1_pd(m.remove_delay_s));
    // min(excess, step) is the same with the step capped at 2^32 − 1.
    let step = _mm512_set1_epi32(m.lazy_step.min(u32::MAX as u64) as u32 as i32);
    let zero_pd = _mm512_setzero_pd();
    // Σ assigned: u32 lanes for runs of up to FOLD groups, then folded
    // into u64 lanes.
    let mut total = _mm512_setzero_si512();
    // Whether some VM is not at rest (see `tick::pass2`), kept in vectors
    // (no mask work per step): `unrest`'s lanes or in `a1 ^ g` of solver
    // VMs (still above `g` after the step, its excess clock running),
    // `booting`'s bytes the least `(f & 3) ^ 1`, 0 for a starting VM.
    let (mut unrest, mut booting) = (_mm512_setzero_si512(), _mm_set1_epi8(-1));

    // The loads and stores at `i` below touch VMs `i..i + 16` ("the
    // group"), with `i + 16 ≤ n`: within every column and what `g_lanes`
    // reads (asserted above; the loop changes entries, never a slice).
    let mut i = 0;
    while i < n {
        let end = n.min(i + 16 * FOLD);
        let mut part = _mm512_setzero_si512();
        while i < end {
            // The marks of the 64 VMs from `i` (a multiple of 64: a part
            // starts at one), 16 bits per group.
            // SAFETY: `i < n ≤ 64 × dirty.len()` (`assert_columns`).
            let mut marks = unsafe { *dirty.get_unchecked(i / 64) } >> (i % 64);
            let word_end = end.min((i / 64 + 1) * 64);
            while i < word_end {
                // SAFETY: the group is in bounds.
                let fx = unsafe { _mm_loadu_si128(flags.as_ptr().add(i).cast()) };
                let on = _mm_test_epi8_mask(fx, state8);
                let solver = _mm_cmpeq_epi8_mask(fx, solver8);
                booting = _mm_min_epu8(booting, _mm_ternarylogic_epi32::<0x6A>(fx, state8, one8));
                // SAFETY: the group is in bounds.
                let (g, a0) = unsafe { (g16::<BUFFERS>(g_lanes, cols, i), u32x16(assigned, i)) };
                // SAFETY: the group is in bounds.
                let (c0_lo, c0_hi) = unsafe { (f64x8(clock_s, i), f64x8(clock_s, i + 8)) };
                // Where memory is removed (`rm`) or added (`ad`), the new
                // assigned memory `a1` and the excess clock.
                let (rm, ad, a1, c_lo, c_hi);
                if PROMPT {
                    // Prompt removal of all excess: every solver VM goes to `g`
                    // at once; no excess is left, so its clock is 0.
                    rm = _mm512_mask_cmpgt_epu32_mask(solver, a0, g);
                    ad = _mm512_mask_cmplt_epu32_mask(solver, a0, g);
                    a1 = _mm512_mask_mov_epi32(a0, solver, g);
                    (c_lo, c_hi) = (zero_pd, zero_pd);
                } else {
                    // Lazy removal: the excess clock runs while above g (f64,
                    // in halves); past the delay a step of the excess goes.
                    let over = _mm512_mask_cmpgt_epu32_mask(solver, a0, g);
                    ad = _mm512_mask_cmplt_epu32_mask(solver, a0, g);
                    let c_lo0 = _mm512_add_pd(c0_lo, dt);
                    let c_hi0 = _mm512_add_pd(c0_hi, dt);
                    let lazy_lo = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(over as u8, c_lo0, delay);
                    let lazy_hi = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>((over >> 8) as u8, c_hi0, delay);
                    let lazy = lazy_lo as u16 | (lazy_hi as u16) << 8;
                    let excess = _mm512_sub_epi32(a0, g);
                    let take = _mm512_maskz_min_epu32(lazy, excess, step);
                    // The clock runs on while excess is left, else it is 0.
                    let runs = over & !_mm512_mask_cmpeq_epi32_mask(lazy, take, excess);
                    c_lo = _mm512_maskz_mov_pd(runs as u8, c_lo0);
                    c_hi = _mm512_maskz_mov_pd((runs >> 8) as u8, c_hi0);
                    rm = lazy; // (a step of at least 1: see `pass2`)
                               // Adds go up to g.
                    a1 = _mm512_mask_mov_epi32(_mm512_sub_epi32(a0, take), ad, g);
                }
                // (0xF6: A | (B ^ C).)
                unrest = _mm512_mask_ternarylogic_epi32::<0xF6>(unrest, solver, a1, g);
                // The clock, stored only where it changed (a clock that stays 0
                // leaves its line clean).
                let (b_lo, b0_lo) = (_mm512_castpd_si512(c_lo), _mm512_castpd_si512(c0_lo));
                let (b_hi, b0_hi) = (_mm512_castpd_si512(c_hi), _mm512_castpd_si512(c0_hi));
                let ran_lo = _mm512_mask_cmpneq_epi64_mask(solver as u8, b_lo, b0_lo);
                let ran_hi = _mm512_mask_cmpneq_epi64_mask((solver >> 8) as u8, b_hi, b0_hi);
                let moved = rm | ad;
                // SAFETY: the group is in bounds.
                unsafe {
                    store_f64x8(clock_s, i, ran_lo, c_lo);
                    store_f64x8(clock_s, i + 8, ran_hi, c_hi);
                    store_u32x16_in(assigned, i, moved, a1);
                }
                // Counters, in the lanes that moved.
                if rm != 0 {
                    let (cols, moves) = ((&mut *removed, &mut *remove_ops), (i, rm, _mm512_sub_epi32(a0, a1)));
                    // SAFETY: the group is in bounds.
                    unsafe { count_move(cols, REMOVES, moves, (carries, ids, first)) };
                }
                if ad != 0 {
                    let (cols, moves) = ((&mut *added, &mut *add_ops), (i, ad, _mm512_sub_epi32(a1, a0)));
                    // SAFETY: the group is in bounds.
                    unsafe { count_move(cols, ADDS, moves, (carries, ids, first)) };
                    // Hot-add where the VM now holds more than its guest sees.
                    // SAFETY: the group is in bounds.
                    let grow = _mm512_mask_cmpgt_epu32_mask(ad, a1, unsafe { u32x16(visible, i) });
                    if grow != 0 {
                        hot_add((assigned, visible, maximum), &guests, i, grow);
                    }
                }
                // Statistics, only in the lanes of VMs that are on whose demand
                // or assigned memory may have changed (marked, or moved here):
                // no division and no f64 write for a VM whose pressure held.
                let changed = on & (marks as u16 | moved);
                if changed != 0 {
                    // SAFETY: the group is in bounds.
                    unsafe { resample16(&mut stats, demand, i, changed, a1, m.time_s) };
                }
                part = _mm512_mask_add_epi32(part, on, part, a1);
                (marks, i) = (marks >> 16, i + 16);
            }
        }
        total = _mm512_add_epi64(total, widen_sum(part));
    }
    let booted = _mm_cmpeq_epi8_mask(booting, _mm_setzero_si128()) == 0;
    (n, hsum(total), _mm512_test_epi32_mask(unrest, unrest) != 0 || !booted)
}

/// The statistics' step (`model::vms::pressure_step`) in the lanes of
/// `changed` of the group at `i`, whose assigned memory is now `a`: where
/// the pressure differs from the open interval's, that interval closes and
/// the new one opens; the same f64 operations, in the same order, as the
/// scalar form.
///
/// # Safety
/// `i + 16 ≤` the length of `demand` and of every column of `s`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
unsafe fn resample16(s: &mut Stats, demand: &[u32], i: usize, changed: u16, a: V, time_s: f64) {
    let (t, hundred) = (_mm512_set1_pd(time_s), _mm512_set1_pd(100.0));
    // `vfixupimmpd`'s table: NaN (tokens 0, 1) to +0 (8), every other
    // class (tokens 2..=7) to the value itself (1).
    let nan_to_zero = _mm512_set1_epi64(0x1111_1188);
    let halves = [_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64::<1>(a)];
    for (h, ah) in halves.into_iter().enumerate() {
        let (k, lanes) = (i + 8 * h, (changed >> (8 * h)) as u8);
        if lanes == 0 {
            continue;
        }
        // SAFETY: `k + 8 ≤ i + 16`: in bounds (the caller's contract).
        let dh = unsafe { _mm256_loadu_si256(demand.as_ptr().add(k).cast()) };
        let p = _mm512_mul_pd(_mm512_div_pd(_mm512_cvtepu32_pd(dh), _mm512_cvtepu32_pd(ah)), hundred);
        // SAFETY: `k + 8 ≤ i + 16`: in bounds.
        unsafe {
            let now = f64x8(s.p_now, k);
            // (No branch on `moved`: masked stores of no lane are no-ops.)
            let moved = _mm512_mask_cmp_pd_mask::<_CMP_NEQ_UQ>(lanes, p, now);
            // old = now, or +0 where it is NaN (none open).
            let old = _mm512_fixupimm_pd::<0>(now, now, nan_to_zero);
            let sum = _mm512_add_pd(f64x8(s.p_sum, k), _mm512_mul_pd(old, t));
            store_f64x8(s.p_sum, k, moved, _mm512_sub_pd(sum, _mm512_mul_pd(p, t)));
            store_f64x8(s.p_now, k, moved, p);
            let lower = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(moved, p, f64x8(s.p_min, k));
            store_f64x8(s.p_min, k, lower, p);
            let higher = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(moved, p, f64x8(s.p_max, k));
            store_f64x8(s.p_max, k, higher, p);
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
