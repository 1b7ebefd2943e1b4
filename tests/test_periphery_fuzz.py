"""Fuzzing the periphery (issue 10): workloads, scenario files, the Bitbrains
loader and the CLI, fed hostile numbers, generated and mutated TOML, and
mutated bytes (flips, inserts, deletes, truncation, corrupt gzip).

The rule checked: a call succeeds with valid output (int64 MB in
``[0, MAX_DEMAND_MB]``, never INT64_MIN) or raises a `DynmemError` whose
``field`` is named in its message (or `MemoryError`, which the fuzz provokes
by lowering the memory dynmem believes it has); the CLI exits 0, or 2 with
one line on stderr and no traceback.

By default each test runs a few derandomized examples (CI). For a long run
(fresh randomness every time):

    DYNMEM_FUZZ_EXAMPLES=20000 python -m pytest -q tests/test_periphery_fuzz.py
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dynmem
from dynmem import DynmemError
from dynmem import workloads as w
from dynmem.cli import main
from dynmem.scenario import load_scenario
from dynmem.traces import DemandMapping, load_bitbrains, vm_sizes
from test_cli import SCENARIO
from test_traces import HEADER, T0, row

_LONG = int(os.environ.get("DYNMEM_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_LONG or 25,
    derandomize=not _LONG,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: What dynmem may think it has while fuzzed: bigger allocations are refused
#: with MemoryError (allowed by the rule) instead of slowing the machine.
MEMORY_BYTES = 64 * 2**20


@pytest.fixture(autouse=True)
def small_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynmem._validate, "available_bytes", lambda: MEMORY_BYTES)


# --------------------------------------------------------------------------
# the rule
# --------------------------------------------------------------------------


def obeys_rule(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or None if it raised as the rule allows."""
    try:
        result = call()
        event("ok")
        return result
    except DynmemError as e:
        event(f"{type(e).__name__} {e.field.split('[')[0] if e.field else e.field}")
        assert isinstance(e.field, str) and e.field, (e, e.field)
        msg, short = str(e), e.field.split(".")[-1].split("[")[0]
        # the field, or the value (a trace file is named by its file name)
        assert short in msg or str(e.value) in msg or Path(str(e.value)).name in msg, (e.field, e.value, msg)
        return None
    except MemoryError:
        event("MemoryError")
        return None


def valid_mb(arr: Any, shape: tuple[int, ...] | None = None) -> None:
    assert isinstance(arr, np.ndarray) and arr.dtype == np.int64, (type(arr), getattr(arr, "dtype", None))
    if shape is not None:
        assert arr.shape == shape, (arr.shape, shape)
    if arr.size:
        assert arr.min() >= 0 and arr.max() <= w.MAX_DEMAND_MB, (arr.min(), arr.max())


def cli_obeys_rule(argv: list[str]) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)  # an exception escaping here is a traceback: the test fails
    text = err.getvalue()
    event(f"cli exit {rc}")
    if rc == 0:
        return rc
    assert rc == 2, (rc, text)
    assert text.count("\n") == 1 and text.startswith("dynmem: error: "), text
    return rc


# --------------------------------------------------------------------------
# hostile values
# --------------------------------------------------------------------------

HOSTILE_FLOATS = [0.0, -0.0, 5e-324, 1e-300, 0.5, 1.5, 1e18, 1e300, 1.7976931348623157e308, -1.0, -1e308,
                  math.nan, math.inf, -math.inf]
HOSTILE_INTS = [0, 1, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 10**400]
numpy_scalars = st.sampled_from(
    [np.int64(-1), np.int64(7), np.uint64(2**64 - 1), np.float64(math.nan), np.float64(1e300), np.float32(3.0),
     np.int8(-128), np.bool_(True)]
)
hostile = st.one_of(
    st.sampled_from(HOSTILE_FLOATS),
    st.sampled_from(HOSTILE_INTS),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    numpy_scalars,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.lists(st.integers(0, 10), max_size=2),
)


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a sensible value, sometimes a hostile one."""
    return st.one_of(good, good, good, good, good, hostile)


#: Ticks: small (hostile ticks come from `hostile`, huge valid ones skipped).
ticks_st = st.integers(1, 200)
mb = st.integers(0, 2**32 - 1)
real = st.floats(0.0, 1e4)

GENERATORS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "constant": dict(demand_mb=mb),
    "step": dict(before_mb=mb, after_mb=mb, at_tick=st.integers(0, 200)),
    "ramp": dict(start_mb=mb, end_mb=mb, start_tick=st.integers(0, 200), end_tick=st.integers(0, 300)),
    "diurnal": dict(base_mb=mb, amplitude_mb=mb, period_ticks=st.floats(1e-3, 1e4), phase_ticks=real,
                    noise_mb=real, seed=st.integers(0, 2**64)),
    "random_walk": dict(start_mb=st.integers(0, 100), step_mb=st.integers(0, 100), low_mb=st.integers(0, 100),
                        high_mb=st.integers(100, 10_000), seed=st.integers(0, 99)),
    "bursts": dict(base_mb=mb, burst_mb=mb, rate_per_tick=st.floats(0, 1), mean_length_ticks=st.floats(1, 1e6),
                   seed=st.integers(0, 99)),
}


@FUZZ
@given(st.data())
def test_workload_generators(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(GENERATORS)))
    params = GENERATORS[name]
    # none, one or every argument hostile (sensible values alone mostly pass)
    hostile_args = data.draw(st.sampled_from([(), ("ticks",), *((k,) for k in params), ("ticks", *params)]))
    n = data.draw(hostile if "ticks" in hostile_args else ticks_st, label="ticks")
    if isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and n > 1000:
        return  # a valid huge series is only slow
    kwargs = {k: data.draw(hostile if k in hostile_args else s, label=k) for k, s in params.items()}
    out = obeys_rule(lambda: getattr(w, name)(n, **kwargs))
    if out is not None:
        valid_mb(out, (int(n),))


@FUZZ
@given(maybe(st.lists(maybe(st.integers(0, 2**32 - 1)), min_size=1, max_size=20)),
       st.one_of(st.none(), ticks_st, st.sampled_from([0, -1, 2**31, 2**64, 1.0, "5", True, np.int64(3)])),
       st.sampled_from([None, np.int64, np.float64, np.uint64, object]))
def test_replay_and_stack(values: Any, n: Any, dtype: Any) -> None:
    if dtype is not None and isinstance(values, list):
        with contextlib.suppress(Exception):
            values = np.array(values, dtype=dtype)
    out = obeys_rule(lambda: w.replay(values, n))
    if out is not None:
        valid_mb(out)
    out = obeys_rule(lambda: w.stack(values, values))
    if out is not None:
        valid_mb(out)


# --------------------------------------------------------------------------
# scenario files: generated TOML, and mutations of a valid one
# --------------------------------------------------------------------------

TOML_VALUES = ["0", "-5", "1e308", "-1e308", "5e-324", "1e-300", "nan", "inf", "-inf", "9223372036854775807",
               "2147483648", "0.5", "true", '"x"', '""', "[]", "[1]", "[[0, 1]]", "{}", "{ a = 1 }",
               "2024-01-01", '"\\u00e9"', "[[1e308, 5]]"]


def mutate_text(data: st.DataObject, text: str) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        kind = data.draw(st.sampled_from(["value", "delete", "duplicate", "insert", "bytes"]))
        i = data.draw(st.integers(0, len(lines) - 1)) if lines else 0
        if kind == "value" and lines and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {data.draw(st.sampled_from(TOML_VALUES))}"
        elif kind == "delete" and lines:
            del lines[i]
        elif kind == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif kind == "insert":
            key = data.draw(st.sampled_from(["event", "vm", "host", "policy", "report_at_s", "dt_s", "bogus",
                                             "[[event]]", "[[vm]]", "[host]"]))
            line = key if key.startswith("[") else f"{key} = {data.draw(st.sampled_from(TOML_VALUES))}"
            lines.insert(i, line)
        else:
            s = "\n".join(lines)
            if s:
                j = data.draw(st.integers(0, len(s) - 1))
                s = s[:j] + data.draw(st.text(max_size=2)) + s[j + 1:]
            lines = s.splitlines()
    return "\n".join(lines) + "\n"


EVENTS = """
[[event]]
at_s = 300
vm = "a"
action = "configure"
changes = { weight = 8000 }
"""


@FUZZ
@given(st.data())
def test_scenario_files(data: st.DataObject) -> None:
    text = mutate_text(data, SCENARIO + EVENTS)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "s.toml"
        try:
            f.write_text(text, encoding="utf-8")
        except UnicodeEncodeError:  # a lone surrogate drawn into the text
            f.write_bytes(text.encode("utf-8", "surrogatepass"))
        sc = obeys_rule(lambda: load_scenario(f))
        if sc is None:
            assert cli_obeys_rule(["run", str(f), "--no-progress"]) == 2
            return
        valid_mb(sc.demand_mb, (sc.ticks, len(sc.vms)))
        if sc.ticks * len(sc.vms) <= 20_000:
            result = obeys_rule(sc.run)
            if result is not None:
                valid_mb(result[1].assigned_mb)
            cli_obeys_rule(["run", str(f), "--no-progress", "--csv", str(Path(d) / "out.csv")])


# --------------------------------------------------------------------------
# Bitbrains files: small valid ones, then mutated bytes
# --------------------------------------------------------------------------


@st.composite
def bitbrains_dir_bytes(draw: st.DrawFn) -> dict[str, bytes]:
    files = {}
    for v in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 8))
        prov = draw(st.sampled_from([512, 4096, 16384]))
        t = T0
        lines = []
        for _ in range(n):
            t += draw(st.sampled_from([300, 300, 300, 0, -300, 600, 5000]))
            lines.append(row(t, prov, draw(st.floats(0, prov * 1.2))))
        body = ("\n".join([HEADER, *lines]) + "\n").encode()
        for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2, 3]))):
            kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "digits"]))
            j = draw(st.integers(0, max(0, len(body) - 1)))
            if kind == "flip" and body:
                body = body[:j] + bytes([body[j] ^ (1 << draw(st.integers(0, 7)))]) + body[j + 1:]
            elif kind == "insert":
                body = body[:j] + draw(st.sampled_from([b";", b"\n", b"nan", b"1e308", b"-", b"\x00", b"\xff",
                                                        b"9" * 30, b"e", b" ", b"\t"])) + body[j:]
            elif kind == "delete":
                body = body[:j] + body[j + draw(st.integers(1, 5)):]
            elif kind == "truncate":
                body = body[:j]
            else:  # a number grown to absurd size
                body = body[:j] + b"0" * draw(st.integers(1, 40)) + body[j:]
        name = f"{v}.csv"
        if draw(st.booleans()):
            body = gzip.compress(body)
            name += ".gz"
            if draw(st.sampled_from([False, False, True])):
                j = draw(st.integers(0, len(body) - 1))
                body = body[:j] + bytes([body[j] ^ 0xFF]) + body[j + 1:] if draw(st.booleans()) else body[:j]
        files[name] = body
    return files


mapping_st = st.one_of(
    st.just(DemandMapping()),
    st.just(DemandMapping()),
    st.just(DemandMapping.identity()),
    st.builds(DemandMapping, baseline_mb=st.sampled_from([0.0, 256.0, 1e308]), baseline_pct=st.sampled_from([0.0, 10.0, 1e300]),
              scale=st.sampled_from([0.0, 1.5, 1e308]), cap_pct=st.sampled_from([None, 100.0, 1e-300, 1e308])),
)


@FUZZ
@given(bitbrains_dir_bytes(), st.data())
def test_bitbrains_loader(files: dict[str, bytes], data: st.DataObject) -> None:
    bad = data.draw(st.sampled_from([None, None, None, "tick_s", "max_gap_s", "start_s", "end_s"]), label="hostile")

    def option(name: str, good: st.SearchStrategy[Any]) -> Any:
        return data.draw(hostile if name == bad else good, label=name)

    kwargs = dict(
        tick_s=option("tick_s", st.sampled_from([60.0, 300.0, 1000.0, 7.5])),
        mapping=data.draw(mapping_st, label="mapping"),
        resample=data.draw(st.sampled_from(["hold", "mean", "max"]), label="resample"),
        on_malformed=data.draw(st.sampled_from(["error", "skip"]), label="on_malformed"),
        on_long_gap=data.draw(st.sampled_from(["error", "hold"]), label="on_long_gap"),
        zero_usage=data.draw(st.sampled_from(["hold", "keep"]), label="zero_usage"),
        max_gap_s=option("max_gap_s", st.sampled_from([7200.0, math.inf, 1.0])),
        start_s=option("start_s", st.sampled_from([None, None, T0 - 600.0, T0 + 300.0, -1e308, 1e308])),
        end_s=option("end_s", st.sampled_from([None, None, T0 + 1200.0, 1e308])),
    )
    with tempfile.TemporaryDirectory() as d:
        for name, body in files.items():
            (Path(d) / name).write_bytes(body)
        tr = obeys_rule(lambda: load_bitbrains(d, **kwargs))
        if tr is not None:
            valid_mb(tr.demand_mb, (tr.ticks, len(files)))
            valid_mb(tr.provisioned_mb, (tr.ticks, len(files)))
            sizes = obeys_rule(lambda: vm_sizes(tr, startup_mb=data.draw(maybe(st.just(1024)), label="startup_mb"),
                                                 minimum_mb=512))
            for s in sizes or []:  # startup and minimum are the host's to check (vm_sizes' documentation)
                assert s["minimum_mb"] <= s["startup_mb"] <= s["maximum_mb"], s
                assert 64 <= s["maximum_mb"] <= dynmem.MAX_MAXIMUM_MB, s
        argv = ["replay", d, "--physical-mb", data.draw(st.sampled_from(["65536", "65536", "100", "0", "99999999999"])),
                "--tick-s", data.draw(st.sampled_from(["300", "300", "60", "1e-300", "nan", "-1", "1e308"])),
                "--no-progress"]
        cli_obeys_rule(argv)
