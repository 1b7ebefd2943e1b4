"""The exceptions dynmem raises.

Every error carries ``field`` (the setting or argument at fault, or ``None``)
and ``value`` (the offending value, or ``None``), and its message names both.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DynmemError",
    "ConfigError",
    "ConfigTypeError",
    "InsufficientMemoryError",
    "StateError",
    "PolicyError",
]


class DynmemError(Exception):
    """Base class of every dynmem error.

    Attributes:
        field: The setting or argument at fault (e.g. ``"weight"``,
            ``"events[2].vm"``), or None.
        value: The offending value, or None.
    """

    def __init__(self, message: str, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class ConfigError(DynmemError, ValueError):
    """A setting or argument has an illegal value. Nothing was changed."""


class ConfigTypeError(ConfigError, TypeError):
    """A setting or argument has the wrong type. Nothing was changed."""


class InsufficientMemoryError(DynmemError):
    """A VM's startup memory could not be found ("Not enough memory in the
    system to start the virtual machine"). No VM's memory was changed."""


class StateError(DynmemError):
    """The operation is not legal in the VM's current state, or the VM handle
    is stale (the VM was removed). Nothing was changed."""


class PolicyError(DynmemError):
    """An allocation policy failed: a user policy's ``allocate`` raised (the
    exception is this one's ``__cause__``) or answered with the wrong type,
    shape or dtype, an allocation outside a VM's [minimum, maximum], or more
    than the pool. The tick did not happen: the host is as it was before."""
