"""Docstrings: what `help()` shows, what the reference site shows, and the
stub's docstrings in step with the extension's.

- Every public attribute of `VM`, `Host` and `Timeline` has a docstring that
  `help()` shows (a dataclass field: a line of its class's ``Attributes:``).
- The stub's docstrings are the extension's (the Rust ``///`` comments):
  `help()` reads the extension, the site reads the stub.
- ``state`` and ``status`` are typed as ``Literal`` of exactly their values.
- Every public name the reference pages reach has a docstring, and every
  public module is reached (``docs/_docstrings.py``, which `mkdocs build`
  also runs; needs griffe, from the ``docs`` extra).
- The pages' Python examples run.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pydoc
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import dynmem
from dynmem import _dynmem

ROOT = Path(__file__).resolve().parents[1]
STUB = Path(_dynmem.__file__).with_name("_dynmem.pyi")
DOCS = ROOT / "docs"


def _attributes_section(cls: type) -> set[str]:
    """Names listed in the ``Attributes:`` sections of the docstrings of
    ``cls`` and its bases."""
    names: set[str] = set()
    for c in cls.__mro__:
        doc = inspect.cleandoc(c.__doc__ or "") if c.__module__.startswith("dynmem") else ""
        m = re.search(r"^Attributes:\n((?:[ \t]+.*\n?|\n)*)", doc, re.M)
        if m:
            names |= set(re.findall(r"^    (\w+)(?: \(.*?\))?:", m.group(1), re.M))
    return names


def _undocumented(cls: type) -> list[str]:
    listed = _attributes_section(cls)
    fields = getattr(cls, "__dataclass_fields__", {})
    missing = []
    for name in sorted(set(dir(cls)) | set(fields)):
        if name.startswith("_"):
            continue
        if name in fields:
            ok = name in listed
        else:
            doc = getattr(inspect.getattr_static(cls, name), "__doc__", None)
            ok = bool(doc and doc.strip())
        if not ok:
            missing.append(name)
    return missing


@pytest.mark.parametrize("cls", [dynmem.VM, dynmem.Host, dynmem.Timeline, dynmem.HyperVPolicy, dynmem.Event])
def test_help_shows_every_public_attribute(cls: type) -> None:
    assert _undocumented(cls) == []
    for name in _attributes_section(cls):
        assert name in getattr(cls, "__dataclass_fields__", {}) or hasattr(cls, name), name


def test_help_lists_states_statuses_and_counter_keys() -> None:
    text = pydoc.render_doc(dynmem.VM, renderer=pydoc.plaintext)
    for word in ("starting", "running", "warning", "low", *_dynmem.VM_COUNTER_NAMES):
        assert f'"{word}"' in text, word
    assert all(f'"{k}"' in pydoc.render_doc(dynmem.Host, renderer=pydoc.plaintext) for k in _dynmem.HOST_COUNTER_NAMES)
    timeline = pydoc.render_doc(dynmem.Timeline, renderer=pydoc.plaintext)
    assert all(k in timeline for k in ("assigned_mb:", "status:", "average_pressure:"))


def _stub_classes() -> dict[str, ast.ClassDef]:
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def test_stub_docstrings_are_the_extensions() -> None:
    compared = 0
    for cls_name, node in _stub_classes().items():
        runtime_cls = getattr(_dynmem, cls_name)
        if ast.get_docstring(node) is not None:
            assert ast.get_docstring(node) == inspect.cleandoc(runtime_cls.__doc__ or ""), cls_name
        for item in node.body:
            if not isinstance(item, ast.FunctionDef) or any(
                isinstance(d, ast.Attribute) and d.attr == "setter" for d in item.decorator_list
            ):
                continue
            stub_doc = ast.get_docstring(item)
            runtime_doc = getattr(runtime_cls, item.name).__doc__
            runtime_doc = inspect.cleandoc(runtime_doc) if runtime_doc else None
            if item.name.startswith("_") and runtime_doc is None:
                continue
            if cls_name == "VmHandle" and not item.name.startswith("_"):
                assert stub_doc, f"VmHandle.{item.name}: the stub has no docstring (the site shows the stub's)"
            if stub_doc is not None:  # the private classes' stubs may leave them out
                assert stub_doc == runtime_doc, f"{cls_name}.{item.name}: stub and extension docstrings differ"
                compared += 1
    assert compared >= 20


def _literal(cls: ast.ClassDef, prop: str) -> set[str]:
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == prop and item.returns is not None:
            ann = item.returns
            assert isinstance(ann, ast.Subscript) and ast.unparse(ann.value) == "Literal", ast.unparse(ann)
            elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            return {e.value for e in elts if isinstance(e, ast.Constant)}
    raise AssertionError(f"no {prop} in the stub")


def test_state_and_status_are_literals_of_their_values() -> None:
    handle = _stub_classes()["VmHandle"]
    assert _literal(handle, "status") == set(dynmem.STATUS_NAMES)
    host = dynmem.Host(physical_mb=4096, reserve_mb=0, policy=dynmem.HyperVPolicy(boot_report_delay_s=1.0))
    vm = host.add_vm("a", startup_mb=512, maximum_mb=1024)
    seen = {vm.state}
    vm.start()
    seen.add(vm.state)
    host.tick(2.0)
    seen.add(vm.state)
    assert _literal(handle, "state") == seen == {"off", "starting", "running"}


def _checker() -> Any:
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("dynmem_docs_docstrings", DOCS / "_docstrings.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_public_name_in_the_reference_has_a_docstring() -> None:
    checker = _checker()
    assert "dynmem" in checker.directives()
    assert checker.missing() == []


def test_the_check_finds_a_missing_docstring(tmp_path: Path) -> None:
    checker = _checker()
    pkg = tmp_path / "dynmem"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Doc."""\n__all__ = ["f", "C"]\nfrom .m import f, C\n')
    (pkg / "m.py").write_text(
        '"""Doc."""\n'
        "def f() -> None:\n    pass\n"
        'class C:\n    """Doc.\n\n    Attributes:\n        a: Doc.\n    """\n'
        "    a: int\n    b: int\n"
        '    @property\n    def p(self) -> int:\n        """Doc."""\n        return 1\n'
        "    def g(self) -> None:\n        pass\n"
    )
    (pkg / "sub" / "__init__.py").write_text('"""Doc."""\n')
    checker.SOURCE = tmp_path
    found = checker.missing(["dynmem"])
    assert sorted(p.split(" ")[0] for p in found) == [
        "dynmem.m.C.b", "dynmem.m.C.g", "dynmem.m.f", "dynmem.sub:",
    ]


def _page_examples() -> list[tuple[str, str]]:
    """``(page, code)``: each page's ```python blocks, joined, after
    ``import numpy as np, dynmem``, except a block followed by an
    ``<!-- no-run ... -->`` line."""
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        blocks = [
            m.group(1)
            for m in re.finditer(r"```python\n(.*?)```\n(?!<!-- no-run)", text, re.S)
        ]
        if blocks:
            out.append((page.name, "\n".join(["import numpy as np, dynmem", *blocks])))
    return out


@pytest.mark.parametrize("page,code", _page_examples(), ids=lambda x: x if x.endswith(".md") else "")
def test_page_examples_run(page: str, code: str) -> None:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, f"{page}: {r.stderr[-2000:]}"
