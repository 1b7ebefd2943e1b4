"""Run a `Host` inside a SimPy simulation. Needs SimPy: ``pip install 'dynmem[simpy]'``.

`HostProcess` is a SimPy process that balances the host every ``dt_s``
of simulated time; the rest of the simulation (jobs, schedulers, operators)
are ordinary SimPy processes that set demand, start and stop VMs, and wait
for ticks::

    import simpy, dynmem
    from dynmem.simpy import HostProcess

    env = simpy.Environment()
    host = dynmem.Host(16384, 1024)
    web = host.add_vm("web", maximum_mb=8192)
    web.start()
    hp = HostProcess(env, host, dt_s=1.0, demand={"web": lambda t: 2048 + int(t)})

    def operator(env):
        yield env.timeout(600)
        batch = host.add_vm("batch", startup_mb=4096)
        waited = yield hp.wait_for_memory(batch)   # retried after every tick

    env.process(operator(env))
    env.run(until=3600)                             # host.time_s == 3600.0

Timing (the same as `Host.run`): the tick at SimPy time ``t`` covers
``[t, t + dt_s)``. It runs *after* every other event scheduled for time
``t`` — so a VM started, or a demand set, by a process at time ``t`` is in
that tick, like an `Event` at that tick of `Host.run` — then pulls demand
for time ``t``, calls ``host.tick(dt_s)``, calls the `on_tick` hooks and
fires `ticked`. The first tick is at the SimPy time the `HostProcess` is
created, so ``env.run(until=t0 + n * dt_s)`` runs exactly ``n`` ticks
(SimPy stops *before* events at the ``until`` time).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import Any, Union

import numpy as np
import numpy.typing as npt

from ._host import VM, Host
from ._validate import check_instance, check_int, check_real
from .errors import ConfigTypeError, InsufficientMemoryError, StateError
from .timeline import Timeline

__all__ = ["HostProcess", "DemandFn", "VmDemandFn", "TickHook"]

DemandFn = Callable[[float], npt.ArrayLike]
"""Whole-host demand: ``demand(now_s)`` → one value (MB) per VM, in ``host.vms`` order."""
VmDemandFn = Callable[[float], Union[int, float, np.integer[Any], np.floating[Any]]]
"""One VM's demand: ``demand(now_s)`` → MB."""
TickHook = Callable[["HostProcess"], None]
"""Called after each tick with the `HostProcess`."""

# SimPy processes events of equal time by (priority, insertion order); it uses
# URGENT = 0 and NORMAL = 1. The tick is scheduled at LATE so it comes after
# everything else due at the same time.
_LATE = 2


def _import_simpy() -> Any:
    try:
        import simpy
    except ImportError as e:
        raise ImportError(
            "dynmem.simpy needs SimPy: pip install 'dynmem[simpy]' (or pip install simpy)"
        ) from e
    return simpy


class HostProcess:
    """Ticks ``host`` every ``dt_s`` seconds of SimPy time, as a SimPy process.

    Parameters
    ----------
    env:
        The ``simpy.Environment``. Its time unit is taken to be seconds.
    host:
        The `Host` to drive. Nothing else should call ``host.tick`` or
        ``host.run`` while the process runs.
    dt_s:
        Seconds per tick (> 0); SimPy time advances by this between ticks.
    demand:
        Where each tick's demand comes from, pulled just before the tick at
        SimPy time ``now``:

        - ``None``: nothing is pulled; demand is whatever other processes
          last set (``vm.demand_mb = ...`` or ``host.set_demand_mb``).
        - a callable ``demand(now_s)`` returning one value per VM in
          ``host.vms`` order (given to ``host.set_demand_mb``);
        - a mapping ``{vm_or_name: callable(now_s) -> MB}``; VMs not in it
          keep their current demand. Names are resolved when the
          `HostProcess` is created. More entries can be added to
          `vm_demand` later.

        Values must be integers, whole MB (``ConfigError`` otherwise, which
        ends the simulation as any exception in a SimPy process does).
    record_every:
        If given, record a row after every ``record_every``-th tick (the
        first tick is always recorded); `timeline` returns the rows.

    Attributes
    ----------
    env:
        The ``simpy.Environment``.
    host:
        The `Host` it ticks.
    dt_s:
        Seconds per tick.
    record_every:
        Ticks between recorded rows, or None (nothing recorded).
    demand_fn:
        The whole-host ``demand(now_s)`` callable given, or None.
    vm_demand:
        ``{vm: demand(now_s)}`` for per-VM demand (add entries to pull more VMs).
    on_tick:
        Callables ``hook(host_process)`` run after each tick, in order.
    ticks:
        Ticks done so far.
    process:
        The underlying ``simpy.Process``.
    """

    def __init__(
        self,
        env: Any,
        host: Host,
        dt_s: float = 1.0,
        demand: DemandFn | Mapping[VM | str, VmDemandFn] | None = None,
        *,
        record_every: int | None = None,
    ) -> None:
        self._simpy = _import_simpy()
        self.env = env
        self.host = check_instance(host, "host", Host, "a dynmem.Host")
        self.dt_s = check_real(
            dt_s, "dt_s", "a positive finite number of seconds", low=0.0, low_inclusive=False
        )
        self.record_every = None if record_every is None else check_int(
            record_every, "record_every", "a positive integer or None", low=1
        )
        self.demand_fn: DemandFn | None = None
        self.vm_demand: dict[VM, VmDemandFn] = {}
        if isinstance(demand, Mapping):
            for key, fn in demand.items():
                vm = self._resolve(key)
                if not callable(fn):
                    raise ConfigTypeError(f"demand[{key!r}] must be callable, got {fn!r}", "demand", fn)
                self.vm_demand[vm] = fn
        elif callable(demand):
            self.demand_fn = demand
        elif demand is not None:
            raise ConfigTypeError(
                f"demand must be None, a callable or a mapping of VM to callable, got {demand!r}", "demand", demand
            )
        self.on_tick: list[TickHook] = []
        self.ticks = 0
        self._stopped = False
        self._ticked: Any = env.event()
        self._events: list[tuple[int, str, str, str | None]] = []
        self._rows: list[tuple[list[int], Timeline]] = []
        # Every VM the host had while this process ran, by id, in order of
        # first appearance: the timeline's columns (a name used again by a
        # new VM is a new column; a VM that lived between two ticks is one).
        self._seen: dict[int, str] = dict(zip(host._core.ids().tolist(), host._core.names()))
        host._watchers.append(self._follow)
        self.process: Any = env.process(self._loop())

    # ----- public API ---------------------------------------------------------
    @property
    def ticked(self) -> Any:
        """A SimPy event that succeeds right after the next tick, with value
        ``host.time_s``. ``yield hp.ticked`` in a process to wait a tick."""
        return self._ticked

    def wait_for_memory(self, vm: VM | str, *, timeout_s: float | None = None) -> Any:
        """Starts ``vm``, retrying after every tick while the host lacks the
        memory (`InsufficientMemoryError`); returns a SimPy process to yield.

        The first attempt is immediate; its value is the seconds waited
        (0.0 when memory was there). With ``timeout_s``, the process fails
        with the last `InsufficientMemoryError` once ``timeout_s`` seconds
        have passed without success. Any other error (e.g. `StateError`,
        the VM already running) fails it at once. Successful starts and
        timeouts are logged in `timeline`'s ``events``.
        """
        handle = self._resolve(vm)
        if timeout_s is not None:
            timeout_s = check_real(timeout_s, "timeout_s", ">= 0 or None", low=0.0, finite=False)
        return self.env.process(self._wait_for_memory(handle, timeout_s))

    def stop(self) -> None:
        """Ends the process: no more ticks (the host keeps its state)."""
        if not self._stopped:
            self._stopped = True
            if self._follow in self.host._watchers:  # no more rows: stop following the host
                self.host._watchers.remove(self._follow)
            if self.process.is_alive and self.process is not self.env.active_process:
                self.process.interrupt("dynmem.simpy.HostProcess.stop")

    @property
    def stopped(self) -> bool:
        """True once `stop` was called (no more ticks)."""
        return self._stopped

    def timeline(self) -> Timeline:
        """The rows recorded so far (``record_every`` must have been given).

        ``tick`` counts this process's ticks from 0; ``time_s`` is
        ``host.time_s`` after the tick, as in `Host.run`. There is one
        column per VM the host had while the process ran, keyed by the VM
        (not its name): a VM added after recording began (or removed before
        it ended) is off, with zeros, in the rows where it did not exist; a
        VM that came and went between two ticks is a column that is off
        throughout; a name reused by a later VM gets a column of its own,
        ``name#2``, ``name#3``, ... ``events``
        holds the starts made by `wait_for_memory` as ``(tick, vm_name,
        "start", error_or_None)``, ``tick`` being the first tick the start
        is part of.
        """
        if self.record_every is None:
            raise StateError("this HostProcess records nothing: pass record_every=", "record_every", None)
        labels = self._labels()
        parts = [replace(row, names=[labels[i] for i in ids]) for ids, row in self._rows]
        if parts:
            joined = Timeline.concat(parts, names=list(labels.values()))
        else:
            joined = Timeline.concat([Timeline._empty(self.dt_s, self.record_every)], names=list(labels.values()))
        return replace(joined, record_every=self.record_every, events=list(self._events))

    def _labels(self) -> dict[int, str]:
        """A column name per VM seen: its name, ``name#k`` for the k-th VM
        that carried it."""
        count: dict[str, int] = {}
        labels = {}
        for vm_id, name in self._seen.items():
            count[name] = count.get(name, 0) + 1
            labels[vm_id] = name if count[name] == 1 else f"{name}#{count[name]}"
        return labels

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<HostProcess {state} dt_s={self.dt_s:g} ticks={self.ticks} host={self.host!r}>"

    # ----- internals ----------------------------------------------------------
    def _follow(self, what: str, vm_id: int, name: str) -> None:
        """The host's watcher: note new VMs; a removed VM leaves `vm_demand`."""
        if what == "add":
            self._seen.setdefault(vm_id, name)
        else:
            for vm in [vm for vm in self.vm_demand if vm.id == vm_id]:
                del self.vm_demand[vm]

    def _resolve(self, vm: VM | str) -> VM:
        if isinstance(vm, str):
            return self.host.vm(vm)
        return self.host._own(check_instance(vm, "vm", VM, "a VM handle or a VM name"))

    def _late_timeout(self, delay: float) -> Any:
        # What simpy.Timeout does, at a priority after NORMAL (see _LATE).
        ev = self.env.event()
        ev._ok = True
        ev._value = None
        self.env.schedule(ev, _LATE, delay)
        return ev

    def _loop(self) -> Generator[Any, Any, None]:
        interrupt = self._simpy.Interrupt
        delay = 0.0
        while not self._stopped:
            try:
                yield self._late_timeout(delay)
            except interrupt:
                break
            if self._stopped:
                break
            self._tick(float(self.env.now))
            delay = self.dt_s

    def _tick(self, now: float) -> None:
        self._pull_demand(now)
        k = self.ticks
        if self.record_every is not None and k % self.record_every == 0:
            # The same tick through Host.run, which records the row.
            ids = self.host._core.ids().tolist()
            row = self.host.run(self.host.demand_mb[np.newaxis], self.dt_s)
            self._rows.append((ids, replace(row, tick=np.array([k], dtype=np.uint64))))
        else:
            self.host.tick(self.dt_s)
        self.ticks += 1
        for hook in list(self.on_tick):
            hook(self)
        ev, self._ticked = self._ticked, self.env.event()
        ev.succeed(self.host.time_s)

    def _pull_demand(self, now: float) -> None:
        if self.demand_fn is not None:
            self.host.set_demand_mb(self.demand_fn(now))
        if self.vm_demand:
            vms = self.host.vms
            pos = {vm.id: i for i, vm in enumerate(vms)}
            values: list[Any] = self.host.demand_mb.tolist()
            for vm, fn in self.vm_demand.items():
                i = pos.get(vm.id)
                if i is None or vms[i] is not vm:
                    raise StateError(f"vm {vm.id} in vm_demand is no longer on the host", "vm", vm.id)
                values[i] = fn(now)
            self.host.set_demand_mb(values)

    def _wait_for_memory(self, vm: VM, timeout_s: float | None) -> Generator[Any, Any, float]:
        t0 = float(self.env.now)
        while True:
            try:
                vm.start()
            except InsufficientMemoryError as e:
                if timeout_s is not None and float(self.env.now) - t0 >= timeout_s:
                    self._events.append((self.ticks, vm.name, "start", str(e)))
                    raise
                yield self._ticked
                continue
            self._events.append((self.ticks, vm.name, "start", None))
            return float(self.env.now) - t0
