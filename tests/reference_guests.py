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


class GuestSide:
    """What `reference.VM` takes from its guest profile (needs `guest`,
    `startup_mb`, `minimum_mb`, `guest_reported_mb` and `_host`)."""

    # ---- the guest profile ----------------------------------------------
    @property
    def balloon_floor_mb(self) -> int:
        """hv_balloon's floor of the startup memory, up to the balloon unit."""
        if self.guest.balloon_floor != "hv_balloon":
            return 0
        u = self._host.policy.balloon_unit_mb
        return -(-hv_balloon_floor_mb(self.startup_mb) // u) * u  # up to the unit

    @property
    def demand_mb(self) -> int:
        """Committed memory: what the guest reports, less its floor."""
        return self.guest_reported_mb - self.balloon_floor_mb

    @demand_mb.setter
    def demand_mb(self, d: int) -> None:
        self.guest_reported_mb = min(d + self.balloon_floor_mb, MAX_DEMAND)

    @property
    def effective_minimum_mb(self) -> int:
        """The guest refuses to balloon below its floor."""
        return max(self.minimum_mb, self.balloon_floor_mb)

    def report_delay_s(self, policy) -> float:
        d = self.guest.report_delay_s
        return policy.boot_report_delay_s if d is None else d

    def hot_add_chunk_mb(self, policy) -> int:
        c = self.guest.hot_add_chunk_mb
        if c is None:
            return policy.hot_add_chunk_mb
        if c == "memory_blocks":
            return max(memory_block_mb(self.startup_mb), policy.balloon_unit_mb)
        return c

    def balancer_view(self) -> SimpleNamespace:
        """The VM as the allocation rules see it: the reported demand and the
        effective minimum."""
        return SimpleNamespace(
            id=self.id, startup_mb=self.startup_mb, minimum_mb=self.effective_minimum_mb,
            maximum_mb=self.maximum_mb, demand_mb=self.guest_reported_mb,
            assigned_mb=self.assigned_mb, buffer_pct=self.buffer_pct, weight=self.weight,
            target_mb=self.target_mb, demand_cap_mb=self.demand_cap_mb)

