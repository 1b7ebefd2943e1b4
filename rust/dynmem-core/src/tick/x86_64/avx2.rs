//! The AVX2 form of pass 2, for x86-64 CPUs without AVX-512: 8 VMs per step
//! in u32 lanes (as pass 1 and the floors, `avx2/pass1.rs`), the f64 steps
//! (the excess clock, the statistics) in two halves of 4.
//!
//! Ranges: `g`, assigned and visible are at most the maximum, 2^20 MB
//! (`MAX_MAXIMUM_MB`), so signed 32-bit compares (`vpcmpgtd`) order them
//! and `vcvtdq2pd` converts assigned exactly; the demand (any u32) converts
//! with its top bit flipped (an i32, `d − 2^31`) and 2^31 added back, both
//! exact. The counters' increments are below 2^31, so a carry out of a low
//! word shows as the top bit set before and clear after.
//!
//! What is slow on Zen 3 stays out of the loop (`benches/ISA.md`): no masked
//! store (`vmaskmovpd` is 18 µops there): a column is read, blended and
//! stored whole, and only when some lane of the group changed (a movemask
//! test: the excess clock stays 0 and the counters stay put for most VMs of
//! most ticks, whose lines then stay clean); no u64 lanes (no widening or
//! narrowing shuffles per column); the division only for VMs whose demand or
//! assigned memory changed.
//!
//! Every function here that executes vector instructions enables AVX2 and
//! FMA and is safe to call from another such function; `vector_prefix!`
//! calls the kernels where `Form::of` found those features. `unsafe` is
//! left to the loads and stores: `unsafe fn`s whose callers keep them in
//! bounds, each use with its `SAFETY` reason.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::guests::GuestCols;
use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{Counter, VmState, DYNAMIC, STATE_MASK};
use crate::solver::x86_64::avx2::Hand8;
use crate::solver::{Cut, Handout};
use crate::tick::{Alloc, Lanes, Pass2};
use std::arch::x86_64::*;

mod pass1;
use super::pass1::FOLD;
pub(crate) use pass1::{floors, pass1};
use pass1::{hsum64, s32, store_u32x8, u16x8, u32_lanes, u32x8, u8x8, widen_sum};

type V = __m256i;
type D = __m256d;

/// 4 f64 entries from `p[i]`.
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn f64x4(p: &[f64], i: usize) -> D {
    debug_assert!(i + 4 <= p.len());
    // SAFETY: `p[i..i + 4]` is in bounds (the caller's contract).
    unsafe { _mm256_loadu_pd(p.as_ptr().add(i)) }
}

/// Stores `x` at `p[i..i + 4]`.
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_f64x4(p: &mut [f64], i: usize, x: D) {
    debug_assert!(i + 4 <= p.len());
    // SAFETY: `p[i..i + 4]` is in bounds (the caller's contract).
    unsafe { _mm256_storeu_pd(p.as_mut_ptr().add(i), x) }
}

/// `x`, hidden from the optimizer (an empty `asm!`, no instruction). It
/// keeps two rewrites of LLVM's out: a blend stored where it was loaded
/// made a `vmaskmovpd` (18 µops, one per 6 cycles on Zen 3), and the flags'
/// compares narrowed to bytes, which then packs every mask it tests.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn opaque(mut x: V) -> V {
    // SAFETY: an empty template: `x` passes through unchanged.
    unsafe { std::arch::asm!("/* {0} */", inout(ymm_reg) x, options(pure, nomem, nostack, preserves_flags)) };
    x
}

/// Stores `new` at `p[i..i + 4]` in the lanes of `m`, `old` (what is
/// there) in the others: a blend and a plain store ([`opaque`]).
///
/// # Safety
/// `i + 4 ≤ p.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store_blend(p: &mut [f64], i: usize, old: D, new: D, m: D) {
    let x = opaque(_mm256_castpd_si256(_mm256_blendv_pd(old, new, m)));
    // SAFETY: `i + 4 ≤ p.len()` (the caller's contract).
    unsafe { store_f64x4(p, i, _mm256_castsi256_pd(x)) }
}

/// One bit per lane of the all-ones/all-zeros u32 lanes `m`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn bits(m: V) -> u32 {
    _mm256_movemask_ps(_mm256_castsi256_ps(m)) as u32
}

/// The all-ones/all-zeros u32 lanes `m` as f64 lane masks: VMs 0–3, 4–7.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn halves(m: V) -> (D, D) {
    let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m));
    let hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(m));
    (_mm256_castsi256_pd(lo), _mm256_castsi256_pd(hi))
}

/// The f64 lane masks of VMs 0–3 and 4–7 as one mask in u32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn narrow(lo: D, hi: D) -> V {
    // Per 128 bits: lo 0, 1, hi 0, 1 | lo 2, 3, hi 2, 3; then 64-bit pieces 0, 2, 1, 3.
    let x = _mm256_shuffle_ps::<0b10_00_10_00>(_mm256_castpd_ps(lo), _mm256_castpd_ps(hi));
    _mm256_castpd_si256(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(x)))
}

/// All-ones f64 lanes where bit `j` of the 4-bit `b` is set.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lanes4(b: u32) -> D {
    /// Each 4-bit value's lane masks.
    static MASK4: [[i64; 4]; 16] = {
        let mut t = [[0i64; 4]; 16];
        let mut b = 0;
        while b < 16 {
            let mut j = 0;
            while j < 4 {
                t[b][j] = -((b as i64 >> j) & 1);
                j += 1;
            }
            b += 1;
        }
        t
    };
    // SAFETY: the entry is 32 readable bytes.
    unsafe { _mm256_loadu_pd(MASK4[(b & 15) as usize].as_ptr().cast()) }
}

/// Which `g` the loop computes (a constant of each loop, as [`Lanes`] and
/// the stage are of a tick): [`Lanes::Targets`], or [`Lanes::Filled`] over
/// the minimum (stage 2) or over the demand cap (stage 1), or
/// [`Lanes::Level`] over either.
const TARGETS: u8 = 0;
const OVER_MINIMUM: u8 = 1;
const OVER_DEMAND_CAP: u8 = 2;
const LEVEL_OVER_MINIMUM: u8 = 3;
const LEVEL_OVER_DEMAND_CAP: u8 = 4;

/// The constants of the steps below.
struct Consts {
    /// `u − 1` (the unit's low bits) and the unit's log2, in every lane.
    up: V,
    shift: V,
    running_dynamic: V,
    state_mask: V,
    starting: V,
    /// The lazy step, capped at 2^31 − 1 (every excess is below it then).
    step: V,
    dt: D,
    delay: D,
    time_s: f64,
    /// The hand-out ([`Lanes::Level`]; none for the other kinds).
    hand: Hand8,
}

/// The columns the steps touch, borrowed out of the view for the loop (in
/// locals, the optimizer keeps their addresses in registers, where through
/// the view it reloads them after every store).
struct Cols<'a> {
    /// The targets ([`TARGETS`]), the extra above the floor or (`LEVEL_*`)
    /// the rooms above it, in balloon units.
    src: &'a [u32],
    weight: &'a [u16],
    flags: &'a [u8],
    demand: &'a [u32],
    minimum: &'a [u32],
    maximum: &'a [u32],
    assigned: &'a mut [u32],
    visible: &'a mut [u32],
    clock_s: &'a mut [f64],
    /// Added, removed, add operations, remove operations (`Counter` order).
    counters: [&'a mut [u32]; 4],
    stats: Stats<'a>,
    dirty: &'a [u64],
}

/// The statistics' columns.
struct Stats<'a> {
    p_sum: &'a mut [f64],
    p_now: &'a mut [f64],
    p_min: &'a mut [f64],
    p_max: &'a mut [f64],
}

/// Counter `c`'s column in [`Cols::counters`].
const fn col(c: Counter) -> usize {
    match c {
        Counter::Added => 0,
        Counter::Removed => 1,
        Counter::AddOps => 2,
        Counter::RemoveOps => 3,
    }
}

/// `g` of the group at `i` in u32 lanes (any value in non-solver lanes).
/// `OVER_DEMAND_CAP`'s floor is `clamp(ceil_u(min(d, max)), min, max)`:
/// equal to `demand_cap_of` (the maximum is a multiple of `u`), and no lane
/// can overflow (everything is at most the maximum, 2^20).
///
/// # Safety
/// `i + 8 ≤` the length of every column of `c`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn g8<const G: u8>(c: &Cols, k: &Consts, i: usize) -> V {
    // SAFETY: `i + 8` is within the columns (the caller's contract).
    let mut src = unsafe { u32x8(c.src, i) };
    if G == TARGETS {
        return src;
    }
    if G >= LEVEL_OVER_MINIMUM {
        // (Rooms ≤ the solver's F64_EXACT_CAP: `Solved::Hand`.)
        // SAFETY: as for `src`.
        src = k.hand.units(i, src, unsafe { u16x8(c.weight, i) });
    }
    // SAFETY: as for `src`.
    let mn = unsafe { u32x8(c.minimum, i) };
    let floor = if G == OVER_DEMAND_CAP || G == LEVEL_OVER_DEMAND_CAP {
        // SAFETY: as for `src`.
        let (d, mx) = unsafe { (u32x8(c.demand, i), u32x8(c.maximum, i)) };
        let d = _mm256_min_epu32(d, mx);
        let d = _mm256_andnot_si256(k.up, _mm256_add_epi32(d, k.up));
        _mm256_min_epu32(_mm256_max_epu32(d, mn), mx)
    } else {
        mn
    };
    _mm256_add_epi32(floor, _mm256_sllv_epi32(src, k.shift))
}

/// Adds `inc` (each below 2^31; with `NEG`, `inc` is −1 where one is
/// added) to the counter column `col` of the group at `i`; returns lanes
/// whose top bit is set where the low word carried.
///
/// # Safety
/// `i + 8 ≤ col.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn count8<const NEG: bool>(col: &mut [u32], i: usize, inc: V) -> V {
    // SAFETY: `i + 8` is within the column (the caller's contract).
    let lo = unsafe { u32x8(col, i) };
    let sum = if NEG {
        _mm256_sub_epi32(lo, inc)
    } else {
        _mm256_add_epi32(lo, inc)
    };
    // SAFETY: as for `lo`.
    unsafe { store_u32x8(col, i, sum) };
    _mm256_andnot_si256(sum, lo)
}

/// A carry out of counter `c`'s low word of VM `pos` (of the view), the
/// new value before truncation: moved to the view's carries after the loop.
type Carried = (usize, Counter, u64);

/// Notes the carries out of the low words of two counters of the group at
/// `i`, just increased by `inc` (each pair: counter, increments), in
/// `carried` (rare: once per 2^32 of a counter).
#[cold]
#[inline(never)]
fn carries8(counters: &[&mut [u32]; 4], i: usize, incs: [(Counter, [u32; 8]); 2], carried: &mut Vec<Carried>) {
    for (c, inc) in incs {
        for (j, inc) in inc.into_iter().enumerate() {
            let sum = counters[col(c)][i + j];
            let lo = sum.wrapping_sub(inc);
            if lo > sum {
                carried.push((i + j, c, lo as u64 + inc as u64));
            }
        }
    }
}

/// Adds to two counters of the group at `i` (the first by `inc`, the
/// second by one where `ops` is −1), carries noted in `carried`.
///
/// # Safety
/// `i + 8 ≤` the length of every counter column.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn count_pair(
    counters: &mut [&mut [u32]; 4],
    i: usize,
    (c, inc): (Counter, V),
    (c_ops, ops): (Counter, V),
    carried: &mut Vec<Carried>,
) {
    // SAFETY: the group is in bounds (the caller's contract).
    let (x, y) = unsafe {
        (
            count8::<false>(counters[col(c)], i, inc),
            count8::<true>(counters[col(c_ops)], i, ops),
        )
    };
    if bits(_mm256_or_si256(x, y)) != 0 {
        let ones = _mm256_sub_epi32(_mm256_setzero_si256(), ops);
        carries8(counters, i, [(c, u32_lanes(inc)), (c_ops, u32_lanes(ones))], carried);
    }
}

/// The excess clocks of the group at `i` when none runs: every solver
/// VM's becomes 0 (the others' stay; with `ALL`, all are solver VMs),
/// stored only if one was not 0.
///
/// # Safety
/// `i + 8 ≤ clock_s.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn clocks_stop<const ALL: bool>(clock_s: &mut [f64], i: usize, solver: V) {
    // SAFETY: the group is in bounds (the caller's contract).
    let (c_lo, c_hi) = unsafe { (f64x4(clock_s, i), f64x4(clock_s, i + 4)) };
    let c = _mm256_castpd_si256(_mm256_or_pd(c_lo, c_hi));
    if _mm256_testz_si256(c, c) == 0 {
        let (s_lo, s_hi) = halves(solver);
        let zero = _mm256_setzero_pd();
        let (c_lo, c_hi) = if ALL {
            (zero, zero)
        } else {
            (_mm256_andnot_pd(s_lo, c_lo), _mm256_andnot_pd(s_hi, c_hi))
        };
        // SAFETY: as above.
        unsafe {
            store_f64x4(clock_s, i, c_lo);
            store_f64x4(clock_s, i + 4, c_hi);
        }
    }
}

/// Lazy removal in the group at `i`: the excess clock of each `over` VM
/// (solver VMs above `g`, some) runs, and where it reached the delay the
/// VM gives up to a step of its `excess`; a clock whose VM has no excess
/// left after this step stops (0), as does every other solver VM's (with
/// `ALL`, all are solver VMs). Returns what is taken, and the lanes where
/// removal ran (−1) with their bits.
///
/// # Safety
/// `i + 8 ≤ clock_s.len()`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn clocks_run<const ALL: bool>(
    clock_s: &mut [f64],
    k: &Consts,
    i: usize,
    (solver, over): (V, V),
    excess: V,
) -> (V, V, u32) {
    // SAFETY: the group is in bounds (the caller's contract).
    let (c0_lo, c0_hi) = unsafe { (f64x4(clock_s, i), f64x4(clock_s, i + 4)) };
    let (c_lo, c_hi) = (_mm256_add_pd(c0_lo, k.dt), _mm256_add_pd(c0_hi, k.dt));
    let (ge_lo, ge_hi) = (
        _mm256_cmp_pd::<_CMP_GE_OQ>(c_lo, k.delay),
        _mm256_cmp_pd::<_CMP_GE_OQ>(c_hi, k.delay),
    );
    let lazy = _mm256_and_si256(over, narrow(ge_lo, ge_hi));
    let lazy_bits = bits(lazy);
    let (take, runs) = if lazy_bits == 0 {
        (_mm256_setzero_si256(), over)
    } else {
        let take = _mm256_and_si256(lazy, _mm256_min_epu32(excess, k.step));
        let spent = _mm256_and_si256(lazy, _mm256_cmpeq_epi32(take, excess));
        (take, _mm256_andnot_si256(spent, over))
    };
    // Running clocks: c0 + dt; other solver VMs': 0; the rest keep theirs.
    let (r_lo, r_hi) = halves(runs);
    let (new_lo, new_hi) = if ALL {
        (_mm256_and_pd(r_lo, c_lo), _mm256_and_pd(r_hi, c_hi))
    } else {
        let (z_lo, z_hi) = halves(_mm256_andnot_si256(runs, solver));
        let keep = |z: D, c0: D, c: D, r: D| _mm256_blendv_pd(_mm256_andnot_pd(z, c0), c, r);
        (keep(z_lo, c0_lo, c_lo, r_lo), keep(z_hi, c0_hi, c_hi, r_hi))
    };
    // SAFETY: as above.
    unsafe {
        store_f64x4(clock_s, i, new_lo);
        store_f64x4(clock_s, i + 4, new_hi);
    }
    (take, lazy, lazy_bits)
}

/// Pass 2 over whole groups of 8 VMs; returns how many VMs it covered,
/// their Σ assigned afterwards and whether some VM is not at rest.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn pass2(v: &mut View, m: &Pass2, g_of: impl Alloc) -> (usize, u64, bool) {
    v.assert_columns();
    let g_lanes = g_of.lanes();
    g_lanes.check(v.len());
    let n = v.len() / 8 * 8;
    let none = Handout {
        level: 0,
        cut: Cut::NONE,
    };
    let (src, u, shift, stage, hand) = match g_lanes {
        Lanes::Targets(target) => (target, 1, 0, None, None),
        Lanes::Filled(f) => (f.extra, f.u, f.shift, Some(f.stage), None),
        Lanes::Level(l) => (l.rooms, l.u, l.shift, Some(l.stage), Some(l.hand)),
    };
    let k = Consts {
        up: s32((u - 1) as u32),
        shift: s32(shift),
        running_dynamic: s32((VmState::Running as u8 | DYNAMIC) as u32),
        state_mask: s32(STATE_MASK as u32),
        starting: s32(VmState::Starting as u32),
        step: s32(m.lazy_step.min(i32::MAX as u64) as u32),
        dt: _mm256_set1_pd(m.dt_s),
        delay: _mm256_set1_pd(m.remove_delay_s),
        time_s: m.time_s,
        hand: Hand8::of(hand.unwrap_or(none)),
    };
    let guests = v.guests;
    let mut carried = Vec::new();
    let mut c = Cols {
        src,
        weight: v.weight,
        flags: v.flags,
        demand: v.demand,
        minimum: v.minimum,
        maximum: v.maximum,
        assigned: v.assigned,
        visible: v.visible,
        clock_s: v.clock_s,
        counters: [&mut *v.added, &mut *v.removed, &mut *v.add_ops, &mut *v.remove_ops],
        stats: Stats {
            p_sum: v.p_sum,
            p_now: v.p_now,
            p_min: v.p_min,
            p_max: v.p_max,
        },
        dirty: v.dirty,
    };
    let hot_add = |c: &mut Cols, i: usize, grow: u32| hot_add(c, guests, i, grow);
    // One loop per (prompt removal, kind of g): no test of either per step.
    let g = match (stage, hand.is_some()) {
        (None, _) => TARGETS,
        (Some(Stage::Demand), false) => OVER_MINIMUM,
        (Some(Stage::Buffers), false) => OVER_DEMAND_CAP,
        (Some(Stage::Demand), true) => LEVEL_OVER_MINIMUM,
        (Some(Stage::Buffers), true) => LEVEL_OVER_DEMAND_CAP,
    };
    let (total, active) = match (m.prompt_all, g) {
        (false, TARGETS) => steps::<false, TARGETS>(&mut c, &k, n, &mut carried, hot_add),
        (true, TARGETS) => steps::<true, TARGETS>(&mut c, &k, n, &mut carried, hot_add),
        (false, OVER_MINIMUM) => steps::<false, OVER_MINIMUM>(&mut c, &k, n, &mut carried, hot_add),
        (true, OVER_MINIMUM) => steps::<true, OVER_MINIMUM>(&mut c, &k, n, &mut carried, hot_add),
        (false, OVER_DEMAND_CAP) => steps::<false, OVER_DEMAND_CAP>(&mut c, &k, n, &mut carried, hot_add),
        (true, OVER_DEMAND_CAP) => steps::<true, OVER_DEMAND_CAP>(&mut c, &k, n, &mut carried, hot_add),
        (false, LEVEL_OVER_MINIMUM) => steps::<false, LEVEL_OVER_MINIMUM>(&mut c, &k, n, &mut carried, hot_add),
        (true, LEVEL_OVER_MINIMUM) => steps::<true, LEVEL_OVER_MINIMUM>(&mut c, &k, n, &mut carried, hot_add),
        (false, _) => steps::<false, LEVEL_OVER_DEMAND_CAP>(&mut c, &k, n, &mut carried, hot_add),
        (true, _) => steps::<true, LEVEL_OVER_DEMAND_CAP>(&mut c, &k, n, &mut carried, hot_add),
    };
    for (pos, counter, sum) in carried {
        v.carry(counter, pos, sum);
    }
    (n, total, active)
}

/// Hot-add for the VMs of the group at `i` whose bits `grow` has (rare):
/// each now holds more than its guest sees.
#[cold]
#[inline(never)]
fn hot_add(c: &mut Cols, guests: GuestCols, i: usize, mut grow: u32) {
    while grow != 0 {
        let j = i + grow.trailing_zeros() as usize;
        let (a, vis, max) = (c.assigned[j] as u64, c.visible[j] as u64, c.maximum[j] as u64);
        c.visible[j] = crate::model::rules::visible_after_add(a, vis, max, guests.chunk_mb(j)) as u32;
        grow &= grow - 1;
    }
}

/// [`pass2`]'s steps over VMs `0..n` (`n` a multiple of 8, within every
/// column of `c`, asserted by the caller), with prompt removal of all
/// excess if `PROMPT`, `g` of kind `G`. Σ assigned in u32 lanes over runs
/// of at most [`FOLD`] steps (each adds at most 2^20 per lane).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn steps<const PROMPT: bool, const G: u8>(
    c: &mut Cols,
    k: &Consts,
    n: usize,
    carried: &mut Vec<Carried>,
    hot_add: impl Fn(&mut Cols, usize, u32),
) -> (u64, bool) {
    let zero = _mm256_setzero_si256();
    let mut total = zero;
    let mut acc = Acc {
        part: zero,
        booting: zero,
        active: 0,
    };
    // The loads and stores at `i` below touch VMs `i..i + 8` ("the
    // group"), with `i + 8 ≤ n`: within every column (the caller's
    // contract; the loop changes entries, never a slice).
    let mut i = 0;
    while i < n {
        let end = n.min(i + 8 * FOLD);
        acc.part = zero;
        while i < end {
            // SAFETY: the group is in bounds.
            let f = opaque(unsafe { u8x8(c.flags, i) }); // (u32 lanes: see `opaque`)
            let solver = _mm256_cmpeq_epi32(f, k.running_dynamic);
            // A group of solver VMs only (most) takes the shorter step.
            // SAFETY: the group is in bounds.
            unsafe {
                if bits(solver) == 0xff {
                    step::<PROMPT, G, true>(c, k, i, (f, solver), &mut acc, carried, &hot_add);
                } else {
                    step::<PROMPT, G, false>(c, k, i, (f, solver), &mut acc, carried, &hot_add);
                }
            }
            i += 8;
        }
        total = _mm256_add_epi64(total, widen_sum(acc.part));
    }
    (hsum64(total), acc.active != 0 || bits(acc.booting) != 0)
}

/// What the steps add up: Σ assigned of the run (u32 lanes), the lanes
/// that booted and the bits of the lanes that moved or are above `g`.
struct Acc {
    part: V,
    booting: V,
    active: u32,
}

/// One step of [`steps`] over the group at `i`, whose flags (u32 lanes)
/// and solver lanes are `f` and `solver`; with `ALL`, every VM of the
/// group is a solver VM.
///
/// # Safety
/// `i + 8 ≤` the length of every column of `c`.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn step<const PROMPT: bool, const G: u8, const ALL: bool>(
    c: &mut Cols,
    k: &Consts,
    i: usize,
    (f, solver): (V, V),
    acc: &mut Acc,
    carried: &mut Vec<Carried>,
    hot_add: &impl Fn(&mut Cols, usize, u32),
) {
    let zero = _mm256_setzero_si256();
    // SAFETY: the group is in bounds (the caller's contract).
    let (a0, g) = unsafe { (u32x8(c.assigned, i), g8::<G>(c, k, i)) };
    // Off VMs (a statistics' step only for VMs that are on), booting VMs.
    let off = if ALL {
        zero
    } else {
        let state = _mm256_and_si256(f, k.state_mask);
        acc.booting = _mm256_or_si256(acc.booting, _mm256_cmpeq_epi32(state, k.starting));
        _mm256_cmpeq_epi32(state, zero)
    };
    let and_solver = |x: V| if ALL { x } else { _mm256_and_si256(solver, x) };
    // Solver VMs above g (their excess) and below it (what adds give).
    let over = and_solver(_mm256_cmpgt_epi32(a0, g));
    let excess = _mm256_and_si256(over, _mm256_sub_epi32(a0, g));
    let under = and_solver(_mm256_cmpgt_epi32(g, a0));
    let add = _mm256_and_si256(under, _mm256_sub_epi32(g, a0));
    let (over_bits, under_bits) = (bits(over), bits(under));
    let removed = if PROMPT || over_bits == 0 {
        // No clock runs (prompt removal takes all excess).
        // SAFETY: the group is in bounds.
        unsafe { clocks_stop::<ALL>(c.clock_s, i, solver) };
        if PROMPT && over_bits != 0 {
            let (removed, ops) = ((Counter::Removed, excess), (Counter::RemoveOps, over));
            // SAFETY: the group is in bounds.
            unsafe { count_pair(&mut c.counters, i, removed, ops, carried) };
        }
        if PROMPT {
            excess
        } else {
            zero
        }
    } else {
        // SAFETY: the group is in bounds.
        let (take, lazy, lazy_bits) = unsafe { clocks_run::<ALL>(c.clock_s, k, i, (solver, over), excess) };
        // Still above g afterwards: not at rest (adds and prompt removal end at g).
        acc.active |= over_bits & !bits(_mm256_cmpeq_epi32(take, excess));
        if lazy_bits != 0 {
            let (removed, ops) = ((Counter::Removed, take), (Counter::RemoveOps, lazy));
            // SAFETY: the group is in bounds.
            unsafe { count_pair(&mut c.counters, i, removed, ops, carried) };
        }
        take
    };
    let a = _mm256_add_epi32(_mm256_sub_epi32(a0, removed), add);
    let moved = !bits(_mm256_cmpeq_epi32(a, a0)) & 0xff;
    if moved != 0 {
        // SAFETY: the group is in bounds.
        unsafe { store_u32x8(c.assigned, i, a) };
    }
    if under_bits != 0 {
        let (added, ops) = ((Counter::Added, add), (Counter::AddOps, under));
        // SAFETY: the group is in bounds.
        unsafe { count_pair(&mut c.counters, i, added, ops, carried) };
        // Hot-add where the VM now holds more than its guest sees (rare).
        // SAFETY: the group is in bounds.
        let grow = under_bits & bits(_mm256_cmpgt_epi32(a, unsafe { u32x8(c.visible, i) }));
        if grow != 0 {
            hot_add(c, i, grow);
        }
    }
    // Statistics, only in the lanes of VMs that are on whose demand or
    // assigned memory may have changed (marked, or moved here).
    // SAFETY: `c.dirty` holds ⌈len/64⌉ words, so byte `i / 8` of its
    // little-endian words (VMs `i..i + 8`) is in bounds.
    let marks = unsafe { *c.dirty.as_ptr().cast::<u8>().add(i / 8) } as u32;
    let changed = if ALL {
        marks | moved
    } else {
        (marks & !bits(off)) | moved
    };
    if changed != 0 {
        // SAFETY: the group is in bounds.
        unsafe { resample8(&mut c.stats, c.demand, i, changed, a, k.time_s) };
    }
    acc.part = _mm256_add_epi32(acc.part, if ALL { a } else { _mm256_andnot_si256(off, a) });
}

/// The statistics' step (`model::vms::pressure_step`) in the lanes of
/// `changed` (bit per lane) of the group at `i`, whose assigned memory is
/// now `a`: where the pressure differs from the open interval's, that
/// interval closes and the new one opens; the same f64 operations, in the
/// same order, as the scalar form. In halves of 4, each skipped when none
/// of its lanes changed.
///
/// # Safety
/// `i + 8 ≤` the length of `demand` and of every column of `s`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn resample8(s: &mut Stats, demand: &[u32], i: usize, changed: u32, a: V, time_s: f64) {
    // SAFETY: the group is in bounds (the caller's contract).
    let d = _mm256_xor_si256(unsafe { u32x8(demand, i) }, s32(1 << 31)); // d − 2^31, as i32
    let lo = (_mm256_castsi256_si128(d), _mm256_castsi256_si128(a));
    let hi = (_mm256_extracti128_si256::<1>(d), _mm256_extracti128_si256::<1>(a));
    // SAFETY: `i + 8` is in bounds.
    unsafe {
        if changed == 0xff {
            // (Every lane, as in most groups that changed: no test.)
            resample4::<true>(s, i, 15, lo, time_s);
            resample4::<true>(s, i + 4, 15, hi, time_s);
            return;
        }
        if changed & 15 != 0 {
            resample4::<false>(s, i, changed & 15, lo, time_s);
        }
        if changed >> 4 != 0 {
            resample4::<false>(s, i + 4, changed >> 4, hi, time_s);
        }
    }
}

/// [`resample8`] for the 4 VMs at `k`: lanes `changed` (4 bits; with
/// `ALL`, all four), demands `d − 2^31` and assigned `a` (i32 lanes).
///
/// # Safety
/// `k + 4 ≤` the length of every column of `s`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn resample4<const ALL: bool>(s: &mut Stats, k: usize, changed: u32, (d, a): (__m128i, __m128i), time_s: f64) {
    let t = _mm256_set1_pd(time_s);
    let d = _mm256_add_pd(_mm256_cvtepi32_pd(d), _mm256_set1_pd(2147483648.0));
    let p = _mm256_mul_pd(_mm256_div_pd(d, _mm256_cvtepi32_pd(a)), _mm256_set1_pd(100.0));
    // SAFETY: `k + 4` is in bounds (the caller's contract).
    unsafe {
        let now = f64x4(s.p_now, k);
        let mut moved = _mm256_cmp_pd::<_CMP_NEQ_UQ>(p, now);
        if !ALL {
            moved = _mm256_and_pd(lanes4(changed), moved);
        }
        let old = _mm256_and_pd(_mm256_cmp_pd::<_CMP_ORD_Q>(now, now), now); // NaN: none open, 0
        let sum0 = f64x4(s.p_sum, k);
        let sum = _mm256_sub_pd(_mm256_add_pd(sum0, _mm256_mul_pd(old, t)), _mm256_mul_pd(p, t));
        store_blend(s.p_sum, k, sum0, sum, moved);
        store_blend(s.p_now, k, now, p, moved);
        let (lo, hi) = (f64x4(s.p_min, k), f64x4(s.p_max, k));
        let lower = _mm256_cmp_pd::<_CMP_LT_OQ>(p, lo);
        let higher = _mm256_cmp_pd::<_CMP_GT_OQ>(p, hi);
        if _mm256_movemask_pd(_mm256_and_pd(moved, _mm256_or_pd(lower, higher))) != 0 {
            store_blend(s.p_min, k, lo, p, _mm256_and_pd(moved, lower));
            store_blend(s.p_max, k, hi, p, _mm256_and_pd(moved, higher));
        }
    }
}
