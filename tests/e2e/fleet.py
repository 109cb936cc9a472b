"""The fleet an end-to-end test runs on: its names, its sizes, pieces of its objects, and a BurstPolicy.

One base cluster with a fixed number of nodes, one cloud cluster whose nodes are the Ready Machines of one
Cluster API MachineDeployment, and one workload (Deployment ``web``) with its PropagationPolicy and
FederatedHPA; ``bed.py`` creates them on the real controllers' API servers.

Initial weights: the PropagationPolicy is created by field manager ``harness`` without
``weightPreference``; then ``staticWeightList: [{targetCluster: {clusterNames: [<base>]}, weight: 1}]`` is
server-side applied by field manager ``burstd``, as if burstd had been installed earlier and had written the
weights it writes when idle (the base clusters only, weight 1). So every replica starts on the base, burstd
owns the list (its later non-forced applies do not conflict), and the real scheduler gives the cloud
cluster, which matches no rule, no replicas.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, replace
from typing import Any

from ruamel.yaml import YAML

from burstd.kube.client import (
    FEDERATED_HPAS,
    PROPAGATION_POLICIES,
)

GI = 1024**3
MI = 1024**2

HARNESS_MANAGER = "harness"
BURSTD_MANAGER = "burstd"
DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"
DEPLOYMENT_NAME_LABEL = "cluster.x-k8s.io/deployment-name"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
PP_NAME_ANNOTATION = "propagationpolicy.karmada.io/name"
PP_NAMESPACE_ANNOTATION = "propagationpolicy.karmada.io/namespace"
PP_ID_LABEL = "propagationpolicy.karmada.io/permanent-id"


def cpu_quantity(milli: int) -> str:
    """Millicores as a Kubernetes quantity: whole cores when exact (``"8"``), else ``"500m"``."""
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(n: int) -> str:
    """Bytes as a Kubernetes quantity: ``"32Gi"``, ``"512Mi"`` when exact, else plain bytes."""
    if n == 0:
        return "0"
    if n % GI == 0:
        return f"{n // GI}Gi"
    if n % MI == 0:
        return f"{n // MI}Mi"
    return str(n)


@dataclass(frozen=True, kw_only=True)
class Fleet:
    """Names and sizes of one test fleet. ``Fleet.unique()`` makes names no other fleet on the same
    apiserver uses (Karmada Clusters are cluster-scoped)."""

    namespace: str = "shop"
    """Namespace of the workload, its PropagationPolicy, ResourceBinding and FederatedHPA."""
    workload: str = "web"
    """Name of the Deployment, the PropagationPolicy and the FederatedHPA."""
    base_cluster: str = "idc-1"
    cloud_cluster: str = "tke-gz"
    capi_namespace: str = "capi-tke"
    capi_cluster: str = "tke-gz"
    """The Cluster API Cluster the Machines belong to (``spec.clusterName``)."""
    machine_deployment: str = "tke-gz-md-0"
    burstd_namespace: str = "burstd-system"
    """burstd's own namespace (state ConfigMaps, leader Lease, Events of cluster-scoped objects)."""
    policy_name: str = "web-burst"
    base_nodes: int = 2
    node_cpu_milli: int = 8000
    node_memory_bytes: int = 32 * GI
    node_pods: int = 110
    request_cpu_milli: int = 500
    request_memory_bytes: int = 1 * GI
    initial_replicas: int = 4
    fhpa_min: int = 1
    fhpa_max: int = 400
    pool_name: str = "tke-gz6"
    pool_max_nodes: int = 10
    price_per_node_hour: float = 2.88

    @classmethod
    def unique(cls, **overrides: Any) -> Fleet:
        """A fleet whose cluster names and namespaces carry a random suffix."""
        s = uuid.uuid4().hex[:6]
        names = {
            "namespace": f"shop-{s}",
            "base_cluster": f"idc-1-{s}",
            "cloud_cluster": f"tke-gz-{s}",
            "capi_namespace": f"capi-tke-{s}",
            "burstd_namespace": f"burstd-{s}",
        }
        return replace(cls(), **{**names, **overrides})

    @property
    def binding(self) -> str:
        """The ResourceBinding's name, as Karmada derives it: ``<template name>-<lowercase kind>``."""
        return f"{self.workload}-deployment"

    @property
    def workload_key(self) -> str:
        """burstd's WorkloadState key: ``<namespace>/<PropagationPolicy name>``."""
        return f"{self.namespace}/{self.workload}"

    @property
    def state_config_map(self) -> str:
        return f"burstd-state-{self.policy_name}"

    @property
    def clusters(self) -> tuple[str, str]:
        return (self.base_cluster, self.cloud_cluster)

    @property
    def replicas_per_node(self) -> int:
        """Replicas one node holds: the tightest of cpu, memory and pods."""
        return min(
            self.node_cpu_milli // self.request_cpu_milli,
            self.node_memory_bytes // self.request_memory_bytes,
            self.node_pods,
        )

    @property
    def base_capacity(self) -> int:
        return self.base_nodes * self.replicas_per_node


# ------------------------------------------------------------------------------------------ objects


def placement(fleet: Fleet) -> dict[str, Any]:
    """The placement the harness writes: Divided + Weighted over both clusters, no weights."""
    return {
        "clusterAffinity": {"clusterNames": list(fleet.clusters)},
        "replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted"},
    }


def weights_body(fleet: Fleet, weights: dict[str, int]) -> dict[str, Any]:
    """The partial PropagationPolicy a weight writer applies: only the static weight list."""
    return {
        "apiVersion": PROPAGATION_POLICIES.api_version,
        "kind": "PropagationPolicy",
        "metadata": {"name": fleet.workload, "namespace": fleet.namespace},
        "spec": {
            "placement": {
                "replicaScheduling": {
                    "weightPreference": {
                        "staticWeightList": [
                            {"targetCluster": {"clusterNames": [c]}, "weight": w} for c, w in weights.items()
                        ]
                    }
                }
            }
        },
    }


def federated_hpa(fleet: Fleet) -> dict[str, Any]:
    return {
        "apiVersion": FEDERATED_HPAS.api_version,
        "kind": "FederatedHPA",
        "metadata": {"name": fleet.workload, "namespace": fleet.namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": fleet.workload},
            "minReplicas": fleet.fhpa_min,
            "maxReplicas": fleet.fhpa_max,
        },
    }


def machine_labels(fleet: Fleet) -> dict[str, str]:
    return {DEPLOYMENT_NAME_LABEL: fleet.machine_deployment, CLUSTER_NAME_LABEL: fleet.capi_cluster}


# ------------------------------------------------------------------------------------------ policy


def policy_doc(
    fleet: Fleet,
    *,
    scale_out: list[dict[str, Any]] | None = None,
    scale_in: list[dict[str, Any]] | None = None,
    dry_run: bool = False,
    pools: list[dict[str, Any]] | None = None,
    limits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A BurstPolicy for ``fleet`` with short intervals, so a whole burst lifecycle takes seconds.

    Triggers by default: burst when the FederatedHPA wants more than the base holds (or the base is 95 %
    requested), for 1 s; scale in when the desired replicas fit on the base with 2 replicas to spare,
    for 2 s. Pass ``scale_out``/``scale_in`` (lists of conditions) to change them; ``pools`` (e.g.
    ``native_pool(...)``) replaces the MachineDeployment pool, ``limits`` the node limit.
    """
    pool_node = {
        "cpu": cpu_quantity(fleet.node_cpu_milli),
        "memory": memory_quantity(fleet.node_memory_bytes),
        "pods": fleet.node_pods,
    }
    return {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "BurstPolicy",
        "metadata": {"name": fleet.policy_name},
        "spec": {
            "dryRun": dry_run,
            "workloads": [
                {
                    "propagationPolicy": {"namespace": fleet.namespace, "name": fleet.workload},
                    "federatedHPA": {"namespace": fleet.namespace, "name": fleet.workload},
                }
            ],
            "base": {"clusters": [fleet.base_cluster]},
            "burst": {
                "order": "listed",
                "headroom": "10%",
                "provisionTimeout": "60s",
                "pools": pools
                or [
                    {
                        "name": fleet.pool_name,
                        "provider": "tencentcloud",
                        "cluster": fleet.cloud_cluster,
                        "backend": "capi-machinedeployment",
                        "ref": {"namespace": fleet.capi_namespace, "name": fleet.machine_deployment},
                        "nodes": {"min": 0, "max": fleet.pool_max_nodes},
                        "instanceType": "SA5.2XLARGE32",
                        "zone": "ap-guangzhou-6",
                        "allocatable": pool_node,
                        "price": {"perNodeHour": fleet.price_per_node_hour, "currency": "CNY"},
                    }
                ],
            },
            "triggers": {
                "scaleOut": {
                    "any": scale_out
                    or [
                        {"signal": "fhpa.unfitReplicas", "above": 0, "for": "1s"},
                        {"signal": "base.cpu.requestedRatio", "above": 0.95, "for": "1s"},
                    ]
                },
                "scaleIn": {"all": scale_in or [{"signal": "fhpa.unfitReplicas", "below": -2, "for": "2s"}]},
            },
            "shift": {"mode": "static-weights", "maxStep": "50%", "interval": "1s"},
            "drain": {
                "minBurstDuration": "5s",
                "maxStep": "50%",
                "interval": "1s",
                "stabilizationWindow": "5s",
            },
            "limits": limits or {"maxCloudNodes": fleet.pool_max_nodes},
            "safety": {"signalMaxAge": "30s", "stockoutBackoff": "30s"},
        },
    }


def native_pool(
    fleet: Fleet,
    name: str,
    *,
    provider: str,
    cluster_id: str,
    node_pool_id: str,
    instance_type: str,
    zone: str,
    price: dict[str, Any] | None = None,
    max_nodes: int | None = None,
) -> dict[str, Any]:
    """A pool of ``fleet``'s cloud cluster on a native node pool (``tke-nodepool`` for ``tencentcloud``,
    ``ack-nodepool`` for ``alibabacloud``), priced by the provider's quote unless ``price`` is given."""
    backend = {"tencentcloud": "tke-nodepool", "alibabacloud": "ack-nodepool"}[provider]
    return {
        "name": name,
        "provider": provider,
        "cluster": fleet.cloud_cluster,
        "backend": backend,
        "nodePool": {"clusterId": cluster_id, "nodePoolId": node_pool_id},
        "nodes": {"min": 0, "max": max_nodes or fleet.pool_max_nodes},
        "instanceType": instance_type,
        "zone": zone,
        "allocatable": {
            "cpu": cpu_quantity(fleet.node_cpu_milli),
            "memory": memory_quantity(fleet.node_memory_bytes),
            "pods": fleet.node_pods,
        },
        "price": price or {"source": "provider", "currency": "CNY"},
    }


def policy_yaml(fleet: Fleet, **options: Any) -> str:
    """``policy_doc(fleet, **options)`` as a YAML document (what ``burstd run`` reads from its policy
    file)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(policy_doc(fleet, **options), out)
    return out.getvalue()
