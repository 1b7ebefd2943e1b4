"""The README's commands and example stay true."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setup_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README must open with a sh block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_two_setup_commands_and_ci_runs_the_test_one() -> None:
    cmds = _setup_commands()
    assert len(cmds) == 2
    assert "dynmem demo" in cmds[0]
    assert "cargo test" in cmds[1] and "pytest" in cmds[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert cmds[1] in ci, ".ci/run must run the README's test command verbatim"


def test_readme_example_runs() -> None:
    code = re.search(r"## Example\n```python\n(.*?)```", README, re.S)
    assert code
    r = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "starting 1024 warning"
    assert lines[1].split()[:3] == ["3000", "3072", "3000"] and lines[1].endswith("ok")


def test_readme_fleet_example_runs() -> None:
    code = re.search(r"## Fleets: the bulk API\n.*?```python\n(.*?)```", README, re.S)
    assert code
    r = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("True True [")


def test_readme_many_hosts_example_runs() -> None:
    code = re.search(r"## Many hosts: `dynmem.Fleet`\n.*?```python\n(.*?)```", README, re.S)
    assert code
    r = subprocess.run([sys.executable, "-c", code.group(1)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("(20000,) [")
