"""Scaling pools: up at once, down only for nodes whose replicas have already left them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from burstd.engine.capacity import replicas_by_cluster
from burstd.engine.plan import Plan
from burstd.engine.pools import pick_removals
from burstd.engine.statics import statics
from burstd.model.actions import MarkMachines, Rebalance, ScalePool
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy


def scale(
    state: BurstState,
    changes: dict[str, Any],
    plan: Plan,
    policy: BurstPolicy,
    world: World,
    targets: Mapping[str, int],
    previous: Mapping[str, int],
    per_node: Mapping[str, int],
    now: float,
) -> dict[str, int]:
    """Scale pools: up at once; down only for nodes whose replicas have already left. Returns the new
    pool targets (also recorded in ``changes``).

    A ScalePool is emitted whenever the target differs from the node count the pool is observed to ask
    for (``spec.replicas``), whatever the state recorded: actions are absolute and the actuator skips one
    that already holds, so repeating one the observation has not caught up with yet is harmless, while
    trusting the state would leave nodes behind after a crash between an action and the state save.
    """
    spec = policy.spec
    recorded = {p.name: world.pools[p.name].desired for p in spec.burst.pools}
    by_cluster_kept: dict[str, int] = {}
    for p in spec.burst.pools:
        kept = min(world.pools[p.name].ready, targets[p.name]) * per_node[p.name]
        by_cluster_kept[p.cluster] = by_cluster_kept.get(p.cluster, 0) + kept
    keys = statics(policy).key_set
    placed = replicas_by_cluster(world, policy)
    shifted = (
        sum(changes.get("shifted", state.shifted).values()) if spec.shift.mode == "static-weights" else None
    )
    final = dict(targets)
    rebalance_needed = False
    for p in spec.burst.pools:
        pool = world.pools[p.name]
        new = targets[p.name]
        if new >= previous[p.name]:
            continue
        fits = placed.get(p.cluster, 0) <= by_cluster_kept.get(p.cluster, 0)
        if shifted is not None:
            fits = fits and shifted <= sum(by_cluster_kept.values())
        if not fits:
            # Replicas still run there: remove only nodes that are not Ready.
            final[p.name] = max(new, min(previous[p.name], pool.ready))
            rebalance_needed = True
    for p in spec.burst.pools:
        name = p.name
        before = recorded[name]
        after = final[name]
        if after > before:
            plan.actions.append(
                ScalePool(
                    name,
                    after,
                    before,
                    f"cloud target {changes['target_cloud_replicas']} replicas needs {after} nodes in {name}",
                )
            )
        elif after < before:
            machines = pick_removals(world.pools[name], before - after)
            if machines:
                plan.actions.append(MarkMachines(name, machines, "emptiest first"))
            plan.actions.append(ScalePool(name, after, before, "release nodes the replicas have left"))
    if rebalance_needed:
        plan.reasons.append("waiting for replicas to leave cloud nodes before removing them")
        if spec.shift.mode == "overflow" and (
            state.rebalance_requested_at is None or now - state.rebalance_requested_at >= spec.drain.interval
        ):
            plan.actions.append(
                Rebalance(tuple(sorted(keys)), "move replicas back to the base before releasing cloud nodes")
            )
            changes["rebalance_requested_at"] = now
        requested = changes.get("rebalance_requested_at", state.rebalance_requested_at)
        if spec.shift.mode == "overflow" and requested is not None:
            plan.wake(requested + spec.drain.interval, now)
    changes["pool_targets"] = final
    return final
