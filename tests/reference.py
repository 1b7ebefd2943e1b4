"""Pure-Python reference implementation of docs/balancer.md.

Written for obviousness, not speed: every step of the spec is a few lines
here, in the order the spec lists it, and every float operation is done in
the same order as the spec writes it, so results can be compared *exactly*
against the Rust core.

The reference does NOT validate its inputs (the tests only feed it valid
operations); the one failure it models is the spec's start failure, raised
as `InsufficientMemory`.

It mirrors the public `dynmem` API closely enough that the same driver code
can operate a `dynmem.Host` and a `reference.Host` in lock-step:

    host = Host(physical_mb=8192, reserve_mb=512, policy=Policy())
    vm = host.add_vm("a", startup_mb=1024, maximum_mb=4096, minimum_mb=512)
    vm.start(); vm.demand_mb = 1500; host.tick(1.0)
    vm.assigned_mb, vm.visible_mb, vm.target_mb, vm.status, vm.pressure,
    vm.counters, host.counters, host.assigned_mb (a list), ...

Where the spec is silent the reference does the following (and so do the
tests' expectations):
- "running VMs" in the start rule's `free` and in the host counters means
  every VM that is not off (starting VMs hold memory too);
- `minimum_mb=None` is resolved to startup once, when the VM is added;
- counters and pressure statistics are cumulative over a VM's life on the
  host (not reset by stop/start); an off VM shows pressure 0;
- start and stop are not Memory Add/Remove Operations; ballooning a running
  VM to make room for a start is.

NUMA (docs/balancer.md, "NUMA"): `numa_nodes` (a count or node sizes) and
`numa_spanning`. The reserve is taken from node 0 upwards; a VM's preferred
node is chosen at its start; with spanning on the pool stays one and memory
is only *accounted* to nodes (`_accounting`); with spanning off every node
is a pool of its own (`tick` runs steps 2-4 once per node).

Allocation policies (docs/policies.md): the host's `policy` decides only the
allocation `g` of step 3 (`Policy.rule`); every other step is shared. The
built-in rules are written as the docs state them, unit by unit where the
docs give an order (`hand_out`), never as a level search. `StaticPolicy`
also changes the start rule: it never balloons another VM. Any other policy
object (a `dynmem.Policy` subclass with `allocate(pool_mb, view)`) is a user
policy: called with a view of numpy arrays, its answer rounded down to the
balloon unit. Here a user policy may derive from `Mechanics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

# Settled readings of docs/balancer.md: current pressure is live (computed
# on read), and the excess clock also resets when a lazy step reaches g.

OFF, STARTING, RUNNING = "off", "starting", "running"


class NoSmartPaging(Exception):
    """A restart short of startup memory on a release without Smart Paging
    (the real Host raises VersionError)."""


class InsufficientMemory(Exception):
    """A start could not find the VM's startup memory (spec: 'Starting a VM')."""


@dataclass(frozen=True)
class Mechanics:
    """The mechanics every policy shares (a user policy's base here)."""

    balloon_unit_mb: int = 2
    hot_add_chunk_mb: int = 128
    boot_report_delay_s: float = 45.0
    remove_delay_s: float = 5.0
    remove_rate_mb_per_s: float = 256.0


@dataclass(frozen=True)
class Policy(Mechanics):
    """Hyper-V's rule (docs/balancer.md) and the mechanics."""

    kind: ClassVar[str] = "hyperv"
    #: a start may balloon running VMs of no higher weight down to their minimum
    balloons_at_start: ClassVar[bool] = True

    def rule(self, pool_mb: int, vms: list) -> list[int]:
        """g for the solver VMs `vms` (objects with the VM's attributes)."""
        return hyperv_rule(pool_mb, vms, self.balloon_unit_mb)


HyperVPolicy = Policy


@dataclass(frozen=True)
class StaticPolicy(Policy):
    """No Dynamic Memory: g = startup; starts never balloon others."""

    kind: ClassVar[str] = "static"
    balloons_at_start: ClassVar[bool] = False

    def rule(self, pool_mb: int, vms: list) -> list[int]:
        return [v.startup_mb for v in vms]


@dataclass(frozen=True)
class ProportionalPolicy(Policy):
    """Xen squeezed: one fraction of every VM's [minimum, maximum]."""

    kind: ClassVar[str] = "proportional"

    def rule(self, pool_mb: int, vms: list) -> list[int]:
        return proportional_rule(pool_mb, vms, self.balloon_unit_mb)


@dataclass(frozen=True)
class SharesPolicy(Policy):
    """VMware ESX: shares = weight, with the idle memory tax."""

    idle_tax: float = 0.75
    kind: ClassVar[str] = "shares"

    def rule(self, pool_mb: int, vms: list) -> list[int]:
        return shares_rule(pool_mb, vms, self.balloon_unit_mb, self.idle_tax)


@dataclass(frozen=True)
class StrictPriorityPolicy(Policy):
    """Higher weight fully served (demand, then buffer) before lower."""

    kind: ClassVar[str] = "strict"

    def rule(self, pool_mb: int, vms: list) -> list[int]:
        return strict_rule(pool_mb, vms, self.balloon_unit_mb)


POLICY_KINDS = {c.kind: c for c in (HyperVPolicy, StaticPolicy, ProportionalPolicy,
                                   SharesPolicy, StrictPriorityPolicy)}


# the spec's arithmetic and the allocation rules: reference_rules.py
from reference_rules import (  # noqa: E402,F401
    W, ceil_div, ceil_u, clamp, fill, floor_u, hand_out, hyperv_rule, idle_tax_t,
    proportional_rule, shares_r, shares_rule, strict_rule,
)


# guest profiles (docs/balancer.md, "Guest profiles"): reference_guests.py
import reference_paging  # noqa: E402
from reference_guests import MAX_DEMAND, GuestSide, as_guest  # noqa: E402


class View:
    """What a user policy's `allocate` sees (dynmem.PolicyView's fields)."""

    COLUMNS = ("ids", "demand_mb", "assigned_mb", "minimum_mb", "maximum_mb", "target_mb",
               "buffer_pct", "weight")

    def __init__(self, vms: list, dt_s: float, time_s: float, u: int):
        import numpy as np
        for c in self.COLUMNS:
            attr = "id" if c == "ids" else c
            setattr(self, c, np.array([getattr(v, attr) for v in vms], dtype=np.int64))
        self.dt_s, self.time_s, self.balloon_unit_mb = dt_s, time_s, u

    def __len__(self) -> int:
        return len(self.ids)


def user_rule(policy, pool: int, vms: list, dt_s: float, time_s: float) -> list[int]:
    """A user policy's answer (assumed valid), rounded down to the unit."""
    u = policy.balloon_unit_mb
    answer = policy.allocate(pool, View(vms, dt_s, time_s, u))
    return [floor_u(int(x), u) for x in answer]


# --------------------------------------------------------------------------
# VM
# --------------------------------------------------------------------------

class VM(GuestSide):
    def __init__(self, host: "Host", name: str, startup_mb: int, maximum_mb: int,
                 minimum_mb, buffer_pct: int, weight: int, dynamic: bool, guest="windows"):
        self._host = host
        self.guest = as_guest(guest)
        self.id = host._next_id  # as the core's VmId: 1, 2, ... never reused
        host._next_id += 1
        self.name = name
        self.startup_mb = startup_mb
        # `None` means "equal to startup"; resolved once, when the VM is added.
        self.minimum_mb = startup_mb if minimum_mb is None else minimum_mb
        self.maximum_mb = maximum_mb
        self.buffer_pct = buffer_pct
        self.weight = weight
        self.dynamic = dynamic
        # What the guest reports: committed + floor, at most 2^32 - 1 (spec,
        # "Guest profiles"); `demand_mb` is this less the floor.
        self.guest_reported_mb = self.balloon_floor_mb

        self.state = OFF
        self.assigned_mb = 0
        self.visible_mb = 0
        self.boot_clock = 0.0
        self.excess_clock = 0.0
        self.smart_paging_mb = 0
        self.node = None  # preferred NUMA node, chosen at each start

        # counters (cumulative for the VM's life on the host)
        self.added_mb = 0
        self.removed_mb = 0
        self.add_ops = 0
        self.remove_ops = 0
        # Pressure statistics as piecewise-constant integrals (spec,
        # "Statistics"): the integral is sum_p + p_now x T while an interval
        # is open (p_now the pressure since the last change; None: none open),
        # else sum_p.
        self.sum_p = 0.0
        self.p_now: float | None = None
        # Running time against the host clock T (spec, "Statistics"): while
        # on, running time = T + run_mark; while off, run_mark is the running
        # time so far.
        self.run_mark = 0.0
        self.min_pressure = 0.0
        self.max_pressure = 0.0
        self.samples = 0  # pressure values sampled (0: none yet)
        # Smart Paging (spec, "Smart Paging"): the file's size now, its size
        # at the restart, and when it must be gone (host clock).
        self.smart_paging_mb = 0
        self.paging_gap_mb = 0
        self.paging_deadline_s = 0.0

    # ---- settings -------------------------------------------------------
    def configure(self, **changes) -> None:
        committed = self.demand_mb
        for key, value in changes.items():
            assert key in ("minimum_mb", "maximum_mb", "startup_mb",
                           "buffer_pct", "weight", "dynamic"), key
            setattr(self, key, value)
        self.demand_mb = committed  # on the new floor (a new startup moves it)

    # ---- lifecycle ------------------------------------------------------
    def start(self) -> None:
        self._host._start(self)

    def restart(self) -> None:
        """Stop then start; short of startup memory, Smart Paging."""
        self._host._restart(self)

    def stop(self) -> None:
        assert self.state != OFF, "stop: the VM must be on (the real Host rejects it)"
        self.sum_p = self.pressure_integral  # the open interval ends now
        self.p_now = None
        self.run_mark = self._host.time_s + self.run_mark
        self.state = OFF
        self.assigned_mb = 0
        self.visible_mb = 0
        self.boot_clock = 0.0
        self.excess_clock = 0.0
        self.smart_paging_mb = 0

    # ---- derived quantities ---------------------------------------------
    @property
    def in_solver_set(self) -> bool:
        return self.state == RUNNING and self.dynamic

    @property
    def target_mb(self) -> int:
        if self.state == OFF:
            return 0
        if not self.in_solver_set:  # starting, or static running
            return self.startup_mb
        u = self._host.policy.balloon_unit_mb
        with_buffer = ceil_div(self.guest_reported_mb * (100 + self.buffer_pct), 100)
        return clamp(ceil_u(with_buffer, u), self.effective_minimum_mb, self.maximum_mb)

    @property
    def demand_cap_mb(self) -> int:
        u = self._host.policy.balloon_unit_mb
        return clamp(ceil_u(self.guest_reported_mb, u), self.effective_minimum_mb, self.maximum_mb)

    @property
    def available_buffer_pct(self) -> int:
        """AvailableMemoryBuffer: the free buffer as a whole percent of the
        configured buffer, rounded toward -inf; 100 at demand 0; 0 off/static."""
        if self.state == OFF or not self.dynamic:
            return 0
        d = self.guest_reported_mb
        if d == 0:
            return 100
        configured = d * self.buffer_pct  # x 1/100 MB
        return (10000 * (self.assigned_mb - d)) // configured

    @property
    def memory_available_pct(self) -> int:
        if self.assigned_mb == 0:
            return 0
        return (100 * (self.assigned_mb - self.guest_reported_mb)) // self.assigned_mb

    @property
    def reported_demand_mb(self) -> int:
        return self.assigned_mb * (100 - self.memory_available_pct) // 100

    @property
    def numa_node(self) -> int:
        """The preferred node: -1 when off, 0 on a host without NUMA."""
        return -1 if self.state == OFF else self.node

    @property
    def status(self) -> str:
        if self.state == OFF:
            return "off"
        if not self.dynamic:
            return "spanning" if self in self._host._accounting()[1] else ""
        if self.smart_paging_mb > 0:
            return "paging"
        pct = self.available_buffer_pct
        if pct < 0:
            return "warning"
        if pct > 80:
            return "ok"
        return "low"

    @property
    def paging_mb(self) -> int:
        if self.state == OFF:
            return 0
        return max(0, self.demand_mb - self.assigned_mb)

    @property
    def pressure(self) -> float:
        """Current pressure; 0 for an off VM."""
        if self.state == OFF:
            return 0.0
        return self.guest_reported_mb / self.assigned_mb * 100

    @property
    def pressure_integral(self) -> float:
        """The pressure's integral over the VM's life up to now (x s)."""
        if self.p_now is None:
            return self.sum_p
        return self.sum_p + self.p_now * self._host.time_s

    @property
    def average_pressure(self) -> float:
        if self.samples == 0:
            return 0.0
        running = self.run_mark if self.state == OFF else self._host.time_s + self.run_mark
        mean = self.pressure_integral / running if running > 0.0 else 0.0
        # Clamped to the samples' range: only rounding can push it out (spec, "Statistics").
        return min(max(mean, self.min_pressure), self.max_pressure)

    @property
    def counters(self) -> dict:
        return {
            "Added Memory": self.added_mb,
            "Removed Memory": self.removed_mb,
            "Memory Add Operations": self.add_ops,
            "Memory Remove Operations": self.remove_ops,
            "Physical Memory": self.assigned_mb,
            "Guest Visible Physical Memory": self.visible_mb,
            "Current Pressure": self.pressure,
            "Average Pressure": self.average_pressure,
            "Minimum Pressure": self.min_pressure,
            "Maximum Pressure": self.max_pressure,
            "Guest Available Memory": 0 if self.state == OFF else max(0, self.assigned_mb - self.guest_reported_mb),
            "Smart Paging Working Set Size": self.smart_paging_mb,
        }

    # ---- memory mechanics -------------------------------------------------
    def _balloon_out(self, mb: int) -> None:
        """Remove `mb` by ballooning: assigned falls, visible stays."""
        if mb <= 0:
            return
        self.assigned_mb -= mb
        self.removed_mb += mb
        self.remove_ops += 1

    def _raise_to(self, g: int) -> None:
        """Add memory up to g: unballoon first, then hot-add in chunks."""
        rise = g - self.assigned_mb
        if rise <= 0:
            return
        self.assigned_mb = g
        if self.assigned_mb > self.visible_mb:
            chunk = self.hot_add_chunk_mb(self._host.policy)
            chunks = ceil_div(self.assigned_mb - self.visible_mb, chunk)
            self.visible_mb = min(self.maximum_mb, self.visible_mb + chunks * chunk)
            if self.visible_mb < self.assigned_mb:
                self.visible_mb = self.assigned_mb
        self.added_mb += rise
        self.add_ops += 1

    def _sample(self, time_s: float) -> None:
        """End of a tick that began at host time time_s: if the pressure differs
        from the open interval's, that interval closes and the new pressure's
        opens at time_s (it holds over this tick)."""
        p = self.guest_reported_mb / self.assigned_mb * 100
        if p == self.p_now:
            return
        old = 0.0 if self.p_now is None else self.p_now
        self.sum_p = self.sum_p + old * time_s - p * time_s
        self.p_now = p
        if self.samples == 0:
            self.min_pressure = p
            self.max_pressure = p
        else:
            self.min_pressure = min(self.min_pressure, p)
            self.max_pressure = max(self.max_pressure, p)
        self.samples += 1


# --------------------------------------------------------------------------
# Host
# --------------------------------------------------------------------------

class Host:
    def __init__(self, physical_mb: int, reserve_mb=None, policy: Policy | None = None,
                 smart_paging: bool = True, smart_paging_drain_s: float = 600.0,
                 numa_nodes=1, numa_spanning: bool = True):
        # smart_paging: the release has it (2012 and later).
        self.smart_paging = smart_paging
        self.smart_paging_drain_s = smart_paging_drain_s
        self.physical_mb = physical_mb
        self.reserve_mb = 384 + 64 * physical_mb // 1024 if reserve_mb is None else reserve_mb
        self.policy = Policy() if policy is None else policy
        self.time_s = 0.0
        self.vms: list[VM] = []
        self._next_id = 1
        if isinstance(numa_nodes, int):  # equal nodes, the remainder 1 MB each to the first
            n = numa_nodes
            numa_nodes = [physical_mb // n + (1 if k < physical_mb % n else 0) for k in range(n)]
        self.numa_nodes_mb = list(numa_nodes)
        self.numa_spanning = numa_spanning or len(numa_nodes) == 1
        # the reserve from node 0 upwards
        left, self.node_reserve = self.reserve_mb, []
        for size in self.numa_nodes_mb:
            self.node_reserve.append(min(left, size))
            left -= self.node_reserve[-1]

    # ---- NUMA -------------------------------------------------------------
    def _node_free(self, skip=None) -> list[int]:
        """Per node: size - reserve share - assigned of the started VMs
        (but `skip`) preferring it (the start rule's free memory)."""
        free = [s - r for s, r in zip(self.numa_nodes_mb, self.node_reserve)]
        for v in self.vms:
            if v.state != OFF and v is not skip:
                free[v.node] -= v.assigned_mb
        return free

    def _accounting(self) -> tuple[list[int], list]:
        """Memory accounted to each node, and the static VMs that span:
        started static VMs, then started dynamic VMs, in host order, each on
        its node up to its room; the rest on the nodes with room, lowest
        index first."""
        used = list(self.node_reserve)
        over, spans = 0, []
        for dynamic in (False, True):
            for v in self.vms:
                if v.state == OFF or v.dynamic != dynamic:
                    continue
                local = min(v.assigned_mb, self.numa_nodes_mb[v.node] - used[v.node])
                used[v.node] += local
                if v.assigned_mb > local:
                    over += v.assigned_mb - local
                    if not dynamic:
                        spans.append(v)
        for k, size in enumerate(self.numa_nodes_mb):
            take = min(over, size - used[k])
            used[k] += take
            over -= take
        assert over == 0
        return used, spans

    @property
    def numa_available_mb(self) -> list[int]:
        return [s - u for s, u in zip(self.numa_nodes_mb, self._accounting()[0])]

    @property
    def numa_node(self) -> list[int]:
        return [v.numa_node for v in self.vms]

    # ---- VM management --------------------------------------------------
    def add_vm(self, name: str, startup_mb: int = 1024, maximum_mb: int = 1048576,
               minimum_mb=None, buffer_pct: int = 20, weight: int = 5000,
               dynamic: bool = True, guest="windows") -> VM:
        vm = VM(self, name, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic, guest)
        self.vms.append(vm)
        return vm

    def remove_vm(self, vm: VM) -> None:
        self.vms.remove(vm)

    def vm(self, name: str) -> VM:
        for v in self.vms:
            if v.name == name:
                return v
        raise KeyError(name)

    def set_demand_mb(self, demands) -> None:
        for v, d in zip(self.vms, list(demands)):
            v.demand_mb = int(d)

    # ---- arrays -----------------------------------------------------------
    @property
    def demand_mb(self) -> list[int]:
        return [v.demand_mb for v in self.vms]

    @property
    def assigned_mb(self) -> list[int]:
        return [v.assigned_mb for v in self.vms]

    @property
    def visible_mb(self) -> list[int]:
        return [v.visible_mb for v in self.vms]

    @property
    def target_mb(self) -> list[int]:
        return [v.target_mb for v in self.vms]

    @property
    def pressure(self) -> list[float]:
        return [v.pressure for v in self.vms]

    # ---- counters ---------------------------------------------------------
    @property
    def available_buffer_pct(self) -> list[int]:
        return [v.available_buffer_pct for v in self.vms]

    @property
    def memory_available_pct(self) -> list[int]:
        return [v.memory_available_pct for v in self.vms]

    @property
    def reported_demand_mb(self) -> list[int]:
        return [v.reported_demand_mb for v in self.vms]

    @property
    def available_mb(self) -> int:
        return self.physical_mb - self.reserve_mb - sum(v.assigned_mb for v in self.vms)

    @property
    def counters(self) -> dict:
        on = [v for v in self.vms if v.state != OFF]
        if on:
            average = sum(v.pressure for v in on) / len(on)
            system = sum(v.guest_reported_mb for v in on) / sum(v.assigned_mb for v in on) * 100
        else:
            average = 0.0
            system = 0.0
        return {
            "Available Memory": self.available_mb,
            "Average Pressure": average,
            "System Current Pressure": system,
            "Available Memory For Balancing": self.available_mb,
        }

    # ---- starting a VM ----------------------------------------------------
    def _restart(self, vm: VM) -> None:
        reference_paging.restart(self, vm)

    def _start(self, vm: VM, smart_paging: bool = False) -> None:
        assert vm.state == OFF, "start: the VM must be off (the real Host rejects it)"
        if not self.numa_spanning:
            return self._start_on_a_node(vm)
        self._start_on_host(vm, smart_paging)
        # The preferred node: the most free memory, ties to the lowest index
        # (free as the start rule counts it, before this VM's memory).
        free = self._node_free(skip=vm)
        vm.node = max(range(len(free)), key=lambda k: (free[k], -k))

    def _start_on_a_node(self, vm: VM) -> None:
        """Spanning off: the startup memory on one node: the node with the
        most free memory among those it fits (ties: lowest index); else the
        first, in that order, where ballooning its running dynamic VMs of no
        higher weight (lowest weight first, then position; to their
        minimum) makes room."""
        u = self.policy.balloon_unit_mb
        free = self._node_free()
        order = sorted(range(len(free)), key=lambda k: (-free[k], k))
        fits = [k for k in order if free[k] >= vm.startup_mb]
        node = fits[0] if fits else None
        if node is None and getattr(self.policy, "balloons_at_start", True):
            for k in order:
                short = ceil_u(vm.startup_mb - max(free[k], 0), u)
                donors = [v for v in self.vms
                          if v.in_solver_set and v.node == k and v.weight <= vm.weight]
                donors.sort(key=lambda v: (v.weight, self.vms.index(v)))
                if sum(max(0, d.assigned_mb - d.effective_minimum_mb) for d in donors) < short:
                    continue
                for d in donors:
                    take = min(max(0, d.assigned_mb - d.effective_minimum_mb), short)
                    d._balloon_out(take)
                    short -= take
                node = k
                break
        if node is None:
            raise InsufficientMemory(vm.name)
        vm.node = node
        self._set_started(vm, vm.startup_mb)

    def _start_on_host(self, vm: VM, smart_paging: bool) -> None:
        u = self.policy.balloon_unit_mb
        free = self.physical_mb - self.reserve_mb - sum(v.assigned_mb for v in self.vms)
        held = vm.startup_mb
        if free < vm.startup_mb and not getattr(self.policy, "balloons_at_start", True):
            if not smart_paging:
                raise InsufficientMemory(vm.name)  # StaticPolicy: no balloon to ask
            held = floor_u(max(free, 0), u)  # pages the rest
        elif free < vm.startup_mb:
            short = ceil_u(vm.startup_mb - free, u)
            donors = [v for v in self.vms
                      if v.in_solver_set and v.weight <= vm.weight]
            donors.sort(key=lambda v: (v.weight, self.vms.index(v)))
            takes = []
            for d in donors:
                take = min(max(0, d.assigned_mb - d.effective_minimum_mb), short)
                takes.append((d, take))
                short -= take
            if short > 0 and not smart_paging:
                raise InsufficientMemory(vm.name)
            for d, take in takes:
                d._balloon_out(take)
            if short > 0:  # Smart Paging: all of free memory and what the donors gave
                held = floor_u(max(free, 0), u) + sum(take for _, take in takes)
        self._set_started(vm, held)

    def _set_started(self, vm: VM, held: int) -> None:
        vm.assigned_mb = held
        vm.visible_mb = vm.startup_mb
        if held < vm.startup_mb:
            vm.smart_paging_mb = vm.paging_gap_mb = vm.startup_mb - held
            vm.paging_deadline_s = self.time_s + self.smart_paging_drain_s
        vm.boot_clock = 0.0
        vm.excess_clock = 0.0
        vm.state = STARTING if vm.dynamic else RUNNING
        vm.run_mark = vm.run_mark - self.time_s

    # ---- one tick -----------------------------------------------------------
    def tick(self, dt_s: float = 1.0) -> None:
        pol = self.policy
        u = pol.balloon_unit_mb

        # 1. Boot.
        for v in self.vms:
            if v.state == STARTING:
                v.boot_clock += dt_s
                if v.boot_clock >= v.report_delay_s(pol):  # its guest's
                    v.state = RUNNING

        # 2-4 for the whole host, or (NUMA, spanning off) once per node with
        # the node's started VMs and the node's size less its reserve share.
        if self.numa_spanning:
            self._balance(self.vms, self.physical_mb - self.reserve_mb, dt_s)
        else:
            for k, (size, r) in enumerate(zip(self.numa_nodes_mb, self.node_reserve)):
                self._balance([v for v in self.vms if v.state != OFF and v.node == k], size - r, dt_s)

        # 5. Statistics.
        for v in self.vms:
            if v.state in (STARTING, RUNNING):
                v._sample(self.time_s)

        self.time_s += dt_s

        # 6. Smart Paging drain (reference_paging.py).
        reference_paging.drain(self, u)

    def _balance(self, vms: list, usable_mb: int, dt_s: float) -> None:
        """Steps 2-4 over `vms` (in host order), whose pool is `usable_mb`
        less what they hold outside the solver set."""
        pol = self.policy
        u = pol.balloon_unit_mb
        solver = [v for v in vms if v.in_solver_set]

        # 2. Pool.
        held = sum(v.assigned_mb for v in vms if not v.in_solver_set)
        pool = floor_u(usable_mb - held, u)

        # 3. Allocation: the policy's rule; any other object is a user policy.
        seen = [v.balancer_view() for v in solver]
        if isinstance(pol, Policy):
            g = pol.rule(pool, seen)
        else:
            g = user_rule(pol, pool, seen, dt_s, self.time_s)
        alloc = dict(zip(map(id, solver), g))

        # 4. Mechanics.
        free = pool - sum(v.assigned_mb for v in solver)
        need = sum(max(0, alloc[id(v)] - v.assigned_mb) for v in solver)

        # 4a. prompt removal
        if need > free:
            short = need - free
            above = [v for v in solver if v.assigned_mb > alloc[id(v)]]
            above.sort(key=lambda v: (v.weight, self.vms.index(v)))
            for v in above:
                take = min(v.assigned_mb - alloc[id(v)], short)
                v._balloon_out(take)
                short -= take
            assert short == 0

        # 4b. lazy removal
        step_max = max(u, floor_u(math.floor(pol.remove_rate_mb_per_s * dt_s), u))
        for v in solver:
            gv = alloc[id(v)]
            if v.assigned_mb > gv:
                v.excess_clock += dt_s
                if v.excess_clock >= pol.remove_delay_s:
                    v._balloon_out(min(v.assigned_mb - gv, step_max))
                    if v.assigned_mb <= gv:
                        v.excess_clock = 0.0
            else:
                v.excess_clock = 0.0

        # 4c. adds
        for v in solver:
            v._raise_to(alloc[id(v)])
