"""Bad input, one test per kind: the exception class, `e.field`, `e.value`,
a message naming both, and nothing changed (full host snapshot before/after).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import helpers as H

pytestmark = pytest.mark.skipif(not H.HAVE_DYNMEM, reason="dynmem not built")

if H.HAVE_DYNMEM:
    import dynmem
    from dynmem import (ConfigError, ConfigTypeError, DynmemError, InsufficientMemoryError,
                        StateError)
else:  # keep the parametrize tables importable
    ConfigError = ConfigTypeError = DynmemError = InsufficientMemoryError = StateError = None

NAN = math.nan
INF = math.inf


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def same_value(a, b) -> bool:
    """e.value == the offending value (numbers compare by value, NaN == NaN)."""
    if _is_number(a) and _is_number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)", re.IGNORECASE)


def shows(value, message: str) -> bool:
    """The message shows the value: as str or repr, or for a number any
    numeric token in the message equal to it ('-1' for -1.0, 'NaN', ...)."""
    if str(value) in message or repr(value) in message:
        return True
    if _is_number(value):
        for tok in _NUMBER.findall(message):
            try:
                f = float(tok)
            except ValueError:
                continue
            if f == value or (math.isnan(f) and math.isnan(value)):
                return True
    return False


def check_error(info, cls, field, value, *, exact_class=True):
    e = info.value
    assert isinstance(e, cls), (type(e), cls)
    assert isinstance(e, DynmemError)
    if exact_class and cls is ConfigError:
        assert not isinstance(e, ConfigTypeError), f"value error reported as a type error: {e}"
    msg = str(e)
    assert e.field == field, (e.field, field, msg)
    assert field in msg, msg
    if value is not None:
        assert same_value(e.value, value), (e.value, value)
        assert shows(value, msg), msg


def snapshot(host):
    return H.host_view(host)


def assert_unchanged(host, before):
    after = snapshot(host)
    diffs = H.diff_views(after, before)
    assert not diffs, "a failed call changed the host:\n" + "\n".join(diffs)


@pytest.fixture
def host():
    """A host with a running VM 'a' that has been balanced a few times and
    two off VMs 'b' and 'c'."""
    h = dynmem.Host(physical_mb=8192, reserve_mb=512,
                    policy=dynmem.HyperVPolicy(boot_report_delay_s=0.0))
    a = h.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096, buffer_pct=20,
                 weight=5000)
    h.add_vm("b", startup_mb=2048, minimum_mb=1024, maximum_mb=8192)
    h.add_vm("c", startup_mb=512, maximum_mb=1024, dynamic=False)
    a.start()
    a.demand_mb = 2000
    for _ in range(3):
        h.tick(1.0)
    assert a.state == "running" and a.assigned_mb == 2400
    return h


# --------------------------------------------------------------------------
# Host and policy construction
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value, cls", [
    (0, "config"), (-8192, "config"), (2**40 + 1, "config"), (2**70, "config"),
    (8192.0, "type"), (8192.5, "type"), ("8192", "type"), (True, "type"), (None, "type"),
])
def test_host_bad_physical(value, cls):
    with pytest.raises(ConfigError) as info:
        dynmem.Host(physical_mb=value, reserve_mb=0)
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, "physical_mb", value)


@pytest.mark.parametrize("value, cls", [
    (-1, "config"), (8192, "config"), (10**6, "config"), (2**70, "config"),
    (512.0, "type"), ("512", "type"), (True, "type"),
])
def test_host_bad_reserve(value, cls):
    with pytest.raises(ConfigError) as info:
        dynmem.Host(physical_mb=8192, reserve_mb=value)
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, "reserve_mb", value)


def test_host_default_reserve_exceeding_physical():
    # 384 + 64 * 256 // 1024 = 400 >= 256: the spec does not say; dynmem refuses
    with pytest.raises(ConfigError) as info:
        dynmem.Host(physical_mb=256)
    assert info.value.field in ("physical_mb", "reserve_mb")
    assert info.value.field in str(info.value)


def test_host_bad_policy_type():
    with pytest.raises(ConfigTypeError) as info:
        dynmem.Host(physical_mb=8192, policy={"balloon_unit_mb": 2})
    assert info.value.field == "policy"
    assert "policy" in str(info.value)


@pytest.mark.parametrize("field, value, cls", [
    ("balloon_unit_mb", 0, "config"), ("balloon_unit_mb", -2, "config"),
    ("balloon_unit_mb", 1025, "config"), ("balloon_unit_mb", 2.0, "type"),
    ("balloon_unit_mb", "2", "type"), ("balloon_unit_mb", True, "type"),
    ("hot_add_chunk_mb", 0, "config"), ("hot_add_chunk_mb", 65538, "config"),
    ("hot_add_chunk_mb", 129, "config"),  # not a multiple of balloon_unit_mb (2)
    ("hot_add_chunk_mb", 128.0, "type"), ("hot_add_chunk_mb", False, "type"),
    ("boot_report_delay_s", NAN, "config"), ("boot_report_delay_s", INF, "config"),
    ("boot_report_delay_s", -1.0, "config"), ("boot_report_delay_s", "45", "type"),
    ("boot_report_delay_s", True, "type"),
    ("remove_delay_s", NAN, "config"), ("remove_delay_s", -INF, "config"),
    ("remove_delay_s", -0.5, "config"), ("remove_delay_s", None, "type"),
    ("remove_rate_mb_per_s", 0.0, "config"), ("remove_rate_mb_per_s", -1.0, "config"),
    ("remove_rate_mb_per_s", NAN, "config"), ("remove_rate_mb_per_s", INF, "config"),
    ("remove_rate_mb_per_s", "256", "type"),
])
def test_policy_bad_field(field, value, cls):
    with pytest.raises(ConfigError) as info:
        dynmem.Host(physical_mb=8192, policy=dynmem.HyperVPolicy(**{field: value}))
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, field, value)


def test_policy_chunk_must_be_multiple_of_unit():
    with pytest.raises(ConfigError) as info:
        dynmem.Host(physical_mb=8192,
                    policy=dynmem.HyperVPolicy(balloon_unit_mb=8, hot_add_chunk_mb=132))
    check_error(info, ConfigError, "hot_add_chunk_mb", 132)


def test_policy_is_frozen():
    pol = dynmem.HyperVPolicy()
    with pytest.raises(Exception):
        pol.balloon_unit_mb = 4  # type: ignore[misc]


@pytest.mark.parametrize("policy, dt", [
    (dict(remove_delay_s=365 * 86400.0), 1.0),       # spec: delays at most a year
    (dict(boot_report_delay_s=365 * 86400.0), 1.0),
    (dict(remove_rate_mb_per_s=1e12), 1.0),          # spec: rate at most 1e12 MB/s
    (dict(), 86400.0),                               # spec: dt_s at most a day
])
def test_spec_valid_extremes_are_accepted(policy, dt):
    """The documented upper bounds of docs/balancer.md are accepted..."""
    h = dynmem.Host(physical_mb=8192, reserve_mb=512, policy=dynmem.HyperVPolicy(**policy))
    vm = h.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096)
    vm.start()
    h.tick(dt)
    assert h.time_s == dt


@pytest.mark.parametrize("field, value", [
    ("remove_delay_s", 365 * 86400.0 * 1.001), ("boot_report_delay_s", 1e9), ("remove_rate_mb_per_s", 1.1e12),
])
def test_policy_beyond_documented_bounds_is_rejected(field, value):
    """...and just beyond them is a ConfigError naming the field."""
    with pytest.raises(dynmem.ConfigError) as e:
        dynmem.Host(physical_mb=8192, policy=dynmem.HyperVPolicy(**{field: value}))
    assert e.value.field == field and e.value.value == value


def test_dt_beyond_a_day_is_rejected_and_nothing_changes():
    h = dynmem.Host(physical_mb=8192, reserve_mb=512)
    h.add_vm("a").start()
    with pytest.raises(dynmem.ConfigError) as e:
        h.tick(86400.5)
    assert e.value.field == "dt_s" and h.time_s == 0.0


# --------------------------------------------------------------------------
# add_vm
# --------------------------------------------------------------------------

BAD_SETTINGS = [
    # field, value, class ("config" | "type")
    ("startup_mb", -2, "config"), ("startup_mb", 0, "config"), ("startup_mb", 2**40, "config"),
    ("startup_mb", 2**70, "config"),
    ("startup_mb", 1025, "config"), ("startup_mb", 30, "config"),
    ("startup_mb", 1024.0, "type"), ("startup_mb", 1.5, "type"), ("startup_mb", "1024", "type"),
    ("startup_mb", True, "type"), ("startup_mb", None, "type"),
    ("minimum_mb", 30, "config"), ("minimum_mb", 0, "config"), ("minimum_mb", -512, "config"),
    ("minimum_mb", 511, "config"), ("minimum_mb", 512.0, "type"), ("minimum_mb", "512", "type"),
    ("minimum_mb", True, "type"),
    ("maximum_mb", 1_048_578, "config"), ("maximum_mb", 2**40, "config"),
    ("maximum_mb", 4097, "config"), ("maximum_mb", -4096, "config"),
    ("maximum_mb", 4096.0, "type"), ("maximum_mb", "4096", "type"), ("maximum_mb", False, "type"),
    ("buffer_pct", 4, "config"), ("buffer_pct", 2001, "config"), ("buffer_pct", -20, "config"),
    ("buffer_pct", 0, "config"), ("buffer_pct", 20.0, "type"), ("buffer_pct", "20", "type"),
    ("buffer_pct", True, "type"),
    ("weight", -1, "config"), ("weight", 10001, "config"), ("weight", 2**63, "config"),
    ("weight", 5000.0, "type"), ("weight", "5000", "type"), ("weight", True, "type"),
    ("dynamic", 1, "type"), ("dynamic", 0, "type"), ("dynamic", "yes", "type"),
    ("dynamic", None, "type"),
]
GOOD = dict(startup_mb=1024, minimum_mb=512, maximum_mb=4096, buffer_pct=20, weight=5000,
            dynamic=True)


@pytest.mark.parametrize("field, value, cls", BAD_SETTINGS)
def test_add_vm_bad_setting(host, field, value, cls):
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.add_vm("new", **dict(GOOD, **{field: value}))
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, field, value)
    assert_unchanged(host, before)


@pytest.mark.parametrize("settings, fields", [
    (dict(startup_mb=1024, minimum_mb=2048, maximum_mb=4096), ("minimum_mb", "startup_mb")),
    (dict(startup_mb=8192, minimum_mb=512, maximum_mb=4096), ("maximum_mb", "startup_mb")),
    (dict(startup_mb=1024, maximum_mb=512), ("maximum_mb", "startup_mb")),
])
def test_add_vm_limits_out_of_order(host, settings, fields):
    """minimum > startup or startup > maximum: blamed on one of the two fields,
    whose value the error carries and shows."""
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.add_vm("new", **settings)
    field = info.value.field
    assert field in fields
    check_error(info, ConfigError, field, settings[field])
    assert_unchanged(host, before)


@pytest.mark.parametrize("name, cls", [("", "config"), ("a", "config"), ("b", "config"),
                                       (123, "type"), (None, "type"), (b"x", "type")])
def test_add_vm_bad_name(host, name, cls):
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.add_vm(name)
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, "name", name)
    assert_unchanged(host, before)


# --------------------------------------------------------------------------
# settings changes
# --------------------------------------------------------------------------

# configure(x=None) means "leave x unchanged", so None is only bad for setters.
@pytest.mark.parametrize("field, value, cls, how", [
    (f, v, c, how) for f, v, c in BAD_SETTINGS for how in ("setter", "configure")
    if not (how == "configure" and v is None)
])
@pytest.mark.parametrize("which", ["a", "b"])  # running, off
def test_change_bad_setting(host, field, value, cls, how, which):
    vm = host.vm(which)
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        if how == "setter":
            setattr(vm, field, value)
        else:
            vm.configure(**{field: value})
    e = info.value
    if e.field != field:
        # e.g. minimum_mb=0 on 'a' might be reported by the ordering check:
        # only acceptable for in-range integers
        assert cls == "config" and e.field in H.SETTINGS, (e.field, str(e))
        check_error(info, ConfigError, e.field, e.value)
    else:
        check_error(info, ConfigTypeError if cls == "type" else ConfigError, field, value)
    assert_unchanged(host, before)


def test_configure_is_atomic(host):
    vm = host.vm("a")
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        vm.configure(weight=100, maximum_mb=8192, buffer_pct=3)
    check_error(info, ConfigError, "buffer_pct", 3)
    assert_unchanged(host, before)
    assert (vm.weight, vm.maximum_mb, vm.buffer_pct) == (5000, 4096, 20)


RUNTIME_RULES = [
    (dict(minimum_mb=1024), "minimum_mb", 1024),           # raise minimum while running
    (dict(maximum_mb=3072), "maximum_mb", 3072),           # lower maximum while running
    (dict(startup_mb=512), "startup_mb", 512),             # startup only while off
    (dict(startup_mb=2048), "startup_mb", 2048),
    (dict(dynamic=False), "dynamic", False),               # dynamic only while off
    (dict(minimum_mb=1024, weight=1), "minimum_mb", 1024),  # and atomically so
    (dict(maximum_mb=8192, minimum_mb=768), "minimum_mb", 768),
]


# A setter changes one field; multi-field changes go through configure only.
@pytest.mark.parametrize("change, field, value, how", [
    (c, f, v, how) for c, f, v in RUNTIME_RULES for how in ("setter", "configure")
    if how == "configure" or len(c) == 1
])
def test_runtime_rule_while_running(host, change, field, value, how):
    vm = host.vm("a")
    before = snapshot(host)
    with pytest.raises(StateError) as info:
        if how == "setter":
            setattr(vm, field, value)
        else:
            vm.configure(**change)
    check_error(info, StateError, field, value)
    assert_unchanged(host, before)


def test_runtime_rule_applies_while_starting():
    """A starting VM runs: the runtime rules apply to it too."""
    h = dynmem.Host(physical_mb=8192, reserve_mb=512)  # 45 s boot delay
    vm = h.add_vm("a", startup_mb=1024, minimum_mb=512, maximum_mb=4096)
    vm.start()
    h.tick(1.0)
    assert vm.state == "starting"
    before = snapshot(h)
    with pytest.raises(StateError) as info:
        vm.maximum_mb = 2048
    check_error(info, StateError, "maximum_mb", 2048)
    assert_unchanged(h, before)


def test_runtime_changes_that_are_allowed(host):
    """The positive side of the rules (so the StateError tests can fail)."""
    vm = host.vm("a")
    vm.configure(maximum_mb=8192, minimum_mb=256, buffer_pct=50, weight=1)
    vm.startup_mb = 1024  # unchanged value: not a change
    assert (vm.maximum_mb, vm.minimum_mb, vm.buffer_pct, vm.weight) == (8192, 256, 50, 1)
    off = host.vm("b")
    off.configure(startup_mb=4096, minimum_mb=2048, maximum_mb=4096, dynamic=False)
    assert (off.startup_mb, off.minimum_mb, off.maximum_mb, off.dynamic) == (4096, 2048, 4096, False)


# --------------------------------------------------------------------------
# demand
# --------------------------------------------------------------------------

@pytest.mark.parametrize("value, cls", [
    (-1, "config"), (2**32, "config"), (2**64, "config"),
    (1.5, "type"), (100.0, "type"), ("5", "type"), (True, "type"), (None, "type"),
])
def test_bad_demand(host, value, cls):
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.vm("a").demand_mb = value
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, "demand_mb", value)
    assert_unchanged(host, before)


def test_demand_limits_accepted(host):
    host.vm("b").demand_mb = 2**32 - 1
    assert host.vm("b").demand_mb == 2**32 - 1
    host.vm("b").demand_mb = 0
    assert host.vm("b").demand_mb == 0
    host.vm("a").demand_mb = np.int64(1500)  # numpy integers are integers
    assert host.vm("a").demand_mb == 1500
    host.set_demand_mb(np.array([2**32 - 1, 0, 7], dtype=np.uint32)[: len(host)])
    assert host.demand_mb.tolist()[:1] == [2**32 - 1]


@pytest.mark.parametrize("demands", [[1000, 1000], [1000, 1000, 1000, 1000], []])
def test_bulk_demand_wrong_length(host, demands):
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.set_demand_mb(np.array(demands, dtype=np.int64))
    e = info.value
    assert e.field == "demand_mb"
    assert "demand_mb" in str(e) and str(len(demands)) in str(e)
    assert e.value in (len(demands), (len(demands),))
    assert_unchanged(host, before)


@pytest.mark.parametrize("demands, bad_index, bad_value, dtype", [
    ([1000, -1, 1000], 1, -1, np.int64),
    ([1000, 1000, 2**32], 2, 2**32, np.int64),
    ([1000, 1000, 2**63 + 5], 2, 2**63 + 5, np.uint64),
])
def test_bulk_demand_bad_entry(host, demands, bad_index, bad_value, dtype):
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.set_demand_mb(np.array(demands, dtype=dtype))
    e = info.value
    assert e.field in ("demand_mb", f"demand_mb[{bad_index}]"), e.field
    assert "demand_mb" in str(e)
    assert same_value(float(e.value), float(bad_value)) if e.value is not None else False
    assert shows(bad_value, str(e)) or shows(int(bad_value) if math.isfinite(bad_value) else bad_value, str(e))
    assert_unchanged(host, before)


def test_bulk_demand_wrong_type(host):
    before = snapshot(host)
    with pytest.raises(ConfigTypeError) as info:
        host.set_demand_mb(np.array(["1", "2", "3"]))
    assert info.value.field == "demand_mb"
    assert_unchanged(host, before)


@pytest.mark.parametrize("demands", [
    [1500.0, 0.0, 10.0],          # whole floats too: as vm.demand_mb = 1500.0 is a type error
    [1000.0, 10.5, 1000.0],
    [NAN, 1000.0, 1000.0],
    [1000.0, 1000.0, INF],
    [True, False, True],
])
def test_bulk_demand_non_integer_dtype_is_a_type_error(host, demands):
    before = snapshot(host)
    with pytest.raises(ConfigTypeError) as info:
        host.set_demand_mb(np.array(demands))
    assert info.value.field == "demand_mb" and "integers" in str(info.value)
    assert str(np.array(demands).dtype) in str(info.value)
    assert_unchanged(host, before)


# --------------------------------------------------------------------------
# tick
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dt, cls", [
    (0, "config"), (0.0, "config"), (-1.0, "config"), (-1e-300, "config"),
    (NAN, "config"), (INF, "config"), (-INF, "config"),
    ("1", "type"), (None, "type"), (True, "type"),
])
def test_bad_tick(host, dt, cls):
    before = snapshot(host)
    with pytest.raises(ConfigError) as info:
        host.tick(dt)
    check_error(info, ConfigTypeError if cls == "type" else ConfigError, "dt_s", dt)
    assert_unchanged(host, before)


# --------------------------------------------------------------------------
# lifecycle and state
# --------------------------------------------------------------------------

def test_start_twice(host):
    before = snapshot(host)
    with pytest.raises(StateError) as info:
        host.vm("a").start()
    check_error(info, StateError, "state", "running")
    assert "a" in str(info.value)
    assert_unchanged(host, before)


def test_start_twice_while_starting():
    h = dynmem.Host(physical_mb=8192, reserve_mb=512)
    vm = h.add_vm("a")
    vm.start()
    before = snapshot(h)
    with pytest.raises(StateError) as info:
        vm.start()
    check_error(info, StateError, "state", "starting")
    assert_unchanged(h, before)


def test_stop_when_off(host):
    before = snapshot(host)
    with pytest.raises(StateError) as info:
        host.vm("b").stop()
    check_error(info, StateError, "state", "off")
    assert "b" in str(info.value)
    assert_unchanged(host, before)


def test_remove_while_running(host):
    before = snapshot(host)
    with pytest.raises(StateError) as info:
        host.remove_vm(host.vm("a"))
    check_error(info, StateError, "state", "running")
    assert_unchanged(host, before)


def test_unknown_vm_name(host):
    before = snapshot(host)
    with pytest.raises(StateError) as info:
        host.vm("nope")
    check_error(info, StateError, "name", "nope")
    assert_unchanged(host, before)


@pytest.mark.parametrize("use", [
    "start", "stop", "remove", "demand", "weight", "configure",
    "name", "state", "assigned_mb", "counters", "pressure",
])
def test_removed_vm_handle(host, use):
    b = host.vm("b")
    host.remove_vm(b)
    host.add_vm("b", startup_mb=512)  # a new VM takes the old name
    before = snapshot(host)
    ops = {
        "start": b.start, "stop": b.stop, "remove": lambda: host.remove_vm(b),
        "demand": lambda: setattr(b, "demand_mb", 10),
        "weight": lambda: setattr(b, "weight", 10),
        "configure": lambda: b.configure(buffer_pct=50),
    }
    with pytest.raises(StateError) as info:
        ops.get(use, lambda: getattr(b, use))()
    e = info.value
    assert e.field is not None and e.field in str(e)
    assert_unchanged(host, before)
    assert host.vm("b").startup_mb == 512


def test_vm_from_another_host(host):
    other = dynmem.Host(physical_mb=4096, reserve_mb=0)
    stranger = other.add_vm("b")
    before = snapshot(host)
    with pytest.raises(StateError):
        host.remove_vm(stranger)
    assert_unchanged(host, before)


def test_insufficient_memory_on_start():
    h = dynmem.Host(physical_mb=4096, reserve_mb=0, policy=dynmem.HyperVPolicy(
        boot_report_delay_s=0.0))
    a = h.add_vm("a", startup_mb=2048, minimum_mb=1536, maximum_mb=4096, weight=100)
    a.start()
    a.demand_mb = 3000
    h.tick(1.0)
    big = h.add_vm("big", startup_mb=3072, weight=10000)
    before = snapshot(h)
    with pytest.raises(InsufficientMemoryError) as info:
        big.start()  # free 496 + a can give 2560 - 1536 = 1024 < 3072
    e = info.value
    assert not isinstance(e, (ConfigError, StateError))
    assert "big" in str(e)
    if e.field is not None:
        assert e.field in str(e)
    assert_unchanged(h, before)
