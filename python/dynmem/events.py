"""`Event`: an action on a VM at a tick of `Host.run` (start, stop,
configure or restart), and `ACTIONS`, the actions there are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "ACTIONS"]

ACTIONS: tuple[str, ...] = ("start", "stop", "configure", "restart")
"""What an `Event` can do to its VM."""


@dataclass(frozen=True)
class Event:
    """An action on a VM at a tick of `Host.run`.

    ``action`` is ``"start"``, ``"stop"``, ``"configure"`` (with
    ``changes``, e.g. ``{"weight": 100}``) or ``"restart"`` (`VM.restart`:
    Smart Paging when its startup memory cannot be found). ``vm`` is a `VM` or a VM name.
    Events at the same tick run in the order given, before that tick's
    demand is applied and the balancer runs.

    Attributes:
        tick: The tick (0-based, in ticks of the run's ``dt_s``) at which it happens.
        vm: The `VM` or the VM's name.
        action: One of `ACTIONS`: "start", "stop", "configure" or "restart".
        changes: For "configure", the settings to change (keywords of
            `VM.configure`, e.g. ``{"weight": 100}``); empty otherwise.
    """

    tick: int
    vm: Any
    action: str
    changes: dict[str, Any] = field(default_factory=dict)
