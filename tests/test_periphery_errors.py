"""Issue 10 outside the host: workloads, scenarios, traces and timelines give
valid integer MB or a typed `DynmemError` naming the field and the value,
never INT64_MIN entries, an untyped exception or a process killed for memory;
wrong types are `ConfigTypeError`."""

from __future__ import annotations

import gzip
import math
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dynmem
from dynmem import ConfigError, ConfigTypeError, DynmemError
from dynmem import workloads as w
from dynmem.scenario import parse_scenario
from dynmem.traces import DemandMapping, load_bitbrains
from test_cli import SCENARIO
from test_traces import HEADER, T0, row, write

INT64_MIN = np.iinfo(np.int64).min


def assert_valid_mb(arr: Any) -> None:
    assert arr.dtype == np.int64
    assert arr.size == 0 or (arr.min() >= 0 and arr.max() <= w.MAX_DEMAND_MB), (arr.min(), arr.max())


def raises(cls: type[Exception], field: str, value: Any, call: Any, *, named: str | None = None) -> DynmemError:
    """``call()`` raises ``cls`` with ``field`` and ``value``, its message
    naming the field (or ``named``, e.g. the file at fault)."""
    with pytest.raises(cls) as info:
        call()
    e = info.value
    assert isinstance(e, DynmemError), type(e)
    assert e.field == field, (e.field, str(e))
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(e.value)
    else:
        assert e.value == value, (e.value, value)
    assert (named or field.split(".")[-1].split("[")[0]) in str(e), str(e)
    return e


# --------------------------------------------------------------------------
# defect 4: corrupt output
# --------------------------------------------------------------------------


def test_diurnal_subnormal_period_is_an_error_not_int64_min() -> None:
    e = raises(ConfigError, "period_ticks", 5e-324, lambda: w.diurnal(5, 5, 100, period_ticks=5e-324))
    assert "5e-324" in str(e) and not isinstance(e, ConfigTypeError)


def test_diurnal_huge_phase_is_reduced_modulo_the_period() -> None:
    out = w.diurnal(50, 500, 100, period_ticks=10, phase_ticks=1e308)
    assert_valid_mb(out)
    np.testing.assert_array_equal(out, w.diurnal(50, 500, 100, period_ticks=10, phase_ticks=math.fmod(1e308, 10)))
    assert_valid_mb(w.diurnal(50, 500, 100, period_ticks=1e-300 * 1e10, phase_ticks=-1e308))


def test_bitbrains_size_beyond_the_demand_limit_is_malformed(tmp_path: Path) -> None:
    big_mb = 1e30 / 1024
    p = write(tmp_path, "big", [(0, big_mb, 1000), (300, big_mb, 1000), (600, big_mb, 1000)])
    e = raises(ConfigError, "path_or_dir", f"{p}:2", lambda: load_bitbrains(p, mapping=DemandMapping(baseline_pct=0)),
               named="big.csv:2")
    assert "1e+30" in str(e)
    q = write(tmp_path, "mixed", [(0, 4096, 1000), (300, big_mb, 1000), (600, 4096, 1000)])
    tr = load_bitbrains(q, on_malformed="skip", mapping=DemandMapping(baseline_pct=0))
    assert tr.provisioned_mb.tolist() == [[4096], [4096]]
    assert any("skipped 1 malformed" in r for r in tr.repairs)


def test_bitbrains_mapping_overflowing_to_nan_is_an_error(tmp_path: Path) -> None:
    # a floor of 1e308 MB overflows the "mean" integral to inf - inf = NaN
    p = write(tmp_path, "m", [(0, 4096, 1000), (300, 4096, 1000), (600, 4096, 1000)])
    mapping = DemandMapping(baseline_mb=1e308, cap_pct=None)
    raises(ConfigError, "mapping", mapping, lambda: load_bitbrains(p, mapping=mapping, resample="mean"))


def test_bitbrains_timestamps_beyond_2_pow_53_are_malformed(tmp_path: Path) -> None:
    p = write(tmp_path, "t", lines=[row(-1e308, 4096, 1000), row(1e308, 4096, 1000)])
    raises(ConfigError, "path_or_dir", f"{p}:2", lambda: load_bitbrains(p, resample="mean", on_long_gap="hold"),
           named="t.csv:2")


# --------------------------------------------------------------------------
# defect 7: untyped errors
# --------------------------------------------------------------------------


def scenario(old: str, new: str) -> Any:
    assert old in SCENARIO
    return lambda: parse_scenario(tomllib.loads(SCENARIO.replace(old, new, 1)), "s.toml")


def test_scenario_event_that_is_not_an_array() -> None:
    raises(ConfigTypeError, "event", 5, scenario('name = "two"', 'name = "two"\nevent = 5'))


@pytest.mark.parametrize("dt", ["1e-300", "5e-324"])
def test_scenario_ticks_overflowing(dt: str) -> None:
    raises(ConfigError, "duration_s", 600.0, scenario("dt_s = 1.0", f"dt_s = {dt}"))


def test_scenario_huge_duration_is_refused_before_allocating() -> None:
    raises(ConfigError, "duration_s", 1e15, scenario("duration_s = 600", "duration_s = 1e15"))


def test_scenario_huge_times_with_a_fractional_tick() -> None:
    half = "dt_s = 0.5"
    doc = tomllib.loads(SCENARIO.replace("dt_s = 1.0", half).replace("start_s = 0", "start_s = 1e308"))
    raises(ConfigError, "vm[0].start_s", 1e308, lambda: parse_scenario(doc, "s.toml"))
    doc = tomllib.loads(SCENARIO.replace("dt_s = 1.0", half).replace("[100, 3000]", "[1e308, 3000]"))
    sc = parse_scenario(doc, "s.toml")  # a step after the end of the run never happens
    assert sc.demand_mb[:, 0].tolist() == [500] * sc.ticks


def test_scenario_keeps_a_workloads_type_error() -> None:
    e = raises(ConfigTypeError, "demand_mb", "x", scenario("demand_mb = 2000 }", 'demand_mb = "x" }'))
    assert str(e).startswith("s.toml: vm[1].workload: ")


@pytest.mark.parametrize(
    "old, new, field, value",
    [
        ("duration_s = 600", 'duration_s = "600"', "duration_s", "600"),
        ("dt_s = 1.0", "dt_s = true", "dt_s", True),
        ("record_every = 10", "record_every = 2.5", "record_every", 2.5),
        ('demand_mb = [[0, 500], [100, 3000]]', 'demand_mb = "500"', "vm[0].demand_mb", "500"),
        ('demand_mb = [[0, 500], [100, 3000]]', 'demand_mb = [5]', "vm[0].demand_mb[0]", 5),
        ('demand_mb = [[0, 500], [100, 3000]]', 'demand_mb = [[0, 1.5]]', "vm[0].demand_mb[0]", [0, 1.5]),
        ('report_at_s = [0, 300]', 'report_at_s = 0', "report_at_s", 0),
        ('report_at_s = [0, 300]', 'report_at_s = ["0"]', "report_at_s[0]", "0"),
    ],
)
def test_scenario_wrong_types_are_type_errors(old: str, new: str, field: str, value: Any) -> None:
    raises(ConfigTypeError, field, value, scenario(old, new))


@pytest.mark.parametrize("key, value", [("host", 5), ("policy", 1), ("vm", {"name": "a"})])
def test_scenario_tables_of_the_wrong_type(key: str, value: Any) -> None:
    doc = tomllib.loads(SCENARIO)
    doc[key] = value
    raises(ConfigTypeError, key, value, lambda: parse_scenario(doc, "s.toml"))


def test_scenario_wrong_values_stay_value_errors() -> None:
    e = raises(ConfigError, "duration_s", -5, scenario("duration_s = 600", "duration_s = -5"))
    assert not isinstance(e, ConfigTypeError)
    doc = tomllib.loads(SCENARIO)
    doc["vm"] = []
    e = raises(ConfigError, "vm", [], lambda: parse_scenario(doc, "s.toml"))
    assert not isinstance(e, ConfigTypeError)


def test_corrupt_gzip_body_is_a_config_error(tmp_path: Path) -> None:
    raw = bytearray(gzip.compress(("\n".join([HEADER, row(T0, 4096, 1000)]) + "\n").encode()))
    raw[20] ^= 0xFF  # inside the deflate stream: zlib.error before the CRC is read
    p = tmp_path / "z.csv.gz"
    p.write_bytes(bytes(raw))
    e = raises(ConfigError, "path_or_dir", str(p), lambda: load_bitbrains(p), named="z.csv.gz")
    assert "not a valid gzip file" in str(e)


def trace_file(tmp_path: Path) -> Path:
    return write(tmp_path, "g", [(300 * i, 4096, 1000) for i in range(5)])


def test_bitbrains_tiny_tick(tmp_path: Path) -> None:
    raises(ConfigError, "tick_s", 1e-300, lambda: load_bitbrains(trace_file(tmp_path), tick_s=1e-300))


def test_bitbrains_infinite_window(tmp_path: Path) -> None:
    p = trace_file(tmp_path)
    raises(ConfigError, "tick_s", 300.0,
           lambda: load_bitbrains(p, tick_s=300.0, start_s=-1e308, end_s=1e308, on_long_gap="hold"))


def test_bitbrains_window_beyond_memory_is_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynmem._validate, "available_bytes", lambda: 2**30)
    p = trace_file(tmp_path)
    with pytest.raises(MemoryError, match=r"needs .* GiB .*more than the 1.0 GiB of memory available"):
        load_bitbrains(p, tick_s=1.0, start_s=T0, end_s=T0 + 1e9, on_long_gap="hold")


def test_bitbrains_unicode_digit_in_a_file_name(tmp_path: Path) -> None:
    write(tmp_path, "1\u00b2", [(300 * i, 4096, 1000) for i in range(3)])
    write(tmp_path, "2", [(300 * i, 4096, 1000) for i in range(3)])
    assert load_bitbrains(tmp_path).names == ["1\u00b2", "2"]


def test_bursts_with_an_enormous_mean_length() -> None:
    for mean in (1e300, np.float64(1e300), 1e18):
        out = w.bursts(100, 5, 100, 0.5, mean, 1)
        assert_valid_mb(out)
        first = int(np.argmax(out == 105))
        assert (out[first:] == 105).all() and (out[:first] == 5).all()


def timelines() -> tuple[dynmem.Timeline, dynmem.Timeline]:
    h = dynmem.Host(8192, reserve_mb=512)
    h.add_vm("a", startup_mb=1024).start()
    t1 = h.run(np.full((3, 1), 100))
    h.add_vm("b", startup_mb=1024)
    return t1, h.run(np.full((3, 2), 100))


def test_timeline_concat_of_mismatched_parts() -> None:
    t1, t2 = timelines()
    assert dynmem.Timeline.concat(iter([t1, t2])).names == ["a", "b"]
    raises(ConfigTypeError, "parts[1]", 5, lambda: dynmem.Timeline.concat([t1, 5]))
    raises(ConfigTypeError, "parts", None, lambda: dynmem.Timeline.concat(None))
    e = raises(ConfigTypeError, "parts", t1, lambda: dynmem.Timeline.concat(t1))
    assert "one Timeline (3 rows)" in str(e)
    raises(ConfigError, "parts[1].dt_s", 2.0, lambda: dynmem.Timeline.concat([t1, replace(t2, dt_s=2.0)]))
    raises(ConfigError, "parts[1].record_every", 2, lambda: dynmem.Timeline.concat([t1, replace(t2, record_every=2)]))
    raises(ConfigError, "parts[1].names", ["a", "a"], lambda: dynmem.Timeline.concat([t1, replace(t2, names=["a", "a"])]))
    raises(ConfigError, "parts[1].demand_mb", (3, 2), lambda: dynmem.Timeline.concat([t1, replace(t2, names=["a"])]))


# --------------------------------------------------------------------------
# wrong types are ConfigTypeError (README), not plain ConfigError
# --------------------------------------------------------------------------


def test_decimate_wrong_type() -> None:
    raises(ConfigTypeError, "every", 1.5, lambda: timelines()[0].decimate(1.5))


def test_max_gap_s_wrong_type(tmp_path: Path) -> None:
    raises(ConfigTypeError, "max_gap_s", "x", lambda: load_bitbrains(trace_file(tmp_path), max_gap_s="x"))


def test_plot_max_lines_wrong_type() -> None:
    pytest.importorskip("matplotlib")
    from dynmem.plot import plot_timeline

    raises(ConfigTypeError, "max_lines", 2.5, lambda: plot_timeline(timelines()[0], max_lines=2.5))


@pytest.mark.parametrize("kwargs, field, value", [(dict(dt_s="1"), "dt_s", "1"), (dict(record_every=1.5), "record_every", 1.5)])
def test_simpy_wrong_types(kwargs: dict[str, Any], field: str, value: Any) -> None:
    simpy = pytest.importorskip("simpy")
    from dynmem.simpy import HostProcess

    raises(ConfigTypeError, field, value, lambda: HostProcess(simpy.Environment(), dynmem.Host(8192), **kwargs))


# --------------------------------------------------------------------------
# the CLI: one error line and exit 2, never a traceback; outputs checked first
# --------------------------------------------------------------------------


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from dynmem.cli import main

    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error_line(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("dynmem: error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)


def trace_dir(tmp_path: Path) -> Path:
    d = tmp_path / "traces"
    d.mkdir()
    for name in ("1", "2"):
        write(d, name, [(300 * i, 4096, 1000) for i in range(12)])
    return d


def scenario_file(tmp_path: Path, old: str = "", new: str = "") -> Path:
    f = tmp_path / "s.toml"
    f.write_text(SCENARIO.replace(old, new, 1))
    return f


@pytest.mark.parametrize(
    "old, new, needle",
    [
        ('name = "two"', 'name = "two"\nevent = 5', "event must be an array of tables"),
        ("dt_s = 1.0", "dt_s = 1e-300", "duration_s must be at most"),
        ("duration_s = 600", "duration_s = 1e15", "duration_s must be at most"),
        ("demand_mb = 2000 }", 'demand_mb = 2000, mean_length_ticks = 1e300 }', "has bad parameters"),
    ],
)
def test_cli_bad_scenarios_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, needle: str
) -> None:
    assert_one_error_line(*cli(["run", str(scenario_file(tmp_path, old, new))], capsys)[::2], needle)


def test_cli_bad_traces_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = trace_dir(tmp_path)
    rc, _, err = cli(["replay", str(d), "--physical-mb", "65536", "--tick-s", "1e-300", "--no-progress"], capsys)
    assert_one_error_line(rc, err, "--tick-s must give at most")
    raw = bytearray(gzip.compress(("\n".join([HEADER, row(T0, 4096, 1000)]) + "\n").encode()))
    raw[20] ^= 0xFF
    (d / "3.csv.gz").write_bytes(bytes(raw))
    rc, _, err = cli(["replay", str(d), "--physical-mb", "65536", "--no-progress"], capsys)
    assert_one_error_line(rc, err, "3.csv.gz: not a valid gzip file")


def test_cli_replay_messages_name_the_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = cli(["replay", str(trace_dir(tmp_path)), "--physical-mb", "100"], capsys)
    assert_one_error_line(rc, err, "--physical-mb must exceed the default reserve", "pass --reserve-mb")
    assert "reserve_mb" not in err and "physical_mb" not in err
    rc, _, err = cli(["replay", str(tmp_path / "none"), "--physical-mb", "65536"], capsys)
    assert_one_error_line(rc, err, "TRACE_DIR ", "is neither a file nor a directory")


@pytest.mark.parametrize("command", ["run", "replay"])
def test_cli_unwritable_output_is_refused_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    def no_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the run started before the output was checked")

    monkeypatch.setattr(dynmem.Host, "run", no_run)
    where = [str(scenario_file(tmp_path))] if command == "run" else [str(trace_dir(tmp_path)), "--physical-mb", "65536"]
    for flag, path in (("--csv", tmp_path / "no" / "such" / "dir.csv"), ("--csv", tmp_path), ("--plot", tmp_path / "no" / "p.png")):
        if flag == "--plot":
            pytest.importorskip("matplotlib")
        rc, out, err = cli([command, *where, flag, str(path), "--no-progress"], capsys)
        assert_one_error_line(rc, err, f"{flag} must be a file that can be written, got {str(path)!r}")
        assert out == ""
    ok = tmp_path / "ok.csv"
    monkeypatch.undo()
    assert cli([command, *where, "--csv", str(ok), "--no-progress"], capsys)[0] == 0
    assert ok.stat().st_size > 0


def test_cli_report_time_not_recorded_is_refused_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = scenario_file(tmp_path, "report_at_s = [0, 300]", "report_at_s = [0, 305]")
    rc, out, err = cli(["run", str(f)], capsys)
    assert_one_error_line(rc, err, "report_at_s[1] must be the time of a recorded tick", "got 305")
    assert out == ""
    f = scenario_file(tmp_path, "report_at_s = [0, 300]", "report_at_s = [1e308]\ndt_s = 0.5")
    f.write_text(f.read_text().replace("dt_s = 1.0\n", ""))
    assert_one_error_line(*cli(["run", str(f)], capsys)[::2], "report_at_s[0]")


def test_cli_console_script_prints_no_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = scenario_file(tmp_path, 'name = "two"', 'name = "two"\nevent = 5')
    r = subprocess.run([sys.executable, "-m", "dynmem.cli", "run", str(f)], capture_output=True, text=True, timeout=60)
    assert_one_error_line(r.returncode, r.stderr, "event must be an array of tables")


def test_ints_beyond_the_floats_are_value_errors(tmp_path: Path) -> None:
    # found by the fuzz: float(10**400) raised OverflowError inside check_real
    e = raises(ConfigError, "tick_s", 10**400, lambda: load_bitbrains(trace_file(tmp_path), tick_s=10**400))
    assert not isinstance(e, ConfigTypeError)
    raises(ConfigError, "scale", -(10**400), lambda: DemandMapping(scale=-(10**400)))
    raises(ConfigError, "period_ticks", 10**400, lambda: w.diurnal(5, 5, 5, period_ticks=10**400))
    p = tmp_path / "gap"
    p.mkdir()
    assert load_bitbrains(trace_file(p), max_gap_s=10**400).ticks == 4  # no limit, like math.inf


@pytest.mark.parametrize("key, value", [("vm", []), ("vm", {}), ("action", ["start"]), ("vm", None)])
def test_scenario_event_names_of_the_wrong_type(key: str, value: Any) -> None:
    # found by the fuzz: `vm = []` in an [[event]] raised TypeError (unhashable list)
    doc = tomllib.loads(SCENARIO + '[[event]]\nat_s = 5\nvm = "a"\naction = "stop"\n')
    doc["event"][0][key] = value
    raises(ConfigTypeError, f"event[0].{key}", value, lambda: parse_scenario(doc, "s.toml"))
    doc["event"][0][key] = "nope"
    e = raises(ConfigError, f"event[0].{key}", "nope", lambda: parse_scenario(doc, "s.toml"))
    assert not isinstance(e, ConfigTypeError)


def test_cli_flag_names_leave_paths_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "vms" / "scale"
    rc, _, err = cli(["replay", str(d), "--physical-mb", "65536"], capsys)
    assert_one_error_line(rc, err, f"TRACE_DIR {str(d)!r} is neither a file nor a directory")
