"""One kernel's instructions, each with its count per VM per tick, and llvm-mca on its hot path: ``python benches/isa_hot.py``.

Like ``isa_count.py`` (which it builds and runs the same way: ``tick_bench``
with line tables under callgrind, ``ROUNDS=10`` and ``ROUNDS=30``, one
thread, the difference over 20 ticks × N VMs), but per instruction
(``--dump-instr=yes``) of the functions whose name matches ``--function``.
The hot path is every instruction that runs at least ``--min`` times per
VM per tick (0.12 with 8 VMs per step: in 96 % of the steps), in address
order, without jumps; ``isa_mca.mca`` models it per CPU, cycles divided by
``--step-vms``. The path is what this build and these inputs run, not a
hand-picked line range (``isa_mca.py``). See ``benches/ISA.md``.

    python benches/isa_hot.py [--vms 20000] [--cap avx2] [--regimes plentiful,contended]
        [--function 'avx2::pass2$'] [--step-vms 8] [--min 0.12] [--list] [--cpus znver3,icelake-server]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from isa_count import build, callgrind  # noqa: E402
from isa_mca import mca  # noqa: E402


def own_costs(path: str, function: str) -> collections.Counter[int]:
    """Instructions executed at each address of the functions matching ``function`` (own cost)."""
    names: dict[str, str] = {}
    costs: collections.Counter[int] = collections.Counter()
    fn, addr, line, after_call = "", 0, 0, False
    for ln in open(path):
        if ln.startswith(("fn=", "cfn=")):
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", ln.rstrip("\n"))
            if m and m.group(2):
                names[m.group(1)] = m.group(2)
            if ln.startswith("fn="):
                fn = names.get(m.group(1), "") if m else ln[3:].strip()
            continue
        if ln.startswith("calls="):
            after_call = True  # the next cost line is the call's inclusive cost
            continue
        if not ln[:1] or ln[0] not in "0123456789+-*":
            continue
        parts = ln.split()
        pos = []
        for tok, prev in zip(parts[:2], (addr, line)):
            if tok == "*":
                pos.append(prev)
            elif tok[0] in "+-":
                pos.append(prev + int(tok, 0))
            else:
                pos.append(int(tok, 0))
        addr, line = pos[0], pos[1] if len(pos) > 1 else line
        if after_call:
            after_call = False
        elif len(parts) > 2 and re.search(function, fn):
            costs[addr] += int(parts[2])
    return costs


def listing(exe: str, per_vm: dict[int, float]) -> list[tuple[float, int, str]]:
    """(count per VM per tick, address, AT&T text) of every executed instruction."""
    lo, hi = min(per_vm), max(per_vm)
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={lo}", f"--stop-address={hi + 16}", exe],
                         capture_output=True, text=True, check=True).stdout
    out = []
    for ln in dis.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s*(.*)", ln)
        if m and per_vm.get(int(m.group(1), 16), 0) > 0:
            text = re.sub(r"\s*(#.*|<[^>]*>)", "", m.group(2)).strip()
            out.append((per_vm[int(m.group(1), 16)], int(m.group(1), 16), text))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vms", type=int, default=20_000)
    p.add_argument("--cap", default="avx2")
    p.add_argument("--regimes", default="plentiful,contended")
    p.add_argument("--function", default=r"avx2::pass2$")
    p.add_argument("--step-vms", type=int, default=8)
    p.add_argument("--min", type=float, default=0.12, help="counts per VM per tick that make an instruction hot")
    p.add_argument("--list", action="store_true", help="print every executed instruction with its count")
    p.add_argument("--cpus", default="znver3,icelake-server")
    a = p.parse_args(argv)
    exe = build()
    with tempfile.TemporaryDirectory() as tmp:
        for regime in a.regimes.split(","):
            runs = {}
            for rounds in (10, 30):
                out = os.path.join(tmp, f"cg.{regime}.{rounds}")
                callgrind(exe, out, a.vms, a.cap, regime, rounds, "--dump-instr=yes")
                runs[rounds] = own_costs(out, a.function)
            per_vm = {k: (runs[30][k] - runs[10].get(k, 0)) / 20 / a.vms for k in runs[30]}
            rows = listing(exe, per_vm)
            print(f"== {a.cap} {regime}: {sum(per_vm.values()):.1f} instructions per VM per tick in {a.function}")
            if a.list:
                for c, addr, text in rows:
                    print(f"{c:7.3f}  {addr:x}  {text}")
            path = [t for c, _, t in rows if c >= a.min and not re.match(r"j\w*\s|call|ret", t)]
            for cpu in a.cpus.split(","):
                cycles, top = mca(path, cpu)
                busiest = ", ".join(f"{k} {v:.1f}" for k, v in top)
                print(f"{cpu:16s} hot path (≥ {a.min} per VM): {len(path) / a.step_vms:6.2f} instructions/VM  "
                      f"{cycles / a.step_vms:6.2f} cycles/VM  busiest per step: {busiest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
