//! `Fleet::run`: many ticks of a fleet with a demand matrix (one row per
//! tick, one column per VM in fleet order), the loop in Rust, recording a
//! decimated timeline. Tick `k` sets every VM's demand from row `k`, ticks
//! every host, and records a row when `k % record_every == 0`: exactly what
//! stepping the fleet by hand does.

use super::Fleet;
use crate::error::{try_reserve, Error, Result};
use crate::host::Host;

/// What a fleet run recorded: `rows × vms` and `rows × hosts`, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetRecord {
    pub vms: usize,
    pub hosts: usize,
    /// Ticks run (all, or fewer where `stop` ended the run early).
    pub ticks: usize,
    pub tick: Vec<u64>,
    pub time_s: Vec<f64>,
    pub assigned_mb: Vec<u32>,
    pub host_available_mb: Vec<i64>,
}

impl Fleet {
    /// Runs `demand_mb.len() / vms` ticks of `dt_s`, numbered from
    /// `first_tick` (a row is recorded at tick `k` when `k % record_every ==
    /// 0`, so a run cut in pieces records what one run would); `stop` is asked between
    /// ticks (about every `run::STOP_EVERY_VM_TICKS` VM-ticks) whether to end early.
    pub fn run(
        &mut self,
        demand_mb: &[i64],
        dt_s: f64,
        record_every: usize,
        first_tick: u64,
        mut stop: impl FnMut() -> bool,
    ) -> Result<FleetRecord> {
        let n = self.len();
        Host::check_dt(dt_s)?;
        if record_every == 0 {
            return Err(Error::config("record_every", 0u64, "must be at least 1"));
        }
        if n == 0 || !demand_mb.len().is_multiple_of(n) {
            return Err(Error::config(
                "demand_mb",
                demand_mb.len() as u64,
                &format!("must have one column per VM of the fleet ({n}); size"),
            ));
        }
        let ticks = demand_mb.len() / n;
        Host::check_demands(demand_mb, |k| format!("demand_mb[{}, {}]", k / n, k % n))?;
        let rows = ticks / record_every + 1;
        let mut r = FleetRecord {
            vms: n,
            hosts: self.hosts.len(),
            ..Default::default()
        };
        try_reserve(&mut r.assigned_mb, rows.saturating_mul(n), "demand_mb")?;
        try_reserve(
            &mut r.host_available_mb,
            rows.saturating_mul(self.hosts.len()),
            "demand_mb",
        )?;
        let every = (crate::run::STOP_EVERY_VM_TICKS / n.max(1)).max(1);
        for (k, row) in demand_mb.chunks_exact(n).enumerate() {
            if k > 0 && k % every == 0 && stop() {
                break;
            }
            self.set_demands_unchecked(row);
            self.tick_unchecked(dt_s);
            r.ticks = k + 1;
            let at = first_tick + k as u64;
            if at.is_multiple_of(record_every as u64) {
                r.tick.push(at);
                r.time_s.push(self.time_s());
                r.assigned_mb.extend(self.assigned());
                r.host_available_mb.extend(self.host_available());
            }
        }
        Ok(r)
    }
}
