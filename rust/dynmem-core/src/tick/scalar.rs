//! The scalar forms of the tick's passes: the definition the vector forms
//! (`x86_64/`) must match bit for bit, and what runs on other CPUs and for
//! the VMs a vector loop leaves over.
//!
//! Portable, but shaped for the compiler's loop vectorizer (SSE2 on every
//! x86-64, NEON on aarch64; `benches/ISA.md`): the passes walk blocks of at
//! most 256 VMs, and a block's loops have no branch, call or push. What a
//! VM does is data (all-ones/all-zeros masks and selects, as in the vector
//! forms), in u32 arithmetic (every quantity but the demand is at most the
//! maximum, 2^20 MB, and the demand is capped at the maximum first:
//! `rules::target_u32`; compared as i32, `rules::Below31`), and a block's
//! sums are u32 (at most 256 × 2^20). Pass 2's f64 columns (excess clocks,
//! statistics) have loops of their own, so that the u32 loop runs 4 VMs per
//! SSE2 step, not 2. What is rare runs per block, out of the loops: the
//! boot clocks of starting VMs (found by a byte-wide scan of the flags), a
//! counter's carry past 2^32 and a hot-add (found by or-ing lanes), the
//! marks of a partly marked block (one by one), and no statistics for a
//! block where no VM is marked or moved.

use super::{Alloc, Lanes, Pass1, Pass2};
use crate::model::rules::{demand_cap_u32, target_u32, visible_after_add, Below31, Stage};
use crate::model::{in_solver, pressure_of, pressure_step, Counter, View, VmState, STATE_MASK};
use crate::solver::{Scan, WEIGHT_SCALE};
use std::ops::Range;

/// VMs per block (pass 2's blocks end where a word of marks, `Vms::dirty`,
/// does): enough to spread a block's set-up, few enough for u32 sums (at
/// most 256 × 2^20) and local arrays in L1.
const BLOCK: usize = 256;

/// All ones if `c`, else all zeros.
#[inline(always)]
pub(crate) fn mask(c: bool) -> u64 {
    (c as u64).wrapping_neg()
}

/// All ones if `c`, else all zeros (u32).
#[inline(always)]
fn mask32(c: bool) -> u32 {
    (c as u32).wrapping_neg()
}

/// Whether the VM with `flags` is on (starting or running).
#[inline(always)]
fn is_on(flags: u8) -> bool {
    flags & STATE_MASK != VmState::Off as u8
}

/// Room above the stage's floor of a solver VM, in balloon units (`2^shift`
/// MB): target − demand cap in stage 1 (`Stage::Buffers`), demand cap −
/// minimum in stage 2 (any value for other VMs: the callers mask it).
#[inline(always)]
fn room(stage: Stage, t: u32, d_cap: u32, mn: u32, shift: u32) -> u32 {
    let (lo, hi) = stage.room_bounds(t, d_cap, mn);
    hi.wrapping_sub(lo) >> shift
}

/// [`Scan::add`] as selects, over one block: the sums in u32 (a room is at
/// most 2^20 units, a weight 10^4, a block 256 items).
#[derive(Clone, Copy)]
struct BlockScan {
    total: u32,
    positive: u32,
    w_pos: u32,
    n_zero: u32,
    max_pos: u32,
    min_w: u32,
    max_zero: u32,
}

impl BlockScan {
    fn new() -> BlockScan {
        BlockScan {
            total: 0,
            positive: 0,
            w_pos: 0,
            n_zero: 0,
            max_pos: 0,
            min_w: WEIGHT_SCALE as u32,
            max_zero: 0,
        }
    }

    /// [`Scan::add`] of room `c` with weight `w`.
    #[inline(always)]
    fn add(&mut self, c: u32, w: u16) {
        let (w, w_pos, c_pos) = (w as u32, w > 0, c > 0);
        let counted = w_pos & c_pos;
        self.total += c;
        self.positive += c & mask32(w_pos);
        self.w_pos += w & mask32(counted);
        self.n_zero += (!w_pos & c_pos) as u32;
        // (Rooms and weights are below 2^31: `Below31`.)
        self.max_pos = self.max_pos.max31(c & mask32(w_pos));
        self.min_w = self.min_w.min31(if counted { w } else { WEIGHT_SCALE as u32 });
        self.max_zero = self.max_zero.max31(c & mask32(!w_pos));
    }

    /// The scan of a block's rooms `caps` with their weights, in a loop of
    /// its own (beside the rooms' loop, its seven lanes would not all fit
    /// in registers).
    #[inline(always)]
    fn of(caps: &[u32], weight: &[u16]) -> BlockScan {
        let mut scan = BlockScan::new();
        for (&c, &w) in caps.iter().zip(weight) {
            scan.add(c, w);
        }
        scan
    }

    /// Adds the block's scan to `scan`.
    fn merge_into(self, scan: &mut Scan) {
        let block = Scan {
            total: self.total as u64,
            positive: self.positive as u64,
            w_pos: self.w_pos as u64,
            max_pos: self.max_pos,
            min_w: self.min_w as u16, // ≤ WEIGHT_SCALE
            n_zero: self.n_zero as u64,
            max_zero: self.max_zero,
        };
        *scan = scan.merged(&block);
    }
}

/// The columns the passes read and none writes, over one block.
#[derive(Clone, Copy)]
struct Cols<'a> {
    flags: &'a [u8],
    demand: &'a [u32],
    minimum: &'a [u32],
    maximum: &'a [u32],
    buffer: &'a [u16],
    weight: &'a [u16],
}

/// The [`Cols`] of `v` over range `r` (a macro: it borrows only those
/// fields of `v`, so that its others may be borrowed mutably beside).
macro_rules! cols {
    ($v:expr, $r:expr) => {
        Cols {
            flags: &$v.flags[$r.clone()],
            demand: &$v.demand[$r.clone()],
            minimum: &$v.minimum[$r.clone()],
            maximum: &$v.maximum[$r.clone()],
            buffer: &$v.buffer[$r.clone()],
            weight: &$v.weight[$r.clone()],
        }
    };
}

/// The unit's `u − 1` and log2, and the stage pass 1 guessed (or the
/// floors' stage).
#[derive(Clone, Copy)]
struct Unit {
    up: u32,
    shift: u32,
}

impl Unit {
    fn of(u: u64) -> Unit {
        Unit {
            up: (u - 1) as u32, // u ≤ the maximum
            shift: u.trailing_zeros(),
        }
    }
}

/// Pass 1 over the VMs in `range`.
#[inline(always)]
pub(crate) fn pass1_scalar(v: &mut View, p: &mut Pass1, range: Range<usize>) {
    // One loop per stage guess: no test of the guess per VM.
    match p.stage {
        None => pass1_range::<false>(v, p, range, Stage::Buffers),
        Some(stage) => pass1_range::<true>(v, p, range, stage),
    }
}

/// [`pass1_scalar`] with the guess known: with `GUESS`, also each solver
/// VM's room in `stage` and its scan. A block with a starting VM has its
/// boot clocks run first (out of the loop).
#[inline(always)]
fn pass1_range<const GUESS: bool>(v: &mut View, p: &mut Pass1, range: Range<usize>, stage: Stage) {
    let unit = Unit::of(p.u);
    let mut lo = range.start;
    while lo < range.end {
        let r = lo..range.end.min(lo + BLOCK);
        let run = |v: &View, p: &mut Pass1| {
            let caps: &mut [u32] = if GUESS { &mut p.caps[r.clone()] } else { &mut [] };
            let (assigned, target) = (&v.assigned[r.clone()], &mut p.target[r.clone()]);
            pass1_block::<GUESS>(cols!(v, r), assigned, target, caps, unit, stage)
        };
        if any_starting(&v.flags[r.clone()]) {
            boot_clocks(v, p.dt_s, r.clone());
        }
        let (sums, scan) = run(v, p);
        p.sums.add(sums.map(u64::from));
        if GUESS {
            scan.merge_into(&mut p.scan);
        }
        lo = r.end;
    }
}

/// Whether a VM of `flags` is starting (a byte-wide scan: 16 VMs per SSE2
/// step, kept out of the passes' loops).
#[inline(always)]
fn any_starting(flags: &[u8]) -> bool {
    flags
        .iter()
        .fold(false, |b, &f| b | (f & STATE_MASK == VmState::Starting as u8))
}

/// The boot clocks of the starting VMs in `r`: a VM whose clock reaches its
/// guest's report delay (`model::guests`) is running from this tick on.
#[cold]
#[inline(never)]
fn boot_clocks(v: &mut View, dt_s: f64, r: Range<usize>) {
    for i in r {
        if v.flags[i] & STATE_MASK != VmState::Starting as u8 {
            continue;
        }
        v.clock_s[i] += dt_s;
        if v.clock_s[i] < v.guests.delay_s(i) {
            continue; // still booting
        }
        v.flags[i] = (v.flags[i] & !STATE_MASK) | VmState::Running as u8;
        v.clock_s[i] = 0.0;
    }
}

/// Pass 1 over one block: each VM's target (written for every VM), the
/// sums in `Sums`' order (held by starting and static VMs; of the solver
/// VMs: target, demand cap, minimum, assigned, max(0, target − assigned))
/// and, with `GUESS`, the rooms (0 outside the solver set) and their scan.
/// Starting VMs count as held. (Not inlined:
/// the compiler knows that the written columns do not overlap the others.)
#[inline(never)]
fn pass1_block<const GUESS: bool>(
    c: Cols,
    assigned: &[u32],
    target: &mut [u32],
    caps: &mut [u32],
    unit: Unit,
    stage: Stage,
) -> ([u32; 6], BlockScan) {
    // Every slice sliced to the block's length: no bounds checks below.
    let (flags, n) = (c.flags, c.flags.len());
    let (demand, assigned, minimum, maximum) = (&c.demand[..n], &assigned[..n], &c.minimum[..n], &c.maximum[..n]);
    let (buffer, weight, target) = (&c.buffer[..n], &c.weight[..n], &mut target[..n]);
    let caps = if GUESS { &mut caps[..n] } else { caps };
    let [mut held, mut sum_t, mut sum_d, mut sum_m, mut sum_a, mut need_t] = [0u32; 6];
    for i in 0..n {
        let f = flags[i];
        let solver = mask32(in_solver(f));
        let (a, d, mn, mx) = (assigned[i], demand[i], minimum[i], maximum[i]);
        let t = target_u32(d, buffer[i], mn, mx, unit.up);
        let d_cap = demand_cap_u32(d, mn, mx, unit.up);
        target[i] = t;
        held += a & mask32(is_on(f)) & !solver; // starting and static VMs hold their memory
        sum_t += t & solver;
        sum_d += d_cap & solver;
        sum_m += mn & solver;
        sum_a += a & solver;
        need_t += (t.max31(a) - a) & solver;
        if GUESS {
            caps[i] = room(stage, t, d_cap, mn, unit.shift) & solver;
        }
    }
    let scan = if GUESS {
        BlockScan::of(caps, weight)
    } else {
        BlockScan::new()
    };
    ([held, sum_t, sum_d, sum_m, sum_a, need_t], scan)
}

#[inline(always)]
pub(crate) fn floors_scalar(
    v: &View,
    target: &[u32],
    caps: &mut [u32],
    u: u64,
    stage: Stage,
    range: Range<usize>,
    scan: &mut Scan,
) {
    let unit = Unit::of(u);
    let mut lo = range.start;
    while lo < range.end {
        let r = lo..range.end.min(lo + BLOCK);
        let block = floors_block(cols!(v, r), &target[r.clone()], &mut caps[r.clone()], unit, stage);
        block.merge_into(scan);
        lo = r.end;
    }
}

/// The floors over one block: each VM's room (0 outside the solver set) and
/// their scan. (Not inlined, as `pass1_block`.)
#[inline(never)]
fn floors_block(c: Cols, target: &[u32], caps: &mut [u32], unit: Unit, stage: Stage) -> BlockScan {
    let (flags, n) = (c.flags, c.flags.len());
    let (demand, minimum, maximum, weight) = (&c.demand[..n], &c.minimum[..n], &c.maximum[..n], &c.weight[..n]);
    let (target, caps) = (&target[..n], &mut caps[..n]);
    for i in 0..n {
        let (d, mn, mx) = (demand[i], minimum[i], maximum[i]);
        let d_cap = demand_cap_u32(d, mn, mx, unit.up);
        caps[i] = room(stage, target[i], d_cap, mn, unit.shift) & mask32(in_solver(flags[i]));
    }
    BlockScan::of(caps, weight)
}

/// Pass 2 over the VMs in `range`; returns their Σ assigned afterwards and
/// whether some VM is not at rest (see `tick::pass2`).
#[inline(always)]
pub(crate) fn pass2_scalar(v: &mut View, range: Range<usize>, m: &Pass2, g_of: impl Alloc) -> (u64, bool) {
    // `g` from one u32 per VM and the VM's columns (wrapping: outside the
    // solver set `extra` may be any value, and the lane is masked).
    match g_of.lanes() {
        Lanes::Targets(target) => pass2_blocks(v, range, m, (target, 0), |t, _, _, _| t),
        Lanes::Filled(f) => pass2_filled(v, range, m, (f.extra, 0), (f.stage, f.u, f.shift)),
        Lanes::Level(l) => {
            // Each block's units first (a loop of their own), then as Filled.
            let (mut units, mut total, mut active) = ([0u32; BLOCK], 0, false);
            // (Every room ≤ 2^22: the hand-out in 32-bit operations.)
            let hand = l.hand.small();
            let mut lo = range.start;
            while lo < range.end {
                let r = lo..range.end.min((lo / BLOCK + 1) * BLOCK);
                let (rooms, weights) = (&l.rooms[r.clone()], &v.weight[r.clone()]);
                // The block's items before the cut's tie_end.
                let early = hand.tie_end().saturating_sub(r.start).min(r.len()) as u32;
                for (j, x) in units[..r.len()].iter_mut().enumerate() {
                    *x = hand.units(rooms[j], weights[j] as u32, (j as u32) < early);
                }
                let (t, a) = pass2_filled(v, r.clone(), m, (&units[..r.len()], r.start), (l.stage, l.u, l.shift));
                (total, active) = (total + t, active | a);
                lo = r.end;
            }
            (total, active)
        }
    }
}

/// [`pass2_blocks`] with `g = floor + (x << shift)` (the floor: the stage's, see `Filled`).
#[inline(always)]
fn pass2_filled(
    v: &mut View,
    range: Range<usize>,
    m: &Pass2,
    src: (&[u32], usize),
    (stage, u, shift): (Stage, u64, u32),
) -> (u64, bool) {
    let up = Unit::of(u).up;
    match stage {
        Stage::Buffers => pass2_blocks(v, range, m, src, move |x, d, mn, mx| {
            demand_cap_u32(d, mn, mx, up).wrapping_add(x << shift)
        }),
        Stage::Demand => pass2_blocks(v, range, m, src, move |x, _, mn, _| mn.wrapping_add(x << shift)),
    }
}

/// [`pass2_scalar`] with `g = g_of(src[i − start], demand, minimum, maximum)`
/// (`src`: the slice and the VM its first entry is for), in
/// blocks that end where a word of marks does (`Vms::dirty`: bit `i % 64`
/// of word `i / 64` marks VM `i` of the view).
#[inline(always)]
fn pass2_blocks(
    v: &mut View,
    range: Range<usize>,
    m: &Pass2,
    (src, start): (&[u32], usize),
    g_of: impl Fn(u32, u32, u32, u32) -> u32 + Copy,
) -> (u64, bool) {
    debug_assert!(m.lazy_step >= 1, "a lazy removal takes at least a unit");
    let (mut total, mut active) = (0u64, false);
    let (mut samples, mut a_in) = ([0u32; BLOCK], [0u32; BLOCK]);
    let mut lo = range.start;
    while lo < range.end {
        let r = lo..range.end.min((lo / BLOCK + 1) * BLOCK);
        let n = r.len();
        let (all_marked, some_marked) = marks(v.dirty, r.clone())
            .fold((true, false), |(all, some), (_, bits, full)| {
                (all & (bits == full), some | (bits != 0))
            });
        let out = pass2_block(
            cols!(v, r),
            (&v.visible[r.clone()], &src[r.start - start..r.end - start]),
            g_of,
            &mut v.assigned[r.clone()],
            &mut v.clock_s[r.clone()],
            &mut v.removed[r.clone()],
            &mut v.remove_ops[r.clone()],
            &mut v.added[r.clone()],
            &mut v.add_ops[r.clone()],
            all_marked,
            (&mut samples[..n], &mut a_in[..n]),
            m,
        );
        // Some VMs marked, not all (a sparse tick): those few one by one.
        let sample = out.sample
            | (!all_marked
                && some_marked
                && mark_samples(&v.flags[r.clone()], &mut samples[..n], marks(v.dirty, r.clone())));
        if out.carry {
            carry_block(v, r.clone(), &a_in[..n]);
        }
        if out.hot_add {
            hot_add_block(v, r.clone());
        }
        if sample {
            let (demand, assigned) = (&v.demand[r.clone()], &v.assigned[r.clone()]);
            let (p_sum, p_min) = (&mut v.p_sum[r.clone()], &mut v.p_min[r.clone()]);
            let (p_max, p_now) = (&mut v.p_max[r.clone()], &mut v.p_now[r.clone()]);
            stats_block((demand, assigned, &samples[..n]), p_sum, p_min, p_max, p_now, m.time_s);
        }
        total += out.total as u64;
        active |= out.active | any_starting(&v.flags[r.clone()]);
        lo = r.end;
    }
    (total, active)
}

/// What one block of pass 2 found: Σ assigned (u32: at most 256 × 2^20),
/// whether a VM is not at rest, and whether a VM's statistics take a
/// sample, a counter carried or a solver VM has more than it sees (a
/// hot-add).
struct Block2 {
    total: u32,
    active: bool,
    sample: bool,
    carry: bool,
    hot_add: bool,
}

/// What a VM's counters (Removed, RemoveOps, Added, AddOps) add when pass 2
/// moves its memory from `a0` to `a`. A VM's memory moves one way in a tick,
/// in one operation: a removal (prompt, to `g`, or lazy, at least one unit
/// since the lazy step is), after which it is not below `g`, or an add.
#[inline(always)]
fn increments(a0: u32, a: u32) -> [u32; 4] {
    let (down, up) = (a0.gt31(a), a.gt31(a0));
    [
        a0.wrapping_sub(a) & mask32(down),
        down as u32,
        a.wrapping_sub(a0) & mask32(up),
        up as u32,
    ]
}

/// Pass 2's mechanics over one block: prompt and lazy removal and the adds
/// for the solver VMs, each moving toward its `g` (`g_of`), the excess
/// clocks and the counters' low words; and which VMs the statistics sample
/// (`samples`, here those whose memory moved, or all on VMs if
/// `all_marked`), and each VM's assigned
/// memory before (`a_in`, for the carries). (Not inlined, each written
/// column its own argument: the compiler knows that they do not overlap,
/// and vectorizes without checking.)
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn pass2_block(
    c: Cols,
    (visible, src): (&[u32], &[u32]),
    g_of: impl Fn(u32, u32, u32, u32) -> u32,
    assigned: &mut [u32],
    clock_s: &mut [f64],
    removed: &mut [u32],
    remove_ops: &mut [u32],
    added: &mut [u32],
    add_ops: &mut [u32],
    all_marked: bool,
    (samples, a_in): (&mut [u32], &mut [u32]),
    m: &Pass2,
) -> Block2 {
    // Every slice sliced to the block's length: no bounds checks below.
    let (flags, n) = (c.flags, c.flags.len());
    let (demand, minimum, maximum, visible, src) = (
        &c.demand[..n],
        &c.minimum[..n],
        &c.maximum[..n],
        &visible[..n],
        &src[..n],
    );
    let (assigned, clock_s, samples, a_in) = (&mut assigned[..n], &mut clock_s[..n], &mut samples[..n], &mut a_in[..n]);
    let (removed, remove_ops, added, add_ops) = (
        &mut removed[..n],
        &mut remove_ops[..n],
        &mut added[..n],
        &mut add_ops[..n],
    );
    // The excess clocks are f64 lanes, in loops of their own before and
    // after (a loop that mixed them with the u32 lanes would run at the
    // f64's width): whether a clock is due (then: whether it stays, for VMs
    // outside the solver set), and whether it runs on.
    let (mut due, mut runs) = ([0u32; BLOCK], [0u32; BLOCK]);
    let (due, runs) = (&mut due[..n], &mut runs[..n]);
    let (dt_s, delay_s) = (m.dt_s, m.remove_delay_s);
    for (due, &clock) in due.iter_mut().zip(clock_s.iter()) {
        *due = mask32(clock + dt_s >= delay_s);
    }
    // min(excess, step) is the same with the step capped at 2^31 − 1.
    let step = m.lazy_step.min(i32::MAX as u64) as u32;
    let (mut total, mut active, mut sample, mut hot_add) = (0u32, false, false, false);
    // Bit 31 of old & !new of a counter: set where it carried (its
    // increment is below 2^31, so a carry clears bit 31, which was set).
    let mut carried = 0u32;
    for i in 0..n {
        let f = flags[i];
        let solver = in_solver(f);
        let a0 = assigned[i];
        a_in[i] = a0;
        let g = g_of(src[i], demand[i], minimum[i], maximum[i]);
        // Whether a VM grows, shrinks or holds is data, not control flow.
        let prompt = solver & m.prompt_all & a0.gt31(g);
        let a = a0 - (a0.wrapping_sub(g) & mask32(prompt));
        let over = solver & a.gt31(g);
        let excess = a.wrapping_sub(g) & mask32(over);
        let lazy = over & (due[i] != 0);
        due[i] = mask32(!solver);
        let take = excess.min31(step) & mask32(lazy);
        // No excess left after this step: a new excess waits the delay again.
        runs[i] = mask32(over & (take != excess));
        let under = solver & g.gt31(a);
        let a = a - take + (g.wrapping_sub(a) & mask32(under));
        assigned[i] = a;
        // Counters: u32 low words; a carry past 2^32 is rare.
        let [rem, rem_ops, add, add_op] = increments(a0, a);
        let old = [removed[i], remove_ops[i], added[i], add_ops[i]];
        let new = [
            old[0].wrapping_add(rem),
            old[1].wrapping_add(rem_ops),
            old[2].wrapping_add(add),
            old[3].wrapping_add(add_op),
        ];
        carried |= (old[0] & !new[0]) | (old[1] & !new[1]) | (old[2] & !new[2]) | (old[3] & !new[3]);
        [removed[i], remove_ops[i], added[i], add_ops[i]] = new;
        // Still above g after the step (its excess clock runs); adds and
        // prompt removal end at g. (Booting VMs: the caller.)
        active |= over & (take != excess);
        // The statistics sample an on VM that is marked or whose memory moved.
        let sampled = is_on(f) & ((a != a0) | all_marked);
        samples[i] = mask32(sampled);
        sample |= sampled;
        hot_add |= solver & a.gt31(visible[i]);
        total += a & mask32(is_on(f));
    }
    for i in 0..n {
        // The excess clock runs while over (0 bits are +0.0); a VM outside
        // the solver set keeps its clock (a booting VM's).
        let clock = f64::from_bits((clock_s[i] + dt_s).to_bits() & mask(runs[i] != 0));
        clock_s[i] = if due[i] != 0 { clock_s[i] } else { clock };
    }
    let carry = carried >> 31 != 0;
    Block2 {
        total,
        active,
        sample,
        carry,
        hot_add,
    }
}

/// The marks of VMs `r` of a view (`Vms::dirty`: bit `i % 64` of word
/// `i / 64` marks VM `i`), a word at a time: (the position in `r` of the
/// word's first VM there, its bits for VMs of `r`, all of those bits).
fn marks(dirty: &[u64], r: Range<usize>) -> impl Iterator<Item = (usize, u64, u64)> + '_ {
    (r.start / 64..r.end.div_ceil(64)).map(move |w| {
        let (lo, hi) = ((w * 64).max(r.start), ((w + 1) * 64).min(r.end));
        let full = u64::MAX >> (64 - (hi - lo));
        (lo - r.start, dirty[w] >> (lo % 64) & full, full)
    })
}

/// Adds the marked on VMs (`marks`, see [`marks`]) to `samples`; returns
/// whether there was one. (Out of the loop: O(marked VMs).)
#[inline(never)]
fn mark_samples(flags: &[u8], samples: &mut [u32], marks: impl Iterator<Item = (usize, u64, u64)>) -> bool {
    let mut any = false;
    for (at, mut bits, _) in marks {
        while bits != 0 {
            let i = at + bits.trailing_zeros() as usize;
            samples[i] |= mask32(is_on(flags[i]));
            any |= is_on(flags[i]);
            bits &= bits - 1;
        }
    }
    any
}

/// The carries of a block whose counters carried: each counter whose new
/// low word is below its increment went past 2^32; `carries` gets (VM id,
/// counter, sum before truncation), in VM order, then counter order.
#[cold]
#[inline(never)]
fn carry_block(v: &mut View, r: Range<usize>, a_in: &[u32]) {
    let counters = [Counter::Removed, Counter::RemoveOps, Counter::Added, Counter::AddOps];
    for (i, &a0) in r.zip(a_in) {
        let lows = [v.removed[i], v.remove_ops[i], v.added[i], v.add_ops[i]];
        for ((k, lo), inc) in counters.into_iter().zip(lows).zip(increments(a0, v.assigned[i])) {
            let sum = lo.wrapping_sub(inc) as u64 + inc as u64;
            if sum >> 32 != 0 {
                v.carries.push((v.ids.get(v.start + i), k, sum));
            }
        }
    }
}

/// Visible memory of the solver VMs of a block that have more than they
/// see (a hot-add, in the guest profile's chunks).
#[cold]
#[inline(never)]
fn hot_add_block(v: &mut View, r: Range<usize>) {
    for i in r {
        let a = v.assigned[i] as u64;
        if in_solver(v.flags[i]) && a > v.visible[i] as u64 {
            let chunk = v.guests.chunk_mb(i);
            v.visible[i] = visible_after_add(a, v.visible[i] as u64, v.maximum[i] as u64, chunk) as u32;
        }
    }
}

/// The statistics of one block, of each VM that `samples` marks (see
/// `pass2_block`): only where demand or assigned memory may have changed
/// since the last tick (rare when demand moves every few minutes).
#[inline(never)] // (as `pass2_block`)
fn stats_block(
    (demand, assigned, samples): (&[u32], &[u32], &[u32]),
    p_sum: &mut [f64],
    p_min: &mut [f64],
    p_max: &mut [f64],
    p_now: &mut [f64],
    time_s: f64,
) {
    let n = samples.len();
    let (demand, assigned) = (&demand[..n], &assigned[..n]);
    let (p_sum, p_min, p_max, p_now) = (&mut p_sum[..n], &mut p_min[..n], &mut p_max[..n], &mut p_now[..n]);
    for i in 0..n {
        let stats = (p_sum[i], p_min[i], p_max[i], p_now[i]);
        let new = pressure_of(demand[i], assigned[i]);
        (p_sum[i], p_min[i], p_max[i], p_now[i]) = pressure_step(stats, new, time_s, samples[i] != 0);
    }
}
