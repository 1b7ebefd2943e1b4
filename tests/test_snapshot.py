"""Snapshots (issue 12): `pickle` and `copy.deepcopy` of a `Host` and a
`Fleet` go through one versioned binary format of the core; a restored
object continues exactly as the original, tick by tick; a corrupted or
foreign snapshot is a `ConfigError` on ``snapshot``, never a crash."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import dynmem
from dynmem import _dynmem


def busy_host() -> dynmem.Host:
    rng = np.random.default_rng(2)
    h = dynmem.Host(65536, reserve_mb=1024, policy=dynmem.HyperVPolicy(remove_delay_s=3.0))
    s = rng.integers(128, 1024, 60) * 2
    h.add_vms([f"vm-{i}" for i in range(60)], startup_mb=s, maximum_mb=s * 4, minimum_mb=s // 2 // 2 * 2,
              weight=rng.integers(0, 10001, 60))
    h.start_vms(h.vms[:50])
    h.remove_vm(h.vms[55])
    for _ in range(8):
        h.set_demand_mb(rng.integers(0, 6000, len(h)))
        h.tick(1.0)
    return h


def state(h: dynmem.Host) -> tuple:
    return (h.time_s, h.available_mb, [vm.name for vm in h.vms], [vm.id for vm in h.vms],
            h.assigned_mb.tolist(), h.visible_mb.tolist(), h.pressure.tolist(), h.counters,
            [vm.counters for vm in h.vms], [vm.state for vm in h.vms])


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "snapshot"])
def test_a_host_continues_exactly_tick_by_tick(how: str) -> None:
    a = busy_host()
    b = {
        "pickle": lambda: pickle.loads(pickle.dumps(a)),
        "deepcopy": lambda: copy.deepcopy(a),
        "snapshot": lambda: dynmem.Host.from_snapshot(a.snapshot()),
    }[how]()
    assert b.policy == a.policy
    assert state(a) == state(b)
    rng = np.random.default_rng(7)
    for t in range(40):
        d = rng.integers(0, 8000, len(a))
        a.set_demand_mb(d)
        b.set_demand_mb(d)
        a.tick(0.5)
        b.tick(0.5)
        assert state(a) == state(b), t
    assert a.snapshot() == b.snapshot()
    # The copy's handles are its own.
    b.vms[0].demand_mb = 1
    assert a.vms[0].demand_mb != 1 or b.vms[0] is not a.vms[0]


def test_a_fleet_pickles_mid_run_and_continues_exactly() -> None:
    rng = np.random.default_rng(4)
    a = dynmem.Fleet(np.array([16384, 32768, 24576]), reserve_mb=512)
    ids = a.add_vms(30, startup_mb=1024, maximum_mb=4096, minimum_mb=512)
    a.start_vms(ids[a.place(ids) >= 0])
    demand = rng.integers(0, 3000, (30, 30))
    a.run(demand[:10])
    a.migrate(ids[:1], [(a.host_of(ids[:1])[0] + 1) % 3], duration_s=5.0)
    b = pickle.loads(pickle.dumps(a))
    c = copy.deepcopy(a)
    assert b.migrations == a.migrations
    ta, tb, tc = (f.run(demand[10:]) for f in (a, b, c))
    assert (ta.assigned_mb == tb.assigned_mb).all() and (ta.assigned_mb == tc.assigned_mb).all()
    assert a.snapshot() == b.snapshot() == c.snapshot()
    assert b.name(3) == a.name(3) and b.host_of(ids).tolist() == a.host_of(ids).tolist()


def test_corrupted_or_foreign_snapshots_are_typed_errors() -> None:
    data = busy_host().snapshot()
    rng = np.random.default_rng(0)
    for at in rng.integers(0, len(data), 200).tolist():
        bad = bytearray(data)
        bad[at] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(dynmem.ConfigError) as e:
            dynmem.Host.from_snapshot(bytes(bad))
        assert e.value.field == "snapshot"
    for cut in (0, 7, 12, len(data) // 2, len(data) - 1):
        with pytest.raises(dynmem.ConfigError):
            dynmem.Host.from_snapshot(data[:cut])
    with pytest.raises(dynmem.ConfigError, match="header"):
        dynmem.Host.from_snapshot(pickle.dumps({"not": "ours"}))
    fleet = dynmem.Fleet(np.array([4096]))
    with pytest.raises(dynmem.ConfigError, match="a Host"):
        dynmem.Fleet.from_snapshot(data)
    with pytest.raises(dynmem.ConfigError, match="a Fleet"):
        dynmem.Host.from_snapshot(fleet.snapshot())
    with pytest.raises(dynmem.ConfigTypeError):
        dynmem.Host.from_snapshot("text")  # type: ignore[arg-type]
    # A future version is refused by name.
    newer = bytearray(data)
    newer[8] = _dynmem.SNAPSHOT_VERSION + 1
    with pytest.raises(dynmem.ConfigError, match="version"):
        dynmem.Host.from_snapshot(bytes(newer))
