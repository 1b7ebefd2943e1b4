# Stub of the Rust extension; kept in step with the built module by
# `python -m mypy.stubtest dynmem._dynmem` (tests/test_stub.py).
from collections.abc import Sequence
from typing import Any, Callable, Literal, final

from typing_extensions import disjoint_base

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "Host",
    "VmHandle",
    "RunRecord",
    "PolicyView",
    "DETACH_MIN_VMS",
    "MAX_DEMAND_MB",
    "MAX_MAXIMUM_MB",
    "PARALLEL_MIN_VMS",
    "VECTOR_PATH",
    "VM_COUNTER_NAMES",
    "HOST_COUNTER_NAMES",
    "_after_fork_in_child",
    "Fleet",
    "SNAPSHOT_VERSION",
    "host_snapshot",
    "host_from_snapshot",
    "parse_table",
    "GUEST_NAMES",
    "_check_guest",
    "_guest_fields",
]

#: dynmem's version (Cargo.toml's, the wheel's).
__version__: str
DETACH_MIN_VMS: int
PARALLEL_MIN_VMS: int
VECTOR_PATH: str
MAX_DEMAND_MB: int
MAX_MAXIMUM_MB: int
#: Hyper-V's names of the per-VM counters (`VmHandle.counters`' keys, in order).
VM_COUNTER_NAMES: tuple[str, ...]
#: Hyper-V's names of the host counters (`Host.counters()`' keys, in order).
HOST_COUNTER_NAMES: tuple[str, ...]

def parse_table(
    data: bytes,
    first_line: int,
    fields: int,
    wanted: list[int],
    delimiter: str,
    quote: str | None,
    decimal_comma: bool,
    day_first_time: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint64], list[tuple[int, str, int]]]:
    """The trace loaders' numeric CSV parser (`dynmem_core::table`)."""

#: The built-in guest profiles' names ("windows", "linux").
GUEST_NAMES: tuple[str, ...]

_GuestFields = tuple[str, float | None, Literal["none", "hv_balloon"], int | Literal["memory_blocks"] | None]

def _check_guest(guest: Any) -> None:
    """Checks a `dynmem.Guest`'s fields (what `Guest.__post_init__` calls): a
    `ConfigTypeError` or `ConfigError` naming `guest.<field>` and the value.
    (A fixed hot-add chunk is checked against a host's balloon unit when
    a VM is added with it.)"""

def _guest_fields(name: str) -> _GuestFields:
    """The fields of the built-in profile `name` ("windows" or "linux"), for
    `dynmem.Guest.windows()` / `.linux()`."""

def _after_fork_in_child() -> None:
    """Forgets the cached pid (registered with `os.register_at_fork`)."""

@final
class RunRecord:
    """What a run recorded: row `r` after tick `tick[r]`; per-VM series have
    shape `(rows, vms)` in the host's VM order."""

    @property
    def ticks(self) -> int: ...
    @property
    def tick(self) -> npt.NDArray[np.uint64]: ...
    @property
    def time_s(self) -> npt.NDArray[np.float64]: ...
    @property
    def demand_mb(self) -> npt.NDArray[np.int64]: ...
    @property
    def assigned_mb(self) -> npt.NDArray[np.int64]: ...
    @property
    def visible_mb(self) -> npt.NDArray[np.int64]: ...
    @property
    def target_mb(self) -> npt.NDArray[np.int64]: ...
    @property
    def pressure(self) -> npt.NDArray[np.float64]: ...
    @property
    def status(self) -> npt.NDArray[np.uint8]: ...
    @property
    def available_mb(self) -> npt.NDArray[np.int64]: ...
    @property
    def average_pressure(self) -> npt.NDArray[np.float64]: ...
    @property
    def events(self) -> tuple[tuple[int, int, str | None], ...]: ...
    @property
    def counters(self) -> dict[str, npt.NDArray[Any]] | None: ...
    @property
    def host_counters(self) -> dict[str, npt.NDArray[Any]] | None: ...

@final
class PolicyView:
    """The VMs a user policy divides the pool among this tick: the running
    dynamic VMs (those finishing their boot in this tick included), in host
    order, as read-only int64 arrays."""

    @property
    def ids(self) -> npt.NDArray[np.int64]:
        """Each VM's id (`VM.id`), in the view's order."""
    @property
    def demand_mb(self) -> npt.NDArray[np.int64]:
        """Each VM's demand (MB), as the guest reports it."""
    @property
    def assigned_mb(self) -> npt.NDArray[np.int64]:
        """Each VM's assigned memory (MB) before this tick's allocation."""
    @property
    def minimum_mb(self) -> npt.NDArray[np.int64]:
        """Each VM's minimum memory (MB): an allocation may not go below it."""
    @property
    def maximum_mb(self) -> npt.NDArray[np.int64]:
        """Each VM's maximum memory (MB): an allocation may not go above it."""
    @property
    def target_mb(self) -> npt.NDArray[np.int64]:
        """Each VM's target (MB): demand plus its buffer, rounded up to the
        balloon unit and clamped to [minimum_mb, maximum_mb].
        """
    @property
    def buffer_pct(self) -> npt.NDArray[np.int64]:
        """Each VM's memory buffer (%)."""
    @property
    def weight(self) -> npt.NDArray[np.int64]:
        """Each VM's memory weight, 0–10000."""
    @property
    def dt_s(self) -> float:
        """Seconds this tick covers."""
    @property
    def time_s(self) -> float:
        """The host's simulated time (s) at the start of this tick."""
    @property
    def balloon_unit_mb(self) -> int:
        """The balloon unit (MB): allocations are rounded down to multiples of it."""
    @property
    def pool_mb(self) -> int:
        """Memory (MB) the policy divides among the view's VMs: at most this in all."""
    def __len__(self) -> int: ...

@final
class Host:
    def __new__(
        cls,
        physical_mb: int,
        reserve_mb: int | None,
        policy: Any,
        rule: tuple[Any, ...],
        version: str | None = None,
        smart_paging_drain_s: float | None = None,
        numa_nodes: int | Sequence[int] | None = None,
        numa_spanning: bool | None = None,
    ) -> Host: ...
    @property
    def numa_spanning(self) -> bool: ...
    def numa_nodes_mb(self) -> npt.NDArray[np.int64]: ...
    def numa_available_mb(self) -> npt.NDArray[np.int64]: ...
    def numa_node(self) -> npt.NDArray[np.int64]: ...
    @property
    def version(self) -> str: ...
    @property
    def smart_paging_drain_s(self) -> float: ...
    @property
    def paging_vms(self) -> int: ...
    def restart_many(self, ids: npt.NDArray[np.uint64]) -> None: ...
    @property
    def physical_mb(self) -> int: ...
    @property
    def reserve_mb(self) -> int: ...
    @property
    def time_s(self) -> float: ...
    @property
    def available_mb(self) -> int: ...
    @property
    def heap_bytes(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @threads.setter
    def threads(self, value: int) -> None: ...
    def _set_vector_cap(self, cap: str) -> None: ...
    def _set_sparse(self, on: bool) -> None: ...
    def __len__(self) -> int: ...
    def add_vm(
        self,
        name: str,
        startup_mb: int,
        maximum_mb: int,
        minimum_mb: int | None,
        buffer_pct: int,
        weight: int,
        dynamic: bool,
        guest: Any = None,
    ) -> int: ...
    def start_many(self, ids: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.bool_], list[tuple[int, str]]]: ...
    def add_vms(
        self,
        names: list[str],
        startup_mb: npt.NDArray[np.int64],
        maximum_mb: npt.NDArray[np.int64],
        minimum_mb: npt.NDArray[np.int64],
        buffer_pct: npt.NDArray[np.int64],
        weight: npt.NDArray[np.int64],
        dynamic: npt.NDArray[np.bool_],
        guests: list[Any] | None = None,
        guest_index: npt.NDArray[np.int64] | None = None,
    ) -> npt.NDArray[np.uint64]: ...
    def stop_many(self, ids: npt.NDArray[np.uint64]) -> None: ...
    def remove_vm(self, id: int) -> None: ...
    def find(self, name: str) -> int: ...
    def copy(self) -> Host: ...
    def ids(self) -> npt.NDArray[np.uint64]: ...
    def names(self) -> list[str]: ...
    def ids_where_off(self, off: bool) -> npt.NDArray[np.uint64]: ...
    def tick(self, dt_s: float) -> None: ...
    def check_run(
        self,
        demand_mb: npt.NDArray[np.int64],
        dt_s: float,
        events: list[tuple[int, int, str, dict[str, Any] | None]],
        record_every: int,
        hold_ticks: int | None = None,
    ) -> None: ...
    def run(
        self,
        demand_mb: npt.NDArray[np.int64],
        dt_s: float,
        events: list[tuple[int, int, str, dict[str, Any] | None]],
        record_every: int,
        record_counters: bool = False,
        hold_ticks: int | None = None,
    ) -> RunRecord: ...
    def set_demand_mb(self, demand_mb: npt.NDArray[np.int64]) -> None: ...
    def demand_mb(self) -> npt.NDArray[np.int64]: ...
    def assigned_mb(self) -> npt.NDArray[np.int64]: ...
    def visible_mb(self) -> npt.NDArray[np.int64]: ...
    def target_mb(self) -> npt.NDArray[np.int64]: ...
    def paging_mb(self) -> npt.NDArray[np.int64]: ...
    def status_codes(self) -> npt.NDArray[np.uint8]: ...
    def available_buffer_pct(self) -> npt.NDArray[np.int64]: ...
    def memory_available_pct(self) -> npt.NDArray[np.int64]: ...
    def reported_demand_mb(self) -> npt.NDArray[np.int64]: ...
    def guest_reported_mb(self) -> npt.NDArray[np.int64]: ...
    def smart_paging_mb(self) -> npt.NDArray[np.int64]: ...
    def pressure(self) -> npt.NDArray[np.float64]: ...
    def guest_index(self) -> npt.NDArray[np.uint8]: ...
    def guest_profiles(self) -> list[_GuestFields]: ...
    def counters(self) -> dict[str, float]: ...

@disjoint_base
class VmHandle:
    def __new__(cls, host: Host, id: int) -> VmHandle: ...
    @property
    def id(self) -> int:
        """The VM's id on its host: an integer no other VM of that host gets,
        even after this one is removed (a name can be reused; an id is not).
        """
    @property
    def _guest_fields(self) -> _GuestFields:
        """Its guest profile's fields (name, report_delay_s, balloon_floor,
        hot_add_chunk_mb), which `dynmem.VM.guest` makes a `dynmem.Guest` of."""
    @property
    def balloon_floor_mb(self) -> int:
        """Its guest's balloon floor (MB): what a Linux guest keeps free and adds
        to the demand it reports; 0 for a guest without one ("windows")."""
    @property
    def guest_reported_mb(self) -> int:
        """The demand its guest reports to the balancer (MB): demand_mb + its
        balloon floor. Pressure, status and target are of this figure."""
    @property
    def name(self) -> str:
        """The VM's name, unique on its host."""
    @property
    def state(self) -> Literal["off", "starting", "running"]:
        """Power state: "off"; "starting" (started, dynamic, its guest not yet
        reporting demand: it holds its startup memory for the policy's
        boot_report_delay_s); or "running" (a static VM runs at once).
        """
    @property
    def status(self) -> Literal["ok", "low", "warning", "off", "paging", "", "spanning"]:
        """Memory Status, by Hyper-V's rule (Msvm_SummaryInformation): for a
        dynamic VM that is on, "paging" while a Smart Paging file is in use,
        else from available_buffer_pct: below 0 "warning", above 80 "ok",
        else "low". For a static VM that is on, "spanning" when its memory
        spans NUMA nodes, else "" (Hyper-V shows nothing); "off" when off.
        Live: a demand set between ticks shows at once.
        """
    @property
    def demand_mb(self) -> int:
        """The guest's committed memory (MB), what it needs without paging: set
        it to drive the VM (0..=MAX_DEMAND_MB). The balancer acts on it at the
        next tick; a starting VM's guest reports it only after its report
        delay (boot_report_delay_s for the default guest), a Linux guest with
        its balloon floor on top (guest_reported_mb).
        """
    @demand_mb.setter
    def demand_mb(self, value: int) -> None: ...
    @property
    def assigned_mb(self) -> int:
        """Physical memory assigned to the VM (MB); Hyper-V's counter Physical
        Memory. 0 when off.
        """
    @property
    def visible_mb(self) -> int:
        """Guest-visible physical memory (MB); Hyper-V's counter Guest Visible
        Physical Memory. Grows in hot_add_chunk_mb chunks and never shrinks
        while the VM runs (ballooned memory stays visible).
        """
    @property
    def target_mb(self) -> int:
        """What the balancer aims to give the VM (MB): demand plus the buffer,
        rounded up to the balloon unit and clamped to [minimum_mb,
        maximum_mb] (startup_mb while starting or static; 0 when off).
        """
    @property
    def pressure(self) -> float:
        """Current pressure (%): guest_reported_mb / assigned_mb × 100 (for the
        default guest demand_mb / assigned_mb); Hyper-V's counter Current
        Pressure. 0 when off.
        """
    @property
    def paging_mb(self) -> int:
        """Memory the guest pages inside itself (MB): max(0, demand_mb −
        assigned_mb); 0 when off.
        """
    @property
    def numa_node(self) -> int:
        """The VM's preferred NUMA node: the node chosen when it started (the
        one with the most free memory, ties to the lowest index); -1 while it
        is off; 0 while it is on, on a host without NUMA.
        """
    @property
    def available_buffer_pct(self) -> int:
        """Hyper-V's AvailableMemoryBuffer (%, a whole number): the buffer
        actually free, assigned_mb − demand_mb, as a percent of the configured
        buffer demand_mb × buffer_pct / 100, rounded down (negative exactly
        when the guest pages; not capped above); 100 when demand_mb is 0; 0
        when off or static.
        """
    @property
    def memory_available_pct(self) -> int:
        """Hyper-V's MemoryAvailable (%, a whole number): assigned_mb −
        demand_mb as a percent of assigned_mb, rounded down (negative when the
        guest pages); 0 when off.
        """
    @property
    def reported_demand_mb(self) -> int:
        """What Get-VM's MemoryDemand shows (MB): assigned_mb × (100 −
        memory_available_pct) / 100 rounded down, in steps of 1 % of
        assigned memory; never below demand_mb while on; 0 when off.
        """
    @property
    def startup_mb(self) -> int:
        """Startup memory (MB): what the VM gets when it starts, and holds
        until its guest reports demand. A multiple of the balloon unit
        (2 MB), minimum_mb ≤ startup_mb ≤ maximum_mb; changes only while
        the VM is off.
        """
    @startup_mb.setter
    def startup_mb(self, value: int) -> None: ...
    @property
    def minimum_mb(self) -> int:
        """Minimum memory (MB), at least 32: the balancer never takes a
        running dynamic VM below it. While the VM runs it may only fall.
        """
    @minimum_mb.setter
    def minimum_mb(self, value: int) -> None: ...
    @property
    def maximum_mb(self) -> int:
        """Maximum memory (MB), at most `dynmem.MAX_MAXIMUM_MB` (1 TB): the
        balancer never gives the VM more. While the VM runs it may only
        rise.
        """
    @maximum_mb.setter
    def maximum_mb(self, value: int) -> None: ...
    @property
    def buffer_pct(self) -> int:
        """Memory buffer (%), 5–2000: memory the balancer aims to give on top
        of demand (target = demand × (100 + buffer_pct) / 100).
        """
    @buffer_pct.setter
    def buffer_pct(self, value: int) -> None: ...
    @property
    def weight(self) -> int:
        """Memory weight (Hyper-V's priority), 0–10000, default 5000: under
        contention memory above the minimum is shared in proportion to
        it; weight 0 is served last.
        """
    @weight.setter
    def weight(self, value: int) -> None: ...
    @property
    def dynamic(self) -> bool:
        """True for Dynamic Memory; False for a static VM, which holds its
        startup memory while it runs. Changes only while the VM is off.
        """
    @dynamic.setter
    def dynamic(self, value: bool) -> None: ...
    def configure(
        self,
        *,
        startup_mb: int | None = None,
        minimum_mb: int | None = None,
        maximum_mb: int | None = None,
        buffer_pct: int | None = None,
        weight: int | None = None,
        dynamic: bool | None = None,
    ) -> None:
        """Changes several settings at once, atomically: keywords among
        startup_mb, minimum_mb, maximum_mb, buffer_pct, weight and dynamic
        (`None` leaves a setting as it is; another keyword is a `ConfigTypeError`).
        """
    def start(self) -> None:
        """Starts the VM (`InsufficientMemoryError` if startup memory can't be found)."""
    def stop(self) -> None:
        """Stops the VM; its memory returns to the host."""
    def restart(self) -> None:
        """Restarts a VM that is on: a stop and a start in one operation. The
        start finds memory as start() does (free memory, then ballooning
        running dynamic VMs of weight <= its own down to their minimum_mb).
        If that is short of startup_mb, then from version "2012" on the VM
        starts with all it found (MB, a multiple of the balloon unit) and the
        rest of startup_mb goes to a Smart Paging file: smart_paging_mb and
        the counter "Smart Paging Working Set Size" show it (MB), status is
        "paging", and the file drains after each tick until it is gone,
        within the host's smart_paging_drain_s (s). Its own memory comes
        back to it, so a restart never fails for memory. An off VM is a
        `StateError`; on "2008r2sp1" a restart short of memory would be a
        `VersionError`, which minimum = startup there makes impossible.
        """
    @property
    def smart_paging_mb(self) -> int:
        """Smart Paging working set (MB): the part of startup_mb a restart()
        could not find, paged to a Smart Paging file until the file drains;
        0 almost always. The counter "Smart Paging Working Set Size".
        """
    @property
    def counters(self) -> dict[str, float]:
        """Hyper-V's per-VM counters ("Hyper-V Dynamic Memory VM"), a new dict
        each read, keyed by Hyper-V's names in the order of
        `dynmem._dynmem.VM_COUNTER_NAMES`:

        - "Added Memory", "Removed Memory": MB, over the VM's life
        - "Memory Add Operations", "Memory Remove Operations": counts
        - "Physical Memory", "Guest Visible Physical Memory": MB, now
        - "Current Pressure": %, now
        - "Average Pressure", "Minimum Pressure", "Maximum Pressure": %,
          over the ticks the VM ran
        - "Guest Available Memory": MB, max(0, assigned − demand) now: the
          guest's free memory (0 when off)
        - "Smart Paging Working Set Size": MB, the part of startup memory a
          restart paged to a Smart Paging file (smart_paging_mb)
        """
    @property
    def exists(self) -> bool:
        """True while the VM is still on its host."""

# ----- fleets and snapshots (issue 12; rust/dynmem-py/src/fleet.rs) -------

#: Version of the snapshot format this build writes and reads.
SNAPSHOT_VERSION: int

def host_snapshot(host: Host) -> bytes: ...
def host_from_snapshot(
    data: bytes, rule: tuple[Any, ...] | None = None
) -> tuple[Host, tuple[int, int, float, float, float], str, float]: ...

@final
class Fleet:
    def __new__(cls, physical_mb: npt.NDArray[np.int64], reserve_mb: int | None, policy: Any) -> Fleet: ...
    def __len__(self) -> int: ...
    @property
    def host_count(self) -> int: ...
    @property
    def time_s(self) -> float: ...
    @property
    def threads(self) -> int: ...
    @threads.setter
    def threads(self, value: int) -> None: ...
    @property
    def heap_bytes(self) -> int: ...
    def add_vms(
        self,
        names: list[str] | int,
        startup_mb: npt.NDArray[np.int64],
        maximum_mb: npt.NDArray[np.int64],
        minimum_mb: npt.NDArray[np.int64],
        buffer_pct: npt.NDArray[np.int64],
        weight: npt.NDArray[np.int64],
        dynamic: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.uint64]: ...
    def place(
        self,
        ids: npt.NDArray[np.uint64],
        rule: str,
        score: str,
        max_ratio: float | None,
        user: Callable[[dict[str, int], dict[str, Any]], int] | None,
    ) -> npt.NDArray[np.int64]: ...
    def start_many(self, ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]: ...
    def stop_many(self, ids: npt.NDArray[np.uint64]) -> None: ...
    def can_start(self, startup_mb: int, weight: int) -> npt.NDArray[np.bool_]: ...
    def set_demand_mb(self, demand_mb: npt.NDArray[np.int64]) -> None: ...
    def tick(self, dt_s: float) -> None: ...
    def assigned_mb(self) -> npt.NDArray[np.int64]: ...
    def demand_mb(self) -> npt.NDArray[np.int64]: ...
    def visible_mb(self) -> npt.NDArray[np.int64]: ...
    def host_of(self, ids: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]: ...
    def hosts_of_all(self) -> npt.NDArray[np.int64]: ...
    def host_available_mb(self) -> npt.NDArray[np.int64]: ...
    def host_free_mb(self) -> npt.NDArray[np.int64]: ...
    def host_physical_mb(self) -> npt.NDArray[np.int64]: ...
    def name(self, id: int) -> str: ...
    def find(self, name: str) -> int: ...
    def migrate(
        self, ids: npt.NDArray[np.uint64], to: npt.NDArray[np.int64], duration_s: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]: ...
    def migrations(self) -> list[tuple[int, int, int, float]]: ...
    def set_dynamic_optimization(self, settings: tuple[float, float, float] | None) -> None: ...
    def dynamic_optimization(self) -> tuple[float, float, float] | None: ...
    def host_pressure(self) -> npt.NDArray[np.float64]: ...
    def run(
        self, demand_mb: npt.NDArray[np.int64], dt_s: float, record_every: int, first_tick: int
    ) -> dict[str, Any]: ...
    def snapshot(self) -> bytes: ...
    @staticmethod
    def from_snapshot(data: bytes) -> Fleet: ...
    def host_snapshot(self, k: int) -> bytes: ...
    def mechanics(self) -> tuple[int, int, float, float, float]: ...
