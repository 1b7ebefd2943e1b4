"""One workload, many hosts: what `dynmem replay` and `dynmem compare` build
a host and its demand matrix from.

A `Workload` is everything a run needs except the allocation policy: the
host's memory, the policy's mechanics (delays, rates, units), the VMs'
settings, the ``(ticks, vms)`` demand matrix, the tick length and the
scheduled events. `Workload.build` makes a fresh host with any policy, so
that several policies see exactly the same input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from ._host import Host
from .policies import HyperVPolicy
from .events import Event
from .errors import DynmemError
from .scenario import _VM_SETTINGS, Scenario, _in_file

__all__ = ["Workload", "scenario_workload", "trace_workload"]


@dataclass(frozen=True)
class Workload:
    """A host's memory, its VMs, their demand and events: a run without a policy.

    ``vms`` holds one dict of `Host.add_vm` keyword arguments per VM (with
    ``name``), in the column order of ``demand_mb`` (MB, shape ``(ticks,
    vms)``). ``mechanics`` holds the policy fields shared by every policy
    (``balloon_unit_mb``, ``hot_add_chunk_mb``, ``boot_report_delay_s``,
    ``remove_delay_s``, ``remove_rate_mb_per_s``; absent ones take Hyper-V's
    defaults). ``dt_s`` is the tick length in seconds; ``record_every`` the
    recording interval (ticks) the workload asks for; ``repairs`` what a
    trace loader had to fix.
    """

    name: str
    physical_mb: int
    reserve_mb: int | None
    mechanics: dict[str, Any]
    vms: list[dict[str, Any]]
    demand_mb: npt.NDArray[np.int64]
    dt_s: float
    events: list[Event]
    record_every: int = 1
    repairs: list[str] = field(default_factory=list)
    #: The scenario file it came from (its errors name it), or None.
    source: str | None = None

    @property
    def ticks(self) -> int:
        """Number of ticks (rows of ``demand_mb``)."""
        return int(self.demand_mb.shape[0])

    def build(self, policy: Any = None) -> Host:
        """A fresh host running ``policy`` (default: `HyperVPolicy` with the
        workload's mechanics), the workload's VMs added, all off."""
        try:
            if policy is None:
                policy = HyperVPolicy(**self.mechanics)
            host = Host(physical_mb=self.physical_mb, reserve_mb=self.reserve_mb, policy=policy)
            keys = {frozenset(vm) for vm in self.vms}
            if len(keys) == 1:  # every VM gives the same settings (a trace's): one bulk call
                names = [vm["name"] for vm in self.vms]
                host.add_vms(names, **{k: np.array([vm[k] for vm in self.vms]) for k in keys.pop() if k != "name"})
            else:
                for vm in self.vms:
                    host.add_vm(**vm)
        except DynmemError as e:
            if self.source is None:
                raise
            raise _in_file(self.source, e) from e
        return host

    def with_physical_mb(self, physical_mb: int | None) -> "Workload":
        """The same workload on a host of ``physical_mb`` MB (None: unchanged)."""
        return self if physical_mb is None else dataclasses.replace(self, physical_mb=physical_mb)


def scenario_workload(scenario: Scenario) -> Workload:
    """The `Workload` of a parsed scenario (`dynmem.scenario.load_scenario`)."""
    host = scenario.host
    return Workload(
        name=scenario.name,
        physical_mb=host["physical_mb"],
        reserve_mb=host.get("reserve_mb"),
        mechanics=dict(scenario.policy),
        vms=[{"name": vm["name"], **{k: vm[k] for k in _VM_SETTINGS if k in vm}} for vm in scenario.vms],
        demand_mb=scenario.demand_mb,
        dt_s=scenario.dt_s,
        events=scenario.scheduled_events(),
        record_every=scenario.record_every,
        source=scenario.source,
    )


def trace_workload(
    trace_dir: str | Path,
    physical_mb: int | None,
    *,
    reserve_mb: int | None = None,
    vms: int | None = None,
    tick_s: float = 300.0,
    startup_mb: int = 1024,
    minimum_mb: int = 512,
    buffer_pct: int = 20,
    baseline_mb: float = 256.0,
    baseline_pct: float = 10.0,
    scale: float = 1.5,
    progress: Callable[[int, int], None] | None = None,
) -> Workload:
    """A Bitbrains trace directory replayed on one host, as `dynmem replay`
    does: every VM started at tick 0, sized by `dynmem.traces.vm_sizes`
    (``startup_mb``, ``minimum_mb``, MB), its demand mapped by
    ``DemandMapping(baseline_mb, baseline_pct, scale)``; long gaps are held.

    ``physical_mb=None`` picks the smallest whole-GB host on which every VM
    can start at its startup memory (Σ startup + reserve ≤ physical), the
    host `StaticPolicy` just fits. ``progress(files_read, files)`` is
    called as the trace's files are read.
    """
    from .traces import DemandMapping, load_bitbrains, vm_sizes

    mapping = DemandMapping(baseline_mb=baseline_mb, baseline_pct=baseline_pct, scale=scale)
    trace = load_bitbrains(trace_dir, tick_s=tick_s, vms=vms, mapping=mapping, on_long_gap="hold", progress=progress)
    sizes = vm_sizes(trace, startup_mb=startup_mb, minimum_mb=minimum_mb, balloon_unit_mb=HyperVPolicy.balloon_unit_mb)
    settings = [{"name": n, **s, "buffer_pct": buffer_pct} for n, s in zip(trace.names, sizes)]
    if physical_mb is None:
        physical_mb = _fitting_host_mb(sum(s["startup_mb"] for s in sizes), reserve_mb)
    return Workload(
        name=f"replay of {Path(trace_dir).name}",
        physical_mb=physical_mb,
        reserve_mb=reserve_mb,
        mechanics={},
        vms=settings,
        demand_mb=trace.demand_mb,
        dt_s=trace.tick_s,
        events=[Event(0, n, "start") for n in trace.names],
        repairs=list(trace.repairs),
    )


def _fitting_host_mb(startup_mb: int, reserve_mb: int | None) -> int:
    """The smallest multiple of 1024 MB whose pool (physical − reserve) holds
    ``startup_mb``; the reserve is ``reserve_mb`` or the default rule's."""
    gb = max(1, -(-startup_mb // 1024))
    while True:
        physical = gb * 1024
        reserve = reserve_mb if reserve_mb is not None else Host(physical_mb=physical).reserve_mb
        if physical - reserve >= startup_mb:
            return physical
        gb += 1
