"""Write a `Timeline` as CSV (numpy only, vectorised) or Parquet (polars or
pyarrow, whichever is installed).

Both files hold the long table of `Timeline.columns`: one row per (recorded
tick, VM), in tick order and ``names`` order within a tick. A timeline
recorded with ``record_every = N`` (``dynmem replay --record-every N``) or
thinned with `Timeline.decimate` has a row every N ticks: the state after
that tick, not an average over the N ticks.

CSV columns: ``tick, time_s, [timestamp,] vm, demand_mb, assigned_mb,
visible_mb, target_mb, pressure, status, paging_mb, host_available_mb,
host_average_pressure``; ``timestamp`` (ISO 8601, UTC, the end of the tick)
only when the timeline has ``start_epoch_s`` (a replayed trace); pressures
with two decimals; ``status`` as Hyper-V's words (ok, low, warning, off).

The CSV is built from the arrays a block of rows at a time: every number is
turned into its decimal digits with numpy arithmetic and the bytes of each
line are gathered with one boolean mask, so no Python code runs per line
(the 30-day, 100-VM replay at 60 s, 4.3 M lines and ~0.3 GB, in a few
seconds; the row-by-row writer it replaced took ~40 s).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from .timeline import STATUS_NAMES, Timeline

__all__ = ["write_csv", "write_parquet", "CSV_COLUMNS"]

#: The CSV's columns (``timestamp`` only for a timeline with ``start_epoch_s``).
CSV_COLUMNS: tuple[str, ...] = (
    "tick", "time_s", "timestamp", "vm", "demand_mb", "assigned_mb", "visible_mb", "target_mb",
    "pressure", "status", "paging_mb", "host_available_mb", "host_average_pressure",
)

#: Lines per block written at a time: small enough for the block's bytes
#: (about 100 a line) to stay in the CPU's cache.
_BLOCK_LINES = 16_384

_POW10 = 10 ** np.arange(19, dtype=np.int64)


class _Block:
    """The lines of one block as a byte matrix (lines, width) and a mask of
    the bytes that belong to them: each field fills a slice of columns,
    numbers right-aligned and text left-aligned, and `bytes` gathers the
    masked bytes row by row (one numpy call for the block)."""

    def __init__(self, n: int, width: int) -> None:
        self._alloc(n, width)
        self.start(n, width)

    def _alloc(self, n: int, width: int) -> None:
        self._mat = np.empty((n, width), dtype=np.uint8)
        self._mask = np.empty((n, width), dtype=np.bool_)
        self.cols = np.arange(width)

    def start(self, n: int, width: int) -> _Block:
        """The next block, of ``n`` lines of at most ``width`` bytes, in the
        same memory when it fits (fresh memory for every block costs page
        faults: about a third of the time)."""
        if n > self._mat.shape[0] or width > self._mat.shape[1]:
            self._alloc(max(n, self._mat.shape[0]), max(width, self._mat.shape[1]))
        self.mat, self.mask = self._mat[:n, :width], self._mask[:n, :width]
        self.col = 0
        return self

    def ints(self, v: npt.NDArray[np.int64], lead: bytes = b"") -> None:
        """Non-negative integers in decimal, after ``lead`` (``b","``)."""
        a: Any = np.asarray(v).astype(np.uint32 if v.size and int(v.max()) < 2**32 else np.uint64, copy=False)
        w = int(np.searchsorted(_POW10, a.max(), side="right")) if a.size else 1
        digits = np.ones(a.shape, dtype=np.int8)
        for k in range(1, w):
            digits += a >= _POW10[k]
        w = max(w, 1)
        c = self.col + len(lead)
        for k in range(len(lead)):
            self.mat[:, self.col + k] = lead[k]
        dig = np.empty((w, a.shape[0]), dtype=np.uint8)  # one contiguous row per place
        for k in range(w - 1, -1, -1):
            q = a // 10
            dig[k] = a - q * 10
            a = q
        dig += 48
        self.mat[:, c : c + w] = dig.T
        np.greater_equal(self.cols[:w], (w - digits)[:, None], out=self.mask[:, c : c + w])
        self.mask[:, self.col : c] = True
        self.col = c + w

    def text(self, strings: list[bytes], index: npt.NDArray[np.intp] | None = None, *, each: int = 1) -> None:
        """``strings[index]`` on every line; without ``index``, each string
        on ``each`` consecutive lines (with ``each = 1``, the strings over
        and over)."""
        w = max((len(b) for b in strings), default=0) or 1
        tab = np.zeros((len(strings), w), dtype=np.uint8)
        for i, b in enumerate(strings):
            tab[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        lens = np.array([len(b) for b in strings], dtype=np.int64)
        n = self.mat.shape[0]
        if index is not None:
            tab, lens = tab[index], lens[index]
        elif each > 1:
            tab, lens = np.repeat(tab, each, axis=0), np.repeat(lens, each)
        else:
            tab, lens = np.tile(tab, (n // len(strings), 1)), np.tile(lens, n // len(strings))
        self.mat[:, self.col : self.col + w] = tab
        np.less(self.cols[:w], lens[:, None], out=self.mask[:, self.col : self.col + w])
        self.col += w

    def fixed2(self, x: npt.NDArray[np.float64], lead: bytes = b"") -> None:
        """Non-negative finite numbers with two decimals (``83.33``)."""
        hundredths = np.rint(np.asarray(x, dtype=np.float64) * 100.0).astype(np.int64)
        whole, frac = np.divmod(hundredths, 100)
        self.ints(whole, lead)
        self.mat[:, self.col] = ord(".")
        self.mat[:, self.col + 1] = frac // 10 + 48
        self.mat[:, self.col + 2] = frac % 10 + 48
        self.mask[:, self.col : self.col + 3] = True
        self.col += 3

    def bytes(self) -> bytes:
        c = self.col
        return self.mat[:, :c][self.mask[:, :c]].tobytes()


def _csv_text(value: str) -> bytes:
    if any(c in value for c in ',"\r\n'):
        value = '"' + value.replace('"', '""') + '"'
    return value.encode("utf-8")


def _iso(stamps: npt.NDArray[np.datetime64]) -> npt.NDArray[np.str_]:
    """ISO 8601 UTC times, in whole seconds unless a time needs its milliseconds."""
    whole = not (stamps.astype("datetime64[ms]").astype(np.int64) % 1000).any()
    return np.datetime_as_string(stamps, unit="s" if whole else "ms", timezone="UTC")


def _number(x: float) -> str:
    """A time in seconds: an integer when it is one, else Python's repr."""
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


def write_csv(
    timeline: Timeline,
    path: str | os.PathLike[str],
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Writes ``timeline`` as CSV (see the module docstring for the columns).

    ``progress(lines_done, lines)`` is called after each block of lines.
    """
    tl = timeline
    vms = len(tl.names)
    per_vm = [tl.demand_mb, tl.assigned_mb, tl.visible_mb, tl.target_mb]
    pressure = np.asarray(tl.pressure, dtype=np.float64)
    paging = tl.paging_mb
    if any((a < 0).any() for a in (*per_vm, paging)) or not (np.isfinite(pressure).all() and (pressure >= 0).all()):
        _write_csv_slowly(tl, path, progress)
        return
    stamps = tl.timestamps
    iso = None if stamps is None else _iso(stamps)
    header = [c for c in CSV_COLUMNS if c != "timestamp" or iso is not None]
    names = [_csv_text(n) for n in tl.names]
    status_words = [b"," + s.encode() for s in STATUS_NAMES]  # with their leading comma
    total = tl.rows * vms
    block_rows = max(1, _BLOCK_LINES // max(vms, 1))
    # a line's most bytes but the prefix's and suffix's: name, 5 numbers with
    # their commas, a pressure and a status
    width = max((len(n) for n in names), default=1) + 5 * 21 + 25 + max(map(len, status_words))
    block: _Block | None = None
    with open(path, "wb") as f:
        f.write((",".join(header) + "\n").encode())
        for lo in range(0, tl.rows, block_rows):
            hi = min(tl.rows, lo + block_rows)
            n = (hi - lo) * vms
            if n == 0:
                continue
            prefix = [
                f"{int(tl.tick[r])},{_number(float(tl.time_s[r]))},"
                + (f"{iso[r]}," if iso is not None else "")
                for r in range(lo, hi)
            ]
            suffix = [f",{int(tl.available_mb[r])},{float(tl.average_pressure[r]):.2f}\n".encode()
                      for r in range(lo, hi)]
            head = [p.encode() for p in prefix]
            need = width + max(map(len, head)) + max(map(len, suffix))
            block = b = _Block(n, need) if block is None else block.start(n, need)
            b.text(head, each=vms)
            b.text(names)
            for a in per_vm:
                b.ints(a[lo:hi].reshape(-1), b",")
            b.fixed2(pressure[lo:hi].reshape(-1), b",")
            b.text(status_words, tl.status[lo:hi].reshape(-1).astype(np.intp))
            b.ints(paging[lo:hi].reshape(-1), b",")
            b.text(suffix, each=vms)
            f.write(b.bytes())
            if progress is not None:
                progress(hi * vms, total)
    if progress is not None and total == 0:
        progress(0, 0)


def _write_csv_slowly(tl: Timeline, path: str | os.PathLike[str], progress: Callable[[int, int], None] | None) -> None:
    """The same file line by line (a timeline with negative or non-finite
    values, which `Host.run` never records)."""
    import csv

    cols = tl.columns()
    keys = [c for c in CSV_COLUMNS if c in cols]
    if "timestamp" in cols:
        cols["timestamp"] = _iso(cols["timestamp"])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(keys)
        total = len(cols["tick"])
        for i in range(total):
            line: list[Any] = []
            for k in keys:
                v = cols[k][i]
                if k == "time_s":
                    v = _number(float(v))
                elif k in ("pressure", "host_average_pressure"):
                    v = f"{float(v):.2f}"
                line.append(v)
            w.writerow(line)
        if progress is not None:
            progress(total, total)


def parquet_engine() -> str | None:
    """``"polars"`` or ``"pyarrow"``, whichever can write Parquet here (polars
    first); ``None`` if neither is installed."""
    import importlib.util

    for name in ("polars", "pyarrow"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def write_parquet(timeline: Timeline, path: str | os.PathLike[str]) -> None:
    """Writes ``timeline`` as Parquet, the columns of `Timeline.columns`
    (``timestamp`` a UTC timestamp). Needs polars or pyarrow:
    ``pip install 'dynmem[polars]'``."""
    engine = parquet_engine()
    if engine == "polars":
        timeline.to_polars().write_parquet(path)
        return
    if engine == "pyarrow":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = timeline.columns()
        arrays = {k: (pa.array(v, type=pa.timestamp("ms", tz="UTC")) if k == "timestamp" else pa.array(v))
                  for k, v in cols.items()}
        pq.write_table(pa.table(arrays), path)
        return
    raise ImportError("writing Parquet needs polars or pyarrow: pip install 'dynmem[polars]' (or pip install pyarrow)")
