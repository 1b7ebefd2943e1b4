//! The VMs of a host as a struct of arrays (`Vms`): one column per setting,
//! memory figure, clock and counter, in `host.vms` order; the state flags
//! and the per-VM counters' split storage (u32 low words plus sparse carries).

use super::guests::GuestTable;
use super::ids::Ids;

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
    /// A Smart Paging file is in use (a dynamic VM restarted short of its
    /// startup memory).
    Paging = 4,
    /// A static VM that is on: Hyper-V shows nothing (`""`).
    Static = 5,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Low => "low",
            Status::Warning => "warning",
            Status::Off => "off",
            Status::Paging => "paging",
            Status::Static => "",
        }
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

/// The carries out of the counters' low words found by a pass (see
/// `View::carries`): (VM id, counter, new value before truncation).
pub(crate) type Carries = Vec<(u64, Counter, u64)>;

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
    pub(crate) ids: Ids,
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
    /// Smart Paging working set (MB): the part of startup memory a restart
    /// could not find, paged to the Smart Paging file until ballooned back
    /// (0 almost always; "Smart Paging Working Set Size").
    pub(crate) smart_paging: Vec<u32>,
    /// Guest profile: an index into `guests` (0: the default, "windows").
    pub(crate) guest: Vec<u8>,
    /// The minimum the user configured (MB); `minimum` holds the one the
    /// balancer uses, max(this, the guest's balloon floor).
    pub(crate) min_config: Vec<u32>,
    /// The host's distinct guest profiles, resolved against its mechanics.
    pub(crate) guests: GuestTable,
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

    /// Adds the carries a pass found (see `View::carries`).
    pub(crate) fn add_carries(&mut self, carries: Carries) {
        for (id, k, sum) in carries {
            carry_to(&mut self.carries, id, k, sum);
        }
    }

    /// Pass 2 over every VM (in `parts` parts), its carries kept; returns
    /// Σ assigned afterwards.
    /// Balloons `take` MB out of the VM at `j` (a removal operation).
    #[inline]
    pub(crate) fn balloon(&mut self, j: usize, take: u64) {
        self.assigned[j] -= take as u32;
        self.count(Counter::Removed, j, take);
        self.count(Counter::RemoveOps, j, 1);
    }

    /// Heap bytes of the columns (capacity, not just length).
    pub(crate) fn heap_bytes(&self) -> usize {
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
            + b(&self.smart_paging)
            + b(&self.guest)
            + b(&self.min_config)
            // A B-tree node per ~11 entries; ~48 B per entry is an upper bound.
            + self.carries.len() * 48
    }
}

/// Applies one `Vec` method to every column (not the ids) of a [`Vms`].
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
        v.smart_paging.$op($($arg),*); v.guest.$op($($arg),*); v.min_config.$op($($arg),*);
    }};
}

/// Flag bit: the VM has Dynamic Memory on.
pub(crate) const DYNAMIC: u8 = 4;
/// Flag bits holding the [`VmState`].
pub(crate) const STATE_MASK: u8 = 3;

/// The state in a VM's flags.
#[inline(always)]
pub(crate) fn state_of(flags: u8) -> VmState {
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

pub(crate) use each_column;
