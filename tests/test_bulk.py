"""The bulk API: add_vms, start_vms, stop_vms equal the single operations,
are all or nothing where documented, and name the entry at fault."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dynmem


def _host(n_running: int, seed: int) -> dynmem.Host:
    rng = np.random.default_rng(seed)
    h = dynmem.Host(physical_mb=16384, reserve_mb=0, policy=dynmem.HyperVPolicy(boot_report_delay_s=0))
    for i in range(n_running + 6):
        h.add_vm(f"v{i}", startup_mb=int(rng.choice([512, 1024, 2048, 4096])), minimum_mb=256,
                 maximum_mb=8192, weight=int(rng.choice([0, 100, 5000, 10000])))
    for vm in h.vms[:n_running]:
        try:
            vm.start()
        except dynmem.InsufficientMemoryError:
            pass  # stays off: a candidate for the batch start
    h.set_demand_mb(rng.integers(0, 4000, len(h)))
    h.tick(1.0)
    return h


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 8), seed=st.integers(0, 1000))
def test_start_vms_equals_starting_one_by_one(n: int, seed: int) -> None:
    a, b = _host(n, seed), _host(n, seed)
    off_a = [vm for vm in a.vms if vm.state == "off"]
    started = a.start_vms()
    expect = []
    for vm in [vm for vm in b.vms if vm.state == "off"]:
        try:
            vm.start()
            expect.append(True)
        except dynmem.InsufficientMemoryError:
            expect.append(False)
    assert started.tolist() == expect and len(off_a) == len(expect)
    assert a.assigned_mb.tolist() == b.assigned_mb.tolist()
    assert [vm.counters for vm in a.vms] == [vm.counters for vm in b.vms]
    assert a.available_mb == b.available_mb >= 0


def test_add_vms_broadcasts_and_names_the_bad_entry() -> None:
    h = dynmem.Host(physical_mb=8192, reserve_mb=512)
    vms = h.add_vms(["a", "b", "c"], startup_mb=[512, 1024, 2048], maximum_mb=4096, weight=np.array([1, 2, 3]))
    assert [(vm.name, vm.startup_mb, vm.minimum_mb, vm.maximum_mb, vm.weight) for vm in vms] == [
        ("a", 512, 512, 4096, 1), ("b", 1024, 1024, 4096, 2), ("c", 2048, 2048, 4096, 3)]
    for kwargs, field in [
        (dict(names=["d", "e"], weight=[1, 20000]), "weight[1]"),
        (dict(names=["d", "e"], startup_mb=[1024, 1023]), "startup_mb[1]"),
        (dict(names=["d", "a"]), "names[1]"),
        (dict(names=["d", "d"]), "names[1]"),
        (dict(names=["d", "e"], minimum_mb=[512, -4]), "minimum_mb[1]"),
        (dict(names=["d", "e"], weight=[1, 2, 3]), "weight"),
    ]:
        with pytest.raises(dynmem.ConfigError) as e:
            h.add_vms(**kwargs)
        assert e.value.field == field, (kwargs, str(e.value))
        assert len(h) == 3
    with pytest.raises(dynmem.ConfigTypeError):
        h.add_vms("de")  # type: ignore[arg-type]


def test_stop_vms_all_or_nothing() -> None:
    h = _host(3, 1)
    before = h.assigned_mb.tolist()
    with pytest.raises(dynmem.StateError) as e:
        h.stop_vms(["v0", "v5"])  # v5 is off
    assert e.value.field == "vms[1]" and h.assigned_mb.tolist() == before
    h.stop_vms()
    assert (h.assigned_mb == 0).all() and h.available_mb == h.physical_mb - h.reserve_mb
    with pytest.raises(dynmem.StateError):
        h.start_vms(["v1", "v1"])


def test_names_in_one_call_follow_adds_and_removals():
    """`Host._core.names()` (what `Host.run` labels its series with) lists the
    names in `host.vms` order, through removals and later adds."""
    host = dynmem.Host(physical_mb=65536)
    vms = host.add_vms([f"n{i}" for i in range(50)], startup_mb=512)
    for i in (0, 7, 8, 49):
        host.remove_vm(vms[i])
    host.add_vm("late")
    assert host._core.names() == [vm.name for vm in host.vms]
    assert host.run(np.full((2, len(host)), 100), record_every=1).names == [vm.name for vm in host.vms]
