"""What a person sees (issue 15): each command's plot, sizes and help on the
command line, the CSV and Parquet exports, timestamps, sizing from a trace,
scenario generators in seconds."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

import dynmem
from conftest import trace_dir
from dynmem import workloads
from dynmem._console import parse_size_mb
from dynmem.cli import _parser, main
from dynmem.export import write_csv, write_parquet
from dynmem.scenario import GENERATOR_TABLE, parse_scenario
from dynmem.traces import Trace, add_trace_vms, vm_sizes

TRACES = trace_dir()
needs_traces = pytest.mark.skipif(not TRACES.is_dir(), reason="shared Bitbrains traces not present")

OFFICE = """
name = "office"
duration_s = 36000
dt_s = 60
[host]
physical_mb = 16384
[[vm]]
name = "web"
startup_mb = 2048
maximum_mb = 8192
start_s = 0
workload = { kind = "diurnal", base_mb = 3000, amplitude_mb = 1500, period_s = 36000, noise_mb = 100, seed = 1 }
[[vm]]
name = "batch"
startup_mb = 2048
maximum_mb = 8192
weight = 2000
start_s = 7200
workload = { kind = "bursts", base_mb = 1500, burst_mb = 3000, rate_per_s = 0.0003, mean_length_s = 1800, seed = 3 }
[[vm]]
name = "reports"
startup_mb = 16384
maximum_mb = 16384
start_s = 21600
demand_mb = [[0, 4000]]
[[event]]
at_s = 18000
vm = "batch"
action = "configure"
changes = { weight = 6000 }
[[event]]
at_s = 28800
vm = "batch"
action = "stop"
"""


# --------------------------------------------------------------------------
# plots of each command
# --------------------------------------------------------------------------
@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures the CLI draws (it still writes the PNGs)."""
    pytest.importorskip("matplotlib")
    import dynmem.plot

    drawn: list = []
    real = dynmem.plot.plot_timeline

    def keep(*a, **kw):
        drawn.append(real(*a, **kw))
        return drawn[-1]

    monkeypatch.setattr(dynmem.plot, "plot_timeline", keep)
    return drawn


def _panels(fig) -> dict:
    return {ax.get_label(): ax for ax in fig.axes}


def _fills(ax) -> list:
    from matplotlib.collections import PolyCollection

    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_demo_and_run_plots(tmp_path: Path, figures: list, capsys) -> None:
    assert main(["demo", "--plot", str(tmp_path / "demo.png")]) == 0
    f = tmp_path / "office.toml"
    f.write_text(OFFICE)
    assert main(["run", str(f), "--plot", str(tmp_path / "run.png")]) == 0
    demo, run = figures
    assert list(_panels(demo)) == ["per VM", "host", "paging", "status", "available"]
    assert demo._suptitle.get_text().startswith("Hyper-V Dynamic Memory reference scenario\nhost 8.0 GB")
    assert len(_fills(_panels(demo)["host"])) == 4
    texts = [t.get_text() for t in run.axes[0].get_legend().get_texts()]
    for kind in ("start (2)", "reconfigure (1)", "stop (1)", "failed 1x (dotted)"):
        assert kind in texts
    for png in ("demo.png", "run.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


@needs_traces
def test_the_100_vm_replay_plot(tmp_path: Path, figures: list, capsys) -> None:
    out = tmp_path / "replay.png"
    assert main(["replay", str(TRACES), "--physical-mb", "256GB", "--tick-s", "3600", "--plot", str(out),
                 "--no-progress"]) == 0
    (fig,) = figures
    panels = _panels(fig)
    assert list(panels)[:3] == ["host", "paging", "status"]  # no wall of 100 lines
    host = panels["host"]
    assert host.get_ylabel() == "host memory (GB)" and fig.axes[-1].get_xlabel() == "time (UTC)"
    assert len(_fills(host)) == 6 and len(_fills(panels["paging"])) == 6  # top 5 by paging + others
    labels = [t.get_text() for t in host.get_legend().get_texts()]
    assert "others (95 VMs): assigned" in labels and "usable: physical − reserve" in labels
    assert "start (100)" in labels
    assert "host 256.0 GB − reserve 16.38 GB = 239.6 GB for VMs" in fig._suptitle.get_text()
    assert out.stat().st_size > 30_000


# --------------------------------------------------------------------------
# command line: sizes, help, record-every
# --------------------------------------------------------------------------
@pytest.mark.parametrize("text, mb", [("4096", 4096), ("512MB", 512), ("512MiB", 512), ("64GB", 65536),
                                       ("64 gib", 65536), ("1.5GB", 1536), ("1TB", 1048576), ("2g", 2048)])
def test_sizes(text: str, mb: int) -> None:
    assert parse_size_mb(text) == mb


@pytest.mark.parametrize("text", ["64XB", "GB", "", "0.1GB", "1e3"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size_mb(text)


def test_a_bad_size_on_the_command_line_is_one_clear_error(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["replay", "x", "--physical-mb", "64XB"])
    assert e.value.code == 2
    assert "invalid size '64XB'" in capsys.readouterr().err


def test_every_option_and_argument_has_help() -> None:
    parser = _parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sp in sub.choices.items():
        for action in sp._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    replay = sub.choices["replay"].format_help()
    assert "provisioned" in replay and "*.csv.gz" in replay and "64GB" in replay
    assert GENERATOR_TABLE.splitlines()[1] in sub.choices["run"].format_help()


@needs_traces
def test_replay_record_every_thins_the_outputs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.csv"
    assert main(["replay", str(TRACES), "--physical-mb", "64GB", "--vms", "3", "--record-every", "12", "--csv",
                 str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    ticks = sorted({int(r["tick"]) for r in rows})
    assert ticks[:3] == [0, 12, 24] and len(rows) == 3 * len(ticks)
    assert rows[0]["timestamp"].startswith("2013-") and rows[0]["timestamp"].endswith("Z")
    assert "one every 1 h" in capsys.readouterr().out


# --------------------------------------------------------------------------
# exports
# --------------------------------------------------------------------------
def _timeline(epoch: float | None = 1_375_308_000.0) -> dynmem.Timeline:
    h = dynmem.Host(6144, 512)
    for n in ("web, front", 'db "main"', "batch"):
        h.add_vm(n, startup_mb=1024, maximum_mb=4096)
    rng = np.random.default_rng(5)
    demand = rng.integers(300, 3000, (400, 3))
    events = [dynmem.Event(0, "web, front", "start"), dynmem.Event(0, 'db "main"', "start"),
              dynmem.Event(150, "batch", "start")]
    tl = h.run(demand, dt_s=0.5, events=events, record_every=3)
    return dataclasses.replace(tl, start_epoch_s=epoch)


@pytest.mark.parametrize("epoch", [None, 1_375_308_000.0])
@pytest.mark.parametrize("block_lines", [250_000, 7])  # one block; many, wider and wider (ticks 0..399)
def test_csv_is_the_long_table(tmp_path: Path, epoch, block_lines: int, monkeypatch) -> None:
    import dynmem.export

    monkeypatch.setattr(dynmem.export, "_BLOCK_LINES", block_lines)
    tl = _timeline(epoch)
    out = tmp_path / "t.csv"
    write_csv(tl, out)
    rows = list(csv.DictReader(out.open(newline="")))
    cols = tl.columns()
    assert len(rows) == tl.rows * 3
    assert ("timestamp" in rows[0]) == (epoch is not None)
    assert [r["vm"] for r in rows[:3]] == tl.names
    for k in ("tick", "demand_mb", "assigned_mb", "visible_mb", "target_mb", "paging_mb", "host_available_mb"):
        np.testing.assert_array_equal([int(r[k]) for r in rows], cols[k], err_msg=k)
    for k in ("pressure", "host_average_pressure"):
        np.testing.assert_allclose([float(r[k]) for r in rows], cols[k], atol=0.005 + 1e-9, err_msg=k)
    np.testing.assert_array_equal([float(r["time_s"]) for r in rows], cols["time_s"])
    assert [r["status"] for r in rows] == list(cols["status"])
    if epoch is not None:
        assert rows[0]["timestamp"] == "2013-07-31T22:00:00.500Z"  # the end of the first tick


def test_csv_of_values_host_run_never_records_is_written_line_by_line(tmp_path: Path) -> None:
    tl = _timeline()
    pressure = tl.pressure.copy()
    pressure[0, 0] = np.inf
    out = tmp_path / "odd.csv"
    write_csv(dataclasses.replace(tl, pressure=pressure), out)
    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == tl.rows * 3 and rows[0]["pressure"] == "inf" and rows[0]["vm"] == "web, front"
    assert rows[1]["timestamp"] == "2013-07-31T22:00:00.500Z" and rows[-1]["tick"] == str(int(tl.tick[-1]))


def test_parquet_round_trip(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    tl = _timeline()
    out = tmp_path / "t.parquet"
    write_parquet(tl, out)
    df = pl.read_parquet(out)
    assert df.shape == (tl.rows * 3, len(tl.columns()))
    assert str(df.schema["timestamp"]).startswith("Datetime") and df["timestamp"].dtype.time_zone == "UTC"
    assert df["vm"].to_list()[:3] == tl.names
    np.testing.assert_array_equal(df["host_available_mb"].to_numpy(), tl.columns()["host_available_mb"])


def test_parquet_without_an_engine_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    import dynmem.cli

    monkeypatch.setattr(dynmem.cli, "parquet_engine", lambda: None)
    with pytest.raises(SystemExit) as e:
        main(["demo", "--parquet", str(tmp_path / "x.parquet")])
    assert "polars or pyarrow" in str(e.value.code)


# --------------------------------------------------------------------------
# timestamps and sizing from a trace
# --------------------------------------------------------------------------
def _trace() -> Trace:
    demand = np.array([[300, 500], [400, 600], [350, 700]], dtype=np.int64)
    prov = np.array([[105, 2048], [105, 2048], [105, 2048]], dtype=np.int64)
    return Trace(names=["small", "big"], tick_s=300.0, start_s=1_375_308_000.0, demand_mb=demand, provisioned_mb=prov)


def test_sizing_from_a_trace_rounds_to_the_balloon_unit_and_logs_it(caplog) -> None:
    trace = _trace()
    host = dynmem.Host(8192)
    with caplog.at_level(logging.INFO, logger="dynmem.traces"):
        vms = add_trace_vms(host, trace, buffer_pct=25)
    assert [vm.maximum_mb for vm in vms] == [106, 2048] and [vm.buffer_pct for vm in vms] == [25, 25]
    assert [vm.startup_mb for vm in vms] == [106, 1024] and [vm.minimum_mb for vm in vms] == [106, 512]
    assert "small: 105 -> 106 MB" in caplog.text and "1 of 2 VMs" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dynmem.traces"):
        vm_sizes(dataclasses.replace(trace, provisioned_mb=np.full((3, 2), 2048)))
    assert caplog.text == ""


def test_a_trace_run_keeps_the_trace_start_and_frames_carry_timestamps() -> None:
    trace = _trace()
    host = dynmem.Host(8192)
    add_trace_vms(host, trace)
    host.start_vms()
    tl = host.run(trace)
    assert tl.start_epoch_s == trace.start_s and tl.dt_s == 300.0
    assert tl.timestamps[0] == np.datetime64(int((trace.start_s + 300) * 1000), "ms")
    assert tl.physical_mb == 8192 and tl.usable_mb == 8192 - host.reserve_mb and tl.policy == "Hyper-V defaults"
    pd = pytest.importorskip("pandas")
    df = tl.to_pandas()
    assert str(df["timestamp"].dt.tz) == "UTC" and df["timestamp"].iloc[0] == pd.Timestamp("2013-07-31 22:05", tz="UTC")
    assert {"host_available_mb", "host_average_pressure"} <= set(df.columns)
    tdf = trace.to_pandas()
    assert list(tdf.columns) == ["tick", "timestamp", "vm", "demand_mb", "provisioned_mb"]
    assert tdf["timestamp"].iloc[0] == pd.Timestamp("2013-07-31 22:00", tz="UTC") and len(tdf) == 6
    pl = pytest.importorskip("polars")
    assert trace.to_polars()["timestamp"].dtype.time_zone == "UTC"
    with pytest.raises(dynmem.ConfigError) as e:
        dynmem.Host(8192).run(trace)  # the host has none of its VMs
    assert e.value.field == "demand_mb"


# --------------------------------------------------------------------------
# scenario generators in seconds
# --------------------------------------------------------------------------
def _one_vm(workload: str, dt_s: float = 5.0) -> np.ndarray:
    doc = f"""
duration_s = 3600
dt_s = {dt_s}
[host]
physical_mb = 8192
[[vm]]
name = "a"
workload = {workload}
"""
    import tomllib

    return parse_scenario(tomllib.loads(doc)).demand_mb[:, 0]


def test_generator_parameters_are_in_seconds() -> None:
    ticks = 720
    np.testing.assert_array_equal(_one_vm('{ kind = "step", before_mb = 100, after_mb = 900, at_s = 300 }'),
                                  workloads.step(ticks, 100, 900, at_tick=60))
    np.testing.assert_array_equal(_one_vm('{ kind = "step", before_mb = 100, after_mb = 900, at_tick = 60 }'),
                                  workloads.step(ticks, 100, 900, at_tick=60))
    np.testing.assert_array_equal(
        _one_vm('{ kind = "diurnal", base_mb = 2000, amplitude_mb = 500, period_s = 1800, phase_s = -60 }'),
        workloads.diurnal(ticks, 2000, 500, period_ticks=360, phase_ticks=-12))
    np.testing.assert_array_equal(
        _one_vm('{ kind = "ramp", start_mb = 100, end_mb = 900, start_s = 60, end_s = 600 }'),
        workloads.ramp(ticks, 100, 900, start_tick=12, end_tick=120))
    np.testing.assert_array_equal(
        _one_vm('{ kind = "bursts", base_mb = 100, burst_mb = 900, rate_per_s = 0.002, mean_length_s = 50, seed = 4 }'),
        workloads.bursts(ticks, 100, 900, rate_per_tick=0.01, mean_length_ticks=10, seed=4))
    with pytest.raises(dynmem.ConfigError, match="at_s and at_tick say the same"):
        _one_vm('{ kind = "step", before_mb = 1, after_mb = 2, at_s = 300, at_tick = 60 }')
