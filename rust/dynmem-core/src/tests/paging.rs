//! Smart Paging on restart (`host/paging.rs`): hand-computed starts and
//! drains, a start from off that still fails, 2008 R2 SP1's refusal.
//!
//! The host of most cases: 4096 MB, reserve 0, default mechanics (2 MB
//! units, 45 s boot delay), drain 100 s. VM "a" (startup 2048, minimum 512)
//! runs; static VM "b" (3584 MB) starts and balloons "a" to 512; at T = 45
//! "a" restarts and finds only its own 512 MB: 1536 MB go to the file.

use super::*;

fn paged_host() -> (Host, VmId, VmId) {
    let mut h = Host::new(4096, Some(0), Mechanics::default())
        .unwrap()
        .with_smart_paging_drain_s(100.0)
        .unwrap();
    let a = h.add_vm("a", &spec(2048, 512, 2048, 5000)).unwrap();
    let static_b = VmSpec {
        dynamic: false,
        ..spec(3584, 3584, 3584, 5000)
    };
    let b = h.add_vm("b", &static_b).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 100).unwrap();
    for _ in 0..45 {
        h.tick(1.0).unwrap();
    }
    assert_eq!(h.vm(a).unwrap().state(), VmState::Running);
    h.start(b).unwrap(); // balloons "a" from 2048 to 512
    assert_eq!((h.vm(a).unwrap().assigned_mb(), h.available_mb()), (512, 0));
    h.restart(a).unwrap();
    (h, a, b)
}

fn ticks(h: &mut Host, n: usize) {
    for _ in 0..n {
        h.tick(1.0).unwrap();
        invariant(h);
        crate::fuzzing::check_invariants(h).unwrap();
    }
}

#[test]
fn restart_short_of_memory_pages_the_gap() {
    let (h, a, _) = paged_host();
    let vm = h.vm(a).unwrap();
    assert_eq!(vm.state(), VmState::Starting);
    assert_eq!(
        (vm.assigned_mb(), vm.visible_mb(), vm.smart_paging_mb()),
        (512, 2048, 1536)
    );
    assert_eq!(vm.status(), Status::Paging);
    assert_eq!(vm.counters().smart_paging_working_set_size_mb, 1536);
    assert_eq!((h.available_mb(), h.paging_vms()), (0, 1));
    crate::fuzzing::check_invariants(&h).unwrap();
}

#[test]
fn the_file_drains_to_its_deadline() {
    let (mut h, a, _) = paged_host();
    h.set_demand(a, 500).unwrap(); // target 600: the guest wants 88 MB beyond its 512
    ticks(&mut h, 44); // T = 89: still starting, the file as it was
    assert_eq!(h.vm(a).unwrap().smart_paging_mb(), 1536);
    ticks(&mut h, 1); // T = 90: running; min(1536, 600 − 512, ceil_u(ceil(1536 × 55 / 100))) = 88
    assert_eq!(h.vm(a).unwrap().state(), VmState::Running);
    assert_eq!(h.vm(a).unwrap().smart_paging_mb(), 88);
    ticks(&mut h, 49); // T = 139: 1536 × 6 / 100 = 92.16 → 94, still above 88
    assert_eq!(h.vm(a).unwrap().smart_paging_mb(), 88);
    // T = 140 … 145: 76.8 → 78, 61.44 → 62, 46.08 → 48, 30.72 → 32, 15.36 → 16, 0.
    for want in [78, 62, 48, 32, 16] {
        ticks(&mut h, 1);
        assert_eq!(h.vm(a).unwrap().smart_paging_mb(), want, "T = {}", h.time_s());
        assert_eq!(h.vm(a).unwrap().status(), Status::Paging);
    }
    ticks(&mut h, 1);
    let vm = h.vm(a).unwrap();
    assert_eq!((h.time_s(), vm.smart_paging_mb(), h.paging_vms()), (145.0, 0, 0));
    // 12 MB free of a 100 MB buffer: 12 % → "low".
    assert_eq!(
        (vm.assigned_mb(), vm.available_buffer_pct(), vm.status()),
        (512, 12, Status::Low)
    );
    assert_eq!(vm.counters().smart_paging_working_set_size_mb, 0);
}

#[test]
fn memory_the_guest_does_not_want_is_ballooned_back_at_once() {
    let (mut h, a, _) = paged_host();
    ticks(&mut h, 45); // demand 100: target 512 = what it holds
    let vm = h.vm(a).unwrap();
    assert_eq!((vm.smart_paging_mb(), h.paging_vms(), vm.status()), (0, 0, Status::Ok));
}

#[test]
fn memory_given_back_pages_the_file_in() {
    let (mut h, a, b) = paged_host();
    h.set_demand(a, 1500).unwrap(); // target 1800
    ticks(&mut h, 45); // T = 90: min(1536, 1800 − 512, 846) = 846
    assert_eq!(h.vm(a).unwrap().smart_paging_mb(), 846);
    ticks(&mut h, 10); // T = 100: 1536 × 45 / 100 = 691.2 → 692
    assert_eq!(h.vm(a).unwrap().smart_paging_mb(), 692);
    h.stop(b).unwrap();
    ticks(&mut h, 1); // a gets its target, 1800: min(1800, 2048) − 1800 = 0
    let vm = h.vm(a).unwrap();
    assert_eq!(
        (vm.assigned_mb(), vm.smart_paging_mb(), vm.status()),
        (1800, 0, Status::Ok)
    );
}

#[test]
fn a_restart_with_room_or_a_stop_leaves_no_file() {
    let (mut h, a, _) = paged_host();
    h.stop(a).unwrap();
    assert_eq!((h.vm(a).unwrap().smart_paging_mb(), h.paging_vms()), (0, 0));
    let mut h = Host::new(4096, Some(0), Mechanics::default()).unwrap();
    let a = h.add_vm("a", &spec(2048, 512, 2048, 5000)).unwrap();
    h.start(a).unwrap();
    ticks(&mut h, 50);
    h.restart(a).unwrap();
    let vm = h.vm(a).unwrap();
    assert_eq!(
        (vm.state(), vm.assigned_mb(), vm.smart_paging_mb()),
        (VmState::Starting, 2048, 0)
    );
    // Each VM that can give does, as for a start: b (weight ≤ a's) is ballooned.
    let mut h = Host::new(4096, Some(0), instant()).unwrap();
    let a = h.add_vm("a", &spec(2048, 512, 2048, 5000)).unwrap();
    let b = h.add_vm("b", &spec(2048, 512, 4096, 5000)).unwrap();
    h.start_many(&[a, b]).unwrap();
    h.set_demand(a, 100).unwrap();
    h.set_demand(b, 3000).unwrap();
    ticks(&mut h, 1); // a to 512 at once (b needs it), b to 3584
    assert_eq!(h.assigned(), &[512, 3584]);
    h.restart(a).unwrap();
    assert_eq!(h.assigned(), &[2048, 2048]);
    assert_eq!(h.paging_vms(), 0);
}

#[test]
fn a_start_from_off_still_fails() {
    let (mut h, a, _) = paged_host();
    h.stop(a).unwrap();
    let before = snapshot(&h);
    let e = h.start(a).unwrap_err();
    assert_eq!(
        (e.kind, e.field.as_deref()),
        (ErrorKind::InsufficientMemory, Some("startup_mb"))
    );
    assert_eq!(snapshot(&h), before);
    let e = h.restart(a).unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::State, Some("state")));
    assert_eq!(snapshot(&h), before);
}

#[test]
fn w2008r2sp1_never_pages_and_refuses_what_would() {
    // Minimum = startup there: a running VM holds its startup memory, so
    // its restart finds it again.
    let mut h = Host::new(4096, Some(0), instant())
        .unwrap()
        .with_version(Version::W2008R2Sp1)
        .unwrap();
    let a = h.add_vm("a", &spec(2048, 2048, 2048, 5000)).unwrap();
    let b = h.add_vm("b", &spec(2048, 2048, 2048, 5000)).unwrap();
    h.start_many(&[a, b]).unwrap();
    ticks(&mut h, 3);
    h.restart(a).unwrap();
    assert_eq!((h.vm(a).unwrap().assigned_mb(), h.paging_vms()), (2048, 0));
    // Were it short (a state no operation reaches there), the restart is a
    // Version error and the VM runs on as it was.
    ticks(&mut h, 1);
    h.vms_mut().assigned[0] = 1024;
    let before = snapshot(&h);
    let e = h.restart(a).unwrap_err();
    assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Version, Some("startup_mb")));
    assert!(
        e.message.contains("Smart Paging") && e.message.contains("\"2008r2sp1\""),
        "{}",
        e.message
    );
    assert_eq!(snapshot(&h), before);
}

#[test]
fn drain_time_is_checked() {
    let base = || Host::new(4096, Some(0), instant()).unwrap();
    for bad in [-1.0, f64::NAN, f64::INFINITY, 4e7] {
        let e = base().with_smart_paging_drain_s(bad).unwrap_err();
        assert_eq!(
            (e.kind, e.field.as_deref()),
            (ErrorKind::Config, Some("smart_paging_drain_s"))
        );
    }
    assert_eq!(base().smart_paging_drain_s(), 600.0);
    // 0: the file goes at the guest's first report.
    let (h, _, _) = paged_host();
    let e = h.with_smart_paging_drain_s(0.0).unwrap_err();
    assert_eq!(e.kind, ErrorKind::State);
}

#[test]
fn restart_in_a_run_is_restart_by_hand() {
    let (mut h, a, _) = paged_host();
    h.stop(a).unwrap();
    h.configure(a, &VmChange::default()).unwrap();
    let mut by_hand = h.clone();
    // Run: tick 0 starts nothing new; restart "b" at tick 2 (it has room: static).
    let b = h.find("b").unwrap();
    let events = [Event {
        tick: 2,
        vm: b,
        action: Action::Restart,
    }];
    let demand = vec![0i64; 2 * 4];
    let rec = h.run(&demand, 4, 1.0, &events, 1).unwrap();
    assert!(rec.events.iter().all(|e| e.error.is_none()));
    for k in 0..4 {
        if k == 2 {
            by_hand.restart(b).unwrap();
        }
        by_hand.set_demands(&[0, 0]).unwrap();
        by_hand.tick(1.0).unwrap();
    }
    assert_eq!(snapshot(&h), snapshot(&by_hand));
}
