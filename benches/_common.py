"""Inputs and drivers shared by the benchmarks, the report script and the smoke test.

Every implementation (dynmem, the numpy peer, the pure-Python reference) is
built from the same `Spec` — VM settings, host memory, demand rows — and
driven through the same steps, so they start from identical states and see
identical inputs.

Regimes (docs in ``benches/README.md``):

* **plentiful** — every target fits the pool (stage 1 of the solver: ``g =
  target``); demands vary ±3 % per tick, so VMs grow (adds, hot-add) and
  shrink (lazy removal) all the time.
* **contended** — the same host and VMs, demands scaled so that Σ target ≈
  1.5 × the pool; weights are a mix of {0, 100, 2000, 5000, 10000} and
  uniform 0..10000. The solver water-fills every tick.
* **storm** — half the VMs run at their targets, the other half are off;
  the storm starts every off VM (in position order) and runs one tick. Free
  memory covers ~70 % of the startups; the last ~30 % must reclaim by
  ballooning running VMs. The tick after the storm is contended.

Policy: ``boot_report_delay_s = 0`` so a started VM joins the balancer at
its first tick (otherwise a storm would only hold startup memory for 45 s
and the tick after it would do almost nothing).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from numpy_peer import NumpyHost  # noqa: E402

#: Policy of every benchmark host (dynmem.HyperVPolicy keyword arguments).
POLICY: dict[str, Any] = dict(
    balloon_unit_mb=2,
    hot_add_chunk_mb=128,
    boot_report_delay_s=0.0,
    remove_delay_s=5.0,
    remove_rate_mb_per_s=256.0,
)
U = POLICY["balloon_unit_mb"]
RESERVE_MB = 2048
ROWS = 8  # distinct demand rows, cycled tick after tick
WARM_TICKS = 2 * ROWS
REGIMES = ("plentiful", "contended", "storm")
BASE_WEIGHTS = np.array([0, 100, 2000, 5000, 10000])


def _ceil_u(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return (x + (U - 1)) // U * U


def targets(demand: npt.NDArray[np.int64], buffer: npt.NDArray[Any], lo: npt.NDArray[Any], hi: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """The spec's target per VM (running, dynamic)."""
    t = _ceil_u((demand * (100 + buffer.astype(np.int64)) + 99) // 100)
    return np.clip(t, lo.astype(np.int64), hi.astype(np.int64))


@dataclass
class Spec:
    """One benchmark input: a host, its VMs and the demand rows."""

    n: int
    regime: str
    seed: int
    physical_mb: int
    reserve_mb: int
    startup: npt.NDArray[np.int64]
    minimum: npt.NDArray[np.int64]
    maximum: npt.NDArray[np.int64]
    buffer: npt.NDArray[np.int64]
    weight: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]  # (ROWS, n) int64 demands
    started: npt.NDArray[np.intp]  # VMs started (in this order) before warm-up
    storm: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, np.intp))  # VMs the storm starts

    def __post_init__(self) -> None:
        # Specs are cached and shared: make their arrays read-only.
        for f in ("startup", "minimum", "maximum", "buffer", "weight", "rows", "started", "storm"):
            getattr(self, f).flags.writeable = False


def _vms(n: int, rng: np.random.Generator) -> dict[str, npt.NDArray[np.int64]]:
    minimum = rng.choice(np.array([256, 512, 1024]), n)
    startup = minimum * rng.choice(np.array([1, 2]), n)
    maximum = rng.choice(np.array([4096, 8192, 16384]), n)
    buffer = rng.choice(np.array([10, 20, 50]), n)
    weight = np.where(rng.random(n) < 0.5, rng.choice(BASE_WEIGHTS, n), rng.integers(0, 10000, n, endpoint=True))
    return dict(startup=startup, minimum=minimum, maximum=maximum, buffer=buffer, weight=weight)


def _rows(base: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """ROWS demand rows: ``base`` varied by ±3 % (normal) per row."""
    rows = base[None, :] * (1.0 + 0.03 * rng.standard_normal((ROWS, len(base))))
    return np.maximum(np.rint(rows), 0).astype(np.int64)


@functools.lru_cache(maxsize=8)
def make_spec(n: int, regime: str, seed: int = 1) -> Spec:
    """The benchmark input of ``regime`` for ``n`` VMs (deterministic in ``seed``).

    plentiful and contended share VMs and host memory (only the demand
    level differs), so one dynmem host per size serves both.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    rng = np.random.default_rng(seed)
    v = _vms(n, rng)
    base = rng.integers(128, 6000, n).astype(np.float64)
    if regime == "storm":
        run = np.arange(0, n, 2)
        storm = np.arange(1, n, 2)
        # The storm VMs are heavier (weight >= 2000) so that donors of weight
        # <= theirs can cover them (a start never takes from heavier VMs).
        w = v["weight"]
        w[storm] = np.where(
            rng.random(len(storm)) < 0.5,
            rng.choice(np.array([2000, 5000, 10000]), len(storm)),
            rng.integers(2000, 10000, len(storm), endpoint=True),
        )
        rows = np.repeat(_rows(base, rng)[:1], ROWS, axis=0)  # fixed demand: a steady state before the storm
        t_run = int(targets(rows[0], v["buffer"], v["minimum"], v["maximum"])[run].sum())
        free = int(0.7 * v["startup"][storm].sum()) // U * U
        physical = RESERVE_MB + t_run + free
        return Spec(n, regime, seed, physical, RESERVE_MB, rows=rows, started=run, storm=storm, **v)
    rows = _rows(base, rng)
    t = targets(rows, v["buffer"], v["minimum"], v["maximum"])
    pool = int(t[0].sum() / 1.5) // U * U
    pool = max(pool, int(v["startup"].sum()), int(v["minimum"].sum()))
    physical = RESERVE_MB + pool
    if regime == "plentiful":
        # Scale demand down until every row's targets fit with 5 % to spare.
        lo, hi = 0.0, 1.0
        for _ in range(14):  # f to within 1e-4: the 5 % margin does the rest
            f = (lo + hi) / 2
            r = _rows_scaled(rows, f)
            tt = targets(r, v["buffer"], v["minimum"], v["maximum"])
            if tt.sum(axis=1).max() <= 0.95 * pool:
                lo = f
            else:
                hi = f
        rows = _rows_scaled(rows, lo)
    return Spec(n, regime, seed, physical, RESERVE_MB, rows=rows, started=np.arange(n), **v)


def _rows_scaled(rows: npt.NDArray[np.int64], f: float) -> npt.NDArray[np.int64]:
    return np.rint(rows * f).astype(np.int64)


def switch_regime(spec: Spec, regime: str) -> Spec:
    """The ``regime`` spec of the same VMs and host (plentiful <-> contended only)."""
    other = make_spec(spec.n, regime, spec.seed)
    assert other.physical_mb == spec.physical_mb and (other.weight == spec.weight).all()
    return other


# --------------------------------------------------------------------------
# building each implementation from a Spec
# --------------------------------------------------------------------------


def build_dynmem(spec: Spec, timings: dict[str, float] | None = None, policy: Any = None) -> tuple[Any, list[Any]]:
    """A `dynmem.Host` with the spec's VMs, the ``started`` ones started.

    ``timings`` (if given) receives ``add_s`` and ``start_s``: how long
    adding the VMs through ``Host.add_vm`` and starting them took.
    ``policy``: the host's policy (default ``HyperVPolicy(**POLICY)``).
    """
    import dynmem

    policy = dynmem.HyperVPolicy(**POLICY) if policy is None else policy
    host = dynmem.Host(physical_mb=spec.physical_mb, reserve_mb=spec.reserve_mb, policy=policy)
    names = [f"v{i}" for i in range(spec.n)]
    t0 = time.perf_counter()
    if hasattr(host, "add_vms"):  # the bulk API, where this build has it
        handles = host.add_vms(
            names,
            startup_mb=spec.startup,
            maximum_mb=spec.maximum,
            minimum_mb=spec.minimum,
            buffer_pct=spec.buffer,
            weight=spec.weight,
        )
        add_path = "Host.add_vms"
    else:
        add = host.add_vm
        cols = zip(spec.startup.tolist(), spec.minimum.tolist(), spec.maximum.tolist(), spec.buffer.tolist(), spec.weight.tolist())
        for name, (s, lo, hi, b, w) in zip(names, cols):
            add(name, startup_mb=s, maximum_mb=hi, minimum_mb=lo, buffer_pct=b, weight=w)
        handles = host.vms
        add_path = "Host.add_vm loop"
    t1 = time.perf_counter()
    start_vms(host, [handles[i] for i in spec.started.tolist()])
    t2 = time.perf_counter()
    if timings is not None:
        timings["add_s"] = t1 - t0
        timings["start_s"] = t2 - t1
        timings["add_path"] = add_path  # type: ignore[assignment]
    return host, handles


def start_vms(host: Any, vms: list[Any] | None) -> None:
    """Starts ``vms`` (all off VMs if None) through the bulk API where there is one."""
    if hasattr(host, "start_vms"):
        host.start_vms(vms)
        return
    for vm in vms if vms is not None else [v for v in host.vms if v.state == "off"]:
        vm.start()


def build_numpy(spec: Spec) -> NumpyHost:
    h = NumpyHost(
        spec.physical_mb,
        spec.reserve_mb,
        startup_mb=spec.startup,
        minimum_mb=spec.minimum,
        maximum_mb=spec.maximum,
        buffer_pct=spec.buffer,
        weight=spec.weight,
        dynamic=np.ones(spec.n, bool),
        **POLICY,
    )
    h.start_many(spec.started)
    return h


def build_reference(spec: Spec) -> Any:
    ref = import_reference()
    h = ref.Host(physical_mb=spec.physical_mb, reserve_mb=spec.reserve_mb, policy=ref.Policy(**POLICY))
    for i in range(spec.n):
        h.add_vm(
            f"v{i}",
            startup_mb=int(spec.startup[i]),
            maximum_mb=int(spec.maximum[i]),
            minimum_mb=int(spec.minimum[i]),
            buffer_pct=int(spec.buffer[i]),
            weight=int(spec.weight[i]),
        )
    for i in spec.started.tolist():
        h.vms[i].start()
    return h


def import_reference() -> Any:
    tests = os.path.join(os.path.dirname(HERE), "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import reference

    return reference


# --------------------------------------------------------------------------
# drivers: the same steps for every implementation
# --------------------------------------------------------------------------


class Driver:
    """Drives one implementation through a spec's ticks.

    ``step()`` is one benchmarked tick: set every VM's demand from the next
    row, then ``tick(1.0)``. ``storm()`` starts the storm VMs and ticks;
    ``unstorm()`` stops them and ticks back to the steady state.
    """

    def __init__(self, kind: str, host: Any, spec: Spec, handles: list[Any] | None = None) -> None:
        self.kind, self.host, self.spec = kind, host, spec
        self.handles = handles
        self.k = 0
        rows = spec.rows
        if kind == "reference":
            self.rows: Any = [r.tolist() for r in rows]
        else:
            self.rows = [np.ascontiguousarray(r) for r in rows]
        if kind == "reference":
            self._storm_vms = [host.vms[i] for i in spec.storm.tolist()]
        elif kind == "dynmem":
            assert handles is not None
            self._storm_vms = [handles[i] for i in spec.storm.tolist()]

    def use(self, spec: Spec) -> None:
        """Switch to another spec's demand rows (same host)."""
        self.__init__(self.kind, self.host, spec, self.handles)  # type: ignore[misc]

    def step(self) -> None:
        h = self.host
        h.set_demand_mb(self.rows[self.k % ROWS])
        h.tick(1.0)
        self.k += 1

    def warm(self, ticks: int = WARM_TICKS) -> None:
        for _ in range(ticks):
            self.step()

    def storm(self) -> None:
        if self.kind == "numpy":
            self.host.start_many(self.spec.storm)
        elif self.kind == "dynmem":
            start_vms(self.host, None)  # the storm VMs are exactly the off ones
        else:
            for vm in self._storm_vms:
                vm.start()
        self.host.tick(1.0)

    def unstorm(self) -> None:
        if self.kind == "numpy":
            self.host.stop_many(self.spec.storm)
        elif self.kind == "dynmem" and hasattr(self.host, "stop_vms"):
            self.host.stop_vms(self._storm_vms)
        else:
            for vm in self._storm_vms:
                vm.stop()
        self.host.tick(1.0)

    def assigned(self) -> npt.NDArray[np.int64]:
        h = self.host
        if self.kind == "numpy":
            return h.assigned.astype(np.int64)
        return np.asarray(h.assigned_mb, dtype=np.int64)

    def visible(self) -> npt.NDArray[np.int64]:
        h = self.host
        if self.kind == "numpy":
            return h.visible.astype(np.int64)
        return np.asarray(h.visible_mb, dtype=np.int64)


def make_driver(kind: str, spec: Spec, timings: dict[str, float] | None = None, policy: Any = None) -> Driver:
    """Builds ``kind`` ("dynmem", "numpy" or "reference") from ``spec`` and
    warms it up; a dynmem host runs ``policy`` (default Hyper-V's)."""
    t0 = time.perf_counter()
    if kind == "dynmem":
        host, handles = build_dynmem(spec, timings, policy)
        d = Driver(kind, host, spec, handles)
    elif kind == "numpy":
        d = Driver(kind, build_numpy(spec), spec)
    elif kind == "reference":
        d = Driver(kind, build_reference(spec), spec)
    else:
        raise ValueError(kind)
    t1 = time.perf_counter()
    d.warm()
    if timings is not None:
        timings["build_s"] = t1 - t0
        timings["warm_s"] = time.perf_counter() - t1
    return d


def builtin_policies() -> list[tuple[str, Any]]:
    """(name, policy) of every built-in policy (`dynmem.POLICIES`), each with
    the benchmark mechanics (`POLICY`)."""
    import dynmem

    return [(name, cls(**POLICY)) for name, cls in dynmem.POLICIES.items()]


def builtin_policy_names() -> list[str]:
    """The built-in policies' names, in `dynmem.POLICIES` order."""
    import dynmem

    return list(dynmem.POLICIES)


def numpy_user_policy() -> tuple[Any, list[int]]:
    """Hyper-V's rule as a numpy user writes it, as a `dynmem.Policy`
    (`numpy_peer.allocation`, the peer's own step 3), and the list that gets
    the time (ns) of each ``allocate`` body: the user's own numpy work,
    apart from dynmem's."""
    import dynmem
    from numpy_peer import allocation

    work_ns: list[int] = []
    clock = time.perf_counter_ns

    class NumpyHyperV(dynmem.Policy):  # type: ignore[misc, name-defined]
        def allocate(self, pool_mb: int, vms: Any) -> npt.NDArray[np.int64]:
            t0 = clock()
            g, _, _ = allocation(pool_mb, vms.demand_mb, vms.minimum_mb, vms.maximum_mb, vms.buffer_pct, vms.weight,
                                 vms.balloon_unit_mb)
            work_ns.append(clock() - t0)
            return g

    return NumpyHyperV(**POLICY), work_ns


def floor_for(spec: Spec) -> Any:
    """The streaming floor over arrays of the spec's values and dtypes."""
    from floor import Floor

    a = dict(
        demand=spec.rows[0],
        assigned=spec.startup,
        visible=spec.startup,
        minimum=spec.minimum,
        maximum=spec.maximum,
        buffer=spec.buffer,
        weight=spec.weight,
        flags=np.full(spec.n, 2),
    )
    return Floor(spec.n, arrays=a)


def best_ns(fn: Callable[[], Any], *, reps: int, budget_s: float, setup: Callable[[], Any] | None = None, warmup: int = 1) -> tuple[int, int, int]:
    """(min, median, count) of ``fn``'s wall time in ns over up to ``reps`` calls.

    Stops early once ``budget_s`` seconds have been spent (at least 1 call
    after the warm-up). ``setup`` runs untimed before each call.
    """
    return summary(samples_ns(fn, reps=reps, budget_s=budget_s, setup=setup, warmup=warmup))


def summary(times: list[int]) -> tuple[int, int, int]:
    """(min, median, count) of wall times in ns."""
    times = sorted(times)
    return times[0], times[len(times) // 2], len(times)


def samples_ns(fn: Callable[[], Any], *, reps: int, budget_s: float, setup: Callable[[], Any] | None = None, warmup: int = 1) -> list[int]:
    """``fn``'s wall times in ns, as [`best_ns`] measures them, unsorted."""
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    times: list[int] = []
    spent = 0
    clock = time.perf_counter_ns
    while len(times) < reps and (not times or spent < budget_s * 1e9):
        if setup is not None:
            setup()
        t0 = clock()
        fn()
        dt = clock() - t0
        times.append(dt)
        spent += dt
    return times
