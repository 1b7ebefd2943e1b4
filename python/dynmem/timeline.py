"""`Timeline`: what `Host.run` recorded, as numpy arrays, with summaries and
optional conversion to pandas or polars; `STATUS_NAMES`, the status codes.
`Event` and `ACTIONS` live in `dynmem.events` and are importable from here too."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ._validate import check_choice, check_instance, check_int, error
from .errors import ConfigError, ConfigTypeError
from .events import ACTIONS, Event

__all__ = ["Timeline", "Event", "STATUS_NAMES", "ACTIONS"]

#: Codes of `Timeline.status`: index → Hyper-V memory status.
STATUS_NAMES: tuple[str, ...] = ("ok", "low", "warning", "off")

_PER_VM = ("demand_mb", "assigned_mb", "visible_mb", "target_mb", "pressure", "status")


@dataclass(frozen=True)
class Timeline:
    """Per-tick series recorded by `Host.run` (rows = recorded ticks).

    Row ``r`` was recorded after tick ``tick[r]`` (0-based) ran, so
    ``time_s[r]`` is the simulated time at the *end* of that tick
    (``(tick[r] + 1) × dt_s`` for a run from a fresh host).
    Per-VM series have shape ``(rows, vms)`` in ``names`` order; ``status``
    holds codes into `STATUS_NAMES`. ``events`` lists ``(tick, vm_name,
    action, error_message_or_None)`` for every scheduled event in the order
    they ran, so a failed start is visible without having interrupted the run.
    """

    names: list[str]
    dt_s: float
    tick: npt.NDArray[np.uint64]
    time_s: npt.NDArray[np.float64]
    demand_mb: npt.NDArray[np.int64]
    assigned_mb: npt.NDArray[np.int64]
    visible_mb: npt.NDArray[np.int64]
    target_mb: npt.NDArray[np.int64]
    pressure: npt.NDArray[np.float64]
    status: npt.NDArray[np.uint8]
    available_mb: npt.NDArray[np.int64]
    average_pressure: npt.NDArray[np.float64]
    events: list[tuple[int, str, str, str | None]]
    #: Ticks between recorded rows: each row stands for ``dt_s × record_every`` seconds.
    record_every: int = 1
    #: Hyper-V's per-VM counters by name (`dynmem._dynmem.VM_COUNTER_NAMES`),
    #: each ``(rows, vms)``, where the run recorded them
    #: (``Host.run(..., record_counters=True)``); else ``None``.
    counters: dict[str, npt.NDArray[Any]] | None = None
    #: Hyper-V's host counters by name (`dynmem._dynmem.HOST_COUNTER_NAMES`),
    #: each ``(rows,)``, where recorded; else ``None``.
    host_counters: dict[str, npt.NDArray[Any]] | None = None

    @property
    def rows(self) -> int:
        return int(self.tick.shape[0])

    @property
    def paging_mb(self) -> npt.NDArray[np.int64]:
        """Guest paging per VM and row: max(0, demand − assigned) while running."""
        running = self.status != STATUS_NAMES.index("off")
        return np.where(running, np.maximum(self.demand_mb - self.assigned_mb, 0), 0)

    @property
    def failed_events(self) -> list[tuple[int, str, str, str]]:
        """The events that failed: ``(tick, vm_name, action, message)``."""
        return [(t, n, a, m) for t, n, a, m in self.events if m is not None]

    @staticmethod
    def concat(parts: "Iterable[Timeline]") -> "Timeline":
        """Joins timelines of consecutive runs of the same host.

        Names are those of every part, in order of first appearance; a VM
        missing from a part (added after it, or removed before it) is off,
        with zeros, in that part's rows. Every part must have the first
        part's ``dt_s`` and ``record_every`` (a row's length in time), unique
        names and arrays of its own rows and names (`ConfigError` naming
        ``parts[i]`` otherwise).
        """
        if isinstance(parts, (Timeline, str, bytes)) or not isinstance(parts, Iterable):
            got = f"one Timeline ({parts.rows} rows)" if isinstance(parts, Timeline) else None
            raise error("parts", parts, "a list of Timelines", got=got, cls=ConfigTypeError)
        parts = list(parts)
        if not parts:
            raise ConfigError("parts must hold at least one Timeline, got []", "parts", parts)
        for i, p in enumerate(parts):
            check_instance(p, f"parts[{i}]", Timeline, "a Timeline")
            p._check_joinable(f"parts[{i}]", parts[0])
        first = parts[0]
        names = list(dict.fromkeys(n for p in parts for n in p.names))
        arrays: dict[str, Any] = {
            k: np.concatenate([getattr(p, k) for p in parts]) for k in ("tick", "time_s", "available_mb", "average_pressure")
        }
        if all(p.names == names for p in parts):
            arrays.update({k: np.concatenate([getattr(p, k) for p in parts]) for k in _PER_VM})
        else:
            col = {n: j for j, n in enumerate(names)}
            rows = sum(p.rows for p in parts)
            off = STATUS_NAMES.index("off")
            for k in _PER_VM:
                out = np.full((rows, len(names)), off if k == "status" else 0, dtype=getattr(first, k).dtype)
                r = 0
                for p in parts:
                    out[r : r + p.rows, [col[n] for n in p.names]] = getattr(p, k)
                    r += p.rows
                arrays[k] = out
        arrays["names"] = names
        arrays["events"] = [e for p in parts for e in p.events]
        arrays.update(_concat_counters(parts, names))
        return replace(first, **arrays)

    def to_pdh_csv(self, path: Any, *, computer: str = "HOST", start_s: float = 0.0, bias_min: int = 0,
                   timezone: str = "Coordinated Universal Time") -> None:
        """Writes the timeline as a PDH-CSV counter log (perfmon, relog, PAL
        and Excel open it; `dynmem.hyperv.read_counter_log` reads it back to
        the same demand series). See `dynmem.hyperv.write_pdh_csv`.

        Args:
            path: the ``.csv`` file to write.
            computer: the computer name in the counter paths.
            start_s: Unix epoch seconds (UTC) of simulated time 0.
            bias_min: the time zone's bias, minutes (UTC = local + bias).
            timezone: the time-zone name in the header.
        """
        from .hyperv import write_pdh_csv

        write_pdh_csv(self, path, computer=computer, start_s=start_s, bias_min=bias_min, timezone=timezone)

    def _check_joinable(self, name: str, first: "Timeline") -> None:
        """Raises ConfigError naming ``name.attribute`` unless this timeline
        can follow ``first`` in `concat`."""
        for attr in ("dt_s", "record_every"):
            if getattr(self, attr) != getattr(first, attr):
                raise error(f"{name}.{attr}", getattr(self, attr), f"the first part's {attr} ({getattr(first, attr)!r})")
        if len(set(self.names)) != len(self.names):
            raise error(f"{name}.names", self.names, "unique names")
        shapes: dict[str, tuple[int, ...]] = {k: (self.rows,) for k in ("time_s", "available_mb", "average_pressure")}
        shapes.update({k: (self.rows, len(self.names)) for k in _PER_VM})
        for k, shape in shapes.items():
            got = np.shape(getattr(self, k))
            if got != shape:
                raise error(f"{name}.{k}", got, f"of shape {shape} (rows, names)")

    @staticmethod
    def _empty(dt_s: float, record_every: int) -> "Timeline":
        """No rows and no VMs."""
        mb = np.zeros((0, 0), dtype=np.int64)
        return Timeline(
            names=[],
            dt_s=dt_s,
            tick=np.zeros(0, dtype=np.uint64),
            time_s=np.zeros(0, dtype=np.float64),
            demand_mb=mb,
            assigned_mb=mb,
            visible_mb=mb,
            target_mb=mb,
            pressure=np.zeros((0, 0), dtype=np.float64),
            status=np.zeros((0, 0), dtype=np.uint8),
            available_mb=np.zeros(0, dtype=np.int64),
            average_pressure=np.zeros(0, dtype=np.float64),
            events=[],
            record_every=record_every,
        )

    def decimate(self, every: int) -> "Timeline":
        """Every ``every``-th recorded row (the first row is kept)."""
        n = check_int(every, "every", "a positive integer", low=1)
        sl = slice(None, None, n)
        arrays: dict[str, Any] = {k: getattr(self, k)[sl] for k in ("tick", "time_s", "available_mb", "average_pressure", *_PER_VM)}
        arrays["record_every"] = self.record_every * n
        for k in ("counters", "host_counters"):
            d = getattr(self, k)
            arrays[k] = None if d is None else {name: a[sl] for name, a in d.items()}
        return replace(self, **arrays)

    def status_seconds(self, status: str) -> npt.NDArray[np.float64]:
        """Seconds each VM spent in ``status``, counting each row as the time
        until the next row (``dt_s × record_every``)."""
        check_choice(status, "status", STATUS_NAMES, f"one of {STATUS_NAMES}")
        code = STATUS_NAMES.index(status)
        return np.asarray((self.status == code).sum(axis=0) * self._row_s(), dtype=np.float64)

    def paging_mb_h(self) -> npt.NDArray[np.float64]:
        """Guest paging per VM integrated over time, in MB·h."""
        return np.asarray(self.paging_mb.sum(axis=0) * self._row_s() / 3600.0, dtype=np.float64)

    def _row_s(self) -> float:
        return self.dt_s * self.record_every

    def to_pandas(self) -> Any:
        """A long DataFrame: one row per (recorded tick, VM). Needs pandas."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Timeline.to_pandas needs pandas: pip install 'dynmem[pandas]'") from e
        return pd.DataFrame(self._long())

    def to_polars(self) -> Any:
        """A long DataFrame: one row per (recorded tick, VM). Needs polars."""
        try:
            import polars as pl
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Timeline.to_polars needs polars: pip install 'dynmem[polars]'") from e
        return pl.DataFrame(self._long())

    def _long(self) -> dict[str, Any]:
        rows, vms = self.rows, len(self.names)
        names = np.array(self.names, dtype=object)
        cols: dict[str, Any] = {
            "tick": np.repeat(self.tick, vms),
            "time_s": np.repeat(self.time_s, vms),
            "vm": np.tile(names, rows),
        }
        for k in _PER_VM:
            cols[k] = getattr(self, k).reshape(-1)
        cols["status"] = np.array(STATUS_NAMES, dtype=object)[self.status.reshape(-1)]
        cols["paging_mb"] = self.paging_mb.reshape(-1)
        return cols


def _concat_counters(parts: list[Timeline], names: list[str]) -> dict[str, Any]:
    """`Timeline.concat`'s counters: joined where every part has them
    (a VM missing from a part: 0), else ``None``."""
    if any(p.counters is None or p.host_counters is None for p in parts):
        return {"counters": None, "host_counters": None}
    col = {n: j for j, n in enumerate(names)}
    counters: dict[str, Any] = {}
    for k in parts[0].counters or {}:
        rows = sum(p.rows for p in parts)
        out = np.zeros((rows, len(names)), dtype=(parts[0].counters or {})[k].dtype)
        r = 0
        for p in parts:
            out[r : r + p.rows, [col[n] for n in p.names]] = (p.counters or {})[k]
            r += p.rows
        counters[k] = out
    host = {k: np.concatenate([(p.host_counters or {})[k] for p in parts]) for k in parts[0].host_counters or {}}
    return {"counters": counters, "host_counters": host}
