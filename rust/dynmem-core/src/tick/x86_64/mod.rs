//! The x86-64 vector forms of the tick's passes, one module per instruction set.

pub(crate) mod avx2;
pub(crate) mod avx512;
mod pass1;

use crate::solver::Scan;

/// Adds a vector form's scan to `scan`: its four sums (rooms, rooms of
/// positive weight, positive weights with room, weight-0 items with room)
/// and its lanes' three extremes (largest room of positive weight, smallest
/// positive weight with room, largest room of weight 0).
fn merge_scan(scan: &mut Scan, [total, positive, w_pos, n_zero]: [u64; 4], extremes: [&[u32]; 3]) {
    let [max_pos, min_w, max_zero] = extremes;
    scan.total += total;
    scan.positive += positive;
    scan.w_pos += w_pos;
    scan.n_zero += n_zero;
    scan.max_pos = scan.max_pos.max(max_pos.iter().copied().max().unwrap_or(0));
    let min_w = min_w
        .iter()
        .copied()
        .min()
        .unwrap_or(crate::solver::WEIGHT_SCALE as u32);
    scan.min_w = scan.min_w.min(min_w as u16);
    scan.max_zero = scan.max_zero.max(max_zero.iter().copied().max().unwrap_or(0));
}
