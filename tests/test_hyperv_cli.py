"""``dynmem replay --counters`` (issue 14): a Hyper-V counter log and a
PowerShell export replayed on another host size, end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dynmem.hyperv as hv
from dynmem.cli import main

FIX = Path(__file__).parent / "fixtures" / "hyperv"
LOG = str(FIX / "host01.csv")


def test_replay_counters_with_settings_writes_a_log_that_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim.csv"
    rows = tmp_path / "rows.csv"
    args = ["replay", "--counters", LOG, "--vms", str(FIX / "get-vmmemory.csv"), "--physical-mb", "4096",
            "--pdh-csv", str(out), "--csv", str(rows)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "replayed 3 VMs" in text and "on 4096 MB" in text and f"wrote {out}" in text
    back = hv.read_counter_log(out)
    log = hv.read_counter_log(LOG)
    assert back.names == log.names and back.start_s == log.start_s and back.tick_s == log.tick_s
    assert np.array_equal(back.demand_mb, log.demand_mb)  # every VM ran: the same demand came back
    assert "Memory Remove Operations" in out.read_text().splitlines()[0]
    assert len(rows.read_text().splitlines()) == 1 + log.ticks * log.vms


def test_replay_counters_sizes_the_host_from_the_balancer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--counters", LOG]) == 0
    assert "on 7680 MB" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--counters", str(FIX / "two-hosts.csv")], "--physical-mb is needed"),
        (["--counters", str(FIX / "bad" / "truncated.csv")], "truncated.csv:4:3:"),
        (["--counters", LOG, "--vms", str(FIX / "bad" / "not-unit.json")], "not-unit.json:12:9:"),
        (["--counters", LOG, "--vms", "3"], "--vms must be a settings file"),
        (["--counters", LOG, "--vms", str(FIX / "get-vmmemory-one.json")], "without settings"),
        (["somedir", "--counters", LOG], "not both"),
        (["--counters", LOG, "--pdh-csv", "/nonexistent/dir/x.csv"], "--pdh-csv must be a file"),
    ],
)
def test_replay_counters_errors_are_one_line(args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynmem: error: ") and err.count("\n") == 1 and words in err, err


def test_replay_without_a_source_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["replay"])
    assert e.value.code == 2 and "TRACE_DIR and --physical-mb, or --counters" in capsys.readouterr().err


def test_readme_hyperv_example_runs(tmp_path: Path) -> None:
    import re
    import shutil
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Real Hyper-V data.*?```python\n(.*?)```", readme, re.S)
    assert code
    shutil.copy(FIX / "get-vmmemory.json", tmp_path / "vms.json")  # Get-VMMemory: no State, all run
    shutil.copy(FIX / "host01.csv", tmp_path / "host01.csv")
    r = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("True ['Engineering', 'Finance', 'Sales']"), r.stdout
    assert (tmp_path / "simulated.csv").read_text().startswith('"(PDH-CSV 4.0) (Pacific Standard Time)(480)"')
