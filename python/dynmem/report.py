"""The text a person reads after a run: the host, the VMs' settings, tables
of the state at chosen times and a summary (what `dynmem demo`, `run` and
`replay` print). Sizes are in GB (1024 MB) with thousands separators,
guest paging in GB·h, times in s / min / h / days, and every VM that did
not start is named with the reason."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._console import duration, gb
from ._host import Host, policy_text
from .timeline import STATUS_NAMES, Timeline

__all__ = ["host_line", "settings_table", "state_table", "summary", "PAGING_DEFINITION"]

#: What "guest paging" means wherever it is printed.
PAGING_DEFINITION = (
    "guest paging = demand the VM's assigned memory did not cover, max(0, demand − assigned), "
    "summed over time: memory the guest had to page to its disk"
)

#: Above this many VMs the settings are summarised rather than listed.
SETTINGS_TABLE_MAX_VMS = 20


def host_line(host: Host) -> str:
    """``"host  8.00 GB physical − 0.50 GB reserve = 7.50 GB for VMs; policy ..."``."""
    usable = host.physical_mb - host.reserve_mb
    return (f"{'host':<21}{gb(host.physical_mb)} physical − {gb(host.reserve_mb)} reserve = "
            f"{gb(usable)} for VMs; policy {policy_text(host.policy)}")


def _starts(timeline: Timeline) -> dict[str, float]:
    """Each VM's first successful start in the run, in simulated seconds."""
    out: dict[str, float] = {}
    for t, name, action, msg in timeline.events:
        if action == "start" and msg is None:
            out.setdefault(name, timeline.time_of_tick(t))
    return out


def settings_table(host: Host, timeline: Timeline) -> str:
    """Each VM's memory settings and when it was started, as Hyper-V
    Manager shows them; over `SETTINGS_TABLE_MAX_VMS` VMs, their ranges."""
    vms = host.vms
    starts = _starts(timeline)
    if len(vms) > SETTINGS_TABLE_MAX_VMS:
        def span(values: list[int], fmt: Any) -> str:
            lo, hi = min(values), max(values)
            return fmt(lo) if lo == hi else f"{fmt(lo)} to {fmt(hi)} (median {fmt(float(np.median(values)))})"

        mb = lambda v: f"{v:,.0f} MB" if v < 1024 else gb(v)  # noqa: E731
        return "\n".join([
            f"{len(vms)} VMs, dynamic memory:",
            f"  maximum  {span([v.maximum_mb for v in vms], mb)}",
            f"  startup  {span([v.startup_mb for v in vms], mb)}",
            f"  minimum  {span([v.minimum_mb for v in vms], mb)}",
            f"  buffer   {span([v.buffer_pct for v in vms], lambda p: f'{p:g} %')}",
            f"  weight   {span([v.weight for v in vms], lambda w: f'{w:g}')}",
        ])
    width = max([14] + [len(v.name) + 2 for v in vms])
    lines = [f"{'Name':<{width}}{'Startup':>10}{'Minimum':>10}{'Maximum':>10}{'Buffer':>8}{'Weight':>8}  Dynamic  Started at"]
    for v in vms:
        started = duration(starts[v.name]) if v.name in starts else "not started"
        lines.append(
            f"{v.name:<{width}}{v.startup_mb:>7} MB{v.minimum_mb:>7} MB{v.maximum_mb:>7} MB"
            f"{v.buffer_pct:>6} %{v.weight:>8}  {'yes' if v.dynamic else 'no':<7}  {started}"
        )
    return "\n".join(lines)


def state_table(timeline: Timeline, row: int) -> str:
    """A Hyper-V-Manager-like table (Name, State, Assigned, Demand, Status)
    of recorded row ``row``."""
    width = max([14] + [len(n) + 2 for n in timeline.names])
    lines = [f"{'Name':<{width}}{'State':<10}{'Assigned':>20}{'Demand':>20}  Status"]
    total = 0
    for j, name in enumerate(timeline.names):
        status = STATUS_NAMES[int(timeline.status[row, j])]
        a, d = int(timeline.assigned_mb[row, j]), int(timeline.demand_mb[row, j])
        if status == "off":
            lines.append(f"{name:<{width}}{'Off':<10}")
            continue
        total += a
        cell_a, cell_d = f"{a} MB ({a / 1024:.2f} GB)", f"{d} MB ({d / 1024:.2f} GB)"
        lines.append(f"{name:<{width}}{'Running':<10}{cell_a:>20}{cell_d:>20}  {status.capitalize()}")
    lines.append(f"{'Total':<{width + 10}}{f'{total} MB ({total / 1024:.2f} GB)':>20}")
    if timeline.usable_mb is not None:
        lines.append(f"{'Free for VMs':<{width + 10}}{f'{int(timeline.available_mb[row])} MB':>20}"
                     f"  of {timeline.usable_mb} MB (physical − reserve)")
    return "\n".join(lines)


def _gbh(mb_h: float) -> str:
    v = mb_h / 1024.0
    return f"{v:,.2f} GB·h" if v < 100 else f"{v:,.0f} GB·h"


def not_started(timeline: Timeline) -> list[tuple[str, str]]:
    """``(name, why)`` of every VM that was off in every recorded row:
    ``"failed to start at 5 min (300 s): <message>"`` or ``"never started"``."""
    off = STATUS_NAMES.index("off")
    never = (timeline.status == off).all(axis=0) if timeline.rows else np.ones(len(timeline.names), dtype=bool)
    failed: dict[str, tuple[int, str]] = {}
    for t, name, action, msg in timeline.failed_events:
        if action == "start":
            failed.setdefault(name, (t, msg))
    out = []
    for j, name in enumerate(timeline.names):
        if not never[j]:
            continue
        if name in failed:
            t, msg = failed[name]
            at = timeline.time_of_tick(t)
            when = duration(at)
            when += "" if when.endswith(" s") else f" ({at:g} s)"
            out.append((name, f"failed to start at {when}: {msg}"))
        else:
            out.append((name, "never started"))
    return out


def summary(host: Host, timeline: Timeline, counters_before: list[dict[str, float]]) -> str:
    """Guest paging (defined); time in Warning and Low; pressure;
    memory operations; the VMs that did not start, each named with why."""
    paging = timeline.paging_mb_h()
    warn_h = timeline.status_seconds("warning") / 3600.0
    low_h = timeline.status_seconds("low") / 3600.0
    after = [vm.counters for vm in host.vms]
    adds = sum(a["Memory Add Operations"] - b["Memory Add Operations"] for a, b in zip(after, counters_before))
    removes = sum(
        a["Memory Remove Operations"] - b["Memory Remove Operations"] for a, b in zip(after, counters_before)
    )
    running = timeline.status != STATUS_NAMES.index("off")
    rows_running = running.any(axis=1)
    avg_p = float(timeline.average_pressure[rows_running].mean()) if rows_running.any() else 0.0
    skipped = not_started(timeline)
    vms = len(timeline.names)
    row_s = timeline.dt_s * timeline.record_every
    most = ""
    if paging.any():
        j = int(paging.argmax())
        name = timeline.names[j]
        most = f" (most: {'VM ' + name if name.isdigit() else name}, {_gbh(float(paging[j]))})"
    in_warning = int((warn_h > 0).sum())
    out = [
        f"{'simulated':<21}{duration(host.time_s)}, {vms:,} VMs, {timeline.rows:,} recorded rows "
        f"(one every {duration(row_s)})",
        f"{'guest paging':<21}{_gbh(float(paging.sum()))} in all{most}",
        f"{'':<21}({PAGING_DEFINITION})",
        f"{'time in Warning':<21}{warn_h.sum():,.2f} VM·h, {in_warning} of {vms} VMs (Warning: the guest is paging)",
        f"{'time in Low':<21}{low_h.sum():,.2f} VM·h (Low: assigned memory is below the buffer's target)",
        f"{'average pressure':<21}{avg_p:.1f} % (demand / assigned, host average over running rows)",
        f"{'memory operations':<21}{adds:,} add, {removes:,} remove",
        f"{'not started':<21}{len(skipped)} of {vms} VMs" + (" (no paging or Warning counted for them)" if skipped else ""),
    ]
    out += [f"  {name}: {why}" for name, why in skipped]
    return "\n".join(out)
