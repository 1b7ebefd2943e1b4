//! Smart Paging (Windows Server 2012 and later; `docs/balancer.md`, "Smart
//! Paging"): [`Host::restart`] of a VM whose startup memory cannot be found
//! starts it with what can be found and pages the gap to a Smart Paging
//! file (the `smart_paging` column); after every tick the files drain
//! ([`Host::drain_smart_paging`]), each gone by its deadline. The host keeps
//! the paging VMs in a short list, so a tick with none pays one test.

use super::Host;
use crate::error::{Error, Result};
use crate::mechanics::MAX_DELAY_S;
use crate::model::rules::{ceil_u, target_of};
use crate::model::{in_solver, VmId, VmState};

/// The default drain time (s): Hyper-V expects a Smart Paging file to be
/// gone within about ten minutes of the restart.
pub const DEFAULT_SMART_PAGING_DRAIN_S: f64 = 600.0;

/// A VM using a Smart Paging file: its id, when the file must be gone
/// (host clock, s: the restart's clock + the drain time) and the file's
/// size at the restart (MB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PagingFile {
    pub id: u64,
    pub deadline_s: f64,
    pub gap_mb: u32,
}

/// The host's Smart Paging: the drain time and the VMs using a file, in
/// id (= host) order. Empty almost always.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SmartPaging {
    pub drain_s: f64,
    pub files: Vec<PagingFile>,
}

impl Default for SmartPaging {
    fn default() -> Self {
        SmartPaging {
            drain_s: DEFAULT_SMART_PAGING_DRAIN_S,
            files: Vec::new(),
        }
    }
}

impl SmartPaging {
    /// Heap bytes of the list of files (capacity).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.files.capacity() * std::mem::size_of::<PagingFile>()
    }
}

/// What a file may still hold at host clock `t_s` (MB): its size at the
/// restart scaled by the time left to its deadline, `ceil_u(ceil(gap ×
/// (deadline − t) / drain))`, 0 from the deadline on (f64 operations in
/// this order; the reference does the same).
pub(crate) fn allowed_mb(f: &PagingFile, t_s: f64, drain_s: f64, u: u64) -> u64 {
    if t_s >= f.deadline_s {
        return 0;
    }
    let left = (f.gap_mb as f64 * (f.deadline_s - t_s) / drain_s).ceil() as u64;
    ceil_u(left.min(f.gap_mb as u64), u)
}

impl Host {
    /// The drain time (s): a Smart Paging file is gone this long after its
    /// restart, or at the first tick its guest reports, whichever is later.
    pub fn smart_paging_drain_s(&self) -> f64 {
        self.paging.drain_s
    }

    /// The host with drain time `drain_s` (finite, 0 ..= one year; a
    /// `Config` error on `smart_paging_drain_s` otherwise); only while no
    /// VM is paging (a `State` error otherwise).
    pub fn with_smart_paging_drain_s(mut self, drain_s: f64) -> Result<Host> {
        if !(drain_s.is_finite() && (0.0..=MAX_DELAY_S).contains(&drain_s)) {
            return Err(Error::config(
                "smart_paging_drain_s",
                drain_s,
                &format!("must be a finite number of seconds between 0 and {MAX_DELAY_S}"),
            ));
        }
        if !self.paging.files.is_empty() {
            return Err(Error::state(
                Some("smart_paging_drain_s"),
                drain_s,
                "smart_paging_drain_s can only change while no VM uses a Smart Paging file".to_string(),
            ));
        }
        self.paging.drain_s = drain_s;
        Ok(self)
    }

    /// How many VMs use a Smart Paging file now.
    pub fn paging_vms(&self) -> usize {
        self.paging.files.len()
    }

    /// Restarts a VM that is on: a stop and a start in one operation. The
    /// start finds memory as [`Host::start`] does (free memory, then
    /// ballooning running dynamic VMs of weight ≤ its own down to their
    /// minimums). If that is short of `startup_mb`, then from Windows Server
    /// 2012 on (Smart Paging) the VM starts with all of it, `floor_u(free) +
    /// what the donors give`, and the rest of its startup memory goes to a
    /// Smart Paging file (status "paging"); the VM's own memory comes back to
    /// it, so what is found is never below what it held, and a restart does
    /// not fail for memory there. On 2008 R2 SP1 it is a `Version` error on
    /// `startup_mb` and nothing changes (the VM keeps running as it was).
    /// An off VM is a `State` error (`start` it).
    pub fn restart(&mut self, id: VmId) -> Result<()> {
        let pos = self.position(id)?;
        if self.at(pos).state() == VmState::Off {
            return Err(self.state_error(pos, "is not running; start it instead of restarting"));
        }
        let startup = self.vms.startup[pos] as u64;
        // What the start after the stop finds: the VM's own memory is free again.
        let free = self.available_mb() + self.vms.assigned[pos] as i64;
        let give = self.donors_give(self.vms.weight[pos], Some(pos));
        let found = (free.max(0) as u64).saturating_add(give);
        if found < startup && !self.version.has_smart_paging() {
            let what = format!(
                "a restart that finds {found} of its startup memory needs Smart Paging (VM '{}'), which does not exist",
                self.names.get(pos)
            );
            return Err(self.version.error("startup_mb", startup, &what));
        }
        if self.numa_strict() {
            // VMs may not span NUMA nodes: the start after the stop must find
            // its startup memory on one node (no Smart Paging across nodes);
            // if it cannot, the restart fails and the VM runs on as it was.
            let mut trial = self.clone();
            trial.stop(id)?;
            if let Some((_, e)) = trial.start_positions(&[pos], false).into_iter().next() {
                return Err(e);
            }
            *self = trial;
            return Ok(());
        }
        self.stop(id)?;
        let failed = self.start_positions(&[pos], true);
        debug_assert!(failed.is_empty(), "a Smart Paging start does not fail");
        match failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Restarts many VMs that are on, in the order given, exactly as calling
    /// [`Host::restart`] on each in turn would; unknown, repeated or off VMs
    /// are rejected before anything changes. From 2012 no restart fails
    /// for memory; on 2008 R2 SP1 (where none can be short, minimum being
    /// startup) the batch runs on a copy first, so a refusal (named
    /// `vms[k]`) changes nothing.
    pub fn restart_many(&mut self, ids: &[VmId]) -> Result<()> {
        self.batch_positions(ids, true)?;
        if self.version.has_smart_paging() {
            for &id in ids {
                self.restart(id)?;
            }
            return Ok(());
        }
        let mut trial = self.clone();
        for (k, &id) in ids.iter().enumerate() {
            trial.restart(id).map_err(|e| Error {
                field: Some(format!("vms[{k}]")),
                ..e
            })?;
        }
        *self = trial;
        Ok(())
    }

    /// Records a Smart Paging file of `gap_mb` for the VM at `pos`, started
    /// now (its deadline: now + the drain time).
    pub(super) fn open_paging_file(&mut self, pos: usize, gap_mb: u32) {
        let id = self.vms.ids.get(pos);
        self.vms.smart_paging[pos] = gap_mb;
        let f = PagingFile {
            id,
            deadline_s: self.time_s + self.paging.drain_s,
            gap_mb,
        };
        let files = &mut self.paging.files;
        match files.binary_search_by_key(&id, |f| f.id) {
            Ok(k) => files[k] = f,
            Err(k) => files.insert(k, f),
        }
    }

    /// Drops the VM at `pos`'s Smart Paging file (it stopped).
    pub(super) fn close_paging_file(&mut self, pos: usize) {
        if self.vms.smart_paging[pos] == 0 {
            return;
        }
        self.vms.smart_paging[pos] = 0;
        let id = self.vms.ids.get(pos);
        self.paging.files.retain(|f| f.id != id);
    }

    /// After a tick (the clock advanced): each running VM's Smart Paging
    /// file shrinks to at most what its guest still wants beyond its RAM,
    /// `min(target, visible) − assigned` (memory the balancer gave it pages
    /// back in; memory it no longer wants is ballooned back), and at most
    /// [`allowed_mb`] (the guest is ballooned back so that the file is gone
    /// by its deadline). A VM still starting keeps its file (its guest does
    /// not balloon yet). Host memory does not change. Only called when some
    /// VM pages.
    pub(super) fn drain_smart_paging(&mut self) {
        let (u, t, drain_s) = (self.unit(), self.time_s, self.paging.drain_s);
        let v = &mut self.vms;
        self.paging.files.retain(|f| {
            let pos = v
                .ids
                .position(f.id)
                .expect("a VM with a Smart Paging file is on its host");
            if !in_solver(v.flags[pos]) {
                return true;
            }
            let target = target_of(v.demand[pos], v.buffer[pos], v.minimum[pos], v.maximum[pos], u);
            let wants = target.min(v.visible[pos] as u64).saturating_sub(v.assigned[pos] as u64);
            let left = (v.smart_paging[pos] as u64)
                .min(wants)
                .min(allowed_mb(f, t, drain_s, u));
            v.smart_paging[pos] = left as u32;
            left > 0
        });
    }

    /// The host's Smart Paging, for snapshots.
    pub(crate) fn smart_paging(&self) -> &SmartPaging {
        &self.paging
    }
}
