"""The `dynmem` command: `demo`, `run SCENARIO.toml`, `replay TRACE_DIR`.

Every error (a `DynmemError`, an `OSError` on a file, `MemoryError`) is one
line on stderr, ``dynmem: error: ...``, and exit status 2, never a traceback
(Ctrl-C: ``dynmem: interrupted``, status 130). Output files are checked
before anything runs. In ``replay`` messages name the command's flags
(``--reserve-mb``) where the library names its arguments (``reserve_mb``).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from ._host import Host
from .errors import ConfigError, DynmemError
from .events import Event
from .hyperv import replay as hv_replay
from .scenario import Scenario, load_scenario, reference_scenario
from .timeline import STATUS_NAMES, Timeline

__all__ = ["main"]

#: Runs longer than this many VM-ticks show a progress bar on stderr.
PROGRESS_MIN_VM_TICKS = 2_000_000


def _gb(mb: float) -> str:
    return f"{mb / 1024:.2f} GB"


def state_table(timeline: Timeline, row: int) -> str:
    """A Hyper-V-Manager-like table (Name, State, Assigned, Demand, Status)."""
    lines = [f"{'Name':<14}{'State':<10}{'Assigned':>20}{'Demand':>20}  Status"]
    total = 0
    for j, name in enumerate(timeline.names):
        status = STATUS_NAMES[int(timeline.status[row, j])]
        a, d = int(timeline.assigned_mb[row, j]), int(timeline.demand_mb[row, j])
        if status == "off":
            lines.append(f"{name:<14}{'Off':<10}")
            continue
        total += a
        cell_a, cell_d = f"{a} MB ({_gb(a)})", f"{d} MB ({_gb(d)})"
        lines.append(f"{name:<14}{'Running':<10}{cell_a:>20}{cell_d:>20}  {status.capitalize()}")
    lines.append(f"{'Total':<24}{f'{total} MB ({_gb(total)})':>20}")
    return "\n".join(lines)


def summary(host: Host, timeline: Timeline, counters_before: list[dict[str, float]]) -> str:
    """Guest paging, time in Warning and Low, pressure, operations, failed starts."""
    paging = timeline.paging_mb_h()
    warn_h = timeline.status_seconds("warning") / 3600.0
    low_h = timeline.status_seconds("low") / 3600.0
    after = [vm.counters for vm in host.vms]
    adds = sum(a["Memory Add Operations"] - b["Memory Add Operations"] for a, b in zip(after, counters_before))
    removes = sum(
        a["Memory Remove Operations"] - b["Memory Remove Operations"] for a, b in zip(after, counters_before)
    )
    running = timeline.status != STATUS_NAMES.index("off")
    rows_running = running.any(axis=1)
    avg_p = float(timeline.average_pressure[rows_running].mean()) if rows_running.any() else 0.0
    failed = [(t, n, m) for t, n, a, m in timeline.failed_events if a == "start"]
    out = [
        f"simulated            {host.time_s / 3600.0:.2f} h, "
        f"{len(timeline.names)} VMs, {timeline.rows} recorded rows",
        f"guest paging         {paging.sum():.1f} MB·h in all"
        + (f" (most: {timeline.names[int(paging.argmax())]}, {paging.max():.1f} MB·h)" if paging.any() else ""),
        f"time in Warning      {warn_h.sum():.2f} VM·h",
        f"time in Low          {low_h.sum():.2f} VM·h",
        f"average pressure     {avg_p:.1f} %",
        f"memory operations    {adds} add, {removes} remove",
        f"failed to start      {len(failed)} VM(s)" + "".join(f"\n  t={t} {n}: {m}" for t, n, m in failed),
    ]
    return "\n".join(out)


def write_csv(timeline: Timeline, path: Path) -> None:
    """One row per (recorded tick, VM)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["tick", "time_s", "vm", "demand_mb", "assigned_mb", "visible_mb", "target_mb",
                    "pressure", "status", "paging_mb", "host_available_mb"])
        paging = timeline.paging_mb
        for r in range(timeline.rows):
            for j, name in enumerate(timeline.names):
                w.writerow([
                    int(timeline.tick[r]), f"{timeline.time_s[r]:g}", name,
                    int(timeline.demand_mb[r, j]), int(timeline.assigned_mb[r, j]),
                    int(timeline.visible_mb[r, j]), int(timeline.target_mb[r, j]),
                    f"{timeline.pressure[r, j]:.2f}", STATUS_NAMES[int(timeline.status[r, j])],
                    int(paging[r, j]), int(timeline.available_mb[r]),
                ])


class _Progress:
    def __init__(self, stream: TextIO) -> None:
        self.stream, self.t0 = stream, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ticks ({rate:,.0f}/s)")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _simulate(scenario: Scenario, progress: bool) -> tuple[Host, Timeline, list[dict[str, float]]]:
    host = scenario.build()
    before = [vm.counters for vm in host.vms]
    big = scenario.ticks * len(scenario.vms) >= PROGRESS_MIN_VM_TICKS
    cb = _Progress(sys.stderr) if progress and big else None
    timeline = host.run(scenario.demand_mb, scenario.dt_s, scenario.scheduled_events(), scenario.record_every, cb)
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
    if args.plot:
        try:
            from . import plot

            plot._import_matplotlib()
        except ImportError as e:
            raise SystemExit(f"dynmem: --plot needs matplotlib: pip install 'dynmem[plot]' ({e})") from e
        _check_writable("--plot", args.plot)


def _outputs(args: argparse.Namespace, timeline: Timeline, title: str) -> None:
    if args.csv:
        write_csv(timeline, Path(args.csv))
        print(f"wrote {args.csv}")
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
    host, timeline, before = _simulate(scenario, not args.no_progress)
    print(f"{scenario.name}\n")
    for t, row in report:
        print(f"t = {t / 60:g} min")
        print(state_table(timeline, row))
        print()
    print(summary(host, timeline, before))
    _outputs(args, timeline, scenario.name)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .traces import DemandMapping, load_bitbrains, vm_sizes

    if args.counters:
        return hv_replay.cmd_replay_counters(args)
    _check_outputs(args)
    mapping = DemandMapping(baseline_mb=args.baseline_mb, baseline_pct=args.baseline_pct, scale=args.scale)
    trace = load_bitbrains(args.trace_dir, tick_s=args.tick_s or 300.0, vms=args.vms, mapping=mapping,
                           on_long_gap="hold")
    host = Host(physical_mb=args.physical_mb, reserve_mb=args.reserve_mb)
    sizes = vm_sizes(trace, startup_mb=args.startup_mb, minimum_mb=args.minimum_mb,
                     balloon_unit_mb=host.policy.balloon_unit_mb)
    events = []
    for name, size in zip(trace.names, sizes):
        host.add_vm(name, **size, buffer_pct=args.buffer_pct)
        events.append(Event(0, name, "start"))
    before = [vm.counters for vm in host.vms]
    ticks = trace.demand_mb.shape[0]
    big = ticks * len(trace.names) >= PROGRESS_MIN_VM_TICKS
    cb = _Progress(sys.stderr) if big and not args.no_progress else None
    timeline = host.run(trace.demand_mb, trace.tick_s, events, 1, cb)
    print(f"replayed {len(trace.names)} VMs from {args.trace_dir} ({ticks} ticks of {trace.tick_s:g} s) "
          f"on {args.physical_mb} MB\n")
    if trace.repairs:
        print(f"trace repairs: {len(trace.repairs)} (first: {trace.repairs[0]})\n")
    print(summary(host, timeline, before))
    _outputs(args, timeline, f"replay of {Path(args.trace_dir).name}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dynmem", description="Hyper-V Dynamic Memory balancer simulator.")
    sub = p.add_subparsers(dest="command", required=True)

    def outputs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--csv", metavar="FILE", help="write the timeline as CSV")
        sp.add_argument("--plot", metavar="FILE.png", help="draw assigned/demand/available memory (needs matplotlib)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bar on long runs")

    d = sub.add_parser("demo", help="run the reference scenario (8 GB host, Finance, Engineering, Sales, +1 VM)")
    outputs(d)
    r = sub.add_parser("run", help="run a scenario file (TOML)")
    r.add_argument("scenario", metavar="SCENARIO.toml")
    outputs(r)
    rp = sub.add_parser("replay", help="replay Bitbrains GWA-T-12 traces or a Hyper-V counter log on one host")
    rp.add_argument("trace_dir", metavar="TRACE_DIR", nargs="?")
    rp.add_argument("--physical-mb", type=int, help="host physical memory (MB); with --counters default the log's")
    rp.add_argument("--reserve-mb", type=int, default=None, help="host reserve (MB); default 384 + 64 per GB")
    rp.add_argument("--vms", type=hv_replay.count_or_file, default=None,
                    help="replay only the first N VMs; with --counters, a Get-VM/Get-VMMemory export (JSON or CSV)")
    rp.add_argument("--tick-s", type=float, default=None,
                    help="tick length in seconds (default 300; with --counters the log's interval)")
    rp.add_argument("--startup-mb", type=int, default=1024, help="startup memory per VM, capped at its size")
    rp.add_argument("--minimum-mb", type=int, default=512, help="minimum memory per VM, capped at startup")
    rp.add_argument("--buffer-pct", type=int, default=20)
    rp.add_argument("--baseline-mb", type=float, default=256.0, help="demand mapping: committed floor (MB)")
    rp.add_argument("--baseline-pct", type=float, default=10.0, help="demand mapping: %% of provisioned memory")
    rp.add_argument("--scale", type=float, default=1.5, help="demand mapping: multiplier on active memory")
    hv_replay.add_arguments(rp)
    outputs(rp)
    return p


#: The replay arguments that are not the library's: the command, the trace
#: directory (the library's path_or_dir) and the outputs.
_NOT_PASSED = ("command", "trace_dir", "csv", "plot", "no_progress", "counters", "pdh_csv")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "replay" and not args.counters and (args.trace_dir is None or args.physical_mb is None):
        parser.error("replay needs TRACE_DIR and --physical-mb, or --counters LOG.csv")
    try:
        if args.command == "demo":
            return cmd_run(args, reference_scenario())
        if args.command == "run":
            return cmd_run(args)
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
