"""What the command line needs besides the library: memory sizes as people
write them (``64GB``, ``512MiB``), times and sizes as people read them, and
a progress display for the stages of a command (loading, running, writing).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import TextIO

__all__ = ["parse_size_mb", "SIZE_HELP", "duration", "gb", "Progress"]

_UNITS_MB = {"": 1, "m": 1, "mb": 1, "mib": 1, "g": 1024, "gb": 1024, "gib": 1024,
             "t": 1024 * 1024, "tb": 1024 * 1024, "tib": 1024 * 1024}
_SIZE = re.compile(r"\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*([a-z]*)\s*", re.IGNORECASE)

#: How a size may be written, for help texts.
SIZE_HELP = "MB, or a number with a unit: 512MB, 512MiB, 64GB, 1.5GiB, 1TB (GB = GiB = 1024 MB, as Hyper-V counts)"


def parse_size_mb(text: str) -> int:
    """A memory size in whole MB from ``"4096"``, ``"512MB"``, ``"512MiB"``,
    ``"64GB"``, ``"1.5GiB"`` or ``"1TB"`` (case-insensitive; a GB is a GiB,
    1024 MB, as Hyper-V Manager counts). An argparse ``type``: a bad size is
    an ``argparse.ArgumentTypeError`` saying what is accepted."""
    m = _SIZE.fullmatch(text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS_MB:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: give {SIZE_HELP}")
    mb = float(m.group(1)) * _UNITS_MB[unit]
    if not mb.is_integer():
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: it is {mb:g} MB, not a whole number of MB")
    return int(mb)


def duration(seconds: float) -> str:
    """``"45 s"``, ``"200 s"``, ``"5 min"``, ``"2.5 h"``, ``"30 days"``: a
    simulated time (whole minutes as minutes, below 3 h)."""
    s = float(seconds)
    if abs(s) < 120 or (abs(s) < 3 * 3600 and s % 60):
        return f"{s:g} s"
    if abs(s) < 3 * 3600 and s % 3600:
        return f"{s / 60:g} min"
    if abs(s) < 3 * 86400:
        return f"{s / 3600:.4g} h"
    return f"{s / 86400:.4g} days"


def gb(mb: float) -> str:
    """``"7.50 GB"``: MB as GB (1024 MB), with thousands separators."""
    return f"{mb / 1024:,.2f} GB"


class Progress:
    """The stages of a command on ``stream`` (stderr), each with a count.

    On a terminal a stage is a bar redrawn in place (``\\r``); elsewhere (a
    file, a pipe, CI logs) it is one line when it ends (``dynmem: running
    done: 8,640 ticks in 1.2 s``), so logs hold no carriage returns, and a
    stage that fails prints nothing before the error's one line.
    ``enabled=False`` prints nothing.
    """

    def __init__(self, stream: TextIO, enabled: bool = True) -> None:
        self.stream, self.enabled = stream, enabled
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())

    @contextlib.contextmanager
    def stage(self, name: str, unit: str) -> Iterator[Callable[[int, int], None] | None]:
        """``with progress.stage("running", "ticks") as update:`` gives
        ``update(done, total)`` to call as work is done (``None`` when
        disabled, so it can be passed as a ``progress=`` argument)."""
        if not self.enabled:
            yield None
            return
        t0 = time.perf_counter()
        last = [0, 0]

        def update(done: int, total: int) -> None:
            last[:] = [done, total]
            if not self.tty:
                return
            width = 30
            filled = width * done // max(total, 1)
            rate = done / max(time.perf_counter() - t0, 1e-9)
            self.stream.write(f"\r{name:<8} [{'#' * filled}{'.' * (width - filled)}] "
                              f"{done:,}/{total:,} {unit} ({rate:,.0f}/s)")
            self.stream.flush()

        yield update
        took = time.perf_counter() - t0
        if self.tty:
            self.stream.write("\n" if last[1] else f"{name} done in {took:.1f} s\n")
        else:
            count = f"{last[1]:,} {unit} " if last[1] else ""
            self.stream.write(f"dynmem: {name} done: {count}in {took:.1f} s\n")
        self.stream.flush()
