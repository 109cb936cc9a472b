"""Cost accounting: every billed cloud node-second and its price, per pool and per burst. Pure: no I/O,
no clock (the caller passes ``now``).

Each evaluation charges the interval since the last one, ``(accounted_until, now]``:

* a node seen now is charged from its launch (``MachineInfo.created_at``) or from the last evaluation,
  whichever is later: a node launched between two evaluations is charged from its launch;
* a node seen at the last evaluation and gone now is charged until now (when it is known to be gone is
  only the evaluation that stopped seeing it): at most one evaluation interval over;
* a node the pool counts but does not list (``existing`` above the listed machines, e.g. a MachinePool
  without Machines) is charged for the whole interval;
* a pool of the policy that is not observed this time is charged as it was last seen (billing goes on
  while burstd cannot see); a pool that left the policy and the world is no longer charged.

The price is the pool's price per node-hour as the engine passes it (``burstd.engine.pools.price_of``:
the provider's quote for ``price.source: provider``, the policy's static price otherwise). Node-seconds
with no price (``None`` or not finite) are counted in ``node_seconds`` and in ``unpriced_seconds``, never
as a cost of 0.

Arithmetic: floats, one product ``node-seconds / 3600 x price`` per pool per evaluation, summed into the
running totals; nothing is rounded here (the cost report rounds to cents once, at the end).

A burst's record opens at the evaluation that leaves Idle (its id is that time) and closes at the one that
returns to Idle; it holds the node-seconds and cost charged while it ran. Closed records are kept
newest-last and bounded by :data:`MAX_CLOSED_BURSTS` and :data:`MAX_BURST_AGE_S`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

from burstd.model.state import BurstRecord, Ledger, PoolCost
from burstd.model.world import PoolState
from burstd.policy.spec import PoolSpec
from burstd.policy.units import DAY_S

__all__ = [
    "MAX_BURST_AGE_S",
    "MAX_CLOSED_BURSTS",
    "accrue",
    "cost_by_currency",
    "currencies_of",
    "prune",
    "track_burst",
]

#: closed burst records kept in a policy's state. In JSON one takes ~70 bytes plus ~110 per pool it billed
#: (full-precision floats), so 100 records of a 16-pool policy take ~185 KiB and of a typical 2-4 pool
#: policy 25-45 KiB: far below the 1 MiB a ConfigMap holds, with room for the rest of the state. At a
#: burst a day that is three months; export older ones with ``burstd cost report --format json``.
MAX_CLOSED_BURSTS = 100
#: closed burst records older than this (by their end) are dropped: a year and a month, for yearly reports
MAX_BURST_AGE_S = 400 * DAY_S


def accrue(
    ledger: Ledger,
    pools: Mapping[str, PoolState],
    prices: Mapping[str, float | None],
    now: float,
    currencies: Mapping[str, str],
    burst_started_at: float | None = None,
) -> Ledger:
    """Charge what the pools billed since ``ledger.accounted_until`` (see the module's rules).

    ``currencies`` names every pool of the policy (see :func:`currencies_of`; a pool in neither ``pools``
    nor ``currencies`` has left the policy); ``prices`` the pools that have a price; ``burst_started_at``
    is the burst in progress before this evaluation (``BurstState.burst_started_at``): its record gets
    the same charges.
    """
    burst = ledger.burst
    if burst_started_at is not None and (burst is None or burst.start != burst_started_at):
        # A burst the ledger has no record of (a state saved before burst records): recorded from now on.
        burst = BurstRecord(start=burst_started_at)
    if ledger.accounted_until is None:
        # The first accounting starts now: nothing before it is charged (burstd cannot know it was not).
        first = {name: _count(pool) for name, pool in pools.items() if _count(pool) > 0}
        return replace(ledger, accounted_until=now, seen=first, burst=burst)
    start = ledger.accounted_until
    if now <= start:
        return replace(ledger, burst=burst) if burst is not ledger.burst else ledger
    elapsed = now - start
    # Charges in pool-name order (the running cost is a float sum: its order is part of the answer).
    charges: list[tuple[str, float, float | None]] = []
    seen: dict[str, int] = {}
    previous = ledger.seen
    for name in sorted({*pools, *previous}):
        pool = pools.get(name)
        if pool is None:
            if name not in currencies:
                continue  # gone from the policy and the world
            count = previous[name]
            secs = count * elapsed
        else:
            count = _count(pool)
            secs, existed = _charged(pool, start, now)
            secs += max(0, previous.get(name, 0) - existed) * elapsed  # seen last time, gone now
        if count > 0:
            seen[name] = count
        if secs <= 0.0:
            continue
        price = prices.get(name)
        charges.append(
            (name, secs, secs / 3600.0 * price if price is not None and math.isfinite(price) else None)
        )
    if not charges:  # nothing billed in the interval: the totals stand
        return Ledger(ledger.node_seconds, ledger.cost, now, ledger.pools, seen, burst, ledger.bursts)
    node_seconds = dict(ledger.node_seconds)
    totals = dict(ledger.pools)
    in_burst = dict(burst.pools) if burst is not None else {}
    cost = ledger.cost
    for name, secs, amount in charges:
        currency = currencies.get(name, "")
        node_seconds[name] = node_seconds.get(name, 0.0) + secs
        totals[name] = _add(totals.get(name), secs, amount, currency)
        if burst is not None:
            in_burst[name] = _add(in_burst.get(name), secs, amount, currency)
        if amount is not None:
            cost += amount
    return Ledger(
        node_seconds=node_seconds,
        cost=cost,
        accounted_until=now,
        pools=totals,
        seen=seen,
        burst=None if burst is None else BurstRecord(burst.start, burst.end, in_burst),
        bursts=ledger.bursts,
    )


def currencies_of(pools: Iterable[PoolSpec]) -> dict[str, str]:
    """Each pool's currency (its ``price.currency``; "" for a pool with no price)."""
    return {p.name: p.price.currency if p.price is not None else "" for p in pools}


def track_burst(ledger: Ledger, burst_started_at: float | None, now: float) -> Ledger:
    """Open or close the burst record after an evaluation decided the phase: ``burst_started_at`` is the
    new state's (None: Idle). A record whose burst ended is closed at ``now`` and kept (bounded)."""
    burst, closed = ledger.burst, ledger.bursts
    if burst is not None and burst.start == burst_started_at:
        return ledger
    if burst is not None:
        closed = (*closed, replace(burst, end=now))
    opened = None if burst_started_at is None else BurstRecord(start=burst_started_at)
    if burst is None and opened is None:
        return ledger
    return replace(ledger, burst=opened, bursts=prune(closed, now))


def prune(bursts: tuple[BurstRecord, ...], now: float) -> tuple[BurstRecord, ...]:
    """The closed records to keep: none that ended more than MAX_BURST_AGE_S ago, at most MAX_CLOSED_BURSTS
    (the newest)."""
    kept = tuple(b for b in bursts if b.end is None or now - b.end <= MAX_BURST_AGE_S)
    return kept[-MAX_CLOSED_BURSTS:]


def _count(pool: PoolState) -> int:
    return max(pool.existing, len(pool.machines))


def _charged(pool: PoolState, start: float, now: float) -> tuple[float, int]:
    """Node-seconds in ``(start, now]`` of the nodes the pool shows now, and how many of them existed at
    ``start`` (a node the pool counts but does not list is taken to have existed)."""
    machines = pool.machines
    unlisted = _count(pool) - len(machines)
    secs = unlisted * (now - start)
    existed = unlisted
    for machine in machines:
        created = machine.created_at
        if created <= start:
            secs += now - start
            existed += 1
        elif created < now:
            secs += now - created
    return secs, existed


def _add(total: PoolCost | None, secs: float, amount: float | None, currency: str) -> PoolCost:
    total = total or PoolCost(currency=currency)
    return PoolCost(
        node_seconds=total.node_seconds + secs,
        cost=total.cost + (amount or 0.0),
        currency=currency or total.currency,
        unpriced_seconds=total.unpriced_seconds + (0.0 if amount is not None else secs),
    )


def cost_by_currency(costs: Iterable[PoolCost], total: float | None, default: str) -> dict[str, float]:
    """Cost per currency of per-pool ``costs`` (a pool with no currency counts in ``default``).

    With ``total`` (a ledger's running ``cost``), a policy priced in one currency gets exactly ``total``
    (which also holds what was accounted before per-pool costs); with several, each currency its pools'
    sum, and ``default`` any part of ``total`` of a cent or more that no pool holds.
    """
    out: dict[str, float] = {}
    for c in costs:
        currency = c.currency or default
        out[currency] = out.get(currency, 0.0) + c.cost
    if total is None:
        return out
    if len(out) <= 1:
        return {next(iter(out), default): total}
    rest = round(total - sum(out.values()), 6)
    if rest >= 0.01:
        out[default] = out.get(default, 0.0) + rest
    return out
