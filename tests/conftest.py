"""Shared test configuration."""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def trace_dir() -> Path:
    """The shared Bitbrains traces, read in place (never copied into the repo):
    ``$DYNMEM_TRACES`` if set, else ``../shared/traces`` beside the repository,
    else the workplace's ``/work/shared/traces``."""
    candidates = [os.environ.get("DYNMEM_TRACES"), _REPO / ".." / "shared" / "traces", "/work/shared/traces"]
    for c in candidates:
        if c and (Path(c) / "bitbrains-rnd-2013-08").is_dir():
            return Path(c) / "bitbrains-rnd-2013-08"
    return _REPO / ".." / "shared" / "traces" / "bitbrains-rnd-2013-08"
