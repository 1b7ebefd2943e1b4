//! [`Fleet`]: many hosts in one object, stepped together.
//!
//! A fleet holds its hosts as plain [`Host`]s and its VMs in one global
//! order: the fleet's [`VmId`] of a VM is its index in that order (0, 1, …,
//! handed out by [`Fleet::add_vms`], never reused). A VM is added to the
//! fleet off and unplaced; [`Fleet::place`] chooses a host for it (`place.rs`)
//! and adds it there, at the end of that host's order; from then on it is a
//! VM of that host like any other. Bulk reads and writes ([`Fleet::set_demands`],
//! [`Fleet::assigned`]) take and give one value per fleet VM, in fleet order.
//!
//! Every host operation is the host's own, so a fleet's hosts are exactly
//! the hosts one would get by doing the same operations on independent
//! `Host`s; the fleet runs them on the core's pool, one host at a time per
//! thread ([`Fleet::threads`]), which changes nothing in the results.
//!
//! Placement admits a VM on a host while the Σ startup of the VMs placed
//! there stays within the host's usable memory (physical − reserve): a
//! placed VM can always start on an otherwise idle host.

mod migrate;
mod optimize;
pub mod place;
mod run;

pub use migrate::Migration;
pub use optimize::DynamicOptimization;
pub(crate) use optimize::Optimizer;
pub use place::{FleetView, Placement, Request, Score};
pub use run::FleetRecord;

use crate::config::{VmConfig, VmSpec};
use crate::error::{try_vec, Error, Result};
use crate::host::Host;
use crate::mechanics::Mechanics;
use crate::model::names::{first_repeat, Names, MAX_NAME_TEXT};
use crate::model::VmId;

/// `host_of` of a VM that is on no host.
pub const UNPLACED: u32 = u32::MAX;
/// Most hosts a fleet holds.
pub const MAX_HOSTS: usize = (u32::MAX - 1) as usize;

/// Many hosts and one global order of VMs (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Fleet {
    pub(crate) policy: Mechanics,
    pub(crate) hosts: Vec<Host>,
    /// Every VM's name, in fleet order (unique over the fleet).
    pub(crate) names: Names,
    /// Every VM's settings as added (what placement asks for).
    pub(crate) configs: Vec<VmConfig>,
    /// Each VM's host, or [`UNPLACED`].
    pub(crate) host_of: Vec<u32>,
    /// Each placed VM's id on its host.
    pub(crate) local: Vec<u64>,
    /// Per host, its VMs' fleet ids in host order.
    pub(crate) members: Vec<Vec<u32>>,
    /// Per host, Σ startup of the VMs placed there (admission).
    pub(crate) committed: Vec<u64>,
    /// Per host, Σ maximum of the VMs placed there (ratio caps).
    pub(crate) maximum_sum: Vec<u64>,
    /// Per host, Σ minimum of the VMs placed there (ratings).
    pub(crate) minimum_sum: Vec<u64>,
    /// Live migrations in flight (`migrate.rs`).
    pub(crate) migrations: Vec<Migration>,
    /// Dynamic optimization, when on (`optimize.rs`).
    pub(crate) optimizer: Option<Optimizer>,
    /// Threads the fleet's bulk operations may use (0: the pool's).
    threads: usize,
}

/// Runs `f` on every item, the items cut into `parts` runs of consecutive
/// items run in parallel on the pool. Items are independent, so the
/// results do not depend on `parts`.
pub(crate) fn each_part<T: Send, F: Fn(&mut T) + Sync>(items: &mut [T], parts: usize, f: &F) {
    if parts > 1 && items.len() > 1 {
        let mid = (items.len() * (parts / 2) / parts).max(1);
        let (a, b) = items.split_at_mut(mid);
        crate::par::join(|| each_part(a, parts / 2, f), || each_part(b, parts - parts / 2, f));
    } else {
        items.iter_mut().for_each(f);
    }
}

/// Fleets of fewer VMs than this run their bulk operations on one thread.
pub const FLEET_PARALLEL_MIN_VMS: usize = 8192;

impl Fleet {
    /// A fleet of `physical_mb.len()` hosts, host `k` with `physical_mb[k]`
    /// of memory, each with `reserve_mb` (`None`: the default reserve of its
    /// size) and the same mechanics. Errors name the entry (`physical_mb[3]`).
    pub fn new(physical_mb: &[i64], reserve_mb: Option<i64>, policy: Mechanics) -> Result<Fleet> {
        policy.validate()?;
        if physical_mb.len() > MAX_HOSTS {
            return Err(Error::config(
                "physical_mb",
                physical_mb.len() as u64,
                &format!("must have at most {MAX_HOSTS} hosts; length"),
            ));
        }
        let mut hosts = try_vec(physical_mb.len(), "physical_mb")?;
        for (k, &p) in physical_mb.iter().enumerate() {
            hosts.push(Host::new(p, reserve_mb, policy.clone()).map_err(|e| e.at_entry(k))?);
        }
        let n = hosts.len();
        Ok(Fleet {
            policy,
            hosts,
            names: Names::default(),
            configs: Vec::new(),
            host_of: Vec::new(),
            local: Vec::new(),
            members: vec![Vec::new(); n],
            committed: vec![0; n],
            maximum_sum: vec![0; n],
            minimum_sum: vec![0; n],
            migrations: Vec::new(),
            optimizer: None,
            threads: 0,
        })
    }

    pub fn policy(&self) -> &Mechanics {
        &self.policy
    }
    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }
    /// Number of VMs (placed or not).
    pub fn len(&self) -> usize {
        self.configs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }
    /// Host `k`, for reading.
    pub fn host(&self, k: usize) -> Result<&Host> {
        self.hosts.get(k).ok_or_else(|| self.no_host("host", k as i64))
    }
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
    /// The fleet's clock (s): every host's.
    pub fn time_s(&self) -> f64 {
        self.hosts.first().map_or(0.0, Host::time_s)
    }
    /// Threads bulk operations may use: 0 (the default) means the pool's.
    /// Results are identical for any number.
    pub fn threads(&self) -> usize {
        self.threads
    }
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
        for h in &mut self.hosts {
            h.set_threads(threads);
        }
    }
    pub fn heap_bytes(&self) -> usize {
        self.hosts.iter().map(Host::heap_bytes).sum::<usize>()
            + self.names.heap_bytes()
            + self.configs.capacity() * std::mem::size_of::<VmConfig>()
            + self.host_of.capacity() * 4
            + self.local.capacity() * 8
            + self.members.iter().map(|m| m.capacity() * 4).sum::<usize>()
    }

    /// How many parts a bulk operation over the hosts runs in.
    pub(crate) fn parts(&self) -> usize {
        if self.len() < FLEET_PARALLEL_MIN_VMS {
            return 1;
        }
        let t = if self.threads == 0 {
            crate::par::threads()
        } else {
            self.threads
        };
        t.min(self.hosts.len()).max(1)
    }

    pub(crate) fn no_host(&self, field: &str, k: i64) -> Error {
        Error::config(
            field,
            k,
            &format!(
                "must be a host index between 0 and {} (the fleet has {} hosts)",
                self.hosts.len() as i64 - 1,
                self.hosts.len()
            ),
        )
    }

    /// The position of VM `id` in fleet order, or a `State` error.
    pub(crate) fn index(&self, id: VmId, field: &str) -> Result<usize> {
        self.index_at(id, || field.to_string())
    }

    /// [`Fleet::index`] with the field's name made only for an error (a
    /// bulk call names `vms[k]` without formatting it for every VM).
    pub(crate) fn index_at(&self, id: VmId, field: impl FnOnce() -> String) -> Result<usize> {
        if (id.0 as usize) < self.len() && id.0 <= u32::MAX as u64 {
            Ok(id.0 as usize)
        } else {
            let field = field();
            Err(Error::state(
                Some(&field),
                id.0,
                format!("{field}: vm {id} is not in this fleet"),
            ))
        }
    }

    /// Name of VM `id`.
    pub fn name(&self, id: VmId) -> Result<&str> {
        Ok(self.names.get(self.index(id, "vm")?))
    }
    /// Id of the VM called `name`.
    pub fn find(&self, name: &str) -> Result<VmId> {
        self.names
            .find(name)
            .map(|k| VmId(k as u64))
            .ok_or_else(|| Error::state(Some("name"), name, format!("name: no VM called {name:?} in this fleet")))
    }
    /// VM `id`'s settings as added.
    pub fn config(&self, id: VmId) -> Result<VmConfig> {
        Ok(self.configs[self.index(id, "vm")?])
    }

    // ----- VMs ---------------------------------------------------------------

    /// Adds VMs (off, on no host) at the end of the fleet order, all or
    /// nothing; names are unique over the fleet. Errors name the entry.
    pub fn add_vms<S: AsRef<str>>(&mut self, names: &[S], specs: &[VmSpec]) -> Result<Vec<VmId>> {
        if names.len() != specs.len() {
            let what = format!("one entry per name ({} names)", names.len());
            return Err(Error::config("specs", specs.len() as u64, &format!("must have {what}")));
        }
        if self.len() + names.len() > u32::MAX as usize {
            return Err(Error::config(
                "names",
                names.len() as u64,
                "must keep the fleet within 2^32 - 1 VMs",
            ));
        }
        let mut configs = try_vec(specs.len(), "names")?;
        let repeat = first_repeat(names);
        for (k, (name, spec)) in names.iter().zip(specs).enumerate() {
            let name = name.as_ref();
            let field = || format!("names[{k}]");
            if name.trim().is_empty() {
                return Err(Error::config(&field(), name, "must be a non-empty string"));
            }
            if self.names.find(name).is_some() {
                return Err(Error::config(
                    &field(),
                    name,
                    "must be unique in the fleet; a VM of that name exists",
                ));
            }
            if let Some((first, _)) = repeat.filter(|&(_, again)| again == k) {
                return Err(Error::config(
                    &field(),
                    name,
                    &format!("must be unique; names[{first}] is the same"),
                ));
            }
            configs.push(spec.validate(self.policy.balloon_unit_mb).map_err(|e| e.at_entry(k))?);
        }
        let text: usize = names.iter().map(|n| n.as_ref().len()).sum();
        if self.names.text_len() + text > MAX_NAME_TEXT {
            return Err(Error::config(
                "names",
                text as u64,
                &format!("the fleet's VM names may total at most {MAX_NAME_TEXT} bytes"),
            ));
        }
        let n = names.len();
        let room = self.configs.try_reserve(n).is_ok()
            && self.host_of.try_reserve(n).is_ok()
            && self.local.try_reserve(n).is_ok()
            && self.names.try_reserve(n, text);
        if !room {
            return Err(Error::out_of_memory("names", n * 40 + text));
        }
        let first = self.len() as u64;
        for (name, c) in names.iter().zip(configs) {
            self.names.push(name.as_ref());
            self.configs.push(c);
            self.host_of.push(UNPLACED);
            self.local.push(0);
        }
        Ok((first..first + n as u64).map(VmId).collect())
    }

    /// The host of each VM, `-1` for one on no host.
    pub fn host_of(&self, ids: &[VmId]) -> Result<Vec<i64>> {
        let mut out = try_vec(ids.len(), "vms")?;
        for (k, &id) in ids.iter().enumerate() {
            let i = self.index_at(id, || format!("vms[{k}]"))?;
            out.push(self.host_of_index(i));
        }
        Ok(out)
    }
    pub(crate) fn host_of_index(&self, i: usize) -> i64 {
        match self.host_of[i] {
            UNPLACED => -1,
            h => h as i64,
        }
    }
    /// Every VM's host in fleet order, `-1` for none.
    pub fn hosts_of_all(&self) -> Vec<i64> {
        (0..self.len()).map(|i| self.host_of_index(i)).collect()
    }

    /// Positions of a batch of distinct, placed VMs, grouped by host in the
    /// batch's order: per host, (index into `ids`, the VM's id on the host).
    fn by_host(&self, ids: &[VmId]) -> Result<Vec<Vec<(usize, VmId)>>> {
        let mut seen = vec![false; self.len()];
        let mut groups: Vec<Vec<(usize, VmId)>> = vec![Vec::new(); self.hosts.len()];
        for (k, &id) in ids.iter().enumerate() {
            let field = || format!("vms[{k}]");
            let i = self.index_at(id, field)?;
            if std::mem::replace(&mut seen[i], true) {
                let field = field();
                return Err(Error::state(
                    Some(&field),
                    self.names.get(i),
                    format!("{field}: VM '{}' appears twice in the batch", self.names.get(i)),
                ));
            }
            match self.host_of[i] {
                UNPLACED => {
                    let field = field();
                    return Err(Error::state(
                        Some(&field),
                        self.names.get(i),
                        format!("{field}: VM '{}' is on no host; place it first", self.names.get(i)),
                    ));
                }
                h => groups[h as usize].push((k, VmId(self.local[i]))),
            }
        }
        Ok(groups)
    }

    /// Starts placed VMs, on each host in the order given, exactly as
    /// `Host::start_many` on each host; returns which started. Unknown,
    /// unplaced, repeated or already started VMs are rejected first,
    /// changing nothing.
    pub fn start_many(&mut self, ids: &[VmId]) -> Result<Vec<bool>> {
        let groups = self.by_host(ids)?;
        // Every host's batch is checked (and its positions found) before
        // any host starts anything; each host then starts its positions.
        let mut positions = Vec::with_capacity(groups.len());
        for (h, g) in groups.iter().enumerate() {
            if g.is_empty() {
                positions.push(Vec::new());
                continue;
            }
            let local: Vec<VmId> = g.iter().map(|&(_, id)| id).collect();
            let pos = self.hosts[h].batch_positions(&local, false).map_err(|e| {
                let field = e
                    .field
                    .as_deref()
                    .and_then(|f| f.strip_prefix("vms["))
                    .and_then(|f| f.strip_suffix(']'));
                match field.and_then(|f| f.parse::<usize>().ok()) {
                    Some(j) => Error {
                        field: Some(format!("vms[{}]", g[j].0)),
                        message: e.message.replacen(&format!("vms[{j}]"), &format!("vms[{}]", g[j].0), 1),
                        ..e
                    },
                    None => e,
                }
            })?;
            positions.push(pos);
        }
        let parts = self.parts();
        type Job<'h> = (&'h mut Host, Vec<(usize, VmId)>, Vec<usize>, Vec<usize>);
        let mut jobs: Vec<Job<'_>> = self
            .hosts
            .iter_mut()
            .zip(groups)
            .zip(positions)
            .map(|((h, g), p)| (h, g, p, Vec::new()))
            .collect();
        each_part(&mut jobs, parts, &|(host, g, pos, failed): &mut Job<'_>| {
            if !pos.is_empty() {
                let out = host.start_positions(pos, false);
                failed.extend(out.into_iter().map(|(j, _)| g[j].0));
            }
        });
        let mut started = vec![true; ids.len()];
        for (_, _, _, failed) in jobs {
            for k in failed {
                started[k] = false;
            }
        }
        Ok(started)
    }

    /// Stops started VMs (their memory returns to their hosts at once);
    /// a VM that is moving cannot be stopped until its move ends.
    pub fn stop_many(&mut self, ids: &[VmId]) -> Result<()> {
        let groups = self.by_host(ids)?;
        if let Some(m) = self.migrations.iter().find(|m| ids.contains(&VmId(m.vm as u64))) {
            let name = self.names.get(m.vm as usize);
            return Err(Error::state(
                Some("vms"),
                name,
                format!("vms: VM '{name}' is moving; stop it when the move ends"),
            ));
        }
        for (h, g) in groups.iter().enumerate() {
            let local: Vec<VmId> = g.iter().map(|&(_, id)| id).collect();
            self.hosts[h].check_stoppable(&local)?;
        }
        for (h, g) in groups.into_iter().enumerate() {
            let local: Vec<VmId> = g.iter().map(|&(_, id)| id).collect();
            self.hosts[h].stop_many(&local)?;
        }
        Ok(())
    }

    /// Whether a VM of `startup_mb` and `weight` would start on each host
    /// now (as `Host::start` would decide: free memory, or what ballooning
    /// VMs of weight ≤ `weight` down to their minimums frees).
    pub fn can_start(&self, startup_mb: i64, weight: i64) -> Result<Vec<bool>> {
        if startup_mb < 0 {
            return Err(Error::config("startup_mb", startup_mb, "must be at least 0"));
        }
        if !(0..=crate::config::MAX_WEIGHT as i64).contains(&weight) {
            return Err(Error::config(
                "weight",
                weight,
                &format!("must be between 0 and {}", crate::config::MAX_WEIGHT),
            ));
        }
        Ok(self
            .hosts
            .iter()
            .map(|h| h.can_start(startup_mb as u64, weight as u16))
            .collect())
    }

    // ----- demand, ticks, reads ----------------------------------------------

    /// Sets every VM's demand, in fleet order (one entry per VM; entries of
    /// VMs on no host are checked and ignored); all or nothing.
    pub fn set_demands(&mut self, demand_mb: &[i64]) -> Result<()> {
        if demand_mb.len() != self.len() {
            return Err(Error::config(
                "demand_mb",
                demand_mb.len() as u64,
                &format!("must have one entry per VM of the fleet ({}); length", self.len()),
            ));
        }
        Host::check_demands(demand_mb, |k| format!("demand_mb[{k}]"))?;
        self.set_demands_unchecked(demand_mb);
        Ok(())
    }

    pub(crate) fn set_demands_unchecked(&mut self, demand_mb: &[i64]) {
        let parts = self.parts();
        let mut jobs: Vec<(&mut Host, &[u32])> = self
            .hosts
            .iter_mut()
            .zip(self.members.iter())
            .map(|(h, m)| (h, m.as_slice()))
            .collect();
        each_part(&mut jobs, parts, &|(host, members): &mut (&mut Host, &[u32])| {
            for (d, &i) in host.vms_demand_mut().iter_mut().zip(members.iter()) {
                *d = demand_mb[i as usize] as u32;
            }
        });
    }

    /// One tick of `dt_s` on every host, hosts in parallel; then the
    /// migrations that end by now complete (`migrate.rs`) and, when it is
    /// on and due, dynamic optimization's check (`optimize.rs`).
    pub fn tick(&mut self, dt_s: f64) -> Result<()> {
        Host::check_dt(dt_s)?;
        self.tick_unchecked(dt_s);
        Ok(())
    }

    pub(crate) fn tick_unchecked(&mut self, dt_s: f64) {
        let parts = self.parts();
        // A fleet's hosts have Hyper-V's policy: their ticks cannot fail.
        each_part(&mut self.hosts, parts, &|h: &mut Host| {
            let r = h.tick_unchecked(dt_s);
            debug_assert!(r.is_ok(), "a built-in policy's tick failed");
        });
        if !self.migrations.is_empty() {
            self.finish_migrations();
        }
        if self.optimizer.is_some() {
            self.optimize();
        }
    }

    /// One value per VM in fleet order, read off its host (`zero` for VMs
    /// on no host).
    pub(crate) fn gather<T: Copy + Default>(&self, col: impl Fn(&Host) -> &[T]) -> Vec<T> {
        let mut out = vec![T::default(); self.len()];
        for (h, (host, m)) in self.hosts.iter().zip(&self.members).enumerate() {
            for (&v, &i) in col(host).iter().zip(m) {
                // A moving VM's copy on its target is not yet the VM's.
                if self.host_of[i as usize] == h as u32 {
                    out[i as usize] = v;
                }
            }
        }
        out
    }

    /// Every VM's assigned memory (MB) in fleet order; 0 for VMs on no host.
    pub fn assigned(&self) -> Vec<u32> {
        self.gather(Host::assigned)
    }
    /// Every VM's demand (MB) in fleet order; 0 for VMs on no host.
    pub fn demands(&self) -> Vec<u32> {
        self.gather(Host::reported_demands) // (a fleet's VMs run the default guest: no floor)
    }
    /// Every VM's guest-visible memory (MB) in fleet order.
    pub fn visible(&self) -> Vec<u32> {
        self.gather(Host::visible)
    }
    /// Each host's memory not assigned to any VM (physical − reserve − Σ assigned).
    pub fn host_available(&self) -> Vec<i64> {
        self.hosts.iter().map(Host::available_mb).collect()
    }
    /// Each host's room for placement: usable memory − Σ startup placed.
    pub fn host_free(&self) -> Vec<i64> {
        (0..self.hosts.len()).map(|h| self.free_of(h)).collect()
    }
    pub(crate) fn usable_of(&self, h: usize) -> u64 {
        self.hosts[h].physical_mb() - self.hosts[h].reserve_mb()
    }
    pub(crate) fn free_of(&self, h: usize) -> i64 {
        self.usable_of(h) as i64 - self.committed[h] as i64
    }

    /// Checks the fleet's own bookkeeping against its hosts (tests).
    #[doc(hidden)]
    pub fn check(&self) -> std::result::Result<(), String> {
        for (h, host) in self.hosts.iter().enumerate() {
            let m = &self.members[h];
            if m.len() != host.len() {
                return Err(format!("host {h}: {} members, {} VMs", m.len(), host.len()));
            }
            let ids = host.ids();
            let mut startup = 0;
            for (pos, &i) in m.iter().enumerate() {
                let i = i as usize;
                let copy = self
                    .migrations
                    .iter()
                    .any(|g| g.vm as usize == i && g.to == h && g.local_to == ids[pos].0);
                if !copy && (self.host_of[i] != h as u32 || self.local[i] != ids[pos].0) {
                    return Err(format!("host {h} position {pos}: vm {i} mapped elsewhere"));
                }
                startup += host.at(pos).config().startup_mb as u64;
            }
            // A moving VM's copy counts on its target from the move's start.
            if startup != self.committed[h] || self.committed[h] > self.usable_of(h) {
                return Err(format!(
                    "host {h}: committed {} for Σ startup {startup}",
                    self.committed[h]
                ));
            }
            if host.available_mb() < 0 {
                return Err(format!("host {h}: overcommitted"));
            }
        }
        let members: usize = self.members.iter().map(Vec::len).sum();
        let placed = self.host_of.iter().filter(|&&h| h != UNPLACED).count();
        if members != placed + self.migrations.len() {
            return Err(format!(
                "{members} members for {placed} placed VMs and {} moves",
                self.migrations.len()
            ));
        }
        Ok(())
    }
}
