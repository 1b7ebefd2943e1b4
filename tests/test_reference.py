"""Hand-computed checks of tests/reference.py against docs/balancer.md.

These pin the reference itself (no compiled module needed), so that a
differential failure can be blamed on the right side. Every expected number
below is worked out by hand from the spec in the comments.
"""

from __future__ import annotations

import pytest

import reference as R


def test_default_reserve_rule():
    # 384 + 64 * 8192 // 1024 = 384 + 512
    assert R.Host(8192).reserve_mb == 896
    assert R.Host(1000).reserve_mb == 384 + 62  # integer division
    assert R.Host(8192, reserve_mb=0).reserve_mb == 0


def test_boot_then_first_allocation_with_hot_add():
    h = R.Host(8192, reserve_mb=512)
    vm = h.add_vm("a", startup_mb=1024, maximum_mb=4096)
    assert vm.minimum_mb == 1024  # None -> startup
    assert (vm.state, vm.assigned_mb, vm.target_mb, vm.status) == ("off", 0, 0, "off")
    vm.start()
    assert (vm.state, vm.assigned_mb, vm.visible_mb, vm.target_mb) == ("starting", 1024, 1024, 1024)
    vm.demand_mb = 2000
    for _ in range(44):
        h.tick(1.0)
    # still booting: holds startup; target is startup; guest pages 976 MB
    assert (vm.state, vm.assigned_mb, vm.target_mb, vm.status, vm.paging_mb) == \
        ("starting", 1024, 1024, "warning", 976)
    h.tick(1.0)  # clock reaches 45 -> running and allocated in the same tick
    # target = ceil_u(ceil(2000 * 120 / 100)) = 2400; fits -> g = 2400
    # hot-add: visible = min(4096, 1024 + ceil(1376/128) * 128) = 1024 + 1408
    assert (vm.state, vm.target_mb, vm.assigned_mb, vm.visible_mb) == ("running", 2400, 2400, 2432)
    c = vm.counters
    assert (c["Added Memory"], c["Memory Add Operations"]) == (1376, 1)
    assert (c["Removed Memory"], c["Memory Remove Operations"]) == (0, 0)
    assert vm.status == "ok"
    assert vm.pressure == 2000 / 2400 * 100
    assert h.time_s == 45.0
    assert h.available_mb == 8192 - 512 - 2400


def test_hot_add_capped_at_maximum_then_assigned():
    h = R.Host(8192, reserve_mb=0, policy=R.Policy(boot_report_delay_s=0.0))
    vm = h.add_vm("a", startup_mb=1000, maximum_mb=1100, minimum_mb=1000)
    vm.start()
    vm.demand_mb = 5000
    h.tick(1.0)
    # target clamps to 1100; 1000 + 1 chunk = 1128 > maximum -> visible 1100
    assert (vm.assigned_mb, vm.visible_mb) == (1100, 1100)
    vm.maximum_mb = 1300  # raising maximum while running is allowed
    h.tick(1.0)
    # 1100 + 128 = 1228 < 1300 = assigned -> visible = assigned
    assert (vm.assigned_mb, vm.visible_mb) == (1300, 1300)
    assert vm.counters["Memory Add Operations"] == 2


def test_lazy_removal_waits_then_steps():
    h = R.Host(8192, reserve_mb=512)
    vm = h.add_vm("a", startup_mb=1024, maximum_mb=4096, minimum_mb=512)
    vm.start()
    vm.demand_mb = 2000
    for _ in range(45):
        h.tick(1.0)
    assert vm.assigned_mb == 2400
    vm.demand_mb = 500  # target = 600
    for _ in range(4):  # excess clock 1..4 < 5: nothing removed
        h.tick(1.0)
        assert vm.assigned_mb == 2400 and vm.status == "ok"
    expected = 2400
    for _ in range(8):  # then 256 MB per 1 s tick, down to exactly 600
        h.tick(1.0)
        expected = max(600, expected - 256)
        assert vm.assigned_mb == expected
        assert vm.visible_mb == 2432  # ballooning never shrinks visible
    assert expected == 600
    c = vm.counters
    assert c["Removed Memory"] == 1800
    assert c["Memory Remove Operations"] == 8  # 7 steps of 256 + one of 8
    # stays put at the target
    h.tick(1.0)
    assert vm.assigned_mb == 600 and c["Memory Remove Operations"] == 8


def test_lazy_step_is_at_least_one_unit():
    # rate 1 MB/s, dt 0.5 s: floor_u(floor(0.5)) = 0 -> max(u, 0) = 2 MB
    pol = R.Policy(boot_report_delay_s=0.0, remove_delay_s=0.0, remove_rate_mb_per_s=1.0)
    h = R.Host(4096, reserve_mb=0, policy=pol)
    vm = h.add_vm("a", startup_mb=1024, maximum_mb=4096, minimum_mb=512)
    vm.start()
    h.tick(0.5)  # demand 0 -> target = minimum 512
    assert vm.assigned_mb == 1022


def test_two_vms_fill_and_prompt_removal():
    pol = R.Policy(boot_report_delay_s=0.0)
    h = R.Host(4096, reserve_mb=0, policy=pol)
    a = h.add_vm("a", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=1000)
    b = h.add_vm("b", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=9000)
    a.start()
    b.start()
    h.tick(1.0)
    assert a.state == b.state == "running"
    assert (a.assigned_mb, b.assigned_mb) == (1024, 1024)  # excess, lazy clock 1 s

    # stage 2: targets 1800 + 2400 > 4096 but demand caps 1500 + 2000 fit.
    # fill 596 MB = 298 units, caps 150 / 200 units, weights 1000 / 9000:
    # level 989 -> a 98, b min(200, 890) = 200 units -> g = 1696, 2400
    a.demand_mb, b.demand_mb = 1500, 2000
    h.tick(1.0)
    assert (a.assigned_mb, b.assigned_mb) == (1696, 2400)
    assert (a.visible_mb, b.visible_mb) == (1024 + 6 * 128, 1024 + 11 * 128)
    assert (a.status, b.status) == ("low", "ok")
    assert h.available_mb == 0

    # stage 3: demand caps 3000 + 2000 > 4096. minimum 512 each, fill 1536
    # units over caps 1244 / 744 units: b capped, level 7929 -> a 792 units.
    # g = 2096, 2000. free = 0, need = 400 -> prompt: b balloons 400.
    a.demand_mb = 3000
    h.tick(1.0)
    assert (a.assigned_mb, b.assigned_mb) == (2096, 2000)
    assert a.visible_mb == 1792 + 3 * 128
    assert b.visible_mb == 2432
    assert (b.counters["Removed Memory"], b.counters["Memory Remove Operations"]) == (400, 1)
    assert (a.counters["Added Memory"], a.counters["Memory Add Operations"]) == (1072, 2)
    assert a.status == "warning" and a.paging_mb == 904
    assert a.pressure == 3000 / 2096 * 100
    assert b.pressure == 100.0
    hc = h.counters
    assert hc["System Current Pressure"] == 5000 / 4096 * 100
    assert hc["Average Pressure"] == (3000 / 2096 * 100 + 100.0) / 2


def test_start_balloons_lower_weight_and_fails_atomically():
    pol = R.Policy(boot_report_delay_s=0.0)
    h = R.Host(3072, reserve_mb=0, policy=pol)
    a = h.add_vm("a", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=100)
    b = h.add_vm("b", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=9000)
    a.start()
    b.start()
    h.tick(1.0)
    a.demand_mb = b.demand_mb = 1000
    h.tick(1.0)
    assert (a.assigned_mb, b.assigned_mb) == (1200, 1200)

    # free 672 < 1024: short 352 from a (weight 100 <= 5000), b not eligible
    c = h.add_vm("c", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=5000)
    c.start()
    assert (a.assigned_mb, b.assigned_mb, c.assigned_mb) == (848, 1200, 1024)
    assert c.state == "starting"
    assert (a.counters["Removed Memory"], a.counters["Memory Remove Operations"]) == (352, 1)

    # weight 50: nobody has weight <= 50 -> fails, nothing changes
    d = h.add_vm("d", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=50)
    with pytest.raises(R.InsufficientMemory):
        d.start()
    assert (a.assigned_mb, b.assigned_mb, c.assigned_mb, d.assigned_mb) == (848, 1200, 1024, 0)
    assert d.state == "off"

    # weight 10000, static: a gives 336 (to its minimum), then b gives 688;
    # c is starting and never a donor
    e = h.add_vm("e", startup_mb=1024, maximum_mb=1024, minimum_mb=1024, weight=10000,
                 dynamic=False)
    e.start()
    assert (a.assigned_mb, b.assigned_mb, c.assigned_mb, e.assigned_mb) == (512, 512, 1024, 1024)
    assert e.state == "running" and e.target_mb == 1024
    assert a.counters["Memory Remove Operations"] == 2
    assert h.available_mb == 0


def test_start_with_odd_free_rounds_short_up_to_unit():
    pol = R.Policy(boot_report_delay_s=0.0, balloon_unit_mb=8)
    h = R.Host(2051, reserve_mb=0, policy=pol)  # odd physical
    a = h.add_vm("a", startup_mb=1024, maximum_mb=2048, minimum_mb=512)
    a.start()
    h.tick(1.0)
    a.demand_mb = 2000
    h.tick(1.0)
    # pool = floor_8(2051) = 2048; target = ceil_8(2400) clamped to 2048
    assert a.assigned_mb == 2048
    b = h.add_vm("b", startup_mb=1024, maximum_mb=2048, minimum_mb=1024)
    b.start()
    # free = 3 -> short = ceil_8(1021) = 1024
    assert (a.assigned_mb, b.assigned_mb) == (1024, 1024)


def test_pressure_statistics_time_weighted():
    pol = R.Policy(boot_report_delay_s=0.0, remove_delay_s=1000.0)
    h = R.Host(4096, reserve_mb=0, policy=pol)
    vm = h.add_vm("a", startup_mb=1000, maximum_mb=1000, minimum_mb=1000)
    vm.start()
    assert vm.counters["Average Pressure"] == 0.0 and vm.pressure == 0.0
    vm.demand_mb = 500
    h.tick(1.0)    # 50 %
    vm.demand_mb = 2000
    h.tick(3.0)    # 200 %
    vm.demand_mb = 800
    h.tick(0.5)    # 80 %
    c = vm.counters
    assert c["Current Pressure"] == 80.0
    assert c["Minimum Pressure"] == 50.0
    assert c["Maximum Pressure"] == 200.0
    assert c["Average Pressure"] == (50.0 * 1.0 + 200.0 * 3.0 + 80.0 * 0.5) / 4.5


def test_weight_zero_gets_leftover_only():
    pol = R.Policy(boot_report_delay_s=0.0)
    h = R.Host(2048, reserve_mb=0, policy=pol)
    z = h.add_vm("z", startup_mb=512, maximum_mb=2048, minimum_mb=512, weight=0)
    p = h.add_vm("p", startup_mb=512, maximum_mb=2048, minimum_mb=512, weight=1)
    z.start()
    p.start()
    h.tick(1.0)
    z.demand_mb = p.demand_mb = 1000  # targets 1200 each > pool, caps 1000 each
    h.tick(1.0)
    # stage 2: demand caps fit (2000 <= 2048): fill 48 MB over buffers,
    # all to the weight-1 VM
    assert (z.assigned_mb, p.assigned_mb) == (1000, 1048)
    z.demand_mb = p.demand_mb = 1500
    h.tick(1.0)
    # stage 3: fill 1024 MB over caps 988 / 988: p takes 988, z gets 36
    assert (z.assigned_mb, p.assigned_mb) == (548, 1500)
