//! Strict priority: weights served from the highest down, each class first
//! its demand, then its buffer; the first class (or phase) that does not fit
//! shares the rest by Hyper-V's fill among equal weights
//! (`docs/policies.md`, "StrictPriorityPolicy").

use super::{give_targets, PolicyScratch};
use crate::config::MAX_WEIGHT;
use crate::model::rules::demand_cap_of;
use crate::model::{in_solver, Vms};
use crate::solver;

pub(super) fn allocate(
    v: &Vms,
    (target, fit): (&[u32], bool),
    pool: u64,
    u: u64,
    g: &mut [u32],
    s: &mut PolicyScratch,
) {
    let n = v.len();
    if fit {
        give_targets(v, target, g);
        return;
    }
    let dcap = |i: usize| demand_cap_of(v.demand[i], v.minimum[i], v.maximum[i], u);
    // Per weight: Σ (demand cap − minimum) and Σ (target − demand cap).
    let classes = MAX_WEIGHT as usize + 1;
    let (demand, buffer) = (&mut s.by_weight, &mut s.by_weight2);
    demand.clear();
    demand.resize(classes, 0);
    buffer.clear();
    buffer.resize(classes, 0);
    let mut rest = pool;
    for i in (0..n).filter(|&i| in_solver(v.flags[i])) {
        let (mn, d, t) = (v.minimum[i] as u64, dcap(i), target[i] as u64);
        rest -= mn; // Σ minimum ≤ pool
        demand[v.weight[i] as usize] += d - mn;
        buffer[v.weight[i] as usize] += t - d;
    }
    // The cut: the highest weight, and its phase, that does not fit in full.
    let mut cut = None;
    for w in (0..classes).rev() {
        if demand[w] > rest {
            cut = Some((w as u16, false));
            break;
        }
        rest -= demand[w];
        if buffer[w] > rest {
            cut = Some((w as u16, true));
            break;
        }
        rest -= buffer[w];
    }
    let (cut_w, in_buffer) = cut.expect("targets do not fit, so some class is cut");
    // Everyone at or above the cut's floor; the cut class's room to fill,
    // its items gathered (position order) so that the fill's passes run
    // over the class alone.
    let shift = u.trailing_zeros();
    s.caps.clear();
    s.keys.clear(); // the class's positions, then the fill's own list
    let mut members = std::mem::take(&mut s.members);
    members.clear();
    for i in 0..n {
        if !in_solver(v.flags[i]) {
            g[i] = 0;
            continue;
        }
        let w = v.weight[i];
        g[i] = if w > cut_w {
            target[i]
        } else if w < cut_w {
            v.minimum[i]
        } else {
            let (floor, ceiling) = if in_buffer {
                (dcap(i), target[i] as u64)
            } else {
                (v.minimum[i] as u64, dcap(i))
            };
            members.push(i as u32);
            s.caps.push(((ceiling - floor) >> shift) as u32);
            floor as u32
        };
    }
    // Hyper-V's fill among equal weights (the class's own).
    let weights = vec_of(&mut s.weights, members.len(), cut_w);
    s.out.clear();
    s.out.resize(members.len(), 0);
    let left = solver::fill(rest >> shift, &s.caps, weights, &mut s.out, &mut s.keys);
    debug_assert_eq!(left, 0, "the cut class does not fit, so the fill hands out everything");
    for (&i, &x) in members.iter().zip(&s.out) {
        g[i as usize] += x << shift;
    }
    s.members = members;
}

/// `buf` as `n` copies of `w`.
fn vec_of(buf: &mut Vec<u16>, n: usize, w: u16) -> &[u16] {
    buf.clear();
    buf.resize(n, w);
    buf
}
