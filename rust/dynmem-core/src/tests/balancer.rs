//! The balancer's rules on small hosts: stages, boot, removal, starts.

use super::*;

#[test]
fn default_reserve_is_the_sp1_rule() {
    let h = Host::new(8192, None, Mechanics::default()).unwrap();
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
    assert_eq!(h.at(0).status(), Status::Ok);
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
    assert_eq!(h.at(0).status(), Status::Low);
    // Demands don't fit: above the minimum, proportional to weight.
    h.set_demand(a, 4000).unwrap();
    h.set_demand(b, 4000).unwrap();
    h.tick(1.0).unwrap();
    // 1536 units above the minimums: level 2195 gives 439 and 1097.
    assert_eq!(h.assigned(), &[512 + 2 * 439, 512 + 2 * 1097]);
    assert_eq!(h.at(1).status(), Status::Warning);
    assert_eq!(h.at(1).paging_mb(), 4000 - 2706);
    invariant(&h);
}

#[test]
fn booting_vm_holds_startup_until_it_reports() {
    let mut h = Host::new(8192, Some(512), Mechanics::default()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 3000).unwrap();
    for _ in 0..44 {
        h.tick(1.0).unwrap();
        assert_eq!(h.at(0).assigned_mb(), 1024);
        assert_eq!(h.at(0).state(), VmState::Starting);
    }
    h.tick(1.0).unwrap();
    assert_eq!(h.at(0).state(), VmState::Running);
    assert_eq!(h.at(0).assigned_mb(), 3600);
    // Visible grows in 128 MB hot-add chunks from startup.
    assert_eq!(h.at(0).visible_mb(), 1024 + 21 * 128); // 2576 MB added: 21 chunks
}

#[test]
fn removal_is_lazy_when_plentiful_and_unballoon_precedes_hot_add() {
    let mut h = Host::new(16384, Some(0), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 8192, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 4000).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.at(0).assigned_mb(), 4800);
    let visible = h.at(0).visible_mb();
    h.set_demand(a, 1000).unwrap();
    for _ in 0..4 {
        h.tick(1.0).unwrap();
        assert_eq!(h.at(0).assigned_mb(), 4800, "removal waits remove_delay_s");
    }
    h.tick(1.0).unwrap();
    assert_eq!(h.at(0).assigned_mb(), 4800 - 256);
    for _ in 0..20 {
        h.tick(1.0).unwrap();
    }
    assert_eq!(h.at(0).assigned_mb(), 1200);
    assert_eq!(h.at(0).visible_mb(), visible, "visible never shrinks");
    // Growing again within visible: unballoon only.
    h.set_demand(a, 3000).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.at(0).assigned_mb(), 3600);
    assert_eq!(h.at(0).visible_mb(), visible);
    let c = h.at(0).counters();
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
    assert_eq!(h.at(1).assigned_mb(), 3000);
    assert_eq!(h.at(0).assigned_mb(), 4096 - 3000);
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
    assert_eq!(h.at(0).assigned_mb(), 2048);
    assert_eq!(h.at(0).state(), VmState::Running);
    // Hyper-V shows no Memory Status for a static VM; the guest pages.
    assert_eq!(h.at(0).status(), Status::Static);
    assert_eq!(h.at(0).status().as_str(), "");
    assert_eq!(h.at(0).paging_mb(), 1952);
    assert_eq!(h.at(0).available_buffer_pct(), 0);
    assert_eq!(h.at(0).reported_demand_mb(), 4014); // 2048 × (100 + 96) / 100, rounded down
}

/// Pass 2's `g` from the solver's hand-out (`tick::Level`: what prompt
/// removal also reads VM by VM, at any position) equals the units the
/// solver writes, at every position, and in each half of a split.
#[test]
fn level_g_equals_the_written_hand_out() {
    use crate::model::rules::Stage;
    use crate::par::Split;
    use crate::solver::{fill_scanned_with, solve_scanned, Scan, Solved};
    use crate::tick::{Alloc, Level};
    let mut seed = 0x001e_7e15_eed5_u64;
    let mut next = |m: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let mut hands = 0;
    for round in 0..200 {
        let n = 1 + next(700) as usize;
        let caps: Vec<u32> = (0..n).map(|_| next(3000) as u32).collect();
        // Few distinct weights: many ties at the cut.
        let weights: Vec<u16> = (0..n).map(|_| [1, 100, 5000, 10_000][next(4) as usize]).collect();
        let scan = Scan::of(&caps, &weights);
        let budget = next(scan.total.max(1));
        let cap = if round % 2 == 0 {
            VectorCap::Avx512
        } else {
            VectorCap::Scalar
        };
        let mut rooms = caps.clone();
        let solved = solve_scanned(budget, &mut rooms, &weights, scan, &mut Vec::new(), &mut None, (cap, 1));
        assert_eq!(rooms, caps, "the solver leaves the rooms as they were");
        let Solved::Hand(hand) = solved else { continue };
        hands += 1;
        let mut written = caps.clone();
        fill_scanned_with(
            budget,
            &mut written,
            &weights,
            scan,
            &mut Vec::new(),
            &mut None,
            (cap, 1),
        );
        let level = Level {
            stage: Stage::Demand,
            u: 1,
            shift: 0,
            rooms: &rooms,
            hand,
        };
        let g = |l: &Level, i: usize, w: u16| l.g_of(i, 0, 0, u32::MAX, w);
        for i in 0..n {
            assert_eq!(g(&level, i, weights[i]), written[i] as u64, "VM {i} of {n}, {hand:?}");
        }
        let mid = next(n as u64 + 1) as usize;
        let (left, right) = level.split_at(mid);
        for i in 0..n {
            let got = if i < mid {
                g(&left, i, weights[i])
            } else {
                g(&right, i - mid, weights[i])
            };
            assert_eq!(got, written[i] as u64, "VM {i} of {n} split at {mid}, {hand:?}");
        }
    }
    assert!(hands > 100, "only {hands} hand-outs");
}
