"""dynmem.plot.plot_timeline."""

from __future__ import annotations

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


def top_lines(fig: Figure) -> list:
    return [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata())]


def test_writes_png(tmp_path: pathlib.Path):
    tl = run()
    out = tmp_path / "timeline.png"
    fig = plot_timeline(tl, out, title="three VMs")
    assert isinstance(fig, Figure)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000
    assert fig._suptitle is not None and fig._suptitle.get_text() == "three VMs"
    assert len(fig.axes) == 2


def test_str_path_and_no_path(tmp_path: pathlib.Path):
    tl = run(ticks=600)
    out = str(tmp_path / "x.png")
    plot_timeline(tl, out)
    assert pathlib.Path(out).read_bytes()[:8] == PNG_MAGIC
    fig = plot_timeline(tl)
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == [pathlib.Path(out)]


def test_line_mode_draws_assigned_and_demand_per_vm():
    tl = run(vms=3)
    fig = plot_timeline(tl)
    lines = top_lines(fig)
    assert len(lines) == 2 * 3
    off = dynmem.STATUS_NAMES.index("off")
    for j, name in enumerate(tl.names):
        assigned, demand = lines[2 * j], lines[2 * j + 1]
        assert assigned.get_label() == name
        assert assigned.get_color() == demand.get_color()
        assert assigned.get_linestyle() == "-" and demand.get_linestyle() == "--"
        np.testing.assert_allclose(assigned.get_xdata(), tl.time_s / 60.0)
        np.testing.assert_array_equal(assigned.get_ydata(), tl.assigned_mb[:, j])
        want = np.where(tl.status[:, j] == off, np.nan, tl.demand_mb[:, j])
        np.testing.assert_array_equal(demand.get_ydata(), want)
    # the late VM's demand is hidden while it is off, then drawn
    late = lines[-1].get_ydata()
    assert np.isnan(late[0]) and np.isfinite(late[-1])
    colours = {ln.get_color() for ln in lines}
    assert len(colours) == 3
    assert fig.axes[1].get_xlabel() == "time (min)"
    np.testing.assert_array_equal(fig.axes[1].get_lines()[0].get_ydata(), tl.available_mb)


def test_stacked_mode_above_max_lines():
    tl = run(vms=5, ticks=1200)
    fig = plot_timeline(tl, max_lines=4)
    top = fig.axes[0]
    stacks = [c for c in top.collections if isinstance(c, PolyCollection)]
    assert len(stacks) == 5
    lines = top_lines(fig)
    assert len(lines) == 1
    off = dynmem.STATUS_NAMES.index("off")
    total = np.where(tl.status != off, tl.demand_mb, 0).sum(axis=1)
    np.testing.assert_array_equal(lines[0].get_ydata(), total)
    # the top of the stack is the total assigned memory
    top_edge = stacks[-1].get_paths()[0].vertices[:, 1].max()
    assert top_edge == pytest.approx(tl.assigned_mb.sum(axis=1).max())

    same = plot_timeline(tl, max_lines=5)  # not more than max_lines: lines
    assert len(top_lines(same)) == 10


@pytest.mark.parametrize(
    "ticks, dt_s, label, scale",
    [(120, 1.0, "time (s)", 1.0), (3600, 1.0, "time (min)", 60.0), (600, 60.0, "time (h)", 3600.0)],
)
def test_time_units(ticks, dt_s, label, scale):
    tl = run(ticks=ticks, dt_s=dt_s, record_every=1)
    fig = plot_timeline(tl)
    assert fig.axes[1].get_xlabel() == label
    np.testing.assert_allclose(top_lines(fig)[0].get_xdata(), tl.time_s / scale)


def test_gigabytes_for_big_hosts():
    tl = run(vms=2, ticks=300, physical_mb=65536, late=False)
    fig = plot_timeline(tl)
    assert "GB" in fig.axes[1].get_ylabel()
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), tl.available_mb / 1024)
    small = plot_timeline(run(vms=2, ticks=300, late=False))
    assert "MB" in small.axes[1].get_ylabel()


def test_failed_events_marked():
    tl = run(ticks=600, record_every=10, fail=True)
    assert len(tl.failed_events) == 1
    fig = plot_timeline(tl)
    marks = [ln for ln in fig.axes[1].get_lines() if ln.get_label() == "failed event"]
    assert len(marks) == 1
    # the event is at tick 300, i.e. 300 s after the run began
    assert marks[0].get_xdata()[0] == pytest.approx(300 / 60.0)
    assert not [ln for ln in plot_timeline(run(ticks=600)).axes[1].get_lines() if ln.get_label() == "failed event"]


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
