//! Where a pass over many VMs (or solver items) is cut into parts.

/// Where to cut `n` VMs (or items) to be run in `parts` parts: the first
/// `parts / 2` parts' share, rounded down to a multiple of 64 (so that the
/// parts share at most one cache line per column). 0: do not cut.
pub(crate) fn split_point(n: usize, parts: usize) -> usize {
    if parts < 2 {
        return 0;
    }
    (n / parts * (parts / 2)) & !63
}
