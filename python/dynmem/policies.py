"""Allocation policies: Hyper-V's, the alternatives, and your own.

A policy decides each tick how much memory (``g``, MB) every running dynamic
VM should have; the mechanics that move memory towards it (balloon unit,
hot-add chunks, boot delay, lazy and prompt removal, admission at start) are
the same for every dynamic policy, so that a comparison isolates the rule.
The built-in rules run in the Rust core, exact in integer MB; a `Policy`
subclass with an ``allocate`` method is called from the core once per tick.
``docs/policies.md`` defines every rule exactly.

>>> host = dynmem.Host(physical_mb=65536, policy=dynmem.SharesPolicy(idle_tax=0.75))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ._dynmem import PolicyView as PolicyView  # the view `Policy.allocate` gets
from .errors import ConfigTypeError

__all__ = [
    "Policy",
    "PolicyView",
    "HyperVPolicy",
    "StaticPolicy",
    "ProportionalPolicy",
    "SharesPolicy",
    "StrictPriorityPolicy",
    "POLICIES",
    "policy_named",
]


_MECHANICS = ("balloon_unit_mb", "hot_add_chunk_mb", "boot_report_delay_s", "remove_delay_s", "remove_rate_mb_per_s")


class Policy:
    """Base class of every allocation policy; subclass it for your own rule.

    A subclass implements ``allocate(pool_mb, vms)``: given the pool (MB) and
    a `PolicyView` of the running dynamic VMs, it returns a 1-D integer numpy
    array with one allocation (MB) per VM of the view, each within the VM's
    ``[minimum_mb, maximum_mb]``, summing to at most ``pool_mb``. dynmem
    rounds each down to the balloon unit and checks the answer before
    anything changes (`dynmem.PolicyError` otherwise, the host untouched).
    It is called once per tick with the GIL held, also inside `Host.run`.

    >>> class Mine(dynmem.Policy):
    ...     def allocate(self, pool_mb, vms):
    ...         return np.minimum(vms.target_mb, vms.maximum_mb)

    The mechanics' parameters below have Hyper-V's defaults; set them by
    name when making the policy (``Mine(remove_delay_s=1.0)``) or as class
    attributes of a subclass. A user policy may keep state between ticks on
    ``self`` (it is a plain object; the built-ins are frozen dataclasses).

    Attributes:
        balloon_unit_mb: Granularity of allocation and ballooning (MB), a
            power of two; VM sizes must be multiples of it.
        hot_add_chunk_mb: Guest-visible memory grows in chunks of this size (MB).
        boot_report_delay_s: Seconds after start before the guest reports
            demand; until then the VM holds its startup memory.
        remove_delay_s: Seconds excess memory must persist before lazy
            ballooning starts (when no other VM needs it).
        remove_rate_mb_per_s: Lazy ballooning speed (MB/s).
    """

    balloon_unit_mb: int = 2
    hot_add_chunk_mb: int = 128
    boot_report_delay_s: float = 45.0
    remove_delay_s: float = 5.0
    remove_rate_mb_per_s: float = 256.0

    #: The core's name of a built-in rule (`None`: ``allocate`` is the rule).
    _kind: ClassVar[str | None] = None

    def __init__(self, **mechanics: Any) -> None:
        """Sets mechanics' parameters by name (``Mine(remove_delay_s=1.0)``);
        the rest keep the class's values. A subclass with an ``__init__`` of
        its own may pass them on with ``super().__init__(**mechanics)``."""
        for k, v in mechanics.items():
            if k not in _MECHANICS:
                raise ConfigTypeError(
                    f"{type(self).__name__}() got {k!r}: a policy takes the mechanics' parameters "
                    f"({', '.join(_MECHANICS)}) by name",
                    k,
                    v,
                )
            setattr(self, k, v)

    def allocate(self, pool_mb: int, vms: Any) -> npt.NDArray[np.integer[Any]]:
        """The allocation (MB) of every VM of ``vms`` (a `PolicyView`), in its order."""
        raise NotImplementedError(f"{type(self).__name__} must define allocate(pool_mb, vms)")

    def _rule(self) -> tuple[Any, ...]:
        """What the core is told: a built-in rule's name and parameters, or
        ``("external", self)`` where a subclass defines ``allocate``."""
        if type(self).allocate is not Policy.allocate:
            return ("external", self)
        if self._kind is None:
            raise ConfigTypeError(
                f"policy must be a dynmem.Policy that defines allocate(pool_mb, vms); "
                f"{type(self).__name__} does not",
                "policy",
                self,
            )
        return (self._kind, *self._params())

    def _params(self) -> tuple[Any, ...]:
        return ()

    def __repr__(self) -> str:
        own = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({own})"


@dataclass(frozen=True, repr=False)
class _Mechanics(Policy):
    """The mechanics' parameters as (immutable, validated) fields."""

    balloon_unit_mb: int = 2
    hot_add_chunk_mb: int = 128
    boot_report_delay_s: float = 45.0
    remove_delay_s: float = 5.0
    remove_rate_mb_per_s: float = 256.0

    def __repr__(self) -> str:
        """The fields that differ from their defaults: ``SharesPolicy(idle_tax=0.5)``."""
        changed = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if getattr(self, f.name) != f.default
        )
        return f"{type(self).__name__}({changed})"


@dataclass(frozen=True, repr=False)
class HyperVPolicy(_Mechanics):
    """Hyper-V Dynamic Memory (the default): every target when they fit, else
    demand plus a weighted share of the buffers, else minimum plus a weighted
    share of the demand (``docs/balancer.md``). The fields are the mechanics'
    delays, rates and units: Microsoft publishes the units (2 MB balloon
    granularity, 128 MB hot-add alignment of the Linux guest, ~45 reports
    before a guest's driver reports); the lazy-removal delay and rate are
    dynmem's choices. Validated when a `Host` is created."""

    _kind: ClassVar[str | None] = "hyperv"


@dataclass(frozen=True, repr=False)
class StaticPolicy(_Mechanics):
    """No Dynamic Memory (a host before 2008 R2 SP1): every VM holds its
    startup memory, always; a start fails when its startup memory is not free
    (no VM is ballooned to make room)."""

    _kind: ClassVar[str | None] = "static"


@dataclass(frozen=True, repr=False)
class ProportionalPolicy(_Mechanics):
    """Xen squeezed: every VM at the same fraction γ of its [minimum, maximum],
    ``γ = clamp((pool − Σ minimum) / Σ (maximum − minimum), 0, 1)``; no demand
    or weight input (memory nobody demands is still handed out)."""

    _kind: ClassVar[str | None] = "proportional"


@dataclass(frozen=True, repr=False)
class SharesPolicy(_Mechanics):
    """VMware ESX: memory in proportion to shares (= weight) between the
    reservation (= minimum) and the target, with the idle memory tax
    (Waldspurger 2002): an idle page costs ``1/(1 − τ)`` active ones, so
    memory above a VM's demand (its buffer) grows at ``1 − τ`` of the rate
    of memory below it. ``τ = idle_tax`` in [0, 1); 0.75 is ESX's default,
    0 gives pure shares. ``docs/policies.md`` has the exact rule.

    Attributes:
        idle_tax: The idle memory tax τ, in [0, 1).
    """

    idle_tax: float = 0.75

    _kind: ClassVar[str | None] = "shares"

    def _params(self) -> tuple[Any, ...]:
        return (self.idle_tax,)


@dataclass(frozen=True, repr=False)
class StrictPriorityPolicy(_Mechanics):
    """Strict priority: a higher weight is served in full (its demand, then its
    buffer) before a lower weight gets anything above its minimum; VMs of the
    weight where memory runs out share by Hyper-V's rule."""

    _kind: ClassVar[str | None] = "strict"


POLICIES: dict[str, type[Policy]] = {
    "hyperv": HyperVPolicy,
    "static": StaticPolicy,
    "proportional": ProportionalPolicy,
    "shares": SharesPolicy,
    "strict": StrictPriorityPolicy,
}
"""The built-in policies by their short names (as ``dynmem compare`` takes them)."""


def policy_named(name: str, **mechanics: Any) -> Policy:
    """The built-in policy called ``name`` (a key of `POLICIES`), with the given mechanics fields."""
    from .errors import ConfigError

    try:
        cls = POLICIES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"policy must be one of {', '.join(POLICIES)}, got {name!r}", "policy", name
        ) from None
    return cls(**mechanics)


def mechanics_of(policy: Policy) -> dict[str, Any]:
    """The mechanics' parameters of ``policy`` by name."""
    return {k: getattr(policy, k) for k in _MECHANICS}


assert tuple(f.name for f in fields(_Mechanics)) == _MECHANICS
