"""Guest profiles: what a VM's operating system reports and accepts.

``host.add_vm(..., guest="linux")`` (or a `Guest`) picks the profile;
``vm.guest`` reads it back. The rules live in the Rust core
(``dynmem_core::guest``; docs/balancer.md, "Guest profiles"):

- ``"windows"`` (the default, today's behaviour): reports after the
  policy's ``boot_report_delay_s``, can be ballooned down to its minimum,
  hot-adds in the policy's ``hot_add_chunk_mb``.
- ``"linux"`` (``hv_balloon``): reports after 45 one-second reports, adds
  its balloon floor to the demand it reports and refuses to balloon below
  it, hot-adds in memory blocks (128 MB up to 64 GB of startup memory).

A guest whose driver is slow is ``Guest("slow", report_delay_s=600)``; one
that is stuck never reports (``report_delay_s=math.inf``): it holds its
startup memory, and is never ballooned or hot-added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import _dynmem

__all__ = ["Guest", "GUEST_NAMES"]

GUEST_NAMES: tuple[str, ...] = tuple(_dynmem.GUEST_NAMES)
"""The built-in profiles' names, accepted wherever a `Guest` is: ("windows", "linux")."""


@dataclass(frozen=True)
class Guest:
    """A guest operating system's profile (checked when made: a
    `ConfigTypeError` or `ConfigError` naming ``guest.<field>``).

    Attributes:
        name: The profile's name (non-empty, at most 64 bytes).
        report_delay_s: Seconds after start before the guest's driver
            reports demand (until then the VM holds its startup memory);
            ``None``: the host policy's ``boot_report_delay_s``; ``math.inf``:
            never (a stuck driver). Finite values 0 to one year.
        balloon_floor: ``"none"`` (ballooned down to the minimum) or
            ``"hv_balloon"``: Linux's floor of its startup memory, added to
            the demand it reports and a lower bound on its memory.
        hot_add_chunk_mb: Chunks (MB) its visible memory grows in: ``None``,
            the host policy's ``hot_add_chunk_mb``; an int, 1 to 65536 and a
            multiple of the balloon unit; ``"memory_blocks"``, Linux's.
    """

    name: str
    report_delay_s: float | None = None
    balloon_floor: Literal["none", "hv_balloon"] = "none"
    hot_add_chunk_mb: int | Literal["memory_blocks"] | None = None

    def __post_init__(self) -> None:
        _dynmem._check_guest(self)

    @classmethod
    def windows(cls) -> Guest:
        """The default profile, today's behaviour: the policy's report delay
        and hot-add chunk, ballooned down to the minimum."""
        return cls(*_dynmem._guest_fields("windows"))

    @classmethod
    def linux(cls) -> Guest:
        """Linux's ``hv_balloon``: 45 s before it reports, its balloon floor,
        memory blocks."""
        return cls(*_dynmem._guest_fields("linux"))

    @classmethod
    def named(cls, name: str) -> Guest:
        """The built-in profile ``name`` (one of `GUEST_NAMES`)."""
        return cls(*_dynmem._guest_fields(name))
