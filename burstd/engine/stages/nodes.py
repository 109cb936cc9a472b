"""Nodes: the pools scaled (up at once, down only once the replicas have left, see engine.scaling), and
each pool's provisioning clock."""

from __future__ import annotations

from burstd.engine.plan import Plan
from burstd.engine.scaling import Scaled, scale
from burstd.engine.shifting import Shift
from burstd.engine.stages.allocation import NodeTargets
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.health import Health
from burstd.model.world import World


def scale_nodes(
    world: World, seen: Observed, health: Health, placed: NodeTargets, share: Shift, plan: Plan, now: float
) -> Scaled:
    return scale(
        seen.state,
        plan,
        seen.policy,
        world,
        placed.target,
        share.shifted,
        placed.targets,
        health.previous,
        seen.per_node,
        health.clocks,
        health.backoff,
        now,
    )
