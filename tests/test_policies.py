"""The built-in allocation policies (docs/policies.md) on small hosts whose
right answer is worked out by hand in each test's docstring.

Every test runs against tests/reference.py (now) and against dynmem (once
its policies exist: `H.HAVE_POLICIES`). Unless a test says otherwise the
mechanics are eager: boot delay 0 (a VM started before the first tick is in
the solver set at that tick), removal delay 0 and a huge removal rate, so
that after a tick every running dynamic VM holds exactly its allocation g.
All sizes in MB, balloon unit u = 2 MB.
"""

from __future__ import annotations

import numpy as np
import pytest

import helpers as H
import reference as R

impls = pytest.mark.parametrize("impl", [
    "reference",
    pytest.param("dynmem", marks=pytest.mark.skipif(not H.HAVE_POLICIES,
                                                    reason="dynmem's policies not built yet")),
])

EAGER = dict(boot_report_delay_s=0.0, remove_delay_s=0.0, remove_rate_mb_per_s=1e6)


def host_with(impl, kind, physical_mb, vms, reserve_mb=0, **policy):
    """A host of `kind` with the VMs `vms` (name -> settings and "demand")
    added and started in order, demand set."""
    host = H.make_host(impl, physical_mb=physical_mb, reserve_mb=reserve_mb,
                       policy=dict(EAGER, kind=kind, **policy))
    for name, s in vms.items():
        s = dict(s)
        demand = s.pop("demand")
        vm = host.add_vm(name, **s)
        vm.demand_mb = demand
    for vm in host.vms:
        vm.start()
    return host


def assigned(host) -> dict:
    return {v.name: int(v.assigned_mb) for v in host.vms}


def vm(mn, st, mx, demand, weight=5000, buffer=20):
    return dict(minimum_mb=mn, startup_mb=st, maximum_mb=mx, demand=demand, weight=weight,
                buffer_pct=buffer)


# --------------------------------------------------------------------------
# StaticPolicy
# --------------------------------------------------------------------------

STATIC_VMS = {
    "a": vm(512, 1024, 4096, demand=3000),
    "b": vm(1024, 2048, 8192, demand=100),
    "c": vm(512, 4096, 8192, demand=4096, weight=2000),
}


@impls
def test_static_every_vm_holds_its_startup_always(impl):
    """8192 MB, reserve 512: startups 1024 + 2048 + 4096 = 7168 fit (512
    free). Demands 3000 / 100 / 4096 would move memory under any dynamic
    policy (a wants 3600, b 1024: its minimum), but under Static nothing moves
    in 20 ticks, whatever the demand does: no add or remove operation, a in
    Warning (1024 < 3000) paging 3000 - 1024 = 1976 MB, b Ok, c Low (4096 =
    demand, below its target ceil(4096 * 1.2) = 4916)."""
    host = host_with(impl, "static", 8192, STATIC_VMS, reserve_mb=512)
    for k in range(20):
        if k == 10:
            host.set_demand_mb(np.array([10, 9000, 0]))
        host.tick(1.0 + k % 3)
        assert assigned(host) == {"a": 1024, "b": 2048, "c": 4096}, k
        assert [int(x) for x in host.visible_mb] == [1024, 2048, 4096]
        assert host.available_mb == 512
        H.check_invariants(host)
        if k == 0:
            assert [v.status for v in host.vms] == ["warning", "ok", "low"]
            assert host.vm("a").paging_mb == 1976
    for v in host.vms:
        c = v.counters
        assert (c["Added Memory"], c["Removed Memory"], c["Memory Add Operations"],
                c["Memory Remove Operations"]) == (0, 0, 0, 0), v.name


@impls
@pytest.mark.parametrize("kind", ["static", "hyperv"])
def test_static_start_needs_free_startup_and_never_balloons(impl, kind):
    """Same host after one tick: free = 8192 - 512 - 7168 = 512 MB. Starting
    d (startup 1024, weight 10000) needs 512 MB more. Hyper-V balloons the
    running VMs of no higher weight (all three, minima 512 + 1024 + 512 =
    2048 MB below what they hold), so it succeeds there; Static has no
    balloon to ask: InsufficientMemory, nothing changed. A VM of startup 512
    still starts under Static (exactly the 512 free)."""
    host = host_with(impl, kind, 8192, STATIC_VMS, reserve_mb=512)
    host.tick(1.0)
    before = H.host_view(host)
    d = host.add_vm("d", startup_mb=1024, minimum_mb=512, maximum_mb=4096, weight=10000)
    assert H.try_start(d) is (kind == "hyperv")
    if kind == "static":
        host.remove_vm(d)
        assert not H.diff_views(H.host_view(host), before)
        e = host.add_vm("e", startup_mb=512, maximum_mb=1024)
        assert H.try_start(e)
        assert host.available_mb == 0
    H.check_invariants(host)


# --------------------------------------------------------------------------
# ProportionalPolicy
# --------------------------------------------------------------------------

@impls
def test_proportional_one_fraction_of_every_range(impl):
    """8192 MB, reserve 512: pool 7680. In units of 2 MB:
        a: min 512, max 4096  -> range 1792
        b: min 1024, max 2048 -> range  512
        c: min 256, max 8192  -> range 3968
    S = (7680 - 1792) / 2 = 2944, R = 6272 > S, gamma = 2944/6272.
        x_a = floor(1792 * 2944 / 6272) = floor(5888/7)   = 841 (841.14)
        x_b = floor( 512 * 2944 / 6272) = floor(11776/49) = 240 (240.33)
        x_c = floor(3968 * 2944 / 6272) = floor(91264/49) = 1862 (1862.53)
    sum 2943, remainder 1 -> the first VM with room in position order: a.
    g = 512 + 2*842 = 2196, 1024 + 2*240 = 1504, 256 + 2*1862 = 3980;
    sum 7680 = pool. Demand and weight play no part (a demands little, the
    weights differ): the same after the demands change."""
    vms = {"a": vm(512, 1024, 4096, demand=100, weight=100),
           "b": vm(1024, 1024, 2048, demand=2000, weight=10000),
           "c": vm(256, 1024, 8192, demand=0, weight=0)}
    host = host_with(impl, "proportional", 8192, vms, reserve_mb=512)
    host.tick(1.0)
    assert assigned(host) == {"a": 2196, "b": 1504, "c": 3980}
    assert host.available_mb == 0
    host.set_demand_mb(np.array([4000, 0, 8000]))
    host.tick(1.0)
    assert assigned(host) == {"a": 2196, "b": 1504, "c": 3980}


@impls
def test_proportional_everything_fits_every_vm_gets_its_maximum(impl):
    """16384 MB, reserve 0: ranges (4096-512) + (2048-1024) = 4608 MB fit the
    surplus 16384 - 1536 = 14848: gamma = 1, every VM at its maximum even
    with no demand at all (memory nobody asked for is handed out)."""
    vms = {"a": vm(512, 1024, 4096, demand=0), "b": vm(1024, 1024, 2048, demand=0)}
    host = host_with(impl, "proportional", 16384, vms)
    host.tick(1.0)
    assert assigned(host) == {"a": 4096, "b": 2048}
    assert host.available_mb == 16384 - 6144


# --------------------------------------------------------------------------
# SharesPolicy
# --------------------------------------------------------------------------

SHARES_VMS = {
    # min, startup, max, demand, weight
    "a": vm(256, 1024, 8192, demand=1024, weight=5000),
    "b": vm(256, 2048, 8192, demand=1024, weight=5000),
    "c": vm(512, 1024, 8192, demand=3000, weight=10000),
}


@impls
@pytest.mark.parametrize("idle_tax, expected", [
    (0.75, {"a": 1114, "b": 1114, "c": 2772}),
    (0.0, {"a": 1230, "b": 1230, "c": 2540}),
])
def test_shares_idle_memory_tax(impl, idle_tax, expected):
    """5000 MB, reserve 0: pool 5000 MB = 2500 units; startups 1024 + 2048
    + 1024 = 4096 fit. Buffer 20 %: a, b demand 1024 -> demand cap 1024
    (d = 512 units), target ceil(1228.8) -> 1230 (hi 615); c demand 3000
    (d = 1500), target 3600 (hi 1800). Targets 6060 > 5000: the level rule.
    lo = 128, 128, 256 units.
    tau = 0.75 (t = 7500): r(L) = floor(L w / W) up to d, then
      floor((t d W + (W - t) L w) / W^2). a, b (w 5000): L / 2 up to 512
      (L = 1024), then floor(384 + L / 8): memory above the demand cap (the
      buffer, idle) costs four times as much. c (w 10000): L.
      L = 1386: 557 + 557 + 1386 = 2500 = pool (384 + 173.25);
      L = 1387: 557 + 557 + 1387 = 2501 > pool. g = 1114, 1114, 2772 MB.
    tau = 0: r = floor(L w / W): a, b reach hi 615 at L = 1230, then only c
      rises: 615 + 615 + L = 2500 at L = 1270. g = 1230, 1230, 2540 MB.
    The tax moves 232 MB of a's and b's buffers to c's demand."""
    host = host_with(impl, "shares", 5000, SHARES_VMS, idle_tax=idle_tax)
    host.tick(1.0)
    assert assigned(host) == expected
    assert host.available_mb == 0


@impls
def test_shares_below_the_demand_cap_the_tax_plays_no_part(impl):
    """4096 MB: pool 2048 units, the same VMs. At L = 1024 a and b reach
    exactly their demand caps (512 units) and c holds 1024: 2048 = pool
    (L = 1025: 512 + 512 + 1025). No VM holds idle memory, so every tau
    gives g = 1024, 1024, 2048 MB (b, started at 2048, balloons to 1024)."""
    for tau in (0.0, 0.75, 0.99):
        host = host_with(impl, "shares", 4096, SHARES_VMS, idle_tax=tau)
        host.tick(1.0)
        assert assigned(host) == {"a": 1024, "b": 1024, "c": 2048}, tau


@impls
def test_shares_remainder_goes_to_the_higher_share_first(impl):
    """2002 MB, reserve 0: pool 1001 units. a (w 5000) first, c (w 10000)
    second, both fully active (demand 3000 > startup 1000: f = 1, q = w),
    targets 3600 (hi 1800 units), minima 256 (lo 128).
    x_a = floor(L / 2), x_c = L: L = 667 -> 333 + 667 = 1000 <= 1001;
    L = 668 -> 334 + 668 = 1002 > 1001. Remainder 1; both step at L + 1
    (a to 334, c to 668): highest q first -> c, though a comes first in
    position. g = 666, 1336 MB."""
    vms = {"a": vm(256, 1000, 8192, demand=3000, weight=5000),
           "c": vm(256, 1000, 8192, demand=3000, weight=10000)}
    host = host_with(impl, "shares", 2002, vms)
    host.tick(1.0)
    assert assigned(host) == {"a": 666, "c": 1336}


@impls
def test_shares_zero_shares_wait_then_share_equally(impl):
    """2050 MB, reserve 0: pool 1025 units.
        a: w 0, min 256 (lo 128), demand 2000 -> target 2400 (hi 1200)
        b: w 0, min 128 (lo 64),  demand 2000 -> target 2400 (hi 1200)
        c: w 100, min 256, startup 512, demand 500 -> target 600 (hi 300)
    c, the only positive weight, goes to its target first: 300 units. What
    is left, 1025 - 300 = 725 units, is shared by a and b with equal weights
    from their own minima: b rises to a's 128 first (64 units), then
    725 - 256 = 469 = 234 each + 1, the odd unit to the earlier position
    (a). g = 726, 724, 600 MB."""
    vms = {"a": vm(256, 512, 4096, demand=2000, weight=0),
           "b": vm(128, 512, 4096, demand=2000, weight=0),
           "c": vm(256, 512, 4096, demand=500, weight=100)}
    host = host_with(impl, "shares", 2050, vms)
    host.tick(1.0)
    assert assigned(host) == {"a": 726, "b": 724, "c": 600}


@impls
def test_shares_targets_fit_every_vm_gets_its_target(impl):
    """Sum of targets 1230 + 1230 + 3600 = 6060 <= pool 8192: g = target,
    however idle b is (it holds 2048 at the start, falls to 1230)."""
    host = host_with(impl, "shares", 8192, SHARES_VMS)
    host.tick(1.0)
    assert assigned(host) == {"a": 1230, "b": 1230, "c": 3600}


def test_shares_r_by_hand():
    """r(L) of docs/policies.md, units: floor(L w / W) up to the demand cap
    d, floor((t d W + (W - t) L w) / W^2) above it; t = round(tau W)."""
    r, t = R.shares_r, R.idle_tax_t
    assert t(0.75) == 7500 and t(0.0) == 0 and t(0.99995) == 9999  # at most W - 1
    assert r(1024, 512, 5000, 7500) == 512       # at the demand cap: L w = d W
    assert r(1025, 512, 5000, 7500) == 512       # 384 + 128.125
    assert r(1032, 512, 5000, 7500) == 513       # 384 + 129: a quarter of the rate
    assert r(1032, 512, 5000, 0) == 516          # no tax: L / 2
    assert r(3, 512, 10000, 7500) == 3
    assert r(10**6, 0, 1, 9999) == 0             # w 1, all idle: 1e6 * 1 / 1e8


# --------------------------------------------------------------------------
# StrictPriorityPolicy
# --------------------------------------------------------------------------

@impls
def test_strict_priority_serves_higher_weights_fully_first(impl):
    """4096 MB, reserve 0, pool 4096; buffer 20 %.
        a: w 8000, min 512, demand 1500 -> demand cap 1500, target 1800
        b: w 8000, min 512, demand 1000 -> demand cap 1000, target 1200
        c: w 5000, min 256, demand 2000 -> demand cap 2000, target 2400
        d: w 2000, min 256, demand 1000 -> demand cap 1000, target 1200
    Targets 6600 > 4096. Everyone at its minimum: 1536, 2560 left.
    Weight 8000, demand: 988 + 488 = 1476 fits -> 1084 left.
    Weight 8000, buffer: 300 + 200 = 500 fits -> 584 left.
    Weight 5000, demand: 1744 does not fit: c gets 256 + 584 = 840.
    d keeps its minimum 256 (Hyper-V would give it part of the pool)."""
    vms = {"a": vm(512, 1024, 8192, demand=1500, weight=8000),
           "b": vm(512, 1024, 8192, demand=1000, weight=8000),
           "c": vm(256, 1024, 8192, demand=2000, weight=5000),
           "d": vm(256, 1024, 8192, demand=1000, weight=2000)}
    host = host_with(impl, "strict", 4096, vms)
    host.tick(1.0)
    assert assigned(host) == {"a": 1800, "b": 1200, "c": 840, "d": 256}


STRICT_SHARE_VMS = {
    "a": vm(512, 800, 8192, demand=2000, weight=9000),  # demand cap 2000, target 2400
    "b": vm(256, 800, 8192, demand=700, weight=9000),   # demand cap 700, target 840
    "c": vm(256, 800, 8192, demand=1000, weight=1000),  # demand cap 1000, target 1200
}


@impls
@pytest.mark.parametrize("physical_mb, expected", [
    # minima 1024; 1376 MB = 688 units left; the weight-9000 demands need
    # 744 (a) + 222 (b) = 966 units: shared by Hyper-V's fill among equal
    # weights -> b capped at 222, a gets 688 - 222 = 466 units: 512 + 932.
    (2400, {"a": 1444, "b": 700, "c": 256}),
    # 1978 MB = 989 units left: demands (966) fit -> 23 units for the
    # buffers (a 200, b 70): 12 to a (the odd unit to the earlier), 11 to b.
    (3002, {"a": 2024, "b": 722, "c": 256}),
])
def test_strict_priority_shares_the_phase_that_does_not_fit(impl, physical_mb, expected):
    """Reserve 0, startups 800 each. c (weight 1000) keeps its minimum."""
    host = host_with(impl, "strict", physical_mb, STRICT_SHARE_VMS)
    host.tick(1.0)
    assert assigned(host) == expected
    assert host.available_mb == 0


# --------------------------------------------------------------------------
# every policy on one host: the rules differ, the mechanics are shared
# --------------------------------------------------------------------------

@impls
@pytest.mark.parametrize("kind, expected", [
    # see test_strict_priority_serves_higher_weights_fully_first's host
    ("static", {"a": 1024, "b": 1024, "c": 1024, "d": 1024}),
    ("strict", {"a": 1800, "b": 1200, "c": 840, "d": 256}),
    # ranges 7680, 7680, 7936, 7936 MB; S = 1280 units, R = 15616 units:
    # x = floor(3840 * 1280 / 15616) = 314 (a, b), floor(3968 * 1280 /
    # 15616) = 325 (c, d); remainder 1280 - 1278 = 2 -> a, b.
    ("proportional", {"a": 512 + 2 * 315, "b": 512 + 2 * 315, "c": 256 + 2 * 325,
                      "d": 256 + 2 * 325}),
])
def test_one_host_under_each_policy(impl, kind, expected):
    vms = {"a": vm(512, 1024, 8192, demand=1500, weight=8000),
           "b": vm(512, 1024, 8192, demand=1000, weight=8000),
           "c": vm(256, 1024, 8192, demand=2000, weight=5000),
           "d": vm(256, 1024, 8192, demand=1000, weight=2000)}
    host = host_with(impl, kind, 4096, vms)
    host.tick(1.0)
    assert assigned(host) == expected
    assert sum(expected.values()) <= 4096
