//! A host and its VMs, held as a struct of arrays, and the operations on
//! them: add, start, stop, remove, configure, demand, tick. `docs/balancer.md`
//! is the specification; every public operation either succeeds entirely or
//! returns an error having changed nothing.

use crate::config::{VmChange, VmConfig, VmSpec, MAX_DEMAND_MB, MAX_WEIGHT};
use crate::error::{Error, ErrorKind, Result, Value};
use crate::names::{first_repeat, Names, MAX_NAME_TEXT};
use crate::policy::Policy;
use crate::solver::{self, Scan};
use crate::tick::{self, Alloc, Filled, Mechanics, Sums, Targets, View};
use crate::VectorCap;

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

/// What is computed from a VM's settings and memory whenever it is read
/// (docs/balancer.md, "Status and counters").
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Live {
    pub target_mb: u64,
    pub pressure: f64,
    pub status: Status,
}

impl Live {
    #[inline(always)]
    fn of(
        flags: u8,
        demand: u32,
        assigned: u32,
        (startup, minimum, maximum): (u32, u32, u32),
        buffer: u16,
        u: u64,
    ) -> Live {
        if state_of(flags) == VmState::Off {
            return Live {
                target_mb: 0,
                pressure: 0.0,
                status: Status::Off,
            };
        }
        let target_mb = if in_solver(flags) {
            target_of(demand, buffer, minimum, maximum, u)
        } else {
            startup as u64
        };
        let a = assigned as u64;
        Live {
            target_mb,
            pressure: if a == 0 {
                0.0
            } else {
                demand as f64 / assigned as f64 * 100.0
            },
            status: if a < demand as u64 {
                Status::Warning
            } else if a < target_mb {
                Status::Low
            } else {
                Status::Ok
            },
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

/// A counter's value as Hyper-V reports it: a whole number (MB or a count)
/// or a real number (a pressure).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CounterValue {
    Int(i64),
    Real(f64),
}

impl VmCounters {
    /// Hyper-V's names of the per-VM counters, in the order of [`VmCounters::named`].
    pub const NAMES: [&'static str; 10] = [
        "Added Memory",
        "Removed Memory",
        "Memory Add Operations",
        "Memory Remove Operations",
        "Physical Memory",
        "Guest Visible Physical Memory",
        "Current Pressure",
        "Average Pressure",
        "Minimum Pressure",
        "Maximum Pressure",
    ];

    /// Every counter with Hyper-V's name for it (the one place the names are spelled).
    pub fn named(&self) -> [(&'static str, CounterValue); 10] {
        use CounterValue::{Int, Real};
        // Counters are at most 2^64 − 1 in principle; a VM would need 2^63 MB
        // moved to pass i64::MAX, so the conversion saturates rather than wraps.
        let int = |x: u64| Int(i64::try_from(x).unwrap_or(i64::MAX));
        let values = [
            int(self.added_memory_mb),
            int(self.removed_memory_mb),
            int(self.add_operations),
            int(self.remove_operations),
            int(self.physical_memory_mb),
            int(self.guest_visible_physical_memory_mb),
            Real(self.current_pressure),
            Real(self.average_pressure),
            Real(self.minimum_pressure),
            Real(self.maximum_pressure),
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }
}

impl HostCounters {
    /// Hyper-V's names of the host ("Balancer") counters, in the order of [`HostCounters::named`].
    pub const NAMES: [&'static str; 3] = ["Available Memory", "Average Pressure", "System Current Pressure"];

    /// Every counter with Hyper-V's name for it.
    pub fn named(&self) -> [(&'static str, CounterValue); 3] {
        let values = [
            CounterValue::Int(self.available_memory_mb),
            CounterValue::Real(self.average_pressure),
            CounterValue::Real(self.system_current_pressure),
        ];
        std::array::from_fn(|k| (Self::NAMES[k], values[k]))
    }
}

/// The per-VM Hyper-V counters that accumulate (u64, stored split: a u32
/// column plus sparse carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Counter {
    Added,
    Removed,
    AddOps,
    RemoveOps,
}

/// Adds the part of `sum` above its u32 low word to VM `id`'s carry of
/// counter `k` (see [`Vms::carries`]).
#[cold]
pub(crate) fn carry_to(carries: &mut std::collections::BTreeMap<(u64, Counter), u64>, id: u64, k: Counter, sum: u64) {
    *carries.entry((id, k)).or_insert(0) += sum & !(u32::MAX as u64);
}

/// Per-VM arrays, one entry per VM in `host.vms` order. The tick reads the
/// "hot" columns (flags to clock) in two streaming passes; the rest are
/// counters and names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vms {
    /// Ids in position order, as runs of consecutive ids (`ids.rs`).
    pub(crate) ids: crate::ids::Ids,
    /// Bits 0–1: [`VmState`]; bit 2: dynamic.
    pub(crate) flags: Vec<u8>,
    pub(crate) startup: Vec<u32>,
    pub(crate) minimum: Vec<u32>,
    pub(crate) maximum: Vec<u32>,
    pub(crate) buffer: Vec<u16>,
    pub(crate) weight: Vec<u16>,
    pub(crate) demand: Vec<u32>,
    pub(crate) assigned: Vec<u32>,
    pub(crate) visible: Vec<u32>,
    /// Boot clock while starting, excess clock while running (s).
    pub(crate) clock_s: Vec<f64>,
    /// The four Hyper-V counters as u32 low words; what carries out of a
    /// low word goes to `carries` (see [`Counter`]): a tick reads and writes
    /// 4 bytes per counter, and the counters stay exact u64.
    pub(crate) added: Vec<u32>,
    pub(crate) removed: Vec<u32>,
    pub(crate) add_ops: Vec<u32>,
    pub(crate) remove_ops: Vec<u32>,
    /// Σ of the carries out of each counter's low word, by (VM id, counter):
    /// empty until some VM's counter passes 2^32 − 1.
    pub(crate) carries: std::collections::BTreeMap<(u64, Counter), u64>,
    pub(crate) p_sum: Vec<f64>,
    /// Running time, kept against the host clock `T` so that ticks never
    /// touch it: while the VM is on, its running time is `T + run_mark`
    /// (`run_mark` = running time before this start − `T` at the start);
    /// while it is off, `run_mark` is its running time so far.
    pub(crate) run_mark: Vec<f64>,
    pub(crate) p_min: Vec<f64>,
    pub(crate) p_max: Vec<f64>,
}

impl Vms {
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The low words of counter `k`.
    pub(crate) fn counter_mut(&mut self, k: Counter) -> &mut Vec<u32> {
        match k {
            Counter::Added => &mut self.added,
            Counter::Removed => &mut self.removed,
            Counter::AddOps => &mut self.add_ops,
            Counter::RemoveOps => &mut self.remove_ops,
        }
    }

    /// Counter `k` of the VM at `pos` (exact u64).
    pub(crate) fn counter(&self, k: Counter, pos: usize) -> u64 {
        let lo = match k {
            Counter::Added => self.added[pos],
            Counter::Removed => self.removed[pos],
            Counter::AddOps => self.add_ops[pos],
            Counter::RemoveOps => self.remove_ops[pos],
        };
        let hi = if self.carries.is_empty() {
            0
        } else {
            self.carries.get(&(self.ids.get(pos), k)).copied().unwrap_or(0)
        };
        lo as u64 + hi
    }

    /// Adds `inc` to counter `k` of the VM at `pos`.
    #[inline]
    pub(crate) fn count(&mut self, k: Counter, pos: usize, inc: u64) {
        let col = self.counter_mut(k);
        let sum = col[pos] as u64 + inc;
        col[pos] = sum as u32;
        if sum >> 32 != 0 {
            self.carry(k, pos, sum);
        }
    }

    /// Moves the part of `sum` (a counter's new value before truncation to
    /// its u32 low word) above the low word into `carries`. Rare: once per
    /// 2^32 of a counter.
    pub(crate) fn carry(&mut self, k: Counter, pos: usize, sum: u64) {
        carry_to(&mut self.carries, self.ids.get(pos), k, sum);
    }

    /// Adds the carries a pass found (see [`View::carries`]).
    pub(crate) fn add_carries(&mut self, carries: tick::Carries) {
        for (id, k, sum) in carries {
            carry_to(&mut self.carries, id, k, sum);
        }
    }

    /// Pass 2 over every VM (in `parts` parts), its carries kept; returns
    /// Σ assigned afterwards.
    fn pass2(&mut self, m: &Mechanics, g: impl Alloc, simd: VectorCap, parts: usize) -> u64 {
        let (total, carries) = tick::pass2(View::of(self), m, g, simd, parts);
        self.add_carries(carries);
        total
    }

    /// Heap bytes of the columns (capacity, not just length).
    fn heap_bytes(&self) -> usize {
        fn b<T>(c: &Vec<T>) -> usize {
            c.capacity() * std::mem::size_of::<T>()
        }
        self.ids.heap_bytes()
            + b(&self.flags)
            + b(&self.startup)
            + b(&self.minimum)
            + b(&self.maximum)
            + b(&self.buffer)
            + b(&self.weight)
            + b(&self.demand)
            + b(&self.assigned)
            + b(&self.visible)
            + b(&self.clock_s)
            + b(&self.added)
            + b(&self.removed)
            + b(&self.add_ops)
            + b(&self.remove_ops)
            + b(&self.p_sum)
            + b(&self.run_mark)
            + b(&self.p_min)
            + b(&self.p_max)
            // A B-tree node per ~11 entries; ~48 B per entry is an upper bound.
            + self.carries.len() * 48
    }
}

macro_rules! each_column {
    ($vms:expr, $op:ident ( $($arg:expr),* )) => {{
        let v = $vms;
        v.flags.$op($($arg),*);
        v.startup.$op($($arg),*); v.minimum.$op($($arg),*); v.maximum.$op($($arg),*);
        v.buffer.$op($($arg),*); v.weight.$op($($arg),*);
        v.demand.$op($($arg),*); v.assigned.$op($($arg),*); v.visible.$op($($arg),*);
        v.clock_s.$op($($arg),*); v.added.$op($($arg),*); v.removed.$op($($arg),*);
        v.add_ops.$op($($arg),*); v.remove_ops.$op($($arg),*); v.p_sum.$op($($arg),*);
        v.run_mark.$op($($arg),*); v.p_min.$op($($arg),*); v.p_max.$op($($arg),*);
    }};
}

pub(crate) const DYNAMIC: u8 = 4;
pub(crate) const STATE_MASK: u8 = 3;

#[inline(always)]
fn state_of(flags: u8) -> VmState {
    match flags & STATE_MASK {
        0 => VmState::Off,
        1 => VmState::Starting,
        _ => VmState::Running,
    }
}

/// Running and dynamic: in the solver set.
#[inline(always)]
pub(crate) fn in_solver(flags: u8) -> bool {
    flags == VmState::Running as u8 | DYNAMIC
}

/// Scratch buffers reused across ticks (no allocation in steady state).
/// Under contention the solver works on full-length columns (one entry per
/// VM, capacity 0 for VMs outside the solver set), so no compaction or
/// index indirection is needed: `g = floor + (extra << log2 u)`, the floor
/// (demand cap or minimum) computed from the columns.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Each solver VM's target (MB), written by pass 1; under contention,
    /// once the rooms are known, the solver's list of items (`keys`).
    target: Vec<u32>,
    /// Room above the floor per VM, in balloon units; the solver replaces
    /// each by the units it gives the VM above its floor (`extra`).
    caps: Vec<u32>,
    /// Excess memory per weight, for prompt removal (lowest weight first).
    excess_by_weight: Vec<u64>,
    /// The solver's last water level in stages 1 and 2: the next tick's first guess.
    levels: [Option<(bool, u64)>; 2],
    /// The last tick's stage when it was contended (`Some(demand_stage)`):
    /// pass 1's guess for this tick (see [`tick::Pass1`]).
    stage: Option<bool>,
}

/// A Hyper-V host: physical memory, reserve, policy and its VMs.
#[derive(Debug, Clone)]
pub struct Host {
    physical_mb: u64,
    reserve_mb: u64,
    policy: Policy,
    time_s: f64,
    next_id: u64,
    /// VM names in position order, with an index from name to position.
    names: Names,
    /// Σ assigned over all VMs, kept exact by every operation.
    assigned_sum: u64,
    vms: Vms,
    scratch: Scratch,
    /// The widest vector forms the tick may use (tests lower it to compare;
    /// results are identical either way).
    simd: VectorCap,
    /// Threads a tick may use (0: as many as the pool has). Results are
    /// identical for any number.
    threads: usize,
    /// Hosts of fewer VMs than this tick on one thread, and a part has at
    /// least half this many (tests lower it to split small hosts).
    par_min: usize,
}

/// Hosts of at least this many VMs tick on several threads, in parts of at
/// least half as many (a part of 16k VMs takes ~30 µs, well above the cost
/// of handing it to another thread).
pub const PARALLEL_MIN_VMS: usize = 32_768;

/// The 2008 R2 SP1 rule of thumb: 384 MB + 64 MB per GB of physical memory.
pub fn default_reserve_mb(physical_mb: u64) -> u64 {
    384 + 64 * physical_mb / 1024
}

// `u` (the balloon unit) is a power of two: rounding is a mask.
#[inline(always)]
fn floor_u(x: u64, u: u64) -> u64 {
    x & !(u - 1)
}
#[inline(always)]
fn ceil_u(x: u64, u: u64) -> u64 {
    (x + u - 1) & !(u - 1)
}

/// `clamp(ceil_u(ceil(demand·(100+buffer)/100)), minimum, maximum)`.
#[inline(always)]
pub fn target_of(demand: u32, buffer_pct: u16, minimum: u32, maximum: u32, u: u64) -> u64 {
    let t = (demand as u64 * (100 + buffer_pct as u64)).div_ceil(100);
    ceil_u(t, u).clamp(minimum as u64, maximum as u64)
}

/// `ceil(demand·(100+buffer)/100)` in f64, as the vector forms compute it
/// (there is no 64-bit vector divide): the product is an integer below
/// 2^44, exact; `(x + 99.5)·0.01` lies at least 0.005 from every integer
/// and is computed with an absolute error below 10⁻⁴ at these magnitudes,
/// so its truncation is exact. The tests check it against the integer form.
#[cfg(test)]
pub(crate) fn ceil_pct_f64(demand: u32, buffer_pct: u16) -> u64 {
    let x = demand as f64 * (100 + buffer_pct as u32) as f64;
    ((x + 99.5) * 0.01) as u64
}

/// `clamp(ceil_u(demand), minimum, maximum)`.
#[inline(always)]
pub(crate) fn demand_cap_of(demand: u32, minimum: u32, maximum: u32, u: u64) -> u64 {
    ceil_u(demand as u64, u).clamp(minimum as u64, maximum as u64)
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
            names: Names::default(),
            assigned_sum: 0,
            vms: Vms::default(),
            scratch: Scratch::default(),
            simd: VectorCap::Avx512,
            threads: 0,
            par_min: PARALLEL_MIN_VMS,
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
        self.vms.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Heap memory the host holds: its VM columns, names and name index,
    /// and the solver's scratch (which grows to one entry per VM the first
    /// time memory is contended). Capacities, so what is really allocated.
    pub fn heap_bytes(&self) -> usize {
        let s = &self.scratch;
        self.vms.heap_bytes()
            + self.names.heap_bytes()
            + (s.target.capacity() + s.caps.capacity()) * 4
            + s.excess_by_weight.capacity() * 8
    }

    /// VM ids in `host.vms` order.
    pub fn ids(&self) -> Vec<u64> {
        self.vms.ids.to_vec()
    }
    fn unit(&self) -> u64 {
        self.policy.balloon_unit_mb as u64
    }

    /// Position of VM `id`, or a `State` error for an unknown or removed VM:
    /// a binary search over the runs of consecutive ids (`ids.rs`; one run
    /// until VMs are removed). No per-VM index to keep.
    pub fn position(&self, id: u64) -> Result<usize> {
        self.vms.ids.position(id).ok_or_else(|| {
            Error::state(
                Some("vm"),
                id,
                format!("vm {id} is not on this host (removed, or from another host)"),
            )
        })
    }

    /// Id of the VM called `name`.
    pub fn find(&self, name: &str) -> Result<u64> {
        self.names
            .find(name)
            .map(|pos| self.vms.ids.get(pos))
            .ok_or_else(|| Error::state(Some("name"), name, format!("name: no VM called {name:?} on this host")))
    }

    // ----- lifecycle -------------------------------------------------------

    /// Adds a VM (off). Returns its id.
    pub fn add_vm(&mut self, name: &str, spec: &VmSpec) -> Result<u64> {
        self.check_name(name, || "name".to_string())?;
        self.check_name_text("name", name.len())?;
        let c = spec.validate(self.policy.balloon_unit_mb)?;
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
    /// e.g. `startup_mb[3]`.
    pub fn add_vms<S: AsRef<str>>(&mut self, names: &[S], specs: &[VmSpec]) -> Result<Vec<u64>> {
        assert_eq!(names.len(), specs.len());
        let mut configs = Vec::with_capacity(specs.len());
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
            let c = spec.validate(self.policy.balloon_unit_mb).map_err(|e| {
                let field = format!("{}[{k}]", e.field.as_deref().unwrap_or("vm"));
                let message = e.message.replacen(e.field.as_deref().unwrap_or("vm"), &field, 1);
                Error {
                    field: Some(field),
                    message,
                    ..e
                }
            })?;
            configs.push(c);
        }
        let text: usize = names.iter().map(|n| n.as_ref().len()).sum();
        self.check_name_text("names", text)?;
        self.reserve(names.len(), text);
        Ok(names
            .iter()
            .zip(configs)
            .map(|(name, c)| self.push_vm(name.as_ref(), c))
            .collect())
    }

    fn reserve(&mut self, extra: usize, text: usize) {
        each_column!(&mut self.vms, reserve(extra));
        self.names.reserve(extra, text);
    }

    fn push_vm(&mut self, name: &str, c: VmConfig) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let v = &mut self.vms;
        v.ids.push(id);
        v.flags.push(if c.dynamic { DYNAMIC } else { 0 });
        v.startup.push(c.startup_mb);
        v.minimum.push(c.minimum_mb);
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
        for col in [&mut v.clock_s, &mut v.p_sum, &mut v.run_mark, &mut v.p_max] {
            col.push(0.0);
        }
        // No sample yet: the first one will be the minimum (reads as 0 until then).
        v.p_min.push(f64::INFINITY);
        self.names.push(name);
        id
    }

    /// Removes an off VM; later VMs keep their relative order.
    pub fn remove_vm(&mut self, id: u64) -> Result<()> {
        let pos = self.position(id)?;
        if self.state(pos) != VmState::Off {
            return Err(self.state_error(pos, "cannot be removed while it is running; stop it first"));
        }
        self.names.remove(pos);
        let v = &mut self.vms;
        if !v.carries.is_empty() {
            v.carries.retain(|&(vm, _), _| vm != id);
        }
        each_column!(&mut *v, remove(pos));
        v.ids.remove(pos);
        Ok(())
    }

    fn state_error(&self, pos: usize, what: &str) -> Error {
        let state = self.state(pos).as_str();
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

    /// Balloons `take` MB out of VM `j` (a removal operation).
    #[inline]
    fn balloon(v: &mut Vms, j: usize, take: u64) {
        v.assigned[j] -= take as u32;
        v.count(Counter::Removed, j, take);
        v.count(Counter::RemoveOps, j, 1);
    }

    /// Starts an off VM with its startup memory, ballooning running dynamic
    /// VMs of weight ≤ its own (lowest weight first, ties by position, never
    /// below their minimum) if free memory is short. Fails having changed
    /// nothing.
    pub fn start(&mut self, id: u64) -> Result<()> {
        let pos = self.position(id)?;
        if self.state(pos) != VmState::Off {
            return Err(self.state_error(pos, "is already started"));
        }
        match self.start_positions(&[pos]).pop() {
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
    pub fn start_many(&mut self, ids: &[u64]) -> Result<Vec<(usize, Error)>> {
        let positions = self.batch_positions(ids, false)?;
        Ok(self.start_positions(&positions))
    }

    /// Ids of the VMs that are off (`off`), or started (not off), in order.
    pub fn ids_where_off(&self, off: bool) -> Vec<u64> {
        let v = &self.vms;
        v.flags
            .iter()
            .zip(v.ids.iter())
            .filter(|&(&f, _)| (f & STATE_MASK == VmState::Off as u8) == off)
            .map(|(_, id)| id)
            .collect()
    }

    /// Positions of a batch of distinct VMs that are all started (`started`)
    /// or all off; errors name the entry, `vms[k]`.
    fn batch_positions(&self, ids: &[u64], started: bool) -> Result<Vec<usize>> {
        let mut positions = Vec::with_capacity(ids.len());
        let mut seen = vec![false; self.len()];
        for (k, &id) in ids.iter().enumerate() {
            let pos = self.position(id)?;
            if (self.state(pos) != VmState::Off) != started {
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

    /// The start of validated, distinct, off VMs, in order. Returns the
    /// starts that failed (index into `positions`, error); the others started.
    fn start_positions(&mut self, positions: &[usize]) -> Vec<(usize, Error)> {
        let mut failed = Vec::new();
        let u = self.unit();
        let mut free = self.available_mb();
        // Donors sorted by (weight, position), with what each can give;
        // prefix sums of that.
        let mut donors: Vec<(u16, u32, u32)> = Vec::new();
        let mut prefix: Vec<u64> = Vec::new();
        let mut sorted = false;
        let (mut cursor, mut taken_at_cursor) = (0usize, 0u64);
        for (k, &pos) in positions.iter().enumerate() {
            let startup = self.vms.startup[pos] as u64;
            let weight = self.vms.weight[pos];
            if free < startup as i64 {
                if !sorted {
                    let v = &self.vms;
                    // By (weight, position) with a counting sort: O(N + W). The
                    // scatter gathers what each can give, so that the prefix sums
                    // run over `donors` in order instead of jumping around the host.
                    let can_give = |j: usize| in_solver(v.flags[j]) && v.assigned[j] > v.minimum[j];
                    let mut at = vec![0usize; MAX_WEIGHT as usize + 2];
                    for j in (0..v.len()).filter(|&j| can_give(j)) {
                        at[v.weight[j] as usize + 1] += 1;
                    }
                    for w in 1..at.len() {
                        at[w] += at[w - 1];
                    }
                    donors = vec![(0, 0, 0); at[MAX_WEIGHT as usize + 1]];
                    for j in (0..v.len()).filter(|&j| can_give(j)) {
                        let w = v.weight[j];
                        donors[at[w as usize]] = (w, j as u32, v.assigned[j] - v.minimum[j]);
                        at[w as usize] += 1;
                    }
                    prefix.reserve(donors.len() + 1);
                    prefix.push(0);
                    let mut acc = 0u64;
                    for &(_, _, give) in &donors {
                        acc += give as u64;
                        prefix.push(acc);
                    }
                    sorted = true;
                }
                let short = ceil_u((startup as i64 - free) as u64, u);
                let end = donors.partition_point(|&(w, _, _)| w <= weight);
                let give = if end > cursor {
                    prefix[end] - prefix[cursor] - taken_at_cursor
                } else {
                    0
                };
                if give < short {
                    let obtainable = (free.max(0) as u64).saturating_add(give);
                    failed.push((
                        k,
                        Error::new(
                            ErrorKind::InsufficientMemory,
                            Some("startup_mb"),
                            Value::from(startup),
                            format!(
                                "Not enough memory in the system to start the virtual machine '{}': \
                             startup_mb {startup} needed, {obtainable} MB obtainable",
                                self.names.get(pos)
                            ),
                        ),
                    ));
                    continue;
                }
                let mut left = short;
                while left > 0 {
                    let j = donors[cursor].1 as usize;
                    let can = donors[cursor].2 as u64 - taken_at_cursor;
                    let take = can.min(left);
                    Self::balloon(&mut self.vms, j, take);
                    self.assigned_sum -= take;
                    left -= take;
                    if take == can {
                        cursor += 1;
                        taken_at_cursor = 0;
                    } else {
                        taken_at_cursor += take;
                    }
                }
                free += short as i64;
            }
            let v = &mut self.vms;
            let started = if v.flags[pos] & DYNAMIC != 0 {
                VmState::Starting
            } else {
                VmState::Running
            };
            v.flags[pos] = (v.flags[pos] & !STATE_MASK) | started as u8;
            v.assigned[pos] = startup as u32;
            v.visible[pos] = startup as u32;
            v.clock_s[pos] = 0.0;
            v.run_mark[pos] -= self.time_s; // running time = T + run_mark from now on
            self.assigned_sum += startup;
            free -= startup as i64;
        }
        failed
    }

    /// Stops a started VM: its memory returns to the host at once.
    pub fn stop(&mut self, id: u64) -> Result<()> {
        let pos = self.position(id)?;
        if self.state(pos) == VmState::Off {
            return Err(self.state_error(pos, "is not running"));
        }
        let v = &mut self.vms;
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
    pub fn stop_many(&mut self, ids: &[u64]) -> Result<()> {
        self.batch_positions(ids, true)?;
        for &id in ids {
            self.stop(id)?;
        }
        Ok(())
    }

    /// Changes settings atomically, following Hyper-V's runtime rules.
    pub fn configure(&mut self, id: u64, change: &VmChange) -> Result<()> {
        let pos = self.position(id)?;
        let running = self.state(pos) != VmState::Off;
        let new = self
            .config(pos)
            .apply(change, self.policy.balloon_unit_mb, running, self.names.get(pos))?;
        let v = &mut self.vms;
        v.startup[pos] = new.startup_mb;
        v.minimum[pos] = new.minimum_mb;
        v.maximum[pos] = new.maximum_mb;
        v.buffer[pos] = new.buffer_pct;
        v.weight[pos] = new.weight;
        v.flags[pos] = (v.flags[pos] & STATE_MASK) | if new.dynamic { DYNAMIC } else { 0 };
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
        Self::check_demands(demand_mb, |k| format!("demand_mb[{k}]"))?;
        for (dst, &d) in self.vms.demand.iter_mut().zip(demand_mb) {
            *dst = d as u32;
        }
        Ok(())
    }

    pub(crate) fn vms_demand_mut(&mut self) -> &mut [u32] {
        &mut self.vms.demand
    }

    // ----- reads -----------------------------------------------------------

    pub fn name(&self, pos: usize) -> &str {
        self.names.get(pos)
    }
    pub fn config(&self, pos: usize) -> VmConfig {
        let v = &self.vms;
        VmConfig {
            startup_mb: v.startup[pos],
            minimum_mb: v.minimum[pos],
            maximum_mb: v.maximum[pos],
            buffer_pct: v.buffer[pos],
            weight: v.weight[pos],
            dynamic: v.flags[pos] & DYNAMIC != 0,
        }
    }
    pub fn state(&self, pos: usize) -> VmState {
        state_of(self.vms.flags[pos])
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
        self.live(pos).target_mb
    }

    /// demand / assigned × 100 (0 when off).
    pub fn pressure(&self, pos: usize) -> f64 {
        self.live(pos).pressure
    }

    pub fn status(&self, pos: usize) -> Status {
        self.live(pos).status
    }

    /// Target, current pressure and status of the VM at `pos`, as of now.
    pub(crate) fn live(&self, pos: usize) -> Live {
        let v = &self.vms;
        Live::of(
            v.flags[pos],
            v.demand[pos],
            v.assigned[pos],
            (v.startup[pos], v.minimum[pos], v.maximum[pos]),
            v.buffer[pos],
            self.unit(),
        )
    }

    /// [`Host::live`] of every VM, in order, into `out` (one streaming pass).
    pub(crate) fn live_all(&self, mut out: impl FnMut(Live)) {
        let v = &self.vms;
        let n = v.len();
        let u = self.unit();
        let (flags, demand, assigned) = (&v.flags[..n], &v.demand[..n], &v.assigned[..n]);
        let (startup, minimum, maximum, buffer) = (&v.startup[..n], &v.minimum[..n], &v.maximum[..n], &v.buffer[..n]);
        for i in 0..n {
            let sizes = (startup[i], minimum[i], maximum[i]);
            out(Live::of(flags[i], demand[i], assigned[i], sizes, buffer[i], u));
        }
    }

    /// Memory the guest pages inside itself: max(0, demand − assigned).
    pub fn paging_mb(&self, pos: usize) -> u64 {
        if self.state(pos) == VmState::Off {
            return 0;
        }
        (self.vms.demand[pos] as u64).saturating_sub(self.vms.assigned[pos] as u64)
    }

    /// Seconds VM `pos` has been on (starting or running) over its life, as
    /// sampled by the ticks: the host clock since its last start plus the
    /// earlier runs (see `Vms::run_mark`).
    pub fn running_s(&self, pos: usize) -> f64 {
        let mark = self.vms.run_mark[pos];
        if self.state(pos) == VmState::Off {
            mark
        } else {
            self.time_s + mark
        }
    }

    pub fn vm_counters(&self, pos: usize) -> VmCounters {
        let v = &self.vms;
        let t = self.running_s(pos);
        VmCounters {
            added_memory_mb: v.counter(Counter::Added, pos),
            removed_memory_mb: v.counter(Counter::Removed, pos),
            add_operations: v.counter(Counter::AddOps, pos),
            remove_operations: v.counter(Counter::RemoveOps, pos),
            physical_memory_mb: v.assigned[pos] as u64,
            guest_visible_physical_memory_mb: v.visible[pos] as u64,
            current_pressure: self.pressure(pos),
            average_pressure: if t > 0.0 { v.p_sum[pos] / t } else { 0.0 },
            // +inf until the first sample.
            minimum_pressure: if v.p_min[pos].is_finite() { v.p_min[pos] } else { 0.0 },
            maximum_pressure: v.p_max[pos],
        }
    }

    pub fn host_counters(&self) -> HostCounters {
        let (mut n, mut sum_p, mut sum_d, mut sum_a) = (0u64, 0.0f64, 0u64, 0u64);
        for pos in 0..self.len() {
            if self.state(pos) != VmState::Off {
                n += 1;
                sum_p += self.pressure(pos);
                sum_d += self.vms.demand[pos] as u64;
                sum_a += self.vms.assigned[pos] as u64;
            }
        }
        HostCounters {
            available_memory_mb: self.available_mb(),
            average_pressure: if n > 0 { sum_p / n as f64 } else { 0.0 },
            system_current_pressure: if sum_a > 0 {
                sum_d as f64 / sum_a as f64 * 100.0
            } else {
                0.0
            },
        }
    }

    // ----- the balancer ----------------------------------------------------

    /// One balancing pass of `dt_s` seconds (see `docs/balancer.md`).
    pub fn tick(&mut self, dt_s: f64) -> Result<()> {
        Host::check_dt(dt_s)?;
        self.tick_unchecked(dt_s);
        Ok(())
    }

    /// Caps the tick's vector forms (by default the widest the CPU has).
    /// Results are identical whatever the cap; this exists for tests and for
    /// measuring each form.
    #[doc(hidden)]
    pub fn set_vector_cap(&mut self, cap: VectorCap) {
        self.simd = cap;
    }

    /// Threads a tick may use: 0 (the default) means as many as the pool
    /// has (`pool.rs`: the CPUs, or `DYNMEM_THREADS`). Only hosts of at
    /// least [`PARALLEL_MIN_VMS`] VMs use more than one. Results are
    /// identical for any number.
    pub fn threads(&self) -> usize {
        self.threads
    }
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads;
    }

    /// How many parts a tick's passes over `n` VMs run in.
    fn parts(&self, n: usize) -> usize {
        if n < self.par_min {
            return 1;
        }
        let threads = if self.threads == 0 {
            crate::pool::threads()
        } else {
            self.threads
        };
        threads.min(n / (self.par_min / 2).max(1)).max(1)
    }

    /// Lets hosts of `n` or more VMs tick in parts of at least `n / 2`, for
    /// tests that split small hosts.
    #[cfg(test)]
    pub(crate) fn set_parallel_min(&mut self, n: usize) {
        self.par_min = n;
    }

    /// Drops pass 1's guess of the contended stage (the next tick runs the
    /// floors pass), for tests that check the guess changes nothing.
    #[cfg(test)]
    pub(crate) fn forget_stage(&mut self) {
        self.scratch.stage = None;
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
            self.vms, self.time_s, self.assigned_sum, self.scratch.levels
        )
    }

    pub(crate) fn check_dt(dt_s: f64) -> Result<()> {
        if !(dt_s.is_finite() && dt_s > 0.0 && dt_s <= MAX_DT_S) {
            return Err(Error::config(
                "dt_s",
                dt_s,
                &format!("must be a finite number of seconds in (0, {MAX_DT_S}]"),
            ));
        }
        Ok(())
    }

    /// The tick (`tick.rs` has the passes). When every target fits it is two
    /// streaming passes over the VM columns: pass 1 advances boot clocks and
    /// sums targets, demand caps, minimums, assigned memory and the
    /// shortfall; pass 2 applies the mechanics (prompt and lazy removal,
    /// adds, hot-add) and the pressure statistics. Under contention every
    /// VM's room above the stage's floor (full-length columns, 0 outside the
    /// solver set) comes from pass 1, when the last tick was contended in
    /// the same stage, or else from one more pass; then the solver's 3–4
    /// probe passes and its hand-out (see `solver.rs`), then pass 2. `O(N)` per pass, no allocation in
    /// steady state; on AVX-512 CPUs passes 1 and 2 take 16 VMs per step
    /// (u32 lanes) and the others 8, on AVX2 ones 4; hosts of
    /// [`PARALLEL_MIN_VMS`] or more run every pass in parts on several
    /// threads (`pool.rs`).
    pub(crate) fn tick_unchecked(&mut self, dt_s: f64) {
        let u = self.unit();
        let simd = self.simd;
        let parts = self.parts(self.vms.len());
        let v = &mut self.vms;
        let s = &mut self.scratch;
        // Pass 1 stores every solver VM's target (the floors and pass 2 read
        // it) and, if the last tick was contended, the same stage's rooms.
        let guess = s.stage;
        s.target.resize(v.len(), 0);
        if guess.is_some() {
            s.caps.resize(v.len(), 0);
        }
        let p = tick::Pass1 {
            dt_s,
            boot_delay: self.policy.boot_report_delay_s,
            u,
            target: &mut s.target,
            stage: guess,
            caps: &mut s.caps,
            sums: Sums::default(),
            scan: Scan::default(),
        };
        let (sums, pre_scan) = tick::pass1(View::of(v), p, simd, parts);
        let (held, sum_t, sum_d, sum_m, sum_a, need_t) =
            (sums.held, sums.sum_t, sums.sum_d, sums.sum_m, sums.sum_a, sums.need_t);
        let pool = floor_u((self.physical_mb - self.reserve_mb).saturating_sub(held), u);
        let free = pool.saturating_sub(sum_a);

        let policy = &self.policy;
        let step = u.max(floor_u((policy.remove_rate_mb_per_s * dt_s).floor() as u64, u));
        let mech = Mechanics {
            prompt_all: false,
            dt_s,
            remove_delay_s: policy.remove_delay_s,
            lazy_step: step,
            chunk: policy.hot_add_chunk_mb as u64,
        };

        if sum_t <= pool {
            // Every target fits: g = target (stage 0).
            self.scratch.stage = None;
            let g = Targets {
                target: &self.scratch.target,
            };
            let mut prompt_all = false;
            if need_t > free {
                // The adds need more than free memory: balloon the excess of
                // others at once. All of it when that is what the adds need
                // (pass 2 then does it on its way); else lowest weight first.
                let excess = excess_over(v, g);
                prompt_all = need_t - free >= excess;
                if !prompt_all {
                    prompt_removal(v, &mut self.scratch.excess_by_weight, need_t - free, g);
                }
            }
            self.assigned_sum = v.pass2(&Mechanics { prompt_all, ..mech }, g, simd, parts);
        } else {
            let s = &mut self.scratch;
            // Stage 1 when the demand caps fit (buffers are filled), else 2.
            let demand_stage = sum_d <= pool;
            // Pass 1's rooms and scan if it guessed this stage; else the floors pass.
            let scan = (guess == Some(demand_stage)).then_some(pre_scan);
            s.stage = Some(demand_stage);
            let shift = allocate(v, s, pool, u, demand_stage, (sum_d, sum_m), scan, (simd, parts));
            let g = Filled {
                demand_stage,
                u,
                extra: &s.caps,
                shift,
            };
            // The water-filling hands out the whole pool (Σ g = pool), so the
            // adds need exactly free memory plus all the excess: prompt removal
            // takes all of it, in pass 2. Only when the solver set already
            // holds more than the pool (free = 0 < Σ assigned − pool) do the
            // adds need less than the excess: then lowest weight first, here.
            let mut prompt_all = true;
            if sum_a > pool {
                let need = need_under(v, g);
                if need > 0 {
                    prompt_removal(v, &mut s.excess_by_weight, need, g);
                }
                prompt_all = false;
            }
            self.assigned_sum = v.pass2(&Mechanics { prompt_all, ..mech }, g, simd, parts);
        }
        self.time_s += dt_s;
    }
}

/// Stages 1 and 2 (targets do not fit): for every VM the room above the
/// stage's floor (`caps`, units; 0 outside the solver set) and its scan, from
/// pass 1 (`scan` is `Some`) or a pass of its own; then water-fills the pool
/// above the floors into `extra`, and returns `log2 u`: solver VM `i` gets
/// `floor_i + (extra[i] << log2 u)` ([`Filled`]). At most one pass here, then
/// the solver's probes and hand-out (see `solver.rs`): `O(N · passes)`, no
/// allocation once the scratch has grown to `N`.
#[allow(clippy::too_many_arguments)]
fn allocate(
    v: &mut Vms,
    s: &mut Scratch,
    pool: u64,
    u: u64,
    demand_stage: bool,
    (sum_d, sum_m): (u64, u64),
    scan: Option<Scan>,
    (simd, parts): (VectorCap, usize),
) -> u32 {
    let n = v.len();
    let shift = u.trailing_zeros();
    s.caps.resize(n, 0);
    let scan = scan.unwrap_or_else(|| tick::floors(View::of(v), &s.target, &mut s.caps, u, demand_stage, simd, parts));
    // Every way of building the rooms' scan (pass 1's guess, the floors pass,
    // in parts or not) must give the scan of the rooms.
    #[cfg(test)]
    assert_eq!(scan, Scan::of(&s.caps, &v.weight), "scan of the rooms");
    let base_sum = if demand_stage { sum_d } else { sum_m };
    let budget = pool.saturating_sub(base_sum) >> shift;
    let level = &mut s.levels[usize::from(!demand_stage)];
    // In place: each room becomes the units given above the floor. The
    // solver's list of items stepping up at L + 1 takes the targets' buffer
    // (no longer needed this tick: pass 2 computes g from the floors).
    solver::fill_scanned_with(
        budget,
        &mut s.caps,
        &v.weight,
        scan,
        &mut s.target,
        level,
        (simd, parts),
    );
    shift
}

/// Σ max(0, assigned − g) over the solver set.
fn excess_over(v: &Vms, g: impl Alloc) -> u64 {
    (0..v.len())
        .filter(|&i| in_solver(v.flags[i]))
        .map(|i| (v.assigned[i] as u64).saturating_sub(g.g(v, i)))
        .sum()
}

/// Σ max(0, g − assigned) over the solver set.
fn need_under(v: &Vms, g: impl Alloc) -> u64 {
    (0..v.len())
        .filter(|&i| in_solver(v.flags[i]))
        .map(|i| g.g(v, i).saturating_sub(v.assigned[i] as u64))
        .sum()
}

/// Balloons `short` MB out of solver VMs holding more than `g`, lowest
/// weight first (ties: earlier position), each down to at most `g`.
fn prompt_removal(v: &mut Vms, by_weight: &mut Vec<u64>, short: u64, g: impl Alloc) {
    // Lowest weight first without sorting: total the excess per weight, find
    // the weight at which `short` is reached, then one pass in position order.
    let n = v.len();
    let excess_of = |v: &Vms, i: usize| -> u64 {
        if !in_solver(v.flags[i]) {
            return 0;
        }
        (v.assigned[i] as u64).saturating_sub(g.g(v, i))
    };
    by_weight.clear();
    by_weight.resize(MAX_WEIGHT as usize + 1, 0);
    for i in 0..n {
        by_weight[v.weight[i] as usize] += excess_of(v, i);
    }
    let (mut cut, mut acc) = (MAX_WEIGHT, 0u64);
    for (w, &x) in by_weight.iter().enumerate() {
        if acc + x >= short {
            cut = w as u16;
            break;
        }
        acc += x;
    }
    let mut at_cut = short - acc; // what VMs of the cut weight give, earliest first
    for i in 0..n {
        let w = v.weight[i];
        if w > cut {
            continue;
        }
        let excess = excess_of(v, i);
        let take = if w < cut { excess } else { excess.min(at_cut) };
        if take > 0 {
            Host::balloon(v, i, take);
            if w == cut {
                at_cut -= take;
            }
        }
    }
}
