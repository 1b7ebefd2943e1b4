"""The streaming floor: one pass over the hot per-VM arrays a tick touches.

A balancer tick has to look at every VM at least once: its demand,
assigned and visible memory, minimum and maximum, buffer, weight and state
flags. `Floor.run` reads exactly those arrays once each, with the dtypes
the Rust core keeps them in (``uint32`` MB, ``uint16`` buffer and weight,
``uint8`` flags): 5·4 + 2·2 + 1 = 25 bytes per VM. The reduction is
``np.bitwise_or.reduce`` per array, a SIMD loop in numpy's C core that does
one load and one OR per element and keeps the element's dtype (no casting
pass), so its time is the time to stream those bytes through the core:
the memory-bandwidth limit (or the cache-bandwidth limit when the arrays
fit in cache, as 1M VMs × 25 B = 25 MB does in a large L3) for touching
every VM once. Nothing is written.

Fixed costs: 8 numpy calls (~1 µs in all) dominate at small sizes, so the
floor is meaningful from ~100k VMs up; ``bytes_per_vm`` lets a report turn
it into GB/s.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

#: (name, dtype) of the hot per-VM columns of a tick.
COLUMNS: tuple[tuple[str, type], ...] = (
    ("demand", np.uint32),
    ("assigned", np.uint32),
    ("visible", np.uint32),
    ("minimum", np.uint32),
    ("maximum", np.uint32),
    ("buffer", np.uint16),
    ("weight", np.uint16),
    ("flags", np.uint8),
)


class Floor:
    """The hot columns of ``n`` VMs and one streaming pass over them."""

    def __init__(self, n: int, seed: int = 0, arrays: dict[str, npt.ArrayLike] | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.arrays: list[npt.NDArray[np.generic]] = []
        for name, dt in COLUMNS:
            if arrays is not None and name in arrays:
                a = np.ascontiguousarray(arrays[name], dtype=dt)
            else:
                a = rng.integers(0, np.iinfo(dt).max, size=n, dtype=dt, endpoint=True)
            assert a.shape == (n,)
            self.arrays.append(a)
        self.n = n
        self.bytes_per_vm = sum(np.dtype(dt).itemsize for _, dt in COLUMNS)

    def run(self) -> int:
        """One pass over every column; returns a checksum (so nothing is skipped)."""
        acc = 0
        reduce = np.bitwise_or.reduce
        for a in self.arrays:
            acc ^= int(reduce(a))
        return acc


#: The per-VM state a tick in which every VM's demand changed (churn) must
#: read (name, dtype) ...
STATE_READ: tuple[tuple[str, type], ...] = (
    ("flags", np.uint8),
    ("demand", np.uint32),
    ("minimum", np.uint32),
    ("maximum", np.uint32),
    ("visible", np.uint32),
    ("buffer", np.uint16),
    ("clock_s", np.float64),
    ("p_min", np.float64),
    ("p_max", np.float64),
)
#: ... and read and write back: assigned memory, the four Hyper-V counters,
#: the pressure statistics' running integral and open interval.
STATE_WRITE: tuple[tuple[str, type], ...] = (
    ("assigned", np.uint32),
    ("added", np.uint32),
    ("removed", np.uint32),
    ("add_ops", np.uint32),
    ("remove_ops", np.uint32),
    ("p_sum", np.float64),
    ("p_now", np.float64),
)


class StateFloor:
    """The churn tick's own floor: one streaming pass that reads every
    column of ``STATE_READ`` and reads and writes back every column of
    ``STATE_WRITE`` (``np.add(a, 1, out=a)``: one load, one store per
    element), ``n`` VMs. 79 bytes read and 36 written per VM: what a tick
    that changes every VM's memory, counters and pressure statistics moves
    at the least, however few instructions it runs (dynmem's passes read
    some of it twice, and its scratch)."""

    def __init__(self, n: int) -> None:
        self.read = [np.ones(n, dtype=dt) for _, dt in STATE_READ]
        self.write = [np.ones(n, dtype=dt) for _, dt in STATE_WRITE]
        self.bytes_read = sum(np.dtype(dt).itemsize for _, dt in STATE_READ + STATE_WRITE)
        self.bytes_written = sum(np.dtype(dt).itemsize for _, dt in STATE_WRITE)

    def run(self) -> int:
        acc = 0
        for a in self.read:  # f64 columns as their bits: one load and one OR per element, as Floor's
            acc ^= int(np.bitwise_or.reduce(a.view(f"u{a.itemsize}")))
        for a in self.write:
            np.add(a, 1, out=a)
        return acc
