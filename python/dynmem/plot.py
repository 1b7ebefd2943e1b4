"""Plot a `Timeline`. Needs matplotlib: ``pip install 'dynmem[plot]'``.

The figure is drawn on matplotlib's non-interactive Agg canvas without
touching pyplot or the global backend, so it works headless, in scripts
and in notebooks (a returned `Figure` displays inline in Jupyter).

Panels, top to bottom (each `Axes` is labelled with its name, ``ax.get_label()``):

``"per VM"``
    Only for a few VMs (``max_lines`` or fewer): each VM's assigned memory
    (solid) and demand (dashed, same colour; not drawn while it is off).
``"host"``
    The host's memory: assigned memory as stacked bands (one per VM for a
    few VMs; for more, the ``top_k`` VMs that paged most and the rest as
    "others"), the VMs' total demand (black, dashed) and the usable capacity
    (red: physical − reserve, what the VMs can share).
``"paging"``
    Guest paging (demand the assigned memory did not cover), stacked with
    the same bands and colours.
``"status"``
    How many VMs are in Warning (paging) and in Low (buffer not met), and,
    only when some VM has one, how many use a Smart Paging file
    (`VM.restart`).
``"available"``
    The host's Available Memory, only when it says something: above 2 % of
    the usable memory in at least 5 % of the rows (pinned at 0, or free
    only while VMs boot, it is left out).

Everything is drawn as steps: a recorded row holds from the start of its
tick until the next row. Events are marked along the top of the first
panel (start, stop, reconfigure, restart, failed), failed ones also as red dotted
lines across every panel. Time is in seconds, minutes, hours or days, or
UTC dates for a timeline with ``start_epoch_s`` (a replayed trace); memory
in MB or GB, whichever suits the data. The title names the host (physical,
reserve, usable) and the policy when the timeline knows them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from ._validate import check_instance, check_int
from .timeline import STATUS_NAMES, Timeline

__all__ = ["plot_timeline"]

_OFF, _WARNING, _LOW = STATUS_NAMES.index("off"), STATUS_NAMES.index("warning"), STATUS_NAMES.index("low")
_PAGING = STATUS_NAMES.index("paging")

#: Event markers: action -> (marker, colour, legend text).
_MARKERS = {
    "start": ("^", "tab:green", "start"),
    "stop": ("v", "0.35", "stop"),
    "configure": ("D", "tab:blue", "reconfigure"),
    "restart": ("o", "tab:purple", "restart"),
    "failed": ("X", "red", "failed"),
}


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


def _time_unit(span_s: float) -> tuple[float, str]:
    """Seconds, minutes, hours or days, whichever suits a span of time."""
    if span_s <= 180:
        return 1.0, "time (s)"
    if span_s <= 3 * 3600:
        return 60.0, "time (min)"
    if span_s <= 4 * 86400:
        return 3600.0, "time (h)"
    return 86400.0, "time (days)"


def _memory_unit(peak_mb: float) -> tuple[float, str]:
    return (1024.0, "GB") if peak_mb >= 4096 else (1.0, "MB")


class _Axis:
    """The x positions of a timeline's steps: each row from the start of its
    tick, plus one edge where the last row's span ends. Over ``max_steps``
    rows, rows are taken together in bins of ``bin`` (`agg`), so that a
    step is wider than a pixel."""

    def __init__(self, tl: Timeline, max_steps: int = 1000) -> None:
        row_s = tl.dt_s * tl.record_every
        starts = tl.time_s - tl.dt_s
        self.bin = max(1, -(-tl.rows // max_steps))
        self.first = np.arange(0, tl.rows, self.bin)
        self.bin_s = row_s * self.bin
        if tl.rows:
            edges_s = np.append(starts[self.first], starts[-1] + row_s)
        else:
            edges_s = np.zeros(0)
        self.dates = tl.start_epoch_s is not None
        if self.dates:
            ms = np.rint((float(tl.start_epoch_s) + edges_s) * 1000.0).astype(np.int64)  # type: ignore[arg-type]
            self.x: Any = ms.astype("datetime64[ms]")
            self.scale, self.label = 1.0, "time (UTC)"
        else:
            span = float(edges_s[-1] - edges_s[0]) if tl.rows else 0.0
            self.scale, self.label = _time_unit(max(span, float(edges_s[-1]) if tl.rows else 0.0))
            self.x = edges_s / self.scale
        self.t0_s = float(edges_s[0]) if tl.rows else 0.0
        self.tl = tl

    def at(self, time_s: float) -> float:
        """The x of simulated time ``time_s`` as a float in the axis's units
        (matplotlib's date numbers on a date axis), for artists that take no
        units (markers on a blended transform, annotations)."""
        if self.dates:
            from matplotlib.dates import date2num

            ms = int(round((float(self.tl.start_epoch_s) + time_s) * 1000.0))  # type: ignore[arg-type]
            return float(date2num(np.datetime64(ms, "ms")))  # type: ignore[no-untyped-call]
        return time_s / self.scale

    def agg(self, y: npt.NDArray[Any], how: str = "mean") -> npt.NDArray[Any]:
        """``y`` (one value per row) per bin, its mean or its most (``"max"``),
        with the last value repeated for the final edge."""
        y = np.asarray(y, dtype=np.float64)
        if self.bin > 1 and len(y):
            if how == "max":
                y = np.maximum.reduceat(y, self.first)
            else:
                counts = np.diff(np.append(self.first, len(y)))
                y = np.add.reduceat(y, self.first) / counts
        return np.append(y, y[-1:]) if len(y) else y


def _groups(tl: Timeline, few: bool, top_k: int) -> list[tuple[str, list[int]]]:
    """The host panel's bands: each VM for a few VMs; else the ``top_k`` VMs
    with the most guest paging (ties: the most assigned memory), then
    "others"."""
    vms = len(tl.names)
    if few:
        return [(_vm_label(name), [j]) for j, name in enumerate(tl.names)]
    paging = tl.paging_mb.sum(axis=0, dtype=np.float64)
    assigned = tl.assigned_mb.sum(axis=0, dtype=np.float64)
    order = np.lexsort((np.arange(vms), -assigned, -paging))
    top = [int(j) for j in order[:top_k] if paging[j] > 0] or [int(j) for j in order[:top_k]]
    rest = sorted(set(range(vms)) - set(top))
    groups = [(_vm_label(tl.names[j]), [j]) for j in top]
    if rest:
        groups.append((f"others ({len(rest)} VMs)", rest))
    return groups


def _span(seconds: float) -> str:
    for unit, s in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * s:
            return f"{seconds / s:.3g} {unit}"
    return f"{seconds:g} s"


def _vm_label(name: str) -> str:
    """A VM's name in a legend (``VM 58`` for a bare number)."""
    return f"VM {name}" if name.isdigit() else name


def _subtitle(tl: Timeline) -> str | None:
    parts = []
    if tl.physical_mb is not None and tl.reserve_mb is not None:
        parts.append(f"host {tl.physical_mb / 1024:,.1f} GB − reserve {tl.reserve_mb / 1024:,.2f} GB = "
                     f"{(tl.physical_mb - tl.reserve_mb) / 1024:,.1f} GB for VMs")
    if tl.policy is not None:
        parts.append(f"policy: {tl.policy}")
    parts.append(f"{len(tl.names)} VMs")
    return " · ".join(parts)


def plot_timeline(
    timeline: Timeline,
    path: str | os.PathLike[str] | None = None,
    *,
    title: str | None = None,
    max_lines: int = 8,
    top_k: int = 5,
) -> Any:
    """Draws ``timeline`` (see the module docstring for the panels) and
    returns the matplotlib ``Figure``.

    Args:
        timeline: what `Host.run` recorded.
        path: where to save the figure as a PNG, or ``None``.
        title: the figure's first title line; the second names the host
            and policy when the timeline knows them.
        max_lines: up to this many VMs get a line each (the "per VM"
            panel and a band each); more are drawn as aggregate bands.
        top_k: with more than ``max_lines`` VMs, the VMs with the most
            guest paging that get a band of their own.
    """
    Figure, FigureCanvasAgg, Patch, colormaps = _import_matplotlib()
    tl = check_instance(timeline, "timeline", Timeline, "a dynmem.Timeline")
    check_int(max_lines, "max_lines", "a non-negative integer", low=0)
    check_int(top_k, "top_k", "a non-negative integer", low=0)

    vms = len(tl.names)
    few = vms <= max_lines
    ax_x = _Axis(tl)
    x = ax_x.x
    running = tl.status != _OFF
    assigned = tl.assigned_mb.astype(np.float64)
    demand = np.where(running, tl.demand_mb, 0).astype(np.float64)
    paging = tl.paging_mb.astype(np.float64)
    usable = tl.usable_mb
    if usable is None and tl.rows:
        usable = int((tl.available_mb + tl.assigned_mb.sum(axis=1)).max())
    usable_mb = float(usable or 0)
    peak = max([usable_mb, 1.0] + ([float(demand.sum(axis=1).max())] if tl.rows and vms else []))
    scale, unit = _memory_unit(peak)
    pscale, punit = _memory_unit(float(paging.sum(axis=1).max()) * 4 if tl.rows and vms else 0.0)
    # worth a panel: above 2 % of the usable memory in at least 5 % of the rows
    show_available = bool(tl.rows) and float((tl.available_mb > 0.02 * max(usable_mb, 1.0)).mean()) >= 0.05

    panels = (["per VM"] if few and vms else []) + ["host", "paging", "status"] + (["available"] if show_available else [])
    heights = {"per VM": 2.6, "host": 2.6, "paging": 1.4, "status": 0.9, "available": 0.9}
    fig = Figure(figsize=(11, 1.0 + 1.25 * sum(heights[p] for p in panels)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, gridspec_kw={"height_ratios": [heights[p] for p in panels]})
    axes = list(np.atleast_1d(axes))
    ax = dict(zip(panels, axes))
    for name, a in ax.items():
        a.set_label(name)
        a.grid(True, alpha=0.3)
    groups = _groups(tl, few, top_k)
    palette = colormaps["tab10"]
    colours = [palette(i % 10) for i in range(len(groups))]
    if groups and groups[-1][0].startswith("others"):
        colours[-1] = "0.75"
    legend = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": "small", "borderaxespad": 0}

    if "per VM" in ax:
        a = ax["per VM"]
        for j, name in enumerate(tl.names):
            c = colours[j]
            on = np.where(running[:, j], assigned[:, j], np.nan)
            a.step(x, ax_x.agg(on) / scale, where="post", color=c, lw=1.8, label=_vm_label(name))
            d = np.where(running[:, j], tl.demand_mb[:, j], np.nan).astype(np.float64)
            a.step(x, ax_x.agg(d) / scale, where="post", color=c, lw=1.1, ls="--")
        a.plot([], [], color="0.3", lw=1.8, label="assigned (solid)")
        a.plot([], [], color="0.3", lw=1.1, ls="--", label="demand (dashed)")
        a.set_ylabel(f"memory per VM ({unit})")
        a.set_ylim(bottom=0)
        a.legend(**legend)

    a = ax["host"]
    if tl.rows and groups:
        bands = np.array([assigned[:, idx].sum(axis=1) for _, idx in groups]) / scale
        bottom = np.zeros(tl.rows)
        for (name, _), band, c in zip(groups, bands, colours):
            top = bottom + band
            a.fill_between(x, ax_x.agg(bottom), ax_x.agg(top), step="post", color=c, alpha=0.85, lw=0,
                           label=f"{name}: assigned")
            bottom = top
        a.step(x, ax_x.agg(demand.sum(axis=1)) / scale, where="post", color="black", lw=1.3, ls="--",
               label="total demand")
    if usable:
        a.axhline(usable_mb / scale, color="red", lw=1.6, label="usable: physical − reserve")
    a.set_ylabel(f"host memory ({unit})")
    a.set_ylim(0, peak / scale * 1.08)
    a.legend(**legend)

    a = ax["paging"]
    if tl.rows and groups:
        bottom = np.zeros(tl.rows)
        for (name, idx), c in zip(groups, colours):
            top = bottom + paging[:, idx].sum(axis=1) / pscale
            a.fill_between(x, ax_x.agg(bottom), ax_x.agg(top), step="post", color=c, alpha=0.85, lw=0,
                           label=name)
            bottom = top
    a.set_ylabel(f"guest paging ({punit})")
    if paging.any():
        a.set_ylim(bottom=0)
    else:  # not an axis of 0 to 0.04
        a.set_ylim(0, 1)
        a.text(0.5, 0.45, "no guest paging: every running VM's demand was covered", transform=a.transAxes,
               ha="center", va="center", color="0.3")
    a.text(0.005, 0.96, "demand not covered by assigned memory (the guest pages)", transform=a.transAxes,
           fontsize="small", va="top", color="0.25")
    if tl.rows and groups:
        a.legend(**legend)

    a = ax["status"]
    if tl.rows:
        a.step(x, ax_x.agg((tl.status == _WARNING).sum(axis=1), "max"), where="post", color="red", lw=1.4,
               label="Warning (paging)")
        a.step(x, ax_x.agg((tl.status == _LOW).sum(axis=1), "max"), where="post", color="orange", lw=1.1,
               label="Low (buffer not met)")
        if (tl.status == _PAGING).any():  # only after a restart short of memory
            a.step(x, ax_x.agg((tl.status == _PAGING).sum(axis=1), "max"), where="post", color="tab:purple",
                   lw=1.1, label="Smart Paging (file in use)")
        a.legend(**legend)
    a.set_ylabel("VMs")
    a.set_ylim(bottom=0)
    a.yaxis.get_major_locator().set_params(integer=True)

    if "available" in ax:
        a = ax["available"]
        av = ax_x.agg(tl.available_mb.astype(np.float64)) / scale
        a.fill_between(x, av, step="post", color="tab:gray", alpha=0.35, lw=0)
        a.step(x, av, where="post", color="tab:gray", lw=1.2, label="Available Memory")
        a.set_ylabel(f"available ({unit})")
        a.set_ylim(bottom=0)
        a.legend(**legend)

    _mark_events(tl, ax_x, axes, axes[0], Patch)
    binned = "" if ax_x.bin == 1 else (f"; each step: the mean over {_span(ax_x.bin_s)} "
                                       f"({ax_x.bin} rows; VM counts: the most)")
    axes[-1].set_xlabel(ax_x.label + binned)
    if tl.rows:
        axes[-1].set_xlim(x[0], x[-1])
    sub = _subtitle(tl)
    fig.suptitle("\n".join(t for t in (title, sub) if t), fontsize="medium")
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


def _mark_events(tl: Timeline, ax_x: _Axis, axes: list[Any], first: Any, Patch: Any) -> None:
    """Markers along the top of ``first``; failed events also as red dotted
    lines across every panel. A few events get their VM's name."""
    if not tl.events or not tl.rows:
        return
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(first.transData, first.transAxes)
    kinds: dict[str, list[Any]] = {}
    names: dict[tuple[str, Any], list[str]] = {}
    for t, name, action, msg in tl.events:
        kind = "failed" if msg is not None else action
        xe = ax_x.at(tl.time_of_tick(t))
        kinds.setdefault(kind, []).append(xe)
        names.setdefault((kind, xe), []).append(name)
        if msg is not None:
            for a in axes:
                a.axvline(xe, color="red", ls=":", lw=1.0)
    if len(names) <= 8:  # a few: name the VMs beside their marker
        for (kind, xe), vm_names in names.items():
            text = ", ".join(vm_names) if len(vm_names) <= 3 else f"{len(vm_names)} VMs"
            first.annotate(text, (xe, 1.0), xycoords=trans, xytext=(4, -13), textcoords="offset points",
                           fontsize="x-small", color=_MARKERS[kind][1])
    handles, labels = list(first.get_legend_handles_labels()[0]), list(first.get_legend_handles_labels()[1])
    for kind, xs in kinds.items():
        marker, colour, text = _MARKERS[kind]
        (h,) = first.plot(xs, [1.0] * len(xs), transform=trans, ls="none", marker=marker, color=colour,
                          markersize=8, clip_on=False, zorder=5)
        handles.append(h)
        labels.append(f"{text} ({len(xs)})" if kind != "failed" else f"failed {len(xs)}x (dotted)")
    first.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)
