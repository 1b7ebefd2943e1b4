"""The command line, end to end: the demo's figures, scenario runs, outputs,
and a clear message with a non-zero exit for every kind of bad input."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import trace_dir
from dynmem.cli import main
from dynmem.scenario import reference_scenario

TRACES = trace_dir()


def _table(out: str, minute: int) -> dict[str, tuple[str, int, str]]:
    """{name: (state, assigned_mb, status)} of the table printed at `minute`."""
    block = out.split(f"t = {minute} min\n", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in block.splitlines()[1:]:
        m = re.match(r"(\S+)\s+(Running|Off)\s*(?:(\d+) MB \([\d.]+ GB\)\s+\d+ MB \([\d.]+ GB\)\s+(\w+))?", line)
        if m and m.group(1) != "Total":
            rows[m.group(1)] = (m.group(2), int(m.group(3) or 0), m.group(4) or "")
    return rows


def test_demo_reproduces_the_reference_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    t0, t15, t30 = _table(out, 0), _table(out, 15), _table(out, 30)
    gb = 1024
    assert {k: v[1] for k, v in t0.items()} == {"Finance": gb, "Engineering": gb, "Sales": gb, "Support": 0}
    assert sum(v[1] for v in t0.values()) == 3 * gb
    assert t0["Support"][0] == "Off"
    assert {k: v[1] for k, v in t15.items()} == {"Finance": 3 * gb, "Engineering": 2 * gb, "Sales": gb, "Support": 0}
    assert {k: v[1] for k, v in t30.items()} == {
        "Finance": 2 * gb, "Engineering": 3584, "Sales": gb, "Support": gb,
    }
    assert sum(v[1] for v in t30.values()) == 7680  # 7.5 GB of 8
    assert "not started          0 of 4 VMs" in out
    assert "8.00 GB physical − 0.50 GB reserve = 7.50 GB for VMs" in out
    assert re.search(r"Finance\s+1024 MB\s+1024 MB\s+4096 MB\s+20 %\s+2000", out)


def test_reference_scenario_host_never_overcommits() -> None:
    host, tl = reference_scenario().run()
    assert (tl.available_mb >= 0).all()
    assert (tl.assigned_mb.sum(axis=1) + host.reserve_mb <= host.physical_mb).all()


def test_console_script_demo() -> None:
    r = subprocess.run([sys.executable, "-m", "dynmem.cli", "demo"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "t = 30 min" in r.stdout


SCENARIO = """
name = "two"
duration_s = 600
dt_s = 1.0
record_every = 10
report_at_s = [0, 300]
[host]
physical_mb = 4096
reserve_mb = 256
[policy]
boot_report_delay_s = 0
[[vm]]
name = "a"
startup_mb = 1024
maximum_mb = 4096
start_s = 0
demand_mb = [[0, 500], [100, 3000]]
[[vm]]
name = "b"
startup_mb = 3072
maximum_mb = 4096
weight = 100
start_s = 200
workload = { kind = "constant", demand_mb = 2000 }
"""


def test_run_scenario_with_csv_and_failed_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "s.toml"
    f.write_text(SCENARIO)
    out_csv = tmp_path / "t.csv"
    assert main(["run", str(f), "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    # b (weight 100) cannot take memory from a (weight 5000): its start fails, recorded.
    assert "not started          1 of 2 VMs" in out
    assert "b: failed to start at 200 s: Not enough memory" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 60 * 2
    last_a = [r for r in rows if r["vm"] == "a"][-1]
    assert last_a["assigned_mb"] == "3600" and last_a["status"] == "ok"


@pytest.mark.parametrize(
    "patch, message",
    [
        (("duration_s = 600", "duration_s = -5"), "duration_s must be above 0, got -5"),
        (("weight = 100", "weight = 20000"), "weight must be between 0 and 10000, got 20000"),
        (("startup_mb = 3072", "startup_mb = 3071"), "startup_mb must be a multiple of 2"),
        (('demand_mb = [[0, 500], [100, 3000]]', 'demand_mb = [[0, 500], [100, -3]]'), "vm[0].demand_mb[1]"),
        (('start_s = 200', 'start_s = 9999'), "vm[1].start_s must be before the end of the run"),
        (('kind = "constant"', 'kind = "sawtooth"'), "vm[1].workload.kind must be one of"),
        (("[policy]", "[policy]\nbogus = 1"), "bogus"),
        (("name = \"two\"", "name = \"two\"\nextra_key = 3"), "extra_key is not a scenario key"),
        (("[host]", "[host"), "not valid TOML"),
    ],
)
def test_bad_scenario_files_exit_nonzero_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], patch: tuple[str, str], message: str
) -> None:
    f = tmp_path / "bad.toml"
    assert patch[0] in SCENARIO
    f.write_text(SCENARIO.replace(patch[0], patch[1], 1))
    rc = main(["run", str(f)])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and str(f) in err


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read scenario file" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["replay", "x"], ["replay", "x", "--physical-mb", "lots"]])
def test_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage: dynmem" in capsys.readouterr().err


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared Bitbrains traces not present")
def test_replay_real_traces(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_csv = tmp_path / "r.csv"
    rc = main(["replay", str(TRACES), "--physical-mb", "65536", "--vms", "10", "--no-progress",
               "--csv", str(out_csv)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "replayed 10 VMs" in out and "guest paging" in out
    assert out_csv.stat().st_size > 1000


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared Bitbrains traces not present")
def test_replay_bad_host_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(TRACES), "--physical-mb", "-1", "--vms", "2"]) == 2
    assert "--physical-mb must be between 1" in capsys.readouterr().err


def test_demo_plot_writes_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo.png"
    assert main(["demo", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert f"wrote {out}" in capsys.readouterr().out


def test_plot_without_matplotlib_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.") or m == "dynmem.plot"]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit) as e:
        main(["demo", "--plot", str(tmp_path / "x.png")])
    assert "pip install 'dynmem[plot]'" in str(e.value.code)
    assert not (tmp_path / "x.png").exists()


def test_progress_bar_on_long_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import dynmem.cli as cli

    monkeypatch.setattr(cli, "PROGRESS_MIN_VM_TICKS", 100)
    f = tmp_path / "s.toml"
    f.write_text(SCENARIO)
    assert main(["run", str(f)]) == 0
    err = capsys.readouterr().err  # not a terminal: a line when a stage ends
    assert "dynmem: running done: 600 ticks in" in err and "\r" not in err
    assert main(["run", str(f), "--no-progress"]) == 0
    assert "running" not in capsys.readouterr().err


def test_progress_bar_on_a_terminal() -> None:
    import io

    from dynmem._console import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    with Progress(out).stage("running", "ticks") as update:
        assert update is not None
        update(300, 600)
        update(600, 600)
    text = out.getvalue()
    assert text.count("\r") == 2 and "600/600 ticks" in text and "[####" in text and text.endswith("\n")
    quiet = Tty()
    with Progress(quiet, enabled=False).stage("running", "ticks") as update:
        assert update is None
    assert quiet.getvalue() == ""
