"""dynmem: Hyper-V Dynamic Memory's balancer for simulators.

Every tick a `Host` divides its physical memory among its VMs by demand,
startup/minimum/maximum, memory buffer and weight, as Hyper-V does, and
reports what Hyper-V's counters would show.
"""

from . import _dynmem
from ._host import MAX_MAXIMUM_MB, VERSIONS, VM, Host
from .policies import (
    POLICIES,
    HyperVPolicy,
    Policy,
    PolicyView,
    ProportionalPolicy,
    SharesPolicy,
    StaticPolicy,
    StrictPriorityPolicy,
)
from .events import ACTIONS, Event
from .guests import GUEST_NAMES, Guest
from .timeline import STATUS_NAMES, Timeline
from .errors import (
    ConfigError,
    ConfigTypeError,
    DynmemError,
    InsufficientMemoryError,
    PolicyError,
    StateError,
    VersionError,
)
from . import placement
from .fleet import DynamicOptimization, Fleet, FleetTimeline, HostView
from .sweep import sweep
from .compare import Comparison, PolicyResult, compare

__all__ = [
    "Host",
    "VM",
    "Policy",
    "PolicyView",
    "POLICIES",
    "HyperVPolicy",
    "StaticPolicy",
    "ProportionalPolicy",
    "SharesPolicy",
    "StrictPriorityPolicy",
    "MAX_MAXIMUM_MB",
    "Event",
    "Timeline",
    "STATUS_NAMES",
    "ACTIONS",
    "DynmemError",
    "ConfigError",
    "ConfigTypeError",
    "InsufficientMemoryError",
    "StateError",
    "PolicyError",
    "Fleet",
    "FleetTimeline",
    "HostView",
    "DynamicOptimization",
    "placement",
    "sweep",
    "compare",
    "Comparison",
    "PolicyResult",
    "VersionError",
    "VERSIONS",
    "Guest",
    "GUEST_NAMES",
]
# The wheel's version, defined once in Cargo.toml and compiled into the extension.
__version__: str = _dynmem.__version__
