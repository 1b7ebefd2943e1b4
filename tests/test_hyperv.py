"""dynmem.hyperv: PowerShell settings, PDH-CSV counter logs in and out
(issue 14). Fixtures: tests/fixtures/hyperv, written by hand in the shapes
of ../shared/dynamic-memory.md §8."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

import dynmem
import dynmem.hyperv as hv
from dynmem import _dynmem
from dynmem.errors import ConfigError, FileFormatError

FIX = Path(__file__).parent / "fixtures" / "hyperv"

# name, startup, minimum, maximum, buffer, weight, dynamic, state
PS7 = [
    ("Engineering", 1024, 512, 4096, 10, 8000, True, "Running"),
    ("Finance", 1024, 512, 4096, 20, 4000, True, "Running"),
    ("Sales", 1024, 1024, 1024, 20, 5000, False, "Off"),
]
GET_VM = [
    ("Engineering", 1024, 512, 4096, 20, 5000, True, "Running"),
    ("Finance", 1024, 512, 4096, 20, 5000, True, "Running"),
    ("Sales", 1024, 512, 4096, 20, 5000, True, "Off"),
]


def _rows(s: hv.VmSettingsFile) -> list[tuple[object, ...]]:
    return [(v.name, v.startup_mb, v.minimum_mb, v.maximum_mb, v.buffer_pct, v.weight, v.dynamic, v.state) for v in s]


@pytest.mark.parametrize(
    "name, want",
    [
        ("get-vm.json", GET_VM),  # Windows PowerShell: State as a number, Get-VM's Memory* names
        ("get-vmmemory-ps7.json", PS7),  # -EnumsAsStrings: State as a name
        ("get-vmmemory.csv", [r[:7] + ("Running",) for r in PS7]),  # #TYPE line, strings, no State
        ("get-vmmemory.json", [r[:7] + ("Running",) for r in PS7]),  # Windows PowerShell's layout, CRLF
        ("get-vm-notype.csv", GET_VM),  # -NoTypeInformation
        ("get-vmmemory-one.json", [PS7[1][:7] + ("Running",)]),  # one object, not a list
    ],
)
def test_settings_exports_read_to_the_same_vms(name: str, want: list[tuple[object, ...]]) -> None:
    s = hv.read_vm_settings(FIX / name)
    assert _rows(s) == want
    assert s.path == str(FIX / name) and len(s) == len(want) and s.names == [w[0] for w in want]


def test_settings_defaults_are_logged() -> None:
    s = hv.read_vm_settings(FIX / "get-vm.json")
    assert any("no Buffer" in r and "20" in r for r in s.repairs)
    assert any("no Priority" in r and "50" in r for r in s.repairs)
    assert not hv.read_vm_settings(FIX / "get-vmmemory-ps7.json").repairs


def test_settings_utf16_with_bom_as_windows_powershell_redirects(tmp_path: Path) -> None:
    f = tmp_path / "vms.json"
    f.write_bytes((FIX / "get-vmmemory-ps7.json").read_text().encode("utf-16"))
    assert _rows(hv.read_vm_settings(f)) == PS7


def test_settings_in_natural_name_order(tmp_path: Path) -> None:
    f = tmp_path / "vms.csv"
    rows = ['"VMName","Startup","Minimum","Maximum"'] + [f'"vm{k}","1073741824","536870912","1073741824"' for k in (10, 2, 1)]
    f.write_text("\n".join(rows))
    assert hv.read_vm_settings(f).names == ["vm1", "vm2", "vm10"]


def test_add_to_is_one_add_vms_call_and_starts_the_running(monkeypatch: pytest.MonkeyPatch) -> None:
    host = dynmem.Host(physical_mb=8192, reserve_mb=0)
    settings = hv.read_vm_settings(FIX / "get-vmmemory-ps7.json")
    calls = []
    real = dynmem.Host.add_vms
    monkeypatch.setattr(dynmem.Host, "add_vms", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    vms = hv.add_to(host, settings)
    assert calls == [1]
    assert [(v.name, v.state, v.minimum_mb, v.maximum_mb, v.buffer_pct, v.weight, v.dynamic) for v in vms] == [
        ("Engineering", "starting", 512, 4096, 10, 8000, True),
        ("Finance", "starting", 512, 4096, 20, 4000, True),
        ("Sales", "off", 1024, 1024, 20, 5000, False),
    ]


def test_add_to_in_a_logs_order_and_nothing_added_on_error() -> None:
    s = hv.read_vm_settings(FIX / "get-vmmemory-ps7.json")
    host = dynmem.Host(physical_mb=8192, reserve_mb=0)
    hv.add_to(host, s, order=["Sales", "finance"], start=False)
    assert [v.name for v in host.vms] == ["Sales", "Finance"] and all(v.state == "off" for v in host.vms)
    other = dynmem.Host(physical_mb=8192, reserve_mb=0)
    with pytest.raises(ConfigError, match="'Marketing'") as e:
        hv.add_to(other, s, order=["Finance", "Marketing"])
    assert e.value.field == "order" and len(other) == 0


# ---- counter logs ------------------------------------------------------------


def test_counter_log_demand_is_physical_times_pressure() -> None:
    log = hv.read_counter_log(FIX / "host01.csv")
    assert log.names == ["Engineering", "Finance", "Sales"]
    assert log.tick_s == 15.0 and log.computers == ["HOST01"]
    assert (log.timezone, log.bias_min) == ("Pacific Standard Time", 480)
    # 09:00:00.103 local, UTC = local + 480 min
    assert log.start_s == dt.datetime(2026, 3, 2, 17, 0, 0, 103000, tzinfo=dt.timezone.utc).timestamp()
    phys = {"Finance": [1024, 2048, 2560, 3072, 3072, 3584], "Engineering": [1024, 1536, 1536, 2048, 2048, 2048]}
    press = {"Finance": [100, 80, 82, 85, 97, 91], "Engineering": [95, 90, 96, 88, 90, 101]}
    for j, name in enumerate(log.names[:2]):
        want = np.rint(np.array(phys[name]) * np.array(press[name]) / 100)
        assert log.demand_mb[:, j].tolist() == want.tolist()
    # Sales: " " in row 4 held from row 3
    assert log.demand_mb[:, 2].tolist() == [614, 625, 604, 604, 635, 614]
    assert any("Sales" in r and "held" in r for r in log.repairs)
    assert any("ignored" in r for r in log.repairs)  # Average Pressure, Memory\Available MBytes
    # provisioned: Guest Visible Physical Memory; its " " filled by that sample's Physical Memory
    assert log.provisioned_mb[:, 1].tolist() == [1024, 2048, 2560, 3072, 3072, 3584]
    # the balancer's memory: max over samples of sum(Physical Memory) + Available Memory
    assert log.balancer_mb == 7680


def test_counter_log_of_two_computers_across_midnight() -> None:
    log = hv.read_counter_log(FIX / "two-hosts.csv")
    assert log.names == ["cache", "db", "HOST01\\web", "HOST02\\web"]
    assert log.computers == ["HOST01", "HOST02"] and log.tick_s == 1.0 and log.ticks == 3
    assert log.demand_mb[:, 2].tolist() == [512, 532, 553]
    assert log.balancer_mb is None
    # 23:59:58 local at bias -60 is 22:59:58 UTC
    assert log.start_s == dt.datetime(2026, 11, 28, 22, 59, 58, tzinfo=dt.timezone.utc).timestamp()


def _log(tmp_path: Path, counters: list[str], rows: list[list[str]], bias: int = 0) -> Path:
    head = [f"(PDH-CSV 4.0) (Coordinated Universal Time)({bias})"] + [f"\\\\H\\{c}" for c in counters]
    f = tmp_path / "log.csv"
    f.write_text("\r\n".join(",".join(f'"{c}"' for c in r) for r in [head, *rows]) + "\r\n")
    return f


def test_demand_source_which_wins(tmp_path: Path) -> None:
    vm = "Hyper-V Dynamic Memory VM(a)\\"
    f = _log(
        tmp_path,
        [vm + "Physical Memory", vm + "Current Pressure", vm + "Guest Visible Physical Memory", vm + "Guest Available Memory"],
        [["01/01/2026 00:00:00.000", "1000", "50", "2048", "1048"],
         ["01/01/2026 00:00:01.000", " ", " ", "2048", "548"],
         ["01/01/2026 00:00:02.000", "1000", "70", " ", " "]],
    )
    by_pressure = hv.read_counter_log(f)
    assert by_pressure.demand_mb[:, 0].tolist() == [500, 1500, 700]
    assert any("1 from Guest Visible" in r for r in by_pressure.repairs)
    assert hv.read_counter_log(f, demand_from="available").demand_mb[:, 0].tolist() == [1000, 1500, 700]


def test_pdh_duplicate_instances_and_jittered_times(tmp_path: Path) -> None:
    vm = "Hyper-V Dynamic Memory VM"
    f = _log(
        tmp_path,
        [f"{vm}(web)\\Physical Memory", f"{vm}(web)\\Current Pressure",
         f"{vm}(web#1)\\Physical Memory", f"{vm}(web#1)\\Current Pressure"],
        [["01/01/2026 00:00:00.004", "100", "100", "200", "100"],
         ["01/01/2026 00:00:00.998", "100", "110", "200", "110"],  # perfmon's jitter, a few ms
         ["01/01/2026 00:00:02.003", "100", "120", "200", "120"]],
    )
    log = hv.read_counter_log(f)
    assert log.names == ["web", "web#1"] and log.tick_s == 1.0
    assert log.demand_mb.tolist() == [[100, 200], [110, 220], [120, 240]]  # no sample lost to the jitter
    assert any("duplicate instance" in r for r in log.repairs)


def _run(log: hv.CounterLog, record_counters: bool) -> dynmem.Timeline:
    host = dynmem.Host(physical_mb=6144, reserve_mb=512)
    hv.add_to(host, hv.read_vm_settings(FIX / "get-vmmemory-ps7.json"), order=log, start=False)
    host.start_vms()
    return host.run(np.repeat(log.demand_mb, 20, axis=0), dt_s=log.tick_s, record_counters=record_counters)


@pytest.mark.parametrize("record_counters", [True, False])
def test_to_pdh_csv_round_trips_through_read_counter_log(tmp_path: Path, record_counters: bool) -> None:
    log = hv.read_counter_log(FIX / "host01.csv")
    timeline = _run(log, record_counters)
    out = tmp_path / "simulated.csv"
    timeline.to_pdh_csv(out, computer="HOST01", start_s=log.start_s, bias_min=log.bias_min, timezone=log.timezone)
    back = hv.read_counter_log(out)
    assert back.names == log.names and back.tick_s == log.tick_s and back.start_s == log.start_s
    assert np.array_equal(back.demand_mb, timeline.demand_mb)
    assert (back.timezone, back.bias_min, back.computers) == (log.timezone, 480, ["HOST01"])
    header = out.read_text().splitlines()[0]
    vm_names = _dynmem.VM_COUNTER_NAMES if record_counters else (
        "Physical Memory", "Guest Visible Physical Memory", "Current Pressure")
    host_names = _dynmem.HOST_COUNTER_NAMES if record_counters else ("Available Memory", "Average Pressure")
    for name in vm_names:
        assert f'"\\\\HOST01\\Hyper-V Dynamic Memory VM(Finance)\\{name}"' in header
    for name in host_names:
        assert f'"\\\\HOST01\\Hyper-V Dynamic Memory Balancer(System Balancer)\\{name}"' in header
    assert header.count('","') == len(log.names) * len(vm_names) + len(host_names)


def test_to_pdh_csv_shape(tmp_path: Path) -> None:
    host = dynmem.Host(physical_mb=4096, reserve_mb=0, policy=dynmem.HyperVPolicy(boot_report_delay_s=0))
    host.add_vms(["a(1)", "b", "B"], startup_mb=512, minimum_mb=256, maximum_mb=2048)
    host.start_vms(["a(1)", "b"])
    t = host.run(np.full((3, 3), 700), dt_s=2.5, record_counters=True)
    out = tmp_path / "x.csv"
    t.to_pdh_csv(out, computer="SIM", start_s=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp(),
                 bias_min=-60, timezone="W. Europe Standard Time")
    raw = out.read_bytes()
    assert raw.count(b"\r\n") == 4 and raw.endswith(b'"\r\n')
    lines = raw.decode().split("\r\n")
    assert lines[0].startswith('"(PDH-CSV 4.0) (W. Europe Standard Time)(-60)","\\\\SIM\\Hyper-V Dynamic Memory VM(a[1])\\')
    assert "VM(b)" in lines[0] and "VM(B#1)" in lines[0]  # PDH's reserved characters and duplicates
    cells = lines[2].split('","')
    assert cells[0] == '"01/02/2026 04:04:07.500'  # tick 1 starts 2.5 s in; local = UTC + 60 min
    k = len(dynmem._dynmem.VM_COUNTER_NAMES)
    assert all(c == " " for c in cells[1 + 2 * k:1 + 3 * k])  # B is off: no instance
    assert hv.read_counter_log(out).names == ["a[1]", "b"]


def test_to_pdh_csv_bad_arguments_write_nothing(tmp_path: Path) -> None:
    t = _run(hv.read_counter_log(FIX / "host01.csv"), False)
    for kw in ({"computer": "A\\B"}, {"bias_min": 5000}, {"start_s": -1.0}, {"timezone": "x(y)"}):
        with pytest.raises(ConfigError):
            t.to_pdh_csv(tmp_path / "x.csv", **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "x.csv").exists()


def test_record_counters_match_the_hosts_counters() -> None:
    log = hv.read_counter_log(FIX / "host01.csv")
    host = dynmem.Host(physical_mb=6144, reserve_mb=512)
    hv.add_to(host, hv.read_vm_settings(FIX / "get-vmmemory-ps7.json"), order=log)
    t = host.run(np.repeat(log.demand_mb, 20, axis=0), dt_s=log.tick_s, record_counters=True)
    assert t.counters is not None and t.host_counters is not None
    for j, vm in enumerate(host.vms):
        for name, value in vm.counters.items():
            assert t.counters[name][-1, j] == value, name
    for name, value in host.counters.items():
        assert t.host_counters[name][-1] == value, name
    assert np.array_equal(t.counters["Physical Memory"], t.assigned_mb)
    d = t.decimate(7)
    assert d.counters is not None and d.counters["Added Memory"].shape == d.assigned_mb.shape
    both = dynmem.Timeline.concat([t, t])
    assert both.counters is not None and both.counters["Removed Memory"].shape == (2 * t.rows, 3)
    plain = host.run(log.demand_mb, dt_s=log.tick_s)
    assert plain.counters is None and dynmem.Timeline.concat([t, plain]).counters is None


# ---- bad files: one typed error naming file, line and column -----------------

BAD = [
    # file, reader, line, column, words in the message
    ("truncated.csv", "log", 4, 3, "truncated"),
    ("garbage.csv", "log", 3, 1, "not a text file"),
    ("semicolon.csv", "log", 1, 1, "separated by ';'"),
    ("no-hyperv.csv", "log", 1, 2, "no 'Hyper-V Dynamic Memory VM' counter"),
    ("translated.csv", "log", 1, 2, "translated"),
    ("duplicate-counter.csv", "log", 1, 4, "appears twice"),
    ("negative.csv", "log", 3, 2, "Physical Memory"),
    ("absurd.csv", "log", 3, 3, "Current Pressure"),
    ("bad-time.csv", "log", 2, 1, "MM/dd/yyyy"),
    ("truncated.json", "settings", 6, 38, "not valid JSON"),
    ("garbage.csv", "settings", 3, 1, "not a text file"),
    ("semicolon-settings.csv", "settings", 2, 1, "separated by ';'"),
    ("truncated-settings.csv", "settings", 3, 5, "truncated"),
    ("duplicate-vm.json", "settings", 11, 9, "'FINANCE' appears twice"),
    ("negative-size.json", "settings", 12, 9, "MemoryStartup must be between 0"),
    ("absurd-size-settings.csv", "settings", 3, 5, "Maximum must be between 0"),
    ("not-unit.json", "settings", 12, 9, "whole number of 2 MB units"),
    ("mb-not-bytes.json", "settings", 12, 9, "looks like MB"),
    ("minimum-above-startup.json", "settings", 13, 9, "MemoryMinimum must not exceed MemoryStartup"),
]


@pytest.mark.parametrize("name, reader, line, column, words", BAD)
def test_bad_file_is_one_error_naming_file_line_and_column(
    name: str, reader: str, line: int, column: int, words: str
) -> None:
    path = FIX / "bad" / name
    read = hv.read_counter_log if reader == "log" else hv.read_vm_settings
    with pytest.raises(FileFormatError) as e:
        read(path)
    err = e.value
    assert isinstance(err, ConfigError) and isinstance(err, dynmem.DynmemError)
    assert (err.path, err.line, err.column) == (str(path), line, column)
    assert str(err).startswith(f"{path}:{line}:{column}: ") and words in str(err)
    assert err.__cause__ is None or isinstance(err.__cause__, Exception)


def test_bad_arguments_are_typed(tmp_path: Path) -> None:
    with pytest.raises(dynmem.ConfigTypeError):
        hv.read_counter_log(42)
    with pytest.raises(FileFormatError, match="cannot read"):
        hv.read_vm_settings(tmp_path / "missing.json")
    with pytest.raises(ConfigError):
        hv.read_counter_log(FIX / "host01.csv", demand_from="guess")  # type: ignore[arg-type]
    with pytest.raises(dynmem.ConfigTypeError):
        hv.add_to(dynmem.Host(physical_mb=4096), ["Finance"])


def test_a_quote_left_open_in_a_log_is_one_error(tmp_path: Path) -> None:
    # found by tests/test_hyperv_fuzz.py: csv joined the lines and the rows no longer matched (IndexError)
    text = (FIX / "two-hosts.csv").read_text().replace('\n"11/29/2026', '\n"\n"11/29/2026')
    f = tmp_path / "open-quote.csv"
    f.write_text(text)
    with pytest.raises(FileFormatError, match="not closed on its line") as e:
        hv.read_counter_log(f)
    assert (e.value.line, e.value.column) == (4, 1)


def test_settings_csv_values_over_several_lines_keep_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "notes.csv"
    f.write_text('"VMName","Notes","Startup","Minimum","Maximum"\n"a","line one\nline two","1073741824","536870912",'
                 '"1073741824"\n"b","","1073741824","536870912","1073741824x"\n')
    with pytest.raises(FileFormatError) as e:
        hv.read_vm_settings(f)
    assert (e.value.line, e.value.column) == (4, 5)


def test_a_time_far_from_the_others_is_one_error(tmp_path: Path) -> None:
    # found by fuzzing: a year 2826 made a grid of 800 years of held samples (MemoryError)
    f = tmp_path / "year.csv"
    f.write_text((FIX / "host01.csv").read_text().replace('"03/02/2026 09:00:45.110"', '"03/02/2826 09:00:45.110"'))
    with pytest.raises(FileFormatError, match="far from the others") as e:
        hv.read_counter_log(f)
    assert (e.value.line, e.value.column) == (5, 1)
    f.write_text((FIX / "host01.csv").read_text().replace('"03/02/2026 09:00:00.103"', '"03/02/1826 09:00:00.103"'))
    with pytest.raises(FileFormatError, match="far from the others") as e:
        hv.read_counter_log(f)
    assert (e.value.line, e.value.column) == (2, 1)


def test_a_huge_number_in_settings_is_one_error(tmp_path: Path) -> None:
    # found by fuzzing: "Buffer": 109e99 overflowed int64 in add_vms (OverflowError)
    f = tmp_path / "vms.json"
    f.write_text((FIX / "get-vmmemory-ps7.json").read_text().replace('"Buffer": 10,', '"Buffer": 109e99,'))
    with pytest.raises(FileFormatError, match="VM 'Engineering': Buffer must be a whole percentage") as e:
        hv.read_vm_settings(f)
    assert (e.value.line, e.value.column) == (20, 5)
