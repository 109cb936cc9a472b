"""The oracle's cost is the least any plan can pay to serve all demand: checked against brute force.

Small random scenarios (one to three pools of different sizes, prices, delays, limits and stock-out
windows; demand on a 1-minute grid) are solved by enumerating every feasible plan: every sequence of
per-pool node counts on the event grid (the demand change points and each stock-out window's ends shifted
by its pool's delay), each turned into nodes and billed node by node, depth first. The layered method does
not use a grid at all, and the brute force knows nothing of layers, slots, bridging or the DP.

The model is the oracle's (docs/simulation.md): a node of pool ``p`` Ready at ``t`` was launched at
``t - L_p``, which must not fall strictly inside a stock-out window (a launch at a window's start stands for
one just before it); it bills from ``max(0, launch)`` until its release plus ``E_p``, or the trace end;
``nodes.min`` nodes are there from the start; ``nodes.max``, the quota and ``maxCloudNodes`` cap the Ready
nodes; the cloud must hold ``max(0, D - M)`` replicas, or as many as the caps allow.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from burstd.sim import oracle_plan
from burstd.sim.oracle import run_oracle
from burstd.sim.scenario import PoolModel, Scenario

from .scenarios import fleet_doc, make_policy, pool_doc, scenario

BASE = 2
STEP = 60.0


@dataclass(frozen=True)
class Case:
    demand: tuple[int, ...]  # per minute
    pools: tuple[dict[str, Any], ...]
    max_cloud: int | None

    def build(self) -> Scenario:
        points = [(i * STEP, float(v)) for i, v in enumerate(self.demand)]
        policy_pools = []
        fleet_pools: dict[str, Any] = {}
        for i, p in enumerate(self.pools):
            name = f"pool-{i}"
            doc = pool_doc(name, f"cloud-{i}", price=p["price"], max_nodes=p["max"])
            doc["nodes"]["min"] = p.get("min", 0)
            doc["allocatable"]["cpu"] = str(p["size"])
            policy_pools.append(doc)
            sim: dict[str, Any] = {"provisionDelay": f"{p['delay']}s", "deletionDelay": f"{p['deletion']}s"}
            if p.get("window") is not None:
                sim["stockOuts"] = [{"from": f"{p['window'][0]}s", "to": f"{p['window'][1]}s"}]
            if p.get("quota") is not None:
                sim["quota"] = p["quota"]
            fleet_pools[name] = sim
        limits = {} if self.max_cloud is None else {"maxCloudNodes": self.max_cloud}
        policy = make_policy(policy_pools, limits=limits)
        return scenario(
            points, len(self.demand) * STEP, base=BASE, policy=policy, fleet=fleet_doc(pools=fleet_pools)
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    minutes = draw(st.integers(3, 6))
    demand = tuple(draw(st.lists(st.integers(0, 12), min_size=minutes, max_size=minutes)))
    if max(demand) == 0:
        demand = (*demand[:-1], 5)
    uniform = draw(st.booleans())  # one kind of node (the layered method) or a mix (the DP)
    kind: dict[str, Any] = {
        "size": draw(st.integers(1, 4)),
        "delay": draw(st.sampled_from([30, 60, 120, 180])),
        "deletion": draw(st.sampled_from([0, 30, 90])),
    }
    window = draw(st.none() | st.tuples(st.integers(0, minutes * 60), st.integers(30, 240)))
    pools: list[dict[str, Any]] = []
    count = draw(st.integers(1, 3))
    for _ in range(count):
        if not uniform:
            kind = {
                "size": draw(st.integers(1, 4)),
                "delay": draw(st.sampled_from([30, 60, 120, 180])),
                "deletion": draw(st.sampled_from([0, 30, 90])),
            }
            window = draw(st.none() | st.tuples(st.integers(0, minutes * 60), st.integers(30, 240)))
        most = draw(st.integers(1, 4 - count))  # at most 9 count vectors: brute force stays quick
        pools.append(
            {
                **kind,
                "window": None if window is None else (window[0], window[0] + window[1]),
                "price": draw(st.sampled_from([1.8, 3.6, 5.4, 9.0])),
                "max": most,
                "min": draw(st.integers(0, 1 if most > 1 else 0)),
                "quota": draw(st.none() | st.integers(1, most)),
            }
        )
    pinned = sum(p["min"] for p in pools)
    # a policy may not set maxCloudNodes below the pools' minimum nodes
    max_cloud = draw(st.none() | st.integers(max(1, pinned), 4))
    return Case(demand, tuple(pools), max_cloud)


@st.composite
def stock_out_cases(draw: st.DrawFn) -> Case:
    """A cheap pool out of stock when it would have to launch for a rise, next to a dear one: launch before
    the window, cover with the dear pool until the cheap one is Ready after it, or use the dear pool."""
    minutes = draw(st.integers(5, 6))
    rise = draw(st.integers(2, minutes - 2))  # the minute the demand rises above the base
    low = [draw(st.integers(0, BASE)) for _ in range(rise)]
    high = draw(st.lists(st.integers(BASE + 1, 9), min_size=minutes - rise, max_size=minutes - rise))
    size = draw(st.integers(1, 3))
    delay = draw(st.sampled_from([30, 60, 90]))
    launch = rise * 60 - delay  # when the cheap pool would have to launch
    # mostly windows that start well before the launch and end soon after it, where covering with the
    # dear pool for a moment beats launching the cheap one early
    start = max(0, launch - draw(st.integers(1, 300)))
    cheap = {
        "size": size,
        "delay": delay,
        "deletion": draw(st.sampled_from([0, 30])),
        "window": (start, launch + draw(st.integers(1, 90))),
        "price": 1.8,
        "max": 2,
    }
    dear = {
        "size": draw(st.sampled_from([size, size + 1])),
        "delay": draw(st.sampled_from([30, 60])),
        "deletion": draw(st.sampled_from([0, 30])),
        "price": draw(st.sampled_from([2.7, 3.6, 5.4])),
        "max": 1,
    }
    return Case((*low, *high), (cheap, dear), None)


@contextmanager
def _without_dp() -> Iterator[None]:
    """As if every mixed fleet were too large for the exact DP."""
    saved = oracle_plan.DP_CELLS
    oracle_plan.DP_CELLS = 0
    try:
        yield
    finally:
        oracle_plan.DP_CELLS = saved


def _ceiling(p: PoolModel) -> int:
    return p.max_nodes if p.quota is None else min(p.max_nodes, p.quota)


def _allowed(p: PoolModel, launch: float) -> bool:
    return not any(a < launch < b for a, b in p.stock_outs)


def _demand_at(s: Scenario, t: float) -> int:
    return s.replicas[max(i for i, x in enumerate(s.times) if x <= t)]


def brute_force(s: Scenario) -> tuple[float, float]:
    """(least cost of a plan that serves all servable demand, the unserved replica-seconds it leaves).

    Depth-first over the grid points, trying every allowed count vector at each one; a branch is cut only
    once what it has billed already reaches the best complete plan (billing only grows)."""
    pools = s.pools
    grid = sorted(
        {*s.times}
        | {
            x
            for p in pools
            for a, b in p.stock_outs
            for x in (a + p.provision_delay, b + p.provision_delay)
            if x < s.end
        }
    )
    pinned = sum(p.min_nodes for p in pools)
    states = [
        m
        for m in itertools.product(*(range(p.min_nodes, max(p.min_nodes, _ceiling(p)) + 1) for p in pools))
        if s.max_cloud_nodes is None or sum(m) <= max(s.max_cloud_nodes, pinned)
    ]
    states.sort(key=sum)

    def capacity(m: tuple[int, ...]) -> int:
        return sum(p.replicas_per_node * n for p, n in zip(pools, m, strict=True))

    most = max(capacity(m) for m in states)
    wanted = [min(max(0, _demand_at(s, t) - s.base_replicas), most) for t in grid]
    options = [[m for m in states if capacity(m) >= w] for w in wanted]
    price = [p.price_per_node_hour / 3600.0 for p in pools]
    best = math.inf

    def visit(i: int, live: tuple[tuple[float, ...], ...], billed: float) -> None:
        nonlocal best
        t = s.end if i == len(grid) else grid[i]
        running = sum(price[k] * (t - max(0.0, x)) for k, stack in enumerate(live) for x in stack)
        if billed + running >= best:
            return
        if i == len(grid):
            best = billed + running
            return
        for m in options[i]:
            cost = billed
            after = []
            for k, p in enumerate(pools):
                stack = list(live[k])
                while len(stack) > m[k]:
                    cost += price[k] * (min(s.end, t + p.deletion_delay) - max(0.0, stack.pop()))
                while len(stack) < m[k]:
                    stack.append(t - p.provision_delay)
                    if not _allowed(p, stack[-1]):
                        cost = math.inf
                after.append(tuple(stack))
            if cost < math.inf:
                visit(i + 1, tuple(after), cost)

    # the pinned nodes are there from the start: launched long before it
    visit(0, tuple((-math.inf,) * p.min_nodes for p in pools), 0.0)
    unserved = 0.0
    for i, t in enumerate(grid):
        until = grid[i + 1] if i + 1 < len(grid) else s.end
        unserved += max(0, _demand_at(s, t) - s.base_replicas - wanted[i]) * (until - t)
    return best, unserved


def check_minimal(case: Case) -> None:
    s = case.build()
    best, unserved = brute_force(s)
    r = run_oracle(s)
    assert r.details["exact"] is True
    assert r.cost == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert r.unserved_replica_seconds == pytest.approx(unserved)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_oracle_costs_the_brute_force_minimum(case: Case) -> None:
    check_minimal(case)


@settings(max_examples=110, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(stock_out_cases())
def test_the_oracle_costs_the_brute_force_minimum_around_a_stock_out(case: Case) -> None:
    check_minimal(case)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_bound_never_costs_more_than_the_cheapest_plan(case: Case) -> None:
    s = case.build()
    best, unserved = brute_force(s)
    with _without_dp():  # a mixed fleet gets the lower bound
        r = run_oracle(s)
    assert r.cost <= best + 1e-9
    assert r.unserved_replica_seconds <= unserved + 1e-9


def _kind(size: int, price: float, window: tuple[int, int] | None = None) -> dict[str, Any]:
    return {"size": size, "delay": 60, "deletion": 30, "window": window, "price": price, "max": 3}


def test_the_method_follows_the_fleet() -> None:
    demand = (0, 9, 3, 9)
    one_kind = Case(demand, (_kind(3, 3.6), _kind(3, 1.8)), None)
    mixed_sizes = Case(demand, (_kind(3, 3.6), _kind(2, 1.8)), None)
    mixed_stock = Case(demand, (_kind(3, 3.6), _kind(3, 1.8, (0, 120))), None)
    assert run_oracle(one_kind.build()).details["method"] == "layered"
    assert run_oracle(mixed_sizes.build()).details["method"] == "dp"
    assert run_oracle(mixed_stock.build()).details["method"] == "dp"
    with _without_dp():
        bound = run_oracle(mixed_sizes.build())
    assert (bound.details["method"], bound.details["exact"]) == ("bound", False)
