"""Placement rules for `Fleet.place` and `Fleet.run`: which host a VM goes to.

All rules run in Rust against an ordered index over the hosts' free memory
(usable memory − Σ startup of the VMs placed there), so a VM costs
``O(log hosts)`` for `FirstFit`, `BestFit`, `WorstFit` and ``Rating("free_after")``.
Memory is a hard requirement: a VM goes only to a host where its
``startup_mb`` fits, so no host is ever overfilled; a VM that fits nowhere
gets host ``-1``. ``max_ratio`` caps Σ ``maximum_mb`` / ``physical_mb`` per
host (OpenStack's and OpenDC's ``ram_allocation_ratio``). Ties go to the
lowest host index. A plain callable ``rule(request, view) -> host | -1`` is a
user rule (see `User`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Placement", "FirstFit", "BestFit", "WorstFit", "Rating", "User", "SCORES"]

SCORES: tuple[str, ...] = ("free_after", "sum_minimum", "pressure")
"""What a `Rating` can score by."""


@dataclass(frozen=True)
class Placement:
    """Base of the placement rules.

    Attributes:
        max_ratio: Cap on Σ maximum_mb / physical_mb per host (the OpenStack
            ``ram_allocation_ratio`` convention); None: no cap.
    """

    max_ratio: float | None = field(default=None, kw_only=True)

    def _args(self) -> tuple[str, str, float | None, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class FirstFit(Placement):
    """The lowest-numbered host where the VM's startup fits."""

    def _args(self) -> tuple[str, str, float | None, Any]:
        return ("first_fit", "free_after", self.max_ratio, None)


@dataclass(frozen=True)
class BestFit(Placement):
    """The host with the least free memory that still fits the VM (packs)."""

    def _args(self) -> tuple[str, str, float | None, Any]:
        return ("best_fit", "free_after", self.max_ratio, None)


@dataclass(frozen=True)
class WorstFit(Placement):
    """The host with the most free memory (spreads VMs)."""

    def _args(self) -> tuple[str, str, float | None, Any]:
        return ("worst_fit", "free_after", self.max_ratio, None)


@dataclass(frozen=True)
class Rating(Placement):
    """SCVMM-like host rating, memory a hard requirement. ``by``:
    ``"free_after"`` (most free memory, MB, after the VM's startup),
    ``"sum_minimum"`` (lowest Σ minimum_mb placed) or ``"pressure"``
    (lowest (Σ demand_mb now + Σ startup_mb placed by this call) / usable MB).

    Attributes:
        by: What the rating scores by, one of `SCORES`.
    """

    by: str = "free_after"

    def _args(self) -> tuple[str, str, float | None, Any]:
        from ._validate import check_choice

        check_choice(self.by, "by", SCORES)
        return ("rating", self.by, self.max_ratio, None)


@dataclass(frozen=True)
class User(Placement):
    """A user rule, called once per VM in order: ``rule(request, view)``
    returns a host index or -1. ``request``: dict of ``vm``, ``startup_mb``,
    ``minimum_mb``, ``maximum_mb``, ``weight``; ``view``: dict of numpy
    arrays per host, ``free_mb`` (usable − Σ startup placed, this call's
    choices included), ``physical_mb``, ``maximum_sum_mb``. A host without
    room for the VM is a `ConfigError` (nothing is placed).

    Attributes:
        rule: The callable ``rule(request, view) -> host index or -1``.
    """

    rule: Callable[[dict[str, int], dict[str, Any]], int] | None = None

    def _args(self) -> tuple[str, str, float | None, Any]:
        return ("user", "free_after", self.max_ratio, self.rule)


def _resolve(placement: Any) -> tuple[str, str, float | None, Any]:
    """The binding's arguments for ``placement`` (a rule, a callable, or None: best-fit)."""
    from ._validate import error
    from .errors import ConfigTypeError

    if placement is None:
        placement = BestFit()
    elif not isinstance(placement, Placement) and callable(placement):
        placement = User(rule=placement)
    if not isinstance(placement, Placement):
        raise error("placement", placement, "a dynmem.placement rule or a callable", cls=ConfigTypeError)
    ratio = placement.max_ratio
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float))):
        raise error("max_ratio", ratio, "a positive number or None", cls=ConfigTypeError)
    return placement._args()
