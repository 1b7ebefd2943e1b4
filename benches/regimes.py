"""Issue 17's parts of the benchmark report (``benches/run.py`` calls them).

- :func:`cpu_description`: the CPU by model name, vendor and family/model,
  beside the vector path (``/proc/cpuinfo`` on Linux; ``sysctl`` on macOS;
  ``platform`` elsewhere).
- The goals on the AVX2 forms, one thread (where the CPU has AVX-512 the
  forms are capped with ``Host._core._set_vector_cap("avx2")``): run.py
  measures them beside its own figures; :func:`avx2_targets` judges them.
- A **replay** regime: 5-minute samples of the real Bitbrains GWA-T-12 trace
  (``../shared/traces``, or ``$DYNMEM_TRACES``), its VMs tiled to the
  report's size, ticked every simulated second, measured per simulated
  second; and a **churn** regime on the same host: every VM's demand jumps
  every tick (a dense tick by construction, the replay's yardstick).

See ``benches/README.md`` ("Replay and churn") and ``benches/ISA.md``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

import _common as C

#: Simulated seconds per trace sample (the Bitbrains trace's 5 minutes).
HOLD_TICKS = 300

# --------------------------------------------------------------------------
# the CPU
# --------------------------------------------------------------------------


def _cpuinfo(text: str) -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` text."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        key, _, value = line.partition(":")
        out.setdefault(key.strip(), value.strip())
    return out


def cpu_description(cpuinfo: str | None = None) -> dict[str, str]:
    """The CPU's model name, vendor, family/model/stepping and the vector
    extensions dynmem's forms use, as report lines (``{label: value}``).
    Reads ``/proc/cpuinfo`` (or ``cpuinfo``, its text) where there is one;
    elsewhere what ``sysctl`` (macOS) or ``platform`` tells, and says so."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    f = _cpuinfo(cpuinfo)
    info: dict[str, str] = {}
    if f.get("model name") or f.get("vendor_id"):
        info["CPU"] = f.get("model name", "?")
        info["CPU vendor"] = f.get("vendor_id", "?")
        fam, mod, step = (f.get(k, "") for k in ("cpu family", "model", "stepping"))
        if fam.isdigit() and mod.isdigit():
            info["CPU family / model / stepping"] = (
                f"{fam} / {mod} / {step or '?'} (0x{int(fam):x} / 0x{int(mod):x}){_family_name(f.get('vendor_id', ''), int(fam), int(mod))}"
            )
        flags = set(f.get("flags", "").split())
        wanted = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]
        have = [x for x in wanted if x in flags]
        info["CPU vector extensions (of those dynmem uses)"] = ", ".join(have) or "none"
        return info
    brand = ""
    if platform.system() == "Darwin":
        try:
            brand = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            brand = ""
    info["CPU"] = brand or platform.processor() or platform.machine() or "?"
    info["CPU vendor"] = "? (no /proc/cpuinfo on this system)"
    info["CPU family / model / stepping"] = f"? ({platform.machine() or '?'})"
    return info


def _family_name(vendor: str, family: int, model: int) -> str:
    """A few well-known x86 families, for the reader (not used to decide anything)."""
    if vendor == "AuthenticAMD":
        name = {23: "Zen / Zen 2", 25: "Zen 3 / Zen 4", 26: "Zen 5"}.get(family)
        if family == 25:
            name = "Zen 4" if 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF else "Zen 3"
        return f", AMD {name}" if name else ""
    if vendor == "GenuineIntel" and family == 6:
        return ", Intel family 6"
    return ""


# --------------------------------------------------------------------------
# the AVX2 goals (measured by run.py, judged here)
# --------------------------------------------------------------------------

AVX2_1T = "avx2 1 thread"  # run.py's key for the AVX2-capped one-thread ticks


def avx2_targets(rep: Any) -> list[tuple[str, str, bool | None]]:
    """Issue 17's goals on the AVX2 forms, one thread, from ``rep`` (run.py's
    Report): plentiful within 3× of the floor, contended ≥ 30× numpy, and
    ``Host.run`` ≥ 100 M VM-ticks/s in both regimes."""
    m, out = rep.mode, []
    n = m.target_size
    tag = "(AVX2 forms, 1 thread)"
    dp, fl = rep.per_vm(AVX2_1T, "plentiful", n), rep.per_vm("floor", "plentiful", n)
    if dp is not None and fl is not None:
        out.append((f"plentiful tick at {_size(n)} VMs within 3× of the streaming floor {tag}", f"{dp / fl:.1f}× the floor", dp / fl <= 3))
    dc, npc = rep.per_vm(AVX2_1T, "contended", n), rep.per_vm("numpy", "contended", n)
    if dc is not None and npc is not None:
        out.append((f"contended tick at {_size(n)} VMs ≥ 30× faster than numpy {tag}", f"{npc / dc:.1f}×", npc / dc >= 30))
    for regime in ("plentiful", "contended"):
        r = rep.run.get("avx2 " + regime)
        if r is not None:
            rate = m.run_vms * m.run_ticks / r[0] * 1e9
            out.append((f"Host.run ≥ 100 M VM-ticks/s, {_size(m.run_vms)} VMs ({regime}) {tag}", f"{rate / 1e6:.0f} M/s", rate >= 100e6))
    return out


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else (f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))


# --------------------------------------------------------------------------
# replay and churn
# --------------------------------------------------------------------------


def trace_dir() -> Path | None:
    """The Bitbrains GWA-T-12 directory: ``$DYNMEM_TRACES`` or ``../shared/traces`` beside the repository."""
    here = Path(__file__).resolve().parent
    for root in (os.environ.get("DYNMEM_TRACES"), here.parent / ".." / "shared" / "traces", "/work/shared/traces"):
        if root and (Path(root) / "bitbrains-rnd-2013-08").is_dir():
            return Path(root) / "bitbrains-rnd-2013-08"
    return None


@dataclass
class Replay:
    """The replay host's inputs: the trace's VMs tiled to ``n`` columns."""

    n: int
    files: int  # trace VMs (files) tiled
    samples: np.ndarray  # (samples, n) int64 demand, one row per 5-minute sample
    startup: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    physical_mb: int
    reserve_mb: int


def load_replay(n: int, samples: int, files: int | None) -> Replay | None:
    """The first ``samples`` 5-minute samples of the trace (the loader's
    default demand mapping), its VMs tiled to ``n``; None without the trace."""
    path = trace_dir()
    if path is None:
        return None
    from dynmem.traces import load_bitbrains, vm_sizes

    tr = load_bitbrains(path, vms=files, on_long_gap="hold")
    sizes = vm_sizes(tr, balloon_unit_mb=C.U)
    reps = -(-n // tr.vms)
    tile = lambda a: np.tile(np.asarray(a, dtype=np.int64), reps)[:n]  # noqa: E731
    startup = tile([s["startup_mb"] for s in sizes])
    minimum = tile([s["minimum_mb"] for s in sizes])
    maximum = tile([s["maximum_mb"] for s in sizes])
    demand = np.tile(tr.demand_mb[:samples], (1, reps))[:, :n].astype(np.int64)
    # A host overcommitted by 10 % at the first sample's targets (20 % buffer),
    # never below Σ startup: some samples contend, some do not.
    want = np.maximum(startup, np.minimum(maximum, demand[0] * 6 // 5))
    reserve = 2048
    pool = max(int(startup.sum()), int(want.sum() * 9 // 10)) // C.U * C.U
    return Replay(n, tr.vms, demand, startup, minimum, maximum, reserve + pool, reserve)


def build_replay_host(r: Replay) -> Any:
    """A started host of the replay's VMs (the report's policy), warmed up."""
    import dynmem

    h = dynmem.Host(physical_mb=r.physical_mb, reserve_mb=r.reserve_mb, policy=dynmem.HyperVPolicy(**C.POLICY))
    h.add_vms([f"r{i}" for i in range(r.n)], startup_mb=r.startup, minimum_mb=r.minimum, maximum_mb=r.maximum,
              buffer_pct=20, weight=5000)
    h.start_vms()
    h.set_demand_mb(r.samples[0])
    for _ in range(4):
        h.tick(1.0)
    return h


def churn_rows(base: np.ndarray) -> list[np.ndarray]:
    """C.ROWS demand rows in which every VM's demand differs from the row
    before (cyclically): 70 % to 140 % of ``base``, plus the row's number."""
    return [(base * (7 + k) // 10 + k + 1).astype(np.int64) for k in range(C.ROWS)]


def best_sum(h: Any, ticks: int, before: Callable[[int], None], reps: int, budget_s: float) -> tuple[int, int, int]:
    """(min, median, count) over up to ``reps`` repeats of the summed time of
    ``ticks`` calls of ``h.tick(1.0)``, ``before(k)`` run untimed before tick ``k``."""
    clock, totals, spent = time.perf_counter_ns, [], 0
    while len(totals) < reps and (not totals or spent < budget_s * 1e9):
        total = 0
        for k in range(ticks):
            before(k)
            t0 = clock()
            h.tick(1.0)
            total += clock() - t0
        totals.append(total)
        spent += total
    totals.sort()
    return totals[0], totals[len(totals) // 2], len(totals)


def measure(rep: Any, n: int, samples: int, files: int | None, reps: int, budget_s: float,
            log: Callable[[str], None]) -> None:
    """The replay and churn regimes at ``n`` VMs into ``rep.regimes``."""
    r = load_replay(n, samples + 1, files)
    if r is None:
        rep.notes.append("Replay and churn regimes: skipped, the Bitbrains trace was not found "
                         "(set DYNMEM_TRACES to the directory holding bitbrains-rnd-2013-08).")
        return
    h = build_replay_host(r)
    res: dict[str, Any] = {"n": n, "files": r.files, "samples": samples, "physical_mb": r.physical_mb}
    # Churn: every VM's demand jumps before every tick (the new row set
    # untimed): one tick (minimum over repeats), and HOLD_TICKS ticks whose
    # times are summed, as the replay's are (its yardstick).
    rows = churn_rows(r.samples[0])
    k = [0]

    def next_row(_: int = 0) -> None:
        h.set_demand_mb(rows[k[0] % len(rows)])
        k[0] += 1

    res["churn tick"] = C.best_ns(lambda: h.tick(1.0), reps=200, budget_s=budget_s, setup=next_row)
    h.threads = 1
    res["churn tick 1 thread"] = C.best_ns(lambda: h.tick(1.0), reps=200, budget_s=budget_s, setup=next_row)
    h.threads = 0
    res["churn"] = best_sum(h, HOLD_TICKS, next_row, reps, budget_s)
    log(f"churn n={n}: {res['churn tick'][0] / n:.2f} ns/VM per tick (minimum), "
        f"{res['churn'][0] / HOLD_TICKS / n:.2f} (sum of {HOLD_TICKS})")

    # Replay, tick by tick: each sample's demands set once (untimed), then
    # held for HOLD_TICKS one-second ticks (what a simulator ticking every
    # second does); the ticks' times summed.
    def set_sample(t: int) -> None:
        if t % HOLD_TICKS == 0:
            h.set_demand_mb(r.samples[1 + t // HOLD_TICKS])

    res["replay tick"] = best_sum(h, samples * HOLD_TICKS, set_sample, reps, budget_s)
    # Replay through Host.run, one call per sample with its (HOLD_TICKS, n)
    # demand chunk (a broadcast view; Host.run takes dense matrices).
    rows = np.ascontiguousarray(np.stack([r.samples[s] for s in range(1, samples + 1)]))

    def replay_run() -> None:
        # One call: each 5-minute row held for HOLD_TICKS one-second ticks.
        h.run(rows, dt_s=1.0, hold_ticks=HOLD_TICKS, record_every=HOLD_TICKS)

    res["replay run"] = C.best_ns(replay_run, reps=reps, budget_s=budget_s, warmup=0)
    ticks = samples * HOLD_TICKS
    log(f"replay n={n}: {res['replay tick'][0] / ticks / 1e3:.1f} µs per simulated second (tick), "
        f"{res['replay run'][0] / ticks / 1e3:.1f} µs (Host.run)")
    res["trickle"] = measure_trickle(r, reps, budget_s, log)
    rep.regimes = res


#: Shares of the VMs whose demand changes before each tick in the trickle regime.
TRICKLE = (0.0001, 0.001, 0.01)


def measure_trickle(r: Replay, reps: int, budget_s: float, log: Callable[[str], None]) -> dict[float, tuple[int, int]]:
    """Few changes per tick on a plentiful host (block ticks, docs/balancer.md):
    the replay's VMs with memory for 125 % of the first sample's targets;
    before each tick a share of the VMs (``TRICKLE``) get a new demand (±10 %,
    set untimed); HOLD_TICKS ticks' times summed, sparse and dense
    (``_set_sparse(False)``) on the same rows. Returns ``{share: (sparse, dense)}`` ns."""
    want = np.maximum(r.startup, np.minimum(r.maximum, r.samples[0] * 6 // 5))
    roomy = Replay(r.n, r.files, r.samples, r.startup, r.minimum, r.maximum,
                   r.reserve_mb + int(want.sum() * 5 // 4) // C.U * C.U, r.reserve_mb)
    h = build_replay_host(roomy)
    rng = np.random.default_rng(17)
    out: dict[float, tuple[int, int]] = {}
    for share in TRICKLE:
        k = max(1, int(r.n * share))
        rows, row = [], r.samples[0].copy()
        for _ in range(HOLD_TICKS):
            pick = rng.integers(0, r.n, k)
            row = row.copy()
            row[pick] = (row[pick] * rng.uniform(0.9, 1.1, k)).astype(np.int64)
            rows.append(row)
        times = []
        for sparse in (True, False):
            h._core._set_sparse(sparse)
            h.set_demand_mb(r.samples[0])
            for _ in range(30):
                h.tick(1.0)  # settle
            times.append(best_sum(h, HOLD_TICKS, lambda t: h.set_demand_mb(rows[t]), reps, budget_s)[0])
        h._core._set_sparse(True)
        out[share] = (times[0], times[1])
        log(f"trickle {share:.2%} n={r.n}: {times[0] / HOLD_TICKS / 1e3:.1f} µs per tick sparse, "
            f"{times[1] / HOLD_TICKS / 1e3:.1f} dense")
    return out


def replay_targets(rep: Any) -> list[tuple[str, str, bool | None]]:
    """The replay goal: ≥ 10× faster per simulated second than the dense tick."""
    g = getattr(rep, "regimes", None)
    if not g:
        return []
    ratio = (g["churn"][0] / HOLD_TICKS) / (g["replay tick"][0] / (g["samples"] * HOLD_TICKS))
    return [(f"replay at {_size(g['n'])} VMs ≥ 10× faster per simulated second than a dense tick (churn, same host)",
             f"{ratio:.1f}×", ratio >= 10)]


def render(rep: Any) -> list[str]:
    """The report's section on the replay and churn regimes."""
    g = getattr(rep, "regimes", None)
    if not g:
        return []
    n, ticks = g["n"], g["samples"] * HOLD_TICKS
    fl = rep.per_vm("floor", "plentiful", n)
    L = ["## Replay and churn", ""]
    L.append(
        f"One host of {_size(n)} VMs: the {g['files']} VMs of the Bitbrains GWA-T-12 trace (Rnd, August 2013; "
        "the loader's default demand mapping, `vm_sizes` settings, buffer 20 %, weight 5000) tiled, "
        f"{g['physical_mb'] / 2**20:.1f} TB of memory (10 % short of the first sample's targets). "
        f"**Replay**: {g['samples']} consecutive 5-minute samples, each set once and held for {HOLD_TICKS} "
        f"one-second ticks ({ticks} ticks): by `tick` (the ticks' times summed; each sample set untimed by "
        "`set_demand_mb`) and by `Host.run` timed whole "
        f"(one call for all samples, each row held with `hold_ticks={HOLD_TICKS}`, record_every={HOLD_TICKS}). "
        "**Churn**: every VM's demand jumps before every tick (set untimed): a dense tick by construction, "
        "the yardstick of the replay goal."
    )
    L.append("")
    L.append("| regime | per simulated second | ns per VM per tick | ÷ floor | dense ÷ this |")
    L.append("|---|---:|---:|---:|---:|")
    churn = g["churn"][0] / HOLD_TICKS
    rows = [
        ("churn, one tick (minimum; default threads)", g["churn tick"][0], 1),
        ("churn, one tick (minimum; 1 thread)", g["churn tick 1 thread"][0], 1),
        (f"churn, {HOLD_TICKS} ticks summed (default threads)", g["churn"][0], HOLD_TICKS),
        ("replay, `tick` per second", g["replay tick"][0], ticks),
        ("replay, `Host.run` with `hold_ticks`", g["replay run"][0], ticks),
    ]
    for label, t, k in rows:
        per_s = t / k
        floor = f"{per_s / n / fl:.1f}" if fl else "—"
        L.append(f"| {label} | {per_s / 1e3:.1f} µs | {per_s / n:.2f} | {floor} | {churn / per_s:.1f}× |")
    L.append("")
    L.append(
        f"`dense ÷ this`: churn's time per simulated second (the times of {HOLD_TICKS} ticks summed, the rows "
        "set between them untimed, as the replay's ticks are summed; minimum over repeats) over the regime's; "
        "the replay goal is ≥ 10×. `Host.run` is timed whole, one call with every sample as a row held "
        f"`hold_ticks={HOLD_TICKS}` ticks: it checks and converts each row once, and the quiet ticks between "
        "a row's changes cost O(1) (docs/balancer.md, \"Quiet ticks\")."
    )
    L.append("")
    tr = g.get("trickle")
    if tr:
        L.append("**Trickle** (block ticks, docs/balancer.md \"Block ticks\"): the same VMs on a host with memory "
                 "for 125 % of the first sample's targets (every target fits), where a few VMs get a new demand "
                 f"(±10 %, set untimed) before each of {HOLD_TICKS} one-second ticks, their times summed; the "
                 "same rows ticked densely (`_set_sparse(False)`) beside them. VMs whose demand fell stay "
                 "in motion for the removal delay and the lazy removal after it, so a tick visits more blocks "
                 "than the VMs changed that second. When more than one block in eight is in motion the sparse "
                 "host ticks densely too, so those rows compare two dense runs: their ratio is run-to-run "
                 "noise, not a cost of block ticks.")
        L.append("")
        L.append("| VMs changed per tick | sparse, µs per tick | dense, µs per tick | dense ÷ sparse |")
        L.append("|---|---:|---:|---:|")
        for share, (sp, de) in tr.items():
            L.append(f"| {share:.2%} ({max(1, int(n * share)):,}) | {sp / HOLD_TICKS / 1e3:.1f} | "
                     f"{de / HOLD_TICKS / 1e3:.1f} | {de / sp:.1f}× |")
        L.append("")
    return L
