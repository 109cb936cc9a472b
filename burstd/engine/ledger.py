"""Cost accounting: every billed cloud node-second and its price, from what the cloud API reports."""

from __future__ import annotations

from collections.abc import Mapping

from burstd.model.state import Ledger
from burstd.model.world import PoolState


def accrue(ledger: Ledger, pools: Mapping[str, PoolState], prices: Mapping[str, float], now: float) -> Ledger:
    """Charge the instances that exist now for the time since the last accounting (piecewise constant)."""
    if ledger.accounted_until is None or now <= ledger.accounted_until:
        return Ledger(
            ledger.node_seconds,
            ledger.cost,
            now if ledger.accounted_until is None else ledger.accounted_until,
        )
    elapsed = now - ledger.accounted_until
    node_seconds = dict(ledger.node_seconds)
    cost = ledger.cost
    for name, pool in pools.items():
        if pool.existing > 0:
            node_seconds[name] = node_seconds.get(name, 0.0) + pool.existing * elapsed
            cost += pool.existing * elapsed / 3600.0 * prices.get(name, 0.0)
    return Ledger(node_seconds, cost, now)
