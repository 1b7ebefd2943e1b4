//! Replay and churn regimes in Rust alone (issue 17; `benches/sparse_bench.py`
//! drives it and writes its input): `replay_bench FILE`.
//!
//! FILE (little-endian): n, rows, physical_mb, hold (u64 each); per VM
//! startup, minimum, maximum (u32 each); then `rows × n` demands (u32).
//! MODE (env):
//! - `dense`: what `Host.run` did per tick before sparse ticks: set every
//!   demand from the current row (`rows[t / hold]`), then tick 1 s.
//! - `run`: `Host::run` with each row held `hold` ticks (new builds only).
//! - `churn`: every VM's demand jumps each tick (rows cycled, hold ignored).
//! - `held`: the first row set once, then ticks with no change.
//!
//! TICKS (env) ticks are timed after a warm-up (the first row applied and 20
//! ticks); prints `ns_per_tick=… ns_per_vm_tick=…`. SPARSE=0 ticks densely
//! (new builds; `sparse_bench.py` removes that line for the base build).
//! CAP=avx2 or CAP=scalar caps the vector forms.
use dynmem_core::{Host, Mechanics, VectorCap, VmSpec};
use std::time::Instant;

fn u64_at(b: &[u8], k: usize) -> u64 {
    u64::from_le_bytes(b[k * 8..k * 8 + 8].try_into().unwrap())
}

fn main() {
    let path = std::env::args().nth(1).expect("replay_bench FILE");
    let data = std::fs::read(&path).expect("read FILE");
    let (n, rows, physical, hold) = (
        u64_at(&data, 0) as usize,
        u64_at(&data, 1) as usize,
        u64_at(&data, 2) as i64,
        u64_at(&data, 3) as usize,
    );
    let words: Vec<u32> = data[32..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let (sizes, demand) = words.split_at(3 * n);
    assert_eq!(demand.len(), rows * n);
    let mode = std::env::var("MODE").unwrap_or_else(|_| "dense".into());
    let ticks: usize = std::env::var("TICKS").ok().and_then(|t| t.parse().ok()).unwrap_or(600);
    let mech = Mechanics {
        boot_report_delay_s: 0.0,
        ..Mechanics::default()
    };
    let mut h = Host::new(physical, Some(0), mech).unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("vm{i}")).collect();
    let specs: Vec<VmSpec> = (0..n)
        .map(|i| VmSpec {
            startup_mb: sizes[3 * i] as i64,
            minimum_mb: Some(sizes[3 * i + 1] as i64),
            maximum_mb: sizes[3 * i + 2] as i64,
            ..VmSpec::default()
        })
        .collect();
    h.set_vector_cap(match std::env::var("CAP").as_deref() {
        Ok("avx2") => VectorCap::Avx2,
        Ok("scalar") => VectorCap::Scalar,
        _ => VectorCap::Avx512,
    });
    let ids = h.add_vms(&names, &specs).unwrap();
    h.start_many(&ids).unwrap();
    if std::env::var("SPARSE").as_deref() == Ok("0") {
        h.set_sparse(false); // NEW-API
    }
    let row = |r: usize| -> Vec<i64> {
        demand[(r % rows) * n..(r % rows + 1) * n]
            .iter()
            .map(|&d| d as i64)
            .collect()
    };
    let all_rows: Vec<Vec<i64>> = (0..rows).map(row).collect();
    h.set_demands(&all_rows[0]).unwrap();
    for _ in 0..20 {
        h.tick(1.0).unwrap();
    }
    let t0 = Instant::now();
    match mode.as_str() {
        "dense" => {
            for t in 0..ticks {
                h.set_demands(&all_rows[(t / hold) % rows]).unwrap();
                h.tick(1.0).unwrap();
            }
        }
        "churn" => {
            for t in 0..ticks {
                h.set_demands(&all_rows[(t + 1) % rows]).unwrap();
                h.tick(1.0).unwrap();
            }
        }
        "held" => {
            for _ in 0..ticks {
                h.tick(1.0).unwrap();
            }
        }
        "run" => {
            run_held(&mut h, demand, rows, hold, ticks); // NEW-API
        }
        m => panic!("MODE {m}?"),
    }
    let ns = t0.elapsed().as_nanos() as f64 / ticks as f64;
    println!(
        "mode={mode} n={n} ticks={ticks} ns_per_tick={ns:.0} ns_per_vm_tick={:.3} available={}",
        ns / n as f64,
        h.available_mb()
    );
}

/// `Host::run` of `ticks` ticks, each row held `hold` ticks. // NEW-API
fn run_held(h: &mut Host, demand: &[u32], rows: usize, hold: usize, ticks: usize) {
    // NEW-API
    let n = h.len(); // NEW-API
    let need = ticks.div_ceil(hold); // NEW-API
    let m: Vec<i64> = (0..need)
        .flat_map(|r| demand[(r % rows) * n..(r % rows + 1) * n].iter().map(|&d| d as i64))
        .collect(); // NEW-API
    let input = h.check_run_held(&m, need, hold, 1.0, &[], 3600).unwrap(); // NEW-API
    h.run_checked(&input).unwrap(); // NEW-API
} // NEW-API
