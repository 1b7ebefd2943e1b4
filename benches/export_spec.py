"""Writes a benchmark spec as raw little-endian int64 for the Rust-only replay.

``python benches/export_spec.py N [REGIME ...]`` writes ``REGIME_N.bin`` (in
the current directory, or ``--out DIR``) for each regime (default plentiful
and contended): n, physical, reserve, then the startup, minimum, maximum,
buffer and weight columns, then the 8 demand rows. Replay it with
``cargo run --release --example spec_bench -p dynmem-core -- FILE``: the
same inputs `benches/run.py` times, without Python in the loop.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common as C  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", type=int)
    p.add_argument("regimes", nargs="*", help="plentiful and/or contended (default: both)")
    p.add_argument("--out", default=".")
    a = p.parse_args(argv)
    # Checked here, not with `choices`: Python 3.11's argparse rejects an
    # empty nargs="*" list against `choices` (and checks a list default as
    # one value), so the documented default could not be reached.
    regimes = a.regimes or ["plentiful", "contended"]
    for r in regimes:
        if r not in ("plentiful", "contended"):
            p.error(f"unknown regime {r!r} (plentiful or contended)")
    for regime in regimes:
        sp = C.make_spec(a.n, regime)
        head = np.array([sp.n, sp.physical_mb, sp.reserve_mb], np.int64)
        cols = [sp.startup, sp.minimum, sp.maximum, sp.buffer, sp.weight, sp.rows.ravel()]
        path = os.path.join(a.out, f"{regime}_{a.n}.bin")
        np.concatenate([head, *cols]).astype("<i8").tofile(path)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
