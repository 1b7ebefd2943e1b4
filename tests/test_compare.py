"""`dynmem.compare` and `dynmem compare`: one workload under several policies.

The metrics are checked against a direct computation from a `Host.run`
timeline of the same workload (numpy on the raw arrays, not the Timeline
helpers `compare` uses), against figures worked out by hand for the
reference scenario, and across thread counts; the CSV, the DataFrames and
the plot's contents (axes, one bar and one line per policy, the lines' data)
are read back.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import dynmem
from conftest import trace_dir
from dynmem.cli import main
from dynmem.compare import (
    DEFAULT_POLICIES,
    Comparison,
    PolicyResult,
    compare,
    jain_index,
)
from dynmem._workload import _fitting_host_mb, scenario_workload
from dynmem.errors import ConfigError, ConfigTypeError
from dynmem.scenario import reference_scenario

REFERENCE = Path(dynmem.__file__).parent / "scenarios" / "reference.toml"
TRACES = trace_dir()
needs_traces = pytest.mark.skipif(not TRACES.is_dir(), reason="shared Bitbrains traces not found")
#: The built-in policies, in the default order.
AVAILABLE = list(dynmem.POLICIES)
#: A small slice of the traces: 6 VMs, hourly ticks (720 ticks).
SLICE = {"vms": 6, "tick_s": 3600.0}
OFF = dynmem.STATUS_NAMES.index("off")


def direct(host: dynmem.Host, tl: dynmem.Timeline) -> dict[str, float]:
    """The metrics of one run computed straight from its arrays and counters."""
    row_s = tl.dt_s * tl.record_every
    on = tl.status != OFF
    paging = np.where(on, np.maximum(tl.demand_mb - tl.assigned_mb, 0), 0)
    total = tl.assigned_mb.sum(axis=1)
    counters = [vm.counters for vm in host.vms]
    x = np.array([c["Average Pressure"] for c in counters])[on.any(axis=0)]
    return {
        "paging_gb_h": paging.sum() * row_s / 3600 / 1024,
        "warning_vm_h": (tl.status == dynmem.STATUS_NAMES.index("warning")).sum() * row_s / 3600,
        "low_vm_h": (tl.status == dynmem.STATUS_NAMES.index("low")).sum() * row_s / 3600,
        "mean_assigned_mb": total.mean(),
        "peak_assigned_mb": total.max(),
        "failed_starts": sum(1 for _, _, a, m in tl.events if a == "start" and m is not None),
        "add_operations": sum(c["Memory Add Operations"] for c in counters),
        "remove_operations": sum(c["Memory Remove Operations"] for c in counters),
        "fairness": x.sum() ** 2 / (len(x) * (x**2).sum()),
    }


def assert_matches(row: PolicyResult, want: dict[str, float]) -> None:
    for k, v in want.items():
        assert getattr(row, k) == pytest.approx(v, rel=1e-12, abs=1e-12), k


# --------------------------------------------------------------------------
# the reference scenario
# --------------------------------------------------------------------------


def test_hyperv_row_equals_a_direct_computation_from_host_run() -> None:
    c = compare(REFERENCE, policies=["hyperv"])
    s = reference_scenario()
    host = s.build()
    tl = host.run(s.demand_mb, s.dt_s, s.scheduled_events(), 1)
    assert_matches(c["hyperv"], direct(host, tl))
    assert c.timelines["hyperv"].record_every == 1
    np.testing.assert_array_equal(c.timelines["hyperv"].assigned_mb, tl.assigned_mb)


def test_reference_scenario_figures_worked_out_by_hand() -> None:
    """From 20 min Engineering's demand (3700 MB) makes the targets not fit:
    demands are served, buffers split by weight, so Finance and Engineering
    are Low (assigned < target) for 600 s. From 30 min (Support started)
    Finance holds 2 GB of its 2560 MB demand and Engineering 3.5 GB of its
    3700: both in Warning for the last 900 s, paging 512 + 116 = 628 MB.
    Nothing pages before: every demand fits until Support starts."""
    r = compare(REFERENCE, policies=["hyperv"])["hyperv"]
    assert r.paging_gb_h == pytest.approx(628 * 900 / 3600 / 1024)
    assert r.warning_vm_h == pytest.approx(2 * 900 / 3600)
    assert r.low_vm_h == pytest.approx(2 * 600 / 3600)
    assert r.peak_assigned_mb == 7680  # 7.5 GB of the 8 GB host
    assert r.failed_starts == 0
    assert 0.25 <= r.fairness <= 1.0


@pytest.mark.parametrize("policy", AVAILABLE)
def test_every_available_policy_equals_its_own_host_run(policy: str) -> None:
    """Each policy's row is the direct computation of a Host.run of the same
    workload under that policy (built with the scenario's mechanics)."""
    c = compare(REFERENCE, policies=[policy])
    work = scenario_workload(reference_scenario())
    host = work.build(dynmem.POLICIES[policy](**work.mechanics))
    tl = host.run(work.demand_mb, work.dt_s, work.events, 1)
    assert_matches(c[policy], direct(host, tl))


def test_default_policies_are_every_built_in_and_the_table_has_a_row_each() -> None:
    assert DEFAULT_POLICIES == ("hyperv", "static", "proportional", "shares", "strict")
    c = compare(REFERENCE, policies=AVAILABLE)
    assert c.policies == AVAILABLE
    lines = str(c).splitlines()
    assert lines[0].startswith("Hyper-V Dynamic Memory reference scenario: 4 VMs, 2700 ticks of 1 s")
    body = lines[4:]
    assert [ln.split()[0] for ln in body] == AVAILABLE
    assert "GB·h" in lines[3] and "VM·h" in lines[3]


def test_saved_memory_is_against_static_run_even_when_static_is_not_shown() -> None:
    both = compare(REFERENCE, policies=["hyperv", "static"])
    alone = compare(REFERENCE, policies=["hyperv"])
    st, hv = both["static"], both["hyperv"]
    assert st.saved_mb == 0.0 and st.saved_pct == 0.0
    assert hv.saved_mb == pytest.approx(st.mean_assigned_mb - hv.mean_assigned_mb)
    assert hv.saved_pct == pytest.approx(100 * hv.saved_mb / st.mean_assigned_mb)
    assert alone.policies == ["hyperv"] and alone["hyperv"] == hv


def test_own_policies_by_name_and_physical_memory_override() -> None:
    """A dict name → policy runs each as given; physical_mb replaces the host's."""
    slow = dynmem.HyperVPolicy(remove_delay_s=600.0)
    c = compare(REFERENCE, physical_mb=6144, policies={"default": dynmem.HyperVPolicy(), "slow": slow})
    assert c.policies == ["default", "slow"] and c.physical_mb == 6144
    # a smaller host: more paging than on 8 GB
    assert c["default"].paging_gb_h > compare(REFERENCE, policies=["hyperv"])["hyperv"].paging_gb_h
    # lazy removal 600 s later: memory stays assigned longer, fewer removals
    assert c["slow"].remove_operations <= c["default"].remove_operations


def test_results_do_not_depend_on_threads_or_progress() -> None:
    policies = {"a": dynmem.HyperVPolicy(), "b": dynmem.HyperVPolicy(hot_add_chunk_mb=256), "c": dynmem.HyperVPolicy()}
    one = compare(REFERENCE, policies=policies, max_threads=1)
    calls: list[tuple[int, int]] = []
    many = compare(REFERENCE, policies=policies, max_threads=3, progress=lambda d, t: calls.append((d, t)))
    assert one.rows == many.rows
    assert one.rows[0] == dataclass_replace_policy(one.rows[2], "a")
    # three runs and the hidden static baseline's
    assert calls and calls[-1] == (4 * 2700, 4 * 2700)
    assert all(t == 4 * 2700 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def dataclass_replace_policy(row: PolicyResult, name: str) -> PolicyResult:
    import dataclasses

    return dataclasses.replace(row, policy=name)


def test_an_error_in_one_run_is_raised_and_stops_the_others() -> None:
    def boom(done: int, total: int) -> None:
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        compare(REFERENCE, policies={"a": dynmem.HyperVPolicy(), "b": dynmem.HyperVPolicy()}, progress=boom)


@pytest.mark.parametrize(
    "kwargs, cls, field",
    [
        ({"policies": ["hyperv", "xen"]}, ConfigError, "policies[1]"),
        ({"policies": ["hyperv", "hyperv"]}, ConfigError, "policies[1]"),
        ({"policies": []}, ConfigError, "policies"),
        ({"policies": "hyperv"}, ConfigTypeError, "policies"),
        ({"policies": [3]}, ConfigTypeError, "policies[0]"),
        ({"record_every": 0}, ConfigError, "record_every"),
        ({"max_threads": 0}, ConfigError, "max_threads"),
        ({"progress": 3}, ConfigTypeError, "progress"),
        ({"trace_options": {"vms": 3}}, ConfigError, "trace_options"),
        ({"physical_mb": 100}, ConfigError, None),
    ],
)
def test_bad_arguments_are_typed_errors(kwargs: dict, cls: type, field: str | None) -> None:
    with pytest.raises(cls) as e:
        compare(REFERENCE, **kwargs)
    if field is not None:
        assert e.value.field == field


def test_bad_workload_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="workload"):
        compare(42)  # type: ignore[arg-type]


def test_jain_index() -> None:
    assert jain_index([3.0, 3.0, 3.0]) == 1.0
    assert jain_index([0.0, 0.0]) == 1.0
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == pytest.approx(0.25)
    assert jain_index([1.0, 2.0]) == pytest.approx(9 / 10)
    assert math.isnan(jain_index([]))


# --------------------------------------------------------------------------
# outputs: CSV, DataFrames, the plot
# --------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_has_one_row_per_policy_with_every_field(tmp_path: Path) -> None:
    c = compare(REFERENCE, policies=AVAILABLE)
    out = tmp_path / "c.csv"
    c.write_csv(out)
    rows = read_csv(out)
    assert [r["policy"] for r in rows] == AVAILABLE
    assert list(rows[0]) == [f for f in PolicyResult.__dataclass_fields__]
    for r, want in zip(rows, c.rows):
        assert float(r["paging_gb_h"]) == pytest.approx(want.paging_gb_h, rel=1e-5)
        assert int(r["peak_assigned_mb"]) == want.peak_assigned_mb
        assert int(r["remove_operations"]) == want.remove_operations


def test_dataframes_have_one_row_per_policy() -> None:
    c = compare(REFERENCE, policies=["hyperv"])
    cols = list(PolicyResult.__dataclass_fields__)
    pd = pytest.importorskip("pandas")
    df = c.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == cols and len(df) == 1
    assert df.loc[0, "paging_gb_h"] == c["hyperv"].paging_gb_h
    pl = pytest.importorskip("polars")
    dp = c.to_polars()
    assert isinstance(dp, pl.DataFrame) and dp.columns == cols and dp.height == 1


def test_plot_shows_each_policy_as_a_bar_and_a_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    policies = {"hyperv": dynmem.HyperVPolicy(), "small-chunks": dynmem.HyperVPolicy(hot_add_chunk_mb=2)}
    c = compare(REFERENCE, physical_mb=6144, policies=policies)
    out = tmp_path / "c.png"
    fig = c.plot(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    paging_ax, status_ax, time_ax = fig.axes
    assert paging_ax.get_ylabel() == "GB·h" and status_ax.get_ylabel() == "VM·h"
    assert [t.get_text() for t in paging_ax.get_xticklabels()] == list(policies)
    assert [p.get_height() for p in paging_ax.patches] == pytest.approx([r.paging_gb_h for r in c.rows])
    # status: one Warning bar and one Low bar on top of it per policy
    heights = [p.get_height() for p in status_ax.patches]
    assert heights == pytest.approx([r.warning_vm_h for r in c.rows] + [r.low_vm_h for r in c.rows])
    assert time_ax.get_xlabel() == "time (min)" and time_ax.get_ylabel() == "paging (MB)"
    lines = time_ax.get_lines()
    assert [ln.get_label() for ln in lines] == list(policies)
    for ln, name in zip(lines, policies):
        # steps (means over spans of rows) from their start, the last value repeated at the
        # end (where="post"): the area is the policy's paging (MB·min here)
        xs, ys = np.asarray(ln.get_xdata(), dtype=float), np.asarray(ln.get_ydata(), dtype=float)
        assert len(xs) == len(ys) >= 2
        area = (np.diff(xs) * ys[:-1]).sum() / 60  # MB·h
        assert area == pytest.approx(c[name].paging_gb_h * 1024, rel=1e-9)
    from matplotlib.colors import to_rgba

    assert [to_rgba(ln.get_color()) for ln in lines] == [p.get_facecolor() for p in paging_ax.patches]


def test_long_runs_are_drawn_as_means_that_keep_the_integral() -> None:
    """2700 rows drawn as at most MAX_STEPS means over equal spans, named in
    the panel's title; the area under each line is still the policy's paging."""
    pytest.importorskip("matplotlib")
    from dynmem.compare import MAX_STEPS

    c = compare(REFERENCE, policies=["hyperv"])
    time_ax = c.plot().axes[2]
    (ln,) = time_ax.get_lines()
    xs, ys = np.asarray(ln.get_xdata(), dtype=float), np.asarray(ln.get_ydata(), dtype=float)
    assert len(xs) - 1 <= MAX_STEPS < c.timelines["hyperv"].rows
    assert "mean over each" in time_ax.get_title()
    area = (np.diff(xs) * ys[:-1]).sum() / 60  # x in minutes, y in MB
    assert area == pytest.approx(c["hyperv"].paging_gb_h * 1024)


# --------------------------------------------------------------------------
# the shared Bitbrains traces
# --------------------------------------------------------------------------


@needs_traces
def test_trace_slice_equals_a_direct_computation() -> None:
    c = compare(TRACES, policies=["hyperv"], trace_options=SLICE)
    from dynmem._workload import trace_workload

    work = trace_workload(TRACES, None, **SLICE)
    assert c.vms == 6 and c.ticks == work.ticks and c.dt_s == 3600.0
    assert c.physical_mb == work.physical_mb == _fitting_host_mb(sum(v["startup_mb"] for v in work.vms), None)
    host = work.build()
    tl = host.run(work.demand_mb, work.dt_s, work.events, 1)
    assert_matches(c["hyperv"], direct(host, tl))
    assert c["hyperv"].paging_gb_h > 0  # a host just big enough for the startups pages


def test_fitting_host_is_the_smallest_whole_gb_host() -> None:
    for startup in (1024, 6 * 1024, 100 * 1024 + 2):
        p = _fitting_host_mb(startup, None)
        assert p % 1024 == 0
        assert p - dynmem.Host(physical_mb=p).reserve_mb >= startup
        assert p == 1024 or (p - 1024) - dynmem.Host(physical_mb=p - 1024).reserve_mb < startup
    assert _fitting_host_mb(3000, 1000) == 4096


# --------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------


def test_cli_compare_reference_csv_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv, out_png = tmp_path / "c.csv", tmp_path / "c.png"
    argv = ["compare", str(REFERENCE), "--policies", ",".join(AVAILABLE), "--csv", str(out_csv)]
    if _has_matplotlib():
        argv += ["--plot", str(out_png)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "reference scenario" in out and f"wrote {out_csv}" in out
    assert [r["policy"] for r in read_csv(out_csv)] == AVAILABLE
    want = compare(REFERENCE, policies=AVAILABLE)
    assert want.table() in out
    if _has_matplotlib():
        assert out_png.stat().st_size > 10_000


@needs_traces
def test_cli_compare_trace_slice(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(TRACES), "--vms", "6", "--tick-s", "3600", "--physical-mb", "8192", "--policies", "hyperv"]) == 0
    out = capsys.readouterr().out
    assert "6 VMs, 719 ticks of 3600 s" in out and "host 8192 MB" in out
    row = [ln for ln in out.splitlines() if ln.startswith("hyperv")]
    assert len(row) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--policies", "hyperv,xen"], "policies[1] must be one of hyperv, static"),
        (["--vms", "3"], "--vms apply to a trace directory only"),
        (["--physical-mb", "100", "--policies", "hyperv"], "reference.toml: reserve_mb must be at least 0 and below physical_mb (100)"),
    ],
)
def test_cli_compare_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(REFERENCE), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynmem: error: ") and message in err and err.count("\n") == 1


@needs_traces
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--vms", "0"], "--vms must be a positive count, got 0"),
        (["--tick-s", "-1"], "--tick-s must be a finite number > 0"),
        (["--physical-mb", "100"], "--physical-mb must exceed the default reserve"),
    ],
)
def test_cli_compare_trace_errors_name_the_flags(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(TRACES), "--policies", "hyperv", "--no-progress", *argv]) == 2
    # the loader may log what it rounded first (as replay does); the error is the last line
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("dynmem: error: ") and message in last


def test_cli_compare_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read scenario file" in capsys.readouterr().err


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_comparison_is_exported() -> None:
    assert dynmem.compare is compare and dynmem.Comparison is Comparison and dynmem.PolicyResult is PolicyResult


SMALL = """
name = "two run, one never starts, one start fails"
duration_s = 600
dt_s = 1.0

[host]
physical_mb = 3072
reserve_mb = 512

[[vm]]
name = "a"
startup_mb = 1024
weight = 8000
start_s = 0
demand_mb = [[0, 900], [100, 2000]]

[[vm]]
name = "b"
startup_mb = 1024
start_s = 0
demand_mb = [[0, 300]]

[[vm]]
name = "never"
startup_mb = 512
demand_mb = [[0, 0]]

[[vm]]
name = "fails"
startup_mb = 1024
minimum_mb = 1024
weight = 100
start_s = 300
demand_mb = [[0, 500]]
"""


def test_failed_starts_and_fairness_over_the_vms_that_ran(tmp_path: Path) -> None:
    """`fails` finds no memory (pool 2560 MB: a and b hold ≥ 512 each but a
    start only balloons VMs of weight ≤ its own, 100); `never` never
    starts: neither is in Jain's index, which is that of a's and b's
    Average Pressure counters."""
    path = tmp_path / "s.toml"
    path.write_text(SMALL)
    c = compare(path, policies=["hyperv"])
    r = c["hyperv"]
    assert r.failed_starts == 1
    tl = c.timelines["hyperv"]
    assert [e[1] for e in tl.failed_events] == ["fails"]
    work = scenario_workload(dynmem.scenario.load_scenario(path))
    host = work.build()
    host.run(work.demand_mb, work.dt_s, work.events, 1)
    x = [host.vm(n).counters["Average Pressure"] for n in ("a", "b")]
    assert r.fairness == pytest.approx(jain_index(x))
    assert r.fairness != pytest.approx(jain_index(x + [0.0, 0.0]))


def test_readme_shows_the_real_table() -> None:
    """The README's `dynmem compare` block is what the command prints."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\$ dynmem compare python/dynmem/scenarios/reference.toml\n(.*?)```", readme, re.S)
    assert block, "README must show dynmem compare on the reference scenario"
    shown = block.group(1).rstrip("\n")
    assert shown == str(compare(REFERENCE))


class _Targets(dynmem.Policy):
    """A user policy: every VM its target when they all fit, else its minimum."""

    def allocate(self, pool_mb, vms):  # type: ignore[no-untyped-def]
        return vms.target_mb if vms.target_mb.sum() <= pool_mb else vms.minimum_mb


class _Broken(dynmem.Policy):
    def allocate(self, pool_mb, vms):  # type: ignore[no-untyped-def]
        if vms.time_s >= 600:
            raise ValueError("broken at 10 min")
        return vms.minimum_mb


def test_a_user_policy_runs_beside_the_built_ins() -> None:
    """A Python policy (GIL held in allocate) in the parallel runs gives the
    same row as its own Host.run."""
    c = compare(REFERENCE, policies={"hyperv": dynmem.HyperVPolicy(), "targets": _Targets()}, max_threads=2)
    work = scenario_workload(reference_scenario())
    host = work.build(_Targets())
    tl = host.run(work.demand_mb, work.dt_s, work.events, 1)
    assert_matches(c["targets"], direct(host, tl))
    assert c["targets"].paging_gb_h > c["hyperv"].paging_gb_h  # minimum for everyone once targets stop fitting


def test_a_failing_user_policy_is_raised_as_policy_error() -> None:
    with pytest.raises(dynmem.PolicyError) as e:
        compare(REFERENCE, policies={"hyperv": dynmem.HyperVPolicy(), "broken": _Broken()})
    assert isinstance(e.value.__cause__, ValueError)


@needs_traces
def test_trace_workload_builds_the_replay_sizes_in_one_call() -> None:
    """A trace's VMs (same settings each) are added in one bulk call, with the
    sizes `vm_sizes` gives and replay's buffer; every start at tick 0."""
    from dynmem._workload import trace_workload
    from dynmem.traces import DemandMapping, load_bitbrains, vm_sizes

    work = trace_workload(TRACES, None, buffer_pct=30, **SLICE)
    host = work.build()
    trace = load_bitbrains(TRACES, tick_s=3600.0, vms=6, mapping=DemandMapping(), on_long_gap="hold")
    want = vm_sizes(trace)
    got = [{"startup_mb": v.startup_mb, "minimum_mb": v.minimum_mb, "maximum_mb": v.maximum_mb} for v in host.vms]
    assert got == want and [v.name for v in host.vms] == trace.names
    assert {v.buffer_pct for v in host.vms} == {30}
    assert [(e.tick, e.action) for e in work.events] == [(0, "start")] * 6
