"""The Bitbrains GWA-T-12 trace format: `load_bitbrains` parses and repairs
its per-VM CSV files and puts them on one time grid (with `._grid`).

The GWA-T-12 Bitbrains trace (S. Shen, V. van Beek, A. Iosup, "Statistical
Characterization of Business-Critical Workloads Hosted in Cloud Datacenters",
CCGrid 2015; data by Bitbrains IT Services Inc.) has one CSV per VM::

    Timestamp [ms];\\tCPU cores;\\t...;\\tMemory capacity provisioned [KB];\\tMemory usage [KB];\\t...

:func:`load_bitbrains` turns one file, a directory of them or a list of files
into a :class:`Trace`: every VM on one common time grid of ``tick_s``
seconds, with ``demand_mb`` (what the balancer should see) and
``provisioned_mb`` (the VM's configured RAM) as ``(ticks, vms)`` int64 arrays
of whole MB, plus ``repairs``, a human-readable log of everything the loader
had to fix or wants you to know about the data.

What the loader assumes and does, in order
==========================================

Parsing (per file)
    * Plain or gzip-compressed files (detected by content, not name).
    * Line 1 is the header; fields are separated by ``;`` and surrounding
      white space (the files use ``";\\t"``) is ignored. Columns are found by
      header name, so their order does not matter. The ``Timestamp [ms]``
      column is **mislabelled: its values are Unix epoch seconds** and are read
      as such.
    * Sizes are KiB ("KB" in the header): ``MB = KB / 1024``.
    * Blank lines are ignored. Any other line that does not have one number per
      header field, or whose timestamp is not a finite number between
      ``-2**53`` and ``2**53`` (exact in a float), or whose provisioned
      memory or usage is not a finite number between 0 and
      ``MAX_SIZE_KB`` (the balancer's demand limit, ``2**32 - 1`` MB, in
      KB), is **malformed**: by default a
      :class:`~dynmem.ConfigError` is raised naming ``file:line`` and the
      problem; with ``on_malformed="skip"`` the line is dropped and logged.

Row repairs (per file, whole file, each logged with its line numbers)
    * **Out-of-order timestamps**: rows are stably sorted by time.
    * **Repeated timestamps**: of rows with the same timestamp only the one
      that comes last in the file is kept.
    * **Provisioned memory of 0** (a missing reading): replaced by the previous
      non-zero reading in time (by the next one before the first). A file whose
      provisioned memory is 0 throughout raises ``ConfigError``.
    * **Usage samples of 0**: 56 of the 100 Rnd VMs have some. In most they
      are single samples or short runs between ordinary values, often with
      unchanged CPU use - dropped measurements (a running guest never has
      zero memory in use). About a dozen VMs have 20-46 % zeros in runs of up
      to about 2.5 h with near-idle CPU (e.g. VM 58), which may instead be
      genuine idleness. With ``zero_usage="hold"`` (default) every
      0 is treated as missing and replaced by the previous non-zero sample in
      time (by the next one before the first), however long the run, which
      keeps committed-like demand through idle spells; with
      ``zero_usage="keep"`` it is kept, which maps to the mapping's floor
      (``baseline_mb + baseline_pct`` of provisioned). A file whose usage is 0
      throughout keeps its zeros.
    * **Provisioned memory changing mid-trace** is real and is *not* altered:
      it is carried per tick in ``Trace.provisioned_mb`` and noted in the log,
      as are samples whose usage exceeds their provisioned memory (transients
      while a VM is reconfigured; the default mapping caps demand at
      provisioned).

Time grid (all VMs together)
    * The window is ``[start_s, end_s]``; by default the common overlap of the
      selected VMs (latest first sample to earliest last sample).
    * ``ticks = floor((end_s - start_s) / tick_s)``; tick ``k`` stands for the
      interval ``[start_s + k*tick_s, start_s + (k+1)*tick_s)``, all inside
      the window.
    * Each VM's samples define a **piecewise-constant (sample-and-hold)
      signal**: at time ``t`` the value of the latest sample at or before
      ``t`` (each row is a 5-minute average; the trace does not say which 5
      minutes, so a row is taken to hold from its timestamp on).
      ``resample`` picks the per-tick value: ``"hold"`` (default) the signal
      at the tick's start - causal, never invents or blends values, the
      natural choice for ``tick_s <= 300``; ``"mean"`` its time-weighted mean
      over the tick;
      ``"max"`` its maximum over the tick (conservative for coarse ticks).
      The same rule is applied to provisioned memory.
    * **Gaps**: the hold bridges missing rows. Every gap between consecutive
      samples longer than ``1.5 * SAMPLE_INTERVAL_S`` (450 s, i.e. at least one
      missing row) that touches the window is logged. A gap longer than
      ``max_gap_s`` (default 7200 s; the real files have gaps of at most about
      66 minutes) raises ``ConfigError`` naming the file, lines and times,
      unless ``on_long_gap="hold"`` (hold across it and log). A window start
      before a VM's first sample, or a window end after its last, counts as a
      gap of that length (bridged by the first / last sample).

Demand (per sample, then per tick)
    * ``DemandMapping.apply`` maps each sample's usage and provisioned MB to a
      real-valued demand (see :class:`DemandMapping` for the formula and why
      its defaults are what they are).
    * Demand and provisioned memory are resampled as real numbers and only
      then rounded to whole MB with ``numpy.rint`` (nearest, ties to even). As
      rounding is monotone and the cap is applied before it, the default
      mapping (``cap_pct=100``) guarantees ``demand_mb <= provisioned_mb`` on
      every tick.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _dynmem
from .._validate import check_choice, check_instance, check_int, check_real, error, is_int
from ..errors import ConfigError, ConfigTypeError
from ._grid import LOG_LIMIT, Resample, Samples, align, fmt_s, line_ranges, order_rows
from ._trace import DemandMapping, Trace

__all__ = ["SAMPLE_INTERVAL_S", "KB_PER_MB", "load_bitbrains"]

#: Nominal spacing of Bitbrains rows, in seconds.
SAMPLE_INTERVAL_S: float = 300.0
#: The trace's "KB" are KiB.
KB_PER_MB: int = 1024
#: Largest provisioned memory or usage a row may give, in KB: the
#: balancer's demand limit (``2**32 - 1`` MB), so every size is whole MB
#: in int64.
MAX_SIZE_KB: int = _dynmem.MAX_DEMAND_MB * KB_PER_MB
#: Largest timestamp magnitude, in seconds (every integer up to it is exact
#: in a float, and differences of timestamps stay finite).
_MAX_TIME_S: float = 2.0**53
#: Gaps longer than this many seconds (at least one missing row) are logged.
_GAP_LOG_S: float = 1.5 * SAMPLE_INTERVAL_S

_TIME_COL = "Timestamp"  # header prefix: "Timestamp [ms]" (really seconds)
_PROV_COL = "Memory capacity provisioned [KB]"
_USAGE_COL = "Memory usage [KB]"

_DEFAULT_MAPPING = DemandMapping()


def _vm_name(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _natural_key(name: str) -> tuple[Any, ...]:
    # isdecimal, not isdigit: "²" is a digit that int() refuses (and \d skips)
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", name))


def _read_text(path: Path) -> str:
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
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path.name}: not a UTF-8/ASCII text file: {exc}", field="path_or_dir", value=str(path)
        ) from exc


def _parse_slow(
    rows: list[str], nums: list[int], ncols: int, header: list[str]
) -> tuple[npt.NDArray[np.float64], list[tuple[int, str]]]:
    """Line-by-line parse; returns the table (NaN rows for bad lines) and the
    structural problems found."""
    table = np.full((len(rows), ncols), np.nan)
    bad: list[tuple[int, str]] = []
    for r, (text, num) in enumerate(zip(rows, nums)):
        fields = text.split(";")
        if len(fields) != ncols:
            bad.append((num, f"expected {ncols} fields separated by ';', found {len(fields)}"))
            continue
        try:
            table[r] = [float(f) for f in fields]
        except ValueError:
            for c, f in enumerate(fields):
                try:
                    float(f)
                except ValueError:
                    bad.append((num, f"field {header[c]!r} is not a number: {f.strip()!r}"))
                    break
    return table, bad


def _read_vm(
    path: Path,
    *,
    zero_usage: str,
    on_malformed: str,
    repairs: list[str],
) -> Samples:
    label = path.name
    text = _read_text(path)
    all_lines = text.splitlines()
    if not all_lines or not all_lines[0].strip():
        raise ConfigError(
            f"{label}:1: missing header line (expected the Bitbrains header "
            f"'Timestamp [ms]; ...; {_PROV_COL}; {_USAGE_COL}; ...')",
            field="path_or_dir",
            value=str(path),
        )
    header = [h.strip() for h in all_lines[0].split(";")]
    ncols = len(header)
    try:
        c_time = next(i for i, h in enumerate(header) if h.startswith(_TIME_COL))
        c_prov = header.index(_PROV_COL)
        c_use = header.index(_USAGE_COL)
    except (StopIteration, ValueError):
        raise ConfigError(
            f"{label}:1: header must name the columns 'Timestamp [ms]', {_PROV_COL!r} and "
            f"{_USAGE_COL!r}, got {all_lines[0]!r}",
            field="path_or_dir",
            value=str(path),
        ) from None

    nums = [i for i, line in enumerate(all_lines[1:], start=2) if line.strip()]
    rows = [all_lines[i - 1] for i in nums]
    if not rows:
        raise ConfigError(
            f"{label}: no data rows after the header", field="path_or_dir", value=str(path)
        )

    bad: list[tuple[int, str]] = []
    try:
        table = np.loadtxt(rows, delimiter=";", dtype=np.float64, ndmin=2)
        if table.shape[1] != ncols:
            raise ValueError("column count differs from header")
    except ValueError:
        table, bad = _parse_slow(rows, nums, ncols, header)
    line_no = np.asarray(nums, dtype=np.int64)
    t = table[:, c_time]
    prov_kb = table[:, c_prov]
    use_kb = table[:, c_use]

    structurally_bad = np.zeros(len(rows), dtype=bool)
    if bad:
        structurally_bad[np.searchsorted(line_no, [b[0] for b in bad])] = True
    for low, high, values, what in (
        (-_MAX_TIME_S, _MAX_TIME_S, t, "timestamp (epoch seconds) must be a finite number between -2**53 and 2**53"),
        (0, MAX_SIZE_KB, prov_kb, f"{_PROV_COL!r} must be a finite number >= 0 and <= {MAX_SIZE_KB}"),
        (0, MAX_SIZE_KB, use_kb, f"{_USAGE_COL!r} must be a finite number >= 0 and <= {MAX_SIZE_KB}"),
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
            f"{label}: {_PROV_COL!r} is 0 on every row; cannot tell the VM's size",
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
    return Samples(_vm_name(path), label, t, prov_mb, use_mb, line_no)


def _fill_from_neighbours(
    values: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Replace invalid entries by the previous valid one (the first valid one
    for leading invalid entries). ``valid`` must have at least one True."""
    idx = np.where(valid, np.arange(values.size), -1)
    idx = np.maximum.accumulate(idx)
    idx[idx < 0] = int(np.flatnonzero(valid)[0])
    return values[idx]



def _list_files(path_or_dir: Any) -> list[Path]:
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
            return sorted(files, key=lambda f: _natural_key(_vm_name(f)))
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


def _select(files: list[Path], vms: Any) -> list[Path]:
    names = [_vm_name(f) for f in files]
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


def load_bitbrains(
    path_or_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    tick_s: float = 300.0,
    vms: int | Sequence[str | int] | None = None,
    mapping: DemandMapping = _DEFAULT_MAPPING,
    start_s: float | None = None,
    end_s: float | None = None,
    resample: Resample = "hold",
    max_gap_s: float = 7200.0,
    on_long_gap: Literal["error", "hold"] = "error",
    zero_usage: Literal["hold", "keep"] = "hold",
    on_malformed: Literal["error", "skip"] = "error",
) -> Trace:
    """Load Bitbrains GWA-T-12 per-VM CSV files onto one time grid.

    See the module docstring for every rule (parsing, repairs, grid, gaps,
    rounding); all of them are logged in ``Trace.repairs``.

    Args:
        path_or_dir: one ``.csv``/``.csv.gz`` file, a directory (all
            ``*.csv`` and ``*.csv.gz`` files in it, in natural name order, so
            ``"2"`` before ``"10"``), or a list of files (kept in order). A
            VM's name is its file name without ``.csv``/``.csv.gz``.
        tick_s: grid spacing in seconds, finite, ``> 0``.
        vms: ``None`` for all files; a positive count to take the first
            ``vms`` files (error if fewer exist); or a list of VM ids (names
            or integers, e.g. ``["109", 131]``) in the order wanted.
        mapping: how active usage becomes demand; see :class:`DemandMapping`.
        start_s: window start, Unix epoch seconds; default the latest first
            sample of the selected VMs.
        end_s: window end, Unix epoch seconds; default the earliest last
            sample of the selected VMs.
        resample: per-tick value of each VM's sample-and-hold signal:
            ``"hold"`` (at the tick's start), ``"mean"`` (time-weighted over
            the tick) or ``"max"`` (over the tick).
        max_gap_s: longest stretch without samples bridged silently-but-logged,
            seconds, ``> 0`` (``math.inf`` for no limit).
        on_long_gap: ``"error"`` (default) raises ``ConfigError`` on a longer
            gap; ``"hold"`` holds the last sample across it and logs it.
        zero_usage: ``"hold"`` (default) treats usage samples of 0 as missing
            and holds the previous non-zero sample; ``"keep"`` keeps them.
        on_malformed: ``"error"`` (default) raises ``ConfigError`` naming
            ``file:line``; ``"skip"`` drops malformed lines and logs them.

    Returns:
        A :class:`Trace` with ``(ticks, vms)`` int64 ``demand_mb`` and
        ``provisioned_mb``.

    Raises:
        ConfigError: a bad argument, an unreadable or malformed file, no
            common time overlap, a window shorter than one tick, or a gap
            longer than ``max_gap_s`` (with ``on_long_gap="error"``).
    """
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

    files = _select(_list_files(path_or_dir), vms)
    repairs: list[str] = []
    vm_data = [_read_vm(f, zero_usage=zero, on_malformed=malformed, repairs=repairs) for f in files]

    return align(
        vm_data,
        tick_s=tick_s,
        start_s=start_s,
        end_s=end_s,
        mapping=mapping,
        method=method,
        max_gap_s=max_gap,
        on_long_gap=long_gap,
        gap_log_s=_GAP_LOG_S,
        repairs=repairs,
    )
