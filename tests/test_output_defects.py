"""Issue 15's defects, one test each (each seen failing before its fix).

`copy.copy(host)` sharing the Rust state was fixed before this issue: it is
pinned by tests/test_robust_host.py::test_a_copied_host_is_independent
(ticking the copy leaves the original's time, states and demand alone)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import dynmem
from conftest import trace_dir
from dynmem.cli import main

TRACES = trace_dir()
simpy = pytest.importorskip("simpy")
from dynmem.simpy import HostProcess  # noqa: E402


def _sim(ops, until: float, **kw):
    env = simpy.Environment()
    host = dynmem.Host(8192, 512, policy=dynmem.HyperVPolicy(boot_report_delay_s=0))
    setup = kw.pop("setup", None)
    if setup:
        setup(host)
    hp = HostProcess(env, host, dt_s=1.0, record_every=1, **kw)
    env.process(ops(env, host))
    env.run(until=until)
    return host, hp


def test_simpy_a_reused_name_is_a_new_column() -> None:
    def ops(env, host):
        a = host.add_vm("job", startup_mb=1024)
        a.start()
        yield env.timeout(3)
        a.stop()
        host.remove_vm(a)
        b = host.add_vm("job", startup_mb=2048)
        b.start()

    _, hp = _sim(ops, until=6)
    tl = hp.timeline()
    assert len(tl.names) == 2 and tl.names[0] == "job" and tl.names[1].startswith("job")
    np.testing.assert_array_equal(tl.assigned_mb[:, 0], [1024] * 3 + [0] * 3)
    np.testing.assert_array_equal(tl.assigned_mb[:, 1], [0] * 3 + [2048] * 3)


def test_simpy_removing_a_hooked_vm_unhooks_it() -> None:
    def setup(host):
        host.add_vm("a").start()
        host.add_vm("b").start()

    def ops(env, host):
        yield env.timeout(2)
        a = host.vm("a")
        a.stop()
        host.remove_vm(a)

    host, hp = _sim(ops, until=5, setup=setup, demand={"a": lambda t: 800, "b": lambda t: 900})
    assert host.time_s == 5.0  # the run went on (was: StateError "vm 0 in vm_demand ...")
    assert [vm.name for vm in hp.vm_demand] == ["b"]
    assert host.vm("b").demand_mb == 900


def test_simpy_a_vm_living_less_than_a_tick_is_in_the_timeline() -> None:
    def ops(env, host):
        yield env.timeout(2.2)
        v = host.add_vm("blip", startup_mb=512)
        v.start()
        yield env.timeout(0.5)
        v.stop()
        host.remove_vm(v)

    _, hp = _sim(ops, until=5)
    tl = hp.timeline()
    assert tl.names == ["blip"]
    assert (tl.status == dynmem.STATUS_NAMES.index("off")).all()


FAILS_AT_300 = """
name = "late"
duration_s = 600
dt_s = 5
[host]
physical_mb = 2048
reserve_mb = 256
[[vm]]
name = "big"
startup_mb = 1024
start_s = 0
demand_mb = [[0, 500]]
[[vm]]
name = "late"
startup_mb = 1024
start_s = 300
demand_mb = [[0, 500]]
[[vm]]
name = "idle"
startup_mb = 512
demand_mb = [[0, 500]]
"""


def test_a_failed_start_is_reported_at_its_time_not_its_tick(tmp_path: Path, capsys) -> None:
    f = tmp_path / "s.toml"
    f.write_text(FAILS_AT_300)
    assert main(["run", str(f), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "t=60" not in out
    assert re.search(r"late.*failed to start at 5 min \(300 s\)", out), out


def test_vms_not_started_are_counted_and_named(tmp_path: Path, capsys) -> None:
    f = tmp_path / "s.toml"
    f.write_text(FAILS_AT_300)
    assert main(["run", str(f), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"not started\s+2 of 3 VMs", out), out
    assert re.search(r"idle.*never started", out) and re.search(r"late.*failed to start", out)


SLOW = FAILS_AT_300.replace("duration_s = 600", "duration_s = 6000")


def test_progress_has_no_carriage_returns_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dynmem.cli as cli

    monkeypatch.setattr(cli, "PROGRESS_MIN_VM_TICKS", 10)
    f = tmp_path / "s.toml"
    f.write_text(SLOW)
    assert main(["run", str(f), "--csv", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "running" in err and "writing" in err


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared Bitbrains traces not present")
def test_replay_progress_covers_loading_and_writing(tmp_path: Path, capsys) -> None:
    assert main(["replay", str(TRACES), "--physical-mb", "64GB", "--vms", "3", "--csv", str(tmp_path / "o.csv")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "loading" in err and "running" in err and "writing" in err


@pytest.mark.skipif(not TRACES.is_dir(), reason="shared Bitbrains traces not present")
def test_run_on_a_trace_with_another_step_is_an_error() -> None:
    from dynmem.traces import load_bitbrains, vm_sizes

    trace = load_bitbrains(TRACES, vms=2, on_long_gap="hold")
    host = dynmem.Host(65536)
    for name, size in zip(trace.names, vm_sizes(trace)):
        host.add_vm(name, **size).start()
    # A dt_s that divides tick_s holds each sample tick_s / dt_s ticks (issue 17's sample and
    # hold: tests/test_sparse.py); one that does not is still the error.
    with pytest.raises(dynmem.ConfigError) as e:
        host.run(trace, dt_s=7)
    assert e.value.field == "dt_s" and "tick_s" in str(e.value)
    assert host.time_s == 0.0
    tl = host.run(trace)  # the trace's own step
    assert tl.dt_s == trace.tick_s and host.time_s == trace.ticks * trace.tick_s
