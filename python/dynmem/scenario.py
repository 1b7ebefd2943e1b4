"""Scenario files (TOML): a host, its VMs, their workloads and events.

```toml
name = "two VMs"
duration_s = 3600          # simulated time
dt_s = 1.0                 # tick length
record_every = 60          # Timeline keeps every 60th tick
report_at_s = [0, 1800]    # optional: times `dynmem run` prints a table for

[host]
physical_mb = 8192
reserve_mb = 512           # optional; default 384 + 64 per GB
version = "2019"           # optional Windows Server release; default the newest
smart_paging_drain_s = 600 # optional: a Smart Paging file is gone this long after its restart

[policy]                   # optional HyperVPolicy fields
boot_report_delay_s = 45

[[vm]]
name = "web"
startup_mb = 1024          # every add_vm setting: minimum_mb, maximum_mb,
maximum_mb = 4096          # buffer_pct, weight, dynamic, guest
guest = "linux"            # optional: "windows" (default) | "linux" | a dynmem.Guest's fields,
                           # e.g. { name = "stuck", report_delay_s = inf }
start_s = 0                # optional: started at this time (else stays off)
demand_mb = [[0, 600], [300, 2560]]   # piecewise constant: [from_s, MB] pairs
# or a generator of dynmem.workloads (GENERATOR_TABLE below), times in seconds:
# workload = { kind = "diurnal", base_mb = 2048, amplitude_mb = 512, period_s = 86400 }

[[event]]
at_s = 1200
vm = "web"
action = "configure"       # "start" | "stop" | "configure" | "restart"
changes = { weight = 8000 }
```
Generators (``workload = { kind = "...", ... }``); every time is in seconds
like the rest of the file and is turned into ticks of ``dt_s`` (``at_s``
rounds to the nearest tick); the `dynmem.workloads` names in ticks
(``at_tick``, ``period_ticks``, ...) are accepted too, where a file wants
ticks explicitly:

```
{GENERATOR_TABLE}
```

Every problem raises `ConfigError` (`ConfigTypeError` for a value of the
wrong type) naming the file and the key, before anything runs.
"""

from __future__ import annotations

import inspect
import math
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Callable, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from . import workloads
from ._host import VERSIONS, Host
from .policies import HyperVPolicy
from ._validate import MAX_TICKS, check_int, check_memory, check_real
from .errors import ConfigError, ConfigTypeError, DynmemError
from .events import ACTIONS, Event
from .guests import Guest
from .timeline import Timeline

__all__ = ["Scenario", "load_scenario", "reference_scenario", "GENERATOR_TABLE"]

P = ParamSpec("P")
T = TypeVar("T")

_VM_SETTINGS = ("startup_mb", "minimum_mb", "maximum_mb", "buffer_pct", "weight", "dynamic", "guest")
_GENERATORS = ("constant", "step", "ramp", "diurnal", "random_walk", "bursts")

GENERATOR_TABLE = """\
kind         parameters (MB whole; times in seconds)      meaning
constant     demand_mb                                    the same demand throughout
step         before_mb, after_mb, at_s                    before_mb until at_s, then after_mb
ramp         start_mb, end_mb, start_s = 0,               linear from start_mb at start_s to
             end_s = the last tick                        end_mb at end_s, flat outside
diurnal      base_mb, amplitude_mb, period_s,             base + amplitude x sin(2 pi (t + phase_s)
             phase_s = 0, noise_mb = 0, seed = none       / period_s), plus Gaussian noise
random_walk  start_mb, step_mb, low_mb, high_mb, seed     moves up to step_mb per tick, reflected
                                                          at low_mb and high_mb
bursts       base_mb, burst_mb, rate_per_s,               bursts start at rate_per_s (per second),
             mean_length_s, seed                          last mean_length_s on average
tick forms   at_tick, start_tick, end_tick, period_ticks, phase_ticks, rate_per_tick,
             mean_length_ticks: the same in ticks of dt_s (give one form, not both)"""
"""The generators' parameters in scenario files, one table (times in seconds)."""

assert __doc__ is not None
__doc__ = __doc__.replace("{GENERATOR_TABLE}", GENERATOR_TABLE)

# Parameters in seconds -> (the generator's parameter in ticks, how to convert):
# "tick" rounds to a tick index, "span" divides by dt_s, "rate" multiplies by it.
_SECONDS = {
    "at_s": ("at_tick", "tick"),
    "start_s": ("start_tick", "tick"),
    "end_s": ("end_tick", "tick"),
    "period_s": ("period_ticks", "span"),
    "phase_s": ("phase_ticks", "span"),
    "mean_length_s": ("mean_length_ticks", "span"),
    "rate_per_s": ("rate_per_tick", "rate"),
}


@dataclass
class Scenario:
    """A parsed scenario: build a fresh host with `build`, run it with `run`.

    Attributes:
        name: The scenario's title, as `dynmem run` prints it.
        source: Where it was read from (a file path, or ``"<scenario>"``);
            errors name it.
        duration_s: Simulated seconds.
        dt_s: Seconds per tick.
        record_every: Ticks between recorded rows of the timeline.
        report_at_s: Times (s) at which `dynmem run` prints the state table.
        host: `Host` keyword arguments (``physical_mb``, ``reserve_mb``,
            ``version``).
        policy: `HyperVPolicy` keyword arguments.
        vms: One dict per VM: ``name`` and `Host.add_vm` settings.
        demand_mb: ``(ticks, vms)`` int64 demand (MB), in ``vms`` order.
        events: ``(tick, vm_name, action, changes)`` to schedule, see `Event`.
    """

    name: str
    source: str
    duration_s: float
    dt_s: float
    record_every: int
    report_at_s: list[float]
    host: dict[str, Any]
    policy: dict[str, Any]
    vms: list[dict[str, Any]]
    demand_mb: npt.NDArray[np.int64]
    events: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def ticks(self) -> int:
        """Ticks of the run: ``duration_s / dt_s``, the rows of ``demand_mb``."""
        return int(self.demand_mb.shape[0])

    def build(self) -> Host:
        """A new host with the scenario's VMs added (all off)."""
        try:
            host = Host(policy=HyperVPolicy(**self.policy), **self.host)
            for vm in self.vms:
                host.add_vm(vm["name"], **_vm_settings(self.source, vm))
        except DynmemError as e:
            raise _in_file(self.source, e) from e
        return host

    def scheduled_events(self) -> list[Event]:
        """``events`` as `Event` objects, for `Host.run`."""
        return [Event(t, vm, action, changes) for t, vm, action, changes in self.events]

    def run(self, host: Host | None = None) -> tuple[Host, Timeline]:
        """Runs the whole scenario on ``host`` (default: `build`)."""
        host = self.build() if host is None else host
        timeline = host.run(self.demand_mb, self.dt_s, self.scheduled_events(), self.record_every)
        return host, timeline


def _in_file(source: str, e: DynmemError, where: str = "") -> DynmemError:
    """``e`` again (same class, field and value), its message naming the
    scenario file (and ``where`` in it) first."""
    return type(e)(f"{source}: {where}{e}", e.field, e.value)


def _checked(source: str, check: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``check(*args, **kwargs)`` (a `dynmem._validate` check), its error
    naming the scenario file first."""
    try:
        return check(*args, **kwargs)
    except ConfigError as e:
        raise _in_file(source, e) from None


def _err(source: str, key: str, value: Any, what: str, cls: type[ConfigError] = ConfigError) -> ConfigError:
    return cls(f"{source}: {key} {what}, got {value!r}", key, value)


def _type_err(source: str, key: str, value: Any, what: str) -> ConfigError:
    """`_err` for a value of the wrong type (`ConfigTypeError`)."""
    return _err(source, key, value, what, ConfigTypeError)


def _number(source: str, key: str, value: Any, *, positive: bool = True) -> float:
    return _checked(
        source,
        check_real,
        value,
        key,
        "a finite number",
        low=0.0,
        low_inclusive=not positive,
        range_what="above 0" if positive else "at least 0",
    )


def _tick_of(source: str, key: str, at_s: Any, dt_s: float, ticks: int) -> int:
    """The tick at ``at_s`` seconds (``round(at_s / dt_s)``), before ``ticks``."""
    k = _number(source, key, at_s, positive=False) / dt_s  # inf if dt_s is tiny
    tick = int(round(k)) if k < ticks else ticks
    if tick >= ticks:
        raise _err(source, key, at_s, f"must be before the end of the run ({ticks * dt_s:g} s)")
    return tick


def _vm_settings(source: str, vm: dict[str, Any]) -> dict[str, Any]:
    """A ``[[vm]]`` table's `Host.add_vm` settings; a ``guest`` table is a
    `Guest`'s fields."""
    settings = {k: vm[k] for k in _VM_SETTINGS if k in vm}
    guest = settings.get("guest")
    if isinstance(guest, dict):
        known = {f.name for f in fields(Guest)}
        if "name" not in guest or set(guest) - known:
            raise _err(source, "guest", sorted(guest), f"must be a guest name or a table of {sorted(known)} with a name")
        settings["guest"] = Guest(**guest)
    return settings


def _ticks(source: str, duration_s: float, dt_s: float, vms: int) -> int:
    """``ceil(duration_s / dt_s)``, at most MAX_TICKS, with memory for a
    ``(ticks, vms)`` int64 demand matrix."""
    ticks = duration_s / dt_s  # inf if dt_s is tiny
    if not ticks <= MAX_TICKS:
        raise _err(source, "duration_s", duration_s, f"must be at most {MAX_TICKS} ticks of dt_s ({dt_s:g} s)")
    n = int(math.ceil(ticks))
    check_memory(n * vms * 8, f"{source}: the demand matrix of {n} ticks x {vms} VMs")
    return n


def _demand(source: str, vm: dict[str, Any], i: int, ticks: int, dt_s: float) -> npt.NDArray[np.int64]:
    key = f"vm[{i}]"
    if ("demand_mb" in vm) == ("workload" in vm):
        raise _err(source, key, vm.get("name"), "needs exactly one of demand_mb or workload")
    if "demand_mb" in vm:
        steps = vm["demand_mb"]
        what = "must be a non-empty list of [from_s, MB] pairs"
        if not isinstance(steps, list):
            raise _type_err(source, f"{key}.demand_mb", steps, what)
        if not steps:
            raise _err(source, f"{key}.demand_mb", steps, what)
        out = np.zeros(ticks, dtype=np.int64)
        last = -1.0
        for j, pair in enumerate(steps):
            k = f"{key}.demand_mb[{j}]"
            if not isinstance(pair, list):
                raise _type_err(source, k, pair, "must be a [from_s, MB] pair")
            if len(pair) != 2:
                raise _err(source, k, pair, "must be a [from_s, MB] pair")
            at = _number(source, k, pair[0], positive=False)
            if at <= last:
                raise _err(source, k, pair, "must start after the previous pair")
            if j == 0 and at != 0:
                raise _err(source, k, pair, "must start at 0 s")
            mb = pair[1]
            whole_mb = f"must give whole MB between 0 and {workloads.MAX_DEMAND_MB}"
            if isinstance(mb, bool) or not isinstance(mb, int):
                raise _type_err(source, k, pair, whole_mb)
            if not 0 <= mb <= workloads.MAX_DEMAND_MB:
                raise _err(source, k, pair, whole_mb)
            out[int(round(min(ticks, at / dt_s))):] = mb  # at / dt_s is inf if dt_s is tiny
            last = at
        return out
    spec = vm["workload"]
    kinds = f"must be one of {', '.join(_GENERATORS)}"
    if not isinstance(spec, dict):
        raise _type_err(source, f"{key}.workload.kind", spec, kinds)
    if spec.get("kind") not in _GENERATORS:
        raise _err(source, f"{key}.workload.kind", spec, kinds)
    args = _in_ticks(source, f"{key}.workload", {k: v for k, v in spec.items() if k != "kind"}, dt_s)
    generator = getattr(workloads, spec["kind"])
    try:
        inspect.signature(generator).bind(ticks, **args)
    except TypeError as e:  # unknown, missing or repeated parameters
        raise _err(source, f"{key}.workload", spec, f"has bad parameters ({e})") from None
    try:
        series = generator(ticks, **args)
    except DynmemError as e:
        raise _in_file(source, e, f"{key}.workload: ") from e
    return np.asarray(series, dtype=np.int64)


def _in_ticks(source: str, key: str, args: dict[str, Any], dt_s: float) -> dict[str, Any]:
    """A generator's parameters with those in seconds (``period_s``) turned
    into the generator's ticks (``period_ticks``)."""
    out = {k: v for k, v in args.items() if k not in _SECONDS}
    for k, (tick_name, how) in _SECONDS.items():
        if k not in args:
            continue
        if tick_name in args:
            raise _err(source, f"{key}.{k}", args[k], f"and {tick_name} say the same: give one of them")
        if k == "phase_s":  # any shift
            v = _checked(source, check_real, args[k], f"{key}.{k}", "a finite number of seconds")
        else:
            v = _number(source, f"{key}.{k}", args[k], positive=False)
        if how == "tick":
            out[tick_name] = int(round(min(v / dt_s, float(MAX_TICKS) + 1)))
        elif how == "span":
            out[tick_name] = v / dt_s
        else:
            out[tick_name] = v * dt_s
    return out


def parse_scenario(doc: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """A `Scenario` from an already-parsed TOML document."""
    known = {"name", "duration_s", "dt_s", "record_every", "report_at_s", "host", "policy", "vm", "event"}
    for k in doc:
        if k not in known:
            raise _err(source, k, doc[k], f"is not a scenario key (known: {', '.join(sorted(known))})")
    duration_s = _number(source, "duration_s", doc.get("duration_s"))
    dt_s = _number(source, "dt_s", doc.get("dt_s", 1.0))
    record_every = _checked(source, check_int, doc.get("record_every", 1), "record_every", "a positive integer", low=1)
    host = doc.get("host")
    if not isinstance(host, dict):
        raise _type_err(source, "host", host, "must be a table with physical_mb")
    if "physical_mb" not in host:
        raise _err(source, "host", host, "must be a table with physical_mb")
    for k in host:
        if k not in ("physical_mb", "reserve_mb", "version", "smart_paging_drain_s"):
            settings = "physical_mb, reserve_mb, version, smart_paging_drain_s"
            raise _err(source, f"host.{k}", host[k], f"is not a host setting ({settings})")
    if "smart_paging_drain_s" in host:
        _number(source, "host.smart_paging_drain_s", host["smart_paging_drain_s"], positive=False)
    if "version" in host and (not isinstance(host["version"], str) or host["version"] not in VERSIONS):
        raise _err(source, "host.version", host["version"], f"must be one of {', '.join(VERSIONS)}")
    policy = doc.get("policy", {})
    if not isinstance(policy, dict):
        raise _type_err(source, "policy", policy, "must be a table")
    policy_fields = [f.name for f in fields(HyperVPolicy)]
    for k in policy:
        if k not in policy_fields:
            raise _err(source, f"policy.{k}", policy[k], f"is not a HyperVPolicy field ({', '.join(policy_fields)})")
    vms = doc.get("vm", [])
    if not isinstance(vms, list):
        raise _type_err(source, "vm", vms, "must be a non-empty array of tables ([[vm]])")
    if not vms:
        raise _err(source, "vm", vms, "must be a non-empty array of tables ([[vm]])")
    ticks = _ticks(source, duration_s, dt_s, len(vms))
    demand = np.zeros((ticks, len(vms)), dtype=np.int64)
    events: list[tuple[int, str, str, dict[str, Any]]] = []
    for i, vm in enumerate(vms):
        if not isinstance(vm, dict) or not isinstance(vm.get("name"), str):
            raise _type_err(source, f"vm[{i}].name", vm.get("name") if isinstance(vm, dict) else vm, "must be a string")
        extra = set(vm) - {"name", "start_s", "demand_mb", "workload", *_VM_SETTINGS}
        if extra:
            raise _err(source, f"vm[{i}]", sorted(extra), "has unknown keys")
        demand[:, i] = _demand(source, vm, i, ticks, dt_s)
        if "start_s" in vm:
            events.append((_tick_of(source, f"vm[{i}].start_s", vm["start_s"], dt_s, ticks), vm["name"], "start", {}))
    names = {vm["name"] for vm in vms}
    scheduled = doc.get("event", [])
    if not isinstance(scheduled, list):
        raise _type_err(source, "event", scheduled, "must be an array of tables ([[event]])")
    for j, ev in enumerate(scheduled):
        key = f"event[{j}]"
        if not isinstance(ev, dict):
            raise _type_err(source, key, ev, "must be a table")
        for k, choices, what in (
            ("vm", names, "must name a VM of the scenario"),
            ("action", ACTIONS, f"must be {', '.join(ACTIONS[:-1])} or {ACTIONS[-1]}"),
        ):
            if not isinstance(ev.get(k), str):  # (a list is not even hashable)
                raise _type_err(source, f"{key}.{k}", ev.get(k), what)
            if ev[k] not in choices:
                raise _err(source, f"{key}.{k}", ev[k], what)
        changes = ev.get("changes", {})
        if not isinstance(changes, dict):
            raise _type_err(source, f"{key}.changes", changes, "must be a table")
        events.append((_tick_of(source, f"{key}.at_s", ev.get("at_s"), dt_s, ticks), ev["vm"], ev["action"], changes))
    events.sort(key=lambda e: e[0])
    report = doc.get("report_at_s", [])
    if not isinstance(report, list):
        raise _type_err(source, "report_at_s", report, "must be a list of times in seconds")
    report_at = [_number(source, f"report_at_s[{j}]", t, positive=False) for j, t in enumerate(report)]
    name = doc.get("name", Path(source).stem)
    scenario = Scenario(
        name=str(name), source=source, duration_s=duration_s, dt_s=dt_s, record_every=record_every,
        report_at_s=report_at, host=host, policy=policy, vms=vms, demand_mb=demand, events=events,
    )
    scenario.build()  # validates every host, policy and VM setting now
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Reads and validates a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read scenario file ({e.strerror})", "path", str(p)) from e
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}", "path", str(p)) from e
    return parse_scenario(doc, str(p))


def reference_scenario() -> Scenario:
    """The reference scenario (§6 of the shared dynamic-memory.md), from
    ``scenarios/reference.toml``."""
    text = resources.files("dynmem").joinpath("scenarios/reference.toml").read_text(encoding="utf-8")
    return parse_scenario(tomllib.loads(text), "reference.toml")
