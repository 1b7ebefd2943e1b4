"""`dynmem plan` (issue 12) on the shared Bitbrains traces: its answer is
checked by a direct replay, one independent `Host` per fleet host, at that
host count (within the budget) and one fewer (over it, or VMs left out)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dynmem
from conftest import trace_dir
from dynmem import placement as P
from dynmem.plan import _sizes, plan

TRACES = trace_dir()
pytestmark = pytest.mark.skipif(not TRACES.is_dir(), reason="shared traces not found")
HOST_MB = 65536
BUDGET = 10.0


@pytest.fixture(scope="module")
def trace():
    from dynmem.traces import load_bitbrains

    return load_bitbrains(TRACES, tick_s=300.0, on_long_gap="hold")


def direct_paging(trace, policy: str, hosts: int) -> float:
    """Place as `plan` does, then replay each host as its own `Host`."""
    sizes = _sizes(trace, policy, 1024, 512)
    fleet = dynmem.Fleet(np.full(hosts, HOST_MB))
    ids = fleet.add_vms(list(trace.names), dynamic=policy == "hyperv", **sizes)
    placed = fleet.place(ids, P.Rating("free_after") if policy == "hyperv" else P.BestFit())
    if (placed < 0).any():
        return math.inf
    short = 0
    for k in range(hosts):
        mine = np.flatnonzero(placed == k)
        h = dynmem.Host(HOST_MB)
        for i in mine:
            h.add_vm(trace.names[i], startup_mb=int(sizes["startup_mb"][i]), minimum_mb=int(sizes["minimum_mb"][i]),
                     maximum_mb=int(sizes["maximum_mb"][i]), dynamic=policy == "hyperv")
        demand = trace.demand_mb[:, mine]
        tl = h.run(demand, dt_s=trace.tick_s, events=[dynmem.Event(0, trace.names[i], "start") for i in mine])
        wanted = np.minimum(demand, sizes["maximum_mb"][mine][None, :])
        short += int(np.maximum(0, wanted - tl.assigned_mb).sum())
    return short * trace.tick_s / 3600 / 1024


def test_plan_answer_holds_by_direct_replay(trace) -> None:
    results = plan(trace, HOST_MB, BUDGET)
    assert set(results) == {"hyperv", "static"}
    for policy, r in results.items():
        assert r.hosts is not None
        at = direct_paging(trace, policy, r.hosts)
        assert at == pytest.approx(r.paging_gbh) and at <= BUDGET, policy
        if r.hosts > 1:
            assert direct_paging(trace, policy, r.hosts - 1) > BUDGET, policy
    # Dynamic Memory needs fewer hosts than static memory on this trace.
    assert results["hyperv"].hosts < results["static"].hosts


def test_cli_prints_the_table_and_plots(tmp_path, capsys) -> None:
    from dynmem.cli import main

    png = tmp_path / "plan.png"
    assert main(["plan", str(TRACES), "--host-mb", str(HOST_MB), "--paging-budget", "10", "--vms", "30",
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "policy" in out and "hyperv" in out and "static" in out
    assert png.stat().st_size > 0
    assert main(["plan", str(TRACES), "--host-mb", "65536", "--policies", "hyperv,nope"]) == 2
    assert "--policies" in capsys.readouterr().err
