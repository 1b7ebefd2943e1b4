//! The `Host` API: a host's memory, reserve and mechanics, and the operations
//! on its VMs (add, start, stop, remove, configure, demand, reads, tick).
//! `docs/balancer.md` is the specification; every public operation either
//! succeeds entirely or returns an error having changed nothing. The tick
//! itself is the balancer's (`balancer.rs`).

pub use crate::balancer::PARALLEL_MIN_VMS;
use crate::balancer::{Balancer, Tick};
pub use vm::VmRef;

mod guests;
mod numa;
mod paging;
mod start;
mod versioned;
mod vm;
use crate::config::{VmChange, VmConfig, VmSpec, MAX_DEMAND_MB};
use crate::error::{try_vec, Error, Result};
use crate::mechanics::Mechanics;
use crate::model::names::{first_repeat, Names, MAX_NAME_TEXT};
use crate::model::rules::{ceil_u, default_reserve_mb};
use crate::model::{each_column, in_solver, GuestTable, VmId, VmState, Vms, DYNAMIC, STATE_MASK};
use crate::policy::{check_answer, view_after_boot, Policy};
use crate::version::Version;
use crate::VectorCap;
pub use numa::{equal_nodes, MAX_NUMA_NODES};
pub use paging::DEFAULT_SMART_PAGING_DRAIN_S;
pub(crate) use paging::{PagingFile, SmartPaging};

/// Largest physical memory accepted (MB): 2^40.
pub const MAX_PHYSICAL_MB: u64 = 1 << 40;
/// Longest tick accepted (s): a day.
pub const MAX_DT_S: f64 = 86400.0;
/// What a tick's `dt_s` must be (the words of its errors, for bindings too).
pub const DT_WHAT: &str = "a finite number of seconds in (0, 86400]";

/// `Vec::try_reserve` for `each_column!`, which calls one method on every
/// column: adds the bytes asked for to `bytes`, and sets `failed` on failure.
trait ReserveOrFlag {
    fn reserve_or_flag(&mut self, extra: usize, bytes: &mut usize, failed: &mut bool);
}

impl<T> ReserveOrFlag for Vec<T> {
    fn reserve_or_flag(&mut self, extra: usize, bytes: &mut usize, failed: &mut bool) {
        *bytes = bytes.saturating_add(extra.saturating_mul(std::mem::size_of::<T>()));
        *failed |= self.try_reserve(extra).is_err();
    }
}

/// A Hyper-V host: physical memory, reserve, mechanics and its VMs.
#[derive(Debug, Clone)]
pub struct Host {
    physical_mb: u64,
    reserve_mb: u64,
    mech: Mechanics,
    /// The allocation policy (`policy/`); Hyper-V's by default.
    policy: Policy,
    /// The Windows Server release (`versioned.rs`); the newest by default.
    version: Version,
    time_s: f64,
    next_id: u64,
    /// VM names in position order, with an index from name to position.
    names: Names,
    /// Σ assigned over all VMs, kept exact by every operation.
    assigned_sum: u64,
    vms: Vms,
    balancer: Balancer,
    /// Smart Paging: the drain time and the VMs using a file (`paging.rs`).
    paging: SmartPaging,
    /// NUMA nodes and each VM's node (`numa.rs`); `None` on a host of one node.
    numa: Option<Box<numa::Numa>>,
}

impl Host {
    /// A host with `physical_mb` of memory; `reserve_mb: None` applies
    /// [`default_reserve_mb`].
    pub fn new(physical_mb: i64, reserve_mb: Option<i64>, mech: Mechanics) -> Result<Host> {
        mech.validate()?;
        if physical_mb < 1 || physical_mb as u64 > MAX_PHYSICAL_MB {
            return Err(Error::config(
                "physical_mb",
                physical_mb,
                &format!("must be between 1 and {MAX_PHYSICAL_MB} MB"),
            ));
        }
        let physical = physical_mb as u64;
        let reserve = match reserve_mb {
            None => default_reserve_mb(physical),
            Some(r) => {
                if r < 0 || r as u64 >= physical {
                    return Err(Error::config(
                        "reserve_mb",
                        r,
                        &format!("must be at least 0 and below physical_mb ({physical})"),
                    ));
                }
                r as u64
            }
        };
        if reserve >= physical {
            return Err(Error::config(
                "physical_mb",
                physical_mb,
                &format!("must exceed the default reserve ({reserve} MB); pass reserve_mb"),
            ));
        }
        let guests = GuestTable::new(&mech);
        Ok(Host {
            physical_mb: physical,
            reserve_mb: reserve,
            mech,
            policy: Policy::HyperV,
            version: Version::default(),
            time_s: 0.0,
            next_id: 1,
            names: Names::default(),
            assigned_sum: 0,
            vms: Vms {
                guests,
                ..Vms::default()
            },
            balancer: Balancer::default(),
            paging: SmartPaging::default(),
            numa: None,
        })
    }

    pub fn physical_mb(&self) -> u64 {
        self.physical_mb
    }
    pub fn reserve_mb(&self) -> u64 {
        self.reserve_mb
    }
    /// The host with allocation policy `policy` (checked) instead of Hyper-V's.
    pub fn with_policy(mut self, policy: Policy) -> Result<Host> {
        policy.validate()?;
        self.policy = policy;
        Ok(self)
    }
    /// The mechanics' delays, rates and units.
    pub fn mechanics(&self) -> &Mechanics {
        &self.mech
    }
    /// The allocation policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn time_s(&self) -> f64 {
        self.time_s
    }
    pub fn len(&self) -> usize {
        self.vms.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Heap memory the host holds: its VM columns, names and name index,
    /// and the solver's scratch (which grows to one entry per VM the first
    /// time memory is contended). Capacities, so what is really allocated.
    pub fn heap_bytes(&self) -> usize {
        self.vms.heap_bytes()
            + self.names.heap_bytes()
            + self.balancer.heap_bytes()
            + self.paging.heap_bytes()
            + self.numa_heap_bytes()
    }

    /// VM ids in `host.vms` order.
    pub fn ids(&self) -> Vec<VmId> {
        self.vms.ids.iter().map(VmId).collect()
    }
    pub(crate) fn unit(&self) -> u64 {
        self.mech.balloon_unit_mb as u64
    }

    /// Id of the VM called `name`.
    pub fn find(&self, name: &str) -> Result<VmId> {
        self.names
            .find(name)
            .map(|pos| VmId(self.vms.ids.get(pos)))
            .ok_or_else(|| Error::state(Some("name"), name, format!("name: no VM called {name:?} on this host")))
    }

    // ----- lifecycle -------------------------------------------------------

    /// Adds a VM (off). Returns its id.
    pub fn add_vm(&mut self, name: &str, spec: &VmSpec) -> Result<VmId> {
        self.check_name(name, || "name".to_string())?;
        self.check_name_text("name", name.len())?;
        let c = spec.validate(self.mech.balloon_unit_mb)?;
        self.check_release(&c, str::to_string)?;
        Ok(self.push_vm(name, c))
    }

    /// `more` bytes of names still fit the host's name text.
    fn check_name_text(&self, field: &str, more: usize) -> Result<()> {
        if self.names.text_len() + more > MAX_NAME_TEXT {
            return Err(Error::config(
                field,
                more as u64,
                &format!("the host's VM names may total at most {MAX_NAME_TEXT} bytes"),
            ));
        }
        Ok(())
    }

    /// Checks a new VM's name; `field` is only built for the error.
    fn check_name(&self, name: &str, field: impl FnOnce() -> String) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::config(&field(), name, "must be a non-empty string"));
        }
        if self.names.find(name).is_some() {
            return Err(Error::config(
                &field(),
                name,
                "must be unique on the host; a VM of that name exists",
            ));
        }
        Ok(())
    }

    /// Adds many VMs (off) in order; all or nothing. Errors name the entry,
    /// e.g. `startup_mb[3]`; one spec per name, or a `Config` error on `specs`.
    pub fn add_vms<S: AsRef<str>>(&mut self, names: &[S], specs: &[VmSpec]) -> Result<Vec<VmId>> {
        if names.len() != specs.len() {
            let what = format!("one entry per name ({} names)", names.len());
            return Err(Error::config("specs", specs.len() as u64, &format!("must have {what}")));
        }
        let mut configs = try_vec(specs.len(), "names")?;
        let repeat = first_repeat(names);
        for (k, (name, spec)) in names.iter().zip(specs).enumerate() {
            let name = name.as_ref();
            self.check_name(name, || format!("names[{k}]"))?;
            if let Some((first, _)) = repeat.filter(|&(_, again)| again == k) {
                return Err(Error::config(
                    &format!("names[{k}]"),
                    name,
                    &format!("must be unique; names[{first}] is the same"),
                ));
            }
            let c = spec.validate(self.mech.balloon_unit_mb).map_err(|e| {
                let field = format!("{}[{k}]", e.field.as_deref().unwrap_or("vm"));
                let message = e.message.replacen(e.field.as_deref().unwrap_or("vm"), &field, 1);
                Error {
                    field: Some(field),
                    message,
                    ..e
                }
            })?;
            self.check_release(&c, |f| format!("{f}[{k}]"))?;
            configs.push(c);
        }
        let text: usize = names.iter().map(|n| n.as_ref().len()).sum();
        self.check_name_text("names", text)?;
        self.reserve(names.len(), text)?;
        Ok(names
            .iter()
            .zip(configs)
            .map(|(name, c)| self.push_vm(name.as_ref(), c))
            .collect())
    }

    /// Room for `extra` more VMs with `text` bytes of names, or an
    /// `OutOfMemory` error (some columns may have grown; none changed).
    fn reserve(&mut self, extra: usize, text: usize) -> Result<()> {
        let (mut bytes, mut failed) = (text, false);
        each_column!(&mut self.vms, reserve_or_flag(extra, &mut bytes, &mut failed));
        if failed || !self.names.try_reserve(extra, text) {
            return Err(Error::out_of_memory("names", bytes));
        }
        Ok(())
    }

    fn push_vm(&mut self, name: &str, c: VmConfig) -> VmId {
        let id = self.next_id;
        self.next_id += 1;
        let v = &mut self.vms;
        v.ids.push(id);
        v.flags.push(if c.dynamic { DYNAMIC } else { 0 });
        v.startup.push(c.startup_mb);
        v.minimum.push(c.minimum_mb);
        if !v.min_config.is_empty() {
            v.min_config.push(c.minimum_mb);
        }
        v.guest.push(0); // the default profile (`guests.rs` may change it)
        v.maximum.push(c.maximum_mb);
        v.buffer.push(c.buffer_pct);
        v.weight.push(c.weight);
        for col in [&mut v.demand, &mut v.assigned, &mut v.visible] {
            col.push(0);
        }
        v.added.push(0);
        v.removed.push(0);
        v.add_ops.push(0);
        v.remove_ops.push(0);
        v.smart_paging.push(0);
        v.p_now.push(f64::NAN); // no pressure interval open until its first sample
        for col in [&mut v.clock_s, &mut v.p_sum, &mut v.run_mark, &mut v.p_max] {
            col.push(0.0);
        }
        // No sample yet: the first one will be the minimum (reads as 0 until then).
        v.p_min.push(f64::INFINITY);
        self.names.push(name);
        self.numa_push();
        VmId(id)
    }

    /// Removes an off VM; later VMs keep their relative order.
    pub fn remove_vm(&mut self, id: VmId) -> Result<()> {
        let pos = self.position(id)?;
        if self.at(pos).state() != VmState::Off {
            return Err(self.state_error(pos, "cannot be removed while it is running; stop it first"));
        }
        self.names.remove(pos);
        self.numa_remove(pos);
        let v = &mut self.vms;
        if !v.carries.is_empty() {
            v.carries.retain(|&(vm, _), _| vm != id.0);
        }
        each_column!(&mut *v, remove(pos));
        v.touch_all(); // positions moved
        v.ids.remove(pos);
        Ok(())
    }

    fn state_error(&self, pos: usize, what: &str) -> Error {
        let state = self.at(pos).state().as_str();
        Error::state(
            Some("state"),
            state,
            format!("VM '{}' {what} (state: {state})", self.names.get(pos)),
        )
    }

    /// Memory not assigned to any VM: physical − reserve − Σ assigned.
    pub fn available_mb(&self) -> i64 {
        self.physical_mb as i64 - self.reserve_mb as i64 - self.assigned_sum as i64
    }

    /// Starts an off VM with its startup memory, ballooning running dynamic
    /// VMs of weight ≤ its own (lowest weight first, ties by position, never
    /// below their minimum) if free memory is short. Fails having changed
    /// nothing.
    pub fn start(&mut self, id: VmId) -> Result<()> {
        let pos = self.position(id)?;
        if self.at(pos).state() != VmState::Off {
            return Err(self.state_error(pos, "is already started"));
        }
        match self.start_positions(&[pos], false).pop() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Starts many off VMs, in the order given, exactly as calling
    /// [`Host::start`] on each in turn would; returns the starts that failed,
    /// as (index into `ids`, `InsufficientMemory` error): those VMs stay off
    /// and nothing else changed for them. Unknown, repeated or already
    /// started VMs are rejected before anything changes.
    ///
    /// `O(N + W)` for the whole batch: the donors are counting-sorted by
    /// weight once and consumed from the front with a cursor and prefix sums.
    pub fn start_many(&mut self, ids: &[VmId]) -> Result<Vec<(usize, Error)>> {
        let positions = self.batch_positions(ids, false)?;
        Ok(self.start_positions(&positions, false))
    }

    /// Checks a batch as [`Host::stop_many`] would, changing nothing.
    pub fn check_stoppable(&self, ids: &[VmId]) -> Result<()> {
        self.batch_positions(ids, true).map(|_| ())
    }

    /// Whether [`Host::start`] would start a VM of `startup_mb` and `weight`
    /// now: free memory, or (where the policy balloons at a start) free
    /// memory plus what ballooning the running dynamic VMs of weight ≤
    /// `weight` down to their minimums frees.
    pub fn can_start(&self, startup_mb: u64, weight: u16) -> bool {
        if self.numa_strict() {
            return self.can_start_on_a_node(startup_mb, weight);
        }
        let free = self.available_mb();
        if free >= startup_mb as i64 {
            return true;
        }
        self.donors_give(weight, None) >= ceil_u((startup_mb as i64 - free) as u64, self.unit())
    }

    /// What a start of weight `weight` can take from donors (MB): ballooning
    /// the running dynamic VMs of weight ≤ `weight` (but the one at
    /// `except`) down to their minimums; nothing under a policy that never
    /// balloons at a start (Static).
    fn donors_give(&self, weight: u16, except: Option<usize>) -> u64 {
        if !self.policy.balloons_at_start() {
            return 0;
        }
        let v = &self.vms;
        (0..v.len())
            .filter(|&j| Some(j) != except)
            .filter(|&j| in_solver(v.flags[j]) && v.weight[j] <= weight && v.assigned[j] > v.minimum[j])
            .map(|j| (v.assigned[j] - v.minimum[j]) as u64)
            .sum()
    }

    /// Ids of the VMs that are off (`off`), or started (not off), in order.
    pub fn ids_where_off(&self, off: bool) -> Vec<VmId> {
        let v = &self.vms;
        v.flags
            .iter()
            .zip(v.ids.iter())
            .filter(|&(&f, _)| (f & STATE_MASK == VmState::Off as u8) == off)
            .map(|(_, id)| VmId(id))
            .collect()
    }

    /// Positions of a batch of distinct VMs that are all started (`started`)
    /// or all off; errors name the entry, `vms[k]`.
    pub(crate) fn batch_positions(&self, ids: &[VmId], started: bool) -> Result<Vec<usize>> {
        let mut positions = try_vec(ids.len(), "vms")?;
        let mut seen = vec![false; self.len()];
        for (k, &id) in ids.iter().enumerate() {
            let pos = self.position(id)?;
            if (self.at(pos).state() != VmState::Off) != started {
                let what = if started {
                    "is not running"
                } else {
                    "is already started"
                };
                let e = self.state_error(pos, what);
                return Err(Error {
                    field: Some(format!("vms[{k}]")),
                    ..e
                });
            }
            if std::mem::replace(&mut seen[pos], true) {
                return Err(Error::state(
                    Some(&format!("vms[{k}]")),
                    self.names.get(pos),
                    format!("vms[{k}]: VM '{}' appears twice in the batch", self.names.get(pos)),
                ));
            }
            positions.push(pos);
        }
        Ok(positions)
    }

    /// Stops a started VM: its memory returns to the host at once.
    pub fn stop(&mut self, id: VmId) -> Result<()> {
        let pos = self.position(id)?;
        if self.at(pos).state() == VmState::Off {
            return Err(self.state_error(pos, "is not running"));
        }
        self.close_paging_file(pos);
        let v = &mut self.vms;
        v.close_pressure(pos, self.time_s); // its pressure's open interval ends now
        v.touch(pos);
        self.assigned_sum -= v.assigned[pos] as u64;
        v.flags[pos] &= !STATE_MASK;
        v.assigned[pos] = 0;
        v.visible[pos] = 0;
        v.clock_s[pos] = 0.0;
        v.run_mark[pos] += self.time_s; // the running time so far, T + run_mark
        Ok(())
    }

    /// Stops many started VMs; unknown, repeated or off VMs are rejected
    /// before anything changes.
    pub fn stop_many(&mut self, ids: &[VmId]) -> Result<()> {
        self.batch_positions(ids, true)?;
        for &id in ids {
            self.stop(id)?;
        }
        Ok(())
    }

    /// Changes settings atomically, following Hyper-V's runtime rules.
    pub fn configure(&mut self, id: VmId, change: &VmChange) -> Result<()> {
        let pos = self.position(id)?;
        let running = self.at(pos).state() != VmState::Off;
        let old = self.at(pos).config();
        let change = if running { *change } else { self.release_change(change) };
        // A running static VM's startup is its memory: the release decides
        // whether it can change (`check_runtime_release`).
        let resizable = running && !old.dynamic;
        let new = old.apply(
            &change,
            self.mech.balloon_unit_mb,
            running,
            resizable,
            self.names.get(pos),
        )?;
        if running {
            self.check_runtime_release(pos, &old, &new)?;
        }
        self.check_release(&new, str::to_string)?;
        let old_floor = self.floor_at(pos);
        let v = &mut self.vms;
        v.touch(pos); // its target or memory may change
        if resizable && new.startup_mb != old.startup_mb {
            self.assigned_sum = self.assigned_sum - v.assigned[pos] as u64 + new.startup_mb as u64;
            v.assigned[pos] = new.startup_mb;
            v.visible[pos] = new.startup_mb;
        }
        v.startup[pos] = new.startup_mb;
        v.set_min_config(pos, new.minimum_mb);
        v.maximum[pos] = new.maximum_mb;
        v.buffer[pos] = new.buffer_pct;
        v.weight[pos] = new.weight;
        v.flags[pos] = (v.flags[pos] & STATE_MASK) | if new.dynamic { DYNAMIC } else { 0 };
        self.refloor(pos, old_floor); // the effective minimum, demand on the new floor
        Ok(())
    }

    // ----- demand ----------------------------------------------------------

    fn check_demand(field: &str, d: i64) -> Result<u32> {
        if d < 0 || d as u64 > MAX_DEMAND_MB {
            return Err(Error::config(
                field,
                d,
                &format!("must be between 0 and {MAX_DEMAND_MB} MB"),
            ));
        }
        Ok(d as u32)
    }

    /// Checks every demand (a branch-free pass; a second pass only to find
    /// the culprit), naming the first bad entry by `field(k)`.
    pub(crate) fn check_demands(demand_mb: &[i64], field: impl Fn(usize) -> String) -> Result<()> {
        // Negative values wrap above the limit.
        if demand_mb.iter().fold(false, |bad, &d| bad | (d as u64 > MAX_DEMAND_MB)) {
            let k = demand_mb.iter().position(|&d| d as u64 > MAX_DEMAND_MB).unwrap_or(0);
            return Err(Self::check_demand(&field(k), demand_mb[k]).unwrap_err());
        }
        Ok(())
    }

    pub fn set_demand(&mut self, id: VmId, demand_mb: i64) -> Result<()> {
        let pos = self.position(id)?;
        let d = Self::check_demand("demand_mb", demand_mb)?;
        self.vms.demand[pos] = d.saturating_add(self.floor_at(pos)); // as the guest reports it
        self.vms.touch(pos);
        Ok(())
    }

    /// Sets every VM's demand, in `host.vms` order; all or nothing.
    pub fn set_demands(&mut self, demand_mb: &[i64]) -> Result<()> {
        if demand_mb.len() != self.len() {
            return Err(Error::config(
                "demand_mb",
                demand_mb.len() as u64,
                &format!("must have one entry per VM ({}); length", self.len()),
            ));
        }
        Self::check_demands(demand_mb, |k| format!("demand_mb[{k}]"))?;
        self.load_demands(demand_mb, |d| d as u32);
        Ok(())
    }

    /// Every VM's demand, to write (each VM is marked as changed: see
    /// `Vms::touch`; `Host::load_demands` marks only where demand changed).
    pub(crate) fn vms_demand_mut(&mut self) -> &mut [u32] {
        self.vms.touch_all();
        &mut self.vms.demand
    }

    // ----- the balancer ----------------------------------------------------

    /// One balancing pass of `dt_s` seconds (see `docs/balancer.md`). Only
    /// an external policy can make a checked tick fail ([`ErrorKind::Policy`],
    /// or its own error): then nothing has changed.
    pub fn tick(&mut self, dt_s: f64) -> Result<()> {
        Host::check_dt(dt_s)?;
        self.tick_unchecked(dt_s)
    }

    /// The host's state, for snapshots (`snapshot/`): next id, names, columns.
    pub(crate) fn parts(&self) -> (u64, &Names, &Vms) {
        (self.next_id, &self.names, &self.vms)
    }

    /// A host from a snapshot's parts, which the caller has checked
    /// (`snapshot/`); Σ assigned is recomputed.
    pub(crate) fn from_parts(
        host: Host,
        time_s: f64,
        next_id: u64,
        names: Names,
        vms: Vms,
        files: Vec<PagingFile>,
    ) -> Host {
        let assigned_sum = vms.assigned.iter().map(|&a| a as u64).sum();
        let paging = SmartPaging { files, ..host.paging };
        let mut vms = vms;
        vms.touch_all(); // the marks are not kept: sample every VM once
        Host {
            time_s,
            next_id,
            names,
            assigned_sum,
            vms,
            paging,
            ..host
        }
    }

    /// Caps the tick's vector forms (by default the widest the CPU has).
    /// Results are identical whatever the cap; this exists for tests and for
    /// measuring each form.
    #[doc(hidden)]
    pub fn set_vector_cap(&mut self, cap: VectorCap) {
        self.balancer.vector_cap = cap;
    }

    /// Allows the sparse paths of a tick (on by default): a quiet tick of a
    /// host at rest costs `O(1)`, and one in which few 64-VM blocks changed
    /// visits only those (`balancer/blocks.rs`). Results are identical either way; this
    /// exists for tests that compare sparse and dense ticking, and for
    /// measuring both.
    #[doc(hidden)]
    pub fn set_sparse(&mut self, on: bool) {
        self.balancer.sparse = on;
    }

    /// Quiet ticks so far (`O(1)` ticks of a host at rest), for tests.
    #[cfg(test)]
    pub(crate) fn quiet_ticks(&self) -> u64 {
        self.balancer.quiet_ticks
    }

    /// Ticks so far that visited only the blocks of VMs not at rest, for tests.
    #[cfg(test)]
    pub(crate) fn block_ticks(&self) -> u64 {
        self.balancer.block_ticks()
    }

    /// Threads a tick may use: 0 (the default) means as many as the pool
    /// has (`par/pool.rs`: the CPUs, or `DYNMEM_THREADS`). Only hosts of at
    /// least [`PARALLEL_MIN_VMS`] VMs use more than one. Results are
    /// identical for any number.
    pub fn threads(&self) -> usize {
        self.balancer.threads
    }
    pub fn set_threads(&mut self, threads: usize) {
        self.balancer.threads = threads;
    }

    /// Lets hosts of `n` or more VMs tick in parts of at least `n / 2`, for
    /// tests that split small hosts.
    #[cfg(test)]
    pub(crate) fn set_parallel_min(&mut self, n: usize) {
        self.balancer.par_min = n;
    }

    /// Drops pass 1's guess of the contended stage (the next tick runs the
    /// floors pass), for tests that check the guess changes nothing.
    #[cfg(test)]
    pub(crate) fn forget_stage(&mut self) {
        self.balancer.forget_stage();
    }

    /// The VM columns, for tests that set up states no operation reaches
    /// quickly (counters near 2^32).
    #[cfg(test)]
    pub(crate) fn vms_mut(&mut self) -> &mut Vms {
        &mut self.vms
    }

    /// Every per-VM column and the host's scalars, exactly (f64 in
    /// round-trip form), for tests that compare two hosts.
    #[cfg(test)]
    pub(crate) fn state_dump(&self) -> String {
        format!(
            "{:?} {} {} {:?}",
            self.vms,
            self.time_s,
            self.assigned_sum,
            self.balancer.levels()
        )
    }

    pub(crate) fn check_dt(dt_s: f64) -> Result<()> {
        if !(dt_s.is_finite() && dt_s > 0.0 && dt_s <= MAX_DT_S) {
            return Err(Error::config("dt_s", dt_s, &format!("must be {DT_WHAT}")));
        }
        Ok(())
    }

    /// The tick without checking `dt_s`. An external policy is asked, and
    /// its answer checked, before anything changes.
    pub(crate) fn tick_unchecked(&mut self, dt_s: f64) -> Result<()> {
        if self.numa_strict() {
            return self.tick_on_nodes(dt_s);
        }
        let usable = self.physical_mb - self.reserve_mb;
        let external = match &self.policy {
            Policy::External(rule) => {
                let (view, positions) = view_after_boot(&self.vms, usable, &self.mech, dt_s, self.time_s)?;
                let pool = view.pool_mb;
                let answer = rule.allocate(pool, view)?;
                check_answer(&self.vms, &positions, pool, &answer, |i| self.names.get(i).to_string())?;
                Some((positions, answer))
            }
            _ => None,
        };
        let answer = external.as_ref().map(|(p, a)| (p.as_slice(), a.as_slice()));
        self.assigned_sum = self.balancer.tick(
            &mut self.vms,
            &Tick {
                usable_mb: usable,
                mech: &self.mech,
                rule: &self.policy,
                answer,
                dt_s,
                time_s: self.time_s,
            },
        );
        self.time_s += dt_s;
        if !self.paging.files.is_empty() {
            self.drain_smart_paging();
        }
        Ok(())
    }
}
