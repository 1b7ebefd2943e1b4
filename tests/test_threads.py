"""A host used from two threads: heavy calls release the GIL; a second
thread that touches the host meanwhile gets StateError, never a crash or a
bare RuntimeError; afterwards everything works."""

from __future__ import annotations

import threading

import numpy as np

import dynmem
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
            assert "in use by another thread" in str(e)
            busy += 1
    t.join()
    assert not errors, errors
    assert busy > 0, f"never saw the host busy in {reads} reads"
    assert host.time_s == 400.0
    assert host.assigned_mb.sum() + host.available_mb == host.physical_mb - host.reserve_mb
