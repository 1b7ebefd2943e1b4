//! Operations on hosts: all or nothing, runs, batches, removals, exact sums.

use super::*;

#[test]
fn failed_operations_change_nothing() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(2048, 1024, 4096, 100)).unwrap();
    h.start(b).unwrap();
    h.set_demands(&[700, 3000]).unwrap();
    h.tick(1.0).unwrap();
    let check = |h: &mut Host, f: &dyn Fn(&mut Host) -> Result<()>, kind: ErrorKind, field: &str| {
        let before = snapshot(h);
        let e = f(h).unwrap_err();
        assert_eq!((e.kind, e.field.as_deref()), (kind, Some(field)), "{e}");
        assert_eq!(snapshot(h), before, "{e}");
    };
    check(
        &mut h,
        &|h| h.add_vm("a", &VmSpec::default()).map(|_| ()),
        ErrorKind::Config,
        "name",
    );
    check(&mut h, &|h| h.stop(a), ErrorKind::State, "state");
    check(&mut h, &|h| h.start(b), ErrorKind::State, "state");
    check(&mut h, &|h| h.remove_vm(b), ErrorKind::State, "state");
    check(&mut h, &|h| h.set_demands(&[5, 6, 7]), ErrorKind::Config, "demand_mb");
    check(&mut h, &|h| h.set_demands(&[5, -1]), ErrorKind::Config, "demand_mb[1]");
    check(&mut h, &|h| h.set_demand(a, -3), ErrorKind::Config, "demand_mb");
    check(&mut h, &|h| h.tick(f64::NAN), ErrorKind::Config, "dt_s");
    let raise_min = VmChange {
        minimum_mb: Some(1536),
        ..Default::default()
    };
    check(&mut h, &|h| h.configure(b, &raise_min), ErrorKind::State, "minimum_mb");
    let bad = VmChange {
        weight: Some(1),
        buffer_pct: Some(1),
        ..Default::default()
    };
    check(&mut h, &|h| h.configure(a, &bad), ErrorKind::Config, "buffer_pct");
    check(
        &mut h,
        &|h| h.start_many(&[a, a]).map(|_| ()),
        ErrorKind::State,
        "vms[1]",
    );
    check(&mut h, &|h| h.stop_many(&[b, a]), ErrorKind::State, "vms[1]");
    let names = vec!["c".to_string(), "d".to_string()];
    let specs = [
        VmSpec::default(),
        VmSpec {
            weight: -1,
            ..VmSpec::default()
        },
    ];
    check(
        &mut h,
        &|h| h.add_vms(&names, &specs).map(|_| ()),
        ErrorKind::Config,
        "weight[1]",
    );
    check(
        &mut h,
        &|h| h.run(&[1, 1, 1, -1], 2, 1.0, &[], 1).map(|_| ()),
        ErrorKind::Config,
        "demand_mb[1, 1]",
    );
    // A start without memory: a VM too big for what it may take.
    let big = h.add_vm("big", &spec(8192, 8192, 8192, 10000)).unwrap();
    check(&mut h, &|h| h.start(big), ErrorKind::InsufficientMemory, "startup_mb");
    h.stop(b).unwrap();
    h.remove_vm(b).unwrap();
    check(&mut h, &|h| h.start(b), ErrorKind::State, "vm");
}

#[test]
fn removal_keeps_order_and_ids() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let ids: Vec<VmId> = (0..4)
        .map(|k| h.add_vm(&format!("v{k}"), &VmSpec::default()).unwrap())
        .collect();
    h.remove_vm(ids[1]).unwrap();
    assert_eq!(h.ids(), &[ids[0], ids[2], ids[3]]);
    assert_eq!(h.position(ids[3]).unwrap(), 2);
    assert_eq!(h.at(h.position(ids[2]).unwrap()).name(), "v2");
    let again = h.add_vm("v1", &VmSpec::default()).unwrap();
    assert_ne!(again, ids[1], "ids are never reused");
}

#[test]
fn reference_scenario_split_at_thirty_minutes() {
    // Finance weight 2000, Engineering 5000: 3.5 GB above floors splits 1:2.5.
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let f = h.add_vm("Finance", &spec(1024, 1024, 4096, 2000)).unwrap();
    let e = h.add_vm("Engineering", &spec(1024, 1024, 4096, 5000)).unwrap();
    let s = h.add_vm("Sales", &spec(1024, 1024, 4096, 5000)).unwrap();
    let x = h.add_vm("Fourth", &spec(1024, 1024, 4096, 5000)).unwrap();
    for id in [f, e, s, x] {
        h.start(id).unwrap();
    }
    h.set_demand(f, 3000).unwrap();
    h.set_demand(e, 3700).unwrap();
    h.set_demand(s, 700).unwrap();
    h.set_demand(x, 700).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[2048, 3584, 1024, 1024]);
}

#[test]
fn run_equals_stepping_by_hand() {
    let build = || {
        let mut h = Host::new(
            4096,
            Some(256),
            Mechanics {
                boot_report_delay_s: 3.0,
                ..Mechanics::default()
            },
        )
        .unwrap();
        let a = h.add_vm("a", &spec(1024, 512, 4096, 2000)).unwrap();
        let b = h.add_vm("b", &spec(1024, 512, 4096, 8000)).unwrap();
        let c = h.add_vm("c", &spec(3072, 3072, 3072, 10000)).unwrap();
        (h, [a, b, c])
    };
    let ticks = 50usize;
    let demand: Vec<i64> = (0..ticks * 3).map(|k| ((k * 7919) % 3000) as i64).collect();
    let (mut h1, ids) = build();
    let events = [
        Event {
            tick: 0,
            vm: ids[0],
            action: Action::Start,
        },
        Event {
            tick: 0,
            vm: ids[1],
            action: Action::Start,
        },
        Event {
            tick: 10,
            vm: ids[2],
            action: Action::Start,
        }, // fails: 2816 MB obtainable at most
        Event {
            tick: 20,
            vm: ids[0],
            action: Action::Configure(VmChange {
                weight: Some(9000),
                ..Default::default()
            }),
        },
        Event {
            tick: 30,
            vm: ids[1],
            action: Action::Stop,
        },
        Event {
            tick: 31,
            vm: ids[2],
            action: Action::Start,
        },
    ];
    let rec = h1.run(&demand, ticks, 2.0, &events, 7).unwrap();
    let (mut h2, _) = build();
    let mut rows = 0;
    for k in 0..ticks {
        for e in events.iter().filter(|e| e.tick == k as u64) {
            let _ = match e.action {
                Action::Start => h2.start(e.vm),
                Action::Stop => h2.stop(e.vm),
                Action::Restart => h2.restart(e.vm),
                Action::Configure(c) => h2.configure(e.vm, &c),
            };
        }
        h2.set_demands(&demand[k * 3..k * 3 + 3]).unwrap();
        h2.tick(2.0).unwrap();
        if k % 7 == 0 {
            let r = rows * 3..rows * 3 + 3;
            assert_eq!(&rec.assigned_mb[r.clone()], h2.assigned());
            assert_eq!(&rec.visible_mb[r.clone()], h2.visible());
            assert_eq!(&rec.demand_mb[r.clone()], &*h2.demands());
            for p in 0..3 {
                assert_eq!(rec.target_mb[r.start + p] as u64, h2.at(p).target_mb());
                assert_eq!(rec.pressure[r.start + p], h2.at(p).pressure());
                assert_eq!(rec.status[r.start + p], h2.at(p).status() as u8);
            }
            assert_eq!(rec.available_mb[rows], h2.available_mb());
            assert_eq!(rec.average_pressure[rows], h2.host_counters().average_pressure);
            assert_eq!(rec.time_s[rows], h2.time_s());
            rows += 1;
        }
    }
    assert_eq!(rec.rows(), rows);
    assert_eq!(snapshot(&h1), snapshot(&h2));
    assert!(rec.events[2].error.is_some(), "the failed start is recorded");
    assert!(rec.events.iter().enumerate().all(|(i, e)| i == 2 || e.error.is_none()));
}

#[test]
fn run_rejects_bad_input_before_changing_anything() {
    let mut h = Host::new(4096, Some(256), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 2000)).unwrap();
    let start = [Event {
        tick: 0,
        vm: a,
        action: Action::Start,
    }];
    assert_eq!(
        h.run(&[1, -1], 2, 1.0, &start, 1).unwrap_err().field.as_deref(),
        Some("demand_mb[1, 0]")
    );
    assert_eq!(
        h.run(&[1], 2, 1.0, &start, 1).unwrap_err().field.as_deref(),
        Some("demand_mb")
    );
    let late = [Event {
        tick: 2,
        vm: a,
        action: Action::Start,
    }];
    assert_eq!(
        h.run(&[1, 1], 2, 1.0, &late, 1).unwrap_err().field.as_deref(),
        Some("events[0].tick")
    );
    assert_eq!(
        h.run(&[1, 1], 2, 0.0, &start, 1).unwrap_err().field.as_deref(),
        Some("dt_s")
    );
    assert_eq!(h.at(0).state(), VmState::Off);
    assert_eq!(h.time_s(), 0.0);
}

#[test]
fn start_many_equals_starting_one_by_one() {
    let build = || {
        let mut h = Host::new(16384, Some(0), instant()).unwrap();
        let mut ids = Vec::new();
        for k in 0..12i64 {
            let w = [0, 100, 5000, 5000, 9000, 10000][k as usize % 6];
            ids.push(
                h.add_vm(&format!("r{k}"), &spec(512, 256 + 64 * (k % 3), 4096, w))
                    .unwrap(),
            );
        }
        for &id in &ids[..8] {
            h.start(id).unwrap();
        }
        let d: Vec<i64> = (0..12).map(|k| 600 + 250 * k).collect();
        h.set_demands(&d).unwrap();
        h.tick(1.0).unwrap();
        (h, ids)
    };
    let (mut one, ids) = build();
    let (mut many, _) = build();
    let mut expect = Vec::new();
    // Big startups so that most starts must reclaim, some fail.
    for (k, &id) in ids[8..].iter().enumerate() {
        one.configure(
            id,
            &VmChange {
                startup_mb: Some(2048 + 1024 * k as i64),
                maximum_mb: Some(8192),
                ..Default::default()
            },
        )
        .unwrap();
        many.configure(
            id,
            &VmChange {
                startup_mb: Some(2048 + 1024 * k as i64),
                maximum_mb: Some(8192),
                ..Default::default()
            },
        )
        .unwrap();
        expect.push(one.start(id).err().map(|e| e.kind));
    }
    let mut got: Vec<Option<ErrorKind>> = vec![None; ids.len() - 8];
    for (k, e) in many.start_many(&ids[8..]).unwrap() {
        got[k] = Some(e.kind);
    }
    assert_eq!(got, expect);
    assert!(
        expect.iter().any(|e| e.is_some()) && expect.iter().any(|e| e.is_none()),
        "{expect:?}"
    );
    assert_eq!(one.assigned(), many.assigned());
    for p in 0..12 {
        assert_eq!(one.at(p).counters(), many.at(p).counters());
    }
    assert_eq!(one.available_mb(), many.available_mb());
    invariant(&many);
    // Rejected as a whole: a repeated VM, an already started VM.
    let before = many.assigned().to_vec();
    let off: Vec<VmId> = (0..12)
        .filter(|&p| many.at(p).state() == VmState::Off)
        .map(|p| ids[p])
        .collect();
    if let Some(&x) = off.first() {
        assert_eq!(many.start_many(&[x, x]).unwrap_err().field.as_deref(), Some("vms[1]"));
    }
    assert_eq!(many.start_many(&[ids[0]]).unwrap_err().kind, ErrorKind::State);
    assert_eq!(many.assigned(), &before[..]);
}

#[test]
fn available_memory_is_tracked_exactly() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let ids: Vec<VmId> = (0..5)
        .map(|k| h.add_vm(&format!("v{k}"), &spec(1024, 512, 4096, 1000 * k)).unwrap())
        .collect();
    let check = |h: &Host| {
        let sum: i64 = h.assigned().iter().map(|&a| a as i64).sum();
        assert_eq!(h.available_mb(), 8192 - 512 - sum);
    };
    for (k, &id) in ids.iter().enumerate() {
        let _ = h.start(id);
        h.set_demands(&[3000, 100, 2500, 4000, 900]).unwrap();
        h.tick(0.5 + k as f64).unwrap();
        check(&h);
    }
    h.stop(ids[2]).unwrap();
    check(&h);
    for _ in 0..30 {
        h.tick(1.0).unwrap();
        check(&h);
    }
}

#[test]
fn add_vms_is_all_or_nothing_and_names_the_entry() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    h.add_vm("a", &VmSpec::default()).unwrap();
    let names: Vec<String> = ["b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let good = VmSpec::default();
    let bad = VmSpec {
        buffer_pct: 1,
        ..VmSpec::default()
    };
    let e = h.add_vms(&names, &[good, good, bad]).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("buffer_pct[2]"));
    assert!(e.message.starts_with("buffer_pct[2] must be between 5 and 2000"), "{e}");
    let dup: Vec<String> = ["b", "a"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        h.add_vms(&dup, &[good, good]).unwrap_err().field.as_deref(),
        Some("names[1]")
    );
    let twice: Vec<String> = ["b", "b"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        h.add_vms(&twice, &[good, good]).unwrap_err().field.as_deref(),
        Some("names[1]")
    );
    assert_eq!(h.len(), 1);
    let ids = h.add_vms(&names, &[good, good, good]).unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(h.find("d").unwrap(), ids[2]);
}

#[test]
fn stop_many_is_all_or_nothing() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let ids: Vec<VmId> = (0..3)
        .map(|k| h.add_vm(&format!("v{k}"), &spec(1024, 512, 4096, 5000)).unwrap())
        .collect();
    h.start(ids[0]).unwrap();
    h.start(ids[1]).unwrap();
    let e = h.stop_many(&[ids[0], ids[2]]).unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::State, Some("vms[1]")));
    assert_eq!(
        h.stop_many(&[ids[1], ids[1]]).unwrap_err().field.as_deref(),
        Some("vms[1]")
    );
    assert_eq!(h.assigned(), &[1024, 1024, 0]);
    h.stop_many(&[ids[1], ids[0]]).unwrap();
    assert_eq!(h.assigned(), &[0, 0, 0]);
    assert_eq!(h.available_mb(), 8192 - 512);
}

/// `add_vms` with a spec count that differs from the name count is a
/// `Config` error on `specs` that changes nothing (it was an assertion: a
/// panic; found by the random-operations check, `crate::fuzzing`).
#[test]
fn add_vms_with_one_spec_too_many_or_few_is_an_error() {
    let mut h = Host::new(8192, Some(512), Mechanics::default()).unwrap();
    h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    for k in [0, 1, 3] {
        let e = h
            .add_vms(&["b", "c"], &vec![spec(1024, 512, 4096, 5000); k])
            .unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_deref(), &e.value),
            (ErrorKind::Config, Some("specs"), &Value::Int(k as i128))
        );
        assert_eq!(
            e.message,
            format!("specs must have one entry per name (2 names), got {k}")
        );
        assert_eq!(h.len(), 1);
    }
}
