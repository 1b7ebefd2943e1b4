//! `Host::run`: many ticks with a demand matrix and scheduled events, the
//! whole loop in Rust, recording a decimated timeline.
//!
//! Tick `k` (0-based) does, in order: the events scheduled at `k` (in the
//! order given), set every VM's demand from row `k`, one [`Host::tick`], and,
//! when `k % record_every == 0`, a record row. That is exactly what stepping
//! the host by hand does, and the tests hold it to that.

use crate::config::{VmChange, MAX_DEMAND_MB};
use crate::error::{Error, Result};
use crate::host::Host;

/// What an event does to its VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Configure(VmChange),
}

/// An action on a VM at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub tick: u64,
    pub vm: u64,
    pub action: Action,
}

/// The outcome of one event: failures are recorded, not raised mid-run.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// Position of the event in the `events` passed to [`Host::run`].
    pub index: usize,
    pub tick: u64,
    pub vm: u64,
    pub error: Option<Error>,
}

/// Per-tick series of a run, `rows × vms` row-major for per-VM series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub vms: usize,
    pub tick: Vec<u64>,
    pub time_s: Vec<f64>,
    pub demand_mb: Vec<u32>,
    pub assigned_mb: Vec<u32>,
    pub visible_mb: Vec<u32>,
    pub target_mb: Vec<u32>,
    pub pressure: Vec<f64>,
    pub status: Vec<u8>,
    pub available_mb: Vec<i64>,
    pub average_pressure: Vec<f64>,
    pub events: Vec<EventOutcome>,
}

impl Record {
    pub fn rows(&self) -> usize {
        self.tick.len()
    }
}

impl Host {
    /// Runs `ticks` ticks of `dt_s`; `demand_mb` is `ticks × self.len()`
    /// row-major. Inputs are validated before anything changes; events that
    /// fail (a start without memory, an illegal change) are recorded.
    pub fn run(
        &mut self,
        demand_mb: &[i64],
        ticks: usize,
        dt_s: f64,
        events: &[Event],
        record_every: usize,
    ) -> Result<Record> {
        let n = self.len();
        Host::check_dt(dt_s)?;
        if record_every == 0 {
            return Err(Error::config("record_every", 0u64, "must be at least 1"));
        }
        if demand_mb.len() != ticks * n {
            return Err(Error::config(
                "demand_mb",
                demand_mb.len() as u64,
                &format!("must have shape (ticks, vms) = ({ticks}, {n}); size"),
            ));
        }
        if let Some((k, &d)) = demand_mb
            .iter()
            .enumerate()
            .find(|(_, &d)| d < 0 || d as u64 > MAX_DEMAND_MB)
        {
            let (t, v) = (k / n.max(1), k % n.max(1));
            return Err(Error::config(
                &format!("demand_mb[{t}, {v}]"),
                d,
                &format!("must be between 0 and {MAX_DEMAND_MB} MB"),
            ));
        }
        for (i, e) in events.iter().enumerate() {
            if e.tick >= ticks as u64 {
                return Err(Error::config(
                    &format!("events[{i}].tick"),
                    e.tick,
                    &format!("must be below the number of ticks ({ticks})"),
                ));
            }
            self.position(e.vm)?;
        }
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| events[i].tick); // stable: same-tick events keep their order
        let rows = ticks.div_ceil(record_every);
        let mut rec = Record {
            vms: n,
            ..Record::default()
        };
        rec.tick.reserve(rows);
        for col in [
            &mut rec.demand_mb,
            &mut rec.assigned_mb,
            &mut rec.visible_mb,
            &mut rec.target_mb,
        ] {
            col.reserve(rows * n);
        }
        rec.pressure.reserve(rows * n);
        rec.status.reserve(rows * n);
        let mut next = 0usize;
        for k in 0..ticks {
            while next < order.len() && events[order[next]].tick == k as u64 {
                let e = &events[order[next]];
                let r = match e.action {
                    Action::Start => self.start(e.vm),
                    Action::Stop => self.stop(e.vm),
                    Action::Configure(c) => self.configure(e.vm, &c),
                };
                rec.events.push(EventOutcome {
                    index: order[next],
                    tick: e.tick,
                    vm: e.vm,
                    error: r.err(),
                });
                next += 1;
            }
            self.set_demands_unchecked(&demand_mb[k * n..(k + 1) * n]);
            self.tick_unchecked(dt_s);
            if k % record_every == 0 {
                self.record_row(k as u64, &mut rec);
            }
        }
        Ok(rec)
    }

    fn record_row(&self, k: u64, rec: &mut Record) {
        rec.tick.push(k);
        rec.time_s.push(self.time_s());
        rec.demand_mb.extend_from_slice(self.demands());
        rec.assigned_mb.extend_from_slice(self.assigned());
        rec.visible_mb.extend_from_slice(self.visible());
        for p in 0..self.len() {
            rec.target_mb.push(self.target_mb(p) as u32);
            rec.pressure.push(self.pressure(p));
            rec.status.push(self.status(p) as u8);
        }
        let c = self.host_counters();
        rec.available_mb.push(c.available_memory_mb);
        rec.average_pressure.push(c.average_pressure);
    }
}
