"""Scaling pools: up at once, down only for nodes whose replicas have already left them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from burstd.engine.capacity import replicas_by_cluster
from burstd.engine.plan import Plan
from burstd.engine.pools import pick_removals
from burstd.engine.statics import statics
from burstd.model.actions import MarkMachines, Rebalance, ScalePool
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy


@dataclass(frozen=True, slots=True)
class Scaled:
    """The pools' node targets after one evaluation, and the state it leaves."""

    final: dict[str, int]  # nodes each pool is asked for (the next state's pool targets)
    rebalance_requested_at: float | None  # the next state's
    provisioning_since: dict[str, float]  # the next state's provisioning clocks


def scale(
    state: BurstState,
    plan: Plan,
    policy: BurstPolicy,
    world: World,
    target_cloud_replicas: int,
    shifted: Mapping[str, int],
    targets: Mapping[str, int],
    previous: Mapping[str, int],
    per_node: Mapping[str, int],
    clocks: Mapping[str, float],
    backoff: Mapping[str, float],
    now: float,
) -> Scaled:
    """Scale pools: up at once; down only for nodes whose replicas have already left. Returns the new
    pool targets and the state they leave; actions, reasons and wake-up times go to ``plan``.
    ``shifted`` is the cloud replicas per workload the weights send there after this evaluation's shift
    (static-weights mode). Each pool's provisioning clock (``clocks``: those still running) runs from the
    first decision that left it waiting for nodes; pools in ``backoff`` have none.

    A ScalePool is emitted whenever the target differs from the node count the pool is observed to ask
    for (``spec.replicas``), whatever the state recorded: actions are absolute and the actuator skips one
    that already holds, so repeating one the observation has not caught up with yet is harmless, while
    trusting the state would leave nodes behind after a crash between an action and the state save.
    """
    spec = policy.spec
    final = dict(targets)
    rebalance_needed = False
    shrinking = [p for p in spec.burst.pools if targets[p.name] < previous[p.name]]
    if shrinking:
        by_cluster_kept: dict[str, int] = {}
        for p in spec.burst.pools:
            kept = min(world.pools[p.name].ready, targets[p.name]) * per_node[p.name]
            by_cluster_kept[p.cluster] = by_cluster_kept.get(p.cluster, 0) + kept
        placed = replicas_by_cluster(world, policy)
        on_cloud = sum(shifted.values()) if spec.shift.mode == "static-weights" else None
        for p in shrinking:
            fits = placed.get(p.cluster, 0) <= by_cluster_kept.get(p.cluster, 0)
            if on_cloud is not None:
                fits = fits and on_cloud <= sum(by_cluster_kept.values())
            if not fits:
                # Replicas still run there: remove only nodes that are not Ready.
                final[p.name] = max(targets[p.name], min(previous[p.name], world.pools[p.name].ready))
                rebalance_needed = True
    for p in spec.burst.pools:
        name = p.name
        before = world.pools[name].desired
        after = final[name]
        if after > before:
            plan.actions.append(
                ScalePool(
                    name,
                    after,
                    before,
                    f"cloud target {target_cloud_replicas} replicas needs {after} nodes in {name}",
                )
            )
        elif after < before:
            machines = pick_removals(world.pools[name], before - after)
            if machines:
                plan.actions.append(MarkMachines(name, machines, "emptiest first"))
            plan.actions.append(ScalePool(name, after, before, "release nodes the replicas have left"))
    requested = state.rebalance_requested_at
    if rebalance_needed:
        plan.reasons.append("waiting for replicas to leave cloud nodes before removing them")
        if spec.shift.mode == "overflow" and (requested is None or now - requested >= spec.drain.interval):
            plan.actions.append(
                Rebalance(
                    tuple(sorted(statics(policy).key_set)),
                    "move replicas back to the base before releasing cloud nodes",
                )
            )
            requested = now
        if spec.shift.mode == "overflow" and requested is not None:
            plan.wake(requested + spec.drain.interval, now)
    # Each pool's provisioning clock runs from the first decision that left it waiting for nodes.
    since = {p: clocks.get(p, now) for p in final if final[p] > world.pools[p].ready and p not in backoff}
    for at in since.values():
        plan.wake(at + spec.burst.provision_timeout, now)
    return Scaled(final, requested, since)
