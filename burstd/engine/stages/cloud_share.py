"""The cloud share: how many replicas run on the cloud, stepped towards what the Ready capacity that stays
allows (static weights, see engine.shifting), or taken as Karmada spills them over (overflow)."""

from __future__ import annotations

from burstd.engine.plan import Plan
from burstd.engine.share import balanced
from burstd.engine.shifting import Shift, shift
from burstd.engine.stages.allocation import NodeTargets
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.outlook import Outlook
from burstd.engine.stages.signals import Signals
from burstd.model.world import World


def share_out(
    world: World,
    seen: Observed,
    signals: Signals,
    outlook: Outlook,
    placed: NodeTargets,
    plan: Plan,
    now: float,
) -> Shift:
    policy, state, demand, per_node = seen.policy, seen.state, seen.demand, seen.per_node
    targets = placed.targets
    cloud_clusters = seen.statics.cloud_clusters
    kept_by_cluster: dict[str, int] = dict.fromkeys(cloud_clusters, 0)
    ready_by_cluster: dict[str, int] = dict.fromkeys(cloud_clusters, 0)
    for p in policy.spec.burst.pools:
        ready = world.pools[p.name].ready
        kept_by_cluster[p.cluster] += min(ready, targets[p.name]) * per_node[p.name]
        ready_by_cluster[p.cluster] += ready * per_node[p.name]
    desired = balanced(outlook.replicas, signals.base_total, sum(kept_by_cluster.values()))
    if placed.target == 0 and outlook.floor_nodes == 0:
        desired = 0  # no burst wanted: nothing runs on the cloud, not even on minimum nodes
    if policy.spec.shift.mode == "static-weights":
        return shift(
            state, plan, policy, world, demand, signals.room, kept_by_cluster, ready_by_cluster, desired, now
        )
    # Overflow mode: Karmada spills replicas onto the cloud by itself as capacity shows up.
    share = demand.on_cloud
    return Shift(
        share,
        min(desired, share),
        True,
        state.shifted,
        state.weights,
        state.last_shift_at,
        state.last_shift_direction,
    )
