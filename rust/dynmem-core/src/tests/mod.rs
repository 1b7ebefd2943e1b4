//! The core's unit tests of whole hosts: the balancer's behaviour
//! (`balancer`), operations and their all-or-nothing rule (`operations`),
//! and the vector forms, parts and exactness limits against the scalar
//! definition (`forms`). The helpers below build and compare hosts.

use crate::*;

mod balancer;
mod fleet;
mod forms;
mod guests;
mod numa;
mod operations;
mod paging;
mod policies;
mod sparse;
mod versions;

pub(super) fn spec(startup: i64, min: i64, max: i64, weight: i64) -> VmSpec {
    VmSpec {
        startup_mb: startup,
        minimum_mb: Some(min),
        maximum_mb: max,
        weight,
        ..VmSpec::default()
    }
}

pub(super) fn instant() -> Mechanics {
    Mechanics {
        boot_report_delay_s: 0.0,
        ..Mechanics::default()
    }
}

pub(super) fn invariant(h: &Host) {
    let total: u64 = h.assigned().iter().map(|&a| a as u64).sum();
    assert!(total + h.reserve_mb() <= h.physical_mb(), "over-committed: {total}");
    for pos in 0..h.len() {
        if h.at(pos).state() == VmState::Running && h.at(pos).config().dynamic {
            let c = h.at(pos).config();
            let a = h.at(pos).assigned_mb();
            assert!(
                c.minimum_mb <= a && a <= c.maximum_mb,
                "vm {pos}: {a} outside [{}, {}]",
                c.minimum_mb,
                c.maximum_mb
            );
        }
    }
}

/// Everything observable about a host, to compare before and after a failure.
pub(super) fn snapshot(h: &Host) -> String {
    crate::fuzzing::dump(h)
}

/// A xorshift generator: `rnd(m)` is in `0..m`.
pub(super) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    }
}

/// The host in every vector form, and in parts on several threads: the
/// widest form in 3 parts and AVX2 in 2 (from 128 VMs on), the scalar
/// forms on one thread and ticking densely (no quiet ticks: the sparse
/// paths of the others must give the same hosts).
pub(super) fn in_every_form(mut h: Host) -> [Host; 4] {
    let (mut avx2, mut scalar) = (h.clone(), h.clone());
    avx2.set_vector_cap(VectorCap::Avx2);
    scalar.set_vector_cap(VectorCap::Scalar);
    scalar.set_threads(1);
    scalar.set_sparse(false);
    h.set_threads(3);
    avx2.set_threads(2);
    for parallel in [&mut h, &mut avx2] {
        parallel.set_parallel_min(128);
    }
    let unguessed = scalar.clone();
    [h, avx2, scalar, unguessed]
}

/// Applies `step` to every form, then checks that they agree column by
/// column (and the invariants). The fourth host is scalar and never lets
/// pass 1 guess the contended stage (`Host::forget_stage`): the guess may
/// only save a pass, never change a result.
pub(super) fn step_every_form(hosts: &mut [Host; 4], context: &str, mut step: impl FnMut(&mut Host)) {
    hosts[3].forget_stage();
    for h in hosts.iter_mut() {
        step(h);
    }
    let want = hosts[2].state_dump();
    for (k, what) in [(0, "widest form"), (1, "AVX2"), (3, "without the stage guess")] {
        let got = hosts[k].state_dump();
        assert!(got == want, "{what}: {context}: {}", first_difference(&got, &want));
    }
    invariant(&hosts[0]);
}

/// Where two state dumps first differ: the column (the last field name
/// before it) and a few entries around it from each (a whole dump runs to
/// megabytes).
fn first_difference(got: &str, want: &str) -> String {
    let at = got.bytes().zip(want.bytes()).take_while(|(a, b)| a == b).count();
    let field = got[..at]
        .rsplit_once(": [")
        .map_or("", |(head, _)| head.rsplit([' ', '{']).next().unwrap_or(""));
    let near = |s: &str| {
        let (from, to) = (at.saturating_sub(80), (at + 80).min(s.len()));
        s.get(from..to).unwrap_or("?").to_string()
    };
    format!(
        "column {field:?} at byte {at}: got …{}… want …{}…",
        near(got),
        near(want)
    )
}
