"""`write_pdh_csv`: a `Timeline` as a PDH-CSV counter log, the format
perfmon, relog, typeperf and ``Export-Counter`` write and PAL and Excel read,
with Hyper-V's counter names (``docs/hyperv.md``)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _dynmem
from .._validate import check_instance, check_int, check_real
from ..errors import ConfigError, ConfigTypeError
from ..timeline import STATUS_NAMES, Timeline
from ._pdh import BALANCER_INSTANCE, BALANCER_OBJECT, VM_OBJECT
from ._text import as_path

__all__ = ["write_pdh_csv", "instance_names"]

_RESERVED = str.maketrans({"(": "[", ")": "]", "#": "_", "/": "_", "\\": "_"})


def instance_names(names: list[str]) -> list[str]:
    """PDH instance names for VM names: ``(`` ``)`` become ``[`` ``]``,
    ``#``, ``/`` and ``\\`` become ``_`` (characters PDH reserves), and a
    name already taken (case-insensitively) gets PDH's ``#1``, ``#2``, ..."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for name in names:
        base = name.translate(_RESERVED)
        key = base.lower()
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append(base if n == 0 else f"{base}#{n}")
    return out


def _floats(a: npt.NDArray[Any]) -> list[str]:
    """Shortest text that reads back as the same float, without exponents
    (``repr``, which has none between 1e-4 and 1e16; the rare others
    written positionally)."""
    out = [repr(x) for x in np.asarray(a, dtype=np.float64).tolist()]
    for i, text in enumerate(out):
        if text.endswith(".0"):
            out[i] = text[:-2]
        elif "e" in text or "n" in text:  # an exponent; inf and nan never occur (pressures are finite)
            out[i] = np.format_float_positional(float(text), unique=True, trim="-")
    return out


def _text(a: npt.NDArray[Any]) -> list[str]:
    return _floats(a) if np.asarray(a).dtype.kind == "f" else np.asarray(a).astype(np.int64).astype(str).tolist()


def write_pdh_csv(
    timeline: Timeline,
    path: Any,
    *,
    computer: str = "HOST",
    start_s: float = 0.0,
    bias_min: int = 0,
    timezone: str = "Coordinated Universal Time",
) -> None:
    """Writes ``timeline`` as a PDH-CSV counter log.

    Header ``"(PDH-CSV 4.0) (<timezone>)(<bias_min>)"``, then, for every VM,
    ``"\\\\<computer>\\Hyper-V Dynamic Memory VM(<VM>)\\<counter>"`` for each
    of Hyper-V's per-VM counters, then ``"\\\\<computer>\\Hyper-V Dynamic
    Memory Balancer(System Balancer)\\<counter>"`` for the host's. Every
    field is double-quoted, lines end in CRLF, a VM that is off has ``" "``
    (no instance) in that row. Row ``r`` is stamped, in local time
    ``MM/dd/yyyy HH:mm:ss.fff``, with the time of the demand sample tick
    ``tick[r]`` answered: ``start_s + tick[r] x dt_s`` (UTC) - bias, so a
    counter log replayed and written again keeps its times.

    Counters: a timeline recorded with ``Host.run(...,
    record_counters=True)`` has all ten per-VM and three host counters;
    otherwise the log has those the timeline holds (Physical Memory, Guest
    Visible Physical Memory, Current Pressure; Available Memory, Average
    Pressure). Values: MB and counts as integers, pressures as the shortest
    decimal that reads back as the same number, so that ``Physical Memory x
    Current Pressure / 100`` gives back every demand exactly.

    Args:
        timeline: what `Host.run` recorded.
        path: the file to write.
        computer: the computer name in the counter paths.
        start_s: Unix epoch seconds (UTC) of simulated time 0.
        bias_min: minutes, UTC = local time + bias (``480`` for Pacific
            Standard Time), -1440..1440.
        timezone: the time-zone name the header shows.

    Raises:
        ConfigError: a bad argument (nothing is written).
        OSError: the file cannot be written.
    """
    check_instance(timeline, "timeline", Timeline, "a dynmem.Timeline")
    for name, value in (("computer", computer), ("timezone", timezone)):
        if not isinstance(value, str):
            raise ConfigTypeError(f"{name} must be a string, got {value!r:.80}", name, value)
    if not computer or re.search(r'[\\"\x00-\x1f]', computer):
        raise ConfigError(f"computer must be a computer name (no backslash, quote or control character), got "
                          f"{computer!r:.80}", "computer", computer)
    if re.search(r'[()"\x00-\x1f]', timezone):
        raise ConfigError(f"timezone must be a name without parentheses or quotes, got {timezone!r:.80}",
                          "timezone", timezone)
    start = check_real(start_s, "start_s", "Unix epoch seconds between 0 and 2**37", low=0.0, high=2.0**37)
    bias = check_int(bias_min, "bias_min", "minutes between -1440 and 1440", low=-1440, high=1440)
    p = as_path(path)

    rows = timeline.rows  # written 1024 at a time
    local_ms = np.rint((start + timeline.tick.astype(np.float64) * timeline.dt_s - bias * 60) * 1000).astype(np.int64)
    iso = np.datetime_as_string(local_ms.astype("datetime64[ms]"), unit="ms")
    stamps = [f"{s[5:7]}/{s[8:10]}/{s[0:4]} {s[11:23]}" for s in iso.tolist()]

    vm_cols: dict[str, npt.NDArray[Any]]
    if timeline.counters is not None:
        vm_cols = dict(timeline.counters)
    else:
        vm_cols = {"Physical Memory": timeline.assigned_mb, "Guest Visible Physical Memory": timeline.visible_mb,
                   "Current Pressure": timeline.pressure}
    host_cols: dict[str, npt.NDArray[Any]] = (
        dict(timeline.host_counters) if timeline.host_counters is not None
        else {"Available Memory": timeline.available_mb, "Average Pressure": timeline.average_pressure}
    )
    order = [n for n in _dynmem.VM_COUNTER_NAMES if n in vm_cols]
    host_order = [n for n in _dynmem.HOST_COUNTER_NAMES if n in host_cols]

    header = [f"(PDH-CSV 4.0) ({timezone})({bias})"]
    columns: list[list[str]] = [stamps]
    off = timeline.status == STATUS_NAMES.index("off")
    for j, inst in enumerate(instance_names(list(timeline.names))):
        for name in order:
            header.append(f"\\\\{computer}\\{VM_OBJECT}({inst})\\{name}")
            cells = _text(vm_cols[name][:, j])
            for r in np.flatnonzero(off[:, j]).tolist():
                cells[r] = " "
            columns.append(cells)
    for name in host_order:
        header.append(f"\\\\{computer}\\{BALANCER_OBJECT}({BALANCER_INSTANCE})\\{name}")
        columns.append(_text(host_cols[name]))
    with p.open("w", encoding="utf-8", newline="") as f:
        f.write('"' + '","'.join(header) + '"\r\n')
        for lo in range(0, rows, 1024):
            f.write("".join('"' + '","'.join(row) + '"\r\n' for row in zip(*(c[lo : lo + 1024] for c in columns))))
