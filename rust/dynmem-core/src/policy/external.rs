//! A rule outside the core ([`External`], e.g. a Python user policy): the
//! view it is given (the solver set as this tick will see it, computed
//! without changing anything) and the check of its answer.

use crate::error::{try_vec, Error, ErrorKind, Result, Value};
use crate::mechanics::Mechanics;
use crate::model::rules::{floor_u, target_of};
use crate::model::{in_solver, VmState, Vms, STATE_MASK};

/// A policy whose rule lives outside the core. `allocate` is called once
/// per tick, before the tick changes anything, with the VMs the balancer
/// manages this tick; it returns one allocation (MB) per VM of the view.
/// An `Err` ends the tick with nothing changed and is returned as it is.
pub trait External: Send + Sync + std::fmt::Debug {
    fn allocate(&self, pool_mb: u64, view: PolicyView) -> Result<Vec<i64>>;
}

/// The solver set of a tick as an external policy sees it: columns over the
/// running dynamic VMs (those finishing their boot in this tick included),
/// in position order. Owned, so that a binding can hand the columns on
/// without copying them again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyView {
    pub ids: Vec<i64>,
    pub demand_mb: Vec<i64>,
    pub assigned_mb: Vec<i64>,
    pub minimum_mb: Vec<i64>,
    pub maximum_mb: Vec<i64>,
    pub target_mb: Vec<i64>,
    pub buffer_pct: Vec<i64>,
    pub weight: Vec<i64>,
    /// The tick's step and the host clock before it (s).
    pub dt_s: f64,
    pub time_s: f64,
    pub balloon_unit_mb: u64,
    /// The pool the allocations must fit (MB).
    pub pool_mb: u64,
}

impl PolicyView {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Whether VM `i` is in the solver set once this tick's boot step has run
/// (the same f64 step as pass 1's).
#[inline]
fn in_solver_after_boot(v: &Vms, i: usize, dt_s: f64) -> bool {
    let f = v.flags[i];
    let delay = || v.guests.delay_s[v.guest[i] as usize]; // the guest profile's
    in_solver(f) || (f & STATE_MASK == VmState::Starting as u8 && v.clock_s[i] + dt_s >= delay())
}

/// The view of the tick of `dt_s` about to run on `v` (whose VMs share
/// `usable_mb`), and the positions of its VMs; changes nothing.
pub(crate) fn view_after_boot(
    v: &Vms,
    usable_mb: u64,
    mech: &Mechanics,
    dt_s: f64,
    time_s: f64,
) -> Result<(PolicyView, Vec<usize>)> {
    let u = mech.balloon_unit_mb as u64;
    let (mut held, mut m) = (0u64, 0usize);
    for i in 0..v.len() {
        if v.flags[i] & STATE_MASK == VmState::Off as u8 {
            continue;
        }
        if in_solver_after_boot(v, i, dt_s) {
            m += 1;
        } else {
            held += v.assigned[i] as u64;
        }
    }
    let col = || try_vec::<i64>(m, "policy view");
    let mut view = PolicyView {
        ids: col()?,
        demand_mb: col()?,
        assigned_mb: col()?,
        minimum_mb: col()?,
        maximum_mb: col()?,
        target_mb: col()?,
        buffer_pct: col()?,
        weight: col()?,
        dt_s,
        time_s,
        balloon_unit_mb: u,
        pool_mb: floor_u(usable_mb.saturating_sub(held), u),
    };
    let mut positions = try_vec::<usize>(m, "policy view")?;
    for (i, id) in v.ids.iter().enumerate() {
        if v.flags[i] & STATE_MASK == VmState::Off as u8 || !in_solver_after_boot(v, i, dt_s) {
            continue;
        }
        let (d, mn, mx, b) = (v.demand[i], v.minimum[i], v.maximum[i], v.buffer[i]);
        positions.push(i);
        view.ids.push(id as i64);
        view.demand_mb.push(d as i64);
        view.assigned_mb.push(v.assigned[i] as i64);
        view.minimum_mb.push(mn as i64);
        view.maximum_mb.push(mx as i64);
        view.target_mb.push(target_of(d, b, mn, mx, u) as i64);
        view.buffer_pct.push(b as i64);
        view.weight.push(v.weight[i] as i64);
    }
    Ok((view, positions))
}

/// Checks an external policy's answer for the VMs at `positions` of `v`:
/// one entry per VM, each within the VM's `[minimum, maximum]`, the sum
/// within `pool_mb`. `name_of(position)` names a VM for the error.
pub(crate) fn check_answer(
    v: &Vms,
    positions: &[usize],
    pool_mb: u64,
    answer: &[i64],
    name_of: impl Fn(usize) -> String,
) -> Result<()> {
    let policy_error =
        |field: String, value: Value, message: String| Error::new(ErrorKind::Policy, Some(&field), value, message);
    if answer.len() != positions.len() {
        return Err(policy_error(
            "allocation".into(),
            Value::Int(answer.len() as i128),
            format!(
                "the policy returned {} allocations for the {} VMs of its view",
                answer.len(),
                positions.len()
            ),
        ));
    }
    let mut sum: i128 = 0;
    for (k, (&x, &i)) in answer.iter().zip(positions).enumerate() {
        let (mn, mx) = (v.minimum[i] as i64, v.maximum[i] as i64);
        if x < mn || x > mx {
            let bound = if x < mn {
                format!("below its minimum_mb {mn}")
            } else {
                format!("above its maximum_mb {mx}")
            };
            return Err(policy_error(
                format!("allocation[{k}]"),
                Value::Int(x as i128),
                format!(
                    "the policy allocated {x} MB to VM '{}' (id {}), {bound}",
                    name_of(i),
                    v.ids.get(i)
                ),
            ));
        }
        sum += x as i128;
    }
    if sum > pool_mb as i128 {
        return Err(policy_error(
            "allocation".into(),
            Value::Int(sum),
            format!("the policy allocated {sum} MB in all, more than the pool of {pool_mb} MB"),
        ));
    }
    Ok(())
}
