"""Real Hyper-V data in and out (``docs/hyperv.md`` has the format mapping).

- `read_vm_settings`: VMs' memory settings from PowerShell (``Get-VM`` /
  ``Get-VMMemory`` through ``ConvertTo-Json`` or ``Export-Csv``).
- `add_to`: those VMs onto a `dynmem.Host` in one ``add_vms`` call, the
  running ones started.
- `read_counter_log`: a PDH-CSV counter log (perfmon, ``relog``,
  ``typeperf``, ``Export-Counter``) as a `CounterLog`, a
  `dynmem.traces.Trace` of demand per VM per sample.
- `write_pdh_csv` (also `dynmem.Timeline.to_pdh_csv`): a timeline as such a
  log, with Hyper-V's counter names.

Every reader fails with one `dynmem.errors.FileFormatError` naming
``file:line:column`` and returns nothing half-read::

    import dynmem, dynmem.hyperv as hv
    vms = hv.read_vm_settings("vms.json")
    host = dynmem.Host(physical_mb=131072)
    hv.add_to(host, vms)
    log = hv.read_counter_log("host01.csv")
    timeline = host.run(log.demand_mb, dt_s=log.tick_s, record_counters=True)
    timeline.to_pdh_csv("simulated.csv", computer="HOST01")
"""

from ..errors import FileFormatError
from ._pdh import CounterLog, read_counter_log
from ._settings import VmSettings, VmSettingsFile, add_to, read_vm_settings
from ._write import write_pdh_csv

__all__ = [
    "read_vm_settings",
    "VmSettings",
    "VmSettingsFile",
    "add_to",
    "read_counter_log",
    "CounterLog",
    "write_pdh_csv",
    "FileFormatError",
]
