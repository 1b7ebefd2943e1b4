"""dynmem.simpy.HostProcess: a Host ticked as a SimPy process."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dynmem

simpy = pytest.importorskip("simpy")
from dynmem.simpy import HostProcess  # noqa: E402


def make_host() -> dynmem.Host:
    h = dynmem.Host(8192, 512)
    h.add_vm("a", startup_mb=1024, maximum_mb=4096)
    h.add_vm("b", startup_mb=2048, maximum_mb=4096, weight=8000)
    h.add_vm("c", startup_mb=4096, maximum_mb=6144)
    return h


def snapshot(h: dynmem.Host) -> dict:
    return {
        "time_s": h.time_s,
        "demand_mb": h.demand_mb.tolist(),
        "assigned_mb": h.assigned_mb.tolist(),
        "visible_mb": h.visible_mb.tolist(),
        "target_mb": h.target_mb.tolist(),
        "pressure": h.pressure.tolist(),
        "available_mb": h.available_mb,
        "status": [vm.status for vm in h.vms],
        "counters": h.counters,
    }


DEMAND = (np.random.default_rng(7).integers(300, 3000, size=(400, 3)) * 2).astype(np.int64)


@pytest.mark.parametrize("n, dt_s", [(1, 1.0), (37, 1.0), (600, 1.0), (40, 0.5), (30, 3.0)])
def test_time_after_n_simpy_seconds(n, dt_s):
    env = simpy.Environment()
    h = make_host()
    hp = HostProcess(env, h, dt_s=dt_s)
    env.run(until=n)
    assert h.time_s == pytest.approx(n)
    assert hp.ticks == round(n / dt_s)


def test_time_when_started_later_on_used_host():
    env = simpy.Environment(initial_time=100)
    h = make_host()
    h.tick(5.0)
    hp = HostProcess(env, h, dt_s=2.0)
    env.run(until=120)
    assert hp.ticks == 10
    assert h.time_s == 25.0


def test_whole_host_demand_equals_ticking_by_hand():
    env = simpy.Environment()
    h1 = make_host()
    for vm in h1.vms:
        vm.start() if vm.name != "c" else None
    seen: list[float] = []

    def demand(now: float) -> np.ndarray:
        seen.append(now)
        return DEMAND[int(now)]

    got: list[dict] = []
    hp = HostProcess(env, h1, demand=demand)
    hp.on_tick.append(lambda p: got.append(snapshot(p.host)))
    env.run(until=len(DEMAND))

    h2 = make_host()
    h2.vm("a").start()
    h2.vm("b").start()
    want = []
    for row in DEMAND:
        h2.set_demand_mb(row)
        h2.tick(1.0)
        want.append(snapshot(h2))

    assert seen == [float(k) for k in range(len(DEMAND))]
    assert len(got) == len(want) == len(DEMAND)
    assert got == want
    # the demands actually mattered: assigned memory moved around
    assert len({tuple(s["assigned_mb"]) for s in got}) > 5


def test_per_vm_demand_equals_ticking_by_hand():
    env = simpy.Environment()
    h1 = make_host()
    h1.vm("a").start()
    h1.vm("b").start()
    h1.vm("b").demand_mb = 1500  # not in the mapping: kept
    fa = lambda t: 2 * int(500 + 40 * t)  # noqa: E731
    fc = lambda t: 1000  # noqa: E731
    got: list[dict] = []
    hp = HostProcess(env, h1, dt_s=2.0, demand={h1.vm("a"): fa, "c": fc})
    hp.on_tick.append(lambda p: got.append(snapshot(p.host)))
    env.run(until=120)

    h2 = make_host()
    h2.vm("a").start()
    h2.vm("b").start()
    h2.vm("b").demand_mb = 1500
    want = []
    for k in range(60):
        t = 2.0 * k
        h2.vm("a").demand_mb = fa(t)
        h2.vm("c").demand_mb = 1000
        h2.tick(2.0)
        want.append(snapshot(h2))
    assert got == want
    assert got[-1]["demand_mb"] == [fa(118.0), 1500, 1000]


def test_recorded_timeline_equals_host_run_with_midrun_start_and_stop():
    ticks = 300
    h1 = make_host()
    events = [
        dynmem.Event(0, "a", "start"),
        dynmem.Event(0, "b", "start"),
        dynmem.Event(30, "c", "start"),
        dynmem.Event(200, "b", "stop"),
    ]
    want = h1.run(DEMAND[:ticks], events=events, record_every=7)

    env = simpy.Environment()
    h2 = make_host()
    hp = HostProcess(env, h2, demand=lambda t: DEMAND[int(t)], record_every=7)

    def operator(env):
        h2.vm("a").start()
        h2.vm("b").start()
        yield env.timeout(30)
        h2.vm("c").start()  # at SimPy time 30: part of tick 30, like Event(30, ...)
        yield env.timeout(170)
        h2.vm("b").stop()

    env.process(operator(env))
    env.run(until=ticks)
    got = hp.timeline()

    assert got.names == want.names
    assert got.rows == want.rows == len(range(0, ticks, 7))
    for k in ("tick", "time_s", "demand_mb", "assigned_mb", "visible_mb", "target_mb",
              "pressure", "status", "available_mb", "average_pressure"):
        assert getattr(got, k).dtype == getattr(want, k).dtype, k
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k), err_msg=k)
    assert snapshot(h1) == snapshot(h2)
    # c really did start at 30 and b really did stop at 200
    status = got.status
    off = dynmem.STATUS_NAMES.index("off")
    assert (status[got.tick < 30, 2] == off).all() and (status[got.tick >= 35, 2] != off).all()
    assert (status[got.tick >= 200, 1] == off).all()


def test_actions_at_a_tick_time_are_part_of_that_tick():
    # The process acts at SimPy time 4 from a timeout scheduled *after* the
    # tick at 4 was: the tick must still come after it.
    env = simpy.Environment()
    h = make_host()
    a = h.vm("a")
    hp = HostProcess(env, h)
    seen: dict[int, tuple[int, str]] = {}
    hp.on_tick.append(lambda p: seen.__setitem__(p.ticks - 1, (a.demand_mb, a.state)))

    def actor(env):
        while env.now < 3:
            yield hp.ticked
        yield env.timeout(1)
        a.demand_mb = 3000
        yield env.timeout(0)
        a.start()

    env.process(actor(env))
    env.run(until=6)
    assert seen[3] == (0, "off")
    assert seen[4][0] == 3000 and seen[4][1] != "off"


def test_ticked_event_and_hooks():
    env = simpy.Environment()
    h = make_host()
    hp = HostProcess(env, h, dt_s=5.0)
    calls: list[tuple[float, float, int]] = []
    hp.on_tick.append(lambda p: calls.append((p.env.now, p.host.time_s, p.ticks)))
    woke: list[tuple[float, float]] = []

    def watcher(env):
        for _ in range(3):
            value = yield hp.ticked
            woke.append((env.now, value))

    env.process(watcher(env))
    env.run(until=20)
    assert calls == [(0, 5.0, 1), (5, 10.0, 2), (10, 15.0, 3), (15, 20.0, 4)]
    assert woke == [(0, 5.0), (5, 10.0), (10, 15.0)]


def test_wait_for_memory_retries_until_memory_frees():
    env = simpy.Environment()
    h = dynmem.Host(8192, 512)
    hog = h.add_vm("hog", startup_mb=6144, maximum_mb=7000)
    big = h.add_vm("big", startup_mb=4096)
    hog.start()
    hp = HostProcess(env, h, record_every=1)
    result: dict = {}

    def operator(env):
        yield env.timeout(50)
        hog.stop()

    def tenant(env):
        yield env.timeout(3)
        result["waited"] = yield hp.wait_for_memory("big")
        result["now"] = env.now
        result["state"] = big.state

    env.process(operator(env))
    env.process(tenant(env))
    env.run(until=80)
    # stopped at 50 before the tick at 50; the retry after that tick succeeds
    assert result["waited"] == 47.0
    assert result["now"] == 50
    assert result["state"] != "off"
    tl = hp.timeline()
    assert tl.events == [(51, "big", "start", None)]
    off = dynmem.STATUS_NAMES.index("off")
    assert (tl.status[:51, 1] == off).all() and (tl.status[51:, 1] != off).all()


def test_wait_for_memory_immediate_and_timeout():
    env = simpy.Environment()
    h = dynmem.Host(8192, 512)
    small = h.add_vm("small", startup_mb=1024)
    huge = h.add_vm("huge", startup_mb=8192)
    hp = HostProcess(env, h, record_every=10)
    out: dict = {}

    def tenant(env):
        out["small"] = yield hp.wait_for_memory(small)
        try:
            yield hp.wait_for_memory(huge, timeout_s=10)
        except dynmem.InsufficientMemoryError as e:
            out["error"] = (env.now, str(e))

    env.process(tenant(env))
    env.run(until=30)
    assert out["small"] == 0.0
    assert small.state != "off" and huge.state == "off"
    assert out["error"][0] == 10
    events = hp.timeline().events
    assert events[0] == (0, "small", "start", None)
    assert events[1][:3] == (11, "huge", "start") and "huge" in events[1][3]


def test_wait_for_memory_running_vm_fails_at_once():
    env = simpy.Environment()
    h = make_host()
    h.vm("a").start()
    hp = HostProcess(env, h)
    caught = []

    def tenant(env):
        try:
            yield hp.wait_for_memory("a")
        except dynmem.StateError as e:
            caught.append(env.now)

    env.process(tenant(env))
    env.run(until=5)
    assert caught == [0]


def test_stop():
    env = simpy.Environment()
    h = make_host()
    hp = HostProcess(env, h)

    def stopper(env):
        yield env.timeout(10)
        hp.stop()

    env.process(stopper(env))
    env.run(until=50)
    assert hp.stopped and hp.ticks == 10 and h.time_s == 10.0

    env2 = simpy.Environment()
    h2 = make_host()
    hp2 = HostProcess(env2, h2)
    hp2.on_tick.append(lambda p: p.stop() if p.ticks == 4 else None)
    env2.run(until=50)
    assert hp2.ticks == 4 and h2.time_s == 4.0

    env3 = simpy.Environment()
    h3 = make_host()
    hp3 = HostProcess(env3, h3)
    hp3.stop()  # before its first tick
    env3.run(until=5)
    assert hp3.ticks == 0 and h3.time_s == 0.0


def test_vm_added_midrun_is_padded_in_timeline():
    env = simpy.Environment()
    h = dynmem.Host(8192, 512)
    h.add_vm("a").start()
    hp = HostProcess(env, h, record_every=2)

    def later(env):
        yield env.timeout(5)
        h.add_vm("late", startup_mb=512, minimum_mb=512).start()

    env.process(later(env))
    env.run(until=10)
    tl = hp.timeline()
    assert tl.names == ["a", "late"]
    assert tl.tick.tolist() == [0, 2, 4, 6, 8]
    off = dynmem.STATUS_NAMES.index("off")
    assert tl.status[:, 1].tolist()[:3] == [off] * 3
    assert (tl.status[3:, 1] != off).all()
    assert (tl.assigned_mb[3:, 1] >= 512).all()


def test_timeline_before_the_first_tick_and_of_a_host_without_vms():
    hp = HostProcess(simpy.Environment(), make_host(), dt_s=2.0, record_every=3)
    tl = hp.timeline()  # the host's VMs are its columns already
    assert tl.rows == 0 and tl.names == ["a", "b", "c"] and tl.assigned_mb.shape == (0, 3)
    assert tl.record_every == 3 and tl.dt_s == 2.0 and tl.tick.dtype == np.uint64
    env = simpy.Environment()
    hp = HostProcess(env, dynmem.Host(4096, 512), record_every=2)
    env.run(until=5)
    tl = hp.timeline()
    assert tl.tick.tolist() == [0, 2, 4] and tl.time_s.tolist() == [1.0, 3.0, 5.0]
    assert tl.assigned_mb.shape == (3, 0) and tl.available_mb.tolist() == [3584] * 3


def test_timeline_needs_record_every():
    env = simpy.Environment()
    hp = HostProcess(env, make_host())
    with pytest.raises(dynmem.StateError):
        hp.timeline()


@pytest.mark.parametrize("dt_s", [0, -1.0, float("nan"), float("inf"), True, "1"])
def test_bad_dt(dt_s):
    with pytest.raises(dynmem.ConfigError):
        HostProcess(simpy.Environment(), make_host(), dt_s=dt_s)


def test_bad_demand_and_vm():
    env = simpy.Environment()
    with pytest.raises(dynmem.ConfigTypeError):
        HostProcess(env, make_host(), demand=42)
    with pytest.raises(dynmem.ConfigTypeError):
        HostProcess(env, make_host(), demand={"a": 42})
    with pytest.raises(dynmem.StateError):
        HostProcess(env, make_host(), demand={"nope": lambda t: 0})
    other = make_host()
    with pytest.raises(dynmem.StateError):
        HostProcess(env, make_host(), demand={other.vm("a"): lambda t: 0})


def test_bad_demand_value_ends_run_with_config_error():
    env = simpy.Environment()
    HostProcess(env, make_host(), demand={"a": lambda t: 100.5})
    with pytest.raises(dynmem.ConfigError, match="demand_mb"):
        env.run(until=3)


def test_without_simpy_raises_import_error_naming_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "simpy", None)
    with pytest.raises(ImportError, match=r"dynmem\[simpy\]"):
        HostProcess(object(), make_host())


def test_module_imports_without_simpy(monkeypatch):
    import importlib

    import dynmem.simpy

    monkeypatch.setattr(dynmem, "simpy", dynmem.simpy)  # restored afterwards
    monkeypatch.delitem(sys.modules, "dynmem.simpy")
    monkeypatch.setitem(sys.modules, "simpy", None)
    fresh = importlib.import_module("dynmem.simpy")
    assert fresh.HostProcess is not HostProcess
    with pytest.raises(ImportError, match=r"dynmem\[simpy\]"):
        fresh.HostProcess(object(), make_host())


def test_example_runs(tmp_path):
    import pathlib
    import subprocess

    script = pathlib.Path(__file__).resolve().parents[1] / "examples" / "simpy_datacenter.py"
    r = subprocess.run(
        [sys.executable, str(script), "--hours", "1.5", "--seed", "3"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "host.time_s = 5400 s" in r.stdout
    assert "'analytics' started after waiting" in r.stdout
    for name in ("web", "db", "batch", "analytics"):
        assert f"\n{name} " in r.stdout
