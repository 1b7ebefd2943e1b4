"""`dynmem.sweep` (issue 12): the standard library's process pool by
default, a Dask LocalCluster started and stopped here (the ``dask`` extra,
offline), Ray where it installs. A failing task raises with its key after
every other task completed."""

from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest

import dynmem
from dynmem.sweep import SweepError, ray_executor


def evaluate(spec: dict, seed: np.random.SeedSequence) -> tuple[int, int]:
    """A small host per spec: Σ assigned after a few ticks of seeded demand."""
    if spec.get("fail"):
        raise ValueError(f"bad spec {spec}")
    rng = np.random.default_rng(seed)
    h = dynmem.Host(spec["physical_mb"], reserve_mb=512)
    h.add_vms([f"v{i}" for i in range(8)], startup_mb=512, maximum_mb=4096)
    h.start_vms()
    for _ in range(5):
        h.set_demand_mb(rng.integers(0, 3000, 8))
        h.tick(1.0)
    return spec["physical_mb"], int(h.assigned_mb.sum())


SPECS = {f"h{k}": {"physical_mb": 4096 * (k + 1)} for k in range(6)}


def expected() -> dict:
    seeds = np.random.SeedSequence(0).spawn(len(SPECS))
    return {key: evaluate(spec, s) for (key, spec), s in zip(SPECS.items(), seeds)}


def test_sweep_on_the_default_process_pool_matches_a_plain_loop() -> None:
    got = dict(dynmem.sweep(SPECS, evaluate, max_workers=2))
    assert got == expected()


def test_a_list_is_keyed_by_position_and_threads_work_too() -> None:
    with cf.ThreadPoolExecutor(2) as ex:
        got = dict(dynmem.sweep(list(SPECS.values()), evaluate, executor=ex))
    assert got == {k: v for k, v in enumerate(expected().values())}


def test_a_failed_task_raises_with_its_key_after_the_others() -> None:
    specs = dict(SPECS, bad={"fail": True})
    seen = {}
    with cf.ThreadPoolExecutor(2) as ex, pytest.raises(SweepError) as e:
        for key, result in dynmem.sweep(specs, evaluate, executor=ex):
            seen[key] = result
    assert set(seen) == set(SPECS)
    assert list(e.value.failures) == ["bad"] and e.value.value == "bad"
    assert isinstance(e.value.failures["bad"], ValueError)


def test_sweep_on_a_dask_local_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            got = dict(dynmem.sweep(SPECS, evaluate, executor=client.get_executor()))
    assert got == expected()


def test_sweep_on_ray() -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        got = dict(dynmem.sweep(SPECS, evaluate, executor=ray_executor()))
    finally:
        ray.shutdown()
    assert got == expected()
