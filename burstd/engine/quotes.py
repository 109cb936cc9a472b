"""What the cloud said about one pool this round, and how that changes the pool's ``PoolState``. Pure: no
I/O, no clock (the ``CloudView`` in ``burstd.runtime.cloud`` gathers these values)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from burstd.model.cloud import Quote
from burstd.model.world import PoolState
from burstd.policy.spec import PoolSpec

__all__ = ["PoolCloudObs", "apply_cloud", "cloud_key"]


def cloud_key(policy: str, pool: str) -> str:
    """How ``Snapshot.quotes`` keys a pool: ``"{policy}/{pool}"``."""
    return f"{policy}/{pool}"


@dataclass(frozen=True, slots=True)
class PoolCloudObs:
    """One pool as its cloud provider answered for it."""

    #: the last good quote while it is fresh (within ``cloud.quoteTTL``); None without one
    quote: Quote | None = None
    #: when that quote was taken (seconds since the epoch)
    quoted_at: float | None = None
    #: the reason of the last quote call's error (``ProviderError.reason``), if it failed
    error_reason: str | None = None
    #: its message (redacted by ``ProviderError``)
    error: str | None = None
    #: instances tagged for the pool with no Machine or node-pool member behind them (past the grace)
    orphans: tuple[str, ...] = ()


def apply_cloud(state: PoolState, spec: PoolSpec, obs: PoolCloudObs | None) -> PoolState:
    """``state`` with what the provider said: stock, quota headroom and price from a fresh quote, or why
    the provider cannot be asked or trusted for the pool now (``unavailable``), and its orphans."""
    if obs is None:
        return state
    changes: dict[str, object] = {"orphans": obs.orphans}
    quote = obs.quote
    reason = obs.error_reason
    if reason == "StockOut":
        changes["stock_out"] = True
    elif reason == "QuotaExceeded":
        changes["quota_headroom"] = 0
    elif reason == "AuthFailed" or (reason is not None and quote is None):
        # Rejected credentials are never covered by an older quote: nothing may be scaled with them.
        changes["unavailable"] = f"{reason}: {obs.error}" if obs.error else reason
        changes["unavailable_reason"] = reason
    if quote is not None:
        currency = spec.price.currency if spec.price is not None else quote.currency
        changes["stock_out"] = bool(changes.get("stock_out")) or state.stock_out or not quote.in_stock
        changes.setdefault("quota_headroom", quote.quota_headroom_nodes)
        if quote.currency == currency:
            changes["price_per_node_hour"] = quote.price_per_node_hour
        elif "unavailable" not in changes:
            changes["unavailable"] = (
                f"the quote is in {quote.currency} but the pool's price.currency is {currency}"
            )
            changes["unavailable_reason"] = "CurrencyMismatch"
    return replace(state, **changes)  # type: ignore[arg-type]
