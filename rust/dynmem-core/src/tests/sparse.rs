//! Sparse ticking against dense ticking: a host that skips quiet ticks
//! (`balancer.rs`: a host at rest, nothing marked since) and samples the
//! pressure only where demand or memory changed must equal, column by
//! column after every operation, the scalar host that ticks every VM every
//! tick (`in_every_form`), on random change patterns with events mixed in,
//! in every vector form and in parts on several threads.

use super::*;

/// A random change pattern: hosts of `vms(rnd)` VMs with `per_vm_mb`
/// (one of) of memory each, 7 in 8 started, ticked `ticks` times; before
/// each tick no VM changes (`quiet_pct` %), 1 to `few` VMs get a demand in
/// `demand_mb` (`few_pct` %), or every VM; now and then a start, stop,
/// settings change or removal; steps of 0.5 to 2.5 s. Checks every form
/// against the dense scalar host after every tick (`step_every_form`) and
/// returns the sparse host's (quiet ticks, block ticks) over all seeds.
struct Pattern {
    seeds: std::ops::RangeInclusive<u64>,
    vms: fn(&mut dyn FnMut(u64) -> u64) -> usize,
    per_vm_mb: [i64; 3],
    ticks: usize,
    quiet_pct: u64,
    few_pct: u64,
    few: u64,
    demand_mb: (i64, u64),
    events_in: u64,
}

impl Pattern {
    fn run(&self, salt: u64) -> (u64, u64) {
        let (mut quiet, mut blocks) = (0, 0);
        for seed in self.seeds.clone() {
            let mut rnd = xorshift(seed * salt);
            let n = (self.vms)(&mut rnd);
            let mech = Mechanics {
                boot_report_delay_s: [0.0, 3.0][rnd(2) as usize],
                remove_delay_s: [0.0, 2.0, 5.0][rnd(3) as usize],
                ..Mechanics::default()
            };
            let mut h = Host::new(n as i64 * self.per_vm_mb[rnd(3) as usize], Some(512), mech).unwrap();
            let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let specs: Vec<VmSpec> = (0..n).map(|_| spec(512, 256, 4096, rnd(10001) as i64)).collect();
            let ids = h.add_vms(&names, &specs).unwrap();
            h.start_many(&ids[..n * 7 / 8]).unwrap();
            let mut hosts = in_every_form(h);
            for t in 0..self.ticks {
                let ctx = format!("seed {seed} tick {t}");
                let r = rnd(100);
                let k = if r < self.quiet_pct {
                    0 // a held row: quiet once the host is at rest
                } else if r < self.quiet_pct + self.few_pct {
                    1 + rnd(self.few) as usize
                } else {
                    n
                };
                let (lo, span) = self.demand_mb;
                let picks: Vec<(usize, i64)> = (0..k)
                    .map(|_| (rnd(n as u64) as usize, lo + rnd(span) as i64))
                    .collect();
                let event = rnd(self.events_in);
                let target = rnd(n as u64) as usize;
                let dt = [1.0, 1.0, 0.5, 2.5][rnd(4) as usize];
                step_every_form(&mut hosts, &ctx, |h| {
                    for &(pos, d) in &picks {
                        let id = h.at(pos.min(h.len() - 1)).id();
                        h.set_demand(id, d).unwrap();
                    }
                    let id = h.at(target.min(h.len() - 1)).id();
                    let _ = match event {
                        0 => h.start(id),
                        1 => h.stop(id),
                        2 => h.configure(
                            id,
                            &VmChange {
                                buffer_pct: Some(5 + (target % 50) as i64),
                                ..VmChange::default()
                            },
                        ),
                        3 => h.remove_vm(id),
                        _ => Ok(()),
                    };
                    h.tick(dt).unwrap();
                });
            }
            (quiet, blocks) = (quiet + hosts[0].quiet_ticks(), blocks + hosts[0].block_ticks());
            assert_eq!(
                hosts[2].quiet_ticks() + hosts[2].block_ticks(),
                0,
                "the dense host ticks densely"
            );
            for pos in 0..hosts[0].len() {
                let (a, b) = (hosts[0].at(pos).counters(), hosts[2].at(pos).counters());
                assert_eq!(a, b, "seed {seed}: VM at {pos}");
            }
        }
        (quiet, blocks)
    }
}

/// Random hosts through ticks where nothing, a few VMs or every VM
/// changes, with starts, stops, settings changes, removals and varying
/// steps; plentiful and contended phases.
#[test]
fn sparse_and_dense_ticks_agree_on_random_change_patterns() {
    let (quiet, _) = Pattern {
        seeds: 1..=6,
        vms: |rnd| 150 + rnd(250) as usize,
        per_vm_mb: [1200, 3000, 9000],
        ticks: 400,
        quiet_pct: 60,
        few_pct: 30,
        few: 4,
        demand_mb: (0, 5000),
        events_in: 40,
    }
    .run(7919);
    assert!(quiet > 100, "only {quiet} quiet ticks: the test should exercise them");
}

/// A quiet tick costs nothing per VM and changes nothing but the clock: a
/// host at rest ticked 1,000 times with no change equals the dense host
/// (Average Pressure read off the clock), and then follows a change.
#[test]
fn a_host_at_rest_ticks_quietly_and_wakes_on_a_change() {
    let mut h = Host::new(64 * 1024, Some(512), instant()).unwrap();
    let ids: Vec<VmId> = (0..40)
        .map(|i| h.add_vm(&format!("v{i}"), &spec(1024, 512, 4096, 5000)).unwrap())
        .collect();
    h.start_many(&ids).unwrap();
    for (k, &id) in ids.iter().enumerate() {
        h.set_demand(id, 300 + 50 * k as i64).unwrap();
    }
    let mut hosts = in_every_form(h);
    for t in 0..1000 {
        step_every_form(&mut hosts, &format!("tick {t}"), |h| h.tick(1.0).unwrap());
    }
    assert!(hosts[0].quiet_ticks() >= 990, "{} quiet ticks", hosts[0].quiet_ticks());
    // A demand drop: the excess clock runs for remove_delay_s, then lazy removal.
    step_every_form(&mut hosts, "drop", |h| {
        h.set_demand(ids[7], 100).unwrap();
        h.tick(1.0).unwrap();
    });
    let q = hosts[0].quiet_ticks();
    for t in 0..20 {
        step_every_form(&mut hosts, &format!("after {t}"), |h| h.tick(1.0).unwrap());
    }
    assert!(hosts[0].quiet_ticks() > q, "at rest again, quiet again");
    assert!(hosts[0].quiet_ticks() < q + 20, "the excess clock ran first");
    assert_eq!(hosts[0].at(0).counters(), hosts[2].at(0).counters());
    // A demand rise: the add reaches the target at once, so the VM is at
    // rest after that tick and the next one is quiet (the sparse hosts).
    step_every_form(&mut hosts, "rise", |h| {
        h.set_demand(ids[9], 2500).unwrap();
        h.tick(1.0).unwrap();
    });
    let quiet = [0, 1].map(|k| hosts[k].quiet_ticks());
    step_every_form(&mut hosts, "after the rise", |h| h.tick(1.0).unwrap());
    for (k, before) in [0, 1].into_iter().zip(quiet) {
        assert_eq!(
            hosts[k].quiet_ticks(),
            before + 1,
            "host {k}: the tick after an add is quiet"
        );
    }
}

/// Ticks that visit only the blocks of VMs not at rest (`balancer/blocks.rs`)
/// equal dense ticking, in every form and in parts on several threads:
/// hosts of 24–48 blocks of 128 VMs, roomy (stage 0) or pushed past it by
/// the demands, where a few VMs change most ticks (demand up or down: adds
/// at once, lazy removal over several ticks), sometimes every VM, with
/// starts (booting VMs), stops, settings changes, removals, and varying
/// steps.
#[test]
fn block_ticks_equal_dense_ticks_on_random_change_patterns() {
    let (_, blocks) = Pattern {
        seeds: 1..=4,
        vms: |rnd| 256 * (12 + rnd(12) as usize) + rnd(256) as usize,
        per_vm_mb: [2600, 3000, 6000],
        ticks: 150,
        quiet_pct: 30,
        few_pct: 64,
        few: 3,
        demand_mb: (200, 2200),
        events_in: 60,
    }
    .run(104_729);
    assert!(blocks > 60, "only {blocks} block ticks: the test should exercise them");
}
