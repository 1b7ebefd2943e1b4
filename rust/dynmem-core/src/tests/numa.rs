//! NUMA nodes (`host/numa.rs`, `docs/balancer.md` "NUMA"): node sizes and
//! their checks, the preferred node, per-node accounting, "spanning", and
//! spanning off (a start that fits no node; one pool per node).

use super::*;

fn numa_host(physical: i64, reserve: i64, nodes: &[i64], spanning: bool) -> Host {
    Host::new(physical, Some(reserve), instant())
        .unwrap()
        .with_numa(nodes, spanning)
        .unwrap()
}

fn static_spec(startup: i64) -> VmSpec {
    VmSpec {
        dynamic: false,
        ..spec(startup, startup, startup.max(8192), 5000)
    }
}

/// Per node: memory accounted ≤ node size (available ≥ 0), and Σ available
/// = the host's available memory; with spanning off every started VM's
/// memory fits its node.
fn numa_invariant(h: &Host) {
    invariant(h);
    let avail = h.numa_available_mb();
    assert!(avail.iter().all(|&a| a >= 0), "a node over its size: {avail:?}");
    assert_eq!(avail.iter().sum::<i64>(), h.available_mb());
    if !h.numa_spanning() {
        let sizes = h.numa_nodes_mb();
        let mut held = vec![0u64; sizes.len()];
        for vm in h.vms() {
            if let Some(k) = vm.numa_node() {
                held[k] += vm.assigned_mb() as u64;
            }
        }
        let mut reserve = h.reserve_mb();
        for (k, &s) in sizes.iter().enumerate() {
            let r = reserve.min(s);
            reserve -= r;
            assert!(held[k] + r <= s, "node {k}: {} + {r} > {s}", held[k]);
        }
    }
}

#[test]
fn a_start_fails_with_spanning_off_only() {
    // 16 GB in two nodes of 8 GB, no reserve; two static VMs of 6 GB take
    // one node each (the first the lowest of two equally free nodes), which
    // leaves 2 GB on each: a 3 GB VM fits the host (4 GB free) but no node.
    for spanning in [false, true] {
        let mut h = numa_host(16384, 0, &[8192, 8192], spanning);
        let a = h.add_vm("a", &static_spec(6144)).unwrap();
        let b = h.add_vm("b", &static_spec(6144)).unwrap();
        let c = h.add_vm("c", &static_spec(3072)).unwrap();
        h.start(a).unwrap();
        h.start(b).unwrap();
        assert_eq!(h.vm(a).unwrap().numa_node(), Some(0));
        assert_eq!(h.vm(b).unwrap().numa_node(), Some(1));
        assert_eq!(h.numa_available_mb(), vec![2048, 2048]);
        let before = snapshot(&h);
        let r = h.start(c);
        if spanning {
            r.unwrap();
            // Node 0 (ties: the lowest) holds 2 GB of it, 1 GB spills to node 1.
            assert_eq!(h.vm(c).unwrap().numa_node(), Some(0));
            assert_eq!(h.vm(c).unwrap().status(), Status::Spanning);
            assert_eq!(h.vm(a).unwrap().status(), Status::Static);
            assert_eq!(h.numa_available_mb(), vec![0, 1024]);
            assert_eq!(h.statuses()[2], Status::Spanning);
        } else {
            let e = r.unwrap_err();
            assert_eq!(
                (e.kind, e.field.as_deref()),
                (ErrorKind::InsufficientMemory, Some("startup_mb"))
            );
            for words in [
                "fits no single NUMA node",
                "although the host has 4096 MB free",
                "[8192, 8192]",
                "[2048, 2048]",
                "startup_mb 3072",
                "numa_spanning is off",
            ] {
                assert!(e.message.contains(words), "{words}: {}", e.message);
            }
            assert_eq!(snapshot(&h), before);
            assert!(!h.can_start(3072, 5000));
            assert!(h.can_start(2048, 5000));
        }
        numa_invariant(&h);
    }
}

#[test]
fn the_preferred_node_is_the_one_with_most_free_memory() {
    // Nodes of 4 GB and 8 GB, 1 GB reserve from node 0: free 3072 and 8192.
    let mut h = numa_host(12288, 1024, &[4096, 8192], true);
    assert_eq!(h.numa_available_mb(), vec![3072, 8192]);
    let ids: Vec<VmId> = (0..4)
        .map(|k| h.add_vm(&format!("v{k}"), &spec(2048, 1024, 4096, 5000)).unwrap())
        .collect();
    assert_eq!(h.vm(ids[0]).unwrap().numa_node(), None, "off: no node");
    h.start_many(&ids).unwrap();
    // free (3072, 8192) → node 1 (6144) → node 1 (4096) → node 1 (2048) →
    // node 0 (3072 > 2048).
    let nodes: Vec<_> = ids.iter().map(|&id| h.vm(id).unwrap().numa_node()).collect();
    assert_eq!(nodes, vec![Some(1), Some(1), Some(1), Some(0)]);
    assert_eq!(h.numa_node_of_vms(), vec![1, 1, 1, 0]);
    assert_eq!(h.numa_available_mb(), vec![1024, 2048]);
    h.stop(ids[3]).unwrap();
    assert_eq!(h.numa_node_of_vms(), vec![1, 1, 1, -1]);
    numa_invariant(&h);
}

#[test]
fn dynamic_vms_never_span() {
    // A dynamic VM of 6 GB on nodes of 4 GB: accounted over two nodes,
    // but it has one virtual NUMA node: its status is the buffer rule's.
    let mut h = numa_host(8192, 0, &[4096, 4096], true);
    let a = h.add_vm("a", &spec(6144, 1024, 8192, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 1000).unwrap();
    assert_eq!(h.vm(a).unwrap().status(), Status::Ok);
    assert_eq!(h.numa_available_mb(), vec![0, 2048]);
    h.tick(1.0).unwrap();
    numa_invariant(&h);
}

#[test]
fn spanning_off_balances_each_node_alone() {
    // Nodes of 4 GB (1 GB of it reserve) and 4 GB. VM a on node 1 demands
    // far more than its node; node 0 has room that it cannot use.
    let mut h = numa_host(8192, 1024, &[4096, 4096], false);
    let a = h.add_vm("a", &spec(1024, 512, 8192, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 8192, 5000)).unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    assert_eq!(h.numa_node_of_vms(), vec![1, 0]);
    h.set_demands(&[7000, 100]).unwrap();
    for _ in 0..3 {
        h.tick(1.0).unwrap();
        numa_invariant(&h);
    }
    // a: all of node 1; b keeps its startup (its target is its minimum,
    // 512, but nobody on node 0 needs memory: lazy removal waits 5 s).
    assert_eq!(h.assigned(), &[4096, 1024]);
    assert_eq!(h.numa_available_mb(), vec![2048, 0]);
    // The same host with spanning on gives a the host's whole pool (b's
    // excess promptly ballooned).
    let mut on = numa_host(8192, 1024, &[4096, 4096], true);
    for name in ["a", "b"] {
        let id = on.add_vm(name, &spec(1024, 512, 8192, 5000)).unwrap();
        on.start(id).unwrap();
    }
    on.set_demands(&[7000, 100]).unwrap();
    on.tick(1.0).unwrap();
    assert_eq!(on.assigned(), &[6656, 512]);
    numa_invariant(&on);
}

#[test]
fn spanning_off_start_balloons_on_one_node() {
    let mut h = numa_host(8192, 0, &[4096, 4096], false);
    let a = h.add_vm("a", &spec(2048, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(2048, 512, 4096, 5000)).unwrap();
    let c = h.add_vm("c", &spec(3072, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    h.set_demands(&[4000, 1000, 0]).unwrap();
    h.tick(1.0).unwrap();
    // a (node 0) grew to its node: 4096; b (node 1) stays at 2048 (1200 target,
    // lazy removal waits).
    assert_eq!(h.assigned()[..2], [4096, 2048]);
    // c needs 3072: node 1 has 2048 free, ballooning b to 1024 frees the rest.
    h.start(c).unwrap();
    assert_eq!(h.vm(c).unwrap().numa_node(), Some(1));
    assert_eq!(h.assigned(), &[4096, 1024, 3072]);
    numa_invariant(&h);
}

#[test]
fn static_resize_with_spanning_off_stays_on_its_node() {
    let mut h = numa_host(8192, 0, &[4096, 4096], false);
    let a = h.add_vm("a", &static_spec(2048)).unwrap();
    h.start(a).unwrap();
    let before = snapshot(&h);
    let grow = VmChange {
        startup_mb: Some(6144),
        ..VmChange::default()
    };
    let e = h.configure(a, &grow).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InsufficientMemory, "{}", e.message);
    assert!(e.message.contains("NUMA node"), "{}", e.message);
    assert_eq!(snapshot(&h), before);
    let fits = VmChange {
        startup_mb: Some(4096),
        ..VmChange::default()
    };
    h.configure(a, &fits).unwrap();
    numa_invariant(&h);
}

#[test]
fn node_sizes_are_checked() {
    let h = || Host::new(16384, Some(0), instant()).unwrap();
    for (nodes, words) in [
        (&[8192, 8000][..], "sum to physical_mb (16384), but they sum to 16192"),
        (&[16384, 0][..], "at least 1 MB"),
        (&[][..], "1 to 64"),
    ] {
        let e = h().with_numa(nodes, true).unwrap_err();
        assert_eq!((e.kind, e.field.as_deref()), (ErrorKind::Config, Some("numa_nodes")));
        assert!(e.message.contains(words), "{}", e.message);
    }
    let e = h().with_numa(&[1; 65], true).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("numa_nodes"));
    let mut added = h();
    added.add_vm("a", &spec(1024, 512, 4096, 1)).unwrap();
    assert_eq!(added.with_numa(&[8192, 8192], true).unwrap_err().kind, ErrorKind::State);
    // One node is a host without NUMA.
    let one = h().with_numa(&[16384], false).unwrap();
    assert!(one.numa_spanning());
    assert_eq!(one.numa_nodes_mb(), vec![16384]);
    assert_eq!(crate::host::equal_nodes(16385, 2), vec![8193, 8192]);
}

/// Random operations on NUMA hosts, spanning on and off: the per-node
/// invariant after every one, and spanning off against on for the same
/// operations (off never holds more on a node than the node has).
#[test]
fn random_operations_keep_every_node_within_its_size() {
    for seed in 1..40u64 {
        let mut rnd = xorshift(seed * 7919);
        let nodes = 2 + rnd(3) as usize;
        let sizes = crate::host::equal_nodes(4096 * nodes as u64 + 2 * rnd(1000), nodes);
        let sizes: Vec<i64> = sizes.iter().map(|&s| s as i64).collect();
        let physical: i64 = sizes.iter().sum();
        let spanning = seed % 2 == 0;
        let mut h = numa_host(physical, (rnd(1500) * 2) as i64, &sizes, spanning);
        for k in 0..12 {
            let s = (256 + rnd(1500) * 2) as i64;
            let dynamic = rnd(3) > 0;
            let sp = VmSpec {
                dynamic,
                ..spec(s, s.min(512), s * 2, rnd(10001) as i64)
            };
            h.add_vm(&format!("v{k}"), &sp).unwrap();
        }
        let ids = h.ids();
        for _ in 0..60 {
            let id = ids[rnd(ids.len() as u64) as usize];
            match rnd(5) {
                0 => {
                    let _ = h.start(id);
                }
                1 => {
                    let _ = h.stop(id);
                }
                2 => h.set_demand(id, rnd(5000) as i64).unwrap(),
                _ => h.tick(1.0 + rnd(8) as f64).unwrap(),
            }
            numa_invariant(&h);
            let b = Host::from_snapshot(&h.snapshot()).unwrap();
            assert_eq!(snapshot(&b), snapshot(&h));
        }
    }
}

/// NUMA hosts (spanning on and off) give the same results in every vector
/// form and on 1, 2 or 3 threads (each node's pool in parts).
#[test]
fn numa_hosts_agree_in_every_form_and_thread_count() {
    for spanning in [true, false] {
        let mut rnd = xorshift(if spanning { 11 } else { 12 });
        let n = 700;
        let physical = n as i64 * 1500;
        let sizes: Vec<i64> = crate::host::equal_nodes(physical as u64, 3)
            .iter()
            .map(|&s| s as i64)
            .collect();
        let mut h = numa_host(physical, 4096, &sizes, spanning);
        for k in 0..n {
            let s = (256 + rnd(600) * 2) as i64;
            let sp = VmSpec {
                dynamic: k % 7 != 0,
                ..spec(s, s.min(512), 8192, rnd(10001) as i64)
            };
            h.add_vm(&format!("v{k}"), &sp).unwrap();
        }
        let ids = h.ids();
        h.start_many(&ids).unwrap();
        let mut hosts = in_every_form(h);
        for t in 0..30 {
            let demands: Vec<i64> = (0..n).map(|_| rnd(4000) as i64).collect();
            step_every_form(&mut hosts, &format!("spanning {spanning} tick {t}"), |h| {
                h.set_demands(&demands).unwrap();
                h.tick(1.0).unwrap();
            });
            let want = snapshot(&hosts[2]);
            assert_eq!(snapshot(&hosts[0]), want);
            assert_eq!(snapshot(&hosts[1]), want);
            numa_invariant(&hosts[0]);
        }
    }
}

#[test]
fn static_vms_are_accounted_before_dynamic_ones() {
    // Nodes of 6 GB and 2 GB. d (dynamic, 3 GB) starts on node 0 (most
    // free), then s (static, 3 GB) too (3072 free there, 2048 on node 1).
    // When d grows to 4080 MB, node 0 holds s whole and 3072 of d; d's other
    // 1008 MB spill to node 1. s does not span: its memory is fixed at its
    // start, and static VMs are accounted first.
    let mut h = numa_host(8192, 0, &[6144, 2048], true);
    let d = h.add_vm("d", &spec(3072, 1024, 8192, 5000)).unwrap();
    let s = h.add_vm("s", &static_spec(3072)).unwrap();
    h.start(d).unwrap();
    h.start(s).unwrap();
    assert_eq!(h.numa_node_of_vms(), vec![0, 0]);
    h.set_demand(d, 3400).unwrap();
    h.tick(1.0).unwrap();
    assert_eq!(h.assigned(), &[4080, 3072]);
    assert_eq!(h.vm(s).unwrap().status(), Status::Static);
    assert_eq!(h.numa_available_mb(), vec![0, 1040]);
    numa_invariant(&h);
}

#[test]
fn counters_carry_past_u32_on_a_node_of_their_own() {
    // Spanning off ticks each node as a host of its own: a counter that
    // passes 2^32 there is filed under the right VM.
    let mut h = numa_host(16384, 0, &[8192, 8192], false);
    let a = h.add_vm("a", &spec(1024, 512, 8192, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 8192, 5000)).unwrap();
    h.start(a).unwrap();
    h.start(b).unwrap();
    assert_eq!(h.numa_node_of_vms(), vec![0, 1]);
    h.vms_mut().added[1] = u32::MAX - 100;
    h.vms_mut().add_ops[1] = u32::MAX;
    h.set_demand(b, 2000).unwrap();
    h.tick(1.0).unwrap();
    let c = h.vm(b).unwrap().counters();
    assert_eq!(c.added_memory_mb, u32::MAX as u64 - 100 + (2400 - 1024));
    assert_eq!(c.add_operations, u32::MAX as u64 + 1);
    assert_eq!(h.vm(a).unwrap().counters().add_operations, 0);
    let r = Host::from_snapshot(&h.snapshot()).unwrap();
    assert_eq!(snapshot(&r), snapshot(&h));
}

#[test]
fn a_restart_with_spanning_off_finds_one_node_or_changes_nothing() {
    // Two nodes of 8 GB, no reserve. Static "s" (6 GB) takes node 0; "a"
    // (startup 4 GB, weight 1000) and "b" (weight 10000, wanting 6 GB) share
    // node 1, where b grows into what a's guest gave back. A restart of a
    // then finds 4 GB on neither node (b is no donor: its weight is higher)
    // and, with spanning off, no Smart Paging across nodes: it fails and
    // the host is exactly as before.
    let mut h = numa_host(16384, 0, &[8192, 8192], false);
    let s = h.add_vm("s", &static_spec(6144)).unwrap();
    let a = h.add_vm("a", &spec(4096, 512, 8192, 1000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 8192, 10000)).unwrap();
    for id in [s, a, b] {
        h.start(id).unwrap();
    }
    assert_eq!(h.vm(a).unwrap().numa_node(), Some(1));
    assert_eq!(h.vm(b).unwrap().numa_node(), Some(1));
    h.set_demand(a, 100).unwrap();
    h.set_demand(b, 6000).unwrap();
    for _ in 0..120 {
        h.tick(1.0).unwrap();
    }
    numa_invariant(&h);
    assert!(h.vm(a).unwrap().assigned_mb() < 2048, "a was ballooned down");
    let before = h.state_dump();
    let e = h.restart(a).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InsufficientMemory);
    assert_eq!(h.state_dump(), before, "a failed restart changed the host");
    assert_eq!(h.vm(a).unwrap().state(), VmState::Running);
    assert_eq!(h.vm(a).unwrap().smart_paging_mb(), 0);
    // The same host with spanning on pages instead.
    let mut h = numa_host(16384, 0, &[8192, 8192], true);
    let s = h.add_vm("s", &static_spec(6144)).unwrap();
    let a = h.add_vm("a", &spec(4096, 512, 8192, 1000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 8192, 10000)).unwrap();
    for id in [s, a, b] {
        h.start(id).unwrap();
    }
    h.set_demand(a, 100).unwrap();
    h.set_demand(b, 9000).unwrap();
    for _ in 0..120 {
        h.tick(1.0).unwrap();
    }
    h.restart(a).unwrap();
    assert!(h.vm(a).unwrap().smart_paging_mb() > 0, "spanning on: Smart Paging");
    numa_invariant(&h);
}
