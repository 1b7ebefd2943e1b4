"""The argument checks every dynmem module uses.

Each check returns the value in its plain Python form or raises a
`dynmem.errors` class whose message reads ``"{name} must be {what}, got
{value}"``, with ``field`` the argument's name and ``value`` the value given.
Wrong types raise `ConfigTypeError` unless a caller says otherwise; wrong
values raise `ConfigError`. Bools are never numbers here.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from typing import Any, Callable, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import ConfigError, ConfigTypeError

T = TypeVar("T")

#: Longest series (ticks) a generator, scenario or trace grid makes: keeps
#: every product of ticks in the integer arithmetic within int64.
MAX_TICKS: int = 2**31 - 1


def is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: Any) -> bool:
    """A real number (Python, numpy or any `numbers.Real`), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def error(
    name: str, value: Any, what: str, *, got: str | None = None, cls: type[ConfigError] = ConfigError
) -> ConfigError:
    """``cls("{name} must be {what}, got {got}")`` naming ``name`` and
    ``value``; ``got`` defaults to ``repr(value)``."""
    shown = repr(value) if got is None else got
    return cls(f"{name} must be {what}, got {shown}", field=name, value=value)


def check_int(
    value: Any,
    name: str,
    what: str,
    *,
    low: int | None = None,
    high: int | None = None,
    range_what: str | None = None,
    wrong_type: type[ConfigError] = ConfigTypeError,
) -> int:
    """An integer in ``[low, high]`` (either bound optional).

    A wrong type says ``what`` and shows the value's repr; a value out of
    range says ``range_what`` (default ``what``) and shows it as a number.
    """
    if not is_int(value):
        raise error(name, value, what, cls=wrong_type)
    if (low is not None and value < low) or (high is not None and value > high):
        raise error(name, value, range_what or what, got=str(value))
    return int(value)


def check_real(
    value: Any,
    name: str,
    what: str,
    *,
    low: float | None = None,
    low_inclusive: bool = True,
    high: float | None = None,
    finite: bool = True,
    range_what: str | None = None,
    wrong_type: type[ConfigError] = ConfigTypeError,
) -> float:
    """A real number, finite (or, with ``finite=False``, anything but NaN),
    ``>= low`` (``> low`` with ``low_inclusive=False``) and ``<= high``.

    A wrong type or a non-finite value says ``what``; a value out of range
    says ``range_what`` (default ``what``). The value shows as its repr.
    """
    if not is_real(value):
        raise error(name, value, what, cls=wrong_type)
    try:
        v = float(value)
    except OverflowError:  # an int beyond the floats, e.g. 10**400
        v = math.inf if value > 0 else -math.inf
    if not (math.isfinite(v) if finite else not math.isnan(v)):
        raise error(name, value, what)
    if low is not None and not (v >= low if low_inclusive else v > low) or (high is not None and v > high):
        raise error(name, value, range_what or what)
    return v


def check_choice(value: Any, name: str, choices: tuple[str, ...], what: str | None = None) -> str:
    """One of ``choices``; ``what`` defaults to ``"one of 'a', 'b'"``."""
    if value not in choices:
        raise error(name, value, what or f"one of {', '.join(repr(c) for c in choices)}")
    return str(value)


def check_instance(value: Any, name: str, cls: type[T], what: str) -> T:
    """An instance of ``cls`` (`ConfigTypeError` saying ``what`` otherwise)."""
    if not isinstance(value, cls):
        raise error(name, value, what, cls=ConfigTypeError)
    return value


def check_items(value: Any, name: str, what: str) -> list[Any]:
    """The items of an iterable that is not a string, as a list
    (`ConfigTypeError` saying ``what`` otherwise: a str is one name, not many)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise error(name, value, what, got=f"{value!r:.80}", cls=ConfigTypeError)
    try:
        return list(value)
    except TypeError as e:  # e.g. a 0-d numpy array
        raise error(name, value, what, got=f"{value!r:.80}", cls=ConfigTypeError) from e


def as_array(field: str, values: Any) -> npt.NDArray[Any]:
    """``np.asarray(values)``, or `ConfigTypeError` where numpy cannot make
    an array of it (ragged lists, integers past 64 bits in a list, ...)."""
    try:
        return np.asarray(values)
    except Exception as e:
        raise error(field, values, "an array of integers", got=f"{values!r:.80}", cls=ConfigTypeError) from e


def int_array(field: str, values: Any, length: int, ndim: int = 1) -> npt.NDArray[np.int64]:
    """`values` as a contiguous int64 array of whole numbers, ``length`` per
    row. An empty array of any dtype (``[]`` is float64 to numpy) is a valid
    empty int64 array."""
    arr = as_array(field, values)
    if arr.ndim != ndim:
        shape = "(vms,)" if ndim == 1 else "(ticks, vms)"
        raise ConfigError(f"{field} must have shape {shape}, got shape {arr.shape}", field, arr.shape)
    if arr.shape[-1] != length:
        raise ConfigError(
            f"{field} must have one entry per VM ({length}), got length {arr.shape[-1]}", field, arr.shape[-1]
        )
    kind = arr.dtype.kind
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.int64)
    if kind == "u":
        big = arr > np.iinfo(np.int64).max
        if big.any():
            bad_entry(field, arr, big, "is out of range")
    elif kind != "i":
        # As for single values (`vm.demand_mb = 2.0` is a type error), only
        # integers are MB; convert whole floats with `.astype(np.int64)`.
        raise ConfigTypeError(
            f"{field} must be an array of integers (whole MB), got dtype {arr.dtype}", field, str(arr.dtype)
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def bad_entry(field: str, arr: npt.NDArray[Any], bad: npt.NDArray[np.bool_], what: str) -> None:
    """Raises ConfigError naming the first flagged entry, e.g. ``demand_mb[3, 1]``."""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    name = f"{field}[{', '.join(map(str, idx))}]"
    value = arr[idx].item()
    raise ConfigError(f"{name} {what}, got {value!r}", name, value)


def rint_int64(
    values: npt.ArrayLike, low: int, high: int, fail: Callable[[int, float], ConfigError]
) -> npt.NDArray[np.int64]:
    """Real values rounded to the nearest integer (`numpy.rint`, ties to
    even) as int64: the one place floats become integer MB. A value that is
    NaN or outside ``[low, high]`` after rounding raises ``fail(i, v)`` for
    the first such flat index ``i`` and value ``v`` (the caller names the
    field at fault), never a wrapped or ``INT64_MIN`` entry."""
    arr = np.rint(np.asarray(values, dtype=np.float64))
    bad = ~((arr >= low) & (arr <= high))  # NaN compares false
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        raise fail(i, float(arr.reshape(-1)[i]))
    return arr.astype(np.int64)


def available_bytes() -> int | None:
    """Memory the machine can still give this process (Linux's MemAvailable),
    or None where that is unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Raises `MemoryError` saying how much, before ``what`` allocates
    ``nbytes`` bytes the machine does not have (rather than letting the
    allocation succeed on overcommit and the process be killed)."""
    have = available_bytes()
    if have is not None and nbytes > have:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:.1f} GiB ({nbytes} bytes), more than the "
            f"{have / 2**30:.1f} GiB of memory available"
        )


def vm_columns(
    n: int,
    startup_mb: Any,
    maximum_mb: Any,
    minimum_mb: Any,
    buffer_pct: Any,
    weight: Any,
    dynamic: Any,
    max_maximum_mb: int,
) -> tuple[npt.NDArray[Any], ...]:
    """The six settings of ``n`` VMs as the binding's ``add_vms`` takes them
    (scalars broadcast; ``minimum_mb=None`` as -1, "equal to startup"), or a
    typed error naming the field and the entry: `Host.add_vms` and
    `Fleet.add_vms` share it."""

    def column(field: str, value: Any) -> npt.NDArray[np.int64]:
        arr = as_array(field, value)
        if arr.ndim == 0:
            arr = np.full(n, arr)
        return int_array(field, arr, n)

    if minimum_mb is None:
        minimum = np.full(n, -1, dtype=np.int64)
    else:
        minimum = column("minimum_mb", minimum_mb)
        if (minimum < 0).any():
            bad_entry("minimum_mb", minimum, minimum < 0, f"must be between 32 and {max_maximum_mb} MB")
    dyn = as_array("dynamic", dynamic)
    if dyn.shape == (0,):  # [] is float64 to numpy: a valid empty bool array
        dyn = dyn.astype(np.bool_)
    if dyn.dtype != np.bool_:
        raise ConfigTypeError(f"dynamic must be True/False or a bool array, got {dynamic!r:.80}", "dynamic", dynamic)
    if dyn.ndim > 1 or (dyn.ndim == 1 and dyn.shape[0] != n):
        raise ConfigError(f"dynamic must have one entry per name ({n}), got shape {dyn.shape}", "dynamic", dyn.shape)
    return (
        column("startup_mb", startup_mb),
        column("maximum_mb", maximum_mb),
        minimum,
        column("buffer_pct", buffer_pct),
        column("weight", weight),
        np.ascontiguousarray(np.broadcast_to(dyn, (n,))),
    )
