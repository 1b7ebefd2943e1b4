//! A host and its VMs, held as a struct of arrays, and the operations on
//! them: add, start, stop, remove, configure, demand, tick. `docs/balancer.md`
//! is the specification; every public operation either succeeds entirely or
//! returns an error having changed nothing.

use std::collections::HashMap;

use crate::config::{VmChange, VmConfig, VmSpec, MAX_DEMAND_MB};
use crate::error::{Error, ErrorKind, Result, Value};
use crate::policy::Policy;
use crate::solver;

/// Largest physical memory accepted (MB): 2^40.
pub const MAX_PHYSICAL_MB: u64 = 1 << 40;
/// Longest tick accepted (s): a day.
pub const MAX_DT_S: f64 = 86400.0;

/// A VM's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum VmState {
    Off = 0,
    /// Started, dynamic, guest driver not yet reporting: holds startup.
    Starting = 1,
    Running = 2,
}

impl VmState {
    pub fn as_str(self) -> &'static str {
        match self {
            VmState::Off => "off",
            VmState::Starting => "starting",
            VmState::Running => "running",
        }
    }
}

/// Memory status as Hyper-V Manager shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Ok = 0,
    Low = 1,
    Warning = 2,
    Off = 3,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Low => "low",
            Status::Warning => "warning",
            Status::Off => "off",
        }
    }
}

/// Hyper-V's per-VM counters ("Hyper-V Dynamic Memory VM").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VmCounters {
    pub added_memory_mb: u64,
    pub removed_memory_mb: u64,
    pub add_operations: u64,
    pub remove_operations: u64,
    pub physical_memory_mb: u64,
    pub guest_visible_physical_memory_mb: u64,
    pub current_pressure: f64,
    pub average_pressure: f64,
    pub minimum_pressure: f64,
    pub maximum_pressure: f64,
}

/// Hyper-V's host counters ("Hyper-V Dynamic Memory Balancer").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostCounters {
    pub available_memory_mb: i64,
    pub average_pressure: f64,
    pub system_current_pressure: f64,
}

/// Per-VM arrays, one entry per VM in `host.vms` order.
#[derive(Debug, Clone, Default)]
struct Vms {
    id: Vec<u64>,
    name: Vec<String>,
    config: Vec<VmConfig>,
    state: Vec<VmState>,
    demand: Vec<u32>,
    assigned: Vec<u32>,
    visible: Vec<u32>,
    boot_s: Vec<f64>,
    excess_s: Vec<f64>,
    added: Vec<u64>,
    removed: Vec<u64>,
    add_ops: Vec<u64>,
    remove_ops: Vec<u64>,
    p_sum: Vec<f64>,
    p_time: Vec<f64>,
    p_min: Vec<f64>,
    p_max: Vec<f64>,
}

macro_rules! each_column {
    ($vms:expr, $op:ident ( $($arg:expr),* )) => {{
        let v = $vms;
        v.id.$op($($arg),*); v.name.$op($($arg),*); v.config.$op($($arg),*);
        v.state.$op($($arg),*); v.demand.$op($($arg),*); v.assigned.$op($($arg),*);
        v.visible.$op($($arg),*); v.boot_s.$op($($arg),*); v.excess_s.$op($($arg),*);
        v.added.$op($($arg),*); v.removed.$op($($arg),*); v.add_ops.$op($($arg),*);
        v.remove_ops.$op($($arg),*); v.p_sum.$op($($arg),*); v.p_time.$op($($arg),*);
        v.p_min.$op($($arg),*); v.p_max.$op($($arg),*);
    }};
}

/// Scratch buffers reused across ticks.
#[derive(Debug, Clone, Default)]
struct Scratch {
    sel: Vec<usize>,
    base: Vec<u64>,
    caps: Vec<u64>,
    weights: Vec<u16>,
    extra: Vec<u64>,
    order: Vec<(u64, usize)>,
}

/// A Hyper-V host: physical memory, reserve, policy and its VMs.
#[derive(Debug, Clone)]
pub struct Host {
    physical_mb: u64,
    reserve_mb: u64,
    policy: Policy,
    time_s: f64,
    next_id: u64,
    index: HashMap<u64, usize>,
    vms: Vms,
    scratch: Scratch,
}

/// The 2008 R2 SP1 rule of thumb: 384 MB + 64 MB per GB of physical memory.
pub fn default_reserve_mb(physical_mb: u64) -> u64 {
    384 + 64 * physical_mb / 1024
}

#[inline]
fn floor_u(x: u64, u: u64) -> u64 {
    x - x % u
}
#[inline]
fn ceil_u(x: u64, u: u64) -> u64 {
    x.div_ceil(u) * u
}

/// `clamp(ceil_u(ceil(demand·(100+buffer)/100)), minimum, maximum)`.
#[inline]
pub fn target_of(demand: u32, c: &VmConfig, u: u64) -> u64 {
    let t = (demand as u64 * (100 + c.buffer_pct as u64)).div_ceil(100);
    ceil_u(t, u).clamp(c.minimum_mb as u64, c.maximum_mb as u64)
}

/// `clamp(ceil_u(demand), minimum, maximum)`.
#[inline]
fn demand_cap_of(demand: u32, c: &VmConfig, u: u64) -> u64 {
    ceil_u(demand as u64, u).clamp(c.minimum_mb as u64, c.maximum_mb as u64)
}

impl Host {
    /// A host with `physical_mb` of memory; `reserve_mb: None` applies
    /// [`default_reserve_mb`].
    pub fn new(physical_mb: i64, reserve_mb: Option<i64>, policy: Policy) -> Result<Host> {
        policy.validate()?;
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
        Ok(Host {
            physical_mb: physical,
            reserve_mb: reserve,
            policy,
            time_s: 0.0,
            next_id: 1,
            index: HashMap::new(),
            vms: Vms::default(),
            scratch: Scratch::default(),
        })
    }

    pub fn physical_mb(&self) -> u64 {
        self.physical_mb
    }
    pub fn reserve_mb(&self) -> u64 {
        self.reserve_mb
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn time_s(&self) -> f64 {
        self.time_s
    }
    pub fn len(&self) -> usize {
        self.vms.id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// VM ids in `host.vms` order.
    pub fn ids(&self) -> &[u64] {
        &self.vms.id
    }
    fn unit(&self) -> u64 {
        self.policy.balloon_unit_mb as u64
    }

    /// Position of VM `id`, or a `State` error for an unknown or removed VM.
    pub fn position(&self, id: u64) -> Result<usize> {
        self.index.get(&id).copied().ok_or_else(|| {
            Error::state(
                Some("vm"),
                id,
                format!("vm {id} is not on this host (removed, or from another host)"),
            )
        })
    }

    /// Id of the VM called `name`.
    pub fn find(&self, name: &str) -> Result<u64> {
        self.vms
            .name
            .iter()
            .position(|n| n == name)
            .map(|i| self.vms.id[i])
            .ok_or_else(|| Error::state(Some("name"), name, format!("name: no VM called {name:?} on this host")))
    }

    // ----- lifecycle -------------------------------------------------------

    /// Adds a VM (off). Returns its id.
    pub fn add_vm(&mut self, name: &str, spec: &VmSpec) -> Result<u64> {
        if name.trim().is_empty() {
            return Err(Error::config("name", name, "must be a non-empty string"));
        }
        if self.vms.name.iter().any(|n| n == name) {
            return Err(Error::config("name", name, "must be unique on the host; a VM of that name exists"));
        }
        let config = spec.validate(self.policy.balloon_unit_mb)?;
        let id = self.next_id;
        self.next_id += 1;
        let pos = self.len();
        let v = &mut self.vms;
        v.id.push(id);
        v.name.push(name.to_string());
        v.config.push(config);
        v.state.push(VmState::Off);
        for col in [&mut v.demand, &mut v.assigned, &mut v.visible] {
            col.push(0);
        }
        for col in [&mut v.added, &mut v.removed, &mut v.add_ops, &mut v.remove_ops] {
            col.push(0);
        }
        for col in [&mut v.boot_s, &mut v.excess_s, &mut v.p_sum, &mut v.p_time, &mut v.p_min, &mut v.p_max] {
            col.push(0.0);
        }
        self.index.insert(id, pos);
        Ok(id)
    }

    /// Removes an off VM; later VMs keep their relative order.
    pub fn remove_vm(&mut self, id: u64) -> Result<()> {
        let pos = self.position(id)?;
        if self.vms.state[pos] != VmState::Off {
            return Err(self.state_error(pos, "cannot be removed while it is running; stop it first"));
        }
        each_column!(&mut self.vms, remove(pos));
        self.index.remove(&id);
        for (p, vid) in self.vms.id.iter().enumerate().skip(pos) {
            self.index.insert(*vid, p);
        }
        Ok(())
    }

    fn state_error(&self, pos: usize, what: &str) -> Error {
        let state = self.vms.state[pos].as_str();
        Error::state(
            Some("state"),
            state,
            format!("VM '{}' {what} (state: {state})", self.vms.name[pos]),
        )
    }

    fn held_mb(&self) -> u64 {
        self.vms.assigned.iter().map(|&a| a as u64).sum()
    }

    /// Memory not assigned to any VM: physical − reserve − Σ assigned.
    pub fn available_mb(&self) -> i64 {
        self.physical_mb as i64 - self.reserve_mb as i64 - self.held_mb() as i64
    }

    /// Starts an off VM with its startup memory, ballooning running dynamic
    /// VMs of weight ≤ its own (lowest weight first, never below their
    /// minimum) if free memory is short. Fails having changed nothing.
    pub fn start(&mut self, id: u64) -> Result<()> {
        let pos = self.position(id)?;
        if self.vms.state[pos] != VmState::Off {
            return Err(self.state_error(pos, "is already started"));
        }
        let u = self.unit();
        let c = self.vms.config[pos];
        let startup = c.startup_mb as u64;
        let free = self.available_mb();
        let order = &mut self.scratch.order;
        order.clear();
        if free < startup as i64 {
            let short = ceil_u((startup as i64 - free) as u64, u);
            for j in 0..self.vms.id.len() {
                let cj = &self.vms.config[j];
                if self.vms.state[j] == VmState::Running && cj.dynamic && cj.weight <= c.weight {
                    order.push((cj.weight as u64, j));
                }
            }
            order.sort_unstable();
            let mut left = short;
            let mut give = 0u64;
            for &(_, j) in order.iter() {
                give += self.vms.assigned[j] as u64 - self.vms.config[j].minimum_mb as u64;
            }
            if give < short {
                let obtainable = (free.max(0) as u64).saturating_add(give);
                return Err(Error::new(
                    ErrorKind::InsufficientMemory,
                    Some("startup_mb"),
                    Value::from(startup),
                    format!(
                        "Not enough memory in the system to start the virtual machine '{}': \
                         startup_mb {startup} needed, {obtainable} MB obtainable",
                        self.vms.name[pos]
                    ),
                ));
            }
            for &(_, j) in order.iter() {
                if left == 0 {
                    break;
                }
                let can = self.vms.assigned[j] as u64 - self.vms.config[j].minimum_mb as u64;
                let take = can.min(left);
                if take > 0 {
                    self.vms.assigned[j] -= take as u32;
                    self.vms.removed[j] += take;
                    self.vms.remove_ops[j] += 1;
                    left -= take;
                }
            }
        }
        let v = &mut self.vms;
        v.state[pos] = if c.dynamic { VmState::Starting } else { VmState::Running };
        v.assigned[pos] = c.startup_mb;
        v.visible[pos] = c.startup_mb;
        v.boot_s[pos] = 0.0;
        v.excess_s[pos] = 0.0;
        Ok(())
    }

    /// Stops a started VM: its memory returns to the host at once.
    pub fn stop(&mut self, id: u64) -> Result<()> {
        let pos = self.position(id)?;
        if self.vms.state[pos] == VmState::Off {
            return Err(self.state_error(pos, "is not running"));
        }
        let v = &mut self.vms;
        v.state[pos] = VmState::Off;
        v.assigned[pos] = 0;
        v.visible[pos] = 0;
        v.boot_s[pos] = 0.0;
        v.excess_s[pos] = 0.0;
        Ok(())
    }

    /// Changes settings atomically, following Hyper-V's runtime rules.
    pub fn configure(&mut self, id: u64, change: &VmChange) -> Result<()> {
        let pos = self.position(id)?;
        let running = self.vms.state[pos] != VmState::Off;
        let new = self.vms.config[pos].apply(change, self.policy.balloon_unit_mb, running, &self.vms.name[pos])?;
        self.vms.config[pos] = new;
        Ok(())
    }

    // ----- demand ----------------------------------------------------------

    fn check_demand(field: &str, d: i64) -> Result<u32> {
        if d < 0 || d as u64 > MAX_DEMAND_MB {
            return Err(Error::config(field, d, &format!("must be between 0 and {MAX_DEMAND_MB} MB")));
        }
        Ok(d as u32)
    }

    pub fn set_demand(&mut self, id: u64, demand_mb: i64) -> Result<()> {
        let pos = self.position(id)?;
        self.vms.demand[pos] = Self::check_demand("demand_mb", demand_mb)?;
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
        if let Some((i, &d)) = demand_mb.iter().enumerate().find(|(_, &d)| d < 0 || d as u64 > MAX_DEMAND_MB) {
            return Err(Self::check_demand(&format!("demand_mb[{i}]"), d).unwrap_err());
        }
        self.set_demands_unchecked(demand_mb);
        Ok(())
    }

    // ----- reads -----------------------------------------------------------

    pub fn name(&self, pos: usize) -> &str {
        &self.vms.name[pos]
    }
    pub fn config(&self, pos: usize) -> &VmConfig {
        &self.vms.config[pos]
    }
    pub fn state(&self, pos: usize) -> VmState {
        self.vms.state[pos]
    }
    pub fn demand_mb(&self, pos: usize) -> u32 {
        self.vms.demand[pos]
    }
    pub fn assigned_mb(&self, pos: usize) -> u32 {
        self.vms.assigned[pos]
    }
    pub fn visible_mb(&self, pos: usize) -> u32 {
        self.vms.visible[pos]
    }
    pub fn demands(&self) -> &[u32] {
        &self.vms.demand
    }
    pub fn assigned(&self) -> &[u32] {
        &self.vms.assigned
    }
    pub fn visible(&self) -> &[u32] {
        &self.vms.visible
    }

    /// What the balancer aims to give the VM (see the spec).
    pub fn target_mb(&self, pos: usize) -> u64 {
        let c = &self.vms.config[pos];
        match self.vms.state[pos] {
            VmState::Off => 0,
            VmState::Starting => c.startup_mb as u64,
            VmState::Running if !c.dynamic => c.startup_mb as u64,
            VmState::Running => target_of(self.vms.demand[pos], c, self.unit()),
        }
    }

    /// demand / assigned × 100 (0 when off).
    pub fn pressure(&self, pos: usize) -> f64 {
        let a = self.vms.assigned[pos];
        if self.vms.state[pos] == VmState::Off || a == 0 {
            0.0
        } else {
            self.vms.demand[pos] as f64 / a as f64 * 100.0
        }
    }

    pub fn status(&self, pos: usize) -> Status {
        if self.vms.state[pos] == VmState::Off {
            return Status::Off;
        }
        let a = self.vms.assigned[pos] as u64;
        if a < self.vms.demand[pos] as u64 {
            Status::Warning
        } else if a < self.target_mb(pos) {
            Status::Low
        } else {
            Status::Ok
        }
    }

    /// Memory the guest pages inside itself: max(0, demand − assigned).
    pub fn paging_mb(&self, pos: usize) -> u64 {
        if self.vms.state[pos] == VmState::Off {
            return 0;
        }
        (self.vms.demand[pos] as u64).saturating_sub(self.vms.assigned[pos] as u64)
    }

    pub fn vm_counters(&self, pos: usize) -> VmCounters {
        let v = &self.vms;
        let t = v.p_time[pos];
        VmCounters {
            added_memory_mb: v.added[pos],
            removed_memory_mb: v.removed[pos],
            add_operations: v.add_ops[pos],
            remove_operations: v.remove_ops[pos],
            physical_memory_mb: v.assigned[pos] as u64,
            guest_visible_physical_memory_mb: v.visible[pos] as u64,
            current_pressure: self.pressure(pos),
            average_pressure: if t > 0.0 { v.p_sum[pos] / t } else { 0.0 },
            minimum_pressure: v.p_min[pos],
            maximum_pressure: v.p_max[pos],
        }
    }

    pub fn host_counters(&self) -> HostCounters {
        let (mut n, mut sum_p, mut sum_d, mut sum_a) = (0u64, 0.0f64, 0u64, 0u64);
        for pos in 0..self.len() {
            if self.vms.state[pos] != VmState::Off {
                n += 1;
                sum_p += self.pressure(pos);
                sum_d += self.vms.demand[pos] as u64;
                sum_a += self.vms.assigned[pos] as u64;
            }
        }
        HostCounters {
            available_memory_mb: self.available_mb(),
            average_pressure: if n > 0 { sum_p / n as f64 } else { 0.0 },
            system_current_pressure: if sum_a > 0 { sum_d as f64 / sum_a as f64 * 100.0 } else { 0.0 },
        }
    }

    // ----- the balancer ----------------------------------------------------

    /// One balancing pass of `dt_s` seconds (see `docs/balancer.md`).
    pub fn tick(&mut self, dt_s: f64) -> Result<()> {
        Host::check_dt(dt_s)?;
        self.tick_unchecked(dt_s);
        Ok(())
    }

    pub(crate) fn check_dt(dt_s: f64) -> Result<()> {
        if !(dt_s.is_finite() && dt_s > 0.0 && dt_s <= MAX_DT_S) {
            return Err(Error::config("dt_s", dt_s, &format!("must be a finite number of seconds in (0, {MAX_DT_S}]")));
        }
        Ok(())
    }

    /// Demands already validated, one per VM.
    pub(crate) fn set_demands_unchecked(&mut self, demand_mb: &[i64]) {
        for (dst, &d) in self.vms.demand.iter_mut().zip(demand_mb) {
            *dst = d as u32;
        }
    }

    pub(crate) fn tick_unchecked(&mut self, dt_s: f64) {
        let u = self.unit();
        let policy = self.policy.clone();
        let v = &mut self.vms;
        let s = &mut self.scratch;
        let n = v.id.len();

        // 1. Boot.
        for i in 0..n {
            if v.state[i] == VmState::Starting {
                v.boot_s[i] += dt_s;
                if v.boot_s[i] >= policy.boot_report_delay_s {
                    v.state[i] = VmState::Running;
                }
            }
        }

        // 2. Pool and the solver set.
        s.sel.clear();
        let mut held = 0u64;
        for i in 0..n {
            match v.state[i] {
                VmState::Off => {}
                VmState::Running if v.config[i].dynamic => s.sel.push(i),
                _ => held += v.assigned[i] as u64,
            }
        }
        let pool = floor_u((self.physical_mb - self.reserve_mb).saturating_sub(held), u);

        // 3. Allocation g = base + extra, where the stage picks base and caps.
        let (mut sum_t, mut sum_d, mut sum_m) = (0u64, 0u64, 0u64);
        for &i in &s.sel {
            let c = &v.config[i];
            sum_t += target_of(v.demand[i], c, u);
            sum_d += demand_cap_of(v.demand[i], c, u);
            sum_m += c.minimum_mb as u64;
        }
        let m = s.sel.len();
        s.base.clear();
        s.caps.clear();
        s.weights.clear();
        s.extra.clear();
        s.extra.resize(m, 0);
        let stage = if sum_t <= pool {
            0
        } else if sum_d <= pool {
            1
        } else {
            2
        };
        for &i in &s.sel {
            let c = &v.config[i];
            let (lo, hi) = match stage {
                0 => {
                    let t = target_of(v.demand[i], c, u);
                    (t, t)
                }
                1 => (demand_cap_of(v.demand[i], c, u), target_of(v.demand[i], c, u)),
                _ => (c.minimum_mb as u64, demand_cap_of(v.demand[i], c, u)),
            };
            s.base.push(lo);
            s.caps.push((hi - lo) / u);
            s.weights.push(c.weight);
        }
        if stage > 0 {
            let base_sum = if stage == 1 { sum_d } else { sum_m };
            let budget = pool.saturating_sub(base_sum) / u;
            solver::fill(budget, &s.caps, &s.weights, &mut s.extra, &mut s.order);
        }
        // g, stored in `base`.
        for k in 0..m {
            s.base[k] += s.extra[k] * u;
        }

        // 4. Mechanics.
        let mut assigned_sum = 0u64;
        let mut need = 0u64;
        for (k, &i) in s.sel.iter().enumerate() {
            let a = v.assigned[i] as u64;
            assigned_sum += a;
            need += s.base[k].saturating_sub(a);
        }
        let free = pool.saturating_sub(assigned_sum);
        if need > free {
            let mut short = need - free;
            s.order.clear();
            for (k, &i) in s.sel.iter().enumerate() {
                if v.assigned[i] as u64 > s.base[k] {
                    s.order.push(((v.config[i].weight as u64) << 32 | k as u64, i));
                }
            }
            s.order.sort_unstable();
            for &(key, i) in &s.order {
                if short == 0 {
                    break;
                }
                let k = (key & 0xffff_ffff) as usize;
                let take = (v.assigned[i] as u64 - s.base[k]).min(short);
                v.assigned[i] -= take as u32;
                v.removed[i] += take;
                v.remove_ops[i] += 1;
                short -= take;
            }
        }
        let lazy_step = u.max(floor_u((policy.remove_rate_mb_per_s * dt_s).floor() as u64, u));
        let chunk = policy.hot_add_chunk_mb as u64;
        for (k, &i) in s.sel.iter().enumerate() {
            let g = s.base[k];
            let a = v.assigned[i] as u64;
            if a > g {
                v.excess_s[i] += dt_s;
                if v.excess_s[i] >= policy.remove_delay_s {
                    let take = (a - g).min(lazy_step);
                    v.assigned[i] -= take as u32;
                    v.removed[i] += take;
                    v.remove_ops[i] += 1;
                }
            } else {
                v.excess_s[i] = 0.0;
                if a < g {
                    v.assigned[i] = g as u32;
                    v.added[i] += g - a;
                    v.add_ops[i] += 1;
                    let vis = v.visible[i] as u64;
                    if g > vis {
                        let max = v.config[i].maximum_mb as u64;
                        let grown = (vis + (g - vis).div_ceil(chunk) * chunk).min(max).max(g);
                        v.visible[i] = grown as u32;
                    }
                }
            }
        }

        // 5. Statistics.
        for i in 0..n {
            if v.state[i] == VmState::Off {
                continue;
            }
            let p = v.demand[i] as f64 / v.assigned[i] as f64 * 100.0;
            if v.p_time[i] == 0.0 {
                v.p_min[i] = p;
                v.p_max[i] = p;
            } else {
                v.p_min[i] = v.p_min[i].min(p);
                v.p_max[i] = v.p_max[i].max(p);
            }
            v.p_sum[i] += p * dt_s;
            v.p_time[i] += dt_s;
        }
        self.time_s += dt_s;
    }
}
