"""One version, an abi3 extension, and what a wheel must carry.

The wheel itself is built and installed into a fresh virtual environment
without Rust by `.ci/wheel-test` (run by `.ci/run`); these tests check the
installed package this test run imports.
"""

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import dynmem
from dynmem import _dynmem, cli

ROOT = Path(__file__).resolve().parents[1]
PKG = Path(dynmem.__file__).parent


def _cargo_version() -> str:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    return str(cargo["workspace"]["package"]["version"])


def test_version_is_defined_once_in_cargo() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project, "the version lives in Cargo.toml's [workspace.package] only"
    assert "version" in project["dynamic"]
    for crate in ("dynmem-core", "dynmem-py"):
        manifest = tomllib.loads((ROOT / "rust" / crate / "Cargo.toml").read_text(encoding="utf-8"))
        assert manifest["package"]["version"] == {"workspace": True}, crate


def test_version_agrees_with_the_installed_metadata() -> None:
    assert dynmem.__version__ == _dynmem.__version__ == _cargo_version()
    assert importlib.metadata.version("dynmem") == dynmem.__version__


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    words = capsys.readouterr().out.split()
    assert words[:2] == ["dynmem", dynmem.__version__]
    r = subprocess.run([sys.executable, "-m", "dynmem.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split()[:2] == ["dynmem", importlib.metadata.version("dynmem")]


def test_extension_is_built_for_the_stable_abi() -> None:
    # One extension file: a per-version one left from an older build
    # (``_dynmem.cpython-311-….so``) would shadow the abi3 one on import.
    found = sorted(p.name for p in PKG.glob("_dynmem*") if p.suffix in (".so", ".pyd"))
    assert len(found) == 1, f"stale extension builds in {PKG}: {found} (delete all but the newest)"
    if sys.platform != "win32":
        assert Path(_dynmem.__file__).name == "_dynmem.abi3.so"

