"""The simulated cloud's provider: a FakeProvider scripted from the scenario (each pool's price, currency,
stock-out windows and quota), and the burstd run's quotes from it, asked as the daemon asks them: a pool is
quoted when its last quote is older than the quote TTL (or the last call failed), and the engine sees the
quote's stock, quota headroom and price in the pool's ``PoolState``.

The fake never awaits anything: the simulator calls its synchronous cores on the simulation's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from burstd_provider_fake import FakeProvider

from burstd.cloud import ProviderError, Quote
from burstd.engine.quotes import PoolCloudObs, apply_cloud
from burstd.model.world import PoolState
from burstd.policy.spec import PoolSpec
from burstd.sim.scenario import PoolModel, Scenario

__all__ = ["NO_QUOTA", "CloudAnswer", "QuoteBook", "simulated_provider", "stock_timeline"]

#: the quota a pool gets when the fleet sets none: more instances than a simulation can launch
NO_QUOTA = 1_000_000_000


def stock_timeline(windows: Sequence[tuple[float, float]]) -> bool | list[dict[str, Any]]:
    """Stock-out windows ``[from, to)`` as the fake's stock timeline (overlapping windows merged)."""
    merged: list[list[float]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return True
    return [
        change
        for start, end in merged
        for change in ({"at": start, "inStock": False}, {"at": end, "inStock": True})
    ]


def _pool_script(model: PoolModel, spec: PoolSpec) -> dict[str, Any]:
    return {
        "price": model.price_per_node_hour,
        "currency": model.currency,
        "quota": model.quota if model.quota is not None else NO_QUOTA,
        "instanceType": spec.instance_type,
        "zone": spec.zone,
        "stock": stock_timeline(model.stock_outs),
    }


def simulated_provider(scenario: Scenario, clock: Callable[[], float]) -> FakeProvider:
    """The fake cloud behind one run, on ``clock`` (seconds since the trace start)."""
    specs = {p.name: p for p in scenario.policy.spec.burst.pools}
    script = {"pools": {m.name: _pool_script(m, specs[m.name]) for m in scenario.pools}}
    return FakeProvider(script, clock=clock, record_calls=False)


@dataclass(frozen=True, slots=True)
class CloudAnswer:
    """What the last quotes say about one pool, as the engine's PoolState carries it."""

    stock_out: bool = False
    quota_headroom: int | None = None
    price_per_node_hour: float | None = None
    unavailable: str | None = None
    unavailable_reason: str | None = None


@dataclass(slots=True)
class _Entry:
    quote: Quote | None = None
    quoted_at: float = float("-inf")
    error: ProviderError | None = None
    answer: CloudAnswer = CloudAnswer()


class QuoteBook:
    """The burstd run's quote cache: one pool's quote is asked again once it is ``ttl`` seconds old."""

    def __init__(self, scenario: Scenario) -> None:
        self.ttl = scenario.quote_ttl
        self.specs = {p.name: p for p in scenario.policy.spec.burst.pools}
        self._entries: dict[str, _Entry] = {}
        #: quote calls made (for the run's details)
        self.calls = 0

    def answer(
        self, quote: Callable[[str, int, float], Quote], pool: str, desired: int, t: float
    ) -> CloudAnswer:
        """The pool's answer at ``t``, asking ``quote(pool, nodes, t)`` when its quote is due."""
        entry = self._entries.get(pool)
        if entry is None:
            entry = self._entries[pool] = _Entry()
        if entry.error is None and t - entry.quoted_at < self.ttl:
            return entry.answer
        spec = self.specs[pool]
        self.calls += 1
        before = entry.quote if entry.error is None else None
        try:
            entry.quote = quote(pool, max(0, spec.nodes.max - desired), t)
            entry.quoted_at, entry.error = t, None
        except ProviderError as exc:
            entry.error = exc
        if entry.error is not None or entry.quote is not before:  # the provider shares equal quotes
            entry.answer = _answer(spec, entry, t, self.ttl)
        return entry.answer


def _answer(spec: PoolSpec, entry: _Entry, t: float, ttl: float) -> CloudAnswer:
    """As the daemon reads its quotes (``burstd.engine.quotes.apply_cloud``): a fresh quote's stock,
    headroom and price; a failed call keeps the last fresh quote (a stock-out or a used-up quota says so),
    else the pool cannot be asked."""
    quote = entry.quote if t - entry.quoted_at < ttl else None
    error = entry.error
    obs = PoolCloudObs(
        quote=quote,
        quoted_at=entry.quoted_at if quote is not None else None,
        error_reason=error.reason if error is not None else None,
        error=str(error) if error is not None else None,
    )
    said = apply_cloud(_UNSAID, spec, obs)
    return CloudAnswer(
        said.stock_out,
        said.quota_headroom,
        said.price_per_node_hour,
        said.unavailable,
        said.unavailable_reason,
    )


#: a pool state before the cloud's answer is applied (only the answer's fields are read back)
_UNSAID = PoolState(name="", desired=0, ready=0, existing=0, failed=0, observed_at=0.0)
