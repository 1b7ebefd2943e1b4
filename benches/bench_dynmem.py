"""pytest-benchmark suite: ``python -m pytest benches/`` (needs pytest-benchmark).

Not part of the normal test run (the repo's ``testpaths`` is ``tests``);
``benches/pytest.ini`` makes pytest collect ``bench_*.py`` here. Groups:

* ``tick-<regime>-<n>``: one tick of dynmem, the numpy peer, the pure-Python
  reference (1k VMs only; contended and storm only with
  ``DYNMEM_BENCH_SLOW_REFERENCE=1``, they take minutes) and the streaming
  floor, on identical inputs (`_common.make_spec`);
* ``run``: ``Host.run`` over many ticks, per-VM series every 60th tick;
* ``bulk``: reading and writing every demand through the bulk API;
* ``handle``: one attribute read through a VM handle.

Sizes: ``DYNMEM_BENCH_SIZES`` (comma-separated; default 1000,10000,100000,1000000).
Smoke mode (``DYNMEM_BENCH_SMOKE=1``, or ``--benchmark-disable``): tiny sizes,
each benchmark runs once — what the test suite does so these cannot rot.
For the report with ratios and targets use ``python benches/run.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C  # noqa: E402

SMOKE = os.environ.get("DYNMEM_BENCH_SMOKE") == "1"
SIZES = (
    (20, 500)
    if SMOKE
    else tuple(int(s) for s in os.environ.get("DYNMEM_BENCH_SIZES", "1000,10000,100000,1000000").split(","))
)
REF_SIZE = 20 if SMOKE else 1000
SLOW_REFERENCE = SMOKE or os.environ.get("DYNMEM_BENCH_SLOW_REFERENCE") == "1"
RUN_VMS, RUN_TICKS = (500, 120) if SMOKE else (10_000, 600)
RECORD_EVERY = 60
BULK_SIZE = max(SIZES)


def _rounds(kind: str, n: int) -> int:
    if SMOKE:
        return 1
    if kind == "reference":
        return 1 if n >= 1000 else 5
    if kind == "numpy":
        return max(3, min(100, 3_000_000 // n))
    return max(10, min(1000, 30_000_000 // n))


# One host per (implementation, size, family), built once per session:
# plentiful and contended share VMs and memory ("pc"); the storm has its own.
_CACHE: dict[tuple[str, int, str], C.Driver] = {}


def driver(kind: str, n: int, regime: str) -> C.Driver:
    family = "storm" if regime == "storm" else "pc"
    key = (kind, n, family)
    d = _CACHE.get(key)
    spec = C.make_spec(n, regime)
    if d is None:
        if kind == "reference" and regime == "contended":
            # A warm-up tick would take minutes: build, start, no warm-up.
            d = C.Driver(kind, C.build_reference(spec), spec)
        else:
            d = C.make_driver(kind, spec)
        _CACHE[key] = d
    elif d.spec.regime != regime:
        d.use(spec)
        d.warm(1 if kind == "reference" else C.WARM_TICKS)
    return d


@pytest.fixture(scope="module", autouse=True)
def _free_hosts() -> Any:
    yield
    _CACHE.clear()


def _tick(benchmark: Any, d: C.Driver, rounds: int) -> None:
    h = d.host

    def setup() -> None:
        h.set_demand_mb(d.rows[d.k % C.ROWS])
        d.k += 1

    benchmark.pedantic(h.tick, args=(1.0,), setup=setup, rounds=rounds, warmup_rounds=0 if d.kind == "reference" else 1)


def _storm(benchmark: Any, d: C.Driver, rounds: int) -> None:
    stormed = [False]

    def setup() -> None:
        if stormed[0]:
            d.unstorm()
        stormed[0] = True

    benchmark.pedantic(d.storm, setup=setup, rounds=rounds, warmup_rounds=0)
    d.unstorm()


CASES = [
    (kind, regime, n)
    for regime in C.REGIMES
    for n in SIZES
    for kind in ("dynmem", "numpy", "reference", "floor")
    if kind != "reference" or (n == REF_SIZE and (regime == "plentiful" or SLOW_REFERENCE))
]
if REF_SIZE not in SIZES:
    CASES += [("reference", r, REF_SIZE) for r in C.REGIMES if r == "plentiful" or SLOW_REFERENCE]


@pytest.mark.parametrize("kind, regime, n", CASES, ids=[f"{k}-{r}-{n}" for k, r, n in CASES])
def bench_tick(benchmark: Any, kind: str, regime: str, n: int) -> None:
    """One tick (storm: start the off half of the host, then one tick)."""
    benchmark.group = f"tick-{regime}-{n}"
    benchmark.extra_info["vms"] = n
    if kind == "floor":
        f = C.floor_for(C.make_spec(n, regime))
        benchmark.pedantic(f.run, rounds=1 if SMOKE else 200, warmup_rounds=1)
        return
    d = driver(kind, n, regime)
    rounds = _rounds(kind, n)
    if regime == "storm":
        _storm(benchmark, d, max(1, rounds // 3) if kind != "reference" else 1)
    else:
        _tick(benchmark, d, rounds)


@pytest.mark.parametrize("regime", ["plentiful", "contended"])
def bench_host_run(benchmark: Any, regime: str) -> None:
    """Host.run: RUN_TICKS ticks of RUN_VMS VMs, per-VM series every 60th tick."""
    benchmark.group = "run"
    d = driver("dynmem", RUN_VMS, regime)
    demand = np.tile(d.spec.rows, (RUN_TICKS // C.ROWS + 1, 1))[:RUN_TICKS]
    benchmark.extra_info["vm_ticks"] = RUN_VMS * RUN_TICKS
    tl = benchmark.pedantic(d.host.run, args=(demand,), kwargs=dict(dt_s=1.0, record_every=RECORD_EVERY), rounds=1 if SMOKE else 10, warmup_rounds=0 if SMOKE else 1)
    assert tl.assigned_mb.shape == (-(-RUN_TICKS // RECORD_EVERY), RUN_VMS)


@pytest.mark.parametrize("op", ["get", "set"])
def bench_bulk_demand(benchmark: Any, op: str) -> None:
    """Reading or writing every VM's demand through the bulk API."""
    benchmark.group = f"bulk-{BULK_SIZE}"
    h = driver("dynmem", BULK_SIZE, "contended").host
    row = C.make_spec(BULK_SIZE, "contended").rows[0]
    if op == "get":
        out = benchmark(lambda: h.demand_mb)
        assert len(out) == BULK_SIZE
    else:
        benchmark(h.set_demand_mb, row)


def bench_handle_read(benchmark: Any) -> None:
    """One attribute read through a VM handle (includes the benchmark's call overhead)."""
    benchmark.group = "handle"
    d = driver("dynmem", min(SIZES), "contended")
    vm = d.handles[len(d.handles) // 2]
    assert benchmark(getattr, vm, "assigned_mb") == d.host.assigned_mb[len(d.handles) // 2]


POLICY_CASES = ["hyperv", "static", "proportional", "shares", "strict", "numpy-user"]


@pytest.mark.parametrize("policy", POLICY_CASES)
def bench_policy_tick(benchmark: Any, policy: str) -> None:
    """One contended tick at the largest size under each allocation policy
    (``numpy-user``: Hyper-V's rule in numpy as a `dynmem.Policy`)."""
    n = max(SIZES)
    benchmark.group = f"policy-contended-{n}"
    chosen = C.numpy_user_policy()[0] if policy == "numpy-user" else dict(C.builtin_policies())[policy]
    d = C.make_driver("dynmem", C.make_spec(n, "contended"), policy=chosen)
    _tick(benchmark, d, 1 if SMOKE else _rounds("dynmem" if policy != "numpy-user" else "numpy", n))
