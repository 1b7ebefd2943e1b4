"""Guest profiles (docs/balancer.md, "Guest profiles"): Linux's hv_balloon
floor in the reported demand and as a lower bound, its 45 reports and
memory blocks, Windows' policy delay, a user's stuck and slow guests; bad
profiles as typed errors that change nothing; properties with mixed guests.
Hand-computed cases from the shared doc's figures (dynamic-memory.md §8)."""

import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dynmem
import helpers as H
import reference as R

STUCK = dynmem.Guest("stuck", report_delay_s=math.inf)


def host(physical_mb=65536, **policy):
    return dynmem.Host(physical_mb, reserve_mb=0, policy=dynmem.HyperVPolicy(**policy))


# §8: 128 MiB → 72, 512 → 168, 2 GiB → 360, 8 GiB → 744, 32 GiB → 1512;
# in between on the segment's slope (1 GiB: 104 + 1024/8; 5000 MB: 232 +
# 5000/16 = 544.5 → 546 in 2 MB units); past 32 GiB the 1/32 slope goes on.
FLOORS = [(128, 72), (512, 168), (2048, 360), (8192, 744), (32768, 1512), (1024, 232), (5000, 546),
          (65536, 2536), (32, 24)]


@pytest.mark.parametrize("startup, floor", FLOORS)
def test_linux_floor_table_points(startup, floor):
    h = host(200_000)
    vm = h.add_vm("l", startup_mb=startup, minimum_mb=32, maximum_mb=max(startup, 1024), guest="linux")
    assert vm.balloon_floor_mb == floor
    assert R.ceil_u(R.hv_balloon_floor_mb(startup), 2) == floor
    assert vm.minimum_mb == 32  # as configured; the balancer keeps max(32, floor)
    w = h.add_vm("w", startup_mb=startup, minimum_mb=32, maximum_mb=max(startup, 1024))
    assert w.balloon_floor_mb == 0


def test_linux_reports_committed_plus_floor():
    h = host()
    vm = h.add_vm("web", startup_mb=2048, minimum_mb=512, maximum_mb=16384, guest="linux")
    vm.demand_mb = 1000
    assert (vm.demand_mb, vm.guest_reported_mb) == (1000, 1360)
    assert h.demand_mb.tolist() == [1000]
    assert h.guest_reported_mb.tolist() == [1360]
    vm.start()
    for _ in range(45):
        h.tick(1.0)
    h.tick(45.0)  # past the remove delay
    # target ceil(1360 × 1.2) = 1632; pressure and status of the reported figure
    assert vm.assigned_mb == 1632 and vm.pressure == 1360 / 1632 * 100
    assert vm.status == "ok" and vm.paging_mb == 0
    assert vm.counters["Guest Available Memory"] == 1632 - 1360


def test_linux_refuses_to_balloon_below_its_floor():
    h = host(16384)
    big = h.add_vm("big", startup_mb=8192, minimum_mb=512, maximum_mb=16384, guest="linux")
    win = h.add_vm("win", startup_mb=8192, minimum_mb=512, maximum_mb=16384)
    big.start()
    win.start()
    h.tick(45.0)  # both report (45 s: Linux's and the policy's delay)
    h.tick(45.0)  # and give back their excess
    hog = h.add_vm("hog", startup_mb=32, maximum_mb=16384, weight=10000)
    hog.start()
    h.tick(45.0)
    hog.demand_mb = 100_000
    for _ in range(40):
        h.tick(1.0)
    # Committed 0: the Linux guest stops at its floor (744), the Windows one
    # at its minimum (512).
    assert (big.assigned_mb, win.assigned_mb) == (744, 512)
    # A start balloons neither below its bound (the hog outweighs the newcomer).
    late = h.add_vm("late", startup_mb=128, maximum_mb=128, weight=5000)
    with pytest.raises(dynmem.InsufficientMemoryError):
        late.start()
    assert (big.assigned_mb, win.assigned_mb) == (744, 512)


def test_linux_reports_after_45_reports_windows_after_its_delay():
    h = host(16384, boot_report_delay_s=10.0)
    lin = h.add_vm("l", startup_mb=1024, minimum_mb=512, maximum_mb=4096, guest="linux")
    win = h.add_vm("w", startup_mb=1024, minimum_mb=512, maximum_mb=4096)
    stuck = h.add_vm("s", startup_mb=1024, minimum_mb=512, maximum_mb=4096, guest=STUCK)
    for vm in (lin, win, stuck):
        vm.start()
    for t in range(1, 121):
        h.tick(1.0)
        assert lin.state == ("running" if t >= 45 else "starting"), t
        assert win.state == ("running" if t >= 10 else "starting"), t
        assert stuck.state == "starting"
    assert stuck.assigned_mb == 1024 and win.assigned_mb < 1024


def test_linux_hot_adds_128_mb_blocks_whatever_the_policy_chunk():
    h = host(16384, boot_report_delay_s=0.0, hot_add_chunk_mb=64)
    lin = h.add_vm("l", startup_mb=1024, maximum_mb=8192, guest="linux")
    win = h.add_vm("w", startup_mb=1024, maximum_mb=8192)
    mine = h.add_vm("m", startup_mb=1024, maximum_mb=8192, guest=dynmem.Guest("m", hot_add_chunk_mb=512))
    for vm in (lin, win, mine):
        vm.start()
    h.tick(45.0)  # Linux reports after 45 s, the others at once (policy delay 0)
    lin.demand_mb = 871
    win.demand_mb = mine.demand_mb = 1000
    h.tick(1.0)
    # Linux: 871 + 232 = 1103 reported → 1324 assigned, 300 above visible:
    # 1024 + 3 × 128 (the policy's 64 MB would give 1024 + 5 × 64 = 1344).
    assert (lin.assigned_mb, lin.visible_mb) == (1324, 1408)
    # Windows: 1200 assigned, the policy's 64 MB chunks: 1024 + 3 × 64.
    assert (win.assigned_mb, win.visible_mb) == (1200, 1216)
    assert (mine.assigned_mb, mine.visible_mb) == (1200, 1536)


def test_stuck_guest_is_never_ballooned():
    h = host(4096)
    stuck = h.add_vm("s", startup_mb=2048, minimum_mb=512, maximum_mb=2048, guest=STUCK)
    stuck.start()
    h.tick(1000.0)
    with pytest.raises(dynmem.InsufficientMemoryError):
        h.add_vm("n", startup_mb=3072, maximum_mb=3072, weight=10000).start()
    assert (stuck.state, stuck.assigned_mb, stuck.guest) == ("starting", 2048, STUCK)


def test_guest_objects_and_names():
    assert dynmem.Guest.linux() == dynmem.Guest.named("linux")
    assert dynmem.Guest.linux().report_delay_s == 45.0
    assert dynmem.Guest.windows() == dynmem.Guest("windows")
    assert dynmem.GUEST_NAMES == ("windows", "linux")
    h = host()
    a = h.add_vm("a")
    b = h.add_vm("b", guest="linux")
    c = h.add_vm("c", guest=dynmem.Guest.linux())
    assert a.guest == dynmem.Guest.windows() and b.guest == c.guest == dynmem.Guest.linux()
    assert h.guests == [dynmem.Guest.windows(), dynmem.Guest.linux()]  # one entry per distinct profile
    assert h.guest_index().tolist() == [0, 1, 1]
    vms = h.add_vms(["d", "e", "f"], guest=["linux", STUCK, "windows"])
    assert [v.guest.name for v in vms] == ["linux", "stuck", "windows"]
    assert h.guest_index().tolist() == [0, 1, 1, 1, 2, 0]


BAD = [
    (dict(report_delay_s=-1.0), dynmem.ConfigError, "guest.report_delay_s", -1.0),
    (dict(report_delay_s=math.nan), dynmem.ConfigError, "guest.report_delay_s", None),
    (dict(report_delay_s=-math.inf), dynmem.ConfigError, "guest.report_delay_s", -math.inf),
    (dict(report_delay_s="45"), dynmem.ConfigTypeError, "guest.report_delay_s", "45"),
    (dict(balloon_floor="linux"), dynmem.ConfigError, "guest.balloon_floor", "linux"),
    (dict(hot_add_chunk_mb=0), dynmem.ConfigError, "guest.hot_add_chunk_mb", 0),
    (dict(hot_add_chunk_mb=-128), dynmem.ConfigError, "guest.hot_add_chunk_mb", -128),
    (dict(hot_add_chunk_mb="blocks"), dynmem.ConfigError, "guest.hot_add_chunk_mb", "blocks"),
    (dict(hot_add_chunk_mb=128.0), dynmem.ConfigTypeError, "guest.hot_add_chunk_mb", 128.0),
    (dict(name=""), dynmem.ConfigError, "guest.name", ""),
    (dict(name=3), dynmem.ConfigTypeError, "guest.name", 3),
]


@pytest.mark.parametrize("fields, cls, field, value", BAD)
def test_bad_guest_is_a_typed_error(fields, cls, field, value):
    with pytest.raises(cls) as e:
        dynmem.Guest(**{"name": "g", **fields})
    assert e.value.field == field
    if value is not None:
        assert e.value.value == value


def test_bad_guest_at_add_changes_nothing():
    h = host()
    h.add_vm("a", guest="linux")
    before = (len(h.vms), h.guests, h.guest_index().tolist())
    with pytest.raises(dynmem.ConfigError) as e:
        h.add_vm("b", guest="freebsd")
    assert (e.value.field, e.value.value) == ("guest", "freebsd")
    with pytest.raises(dynmem.ConfigTypeError) as e:
        h.add_vm("b", guest=3)  # type: ignore[arg-type]
    assert e.value.field == "guest"
    # A chunk the host's 2 MB unit does not divide: known only at the add.
    with pytest.raises(dynmem.ConfigError) as e:
        h.add_vm("b", guest=dynmem.Guest("odd", hot_add_chunk_mb=129))
    assert (e.value.field, e.value.value) == ("guest.hot_add_chunk_mb", 129)
    # A bad VM with a new profile leaves the table alone.
    with pytest.raises(dynmem.ConfigError):
        h.add_vm("b", startup_mb=1024, minimum_mb=2048, guest=STUCK)
    with pytest.raises(dynmem.ConfigError) as e:
        h.add_vms(["x", "y", "z"], guest=["linux", "linux", "beos"])
    assert (e.value.field, e.value.value) == ("guest[2]", "beos")
    with pytest.raises(dynmem.ConfigError) as e:
        h.add_vms(["x", "y"], guest=["linux", dynmem.Guest("odd", hot_add_chunk_mb=129)])
    assert e.value.field == "guest[1].hot_add_chunk_mb"
    assert (len(h.vms), h.guests, h.guest_index().tolist()) == before


def test_guests_travel_through_pickle_copy_and_scenarios(tmp_path):
    h = host()
    a = h.add_vm("a", startup_mb=2048, minimum_mb=512, maximum_mb=8192, guest="linux")
    h.add_vm("b", guest=STUCK)
    a.start()
    a.demand_mb = 700
    h.tick(50.0)
    for other in (pickle.loads(pickle.dumps(h)), copy.deepcopy(h)):
        assert H.host_view(other) == H.host_view(h)
        assert other.guests == h.guests
    path = tmp_path / "s.toml"
    path.write_text(
        'duration_s = 10\n[host]\nphysical_mb = 8192\nreserve_mb = 0\n'
        '[[vm]]\nname = "l"\nstartup_mb = 2048\nguest = "linux"\ndemand_mb = [[0, 100]]\n'
        '[[vm]]\nname = "s"\nguest = { name = "stuck", report_delay_s = inf }\ndemand_mb = [[0, 100]]\n')
    built = dynmem.scenario.load_scenario(path).build()
    assert [v.guest for v in built.vms] == [dynmem.Guest.linux(), STUCK]
    path.write_text(path.read_text().replace('name = "stuck", ', 'name = "stuck", colour = 1, '))
    with pytest.raises(dynmem.ConfigError) as e:
        dynmem.scenario.load_scenario(path).build()
    assert "guest" in str(e.value)


# --------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------

GUESTS = ["windows", "linux", STUCK, dynmem.Guest("slow", report_delay_s=7.0, balloon_floor="hv_balloon")]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_mixed_guests_keep_the_invariants(data):
    """Σ assigned + reserve ≤ physical; minimum ≤ assigned ≤ maximum and
    floor ≤ assigned for running dynamic VMs; whatever the mix of guests."""
    n = data.draw(st.integers(2, 12))
    phys = data.draw(st.integers(2048, 12000)) // 2 * 2
    h = dynmem.Host(phys, reserve_mb=data.draw(st.sampled_from([0, 256])))
    startup = [data.draw(st.integers(16, 512)) * 4 for _ in range(n)]
    minimum = [max(32, s // data.draw(st.sampled_from([1, 2, 4]))) // 2 * 2 for s in startup]
    guests = [data.draw(st.sampled_from(GUESTS)) for _ in range(n)]
    vms = h.add_vms([f"v{i}" for i in range(n)], startup_mb=startup, minimum_mb=minimum,
                    maximum_mb=[s * 4 for s in startup], weight=[data.draw(st.integers(0, 10000)) for _ in range(n)],
                    guest=guests)
    for vm in vms:
        H.try_start(vm)
    for _ in range(data.draw(st.integers(1, 30))):
        h.set_demand_mb(np.array([data.draw(st.integers(0, 6000)) for _ in range(n)]))
        h.tick(data.draw(st.sampled_from([1.0, 5.0, 30.0])))
        H.check_invariants(h)
        for vm in vms:
            if vm.state == "running" and vm.dynamic:
                assert max(vm.minimum_mb, vm.balloon_floor_mb) <= vm.assigned_mb <= vm.maximum_mb


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_default_guest_is_todays_behaviour(data):
    """A VM added without a guest, with "windows", or with a user profile of
    the same parameters under another name behaves identically."""
    policy = dynmem.HyperVPolicy(boot_report_delay_s=data.draw(st.sampled_from([0.0, 3.0, 45.0])),
                                 hot_add_chunk_mb=data.draw(st.sampled_from([2, 64, 128])))
    same = dynmem.Guest("my-windows")  # the policy's delay and chunk, no floor
    hosts = [dynmem.Host(8192, reserve_mb=0, policy=policy) for _ in range(3)]
    n = data.draw(st.integers(1, 6))
    settings_ = [data.draw(H.vm_settings(2)) for _ in range(n)]
    for k, s in enumerate(settings_):
        hosts[0].add_vm(f"v{k}", **s)
        hosts[1].add_vm(f"v{k}", **s, guest="windows")
        hosts[2].add_vm(f"v{k}", **s, guest=same)
    for h in hosts:
        for vm in h.vms:
            H.try_start(vm)
    for _ in range(data.draw(st.integers(1, 20))):
        d = np.array([data.draw(st.integers(0, 5000)) for _ in range(n)])
        dt = data.draw(st.sampled_from([1.0, 2.5, 10.0]))
        for h in hosts:
            h.set_demand_mb(d)
            h.tick(dt)
        views = [H.host_view(h) for h in hosts]
        for v in views[2]["vms"]:
            v["guest"] = "windows"
        assert views[0] == views[1] == views[2]
