"""A/B: two builds of dynmem on the same inputs, interleaved, in one sitting.

For a change that must not change speed (a refactor), a single report before
and one after are too noisy on a small shared machine: load drifts between
runs. This script alternates the two builds round by round (A B, B A, A B,
...), each round in a fresh process per build, each figure the minimum of
its repeats within that process; it reports the median over rounds of each
figure for A and B and their ratio.

    python benches/ab.py --a /path/to/old/venv/bin/python --b python --rounds 7 --out /tmp/ab.md

``--suite ffi`` measures only what crosses the Python/Rust boundary (handle
reads and writes, bulk get/set of 1M demands, small ticks, a short
``Host.run``): where two builds of the same core differ in their binding
only, e.g. a per-version build against an abi3 build (``benches/ABI3.md``).
``--suite avx2`` measures the AVX2 form on one thread, the figures issue 17
sets goals for (``benches/ISA.md``).

Each interpreter must import its own `dynmem` (e.g. a wheel of the old commit
in a virtual environment); the inputs come from this directory's
`_common.py` for both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SIZES = (10_000, 100_000)


def measure(budget_s: float) -> dict[str, float]:
    """One process's figures (ns per VM per operation; M VM-ticks/s for run)."""
    import numpy as np

    import _common as C
    from run import time_storm, time_ticks

    out: dict[str, float] = {}
    for n in SIZES:
        spec_p = C.make_spec(n, "plentiful")
        spec_c = C.switch_regime(spec_p, "contended")
        d = C.make_driver("dynmem", spec_p)
        for regime, spec in (("plentiful", spec_p), ("contended", spec_c)):
            if d.spec is not spec:
                d.use(spec)
                d.warm()
            for label, threads, cap in (("", 0, "avx512"), (" 1 thread", 1, "avx512"), (" AVX2", 0, "avx2"), (" scalar", 0, "scalar")):
                d.host.threads = threads
                d.host._core._set_vector_cap(cap)
                out[f"{regime} {n // 1000}k{label}"] = time_ticks(d, 300, budget_s)[0] / n
            d.host.threads = 0
            d.host._core._set_vector_cap("avx512")
        out[f"storm {n // 1000}k"] = time_storm(d, 30, budget_s)[0] / n
        if n == SIZES[0]:
            for regime, spec in (("plentiful", spec_p), ("contended", spec_c)):
                demand = np.stack([spec.rows[k % C.ROWS] for k in range(600)])
                best = float("inf")
                for _ in range(3):
                    t0 = time.perf_counter()
                    d.host.run(demand, dt_s=1.0, record_every=60)
                    best = min(best, time.perf_counter() - t0)
                out[f"Host.run {regime} 10k (M VM-ticks/s)"] = 600 * n / best / 1e6
            vm = d.handles[0]
            out["handle read (ns)"] = min(_handle_read(vm) for _ in range(5))
    return out


def measure_ffi(budget_s: float) -> dict[str, float]:
    """One process's figures for the binding alone: ns per call for a handle
    read or write, ms for a bulk call on 1M VMs, µs for a tick of 1k VMs."""
    import numpy as np

    import _common as C
    import dynmem

    n = 1_000_000
    host = dynmem.Host(physical_mb=n * 4096, reserve_mb=0, policy=dynmem.HyperVPolicy(**C.POLICY))
    host.add_vms([f"vm{i}" for i in range(n)], startup_mb=512, minimum_mb=256, maximum_mb=8192)
    host.start_vms()
    demand = np.random.default_rng(1).integers(200, 4000, n)
    host.set_demand_mb(demand)
    host.tick(1.0)
    vm = host.vms[n // 2]
    out: dict[str, float] = {}

    def per_call_ns(stmt: str, reps: int = 20_000) -> float:
        code = compile(f"for _ in range({reps}): {stmt}", "<ab>", "exec")
        env = {"vm": vm, "host": host}
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter_ns()
            exec(code, env)
            best = min(best, (time.perf_counter_ns() - t0) / reps)
        return best

    for label, stmt in (
        ("handle read vm.assigned_mb (ns)", "vm.assigned_mb"),
        ("handle read vm.name (ns)", "vm.name"),
        ("handle read vm.state (ns)", "vm.state"),
        ("handle write vm.demand_mb = 1000 (ns)", "vm.demand_mb = 1000"),
        ("vm.counters dict (ns)", "vm.counters"),
    ):
        out[label] = per_call_ns(stmt)
    ms = 1e6
    out["bulk set_demand_mb 1M (ms)"] = C.best_ns(lambda: host.set_demand_mb(demand), reps=30, budget_s=budget_s, warmup=2)[0] / ms
    out["bulk demand_mb get 1M (ms)"] = C.best_ns(lambda: host.demand_mb, reps=30, budget_s=budget_s, warmup=2)[0] / ms
    out["bulk assigned_mb get 1M (ms)"] = C.best_ns(lambda: host.assigned_mb, reps=30, budget_s=budget_s, warmup=2)[0] / ms
    out["bulk status_codes get 1M (ms)"] = C.best_ns(lambda: host.status_codes, reps=30, budget_s=budget_s, warmup=2)[0] / ms
    del host, vm
    small = dynmem.Host(physical_mb=1000 * 4096, reserve_mb=0, policy=dynmem.HyperVPolicy(**C.POLICY))
    small.add_vms([f"vm{i}" for i in range(1000)], startup_mb=512, minimum_mb=256, maximum_mb=8192)
    small.start_vms()
    small.set_demand_mb(demand[:1000])
    out["tick 1k VMs (µs)"] = C.best_ns(lambda: small.tick(1.0), reps=2000, budget_s=budget_s, warmup=5)[0] / 1e3
    rows = np.stack([demand[:1000]] * 600)
    out["Host.run 1k VMs x 600 ticks (ms)"] = C.best_ns(lambda: small.run(rows, dt_s=1.0, record_every=60), reps=20, budget_s=budget_s)[0] / ms
    return out


def measure_avx2(budget_s: float) -> dict[str, float]:
    """One process's figures for the goals issue 17 sets the AVX2 form on one
    thread (ns per VM per tick; M VM-ticks/s for ``Host.run``), with the
    streaming floor and the numpy peer they are judged against."""
    import numpy as np

    import _common as C
    from run import time_ticks

    out: dict[str, float] = {}
    for n in SIZES:
        spec_p = C.make_spec(n, "plentiful")
        spec_c = C.switch_regime(spec_p, "contended")
        d = C.make_driver("dynmem", spec_p)
        d.host.threads = 1
        d.host._core._set_vector_cap("avx2")
        for regime, spec in (("plentiful", spec_p), ("contended", spec_c)):
            if d.spec is not spec:
                d.use(spec)
                d.warm()
            out[f"{regime} {n // 1000}k AVX2 1 thread"] = time_ticks(d, 300, budget_s)[0] / n
            if n == SIZES[0]:
                demand = np.tile(spec.rows, (600 // C.ROWS + 1, 1))[:600]
                best = C.best_ns(lambda: d.host.run(demand, dt_s=1.0, record_every=60), reps=10, budget_s=budget_s)[0]
                out[f"Host.run {regime} 10k AVX2 1 thread (M VM-ticks/s)"] = 600 * n / best * 1e3
        if n == SIZES[-1]:
            out[f"floor {n // 1000}k"] = C.best_ns(C.floor_for(spec_c).run, reps=1000, budget_s=budget_s, warmup=3)[0] / n
            peer = C.make_driver("numpy", spec_c)
            peer.warm()
            out[f"numpy contended {n // 1000}k"] = time_ticks(peer, 30, budget_s)[0] / n
    return out


def _handle_read(vm: Any) -> float:
    reps = 20_000
    t0 = time.perf_counter_ns()
    for _ in range(reps):
        vm.assigned_mb
    return (time.perf_counter_ns() - t0) / reps


def _worker(python: str, budget_s: float, suite: str) -> dict[str, float]:
    cmd = [python, os.path.abspath(__file__), "--measure", "--suite", suite, "--budget-s", str(budget_s)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=HERE)
    figures: dict[str, float] = json.loads(res.stdout.strip().splitlines()[-1])
    return figures


def _version(python: str) -> str:
    code = "import dynmem, dynmem._dynmem as d; print(dynmem.__file__, d.VECTOR_PATH)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", default=sys.executable, help="interpreter of build A (before)")
    p.add_argument("--b", default=sys.executable, help="interpreter of build B (after)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--budget-s", type=float, default=0.4, help="time budget per figure per process")
    p.add_argument("--out", default=None, help="write the markdown table here too")
    p.add_argument("--suite", choices=("all", "ffi", "avx2"), default="all",
                   help="ffi: the binding's calls only; avx2: issue 17's AVX2 one-thread goals")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        suites = {"all": measure, "ffi": measure_ffi, "avx2": measure_avx2}
        print(json.dumps(suites[args.suite](args.budget_s)))
        return 0
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    start = time.time()
    for r in range(args.rounds):
        order = ("A", "B") if r % 2 == 0 else ("B", "A")
        for side in order:
            runs[side].append(_worker(args.a if side == "A" else args.b, args.budget_s, args.suite))
        print(f"round {r + 1}/{args.rounds} done ({time.time() - start:.0f} s)", file=sys.stderr)
    keys = list(runs["A"][0])
    lines = [
        f"A: {_version(args.a)}  ",
        f"B: {_version(args.b)}  ",
        f"{args.rounds} rounds, alternating order; each figure the median over rounds of a per-process minimum.",
        f"Load average after: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs.",
        "",
        "| figure | A | B | B ÷ A | spread of A (max/min over rounds) |",
        "|---|---:|---:|---:|---:|",
    ]
    for k in keys:
        a = [x[k] for x in runs["A"]]
        b = [x[k] for x in runs["B"]]
        ma, mb = statistics.median(a), statistics.median(b)
        lines.append(f"| {k} | {ma:.2f} | {mb:.2f} | {mb / ma:.3f} | {max(a) / min(a):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
