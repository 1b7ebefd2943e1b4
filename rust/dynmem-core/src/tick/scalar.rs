//! The scalar forms of the tick's passes: the definition the vector forms
//! (`x86_64/`) must match bit for bit, and what runs on other CPUs and for
//! the VMs a vector loop leaves over.

use super::{Alloc, Pass1, Pass2, Sums};
use crate::model::rules::{demand_cap_of, target_of, visible_after_add, Stage};
use crate::model::{in_solver, pressure_of, pressure_step, Counter, View, VmState, STATE_MASK};
use crate::solver::Scan;

/// Room above the stage's floor of a solver VM, in balloon units (`2^shift`
/// MB): target − demand cap in stage 1 (`Stage::Buffers`), demand cap −
/// minimum in stage 2.
#[inline(always)]
pub(crate) fn room(stage: Stage, t: u64, d_cap: u64, mn: u64, shift: u32) -> u32 {
    let (lo, hi) = stage.room_bounds(t, d_cap, mn);
    ((hi - lo) >> shift) as u32
}

/// Pass 1 over the VMs in `range`.
#[inline(always)]
pub(crate) fn pass1_scalar(v: &mut View, p: &mut Pass1, range: std::ops::Range<usize>) {
    // One loop per stage guess: no test of the guess per VM.
    match p.stage {
        None => pass1_range::<false>(v, p, range, Stage::Buffers),
        Some(stage) => pass1_range::<true>(v, p, range, stage),
    }
}

/// [`pass1_scalar`] with the guess known: with `GUESS`, also each solver
/// VM's room in `stage` and its scan.
#[inline(always)]
fn pass1_range<const GUESS: bool>(v: &mut View, p: &mut Pass1, range: std::ops::Range<usize>, stage: Stage) {
    let (dt_s, u) = (p.dt_s, p.u);
    let shift = u.trailing_zeros();
    // Columns sliced to the range up front: no bounds checks in the loop.
    let r = range;
    let (first, guests) = (r.start, v.guests);
    let target = &mut p.target[r.clone()];
    let caps: &mut [u32] = if GUESS { &mut p.caps[r.clone()] } else { &mut [] };
    let (flags, clock_s) = (&mut v.flags[r.clone()], &mut v.clock_s[r.clone()]);
    let (demand, assigned) = (&v.demand[r.clone()], &v.assigned[r.clone()]);
    let (minimum, maximum, buffer) = (&v.minimum[r.clone()], &v.maximum[r.clone()], &v.buffer[r.clone()]);
    let weight = &v.weight[r.clone()];
    let n = flags.len();
    let (clock_s, demand, assigned, target) = (&mut clock_s[..n], &demand[..n], &assigned[..n], &mut target[..n]);
    let (minimum, maximum, buffer, weight) = (&minimum[..n], &maximum[..n], &buffer[..n], &weight[..n]);
    let caps = if GUESS { &mut caps[..n] } else { caps };
    // Local accumulators (registers, not the structs in memory).
    let Sums {
        mut held,
        mut sum_t,
        mut sum_d,
        mut sum_m,
        mut sum_a,
        mut need_t,
    } = p.sums;
    let mut scan = p.scan;
    for i in 0..n {
        if GUESS {
            caps[i] = 0; // outside the solver set (solver VMs overwrite it)
        }
        let mut f = flags[i];
        if f & STATE_MASK == VmState::Off as u8 {
            continue;
        }
        if f & STATE_MASK == VmState::Starting as u8 {
            clock_s[i] += dt_s;
            // (Each guest profile's report delay: `model::guests`.)
            if clock_s[i] < guests.delay_s(first + i) {
                held += assigned[i] as u64;
                continue;
            }
            f = (f & !STATE_MASK) | VmState::Running as u8;
            flags[i] = f;
            clock_s[i] = 0.0;
        }
        let a = assigned[i] as u64;
        if !in_solver(f) {
            held += a; // static running VMs hold their memory
            continue;
        }
        let (d, mn, mx) = (demand[i], minimum[i], maximum[i]);
        let t = target_of(d, buffer[i], mn, mx, u);
        let d_cap = demand_cap_of(d, mn, mx, u);
        target[i] = t as u32; // ≤ maximum ≤ 1 TB in MB
        sum_t += t;
        sum_d += d_cap;
        sum_m += mn as u64;
        sum_a += a;
        need_t += t.max(a) - a; // max(0, t − a), as a cmov: t vs a is data, not control
        if GUESS {
            let c = room(stage, t, d_cap, mn as u64, shift);
            caps[i] = c;
            scan.add(c, weight[i]);
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
    p.scan = scan;
}

#[inline(always)]
pub(crate) fn floors_scalar(
    v: &View,
    target: &[u32],
    caps: &mut [u32],
    u: u64,
    stage: Stage,
    range: std::ops::Range<usize>,
    scan: &mut Scan,
) {
    let shift = u.trailing_zeros();
    for i in range {
        let c = if in_solver(v.flags[i]) {
            let (d, mn, mx) = (v.demand[i], v.minimum[i], v.maximum[i]);
            let d_cap = demand_cap_of(d, mn, mx, u);
            room(stage, target[i] as u64, d_cap, mn as u64, shift)
        } else {
            0
        };
        caps[i] = c;
        scan.add(c, v.weight[i]);
    }
}

/// Pass 2 over the VMs in `range`; returns their Σ assigned afterwards and
/// whether some VM is not at rest (see `tick::pass2`).
#[inline(always)]
pub(crate) fn pass2_scalar(v: &mut View, range: std::ops::Range<usize>, m: &Pass2, g_of: impl Alloc) -> (u64, bool) {
    // Columns sliced to the range up front: no bounds checks in the loop.
    let r = range;
    let (start, guests) = (r.start, v.guests);
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
    let (p_sum, p_min, p_max) = (
        &mut v.p_sum[r.clone()],
        &mut v.p_min[r.clone()],
        &mut v.p_max[r.clone()],
    );
    let (p_now, dirty) = (&mut v.p_now[r], &*v.dirty);
    let (demand, assigned, visible) = (&demand[..n], &mut assigned[..n], &mut visible[..n]);
    let (minimum, maximum, buffer, clock_s) = (&minimum[..n], &maximum[..n], &buffer[..n], &mut clock_s[..n]);
    let (added, removed, add_ops, remove_ops) = (
        &mut added[..n],
        &mut removed[..n],
        &mut add_ops[..n],
        &mut remove_ops[..n],
    );
    let (p_sum, p_min, p_max) = (&mut p_sum[..n], &mut p_min[..n], &mut p_max[..n]);
    let p_now = &mut p_now[..n];
    let (mut total, mut active) = (0u64, 0u64);
    for i in 0..n {
        let f = flags[i];
        if f & STATE_MASK == VmState::Off as u8 {
            continue;
        }
        active |= (f & STATE_MASK == VmState::Starting as u8) as u64;
        let (d, a_in) = (demand[i], assigned[i]);
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
            active |= prompt_m | over_m | under_m;
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
                let chunk = guests.chunk_mb(start + i); // the guest profile's
                visible[i] = visible_after_add(a, visible[i] as u64, maximum[i] as u64, chunk) as u32;
            }
        }
        // Statistics: only where demand or assigned memory may have changed
        // since the last tick (marked, or moved here): rare when demand
        // moves every few minutes.
        let a = assigned[i];
        let j = start + i;
        if a != a_in || dirty[j / 64] >> (j % 64) & 1 != 0 {
            let stats = (p_sum[i], p_min[i], p_max[i], p_now[i]);
            (p_sum[i], p_min[i], p_max[i], p_now[i]) = pressure_step(stats, pressure_of(d, a), m.time_s);
        }
        total += a as u64;
    }
    (total, active != 0)
}

/// All ones if `c`, else all zeros.
#[inline(always)]
pub(crate) fn mask(c: bool) -> u64 {
    (c as u64).wrapping_neg()
}
