"""The `dynmem` command: `demo`, `run SCENARIO.toml`, `replay TRACE_DIR`.

Every error (a `DynmemError`, an `OSError` on a file, `MemoryError`) is one
line on stderr, ``dynmem: error: ...``, and exit status 2, never a traceback
(Ctrl-C: ``dynmem: interrupted``, status 130). Output files are checked
before anything runs. In ``replay`` messages name the command's flags
(``--reserve-mb``) where the library names its arguments (``reserve_mb``).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from ._console import SIZE_HELP, Progress, parse_size_mb
from ._host import Host
from .compare import add_arguments as _compare_arguments, cmd_compare
from .errors import ConfigError, DynmemError
from .events import Event
from .export import parquet_engine, write_csv, write_parquet
from .report import host_line, settings_table, state_table, summary
from .scenario import GENERATOR_TABLE, Scenario, load_scenario, reference_scenario
from .timeline import Timeline
from .hyperv import replay as hv_replay

__all__ = ["main", "state_table", "summary", "write_csv"]

#: Runs of `run` and `demo` longer than this many VM-ticks show their
#: progress on stderr (`replay` always does: loading the trace takes seconds).
PROGRESS_MIN_VM_TICKS = 2_000_000


def _simulate(scenario: Scenario, progress: Progress) -> tuple[Host, Timeline, list[dict[str, float]]]:
    host = scenario.build()
    before = [vm.counters for vm in host.vms]
    with progress.stage("running", "ticks") as update:
        timeline = host.run(scenario.demand_mb, scenario.dt_s, scenario.scheduled_events(),
                            scenario.record_every, update)
    return host, timeline, before


def _check_writable(flag: str, path: str) -> None:
    """Raises ConfigError naming ``flag`` unless ``path`` can be written
    (checked by opening it for appending; a file this creates is removed)."""
    existed = os.path.lexists(path)
    try:
        with open(path, "ab"):
            pass
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{flag} must be a file that can be written, got {path!r} ({why})", flag, path) from e
    if not existed:
        os.remove(path)


def _check_outputs(args: argparse.Namespace) -> None:
    """Before running: the output files can be written and `--plot` can draw."""
    if args.csv:
        _check_writable("--csv", args.csv)
    if args.parquet:
        if parquet_engine() is None:
            raise SystemExit("dynmem: --parquet needs polars or pyarrow: pip install 'dynmem[polars]'")
        _check_writable("--parquet", args.parquet)
    if args.plot:
        try:
            from . import plot

            plot._import_matplotlib()
        except ImportError as e:
            raise SystemExit(f"dynmem: --plot needs matplotlib: pip install 'dynmem[plot]' ({e})") from e
        _check_writable("--plot", args.plot)


def _outputs(args: argparse.Namespace, timeline: Timeline, title: str, progress: Progress) -> None:
    if args.csv:
        with progress.stage("writing", "lines") as update:
            write_csv(timeline, Path(args.csv), update)
        print(f"wrote {args.csv}")
    if args.parquet:
        with progress.stage("writing", "lines") as update:
            write_parquet(timeline, Path(args.parquet))
            if update is not None:
                update(timeline.rows * len(timeline.names), timeline.rows * len(timeline.names))
        print(f"wrote {args.parquet}")
    if args.plot:
        from .plot import plot_timeline

        plot_timeline(timeline, args.plot, title=title)
        print(f"wrote {args.plot}")


def _report_rows(scenario: Scenario) -> list[tuple[float, int]]:
    """``(time, timeline row)`` of each ``report_at_s`` time, checked before
    the run: a recorded tick (``tick % record_every == 0``) of the run."""
    rows = []
    every = scenario.record_every
    for j, t in enumerate(scenario.report_at_s):
        k = t / scenario.dt_s  # inf if dt_s is tiny
        tick = int(round(k)) if k < scenario.ticks else scenario.ticks
        if tick >= scenario.ticks or tick % every:
            raise ConfigError(
                f"report_at_s[{j}] must be the time of a recorded tick (a multiple of record_every={every} "
                f"ticks of {scenario.dt_s:g} s, before {scenario.ticks * scenario.dt_s:g} s), got {t:g}",
                f"report_at_s[{j}]",
                t,
            )
        rows.append((t, tick // every))
    return rows


def cmd_run(args: argparse.Namespace, scenario: Scenario | None = None) -> int:
    scenario = scenario or load_scenario(args.scenario)
    report = _report_rows(scenario)
    _check_outputs(args)
    big = scenario.ticks * len(scenario.vms) >= PROGRESS_MIN_VM_TICKS
    progress = Progress(sys.stderr, enabled=big and not args.no_progress)
    host, timeline, before = _simulate(scenario, progress)
    print(f"{scenario.name}\n")
    print(host_line(host))
    print(settings_table(host, timeline))
    print()
    for t, row in report:
        print(f"t = {t / 60:g} min")
        print(state_table(timeline, row))
        print()
    print(summary(host, timeline, before))
    _outputs(args, timeline, scenario.name, progress)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .traces import DemandMapping, add_trace_vms, load_bitbrains

    if args.counters:
        return hv_replay.cmd_replay_counters(args)
    _check_outputs(args)
    progress = Progress(sys.stderr, enabled=not args.no_progress)
    mapping = DemandMapping(baseline_mb=args.baseline_mb, baseline_pct=args.baseline_pct, scale=args.scale)
    host = Host(physical_mb=args.physical_mb, reserve_mb=args.reserve_mb)
    with progress.stage("loading", "files") as update:
        trace = load_bitbrains(args.trace_dir, tick_s=args.tick_s or 300.0, vms=args.vms, mapping=mapping,
                               on_long_gap="hold", progress=update)
    add_trace_vms(host, trace, startup_mb=args.startup_mb, minimum_mb=args.minimum_mb, buffer_pct=args.buffer_pct)
    before = [vm.counters for vm in host.vms]
    events = [Event(0, name, "start") for name in trace.names]
    with progress.stage("running", "ticks") as update:
        timeline = host.run(trace, None, events, args.record_every, update)
    window = timeline.timestamps
    span = "" if window is None or not len(window) else f", {_utc(trace.start_s)} to {_utc(trace.end_s)} UTC"
    print(f"replayed {len(trace.names)} VMs from {args.trace_dir} ({trace.ticks:,} ticks of {trace.tick_s:g} s"
          f"{span})\n")
    print(host_line(host))
    print(settings_table(host, timeline))
    print("  (each VM's maximum is the most memory the trace provisioned it, rounded up to the balloon unit)\n")
    if trace.repairs:
        print(f"trace repairs: {len(trace.repairs)} (first: {trace.repairs[0]})\n")
    print(summary(host, timeline, before))
    _outputs(args, timeline, f"replay of {Path(args.trace_dir).name}", progress)
    return 0


def _version_line() -> str:
    """``dynmem X.Y.Z`` (the wheel's version), then the Python and the
    vector path the core runs, for bug reports."""
    from . import _dynmem

    py = ".".join(map(str, sys.version_info[:3]))
    return f"dynmem {_dynmem.__version__} (Python {py}, vector path {_dynmem.VECTOR_PATH})"


def _utc(epoch_s: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dynmem",
        description="Hyper-V Dynamic Memory balancer simulator: runs a host's VMs tick by tick and reports "
        "what Hyper-V would show (assigned memory, pressure, Warning, guest paging).",
        epilog="Sizes take MB or a unit (64GB, 512MiB; a GB is 1024 MB). Every error is one line on stderr "
        "and exit status 2.",
    )
    p.add_argument("--version", action="version", version=_version_line(), help="print dynmem's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def outputs(sp: argparse.ArgumentParser) -> None:
        o = sp.add_argument_group("outputs")
        o.add_argument("--csv", metavar="FILE", help="write the timeline as CSV: one line per (recorded tick, VM) "
                       "with the host's series and, for a trace, UTC timestamps")
        o.add_argument("--parquet", metavar="FILE", help="write the same table as Parquet (needs polars or pyarrow)")
        o.add_argument("--plot", metavar="FILE.png", help="draw memory, guest paging and VMs in Warning over time "
                       "as a PNG (needs matplotlib: pip install 'dynmem[plot]')")
        o.add_argument("--no-progress", action="store_true", help="no progress display on stderr (shown for "
                       "replays and long runs: a redrawn bar on a terminal, a line per finished stage elsewhere)")

    d = sub.add_parser("demo", help="run the reference scenario (8 GB host: Finance, Engineering, Sales, +1 VM)",
                       description="Runs the reference scenario of Hyper-V's Dynamic Memory overview and prints "
                       "the host, the VMs' settings, tables at 0, 15 and 30 min and a summary.")
    outputs(d)
    r = sub.add_parser("run", help="run a scenario file (TOML)", description="Runs a scenario file.",
                       epilog="Scenario files: a host, VMs with demand given as [from_s, MB] steps or a "
                       "generator, and events; every time in seconds. Generators (workload = { kind = ... }):\n\n"
                       + GENERATOR_TABLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("scenario", metavar="SCENARIO.toml", help="the scenario file (see python/dynmem/scenario.py "
                   "and the reference scenario, python/dynmem/scenarios/reference.toml)")
    outputs(r)
    rp = sub.add_parser(
        "replay", help="replay Bitbrains GWA-T-12 traces or a Hyper-V counter log on one host",
        description="Replays real per-VM memory traces on one host: every VM of the trace starts at once and its "
        "demand follows the trace (active memory mapped to committed demand: baseline + scale x usage). "
        "With --counters, replays a Hyper-V counter log (PDH-CSV) instead.")
    rp.add_argument("trace_dir", metavar="TRACE_DIR", nargs="?",
                    help="a directory of Bitbrains GWA-T-12 per-VM files (*.csv or *.csv.gz, e.g. the Rnd or "
                    "fastStorage sets), one VM per file, named after the file; or one such file (not with "
                    "--counters)")
    h = rp.add_argument_group("host")
    h.add_argument("--physical-mb", type=parse_size_mb, default=None, metavar="SIZE",
                   help=f"host physical memory (required with TRACE_DIR; with --counters default the log's "
                   f"balancer memory); {SIZE_HELP}")
    h.add_argument("--reserve-mb", type=parse_size_mb, default=None, metavar="SIZE",
                   help="host reserve, never given to VMs (default: 384 MB + 64 MB per GB of physical memory)")
    v = rp.add_argument_group("VMs (each VM's maximum is the most memory the trace provisioned it)")
    v.add_argument("--vms", type=hv_replay.count_or_file, default=None, metavar="N|FILE",
                   help="replay only the first N VMs (files in natural name order; default all); with --counters, "
                   "a Get-VM/Get-VMMemory export (JSON or CSV) giving the VMs' settings")
    v.add_argument("--startup-mb", type=parse_size_mb, default=1024, metavar="SIZE",
                   help="startup memory of every VM, capped at its maximum (default 1024 MB)")
    v.add_argument("--minimum-mb", type=parse_size_mb, default=512, metavar="SIZE",
                   help="minimum memory of every VM, capped at its startup (default 512 MB)")
    v.add_argument("--buffer-pct", type=int, default=20, metavar="PCT",
                   help="memory buffer of every VM: memory beyond demand the balancer aims for, %% of demand "
                   "(5 to 2000, default 20)")
    t = rp.add_argument_group("time")
    t.add_argument("--tick-s", type=float, default=None, metavar="SECONDS", help="tick length: the trace is "
                   "resampled (held) onto this grid (default 300, the trace's own 5-minute samples; with "
                   "--counters, the log's interval)")
    t.add_argument("--record-every", type=int, default=1, metavar="N", help="keep every N-th tick in the "
                   "timeline, CSV, Parquet and plot (default 1: all). Decimation: a kept row is the state after "
                   "that tick, not an average; paging and time in Warning count each kept row for N ticks")
    m = rp.add_argument_group("demand mapping (demand = baseline + baseline% x provisioned + scale x usage, "
                              "capped at provisioned)")
    m.add_argument("--baseline-mb", type=float, default=256.0, metavar="MB",
                   help="committed floor of every running guest, MB (default 256)")
    m.add_argument("--baseline-pct", type=float, default=10.0, metavar="PCT",
                   help="extra floor, %% of the VM's provisioned memory (default 10)")
    m.add_argument("--scale", type=float, default=1.5, metavar="X",
                   help="multiplier on the trace's active memory (default 1.5)")
    hv_replay.add_arguments(rp.add_argument_group("Hyper-V counter log"))
    outputs(rp)
    from .plan import add_parser as add_plan

    add_plan(sub)
    _compare_arguments(sub.add_parser("compare", help="run one workload under several allocation policies, side by side"))
    return p


#: The replay arguments that are not the library's: the command, the trace
#: directory (the library's path_or_dir) and the outputs.
_NOT_PASSED = ("command", "trace_dir", "csv", "parquet", "plot", "no_progress", "counters", "pdh_csv")


def _flags(args: argparse.Namespace, message: str) -> str:
    """``message`` with the library's argument names (``reserve_mb``) as the
    flags that set them in this command (``--reserve-mb``); only ``replay``
    passes its flags to the library under their own names."""
    if args.command != "replay":
        return message
    names = {k: "--" + k.replace("_", "-") for k in vars(args) if k not in _NOT_PASSED}
    names["path_or_dir"] = "TRACE_DIR"
    # a name, not part of a path or a quoted value ("/data/vms", 'scale')
    edge = r"[\w/.\-'\"]"
    pattern = rf"(?<!{edge})(" + "|".join(map(re.escape, names)) + rf")(?!{edge})"
    return re.sub(pattern, lambda m: names[m.group(1)], message)


def _fail(args: argparse.Namespace, message: str) -> int:
    """One line on stderr, exit status 2."""
    print(f"dynmem: error: {_flags(args, message)}".replace("\n", " "), file=sys.stderr)
    return 2


def _log_to_stderr() -> None:
    """The library's INFO messages (e.g. trace sizes rounded to the balloon
    unit) as ``dynmem: ...`` lines on stderr, unless logging is set up."""
    log = logging.getLogger("dynmem")
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("dynmem: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``dynmem`` command with ``argv`` (default: ``sys.argv[1:]``)
    and returns its exit status: 0, 2 for any error (one line on stderr),
    130 for Ctrl-C."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "replay" and not args.counters and (args.trace_dir is None or args.physical_mb is None):
        parser.error("replay needs TRACE_DIR and --physical-mb, or --counters LOG.csv")
    _log_to_stderr()
    try:
        if args.command == "demo":
            return cmd_run(args, reference_scenario())
        if args.command == "run":
            return cmd_run(args)
        if args.command == "plan":
            from .plan import cmd_plan

            return cmd_plan(args)
        if args.command == "compare":
            return cmd_compare(args)
        return cmd_replay(args)
    except BrokenPipeError:  # pragma: no cover
        return 1
    except DynmemError as e:
        return _fail(args, str(e))
    except OSError as e:  # writing an output file
        return _fail(args, f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e))
    except MemoryError as e:
        return _fail(args, f"out of memory: {e}" if str(e) else "out of memory")
    except KeyboardInterrupt:
        print("dynmem: interrupted", file=sys.stderr)
        return 130


def _entry() -> Any:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
