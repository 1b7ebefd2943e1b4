"""dynmem.traces.vm_sizes: the memory settings a replay gives each VM of a
trace (the rule `dynmem replay` uses), checked number by number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dynmem
from dynmem.traces import Trace, load_bitbrains, vm_sizes

# Provisioned memory (MB) of seven VMs over two ticks: a peak that is a
# multiple of 2, one that is not, one below the 64 MB floor, one that
# changes, one under the default minimum, one above MAX_MAXIMUM_MB, and one
# whose peak is on the first tick.
PROVISIONED = [
    [1000, 1001, 3, 4096, 300, 2_000_000, 700],
    [900, 1001, 3, 8191, 300, 2_000_000, 500],
]


def make_trace(provisioned: list[list[int]]) -> Trace:
    p = np.array(provisioned, dtype=np.int64)
    return Trace(
        names=[f"vm{j}" for j in range(p.shape[1])],
        tick_s=300.0,
        start_s=0.0,
        demand_mb=np.zeros_like(p),
        provisioned_mb=p,
    )


def columns(sizes: list[dynmem.traces.VmSizes]) -> tuple[list[int], list[int], list[int]]:
    return (
        [s["maximum_mb"] for s in sizes],
        [s["startup_mb"] for s in sizes],
        [s["minimum_mb"] for s in sizes],
    )


def test_defaults() -> None:
    maximum, startup, minimum = columns(vm_sizes(make_trace(PROVISIONED)))
    assert dynmem.MAX_MAXIMUM_MB == 1_048_576
    assert maximum == [1000, 1002, 64, 8192, 300, 1_048_576, 700]
    assert startup == [1000, 1002, 64, 1024, 300, 1024, 700]
    assert minimum == [512, 512, 64, 512, 300, 512, 512]


def test_startup_minimum_and_balloon_unit() -> None:
    sizes = vm_sizes(make_trace(PROVISIONED), startup_mb=2048, minimum_mb=1024, balloon_unit_mb=128)
    maximum, startup, minimum = columns(sizes)
    assert maximum == [1024, 1024, 128, 8192, 384, 1_048_576, 768]
    assert startup == [1024, 1024, 128, 2048, 384, 2048, 768]
    assert minimum == [1024, 1024, 128, 1024, 384, 1024, 768]


def test_sizes_are_accepted_by_a_host() -> None:
    tr = make_trace(PROVISIONED)
    host = dynmem.Host(physical_mb=65536, reserve_mb=512)
    for name, size in zip(tr.names, vm_sizes(tr)):
        host.add_vm(name, **size, buffer_pct=20)
    assert [vm.maximum_mb for vm in host.vms] == [1000, 1002, 64, 8192, 300, 1_048_576, 700]
    assert [vm.startup_mb for vm in host.vms] == [1000, 1002, 64, 1024, 300, 1024, 700]
    assert [vm.minimum_mb for vm in host.vms] == [512, 512, 64, 512, 300, 512, 512]


def test_sizes_of_a_loaded_trace_use_the_provisioned_peak(tmp_path: Path) -> None:
    # provisioned 2000 MB, then 3000.4 MB from t=600 (rounded to 3000 per tick)
    header = "Timestamp [ms];\tMemory capacity provisioned [KB];\tMemory usage [KB]"
    rows = [f"{1_375_308_176 + 300 * i};\t{(2000 if i < 2 else 3000.4) * 1024};\t{100 * 1024}" for i in range(6)]
    (tmp_path / "7.csv").write_text("\n".join([header, *rows]) + "\n")
    tr = load_bitbrains(tmp_path)
    assert tr.provisioned_mb[:, 0].tolist() == [2000, 2000, 3000, 3000, 3000]
    assert vm_sizes(tr) == [{"startup_mb": 1024, "minimum_mb": 512, "maximum_mb": 3000}]


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        (dict(trace="trace"), dynmem.ConfigTypeError, "trace"),
        (dict(startup_mb=1024.0), dynmem.ConfigTypeError, "startup_mb"),
        (dict(minimum_mb="512"), dynmem.ConfigTypeError, "minimum_mb"),
        (dict(balloon_unit_mb=0), dynmem.ConfigError, "balloon_unit_mb"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], field: str) -> None:
    args: dict[str, object] = {"trace": make_trace(PROVISIONED), **kwargs}
    with pytest.raises(error) as info:
        vm_sizes(**args)  # type: ignore[arg-type]
    assert info.value.field == field  # type: ignore[attr-defined]
    assert f"{field} must be" in str(info.value)
