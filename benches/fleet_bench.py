"""Fleet benchmarks (issue 12), every ratio measured in one run:

- **fleet tick** of ``hosts × per_host`` VMs against one host of all of them
  (ns per VM per tick; plentiful, contended and churn regimes);
- **churn**: every VM's demand jumps to a new random value every tick (the
  report's other regimes move demand a few % a tick), host and fleet;
- **placement** of all VMs onto the hosts: dynmem's `BestFit` (an ordered
  index in Rust) against a numpy best-fit scan (``argmin`` over the hosts
  per VM), the scan timed on a prefix of the VMs and scaled linearly (its
  cost per VM is constant for a fixed host count: that is its design);
- **start storm**: `start_vms` of half a host's VMs in one call, against
  that host's contended tick (ns per VM);
- **add_vms** of every VM by count (no Python object per VM);
- **threads**: each fleet/host tick at every count of ``--threads``.

    python benches/fleet_bench.py                      # 10k hosts × 100 VMs
    python benches/fleet_bench.py --hosts 1000 --per-host 100 --threads 1,2,4,8,16

Prints a Markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any, Callable

import numpy as np

import dynmem
from dynmem import _dynmem
from dynmem import placement as P


def best_of(f: Callable[[], Any], rounds: int, setup: Callable[[], Any] | None = None) -> float:
    """Least seconds of ``f`` over ``rounds`` calls (``setup`` before each, untimed)."""
    best = float("inf")
    for _ in range(rounds):
        if setup is not None:
            setup()
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def specs(n: int, rng: np.random.Generator) -> dict[str, Any]:
    weights = np.array([0, 100, 2000, 5000, 10000])
    return dict(startup_mb=512, minimum_mb=256, maximum_mb=8192,
                weight=np.where(np.arange(n) % 2 == 0, weights[rng.integers(0, 5, n)], rng.integers(0, 10001, n)))


def demands(n: int, regime: str, rng: np.random.Generator, rows: int = 4) -> list[np.ndarray]:
    if regime == "churn":
        return [rng.integers(0, 6000, n) for _ in range(rows)]
    base = 500 + rng.integers(0, 3000, n)
    return [base + base * (rng.integers(0, 61, n) - 30) // 1000 for _ in range(rows)]


PER_VM_MB = {"plentiful": 4096, "contended": 2000, "churn": 2600}
POL = dynmem.HyperVPolicy(boot_report_delay_s=0.0)


def one_host(n: int, regime: str, rng: np.random.Generator) -> dynmem.Host:
    h = dynmem.Host(n * PER_VM_MB[regime], reserve_mb=0, policy=POL)
    h.add_vms([f"v{i}" for i in range(n)], **specs(n, rng))
    h.start_vms()
    return h


def a_fleet(hosts: int, per_host: int, regime: str, rng: np.random.Generator) -> tuple[dynmem.Fleet, np.ndarray]:
    f = dynmem.Fleet(np.full(hosts, per_host * PER_VM_MB[regime]), reserve_mb=0, policy=POL)
    n = hosts * per_host
    ids = f.add_vms(n, **specs(n, rng))
    f.place(ids, P.WorstFit())  # spread: per_host on every host
    f.start_vms(ids)
    return f, ids


def tick_ns(obj: Any, rows: list[np.ndarray], n: int, rounds: int) -> float:
    k = [0]

    def setup() -> None:
        obj.set_demand_mb(rows[k[0] % len(rows)])
        k[0] += 1

    setup()
    obj.tick(1.0)
    return best_of(lambda: obj.tick(1.0), rounds, setup) / n * 1e9


def numpy_best_fit(free: np.ndarray, startup: np.ndarray) -> np.ndarray:
    """The peer: for each VM, the host with the least free memory that fits."""
    free = free.copy()
    out = np.full(len(startup), -1, dtype=np.int64)
    big = np.iinfo(np.int64).max
    for i, s in enumerate(startup):
        h = int(np.argmin(np.where(free >= s, free, big)))
        if free[h] >= s:
            free[h] -= s
            out[i] = h
    return out


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--per-host", type=int, default=100)
    ap.add_argument("--threads", default="1,2", help="thread counts to measure (comma-separated)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--peer-vms", type=int, default=20_000, help="VMs the numpy scan places (then scaled)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    threads = [int(t) for t in a.threads.split(",")]
    n = a.hosts * a.per_host
    rng = np.random.default_rng(1)
    lines = [
        f"# Fleet benchmarks: {a.hosts} hosts × {a.per_host} VMs = {n} VMs",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; vector path "
        f"{_dynmem.VECTOR_PATH}; pool threads {os.environ.get('DYNMEM_THREADS', 'all CPUs')}; "
        f"best of {a.rounds}; command: `python benches/fleet_bench.py --hosts {a.hosts} --per-host {a.per_host} "
        f"--threads {a.threads}`",
        "",
        "| what | threads | dynmem | peer | ratio |",
        "|---|---|---|---|---|",
    ]

    def row(what: str, t: Any, ours: str, peer: str, ratio: str) -> None:
        lines.append(f"| {what} | {t} | {ours} | {peer} | {ratio} |")
        print(lines[-1], flush=True)

    # add_vms and placement (one fleet, plentiful sizes).
    fleet = dynmem.Fleet(np.full(a.hosts, a.per_host * 4096), reserve_mb=0, policy=POL)
    t = time.perf_counter()
    ids = fleet.add_vms(n, startup_mb=512 + 2 * rng.integers(0, 512, n), maximum_mb=8192)
    add_s = time.perf_counter() - t
    row(f"add_vms of {n} VMs by count", "-", f"{add_s * 1e3:.0f} ms ({add_s / n * 1e9:.0f} ns/VM)", "-", "-")
    startup = 512 + 2 * np.random.default_rng(1).integers(0, 512, n)
    t = time.perf_counter()
    placed = fleet.place(ids, P.BestFit())
    place_s = time.perf_counter() - t
    m = min(a.peer_vms, n)
    t = time.perf_counter()
    peer = numpy_best_fit(np.full(a.hosts, a.per_host * 4096, dtype=np.int64), startup[:m])
    peer_s = (time.perf_counter() - t) * n / m
    assert (peer == placed[:m]).all(), "the peer and dynmem disagree"
    row(f"place {n} VMs on {a.hosts} hosts (BestFit)", "1", f"{place_s:.2f} s", f"{peer_s:.1f} s (numpy scan, {m} VMs × {n // m})",
        f"{peer_s / place_s:.0f}× faster")
    del fleet

    for regime in ("plentiful", "contended", "churn"):
        host = one_host(n, regime, rng)
        f, _ = a_fleet(a.hosts, a.per_host, regime, rng)
        rows = demands(n, regime, rng)
        for th in threads:
            host.threads = th
            f.threads = th
            h_ns = tick_ns(host, rows, n, a.rounds)
            f_ns = tick_ns(f, rows, n, a.rounds)
            row(f"tick, {regime}: fleet vs one host of {n} VMs (ns/VM)", th, f"{f_ns:.2f}", f"{h_ns:.2f} (one host)",
                f"{f_ns / h_ns:.2f}×")
        if regime == "contended":
            # Start storm: half a host's VMs in one call, against its contended tick.
            host.threads = 0
            c_ns = tick_ns(host, rows, n, a.rounds)
            half = host._core.ids()[: n // 2]
            def stop() -> None:
                host._core.stop_many(half)
            storm = best_of(lambda: host._core.start_many(half), a.rounds, stop) / len(half) * 1e9
            row(f"start storm: start_vms of {len(half)} VMs on one host (ns/VM)", "all", f"{storm:.2f}",
                f"{c_ns:.2f} (contended tick)", f"{storm / c_ns:.2f}×")
            fids = np.arange(n, dtype=np.uint64)[: n // 2]
            fstorm = best_of(lambda: f.start_vms(fids), a.rounds, lambda: f.stop_vms(fids)) / len(fids) * 1e9
            row(f"start storm: fleet start_vms of {len(fids)} VMs (ns/VM)", "all", f"{fstorm:.2f}",
                f"{c_ns:.2f} (contended tick)", f"{fstorm / c_ns:.2f}×")
        del host, f
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text)
    return text


if __name__ == "__main__":
    main()
