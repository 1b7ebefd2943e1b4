"""Puts per-VM samples on one time grid, whatever format they came from: the
window, the gaps, the per-tick value of each VM's sample-and-hold signal,
the demand mapping and the rounding to whole MB (the rules are spelled out
in `dynmem.traces.bitbrains`). A loader parses its format into `Samples`
and calls `align`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .. import _dynmem
from .._validate import MAX_TICKS, check_memory, rint_int64
from ..errors import ConfigError
from ._trace import DemandMapping, Trace

#: How a tick's value is taken from a VM's sample-and-hold signal.
Resample = Literal["hold", "mean", "max"]

#: Line ranges listed in one log entry before the rest is summarised.
LOG_LIMIT: int = 10


def line_ranges(lines: Sequence[int] | npt.NDArray[np.int64]) -> str:
    """``[3, 4, 5, 9]`` -> ``"lines 3-5, 9"``, listing at most LOG_LIMIT runs."""
    arr = np.asarray(lines, dtype=np.int64)
    if arr.size == 0:
        return "no lines"
    arr = np.sort(arr)
    breaks = np.flatnonzero(np.diff(arr) != 1) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [arr.size])) - 1
    parts = [
        f"{arr[s]}" if s == e else f"{arr[s]}-{arr[e]}"
        for s, e in zip(starts[:LOG_LIMIT], ends[:LOG_LIMIT])
    ]
    more = starts.size - LOG_LIMIT
    text = ("line " if arr.size == 1 else "lines ") + ", ".join(parts)
    if more > 0:
        text += f" and {more} more run{'s' if more > 1 else ''}"
    return text


def fmt_s(t: float) -> str:
    """Seconds for a message: whole numbers without a fraction (up to 2**53,
    so a huge or infinite time stays short)."""
    return f"{t:.0f}" if float(t).is_integer() and abs(t) <= 2**53 else f"{t:g}"


@dataclass
class Samples:
    """One VM's cleaned samples (sorted, unique times), as a loader hands them
    to `align`."""

    name: str
    label: str  # e.g. the file name, for messages
    times_s: npt.NDArray[np.float64]
    provisioned_mb: npt.NDArray[np.float64]
    usage_mb: npt.NDArray[np.float64]
    lines: npt.NDArray[np.int64]  # source line number of each sample


def order_rows(
    t: npt.NDArray[np.float64],
    columns: list[npt.NDArray[np.float64]],
    lines: npt.NDArray[np.int64],
    label: str,
    repairs: list[str],
) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.float64]], npt.NDArray[np.int64]]:
    """Rows in time order with unique times, each repair logged: rows
    earlier than a row above them are stably sorted into place; of rows with
    the same time only the one that comes last in the file is kept.
    Returns ``(t, columns, lines)`` of the rows kept (the inputs when
    nothing needed repair)."""
    if t.size > 1:
        running_max = np.maximum.accumulate(t)
        late = np.flatnonzero(t[1:] < running_max[:-1]) + 1
        if late.size:
            repairs.append(
                f"{label}: {late.size} row(s) with a timestamp earlier than a row above "
                f"them sorted into time order ({line_ranges(lines[late])})"
            )
            order = np.argsort(t, kind="stable")
            t, lines, columns = t[order], lines[order], [c[order] for c in columns]
        dup = np.flatnonzero(t[:-1] == t[1:])  # index i is superseded by i+1
        if dup.size:
            pairs = ", ".join(
                f"line {lines[i]} by line {lines[i + 1]} (t={fmt_s(t[i])})" for i in dup[:LOG_LIMIT]
            )
            if dup.size > LOG_LIMIT:
                pairs += f", and {dup.size - LOG_LIMIT} more"
            repairs.append(
                f"{label}: {dup.size} row(s) with a repeated timestamp dropped, keeping the "
                f"one that comes last in the file: {pairs}"
            )
            keep = np.ones(t.size, dtype=bool)
            keep[dup] = False
            t, lines, columns = t[keep], lines[keep], [c[keep] for c in columns]
    return t, columns, lines


def check_gaps(
    vm: Samples,
    start_s: float,
    grid_end_s: float,
    max_gap_s: float,
    on_long_gap: str,
    gap_log_s: float,
    repairs: list[str],
) -> None:
    """Check (and log) the stretches of ``[start_s, grid_end_s]`` the VM's
    samples leave uncovered: those longer than ``gap_log_s`` are logged,
    those longer than ``max_gap_s`` raise unless ``on_long_gap="hold"``."""
    t, lines, label = vm.times_s, vm.lines, vm.label

    def too_long(gap: float, where: str) -> None:
        if on_long_gap == "error":
            raise ConfigError(
                f"{label}:{where}: gap of {fmt_s(gap)} s exceeds max_gap_s={max_gap_s:g}; "
                "pass on_long_gap='hold' to hold the last value across it, raise max_gap_s, "
                "or choose start_s/end_s to avoid it",
                field="max_gap_s",
                value=max_gap_s,
            )

    def edge(gap: float, where: str, held: str) -> None:
        """A stretch at a window edge without samples, bridged as ``held`` says."""
        if gap > max_gap_s:
            too_long(gap, where)
        repairs.append(
            f"{label}: {held}" + (" (longer than max_gap_s, on_long_gap='hold')" if gap > max_gap_s else "")
        )

    if t[0] > start_s:
        gap = float(t[0] - start_s)
        edge(
            gap,
            f"{lines[0]}: no sample between start_s={fmt_s(start_s)} and t={fmt_s(t[0])}",
            f"window starts {fmt_s(gap)} s before the first sample (line {lines[0]}, "
            f"t={fmt_s(t[0])}); that sample is used from the window start",
        )

    if t.size > 1:
        d = np.diff(t)
        # pair (i, i+1) matters if the open interval (t[i], t[i+1]) meets the window
        touches = (t[1:] > start_s) & (t[:-1] < grid_end_s)
        logged = np.flatnonzero(touches & (d > gap_log_s))
        for i in logged:
            if d[i] > max_gap_s:
                too_long(
                    float(d[i]),
                    f"{lines[i]}-{lines[i + 1]}: between t={fmt_s(t[i])} and t={fmt_s(t[i + 1])}",
                )
        if logged.size:
            longest = float(d[logged].max())
            detail = ", ".join(
                f"lines {lines[i]}-{lines[i + 1]} ({fmt_s(d[i])} s)" for i in logged[:LOG_LIMIT]
            )
            if logged.size > LOG_LIMIT:
                detail += f", and {logged.size - LOG_LIMIT} more"
            n_long = int((d[logged] > max_gap_s).sum())
            repairs.append(
                f"{label}: held the last sample across {logged.size} gap(s) longer than "
                f"{gap_log_s:g} s (longest {fmt_s(longest)} s"
                + (f", {n_long} longer than max_gap_s, on_long_gap='hold'" if n_long else "")
                + f"): {detail}"
            )

    if t[-1] < grid_end_s:
        gap = float(grid_end_s - t[-1])
        if gap > gap_log_s or gap > max_gap_s:
            edge(
                gap,
                f"{lines[-1]}: no sample between t={fmt_s(t[-1])} and the window end {fmt_s(grid_end_s)}",
                f"window ends {fmt_s(gap)} s after the last sample (line {lines[-1]}, "
                f"t={fmt_s(t[-1])}); that sample is held to the end",
            )


def resample(
    times_s: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    start_s: float,
    tick_s: float,
    ticks: int,
    method: str,
) -> npt.NDArray[np.float64]:
    """Resample the sample-and-hold signal (``values[i]`` from ``times_s[i]``
    until the next sample) onto ``ticks`` ticks of ``tick_s`` from
    ``start_s``. Before the first sample the first value is used."""
    if times_s[0] > start_s:  # backfill (already checked and logged)
        times_s = np.concatenate(([start_s], times_s))
        values = np.concatenate((values[:1], values))
    starts = start_s + np.arange(ticks, dtype=np.float64) * tick_s
    at_start = values[np.searchsorted(times_s, starts, side="right") - 1]
    if method == "hold":
        return at_start
    if method == "max":
        out = at_start.copy()
        k = np.floor((times_s - start_s) / tick_s).astype(np.int64)
        inside = (k >= 0) & (k < ticks)
        np.maximum.at(out, k[inside], values[inside])
        return out
    # "mean": time-weighted mean via the running integral of the step signal,
    # computed relative to the first time for precision.
    rel = times_s - times_s[0]
    integral = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(rel))))
    edges = start_s + np.arange(ticks + 1, dtype=np.float64) * tick_s
    j = np.searchsorted(times_s, edges, side="right") - 1
    f: npt.NDArray[np.float64] = integral[j] + values[j] * ((edges - times_s[0]) - rel[j])
    mean: npt.NDArray[np.float64] = np.diff(f) / tick_s
    return mean


def align(
    vms: list[Samples],
    *,
    tick_s: float,
    start_s: float | None,
    end_s: float | None,
    mapping: DemandMapping,
    method: str,
    max_gap_s: float,
    on_long_gap: str,
    gap_log_s: float,
    repairs: list[str],
) -> Trace:
    """The VMs' samples on one grid of ``tick_s`` from ``start_s`` to
    ``end_s`` (default: the VMs' common overlap), as a `Trace`.

    Arguments are already checked (``start_s < end_s`` where both are
    given) and are the caller's own values, which errors name; gaps are
    checked and logged to ``repairs`` as `check_gaps` does.
    """
    tick = float(tick_s)
    t_start = None if start_s is None else float(start_s)
    t_end = None if end_s is None else float(end_s)
    if t_start is None:
        first = max(vms, key=lambda v: v.times_s[0])
        t_start = float(first.times_s[0])
    if t_end is None:
        last = min(vms, key=lambda v: v.times_s[-1])
        t_end = float(last.times_s[-1])
        if t_end <= t_start and start_s is None:
            raise ConfigError(
                f"the selected VMs have no common time overlap: the latest first sample is "
                f"t={fmt_s(t_start)} and {last.label} ends at t={fmt_s(t_end)}; "
                "choose start_s/end_s (and on_long_gap='hold') or other vms",
                field="vms",
                value=[v.name for v in vms],
            )
    if t_end <= t_start:
        raise ConfigError(
            f"end_s must be after start_s ({fmt_s(t_start)}), got {fmt_s(t_end)}",
            field="end_s" if end_s is not None else "start_s",
            value=end_s if end_s is not None else start_s,
        )
    span = (t_end - t_start) / tick  # inf for a tiny tick or a huge window
    if not span < MAX_TICKS:
        raise ConfigError(
            f"tick_s must give at most {MAX_TICKS} ticks over the window ({fmt_s(t_end - t_start)} s "
            f"from {fmt_s(t_start)} to {fmt_s(t_end)}), got {tick:g}",
            field="tick_s",
            value=tick_s,
        )
    ticks = int(math.floor(span + 1e-9))
    if ticks < 1:
        raise ConfigError(
            f"tick_s must be at most the window length ({fmt_s(t_end - t_start)} s from "
            f"{fmt_s(t_start)} to {fmt_s(t_end)}), got {tick:g}",
            field="tick_s",
            value=tick_s,
        )
    grid_end = t_start + ticks * tick
    # two int64 columns per VM, and about six float64 temporaries of one VM
    check_memory(ticks * 8 * (2 * len(vms) + 6), f"a grid of {ticks} ticks x {len(vms)} VMs")

    demand = np.empty((ticks, len(vms)), dtype=np.int64)
    provisioned = np.empty((ticks, len(vms)), dtype=np.int64)
    for c, vm in enumerate(vms):
        check_gaps(vm, t_start, grid_end, max_gap_s, on_long_gap, gap_log_s, repairs)
        with np.errstate(over="ignore", invalid="ignore"):  # a huge mapping: inf, NaN, refused below
            d = mapping.apply(vm.usage_mb, vm.provisioned_mb)
            d_tick = resample(vm.times_s, d, t_start, tick, ticks, method)
        p_tick = resample(vm.times_s, vm.provisioned_mb, t_start, tick, ticks, method)

        def bad_demand(r: int, v: float, label: str = vm.label) -> ConfigError:
            why = (
                "is not a number (the mapping overflows)" if math.isnan(v)
                else f"exceeds the balancer's limit of {_dynmem.MAX_DEMAND_MB} MB; set mapping.cap_pct"
            )
            return ConfigError(f"{label}: mapped demand {v:.0f} MB at tick {r} {why}", field="mapping", value=mapping)

        def bad_size(r: int, v: float, label: str = vm.label) -> ConfigError:
            return ConfigError(
                f"{label}: provisioned memory {v:.0f} MB at tick {r} must be between 0 and "
                f"{_dynmem.MAX_DEMAND_MB} MB",
                field="path_or_dir",
                value=label,
            )

        demand[:, c] = rint_int64(d_tick, 0, _dynmem.MAX_DEMAND_MB, bad_demand)
        provisioned[:, c] = rint_int64(p_tick, 0, _dynmem.MAX_DEMAND_MB, bad_size)

    return Trace(
        names=[vm.name for vm in vms],
        tick_s=tick,
        start_s=t_start,
        demand_mb=demand,
        provisioned_mb=provisioned,
        repairs=repairs,
        mapping=mapping,
    )
