//! Pass 1 and the contention floors, written once over a [`Vector`] of u32
//! lanes: the AVX2 (8 lanes, `avx2/pass1.rs`) and AVX-512 (16 lanes,
//! `avx512/pass1.rs`) forms implement the trait and call [`pass1`] and
//! [`floors`] from their own `#[target_feature]` functions, into which
//! everything here inlines (one algorithm, one dispatch: `vector_prefix!`).
//!
//! Every quantity here but the demand is at most the maximum, 2^20 MB
//! (`MAX_MAXIMUM_MB`), and the demand is first capped at the maximum (the
//! target and the demand cap are the same for `min(demand, maximum)`: both
//! are clamped to the maximum, a multiple of the unit), so that: unsigned
//! u32 min/max replace 64-bit compares and variable blends; the f64 step
//! of the target converts to and from i32 (or u32) lanes in one
//! instruction; and the sums are u32 lane totals of runs of at most
//! [`FOLD`] steps, kept in locals (registers) and folded into u64 lanes
//! after each run. A group with a starting VM ends a run and goes through
//! the scalar form, out of line. There is no masked store, gather or
//! division (`benches/ISA.md`: what this saved on Zen 3).
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use crate::model::rules::Stage;
use crate::model::View;
use crate::model::{VmState, DYNAMIC, STATE_MASK};
use crate::solver::{Scan, WEIGHT_SCALE};
use crate::tick::scalar::pass1_scalar;
use crate::tick::Pass1;

/// Steps per run: each step adds at most 2^20 to a u32 lane, so a run's
/// totals stay below 2^31.
pub(super) const FOLD: usize = 2048;

/// `N` u32 lanes of one x86-64 vector form, and what pass 1 and the floors
/// need of it. Where the forms differ in more than width (lane masks in
/// vector lanes or mask registers, the target's f64 step, the scan), the
/// trait takes the step whole and each form writes it its own way.
///
/// # Safety
/// Every method executes the form's instructions: call them only where the
/// CPU has its features, from a function that enables them (its methods
/// and this module's functions inline into it). The loads and stores also
/// need `i + N ≤` the slice's length.
pub(super) unsafe trait Vector: Copy {
    /// Lanes per vector.
    const N: usize;
    /// A lane mask (all-ones lanes in AVX2, a mask register in AVX-512).
    type Mask: Copy;
    /// A shift count, as the form's shift takes it.
    type Shift: Copy;
    /// The lanes as an array.
    type Array: AsRef<[u32]>;

    unsafe fn splat(x: u32) -> Self;
    unsafe fn add(a: Self, b: Self) -> Self;
    unsafe fn sub(a: Self, b: Self) -> Self;
    unsafe fn and(a: Self, b: Self) -> Self;
    /// `!a & b`.
    unsafe fn andnot(a: Self, b: Self) -> Self;
    /// Unsigned.
    unsafe fn min(a: Self, b: Self) -> Self;
    /// Unsigned.
    unsafe fn max(a: Self, b: Self) -> Self;
    unsafe fn eq(a: Self, b: Self) -> Self::Mask;
    unsafe fn or_mask(a: Self::Mask, b: Self::Mask) -> Self::Mask;
    unsafe fn any(m: Self::Mask) -> bool;
    /// `acc + x` in the lanes of `m`, `acc` in the others.
    unsafe fn add_in(acc: Self, m: Self::Mask, x: Self) -> Self;
    /// `acc + x` outside the lanes of `m`, `acc` in them.
    unsafe fn add_outside(acc: Self, m: Self::Mask, x: Self) -> Self;
    /// `x` in the lanes of `m`, 0 in the others.
    unsafe fn keep(m: Self::Mask, x: Self) -> Self;
    unsafe fn shift(log2: u32) -> Self::Shift;
    /// Logical shift right of every lane.
    unsafe fn shr(x: Self, s: Self::Shift) -> Self;
    /// `N` u8 entries from `p[i]`, in u32 lanes.
    unsafe fn u8s(p: &[u8], i: usize) -> Self;
    /// `N` u16 entries from `p[i]`, in u32 lanes.
    unsafe fn u16s(p: &[u16], i: usize) -> Self;
    /// `N` u32 entries from `p[i]`.
    unsafe fn u32s(p: &[u32], i: usize) -> Self;
    /// Stores the lanes at `p[i..i + N]`.
    unsafe fn store(p: &mut [u32], i: usize, x: Self);
    /// The u32 lanes added pairwise into `N / 2` u64 lanes.
    unsafe fn widen_sum(x: Self) -> Self;
    /// u64 lanes added.
    unsafe fn add64(a: Self, b: Self) -> Self;
    /// The sum of the u64 lanes.
    unsafe fn hsum64(x: Self) -> u64;
    unsafe fn lanes(x: Self) -> Self::Array;
    /// `target_of` of the capped demands `dmx` (`min(demand, maximum)`)
    /// with buffers `b`, minimums `mn` and maximums `mx`, `up` the unit's
    /// low bits: `ceil(d·(100+b)/100)` in f64 (exact: see
    /// `host::ceil_pct_f64`, which the tests check), rounded up to the unit
    /// and clamped.
    unsafe fn targets(dmx: Self, b: Self, mn: Self, mx: Self, up: Self) -> Self;
    /// [`Scan::add`] of rooms `c` with weights `w`, lane-wise, into `s`.
    unsafe fn scan_add(s: &mut ScanLanes<Self>, c: Self, w: Self);
}

/// `K` sums in u64 lanes, each fed the u32 lane totals of one run.
struct Wide<V, const K: usize>([V; K]);

impl<V: Vector, const K: usize> Wide<V, K> {
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn new() -> Self {
        // SAFETY: the caller's contract.
        Wide([unsafe { V::splat(0) }; K])
    }

    /// Adds the u32 lane totals `part`.
    ///
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn fold(&mut self, part: [V; K]) {
        for (w, p) in self.0.iter_mut().zip(part) {
            // SAFETY: the caller's contract.
            *w = unsafe { V::add64(*w, V::widen_sum(p)) };
        }
    }

    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn sums(self) -> [u64; K] {
        // SAFETY: the caller's contract.
        self.0.map(|w| unsafe { V::hsum64(w) })
    }
}

/// [`Scan::add`] kept per lane: the four sums as u32 lane totals of the
/// current run (rooms, rooms of positive weight, positive weights with
/// room, weight-0 items with room), and the three extremes (largest room of
/// positive weight, smallest positive weight with room, largest room of
/// weight 0), which [`Vector::scan_add`] updates.
pub(super) struct ScanLanes<V> {
    pub(super) sums: [V; 4],
    pub(super) max_pos: V,
    pub(super) min_w: V,
    pub(super) max_zero: V,
}

impl<V: Vector> ScanLanes<V> {
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn new() -> Self {
        // SAFETY: the caller's contract.
        let (zero, w) = unsafe { (V::splat(0), V::splat(WEIGHT_SCALE as u32)) };
        ScanLanes {
            sums: [zero; 4],
            max_pos: zero,
            min_w: w,
            max_zero: zero,
        }
    }

    /// Moves the run's sums into `wide`.
    ///
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn fold(&mut self, wide: &mut Wide<V, 4>) {
        // SAFETY: the caller's contract.
        unsafe {
            wide.fold(self.sums);
            self.sums = [V::splat(0); 4];
        }
    }

    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn merge_into(self, wide: Wide<V, 4>, scan: &mut Scan) {
        // SAFETY: the caller's contract.
        let (sums, extremes) = unsafe {
            (
                wide.sums(),
                [self.max_pos, self.min_w, self.max_zero].map(|x| V::lanes(x)),
            )
        };
        super::merge_scan(scan, sums, extremes.each_ref().map(|x| x.as_ref()));
    }
}

/// The constants of the steps below.
#[derive(Clone, Copy)]
struct Consts<V: Vector> {
    running_dynamic: V,
    /// `u − 1`, the unit's low bits.
    up: V,
    /// The unit's log2.
    shift: V::Shift,
}

impl<V: Vector> Consts<V> {
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn new(u: u64) -> Self {
        // SAFETY: the caller's contract.
        unsafe {
            Consts {
                running_dynamic: V::splat((VmState::Running as u8 | DYNAMIC) as u32),
                up: V::splat((u - 1) as u32),
                shift: V::shift(u.trailing_zeros()),
            }
        }
    }

    /// `clamp(ceil_u(dmx), mn, mx)`: the demand cap of the capped demands
    /// `dmx` (`mn ≤ mx`).
    ///
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn demand_cap(&self, dmx: V, mn: V, mx: V) -> V {
        // SAFETY: the caller's contract.
        unsafe {
            let d = V::andnot(self.up, V::add(dmx, self.up));
            V::min(V::max(d, mn), mx)
        }
    }

    /// The room above the stage's floor in the `solver` lanes (0
    /// elsewhere), in balloon units.
    ///
    /// # Safety
    /// [`Vector`]'s.
    #[inline(always)]
    unsafe fn room(&self, stage: Stage, solver: V::Mask, t: V, d_cap: V, mn: V) -> V {
        let (lo, hi) = stage.room_bounds(t, d_cap, mn);
        // SAFETY: the caller's contract.
        unsafe { V::keep(solver, V::shr(V::sub(hi, lo), self.shift)) }
    }
}

/// Pass 1 over the scalar form for a group with a starting VM (rare: kept
/// out of the loop, whose registers it would otherwise take).
#[inline(never)]
#[cold]
fn pass1_group_scalar(v: &mut View, p: &mut Pass1, i: usize, n: usize) {
    pass1_scalar(v, p, i..i + n);
}

/// Pass 1 over whole groups of `V::N` VMs; returns how many VMs it
/// covered. A group with a starting VM goes through the scalar form.
///
/// # Safety
/// [`Vector`]'s: the caller enables `V`'s features.
#[inline(always)]
pub(super) unsafe fn pass1<V: Vector>(v: &mut View, p: &mut Pass1) -> usize {
    v.assert_columns();
    let n = v.len() / V::N * V::N;
    assert!(p.target.len() >= n && (p.stage.is_none() || p.caps.len() >= n));
    // One loop per stage guess: no test of the guess per step.
    // SAFETY: the caller's contract; `n` is within every column, `p.target`
    // and, with a guess, `p.caps` (asserted above).
    unsafe {
        match p.stage {
            None => pass1_steps::<V, false>(v, p, n, Stage::Buffers),
            Some(stage) => pass1_steps::<V, true>(v, p, n, stage),
        }
    }
    n
}

/// [`pass1`]'s steps over VMs `0..n` (`n` a multiple of `V::N`); with
/// `GUESS`, also the rooms in `stage` and their scan. Runs of at most
/// [`FOLD`] steps, each ended early by a group with a starting VM, which
/// goes through the scalar form between runs.
///
/// # Safety
/// [`Vector`]'s, and `n` within every column, `p.target` and, with
/// `GUESS`, `p.caps`.
#[inline(always)]
unsafe fn pass1_steps<V: Vector, const GUESS: bool>(v: &mut View, p: &mut Pass1, n: usize, stage: Stage) {
    // SAFETY: the caller's contract: `V`'s features are enabled, and the
    // loads and stores at `i` below touch VMs `i..i + N` ("the group"),
    // with `i + N ≤ n`: within every column, `p.target` and, with a guess,
    // `p.caps` (the scalar groups change entries, never a slice).
    unsafe {
        let k = Consts::<V>::new(p.u);
        let (state_mask, starting) = (V::splat(STATE_MASK as u32), V::splat(VmState::Starting as u32));
        let zero = V::splat(0);
        // held, target, demand cap, minimum, assigned, shortfall.
        let mut sums = Wide::<V, 6>::new();
        let (mut lanes, mut scan_sums) = (ScanLanes::<V>::new(), Wide::<V, 4>::new());
        let mut i = 0;
        while i < n {
            let (target, caps) = (&mut *p.target, &mut *p.caps);
            let end = n.min(i + V::N * FOLD);
            let mut part = [zero; 6];
            let mut booting = false;
            while i < end {
                let f = V::u8s(v.flags, i);
                let state = V::and(f, state_mask);
                if V::any(V::eq(state, starting)) {
                    booting = true;
                    break;
                }
                let off = V::eq(state, zero);
                let solver = V::eq(f, k.running_dynamic);
                let (a, d, mn, mx, b) = (
                    V::u32s(v.assigned, i),
                    V::u32s(v.demand, i),
                    V::u32s(v.minimum, i),
                    V::u32s(v.maximum, i),
                    V::u16s(v.buffer, i),
                );
                let dmx = V::min(d, mx);
                let t = V::targets(dmx, b, mn, mx, k.up);
                V::store(target, i, t);
                let d_cap = k.demand_cap(dmx, mn, mx);
                // On and not in the solver set: static running VMs hold their memory.
                part[0] = V::add_outside(part[0], V::or_mask(off, solver), a);
                part[1] = V::add_in(part[1], solver, t);
                part[2] = V::add_in(part[2], solver, d_cap);
                part[3] = V::add_in(part[3], solver, mn);
                part[4] = V::add_in(part[4], solver, a);
                part[5] = V::add_in(part[5], solver, V::sub(V::max(t, a), a)); // max(0, t − a)
                if GUESS {
                    let c = k.room(stage, solver, t, d_cap, mn);
                    V::store(caps, i, c);
                    V::scan_add(&mut lanes, c, V::u16s(v.weight, i));
                }
                i += V::N;
            }
            sums.fold(part);
            lanes.fold(&mut scan_sums);
            if booting {
                // (Adds to `p.sums` and `p.scan` directly: both are sums and
                // extremes, so the order of merging does not matter.)
                pass1_group_scalar(v, p, i, V::N);
                i += V::N;
            }
        }
        p.sums.add(sums.sums());
        if GUESS {
            lanes.merge_into(scan_sums, &mut p.scan);
        }
    }
}

/// `floors` over whole groups of `V::N` VMs; returns how many VMs it
/// covered.
///
/// # Safety
/// [`Vector`]'s: the caller enables `V`'s features.
#[inline(always)]
pub(super) unsafe fn floors<V: Vector>(
    v: &View,
    target: &[u32],
    caps: &mut [u32],
    u: u64,
    stage: Stage,
    scan: &mut Scan,
) -> usize {
    v.assert_columns();
    let n = v.len() / V::N * V::N;
    assert!(target.len() >= n && caps.len() >= n);
    // SAFETY: the caller's contract: `V`'s features are enabled, and the
    // loads and stores at `i` below touch VMs `i..i + N` ("the group"),
    // with `i + N ≤ n`: within every column, `target` and `caps` (asserted
    // above).
    unsafe {
        let k = Consts::<V>::new(u);
        let (mut lanes, mut scan_sums) = (ScanLanes::<V>::new(), Wide::<V, 4>::new());
        let mut i = 0;
        while i < n {
            let end = n.min(i + V::N * FOLD);
            while i < end {
                let (f, mn, mx, d, t) = (
                    V::u8s(v.flags, i),
                    V::u32s(v.minimum, i),
                    V::u32s(v.maximum, i),
                    V::u32s(v.demand, i),
                    V::u32s(target, i),
                );
                let solver = V::eq(f, k.running_dynamic);
                let d_cap = k.demand_cap(V::min(d, mx), mn, mx);
                let c = k.room(stage, solver, t, d_cap, mn);
                V::store(caps, i, c);
                V::scan_add(&mut lanes, c, V::u16s(v.weight, i));
                i += V::N;
            }
            lanes.fold(&mut scan_sums);
        }
        lanes.merge_into(scan_sums, scan);
    }
    n
}
