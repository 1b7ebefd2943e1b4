"""The one loader core of the per-VM CSV trace formats (Bitbrains GWA-T-12,
Materna GWA-T-13): a `Format` says how a format writes its fields; the
files are parsed by the Rust core's table parser (``dynmem._dynmem.
parse_table``, the GIL released, files on every CPU), then checked,
repaired and logged, and put on one grid by `._grid.align`, the same way
for every format. The rules are in `dynmem.traces.bitbrains`' docstring."""

from __future__ import annotations

import gzip
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _dynmem
from .._validate import check_choice, check_instance, check_int, check_real, error, is_int
from ..errors import ConfigError, ConfigTypeError
from ._grid import LOG_LIMIT, Samples, align, fmt_s, line_ranges, order_rows
from ._trace import DemandMapping, Trace

__all__ = ["Format", "load", "read_vm", "list_files", "select", "vm_name", "natural_key", "KB_PER_MB", "MAX_SIZE_KB"]

KB_PER_MB: int = 1024
"""The traces' "KB" are KiB."""
#: Largest provisioned memory or usage a row may give, in KB: the
#: balancer's demand limit (``2**32 - 1`` MB), so every size is whole MB
#: in int64.
MAX_SIZE_KB: int = _dynmem.MAX_DEMAND_MB * KB_PER_MB
#: Largest timestamp magnitude, in seconds (every integer up to it is exact
#: in a float, and differences of timestamps stay finite).
_MAX_TIME_S: float = 2.0**53

TIME_COL = "Timestamp"  # header prefix: Bitbrains "Timestamp [ms]" (really seconds), Materna "Timestamp"
PROV_COL = "Memory capacity provisioned [KB]"
USAGE_COL = "Memory usage [KB]"


@dataclass(frozen=True)
class Format:
    """How a per-VM CSV trace format writes its files (the columns are the
    same: ``Timestamp``, ``Memory capacity provisioned [KB]``, ``Memory
    usage [KB]``, found by header name)."""

    name: str
    delimiter: str
    quote: str | None
    decimal_comma: bool
    #: Timestamps ``dd.MM.yyyy HH:mm:ss`` (UTC) besides epoch seconds.
    day_first_time: bool
    #: Nominal spacing of rows, s (gaps longer than 1.5 rows are logged).
    interval_s: float
    time_what: str = "epoch seconds"


def vm_name(path: Path) -> str:
    """A VM's name: its file name without ``.csv``/``.csv.gz``/``.gz``."""
    name = path.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key: digits as numbers (``"2"`` before ``"10"``)."""
    # isdecimal, not isdigit: "²" is a digit that int() refuses (and \d skips)
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", name))


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read trace file {path}: {exc}", field="path_or_dir", value=str(path)
        ) from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ConfigError(
                f"{path.name}: not a valid gzip file: {exc}", field="path_or_dir", value=str(path)
            ) from exc
    return raw


def _problems(
    body: bytes, problems: list[tuple[int, str, int]], lines: npt.NDArray[np.uint64], header: list[str], fmt: Format
) -> list[tuple[int, str]]:
    """The parser's bad rows as ``(line, why)``."""
    if not problems:
        return []
    text_lines = body.split(b"\n")
    bad = []
    for row, kind, k in problems:
        line = int(lines[row])
        if kind == "fields":
            bad.append((line, f"expected {len(header)} fields separated by {fmt.delimiter!r}, found {k}"))
        else:
            raw = text_lines[line - 2].split(fmt.delimiter.encode())[k] if line - 2 < len(text_lines) else b""
            field = raw.decode("utf-8", "replace").strip().strip(fmt.quote or "")
            bad.append((line, f"field {header[k]!r} is not a number: {field!r}"))
    return bad


def read_vm(
    path: Path,
    fmt: Format,
    *,
    zero_usage: str,
    on_malformed: str,
) -> tuple[Samples, list[str]]:
    """One VM's file as cleaned `Samples`, and its repairs."""
    repairs: list[str] = []
    label = path.name
    data = _read_bytes(path)
    nl = data.find(b"\n")
    first = data if nl < 0 else data[:nl]
    try:
        head = first.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{label}:1: the header is not UTF-8/ASCII text: {exc}", field="path_or_dir", value=str(path)
        ) from exc
    if not head:
        raise ConfigError(
            f"{label}:1: missing header line (expected the {fmt.name} header "
            f"'Timestamp ...; {PROV_COL}; {USAGE_COL}; ...')",
            field="path_or_dir",
            value=str(path),
        )
    quotes = fmt.quote or ""
    header = [h.strip().strip(quotes).strip() for h in head.split(fmt.delimiter)]
    ncols = len(header)
    try:
        c_time = next(i for i, h in enumerate(header) if h.startswith(TIME_COL))
        c_prov = header.index(PROV_COL)
        c_use = header.index(USAGE_COL)
    except (StopIteration, ValueError):
        raise ConfigError(
            f"{label}:1: header must name the columns 'Timestamp', {PROV_COL!r} and "
            f"{USAGE_COL!r} separated by {fmt.delimiter!r}, got {head[:200]!r}",
            field="path_or_dir",
            value=str(path),
        ) from None
    body = b"" if nl < 0 else data[nl + 1 :]
    values, lines, problems = _dynmem.parse_table(
        body, 2, ncols, [c_time, c_prov, c_use], fmt.delimiter, fmt.quote, fmt.decimal_comma, fmt.day_first_time
    )
    if lines.size == 0:
        raise ConfigError(
            f"{label}: no data rows after the header", field="path_or_dir", value=str(path)
        )
    bad = _problems(body, problems, lines, header, fmt)
    rows = lines
    t, prov_kb, use_kb = values[0], values[1], values[2]
    line_no = lines.astype(np.int64)

    structurally_bad = np.zeros(len(rows), dtype=bool)
    if bad:
        structurally_bad[np.searchsorted(line_no, [b[0] for b in bad])] = True
    for low, high, values, what in (
        (-_MAX_TIME_S, _MAX_TIME_S, t, f"timestamp ({fmt.time_what}) must be a finite number between -2**53 and 2**53"),
        (0, MAX_SIZE_KB, prov_kb, f"{PROV_COL!r} must be a finite number >= 0 and <= {MAX_SIZE_KB}"),
        (0, MAX_SIZE_KB, use_kb, f"{USAGE_COL!r} must be a finite number >= 0 and <= {MAX_SIZE_KB}"),
    ):
        valid = (values >= low) & (values <= high)  # NaN is never valid
        invalid = ~valid
        invalid &= ~structurally_bad
        for r in np.flatnonzero(invalid):
            bad.append((int(line_no[r]), f"{what}, got {values[r].item()!r}"))
            structurally_bad[r] = True
    if bad:
        bad.sort()
        if on_malformed == "error":
            num, why = bad[0]
            more = f" ({len(bad) - 1} more malformed lines)" if len(bad) > 1 else ""
            raise ConfigError(
                f"{label}:{num}: malformed line: {why}{more}; "
                "pass on_malformed='skip' to drop malformed lines",
                field="path_or_dir",
                value=f"{path}:{num}",
            )
        detail = "; ".join(f"line {n}: {why}" for n, why in bad[:LOG_LIMIT])
        if len(bad) > LOG_LIMIT:
            detail += f"; and {len(bad) - LOG_LIMIT} more"
        repairs.append(f"{label}: skipped {len(bad)} malformed line(s): {detail}")
        keep = ~structurally_bad
        t, prov_kb, use_kb, line_no = t[keep], prov_kb[keep], use_kb[keep], line_no[keep]
        if t.size == 0:
            raise ConfigError(
                f"{label}: no usable data rows (all {len(rows)} malformed)",
                field="path_or_dir",
                value=str(path),
            )

    t, (prov_kb, use_kb), line_no = order_rows(t, [prov_kb, use_kb], line_no, label, repairs)

    # Provisioned memory of 0: a missing reading, hold the previous one.
    zero_prov = prov_kb == 0
    if zero_prov.all():
        raise ConfigError(
            f"{label}: {PROV_COL!r} is 0 on every row; cannot tell the VM's size",
            field="path_or_dir",
            value=str(path),
        )
    if zero_prov.any():
        prov_kb = _fill_from_neighbours(prov_kb, ~zero_prov)
        repairs.append(
            f"{label}: {int(zero_prov.sum())} provisioned-memory reading(s) of 0 KB treated as "
            f"missing and replaced by the previous non-zero reading (the next one before the "
            f"first) ({line_ranges(line_no[zero_prov])})"
        )

    # Usage samples of 0.
    zero_use = use_kb == 0
    n_zero = int(zero_use.sum())
    if n_zero:
        if zero_usage == "keep":
            repairs.append(
                f"{label}: {n_zero} usage sample(s) of 0 KB kept as 0 (zero_usage='keep') "
                f"({line_ranges(line_no[zero_use])})"
            )
        elif zero_use.all():
            repairs.append(
                f"{label}: usage is 0 KB on every row; kept as 0 (nothing to hold)"
            )
        else:
            use_kb = _fill_from_neighbours(use_kb, ~zero_use)
            repairs.append(
                f"{label}: {n_zero} usage sample(s) of 0 KB treated as missing and replaced by "
                f"the previous non-zero sample (the next one before the first) "
                f"({line_ranges(line_no[zero_use])})"
            )

    prov_mb = prov_kb / KB_PER_MB
    use_mb = use_kb / KB_PER_MB

    changes = np.flatnonzero(prov_mb[1:] != prov_mb[:-1]) + 1
    if changes.size:
        repairs.append(
            f"{label}: provisioned memory changes {changes.size} time(s) "
            f"(from {prov_mb.min():.0f} to {prov_mb.max():.0f} MB, first at line "
            f"{line_no[changes[0]]}); carried per tick in provisioned_mb, not altered"
        )
    over = np.flatnonzero(use_mb > prov_mb)
    if over.size:
        repairs.append(
            f"{label}: {over.size} sample(s) with usage above provisioned memory "
            f"({line_ranges(line_no[over])}); kept (the demand mapping's cap_pct bounds demand)"
        )
    return Samples(vm_name(path), label, t, prov_mb, use_mb, line_no), repairs


def _fill_from_neighbours(
    values: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Replace invalid entries by the previous valid one (the first valid one
    for leading invalid entries). ``valid`` must have at least one True."""
    idx = np.where(valid, np.arange(values.size), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(valid)[0])
    return values[idx]



def list_files(path_or_dir: Any) -> list[Path]:
    if isinstance(path_or_dir, (str, os.PathLike)):
        p = Path(path_or_dir)
        if p.is_dir():
            files = [
                f
                for f in p.iterdir()
                if f.is_file() and (f.name.endswith(".csv") or f.name.endswith(".csv.gz"))
            ]
            if not files:
                raise ConfigError(
                    f"path_or_dir {str(p)!r} contains no .csv or .csv.gz files",
                    field="path_or_dir",
                    value=str(p),
                )
            return sorted(files, key=lambda f: natural_key(vm_name(f)))
        if not p.is_file():
            raise ConfigError(
                f"path_or_dir {str(p)!r} is neither a file nor a directory",
                field="path_or_dir",
                value=str(p),
            )
        return [p]
    if isinstance(path_or_dir, Iterable):
        files = []
        for item in path_or_dir:
            if not isinstance(item, (str, os.PathLike)) or not Path(item).is_file():
                raise ConfigError(
                    f"path_or_dir entries must be existing files, got {item!r}",
                    field="path_or_dir",
                    value=item,
                )
            files.append(Path(item))
        if not files:
            raise ConfigError("path_or_dir is an empty list", field="path_or_dir", value=[])
        return files
    raise ConfigTypeError(
        f"path_or_dir must be a path, a directory or a list of paths, got {path_or_dir!r}",
        field="path_or_dir",
        value=path_or_dir,
    )


def select(files: list[Path], vms: Any) -> list[Path]:
    names = [vm_name(f) for f in files]
    seen: dict[str, Path] = {}
    for n, f in zip(names, files):
        if n in seen:
            raise ConfigError(
                f"two files give the VM name {n!r}: {seen[n]} and {f}",
                field="path_or_dir",
                value=n,
            )
        seen[n] = f
    if vms is None:
        return files
    if is_int(vms):
        check_int(vms, "vms", "a positive count", low=1)
        if vms > len(files):
            raise ConfigError(
                f"vms asks for {vms} VMs but only {len(files)} trace files were found",
                field="vms",
                value=vms,
            )
        return files[: int(vms)]
    if isinstance(vms, (str, bytes)) or not isinstance(vms, Iterable):
        raise error("vms", vms, "None, a count or a list of VM ids", cls=ConfigTypeError)
    wanted = [str(v) for v in vms]
    if not wanted:
        raise ConfigError("vms must not be an empty list", field="vms", value=vms)
    picked: list[Path] = []
    for w in wanted:
        if w not in seen:
            raise ConfigError(
                f"vms: no trace file for VM id {w!r} (found {len(files)} files, e.g. "
                f"{', '.join(names[:5])})",
                field="vms",
                value=w,
            )
        if seen[w] in picked:
            raise ConfigError(f"vms lists VM id {w!r} twice", field="vms", value=w)
        picked.append(seen[w])
    return picked


def load(
    fmt: Format,
    path_or_dir: Any,
    *,
    tick_s: float,
    vms: Any,
    mapping: DemandMapping,
    start_s: float | None,
    end_s: float | None,
    resample: str,
    max_gap_s: float,
    on_long_gap: str,
    zero_usage: str,
    on_malformed: str,
    progress: Callable[[int, int], None] | None = None,
) -> Trace:
    """A format's files as a `Trace` (the arguments as `load_bitbrains` has them)."""
    check_real(tick_s, "tick_s", "a finite number > 0", low=0.0, low_inclusive=False)
    max_gap = check_real(
        max_gap_s,
        "max_gap_s",
        "a number of seconds > 0 (math.inf for no limit)",
        low=0.0,
        low_inclusive=False,
        finite=False,
    )
    check_instance(mapping, "mapping", DemandMapping, "a DemandMapping")
    method = check_choice(resample, "resample", ("hold", "mean", "max"))
    long_gap = check_choice(on_long_gap, "on_long_gap", ("error", "hold"))
    zero = check_choice(zero_usage, "zero_usage", ("hold", "keep"))
    malformed = check_choice(on_malformed, "on_malformed", ("error", "skip"))
    epoch_s = "epoch seconds (a finite number) or None"
    t_start = None if start_s is None else check_real(start_s, "start_s", epoch_s)
    t_end = None if end_s is None else check_real(end_s, "end_s", epoch_s)
    if t_start is not None and t_end is not None and t_end <= t_start:
        raise ConfigError(
            f"end_s must be after start_s ({fmt_s(t_start)}), got {fmt_s(t_end)}",
            field="end_s",
            value=end_s,
        )

    if progress is not None and not callable(progress):
        raise ConfigTypeError(f"progress must be a callable or None, got {progress!r:.80}", "progress", progress)
    files = select(list_files(path_or_dir), vms)
    read_one = partial(read_vm, fmt=fmt, zero_usage=zero, on_malformed=malformed)
    lock, count = threading.Lock(), [0]

    def read(f: Path) -> Any:
        r = read_one(f)
        if progress is not None:
            with lock:  # files finish in any order; the count is what was read
                count[0] += 1
                progress(count[0], len(files))
        return r

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if len(files) > 1 and cpus > 1:
        # gunzip and parse release the GIL; results (and the first error) come in file order
        with ThreadPoolExecutor(max_workers=min(cpus, 8)) as pool:
            done = list(pool.map(read, files))
    else:
        done = [read(f) for f in files]
    vm_data = [s for s, _ in done]
    repairs = [r for _, log in done for r in log]

    return align(
        vm_data,
        tick_s=tick_s,
        start_s=start_s,
        end_s=end_s,
        mapping=mapping,
        method=method,
        max_gap_s=max_gap,
        on_long_gap=long_gap,
        gap_log_s=1.5 * fmt.interval_s,
        repairs=repairs,
    )
