"""The hand-written stub `_dynmem.pyi` matches the built extension."""

import subprocess
import sys

import pytest


def test_stub_matches_built_module() -> None:
    pytest.importorskip("mypy")
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "dynmem._dynmem"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_python_api_typechecks() -> None:
    pytest.importorskip("mypy")
    import dynmem

    pkg = dynmem.__path__[0]
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", pkg],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
