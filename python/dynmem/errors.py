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
    "FileFormatError",
    "VersionError",
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


class FileFormatError(ConfigError):
    """A file to read is not in the format it should be (truncated, binary,
    the wrong delimiter, a missing column, a value out of range, a duplicate
    name). The message starts ``file:line:column:`` (1-based; the column is
    the field's number in a CSV row, the character's in JSON); ``path``,
    ``line`` and ``column`` hold them (``None`` where a file-wide problem has
    no position). Nothing was loaded.

    Attributes:
        path: The file at fault.
        line: Its 1-based line, or None for a file-wide problem.
        column: The 1-based column (field in a CSV row, character in JSON), or None.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        value: Any = None,
        *,
        path: str = "",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message, field, value)
        self.path = path
        self.line = line
        self.column = column


class VersionError(DynmemError):
    """The operation does not exist on the host's Windows Server release
    (`Host.version`): e.g. a minimum apart from startup on 2008 R2 SP1, or
    resizing a running static VM before 2016. The message names the
    release. Nothing was changed."""
