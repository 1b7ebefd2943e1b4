//! NUMA nodes (`docs/balancer.md`, "NUMA"): a host's physical memory split
//! into nodes, each VM's preferred node (chosen when it starts), the
//! per-node accounting of memory and, with spanning off, one pool per node.
//!
//! A host of one node (the default) has no [`Numa`] at all: every hook in
//! `host/` is an `if let Some(..)` on `Host::numa`, and the tick is today's.
//!
//! - **Spanning on** (Hyper-V's default): the pool stays one and the tick is
//!   unchanged. Memory is *accounted* to nodes: the reserve from node 0
//!   upwards, then every started static VM's memory (host order), then every
//!   started dynamic VM's, each on its preferred node while that node has
//!   room; what does not fit spills to the nodes with room, lowest index
//!   first. A static VM with memory beyond its node's room "spans".
//! - **Spanning off**: a VM's memory stays on its node. Each node is a pool
//!   of its own: a tick gathers each node's started VMs into a host of the
//!   node's size and reserve, ticks it, and scatters the columns back; a
//!   start must find its startup memory on one node.

use super::Host;
use crate::balancer::Balancer;
use crate::error::{Error, ErrorKind, Result, Value};
use crate::model::names::Names;
use crate::model::rules::ceil_u;
use crate::model::{in_solver, VmState, Vms, DYNAMIC, STATE_MASK};
use crate::policy::Policy;

/// Most NUMA nodes a host may have.
pub const MAX_NUMA_NODES: usize = 64;
/// A VM's node before its first start.
const NO_NODE: u8 = u8::MAX;

/// The NUMA topology of a host of two or more nodes, and each VM's node.
#[derive(Debug, Clone)]
pub(crate) struct Numa {
    /// Node sizes (MB); Σ = physical memory.
    pub(crate) sizes: Vec<u64>,
    /// The reserve's share of each node (MB): from node 0 upwards.
    pub(crate) reserve: Vec<u64>,
    pub(crate) spanning: bool,
    /// Each VM's preferred node (position order): the node of its last
    /// start, [`NO_NODE`] before the first.
    pub(crate) node: Vec<u8>,
    /// Spanning off: each node as a host of its own, whose columns are
    /// refilled from the host's every tick (their capacity kept, so a tick
    /// allocates nothing in steady state), its balancer's scratch and
    /// guesses kept.
    subs: Vec<Host>,
    /// Spanning off: each node's started VMs (positions), every tick.
    members: Vec<Vec<u32>>,
}

/// `physical_mb` split into `n` equal nodes; the remainder (physical mod n)
/// goes one MB each to the first nodes.
pub fn equal_nodes(physical_mb: u64, n: usize) -> Vec<u64> {
    let n64 = n.max(1) as u64;
    (0..n64)
        .map(|k| physical_mb / n64 + u64::from(k < physical_mb % n64))
        .collect()
}

/// The reserve's share of each node: taken from node 0 (the root
/// partition's), what node 0 cannot hold from node 1, and so on.
fn reserve_shares(sizes: &[u64], reserve: u64) -> Vec<u64> {
    let mut left = reserve;
    sizes
        .iter()
        .map(|&s| {
            let r = left.min(s);
            left -= r;
            r
        })
        .collect()
}

fn list(values: &[u64]) -> String {
    let items: Vec<String> = values.iter().map(u64::to_string).collect();
    format!("[{}]", items.join(", "))
}

impl Host {
    /// The host with its memory in NUMA nodes of `sizes_mb` (Σ = physical
    /// memory, each ≥ 1, at most [`MAX_NUMA_NODES`]), and whether a VM's
    /// memory may span nodes. One node is a host without NUMA. Only before
    /// VMs are added (a `State` error on `numa_nodes` otherwise).
    pub fn with_numa(mut self, sizes_mb: &[i64], spanning: bool) -> Result<Host> {
        let shown = format!("{sizes_mb:?}");
        if !self.is_empty() {
            let message = "numa_nodes can only be set before VMs are added".to_string();
            return Err(Error::state(Some("numa_nodes"), shown.as_str(), message));
        }
        if sizes_mb.is_empty() || sizes_mb.len() > MAX_NUMA_NODES {
            return Err(Error::config(
                "numa_nodes",
                sizes_mb.len() as u64,
                &format!("must be 1 to {MAX_NUMA_NODES} nodes"),
            ));
        }
        if let Some(&s) = sizes_mb.iter().find(|&&s| s < 1) {
            let what = format!("node sizes must each be at least 1 MB (got {s} in {shown})");
            return Err(Error::config("numa_nodes", shown.as_str(), &what));
        }
        let sum: i128 = sizes_mb.iter().map(|&s| s as i128).sum();
        if sum != self.physical_mb as i128 {
            let what = format!(
                "node sizes must sum to physical_mb ({}), but they sum to {sum}",
                self.physical_mb
            );
            return Err(Error::config("numa_nodes", shown.as_str(), &what));
        }
        self.numa = (sizes_mb.len() > 1).then(|| {
            let sizes: Vec<u64> = sizes_mb.iter().map(|&s| s as u64).collect();
            let reserve = reserve_shares(&sizes, self.reserve_mb);
            let subs = sizes
                .iter()
                .zip(&reserve)
                .map(|(&s, &r)| Host {
                    physical_mb: s,
                    reserve_mb: r,
                    numa: None,
                    names: Names::default(),
                    vms: Vms::default(),
                    balancer: Balancer::default(),
                    ..self.clone()
                })
                .collect();
            Box::new(Numa {
                members: vec![Vec::new(); sizes.len()],
                subs,
                reserve,
                sizes,
                spanning,
                node: Vec::new(),
            })
        });
        Ok(self)
    }

    /// The host's memory in `n` equal NUMA nodes ([`equal_nodes`]: the
    /// first nodes take one MB each of the remainder), as [`Host::with_numa`].
    pub fn with_equal_numa(self, n: i64, spanning: bool) -> Result<Host> {
        if !(1..=MAX_NUMA_NODES as i64).contains(&n) {
            let what = format!("must be 1 to {MAX_NUMA_NODES} nodes (or a list of node sizes in MB)");
            return Err(Error::config("numa_nodes", n, &what));
        }
        let sizes = equal_nodes(self.physical_mb, n as usize);
        let sizes: Vec<i64> = sizes.iter().map(|&s| s as i64).collect();
        self.with_numa(&sizes, spanning)
    }

    /// Heap bytes of the NUMA state: the node column and, with spanning
    /// off, each node's copy of its VMs' columns and its balancer's scratch.
    pub(super) fn numa_heap_bytes(&self) -> usize {
        self.numa.as_ref().map_or(0, |n| {
            let members: usize = n.members.iter().map(|m| m.capacity() * 4).sum();
            let subs: usize = n.subs.iter().map(Host::heap_bytes).sum();
            n.node.capacity() + members + subs
        })
    }

    /// Node sizes (MB): one node of physical memory on a host without NUMA.
    pub fn numa_nodes_mb(&self) -> Vec<u64> {
        match &self.numa {
            Some(n) => n.sizes.clone(),
            None => vec![self.physical_mb],
        }
    }

    /// Whether a VM's memory may span NUMA nodes (true without NUMA).
    pub fn numa_spanning(&self) -> bool {
        self.numa.as_ref().is_none_or(|n| n.spanning)
    }

    /// Memory not accounted to anything on each node (MB): node size − its
    /// share of the reserve − the VMs' memory accounted to it. Σ over the
    /// nodes = [`Host::available_mb`].
    pub fn numa_available_mb(&self) -> Vec<i64> {
        match &self.numa {
            None => vec![self.available_mb()],
            Some(n) => {
                let used = n.account(&self.vms, None);
                n.sizes.iter().zip(used).map(|(&s, u)| s as i64 - u as i64).collect()
            }
        }
    }

    /// Every VM's preferred node, in host order: −1 for a VM that is off.
    pub fn numa_node_of_vms(&self) -> Vec<i64> {
        (0..self.len()).map(|pos| self.node_of(pos)).collect()
    }

    /// The preferred node of the VM at `pos`; −1 when off (0 on a host
    /// without NUMA while it is on).
    pub(super) fn node_of(&self, pos: usize) -> i64 {
        if self.vms.flags[pos] & STATE_MASK == VmState::Off as u8 {
            return -1;
        }
        self.numa.as_ref().map_or(0, |n| n.node[pos] as i64)
    }

    /// Which VMs span NUMA nodes (started static VMs only), in host order;
    /// `None` on a host without NUMA.
    pub(super) fn spanning_vms(&self) -> Option<Vec<bool>> {
        let n = self.numa.as_ref()?;
        let mut spans = vec![false; self.len()];
        n.account(&self.vms, Some(&mut spans));
        Some(spans)
    }

    /// Each node's free memory as the start rule counts it (MB, may be
    /// negative with spanning on): size − reserve share − Σ assigned of the
    /// started VMs that prefer it.
    pub(super) fn numa_free(&self) -> Option<Vec<i64>> {
        let n = self.numa.as_ref()?;
        let mut free: Vec<i64> = n.sizes.iter().zip(&n.reserve).map(|(&s, &r)| (s - r) as i64).collect();
        let v = &self.vms;
        for j in 0..v.len() {
            if v.flags[j] & STATE_MASK != VmState::Off as u8 {
                free[n.node[j] as usize] -= v.assigned[j] as i64;
            }
        }
        Some(free)
    }

    /// A new VM's node column entry (none yet).
    pub(super) fn numa_push(&mut self) {
        if let Some(n) = &mut self.numa {
            n.node.push(NO_NODE);
        }
    }

    /// The VM at `pos` removed.
    pub(super) fn numa_remove(&mut self, pos: usize) {
        if let Some(n) = &mut self.numa {
            n.node.remove(pos);
        }
    }

    /// Records the start of the VM at `pos` with `startup` MB (spanning
    /// on): its preferred node is the one with the most free memory
    /// (`free`, which follows), ties to the lowest index.
    pub(super) fn numa_place(&mut self, pos: usize, startup: u64, free: &mut [i64]) {
        if let Some(n) = &mut self.numa {
            let k = most_free(free);
            n.node[pos] = k as u8;
            free[k] -= startup as i64;
        }
    }

    /// `take` MB ballooned out of the VM at `j` at a start: its node's free memory rises.
    pub(super) fn numa_freed(&self, j: usize, take: u64, free: &mut Option<Vec<i64>>) {
        if let (Some(n), Some(f)) = (&self.numa, free) {
            f[n.node[j] as usize] += take as i64;
        }
    }

    /// Whether starts go node by node (NUMA with spanning off).
    pub(super) fn numa_strict(&self) -> bool {
        self.numa.as_ref().is_some_and(|n| !n.spanning)
    }

    /// The start of validated, distinct, off VMs, in order, with spanning
    /// off: each needs its startup memory on one node. The node: among those
    /// where it fits free memory, the one with the most (ties: the lowest
    /// index); else the first node, in that order, whose running dynamic VMs
    /// of weight ≤ its own can be ballooned to make room (lowest weight
    /// first, ties by position, never below their minimum). Returns the
    /// starts that failed (index into `positions`, error).
    pub(super) fn start_on_nodes(&mut self, positions: &[usize]) -> Vec<(usize, Error)> {
        let mut failed = Vec::new();
        let u = self.unit();
        let Some(mut free) = self.numa_free() else {
            return failed;
        };
        for (k, &pos) in positions.iter().enumerate() {
            let startup = self.vms.startup[pos] as u64;
            let weight = self.vms.weight[pos];
            let mut order: Vec<usize> = (0..free.len()).collect();
            order.sort_by_key(|&i| (std::cmp::Reverse(free[i]), i));
            let mut chosen = order.iter().copied().find(|&i| free[i] >= startup as i64);
            if chosen.is_none() && self.policy.balloons_at_start() {
                for &i in &order {
                    let short = ceil_u((startup as i64 - free[i].max(0)) as u64, u);
                    let donors = self.donors_on(i, weight);
                    let give: u64 = donors.iter().map(|&(_, j)| self.donor_room(j)).sum();
                    if give < short {
                        continue;
                    }
                    let mut left = short;
                    for (_, j) in donors {
                        let take = self.donor_room(j).min(left);
                        if take > 0 {
                            self.vms.balloon(j, take);
                            self.assigned_sum -= take;
                            free[i] += take as i64;
                            left -= take;
                        }
                    }
                    chosen = Some(i);
                    break;
                }
            }
            let Some(node) = chosen else {
                failed.push((k, self.no_node_error(pos, startup, &free)));
                continue;
            };
            if let Some(n) = &mut self.numa {
                n.node[pos] = node as u8;
            }
            free[node] -= startup as i64;
            self.set_started(pos, startup);
        }
        failed
    }

    /// [`Host::can_start`] with spanning off: some node has the startup
    /// memory free, or free once its running dynamic VMs of weight ≤
    /// `weight` are ballooned to their minimums.
    pub(super) fn can_start_on_a_node(&self, startup_mb: u64, weight: u16) -> bool {
        let free = self.numa_free().expect("a NUMA host");
        let balloons = self.policy.balloons_at_start();
        free.iter().enumerate().any(|(i, &f)| {
            f >= startup_mb as i64
                || (balloons && {
                    let give: u64 = self.donors_on(i, weight).iter().map(|&(_, j)| self.donor_room(j)).sum();
                    give >= ceil_u((startup_mb as i64 - f.max(0)) as u64, self.unit())
                })
        })
    }

    /// The running dynamic VMs on `node` of weight ≤ `weight` that can give
    /// memory, as (weight, position), lowest weight first, then position.
    fn donors_on(&self, node: usize, weight: u16) -> Vec<(u16, usize)> {
        let (v, n) = (&self.vms, self.numa.as_ref().expect("a NUMA host"));
        let mut donors: Vec<(u16, usize)> = (0..v.len())
            .filter(|&j| in_solver(v.flags[j]) && n.node[j] as usize == node && v.weight[j] <= weight)
            .filter(|&j| v.assigned[j] > v.minimum[j])
            .map(|j| (v.weight[j], j))
            .collect();
        donors.sort_unstable();
        donors
    }

    fn donor_room(&self, j: usize) -> u64 {
        (self.vms.assigned[j] - self.vms.minimum[j]) as u64
    }

    /// A start with spanning off that found no node: what each node has, and
    /// whether the host as a whole had room.
    fn no_node_error(&self, pos: usize, startup: u64, free: &[i64]) -> Error {
        let n = self.numa.as_ref().expect("a NUMA host");
        let whole = self.available_mb();
        let why = if whole >= startup as i64 {
            format!("although the host has {whole} MB free: ")
        } else {
            String::new()
        };
        let free: Vec<u64> = free.iter().map(|&f| f.max(0) as u64).collect();
        Error::new(
            ErrorKind::InsufficientMemory,
            Some("startup_mb"),
            Value::from(startup),
            format!(
                "Not enough memory in the system to start the virtual machine '{}': startup_mb {startup} \
                 fits no single NUMA node {why}numa_spanning is off, node sizes {} MB, free per node {} MB",
                self.names.get(pos),
                list(&n.sizes),
                list(&free),
            ),
        )
    }

    /// With spanning off, a running static VM at `pos` may grow by `more` MB
    /// only within its node's free memory.
    pub(super) fn check_node_room(&self, pos: usize, more: i64) -> Result<()> {
        if !self.numa_strict() || more <= 0 {
            return Ok(());
        }
        let node = self.node_of(pos) as usize;
        let free = self.numa_free().expect("a NUMA host")[node];
        if more > free {
            let to = self.vms.assigned[pos] as i64 + more;
            let message = format!(
                "startup_mb: VM '{}' can grow while it runs only by its NUMA node's free memory \
                 (node {node}: {free} MB; numa_spanning is off), got {to}",
                self.names.get(pos)
            );
            return Err(Error::new(
                ErrorKind::InsufficientMemory,
                Some("startup_mb"),
                to.into(),
                message,
            ));
        }
        Ok(())
    }

    /// One tick with spanning off: every node's started VMs ticked as a host
    /// of the node's size and reserve share, then written back. An external
    /// policy is asked once per node (with that node's VMs); if any answer
    /// fails, nothing has changed.
    pub(super) fn tick_on_nodes(&mut self, dt_s: f64) -> Result<()> {
        let mut numa = self.numa.take().expect("a NUMA host");
        let result = self.tick_nodes_with(&mut numa, dt_s);
        self.numa = Some(numa);
        result
    }

    fn tick_nodes_with(&mut self, numa: &mut Numa, dt_s: f64) -> Result<()> {
        let v = &self.vms;
        for m in &mut numa.members {
            m.clear();
        }
        for j in 0..v.len() {
            if v.flags[j] & STATE_MASK != VmState::Off as u8 {
                numa.members[numa.node[j] as usize].push(j as u32);
            }
        }
        let external = matches!(self.policy, Policy::External(_));
        for (sub, idx) in numa.subs.iter_mut().zip(&numa.members) {
            sub.mech = self.mech.clone();
            sub.policy = self.policy.clone();
            sub.version = self.version;
            sub.time_s = self.time_s;
            sub.balancer.threads = self.balancer.threads;
            sub.balancer.vector_cap = self.balancer.vector_cap;
            sub.balancer.par_min = self.balancer.par_min;
            if external {
                sub.names = Names::default();
                for &j in idx {
                    sub.names.push(self.names.get(j as usize));
                }
            }
            gather(&self.vms, idx, &mut sub.vms, external);
        }
        let ticked: Result<()> = numa.subs.iter_mut().try_for_each(|sub| sub.tick_unchecked(dt_s));
        if let Err(e) = ticked {
            // Nothing is written back; the carries the ticked nodes found go too.
            for sub in &mut numa.subs {
                sub.vms.carries.clear();
            }
            return Err(e);
        }
        for (sub, idx) in numa.subs.iter_mut().zip(&numa.members) {
            scatter(&mut sub.vms, &mut self.vms, idx);
        }
        self.assigned_sum = self.vms.assigned.iter().map(|&a| a as u64).sum();
        // The nodes' ticks sampled every started VM: the host's marks are read.
        self.vms.dirty.fill(0);
        self.vms.any_dirty = false;
        self.time_s += dt_s;
        Ok(())
    }

    /// The NUMA state for a snapshot: node sizes, spanning, each VM's node
    /// (`None` without NUMA).
    pub(crate) fn numa_parts(&self) -> Option<(&[u64], bool, &[u8])> {
        self.numa
            .as_ref()
            .map(|n| (n.sizes.as_slice(), n.spanning, n.node.as_slice()))
    }

    /// Restores each VM's node from a snapshot (the host already has its
    /// nodes): one entry per VM, each a node of the host or none for a VM
    /// never started; a started VM must have a node; with spanning off every
    /// node must hold its VMs.
    pub(crate) fn with_numa_nodes(mut self, node: Vec<u8>) -> std::result::Result<Host, String> {
        let v = &self.vms;
        let Some(n) = &self.numa else {
            return if node.is_empty() {
                Ok(self)
            } else {
                Err("VM NUMA nodes on a host without NUMA".to_string())
            };
        };
        if node.len() != v.len() {
            return Err(format!("numa nodes has {} entries for {} VMs", node.len(), v.len()));
        }
        for (pos, &k) in node.iter().enumerate() {
            let on = v.flags[pos] & STATE_MASK != VmState::Off as u8;
            if (k as usize >= n.sizes.len() && k != NO_NODE) || (on && k == NO_NODE) {
                return Err(format!("VM at position {pos}: NUMA node {k}"));
            }
        }
        self.numa.as_mut().expect("a NUMA host").node = node;
        if let Some(free) = self.numa_free().filter(|_| self.numa_strict()) {
            if let Some(k) = free.iter().position(|&f| f < 0) {
                return Err(format!("NUMA node {k} holds more than its size with spanning off"));
            }
        }
        Ok(self)
    }
}

impl Numa {
    /// Memory accounted to each node (MB, with its reserve share): started
    /// static VMs, then started dynamic VMs, in host order, each on its
    /// preferred node up to the node's room; then what did not fit, on the
    /// nodes with room, lowest index first. Marks in `spans` the static VMs
    /// that did not fit their node.
    fn account(&self, v: &Vms, mut spans: Option<&mut [bool]>) -> Vec<u64> {
        let mut used = self.reserve.clone();
        let mut over = 0u64;
        for dynamic in [false, true] {
            for j in 0..v.len() {
                let f = v.flags[j];
                if f & STATE_MASK == VmState::Off as u8 || (f & DYNAMIC != 0) != dynamic {
                    continue;
                }
                let k = self.node[j] as usize;
                let a = v.assigned[j] as u64;
                let local = a.min(self.sizes[k] - used[k]);
                used[k] += local;
                if a > local {
                    over += a - local;
                    if let Some(s) = spans.as_deref_mut() {
                        s[j] = !dynamic;
                    }
                }
            }
        }
        for (u, &s) in used.iter_mut().zip(&self.sizes) {
            let take = over.min(s - *u);
            *u += take;
            over -= take;
        }
        debug_assert_eq!(over, 0, "Σ assigned + reserve ≤ physical");
        used
    }
}

/// The VMs at `idx` (positions, increasing) of `v` into `s`, as VMs of
/// their own: with their own ids where a user policy sees them (`real`),
/// else with ids 1, 2, ... (one run, kept from tick to tick; the tick uses
/// ids only to file counter carries, which [`scatter`] maps back). Every
/// column of [`Vms`] (keep in step with `each_column!`; the test
/// `gather_takes_every_column` checks).
fn gather(v: &Vms, idx: &[u32], s: &mut Vms, real: bool) {
    let m = idx.len();
    // Increasing ids ending at m are 1..=m.
    let positional = s.ids.len() == m && (m == 0 || s.ids.get(m - 1) == m as u64);
    if real || !positional {
        s.ids = Default::default();
        for (k, &j) in idx.iter().enumerate() {
            s.ids.push(if real { v.ids.get(j as usize) } else { k as u64 + 1 });
        }
    }
    macro_rules! take {
        ($($c:ident)*) => { $(
            s.$c.clear();
            s.$c.extend(idx.iter().map(|&j| v.$c[j as usize]));
        )* };
    }
    take!(flags startup minimum maximum buffer weight demand assigned visible clock_s
          added removed add_ops remove_ops p_sum run_mark p_min p_max smart_paging guest p_now);
    s.min_config.clear(); // (kept only where the host keeps it: `Vms::min_config`)
    if !v.min_config.is_empty() {
        s.min_config.extend(idx.iter().map(|&j| v.min_config[j as usize]));
    }
    // Every VM of the node is marked (sampled at the node's tick: a VM whose
    // pressure did not change keeps its interval), and the node never takes
    // a quiet tick: its columns are refilled here every tick.
    s.touch_all();
    // The guest table only grows (profiles are appended, never removed):
    // copied when it did, so a steady tick allocates nothing.
    if s.guests.profiles.len() != v.guests.profiles.len() || s.guests.unit != v.guests.unit {
        s.guests = v.guests.clone();
    }
    debug_assert!(s.carries.is_empty());
}

/// Writes `s` (gathered from the positions `idx` of `v`) back, with the
/// carries its tick found (taken out of `s`): the columns a tick writes
/// (`model::View`'s mutable ones). In tests, the others are checked
/// unchanged, so that a tick that starts writing one more column fails
/// here until it is added.
fn scatter(s: &mut Vms, v: &mut Vms, idx: &[u32]) {
    macro_rules! put {
        ($($c:ident)*) => { $( for (x, &j) in s.$c.iter().zip(idx) { v.$c[j as usize] = *x; } )* };
    }
    put!(flags assigned visible clock_s added removed add_ops remove_ops p_sum p_min p_max p_now);
    #[cfg(any(test, debug_assertions))]
    {
        macro_rules! same {
            ($($c:ident)*) => { $(
                for (x, &j) in s.$c.iter().zip(idx) {
                    assert!(v.$c[j as usize] == *x, concat!("a tick wrote ", stringify!($c), ": scatter it"));
                }
            )* };
        }
        same!(startup minimum maximum buffer weight demand run_mark smart_paging guest);
        assert!(
            s.min_config
                .iter()
                .zip(idx)
                .all(|(x, &j)| v.min_config[j as usize] == *x),
            "a tick wrote min_config"
        );
    }
    for ((sub_id, counter), c) in std::mem::take(&mut s.carries) {
        let at = s.ids.position(sub_id).expect("a carry of a VM of the node");
        let id = v.ids.get(idx[at] as usize);
        *v.carries.entry((id, counter)).or_insert(0) += c;
    }
}

/// The node with the most free memory, ties to the lowest index.
fn most_free(free: &[i64]) -> usize {
    let mut best = 0;
    for (k, &f) in free.iter().enumerate() {
        if f > free[best] {
            best = k;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_takes_every_column() {
        let mut h = Host::new(8192, Some(0), crate::Mechanics::default()).unwrap();
        let spec = crate::VmSpec {
            startup_mb: 1024,
            minimum_mb: Some(512),
            maximum_mb: 4096,
            buffer_pct: 20,
            weight: 5000,
            dynamic: true,
        };
        for name in ["a", "b", "c"] {
            let id = h.add_vm(name, &spec).unwrap();
            h.start(id).unwrap();
        }
        h.tick(1.0).unwrap();
        let all: Vec<u32> = (0..h.len() as u32).collect();
        let mut s = Vms::default();
        gather(&h.vms, &all, &mut s, true);
        // Every VM of a node is marked; the marks aside, the columns are the host's.
        assert!(s.any_dirty && s.dirty.iter().all(|&w| w == u64::MAX));
        let mut marks_as_host = s.clone();
        (marks_as_host.dirty, marks_as_host.any_dirty) = (h.vms.dirty.clone(), h.vms.any_dirty);
        assert_eq!(format!("{marks_as_host:?}"), format!("{:?}", h.vms));
        // The columns a tick writes come back; the others are checked unchanged.
        let mut back = h.vms.clone();
        for k in 0..3 {
            back.assigned[k] = 0;
            back.p_max[k] = 0.0;
        }
        scatter(&mut s, &mut back, &all);
        assert_eq!(format!("{back:?}"), format!("{:?}", h.vms));
        back.demand[1] += 1;
        let wrote = std::panic::catch_unwind(move || scatter(&mut s, &mut back, &all));
        assert!(wrote.is_err(), "a column changed that scatter does not write back");
    }

    #[test]
    fn equal_split_gives_the_remainder_to_the_first_nodes() {
        assert_eq!(equal_nodes(10, 3), vec![4, 3, 3]);
        assert_eq!(equal_nodes(262144, 2), vec![131072, 131072]);
        assert_eq!(reserve_shares(&[100, 200], 150), vec![100, 50]);
    }
}
