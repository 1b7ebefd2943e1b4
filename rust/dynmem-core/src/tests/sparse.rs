//! Sparse ticking against dense ticking: a host that skips quiet ticks
//! (`balancer.rs`: a host at rest, nothing marked since) and samples the
//! pressure only where demand or memory changed must equal, column by
//! column after every operation, the scalar host that ticks every VM every
//! tick (`in_every_form`), on random change patterns with events mixed in,
//! in every vector form and in parts on several threads.

use super::*;

/// Random hosts through ticks where nothing, a few VMs or every VM
/// changes, with starts, stops, settings changes, removals and varying
/// steps; plentiful and contended phases.
#[test]
fn sparse_and_dense_ticks_agree_on_random_change_patterns() {
    let mut quiet = 0;
    for seed in 1..=6u64 {
        let mut rnd = xorshift(seed * 7919);
        let n = 150 + rnd(250) as usize;
        let mech = Mechanics {
            boot_report_delay_s: [0.0, 3.0][rnd(2) as usize],
            remove_delay_s: [0.0, 2.0, 5.0][rnd(3) as usize],
            ..Mechanics::default()
        };
        let mut h = Host::new(n as i64 * [1200, 3000, 9000][rnd(3) as usize], Some(512), mech).unwrap();
        let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
        let specs: Vec<VmSpec> = (0..n).map(|_| spec(512, 256, 4096, rnd(10001) as i64)).collect();
        let ids = h.add_vms(&names, &specs).unwrap();
        h.start_many(&ids[..n * 3 / 4]).unwrap();
        let mut hosts = in_every_form(h);
        for t in 0..400 {
            let ctx = format!("seed {seed} tick {t}");
            let r = rnd(100);
            let k = match r {
                0..=59 => 0, // a held row: quiet once the host is at rest
                60..=89 => 1 + rnd(4) as usize,
                _ => n,
            };
            let picks: Vec<(usize, i64)> = (0..k).map(|_| (rnd(n as u64) as usize, rnd(5000) as i64)).collect();
            let event = rnd(40);
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
        quiet += hosts[0].quiet_ticks();
        assert_eq!(hosts[2].quiet_ticks(), 0, "the dense host ticks densely");
        for pos in 0..hosts[0].len() {
            let (a, b) = (hosts[0].at(pos).counters(), hosts[2].at(pos).counters());
            assert_eq!(a, b, "seed {seed}: VM at {pos}");
        }
    }
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
}
