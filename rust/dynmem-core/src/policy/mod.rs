//! Allocation policies: the rule that decides each solver VM's allocation
//! `g` in a tick (`docs/policies.md`). Hyper-V's own rule is the balancer's
//! stages and water-filling (`balancer.rs`, `solver/`); the others are here:
//! [`Policy::Static`] (no Dynamic Memory), [`Policy::Proportional`] (Xen
//! squeezed), [`Policy::Shares`] (VMware ESX with the idle memory tax),
//! [`Policy::StrictPriority`], and [`Policy::External`], a rule that lives
//! outside the core (a binding's user policy) and is checked here.
//!
//! Every rule keeps `minimum ≤ g ≤ maximum`, `g` a multiple of the balloon
//! unit and `Σ g ≤ pool`, in integer MB; the mechanics that move memory
//! towards `g` are the same for all of them.

// Loops index several columns at one position: clearer than zipping them all.
#![allow(clippy::needless_range_loop)]

mod external;
mod proportional;
mod shares;
mod strict;

use std::sync::Arc;

use crate::error::{Error, Result, Value};
use crate::model::{in_solver, Vms};

pub(crate) use external::{check_answer, view_after_boot};
pub use external::{External, PolicyView};

/// How a host divides its pool among its running dynamic VMs.
#[derive(Debug, Clone, Default)]
pub enum Policy {
    /// Hyper-V Dynamic Memory (`docs/balancer.md`).
    #[default]
    HyperV,
    /// No Dynamic Memory: every VM holds its startup memory; starts never
    /// balloon other VMs.
    Static,
    /// Xen squeezed: one fraction of every VM's `[minimum, maximum]`.
    Proportional,
    /// VMware ESX: shares = weight, reservation = minimum, at most the
    /// target; `idle_tax` (τ, in `[0, 1)`) taxes idle memory.
    Shares { idle_tax: f64 },
    /// Higher weight served in full (demand, then buffer) before lower.
    StrictPriority,
    /// A rule outside the core, called once per tick before anything
    /// changes; its answer is checked ([`check_answer`]).
    External(Arc<dyn External>),
}

impl Policy {
    /// Checks the policy's parameters.
    pub fn validate(&self) -> Result<()> {
        if let Policy::Shares { idle_tax } = *self {
            if !(idle_tax.is_finite() && (0.0..1.0).contains(&idle_tax)) {
                return Err(Error::config(
                    "idle_tax",
                    Value::Float(idle_tax),
                    "must be a finite number in [0, 1)",
                ));
            }
        }
        Ok(())
    }

    /// The policy's short name (as `dynmem compare` spells it).
    pub fn name(&self) -> &'static str {
        match self {
            Policy::HyperV => "hyperv",
            Policy::Static => "static",
            Policy::Proportional => "proportional",
            Policy::Shares { .. } => "shares",
            Policy::StrictPriority => "strict",
            Policy::External(_) => "external",
        }
    }

    /// Whether a start may balloon running VMs to find its startup memory
    /// (every dynamic policy; not [`Policy::Static`]).
    pub(crate) fn balloons_at_start(&self) -> bool {
        !matches!(self, Policy::Static)
    }
}

/// Scratch reused across ticks by the built-in rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyScratch {
    /// [`Policy::Shares`]' items in the tier being filled: weight, floor,
    /// ceiling and demand cap (units).
    qt: Vec<u16>,
    lo: Vec<u32>,
    hi: Vec<u32>,
    d: Vec<u32>,
    /// Per weight (or effective share) totals and counts.
    by_weight: Vec<u64>,
    by_weight2: Vec<u64>,
    /// Caps of the items a strict-priority class shares, and the solver's keys.
    caps: Vec<u32>,
    out: Vec<u32>,
    keys: Vec<u32>,
    members: Vec<u32>,
    weights: Vec<u16>,
    /// The last tick's level ([`Policy::Shares`]), probed first.
    level: Option<u64>,
}

impl PolicyScratch {
    pub(crate) fn heap_bytes(&self) -> usize {
        self.qt.capacity() * 2
            + (self.lo.capacity() + self.hi.capacity() + self.d.capacity()) * 4
            + (self.by_weight.capacity() + self.by_weight2.capacity()) * 8
            + (self.caps.capacity() + self.out.capacity() + self.keys.capacity() + self.members.capacity()) * 4
            + self.weights.capacity() * 2
    }
}

/// The allocation of a built-in rule other than Hyper-V's: writes `g` (MB)
/// of every solver VM into `g` (full length, 0 outside the solver set).
/// `target` holds every solver VM's target and `fit` says whether their sum
/// (pass 1's) fits the pool; `pool` is a multiple of `u` with
/// `Σ minimum ≤ pool`. Long passes run in `parts` parts on
/// the pool (the results do not depend on it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn allocate(
    policy: &Policy,
    v: &Vms,
    (target, fit): (&[u32], bool),
    pool: u64,
    u: u64,
    g: &mut [u32],
    s: &mut PolicyScratch,
    parts: usize,
) {
    debug_assert_eq!(g.len(), v.len());
    match *policy {
        Policy::Static => {
            for i in 0..v.len() {
                g[i] = if in_solver(v.flags[i]) { v.startup[i] } else { 0 };
            }
        }
        Policy::Proportional => proportional::allocate(v, pool, u, g),
        Policy::Shares { idle_tax } => shares::allocate(v, (target, fit), pool, u, idle_tax, g, s, parts),
        Policy::StrictPriority => strict::allocate(v, (target, fit), pool, u, g, s),
        Policy::HyperV | Policy::External(_) => unreachable!("allocated by the balancer"),
    }
    #[cfg(debug_assertions)]
    check_builtin(v, pool, u, g);
}

/// The invariants every built-in rule keeps (debug builds and tests).
#[cfg(debug_assertions)]
fn check_builtin(v: &Vms, pool: u64, u: u64, g: &[u32]) {
    let mut sum = 0u64;
    for i in 0..v.len() {
        if in_solver(v.flags[i]) {
            assert!(
                v.minimum[i] <= g[i] && g[i] <= v.maximum[i],
                "g within [minimum, maximum]"
            );
            assert_eq!(g[i] as u64 % u, 0, "g in balloon units");
            sum += g[i] as u64;
        }
    }
    assert!(sum <= pool, "Σ g {sum} over the pool {pool}");
}

/// `g = target` over the solver set.
pub(crate) fn give_targets(v: &Vms, target: &[u32], g: &mut [u32]) {
    for i in 0..v.len() {
        g[i] = if in_solver(v.flags[i]) { target[i] } else { 0 };
    }
}
