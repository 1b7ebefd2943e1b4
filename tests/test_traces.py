"""Tests for dynmem.traces: the Bitbrains GWA-T-12 loader.

Two kinds of test: the real trace, read in place from ``../shared/traces``
next to the repository (skipped when absent; never copied into the repo), and
tiny synthetic files written to ``tmp_path`` with one kind of dirt each, whose
repaired numbers are asserted exactly.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dynmem import ConfigError
from dynmem.traces import DemandMapping, Trace, load_bitbrains
from conftest import trace_dir

REPO = Path(__file__).resolve().parents[1]
TRACE_DIR = trace_dir()

needs_trace = pytest.mark.skipif(
    not TRACE_DIR.is_dir(),
    reason=f"real Bitbrains trace not found at {TRACE_DIR} (set DYNMEM_TRACES, or ../shared/traces beside the repo)",
)

HEADER = ";\t".join(
    [
        "Timestamp [ms]",
        "CPU cores",
        "CPU capacity provisioned [MHZ]",
        "CPU usage [MHZ]",
        "CPU usage [%]",
        "Memory capacity provisioned [KB]",
        "Memory usage [KB]",
        "Disk read throughput [KB/s]",
        "Disk write throughput [KB/s]",
        "Network received throughput [KB/s]",
        "Network transmitted throughput [KB/s]",
    ]
)
T0 = 1_375_308_176  # first timestamp of the real trace, epoch seconds
IDENTITY = DemandMapping.identity()


def row(t: float, prov_mb: float, use_mb: float) -> str:
    """One Bitbrains line; sizes given in MB, written in KB like the trace."""
    fields = [
        f"{t:.0f}" if float(t).is_integer() else repr(t),
        "4",
        "11703.996968",
        "181.4",
        "1.55",
        repr(float(prov_mb * 1024)),
        repr(float(use_mb * 1024)),
        "0.0",
        "13.6",
        "4.4",
        "0.13",
    ]
    return ";\t".join(fields)


def write(
    directory: Path,
    name: str,
    samples: Sequence[tuple[float, float, float]] | None = None,
    *,
    lines: Sequence[str] | None = None,
    gz: bool = False,
) -> Path:
    """Write a trace file from (t_offset_s, prov_mb, use_mb) samples (t is
    offset from T0) or from raw ``lines`` after the header."""
    body = list(lines) if lines is not None else [row(T0 + t, p, u) for t, p, u in samples or []]
    text = "\n".join([HEADER, *body]) + "\n"
    path = directory / (name + (".csv.gz" if gz else ".csv"))
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def demand(trace: Trace, col: int = 0) -> list[int]:
    return trace.demand_mb[:, col].tolist()


# --------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------


@needs_trace
def test_real_files_load_on_a_common_grid() -> None:
    tr = load_bitbrains(TRACE_DIR, vms=["109", "131", "312", "58"])
    assert tr.names == ["109", "131", "312", "58"]
    assert tr.tick_s == 300.0
    # All four files span 2013-07-31 22:02:56 .. 2013-08-30 21:58:21 UTC.
    assert tr.start_s == 1_375_308_176.0
    assert tr.ticks == (1_377_899_901 - 1_375_308_176) // 300 == 8639
    assert tr.demand_mb.shape == tr.provisioned_mb.shape == (8639, 4)
    assert tr.demand_mb.dtype == tr.provisioned_mb.dtype == np.int64
    np.testing.assert_array_equal(tr.times_s[:3], tr.start_s + np.array([0.0, 300.0, 600.0]))
    assert tr.end_s <= 1_377_899_901
    # Default mapping caps demand at provisioned memory, and demand is at
    # least the 256 MB floor (or the whole VM, if smaller).
    assert (tr.demand_mb <= tr.provisioned_mb).all()
    assert (tr.demand_mb >= np.minimum(256, tr.provisioned_mb)).all()
    # Plausible sizes: 109 is a 16 GB VM, 131 about 2-3 GB, 312 512 MB, 58 39 GB.
    med = np.median(tr.provisioned_mb, axis=0)
    assert med.tolist() == [16312, 2948, 512, 39846]
    assert (np.median(tr.demand_mb, axis=0) < med).all()
    # 109 has 495 zero usage samples, held and logged; 131's provisioned
    # memory changes mid-trace and is carried per tick.
    assert any(r.startswith("109.csv.gz: 495 usage sample(s) of 0 KB") for r in tr.repairs)
    assert any(r.startswith("131.csv.gz: provisioned memory changes") for r in tr.repairs)
    assert len(np.unique(tr.provisioned_mb[:, 1])) > 5
    assert any("held the last sample across" in r for r in tr.repairs)


@needs_trace
def test_real_identity_mapping_matches_active_memory_statistics() -> None:
    tr = load_bitbrains(TRACE_DIR, vms=10, mapping=DemandMapping.identity())
    assert tr.names == ["23", "35", "37", "38", "42", "44", "45", "47", "50", "51"]
    frac = tr.demand_mb / tr.provisioned_mb
    # README: active memory is a few % of provisioned on average, peaks far below 100 %.
    assert 0.0 < np.median(frac.mean(axis=0)) < 0.5
    assert frac.max() <= 1.0


@needs_trace
def test_real_all_files_fast() -> None:
    t0 = time.perf_counter()
    tr = load_bitbrains(TRACE_DIR)
    elapsed = time.perf_counter() - t0
    assert tr.demand_mb.shape == (8639, 100)
    assert len(set(tr.names)) == 100
    assert elapsed < 15.0, f"loading 100 files took {elapsed:.1f} s"


@needs_trace
def test_real_window_and_coarse_resampling() -> None:
    day = 86_400
    start = 1_375_315_200  # 2013-08-01 00:00 UTC
    kw: dict[str, Any] = dict(vms=["109", "170"], start_s=start, end_s=start + day, tick_s=3600.0)
    hold = load_bitbrains(TRACE_DIR, **kw)
    mean = load_bitbrains(TRACE_DIR, resample="mean", **kw)
    peak = load_bitbrains(TRACE_DIR, resample="max", **kw)
    for tr in (hold, mean, peak):
        assert tr.start_s == start and tr.ticks == 24 and tr.demand_mb.shape == (24, 2)
    assert (peak.demand_mb >= mean.demand_mb).all()
    assert (peak.demand_mb >= hold.demand_mb).all()
    assert (peak.demand_mb > mean.demand_mb).any()


# --------------------------------------------------------------------------
# synthetic: clean input and the mapping
# --------------------------------------------------------------------------


def test_clean_file_identity(tmp_path: Path) -> None:
    p = write(tmp_path, "7", [(300 * i, 1000, 100 * (i + 1)) for i in range(5)])
    tr = load_bitbrains(p, mapping=IDENTITY)
    assert tr.names == ["7"]
    assert tr.start_s == T0
    assert tr.ticks == 4  # floor(1200 / 300); the 5th sample ends the window
    assert demand(tr) == [100, 200, 300, 400]
    assert tr.provisioned_mb[:, 0].tolist() == [1000] * 4
    assert tr.repairs == []
    assert tr.mapping == IDENTITY


def test_default_mapping_exact_numbers(tmp_path: Path) -> None:
    samples = [
        (0, 1000, 100),  # 256 + 100 + 150 = 506
        (300, 1000, 10),  # 256 + 100 + 15 = 371
        (600, 1001, 1),  # 256 + 100.1 + 1.5 = 357.6 -> 358
        (900, 4096, 3000),  # 256 + 409.6 + 4500 -> capped at 4096
        (1200, 200, 5),  # floor 276 + 7.5 -> capped at 200
        (1500, 200, 5),
    ]
    tr = load_bitbrains(write(tmp_path, "m", samples))
    assert demand(tr) == [506, 371, 358, 4096, 200]
    assert tr.provisioned_mb[:, 0].tolist() == [1000, 1000, 1001, 4096, 200]
    no_cap = load_bitbrains(
        write(tmp_path, "m", samples), mapping=DemandMapping(cap_pct=None)
    )
    assert demand(no_cap) == [506, 371, 358, 5166, 284]  # 283.5 -> 284 (ties to even)
    half = DemandMapping(baseline_mb=0, baseline_pct=0, scale=2.0, cap_pct=50)
    assert demand(load_bitbrains(write(tmp_path, "m", samples), mapping=half)) == [
        200,
        20,
        2,
        2048,
        10,
    ]


def test_demand_mapping_apply_and_validation() -> None:
    m = DemandMapping()
    np.testing.assert_allclose(m.apply([100.0, 0.0], [1000.0, 100.0]), [506.0, 100.0])
    assert DemandMapping.identity().apply([5.5], [1.0]).tolist() == [5.5]
    for field, value in [
        ("baseline_mb", -1.0),
        ("baseline_pct", float("nan")),
        ("scale", -0.5),
        ("cap_pct", 0.0),
    ]:
        with pytest.raises(ConfigError, match=field) as info:
            DemandMapping(**{field: value})
        assert info.value.field == field
        assert str(value) in str(info.value)


# --------------------------------------------------------------------------
# synthetic: each kind of dirt
# --------------------------------------------------------------------------


def test_gap_is_held_and_logged(tmp_path: Path) -> None:
    # Rows at lines 2..7; the gap of 900 s is between line 4 (t=600) and line 5 (t=1500).
    samples = [(0, 1000, 1), (300, 1000, 2), (600, 1000, 3), (1500, 1000, 4), (1800, 1000, 5), (2100, 1000, 6)]
    tr = load_bitbrains(write(tmp_path, "g", samples), mapping=IDENTITY)
    assert demand(tr) == [1, 2, 3, 3, 3, 4, 5]
    assert tr.repairs == [
        "g.csv: held the last sample across 1 gap(s) longer than 450 s (longest 900 s): "
        "lines 4-5 (900 s)"
    ]


def test_long_gap_errors_or_holds(tmp_path: Path) -> None:
    samples = [(0, 1000, 1), (300, 1000, 2), (3300, 1000, 3), (3600, 1000, 4)]
    path = write(tmp_path, "lg", samples)
    with pytest.raises(ConfigError, match=r"lg\.csv:3-4: .*gap of 3000 s exceeds max_gap_s=1000") as info:
        load_bitbrains(path, mapping=IDENTITY, max_gap_s=1000)
    assert info.value.field == "max_gap_s"
    tr = load_bitbrains(path, mapping=IDENTITY, max_gap_s=1000, on_long_gap="hold")
    assert demand(tr) == [1] + [2] * 10 + [3]
    assert "longer than max_gap_s, on_long_gap='hold'" in tr.repairs[0]
    # The default max_gap_s (7200 s) bridges it.
    assert demand(load_bitbrains(path, mapping=IDENTITY)) == demand(tr)


def test_repeated_timestamp_keeps_last_row(tmp_path: Path) -> None:
    samples = [(0, 1000, 1), (300, 1000, 2), (300, 1000, 7), (600, 1000, 3), (900, 1000, 4)]
    tr = load_bitbrains(write(tmp_path, "d", samples), mapping=IDENTITY)
    assert demand(tr) == [1, 7, 3]
    assert tr.repairs == [
        f"d.csv: 1 row(s) with a repeated timestamp dropped, keeping the one that comes last "
        f"in the file: line 3 by line 4 (t={T0 + 300})"
    ]


def test_out_of_order_rows_are_sorted(tmp_path: Path) -> None:
    samples = [(0, 1000, 1), (600, 1000, 3), (300, 1000, 2), (900, 1000, 4), (1200, 1000, 5)]
    tr = load_bitbrains(write(tmp_path, "o", samples), mapping=IDENTITY)
    assert demand(tr) == [1, 2, 3, 4]
    assert tr.repairs == [
        "o.csv: 1 row(s) with a timestamp earlier than a row above them sorted into time "
        "order (line 4)"
    ]


def test_out_of_order_duplicate_keeps_later_line(tmp_path: Path) -> None:
    # line 3 (t=300, 8) and line 5 (t=300, 9): after sorting the later line wins.
    samples = [(0, 1000, 1), (300, 1000, 8), (600, 1000, 3), (300, 1000, 9), (900, 1000, 4)]
    tr = load_bitbrains(write(tmp_path, "od", samples), mapping=IDENTITY)
    assert demand(tr) == [1, 9, 3]
    assert any("line 3 by line 5" in r for r in tr.repairs)
    assert any("sorted into time order (line 5)" in r for r in tr.repairs)


def test_zero_usage_held_or_kept(tmp_path: Path) -> None:
    samples = [(0, 1000, 0), (300, 1000, 10), (600, 1000, 0), (900, 1000, 0), (1200, 1000, 40), (1500, 1000, 50)]
    path = write(tmp_path, "z", samples)
    held = load_bitbrains(path, mapping=IDENTITY)
    assert demand(held) == [10, 10, 10, 10, 40]  # leading 0 takes the first non-zero
    assert held.repairs == [
        "z.csv: 3 usage sample(s) of 0 KB treated as missing and replaced by the previous "
        "non-zero sample (the next one before the first) (lines 2, 4-5)"
    ]
    kept = load_bitbrains(path, mapping=IDENTITY, zero_usage="keep")
    assert demand(kept) == [0, 10, 0, 0, 40]
    assert "kept as 0" in kept.repairs[0]
    # With the default mapping a kept zero maps to the floor, 256 + 10 % of 1000.
    assert demand(load_bitbrains(path, zero_usage="keep"))[0] == 356


def test_provisioned_change_is_carried(tmp_path: Path) -> None:
    samples = [(0, 1000, 100), (300, 1000, 100), (600, 2000, 100), (900, 2000, 100), (1200, 2000, 100)]
    tr = load_bitbrains(write(tmp_path, "p", samples))
    assert tr.provisioned_mb[:, 0].tolist() == [1000, 1000, 2000, 2000]
    assert demand(tr) == [506, 506, 606, 606]  # 256 + 10 % + 150
    assert tr.repairs == [
        "p.csv: provisioned memory changes 1 time(s) (from 1000 to 2000 MB, first at line 4); "
        "carried per tick in provisioned_mb, not altered"
    ]


def test_zero_provisioned_reading_is_held(tmp_path: Path) -> None:
    samples = [(0, 1000, 100), (300, 0, 100), (600, 1000, 100), (900, 1000, 100)]
    tr = load_bitbrains(write(tmp_path, "zp", samples))
    assert tr.provisioned_mb[:, 0].tolist() == [1000, 1000, 1000]
    assert demand(tr) == [506, 506, 506]
    assert tr.repairs[0].startswith("zp.csv: 1 provisioned-memory reading(s) of 0 KB")
    assert "(line 3)" in tr.repairs[0]


def test_usage_above_provisioned_is_noted_and_capped(tmp_path: Path) -> None:
    samples = [(0, 512, 100), (300, 6, 384), (600, 512, 100), (900, 512, 100)]
    tr = load_bitbrains(write(tmp_path, "u", samples))
    assert tr.provisioned_mb[:, 0].tolist() == [512, 6, 512]
    assert demand(tr) == [457, 6, 457]  # 256 + 51.2 + 150 = 457.2
    assert any("1 sample(s) with usage above provisioned memory (line 3)" in r for r in tr.repairs)


@pytest.mark.parametrize(
    ("bad_line", "why"),
    [
        ("garbage", "expected 11 fields"),
        (row(T0 + 600, 1000, 3).replace("3072.0", "abc"), "'Memory usage [KB]' is not a number: 'abc'"),
        (row(T0 + 600, 1000, 3).replace("3072.0", "nan"), "'Memory usage [KB]' must be a finite number >= 0"),
        (row(T0 + 600, 1000, 3).replace("3072.0", "-3072.0"), "'Memory usage [KB]' must be a finite number >= 0"),
        (row(T0 + 600, 1000, 3).replace("1024000.0", "inf"), "provisioned [KB]' must be a finite number"),
        (row(T0 + 600, 1000, 3) + ";\t7", "found 12"),
    ],
)
def test_malformed_line_errors_with_file_and_line_or_is_skipped(
    tmp_path: Path, bad_line: str, why: str
) -> None:
    lines = [row(T0, 1000, 1), row(T0 + 300, 1000, 2), bad_line, row(T0 + 900, 1000, 4), row(T0 + 1200, 1000, 5)]
    path = write(tmp_path, "bad", lines=lines)
    with pytest.raises(ConfigError) as info:
        load_bitbrains(path, mapping=IDENTITY)
    message = str(info.value)
    assert message.startswith("bad.csv:4: malformed line: "), message
    assert why in message, message
    assert "on_malformed='skip'" in message
    tr = load_bitbrains(path, mapping=IDENTITY, on_malformed="skip")
    # Line 4 (t=600) dropped: its tick holds t=300's sample.
    assert demand(tr) == [1, 2, 2, 4]
    assert tr.repairs[0].startswith("bad.csv: skipped 1 malformed line(s): line 4: ")
    assert why in tr.repairs[0]


def test_blank_lines_are_ignored_and_line_numbers_kept(tmp_path: Path) -> None:
    lines = [row(T0, 1000, 1), "", row(T0 + 300, 1000, 2), "   ", "x;y", row(T0 + 600, 1000, 3)]
    path = write(tmp_path, "bl", lines=lines)
    with pytest.raises(ConfigError, match=r"^bl\.csv:6: malformed line"):
        load_bitbrains(path)


def test_bad_header_and_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("time;usage\n1;2\n")
    with pytest.raises(ConfigError, match=r"^h\.csv:1: header must name"):
        load_bitbrains(p)
    p.write_text("")
    with pytest.raises(ConfigError, match=r"^h\.csv:1: missing header"):
        load_bitbrains(p)
    p.write_text(HEADER + "\n\n")
    with pytest.raises(ConfigError, match=r"^h\.csv: no data rows"):
        load_bitbrains(p)


# --------------------------------------------------------------------------
# synthetic: several VMs, grid, resampling, selection
# --------------------------------------------------------------------------


def test_gzip_and_directory_in_natural_order(tmp_path: Path) -> None:
    for name, use in (("10", 10), ("2", 2), ("1", 1)):
        write(tmp_path, name, [(300 * i, 1000, use) for i in range(4)], gz=(name == "10"))
    (tmp_path / "README.md").write_text("not a trace")
    tr = load_bitbrains(tmp_path, mapping=IDENTITY)
    assert tr.names == ["1", "2", "10"]
    assert tr.demand_mb.tolist() == [[1, 2, 10]] * 3
    assert load_bitbrains(tmp_path, vms=2).names == ["1", "2"]
    assert load_bitbrains(tmp_path, vms=[10, "1"]).names == ["10", "1"]
    files = [tmp_path / "2.csv", tmp_path / "10.csv.gz"]
    assert load_bitbrains(files).names == ["2", "10"]


def test_common_overlap_grid(tmp_path: Path) -> None:
    write(tmp_path, "a", [(300 * i, 1000, 100 + i) for i in range(10)])  # t = 0 .. 2700
    write(tmp_path, "b", [(450 + 300 * i, 1000, 200 + i) for i in range(5)])  # t = 450 .. 1650
    tr = load_bitbrains(tmp_path, mapping=IDENTITY)
    assert tr.start_s == T0 + 450
    assert tr.ticks == 4  # floor((1650 - 450) / 300)
    # a at 450, 750, 1050, 1350 holds its samples from 300, 600, 900, 1200.
    assert demand(tr, 0) == [101, 102, 103, 104]
    assert demand(tr, 1) == [200, 201, 202, 203]


def test_window_before_first_sample_is_backfilled_or_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "w", [(600 + 300 * i, 1000, 5 + i) for i in range(4)])
    tr = load_bitbrains(path, mapping=IDENTITY, start_s=T0, end_s=T0 + 1500)
    assert demand(tr) == [5, 5, 5, 6, 7]
    assert tr.repairs == [
        f"w.csv: window starts 600 s before the first sample (line 2, t={T0 + 600}); "
        "that sample is used from the window start"
    ]
    with pytest.raises(ConfigError, match=r"w\.csv:2: no sample between start_s"):
        load_bitbrains(path, start_s=T0, max_gap_s=300)


def test_resample_hold_mean_max_exact(tmp_path: Path) -> None:
    samples = [(0, 1000, 100), (150, 1000, 300), (300, 1000, 200), (450, 1000, 400), (600, 1000, 0)]
    path = write(tmp_path, "r", samples)
    kw: dict[str, Any] = dict(mapping=IDENTITY, zero_usage="keep")
    assert demand(load_bitbrains(path, resample="hold", **kw)) == [100, 200]
    assert demand(load_bitbrains(path, resample="mean", **kw)) == [200, 300]
    assert demand(load_bitbrains(path, resample="max", **kw)) == [300, 400]
    # Up-sampling to 100 s ticks holds each sample.
    assert demand(load_bitbrains(path, tick_s=100, **kw)) == [100, 100, 300, 200, 200, 400]


# --------------------------------------------------------------------------
# bad arguments
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        (dict(tick_s=0), "tick_s", "tick_s must be a finite number > 0, got 0"),
        (dict(tick_s=float("inf")), "tick_s", "inf"),
        (dict(tick_s=10_000), "tick_s", "tick_s must be at most the window length"),
        (dict(resample="median"), "resample", "'median'"),
        (dict(on_long_gap="ignore"), "on_long_gap", "'ignore'"),
        (dict(zero_usage="drop"), "zero_usage", "'drop'"),
        (dict(on_malformed="warn"), "on_malformed", "'warn'"),
        (dict(max_gap_s=0), "max_gap_s", "got 0"),
        (dict(vms=0), "vms", "got 0"),
        (dict(vms=5), "vms", "asks for 5 VMs but only 1"),
        (dict(vms=["nope"]), "vms", "'nope'"),
        (dict(vms=["one", "one"]), "vms", "twice"),
        (dict(start_s=T0 + 600, end_s=T0 + 300), "end_s", "end_s must be after start_s"),
        (dict(start_s=float("nan")), "start_s", "nan"),
        (dict(mapping="identity"), "mapping", "'identity'"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], field: str, text: str) -> None:
    path = write(tmp_path, "one", [(300 * i, 1000, 10) for i in range(5)])
    with pytest.raises(ConfigError) as info:
        load_bitbrains(path, **kwargs)
    assert info.value.field == field
    assert text in str(info.value), str(info.value)


def test_missing_path_and_no_overlap(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a file nor a directory") as info:
        load_bitbrains(tmp_path / "missing.csv")
    assert info.value.field == "path_or_dir"
    with pytest.raises(ConfigError, match="contains no .csv or .csv.gz files"):
        load_bitbrains(tmp_path)
    write(tmp_path, "early", [(300 * i, 1000, 1) for i in range(3)])
    write(tmp_path, "late", [(9000 + 300 * i, 1000, 1) for i in range(3)])
    with pytest.raises(ConfigError, match="no common time overlap"):
        load_bitbrains(tmp_path)
