//! The one way a pass runs in parts: cut its VMs (or solver items) at
//! [`split_point`]s, run the parts on the pool, merge their results in
//! position order. Merges are sums, extremes and ordered lists, so the
//! result does not depend on the number of parts.

/// Where to cut `n` VMs (or items) to be run in `parts` parts: the first
/// `parts / 2` parts' share, rounded down to a multiple of 64 (so that the
/// parts share at most one cache line per column). 0: do not cut.
pub(crate) fn split_point(n: usize, parts: usize) -> usize {
    if parts < 2 {
        return 0;
    }
    (n / parts * (parts / 2)) & !63
}

/// What a pass works on, cut in two at a VM (or item) index: the VMs
/// before `mid` and from `mid` on.
pub(crate) trait Split: Sized + Send {
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Sync> Split for &[T] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

impl<T: Send> Split for &mut [T] {
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<A: Split, B: Split> Split for (A, B) {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let ((a1, a2), (b1, b2)) = (self.0.split_at(mid), self.1.split_at(mid));
        ((a1, b1), (a2, b2))
    }
}

impl<A: Split, B: Split, C: Split> Split for (A, B, C) {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let ((a1, a2), (b1, b2), (c1, c2)) = (self.0.split_at(mid), self.1.split_at(mid), self.2.split_at(mid));
        ((a1, b1, c1), (a2, b2, c2))
    }
}

/// `part` over `data` (`n` VMs or items) in `parts` parts, run in parallel
/// on the pool, their results merged left to right by `merge(left, right,
/// mid)` (`mid`: where the right part starts, relative to the left's start).
/// With `parts ≤ 1`, or too few VMs to cut, `part(data)` alone.
///
/// Always inlined: called through the generic function, a plentiful tick
/// of 100k VMs on 2 threads took ~10 % longer (tick_bench, 8 interleaved
/// runs each: median 1.73 against 1.54 ns/VM for hand-written recursion,
/// 1.44 inlined).
#[inline(always)]
pub(crate) fn in_parts<D, R, P, M>(data: D, n: usize, parts: usize, part: &P, merge: &M) -> R
where
    D: Split,
    R: Send,
    P: Fn(D) -> R + Sync,
    M: Fn(R, R, usize) -> R + Sync,
{
    let mid = split_point(n, parts);
    if parts > 1 && mid > 0 {
        let (left, right) = data.split_at(mid);
        let (a, b) = super::join(
            || in_parts(left, mid, parts / 2, part, merge),
            || in_parts(right, n - mid, parts - parts / 2, part, merge),
        );
        return merge(a, b, mid);
    }
    part(data)
}
