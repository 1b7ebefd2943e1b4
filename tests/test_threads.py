"""A host used from two threads: heavy calls release the GIL; a second
thread that touches the host meanwhile gets StateError, never a crash or a
bare RuntimeError; afterwards everything works."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import dynmem
import helpers as H
from dynmem import _dynmem


def test_second_thread_gets_state_error_while_a_tick_runs_without_the_gil() -> None:
    n = 4 * _dynmem.DETACH_MIN_VMS
    host = dynmem.Host(physical_mb=n * 2000, reserve_mb=0, policy=dynmem.HyperVPolicy(boot_report_delay_s=0))
    vms = host.add_vms([f"v{i}" for i in range(n)], startup_mb=512, minimum_mb=256, maximum_mb=8192)
    host.start_vms()
    rng = np.random.default_rng(0)
    rows = [rng.integers(100, 3000, n) for _ in range(4)]
    done = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for k in range(400):
                host.set_demand_mb(rows[k % 4])
                host.tick(1.0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=work)
    busy = reads = 0
    t.start()
    while not done.is_set():
        try:
            host.available_mb
            vms[7].assigned_mb
            reads += 1
        except dynmem.StateError as e:
            assert "another thread is using it" in str(e)
            busy += 1
    t.join()
    assert not errors, errors
    assert busy > 0, f"never saw the host busy in {reads} reads"
    assert host.time_s == 400.0
    assert host.assigned_mb.sum() + host.available_mb == host.physical_mb - host.reserve_mb


def _fleet(threads: int, kind: str = "hyperv") -> dynmem.Host:
    """A host large enough to tick in parts, contended, with `threads` set,
    under the policy `kind` (helpers.make_policy)."""
    n = 3 * _dynmem.PARALLEL_MIN_VMS // 2 + 1000  # room for 3 parts
    policy = H.make_policy("dynmem", dict(kind=kind, boot_report_delay_s=0))
    host = dynmem.Host(physical_mb=n * 900, reserve_mb=0, policy=policy)
    rng = np.random.default_rng(7)
    host.add_vms(
        [f"v{i}" for i in range(n)],
        startup_mb=512,
        minimum_mb=256,
        maximum_mb=8192,
        weight=rng.integers(0, 10001, n),
    )
    host.threads = threads
    host.start_vms()
    return host


@pytest.mark.parametrize("kind", H.kind_params())
def test_results_do_not_depend_on_the_number_of_threads(kind: str) -> None:
    """...nor on the vector form (the last two hosts: the scalar form on 3
    threads, AVX2 at most on 2)."""
    hosts = [_fleet(t, kind) for t in (1, 2, 3, 0, 3, 2)]
    hosts[-2]._core._set_vector_cap("scalar")
    hosts[-1]._core._set_vector_cap("avx2")
    rng = np.random.default_rng(1)
    n = len(hosts[0])
    for k in range(12):
        # Plentiful and contended ticks, and the switches between them.
        row = rng.integers(100, 600 if k % 4 < 2 else 3000, n)
        for h in hosts:
            h.set_demand_mb(row)
            h.tick(1.0)
        want = hosts[0]
        for h in hosts[1:]:
            assert np.array_equal(h.assigned_mb, want.assigned_mb), f"tick {k}, threads={h.threads}"
            assert np.array_equal(h.visible_mb, want.visible_mb)
            assert np.array_equal(h.pressure, want.pressure)
    if kind != "static":  # (Static never fills the host: every VM holds its 512)
        assert hosts[0].available_mb < hosts[0].physical_mb // 10  # contention was reached
    for i in (0, 777, n - 1):
        assert all(h.vms[i].counters == hosts[0].vms[i].counters for h in hosts)


_DIGEST = """
import hashlib, sys
import numpy as np
sys.path.insert(0, {tests!r})
import test_threads
for kind in {kinds!r}:
    h = test_threads._fleet(0, kind)
    rng = np.random.default_rng(3)
    for k in range(4):
        h.set_demand_mb(rng.integers(100, 600 if k % 2 else 3000, len(h)))
        h.tick(1.0)
    print(kind, hashlib.sha256(h.assigned_mb.tobytes() + h.visible_mb.tobytes()).hexdigest())
"""


def test_results_do_not_depend_on_dynmem_threads() -> None:
    """Every policy gives the same hosts with DYNMEM_THREADS=1 and =3 (the
    pool's size, read once per process)."""
    import os

    kinds = [k for k in H.KINDS + ("user",) if k == "hyperv" or H.HAVE_POLICIES]
    code = _DIGEST.format(tests=os.path.dirname(os.path.abspath(__file__)), kinds=kinds)
    out = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DYNMEM_THREADS=t)) for t in ("1", "3")]
    for r in out:
        assert r.returncode == 0, r.stderr[-3000:]
    assert len(out[0].stdout.splitlines()) == len(kinds)
    assert out[0].stdout == out[1].stdout


def test_threads_setting_is_checked() -> None:
    host = dynmem.Host(physical_mb=8192)
    assert host.threads == 0
    host.threads = 2
    assert host.threads == 2
    for bad, kind in ((-1, dynmem.ConfigError), (5000, dynmem.ConfigError), (1.5, dynmem.ConfigTypeError), ("2", dynmem.ConfigTypeError)):
        try:
            host.threads = bad  # type: ignore[assignment]
        except kind as e:
            assert e.field == "threads" and e.value == bad, (e.field, e.value)
            assert "threads" in str(e)
        else:  # pragma: no cover
            raise AssertionError(f"threads = {bad!r} was accepted")
        assert host.threads == 2


def test_large_hosts_ticking_at_once_from_two_threads_match_one_at_a_time() -> None:
    """Two threads tick their own large hosts together (the GIL is released,
    so both compete for the core's pool): each ends as it would alone."""
    rows = [np.random.default_rng(k).integers(100, 3000, len(_fleet(1))) for k in range(6)]
    alone = _fleet(0)
    for row in rows:
        alone.set_demand_mb(row)
        alone.tick(1.0)
    hosts = [_fleet(0), _fleet(2)]
    errors: list[BaseException] = []

    def work(h: dynmem.Host) -> None:
        try:
            for row in rows:
                h.set_demand_mb(row)
                h.tick(1.0)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for h in hosts:
        assert np.array_equal(h.assigned_mb, alone.assigned_mb)
        assert np.array_equal(h.visible_mb, alone.visible_mb)


def test_a_forked_child_ticks_large_hosts_on_its_own_thread() -> None:
    """After the parent's pool has started, a child made by fork (as
    multiprocessing does on Linux) has the pool's memory but not its threads:
    its large ticks must not wait for the parent's helpers (it starts its own
    pool; tests/test_fork.py covers the other fork windows)."""
    import os
    import signal
    import time

    if not hasattr(os, "fork"):  # pragma: no cover - not on this platform
        return
    parent = _fleet(0)
    parent.tick(1.0)  # starts the pool here
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            signal.alarm(30)
            child, single = _fleet(0), _fleet(1)
            for h in (child, single):
                for _ in range(3):
                    h.tick(1.0)
            code = 0 if np.array_equal(child.assigned_mb, single.assigned_mb) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:  # pragma: no cover
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child hung ticking a large host")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
