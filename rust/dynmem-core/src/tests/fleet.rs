//! Fleets against independent hosts: the same operations on a `Fleet` and
//! on one plain `Host` per fleet host give bit-identical hosts after every
//! step, on 1, 2 and 3 threads; placement never overfills; migration keeps
//! every host's sums.

use super::{instant, invariant, xorshift};
use crate::fleet::{Placement, Score};
use crate::*;

fn specs(n: usize, rnd: &mut impl FnMut(u64) -> u64) -> Vec<VmSpec> {
    (0..n)
        .map(|_| {
            let startup = 256 + 2 * rnd(1024) as i64;
            VmSpec {
                startup_mb: startup,
                minimum_mb: Some(startup / 2 / 2 * 2),
                maximum_mb: startup * (1 + rnd(4) as i64),
                weight: rnd(10001) as i64,
                buffer_pct: 5 + rnd(50) as i64,
                dynamic: rnd(8) != 0,
            }
        })
        .collect()
}

/// A fleet and its hosts replayed as plain hosts: every operation on the
/// fleet is done on the plain host it reached, in the same order.
fn random_fleet(seed: u64, threads: usize, hosts: usize, vms: usize, ticks: usize) -> (Fleet, Vec<Host>) {
    let mut rnd = xorshift(seed);
    let physical: Vec<i64> = (0..hosts).map(|_| 8192 + 1024 * rnd(64) as i64).collect();
    let mut fleet = Fleet::new(&physical, Some(512), instant()).unwrap();
    fleet.set_threads(threads);
    let mut plain: Vec<Host> = physical
        .iter()
        .map(|&p| Host::new(p, Some(512), instant()).unwrap())
        .collect();
    let names: Vec<String> = (0..vms).map(|i| format!("vm-{i}")).collect();
    let sp = specs(vms, &mut rnd);
    let ids = fleet.add_vms(&names, &sp).unwrap();
    let rules = [
        Placement::BestFit,
        Placement::FirstFit,
        Placement::WorstFit,
        Placement::Rating(Score::SumMinimum),
    ];
    let rule = rules.into_iter().nth(rnd(4) as usize).unwrap();
    let placed = fleet.place(&ids, rule, None).unwrap();
    // Plain hosts get their VMs in the order the fleet gave each host.
    for (h, host) in plain.iter_mut().enumerate() {
        let mine: Vec<usize> = (0..vms).filter(|&i| placed[i] == h as i64).collect();
        let n: Vec<&str> = mine.iter().map(|&i| names[i].as_str()).collect();
        let s: Vec<VmSpec> = mine.iter().map(|&i| fleet.config(ids[i]).unwrap().to_spec()).collect();
        host.add_vms(&n, &s).unwrap();
    }
    let on: Vec<VmId> = ids
        .iter()
        .zip(&placed)
        .filter(|(_, &h)| h >= 0)
        .map(|(&id, _)| id)
        .collect();
    let started = fleet.start_many(&on).unwrap();
    for host in plain.iter_mut() {
        let all = host.ids();
        host.start_many(&all).unwrap();
    }
    for (&id, &s) in on.iter().zip(&started) {
        let h = placed[id.0 as usize] as usize;
        let local = plain[h].find(fleet.name(id).unwrap()).unwrap();
        assert_eq!(s, plain[h].vm(local).unwrap().state() != VmState::Off);
    }
    for _ in 0..ticks {
        let row: Vec<i64> = (0..vms).map(|_| rnd(6000) as i64).collect();
        fleet.set_demands(&row).unwrap();
        for (h, host) in plain.iter_mut().enumerate() {
            let d: Vec<i64> = (0..vms).filter(|&i| placed[i] == h as i64).map(|i| row[i]).collect();
            host.set_demands(&d).unwrap();
        }
        fleet.tick(1.5).unwrap();
        for host in plain.iter_mut() {
            host.tick(1.5).unwrap();
        }
        compare(&fleet, &plain);
    }
    (fleet, plain)
}

fn compare(fleet: &Fleet, plain: &[Host]) {
    fleet.check().unwrap();
    for (h, host) in plain.iter().enumerate() {
        invariant(host);
        assert_eq!(fleet.hosts()[h].state_dump(), host.state_dump(), "host {h}");
    }
}

#[test]
fn fleet_hosts_equal_independent_hosts_on_any_thread_count() {
    // ≥ FLEET_PARALLEL_MIN_VMS VMs, so that 2 and 3 threads really split.
    let vms = if cfg!(miri) { 40 } else { 9000 };
    let mut first: Option<Vec<u32>> = None;
    for threads in [1, 2, 3] {
        let (fleet, _) = random_fleet(7, threads, 37, vms, 6);
        let a = fleet.assigned();
        assert_eq!(*first.get_or_insert(a.clone()), a, "threads {threads}");
    }
    for seed in 1..6 {
        random_fleet(seed, 2, 5, 300, 12);
    }
}

#[test]
fn placement_never_overfills_and_every_rule_places_what_fits() {
    for seed in 1..20u64 {
        let mut rnd = xorshift(seed);
        let hosts = 1 + rnd(30) as usize;
        let physical: Vec<i64> = (0..hosts).map(|_| 2048 + 512 * rnd(16) as i64).collect();
        for rule in 0..6 {
            let mut fleet = Fleet::new(&physical, Some(256), instant()).unwrap();
            let n = rnd(400) as usize;
            let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let ids = fleet.add_vms(&names, &specs(n, &mut rnd)).unwrap();
            let ratio = (rule == 5).then_some(1.5);
            let r = match rule {
                0 => Placement::FirstFit,
                1 => Placement::BestFit,
                2 => Placement::WorstFit,
                3 => Placement::Rating(Score::FreeAfter),
                4 => Placement::Rating(Score::Pressure),
                _ => Placement::BestFit,
            };
            let placed = fleet.place(&ids, r, ratio).unwrap();
            fleet.check().unwrap();
            for (h, &p) in physical.iter().enumerate() {
                let s: u64 = (0..n)
                    .filter(|&i| placed[i] == h as i64)
                    .map(|i| fleet.configs[i].startup_mb as u64)
                    .sum();
                let m: u64 = (0..n)
                    .filter(|&i| placed[i] == h as i64)
                    .map(|i| fleet.configs[i].maximum_mb as u64)
                    .sum();
                assert!(s <= fleet.usable_of(h), "rule {rule} host {h}");
                if let Some(q) = ratio {
                    assert!(m as f64 <= q * p as f64);
                }
            }
            // Every placed host starts all its VMs (admission by startup).
            let on: Vec<VmId> = ids
                .iter()
                .zip(&placed)
                .filter(|(_, &h)| h >= 0)
                .map(|(&id, _)| id)
                .collect();
            assert!(fleet.start_many(&on).unwrap().into_iter().all(|s| s));
        }
    }
}

#[test]
fn best_fit_takes_the_tightest_host_and_first_fit_the_first() {
    let mut f = Fleet::new(&[4096, 2048, 3072], Some(0), instant()).unwrap();
    let ids = f
        .add_vms(
            &["a", "b", "c"],
            &[VmSpec {
                startup_mb: 2000,
                maximum_mb: 2000,
                ..VmSpec::default()
            }; 3],
        )
        .unwrap();
    assert_eq!(f.place(&ids[..1], Placement::BestFit, None).unwrap(), vec![1]);
    assert_eq!(f.place(&ids[1..2], Placement::FirstFit, None).unwrap(), vec![0]);
    assert_eq!(f.place(&ids[2..], Placement::WorstFit, None).unwrap(), vec![2]);
    let more = f
        .add_vms(
            &["d"],
            &[VmSpec {
                startup_mb: 2000,
                maximum_mb: 2000,
                ..VmSpec::default()
            }],
        )
        .unwrap();
    assert_eq!(f.place(&more, Placement::BestFit, None).unwrap(), vec![0]);
    let last = f
        .add_vms(
            &["e"],
            &[VmSpec {
                startup_mb: 2000,
                maximum_mb: 2000,
                ..VmSpec::default()
            }],
        )
        .unwrap();
    assert_eq!(f.place(&last, Placement::BestFit, None).unwrap(), vec![-1]);
    // Already placed: a state error, nothing changed.
    assert!(f.place(&ids[..1], Placement::BestFit, None).is_err());
    f.check().unwrap();
}

#[test]
fn migration_moves_memory_and_keeps_every_sum() {
    // Room everywhere: 6 hosts of 64 GB, 60 VMs of ≤ 2.3 GB startup.
    let mut rnd = xorshift(3);
    let mut fleet = Fleet::new(&[65536; 6], Some(512), instant()).unwrap();
    let names: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    let ids = fleet.add_vms(&names, &specs(60, &mut rnd)).unwrap();
    fleet.place(&ids, Placement::WorstFit, None).unwrap();
    fleet.start_many(&ids).unwrap();
    fleet
        .set_demands(&(0..60).map(|_| rnd(4000) as i64).collect::<Vec<_>>())
        .unwrap();
    fleet.tick(1.0).unwrap();
    let running: Vec<VmId> = (0..fleet.len() as u64)
        .map(VmId)
        .filter(|&id| {
            let h = fleet.host_of(&[id]).unwrap()[0];
            h >= 0
                && fleet.hosts()[h as usize]
                    .vm(VmId(fleet.local[id.0 as usize]))
                    .unwrap()
                    .state()
                    != VmState::Off
        })
        .take(10)
        .collect();
    let from = fleet.host_of(&running).unwrap();
    let to: Vec<i64> = from.iter().map(|&h| (h + 1) % 6).collect();
    let began = fleet.migrate(&running, &to, &vec![3.0; running.len()]).unwrap();
    fleet.check().unwrap();
    assert_eq!(
        fleet.host_of(&running).unwrap(),
        from,
        "still on the source while moving"
    );
    for _ in 0..3 {
        fleet.tick(1.0).unwrap();
        fleet.check().unwrap();
        for h in fleet.hosts() {
            invariant(h);
        }
    }
    assert!(fleet.migrations().is_empty());
    assert!(began.iter().all(|&b| b), "every target had room");
    let now = fleet.host_of(&running).unwrap();
    for k in 0..running.len() {
        assert_eq!(now[k], if began[k] { to[k] } else { from[k] });
    }
    // Bad input changes nothing.
    let before = format!("{:?}", fleet.host_of(&running).unwrap());
    assert!(fleet.migrate(&running[..1], &[now[0]], &[1.0]).is_err());
    assert!(fleet.migrate(&running[..1], &[99], &[1.0]).is_err());
    assert_eq!(before, format!("{:?}", fleet.host_of(&running).unwrap()));
}

#[test]
fn dynamic_optimization_moves_vms_off_hosts_that_stay_hot() {
    use crate::fleet::DynamicOptimization;
    let mut fleet = Fleet::new(&[16384, 16384, 16384], Some(0), instant()).unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("d{i}")).collect();
    let spec = VmSpec {
        startup_mb: 1024,
        minimum_mb: Some(512),
        maximum_mb: 8192,
        ..VmSpec::default()
    };
    let ids = fleet.add_vms(&names, &vec![spec; 8]).unwrap();
    fleet.place(&ids, Placement::FirstFit, None).unwrap(); // all on host 0
    fleet.start_many(&ids).unwrap();
    let settings = DynamicOptimization {
        threshold: 0.8,
        interval_s: 10.0,
        duration_s: 5.0,
    };
    fleet.set_dynamic_optimization(Some(settings)).unwrap();
    // Host 0: 8 × 2500 MB of demand on 16 GB (1.22): hot at every check.
    let mut demand = vec![2500i64; 8];
    demand[5] = 3000; // the largest moves first
    let mut moved_at = None;
    for t in 1..=40 {
        fleet.set_demands(&demand).unwrap();
        fleet.tick(1.0).unwrap();
        fleet.check().unwrap();
        if moved_at.is_none() && fleet.host_of(&ids[5..6]).unwrap()[0] != 0 {
            moved_at = Some(t);
        }
    }
    // Hot at the checks of t = 10 and 20: the move starts at 20, ends at 25.
    assert_eq!(moved_at, Some(25));
    let on0 = fleet.host_of(&ids).unwrap().iter().filter(|&&h| h == 0).count();
    assert!(on0 < 8 && fleet.host_pressure()[0] <= 1.0, "{on0}");
    for h in fleet.hosts() {
        invariant(h);
    }
    // Off: no more moves; a snapshot keeps the settings.
    let b = Fleet::from_snapshot(&fleet.snapshot()).unwrap();
    assert_eq!(b.dynamic_optimization(), Some(settings));
    assert!(fleet
        .set_dynamic_optimization(Some(DynamicOptimization {
            threshold: -1.0,
            ..settings
        }))
        .is_err());
}

/// Seeded random operations on a fleet (valid and invalid), checked after
/// each: the books match the hosts, no host is over-committed, a failed
/// operation changes nothing (snapshot bytes equal), and a snapshot
/// round trip is exact. No operation panics.
#[test]
fn random_fleet_operations_hold_every_check() {
    use crate::fleet::DynamicOptimization;
    let steps = if cfg!(miri) { 50 } else { 5000 };
    for seed in 1..=4u64 {
        let mut rnd = xorshift(seed * 7919);
        let physical: Vec<i64> = (0..2 + rnd(5)).map(|_| 4096 + 512 * rnd(24) as i64).collect();
        let mut f = Fleet::new(&physical, Some(256), instant()).unwrap();
        let mut added = 0usize;
        let (mut ok, mut failed, mut moves, mut running) = (0, 0, 0, 0);
        for step in 0..steps {
            let before = f.snapshot();
            let n = f.len() as u64;
            let some_ids =
                |rnd: &mut dyn FnMut(u64) -> u64, k: u64| -> Vec<VmId> { (0..k).map(|_| VmId(rnd(n + 2))).collect() };
            let r: Result<()> = match rnd(9) {
                // A few dozen VMs, so that hosts keep room to move VMs to.
                0 => {
                    let k = if f.len() < 3 * physical.len() {
                        rnd(4) as usize
                    } else {
                        0
                    };
                    let names: Vec<String> = (0..k)
                        .map(|j| format!("r{}", added + j - (rnd(20) == 0) as usize))
                        .collect();
                    let sp = specs(k, &mut rnd);
                    let out = f.add_vms(&names, &sp).map(|_| ());
                    if out.is_ok() {
                        added += k;
                    }
                    out
                }
                1 => {
                    let k = rnd(5);
                    let ids = some_ids(&mut rnd, k);
                    let rule = [
                        Placement::FirstFit,
                        Placement::BestFit,
                        Placement::WorstFit,
                        Placement::Rating(Score::Pressure),
                    ]
                    .into_iter()
                    .nth(rnd(4) as usize)
                    .unwrap();
                    f.place(&ids, rule, (rnd(3) == 0).then_some(1.0 + rnd(3) as f64))
                        .map(|_| ())
                }
                2 => {
                    let k = rnd(5);
                    f.start_many(&some_ids(&mut rnd, k)).map(|_| ())
                }
                3 => {
                    let k = rnd(3);
                    f.stop_many(&some_ids(&mut rnd, k))
                }
                4 => {
                    let d: Vec<i64> = (0..n + (rnd(30) == 0) as u64)
                        .map(|_| rnd(9000) as i64 - (rnd(500) == 0) as i64)
                        .collect();
                    f.set_demands(&d)
                }
                5 | 6 => f.tick([1.0, 2.5, 0.0][rnd(3) as usize]),
                7 => {
                    let a = f.assigned();
                    let on: Vec<u64> = (0..n).filter(|&i| a[i as usize] > 0).collect();
                    let ids = if !on.is_empty() && rnd(3) > 0 {
                        vec![VmId(on[rnd(on.len() as u64) as usize])]
                    } else {
                        let k = 1 + rnd(2);
                        some_ids(&mut rnd, k)
                    };
                    let to: Vec<i64> = ids.iter().map(|_| rnd(physical.len() as u64 + 1) as i64).collect();
                    let d: Vec<f64> = ids.iter().map(|_| [0.0, 2.0, 5.0][rnd(3) as usize]).collect();
                    let m = f.migrate(&ids, &to, &d);
                    m.map(|began| moves += began.iter().filter(|&&b| b).count())
                }
                _ => {
                    let on = rnd(3) > 0;
                    let s = DynamicOptimization {
                        threshold: 0.5 + rnd(10) as f64 / 10.0,
                        interval_s: 1.0 + rnd(5) as f64,
                        duration_s: rnd(4) as f64,
                    };
                    f.set_dynamic_optimization(on.then_some(s))
                }
            };
            running += f.assigned().iter().filter(|&&a| a > 0).count();
            if r.is_ok() {
                ok += 1;
            } else {
                failed += 1;
            }
            if r.is_err() {
                assert_eq!(
                    f.snapshot(),
                    before,
                    "seed {seed} step {step}: a failed operation changed the fleet"
                );
            }
            f.check().unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            for h in f.hosts() {
                invariant(h);
            }
            if step % 97 == 0 {
                let b = Fleet::from_snapshot(&f.snapshot()).unwrap();
                assert_eq!(b.snapshot(), f.snapshot());
            }
        }
        // The sequence reaches every kind of state: successes and failures,
        // running VMs, moves in flight.
        assert!(
            ok > steps / 5 && failed > steps / 20 && moves > 0 && running > 0,
            "{seed}: {ok} {failed} {moves} {running}"
        );
    }
}
