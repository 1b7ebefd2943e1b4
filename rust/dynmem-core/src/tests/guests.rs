//! Guest profiles (`guest.rs`, `host/guests.rs`): Linux's balloon floor in
//! the reported demand and as a lower bound, its 45 reports and memory
//! blocks, a user's stuck and slow guests, errors, snapshots; the
//! hand-computed cases come from the shared doc's figures (§8).

use super::*;
use crate::guest::{BalloonFloor, HotAdd};

fn stuck() -> Guest {
    Guest {
        name: "stuck".into(),
        report_delay_s: Some(f64::INFINITY),
        ..Guest::windows()
    }
}

#[test]
fn linux_reports_its_floor_on_top_of_committed_memory() {
    let mut h = Host::new(65536, Some(0), instant()).unwrap();
    // 2 GiB of startup memory: floor 360 MB (§8).
    let a = h
        .add_vm_with_guest("a", &spec(2048, 512, 8192, 5000), &Guest::linux())
        .unwrap();
    let vm = h.vm(a).unwrap();
    assert_eq!((vm.balloon_floor_mb(), vm.effective_minimum_mb()), (360, 512));
    assert_eq!(vm.guest(), &Guest::linux());
    h.set_demand(a, 1000).unwrap();
    let vm = h.vm(a).unwrap();
    assert_eq!((vm.demand_mb(), vm.guest_reported_mb()), (1000, 1360));
    assert_eq!(&*h.demands(), &[1000]);
    assert_eq!(h.reported_demands(), &[1360]);
    h.start(a).unwrap();
    for _ in 0..45 {
        h.tick(1.0).unwrap();
    }
    h.tick(45.0).unwrap(); // past the remove delay: down to the target
                           // Target: ceil(1360 × 1.2) = 1632; pressure of the reported figure.
    let vm = h.vm(a).unwrap();
    assert_eq!((vm.state(), vm.assigned_mb()), (VmState::Running, 1632));
    assert_eq!(vm.pressure(), 1360.0 / 1632.0 * 100.0);
    assert_eq!(vm.paging_mb(), 0);
    // A Windows guest of the same settings and committed memory gets 1200.
    let w = h.add_vm("w", &spec(2048, 512, 8192, 5000)).unwrap();
    h.set_demand(w, 1000).unwrap();
    h.start(w).unwrap();
    h.tick(45.0).unwrap();
    assert_eq!(h.vm(w).unwrap().assigned_mb(), 1200);
}

#[test]
fn linux_refuses_to_balloon_below_its_floor() {
    // 1 GiB startup, minimum 256: the floor of 1024 MB is 232 — below the
    // minimum, so nothing changes; with 8 GiB startup it is 744.
    let mut h = Host::new(16384, Some(0), instant()).unwrap();
    let small = h
        .add_vm_with_guest("small", &spec(1024, 256, 8192, 5000), &Guest::linux())
        .unwrap();
    assert_eq!(h.vm(small).unwrap().effective_minimum_mb(), 256);
    let big = h
        .add_vm_with_guest("big", &spec(8192, 512, 16384, 5000), &Guest::linux())
        .unwrap();
    assert_eq!(h.vm(big).unwrap().effective_minimum_mb(), 744);
    assert_eq!(h.vm(big).unwrap().config().minimum_mb, 512); // as configured
    let hog = h.add_vm("hog", &spec(1024, 1024, 16384, 10000)).unwrap();
    h.start_many(&[small, big, hog]).unwrap();
    h.tick(45.0).unwrap();
    // Committed 0: the big guest reports 744 and is ballooned down to 744,
    // never to its configured minimum of 512, whatever the hog demands.
    h.set_demand(hog, 100_000).unwrap();
    for _ in 0..20 {
        h.tick(1.0).unwrap();
        invariant(&h);
    }
    let vm = h.vm(big).unwrap();
    assert_eq!((vm.guest_reported_mb(), vm.assigned_mb()), (744, 744));
    assert_eq!(h.vm(small).unwrap().assigned_mb(), 256);
    // A start that needs memory balloons it no further either (a Windows
    // guest would give 744 − 512 MB, enough for this one; the hog's weight
    // is above the newcomer's, so it gives nothing).
    let late = h.add_vm("late", &spec(128, 128, 128, 5000)).unwrap();
    let e = h.start(late).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InsufficientMemory);
    assert_eq!(h.vm(big).unwrap().assigned_mb(), 744);
}

#[test]
fn linux_reports_after_45_reports_windows_after_the_policy_delay() {
    let mech = Mechanics {
        boot_report_delay_s: 10.0,
        ..Mechanics::default()
    };
    let mut h = Host::new(16384, Some(0), mech).unwrap();
    let l = h
        .add_vm_with_guest("l", &spec(1024, 512, 4096, 1), &Guest::linux())
        .unwrap();
    let w = h.add_vm("w", &spec(1024, 512, 4096, 1)).unwrap();
    let s = h.add_vm_with_guest("s", &spec(1024, 512, 4096, 1), &stuck()).unwrap();
    h.start_many(&[l, w, s]).unwrap();
    let state = |h: &Host, id| h.vm(id).unwrap().state();
    for t in 1..=200 {
        h.tick(1.0).unwrap();
        let want_l = if t >= 45 { VmState::Running } else { VmState::Starting };
        let want_w = if t >= 10 { VmState::Running } else { VmState::Starting };
        assert_eq!((state(&h, l), state(&h, w)), (want_l, want_w), "t = {t}");
        assert_eq!(state(&h, s), VmState::Starting); // never reports
    }
    // Demand 0: the reporting guests shrink; the stuck one holds startup.
    assert_eq!(h.vm(s).unwrap().assigned_mb(), 1024);
    assert!(h.vm(w).unwrap().assigned_mb() < 1024);
}

#[test]
fn linux_hot_adds_memory_blocks() {
    let mut h = Host::new(400_000, Some(0), instant()).unwrap();
    let l = h
        .add_vm_with_guest("l", &spec(1024, 1024, 8192, 1), &Guest::linux())
        .unwrap();
    let chunky = Guest {
        name: "chunky".into(),
        hot_add: HotAdd::Chunk(512),
        ..Guest::windows()
    };
    let c = h.add_vm_with_guest("c", &spec(1024, 1024, 8192, 1), &chunky).unwrap();
    // Above 64 GiB: 2 GiB blocks (131072 = 2^17 MB).
    let big = h
        .add_vm_with_guest("big", &spec(131072, 131072, 262144, 1), &Guest::linux())
        .unwrap();
    h.start_many(&[l, c, big]).unwrap();
    h.tick(45.0).unwrap();
    // Linux reports committed + floor(1024) = 1000 + 232: target
    // ceil(1232 × 1.2) = 1479 → 1480; visible 1024 + 4 × 128 = 1536.
    h.set_demand(l, 1000).unwrap();
    h.set_demand(c, 1000).unwrap();
    h.set_demand(big, 140_000).unwrap(); // + floor 488 + 4096
    h.tick(1.0).unwrap();
    let vm = h.vm(l).unwrap();
    assert_eq!((vm.assigned_mb(), vm.visible_mb()), (1480, 1536));
    // The user's 512 MB chunks: 1200 assigned, 1024 + 512 visible.
    let vm = h.vm(c).unwrap();
    assert_eq!((vm.assigned_mb(), vm.visible_mb()), (1200, 1536));
    // 144,584 × 1.2 = 173,500.8 → 173,502; visible in 2048 MB blocks.
    let vm = h.vm(big).unwrap();
    assert_eq!(vm.assigned_mb(), 173_502);
    assert_eq!(vm.visible_mb(), 131_072 + 21 * 2048);
}

#[test]
fn every_vector_form_agrees_with_mixed_guests() {
    let mut h = Host::new(40_000, Some(0), instant()).unwrap();
    let slow = Guest {
        name: "slow".into(),
        report_delay_s: Some(7.5),
        ..Guest::linux()
    };
    let guests = [Guest::windows(), Guest::linux(), stuck(), slow];
    let mut rnd = xorshift(7);
    let n = 300;
    let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let specs: Vec<VmSpec> = (0..n)
        .map(|_| {
            let s = 128 * (1 + rnd(16) as i64);
            spec(s, 64, s * 4, rnd(10_001) as i64)
        })
        .collect();
    let chosen: Vec<Guest> = (0..n).map(|_| guests[rnd(4) as usize].clone()).collect();
    h.add_vms_with_guests(&names, &specs, &chosen).unwrap();
    let mut hosts = in_every_form(h);
    let ids = hosts[0].ids();
    for t in 0..60 {
        let demands: Vec<i64> = (0..n).map(|_| rnd(3000) as i64).collect();
        let starts: Vec<VmId> = ids.iter().copied().filter(|_| rnd(4) == 0).collect();
        step_every_form(&mut hosts, &format!("tick {t}"), |h| {
            let off: Vec<VmId> = starts
                .iter()
                .copied()
                .filter(|&id| h.vm(id).unwrap().state() == VmState::Off)
                .collect();
            h.start_many(&off).unwrap();
            h.set_demands(&demands).unwrap();
            h.tick(1.0).unwrap();
        });
        for vm in hosts[0].vms() {
            if vm.state() == VmState::Running && vm.config().dynamic {
                assert!(vm.assigned_mb() >= vm.balloon_floor_mb().max(vm.config().minimum_mb));
            }
        }
    }
}

#[test]
fn bad_guests_change_nothing() {
    let mut h = Host::new(16384, Some(0), instant()).unwrap();
    h.add_vm("a", &spec(1024, 512, 4096, 1)).unwrap();
    let before = snapshot(&h);
    let e = h
        .add_vm_with_guest(
            "b",
            &spec(1024, 512, 4096, 1),
            &Guest {
                report_delay_s: Some(-1.0),
                ..Guest::linux()
            },
        )
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("guest.report_delay_s"));
    assert!(e.message.contains("got -1"), "{}", e.message);
    // A bad VM with a new (good) guest leaves the table as it was.
    let e = h
        .add_vm_with_guest("b", &spec(1024, 2048, 4096, 1), &Guest::linux())
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("minimum_mb"));
    let odd = Guest {
        hot_add: HotAdd::Chunk(7),
        ..Guest::windows()
    };
    let e = h
        .add_vms_with_guests(&["x", "y"], &[spec(1024, 512, 4096, 1); 2], &[Guest::linux(), odd])
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("guest[1].hot_add_chunk_mb"));
    let e = h
        .add_vms_with_guests(&["x", "y"], &[spec(1024, 512, 4096, 1); 2], &vec![Guest::linux(); 3])
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("guest"));
    assert_eq!(snapshot(&h), before);
    assert_eq!(h.guest_profiles(), &[Guest::windows()]);
    // At most 256 distinct profiles; equal ones share an entry.
    let many: Vec<Guest> = (0..255)
        .map(|k| Guest {
            name: format!("g{k}"),
            ..Guest::windows()
        })
        .collect();
    let names: Vec<String> = (0..255).map(|k| format!("n{k}")).collect();
    h.add_vms_with_guests(&names, &vec![spec(256, 256, 256, 1); 255], &many)
        .unwrap();
    assert_eq!(h.guest_profiles().len(), 256);
    h.add_vm_with_guest("again", &spec(256, 256, 256, 1), &many[3]).unwrap();
    let before = snapshot(&h);
    let e = h
        .add_vm_with_guest("one-more", &spec(256, 256, 256, 1), &Guest::linux())
        .unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Config, Some("guest")));
    assert_eq!(snapshot(&h), before);
}

#[test]
fn a_new_startup_moves_the_floor_and_the_reported_demand() {
    let mut h = Host::new(16384, Some(0), instant()).unwrap();
    let a = h
        .add_vm_with_guest("a", &spec(2048, 128, 8192, 1), &Guest::linux())
        .unwrap();
    h.set_demand(a, 500).unwrap();
    assert_eq!(h.vm(a).unwrap().guest_reported_mb(), 860);
    h.configure(
        a,
        &VmChange {
            startup_mb: Some(8192),
            ..VmChange::default()
        },
    )
    .unwrap();
    let vm = h.vm(a).unwrap();
    assert_eq!((vm.demand_mb(), vm.guest_reported_mb()), (500, 1244));
    assert_eq!((vm.config().minimum_mb, vm.effective_minimum_mb()), (128, 744));
    // Demand near the limit: the report saturates at 2^32 − 1 MB.
    h.set_demand(a, u32::MAX as i64).unwrap();
    assert_eq!(h.vm(a).unwrap().guest_reported_mb(), u32::MAX);
}

#[test]
fn guests_travel_in_snapshots() {
    let mut h = Host::new(65536, Some(0), instant()).unwrap();
    let slow = Guest {
        name: "slow".into(),
        report_delay_s: Some(300.0),
        balloon_floor: BalloonFloor::None,
        hot_add: HotAdd::Chunk(256),
    };
    let ids = h
        .add_vms_with_guests(
            &["a", "b", "c"],
            &[spec(2048, 512, 8192, 1); 3],
            &[Guest::linux(), stuck(), slow],
        )
        .unwrap();
    h.start_many(&ids).unwrap();
    h.set_demands(&[700, 800, 900]).unwrap();
    h.tick(50.0).unwrap();
    let back = Host::from_snapshot(&h.snapshot()).unwrap();
    assert_eq!(snapshot(&back), snapshot(&h));
    assert_eq!(back.guest_profiles(), h.guest_profiles());
    let (mut h, mut back) = (h, back);
    for _ in 0..300 {
        h.tick(1.0).unwrap();
        back.tick(1.0).unwrap();
    }
    assert_eq!(back.state_dump(), h.state_dump());
}

#[test]
fn configured_minimums_are_kept_apart_only_once_a_floor_exists() {
    // Default guests: no column of configured minimums (4 B/VM less);
    // the first Linux VM starts one, and every VM's configured minimum,
    // a changed one included, reads as before.
    let mut h = Host::new(65536, Some(0), instant()).unwrap();
    let a = h.add_vm("a", &spec(2048, 512, 8192, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 256, 4096, 5000)).unwrap();
    h.configure(
        b,
        &VmChange {
            minimum_mb: Some(128),
            ..VmChange::default()
        },
    )
    .unwrap();
    assert!(h.vms_mut().min_config.is_empty());
    let lean = h.heap_bytes();
    let l = h
        .add_vm_with_guest("l", &spec(1024, 64, 4096, 5000), &Guest::linux())
        .unwrap();
    assert_eq!(h.vms_mut().min_config, vec![512, 128, 64]);
    let minimums: Vec<u32> = [a, b, l]
        .iter()
        .map(|&id| h.vm(id).unwrap().config().minimum_mb)
        .collect();
    assert_eq!(minimums, vec![512, 128, 64]);
    // The Linux VM's effective minimum is its floor (232 MB of 1 GB).
    assert_eq!(h.vm(l).unwrap().effective_minimum_mb(), 232);
    assert!(h.heap_bytes() > lean);
    // Snapshots of either kind come back alike.
    let mut copy = Host::from_snapshot(&h.snapshot()).unwrap();
    assert_eq!(copy.vms_mut().min_config, vec![512, 128, 64]);
    let mut plain = Host::new(65536, Some(0), instant()).unwrap();
    plain.add_vm("a", &spec(2048, 512, 8192, 5000)).unwrap();
    let mut copy = Host::from_snapshot(&plain.snapshot()).unwrap();
    assert!(copy.vms_mut().min_config.is_empty());
    assert_eq!(copy.vm(copy.ids()[0]).unwrap().config().minimum_mb, 512);
}
