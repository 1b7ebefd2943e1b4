//! Placement: which host each VM goes to, decided against an ordered index
//! over the hosts' free memory (usable − Σ startup placed), so that a VM
//! costs `O(log hosts)` for first-, best- and worst-fit and the rating by
//! free memory. Ratings by Σ minimum or pressure walk their own order from
//! the best host until one fits (fast while the best hosts have room).
//!
//! Memory is a hard requirement: a VM goes only where its startup fits in
//! the free memory, so no host is ever overfilled; with a ratio cap also
//! only where Σ maximum stays within `ratio × physical` (OpenStack's and
//! OpenDC's `ram_allocation_ratio`). A VM that fits nowhere gets `-1`. Ties
//! go to the lowest host index.
//!
//! `place` decides every VM first (on a copy of the sums), then adds each
//! to its host: a failing call (a bad id, a user rule's bad answer)
//! changes nothing.

use super::{Fleet, UNPLACED};
use crate::config::VmSpec;
use crate::error::{Error, Result};
use crate::model::VmId;
use std::collections::BTreeSet;

/// What a rating scores; the best-scored host that fits wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// Most free memory left after the VM's startup (SCVMM's memory rating).
    FreeAfter,
    /// Lowest Σ minimum of the VMs placed there.
    SumMinimum,
    /// Lowest pressure: (Σ demand now + Σ startup placed by this call) / usable.
    Pressure,
}

/// One VM asking for a host, as a user rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub vm: VmId,
    pub startup_mb: u32,
    pub minimum_mb: u32,
    pub maximum_mb: u32,
    pub weight: u16,
}

/// The fleet as a user rule sees it while deciding: per host, the free
/// memory (usable − Σ startup placed, this call's decisions included),
/// physical memory and Σ maximum placed.
#[derive(Debug, Clone, Copy)]
pub struct FleetView<'a> {
    pub free_mb: &'a [i64],
    pub physical_mb: &'a [u64],
    pub maximum_sum_mb: &'a [u64],
}

/// A user rule: the host for a request, or -1 for none.
pub type Rule<'a> = dyn FnMut(&Request, &FleetView<'_>) -> Result<i64> + 'a;

/// How to choose hosts.
pub enum Placement<'a> {
    /// The lowest-numbered host where the VM fits.
    FirstFit,
    /// The host with the least free memory that still fits it.
    BestFit,
    /// The host with the most free memory (spreads VMs).
    WorstFit,
    /// SCVMM-like rating.
    Rating(Score),
    /// A user rule, asked once per VM, in order.
    User(&'a mut Rule<'a>),
}

/// Max-segment tree over host index, for first-fit: the leftmost host
/// with at least `need` free at or after `from`.
struct MaxTree {
    size: usize,
    t: Vec<i64>,
}

impl MaxTree {
    fn new(free: &[i64]) -> MaxTree {
        let size = free.len().next_power_of_two().max(1);
        let mut t = vec![i64::MIN; 2 * size];
        t[size..size + free.len()].copy_from_slice(free);
        for i in (1..size).rev() {
            t[i] = t[2 * i].max(t[2 * i + 1]);
        }
        MaxTree { size, t }
    }
    fn set(&mut self, h: usize, v: i64) {
        let mut i = h + self.size;
        self.t[i] = v;
        while i > 1 {
            i /= 2;
            self.t[i] = self.t[2 * i].max(self.t[2 * i + 1]);
        }
    }
    /// Leftmost index ≥ `from` whose value is ≥ `need`.
    fn first_at_least(&self, need: i64, from: usize) -> Option<usize> {
        self.find(1, 0, self.size, need, from)
    }
    fn find(&self, node: usize, lo: usize, hi: usize, need: i64, from: usize) -> Option<usize> {
        if hi <= from || self.t[node] < need {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.find(2 * node, lo, mid, need, from)
            .or_else(|| self.find(2 * node + 1, mid, hi, need, from))
    }
}

/// The sums a decision reads and updates.
struct Decide<'f> {
    fleet: &'f Fleet,
    free: Vec<i64>,
    maximum_sum: Vec<u64>,
    minimum_sum: Vec<u64>,
    load: Vec<u64>,
    physical: Vec<u64>,
    ratio: Option<f64>,
}

impl Decide<'_> {
    fn fits(&self, h: usize, r: &Request) -> bool {
        self.free[h] >= r.startup_mb as i64
            && self
                .ratio
                .is_none_or(|q| (self.maximum_sum[h] + r.maximum_mb as u64) as f64 <= q * self.physical[h] as f64)
    }
    fn take(&mut self, h: usize, r: &Request) {
        self.free[h] -= r.startup_mb as i64;
        self.maximum_sum[h] += r.maximum_mb as u64;
        self.minimum_sum[h] += r.minimum_mb as u64;
        self.load[h] += r.startup_mb as u64;
    }
    /// Pressure as an order-preserving integer: load / usable in 2^-32 steps.
    fn pressure_key(&self, h: usize) -> u64 {
        let usable = self.fleet.usable_of(h).max(1) as u128;
        ((self.load[h] as u128) << 32)
            .checked_div(usable)
            .unwrap_or(0)
            .min(u64::MAX as u128) as u64
    }
}

impl Fleet {
    /// Places VMs that are on no host (in the order given) by `rule`, with
    /// an optional cap on Σ maximum / physical; returns each one's host or
    /// -1 where none has room. Those placed are added to their hosts (off).
    pub fn place(&mut self, ids: &[VmId], rule: Placement<'_>, max_ratio: Option<f64>) -> Result<Vec<i64>> {
        if let Some(q) = max_ratio {
            if !(q.is_finite() && q > 0.0) {
                return Err(Error::config("max_ratio", q, "must be a positive finite number"));
            }
        }
        let mut seen = vec![false; self.len()];
        for (k, &id) in ids.iter().enumerate() {
            let field = || format!("vms[{k}]");
            let i = self.index_at(id, field)?;
            if std::mem::replace(&mut seen[i], true) {
                let field = field();
                return Err(Error::state(
                    Some(&field),
                    id.0,
                    format!("{field}: vm {id} appears twice in the batch"),
                ));
            }
            if self.host_of[i] != UNPLACED {
                let field = field();
                return Err(Error::state(
                    Some(&field),
                    id.0,
                    format!(
                        "{field}: VM '{}' is already on host {}",
                        self.names.get(i),
                        self.host_of[i]
                    ),
                ));
            }
        }
        let hosts = self.decide(ids, rule, max_ratio)?;
        self.apply_placement(ids, &hosts)?;
        Ok(hosts)
    }

    fn decide(&self, ids: &[VmId], rule: Placement<'_>, ratio: Option<f64>) -> Result<Vec<i64>> {
        let n_hosts = self.hosts.len();
        let load = self
            .hosts
            .iter()
            .map(|h| h.demands().iter().map(|&d| d as u64).sum())
            .collect::<Vec<u64>>();
        let mut d = Decide {
            fleet: self,
            free: self.host_free(),
            maximum_sum: self.maximum_sum.clone(),
            minimum_sum: self.minimum_sum.clone(),
            load,
            physical: self.hosts.iter().map(|h| h.physical_mb()).collect(),
            ratio,
        };
        let request = |id: VmId| {
            let c = self.configs[id.0 as usize];
            Request {
                vm: id,
                startup_mb: c.startup_mb,
                minimum_mb: c.minimum_mb,
                maximum_mb: c.maximum_mb,
                weight: c.weight,
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        match rule {
            Placement::FirstFit => {
                let mut tree = MaxTree::new(&d.free);
                for &id in ids {
                    let r = request(id);
                    let mut from = 0;
                    let mut chosen = -1;
                    while let Some(h) = tree.first_at_least(r.startup_mb as i64, from) {
                        if d.fits(h, &r) {
                            d.take(h, &r);
                            tree.set(h, d.free[h]);
                            chosen = h as i64;
                            break;
                        }
                        from = h + 1;
                    }
                    out.push(chosen);
                }
            }
            Placement::BestFit | Placement::WorstFit | Placement::Rating(Score::FreeAfter) => {
                let best = matches!(rule, Placement::BestFit);
                let mut index: BTreeSet<(i64, u32)> = (0..n_hosts).map(|h| (d.free[h], h as u32)).collect();
                for &id in ids {
                    let r = request(id);
                    let s = r.startup_mb as i64;
                    let chosen = if best {
                        index.range((s, 0)..).map(|&(_, h)| h as usize).find(|&h| d.fits(h, &r))
                    } else {
                        // Most free first; among equals the lowest index.
                        let mut found = None;
                        let mut top = index.last().map(|&(f, _)| f);
                        while let Some(f) = top.filter(|&f| f >= s) {
                            found = index
                                .range((f, 0)..=(f, u32::MAX))
                                .map(|&(_, h)| h as usize)
                                .find(|&h| d.fits(h, &r));
                            if found.is_some() {
                                break;
                            }
                            top = index.range(..(f, 0)).next_back().map(|&(f, _)| f);
                        }
                        found
                    };
                    out.push(match chosen {
                        Some(h) => {
                            index.remove(&(d.free[h], h as u32));
                            d.take(h, &r);
                            index.insert((d.free[h], h as u32));
                            h as i64
                        }
                        None => -1,
                    });
                }
            }
            Placement::Rating(score) => {
                let key = |d: &Decide, h: usize| match score {
                    Score::SumMinimum => d.minimum_sum[h],
                    _ => d.pressure_key(h),
                };
                let mut index: BTreeSet<(u64, u32)> = (0..n_hosts).map(|h| (key(&d, h), h as u32)).collect();
                for &id in ids {
                    let r = request(id);
                    let chosen = index.iter().map(|&(_, h)| h as usize).find(|&h| d.fits(h, &r));
                    out.push(match chosen {
                        Some(h) => {
                            index.remove(&(key(&d, h), h as u32));
                            d.take(h, &r);
                            index.insert((key(&d, h), h as u32));
                            h as i64
                        }
                        None => -1,
                    });
                }
            }
            Placement::User(f) => {
                for (k, &id) in ids.iter().enumerate() {
                    let r = request(id);
                    let view = FleetView {
                        free_mb: &d.free,
                        physical_mb: &d.physical,
                        maximum_sum_mb: &d.maximum_sum,
                    };
                    let h = f(&r, &view)?;
                    let field = format!("placement[{k}]");
                    if h < -1 || h >= n_hosts as i64 {
                        return Err(self.no_host(&field, h));
                    }
                    if h >= 0 {
                        if !d.fits(h as usize, &r) {
                            return Err(Error::config(
                                &field,
                                h,
                                &format!(
                                    "must be a host with room for vm {} (startup_mb {}; host {h} has {} MB free{}) or -1",
                                    id,
                                    r.startup_mb,
                                    d.free[h as usize],
                                    if ratio.is_some() { " within the ratio cap" } else { "" }
                                ),
                            ));
                        }
                        d.take(h as usize, &r);
                    }
                    out.push(h);
                }
            }
        }
        Ok(out)
    }

    /// Adds each placed VM to its host (hosts in host order, each host's
    /// VMs in the order given) and books it.
    fn apply_placement(&mut self, ids: &[VmId], hosts: &[i64]) -> Result<()> {
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.hosts.len()];
        for (&id, &h) in ids.iter().zip(hosts) {
            if h >= 0 {
                groups[h as usize].push(id.0 as usize);
            }
        }
        for (h, g) in groups.into_iter().enumerate() {
            if g.is_empty() {
                continue;
            }
            let names: Vec<&str> = g.iter().map(|&i| self.names.get(i)).collect();
            let specs: Vec<VmSpec> = g.iter().map(|&i| self.configs[i].to_spec()).collect();
            let local = self.hosts[h].add_vms(&names, &specs)?;
            for (&i, l) in g.iter().zip(local) {
                let c = self.configs[i];
                self.host_of[i] = h as u32;
                self.local[i] = l.0;
                self.members[h].push(i as u32);
                self.committed[h] += c.startup_mb as u64;
                self.maximum_sum[h] += c.maximum_mb as u64;
                self.minimum_sum[h] += c.minimum_mb as u64;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_tree_finds_the_leftmost_fit() {
        let free = [5, 1, 9, 3, 9, 0, 7];
        let mut t = MaxTree::new(&free);
        assert_eq!(t.first_at_least(6, 0), Some(2));
        assert_eq!(t.first_at_least(6, 3), Some(4));
        assert_eq!(t.first_at_least(10, 0), None);
        t.set(2, 0);
        assert_eq!(t.first_at_least(6, 0), Some(4));
        for need in 0..11 {
            for from in 0..8 {
                let plain = (from..free.len()).find(|&h| [5, 1, 0, 3, 9, 0, 7][h] >= need);
                assert_eq!(t.first_at_least(need, from), plain, "{need} {from}");
            }
        }
    }
}
