"""One command for the whole benchmark report: ``python benches/run.py [--quick]``.

Runs every measurement in this one process, on the same inputs for every
implementation, with its own timing (``time.perf_counter_ns``, warm-up
calls, the minimum over repeats), and writes ``benches/RESULTS.md``:
machine, ns per VM per tick for dynmem / numpy / pure Python / the
streaming floor, the ratios, ``Host.run`` throughput, bulk get/set, handle
reads, build costs, and every target of the issue with PASS/FAIL as
measured in this run. ``--quick`` uses tiny sizes and budgets (the CI smoke
test runs it; its times mean nothing). See ``benches/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import os
import platform
import subprocess
import sys
import time
import timeit
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common as C  # noqa: E402
import regimes as R  # noqa: E402


@dataclass
class Mode:
    sizes: tuple[int, ...]
    ref_size: int  # the pure-Python reference runs at this size only
    run_vms: int  # Host.run host size
    run_ticks: int
    record_every: int
    bulk_size: int  # bulk get/set measured on the host of this size (the largest)
    target_size: int  # size at which the contended-tick targets are judged
    floor_sizes: tuple[int, ...]  # sizes at which "plentiful within 3x of floor" is judged
    tick_reps: int
    tick_budget_s: float
    replay: tuple[int, int, int | None]  # replay/churn regimes: VMs, 5-minute samples, trace files (None: all)
    numpy_budget_s: float
    storm_reps: int
    storm_budget_s: float
    bulk_reps: int
    handle_number: int


FULL = Mode(
    sizes=(1_000, 10_000, 100_000, 1_000_000),
    ref_size=1_000,
    run_vms=10_000,
    run_ticks=600,
    record_every=60,
    bulk_size=1_000_000,
    target_size=100_000,
    floor_sizes=(100_000, 1_000_000),
    tick_reps=300,
    tick_budget_s=2.0,
    replay=(100_000, 4, None),
    numpy_budget_s=3.0,
    storm_reps=30,
    storm_budget_s=3.0,
    bulk_reps=50,
    handle_number=200_000,
)
QUICK = Mode(
    sizes=(30, 2_000),
    ref_size=30,
    run_vms=2_000,
    run_ticks=120,
    record_every=60,
    bulk_size=2_000,
    target_size=2_000,
    floor_sizes=(2_000,),
    tick_reps=5,
    tick_budget_s=0.05,
    replay=(2_000, 1, 5),
    numpy_budget_s=0.05,
    storm_reps=3,
    storm_budget_s=0.05,
    bulk_reps=5,
    handle_number=2_000,
)

# --------------------------------------------------------------------------
# machine description
# --------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    import dynmem

    info: dict[str, str] = {}
    cpuinfo = _read("/proc/cpuinfo")
    info.update(R.cpu_description(cpuinfo or None))
    info["logical CPUs"] = str(os.cpu_count())
    caches = []
    for idx in range(8):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{idx}/"
        level, kind, size = _read(base + "level").strip(), _read(base + "type").strip(), _read(base + "size").strip()
        if level and kind != "Instruction":
            caches.append(f"L{level} {size}")
    if caches:
        info["caches (per cpu0)"] = ", ".join(caches)
    mem = [ln for ln in _read("/proc/meminfo").splitlines() if ln.startswith("MemTotal")]
    if mem:
        kb = int(mem[0].split()[1])
        info["RAM"] = f"{kb / 2**20:.1f} GiB"
    info["OS"] = platform.platform()
    info["Python"] = platform.python_version()
    info["numpy"] = np.__version__
    info["dynmem"] = getattr(dynmem, "__version__", "?")
    from dynmem import _dynmem

    info["dynmem hot loops"] = f"{_dynmem.VECTOR_PATH} (the `dynmem` columns; the `AVX2` and `scalar` columns cap them)"
    assert _dynmem.PARALLEL_MIN_VMS == PARALLEL_MIN, "benches/run.py: PARALLEL_MIN is stale"
    info["dynmem threads"] = f"{threads_used()} for hosts of ≥ {_size(PARALLEL_MIN)} VMs (the core's pool), else 1"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "rust", "python"], cwd=HERE, capture_output=True, text=True, timeout=10)
        if rev.returncode == 0:
            info["dynmem commit"] = rev.stdout.strip() + (" + uncommitted changes to rust/ or python/" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    info["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    info["load average at start (1/5/15 min)"] = _load()
    return info


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return "?"


# --------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def time_ticks(d: C.Driver, reps: int, budget_s: float, warmup: int = 1) -> tuple[int, int, int]:
    """One tick of ``d``; the next demand row is set (untimed) before each."""
    return C.summary(tick_samples(d, reps, budget_s, warmup))


def tick_samples(d: C.Driver, reps: int, budget_s: float, warmup: int = 1) -> list[int]:
    """[`time_ticks`]'s wall times in ns."""
    h = d.host

    def setup() -> None:
        h.set_demand_mb(d.rows[d.k % C.ROWS])
        d.k += 1

    return C.samples_ns(lambda: h.tick(1.0), reps=reps, budget_s=budget_s, setup=setup, warmup=warmup)


#: Rounds over the one-tick rows of a size and regime (see `measure`).
ROUNDS = 3


def time_storm(d: C.Driver, reps: int, budget_s: float) -> tuple[int, int, int]:
    """Start every storm VM and tick; the reset (stop them, tick) is untimed."""
    stormed = [False]

    def setup() -> None:
        if stormed[0]:
            d.unstorm()
        stormed[0] = True

    r = C.best_ns(d.storm, reps=reps, budget_s=budget_s, setup=setup)
    d.unstorm()
    return r


class Report:
    def __init__(self, mode: Mode, quick: bool) -> None:
        self.mode, self.quick = mode, quick
        self.tick: dict[tuple[str, str, int], tuple[int, int, int]] = {}  # (impl, regime, n) -> ns
        self.notes: list[str] = []
        self.build: list[tuple[int, str, dict[str, Any]]] = []
        self.run: dict[str, Any] = {}
        self.bulk: dict[str, tuple[int, int, int]] = {}
        self.handle: dict[str, float] = {}
        self.stages: dict[tuple[str, int], str] = {}
        self.heap: dict[int, int] = {}  # n -> Host.heap_bytes after contended ticks
        self.policy: dict[str, tuple[int, int, int]] = {}  # built-in policy -> contended tick at target_size
        self.user: dict[str, float] = {}  # the numpy user policy's tick, its own work, dynmem's share (ns)
        self.regimes: dict[str, Any] = {}  # replay and churn (regimes.py)
        self.state_bytes = (0, 0)  # StateFloor: bytes read, written per VM

    def per_vm(self, impl: str, regime: str, n: int) -> float | None:
        r = self.tick.get((impl, regime, n))
        return None if r is None else r[0] / n


def measure(mode: Mode, quick: bool, reference: str) -> Report:
    import dynmem  # noqa: F401  (fail early if the extension is missing)
    from dynmem import _dynmem

    rep = Report(mode, quick)
    keep: dict[int, C.Driver] = {}
    for n in mode.sizes:
        # ---- plentiful and contended share one host per implementation ------
        spec_p = C.make_spec(n, "plentiful")
        spec_c = C.switch_regime(spec_p, "contended")
        tm: dict[str, Any] = {}
        log(f"n={n}: building dynmem host")
        d = C.make_driver("dynmem", spec_p, tm)
        rep.build.append((n, "plentiful/contended", tm))
        log(f"n={n}: built in {tm['build_s']:.2f} s ({tm['add_path']} {tm['add_s']:.2f} s, start {tm['start_s']:.2f} s)")
        npd = C.make_driver("numpy", spec_p)
        floor = C.floor_for(spec_c)
        budget = mode.tick_budget_s
        for regime, spec in (("plentiful", spec_p), ("contended", spec_c)):
            for drv in (d, npd):
                if drv.spec is not spec:
                    drv.use(spec)
                    drv.warm()
            # Each row's repeats in ROUNDS rounds over all the rows, so that a
            # few seconds in which the machine is slower (the other vCPU
            # taken, on a shared host) cannot make a whole row's minimum.
            rows: list[tuple[tuple[str, str, int], Callable[[int, float], list[int]]]] = []

            def dynmem_row(threads: int, cap: str) -> Callable[[int, float], list[int]]:
                def run(reps: int, budget_s: float) -> list[int]:
                    d.host.threads = threads
                    d.host._core._set_vector_cap(cap)
                    try:
                        return tick_samples(d, reps, budget_s)
                    finally:
                        d.host.threads = 0
                        d.host._core._set_vector_cap("avx512")

                return run

            rows.append((("dynmem", regime, n), dynmem_row(0, "avx512")))
            # Large hosts tick on every CPU by default: the same host on one
            # thread, for the single-threaded comparison.
            if n >= _dynmem.PARALLEL_MIN_VMS:
                rows.append((("1 thread", regime, n), dynmem_row(1, "avx512")))
            # The same host capped to the AVX2 forms (what an x86 CPU without
            # AVX-512 runs) and to the portable scalar forms (any other CPU).
            for cap in ("avx2", "scalar"):
                rows.append(((cap, regime, n), dynmem_row(0, cap)))
            if n == mode.target_size:  # issue 17's goals: the AVX2 forms on one thread
                rows.append(((R.AVX2_1T, regime, n), dynmem_row(1, "avx2")))
            rows.append((("numpy", regime, n), lambda reps, _b: tick_samples(npd, reps, mode.numpy_budget_s / ROUNDS)))
            # The floors too: a ratio's two sides from the same rounds.
            rows.append((("floor", regime, n), lambda _r, _b: C.samples_ns(floor.run, reps=334, budget_s=0.5 / ROUNDS, warmup=3)))
            state = None
            if regime == "plentiful" and n == mode.target_size:
                from floor import StateFloor

                state = StateFloor(n)
                rep.state_bytes = (state.bytes_read, state.bytes_written)
                run_state = state.run
                rows.append((("state floor", regime, n), lambda _r, _b: C.samples_ns(run_state, reps=100, budget_s=0.5 / ROUNDS, warmup=3)))
            samples: dict[tuple[str, str, int], list[int]] = {key: [] for key, _ in rows}
            for _ in range(ROUNDS):
                for key, row in rows:
                    samples[key] += row(-(-mode.tick_reps // ROUNDS), budget / ROUNDS)
            for key, times in samples.items():
                rep.tick[key] = C.summary(times)
            if n < _dynmem.PARALLEL_MIN_VMS:
                rep.tick[("1 thread", regime, n)] = rep.tick[("dynmem", regime, n)]
            rep.stages[(regime, n)] = {0: "target", 1: "demand + buffer fill", 2: "minimum + demand fill"}.get(npd.host.last_stage, "?")
            del state
            log(f"n={n} {regime}: dynmem {rep.per_vm('dynmem', regime, n):.2f} ns/VM, numpy {rep.per_vm('numpy', regime, n):.2f}, floor {rep.per_vm('floor', regime, n):.3f}")
        rep.tick[("floor", "storm", n)] = rep.tick[("floor", "contended", n)]
        rep.heap[n] = d.host.heap_bytes  # after contended ticks: the solver's scratch is grown
        if n == mode.run_vms:
            keep[n] = d
        if n == mode.bulk_size:
            keep[-1] = d
        del npd
        # ---- pure-Python reference ----------------------------------------
        if n == mode.ref_size and reference != "none":
            ref = C.make_driver("reference", spec_p)
            rep.tick[("reference", "plentiful", n)] = time_ticks(ref, 50, 3.0)
            log(f"n={n} plentiful: reference {rep.per_vm('reference', 'plentiful', n):.0f} ns/VM")
            if reference == "all":
                # A contended tick takes minutes at 1k VMs (unit-at-a-time
                # fill): one timed tick, no warm-up ticks.
                ref = C.Driver("reference", C.build_reference(spec_c), spec_c)
                log(f"n={n} contended: reference, one tick (slow)")
                rep.tick[("reference", "contended", n)] = time_ticks(ref, 1, 0.0, warmup=0)
                log(f"n={n} contended: reference {rep.per_vm('reference', 'contended', n):.0f} ns/VM")
            del ref
        # ---- start storm -----------------------------------------------------
        spec_s = C.make_spec(n, "storm")
        tm = {}
        ds = C.make_driver("dynmem", spec_s, tm)
        rep.build.append((n, "storm", tm))
        rep.tick[("dynmem", "storm", n)] = time_storm(ds, mode.storm_reps, mode.storm_budget_s)
        del ds
        npd = C.make_driver("numpy", spec_s)
        rep.tick[("numpy", "storm", n)] = time_storm(npd, mode.storm_reps, mode.storm_budget_s)
        del npd
        log(f"n={n} storm: dynmem {rep.per_vm('dynmem', 'storm', n):.2f} ns/VM, numpy {rep.per_vm('numpy', 'storm', n):.2f}")
        if n == mode.ref_size and reference == "all":
            ref = C.make_driver("reference", spec_s)
            log(f"n={n} storm: reference, one storm (slow)")
            rep.tick[("reference", "storm", n)] = C.best_ns(ref.storm, reps=1, budget_s=0.0, warmup=0)
            log(f"n={n} storm: reference {rep.per_vm('reference', 'storm', n):.0f} ns/VM")
            del ref
        if n != mode.run_vms and n != mode.bulk_size:
            del d
        gc.collect()

    # ---- Host.run -------------------------------------------------------------
    n, ticks = mode.run_vms, mode.run_ticks
    d = keep.get(n) or C.make_driver("dynmem", C.make_spec(n, "plentiful"))
    for regime in ("plentiful", "contended"):
        spec = C.switch_regime(d.spec, regime)
        d.use(spec)
        d.warm()
        demand = np.tile(spec.rows, (ticks // C.ROWS + 1, 1))[:ticks]
        h = d.host
        # Both forms in rounds, as the one-tick rows.
        runs: dict[str, list[int]] = {regime: [], "avx2 " + regime: []}
        for _ in range(ROUNDS):
            for key, cap in ((regime, "avx512"), ("avx2 " + regime, "avx2")):
                h._core._set_vector_cap(cap)
                runs[key] += C.samples_ns(lambda: h.run(demand, dt_s=1.0, record_every=mode.record_every),
                                          reps=-(-10 // ROUNDS), budget_s=3.0 / ROUNDS)
        h._core._set_vector_cap("avx512")
        for key, times in runs.items():
            rep.run[key] = C.summary(times)
        r = rep.run[regime]
        log(f"Host.run {regime}: {n * ticks / r[0] * 1e9 / 1e6:.0f} M VM-ticks/s, "
            f"AVX2 {n * ticks / rep.run['avx2 ' + regime][0] * 1e9 / 1e6:.0f} M")
        # numpy peer: the same loop in Python, recording the same series
        npd = C.make_driver("numpy", spec)
        nh = npd.host

        def np_run() -> None:
            rec = []
            for k in range(ticks):
                nh.set_demand_mb(demand[k])
                nh.tick(1.0)
                if k % mode.record_every == 0:
                    rec.append((nh.demand.copy(), nh.assigned.copy(), nh.visible.copy()))

        rep.run["numpy " + regime] = C.best_ns(np_run, reps=2, budget_s=1.0, warmup=0)
        del npd
    # ---- bulk API -------------------------------------------------------------
    d = keep.get(-1) or d
    h = d.host
    n = len(h)
    row = d.spec.rows[0]
    rep.run["bulk_n"] = n
    rep.bulk["set_demand_mb"] = C.best_ns(lambda: h.set_demand_mb(row), reps=mode.bulk_reps, budget_s=2.0, warmup=2)
    rep.bulk["demand_mb (get)"] = C.best_ns(lambda: h.demand_mb, reps=mode.bulk_reps, budget_s=2.0, warmup=2)
    rep.bulk["assigned_mb (get)"] = C.best_ns(lambda: h.assigned_mb, reps=mode.bulk_reps, budget_s=2.0, warmup=2)
    log("bulk: " + ", ".join(f"{k} {v[0] / 1e6:.3f} ms" for k, v in rep.bulk.items()))
    # ---- one attribute read through a handle -------------------------------
    vm = d.handles[n // 2]

    class Plain:
        __slots__ = ("assigned_mb",)

    plain = Plain()
    plain.assigned_mb = 1
    for label, stmt, g in (
        ("vm.assigned_mb", "vm.assigned_mb", {"vm": vm}),
        ("vm.demand_mb", "vm.demand_mb", {"vm": vm}),
        ("vm.weight", "vm.weight", {"vm": vm}),
        ("vm.demand_mb = 1000 (write)", "vm.demand_mb = 1000", {"vm": vm}),
        ("plain Python slot (baseline)", "o.assigned_mb", {"o": plain}),
    ):
        t = timeit.Timer(stmt, globals=g).repeat(repeat=7, number=mode.handle_number)
        rep.handle[label] = min(t) / mode.handle_number * 1e9
    log("handle: " + ", ".join(f"{k} {v:.0f} ns" for k, v in rep.handle.items()))
    # ---- the per-VM add path, for the build-cost note -------------------------
    if not quick:
        import dynmem

        m = mode.bulk_size
        spec = C.make_spec(m, "plentiful")
        host = dynmem.Host(physical_mb=spec.physical_mb, reserve_mb=spec.reserve_mb, policy=dynmem.HyperVPolicy(**C.POLICY))
        t0 = time.perf_counter()
        for i in range(m):
            host.add_vm(f"v{i}", startup_mb=int(spec.startup[i]), maximum_mb=int(spec.maximum[i]), minimum_mb=int(spec.minimum[i]),
                        buffer_pct=int(spec.buffer[i]), weight=int(spec.weight[i]))
        t1 = time.perf_counter()
        for vm in host.vms:
            vm.start()
        t2 = time.perf_counter()
        rep.run["add_vm_loop"] = (m, t1 - t0, t2 - t1)
        log(f"add_vm loop at {m}: {t1 - t0:.2f} s; vm.start() loop {t2 - t1:.2f} s")
    rn, samples, files = mode.replay
    R.measure(rep, rn, samples, files, reps=2 if quick else 3, budget_s=0.05 if quick else 3.0, log=log)
    measure_policies(rep, mode)
    return rep


def measure_policies(rep: Report, mode: Mode) -> None:
    """Each built-in policy's contended tick at the target size (Hyper-V's
    again, for the ratios), then a numpy user policy's: Hyper-V's rule in
    numpy (`numpy_peer.allocation`) as `Policy.allocate`, its body timed
    inside each tick, so that dynmem's side of the tick (the mechanics, the
    call, the view's arrays, the answer's check) is the tick minus it."""
    n = mode.target_size
    spec = C.make_spec(n, "contended")
    for name, policy in C.builtin_policies():
        d = C.make_driver("dynmem", spec, policy=policy)
        rep.policy[name] = time_ticks(d, mode.tick_reps, mode.tick_budget_s)
        d.host.threads = 1
        rep.policy[name + " 1 thread"] = time_ticks(d, mode.tick_reps, mode.tick_budget_s)
        log(f"n={n} contended, {name} policy: {rep.policy[name][0] / n:.2f} ns/VM, "
            f"1 thread {rep.policy[name + ' 1 thread'][0] / n:.2f}")
        del d
        gc.collect()
    policy, work = C.numpy_user_policy()
    d = C.make_driver("dynmem", spec, policy=policy)
    h, clock = d.host, time.perf_counter_ns
    pairs: list[tuple[int, int]] = []
    spent = 0
    while len(pairs) < mode.tick_reps and (not pairs or spent < mode.numpy_budget_s * 1e9):
        h.set_demand_mb(d.rows[d.k % C.ROWS])
        d.k += 1
        calls = len(work)
        t0 = clock()
        h.tick(1.0)
        t = clock() - t0
        assert len(work) == calls + 1, "allocate is called once per tick"
        pairs.append((t, work[-1]))
        spent += t
    rep.user = {
        "tick": min(t for t, _ in pairs),
        "work": min(w for _, w in pairs),
        "share": min(t - w for t, w in pairs),
        "reps": len(pairs),
    }
    log(f"n={n} contended, numpy user policy: tick {rep.user['tick'] / n:.1f} ns/VM, its numpy work "
        f"{rep.user['work'] / n:.1f}, dynmem's side {rep.user['share'] / n:.2f}")


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------


def _f(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "—"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


#: Hosts of at least this many VMs tick on several threads (`dynmem._dynmem.PARALLEL_MIN_VMS`).
PARALLEL_MIN = 32_768


def threads_used() -> int:
    """Threads a default host's tick uses for a large host: the core's pool size."""
    env = os.environ.get("DYNMEM_THREADS", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


def targets(rep: Report) -> list[tuple[str, str, bool | None]]:
    m = rep.mode
    out: list[tuple[str, str, bool | None]] = []
    n = m.target_size
    # The tick targets for the default host (every CPU for large hosts) and,
    # where that differs, for the same host on one thread: the numpy peer and
    # the floor run on one thread.
    configs = [("dynmem", f"{threads_used()} threads")]
    if any(rep.tick.get(("1 thread", r, k)) != rep.tick.get(("dynmem", r, k)) for (_, r, k) in rep.tick):
        configs.append(("1 thread", "1 thread"))
    else:
        configs = [("dynmem", "")]
    for impl, label in configs:
        tag = f" ({label})" if label else ""
        dc, npc = rep.per_vm(impl, "contended", n), rep.per_vm("numpy", "contended", n)
        out.append((f"contended tick at {_size(n)} VMs ≤ 10 ns per VM{tag}", f"{_f(dc)} ns/VM", None if dc is None else dc <= 10))
        if dc is not None and npc is not None:
            out.append((f"contended tick at {_size(n)} VMs ≥ 30× faster than numpy{tag}", f"{npc / dc:.1f}×", npc / dc >= 30))
        for k in m.floor_sizes:
            dp, fl = rep.per_vm(impl, "plentiful", k), rep.per_vm("floor", "plentiful", k)
            if dp is not None and fl is not None:
                out.append((
                    f"plentiful tick at {_size(k)} VMs within 3× of the streaming floor{tag}",
                    f"{dp / fl:.1f}× the floor",
                    dp / fl <= 3,
                ))
    for regime in ("plentiful", "contended"):
        if regime in rep.run:
            r = m.run_vms * m.run_ticks / rep.run[regime][0] * 1e9
            out.append((
                f"Host.run ≥ 100 M VM-ticks/s, {_size(m.run_vms)} VMs, record_every={m.record_every} ({regime})",
                f"{r / 1e6:.0f} M/s",
                r >= 100e6,
            ))
    for suffix, label in (("", f"{threads_used()} threads"), (" 1 thread", "1 thread")):
        hv = rep.policy.get("hyperv" + suffix)
        for name in C.builtin_policy_names():
            r = rep.policy.get(name + suffix)
            if name != "hyperv" and r is not None and hv is not None:
                ratio = r[0] / hv[0]
                out.append((f"{name} policy's contended tick at {_size(n)} VMs within 2× of Hyper-V's ({label})",
                            f"{ratio:.2f}×", ratio <= 2))
    out += R.avx2_targets(rep) + R.replay_targets(rep)
    if rep.user and "hyperv" in rep.policy:
        ffi = (rep.user["share"] - rep.policy["hyperv"][0]) / rep.user["work"]
        out.append((
            f"numpy user policy at {_size(n)} VMs: FFI + checks < 20 % of the user's numpy work",
            f"{100 * ffi:.1f} % (dynmem's side beyond the built-in Hyper-V tick; "
            f"all of dynmem's side {100 * rep.user['share'] / rep.user['work']:.1f} %)",
            ffi < 0.2,
        ))
    nb = rep.run.get("bulk_n", 0)
    for k in ("demand_mb (get)", "set_demand_mb"):
        if k in rep.bulk:
            ms = rep.bulk[k][0] / 1e6
            out.append((f"bulk {k} of {_size(nb)} demands ≤ 2 ms", f"{ms:.3f} ms", ms <= 2))
    if rep.heap:
        n = max(rep.heap)
        b = rep.heap[n] / n
        out.append((f"core state ≤ 128 bytes per VM ({_size(n)} VMs, `Host.heap_bytes`)", f"{b:.0f} B/VM", b <= 128))
    if "vm.assigned_mb" in rep.handle:
        ns = rep.handle["vm.assigned_mb"]
        out.append(("one handle attribute read (vm.assigned_mb) ≤ 200 ns", f"{ns:.0f} ns", ns <= 200))
    return out


def render(rep: Report, info: dict[str, str], elapsed_s: float) -> str:
    m = rep.mode
    L: list[str] = []
    L.append("# dynmem benchmark results")
    L.append("")
    L.append(
        f"Written by `python benches/run.py{' --quick' if rep.quick else ''}` in {elapsed_s:.0f} s. "
        "Every number below was measured in that one run, on this machine, with the same inputs for every "
        "implementation; times are the minimum over repeats after warm-up, the repeats of each one-tick row and "
        f"of `Host.run` taken in {ROUNDS} rounds over the rows (see `benches/README.md`)."
    )
    if rep.quick:
        L.append("")
        L.append("**Quick (smoke) mode: tiny sizes and budgets; these times mean nothing.**")
    L.append("")
    L.append("## Machine")
    L.append("")
    for k, v in info.items():
        L.append(f"- {k}: {v}")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | result |")
    L.append("|---|---|---|")
    for name, val, ok in targets(rep):
        L.append(f"| {name} | {val} | {'PASS' if ok else ('FAIL' if ok is not None else 'n/a')} |")
    L.append("")
    L.append("## One tick: ns per VM per tick")
    L.append("")
    L.append(
        "Plentiful and contended: one `tick(1.0)` after the next demand row was set (untimed). Storm: "
        "starting every off VM (half the host) plus the tick after, divided by all VMs on the host. "
        "`dynmem÷numpy` < 1 means dynmem is faster (speed-up in brackets); `dynmem÷floor` is how many "
        "streaming passes over the hot columns a tick costs."
    )
    L.append("")
    L.append(
        "| regime | VMs | dynmem | dynmem 1 thread | dynmem AVX2 | dynmem scalar | numpy | pure Python | floor "
        "| dynmem÷numpy | dynmem÷floor | solver stage |"
    )
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for regime in C.REGIMES:
        for n in m.sizes:
            dv, nv = rep.per_vm("dynmem", regime, n), rep.per_vm("numpy", regime, n)
            rv, fv = rep.per_vm("reference", regime, n), rep.per_vm("floor", regime, n)
            sv, av = rep.per_vm("scalar", regime, n), rep.per_vm("avx2", regime, n)
            tv = rep.per_vm("1 thread", regime, n)
            r_np = f"{dv / nv:.3f} ({nv / dv:.1f}×)" if dv and nv else "—"
            r_fl = f"{dv / fv:.1f}" if dv and fv else "—"
            stage = rep.stages.get((regime, n), "contended (after the storm)" if regime == "storm" else "")
            cells = [_f(dv), _f(tv), _f(av), _f(sv), _f(nv), _f(rv, 0), _f(fv, 3), r_np, r_fl, stage]
            L.append(f"| {regime} | {_size(n)} | " + " | ".join(cells) + " |")
    L.append("")
    n = m.target_size
    a1, a2 = rep.per_vm(R.AVX2_1T, "plentiful", n), rep.per_vm(R.AVX2_1T, "contended", n)
    if a1 and a2:
        L.append(f"The AVX2 forms on one thread at {_size(n)} VMs (issue 17's goals, judged in Targets): plentiful "
                 f"{_f(a1)}, contended {_f(a2)} ns/VM.")
        L.append("")
    sf, fl, p1 = rep.per_vm("state floor", "plentiful", n), rep.per_vm("floor", "plentiful", n), rep.per_vm("1 thread", "plentiful", n)
    if sf and fl and p1:
        rd, wr = getattr(rep, "state_bytes", (0, 0))
        L.append(f"The one-tick rows change every VM's demand (churn), so the tick must also update every VM's "
                 f"assigned memory, counters and pressure statistics. The **state floor** streams exactly that "
                 f"state once, on one thread (`benches/floor.py`, `StateFloor`: {rd} bytes read and {wr} written "
                 f"per VM, against the streaming floor's 25 read): {_f(sf)} ns/VM at {_size(n)} VMs, "
                 f"{sf / fl:.1f}× the streaming floor. Against it, one thread: plentiful {p1 / sf:.2f}×"
                 + (f", the AVX2 forms {a1 / sf:.2f}×" if a1 else "") + ". A churn tick within 3× of the streaming "
                 "floor on one thread would have to move less than this state.")
        L.append("")
    L.append("Median / minimum and repeat counts (dynmem):")
    L.append("")
    L.append("| regime | VMs | min ns/VM | median ns/VM | repeats |")
    L.append("|---|---:|---:|---:|---:|")
    for regime in C.REGIMES:
        for n in m.sizes:
            r = rep.tick.get(("dynmem", regime, n))
            if r:
                L.append(f"| {regime} | {_size(n)} | {_f(r[0] / n)} | {_f(r[1] / n)} | {r[2]} |")
    L.append("")
    L.append("## Host.run")
    L.append("")
    L.append(
        f"{_size(m.run_vms)} VMs × {m.run_ticks} ticks, demand matrix given up front, per-VM series recorded every "
        f"{m.record_every}th tick (`Timeline` included). The numpy row is the peer's `tick` in a Python loop "
        "recording the same rows."
    )
    L.append("")
    L.append("| regime | dynmem ms | dynmem VM-ticks/s | AVX2 forms VM-ticks/s | numpy ms | numpy VM-ticks/s | speed-up |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for regime in ("plentiful", "contended"):
        if regime in rep.run:
            t, tn = rep.run[regime][0], rep.run["numpy " + regime][0]
            vt = m.run_vms * m.run_ticks
            ta = rep.run.get("avx2 " + regime, (0,))[0]
            avx2 = f"{vt / ta * 1e3:.0f} M" if ta else "—"
            L.append(f"| {regime} | {t / 1e6:.2f} | {vt / t * 1e3:.0f} M | {avx2} | {tn / 1e6:.1f} | {vt / tn * 1e3:.1f} M | {tn / t:.0f}× |")
    L.append("")
    L.extend(R.render(rep))
    L.extend(render_policies(rep))
    L.append("## Bulk API and handles")
    L.append("")
    nb = rep.run.get("bulk_n", 0)
    L.append(f"Bulk calls on a host of {_size(nb)} VMs (numpy int64 arrays in and out):")
    L.append("")
    L.append("| call | ms | ns per VM |")
    L.append("|---|---:|---:|")
    for k, v in rep.bulk.items():
        L.append(f"| `host.{k.split(' ')[0]}`{' ' + k.split(' ', 1)[1] if ' ' in k else ''} | {v[0] / 1e6:.3f} | {v[0] / nb:.2f} |")
    L.append("")
    L.append("One attribute access through a `VM` handle (`timeit`, includes the ~10 ns timeit loop; the plain slot row is that floor):")
    L.append("")
    L.append("| access | ns |")
    L.append("|---|---:|")
    for k, v in rep.handle.items():
        L.append(f"| `{k}` | {v:.0f} |")
    L.append("")
    L.append("## Memory")
    L.append("")
    L.append(
        "`Host.heap_bytes` after the contended ticks (VM columns, names and their index, the solver's scratch; "
        "not the Python `VM` handles). Per VM: balancer inputs and state 37 B (flags, startup/minimum/maximum, "
        "buffer, weight, demand, assigned, visible, removal clock), Hyper-V counters 16 B (u32 low words; what "
        "carries past 2^32 is kept apart), pressure statistics and running time 32 B (sum, minimum, maximum, "
        "run mark; f64), solver scratch 8 B, names 12–20 B (end offset, 2–4 index slots) plus their text; ids "
        "take 16 B per run of consecutive ids (one run until VMs are removed)."
    )
    L.append("")
    L.append("| VMs | heap MB | bytes per VM |")
    L.append("|---:|---:|---:|")
    for n, b in sorted(rep.heap.items()):
        L.append(f"| {_size(n)} | {b / 2**20:.1f} | {b / n:.0f} |")
    L.append("")
    L.append("## Building the hosts")
    L.append("")
    L.append("| VMs | host | add path | add s | start s | µs per VM (add + start) |")
    L.append("|---:|---|---|---:|---:|---:|")
    for n, kind, tm in rep.build:
        L.append(
            f"| {_size(n)} | {kind} | {tm.get('add_path', '?')} | {tm['add_s']:.3f} | {tm['start_s']:.3f} | "
            f"{(tm['add_s'] + tm['start_s']) / n * 1e6:.2f} |"
        )
    if "add_vm_loop" in rep.run:
        mm, a, s = rep.run["add_vm_loop"]
        L.append("")
        L.append(
            f"Per-VM path for comparison: `host.add_vm(...)` in a loop for {_size(mm)} VMs took {a:.2f} s "
            f"({a / mm * 1e6:.2f} µs per VM); `vm.start()` in a loop {s:.2f} s ({s / mm * 1e6:.2f} µs per VM)."
        )
    notes = [
        "Inputs (`benches/_common.py`): policy `boot_report_delay_s=0` (a started VM joins the balancer at its "
        "next tick); plentiful and contended share VM settings and host memory (only the demand level differs); "
        f"demands cycle through {C.ROWS} rows that differ by ±3 % per VM, so every tick re-solves; weights are "
        "half from {0, 100, 2000, 5000, 10000}, half uniform 0..10000.",
        "Storm: half the VMs run at their targets, the other half (weights ≥ 2000) are off and are started in "
        "position order by one `host.start_vms()`; free memory covers ~70 % of their startup memory, the last "
        "~30 % reclaim by ballooning running VMs; then one (contended) tick. The reset (stop them, tick) is untimed.",
        f"Hosts of at least {_size(PARALLEL_MIN)} VMs tick on every CPU ({threads_used()} here) in "
        "parts whose results merge exactly (identical for any thread count, tested); `dynmem 1 thread` is the "
        "same host with `Host.threads = 1` (smaller hosts always tick on one thread, so it repeats `dynmem`). "
        "The numpy peer, the floor and the reference run on one thread.",
        "The floor is `np.bitwise_or.reduce` over each of the 8 hot columns (25 bytes per VM): at small sizes it "
        "is 8 numpy calls of fixed cost, not bandwidth, so dynmem÷floor is meaningful from ~100k VMs. "
        "It reads only the balancer's inputs; a dynmem tick also reads and writes every running VM's Hyper-V "
        "counters (four u32 low words), pressure statistics (sum, minimum, maximum) and removal clock, about "
        "48 more bytes per VM, and writes assigned memory and each target, so even a tick that only streamed "
        "its state once would sit at a few times this floor on one thread.",
        "`dynmem AVX2` and `dynmem scalar` are the same host with the core's loops capped "
        "(`Host._core._set_vector_cap`): what an x86 CPU without AVX-512 runs, and the portable code any "
        "other CPU runs. Every form gives identical results (tested); `dynmem` is the widest this CPU has.",
        "The pure-Python reference (`tests/reference.py`) hands out memory one balloon unit at a time "
        "(O(units × VMs)): a contended tick or a storm at 1k VMs is timed once, without warm-up.",
        "Other work on the machine (builds, tests) inflates times; minima over repeats are the least affected.",
    ]
    L.append("")
    L.append("## Notes")
    L.append("")
    for note in notes + rep.notes:
        L.append(f"- {note}")
    L.append("")
    return "\n".join(L)


def render_policies(rep: Report) -> list[str]:
    """The report's section on allocation policies (empty if none was measured)."""
    n = rep.mode.target_size
    hv = rep.policy.get("hyperv")
    if not rep.policy:
        return []
    L = ["## Allocation policies", ""]
    L.append(
        f"One contended `tick(1.0)` at {_size(n)} VMs (the contended inputs above) on a host of each built-in "
        "policy, measured one after another in this run; the same mechanics run after every policy's allocation."
    )
    L.append("")
    L.append(f"| policy | ns/VM ({threads_used()} threads) | median | ÷ Hyper-V's | ns/VM (1 thread) | median | ÷ Hyper-V's |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    hv1 = rep.policy.get("hyperv 1 thread")
    for name in C.builtin_policy_names():
        cells = []
        for r, base in ((rep.policy.get(name), hv), (rep.policy.get(name + " 1 thread"), hv1)):
            ratio = f"{r[0] / base[0]:.2f}×" if r and base else "—"
            cells += [_f(r[0] / n) if r else "—", _f(r[1] / n) if r else "—", ratio]
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L.append("")
    if rep.user:
        u = rep.user
        L.append(
            "A user policy: Hyper-V's rule written in numpy (`numpy_peer.allocation`, the numpy peer's own step 3) "
            "as `dynmem.Policy.allocate`, on the same host and inputs; its body is timed inside each tick. "
            "dynmem's side is the tick minus that body: the mechanics (the same as every policy's), the Python "
            "call, the view's arrays and the answer's check (minima over "
            f"{int(u['reps'])} ticks). The built-in Hyper-V tick on the same host is the same mechanics plus "
            "Rust's allocation, so dynmem's side minus it is the call, view and check, short by Rust's "
            "allocation (a part of the built-in tick): the goal is judged on it."
        )
        L.append("")
        L.append("| | ns/VM | % of the user's numpy work |")
        L.append("|---|---:|---:|")
        mech = (u["share"] - hv[0]) / n if hv else None
        rows = [
            ("whole tick", u["tick"] / n),
            ("the user's numpy work (`allocate` body)", u["work"] / n),
            ("dynmem's side (tick − body)", u["share"] / n),
            ("of which beyond the built-in Hyper-V tick (≈ call + view + check; the goal's measure)", mech),
        ]
        for label, v in rows:
            pct = f"{100 * v * n / u['work']:.1f} %" if v is not None else "—"
            L.append(f"| {label} | {_f(v)} | {pct} |")
        L.append("")
    return L


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes and budgets (CI smoke mode); times mean nothing")
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"), help="where to write the report (default: benches/RESULTS.md)")
    p.add_argument("--sizes", help="comma-separated VM counts, overriding the mode's (e.g. 1000,10000)")
    p.add_argument(
        "--reference",
        choices=("all", "plentiful", "none"),
        default="all",
        help="pure-Python reference: all regimes (a contended tick and a storm take minutes each at 1k VMs), "
        "plentiful only, or none",
    )
    a = p.parse_args(argv)
    mode = QUICK if a.quick else FULL
    if a.sizes:
        sizes = tuple(int(s) for s in a.sizes.split(","))
        mode = Mode(**{**mode.__dict__, "sizes": sizes, "bulk_size": max(sizes),
                       "target_size": mode.target_size if mode.target_size in sizes else max(sizes),
                       "floor_sizes": tuple(s for s in mode.floor_sizes if s in sizes) or (max(sizes),),
                       "ref_size": mode.ref_size if mode.ref_size in sizes else min(sizes)})
    t0 = time.perf_counter()
    info = machine()
    rep = measure(mode, a.quick, a.reference)
    info["load average at end (1/5/15 min)"] = _load() + " (above ~1 means other work competed with this run)"
    text = render(rep, info, time.perf_counter() - t0)
    with open(a.out, "w") as f:
        f.write(text)
    log(f"wrote {a.out}")
    for name, val, ok in targets(rep):
        log(f"{'PASS' if ok else 'FAIL'}  {name}: {val}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
