//! The two streaming passes of a tick over the VM columns (see
//! `Host::tick_unchecked` for how they fit together, `docs/balancer.md` for
//! what they compute).
//!
//! Each pass has a scalar form, the definition, and on x86-64 CPUs with
//! AVX-512 a vector form that handles 8 VMs per step: the same arithmetic in
//! 64-bit lanes, with masks where the scalar form branches. Whether a VM
//! grows, shrinks or holds changes from tick to tick, so as branches those
//! choices mispredict often; as masks they cost nothing extra. Both forms
//! give bit-identical results (integer arithmetic, and f64 operations done
//! in the same order without fused multiply-adds); the unit tests run every
//! tick both ways and compare whole hosts. Rare cases fall back to the
//! scalar form: a group of 8 with a booting VM in pass 1, and a hot-add
//! (for that VM).

use crate::host::{in_solver, VmState, Vms, STATE_MASK};
use crate::solver::Scan;

/// What the allocation `g` of a solver VM is this tick.
pub(crate) trait Alloc: Copy {
    /// `g` of VM `i`, given its demand, buffer, minimum and maximum (only
    /// called for solver VMs).
    fn g_of(&self, i: usize, demand: u32, buffer: u16, minimum: u32, maximum: u32) -> u64;
    /// `g` of VM `i` (only called for solver VMs).
    #[inline(always)]
    fn g(&self, v: &Vms, i: usize) -> u64 {
        self.g_of(i, v.demand[i], v.buffer[i], v.minimum[i], v.maximum[i])
    }
    /// `g` of VMs `i..i + 8` in u64 lanes (any value in non-solver lanes).
    ///
    /// # Safety
    /// `i + 8 ≤ v.len()`, every column of `v` has `v.len()` entries,
    /// [`Alloc::check`] has passed for `v.len()`, and the CPU has AVX-512
    /// F/BW/VL/DQ.
    #[cfg(target_arch = "x86_64")]
    unsafe fn g8(&self, v: &Vms, i: usize) -> simd::V;
    /// Panics unless `g8` may read entries `0..n` (what it reads beside `v`).
    fn check(&self, _n: usize) {}
}

/// `g = target` (every target fits).
#[derive(Clone, Copy)]
pub(crate) struct Targets {
    pub u: u64,
}

impl Alloc for Targets {
    #[inline(always)]
    fn g_of(&self, _: usize, demand: u32, buffer: u16, minimum: u32, maximum: u32) -> u64 {
        crate::host::target_of(demand, buffer, minimum, maximum, self.u)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn g8(&self, v: &Vms, i: usize) -> simd::V {
        unsafe { simd::targets8(v, i, self.u) }
    }
}

/// `g = base + (extra << shift)` (the water-filling's result).
#[derive(Clone, Copy)]
pub(crate) struct Filled<'a> {
    pub base: &'a [u32],
    pub extra: &'a [u32],
    pub shift: u32,
}

impl Alloc for Filled<'_> {
    fn check(&self, n: usize) {
        assert!(
            self.base.len() >= n && self.extra.len() >= n,
            "solver scratch shorter than the host"
        );
    }
    #[inline(always)]
    fn g_of(&self, i: usize, _: u32, _: u16, _: u32, _: u32) -> u64 {
        self.base[i] as u64 + ((self.extra[i] as u64) << self.shift)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn g8(&self, _: &Vms, i: usize) -> simd::V {
        unsafe { simd::filled8(self.base, self.extra, self.shift, i) }
    }
}

/// Pass 1's sums over the VMs (MB).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(crate) struct Sums {
    /// Held by VMs that are on but outside the solver set (starting or static).
    pub held: u64,
    pub sum_t: u64,
    pub sum_d: u64,
    pub sum_m: u64,
    pub sum_a: u64,
    /// Σ max(0, target − assigned): what the adds would need at g = target.
    pub need_t: u64,
}

/// The mechanics' parameters for one tick.
#[derive(Clone, Copy)]
pub(crate) struct Mechanics {
    /// Balloon every VM above `g` down to `g` at once (prompt removal of all excess).
    pub prompt_all: bool,
    pub dt_s: f64,
    pub remove_delay_s: f64,
    pub lazy_step: u64,
    pub chunk: u64,
}

/// Pass 1: boot clocks (a starting VM whose clock reaches the delay joins
/// the solver set this tick) and the sums that pick the stage.
pub(crate) fn pass1(v: &mut Vms, dt_s: f64, boot_delay: f64, u: u64, simd_allowed: bool) -> Sums {
    let mut sums = Sums::default();
    let n = v.len();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(simd_allowed) {
        // SAFETY: the features were just detected.
        done = unsafe { simd::pass1(v, dt_s, boot_delay, u, &mut sums) };
    }
    let _ = simd_allowed;
    pass1_scalar(v, done..n, dt_s, boot_delay, u, &mut sums);
    sums
}

/// Pass 1 over the VMs in `range`, adding to `sums`.
#[inline(always)]
pub(crate) fn pass1_scalar(
    v: &mut Vms,
    range: std::ops::Range<usize>,
    dt_s: f64,
    boot_delay: f64,
    u: u64,
    sums: &mut Sums,
) {
    // Columns sliced to the range up front: no bounds checks in the loop.
    let r = range;
    let (flags, clock_s) = (&mut v.flags[r.clone()], &mut v.clock_s[r.clone()]);
    let (demand, assigned) = (&v.demand[r.clone()], &v.assigned[r.clone()]);
    let (minimum, maximum, buffer) = (&v.minimum[r.clone()], &v.maximum[r.clone()], &v.buffer[r.clone()]);
    let n = flags.len();
    let (clock_s, demand, assigned) = (&mut clock_s[..n], &demand[..n], &assigned[..n]);
    let (minimum, maximum, buffer) = (&minimum[..n], &maximum[..n], &buffer[..n]);
    // Local accumulators (registers, not the struct in memory).
    let Sums {
        mut held,
        mut sum_t,
        mut sum_d,
        mut sum_m,
        mut sum_a,
        mut need_t,
    } = *sums;
    for i in 0..n {
        let mut f = flags[i];
        if f & STATE_MASK == VmState::Off as u8 {
            continue;
        }
        if f & STATE_MASK == VmState::Starting as u8 {
            clock_s[i] += dt_s;
            if clock_s[i] < boot_delay {
                held += assigned[i] as u64;
                continue;
            }
            f = (f & !STATE_MASK) | VmState::Running as u8;
            flags[i] = f;
            clock_s[i] = 0.0;
        }
        let a = assigned[i] as u64;
        if !in_solver(f) {
            held += a;
            continue;
        }
        let (d, mn, mx) = (demand[i], minimum[i], maximum[i]);
        let t = crate::host::target_of(d, buffer[i], mn, mx, u);
        sum_t += t;
        sum_d += crate::host::demand_cap_of(d, mn, mx, u);
        sum_m += mn as u64;
        sum_a += a;
        need_t += t.max(a) - a; // max(0, t − a), as a cmov: t vs a is data, not control
    }
    *sums = Sums {
        held,
        sum_t,
        sum_d,
        sum_m,
        sum_a,
        need_t,
    };
}

/// Under contention, for every VM: the stage's floor (`base`, MB: demand cap
/// in stage 1, minimum in stage 2) and the room above it (`caps`, balloon
/// units: up to the target, or up to the demand cap; 0 outside the solver
/// set), and the solver's [`Scan`] of them.
pub(crate) fn floors(
    v: &Vms,
    base: &mut [u32],
    caps: &mut [u32],
    u: u64,
    demand_stage: bool,
    simd_allowed: bool,
) -> Scan {
    let mut scan = Scan::default();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(simd_allowed) {
        // SAFETY: the features were just detected.
        done = unsafe { simd::floors(v, base, caps, u, demand_stage, &mut scan) };
    }
    let _ = simd_allowed;
    floors_scalar(v, base, caps, u, demand_stage, done..v.len(), &mut scan);
    scan
}

#[inline(always)]
fn floors_scalar(
    v: &Vms,
    base: &mut [u32],
    caps: &mut [u32],
    u: u64,
    demand_stage: bool,
    range: std::ops::Range<usize>,
    scan: &mut Scan,
) {
    let shift = u.trailing_zeros();
    for i in range {
        let (d, mn, mx) = (v.demand[i], v.minimum[i], v.maximum[i]);
        let d_cap = crate::host::demand_cap_of(d, mn, mx, u);
        let (lo, hi) = if demand_stage {
            (d_cap, crate::host::target_of(d, v.buffer[i], mn, mx, u))
        } else {
            (mn as u64, d_cap)
        };
        let c = if in_solver(v.flags[i]) {
            ((hi - lo) >> shift) as u32
        } else {
            0
        };
        base[i] = lo as u32;
        caps[i] = c;
        scan.add(c, v.weight[i]);
    }
}

/// Pass 2: prompt and lazy removal, adds (unballoon, then hot-add) and the
/// statistics. Returns Σ assigned afterwards.
pub(crate) fn pass2(v: &mut Vms, m: &Mechanics, g: impl Alloc, simd_allowed: bool) -> u64 {
    let n = v.len();
    let (mut done, mut total) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(simd_allowed) {
        // SAFETY: the features were just detected.
        (done, total) = unsafe { simd::pass2(v, m, g) };
    }
    let _ = simd_allowed;
    total + pass2_scalar(v, done..n, m, g)
}

/// Pass 2 over the VMs in `range`; returns their Σ assigned afterwards.
#[inline(always)]
pub(crate) fn pass2_scalar(v: &mut Vms, range: std::ops::Range<usize>, m: &Mechanics, g_of: impl Alloc) -> u64 {
    // Columns sliced to the range up front: no bounds checks in the loop.
    let r = range;
    let start = r.start;
    let flags = &v.flags[r.clone()];
    let n = flags.len();
    let (demand, assigned, visible) = (
        &v.demand[r.clone()],
        &mut v.assigned[r.clone()],
        &mut v.visible[r.clone()],
    );
    let (minimum, maximum, buffer) = (&v.minimum[r.clone()], &v.maximum[r.clone()], &v.buffer[r.clone()]);
    let (clock_s, added, removed) = (
        &mut v.clock_s[r.clone()],
        &mut v.added[r.clone()],
        &mut v.removed[r.clone()],
    );
    let (add_ops, remove_ops) = (&mut v.add_ops[r.clone()], &mut v.remove_ops[r.clone()]);
    let (p_sum, p_time, p_min, p_max) = (
        &mut v.p_sum[r.clone()],
        &mut v.p_time[r.clone()],
        &mut v.p_min[r.clone()],
        &mut v.p_max[r],
    );
    let (demand, assigned, visible) = (&demand[..n], &mut assigned[..n], &mut visible[..n]);
    let (minimum, maximum, buffer, clock_s) = (&minimum[..n], &maximum[..n], &buffer[..n], &mut clock_s[..n]);
    let (added, removed, add_ops, remove_ops) = (
        &mut added[..n],
        &mut removed[..n],
        &mut add_ops[..n],
        &mut remove_ops[..n],
    );
    let (p_sum, p_time, p_min, p_max) = (&mut p_sum[..n], &mut p_time[..n], &mut p_min[..n], &mut p_max[..n]);
    let mut total = 0u64;
    for i in 0..n {
        let f = flags[i];
        if f & STATE_MASK == VmState::Off as u8 {
            continue;
        }
        let d = demand[i];
        if in_solver(f) {
            let g = g_of.g_of(start + i, d, buffer[i], minimum[i], maximum[i]);
            let mut a = assigned[i] as u64;
            if a > g && m.prompt_all {
                assigned[i] = g as u32;
                removed[i] += a - g;
                remove_ops[i] += 1;
                a = g;
            }
            if a > g {
                clock_s[i] += m.dt_s;
                if clock_s[i] >= m.remove_delay_s {
                    let take = (a - g).min(m.lazy_step);
                    assigned[i] -= take as u32;
                    removed[i] += take;
                    remove_ops[i] += 1;
                    if take == a - g {
                        clock_s[i] = 0.0; // no excess left: a new excess waits the delay again
                    }
                }
            } else {
                clock_s[i] = 0.0;
                if a < g {
                    assigned[i] = g as u32;
                    added[i] += g - a;
                    add_ops[i] += 1;
                    visible[i] = visible_after_add(g, visible[i] as u64, maximum[i] as u64, m.chunk) as u32;
                }
            }
        }
        let a = assigned[i];
        let p = d as f64 / a as f64 * 100.0;
        if p < p_min[i] {
            p_min[i] = p;
        }
        if p > p_max[i] {
            p_max[i] = p;
        }
        p_sum[i] += p * m.dt_s;
        p_time[i] += m.dt_s;
        total += a as u64;
    }
    total
}

/// Visible memory after an add to `a`: unchanged while the guest already
/// sees `a`; else it grows by whole hot-add chunks (up to the maximum, and
/// at least to `a`).
#[inline(always)]
fn visible_after_add(a: u64, vis: u64, maximum: u64, chunk: u64) -> u64 {
    if a > vis {
        (vis + (a - vis).div_ceil(chunk) * chunk).min(maximum).max(a)
    } else {
        vis
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod simd {
    //! The AVX-512 forms: 8 VMs per step, u64/f64 lanes.
    use super::{Alloc, Mechanics, Scan, Sums};
    use crate::host::{VmState, Vms, DYNAMIC, STATE_MASK};
    use std::arch::x86_64::*;

    pub(crate) type V = __m512i;

    #[inline(always)]
    unsafe fn u32x8(p: &[u32], i: usize) -> V {
        debug_assert!(i + 8 <= p.len());
        unsafe { _mm512_cvtepu32_epi64(_mm256_loadu_si256(p.as_ptr().add(i) as *const __m256i)) }
    }
    #[inline(always)]
    unsafe fn u16x8(p: &[u16], i: usize) -> V {
        debug_assert!(i + 8 <= p.len());
        unsafe { _mm512_cvtepu16_epi64(_mm_loadu_si128(p.as_ptr().add(i) as *const __m128i)) }
    }
    #[inline(always)]
    unsafe fn u8x8(p: &[u8], i: usize) -> V {
        debug_assert!(i + 8 <= p.len());
        unsafe { _mm512_cvtepu8_epi64(_mm_loadl_epi64(p.as_ptr().add(i) as *const __m128i)) }
    }
    #[inline(always)]
    unsafe fn store_u32x8(p: &mut [u32], i: usize, x: V) {
        debug_assert!(i + 8 <= p.len());
        unsafe { _mm256_storeu_si256(p.as_mut_ptr().add(i) as *mut __m256i, _mm512_cvtepi64_epi32(x)) }
    }
    #[inline(always)]
    unsafe fn f64x8(p: &[f64], i: usize) -> __m512d {
        debug_assert!(i + 8 <= p.len());
        unsafe { _mm512_loadu_pd(p.as_ptr().add(i)) }
    }
    #[inline(always)]
    fn splat(x: u64) -> V {
        unsafe { _mm512_set1_epi64(x as i64) }
    }

    /// `ceil_u(x)` for a power-of-two `u`, lane-wise.
    #[inline(always)]
    unsafe fn ceil_u(x: V, u: u64) -> V {
        unsafe { _mm512_andnot_si512(splat(u - 1), _mm512_add_epi64(x, splat(u - 1))) }
    }

    /// `target_of` for VMs `i..i + 8`, its `ceil(d·(100+b)/100)` in f64 lanes
    /// (exact: see `host::ceil_pct_f64`, which the tests check).
    #[inline(always)]
    pub(crate) unsafe fn targets8(v: &Vms, i: usize, u: u64) -> V {
        unsafe {
            let d = _mm512_cvtepu64_pd(u32x8(&v.demand, i));
            let b = _mm512_cvtepu64_pd(_mm512_add_epi64(u16x8(&v.buffer, i), splat(100)));
            let x = _mm512_mul_pd(d, b);
            let t = _mm512_cvttpd_epu64(_mm512_mul_pd(
                _mm512_add_pd(x, _mm512_set1_pd(99.5)),
                _mm512_set1_pd(0.01),
            ));
            let t = ceil_u(t, u);
            _mm512_min_epu64(_mm512_max_epu64(t, u32x8(&v.minimum, i)), u32x8(&v.maximum, i))
        }
    }

    #[inline(always)]
    pub(crate) unsafe fn filled8(base: &[u32], extra: &[u32], shift: u32, i: usize) -> V {
        unsafe { _mm512_add_epi64(u32x8(base, i), _mm512_sllv_epi64(u32x8(extra, i), splat(shift as u64))) }
    }

    #[inline(always)]
    unsafe fn hsum(x: V) -> u64 {
        unsafe { _mm512_reduce_add_epi64(x) as u64 }
    }

    /// Pass 1 over whole groups of 8 VMs; returns how many VMs it covered.
    /// A group with a starting VM goes through the scalar form.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL/DQ. (Bounds: every column is checked to
    /// hold `v.len()` entries, and groups end at or before `v.len()`.)
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) unsafe fn pass1(v: &mut Vms, dt_s: f64, boot_delay: f64, u: u64, sums: &mut Sums) -> usize {
        v.assert_columns();
        let n = v.len() / 8 * 8;
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let (mut held, mut sum_t, mut sum_d, mut sum_m, mut sum_a, mut need_t) = (
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
        );
        let mut i = 0;
        while i < n {
            unsafe {
                let f = u8x8(&v.flags, i);
                let state = _mm512_and_si512(f, splat(STATE_MASK as u64));
                let starting = _mm512_cmpeq_epi64_mask(state, splat(VmState::Starting as u64));
                if starting != 0 {
                    super::pass1_scalar(v, i..i + 8, dt_s, boot_delay, u, sums);
                    i += 8;
                    continue;
                }
                let on = _mm512_cmpneq_epi64_mask(state, splat(VmState::Off as u64));
                let solver = _mm512_cmpeq_epi64_mask(f, running_dynamic);
                let a = u32x8(&v.assigned, i);
                held = _mm512_mask_add_epi64(held, on & !solver, held, a);
                let t = targets8(v, i, u);
                let (d, mn, mx) = (u32x8(&v.demand, i), u32x8(&v.minimum, i), u32x8(&v.maximum, i));
                let d_cap = _mm512_min_epu64(_mm512_max_epu64(ceil_u(d, u), mn), mx);
                sum_t = _mm512_mask_add_epi64(sum_t, solver, sum_t, t);
                sum_d = _mm512_mask_add_epi64(sum_d, solver, sum_d, d_cap);
                sum_m = _mm512_mask_add_epi64(sum_m, solver, sum_m, mn);
                sum_a = _mm512_mask_add_epi64(sum_a, solver, sum_a, a);
                let short = _mm512_maskz_sub_epi64(_mm512_mask_cmpgt_epu64_mask(solver, t, a), t, a);
                need_t = _mm512_add_epi64(need_t, short);
            }
            i += 8;
        }
        unsafe {
            sums.held += hsum(held);
            sums.sum_t += hsum(sum_t);
            sums.sum_d += hsum(sum_d);
            sums.sum_m += hsum(sum_m);
            sums.sum_a += hsum(sum_a);
            sums.need_t += hsum(need_t);
        }
        n
    }

    /// `floors` over whole groups of 8 VMs; returns how many VMs it covered.
    ///
    /// # Safety
    /// As [`pass1`]; `base` and `caps` are checked to be long enough.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) unsafe fn floors(
        v: &Vms,
        base: &mut [u32],
        caps: &mut [u32],
        u: u64,
        demand_stage: bool,
        scan: &mut Scan,
    ) -> usize {
        v.assert_columns();
        let n = v.len() / 8 * 8;
        assert!(base.len() >= n && caps.len() >= n);
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let shift = splat(u.trailing_zeros() as u64);
        let zero = _mm512_setzero_si512();
        let (mut total, mut positive, mut w_pos, mut max_pos) = (zero, zero, zero, zero);
        let (mut min_w, mut n_zero, mut max_zero) = (splat(crate::solver::WEIGHT_SCALE), zero, zero);
        let mut i = 0;
        while i < n {
            unsafe {
                let solver = _mm512_cmpeq_epi64_mask(u8x8(&v.flags, i), running_dynamic);
                let (d, mn, mx) = (u32x8(&v.demand, i), u32x8(&v.minimum, i), u32x8(&v.maximum, i));
                let d_cap = _mm512_min_epu64(_mm512_max_epu64(ceil_u(d, u), mn), mx);
                let (lo, hi) = if demand_stage {
                    (d_cap, targets8(v, i, u))
                } else {
                    (mn, d_cap)
                };
                let c = _mm512_maskz_srlv_epi64(solver, _mm512_sub_epi64(hi, lo), shift);
                store_u32x8(base, i, lo);
                store_u32x8(caps, i, c);
                let w = u16x8(&v.weight, i);
                let pos_w = _mm512_test_epi64_mask(w, w);
                let has_c = _mm512_test_epi64_mask(c, c);
                total = _mm512_add_epi64(total, c);
                positive = _mm512_mask_add_epi64(positive, pos_w, positive, c);
                w_pos = _mm512_mask_add_epi64(w_pos, pos_w & has_c, w_pos, w);
                max_pos = _mm512_mask_max_epu64(max_pos, pos_w, max_pos, c);
                min_w = _mm512_mask_min_epu64(min_w, pos_w & has_c, min_w, w);
                n_zero = _mm512_mask_add_epi64(n_zero, !pos_w & has_c, n_zero, splat(1));
                max_zero = _mm512_mask_max_epu64(max_zero, !pos_w, max_zero, c);
            }
            i += 8;
        }
        unsafe {
            scan.total += hsum(total);
            scan.positive += hsum(positive);
            scan.w_pos += hsum(w_pos);
            scan.max_pos = scan.max_pos.max(_mm512_reduce_max_epu64(max_pos) as u32);
            scan.min_w = scan.min_w.min(_mm512_reduce_min_epu64(min_w) as u16);
            scan.n_zero += hsum(n_zero);
            scan.max_zero = scan.max_zero.max(_mm512_reduce_max_epu64(max_zero) as u32);
        }
        n
    }

    /// Pass 2 over whole groups of 8 VMs; returns how many VMs it covered
    /// and their Σ assigned afterwards.
    ///
    /// # Safety
    /// As [`pass1`]; what `g_of` reads is checked ([`Alloc::check`]).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) unsafe fn pass2(v: &mut Vms, m: &Mechanics, g_of: impl Alloc) -> (usize, u64) {
        v.assert_columns();
        g_of.check(v.len());
        let n = v.len() / 8 * 8;
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let (dt, delay, hundred) = (
            _mm512_set1_pd(m.dt_s),
            _mm512_set1_pd(m.remove_delay_s),
            _mm512_set1_pd(100.0),
        );
        let (step, one, zero) = (splat(m.lazy_step), splat(1), _mm512_setzero_si512());
        let mut total = zero;
        let mut i = 0;
        while i < n {
            unsafe {
                let f = u8x8(&v.flags, i);
                let on = _mm512_test_epi64_mask(f, splat(STATE_MASK as u64));
                let solver = _mm512_cmpeq_epi64_mask(f, running_dynamic);
                let g = g_of.g8(v, i);
                let a0 = u32x8(&v.assigned, i);
                // Prompt removal of all excess (when this tick needs it).
                let prompt_m = if m.prompt_all {
                    _mm512_mask_cmpgt_epu64_mask(solver, a0, g)
                } else {
                    0
                };
                let prompt = _mm512_maskz_sub_epi64(prompt_m, a0, g);
                let a = _mm512_sub_epi64(a0, prompt);
                // Lazy removal: the excess clock runs while above g.
                let over = _mm512_mask_cmpgt_epu64_mask(solver, a, g);
                let excess = _mm512_maskz_sub_epi64(over, a, g);
                let clock = _mm512_maskz_add_pd(over, f64x8(&v.clock_s, i), dt);
                let lazy = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(over, clock, delay);
                let take = _mm512_maskz_min_epu64(lazy, excess, step);
                // The clock resets when no excess is left.
                let spent = _mm512_cmpeq_epi64_mask(take, excess);
                let clock = _mm512_mask_blend_pd(spent, clock, _mm512_setzero_pd());
                _mm512_mask_storeu_pd(v.clock_s.as_mut_ptr().add(i), solver, clock);
                // Adds up to g.
                let under = _mm512_mask_cmpgt_epu64_mask(solver, g, a);
                let add = _mm512_maskz_sub_epi64(under, g, a);
                let a = _mm512_add_epi64(_mm512_sub_epi64(a, take), add);
                store_u32x8(&mut v.assigned, i, a);
                // Counters.
                let removed = _mm512_add_epi64(prompt, take);
                let removed_m = _mm512_test_epi64_mask(removed, removed);
                if removed_m != 0 {
                    let p = v.removed.as_mut_ptr().add(i) as *mut __m512i;
                    _mm512_storeu_si512(p, _mm512_add_epi64(_mm512_loadu_si512(p), removed));
                    let ops = _mm512_add_epi64(
                        _mm512_maskz_mov_epi64(prompt_m, one),
                        _mm512_maskz_mov_epi64(lazy & _mm512_test_epi64_mask(take, take), one),
                    );
                    let ops = _mm512_add_epi64(u32x8(&v.remove_ops, i), ops);
                    store_u32x8(&mut v.remove_ops, i, ops);
                }
                if under != 0 {
                    let p = v.added.as_mut_ptr().add(i) as *mut __m512i;
                    _mm512_storeu_si512(p, _mm512_add_epi64(_mm512_loadu_si512(p), add));
                    let ops = u32x8(&v.add_ops, i);
                    store_u32x8(&mut v.add_ops, i, _mm512_mask_add_epi64(ops, under, ops, one));
                    // Hot-add where the VM now holds more than its guest sees (rare).
                    let mut grow = _mm512_mask_cmpgt_epu64_mask(under, a, u32x8(&v.visible, i));
                    while grow != 0 {
                        let k = grow.trailing_zeros() as usize;
                        let j = i + k;
                        let (a, vis, max) = (v.assigned[j] as u64, v.visible[j] as u64, v.maximum[j] as u64);
                        v.visible[j] = super::visible_after_add(a, vis, max, m.chunk) as u32;
                        grow &= grow - 1;
                    }
                }
                // Statistics of every VM that is on (off lanes: discarded).
                let p = _mm512_mul_pd(
                    _mm512_div_pd(_mm512_cvtepu64_pd(u32x8(&v.demand, i)), _mm512_cvtepu64_pd(a)),
                    hundred,
                );
                let pm = v.p_min.as_mut_ptr().add(i);
                _mm512_mask_storeu_pd(pm, on, _mm512_min_pd(p, _mm512_loadu_pd(pm))); // p < min ? p : min
                let px = v.p_max.as_mut_ptr().add(i);
                _mm512_mask_storeu_pd(px, on, _mm512_max_pd(p, _mm512_loadu_pd(px))); // p > max ? p : max
                let ps = v.p_sum.as_mut_ptr().add(i);
                _mm512_mask_storeu_pd(ps, on, _mm512_add_pd(_mm512_loadu_pd(ps), _mm512_mul_pd(p, dt)));
                let pt = v.p_time.as_mut_ptr().add(i);
                _mm512_mask_storeu_pd(pt, on, _mm512_add_pd(_mm512_loadu_pd(pt), dt));
                total = _mm512_mask_add_epi64(total, on, total, a);
            }
            i += 8;
        }
        (n, unsafe { hsum(total) })
    }
}
