//! The AVX-512 forms of pass 1 and the contention floors: 16 VMs per step
//! in u32 lanes (every quantity here but the demand is at most the maximum,
//! 2^20 MB, and the demand is capped at the maximum first, which changes
//! neither the target nor the demand cap: both are clamped to the maximum,
//! a multiple of the unit), the target's f64 step in two halves of 8; the
//! sums as u32 lane totals of runs of at most [`FOLD`] steps, kept in
//! locals (registers) and folded into u64 lanes after each run. A group
//! with a starting VM ends a run and goes through the scalar form, out of
//! line. The same shape as the AVX2 forms (`avx2/pass1.rs`), twice as wide.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use super::{hsum, store_u32x16, u16x16, u32_lanes, u32x16, u8x16, widen_sum, V};
use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{VmState, DYNAMIC, STATE_MASK};
use crate::solver::{Scan, WEIGHT_SCALE};
use crate::tick::scalar::pass1_scalar;
use crate::tick::Pass1;
use std::arch::x86_64::*;

/// Steps per run: each step adds at most 2^20 to a u32 lane, so a run's
/// totals stay below 2^31.
const FOLD: usize = 2048;

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn s32(x: u32) -> V {
    _mm512_set1_epi32(x as i32)
}

/// `K` sums in u64 lanes, each fed the u32 lane totals of one run.
struct Wide<const K: usize>([V; K]);

impl<const K: usize> Wide<K> {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn new() -> Self {
        Wide([_mm512_setzero_si512(); K])
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn fold(&mut self, part: [V; K]) {
        for (w, p) in self.0.iter_mut().zip(part) {
            *w = _mm512_add_epi64(*w, widen_sum(p));
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn sums(self) -> [u64; K] {
        self.0.map(|w| hsum(w))
    }
}

/// [`Scan::add`] kept per lane: the run's four sums as u32 lane totals
/// (rooms, rooms of positive weight, positive weights with room, weight-0
/// items with room) and the three extremes.
struct ScanLanes {
    sums: [V; 4],
    max_pos: V,
    min_w: V,
    max_zero: V,
}

impl ScanLanes {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn new() -> ScanLanes {
        let zero = _mm512_setzero_si512();
        ScanLanes {
            sums: [zero; 4],
            max_pos: zero,
            min_w: s32(WEIGHT_SCALE as u32),
            max_zero: zero,
        }
    }

    /// [`Scan::add`] of rooms `c` with weights `w` (u32 lanes), lane-wise.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn add(&mut self, c: V, w: V) {
        let (pos_w, has_c) = (_mm512_test_epi32_mask(w, w), _mm512_test_epi32_mask(c, c));
        let [total, positive, w_pos, n_zero] = &mut self.sums;
        *total = _mm512_add_epi32(*total, c);
        *positive = _mm512_mask_add_epi32(*positive, pos_w, *positive, c);
        *w_pos = _mm512_mask_add_epi32(*w_pos, pos_w & has_c, *w_pos, w);
        *n_zero = _mm512_mask_add_epi32(*n_zero, !pos_w & has_c, *n_zero, s32(1));
        self.max_pos = _mm512_mask_max_epu32(self.max_pos, pos_w, self.max_pos, c);
        self.min_w = _mm512_mask_min_epu32(self.min_w, pos_w & has_c, self.min_w, w);
        self.max_zero = _mm512_mask_max_epu32(self.max_zero, !pos_w, self.max_zero, c);
    }

    /// Moves the run's sums into `wide`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn fold(&mut self, wide: &mut Wide<4>) {
        wide.fold(self.sums);
        self.sums = [_mm512_setzero_si512(); 4];
    }

    #[inline(never)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn merge_into(self, wide: Wide<4>, scan: &mut Scan) {
        let extremes = [self.max_pos, self.min_w, self.max_zero].map(|x| u32_lanes(x));
        crate::tick::x86_64::merge_scan(scan, wide.sums(), extremes.each_ref().map(|x| &x[..]));
    }
}

/// The constants of the steps below.
#[derive(Clone, Copy)]
struct Consts {
    running_dynamic: V,
    /// `u − 1`, the unit's low bits.
    up: V,
    /// The unit's log2, in every lane.
    shift: V,
}

impl Consts {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn new(u: u64) -> Consts {
        Consts {
            running_dynamic: s32((VmState::Running as u8 | DYNAMIC) as u32),
            up: s32((u - 1) as u32),
            shift: s32(u.trailing_zeros()),
        }
    }

    /// `clamp(ceil_u(dmx), mn, mx)`: the demand cap of the capped demands
    /// `dmx` (unsigned; `mn ≤ mx`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn demand_cap(&self, dmx: V, mn: V, mx: V) -> V {
        let d = _mm512_andnot_si512(self.up, _mm512_add_epi32(dmx, self.up));
        _mm512_min_epu32(_mm512_max_epu32(d, mn), mx)
    }

    /// The room above the stage's floor in the `solver` lanes (0 elsewhere), balloon units.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    fn room(&self, stage: Stage, solver: __mmask16, t: V, d_cap: V, mn: V) -> V {
        let (lo, hi) = stage.room_bounds(t, d_cap, mn);
        _mm512_maskz_srlv_epi32(solver, _mm512_sub_epi32(hi, lo), self.shift)
    }
}

/// `target_of` of the capped demands `dmx` with buffers `b`, minimums `mn`
/// and maximums `mx` (u32 lanes): `ceil(d·(100+b)/100)` in f64 (exact: see
/// `host::ceil_pct_f64`, which the tests check), capped at the maximum while
/// still f64 (so that it fits u32; the clamp below gives the maximum either
/// way), then rounded up to the unit and clamped.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn targets16(dmx: V, b: V, mn: V, mx: V, k: &Consts) -> V {
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
    let t = _mm512_andnot_si512(k.up, _mm512_add_epi32(t, k.up));
    _mm512_min_epu32(_mm512_max_epu32(t, mn), mx)
}

/// Pass 1 over the scalar form for a group with a starting VM (rare: kept
/// out of the loop, whose registers it would otherwise take).
#[inline(never)]
#[cold]
fn pass1_group_scalar(v: &mut View, p: &mut Pass1, i: usize) {
    pass1_scalar(v, p, i..i + 16);
}

/// Pass 1 over whole groups of 16 VMs; returns how many VMs it covered.
/// A group with a starting VM goes through the scalar form.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn pass1(v: &mut View, p: &mut Pass1) -> usize {
    v.assert_columns();
    let n = v.len() / 16 * 16;
    assert!(p.target.len() >= n && (p.stage.is_none() || p.caps.len() >= n));
    // One loop per stage guess: no test of the guess per step.
    match p.stage {
        None => pass1_steps::<false>(v, p, n, Stage::Buffers),
        Some(stage) => pass1_steps::<true>(v, p, n, stage),
    }
    n
}

/// [`pass1`]'s steps over VMs `0..n` (`n` a multiple of 16, asserted by
/// the caller within every column, `p.target` and, with `GUESS`, `p.caps`);
/// with `GUESS`, also the rooms in `stage` and their scan.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
fn pass1_steps<const GUESS: bool>(v: &mut View, p: &mut Pass1, n: usize, stage: Stage) {
    let k = Consts::new(p.u);
    let (state_mask, starting) = (s32(STATE_MASK as u32), s32(VmState::Starting as u32));
    let zero = _mm512_setzero_si512();
    // held, target, demand cap, minimum, assigned, shortfall.
    let mut sums = Wide::<6>::new();
    let (mut lanes, mut scan_sums) = (ScanLanes::new(), Wide::<4>::new());
    // The loads and stores at `i` below touch VMs `i..i + 16` ("the
    // group"), with `i + 16 ≤ n`: within every column, `p.target` and,
    // with a guess, `p.caps` (the caller's contract; the scalar groups
    // change entries, never a slice).
    let mut i = 0;
    while i < n {
        let (target, caps) = (&mut *p.target, &mut *p.caps);
        let end = n.min(i + 16 * FOLD);
        let mut part = [zero; 6];
        let mut booting = false;
        while i < end {
            // SAFETY: the group is in bounds.
            let f = unsafe { u8x16(v.flags, i) };
            let state = _mm512_and_si512(f, state_mask);
            if _mm512_cmpeq_epi32_mask(state, starting) != 0 {
                booting = true;
                break;
            }
            let on = _mm512_test_epi32_mask(state, state);
            let solver = _mm512_cmpeq_epi32_mask(f, k.running_dynamic);
            // SAFETY: the group is in bounds.
            let (a, d, mn, mx, b) = unsafe {
                (
                    u32x16(v.assigned, i),
                    u32x16(v.demand, i),
                    u32x16(v.minimum, i),
                    u32x16(v.maximum, i),
                    u16x16(v.buffer, i),
                )
            };
            let dmx = _mm512_min_epu32(d, mx);
            let t = targets16(dmx, b, mn, mx, &k);
            // SAFETY: the group is in bounds.
            unsafe { store_u32x16(target, i, t) };
            let d_cap = k.demand_cap(dmx, mn, mx);
            let short = _mm512_maskz_sub_epi32(_mm512_mask_cmpgt_epu32_mask(solver, t, a), t, a);
            let adds = [
                (on & !solver, a), // static running VMs hold their memory
                (solver, t),
                (solver, d_cap),
                (solver, mn),
                (solver, a),
                (!0, short),
            ];
            for (s, (m, x)) in part.iter_mut().zip(adds) {
                *s = _mm512_mask_add_epi32(*s, m, *s, x);
            }
            if GUESS {
                let c = k.room(stage, solver, t, d_cap, mn);
                // SAFETY: the group is in bounds (`p.caps` too, with a guess).
                unsafe { store_u32x16(caps, i, c) };
                // SAFETY: the group is in bounds.
                lanes.add(c, unsafe { u16x16(v.weight, i) });
            }
            i += 16;
        }
        sums.fold(part);
        lanes.fold(&mut scan_sums);
        if booting {
            // (Adds to `p.sums` and `p.scan` directly: both are sums and
            // extremes, so the order of merging does not matter.)
            pass1_group_scalar(v, p, i);
            i += 16;
        }
    }
    p.sums.add(sums.sums());
    if GUESS {
        lanes.merge_into(scan_sums, &mut p.scan);
    }
}

/// `floors` over whole groups of 16 VMs; returns how many VMs it covered.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
pub(crate) fn floors(v: &View, target: &[u32], caps: &mut [u32], u: u64, stage: Stage, scan: &mut Scan) -> usize {
    v.assert_columns();
    let n = v.len() / 16 * 16;
    assert!(target.len() >= n && caps.len() >= n);
    let k = Consts::new(u);
    let (mut lanes, mut scan_sums) = (ScanLanes::new(), Wide::<4>::new());
    // The loads and stores at `i` below touch VMs `i..i + 16` ("the
    // group"), with `i + 16 ≤ n`: within every column, `target` and `caps`
    // (asserted above).
    let mut i = 0;
    while i < n {
        let end = n.min(i + 16 * FOLD);
        while i < end {
            // SAFETY: the group is in bounds.
            let (f, mn, mx, d, t) = unsafe {
                (
                    u8x16(v.flags, i),
                    u32x16(v.minimum, i),
                    u32x16(v.maximum, i),
                    u32x16(v.demand, i),
                    u32x16(target, i),
                )
            };
            let solver = _mm512_cmpeq_epi32_mask(f, k.running_dynamic);
            let d_cap = k.demand_cap(_mm512_min_epu32(d, mx), mn, mx);
            let c = k.room(stage, solver, t, d_cap, mn);
            // SAFETY: the group is in bounds.
            unsafe { store_u32x16(caps, i, c) };
            // SAFETY: the group is in bounds.
            lanes.add(c, unsafe { u16x16(v.weight, i) });
            i += 16;
        }
        lanes.fold(&mut scan_sums);
    }
    lanes.merge_into(scan_sums, scan);
    n
}
