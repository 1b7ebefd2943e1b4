"""Instructions per VM per tick, by function, with callgrind: ``python benches/isa_count.py``.

Builds ``tick_bench`` with line tables (``cargo build --profile profiling``),
runs it under ``valgrind --tool=callgrind`` with ``ROUNDS=10`` and
``ROUNDS=30`` timed ticks for each vector cap and regime (one thread, ``N``
VMs), and prints the difference of each function's own instruction count
divided by 20 ticks × N VMs: what one more tick costs per VM, without the
host's set-up. Valgrind has no AVX-512, so the default form runs as AVX2.
``llvm-mca`` on the kernels' loops is described in ``benches/ISA.md``.

    python benches/isa_count.py [--vms 20000] [--caps avx2,scalar] [--regimes plentiful,contended]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def self_counts(path: str) -> collections.Counter[str]:
    """Each function's own instruction count (inlined code attributed to its caller)."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    counts: collections.Counter[str] = collections.Counter()
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if not m or "=>" in line:
            continue
        n, name = int(m.group(1).replace(",", "")), m.group(2)
        if "PROGRAM TOTALS" in name:
            counts["TOTAL"] += n
        elif ":" in name:
            fn = re.sub(r"::h[0-9a-f]{16}", "", name.split(":", 1)[1].split(" [")[0]).replace("dynmem_core::", "")
            counts[fn] += n
    return counts


def build() -> str:
    """Builds ``tick_bench`` with line tables; returns its path."""
    env = dict(os.environ, CARGO_PROFILE_PROFILING_DEBUG="line-tables-only")
    subprocess.run(["cargo", "build", "--profile", "profiling", "--example", "tick_bench", "-p", "dynmem-core"],
                   cwd=ROOT, check=True, env=env)
    return os.path.join(ROOT, "target", "profiling", "examples", "tick_bench")


def callgrind(exe: str, out: str, vms: int, cap: str, regime: str, rounds: int, *flags: str) -> None:
    """``tick_bench`` on one thread under callgrind: ``rounds`` timed ticks, the output in ``out``."""
    env = dict(os.environ, DYNMEM_THREADS="1", CAP=cap, REGIME=regime, ROUNDS=str(rounds))
    subprocess.run(["valgrind", "--tool=callgrind", *flags, f"--callgrind-out-file={out}", exe, str(vms)],
                   env=env, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vms", type=int, default=20_000)
    p.add_argument("--caps", default="avx2,scalar")
    p.add_argument("--regimes", default="plentiful,contended")
    a = p.parse_args(argv)
    exe = build()
    with tempfile.TemporaryDirectory() as tmp:
        for cap in a.caps.split(","):
            for regime in a.regimes.split(","):
                runs = {}
                for rounds in (10, 30):
                    out = os.path.join(tmp, f"cg.{cap}.{regime}.{rounds}")
                    callgrind(exe, out, a.vms, cap, regime, rounds)
                    runs[rounds] = self_counts(out)
                print(f"== {cap} {regime}: instructions per VM per tick (own, callgrind)")
                rows = [((runs[30][k] - runs[10].get(k, 0)) / 20 / a.vms, k) for k in runs[30]]
                for per_vm, name in sorted(rows, reverse=True):
                    if per_vm >= 0.3:
                        print(f"{per_vm:8.1f}  {name[-100:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
