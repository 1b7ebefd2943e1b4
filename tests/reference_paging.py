"""Smart Paging in the pure-Python reference (docs/balancer.md, "Smart
Paging"): `restart` (stop, then a start that pages what it cannot find) and
the drain after each tick. `reference.Host` calls both; kept here so that
reference.py stays under 800 lines."""

from __future__ import annotations

import math


class NoSmartPaging(Exception):
    """A restart short of startup memory on a release without Smart Paging
    (the real Host raises VersionError)."""


def restart(host, vm) -> None:
    """Restart: what the start after the stop finds is free memory (its own
    included) plus what the start's donors can give; short of startup,
    Smart Paging where the release has it (`host._start(vm,
    smart_paging=True)` pages the rest), else a refusal with nothing changed."""
    assert vm.state != "off", "restart: the VM must be on (the real Host rejects it)"
    free = host.physical_mb - host.reserve_mb - sum(v.assigned_mb for v in host.vms if v is not vm)
    give = 0
    if getattr(host.policy, "balloons_at_start", True):
        give = sum(max(0, d.assigned_mb - d.effective_minimum_mb) for d in host.vms
                   if d is not vm and d.in_solver_set and d.weight <= vm.weight)
    if max(free, 0) + give < vm.startup_mb and not host.smart_paging:
        raise NoSmartPaging(vm.name)
    vm.stop()
    host._start(vm, smart_paging=True)


def open_file(host, vm, held: int) -> None:
    """A start that holds `held` < startup in RAM pages the rest: the file,
    its size at the restart and its deadline (the host clock + the drain)."""
    if held < vm.startup_mb:
        vm.smart_paging_mb = vm.paging_gap_mb = vm.startup_mb - held
        vm.paging_deadline_s = host.time_s + host.smart_paging_drain_s


def drain(host) -> None:
    """After a tick (the clock advanced): a running VM's file keeps at most
    what its guest wants beyond its RAM, min(target, visible) − assigned, and
    at most the restart's gap scaled by the time left to the deadline."""
    u = host.policy.balloon_unit_mb
    for v in host.vms:
        if v.smart_paging_mb > 0 and v.in_solver_set:
            wants = max(0, min(v.target_mb, v.visible_mb) - v.assigned_mb)
            if host.time_s >= v.paging_deadline_s:
                allowed = 0
            else:
                left = math.ceil(v.paging_gap_mb * (v.paging_deadline_s - host.time_s)
                                 / host.smart_paging_drain_s)
                allowed = -(-min(left, v.paging_gap_mb) // u) * u  # ceil_u
            v.smart_paging_mb = min(v.smart_paging_mb, wants, allowed)
