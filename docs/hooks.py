"""MkDocs hooks (mkdocs.yml `hooks:`).

- ``<!-- dynmem-cli-help -->`` in a page becomes the ``--help`` text of
  ``dynmem`` and of each subcommand, taken from the parser itself, so the
  CLI page cannot fall behind the options.
- Before the build, every public name the reference pages reach must have a
  docstring (``docs/_docstrings.py``); a missing one fails the build.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

HERE = Path(__file__).resolve().parent
CLI_HELP = "<!-- dynmem-cli-help -->"


def _checker() -> Any:
    spec = importlib.util.spec_from_file_location("dynmem_docs_docstrings", HERE / "_docstrings.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def on_pre_build(config: Any) -> None:
    problems = _checker().missing()
    if problems:
        raise PluginError(
            f"{len(problems)} public name(s) without a docstring in the API reference:\n  " + "\n  ".join(problems)
        )


def _cli_help() -> str:
    from dynmem.cli import _parser

    os.environ["COLUMNS"] = "74"  # argparse wraps to the terminal: the same width everywhere
    parser = _parser()
    parts = [("dynmem", parser.format_help())]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parts += [(f"dynmem {name}", sub.format_help()) for name, sub in action.choices.items()]
    return "\n".join(f"### `{title}`\n\n```text\n{text.rstrip()}\n```\n" for title, text in parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CLI_HELP in markdown:
        markdown = markdown.replace(CLI_HELP, _cli_help())
    return markdown
