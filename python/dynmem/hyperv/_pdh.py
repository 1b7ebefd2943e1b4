"""PDH-CSV, the counter-log format of perfmon, ``relog -f csv``, ``typeperf
-f CSV`` and ``Export-Counter -FileFormat csv``: `read_counter_log` (a log
-> a `CounterLog`, a `Trace` of demand per VM) and `write_pdh_csv` (a
`Timeline` -> a log, what `Timeline.to_pdh_csv` calls). The mapping is
documented in ``docs/hyperv.md``."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _dynmem
from .._validate import check_choice, check_real
from ..errors import ConfigError
from ..traces._grid import Samples, align, order_rows
from ..traces._trace import DemandMapping, Trace
from ._text import as_path, fail, read_text

__all__ = ["CounterLog", "read_counter_log", "VM_OBJECT", "BALANCER_OBJECT", "natural_key"]

#: The performance objects (English names; Windows translates them).
VM_OBJECT = "Hyper-V Dynamic Memory VM"
BALANCER_OBJECT = "Hyper-V Dynamic Memory Balancer"
BALANCER_INSTANCE = "System Balancer"
#: The per-VM counters the reader uses; every other column is ignored.
PHYSICAL, PRESSURE = "Physical Memory", "Current Pressure"
VISIBLE, GUEST_AVAILABLE = "Guest Visible Physical Memory", "Guest Available Memory"
AVAILABLE = "Available Memory"
#: Largest pressure a log may hold, % (demand 10,000 x assigned memory).
MAX_PRESSURE = 1e6
#: A log's times may span at most this many intervals per sample time
#: (gaps are held, but a grid of mostly held samples is a wrong time).
MAX_SPAN_PER_SAMPLE = 1000

_HEADER = re.compile(r"\(PDH-CSV 4\.0\) \((?P<tz>[^)]*)\)\((?P<bias>-?\d+)\)")
_TIME = re.compile(r"(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?")


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key: case-insensitive, digits as numbers (``vm2`` before ``vm10``)."""
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", name.lower()))


@dataclass
class CounterLog(Trace):
    """A counter log as a `Trace` (``demand_mb`` per VM per sample, on the
    log's own grid of ``tick_s``), plus what the log says of its hosts.

    Attributes:
        computers: the computers the log's VM counters come from, in order
            of first column.
        timezone: the header's time-zone name (``"Pacific Standard Time"``).
        bias_min: the header's bias, minutes: UTC = local time + bias.
        balancer_mb: per sample, the largest of (Σ Physical Memory + the
            balancer's Available Memory), summed over the computers: the
            memory Hyper-V was dividing, MB; ``None`` where the log has no
            "Available Memory" of the "System Balancer".
    """

    computers: list[str] | None = None
    timezone: str = ""
    bias_min: int = 0
    balancer_mb: int | None = None


@dataclass
class _Column:
    index: int  # 0-based field index
    computer: str
    obj: str
    instance: str | None
    counter: str


def _split_path(path: str) -> tuple[str, str, str | None, str] | None:
    r"""``\\COMPUTER\Object(Instance)\Counter`` -> its four parts."""
    if not path.startswith("\\\\"):
        return None
    body = path[2:]
    first, last = body.find("\\"), body.rfind("\\")
    if first <= 0 or last == first:
        return None
    computer, middle, counter = body[:first], body[first + 1 : last], body[last + 1 :]
    instance = None
    if middle.endswith(")") and "(" in middle:
        cut = middle.rindex("(")
        middle, instance = middle[:cut], middle[cut + 1 : -1]
    return computer, middle, instance, counter


def read_counter_log(
    path: Any,
    *,
    tick_s: float | None = None,
    demand_from: Literal["pressure", "available"] = "pressure",
    max_gap_s: float | None = None,
    on_long_gap: Literal["error", "hold"] = "hold",
) -> CounterLog:
    """Reads a PDH-CSV counter log of "Hyper-V Dynamic Memory VM" counters.

    Header: ``(PDH-CSV 4.0) (<time zone>)(<bias>)``, then one counter path
    per column (``\\\\COMPUTER\\Hyper-V Dynamic Memory VM(NAME)\\Physical
    Memory``; PDH's duplicate instances ``NAME#1`` are VMs of their own).
    Rows: local time ``MM/dd/yyyy HH:mm:ss.fff`` (UTC = local + bias), then
    the values, ``" "`` where missing. Several computers may share a log: a
    VM name found on two of them becomes ``COMPUTER\\NAME``. Columns of
    other objects or counters are ignored.

    Demand per sample: ``Physical Memory x Current Pressure / 100`` (the
    balancer's own input: pressure is demand over assigned memory), or,
    where that is missing, ``Guest Visible Physical Memory - Guest
    Available Memory`` if the log has both; ``demand_from="available"``
    makes the second win. ``provisioned_mb`` is Guest Visible Physical
    Memory (Physical Memory where the log lacks it). Missing samples are
    held from the previous one; out-of-order and repeated timestamps are
    sorted and dropped as the Bitbrains loader does; everything is logged
    in ``repairs``. VMs come in natural name order (``vm2`` before
    ``vm10``), as `read_vm_settings` returns them.

    Args:
        path: the ``.csv`` log.
        tick_s: grid spacing, s; default the log's median sample interval
            (to the millisecond).
        demand_from: ``"pressure"`` or ``"available"``: which source wins
            where a sample has both.
        max_gap_s: gaps longer than this raise (with ``on_long_gap="error"``)
            or are held and logged; default 10 ticks.
        on_long_gap: ``"hold"`` (default) or ``"error"``.

    Returns:
        A `CounterLog` (a `Trace`): ``demand_mb``, ``provisioned_mb``,
        ``tick_s``, ``start_s`` (UTC epoch s of the first sample), ``names``.

    Raises:
        FileFormatError: not such a log (truncated, binary, another
            delimiter, no Hyper-V counter or translated counter names, a
            counter twice, a bad time, a value that is not a number or is
            negative or absurd), naming ``file:line:column``.
    """
    p = as_path(path)
    source = check_choice(demand_from, "demand_from", ("pressure", "available"))
    gap_rule = check_choice(on_long_gap, "on_long_gap", ("error", "hold"))
    if tick_s is not None:
        check_real(tick_s, "tick_s", "a number of seconds > 0", low=0.0, low_inclusive=False)
    if max_gap_s is not None:
        check_real(max_gap_s, "max_gap_s", "a number of seconds > 0", low=0.0, low_inclusive=False, finite=False)
    repairs: list[str] = []
    text = read_text(p, "counter log", repairs)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise fail(p, 1, 1, "empty file: expected a PDH-CSV counter log")
    header = next(csv.reader([lines[first]]))
    hline = first + 1
    tz, bias, cols, balancer = _header(p, hline, header, repairs)
    body = [(k, line) for k, line in enumerate(lines[first + 1 :], hline + 1) if line.strip()]
    if not body:
        raise fail(p, hline + 1, 1, "no samples after the header")
    rows = list(csv.reader([line for _, line in body]))
    if len(rows) != len(body):  # a quote left open joined lines: PDH-CSV has no line breaks in values
        k = next((k for k, line in body if line.count('"') % 2), body[0][0])
        raise fail(p, k, 1, "a quoted field is not closed on its line (a truncated or damaged line?)")
    nums = np.array([k for k, _ in body], dtype=np.int64)
    width = len(header)
    for (k, _), row in zip(body, rows):
        if len(row) != width:
            raise fail(p, k, min(len(row), width) + 1,
                       f"{len(row)} fields where the header has {width} (a truncated line?)")
    columns = list(zip(*rows))  # one tuple of cells per column
    t = _times(p, list(columns[0]), nums) + bias * 60.0
    tick, start, t = _grid(p, t, tick_s, nums, repairs)

    def values(c: int, low: float, high: float, unit: str) -> npt.NDArray[np.float64]:
        name = header[c].rsplit("\\", 1)[-1]
        where = f"{name} of {header[c][2:].split(chr(92), 1)[1].rsplit(chr(92), 1)[0]}"
        return _values(p, columns[c], nums, c + 1, low, high, f"{where} ({unit})", unit)

    # Per VM: its columns by counter.
    vms: dict[tuple[str, str], dict[str, int]] = {}
    for col in cols:
        vms.setdefault((col.computer.lower(), col.instance or ""), {})[col.counter] = col.index
    computers = list(dict.fromkeys(c.computer for c in cols))
    display = {(c.computer.lower(), c.instance or ""): (c.computer, c.instance or "") for c in cols}
    counts: dict[str, int] = {}
    for _, inst in display.values():
        counts[inst.lower()] = counts.get(inst.lower(), 0) + 1
    names = {key: (inst if counts[inst.lower()] == 1 else f"{comp}\\{inst}") for key, (comp, inst) in display.items()}

    samples: list[Samples] = []
    from_pressure = from_available = 0
    for key in sorted(vms, key=lambda k: natural_key(names[k])):
        c = vms[key]
        label = f"{p.name}: VM {names[key]!r}"
        phys = values(c[PHYSICAL], 0, _dynmem.MAX_DEMAND_MB, "MB") if PHYSICAL in c else None
        press = values(c[PRESSURE], 0, MAX_PRESSURE, "%") if PRESSURE in c else None
        vis = values(c[VISIBLE], 0, _dynmem.MAX_DEMAND_MB, "MB") if VISIBLE in c else None
        avail = values(c[GUEST_AVAILABLE], 0, _dynmem.MAX_DEMAND_MB, "MB") if GUEST_AVAILABLE in c else None
        nan = np.full(len(rows), np.nan)
        by_pressure = phys * press / 100.0 if phys is not None and press is not None else nan
        by_available = np.maximum(vis - avail, 0.0) if vis is not None and avail is not None else nan
        first_src, second_src = (by_pressure, by_available) if source == "pressure" else (by_available, by_pressure)
        demand = np.where(np.isnan(first_src), second_src, first_src)
        n_p = int((~np.isnan(by_pressure) & ~np.isnan(demand) & ((demand == by_pressure) | np.isnan(by_available))).sum())
        from_pressure += n_p
        from_available += int((~np.isnan(demand)).sum()) - n_p
        prov = vis if vis is not None else phys if phys is not None else nan
        prov = np.where(np.isnan(prov), phys if phys is not None else nan, prov)
        ok = ~np.isnan(demand)
        if not ok.any():
            repairs.append(f"{label}: no sample gives its demand (Physical Memory and Current Pressure, or Guest "
                           f"Visible Physical Memory and Guest Available Memory); left out")
            continue
        missing = int((~ok).sum())
        if missing:
            repairs.append(f"{label}: {missing} sample(s) without demand held from the previous sample")
        prov_ok = ~np.isnan(prov[ok])
        prov_v = prov[ok]
        if not prov_ok.all():
            fill = np.where(prov_ok, np.arange(prov_v.size), -1)
            fill = np.maximum.accumulate(fill)
            fill[fill < 0] = int(np.flatnonzero(prov_ok)[0]) if prov_ok.any() else 0
            prov_v = prov_v[fill] if prov_ok.any() else demand[ok]
        tt, (dd, pp), ll = order_rows(t[ok], [demand[ok], prov_v], nums[ok], label, repairs)
        samples.append(Samples(names[key], label, tt, pp, dd, ll))
    if not samples:
        raise fail(p, hline, 2, "no VM column with a demand: the log needs Physical Memory and Current Pressure "
                   f"(or Guest Visible Physical Memory and Guest Available Memory) of {VM_OBJECT!r}")
    if from_available and from_pressure:
        repairs.append(f"{p.name}: demand of {from_pressure} sample(s) from Physical Memory x Current Pressure, "
                       f"{from_available} from Guest Visible Physical Memory - Guest Available Memory")
    elif from_available:
        repairs.append(f"{p.name}: demand from Guest Visible Physical Memory - Guest Available Memory")

    end = float(max(s.times_s[-1] for s in samples)) + tick
    trace = align(
        samples,
        tick_s=tick,
        start_s=start,
        end_s=end,
        mapping=DemandMapping.identity(),
        method="hold",
        max_gap_s=10 * tick if max_gap_s is None else float(max_gap_s),
        on_long_gap=gap_rule,
        gap_log_s=1.5 * tick,
        repairs=repairs,
    )
    total = _balancer_mb(p, balancer, cols, rows, nums, values)
    return CounterLog(
        names=trace.names, tick_s=trace.tick_s, start_s=trace.start_s, demand_mb=trace.demand_mb,
        provisioned_mb=trace.provisioned_mb, repairs=trace.repairs, mapping=trace.mapping,
        computers=computers, timezone=tz, bias_min=bias, balancer_mb=total,
    )


def _header(
    p: Path, hline: int, header: list[str], repairs: list[str]
) -> tuple[str, int, list[_Column], list[_Column]]:
    """The time zone, bias, per-VM columns used and balancer columns."""
    if len(header) == 1 and any(d in header[0] for d in ";\t"):
        d = next(d for d in ";\t" if d in header[0])
        raise fail(p, hline, 1, f"fields are separated by {d!r}, not ',': PDH-CSV is comma-separated "
                   "(re-saved by a spreadsheet in another locale? export again with relog -f csv)")
    m = _HEADER.fullmatch(header[0].strip())
    if not m:
        raise fail(p, hline, 1, f"the first header cell must be '(PDH-CSV 4.0) (<time zone>)(<bias>)', "
                   f"got {header[0][:60]!r}: not a perfmon/relog/typeperf CSV log")
    seen: dict[str, int] = {}
    used: list[_Column] = []
    balancer: list[_Column] = []
    objects: set[str] = set()
    ignored = 0
    for c, cell in enumerate(header[1:], 2):
        parts = _split_path(cell)
        if parts is None:
            raise fail(p, hline, c, f"not a counter path (\\\\COMPUTER\\Object(Instance)\\Counter): {cell[:80]!r}")
        key = cell.lower()
        if key in seen:
            raise fail(p, hline, c, f"counter {cell!r} appears twice (also column {seen[key]}): "
                       "two VMs of the same name on one computer? PDH names the second NAME#1")
        seen[key] = c
        computer, obj, instance, counter = parts
        objects.add(obj)
        col = _Column(c - 1, computer, obj, instance, counter)
        if obj == VM_OBJECT and instance and counter in (PHYSICAL, PRESSURE, VISIBLE, GUEST_AVAILABLE):
            used.append(col)
        elif obj == BALANCER_OBJECT and counter == AVAILABLE:
            balancer.append(col)
        else:
            ignored += 1
    if not used:
        hyperv = sorted(o for o in objects if "hyper-v" in o.lower() and o not in (VM_OBJECT, BALANCER_OBJECT))
        if hyperv and VM_OBJECT not in objects:
            raise fail(p, hline, 2, f"no {VM_OBJECT!r} counters, but Hyper-V objects named {hyperv[0]!r}: counter "
                       "names look translated (a non-English Windows); dynmem reads the English names: log on an "
                       "English host, or relog with the English counter paths")
        raise fail(p, hline, 2, f"the header has no {VM_OBJECT!r} counter (Physical Memory, Current Pressure, ...): "
                   "not a Hyper-V Dynamic Memory log")
    if ignored:
        repairs.append(f"{p.name}: {ignored} column(s) of other counters ignored")
    instances = sorted({c.instance for c in used if c.instance and re.search(r"#\d+$", c.instance)})
    if instances:
        repairs.append(f"{p.name}: PDH duplicate instance(s) {', '.join(instances[:5])} read as VMs of their own")
    return m.group("tz"), int(m.group("bias")), used, balancer


def _grid(
    p: Path, t: npt.NDArray[np.float64], tick_s: float | None, nums: npt.NDArray[np.int64], repairs: list[str]
) -> tuple[float, float, npt.NDArray[np.float64]]:
    """The grid's tick and start, and the sample times snapped onto it
    (perfmon's times jitter by milliseconds around the interval)."""
    u = np.unique(t)
    if tick_s is None:
        if u.size < 2:
            raise fail(p, int(nums[0]), 1, "one sample time only: pass tick_s to say how long a sample lasts")
        median = float(np.median(np.diff(u)))
        # perfmon's and typeperf's intervals are whole seconds; the times jitter by milliseconds
        tick = float(round(median)) if median >= 1 else round(median, 3)
        if tick <= 0:
            raise fail(p, int(nums[0]), 1, "samples less than 1 ms apart: pass tick_s")
    else:
        tick = float(tick_s)
    start = float(u[0])
    span = (float(u[-1]) - start) / tick
    if span > MAX_SPAN_PER_SAMPLE * max(u.size, 10):
        # a time far from the others (a typo'd year) would make a grid of mostly held samples
        i = int(np.argmax(np.diff(u)))  # the widest gap; the far times are on its smaller side
        far = float(u[i] if i + 1 < u.size - (i + 1) else u[i + 1])
        k = int(nums[int(np.flatnonzero(t == far)[0])])
        raise fail(p, k, 1, f"the samples' times span {span:.0f} intervals of {tick:g} s for {u.size} sample times; "
                   "this line's time is far from the others' (pass tick_s if the interval is wrong)")
    snapped = start + np.round((t - start) / tick) * tick
    moved = np.abs(snapped - t)
    if (moved > 1e-6).any():
        repairs.append(f"{p.name}: {int((moved > 1e-6).sum())} sample time(s) moved onto the {tick:g} s grid "
                       f"(by up to {moved.max() * 1000:.0f} ms)")
    return tick, start, snapped


def _times(p: Path, cells: list[str], nums: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Local times as epoch seconds (as if UTC)."""
    iso = []
    for k, cell in enumerate(cells):
        m = _TIME.fullmatch(cell.strip())
        if not m:
            raise fail(p, int(nums[k]), 1, f"the time must be 'MM/dd/yyyy HH:mm:ss.fff', got {cell[:40]!r}")
        mo, d, y, hh, mi, ss, ms = m.groups()
        iso.append(f"{y}-{mo}-{d}T{hh}:{mi}:{ss}.{(ms or '0').ljust(3, '0')}")
    try:
        stamps = np.array(iso, dtype="datetime64[ms]")
    except ValueError:
        for k, s in enumerate(iso):
            try:
                np.datetime64(s, "ms")
            except ValueError:
                raise fail(p, int(nums[k]), 1, f"not a calendar time: {cells[k]!r}") from None
        raise  # pragma: no cover
    return stamps.astype(np.int64).astype(np.float64) / 1000.0


def _values(
    p: Path, cells: tuple[str, ...], nums: npt.NDArray[np.int64], column: int, low: float, high: float, what: str,
    unit: str,
) -> npt.NDArray[np.float64]:
    """One column as floats, NaN where missing (``" "`` or empty)."""
    blank = np.fromiter((not c.strip() for c in cells), dtype=np.bool_, count=len(cells))
    try:
        if blank.any():
            out = np.array(["nan" if b else c for c, b in zip(cells, blank.tolist())], dtype=np.float64)
        else:
            out = np.array(cells, dtype=np.float64)
        if np.isnan(out[~blank]).any():  # "nan" written in the file is no number here
            raise ValueError
    except ValueError:
        values = []
        for i, (c, b) in enumerate(zip(cells, blank.tolist())):
            try:
                values.append(np.nan if b else float(c))
            except ValueError:
                raise fail(p, int(nums[i]), column, f"{what} must be a number or ' ', got {c[:40]!r}") from None
        out = np.array(values, dtype=np.float64)
    bad = ~blank & ~((out >= low) & (out <= high))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise fail(p, int(nums[k]), column, f"{what} must be between {low:.0f} and {high:.0f} {unit}, "
                   f"got {cells[k][:40]!r}")
    return out


def _balancer_mb(p: Path, balancer: list[_Column], cols: list[_Column], rows: list[list[str]],
                 nums: npt.NDArray[np.int64], values: Any) -> int | None:
    """The memory the balancers divided (see `CounterLog.balancer_mb`)."""
    per = {c.computer.lower(): c for c in balancer if (c.instance or "") == BALANCER_INSTANCE} or {
        c.computer.lower(): c for c in balancer
    }
    if not per:
        return None
    total = np.zeros(len(rows))
    for comp, bcol in per.items():
        avail = values(bcol.index, -float(_dynmem.MAX_DEMAND_MB), _dynmem.MAX_DEMAND_MB, "MB")
        phys = [values(c.index, 0, _dynmem.MAX_DEMAND_MB, "MB") for c in cols
                if c.computer.lower() == comp and c.counter == PHYSICAL]
        s = np.nansum(phys, axis=0) if phys else np.zeros(len(rows))
        total += np.where(np.isnan(avail), np.nan, s + np.maximum(avail, 0))
    ok = ~np.isnan(total)
    return int(math.ceil(float(total[ok].max()))) if ok.any() else None

