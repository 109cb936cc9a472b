"""Push-mode Karmada member clusters whose status the harness writes.

With no member API servers, the ``clusterStatus`` controller is off (``testbed.karmada.DEFAULT_CONTROLLERS``)
and the harness plays it: ``write_cluster_status`` writes what that controller would have collected from
the member. What the real controllers need from it (Karmada v1.18.2 source):

- ``conditions[Ready]``: the cluster controller taints a cluster from it (``taintClusterByCondition``):
  no Ready condition or ``False`` -> ``cluster.karmada.io/not-ready:NoSchedule``, ``Unknown`` ->
  ``cluster.karmada.io/unreachable:NoSchedule``, ``True`` -> both taints removed (``spec.taints``, an
  update by the controller a moment after the status changes). The scheduler's TaintToleration filter
  then leaves a tainted cluster out of new placements. A cluster is therefore schedulable only after the
  harness has written Ready=True *and* the cluster controller has removed the taint (``schedulable``).
- No Lease is needed: for Push-mode clusters the cluster controller's health monitor stops before it
  looks at the cluster Lease, so a status written once stays; it never turns Ready to Unknown.
- ``apiEnablements``: the scheduler's APIEnablement filter admits a cluster only when the binding's
  resource (group/version + kind) is listed (an unlisted API is "unknown", which does not pass either).
  ``CompleteAPIEnablements=True`` is written too, as the status controller does when discovery worked.
- ``resourceSummary``: ignored by static weights; dynamic weights (``AvailableReplicas``) and the
  general estimator use ``allocatable - allocated - allocating``. As the status controller computes it:
  ``allocatable`` is the sum over *all* nodes (Ready or not), ``allocated`` the requests of pods bound to
  a node, ``allocating`` of pods not bound yet; each list omits zero quantities and is omitted when empty
  (Go ``omitempty`` on ``util.Resource.ResourceList()``). ``nodeSummary`` counts all and Ready nodes.
- ``kubernetesVersion``: informational (printer column); written for realism.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from burstd.kube.client import KARMADA_CLUSTERS, KubeClient

__all__ = [
    "API_ENABLEMENTS",
    "KUBERNETES_VERSION",
    "NOT_READY_TAINT",
    "UNREACHABLE_TAINT",
    "ClusterCapacity",
    "cluster_status",
    "push_cluster",
    "schedulable",
    "write_cluster_status",
]

KUBERNETES_VERSION = "v1.35.4"
NOT_READY_TAINT = "cluster.karmada.io/not-ready"
UNREACHABLE_TAINT = "cluster.karmada.io/unreachable"

API_ENABLEMENTS: list[dict[str, Any]] = [
    {
        "groupVersion": "apps/v1",
        "resources": [
            {"name": "deployments", "kind": "Deployment"},
            {"name": "statefulsets", "kind": "StatefulSet"},
        ],
    },
    {
        "groupVersion": "v1",
        "resources": [
            {"name": "configmaps", "kind": "ConfigMap"},
            {"name": "namespaces", "kind": "Namespace"},
            {"name": "secrets", "kind": "Secret"},
            {"name": "services", "kind": "Service"},
        ],
    },
]
"""What the fake members serve (a real status controller lists every API of the member)."""


def push_cluster(
    name: str, *, provider: str, region: str, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A Push-mode Cluster object (create it with ``KubeClient.create(KARMADA_CLUSTERS, ...)``). The API
    endpoint is a closed loopback port: nothing may talk to it (the execution controller is off)."""
    return {
        "apiVersion": KARMADA_CLUSTERS.api_version,
        "kind": KARMADA_CLUSTERS.kind,
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {
            "syncMode": "Push",
            "apiEndpoint": "https://127.0.0.1:1",
            "provider": provider,
            "region": region,
        },
    }


@dataclass(frozen=True)
class ClusterCapacity:
    """A member's nodes (all alike) and what its pods request."""

    nodes: int
    node_cpu_milli: int
    node_memory_bytes: int
    node_pods: int
    allocated_cpu_milli: int = 0
    """Requests of pods bound to a node."""
    allocated_memory_bytes: int = 0
    allocated_pods: int = 0
    ready_nodes: int | None = None
    """Ready nodes (default: all). ``allocatable`` counts every node, as Karmada's status controller does."""
    allocating_cpu_milli: int = 0
    """Requests of pods not bound to a node yet."""
    allocating_memory_bytes: int = 0
    allocating_pods: int = 0


def cluster_status(capacity: ClusterCapacity, *, ready: bool, now: str) -> dict[str, Any]:
    """The status Karmada's cluster status controller would write for a member with ``capacity``."""
    c = capacity
    ready_nodes = c.nodes if c.ready_nodes is None else c.ready_nodes
    summary = {
        "allocatable": _resources(
            c.nodes * c.node_cpu_milli, c.nodes * c.node_memory_bytes, c.nodes * c.node_pods
        ),
        "allocated": _resources(c.allocated_cpu_milli, c.allocated_memory_bytes, c.allocated_pods),
        "allocating": _resources(c.allocating_cpu_milli, c.allocating_memory_bytes, c.allocating_pods),
    }
    nodes = {"totalNum": c.nodes, "readyNum": ready_nodes}
    if ready:
        health = ("True", "ClusterReady", "cluster is healthy and ready to accept workloads")
    else:
        health = ("False", "ClusterNotReady", "cluster is reachable but health endpoint responded without ok")
    return {
        "kubernetesVersion": KUBERNETES_VERSION,
        "apiEnablements": API_ENABLEMENTS,
        "conditions": [
            _condition("Ready", *health, now),
            _condition(
                "CompleteAPIEnablements",
                "True",
                "Complete",
                "collected complete APIEnablements from the cluster",
                now,
            ),
        ],
        "nodeSummary": {k: v for k, v in nodes.items() if v},
        "resourceSummary": {k: v for k, v in summary.items() if v},
    }


async def write_cluster_status(
    kube: KubeClient, name: str, capacity: ClusterCapacity, *, ready: bool = True
) -> bool:
    """Write the Cluster's status for ``capacity`` when it differs from what is there (a condition whose
    status did not change keeps its ``lastTransitionTime``). Returns whether it wrote."""
    cluster = await kube.get(KARMADA_CLUSTERS, name)
    old = cluster.get("status") or {}
    new = cluster_status(capacity, ready=ready, now=_now())
    before = {c.get("type"): c for c in old.get("conditions") or []}
    for cond in new["conditions"]:
        prev = before.get(cond["type"])
        if prev and prev.get("status") == cond["status"] and prev.get("lastTransitionTime"):
            cond["lastTransitionTime"] = prev["lastTransitionTime"]
    patch = _merge_diff(old, new)
    if not patch:
        return False
    await kube.patch_status(KARMADA_CLUSTERS, name, {"status": patch})
    return True


def schedulable(cluster: Mapping[str, Any]) -> bool:
    """Ready=True and the cluster controller has taken the NotReady/Unreachable taints off, so the
    scheduler will consider it (wait on this after ``write_cluster_status`` before scheduling onto it)."""
    conds = {c.get("type"): c.get("status") for c in (cluster.get("status") or {}).get("conditions") or []}
    taints = {t.get("key") for t in (cluster.get("spec") or {}).get("taints") or []}
    return conds.get("Ready") == "True" and not taints & {NOT_READY_TAINT, UNREACHABLE_TAINT}


# --------------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(type_: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}


def _resources(cpu_milli: int, memory_bytes: int, pods: int) -> dict[str, str]:
    """A ``corev1.ResourceList`` as Karmada serializes it: zero quantities left out, canonical strings."""
    out = {"cpu": _decimal(cpu_milli, milli=True), "memory": _binary(memory_bytes), "pods": _decimal(pods)}
    return {k: v for k, v in out.items() if v != "0"}


def _decimal(value: int, *, milli: bool = False) -> str:
    """The canonical DecimalSI form of a quantity (``resource.Quantity.String()``): ``500m``, ``4``,
    ``2k``."""
    if value == 0:
        return "0"
    if milli and value % 1000:
        return f"{value}m"
    whole = value // 1000 if milli else value
    for suffix in ("", "k", "M", "G", "T", "P"):
        if whole % 1000 or suffix == "P":
            return f"{whole}{suffix}"
        whole //= 1000
    return str(whole)  # not reached


def _binary(value: int) -> str:
    """The canonical BinarySI form of a byte count: ``16Gi``, ``1536Mi``, ``1000``."""
    if value == 0:
        return "0"
    for suffix in ("", "Ki", "Mi", "Gi", "Ti", "Pi"):
        if value % 1024 or suffix == "Pi":
            return f"{value}{suffix}"
        value //= 1024
    return str(value)  # not reached


def _merge_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``."""
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = _merge_diff(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = value
    return patch
