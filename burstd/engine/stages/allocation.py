"""Allocation: node targets per pool for the cloud target, within the node, cost and quota limits. A
target held above today's demand keeps the nodes there are but buys none beyond what that demand needs."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.engine.plan import Plan
from burstd.engine.pools import Limits, allocate, preference
from burstd.engine.stages.cloud_answers import CloudAnswers
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.health import Health
from burstd.engine.stages.outlook import Outlook
from burstd.engine.stages.sizing import Sizing
from burstd.model.actions import Severity
from burstd.model.world import World


@dataclass(frozen=True, slots=True)
class NodeTargets:
    targets: dict[str, int]  # nodes each pool should hold
    target: int  # the cloud target, lowered to what the limits let the pools hold


def place(
    world: World,
    seen: Observed,
    outlook: Outlook,
    health: Health,
    cloud: CloudAnswers,
    sizing: Sizing,
    plan: Plan,
) -> NodeTargets:
    spec = seen.policy.spec
    per_node = seen.per_node
    previous = health.previous
    floor_nodes = outlook.floor_nodes
    target = sizing.target
    node_cap = _min_opt(spec.limits.max_cloud_nodes, world.budget.max_nodes)
    node_limit = None if node_cap is None else int(node_cap)
    cost_limit = _min_opt(
        spec.limits.max_hourly_cost.amount if spec.limits.max_hourly_cost else None,
        world.budget.max_hourly_cost,
    )
    order = preference(seen.policy, world.pools)
    limits = Limits(node_limit, cost_limit)
    usable, prices, ceilings = cloud.usable, seen.prices, cloud.ceilings
    alloc = allocate(target, floor_nodes, previous, order, per_node, usable, prices, limits, ceilings)
    targets = alloc.targets
    capacity_all = sum(targets[p] * per_node[p] for p in targets)
    if alloc.capped_by and (target > capacity_all or floor_nodes > sum(targets.values())):
        plan.alert(
            _capped_code(alloc.capped_by),
            Severity.WARNING,
            f"cloud capacity capped by {alloc.capped_by}: wanted {target} replicas, can hold {capacity_all}",
        )
        target = min(target, capacity_all)
    need = min(target, sizing.wanted)
    if need < target and any(n > previous[p] for p, n in targets.items()):
        # The target is held above today's demand (scale-in not yet due): it keeps the nodes there are but
        # buys none beyond what today's demand needs (nodes lost, or a target from an older state).
        up = allocate(need, floor_nodes, previous, order, per_node, usable, prices, limits, ceilings).targets
        targets = {p: n if n <= previous[p] else min(n, max(previous[p], up[p])) for p, n in targets.items()}
    return NodeTargets(targets, target)


def _capped_code(capped_by: str) -> str:
    """The alert code for what capped the cloud capacity."""
    if capped_by.startswith("max"):
        return "LimitReached"
    if capped_by.startswith("cloud quota"):
        return "CloudQuotaExhausted"
    return "ProvisioningFailed"


def _min_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
