//! Reads: one VM through a [`VmRef`] (by id with [`Host::vm`], or in host
//! order with [`Host::vms`]), the host's columns in bulk, and Hyper-V's
//! counters. What is computed when read (target, pressure, status) follows
//! `model::rules`.

use super::Host;
use crate::config::VmConfig;
use crate::error::{Error, Result};
use crate::model::rules::{memory_available_pct, reported_demand_mb, Live};
use crate::model::{state_of, Counter, HostCounters, Status, VmCounters, VmId, VmState, DYNAMIC};

/// One VM of a host, for reading: its settings, memory, state and counters
/// as of now. Borrowed from the host, so it cannot outlive a change.
#[derive(Clone, Copy)]
pub struct VmRef<'a> {
    host: &'a Host,
    pos: usize,
}

impl std::fmt::Debug for VmRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmRef")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

impl<'a> VmRef<'a> {
    pub fn id(&self) -> VmId {
        VmId(self.host.vms.ids.get(self.pos))
    }
    /// Where the VM is in host order (`host.vms`); changes when an earlier
    /// VM is removed.
    pub fn position(&self) -> usize {
        self.pos
    }
    pub fn name(&self) -> &'a str {
        self.host.names.get(self.pos)
    }
    pub fn config(&self) -> VmConfig {
        let (v, pos) = (&self.host.vms, self.pos);
        VmConfig {
            startup_mb: v.startup[pos],
            minimum_mb: v.min_config(pos),
            maximum_mb: v.maximum[pos],
            buffer_pct: v.buffer[pos],
            weight: v.weight[pos],
            dynamic: v.flags[pos] & DYNAMIC != 0,
        }
    }
    pub fn state(&self) -> VmState {
        state_of(self.host.vms.flags[self.pos])
    }
    /// The guest's committed memory, as set (MB).
    pub fn demand_mb(&self) -> u32 {
        self.host.vms.demand[self.pos] - self.balloon_floor_mb()
    }
    /// The demand the guest reports to the balancer (MB): committed memory
    /// + its balloon floor. Pressure, status and the buffer are of this.
    pub fn guest_reported_mb(&self) -> u32 {
        self.host.vms.demand[self.pos]
    }
    /// The balloon floor of its guest profile (MB; 0 but for a profile with one).
    pub fn balloon_floor_mb(&self) -> u32 {
        self.host.floor_at(self.pos)
    }
    /// The minimum the balancer keeps (MB): max(configured minimum, balloon floor).
    pub fn effective_minimum_mb(&self) -> u32 {
        self.host.vms.minimum[self.pos]
    }
    /// Its guest profile.
    pub fn guest(&self) -> &'a crate::guest::Guest {
        let v = &self.host.vms;
        &v.guests.profiles[v.guest[self.pos] as usize]
    }
    pub fn assigned_mb(&self) -> u32 {
        self.host.vms.assigned[self.pos]
    }
    pub fn visible_mb(&self) -> u32 {
        self.host.vms.visible[self.pos]
    }

    /// What the balancer aims to give the VM (see the spec).
    pub fn target_mb(&self) -> u64 {
        self.live().target_mb
    }

    /// demand / assigned × 100 (0 when off).
    pub fn pressure(&self) -> f64 {
        self.live().pressure
    }

    /// Memory Status by Hyper-V's rule (`rules::dynamic_status`): "off";
    /// "" for a static VM that is on; else "paging", "warning", "low" or "ok".
    pub fn status(&self) -> Status {
        self.live().status
    }

    /// Hyper-V's `AvailableMemoryBuffer` (`rules::available_buffer_pct`) of
    /// a dynamic VM that is on; 0 when off or static.
    pub fn available_buffer_pct(&self) -> i64 {
        self.live().available_buffer_pct
    }

    /// Hyper-V's `MemoryAvailable` (`rules::memory_available_pct`); 0 when off.
    pub fn memory_available_pct(&self) -> i64 {
        memory_available_pct(self.guest_reported_mb(), self.assigned_mb())
    }

    /// `Get-VM`'s `MemoryDemand` (MB, `rules::reported_demand_mb`); 0 when off.
    pub fn reported_demand_mb(&self) -> u64 {
        reported_demand_mb(self.guest_reported_mb(), self.assigned_mb())
    }

    /// Smart Paging working set (MB): startup memory a restart could not
    /// find, paged to the Smart Paging file; 0 almost always.
    pub fn smart_paging_mb(&self) -> u32 {
        self.host.vms.smart_paging[self.pos]
    }

    /// The VM's preferred NUMA node (`host/numa.rs`): the node it was
    /// placed on at its start; `None` while it is off (0 while it is on, on
    /// a host without NUMA).
    pub fn numa_node(&self) -> Option<usize> {
        usize::try_from(self.host.node_of(self.pos)).ok()
    }

    /// Target, current pressure and status, as of now (a static VM whose
    /// memory spans NUMA nodes: "spanning").
    fn live(&self) -> Live {
        let mut live = self.live_alone();
        if live.status == Status::Static && self.host.spanning_vms().is_some_and(|s| s[self.pos]) {
            live.status = Status::Spanning;
        }
        live
    }

    fn live_alone(&self) -> Live {
        let (v, pos) = (&self.host.vms, self.pos);
        Live::of(
            v.flags[pos],
            v.demand[pos],
            v.assigned[pos],
            (v.startup[pos], v.minimum[pos], v.maximum[pos]),
            v.buffer[pos],
            v.smart_paging[pos],
            self.host.unit(),
        )
    }

    /// Memory the guest pages inside itself: max(0, demand − assigned), of
    /// its committed memory (a balloon floor is free memory it keeps).
    pub fn paging_mb(&self) -> u64 {
        if self.state() == VmState::Off {
            return 0;
        }
        (self.demand_mb() as u64).saturating_sub(self.assigned_mb() as u64)
    }

    /// Seconds the VM has been on (starting or running) over its life, as
    /// sampled by the ticks: the host clock since its last start plus the
    /// earlier runs (see `Vms::run_mark`).
    pub fn running_s(&self) -> f64 {
        let mark = self.host.vms.run_mark[self.pos];
        if self.state() == VmState::Off {
            mark
        } else {
            self.host.time_s + mark
        }
    }

    /// Hyper-V's per-VM counters ("Hyper-V Dynamic Memory VM").
    pub fn counters(&self) -> VmCounters {
        let (v, pos) = (&self.host.vms, self.pos);
        let t = self.running_s();
        VmCounters {
            added_memory_mb: v.counter(Counter::Added, pos),
            removed_memory_mb: v.counter(Counter::Removed, pos),
            add_operations: v.counter(Counter::AddOps, pos),
            remove_operations: v.counter(Counter::RemoveOps, pos),
            physical_memory_mb: v.assigned[pos] as u64,
            guest_visible_physical_memory_mb: v.visible[pos] as u64,
            current_pressure: self.pressure(),
            average_pressure: average_pressure(
                v.pressure_integral(pos, self.host.time_s),
                t,
                v.p_min[pos],
                v.p_max[pos],
            ),
            // +inf until the first sample.
            minimum_pressure: if v.p_min[pos].is_finite() { v.p_min[pos] } else { 0.0 },
            maximum_pressure: v.p_max[pos],
            // The guest's free memory: never negative (a shortfall is paging_mb).
            guest_available_memory_mb: if self.state() == VmState::Off {
                0
            } else {
                (v.assigned[pos] as i64 - v.demand[pos] as i64).max(0)
            },
            smart_paging_working_set_size_mb: v.smart_paging[pos] as u64,
        }
    }
}

/// Average Pressure (`docs/balancer.md`, "Statistics"): the pressure's
/// integral over the VM's life / running time (0 while running time is 0),
/// clamped to the samples' `[minimum, maximum]`: the true time-weighted
/// mean lies there, and only rounding (of the integral's products and sums,
/// of the clock) can push the quotient out. 0 before the first sample
/// (`p_min` still +inf).
fn average_pressure(p_sum: f64, running_s: f64, p_min: f64, p_max: f64) -> f64 {
    if !p_min.is_finite() {
        return 0.0;
    }
    let mean = if running_s > 0.0 { p_sum / running_s } else { 0.0 };
    mean.max(p_min).min(p_max)
}

impl Host {
    /// VM `id`, or a `State` error for an unknown or removed VM.
    pub fn vm(&self, id: VmId) -> Result<VmRef<'_>> {
        Ok(self.at(self.position(id)?))
    }

    /// The VM at `pos` in host order (`host.vms`).
    ///
    /// # Panics
    /// If `pos >= self.len()`.
    pub fn at(&self, pos: usize) -> VmRef<'_> {
        assert!(pos < self.len(), "position {pos} out of range ({} VMs)", self.len());
        VmRef { host: self, pos }
    }

    /// Every VM, in host order.
    pub fn vms(&self) -> impl ExactSizeIterator<Item = VmRef<'_>> + '_ {
        (0..self.len()).map(move |pos| VmRef { host: self, pos })
    }

    /// Position of VM `id`, or a `State` error for an unknown or removed VM:
    /// a binary search over the runs of consecutive ids (`ids.rs`; one run
    /// until VMs are removed). No per-VM index to keep.
    pub(crate) fn position(&self, id: VmId) -> Result<usize> {
        self.vms.ids.position(id.0).ok_or_else(|| {
            Error::state(
                Some("vm"),
                id.0,
                format!("vm {id} is not on this host (removed, or from another host)"),
            )
        })
    }

    /// Every VM's assigned memory, in host order.
    pub fn assigned(&self) -> &[u32] {
        &self.vms.assigned
    }
    /// Every VM's guest-visible memory, in host order.
    pub fn visible(&self) -> &[u32] {
        &self.vms.visible
    }

    /// Target, current pressure and status of every VM, in order, into
    /// `out` (one streaming pass).
    pub(crate) fn live_all(&self, mut out: impl FnMut(Live)) {
        let v = &self.vms;
        let n = v.len();
        let u = self.unit();
        let (flags, demand, assigned) = (&v.flags[..n], &v.demand[..n], &v.assigned[..n]);
        let (startup, minimum, maximum, buffer) = (&v.startup[..n], &v.minimum[..n], &v.maximum[..n], &v.buffer[..n]);
        let smart_paging = &v.smart_paging[..n];
        let spans = self.spanning_vms();
        for i in 0..n {
            let sizes = (startup[i], minimum[i], maximum[i]);
            let mut live = Live::of(flags[i], demand[i], assigned[i], sizes, buffer[i], smart_paging[i], u);
            if spans.as_ref().is_some_and(|s| s[i]) {
                live.status = Status::Spanning;
            }
            out(live);
        }
    }

    /// Every VM's target (MB), in host order.
    pub fn targets(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.len());
        self.live_all(|l| out.push(l.target_mb));
        out
    }
    /// Every VM's current pressure, in host order.
    pub fn pressures(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        self.live_all(|l| out.push(l.pressure));
        out
    }
    /// Every VM's `AvailableMemoryBuffer`, in host order (0 when off or static).
    pub fn available_buffer_pcts(&self) -> Vec<i64> {
        let mut out = Vec::with_capacity(self.len());
        self.live_all(|l| out.push(l.available_buffer_pct));
        out
    }
    /// Every VM's memory status, in host order.
    pub fn statuses(&self) -> Vec<Status> {
        let mut out = Vec::with_capacity(self.len());
        self.live_all(|l| out.push(l.status));
        out
    }

    /// Hyper-V's host counters ("Hyper-V Dynamic Memory Balancer").
    pub fn host_counters(&self) -> HostCounters {
        let (mut n, mut sum_p, mut sum_d, mut sum_a) = (0u64, 0.0f64, 0u64, 0u64);
        for vm in self.vms() {
            if vm.state() != VmState::Off {
                n += 1;
                sum_p += vm.pressure();
                sum_d += vm.guest_reported_mb() as u64;
                sum_a += vm.assigned_mb() as u64;
            }
        }
        HostCounters {
            available_memory_mb: self.available_mb(),
            available_memory_for_balancing_mb: self.available_mb(),
            average_pressure: if n > 0 { sum_p / n as f64 } else { 0.0 },
            system_current_pressure: if sum_a > 0 {
                sum_d as f64 / sum_a as f64 * 100.0
            } else {
                0.0
            },
        }
    }
}
