"""Fleet-wide limits shared by every policy: what each policy may use, higher priority served first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from burstd.model.world import FleetBudget
from burstd.policy.spec import FleetLimits


@dataclass(frozen=True, slots=True)
class Usage:
    """One policy's share of the fleet: what it runs now and what it is waiting for."""

    policy: str
    priority: int
    nodes: int
    hourly_cost: float
    wanted_nodes: int = 0
    wanted_hourly_cost: float = 0.0


def budgets(limits: FleetLimits | None, usage: Sequence[Usage]) -> dict[str, FleetBudget]:
    """Budget per policy: the fleet limit minus what every other policy runs, minus what policies of
    higher priority are still waiting for. Nothing is taken from a policy that already runs it; a
    lower-priority policy simply cannot grow into room a higher-priority one has asked for."""
    if limits is None:
        return {u.policy: FleetBudget() for u in usage}
    max_nodes = limits.spec.max_cloud_nodes
    max_cost = limits.spec.max_hourly_cost.amount if limits.spec.max_hourly_cost else None
    out: dict[str, FleetBudget] = {}
    for u in usage:
        others = [o for o in usage if o.policy != u.policy]
        ahead = [o for o in others if o.priority > u.priority]
        nodes = None
        if max_nodes is not None:
            nodes = max_nodes - sum(o.nodes for o in others) - sum(o.wanted_nodes for o in ahead)
            nodes = max(nodes, 0)
        cost = None
        if max_cost is not None:
            cost = max_cost - sum(o.hourly_cost for o in others) - sum(o.wanted_hourly_cost for o in ahead)
            cost = max(cost, 0.0)
        out[u.policy] = FleetBudget(nodes, cost)
    return out
