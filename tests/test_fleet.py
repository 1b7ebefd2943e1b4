"""Fleets (issue 12): a fleet's hosts equal independent `Host`s under the
same operations, on any thread count; placement never overfills and agrees
with a plain Python scan; migration keeps every host's sums; runs equal
stepping by hand."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynmem
from dynmem import placement as P

RULES = {
    "first": P.FirstFit(),
    "best": P.BestFit(),
    "worst": P.WorstFit(),
    "rating": P.Rating("free_after"),
    "minimum": P.Rating("sum_minimum"),
    "capped": P.BestFit(max_ratio=1.5),
}


def host_state(h: dynmem.Host) -> tuple:
    return (
        h.time_s, h.available_mb, tuple(h._core.ids().tolist()), h.demand_mb.tolist(), h.assigned_mb.tolist(),
        h.visible_mb.tolist(), h.pressure.tolist(), h.status_codes.tolist(), h.counters,
        [vm.counters for vm in h.vms], [vm.name for vm in h.vms],
    )


fleets = st.builds(
    dict,
    hosts=st.lists(st.integers(4, 40).map(lambda g: g * 512), min_size=1, max_size=6),
    vms=st.integers(0, 60),
    rule=st.sampled_from(sorted(RULES)),
    seed=st.integers(0, 2**32 - 1),
    ticks=st.integers(1, 6),
    threads=st.sampled_from([1, 2, 3]),
)


def build(spec: dict) -> tuple[dynmem.Fleet, list[dynmem.Host]]:
    """A fleet driven through random operations, and the same operations on
    one plain `Host` per fleet host, compared after every step."""
    rng = np.random.default_rng(spec["seed"])
    pol = dynmem.HyperVPolicy(boot_report_delay_s=1.0)
    fleet = dynmem.Fleet(physical_mb=np.array(spec["hosts"]), reserve_mb=256, policy=pol)
    fleet.threads = spec["threads"]
    plain = [dynmem.Host(p, reserve_mb=256, policy=pol) for p in spec["hosts"]]
    n = spec["vms"]
    startup = rng.integers(64, 1024, n) * 2
    maximum = startup * rng.integers(1, 4, n)
    weight = rng.integers(0, 10001, n)
    names = [f"v{i}" for i in range(n)]
    ids = fleet.add_vms(names, startup_mb=startup, maximum_mb=maximum, minimum_mb=startup // 4 * 2, weight=weight)
    half = ids[: n // 2]
    hosts = fleet.place(half, RULES[spec["rule"]])
    rest = fleet.place(ids[n // 2 :], RULES[spec["rule"]])
    placed = np.concatenate([hosts, rest])
    for i in range(n):  # the fleet adds each host's VMs in the order placed
        if placed[i] >= 0:
            plain[placed[i]].add_vm(names[i], startup_mb=int(startup[i]), maximum_mb=int(maximum[i]),
                                    minimum_mb=int(startup[i] // 4 * 2), weight=int(weight[i]))
    on = ids[placed >= 0]
    started = fleet.start_vms(on)
    for h in plain:
        h.start_vms()
    for i, s in zip(on.tolist(), started.tolist()):
        assert s == (plain[placed[i]].vm(names[i]).state != "off")
    for _ in range(spec["ticks"]):
        row = rng.integers(0, 6000, n)
        fleet.set_demand_mb(row)
        for k, h in enumerate(plain):
            h.set_demand_mb(np.array([row[i] for i in range(n) if placed[i] == k], dtype=np.int64))
        fleet.tick(2.0)
        for h in plain:
            h.tick(2.0)
        compare(fleet, plain, placed, names)
    return fleet, plain


def compare(fleet, plain, placed, names):
    for k, h in enumerate(plain):
        assert host_state(fleet.hosts[k].copy()) == host_state(h), f"host {k}"
        assert h.assigned_mb.sum() + h.reserve_mb <= h.physical_mb
    assigned = fleet.assigned_mb
    for i, name in enumerate(names):
        want = plain[placed[i]].vm(name).assigned_mb if placed[i] >= 0 else 0
        assert assigned[i] == want
    assert fleet.host_available_mb.tolist() == [h.available_mb for h in plain]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=fleets)
def test_fleet_equals_independent_hosts(spec: dict) -> None:
    build(spec)


def test_large_fleet_is_the_same_on_every_thread_count() -> None:
    # ≥ 8192 VMs, so the fleet really ticks its hosts on several threads:
    # against plain hosts once, then the same fleet on 1, 2 and 3 threads.
    build(dict(hosts=[65536] * 23, vms=9000, rule="best", seed=5, ticks=2, threads=3))
    snaps = []
    for threads in (1, 2, 3):
        rng = np.random.default_rng(9)
        fleet = dynmem.Fleet(np.full(23, 65536), reserve_mb=256)
        fleet.threads = threads
        ids = fleet.add_vms(9000, startup_mb=rng.integers(64, 512, 9000) * 2, maximum_mb=4096)
        fleet.start_vms(ids[fleet.place(ids) >= 0])
        for _ in range(4):
            fleet.set_demand_mb(rng.integers(0, 4000, 9000))
            fleet.tick(1.0)
        snaps.append(fleet.snapshot())
    assert snaps[0] == snaps[1] == snaps[2]


def reference_place(free, caps, startup, maximum, rule, ratio, physical):
    """The obviously-correct scan: every host, every VM."""
    free = list(free)
    mx = [0] * len(free)
    out = []
    for s, m in zip(startup, maximum):
        ok = [h for h in range(len(free)) if free[h] >= s and (ratio is None or mx[h] + m <= ratio * physical[h])]
        if not ok:
            out.append(-1)
            continue
        if rule == "first":
            h = ok[0]
        elif rule in ("best", "capped"):
            h = min(ok, key=lambda h: (free[h], h))
        else:
            h = min(ok, key=lambda h: (-free[h], h))
        free[h] -= s
        mx[h] += m
        out.append(h)
    return out


@settings(max_examples=60, deadline=None)
@given(
    hosts=st.lists(st.integers(2, 64).map(lambda g: g * 256), min_size=1, max_size=12),
    sizes=st.lists(st.integers(16, 2048).map(lambda m: m * 2), max_size=80),
    rule=st.sampled_from(["first", "best", "worst", "rating", "capped"]),
)
def test_placement_agrees_with_a_plain_scan_and_never_overfills(hosts, sizes, rule) -> None:
    fleet = dynmem.Fleet(np.array(hosts), reserve_mb=0)
    startup = np.array(sizes, dtype=np.int64)
    maximum = startup * 2
    ids = fleet.add_vms(len(sizes), startup_mb=startup, maximum_mb=maximum)
    got = fleet.place(ids, RULES[rule])
    ratio = 1.5 if rule == "capped" else None
    want = reference_place(hosts, None, startup, maximum, rule, ratio, hosts)
    assert got.tolist() == want
    for k, p in enumerate(hosts):
        assert startup[got == k].sum() <= p
    assert (fleet.host_free_mb >= 0).all()
    # Every placed VM starts: admission by startup never overfills a host.
    assert fleet.start_vms(ids[got >= 0]).all()


def test_user_rule_and_its_bad_answers() -> None:
    fleet = dynmem.Fleet(np.array([4096, 8192]), reserve_mb=0)
    ids = fleet.add_vms(3, startup_mb=2048, maximum_mb=2048)
    seen = []

    def rule(request, view):
        seen.append((request["vm"], view["free_mb"].tolist()))
        return int(np.argmax(view["free_mb"]))

    assert fleet.place(ids, rule).tolist() == [1, 1, 0]
    assert seen[1] == (1, [4096, 6144])
    more = fleet.add_vms(["x"], startup_mb=4096, maximum_mb=4096)
    with pytest.raises(dynmem.ConfigError) as e:
        fleet.place(more, lambda r, v: 0)
    assert e.value.field == "placement[0]"
    assert fleet.host_of(more).tolist() == [-1]  # nothing changed
    with pytest.raises(ZeroDivisionError):
        fleet.place(more, lambda r, v: 1 // 0)


def test_contract_example_and_views() -> None:
    fleet = dynmem.Fleet(physical_mb=np.full(40, 65536), reserve_mb=4096, policy=dynmem.HyperVPolicy())
    rng = np.random.default_rng(1)
    s = rng.integers(256, 2048, 1000) * 2
    ids = fleet.add_vms([f"vm{i}" for i in range(1000)], startup_mb=s, minimum_mb=s // 2 // 2 * 2,
                        maximum_mb=s * 2, weight=5000)
    hosts = fleet.place(ids, dynmem.placement.BestFit())
    assert hosts.dtype == np.int64
    fleet.start_vms(ids[hosts >= 0])
    assert fleet.can_start(startup_mb=2048).dtype == np.bool_
    fleet.set_demand_mb(rng.integers(0, 4000, 1000))
    fleet.tick(dt_s=1.0)
    assert fleet.assigned_mb.shape == (1000,)
    assert (fleet.host_of(ids) == hosts).all()
    view = fleet.hosts[17]
    assert isinstance(view, dynmem.HostView)
    assert view.available_mb == fleet.host_available_mb[17]
    assert len(view) == (hosts == 17).sum()
    assert fleet.hosts[-1].index == 39
    with pytest.raises(AttributeError):
        view.tick(1.0)
    with pytest.raises(dynmem.ConfigError):
        fleet.set_demand_mb(np.zeros(5, dtype=np.int64))
    with pytest.raises(dynmem.StateError):
        fleet.start_vms(ids[:1][hosts[:1] >= 0])  # already started


def test_migration_moves_a_vm_and_keeps_every_sum() -> None:
    pol = dynmem.HyperVPolicy(boot_report_delay_s=0.0)
    fleet = dynmem.Fleet(np.full(3, 32768), reserve_mb=512, policy=pol)
    ids = fleet.add_vms(12, startup_mb=1024, maximum_mb=8192, minimum_mb=512)
    fleet.place(ids, P.FirstFit())
    fleet.start_vms(ids)
    fleet.set_demand_mb(np.full(12, 2000))
    fleet.tick(1.0)
    assert fleet.host_of(ids).tolist() == [0] * 12
    began = fleet.migrate(ids[:2], [1, 2], duration_s=2.0)
    assert began.tolist() == [True, True]
    assert fleet.host_of(ids[:2]).tolist() == [0, 0]
    assert [m[:3] for m in fleet.migrations] == [(0, 0, 1), (1, 0, 2)]
    for _ in range(2):
        fleet.set_demand_mb(np.full(12, 2000))
        fleet.tick(1.0)
        for k in range(3):
            h = fleet.hosts[k].copy()
            assert h.assigned_mb.sum() + h.reserve_mb <= h.physical_mb
    assert fleet.migrations == []
    assert fleet.host_of(ids[:2]).tolist() == [1, 2]
    assert len(fleet.hosts[0]) == 10 and len(fleet.hosts[1]) == 1
    assert fleet.assigned_mb[0] > 0
    with pytest.raises(dynmem.ConfigError):
        fleet.migrate(ids[:1], [1])  # already there
    with pytest.raises(dynmem.StateError):
        fleet.migrate(np.array([99]), [0])


def test_run_equals_stepping_by_hand_and_records_failed_events() -> None:
    def make():
        f = dynmem.Fleet(np.array([8192, 8192]), reserve_mb=512)
        ids = f.add_vms(8, startup_mb=2048, maximum_mb=4096)
        return f, ids

    rng = np.random.default_rng(3)
    demand = rng.integers(0, 4000, (20, 8))
    a, ids = make()
    events = [dynmem.Event(0, int(i), "start") for i in ids[:7]] + [dynmem.Event(5, "vm-7", "start")]
    tl = a.run(demand, dt_s=1.0, events=events, placement=P.BestFit(), record_every=3)
    b, _ = make()
    rows = []
    for k in range(20):
        for ev in events:
            if ev.tick == k:
                vm = np.array([b.find(ev.vm) if isinstance(ev.vm, str) else ev.vm])
                if b.host_of(vm)[0] < 0 and b.place(vm)[0] < 0:
                    continue
                b.start_vms(vm)
        b.set_demand_mb(demand[k])
        b.tick(1.0)
        if k % 3 == 0:
            rows.append(b.assigned_mb)
    assert tl.tick.tolist() == list(range(0, 20, 3))
    assert (tl.assigned_mb == np.array(rows)).all()
    assert a.snapshot() == b.snapshot()
    # 8 VMs of 2 GB startup on 2 × 7.5 GB usable: 6 fit, 2 fail and are recorded.
    assert len(tl.failed_events) == 2
    assert tl.failed_events[-1][:3] == (5, 7, "start")


def test_dynamic_optimization_relieves_a_host_that_stays_hot() -> None:
    pol = dynmem.HyperVPolicy(boot_report_delay_s=0.0)
    fleet = dynmem.Fleet(np.full(3, 16384), reserve_mb=0, policy=pol)
    ids = fleet.add_vms(8, startup_mb=1024, minimum_mb=512, maximum_mb=8192)
    fleet.place(ids, P.FirstFit())
    fleet.start_vms(ids)
    fleet.dynamic_optimization = dynmem.DynamicOptimization(threshold=0.8, interval_s=10, duration_s=5)
    demand = np.full((60, 8), 2500)
    tl = fleet.run(demand, dt_s=1.0)
    assert fleet.host_pressure[0] <= 0.8 < demand[0].sum() / 16384
    assert (tl.host_of != 0).sum() >= 2
    for k in range(3):
        h = fleet.hosts[k].copy()
        assert h.assigned_mb.sum() <= h.physical_mb
    again = pickle.loads(pickle.dumps(fleet))
    assert again.dynamic_optimization == fleet.dynamic_optimization
    fleet.dynamic_optimization = None
    assert fleet.dynamic_optimization is None
    with pytest.raises(dynmem.ConfigError):
        fleet.dynamic_optimization = dynmem.DynamicOptimization(interval_s=0)


def test_fleet_bench_smoke() -> None:
    """benches/fleet_bench.py at tiny sizes: it runs, and its numpy best-fit
    peer agrees with dynmem's placement (checked inside); times mean nothing."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benches" / "fleet_bench.py"
    r = subprocess.run([sys.executable, str(bench), "--hosts", "20", "--per-host", "10", "--rounds", "1",
                        "--peer-vms", "200", "--threads", "1,2"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "place 200 VMs on 20 hosts" in r.stdout and "churn" in r.stdout


def test_bad_input_is_a_typed_error_naming_the_field_and_changes_nothing() -> None:
    with pytest.raises(dynmem.ConfigError) as e:
        dynmem.Fleet(np.array([8192, 0]))
    assert e.value.field == "physical_mb[1]"
    with pytest.raises(dynmem.ConfigTypeError):
        dynmem.Fleet(np.array([8192]), policy="hyperv")  # type: ignore[arg-type]
    fleet = dynmem.Fleet(np.array([8192, 8192]), reserve_mb=512)
    ids = fleet.add_vms(["a", "b", "c"], startup_mb=1024, maximum_mb=2048)
    fleet.place(ids[:2])
    fleet.start_vms(ids[:2])
    before = fleet.snapshot()
    cases = [
        (lambda: fleet.add_vms(["d", "a"]), dynmem.ConfigError, "names[1]"),
        (lambda: fleet.add_vms(["d", "d"]), dynmem.ConfigError, "names[1]"),
        (lambda: fleet.add_vms(["d", "e"], startup_mb=[1024, 1023]), dynmem.ConfigError, "startup_mb[1]"),
        (lambda: fleet.place(ids[:1]), dynmem.StateError, "vms[0]"),
        (lambda: fleet.place(np.array([2, 2])), dynmem.StateError, "vms[1]"),
        (lambda: fleet.place(np.array([7])), dynmem.StateError, "vms[0]"),
        (lambda: fleet.place(ids[2:], P.BestFit(max_ratio=-1.0)), dynmem.ConfigError, "max_ratio"),
        (lambda: fleet.place(ids[2:], P.Rating("nope")), dynmem.ConfigError, "by"),
        (lambda: fleet.place(ids[2:], "best"), dynmem.ConfigTypeError, "placement"),
        (lambda: fleet.start_vms(ids[2:]), dynmem.StateError, "vms[0]"),
        (lambda: fleet.start_vms(ids[:1]), dynmem.StateError, "vms[0]"),
        (lambda: fleet.set_demand_mb([1, -1, 2]), dynmem.ConfigError, "demand_mb[1]"),
        (lambda: fleet.set_demand_mb([1, 2]), dynmem.ConfigError, "demand_mb"),
        (lambda: fleet.tick(0.0), dynmem.ConfigError, "dt_s"),
        (lambda: fleet.migrate(ids[:1], [5]), dynmem.ConfigError, "to_hosts[0]"),
        (lambda: fleet.migrate(ids[2:], [0]), dynmem.StateError, "vms[0]"),
        (lambda: fleet.host_of(np.array([-1])), dynmem.ConfigError, "vms[0]"),
        (lambda: fleet.can_start(-5), dynmem.ConfigError, "startup_mb"),
        (lambda: fleet.run(np.zeros((3, 2), dtype=np.int64)), dynmem.ConfigError, "demand"),
        (lambda: fleet.run(np.zeros((3, 3), dtype=np.int64), events=[dynmem.Event(0, 9, "start")]),
         dynmem.ConfigError, "events[0].vm"),
        (lambda: fleet.run(np.zeros((3, 3), dtype=np.int64), record_every=0), dynmem.ConfigError, "record_every"),
    ]
    for k, (call, cls, field) in enumerate(cases):
        with pytest.raises(cls) as e:
            call()
        assert e.value.field == field, (k, e.value.field, str(e.value))
        assert fleet.snapshot() == before, k
