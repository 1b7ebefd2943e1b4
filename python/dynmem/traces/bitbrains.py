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

Parsing (per file; the same loader core reads Materna's files, see
`dynmem.traces.materna`)
    * Plain or gzip-compressed files (detected by content, not name), read
      by the Rust core's table parser, several files at once (one thread per
      CPU; the results and the repair log come in file order).
    * Line 1 is the header; fields are separated by ``;`` and surrounding
      white space (the files use ``";\\t"``) is ignored. Columns are found by
      header name, so their order does not matter. The ``Timestamp [ms]``
      column is **mislabelled: its values are Unix epoch seconds** and are read
      as such.
    * Sizes are KiB ("KB" in the header): ``MB = KB / 1024``.
    * Blank lines are ignored. Any other line that does not have one field per
      header field, whose timestamp, provisioned memory or usage is not a
      number, whose other fields do not start like a number (they are not
      converted: the loader does not use them), or whose timestamp is not a
      finite number between
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

import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ..errors import ConfigTypeError
from ._grid import Resample
from ._loader import KB_PER_MB, MAX_SIZE_KB, Format, load
from ._trace import DemandMapping, Trace

__all__ = ["SAMPLE_INTERVAL_S", "KB_PER_MB", "MAX_SIZE_KB", "BITBRAINS", "load_bitbrains", "load_as"]

SAMPLE_INTERVAL_S: float = 300.0
"""Nominal spacing of Bitbrains rows, in seconds."""
BITBRAINS = Format(
    name="Bitbrains GWA-T-12", delimiter=";", quote=None, decimal_comma=False, day_first_time=False,
    interval_s=SAMPLE_INTERVAL_S,
)
"""How Bitbrains writes its files: ``;`` then a TAB, plain numbers, epoch seconds."""

_DEFAULT_MAPPING = DemandMapping()


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
    progress: Callable[[int, int], None] | None = None,
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
        progress: called as ``progress(files_read, files)`` after each file
            is read (``dynmem replay``'s progress display), or ``None``.

    Returns:
        A :class:`Trace` with ``(ticks, vms)`` int64 ``demand_mb`` and
        ``provisioned_mb``.

    Raises:
        ConfigError: a bad argument, an unreadable or malformed file, no
            common time overlap, a window shorter than one tick, or a gap
            longer than ``max_gap_s`` (with ``on_long_gap="error"``).
    """
    return load(BITBRAINS, **locals())


def load_as(fmt: Format, path_or_dir: Any, **options: Any) -> Trace:
    """``load_bitbrains(path_or_dir, **options)`` for files in format
    ``fmt``: the same arguments, defaults and checks (how `load_materna`
    shares them)."""
    try:
        bound = inspect.signature(load_bitbrains).bind(path_or_dir, **options)
    except TypeError as e:
        raise ConfigTypeError(f"{e}; the arguments are load_bitbrains'", "options", sorted(options)) from None
    bound.apply_defaults()
    return load(fmt, **bound.arguments)
