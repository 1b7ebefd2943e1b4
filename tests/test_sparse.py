"""Sparse ticks (issue 17): a run that holds each demand row for several
ticks (``hold_ticks``, or a `Trace` run at a ``dt_s`` that divides its
``tick_s``) on a host that skips quiet ticks equals, exactly, the dense run
of the repeated matrix on a host that ticks every VM every tick
(``_set_sparse(False)``), on random change patterns with events mixed in,
in every vector form; bad ``hold_ticks`` are typed errors that change nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dynmem
from dynmem import Event
from dynmem.errors import ConfigError, ConfigTypeError
from dynmem.traces import Trace

SERIES = ("demand_mb", "assigned_mb", "visible_mb", "target_mb", "status", "pressure", "available_mb",
          "average_pressure", "time_s", "tick")


def _host(seed: int, n: int, physical_mb: int, cap: str, sparse: bool) -> dynmem.Host:
    rng = np.random.default_rng(seed)
    h = dynmem.Host(physical_mb=physical_mb, reserve_mb=512,
                    policy=dynmem.HyperVPolicy(boot_report_delay_s=2.0, remove_delay_s=3.0))
    for i in range(n):
        h.add_vm(f"v{i}", startup_mb=512, minimum_mb=256, maximum_mb=4096,
                 weight=int(rng.integers(0, 10001)), dynamic=bool(i % 7 != 6))
    h._core._set_vector_cap(cap)
    h._core._set_sparse(sparse)
    return h


def _rows(seed: int, rows: int, n: int, changing: float) -> np.ndarray:
    """Demand rows where each VM changes with probability ``changing`` per row."""
    rng = np.random.default_rng(seed + 1)
    out = np.empty((rows, n), dtype=np.int64)
    out[0] = rng.integers(100, 3000, n)
    for r in range(1, rows):
        moved = rng.random(n) < changing
        out[r] = np.where(moved, rng.integers(100, 3000, n), out[r - 1])
    return out


def _events(seed: int, ticks: int, n: int) -> list[Event]:
    rng = np.random.default_rng(seed + 2)
    evs = [Event(0, f"v{i}", "start") for i in range(n - 2)]
    for _ in range(6):
        vm, t = f"v{int(rng.integers(0, n))}", int(rng.integers(0, ticks))
        action = str(rng.choice(["start", "stop", "configure"]))
        changes = {"buffer_pct": int(rng.integers(5, 60))} if action == "configure" else {}
        evs.append(Event(t, vm, action, changes))
    return evs


def _same(a: dynmem.Timeline, b: dynmem.Timeline) -> None:
    for key in SERIES:
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert a.events == b.events
    for ours, theirs in ((a.counters, b.counters), (a.host_counters, b.host_counters)):
        assert (ours is None) == (theirs is None)
        for key in ours or {}:
            assert np.array_equal(ours[key], theirs[key]), key


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), hold=st.integers(1, 6), every=st.integers(1, 5),
       changing=st.sampled_from([0.0, 0.05, 0.3, 1.0]), cap=st.sampled_from(["avx512", "avx2", "scalar"]),
       physical=st.sampled_from([8 * 1024, 24 * 1024, 64 * 1024]), dt=st.sampled_from([1.0, 0.5, 2.5]))
def test_held_rows_on_a_sparse_host_equal_the_dense_run(seed: int, hold: int, every: int, changing: float,
                                                         cap: str, physical: int, dt: float) -> None:
    n, rows = 24, 12
    demand = _rows(seed, rows, n, changing)
    events = _events(seed, rows * hold, n)
    sparse = _host(seed, n, physical, cap, sparse=True)
    dense = _host(seed, n, physical, "scalar", sparse=False)
    a = sparse.run(demand, dt, events, every, record_counters=True, hold_ticks=hold)
    b = dense.run(np.repeat(demand, hold, axis=0), dt, events, every, record_counters=True)
    _same(a, b)
    assert sparse.snapshot() == dense.snapshot()
    assert [vm.counters for vm in sparse.vms] == [vm.counters for vm in dense.vms]


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), hold=st.integers(1, 4), changing=st.sampled_from([0.0005, 0.002, 0.005]),
       cap=st.sampled_from(["avx512", "avx2", "scalar"]), per_vm=st.sampled_from([1400, 2600, 6000]))
def test_few_changes_on_a_large_host_tick_block_by_block_as_the_dense_run(seed: int, hold: int, changing: float,
                                                                          cap: str, per_vm: int) -> None:
    """3,000 VMs (24 blocks of 128) where a few change per row: the sparse
    host visits only the blocks changed or still moving (balancer/blocks.rs)
    and must equal the dense run, plentiful or pushed into contention."""
    n, rows = 3000, 10
    demand = _rows(seed, rows, n, changing)
    events = _events(seed, rows * hold, n)
    sparse = _host(seed, n, n * per_vm, cap, sparse=True)
    dense = _host(seed, n, n * per_vm, "scalar", sparse=False)
    a = sparse.run(demand, 1.0, events, 3, record_counters=True, hold_ticks=hold)
    b = dense.run(np.repeat(demand, hold, axis=0), 1.0, events, 3, record_counters=True)
    _same(a, b)
    assert sparse.snapshot() == dense.snapshot()


def test_a_trace_sampled_every_5_minutes_replays_at_1_second_ticks() -> None:
    n = 16
    demand = _rows(3, 4, n, 0.5)
    trace = Trace(names=[f"v{i}" for i in range(n)], tick_s=300.0, start_s=1.6e9, demand_mb=demand,
                  provisioned_mb=np.full_like(demand, 4096))
    events = _events(3, 1200, n)
    a, b = _host(3, n, 24 * 1024, "avx512", True), _host(3, n, 24 * 1024, "scalar", False)
    tl = a.run(trace, dt_s=1.0, events=events, record_every=60)
    want = b.run(np.repeat(demand, 300, axis=0), 1.0, events, 60)
    _same(tl, want)
    assert tl.start_epoch_s == 1.6e9 and tl.dt_s == 1.0 and len(tl.tick) == 20
    # The same with hold_ticks said out loud, and chunked (progress): whole rows per chunk.
    c = _host(3, n, 24 * 1024, "avx2", True)
    seen: list[int] = []
    _same(c.run(trace, dt_s=1.0, events=events, record_every=60, hold_ticks=300,
                progress=lambda done, total: seen.append(done)), want)
    assert seen[-1] == 1200 and len(seen) > 1


@pytest.mark.parametrize("kwargs, cls, field", [
    (dict(hold_ticks=0), ConfigError, "hold_ticks"),
    (dict(hold_ticks=-3), ConfigError, "hold_ticks"),
    (dict(hold_ticks=1.5), ConfigTypeError, "hold_ticks"),
    (dict(hold_ticks=True), ConfigTypeError, "hold_ticks"),
    (dict(hold_ticks="2"), ConfigTypeError, "hold_ticks"),
    (dict(trace=True, dt_s=7.0), ConfigError, "dt_s"),
    (dict(trace=True, dt_s=600.0), ConfigError, "dt_s"),
    (dict(trace=True, dt_s=1.0, hold_ticks=2), ConfigError, "hold_ticks"),
])
def test_bad_hold_is_a_typed_error_and_changes_nothing(kwargs: dict, cls: type, field: str) -> None:
    n = 4
    h = _host(0, n, 8192, "avx512", True)
    h.start_vms()
    h.tick(1.0)
    before = h.snapshot()
    demand = _rows(0, 3, n, 0.5)
    if kwargs.pop("trace", False):
        demand = Trace(names=[f"v{i}" for i in range(n)], tick_s=300.0, start_s=0.0, demand_mb=demand,
                       provisioned_mb=np.full_like(demand, 4096))
    with pytest.raises(cls) as e:
        h.run(demand, **kwargs)
    assert e.value.field == field, e.value
    assert h.snapshot() == before
