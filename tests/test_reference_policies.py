"""The reference's allocation rules (tests/reference.py) against second,
independent readings of docs/policies.md, as pure functions on random small
solver sets: the reference hands units out one at a time; these search the
level, or follow the doc's phases with `fill`, or use integer arithmetic
only. Both must give the same g, and every g must keep the doc's bounds:
minimum <= g <= maximum (<= target where the rule caps at it), multiples of
u, sum <= pool, and no unit idle that the rule could hand out."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

import helpers as H
import reference as R


@st.composite
def solver_sets(draw):
    """(u, pool, rows): rows like the reference's solver VMs; sum min <= pool."""
    u = draw(st.sampled_from([1, 2, 4]))
    rows = []
    for _ in range(draw(st.integers(1, 7))):
        mn = u * draw(st.integers(1, 60))
        mx = mn + u * draw(st.integers(0, 120))
        dcap = mn + u * draw(st.integers(0, (mx - mn) // u))
        target = dcap + u * draw(st.integers(0, (mx - dcap) // u))
        assigned = mn + u * draw(st.integers(0, 100))
        demand = draw(st.one_of(st.integers(0, 2 * mx), st.just(0), st.just(assigned)))
        rows.append(SimpleNamespace(minimum_mb=mn, maximum_mb=mx, demand_cap_mb=dcap,
                                    target_mb=target, weight=draw(H.weights()),
                                    demand_mb=demand, assigned_mb=assigned,
                                    startup_mb=mn))
    floor_pool = sum(r.minimum_mb for r in rows)
    pool = floor_pool + u * draw(st.integers(0, sum(r.maximum_mb - r.minimum_mb for r in rows) // u + 3))
    return u, pool, rows


def same_g(rule, reading, pool, rows, u, cap_of, *args):
    """The reference's `rule` and the second `reading` agree, and g keeps the bounds."""
    g = rule(pool, rows, u, *args)
    assert g == reading(pool, rows, u, *args)
    check_bounds(g, rows, pool, u, cap_of)
    return g


def check_bounds(g, rows, pool, u, cap_of):
    assert len(g) == len(rows)
    assert sum(g) <= pool
    for x, r in zip(g, rows):
        assert r.minimum_mb <= x <= cap_of(r), (x, r)
        assert x % u == 0
    # work-conserving: only full VMs leave units unused
    if sum(g) + u <= pool:
        assert all(x == cap_of(r) for x, r in zip(g, rows))


# --------------------------------------------------------------------------
# Proportional: integers only, no Fraction
# --------------------------------------------------------------------------

def proportional_ints(pool, rows, u):
    ranges = [(r.maximum_mb - r.minimum_mb) // u for r in rows]
    s, total = (pool - sum(r.minimum_mb for r in rows)) // u, sum(ranges)
    if total <= s:
        return [r.maximum_mb for r in rows]
    x = [rg * s // total for rg in ranges]
    rest = s - sum(x)
    with_room = [i for i in range(len(rows)) if x[i] < ranges[i]]
    assert rest < len([i for i in range(len(rows)) if ranges[i] > 0]) or rest == 0
    for i in with_room[:rest]:
        x[i] += 1
    return [r.minimum_mb + xi * u for r, xi in zip(rows, x)]


@settings(max_examples=300, deadline=None)
@given(case=solver_sets())
def test_proportional_reference_matches_integer_reading(case):
    u, pool, rows = case
    g = same_g(R.proportional_rule, proportional_ints, pool, rows, u, lambda r: r.maximum_mb)
    # one fraction: every VM's share of its range is within one unit of gamma's
    s = (pool - sum(r.minimum_mb for r in rows)) // u
    total = sum((r.maximum_mb - r.minimum_mb) // u for r in rows)
    if total > s:
        for x, r in zip(g, rows):
            rg = (r.maximum_mb - r.minimum_mb) // u
            assert -total < (x - r.minimum_mb) // u * total - rg * s <= total


# --------------------------------------------------------------------------
# Shares: the doc's level L, found by binary search, and its remainder rule
# --------------------------------------------------------------------------

def shares_level(pool, rows, u, tau):
    target = [r.target_mb for r in rows]
    if sum(target) <= pool:
        return target
    t = R.idle_tax_t(tau)
    q = [r.weight for r in rows]
    d = [r.demand_cap_mb // u for r in rows]
    lo = [r.minimum_mb // u for r in rows]
    hi = [x // u for x in target]
    budget = pool // u
    n = len(rows)

    def level_fill(members, share, budget, base):
        """x_i(L) = clamp(r_i(L), lo_i, hi_i) for `members` (r of the doc,
        with weight share(i)); `base` units are held by the others."""
        def x(i, level):
            return max(lo[i], min(hi[i], R.shares_r(level, d[i], share(i), t)))

        def total(level):
            return base + sum(x(i, level) for i in members)

        a, b = 0, 1
        while total(b) <= budget and any(x(i, b) < hi[i] for i in members):
            b *= 2
        if total(b) <= budget:
            return {i: hi[i] for i in members}
        while b - a > 1:  # total(a) <= budget < total(b)
            mid = (a + b) // 2
            a, b = (mid, b) if total(mid) <= budget else (a, mid)
        got = {i: x(i, a) for i in members}
        steppers = sorted((i for i in members if x(i, a + 1) > x(i, a)), key=lambda i: (-share(i), i))
        rest = budget - total(a)
        assert rest < len(steppers)
        for i in steppers[:rest]:
            got[i] += 1
        return got

    positive = [i for i in range(n) if q[i] > 0]
    zero = [i for i in range(n) if q[i] == 0]
    got = level_fill(positive, lambda i: q[i], budget, sum(lo[i] for i in zero))
    if all(got[i] == hi[i] for i in positive):
        got.update(level_fill(zero, lambda i: R.W, budget, sum(got[i] for i in positive)))
    else:
        got.update({i: lo[i] for i in zero})
    return [got[i] * u for i in range(n)]


@settings(max_examples=300, deadline=None)
@given(case=solver_sets(), tau=st.sampled_from([0.0, 0.5, 0.75, 0.9, 0.999]))
def test_shares_reference_matches_level_reading(case, tau):
    u, pool, rows = case
    same_g(R.shares_rule, shares_level, pool, rows, u, lambda r: r.target_mb, tau)


# --------------------------------------------------------------------------
# StrictPriority: the doc's phases with Hyper-V's fill
# --------------------------------------------------------------------------

def strict_phases(pool, rows, u):
    target = [r.target_mb for r in rows]
    if sum(target) <= pool:
        return target
    g = [r.minimum_mb for r in rows]
    rest = pool - sum(g)
    for w in sorted({r.weight for r in rows}, reverse=True):
        idx = [i for i, r in enumerate(rows) if r.weight == w]
        for base, cap in ((lambda r: r.minimum_mb, lambda r: r.demand_cap_mb),
                          (lambda r: r.demand_cap_mb, lambda r: r.target_mb)):
            need = sum(cap(rows[i]) - base(rows[i]) for i in idx)
            if need <= rest:  # the phase fits: served in full
                for i in idx:
                    g[i] = cap(rows[i])
                rest -= need
                continue
            share = R.fill(rest, [cap(rows[i]) - base(rows[i]) for i in idx], [w] * len(idx), u)
            for i, e in zip(idx, share):
                g[i] = base(rows[i]) + e
            return g
    return g


@settings(max_examples=300, deadline=None)
@given(case=solver_sets())
def test_strict_reference_matches_phase_reading(case):
    u, pool, rows = case
    g = same_g(R.strict_rule, strict_phases, pool, rows, u, lambda r: r.target_mb)
    # a VM of lower weight above its minimum only when every higher weight is at its target
    for x, r in zip(g, rows):
        if x > r.minimum_mb:
            assert all(y == s.target_mb for y, s in zip(g, rows) if s.weight > r.weight)


def test_static_reference_is_startup():
    rows = [SimpleNamespace(startup_mb=s) for s in (512, 2048)]
    assert R.StaticPolicy().rule(10**6, rows) == [512, 2048]
