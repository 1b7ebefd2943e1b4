//! `Host::run`: many ticks with a demand matrix and scheduled events, the
//! whole loop in Rust, recording a decimated timeline.
//!
//! Tick `k` (0-based) does, in order: the events scheduled at `k` (in the
//! order given), set every VM's demand from row `k / hold` (`hold` = 1
//! unless the run holds each row for several ticks: a trace sampled every 5
//! minutes replayed at 1-second ticks), one [`Host::tick`], and, when
//! `k % record_every == 0`, a record row. That is exactly what stepping the
//! host by hand does, and the tests hold it to that.
//!
//! Only a new row is compared with the demand before it (one compare per
//! VM; only the VMs whose demand changed are marked for the tick), and a
//! tick of a host at rest with nothing marked is `O(1)` (`balancer.rs`): a
//! replay of slowly changing demand costs per tick about what changed.

use crate::config::{VmChange, MAX_DEMAND_MB};
use crate::error::{try_vec, Error, Result};
use crate::host::Host;
use crate::model::{HostCounters, VmCounters, VmId};
use crate::policy::Policy;

/// What an event does to its VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    /// [`Host::restart`]: a stop and a start at once (Smart Paging when its
    /// startup memory cannot be found, 2012+).
    Restart,
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
    /// Ticks run: all of them, or fewer where [`Host::run_checked_until`]'s
    /// `stop` ended the run early.
    pub ticks: usize,
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
    /// Where an external policy failed at tick `ticks`, the error; the run
    /// ended there and the host is as the last whole tick left it: that
    /// tick's events and demand row are undone (and not in `events`), as
    /// `docs/policies.md` says ("exactly as before that tick").
    pub failure: Option<Error>,
    /// Every VM's Hyper-V counters after each recorded tick, `rows × vms`
    /// row-major; empty unless the run was asked to record them
    /// ([`RunInput::record_counters`]).
    pub counters: Vec<VmCounters>,
    /// The host's counters after each recorded tick; empty unless asked for.
    pub host_counters: Vec<HostCounters>,
}

impl Record {
    pub fn rows(&self) -> usize {
        self.tick.len()
    }

    /// Bytes the record of `rows` rows of `vms` VMs holds (`None` past
    /// `usize`): per VM and row the four MB series, pressure and status;
    /// per row the tick, time, available memory and average pressure.
    pub fn bytes(rows: usize, vms: usize) -> Option<usize> {
        Record::bytes_with(rows, vms, false)
    }

    /// [`Record::bytes`], with the counters where `counters` is true.
    pub fn bytes_with(rows: usize, vms: usize, counters: bool) -> Option<usize> {
        let (host, vm) = if counters {
            (std::mem::size_of::<HostCounters>(), std::mem::size_of::<VmCounters>())
        } else {
            (0, 0)
        };
        let per_row = 8 + 8 + 8 + 8 + host;
        let per_cell = 4 * 4 + 8 + 1 + vm;
        rows.checked_mul(vms)?
            .checked_mul(per_cell)?
            .checked_add(rows.checked_mul(per_row)?)
    }

    /// An empty record with room for `rows` rows of `vms` VMs, or an
    /// `OutOfMemory` error saying how many bytes that needs (field `demand_mb`:
    /// its shape and `record_every` decide the size).
    fn with_room(rows: usize, vms: usize, events: usize, counters: bool) -> Result<Record> {
        let field = "demand_mb";
        let total = Record::bytes_with(rows, vms, counters).unwrap_or(usize::MAX);
        let oom = |_: Error| Error::out_of_memory(field, total);
        let cells = rows
            .checked_mul(vms)
            .ok_or_else(|| Error::out_of_memory(field, total))?;
        Ok(Record {
            vms,
            ticks: 0,
            tick: try_vec(rows, field).map_err(oom)?,
            time_s: try_vec(rows, field).map_err(oom)?,
            demand_mb: try_vec(cells, field).map_err(oom)?,
            assigned_mb: try_vec(cells, field).map_err(oom)?,
            visible_mb: try_vec(cells, field).map_err(oom)?,
            target_mb: try_vec(cells, field).map_err(oom)?,
            pressure: try_vec(cells, field).map_err(oom)?,
            status: try_vec(cells, field).map_err(oom)?,
            available_mb: try_vec(rows, field).map_err(oom)?,
            average_pressure: try_vec(rows, field).map_err(oom)?,
            events: try_vec(events, "events")?,
            failure: None,
            counters: try_vec(if counters { cells } else { 0 }, field).map_err(oom)?,
            host_counters: try_vec(if counters { rows } else { 0 }, field).map_err(oom)?,
        })
    }
}

/// [`Host::run_checked_until`] calls its `stop` about once per this many
/// VM-ticks (at least once a tick): often enough to answer within
/// milliseconds, rarely enough to cost nothing measurable.
pub const STOP_EVERY_VM_TICKS: usize = 1 << 16;

/// Most rows a run may record (a guard against absurd allocations).
pub const MAX_RECORD_ROWS: usize = 1 << 32;

/// A run's inputs, validated: the demand matrix as `u32`, owned, so that the
/// caller's buffer is no longer read once the run starts.
#[derive(Debug, Clone)]
pub struct RunInput {
    demand_mb: Vec<u32>,
    ticks: usize,
    /// Ticks each row of `demand_mb` holds (`ticks` = rows × `hold`).
    hold: usize,
    dt_s: f64,
    events: Vec<Event>,
    record_every: usize,
    counters: bool,
}

impl RunInput {
    /// The same run, recording every VM's and the host's Hyper-V counters
    /// after each recorded tick (`Record::counters`, `Record::host_counters`)
    /// where `on` is true.
    pub fn record_counters(mut self, on: bool) -> RunInput {
        self.counters = on;
        self
    }
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
        self.check_run_held(demand_mb, ticks, 1, dt_s, events, record_every)
    }

    /// [`Host::check_run`] for a run of `rows × hold_ticks` ticks in which
    /// each of the `rows` rows of `demand_mb` holds for `hold_ticks` ticks
    /// (sample and hold). Event ticks and `record_every` count ticks.
    pub fn check_run_held(
        &self,
        demand_mb: &[i64],
        rows: usize,
        hold_ticks: usize,
        dt_s: f64,
        events: &[Event],
        record_every: usize,
    ) -> Result<RunInput> {
        let n = self.len();
        Host::check_dt(dt_s)?;
        if record_every == 0 {
            return Err(Error::config("record_every", 0u64, "must be at least 1"));
        }
        if hold_ticks == 0 {
            return Err(Error::config("hold_ticks", 0u64, "must be at least 1"));
        }
        let ticks = rows.checked_mul(hold_ticks).ok_or_else(|| {
            Error::config(
                "hold_ticks",
                hold_ticks as u64,
                &format!("times the {rows} rows must fit a usize; hold_ticks"),
            )
        })?;
        if ticks.div_ceil(record_every) > MAX_RECORD_ROWS {
            return Err(Error::config(
                "demand_mb",
                ticks as u64,
                &format!("would record more than {MAX_RECORD_ROWS} rows; ticks"),
            ));
        }
        if rows.checked_mul(n) != Some(demand_mb.len()) {
            return Err(Error::config(
                "demand_mb",
                demand_mb.len() as u64,
                &format!("must have shape (rows, vms) = ({rows}, {n}); size"),
            ));
        }
        // Narrow and check in one pass over the matrix; on a bad value, find
        // and name the first one.
        let mut bad = false;
        let mut demand: Vec<u32> = try_vec(demand_mb.len(), "demand_mb")?;
        demand.extend(demand_mb.iter().map(|&d| {
            bad |= d as u64 > MAX_DEMAND_MB; // negative values wrap above the limit
            d as u32
        }));
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
            self.position(e.vm).map_err(|err| Error {
                field: Some(format!("events[{i}].vm")),
                message: format!("events[{i}].vm: {}", err.message),
                ..err
            })?;
        }
        let mut owned = try_vec(events.len(), "events")?;
        owned.extend_from_slice(events);
        Ok(RunInput {
            demand_mb: demand,
            ticks,
            hold: hold_ticks,
            dt_s,
            events: owned,
            record_every,
            counters: false,
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
        self.run_checked_until(input, || false)
    }

    /// [`Host::run_checked`], calling `stop` between ticks about every
    /// [`STOP_EVERY_VM_TICKS`] VM-ticks: where it returns `true` the run ends
    /// there, after the last whole tick (and its record row, if one was
    /// due), before the next tick's events; `Record::ticks` says how many ran.
    /// The record's room is reserved before the first tick: a record too
    /// large for the machine is an `OutOfMemory` error, with nothing changed.
    pub fn run_checked_until(&mut self, input: &RunInput, mut stop: impl FnMut() -> bool) -> Result<Record> {
        let RunInput {
            demand_mb,
            ticks,
            hold,
            dt_s,
            events,
            record_every,
            counters,
        } = input;
        let (ticks, hold, dt_s, record_every) = (*ticks, *hold, *dt_s, *record_every);
        let n = self.len();
        if demand_mb.len() != ticks / hold * n {
            return Err(Error::state(
                Some("demand_mb"),
                n as u64,
                format!("the host has {n} VMs, not the number the run was checked for"),
            ));
        }
        let mut order: Vec<usize> = try_vec(events.len(), "events")?;
        order.extend(0..events.len());
        order.sort_by_key(|&i| events[i].tick); // stable: same-tick events keep their order
        let mut rec = Record::with_room(ticks.div_ceil(record_every), n, events.len(), *counters)?;
        let every = (STOP_EVERY_VM_TICKS / n.max(1)).max(1);
        let mut until_stop = every + 1; // asked first before tick `every`
        let mut next = 0usize;
        // An external rule can fail a tick after its events and demand row
        // were applied: keep what they change, to undo it. The demand in a
        // buffer made once; the whole host only for a tick with events.
        let external = matches!(self.policy(), Policy::External(_));
        let mut demand_before: Vec<u32> = if external { try_vec(n, "demand_mb")? } else { Vec::new() };
        for k in 0..ticks {
            until_stop -= 1;
            if until_stop == 0 {
                until_stop = every;
                if stop() {
                    break;
                }
            }
            let mut undo = None;
            let logged = rec.events.len();
            if external {
                demand_before.clear();
                demand_before.extend_from_slice(&self.demands());
                if next < order.len() && events[order[next]].tick == k as u64 {
                    undo = Some(self.clone());
                }
            }
            while next < order.len() && events[order[next]].tick == k as u64 {
                let e = &events[order[next]];
                let r = match e.action {
                    Action::Start => self.start(e.vm),
                    Action::Stop => self.stop(e.vm),
                    Action::Restart => self.restart(e.vm),
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
            if k % hold == 0 {
                let row = k / hold;
                self.load_demands(&demand_mb[row * n..(row + 1) * n], |d| d);
            }
            if let Err(e) = self.tick_unchecked(dt_s) {
                match undo {
                    Some(before) => *self = before,
                    None => {
                        self.load_demands(&demand_before, |d| d);
                    }
                }
                rec.events.truncate(logged);
                rec.failure = Some(e);
                break;
            }
            if k % record_every == 0 {
                self.record_row(k as u64, *counters, &mut rec);
            }
            rec.ticks = k + 1;
        }
        Ok(rec)
    }

    fn record_row(&self, k: u64, counters: bool, rec: &mut Record) {
        rec.tick.push(k);
        rec.time_s.push(self.time_s());
        rec.demand_mb.extend_from_slice(&self.demands());
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
        if counters {
            rec.counters.extend(self.vms().map(|vm| vm.counters()));
            rec.host_counters.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VmSpec;
    use crate::error::ErrorKind;
    use crate::mechanics::Mechanics;

    fn host(vms: usize) -> Host {
        let mut h = Host::new(1 << 30, Some(0), Mechanics::default()).unwrap();
        for i in 0..vms {
            let id = h.add_vm(&format!("v{i}"), &VmSpec::default()).unwrap();
            h.start(id).unwrap();
        }
        h
    }

    /// A record too large to reserve is an `OutOfMemory` error naming its
    /// bytes, not an abort (issue 10, defect 1).
    #[test]
    fn a_record_too_large_is_an_error() {
        let e = Record::with_room(1 << 32, 1 << 30, 0, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutOfMemory);
        assert_eq!(e.field.as_deref(), Some("demand_mb"));
        assert!(e.message.contains("bytes"), "{}", e.message);
        assert_eq!(Record::bytes(2, 3), Some(2 * 3 * 25 + 2 * 32));
    }

    /// `stop` ends the run at a tick boundary: the host and the record are
    /// those of a run of the ticks done (issue 10, defect 3).
    #[test]
    fn stop_ends_the_run_after_a_whole_tick() {
        let n = STOP_EVERY_VM_TICKS / 4; // stop is asked every 4 ticks
        let ticks = 20;
        let demand: Vec<i64> = (0..ticks * n).map(|k| (k % 3000) as i64).collect();
        let mut a = host(n);
        let input = a.check_run(&demand, ticks, 1.0, &[], 3).unwrap();
        let mut calls = 0;
        let rec = a
            .run_checked_until(&input, || {
                calls += 1;
                calls == 3
            })
            .unwrap();
        assert_eq!(rec.ticks, 12); // asked before ticks 4, 8 and 12
        assert_eq!(rec.rows(), 4); // ticks 0, 3, 6, 9
        let mut b = host(n);
        let whole = b.run(&demand[..12 * n], 12, 1.0, &[], 3).unwrap();
        assert_eq!(rec.assigned_mb, whole.assigned_mb);
        assert_eq!(a.time_s(), b.time_s());
        assert_eq!(a.assigned(), b.assigned());
        let full = host(n).run(&demand, ticks, 1.0, &[], 3).unwrap();
        assert_eq!(full.ticks, ticks);
    }

    /// With `record_counters`, each row holds the counters the host reports
    /// after that tick (stepped by hand), and the other series are unchanged.
    #[test]
    fn recorded_counters_are_the_hosts_after_each_recorded_tick() {
        let (n, ticks) = (5usize, 150usize);
        let demand: Vec<i64> = (0..ticks * n).map(|k| 300 + ((k * 7919) % 2500) as i64).collect();
        let mut a = Host::new(6000, Some(0), Mechanics::default()).unwrap();
        for i in 0..n {
            let id = a.add_vm(&format!("v{i}"), &VmSpec::default()).unwrap();
            a.start(id).unwrap();
        }
        let mut b = a.clone();
        let plain = a.clone().run(&demand, ticks, 1.0, &[], 3).unwrap();
        assert!(plain.counters.is_empty() && plain.host_counters.is_empty());
        let input = a.check_run(&demand, ticks, 1.0, &[], 3).unwrap().record_counters(true);
        let rec = a.run_checked(&input).unwrap();
        assert_eq!(rec.assigned_mb, plain.assigned_mb);
        assert_eq!(rec.counters.len(), rec.rows() * n);
        assert_eq!(rec.host_counters.len(), rec.rows());
        for k in 0..ticks {
            b.set_demands(&demand[k * n..(k + 1) * n]).unwrap();
            b.tick(1.0).unwrap();
            if k % 3 == 0 {
                let r = k / 3;
                let want: Vec<VmCounters> = b.vms().map(|vm| vm.counters()).collect();
                assert_eq!(&rec.counters[r * n..(r + 1) * n], &want[..], "row {r}");
                assert_eq!(rec.host_counters[r], b.host_counters(), "row {r}");
            }
        }
        assert!(
            rec.counters.iter().any(|c| c.remove_operations > 0),
            "the test should balloon"
        );
    }
}
