"""Seeded per-VM memory-demand generators.

Every generator returns a one-dimensional ``numpy.int64`` array of demand in
whole MB, one entry per tick (shape ``(ticks,)``), for a single VM.
:func:`stack` joins several such series into the ``(ticks, vms)`` array the
simulator consumes::

    from dynmem import workloads as w

    demand_mb = w.stack(
        w.constant(1440, 1024),
        w.diurnal(1440, 2048, 1024, period_ticks=1440, noise_mb=64, seed=1),
        w.bursts(1440, 512, 3072, rate_per_tick=0.01, mean_length_ticks=30, seed=2),
    )  # shape (1440, 3), int64, MB

Conventions shared by all generators:

* ``ticks`` is the length of the series, a positive integer. What a tick means
  in seconds is up to the caller (the generators are unit-free in time).
* Arguments whose names end in ``_mb`` are whole MB (Python or numpy
  integers), ``0 <= x <= MAX_DEMAND_MB`` (the balancer's demand limit,
  2**32 - 1), except ``noise_mb`` which is a standard deviation and may be any
  finite real ``>= 0``.
* Output is never negative and never above ``MAX_DEMAND_MB``; where a
  generator's formula can leave that range (noise, a sine wave below zero) the
  value is clipped, as documented on the generator.
* Real-valued intermediates are rounded to whole MB with ``numpy.rint``
  (nearest, ties to even) unless a generator says otherwise.
* Randomness comes only from ``numpy.random.default_rng(seed)``: the same
  arguments and seed give a bit-identical array on every run and platform
  supported by numpy's PCG64; a different seed gives (almost surely) a
  different array. ``seed=None`` draws fresh OS entropy and is therefore not
  reproducible.
* Bad arguments raise :class:`dynmem.ConfigError` (a ``ValueError``; wrong
  types raise its subclass ``ConfigTypeError``, also a ``TypeError``) whose
  message names the argument and the value, e.g.
  ``ticks must be a positive integer, got -3``; ``err.field`` is the argument
  name and ``err.value`` the offending value.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

from . import _dynmem
from ._validate import MAX_TICKS, check_int, check_real, error, rint_int64
from .errors import ConfigError, ConfigTypeError

__all__ = [
    "MAX_DEMAND_MB",
    "constant",
    "step",
    "ramp",
    "diurnal",
    "random_walk",
    "bursts",
    "replay",
    "stack",
]

MAX_DEMAND_MB: int = _dynmem.MAX_DEMAND_MB
"""Largest demand the balancer accepts, in MB (``demand_mb`` is 0..=2**32-1)."""

#: Largest series length accepted; keeps every intermediate product of the
#: integer arithmetic below within int64.
_MAX_TICKS: int = MAX_TICKS


def _check_ticks(ticks: Any, name: str = "ticks") -> int:
    n = check_int(ticks, name, "a positive integer", low=1)
    if n > _MAX_TICKS:
        raise error(name, ticks, f"at most {_MAX_TICKS}", got=str(ticks))
    return n


def _check_mb(value: Any, name: str) -> int:
    return check_int(
        value,
        name,
        "a whole number of MB (an integer)",
        low=0,
        high=MAX_DEMAND_MB,
        range_what=f"between 0 and {MAX_DEMAND_MB} MB",
    )


def _check_tick_index(value: Any, name: str) -> int:
    return check_int(value, name, "a non-negative integer tick index", low=0, high=_MAX_TICKS)


def _check_seed(seed: Any) -> int | None:
    return None if seed is None else check_int(seed, "seed", "a non-negative integer or None", low=0)


def _finish(
    values_mb: npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]],
    fail: Callable[[int, float], ConfigError] | None = None,
) -> npt.NDArray[np.int64]:
    """Clip to ``[0, MAX_DEMAND_MB]``, round (if real) and return int64; a
    real value that is not a number raises ``fail(tick, value)``."""
    arr = np.clip(np.asarray(values_mb), 0, MAX_DEMAND_MB)
    if arr.dtype.kind == "f":
        assert fail is not None
        return rint_int64(arr, 0, MAX_DEMAND_MB, fail)
    return arr.astype(np.int64)


# --------------------------------------------------------------------------
# deterministic generators
# --------------------------------------------------------------------------


def constant(ticks: int, demand_mb: int) -> npt.NDArray[np.int64]:
    """Constant demand: ``demand_mb`` MB on every tick.

    Args:
        ticks: series length, a positive integer.
        demand_mb: demand in whole MB, ``0..=MAX_DEMAND_MB``.

    Returns:
        ``int64`` array of shape ``(ticks,)``, MB.
    """
    n = _check_ticks(ticks)
    d = _check_mb(demand_mb, "demand_mb")
    return np.full(n, d, dtype=np.int64)


def step(ticks: int, before_mb: int, after_mb: int, at_tick: int) -> npt.NDArray[np.int64]:
    """A single step: ``before_mb`` on ticks ``< at_tick``, ``after_mb`` from
    ``at_tick`` on.

    Args:
        ticks: series length, a positive integer.
        before_mb: demand before the step, whole MB.
        after_mb: demand from the step on, whole MB.
        at_tick: index of the first tick at ``after_mb``; ``0..=ticks``
            (``0`` gives all ``after_mb``, ``ticks`` gives all ``before_mb``).

    Returns:
        ``int64`` array of shape ``(ticks,)``, MB.
    """
    n = _check_ticks(ticks)
    b = _check_mb(before_mb, "before_mb")
    a = _check_mb(after_mb, "after_mb")
    at = _check_tick_index(at_tick, "at_tick")
    if at > n:
        raise ConfigError(
            f"at_tick must be between 0 and ticks ({n}), got {at}", field="at_tick", value=at_tick
        )
    out = np.full(n, b, dtype=np.int64)
    out[at:] = a
    return out


def ramp(
    ticks: int,
    start_mb: int,
    end_mb: int,
    start_tick: int = 0,
    end_tick: int | None = None,
) -> npt.NDArray[np.int64]:
    """A linear ramp from ``start_mb`` at ``start_tick`` to ``end_mb`` at
    ``end_tick``, flat before and after.

    Tick ``t`` (``start_tick <= t <= end_tick``) gets
    ``start_mb + (end_mb - start_mb) * (t - start_tick) / (end_tick - start_tick)``
    rounded to the nearest MB with ties rounded up (exact integer arithmetic,
    no floating point), so both end points are hit exactly. Ticks before
    ``start_tick`` hold ``start_mb``; ticks after ``end_tick`` hold ``end_mb``.
    ``start_tick == end_tick`` is a step to ``end_mb`` at that tick.

    Args:
        ticks: series length, a positive integer.
        start_mb: demand at and before ``start_tick``, whole MB.
        end_mb: demand at and after ``end_tick``, whole MB.
        start_tick: first tick of the ramp, ``>= 0``.
        end_tick: last tick of the ramp, ``>= start_tick``; default
            ``ticks - 1``. It may lie beyond the series, in which case the ramp
            is cut off at the last tick.

    Returns:
        ``int64`` array of shape ``(ticks,)``, MB.
    """
    n = _check_ticks(ticks)
    s_mb = _check_mb(start_mb, "start_mb")
    e_mb = _check_mb(end_mb, "end_mb")
    t0 = _check_tick_index(start_tick, "start_tick")
    t1 = n - 1 if end_tick is None else _check_tick_index(end_tick, "end_tick")
    if t1 < t0:
        raise ConfigError(
            f"end_tick must be >= start_tick ({t0}), got {t1}", field="end_tick", value=end_tick
        )
    t = np.arange(n, dtype=np.int64)
    if t1 == t0:
        return np.where(t < t0, s_mb, e_mb).astype(np.int64)
    span = t1 - t0
    pos = np.clip(t - t0, 0, span)  # 0..span
    # round(delta * pos / span) with ties up, in exact integer arithmetic.
    # Split delta = q * span + r (0 <= r < span) so the products stay below
    # 2**63: q * pos is exact, and floor((2*r*pos + span) / (2*span)) rounds
    # the remainder r * pos / span (r, pos < 2**31).
    q, r = divmod(e_mb - s_mb, span)
    out = s_mb + q * pos + np.floor_divide(2 * r * pos + span, 2 * span)
    return out.astype(np.int64)


def diurnal(
    ticks: int,
    base_mb: int,
    amplitude_mb: int,
    period_ticks: float,
    phase_ticks: float = 0,
    noise_mb: float = 0,
    seed: int | None = None,
) -> npt.NDArray[np.int64]:
    """A daily-cycle sine wave with optional Gaussian noise.

    Tick ``t`` gets
    ``base_mb + amplitude_mb * sin(2*pi*(t + phase_ticks) / period_ticks) + e_t``,
    ``e_t ~ Normal(0, noise_mb)`` independent per tick, rounded to the nearest
    MB (ties to even) and clipped to ``[0, MAX_DEMAND_MB]`` (the clip only
    matters when ``amplitude_mb`` or the noise exceeds ``base_mb``). With
    ``phase_ticks = 0`` the wave starts at ``base_mb`` rising and peaks at
    ``t = period_ticks / 4``.

    Args:
        ticks: series length, a positive integer.
        base_mb: mean demand, whole MB.
        amplitude_mb: half the peak-to-trough swing, whole MB.
        period_ticks: length of one cycle in ticks, a finite number ``> 0``
            and at least ``ticks / 1e307`` (so that the wave's argument is a
            finite number; e.g. 1440 for one-minute ticks and a 24 h day).
        phase_ticks: shift of the wave in ticks (positive moves it earlier),
            any finite number; only its remainder modulo ``period_ticks``
            (``math.fmod``, exact) matters.
        noise_mb: standard deviation of the per-tick noise in MB, finite,
            ``>= 0``; ``0`` (default) gives a noise-free, seed-independent wave.
        seed: seed for ``numpy.random.default_rng``; only used when
            ``noise_mb > 0``. ``None`` is not reproducible.

    Returns:
        ``int64`` array of shape ``(ticks,)``, MB.
    """
    n = _check_ticks(ticks)
    base = _check_mb(base_mb, "base_mb")
    amp = _check_mb(amplitude_mb, "amplitude_mb")
    period = check_real(
        period_ticks, "period_ticks", low=0.0, low_inclusive=False, what="a finite number > 0"
    )
    if period < n / 1e307:  # 2*pi*(t + phase) / period would overflow to inf, its sine NaN
        raise error("period_ticks", period_ticks, f"at least ticks / 1e307 ({n / 1e307:g})")
    # The wave has period `period` in the phase too: reducing it exactly
    # keeps t + phase below ticks + period, so a huge phase cannot overflow.
    phase = math.fmod(check_real(phase_ticks, "phase_ticks", what="a finite number"), period)
    noise = check_real(noise_mb, "noise_mb", low=0.0, what="a finite number >= 0")
    sd = _check_seed(seed)
    t = np.arange(n, dtype=np.float64)
    values = base + amp * np.sin(2.0 * np.pi * (t + phase) / period)
    if noise > 0.0:
        rng = np.random.default_rng(sd)
        values = values + rng.normal(0.0, noise, size=n)
    return _finish(
        values,
        lambda i, v: error("period_ticks", period_ticks, f"a period giving a number on every tick (tick {i}: {v!r})"),
    )


# --------------------------------------------------------------------------
# random generators
# --------------------------------------------------------------------------


def random_walk(
    ticks: int,
    start_mb: int,
    step_mb: int,
    low_mb: int,
    high_mb: int,
    seed: int | None,
) -> npt.NDArray[np.int64]:
    """A bounded integer random walk with reflecting boundaries.

    Tick 0 is ``start_mb``. Each following tick moves by an independent step
    drawn uniformly from the integers ``-step_mb..=step_mb``. The walk is kept
    in ``[low_mb, high_mb]`` by reflection: a move that would cross a bound by
    ``k`` MB ends ``k`` MB inside it (implemented exactly by folding the free
    walk, so it is vectorised and needs no loop).

    Args:
        ticks: series length, a positive integer.
        start_mb: demand at tick 0, whole MB, ``low_mb <= start_mb <= high_mb``.
        step_mb: largest move per tick, whole MB, ``>= 0``.
        low_mb: lower bound, whole MB.
        high_mb: upper bound, whole MB, ``>= low_mb``.
        seed: seed for ``numpy.random.default_rng`` (non-negative integer);
            ``None`` is not reproducible.

    Returns:
        ``int64`` array of shape ``(ticks,)``, MB.
    """
    n = _check_ticks(ticks)
    start = _check_mb(start_mb, "start_mb")
    stp = _check_mb(step_mb, "step_mb")
    low = _check_mb(low_mb, "low_mb")
    high = _check_mb(high_mb, "high_mb")
    sd = _check_seed(seed)
    if high < low:
        raise ConfigError(
            f"high_mb must be >= low_mb ({low}), got {high}", field="high_mb", value=high_mb
        )
    if not low <= start <= high:
        raise ConfigError(
            f"start_mb must be between low_mb ({low}) and high_mb ({high}), got {start}",
            field="start_mb",
            value=start_mb,
        )
    rng = np.random.default_rng(sd)
    steps = rng.integers(-stp, stp, size=n - 1, endpoint=True, dtype=np.int64)
    width = high - low
    if width == 0:
        return np.full(n, low, dtype=np.int64)
    free = np.empty(n, dtype=np.int64)
    free[0] = start - low
    np.cumsum(steps, out=free[1:])
    free[1:] += start - low
    # Fold onto [0, width]: a reflecting walk is the free walk folded with
    # period 2 * width.
    folded = np.mod(free, 2 * width)
    folded = np.where(folded > width, 2 * width - folded, folded)
    return (folded + low).astype(np.int64)


def bursts(
    ticks: int,
    base_mb: int,
    burst_mb: int,
    rate_per_tick: float,
    mean_length_ticks: float,
    seed: int | None,
) -> npt.NDArray[np.int64]:
    """A flat base load with random bursts on top.

    A burst starts on each tick independently with probability
    ``rate_per_tick`` (a Bernoulli process, the discrete Poisson process) and
    lasts a geometrically distributed number of ticks (``>= 1``) with mean
    ``mean_length_ticks``, starting tick included. While at least one burst is
    active the demand is ``base_mb + burst_mb``, otherwise ``base_mb``:
    overlapping bursts merge rather than stack, so the series only ever takes
    these two values (clipped to ``MAX_DEMAND_MB``).

    Draw order (fixed, so a seed pins the series): one uniform per tick for the
    starts, then one geometric length per start in tick order.

    Args:
        ticks: series length, a positive integer.
        base_mb: demand outside bursts, whole MB.
        burst_mb: extra demand during a burst, whole MB.
        rate_per_tick: probability a burst starts on a given tick,
            ``0 <= rate_per_tick <= 1``.
        mean_length_ticks: mean burst length in ticks, a finite number ``>= 1``.
        seed: seed for ``numpy.random.default_rng`` (non-negative integer);
            ``None`` is not reproducible.

    Returns:
        ``int64`` array of shape ``(ticks,)``, MB.
    """
    n = _check_ticks(ticks)
    base = _check_mb(base_mb, "base_mb")
    extra = _check_mb(burst_mb, "burst_mb")
    rate = check_real(
        rate_per_tick, "rate_per_tick", low=0.0, high=1.0, what="a probability between 0 and 1"
    )
    mean_len = check_real(
        mean_length_ticks, "mean_length_ticks", low=1.0, what="a finite number >= 1"
    )
    sd = _check_seed(seed)
    rng = np.random.default_rng(sd)
    starts = np.flatnonzero(rng.random(n) < rate)
    lengths = rng.geometric(1.0 / mean_len, size=starts.size).astype(np.int64)
    edges = np.zeros(n + 1, dtype=np.int64)
    np.add.at(edges, starts, 1)
    # A huge mean saturates the draws at INT64_MAX: cap them at the series
    # length before adding, so nothing wraps.
    np.add.at(edges, starts + np.minimum(lengths, n - starts), -1)
    active = np.cumsum(edges[:n]) > 0
    out = np.where(active, base + extra, base)
    return _finish(out)


# --------------------------------------------------------------------------
# replay and stacking
# --------------------------------------------------------------------------


def _as_series(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    """Validate an array-like of whole-MB demands and return it as int64."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested sequences etc.
        raise ConfigTypeError(
            f"{name} must be a one-dimensional sequence of whole MB, got {values!r} ({exc})",
            field=name,
            value=values,
        ) from exc
    if arr.dtype.kind not in "iuf":
        kinds = {"b": "booleans", "U": "strings (str)", "S": "bytes", "O": "Python objects"}
        raise ConfigTypeError(
            f"{name} must contain numbers (integer MB), got "
            f"{kinds.get(arr.dtype.kind, 'values')} of dtype {arr.dtype}",
            field=name,
            value=values,
        )
    if arr.ndim != 1:
        raise ConfigError(
            f"{name} must be one-dimensional (one VM's demand per tick), got shape {arr.shape}",
            field=name,
            value=values,
        )
    if arr.size == 0:
        raise ConfigError(f"{name} must not be empty, got {arr.size} values", field=name, value=values)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConfigError(
                f"{name}[{i}] must be a finite whole number of MB, got {arr[i].item()!r}",
                field=name,
                value=arr[i].item(),
            )
        frac = arr != np.floor(arr)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise ConfigError(
                f"{name}[{i}] must be a whole number of MB, got {arr[i].item()!r} "
                "(round the values first if that is intended)",
                field=name,
                value=arr[i].item(),
            )
    out_of_range = (arr < 0) | (arr > MAX_DEMAND_MB)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise ConfigError(
            f"{name}[{i}] must be between 0 and {MAX_DEMAND_MB} MB, got {arr[i].item()!r}",
            field=name,
            value=arr[i].item(),
        )
    return arr.astype(np.int64)


def replay(values: npt.ArrayLike, ticks: int | None = None) -> npt.NDArray[np.int64]:
    """Replay a recorded demand series.

    ``values`` is validated rather than coerced: it must be a non-empty
    one-dimensional array-like of numbers, each a whole number of MB (integer
    dtype, or floats with no fractional part) in ``0..=MAX_DEMAND_MB``.
    Anything else raises :class:`ConfigError` naming the first bad index,
    e.g. ``values[3] must be a whole number of MB, got 100.5``.

    Args:
        values: one VM's demand per tick, whole MB.
        ticks: output length; ``None`` (default) keeps ``len(values)``. A
            longer ``ticks`` repeats ``values`` cyclically (tiling); a shorter
            one truncates.

    Returns:
        A new ``int64`` array of shape ``(ticks,)`` (or ``(len(values),)``), MB.
    """
    arr = _as_series(values, "values")
    if ticks is None:
        return arr.copy()
    n = _check_ticks(ticks)
    if n <= arr.size:
        return arr[:n].copy()
    return np.resize(arr, n).astype(np.int64)  # np.resize tiles cyclically


def stack(*series: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Stack per-VM series into the simulator's ``(ticks, vms)`` demand array.

    Args:
        *series: one or more one-dimensional whole-MB series of equal length,
            one per VM, in VM order (validated like :func:`replay`).

    Returns:
        C-contiguous ``int64`` array of shape ``(ticks, len(series))``, MB.
    """
    if not series:
        raise ConfigError("stack needs at least one series, got 0", field="series", value=0)
    cols = [_as_series(s, f"series[{i}]") for i, s in enumerate(series)]
    lengths = {c.size for c in cols}
    if len(lengths) != 1:
        detail = ", ".join(f"series[{i}]: {c.size}" for i, c in enumerate(cols))
        raise ConfigError(
            f"all series must have the same number of ticks, got lengths {detail}",
            field="series",
            value=[c.size for c in cols],
        )
    return np.ascontiguousarray(np.column_stack(cols), dtype=np.int64)
