//! The streaming passes of a tick over the VM columns: pass 1, the
//! contention floors, pass 2 (see `Host::tick_unchecked` for how they fit
//! together, `docs/balancer.md` for what they compute).
//!
//! Each pass has a scalar form, the definition, and two vector forms chosen
//! at run time on x86-64: AVX-512 (module `simd`, mask registers; passes 1
//! and 2 take 16 VMs per step in u32 lanes, the floors 8 in 64-bit lanes)
//! and AVX2 (module `avx2`, 4 VMs per step in 64-bit lanes, all-ones lanes
//! as masks): the same arithmetic, with masks where the scalar form
//! branches. Whether a VM grows, shrinks or holds changes from tick to
//! tick, so as branches those choices mispredict often; as masks they cost
//! nothing extra. Every form gives bit-identical results (integer
//! arithmetic, and f64 operations that are exact, in the same order, without
//! fused multiply-adds); the unit tests run every tick in each form and
//! compare whole hosts. Rare cases fall back to the scalar form: a group
//! (of 16 or 4) with a booting VM in pass 1, and a hot-add (for that VM).
//!
//! Every pass works on a [`View`] (column slices of some VMs); `pass1`,
//! `floors` and `pass2` cut the host into parts for several threads
//! (`pool.rs`) and merge the parts' sums, scans and carries exactly.

use crate::host::{in_solver, Counter, VmState, Vms, STATE_MASK};

/// The VM columns a tick's passes touch, over one range of VMs (all of
/// them, or one thread's part of them), with indices local to the range.
pub(crate) struct View<'a> {
    /// The host's ids, and the position of this view's first VM.
    pub ids: &'a crate::ids::Ids,
    pub start: usize,
    pub flags: &'a mut [u8],
    pub minimum: &'a [u32],
    pub maximum: &'a [u32],
    pub buffer: &'a [u16],
    pub weight: &'a [u16],
    pub demand: &'a [u32],
    pub assigned: &'a mut [u32],
    pub visible: &'a mut [u32],
    pub clock_s: &'a mut [f64],
    pub added: &'a mut [u32],
    pub removed: &'a mut [u32],
    pub add_ops: &'a mut [u32],
    pub remove_ops: &'a mut [u32],
    pub p_sum: &'a mut [f64],
    pub p_min: &'a mut [f64],
    pub p_max: &'a mut [f64],
    /// Counters whose low word carried in this range, as (VM id, counter,
    /// new value before truncation to 32 bits): added to `Vms::carries`
    /// after the pass (`host::carry_to` keeps the part above the low word).
    pub carries: Carries,
}

impl<'a> View<'a> {
    /// All of `v`.
    pub(crate) fn of(v: &'a mut Vms) -> View<'a> {
        // (`push_vm` and `each_column!` keep every column in step; the
        // view's own check covers the columns it holds.)
        debug_assert!(v.startup.len() == v.len() && v.run_mark.len() == v.len());
        View {
            ids: &v.ids,
            start: 0,
            flags: &mut v.flags,
            minimum: &v.minimum,
            maximum: &v.maximum,
            buffer: &v.buffer,
            weight: &v.weight,
            demand: &v.demand,
            assigned: &mut v.assigned,
            visible: &mut v.visible,
            clock_s: &mut v.clock_s,
            added: &mut v.added,
            removed: &mut v.removed,
            add_ops: &mut v.add_ops,
            remove_ops: &mut v.remove_ops,
            p_sum: &mut v.p_sum,
            p_min: &mut v.p_min,
            p_max: &mut v.p_max,
            carries: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.flags.len()
    }

    /// Panics unless every column holds `len()` entries (the vector forms
    /// read them unchecked).
    pub(crate) fn assert_columns(&self) {
        let n = self.len();
        let lens = [
            self.minimum.len(),
            self.maximum.len(),
            self.buffer.len(),
            self.weight.len(),
            self.demand.len(),
            self.assigned.len(),
            self.visible.len(),
            self.clock_s.len(),
            self.added.len(),
            self.removed.len(),
            self.add_ops.len(),
            self.remove_ops.len(),
            self.p_sum.len(),
            self.p_min.len(),
            self.p_max.len(),
        ];
        assert!(
            lens.iter().all(|&l| l == n),
            "VM columns out of step: {n} flags, {lens:?}"
        );
    }

    /// The VMs before `mid` and from `mid` on.
    pub(crate) fn split_at(self, mid: usize) -> (View<'a>, View<'a>) {
        fn cut<T>(x: &[T], mid: usize) -> (&[T], &[T]) {
            x.split_at(mid)
        }
        fn cut_mut<T>(x: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
            x.split_at_mut(mid)
        }
        let (flags, flags2) = cut_mut(self.flags, mid);
        let (minimum, minimum2) = cut(self.minimum, mid);
        let (maximum, maximum2) = cut(self.maximum, mid);
        let (buffer, buffer2) = cut(self.buffer, mid);
        let (weight, weight2) = cut(self.weight, mid);
        let (demand, demand2) = cut(self.demand, mid);
        let (assigned, assigned2) = cut_mut(self.assigned, mid);
        let (visible, visible2) = cut_mut(self.visible, mid);
        let (clock_s, clock_s2) = cut_mut(self.clock_s, mid);
        let (added, added2) = cut_mut(self.added, mid);
        let (removed, removed2) = cut_mut(self.removed, mid);
        let (add_ops, add_ops2) = cut_mut(self.add_ops, mid);
        let (remove_ops, remove_ops2) = cut_mut(self.remove_ops, mid);
        let (p_sum, p_sum2) = cut_mut(self.p_sum, mid);
        let (p_min, p_min2) = cut_mut(self.p_min, mid);
        let (p_max, p_max2) = cut_mut(self.p_max, mid);
        let left = View {
            ids: self.ids,
            start: self.start,
            flags,
            minimum,
            maximum,
            buffer,
            weight,
            demand,
            assigned,
            visible,
            clock_s,
            added,
            removed,
            add_ops,
            remove_ops,
            p_sum,
            p_min,
            p_max,
            carries: self.carries,
        };
        let right = View {
            ids: self.ids,
            start: self.start + mid,
            flags: flags2,
            minimum: minimum2,
            maximum: maximum2,
            buffer: buffer2,
            weight: weight2,
            demand: demand2,
            assigned: assigned2,
            visible: visible2,
            clock_s: clock_s2,
            added: added2,
            removed: removed2,
            add_ops: add_ops2,
            remove_ops: remove_ops2,
            p_sum: p_sum2,
            p_min: p_min2,
            p_max: p_max2,
            carries: Vec::new(),
        };
        (left, right)
    }

    /// The low words of counter `k`.
    pub(crate) fn counter_mut(&mut self, k: Counter) -> &mut [u32] {
        match k {
            Counter::Added => self.added,
            Counter::Removed => self.removed,
            Counter::AddOps => self.add_ops,
            Counter::RemoveOps => self.remove_ops,
        }
    }

    /// Notes the carry out of counter `k`'s low word of VM `pos`, whose new
    /// value before truncation to 32 bits is `sum` (rare: once per 2^32).
    #[cold]
    pub(crate) fn carry(&mut self, k: Counter, pos: usize, sum: u64) {
        self.carries.push((self.ids.get(self.start + pos), k, sum));
    }
}

use crate::solver::Scan;
use crate::VectorCap;

/// What the allocation `g` of a solver VM is this tick.
pub(crate) trait Alloc: Copy + Send + Sync {
    /// `g` of VM `i`, given its demand, buffer, minimum and maximum (only
    /// called for solver VMs).
    fn g_of(&self, i: usize, demand: u32, buffer: u16, minimum: u32, maximum: u32) -> u64;
    /// `g` of VM `i` (only called for solver VMs).
    #[inline(always)]
    fn g(&self, v: &Vms, i: usize) -> u64 {
        self.g_of(i, v.demand[i], v.buffer[i], v.minimum[i], v.maximum[i])
    }
    /// `g` of VMs `i..i + 16` in u32 lanes (any value in non-solver lanes;
    /// every `g` is at most the maximum, 2^20 MB).
    ///
    /// # Safety
    /// `i + 16 ≤ v.len()`, every column of `v` has `v.len()` entries,
    /// [`Alloc::check`] has passed for `v.len()`, and the CPU has AVX-512
    /// F/BW/VL/DQ.
    #[cfg(target_arch = "x86_64")]
    unsafe fn g16(&self, v: &View, i: usize) -> simd::V;
    /// `g` of VMs `i..i + 4` in u64 lanes, for AVX2.
    ///
    /// # Safety
    /// As [`Alloc::g16`], with `i + 4 ≤ v.len()` and AVX2 + FMA.
    #[cfg(target_arch = "x86_64")]
    unsafe fn g4(&self, v: &View, i: usize) -> avx2::V;
    /// Panics unless `g16` and `g4` may read entries `0..n` (what they read
    /// beside `v`).
    fn check(&self, _n: usize) {}
    /// The same allocation for the VMs in `r` only, indexed from `r.start`
    /// (for one part of a host, see [`View::split_at`]).
    fn sub(&self, r: std::ops::Range<usize>) -> Self;
}

/// `g = target` (every target fits), as pass 1 stored it: pass 2 reads one
/// u32 per VM instead of recomputing the target from four columns.
#[derive(Clone, Copy)]
pub(crate) struct Targets<'a> {
    pub target: &'a [u32],
}

impl Alloc for Targets<'_> {
    fn check(&self, n: usize) {
        assert!(self.target.len() >= n, "target scratch shorter than the host");
    }
    fn sub(&self, r: std::ops::Range<usize>) -> Self {
        Targets {
            target: &self.target[r],
        }
    }
    #[inline(always)]
    fn g_of(&self, i: usize, _: u32, _: u16, _: u32, _: u32) -> u64 {
        self.target[i] as u64
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn g16(&self, _: &View, i: usize) -> simd::V {
        unsafe { simd::u32x16(self.target, i) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn g4(&self, _: &View, i: usize) -> avx2::V {
        unsafe { avx2::u32x4(self.target, i) }
    }
}

/// `g = floor + (extra << shift)` (the water-filling's result), the floor
/// being the stage's: the demand cap in stage 1 (`demand_stage`), the
/// minimum in stage 2, computed from the columns.
#[derive(Clone, Copy)]
pub(crate) struct Filled<'a> {
    pub demand_stage: bool,
    pub u: u64,
    pub extra: &'a [u32],
    pub shift: u32,
}

impl Alloc for Filled<'_> {
    fn check(&self, n: usize) {
        assert!(self.extra.len() >= n, "solver scratch shorter than the host");
    }
    fn sub(&self, r: std::ops::Range<usize>) -> Self {
        Filled {
            extra: &self.extra[r],
            ..*self
        }
    }
    #[inline(always)]
    fn g_of(&self, i: usize, demand: u32, _: u16, minimum: u32, maximum: u32) -> u64 {
        let floor = if self.demand_stage {
            crate::host::demand_cap_of(demand, minimum, maximum, self.u)
        } else {
            minimum as u64
        };
        floor + ((self.extra[i] as u64) << self.shift)
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn g16(&self, v: &View, i: usize) -> simd::V {
        unsafe { simd::filled16(v, self, i) }
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn g4(&self, v: &View, i: usize) -> avx2::V {
        unsafe { avx2::filled4(v, self, i) }
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

impl Sums {
    fn merged(self, o: Sums) -> Sums {
        Sums {
            held: self.held + o.held,
            sum_t: self.sum_t + o.sum_t,
            sum_d: self.sum_d + o.sum_d,
            sum_m: self.sum_m + o.sum_m,
            sum_a: self.sum_a + o.sum_a,
            need_t: self.need_t + o.need_t,
        }
    }

    /// Adds partial sums in field order (held, target, demand cap, minimum,
    /// assigned, shortfall), as the vector forms reduce their lanes.
    fn add(&mut self, [held, t, d, m, a, need]: [u64; 6]) {
        self.held += held;
        self.sum_t += t;
        self.sum_d += d;
        self.sum_m += m;
        self.sum_a += a;
        self.need_t += need;
    }
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

/// What pass 1 writes and adds up besides the boot clocks.
pub(crate) struct Pass1<'a> {
    pub dt_s: f64,
    pub boot_delay: f64,
    pub u: u64,
    /// Each solver VM's target (MB; any value for other VMs), for pass 2
    /// and [`floors`] to read.
    pub target: &'a mut [u32],
    /// `Some(demand_stage)`: a guess that this tick is contended in that
    /// stage (the last tick's), so pass 1 also writes the stage's `caps` and
    /// `scan`, as [`floors`] would, and saves that pass when the guess holds.
    pub stage: Option<bool>,
    pub caps: &'a mut [u32],
    pub sums: Sums,
    pub scan: Scan,
}

impl<'a> Pass1<'a> {
    /// The parameters for the VMs before `mid` (with the sums so far) and
    /// from `mid` on (with none).
    fn split_at(self, mid: usize) -> (Pass1<'a>, Pass1<'a>) {
        let (target, target2) = self.target.split_at_mut(mid);
        let (caps, caps2) = self.caps.split_at_mut(mid.min(self.caps.len()));
        let right = Pass1 {
            target: target2,
            caps: caps2,
            sums: Sums::default(),
            scan: Scan::default(),
            ..self
        };
        (Pass1 { target, caps, ..self }, right)
    }
}

/// Pass 1 ([`pass1_part`]) over `v` in `parts` parts, run in parallel on
/// the pool (`pool.rs`) when `parts > 1`; returns the sums and, with a guessed
/// stage, the scan. The result does not depend on `parts`: the parts'
/// sums and scans are sums and extremes, merged exactly.
pub(crate) fn pass1<'a>(v: View<'a>, mut p: Pass1<'a>, cap: VectorCap, parts: usize) -> (Sums, Scan) {
    let mid = crate::split_point(v.len(), parts);
    if parts > 1 && mid > 0 {
        let (lv, rv) = v.split_at(mid);
        let (lp, rp) = p.split_at(mid);
        let (a, b) = crate::pool::join(
            || pass1(lv, lp, cap, parts / 2),
            || pass1(rv, rp, cap, parts - parts / 2),
        );
        return (a.0.merged(b.0), a.1.merged(&b.1));
    }
    let mut v = v;
    pass1_part(&mut v, &mut p, cap);
    (p.sums, p.scan)
}

/// Pass 1 over one part: boot clocks (a starting VM whose clock reaches the
/// delay joins the solver set this tick), the sums that pick the stage,
/// every solver VM's target and, on a guessed stage, its room above the
/// floor (see [`Pass1`]). `target` (and `caps` with a guess) hold at least
/// `v.len()` entries.
fn pass1_part(v: &mut View, p: &mut Pass1, cap: VectorCap) {
    let n = v.len();
    assert!(p.target.len() >= n, "target scratch shorter than the host");
    assert!(
        p.stage.is_none() || p.caps.len() >= n,
        "caps scratch shorter than the host"
    );
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(cap) {
        // SAFETY: the features were just detected.
        done = unsafe { simd::pass1(v, p) };
    } else if crate::avx2(cap) {
        // SAFETY: as above.
        done = unsafe { avx2::pass1(v, p) };
    }
    let _ = cap;
    pass1_scalar(v, p, done..n);
}

/// Room above the stage's floor of a solver VM, in balloon units (`2^shift`
/// MB): target − demand cap in stage 1 (`demand_stage`), demand cap −
/// minimum in stage 2.
#[inline(always)]
fn room(demand_stage: bool, t: u64, d_cap: u64, mn: u64, shift: u32) -> u32 {
    let (lo, hi) = if demand_stage { (d_cap, t) } else { (mn, d_cap) };
    ((hi - lo) >> shift) as u32
}

/// Pass 1 over the VMs in `range`.
#[inline(always)]
pub(crate) fn pass1_scalar(v: &mut View, p: &mut Pass1, range: std::ops::Range<usize>) {
    let (dt_s, boot_delay, u, stage) = (p.dt_s, p.boot_delay, p.u, p.stage);
    let shift = u.trailing_zeros();
    // Columns sliced to the range up front: no bounds checks in the loop.
    let r = range;
    let target = &mut p.target[r.clone()];
    let caps: &mut [u32] = if stage.is_some() {
        &mut p.caps[r.clone()]
    } else {
        &mut []
    };
    let (flags, clock_s) = (&mut v.flags[r.clone()], &mut v.clock_s[r.clone()]);
    let (demand, assigned) = (&v.demand[r.clone()], &v.assigned[r.clone()]);
    let (minimum, maximum, buffer) = (&v.minimum[r.clone()], &v.maximum[r.clone()], &v.buffer[r.clone()]);
    let weight = &v.weight[r.clone()];
    let n = flags.len();
    let (clock_s, demand, assigned, target) = (&mut clock_s[..n], &demand[..n], &assigned[..n], &mut target[..n]);
    let (minimum, maximum, buffer, weight) = (&minimum[..n], &maximum[..n], &buffer[..n], &weight[..n]);
    // Local accumulators (registers, not the struct in memory).
    let Sums {
        mut held,
        mut sum_t,
        mut sum_d,
        mut sum_m,
        mut sum_a,
        mut need_t,
    } = p.sums;
    for i in 0..n {
        if stage.is_some() {
            caps[i] = 0; // outside the solver set (solver VMs overwrite it)
        }
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
        let d_cap = crate::host::demand_cap_of(d, mn, mx, u);
        target[i] = t as u32; // ≤ maximum ≤ 1 TB in MB
        sum_t += t;
        sum_d += d_cap;
        sum_m += mn as u64;
        sum_a += a;
        need_t += t.max(a) - a; // max(0, t − a), as a cmov: t vs a is data, not control
        if let Some(demand_stage) = stage {
            let c = room(demand_stage, t, d_cap, mn as u64, shift);
            caps[i] = c;
            p.scan.add(c, weight[i]);
        }
    }
    p.sums = Sums {
        held,
        sum_t,
        sum_d,
        sum_m,
        sum_a,
        need_t,
    };
}

/// [`floors_part`] over `v` in `parts` parts (in parallel when `parts > 1`;
/// the same result for any `parts`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn floors(
    v: View,
    target: &[u32],
    caps: &mut [u32],
    u: u64,
    demand_stage: bool,
    cap: VectorCap,
    parts: usize,
) -> Scan {
    let mid = crate::split_point(v.len(), parts);
    if parts > 1 && mid > 0 {
        let (lv, rv) = v.split_at(mid);
        let (lt, rt) = target.split_at(mid);
        let (lc, rc) = caps.split_at_mut(mid);
        let (a, b) = crate::pool::join(
            || floors(lv, lt, lc, u, demand_stage, cap, parts / 2),
            || floors(rv, rt, rc, u, demand_stage, cap, parts - parts / 2),
        );
        return a.merged(&b);
    }
    floors_part(&v, target, caps, u, demand_stage, cap)
}

/// Under contention, for every VM of one part the room above the stage's
/// floor (`caps`, balloon units: from the demand cap up to the target in
/// stage 1, from the minimum up to the demand cap in stage 2; 0 outside the
/// solver set), and the solver's [`Scan`] of them. `target` is pass 1's.
fn floors_part(v: &View, target: &[u32], caps: &mut [u32], u: u64, demand_stage: bool, cap: VectorCap) -> Scan {
    let mut scan = Scan::default();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(cap) {
        // SAFETY: the features were just detected.
        done = unsafe { simd::floors(v, target, caps, u, demand_stage, &mut scan) };
    } else if crate::avx2(cap) {
        // SAFETY: as above.
        done = unsafe { avx2::floors(v, target, caps, u, demand_stage, &mut scan) };
    }
    let _ = cap;
    floors_scalar(v, target, caps, u, demand_stage, done..v.len(), &mut scan);
    scan
}

#[inline(always)]
fn floors_scalar(
    v: &View,
    target: &[u32],
    caps: &mut [u32],
    u: u64,
    demand_stage: bool,
    range: std::ops::Range<usize>,
    scan: &mut Scan,
) {
    let shift = u.trailing_zeros();
    for i in range {
        let c = if in_solver(v.flags[i]) {
            let (d, mn, mx) = (v.demand[i], v.minimum[i], v.maximum[i]);
            let d_cap = crate::host::demand_cap_of(d, mn, mx, u);
            room(demand_stage, target[i] as u64, d_cap, mn as u64, shift)
        } else {
            0
        };
        caps[i] = c;
        scan.add(c, v.weight[i]);
    }
}

/// Adds the vector forms' per-lane partial scans (total, positive, w_pos,
/// max_pos, min_w, n_zero, max_zero, each as `L` lanes) to `scan`.
fn merge_lanes<const L: usize>(scan: &mut Scan, parts: [[u64; L]; 7]) {
    let [total, positive, w_pos, max_pos, min_w, n_zero, max_zero] = parts;
    scan.total += total.iter().sum::<u64>();
    scan.positive += positive.iter().sum::<u64>();
    scan.w_pos += w_pos.iter().sum::<u64>();
    scan.max_pos = scan.max_pos.max(max_pos.into_iter().max().unwrap_or(0) as u32);
    scan.min_w = scan.min_w.min(min_w.into_iter().min().unwrap_or(u64::MAX) as u16);
    scan.n_zero += n_zero.iter().sum::<u64>();
    scan.max_zero = scan.max_zero.max(max_zero.into_iter().max().unwrap_or(0) as u32);
}

/// The carries out of the counters' low words found by a pass (see
/// [`View::carries`]).
pub(crate) type Carries = Vec<(u64, Counter, u64)>;

/// [`pass2_part`] over `v` in `parts` parts (in parallel when `parts > 1`);
/// returns Σ assigned afterwards and the carries. The same result for any
/// `parts`: every VM's step is its own, and Σ assigned a sum.
pub(crate) fn pass2(v: View, m: &Mechanics, g: impl Alloc, cap: VectorCap, parts: usize) -> (u64, Carries) {
    let (n, mid) = (v.len(), crate::split_point(v.len(), parts));
    if parts > 1 && mid > 0 {
        let (lv, rv) = v.split_at(mid);
        let (lg, rg) = (g.sub(0..mid), g.sub(mid..n));
        let ((t1, mut c1), (t2, c2)) = crate::pool::join(
            || pass2(lv, m, lg, cap, parts / 2),
            || pass2(rv, m, rg, cap, parts - parts / 2),
        );
        c1.extend(c2);
        return (t1 + t2, c1);
    }
    let mut v = v;
    let total = pass2_part(&mut v, m, g, cap);
    (total, v.carries)
}

/// Pass 2 over one part: prompt and lazy removal, adds (unballoon, then
/// hot-add) and the statistics. Returns Σ assigned afterwards.
fn pass2_part(v: &mut View, m: &Mechanics, g: impl Alloc, cap: VectorCap) -> u64 {
    let n = v.len();
    let (mut done, mut total) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if crate::avx512(cap) {
        // SAFETY: the features were just detected.
        (done, total) = unsafe { simd::pass2(v, m, g) };
    } else if crate::avx2(cap) {
        // SAFETY: as above.
        (done, total) = unsafe { avx2::pass2(v, m, g) };
    }
    let _ = cap;
    total + pass2_scalar(v, done..n, m, g)
}

/// Pass 2 over the VMs in `range`; returns their Σ assigned afterwards.
#[inline(always)]
pub(crate) fn pass2_scalar(v: &mut View, range: std::ops::Range<usize>, m: &Mechanics, g_of: impl Alloc) -> u64 {
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
    // (Ids only for a carry, once per 2^32 of a counter.)
    let (ids, first, carries) = (v.ids, v.start + r.start, &mut v.carries);
    let (p_sum, p_min, p_max) = (&mut v.p_sum[r.clone()], &mut v.p_min[r.clone()], &mut v.p_max[r]);
    let (demand, assigned, visible) = (&demand[..n], &mut assigned[..n], &mut visible[..n]);
    let (minimum, maximum, buffer, clock_s) = (&minimum[..n], &maximum[..n], &buffer[..n], &mut clock_s[..n]);
    let (added, removed, add_ops, remove_ops) = (
        &mut added[..n],
        &mut removed[..n],
        &mut add_ops[..n],
        &mut remove_ops[..n],
    );
    let (p_sum, p_min, p_max) = (&mut p_sum[..n], &mut p_min[..n], &mut p_max[..n]);
    let mut total = 0u64;
    for i in 0..n {
        let f = flags[i];
        if f & STATE_MASK == VmState::Off as u8 {
            continue;
        }
        let d = demand[i];
        if in_solver(f) {
            // Whether a VM grows, shrinks or holds is data, not control flow:
            // all-ones/all-zeros masks instead of branches, which would
            // mispredict (the same steps as the vector forms, one lane).
            let g = g_of.g_of(start + i, d, buffer[i], minimum[i], maximum[i]);
            let a0 = assigned[i] as u64;
            let prompt_m = mask(m.prompt_all & (a0 > g));
            let prompt = a0.wrapping_sub(g) & prompt_m;
            let a = a0 - prompt;
            let over_m = mask(a > g);
            let excess = a.wrapping_sub(g) & over_m;
            // The excess clock runs while over (0 bits are +0.0).
            let clock = (clock_s[i] + m.dt_s).to_bits() & over_m;
            let lazy_m = mask(f64::from_bits(clock) >= m.remove_delay_s) & over_m;
            let take = excess.min(m.lazy_step) & lazy_m;
            // No excess left after this step: a new excess waits the delay again.
            clock_s[i] = f64::from_bits(clock & mask(take != excess));
            let under_m = mask(g > a);
            let add = g.wrapping_sub(a) & under_m;
            let a = a - take + add;
            assigned[i] = a as u32;
            // Counters: u32 low words; a carry out of one goes to `carries`.
            let sums = [
                (Counter::Removed, &mut removed[i], prompt + take),
                (Counter::RemoveOps, &mut remove_ops[i], (prompt_m & 1) + (lazy_m & 1)),
                (Counter::Added, &mut added[i], add),
                (Counter::AddOps, &mut add_ops[i], under_m & 1),
            ];
            for (k, lo, inc) in sums {
                let sum = *lo as u64 + inc;
                *lo = sum as u32;
                if sum >> 32 != 0 {
                    carries.push((ids.get(first + i), k, sum));
                }
            }
            if a > visible[i] as u64 {
                visible[i] = visible_after_add(a, visible[i] as u64, maximum[i] as u64, m.chunk) as u32;
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
        p_sum[i] += p * m.dt_s; // (running time comes from the host clock: `Vms::run_mark`)
        total += a as u64;
    }
    total
}

/// All ones if `c`, else all zeros.
#[inline(always)]
fn mask(c: bool) -> u64 {
    (c as u64).wrapping_neg()
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
    //! The AVX-512 forms: passes 1 and 2 take 16 VMs per step in u32 lanes
    //! (their f64 steps in two halves of 8), the floors 8 in u64/f64 lanes.
    use super::View;
    use super::{Alloc, Mechanics, Pass1, Scan};
    use crate::host::{Counter, VmState, DYNAMIC, STATE_MASK};
    use std::arch::x86_64::*;

    pub(crate) type V = __m512i;

    #[inline(always)]
    pub(crate) unsafe fn u32x8(p: &[u32], i: usize) -> V {
        debug_assert!(i + 8 <= p.len());
        unsafe { _mm512_cvtepu32_epi64(_mm256_loadu_si256(p.as_ptr().add(i) as *const __m256i)) }
    }
    /// 16 u32 entries as they are (u32 lanes).
    #[inline(always)]
    pub(crate) unsafe fn u32x16(p: &[u32], i: usize) -> V {
        debug_assert!(i + 16 <= p.len());
        unsafe { _mm512_loadu_si512(p.as_ptr().add(i) as *const __m512i) }
    }
    #[inline(always)]
    unsafe fn store_u32x16(p: &mut [u32], i: usize, x: V) {
        debug_assert!(i + 16 <= p.len());
        unsafe { _mm512_storeu_si512(p.as_mut_ptr().add(i) as *mut __m512i, x) }
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
    fn splat(x: u64) -> V {
        unsafe { _mm512_set1_epi64(x as i64) }
    }

    /// `ceil_u(x)` for a power-of-two `u`, lane-wise.
    #[inline(always)]
    unsafe fn ceil_u(x: V, u: u64) -> V {
        unsafe { _mm512_andnot_si512(splat(u - 1), _mm512_add_epi64(x, splat(u - 1))) }
    }

    /// `demand_cap_of` for VMs `i..i + 8`, given their minimum and maximum.
    #[inline(always)]
    unsafe fn demand_caps8(v: &View, i: usize, mn: V, mx: V, u: u64) -> V {
        unsafe { _mm512_min_epu64(_mm512_max_epu64(ceil_u(u32x8(v.demand, i), u), mn), mx) }
    }

    /// [`Filled`](super::Filled)'s `g` for VMs `i..i + 16`, in u32 lanes.
    /// The demand cap is `clamp(ceil_u(min(d, max)), min, max)`: equal to
    /// `demand_cap_of` (the maximum is a multiple of `u`), and no lane can
    /// overflow (everything is at most the maximum, 2^20).
    #[inline(always)]
    pub(crate) unsafe fn filled16(v: &View, g: &super::Filled, i: usize) -> V {
        unsafe {
            let mn = u32x16(v.minimum, i);
            let floor = if g.demand_stage {
                let mx = u32x16(v.maximum, i);
                let d = _mm512_min_epu32(u32x16(v.demand, i), mx);
                let up = _mm512_set1_epi32((g.u - 1) as i32);
                let d = _mm512_andnot_si512(up, _mm512_add_epi32(d, up));
                _mm512_min_epu32(_mm512_max_epu32(d, mn), mx)
            } else {
                mn
            };
            let extra = _mm512_sllv_epi32(u32x16(g.extra, i), _mm512_set1_epi32(g.shift as i32));
            _mm512_add_epi32(floor, extra)
        }
    }

    /// [`super::room`] in the `solver` lanes (0 elsewhere).
    #[inline(always)]
    unsafe fn room8(demand_stage: bool, solver: __mmask8, t: V, d_cap: V, mn: V, shift: V) -> V {
        let (lo, hi) = if demand_stage { (d_cap, t) } else { (mn, d_cap) };
        unsafe { _mm512_maskz_srlv_epi64(solver, _mm512_sub_epi64(hi, lo), shift) }
    }

    /// A [`Scan`] kept per lane.
    struct ScanLanes([V; 7]);

    impl ScanLanes {
        #[inline(always)]
        fn new() -> ScanLanes {
            let zero = splat(0);
            ScanLanes([zero, zero, zero, zero, splat(crate::solver::WEIGHT_SCALE), zero, zero])
        }

        /// [`Scan::add`] of rooms `c` with weights `w`, lane-wise.
        #[inline(always)]
        unsafe fn add(&mut self, c: V, w: V) {
            let [total, positive, w_pos, max_pos, min_w, n_zero, max_zero] = &mut self.0;
            unsafe {
                let pos_w = _mm512_test_epi64_mask(w, w);
                let has_c = _mm512_test_epi64_mask(c, c);
                *total = _mm512_add_epi64(*total, c);
                *positive = _mm512_mask_add_epi64(*positive, pos_w, *positive, c);
                *w_pos = _mm512_mask_add_epi64(*w_pos, pos_w & has_c, *w_pos, w);
                *max_pos = _mm512_mask_max_epu64(*max_pos, pos_w, *max_pos, c);
                *min_w = _mm512_mask_min_epu64(*min_w, pos_w & has_c, *min_w, w);
                *n_zero = _mm512_mask_add_epi64(*n_zero, !pos_w & has_c, *n_zero, splat(1));
                *max_zero = _mm512_mask_max_epu64(*max_zero, !pos_w, *max_zero, c);
            }
        }

        fn merge_into(self, scan: &mut Scan) {
            let spill = |x: V| {
                let mut a = [0u64; 8];
                unsafe { _mm512_storeu_si512(a.as_mut_ptr() as *mut __m512i, x) };
                a
            };
            super::merge_lanes(scan, self.0.map(spill));
        }
    }

    #[inline(always)]
    unsafe fn hsum(x: V) -> u64 {
        unsafe { _mm512_reduce_add_epi64(x) as u64 }
    }

    /// Adds `inc` (u32 lanes) to counter `k` of VMs `i..i + 16`: the low
    /// words in place, any carry out of them to `v.carries`.
    #[inline(always)]
    unsafe fn count16(v: &mut View, k: Counter, i: usize, inc: V) {
        unsafe {
            let lo = u32x16(v.counter_mut(k), i);
            let sum = _mm512_add_epi32(lo, inc);
            store_u32x16(v.counter_mut(k), i, sum);
            let carried = _mm512_cmplt_epu32_mask(sum, lo);
            if carried != 0 {
                let (mut los, mut incs) = ([0u32; 16], [0u32; 16]);
                _mm512_storeu_si512(los.as_mut_ptr() as *mut __m512i, lo);
                _mm512_storeu_si512(incs.as_mut_ptr() as *mut __m512i, inc);
                for j in (0..16).filter(|&j| carried >> j & 1 != 0) {
                    v.carry(k, i + j, los[j] as u64 + incs[j] as u64);
                }
            }
        }
    }

    /// Pass 1 over whole groups of 16 VMs; returns how many VMs it covered.
    /// Memory in u32 lanes (every quantity here is at most the maximum,
    /// 2^20, except demand), sums as u32 lane totals folded into u64 every
    /// 2048 groups; the target's f64 step in two halves of 8. A group with a
    /// starting VM goes through the scalar form.
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/VL/DQ. (Bounds: every column is checked to
    /// hold `v.len()` entries, as are `p.target` and, with a guess, `p.caps`;
    /// groups end at or before `v.len()`.)
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) unsafe fn pass1(v: &mut View, p: &mut Pass1) -> usize {
        v.assert_columns();
        let n = v.len() / 16 * 16;
        assert!(p.target.len() >= n && (p.stage.is_none() || p.caps.len() >= n));
        let u = p.u;
        let s32 = |x: u32| _mm512_set1_epi32(x as i32);
        let (running_dynamic, state_mask) = (s32((VmState::Running as u8 | DYNAMIC) as u32), s32(STATE_MASK as u32));
        let (starting_v, up, shift) = (
            s32(VmState::Starting as u32),
            s32((u - 1) as u32),
            s32(u.trailing_zeros()),
        );
        let zero = _mm512_setzero_si512();
        // Lane totals (u32, each add ≤ 2^20) of: held, target, demand cap,
        // minimum, assigned, shortfall; rooms, rooms of positive weight,
        // positive weights with room, weight-0 items with room.
        let (mut part, mut wide, mut groups) = ([zero; 10], [zero; 10], 0u32);
        let (mut max_pos, mut min_w, mut max_zero) = (zero, s32(crate::solver::WEIGHT_SCALE as u32), zero);
        let mut i = 0;
        while i < n {
            unsafe {
                let f = _mm512_cvtepu8_epi32(_mm_loadu_si128(v.flags.as_ptr().add(i) as *const __m128i));
                let state = _mm512_and_si512(f, state_mask);
                if _mm512_cmpeq_epi32_mask(state, starting_v) != 0 {
                    // (Adds to `p.sums` and `p.scan` directly: both are sums
                    // and extremes, so the order of merging does not matter.)
                    super::pass1_scalar(v, p, i..i + 16);
                    i += 16;
                    continue;
                }
                let on = _mm512_test_epi32_mask(state, state);
                let solver = _mm512_cmpeq_epi32_mask(f, running_dynamic);
                let a = u32x16(v.assigned, i);
                let (mn, mx) = (u32x16(v.minimum, i), u32x16(v.maximum, i));
                let t = targets16(v, i, mn, mx, up);
                store_u32x16(p.target, i, t);
                // The demand cap, as in `filled16`.
                let d = _mm512_min_epu32(u32x16(v.demand, i), mx);
                let d_cap = _mm512_min_epu32(
                    _mm512_max_epu32(_mm512_andnot_si512(up, _mm512_add_epi32(d, up)), mn),
                    mx,
                );
                let short = _mm512_maskz_sub_epi32(_mm512_mask_cmpgt_epu32_mask(solver, t, a), t, a);
                let adds = [
                    (on & !solver, a),
                    (solver, t),
                    (solver, d_cap),
                    (solver, mn),
                    (solver, a),
                    (!0, short),
                ];
                for (k, (m, x)) in adds.into_iter().enumerate() {
                    part[k] = _mm512_mask_add_epi32(part[k], m, part[k], x);
                }
                if let Some(demand_stage) = p.stage {
                    let (lo, hi) = if demand_stage { (d_cap, t) } else { (mn, d_cap) };
                    let c = _mm512_maskz_srlv_epi32(solver, _mm512_sub_epi32(hi, lo), shift);
                    store_u32x16(p.caps, i, c);
                    // Scan::add, lane-wise.
                    let w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(v.weight.as_ptr().add(i) as *const __m256i));
                    let (pos_w, has_c) = (_mm512_test_epi32_mask(w, w), _mm512_test_epi32_mask(c, c));
                    let adds = [(!0, c), (pos_w, c), (pos_w & has_c, w), (!pos_w & has_c, s32(1))];
                    for (k, (m, x)) in adds.into_iter().enumerate() {
                        part[6 + k] = _mm512_mask_add_epi32(part[6 + k], m, part[6 + k], x);
                    }
                    max_pos = _mm512_mask_max_epu32(max_pos, pos_w, max_pos, c);
                    min_w = _mm512_mask_min_epu32(min_w, pos_w & has_c, min_w, w);
                    max_zero = _mm512_mask_max_epu32(max_zero, !pos_w, max_zero, c);
                }
                groups += 1;
                if groups == 2048 {
                    for k in 0..10 {
                        wide[k] = _mm512_add_epi64(wide[k], widen_sum(part[k]));
                        part[k] = zero;
                    }
                    groups = 0;
                }
            }
            i += 16;
        }
        let total = |k: usize| unsafe { hsum(_mm512_add_epi64(wide[k], widen_sum(part[k]))) };
        p.sums.add([0, 1, 2, 3, 4, 5].map(total));
        if p.stage.is_some() {
            let s = &mut p.scan;
            s.total += total(6);
            s.positive += total(7);
            s.w_pos += total(8);
            s.n_zero += total(9);
            s.max_pos = s.max_pos.max(_mm512_reduce_max_epu32(max_pos));
            s.min_w = s.min_w.min(_mm512_reduce_min_epu32(min_w) as u16);
            s.max_zero = s.max_zero.max(_mm512_reduce_max_epu32(max_zero));
        }
        n
    }

    /// `target_of` for VMs `i..i + 16` in u32 lanes: `ceil(d·(100+b)/100)`
    /// in f64 (exact: see `host::ceil_pct_f64`, which the tests check),
    /// capped at the maximum while still f64 (so that it fits u32; the
    /// clamp below gives the maximum either way), then rounded up to the
    /// unit and clamped.
    #[inline(always)]
    unsafe fn targets16(v: &View, i: usize, mn: V, mx: V, up: V) -> V {
        unsafe {
            let d = u32x16(v.demand, i);
            let b = _mm512_cvtepu16_epi32(_mm256_loadu_si256(v.buffer.as_ptr().add(i) as *const __m256i));
            let b = _mm512_add_epi32(b, _mm512_set1_epi32(100));
            let half = |d: __m256i, b: __m256i, m: __m256i| {
                let x = _mm512_mul_pd(_mm512_cvtepu32_pd(d), _mm512_cvtepu32_pd(b));
                let t = _mm512_mul_pd(_mm512_add_pd(x, _mm512_set1_pd(99.5)), _mm512_set1_pd(0.01));
                _mm512_cvttpd_epu32(_mm512_min_pd(t, _mm512_cvtepu32_pd(m)))
            };
            let lo = half(
                _mm512_castsi512_si256(d),
                _mm512_castsi512_si256(b),
                _mm512_castsi512_si256(mx),
            );
            let hi = half(
                _mm512_extracti64x4_epi64::<1>(d),
                _mm512_extracti64x4_epi64::<1>(b),
                _mm512_extracti64x4_epi64::<1>(mx),
            );
            let t = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
            let t = _mm512_andnot_si512(up, _mm512_add_epi32(t, up));
            _mm512_min_epu32(_mm512_max_epu32(t, mn), mx)
        }
    }

    /// `floors` over whole groups of 8 VMs; returns how many VMs it covered.
    ///
    /// # Safety
    /// As [`pass1`]; `target` and `caps` are checked to be long enough.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) unsafe fn floors(
        v: &View,
        target: &[u32],
        caps: &mut [u32],
        u: u64,
        demand_stage: bool,
        scan: &mut Scan,
    ) -> usize {
        v.assert_columns();
        let n = v.len() / 8 * 8;
        assert!(target.len() >= n && caps.len() >= n);
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let shift = splat(u.trailing_zeros() as u64);
        let mut lanes = ScanLanes::new();
        let mut i = 0;
        while i < n {
            unsafe {
                let solver = _mm512_cmpeq_epi64_mask(u8x8(v.flags, i), running_dynamic);
                let (mn, mx) = (u32x8(v.minimum, i), u32x8(v.maximum, i));
                let d_cap = demand_caps8(v, i, mn, mx, u);
                let c = room8(demand_stage, solver, u32x8(target, i), d_cap, mn, shift);
                store_u32x8(caps, i, c);
                lanes.add(c, u16x8(v.weight, i));
            }
            i += 8;
        }
        lanes.merge_into(scan);
        n
    }

    /// Pass 2 over whole groups of 16 VMs; returns how many VMs it covered
    /// and their Σ assigned afterwards. Memory is in u32 lanes (16 VMs per
    /// register: every quantity here is at most 2^32 − 1, and `g`, assigned
    /// and visible at most 2^20), the clock and the statistics in two halves
    /// of 8 f64 lanes.
    ///
    /// # Safety
    /// As [`pass1`]; what `g_of` reads is checked ([`Alloc::check`]).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq")]
    pub(crate) unsafe fn pass2(v: &mut View, m: &Mechanics, g_of: impl Alloc) -> (usize, u64) {
        v.assert_columns();
        g_of.check(v.len());
        let n = v.len() / 16 * 16;
        let running_dynamic = _mm512_set1_epi32((VmState::Running as u8 | DYNAMIC) as i32);
        let state_mask = _mm512_set1_epi32(STATE_MASK as i32);
        let (dt, delay, hundred) = (
            _mm512_set1_pd(m.dt_s),
            _mm512_set1_pd(m.remove_delay_s),
            _mm512_set1_pd(100.0),
        );
        // min(excess, step) is the same with the step capped at 2^32 − 1.
        let step = _mm512_set1_epi32(m.lazy_step.min(u32::MAX as u64) as u32 as i32);
        let one = _mm512_set1_epi32(1);
        let zero_pd = _mm512_setzero_pd();
        // Σ assigned: u32 lanes for up to 2048 groups (each adds ≤ 2^20 per
        // lane), then folded into u64 lanes.
        let (mut total, mut part, mut groups) = (_mm512_setzero_si512(), _mm512_setzero_si512(), 0);
        let mut i = 0;
        while i < n {
            unsafe {
                let f = _mm512_cvtepu8_epi32(_mm_loadu_si128(v.flags.as_ptr().add(i) as *const __m128i));
                let on = _mm512_test_epi32_mask(f, state_mask);
                let solver = _mm512_cmpeq_epi32_mask(f, running_dynamic);
                let g = g_of.g16(v, i);
                let a0 = u32x16(v.assigned, i);
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
                let cp = v.clock_s.as_mut_ptr().add(i);
                let (c0_lo, c0_hi) = (_mm512_loadu_pd(cp), _mm512_loadu_pd(cp.add(8)));
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
                _mm512_mask_storeu_pd(cp, moved_lo, c_lo);
                _mm512_mask_storeu_pd(cp.add(8), moved_hi, c_hi);
                // Adds up to g.
                let under = _mm512_mask_cmpgt_epu32_mask(solver, g, a);
                let add = _mm512_maskz_sub_epi32(under, g, a);
                let a = _mm512_add_epi32(_mm512_sub_epi32(a, take), add);
                store_u32x16(v.assigned, i, a);
                // Counters.
                let removed = _mm512_add_epi32(prompt, take);
                if _mm512_test_epi32_mask(removed, removed) != 0 {
                    count16(v, Counter::Removed, i, removed);
                    let took = lazy & _mm512_test_epi32_mask(take, take);
                    let ops =
                        _mm512_add_epi32(_mm512_maskz_mov_epi32(prompt_m, one), _mm512_maskz_mov_epi32(took, one));
                    count16(v, Counter::RemoveOps, i, ops);
                }
                if under != 0 {
                    count16(v, Counter::Added, i, add);
                    count16(v, Counter::AddOps, i, _mm512_maskz_mov_epi32(under, one));
                    // Hot-add where the VM now holds more than its guest sees (rare).
                    let mut grow = _mm512_mask_cmpgt_epu32_mask(under, a, u32x16(v.visible, i));
                    while grow != 0 {
                        let j = i + grow.trailing_zeros() as usize;
                        let (a, vis, max) = (v.assigned[j] as u64, v.visible[j] as u64, v.maximum[j] as u64);
                        v.visible[j] = super::visible_after_add(a, vis, max, m.chunk) as u32;
                        grow &= grow - 1;
                    }
                }
                // Statistics of every VM that is on (off lanes: discarded), in
                // two halves of 8.
                let d = u32x16(v.demand, i);
                let halves = [
                    (_mm512_castsi512_si256(d), _mm512_castsi512_si256(a)),
                    (_mm512_extracti64x4_epi64::<1>(d), _mm512_extracti64x4_epi64::<1>(a)),
                ];
                for (h, (dh, ah)) in halves.into_iter().enumerate() {
                    let k = i + 8 * h;
                    let on_h = (on >> (8 * h)) as u8;
                    let p = _mm512_mul_pd(_mm512_div_pd(_mm512_cvtepu32_pd(dh), _mm512_cvtepu32_pd(ah)), hundred);
                    // Minimum and maximum: stored only in the lanes that set a
                    // new record, so that most ticks leave these lines clean.
                    let pm = v.p_min.as_mut_ptr().add(k);
                    let lower = _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(on_h, p, _mm512_loadu_pd(pm));
                    _mm512_mask_storeu_pd(pm, lower, p);
                    let px = v.p_max.as_mut_ptr().add(k);
                    let higher = _mm512_mask_cmp_pd_mask::<_CMP_GT_OQ>(on_h, p, _mm512_loadu_pd(px));
                    _mm512_mask_storeu_pd(px, higher, p);
                    let ps = v.p_sum.as_mut_ptr().add(k);
                    _mm512_mask_storeu_pd(ps, on_h, _mm512_add_pd(_mm512_loadu_pd(ps), _mm512_mul_pd(p, dt)));
                }
                part = _mm512_mask_add_epi32(part, on, part, a);
                groups += 1;
                if groups == 2048 {
                    total = _mm512_add_epi64(total, widen_sum(part));
                    (part, groups) = (_mm512_setzero_si512(), 0);
                }
            }
            i += 16;
        }
        total = unsafe { _mm512_add_epi64(total, widen_sum(part)) };
        (n, unsafe { hsum(total) })
    }

    /// The 16 u32 lanes of `x` added pairwise into 8 u64 lanes.
    #[inline(always)]
    unsafe fn widen_sum(x: V) -> V {
        unsafe {
            let lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(x));
            let hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(x));
            _mm512_add_epi64(lo, hi)
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    //! The AVX2 forms of passes 1 and 2 and of the contention floors: 4 VMs
    //! per step in u64/f64 lanes,
    //! for x86-64 CPUs without AVX-512. AVX2 has no mask registers, no
    //! unsigned 64-bit compares and no u64 ↔ f64 conversions, so: masks are
    //! all-ones lanes; every compared value is below 2^63 (u32-derived), so
    //! signed compares are right; conversions go through the 2^52 magic
    //! number, exact for values below 2^52 (every value here is below 2^45).
    use super::View;
    use super::{Alloc, Mechanics, Pass1, Scan};
    use crate::host::{Counter, VmState, DYNAMIC, STATE_MASK};
    use std::arch::x86_64::*;

    pub(crate) type V = __m256i;

    const MAGIC: i64 = 0x4330_0000_0000_0000; // 2^52 as f64 bits

    #[inline(always)]
    pub(crate) unsafe fn u32x4(p: &[u32], i: usize) -> V {
        debug_assert!(i + 4 <= p.len());
        unsafe { _mm256_cvtepu32_epi64(_mm_loadu_si128(p.as_ptr().add(i) as *const __m128i)) }
    }
    #[inline(always)]
    unsafe fn u16x4(p: &[u16], i: usize) -> V {
        debug_assert!(i + 4 <= p.len());
        unsafe { _mm256_cvtepu16_epi64(_mm_loadl_epi64(p.as_ptr().add(i) as *const __m128i)) }
    }
    #[inline(always)]
    unsafe fn u8x4(p: &[u8], i: usize) -> V {
        debug_assert!(i + 4 <= p.len());
        let w = i32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        unsafe { _mm256_cvtepu8_epi64(_mm_cvtsi32_si128(w)) }
    }
    #[inline(always)]
    unsafe fn store_u32x4(p: &mut [u32], i: usize, x: V) {
        debug_assert!(i + 4 <= p.len());
        unsafe {
            let packed = _mm256_permutevar8x32_epi32(x, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
            _mm_storeu_si128(p.as_mut_ptr().add(i) as *mut __m128i, _mm256_castsi256_si128(packed));
        }
    }
    #[inline(always)]
    fn splat(x: u64) -> V {
        unsafe { _mm256_set1_epi64x(x as i64) }
    }
    /// u64 lanes (< 2^52) to f64, exactly.
    #[inline(always)]
    unsafe fn to_f64(x: V) -> __m256d {
        unsafe {
            let magic = _mm256_set1_epi64x(MAGIC);
            _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(x, magic)),
                _mm256_castsi256_pd(magic),
            )
        }
    }
    /// trunc(x) of f64 lanes in [0, 2^52) as u64.
    #[inline(always)]
    unsafe fn trunc_u64(x: __m256d) -> V {
        unsafe {
            let magic = _mm256_set1_epi64x(MAGIC);
            let t = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(x);
            _mm256_xor_si256(_mm256_castpd_si256(_mm256_add_pd(t, _mm256_castsi256_pd(magic))), magic)
        }
    }
    /// Lane-wise `a > b` for values below 2^63.
    #[inline(always)]
    unsafe fn gt(a: V, b: V) -> V {
        unsafe { _mm256_cmpgt_epi64(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: V, b: V) -> V {
        unsafe { _mm256_blendv_epi8(a, b, gt(a, b)) }
    }
    #[inline(always)]
    unsafe fn max(a: V, b: V) -> V {
        unsafe { _mm256_blendv_epi8(b, a, gt(a, b)) }
    }
    #[inline(always)]
    unsafe fn ceil_u(x: V, u: u64) -> V {
        unsafe { _mm256_andnot_si256(splat(u - 1), _mm256_add_epi64(x, splat(u - 1))) }
    }
    #[inline(always)]
    unsafe fn any(m: V) -> bool {
        unsafe { _mm256_movemask_pd(_mm256_castsi256_pd(m)) != 0 }
    }
    #[inline(always)]
    unsafe fn hsum(x: V) -> u64 {
        let mut a = [0u64; 4];
        unsafe { _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, x) };
        a.iter().sum()
    }

    /// Stores the low words of counter `k`'s new values `sum` (u64 lanes,
    /// each below 2^63) for VMs `i..i + 4`, and moves any carry out of them
    /// to `v.carries`.
    #[inline(always)]
    unsafe fn count4(v: &mut View, k: Counter, i: usize, sum: V) {
        unsafe {
            store_u32x4(v.counter_mut(k), i, sum);
            if any(gt(sum, splat(u32::MAX as u64))) {
                let mut lanes = [0u64; 4];
                _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, sum);
                for (j, &s) in lanes.iter().enumerate().filter(|(_, &s)| s >> 32 != 0) {
                    v.carry(k, i + j, s);
                }
            }
        }
    }

    /// `target_of` for VMs `i..i + 4` (the f64 form; see `host::ceil_pct_f64`).
    #[inline(always)]
    pub(crate) unsafe fn targets4(v: &View, i: usize, u: u64) -> V {
        unsafe {
            let d = to_f64(u32x4(v.demand, i));
            let b = to_f64(_mm256_add_epi64(u16x4(v.buffer, i), splat(100)));
            let x = _mm256_mul_pd(d, b);
            let t = trunc_u64(_mm256_mul_pd(
                _mm256_add_pd(x, _mm256_set1_pd(99.5)),
                _mm256_set1_pd(0.01),
            ));
            min(max(ceil_u(t, u), u32x4(v.minimum, i)), u32x4(v.maximum, i))
        }
    }

    #[inline(always)]
    pub(crate) unsafe fn filled4(v: &View, g: &super::Filled, i: usize) -> V {
        unsafe {
            let mn = u32x4(v.minimum, i);
            let floor = if g.demand_stage {
                demand_caps4(v, i, mn, u32x4(v.maximum, i), g.u)
            } else {
                mn
            };
            _mm256_add_epi64(floor, _mm256_sllv_epi64(u32x4(g.extra, i), splat(g.shift as u64)))
        }
    }

    /// `demand_cap_of` for VMs `i..i + 4`, given their minimum and maximum.
    #[inline(always)]
    unsafe fn demand_caps4(v: &View, i: usize, mn: V, mx: V, u: u64) -> V {
        unsafe { min(max(ceil_u(u32x4(v.demand, i), u), mn), mx) }
    }

    /// [`super::room`] in the `solver` lanes (all ones; 0 elsewhere).
    #[inline(always)]
    unsafe fn room4(demand_stage: bool, solver: V, t: V, d_cap: V, mn: V, shift: V) -> V {
        let (lo, hi) = if demand_stage { (d_cap, t) } else { (mn, d_cap) };
        unsafe { _mm256_and_si256(solver, _mm256_srlv_epi64(_mm256_sub_epi64(hi, lo), shift)) }
    }

    /// A [`Scan`] kept per lane.
    struct ScanLanes([V; 7]);

    impl ScanLanes {
        #[inline(always)]
        fn new() -> ScanLanes {
            let zero = splat(0);
            ScanLanes([zero, zero, zero, zero, splat(crate::solver::WEIGHT_SCALE), zero, zero])
        }

        /// [`Scan::add`] of rooms `c` with weights `w`, lane-wise.
        #[inline(always)]
        unsafe fn add(&mut self, c: V, w: V) {
            let [total, positive, w_pos, max_pos, min_w, n_zero, max_zero] = &mut self.0;
            unsafe {
                let zero = _mm256_setzero_si256();
                let zero_w = _mm256_cmpeq_epi64(w, zero);
                let no_c = _mm256_cmpeq_epi64(c, zero);
                let pos_with_c = _mm256_andnot_si256(_mm256_or_si256(zero_w, no_c), splat(u64::MAX));
                *total = _mm256_add_epi64(*total, c);
                *positive = _mm256_add_epi64(*positive, _mm256_andnot_si256(zero_w, c));
                *w_pos = _mm256_add_epi64(*w_pos, _mm256_and_si256(pos_with_c, w));
                *max_pos = max(*max_pos, _mm256_andnot_si256(zero_w, c));
                *min_w = min(*min_w, _mm256_blendv_epi8(*min_w, w, pos_with_c));
                *n_zero = _mm256_add_epi64(*n_zero, _mm256_andnot_si256(no_c, _mm256_and_si256(zero_w, splat(1))));
                *max_zero = max(*max_zero, _mm256_and_si256(zero_w, c));
            }
        }

        fn merge_into(self, scan: &mut Scan) {
            let spill = |x: V| {
                let mut a = [0u64; 4];
                unsafe { _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, x) };
                a
            };
            super::merge_lanes(scan, self.0.map(spill));
        }
    }

    /// Pass 1 over whole groups of 4 VMs; returns how many VMs it covered.
    /// A group with a starting VM goes through the scalar form.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA. (Bounds: every column is checked to hold
    /// `v.len()` entries, as are `p.target` and, with a guess, `p.caps`;
    /// groups end at or before `v.len()`.)
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn pass1(v: &mut View, p: &mut Pass1) -> usize {
        v.assert_columns();
        let n = v.len() / 4 * 4;
        assert!(p.target.len() >= n && (p.stage.is_none() || p.caps.len() >= n));
        let u = p.u;
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let shift = splat(u.trailing_zeros() as u64);
        let zero = _mm256_setzero_si256();
        let (mut held, mut sum_t, mut sum_d, mut sum_m, mut sum_a, mut need_t) = (zero, zero, zero, zero, zero, zero);
        let mut lanes = ScanLanes::new();
        let mut i = 0;
        while i < n {
            unsafe {
                let f = u8x4(v.flags, i);
                let state = _mm256_and_si256(f, splat(STATE_MASK as u64));
                if any(_mm256_cmpeq_epi64(state, splat(VmState::Starting as u64))) {
                    // (Adds to `p.sums` and `p.scan` directly.)
                    super::pass1_scalar(v, p, i..i + 4);
                    i += 4;
                    continue;
                }
                let off = _mm256_cmpeq_epi64(state, splat(VmState::Off as u64));
                let solver = _mm256_cmpeq_epi64(f, running_dynamic);
                let a = u32x4(v.assigned, i);
                // on and not in the solver set: static running VMs hold their memory
                held = _mm256_add_epi64(held, _mm256_andnot_si256(_mm256_or_si256(off, solver), a));
                let t = targets4(v, i, u);
                store_u32x4(p.target, i, t);
                let (mn, mx) = (u32x4(v.minimum, i), u32x4(v.maximum, i));
                let d_cap = demand_caps4(v, i, mn, mx, u);
                sum_t = _mm256_add_epi64(sum_t, _mm256_and_si256(solver, t));
                sum_d = _mm256_add_epi64(sum_d, _mm256_and_si256(solver, d_cap));
                sum_m = _mm256_add_epi64(sum_m, _mm256_and_si256(solver, mn));
                sum_a = _mm256_add_epi64(sum_a, _mm256_and_si256(solver, a));
                let short = _mm256_and_si256(_mm256_and_si256(solver, gt(t, a)), _mm256_sub_epi64(t, a));
                need_t = _mm256_add_epi64(need_t, short);
                if let Some(demand_stage) = p.stage {
                    let c = room4(demand_stage, solver, t, d_cap, mn, shift);
                    store_u32x4(p.caps, i, c);
                    lanes.add(c, u16x4(v.weight, i));
                }
            }
            i += 4;
        }
        let sums = [held, sum_t, sum_d, sum_m, sum_a, need_t];
        p.sums.add(sums.map(|x| unsafe { hsum(x) }));
        if p.stage.is_some() {
            lanes.merge_into(&mut p.scan);
        }
        n
    }

    /// `floors` over whole groups of 4 VMs; returns how many VMs it covered.
    ///
    /// # Safety
    /// As [`pass1`]; `target` and `caps` are checked to be long enough.
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn floors(
        v: &View,
        target: &[u32],
        caps: &mut [u32],
        u: u64,
        demand_stage: bool,
        scan: &mut Scan,
    ) -> usize {
        v.assert_columns();
        let n = v.len() / 4 * 4;
        assert!(target.len() >= n && caps.len() >= n);
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let shift = splat(u.trailing_zeros() as u64);
        let mut lanes = ScanLanes::new();
        let mut i = 0;
        while i < n {
            unsafe {
                let solver = _mm256_cmpeq_epi64(u8x4(v.flags, i), running_dynamic);
                let (mn, mx) = (u32x4(v.minimum, i), u32x4(v.maximum, i));
                let d_cap = demand_caps4(v, i, mn, mx, u);
                let c = room4(demand_stage, solver, u32x4(target, i), d_cap, mn, shift);
                store_u32x4(caps, i, c);
                lanes.add(c, u16x4(v.weight, i));
            }
            i += 4;
        }
        lanes.merge_into(scan);
        n
    }

    /// Pass 2 over whole groups of 4 VMs; returns how many VMs it covered
    /// and their Σ assigned afterwards.
    ///
    /// # Safety
    /// As [`pass1`]; what `g_of` reads is checked ([`Alloc::check`]).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn pass2(v: &mut View, m: &Mechanics, g_of: impl Alloc) -> (usize, u64) {
        v.assert_columns();
        g_of.check(v.len());
        let n = v.len() / 4 * 4;
        let running_dynamic = splat((VmState::Running as u8 | DYNAMIC) as u64);
        let (dt, delay, hundred) = (
            _mm256_set1_pd(m.dt_s),
            _mm256_set1_pd(m.remove_delay_s),
            _mm256_set1_pd(100.0),
        );
        let (step, zero) = (splat(m.lazy_step), _mm256_setzero_si256());
        let prompt_all = if m.prompt_all { splat(u64::MAX) } else { zero };
        let mut total = zero;
        let mut i = 0;
        while i < n {
            unsafe {
                let f = u8x4(v.flags, i);
                let on = _mm256_xor_si256(
                    _mm256_cmpeq_epi64(_mm256_and_si256(f, splat(STATE_MASK as u64)), zero),
                    splat(u64::MAX),
                );
                let solver = _mm256_cmpeq_epi64(f, running_dynamic);
                let g = g_of.g4(v, i);
                let a0 = u32x4(v.assigned, i);
                // Prompt removal of all excess (when this tick needs it).
                let prompt_m = _mm256_and_si256(_mm256_and_si256(prompt_all, solver), gt(a0, g));
                let prompt = _mm256_and_si256(prompt_m, _mm256_sub_epi64(a0, g));
                let a = _mm256_sub_epi64(a0, prompt);
                // Lazy removal: the excess clock runs while above g.
                let over = _mm256_and_si256(solver, gt(a, g));
                let excess = _mm256_and_si256(over, _mm256_sub_epi64(a, g));
                let clock_p = v.clock_s.as_mut_ptr().add(i);
                let clock = _mm256_and_pd(_mm256_castsi256_pd(over), _mm256_add_pd(_mm256_loadu_pd(clock_p), dt));
                let lazy = _mm256_and_si256(over, _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_GE_OQ>(clock, delay)));
                let take = _mm256_and_si256(lazy, min(excess, step));
                // The clock resets when no excess is left.
                let spent = _mm256_cmpeq_epi64(take, excess);
                let clock = _mm256_andnot_pd(_mm256_castsi256_pd(spent), clock);
                _mm256_maskstore_pd(clock_p, solver, clock);
                // Adds up to g.
                let under = _mm256_and_si256(solver, gt(g, a));
                let add = _mm256_and_si256(under, _mm256_sub_epi64(g, a));
                let a = _mm256_add_epi64(_mm256_sub_epi64(a, take), add);
                store_u32x4(v.assigned, i, a);
                // Counters (masks are −1 per lane: subtracting one counts one).
                // Unconditional: with 4 lanes, "any lane changed" is a coin toss.
                let removed = _mm256_add_epi64(prompt, take);
                count4(v, Counter::Removed, i, _mm256_add_epi64(u32x4(v.removed, i), removed));
                let ops = _mm256_sub_epi64(_mm256_sub_epi64(u32x4(v.remove_ops, i), prompt_m), lazy);
                count4(v, Counter::RemoveOps, i, ops);
                count4(v, Counter::Added, i, _mm256_add_epi64(u32x4(v.added, i), add));
                count4(v, Counter::AddOps, i, _mm256_sub_epi64(u32x4(v.add_ops, i), under));
                // Hot-add where the VM now holds more than its guest sees (rare).
                let grow = _mm256_and_si256(under, gt(a, u32x4(v.visible, i)));
                let mut bits = _mm256_movemask_pd(_mm256_castsi256_pd(grow)) as u32;
                while bits != 0 {
                    let j = i + bits.trailing_zeros() as usize;
                    let (a, vis, max) = (v.assigned[j] as u64, v.visible[j] as u64, v.maximum[j] as u64);
                    v.visible[j] = super::visible_after_add(a, vis, max, m.chunk) as u32;
                    bits &= bits - 1;
                }
                // Statistics of every VM that is on (off lanes: discarded).
                let on_pd = _mm256_castsi256_pd(on);
                let p = _mm256_mul_pd(_mm256_div_pd(to_f64(u32x4(v.demand, i)), to_f64(a)), hundred);
                let pm = v.p_min.as_mut_ptr().add(i);
                let lower = _mm256_and_pd(on_pd, _mm256_cmp_pd::<_CMP_LT_OQ>(p, _mm256_loadu_pd(pm)));
                _mm256_maskstore_pd(pm, _mm256_castpd_si256(lower), p);
                let px = v.p_max.as_mut_ptr().add(i);
                let higher = _mm256_and_pd(on_pd, _mm256_cmp_pd::<_CMP_GT_OQ>(p, _mm256_loadu_pd(px)));
                _mm256_maskstore_pd(px, _mm256_castpd_si256(higher), p);
                let ps = v.p_sum.as_mut_ptr().add(i);
                _mm256_maskstore_pd(ps, on, _mm256_add_pd(_mm256_loadu_pd(ps), _mm256_mul_pd(p, dt)));
                total = _mm256_add_epi64(total, _mm256_and_si256(on, a));
            }
            i += 4;
        }
        (n, unsafe { hsum(total) })
    }
}
