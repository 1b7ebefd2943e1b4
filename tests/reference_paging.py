"""The reference's Smart Paging (docs/balancer.md, "Smart Paging (restart,
2012 and later)"): the restart rule and the drain after each tick, written
as the spec states them. `reference.Host` calls them."""

from __future__ import annotations

import copy
import math


def restart(host, vm) -> None:
    """Restart: what the start after the stop finds is free memory (its own
    included) plus what the donors can give (down to their effective
    minimums); short of startup, Smart Paging where the release has it, else
    a VersionError-like refusal with nothing changed."""
    from reference import OFF, NoSmartPaging

    assert vm.state != OFF, "restart: the VM must be on (the real Host rejects it)"
    free = host.physical_mb - host.reserve_mb - sum(v.assigned_mb for v in host.vms if v is not vm)
    give = 0
    if getattr(host.policy, "balloons_at_start", True):
        give = sum(max(0, d.assigned_mb - d.effective_minimum_mb) for d in host.vms
                   if d is not vm and d.in_solver_set and d.weight <= vm.weight)
    if max(free, 0) + give < vm.startup_mb and not host.smart_paging:
        raise NoSmartPaging(vm.name)
    if not host.numa_spanning:
        # Spanning off: the start must find its startup memory on one node
        # (no Smart Paging across nodes), else the restart fails and the VM
        # runs on as it was: tried on a copy first.
        trial = copy.deepcopy(host)
        twin = trial.vms[host.vms.index(vm)]
        twin.stop()
        trial._start(twin)  # raises InsufficientMemory, nothing changed
    vm.stop()
    host._start(vm, smart_paging=host.numa_spanning)


def drain(host, u: int) -> None:
    """Step 6, after the clock: a running VM's file keeps at most what its
    guest wants beyond its RAM, and at most the restart's gap scaled by the
    time left to the deadline (rounded up to the balloon unit `u`)."""
    for v in host.vms:
        if v.smart_paging_mb > 0 and v.in_solver_set:
            wants = max(0, min(v.target_mb, v.visible_mb) - v.assigned_mb)
            if host.time_s >= v.paging_deadline_s:
                allowed = 0
            else:
                left = math.ceil(v.paging_gap_mb * (v.paging_deadline_s - host.time_s)
                                 / host.smart_paging_drain_s)
                allowed = -(-min(left, v.paging_gap_mb) // u) * u
            v.smart_paging_mb = min(v.smart_paging_mb, wants, allowed)
