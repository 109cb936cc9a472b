"""Capacity arithmetic: replicas per node, room on the base, and the built-in signals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from burstd.engine.statics import statics
from burstd.engine.triggers import GroupResult
from burstd.model.state import BurstState
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
    st = statics(policy)
    found: list[WorkloadState] = [w for w in world.workloads if w.key in st.key_set]
    if len(found) != len(st.keys):
        return None
    if len(found) == 1:
        w = found[0]
        replicas, request, seen = w.desired_replicas, w.request, w.observed_at
    else:
        replicas = sum(w.desired_replicas for w in found)
        cpu = sum(w.request.cpu * w.desired_replicas for w in found)
        mem = sum(w.request.memory * w.desired_replicas for w in found)
        request = Resources(cpu / replicas, mem / replicas) if replicas > 0 else found[0].request
        seen = min(w.observed_at for w in found)
    on_base = on_cloud = 0
    base = st.base_set
    for w in found:
        for c, n in w.replicas_by_cluster.items():
            if c in base:
                on_base += n
            else:
                on_cloud += n
    return Demand(replicas, request, on_base, on_cloud, seen)


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


def cloud_part(demand: float, base: int, headroom: float) -> int:
    """Cloud replicas a burst holds for ``demand``: what the base's room (``base`` replicas) cannot hold,
    plus ``headroom`` of that part as spare (rounded up); 0 while the base holds the demand."""
    above = demand - base
    if above <= 0:
        return 0
    return max(0, math.ceil(above * (1 + headroom) - 1e-9))


#: Built-in signals that measure the base's room: while the room holds the demand, a condition on one of
#: them says nothing the sizing does not know (a base 95% requested still holds the other 5%).
ROOM_SIGNALS = frozenset({"base.cpu.requestedRatio", "base.memory.requestedRatio", "fhpa.unfitReplicas"})


def room_blind(result: GroupResult) -> tuple[str, ...]:
    """The conditions met for their whole ``for`` whose signal the base's room does not explain (a
    PromQL query, ``workload.unschedulableReplicas``), as labels for reasons."""
    return tuple(
        cond.signal or f"promql {cond.promql!r}"
        for cond, _, held in result.seen
        if held is not None and held >= cond.for_ and cond.signal not in ROOM_SIGNALS
    )


def base_clusters(world: World, policy: BurstPolicy) -> list[ClusterSummary]:
    return [world.clusters[c] for c in policy.spec.base.clusters if c in world.clusters]


def counted(world: World, policy: BurstPolicy, state: BurstState) -> dict[str, int]:
    """Replicas of the managed workloads that each base cluster's resource summary counts.

    The scheduler's placement (the ResourceBindings) changes at once when burstd moves replicas (a weight
    write, a rebalance); the summary follows only once the pods moved and Karmada's cluster status
    controller refreshed it (every 10 s by default). Until a base cluster's summary is newer than burstd's
    last move, it counts the replicas where they were then (``state.replicas_in_summaries``); after that,
    where the scheduler placed them now.
    """
    ours = replicas_by_cluster(world, policy)
    moves = [t for t in (state.last_shift_at, state.rebalance_requested_at) if t is not None]
    before = state.replicas_in_summaries
    if not moves or not before:
        return {c: ours.get(c, 0) for c in policy.spec.base.clusters}
    moved_at = max(moves)
    out: dict[str, int] = {}
    for c in policy.spec.base.clusters:
        summary = world.clusters.get(c)
        stale = summary is not None and summary.changed_at is not None and summary.changed_at < moved_at
        out[c] = before[c] if stale and c in before else ours.get(c, 0)
    return out


def base_room(
    world: World, policy: BurstPolicy, demand: Demand, ours: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Replicas of the managed workloads each Ready base cluster can hold, keeping the reserve free.

    Room = allocatable x (1 - reserve) - what other workloads use, where other workloads' use is
    (allocated + allocating) minus the managed workloads' own replicas there (they would move, not add),
    never below zero. ``ours``: the managed replicas each summary counts (:func:`counted`); the scheduler's
    placement when not given.
    """
    reserve = policy.spec.base.reserve
    if ours is None:
        ours = replicas_by_cluster(world, policy)
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


def replicas_by_cluster(world: World, policy: BurstPolicy) -> dict[str, int]:
    """Replicas of the managed workloads that the scheduler placed in each cluster."""
    keys = statics(policy).key_set
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
        alloc_cpu = alloc_mem = used_cpu = used_mem = 0.0
        for c in clusters:
            alloc_cpu += c.allocatable.cpu
            alloc_mem += c.allocatable.memory
            used_cpu += c.allocated.cpu + c.allocating.cpu
            used_mem += c.allocated.memory + c.allocating.memory
        if alloc_cpu > 0:
            out["base.cpu.requestedRatio"] = Sample(used_cpu / alloc_cpu, seen)
        if alloc_mem > 0:
            out["base.memory.requestedRatio"] = Sample(used_mem / alloc_mem, seen)
    if demand is not None:
        keys = statics(policy).key_set
        out["workload.unschedulableReplicas"] = Sample(
            float(sum(w.unschedulable_replicas for w in world.workloads if w.key in keys)),
            demand.observed_at,
        )
        if clusters:
            fits = sum((room if room is not None else base_room(world, policy, demand)).values())
            seen = min([demand.observed_at, *(c.observed_at for c in clusters)])
            out["fhpa.unfitReplicas"] = Sample(float(demand.replicas - fits), seen)
    return out
