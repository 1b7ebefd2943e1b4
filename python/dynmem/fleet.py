"""`Fleet`: many hosts in one Rust object, VMs in one global order.

Each host is a Rust `Host`; the fleet steps them in parallel on the core's
thread pool (the GIL released) with results bit-identical to stepping each
as its own `Host`, on any thread count. A VM's fleet id is its index in the
fleet's order (``0, 1, ...`` as added), so a trace row feeds the whole
fleet in one `set_demand_mb` call and ``assigned_mb[ids]`` reads them back.

    >>> fleet = Fleet(physical_mb=np.full(4, 65536), reserve_mb=4096)
    >>> ids = fleet.add_vms(100, startup_mb=2048, maximum_mb=8192)
    >>> hosts = fleet.place(ids, placement.BestFit())
    >>> fleet.start_vms(ids[hosts >= 0]); fleet.tick(dt_s=1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import numpy.typing as npt

from . import _dynmem
from ._host import MAX_MAXIMUM_MB, Host, _host_from_bytes
from .policies import HyperVPolicy
from ._validate import as_array, check_instance, check_items, check_int, int_array, vm_columns
from .errors import ConfigError, ConfigTypeError, DynmemError, StateError
from .events import Event
from .placement import BestFit, Placement, _resolve

__all__ = ["Fleet", "FleetTimeline", "HostView", "DynamicOptimization"]


@dataclass(frozen=True)
class DynamicOptimization:
    """SCVMM-like dynamic optimization for `Fleet.dynamic_optimization`.

    Every ``interval_s`` seconds each host's pressure (Σ demand / usable
    memory, `Fleet.host_pressure`) is checked; a host above ``threshold`` at
    two checks in a row live-migrates one VM away (``duration_s`` per move):
    its running VM of the largest demand, to the host of lowest pressure
    that has placement room and stays at or below ``threshold`` with it.
    """

    threshold: float = 0.9
    """Host pressure (Σ demand_mb / usable MB) above which a host is hot."""
    interval_s: float = 600.0
    """Seconds between checks."""
    duration_s: float = 30.0
    """Seconds each move takes."""


@dataclass(frozen=True)
class FleetTimeline:
    """What `Fleet.run` recorded (rows = recorded ticks; row ``r`` after tick ``tick[r]``).

    ``assigned_mb`` is ``(rows, vms)`` in fleet order (MB, 0 for a VM on no
    host); ``host_available_mb`` is ``(rows, hosts)`` (MB not assigned to any
    VM); ``host_of`` is each VM's host at the end (-1: none). ``events``
    lists ``(tick, vm_id, action, error_message_or_None)`` in the order run:
    a start that found no host or no memory is recorded there, not raised.

    Attributes:
        dt_s: Tick length (s).
        tick: The tick after which each row was recorded, ``(rows,)``.
        time_s: The fleet's clock at each row (s), ``(rows,)``.
        assigned_mb: Each VM's assigned memory (MB), ``(rows, vms)`` in fleet order.
        host_available_mb: Each host's memory not assigned to a VM (MB), ``(rows, hosts)``.
        host_of: Each VM's host at the end of the run (-1: none), ``(vms,)``.
        events: ``(tick, vm_id, action, error_message_or_None)`` per event, in the order run.
    """

    dt_s: float
    tick: npt.NDArray[np.int64]
    time_s: npt.NDArray[np.float64]
    assigned_mb: npt.NDArray[np.int64]
    host_available_mb: npt.NDArray[np.int64]
    host_of: npt.NDArray[np.int64]
    events: list[tuple[int, int, str, str | None]] = field(default_factory=list)

    @property
    def failed_events(self) -> list[tuple[int, int, str, str | None]]:
        """The events that failed (their message is not None)."""
        return [e for e in self.events if e[3] is not None]


class HostView:
    """Host ``index`` of a fleet, read live: every read is of the fleet's
    host as it is now (through a fresh `Host` copy, so reads cost one copy of
    that host). Changing it (ticks, starts, demand, VMs) goes through the
    fleet; the view has only `Host`'s reads.

    Attributes:
        index: The host's index in the fleet.
    """

    __slots__ = ("_fleet", "index")

    _READS = frozenset(
        {
            "physical_mb", "reserve_mb", "time_s", "available_mb", "heap_bytes", "counters",
            "vm", "vms", "demand_mb", "assigned_mb", "visible_mb", "target_mb", "paging_mb",
            "status_codes", "pressure", "policy",
        }
    )

    def __init__(self, fleet: Fleet, index: int) -> None:
        self._fleet = fleet
        #: The host's index in the fleet.
        self.index = index

    def copy(self) -> Host:
        """An independent `Host` equal to this host now."""
        return _host_from_bytes(self._fleet._core.host_snapshot(self.index))

    def __getattr__(self, name: str) -> Any:
        if name not in HostView._READS:
            raise AttributeError(
                f"a fleet's host view has only Host's reads ({name!r} is not one); "
                "change hosts through the Fleet"
            )
        return getattr(self.copy(), name)

    def __len__(self) -> int:
        return len(self.copy())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.copy().vms)

    def __repr__(self) -> str:
        return f"<HostView {self.index} of {self.copy()!r}>"


class _Hosts(Sequence[HostView]):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def __len__(self) -> int:
        return self._fleet.host_count

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [HostView(self._fleet, i) for i in range(len(self))[k]]
        k = check_int(k, "host", "a host index")
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"host index {k} out of range for a fleet of {n} hosts")
        return HostView(self._fleet, k % n)


def _ids(ids: Any, field: str = "vms") -> npt.NDArray[np.uint64]:
    arr = as_array(field, ids)
    if arr.ndim != 1:
        raise ConfigError(f"{field} must be a 1-D array of VM ids, got shape {arr.shape}", field, arr.shape)
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if arr.dtype.kind not in "iu":
        raise ConfigTypeError(f"{field} must be an array of VM ids (integers), got dtype {arr.dtype}", field, str(arr.dtype))
    if arr.dtype.kind == "i" and (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise ConfigError(f"{field}[{i}] must be a VM id (at least 0), got {int(arr[i])}", f"{field}[{i}]", int(arr[i]))
    return np.ascontiguousarray(arr, dtype=np.uint64)


class Fleet:
    """Many Hyper-V hosts (``physical_mb``: one entry per host, MB; hosts
    may differ) sharing one ``reserve_mb`` rule and one ``policy`` (a
    `HyperVPolicy`, as for `Host`), and VMs in one global order."""

    __slots__ = ("_core", "_policy")

    def __init__(
        self, physical_mb: npt.ArrayLike, reserve_mb: int | None = None, policy: HyperVPolicy | None = None
    ) -> None:
        policy = HyperVPolicy() if policy is None else check_instance(policy, "policy", HyperVPolicy, "a HyperVPolicy")
        arr = as_array("physical_mb", physical_mb)
        physical = int_array("physical_mb", arr, arr.shape[-1] if arr.ndim == 1 else -1)
        self._core = _dynmem.Fleet(physical, reserve_mb, policy)
        self._policy = policy

    # ----- totals ------------------------------------------------------------
    @property
    def policy(self) -> HyperVPolicy:
        """The hosts' mechanics."""
        return self._policy

    @property
    def host_count(self) -> int:
        """Number of hosts."""
        return int(self._core.host_count)

    @property
    def hosts(self) -> Sequence[HostView]:
        """The hosts, as live read-only `HostView`s (``fleet.hosts[17]``)."""
        return _Hosts(self)

    @property
    def time_s(self) -> float:
        """Simulated time (s), the same on every host."""
        return float(self._core.time_s)

    @property
    def threads(self) -> int:
        """Threads bulk operations may use (0: the pool's, ``DYNMEM_THREADS``
        or the CPUs). Results are identical for any number."""
        return int(self._core.threads)

    @threads.setter
    def threads(self, value: int) -> None:
        self._core.threads = value

    @property
    def heap_bytes(self) -> int:
        """Heap memory (bytes) the fleet and its hosts hold."""
        return int(self._core.heap_bytes)

    def __len__(self) -> int:
        return len(self._core)

    def __repr__(self) -> str:
        return f"<Fleet hosts={self.host_count} vms={len(self)} t={self.time_s:g} s>"

    # ----- VMs ---------------------------------------------------------------
    def add_vms(
        self,
        names: "list[str] | int",
        startup_mb: "int | npt.ArrayLike" = 1024,
        maximum_mb: "int | npt.ArrayLike" = MAX_MAXIMUM_MB,
        minimum_mb: "int | npt.ArrayLike | None" = None,
        buffer_pct: "int | npt.ArrayLike" = 20,
        weight: "int | npt.ArrayLike" = 5000,
        dynamic: "bool | npt.ArrayLike" = True,
    ) -> npt.NDArray[np.uint64]:
        """Adds VMs (off, on no host) at the end of the fleet order, all or
        nothing; returns their ids (uint64). ``names``: a list of names
        unique in the fleet, or a count ``n`` for the names ``vm-{id}``
        (no Python object per VM). Settings (MB, %, weight) as `Host.add_vms`."""
        if isinstance(names, (int, np.integer)) and not isinstance(names, bool):
            n = int(names)
            if n < 0:
                raise ConfigError(f"names must be a list of str or a count of at least 0, got {n}", "names", n)
            core_names: Any = n
        else:
            core_names = check_items(names, "names", "a list of strings or a count")
            n = len(core_names)

        cols = vm_columns(n, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic, MAX_MAXIMUM_MB)
        return self._core.add_vms(core_names, *cols)

    def name(self, vm_id: int) -> str:
        """Name of VM ``vm_id``."""
        return str(self._core.name(vm_id))

    def find(self, name: str) -> int:
        """Fleet id of the VM called ``name``."""
        return int(self._core.find(name))

    def place(self, ids: npt.ArrayLike, placement: "Placement | Any | None" = None) -> npt.NDArray[np.int64]:
        """Places VMs that are on no host, in the order given, by
        ``placement`` (a `dynmem.placement` rule, a callable user rule, or
        None: `BestFit`); returns each one's host (int64), ``-1`` where none
        has room. Placed VMs are added to their hosts, off."""
        rule, score, ratio, user = _resolve(placement)
        return self._core.place(_ids(ids), rule, score, ratio, user)

    def start_vms(self, ids: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Starts placed VMs (each host's in the order given, as `Host.start_vms`);
        returns which started (a host short of memory leaves its VM off)."""
        return self._core.start_many(_ids(ids))

    def stop_vms(self, ids: npt.ArrayLike) -> None:
        """Stops started VMs; their memory returns to their hosts at once."""
        self._core.stop_many(_ids(ids))

    def can_start(self, startup_mb: int, weight: int = 5000) -> npt.NDArray[np.bool_]:
        """Per host: would a VM of ``startup_mb`` (MB) and ``weight`` start
        there now (free memory, or ballooning VMs of weight ≤ ``weight``)."""
        return self._core.can_start(startup_mb, weight)

    def host_of(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Each VM's host (-1: on no host)."""
        return self._core.host_of(_ids(ids))

    def migrate(
        self,
        vm_ids: npt.ArrayLike,
        to_hosts: npt.ArrayLike,
        duration_s: "float | npt.ArrayLike" = 0.0,
        bandwidth_mb_per_s: float | None = None,
    ) -> npt.NDArray[np.bool_]:
        """Live-migrates running VMs to ``to_hosts``; returns which moves began.

        The target must have placement room for the VM's startup and the
        start must succeed there (as `start_vms`; it may balloon lighter
        VMs). Both hosts hold the VM until the move ends, ``duration_s``
        later (or ``assigned_mb / bandwidth_mb_per_s`` s): then the source
        frees it. The copy boots on the target (demand is reported after
        the policy's boot delay from the move's start; counters restart).
        """
        ids = _ids(vm_ids)
        to = int_array("to_hosts", to_hosts, len(ids))
        if bandwidth_mb_per_s is not None:
            bw = float(bandwidth_mb_per_s)
            if not bw > 0:
                raise ConfigError(f"bandwidth_mb_per_s must be positive, got {bandwidth_mb_per_s!r}", "bandwidth_mb_per_s", bandwidth_mb_per_s)
            assigned = self.assigned_mb[ids.astype(np.int64)] if len(ids) and int(ids.max()) < len(self) else np.zeros(len(ids))
            dur = assigned / bw
        else:
            dur = np.broadcast_to(np.asarray(duration_s, dtype=np.float64), (len(ids),))
        return self._core.migrate(ids, to, np.ascontiguousarray(dur, dtype=np.float64))

    @property
    def dynamic_optimization(self) -> DynamicOptimization | None:
        """Dynamic optimization's settings, or None when off (the default).
        Setting it turns it on (first check ``interval_s`` from now)."""
        s = self._core.dynamic_optimization()
        return None if s is None else DynamicOptimization(*s)

    @dynamic_optimization.setter
    def dynamic_optimization(self, value: DynamicOptimization | None) -> None:
        if value is not None:
            value = check_instance(value, "dynamic_optimization", DynamicOptimization, "a DynamicOptimization or None")
            self._core.set_dynamic_optimization(
                (float(value.threshold), float(value.interval_s), float(value.duration_s))
            )
        else:
            self._core.set_dynamic_optimization(None)

    @property
    def host_pressure(self) -> npt.NDArray[np.float64]:
        """Each host's pressure: Σ demand of its VMs (MB) / usable memory (MB)."""
        return self._core.host_pressure()

    @property
    def migrations(self) -> list[tuple[int, int, int, float]]:
        """Moves in flight: ``(vm_id, from_host, to_host, end_s)``."""
        return list(self._core.migrations())

    # ----- demand, time, reads -----------------------------------------------
    def set_demand_mb(self, demand_mb: npt.ArrayLike) -> None:
        """Sets every VM's demand (MB), one entry per VM in fleet order
        (entries of VMs on no host are checked and ignored)."""
        self._core.set_demand_mb(int_array("demand_mb", demand_mb, len(self)))

    def tick(self, dt_s: float = 1.0) -> None:
        """One balancing pass of ``dt_s`` seconds on every host (in parallel)."""
        self._core.tick(dt_s)

    @property
    def assigned_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's assigned memory (MB), fleet order; 0 on no host."""
        return self._core.assigned_mb()

    @property
    def demand_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's demand (MB) as its host holds it, fleet order; 0 on no host."""
        return self._core.demand_mb()

    @property
    def visible_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's guest-visible memory (MB), fleet order."""
        return self._core.visible_mb()

    @property
    def host_available_mb(self) -> npt.NDArray[np.int64]:
        """Each host's memory not assigned to any VM (MB)."""
        return self._core.host_available_mb()

    @property
    def host_free_mb(self) -> npt.NDArray[np.int64]:
        """Each host's placement room (MB): physical − reserve − Σ startup placed."""
        return self._core.host_free_mb()

    @property
    def host_physical_mb(self) -> npt.NDArray[np.int64]:
        """Each host's physical memory (MB)."""
        return self._core.host_physical_mb()

    @property
    def placed_on(self) -> npt.NDArray[np.int64]:
        """Every VM's host in fleet order (-1: none)."""
        return self._core.hosts_of_all()

    # ----- runs --------------------------------------------------------------
    def run(
        self,
        demand: npt.ArrayLike,
        dt_s: float = 1.0,
        events: "Iterable[Event] | None" = None,
        placement: "Placement | Any | None" = None,
        record_every: int = 1,
    ) -> FleetTimeline:
        """Runs ``demand.shape[0]`` ticks (``demand``: ``(ticks, vms)`` MB in
        fleet order), the loop in Rust with the GIL released between events.

        ``events``: `Event`\\ s with ``vm`` a fleet id or name and action
        ``"start"`` or ``"stop"``; a start of a VM on no host places it
        first with ``placement`` (default `BestFit`). Events at tick ``k``
        run before row ``k`` is applied; a failure (no host, no memory, a
        VM in the wrong state) is recorded in ``FleetTimeline.events``, not
        raised. A row is recorded after tick ``k`` when ``k % record_every == 0``.
        """
        n = len(self)
        arr = int_array("demand", demand, n, ndim=2)
        record_every = check_int(record_every, "record_every", "an integer of at least 1")
        if record_every < 1:
            raise ConfigError(f"record_every must be at least 1, got {record_every}", "record_every", record_every)
        _resolve(placement)  # checked before anything runs
        by_tick: dict[int, list[tuple[int, str]]] = {}
        for i, ev in enumerate(events or []):
            ev = check_instance(ev, f"events[{i}]", Event, "a dynmem.Event")
            if ev.action not in ("start", "stop"):
                raise ConfigError(f"events[{i}].action must be 'start' or 'stop', got {ev.action!r}", f"events[{i}].action", ev.action)
            vm = self.find(ev.vm) if isinstance(ev.vm, str) else check_int(ev.vm, f"events[{i}].vm", "a VM id or name")
            if not 0 <= vm < n:
                raise ConfigError(f"events[{i}].vm must be a VM of this fleet, got {vm}", f"events[{i}].vm", vm)
            by_tick.setdefault(check_int(ev.tick, f"events[{i}].tick", "a tick"), []).append((vm, ev.action))
        ticks = arr.shape[0]
        cuts = sorted({t for t in by_tick if 0 <= t < ticks} | {0, ticks})
        parts: list[dict[str, Any]] = []
        outcomes: list[tuple[int, int, str, str | None]] = []
        for a, b in zip(cuts, cuts[1:]):
            for vm, action in by_tick.get(a, []):
                outcomes.append((a, vm, action, self._event(vm, action, placement)))
            parts.append(self._core.run(np.ascontiguousarray(arr[a:b]), dt_s, record_every, a))
        if not parts:
            parts.append(self._core.run(np.zeros((0, n), dtype=np.int64), dt_s, record_every, 0))

        def cat(key: str) -> Any:
            return np.concatenate([p[key] for p in parts])

        return FleetTimeline(
            dt_s=float(dt_s),
            tick=cat("tick").astype(np.int64),
            time_s=cat("time_s"),
            assigned_mb=cat("assigned_mb"),
            host_available_mb=cat("host_available_mb"),
            host_of=self.placed_on,
            events=outcomes,
        )

    def _event(self, vm: int, action: str, placement: Any) -> str | None:
        """Runs one event; its failure's message, or None."""
        ids = np.array([vm], dtype=np.uint64)
        try:
            if action == "stop":
                self._core.stop_many(ids)
                return None
            if int(self._core.host_of(ids)[0]) < 0:
                if int(self.place(ids, placement)[0]) < 0:
                    return f"no host has room for VM '{self.name(vm)}'"
            if not bool(self._core.start_many(ids)[0]):
                return f"not enough memory on host {int(self._core.host_of(ids)[0])} to start VM '{self.name(vm)}'"
            return None
        except DynmemError as e:
            return str(e)

    # ----- snapshots ---------------------------------------------------------
    def snapshot(self) -> bytes:
        """The fleet as bytes of dynmem's versioned snapshot format (hosts,
        VMs, counters, clocks, names, ids and moves in flight)."""
        return bytes(self._core.snapshot())

    @classmethod
    def from_snapshot(cls, data: bytes) -> Fleet:
        """The fleet a `snapshot` holds; a corrupted or foreign one is a
        `ConfigError` on field ``snapshot``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigTypeError(f"snapshot must be bytes, got {type(data).__name__}", "snapshot", type(data).__name__)
        new = cls.__new__(cls)
        new._core = _dynmem.Fleet.from_snapshot(bytes(data))
        new._policy = HyperVPolicy(*new._core.mechanics())
        return new

    def __copy__(self) -> Fleet:
        """An independent copy (through a snapshot)."""
        return Fleet.from_snapshot(self.snapshot())

    def __deepcopy__(self, memo: dict[int, Any]) -> Fleet:
        return self.__copy__()

    def __reduce__(self) -> Any:
        return (Fleet.from_snapshot, (self.snapshot(),))
