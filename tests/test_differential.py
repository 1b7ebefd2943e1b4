"""Differential tests: the Rust core (via `dynmem`) against tests/reference.py.

Random valid scenarios are applied to both a `dynmem.Host` and a
`reference.Host`; after every operation every observable value must be
identical (ints exactly, floats bit-for-bit via ==).

The first part checks the reference's own `fill` against hand-computed
cases and against an independent implementation of the spec's level
formulation; it runs without the compiled module.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers as H
import reference as R

needs_dynmem = pytest.mark.skipif(not H.HAVE_DYNMEM, reason="dynmem not built")


# ==========================================================================
# reference fill: hand-written cases
# ==========================================================================

BIG = 10**6


@pytest.mark.parametrize("budget, caps, weights, u, expected", [
    # the spec's example: weights 2000 vs 5000 share 1792 units -> 512, 1280
    (1792, [BIG, BIG], [2000, 5000], 1, [512, 1280]),
    # same in MB with 2 MB units (896 units -> 256 / 640 units)
    (1792, [BIG, BIG], [2000, 5000], 2, [512, 1280]),
    # everything fits: everyone gets the cap, the leftover stays unused
    (100, [10, 20, 30], [1, 5000, 0], 1, [10, 20, 30]),
    # equal weights split equally; the odd unit goes to the earlier VM
    (5, [BIG, BIG], [5000, 5000], 1, [3, 2]),
    (6, [BIG, BIG, BIG], [7, 7, 7], 2, [2, 2, 2]),
    # a capped VM's share flows to the others
    (10, [2, 100], [10000, 1], 1, [2, 8]),
    # tie at the same threshold -> higher weight first (thresholds 2k vs k)
    (1, [BIG, BIG], [5000, 10000], 1, [0, 1]),
    (2, [BIG, BIG], [5000, 10000], 1, [0, 2]),
    (3, [BIG, BIG], [5000, 10000], 1, [1, 2]),
    # tie at same threshold and same weight -> earlier position first
    (3, [BIG, BIG, BIG], [5000, 10000, 10000], 1, [0, 2, 1]),
    # weight 0 only after every positive weight is capped
    (15, [10, 10], [0, 100], 1, [5, 10]),
    (9, [10, 10], [0, 100], 1, [0, 9]),
    # weight-0 VMs share the leftover equally (earlier first), respecting caps
    (9, [3, 10], [0, 0], 1, [3, 6]),
    (7, [BIG, 2, BIG, BIG], [0, 1, 0, 0], 1, [2, 2, 2, 1]),
    # budget not a multiple of the unit is floored to whole units
    (9, [BIG, BIG], [1, 1], 4, [4, 4]),
    # nothing to hand out
    (0, [10, 10], [1, 2], 2, [0, 0]),
    (50, [0, 0], [1, 2], 2, [0, 0]),
])
def test_reference_fill_hand_cases(budget, caps, weights, u, expected):
    assert R.fill(budget, caps, weights, u) == expected


def level_fill(budget_mb: int, caps_mb: list[int], weights: list[int], u: int) -> list[int]:
    """Independent implementation of the spec's *level* formulation of fill."""
    caps = [c // u for c in caps_mb]
    budget = budget_mb // u
    n = len(caps)
    if sum(caps) <= budget:
        return [c * u for c in caps]
    pos = [i for i in range(n) if weights[i] > 0]
    zero = [i for i in range(n) if weights[i] == 0]

    def water(members, w, budget):
        x = {i: 0 for i in members}
        if sum(caps[i] for i in members) <= budget:
            return {i: caps[i] for i in members}, budget - sum(caps[i] for i in members)

        def S(L):
            return sum(min(caps[i], L * w(i) // R.W) for i in members)

        lo, hi = 0, 1
        while S(hi) <= budget:
            hi *= 2
        while hi - lo > 1:  # largest L with S(L) <= budget is in [lo, hi)
            mid = (lo + hi) // 2
            if S(mid) <= budget:
                lo = mid
            else:
                hi = mid
        L = lo
        for i in members:
            x[i] = min(caps[i], L * w(i) // R.W)
        r = budget - S(L)
        steppers = [i for i in members
                    if x[i] < caps[i] and (L + 1) * w(i) // R.W > L * w(i) // R.W]
        steppers.sort(key=lambda i: (-w(i), i))
        assert r < len(steppers) or r == 0
        for i in steppers[:r]:
            x[i] += 1
        return x, 0

    got = [0] * n
    x, left = water(pos, lambda i: weights[i], budget)
    for i, v in x.items():
        got[i] = v
    if all(got[i] >= caps[i] for i in pos) and zero:
        x, _ = water(zero, lambda i: 1, left)
        for i, v in x.items():
            got[i] = v
    return [g * u for g in got]


@settings(max_examples=200, deadline=None)
@given(
    u=st.sampled_from([1, 2, 4]),
    vms=st.lists(st.tuples(st.integers(0, 200), H.weights()), min_size=1, max_size=8),
    budget=st.integers(0, 900),
)
def test_reference_fill_matches_level_formulation(u, vms, budget):
    caps = [c * u for c, _ in vms]
    weights = [w for _, w in vms]
    got = R.fill(budget, caps, weights, u)
    assert got == level_fill(budget, caps, weights, u)
    # and basic sanity of a fill
    assert all(0 <= g <= c for g, c in zip(got, caps))
    assert sum(got) == min(sum(caps), budget // u * u)


@settings(max_examples=150, deadline=None)
@given(
    vms=st.lists(st.tuples(st.integers(0, 300), H.weights()), min_size=2, max_size=6),
    budget=st.integers(0, 900),
)
def test_reference_fill_more_weight_never_less(vms, budget):
    """Two VMs with equal caps: the higher weight gets at least as much."""
    caps = [c for c, _ in vms]
    weights = [w for _, w in vms]
    caps[1] = caps[0]
    got = R.fill(budget, caps, weights, 1)
    if weights[0] > weights[1]:
        assert got[0] >= got[1]
    elif weights[0] < weights[1]:
        assert got[0] <= got[1]
    else:  # equal VMs, equal weight: equal +- one unit, earlier first
        assert got[0] - got[1] in (0, 1)


# ==========================================================================
# differential: dynmem vs reference
# ==========================================================================

OPS = ["tick", "tick", "tick", "demand", "demand", "bulk_demand", "start", "start",
       "stop", "configure", "configure", "add", "remove", "restart"]


class Pair:
    """The real and the reference host, driven in lock-step."""

    def __init__(self, cfg: dict):
        self.real = H.make_host("dynmem", **cfg)
        self.ref = H.make_host("reference", **cfg)
        self.u = self.ref.policy.balloon_unit_mb
        self.step = H.size_step(self.u)
        self.serial = 0
        self.log: list[str] = [f"Host({cfg})"]

    def check(self):
        H.assert_same(self.real, self.ref, "after:\n  " + "\n  ".join(self.log[-12:]))

    def add(self, settings: dict, guest="windows"):
        name = f"vm{self.serial}"
        self.serial += 1
        self.log.append(f"add_vm({name!r}, **{settings}, guest={guest!r})")
        self.real.add_vm(name, **settings, guest=guest)
        self.ref.add_vm(name, **settings, guest=guest)

    def index_where(self, data, pred):
        idx = [i for i, v in enumerate(self.ref.vms) if pred(v)]
        if not idx:
            return None
        return data.draw(st.sampled_from(idx))

    def apply(self, data, op: str):
        real, ref = self.real, self.ref
        if op == "tick":
            dt = data.draw(H.dts())
            self.log.append(f"tick({dt!r})")
            real.tick(dt)
            ref.tick(dt)
        elif op == "demand":
            i = self.index_where(data, lambda v: True)
            if i is None:
                return
            d = H.draw_demand(data.draw, ref.vms[i].assigned_mb or 1024)
            self.log.append(f"vms[{i}].demand_mb = {d}")
            real.vms[i].demand_mb = d
            ref.vms[i].demand_mb = d
        elif op == "bulk_demand":
            if not ref.vms:
                return
            ds = [H.draw_demand(data.draw, v.assigned_mb or 1024) for v in ref.vms]
            dtype = data.draw(st.sampled_from([np.int64, np.uint32, np.int32])) if max(ds) < 2**31 else np.int64
            arr = np.array(ds, dtype=dtype)
            self.log.append(f"set_demand_mb({ds}, dtype={np.dtype(dtype).name})")
            real.set_demand_mb(arr)
            ref.set_demand_mb(ds)
        elif op == "start":
            i = self.index_where(data, lambda v: v.state == "off")
            if i is None:
                return
            self.log.append(f"vms[{i}].start()")
            ok_real = H.try_start(real.vms[i])
            ok_ref = H.try_start(ref.vms[i])
            assert ok_real == ok_ref, f"start success differs: real={ok_real} ref={ok_ref}\n" + \
                "\n".join(self.log)
        elif op == "stop":
            i = self.index_where(data, lambda v: v.state != "off")
            if i is None:
                return
            self.log.append(f"vms[{i}].stop()")
            real.vms[i].stop()
            ref.vms[i].stop()
        elif op == "restart":
            i = self.index_where(data, lambda v: v.state != "off")
            if i is None:
                return
            self.log.append(f"vms[{i}].restart()")
            ok_real = H.try_start(real.vms[i], "restart")
            ok_ref = H.try_start(ref.vms[i], "restart")
            assert ok_real == ok_ref, f"restart success differs: real={ok_real} ref={ok_ref}\n" + \
                "\n".join(self.log)
        elif op == "configure":
            i = self.index_where(data, lambda v: True)
            if i is None:
                return
            changes = data.draw(H.valid_change(ref.vms[i], self.step))
            assert H.change_problem(ref.vms[i], changes, self.u) is None, changes
            use_setter = len(changes) == 1 and data.draw(st.booleans())
            self.log.append(f"vms[{i}].configure(**{changes}) setter={use_setter}")
            if use_setter:
                (k, v), = changes.items()
                setattr(real.vms[i], k, v)
            else:
                real.vms[i].configure(**changes)
            ref.vms[i].configure(**changes)
        elif op == "add":
            if len(ref.vms) >= 8:
                return
            self.add(data.draw(H.vm_settings(self.step)), data.draw(H.guests()))
        elif op == "remove":
            i = self.index_where(data, lambda v: v.state == "off")
            if i is None:
                return
            self.log.append(f"remove_vm(vms[{i}])")
            real.remove_vm(real.vms[i])
            ref.remove_vm(ref.vms[i])
        else:  # pragma: no cover
            raise AssertionError(op)


def run_scenario(data, cfg, n_vms, n_ops, ops=OPS, start_all=True):
    pair = Pair(cfg)
    pair.check()
    for _ in range(n_vms):
        pair.add(data.draw(H.vm_settings(pair.step, allow_none_minimum=True)), data.draw(H.guests()))
        pair.check()
    if start_all:
        for i in range(n_vms):
            pair.log.append(f"vms[{i}].start()")
            assert H.try_start(pair.real.vms[i]) == H.try_start(pair.ref.vms[i]), pair.log
            pair.check()
    for _ in range(n_ops):
        pair.apply(data, data.draw(st.sampled_from(ops)))
        pair.check()
        H.check_invariants(pair.real)
    return pair


# every policy kind (helpers.make_policy); Hyper-V's as before, the others
# once dynmem has them
KINDS = H.kind_params()


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_differential_random_scenarios(kind, data):
    cfg = data.draw(H.host_configs(kinds=(kind,)))
    n_vms = data.draw(st.integers(1, 8))
    n_ops = data.draw(st.integers(1, 40))
    run_scenario(data, cfg, n_vms, n_ops, start_all=data.draw(st.booleans()))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_differential_contention(kind, data):
    """Tight hosts, many loaded VMs, mostly demand changes and ticks: keeps
    the balancer in stages 2 and 3 (fill), prompt removal and restarts (and
    every other policy in its contended rule and start failures)."""
    phys = data.draw(st.integers(1024, 3072))
    cfg = dict(physical_mb=phys, reserve_mb=data.draw(st.integers(0, 256)),
               policy=data.draw(H.policies(kinds=(kind,))))
    ops = ["tick", "tick", "tick", "demand", "demand", "bulk_demand", "stop", "start",
           "configure", "restart"]
    run_scenario(data, cfg, data.draw(st.integers(2, 8)), data.draw(st.integers(5, 40)),
                 ops=ops)


@needs_dynmem
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_differential_default_policy(data):
    """Default policy and default reserve, as a user would run it."""
    cfg = dict(physical_mb=data.draw(st.sampled_from([2048, 4096, 6144])),
               reserve_mb=None, policy=None)
    run_scenario(data, cfg, data.draw(st.integers(1, 6)), data.draw(st.integers(1, 50)))


@needs_dynmem
def test_differential_reference_scenario_shape():
    """The 8 GB / three-VM scenario of dynamic-memory.md section 6, driven
    deterministically through both implementations."""
    cfg = dict(physical_mb=8192, reserve_mb=512, policy=None)
    pair = Pair(cfg)
    for name, w in (("Finance", 4000), ("Engineering", 6000), ("Sales", 5000)):
        s = dict(startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=w)
        pair.real.add_vm(name, **s)
        pair.ref.add_vm(name, **s)
    for h in (pair.real, pair.ref):
        for v in h.vms:
            v.start()
    pair.check()
    plan = [(0, [700, 700, 700])] * 60 + [(0, [2500, 1700, 800])] * 60 + \
           [(0, [3000, 3000, 800])] * 30
    for _, ds in plan:
        for h in (pair.real, pair.ref):
            h.set_demand_mb(np.array(ds))
            h.tick(1.0)
        pair.check()
    for h in (pair.real, pair.ref):
        h.add_vm("Fourth", startup_mb=1024, maximum_mb=4096, minimum_mb=512, weight=5000)
        assert H.try_start(h.vm("Fourth"))
    pair.check()
    for _ in range(60):
        for h in (pair.real, pair.ref):
            h.tick(1.0)
        pair.check()


# ==========================================================================
# directed differential cases for the two readings flagged in reference.py
# ==========================================================================

@needs_dynmem
def test_differential_excess_clock_after_lazy_step_reaches_g():
    """remove_delay_s = 5, 256 MB/s. A VM with startup 1024 and target 600
    balloons lazily at t=5 (-> 768) and t=6 (-> 600 = g). At t=7 demand
    drops (target 360): is there a fresh 5 s delay (clock reset when the
    lazy step reached g) or does the old clock carry on? See
    docs/balancer.md: the clock also resets when a lazy step reaches g."""
    real = H.make_host("dynmem", physical_mb=8192, reserve_mb=0,
                       policy=dict(boot_report_delay_s=0.0))
    ref = H.make_host("reference", physical_mb=8192, reserve_mb=0,
                      policy=dict(boot_report_delay_s=0.0))
    for h in (real, ref):
        vm = h.add_vm("a", startup_mb=1024, maximum_mb=4096, minimum_mb=256)
        vm.start()
        vm.demand_mb = 500
    history = {"real": [], "ref": []}
    for t in range(1, 12):
        for key, h in (("real", real), ("ref", ref)):
            if t == 7:
                h.vms[0].demand_mb = 300
            h.tick(1.0)
            history[key].append(int(h.vms[0].assigned_mb))
    assert history["real"] == history["ref"], f"real={history['real']}\nref ={history['ref']}"


@needs_dynmem
def test_differential_pressure_between_ticks():
    """Pressure after start and after a demand change but before the next
    tick: current pressure is live (docs/balancer.md), 0 only when off."""
    real = H.make_host("dynmem", physical_mb=8192, reserve_mb=0, policy=None)
    ref = H.make_host("reference", physical_mb=8192, reserve_mb=0, policy=None)
    for h in (real, ref):
        vm = h.add_vm("a", startup_mb=1024, maximum_mb=4096)
        vm.demand_mb = 512
        vm.start()
    H.assert_same(real, ref, "after start, before any tick")
    assert real.vms[0].pressure == 50.0 and real.vms[0].counters["Average Pressure"] == 0.0
    for h in (real, ref):
        h.tick(1.0)
        h.vms[0].demand_mb = 2048
    H.assert_same(real, ref, "after a tick and a demand change")


@needs_dynmem
@pytest.mark.parametrize("dt", [5e-324, 1e-9, 0.1])
def test_differential_average_pressure_within_its_range_with_tiny_steps(dt):
    """1,000 ticks of 5e-324 s at a pressure of 585.9375 once gave an Average
    Pressure of 586.0, above the Maximum: rounding of pressure x dt_s (and of
    the sum and the clock) pushed it out. Both implementations clamp it to
    [Minimum, Maximum] (docs/balancer.md, "Statistics") and agree."""
    hosts = [H.make_host(impl, physical_mb=8192, reserve_mb=0, policy=dict(boot_report_delay_s=0.0))
             for impl in ("dynmem", "reference")]
    for h in hosts:
        vm = h.add_vm("a", startup_mb=512, maximum_mb=512, minimum_mb=512)
        vm.start()
        vm.demand_mb = 3000  # 585.9375 %
        for _ in range(1000):
            h.tick(dt)
        c = vm.counters
        assert c["Minimum Pressure"] == c["Maximum Pressure"] == 585.9375
        assert c["Average Pressure"] == 585.9375, c
        H.check_invariants(h)
    H.assert_same(*hosts, f"1000 ticks of {dt!r}")
