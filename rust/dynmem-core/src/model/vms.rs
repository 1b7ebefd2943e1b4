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
    /// A static VM that is on and whose memory spans NUMA nodes.
    Spanning = 6,
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
            Status::Spanning => "spanning",
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
    /// Pressure statistics as exact piecewise-constant integrals
    /// (`docs/balancer.md`, "Statistics"). Pressure changes only when a
    /// VM's demand or assigned memory does, so a tick samples a VM only
    /// where one of them may have changed: its bit in `dirty`, or its
    /// assigned memory moved in pass 2. `p_sum` is kept against the host
    /// clock `T`, as `run_mark` is: the integral of the pressure over the
    /// VM's life is `p_sum + p_now × T` while an interval is open, else
    /// `p_sum`.
    pub(crate) p_sum: Vec<f64>,
    /// Running time, kept against the host clock `T` so that ticks never
    /// touch it: while the VM is on, its running time is `T + run_mark`
    /// (`run_mark` = running time before this start − `T` at the start);
    /// while it is off, `run_mark` is its running time so far.
    pub(crate) run_mark: Vec<f64>,
    pub(crate) p_min: Vec<f64>,
    pub(crate) p_max: Vec<f64>,
    /// The open interval's pressure (the last sample's); NaN while none is
    /// open (the VM is off, or on and not yet sampled).
    pub(crate) p_now: Vec<f64>,
    /// One bit per VM (position): its demand or assigned memory may have
    /// changed outside pass 2 since the last tick (set by [`Vms::touch`];
    /// too many bits cost a division each, never a wrong result). Pass 2
    /// samples these VMs and clears the bits. Words past the end are
    /// created set.
    pub(crate) dirty: Vec<u64>,
    /// Some bit of `dirty` is set (or may be): the next tick is not quiet.
    pub(crate) any_dirty: bool,
    /// Smart Paging working set (MB): the part of startup memory a restart
    /// could not find, paged to the Smart Paging file until ballooned back
    /// (0 almost always; "Smart Paging Working Set Size").
    pub(crate) smart_paging: Vec<u32>,
    /// Guest profile: an index into `guests` (0: the default, "windows").
    pub(crate) guest: Vec<u8>,
    /// The minimum the user configured (MB); `minimum` holds the one the
    /// balancer uses, max(this, the guest's balloon floor). Empty while no
    /// profile of the host has a floor (`guests.floors`): then every VM's
    /// configured minimum is its `minimum` (read through [`Vms::min_config`]),
    /// which keeps a host of default guests 4 B/VM lighter.
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

    /// Balloons `take` MB out of the VM at `j` (a removal operation).
    #[inline]
    pub(crate) fn balloon(&mut self, j: usize, take: u64) {
        self.assigned[j] -= take as u32;
        self.touch(j);
        self.count(Counter::Removed, j, take);
        self.count(Counter::RemoveOps, j, 1);
    }

    /// The integral of the VM at `pos`'s pressure over its life, read at
    /// host time `time_s` (`docs/balancer.md`, "Statistics"): the closed
    /// intervals' `p_sum` plus the open one's `p_now × T`.
    pub(crate) fn pressure_integral(&self, pos: usize, time_s: f64) -> f64 {
        let p = self.p_now[pos];
        if p.is_nan() {
            return self.p_sum[pos];
        }
        self.p_sum[pos] + p * time_s
    }

    /// Closes the VM at `pos`'s open pressure interval at host time
    /// `time_s` (when it stops): `p_sum` becomes the whole integral.
    pub(crate) fn close_pressure(&mut self, pos: usize, time_s: f64) {
        self.p_sum[pos] = self.pressure_integral(pos, time_s);
        self.p_now[pos] = f64::NAN;
    }

    /// The minimum configured for the VM at `pos` (MB).
    #[inline]
    pub(crate) fn min_config(&self, pos: usize) -> u32 {
        if self.min_config.is_empty() {
            self.minimum[pos]
        } else {
            self.min_config[pos]
        }
    }

    /// Sets the minimum configured for the VM at `pos` (the effective one
    /// is the caller's to recompute: `Host::refloor`).
    pub(crate) fn set_min_config(&mut self, pos: usize, mb: u32) {
        match self.min_config.get_mut(pos) {
            Some(m) => *m = mb,
            None => self.minimum[pos] = mb,
        }
    }

    /// Keeps `min_config` from now on (a profile with a floor joined the
    /// host): until now every configured minimum was the `minimum` column.
    pub(crate) fn keep_min_config(&mut self) {
        if self.min_config.len() != self.len() {
            self.min_config = self.minimum.clone();
        }
    }

    /// Marks the VM at `pos`: its demand or assigned memory may have
    /// changed (see `dirty`). Every change to either outside pass 2 calls it.
    #[inline]
    pub(crate) fn touch(&mut self, pos: usize) {
        if let Some(w) = self.dirty.get_mut(pos / 64) {
            *w |= 1 << (pos % 64);
        }
        self.any_dirty = true;
    }

    /// Marks every VM (positions moved, or a host restored).
    pub(crate) fn touch_all(&mut self) {
        self.dirty.clear();
        self.dirty.resize(self.len().div_ceil(64), u64::MAX);
        self.any_dirty = true;
    }

    /// `dirty` sized to the VMs (new words set: VMs added since are marked).
    pub(crate) fn fit_dirty(&mut self) {
        let words = self.len().div_ceil(64);
        if self.dirty.len() != words {
            self.dirty.resize(words, u64::MAX);
            self.any_dirty = true;
        }
    }

    /// Sets every VM's demand from `row` (one entry per VM, checked, as
    /// `mb` turns it into MB), marking every 64 VMs of which one changed
    /// (marks may cover too many VMs: a VM whose pressure held is sampled
    /// to no effect); returns how many words of 64 were marked.
    pub(crate) fn set_demand_row<T: Copy>(&mut self, row: &[T], mb: impl Fn(T) -> u32) -> usize {
        assert_eq!(row.len(), self.len(), "one demand per VM");
        self.fit_dirty();
        let mut marked = 0;
        // An or of compares per 64 VMs (vectorised with the copy), no
        // branch and no bit per VM.
        for (w, (old, new)) in self.demand.chunks_mut(64).zip(row.chunks(64)).enumerate() {
            let mut changed = false;
            for (o, &d) in old.iter_mut().zip(new) {
                let d = mb(d);
                changed |= *o != d;
                *o = d;
            }
            if changed {
                self.dirty[w] = u64::MAX;
                marked += 1;
            }
        }
        self.any_dirty |= marked > 0;
        marked
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
            + b(&self.p_now)
            + b(&self.dirty)
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
        v.smart_paging.$op($($arg),*); v.guest.$op($($arg),*); v.p_now.$op($($arg),*);
        // (`min_config` only where it is kept: see `Vms::min_config`.)
        if !v.min_config.is_empty() {
            v.min_config.$op($($arg),*);
        }
    }};
}

/// Pressure `demand / assigned × 100` (f64, in exactly this order; every
/// form of the tick and every reader computes it so).
#[inline(always)]
pub(crate) fn pressure_of(demand: u32, assigned: u32) -> f64 {
    demand as f64 / assigned as f64 * 100.0
}

/// The statistics' step at the end of a tick that began at host time
/// `time_s`, for an on VM whose pressure there is `new` (`docs/balancer.md`,
/// "Statistics"): if it differs from the open interval's `now` (NaN: none
/// open), that interval closes and `new`'s opens, `p_sum = p_sum + p_old ×
/// T − new × T` (`p_old` 0 when none was open), and `new` is a candidate
/// for the minimum and the maximum. Returns `(p_sum, p_min, p_max, p_now)`;
/// the same `stats` unless `sample` (the VM is on, and its demand or
/// assigned memory may have changed: one condition with the other, so that
/// a loop over VMs selects once).
#[inline]
pub(crate) fn pressure_step(stats: (f64, f64, f64, f64), new: f64, time_s: f64, sample: bool) -> (f64, f64, f64, f64) {
    let (p_sum, p_min, p_max, now) = stats;
    if !sample || new == now {
        return stats;
    }
    let old = if now.is_nan() { 0.0 } else { now };
    let sum = p_sum + old * time_s - new * time_s;
    (
        sum,
        if new < p_min { new } else { p_min },
        if new > p_max { new } else { p_max },
        new,
    )
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
