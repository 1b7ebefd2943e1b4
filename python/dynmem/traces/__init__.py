"""Real per-VM memory traces as simulator demand.

A loader reads one trace format into a `Trace`: every VM's demand and
provisioned memory on one time grid, with a log of every repair. `vm_sizes`
gives the VMs' memory settings for replaying a trace on a `Host`.

- `bitbrains`: the Bitbrains GWA-T-12 per-VM CSV files (`load_bitbrains`).
- `materna`: the Materna GWA-T-13 files (`load_materna`), on the same
  loader core (`_loader`: the Rust core's table parser, checks, repairs).
- `_trace`: `Trace`, `DemandMapping`, `vm_sizes`, `add_trace_vms`; `_grid`: samples onto the
  grid, whatever the format.
"""

from ._grid import Resample as Resample
from ._trace import DemandMapping, Trace, VmSizes, add_trace_vms, vm_sizes
from .bitbrains import KB_PER_MB, SAMPLE_INTERVAL_S, load_bitbrains
from .materna import load_materna

__all__ = [
    "SAMPLE_INTERVAL_S",
    "KB_PER_MB",
    "DemandMapping",
    "Trace",
    "load_bitbrains",
    "load_materna",
    "VmSizes",
    "vm_sizes",
    "add_trace_vms",
]
