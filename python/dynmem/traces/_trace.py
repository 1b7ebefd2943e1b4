"""The format-independent face of a trace: `Trace` (VM demand on a common
time grid), `DemandMapping` (active memory to Hyper-V demand) and
`vm_sizes` (the VM settings a replay of a trace gives each VM)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from .. import _dynmem
from .._host import VM, Host
from ..policies import HyperVPolicy
from .._validate import check_instance, check_int, check_real
from ..errors import ConfigError

__all__ = ["DemandMapping", "Trace", "VmSizes", "vm_sizes", "add_trace_vms"]

#: Where `vm_sizes` logs the sizes it rounded (INFO).
log = logging.getLogger("dynmem.traces")


@dataclass(frozen=True)
class DemandMapping:
    """Explicit mapping from a trace's *active* memory to Hyper-V *demand*.

    Bitbrains' ``Memory usage [KB]`` is a 5-minute average of memory the guest
    actively used. Hyper-V's demand is the guest's *committed* memory, which is
    higher: it includes the OS's own footprint and memory that applications
    allocated but did not touch in the sampling window. Per sample::

        raw_mb    = baseline_mb + baseline_pct / 100 * provisioned_mb + scale * usage_mb
        demand_mb = clip(raw_mb, 0, cap_pct / 100 * provisioned_mb)   # no upper cap if cap_pct is None

    with ``usage_mb = Memory usage [KB] / 1024`` and ``provisioned_mb =
    Memory capacity provisioned [KB] / 1024`` of the same sample. The result
    is real-valued; the loader rounds to whole MB only after resampling (see
    `dynmem.traces.bitbrains`).

    Defaults and why:

    * ``baseline_mb = 256``: a floor every running guest commits however idle
      it is (kernel, services, drivers); 256 MB is a low but realistic figure
      for a server OS.
    * ``baseline_pct = 10``: committed memory that scales with the VM's size
      even when it is not active (page tables, caches and application heaps
      sized to the machine). Together with the floor this puts an idle 4 GB
      VM at about 666 MB.
    * ``scale = 1.5``: committed exceeds active memory; 1.5 lifts the trace's
      typical figures (median per-VM mean usage about 5 % of provisioned,
      median peak about 45 %) to about 10 % + 7.5 % (mean) and 10 % + 68 %
      (peak) of provisioned memory on top of the 256 MB floor, leaving the
      balancer real work without saturating every VM.
    * ``cap_pct = 100``: these VMs really ran with their provisioned RAM, so a
      replay never demands more than that (a VM smaller than its floor simply
      sits at its cap). ``None`` removes the cap (demand may then exceed the
      VM's maximum, which the balancer allows).

    Measured on the 100-VM Rnd set (``load_bitbrains`` defaults, 300 s ticks):
    the median VM's mean demand is 28 % of its provisioned memory; the sum of
    all demand averages 26 % of the sum of provisioned memory and peaks at
    57 %; 57 VMs reach their cap at least once, and the 11 VMs of 300 MB or less
    sit at it (nearly) all the time, their floor alone being 256 MB + 10 %.

    :meth:`identity` gives ``demand = usage`` (no floor, no scaling, no cap)
    for comparisons with the raw trace.

    Args:
        baseline_mb: constant committed floor, MB, finite, ``>= 0``.
        baseline_pct: extra floor as a percentage of provisioned memory,
            finite, ``>= 0``.
        scale: multiplier on active usage, finite, ``>= 0``.
        cap_pct: upper bound as a percentage of provisioned memory, finite,
            ``> 0``; ``None`` for no cap.
    """

    baseline_mb: float = 256.0
    baseline_pct: float = 10.0
    scale: float = 1.5
    cap_pct: float | None = 100.0

    def __post_init__(self) -> None:
        for name in ("baseline_mb", "baseline_pct", "scale"):
            check_real(getattr(self, name), name, "a finite number >= 0", low=0.0)
        if self.cap_pct is not None:
            check_real(self.cap_pct, "cap_pct", "a finite number > 0", low=0.0, low_inclusive=False)

    @classmethod
    def identity(cls) -> DemandMapping:
        """``demand_mb = usage_mb``: the raw active memory, uncapped."""
        return cls(baseline_mb=0.0, baseline_pct=0.0, scale=1.0, cap_pct=None)

    def apply(
        self, usage_mb: npt.ArrayLike, provisioned_mb: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Map active usage to demand, element-wise, without rounding.

        Args:
            usage_mb: active memory in MB (real-valued, ``>= 0``).
            provisioned_mb: provisioned memory in MB of the same samples.

        Returns:
            Real-valued demand in MB, clipped to ``[0, cap]``.
        """
        use = np.asarray(usage_mb, dtype=np.float64)
        prov = np.asarray(provisioned_mb, dtype=np.float64)
        raw = self.baseline_mb + (self.baseline_pct / 100.0) * prov + self.scale * use
        out = np.maximum(raw, 0.0)
        if self.cap_pct is not None:
            out = np.minimum(out, (self.cap_pct / 100.0) * prov)
        return out


@dataclass
class Trace:
    """VM memory demand on a common time grid.

    Attributes:
        names: VM names, one per column (for Bitbrains, the file names
            without ``.csv``/``.csv.gz``).
        tick_s: grid spacing in seconds.
        start_s: Unix epoch seconds of the start of tick 0.
        demand_mb: ``(ticks, vms)`` int64, demand in whole MB per tick.
        provisioned_mb: ``(ticks, vms)`` int64, configured RAM in whole MB per
            tick (changes mid-trace are carried, not smoothed away).
        repairs: human-readable log of every repair the loader made (and of
            data irregularities it carried unchanged), one entry per file and
            kind, prefixed by the file name.
        mapping: the :class:`DemandMapping` that produced ``demand_mb``.
    """

    names: list[str]
    tick_s: float
    start_s: float
    demand_mb: npt.NDArray[np.int64]
    provisioned_mb: npt.NDArray[np.int64]
    repairs: list[str] = field(default_factory=list)
    mapping: DemandMapping = field(default_factory=DemandMapping)

    def __post_init__(self) -> None:
        d = np.asarray(self.demand_mb)
        p = np.asarray(self.provisioned_mb)
        if d.ndim != 2 or d.shape != p.shape:
            raise ConfigError(
                f"demand_mb and provisioned_mb must be 2-D arrays of equal shape, "
                f"got {d.shape} and {p.shape}",
                field="demand_mb",
                value=d.shape,
            )
        if d.shape[1] != len(self.names):
            raise ConfigError(
                f"names must have one entry per column ({d.shape[1]}), got {len(self.names)}",
                field="names",
                value=len(self.names),
            )

    @property
    def ticks(self) -> int:
        """Number of ticks (rows)."""
        return int(self.demand_mb.shape[0])

    @property
    def vms(self) -> int:
        """Number of VMs (columns)."""
        return int(self.demand_mb.shape[1])

    @property
    def end_s(self) -> float:
        """Unix epoch seconds of the end of the last tick."""
        return self.start_s + self.ticks * self.tick_s

    @property
    def times_s(self) -> npt.NDArray[np.float64]:
        """Unix epoch seconds of the start of each tick, shape ``(ticks,)``."""
        return self.start_s + np.arange(self.ticks, dtype=np.float64) * self.tick_s

    def columns(self) -> dict[str, Any]:
        """The trace as a long table of numpy columns, one entry per (tick,
        VM): ``tick``, ``timestamp`` (``datetime64[ms]``, UTC, the start of
        the tick), ``vm``, ``demand_mb``, ``provisioned_mb``."""
        ticks, vms = self.ticks, self.vms
        stamps = np.rint(self.times_s * 1000.0).astype(np.int64).astype("datetime64[ms]")
        return {
            "tick": np.repeat(np.arange(ticks, dtype=np.int64), vms),
            "timestamp": np.repeat(stamps, vms),
            "vm": np.tile(np.array(self.names, dtype=object), ticks),
            "demand_mb": np.asarray(self.demand_mb).reshape(-1),
            "provisioned_mb": np.asarray(self.provisioned_mb).reshape(-1),
        }

    def to_pandas(self) -> Any:
        """`columns` as a pandas DataFrame (``timestamp`` in UTC). Needs pandas."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Trace.to_pandas needs pandas: pip install 'dynmem[pandas]'") from e
        cols = self.columns()
        cols["timestamp"] = pd.to_datetime(cols["timestamp"], utc=True)
        return pd.DataFrame(cols)

    def to_polars(self) -> Any:
        """`columns` as a polars DataFrame (``timestamp`` in UTC). Needs polars."""
        try:
            import polars as pl
        except ImportError as e:  # pragma: no cover - depends on the extra
            raise ImportError("Trace.to_polars needs polars: pip install 'dynmem[polars]'") from e
        return pl.DataFrame(self.columns()).with_columns(pl.col("timestamp").dt.replace_time_zone("UTC"))


class VmSizes(TypedDict):
    """Memory settings of one VM, as `Host.add_vm` takes them (MB).

    Attributes:
        startup_mb: Startup memory (MB).
        minimum_mb: Minimum memory (MB).
        maximum_mb: Maximum memory (MB): the VM's provisioned memory in the trace.
    """

    startup_mb: int
    minimum_mb: int
    maximum_mb: int


def vm_sizes(
    trace: Trace,
    *,
    startup_mb: int = 1024,
    minimum_mb: int = 512,
    balloon_unit_mb: int = HyperVPolicy.balloon_unit_mb,
) -> list[VmSizes]:
    """The memory settings a replay of ``trace`` gives each of its VMs
    (what ``dynmem replay`` uses), in ``trace.names`` order.

    A VM's maximum is the most memory the trace ever provisioned it,
    rounded up to a multiple of ``balloon_unit_mb``, at least 64 MB and at
    most `dynmem.MAX_MAXIMUM_MB`; its startup is ``startup_mb`` and its
    minimum ``minimum_mb``, each capped at what it must not exceed::

        maximum = min(MAX_MAXIMUM_MB, max(64, ceil(max(provisioned) / unit) * unit))
        startup = min(startup_mb, maximum)
        minimum = min(minimum_mb, startup)

    Every maximum that had to be rounded (trace sizes such as 105 MB are
    common) is logged at INFO on the ``dynmem.traces`` logger, with the
    count and the first few VMs. `add_trace_vms` adds the VMs to a host in
    one call; or add them with ``host.add_vm(name, **sizes, ...)``.
    ``startup_mb`` and ``minimum_mb`` are checked by the host when the VMs
    are added (multiples of the balloon unit, at least 32 MB).

    Args:
        trace: the trace to replay.
        startup_mb: startup memory of every VM that is at least this large,
            MB (an integer).
        minimum_mb: minimum memory of every VM whose startup is at least
            this large, MB (an integer).
        balloon_unit_mb: the host's ``policy.balloon_unit_mb``, a positive
            integer.

    Returns:
        One `VmSizes` per VM, in ``trace.names`` order.
    """
    check_instance(trace, "trace", Trace, "a dynmem.traces.Trace")
    startup = check_int(startup_mb, "startup_mb", "a whole number of MB (an integer)")
    minimum = check_int(minimum_mb, "minimum_mb", "a whole number of MB (an integer)")
    unit = check_int(balloon_unit_mb, "balloon_unit_mb", "a positive integer", low=1)
    if trace.ticks == 0:
        raise ConfigError("trace must have at least one tick, got 0", field="trace", value=trace)
    sizes: list[VmSizes] = []
    rounded: list[str] = []
    for name, peak in zip(trace.names, trace.provisioned_mb.max(axis=0).tolist()):
        maximum = min(_dynmem.MAX_MAXIMUM_MB, max(64, -(-int(peak) // unit) * unit))
        if maximum != peak:
            rounded.append(f"{name}: {int(peak)} -> {maximum} MB")
        vm_startup = min(startup, maximum)
        sizes.append(VmSizes(startup_mb=vm_startup, minimum_mb=min(minimum, vm_startup), maximum_mb=maximum))
    if rounded:
        log.info(
            "%d of %d VMs' provisioned memory is not a multiple of the %d MB balloon unit (or is under "
            "64 MB or over the 1 TB maximum): their maximum was rounded up (or capped): %s%s",
            len(rounded), len(sizes), unit, ", ".join(rounded[:5]), ", ..." if len(rounded) > 5 else "",
        )
    return sizes


def add_trace_vms(
    host: Host,
    trace: Trace,
    *,
    startup_mb: int = 1024,
    minimum_mb: int = 512,
    buffer_pct: int = 20,
    weight: int = 5000,
) -> list[VM]:
    """Adds one VM per column of ``trace`` to ``host`` (off, in
    ``trace.names`` order, in one call), sized by `vm_sizes` with the host's
    balloon unit: each VM's maximum is the most memory the trace provisioned
    it (rounded up to the balloon unit, logged), its startup ``startup_mb``
    and its minimum ``minimum_mb`` (each capped at what it must not exceed).

    Then ``host.start_vms()`` and ``host.run(trace)`` replay the trace, as
    ``dynmem replay`` does. All or nothing: a bad setting adds no VM.

    Args:
        host: the host to add the VMs to.
        trace: the trace whose VMs to add.
        startup_mb: startup memory of every VM (MB), see `vm_sizes`.
        minimum_mb: minimum memory of every VM (MB), see `vm_sizes`.
        buffer_pct: memory buffer of every VM, percent (5 to 2000).
        weight: memory weight of every VM (0 to 10000).

    Returns:
        The new VMs' handles, in ``trace.names`` order.
    """
    check_instance(host, "host", Host, "a dynmem.Host")
    sizes = vm_sizes(trace, startup_mb=startup_mb, minimum_mb=minimum_mb,
                     balloon_unit_mb=host.policy.balloon_unit_mb)
    return host.add_vms(
        list(trace.names),
        startup_mb=np.array([s["startup_mb"] for s in sizes], dtype=np.int64),
        minimum_mb=np.array([s["minimum_mb"] for s in sizes], dtype=np.int64),
        maximum_mb=np.array([s["maximum_mb"] for s in sizes], dtype=np.int64),
        buffer_pct=buffer_pct,
        weight=weight,
    )
