//! Times `Host::tick` in Rust alone: `cargo run --release --example tick_bench [N]`.
//! (The published benchmarks are `benches/run.py`; this isolates the core.)
//! `POLICY=static|proportional|shares|strict` ticks under that policy;
//! `NUMA=k` splits the host into k equal NUMA nodes (`SPANNING=0`: spanning off).
//! `CAP=scalar|avx2` caps the vector forms; `ROUNDS=k` timed ticks (callgrind:
//! run ROUNDS=10 and ROUNDS=30 and divide the difference by 20 × N).
//! `FEW=k` (plentiful only): before each timed tick only k random VMs'
//! demand changes (the sparse tick's case), timed against `SPARSE=0`.
use dynmem_core::{Host, Mechanics, Policy, VectorCap, VmSpec};
use std::time::Instant;

fn lcg(s: &mut u64) -> u64 {
    *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *s >> 33
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    println!("     floor n={n}: {:.2} ns/VM", floor_pass(n));
    let only = std::env::var("REGIME").unwrap_or_default();
    for (regime, per_vm) in [("plentiful", 4096u64), ("contended", 2000)] {
        if !only.is_empty() && only != regime {
            continue;
        }
        let policy = Mechanics {
            boot_report_delay_s: 0.0,
            ..Mechanics::default()
        };
        let rule = match std::env::var("POLICY").unwrap_or_default().as_str() {
            "static" => Policy::Static,
            "proportional" => Policy::Proportional,
            "shares" => Policy::Shares { idle_tax: 0.75 },
            "strict" => Policy::StrictPriority,
            _ => Policy::HyperV,
        };
        let mut h = Host::new((n as u64 * per_vm) as i64, Some(0), policy)
            .and_then(|h| h.with_policy(rule))
            .unwrap();
        if let Some(k) = std::env::var("NUMA").ok().and_then(|k| k.parse().ok()) {
            let spanning = std::env::var("SPANNING").map_or(true, |s| s != "0");
            h = h.with_equal_numa(k, spanning).unwrap();
        }
        h.set_vector_cap(match std::env::var("CAP").as_deref() {
            Ok("scalar") => VectorCap::Scalar,
            Ok("avx2") => VectorCap::Avx2,
            _ => VectorCap::Avx512,
        });
        let mut seed = 42u64;
        let weights = [0i64, 100, 2000, 5000, 10000];
        for i in 0..n {
            let w = if i % 2 == 0 {
                weights[(lcg(&mut seed) % 5) as usize]
            } else {
                (lcg(&mut seed) % 10001) as i64
            };
            let spec = VmSpec {
                startup_mb: 512,
                minimum_mb: Some(256),
                maximum_mb: 8192,
                weight: w,
                ..VmSpec::default()
            };
            let id = h.add_vm(&format!("v{i}"), &spec).unwrap();
            h.start(id).unwrap();
        }
        let base: Vec<i64> = (0..n).map(|_| 500 + (lcg(&mut seed) % 3000) as i64).collect();
        // Eight demand rows, each VM ±3 % around its base, cycled tick after tick.
        let demands: Vec<Vec<i64>> = (0..8)
            .map(|_| {
                base.iter()
                    .map(|&d| d + (d * ((lcg(&mut seed) % 61) as i64 - 30)) / 1000)
                    .collect()
            })
            .collect();
        let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(50);
        h.set_demands(&demands[0]).unwrap();
        h.tick(1.0).unwrap();
        if let Some(k) = std::env::var("FEW").ok().and_then(|k| k.parse::<usize>().ok()) {
            few(&mut h, n, k, rounds, &mut seed, &demands[0]);
            return;
        }
        let mut best = f64::MAX;
        // From row 1: row 0 is the warm-up's, so a tick after it would change
        // no demand (every timed tick here changes every VM's: churn).
        for r in 1..=rounds {
            h.set_demands(&demands[r % 8]).unwrap();
            let t = Instant::now();
            h.tick(1.0).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{regime:>10} n={n}: {:.2} ns/VM (best of {rounds}), available {}",
            best / n as f64 * 1e9,
            h.available_mb()
        );
    }
}

/// Ticks where only `k` random VMs' demand changes, sparse and dense.
fn few(h: &mut Host, n: usize, k: usize, rounds: usize, seed: &mut u64, base: &[i64]) {
    let ids: Vec<_> = h.vms().map(|vm| vm.id()).collect();
    let only = std::env::var("SPARSE").ok();
    for sparse in [true, false] {
        if only.as_deref().is_some_and(|s| s != if sparse { "1" } else { "0" }) {
            continue;
        }
        h.set_sparse(sparse);
        for _ in 0..30 {
            h.tick(1.0).unwrap(); // settle
        }
        let (mut best, mut sum) = (f64::MAX, 0.0);
        for _ in 0..rounds {
            for _ in 0..k {
                let i = (lcg(seed) as usize) % n;
                let d = base[i] + (lcg(seed) % 400) as i64 - 200;
                h.set_demand(ids[i], d).unwrap();
            }
            let t = Instant::now();
            h.tick(1.0).unwrap();
            let e = t.elapsed().as_secs_f64();
            best = best.min(e);
            sum += e;
        }
        println!(
            "  few k={k} n={n} sparse={sparse}: best {:.1} µs, mean {:.1} µs per tick",
            best * 1e6,
            sum / rounds as f64 * 1e6
        );
    }
}

fn floor_pass(n: usize) -> f64 {
    // One streaming read of the hot columns the tick reads (u8 + 5×u32 + 2×u16 + f64) and
    // a write of one u32 column: the bandwidth floor for touching every VM once.
    let flags = vec![6u8; n];
    let cols: Vec<Vec<u32>> = (0..5).map(|k| vec![k as u32 + 1; n]).collect();
    let w16: Vec<Vec<u16>> = (0..2).map(|k| vec![k as u16 + 1; n]).collect();
    let clock = vec![1.0f64; n];
    let mut out = vec![0u32; n];
    let mut best = f64::MAX;
    for _ in 0..50 {
        let t = Instant::now();
        for i in 0..n {
            let x = flags[i] as u32
                + cols[0][i]
                + cols[1][i]
                + cols[2][i]
                + cols[3][i]
                + cols[4][i]
                + w16[0][i] as u32
                + w16[1][i] as u32
                + clock[i] as u32;
            out[i] = x;
        }
        std::hint::black_box(&out);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best / n as f64 * 1e9
}
