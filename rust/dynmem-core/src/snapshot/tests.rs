//! Snapshots round-trip exactly and continue tick by tick as the original;
//! any change to the bytes is an error, never a panic.

use crate::fleet::{Fleet, Placement};
use crate::tests::{instant, spec, xorshift};
use crate::{Host, VmId, VmSpec};

fn busy_host(seed: u64) -> Host {
    let mut rnd = xorshift(seed);
    let mut h = Host::new(16384, Some(512), instant()).unwrap();
    let names: Vec<String> = (0..40).map(|i| format!("vm-{i}")).collect();
    let specs: Vec<VmSpec> = (0..40).map(|_| spec(512, 256, 4096, rnd(10001) as i64)).collect();
    let ids = h.add_vms(&names, &specs).unwrap();
    h.start_many(&ids[..30]).unwrap();
    h.remove_vm(ids[35]).unwrap(); // ids in two runs
    for _ in 0..5 {
        let d: Vec<i64> = (0..h.len()).map(|_| rnd(3000) as i64).collect();
        h.set_demands(&d).unwrap();
        h.tick(1.0).unwrap();
    }
    h
}

#[test]
fn a_host_continues_exactly_after_a_round_trip() {
    let mut a = busy_host(5);
    // A counter past 2^32 (its carry must travel too).
    a.vms_mut().added[3] = u32::MAX;
    a.vms_mut().count(crate::model::Counter::Added, 3, 10);
    let mut b = Host::from_snapshot(&a.snapshot()).unwrap();
    assert_eq!(crate::fuzzing::dump(&a), crate::fuzzing::dump(&b));
    let mut rnd = xorshift(9);
    for t in 0..30 {
        let d: Vec<i64> = (0..a.len()).map(|_| rnd(5000) as i64).collect();
        a.set_demands(&d).unwrap();
        b.set_demands(&d).unwrap();
        a.tick(0.5).unwrap();
        b.tick(0.5).unwrap();
        assert_eq!(crate::fuzzing::dump(&a), crate::fuzzing::dump(&b), "tick {t}");
    }
    assert_eq!(a.snapshot(), b.snapshot());
}

/// Every policy travels with its host: a restored host continues under the
/// same rule (Shares' idle tax included); a user policy must be given back.
#[test]
fn a_host_keeps_its_policy_through_a_snapshot() {
    use crate::policy::{External, Policy, PolicyView};
    #[derive(Debug)]
    struct Minimum;
    impl External for Minimum {
        fn allocate(&self, _pool_mb: u64, view: PolicyView) -> crate::Result<Vec<i64>> {
            Ok(view.minimum_mb)
        }
    }
    let policies = [
        Policy::Static,
        Policy::Proportional,
        Policy::Shares { idle_tax: 0.3 },
        Policy::StrictPriority,
        Policy::External(std::sync::Arc::new(Minimum)),
    ];
    for policy in policies {
        let mut a = Host::new(16384, Some(512), instant())
            .unwrap()
            .with_policy(policy.clone())
            .unwrap();
        let names: Vec<String> = (0..20).map(|i| format!("vm-{i}")).collect();
        let mut rnd = xorshift(11);
        let specs: Vec<VmSpec> = (0..20).map(|_| spec(512, 256, 4096, rnd(10001) as i64)).collect();
        let ids = a.add_vms(&names, &specs).unwrap();
        a.start_many(&ids).unwrap();
        let data = a.snapshot();
        let mut b = match &policy {
            Policy::External(rule) => {
                let e = Host::from_snapshot(&data).unwrap_err();
                assert_eq!(e.field.as_deref(), Some("policy"));
                Host::from_snapshot_with(&data, Some(rule.clone())).unwrap()
            }
            _ => Host::from_snapshot(&data).unwrap(),
        };
        assert_eq!(b.policy().name(), policy.name());
        for t in 0..20 {
            let d: Vec<i64> = (0..a.len()).map(|_| rnd(5000) as i64).collect();
            a.set_demands(&d).unwrap();
            b.set_demands(&d).unwrap();
            a.tick(1.0).unwrap();
            b.tick(1.0).unwrap();
            assert_eq!(
                crate::fuzzing::dump(&a),
                crate::fuzzing::dump(&b),
                "{} tick {t}",
                policy.name()
            );
        }
        assert_eq!(a.snapshot(), b.snapshot());
    }
}

#[test]
fn every_corruption_is_an_error() {
    let h = busy_host(2);
    let bytes = h.snapshot();
    for at in (0..bytes.len()).step_by(7) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        let e = Host::from_snapshot(&bad).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("snapshot"));
    }
    for cut in [0, 5, 11, 30, bytes.len() - 1] {
        assert!(Host::from_snapshot(&bytes[..cut]).is_err());
    }
    assert!(Host::from_snapshot(b"PK\x03\x04 not ours at all").is_err());
    // A fleet's snapshot is not a host's.
    let f = Fleet::new(&[4096], None, instant()).unwrap();
    assert!(Host::from_snapshot(&f.snapshot())
        .unwrap_err()
        .message
        .contains("a Fleet"));
}

/// A snapshot whose checksum is right but whose values break a host's
/// rules (a forged one) is still refused.
#[test]
fn a_forged_snapshot_with_a_good_checksum_is_refused() {
    let h = busy_host(3);
    let bytes = h.snapshot();
    let body = &bytes[..bytes.len() - 8];
    let mut refused = 0;
    for at in (11..body.len()).step_by(3) {
        let mut b = body.to_vec();
        b[at] = b[at].wrapping_add(0x81);
        let sum = super::codec::fnv1a(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        match Host::from_snapshot(&b) {
            Err(e) => {
                assert_eq!(e.field.as_deref(), Some("snapshot"));
                refused += 1;
            }
            // Accepted: a valid host (e.g. another demand); it must tick.
            Ok(mut x) => {
                x.tick(1.0).unwrap();
                crate::tests::invariant(&x);
            }
        }
    }
    assert!(refused > 0);
}

#[test]
fn a_fleet_continues_exactly_after_a_round_trip() {
    let mut rnd = xorshift(4);
    let mut a = Fleet::new(&[8192, 16384, 12288], Some(512), instant()).unwrap();
    let names: Vec<String> = (0..50).map(|i| format!("f{i}")).collect();
    let specs: Vec<VmSpec> = (0..50).map(|_| spec(1024, 512, 4096, rnd(10001) as i64)).collect();
    let ids = a.add_vms(&names, &specs).unwrap();
    let placed = a.place(&ids[..45], Placement::BestFit, None).unwrap();
    let on: Vec<VmId> = ids[..45]
        .iter()
        .zip(&placed)
        .filter(|(_, &h)| h >= 0)
        .map(|(&i, _)| i)
        .collect();
    a.start_many(&on).unwrap();
    a.tick(1.0).unwrap();
    let h0 = a.host_of(&on[..1]).unwrap()[0];
    a.migrate(&on[..1], &[(h0 + 1) % 3], &[4.0]).unwrap();
    let mut b = Fleet::from_snapshot(&a.snapshot()).unwrap();
    assert_eq!(b.migrations(), a.migrations());
    for t in 0..10 {
        let d: Vec<i64> = (0..50).map(|_| rnd(4000) as i64).collect();
        a.set_demands(&d).unwrap();
        b.set_demands(&d).unwrap();
        a.tick(1.0).unwrap();
        b.tick(1.0).unwrap();
        b.check().unwrap();
        for h in 0..3 {
            assert_eq!(
                crate::fuzzing::dump(&a.hosts()[h]),
                crate::fuzzing::dump(&b.hosts()[h]),
                "tick {t} host {h}"
            );
        }
        assert_eq!(a.snapshot(), b.snapshot());
    }
    let bytes = a.snapshot();
    for at in (0..bytes.len()).step_by(11) {
        let mut bad = bytes.clone();
        bad[at] ^= 1;
        assert!(Fleet::from_snapshot(&bad).is_err());
    }
}

/// Issue 13's state travels: the host's Windows Server release, the Smart
/// Paging column, the drain time and the paging VMs' files (a VM paging
/// stays so, and its file drains on exactly as on the original); a release
/// byte or a Smart Paging figure no host can have is an error.
#[test]
fn version_and_smart_paging_travel() {
    use crate::{Mechanics, Status, Version};
    let mut h = Host::new(4096, Some(0), Mechanics::default())
        .unwrap()
        .with_version(Version::W2012)
        .unwrap()
        .with_smart_paging_drain_s(250.0)
        .unwrap();
    let a = h.add_vm("a", &spec(2048, 512, 2048, 5000)).unwrap();
    let c = h.add_vm("c", &spec(512, 512, 2048, 5000)).unwrap();
    let b = h
        .add_vm(
            "b",
            &VmSpec {
                dynamic: false,
                ..spec(3072, 3072, 3072, 5000)
            },
        )
        .unwrap();
    h.start_many(&[a, c]).unwrap();
    h.set_demands(&[100, 100, 0]).unwrap();
    for _ in 0..45 {
        h.tick(1.0).unwrap();
    }
    h.start(b).unwrap(); // a ballooned to 512
    h.restart(a).unwrap(); // finds 512: 1536 MB to the file
    h.set_demands(&[1500, 100, 0]).unwrap();
    assert_eq!((h.vm(a).unwrap().smart_paging_mb(), h.paging_vms()), (1536, 1));
    assert_eq!(h.vm(a).unwrap().status(), Status::Paging);
    let mut copy = Host::from_snapshot(&h.snapshot()).unwrap();
    assert_eq!((copy.version(), copy.smart_paging_drain_s()), (Version::W2012, 250.0));
    assert_eq!((copy.vm(a).unwrap().smart_paging_mb(), copy.paging_vms()), (1536, 1));
    assert_eq!(crate::fuzzing::dump(&h), crate::fuzzing::dump(&copy));
    assert_eq!(h.snapshot(), copy.snapshot());
    for _ in 0..300 {
        h.tick(1.0).unwrap();
        copy.tick(1.0).unwrap();
        assert_eq!(crate::fuzzing::dump(&h), crate::fuzzing::dump(&copy));
    }
    assert_eq!(copy.paging_vms(), 0);
    // Smart Paging above the file's size, or a VM paging without a file: refused
    // (checksum recomputed, so only the value is wrong).
    h.restart(a).unwrap();
    let good = h.snapshot();
    h.vms_mut().smart_paging[0] = 2048;
    let e = Host::from_snapshot(&h.snapshot()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("snapshot"), "{}", e.message);
    h.vms_mut().smart_paging[0] = 1536;
    assert_eq!(h.snapshot(), good);
    h.vms_mut().smart_paging[1] = 2;
    let e = Host::from_snapshot(&h.snapshot()).unwrap_err();
    assert!(e.message.contains("2 VMs use Smart Paging, 1 files"), "{}", e.message);
}

#[test]
fn numa_nodes_travel() {
    use crate::Status;
    for spanning in [true, false] {
        let mut h = Host::new(16384, Some(512), instant())
            .unwrap()
            .with_numa(&[4096, 8192, 4096], spanning)
            .unwrap();
        let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
        let b = h
            .add_vm(
                "b",
                &VmSpec {
                    dynamic: false,
                    ..spec(2048, 2048, 4096, 5000)
                },
            )
            .unwrap();
        h.add_vm("never", &spec(1024, 512, 4096, 5000)).unwrap();
        h.start(a).unwrap();
        h.start(b).unwrap();
        h.tick(1.0).unwrap();
        let r = Host::from_snapshot(&h.snapshot()).unwrap();
        assert_eq!(r.numa_nodes_mb(), vec![4096, 8192, 4096]);
        assert_eq!(r.numa_spanning(), spanning);
        assert_eq!(r.numa_node_of_vms(), vec![1, 1, -1]);
        assert_eq!(r.numa_available_mb(), h.numa_available_mb());
        assert_eq!(r.vm(b).unwrap().status(), Status::Static);
        assert_eq!(crate::fuzzing::dump(&h), crate::fuzzing::dump(&r));
        assert_eq!(h.snapshot(), r.snapshot());
    }
    // A host without NUMA writes no nodes and reads back without NUMA.
    let plain = Host::new(16384, Some(512), instant()).unwrap();
    let r = Host::from_snapshot(&plain.snapshot()).unwrap();
    assert_eq!(r.numa_nodes_mb(), vec![16384]);
}

#[test]
fn a_2008r2sp1_snapshot_with_a_separate_minimum_is_refused() {
    use crate::{Mechanics, Version};
    let mut h = Host::new(4096, Some(0), Mechanics::default())
        .unwrap()
        .with_version(Version::W2008R2Sp1)
        .unwrap();
    h.add_vm("a", &spec(1024, 1024, 2048, 5000)).unwrap();
    assert!(Host::from_snapshot(&h.snapshot()).is_ok());
    // A state no operation reaches there (minimum = startup on 2008 R2 SP1).
    h.vms_mut().minimum[0] = 512; // (no floors: the configured minimum is this column)
    let e = Host::from_snapshot(&h.snapshot()).unwrap_err();
    assert!(e.message.contains("2008 R2 SP1"), "{}", e.message);
}

/// The pressure statistics' state travels (format version 4): each VM's
/// open interval (`p_now`, NaN for none) and `p_sum`, kept against the
/// clock. A host snapshotted between a demand change and the next tick, with
/// a stopped VM and one started but not yet sampled, continues exactly,
/// through quiet ticks too; an open interval on an off VM is refused.
#[test]
fn pressure_intervals_travel() {
    let mut h = Host::new(16384, Some(512), instant()).unwrap();
    let ids: Vec<VmId> = (0..3)
        .map(|i| h.add_vm(&format!("v{i}"), &spec(1024, 512, 4096, 5000)).unwrap())
        .collect();
    h.start_many(&ids).unwrap();
    for (k, &id) in ids.iter().enumerate() {
        h.set_demand(id, 700 + 300 * k as i64).unwrap();
    }
    h.tick(1.5).unwrap();
    h.stop(ids[1]).unwrap();
    h.tick(2.0).unwrap();
    h.start(ids[1]).unwrap(); // on, not yet sampled
    h.set_demand(ids[0], 1900).unwrap(); // marked, not yet sampled
    let mut b = Host::from_snapshot(&h.snapshot()).unwrap();
    assert_eq!(crate::fuzzing::dump(&h), crate::fuzzing::dump(&b));
    for t in 0..20 {
        if t == 12 {
            h.set_demand(ids[2], 100).unwrap();
            b.set_demand(ids[2], 100).unwrap();
        }
        h.tick(1.0).unwrap();
        b.tick(1.0).unwrap();
        assert_eq!(crate::fuzzing::dump(&h), crate::fuzzing::dump(&b), "tick {t}");
    }
    assert!(h.vm(ids[0]).unwrap().counters().average_pressure > 0.0);
    h.stop(ids[2]).unwrap();
    h.vms_mut().p_now[2] = 50.0; // an off VM with an interval open
    let e = Host::from_snapshot(&h.snapshot()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("snapshot"), "{}", e.message);
}
