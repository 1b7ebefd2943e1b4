"""Run by `.ci/wheel-test` in a fresh virtual environment holding only the
built wheel (and mypy): what a user's `pip install dynmem` gets must work
without the source tree or a Rust toolchain.

Exits non-zero, naming what is missing, on: the package imported from
somewhere other than the environment, a version differing from the wheel's
metadata, an extension that is not abi3, a missing data file (py.typed, the
stub, the reference scenario), a module that does not import, or a stub out
of step with the extension (mypy.stubtest).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import subprocess
import sys
from pathlib import Path

import dynmem
from dynmem import _dynmem
from dynmem.scenario import reference_scenario

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


pkg = Path(dynmem.__file__).parent
check(Path(sys.prefix) in pkg.parents, f"dynmem imported from the environment ({pkg})")
meta = importlib.metadata.version("dynmem")
check(dynmem.__version__ == meta, f"dynmem.__version__ {dynmem.__version__!r} == wheel metadata {meta!r}")
check(Path(_dynmem.__file__).name.startswith("_dynmem.abi3."), f"abi3 extension ({Path(_dynmem.__file__).name})")
for rel in ("py.typed", "_dynmem.pyi", "scenarios/reference.toml"):
    check((pkg / rel).is_file(), f"ships {rel}")

# Every module imports; one that needs an optional extra (not installed
# here) may fail only for want of that extra.
for mod in pkgutil.walk_packages(dynmem.__path__, "dynmem."):
    try:
        importlib.import_module(mod.name)
        check(True, f"import {mod.name}")
    except ModuleNotFoundError as e:
        check(not (e.name or "").startswith("dynmem"), f"import {mod.name} (needs {e.name}, an optional extra)")

scenario = reference_scenario()
host = scenario.build()
timeline = host.run(scenario.demand_mb, scenario.dt_s, scenario.scheduled_events(), scenario.record_every)
check(timeline.rows > 0 and len(timeline.names) == len(scenario.vms), "the reference scenario runs")

stubtest = subprocess.run(
    [sys.executable, "-m", "mypy.stubtest", "dynmem._dynmem"], capture_output=True, text=True
)
check(stubtest.returncode == 0, "the stub matches the extension (mypy.stubtest)\n" + stubtest.stdout[-2000:])

if failures:
    print(f"wheel check: {len(failures)} failed", file=sys.stderr)
    sys.exit(1)
print("wheel check: all passed")
