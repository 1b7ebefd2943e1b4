//! Dynamic optimization, like SCVMM's: every `interval_s` the fleet checks
//! each host's pressure (Σ demand of its VMs / usable memory, the measure
//! of `Score::Pressure`); a host above `threshold` at two checks in a row
//! (its pressure *stays* high) moves one VM away: its running VM of the
//! largest demand (ties: the earliest in host order) that is not moving,
//! to the host of lowest pressure (ties: the lowest index) that has
//! placement room for it and stays at or below `threshold` with its
//! demand; as a live migration of `duration_s` (`migrate.rs`). Hosts are
//! checked in index order, each seeing the moves decided before it.

use super::Fleet;
use crate::error::{Error, Result};
use crate::model::{VmId, VmState};

/// The settings of dynamic optimization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DynamicOptimization {
    /// Host pressure (Σ demand / usable) above which a host is hot.
    pub threshold: f64,
    /// Seconds between checks.
    pub interval_s: f64,
    /// How long each move takes (s).
    pub duration_s: f64,
}

/// Dynamic optimization's state in a fleet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Optimizer {
    pub(crate) settings: DynamicOptimization,
    /// When the next check is due (fleet time, s).
    pub(crate) next_s: f64,
    /// Per host: hot at the last check.
    pub(crate) hot: Vec<bool>,
}

impl DynamicOptimization {
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::config(
                "threshold",
                self.threshold,
                "must be a positive finite number",
            ));
        }
        if !(self.interval_s.is_finite() && self.interval_s > 0.0) {
            return Err(Error::config(
                "interval_s",
                self.interval_s,
                "must be a positive finite number of seconds",
            ));
        }
        if !(self.duration_s.is_finite() && (0.0..=crate::host::MAX_DT_S).contains(&self.duration_s)) {
            return Err(Error::config(
                "duration_s",
                self.duration_s,
                "must be a finite number of seconds in [0, 86400]",
            ));
        }
        Ok(())
    }
}

impl Fleet {
    /// Turns dynamic optimization on (the first check `interval_s` from
    /// now) or, with `None`, off.
    pub fn set_dynamic_optimization(&mut self, settings: Option<DynamicOptimization>) -> Result<()> {
        if let Some(s) = settings {
            s.validate()?;
        }
        self.optimizer = settings.map(|settings| Optimizer {
            settings,
            next_s: self.time_s() + settings.interval_s,
            hot: vec![false; self.hosts.len()],
        });
        Ok(())
    }

    pub fn dynamic_optimization(&self) -> Option<DynamicOptimization> {
        self.optimizer.as_ref().map(|o| o.settings)
    }

    /// Each host's pressure: Σ demand of its VMs (moving copies included) / usable.
    pub fn host_pressure(&self) -> Vec<f64> {
        (0..self.hosts.len())
            .map(|h| {
                let d: u64 = self.hosts[h].demands().iter().map(|&d| d as u64).sum();
                d as f64 / self.usable_of(h).max(1) as f64
            })
            .collect()
    }

    /// A check, if one is due (after a tick). Returns the moves begun.
    pub(crate) fn optimize(&mut self) -> Vec<(VmId, usize)> {
        let Some(o) = self.optimizer.as_ref() else {
            return Vec::new();
        };
        if self.time_s() < o.next_s {
            return Vec::new();
        }
        let s = o.settings;
        let mut pressure = self.host_pressure();
        let usable: Vec<f64> = (0..self.hosts.len()).map(|h| self.usable_of(h).max(1) as f64).collect();
        let mut moves = Vec::new();
        for h in 0..self.hosts.len() {
            let hot = pressure[h] > s.threshold;
            let was = std::mem::replace(&mut self.optimizer.as_mut().expect("on").hot[h], hot);
            if !(hot && was) {
                continue;
            }
            // Its running, not moving VM of the largest demand.
            let host = &self.hosts[h];
            let mut pick: Option<(u32, usize)> = None;
            for (pos, &i) in self.members[h].iter().enumerate() {
                let vm = host.at(pos);
                let own = self.host_of[i as usize] == h as u32;
                let moving = self.migrations.iter().any(|m| m.vm == i);
                if own && !moving && vm.state() != VmState::Off && pick.is_none_or(|(d, _)| vm.demand_mb() > d) {
                    pick = Some((vm.demand_mb(), i as usize));
                }
            }
            let Some((demand, i)) = pick else { continue };
            let startup = self.configs[i].startup_mb as i64;
            let target = (0..self.hosts.len())
                .filter(|&t| t != h && self.free_of(t) >= startup)
                .filter(|&t| pressure[t] + demand as f64 / usable[t] <= s.threshold)
                .min_by(|&a, &b| pressure[a].total_cmp(&pressure[b]).then(a.cmp(&b)));
            if let Some(t) = target {
                if let Ok(true) = self.begin(i, t, s.duration_s) {
                    pressure[t] += demand as f64 / usable[t];
                    moves.push((VmId(i as u64), t));
                }
            }
        }
        let o = self.optimizer.as_mut().expect("on");
        while o.next_s <= self.hosts.first().map_or(0.0, |h| h.time_s()) {
            o.next_s += o.settings.interval_s;
        }
        if !moves.is_empty() {
            self.finish_migrations();
        }
        moves
    }
}
