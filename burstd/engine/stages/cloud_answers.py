"""The cloud's answers: pools that must not grow (provider errors, quota used up, no price), the quota's
ceilings, the provider alerts, and which pools may take nodes this evaluation."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.engine.cloud import alert_cloud, blocked_pools, quota_ceilings
from burstd.engine.plan import Plan
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.health import Health
from burstd.model.world import World


@dataclass(frozen=True, slots=True)
class CloudAnswers:
    blocked: dict[str, str]  # pool -> why it is not grown
    ceilings: dict[str, int]  # pool -> the most nodes the cloud quota lets it hold
    usable: dict[str, bool]  # pool -> may it take nodes (not in backoff, not blocked, a node holds a replica)


def ask_cloud(world: World, seen: Observed, health: Health, plan: Plan) -> CloudAnswers:
    pools = seen.policy.spec.burst.pools
    blocked = blocked_pools(pools, world.pools, seen.prices)
    for name, why in sorted(blocked.items()):
        plan.reasons.append(f"pool {name} is not grown: {why}")
    alert_cloud(plan, pools, world.pools)
    ceilings = quota_ceilings(pools, world.pools)
    backoff = health.backoff
    per_node = seen.per_node
    usable = {p.name: p.name not in backoff and p.name not in blocked and per_node[p.name] > 0 for p in pools}
    return CloudAnswers(blocked, ceilings, usable)
