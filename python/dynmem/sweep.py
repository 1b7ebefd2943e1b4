"""`sweep`: many scenarios on any `concurrent.futures.Executor`.

    >>> for key, result in dynmem.sweep({"a": spec_a, "b": spec_b}, evaluate):
    ...     print(key, result)

``evaluate(spec, seed)`` runs in a worker with ``seed`` a
`numpy.random.SeedSequence` spawned for that spec (the same spec order and
``seed`` give the same seeds wherever it runs). The default executor is a
local process pool whose workers run dynmem on one thread each
(``DYNMEM_THREADS=1``: the processes are the parallelism). Past one machine:
``executor=dask_client.get_executor()`` (the ``dask`` extra), or
`ray_executor` for Ray. Specs, ``evaluate`` and results must pickle
(`Host` and `Fleet` do, through snapshots).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import numpy as np

from .errors import ConfigTypeError, DynmemError

__all__ = ["sweep", "SweepError", "ray_executor"]


class SweepError(DynmemError):
    """Some tasks of a `sweep` raised. ``failures`` maps each failed key to
    its exception (``field`` is the first failed key); every other task ran
    and its result was yielded before this was raised.

    Attributes:
        failures: Each failed task's key → the exception it raised.
    """

    def __init__(self, failures: dict[Any, BaseException]) -> None:
        first = next(iter(failures))
        super().__init__(
            f"{len(failures)} sweep task(s) failed; the first, key {first!r}: "
            f"{type(failures[first]).__name__}: {failures[first]}",
            field=repr(first),
            value=first,
        )
        self.failures = failures


def _one_thread() -> None:
    """A worker's initialiser: dynmem on one thread (read when its pool starts)."""
    os.environ["DYNMEM_THREADS"] = "1"


def _call(evaluate: Callable[[Any, np.random.SeedSequence], Any], spec: Any, seed: np.random.SeedSequence) -> Any:
    return evaluate(spec, seed)


def sweep(
    specs: "Mapping[Any, Any] | list[Any] | tuple[Any, ...]",
    evaluate: Callable[[Any, np.random.SeedSequence], Any],
    executor: cf.Executor | None = None,
    *,
    seed: int | None = 0,
    max_workers: int | None = None,
) -> Iterator[tuple[Any, Any]]:
    """Runs ``evaluate(spec, seed)`` for every spec on ``executor`` and
    yields ``(key, result)`` as tasks complete (keys: the mapping's, or the
    positions of a list). Seeds: ``numpy.random.SeedSequence(seed).spawn``
    in spec order. A task that raises does not stop the others: once all
    are done, `SweepError` names the failed keys (and carries their
    exceptions). ``executor=None``: a process pool of ``max_workers``
    (default: the CPUs), one dynmem thread per task, shut down at the end.
    """
    if isinstance(specs, Mapping):
        items = list(specs.items())
    elif isinstance(specs, (list, tuple)):
        items = list(enumerate(specs))
    else:
        raise ConfigTypeError(f"specs must be a mapping or a list, got {type(specs).__name__}", "specs", type(specs).__name__)
    if not callable(evaluate):
        raise ConfigTypeError(f"evaluate must be a callable (spec, seed), got {evaluate!r:.80}", "evaluate", evaluate)
    if executor is not None and not hasattr(executor, "submit"):
        raise ConfigTypeError(f"executor must be a concurrent.futures.Executor, got {executor!r:.80}", "executor", executor)
    seeds = np.random.SeedSequence(seed).spawn(len(items))
    own = executor is None
    pool = cf.ProcessPoolExecutor(max_workers=max_workers, initializer=_one_thread) if own else executor
    assert pool is not None
    failures: dict[Any, BaseException] = {}
    try:
        futures = {pool.submit(_call, evaluate, spec, s): key for (key, spec), s in zip(items, seeds)}
        for fut in cf.as_completed(futures):
            key = futures[fut]
            try:
                result = fut.result()
            except Exception as e:  # the task's own error, kept with its key
                failures[key] = e
                continue
            yield key, result
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        raise SweepError(failures)


class _RayExecutor(cf.Executor):
    """A `concurrent.futures.Executor` over Ray tasks (see `ray_executor`)."""

    def __init__(self, num_cpus: float = 1) -> None:
        import ray  # type: ignore[import-not-found,unused-ignore]  # the optional dependency

        self._ray = ray
        self._remote = ray.remote(num_cpus=num_cpus)(_ray_call)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        return self._remote.remote(fn, args, kwargs).future()  # type: ignore[no-any-return]


def _ray_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    _one_thread()
    return fn(*args, **kwargs)


def ray_executor(num_cpus: float = 1) -> cf.Executor:
    """The Ray shim: an Executor whose tasks are Ray tasks of ``num_cpus``
    each (``ray.init()`` first; ``ObjectRef.future()`` makes each a
    `concurrent.futures.Future`). ``dynmem.sweep(specs, evaluate,
    executor=ray_executor())``. Needs ``ray`` installed."""
    return _RayExecutor(num_cpus)
