"""Capacity arithmetic: replicas per node, room on the base, and the built-in signals."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from burstd.model.world import ClusterSummary, Resources, Sample, WorkloadState, World
from burstd.policy.spec import BurstPolicy, PoolSpec


@dataclass(frozen=True, slots=True)
class Demand:
    """The managed workloads taken together."""

    replicas: int
    #: requests of the average replica (total requests / replicas); the first workload's when idle
    request: Resources
    on_base: int
    on_cloud: int
    observed_at: float


def demand_of(world: World, policy: BurstPolicy) -> Demand | None:
    """Aggregate the managed workloads; None when one of them is missing from the world."""
    keys = [w.propagation_policy.key for w in policy.spec.workloads]
    by_key = {w.key: w for w in world.workloads}
    found: list[WorkloadState] = [by_key[k] for k in keys if k in by_key]
    if len(found) != len(keys):
        return None
    replicas = sum(w.desired_replicas for w in found)
    total = Resources()
    for w in found:
        total = total + w.request.scale(w.desired_replicas)
    request = total.scale(1.0 / replicas) if replicas > 0 else found[0].request
    base = set(policy.spec.base.clusters)
    on_base = sum(n for w in found for c, n in w.replicas_by_cluster.items() if c in base)
    on_cloud = sum(n for w in found for c, n in w.replicas_by_cluster.items() if c not in base)
    return Demand(replicas, request, on_base, on_cloud, min(w.observed_at for w in found))


def replicas_per_node(pool: PoolSpec, request: Resources) -> int:
    """How many average replicas one node of the pool holds (CPU, memory and pod-count limits)."""
    a = pool.allocatable
    return _fits(a.cpu, a.memory, a.pods, request.cpu, request.memory)


@lru_cache(maxsize=1024)
def _fits(cpu: float, memory: float, pods: int, req_cpu: float, req_memory: float) -> int:
    fits = pods
    if req_cpu > 0:
        fits = min(fits, math.floor(cpu / req_cpu + 1e-9))
    if req_memory > 0:
        fits = min(fits, math.floor(memory / req_memory + 1e-9))
    return max(fits, 0)


def base_clusters(world: World, policy: BurstPolicy) -> list[ClusterSummary]:
    return [world.clusters[c] for c in policy.spec.base.clusters if c in world.clusters]


def base_room(world: World, policy: BurstPolicy, demand: Demand) -> dict[str, int]:
    """Replicas of the managed workloads each Ready base cluster can hold, keeping the reserve free.

    Room = allocatable x (1 - reserve) - what other workloads use, where other workloads' use is
    (allocated + allocating) minus the managed workloads' own replicas there (they would move, not add),
    never below zero.
    """
    reserve = policy.spec.base.reserve
    ours = _ours_by_cluster(world, policy)
    out: dict[str, int] = {}
    for cluster in base_clusters(world, policy):
        if not cluster.ready:
            out[cluster.name] = 0
            continue
        used = cluster.allocated + cluster.allocating
        mine = demand.request.scale(ours.get(cluster.name, 0))
        # What other workloads use. The cluster summary and the replica counts are observed at different
        # moments; never let the difference make room out of nothing.
        others_cpu = max(0.0, used.cpu - mine.cpu)
        others_mem = max(0.0, used.memory - mine.memory)
        room_cpu = cluster.allocatable.cpu * (1 - reserve.cpu) - others_cpu
        room_mem = cluster.allocatable.memory * (1 - reserve.memory) - others_mem
        fits = math.inf
        if demand.request.cpu > 0:
            fits = min(fits, room_cpu / demand.request.cpu)
        if demand.request.memory > 0:
            fits = min(fits, room_mem / demand.request.memory)
        out[cluster.name] = 0 if fits == math.inf else max(0, math.floor(fits + 1e-9))
    return out


def _ours_by_cluster(world: World, policy: BurstPolicy) -> dict[str, int]:
    keys = {w.propagation_policy.key for w in policy.spec.workloads}
    out: dict[str, int] = {}
    for w in world.workloads:
        if w.key in keys:
            for cluster, n in w.replicas_by_cluster.items():
                out[cluster] = out.get(cluster, 0) + n
    return out


def builtin_signals(
    world: World, policy: BurstPolicy, demand: Demand | None, room: Mapping[str, int] | None = None
) -> dict[str, Sample]:
    """The signals burstd computes from the Karmada observations (see BUILTIN_SIGNALS in the spec).
    ``room`` is :func:`base_room`'s answer when the caller has it already."""
    out: dict[str, Sample] = {}
    clusters = [c for c in base_clusters(world, policy) if c.ready]
    if clusters:
        seen = min(c.observed_at for c in clusters)
        for resource in ("cpu", "memory"):
            alloc = sum(_get(c.allocatable, resource) for c in clusters)
            if alloc > 0:
                used = sum(_get(c.allocated, resource) + _get(c.allocating, resource) for c in clusters)
                out[f"base.{resource}.requestedRatio"] = Sample(used / alloc, seen)
    if demand is not None:
        out["workload.unschedulableReplicas"] = Sample(
            float(sum(w.unschedulable_replicas for w in world.workloads if _managed(w, policy))),
            demand.observed_at,
        )
        if clusters:
            fits = sum((room if room is not None else base_room(world, policy, demand)).values())
            seen = min([demand.observed_at, *(c.observed_at for c in clusters)])
            out["fhpa.unfitReplicas"] = Sample(float(demand.replicas - fits), seen)
    return out


def _managed(workload: WorkloadState, policy: BurstPolicy) -> bool:
    return any(w.propagation_policy.key == workload.key for w in policy.spec.workloads)


def _get(resources: Resources, name: str) -> float:
    return resources.cpu if name == "cpu" else resources.memory


def oldest(samples: Iterable[float]) -> float:
    return min(samples, default=math.inf)


def cloud_capacity(ready_nodes: Mapping[str, int], per_node: Mapping[str, int]) -> int:
    """Replicas the given Ready nodes hold, pool by pool."""
    return sum(n * per_node.get(pool, 0) for pool, n in ready_nodes.items())
