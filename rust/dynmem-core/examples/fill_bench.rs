//! Times the water-filling alone: `cargo run --release --example fill_bench [N]`.
use dynmem_core::solver::fill_with_hint;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut seed = 7u64;
    let mut rnd = |m: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let weights: Vec<u16> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                [0u16, 100, 2000, 5000, 10000][rnd(5) as usize]
            } else {
                rnd(10001) as u16
            }
        })
        .collect();
    let rows: Vec<Vec<u32>> = {
        let base: Vec<u64> = (0..n).map(|_| 200 + rnd(2800)).collect();
        (0..8)
            .map(|_| {
                base.iter()
                    .map(|&b| (b + b * rnd(61) / 1000 - b * 30 / 1000) as u32)
                    .collect()
            })
            .collect()
    };
    let total: u64 = rows[0].iter().map(|&c| c as u64).sum();
    let budget = total * 2 / 3;
    let (mut out, mut keys, mut level) = (vec![0u32; n], Vec::new(), None);
    let mut best = f64::MAX;
    for r in 0..200 {
        let t = Instant::now();
        fill_with_hint(budget, &rows[r % 8], &weights, &mut out, &mut keys, &mut level);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("fill n={n}: {:.2} ns/item (best of 200)", best / n as f64 * 1e9);
}
