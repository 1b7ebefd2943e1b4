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
from fractions import Fraction
from types import SimpleNamespace
from typing import ClassVar

W = 10000  # weight scale of the water-filling level (spec: `W = 10000`)

# Settled readings of docs/balancer.md: current pressure is live (computed
# on read), and the excess clock also resets when a lazy step reaches g.

OFF, STARTING, RUNNING = "off", "starting", "running"


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


# --------------------------------------------------------------------------
# arithmetic helpers from the spec's preamble
# --------------------------------------------------------------------------

def floor_u(x: int, u: int) -> int:
    return x - x % u


def ceil_u(x: int, u: int) -> int:
    return floor_u(x + u - 1, u)


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers, b > 0, without floats."""
    return -((-a) // b)


def clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


# --------------------------------------------------------------------------
# fill(budget, caps, weights): unit-at-a-time greedy (spec, "Equivalently")
# --------------------------------------------------------------------------

def fill(budget_mb: int, caps_mb: list[int], weights: list[int], u: int) -> list[int]:
    """Weighted water-filling of `budget_mb` over VMs with `caps_mb`.

    Hands out one unit (u MB) at a time. The next unit goes to the VM whose
    next unit has the lowest threshold level ceil(k * W / w), k being the
    number of units it would then hold; ties go to the higher weight, then
    to the earlier position. Weight-0 VMs only get units once every
    positive-weight VM is at its cap, and then share equally (same rule with
    equal weights). Returns MB per VM.
    """
    got = hand_out(budget_mb // u, [0] * len(caps_mb), [c // u for c in caps_mb], weights)
    return [g * u for g in got]


def hand_out(budget: int, start: list[int], caps: list[int], weights: list[int]) -> list[int]:
    """`fill`'s rule in units, from `start`: VM i holds start[i] units and
    takes up to caps[i]; `budget` more units are handed out one at a time,
    the next to the VM whose next unit (its k-th in all) has the lowest
    threshold ceil(k * W / w), ties to the higher weight, then the earlier
    position; weight-0 VMs only once every positive weight is at its cap,
    then as equal weights. Returns the units each holds."""
    n = len(caps)
    got = list(start)

    def give(members: list[int], weight_of) -> None:
        nonlocal budget
        while budget > 0:
            best = None
            best_key = None
            for i in members:
                if got[i] >= caps[i]:
                    continue
                w = weight_of(i)
                k = got[i] + 1
                threshold = ceil_div(k * W, w)
                key = (threshold, -w, i)  # lowest level, higher weight, earlier
                if best_key is None or key < best_key:
                    best, best_key = i, key
            if best is None:  # everyone in this group is at its cap
                return
            got[best] += 1
            budget -= 1

    positive = [i for i in range(n) if weights[i] > 0]
    zero = [i for i in range(n) if weights[i] == 0]
    give(positive, lambda i: weights[i])
    if all(got[i] >= caps[i] for i in positive):
        give(zero, lambda i: 1)  # "equal weights among them"
    return got


# --------------------------------------------------------------------------
# the allocation rules (docs/balancer.md step 3, docs/policies.md)
# --------------------------------------------------------------------------

def hyperv_rule(pool: int, vms: list, u: int) -> list[int]:
    """docs/balancer.md stages 0-2."""
    target = [v.target_mb for v in vms]
    dcap = [v.demand_cap_mb for v in vms]
    minimum = [v.minimum_mb for v in vms]
    weights = [v.weight for v in vms]
    if sum(target) <= pool:
        return list(target)
    if sum(dcap) <= pool:
        extra = fill(pool - sum(dcap), [t - c for t, c in zip(target, dcap)], weights, u)
        return [c + e for c, e in zip(dcap, extra)]
    assert sum(minimum) <= pool, "spec invariant: sum(minimum) <= pool"
    extra = fill(pool - sum(minimum), [c - m for c, m in zip(dcap, minimum)], weights, u)
    return [m + e for m, e in zip(minimum, extra)]


def proportional_rule(pool: int, vms: list, u: int) -> list[int]:
    """Xen squeezed: gamma = S / R of every range, floored, the remainder one
    unit each to the first VMs with room, in position order."""
    ranges = [(v.maximum_mb - v.minimum_mb) // u for v in vms]
    surplus = (pool - sum(v.minimum_mb for v in vms)) // u
    assert surplus >= 0, "spec invariant: sum(minimum) <= pool"
    if sum(ranges) <= surplus:
        return [v.maximum_mb for v in vms]
    gamma = Fraction(surplus, sum(ranges))  # exact
    x = [math.floor(r * gamma) for r in ranges]
    rest = surplus - sum(x)
    for i, r in enumerate(ranges):
        if rest > 0 and x[i] < r:
            x[i] += 1
            rest -= 1
    assert rest == 0
    return [v.minimum_mb + xi * u for v, xi in zip(vms, x)]


def idle_tax_t(idle_tax: float) -> int:
    """tau as the rule's integer t = round(tau W) (half away from zero, as
    Rust's f64::round), at most W - 1."""
    x = idle_tax * W
    t = math.floor(x)
    if x - t >= 0.5:
        t += 1
    return min(t, W - 1)


def shares_r(level: int, d: int, w: int, t: int) -> int:
    """r(L) of docs/policies.md (units): floor(L w / W) up to the demand cap
    d, floor((t d W + (W - t) L w) / W^2) above it."""
    if level * w <= d * W:
        return level * w // W
    return (t * d * W + (W - t) * level * w) // (W * W)


def shares_rule(pool: int, vms: list, u: int, idle_tax: float) -> list[int]:
    """ESX: every VM from its reservation (minimum) up to its target; the
    units handed out one at a time, the next to the VM that reaches it at
    the lowest level (the smallest L with r(L) >= its next unit; found by
    counting up, no inverse formula), ties to the higher weight, then the
    earlier position; weight 0 only once every positive weight is at its
    target, then with equal weights W."""
    target = [v.target_mb for v in vms]
    if sum(target) <= pool:
        return target
    t = idle_tax_t(idle_tax)
    lo = [v.minimum_mb // u for v in vms]
    hi = [x // u for x in target]
    d = [v.demand_cap_mb // u for v in vms]
    got = list(lo)
    budget = pool // u - sum(lo)

    def reach(i: int, k: int, w: int) -> int:
        """The smallest level at which VM i's r is at least k (bisection on
        the monotone r: the doc's definition, not an inverse)."""
        a, b = 0, 1
        while shares_r(b, d[i], w, t) < k:
            a, b = b, b * 2
        while b - a > 1:
            m = (a + b) // 2
            a, b = (a, m) if shares_r(m, d[i], w, t) >= k else (m, b)
        return b

    def give(members: list[int], weight_of) -> None:
        nonlocal budget
        while budget > 0:
            room = [i for i in members if got[i] < hi[i]]
            if not room:
                return
            best = min(room, key=lambda i: (reach(i, got[i] + 1, weight_of(i)), -weight_of(i), i))
            got[best] += 1
            budget -= 1

    positive = [i for i, v in enumerate(vms) if v.weight > 0]
    give(positive, lambda i: vms[i].weight)
    if all(got[i] >= hi[i] for i in positive):
        give([i for i, v in enumerate(vms) if v.weight == 0], lambda i: W)
    return [x * u for x in got]


def strict_rule(pool: int, vms: list, u: int) -> list[int]:
    """Every VM from its minimum; weights from the highest down, each first to
    its demand cap, then to its target; one unit at a time, within a weight
    and phase to the VM that has had the fewest units of that phase (ties:
    earlier position), until the pool is spent."""
    target = [v.target_mb for v in vms]
    if sum(target) <= pool:
        return target
    got = [v.minimum_mb for v in vms]
    budget = (pool - sum(got)) // u
    for w in sorted({v.weight for v in vms}, reverse=True):
        members = [i for i, v in enumerate(vms) if v.weight == w]
        for caps in ([vms[i].demand_cap_mb for i in members], [target[i] for i in members]):
            given = [0] * len(members)
            while budget > 0:
                room = [j for j, i in enumerate(members) if got[i] < caps[j]]
                if not room:
                    break
                j = min(room, key=lambda j: (given[j], j))
                got[members[j]] += u
                given[j] += 1
                budget -= 1
    return got


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

class VM:
    def __init__(self, host: "Host", name: str, startup_mb: int, maximum_mb: int,
                 minimum_mb, buffer_pct: int, weight: int, dynamic: bool):
        self._host = host
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
        self.demand_mb = 0

        self.state = OFF
        self.assigned_mb = 0
        self.visible_mb = 0
        self.boot_clock = 0.0
        self.excess_clock = 0.0

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

    # ---- settings -------------------------------------------------------
    def configure(self, **changes) -> None:
        for key, value in changes.items():
            assert key in ("minimum_mb", "maximum_mb", "startup_mb",
                           "buffer_pct", "weight", "dynamic"), key
            setattr(self, key, value)

    # ---- lifecycle ------------------------------------------------------
    def start(self) -> None:
        self._host._start(self)

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
        with_buffer = ceil_div(self.demand_mb * (100 + self.buffer_pct), 100)
        return clamp(ceil_u(with_buffer, u), self.minimum_mb, self.maximum_mb)

    @property
    def demand_cap_mb(self) -> int:
        u = self._host.policy.balloon_unit_mb
        return clamp(ceil_u(self.demand_mb, u), self.minimum_mb, self.maximum_mb)

    @property
    def available_buffer_pct(self) -> int:
        """AvailableMemoryBuffer: the free buffer as a whole percent of the
        configured buffer, rounded toward -inf; 100 at demand 0; 0 off/static."""
        if self.state == OFF or not self.dynamic:
            return 0
        if self.demand_mb == 0:
            return 100
        configured = self.demand_mb * self.buffer_pct  # x 1/100 MB
        return (10000 * (self.assigned_mb - self.demand_mb)) // configured

    @property
    def memory_available_pct(self) -> int:
        if self.assigned_mb == 0:
            return 0
        return (100 * (self.assigned_mb - self.demand_mb)) // self.assigned_mb

    @property
    def reported_demand_mb(self) -> int:
        return self.assigned_mb * (100 - self.memory_available_pct) // 100

    @property
    def status(self) -> str:
        if self.state == OFF:
            return "off"
        if not self.dynamic:
            return ""
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
        return self.demand_mb / self.assigned_mb * 100

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
            "Guest Available Memory": 0 if self.state == OFF else max(0, self.assigned_mb - self.demand_mb),
            "Smart Paging Working Set Size": 0,  # no restart in the reference yet
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
            chunk = self._host.policy.hot_add_chunk_mb
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
        p = self.demand_mb / self.assigned_mb * 100
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
    def __init__(self, physical_mb: int, reserve_mb=None, policy: Policy | None = None):
        self.physical_mb = physical_mb
        self.reserve_mb = 384 + 64 * physical_mb // 1024 if reserve_mb is None else reserve_mb
        self.policy = Policy() if policy is None else policy
        self.time_s = 0.0
        self.vms: list[VM] = []
        self._next_id = 1

    # ---- VM management --------------------------------------------------
    def add_vm(self, name: str, startup_mb: int = 1024, maximum_mb: int = 1048576,
               minimum_mb=None, buffer_pct: int = 20, weight: int = 5000,
               dynamic: bool = True) -> VM:
        vm = VM(self, name, startup_mb, maximum_mb, minimum_mb, buffer_pct, weight, dynamic)
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
            system = sum(v.demand_mb for v in on) / sum(v.assigned_mb for v in on) * 100
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
    def _start(self, vm: VM) -> None:
        assert vm.state == OFF, "start: the VM must be off (the real Host rejects it)"
        u = self.policy.balloon_unit_mb
        free = self.physical_mb - self.reserve_mb - sum(v.assigned_mb for v in self.vms)
        if free < vm.startup_mb and not getattr(self.policy, "balloons_at_start", True):
            raise InsufficientMemory(vm.name)  # StaticPolicy: no balloon to ask
        if free < vm.startup_mb:
            short = ceil_u(vm.startup_mb - free, u)
            donors = [v for v in self.vms
                      if v.in_solver_set and v.weight <= vm.weight]
            donors.sort(key=lambda v: (v.weight, self.vms.index(v)))
            takes = []
            for d in donors:
                take = min(max(0, d.assigned_mb - d.minimum_mb), short)
                takes.append((d, take))
                short -= take
            if short > 0:
                raise InsufficientMemory(vm.name)
            for d, take in takes:
                d._balloon_out(take)
        vm.assigned_mb = vm.startup_mb
        vm.visible_mb = vm.startup_mb
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
                if v.boot_clock >= pol.boot_report_delay_s:
                    v.state = RUNNING

        solver = [v for v in self.vms if v.in_solver_set]

        # 2. Pool.
        held = sum(v.assigned_mb for v in self.vms if not v.in_solver_set)
        pool = floor_u(self.physical_mb - self.reserve_mb - held, u)

        # 3. Allocation: the policy's rule; any other object is a user policy.
        if isinstance(pol, Policy):
            g = pol.rule(pool, solver)
        else:
            g = user_rule(pol, pool, solver, dt_s, self.time_s)
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

        # 5. Statistics.
        for v in self.vms:
            if v.state in (STARTING, RUNNING):
                v._sample(self.time_s)

        self.time_s += dt_s
