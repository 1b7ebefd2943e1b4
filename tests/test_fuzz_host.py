"""Fuzzing the host surface (issue 10): Host, VM handles, add_vm(s),
start_vms, stop_vms, set_demand_mb, tick, run with events, configure, fed
generated garbage and hostile values. The rule: every call either succeeds
or raises a `DynmemError` subclass naming a field (or `MemoryError`), and a
call that raises has changed nothing the host shows (every column, setting,
counter, name, the time).

Short by default; ``DYNMEM_FUZZ_EXAMPLES=20000 python -m pytest
tests/test_fuzz_host.py`` runs longer.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynmem
from dynmem import Event
from dynmem.errors import DynmemError

EXAMPLES = int(os.environ.get("DYNMEM_FUZZ_EXAMPLES", "60"))
SETTINGS = ("startup_mb", "minimum_mb", "maximum_mb", "buffer_pct", "weight", "dynamic")
NAMES = ("v0", "v1", "v2", "v3")


class Odd:
    """An object no argument expects."""

    def __repr__(self) -> str:
        return "<Odd>"


# Values a caller might pass by mistake or malice.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2, 32, 512, 1024, 4096, 2**31, 2**32, 2**63, -(2**63), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([5e-324, 1e308, 86400.0, 86400.5, -0.0]),
    st.text(max_size=4),
    st.sampled_from(["\ud800", "", " ", "v0", "v1", "a\x00b"]),
    st.binary(max_size=3),
    st.builds(Odd),
    st.sampled_from([np.int64(5), np.uint64(2**63), np.float64("nan"), np.bool_(True), np.int8(-3)]),
)
_arrays = st.one_of(
    st.builds(lambda shape, dt: np.ones(shape, dtype=dt),
              st.sampled_from([(0,), (3,), (4,), (2, 3), (3, 4), (0, 4), (5, 0), (1,)]),
              st.sampled_from([np.int64, np.int32, np.uint64, np.float64, np.bool_, object])),
    st.builds(lambda shape, v: np.full(shape, v),
              st.sampled_from([(3,), (4,), (2, 4), (3, 3)]),
              st.sampled_from([-1, 2**32, 2**40, 100, 1.5, np.iinfo(np.uint64).max])),
)
hostile = st.recursive(
    st.one_of(_scalars, _arrays),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.one_of(st.sampled_from(SETTINGS), _scalars.filter(
                                lambda x: isinstance(x, (str, int, type(None))))), inner, max_size=3),
                            st.builds(lambda xs: iter(xs), st.lists(inner, max_size=3))),
    max_leaves=6,
)
# Mostly-plausible values, so that calls get past the first check.
names = st.one_of(st.sampled_from(NAMES), st.text(max_size=3), hostile)
sizes = st.one_of(st.sampled_from([32, 256, 512, 1024, 2048, 8192]), hostile)
events = st.lists(st.builds(Event, st.one_of(st.integers(-1, 6), hostile), names,
                            st.one_of(st.sampled_from(["start", "stop", "configure", "reboot"]), hostile),
                            st.one_of(st.dictionaries(st.sampled_from(SETTINGS), sizes, max_size=2), hostile)),
                  max_size=4)
demands = st.one_of(
    st.builds(lambda t, v: np.full((t, 4), v, dtype=np.int64), st.integers(0, 6),
              st.sampled_from([0, 100, 3000, -1, 2**32])),
    hostile,
)


def _vm(h: dynmem.Host, i: int) -> Any:
    vms = h.vms
    return vms[i % len(vms)] if vms else None


# (name, what it draws, the call)
OPS: list[tuple[str, st.SearchStrategy[Any], Callable[[dynmem.Host, Any], Any]]] = [
    ("add_vm", st.tuples(names, sizes, sizes, sizes, hostile, hostile, hostile),
     lambda h, a: h.add_vm(*a)),
    ("add_vm kw", st.tuples(names, st.sampled_from(SETTINGS), sizes),
     lambda h, a: h.add_vm(a[0], **{a[1]: a[2]})),
    ("add_vms", st.tuples(st.one_of(st.lists(names, max_size=4), hostile), st.sampled_from(SETTINGS[:5]),
                          st.one_of(sizes, st.lists(sizes, max_size=4))),
     lambda h, a: h.add_vms(a[0], **{a[1]: a[2]})),
    ("start_vms", st.one_of(st.none(), st.lists(names, max_size=3), hostile), lambda h, a: h.start_vms(a)),
    ("stop_vms", st.one_of(st.none(), st.lists(names, max_size=3), hostile), lambda h, a: h.stop_vms(a)),
    ("set_demand_mb", st.one_of(st.lists(sizes, min_size=4, max_size=4), hostile), lambda h, a: h.set_demand_mb(a)),
    ("tick", st.one_of(st.sampled_from([1.0, 0.5, 60]), hostile), lambda h, a: h.tick(a)),
    ("run", st.tuples(demands, st.one_of(st.just(1.0), hostile), events, st.one_of(st.integers(1, 3), hostile)),
     lambda h, a: h.run(a[0], a[1], a[2], a[3])),
    ("run progress", st.tuples(demands, events, hostile),
     lambda h, a: h.run(a[0], 1.0, a[1], 1, progress=a[2])),
    ("vm", names, lambda h, a: h.vm(a)),
    ("remove_vm", st.one_of(st.integers(0, 5), hostile),
     lambda h, a: h.remove_vm(_vm(h, a) if isinstance(a, int) and not isinstance(a, bool) else a)),
    ("threads", hostile, lambda h, a: setattr(h, "threads", a)),
    ("set setting", st.tuples(st.integers(0, 5), st.sampled_from(SETTINGS + ("demand_mb",)), sizes),
     lambda h, a: setattr(_vm(h, a[0]), a[1], a[2])),
    ("configure", st.tuples(st.integers(0, 5), st.dictionaries(st.one_of(st.sampled_from(SETTINGS), st.text(max_size=3)),
                                                                sizes, max_size=3)),
     lambda h, a: _vm(h, a[0]).configure(**a[1])),
    ("vm start", st.integers(0, 5), lambda h, a: _vm(h, a).start()),
    ("vm stop", st.integers(0, 5), lambda h, a: _vm(h, a).stop()),
    ("Host", st.tuples(hostile, hostile, st.one_of(st.none(), hostile, st.builds(
        lambda f, v: dynmem.HyperVPolicy(**{f: v}), st.sampled_from(
            ["balloon_unit_mb", "hot_add_chunk_mb", "boot_report_delay_s", "remove_delay_s",
             "remove_rate_mb_per_s"]), hostile))),
     lambda h, a: dynmem.Host(*a)),
]


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def observe(h: dynmem.Host) -> dict[str, Any]:
    """Everything the host shows."""
    vms = h.vms
    return {
        "time": h.time_s, "len": len(h), "available": h.available_mb, "threads": h.threads,
        "counters": h.counters, "names": [vm.name for vm in vms], "ids": [vm.id for vm in vms],
        **{col: getattr(h, col).tolist() for col in ("demand_mb", "assigned_mb", "visible_mb", "target_mb",
                                                      "paging_mb", "status_codes", "pressure")},
        "settings": [[getattr(vm, s) for s in SETTINGS] for vm in vms],
        "states": [vm.state for vm in vms],
        "vm counters": [vm.counters for vm in vms],
    }


@st.composite
def programs(draw: st.DrawFn) -> list[tuple[str, Any]]:
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        name, strategy, _call = draw(st.sampled_from(OPS))
        steps.append((name, draw(strategy)))
    return steps


CALLS = {name: call for name, _s, call in OPS}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_every_call_succeeds_or_raises_a_typed_error_and_changes_nothing(program: list[tuple[str, Any]]) -> None:
    h = dynmem.Host(16384, reserve_mb=0, policy=dynmem.HyperVPolicy(boot_report_delay_s=2))
    h.add_vms(list(NAMES), startup_mb=1024, minimum_mb=512, maximum_mb=8192)
    h.start_vms(["v0", "v1"])
    h.tick(1.0)
    for name, arg in program:
        before = observe(h)
        try:
            CALLS[name](h, arg)
        except MemoryError:
            pass
        except DynmemError as e:
            assert e.field is not None, f"{name}: {e!r} names no field"
            after = observe(h)
            assert _same(after, before), f"{name}({arg!r}) raised {e!r} and changed the host"
        except AttributeError as e:
            # `_vm` found no VM: the program's own doing, not dynmem's.
            assert "'NoneType'" in str(e), f"{name}({arg!r}) raised {e!r}"
        except BaseException as e:
            raise AssertionError(f"{name}({arg!r:.200}) raised {type(e).__name__}: {e}") from e
