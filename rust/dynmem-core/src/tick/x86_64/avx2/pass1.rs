//! The AVX2 forms of pass 1 and the contention floors: 8 VMs per step in
//! u32 lanes (as the AVX-512 forms, half as wide), the target's f64 step in
//! two halves of 4.
//!
//! Every quantity here but the demand is at most the maximum, 2^20 MB
//! (`MAX_MAXIMUM_MB`), and the demand is first capped at the maximum (the
//! target and the demand cap are the same for `min(demand, maximum)`: both
//! are clamped to the maximum, a multiple of the unit), so that: unsigned
//! min/max (`vpminud`/`vpmaxud`) replace the 64-bit compares and variable
//! blends of a u64-lane form; the f64 conversions are the one-instruction
//! i32 ones (`vcvtdq2pd`, `vcvttpd2dq`) instead of the 2^52 magic number
//! and a rounding; the sums are u32 lane totals (each add at most 2^20)
//! folded into u64 lanes every 2048 steps; and there is no masked store,
//! gather or division. See `benches/ISA.md` for what this saved on Zen 3.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{VmState, DYNAMIC, STATE_MASK};
use crate::solver::{Scan, WEIGHT_SCALE};
use crate::tick::scalar::pass1_scalar;
use crate::tick::Pass1;
use std::arch::x86_64::*;

type V = __m256i;

/// Steps between folds of the u32 lane totals into u64 lanes: each step adds
/// at most 2^20 to a lane, so 2048 steps stay below 2^31.
pub(super) const FOLD: usize = 2048;

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

/// `K` sums in u64 lanes, each fed the u32 lane totals of at most [`FOLD`]
/// steps. (The loops below keep those totals in locals, one run of steps at
/// a time, so that they stay in registers.)
struct Wide<const K: usize>([V; K]);

impl<const K: usize> Wide<K> {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn new() -> Self {
        Wide([_mm256_setzero_si256(); K])
    }

    /// Adds the u32 lane totals `part`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fold(&mut self, part: [V; K]) {
        for (w, p) in self.0.iter_mut().zip(part) {
            *w = _mm256_add_epi64(*w, widen_sum(p));
        }
    }

    /// The `K` sums.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sums(self) -> [u64; K] {
        self.0.map(|w| hsum64(w))
    }
}

/// [`Scan::add`] kept per lane: the four sums as u32 lane totals of the
/// current run of steps (rooms, rooms of positive weight, positive weights
/// with room, weight-0 items with room), and the three extremes.
struct ScanLanes {
    sums: [V; 4],
    max_pos: V,
    min_w: V,
    max_zero: V,
}

impl ScanLanes {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn new() -> ScanLanes {
        let zero = _mm256_setzero_si256();
        ScanLanes {
            sums: [zero; 4],
            max_pos: zero,
            min_w: s32(WEIGHT_SCALE as u32),
            max_zero: zero,
        }
    }

    /// [`Scan::add`] of rooms `c` with weights `w` (u32 lanes), lane-wise:
    /// all-ones masks, which leave a minimum alone when or-ed in and count
    /// one when subtracted.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(&mut self, c: V, w: V) {
        let zero = _mm256_setzero_si256();
        let zero_w = _mm256_cmpeq_epi32(w, zero);
        let no_c = _mm256_cmpeq_epi32(c, zero);
        let skip = _mm256_or_si256(zero_w, no_c); // not (w > 0 and c > 0)
        let c_pos = _mm256_andnot_si256(zero_w, c);
        let counted = _mm256_andnot_si256(no_c, zero_w); // w = 0 and c > 0: −1
        let [total, positive, w_pos, n_zero] = &mut self.sums;
        *total = _mm256_add_epi32(*total, c);
        *positive = _mm256_add_epi32(*positive, c_pos);
        *w_pos = _mm256_add_epi32(*w_pos, _mm256_andnot_si256(skip, w));
        *n_zero = _mm256_sub_epi32(*n_zero, counted);
        self.max_pos = _mm256_max_epu32(self.max_pos, c_pos);
        self.min_w = _mm256_min_epu32(self.min_w, _mm256_or_si256(w, skip));
        self.max_zero = _mm256_max_epu32(self.max_zero, _mm256_and_si256(zero_w, c));
    }

    /// Moves the run's sums into `wide`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fold(&mut self, wide: &mut Wide<4>) {
        wide.fold(self.sums);
        self.sums = [_mm256_setzero_si256(); 4];
    }

    #[inline(never)]
    #[target_feature(enable = "avx2,fma")]
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
    /// The unit's log2, as `_mm256_srl_epi32` takes it.
    shift: __m128i,
}

impl Consts {
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn new(u: u64) -> Consts {
        Consts {
            running_dynamic: s32((VmState::Running as u8 | DYNAMIC) as u32),
            up: s32((u - 1) as u32),
            shift: _mm_cvtsi32_si128(u.trailing_zeros() as i32),
        }
    }
}

/// `ceil_u(x)` for the unit of `k`, lane-wise (x + u − 1 < 2^32).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn ceil_u(x: V, k: &Consts) -> V {
    _mm256_andnot_si256(k.up, _mm256_add_epi32(x, k.up))
}

/// `clamp(x, mn, mx)` lane-wise (unsigned; `mn ≤ mx`).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn clamp(x: V, mn: V, mx: V) -> V {
    _mm256_min_epu32(_mm256_max_epu32(x, mn), mx)
}

/// `target_of` of the capped demands `dmx` (`min(demand, maximum)`) with
/// buffers `b`, minimums `mn` and maximums `mx`: `ceil(d·(100+b)/100)` in
/// f64 (exact: see `host::ceil_pct_f64`, which the tests check; the product
/// is below 2^32 and the result below 2^31, so the i32 conversions hold it),
/// then rounded up to the unit and clamped.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn targets8(dmx: V, b: V, mn: V, mx: V, k: &Consts) -> V {
    let b = _mm256_add_epi32(b, s32(100));
    let half = |d: __m128i, b: __m128i| {
        let x = _mm256_mul_pd(_mm256_cvtepi32_pd(d), _mm256_cvtepi32_pd(b));
        let t = _mm256_mul_pd(_mm256_add_pd(x, _mm256_set1_pd(99.5)), _mm256_set1_pd(0.01));
        _mm256_cvttpd_epi32(t)
    };
    let lo = half(_mm256_castsi256_si128(dmx), _mm256_castsi256_si128(b));
    let hi = half(_mm256_extracti128_si256::<1>(dmx), _mm256_extracti128_si256::<1>(b));
    clamp(ceil_u(_mm256_set_m128i(hi, lo), k), mn, mx)
}

/// The room above the stage's floor in the `solver` lanes (0 elsewhere),
/// balloon units.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn room8(stage: Stage, solver: V, t: V, d_cap: V, mn: V, k: &Consts) -> V {
    let (lo, hi) = stage.room_bounds(t, d_cap, mn);
    _mm256_and_si256(solver, _mm256_srl_epi32(_mm256_sub_epi32(hi, lo), k.shift))
}

/// Pass 1 over the scalar form for a group with a starting VM (rare: kept
/// out of the loop, whose registers it would otherwise take).
#[inline(never)]
#[cold]
fn pass1_group_scalar(v: &mut View, p: &mut Pass1, i: usize) {
    pass1_scalar(v, p, i..i + 8);
}

/// Pass 1 over whole groups of 8 VMs; returns how many VMs it covered.
/// A group with a starting VM goes through the scalar form.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn pass1(v: &mut View, p: &mut Pass1) -> usize {
    v.assert_columns();
    let n = v.len() / 8 * 8;
    assert!(p.target.len() >= n && (p.stage.is_none() || p.caps.len() >= n));
    // One loop per stage guess: no test of the guess per step.
    match p.stage {
        None => pass1_steps::<false>(v, p, n, Stage::Buffers),
        Some(stage) => pass1_steps::<true>(v, p, n, stage),
    }
    n
}

/// [`pass1`]'s steps over VMs `0..n` (`n` a multiple of 8, asserted by the
/// caller within every column, `p.target` and, with `GUESS`, `p.caps`);
/// with `GUESS`, also the rooms in `stage` and their scan. Runs of at most
/// [`FOLD`] steps, each ended early by a group with a starting VM, which
/// goes through the scalar form between runs.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn pass1_steps<const GUESS: bool>(v: &mut View, p: &mut Pass1, n: usize, stage: Stage) {
    let k = Consts::new(p.u);
    let (state_mask, starting) = (s32(STATE_MASK as u32), s32(VmState::Starting as u32));
    let zero = _mm256_setzero_si256();
    // held, target, demand cap, minimum, assigned, shortfall.
    let mut sums = Wide::<6>::new();
    let (mut lanes, mut scan_sums) = (ScanLanes::new(), Wide::<4>::new());
    // The loads and stores at `i` below touch VMs `i..i + 8` ("the
    // group"), with `i + 8 ≤ n`: within every column, `p.target` and, with
    // a guess, `p.caps` (the caller's contract; the scalar groups change
    // entries, never a slice).
    let mut i = 0;
    while i < n {
        let (target, caps) = (&mut *p.target, &mut *p.caps);
        let end = n.min(i + 8 * FOLD);
        let mut part = [zero; 6];
        let mut booting = false;
        while i < end {
            // SAFETY: the group is in bounds.
            let f = unsafe { u8x8(v.flags, i) };
            let state = _mm256_and_si256(f, state_mask);
            if _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(state, starting))) != 0 {
                booting = true;
                break;
            }
            let off = _mm256_cmpeq_epi32(state, zero);
            let solver = _mm256_cmpeq_epi32(f, k.running_dynamic);
            // SAFETY: the group is in bounds.
            let (a, d, mn, mx, b) = unsafe {
                (
                    u32x8(v.assigned, i),
                    u32x8(v.demand, i),
                    u32x8(v.minimum, i),
                    u32x8(v.maximum, i),
                    u16x8(v.buffer, i),
                )
            };
            let dmx = _mm256_min_epu32(d, mx);
            let t = targets8(dmx, b, mn, mx, &k);
            // SAFETY: the group is in bounds.
            unsafe { store_u32x8(target, i, t) };
            let d_cap = clamp(ceil_u(dmx, &k), mn, mx);
            let short = _mm256_sub_epi32(_mm256_max_epu32(t, a), a); // max(0, t − a)
            let adds = [
                // on and not in the solver set: static running VMs hold their memory
                _mm256_andnot_si256(_mm256_or_si256(off, solver), a),
                _mm256_and_si256(solver, t),
                _mm256_and_si256(solver, d_cap),
                _mm256_and_si256(solver, mn),
                _mm256_and_si256(solver, a),
                _mm256_and_si256(solver, short),
            ];
            for (s, x) in part.iter_mut().zip(adds) {
                *s = _mm256_add_epi32(*s, x);
            }
            if GUESS {
                let c = room8(stage, solver, t, d_cap, mn, &k);
                // SAFETY: the group is in bounds (`p.caps` too, with a guess).
                unsafe { store_u32x8(caps, i, c) };
                // SAFETY: the group is in bounds.
                lanes.add(c, unsafe { u16x8(v.weight, i) });
            }
            i += 8;
        }
        sums.fold(part);
        lanes.fold(&mut scan_sums);
        if booting {
            // (Adds to `p.sums` and `p.scan` directly: both are sums and
            // extremes, so the order of merging does not matter.)
            pass1_group_scalar(v, p, i);
            i += 8;
        }
    }
    p.sums.add(sums.sums());
    if GUESS {
        lanes.merge_into(scan_sums, &mut p.scan);
    }
}

/// `floors` over whole groups of 8 VMs; returns how many VMs it covered.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn floors(v: &View, target: &[u32], caps: &mut [u32], u: u64, stage: Stage, scan: &mut Scan) -> usize {
    v.assert_columns();
    let n = v.len() / 8 * 8;
    assert!(target.len() >= n && caps.len() >= n);
    let k = Consts::new(u);
    let (mut lanes, mut scan_sums) = (ScanLanes::new(), Wide::<4>::new());
    // The loads and stores at `i` below touch VMs `i..i + 8` ("the
    // group"), with `i + 8 ≤ n`: within every column, `target` and `caps`
    // (asserted above).
    let mut i = 0;
    while i < n {
        let end = n.min(i + 8 * FOLD);
        while i < end {
            // SAFETY: the group is in bounds.
            let (f, mn, mx, d, t) = unsafe {
                (
                    u8x8(v.flags, i),
                    u32x8(v.minimum, i),
                    u32x8(v.maximum, i),
                    u32x8(v.demand, i),
                    u32x8(target, i),
                )
            };
            let solver = _mm256_cmpeq_epi32(f, k.running_dynamic);
            let d_cap = clamp(ceil_u(_mm256_min_epu32(d, mx), &k), mn, mx);
            let c = room8(stage, solver, t, d_cap, mn, &k);
            // SAFETY: the group is in bounds.
            unsafe { store_u32x8(caps, i, c) };
            // SAFETY: the group is in bounds.
            lanes.add(c, unsafe { u16x8(v.weight, i) });
            i += 8;
        }
        lanes.fold(&mut scan_sums);
    }
    lanes.merge_into(scan_sums, scan);
    n
}
