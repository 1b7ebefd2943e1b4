"""llvm-mca on one path through a kernel's loop: ``python benches/isa_mca.py ASM SYMBOL RANGES VMS [CPU ...]``.

``ASM`` is the core's assembly (``cargo rustc --release -p dynmem-core --lib
-- --emit asm``, in ``target/release/deps/``), ``SYMBOL`` a function's
mangled name or its prefix (``_ZN11dynmem_core4tick6x86_644avx25pass15pass1``),
``RANGES`` the lines of the path through the loop, counted from the
symbol's label, as ``a-b,c-d`` (``--show`` prints the function numbered,
with its jumps and which go back), ``VMS`` the VMs one pass round the loop
covers. Labels, directives and jumps are left out (the path is fixed), and
each CPU model's cycles per iteration are divided by ``VMS``; the three
busiest resources are shown. See ``benches/ISA.md``.
"""

from __future__ import annotations

import re
import subprocess
import sys


def function(asm: str, symbol: str) -> list[str]:
    lines = open(asm).read().split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.startswith(symbol) and ln.endswith(":"))
    end = start
    while not lines[end].startswith(".Lfunc_end"):
        end += 1
    return lines[start:end]


def show(body: list[str]) -> None:
    labels = {m.group(1): k for k, ln in enumerate(body) if (m := re.match(r"^(\.L\w+):", ln))}
    for k, ln in enumerate(body):
        if ".cfi" in ln or ln.strip().startswith(".p2align"):
            continue
        m = re.match(r"^\s+j\w+\s+(\.L\w+)", ln)
        tag = f"   ; -> {labels[m.group(1)]}{' BACK' if labels[m.group(1)] < k else ''}" if m and m.group(1) in labels else ""
        print(k, ln + tag)


def path(body: list[str], ranges: str) -> list[str]:
    out = []
    for part in ranges.split(","):
        a, b = (int(x) for x in part.split("-"))
        for ln in body[a : b + 1]:
            t = ln.strip()
            if not t or t.startswith(".") or t.endswith(":") or t.startswith("#") or re.match(r"j\w+\s", t):
                continue
            if t.startswith("call"):
                raise SystemExit(f"a call on the path: {t}")
            out.append(t)
    return out


def mca(instrs: list[str], cpu: str, iterations: int = 200) -> tuple[float, list[tuple[str, float]]]:
    """Cycles per iteration and the three busiest resources (cycles per iteration)."""
    r = subprocess.run(["llvm-mca", f"-mcpu={cpu}", f"-iterations={iterations}", "-instruction-info=false"],
                       input="\n".join(instrs) + "\n", capture_output=True, text=True, check=True)
    o = r.stdout
    cycles = float(re.search(r"Total Cycles:\s+(\d+)", o).group(1)) / iterations  # type: ignore[union-attr]
    names = dict(re.findall(r"\[(\w+(?:\.\d)?)\]\s*-\s*(\S+)", o))
    head, vals = re.search(r"Resource pressure per iteration:\n(.*)\n(.*)\n", o).groups()  # type: ignore[union-attr]
    keys = re.findall(r"\[(\w+(?:\.\d)?)\]", head)
    press = [(names.get(k, k), 0.0 if v == "-" else float(v)) for k, v in zip(keys, vals.split())]
    return cycles, sorted(press, key=lambda kv: -kv[1])[:3]


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "--show":
        show(function(argv[1], argv[2]))
        return 0
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    asm, symbol, ranges, vms = argv[0], argv[1], argv[2], int(argv[3])
    cpus = argv[4:] or ["znver3", "icelake-server"]
    ins = path(function(asm, symbol), ranges)
    for cpu in cpus:
        cycles, top = mca(ins, cpu)
        busiest = ", ".join(f"{k} {p:.1f}" for k, p in top)
        print(f"{cpu:16s} {len(ins) / vms:6.2f} instructions/VM  {cycles / vms:6.2f} cycles/VM  busiest per iteration: {busiest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
