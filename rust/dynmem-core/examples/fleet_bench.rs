//! Times a fleet in Rust alone: `cargo run --release --example fleet_bench [HOSTS] [PER_HOST]`
//! (ticks, and a start storm of half the VMs; the published figures are
//! `benches/fleet_bench.py`'s). This isolates the core from the binding.
use dynmem_core::fleet::Placement;
use dynmem_core::{Fleet, Mechanics, VmId, VmSpec};
use std::time::Instant;

fn lcg(s: &mut u64) -> u64 {
    *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *s >> 33
}

fn main() {
    let hosts: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let per: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let n = hosts * per;
    let policy = Mechanics {
        boot_report_delay_s: 0.0,
        ..Mechanics::default()
    };
    let mut f = Fleet::new(&vec![(per * 2000) as i64; hosts], Some(0), policy).unwrap();
    let threads: usize = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(0);
    f.set_threads(threads);
    let mut seed = 7u64;
    let specs: Vec<VmSpec> = (0..n)
        .map(|_| VmSpec {
            startup_mb: 512,
            minimum_mb: Some(256),
            maximum_mb: 8192,
            weight: (lcg(&mut seed) % 10001) as i64,
            ..VmSpec::default()
        })
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("vm-{i}")).collect();
    let t = Instant::now();
    let ids = f.add_vms(&names, &specs).unwrap();
    println!("add_vms: {:.1} ns/VM", t.elapsed().as_secs_f64() / n as f64 * 1e9);
    let t = Instant::now();
    f.place(&ids, Placement::WorstFit, None).unwrap();
    println!(
        "place (worst-fit): {:.1} ns/VM",
        t.elapsed().as_secs_f64() / n as f64 * 1e9
    );
    f.start_many(&ids).unwrap();
    let demand: Vec<i64> = (0..n).map(|_| 500 + (lcg(&mut seed) % 3000) as i64).collect();
    f.set_demands(&demand).unwrap();
    let mut best = f64::MAX;
    for _ in 0..10 {
        let t = Instant::now();
        f.tick(1.0).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("tick (contended): {:.1} ns/VM", best / n as f64 * 1e9);
    let half: Vec<VmId> = ids[..n / 2].to_vec();
    let mut best = f64::MAX;
    for _ in 0..5 {
        f.stop_many(&half).unwrap();
        let t = Instant::now();
        f.start_many(&half).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("start storm: {:.1} ns/VM", best / half.len() as f64 * 1e9);
}
