"""Stateful test: random sequences of every public operation, valid and not.

A hypothesis RuleBasedStateMachine drives a `dynmem.Host` and a
`reference.Host` in lock-step. Valid operations must succeed on both and
leave identical observable state; invalid ones must raise the right
exception class on dynmem and change nothing. Handles of removed VMs are
kept; any use of them must raise `dynmem.StateError` (and so can never return
another VM's data, even after a VM of the same name is added).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import helpers as H

pytestmark = pytest.mark.skipif(not H.HAVE_DYNMEM, reason="dynmem not built")

if H.HAVE_DYNMEM:
    import dynmem

    ConfigError = dynmem.ConfigError
    ConfigTypeError = dynmem.ConfigTypeError
    StateError = dynmem.StateError
    DynmemError = dynmem.DynmemError

# values that are never legal for an integer setting, with the class they raise
BAD_INT_VALUES = [
    (-2, "config"), (0, "config"), (2**40, "config"), (2**70, "config"),
    (1024.0, "type"), (1.5, "type"), ("1024", "type"), (True, "type"), (None, "type"),
]
BAD_DEMANDS = [(-1, "config"), (2**32, "config"), (2**64, "config"),
               (1.5, "type"), (100.0, "type"), ("5", "type"), (True, "type"), (None, "type")]
BAD_DTS = [0, 0.0, -1.0, math.nan, math.inf, -math.inf, "1", None]


def setting_values(step: int):
    """Candidate values for a random (possibly illegal) settings change."""
    return {
        "startup_mb": st.one_of(st.integers(0, 2048 // step).map(lambda k: k * step),
                                st.sampled_from([v for v, _ in BAD_INT_VALUES] + [1025, 30])),
        "minimum_mb": st.one_of(st.integers(0, 1024 // step).map(lambda k: k * step),
                                st.sampled_from([v for v, _ in BAD_INT_VALUES] + [31, 33])),
        "maximum_mb": st.one_of(st.integers(0, 4096 // step).map(lambda k: k * step),
                                st.sampled_from([H.MAX_MB, H.MAX_MB + step, 4097, -4, 4096.0])),
        "buffer_pct": st.one_of(H.buffers(), st.sampled_from([4, 2001, -1, 20.0, "20", True])),
        "weight": st.one_of(H.weights(), st.sampled_from([-1, 10001, 5000.0, "1", False])),
        "dynamic": st.sampled_from([True, False, 1, 0, "yes", None]),
    }


class HostMachine(RuleBasedStateMachine):
    """Lock-step dynmem / reference host with every operation as a rule."""

    @initialize(cfg=H.host_configs(), data=st.data())
    def setup(self, cfg, data):
        # smaller hosts than host_configs() alone, so that contention is common
        cfg["physical_mb"] = min(cfg["physical_mb"], data.draw(st.integers(768, 4096)))
        if cfg["reserve_mb"] is not None:
            cfg["reserve_mb"] = min(cfg["reserve_mb"], cfg["physical_mb"] // 4)
        # 2012 R2: the runtime rules `H.change_problem` states (from 2016 a
        # running static VM's startup resizes it; the reference has no releases).
        self.real = H.make_host("dynmem", **cfg, version="2012r2")
        self.ref = H.make_host("reference", **cfg)
        self.u = self.ref.policy.balloon_unit_mb
        self.step = H.size_step(self.u)
        self.serial = 0
        self.stale = []  # (handle, name it had)
        for _ in range(data.draw(st.integers(0, 5))):  # a few VMs, started
            self.add_vm(data)
            if H.try_start(self.ref.vms[-1]):
                self.real.vms[-1].start()

    # ---------------------------------------------------------------- helpers
    def pick(self, data, pred=lambda v: True):
        idx = [i for i, v in enumerate(self.ref.vms) if pred(v)]
        return data.draw(st.sampled_from(idx)) if idx else None

    def unchanged(self, action, expected, field=None):
        """`action()` must raise `expected` and change nothing."""
        before = H.host_view(self.real)
        with pytest.raises(expected) as info:
            action()
        assert H.host_view(self.real) == before, "a failed operation changed the host"
        if field is not None:
            assert info.value.field == field, (info.value.field, field, str(info.value))
        return info.value

    # ----------------------------------------------------------------- VMs
    @precondition(lambda self: len(self.ref.vms) < 8)
    @rule(data=st.data())
    def add_vm(self, data):
        s = data.draw(H.vm_settings(self.step, allow_none_minimum=False))
        name = f"vm{self.serial}"
        self.serial += 1
        self.real.add_vm(name, **s)
        self.ref.add_vm(name, **s)

    @precondition(lambda self: len(self.ref.vms) > 0)
    @rule(data=st.data())
    def add_duplicate_name(self, data):
        i = self.pick(data)
        name = self.ref.vms[i].name
        self.unchanged(lambda: self.real.add_vm(name), ConfigError, "name")

    @rule(data=st.data())
    def add_vm_with_a_bad_setting(self, data):
        field = data.draw(st.sampled_from(["startup_mb", "minimum_mb", "maximum_mb",
                                           "buffer_pct", "weight", "dynamic"]))
        value = data.draw(setting_values(self.step)[field])
        s = dict(startup_mb=1024, minimum_mb=512, maximum_mb=4096, buffer_pct=20,
                 weight=5000, dynamic=True)
        s[field] = value
        if field == "minimum_mb" and value is None:
            return  # legal: minimum = startup
        fake = type("Off", (), dict(state="off", **s))
        problem = H.change_problem(fake, {}, self.u)
        if problem is None:
            return  # happened to be legal
        name = f"bad{self.serial}"
        err = self.unchanged(lambda: self.real.add_vm(name, **s), ConfigError)
        assert err.field in H.SETTINGS, err.field
        assert isinstance(err, ConfigTypeError) == (problem == "type"), (problem, err)
        if err.field == field:
            assert repr(value) in str(err) or str(value) in str(err), str(err)

    @rule(data=st.data())
    def start(self, data):
        i = self.pick(data)
        if i is None:
            return
        real, ref = self.real.vms[i], self.ref.vms[i]
        if ref.state != "off":
            self.unchanged(real.start, StateError)
            return
        ok_ref = H.try_start(ref)
        if ok_ref:
            real.start()
        else:
            err = self.unchanged(real.start, dynmem.InsufficientMemoryError)
            assert ref.name in str(err)

    @rule(data=st.data())
    def stop(self, data):
        i = self.pick(data)
        if i is None:
            return
        if self.ref.vms[i].state == "off":
            self.unchanged(self.real.vms[i].stop, StateError)
            return
        self.real.vms[i].stop()
        self.ref.vms[i].stop()

    @rule(data=st.data())
    def remove(self, data):
        i = self.pick(data)
        if i is None:
            return
        real, ref = self.real.vms[i], self.ref.vms[i]
        if ref.state != "off":
            self.unchanged(lambda: self.real.remove_vm(real), StateError)
            return
        name = real.name
        self.real.remove_vm(real)
        self.ref.remove_vm(ref)
        self.stale.append((real, name))

    @precondition(lambda self: len(self.stale) > 0)
    @rule(data=st.data())
    def reuse_a_removed_name(self, data):
        """Add a new VM under a removed VM's name: the old handle must not see it."""
        _, name = data.draw(st.sampled_from(self.stale))
        if any(v.name == name for v in self.ref.vms) or len(self.ref.vms) >= 8:
            return
        s = data.draw(H.vm_settings(self.step))
        self.real.add_vm(name, **s)
        self.ref.add_vm(name, **s)

    @precondition(lambda self: len(self.stale) > 0)
    @rule(data=st.data(), action=st.sampled_from([
        "name", "state", "assigned_mb", "visible_mb", "target_mb", "status", "pressure",
        "paging_mb", "counters", "demand_mb", "startup_mb", "minimum_mb", "maximum_mb",
        "buffer_pct", "weight", "dynamic", "start", "stop", "set_demand", "set_weight",
        "configure", "remove"]))
    def use_removed_handle(self, data, action):
        handle, _ = data.draw(st.sampled_from(self.stale))
        ops = {
            "start": handle.start,
            "stop": handle.stop,
            "set_demand": lambda: setattr(handle, "demand_mb", 100),
            "set_weight": lambda: setattr(handle, "weight", 100),
            "configure": lambda: handle.configure(buffer_pct=30),
            "remove": lambda: self.real.remove_vm(handle),
        }
        op = ops.get(action, lambda: getattr(handle, action))
        self.unchanged(op, StateError)

    @rule(data=st.data())
    def lookup_by_name(self, data):
        names = [v.name for v in self.ref.vms]
        gone = [n for _, n in self.stale if n not in names]
        name = data.draw(st.sampled_from(names + gone + ["no such vm"]))
        if name in names:
            vm = self.real.vm(name)
            assert vm.name == name
            assert vm.assigned_mb == self.ref.vm(name).assigned_mb
        else:
            err = self.unchanged(lambda: self.real.vm(name), StateError)
            assert name in str(err)

    # -------------------------------------------------------------- demand
    @rule(data=st.data())
    def set_demand(self, data):
        i = self.pick(data)
        if i is None:
            return
        d = H.draw_demand(data.draw, self.ref.vms[i].assigned_mb or 1024)
        self.real.vms[i].demand_mb = d
        self.ref.vms[i].demand_mb = d

    @rule(data=st.data(), bad=st.sampled_from(BAD_DEMANDS))
    def set_bad_demand(self, data, bad):
        i = self.pick(data)
        if i is None:
            return
        value, kind = bad
        vm = self.real.vms[i]
        expected = ConfigTypeError if kind == "type" else ConfigError
        err = self.unchanged(lambda: setattr(vm, "demand_mb", value), expected, "demand_mb")
        assert repr(value) in str(err) or str(value) in str(err), str(err)

    @rule(data=st.data())
    def set_bulk_demand(self, data):
        ds = [H.draw_demand(data.draw, v.assigned_mb or 1024) for v in self.ref.vms]
        self.real.set_demand_mb(np.array(ds, dtype=np.int64))
        self.ref.set_demand_mb(ds)

    @rule(data=st.data(), kind=st.sampled_from(["short", "long", "negative", "huge", "fraction",
                                                "nan", "inf"]))
    def set_bad_bulk_demand(self, data, kind):
        n = len(self.ref.vms)
        ds = [1000.0] * n
        if kind == "short":
            if n == 0:
                return
            ds = ds[:-1]
        elif kind == "long":
            ds = ds + [1000.0]
        else:
            if n == 0:
                return
            j = data.draw(st.integers(0, n - 1))
            ds[j] = {"negative": -2.0, "huge": 2.0**33, "fraction": 10.5,
                     "nan": math.nan, "inf": math.inf}[kind]
        err = self.unchanged(lambda: self.real.set_demand_mb(np.array(ds)), ConfigError)
        assert err.field is not None and err.field.startswith("demand_mb"), err.field

    # ------------------------------------------------------------ settings
    @rule(data=st.data())
    def configure_valid(self, data):
        i = self.pick(data)
        if i is None:
            return
        changes = data.draw(H.valid_change(self.ref.vms[i], self.step))
        assert H.change_problem(self.ref.vms[i], changes, self.u) is None
        if len(changes) == 1 and data.draw(st.booleans()):
            (k, v), = changes.items()
            setattr(self.real.vms[i], k, v)
        else:
            self.real.vms[i].configure(**changes)
        self.ref.vms[i].configure(**changes)

    @rule(data=st.data())
    def configure_random(self, data):
        """Any change, legal or not: the outcome must match the spec's rules."""
        i = self.pick(data)
        if i is None:
            return
        values = setting_values(self.step)
        keys = data.draw(st.lists(st.sampled_from(H.SETTINGS), min_size=1, max_size=3, unique=True))
        changes = {k: data.draw(values[k]) for k in keys}
        # configure(x=None) leaves x as it is (keyword default)
        given = {k: v for k, v in changes.items() if v is not None}
        ref_vm, real_vm = self.ref.vms[i], self.real.vms[i]
        problem = H.change_problem(ref_vm, given, self.u)
        if problem is None:
            real_vm.configure(**changes)
            ref_vm.configure(**given)
            return
        # with several bad values, which one is reported is not specified
        expected = StateError if problem == "state" else ConfigError
        err = self.unchanged(lambda: real_vm.configure(**changes), expected)
        assert err.field in given or (problem == "config" and err.field in H.SETTINGS), \
            (err.field, changes)
        if err.field in given:
            v = given[err.field]
            assert repr(v) in str(err) or str(v) in str(err), str(err)
            assert isinstance(err, ConfigTypeError) == H.wrong_type(err.field, v), err
        else:
            assert not isinstance(err, ConfigTypeError), err

    # ---------------------------------------------------------------- time
    @rule(dt=H.dts())
    def tick(self, dt):
        self.real.tick(dt)
        self.ref.tick(dt)

    @rule(n=st.integers(2, 20), dt=H.dts())
    def tick_many(self, n, dt):
        for _ in range(n):
            self.real.tick(dt)
            self.ref.tick(dt)
            H.assert_same(self.real, self.ref)

    @rule(dt=st.sampled_from(BAD_DTS))
    def bad_tick(self, dt):
        expected = ConfigTypeError if isinstance(dt, str) or dt is None else ConfigError
        self.unchanged(lambda: self.real.tick(dt), expected, "dt_s")

    # ----------------------------------------------------------- invariants
    @invariant()
    def same_as_reference(self):
        if hasattr(self, "real"):
            H.assert_same(self.real, self.ref)

    @invariant()
    def structural(self):
        if hasattr(self, "real"):
            H.check_invariants(self.real)
            live = {id(v) for v in self.real.vms}
            assert all(id(h) not in live for h, _ in self.stale)


HostMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestHostMachine = HostMachine.TestCase
