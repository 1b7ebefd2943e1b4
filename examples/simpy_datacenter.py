"""A small Hyper-V host inside a SimPy simulation.

Three VMs run from the start; jobs arrive at random (a SimPy process each),
raise one VM's memory demand while they run and drop it when they finish.
An hour in, an operator starts a fourth VM, waiting for the balancer to free
its startup memory if the host is short. Prints a summary; ``--plot PATH``
also draws the run (needs matplotlib).

    pip install 'dynmem[simpy]'        # plus matplotlib for --plot
    python examples/simpy_datacenter.py --hours 3 --plot run.png
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Generator
from typing import Any

try:
    import simpy
except ImportError:
    raise SystemExit("this example needs SimPy: pip install 'dynmem[simpy]'") from None

import dynmem
from dynmem.simpy import HostProcess

# name: (startup_mb, maximum_mb, weight, baseline demand (MB) as a function of t)
VMS = {
    "web": (1024, 8192, 5000, lambda t: 1400 + 700 * math.sin(2 * math.pi * t / 5400)),
    "db": (2048, 12288, 8000, lambda t: 3000.0),
    "batch": (1024, 8192, 2000, lambda t: 800.0),
    "analytics": (6144, 12288, 5000, lambda t: 4500.0),  # started an hour in
}
LATE_VM, LATE_AT_S = "analytics", 3600.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plot", metavar="PATH", help="save a PNG of the run (needs matplotlib)")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    env = simpy.Environment()
    host = dynmem.Host(physical_mb=16384, reserve_mb=1024)
    load = {name: 0 for name in VMS}  # MB that running jobs add, per VM

    def demand_of(name: str) -> Any:
        base = VMS[name][3]
        return lambda t: 2 * int((base(t) + load[name]) / 2)  # whole, even MB

    for name, (startup, maximum, weight, _) in VMS.items():
        host.add_vm(name, startup_mb=startup, maximum_mb=maximum, weight=weight)
    for name in VMS:
        if name != LATE_VM:
            host.vm(name).start()

    hp = HostProcess(env, host, dt_s=1.0, demand={n: demand_of(n) for n in VMS}, record_every=10)

    # a hook: count the seconds some running VM pages (demand > assigned)
    paging_s = [0.0]

    def count_paging(p: HostProcess) -> None:
        if p.host.paging_mb.any():
            paging_s[0] += p.dt_s

    hp.on_tick.append(count_paging)

    jobs = {"done": 0, "mb_s": 0.0}

    def job(env: simpy.Environment, vm: str, size_mb: int, duration_s: float) -> Generator[Any, Any, None]:
        load[vm] += size_mb
        yield env.timeout(duration_s)
        load[vm] -= size_mb
        jobs["done"] += 1
        jobs["mb_s"] += size_mb * duration_s

    def arrivals(env: simpy.Environment) -> Generator[Any, Any, None]:
        while True:
            yield env.timeout(rng.expovariate(1 / 120))
            running = [vm.name for vm in host.vms if vm.state != "off"]
            vm = rng.choice(running)
            size = 2 * rng.randint(128, 1024)
            env.process(job(env, vm, size, rng.expovariate(1 / 600)))

    started: dict[str, float] = {}

    def operator(env: simpy.Environment) -> Generator[Any, Any, None]:
        yield env.timeout(LATE_AT_S)
        print(f"[{env.now / 60:6.1f} min] starting {LATE_VM!r} "
              f"({VMS[LATE_VM][0]} MB startup, {host.available_mb} MB available)")
        waited = yield hp.wait_for_memory(LATE_VM)
        started["waited_s"] = waited
        print(f"[{env.now / 60:6.1f} min] {LATE_VM!r} started after waiting {waited:.0f} s")

    env.process(arrivals(env))
    env.process(operator(env))
    env.run(until=args.hours * 3600)

    tl = hp.timeline()
    print()
    print(f"{args.hours:g} h simulated (host.time_s = {host.time_s:.0f} s, {hp.ticks} ticks); "
          f"{jobs['done']} jobs finished, {sum(1 for v in load.values() if v)} VMs still busy")
    print(f"host: {host.physical_mb} MB physical, {host.reserve_mb} MB reserve, "
          f"available min {tl.available_mb.min()} MB / mean {tl.available_mb.mean():.0f} MB")
    print(f"some VM was paging for {paging_s[0] / 60:.1f} min")
    print()
    warning_s = tl.status_seconds("warning")
    paging = tl.paging_mb_h()
    running = tl.status != dynmem.STATUS_NAMES.index("off")
    print(f"{'vm':<10} {'mean assigned':>14} {'peak demand':>12} {'warning':>9} {'paging':>10}")
    for j, name in enumerate(tl.names):
        on = running[:, j]
        mean_assigned = tl.assigned_mb[on, j].mean() if on.any() else 0.0
        peak = tl.demand_mb[on, j].max() if on.any() else 0
        print(f"{name:<10} {mean_assigned:>11.0f} MB {peak:>9} MB {warning_s[j] / 60:>5.1f} min "
              f"{paging[j]:>6.0f} MB·h")
    if "waited_s" not in started:
        print(f"\n{LATE_VM!r} never got its startup memory")

    if args.plot:
        from dynmem.plot import plot_timeline

        plot_timeline(tl, args.plot, title=f"dynmem + SimPy: {len(tl.names)} VMs, {jobs['done']} jobs")
        print(f"\nplot saved to {args.plot}")


if __name__ == "__main__":
    main()
