"""Host.run: the loop in Rust equals stepping tick() by hand; failed events
are recorded, not raised; bad input changes nothing; chunked runs (progress)
record the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dynmem
import helpers as H
from dynmem import Event, STATUS_NAMES


def _host(seed: int, kind: str = "hyperv") -> dynmem.Host:
    rng = np.random.default_rng(seed)
    policy = H.make_policy("dynmem", dict(kind=kind, boot_report_delay_s=3.0))
    h = dynmem.Host(physical_mb=6144, reserve_mb=512, policy=policy)
    for i in range(4):
        h.add_vm(f"v{i}", startup_mb=int(rng.choice([512, 1024, 2048])), minimum_mb=256,
                 maximum_mb=4096, weight=int(rng.integers(0, 10001)), dynamic=bool(i != 3))
    return h


def _events(seed: int, ticks: int) -> list[Event]:
    rng = np.random.default_rng(seed + 1)
    evs = [Event(0, "v0", "start"), Event(0, "v1", "start")]
    for _ in range(8):
        t = int(rng.integers(0, ticks))
        vm = f"v{int(rng.integers(0, 4))}"
        action = str(rng.choice(["start", "stop", "configure"]))
        changes = {"weight": int(rng.integers(0, 10001))} if action == "configure" else {}
        evs.append(Event(t, vm, action, changes))
    return evs


def _by_hand(h: dynmem.Host, demand: np.ndarray, dt: float, events: list[Event], every: int) -> dict:
    rows: dict[str, list] = {k: [] for k in ("tick", "assigned_mb", "visible_mb", "target_mb", "status",
                                               "pressure", "available_mb", "events")}
    order = sorted(range(len(events)), key=lambda i: events[i].tick)
    for k in range(demand.shape[0]):
        for i in order:
            ev = events[i]
            if ev.tick != k:
                continue
            vm = h.vm(ev.vm)
            try:
                if ev.action == "configure":
                    vm.configure(**ev.changes)
                else:
                    getattr(vm, ev.action)()
                rows["events"].append((k, ev.vm, ev.action, None))
            except dynmem.DynmemError as e:
                rows["events"].append((k, ev.vm, ev.action, str(e)))
        h.set_demand_mb(demand[k])
        h.tick(dt)
        if k % every == 0:
            rows["tick"].append(k)
            rows["assigned_mb"].append(h.assigned_mb)
            rows["visible_mb"].append(h.visible_mb)
            rows["target_mb"].append(h.target_mb)
            rows["status"].append([STATUS_NAMES.index(vm.status) for vm in h.vms])
            rows["pressure"].append(h.pressure)
            rows["available_mb"].append(h.available_mb)
    return rows


@pytest.mark.parametrize("kind", H.kind_params())
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), every=st.integers(1, 7), dt=st.sampled_from([0.5, 1.0, 2.5]))
def test_run_equals_stepping_tick_by_hand(kind: str, seed: int, every: int, dt: float) -> None:
    """Under every policy (a user policy's allocate is called from the loop in Rust)."""
    ticks = 60
    demand = np.random.default_rng(seed).integers(0, 5000, size=(ticks, 4))
    events = _events(seed, ticks)
    a, b = _host(seed, kind), _host(seed, kind)
    tl = a.run(demand, dt, events, every)
    want = _by_hand(b, demand, dt, events, every)
    assert tl.tick.tolist() == want["tick"]
    for key in ("assigned_mb", "visible_mb", "target_mb", "status", "pressure"):
        assert np.array_equal(getattr(tl, key), np.array(want[key])), key
    assert tl.available_mb.tolist() == want["available_mb"]
    assert tl.events == want["events"]
    assert np.array_equal(a.assigned_mb, b.assigned_mb)
    assert [vm.counters for vm in a.vms] == [vm.counters for vm in b.vms]
    assert a.time_s == b.time_s == pytest.approx(ticks * dt)


def test_failed_start_is_recorded_not_raised() -> None:
    h = dynmem.Host(physical_mb=2048, reserve_mb=0)
    h.add_vm("big", startup_mb=1536, maximum_mb=2048)
    h.add_vm("late", startup_mb=1024, maximum_mb=2048, weight=0)
    tl = h.run(np.full((10, 2), 500), events=[Event(0, "big", "start"), Event(5, "late", "start")])
    assert tl.failed_events == [(5, "late", "start", tl.failed_events[0][3])]
    assert "Not enough memory" in tl.failed_events[0][3]
    assert h.vm("late").state == "off"
    assert (tl.status[:, 1] == STATUS_NAMES.index("off")).all()


def test_chunked_run_with_progress_records_the_same_rows() -> None:
    demand = np.random.default_rng(3).integers(0, 5000, size=(1000, 4))
    events = _events(3, 1000)
    plain = _host(3).run(demand, 1.0, events, 10)
    seen: list[tuple[int, int]] = []
    chunked = _host(3).run(demand, 1.0, events, 10, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 5 and seen[-1] == (1000, 1000)
    assert all(a < b for (a, _), (b, _) in zip(seen, seen[1:]))
    for key in ("tick", "time_s", "assigned_mb", "pressure", "available_mb", "status"):
        assert np.array_equal(getattr(plain, key), getattr(chunked, key)), key
    assert plain.events == chunked.events


def test_decimate_and_summaries() -> None:
    h = _host(5)
    tl = h.run(np.full((120, 4), 3000), 1.0, [Event(0, "v0", "start")], 1)
    d = tl.decimate(10)
    assert d.rows == 12 and d.tick.tolist() == list(range(0, 120, 10))
    assert np.array_equal(d.assigned_mb, tl.assigned_mb[::10])
    # v0 pages while it boots (holds startup < demand), then holds its demand.
    assert tl.paging_mb_h()[0] > 0 and tl.paging_mb_h()[1:].sum() == 0
    assert tl.status_seconds("off")[1:].tolist() == [120.0, 120.0, 120.0]
    with pytest.raises(dynmem.ConfigError):
        tl.decimate(0)
    with pytest.raises(dynmem.ConfigError):
        tl.status_seconds("sleepy")


@pytest.mark.parametrize("kwargs, field", [
    (dict(demand_mb=np.zeros((5, 3), dtype=np.int64)), "demand_mb"),
    (dict(demand_mb=np.zeros(5, dtype=np.int64)), "demand_mb"),
    (dict(demand_mb=np.full((5, 4), -1)), "demand_mb[0, 0]"),
    (dict(demand_mb=np.full((5, 4), 0.5)), "demand_mb"),
    (dict(demand_mb=np.full((5, 4), 2**32)), "demand_mb[0, 0]"),
    (dict(dt_s=float("nan")), "dt_s"),
    (dict(dt_s=0.0), "dt_s"),
    (dict(record_every=0), "record_every"),
    (dict(events=[Event(5, "v0", "start")]), "events[0].tick"),
    (dict(events=[Event(1, "v0", "reboot")]), "events[0].action"),
])
@pytest.mark.parametrize("progress", [None, lambda done, total: None])
def test_bad_run_input_changes_nothing(kwargs: dict, field: str, progress: object) -> None:
    h = _host(7)
    args = dict(demand_mb=np.full((5, 4), 100, dtype=np.int64), dt_s=1.0, events=[Event(0, "v1", "start")],
                record_every=1, progress=progress)
    args.update(kwargs)
    before = (h.time_s, h.assigned_mb.tolist(), h.demand_mb.tolist(), [vm.state for vm in h.vms])
    with pytest.raises(dynmem.ConfigError) as e:
        h.run(**args)
    assert e.value.field == field, str(e.value)
    assert (h.time_s, h.assigned_mb.tolist(), h.demand_mb.tolist(), [vm.state for vm in h.vms]) == before


def test_run_rejects_unknown_vm_event() -> None:
    h = _host(8)
    with pytest.raises(dynmem.StateError):
        h.run(np.zeros((3, 4), dtype=np.int64), events=[Event(0, "nobody", "start")])


@pytest.mark.parametrize("late", ["demand", "action"])
def test_bad_entry_late_in_a_chunked_run_changes_nothing(late: str) -> None:
    """With progress the run goes in chunks: everything is checked before the first."""
    h = _host(9)
    demand = np.full((1000, 4), 100, dtype=np.int64)
    events = [Event(0, "v0", "start")]
    if late == "demand":
        demand[999, 2] = -7
    else:
        events.append(Event(990, "v1", "reboot"))
    with pytest.raises(dynmem.ConfigError) as e:
        h.run(demand, 1.0, events, 10, progress=lambda done, total: None)
    assert e.value.field == ("demand_mb[999, 2]" if late == "demand" else "events[1].action")
    assert h.time_s == 0.0 and h.vm("v0").state == "off"


def test_chunked_run_accepts_numpy_integer_ticks() -> None:
    h = _host(10)
    tl = h.run(np.full((300, 4), 100), 1.0, [Event(np.int64(250), "v0", "start")], 10, progress=lambda d, t: None)
    assert tl.events == [(250, "v0", "start", None)]


def test_status_seconds_use_record_every_even_with_one_row() -> None:
    h = _host(11)
    tl = h.run(np.full((120, 4), 100), 1.0, [], 200)
    assert tl.rows == 1 and tl.record_every == 200
    assert tl.status_seconds("off").tolist() == [200.0] * 4
    assert tl.decimate(2).record_every == 400


def test_concat_names_every_vm_and_pads_where_one_was_absent() -> None:
    # Two runs of one host; between them a VM is removed and another added.
    h = dynmem.Host(8192, 512)
    h.add_vm("a").start()
    b = h.add_vm("b")
    first = h.run(np.full((3, 2), 600), events=[Event(0, "b", "start")])
    b.stop()
    h.remove_vm(b)
    h.add_vm("c").start()
    second = h.run(np.full((2, 2), 800))
    tl = dynmem.Timeline.concat([first, second])

    assert tl.names == ["a", "b", "c"]
    assert tl.tick.tolist() == [0, 1, 2, 0, 1]
    off = STATUS_NAMES.index("off")
    assert tl.status[:3, 2].tolist() == [off] * 3 and tl.status[3:, 1].tolist() == [off] * 2
    assert tl.demand_mb[:, 1].tolist() == [600] * 3 + [0] * 2
    assert tl.demand_mb[:, 2].tolist() == [0] * 3 + [800] * 2
    for k in ("demand_mb", "assigned_mb", "visible_mb", "target_mb", "pressure", "status"):
        assert getattr(tl, k).dtype == getattr(first, k).dtype, k
        np.testing.assert_array_equal(getattr(tl, k)[:3, :2], getattr(first, k), err_msg=k)
        np.testing.assert_array_equal(getattr(tl, k)[3:, [0, 2]], getattr(second, k), err_msg=k)
    assert (tl.assigned_mb[3:, 1] == 0).all() and (tl.pressure[:3, 2] == 0).all()
