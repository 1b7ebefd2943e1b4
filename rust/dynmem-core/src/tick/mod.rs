//! The streaming passes of a tick over the VM columns: pass 1, the
//! contention floors, pass 2 (`balancer.rs` fits them together,
//! `docs/balancer.md` says what they compute), and what they share: the
//! allocation `g` they apply ([`Alloc`]) and their parameters.
//!
//! Each pass has a scalar form (`scalar.rs`), the definition, and two vector
//! forms chosen at run time on x86-64 (`x86_64/`): AVX-512 (mask registers;
//! 16 VMs per step in u32 lanes) and AVX2 (all-ones lanes as masks; 8 VMs
//! per step in u32 lanes; see `benches/ISA.md`): the same arithmetic, with masks where the scalar form branches
//! (whether a VM grows, shrinks or holds changes from tick to tick, so as
//! branches those choices would mispredict). Every form gives bit-identical
//! results (integer arithmetic, and f64 operations that are exact, in the
//! same order, without fused multiply-adds); the unit tests run every tick in
//! each form and compare whole hosts. Rare cases fall back to the scalar
//! form: a group with a booting VM in pass 1, and a hot-add (for that VM).
//!
//! Every pass works on a [`View`] (column slices of some VMs) and runs in
//! parts on several threads through `par::in_parts`, which merges the parts'
//! sums, scans and carries exactly.

mod scalar;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_64;
#[cfg(target_arch = "x86_64")]
use x86_64::{avx2, avx512};

use scalar::floors_scalar;
pub(crate) use scalar::{pass1_scalar, pass2_scalar};

use crate::model::rules::{demand_cap_of, Stage};
use crate::model::{Carries, View, Vms};
use crate::par::{in_parts, Split};
use crate::simd::vector_prefix;
use crate::solver::{Handout, Scan};
use crate::VectorCap;

/// What the allocation `g` of a solver VM is this tick.
pub(crate) trait Alloc: Copy + Send + Sync + Split {
    /// `g` of VM `i`, given its demand, minimum, maximum and weight (only
    /// called for solver VMs).
    fn g_of(&self, i: usize, demand: u32, minimum: u32, maximum: u32, weight: u16) -> u64;
    /// `g` of VM `i` (only called for solver VMs).
    #[inline(always)]
    fn g(&self, v: &Vms, i: usize) -> u64 {
        self.g_of(i, v.demand[i], v.minimum[i], v.maximum[i], v.weight[i])
    }
    /// How the vector forms compute `g`: they match on it (a constant once
    /// inlined) and do the vector work in their own `#[target_feature]`
    /// functions, which a trait method cannot be.
    fn lanes(&self) -> Lanes<'_>;
}

/// What the vector forms of pass 2 compute an [`Alloc`]'s `g` from.
/// (`repr(u8)`: an explicit tag, which the optimizer sees as the constant
/// it is once `lanes` is inlined, so that the match leaves the loops; a
/// tag kept in the niche of `Filled::stage` stayed a test per step.)
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Lanes<'a> {
    /// [`Targets`]: `g = target[i]`.
    Targets(&'a [u32]),
    /// [`Filled`]: `g = floor + (extra[i] << shift)`.
    Filled(Filled<'a>),
    /// [`Level`]: `g = floor + (units << shift)`, the units from the room
    /// and the weight.
    Level(Level<'a>),
}

impl Lanes<'_> {
    /// Panics unless `g` of VMs `0..n` reads in bounds (besides the VM
    /// columns).
    pub(crate) fn check(&self, n: usize) {
        match self {
            Lanes::Targets(target) => assert!(target.len() >= n, "target scratch shorter than the host"),
            Lanes::Filled(f) => assert!(f.extra.len() >= n, "solver scratch shorter than the host"),
            Lanes::Level(l) => assert!(l.rooms.len() >= n, "solver scratch shorter than the host"),
        }
    }
}

/// `g = target` (every target fits), as pass 1 stored it: pass 2 reads one
/// u32 per VM instead of recomputing the target from four columns.
#[derive(Clone, Copy)]
pub(crate) struct Targets<'a> {
    pub target: &'a [u32],
}

impl Alloc for Targets<'_> {
    #[inline(always)]
    fn g_of(&self, i: usize, _: u32, _: u32, _: u32, _: u16) -> u64 {
        self.target[i] as u64
    }
    #[inline(always)]
    fn lanes(&self) -> Lanes<'_> {
        Lanes::Targets(self.target)
    }
}

/// `g = floor + (extra << shift)` (the water-filling's result), the floor
/// being the stage's: the demand cap in stage 1 (`Stage::Buffers`), the
/// minimum in stage 2, computed from the columns.
#[derive(Clone, Copy)]
pub(crate) struct Filled<'a> {
    pub stage: Stage,
    pub u: u64,
    pub extra: &'a [u32],
    pub shift: u32,
}

impl Alloc for Filled<'_> {
    #[inline(always)]
    fn g_of(&self, i: usize, demand: u32, minimum: u32, maximum: u32, _: u16) -> u64 {
        floor_of(self.stage, self.u, demand, minimum, maximum) + ((self.extra[i] as u64) << self.shift)
    }
    #[inline(always)]
    fn lanes(&self) -> Lanes<'_> {
        Lanes::Filled(*self)
    }
}

/// The floor of a solver VM's `g` in a contended stage: the demand cap in
/// stage 1 (`Stage::Buffers`), the minimum in stage 2.
#[inline(always)]
fn floor_of(stage: Stage, u: u64, demand: u32, minimum: u32, maximum: u32) -> u64 {
    if stage == Stage::Buffers {
        demand_cap_of(demand, minimum, maximum, u)
    } else {
        minimum as u64
    }
}

/// `g = floor + (units << shift)`: the water-filling's hand-out applied to
/// each VM's room above the floor (`rooms`, in balloon units, as the
/// solver saw them) and its weight ([`Handout::units`]), so that pass 2
/// computes the units on its way instead of a pass writing them. Only
/// for the positive tier, with every room ≤ the solver's `F64_EXACT_CAP`
/// (`solver::Solved::Hand`).
#[derive(Clone, Copy)]
pub(crate) struct Level<'a> {
    pub stage: Stage,
    pub u: u64,
    pub shift: u32,
    pub rooms: &'a [u32],
    /// The hand-out; positions in it count from `rooms`' first VM.
    pub hand: Handout,
}

impl Alloc for Level<'_> {
    #[inline(always)]
    fn g_of(&self, i: usize, demand: u32, minimum: u32, maximum: u32, weight: u16) -> u64 {
        let units = self.hand.units(self.rooms[i] as u64, weight as u64, i);
        floor_of(self.stage, self.u, demand, minimum, maximum) + (units << self.shift)
    }
    #[inline(always)]
    fn lanes(&self) -> Lanes<'_> {
        Lanes::Level(*self)
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
    pub(crate) fn merged(self, o: Sums) -> Sums {
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

/// What pass 2 needs besides the columns: the mechanics' parameters for
/// this tick and whether prompt removal takes all excess.
#[derive(Clone, Copy)]
pub(crate) struct Pass2 {
    /// Balloon every VM above `g` down to `g` at once (prompt removal of all excess).
    pub prompt_all: bool,
    pub dt_s: f64,
    /// The host clock at the start of the tick: where a changed pressure's
    /// interval begins (the statistics, `docs/balancer.md`).
    pub time_s: f64,
    pub remove_delay_s: f64,
    pub lazy_step: u64,
}

impl Split for Targets<'_> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.target.split_at(mid);
        (Targets { target: a }, Targets { target: b })
    }
}

impl Split for Filled<'_> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.extra.split_at(mid);
        (Filled { extra: a, ..self }, Filled { extra: b, ..self })
    }
}

impl Split for Level<'_> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.rooms.split_at(mid);
        let hand = Handout {
            cut: self.hand.cut.from(mid),
            ..self.hand
        };
        (Level { rooms: a, ..self }, Level { rooms: b, hand, ..self })
    }
}

/// What pass 1 writes and adds up besides the boot clocks.
pub(crate) struct Pass1<'a> {
    pub dt_s: f64,
    pub u: u64,
    /// Each solver VM's target (MB; any value for other VMs), for pass 2
    /// and [`floors`] to read.
    pub target: &'a mut [u32],
    /// `Some(stage)`: a guess that this tick is contended in that
    /// stage (the last tick's), so pass 1 also writes the stage's `caps` and
    /// `scan`, as [`floors`] would, and saves that pass when the guess holds.
    pub stage: Option<Stage>,
    pub caps: &'a mut [u32],
    pub sums: Sums,
    pub scan: Scan,
}

impl Split for Pass1<'_> {
    /// The parameters for the VMs before `mid` (with the sums so far) and
    /// from `mid` on (with none).
    fn split_at(self, mid: usize) -> (Self, Self) {
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
/// the pool (`par/`) when `parts > 1`; returns the sums and, with a guessed
/// stage, the scan. The result does not depend on `parts`: the parts'
/// sums and scans are sums and extremes, merged exactly.
pub(crate) fn pass1<'a>(v: View<'a>, p: Pass1<'a>, vector_cap: VectorCap, parts: usize) -> (Sums, Scan) {
    let n = v.len();
    let part = |(mut v, mut p): (View, Pass1)| {
        pass1_part(&mut v, &mut p, vector_cap);
        (p.sums, p.scan)
    };
    let merge = |a: (Sums, Scan), b: (Sums, Scan), _| (a.0.merged(b.0), a.1.merged(&b.1));
    in_parts((v, p), n, parts, &part, &merge)
}

/// Pass 1 over one part: boot clocks (a starting VM whose clock reaches the
/// delay joins the solver set this tick), the sums that pick the stage,
/// every solver VM's target and, on a guessed stage, its room above the
/// floor (see [`Pass1`]). `target` (and `caps` with a guess) hold at least
/// `v.len()` entries.
pub(crate) fn pass1_part(v: &mut View, p: &mut Pass1, vector_cap: VectorCap) {
    let n = v.len();
    assert!(p.target.len() >= n, "target scratch shorter than the host");
    assert!(
        p.stage.is_none() || p.caps.len() >= n,
        "caps scratch shorter than the host"
    );
    let done: usize = vector_prefix!(vector_cap, pass1(v, p));
    pass1_scalar(v, p, done..n);
}

/// [`floors_part`] over `v` in `parts` parts (in parallel when `parts > 1`;
/// the same result for any `parts`).
pub(crate) fn floors(
    v: View,
    target: &[u32],
    caps: &mut [u32],
    (u, stage): (u64, Stage),
    vector_cap: VectorCap,
    parts: usize,
) -> Scan {
    let n = v.len();
    let part = |(v, target, caps): (View, &[u32], &mut [u32])| floors_part(&v, target, caps, u, stage, vector_cap);
    in_parts((v, target, caps), n, parts, &part, &|a: Scan, b: Scan, _| a.merged(&b))
}

/// Under contention, for every VM of one part the room above the stage's
/// floor (`caps`, balloon units: from the demand cap up to the target in
/// stage 1, from the minimum up to the demand cap in stage 2; 0 outside the
/// solver set), and the solver's [`Scan`] of them. `target` is pass 1's.
fn floors_part(v: &View, target: &[u32], caps: &mut [u32], u: u64, stage: Stage, vector_cap: VectorCap) -> Scan {
    let mut scan = Scan::default();
    let done: usize = vector_prefix!(vector_cap, floors(v, target, caps, u, stage, &mut scan));
    floors_scalar(v, target, caps, u, stage, done..v.len(), &mut scan);
    scan
}

/// What pass 2 found besides the columns it wrote.
#[derive(Debug, Default)]
pub(crate) struct Pass2Out {
    /// Σ assigned afterwards.
    pub total: u64,
    /// Some VM is not at rest: it is booting, or it is still above `g`
    /// after this tick's step (its excess clock runs; adds and prompt
    /// removal end at `g`). A host whose last tick left every VM at rest,
    /// ticked again with the same inputs, changes nothing but its clock
    /// (`balancer/`, the quiet tick and the block ticks).
    pub active: bool,
    pub carries: Carries,
}

/// [`pass2_part`] over `v` in `parts` parts (in parallel when `parts > 1`),
/// clearing the marks (`Vms::dirty`) it has read. The same result for any
/// `parts`: every VM's step is its own, Σ assigned a sum, `active` an or.
pub(crate) fn pass2<G: Alloc>(v: View, m: &Pass2, g: G, vector_cap: VectorCap, parts: usize) -> Pass2Out {
    let n = v.len();
    let part = |(mut v, g): (View, G)| {
        let (total, active) = pass2_part(&mut v, m, g, vector_cap);
        v.dirty.fill(0);
        Pass2Out {
            total,
            active,
            carries: v.carries,
        }
    };
    let merge = |mut a: Pass2Out, b: Pass2Out, _| {
        a.carries.extend(b.carries);
        Pass2Out {
            total: a.total + b.total,
            active: a.active | b.active,
            carries: a.carries,
        }
    };
    in_parts((v, g), n, parts, &part, &merge)
}

/// Pass 2 over one part: prompt and lazy removal, adds (unballoon, then
/// hot-add) and the statistics. Returns Σ assigned afterwards and whether
/// some VM is not at rest.
pub(crate) fn pass2_part(v: &mut View, m: &Pass2, g: impl Alloc, vector_cap: VectorCap) -> (u64, bool) {
    let n = v.len();
    let (done, total, active): (usize, u64, bool) = vector_prefix!(vector_cap, pass2(v, m, g));
    let (rest, rest_active) = pass2_scalar(v, done..n, m, g);
    (total + rest, active | rest_active)
}
