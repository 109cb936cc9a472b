"""Parsers of Karmada and Cluster API objects: every field, defaults, both CAPI versions, and malformed
objects whose errors name the field's path."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from burstd.kube.objects import (
    BindingInfo,
    FederatedHPAInfo,
    MachineObs,
    PropagationPolicyInfo,
    ScalableInfo,
)
from burstd.kube.parse import (
    parse_cluster,
    parse_federated_hpa,
    parse_machine,
    parse_machine_deployment,
    parse_machine_pool,
    parse_propagation_policy,
    parse_resource_binding,
)
from burstd.model.world import Resources

Obj = dict[str, Any]
Parser = Callable[[Mapping[str, Any], float], object]
DELETE = object()
T0 = 1_700_000_000.0
GI = 2.0**30


def edit(obj: Obj, path: str, value: Any) -> Obj:
    """A copy of ``obj`` with the dotted ``path`` set to ``value`` (``DELETE`` removes it; ``[i]`` indexes)."""
    out = copy.deepcopy(obj)
    node: Any = out
    steps: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        steps.append(name)
        if rest:
            steps.extend(int(i) for i in rest.rstrip("]").split("]["))
    for step in steps[:-1]:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return out


# ---------------------------------------------------------------------------------------- Karmada


def fhpa() -> Obj:
    return {
        "apiVersion": "autoscaling.karmada.io/v1alpha1",
        "kind": "FederatedHPA",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 40,
        },
        "status": {
            "currentReplicas": 10,
            "desiredReplicas": 14,
            "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale"},
                {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas"},
            ],
        },
    }


def binding() -> Obj:
    return {
        "apiVersion": "work.karmada.io/v1alpha2",
        "kind": "ResourceBinding",
        "metadata": {
            "name": "web-deployment",
            "namespace": "shop",
            "generation": 4,
            "annotations": {
                "propagationpolicy.karmada.io/namespace": "shop",
                "propagationpolicy.karmada.io/name": "web",
            },
        },
        "spec": {
            "resource": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "namespace": "shop",
                "uid": "8f2c6a1e-0b5d-4f3e-9a7c-2d4e6f8a0b1c",
            },
            "replicas": 12,
            "replicaRequirements": {"resourceRequest": {"cpu": "500m", "memory": "1Gi", "pods": "1"}},
            "clusters": [{"name": "idc-1", "replicas": 6}, {"name": "idc-2", "replicas": 4}],
        },
        "status": {
            "schedulerObservedGeneration": 4,
            "conditions": [{"type": "Scheduled", "status": "False", "reason": "Unschedulable"}],
            "aggregatedStatus": [
                {"clusterName": "idc-1", "status": {"readyReplicas": 5, "replicas": 6}, "applied": True},
                {"clusterName": "idc-2", "applied": False},
            ],
        },
    }


def weight(cluster: str, value: int) -> Obj:
    return {"targetCluster": {"clusterNames": [cluster]}, "weight": value}


def pp(weights: list[Obj] | None = None, managed: list[Obj] | None = None) -> Obj:
    obj: Obj = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "812"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}],
            "placement": {
                "replicaScheduling": {
                    "replicaSchedulingType": "Divided",
                    "replicaDivisionPreference": "Weighted",
                }
            },
        },
    }
    if weights is not None:
        obj = edit(obj, "spec.placement.replicaScheduling.weightPreference.staticWeightList", weights)
    if managed is not None:
        obj["metadata"]["managedFields"] = managed
    return obj


def manager(name: str, *, owns_weights: bool, operation: str = "Apply") -> Obj:
    inner: Obj = {"f:staticWeightList": {}} if owns_weights else {"f:dynamicWeight": {}}
    fields = {"f:spec": {"f:placement": {"f:replicaScheduling": {"f:weightPreference": inner}}}}
    return {"manager": name, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields}


def test_federated_hpa() -> None:
    assert parse_federated_hpa(fhpa(), T0) == FederatedHPAInfo(
        key="shop/web",
        target_api_version="apps/v1",
        target_kind="Deployment",
        target_name="web",
        min_replicas=2,
        max_replicas=40,
        current_replicas=10,
        desired_replicas=14,
        scaling_limited=True,
        observed_at=T0,
    )


def test_federated_hpa_without_status_or_min() -> None:
    obj = edit(edit(fhpa(), "status", DELETE), "spec.minReplicas", DELETE)
    got = parse_federated_hpa(obj, T0)
    assert (got.min_replicas, got.current_replicas, got.desired_replicas) == (1, None, None)
    assert got.scaling_limited is False
    within = edit(fhpa(), "status.conditions[1].status", "False")
    assert parse_federated_hpa(within, T0).scaling_limited is False


def test_resource_binding() -> None:
    assert parse_resource_binding(binding(), T0) == BindingInfo(
        key="shop/web-deployment",
        policy_key="shop/web",
        resource_kind="Deployment",
        resource_name="web",
        resource_namespace="shop",
        resource_api_version="apps/v1",
        resource_uid="8f2c6a1e-0b5d-4f3e-9a7c-2d4e6f8a0b1c",
        replicas=12,
        request=Resources(cpu=0.5, memory=GI),
        clusters={"idc-1": 6, "idc-2": 4},
        ready_by_cluster={"idc-1": 5, "idc-2": 0},
        scheduled=False,
        scheduled_reason="Unschedulable",
        generation=4,
        scheduler_observed_generation=4,
        observed_at=T0,
    )


def test_resource_binding_minimal() -> None:
    """A binding before the scheduler saw it: no replicas, requests, clusters, status or policy."""
    obj = {
        "metadata": {"name": "cm-configmap", "namespace": "shop"},
        "spec": {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm"}},
    }
    got = parse_resource_binding(obj, T0)
    assert got.policy_key is None
    assert got.resource_namespace == "shop"  # defaults to the binding's namespace
    assert (got.replicas, got.request, got.clusters, got.ready_by_cluster) == (0, Resources(), {}, {})
    assert (got.scheduled, got.scheduled_reason) == (None, None)
    assert (got.generation, got.scheduler_observed_generation) == (0, 0)


@pytest.mark.parametrize(("status", "expected"), [("True", True), ("False", False), ("Unknown", None)])
def test_resource_binding_scheduled_condition(status: str, expected: bool | None) -> None:
    obj = edit(binding(), "status.conditions[0].status", status)
    assert parse_resource_binding(obj, T0).scheduled is expected


def test_resource_binding_needs_both_policy_annotations() -> None:
    obj = edit(binding(), "metadata.annotations", {"propagationpolicy.karmada.io/name": "web"})
    assert parse_resource_binding(obj, T0).policy_key is None


def test_propagation_policy_with_burstd_weights_and_managers() -> None:
    obj = pp(
        [weight("idc-1", 3), weight("tke-gz", 1)],
        [
            manager("kubectl-client-side-apply", owns_weights=False, operation="Update"),
            manager("burstd", owns_weights=True),
            manager("burstd", owns_weights=True, operation="Update"),
        ],
    )
    assert parse_propagation_policy(obj, T0) == PropagationPolicyInfo(
        key="shop/web",
        replica_scheduling_type="Divided",
        division_preference="Weighted",
        dynamic_weight=None,
        weights={"idc-1": 3, "tke-gz": 1},
        weights_shape_ok=True,
        weights_managers=("burstd",),
        resource_version="812",
        observed_at=T0,
    )


def test_propagation_policy_defaults() -> None:
    obj = edit(pp(), "spec.placement", DELETE)
    got = parse_propagation_policy(obj, T0)
    assert got.replica_scheduling_type == "Divided"  # the CRD's default
    assert (got.division_preference, got.dynamic_weight) == (None, None)
    assert (got.weights, got.weights_shape_ok, got.weights_managers) == ({}, True, ())


def test_propagation_policy_dynamic_weight() -> None:
    obj = edit(pp(), "spec.placement.replicaScheduling.weightPreference.dynamicWeight", "AvailableReplicas")
    assert parse_propagation_policy(obj, T0).dynamic_weight == "AvailableReplicas"


@pytest.mark.parametrize(
    ("entries", "weights"),
    [
        ([{"targetCluster": {"clusterNames": ["a", "b"]}, "weight": 2}, weight("c", 1)], {"c": 1}),
        ([{"targetCluster": {"labelSelector": {"matchLabels": {"x": "y"}}}, "weight": 2}], {}),
        ([{"targetCluster": {"clusterNames": ["a"], "exclude": ["b"]}, "weight": 2}], {}),
        ([{"targetCluster": {}, "weight": 2}], {}),
        ([weight("a", 1), weight("a", 4)], {"a": 4}),  # duplicates: Karmada takes the largest
    ],
    ids=["two-names", "label-selector", "exclude", "match-all", "duplicate"],
)
def test_propagation_policy_weights_not_burstd_shaped(entries: list[Obj], weights: dict[str, int]) -> None:
    got = parse_propagation_policy(pp(entries), T0)
    assert got.weights == weights
    assert got.weights_shape_ok is False


def test_empty_selectors_beside_one_cluster_name_are_still_burstd_shaped() -> None:
    entry = {"targetCluster": {"clusterNames": ["a"], "exclude": [], "labelSelector": {}}, "weight": 2}
    got = parse_propagation_policy(pp([entry]), T0)
    assert (got.weights, got.weights_shape_ok) == ({"a": 2}, True)


def test_propagation_policy_managers_sorted_and_without_non_owners() -> None:
    managed = [manager("gitops", owns_weights=True), manager("argo", owns_weights=True)]
    managed.append({"manager": "karmada", "operation": "Update", "fieldsType": "FieldsV1"})
    assert parse_propagation_policy(pp(managed=managed), T0).weights_managers == ("argo", "gitops")


# ---------------------------------------------------------------------------------------- Cluster API


AUTOSCALER = {
    "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0",
    "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "5",
}


def md_v1beta2() -> Obj:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "MachineDeployment",
        "metadata": {"name": "md-0", "namespace": "capi", "uid": "u-1"},
        "spec": {"clusterName": "tke-gz", "replicas": 3, "paused": False},
        "status": {"replicas": 4, "readyReplicas": 2, "deprecated": {"v1beta1": {"readyReplicas": 9}}},
    }


def md_v1beta1() -> Obj:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "MachineDeployment",
        "metadata": {"name": "md-0", "namespace": "capi", "uid": "u-1"},
        "spec": {"clusterName": "tke-gz", "replicas": 3, "paused": True},
        "status": {"replicas": 4, "readyReplicas": 9, "v1beta2": {"readyReplicas": 2}},
    }


def mp() -> Obj:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "MachinePool",
        "metadata": {"name": "mp-0", "namespace": "capi", "uid": "u-2", "annotations": AUTOSCALER},
        "spec": {"clusterName": "ack-hz"},
    }


def test_machine_deployment_v1beta2() -> None:
    assert parse_machine_deployment(md_v1beta2(), T0) == ScalableInfo(
        key="capi/md-0",
        kind="MachineDeployment",
        api_version="cluster.x-k8s.io/v1beta2",
        replicas=3,
        status_replicas=4,
        ready_replicas=2,  # Machines Ready=True; not the deprecated v1beta1 count
        paused=False,
        autoscaler_managed=False,
        uid="u-1",
        observed_at=T0,
    )


def test_machine_deployment_v1beta1_prefers_the_v1beta2_ready_count() -> None:
    got = parse_machine_deployment(md_v1beta1(), T0)
    assert (got.api_version, got.replicas, got.status_replicas, got.ready_replicas, got.paused) == (
        "cluster.x-k8s.io/v1beta1",
        3,
        4,
        2,
        True,
    )
    old_only = parse_machine_deployment(edit(md_v1beta1(), "status.v1beta2", DELETE), T0)
    assert old_only.ready_replicas == 9  # top-level readyReplicas when status.v1beta2 is absent


def test_machine_pool_defaults_and_autoscaler() -> None:
    got = parse_machine_pool(mp(), T0)
    assert got.kind == "MachinePool"
    assert (got.replicas, got.status_replicas, got.ready_replicas, got.paused) == (None, None, None, False)
    assert got.autoscaler_managed is True
    one = edit(mp(), "metadata.annotations", {next(iter(AUTOSCALER)): "0"})
    assert parse_machine_pool(one, T0).autoscaler_managed is False  # CA needs both annotations


def machine_v1beta2() -> Obj:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Machine",
        "metadata": {
            "name": "md-0-abc",
            "namespace": "capi",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"cluster.x-k8s.io/deployment-name": "md-0", "cluster.x-k8s.io/set-name": "ms"},
        },
        "spec": {"clusterName": "tke-gz"},
        "status": {
            "phase": "Running",
            "nodeRef": {"name": "node-1"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}],
        },
    }


def machine_v1beta1() -> Obj:
    obj = edit(machine_v1beta2(), "apiVersion", "cluster.x-k8s.io/v1beta1")
    return edit(obj, "status.nodeRef", {"apiVersion": "v1", "kind": "Node", "name": "node-1"})


CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


def test_machine_v1beta2() -> None:
    assert parse_machine(machine_v1beta2(), T0) == MachineObs(
        key="capi/md-0-abc",
        name="md-0-abc",
        namespace="capi",
        owner_kind="MachineDeployment",
        owner_name="md-0",
        ready=True,
        deleting=False,
        failed=False,
        marked_for_deletion=False,
        node_name="node-1",
        created_at=CREATED,
        observed_at=T0,
    )


def test_machine_of_a_pool_being_deleted_and_marked() -> None:
    obj = edit(machine_v1beta2(), "metadata.labels", {"cluster.x-k8s.io/pool-name": "mp-0"})
    obj = edit(obj, "metadata.deletionTimestamp", "2026-01-02T04:00:00Z")
    obj = edit(obj, "metadata.annotations", {"cluster.x-k8s.io/delete-machine": "2026-01-02T03:59:00Z"})
    obj = edit(obj, "status", DELETE)
    got = parse_machine(obj, T0)
    assert (got.owner_kind, got.owner_name) == ("MachinePool", "mp-0")
    assert (got.deleting, got.marked_for_deletion) == (True, True)
    assert (got.ready, got.failed, got.node_name) == (False, False, None)


def test_machine_without_owner_label() -> None:
    got = parse_machine(edit(machine_v1beta2(), "metadata.labels", DELETE), T0)
    assert (got.owner_kind, got.owner_name) == (None, None)


@pytest.mark.parametrize(
    ("build", "path", "value", "failed"),
    [
        (machine_v1beta2, "status.phase", "Failed", True),
        (machine_v1beta2, "status.deprecated.v1beta1.failureReason", "CreateError", True),
        (machine_v1beta2, "status.deprecated.v1beta1.failureMessage", "quota", True),
        (machine_v1beta2, "status.failureReason", "CreateError", False),  # a v1beta1 field
        (machine_v1beta1, "status.phase", "Failed", True),
        (machine_v1beta1, "status.failureReason", "CreateError", True),
        (machine_v1beta1, "status.failureMessage", "quota", True),
        (machine_v1beta1, "status.failureMessage", "", False),
        (machine_v1beta1, "status.deprecated.v1beta1.failureReason", "CreateError", False),  # v1beta2
    ],
)
def test_machine_failed(build: Callable[[], Obj], path: str, value: str, failed: bool) -> None:
    assert parse_machine(edit(build(), path, value), T0).failed is failed


def test_machine_v1beta1_ready_prefers_v1beta2_conditions() -> None:
    old_ready = machine_v1beta1()
    assert parse_machine(old_ready, T0).ready is True
    assert parse_machine(old_ready, T0).node_name == "node-1"
    new_not_ready = edit(old_ready, "status.v1beta2.conditions", [{"type": "Ready", "status": "False"}])
    assert parse_machine(new_not_ready, T0).ready is False
    other_new = edit(old_ready, "status.v1beta2.conditions", [{"type": "Available", "status": "False"}])
    assert parse_machine(other_new, T0).ready is True  # no Ready there: the v1beta1 conditions decide


def test_machine_not_ready() -> None:
    for status in ("False", "Unknown"):
        obj = edit(machine_v1beta2(), "status.conditions[0].status", status)
        assert parse_machine(obj, T0).ready is False


# ---------------------------------------------------------------------------------------- malformed


MALFORMED: list[tuple[str, Parser, Obj, type[Exception], str]] = [
    ("fhpa no spec", parse_federated_hpa, edit(fhpa(), "spec", DELETE), ValueError, "spec is missing"),
    (
        "fhpa no target name",
        parse_federated_hpa,
        edit(fhpa(), "spec.scaleTargetRef.name", DELETE),
        ValueError,
        "spec.scaleTargetRef.name is missing",
    ),
    (
        "fhpa max not int",
        parse_federated_hpa,
        edit(fhpa(), "spec.maxReplicas", "40"),
        TypeError,
        "spec.maxReplicas must be an integer, got '40'",
    ),
    (
        "fhpa no max",
        parse_federated_hpa,
        edit(fhpa(), "spec.maxReplicas", DELETE),
        ValueError,
        "spec.maxReplicas is missing",
    ),
    (
        "fhpa desired bool",
        parse_federated_hpa,
        edit(fhpa(), "status.desiredReplicas", True),
        TypeError,
        "status.desiredReplicas must be an integer, got True",
    ),
    (
        "fhpa negative",
        parse_federated_hpa,
        edit(fhpa(), "status.currentReplicas", -1),
        ValueError,
        "status.currentReplicas must not be negative",
    ),
    (
        "fhpa conditions not list",
        parse_federated_hpa,
        edit(fhpa(), "status.conditions", {"type": "x"}),
        TypeError,
        "status.conditions must be a list",
    ),
    (
        "rb no name",
        parse_resource_binding,
        edit(binding(), "metadata.name", DELETE),
        ValueError,
        "metadata.name",
    ),
    (
        "rb cluster replicas",
        parse_resource_binding,
        edit(binding(), "spec.clusters[1].replicas", "x"),
        TypeError,
        "spec.clusters[1].replicas must be an integer, got 'x'",
    ),
    (
        "rb cluster name",
        parse_resource_binding,
        edit(binding(), "spec.clusters[0].name", DELETE),
        ValueError,
        "spec.clusters[0].name is missing",
    ),
    (
        "rb cluster not object",
        parse_resource_binding,
        edit(binding(), "spec.clusters[0]", "idc-1"),
        TypeError,
        "spec.clusters[0] must be an object",
    ),
    (
        "rb replicas float",
        parse_resource_binding,
        edit(binding(), "spec.replicas", 1.5),
        TypeError,
        "spec.replicas must be an integer, got 1.5",
    ),
    (
        "rb bad quantity",
        parse_resource_binding,
        edit(binding(), "spec.replicaRequirements.resourceRequest.cpu", "lots"),
        ValueError,
        "spec.replicaRequirements.resourceRequest.cpu: invalid quantity 'lots'",
    ),
    (
        "rb quantity type",
        parse_resource_binding,
        edit(binding(), "spec.replicaRequirements.resourceRequest.memory", [1]),
        TypeError,
        "spec.replicaRequirements.resourceRequest.memory must be a quantity",
    ),
    (
        "rb no resource",
        parse_resource_binding,
        edit(binding(), "spec.resource", DELETE),
        ValueError,
        "spec.resource is missing",
    ),
    (
        "rb resource kind",
        parse_resource_binding,
        edit(binding(), "spec.resource.kind", 3),
        TypeError,
        "spec.resource.kind must be a string, got 3",
    ),
    (
        "rb ready",
        parse_resource_binding,
        edit(binding(), "status.aggregatedStatus[0].status.readyReplicas", "5"),
        TypeError,
        "status.aggregatedStatus[0].status.readyReplicas must be an integer, got '5'",
    ),
    (
        "rb aggregated cluster",
        parse_resource_binding,
        edit(binding(), "status.aggregatedStatus[1].clusterName", DELETE),
        ValueError,
        "status.aggregatedStatus[1].clusterName is missing",
    ),
    (
        "rb annotation",
        parse_resource_binding,
        edit(binding(), "metadata.annotations", {"propagationpolicy.karmada.io/name": 1}),
        TypeError,
        "metadata.annotations['propagationpolicy.karmada.io/name'] must be a string",
    ),
    (
        "pp weight not int",
        parse_propagation_policy,
        pp([{"targetCluster": {"clusterNames": ["a"]}, "weight": "2"}]),
        TypeError,
        "spec.placement.replicaScheduling.weightPreference.staticWeightList[0].weight must be an integer",
    ),
    (
        "pp weight zero",
        parse_propagation_policy,
        pp([weight("a", 1), weight("b", 0)]),
        ValueError,
        "staticWeightList[1].weight must be at least 1, got 0",
    ),
    (
        "pp no target",
        parse_propagation_policy,
        pp([{"weight": 1}]),
        ValueError,
        "staticWeightList[0].targetCluster is missing",
    ),
    (
        "pp cluster name type",
        parse_propagation_policy,
        pp([{"targetCluster": {"clusterNames": [7]}, "weight": 1}]),
        TypeError,
        "staticWeightList[0].clusterNames[0] must be a string, got 7",
    ),
    (
        "pp scheduling not object",
        parse_propagation_policy,
        edit(pp(), "spec.placement.replicaScheduling", "Divided"),
        TypeError,
        "spec.placement.replicaScheduling must be an object, got str",
    ),
    (
        "pp managed fields",
        parse_propagation_policy,
        pp(managed=[{"manager": 5, "fieldsV1": manager("x", owns_weights=True)["fieldsV1"]}]),
        TypeError,
        "metadata.managedFields[0].manager must be a string",
    ),
    (
        "md replicas string",
        parse_machine_deployment,
        edit(md_v1beta2(), "spec.replicas", "3"),
        TypeError,
        "spec.replicas must be an integer, got '3'",
    ),
    (
        "md paused string",
        parse_machine_deployment,
        edit(md_v1beta2(), "spec.paused", "true"),
        TypeError,
        "spec.paused must be a boolean, got 'true'",
    ),
    (
        "md ready bool",
        parse_machine_deployment,
        edit(md_v1beta2(), "status.readyReplicas", False),
        TypeError,
        "status.readyReplicas must be an integer, got False",
    ),
    (
        "md v1beta1 ready",
        parse_machine_deployment,
        edit(md_v1beta1(), "status.v1beta2.readyReplicas", "2"),
        TypeError,
        "status.v1beta2.readyReplicas must be an integer",
    ),
    (
        "md version",
        parse_machine_deployment,
        edit(md_v1beta2(), "apiVersion", "cluster.x-k8s.io/v1alpha4"),
        ValueError,
        "apiVersion must be cluster.x-k8s.io/v1beta2 or cluster.x-k8s.io/v1beta1, got "
        "'cluster.x-k8s.io/v1alpha4'",
    ),
    (
        "md no kind",
        parse_machine_deployment,
        edit(md_v1beta2(), "kind", DELETE),
        ValueError,
        "kind is missing",
    ),
    (
        "md given a pool",
        parse_machine_deployment,
        edit(mp(), "metadata.annotations", DELETE),
        ValueError,
        "kind must be MachineDeployment, got 'MachinePool'",
    ),
    (
        "mp given a deployment",
        parse_machine_pool,
        md_v1beta2(),
        ValueError,
        "kind must be MachinePool, got 'MachineDeployment'",
    ),
    ("mp no spec", parse_machine_pool, edit(mp(), "spec", DELETE), ValueError, "spec is missing"),
    (
        "machine created",
        parse_machine,
        edit(machine_v1beta2(), "metadata.creationTimestamp", "yesterday"),
        ValueError,
        "metadata.creationTimestamp must be an RFC 3339 time, got 'yesterday'",
    ),
    (
        "machine created naive",
        parse_machine,
        edit(machine_v1beta2(), "metadata.creationTimestamp", "2026-01-02T03:04:05"),
        ValueError,
        "metadata.creationTimestamp must be an RFC 3339 time with a zone",
    ),
    (
        "machine no created",
        parse_machine,
        edit(machine_v1beta2(), "metadata.creationTimestamp", DELETE),
        ValueError,
        "metadata.creationTimestamp is missing",
    ),
    (
        "machine node name",
        parse_machine,
        edit(machine_v1beta2(), "status.nodeRef.name", 1),
        TypeError,
        "status.nodeRef.name must be a string, got 1",
    ),
    (
        "machine conditions",
        parse_machine,
        edit(machine_v1beta2(), "status.conditions[0]", "Ready"),
        TypeError,
        "status.conditions[0] must be an object, got str",
    ),
    (
        "machine v1beta1 conditions",
        parse_machine,
        edit(machine_v1beta1(), "status.v1beta2.conditions", "Ready"),
        TypeError,
        "status.v1beta2.conditions must be a list, got str",
    ),
    (
        "machine failure reason",
        parse_machine,
        edit(machine_v1beta2(), "status.deprecated.v1beta1.failureReason", 3),
        TypeError,
        "status.deprecated.v1beta1.failureReason must be a string, got 3",
    ),
    (
        "machine labels",
        parse_machine,
        edit(machine_v1beta2(), "metadata.labels", ["a"]),
        TypeError,
        "metadata.labels must be an object, got list",
    ),
    (
        "machine no metadata",
        parse_machine,
        edit(machine_v1beta2(), "metadata", DELETE),
        ValueError,
        "metadata",
    ),
]


@pytest.mark.parametrize(
    ("parser", "obj", "error", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_objects_name_the_field(
    parser: Parser, obj: Obj, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        parser(obj, T0)
    assert message in str(caught.value)


def test_cluster_parser_keeps_its_messages() -> None:
    obj = {
        "metadata": {"name": "idc-1"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "resourceSummary": {"allocatable": {"cpu": "8", "memory": "32Gi"}, "allocated": {"cpu": "2"}},
        },
    }
    got = parse_cluster(obj, T0)
    assert (got.allocatable, got.allocated, got.ready) == (Resources(8, 32 * GI), Resources(2, 0), True)
    assert got.changed_at == got.observed_at == T0  # first heard now (the watch cache keeps it on repeats)
    with pytest.raises(ValueError, match=r"status\.resourceSummary\.allocatable\.memory is missing"):
        parse_cluster(edit(obj, "status.resourceSummary.allocatable.memory", DELETE), T0)
    with pytest.raises(TypeError, match=r"status\.resourceSummary\.allocated\.cpu must be a quantity"):
        parse_cluster(edit(obj, "status.resourceSummary.allocated.cpu", None), T0)


def test_a_ready_cluster_without_nodes_has_no_room() -> None:
    """What the real cluster status controller writes for a Ready member with no Nodes: zero quantities
    are left out, so the summaries are empty (tests/e2e/test_real_members.py sees it on a real member)."""
    for status in (
        {"conditions": [{"type": "Ready", "status": "True"}], "resourceSummary": {}, "nodeSummary": {}},
        {"conditions": [{"type": "Ready", "status": "True"}]},
    ):
        got = parse_cluster({"metadata": {"name": "tke-gz"}, "status": status}, T0)
        assert (got.allocatable, got.allocated, got.allocating, got.ready) == (
            Resources(0, 0),
            Resources(0, 0),
            Resources(0, 0),
            True,
        )
