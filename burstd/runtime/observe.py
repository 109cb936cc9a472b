"""From watch-cache snapshots to the engine's ``World`` for one policy. Pure: no I/O, no clock.

What a policy needs but the snapshot lacks is left out of the ``World`` (the engine then holds with
"not observed"); ``describe_missing`` names those pieces for the logs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from burstd.engine.quotes import PoolCloudObs, apply_cloud, cloud_key
from burstd.engine.webster import descending_for
from burstd.kube.objects import (
    BindingInfo,
    FederatedHPAInfo,
    MachineObs,
    PropagationPolicyInfo,
    ScalableInfo,
    ScalableKind,
)
from burstd.model.cloud import NodePool
from burstd.model.world import (
    ClusterSummary,
    FleetBudget,
    MachineInfo,
    PoolState,
    Sample,
    WorkloadState,
    World,
)
from burstd.policy.spec import BurstPolicy, PoolSpec, WorkloadSpec
from burstd.runtime.actuate_base import FIELD_MANAGER
from burstd.runtime.observe_nodepool import is_native, node_pool_label, node_pool_state

#: The Cluster API kind behind each pool backend this module builds pools for.
CAPI_KINDS: Mapping[str, ScalableKind] = MappingProxyType(
    {"capi-machinedeployment": "MachineDeployment", "capi-machinepool": "MachinePool"}
)
_NO_SIGNALS: Mapping[str, Sample] = MappingProxyType({})
_NO_BUDGET = FleetBudget()


@dataclass(frozen=True, slots=True)
class NodePoolObs:
    """A native node pool (TKE, ACK) as its provider reported it, and when."""

    node_pool: NodePool
    observed_at: float


def node_pool_key(cluster_id: str, node_pool_id: str) -> str:
    """How ``Snapshot.node_pools`` keys a native node pool."""
    return f"{cluster_id}/{node_pool_id}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The watch caches' contents, keyed as the caches key them (``namespace/name``; ``name`` for Clusters).

    ``scalables`` holds MachineDeployments and MachinePools together (their kind is checked against each
    pool's backend).
    """

    clusters: Mapping[str, ClusterSummary] = field(default_factory=dict)
    fhpas: Mapping[str, FederatedHPAInfo] = field(default_factory=dict)
    bindings: Mapping[str, BindingInfo] = field(default_factory=dict)
    policies: Mapping[str, PropagationPolicyInfo] = field(default_factory=dict)
    scalables: Mapping[str, ScalableInfo] = field(default_factory=dict)
    machines: Mapping[str, MachineObs] = field(default_factory=dict)
    #: native node pools read from the cloud providers (not from a watch cache), by ``node_pool_key``
    node_pools: Mapping[str, NodePoolObs] = field(default_factory=dict)
    #: what the cloud providers said about each pool (quotes, errors, orphans), by ``cloud_key(policy,
    #: pool)`` (``burstd.engine.quotes``); filled by the daemon's ``CloudView``
    quotes: Mapping[str, PoolCloudObs] = field(default_factory=dict)


def policy_clusters(policy: BurstPolicy) -> list[str]:
    """Base clusters, then pool clusters, each once, in the policy's order."""
    names = [*policy.spec.base.clusters, *(p.cluster for p in policy.spec.burst.pools)]
    return list(dict.fromkeys(names))


def bindings_of(snap: Snapshot, policy_key: str) -> list[BindingInfo]:
    """The ResourceBindings a PropagationPolicy placed (by their annotations), ordered by key."""
    return sorted((b for b in snap.bindings.values() if b.policy_key == policy_key), key=lambda b: b.key)


def _workload(wl: WorkloadSpec, snap: Snapshot) -> WorkloadState | None:
    key = wl.propagation_policy.key
    pp = snap.policies.get(key)
    bindings = bindings_of(snap, key)
    if pp is None or not bindings:
        return None
    fhpa = snap.fhpas.get(wl.federated_hpa.key) if wl.federated_hpa is not None else None
    seen = [pp.observed_at, *(b.observed_at for b in bindings)]
    if fhpa is not None:
        seen.append(fhpa.observed_at)
    if fhpa is not None and fhpa.desired_replicas is not None:
        desired = fhpa.desired_replicas
    else:
        desired = sum(b.replicas for b in bindings)
    placed: dict[str, int] = {}
    ready: dict[str, int] = {}
    for b in bindings:
        for cluster, n in b.clusters.items():
            placed[cluster] = placed.get(cluster, 0) + n
        for cluster, n in b.ready_by_cluster.items():
            ready[cluster] = ready.get(cluster, 0) + n
    # The first binding that has replicas: a policy may also place a ConfigMap (no replicas, no requests).
    divided = next((b for b in bindings if b.replicas > 0), bindings[0])
    return WorkloadState(
        key=key,
        desired_replicas=desired,
        request=divided.request,
        replicas_by_cluster=placed,
        ready_by_cluster=ready,
        unschedulable_replicas=sum(max(0, b.replicas - sum(b.clusters.values())) for b in bindings),
        observed_at=min(seen),
        weights=dict(pp.weights),
        weights_by_burstd=pp.weights_shape_ok and tuple(pp.weights_managers) == (FIELD_MANAGER,),
        ties_descending=descending_for(divided.resource_uid),
    )


def node_pool_of(pool: PoolSpec, snap: Snapshot) -> NodePoolObs | None:
    """The pool's native node pool in ``snap``; None if absent (or not a native node pool)."""
    if not is_native(pool) or pool.node_pool is None:
        return None
    return snap.node_pools.get(node_pool_key(pool.node_pool.cluster_id, pool.node_pool.node_pool_id))


def scalable_of(pool: PoolSpec, snap: Snapshot) -> ScalableInfo | None:
    """The pool's MachineDeployment or MachinePool in ``snap``; None if absent (or not a Cluster API pool)."""
    return _scalable(pool, snap)


def _scalable(pool: PoolSpec, snap: Snapshot) -> ScalableInfo | None:
    kind = CAPI_KINDS.get(pool.backend)
    if kind is None or pool.ref is None:
        return None
    obj = snap.scalables.get(pool.ref.key)
    return obj if obj is not None and obj.kind == kind else None


def machines_of(snap: Snapshot, obj: ScalableInfo) -> list[MachineObs]:
    """The Machines a MachineDeployment or MachinePool owns (by label, same namespace), ordered by name."""
    namespace, _, name = obj.key.partition("/")
    return sorted(
        (
            m
            for m in snap.machines.values()
            if m.namespace == namespace and m.owner_kind == obj.kind and m.owner_name == name
        ),
        key=lambda m: m.name,
    )


def _pool(pool: PoolSpec, obj: ScalableInfo, snap: Snapshot) -> PoolState:
    machines = machines_of(snap, obj)
    status_replicas = obj.status_replicas or 0
    desired = obj.replicas if obj.replicas is not None else status_replicas
    if machines:
        ready = sum(1 for m in machines if m.ready and not m.deleting)
        existing = len(machines)  # deleting Machines still bill until they are gone
    else:
        ready, existing = obj.ready_replicas or 0, status_replicas
    return PoolState(
        name=pool.name,
        desired=desired,
        ready=ready,
        existing=existing,
        failed=sum(1 for m in machines if m.failed),
        observed_at=min([obj.observed_at, *(m.observed_at for m in machines)]),
        # The management cluster does not see the workload cluster's pods: pods is unknown, so 0.
        machines=tuple(
            MachineInfo(name=m.name, ready=m.ready, pods=0, created_at=m.created_at, deleting=m.deleting)
            for m in machines
        ),
    )


def build_world(
    policy: BurstPolicy,
    snap: Snapshot,
    signals: Mapping[str, Sample] = _NO_SIGNALS,
    budget: FleetBudget = _NO_BUDGET,
) -> World:
    """The ``World`` of one policy: its clusters, its workloads and its pools as observed.

    Pieces that are not observed are absent (never invented): a workload needs its PropagationPolicy and
    at least one ResourceBinding; a Cluster API pool needs its MachineDeployment/MachinePool, a native
    pool its node pool in ``snap.node_pools`` (``burstd.runtime.observe_nodepool``).
    """
    clusters = {name: snap.clusters[name] for name in policy_clusters(policy) if name in snap.clusters}
    workloads = tuple(w for w in (_workload(wl, snap) for wl in policy.spec.workloads) if w is not None)
    pools: dict[str, PoolState] = {}
    for pool in policy.spec.burst.pools:
        obj = _scalable(pool, snap)
        if obj is not None:
            pools[pool.name] = _pool(pool, obj, snap)
        elif (native := node_pool_of(pool, snap)) is not None:
            pools[pool.name] = node_pool_state(pool, native)
        if pool.name in pools:
            quoted = snap.quotes.get(cloud_key(policy.metadata.name, pool.name))
            pools[pool.name] = apply_cloud(pools[pool.name], pool, quoted)
    return World(clusters=clusters, workloads=workloads, pools=pools, signals=signals, budget=budget)


def _missing(policy: BurstPolicy, snap: Snapshot) -> Iterator[str]:
    for name in policy_clusters(policy):
        if name not in snap.clusters:
            yield f"Cluster {name}"
    for wl in policy.spec.workloads:
        key = wl.propagation_policy.key
        if key not in snap.policies:
            yield f"PropagationPolicy {key}"
        elif not bindings_of(snap, key):
            yield f"ResourceBinding for {key}"
        if wl.federated_hpa is not None and wl.federated_hpa.key not in snap.fhpas:
            yield f"FederatedHPA {wl.federated_hpa.key}"
    for pool in policy.spec.burst.pools:
        kind = CAPI_KINDS.get(pool.backend)
        if kind is not None and pool.ref is not None and _scalable(pool, snap) is None:
            yield f"{kind} {pool.ref.key}"
        elif is_native(pool) and node_pool_of(pool, snap) is None:
            yield node_pool_label(pool)


def describe_missing(policy: BurstPolicy, snap: Snapshot) -> list[str]:
    """What ``policy`` needs that ``snap`` lacks, e.g. ``PropagationPolicy shop/web``, ``Cluster idc-1``."""
    return list(_missing(policy, snap))
