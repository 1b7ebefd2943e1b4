"""The public names the API reference would show without a docstring.

The reference pages name what they document with mkdocstrings directives,
one line each (``::: dynmem.timeline``). This module reads those lines from
every page under ``docs/`` and walks each named object as the site does
(griffe, statically: the Python source and the extension's stub
``_dynmem.pyi``), and lists every public name in it without a docstring:
modules, classes, functions, methods, properties and attributes (an
attribute may instead be described in its class docstring's
``Attributes:`` section, which is what ``help()`` shows for dataclass
fields). It also lists the public modules of the package that no page
names. Used by ``docs/hooks.py`` (so ``mkdocs build --strict`` fails) and
``tests/test_docstrings.py``. Needs griffe (the ``docs`` extra).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Where the package's source is (the site reads it from here, as mkdocs.yml says).
SOURCE = ROOT / "python"
PACKAGE = "dynmem"
DIRECTIVE = re.compile(r"^::: *([\w.]+) *$", re.M)


def directives(docs: Path = DOCS) -> list[str]:
    """The objects the pages document (``::: path`` lines), in page order."""
    found: list[str] = []
    for page in sorted(docs.rglob("*.md")):
        found += DIRECTIVE.findall(page.read_text(encoding="utf-8"))
    return found


def _documented_attributes(cls: Any) -> set[str]:
    """Names in the ``Attributes`` section of a class docstring (Google or
    numpy style), or in its ``Args``/``Parameters`` section (a dataclass's
    fields are its parameters)."""
    if not cls.docstring:
        return set()
    kinds = (griffe.DocstringSectionKind.attributes, griffe.DocstringSectionKind.parameters)
    names: set[str] = set()
    for section in cls.docstring.parse(griffe.Parser.auto):
        if section.kind in kinds:
            names.update(a.name for a in section.value)
    return names


def _bases(cls: Any) -> list[Any]:
    """The classes ``cls`` inherits from, as far as griffe resolves them."""
    try:
        return list(cls.mro())
    except Exception:  # an unresolvable base (outside the package)
        return []


def _where(obj: Any) -> str:
    try:
        path = Path(obj.filepath).resolve().relative_to(ROOT)
    except (ValueError, AttributeError, TypeError):
        path = obj.filepath
    return f"{path}:{obj.lineno}" if obj.lineno else str(path)


def _public_members(obj: Any) -> list[tuple[str, Any]]:
    if obj.is_module:
        if obj.exports is not None:
            names = [n if isinstance(n, str) else n.name for n in obj.exports]
            return [(n, obj.members[n]) for n in names if n in obj.members]
        return [(n, m) for n, m in obj.members.items() if not n.startswith("_") and not m.is_alias]
    return [(n, m) for n, m in obj.all_members.items() if not n.startswith("_")]


def missing(paths: list[str] | None = None) -> list[str]:
    """``"dynmem.X.y (file:line): no docstring"`` for every public name
    under ``paths`` (default: the pages' directives) without one, and
    ``"dynmem.m: no page documents this module"`` for each public module
    that no directive reaches."""
    paths = directives() if paths is None else paths
    loader = griffe.GriffeLoader(search_paths=[str(SOURCE)], docstring_parser=griffe.Parser.auto)
    pkg = loader.load(PACKAGE)
    loader.resolve_aliases(implicit=True, external=False)
    problems: list[str] = []
    seen: set[str] = set()

    def visit(obj: Any, name: str, parent: Any | None) -> None:
        if obj.is_alias:
            try:
                obj = obj.final_target
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                return  # defined outside the package (numpy, typing, ...)
        if not obj.path.startswith(PACKAGE) or obj.path in seen:
            return
        seen.add(obj.path)
        documented = bool(obj.docstring and obj.docstring.value.strip())
        if not documented and obj.is_attribute:
            # an attribute may be described in its class's Attributes section
            # (the class that defines it, the one whose page shows it,
            # or one of its bases)
            classes = [c for c in (obj.parent, parent) if c is not None and c.is_class]
            classes += [b for c in list(classes) for b in _bases(c)]
            documented = any(name in _documented_attributes(c) for c in classes)
        if not documented:
            problems.append(f"{obj.path} ({_where(obj)}): no docstring")
        if obj.is_module or obj.is_class:
            for member_name, member in _public_members(obj):
                visit(member, member_name, obj)

    for path in paths:
        visit(pkg[path.removeprefix(PACKAGE).lstrip(".")] if path != PACKAGE else pkg, path.rsplit(".", 1)[-1], None)

    def modules(mod: Any) -> list[Any]:
        out = [mod]
        for name, m in mod.members.items():
            if not m.is_alias and m.is_module and not name.startswith("_"):
                out += modules(m)
        return out

    for mod in modules(pkg):
        # reached: the module itself, or a name defined in it (re-exported)
        if mod.path not in seen and not any(p.startswith(mod.path + ".") for p in seen):
            problems.append(f"{mod.path}: no page documents this module (add `::: {mod.path}` to docs/reference.md)")
    return problems
