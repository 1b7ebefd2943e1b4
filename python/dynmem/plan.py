"""`dynmem plan`: how many hosts of one size a trace's VMs need, with
Dynamic Memory and with static memory, for a paging budget.

For a host count ``H`` the VMs are placed on ``H`` hosts (admission by
Σ startup; ``hyperv`` spreads them with SCVMM's rating by free memory,
`Rating` ``"free_after"``, since its VMs grow past their startup; ``static``
packs them with `BestFit`, since its VMs never grow), all started, and the whole trace replayed on the
`Fleet`; its **paging** is the memory the VMs' demand asked for and their
hosts did not give, in GB·h::

    paging = Σ_ticks Σ_vms max(0, min(demand, maximum) − assigned) × tick_s / 3600 / 1024

(demand above a VM's own maximum is the VM's size, not the hosts', and is
left out). ``H`` is *feasible* when every VM was placed and the paging is
within the budget. The answer is the least feasible ``H``, found by bisection
between a lower bound (Σ startup / usable memory per host) and one host per
VM, assuming more hosts never page more. Policies: ``hyperv`` (Dynamic
Memory with the replay's startup/minimum/maximum) and ``static`` (each VM
holds its maximum, Dynamic Memory off).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._console import SIZE_HELP, parse_size_mb
from .errors import ConfigError
from .fleet import Fleet
from .placement import BestFit, Rating

__all__ = ["POLICIES", "PlanResult", "paging_gbh", "plan", "add_parser", "cmd_plan"]

POLICIES: tuple[str, ...] = ("hyperv", "static")
"""The policies `plan` compares by default."""


@dataclass
class PlanResult:
    """One policy's answer.

    Attributes:
        policy: The policy's name.
        hosts: Hosts needed (None: not within one host per VM).
        paging_gbh: Guest paging at that host count (GB·h).
        tried: Every host count tried → its paging (GB·h, ``inf`` where not
            every VM was placed).
    """

    policy: str
    hosts: int | None
    paging_gbh: float
    tried: dict[int, float] = field(default_factory=dict)


def _sizes(trace: Any, policy: str, startup_mb: int, minimum_mb: int) -> dict[str, npt.NDArray[np.int64]]:
    from .traces import vm_sizes

    s = vm_sizes(trace, startup_mb=startup_mb, minimum_mb=minimum_mb)
    maximum = np.array([v["maximum_mb"] for v in s], dtype=np.int64)
    if policy == "static":
        return {"startup_mb": maximum, "minimum_mb": maximum, "maximum_mb": maximum}
    return {
        "startup_mb": np.array([v["startup_mb"] for v in s], dtype=np.int64),
        "minimum_mb": np.array([v["minimum_mb"] for v in s], dtype=np.int64),
        "maximum_mb": maximum,
    }


def paging_gbh(
    trace: Any, policy: str, host_mb: int, hosts: int, *, reserve_mb: int | None = None,
    startup_mb: int = 1024, minimum_mb: int = 512, buffer_pct: int = 20,
) -> float:
    """Paging (GB·h) of the trace's VMs on ``hosts`` hosts of ``host_mb``
    under ``policy``; ``inf`` when placement left a VM out."""
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}", "policy", policy)
    sizes = _sizes(trace, policy, startup_mb, minimum_mb)
    n = len(trace.names)
    fleet = Fleet(np.full(hosts, host_mb, dtype=np.int64), reserve_mb=reserve_mb)
    ids = fleet.add_vms(list(trace.names), buffer_pct=buffer_pct, dynamic=policy == "hyperv", **sizes)
    placed = fleet.place(ids, Rating("free_after") if policy == "hyperv" else BestFit())
    if (placed < 0).any():
        return math.inf
    fleet.start_vms(ids)
    timeline = fleet.run(trace.demand_mb, dt_s=trace.tick_s)
    wanted = np.minimum(trace.demand_mb, sizes["maximum_mb"][None, :n])
    short = np.maximum(0, wanted - timeline.assigned_mb).sum()
    return float(short * trace.tick_s / 3600.0 / 1024.0)


def plan(
    trace: Any, host_mb: int, paging_budget_gbh: float = 0.0, policies: tuple[str, ...] = POLICIES,
    **kw: Any,
) -> dict[str, PlanResult]:
    """The least host count per policy whose paging is within the budget
    (bisection; see the module's documentation)."""
    out: dict[str, PlanResult] = {}
    for policy in policies:
        tried: dict[int, float] = {}

        def ok(h: int) -> bool:
            if h not in tried:
                tried[h] = paging_gbh(trace, policy, host_mb, h, **kw)
            return tried[h] <= paging_budget_gbh

        sizes = _sizes(trace, policy, kw.get("startup_mb", 1024), kw.get("minimum_mb", 512))
        probe = Fleet(np.array([host_mb], dtype=np.int64), reserve_mb=kw.get("reserve_mb"))
        usable = int(probe.host_free_mb[0])
        lo = max(1, math.ceil(int(sizes["startup_mb"].sum()) / usable))
        hi = max(lo, len(trace.names))
        if not ok(hi):
            out[policy] = PlanResult(policy, None, tried[hi], tried)
            continue
        if ok(lo):
            hi = lo
        while hi - lo > 1:  # ok(hi), not ok(lo)
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid
        out[policy] = PlanResult(policy, hi, tried[hi], tried)
    return out


def table(results: dict[str, PlanResult], host_mb: int, budget: float) -> str:
    """The answer as a text table."""
    lines = [
        f"hosts of {host_mb} MB needed for a paging budget of {budget:g} GB·h",
        "",
        f"{'policy':<8} {'hosts':>6} {'paging GB·h':>12}   one fewer host",
    ]
    for r in results.values():
        if r.hosts is None:
            lines.append(f"{r.policy:<8} {'-':>6} {r.paging_gbh:>12.2f}   (not reachable with one host per VM)")
            continue
        fewer = r.tried.get(r.hosts - 1)
        shown = "-" if r.hosts == 1 else ("no room" if fewer is None or math.isinf(fewer) else f"{fewer:.2f} GB·h")
        lines.append(f"{r.policy:<8} {r.hosts:>6} {r.paging_gbh:>12.2f}   {shown}")
    return "\n".join(lines)


def curve(trace: Any, results: dict[str, PlanResult], host_mb: int, **kw: Any) -> dict[str, dict[int, float]]:
    """Paging at every host count from 1 to the largest answer + 1, per policy."""
    top = max([r.hosts for r in results.values() if r.hosts] or [1]) + 1
    out: dict[str, dict[int, float]] = {}
    for p, r in results.items():
        pts = dict(r.tried)
        for h in range(1, top + 1):
            if h not in pts:
                pts[h] = paging_gbh(trace, p, host_mb, h, **kw)
        out[p] = {h: pts[h] for h in sorted(pts) if h <= top}
    return out


def plot_curve(points: dict[str, dict[int, float]], results: dict[str, PlanResult], budget: float, path: str) -> None:
    """Hosts → paging per policy, the answers marked (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for p, pts in points.items():
        hs = [h for h, v in pts.items() if not math.isinf(v)]
        first = f"; fewer than {min(hs)} hosts cannot place every VM" if hs and min(hs) > 1 else ""
        ax.plot(hs, [pts[h] for h in hs], marker="o", label=f"{p}: needs {results[p].hosts} hosts{first}")
        answer = results[p].hosts
        if answer is not None:
            ax.axvline(answer, ls=":", color=ax.lines[-1].get_color())
    ax.axhline(budget, color="grey", ls="--", lw=1, label=f"budget {budget:g} GB·h")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("hosts")
    ax.set_ylabel("paging over the trace (GB·h, log above 1)")
    ax.set_title("Paging by host count; a policy's answer is the dotted line")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_parser(sub: Any) -> None:
    """Registers ``dynmem plan`` on the CLI's subparsers."""
    pl = sub.add_parser("plan", help="how many hosts a trace's VMs need, with Dynamic Memory and without")
    pl.add_argument("trace_dir", metavar="TRACE_DIR",
                    help="a directory of Bitbrains GWA-T-12 per-VM files (*.csv or *.csv.gz), one VM per file; "
                    "each VM's maximum is the most memory the trace provisioned it")
    pl.add_argument("--host-mb", type=parse_size_mb, required=True, metavar="SIZE",
                    help=f"physical memory per host; {SIZE_HELP}")
    pl.add_argument("--paging-budget", type=float, default=0.0, metavar="GB·h",
                    help="paging allowed over the whole trace (GB·h; default 0)")
    pl.add_argument("--policies", default="hyperv,static", help="comma-separated: hyperv, static")
    pl.add_argument("--vms", type=int, default=None, help="only the first N VMs")
    pl.add_argument("--tick-s", type=float, default=300.0, help="tick length in seconds (default 300)")
    pl.add_argument("--reserve-mb", type=parse_size_mb, default=None, metavar="SIZE",
                    help="host reserve per host (default: 384 MB + 64 MB per GB of physical memory)")
    pl.add_argument("--plot", metavar="FILE.png", help="draw hosts → paging per policy (needs matplotlib)")


def cmd_plan(args: argparse.Namespace) -> int:
    """``dynmem plan``: prints the table, optionally plots the curve."""
    from .traces import load_bitbrains

    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    for p in policies:
        if p not in POLICIES:
            raise ConfigError(f"--policies must name {', '.join(POLICIES)}, got {p!r}", "policies", p)
    if not args.paging_budget >= 0:
        raise ConfigError(f"--paging-budget must be at least 0, got {args.paging_budget}", "paging_budget", args.paging_budget)
    trace = load_bitbrains(args.trace_dir, tick_s=args.tick_s, vms=args.vms, on_long_gap="hold")
    results = plan(trace, args.host_mb, args.paging_budget, policies, reserve_mb=args.reserve_mb)
    print(f"{len(trace.names)} VMs from {args.trace_dir}, {trace.demand_mb.shape[0]} ticks of {trace.tick_s:g} s\n")
    print(table(results, args.host_mb, args.paging_budget))
    if args.plot:
        points = curve(trace, results, args.host_mb, reserve_mb=args.reserve_mb)
        plot_curve(points, results, args.paging_budget, args.plot)
        print(f"\nplot: {Path(args.plot)}")
    return 0
