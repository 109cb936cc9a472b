"""Which pools get nodes and which machines go: preference order, limits, stock-out backoff."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from burstd.model.world import PoolState
from burstd.policy.spec import BurstPolicy, PoolSpec


@dataclass(frozen=True, slots=True)
class Limits:
    max_nodes: int | None
    max_hourly_cost: float | None


@dataclass(frozen=True, slots=True)
class Allocation:
    targets: dict[str, int]
    #: what capped the allocation below the wanted capacity, if anything (for an Alert)
    capped_by: str | None


def price_of(spec: PoolSpec, state: PoolState | None) -> float | None:
    """The pool's price per node-hour, or None when it has none.

    A pool priced by its provider (``price.source: provider``) takes the live quote only: without one it
    has no price (never 0), so it cannot grow and budgets are never computed as if it were free. Other
    pools take their static ``price.perNodeHour``.
    """
    quoted = state.price_per_node_hour if state is not None else None
    if spec.price is None or spec.price.source == "provider":
        return quoted
    return spec.price.per_node_hour


def known_prices(pools: Sequence[PoolSpec], states: Mapping[str, PoolState]) -> dict[str, float]:
    """``price_of`` each pool that has a price (an unpriced pool is left out, never priced 0)."""
    out: dict[str, float] = {}
    for p in pools:
        price = price_of(p, states.get(p.name))
        if price is not None:
            out[p.name] = price
    return out


def preference(policy: BurstPolicy, pools: Mapping[str, PoolState]) -> list[PoolSpec]:
    """Pools in the order new nodes should go: as listed, or cheapest first (listed order breaks ties;
    pools without a price come last)."""
    specs = list(policy.spec.burst.pools)
    if policy.spec.burst.order == "cheapest-available":

        def key(p: PoolSpec) -> tuple[bool, float]:
            price = price_of(p, pools.get(p.name))
            return (price is None, price or 0.0)

        specs.sort(key=key)
    return specs


def allocate(
    want_replicas: int,
    want_nodes: int,
    current: Mapping[str, int],
    order: Sequence[PoolSpec],
    per_node: Mapping[str, int],
    usable: Mapping[str, bool],
    prices: Mapping[str, float],
    limits: Limits,
    ceilings: Mapping[str, int] | None = None,
) -> Allocation:
    """Node targets per pool that hold ``want_replicas`` with at least ``want_nodes`` nodes.

    Grows into the most preferred usable pools, shrinks the least preferred first, keeps every pool
    within [min, max] and the whole within the node and hourly-cost limits. ``prices`` holds the pools
    that have a price (with an hourly-cost limit, nothing grows while a pool holding nodes has none);
    ``ceilings`` caps how far a pool may grow (the cloud quota's headroom), never below what it holds.
    """
    ceilings = ceilings or {}
    targets = {p.name: max(p.nodes.min, min(p.nodes.max, current.get(p.name, p.nodes.min))) for p in order}
    # Running totals of ``targets``: every change below updates them with it.
    nodes = sum(targets.values())
    capacity = sum(n * per_node[p] for p, n in targets.items())

    # Shrink first when over the wanted size (least preferred pools first).
    for pool in reversed(order):
        spare_nodes = nodes - want_nodes
        rpn = per_node[pool.name]
        room = targets[pool.name] - pool.nodes.min
        if spare_nodes <= 0 or room <= 0:
            continue
        spare_replicas = capacity - want_replicas
        by_capacity = spare_replicas // rpn if rpn > 0 else room
        drop = min(room, spare_nodes, max(0, by_capacity))
        targets[pool.name] -= drop
        nodes -= drop
        capacity -= drop * rpn
    capped: str | None = None
    # Grow into preferred pools.
    for pool in order:
        missing_replicas = want_replicas - capacity
        missing_nodes = want_nodes - nodes
        if missing_replicas <= 0 and missing_nodes <= 0:
            break
        rpn = per_node[pool.name]
        if not usable.get(pool.name, False) or rpn <= 0:
            continue
        add = max(math.ceil(max(missing_replicas, 0) / rpn), missing_nodes, 0)
        add = min(add, pool.nodes.max - targets[pool.name])
        ceiling = ceilings.get(pool.name)
        if ceiling is not None and targets[pool.name] + add > ceiling:
            add = max(0, ceiling - targets[pool.name])
            capped = capped or f"cloud quota (pool {pool.name} has room for {ceiling} nodes)"
        add, why = _within_limits(add, nodes, targets, prices, pool.name, limits)
        capped = capped or why
        targets[pool.name] += add
        nodes += add
        capacity += add * rpn
    else:
        if want_replicas > capacity or want_nodes > nodes:
            unusable = [p.name for p in order if not usable.get(p.name, False)]
            capped = capped or (
                f"pool capacity (pools not usable now: {', '.join(unusable)}; the others are at their max)"
                if unusable
                else "pool capacity (every usable pool is at its max)"
            )
    if want_replicas > capacity and capped is None:
        capped = "pool capacity (no usable pool has room)"
    # A lowered limit takes nodes away from the least preferred pools.
    if limits.max_nodes is not None or limits.max_hourly_cost is not None:
        for pool in reversed(order):
            over = _over_limit(targets, prices, limits)
            if over <= 0:
                break
            drop = min(over, targets[pool.name] - pool.nodes.min)
            targets[pool.name] -= max(drop, 0)
    return Allocation(targets, capped)


def _within_limits(
    add: int,
    total: int,
    targets: Mapping[str, int],
    prices: Mapping[str, float],
    pool: str,
    limits: Limits,
) -> tuple[int, str | None]:
    """``add`` nodes to ``pool``, lowered to what the limits allow; ``total`` is the sum of ``targets``."""
    why: str | None = None
    if limits.max_nodes is not None and total + add > limits.max_nodes:
        add = max(0, limits.max_nodes - total)
        why = f"max cloud nodes ({limits.max_nodes})"
    if limits.max_hourly_cost is None:
        return add, why
    if add > 0:
        unpriced = sorted(p for p, n in targets.items() if (n > 0 or p == pool) and p not in prices)
        if unpriced:
            # The spend cannot be known, so it cannot be shown to stay within the limit.
            return 0, f"max hourly cost ({limits.max_hourly_cost:g}; no price for {', '.join(unpriced)})"
    price = prices.get(pool, 0.0)
    if price > 0:
        spend = sum(n * prices.get(p, 0.0) for p, n in targets.items())
        affordable = math.floor((limits.max_hourly_cost - spend) / price + 1e-9)
        if add > affordable:
            add = max(0, affordable)
            why = f"max hourly cost ({limits.max_hourly_cost:g})"
    return add, why


def _over_limit(targets: Mapping[str, int], prices: Mapping[str, float], limits: Limits) -> int:
    over = 0
    if limits.max_nodes is not None:
        over = max(over, sum(targets.values()) - limits.max_nodes)
    if limits.max_hourly_cost is not None:
        spend = sum(n * prices.get(p, 0.0) for p, n in targets.items())
        if spend > limits.max_hourly_cost + 1e-9:
            dearest = max((prices.get(p, 0.0) for p, n in targets.items() if n > 0), default=0.0)
            if dearest > 0:
                over = max(over, math.ceil((spend - limits.max_hourly_cost) / dearest - 1e-9))
    return over


def pick_removals(state: PoolState, count: int) -> tuple[str, ...]:
    """The machines to remove: those not Ready first, then the emptiest, then the newest."""
    if count <= 0:
        return ()
    candidates = [m for m in state.machines if not m.deleting]
    candidates.sort(key=lambda m: (m.ready, m.pods, -m.created_at, m.name))
    return tuple(m.name for m in candidates[:count])
