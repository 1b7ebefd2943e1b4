//! Ticks that visit only the blocks of VMs not at rest: `O(k)` in the
//! number of blocks changed or still moving, plus a scan of one word per 64
//! VMs, when every target fits (stage 0) under Hyper-V's policy
//! (`docs/balancer.md`, "Quiet ticks").
//!
//! A block is [`BLOCK`] VMs (whole words of `Vms::dirty`). It is **at
//! rest** when the last tick left each of its VMs at rest
//! (`tick::Pass2Out::active` false over the block: none booting, every
//! solver VM holding exactly its target, so no excess clock runs) under
//! stage 0. Until one of its VMs is marked, a block at rest contributes to
//! the next tick what it contributed to the last: pass 1 finds the same
//! targets (its demands, settings and the balloon unit are unchanged) and
//! the same sums, with Σ assigned = Σ target and no shortfall; and if that
//! tick is stage 0 again, with no prompt removal, pass 2 changes nothing
//! there (`g` = target = assigned). So the balancer keeps, per block at
//! rest, pass 1's sums (held, Σ target, Σ demand cap, Σ minimum) and their
//! total over such blocks, and runs pass 1 and pass 2 over the other blocks
//! only. When the sums say the tick is contended, or needs prompt removal,
//! the rest of the tick runs over every VM from those sums
//! ([`Balancer::finish`]: the targets of the blocks at rest are still in
//! the scratch), exactly as a dense tick would. Results are the dense
//! tick's, bit for bit: sums of integers, and every VM's own steps (tested
//! against dense ticking on random change patterns, `tests/sparse.rs`).
//!
//! The blocks are kept only after a tick that went block by block (the
//! first visits every block) and only while the inputs (usable memory,
//! mechanics, policy) and the number of VMs stay the same. Visiting a block
//! costs a few hundred instructions besides its VMs' own work, so a tick
//! goes block by block only where that pays: when at most one block in
//! [`VISIT_SHARE`] is visited, or (to find the blocks at rest) when at most
//! one in [`REBUILD_SHARE`] is marked; a tick that would visit more ticks
//! densely and keeps none, and then waits a while (doubling, up to
//! [`MAX_WAIT`] ticks) before visiting every block again. Churn (demand
//! moving everywhere) and contended hosts therefore tick densely at no cost.
//! Block by block, the passes run in parts on several threads as a dense
//! tick's do, when enough blocks are visited.

use super::{pass2_of, pool_and_free, Balancer, Inputs, Tick};
use crate::model::{Carries, View, Vms};
use crate::par::{in_parts, Split};
use crate::solver::Scan;
use crate::tick::{self, Pass2, Pass2Out, Sums, Targets};
use crate::VectorCap;

/// Words of marks per block.
const WORDS: usize = 2;
/// VMs per block: a few words of marks, so that the passes' fixed cost per
/// call is a few instructions per VM.
const BLOCK: usize = 64 * WORDS;

/// A tick goes block by block when at most one block in `VISIT_SHARE` is
/// to be visited (marked, or not at rest).
const VISIT_SHARE: usize = 8;
/// With no blocks kept, a tick visits every block (to find those at rest)
/// when at most one block in `REBUILD_SHARE` is marked.
const REBUILD_SHARE: usize = 16;
/// The longest wait, in ticks, before visiting every block again after a
/// tick found too many blocks to visit.
const MAX_WAIT: u32 = 256;

/// What pass 1 adds up over a block at rest.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Rest {
    held: u64,
    sum_t: u64,
    sum_d: u64,
    sum_m: u64,
}

impl Rest {
    fn of(s: &Sums) -> Rest {
        Rest {
            held: s.held,
            sum_t: s.sum_t,
            sum_d: s.sum_d,
            sum_m: s.sum_m,
        }
    }

    fn add(&mut self, o: &Rest) {
        self.held += o.held;
        self.sum_t += o.sum_t;
        self.sum_d += o.sum_d;
        self.sum_m += o.sum_m;
    }

    fn sub(&mut self, o: &Rest) {
        self.held -= o.held;
        self.sum_t -= o.sum_t;
        self.sum_d -= o.sum_d;
        self.sum_m -= o.sum_m;
    }

    /// Pass 1's sums over the blocks at rest: their solver VMs hold their
    /// targets (Σ assigned = Σ target, no shortfall).
    fn sums(&self) -> Sums {
        Sums {
            held: self.held,
            sum_t: self.sum_t,
            sum_d: self.sum_d,
            sum_m: self.sum_m,
            sum_a: self.sum_t,
            need_t: 0,
        }
    }

    /// Σ assigned over the blocks at rest.
    fn assigned(&self) -> u64 {
        self.held + self.sum_t
    }
}

/// The blocks of a host's VMs at rest, and their sums.
#[derive(Debug, Clone, Default)]
pub(super) struct Blocks {
    /// Per block, pass 1's sums over it when it is at rest (`at_rest`).
    sums: Vec<Rest>,
    at_rest: Vec<bool>,
    /// The total of `sums` over the blocks at rest.
    rest: Rest,
    /// The inputs under which `sums` and `at_rest` hold (`None`: not kept).
    kept: Option<Inputs>,
    /// Ticks to wait before visiting every block again, and the next wait.
    wait: u32,
    backoff: u32,
    /// Scratch: the blocks this tick visits, in increasing order.
    visit: Vec<u32>,
    /// Ticks so far that visited only some blocks (tests check that they ran).
    pub(super) ticks: u64,
}

impl Blocks {
    /// Forgets the blocks at rest (the next tick visits every block).
    pub(super) fn drop_kept(&mut self) {
        self.kept = None;
    }

    /// Heap bytes (capacities).
    pub(super) fn heap_bytes(&self) -> usize {
        self.sums.capacity() * std::mem::size_of::<Rest>() + self.at_rest.capacity() + self.visit.capacity() * 4
    }

    /// Which blocks a tick of `v` under `inputs` visits (into `visit`):
    /// `true` when it goes block by block, `false` when it ticks densely
    /// (always after a `contended` tick: no block is at rest then, so none
    /// are kept until a tick is stage 0 again).
    fn plan(&mut self, v: &Vms, inputs: &Inputs, contended: bool) -> bool {
        let nb = v.len().div_ceil(BLOCK);
        self.visit.clear();
        if contended {
            return false;
        }
        let kept = self.kept.as_ref() == Some(inputs) && self.sums.len() == nb;
        // One pass over the marks: how many blocks are marked, and (kept)
        // which blocks are marked or not at rest.
        let mut marked = 0;
        for (b, words) in v.dirty.chunks(WORDS).enumerate() {
            let m = words.iter().fold(0, |a, &w| a | w) != 0;
            marked += m as usize;
            if kept && (m || !self.at_rest[b]) {
                self.visit.push(b as u32);
            }
        }
        if kept {
            if self.visit.len() * VISIT_SHARE <= nb {
                self.ticks += 1;
                self.backoff = (self.backoff / 2).max(8);
                return true;
            }
            // Too many to visit: densely, and wait before visiting all again.
            self.backoff = (self.backoff.max(4) * 2).min(MAX_WAIT);
            self.wait = self.backoff;
            self.visit.clear();
            return false;
        }
        if self.wait > 0 {
            self.wait -= 1;
            return false;
        }
        if marked * REBUILD_SHARE > nb {
            return false;
        }
        // Not kept: visit every block, to find those at rest.
        self.sums.clear();
        self.sums.resize(nb, Rest::default());
        self.at_rest.clear();
        self.at_rest.resize(nb, false);
        self.rest = Rest::default();
        self.visit.extend(0..nb as u32);
        true
    }
}

impl Balancer {
    /// A Hyper-V tick under `inputs`: block by block unless many blocks are
    /// marked or the last tick was contended (see the module).
    pub(super) fn tick_blocks(&mut self, v: &mut Vms, t: &Tick, inputs: &Inputs) -> Pass2Out {
        // (The last Hyper-V tick's stage: `Some` when it was contended.)
        if !self.blocks.plan(v, inputs, self.scratch.stage.is_some()) {
            self.blocks.kept = None;
            return self.tick_dense(v, t);
        }
        let u = t.mech.balloon_unit_mb as u64;
        let vector_cap = self.vector_cap;
        // In parts when the blocks visited are a dense tick's worth of work.
        let visited = self.blocks.visit.len() * BLOCK;
        let parts = if visited >= self.par_min {
            self.parts(v.len())
        } else {
            1
        };
        let b = &mut self.blocks;
        let visit = std::mem::take(&mut b.visit);
        self.scratch.target.resize(v.len(), 0);
        let units = v.len().div_ceil(BLOCK) * 64;
        // Pass 1 over the visited blocks; the others' sums as kept.
        let part = Part::new(v, &mut self.scratch.target, b, &visit);
        let p1 = |p: Part| p.pass1(t.dt_s, u, vector_cap);
        let merge = |a: (Sums, Rest), b: (Sums, Rest), _| {
            let mut was = a.1;
            was.add(&b.1);
            (a.0.merged(b.0), was)
        };
        let (sums, was_at_rest) = in_parts(part, units, parts, &p1, &merge);
        b.rest.sub(&was_at_rest);
        let sums = sums.merged(b.rest.sums());
        let (pool, free) = pool_and_free(&sums, t.usable_mb, u);
        if sums.sum_t > pool || sums.need_t > free {
            // Contended, or prompt removal: the rest over every VM.
            (b.kept, b.visit) = (None, visit);
            return self.finish(v, t, sums, Scan::default(), None);
        }
        // Stage 0, no prompt removal: pass 2 over the visited blocks.
        self.scratch.stage = None;
        let p2 = pass2_of(t);
        let part = Part::new(v, &mut self.scratch.target, b, &visit);
        let pass2 = |p: Part| p.pass2(&p2, vector_cap);
        let merge = |mut a: Moved, b: Moved, _| {
            a.total += b.total;
            a.active |= b.active;
            a.now_at_rest.add(&b.now_at_rest);
            a.carries.extend(b.carries);
            a
        };
        let moved = in_parts(part, units, parts, &pass2, &merge);
        v.add_carries(moved.carries);
        let total = b.rest.assigned() + moved.total; // the blocks not visited, and those visited
        b.rest.add(&moved.now_at_rest);
        (b.kept, b.visit) = (Some(inputs.clone()), visit);
        Pass2Out {
            total,
            active: moved.active,
            carries: Vec::new(),
        }
    }
}

/// What pass 2 over some blocks found: Σ assigned afterwards, whether some
/// VM is not at rest, the sums of the blocks now at rest, the carries.
struct Moved {
    total: u64,
    active: bool,
    now_at_rest: Rest,
    carries: Carries,
}

/// Some whole blocks of VMs (all of a host's, or one thread's part), their
/// targets, the blocks' sums and rest flags, and which of them to visit.
struct Part<'a> {
    v: View<'a>,
    target: &'a mut [u32],
    sums: &'a mut [Rest],
    at_rest: &'a mut [bool],
    /// The blocks to visit, as indices into the host's blocks.
    visit: &'a [u32],
    /// The host's index of this part's first block.
    first: usize,
}

impl<'a> Part<'a> {
    fn new(v: &'a mut Vms, target: &'a mut [u32], b: &'a mut Blocks, visit: &'a [u32]) -> Part<'a> {
        Part {
            v: View::of(v),
            target,
            sums: &mut b.sums,
            at_rest: &mut b.at_rest,
            visit,
            first: 0,
        }
    }

    /// Calls `f(block, view of its VMs, their targets)` for each block to
    /// visit (`block` local to the part).
    fn each(self, mut f: impl FnMut(usize, &mut View, &mut [u32])) -> Carries {
        let (mut v, n) = (self.v, self.target.len());
        let mut carries = Vec::new();
        for &k in self.visit {
            let k = k as usize - self.first;
            let r = k * BLOCK..((k + 1) * BLOCK).min(n);
            let mut blk = v.sub(r.clone());
            f(k, &mut blk, &mut self.target[r]);
            carries.append(&mut blk.carries);
        }
        carries
    }

    /// Pass 1 over the blocks to visit: their targets and sums (kept per
    /// block); returns the sums and what the visited blocks that were at
    /// rest had counted in the total at rest.
    fn pass1(self, dt_s: f64, u: u64, vector_cap: VectorCap) -> (Sums, Rest) {
        let (sums, at_rest) = (self.sums, self.at_rest);
        let (mut total, mut was) = (Sums::default(), Rest::default());
        let part = Part {
            sums: &mut [],
            at_rest: &mut [],
            ..self
        };
        part.each(|k, blk, target| {
            let mut p = tick::Pass1 {
                dt_s,
                u,
                target,
                stage: None,
                caps: &mut [],
                sums: Sums::default(),
                scan: Scan::default(),
            };
            tick::pass1_part(blk, &mut p, vector_cap);
            if at_rest[k] {
                was.add(&sums[k]);
                at_rest[k] = false;
            }
            sums[k] = Rest::of(&p.sums);
            total = total.merged(p.sums);
        });
        (total, was)
    }

    /// Pass 2 (`g` = target) over the blocks to visit; marks those now at rest.
    fn pass2(self, m: &Pass2, vector_cap: VectorCap) -> Moved {
        let (sums, at_rest) = (self.sums, self.at_rest);
        let (mut total, mut active, mut now) = (0u64, false, Rest::default());
        let part = Part {
            sums: &mut [],
            at_rest: &mut [],
            ..self
        };
        let carries = part.each(|k, blk, target| {
            let (sum, moving) = tick::pass2_part(blk, m, Targets { target: &*target }, vector_cap);
            blk.dirty.fill(0);
            total += sum;
            active |= moving;
            if !moving {
                at_rest[k] = true;
                now.add(&sums[k]);
            }
        });
        Moved {
            total,
            active,
            now_at_rest: now,
            carries,
        }
    }
}

impl Split for Part<'_> {
    /// Cut at `mid` units of 64 per block (`in_parts` cuts at multiples of
    /// 64): the blocks before `mid / 64` and from there on.
    fn split_at(self, mid: usize) -> (Self, Self) {
        let blocks = mid / 64;
        let vms = (blocks * BLOCK).min(self.v.len());
        let (v, v2) = self.v.split_at(vms);
        let (target, target2) = self.target.split_at_mut(vms);
        let (sums, sums2) = self.sums.split_at_mut(blocks);
        let (at_rest, at_rest2) = self.at_rest.split_at_mut(blocks);
        let first = self.first;
        let cut = self.visit.partition_point(|&k| (k as usize) < first + blocks);
        let (visit, visit2) = self.visit.split_at(cut);
        (
            Part {
                v,
                target,
                sums,
                at_rest,
                visit,
                first,
            },
            Part {
                v: v2,
                target: target2,
                sums: sums2,
                at_rest: at_rest2,
                visit: visit2,
                first: first + blocks,
            },
        )
    }
}
