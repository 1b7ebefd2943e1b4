"""Host, VM and HyperVPolicy: the Python face of the Rust core.

`Host` owns a `dynmem._dynmem.Host` (the Rust struct of arrays); `VM` objects
are small handles (host + VM id) whose attribute reads go straight to those
arrays. Bulk reads and writes cross the FFI once, as numpy arrays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import numpy.typing as npt

from . import _dynmem
from .errors import ConfigError, ConfigTypeError, DynmemError, StateError
from ._validate import as_array, bad_entry, check_instance, check_items, int_array
from .events import Event
from .timeline import Timeline

__all__ = ["Host", "VM", "HyperVPolicy", "MAX_MAXIMUM_MB"]

# The binding caches this process's pid (a host's lock reads it on every
# call); a forked child forgets it before running anything else.
os.register_at_fork(after_in_child=_dynmem._after_fork_in_child)


#: Largest legal ``maximum_mb`` (1 TB), Hyper-V 2012's default maximum.
MAX_MAXIMUM_MB: int = _dynmem.MAX_MAXIMUM_MB


@dataclass(frozen=True)
class HyperVPolicy:
    """Delays, rates and units of the balancer's mechanics.

    Microsoft publishes the units (2 MB balloon granularity, 128 MB hot-add
    alignment of the Linux guest, ~45 reports before a guest's driver
    reports); the lazy-removal delay and rate are dynmem's choices. See
    ``docs/balancer.md``. Validated when a `Host` is created.
    """

    #: Granularity of allocation and ballooning (MB); VM sizes must be multiples of it.
    balloon_unit_mb: int = 2
    #: Guest-visible memory grows in chunks of this size (MB).
    hot_add_chunk_mb: int = 128
    #: Seconds after start before the guest reports demand; until then it holds startup memory.
    boot_report_delay_s: float = 45.0
    #: Seconds excess memory must persist before lazy ballooning starts (when nobody needs it).
    remove_delay_s: float = 5.0
    #: Lazy ballooning speed (MB/s).
    remove_rate_mb_per_s: float = 256.0


class VM(_dynmem.VmHandle):
    """A handle to one VM on a `Host`.

    Settings (``startup_mb``, ``minimum_mb``, ``maximum_mb``, ``buffer_pct``,
    ``weight``, ``dynamic``) are read and assigned as attributes, under
    Hyper-V's runtime rules; ``demand_mb`` is the guest's committed memory.
    ``assigned_mb``, ``visible_mb``, ``target_mb``, ``pressure``, ``status``,
    ``paging_mb`` and ``counters`` report the balancer's view. Once the VM is
    removed from its host every access raises `StateError`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.exists:
            return f"<VM id={self.id} (removed)>"
        return (
            f"<VM {self.name!r} {self.state} assigned={self.assigned_mb} MB "
            f"demand={self.demand_mb} MB status={self.status}>"
        )

    def __copy__(self) -> VM:
        """The same handle: a handle is an immutable reference to one VM."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> VM:
        raise ConfigTypeError(
            "a VM handle cannot be deep-copied on its own: copy.deepcopy(host) copies the host "
            "with its VMs, and copy.vm(name) gives the copy's handle",
            "vm",
            self.id,
        )

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise ConfigTypeError("a VM handle cannot be pickled (hosts cannot be pickled yet either)", "vm", self.id)


class Host:
    """A Hyper-V host: physical memory, a host reserve, and VMs sharing the rest.

    >>> host = Host(physical_mb=8192, reserve_mb=512)
    >>> vm = host.add_vm("Finance", startup_mb=1024, maximum_mb=4096)
    >>> vm.start(); vm.demand_mb = 2500; host.tick(dt_s=1.0)

    ``reserve_mb=None`` applies the 2008 R2 SP1 rule, 384 MB + 64 MB per GB
    of physical memory. ``policy`` (a `HyperVPolicy`) sets the mechanics.
    """

    __slots__ = ("_core", "_handles", "_policy")

    def __init__(
        self, physical_mb: int, reserve_mb: int | None = None, policy: HyperVPolicy | None = None
    ) -> None:
        policy = HyperVPolicy() if policy is None else check_instance(policy, "policy", HyperVPolicy, "a HyperVPolicy")
        self._core = _dynmem.Host(physical_mb, reserve_mb, policy)
        self._policy = policy
        self._handles: dict[int, VM] = {}

    # ----- settings and totals ---------------------------------------------
    @property
    def physical_mb(self) -> int:
        """Host physical memory (MB)."""
        return self._core.physical_mb

    @property
    def reserve_mb(self) -> int:
        """Host reserve (MB): never assigned to VMs."""
        return self._core.reserve_mb

    @property
    def policy(self) -> HyperVPolicy:
        return self._policy

    @property
    def time_s(self) -> float:
        """Simulated seconds elapsed (sum of every tick's ``dt_s``)."""
        return self._core.time_s

    @property
    def available_mb(self) -> int:
        """physical − reserve − Σ assigned (counter *Available Memory*)."""
        return self._core.available_mb

    @property
    def heap_bytes(self) -> int:
        """Bytes the Rust core holds for this host: VM columns, names and
        their index, solver scratch (not the Python `VM` handles)."""
        return self._core.heap_bytes

    @property
    def threads(self) -> int:
        """Threads a tick may use; 0 (the default) means every CPU (the
        core's pool: the CPU count, or ``DYNMEM_THREADS`` read when the first
        large tick runs). Only hosts of at least
        ``dynmem._dynmem.PARALLEL_MIN_VMS`` (32,768) VMs tick on more than
        one thread. Results are identical for any number; set 1 when running
        many simulations side by side."""
        return self._core.threads

    @threads.setter
    def threads(self, value: int) -> None:
        self._core.threads = value

    @property
    def counters(self) -> dict[str, float]:
        """Host counters by Hyper-V name, in the order of
        ``dynmem._dynmem.HOST_COUNTER_NAMES`` (Available Memory, Average
        Pressure, System Current Pressure)."""
        return self._core.counters()

    # ----- VMs --------------------------------------------------------------
    def add_vm(
        self,
        name: str,
        startup_mb: int = 1024,
        maximum_mb: int = MAX_MAXIMUM_MB,
        minimum_mb: int | None = None,
        buffer_pct: int = 20,
        weight: int = 5000,
        dynamic: bool = True,
    ) -> VM:
        """Adds a VM (off). ``minimum_mb=None`` means equal to ``startup_mb``."""
        vm_id = self._core.add_vm(name, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic)
        return self._handle(vm_id)

    def add_vms(
        self,
        names: "list[str]",
        startup_mb: "int | npt.ArrayLike" = 1024,
        maximum_mb: "int | npt.ArrayLike" = MAX_MAXIMUM_MB,
        minimum_mb: "int | npt.ArrayLike | None" = None,
        buffer_pct: "int | npt.ArrayLike" = 20,
        weight: "int | npt.ArrayLike" = 5000,
        dynamic: "bool | npt.ArrayLike" = True,
    ) -> list[VM]:
        """Adds many VMs (off) in one call, all or nothing.

        Each setting is one value for all or an array with one entry per
        name; errors name the entry (``weight[3] must be between 0 and
        10000, got 20000``). ``minimum_mb=None`` means equal to startup.
        """
        # Any iterable of names (the binding checks each is a str: names[k]).
        names = check_items(names, "names", "a list of strings")
        n = len(names)

        def column(field: str, value: Any) -> npt.NDArray[np.int64]:
            arr = as_array(field, value)
            if arr.ndim == 0:
                arr = np.full(n, arr)
            return int_array(field, arr, n)

        if minimum_mb is None:
            minimum = np.full(n, -1, dtype=np.int64)
        else:
            minimum = column("minimum_mb", minimum_mb)
            if (minimum < 0).any():
                bad_entry("minimum_mb", minimum, minimum < 0, f"must be between 32 and {MAX_MAXIMUM_MB} MB")
        dyn = as_array("dynamic", dynamic)
        if dyn.shape == (0,):  # [] is float64 to numpy: a valid empty bool array
            dyn = dyn.astype(np.bool_)
        if dyn.dtype != np.bool_:
            raise ConfigTypeError(f"dynamic must be True/False or a bool array, got {dynamic!r:.80}", "dynamic", dynamic)
        if dyn.ndim > 1 or (dyn.ndim == 1 and dyn.shape[0] != n):
            raise ConfigError(f"dynamic must have one entry per name ({n}), got shape {dyn.shape}", "dynamic", dyn.shape)
        ids = self._core.add_vms(
            names,
            column("startup_mb", startup_mb),
            column("maximum_mb", maximum_mb),
            minimum,
            column("buffer_pct", buffer_pct),
            column("weight", weight),
            np.ascontiguousarray(np.broadcast_to(dyn, (n,))),
        )
        return [self._handle(int(i)) for i in ids]

    def _handle(self, vm_id: int) -> VM:
        """The one handle of VM ``vm_id`` (made on first use)."""
        vm = self._handles.get(vm_id)
        if vm is None:
            vm = self._handles[vm_id] = VM(self._core, vm_id)
        return vm

    def _own(self, vm: VM, field: str = "vm") -> VM:
        if not isinstance(vm, VM):
            raise ConfigTypeError(f"{field} must be a VM handle, got {vm!r:.80}", field, vm)
        if self._handles.get(vm.id) is not vm or not vm.exists:
            raise StateError(f"{field}: vm {vm.id} is not on this host (removed, or from another host)", field, vm.id)
        return vm

    def _vm_of(self, vm: "VM | str", field: str) -> VM:
        """A VM of this host given as a handle or a name; errors name ``field``."""
        if not isinstance(vm, str):
            if not isinstance(vm, VM):
                raise ConfigTypeError(f"{field} must be a VM or a VM name, got {vm!r:.80}", field, vm)
            return self._own(vm, field)
        try:
            return self.vm(vm)
        except DynmemError as e:  # "name: no VM called ...", "name must be valid Unicode ..."
            raise type(e)(field + str(e).removeprefix("name"), field, vm) from None

    def _ids(self, vms: "Iterable[VM | str]") -> npt.NDArray[np.uint64]:
        """Ids of a batch of VMs given as handles or names (not one str)."""
        items = check_items(vms, "vms", "a list of VMs or VM names, or None")
        return np.array([self._vm_of(v, f"vms[{k}]").id for k, v in enumerate(items)], dtype=np.uint64)

    def start_vms(self, vms: "Iterable[VM | str] | None" = None) -> npt.NDArray[np.bool_]:
        """Starts many VMs at once (default: every off VM), in order, exactly
        as calling ``vm.start()`` on each in turn would, in one call.

        Returns a boolean array, ``True`` where the VM started; a VM whose
        startup memory could not be found stays off (its ``start()`` would
        have raised `InsufficientMemoryError`). Unknown, repeated or already
        started VMs raise `StateError` before anything starts.
        """
        ids = self._core.ids_where_off(True) if vms is None else self._ids(vms)
        started, _failed = self._core.start_many(ids)
        return started

    def stop_vms(self, vms: "Iterable[VM | str] | None" = None) -> None:
        """Stops many VMs at once (default: every started VM); their memory
        returns to the host. Unknown, repeated or off VMs raise `StateError`
        before anything stops."""
        ids = self._core.ids_where_off(False) if vms is None else self._ids(vms)
        self._core.stop_many(ids)

    def remove_vm(self, vm: VM) -> None:
        """Removes an off VM; its handle becomes stale (`StateError` on use)."""
        self._core.remove_vm(self._own(vm).id)
        self._handles.pop(vm.id, None)

    def vm(self, name: str) -> VM:
        """The VM called ``name`` (`StateError` if there is none)."""
        return self._handle(self._core.find(name))

    @property
    def vms(self) -> list[VM]:
        """The VMs, in the stable order every bulk array uses (insertion order)."""
        return [self._handle(i) for i in self._core.ids().tolist()]

    def __len__(self) -> int:
        return len(self._core)

    def __iter__(self) -> Iterator[VM]:
        return iter(self.vms)

    def __copy__(self) -> Host:
        """An independent copy: the same VMs, settings, state, counters and
        time, in a new core; its `VM` handles (``copy.vms``, ``copy.vm(name)``)
        are the copy's own. ``copy.deepcopy`` gives the same."""
        new = type(self).__new__(type(self))
        new._core = self._core.copy()
        new._policy = self._policy
        new._handles = {}
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Host:
        return self.__copy__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise ConfigTypeError(
            "a Host cannot be pickled yet (copy.copy(host) gives an independent copy in this process)",
            "host",
            repr(self),
        )

    def __repr__(self) -> str:
        return (
            f"<Host physical={self.physical_mb} MB reserve={self.reserve_mb} MB vms={len(self)} "
            f"available={self.available_mb} MB t={self.time_s:g} s>"
        )

    # ----- time -------------------------------------------------------------
    def tick(self, dt_s: float = 1.0) -> None:
        """One balancing pass covering ``dt_s`` seconds."""
        self._core.tick(dt_s)

    def run(
        self,
        demand_mb: npt.ArrayLike,
        dt_s: float = 1.0,
        events: list[Event] | None = None,
        record_every: int = 1,
        progress: Callable[[int, int], None] | None = None,
        record_counters: bool = False,
    ) -> Timeline:
        """Runs ``demand_mb.shape[0]`` ticks with the whole loop in Rust.

        ``demand_mb`` is a ``(ticks, vms)`` array in ``host.vms`` order.
        Tick ``k`` applies the `Event` objects scheduled at ``k``, sets row
        ``k`` as every VM's demand, balances, and records a row when
        ``k % record_every == 0``. Identical to stepping `tick` by hand.
        Bad input raises before anything changes; a failing event (a start
        without memory, an illegal change) is recorded in
        ``Timeline.events`` instead of raised. The GIL is released.

        With ``progress``, the run goes in about 100 chunks (each a multiple
        of ``record_every`` ticks, so the recorded rows are the same) and
        ``progress(ticks_done, ticks)`` is called after each. The callback
        may read the host and change settings, start and stop VMs, but not
        add or remove VMs (the demand matrix's columns are the VMs at the
        start): that raises `StateError` after the callback returns.

        **Stopped part-way.** Ctrl-C (any signal whose handler raises; signals
        are checked about every 50 ms between ticks), a ``progress`` callback
        that raises, or the `StateError` above ends the run after a whole
        tick: the host is as after that tick (after the last whole chunk for
        the callback), the events of later ticks have not run, and the
        exception (``KeyboardInterrupt`` for Ctrl-C, re-raised as it came)
        carries ``timeline``, the rows recorded so far, and ``ticks_done``.

        With ``record_counters=True`` each recorded row also holds every
        VM's and the host's Hyper-V counters (`Timeline.counters`,
        `Timeline.host_counters`; about 80 more bytes per VM and row), which
        `Timeline.to_pdh_csv` writes.
        """
        if not isinstance(record_counters, bool):
            raise ConfigTypeError(f"record_counters must be True or False, got {record_counters!r:.80}",
                                  "record_counters", record_counters)
        if progress is not None and not callable(progress):
            raise ConfigTypeError(
                f"progress must be a callable (ticks_done, ticks) or None, got {progress!r:.80}", "progress", progress
            )
        # Names in one call, not through a handle per VM.
        names = self._core.names()
        arr = int_array("demand_mb", demand_mb, len(names), ndim=2)
        raw, event_names = self._run_events(events)
        ticks = arr.shape[0]
        if progress is None or ticks == 0:
            bounds = [(0, ticks)]
        else:
            # Check everything once, so that a bad entry late in the run fails
            # before the first chunk changes anything.
            self._core.check_run(arr, dt_s, raw, record_every)
            chunk = max(record_every, (ticks // 100) // record_every * record_every)
            bounds = [(lo, min(ticks, lo + chunk)) for lo in range(0, ticks, chunk)]
        ids = self._core.ids() if len(bounds) > 1 else None
        parts: list[Timeline] = []
        done = 0
        try:
            for lo, hi in bounds:
                part = raw if len(bounds) == 1 else [(t - lo, vid, a, c) for t, vid, a, c in raw if lo <= t < hi]
                parts.append(self._run_once(arr[lo:hi], dt_s, part, record_every, names, event_names, lo, record_counters))
                done = hi
                if progress is not None and ticks:
                    progress(hi, ticks)
                    if hi < ticks and ids is not None and not np.array_equal(self._core.ids(), ids):
                        raise StateError(
                            "progress must not add or remove VMs during a run (the demand matrix's columns are "
                            f"the VMs at its start), got {progress!r:.80}",
                            "progress",
                            progress,
                        )
        except BaseException as e:
            partial = e.__dict__.pop("_dynmem_partial", None)
            if partial is not None:
                parts.append(partial[0])
                done += partial[1]
            if parts:  # ticks ran: say how far
                e.timeline = parts[0] if len(parts) == 1 else Timeline.concat(parts)  # type: ignore[attr-defined]
                e.ticks_done = done  # type: ignore[attr-defined]
            raise
        return parts[0] if len(parts) == 1 else Timeline.concat(parts)

    def _run_events(
        self, events: "Iterable[Event] | None"
    ) -> tuple[list[tuple[int, int, str, dict[str, Any] | None]], dict[int, str]]:
        """`run`'s events as the binding's tuples, and each VM's name by id."""
        raw: list[tuple[int, int, str, dict[str, Any] | None]] = []
        event_names: dict[int, str] = {}
        items = [] if events is None else check_items(events, "events", "a list of dynmem.Event or None")
        for i, ev in enumerate(items):
            if not isinstance(ev, Event):
                raise ConfigTypeError(f"events[{i}] must be a dynmem.Event, got {ev!r:.80}", f"events[{i}]", ev)
            if ev.changes is not None and not isinstance(ev.changes, Mapping):
                field = f"events[{i}].changes"
                raise ConfigTypeError(f"{field} must be a dict of settings, got {ev.changes!r:.80}", field, ev.changes)
            vm = self._vm_of(ev.vm, f"events[{i}].vm")
            raw.append((ev.tick, vm.id, ev.action, dict(ev.changes) if ev.changes else None))
            event_names[vm.id] = vm.name
        return raw, event_names

    def _run_once(
        self,
        arr: npt.NDArray[np.int64],
        dt_s: float,
        raw: list[tuple[int, int, str, dict[str, Any] | None]],
        record_every: int,
        names: list[str],
        event_names: dict[int, str],
        offset: int,
        record_counters: bool = False,
    ) -> Timeline:
        try:
            r = self._core.run(arr, dt_s, raw, record_every, record_counters)
        except BaseException as e:
            # Stopped by a signal after some ticks: what was recorded goes with it.
            record = e.__dict__.pop("_dynmem_record", None)
            if record is not None:
                e._dynmem_partial = (  # type: ignore[attr-defined]
                    self._timeline(record, raw, dt_s, record_every, names, event_names, offset),
                    record.ticks,
                )
            raise
        return self._timeline(r, raw, dt_s, record_every, names, event_names, offset)

    @staticmethod
    def _timeline(
        r: _dynmem.RunRecord,
        raw: list[tuple[int, int, str, dict[str, Any] | None]],
        dt_s: float,
        record_every: int,
        names: list[str],
        event_names: dict[int, str],
        offset: int,
    ) -> Timeline:
        log = [(int(t) + offset, event_names[raw[i][1]], raw[i][2], msg) for i, t, msg in r.events]
        return Timeline(
            names=names,
            dt_s=float(dt_s),
            tick=r.tick + np.uint64(offset),
            time_s=r.time_s,
            demand_mb=r.demand_mb,
            assigned_mb=r.assigned_mb,
            visible_mb=r.visible_mb,
            target_mb=r.target_mb,
            pressure=r.pressure,
            status=r.status,
            available_mb=r.available_mb,
            average_pressure=r.average_pressure,
            events=log,
            record_every=int(record_every),
            counters=r.counters,
            host_counters=r.host_counters,
        )

    # ----- bulk access (host.vms order) -------------------------------------
    def set_demand_mb(self, demand_mb: npt.ArrayLike) -> None:
        """Sets every VM's demand (MB) at once, in ``host.vms`` order; all or nothing."""
        self._core.set_demand_mb(int_array("demand_mb", demand_mb, len(self)))

    @property
    def demand_mb(self) -> npt.NDArray[np.int64]:
        return self._core.demand_mb()

    @property
    def assigned_mb(self) -> npt.NDArray[np.int64]:
        return self._core.assigned_mb()

    @property
    def visible_mb(self) -> npt.NDArray[np.int64]:
        return self._core.visible_mb()

    @property
    def target_mb(self) -> npt.NDArray[np.int64]:
        return self._core.target_mb()

    @property
    def paging_mb(self) -> npt.NDArray[np.int64]:
        """Guest paging per VM, max(0, demand − assigned)."""
        return self._core.paging_mb()

    @property
    def status_codes(self) -> npt.NDArray[np.uint8]:
        """Memory status per VM as codes into `dynmem.STATUS_NAMES` (ok, low, warning, off)."""
        return self._core.status_codes()

    @property
    def pressure(self) -> npt.NDArray[np.float64]:
        """Current pressure per VM, demand / assigned × 100 (0 when off)."""
        return self._core.pressure()
