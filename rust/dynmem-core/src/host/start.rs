//! Starting VMs: the start rule of `docs/balancer.md` ("Starting a VM") over
//! a batch of positions (free memory, then ballooning donors of no higher
//! weight, lowest weight first), shared by `start`, `start_many` and a
//! restart's Smart Paging start (`paging.rs`).

use super::Host;
use crate::config::MAX_WEIGHT;
use crate::error::{Error, ErrorKind, Value};
use crate::model::rules::{ceil_u, floor_u};
use crate::model::{in_solver, VmState, DYNAMIC, STATE_MASK};

impl Host {
    /// The start of validated, distinct, off VMs, in order. Returns the
    /// starts that failed (index into `positions`, error); the others started.
    /// With `smart_paging` (a restart, `paging.rs`) a start short of memory
    /// does not fail: it takes all the donors give and pages the rest (not
    /// on a host whose VMs may not span NUMA nodes: `paging.rs`).
    pub(crate) fn start_positions(&mut self, positions: &[usize], smart_paging: bool) -> Vec<(usize, Error)> {
        if self.numa_strict() {
            return self.start_on_nodes(positions);
        }
        let mut numa_free = self.numa_free();
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
            // What the VM gets in RAM: its startup memory, or with Smart Paging
            // all that can be found.
            let mut held = startup;
            if free < startup as i64 {
                if !sorted && self.policy.balloons_at_start() {
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
                if give < short && smart_paging {
                    held = floor_u(free.max(0) as u64, u) + give;
                }
                if give < short && !smart_paging {
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
                let mut left = short.min(give);
                while left > 0 {
                    let j = donors[cursor].1 as usize;
                    let can = donors[cursor].2 as u64 - taken_at_cursor;
                    let take = can.min(left);
                    self.vms.balloon(j, take);
                    self.assigned_sum -= take;
                    self.numa_freed(j, take, &mut numa_free);
                    left -= take;
                    if take == can {
                        cursor += 1;
                        taken_at_cursor = 0;
                    } else {
                        taken_at_cursor += take;
                    }
                }
                free += short.min(give) as i64;
            }
            self.set_started(pos, held);
            if held < startup {
                self.open_paging_file(pos, (startup - held) as u32);
            }
            if let Some(f) = &mut numa_free {
                self.numa_place(pos, held, f);
            }
            free -= held as i64;
        }
        failed
    }

    /// Marks the VM at `pos` started holding `held` MB of RAM (its startup
    /// memory, or less under Smart Paging) and seeing its startup memory.
    pub(super) fn set_started(&mut self, pos: usize, held: u64) {
        let v = &mut self.vms;
        let startup = v.startup[pos];
        let started = if v.flags[pos] & DYNAMIC != 0 {
            VmState::Starting
        } else {
            VmState::Running
        };
        v.flags[pos] = (v.flags[pos] & !STATE_MASK) | started as u8;
        v.assigned[pos] = held as u32;
        v.visible[pos] = startup;
        v.clock_s[pos] = 0.0;
        v.run_mark[pos] -= self.time_s; // running time = T + run_mark from now on
        v.touch(pos); // sampled at the next tick
        self.assigned_sum += held;
    }
}
