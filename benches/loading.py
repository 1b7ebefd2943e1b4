"""Trace loading speed: dynmem's loaders against ``pandas.read_csv`` on the
same files, in one run (issue 14). Writes ``benches/LOADING.md``.

    python benches/loading.py                 # the shared Bitbrains sets found
    python benches/loading.py --quick         # one repeat, 10 files: smoke only
    python benches/loading.py --dir DIR ...   # other directories of .csv/.csv.gz

Rows, each timed as the minimum wall time over repeats, with the process's
CPU time beside it (the machine is shared: CPU time says what the work costs
where wall time says what it took):

* ``dynmem load_bitbrains``: the whole loader, from the ``.csv.gz`` files to
  the `Trace` (gunzip, the Rust table parser on a thread per CPU, the checks,
  repairs and their log, the time grid, the demand mapping).
* ``pandas read_csv (gz)``: ``pandas.read_csv(file, sep=";")`` per file from
  the same ``.csv.gz`` (gunzip and parse only: no checks, no grid).
* ``dynmem parse_table``: the Rust table parser alone on the uncompressed
  bytes in memory, one thread; ``pandas read_csv (bytes)``: pandas' C parser
  on the same bytes (``engine="c"``, the default).

MB/s are of uncompressed CSV. The goal of issue 14 was the 1,250-VM
fastStorage set in under 5 s on a 2-core machine; where only other sets are
present, the report projects that set's time from the measured time per VM
(the fastStorage files have the same rows per VM as Rnd's).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

from dynmem import _dynmem
from dynmem.traces import load_bitbrains

GOAL_VMS, GOAL_S = 1250, 5.0
ROOTS = [os.environ.get("DYNMEM_TRACES"), Path(__file__).resolve().parents[1] / ".." / "shared" / "traces",
         "/work/shared/traces"]


def _sets() -> list[Path]:
    for root in ROOTS:
        if root and Path(root).is_dir():
            return sorted(p for p in Path(root).iterdir() if p.is_dir() and any(p.glob("*.csv*")))
    return []


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Minimum wall and the CPU time of that run, seconds."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if w < best[0]:
            best = (w, c)
    return best


def measure(files: list[Path], repeats: int) -> dict[str, Any]:
    import pandas as pd

    raw = [gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes() for f in files]
    mb = sum(len(r) for r in raw) / 1e6
    bodies = [(r[r.find(b"\n") + 1 :], len(r[: r.find(b"\n")].split(b";"))) for r in raw]

    def dynmem_load() -> None:
        load_bitbrains(files, on_long_gap="hold")

    def pandas_gz() -> None:
        for f in files:
            pd.read_csv(f, sep=";")

    def dynmem_parse() -> None:
        for body, n in bodies:
            _dynmem.parse_table(body, 2, n, [0, 5, 6], ";", None, False, False)

    def pandas_bytes() -> None:
        for r in raw:
            pd.read_csv(io.BytesIO(r), sep=";")

    rows = {}
    for name, fn in (("dynmem load_bitbrains", dynmem_load), ("pandas read_csv (gz)", pandas_gz),
                     ("dynmem parse_table", dynmem_parse), ("pandas read_csv (bytes)", pandas_bytes)):
        fn()  # warm-up (imports, page cache)
        rows[name] = _time(fn, repeats)
    return {"files": len(files), "mb": mb, "rows": rows, "pandas": pd.__version__}


def report(results: dict[str, dict[str, Any]], repeats: int) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    out = [
        "# Trace loading: dynmem against pandas.read_csv",
        "",
        f"`python benches/loading.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} at the end (a shared machine: wall times vary with the other work, CPU times less); "
        f"minimum of {repeats} runs, CPU = the process's CPU time in that run (all threads).",
        "",
    ]
    for name, r in results.items():
        mb, n = r["mb"], r["files"]
        out += [f"## {name}: {n} VMs, {mb:.1f} MB of CSV (pandas {r['pandas']})", "",
                "| | wall s | MB/s (wall) | CPU s | MB/s (CPU) | vs pandas: wall | vs pandas: CPU |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        pairs = {"dynmem load_bitbrains": "pandas read_csv (gz)", "dynmem parse_table": "pandas read_csv (bytes)"}
        for row, (w, c) in r["rows"].items():
            peer = pairs.get(row)
            ratio = f"{r['rows'][peer][0] / w:.1f}x | {r['rows'][peer][1] / c:.1f}x" if peer else " | "
            out.append(f"| {row} | {w:.3f} | {mb / w:.0f} | {c:.3f} | {mb / c:.0f} | {ratio} |")
        w, c = r["rows"]["dynmem load_bitbrains"]
        out += ["", f"Per VM: {w / n * 1000:.1f} ms wall, {c / n * 1000:.1f} ms CPU. The {GOAL_VMS}-VM goal "
                f"(< {GOAL_S:g} s) projected from this set: {w / n * GOAL_VMS:.1f} s wall here, "
                f"{c / n * GOAL_VMS / min(2, os.cpu_count() or 1):.1f} s if the CPU time spread evenly over 2 "
                f"cores; {'met' if w / n * GOAL_VMS < GOAL_S else 'not met'} on this run's wall time.", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", action="append", help="a directory of .csv/.csv.gz files (default: the shared sets)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="10 files, one repeat: a smoke test")
    ap.add_argument("--out", default=str(Path(__file__).with_name("LOADING.md")))
    args = ap.parse_args(argv)
    dirs = [Path(d) for d in args.dir] if args.dir else _sets()
    if not dirs:
        print("no trace sets found (set DYNMEM_TRACES)", file=sys.stderr)
        return 1
    repeats = 1 if args.quick else args.repeats
    results = {}
    for d in dirs:
        files = sorted(p for p in d.iterdir() if p.name.endswith((".csv", ".csv.gz")))
        if args.quick:
            files = files[:10]
        results[d.name] = measure(files, repeats)
        w = results[d.name]["rows"]["dynmem load_bitbrains"][0]
        print(f"{d.name}: {len(files)} files in {w:.3f} s", file=sys.stderr)
    text = report(results, repeats)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

