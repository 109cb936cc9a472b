"""What the test bed still plays itself, because it cannot run here: the FederatedHPA controller (it needs
member metrics: no metrics-server or karmada-metrics-adapter runs), and the member clusters behind the
Push-mode Karmada Clusters (their status: Ready, API enablements, node and resource summaries).

Everything else is real: the resource detector, the scheduler and the binding controllers of Karmada
v1.18.2 turn the Deployment template and its PropagationPolicy into a ResourceBinding and schedule it; the
Cluster API v1.14.2 controllers turn the MachineDeployment into MachineSets and Machines with Nodes.

- ``FederatedHPAPlayer.set_demand(n)`` does what the FederatedHPA controller does when it rescales: it
  writes the FederatedHPA's status and sets the Deployment template's replicas through its ``/scale``
  subresource on the Karmada API server; the real detector carries that into the ResourceBinding.
- ``ClusterStatusPlayer.step()`` writes each fleet Cluster's status from real capacity: the base has
  ``base_nodes`` Ready nodes; the cloud cluster's nodes are the Machines of the fleet's MachineDeployment
  that the real Cluster API controllers made, with a nodeRef (the Ready ones count). Allocated = the
  replicas the real scheduler put there that fit (x the request), the rest are allocating. With a native
  node pool (``members``), the cloud cluster's nodes are the node pool's members in the fake cloud, each
  shaped as a Machine (``member_as_machine``) so that the recorder's checks read them the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from testbed.clusters import ClusterCapacity, write_cluster_status

from burstd.kube.client import FEDERATED_HPAS, MACHINES, RESOURCE_BINDINGS, KubeClient
from burstd.kube.errors import NotFound
from burstd.kube.resources import Resource

from .conditions import condition, set_conditions, timestamp
from .fleet import DEPLOYMENT_NAME_LABEL, Fleet

DEPLOYMENTS = Resource("apps", "v1", "deployments", True, "Deployment")


def machine_ready(machine: Mapping[str, Any]) -> bool:
    """Cluster API's own verdict: condition ``Ready`` True (v1beta2 conditions), as burstd counts it. The
    real controllers can set it a moment before ``nodeRef`` (the Node is up and healthy already)."""
    status = machine.get("status") or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def member_as_machine(instance_id: str, *, ready: bool, deleting: bool = False) -> dict[str, Any]:
    """A native node pool's member in the shape of a Cluster API Machine (name, Ready condition, nodeRef
    once Ready, deletionTimestamp while it is removed): what ``machine_ready`` and the recorder read."""
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ready:
        status["nodeRef"] = {"name": instance_id}
    metadata: dict[str, Any] = {"name": instance_id}
    if deleting:
        metadata["deletionTimestamp"] = "1970-01-01T00:00:00Z"
    return {"metadata": metadata, "status": status}


class FederatedHPAPlayer:
    """The FederatedHPA controller's rescale, for the fleet's workloads (it cannot run here)."""

    def __init__(self, kube: KubeClient, fleet: Fleet) -> None:
        self.kube = kube
        self.fleet = fleet
        self.workloads: dict[str, Fleet] = {fleet.workload: fleet}
        self.demand: int | None = None

    def add_workload(self, workload: Fleet) -> None:
        self.workloads[workload.workload] = workload

    async def set_demand(self, replicas: int, workload: str | None = None) -> int:
        """The FederatedHPA wants ``replicas``: clamp to [min, max], write its status (desired = current,
        as after a rescale) and scale the Deployment template. Returns the desired replicas."""
        fleet = self.workloads[workload or self.fleet.workload]
        desired = max(fleet.fhpa_min, min(fleet.fhpa_max, replicas))
        fhpa = await self.kube.get(FEDERATED_HPAS, fleet.workload, fleet.namespace)
        old = fhpa.get("status") or {}
        now = timestamp()
        if replicas > fleet.fhpa_max:
            limit = (True, "TooManyReplicas", "the desired replica count is more than the maximum")
        elif replicas < fleet.fhpa_min:
            limit = (True, "TooFewReplicas", "the desired replica count is less than the minimum")
        else:
            limit = (False, "DesiredWithinRange", "the desired count is within the acceptable range")
        status = {
            "observedGeneration": fhpa["metadata"].get("generation", 1),
            "currentReplicas": desired,
            "desiredReplicas": desired,
            "lastScaleTime": now if old.get("desiredReplicas") != desired else old.get("lastScaleTime", now),
            "conditions": set_conditions(
                old.get("conditions"),
                [
                    condition("AbleToScale", True, "SucceededRescale", now, f"scaled to {desired}"),
                    condition("ScalingActive", True, "ValidMetricFound", now, "metrics found"),
                    condition("ScalingLimited", limit[0], limit[1], now, limit[2]),
                ],
            ),
        }
        await self.kube.patch_status(FEDERATED_HPAS, fleet.workload, {"status": status}, fleet.namespace)
        await self.kube.patch_scale(DEPLOYMENTS, fleet.workload, desired, fleet.namespace)
        if fleet is self.fleet:
            self.demand = replicas
        return desired


@dataclass(frozen=True, slots=True)
class Capacity:
    """Nodes of one cluster at one moment."""

    nodes: int
    ready: int


class ClusterStatusPlayer:
    """The fleet's member clusters, as their status reaches Karmada (the clusterStatus controller is off)."""

    def __init__(self, karmada: KubeClient, management: KubeClient, fleet: Fleet) -> None:
        self.karmada = karmada
        self.management = management
        self.fleet = fleet
        self.base_nodes = fleet.base_nodes
        """Ready nodes of the base cluster (change it to make the base lose nodes)."""
        self.workloads: dict[str, Fleet] = {fleet.workload: fleet}
        self.machine_deployments: list[str] = [fleet.machine_deployment]
        """The MachineDeployments whose Machines are the cloud cluster's nodes (append a second pool's)."""
        self.members: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None
        """Native node pools instead: the cloud cluster's nodes, Machine-shaped (``member_as_machine``)."""
        self.writes = 0

    def add_workload(self, workload: Fleet) -> None:
        self.workloads[workload.workload] = workload

    async def machines(self) -> list[dict[str, Any]]:
        """The Machines of the fleet's MachineDeployments (made by the real MachineSet controller), or the
        native node pools' members."""
        if self.members is not None:
            return await self.members()
        pools = ",".join(self.machine_deployments)
        listed = await self.management.list(
            MACHINES, self.fleet.capi_namespace, label_selector=f"{DEPLOYMENT_NAME_LABEL} in ({pools})"
        )
        return list(listed.items)

    async def capacity(self) -> dict[str, Capacity]:
        """Nodes and Ready nodes per fleet cluster, now."""
        machines = [
            m for m in await self.machines() if (m.get("status") or {}).get("nodeRef") or machine_ready(m)
        ]
        return {
            self.fleet.base_cluster: Capacity(self.base_nodes, self.base_nodes),
            self.fleet.cloud_cluster: Capacity(len(machines), sum(1 for m in machines if machine_ready(m))),
        }

    async def assigned(self) -> dict[str, int]:
        """Replicas the real scheduler assigned per cluster, over the fleet's workloads (none for a workload
        whose binding the detector has not made yet)."""
        out: dict[str, int] = {}
        for w in self.workloads.values():
            try:
                rb = await self.karmada.get(RESOURCE_BINDINGS, w.binding, w.namespace)
            except NotFound:
                continue
            for c in rb["spec"].get("clusters") or []:
                out[c["name"]] = out.get(c["name"], 0) + int(c.get("replicas") or 0)
        return out

    async def step(self) -> None:
        fleet = self.fleet
        capacity = await self.capacity()
        assigned = await self.assigned()
        for cluster, cap in capacity.items():
            placed = assigned.get(cluster, 0)
            running = min(placed, cap.ready * fleet.replicas_per_node)
            pending = placed - running
            status = ClusterCapacity(
                nodes=cap.nodes,
                ready_nodes=cap.ready,
                node_cpu_milli=fleet.node_cpu_milli,
                node_memory_bytes=fleet.node_memory_bytes,
                node_pods=fleet.node_pods,
                allocated_cpu_milli=running * fleet.request_cpu_milli,
                allocated_memory_bytes=running * fleet.request_memory_bytes,
                allocated_pods=running,
                allocating_cpu_milli=pending * fleet.request_cpu_milli,
                allocating_memory_bytes=pending * fleet.request_memory_bytes,
                allocating_pods=pending,
            )
            if await write_cluster_status(self.karmada, cluster, status, ready=True):
                self.writes += 1
