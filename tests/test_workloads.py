"""Tests for dynmem.workloads: seeded per-VM demand generators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dynmem import workloads as w
from dynmem import ConfigError

MAX = w.MAX_DEMAND_MB

# Each random generator with a seed keyword, for the reproducibility tests.
SEEDED: dict[str, Callable[[int], np.ndarray]] = {
    "diurnal": lambda seed: w.diurnal(500, 2048, 512, 96, noise_mb=100.0, seed=seed),
    "random_walk": lambda seed: w.random_walk(500, 1000, 50, 500, 1500, seed=seed),
    "bursts": lambda seed: w.bursts(500, 512, 1024, 0.05, 5, seed=seed),
}

# Every generator with valid arguments, for shape / dtype / sign checks.
ALL: dict[str, Callable[[], np.ndarray]] = {
    "constant": lambda: w.constant(100, 512),
    "step": lambda: w.step(100, 512, 2048, 40),
    "ramp": lambda: w.ramp(100, 4096, 0),
    "diurnal": lambda: w.diurnal(100, 100, 400, 24, noise_mb=50, seed=1),
    "random_walk": lambda: w.random_walk(100, 10, 20, 0, 50, seed=2),
    "bursts": lambda: w.bursts(100, 0, 300, 0.2, 3, seed=3),
    "replay": lambda: w.replay([5, 6, 7], ticks=100),
}


# --------------------------------------------------------------------------
# reproducibility, shape, sign
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_same_seed_gives_identical_output(name: str) -> None:
    a = SEEDED[name](42)
    b = SEEDED[name](42)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(SEEDED))
def test_different_seeds_differ(name: str) -> None:
    assert not np.array_equal(SEEDED[name](1), SEEDED[name](2))


def test_seeded_output_is_pinned() -> None:
    # Guards the documented draw order: changing it would silently change
    # every seeded experiment.
    np.testing.assert_array_equal(
        w.random_walk(8, 5, 3, 0, 10, seed=1), np.array([5, 5, 5, 7, 10, 7, 5, 7])
    )


@pytest.mark.parametrize("name", sorted(ALL))
def test_shape_dtype_non_negative(name: str) -> None:
    out = ALL[name]()
    assert isinstance(out, np.ndarray)
    assert out.shape == (100,)
    assert out.dtype == np.int64
    assert out.min() >= 0
    assert out.max() <= MAX


# --------------------------------------------------------------------------
# exact values of the deterministic generators
# --------------------------------------------------------------------------


def test_constant() -> None:
    np.testing.assert_array_equal(w.constant(3, 7), [7, 7, 7])
    np.testing.assert_array_equal(w.constant(1, 0), [0])


def test_step() -> None:
    np.testing.assert_array_equal(w.step(5, 1, 9, 2), [1, 1, 9, 9, 9])
    np.testing.assert_array_equal(w.step(3, 1, 9, 0), [9, 9, 9])
    np.testing.assert_array_equal(w.step(3, 1, 9, 3), [1, 1, 1])


def test_ramp_rounding_and_flat_ends() -> None:
    # 0, 2.5, 5, 7.5, 10 with ties rounded up.
    np.testing.assert_array_equal(w.ramp(5, 0, 10), [0, 3, 5, 8, 10])
    # Downward ramp between ticks 1 and 4, flat outside: 100, 66.7, 33.3, 0.
    np.testing.assert_array_equal(w.ramp(7, 100, 0, 1, 4), [100, 100, 67, 33, 0, 0, 0])
    # start_tick == end_tick is a step at that tick.
    np.testing.assert_array_equal(w.ramp(4, 5, 9, 2, 2), [5, 5, 9, 9])
    # end_tick beyond the series: cut off.
    np.testing.assert_array_equal(w.ramp(3, 0, 100, 0, 10), [0, 10, 20])


def test_ramp_extreme_values_are_exact() -> None:
    out = w.ramp(3, 0, MAX, 0, 2**31 - 1)
    np.testing.assert_array_equal(out, [0, 2, 4])
    out = w.ramp(2, MAX, 0)
    np.testing.assert_array_equal(out, [MAX, 0])


def test_diurnal_noise_free_values() -> None:
    out = w.diurnal(8, 100, 50, 8)
    # 100 + 50 sin(2 pi t / 8): 100, 135.4, 150, 135.4, 100, 64.6, 50, 64.6
    np.testing.assert_array_equal(out, [100, 135, 150, 135, 100, 65, 50, 65])
    # phase shifts the wave earlier by phase_ticks.
    np.testing.assert_array_equal(w.diurnal(4, 100, 50, 8, phase_ticks=2), [150, 135, 100, 65])
    # noise_mb=0 ignores the seed.
    np.testing.assert_array_equal(w.diurnal(8, 100, 50, 8, seed=1), w.diurnal(8, 100, 50, 8, seed=2))


def test_diurnal_clips_at_zero() -> None:
    out = w.diurnal(8, 10, 50, 8)
    assert out.min() == 0
    np.testing.assert_array_equal(out, [10, 45, 60, 45, 10, 0, 0, 0])


def test_random_walk_bounds_and_steps() -> None:
    out = w.random_walk(5000, 50, 7, 40, 60, seed=9)
    assert out[0] == 50
    assert out.min() >= 40 and out.max() <= 60
    assert np.abs(np.diff(out)).max() <= 7
    assert out.min() == 40 and out.max() == 60  # it does reach both bounds
    np.testing.assert_array_equal(w.random_walk(4, 5, 3, 5, 5, seed=1), [5, 5, 5, 5])
    np.testing.assert_array_equal(w.random_walk(4, 5, 0, 0, 9, seed=1), [5, 5, 5, 5])


def test_bursts_two_levels_and_edge_rates() -> None:
    out = w.bursts(2000, 100, 50, 0.02, 10, seed=4)
    assert set(np.unique(out).tolist()) == {100, 150}
    np.testing.assert_array_equal(w.bursts(10, 100, 50, 0.0, 3, seed=1), np.full(10, 100))
    np.testing.assert_array_equal(w.bursts(10, 100, 50, 1.0, 1, seed=1), np.full(10, 150))
    # Mean burst fraction is roughly rate * mean_length / (1 + rate * mean_length).
    frac = (w.bursts(200_000, 0, 1, 0.01, 10, seed=5) == 1).mean()
    assert 0.07 < frac < 0.11


def test_replay_validates_tiles_truncates_and_copies() -> None:
    src = np.array([1, 2, 3], dtype=np.int64)
    out = w.replay(src)
    np.testing.assert_array_equal(out, [1, 2, 3])
    out[0] = 99
    assert src[0] == 1  # a copy, not a view
    np.testing.assert_array_equal(w.replay([1, 2, 3], ticks=7), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(w.replay((1, 2, 3), ticks=2), [1, 2])
    np.testing.assert_array_equal(w.replay([1.0, 2.0]), [1, 2])
    assert w.replay(np.array([4], dtype=np.uint8)).dtype == np.int64


def test_stack_shape_and_order() -> None:
    a, b = w.constant(4, 1), w.step(4, 2, 3, 2)
    out = w.stack(a, b, [7, 8, 9, 10])
    assert out.shape == (4, 3)
    assert out.dtype == np.int64
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out[:, 1], [2, 2, 3, 3])
    np.testing.assert_array_equal(out[:, 2], [7, 8, 9, 10])


# --------------------------------------------------------------------------
# every bad argument -> ConfigError naming it and its value
# --------------------------------------------------------------------------

BAD: list[tuple[str, Callable[..., Any], dict[str, Any], str, Any]] = [
    # (id, function, kwargs, offending argument, offending value)
    ("ticks-neg", w.constant, dict(ticks=-3, demand_mb=1), "ticks", -3),
    ("ticks-zero", w.constant, dict(ticks=0, demand_mb=1), "ticks", 0),
    ("ticks-float", w.constant, dict(ticks=3.0, demand_mb=1), "ticks", 3.0),
    ("ticks-bool", w.constant, dict(ticks=True, demand_mb=1), "ticks", True),
    ("ticks-str", w.constant, dict(ticks="5", demand_mb=1), "ticks", "5"),
    ("demand-neg", w.constant, dict(ticks=3, demand_mb=-1), "demand_mb", -1),
    ("demand-huge", w.constant, dict(ticks=3, demand_mb=2**32), "demand_mb", 2**32),
    ("demand-float", w.constant, dict(ticks=3, demand_mb=1.5), "demand_mb", 1.5),
    ("before", w.step, dict(ticks=3, before_mb=-5, after_mb=1, at_tick=1), "before_mb", -5),
    ("after", w.step, dict(ticks=3, before_mb=1, after_mb=-6, at_tick=1), "after_mb", -6),
    ("at-neg", w.step, dict(ticks=3, before_mb=1, after_mb=1, at_tick=-1), "at_tick", -1),
    ("at-big", w.step, dict(ticks=3, before_mb=1, after_mb=1, at_tick=4), "at_tick", 4),
    ("ramp-start", w.ramp, dict(ticks=3, start_mb=-1, end_mb=1), "start_mb", -1),
    ("ramp-end", w.ramp, dict(ticks=3, start_mb=1, end_mb=-2), "end_mb", -2),
    ("ramp-t0", w.ramp, dict(ticks=3, start_mb=1, end_mb=2, start_tick=-1), "start_tick", -1),
    (
        "ramp-t1",
        w.ramp,
        dict(ticks=9, start_mb=1, end_mb=2, start_tick=5, end_tick=4),
        "end_tick",
        4,
    ),
    ("di-base", w.diurnal, dict(ticks=3, base_mb=-1, amplitude_mb=1, period_ticks=4), "base_mb", -1),
    ("di-amp", w.diurnal, dict(ticks=3, base_mb=1, amplitude_mb=-7, period_ticks=4), "amplitude_mb", -7),
    ("di-period0", w.diurnal, dict(ticks=3, base_mb=1, amplitude_mb=1, period_ticks=0), "period_ticks", 0),
    (
        "di-period-nan",
        w.diurnal,
        dict(ticks=3, base_mb=1, amplitude_mb=1, period_ticks=float("nan")),
        "period_ticks",
        "nan",
    ),
    (
        "di-phase",
        w.diurnal,
        dict(ticks=3, base_mb=1, amplitude_mb=1, period_ticks=4, phase_ticks=float("inf")),
        "phase_ticks",
        "inf",
    ),
    (
        "di-noise",
        w.diurnal,
        dict(ticks=3, base_mb=1, amplitude_mb=1, period_ticks=4, noise_mb=-0.5),
        "noise_mb",
        -0.5,
    ),
    (
        "di-seed",
        w.diurnal,
        dict(ticks=3, base_mb=1, amplitude_mb=1, period_ticks=4, noise_mb=1, seed=-4),
        "seed",
        -4,
    ),
    (
        "rw-start",
        w.random_walk,
        dict(ticks=3, start_mb=11, step_mb=1, low_mb=0, high_mb=10, seed=1),
        "start_mb",
        11,
    ),
    (
        "rw-step",
        w.random_walk,
        dict(ticks=3, start_mb=1, step_mb=-2, low_mb=0, high_mb=10, seed=1),
        "step_mb",
        -2,
    ),
    (
        "rw-low",
        w.random_walk,
        dict(ticks=3, start_mb=1, step_mb=1, low_mb=-3, high_mb=10, seed=1),
        "low_mb",
        -3,
    ),
    (
        "rw-high",
        w.random_walk,
        dict(ticks=3, start_mb=5, step_mb=1, low_mb=5, high_mb=4, seed=1),
        "high_mb",
        4,
    ),
    (
        "rw-seed",
        w.random_walk,
        dict(ticks=3, start_mb=5, step_mb=1, low_mb=0, high_mb=9, seed="x"),
        "seed",
        "x",
    ),
    (
        "b-base",
        w.bursts,
        dict(ticks=3, base_mb=-1, burst_mb=1, rate_per_tick=0.1, mean_length_ticks=2, seed=1),
        "base_mb",
        -1,
    ),
    (
        "b-burst",
        w.bursts,
        dict(ticks=3, base_mb=1, burst_mb=-8, rate_per_tick=0.1, mean_length_ticks=2, seed=1),
        "burst_mb",
        -8,
    ),
    (
        "b-rate",
        w.bursts,
        dict(ticks=3, base_mb=1, burst_mb=1, rate_per_tick=1.5, mean_length_ticks=2, seed=1),
        "rate_per_tick",
        1.5,
    ),
    (
        "b-rate-neg",
        w.bursts,
        dict(ticks=3, base_mb=1, burst_mb=1, rate_per_tick=-0.1, mean_length_ticks=2, seed=1),
        "rate_per_tick",
        -0.1,
    ),
    (
        "b-len",
        w.bursts,
        dict(ticks=3, base_mb=1, burst_mb=1, rate_per_tick=0.1, mean_length_ticks=0.5, seed=1),
        "mean_length_ticks",
        0.5,
    ),
    (
        "b-seed",
        w.bursts,
        dict(ticks=3, base_mb=1, burst_mb=1, rate_per_tick=0.1, mean_length_ticks=2, seed=1.5),
        "seed",
        1.5,
    ),
    ("r-frac", w.replay, dict(values=[1, 2.5]), "values[1]", 2.5),
    ("r-neg", w.replay, dict(values=[1, 2, -3]), "values[2]", -3),
    ("r-nan", w.replay, dict(values=[float("nan")]), "values[0]", "nan"),
    ("r-huge", w.replay, dict(values=[2**32]), "values[0]", 2**32),
    ("r-empty", w.replay, dict(values=[]), "values", 0),
    ("r-2d", w.replay, dict(values=[[1, 2], [3, 4]]), "values", "(2, 2)"),
    ("r-str", w.replay, dict(values=["a", "b"]), "values", "str"),
    ("r-bool", w.replay, dict(values=[True, False]), "values", "bool"),
    ("r-ticks", w.replay, dict(values=[1, 2], ticks=0), "ticks", 0),
]


@pytest.mark.parametrize(
    ("func", "kwargs", "arg", "value"),
    [pytest.param(f, k, a, v, id=i) for i, f, k, a, v in BAD],
)
def test_bad_argument_raises_config_error_naming_it(
    func: Callable[..., Any], kwargs: dict[str, Any], arg: str, value: Any
) -> None:
    with pytest.raises(ConfigError) as info:
        func(**kwargs)
    err = info.value
    assert isinstance(err, ValueError)  # ConfigError is a ValueError
    message = str(err)
    assert message.startswith(arg) or f"{arg} " in message or f"{arg}[" in message, message
    assert str(value) in message, message
    assert err.field is not None and err.field == arg.split("[")[0]


def test_error_message_example_from_docs() -> None:
    with pytest.raises(ConfigError, match=r"^ticks must be a positive integer, got -3$"):
        w.constant(-3, 1)


def test_stack_errors() -> None:
    with pytest.raises(ConfigError, match="at least one series"):
        w.stack()
    with pytest.raises(ConfigError, match=r"series\[0\]: 2, series\[1\]: 3") as info:
        w.stack([1, 2], [1, 2, 3])
    assert info.value.field == "series"
    with pytest.raises(ConfigError, match=r"series\[1\]\[0\] must be between 0 and"):
        w.stack([1], [-1])
