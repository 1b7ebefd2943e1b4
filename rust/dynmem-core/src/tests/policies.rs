//! The allocation policies on hosts small enough to work out on paper
//! (`docs/policies.md`), an external policy's checks, and the invariants on
//! random hosts.

use super::*;
use std::sync::{Arc, Mutex};

/// A host with `policy`, no reserve, guests that report at once, and the
/// VMs `(startup, min, max, weight, buffer, demand)` started.
fn host_with(physical: i64, policy: Policy, vms: &[(i64, i64, i64, i64, i64, i64)]) -> (Host, Vec<VmId>) {
    let mut h = Host::new(physical, Some(0), instant())
        .unwrap()
        .with_policy(policy)
        .unwrap();
    let mut ids = vec![];
    for (k, &(startup, min, max, weight, buffer, demand)) in vms.iter().enumerate() {
        let id = h
            .add_vm(
                &format!("vm{k}"),
                &VmSpec {
                    buffer_pct: buffer,
                    ..spec(startup, min, max, weight)
                },
            )
            .unwrap();
        h.start(id).unwrap();
        h.set_demand(id, demand).unwrap();
        ids.push(id);
    }
    (h, ids)
}

#[test]
fn proportional_gives_one_fraction_of_each_range_and_hands_out_the_remainder() {
    // Ranges 4000, 2000, 2000 MB = 2000, 1000, 1000 units (u = 2), R = 4000.
    // Pool 5002 MB, Σ min 3000: S = 1001 units. x = floor(range·1001/4000):
    // 500 (500.5), 250 (250.25), 250; Σ 1000, remainder 1 unit to the first
    // with room (vm0). Demand plays no part.
    let vms = [
        (1000, 1000, 5000, 100, 20, 0),
        (1000, 1000, 3000, 9000, 20, 2900),
        (1000, 1000, 3000, 5000, 20, 100),
    ];
    let (mut h, _) = host_with(5002, Policy::Proportional, &vms);
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[2002, 1500, 1500]);
    invariant(&h);
    // Plenty (Σ range ≤ surplus): everyone at maximum, whatever the demand.
    let (mut h, _) = host_with(20000, Policy::Proportional, &vms);
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[5000, 3000, 3000]);
}

#[test]
fn shares_tax_idle_memory() {
    // Equal weights 5000, τ = 0.75 (t = 7500), u = 2, pool 6000 MB = 3000
    // units, lo = 256. A: demand 6000 (d = 3000 units), buffer 20 → target
    // 7200 (hi 3600). B: demand 1500 (d = 750), buffer 100 → target 3000
    // (hi 1500). r_A(L) = floor(L/2) (A stays below its demand cap);
    // r_B(L) = floor(L/2) up to 750, then floor((7500·750·W + 2500·L·5000)/W²)
    // = floor(562.5 + L/8). Σ = 3000 at L = 3900 (1950 + 1050) and 3901
    // (1950 + 1050.125); L = 3902 gives 1951 + 1050: 3001. g = 3900, 2100 MB:
    // B's idle (buffer) memory grows at a quarter of A's rate.
    let vms = [(2000, 512, 8192, 5000, 20, 6000), (2000, 512, 8192, 5000, 100, 1500)];
    let (mut h, _) = host_with(6000, Policy::Shares { idle_tax: 0.75 }, &vms);
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[3900, 2100]);
    invariant(&h);
    // No tax: equal shares, 1500 units each (B exactly at its target).
    let (mut h, _) = host_with(6000, Policy::Shares { idle_tax: 0.0 }, &vms);
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[3000, 3000]);
    // Shares 6000 : 2000 with both fully active: 3 : 1 of 2000 units. L = 2501
    // gives 1500 + 500 (L = 2502: 1501 + 500).
    let vms = [(1000, 500, 8192, 6000, 5, 4000), (1000, 500, 8192, 2000, 5, 4000)];
    let (mut h, _) = host_with(4000, Policy::Shares { idle_tax: 0.0 }, &vms);
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[3000, 1000]);
}

#[test]
fn strict_priority_serves_higher_weights_in_full_first() {
    // Σ min 1500, pool 6000: rest 4500. Weight 8000 (A): demand 2500, then
    // buffer 600 → rest 1400. Weight 4000 (B, C): demand 1500 + 500 > 1400,
    // so they share 1400 MB = 700 units over caps 750 and 250 (equal
    // weights): C capped at 250, B 450. A 3600, B 1400, C 1000.
    let vms = [
        (500, 500, 8192, 8000, 20, 3000),
        (500, 500, 8192, 4000, 20, 2000),
        (500, 500, 8192, 4000, 20, 1000),
    ];
    let (mut h, _) = host_with(6000, Policy::StrictPriority, &vms);
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[3600, 1400, 1000]);
    invariant(&h);
}

#[test]
fn static_never_moves_memory_and_starts_never_balloon() {
    let vms = [(2000, 512, 8192, 5000, 20, 6000), (2000, 512, 8192, 5000, 20, 100)];
    let (mut h, ids) = host_with(5000, Policy::Static, &vms);
    for _ in 0..10 {
        h.tick(1.0).unwrap();
    }
    assert_eq!(h.assigned(), &[2000, 2000]);
    // 1000 MB free: a 1024 MB start fails although vm1 could give 1488.
    let id = h.add_vm("late", &spec(1024, 1024, 1024, 10000)).unwrap();
    let before = snapshot(&h);
    assert!(!h.can_start(1024, 10000), "can_start counts no donors under Static");
    let e = h.start(id).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InsufficientMemory);
    assert_eq!(snapshot(&h), before);
    // Under Hyper-V's policy the same start succeeds by ballooning vm1.
    let (mut hv, _) = host_with(5000, Policy::HyperV, &vms);
    hv.tick(1.0).unwrap();
    let late = hv.add_vm("late", &spec(1024, 1024, 1024, 10000)).unwrap();
    assert!(hv.can_start(1024, 10000));
    hv.start(late).unwrap();
    let _ = ids;
}

/// An external policy that answers with what it is told to.
type Script = Box<dyn FnMut(&PolicyView) -> Result<Vec<i64>> + Send>;
struct Scripted {
    answer: Mutex<Script>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl External for Scripted {
    fn allocate(&self, _pool_mb: u64, view: PolicyView) -> Result<Vec<i64>> {
        (self.answer.lock().unwrap())(&view)
    }
}

fn scripted(f: impl FnMut(&PolicyView) -> Result<Vec<i64>> + Send + 'static) -> Policy {
    Policy::External(Arc::new(Scripted {
        answer: Mutex::new(Box::new(f)),
    }))
}

#[test]
fn an_external_policy_sees_the_solver_set_after_boot_and_is_applied() {
    let mech = Mechanics {
        boot_report_delay_s: 2.0,
        ..Mechanics::default()
    };
    let seen = Arc::new(Mutex::new(vec![]));
    let log = seen.clone();
    let mut h = Host::new(8192, Some(0), mech)
        .unwrap()
        .with_policy(scripted(move |view| {
            log.lock()
                .unwrap()
                .push((view.ids.clone(), view.pool_mb, view.target_mb.clone()));
            // Minimum + 1 MB, rounded down to the unit by the host: the minimum.
            Ok(view.minimum_mb.iter().map(|&m| m + 1).collect())
        }))
        .unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let b = h
        .add_vm(
            "b",
            &VmSpec {
                dynamic: false, // static: holds its startup, outside the view
                ..spec(2048, 2048, 2048, 5000)
            },
        )
        .unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    h.set_demand(a, 1000).unwrap();
    h.tick(1.0).unwrap(); // a still booting: not in the view
    h.tick(1.0).unwrap(); // a boots in this tick: in the view
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], (vec![], 8192 - 1024 - 2048, vec![]));
    assert_eq!(seen[1], (vec![a.0 as i64], 8192 - 2048, vec![1200]));
    drop(seen);
    // g = 512: the excess goes lazily (5 s by default), then a holds 512.
    for _ in 0..6 {
        h.tick(1.0).unwrap();
    }
    assert_eq!(h.at(0).assigned_mb(), 512);
}

#[test]
fn a_bad_external_answer_is_a_policy_error_and_changes_nothing() {
    type Answer = fn(&PolicyView) -> Result<Vec<i64>>;
    let cases: [(Answer, &str); 5] = [
        (|v| Ok(vec![1024; v.len() + 1]), "allocations for the"),
        (
            |v| Ok(v.minimum_mb.iter().map(|&m| m - 2).collect()),
            "below its minimum_mb 512",
        ),
        (
            |v| Ok(v.maximum_mb.iter().map(|&m| m + 2).collect()),
            "above its maximum_mb 4096",
        ),
        (|v| Ok(v.maximum_mb.clone()), "more than the pool"),
        (
            |_| Err(Error::new(ErrorKind::Policy, None, Value::None, "it broke".into())),
            "it broke",
        ),
    ];
    for (answer, words) in cases {
        let mut h = Host::new(6000, Some(0), instant())
            .unwrap()
            .with_policy(scripted(answer))
            .unwrap();
        for k in 0..2 {
            let id = h.add_vm(&format!("vm{k}"), &spec(1024, 512, 4096, 5000)).unwrap();
            h.start(id).unwrap();
            h.set_demand(id, 3000).unwrap();
        }
        let before = snapshot(&h);
        let e = h.tick(1.0).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Policy);
        assert!(e.message.contains(words), "{}", e.message);
        assert_eq!(snapshot(&h), before, "{words}");
        assert_eq!(h.time_s(), 0.0);
    }
}

/// `Host::run` where an external policy fails at tick 2: the host is as
/// after ticks 0 and 1, that tick's event (b's start) and demand row undone,
/// as `docs/policies.md` says ("the host is exactly as before that tick").
#[test]
fn an_external_failure_in_run_leaves_the_host_as_after_the_ticks_done() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let calls = Arc::new(AtomicUsize::new(0));
    let fail_from = Arc::new(AtomicUsize::new(usize::MAX));
    let (c, f) = (calls.clone(), fail_from.clone());
    let rule = scripted(move |v| {
        if c.fetch_add(1, SeqCst) >= f.load(SeqCst) {
            return Err(Error::new(ErrorKind::Policy, None, Value::None, "it broke".into()));
        }
        Ok(v.minimum_mb.clone())
    });
    let mut h = Host::new(8192, Some(0), instant()).unwrap().with_policy(rule).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    for events in [
        vec![],
        vec![Event {
            tick: 2,
            vm: b,
            action: Action::Start,
        }],
    ] {
        let mut h = h.clone();
        let demand: Vec<i64> = (0..4).flat_map(|k| [1000 + 100 * k, 0]).collect();
        let mut twin = h.clone();
        fail_from.store(usize::MAX, SeqCst);
        twin.run(&demand[..4], 2, 1.0, &[], 1).unwrap();
        fail_from.store(calls.load(SeqCst) + 2, SeqCst); // the run's third call fails
        let rec = h.run(&demand, 4, 1.0, &events, 1).unwrap();
        assert_eq!((rec.ticks, rec.events.len()), (2, 0));
        assert_eq!(rec.failure.map(|e| e.kind), Some(ErrorKind::Policy));
        assert_eq!(snapshot(&h), snapshot(&twin), "events {events:?}");
    }
}

/// Random hosts under every built-in policy: the invariants after every
/// tick, and the same results in one part and in three.
#[test]
fn builtin_policies_keep_the_invariants_on_random_hosts() {
    let policies = [
        Policy::Static,
        Policy::Proportional,
        Policy::Shares { idle_tax: 0.75 },
        Policy::Shares { idle_tax: 0.0 },
        Policy::StrictPriority,
    ];
    for (p, policy) in policies.iter().enumerate() {
        for seed in 1..40u64 {
            let mut rnd = xorshift(seed * 7919 + p as u64);
            let n = 1 + rnd(40) as usize;
            let physical = 4096 + rnd(1 << 16) as i64 * 2;
            let mut hosts: Vec<Host> = (0..2)
                .map(|_| {
                    Host::new(physical, Some(0), instant())
                        .unwrap()
                        .with_policy(policy.clone())
                        .unwrap()
                })
                .collect();
            hosts[1].set_parallel_min(64);
            hosts[1].set_threads(3);
            let mut vms = vec![];
            for k in 0..n {
                let min = 32 + 2 * rnd(1024) as i64;
                let startup = min + 2 * rnd(1024) as i64;
                let max = startup + 2 * rnd(4096) as i64;
                let w = if rnd(5) == 0 { 0 } else { rnd(10001) as i64 };
                vms.push((format!("v{k}"), min, startup, max, w, 5 + rnd(100) as i64));
            }
            for h in hosts.iter_mut() {
                for (name, min, startup, max, w, b) in &vms {
                    let s = VmSpec {
                        buffer_pct: *b,
                        ..spec(*startup, *min, *max, *w)
                    };
                    let id = h.add_vm(name, &s).unwrap();
                    let _ = h.start(id);
                }
            }
            for _ in 0..30 {
                let demand: Vec<i64> = (0..n).map(|_| rnd(6000) as i64).collect();
                for h in hosts.iter_mut() {
                    h.set_demands(&demand).unwrap();
                    h.tick(1.0).unwrap();
                    invariant(h);
                }
                assert_eq!(
                    hosts[0].state_dump(),
                    hosts[1].state_dump(),
                    "{} seed {seed}",
                    policy.name()
                );
            }
        }
    }
}
