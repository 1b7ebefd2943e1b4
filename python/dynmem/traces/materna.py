"""The Materna GWA-T-13 trace format: `load_materna`, on the same loader
core as Bitbrains (`dynmem.traces.bitbrains` has every rule; only the way
fields are written differs).

The GWA-T-13 Materna trace (Grid Workloads Archive, TU Delft; data by
Materna GmbH) has one CSV per VM with the Bitbrains columns, written by a
German locale::

    "Timestamp";"CPU cores";...;"Memory capacity provisioned [KB]";"Memory usage [KB]";...
    "01.09.2016 00:00:00";"4";...;"16777216";"2187245,6";...

* fields separated by ``;`` and enclosed in double quotes;
* decimal commas (``2187245,6``); a point is no decimal separator;
* ``Timestamp`` as ``dd.MM.yyyy HH:mm:ss``, read as UTC (the files do not
  say their zone; a whole-hour offset only shifts the whole trace), or as
  epoch seconds where a file has numbers there;
* one row every 300 s, sizes in KiB, as Bitbrains.

No Materna file is in ``../shared/traces``: the shapes above are from the
archive's description, and the tests use files written by hand in them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ._loader import Format
from ._trace import Trace
from .bitbrains import load_as

__all__ = ["MATERNA", "load_materna"]

#: How Materna writes its files.
MATERNA = Format(
    name="Materna GWA-T-13", delimiter=";", quote='"', decimal_comma=True, day_first_time=True,
    interval_s=300.0, time_what="dd.MM.yyyy HH:mm:ss or epoch seconds",
)

def load_materna(path_or_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], **options: Any) -> Trace:
    """Load Materna GWA-T-13 per-VM CSV files onto one time grid.

    Takes the keyword arguments of `dynmem.traces.load_bitbrains`
    (``tick_s``, ``vms``, ``mapping``, ``start_s``, ``end_s``,
    ``resample``, ``max_gap_s``, ``on_long_gap``, ``zero_usage``,
    ``on_malformed``), with the same defaults, rules, repairs and log (one
    loader core); only the file format differs (see the module docstring).

    Returns:
        A :class:`Trace` with ``(ticks, vms)`` int64 ``demand_mb`` and
        ``provisioned_mb``.

    Raises:
        ConfigError: as `load_bitbrains`; `ConfigTypeError` for an unknown
            keyword argument.
    """
    return load_as(MATERNA, path_or_dir, **options)
