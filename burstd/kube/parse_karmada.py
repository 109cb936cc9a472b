"""Parsers of Karmada objects: FederatedHPA, ResourceBinding, PropagationPolicy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import fields as f
from .objects import BindingInfo, FederatedHPAInfo, PropagationPolicyInfo

POLICY_NAMESPACE_ANNOTATION = "propagationpolicy.karmada.io/namespace"
POLICY_NAME_ANNOTATION = "propagationpolicy.karmada.io/name"
_WEIGHTS_FIELD_PATH = ("f:spec", "f:placement", "f:replicaScheduling", "f:weightPreference")


def parse_federated_hpa(obj: Mapping[str, Any], observed_at: float) -> FederatedHPAInfo:
    """A FederatedHPA: ``spec.scaleTargetRef``, min/max (min defaults to 1) and its status replicas."""
    key = f.object_key(obj)
    spec = f.mapping(obj.get("spec"), "spec")
    target = f.mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    status = f.mapping(obj.get("status"), "status", required=False)
    return FederatedHPAInfo(
        key=key,
        target_api_version=f.opt_string(target.get("apiVersion"), "spec.scaleTargetRef.apiVersion") or "",
        target_kind=f.string(target.get("kind"), "spec.scaleTargetRef.kind"),
        target_name=f.string(target.get("name"), "spec.scaleTargetRef.name"),
        min_replicas=f.count(spec.get("minReplicas"), "spec.minReplicas", default=1),
        max_replicas=f.count(spec.get("maxReplicas"), "spec.maxReplicas"),
        current_replicas=f.opt_count(status.get("currentReplicas"), "status.currentReplicas"),
        desired_replicas=f.opt_count(status.get("desiredReplicas"), "status.desiredReplicas"),
        scaling_limited=f.condition_true(status.get("conditions"), "status.conditions", "ScalingLimited"),
        observed_at=observed_at,
    )


def _policy_key(obj: Mapping[str, Any]) -> str | None:
    annotations = f.string_map(obj, "annotations")
    namespace = annotations.get(POLICY_NAMESPACE_ANNOTATION)
    name = annotations.get(POLICY_NAME_ANNOTATION)
    return f"{namespace}/{name}" if namespace and name else None


def _scheduled_clusters(spec: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, target in enumerate(f.objects(spec.get("clusters"), "spec.clusters")):
        name = f.string(target.get("name"), f"spec.clusters[{i}].name")
        replicas = f.count(target.get("replicas"), f"spec.clusters[{i}].replicas", default=0)
        out[name] = out.get(name, 0) + replicas
    return out


def _ready_by_cluster(status: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, item in enumerate(f.objects(status.get("aggregatedStatus"), "status.aggregatedStatus")):
        where = f"status.aggregatedStatus[{i}]"
        name = f.string(item.get("clusterName"), f"{where}.clusterName")
        member = f.mapping(item.get("status"), f"{where}.status", required=False)
        ready = f.count(member.get("readyReplicas"), f"{where}.status.readyReplicas", default=0)
        out[name] = out.get(name, 0) + ready
    return out


def _tristate(status: Any) -> bool | None:
    return True if status == "True" else False if status == "False" else None


def parse_resource_binding(obj: Mapping[str, Any], observed_at: float) -> BindingInfo:
    """A ResourceBinding (work.karmada.io/v1alpha2): template, replicas, requests, placement, readiness."""
    key = f.object_key(obj)
    meta = f.metadata(obj)
    spec = f.mapping(obj.get("spec"), "spec")
    resource = f.mapping(spec.get("resource"), "spec.resource")
    requirements = f.mapping(spec.get("replicaRequirements"), "spec.replicaRequirements", required=False)
    status = f.mapping(obj.get("status"), "status", required=False)
    scheduled = f.condition(status.get("conditions"), "status.conditions", "Scheduled")
    namespace = f.opt_string(meta.get("namespace"), "metadata.namespace") or ""
    return BindingInfo(
        key=key,
        policy_key=_policy_key(obj),
        resource_kind=f.string(resource.get("kind"), "spec.resource.kind"),
        resource_name=f.string(resource.get("name"), "spec.resource.name"),
        resource_namespace=f.opt_string(resource.get("namespace"), "spec.resource.namespace") or namespace,
        resource_api_version=f.string(resource.get("apiVersion"), "spec.resource.apiVersion"),
        resource_uid=f.opt_string(resource.get("uid"), "spec.resource.uid") or "",
        replicas=f.count(spec.get("replicas"), "spec.replicas", default=0),
        request=f.resources(requirements.get("resourceRequest"), "spec.replicaRequirements.resourceRequest"),
        clusters=_scheduled_clusters(spec),
        ready_by_cluster=_ready_by_cluster(status),
        scheduled=None if scheduled is None else _tristate(scheduled.get("status")),
        scheduled_reason=None
        if scheduled is None
        else f.opt_string(scheduled.get("reason"), "status.conditions[Scheduled].reason"),
        generation=f.count(meta.get("generation"), "metadata.generation", default=0),
        scheduler_observed_generation=f.count(
            status.get("schedulerObservedGeneration"), "status.schedulerObservedGeneration", default=0
        ),
        observed_at=observed_at,
    )


def _empty(value: Any) -> bool:
    return value is None or value in ([], {}, "")


def _burstd_cluster(target: Mapping[str, Any], where: str) -> str | None:
    """The one cluster a burstd-shaped ``targetCluster`` names (only ``clusterNames: [x]``), else None."""
    names = f.array(target.get("clusterNames"), f"{where}.clusterNames")
    others = [k for k, v in target.items() if k != "clusterNames" and not _empty(v)]
    if len(names) != 1 or others:
        return None
    return f.string(names[0], f"{where}.clusterNames[0]")


def _static_weights(preference: Mapping[str, Any]) -> tuple[dict[str, int], bool]:
    base = "spec.placement.replicaScheduling.weightPreference.staticWeightList"
    weights: dict[str, int] = {}
    shape_ok = True
    for i, entry in enumerate(f.objects(preference.get("staticWeightList"), base)):
        where = f"{base}[{i}]"
        weight = f.integer(entry.get("weight"), f"{where}.weight")
        if weight < 1:
            raise ValueError(f"{where}.weight must be at least 1, got {weight}")
        cluster = _burstd_cluster(f.mapping(entry.get("targetCluster"), f"{where}.targetCluster"), where)
        if cluster is None or cluster in weights:
            shape_ok = False
        if cluster is not None:
            weights[cluster] = max(weight, weights.get(cluster, 0))  # Karmada takes the largest match
    return weights, shape_ok


def _weights_managers(obj: Mapping[str, Any]) -> tuple[str, ...]:
    found: set[str] = set()
    for i, entry in enumerate(f.objects(f.metadata(obj).get("managedFields"), "metadata.managedFields")):
        node: Any = entry.get("fieldsV1")
        for step in _WEIGHTS_FIELD_PATH:
            node = node.get(step) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and "f:staticWeightList" in node:
            found.add(f.string(entry.get("manager"), f"metadata.managedFields[{i}].manager"))
    return tuple(sorted(found))


def parse_propagation_policy(obj: Mapping[str, Any], observed_at: float) -> PropagationPolicyInfo:
    """A PropagationPolicy's ``spec.placement.replicaScheduling`` and the owners of its static weights."""
    key = f.object_key(obj)
    spec = f.mapping(obj.get("spec"), "spec")
    placement = f.mapping(spec.get("placement"), "spec.placement", required=False)
    where = "spec.placement.replicaScheduling"
    scheduling = f.mapping(placement.get("replicaScheduling"), where, required=False)
    preference = f.mapping(scheduling.get("weightPreference"), f"{where}.weightPreference", required=False)
    weights, shape_ok = _static_weights(preference)
    return PropagationPolicyInfo(
        key=key,
        replica_scheduling_type=f.opt_string(
            scheduling.get("replicaSchedulingType"), f"{where}.replicaSchedulingType"
        )
        or "Divided",
        division_preference=f.opt_string(
            scheduling.get("replicaDivisionPreference"), f"{where}.replicaDivisionPreference"
        ),
        dynamic_weight=f.opt_string(
            preference.get("dynamicWeight"), f"{where}.weightPreference.dynamicWeight"
        ),
        weights=weights,
        weights_shape_ok=shape_ok,
        weights_managers=_weights_managers(obj),
        resource_version=f.opt_string(f.metadata(obj).get("resourceVersion"), "metadata.resourceVersion")
        or "",
        observed_at=observed_at,
    )
