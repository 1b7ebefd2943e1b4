"""How long `dynmem replay --csv` spends writing: the 30-day, 100-VM Bitbrains
replay at 60 s (4.3 M lines), written by `dynmem.export.write_csv` (numpy,
vectorised) and, in the same run, by the row-by-row `csv.writer` loop it
replaced (``--old``, ~40 s) and by polars' `write_csv` where installed.

    python benches/export_csv.py [TRACE_DIR] [--rounds 3] [--old]

Prints wall and CPU seconds per round and the load average (on a shared
machine the wall time is the CPU time plus waiting for a core).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import dynmem
from dynmem.export import write_csv
from dynmem.timeline import STATUS_NAMES
from dynmem.traces import add_trace_vms, load_bitbrains

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import trace_dir  # noqa: E402


def old_writer(tl: dynmem.Timeline, path: str) -> None:
    """The writer before issue 15 (one Python row per line)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        paging = tl.paging_mb
        for r in range(tl.rows):
            for j, name in enumerate(tl.names):
                w.writerow([int(tl.tick[r]), f"{tl.time_s[r]:g}", name, int(tl.demand_mb[r, j]),
                            int(tl.assigned_mb[r, j]), int(tl.visible_mb[r, j]), int(tl.target_mb[r, j]),
                            f"{tl.pressure[r, j]:.2f}", STATUS_NAMES[int(tl.status[r, j])], int(paging[r, j]),
                            int(tl.available_mb[r])])


def timed(name: str, fn, rounds: int) -> None:
    for i in range(rounds):
        w, c = time.perf_counter(), time.process_time()
        fn()
        print(f"{name:<22} round {i + 1}: wall {time.perf_counter() - w:6.2f} s  cpu {time.process_time() - c:6.2f} s"
              f"  (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("trace_dir", nargs="?", default=str(trace_dir()))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--old", action="store_true", help="also time the row-by-row writer (slow)")
    a = p.parse_args()
    trace = load_bitbrains(a.trace_dir, tick_s=60.0, on_long_gap="hold")
    host = dynmem.Host(256 * 1024)
    add_trace_vms(host, trace)
    host.start_vms()
    tl = host.run(trace)
    print(f"{tl.rows:,} rows x {len(tl.names)} VMs = {tl.rows * len(tl.names):,} lines")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "t.csv")
        timed("dynmem write_csv", lambda: write_csv(tl, out), a.rounds)
        print(f"{os.path.getsize(out):,} bytes")
        try:
            df = tl.to_polars()
            timed("polars write_csv", lambda: df.write_csv(out), a.rounds)
        except ImportError:
            pass
        if a.old:
            timed("row-by-row csv.writer", lambda: old_writer(tl, out), 1)


if __name__ == "__main__":
    main()
