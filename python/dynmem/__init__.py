"""dynmem: Hyper-V Dynamic Memory's balancer for simulators.

Every tick a `Host` divides its physical memory among its VMs by demand,
startup/minimum/maximum, memory buffer and weight, as Hyper-V does, and
reports what Hyper-V's counters would show.
"""

from ._host import MAX_MAXIMUM_MB, VM, Host, HyperVPolicy
from .events import ACTIONS, Event
from .timeline import STATUS_NAMES, Timeline
from .compare import Comparison, PolicyResult, compare
from .errors import ConfigError, ConfigTypeError, DynmemError, InsufficientMemoryError, StateError

__all__ = [
    "Host",
    "VM",
    "HyperVPolicy",
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
    "compare",
    "Comparison",
    "PolicyResult",
]
__version__ = "0.1.0"
