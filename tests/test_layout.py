"""The house rules of the source tree (DEVELOPERS.md, "Layout").

The core's modules import one way, model -> kernels -> balancer -> host ->
run, with the small bottom modules (errors, settings, vector dispatch, the
pool) below all of them; no Rust source file grows past ~800 lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "rust" / "dynmem-core" / "src"
BINDING = ROOT / "rust" / "dynmem-py" / "src"

# Rank of each top-level module of dynmem-core: a module may use only
# modules of a lower rank (never one of its own rank, never one above).
RANK = {
    "error": 0,
    "config": 1,
    "mechanics": 1,
    "simd": 1,
    "par": 1,
    "table": 1,
    "version": 1,
    "guest": 1,
    "model": 2,
    "solver": 3,
    "tick": 4,
    "policy": 4,
    "balancer": 5,
    "host": 6,
    "run": 7,
    "fuzzing": 8,
    "fleet": 8,
    "snapshot": 9,
}

MAX_LINES = 800


def _top_module(path: Path) -> str | None:
    rel = path.relative_to(CORE)
    if rel.parts[0] == "tests" or rel.name == "tests.rs" or rel.name == "lib.rs":
        return None
    return rel.parts[0].removesuffix(".rs")


def _code(path: Path) -> str:
    """The file without comments and without its `#[cfg(test)] mod tests` block."""
    text = path.read_text()
    cut = re.search(r"#\[cfg\(test\)\]\s*(pub\(crate\) )?mod tests\b", text)
    if cut:
        text = text[: cut.start()]
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def _root_reexports() -> dict[str, str]:
    """Names lib.rs re-exports at the crate root -> the module they come from."""
    names: dict[str, str] = {}
    for m in re.finditer(r"pub use (\w+)(?:::\w+)*::\{([^}]*)\}|pub use (\w+)(?:::\w+)*::(\w+);", (CORE / "lib.rs").read_text()):
        if m.group(1):
            for name in m.group(2).split(","):
                names[name.strip()] = m.group(1)
        else:
            names[m.group(4)] = m.group(3)
    return names


def _uses(code: str, reexports: dict[str, str]) -> set[str]:
    used: set[str] = set()
    for m in re.finditer(r"crate::(\w+)", code):
        used.add(reexports.get(m.group(1), m.group(1)))
    for m in re.finditer(r"use crate::\{([^}]*)\}", code):
        for part in m.group(1).split(","):
            head = part.strip().split("::")[0]
            if head:
                used.add(reexports.get(head, head))
    return used


def test_every_core_module_is_ranked() -> None:
    found = {_top_module(p) for p in CORE.rglob("*.rs")} - {None}
    assert found == set(RANK), "add new top-level modules to RANK (and DEVELOPERS.md)"


def test_core_imports_run_one_way() -> None:
    reexports = _root_reexports()
    wrong = []
    for path in sorted(CORE.rglob("*.rs")):
        me = _top_module(path)
        if me is None:
            continue
        for other in _uses(_code(path), reexports) - {me}:
            if other not in RANK:
                continue  # a macro or an item of lib.rs itself
            if RANK[other] >= RANK[me]:
                wrong.append(f"{path.relative_to(CORE)} ({me}) uses {other}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_layering_check_catches_an_upward_import(tmp_path: Path) -> None:
    # The check itself: a model file that reached up to the balancer is caught.
    code = "use crate::balancer::Balancer;\nfn f() { crate::host::Host::new(); }\n"
    assert _uses(code, {}) == {"balancer", "host"}
    assert _uses("use crate::{Host, model::Vms};", {"Host": "host"}) == {"host", "model"}


@pytest.mark.parametrize("src", [CORE, BINDING], ids=["core", "binding"])
def test_no_source_file_is_too_long(src: Path) -> None:
    long = {
        str(p.relative_to(src)): n
        for p in src.rglob("*.rs")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"
