"""What the cloud provider's answers mean for one evaluation: which pools must not grow (provider
unreachable or refusing the credentials, no price for a provider-priced pool), how far the quota lets each
pool grow, and the alerts for provider errors and orphaned instances. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from burstd.engine.plan import Plan
from burstd.model.actions import Severity
from burstd.model.world import PoolState
from burstd.policy.spec import PoolSpec

__all__ = ["AUTH_FAILED", "ORPHANED", "PROVIDER_ERROR", "alert_cloud", "blocked_pools", "quota_ceilings"]

#: alert codes (also the reasons of the Events they become)
AUTH_FAILED = "CloudAuthFailed"
PROVIDER_ERROR = "CloudProviderError"
ORPHANED = "OrphanedInstance"
#: at most this many instance ids are named in one alert (the rest are counted)
_MAX_IDS = 10


def blocked_pools(
    pools: Sequence[PoolSpec], states: Mapping[str, PoolState], prices: Mapping[str, float]
) -> dict[str, str]:
    """Pools that must not grow this evaluation, and why: the provider cannot be asked or trusted for
    them, their quota is used up, or they are priced by the provider and have no quote (such a pool is
    never taken as free)."""
    out: dict[str, str] = {}
    for p in pools:
        state = states.get(p.name)
        if state is None:
            continue
        if state.unavailable is not None:
            out[p.name] = f"cloud provider {p.provider}: {state.unavailable}"
        elif state.quota_headroom == 0:
            out[p.name] = f"the cloud quota is used up (cloud provider {p.provider}: no headroom)"
        elif p.name not in prices:
            out[p.name] = (
                f"no price: priced by cloud provider {p.provider} (price.source: provider) and no quote "
                "is known"
            )
    return out


def quota_ceilings(pools: Sequence[PoolSpec], states: Mapping[str, PoolState]) -> dict[str, int]:
    """How many nodes each quoted pool may hold as far as the cloud quota goes: the instances that exist
    plus the quota's headroom (what the pool already asked for is never taken away for it)."""
    out: dict[str, int] = {}
    for p in pools:
        state = states.get(p.name)
        if state is None or state.quota_headroom is None:
            continue
        out[p.name] = max(state.existing + state.quota_headroom, 0)
    return out


def alert_cloud(plan: Plan, pools: Sequence[PoolSpec], states: Mapping[str, PoolState]) -> None:
    """Raise the provider-error and orphaned-instance alerts the pools' observations call for."""
    auth: list[str] = []
    errors: list[str] = []
    orphans: list[str] = []
    for p in pools:
        state = states.get(p.name)
        if state is None:
            continue
        if state.unavailable is not None and state.unavailable_reason == "AuthFailed":
            auth.append(f"pool {p.name} ({p.provider}): {state.unavailable}")
        elif state.unavailable is not None:
            errors.append(f"pool {p.name} ({p.provider}): {state.unavailable}")
        if state.orphans:
            orphans.append(f"pool {p.name}: {_ids(state.orphans)}")
    if auth:
        plan.alert(
            AUTH_FAILED,
            Severity.CRITICAL,
            "the cloud provider rejected burstd's credentials; these pools are not scaled until they are "
            "fixed: " + "; ".join(auth),
        )
    if errors:
        plan.alert(
            PROVIDER_ERROR,
            Severity.WARNING,
            "the cloud provider cannot be asked for these pools; they are not grown: " + "; ".join(errors),
        )
    if orphans:
        plan.alert(
            ORPHANED,
            Severity.WARNING,
            "cloud instances tagged for burstd pools run (and bill) with no Machine or node-pool member "
            "behind them: " + "; ".join(orphans),
        )


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(sorted(ids)[:_MAX_IDS])
    more = len(ids) - _MAX_IDS
    return shown + (f" and {more} more" if more > 0 else "")
