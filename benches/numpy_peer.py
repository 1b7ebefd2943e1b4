"""The numpy peer: one balancer tick of ``docs/balancer.md``, vectorized.

This is the baseline dynmem is measured against: the balancer as a strong
numpy user would write it without dynmem. State is a struct of arrays with
the same dtypes the Rust core uses (MB as ``uint32``, buffer and weight as
``uint16``, state as ``uint8``, clocks and pressure statistics as
``float64``, counters as ``uint64``); every step of a tick is a handful of
whole-array passes:

* boot, pool, targets and demand caps: elementwise passes;
* the weighted water-filling ``fill``: bisection on the integer level ``L``
  with one vectorized pass ``Σ min(cap, L·w // W)`` per probe over the
  VMs that can still take memory (a starting bracket from
  ``budget·W / Σw`` cuts a few probes), then the remainder handed out by an
  exact ``argpartition`` on the unique key ``(W − w, position)``;
* prompt removal: a stable argsort by weight of the VMs above their
  allocation and a cumulative sum;
* lazy removal, adds, hot-add growth of ``visible``, counters and pressure
  statistics: masked elementwise passes.

`NumpyHost.start_many` starts many VMs in one go with the exact semantics of
starting them one after another (``Host.start`` in the spec), vectorized with
cumulative sums and ``searchsorted``; a start that would fail (not enough
reclaimable memory) makes it fall back to a plain loop, which is exact too.

The peer must agree exactly with dynmem on ``assigned``/``visible`` (and the
counters) after every tick; ``tests/test_benches_smoke.py`` holds it to that.
The one reading the spec once left open is a flag
(``LAZY_RESET_ON_REACHING_G``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

W = 10_000  # weight scale of the water-filling level
OFF, STARTING, RUNNING = 0, 1, 2

# Lazy removal: when this tick's lazy step brings assigned down to g, the
# excess clock resets at once (True, docs/balancer.md since it was settled)
# or only at the next tick that starts with assigned <= g (False, the
# earlier reading).
LAZY_RESET_ON_REACHING_G = True

I64 = np.int64


def _ceil_u(x: npt.NDArray[np.int64], u: int) -> npt.NDArray[np.int64]:
    """ceil_u on int64 arrays, in place when possible."""
    if u & (u - 1) == 0:  # power of two: a mask
        x += u - 1
        x &= ~(u - 1)
        return x
    return (x + (u - 1)) // u * u


def level_fill(budget: int, caps: npt.NDArray[np.int64], w: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Water-fills ``budget`` units over items of positive weight ``w``.

    Precondition: ``caps.sum() > budget`` and every ``w > 0``. Returns units
    per item (int64), exactly as the spec's ``fill`` (integer level ``L``,
    remainder to the items stepping up at ``L + 1``, highest weight first,
    ties by position).
    """
    # Items with no capacity never take anything: probe only the others.
    live = np.flatnonzero(caps)
    c = caps[live]
    wl = w[live]
    tmp = np.empty_like(c)

    def total(level: int) -> int:
        np.multiply(wl, level, out=tmp)
        np.floor_divide(tmp, W, out=tmp)
        np.minimum(tmp, c, out=tmp)
        return int(tmp.sum())

    # S(L) ≤ L·Σw/W, so L = budget·W // Σw fits: a valid lower end.
    lo = budget * W // int(wl.sum())
    # Every item is capped at ceil(c·W/w): the answer lies below the max.
    hi = int(((c * W + wl - 1) // wl).max())
    if lo >= hi:  # cannot happen (S(hi) = Σc > budget), kept for safety
        lo = hi - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if total(mid) <= budget:
            lo = mid
        else:
            hi = mid
    np.multiply(wl, lo, out=tmp)
    np.floor_divide(tmp, W, out=tmp)
    np.minimum(tmp, c, out=tmp)
    rest = budget - int(tmp.sum())
    if rest > 0:
        # The items that step up at lo + 1, highest weight first, then position.
        nxt = wl * (lo + 1) // W
        step = np.flatnonzero((tmp < c) & (nxt > tmp))
        key = (W - wl[step]) * (len(caps) + 1) + live[step]
        if rest < len(step):
            pick = step[np.argpartition(key, rest - 1)[:rest]]
        else:
            pick = step
        tmp[pick] += 1
    out = np.zeros(len(caps), dtype=I64)
    out[live] = tmp
    return out


def fill(budget: int, caps: npt.NDArray[np.int64], weights: npt.NDArray[np.integer]) -> tuple[npt.NDArray[np.int64], bool]:
    """The spec's ``fill`` in units: weighted water-filling with weight-0 last.

    Returns the units per item and whether the weight-0 stage ran.
    """
    total = int(caps.sum())
    if total <= budget:
        return caps.copy(), False
    w = weights.astype(I64)
    pos = w > 0
    positive = int(caps[pos].sum())
    if positive > budget:
        out = np.zeros(len(caps), dtype=I64)
        if pos.all():
            return level_fill(budget, caps, w), False
        ip = np.flatnonzero(pos)
        out[ip] = level_fill(budget, caps[ip], w[ip])
        return out, False
    # Every positive weight is capped; weight-0 items share the rest equally.
    out = np.where(pos, caps, 0)
    iz = np.flatnonzero(~pos)
    out[iz] = level_fill(budget - positive, caps[iz], np.full(len(iz), W, dtype=I64))
    return out, True


def allocation(
    pool: int,
    demand: npt.NDArray[np.integer],
    lo_mb: npt.NDArray[np.int64],
    hi_mb: npt.NDArray[np.int64],
    buffer: npt.NDArray[np.integer],
    weight: npt.NDArray[np.integer],
    u: int,
) -> tuple[npt.NDArray[np.int64], int, bool]:
    """Step 3 of a tick (``docs/balancer.md``): Hyper-V's allocation ``g``
    (MB, int64) of the solver set, from its demand, minimum, maximum, buffer
    and weight; also the solver stage (0: targets fit, 1: demand + buffer
    fill, 2: minimum + demand fill) and whether the weight-0 stage ran.
    What a numpy user's `dynmem.Policy.allocate` computing Hyper-V's rule
    does (benches/run.py times it that way)."""
    d = demand.astype(I64)
    target = d * (buffer.astype(I64) + 100)
    target += 99
    target //= 100
    target = _ceil_u(target, u)
    np.clip(target, lo_mb, hi_mb, out=target)
    if int(target.sum()) <= pool:
        return target, 0, False
    dcap = _ceil_u(d.copy(), u)
    np.clip(dcap, lo_mb, hi_mb, out=dcap)
    s_dcap = int(dcap.sum())
    if s_dcap <= pool:
        stage, base, top, base_sum = 1, dcap, target, s_dcap
    else:
        stage, base, top, base_sum = 2, lo_mb, dcap, int(lo_mb.sum())
    caps = top - base
    caps //= u
    budget = max(0, pool - base_sum) // u
    extra, zero = fill(budget, caps, weight)
    extra *= u
    return base + extra, stage, zero


class NumpyHost:
    """A host as a struct of numpy arrays, with the spec's start and tick."""

    def __init__(
        self,
        physical_mb: int,
        reserve_mb: int,
        *,
        startup_mb: npt.ArrayLike,
        minimum_mb: npt.ArrayLike,
        maximum_mb: npt.ArrayLike,
        buffer_pct: npt.ArrayLike,
        weight: npt.ArrayLike,
        dynamic: npt.ArrayLike,
        balloon_unit_mb: int = 2,
        hot_add_chunk_mb: int = 128,
        boot_report_delay_s: float = 45.0,
        remove_delay_s: float = 5.0,
        remove_rate_mb_per_s: float = 256.0,
    ) -> None:
        self.physical_mb = int(physical_mb)
        self.reserve_mb = int(reserve_mb)
        self.u = int(balloon_unit_mb)
        self.chunk = int(hot_add_chunk_mb)
        self.boot_delay = float(boot_report_delay_s)
        self.remove_delay = float(remove_delay_s)
        self.rate = float(remove_rate_mb_per_s)
        self.startup = np.asarray(startup_mb, dtype=np.uint32).copy()
        self.minimum = np.asarray(minimum_mb, dtype=np.uint32).copy()
        self.maximum = np.asarray(maximum_mb, dtype=np.uint32).copy()
        self.buffer = np.asarray(buffer_pct, dtype=np.uint16).copy()
        self.weight = np.asarray(weight, dtype=np.uint16).copy()
        self.dynamic = np.asarray(dynamic, dtype=bool).copy()
        n = self.n = len(self.startup)
        self.state = np.zeros(n, np.uint8)
        self.demand = np.zeros(n, np.uint32)
        self.assigned = np.zeros(n, np.uint32)
        self.visible = np.zeros(n, np.uint32)
        self.boot_s = np.zeros(n)
        self.excess_s = np.zeros(n)
        self.added = np.zeros(n, np.uint64)
        self.removed = np.zeros(n, np.uint64)
        self.add_ops = np.zeros(n, np.uint64)
        self.remove_ops = np.zeros(n, np.uint64)
        self.p_sum = np.zeros(n)
        # Running time against the host clock (while on: time_s + run_mark;
        # while off: run_mark), as the spec defines it: ticks leave it alone.
        self.run_mark = np.zeros(n)
        self.p_min = np.full(n, np.inf)  # no sample yet
        self.p_max = np.zeros(n)
        # The open interval's pressure (NaN: none open); the pressure's
        # integral is p_sum + p_now x time_s while one is open.
        self.p_now = np.full(n, np.nan)
        self.time_s = 0.0
        # What the last operations did (for tests that check their inputs
        # exercise every path): solver stage 0/1/2, weight-0 stage used, and
        # whether prompt removal, lazy removal, hot-add, start reclaim ran.
        self.last_stage = -1
        self.did_zero_stage = self.did_prompt = self.did_lazy = self.did_hot_add = self.did_reclaim = False

    # ----- demand --------------------------------------------------------
    def set_demand_mb(self, demand: npt.ArrayLike) -> None:
        np.copyto(self.demand, demand, casting="unsafe")

    # ----- lifecycle -----------------------------------------------------
    def stop_many(self, ids: npt.ArrayLike) -> None:
        ids = np.asarray(ids)
        assert (self.state[ids] != OFF).all(), "stop_many: VMs must be on"
        self.p_sum[ids] = self.pressure_integral()[ids]
        self.p_now[ids] = np.nan
        self.state[ids] = OFF
        self.run_mark[ids] += self.time_s
        self.assigned[ids] = 0
        self.visible[ids] = 0
        self.boot_s[ids] = 0.0
        self.excess_s[ids] = 0.0

    def start_many(self, ids: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Starts the off VMs ``ids`` (positions) one after another, exactly.

        Returns which started, like ``dynmem.Host.start_vms``: a start that
        finds too little reclaimable memory leaves its VM off and changes
        nothing, and the later starts go on. Vectorized when every start
        succeeds (cumulative sums over the starts and over the donors, in
        the spec's donor order); otherwise an exact per-VM loop.
        """
        ids = np.asarray(ids, dtype=np.intp)
        if len(ids) == 0:
            return np.ones(0, bool)
        assert (self.state[ids] == OFF).all(), "start_many: VMs must be off"
        u = self.u
        s = self.startup[ids].astype(I64)
        free0 = self.physical_mb - self.reserve_mb - int(self.assigned.sum(dtype=np.uint64))
        cum = np.cumsum(s)
        k = int(np.searchsorted(cum, free0, side="right"))  # first start that finds free < startup
        if k < len(ids):
            free_k = free0 - (int(cum[k - 1]) if k else 0)
            # The first short start leaves free in [0, u); after it every
            # start is short by exactly its startup (startups are multiples of u).
            short = s[k:].copy()
            short[0] = -(-(short[0] - free_k) // u) * u
            donors = np.flatnonzero((self.state == RUNNING) & self.dynamic)
            order = donors[np.argsort(self.weight[donors], kind="stable")]
            dw = self.weight[order]
            cap = self.assigned[order].astype(I64) - self.minimum[order]
            cumcap = np.cumsum(cap)
            c_end = np.cumsum(short)  # consumption after each short start
            c_start = c_end - short
            reach = np.searchsorted(dw, self.weight[ids[k:]], side="right")  # eligible prefix
            avail = np.where(reach > 0, cumcap[np.maximum(reach - 1, 0)], 0) if len(order) else np.zeros_like(reach)
            if (c_end > avail).any():
                return self._start_loop(ids)
            self.did_reclaim = True
            total = int(c_end[-1])
            before = cumcap - cap
            take = np.clip(total - before, 0, cap)
            hit = take > 0
            # Each start whose interval [c_start, c_end) overlaps a donor's
            # [before, before + cap) takes from it once: one remove operation.
            ops = np.searchsorted(c_start, before + cap, side="left") - np.searchsorted(c_end, before, side="right")
            o = order[hit]
            self.assigned[o] -= take[hit].astype(np.uint32)
            self.removed[o] += take[hit].astype(np.uint64)
            self.remove_ops[o] += ops[hit].astype(np.uint64)
        self._mark_started(ids)
        return np.ones(len(ids), bool)

    def _mark_started(self, ids: npt.NDArray[np.intp]) -> None:
        self.state[ids] = np.where(self.dynamic[ids], STARTING, RUNNING)
        self.run_mark[ids] -= self.time_s
        self.assigned[ids] = self.startup[ids]
        self.visible[ids] = self.startup[ids]
        self.boot_s[ids] = 0.0
        self.excess_s[ids] = 0.0

    def _start_loop(self, ids: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        u = self.u
        started = np.ones(len(ids), bool)
        for k, i in enumerate(ids.tolist()):
            startup = int(self.startup[i])
            free = self.physical_mb - self.reserve_mb - int(self.assigned.sum(dtype=np.uint64))
            if free < startup:
                short = -(-(startup - free) // u) * u
                donors = np.flatnonzero(
                    (self.state == RUNNING) & self.dynamic & (self.weight <= self.weight[i])
                )
                order = donors[np.argsort(self.weight[donors], kind="stable")]
                cap = self.assigned[order].astype(I64) - self.minimum[order]
                if int(cap.sum()) < short:
                    started[k] = False
                    continue
                self.did_reclaim = True
                before = np.cumsum(cap) - cap
                take = np.clip(short - before, 0, cap)
                hit = take > 0
                o = order[hit]
                self.assigned[o] -= take[hit].astype(np.uint32)
                self.removed[o] += take[hit].astype(np.uint64)
                self.remove_ops[o] += 1
            self._mark_started(np.array([i]))
        return started

    # ----- the balancer --------------------------------------------------
    def tick(self, dt_s: float = 1.0) -> None:
        u = self.u
        st = self.state
        n = self.n

        # 1. Boot.
        starting = st == STARTING
        if starting.any():
            self.boot_s[starting] += dt_s
            st[starting & (self.boot_s >= self.boot_delay)] = RUNNING

        # 2. Pool and the solver set (a slice when every VM is in it).
        solver = st == RUNNING
        solver &= self.dynamic
        m = int(np.count_nonzero(solver))
        if m == n:
            idx: slice | npt.NDArray[np.intp] = slice(None)
            held = 0
        else:
            idx = np.flatnonzero(solver)
            held = int(self.assigned[(st != OFF) & ~solver].sum(dtype=np.uint64))
        pool = max(0, self.physical_mb - self.reserve_mb - held)
        pool -= pool % u

        # 3. Allocation.
        lo_mb = self.minimum[idx].astype(I64)
        hi_mb = self.maximum[idx].astype(I64)
        g, self.last_stage, zero = allocation(pool, self.demand[idx], lo_mb, hi_mb, self.buffer[idx], self.weight[idx], u)
        self.did_zero_stage |= zero

        # 4. Mechanics.
        a = self.assigned[idx].astype(I64)
        free = max(0, pool - int(a.sum()))
        diff = g - a
        need = int(diff[diff > 0].sum())
        removed = np.zeros_like(a)
        ops = np.zeros_like(a)
        if need > free:
            self.did_prompt = True
            short = need - free
            above = np.flatnonzero(diff < 0)
            order = above[np.argsort(self.weight[idx][above], kind="stable")]
            room = -diff[order]
            before = np.cumsum(room) - room
            take = np.clip(short - before, 0, room)
            removed[order] = take
            ops[order] = take > 0
            a -= removed
        # Lazy removal (VMs still above g) and adds (VMs at or below g).
        over = a > g
        ex = self.excess_s[idx]
        if over.any():
            ex[over] += dt_s
            step = max(u, math.floor(self.rate * dt_s) // u * u)
            lazy = over & (ex >= self.remove_delay)
            if lazy.any():
                self.did_lazy = True
                take = np.minimum(a - g, step)
                take[~lazy] = 0
                a -= take
                removed += take
                ops += lazy
                if LAZY_RESET_ON_REACHING_G:
                    ex[lazy & (a <= g)] = 0.0
        ex[~over] = 0.0
        if isinstance(idx, np.ndarray):
            self.excess_s[idx] = ex
        under = a < g
        rise = np.where(under, g - a, 0)
        np.maximum(a, g, out=a, where=under)
        vis = self.visible[idx].astype(I64)
        grow = under & (g > vis)
        if grow.any():
            self.did_hot_add = True
            ch = self.chunk
            grown = vis + (g - vis + (ch - 1)) // ch * ch
            np.minimum(grown, hi_mb, out=grown)
            np.maximum(grown, g, out=grown)
            np.copyto(vis, grown, where=grow)
            self.visible[idx] = vis
        self.assigned[idx] = a
        self.added[idx] += rise.astype(np.uint64)
        self.add_ops[idx] += under
        self.removed[idx] += removed.astype(np.uint64)
        self.remove_ops[idx] += ops.astype(np.uint64)

        # 5. Statistics, for every VM that is not off whose pressure differs
        # from its open interval's (piecewise-constant integrals,
        # docs/balancer.md "Statistics").
        on = np.flatnonzero(st != OFF) if m != n else np.arange(n)
        p = self.demand[on] / self.assigned[on]
        p *= 100.0
        now = self.p_now[on]
        moved = p != now  # NaN (none open) differs from every value
        if moved.any():
            ch, p, now = on[moved], p[moved], now[moved]
            old = np.where(np.isnan(now), 0.0, now)
            t = self.time_s
            self.p_sum[ch] = self.p_sum[ch] + old * t - p * t
            self.p_min[ch] = np.minimum(self.p_min[ch], p)
            self.p_max[ch] = np.maximum(self.p_max[ch], p)
            self.p_now[ch] = p
        self.time_s += dt_s

    def pressure_integral(self) -> npt.NDArray[np.float64]:
        """Each VM's pressure integral over its life up to now (x s)."""
        open_ = ~np.isnan(self.p_now)
        return np.where(open_, self.p_sum + self.p_now * self.time_s, self.p_sum)

    def pressure_statistics(self) -> tuple[npt.NDArray[np.float64], ...]:
        """Average, Minimum and Maximum Pressure per VM (0 before the first sample)."""
        running = np.where(self.state != OFF, self.time_s + self.run_mark, self.run_mark)
        average = np.where(running > 0.0, self.pressure_integral() / np.where(running > 0.0, running, 1.0), 0.0)
        # Clamped to [minimum, maximum]: only rounding pushes it out (docs/balancer.md, "Statistics").
        sampled = np.isfinite(self.p_min)
        average = np.where(sampled, np.minimum(np.maximum(average, np.where(sampled, self.p_min, 0.0)), self.p_max), 0.0)
        return average, np.where(sampled, self.p_min, 0.0), self.p_max
