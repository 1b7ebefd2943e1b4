"""`compare`: one workload under several allocation policies, side by side.

>>> import dynmem
>>> result = dynmem.compare("python/dynmem/scenarios/reference.toml")   # doctest: +SKIP
>>> print(result)                     # the table          # doctest: +SKIP
>>> result.to_pandas()                # one row per policy # doctest: +SKIP

Every policy runs the identical workload (the same host, VMs, demand matrix
and events) on a fresh host, one `Host.run` per policy, the policies in
parallel threads (`Host.run` releases the GIL). The command line is
``dynmem compare SCENARIO.toml | TRACE_DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import numpy.typing as npt

from ._host import Host
from ._validate import check_int
from ._workload import Workload, scenario_workload, trace_workload
from .errors import ConfigError, ConfigTypeError, DynmemError
from .policies import POLICIES, policy_named
from .scenario import Scenario, load_scenario
from .timeline import STATUS_NAMES, Timeline

__all__ = ["compare", "Comparison", "PolicyResult", "DEFAULT_POLICIES", "plot_comparison", "jain_index"]

DEFAULT_POLICIES: tuple[str, ...] = tuple(POLICIES)
"""What `compare` runs unless told otherwise: every built-in policy."""
BASELINE = "static"
"""The baseline of "memory saved": `StaticPolicy` (no Dynamic Memory)."""


@dataclass(frozen=True)
class PolicyResult:
    """One policy's run of the workload (one row of a `Comparison`).

    Times are integrated over the recorded rows, each standing for
    ``dt_s × record_every`` seconds (every tick by default: exact).
    """

    policy: str
    """The policy's name (``"hyperv"``, ``"static"``, ... or yours)."""
    paging_gb_h: float
    """Guest paging, Σ over VMs of max(0, demand − assigned) while running, integrated over time (GB·h)."""
    warning_vm_h: float
    """Time VMs spent in memory status Warning, summed over VMs (VM·h)."""
    low_vm_h: float
    """Time VMs spent in memory status Low, summed over VMs (VM·h)."""
    mean_assigned_mb: float
    """Memory assigned to all VMs together, averaged over the run (MB)."""
    peak_assigned_mb: int
    """The most memory assigned to all VMs together at any recorded tick (MB)."""
    saved_mb: float
    """``StaticPolicy``'s mean assigned memory minus this policy's (MB; negative: uses more)."""
    saved_pct: float
    """``saved_mb`` as a percentage of ``StaticPolicy``'s mean assigned memory (%)."""
    failed_starts: int
    """Scheduled starts that failed (not enough memory) during the run."""
    add_operations: int
    """Σ over VMs of the counter *Memory Add Operations* at the end of the run."""
    remove_operations: int
    """Σ over VMs of the counter *Memory Remove Operations* at the end of the run."""
    fairness: float
    """Jain's fairness index over the VMs' *Average Pressure* counters (VMs
    that ran): (Σx)² / (n·Σx²), from 1/n (one VM bears all pressure) to 1 (equal)."""


_HEADINGS: dict[str, tuple[str, str]] = {
    "policy": ("policy", ""),
    "paging_gb_h": ("paging", "GB·h"),
    "warning_vm_h": ("Warning", "VM·h"),
    "low_vm_h": ("Low", "VM·h"),
    "mean_assigned_mb": ("mean assigned", "GB"),
    "peak_assigned_mb": ("peak assigned", "GB"),
    "saved_mb": ("saved vs static", "GB"),
    "saved_pct": ("saved", "%"),
    "failed_starts": ("failed", "starts"),
    "add_operations": ("add", "ops"),
    "remove_operations": ("remove", "ops"),
    "fairness": ("fairness", "Jain"),
}
"""Column headings of the printed table (two lines each) for each field."""


@dataclass(frozen=True)
class Comparison:
    """What `compare` found: one `PolicyResult` per policy, in the order asked.

    ``print(comparison)`` shows the table; `to_pandas` / `to_polars` give a
    DataFrame with one row per policy (the `PolicyResult` fields as columns);
    `write_csv` writes the same; `plot` draws the policies side by side.
    ``timelines`` holds each policy's recorded `Timeline` by name.
    """

    workload: str
    """The workload's name (the scenario's, or "replay of DIR")."""
    physical_mb: int
    """Host physical memory of every run (MB)."""
    vms: int
    """VMs of the workload."""
    ticks: int
    """Ticks of every run, each ``dt_s`` seconds long."""
    dt_s: float
    """Tick length (s)."""
    rows: list[PolicyResult]
    """One row per policy."""
    timelines: dict[str, Timeline]
    """Each policy's recorded timeline, by policy name."""

    @property
    def policies(self) -> list[str]:
        """The policies' names, in row order."""
        return [r.policy for r in self.rows]

    def __getitem__(self, policy: str) -> PolicyResult:
        """The row of ``policy`` (`KeyError` if it was not compared)."""
        for r in self.rows:
            if r.policy == policy:
                return r
        raise KeyError(policy)

    def columns(self) -> dict[str, list[Any]]:
        """The rows as columns: field name → one value per policy."""
        return {f.name: [getattr(r, f.name) for r in self.rows] for f in fields(PolicyResult)}

    def to_pandas(self) -> Any:
        """A DataFrame with one row per policy. Needs pandas."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Comparison.to_pandas needs pandas: pip install 'dynmem[pandas]'") from e
        return pd.DataFrame(self.columns())

    def to_polars(self) -> Any:
        """A DataFrame with one row per policy. Needs polars."""
        try:
            import polars as pl
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Comparison.to_polars needs polars: pip install 'dynmem[polars]'") from e
        return pl.DataFrame(self.columns())

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Writes one row per policy, the `PolicyResult` fields as columns (units in their names)."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([x.name for x in fields(PolicyResult)])
            for r in self.rows:
                w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in astuple(r)])

    def table(self) -> str:
        """The rows as a text table (memory in GB, 2 decimals)."""
        cells = []
        for r in self.rows:
            row = []
            for f in fields(PolicyResult):
                v = getattr(r, f.name)
                if f.name == "policy":
                    row.append(v)
                elif f.name.endswith("_mb"):
                    row.append(f"{v / 1024:.2f}" if math.isfinite(v) else "—")
                elif isinstance(v, float):
                    row.append(f"{v:.{1 if f.name == 'saved_pct' else 2}f}" if math.isfinite(v) else "—")
                else:
                    row.append(str(v))
            cells.append(row)
        heads = [_HEADINGS[f.name] for f in fields(PolicyResult)]
        widths = [max(len(h[0]), len(h[1]), *(len(c[j]) for c in cells)) for j, h in enumerate(heads)]

        def line(parts: Sequence[str]) -> str:
            return "  ".join(p.ljust(w) if j == 0 else p.rjust(w) for j, (p, w) in enumerate(zip(parts, widths))).rstrip()

        out = [line([h[0] for h in heads]), line([h[1] for h in heads])]
        out += [line(c) for c in cells]
        return "\n".join(out)

    def __str__(self) -> str:
        return (
            f"{self.workload}: {self.vms} VMs, {self.ticks} ticks of {self.dt_s:g} s "
            f"({self.ticks * self.dt_s / 3600:.2f} h), host {self.physical_mb} MB\n\n{self.table()}"
        )

    def plot(self, path: str | os.PathLike[str] | None = None, *, title: str | None = None) -> Any:
        """`plot_comparison` of this comparison."""
        return plot_comparison(self, path, title=title)


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------


def _policies(policies: Any, mechanics: dict[str, Any]) -> dict[str, Any]:
    """name → a policy object (built-in names get the workload's mechanics)."""
    if isinstance(policies, Mapping):
        items = list(policies.items())
    elif isinstance(policies, str) or not isinstance(policies, Sequence):
        raise ConfigTypeError(
            f"policies must be a list of policy names ({', '.join(POLICIES)}) or a dict name → policy, "
            f"got {policies!r:.80}",
            "policies",
            policies,
        )
    else:
        items = [(p, None) for p in policies]
    if not items:
        raise ConfigError("policies must name at least one policy, got none", "policies", policies)
    out: dict[str, Any] = {}
    for j, (name, policy) in enumerate(items):
        if not isinstance(name, str):
            raise ConfigTypeError(f"policies[{j}] must be a policy name (str), got {name!r:.80}", f"policies[{j}]", name)
        if name in out:
            raise ConfigError(f"policies[{j}] repeats {name!r}", f"policies[{j}]", name)
        if policy is None:
            if name not in POLICIES:
                raise ConfigError(
                    f"policies[{j}] must be one of {', '.join(POLICIES)}, got {name!r}", f"policies[{j}]", name
                )
            policy = policy_named(name, **mechanics)
        out[name] = policy
    return out


def _workload(workload: Any, physical_mb: int | None, trace_options: Mapping[str, Any] | None) -> Workload:
    if isinstance(workload, Workload):
        work = workload
    elif isinstance(workload, Scenario):
        work = scenario_workload(workload)
    elif isinstance(workload, (str, os.PathLike)):
        path = os.fspath(workload)
        if os.path.isdir(path):
            return trace_workload(path, physical_mb, **dict(trace_options or {}))
        work = scenario_workload(load_scenario(path))
    else:
        raise ConfigTypeError(
            f"workload must be a scenario file, a trace directory, a Scenario or a Workload, got {workload!r:.80}",
            "workload",
            workload,
        )
    if trace_options:
        raise ConfigError("trace_options apply to a trace directory only", "trace_options", dict(trace_options))
    return work.with_physical_mb(physical_mb)


class _Cancelled(Exception):
    """Raised in a run's progress callback once another run failed or Ctrl-C came."""


def compare(
    workload: "str | os.PathLike[str] | Scenario | Workload",
    physical_mb: int | None = None,
    policies: "Sequence[str] | Mapping[str, Any]" = DEFAULT_POLICIES,
    *,
    record_every: int = 1,
    max_threads: int | None = None,
    progress: "bool | Callable[[int, int], None]" = False,
    trace_options: Mapping[str, Any] | None = None,
) -> Comparison:
    """Runs ``workload`` once per policy and measures each run.

    ``workload``: a scenario TOML file, a Bitbrains trace directory (replayed
    as ``dynmem replay`` does; ``trace_options`` passes its settings:
    ``vms``, ``tick_s``, ``reserve_mb``, ``startup_mb``, ``minimum_mb``,
    ``buffer_pct``, ``baseline_mb``, ``baseline_pct``, ``scale``), a parsed
    `dynmem.scenario.Scenario` or a `Workload`. ``physical_mb`` replaces the
    host's physical memory (MB); for a trace directory its default is the
    smallest whole-GB host on which every VM starts at its startup memory.

    ``policies``: names from `dynmem.POLICIES` (each built with the workload's
    mechanics: balloon unit, hot-add chunk, delays and rates), or a dict
    name → policy object (used as given: your own `dynmem.Policy` too).
    ``saved_mb`` needs a ``"static"`` run: when ``"static"`` is not among
    them it is run as well (with the workload's mechanics), but not shown.

    ``record_every`` (ticks) thins the recorded timelines for very long
    runs; the metrics are then integrated over the recorded rows. Runs go
    in up to ``max_threads`` threads (default: one per CPU); each host also
    uses the core's threads for ticks of 32,768 VMs or more. ``progress``:
    True draws a progress bar on stderr for runs of at least
    ``dynmem.cli.PROGRESS_MIN_VM_TICKS`` VM-ticks in all, or a callable
    ``(ticks_done, ticks)`` summed over the runs (the hidden static baseline's
    included). Results do not depend on threads or progress.
    """
    every = check_int(record_every, "record_every", "a positive integer", low=1)
    threads = (os.cpu_count() or 1) if max_threads is None else check_int(max_threads, "max_threads", "a positive integer", low=1)
    if not isinstance(progress, bool) and progress is not None and not callable(progress):
        raise ConfigTypeError(
            f"progress must be True, False or a callable (ticks_done, ticks), got {progress!r:.80}", "progress", progress
        )
    work = _workload(workload, physical_mb, trace_options)
    chosen = _policies(policies, work.mechanics)
    runs = dict(chosen)
    if BASELINE not in runs:
        runs[BASELINE] = policy_named(BASELINE, **work.mechanics)
    hosts: dict[str, Host] = {name: work.build(p) for name, p in runs.items()}  # bad settings raise here, before any run
    with _progress_stage(progress, work.ticks * len(work.vms) * len(runs)) as update:
        results = _run_all(work, hosts, every, threads, update)
    base = _metrics(BASELINE, hosts[BASELINE], results[BASELINE])
    rows = [_metrics(name, hosts[name], results[name], base) for name in chosen]
    return Comparison(
        workload=work.name,
        physical_mb=next(iter(hosts.values())).physical_mb,
        vms=len(work.vms),
        ticks=work.ticks,
        dt_s=work.dt_s,
        rows=rows,
        timelines={name: results[name] for name in chosen},
    )


@contextlib.contextmanager
def _progress_stage(progress: Any, vm_ticks: int) -> Iterator[Callable[[int, int], None] | None]:
    """The runs' progress callback: the command line's "running" stage on
    stderr for ``progress=True`` and long runs, ``progress`` itself if it is
    a callable, else None."""
    if progress is True:
        from ._console import Progress
        from .cli import PROGRESS_MIN_VM_TICKS

        with Progress(sys.stderr, enabled=vm_ticks >= PROGRESS_MIN_VM_TICKS).stage("running", "ticks") as update:
            yield update
    else:
        yield progress or None


def _run_all(
    work: Workload, hosts: dict[str, Host], every: int, threads: int, progress: Callable[[int, int], None] | None
) -> dict[str, Timeline]:
    """One `Host.run` per host, in parallel threads; the first error (or
    Ctrl-C) stops the others after their current chunk and is raised."""
    lock = threading.Lock()
    cancel = threading.Event()
    done = dict.fromkeys(hosts, 0)
    total = work.ticks * len(hosts)

    def run(name: str) -> Timeline:
        def cb(ticks_done: int, ticks: int) -> None:
            if cancel.is_set():
                raise _Cancelled
            if progress is not None:
                with lock:
                    done[name] = ticks_done
                    progress(sum(done.values()), total)

        return hosts[name].run(work.demand_mb, work.dt_s, work.events, every, cb)

    pool = ThreadPoolExecutor(max_workers=min(threads, len(hosts)), thread_name_prefix="dynmem-compare")
    futures: dict[str, Future[Timeline]] = {}
    try:
        futures = {name: pool.submit(run, name) for name in hosts}
        pending = set(futures.values())
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in finished):
                break
        if pending:
            cancel.set()
        errors = [e for f in futures.values() if f.done() and (e := f.exception()) is not None]
        real = [e for e in errors if not isinstance(e, _Cancelled)]
        if real:
            raise real[0]
        return {name: f.result() for name, f in futures.items()}
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def jain_index(x: npt.ArrayLike) -> float:
    """Jain's fairness index (Σx)² / (n·Σx²) of ``x``: 1 when every entry is
    equal (all zero included), 1/n when one entry holds everything; NaN for
    no entries."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return math.nan
    sq = float((a * a).sum())
    return 1.0 if sq == 0.0 else float(a.sum()) ** 2 / (a.size * sq)


def _metrics(name: str, host: Host, tl: Timeline, base: PolicyResult | None = None) -> PolicyResult:
    total = tl.assigned_mb.sum(axis=1)
    mean = float(total.mean()) if tl.rows else 0.0
    counters = [vm.counters for vm in host.vms]
    ran = (tl.status != STATUS_NAMES.index("off")).any(axis=0)
    pressure = np.array([c["Average Pressure"] for c in counters], dtype=np.float64)
    saved = math.nan if base is None else base.mean_assigned_mb - mean
    return PolicyResult(
        policy=name,
        paging_gb_h=float(tl.paging_mb_h().sum()) / 1024.0,
        warning_vm_h=float(tl.status_seconds("warning").sum()) / 3600.0,
        low_vm_h=float(tl.status_seconds("low").sum()) / 3600.0,
        mean_assigned_mb=mean,
        peak_assigned_mb=int(total.max()) if tl.rows else 0,
        saved_mb=saved,
        saved_pct=100.0 * saved / base.mean_assigned_mb if base is not None and base.mean_assigned_mb else math.nan,
        failed_starts=sum(1 for e in tl.failed_events if e[2] == "start"),
        add_operations=int(sum(c["Memory Add Operations"] for c in counters)),
        remove_operations=int(sum(c["Memory Remove Operations"] for c in counters)),
        fairness=jain_index(pressure[ran]),
    )


# --------------------------------------------------------------------------
# the plot
# --------------------------------------------------------------------------


MAX_STEPS = 240
"""The paging-over-time panel draws at most this many steps per policy (means over equal spans of rows)."""


def _num(v: float) -> str:
    """A bar's label: two decimals below 100, whole numbers with separators above."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def plot_comparison(comparison: Comparison, path: str | os.PathLike[str] | None = None, *, title: str | None = None) -> Any:
    """Draws ``comparison`` and returns the matplotlib ``Figure`` (needs matplotlib).

    Top left: guest paging (GB·h) per policy; top right: time in Warning
    and in Low (VM·h, stacked) per policy; bottom: guest paging of all VMs
    together over time (GB, a step line per policy). Each policy keeps one
    colour in every panel. ``path``, if given, is where the PNG is saved.
    """
    from .plot import _Axis, _import_matplotlib, _span

    Figure, FigureCanvasAgg, _Patch, colormaps = _import_matplotlib()
    c = comparison
    names = c.policies
    colours = {n: colormaps["tab10"](j % 10) for j, n in enumerate(names)}
    fig = Figure(figsize=(11, 7), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.3])
    ax_pg, ax_st = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_t = fig.add_subplot(grid[1, :])
    x = np.arange(len(names))

    paging = [c[n].paging_gb_h for n in names]
    bars = ax_pg.bar(x, paging, color=[colours[n] for n in names])
    ax_pg.bar_label(bars, labels=[_num(v) for v in paging], fontsize="small", padding=2)
    ax_pg.set_title("guest paging (less is better)", fontsize="medium")
    ax_pg.set_ylabel("GB·h")

    warn = np.array([c[n].warning_vm_h for n in names])
    low = np.array([c[n].low_vm_h for n in names])
    ax_st.bar(x, warn, color=[colours[n] for n in names], label="Warning")
    top = ax_st.bar(x, low, bottom=warn, color=[colours[n] for n in names], hatch="//", edgecolor="white", label="Low")
    ax_st.bar_label(top, labels=[f"{_num(w)}\n+ {_num(lo)}" for w, lo in zip(warn, low)], fontsize="small", padding=2)
    ax_st.set_title("time in Warning (solid) and Low (hatched)", fontsize="medium")
    ax_st.set_ylabel("VM·h")
    for ax in (ax_pg, ax_st):
        ax.set_xticks(x, names)
        ax.set_ylim(0, max(1e-9, ax.get_ylim()[1]) * 1.25)  # room for the labels
        ax.grid(True, axis="y", alpha=0.3)

    peak = max((float(tl.paging_mb.sum(axis=1).max()) for tl in c.timelines.values() if tl.rows), default=0.0)
    m_scale, unit = (1024.0, "GB") if peak >= 4096 else (1.0, "MB")
    axis = None
    for j, n in enumerate(names):
        tl = c.timelines[n]
        axis = _Axis(tl, MAX_STEPS)  # steps from each row's tick start; means over bins past MAX_STEPS rows
        # earlier policies wider and under later ones: lines that coincide stay visible
        lw = 1.4 + 2.8 * (len(names) - 1 - j) / max(len(names) - 1, 1)
        ax_t.step(axis.x, axis.agg(tl.paging_mb.sum(axis=1)) / m_scale, where="post", color=colours[n], lw=lw, label=n)
    what = "guest paging over time, all VMs together"
    if axis is not None and axis.bin > 1:
        what += f" (mean over each {_span(axis.bin_s)})"
    ax_t.set_title(what, fontsize="medium")
    ax_t.set_xlabel(axis.label if axis is not None else "time")
    ax_t.set_ylabel(f"paging ({unit})")
    ax_t.set_ylim(0, max(ax_t.get_ylim()[1], 1e-9) * 1.18)  # headroom: the legend sits above the lines
    ax_t.grid(True, alpha=0.3)
    ax_t.legend(loc="upper left", fontsize="small", ncol=len(names), framealpha=0.8)
    size = f"{c.physical_mb / 1024:g}"
    article = "an" if size.startswith(("8", "11", "18")) else "a"  # "an 8 GB host", "an 18 GB host"
    fig.suptitle(title if title is not None else f"{c.workload}: {c.vms} VMs on {article} {size} GB host")
    if path is not None:
        fig.savefig(path, format="png", dpi=110)
    return fig


# --------------------------------------------------------------------------
# the command: dynmem compare
# --------------------------------------------------------------------------

_TRACE_FLAGS = ("vms", "tick_s", "reserve_mb")
"""``dynmem compare``'s trace flags and the `trace_workload` argument each sets."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``dynmem compare``'s arguments, on the subcommand's parser."""
    from ._console import SIZE_HELP, parse_size_mb

    p.description = ("Runs one workload (a scenario file, or Bitbrains traces replayed as dynmem replay does) "
                     "once per allocation policy and prints one row per policy: guest paging, time in Warning "
                     "and Low, mean and peak assigned memory, memory saved against static, failed starts, "
                     "add/remove operations and fairness.")
    p.add_argument("workload", metavar="SCENARIO.toml|TRACE_DIR",
                   help="a scenario file (TOML) or a directory of Bitbrains GWA-T-12 per-VM files")
    p.add_argument("--physical-mb", type=parse_size_mb, default=None, metavar="SIZE",
                   help="host physical memory; default: the scenario's, or for a trace the smallest whole-GB host "
                        f"on which every VM starts at its startup memory; {SIZE_HELP}")
    p.add_argument("--policies", default=",".join(DEFAULT_POLICIES), metavar="LIST",
                   help=f"comma-separated policies to compare (default: {','.join(DEFAULT_POLICIES)})")
    t = p.add_argument_group("trace (as dynmem replay; the other replay settings keep their defaults)")
    t.add_argument("--vms", type=int, default=None, metavar="N", help="replay only the first N VMs")
    t.add_argument("--tick-s", type=float, default=None, metavar="S", help="tick length in seconds (default 300)")
    t.add_argument("--reserve-mb", type=parse_size_mb, default=None, metavar="SIZE",
                   help="host reserve (default: 384 MB + 64 MB per GB of physical memory)")
    o = p.add_argument_group("outputs")
    o.add_argument("--csv", metavar="FILE", help="write one row per policy as CSV")
    o.add_argument("--plot", metavar="FILE.png", help="draw paging and Warning/Low time per policy, and paging "
                   "over time (needs matplotlib: pip install 'dynmem[plot]')")
    o.add_argument("--no-progress", action="store_true", help="no progress display on stderr")


def cmd_compare(args: argparse.Namespace) -> int:
    """Runs ``dynmem compare`` (errors propagate to the CLI's one-line handler)."""
    from ._console import Progress
    from .cli import PROGRESS_MIN_VM_TICKS, _check_outputs, _flags

    _check_outputs(argparse.Namespace(csv=args.csv, parquet=None, plot=args.plot))
    names = [s.strip() for s in args.policies.split(",") if s.strip()]
    options = {k: getattr(args, k) for k in _TRACE_FLAGS if getattr(args, k) is not None}
    trace = os.path.isdir(args.workload)
    if options and not trace:
        flags = ", ".join("--" + k.replace("_", "-") for k in options)
        raise ConfigError(f"{flags} apply to a trace directory only, got {args.workload!r}", "workload", args.workload)
    try:
        if trace:  # as dynmem replay: loading takes seconds, so progress is shown
            with Progress(sys.stderr, enabled=not args.no_progress).stage("loading", "files") as update:
                work = trace_workload(args.workload, args.physical_mb, progress=update, **options)
        else:
            work = scenario_workload(load_scenario(args.workload))
        big = trace or work.ticks * len(work.vms) * len(names) >= PROGRESS_MIN_VM_TICKS
        with Progress(sys.stderr, enabled=big and not args.no_progress).stage("running", "ticks") as update:
            result = compare(work, args.physical_mb, names, progress=update or False)
    except DynmemError as e:
        if not trace:
            raise
        # a trace's settings are flags here, as in dynmem replay: name them so
        as_replay = argparse.Namespace(command="replay", physical_mb=args.physical_mb,
                                       **{k: getattr(args, k) for k in _TRACE_FLAGS})
        raise type(e)(_flags(as_replay, str(e)), e.field, e.value) from e
    print(result)
    if args.csv:
        result.write_csv(args.csv)
        print(f"\nwrote {args.csv}")
    if args.plot:
        result.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0
