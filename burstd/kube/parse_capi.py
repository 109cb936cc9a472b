"""Parsers of Cluster API objects (v1beta2 and v1beta1): MachineDeployment, MachinePool, Machine.

The shape is chosen by ``apiVersion``:

- v1beta2: ``status.readyReplicas``; conditions in ``status.conditions``; failures in
  ``status.deprecated.v1beta1.failureReason/failureMessage``.
- v1beta1: ready replicas in ``status.v1beta2.readyReplicas`` (Machine Ready=True, as v1beta2 counts them)
  or else the top-level ``status.readyReplicas``; Machine conditions in ``status.v1beta2.conditions`` or
  else ``status.conditions``; failures in ``status.failureReason/failureMessage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import fields as f
from .objects import MachineObs, ScalableInfo, ScalableKind

GROUP = "cluster.x-k8s.io"
V1BETA1 = f"{GROUP}/v1beta1"
V1BETA2 = f"{GROUP}/v1beta2"
AUTOSCALER_MIN_ANNOTATION = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
AUTOSCALER_MAX_ANNOTATION = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
DELETE_MACHINE_ANNOTATION = "cluster.x-k8s.io/delete-machine"
DEPLOYMENT_NAME_LABEL = "cluster.x-k8s.io/deployment-name"
POOL_NAME_LABEL = "cluster.x-k8s.io/pool-name"


def _api_version(obj: Mapping[str, Any]) -> str:
    version = f.string(obj.get("apiVersion"), "apiVersion")
    if version not in (V1BETA1, V1BETA2):
        raise ValueError(f"apiVersion must be {V1BETA2} or {V1BETA1}, got {version!r}")
    return version


def _kind(obj: Mapping[str, Any], allowed: tuple[ScalableKind, ...]) -> ScalableKind:
    kind = f.string(obj.get("kind"), "kind")
    for known in allowed:
        if kind == known:
            return known
    raise ValueError(f"kind must be {' or '.join(allowed)}, got {kind!r}")


def parse_scalable(
    obj: Mapping[str, Any],
    observed_at: float,
    kinds: tuple[ScalableKind, ...] = ("MachineDeployment", "MachinePool"),
) -> ScalableInfo:
    """A MachineDeployment or MachinePool: spec/status replicas, paused, and Cluster Autoscaler ownership."""
    key = f.object_key(obj)
    version = _api_version(obj)
    kind = _kind(obj, kinds)
    spec = f.mapping(obj.get("spec"), "spec")
    status = f.mapping(obj.get("status"), "status", required=False)
    ready = f.opt_count(status.get("readyReplicas"), "status.readyReplicas")
    if version == V1BETA1:
        newer = f.mapping(status.get("v1beta2"), "status.v1beta2", required=False)
        ready_v1beta2 = f.opt_count(newer.get("readyReplicas"), "status.v1beta2.readyReplicas")
        ready = ready_v1beta2 if ready_v1beta2 is not None else ready
    annotations = f.string_map(obj, "annotations")
    return ScalableInfo(
        key=key,
        kind=kind,
        api_version=version,
        replicas=f.opt_count(spec.get("replicas"), "spec.replicas"),
        status_replicas=f.opt_count(status.get("replicas"), "status.replicas"),
        ready_replicas=ready,
        paused=f.boolean(spec.get("paused"), "spec.paused"),
        autoscaler_managed=AUTOSCALER_MIN_ANNOTATION in annotations
        and AUTOSCALER_MAX_ANNOTATION in annotations,
        uid=f.opt_string(f.metadata(obj).get("uid"), "metadata.uid") or "",
        observed_at=observed_at,
    )


def parse_machine_deployment(obj: Mapping[str, Any], observed_at: float) -> ScalableInfo:
    return parse_scalable(obj, observed_at, ("MachineDeployment",))


def parse_machine_pool(obj: Mapping[str, Any], observed_at: float) -> ScalableInfo:
    return parse_scalable(obj, observed_at, ("MachinePool",))


def _owner(labels: Mapping[str, str]) -> tuple[ScalableKind | None, str | None]:
    if labels.get(DEPLOYMENT_NAME_LABEL):
        return "MachineDeployment", labels[DEPLOYMENT_NAME_LABEL]
    if labels.get(POOL_NAME_LABEL):
        return "MachinePool", labels[POOL_NAME_LABEL]
    return None, None


def _machine_ready(status: Mapping[str, Any], version: str) -> bool:
    if version == V1BETA1:
        newer = f.mapping(status.get("v1beta2"), "status.v1beta2", required=False)
        where = "status.v1beta2.conditions"
        if f.condition(newer.get("conditions"), where, "Ready") is not None:
            return f.condition_true(newer.get("conditions"), where, "Ready")
    return f.condition_true(status.get("conditions"), "status.conditions", "Ready")


def _machine_failed(status: Mapping[str, Any], version: str) -> bool:
    if version == V1BETA1:
        holder, where = status, "status"
    else:
        deprecated = f.mapping(status.get("deprecated"), "status.deprecated", required=False)
        holder = f.mapping(deprecated.get("v1beta1"), "status.deprecated.v1beta1", required=False)
        where = "status.deprecated.v1beta1"
    reason = f.opt_string(holder.get("failureReason"), f"{where}.failureReason")
    message = f.opt_string(holder.get("failureMessage"), f"{where}.failureMessage")
    phase = f.opt_string(status.get("phase"), "status.phase")
    return reason is not None or message is not None or phase == "Failed"


def parse_machine(obj: Mapping[str, Any], observed_at: float) -> MachineObs:
    """A Machine: its owner (from labels), Ready, deleting, failed, delete-machine mark, node, age."""
    key = f.object_key(obj)
    version = _api_version(obj)
    meta = f.metadata(obj)
    status = f.mapping(obj.get("status"), "status", required=False)
    spec = f.mapping(obj.get("spec"), "spec", required=False)
    node_ref = f.mapping(status.get("nodeRef"), "status.nodeRef", required=False)
    owner_kind, owner_name = _owner(f.string_map(obj, "labels"))
    return MachineObs(
        key=key,
        name=f.object_name(obj),
        namespace=f.opt_string(meta.get("namespace"), "metadata.namespace") or "",
        owner_kind=owner_kind,
        owner_name=owner_name,
        ready=_machine_ready(status, version),
        deleting=meta.get("deletionTimestamp") is not None,
        failed=_machine_failed(status, version),
        marked_for_deletion=DELETE_MACHINE_ANNOTATION in f.string_map(obj, "annotations"),
        node_name=f.opt_string(node_ref.get("name"), "status.nodeRef.name"),
        created_at=f.timestamp(meta.get("creationTimestamp"), "metadata.creationTimestamp"),
        observed_at=observed_at,
        provider_id=f.opt_string(spec.get("providerID"), "spec.providerID") or None,
    )
