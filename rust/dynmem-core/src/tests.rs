//! Behaviour tests of the host and balancer.

use crate::*;

fn spec(startup: i64, min: i64, max: i64, weight: i64) -> VmSpec {
    VmSpec {
        startup_mb: startup,
        minimum_mb: Some(min),
        maximum_mb: max,
        weight,
        ..VmSpec::default()
    }
}

fn instant() -> Policy {
    Policy {
        boot_report_delay_s: 0.0,
        ..Policy::default()
    }
}

fn invariant(h: &Host) {
    let total: u64 = h.assigned().iter().map(|&a| a as u64).sum();
    assert!(total + h.reserve_mb() <= h.physical_mb(), "over-committed: {total}");
    for pos in 0..h.len() {
        if h.state(pos) == VmState::Running && h.config(pos).dynamic {
            let c = h.config(pos);
            let a = h.assigned_mb(pos);
            assert!(
                c.minimum_mb <= a && a <= c.maximum_mb,
                "vm {pos}: {a} outside [{}, {}]",
                c.minimum_mb,
                c.maximum_mb
            );
        }
    }
}

#[test]
fn default_reserve_is_the_sp1_rule() {
    let h = Host::new(8192, None, Policy::default()).unwrap();
    assert_eq!(h.reserve_mb(), 896);
}

#[test]
fn plentiful_memory_meets_every_target() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 4096, 100)).unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    h.set_demand(a, 1000).unwrap();
    h.set_demand(b, 2000).unwrap();
    h.tick(1.0).unwrap();
    // 1000 × 1.2 = 1200; 2000 × 1.2 = 2400: weight plays no part.
    assert_eq!(h.assigned(), &[1200, 2400]);
    assert_eq!(h.status(0), Status::Ok);
    invariant(&h);
}

#[test]
fn contention_serves_demand_before_buffer_then_by_weight() {
    let mut h = Host::new(4096, Some(0), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 2000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    // Demands fit (3000) but targets (3600) don't: buffers by weight.
    h.set_demand(a, 1800).unwrap();
    h.set_demand(b, 1800).unwrap();
    h.tick(1.0).unwrap();
    // 248 units of buffer: level 355 gives floor(355·0.2) = 71, floor(355·0.5) = 177.
    assert_eq!(h.assigned(), &[1800 + 2 * 71, 1800 + 2 * 177]);
    assert_eq!(h.status(0), Status::Low);
    // Demands don't fit: above the minimum, proportional to weight.
    h.set_demand(a, 4000).unwrap();
    h.set_demand(b, 4000).unwrap();
    h.tick(1.0).unwrap();
    // 1536 units above the minimums: level 2195 gives 439 and 1097.
    assert_eq!(h.assigned(), &[512 + 2 * 439, 512 + 2 * 1097]);
    assert_eq!(h.status(1), Status::Warning);
    assert_eq!(h.paging_mb(1), 4000 - 2706);
    invariant(&h);
}

#[test]
fn booting_vm_holds_startup_until_it_reports() {
    let mut h = Host::new(8192, Some(512), Policy::default()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 3000).unwrap();
    for _ in 0..44 {
        h.tick(1.0).unwrap();
        assert_eq!(h.assigned_mb(0), 1024);
        assert_eq!(h.state(0), VmState::Starting);
    }
    h.tick(1.0).unwrap();
    assert_eq!(h.state(0), VmState::Running);
    assert_eq!(h.assigned_mb(0), 3600);
    // Visible grows in 128 MB hot-add chunks from startup.
    assert_eq!(h.visible_mb(0), 1024 + 21 * 128); // 2576 MB added: 21 chunks
}

#[test]
fn removal_is_lazy_when_plentiful_and_unballoon_precedes_hot_add() {
    let mut h = Host::new(16384, Some(0), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 8192, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 4000).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned_mb(0), 4800);
    let visible = h.visible_mb(0);
    h.set_demand(a, 1000).unwrap();
    for _ in 0..4 {
        h.tick(1.0).unwrap();
        assert_eq!(h.assigned_mb(0), 4800, "removal waits remove_delay_s");
    }
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned_mb(0), 4800 - 256);
    for _ in 0..20 {
        h.tick(1.0).unwrap();
    }
    assert_eq!(h.assigned_mb(0), 1200);
    assert_eq!(h.visible_mb(0), visible, "visible never shrinks");
    // Growing again within visible: unballoon only.
    h.set_demand(a, 3000).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned_mb(0), 3600);
    assert_eq!(h.visible_mb(0), visible);
    let c = h.vm_counters(0);
    assert_eq!(c.added_memory_mb, (4800 - 1024) + (3600 - 1200));
    assert_eq!(c.removed_memory_mb, 4800 - 1200);
    assert_eq!(c.add_operations, 2);
}

#[test]
fn removal_is_prompt_when_another_vm_needs_memory() {
    let mut h = Host::new(4096, Some(0), instant()).unwrap();
    let a = h.add_vm("a", &spec(512, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(512, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    h.set_demand(a, 2500).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[3000, 512]);
    h.set_demand(a, 500).unwrap();
    h.set_demand(b, 2500).unwrap();
    h.tick(1.0).unwrap();
    // b needs 3000; a gives what is needed at once, keeps the rest lazily.
    assert_eq!(h.assigned_mb(1), 3000);
    assert_eq!(h.assigned_mb(0), 4096 - 3000);
    invariant(&h);
}

#[test]
fn start_reclaims_low_weight_first_or_fails_changing_nothing() {
    let mut h = Host::new(4096, Some(0), instant()).unwrap();
    let lo = h.add_vm("lo", &spec(512, 512, 4096, 100)).unwrap();
    let hi = h.add_vm("hi", &spec(512, 512, 4096, 9000)).unwrap();
    h.start(lo).unwrap();
    h.start(hi).unwrap();
    h.set_demand(lo, 1500).unwrap();
    h.set_demand(hi, 1500).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[1800, 1800]);
    let big = h.add_vm("big", &spec(2048, 2048, 4096, 9000)).unwrap();
    let before = h.assigned().to_vec();
    let tiny = h.add_vm("tiny", &spec(1024, 1024, 4096, 0)).unwrap();
    let e = h.start(tiny).unwrap_err();
    assert_eq!(
        e.kind,
        ErrorKind::InsufficientMemory,
        "a weight-0 VM takes memory from nobody"
    );
    assert_eq!(h.assigned()[..2], before[..2]);
    h.start(big).unwrap();
    // Needs 2048 − 496 free = 1552: lo gives 1288 (to its minimum), hi 264.
    assert_eq!(&h.assigned()[..3], &[512, 1536, 2048]);
    invariant(&h);
    let huge = h.add_vm("huge", &spec(4096, 4096, 4096, 10000)).unwrap();
    let before = h.assigned().to_vec();
    assert_eq!(h.start(huge).unwrap_err().kind, ErrorKind::InsufficientMemory);
    assert_eq!(h.assigned(), &before[..]);
}

#[test]
fn static_vm_holds_startup() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let s = h
        .add_vm(
            "s",
            &VmSpec {
                dynamic: false,
                ..spec(2048, 2048, 4096, 5000)
            },
        )
        .unwrap();
    h.start(s).unwrap();
    h.set_demand(s, 4000).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned_mb(0), 2048);
    assert_eq!(h.state(0), VmState::Running);
    assert_eq!(h.status(0), Status::Warning);
}

/// Everything observable about a host, to compare before and after a failure.
fn snapshot(h: &Host) -> String {
    let per_vm: Vec<String> = (0..h.len())
        .map(|p| {
            format!(
                "{:?} {:?} {} {} {} {} {:?}",
                h.state(p),
                h.config(p),
                h.demand_mb(p),
                h.assigned_mb(p),
                h.visible_mb(p),
                h.target_mb(p),
                h.vm_counters(p)
            )
        })
        .collect();
    format!("{:?} {} {} {:?}", h.ids(), h.time_s(), h.available_mb(), per_vm)
}

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
    let ids: Vec<u64> = (0..4)
        .map(|k| h.add_vm(&format!("v{k}"), &VmSpec::default()).unwrap())
        .collect();
    h.remove_vm(ids[1]).unwrap();
    assert_eq!(h.ids(), &[ids[0], ids[2], ids[3]]);
    assert_eq!(h.position(ids[3]).unwrap(), 2);
    assert_eq!(h.name(h.position(ids[2]).unwrap()), "v2");
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
            Policy {
                boot_report_delay_s: 3.0,
                ..Policy::default()
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
                Action::Configure(c) => h2.configure(e.vm, &c),
            };
        }
        h2.set_demands(&demand[k * 3..k * 3 + 3]).unwrap();
        h2.tick(2.0).unwrap();
        if k % 7 == 0 {
            let r = rows * 3..rows * 3 + 3;
            assert_eq!(&rec.assigned_mb[r.clone()], h2.assigned());
            assert_eq!(&rec.visible_mb[r.clone()], h2.visible());
            assert_eq!(&rec.demand_mb[r.clone()], h2.demands());
            for p in 0..3 {
                assert_eq!(rec.target_mb[r.start + p] as u64, h2.target_mb(p));
                assert_eq!(rec.pressure[r.start + p], h2.pressure(p));
                assert_eq!(rec.status[r.start + p], h2.status(p) as u8);
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
    assert_eq!(h.state(0), VmState::Off);
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
        assert_eq!(one.vm_counters(p), many.vm_counters(p));
    }
    assert_eq!(one.available_mb(), many.available_mb());
    invariant(&many);
    // Rejected as a whole: a repeated VM, an already started VM.
    let before = many.assigned().to_vec();
    let off: Vec<u64> = (0..12)
        .filter(|&p| many.state(p) == VmState::Off)
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
    let ids: Vec<u64> = (0..5)
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
    let ids: Vec<u64> = (0..3)
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

/// A xorshift generator: `rnd(m)` is in `0..m`.
fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    }
}

/// The same host three times: as this CPU's widest vector forms run it,
/// capped to the AVX2 forms, and capped to the scalar forms.
/// The host in every vector form, and in parts on several threads: the
/// widest form in 3 parts and AVX2 in 2 (from 128 VMs on), the scalar
/// forms on one thread.
fn in_every_form(mut h: Host) -> [Host; 4] {
    let (mut avx2, mut scalar) = (h.clone(), h.clone());
    avx2.set_vector_cap(VectorCap::Avx2);
    scalar.set_vector_cap(VectorCap::Scalar);
    scalar.set_threads(1);
    h.set_threads(3);
    avx2.set_threads(2);
    for parallel in [&mut h, &mut avx2] {
        parallel.set_parallel_min(128);
    }
    let unguessed = scalar.clone();
    [h, avx2, scalar, unguessed]
}

/// Applies `step` to every form, then checks that they agree column by
/// column (and the invariants). The fourth host is scalar and never lets
/// pass 1 guess the contended stage (`Host::forget_stage`): the guess may
/// only save a pass, never change a result.
fn step_every_form(hosts: &mut [Host; 4], context: &str, mut step: impl FnMut(&mut Host)) {
    hosts[3].forget_stage();
    for h in hosts.iter_mut() {
        step(h);
    }
    let want = hosts[2].state_dump();
    assert_eq!(hosts[0].state_dump(), want, "widest form: {context}");
    assert_eq!(hosts[1].state_dump(), want, "AVX2: {context}");
    assert_eq!(hosts[3].state_dump(), want, "without the stage guess: {context}");
    invariant(&hosts[0]);
}

/// The tick's vector forms (AVX-512, where the CPU has it) and its scalar
/// forms give identical hosts, tick after tick, across every regime: booting
/// VMs, static VMs, plentiful memory, contention, prompt removal, starts and
/// stops, host sizes that are and are not multiples of the vector width.
#[test]
fn vector_and_scalar_ticks_agree() {
    let mut rnd = xorshift(0x0ddb_a11d_u64);
    for round in 0..80 {
        // Every third host is large enough to tick in parts.
        let n = if round % 3 == 1 { 128 + rnd(700) } else { 1 + rnd(70) } as usize;
        // Every fifth host is huge: 1 MB units, odd hot-add chunks, VMs up
        // to the 1 TB maximum and demands up to 2^32 − 1 (the f64 steps'
        // largest magnitudes).
        let big = round % 5 == 4;
        let per_vm = if big {
            400_000
        } else {
            [600u64, 1500, 4000, 9000][round % 4]
        };
        let policy = Policy {
            balloon_unit_mb: if big { 1 } else { 2 },
            hot_add_chunk_mb: if big { 96 } else { 128 },
            boot_report_delay_s: [0.0, 3.0, 45.0][rnd(3) as usize],
            remove_delay_s: [0.0, 2.0, 5.0][rnd(3) as usize],
            remove_rate_mb_per_s: [64.0, 256.0, 1e6][rnd(3) as usize],
        };
        let mut h = Host::new(512 + (n as u64 * per_vm) as i64, Some(512), policy).unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let (min, max) = if big {
                let min = 32 + rnd(5000) as i64;
                (min, (min + rnd(1 << 20) as i64).min(1 << 20))
            } else {
                let min = 64 * (1 + rnd(8) as i64);
                (min, 0)
            };
            let startup = if big {
                min + (max - min) / 4
            } else {
                min * (1 + rnd(2) as i64)
            };
            let spec = VmSpec {
                startup_mb: startup,
                minimum_mb: Some(min),
                maximum_mb: if big { max } else { startup + 128 * rnd(40) as i64 },
                buffer_pct: [5, 20, 50, 2000][rnd(4) as usize],
                weight: [0, 1, 100, 5000, 10000, rnd(10001) as i64][rnd(6) as usize],
                dynamic: rnd(8) != 0,
            };
            ids.push(h.add_vm(&format!("v{i}"), &spec).unwrap());
        }
        if n >= 128 {
            // Large hosts start most of their VMs at once (those that fit),
            // so that they tick contended in parts too.
            let _ = h.start_many(&ids[..n * 3 / 4]).unwrap();
        }
        let mut hosts = in_every_form(h);
        for tick in 0..40 {
            let demands: Vec<i64> = (0..n)
                .map(|_| match (big, rnd(4)) {
                    (false, _) => rnd(6000) as i64,
                    (true, 0) => u32::MAX as i64 - rnd(1000) as i64,
                    (true, _) => rnd(1 << 21) as i64,
                })
                .collect();
            let id = ids[rnd(n as u64) as usize];
            let op = rnd(6);
            step_every_form(&mut hosts, &format!("round {round} tick {tick}"), |host| {
                host.set_demands(&demands).unwrap();
                let _ = match op {
                    0 | 1 => host.start(id),
                    2 if tick % 5 == 0 => host.stop(id),
                    _ => Ok(()),
                };
                host.tick([1.0, 0.5, 3.0][tick % 3]).unwrap();
            });
        }
    }
}

/// The target's f64 form (the vector forms' arithmetic) equals the integer
/// definition, at the extremes too.
#[test]
fn target_in_f64_is_exact() {
    let exact = |d: u32, b: u16| (d as u64 * (100 + b as u64)).div_ceil(100);
    let mut rnd = xorshift(0x007a_26e7_u64);
    let mut demands: Vec<u32> = vec![0, 1, 99, 100, 101, u32::MAX, u32::MAX - 1, u32::MAX / 2];
    demands.extend((0..20_000).map(|_| rnd(u32::MAX as u64 + 1) as u32));
    demands.extend((0..20_000).map(|_| rnd(100_000) as u32));
    for &d in &demands {
        for b in [5u16, 7, 10, 20, 33, 50, 99, 100, 1999, 2000] {
            assert_eq!(crate::host::ceil_pct_f64(d, b), exact(d, b), "demand {d} buffer {b}");
        }
    }
}

/// Ids stay findable through removals (O(1) when nothing before them was
/// removed, binary search otherwise); removed and foreign ids are not; names
/// follow their VMs.
#[test]
fn positions_and_names_survive_removals() {
    let mut h = Host::new(1 << 20, Some(0), instant()).unwrap();
    let ids: Vec<u64> = (0..300)
        .map(|i| h.add_vm(&format!("vm{i}"), &spec(512, 512, 512, 100)).unwrap())
        .collect();
    let mut rnd = xorshift(0x0001_d50f_da7a);
    let mut alive: Vec<(u64, String)> = ids.iter().enumerate().map(|(i, &id)| (id, format!("vm{i}"))).collect();
    for _ in 0..120 {
        let k = rnd(alive.len() as u64) as usize;
        let (id, _) = alive.remove(k);
        h.remove_vm(id).unwrap();
        assert!(h.position(id).is_err());
        for (pos, (id, name)) in alive.iter().enumerate() {
            assert_eq!(h.position(*id).unwrap(), pos);
            assert_eq!(h.find(name).unwrap(), *id);
            assert_eq!(h.name(pos), name);
        }
    }
    let next = h.add_vm("vm-new", &spec(512, 512, 512, 100)).unwrap();
    assert_eq!(h.position(next).unwrap(), alive.len());
    assert!(h.position(next + 1).is_err());
    assert!(h.position(0).is_err(), "ids start at 1: 0 is below every id");
    assert!(h.position(ids[0].wrapping_sub(1)).is_err());
    assert!(h.find("vm-missing").is_err());
}

/// Adversarial shapes for the vector/scalar comparison (after a review):
/// units 1..1024 with odd hot-add chunks, all weights 0 or all equal, tight
/// and huge hosts, boot delays up to 1e6 s, dt from 1e-9 s to a day, starts,
/// stops, removals, adds and weight changes between ticks.
#[test]
fn vector_and_scalar_ticks_agree_on_adversarial_hosts() {
    let mut r = xorshift(0xfeed_beef_1234_5678);
    for round in 0..400 {
        let n = 1 + (round % 40) as usize;
        let unit = [1u32, 2, 4, 64, 1024][r(5) as usize];
        let policy = Policy {
            balloon_unit_mb: unit,
            hot_add_chunk_mb: unit * (1 + r(8) as u32),
            boot_report_delay_s: [0.0, 1.0, 2.5, 1e6][r(4) as usize],
            remove_delay_s: [0.0, 0.5, 1.0, 5.0][r(4) as usize],
            remove_rate_mb_per_s: [0.001, 1.0, 64.0, 1e12][r(4) as usize],
        };
        let (wmode, dyn_mode) = (r(5), r(4));
        let per_vm = [1u64, 300, 2000, 100_000, 1 << 22][r(5) as usize];
        let mut h = Host::new(1024 + (n as u64 * per_vm) as i64, Some(r(1024) as i64), policy).unwrap();
        let make = |r: &mut dyn FnMut(u64) -> u64| {
            let u = unit as i64;
            let min = (32 + u - 1) / u * u + u * r(4096 / u as u64 + 1) as i64;
            let startup = min + u * r(2048 / u as u64 + 1) as i64;
            let max = ((startup + u * r((1 << 20) / u as u64) as i64).min(1 << 20) / u * u).max(startup);
            VmSpec {
                startup_mb: startup,
                minimum_mb: Some(min),
                maximum_mb: max,
                buffer_pct: [5, 20, 50, 2000][r(4) as usize],
                weight: match wmode {
                    0 => 0,
                    1 => 5000,
                    2 => [0, 1, 10000][r(3) as usize],
                    _ => r(10001) as i64,
                },
                dynamic: match dyn_mode {
                    0 => true,
                    1 => false,
                    _ => r(6) != 0,
                },
            }
        };
        let mut names = 0usize;
        for _ in 0..n {
            let spec = make(&mut r);
            h.add_vm(&format!("v{names}"), &spec).unwrap();
            names += 1;
        }
        let mut hosts = in_every_form(h);
        for tick in 0..30 {
            let dmode = r(5);
            let demands: Vec<i64> = (0..hosts[0].len())
                .map(|_| match dmode {
                    0 => 0,
                    1 => u32::MAX as i64 - r(3) as i64,
                    2 => r(1 << 21) as i64,
                    _ => r(8000) as i64,
                })
                .collect();
            let (op, ids) = (r(10), hosts[0].ids().to_vec());
            let pick = if ids.is_empty() {
                0
            } else {
                ids[r(ids.len() as u64) as usize]
            };
            let off = hosts[0].ids_where_off(true);
            let (spec, w) = (make(&mut r), r(10001) as i64);
            let dt = [1.0, 0.5, 3.0, 1e-9, 86400.0][r(5) as usize];
            step_every_form(&mut hosts, &format!("round {round} tick {tick}"), |host| {
                host.set_demands(&demands).unwrap();
                let _ = match op {
                    0 | 1 => host.start_many(&off).map(|_| ()),
                    2 => host.start(pick),
                    3 => host.stop(pick),
                    4 => host.remove_vm(pick),
                    5 => host.add_vm(&format!("n{names}"), &spec).map(|_| ()),
                    6 => host.configure(
                        pick,
                        &VmChange {
                            weight: Some(w),
                            ..Default::default()
                        },
                    ),
                    _ => Ok(()),
                };
                host.tick(dt).unwrap();
            });
            names += (op == 5) as usize;
        }
    }
}

/// Two VMs with room under contention, one of weight 10000 and one of weight
/// 1 (and off VMs every pass still walks): the water level search once
/// crawled a level per pass here (10⁴–10⁶ passes in one tick). Now a handful.
#[test]
fn contended_tick_search_does_not_crawl() {
    let policy = Policy {
        balloon_unit_mb: 1,
        hot_add_chunk_mb: 1,
        boot_report_delay_s: 0.0,
        ..Policy::default()
    };
    let vm = |w: i64| VmSpec {
        startup_mb: 32,
        minimum_mb: Some(32),
        maximum_mb: 1 << 20,
        buffer_pct: 5,
        weight: w,
        dynamic: true,
    };
    // (host memory, weights, demands): a probe lands exactly on the budget;
    // and a first step lands past every cap.
    for (physical, demands) in [(65i64, [33i64, 1 << 20]), ((1 << 20) + 32, [1 << 20, 33])] {
        let mut h = Host::new(physical, Some(0), policy.clone()).unwrap();
        let a = h.add_vm("a", &vm(10000)).unwrap();
        let b = h.add_vm("b", &vm(1)).unwrap();
        for i in 0..200 {
            h.add_vm(&format!("off{i}"), &spec(32, 32, 64, 1)).unwrap();
        }
        h.start(a).unwrap();
        h.start(b).unwrap();
        let mut d = vec![0i64; h.len()];
        d[..2].copy_from_slice(&demands);
        h.set_demands(&d).unwrap();
        let before = crate::solver::tests::PASSES.with(|p| p.get());
        h.tick(1.0).unwrap();
        let passes = crate::solver::tests::PASSES.with(|p| p.get()) - before;
        assert!(passes <= 60, "{passes} passes for host {physical}");
        invariant(&h);
    }
}

/// Steady contention with demand moving a few % per tick: the warm-started
/// search needs about 4 passes a tick (a guard against regressions that the
/// results would not show).
#[test]
fn steady_contention_takes_few_passes_per_tick() {
    let mut r = xorshift(0x5eed);
    let n = 4000;
    let mut h = Host::new(n as i64 * 1500, Some(0), instant()).unwrap();
    for i in 0..n {
        h.add_vm(&format!("v{i}"), &spec(512, 512, 8192, 1 + r(10000) as i64))
            .unwrap();
    }
    let off = h.ids_where_off(true);
    h.start_many(&off).unwrap();
    let mut d: Vec<i64> = (0..n).map(|_| 1000 + r(2000) as i64).collect();
    let (mut passes, mut ticks) = (0, 0);
    for t in 0..80 {
        for x in d.iter_mut() {
            *x = (*x * (97 + r(7) as i64) / 100).clamp(100, 8000);
        }
        h.set_demands(&d).unwrap();
        let before = crate::solver::tests::PASSES.with(|p| p.get());
        h.tick(1.0).unwrap();
        if t >= 10 {
            passes += crate::solver::tests::PASSES.with(|p| p.get()) - before;
            ticks += 1;
        }
    }
    let per_tick = passes as f64 / ticks as f64;
    assert!((1.0..=6.0).contains(&per_tick), "{per_tick} passes per tick");
}

/// Running time is the host clock since each start, summed over the runs
/// (ticks never write it); Average Pressure divides by it, across a stop
/// and a restart; Minimum Pressure reads 0 before the first sample.
#[test]
fn running_time_follows_the_host_clock_across_stops() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 1024).unwrap();
    h.tick(0.5).unwrap();
    let p1 = h.pressure(0);
    h.set_demand(a, 2000).unwrap();
    h.tick(0.25).unwrap();
    let p2 = h.pressure(0);
    assert_eq!(h.running_s(0), 0.75);
    assert_eq!(h.running_s(1), 0.0);
    assert_eq!(h.vm_counters(1).minimum_pressure, 0.0);
    assert_eq!(h.vm_counters(1).average_pressure, 0.0);
    h.stop(a).unwrap();
    h.tick(2.0).unwrap(); // off: no sample, no running time
    assert_eq!(h.running_s(0), 0.75);
    let c = h.vm_counters(0);
    assert_eq!(c.average_pressure, (p1 * 0.5 + p2 * 0.25) / 0.75);
    assert_eq!(c.minimum_pressure, p1.min(p2));
    h.start(a).unwrap();
    h.start(b).unwrap();
    h.set_demand(a, 1701).unwrap();
    assert_eq!(h.running_s(0), 0.75); // (0.75 − 2.75) + 2.75, exact here
    assert_eq!(h.running_s(1), 0.0);
    h.tick(1.0).unwrap();
    let p3 = h.pressure(0);
    assert!(p1 != p2 && p2 != p3 && p1 != p3);
    assert_eq!(h.running_s(0), 1.75);
    assert_eq!(h.running_s(1), 1.0);
    let c = h.vm_counters(0);
    assert_eq!(c.average_pressure, (p1 * 0.5 + p2 * 0.25 + p3 * 1.0) / 1.75);
    assert_eq!(c.maximum_pressure, p1.max(p2).max(p3));
}

/// The counters are exact u64 although a tick touches only their u32 low
/// words: a host whose low words start just below 2^32 counts exactly what a
/// host starting from 0 counts, plus the offset, in every form (carries go
/// to `Vms::carries`), through adds, lazy and prompt removal and the
/// removals of a start.
#[test]
fn counters_carry_past_u32_in_every_form() {
    use crate::host::Counter;
    const KINDS: [Counter; 4] = [Counter::Added, Counter::Removed, Counter::AddOps, Counter::RemoveOps];
    let offset = |k: Counter| match k {
        Counter::Added | Counter::Removed => u32::MAX as u64 - 5000,
        Counter::AddOps | Counter::RemoveOps => u32::MAX as u64 - 2,
    };
    let mut rnd = xorshift(0xc0a7_u64);
    // Enough VMs for the wide forms to tick in parts (carries found in a
    // later part name the right VM), with a scalar tail.
    let n = 149;
    let mut fresh = Host::new(n as i64 * 1950, Some(512), instant()).unwrap();
    let ids: Vec<u64> = (0..n)
        .map(|i| {
            fresh
                .add_vm(&format!("v{i}"), &spec(1024, 512, 8192, 100 + 66 * i as i64))
                .unwrap()
        })
        .collect();
    let late = fresh.add_vm("late", &spec(8192, 8192, 8192, 10_000)).unwrap();
    for &id in &ids {
        fresh.start(id).unwrap();
    }
    let mut near = fresh.clone();
    for k in KINDS {
        near.vms_mut()
            .counter_mut(k)
            .iter_mut()
            .for_each(|lo| *lo = offset(k) as u32);
    }
    let mut hosts = in_every_form(near);
    for t in 0..40 {
        let demands: Vec<i64> = (0..=n).map(|_| rnd(9000) as i64).collect();
        let step = |h: &mut Host| {
            h.set_demands(&demands).unwrap();
            if t == 20 {
                let _ = h.start(late); // may balloon others (a start's removals)
            }
            h.tick(1.0).unwrap();
        };
        step_every_form(&mut hosts, &format!("tick {t}"), step);
        step(&mut fresh);
        for pos in 0..=n {
            for k in KINDS {
                let (got, base) = (hosts[0].vms_mut().counter(k, pos), fresh.vms_mut().counter(k, pos));
                assert_eq!(got, base + offset(k), "tick {t}, VM {pos}, {k:?}");
            }
        }
    }
    for k in KINDS {
        assert!(
            hosts[0].vms_mut().carries.keys().any(|&(_, kk)| kk == k),
            "no {k:?} counter carried: the test did not reach 2^32"
        );
    }
    // Removing a VM drops its carries.
    let h = &mut hosts[2];
    let id0 = ids[0];
    h.stop(id0).unwrap();
    h.remove_vm(id0).unwrap();
    assert!(h.vms_mut().carries.keys().all(|&(id, _)| id != id0));
}

/// Σ assigned stays exact in every form when it is far above 2^32: the
/// AVX-512 pass 2 adds u32 lanes and folds them into u64 every 2048 groups
/// of 16 (70,000 VMs of 1 TB: 4,375 groups, each lane's share ≈ 2^32).
#[test]
fn assigned_sum_is_exact_past_u32_lanes() {
    let tb = crate::config::MAX_MAXIMUM_MB as i64;
    let n = 70_000usize;
    let mut h = Host::new(1 << 40, Some(0), instant()).unwrap();
    let spec = VmSpec {
        startup_mb: tb,
        maximum_mb: tb,
        dynamic: false,
        ..VmSpec::default()
    };
    let ids: Vec<u64> = (0..n).map(|i| h.add_vm(&format!("s{i}"), &spec).unwrap()).collect();
    assert!(h.start_many(&ids).unwrap().is_empty());
    let mut hosts = in_every_form(h);
    for t in 0..2 {
        step_every_form(&mut hosts, &format!("tick {t}"), |h| h.tick(1.0).unwrap());
    }
    assert_eq!(hosts[0].available_mb(), (1i64 << 40) - n as i64 * tb);
}

/// Pass 1's sums and scan stay exact in every form when each is far above
/// 2^32 per lane (the AVX-512 form adds u32 lanes and folds them into u64
/// every 2048 groups of 16): 70,000 running VMs with targets near 1 TB.
#[test]
fn pass1_sums_are_exact_past_u32_lanes() {
    use crate::tick::{self, Pass1, Sums, View};
    let tb = crate::config::MAX_MAXIMUM_MB as i64;
    let n = 70_000usize;
    let mut h = Host::new(1 << 40, Some(0), instant()).unwrap();
    let specs: Vec<VmSpec> = (0..n)
        .map(|i| VmSpec {
            startup_mb: 1024,
            minimum_mb: Some(1024),
            maximum_mb: tb,
            weight: (i * 7 % 10_001) as i64,
            ..VmSpec::default()
        })
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
    let ids = h.add_vms(&names, &specs).unwrap();
    assert!(h.start_many(&ids).unwrap().is_empty());
    h.tick(1.0).unwrap(); // running from here on
    let demands: Vec<i64> = (0..n).map(|i| tb - 300 - (i as i64 % 1000)).collect();
    h.set_demands(&demands).unwrap();
    let results: Vec<(Sums, crate::solver::Scan)> = [VectorCap::Avx512, VectorCap::Avx2, VectorCap::Scalar]
        .into_iter()
        .map(|cap| {
            let (mut target, mut caps) = (vec![0u32; n], vec![0u32; n]);
            let p = Pass1 {
                dt_s: 1.0,
                boot_delay: 0.0,
                u: 2,
                target: &mut target,
                stage: Some(true),
                caps: &mut caps,
                sums: Sums::default(),
                scan: crate::solver::Scan::default(),
            };
            tick::pass1(View::of(h.vms_mut()), p, cap, 1)
        })
        .collect();
    assert!(
        results[2].0.sum_t > 16 * u32::MAX as u64,
        "the sums must pass 2^32 per lane"
    );
    assert_eq!(results[0], results[2], "AVX-512");
    assert_eq!(results[1], results[2], "AVX2");
}

/// `Host::run` on a host that ticks in parts (3 parts from 128 VMs on)
/// records and ends exactly as one-thread stepping by hand.
#[test]
fn run_in_parts_equals_one_thread_stepping() {
    let n = 400usize;
    let build = |threads: usize| {
        let mut h = Host::new(n as i64 * 1400, Some(512), instant()).unwrap();
        let specs: Vec<VmSpec> = (0..n)
            .map(|i| VmSpec {
                weight: (i * 37 % 10_001) as i64,
                ..spec(512, 256, 8192, 0)
            })
            .collect();
        let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let ids = h.add_vms(&names, &specs).unwrap();
        assert!(h.start_many(&ids).unwrap().is_empty());
        h.set_threads(threads);
        h.set_parallel_min(128);
        h
    };
    let ticks = 30usize;
    let demand: Vec<i64> = (0..ticks * n).map(|k| 300 + ((k * 7919) % 2600) as i64).collect();
    let mut parts = build(3);
    let rec = parts.run(&demand, ticks, 1.0, &[], 1).unwrap();
    let mut single = build(1);
    for k in 0..ticks {
        single.set_demands(&demand[k * n..(k + 1) * n]).unwrap();
        single.tick(1.0).unwrap();
        assert_eq!(&rec.assigned_mb[k * n..(k + 1) * n], single.assigned(), "tick {k}");
    }
    assert!(single.available_mb() < 1024, "the host must be contended");
    assert_eq!(parts.state_dump(), single.state_dump());
}
