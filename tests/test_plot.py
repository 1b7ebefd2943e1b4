"""dynmem.plot.plot_timeline."""

from __future__ import annotations

import dataclasses
import pathlib
import sys

import numpy as np
import pytest

import dynmem

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from dynmem.plot import plot_timeline  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(vms: int = 3, ticks: int = 3 * 3600, dt_s: float = 1.0, record_every: int = 30,
        physical_mb: int = 16384, late: bool = True, fail: bool = False) -> dynmem.Timeline:
    h = dynmem.Host(physical_mb, 1024)
    names = [f"vm{i}" for i in range(vms)]
    for n in names:
        h.add_vm(n, startup_mb=512, minimum_mb=512, maximum_mb=8192)
    t = np.arange(ticks)[:, None] * dt_s
    demand = 1500 + 1000 * np.sin(t / 1800.0 + np.arange(vms)[None, :])
    demand = (demand // 2 * 2).astype(np.int64)
    first = names[:-1] if late and vms > 1 else names
    events = [dynmem.Event(0, n, "start") for n in first]
    if late and vms > 1:
        events.append(dynmem.Event(ticks // 3, names[-1], "start"))
    if fail:
        events.append(dynmem.Event(ticks // 2, names[0], "start"))  # already running: fails
    return h.run(demand, dt_s=dt_s, events=events, record_every=record_every)


def panel(fig: Figure, name: str):
    """The panel called ``name`` ("per VM", "host", "paging", "status", "available")."""
    found = [ax for ax in fig.axes if ax.get_label() == name]
    assert len(found) == 1, [ax.get_label() for ax in fig.axes]
    return found[0]


def panels(fig: Figure) -> list[str]:
    return [ax.get_label() for ax in fig.axes]


def drawn(ax) -> list:
    """Lines with data (not legend proxies, not full-height markers)."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) and ln.get_linestyle() != "None"]


def fills(ax) -> list:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_writes_png_with_the_host_and_policy_in_the_title(tmp_path: pathlib.Path):
    tl = run()
    out = tmp_path / "timeline.png"
    fig = plot_timeline(tl, out, title="three VMs")
    assert isinstance(fig, Figure)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000
    head = fig._suptitle.get_text().splitlines()
    assert head[0] == "three VMs"
    assert head[1] == "host 16.0 GB − reserve 1.00 GB = 15.0 GB for VMs · policy: Hyper-V defaults · 3 VMs"
    assert panels(fig) == ["per VM", "host", "paging", "status", "available"]
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "memory per VM (GB)", "host memory (GB)", "guest paging (GB)", "VMs", "available (GB)"]
    assert fig.axes[-1].get_xlabel() == "time (min)"


def test_str_path_and_no_path(tmp_path: pathlib.Path):
    tl = run(ticks=600)
    out = str(tmp_path / "x.png")
    plot_timeline(tl, out)
    assert pathlib.Path(out).read_bytes()[:8] == PNG_MAGIC
    fig = plot_timeline(tl)
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == [pathlib.Path(out)]


def _edges(tl: dynmem.Timeline, scale: float) -> np.ndarray:
    starts = tl.time_s - tl.dt_s
    return np.append(starts, starts[-1] + tl.dt_s * tl.record_every) / scale


def _steps(y) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    return np.append(y, y[-1])


def test_per_vm_panel_draws_assigned_and_demand_as_steps_hidden_while_off():
    tl = run(vms=3)
    lines = drawn(panel(plot_timeline(tl), "per VM"))
    assert len(lines) == 2 * 3
    off = tl.status == dynmem.STATUS_NAMES.index("off")
    for j, name in enumerate(tl.names):
        assigned, demand = lines[2 * j], lines[2 * j + 1]
        assert assigned.get_label() == name and assigned.get_color() == demand.get_color()
        assert assigned.get_linestyle() == "-" and demand.get_linestyle() == "--"
        assert assigned.get_drawstyle() == "steps-post" and demand.get_drawstyle() == "steps-post"
        np.testing.assert_allclose(assigned.get_xdata(), _edges(tl, 60.0))
        np.testing.assert_array_equal(assigned.get_ydata(), _steps(np.where(off[:, j], np.nan, tl.assigned_mb[:, j])) / 1024)
        np.testing.assert_array_equal(demand.get_ydata(), _steps(np.where(off[:, j], np.nan, tl.demand_mb[:, j])) / 1024)
    late = lines[-1].get_ydata()
    assert np.isnan(late[0]) and np.isfinite(late[-1])
    assert len({ln.get_color() for ln in lines}) == 3


def test_host_panel_has_the_usable_capacity_total_demand_and_a_band_per_vm():
    tl = run(vms=3)
    host = panel(plot_timeline(tl), "host")
    capacity = [ln for ln in host.get_lines() if ln.get_label() == "usable: physical − reserve"]
    assert len(capacity) == 1
    assert capacity[0].get_ydata()[0] == pytest.approx((16384 - 1024) / 1024)
    (demand,) = [ln for ln in host.get_lines() if ln.get_label() == "total demand"]
    running = tl.status != dynmem.STATUS_NAMES.index("off")
    np.testing.assert_allclose(demand.get_ydata(), _steps(np.where(running, tl.demand_mb, 0).sum(axis=1)) / 1024)
    bands = fills(host)
    assert len(bands) == 3
    top = bands[-1].get_paths()[0].vertices[:, 1].max()
    assert top == pytest.approx(tl.assigned_mb.sum(axis=1).max() / 1024)
    assert legend_texts(host)[:3] == [f"{n}: assigned" for n in tl.names]


def test_paging_panel_and_vms_in_warning():
    tl = run(vms=3, physical_mb=6144)  # tight: guests page
    assert tl.paging_mb.any()
    fig = plot_timeline(tl)
    paging = panel(fig, "paging")
    assert paging.get_ylabel().startswith("guest paging")
    bands = fills(paging)
    assert len(bands) == 3
    unit = 1024 if "GB" in paging.get_ylabel() else 1
    assert bands[-1].get_paths()[0].vertices[:, 1].max() == pytest.approx(tl.paging_mb.sum(axis=1).max() / unit)
    status = panel(fig, "status")
    warning, low = drawn(status)
    assert warning.get_label() == "Warning (paging)" and low.get_label() == "Low (buffer not met)"
    np.testing.assert_array_equal(warning.get_ydata(), _steps((tl.status == 2).sum(axis=1)))


def test_many_vms_are_top_k_bands_by_paging_and_others():
    tl = run(vms=30, ticks=1200, physical_mb=30 * 1024)
    fig = plot_timeline(tl)
    assert panels(fig)[:3] == ["host", "paging", "status"]  # no per-VM lines
    host = panel(fig, "host")
    assert len(fills(host)) == 6 and len(fills(panel(fig, "paging"))) == 6
    names = legend_texts(host)
    assert names[5] == "others (25 VMs): assigned"
    top = np.argsort(-tl.paging_mb.sum(axis=0), kind="stable")[:5]
    assert names[:5] == [f"{tl.names[j]}: assigned" for j in top]
    assert len(fills(panel(plot_timeline(tl, top_k=2), "host"))) == 3
    assert len(fills(panel(plot_timeline(tl, max_lines=30), "host"))) == 30


def test_available_panel_only_when_it_says_something():
    pinned = run(vms=4, physical_mb=4096, late=False)
    assert (pinned.available_mb == 0).mean() > 0.95  # free only while the VMs boot
    assert "available" not in panels(plot_timeline(pinned))
    assert "available" in panels(plot_timeline(run(vms=2)))


def test_events_are_marked_starts_stops_reconfigurations_and_failures():
    h = dynmem.Host(16384, 1024)
    for n in ("a", "b"):
        h.add_vm(n, startup_mb=512, maximum_mb=4096)
    events = [dynmem.Event(0, "a", "start"), dynmem.Event(0, "b", "start"), dynmem.Event(100, "a", "configure", {"weight": 9000}),
              dynmem.Event(200, "b", "stop"), dynmem.Event(300, "a", "start")]  # a is running: fails
    tl = h.run(np.full((600, 2), 700), dt_s=1.0, events=events, record_every=10)
    fig = plot_timeline(tl)
    first = fig.axes[0]
    marks = {ln.get_label(): ln for ln in first.get_lines() if ln.get_linestyle() == "None"}
    texts = legend_texts(first)
    for text in ("start (2)", "reconfigure (1)", "stop (1)", "failed 1x (dotted)"):
        assert text in texts
    markers = [ln for ln in first.get_lines() if ln.get_linestyle() == "None"]
    xs = sorted(float(x) for ln in markers for x in ln.get_xdata())
    assert xs == pytest.approx([0, 0, 100 / 60, 200 / 60, 300 / 60])
    for ax in fig.axes:  # the failure crosses every panel
        dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
        assert len(dotted) == 1 and dotted[0].get_xdata()[0] == pytest.approx(300 / 60)
    assert marks is not None


def test_a_trace_replay_has_dates_on_the_time_axis_and_long_runs_are_binned():
    tl = run(vms=2, ticks=5000, dt_s=60.0, record_every=1)
    tl = dataclasses.replace(tl, start_epoch_s=1_375_308_000.0)
    fig = plot_timeline(tl)
    assert fig.axes[-1].get_xlabel().startswith("time (UTC); each step: the mean over")
    (line, *_rest) = drawn(panel(fig, "per VM"))
    x = line.get_xdata()
    assert np.issubdtype(np.asarray(x).dtype, np.datetime64) and len(x) == 1001
    assert np.asarray(x)[0] == np.datetime64(int((1_375_308_000 + tl.time_s[0] - 60) * 1000), "ms")


def test_degenerate_timelines(tmp_path: pathlib.Path):
    h = dynmem.Host(8192, 512)
    plot_timeline(h.run(np.zeros((0, 0), dtype=np.int64)), tmp_path / "empty.png")
    h.add_vm("x")
    plot_timeline(h.run(np.zeros((3, 1), dtype=np.int64)), tmp_path / "off.png")
    assert (tmp_path / "off.png").read_bytes()[:8] == PNG_MAGIC


def test_leaves_pyplot_alone():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    backend = matplotlib.get_backend()
    plot_timeline(run(ticks=300))
    assert plt.get_fignums() == before
    assert matplotlib.get_backend() == backend


def test_bad_arguments():
    tl = run(ticks=60)
    with pytest.raises(dynmem.ConfigTypeError):
        plot_timeline({"names": []})
    with pytest.raises(dynmem.ConfigError):
        plot_timeline(tl, max_lines=-1)
    with pytest.raises(dynmem.ConfigError):
        plot_timeline(tl, max_lines=2.5)


def test_without_matplotlib_raises_import_error_naming_extra(monkeypatch):
    tl = run(ticks=60)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"dynmem\[plot\]"):
        plot_timeline(tl)


def test_module_imports_without_matplotlib(monkeypatch):
    import importlib

    import dynmem.plot

    monkeypatch.setattr(dynmem, "plot", dynmem.plot)  # restored afterwards
    monkeypatch.delitem(sys.modules, "dynmem.plot")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    fresh = importlib.import_module("dynmem.plot")
    assert fresh.plot_timeline is not plot_timeline
    with pytest.raises(ImportError, match=r"dynmem\[plot\]"):
        fresh.plot_timeline(run(ticks=60))


def test_no_paging_says_so_instead_of_a_tiny_axis():
    h = dynmem.Host(8192, 512)
    h.add_vm("quiet", startup_mb=512)
    tl = h.run(np.full((100, 1), 300), events=[dynmem.Event(0, "quiet", "start")])
    assert not tl.paging_mb.any()
    paging = panel(plot_timeline(tl), "paging")
    assert paging.get_ylim() == (0, 1)
    assert any("no guest paging" in t.get_text() for t in paging.texts)


def test_status_panel_counts_smart_paging_only_when_some_vm_pages():
    """A restart short of memory shows in the status panel as its own line
    (Smart Paging is neither Warning nor Low); a run without one has no such line."""
    host = dynmem.Host(physical_mb=8192, reserve_mb=0, smart_paging_drain_s=300)
    host.add_vm("web", startup_mb=4096, minimum_mb=1024, maximum_mb=8192, weight=3000)
    host.add_vm("db", startup_mb=2048, minimum_mb=1024, maximum_mb=8192, weight=8000)
    host.start_vms()
    demand = np.tile(np.array([800, 6000], dtype=np.int64), (300, 1))
    tl = host.run(demand, dt_s=1.0, events=[dynmem.Event(120, "web", "restart")])
    # Rows 120..163: at the 45th tick after the restart the guest reports and the file goes.
    assert (tl.status[:, 0] == dynmem.STATUS_NAMES.index("paging")).sum() == 44
    status = panel(plot_timeline(tl), "status")
    assert "Smart Paging (file in use)" in legend_texts(status)
    quiet = panel(plot_timeline(host.run(demand, dt_s=1.0)), "status")
    assert "Smart Paging (file in use)" not in legend_texts(quiet)
