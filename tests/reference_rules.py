"""The reference's arithmetic and allocation rules (docs/balancer.md and
docs/policies.md): the spec's integer helpers, the water-filling `fill`,
and each built-in policy's rule, written as the specs state them.
`reference.py` imports them."""

from __future__ import annotations

import math
from fractions import Fraction

W = 10000  # weight scale of the water-filling level (spec: `W = 10000`)


# --------------------------------------------------------------------------
# arithmetic helpers from the spec's preamble
# --------------------------------------------------------------------------

def floor_u(x: int, u: int) -> int:
    return x - x % u


def ceil_u(x: int, u: int) -> int:
    return floor_u(x + u - 1, u)


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers, b > 0, without floats."""
    return -((-a) // b)


def clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


# --------------------------------------------------------------------------
# fill(budget, caps, weights): unit-at-a-time greedy (spec, "Equivalently")
# --------------------------------------------------------------------------

def fill(budget_mb: int, caps_mb: list[int], weights: list[int], u: int) -> list[int]:
    """Weighted water-filling of `budget_mb` over VMs with `caps_mb`.

    Hands out one unit (u MB) at a time. The next unit goes to the VM whose
    next unit has the lowest threshold level ceil(k * W / w), k being the
    number of units it would then hold; ties go to the higher weight, then
    to the earlier position. Weight-0 VMs only get units once every
    positive-weight VM is at its cap, and then share equally (same rule with
    equal weights). Returns MB per VM.
    """
    got = hand_out(budget_mb // u, [0] * len(caps_mb), [c // u for c in caps_mb], weights)
    return [g * u for g in got]


def hand_out(budget: int, start: list[int], caps: list[int], weights: list[int]) -> list[int]:
    """`fill`'s rule in units, from `start`: VM i holds start[i] units and
    takes up to caps[i]; `budget` more units are handed out one at a time,
    the next to the VM whose next unit (its k-th in all) has the lowest
    threshold ceil(k * W / w), ties to the higher weight, then the earlier
    position; weight-0 VMs only once every positive weight is at its cap,
    then as equal weights. Returns the units each holds."""
    n = len(caps)
    got = list(start)

    def give(members: list[int], weight_of) -> None:
        nonlocal budget
        while budget > 0:
            best = None
            best_key = None
            for i in members:
                if got[i] >= caps[i]:
                    continue
                w = weight_of(i)
                k = got[i] + 1
                threshold = ceil_div(k * W, w)
                key = (threshold, -w, i)  # lowest level, higher weight, earlier
                if best_key is None or key < best_key:
                    best, best_key = i, key
            if best is None:  # everyone in this group is at its cap
                return
            got[best] += 1
            budget -= 1

    positive = [i for i in range(n) if weights[i] > 0]
    zero = [i for i in range(n) if weights[i] == 0]
    give(positive, lambda i: weights[i])
    if all(got[i] >= caps[i] for i in positive):
        give(zero, lambda i: 1)  # "equal weights among them"
    return got


# --------------------------------------------------------------------------
# the allocation rules (docs/balancer.md step 3, docs/policies.md)
# --------------------------------------------------------------------------

def hyperv_rule(pool: int, vms: list, u: int) -> list[int]:
    """docs/balancer.md stages 0-2."""
    target = [v.target_mb for v in vms]
    dcap = [v.demand_cap_mb for v in vms]
    minimum = [v.minimum_mb for v in vms]
    weights = [v.weight for v in vms]
    if sum(target) <= pool:
        return list(target)
    if sum(dcap) <= pool:
        extra = fill(pool - sum(dcap), [t - c for t, c in zip(target, dcap)], weights, u)
        return [c + e for c, e in zip(dcap, extra)]
    assert sum(minimum) <= pool, "spec invariant: sum(minimum) <= pool"
    extra = fill(pool - sum(minimum), [c - m for c, m in zip(dcap, minimum)], weights, u)
    return [m + e for m, e in zip(minimum, extra)]


def proportional_rule(pool: int, vms: list, u: int) -> list[int]:
    """Xen squeezed: gamma = S / R of every range, floored, the remainder one
    unit each to the first VMs with room, in position order."""
    ranges = [(v.maximum_mb - v.minimum_mb) // u for v in vms]
    surplus = (pool - sum(v.minimum_mb for v in vms)) // u
    assert surplus >= 0, "spec invariant: sum(minimum) <= pool"
    if sum(ranges) <= surplus:
        return [v.maximum_mb for v in vms]
    gamma = Fraction(surplus, sum(ranges))  # exact
    x = [math.floor(r * gamma) for r in ranges]
    rest = surplus - sum(x)
    for i, r in enumerate(ranges):
        if rest > 0 and x[i] < r:
            x[i] += 1
            rest -= 1
    assert rest == 0
    return [v.minimum_mb + xi * u for v, xi in zip(vms, x)]


def idle_tax_t(idle_tax: float) -> int:
    """tau as the rule's integer t = round(tau W) (half away from zero, as
    Rust's f64::round), at most W - 1."""
    x = idle_tax * W
    t = math.floor(x)
    if x - t >= 0.5:
        t += 1
    return min(t, W - 1)


def shares_r(level: int, d: int, w: int, t: int) -> int:
    """r(L) of docs/policies.md (units): floor(L w / W) up to the demand cap
    d, floor((t d W + (W - t) L w) / W^2) above it."""
    if level * w <= d * W:
        return level * w // W
    return (t * d * W + (W - t) * level * w) // (W * W)


def shares_rule(pool: int, vms: list, u: int, idle_tax: float) -> list[int]:
    """ESX: every VM from its reservation (minimum) up to its target; the
    units handed out one at a time, the next to the VM that reaches it at
    the lowest level (the smallest L with r(L) >= its next unit; found by
    counting up, no inverse formula), ties to the higher weight, then the
    earlier position; weight 0 only once every positive weight is at its
    target, then with equal weights W."""
    target = [v.target_mb for v in vms]
    if sum(target) <= pool:
        return target
    t = idle_tax_t(idle_tax)
    lo = [v.minimum_mb // u for v in vms]
    hi = [x // u for x in target]
    d = [v.demand_cap_mb // u for v in vms]
    got = list(lo)
    budget = pool // u - sum(lo)

    def reach(i: int, k: int, w: int) -> int:
        """The smallest level at which VM i's r is at least k (bisection on
        the monotone r: the doc's definition, not an inverse)."""
        a, b = 0, 1
        while shares_r(b, d[i], w, t) < k:
            a, b = b, b * 2
        while b - a > 1:
            m = (a + b) // 2
            a, b = (a, m) if shares_r(m, d[i], w, t) >= k else (m, b)
        return b

    def give(members: list[int], weight_of) -> None:
        nonlocal budget
        while budget > 0:
            room = [i for i in members if got[i] < hi[i]]
            if not room:
                return
            best = min(room, key=lambda i: (reach(i, got[i] + 1, weight_of(i)), -weight_of(i), i))
            got[best] += 1
            budget -= 1

    positive = [i for i, v in enumerate(vms) if v.weight > 0]
    give(positive, lambda i: vms[i].weight)
    if all(got[i] >= hi[i] for i in positive):
        give([i for i, v in enumerate(vms) if v.weight == 0], lambda i: W)
    return [x * u for x in got]


def strict_rule(pool: int, vms: list, u: int) -> list[int]:
    """Every VM from its minimum; weights from the highest down, each first to
    its demand cap, then to its target; one unit at a time, within a weight
    and phase to the VM that has had the fewest units of that phase (ties:
    earlier position), until the pool is spent."""
    target = [v.target_mb for v in vms]
    if sum(target) <= pool:
        return target
    got = [v.minimum_mb for v in vms]
    budget = (pool - sum(got)) // u
    for w in sorted({v.weight for v in vms}, reverse=True):
        members = [i for i, v in enumerate(vms) if v.weight == w]
        for caps in ([vms[i].demand_cap_mb for i in members], [target[i] for i in members]):
            given = [0] * len(members)
            while budget > 0:
                room = [j for j, i in enumerate(members) if got[i] < caps[j]]
                if not room:
                    break
                j = min(room, key=lambda j: (given[j], j))
                got[members[j]] += u
                given[j] += 1
                budget -= 1
    return got
