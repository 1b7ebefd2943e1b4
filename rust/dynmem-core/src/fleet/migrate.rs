//! Live migration: a running VM moves to another host. Its memory must be
//! found on the target as a start would find it (the target's placement
//! room for its startup, then `Host::start`, ballooning lighter VMs if
//! need be); from then until the move ends both hosts hold it: the source
//! runs it as before, the target holds the copy (which boots there: it
//! reports demand after the mechanics' boot delay, counted from the start
//! of the move, and its counters start at 0 on the new host). At the end
//! of the first tick that reaches the move's end, the source stops and
//! removes it and frees its memory; the VM is then the target's, at the end
//! of the target's host order. A move of 0 s ends at once.

use super::{Fleet, UNPLACED};
use crate::error::{Error, Result};
use crate::model::{VmId, VmState};

/// A move in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    pub(crate) vm: u32,
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// The copy's id on the target.
    pub(crate) local_to: u64,
    pub(crate) end_s: f64,
    pub(crate) startup_mb: u64,
}

impl Migration {
    pub fn vm(&self) -> VmId {
        VmId(self.vm as u64)
    }
    pub fn from_host(&self) -> usize {
        self.from
    }
    pub fn to_host(&self) -> usize {
        self.to
    }
    pub fn end_s(&self) -> f64 {
        self.end_s
    }
}

impl Fleet {
    /// Moves started VMs to `to` (one host per VM), each move taking
    /// `duration_s`; returns which moves began (a target without room
    /// refuses its VM, which stays where it was). Unknown, unplaced, off,
    /// repeated or already moving VMs, a bad host or a target equal to the
    /// source are rejected first, changing nothing.
    pub fn migrate(&mut self, ids: &[VmId], to: &[i64], duration_s: &[f64]) -> Result<Vec<bool>> {
        if to.len() != ids.len() || duration_s.len() != ids.len() {
            return Err(Error::config(
                "to_hosts",
                to.len() as u64,
                &format!("must have one entry per VM ({}); length", ids.len()),
            ));
        }
        let mut seen = vec![false; self.len()];
        for (k, &id) in ids.iter().enumerate() {
            let field = format!("vms[{k}]");
            let i = self.index(id, &field)?;
            let name = self.names.get(i);
            if std::mem::replace(&mut seen[i], true) {
                return Err(Error::state(
                    Some(&field),
                    name,
                    format!("{field}: VM '{name}' appears twice in the batch"),
                ));
            }
            let from = self.host_of[i];
            if from == UNPLACED {
                return Err(Error::state(
                    Some(&field),
                    name,
                    format!("{field}: VM '{name}' is on no host"),
                ));
            }
            let host = &self.hosts[from as usize];
            if host.vm(VmId(self.local[i]))?.state() == VmState::Off {
                return Err(Error::state(
                    Some(&field),
                    name,
                    format!("{field}: VM '{name}' is not running"),
                ));
            }
            if self.migrations.iter().any(|m| m.vm as usize == i) {
                return Err(Error::state(
                    Some(&field),
                    name,
                    format!("{field}: VM '{name}' is already moving"),
                ));
            }
            let t = to[k];
            if t < 0 || t as usize >= self.hosts.len() {
                return Err(self.no_host(&format!("to_hosts[{k}]"), t));
            }
            if t as u32 == from {
                return Err(Error::config(
                    &format!("to_hosts[{k}]"),
                    t,
                    &format!("must differ from the VM's host ({from})"),
                ));
            }
            let d = duration_s[k];
            if !(d.is_finite() && (0.0..=crate::host::MAX_DT_S).contains(&d)) {
                return Err(Error::config(
                    &format!("duration_s[{k}]"),
                    d,
                    "must be a finite number of seconds in [0, 86400]",
                ));
            }
        }
        let mut began = Vec::with_capacity(ids.len());
        for (k, &id) in ids.iter().enumerate() {
            began.push(self.begin(id.0 as usize, to[k] as usize, duration_s[k])?);
        }
        self.finish_migrations();
        Ok(began)
    }

    pub(super) fn begin(&mut self, i: usize, to: usize, duration_s: f64) -> Result<bool> {
        let c = self.configs[i];
        if self.free_of(to) < c.startup_mb as i64 {
            return Ok(false);
        }
        let from = self.host_of[i] as usize;
        let demand = self.hosts[from].vm(VmId(self.local[i]))?.demand_mb();
        let target = &mut self.hosts[to];
        let local = target.add_vm(self.names.get(i), &c.to_spec())?;
        if target.start(local).is_err() {
            target.remove_vm(local)?;
            return Ok(false);
        }
        target.set_demand(local, demand as i64)?;
        self.members[to].push(i as u32);
        self.committed[to] += c.startup_mb as u64;
        self.maximum_sum[to] += c.maximum_mb as u64;
        self.minimum_sum[to] += c.minimum_mb as u64;
        self.migrations.push(Migration {
            vm: i as u32,
            from,
            to,
            local_to: local.0,
            end_s: self.hosts[to].time_s() + duration_s,
            startup_mb: c.startup_mb as u64,
        });
        Ok(true)
    }

    /// Ends every move whose end has come (in the order they began).
    pub(crate) fn finish_migrations(&mut self) {
        let now = self.time_s();
        let (done, left): (Vec<Migration>, Vec<Migration>) = std::mem::take(&mut self.migrations)
            .into_iter()
            .partition(|m| m.end_s <= now);
        self.migrations = left;
        for m in done {
            let i = m.vm as usize;
            let c = self.configs[i];
            let source = &mut self.hosts[m.from];
            let local = VmId(self.local[i]);
            let pos = source.vm(local).expect("a moving VM stays on its source").position();
            source.stop(local).expect("a moving VM runs");
            source.remove_vm(local).expect("stopped");
            self.members[m.from].remove(pos);
            self.committed[m.from] -= c.startup_mb as u64;
            self.maximum_sum[m.from] -= c.maximum_mb as u64;
            self.minimum_sum[m.from] -= c.minimum_mb as u64;
            self.host_of[i] = m.to as u32;
            self.local[i] = m.local_to;
        }
    }

    /// The moves in flight.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }
}
