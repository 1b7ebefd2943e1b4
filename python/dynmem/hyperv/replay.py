"""``dynmem replay --counters LOG [--vms SETTINGS] [--physical-mb N]
[--csv FILE | --plot FILE | --pdh-csv FILE]``: a Hyper-V counter log
replayed on a host of another size (``dynmem.cli`` registers it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._console import Progress
from .._host import Host
from ..errors import ConfigError
from ..events import Event
from ..traces import vm_sizes
from ._pdh import read_counter_log
from ._settings import add_to, read_vm_settings

__all__ = ["add_arguments", "count_or_file", "cmd_replay_counters"]


def count_or_file(text: str) -> int | str:
    """``--vms``: a count (``N``, for a trace directory) or a settings file
    (with ``--counters``)."""
    return int(text) if text.strip().isdecimal() else text


def add_arguments(rp: "argparse._ActionsContainer") -> None:
    """The ``replay`` flags of counter logs."""
    rp.add_argument("--counters", metavar="LOG.csv",
                    help="replay a Hyper-V counter log (PDH-CSV: perfmon, relog, typeperf) instead of TRACE_DIR")
    rp.add_argument("--pdh-csv", metavar="FILE", help="write every Hyper-V counter of the replay as a PDH-CSV log")


def cmd_replay_counters(args: argparse.Namespace) -> int:
    """``replay --counters``: read the log (and ``--vms`` settings), size the
    host, start the VMs that ran, replay, report and write the outputs."""
    from .. import cli

    if args.trace_dir is not None:
        raise ConfigError(f"give TRACE_DIR or --counters, not both (got {args.trace_dir!r})", "counters", args.counters)
    if isinstance(args.vms, int):
        raise ConfigError(f"--vms must be a settings file (Get-VM/Get-VMMemory as JSON or CSV) with --counters, "
                          f"got {args.vms}", "vms", args.vms)
    cli._check_outputs(args)
    if args.pdh_csv:
        cli._check_writable("--pdh-csv", args.pdh_csv)
    log = read_counter_log(args.counters, tick_s=args.tick_s)
    settings = read_vm_settings(args.vms) if args.vms else None
    physical, reserve = args.physical_mb, args.reserve_mb
    if physical is None:
        if log.balancer_mb is None:
            raise ConfigError("--physical-mb is needed: the log has no 'Available Memory' of the Hyper-V Dynamic "
                              "Memory Balancer to tell the host's memory from", "physical_mb", None)
        physical, reserve = log.balancer_mb, 0 if reserve is None else reserve
    host = Host(physical_mb=physical, reserve_mb=reserve)
    if settings is not None:
        add_to(host, settings, order=log, start=False)
        running = {v.name.lower() for v in settings if v.running}
        starts = [vm.name for vm in host.vms if vm.name.lower() in running]
    else:
        sizes = vm_sizes(log, startup_mb=args.startup_mb, minimum_mb=args.minimum_mb,
                         balloon_unit_mb=host.policy.balloon_unit_mb)
        host.add_vms(list(log.names), startup_mb=[s["startup_mb"] for s in sizes],
                     minimum_mb=[s["minimum_mb"] for s in sizes], maximum_mb=[s["maximum_mb"] for s in sizes],
                     buffer_pct=args.buffer_pct)
        starts = list(log.names)
    events = [Event(0, name, "start") for name in starts]
    before = [vm.counters for vm in host.vms]
    big = log.ticks * log.vms >= cli.PROGRESS_MIN_VM_TICKS
    progress = Progress(sys.stderr, enabled=big and not args.no_progress)
    with progress.stage("running", "ticks") as update:
        timeline = host.run(log.demand_mb, log.tick_s, events, 1, update, record_counters=bool(args.pdh_csv))
    source = f"{log.vms} VMs from {args.counters} ({log.ticks} samples of {log.tick_s:g} s"
    print(f"replayed {source}, computers {', '.join(log.computers or [])}) on {physical} MB"
          + (f", settings from {args.vms}" if settings is not None else "") + "\n")
    repairs = log.repairs + (settings.repairs if settings is not None else [])
    if repairs:
        print(f"repairs: {len(repairs)} (first: {repairs[0]})\n")
    print(cli.summary(host, timeline, before))
    cli._outputs(args, timeline, f"replay of {Path(args.counters).name}", progress)
    if args.pdh_csv:
        computer = log.computers[0] if log.computers and len(log.computers) == 1 else "REPLAY"
        timeline.to_pdh_csv(args.pdh_csv, computer=computer, start_s=log.start_s, bias_min=log.bias_min,
                            timezone=log.timezone or "Coordinated Universal Time")
        print(f"wrote {args.pdh_csv}")
    return 0

