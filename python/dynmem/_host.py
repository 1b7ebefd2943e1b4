"""Host and VM: the Python face of the Rust core.

`Host` owns a `dynmem._dynmem.Host` (the Rust struct of arrays); `VM` objects
are small handles (host + VM id) whose attribute reads go straight to those
arrays. Bulk reads and writes cross the FFI once, as numpy arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np
import numpy.typing as npt

from . import _dynmem
from .errors import ConfigError, ConfigTypeError, DynmemError, StateError
from ._validate import as_array, bad_entry, check_instance, check_int, check_items, check_real, int_array, vm_columns
from .events import Event
from .guests import Guest
from .policies import _MECHANICS, POLICIES, HyperVPolicy, Policy, SharesPolicy, mechanics_of
from .timeline import Timeline

if TYPE_CHECKING:  # traces imports this module
    from .traces import Trace

__all__ = ["Host", "VM", "MAX_MAXIMUM_MB"]

# The binding caches this process's pid (a host's lock reads it on every
# call); a forked child forgets it before running anything else.
os.register_at_fork(after_in_child=_dynmem._after_fork_in_child)


VERSIONS: tuple[str, ...] = ("2008r2sp1", "2012", "2012r2", "2016", "2019", "2022")
"""The Windows Server releases a `Host` can run, oldest first (``version=``)."""

MAX_MAXIMUM_MB: int = _dynmem.MAX_MAXIMUM_MB
"""Largest legal ``maximum_mb`` (1 TB = 1,048,576 MB), Hyper-V 2012's default maximum."""


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

    @property
    def guest(self) -> Guest:
        """Its guest profile (a `dynmem.Guest`; "windows" unless given at
        ``add_vm``): what the guest reports and accepts."""
        return Guest(*self._guest_fields)

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
        raise ConfigTypeError(
            "a VM handle cannot be pickled on its own: pickle its Host (the copy's vm(name) gives its handle)",
            "vm",
            self.id,
        )


def _guest_columns(guest: Any, n: int) -> "tuple[list[Any] | None, npt.NDArray[np.int64] | None]":
    """``add_vms``'s ``guest`` as the binding takes it: None (every VM
    "windows"), ``[profile]`` for every VM, or the distinct profiles and each
    VM's index into them (the binding checks each profile)."""
    if isinstance(guest, str) and guest == "windows":
        return None, None
    if isinstance(guest, (str, Guest)):
        return [guest], None
    items = check_items(guest, "guest", "a profile name, a dynmem.Guest, or one of those per name")
    distinct: list[Any] = []
    where: dict[Any, int] = {}
    index = np.empty(len(items), dtype=np.int64)
    for k, g in enumerate(items):
        try:
            at = where.get(g)
        except TypeError:  # unhashable: not a profile, which the binding says
            at = None
        if at is None:
            at = len(distinct)
            distinct.append(g)
            try:
                where[g] = at
            except TypeError:
                pass
        index[k] = at
    return distinct, index


class Host:
    """A Hyper-V host: physical memory, a host reserve, and VMs sharing the rest.

    >>> host = Host(physical_mb=8192, reserve_mb=512)
    >>> vm = host.add_vm("Finance", startup_mb=1024, maximum_mb=4096)
    >>> vm.start(); vm.demand_mb = 2500; host.tick(dt_s=1.0)

    ``reserve_mb=None`` applies the 2008 R2 SP1 rule, 384 MB + 64 MB per GB
    of physical memory (on every release: 2012 and later compute the
    reserve at run time by an unpublished rule, and dynmem uses the same
    formula as its estimate). ``policy`` (a `Policy`: `HyperVPolicy` by
    default, another built-in, or your own subclass) decides the allocation
    and sets the mechanics. ``version`` is the Windows Server release, one
    of `dynmem.VERSIONS` (default the newest, "2022"): "2008r2sp1" has no
    minimum apart from startup and no change of maximum while a VM runs;
    from "2016" a running static VM can be resized (see
    docs/balancer.md, "Host versions"). An operation the release lacks
    raises `VersionError`. ``smart_paging_drain_s`` (s, 0 to a year,
    default 600) bounds how long a Smart Paging file of `VM.restart` lasts:
    it is gone that long after the restart, or at the guest's first report
    if that is later (docs/balancer.md, "Smart Paging").

    ``numa_nodes`` splits physical memory into NUMA nodes: a count (equal
    nodes of ``physical_mb // numa_nodes`` MB, the first ``physical_mb %
    numa_nodes`` nodes one MB more) or a list of node sizes in MB summing
    to ``physical_mb`` (1 to 64 nodes; 1, the default, is a host without
    NUMA). The reserve is taken from node 0 upwards. Each VM's preferred
    node (`VM.numa_node`) is the one with the most free memory when it
    starts. ``numa_spanning=True`` (Hyper-V's default) keeps one pool for
    the host: a static VM whose memory does not fit its node spans nodes
    (status "spanning"). ``numa_spanning=False`` keeps each VM's memory on
    its node: each node is balanced as a pool of its own, and a VM whose
    startup memory fits no single node fails to start
    (`InsufficientMemoryError`) even when the host as a whole has room (see
    docs/balancer.md, "NUMA").
    """

    __slots__ = ("_core", "_handles", "_policy", "_watchers")

    def __init__(
        self,
        physical_mb: int,
        reserve_mb: int | None = None,
        policy: Policy | None = None,
        version: str = VERSIONS[-1],
        smart_paging_drain_s: float = 600.0,
        numa_nodes: int | Sequence[int] = 1,
        numa_spanning: bool = True,
    ) -> None:
        policy = HyperVPolicy() if policy is None else check_instance(policy, "policy", Policy, "a dynmem.Policy")
        self._core = _dynmem.Host(
            physical_mb, reserve_mb, policy, policy._rule(), version, smart_paging_drain_s,
            numa_nodes, numa_spanning,
        )
        self._policy = policy
        self._handles: dict[int, VM] = {}
        # Called as watcher("add" | "remove", vm_id, name) after VMs are added
        # or removed (dynmem.simpy follows the host through them).
        self._watchers: list[Callable[[str, int, str], None]] = []

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
    def version(self) -> str:
        """The Windows Server release the host runs, one of `dynmem.VERSIONS`."""
        return self._core.version

    @property
    def smart_paging_drain_s(self) -> float:
        """Smart Paging drain time (s): a file `VM.restart` opened is gone
        this long after the restart (or at the guest's first report, if later)."""
        return self._core.smart_paging_drain_s

    @property
    def paging_vms(self) -> int:
        """How many VMs use a Smart Paging file now (see `VM.restart`)."""
        return self._core.paging_vms

    @property
    def numa_nodes_mb(self) -> npt.NDArray[np.int64]:
        """NUMA node sizes (MB), int64, in node order; ``[physical_mb]`` on a
        host without NUMA."""
        return self._core.numa_nodes_mb()

    @property
    def numa_spanning(self) -> bool:
        """Whether a VM's memory may span NUMA nodes (True without NUMA)."""
        return self._core.numa_spanning

    @property
    def numa_available_mb(self) -> npt.NDArray[np.int64]:
        """Memory available on each NUMA node (MB), int64, in node order:
        node size − its share of the reserve − the VMs' memory accounted to
        it (docs/balancer.md, "NUMA"); sums to `available_mb`."""
        return self._core.numa_available_mb()

    @property
    def numa_node(self) -> npt.NDArray[np.int64]:
        """Every VM's preferred NUMA node, int64, in ``host.vms`` order (see
        `VM.numa_node`; -1 when off)."""
        return self._core.numa_node()

    @property
    def policy(self) -> Policy:
        """The allocation policy (a `Policy`; `HyperVPolicy` by default),
        with the mechanics' delays, rates and units; fixed at creation."""
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
    def guests(self) -> list[Guest]:
        """The host's distinct guest profiles, in the order first used
        ("windows" first); `guest_index` picks each VM's."""
        return [Guest(*f) for f in self._core.guest_profiles()]

    def guest_index(self) -> npt.NDArray[np.uint8]:
        """Each VM's guest profile as an index into `guests`, in host order."""
        return self._core.guest_index()

    @property
    def counters(self) -> dict[str, float]:
        """Hyper-V's host counters ("Hyper-V Dynamic Memory Balancer"), a new
        dict each read, keyed by Hyper-V's names in the order of
        ``dynmem._dynmem.HOST_COUNTER_NAMES``:

        - "Available Memory": MB, physical − reserve − Σ assigned
        - "Average Pressure": %, the mean current pressure of the running VMs
        - "System Current Pressure": %, Σ demand / Σ assigned × 100 over the
          running VMs (0 when none runs)
        - "Available Memory For Balancing": MB, what the balancer can hand
          out; dynmem models no host memory besides the reserve and the
          VMs', so it equals "Available Memory"
        """
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
        guest: str | Guest = "windows",
    ) -> VM:
        """Adds a VM (off). ``minimum_mb=None`` means equal to ``startup_mb``.

        ``guest`` is its operating system's profile: "windows" (the default,
        today's behaviour), "linux", or a `dynmem.Guest` (see
        `dynmem.guests`)."""
        g = None if isinstance(guest, str) and guest == "windows" else guest
        vm_id = self._core.add_vm(name, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic, g)
        self._tell("add", [vm_id], [name])
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
        guest: "str | Guest | Iterable[str | Guest]" = "windows",
    ) -> list[VM]:
        """Adds many VMs (off) in one call, all or nothing.

        Each setting is one value for all or an array with one entry per
        name; errors name the entry (``weight[3] must be between 0 and
        10000, got 20000``). ``minimum_mb=None`` means equal to startup.
        ``guest``: one profile for every VM (a name or a `dynmem.Guest`) or
        one per name.
        """
        # Any iterable of names (the binding checks each is a str: names[k]).
        names = check_items(names, "names", "a list of strings")
        n = len(names)

        cols = vm_columns(n, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic, MAX_MAXIMUM_MB)
        s, mx, mn, b, w, d = cols
        guests, index = _guest_columns(guest, n)
        ids = self._core.add_vms(names, s, mx, mn, b, w, d, guests, index)
        self._tell("add", ids.tolist(), names)
        return [self._handle(int(i)) for i in ids]

    def _tell(self, what: str, ids: "list[int]", names: "list[str]") -> None:
        for watch in list(self._watchers):
            for vm_id, name in zip(ids, names):
                watch(what, int(vm_id), name)

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

    def restart_vms(self, vms: "Iterable[VM | str]") -> None:
        """Restarts many VMs that are on, in order, exactly as calling
        `VM.restart` on each in turn would (each may open a Smart Paging
        file). Unknown, repeated or off VMs raise `StateError` before
        anything restarts."""
        self._core.restart_many(self._ids(vms))

    def stop_vms(self, vms: "Iterable[VM | str] | None" = None) -> None:
        """Stops many VMs at once (default: every started VM); their memory
        returns to the host. Unknown, repeated or off VMs raise `StateError`
        before anything stops."""
        ids = self._core.ids_where_off(False) if vms is None else self._ids(vms)
        self._core.stop_many(ids)

    def remove_vm(self, vm: VM) -> None:
        """Removes an off VM; its handle becomes stale (`StateError` on use)."""
        name = self._own(vm).name
        self._core.remove_vm(vm.id)
        self._handles.pop(vm.id, None)
        self._tell("remove", [vm.id], [name])

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
        new._watchers = []
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Host:
        return self.__copy__()

    def snapshot(self) -> bytes:
        """The host as bytes of dynmem's versioned snapshot format: every
        VM's settings, state, memory, clocks, counters, name and id, and the
        host's clock. `Host.from_snapshot` continues exactly as this host
        would. (Threads and vector caps are settings of a process, not state.)"""
        return bytes(_dynmem.host_snapshot(self._core))

    @classmethod
    def from_snapshot(cls, data: bytes, policy: Policy | None = None) -> Host:
        """The host a `snapshot` holds; a corrupted or foreign one is a
        `ConfigError` on field ``snapshot`` (never a crash). The snapshot
        records a built-in policy (restored as it was); a host with a user
        policy needs it again as ``policy`` (a snapshot holds no Python)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigTypeError(f"snapshot must be bytes, got {type(data).__name__}", "snapshot", type(data).__name__)
        if policy is not None:
            check_instance(policy, "policy", Policy, "a dynmem.Policy")
        return _host_from_bytes(bytes(data), policy, cls)

    def __reduce__(self) -> Any:
        """Pickles through `snapshot` (exact; handles are the copy's own); a
        user policy is pickled beside it (its class must be importable)."""
        user = self._policy if self._policy._rule()[0] == "external" else None
        return (_host_from_bytes, (self.snapshot(), user, type(self)))

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
        demand_mb: "npt.ArrayLike | Trace",
        dt_s: float | None = None,
        events: list[Event] | None = None,
        record_every: int = 1,
        progress: Callable[[int, int], None] | None = None,
        record_counters: bool = False,
        hold_ticks: int | None = None,
    ) -> Timeline:
        """Runs ``demand_mb.shape[0] × hold_ticks`` ticks with the whole loop in Rust.

        ``demand_mb`` is a ``(ticks, vms)`` array in ``host.vms`` order, or a
        `dynmem.traces.Trace` whose ``names`` are the host's VMs in that
        order. ``dt_s`` is the tick length in seconds: default 1.0 for an
        array and the trace's ``tick_s`` for a trace (another value is a
        `ConfigError` naming ``dt_s``: the trace's samples are ``tick_s``
        apart). A trace's run gives a `Timeline` whose ``start_epoch_s`` is
        the trace's start (so its rows have real timestamps).
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

        **Sample and hold.** ``hold_ticks`` (an int ≥ 1, default 1) holds each
        row of ``demand_mb`` for that many ticks: tick ``k`` sets row
        ``k // hold_ticks`` (only when a row begins), so a trace sampled every
        5 minutes replays at 1-second ticks without a 300-times larger matrix:
        ``host.run(demand, dt_s=1.0, hold_ticks=300)``. A `Trace` run with a
        ``dt_s`` that divides its ``tick_s`` holds each sample ``tick_s / dt_s``
        ticks by itself (``host.run(trace, dt_s=1.0)``; a ``hold_ticks`` given
        with a trace must be that number). Event ticks and ``record_every``
        count ticks. The result equals stepping by hand; a tick in which no
        demand changed, on a host whose last tick moved nothing, costs O(1)
        instead of O(VMs). A ``hold_ticks`` that is not an int is a
        `ConfigTypeError`, one below 1 (or a ``dt_s`` that does not divide a
        trace's ``tick_s``) a `ConfigError`.
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
        demand_mb, dt_s, epoch_s, hold = _demand_of(demand_mb, dt_s, names, self.time_s, hold_ticks)
        arr = int_array("demand_mb", demand_mb, len(names), ndim=2)
        raw, event_names = self._run_events(events)
        ticks = arr.shape[0] * hold
        if progress is None or ticks == 0:
            bounds = [(0, ticks)]
        else:
            # Check everything once, so that a bad entry late in the run fails
            # before the first chunk changes anything.
            self._core.check_run(arr, dt_s, raw, record_every, hold)
            # Chunks of whole rows and whole record intervals.
            step = math.lcm(check_int(record_every, "record_every", "an int >= 1", low=1), hold)
            chunk = max(step, (ticks // 100) // step * step)
            bounds = [(lo, min(ticks, lo + chunk)) for lo in range(0, ticks, chunk)]
        ids = self._core.ids() if len(bounds) > 1 else None
        parts: list[Timeline] = []
        done = 0
        try:
            for lo, hi in bounds:
                part = raw if len(bounds) == 1 else [(t - lo, vid, a, c) for t, vid, a, c in raw if lo <= t < hi]
                rows = arr[lo // hold : hi // hold]
                parts.append(
                    self._run_once(rows, dt_s, part, record_every, names, event_names, lo, record_counters, hold)
                )
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
                so_far = parts[0] if len(parts) == 1 else Timeline.concat(parts)
                e.timeline = replace(  # type: ignore[attr-defined]
                    so_far, start_epoch_s=epoch_s, physical_mb=self.physical_mb, reserve_mb=self.reserve_mb,
                    policy=policy_text(self._policy),
                )
                e.ticks_done = done  # type: ignore[attr-defined]
            raise
        whole = parts[0] if len(parts) == 1 else Timeline.concat(parts)
        return replace(
            whole,
            start_epoch_s=epoch_s,
            physical_mb=self.physical_mb,
            reserve_mb=self.reserve_mb,
            policy=policy_text(self._policy),
        )

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
        hold_ticks: int = 1,
    ) -> Timeline:
        try:
            r = self._core.run(arr, dt_s, raw, record_every, record_counters, hold_ticks)
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
        """Every VM's demand (MB): its guest's committed memory, int64, in
        ``host.vms`` order (a new array; set with `set_demand_mb`)."""
        return self._core.demand_mb()

    @property
    def guest_reported_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's demand as its guest reports it (MB): demand_mb + its
        balloon floor (see `VM.guest_reported_mb`), int64, in ``host.vms`` order."""
        return self._core.guest_reported_mb()

    @property
    def assigned_mb(self) -> npt.NDArray[np.int64]:
        """Physical memory assigned to every VM (MB), int64, in ``host.vms`` order (0 when off)."""
        return self._core.assigned_mb()

    @property
    def visible_mb(self) -> npt.NDArray[np.int64]:
        """Guest-visible memory of every VM (MB), int64, in ``host.vms`` order."""
        return self._core.visible_mb()

    @property
    def target_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's target (MB), int64, in ``host.vms`` order: what the
        balancer aims to give it (see `VM.target_mb`)."""
        return self._core.target_mb()

    @property
    def paging_mb(self) -> npt.NDArray[np.int64]:
        """Guest paging per VM, max(0, demand − assigned)."""
        return self._core.paging_mb()

    @property
    def smart_paging_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's Smart Paging working set (MB), int64, in ``host.vms``
        order (see `VM.smart_paging_mb`; 0 almost always)."""
        return self._core.smart_paging_mb()

    @property
    def status_codes(self) -> npt.NDArray[np.uint8]:
        """Memory status per VM as codes into `dynmem.STATUS_NAMES` (ok, low,
        warning, off, paging, "" for a static VM that is on, spanning for one
        whose memory spans NUMA nodes)."""
        return self._core.status_codes()

    @property
    def available_buffer_pct(self) -> npt.NDArray[np.int64]:
        """Every VM's AvailableMemoryBuffer (%), int64, in ``host.vms`` order
        (see `VM.available_buffer_pct`; 0 when off or static)."""
        return self._core.available_buffer_pct()

    @property
    def memory_available_pct(self) -> npt.NDArray[np.int64]:
        """Every VM's MemoryAvailable (%), int64, in ``host.vms`` order
        (see `VM.memory_available_pct`; 0 when off)."""
        return self._core.memory_available_pct()

    @property
    def reported_demand_mb(self) -> npt.NDArray[np.int64]:
        """Every VM's MemoryDemand as Get-VM shows it (MB), int64, in
        ``host.vms`` order (see `VM.reported_demand_mb`; 0 when off)."""
        return self._core.reported_demand_mb()

    @property
    def pressure(self) -> npt.NDArray[np.float64]:
        """Current pressure per VM, reported demand / assigned × 100 (0 when
        off; `guest_reported_mb`: demand_mb for the default guest)."""
        return self._core.pressure()


_POLICY_WORDS = {
    "hyperv": "Hyper-V",
    "static": "Static (no Dynamic Memory)",
    "proportional": "Proportional (Xen squeezed)",
    "shares": "Shares (VMware ESX)",
    "strict": "Strict priority",
}


def policy_text(policy: Policy) -> str:
    """``"Hyper-V defaults"``, or the policy and what differs from the
    defaults (``"Hyper-V, boot_report_delay_s=0"``, ``"Shares (VMware ESX),
    idle_tax=0.75"``, a user policy's class name): a policy in a title or a
    summary."""
    name = _POLICY_WORDS.get(policy._kind or "", type(policy).__name__)
    changed = [f"{k}={v:g}" for k, v in mechanics_of(policy).items() if v != getattr(Policy, k)]
    if isinstance(policy, SharesPolicy):
        changed.insert(0, f"idle_tax={policy.idle_tax:g}")
    if not changed:
        return "Hyper-V defaults" if policy._kind == "hyperv" else name
    return f"{name}, " + ", ".join(changed)


def _demand_of(
    demand_mb: Any, dt_s: Any, names: list[str], time_s: float, hold_ticks: Any = None
) -> tuple[Any, Any, float | None, int]:
    """`Host.run`'s demand matrix, tick length, epoch of simulated time 0 and
    ticks each row holds: a `Trace` gives its own (a ``dt_s`` other than its
    ``tick_s`` must divide it: each sample then holds ``tick_s / dt_s`` ticks)."""
    from .traces import Trace  # traces imports this module

    if hold_ticks is not None:
        check_int(hold_ticks, "hold_ticks", "an int >= 1 (ticks each demand row holds)", low=1)
    if not isinstance(demand_mb, Trace):
        return demand_mb, 1.0 if dt_s is None else dt_s, None, 1 if hold_ticks is None else int(hold_ticks)
    trace = demand_mb
    hold = 1
    if dt_s is None:
        dt_s = trace.tick_s
    elif dt_s != trace.tick_s:
        dt = check_real(dt_s, "dt_s", "a real number of seconds > 0", low=0.0, low_inclusive=False)
        k = round(trace.tick_s / dt)
        if k < 1 or k * dt != trace.tick_s:
            raise ConfigError(
                f"dt_s must divide the trace's tick_s ({trace.tick_s:g} s) when running a Trace (each sample then "
                f"holds tick_s / dt_s ticks; resample the trace with load_bitbrains(tick_s=...) for another step), "
                f"got {dt_s!r}",
                "dt_s",
                dt_s,
            )
        hold = k
    if hold_ticks is not None and int(hold_ticks) != hold:
        raise ConfigError(
            f"hold_ticks must be the trace's tick_s / dt_s ({hold}) when running a Trace, got {hold_ticks!r}",
            "hold_ticks",
            hold_ticks,
        )
    if list(trace.names) != names:
        raise ConfigError(
            f"demand_mb: the trace's VMs must be the host's, in host.vms order ({len(names)} VMs), "
            f"got {len(trace.names)} names starting {list(trace.names)[:3]!r}",
            "demand_mb",
            len(trace.names),
        )
    return trace.demand_mb, dt_s, float(trace.start_s) - time_s, hold


def _policy_of(m: tuple[int, int, float, float, float], kind: str = "hyperv", idle_tax: float = 0.0) -> Policy:
    """A built-in policy from the binding's mechanics tuple and policy kind."""
    mech: dict[str, Any] = dict(zip(_MECHANICS, m))
    if kind == "shares":
        return SharesPolicy(**mech, idle_tax=idle_tax)
    return POLICIES[kind](**mech)


def _host_from_bytes(data: bytes, policy: Policy | None = None, cls: type[Host] = Host) -> Host:
    """A `Host` restored from a snapshot's bytes (pickle's reconstructor);
    ``policy``: a user policy to give it, where its snapshot says it had one."""
    rule = policy._rule() if policy is not None else None
    core, mech, kind, idle_tax = _dynmem.host_from_snapshot(data, rule)
    new = cls.__new__(cls)
    new._core = core
    if kind == "external":
        assert policy is not None  # the binding refuses it otherwise
        new._policy = policy
    else:
        new._policy = _policy_of(mech, kind, idle_tax)
    new._handles = {}
    new._watchers = []
    return new
