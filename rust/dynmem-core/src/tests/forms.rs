//! Every vector form and every number of parts against the scalar, one-part
//! definition, and the exactness limits (u32 lanes, f64 steps, carries).

use super::*;

/// The tick's vector forms (AVX-512, where the CPU has it) and its scalar
/// forms give identical hosts, tick after tick, across every regime: booting
/// VMs, static VMs, plentiful memory, contention, prompt removal, starts and
/// stops, host sizes that are and are not multiples of the vector width.
#[cfg_attr(miri, ignore)] // too large for Miri
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
        let policy = Mechanics {
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
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn target_in_f64_is_exact() {
    let exact = |d: u32, b: u16| (d as u64 * (100 + b as u64)).div_ceil(100);
    let mut rnd = xorshift(0x007a_26e7_u64);
    let mut demands: Vec<u32> = vec![0, 1, 99, 100, 101, u32::MAX, u32::MAX - 1, u32::MAX / 2];
    demands.extend((0..20_000).map(|_| rnd(u32::MAX as u64 + 1) as u32));
    demands.extend((0..20_000).map(|_| rnd(100_000) as u32));
    for &d in &demands {
        for b in [5u16, 7, 10, 20, 33, 50, 99, 100, 1999, 2000] {
            assert_eq!(
                crate::model::rules::ceil_pct_f64(d, b),
                exact(d, b),
                "demand {d} buffer {b}"
            );
        }
    }
}

/// Ids stay findable through removals (O(1) when nothing before them was
/// removed, binary search otherwise); removed and foreign ids are not; names
/// follow their VMs.
#[test]
fn positions_and_names_survive_removals() {
    let mut h = Host::new(1 << 20, Some(0), instant()).unwrap();
    let ids: Vec<VmId> = (0..300)
        .map(|i| h.add_vm(&format!("vm{i}"), &spec(512, 512, 512, 100)).unwrap())
        .collect();
    let mut rnd = xorshift(0x0001_d50f_da7a);
    let mut alive: Vec<(VmId, String)> = ids.iter().enumerate().map(|(i, &id)| (id, format!("vm{i}"))).collect();
    for _ in 0..120 {
        let k = rnd(alive.len() as u64) as usize;
        let (id, _) = alive.remove(k);
        h.remove_vm(id).unwrap();
        assert!(h.position(id).is_err());
        for (pos, (id, name)) in alive.iter().enumerate() {
            assert_eq!(h.position(*id).unwrap(), pos);
            assert_eq!(h.find(name).unwrap(), *id);
            assert_eq!(h.at(pos).name(), name);
        }
    }
    let next = h.add_vm("vm-new", &spec(512, 512, 512, 100)).unwrap();
    assert_eq!(h.position(next).unwrap(), alive.len());
    assert!(h.position(VmId(next.0 + 1)).is_err());
    assert!(h.position(VmId(0)).is_err(), "ids start at 1: 0 is below every id");
    assert!(h.position(VmId(ids[0].0.wrapping_sub(1))).is_err());
    assert!(h.find("vm-missing").is_err());
}

/// Adversarial shapes for the vector/scalar comparison (after a review):
/// units 1..1024 with odd hot-add chunks, all weights 0 or all equal, tight
/// and huge hosts, boot delays up to 1e6 s, dt from 1e-9 s to a day, starts,
/// stops, removals, adds and weight changes between ticks.
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn vector_and_scalar_ticks_agree_on_adversarial_hosts() {
    let mut r = xorshift(0xfeed_beef_1234_5678);
    for round in 0..400 {
        let n = 1 + (round % 40) as usize;
        let unit = [1u32, 2, 4, 64, 1024][r(5) as usize];
        let policy = Mechanics {
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
                VmId(0)
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
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn contended_tick_search_does_not_crawl() {
    let policy = Mechanics {
        balloon_unit_mb: 1,
        hot_add_chunk_mb: 1,
        boot_report_delay_s: 0.0,
        ..Mechanics::default()
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
#[cfg_attr(miri, ignore)] // too large for Miri
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
/// and a restart; Minimum Pressure reads 0 before the first sample. The
/// pressure's integral is kept against the host clock (`docs/balancer.md`,
/// "Statistics"): each change at host time `T` adds `p_old × T − p_new × T`,
/// a stop `p × T`, a reading `p × T` of the open interval; equal to the
/// per-tick sum `Σ p × dt_s` up to rounding.
#[test]
fn running_time_follows_the_host_clock_across_stops() {
    let mut h = Host::new(8192, Some(512), instant()).unwrap();
    let a = h.add_vm("a", &spec(1024, 512, 4096, 5000)).unwrap();
    let b = h.add_vm("b", &spec(1024, 512, 4096, 5000)).unwrap();
    h.start(a).unwrap();
    h.set_demand(a, 1024).unwrap();
    h.tick(0.5).unwrap();
    let p1 = h.at(0).pressure();
    h.set_demand(a, 2000).unwrap();
    h.tick(0.25).unwrap();
    let p2 = h.at(0).pressure();
    assert_eq!(h.at(0).running_s(), 0.75);
    assert_eq!(h.at(1).running_s(), 0.0);
    assert_eq!(h.at(1).counters().minimum_pressure, 0.0);
    assert_eq!(h.at(1).counters().average_pressure, 0.0);
    h.stop(a).unwrap();
    h.tick(2.0).unwrap(); // off: no sample, no running time
    assert_eq!(h.at(0).running_s(), 0.75);
    let c = h.at(0).counters();
    // Samples at T = 0 (p1) and T = 0.5 (p2), the stop at 0.75.
    let s = 0.0 + 0.0 * 0.0 - p1 * 0.0;
    let s = s + p1 * 0.5 - p2 * 0.5;
    let s = s + p2 * 0.75;
    assert_eq!(c.average_pressure, s / 0.75);
    let old = (p1 * 0.5 + p2 * 0.25) / 0.75; // the per-tick sum
    assert!((c.average_pressure - old).abs() <= 1e-12 * old);
    assert_eq!(c.minimum_pressure, p1.min(p2));
    h.start(a).unwrap();
    h.start(b).unwrap();
    h.set_demand(a, 1701).unwrap();
    assert_eq!(h.at(0).running_s(), 0.75); // (0.75 − 2.75) + 2.75, exact here
    assert_eq!(h.at(1).running_s(), 0.0);
    h.tick(1.0).unwrap();
    let p3 = h.at(0).pressure();
    assert!(p1 != p2 && p2 != p3 && p1 != p3);
    assert_eq!(h.at(0).running_s(), 1.75);
    assert_eq!(h.at(1).running_s(), 1.0);
    let c = h.at(0).counters();
    // Off since the stop (no interval open), then p3 from T = 2.75, read at 3.75.
    let s = s + 0.0 * 2.75 - p3 * 2.75;
    assert_eq!(c.average_pressure, (s + p3 * 3.75) / 1.75);
    let old = (p1 * 0.5 + p2 * 0.25 + p3 * 1.0) / 1.75;
    assert!((c.average_pressure - old).abs() <= 1e-12 * old);
    assert_eq!(c.maximum_pressure, p1.max(p2).max(p3));
}

/// Average Pressure stays within [Minimum, Maximum] however rounding goes:
/// subnormal steps (1,000 ticks of 5e-324 at 585.9375 once gave 586.0),
/// steps the clock absorbs (running time 0 with samples taken), and a
/// constant pressure over ordinary steps.
#[test]
fn average_pressure_stays_between_minimum_and_maximum() {
    let within = |h: &Host| {
        let c = h.at(0).counters();
        assert!(c.maximum_pressure > 0.0);
        assert!(
            c.minimum_pressure <= c.average_pressure && c.average_pressure <= c.maximum_pressure,
            "{c:?}"
        );
    };
    let fresh = || {
        let mut h = Host::new(8192, Some(0), instant()).unwrap();
        let a = h.add_vm("a", &spec(512, 512, 512, 5000)).unwrap();
        h.start(a).unwrap();
        h.set_demand(a, 3000).unwrap(); // 585.9375
        (h, a)
    };
    let (mut h, _) = fresh();
    for _ in 0..1000 {
        h.tick(5e-324).unwrap();
    }
    within(&h);
    assert_eq!(h.at(0).counters().average_pressure, 585.9375);
    // The clock at 86,400 s absorbs 1e-13 s steps: the VM started there has
    // samples but no running time.
    let (mut h, a) = fresh();
    h.stop(a).unwrap();
    h.tick(86_400.0).unwrap();
    h.start(a).unwrap();
    for _ in 0..10 {
        h.tick(1e-13).unwrap();
    }
    assert_eq!(h.at(0).running_s(), 0.0);
    within(&h);
    let (mut h, _) = fresh();
    for _ in 0..300 {
        h.tick(0.1).unwrap();
    }
    assert_eq!(h.at(0).counters().average_pressure, 585.9375);
}

/// The counters are exact u64 although a tick touches only their u32 low
/// words: a host whose low words start just below 2^32 counts exactly what a
/// host starting from 0 counts, plus the offset, in every form (carries go
/// to `Vms::carries`), through adds, lazy and prompt removal and the
/// removals of a start.
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn counters_carry_past_u32_in_every_form() {
    use crate::model::Counter;
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
    let ids: Vec<VmId> = (0..n)
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
    assert!(h.vms_mut().carries.keys().all(|&(id, _)| id != id0.0));
}

/// Σ assigned stays exact in every form when it is far above 2^32: the
/// AVX-512 pass 2 adds u32 lanes and folds them into u64 every 2048 groups
/// of 16 (70,000 VMs of 1 TB: 4,375 groups, each lane's share ≈ 2^32).
#[cfg_attr(miri, ignore)] // too large for Miri
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
    let ids: Vec<VmId> = (0..n).map(|i| h.add_vm(&format!("s{i}"), &spec).unwrap()).collect();
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
#[cfg_attr(miri, ignore)] // too large for Miri
#[test]
fn pass1_sums_are_exact_past_u32_lanes() {
    use crate::model::View;
    use crate::tick::{self, Pass1, Sums};
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
                u: 2,
                target: &mut target,
                stage: Some(crate::model::rules::Stage::Buffers),
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
#[cfg_attr(miri, ignore)] // too large for Miri
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
