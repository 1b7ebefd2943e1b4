"""Fuzzing dynmem.hyperv's readers and the Materna loader (issue 14) with
mutated bytes of the hand-written fixtures: flips, inserts, deletes,
truncation. The rule: a reader returns a valid result or raises one
`DynmemError` (a `FileFormatError` for the file itself), never another
exception from inside a parser.

    DYNMEM_FUZZ_EXAMPLES=5000 python -m pytest -q tests/test_hyperv_fuzz.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynmem
import dynmem.hyperv as hv
from dynmem import DynmemError
from dynmem.traces import load_materna

FIX = Path(__file__).parent / "fixtures"
_LONG = int(os.environ.get("DYNMEM_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_LONG or 40, derandomize=not _LONG, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

SOURCES = {
    "log": [FIX / "hyperv" / "host01.csv", FIX / "hyperv" / "two-hosts.csv"],
    "settings": [FIX / "hyperv" / n for n in ("get-vm.json", "get-vmmemory-ps7.json", "get-vmmemory.csv",
                                              "get-vm-notype.csv", "get-vmmemory.json")],
    "materna": [FIX / "materna" / "vm-1.csv", FIX / "materna" / "vm-2.csv"],
}


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    data = bytearray(draw(st.sampled_from(SOURCES[kind])).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "replace"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b'"', b",", b";", b"\n", b" ", b"-", b"9e99", b"\x00", b"\xff", b"#1", b"(", b"\\"]))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[at:]
        elif op == "replace" and data:
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def _check(read: object, data: bytes, name: str) -> object:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(data)
        try:
            return read(path if not name.startswith("dir") else Path(d))  # type: ignore[operator]
        except DynmemError as e:
            assert str(e)
            return None
        except MemoryError:  # allowed by the one rule (README): a checked, named allocation
            return None


@FUZZ
@given(mutated("log"))
def test_counter_log_reader_never_fails_untyped(data: bytes) -> None:
    log = _check(hv.read_counter_log, data, "log.csv")
    if log is not None:
        assert isinstance(log, hv.CounterLog)
        assert log.demand_mb.dtype == np.int64 and (log.demand_mb >= 0).all()
        assert log.demand_mb.shape == (log.ticks, len(log.names))


@FUZZ
@given(mutated("settings"))
def test_settings_reader_never_fails_untyped(data: bytes) -> None:
    s = _check(hv.read_vm_settings, data, "vms.json")
    if s is not None:
        host = dynmem.Host(physical_mb=1 << 20, reserve_mb=0)
        hv.add_to(host, s)  # what the reader accepted, the host accepts
        assert len(host) == len(s)  # type: ignore[arg-type]


@FUZZ
@given(mutated("materna"))
def test_materna_loader_never_fails_untyped(data: bytes) -> None:
    t = _check(lambda p: load_materna(p, on_long_gap="hold"), data, "dir-vm.csv")
    if t is not None:
        assert (t.demand_mb >= 0).all()  # type: ignore[attr-defined]
