"""A native node pool (TKE, ACK) as the engine's ``PoolState``. Pure: no I/O, no clock.

The provider reports the node pool (``NodePoolBackend.node_pool``); the daemon puts it in
``Snapshot.node_pools`` and ``build_world`` turns it into a pool here, as it turns a MachineDeployment and its
Machines into one.

Each member becomes a ``MachineInfo`` named by its **instance id** (not its Kubernetes Node name): the
engine's ``MarkMachines`` names the machines to remove, and the node-pool actuator hands exactly those names
to ``NodePoolBackend.remove_nodes``, which takes instance ids. An instance has its id from launch on, while
its Node name exists only once it has joined the cluster, so the id names every member, including one that
never joined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from burstd.model.world import MachineInfo, PoolState
from burstd.policy.claims import NODE_POOL_KINDS
from burstd.policy.spec import PoolSpec

if TYPE_CHECKING:
    from burstd.runtime.observe import NodePoolObs

__all__ = ["NODE_POOL_KINDS", "is_native", "node_pool_label", "node_pool_state"]


def is_native(pool: PoolSpec) -> bool:
    """True for a pool backed by a native node pool (``tke-nodepool``, ``ack-nodepool``) that names it."""
    return pool.backend in NODE_POOL_KINDS and pool.node_pool is not None


def node_pool_label(pool: PoolSpec) -> str:
    """How messages name the pool's node pool, e.g. ``TKE node pool cls-1/np-1``."""
    kind = NODE_POOL_KINDS.get(pool.backend, pool.backend)
    if pool.node_pool is None:
        return f"{kind} of pool {pool.name}"
    return f"{kind} {pool.node_pool.cluster_id}/{pool.node_pool.node_pool_id}"


def node_pool_state(pool: PoolSpec, obs: NodePoolObs) -> PoolState:
    """The pool as the engine sees it: ``desired`` is the node pool's desired count; ``ready`` counts
    members Ready and not being removed; ``existing`` counts every member (one being removed still bills
    until it is gone, and a failed one holds an instance too); ``failed`` the members whose launch or join
    failed. Pods per node are not observed here (the cloud does not report them), so 0."""
    members = obs.node_pool.members
    return PoolState(
        name=pool.name,
        desired=obs.node_pool.desired,
        ready=sum(1 for m in members if m.ready and not m.deleting),
        existing=len(members),
        failed=sum(1 for m in members if m.failed),
        observed_at=obs.observed_at,
        machines=tuple(
            MachineInfo(
                name=m.instance_id, ready=m.ready, pods=0, created_at=m.created_at, deleting=m.deleting
            )
            for m in sorted(members, key=lambda m: m.instance_id)
        ),
    )
