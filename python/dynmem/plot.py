"""Plot a `Timeline`. Needs matplotlib: ``pip install 'dynmem[plot]'``.

The figure is drawn on matplotlib's non-interactive Agg canvas without
touching pyplot or the global backend, so it works headless, in scripts
and in notebooks (a returned `Figure` displays inline in Jupyter).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from ._validate import check_instance, check_int
from .timeline import STATUS_NAMES, Timeline

__all__ = ["plot_timeline"]


def _import_matplotlib() -> tuple[Any, Any, Any, Any]:
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError as e:
        raise ImportError(
            "dynmem.plot needs matplotlib: pip install 'dynmem[plot]' (or pip install matplotlib)"
        ) from e
    return Figure, FigureCanvasAgg, Patch, matplotlib.colormaps


def _time_unit(time_s: npt.NDArray[np.float64]) -> tuple[float, str]:
    """Seconds, minutes or hours, whichever suits the latest time."""
    latest = float(time_s.max()) if time_s.size else 0.0
    if latest <= 180:
        return 1.0, "time (s)"
    if latest <= 3 * 3600:
        return 60.0, "time (min)"
    return 3600.0, "time (h)"


def _memory_unit(peak_mb: float) -> tuple[float, str]:
    return (1024.0, "GB") if peak_mb >= 16384 else (1.0, "MB")


def plot_timeline(
    timeline: Timeline,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    max_lines: int = 12,
) -> Any:
    """Draws ``timeline`` and returns the matplotlib ``Figure``.

    Top panel: memory assigned to each VM (solid) with its demand over it
    (dashed, same colour; not drawn while the VM is off). With more than
    ``max_lines`` VMs it is instead a stacked area of assigned memory, with
    the total demand of running VMs drawn over it. Bottom panel: the host's
    available memory. Failed events (``timeline.failed_events``) are marked
    with red dotted vertical lines. Time is in seconds, minutes or hours and
    memory in MB or GB, whichever suits the data.

    ``path``, if given, is where the figure is saved as a PNG.
    """
    Figure, FigureCanvasAgg, Patch, colormaps = _import_matplotlib()
    tl = check_instance(timeline, "timeline", Timeline, "a dynmem.Timeline")
    check_int(max_lines, "max_lines", "a non-negative integer", low=0)

    vms = len(tl.names)
    running = tl.status != STATUS_NAMES.index("off")
    t_scale, xlabel = _time_unit(tl.time_s)
    x = tl.time_s / t_scale
    assigned = tl.assigned_mb.astype(np.float64)
    demand = np.where(running, tl.demand_mb.astype(np.float64), np.nan)
    stacked = vms > max_lines

    peaks = [0.0]
    if tl.rows and vms:
        peaks.append(float(assigned.sum(axis=1).max() if stacked else assigned.max()))
        if running.any():
            peaks.append(float(np.nansum(demand, axis=1).max() if stacked else np.nanmax(demand)))
    if tl.rows:
        peaks.append(float(tl.available_mb.max()))
    scale, unit = _memory_unit(max(peaks))

    fig = Figure(figsize=(10, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colours = colormaps["tab10" if vms <= 10 else "tab20"]
    ncol = colours.N

    if not stacked:
        for j, name in enumerate(tl.names):
            c = colours(j % ncol)
            top.plot(x, assigned[:, j] / scale, color=c, lw=1.6, label=name)
            top.plot(x, demand[:, j] / scale, color=c, lw=1.1, ls="--")
        if vms:
            top.plot([], [], color="0.3", lw=1.6, label="assigned")
            top.plot([], [], color="0.3", lw=1.1, ls="--", label="demand")
            top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", ncol=1 + (vms + 2) // 16)
        top.set_ylabel(f"memory per VM ({unit})")
    else:
        top.stackplot(
            x,
            assigned.T / scale,
            colors=[colours(j % ncol) for j in range(vms)],
            alpha=0.85,
            linewidth=0,
        )
        total_demand = np.where(running, tl.demand_mb, 0).sum(axis=1) / scale
        (demand_line,) = top.plot(x, total_demand, color="black", lw=1.4, ls="--")
        stack_patch = Patch(facecolor=colours(0), alpha=0.85)
        top.legend(
            [stack_patch, demand_line],
            [f"assigned, stacked ({vms} VMs)", "total demand (running VMs)"],
            loc="upper left",
            fontsize="small",
            framealpha=0.8,
        )
        top.set_ylabel(f"assigned memory ({unit})")
    top.set_ylim(bottom=0)
    top.grid(True, alpha=0.3)

    bottom.plot(x, tl.available_mb / scale, color="tab:gray", lw=1.4)
    bottom.fill_between(x, tl.available_mb / scale, color="tab:gray", alpha=0.25)
    bottom.set_ylabel(f"available ({unit})")
    bottom.set_xlabel(xlabel)
    bottom.set_ylim(bottom=0)
    bottom.grid(True, alpha=0.3)

    failed = tl.failed_events
    if failed and tl.rows:
        # an event at tick k happens at the start of tick k, i.e. one tick
        # before the time recorded for tick k
        start_s = float(tl.time_s[0]) - (int(tl.tick[0]) + 1) * tl.dt_s
        for i, e in enumerate(failed):
            xe = (start_s + e[0] * tl.dt_s) / t_scale
            for ax in (top, bottom):
                ax.axvline(xe, color="red", ls=":", lw=1.0, label="failed event" if (i == 0 and ax is bottom) else None)
        bottom.legend(loc="upper left", fontsize="small", framealpha=0.8)

    if title is not None:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, format="png", dpi=110)
    return fig
