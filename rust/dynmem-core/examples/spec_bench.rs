//! Replays a benchmark spec exported from `benches/_common.py` (raw i64:
//! n, physical, reserve, startup, minimum, maximum, buffer, weight, 8 demand
//! rows) and times ticks in Rust alone: `spec_bench FILE [ROUNDS]` (env `THREADS=k`, `CAP=scalar`
//! or `CAP=avx2` caps the vector forms).
use dynmem_core::{Host, Mechanics, VmSpec};
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("spec file");
    let rounds: usize = std::env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(200);
    let bytes = std::fs::read(&path).unwrap();
    let v: Vec<i64> = bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let (n, physical, reserve) = (v[0] as usize, v[1], v[2]);
    let col = |k: usize| &v[3 + k * n..3 + (k + 1) * n];
    let (startup, minimum, maximum, buffer, weight) = (col(0), col(1), col(2), col(3), col(4));
    let rows: Vec<&[i64]> = (0..8).map(|r| col(5 + r)).collect();
    let policy = Mechanics {
        boot_report_delay_s: 0.0,
        ..Mechanics::default()
    };
    let mut h = Host::new(physical, Some(reserve), policy).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
    let specs: Vec<VmSpec> = (0..n)
        .map(|i| VmSpec {
            startup_mb: startup[i],
            minimum_mb: Some(minimum[i]),
            maximum_mb: maximum[i],
            buffer_pct: buffer[i],
            weight: weight[i],
            dynamic: true,
        })
        .collect();
    let ids = h.add_vms(&names, &specs).unwrap();
    h.set_vector_cap(match std::env::var("CAP").as_deref() {
        Ok("scalar") => dynmem_core::VectorCap::Scalar,
        Ok("avx2") => dynmem_core::VectorCap::Avx2,
        _ => dynmem_core::VectorCap::Avx512,
    });
    if let Some(t) = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()) {
        h.set_threads(t);
    }
    h.start_many(&ids).unwrap();
    for k in 0..16 {
        h.set_demands(rows[k % 8]).unwrap();
        h.tick(1.0).unwrap();
    }
    let mut times = Vec::new();
    for k in 16..16 + rounds {
        h.set_demands(rows[k % 8]).unwrap();
        let t = Instant::now();
        h.tick(1.0).unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    if let Some(every) = std::env::var("RUN").ok().and_then(|r| r.parse::<usize>().ok()) {
        // Host::run over 600 ticks (the 8 rows cycled), recording every `every`th.
        let matrix: Vec<i64> = (0..600).flat_map(|k| rows[k % 8].iter().copied()).collect();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            h.run(&matrix, 600, 1.0, &[], every).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "run, record_every={every}: {:.2} ns/VM-tick",
            best / (600 * n) as f64 * 1e9
        );
    }
    let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize] / n as f64 * 1e9;
    println!(
        "{path}: min {:.2} median {:.2} ns/VM (p10 {:.2}, p90 {:.2})",
        q(0.0),
        q(0.5),
        q(0.1),
        q(0.9)
    );
}
