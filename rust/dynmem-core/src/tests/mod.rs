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
    assert_eq!(hosts[0].state_dump(), want, "widest form: {context}");
    assert_eq!(hosts[1].state_dump(), want, "AVX2: {context}");
    assert_eq!(hosts[3].state_dump(), want, "without the stage guess: {context}");
    invariant(&hosts[0]);
}
