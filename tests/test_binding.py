"""The extension's own surface: the counter-name constants (the core's names,
the keys of the counter dicts) and `RunRecord`, the typed result that
`Host.run` builds its `Timeline` from."""

from __future__ import annotations

import numpy as np
import pytest

import helpers as H

pytestmark = pytest.mark.skipif(not H.HAVE_DYNMEM, reason="dynmem not built")

if H.HAVE_DYNMEM:
    import dynmem
    from dynmem import _dynmem


def _host():
    host = dynmem.Host(physical_mb=8192, reserve_mb=512)
    a = host.add_vm("a", startup_mb=1024, maximum_mb=4096)
    host.add_vm("b", startup_mb=512, maximum_mb=2048)
    a.start()
    a.demand_mb = 2500
    host.tick(1.0)
    return host, a


def test_counter_names_are_the_dict_keys_in_order():
    host, a = _host()
    assert _dynmem.VM_COUNTER_NAMES == H.VM_COUNTERS
    assert _dynmem.HOST_COUNTER_NAMES == H.HOST_COUNTERS
    assert tuple(a.counters) == _dynmem.VM_COUNTER_NAMES
    assert tuple(host.counters) == _dynmem.HOST_COUNTER_NAMES


def test_counter_values_are_ints_and_floats():
    host, a = _host()
    kinds = [type(v) for v in a.counters.values()]
    assert kinds == [int] * 6 + [float] * 4 + [int] * 2
    assert [type(v) for v in host.counters.values()] == [int, float, float, int]
    assert a.counters["Physical Memory"] == a.assigned_mb
    assert host.counters["Available Memory"] == host.available_mb


def test_run_record_is_typed_frozen_and_not_constructible():
    host, a = _host()
    demand = np.full((5, 2), 700, dtype=np.int64)
    events = [(1, a.id, "configure", {"weight": 100}), (3, a.id, "start", None)]
    r = host._core.run(demand, 1.0, events, 2)
    assert type(r) is _dynmem.RunRecord
    with pytest.raises(AttributeError):
        r.tick = np.zeros(3, dtype=np.uint64)
    with pytest.raises(TypeError):
        _dynmem.RunRecord()
    assert r.tick.tolist() == [0, 2, 4] and r.tick.dtype == np.uint64
    assert r.time_s.dtype == np.float64 and r.time_s.shape == (3,)
    for name, dtype in [("demand_mb", np.int64), ("assigned_mb", np.int64), ("visible_mb", np.int64),
                        ("target_mb", np.int64), ("pressure", np.float64), ("status", np.uint8)]:
        arr = getattr(r, name)
        assert arr.shape == (3, 2) and arr.dtype == dtype, name
        assert arr.flags["C_CONTIGUOUS"], name
        assert getattr(r, name) is arr, name  # one array per series, not a new one per read
    assert r.available_mb.dtype == np.int64 and r.average_pressure.dtype == np.float64
    assert (r.demand_mb == 700).all()
    (i0, t0, m0), (i1, t1, m1) = r.events
    assert (i0, t0, m0) == (0, 1, None)
    assert (i1, t1) == (1, 3) and isinstance(m1, str) and "already" in m1


@pytest.mark.parametrize("ticks, vms", [(0, 2), (3, 0), (0, 0)])
def test_run_record_empty_shapes(ticks, vms):
    host = dynmem.Host(physical_mb=8192, reserve_mb=512)
    for k in range(vms):
        host.add_vm(f"v{k}", startup_mb=512, maximum_mb=1024)
    r = host._core.run(np.zeros((ticks, vms), dtype=np.int64), 1.0, [], 1)
    assert r.demand_mb.shape == (ticks, vms) and r.status.shape == (ticks, vms)
    assert r.tick.shape == (ticks,) and r.events == ()
    t = host.run(np.zeros((ticks, vms), dtype=np.int64))
    assert t.pressure.shape == (ticks, vms) and t.events == []
