//! The balancer's tick: from the VM columns and the host's pool to every
//! VM's new assigned memory, through the stages of `docs/balancer.md` (every
//! target fits; demand plus a weighted share of the buffers; minimum plus a
//! weighted share of the demand), prompt removal when the adds need memory
//! others hold, and pass 2's mechanics. The passes are in `tick/`, the
//! water-filling in `solver/`; this file decides which run and feeds them.

use crate::config::MAX_WEIGHT;
use crate::mechanics::Mechanics;
use crate::model::rules::{floor_u, Stage};
use crate::model::{in_solver, View, Vms};
use crate::policy::{self, Policy, PolicyScratch};
use crate::solver::{self, Scan, Solved};
use crate::tick::{self, Alloc, Filled, Level, Pass2, Pass2Out, Sums, Targets};
use crate::VectorCap;

mod blocks;

/// Hosts of at least this many VMs tick on several threads, in parts of at
/// least half as many (a part of 16k VMs takes ~30 µs, well above the cost
/// of handing it to another thread).
pub const PARALLEL_MIN_VMS: usize = 32_768;

/// Scratch buffers reused across ticks (no allocation in steady state).
/// Under contention the solver works on full-length columns (one entry per
/// VM, capacity 0 for VMs outside the solver set), so no compaction or
/// index indirection is needed: `g = floor + (extra << log2 u)`, the floor
/// (demand cap or minimum) computed from the columns.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Each solver VM's target (MB), written by pass 1; under contention,
    /// once the rooms are known, the solver's list of items (`keys`).
    target: Vec<u32>,
    /// Room above the floor per VM, in balloon units; the solver replaces
    /// each by the units it gives the VM above its floor (`extra`).
    caps: Vec<u32>,
    /// Excess memory per weight, for prompt removal (lowest weight first).
    excess_by_weight: Vec<u64>,
    /// The solver's last water level in stages 1 and 2: the next tick's first guess.
    levels: [Option<(bool, u64)>; 2],
    /// The last tick's stage when it was contended (`Some(stage)`):
    /// pass 1's guess for this tick (see [`tick::Pass1`]).
    stage: Option<Stage>,
    /// The built-in policies' scratch.
    policy: PolicyScratch,
}

/// One tick's inputs besides the VMs: their usable memory (physical less
/// the reserve), the mechanics, the policy (an external one's answer: the
/// positions of its VMs and their allocations, already checked), the step
/// and the host clock at its start.
#[derive(Clone, Copy)]
pub(crate) struct Tick<'a> {
    pub usable_mb: u64,
    pub mech: &'a Mechanics,
    pub rule: &'a Policy,
    pub answer: Option<(&'a [usize], &'a [i64])>,
    pub dt_s: f64,
    pub time_s: f64,
}

/// What a tick's result depends on besides the VM columns: the usable
/// memory, the mechanics and a built-in policy (an external one: `None`,
/// never quiet).
#[derive(Debug, Clone, PartialEq)]
struct Inputs {
    usable_mb: u64,
    mech: Mechanics,
    policy: (u8, u64),
}

impl Inputs {
    fn of(usable_mb: u64, mech: &Mechanics, rule: &Policy) -> Option<Inputs> {
        let policy = match rule {
            Policy::HyperV => (0, 0),
            Policy::Static => (1, 0),
            Policy::Proportional => (2, 0),
            Policy::Shares { idle_tax } => (3, idle_tax.to_bits()),
            Policy::StrictPriority => (4, 0),
            Policy::External(_) => return None,
        };
        Some(Inputs {
            usable_mb,
            mech: mech.clone(),
            policy,
        })
    }
}

/// The balancer of one host: its scratch, and how its ticks may run (vector
/// forms, threads). Results never depend on either.
#[derive(Debug, Clone)]
pub(crate) struct Balancer {
    scratch: Scratch,
    /// The widest vector forms the tick may use (tests lower it to compare;
    /// results are identical either way).
    pub(crate) vector_cap: VectorCap,
    /// Threads a tick may use (0: as many as the pool has). Results are
    /// identical for any number.
    pub(crate) threads: usize,
    /// Hosts of fewer VMs than this tick on one thread, and a part has at
    /// least half this many (tests lower it to split small hosts).
    pub(crate) par_min: usize,
    /// `Some(inputs)`: the last tick, under these inputs, left every VM at
    /// rest (`tick::Pass2Out::active` false), and Σ assigned was
    /// `last_total`. A tick under the same inputs with no VM marked since
    /// (`Vms::any_dirty`) is quiet: it would change nothing but the clock.
    settled: Option<Inputs>,
    last_total: u64,
    /// Quiet ticks (and the other sparse paths) allowed: tests turn them
    /// off to compare with dense ticking; results are identical either way.
    pub(crate) sparse: bool,
    /// Quiet ticks so far (tests check that they ran).
    pub(crate) quiet_ticks: u64,
    /// The 128-VM blocks at rest, for ticks that visit only the others
    /// (`blocks.rs`).
    blocks: blocks::Blocks,
}

impl Default for Balancer {
    fn default() -> Balancer {
        Balancer {
            scratch: Scratch::default(),
            vector_cap: VectorCap::Avx512,
            threads: 0,
            par_min: PARALLEL_MIN_VMS,
            settled: None,
            last_total: 0,
            sparse: true,
            quiet_ticks: 0,
            blocks: blocks::Blocks::default(),
        }
    }
}

impl Balancer {
    /// Heap bytes of the scratch (capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        let s = &self.scratch;
        (s.target.capacity() + s.caps.capacity()) * 4
            + s.excess_by_weight.capacity() * 8
            + s.policy.heap_bytes()
            + self.blocks.heap_bytes()
    }

    /// Ticks so far that visited only some blocks of VMs (tests check that
    /// they ran).
    #[cfg(test)]
    pub(crate) fn block_ticks(&self) -> u64 {
        self.blocks.ticks
    }

    /// How many parts a tick's passes over `n` VMs run in.
    fn parts(&self, n: usize) -> usize {
        if n < self.par_min {
            return 1;
        }
        let threads = if self.threads == 0 {
            crate::par::threads()
        } else {
            self.threads
        };
        threads.min(n / (self.par_min / 2).max(1)).max(1)
    }

    /// Drops pass 1's guess of the contended stage (the next tick runs the
    /// floors pass), for tests that check the guess changes nothing.
    #[cfg(test)]
    pub(crate) fn forget_stage(&mut self) {
        self.scratch.stage = None;
    }

    /// The solver's last levels, for tests that compare two hosts exactly.
    #[cfg(test)]
    pub(crate) fn levels(&self) -> [Option<(bool, u64)>; 2] {
        self.scratch.levels
    }

    /// One tick of `t.dt_s`, starting at host time `t.time_s`, over `v`,
    /// whose VMs share `t.usable_mb` under `t.mech`; returns Σ assigned
    /// afterwards.
    ///
    /// When every target fits it is two streaming passes over the VM
    /// columns: pass 1 advances boot clocks and sums targets, demand caps,
    /// minimums, assigned memory and the shortfall; pass 2 applies the
    /// mechanics (prompt and lazy removal, adds, hot-add) and the pressure
    /// statistics. Under contention every VM's room above the stage's floor
    /// (full-length columns, 0 outside the solver set) comes from pass 1,
    /// when the last tick was contended in the same stage, or else from one
    /// more pass; then the solver's probes (one when the level did not move,
    /// each evaluating two levels; see `solver/`), then pass 2, which
    /// computes each VM's share of the pool from its room, its weight and the
    /// level the solver found (`tick::Level`). `O(N)` per pass, no allocation in steady
    /// state; hosts of [`PARALLEL_MIN_VMS`] or more run every pass in parts
    /// on several threads (`par/`).
    ///
    /// Under a policy other than Hyper-V's (`policy/`), pass 1 runs as
    /// ever (boots, targets, sums), the policy writes `g` into the scratch,
    /// and the mechanics follow as in stage 0: prompt removal when the adds
    /// need more than free memory, then pass 2 with `g` read from the
    /// scratch. An external policy's answer comes in `answer`: the positions
    /// of its VMs and their allocations, already checked.
    ///
    /// A quiet tick is `O(1)`: when the last tick left every VM at rest
    /// (none booting, none above its `g` after its step: adds and prompt
    /// removal end at `g`) and since then no VM was marked (demand or
    /// memory changed, started, stopped, configured: `Vms::touch`) and the
    /// usable memory, mechanics and (built-in) policy are the same, every
    /// pass would find the same `g` and change nothing: only the host clock
    /// moves (the caller's). Between that and a full tick, a Hyper-V tick in
    /// which every target fits visits only the blocks of VMs marked or not at
    /// rest (`blocks.rs`).
    pub(crate) fn tick(&mut self, v: &mut Vms, t: &Tick) -> u64 {
        // The quiet tick: O(1) (see `settled`). VMs added since mark
        // themselves here (`fit_dirty`).
        v.fit_dirty();
        let inputs = Inputs::of(t.usable_mb, t.mech, t.rule);
        if self.sparse && !v.any_dirty && inputs.is_some() && self.settled == inputs {
            self.quiet_ticks += 1;
            return self.last_total;
        }
        let out = match inputs.as_ref() {
            Some(i) if self.sparse && matches!(t.rule, Policy::HyperV) => self.tick_blocks(v, t, i),
            _ => {
                self.blocks.drop_kept();
                self.tick_dense(v, t)
            }
        };
        v.any_dirty = false; // pass 2 cleared the marks
        self.settled = if out.active { None } else { inputs };
        self.last_total = out.total;
        out.total
    }

    /// [`Balancer::tick`] over every VM.
    fn tick_dense(&mut self, v: &mut Vms, t: &Tick) -> Pass2Out {
        let (sums, pre_scan, guess) = self.pass1_all(v, t);
        self.finish(v, t, sums, pre_scan, guess)
    }

    /// Pass 1 over every VM: every solver VM's target (the floors and pass
    /// 2 read it) and, if the last tick was contended, the same stage's rooms
    /// (its guess, returned with the sums and the rooms' scan).
    fn pass1_all(&mut self, v: &mut Vms, t: &Tick) -> (Sums, Scan, Option<Stage>) {
        let u = t.mech.balloon_unit_mb as u64;
        let parts = self.parts(v.len());
        let s = &mut self.scratch;
        let guess = if matches!(t.rule, Policy::HyperV) {
            s.stage
        } else {
            None
        };
        s.target.resize(v.len(), 0);
        if guess.is_some() {
            s.caps.resize(v.len(), 0);
        }
        let p = tick::Pass1 {
            dt_s: t.dt_s,
            u,
            target: &mut s.target,
            stage: guess,
            caps: &mut s.caps,
            sums: Sums::default(),
            scan: Scan::default(),
        };
        let (sums, pre_scan) = tick::pass1(View::of(v), p, self.vector_cap, parts);
        (sums, pre_scan, guess)
    }

    /// The rest of a tick after pass 1 (its `sums`, and its rooms' scan
    /// when it `guess`ed a contended stage): the stage, the policy or the
    /// solver, prompt removal, pass 2 over every VM.
    fn finish(&mut self, v: &mut Vms, t: &Tick, sums: Sums, pre_scan: Scan, guess: Option<Stage>) -> Pass2Out {
        let Tick {
            usable_mb,
            mech,
            rule,
            answer,
            ..
        } = *t;
        let u = mech.balloon_unit_mb as u64;
        let vector_cap = self.vector_cap;
        let parts = self.parts(v.len());
        let hyperv = matches!(rule, Policy::HyperV);
        let (sum_t, sum_d, sum_m, sum_a, need_t) = (sums.sum_t, sums.sum_d, sums.sum_m, sums.sum_a, sums.need_t);
        let (pool, free) = pool_and_free(&sums, usable_mb, u);
        let pass2 = pass2_of(t);

        if !hyperv {
            let s = &mut self.scratch;
            s.stage = None;
            s.caps.clear();
            s.caps.resize(v.len(), 0);
            match answer {
                Some((positions, g)) => {
                    for (&i, &x) in positions.iter().zip(g) {
                        s.caps[i] = floor_u(x as u64, u) as u32; // checked: minimum ≤ x ≤ maximum
                    }
                }
                None => policy::allocate(
                    rule,
                    v,
                    (&s.target, sum_t <= pool),
                    pool,
                    u,
                    &mut s.caps,
                    &mut s.policy,
                    parts,
                ),
            }
            let g = Targets { target: &s.caps };
            let need = need_under(v, g);
            let prompt_all = prompt_as_needed(v, &mut s.excess_by_weight, need, free, g);
            return v.pass2(&Pass2 { prompt_all, ..pass2 }, g, vector_cap, parts);
        }
        if sum_t <= pool {
            // Every target fits: g = target (stage 0).
            self.scratch.stage = None;
            let g = Targets {
                target: &self.scratch.target,
            };
            let prompt_all = prompt_as_needed(v, &mut self.scratch.excess_by_weight, need_t, free, g);
            v.pass2(&Pass2 { prompt_all, ..pass2 }, g, vector_cap, parts)
        } else {
            let s = &mut self.scratch;
            // Stage 1 when the demand caps fit (buffers are shared), else 2.
            let stage = if sum_d <= pool { Stage::Buffers } else { Stage::Demand };
            // Pass 1's rooms and scan if it guessed this stage; else the floors pass.
            let scan = (guess == Some(stage)).then_some(pre_scan);
            s.stage = Some(stage);
            let (shift, solved) = allocate(v, s, pool, u, stage, (sum_d, sum_m), scan, (vector_cap, parts));
            // The units above the floors: written in the scratch, or pass 2
            // computes them from the rooms there (one pass fewer).
            match solved {
                Solved::Written(_) => {
                    let g = Filled {
                        stage,
                        u,
                        extra: &s.caps,
                        shift,
                    };
                    contended_pass2(
                        v,
                        &mut s.excess_by_weight,
                        g,
                        (sum_a, pool),
                        &pass2,
                        (vector_cap, parts),
                    )
                }
                Solved::Hand(hand) => {
                    let g = Level {
                        stage,
                        u,
                        shift,
                        rooms: &s.caps,
                        hand,
                    };
                    contended_pass2(
                        v,
                        &mut s.excess_by_weight,
                        g,
                        (sum_a, pool),
                        &pass2,
                        (vector_cap, parts),
                    )
                }
            }
        }
    }
}

/// Pass 2 of a contended Hyper-V tick whose water-filling gave `g`. The
/// water-filling hands out the whole pool (Σ g = pool), so the adds need
/// exactly free memory plus all the excess: prompt removal takes all of it,
/// in pass 2. Only when the solver set already holds more than the pool
/// (free = 0 < Σ assigned − pool) do the adds need less than the excess:
/// then lowest weight first, here.
fn contended_pass2(
    v: &mut Vms,
    by_weight: &mut Vec<u64>,
    g: impl Alloc,
    (sum_a, pool): (u64, u64),
    pass2: &Pass2,
    (vector_cap, parts): (VectorCap, usize),
) -> Pass2Out {
    let mut prompt_all = true;
    if sum_a > pool {
        let need = need_under(v, g);
        if need > 0 {
            prompt_removal(v, by_weight, need, g);
        }
        prompt_all = false;
    }
    v.pass2(&Pass2 { prompt_all, ..*pass2 }, g, vector_cap, parts)
}

impl Vms {
    /// Pass 2 over every VM (in `parts` parts), its carries kept.
    fn pass2(&mut self, p: &Pass2, g: impl Alloc, vector_cap: VectorCap, parts: usize) -> Pass2Out {
        let mut out = tick::pass2(View::of(self), p, g, vector_cap, parts);
        self.add_carries(std::mem::take(&mut out.carries));
        out
    }
}

/// The pool the solver set shares (usable memory less what VMs outside it
/// hold, in whole balloon units `u`) and its free part (less Σ assigned).
fn pool_and_free(sums: &Sums, usable_mb: u64, u: u64) -> (u64, u64) {
    let pool = floor_u(usable_mb.saturating_sub(sums.held), u);
    (pool, pool.saturating_sub(sums.sum_a))
}

/// Pass 2's parameters for tick `t` (prompt removal of all excess off).
fn pass2_of(t: &Tick) -> Pass2 {
    let mech = t.mech;
    let u = mech.balloon_unit_mb as u64;
    Pass2 {
        prompt_all: false,
        dt_s: t.dt_s,
        time_s: t.time_s,
        remove_delay_s: mech.remove_delay_s,
        lazy_step: u.max(floor_u((mech.remove_rate_mb_per_s * t.dt_s).floor() as u64, u)),
    }
}

/// Stages 1 and 2 (targets do not fit): for every VM the room above the
/// stage's floor (`caps`, units; 0 outside the solver set) and its scan, from
/// pass 1 (`scan` is `Some`) or a pass of its own; then water-fills the pool
/// above the floors, and returns `log2 u` and what the solver found: the
/// units above the floors written into `caps` (solver VM `i` gets
/// `floor_i + (caps[i] << log2 u)`, [`Filled`]), or the hand-out that gives
/// them from the rooms left in `caps` ([`Level`]). At most one pass here, then
/// the solver's probes (and, for the weight-0 tier, its hand-out; see
/// `solver/`): `O(N · passes)`, no allocation once the scratch has grown to `N`.
#[allow(clippy::too_many_arguments)]
fn allocate(
    v: &mut Vms,
    s: &mut Scratch,
    pool: u64,
    u: u64,
    stage: Stage,
    (sum_d, sum_m): (u64, u64),
    scan: Option<Scan>,
    (vector_cap, parts): (VectorCap, usize),
) -> (u32, Solved) {
    let n = v.len();
    let shift = u.trailing_zeros();
    s.caps.resize(n, 0);
    let scan = scan.unwrap_or_else(|| tick::floors(View::of(v), &s.target, &mut s.caps, (u, stage), vector_cap, parts));
    // Every way of building the rooms' scan (pass 1's guess, the floors pass,
    // in parts or not) must give the scan of the rooms.
    #[cfg(test)]
    assert_eq!(scan, Scan::of(&s.caps, &v.weight), "scan of the rooms");
    let base_sum = match stage {
        Stage::Buffers => sum_d,
        Stage::Demand => sum_m,
    };
    let budget = pool.saturating_sub(base_sum) >> shift;
    let level = &mut s.levels[stage as usize];
    // The solver's list of items stepping up at L + 1 takes the targets'
    // buffer (no longer needed this tick: pass 2 computes g from the floors).
    let solved = solver::solve_scanned(
        budget,
        &mut s.caps,
        &v.weight,
        scan,
        &mut s.target,
        level,
        (vector_cap, parts),
    );
    (shift, solved)
}

/// Prompt removal for an allocation `g` that fits the pool, when the adds
/// (`need`: Σ max(0, g − assigned)) need more than `free`: balloon the
/// excess of others at once. All of it when that is what the adds need
/// (returns `true`: pass 2 does it on its way); else the shortfall, lowest
/// weight first, here.
fn prompt_as_needed(v: &mut Vms, by_weight: &mut Vec<u64>, need: u64, free: u64, g: impl Alloc) -> bool {
    if need <= free {
        return false;
    }
    let excess = excess_over(v, g);
    if need - free >= excess {
        return true;
    }
    prompt_removal(v, by_weight, need - free, g);
    false
}

/// Σ max(0, assigned − g) over the solver set.
fn excess_over(v: &Vms, g: impl Alloc) -> u64 {
    (0..v.len())
        .filter(|&i| in_solver(v.flags[i]))
        .map(|i| (v.assigned[i] as u64).saturating_sub(g.g(v, i)))
        .sum()
}

/// Σ max(0, g − assigned) over the solver set.
fn need_under(v: &Vms, g: impl Alloc) -> u64 {
    (0..v.len())
        .filter(|&i| in_solver(v.flags[i]))
        .map(|i| g.g(v, i).saturating_sub(v.assigned[i] as u64))
        .sum()
}

/// Balloons `short` MB out of solver VMs holding more than `g`, lowest
/// weight first (ties: earlier position), each down to at most `g`.
fn prompt_removal(v: &mut Vms, by_weight: &mut Vec<u64>, short: u64, g: impl Alloc) {
    // Lowest weight first without sorting: total the excess per weight, find
    // the weight at which `short` is reached, then one pass in position order.
    let n = v.len();
    let excess_of = |v: &Vms, i: usize| -> u64 {
        if !in_solver(v.flags[i]) {
            return 0;
        }
        (v.assigned[i] as u64).saturating_sub(g.g(v, i))
    };
    by_weight.clear();
    by_weight.resize(MAX_WEIGHT as usize + 1, 0);
    for i in 0..n {
        by_weight[v.weight[i] as usize] += excess_of(v, i);
    }
    let (mut cut, mut acc) = (MAX_WEIGHT, 0u64);
    for (w, &x) in by_weight.iter().enumerate() {
        if acc + x >= short {
            cut = w as u16;
            break;
        }
        acc += x;
    }
    let mut at_cut = short - acc; // what VMs of the cut weight give, earliest first
    for i in 0..n {
        let w = v.weight[i];
        if w > cut {
            continue;
        }
        let excess = excess_of(v, i);
        let take = if w < cut { excess } else { excess.min(at_cut) };
        if take > 0 {
            v.balloon(i, take);
            if w == cut {
                at_cut -= take;
            }
        }
    }
}
