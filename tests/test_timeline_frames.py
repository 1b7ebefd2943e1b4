"""Timeline.to_pandas / Timeline.to_polars: long frames, one row per (recorded tick, VM)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dynmem

COLUMNS = [
    "tick", "time_s", "vm", "demand_mb", "assigned_mb", "visible_mb",
    "target_mb", "pressure", "status", "paging_mb", "host_available_mb", "host_average_pressure",
]
PER_VM = ["demand_mb", "assigned_mb", "visible_mb", "target_mb", "pressure", "paging_mb"]


def make_timeline(record_every: int = 7) -> dynmem.Timeline:
    """Three VMs on a tight host: one starts late and one stays off for a
    while, so the frames hold off, ok and warning rows and paging."""
    h = dynmem.Host(6144, 512)
    h.add_vm("web", startup_mb=1024, maximum_mb=4096)
    h.add_vm("db", startup_mb=2048, maximum_mb=4096, weight=9000)
    h.add_vm("batch", startup_mb=512, minimum_mb=512, maximum_mb=4096)
    t = np.arange(400)[:, None]
    demand = 1200 + 900 * np.sin(t / 40.0 + np.array([0.0, 2.0, 4.0]))
    demand = (demand // 2 * 2).astype(np.int64)
    events = [
        dynmem.Event(0, "web", "start"),
        dynmem.Event(0, "db", "start"),
        dynmem.Event(150, "batch", "start"),
    ]
    tl = h.run(demand, events=events, record_every=record_every)
    assert not tl.failed_events
    return tl


@pytest.fixture(scope="module")
def tl() -> dynmem.Timeline:
    return make_timeline()


def expected_columns(tl: dynmem.Timeline) -> dict[str, np.ndarray]:
    rows, vms = tl.rows, len(tl.names)
    want = {
        "tick": np.repeat(tl.tick, vms),
        "time_s": np.repeat(tl.time_s, vms),
        "vm": np.array(tl.names * rows, dtype=object),
        "status": np.array([dynmem.STATUS_NAMES[c] for c in tl.status.reshape(-1)], dtype=object),
        "host_available_mb": np.repeat(tl.available_mb, vms),
        "host_average_pressure": np.repeat(tl.average_pressure, vms),
    }
    for k in PER_VM:
        want[k] = getattr(tl, k).reshape(-1)
    return want


def test_fixture_is_interesting(tl):
    present = {dynmem.STATUS_NAMES[c] for c in np.unique(tl.status)}
    assert {"off", "ok", "warning"} <= present
    assert tl.paging_mb.any()
    assert tl.rows == len(range(0, 400, 7)) and len(tl.names) == 3


# --------------------------------------------------------------------------
# pandas
# --------------------------------------------------------------------------

def test_to_pandas_shape_columns_values(tl):
    pd = pytest.importorskip("pandas")
    df = tl.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (tl.rows * len(tl.names), len(COLUMNS))
    assert list(df.columns) == COLUMNS
    for col, want in expected_columns(tl).items():
        got = df[col].to_numpy()
        if want.dtype == object:
            assert got.tolist() == want.tolist(), col
        else:
            np.testing.assert_array_equal(got, want, err_msg=col)
            assert got.dtype == want.dtype, col


def test_to_pandas_round_trips_to_wide_arrays(tl):
    pytest.importorskip("pandas")
    df = tl.to_pandas()
    for k in ("demand_mb", "assigned_mb", "pressure"):
        wide = df.pivot(index="tick", columns="vm", values=k)[tl.names].to_numpy()
        np.testing.assert_array_equal(wide, getattr(tl, k))
    # one VM, one row: the values at a given (tick, vm)
    row = df[(df["tick"] == tl.tick[10]) & (df["vm"] == "db")]
    assert len(row) == 1
    assert row["assigned_mb"].item() == tl.assigned_mb[10, 1]
    assert row["status"].item() == dynmem.STATUS_NAMES[tl.status[10, 1]]


def test_to_pandas_empty_and_decimated():
    pytest.importorskip("pandas")
    h = dynmem.Host(4096, 512)
    h.add_vm("a")
    h.add_vm("b")
    empty = h.run(np.zeros((0, 2), dtype=np.int64)).to_pandas()
    assert empty.shape == (0, len(COLUMNS)) and list(empty.columns) == COLUMNS
    tl = make_timeline(record_every=1).decimate(10)
    df = tl.to_pandas()
    assert df.shape == (tl.rows * 3, len(COLUMNS))
    assert sorted(set(df["tick"])) == list(range(0, 400, 10))


# --------------------------------------------------------------------------
# polars
# --------------------------------------------------------------------------

def test_to_polars_shape_columns_values(tl):
    pl = pytest.importorskip("polars")
    df = tl.to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df.shape == (tl.rows * len(tl.names), len(COLUMNS))
    assert df.columns == COLUMNS
    for col, want in expected_columns(tl).items():
        got = df[col].to_numpy()
        if want.dtype == object:
            assert got.tolist() == want.tolist(), col
        else:
            np.testing.assert_array_equal(got, want, err_msg=col)
            assert got.dtype == want.dtype, col
    assert df.schema["vm"] == pl.String and df.schema["status"] == pl.String


def test_to_polars_round_trips_to_wide_arrays(tl):
    pl = pytest.importorskip("polars")
    df = tl.to_polars()
    for k in ("assigned_mb", "visible_mb", "target_mb"):
        wide = df.pivot(on="vm", index="tick", values=k).sort("tick").select(tl.names).to_numpy()
        np.testing.assert_array_equal(wide, getattr(tl, k))
    paging = df.group_by("vm").agg(pl.col("paging_mb").sum())
    by_vm = dict(zip(paging["vm"].to_list(), paging["paging_mb"].to_list()))
    assert by_vm == dict(zip(tl.names, tl.paging_mb.sum(axis=0).tolist()))


def test_to_polars_empty():
    pytest.importorskip("polars")
    h = dynmem.Host(4096, 512)
    h.add_vm("a")
    df = h.run(np.zeros((0, 1), dtype=np.int64)).to_polars()
    assert df.shape == (0, len(COLUMNS)) and df.columns == COLUMNS


def test_pandas_and_polars_agree(tl):
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    a, b = tl.to_pandas(), tl.to_polars()
    for col in COLUMNS:
        assert a[col].tolist() == b[col].to_list(), col


# --------------------------------------------------------------------------
# without the libraries
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method, lib", [("to_pandas", "pandas"), ("to_polars", "polars")])
def test_without_library_raises_import_error_naming_extra(tl, monkeypatch, method, lib):
    monkeypatch.setitem(sys.modules, lib, None)
    with pytest.raises(ImportError, match=rf"dynmem\[{lib}\]"):
        getattr(tl, method)()


def test_hiding_one_library_leaves_the_other(tl, monkeypatch):
    pytest.importorskip("polars")
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert tl.to_polars().shape == (tl.rows * 3, len(COLUMNS))
