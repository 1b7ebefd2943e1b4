"""The reference's guest profiles (docs/balancer.md, "Guest profiles"):
the built-in profiles, hv_balloon's floor table and Linux's memory blocks,
written as the spec states them. `reference.VM` uses them."""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

MAX_DEMAND = 2**32 - 1

#: the built-in profiles: report delay (None: the policy's), floor, hot-add chunk
GUESTS = {
    "windows": SimpleNamespace(name="windows", report_delay_s=None, balloon_floor="none",
                               hot_add_chunk_mb=None),
    "linux": SimpleNamespace(name="linux", report_delay_s=45.0, balloon_floor="hv_balloon",
                             hot_add_chunk_mb="memory_blocks"),
}

#: hv_balloon's floor table: (memory from MB, floor there MB, slope)
HV_BALLOON_TABLE = [(0, 8, Fraction(1, 2)), (128, 72, Fraction(1, 4)), (512, 168, Fraction(1, 8)),
                    (2048, 360, Fraction(1, 16)), (8192, 744, Fraction(1, 32))]


def hv_balloon_floor_mb(memory_mb: int) -> int:
    """The kernel's piecewise-linear floor, continued past 32 GB, rounded up
    to a whole MB: the last row at or below `memory_mb`, then its slope."""
    start, at, slope = [row for row in HV_BALLOON_TABLE if row[0] <= memory_mb][-1]
    return math.ceil(at + (memory_mb - start) * slope)


def memory_block_mb(startup_mb: int) -> int:
    """Linux's memory block: 128 MB up to 64 GB of startup memory, else the
    largest power of two up to 2 GB dividing it (at least 128)."""
    if startup_mb <= 65536:
        return 128
    block = 2048
    while startup_mb % block:
        block //= 2
    return max(block, 128)


def as_guest(guest):
    """A profile: a built-in's name or an object with the fields."""
    return GUESTS[guest] if isinstance(guest, str) else guest
