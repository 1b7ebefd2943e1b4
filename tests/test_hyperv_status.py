"""Memory Status by Hyper-V's rule (docs/balancer.md, "Status and counters";
shared/dynamic-memory.md §8): hand-computed cases, core and reference alike."""

import numpy as np
import pytest

import dynmem

import reference


def running(host_cls, maximum_mb, demand_mb, buffer_pct=20, dynamic=True):
    """A VM running with `demand_mb`, held to `maximum_mb` by its maximum."""
    host = host_cls(physical_mb=16384, reserve_mb=1024)
    vm = host.add_vm("v", startup_mb=512, maximum_mb=maximum_mb, minimum_mb=512,
                     buffer_pct=buffer_pct, dynamic=dynamic)
    vm.start()
    vm.demand_mb = demand_mb
    for _ in range(60):
        host.tick(1.0)
    return host, vm


HOSTS = [dynmem.Host, reference.Host]


@pytest.mark.parametrize("host_cls", HOSTS)
@pytest.mark.parametrize(
    "maximum_mb, pct, status",
    [
        # demand 1000 MB, buffer 20 %: 200 MB configured, 80 % of it = 160 MB
        (4096, 100, "ok"),  # at its target 1200: the whole buffer free
        (1162, 81, "ok"),  # 162/200 = 81 %: above 80
        (1160, 80, "low"),  # exactly 80 %: not above 80
        (1100, 50, "low"),
        (1000, 0, "low"),  # nothing free, nothing short
        (998, -1, "warning"),  # −2/200 = −1 %
        (600, -200, "warning"),
    ],
)
def test_status_by_available_buffer_pins_80_percent(host_cls, maximum_mb, pct, status):
    host, vm = running(host_cls, maximum_mb, 1000)
    assert vm.state == "running" and vm.assigned_mb == min(maximum_mb, 1200)
    assert vm.available_buffer_pct == pct
    assert vm.status == status


@pytest.mark.parametrize("host_cls", HOSTS)
def test_reported_demand_steps_of_one_percent(host_cls):
    host, vm = running(host_cls, 1162, 1000)
    # MemoryAvailable = floor(100 × 162 / 1162) = floor(13.94) = 13
    assert vm.memory_available_pct == 13
    # MemoryDemand = floor(1162 × 87 / 100) = floor(1010.94) = 1010
    assert vm.reported_demand_mb == 1010
    vm.demand_mb = 1300  # above assigned: −11.9 % → −12; 1162 × 112 / 100 = 1301.44
    assert (vm.memory_available_pct, vm.reported_demand_mb, vm.status) == (-12, 1301, "warning")


@pytest.mark.parametrize("host_cls", HOSTS)
def test_demand_zero_is_ok_with_the_whole_buffer_free(host_cls):
    host, vm = running(host_cls, 4096, 0)
    assert vm.assigned_mb == 512
    assert (vm.available_buffer_pct, vm.memory_available_pct, vm.reported_demand_mb) == (100, 100, 0)
    assert vm.status == "ok"


@pytest.mark.parametrize("host_cls", HOSTS)
def test_static_vm_shows_no_status_and_off_shows_off(host_cls):
    host, vm = running(host_cls, 4096, 3000, dynamic=False)
    assert vm.assigned_mb == 512 and vm.paging_mb == 2488
    assert (vm.status, vm.available_buffer_pct) == ("", 0)
    assert vm.reported_demand_mb == 3000  # 512 × 586 / 100 = 3000.32
    vm.stop()
    assert (vm.status, vm.available_buffer_pct, vm.memory_available_pct, vm.reported_demand_mb) == (
        "off", 0, 0, 0)


def test_bulk_arrays_and_status_codes_match_the_handles():
    host = dynmem.Host(physical_mb=16384, reserve_mb=1024)
    for i, (mx, dyn) in enumerate([(1162, True), (1160, True), (998, True), (4096, False), (4096, True)]):
        vm = host.add_vm(f"v{i}", startup_mb=512, maximum_mb=mx, minimum_mb=512, dynamic=dyn)
        if i < 4:
            vm.start()
    host.set_demand_mb(np.array([1000, 1000, 1000, 1000, 0]))
    for _ in range(60):
        host.tick(1.0)
    assert host.available_buffer_pct.dtype == np.int64
    assert host.available_buffer_pct.tolist() == [81, 80, -1, 0, 0]
    assert host.memory_available_pct.tolist() == [vm.memory_available_pct for vm in host.vms]
    assert host.reported_demand_mb.tolist() == [vm.reported_demand_mb for vm in host.vms]
    names = [dynmem.STATUS_NAMES[c] for c in host.status_codes]
    assert names == ["ok", "low", "warning", "", "off"] == [vm.status for vm in host.vms]


@pytest.mark.parametrize("host_cls", HOSTS)
def test_new_counters_by_hand(host_cls):
    host, vm = running(host_cls, 1162, 1000)
    c = vm.counters
    assert c["Guest Available Memory"] == 162  # 1162 − 1000
    assert c["Smart Paging Working Set Size"] == 0
    vm.demand_mb = 1300
    assert vm.counters["Guest Available Memory"] == 0  # the guest pages 138 MB instead
    assert vm.paging_mb == 138
    # 16384 − 1024 − 1162
    assert host.counters["Available Memory For Balancing"] == host.counters["Available Memory"] == 14198
    vm.stop()
    assert vm.counters["Guest Available Memory"] == 0
