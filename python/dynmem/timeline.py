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

STATUS_NAMES: tuple[str, ...] = ("ok", "low", "warning", "off", "paging", "", "spanning")
"""Memory status by code (`Timeline.status`, `Host.status_codes`): 0 "ok",
1 "low", 2 "warning", 3 "off", 4 "paging" (a Smart Paging file in use), 5 ""
(a static VM that is on: Hyper-V shows no status) (see `VM.status`)."""

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

    Attributes:
        names: VM names, one per column of the per-VM series.
        dt_s: Seconds per tick of the run.
        tick: ``(rows,)`` uint64: the tick (0-based) after which each row was recorded.
        time_s: ``(rows,)`` float64: simulated seconds at the end of that tick.
        demand_mb: ``(rows, vms)`` int64: each VM's demand (MB).
        assigned_mb: ``(rows, vms)`` int64: physical memory assigned (MB).
        visible_mb: ``(rows, vms)`` int64: guest-visible memory (MB).
        target_mb: ``(rows, vms)`` int64: the balancer's target (MB).
        pressure: ``(rows, vms)`` float64: current pressure (%), demand / assigned × 100.
        status: ``(rows, vms)`` uint8: memory status as codes into `STATUS_NAMES`
            (0 ok, 1 low, 2 warning, 3 off).
        available_mb: ``(rows,)`` int64: the host's Available Memory (MB),
            physical − reserve − Σ assigned.
        average_pressure: ``(rows,)`` float64: the host's Average Pressure (%),
            the mean current pressure of the running VMs.
        events: ``(tick, vm_name, action, error_message_or_None)`` for each
            scheduled event, in the order they ran.
        record_every: Ticks between recorded rows: each row stands for
            ``dt_s × record_every`` seconds.
        start_epoch_s: Unix epoch seconds of simulated time 0 (a replayed
            trace's start, set by ``Host.run(trace)``); ``None`` when the run
            has no real clock.
        physical_mb: The host's physical memory (MB), as `Host.run` found it.
        reserve_mb: The host's reserve (MB): physical − reserve is what VMs
            can be given.
        policy: The host's policy in words (``"Hyper-V defaults"``, or the
            policy and the fields that differ from its defaults).
        counters: Hyper-V's per-VM counters by name
            (`dynmem._dynmem.VM_COUNTER_NAMES`), each ``(rows, vms)``, where
            the run recorded them (``Host.run(..., record_counters=True)``);
            else ``None``.
        host_counters: Hyper-V's host counters by name
            (`dynmem._dynmem.HOST_COUNTER_NAMES`), each ``(rows,)``, where
            recorded; else ``None``.
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
    record_every: int = 1
    start_epoch_s: float | None = None
    physical_mb: int | None = None
    reserve_mb: int | None = None
    policy: str | None = None
    counters: dict[str, npt.NDArray[Any]] | None = None
    host_counters: dict[str, npt.NDArray[Any]] | None = None

    @property
    def rows(self) -> int:
        """Number of recorded rows (the first axis of every series)."""
        return int(self.tick.shape[0])

    @property
    def usable_mb(self) -> int | None:
        """Memory the VMs can share, physical − reserve (MB); ``None`` if unknown."""
        if self.physical_mb is None or self.reserve_mb is None:
            return None
        return self.physical_mb - self.reserve_mb

    @property
    def timestamps(self) -> npt.NDArray[np.datetime64] | None:
        """UTC time of each row (``start_epoch_s + time_s``, the end of the
        row's tick) as ``datetime64[ms]``; ``None`` without ``start_epoch_s``."""
        if self.start_epoch_s is None:
            return None
        ms = np.rint((self.start_epoch_s + self.time_s) * 1000.0).astype(np.int64)
        return ms.astype("datetime64[ms]")

    def time_of_tick(self, tick: int) -> float:
        """Simulated seconds at the *start* of ``tick`` (when an event of that
        tick ran): ``time_s`` of the row of tick ``t`` is the end of tick ``t``."""
        if not self.rows:
            return float(tick) * self.dt_s
        return float(self.time_s[0]) + (int(tick) - int(self.tick[0]) - 1) * self.dt_s

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
    def concat(parts: "Iterable[Timeline]", names: "list[str] | None" = None) -> "Timeline":
        """Joins timelines of consecutive runs of the same host.

        Names are those of every part, in order of first appearance (or
        ``names``, which must hold them all and may add VMs that are off in
        every row); a VM
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
        seen = list(dict.fromkeys(n for p in parts for n in p.names))
        if names is None:
            names = seen
        elif not set(seen) <= set(names) or len(set(names)) != len(names):
            raise error("names", names, "unique names including every part's")
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
        """A long DataFrame: one row per (recorded tick, VM), with the
        columns of `columns` (``timestamp`` a UTC datetime). Needs pandas."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Timeline.to_pandas needs pandas: pip install 'dynmem[pandas]'") from e
        cols = self.columns()
        if "timestamp" in cols:
            cols["timestamp"] = pd.to_datetime(cols["timestamp"], utc=True)
        return pd.DataFrame(cols)

    def to_polars(self) -> Any:
        """A long DataFrame: one row per (recorded tick, VM), with the
        columns of `columns` (``timestamp`` a UTC datetime). Needs polars."""
        try:
            import polars as pl
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Timeline.to_polars needs polars: pip install 'dynmem[polars]'") from e
        cols = self.columns()
        # text columns from their few distinct values (not 4 M Python strings)
        vm_codes = np.tile(np.arange(len(self.names), dtype=np.uint32), self.rows)
        texts = {
            "vm": pl.Series("vm", self.names, dtype=pl.String).gather(vm_codes),
            "status": pl.Series("status", STATUS_NAMES, dtype=pl.String).gather(self.status.reshape(-1)),
        }
        df = pl.DataFrame([texts[k] if k in texts else pl.Series(k, v) for k, v in cols.items()])
        if "timestamp" in cols:
            df = df.with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))
        return df

    def columns(self) -> dict[str, Any]:
        """The long table as numpy columns, one entry per (recorded tick, VM),
        rows in tick order and VMs in ``names`` order within a tick:
        ``tick``, ``time_s`` (simulated seconds at the end of the tick),
        ``timestamp`` (``datetime64[ms]``, UTC; only with ``start_epoch_s``),
        ``vm``, the per-VM series (``demand_mb``, ``assigned_mb``,
        ``visible_mb``, ``target_mb``, ``pressure`` in %, ``status`` as
        names), ``paging_mb`` and the host's series repeated on each of its
        VMs' rows: ``host_available_mb`` (Available Memory) and
        ``host_average_pressure`` (Average Pressure, %)."""
        rows, vms = self.rows, len(self.names)
        names = np.array(self.names, dtype=object)
        cols: dict[str, Any] = {"tick": np.repeat(self.tick, vms), "time_s": np.repeat(self.time_s, vms)}
        stamps = self.timestamps
        if stamps is not None:
            cols["timestamp"] = np.repeat(stamps, vms)
        cols["vm"] = np.tile(names, rows)
        for k in _PER_VM:
            cols[k] = getattr(self, k).reshape(-1)
        cols["status"] = np.array(STATUS_NAMES, dtype=object)[self.status.reshape(-1)]
        cols["paging_mb"] = self.paging_mb.reshape(-1)
        cols["host_available_mb"] = np.repeat(self.available_mb, vms)
        cols["host_average_pressure"] = np.repeat(self.average_pressure, vms)
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
