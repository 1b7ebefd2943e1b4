"""Sparse ticks and the pressure statistics (issue 17), measured against the
base commit in one run: callgrind instructions per VM per tick, and time
per simulated second of a replay (Bitbrains 5-minute samples tiled to 100k
VMs, 1-second ticks) and of a churn regime (every VM's demand jumps each
tick). Rust alone (`rust/dynmem-core/examples/replay_bench.rs`), the same
example built at the base commit (its new-API lines removed).

    python benches/sparse_bench.py                 # everything, prints a Markdown table
    python benches/sparse_bench.py --base a9712ce --vms 100000 --seconds 1800

`measure(...)` returns the figures as a dict, for benches/run.py's report.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT.parent / "shared" / "traces" / "bitbrains-rnd-2013-08"
if not TRACES.is_dir():
    TRACES = Path("/work/shared/traces/bitbrains-rnd-2013-08")


def export(path: Path, n: int, rows: int, pressure: float, hold: int = 300) -> None:
    """Writes replay_bench's input: ``rows`` 5-minute Bitbrains samples of the
    trace's VMs tiled to ``n`` VMs (tile ``k`` starts ``k`` samples later, so
    tiles differ), with the replay's VM sizes; physical memory is the sum of
    every VM's largest target over the rows divided by ``pressure`` (< 1:
    plentiful, > 1: contended)."""
    from dynmem.traces import load_bitbrains, vm_sizes

    trace = load_bitbrains(TRACES, tick_s=300.0, on_long_gap="hold")
    sizes = vm_sizes(trace)
    m = len(trace.names)
    d = trace.demand_mb
    cols = np.arange(n) % m
    offs = (np.arange(n) // m) % max(1, d.shape[0] - rows)
    demand = np.stack([d[offs + r, cols] for r in range(rows)]).astype(np.int64)
    mins = np.array([sizes[c]["minimum_mb"] for c in cols], dtype=np.int64)
    maxs = np.array([sizes[c]["maximum_mb"] for c in cols], dtype=np.int64)
    starts = np.array([sizes[c]["startup_mb"] for c in cols], dtype=np.int64)
    demand = np.minimum(demand, 2**32 - 1)
    target = np.clip(((demand * 120 + 99) // 100 + 1) // 2 * 2, mins, maxs).max(axis=0)
    physical = int(max(target.sum(), starts.sum()) / pressure) + 1024
    head = np.array([n, rows, physical, hold], dtype="<u8").tobytes()
    body = np.stack([starts, mins, maxs], axis=1).astype("<u4").tobytes() + demand.astype("<u4").tobytes()
    path.write_bytes(head + body)


def build(src: Path, target: Path) -> Path:
    env = dict(os.environ, CARGO_TARGET_DIR=str(target), CARGO_PROFILE_RELEASE_DEBUG="line-tables-only")
    subprocess.run(["cargo", "build", "--release", "-q", "--example", "replay_bench", "-p", "dynmem-core"],
                   cwd=src, env=env, check=True)
    return target / "release" / "examples" / "replay_bench"


def base_tree(commit: str, into: Path) -> Path:
    """The base commit's source (git archive), with this replay_bench minus its new-API lines."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    example = (ROOT / "rust/dynmem-core/examples/replay_bench.rs").read_text()
    kept = "\n".join(line for line in example.splitlines() if "NEW-API" not in line)
    kept = kept.replace('"run" => {\n        }', '"run" => panic!("MODE run needs the new API"),')
    (into / "rust/dynmem-core/examples/replay_bench.rs").write_text(kept + "\n")
    return into


def run(exe: Path, file: Path, repeats: int = 3, **env: str) -> float:
    """ns per tick, the minimum of ``repeats`` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        out = subprocess.run([str(exe), str(file)], env=dict(os.environ, **env), check=True,
                             capture_output=True, text=True).stdout
        best = min(best, float(re.search(r"ns_per_tick=(\d+)", out).group(1)))
    return best


def instructions(exe: Path, file: Path, n: int, **env: str) -> float:
    """Callgrind instructions per VM per tick: TICKS=30 minus TICKS=10, over 20 × n.
    (Valgrind has no AVX-512: under it the widest form the core finds is AVX2.)"""
    counts = []
    for ticks in (10, 30):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "cg.out"
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(exe), str(file)],
                           env=dict(os.environ, TICKS=str(ticks), **env), check=True, capture_output=True)
            summary = [line for line in out.read_text().splitlines() if line.startswith("summary:")][0]
            counts.append(int(summary.split()[1]))
    return (counts[1] - counts[0]) / (20 * n)


def cpu() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.*)", info).group(1)
        family = re.search(r"cpu family\s*:\s*(\d+)", info).group(1)
        return f"{model} (family {family})"
    except (OSError, AttributeError):
        return platform.processor()


def measure(base: str = "a9712ce", vms: int = 100_000, seconds: int = 1800, cg_vms: int = 20_000) -> dict:
    """Every figure of the table, as a dict (the keys say what each is)."""
    work = Path(tempfile.mkdtemp(prefix="sparse-bench-"))
    try:
        new = build(ROOT, ROOT / "target")
        old = build(base_tree(base, work / "base"), work / "base-target")
        files = {}
        for name, n, rows, pressure in (("replay", vms, seconds // 300 + 1, 0.9),
                                        ("plentiful", cg_vms, 8, 0.9), ("contended", cg_vms, 8, 1.5)):
            files[name] = work / f"{name}.bin"
            export(files[name], n, rows, pressure)
        fig: dict = {"cpu": cpu(), "base": base, "vms": vms, "seconds": seconds, "cg_vms": cg_vms}
        for cap in ("avx512", "avx2"):
            c = dict(CAP=cap)
            t = dict(TICKS=str(seconds))
            fig[f"replay_old_ns_{cap}"] = run(old, files["replay"], MODE="dense", **t, **c)
            fig[f"replay_new_ns_{cap}"] = run(new, files["replay"], MODE="run", **t, **c)
            fig[f"replay_new_dense_ns_{cap}"] = run(new, files["replay"], MODE="dense", SPARSE="0", **t, **c)
            fig[f"churn_old_ns_{cap}"] = run(old, files["replay"], MODE="churn", TICKS="200", **c)
            fig[f"churn_new_ns_{cap}"] = run(new, files["replay"], MODE="churn", TICKS="200", **c)
        # Valgrind has no AVX-512: callgrind counts the AVX2 and scalar forms.
        for cap in ("avx2", "scalar"):
            c = dict(CAP=cap)
            for regime in ("plentiful", "contended"):
                for mode in ("churn", "held"):
                    f = files[regime]
                    fig[f"cg_{regime}_{mode}_old_{cap}"] = instructions(old, f, cg_vms, MODE=mode, **c)
                    fig[f"cg_{regime}_{mode}_new_{cap}"] = instructions(new, f, cg_vms, MODE=mode, SPARSE="0", **c)
                    if mode == "held":
                        fig[f"cg_{regime}_held_quiet_{cap}"] = instructions(new, f, cg_vms, MODE=mode, **c)
        return fig
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(f: dict) -> str:
    lines = [f"CPU: {f['cpu']}; base {f['base']}; replay {f['vms']:,} VMs, {f['seconds']} s at 1-s ticks "
             f"(Bitbrains 5-min samples tiled); callgrind at {f['cg_vms']:,} VMs (TICKS=30 − TICKS=10).", "",
             "| figure | path | base | this branch | ratio |", "|---|---|---|---|---|"]
    for cap in ("avx512", "avx2"):
        o, nw, nd = f[f"replay_old_ns_{cap}"], f[f"replay_new_ns_{cap}"], f[f"replay_new_dense_ns_{cap}"]
        lines.append(f"| replay, µs per simulated second (Host::run, rows held 300 ticks) | {cap} | {o / 1e3:.1f} "
                     f"| {nw / 1e3:.1f} | {o / nw:.1f}× faster |")
        lines.append(f"| replay ticked densely (set_sparse(false)), µs per second | {cap} | {o / 1e3:.1f} "
                     f"| {nd / 1e3:.1f} | {o / nd:.2f}× |")
        co, cn = f[f"churn_old_ns_{cap}"], f[f"churn_new_ns_{cap}"]
        lines.append(f"| churn (every demand jumps each tick), µs per tick | {cap} | {co / 1e3:.1f} | {cn / 1e3:.1f} "
                     f"| {co / cn:.2f}× |")
    for cap in ("avx2", "scalar"):
        for regime in ("plentiful", "contended"):
            for mode, what in (("churn", "every demand changes"), ("held", "no demand change, dense")):
                o, nw = f[f"cg_{regime}_{mode}_old_{cap}"], f[f"cg_{regime}_{mode}_new_{cap}"]
                lines.append(f"| instructions per VM per {regime} tick, {what} | {cap} | {o:.1f} | {nw:.1f} "
                             f"| {nw / o:.2f} |")
            q = f[f"cg_{regime}_held_quiet_{cap}"]
            o = f[f"cg_{regime}_held_old_{cap}"]
            lines.append(f"| instructions per VM per {regime} tick, no change, quiet tick | {cap} | {o:.1f} "
                         f"| {q:.3f} | {q / o:.4f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="a9712ce", help="the commit to compare with")
    ap.add_argument("--vms", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=1800, help="simulated seconds of the replay")
    ap.add_argument("--cg-vms", type=int, default=20_000, help="VMs of the callgrind hosts")
    a = ap.parse_args()
    print(table(measure(a.base, a.vms, a.seconds, a.cg_vms)))


if __name__ == "__main__":
    main()
