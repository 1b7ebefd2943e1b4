"""The extension's own surface: the counter-name constants (the core's names,
the keys of the counter dicts)."""

from __future__ import annotations

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
    assert kinds == [int] * 6 + [float] * 4
    assert [type(v) for v in host.counters.values()] == [int, float, float]
    assert a.counters["Physical Memory"] == a.assigned_mb
    assert host.counters["Available Memory"] == host.available_mb
