"""``KarmadaSim`` plays the Karmada control plane for one fleet, against the real apiserver: the
FederatedHPA controller (``set_demand``), the resource detector, the scheduler, the binding status
controller and the cluster status controller (``step``).

Each ``step()``:
1. detector: copy the PropagationPolicy's ``spec.placement`` into the ResourceBinding's when they differ;
2. scheduler (Divided + Weighted, static weights; see ``webster``): weights from ``staticWeightList``
   (a candidate matching no rule gets weight 0; no list, or no candidate matching any rule: equal weights),
   candidates = the ``clusterAffinity.clusterNames`` that exist; the division is recomputed from scratch
   every time, as Karmada does for static weights; writes ``spec.clusters`` (0-replica clusters dropped),
   then ``status``: ``schedulerObservedGeneration``, ``Scheduled=True/Success``, ``FullyApplied=True``,
   ``lastScheduledTime`` and ``aggregatedStatus`` (per cluster, the member Deployment's status with
   ``readyReplicas = min(assigned, capacity)``);
3. cluster status: each fleet Cluster's ``Ready`` condition, ``nodeSummary`` and ``resourceSummary``
   (allocatable = nodes x node allocatable; allocated = ready replicas x request; allocating = pending
   replicas x request; with pod counts).

Capacity of a cluster = Ready nodes x ``fleet.replicas_per_node``: the base has ``base_nodes`` Ready nodes;
the cloud's nodes are the MachineDeployment's Machines with a ``nodeRef`` (Ready ones count for capacity),
read from the management cluster's API server (everything else is on the Karmada API server). Statuses are written only when they change, as Karmada's controllers do.

Not modelled: Duplicated/Aggregated/dynamic weights, label/field selectors other than ``matchLabels``,
cluster taints and tolerations, WorkloadRebalancer/``rescheduleTriggeredAt``, pod start-up time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from burstd.kube.client import (
    FEDERATED_HPAS,
    KARMADA_CLUSTERS,
    MACHINES,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
    KubeClient,
)
from burstd.kube.errors import NotFound

from .capi_sim import is_ready
from .conditions import condition, set_conditions, timestamp
from .fleet import CLUSTER_NAME_LABEL, Fleet, cpu_quantity, memory_quantity
from .webster import divide

APPLIED_PLACEMENT = "policy.karmada.io/applied-placement"
KUBERNETES_VERSION = "v1.34.1"


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One scheduling result the simulated scheduler wrote to ``spec.clusters``."""

    at: float
    """``time.monotonic()``."""
    replicas: int
    clusters: dict[str, int]


def merge_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_diff(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = value
    return patch


def _matches(affinity: Mapping[str, Any], cluster: str, labels: Mapping[str, str]) -> bool:
    """Karmada's ClusterAffinity match: ``exclude`` wins, then every non-empty selector must match."""
    if cluster in (affinity.get("exclude") or []):
        return False
    names = affinity.get("clusterNames") or []
    if names and cluster not in names:
        return False
    selector = affinity.get("labelSelector") or {}
    if selector.get("matchExpressions") or affinity.get("fieldSelector"):
        raise NotImplementedError(
            "the harness's scheduler matches clusterNames, exclude and matchLabels only"
        )
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def static_weights(
    placement: Mapping[str, Any], candidates: Mapping[str, Mapping[str, str]]
) -> dict[str, int]:
    """Weight per candidate cluster (name -> labels) under a Divided + Weighted placement."""
    rs = placement.get("replicaScheduling") or {}
    kind = (rs.get("replicaSchedulingType") or "Divided", rs.get("replicaDivisionPreference"))
    if kind != ("Divided", "Weighted"):
        raise NotImplementedError(f"the harness's scheduler does Divided + Weighted only, not {kind}")
    preference = rs.get("weightPreference") or {}
    if preference.get("dynamicWeight"):
        raise NotImplementedError("the harness's scheduler does static weights only")
    rules = preference.get("staticWeightList") or []
    weights = {
        name: max((int(r["weight"]) for r in rules if _matches(r["targetCluster"], name, labels)), default=0)
        for name, labels in candidates.items()
    }
    if not any(weights.values()):
        return dict.fromkeys(candidates, 1)
    return weights


def resource_summary(fleet: Fleet, nodes: int, assigned: int, ready: int) -> dict[str, Any]:
    """A Cluster's ``status.resourceSummary`` when it has ``nodes`` nodes and this fleet's workload has
    ``assigned`` replicas there of which ``ready`` run (the rest are Pending)."""
    pending = assigned - ready

    def rl(cpu_milli: int, memory: int, pods: int) -> dict[str, str]:
        return {"cpu": cpu_quantity(cpu_milli), "memory": memory_quantity(memory), "pods": str(pods)}

    return {
        "allocatable": rl(
            nodes * fleet.node_cpu_milli, nodes * fleet.node_memory_bytes, nodes * fleet.node_pods
        ),
        "allocated": rl(ready * fleet.request_cpu_milli, ready * fleet.request_memory_bytes, ready),
        "allocating": rl(pending * fleet.request_cpu_milli, pending * fleet.request_memory_bytes, pending),
    }


def _deployment_status(assigned: int, ready: int) -> dict[str, int]:
    """A member Deployment's status as Karmada aggregates it (zero counts omitted, as Go omits them)."""
    status = {
        "observedGeneration": 1,
        "replicas": assigned,
        "updatedReplicas": assigned,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": assigned - ready,
    }
    return {k: v for k, v in status.items() if v}


class KarmadaSim:
    """The Karmada scheduler and controllers for ``fleet``'s workload and clusters."""

    def __init__(self, kube: KubeClient, management: KubeClient, fleet: Fleet) -> None:
        self.kube = kube
        """The Karmada API server."""
        self.management = management
        """The management cluster's API server (only to count the cloud cluster's Machines)."""
        self.fleet = fleet
        self.base_nodes = fleet.base_nodes
        """Ready nodes of the base cluster (change it to simulate a base losing nodes)."""
        self.workloads: dict[str, Fleet] = {fleet.workload: fleet}
        """Every workload simulated, by name: the fleet's own, and those added with ``add_workload``
        (the same fleet with another ``workload``); they share the clusters and their capacity."""
        self.schedules: list[Scheduled] = []
        """Every new ``spec.clusters`` of the fleet's own workload written, in order."""
        self.demand: int | None = None
        self._cluster_status: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ FederatedHPA controller

    def add_workload(self, workload: Fleet) -> None:
        """Simulate another workload too (its objects made with ``fleet.create_workload``)."""
        self.workloads[workload.workload] = workload

    async def set_demand(self, replicas: int, workload: str | None = None) -> int:
        """The FederatedHPA wants ``replicas``: clamp to [min, max], write its status (desired = current,
        as after a rescale) and the binding's ``spec.replicas`` (as the detector does after the template
        was rescaled). Returns the desired replicas. ``workload``: another simulated workload's name."""
        fleet = self.workloads[workload or self.fleet.workload]
        desired = max(fleet.fhpa_min, min(fleet.fhpa_max, replicas))
        fhpa = await self.kube.get(FEDERATED_HPAS, fleet.workload, fleet.namespace)
        old = fhpa.get("status") or {}
        now = timestamp()
        if replicas > fleet.fhpa_max:
            limit = (
                True,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        elif replicas < fleet.fhpa_min:
            limit = (
                True,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        else:
            limit = (False, "DesiredWithinRange", "the desired count is within the acceptable range")
        rescaled = f"the HPA controller was able to update the target scale to {desired}"
        active = "the HPA was able to successfully calculate a replica count"
        status = {
            "observedGeneration": fhpa["metadata"].get("generation", 1),
            "currentReplicas": desired,
            "desiredReplicas": desired,
            "lastScaleTime": now if old.get("desiredReplicas") != desired else old.get("lastScaleTime", now),
            "conditions": set_conditions(
                old.get("conditions"),
                [
                    condition("AbleToScale", True, "SucceededRescale", now, rescaled),
                    condition("ScalingActive", True, "ValidMetricFound", now, active),
                    condition("ScalingLimited", limit[0], limit[1], now, limit[2]),
                ],
            ),
        }
        await self.kube.patch_status(FEDERATED_HPAS, fleet.workload, {"status": status}, fleet.namespace)
        await self.kube.merge_patch(
            RESOURCE_BINDINGS, fleet.binding, {"spec": {"replicas": desired}}, fleet.namespace
        )
        if fleet is self.fleet:
            self.demand = replicas
        return desired

    # ------------------------------------------------------------------ capacity

    async def cloud_nodes(self) -> tuple[int, int]:
        """(nodes, Ready nodes) of the cloud cluster: its Machines with a nodeRef, and the Ready ones (of
        every MachineDeployment of the Cluster API Cluster, as a cluster's nodes are)."""
        listed = await self.management.list(
            MACHINES,
            self.fleet.capi_namespace,
            label_selector=f"{CLUSTER_NAME_LABEL}={self.fleet.capi_cluster}",
        )
        nodes = [m for m in listed.items if (m.get("status") or {}).get("nodeRef")]
        return len(nodes), sum(1 for m in nodes if is_ready(m))

    async def nodes(self) -> dict[str, tuple[int, int]]:
        """(nodes, Ready nodes) per fleet cluster."""
        return {
            self.fleet.base_cluster: (self.base_nodes, self.base_nodes),
            self.fleet.cloud_cluster: await self.cloud_nodes(),
        }

    # ------------------------------------------------------------------ one pass of every controller

    async def step(self) -> None:
        nodes = await self.nodes()
        room = {c: ready_nodes * self.fleet.replicas_per_node for c, (_, ready_nodes) in nodes.items()}
        assigned: dict[str, int] = {}
        running: dict[str, int] = {}
        for fleet in self.workloads.values():
            assignment, ready = await self._schedule(fleet, room)
            for c, n in assignment.items():
                assigned[c] = assigned.get(c, 0) + n
                running[c] = running.get(c, 0) + ready[c]
        for cluster, (total, ready_nodes) in nodes.items():
            await self._write_cluster_status(
                cluster, total, ready_nodes, assigned.get(cluster, 0), running.get(cluster, 0)
            )

    async def _schedule(self, fleet: Fleet, room: dict[str, int]) -> tuple[dict[str, int], dict[str, int]]:
        """Detector, scheduler and member clusters for one workload: returns its assignment per cluster and
        how many of those replicas run (Ready), taking them from ``room`` (Ready capacity left)."""
        pp = await self.kube.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
        rb = await self.kube.get(RESOURCE_BINDINGS, fleet.binding, fleet.namespace)
        # detector: the binding follows the policy's placement
        want = pp["spec"].get("placement") or {}
        have = rb["spec"].get("placement") or {}
        if want != have:
            rb = await self.kube.merge_patch(
                RESOURCE_BINDINGS,
                fleet.binding,
                {"spec": {"placement": merge_diff(have, want)}},
                fleet.namespace,
            )
        # scheduler
        placement = rb["spec"].get("placement") or {}
        candidates = await self._candidates(placement)
        replicas = int(rb["spec"].get("replicas") or 0)
        assignment = divide(replicas, static_weights(placement, candidates)) if candidates else {}
        clusters = [{"name": c, "replicas": n} for c, n in sorted(assignment.items())]
        # Karmada schedules again when the placement or the replicas changed (the generation moved).
        rescheduled = rb["metadata"]["generation"] != (rb.get("status") or {}).get(
            "schedulerObservedGeneration"
        )
        if (rb["spec"].get("clusters") or []) != clusters:
            patch = {
                "metadata": {"annotations": {APPLIED_PLACEMENT: json.dumps(placement, sort_keys=True)}},
                "spec": {"clusters": clusters},
            }
            rb = await self.kube.merge_patch(RESOURCE_BINDINGS, fleet.binding, patch, fleet.namespace)
            if fleet is self.fleet:
                self.schedules.append(Scheduled(time.monotonic(), replicas, dict(assignment)))
        # member clusters: what runs where (the Ready capacity is shared by every workload)
        ready: dict[str, int] = {}
        for c, n in assignment.items():
            ready[c] = min(n, room.get(c, 0))
            room[c] = room.get(c, 0) - ready[c]
        await self._write_binding_status(
            fleet, rb, assignment, ready, scheduled=bool(candidates), rescheduled=rescheduled
        )
        return assignment, ready

    async def run(self, interval: float = 0.2) -> None:
        """``step()`` every ``interval`` seconds until cancelled."""
        while True:
            await self.step()
            await asyncio.sleep(interval)

    async def _candidates(self, placement: Mapping[str, Any]) -> dict[str, dict[str, str]]:
        """The affinity's clusters that exist, with their labels."""
        out: dict[str, dict[str, str]] = {}
        for name in (placement.get("clusterAffinity") or {}).get("clusterNames") or []:
            try:
                cluster = await self.kube.get(KARMADA_CLUSTERS, name)
            except NotFound:
                continue
            out[name] = dict(cluster["metadata"].get("labels") or {})
        return out

    async def _write_binding_status(
        self,
        fleet: Fleet,
        rb: dict[str, Any],
        assignment: Mapping[str, int],
        ready: Mapping[str, int],
        *,
        scheduled: bool,
        rescheduled: bool,
    ) -> None:
        old = rb.get("status") or {}
        now = timestamp()
        if scheduled:
            conds = [
                condition("Scheduled", True, "Success", now, "Binding has been scheduled successfully."),
                condition(
                    "FullyApplied",
                    True,
                    "FullyAppliedSuccess",
                    now,
                    "All works have been successfully applied",
                ),
            ]
        else:
            conds = [condition("Scheduled", False, "NoClusterFit", now, "0/0 clusters are available")]
        status: dict[str, Any] = {
            "schedulerObservedGeneration": rb["metadata"]["generation"],
            "conditions": set_conditions(old.get("conditions"), conds),
            "aggregatedStatus": [
                {
                    "clusterName": c,
                    "applied": True,
                    "health": "Healthy" if ready[c] == n else "Unhealthy",
                    "status": _deployment_status(n, ready[c]),
                }
                for c, n in sorted(assignment.items())
            ],
        }
        last = old.get("lastScheduledTime")
        status["lastScheduledTime"] = now if rescheduled or not last else last
        if any(old.get(k) != v for k, v in status.items()):
            await self.kube.patch_status(
                RESOURCE_BINDINGS, fleet.binding, {"status": status}, fleet.namespace
            )

    async def _write_cluster_status(
        self, name: str, nodes: int, ready_nodes: int, assigned: int, ready: int
    ) -> None:
        now = timestamp()
        old = self._cluster_status.get(name, {})
        status = {
            "kubernetesVersion": KUBERNETES_VERSION,
            "conditions": set_conditions(
                old.get("conditions"),
                [
                    condition(
                        "Ready", True, "ClusterReady", now, "cluster is healthy and ready to accept workloads"
                    )
                ],
            ),
            "nodeSummary": {"totalNum": nodes, "readyNum": ready_nodes},
            "resourceSummary": resource_summary(self.fleet, nodes, assigned, ready),
        }
        if status != old:
            await self.kube.patch_status(KARMADA_CLUSTERS, name, {"status": status})
            self._cluster_status[name] = status
