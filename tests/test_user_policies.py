"""User policies (docs/policies.md, "Your own policy"): the view they get,
their answer checked before anything changes, errors typed and naming VM
and value, the host exactly as before the failing tick (for `Host.tick`) or
as after `ticks_done` ticks (for `Host.run`), pickling and repr.

"Exactly as before" is checked twice: every observable (helpers.host_view:
bulk columns, settings, states, counters, time_s) is equal, and a copy taken
before the failure, driven through the same good ticks afterwards, stays
equal tick by tick, which also catches a moved clock that no column shows
(a boot delay or a removal delay counted by the failed tick)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import helpers as H

pytestmark = pytest.mark.skipif(not H.HAVE_POLICIES, reason="dynmem's policies not built yet")

if H.HAVE_POLICIES:
    import dynmem
    from dynmem import DynmemError, Event, PolicyError, StateError

    Base = dynmem.Policy
else:  # keep the module importable
    Base = H.reference.Mechanics
    DynmemError = PolicyError = StateError = Event = None

# What Switch does, set by the tests (a policy is frozen: its state is here).
CONTROL: dict = {}


def reset(bad=None, after=0, host=None) -> None:
    CONTROL.update(bad=bad, after=after, calls=0, host=host, seen=[])


class Switch(Base):
    """helpers.DemandShare's valid answer for the first `after` calls once
    `bad` is set, then `bad(pool_mb, vms, good)`'s."""

    def allocate(self, pool_mb, vms):
        CONTROL["calls"] += 1
        good = H.DemandShare().allocate(pool_mb, vms)
        bad = CONTROL["bad"]
        if bad is None or CONTROL["calls"] <= CONTROL["after"]:
            return good
        return bad(pool_mb, vms, good)


class Mine(Base):
    """docs/policies.md's example, as written there (no @dataclass)."""

    def allocate(self, pool_mb, vms):
        return np.minimum(vms.target_mb, vms.maximum_mb)


def fixture_host():
    """6144 MB, reserve 256, u = 2, boot delay 2 s, removal delay 2 s:
    a, b running dynamic; c static (not in the view); d off; e started one
    tick ago (boots at the next tick, mid-boot clock); b's demand just fell,
    so b has excess memory and an excess clock of 1 s (lazy removal due at
    the next tick)."""
    reset()
    h = dynmem.Host(physical_mb=6144, reserve_mb=256,
                    policy=Switch(boot_report_delay_s=2.0, remove_delay_s=2.0))
    h.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096, weight=8000)
    h.add_vm("b", startup_mb=1536, minimum_mb=256, maximum_mb=8192, weight=2000, buffer_pct=50)
    h.add_vm("c", startup_mb=512, maximum_mb=1024, dynamic=False)
    h.add_vm("d", startup_mb=128, minimum_mb=128, maximum_mb=2048)
    h.add_vm("e", startup_mb=1024, minimum_mb=512, maximum_mb=4096)
    for name in "abc":
        h.vm(name).start()
    h.set_demand_mb(np.array([2500, 1400, 300, 0, 900]))
    for _ in range(3):
        h.tick(1.0)
    h.vm("e").start()
    h.vm("b").demand_mb = 100
    h.tick(1.0)
    assert [v.state for v in h.vms] == ["running", "running", "running", "off", "starting"]
    assert h.vm("b").assigned_mb > h.vm("b").target_mb  # excess, clock running
    return h


ROWS = np.array([[3000, 100, 300, 0, 900], [3500, 200, 300, 0, 2000], [800, 4000, 300, 0, 3000],
                 [800, 4000, 300, 0, 3000], [4000, 50, 300, 0, 100], [100, 50, 300, 0, 100]])


def assert_same_future(host, twin, ticks: int = 8) -> None:
    """The two hosts are equal now and after each of `ticks` good ticks."""
    reset()
    H.assert_same(host, twin, "now")
    for k in range(ticks):
        for h in (host, twin):
            h.set_demand_mb(ROWS[k % len(ROWS)])
            h.tick(1.0)
        H.assert_same(host, twin, f"{k + 1} good ticks after the failure")


# --------------------------------------------------------------------------
# the bad answers
# --------------------------------------------------------------------------

def _at(i, value):
    """The valid answer with entry i replaced by `value`."""
    def bad(pool, vms, good):
        out = good.copy()
        out[i] = value(vms) if callable(value) else value
        return out
    return bad


def _raise(exc):
    def bad(pool, vms, good):
        raise exc
    return bad


def _call_host(pool, vms, good):
    CONTROL["host"].tick(1.0)
    return good


# (id, bad answer, what the message must show: a function of the view)
ANSWERS = [
    ("short", lambda p, v, g: g[:-1], lambda v: [str(len(v) - 1)]),
    ("long", lambda p, v, g: np.append(g, g[:1]), lambda v: [str(len(v) + 1)]),
    ("2-D", lambda p, v, g: g.reshape(1, -1), lambda v: [f"(1, {len(v)})"]),
    ("0-D", lambda p, v, g: np.int64(g[0]), lambda v: []),
    ("float64", lambda p, v, g: g.astype(np.float64), lambda v: ["float64"]),
    ("float32", lambda p, v, g: g.astype(np.float32), lambda v: ["float32"]),
    ("bool", lambda p, v, g: np.ones(len(v), dtype=bool), lambda v: ["bool"]),
    ("list", lambda p, v, g: g.tolist(), lambda v: ["list"]),
    ("None", lambda p, v, g: None, lambda v: ["None"]),
    ("below minimum", _at(0, lambda v: int(v.minimum_mb[0]) - 1),
     lambda v: ["a", str(int(v.minimum_mb[0]) - 1)]),
    ("negative", _at(1, -2), lambda v: ["b", "-2"]),
    ("above maximum", _at(1, lambda v: int(v.maximum_mb[1]) + 2),
     lambda v: ["b", str(int(v.maximum_mb[1]) + 2)]),
    ("huge", _at(0, np.iinfo(np.int64).max), lambda v: ["a", str(np.iinfo(np.int64).max)]),
    ("sum over the pool", lambda p, v, g: v.maximum_mb.copy(),
     lambda v: [str(int(v.maximum_mb.sum()))]),
]


def check_policy_error(e, shows) -> None:
    """A PolicyError whose message shows `shows`; an entry's error (shows:
    the VM's name and the entry) carries the entry as `value`."""
    assert isinstance(e, PolicyError), repr(e)
    assert isinstance(e, DynmemError)
    msg = str(e)
    for s in shows:
        assert s in msg, (s, msg)
    assert e.field is not None and e.field.startswith("allocation"), (e.field, msg)
    if len(shows) == 2:
        assert e.value == int(shows[1]), (e.value, shows)


@pytest.mark.parametrize("name, bad, shows", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_a_bad_answer_in_tick_is_a_policy_error_and_changes_nothing(name, bad, shows):
    host = fixture_host()
    twin = copy.copy(host)
    before = H.host_view(host)
    seen = []
    reset(bad=lambda p, v, g: (seen.append(v), bad(p, v, g))[1])
    with pytest.raises(DynmemError) as info:
        host.tick(1.0)
    check_policy_error(info.value, shows(seen[0]))
    assert not H.diff_views(H.host_view(host), before)
    assert_same_future(host, twin)


@pytest.mark.parametrize("ticks_done", [0, 2])
@pytest.mark.parametrize("name, bad, shows", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_a_bad_answer_in_run_stops_after_the_ticks_done(name, bad, shows, ticks_done):
    """The error carries ticks_done; the host is as after that many ticks:
    the failing tick's demand row and its event (d's start) not applied."""
    host = fixture_host()
    twin = copy.copy(host)
    reset()
    if ticks_done:
        twin.run(ROWS[:ticks_done])
    probe = copy.copy(twin)  # where the event would have started d
    probe.run(ROWS[ticks_done:ticks_done + 1], events=[Event(0, "d", "start")])
    assert probe.vm("d").state != "off"
    seen = []
    reset(bad=lambda p, v, g: (seen.append(v), bad(p, v, g))[1], after=ticks_done)
    with pytest.raises(DynmemError) as info:
        host.run(ROWS, events=[Event(ticks_done, "d", "start")])
    check_policy_error(info.value, shows(seen[-1]))
    assert info.value.ticks_done == ticks_done
    assert info.value.timeline.tick.tolist() == list(range(ticks_done))
    assert info.value.timeline.events == []  # the failing tick's event is not in it
    assert host.vm("d").state == "off"
    assert_same_future(host, twin)


@pytest.mark.parametrize("method", ["tick", "run"])
@pytest.mark.parametrize("exc", [ValueError("boom"), ZeroDivisionError("ratio"), None],
                         ids=["ValueError", "ZeroDivisionError", "host call"])
def test_an_exception_inside_allocate_is_chained(method, exc):
    """Raised as a PolicyError whose __cause__ is the policy's exception
    (for a call to the host inside allocate: its StateError)."""
    host = fixture_host()
    twin = copy.copy(host)
    reset(bad=_call_host if exc is None else _raise(exc), host=host)
    with pytest.raises(DynmemError) as info:
        host.tick(1.0) if method == "tick" else host.run(ROWS[:3])
    check_policy_error(info.value, [])
    cause = info.value.__cause__
    if exc is None:
        assert type(cause) is StateError, repr(cause)
    else:
        assert cause is exc
    if method == "run":
        assert info.value.ticks_done == 0
    assert_same_future(host, twin)


@pytest.mark.parametrize("method", ["tick", "run"])
@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit], ids=["KeyboardInterrupt", "SystemExit"])
def test_a_base_exception_inside_allocate_propagates_as_is(method, exc):
    host = fixture_host()
    twin = copy.copy(host)
    if method == "run":
        twin.run(ROWS[:1])
    raised = exc()
    reset(bad=_raise(raised), after=1 if method == "run" else 0)
    with pytest.raises(exc) as info:
        host.tick(1.0) if method == "tick" else host.run(ROWS[:3])
    assert info.value is raised
    if method == "run":
        assert info.value.ticks_done == 1
    assert_same_future(host, twin)


def test_the_host_is_busy_inside_allocate():
    """Reads, writes and ticks of the host from inside allocate are
    StateErrors; caught there, the tick completes normally."""
    host = fixture_host()
    errors = []

    def probe(pool, vms, good):
        for call in (lambda: host.available_mb, lambda: host.vm("a").assigned_mb,
                     lambda: host.assigned_mb, lambda: host.set_demand_mb(ROWS[0]),
                     lambda: host.tick(1.0), lambda: host.vm("d").start()):
            try:
                call()
            except StateError as e:
                errors.append(e)
        return good

    reset(bad=probe, host=host)
    t = host.time_s
    host.tick(1.0)
    assert len(errors) == 6, errors
    assert host.time_s == t + 1.0 and host.vm("d").state == "off"
    H.check_invariants(host)


# --------------------------------------------------------------------------
# what a good policy sees and gets
# --------------------------------------------------------------------------

def _target(d, b, mn, mx, u=2):
    """docs/balancer.md: clamp(ceil_u(ceil(d (100 + b) / 100)), min, max)."""
    return H.reference.clamp(H.reference.ceil_u(H.reference.ceil_div(d * (100 + b), 100), u), mn, mx)


def test_the_view_is_the_solver_set_in_position_order():
    """At the fixture's next tick (dt 2.5 s): a, b running dynamic; c static
    and d off are not in the view; e finishes booting in this tick and is.
    pool = 6144 - 256 - 512 (c) = 5376."""
    host = fixture_host()
    seen = []
    reset(bad=lambda p, v, g: (seen.append((p, v)), g)[1])
    expected = {}
    for name in "abe":
        vm = host.vm(name)
        expected[name] = dict(ids=vm.id, demand_mb=vm.demand_mb, assigned_mb=vm.assigned_mb,
                              minimum_mb=vm.minimum_mb, maximum_mb=vm.maximum_mb,
                              target_mb=_target(vm.demand_mb, vm.buffer_pct, vm.minimum_mb,
                                                vm.maximum_mb),
                              buffer_pct=vm.buffer_pct, weight=vm.weight)
    t = host.time_s
    host.tick(2.5)
    (pool, view), = seen
    assert pool == 5376
    assert len(view) == 3
    assert (view.dt_s, view.time_s, view.balloon_unit_mb) == (2.5, t, 2)
    for col in ("ids", "demand_mb", "assigned_mb", "minimum_mb", "maximum_mb", "target_mb",
                "buffer_pct", "weight"):
        arr = getattr(view, col)
        assert isinstance(arr, np.ndarray) and arr.dtype == np.int64 and arr.shape == (3,), col
        assert arr.tolist() == [expected[n][col] for n in "abe"], col
    assert host.vm("e").state == "running"


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint64, np.uint16])
def test_any_integer_answer_is_rounded_down_to_the_balloon_unit(dtype):
    """Every entry minimum + 1 (odd; u = 2): each VM gets its minimum. With
    eager removal the VMs hold exactly that after the tick."""
    host = dynmem.Host(physical_mb=4096, reserve_mb=0, policy=Switch(
        boot_report_delay_s=0.0, remove_delay_s=0.0, remove_rate_mb_per_s=1e6))
    for name, mn in (("a", 512), ("b", 256)):
        host.add_vm(name, startup_mb=1024, minimum_mb=mn, maximum_mb=2048).start()
    reset(bad=lambda p, v, g: (v.minimum_mb + 1).astype(dtype))
    host.tick(1.0)
    assert host.assigned_mb.tolist() == [512, 256]


def test_the_documented_example_policy():
    """docs/policies.md's Mine: targets that fit are met; pickles; repr."""
    host = dynmem.Host(physical_mb=8192, reserve_mb=0, policy=Mine(boot_report_delay_s=0.0))
    host.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096).start()
    host.vm("a").demand_mb = 2000
    host.tick(1.0)
    assert host.vm("a").assigned_mb == 2400
    back = pickle.loads(pickle.dumps(Mine(balloon_unit_mb=4)))
    assert type(back) is Mine and back.balloon_unit_mb == 4
    assert (repr(Mine()), repr(Mine(balloon_unit_mb=4))) == ("Mine()", "Mine(balloon_unit_mb=4)")


# --------------------------------------------------------------------------
# every policy pickles and reads well
# --------------------------------------------------------------------------

MECHANICS = ("balloon_unit_mb", "hot_add_chunk_mb", "boot_report_delay_s", "remove_delay_s",
             "remove_rate_mb_per_s")


def every_policy():
    return [dynmem.HyperVPolicy(), dynmem.StaticPolicy(), dynmem.ProportionalPolicy(),
            dynmem.SharesPolicy(idle_tax=0.5, balloon_unit_mb=4), dynmem.SharesPolicy(),
            dynmem.StrictPriorityPolicy(remove_delay_s=1.5), Switch(hot_add_chunk_mb=64), Mine()]


def test_every_policy_pickles_to_an_equal_one_that_runs_the_same():
    reset()
    for pol in every_policy():
        back = pickle.loads(pickle.dumps(pol))
        assert type(back) is type(pol) and back is not pol and repr(back) == repr(pol)
        assert all(getattr(back, f) == getattr(pol, f) for f in MECHANICS)
        assert isinstance(back, dynmem.Policy)
        hosts = [dynmem.Host(physical_mb=4096, reserve_mb=0, policy=p) for p in (pol, back)]
        for h in hosts:
            h.add_vms(["a", "b"], startup_mb=1024, minimum_mb=512, maximum_mb=4096)
            h.start_vms()
            h.run(ROWS[:, :2] // 4)  # targets fit: Mine's answer is valid
        assert H.host_view(hosts[0]) == H.host_view(hosts[1]), pol


def test_every_policy_has_a_readable_repr():
    """The class and what differs from the defaults, as one would write it."""
    for pol in every_policy():
        r = repr(pol)
        assert r.startswith(type(pol).__name__ + "(") and r.endswith(")"), r
        for field in MECHANICS:
            shown = f"{field}={getattr(pol, field)!r}" in r
            assert shown == (getattr(pol, field) != getattr(dynmem.HyperVPolicy(), field)), (field, r)
        assert len(r) < 200, r
    assert repr(dynmem.SharesPolicy(idle_tax=0.5, balloon_unit_mb=4)) == \
        "SharesPolicy(balloon_unit_mb=4, idle_tax=0.5)"
    assert repr(dynmem.SharesPolicy()) == repr(dynmem.SharesPolicy(idle_tax=0.75)) == "SharesPolicy()"
    assert [repr(p) for p in every_policy()[:3]] == ["HyperVPolicy()", "StaticPolicy()", "ProportionalPolicy()"]
    assert repr(dynmem.StrictPriorityPolicy(remove_delay_s=1.5)) == "StrictPriorityPolicy(remove_delay_s=1.5)"


@pytest.mark.parametrize("tau", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_idle_tax_outside_zero_to_one_is_refused(tau):
    """docs/policies.md: 0 <= idle_tax < 1."""
    with pytest.raises(dynmem.ConfigError) as info:
        dynmem.Host(physical_mb=4096, policy=dynmem.SharesPolicy(idle_tax=tau))
    assert info.value.field == "idle_tax"
