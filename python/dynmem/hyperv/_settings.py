"""VM settings from PowerShell: `read_vm_settings` (``Get-VM`` /
``Get-VMMemory`` through ``ConvertTo-Json`` or ``Export-Csv``) and `add_to`
(the VMs onto a `Host` in one ``add_vms`` call). The mapping is documented
in ``docs/hyperv.md``."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from .._host import MAX_MAXIMUM_MB, VM, Host
from ..policies import HyperVPolicy
from .._validate import check_instance, check_int
from ..errors import ConfigError, ConfigTypeError
from ._pdh import natural_key
from ._text import as_path, fail, position, read_text

__all__ = ["VmSettings", "VmSettingsFile", "read_vm_settings", "add_to"]

MIB = 1024 * 1024

#: PowerShell property -> the setting it gives (names compared case-insensitively).
_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("VMName", "Name"),
    "startup": ("Startup", "MemoryStartup"),
    "minimum": ("Minimum", "MemoryMinimum"),
    "maximum": ("Maximum", "MemoryMaximum"),
    "buffer": ("Buffer",),
    "priority": ("Priority",),
    "dynamic": ("DynamicMemoryEnabled",),
    "state": ("State",),
}
#: Hyper-V's defaults where an export lacks the property (Get-VM has no
#: Buffer or Priority; a Select-Object may drop State).
_DEFAULTS = {"buffer": 20, "priority": 50, "dynamic": True, "state": 2}
#: Microsoft.HyperV.PowerShell.VMState: the numbers ConvertTo-Json writes
#: and the names -EnumsAsStrings and Export-Csv write.
VM_STATES: dict[int, str] = {
    1: "Other", 2: "Running", 3: "Off", 4: "Stopping", 6: "Saved", 9: "Paused", 10: "Starting",
    11: "Reset", 32773: "Saving", 32776: "Pausing", 32777: "Resuming", 32779: "FastSaved",
    32780: "FastSaving", 32781: "ForceShutdown", 32782: "ForceReboot", 32783: "Hibernated",
    32784: "ComponentServicing", 32785: "RunningCritical", 32786: "OffCritical",
    32787: "StoppingCritical", 32788: "SavedCritical", 32789: "PausedCritical",
    32790: "StartingCritical", 32791: "ResetCritical", 32792: "SavingCritical",
    32793: "PausingCritical", 32794: "ResumingCritical", 32795: "FastSavedCritical",
    32796: "FastSavingCritical",
}
#: States whose VMs `add_to` starts: the guest is (or is becoming) up.
RUNNING_STATES = frozenset({"Running", "Starting", "RunningCritical", "StartingCritical"})


@dataclass(frozen=True)
class VmSettings:
    """One VM's memory settings as `Host.add_vm` takes them.

    Attributes:
        name: the VM's name (``VMName``).
        startup_mb: startup memory in MB (the export's bytes / 2**20).
        minimum_mb: minimum memory in MB.
        maximum_mb: maximum memory in MB.
        buffer_pct: memory buffer, % (``Buffer``).
        weight: memory weight 0-10000 (``Priority`` x 100).
        dynamic: dynamic memory on (``DynamicMemoryEnabled``).
        state: Hyper-V's state name (``State``: ``"Running"``, ``"Off"``, ...).
        line: the line of the file the VM's record starts on.
    """

    name: str
    startup_mb: int
    minimum_mb: int
    maximum_mb: int
    buffer_pct: int
    weight: int
    dynamic: bool
    state: str
    line: int

    @property
    def running(self) -> bool:
        """The VM was running (or starting) when exported: `add_to` starts it."""
        return self.state in RUNNING_STATES


@dataclass(frozen=True)
class VmSettingsFile:
    """What `read_vm_settings` read: the VMs in natural name order (as
    `read_counter_log` orders a log's VMs), the file, and a
    log of every default filled in or value repaired. Iterates over its
    `VmSettings`.

    Attributes:
        path: The file read.
        vms: Its VMs, in natural name order.
        repairs: Every default filled in or value repaired, in words.
    """

    path: str
    vms: list[VmSettings]
    repairs: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[VmSettings]:
        return iter(self.vms)

    def __len__(self) -> int:
        return len(self.vms)

    @overload
    def __getitem__(self, i: int) -> VmSettings: ...
    @overload
    def __getitem__(self, i: slice) -> list[VmSettings]: ...
    def __getitem__(self, i: int | slice) -> VmSettings | list[VmSettings]:
        return self.vms[i]

    @property
    def names(self) -> list[str]:
        """The VMs' names, in order."""
        return [v.name for v in self.vms]


@dataclass
class _Record:
    """One VM's raw properties and where each one is (line, column)."""

    values: dict[str, Any]  # lower-cased property -> value
    where: dict[str, tuple[int, int]]
    line: int
    column: int


def read_vm_settings(path: Any, *, balloon_unit_mb: int = HyperVPolicy.balloon_unit_mb) -> VmSettingsFile:
    """Reads VMs' memory settings from a PowerShell export.

    Accepted: ``Get-VM`` or ``Get-VMMemory`` (or any ``Select-Object`` of
    their properties) through ``ConvertTo-Json`` (one object or a list;
    enums as numbers, or as names with PowerShell 7's ``-EnumsAsStrings``)
    or ``Export-Csv`` (with or without Windows PowerShell's ``#TYPE`` line).
    UTF-8 or UTF-16 (Windows PowerShell's ``>``). Told apart by content.

    Mapping: ``VMName``/``Name`` -> name; ``Startup``/``MemoryStartup``,
    ``Minimum``/``MemoryMinimum``, ``Maximum``/``MemoryMaximum`` (bytes)
    -> MB; ``Buffer`` -> ``buffer_pct``; ``Priority`` (0-100) x 100 ->
    ``weight``; ``DynamicMemoryEnabled`` -> ``dynamic``; ``State`` ->
    `VmSettings.state` (`add_to` starts Running VMs). A missing ``Buffer``,
    ``Priority``, ``DynamicMemoryEnabled`` or ``State`` takes Hyper-V's
    default (20 %, 50, on, Running) and is logged in ``repairs``.

    Sizes that are not a whole number of ``balloon_unit_mb`` MB are
    rejected, not rounded: Hyper-V itself only accepts multiples of 2 MB,
    so such a value means an edited file or a size not in bytes. Every
    setting is checked by the same rules as `Host.add_vms` before anything
    is returned.

    Args:
        path: the ``.json`` or ``.csv`` file.
        balloon_unit_mb: sizes must be multiples of this many MB (the
            host's ``policy.balloon_unit_mb``).

    Returns:
        A `VmSettingsFile`: the VMs in natural name order (``vm2`` before
        ``vm10``, case-insensitive; `read_counter_log` orders a log's VMs
        the same way) and the repairs log.

    Raises:
        FileFormatError: the file is not such an export (truncated, binary,
            another delimiter, a missing property, a duplicate name, a size
            that is negative, absurd or not whole balloon units, a setting
            Hyper-V would refuse), naming ``file:line:column``.
    """
    p = as_path(path)
    unit = check_int(balloon_unit_mb, "balloon_unit_mb", "a positive integer", low=1)
    repairs: list[str] = []
    text = read_text(p, "settings file", repairs)
    stripped = text.lstrip()
    if not stripped:
        raise fail(p, 1, 1, "empty file: expected Get-VM/Get-VMMemory output as JSON (ConvertTo-Json) or CSV (Export-Csv)")
    records = _json_records(p, text) if stripped[0] in "[{" else _csv_records(p, text)
    if not records:
        raise fail(p, 1, 1, "no VMs in the file")
    vms = [_settings(p, r, unit, repairs) for r in records]
    _check_names(p, vms, records)
    _check_rules(p, vms, records)
    vms.sort(key=lambda v: natural_key(v.name))
    return VmSettingsFile(path=str(p), vms=vms, repairs=repairs)


# ---- JSON ------------------------------------------------------------------


def _json_records(p: Path, text: str) -> list[_Record]:
    dec = json.JSONDecoder()
    try:
        top, end = dec.raw_decode(text, len(text) - len(text.lstrip()))
    except json.JSONDecodeError as e:
        raise fail(p, e.lineno, e.colno, f"not valid JSON ({e.msg}): truncated or not a ConvertTo-Json export") from e
    rest = text[end:].strip()
    if rest:
        line, col = position(text, text.index(rest[0], end))
        raise fail(p, line, col, "text after the JSON value (two exports in one file?)")
    start = len(text) - len(text.lstrip())
    if isinstance(top, dict):
        spans = [(start, end)]
        items = [top]
    elif isinstance(top, list):
        items, spans = top, _element_spans(text, start, dec)
    else:
        raise fail(p, *position(text, start), "expected a JSON object or a list of objects (ConvertTo-Json of Get-VM)")
    out = []
    for item, (lo, hi) in zip(items, spans):
        line, col = position(text, lo)
        if not isinstance(item, dict):
            raise fail(p, line, col, f"expected a JSON object per VM, got {type(item).__name__} {item!r:.40}")
        where = {}
        for key in item:
            m = re.compile(r'"' + re.escape(key) + r'"\s*:').search(text, lo, hi)
            where[key.lower()] = position(text, m.start()) if m else (line, col)
        values = {k.lower(): v for k, v in item.items()}
        out.append(_Record(values, where, line, col))
    return out


def _element_spans(text: str, start: int, dec: json.JSONDecoder) -> list[tuple[int, int]]:
    """Start and end offsets of the elements of the JSON array at ``start``."""
    spans = []
    ws = re.compile(r"[\s,]*")
    i = ws.match(text, start + 1).end()  # type: ignore[union-attr]
    while i < len(text) and text[i] != "]":
        _, j = dec.raw_decode(text, i)
        spans.append((i, j))
        i = ws.match(text, j).end()  # type: ignore[union-attr]
    return spans


# ---- CSV -------------------------------------------------------------------


def _csv_records(p: Path, text: str) -> list[_Record]:
    lines = text.splitlines()
    first = 0
    if lines and lines[0].startswith("#TYPE"):
        first = 1
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first >= len(lines):
        raise fail(p, first, 1, "no header row after the #TYPE line")
    # each row with the line it starts on (a quoted value may span lines, as a VM's Notes can)
    reader = csv.reader(lines[first:])
    rows: list[list[str]] = []
    starts: list[int] = []
    consumed = 0
    for row in reader:
        starts.append(first + 1 + consumed)
        rows.append(row)
        consumed = reader.line_num
    header = [h.strip() for h in rows[0]]
    hline = first + 1
    if len(header) == 1 and any(d in header[0] for d in ";\t|"):
        d = next(d for d in ";\t|" if d in header[0])
        raise fail(p, hline, 1, f"fields are separated by {d!r}, not ',' (Export-Csv -UseCulture or -Delimiter?); "
                   "export with the default delimiter")
    known = {a.lower() for names in _ALIASES.values() for a in names}
    if not known & {h.lower() for h in header}:
        raise fail(p, hline, 1, f"the header names no Get-VM/Get-VMMemory property (expected e.g. VMName, Startup), "
                   f"got {','.join(header)[:80]!r}")
    seen: dict[str, int] = {}
    for c, h in enumerate(header, 1):
        if h.lower() in seen:
            raise fail(p, hline, c, f"column {h!r} appears twice (also column {seen[h.lower()]})")
        seen[h.lower()] = c
    out = []
    for k, row in zip(starts[1:], rows[1:]):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            col = min(len(row), len(header)) + 1
            raise fail(p, k, col, f"{len(row)} fields where the header has {len(header)} (a truncated line?)")
        values = {h.lower(): v for h, v in zip(header, row)}
        where = {h.lower(): (k, c) for c, h in enumerate(header, 1)}
        out.append(_Record(values, where, k, 1))
    return out


# ---- one VM ----------------------------------------------------------------


def _get(r: _Record, setting: str) -> tuple[str | None, Any]:
    for alias in _ALIASES[setting]:
        if alias.lower() in r.values:
            return alias, r.values[alias.lower()]
    return None, None


def _settings(p: Path, r: _Record, unit: int, repairs: list[str]) -> VmSettings:
    def at(prop: str) -> tuple[int, int]:
        return r.where.get(prop.lower(), (r.line, r.column))

    def need(setting: str) -> tuple[str, Any]:
        prop, value = _get(r, setting)
        if prop is None or value is None or value == "":
            names = " or ".join(_ALIASES[setting])
            raise fail(p, r.line, r.column, f"a VM without {names}" + ("" if prop is None else " (empty)"))
        return prop, value

    prop, raw_name = need("name")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise fail(p, *at(prop), f"{prop} must be a non-empty string, got {raw_name!r:.40}")
    name = raw_name

    def integer(prop: str, value: Any, what: str) -> int:
        v: Any = value
        if isinstance(v, str):
            try:
                v = int(v.strip())
            except ValueError:
                try:
                    v = float(v.strip())
                except ValueError:
                    raise fail(p, *at(prop), f"VM {name!r}: {prop} must be {what}, got {value!r:.40}") from None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2**62:  # beyond int64: no setting
            raise fail(p, *at(prop), f"VM {name!r}: {prop} must be {what}, got {value!r:.40}")
        return v

    def size(setting: str) -> int:
        prop, value = need(setting)
        b = integer(prop, value, "a size in bytes (a whole number)")
        if b < 0 or b > MAX_MAXIMUM_MB * MIB:
            raise fail(p, *at(prop), f"VM {name!r}: {prop} must be between 0 and {MAX_MAXIMUM_MB * MIB} bytes "
                       f"({MAX_MAXIMUM_MB} MB), got {b}")
        if b % (unit * MIB):
            hint = " (sizes are in bytes: this looks like MB)" if 0 < b <= MAX_MAXIMUM_MB and b % unit == 0 else ""
            raise fail(p, *at(prop), f"VM {name!r}: {prop} must be a whole number of {unit} MB units "
                       f"({unit * MIB} bytes), got {b}{hint}")
        return b // MIB

    def optional(setting: str) -> tuple[str, Any]:
        prop, value = _get(r, setting)
        if prop is None or value is None or value == "":
            repairs.append(f"{p.name}: VM {name!r} (line {r.line}) has no {'/'.join(_ALIASES[setting])}; "
                           f"Hyper-V's default {_DEFAULTS[setting]!r} used")
            return _ALIASES[setting][0], _DEFAULTS[setting]
        return prop, value

    startup, minimum, maximum = size("startup"), size("minimum"), size("maximum")
    bprop, bval = optional("buffer")
    buffer_pct = integer(bprop, bval, "a whole percentage (5-2000)")
    pprop, pval = optional("priority")
    priority = integer(pprop, pval, "a whole number 0-100")
    if not 0 <= priority <= 100:
        raise fail(p, *at(pprop), f"VM {name!r}: {pprop} must be between 0 and 100, got {priority}")
    dprop, dval = optional("dynamic")
    dynamic = _boolean(dval)
    if dynamic is None:
        raise fail(p, *at(dprop), f"VM {name!r}: {dprop} must be True or False, got {dval!r:.40}")
    sprop, sval = optional("state")
    state = _state(sval)
    if state is None:
        raise fail(p, *at(sprop), f"VM {name!r}: {sprop} must be a Hyper-V VM state (a number like 2, or a name "
                   f"like 'Running'), got {sval!r:.40}")
    return VmSettings(name, startup, minimum, maximum, buffer_pct, priority * 100, dynamic, state, r.line)


def _boolean(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def _state(v: Any) -> str | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        s = v.strip()
        if s.isdecimal():
            return VM_STATES.get(int(s))
        return next((n for n in VM_STATES.values() if n.lower() == s.lower()), None)
    if isinstance(v, int):
        return VM_STATES.get(v)
    return None


def _check_names(p: Path, vms: list[VmSettings], records: list[_Record]) -> None:
    seen: dict[str, int] = {}
    for vm, r in zip(vms, records):
        key = vm.name.lower()  # Hyper-V compares VM names case-insensitively
        if key in seen:
            prop, _ = _get(r, "name")
            raise fail(p, *r.where.get((prop or "").lower(), (r.line, r.column)),
                       f"VM name {vm.name!r} appears twice (first on line {seen[key]})")
        seen[key] = vm.line


_FIELDS = {"startup_mb": "startup", "minimum_mb": "minimum", "maximum_mb": "maximum",
           "buffer_pct": "buffer", "weight": "priority", "dynamic": "dynamic", "names": "name"}


def _check_rules(p: Path, vms: list[VmSettings], records: list[_Record]) -> None:
    """Hyper-V's rules on the settings (the core's, through a scratch host),
    errors moved to the file position of the entry at fault."""
    try:
        Host(physical_mb=1 << 20, reserve_mb=0).add_vms(**_columns(vms))
    except ConfigError as e:
        m = re.fullmatch(r"(\w+)\[(\d+)\]", e.field or "")
        if not m:
            raise fail(p, None, None, str(e)) from e
        k = int(m.group(2))
        r = records[k]
        prop, _ = _get(r, _FIELDS.get(m.group(1), "name"))
        line, col = r.where.get((prop or "").lower(), (r.line, r.column))
        message = str(e)
        for arg, setting in _FIELDS.items():
            alias = _get(r, setting)[0] or _ALIASES[setting][0]
            message = re.sub(rf"\b{arg}\[{k}\]|\b{arg}\b", alias, message)
        unit = " (sizes here in MB: the file's bytes / 2**20)" if m.group(1).endswith("_mb") else ""
        raise fail(p, line, col, f"VM {vms[k].name!r}: {message}{unit}") from e


def _columns(vms: Sequence[VmSettings]) -> dict[str, Any]:
    """`Host.add_vms`'s arguments for ``vms``."""
    return {
        "names": [v.name for v in vms],
        "startup_mb": np.array([v.startup_mb for v in vms], dtype=np.int64),
        "minimum_mb": np.array([v.minimum_mb for v in vms], dtype=np.int64),
        "maximum_mb": np.array([v.maximum_mb for v in vms], dtype=np.int64),
        "buffer_pct": np.array([v.buffer_pct for v in vms], dtype=np.int64),
        "weight": np.array([v.weight for v in vms], dtype=np.int64),
        "dynamic": np.array([v.dynamic for v in vms], dtype=np.bool_),
    }


def add_to(host: Host, vms: Any, *, order: Any = None, start: bool = True) -> list[VM]:
    """Adds ``vms`` to ``host`` in one `Host.add_vms` call (names, sizes,
    buffer, weight, dynamic), then starts, in one `Host.start_vms` call,
    those whose ``State`` was Running (with ``start=True``).

    Args:
        host: the host.
        vms: a `VmSettingsFile` or a list of `VmSettings`.
        order: ``None`` (the settings' order: by name) or the names (or a `Trace`,
            whose ``names`` are used) in the order the VMs must have on the
            host, e.g. a counter log's columns, so that
            ``host.run(log.demand_mb)`` lines up. Every name must have
            settings; VMs with settings but not in ``order`` are not added.
        start: start the VMs that were running (``False``: add them off).

    Returns:
        The new VMs' handles, in host order. A start that finds too little
        memory leaves that VM off (see `Host.start_vms`); check ``vm.state``.

    Raises:
        ConfigError: a name in ``order`` without settings, or a VM the host
            refuses (a duplicate name); nothing is added then.
    """
    check_instance(host, "host", Host, "a dynmem.Host")
    items = list(vms.vms if isinstance(vms, VmSettingsFile) else vms) if not isinstance(vms, (str, bytes)) else None
    if items is None or not all(isinstance(v, VmSettings) for v in items):
        raise ConfigTypeError(f"vms must be read_vm_settings' result or a list of VmSettings, got {vms!r:.80}", "vms", vms)
    if order is not None:
        names = getattr(order, "names", order)
        if isinstance(names, (str, bytes)) or not all(isinstance(n, str) for n in names):
            raise ConfigTypeError(f"order must be a list of VM names or a Trace, got {order!r:.80}", "order", order)
        by_name = {v.name.lower(): v for v in items}
        missing = [n for n in names if n.lower() not in by_name]
        if missing:
            raise ConfigError(f"order names VMs without settings: {', '.join(map(repr, missing[:5]))}"
                              + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""), "order", missing)
        items = [by_name[n.lower()] for n in names]
    handles = host.add_vms(**_columns(items))
    if start:
        running = [h for h, v in zip(handles, items) if v.running]
        if running:
            host.start_vms(running)
    return handles
