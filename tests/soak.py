"""Seeded random soak: the core (`dynmem`) against the pure-Python reference.

    python tests/soak.py --ops 10000000 --seed 1

runs random scenarios through `test_differential.run_scenario` (the same
operations, hosts and checks as the differential tests: every observable
value identical after every operation, and `helpers.check_invariants`) until
at least `--ops` operations have run. Scenarios are drawn by Hypothesis in
batches, each batch seeded from `--seed` and its number, so a run is
repeatable (with the same Hypothesis version); a failure is shrunk and
reported with its operation log. Hosts are small (at most 8 VMs) to keep
the reference fast. `tests/test_soak.py` runs a few seconds of it in the normal
test run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers as H  # noqa: E402
import test_differential as D  # noqa: E402

# The contention mix of `test_differential_contention` beside the full mix.
CONTENDED_OPS = ["tick", "tick", "tick", "demand", "demand", "bulk_demand", "stop", "start", "configure",
                 "restart"]
EXAMPLES_PER_BATCH = 200


def scenario(data: st.DataObject) -> int:
    """One random scenario, as the differential tests draw them, with up to
    200 operations; returns the operations run (adds, starts and ops)."""
    if data.draw(st.booleans()):
        cfg = data.draw(H.host_configs())
        ops = D.OPS
    else:
        phys = data.draw(st.integers(1024, 3072))
        cfg = dict(physical_mb=phys, reserve_mb=data.draw(st.integers(0, 256)), policy=data.draw(H.policies()))
        ops = CONTENDED_OPS
    n_vms = data.draw(st.integers(1, 8))
    n_ops = data.draw(st.integers(1, 200))
    start_all = data.draw(st.booleans())
    D.run_scenario(data, cfg, n_vms, n_ops, ops=ops, start_all=start_all)
    return n_vms * (2 if start_all else 1) + n_ops


def batch(seed_value: int, examples: int) -> int:
    """`examples` scenarios drawn from `seed_value`; returns the operations run."""
    ran = [0]

    @seed(seed_value)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        ran[0] += scenario(data)

    run()
    return ran[0]


def soak(ops: int, seed_value: int, *, examples: int = EXAMPLES_PER_BATCH, quiet: bool = False) -> tuple[int, int]:
    """Runs batches of `examples` scenarios until `ops` operations have run;
    returns (operations, scenarios)."""
    done = scenarios = k = 0
    t0 = time.monotonic()
    while done < ops:
        done += batch(seed_value * 1_000_003 + k, examples)
        scenarios += examples
        k += 1
        if not quiet:
            rate = done / max(time.monotonic() - t0, 1e-9)
            print(f"batch {k}: {done:,} operations, {scenarios:,} scenarios, {rate:,.0f} ops/s", flush=True)
    return done, scenarios


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=1_000_000, help="operations to run (at least)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    t0 = time.monotonic()
    done, scenarios = soak(a.ops, a.seed)
    print(f"soak passed: {done:,} operations in {scenarios:,} scenarios, seed {a.seed}, {time.monotonic() - t0:,.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
