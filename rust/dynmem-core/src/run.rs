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
use crate::model::VmId;

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
    pub vm: VmId,
    pub action: Action,
}

/// The outcome of one event: failures are recorded, not raised mid-run.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// Position of the event in the `events` passed to [`Host::run`].
    pub index: usize,
    pub tick: u64,
    pub vm: VmId,
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

/// Most rows a run may record (a guard against absurd allocations).
pub const MAX_RECORD_ROWS: usize = 1 << 32;

/// A run's inputs, validated: the demand matrix as `u32`, owned, so that the
/// caller's buffer is no longer read once the run starts.
#[derive(Debug, Clone)]
pub struct RunInput {
    demand_mb: Vec<u32>,
    ticks: usize,
    dt_s: f64,
    events: Vec<Event>,
    record_every: usize,
}

impl Host {
    /// Checks a run's inputs against this host without changing anything:
    /// shape, every demand, `dt_s`, `record_every`, every event's tick and VM.
    pub fn check_run(
        &self,
        demand_mb: &[i64],
        ticks: usize,
        dt_s: f64,
        events: &[Event],
        record_every: usize,
    ) -> Result<RunInput> {
        let n = self.len();
        Host::check_dt(dt_s)?;
        if record_every == 0 {
            return Err(Error::config("record_every", 0u64, "must be at least 1"));
        }
        if ticks.div_ceil(record_every) > MAX_RECORD_ROWS {
            return Err(Error::config(
                "demand_mb",
                ticks as u64,
                &format!("would record more than {MAX_RECORD_ROWS} rows; ticks"),
            ));
        }
        if ticks.checked_mul(n) != Some(demand_mb.len()) {
            return Err(Error::config(
                "demand_mb",
                demand_mb.len() as u64,
                &format!("must have shape (ticks, vms) = ({ticks}, {n}); size"),
            ));
        }
        // Narrow and check in one pass over the matrix; on a bad value, find
        // and name the first one.
        let mut bad = false;
        let demand: Vec<u32> = demand_mb
            .iter()
            .map(|&d| {
                bad |= d as u64 > MAX_DEMAND_MB; // negative values wrap above the limit
                d as u32
            })
            .collect();
        if bad {
            Host::check_demands(demand_mb, |k| {
                let (t, v) = (k / n.max(1), k % n.max(1));
                format!("demand_mb[{t}, {v}]")
            })?;
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
        Ok(RunInput {
            demand_mb: demand,
            ticks,
            dt_s,
            events: events.to_vec(),
            record_every,
        })
    }

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
        let input = self.check_run(demand_mb, ticks, dt_s, events, record_every)?;
        self.run_checked(&input)
    }

    /// Runs inputs checked by [`Host::check_run`] on this host (which must
    /// not have gained or lost VMs since).
    pub fn run_checked(&mut self, input: &RunInput) -> Result<Record> {
        let RunInput {
            demand_mb,
            ticks,
            dt_s,
            events,
            record_every,
        } = input;
        let (ticks, dt_s, record_every) = (*ticks, *dt_s, *record_every);
        let n = self.len();
        if demand_mb.len() != ticks * n {
            return Err(Error::state(
                Some("demand_mb"),
                n as u64,
                format!("the host has {n} VMs, not the number the run was checked for"),
            ));
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
            self.vms_demand_mut().copy_from_slice(&demand_mb[k * n..(k + 1) * n]);
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
        self.live_all(|l| {
            rec.target_mb.push(l.target_mb as u32);
            rec.pressure.push(l.pressure);
            rec.status.push(l.status as u8);
        });
        let c = self.host_counters();
        rec.available_mb.push(c.available_memory_mb);
        rec.average_pressure.push(c.average_pressure);
    }
}
