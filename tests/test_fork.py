"""Forking while other threads use dynmem (issue 10, defect 2): in every fork
window the child gets a working pool and usable hosts, or a clear
StateError for a host a thread was inside at the fork (its state is
undefined there).

Windows: before the pool's set-up, during it (another thread's first large
tick is starting the helpers), after it with a join in flight (another
thread ticking a large host), a host mid-tick, a host idle while another
thread lives. Each case runs in a fresh interpreter (the pool is set up once
per process), which forks; children exit with `os._exit` and a hung child is
killed and fails the test (each level has its own deadline)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or not os.path.isdir("/proc/self/task"), reason="needs fork and /proc"
)

PRELUDE = textwrap.dedent(
    """
    import os, signal, sys, threading, time, traceback
    import numpy as np
    import dynmem
    from dynmem import _dynmem

    sys.setswitchinterval(1.0)  # the main thread keeps the GIL from a check to its fork
    N = _dynmem.PARALLEL_MIN_VMS + 4096  # ticks in parts, on the pool

    def fleet(threads=0):
        h = dynmem.Host(physical_mb=N * 900, reserve_mb=0, policy=dynmem.HyperVPolicy(boot_report_delay_s=0))
        h.add_vms([f"v{i}" for i in range(N)], startup_mb=512, minimum_mb=256, maximum_mb=8192)
        h.threads = threads
        h.start_vms()
        return h

    ROWS = [np.random.default_rng(k).integers(100, 3000, N) for k in range(3)]

    def drive(h, rows=ROWS):
        for r in rows:
            h.set_demand_mb(r)
            h.tick(1.0)
        return h.assigned_mb.copy()

    def pool_works():
        # A fresh large host ticks on the pool as on one thread.
        return np.array_equal(drive(fleet(0)), drive(fleet(1)))

    def in_child(body, limit=60):
        # Runs body() in a forked child; its exit code, or "hung" (killed).
        pid = os.fork()
        if pid == 0:
            code = 97
            try:
                signal.alarm(limit)
                code = body()
            except BaseException:
                traceback.print_exc()
                code = 98
            finally:
                os._exit(code)
        deadline = time.monotonic() + limit + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "hung"
            time.sleep(0.01)

    def helpers():
        n = 0
        for t in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{t}/comm") as f:
                    n += f.read().startswith("dynmem-")
            except OSError:
                pass
        return n
    """
)


def run_script(body: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Runs PRELUDE + body in a fresh interpreter; it must print OK last."""
    e = dict(os.environ)
    e.update(env or {})
    try:
        r = subprocess.run(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
            capture_output=True,
            text=True,
            env=e,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as x:  # pragma: no cover - a hang is the failure
        raise AssertionError(f"hung: {x.stdout!r} {x.stderr!r}") from None
    out = r.stdout.strip().splitlines()
    assert r.returncode == 0 and out and out[-1] == "OK", (r.returncode, r.stdout, r.stderr[-3000:])
    return r.stdout


def test_child_forked_before_the_pool_started_gets_its_own() -> None:
    run_script(
        """
        code = in_child(lambda: 0 if pool_works() and helpers() > 0 else 1)
        assert code == 0, code
        assert pool_works()  # and the parent starts its pool afterwards
        print("OK")
        """,
        env={"DYNMEM_THREADS": "3"},
    )


def test_child_forked_while_another_thread_starts_the_pool() -> None:
    """The hang of defect 2: the child's first large tick waited forever for
    the parent's set-up, half done at the fork. Each attempt is a fresh
    process (forked before any set-up) whose second thread's first large
    tick starts 255 helpers; it forks when some but not all have started."""
    run_script(
        """
        def attempt():
            h = fleet(0)
            t = threading.Thread(target=drive, args=(h,))
            t.start()
            while not 8 <= helpers() <= 200:
                if not t.is_alive():
                    return 5  # missed the window
            code = in_child(lambda: 0 if pool_works() else 1)
            t.join()
            return code

        codes = []
        for _ in range(6):
            codes.append(in_child(attempt))
            if codes[-1] != 5:
                break
        assert all(c in (0, 5) for c in codes), codes
        assert 0 in codes, f"never forked mid-set-up: {codes}"
        print("OK")
        """,
        env={"DYNMEM_THREADS": "256"},
    )


def test_child_forked_mid_tick_gets_a_working_pool_and_a_clear_error_for_that_host() -> None:
    """After the pool started, another thread ticks a large host (joins in
    flight, the host's lock held, the GIL released). In the child that host
    raises StateError saying so, for good; a host idle at the fork and new
    hosts work, on a pool of the child's own."""
    run_script(
        """
        busy, idle = fleet(0), fleet(0)
        want_idle = drive(fleet(0), ROWS[:1])
        drive(idle, ROWS[:1])
        stop = threading.Event()

        def spin():
            while not stop.is_set():
                drive(busy)

        t = threading.Thread(target=spin)
        t.start()

        def child():
            try:
                busy.time_s
            except dynmem.StateError as e:
                if "forked" not in str(e):
                    return 2
            else:
                return 6  # the tick had ended: not this window
            for _ in range(2):  # for good, and for every call
                try:
                    busy.tick(1.0)
                    return 3
                except dynmem.StateError:
                    pass
            if not np.array_equal(idle.assigned_mb, want_idle):
                return 4
            if not np.array_equal(drive(idle, ROWS[1:]), drive_twice()):
                return 7
            return 0 if pool_works() and helpers() > 0 else 1

        def drive_twice():
            h = fleet(0)
            drive(h, ROWS[:1])
            return drive(h, ROWS[1:])

        codes = []
        for _ in range(20):
            try:
                busy.time_s
                time.sleep(0.001)
                continue  # between ticks: wait for one
            except dynmem.StateError:
                pass
            codes.append(in_child(child))
            if codes[-1] != 6:
                break
        stop.set()
        t.join()
        assert all(c in (0, 6) for c in codes), codes
        assert 0 in codes, f"never forked mid-tick: {codes}"
        print("OK")
        """,
        env={"DYNMEM_THREADS": "3"},
    )


def test_child_forked_while_another_thread_waits_between_ticks_uses_that_host() -> None:
    """A host idle at the fork (its thread parked between ticks) is the
    parent's host at that tick in the child, and goes on as it would."""
    run_script(
        """
        h = fleet(0)
        between, go = threading.Event(), threading.Event()

        def work():
            drive(h, ROWS[:1])
            between.set()
            go.wait()
            drive(h, ROWS[1:])

        t = threading.Thread(target=work)
        t.start()
        between.wait()

        def child():
            w = fleet(0)
            drive(w, ROWS[:1])
            if not np.array_equal(h.assigned_mb, w.assigned_mb):
                return 2
            return 0 if np.array_equal(drive(h, ROWS[1:]), drive(w, ROWS[1:])) else 3

        code = in_child(child)
        go.set()
        t.join()
        assert code == 0, code
        print("OK")
        """,
        env={"DYNMEM_THREADS": "3"},
    )
