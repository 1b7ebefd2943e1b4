"""Shared helpers for the dynmem test suite: views, comparison, strategies.

Everything here works on both a `dynmem.Host` and a `reference.Host`.
"""

from __future__ import annotations


import functools
import math

from hypothesis import strategies as st

import reference

try:  # the compiled module may not be built yet
    import dynmem  # noqa: F401
    HAVE_DYNMEM = True
except ImportError:  # pragma: no cover - depends on the build
    dynmem = None
    HAVE_DYNMEM = False

MAX_MB = 1_048_576
MAX_DEMAND = 2**32 - 1
VM_COUNTERS = (
    "Added Memory", "Removed Memory", "Memory Add Operations",
    "Memory Remove Operations", "Physical Memory",
    "Guest Visible Physical Memory", "Current Pressure", "Average Pressure",
    "Minimum Pressure", "Maximum Pressure", "Guest Available Memory",
    "Smart Paging Working Set Size",
)
HOST_COUNTERS = ("Available Memory", "Average Pressure", "System Current Pressure",
                 "Available Memory For Balancing")
SETTINGS = ("startup_mb", "minimum_mb", "maximum_mb", "buffer_pct", "weight", "dynamic")


# --------------------------------------------------------------------------
# building hosts of either implementation
# --------------------------------------------------------------------------

_VECTOR_CAPS = ("avx512", "scalar", "avx2")


# docs/policies.md's built-in policies, by the short name the tests use
# (and `dynmem compare --policies` spells): the same class name in dynmem
# and in tests/reference.py.
POLICY_CLASSES = {
    "hyperv": "HyperVPolicy",
    "static": "StaticPolicy",
    "proportional": "ProportionalPolicy",
    "shares": "SharesPolicy",
    "strict": "StrictPriorityPolicy",
}
KINDS = tuple(POLICY_CLASSES)
# dynmem with the policy layer of issue 11 (until it lands, the policy tests
# run against the reference only)
HAVE_POLICIES = HAVE_DYNMEM and hasattr(dynmem, "StrictPriorityPolicy")


class DemandShare(dynmem.Policy if HAVE_POLICIES else reference.Mechanics):  # type: ignore[misc]
    """A valid user policy for the differential tests (kind "user"): every VM
    from its minimum towards its target, each getting the same fraction of
    what it lacks, floored in MB (not in units: dynmem rounds the answer down
    to the balloon unit)."""

    def allocate(self, pool_mb, vms):
        lo, hi = vms.minimum_mb, vms.target_mb
        spare, room = pool_mb - int(lo.sum()), hi - lo
        if int(room.sum()) <= spare:
            return hi.copy()
        return lo + room * spare // int(room.sum())


def kind_params(kinds=KINDS + ("user",)):
    """pytest params of the policy kinds for dynmem-only tests: each skips
    until dynmem is built (or, but for "hyperv", until its policies are)."""
    import pytest

    return [pytest.param(k, marks=pytest.mark.skipif(
        not (HAVE_DYNMEM if k == "hyperv" else HAVE_POLICIES), reason="dynmem (or its policies) not built"))
        for k in kinds]


def impl_kinds(kinds=KINDS + ("user",)):
    """pytest parametrize over ("impl", "kind"): dynmem and the reference,
    each policy kind; dynmem's cases skip until it is built (or, but for
    "hyperv", until its policies are)."""
    import pytest

    params = [pytest.param("dynmem", p.values[0], id=f"dynmem-{p.values[0]}", marks=p.marks)
              for p in kind_params(kinds)]
    params += [pytest.param("reference", k, id=f"reference-{k}") for k in kinds]
    return pytest.mark.parametrize("impl, kind", params)


def make_policy(impl: str, policy):
    """`policy` as `impl`'s policy object: None (the default), a dict of the
    policy's keyword arguments with an optional "kind" (a POLICY_CLASSES
    key, "hyperv" when absent), or a policy object (a user policy), as is."""
    if policy is None or not isinstance(policy, dict):
        return policy
    kwargs = dict(policy)
    kind = kwargs.pop("kind", "hyperv")
    if kind == "user":
        return DemandShare(**kwargs)
    cls = POLICY_CLASSES[kind]
    return getattr(reference if impl == "reference" else dynmem, cls)(**kwargs)


def make_host(impl: str, physical_mb: int, reserve_mb, policy, version: str | None = None,
              smart_paging_drain_s: float = 600.0, numa_nodes=1, numa_spanning=True):
    """`version` (dynmem only): the release; the reference and `change_problem`
    state 2012 R2's runtime rules (no resize of a running static VM)."""
    pol = make_policy(impl, policy)
    numa = dict(numa_nodes=numa_nodes, numa_spanning=numa_spanning)
    if impl == "reference":
        return reference.Host(physical_mb=physical_mb, reserve_mb=reserve_mb, policy=pol,
                              smart_paging_drain_s=smart_paging_drain_s, **numa)
    kw = {} if version is None else {"version": version}
    host = dynmem.Host(physical_mb=physical_mb, reserve_mb=reserve_mb, policy=pol,
                       smart_paging_drain_s=smart_paging_drain_s, **numa, **kw)
    # Hosts are capped at the core's AVX-512, scalar or AVX2 forms (each runs
    # where the CPU has it), chosen from the host's own settings so that a
    # Hypothesis example always runs the same form: all are held to the
    # reference; `vector_cap_for` says which.
    host._core._set_vector_cap(vector_cap_for(physical_mb, reserve_mb))
    return host


def vector_cap_for(physical_mb: int, reserve_mb) -> str:
    """The vector form `make_host` caps a host of these settings at."""
    key = physical_mb * 7 + (reserve_mb if reserve_mb is not None else 3)
    return _VECTOR_CAPS[key % len(_VECTOR_CAPS)]


def start_failure_types():
    types = [reference.InsufficientMemory]
    if HAVE_DYNMEM:
        types.append(dynmem.InsufficientMemoryError)
    return tuple(types)


def try_start(vm, action: str = "start") -> bool:
    """Start `vm` (or ``action="restart"`` it); True on success, False on an
    insufficient-memory failure (a restart on a NUMA host with spanning off
    whose startup memory fits no node fails so, changing nothing)."""
    try:
        getattr(vm, action)()
    except start_failure_types():
        return False
    return True


# --------------------------------------------------------------------------
# views: plain-Python snapshots that compare exactly with ==
# --------------------------------------------------------------------------

def _num(x):
    """numpy scalar -> Python scalar, keeping int vs float."""
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if hasattr(x, "item"):
        return x.item()
    return x


def vm_view(vm) -> dict:
    view = {
        "name": vm.name,
        "state": vm.state,
        "demand_mb": _num(vm.demand_mb),
        "assigned_mb": _num(vm.assigned_mb),
        "visible_mb": _num(vm.visible_mb),
        "target_mb": _num(vm.target_mb),
        "status": vm.status,
        "pressure": _num(vm.pressure),
        "paging_mb": _num(vm.paging_mb),
        "available_buffer_pct": _num(vm.available_buffer_pct),
        "memory_available_pct": _num(vm.memory_available_pct),
        "reported_demand_mb": _num(vm.reported_demand_mb),
        "guest_reported_mb": _num(vm.guest_reported_mb),
        "balloon_floor_mb": _num(vm.balloon_floor_mb),
        "guest": vm.guest.name,
        "smart_paging_mb": _num(vm.smart_paging_mb),
        "numa_node": _num(vm.numa_node),
    }
    for s in SETTINGS:
        view[s] = _num(getattr(vm, s))
    counters = vm.counters
    for c in VM_COUNTERS:
        view["counter " + c] = _num(counters[c])
    return view


def host_view(host) -> dict:
    counters = host.counters
    view = {
        "physical_mb": _num(host.physical_mb),
        "reserve_mb": _num(host.reserve_mb),
        "time_s": _num(host.time_s),
        "available_mb": _num(host.available_mb),
        "names": [v.name for v in host.vms],
        "demand array": [_num(x) for x in host.demand_mb],
        "assigned array": [_num(x) for x in host.assigned_mb],
        "visible array": [_num(x) for x in host.visible_mb],
        "target array": [_num(x) for x in host.target_mb],
        "pressure array": [_num(x) for x in host.pressure],
        "available buffer array": [_num(x) for x in host.available_buffer_pct],
        "memory available array": [_num(x) for x in host.memory_available_pct],
        "reported demand array": [_num(x) for x in host.reported_demand_mb],
        "smart paging array": [_num(v.smart_paging_mb) for v in host.vms],
        "numa nodes": [_num(x) for x in host.numa_nodes_mb],
        "numa available array": [_num(x) for x in host.numa_available_mb],
        "numa node array": [_num(x) for x in host.numa_node],
    }
    for c in HOST_COUNTERS:
        view["host counter " + c] = _num(counters[c])
    view["vms"] = [vm_view(v) for v in host.vms]
    return view


def diff_views(a: dict, b: dict, path: str = "") -> list[str]:
    """Human-readable list of differences between two views (exact ==)."""
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() | b.keys():
            out += diff_views(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff_views(x, y, f"{path}[{i}]")
    else:
        same = a == b
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            same = True
        if not same:
            out.append(f"{path}: real={a!r} reference={b!r}")
    return out


def assert_same(real_host, ref_host, context: str = "") -> None:
    diffs = diff_views(host_view(real_host), host_view(ref_host))
    assert not diffs, f"{context}\n" + "\n".join(sorted(diffs)[:40])


# --------------------------------------------------------------------------
# structural invariants that hold for any correct implementation
# --------------------------------------------------------------------------

def check_invariants(host) -> None:
    u = host.policy.balloon_unit_mb
    vms = host.vms
    total = sum(int(v.assigned_mb) for v in vms)
    assert total + host.reserve_mb <= host.physical_mb, "sum(assigned) + reserve > physical"
    assert host.available_mb == host.physical_mb - host.reserve_mb - total
    assert host.counters["Available Memory"] == host.available_mb
    names = [v.name for v in vms]
    assert len(set(names)) == len(names), "duplicate names on host"
    assert [int(x) for x in host.assigned_mb] == [int(v.assigned_mb) for v in vms]
    assert [int(x) for x in host.visible_mb] == [int(v.visible_mb) for v in vms]
    assert [int(x) for x in host.target_mb] == [int(v.target_mb) for v in vms]
    assert [int(x) for x in host.demand_mb] == [int(v.demand_mb) for v in vms]
    for v in vms:
        a, vis = int(v.assigned_mb), int(v.visible_mb)
        c = v.counters
        assert c["Physical Memory"] == a
        assert c["Guest Visible Physical Memory"] == vis
        assert c["Minimum Pressure"] <= c["Average Pressure"] <= c["Maximum Pressure"], (v.name, c)
        assert v.paging_mb == (max(0, v.demand_mb - a) if v.state != "off" else 0)
        if v.state == "off":
            assert (a, vis, int(v.target_mb), v.status) == (0, 0, 0, "off"), v.name
            continue
        assert v.state in ("starting", "running")
        assert a % u == 0, f"{v.name}: assigned {a} not a multiple of {u}"
        assert a <= vis <= max(v.maximum_mb, a), f"{v.name}: visible {vis} assigned {a}"
        # Smart Paging: dynamic VMs only; RAM + file fit what the guest sees.
        sp = int(v.smart_paging_mb)
        assert c["Smart Paging Working Set Size"] == sp
        assert sp == 0 or (v.dynamic and a + sp <= vis and sp % u == 0), (v.name, a, sp, vis)
        if v.state == "starting" or not v.dynamic:
            # A starting VM holds its startup memory, in RAM and (after a
            # restart short of memory) in its Smart Paging file.
            assert a + sp == v.startup_mb == v.target_mb, f"{v.name} should hold startup"
        else:
            assert v.minimum_mb <= a <= v.maximum_mb, f"{v.name}: {a} outside [min, max]"
            # The guest refuses to balloon below its floor.
            assert int(v.balloon_floor_mb) <= a, f"{v.name}: {a} below its balloon floor"
        # Hyper-V's figures are of what the guest reports: committed + floor.
        assert int(v.guest_reported_mb) == min(int(v.demand_mb) + int(v.balloon_floor_mb), MAX_DEMAND)
        d = int(v.guest_reported_mb)
        # Hyper-V's rule, stated without the rounded percent: the whole
        # percent of the configured buffer free is above 80 iff the free
        # buffer is at least 81 % of it (d × buffer / 100 MB).
        if not v.dynamic:
            # "spanning": only a static VM, only on a NUMA host with spanning on
            numa = len(host.numa_nodes_mb) > 1 and host.numa_spanning
            expected_status = "spanning" if numa and v.status == "spanning" else ""
        elif sp > 0:
            expected_status = "paging"
        elif a < d:
            expected_status = "warning"
        elif d == 0 or 100 * 100 * (a - d) >= 81 * d * int(v.buffer_pct):
            expected_status = "ok"
        else:
            expected_status = "low"
        assert v.status == expected_status, v.name
        assert d <= v.reported_demand_mb < d + a // 100 + 1, (v.name, d, a, v.reported_demand_mb)


def solver_pool(host) -> int:
    """pool = floor_u(physical - reserve - sum assigned outside the solver set)."""
    u = host.policy.balloon_unit_mb
    held = sum(int(v.assigned_mb) for v in host.vms
               if not (v.state == "running" and v.dynamic))
    return reference.floor_u(host.physical_mb - host.reserve_mb - held, u)


# --------------------------------------------------------------------------
# spec-derived validity of a settings change (docs/balancer.md "VM settings")
# --------------------------------------------------------------------------

def wrong_type(field: str, value) -> bool:
    """True if `value` has the wrong type for setting `field` (bool is not an int)."""
    if field == "dynamic":
        return type(value) is not bool
    return type(value) is not int


def change_problem(vm, changes: dict, u: int):
    """None if `changes` is a legal configure() of `vm` (anything with the
    six settings and `state` as attributes), else the kind of problem:
    'type' (a value of the wrong type: checked first), 'config' (an illegal
    value) or 'state' (a runtime rule: checked last)."""
    cur = {s: getattr(vm, s) for s in SETTINGS}
    state = vm.state
    new = dict(cur)
    new.update(changes)
    for k in ("startup_mb", "minimum_mb", "maximum_mb", "buffer_pct", "weight"):
        if type(new[k]) is not int:
            return "type"
    if type(new["dynamic"]) is not bool:
        return "type"
    mn, su, mx = new["minimum_mb"], new["startup_mb"], new["maximum_mb"]
    if not (32 <= mn <= su <= mx <= MAX_MB):
        return "config"
    if mn % u or su % u or mx % u:
        return "config"
    if not 5 <= new["buffer_pct"] <= 2000 or not 0 <= new["weight"] <= 10000:
        return "config"
    if state != "off":
        if mx < cur["maximum_mb"] or mn > cur["minimum_mb"]:
            return "state"
        if su != cur["startup_mb"] or new["dynamic"] != cur["dynamic"]:
            return "state"
    return None


# --------------------------------------------------------------------------
# hypothesis strategies
# --------------------------------------------------------------------------

# 5e-324 (subnormal: pressure x dt keeps a few bits) and 1e-9 keep the
# statistics' rounding in play (docs/balancer.md, "Statistics").
DT_CHOICES = [0.25, 0.5, 1.0, 1.0, 1.0, 2.0, 5.0, 10.0, 30.0, 45.0, 60.0, 5e-324, 1e-9]


@functools.lru_cache(maxsize=None)
def dts():
    return st.one_of(st.sampled_from(DT_CHOICES),
                     st.floats(0.001, 120.0, allow_nan=False, allow_infinity=False))


@st.composite
def policies(draw, kinds: tuple[str, ...] = ("hyperv",)) -> dict:
    """Valid keyword arguments of a built-in policy drawn from `kinds`
    (with its "kind", see `make_policy`, unless it is Hyper-V's)."""
    kind = draw(st.sampled_from(kinds))
    extra = {} if kind == "hyperv" else {"kind": kind}
    if kind == "shares":
        extra["idle_tax"] = draw(st.sampled_from([0.0, 0.5, 0.75, 0.75, 0.9, 0.999]))
    u = draw(st.sampled_from([2, 2, 2, 1, 4, 8]))
    chunk = u * draw(st.sampled_from([1, 3, 16, 64, 64]))
    if u == 2 and draw(st.booleans()):
        chunk = 128
    return dict(
        balloon_unit_mb=u,
        hot_add_chunk_mb=chunk,
        boot_report_delay_s=draw(st.sampled_from([0.0, 1.0, 3.0, 10.0, 45.0])),
        remove_delay_s=draw(st.sampled_from([0.0, 1.0, 2.5, 5.0, 20.0])),
        remove_rate_mb_per_s=draw(st.sampled_from([1.0, 3.5, 64.0, 256.0, 1000.5])),
        **extra,
    )


def size_step(u: int) -> int:
    """Sizes are multiples of 2 MB and of the balloon unit."""
    return u * 2 // math.gcd(u, 2)


@st.composite
def host_configs(draw, policy: bool = True, kinds: tuple[str, ...] = ("hyperv",)) -> dict:
    pol = draw(policies(kinds)) if policy else None
    physical = draw(st.integers(512, 6144))
    reserve = draw(st.one_of(st.none(), st.integers(0, physical // 3)))
    # Smart Paging drain (s): the default, none, and ones short ticks reach.
    drain = draw(st.sampled_from([600.0, 0.0, 20.0, 45.5]))
    return dict(physical_mb=physical, reserve_mb=reserve, policy=pol, smart_paging_drain_s=drain)


@functools.lru_cache(maxsize=None)
def vm_sizes(step: int):
    return _vm_sizes(step)


@st.composite
def _vm_sizes(draw, step: int) -> dict:
    """Valid (minimum, startup, maximum), multiples of `step`."""
    lo = -(-32 // step)
    minimum = step * draw(st.integers(lo, 768 // step))
    startup = minimum + step * draw(st.integers(0, 768 // step))
    maximum = draw(st.one_of(
        st.just(MAX_MB),
        st.integers(0, 3072 // step).map(lambda k: startup + step * k),
    ))
    return dict(minimum_mb=minimum, startup_mb=startup, maximum_mb=maximum)


@functools.lru_cache(maxsize=None)
def buffers():
    return st.one_of(st.sampled_from([5, 20, 50, 100, 2000]), st.integers(5, 2000))


@functools.lru_cache(maxsize=None)
def weights():
    return st.one_of(st.sampled_from([0, 1, 100, 2000, 5000, 5000, 10000]),
                     st.integers(0, 10000))


def guests():
    """A guest profile for `add_vm(guest=...)`: mostly the default, else
    Linux, a stuck guest (never reports), a slow one with its own chunk."""
    import dynmem
    return st.sampled_from([
        "windows", "windows", "linux", dynmem.Guest.linux(),
        dynmem.Guest("stuck", report_delay_s=math.inf),
        dynmem.Guest("slow", report_delay_s=3.0, balloon_floor="hv_balloon", hot_add_chunk_mb=1024),
    ])


@functools.lru_cache(maxsize=None)
def vm_settings(step: int, allow_none_minimum: bool = False):
    return _vm_settings(step, allow_none_minimum)


@st.composite
def _vm_settings(draw, step: int, allow_none_minimum: bool = False) -> dict:
    s = draw(vm_sizes(step))
    if allow_none_minimum and draw(st.integers(0, 4)) == 0:
        s["minimum_mb"] = None
    s["buffer_pct"] = draw(buffers())
    s["weight"] = draw(weights())
    s["dynamic"] = draw(st.sampled_from([True, True, True, False]))
    return s


_DEMAND = st.one_of(
    st.integers(0, 4096),
    st.tuples(st.just("near"), st.integers(-32, 32)),  # around a given size
    st.sampled_from([0, 1, 31, 1000, MAX_DEMAND]),
)


def draw_demand(draw, near: int = 1024) -> int:
    """A demand: anywhere in 0..4096, within 32 MB of `near`, or an edge value."""
    x = draw(_DEMAND)
    if isinstance(x, tuple):
        return max(0, near + x[1])
    return x


@st.composite
def valid_change(draw, vm, step: int) -> dict:
    """A legal configure() for `vm` (reference VM), as a dict of changes."""
    changes = {}
    keys = draw(st.lists(st.sampled_from(SETTINGS), min_size=1, max_size=4, unique=True))
    if vm.state == "off":
        sizes = draw(vm_sizes(step))
        for k in ("minimum_mb", "startup_mb", "maximum_mb"):
            if k in keys:
                changes[k] = sizes[k]
        if "dynamic" in keys:
            changes["dynamic"] = draw(st.booleans())
        # partial size changes must still be ordered with the unchanged ones
        if change_problem(vm, changes, 1) is not None:
            changes.update(sizes)
    else:
        if "maximum_mb" in keys:
            changes["maximum_mb"] = draw(st.one_of(
                st.just(vm.maximum_mb),
                st.integers(0, 2048 // step).map(lambda k: min(MAX_MB, vm.maximum_mb + step * k))))
        if "minimum_mb" in keys:
            lo = -(-32 // step)
            changes["minimum_mb"] = step * draw(st.integers(lo, vm.minimum_mb // step))
    if "buffer_pct" in keys:
        changes["buffer_pct"] = draw(buffers())
    if "weight" in keys:
        changes["weight"] = draw(weights())
    if not changes:
        changes["weight"] = draw(weights())
    return changes
