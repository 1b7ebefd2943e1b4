"""The Materna GWA-T-13 loader and the loader core it shares with Bitbrains
(issue 14): hand-written files in Materna's shape (quoted, ';', decimal
commas, dd.MM.yyyy times) load to exactly what the same data gives in
Bitbrains' shape."""

from __future__ import annotations

import calendar
import re
from pathlib import Path

import numpy as np
import pytest

from dynmem.errors import ConfigError
from dynmem.traces import load_bitbrains, load_materna

FIX = Path(__file__).parent / "fixtures" / "materna"


def _as_bitbrains(src: Path, dst: Path) -> None:
    """The same rows in Bitbrains' shape: epoch seconds, ';' + TAB, points."""
    lines = src.read_text().splitlines()
    header = [h.strip('"') for h in lines[0].split(";")]
    header[0] = "Timestamp [ms]"
    out = [";\t".join(header)]
    for line in lines[1:]:
        cells = [c.strip('"').replace(",", ".") for c in line.split(";")]
        d, m, y, hh, mm, ss = map(int, re.split(r"[. :]", cells[0]))
        cells[0] = str(calendar.timegm((y, m, d, hh, mm, ss)))
        out.append(";\t".join(cells))
    dst.write_text("\n".join(out) + "\n")


def test_materna_files_load_as_the_same_data_in_bitbrains_shape(tmp_path: Path) -> None:
    for f in FIX.glob("*.csv"):
        _as_bitbrains(f, tmp_path / f.name)
    m = load_materna(FIX)
    b = load_bitbrains(tmp_path)
    assert m.names == b.names == ["vm-1", "vm-2"]
    assert (m.start_s, m.tick_s) == (b.start_s, b.tick_s) == (1472688000.0, 300.0)  # 01.09.2016 00:00:00 UTC
    assert np.array_equal(m.demand_mb, b.demand_mb) and np.array_equal(m.provisioned_mb, b.provisioned_mb)
    assert m.repairs == b.repairs and len(m.repairs) == 3  # zero usage held, repeated time, size change


def test_materna_values() -> None:
    m = load_materna(FIX)
    # 2187245,6 KB = 2136 MB; default mapping 256 + 10 % of 8192 + 1.5 x 2136 = 4279.2
    assert m.demand_mb[0, 0] == 4279
    assert m.provisioned_mb[:, 1].tolist() == [2048, 2048, 2048, 4096]


def test_materna_decimal_point_is_a_malformed_line(tmp_path: Path) -> None:
    text = (FIX / "vm-1.csv").read_text().replace('"2306867,2"', '"2306867.2"')
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(ConfigError, match=r"x\.csv:3: malformed line: field 'Memory usage \[KB\]' is not a number: '2306867\.2'"):
        load_materna(tmp_path)
    skipped = load_materna(tmp_path, on_malformed="skip")
    assert any("skipped 1 malformed line(s): line 3" in r for r in skipped.repairs)


def test_materna_epoch_second_times_too(tmp_path: Path) -> None:
    text = (FIX / "vm-2.csv").read_text().replace('"01.09.2016 00:00:00"', '"1472688000"')
    (tmp_path / "vm-2.csv").write_text(text)
    assert load_materna(tmp_path).start_s == 1472688000.0


def test_files_read_in_parallel_fail_in_file_order(tmp_path: Path) -> None:
    for k in range(1, 7):
        text = (FIX / "vm-1.csv").read_text()
        if k in (3, 5):
            text = text.replace('"425,44"', '"4x"')
        (tmp_path / f"{k}.csv").write_text(text)
    for _ in range(5):
        with pytest.raises(ConfigError, match=r"^3\.csv:3: malformed line"):
            load_materna(tmp_path)
    ok = load_materna(tmp_path, on_malformed="skip")
    assert [r.split(":")[0] for r in ok.repairs if "malformed" in r] == ["3.csv", "5.csv"]


def test_loading_benchmark_quick_writes_a_report(tmp_path: Path) -> None:
    import subprocess
    import sys

    from conftest import trace_dir

    pytest.importorskip("pandas")
    if not trace_dir().is_dir():
        pytest.skip("shared Bitbrains traces not present")
    bench = Path(__file__).resolve().parents[1] / "benches" / "loading.py"
    out = tmp_path / "LOADING.md"
    r = subprocess.run([sys.executable, str(bench), "--quick", "--dir", str(trace_dir()), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "dynmem load_bitbrains" in text and "pandas read_csv (gz)" in text and "MB/s" in text
