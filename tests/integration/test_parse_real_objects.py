"""The parsers against what the real kube-apiserver returns for the upstream Karmada and Cluster API CRDs
(schema pruning, defaults, the /status subresource, managedFields), and build_world on those values.

The CAPI CRDs here have no ``spec.conversion`` (strategy None: no conversion webhook runs), so the
apiserver serves a v1beta2 object at v1beta1 by rewriting ``apiVersion`` and pruning what the other
version's schema lacks: only fields common to both versions survive a read at the other version (e.g.
``status.deprecated.v1beta1.failureReason`` is dropped at v1beta1, and v1beta1's top-level
``status.failureReason`` cannot be stored at all). The v1beta1-only fields are covered by
tests/unit/test_parse_objects.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from burstd.kube.client import KubeClient
from burstd.kube.parse import (
    parse_federated_hpa,
    parse_machine,
    parse_machine_deployment,
    parse_machine_pool,
    parse_propagation_policy,
    parse_resource_binding,
)
from burstd.kube.resources import (
    FEDERATED_HPAS,
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    MACHINE_POOLS,
    MACHINE_POOLS_V1BETA1,
    MACHINES,
    MACHINES_V1BETA1,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
)
from burstd.model.world import MachineInfo, PoolState, Resources
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.observe import Snapshot, build_world, describe_missing

from .controlplane import ControlPlane
from .objects import machine_deployment, unique

T = TypeVar("T")
Obj = dict[str, Any]
AT = 1_800_000_000.0
GI = 2.0**30
WHEN = "2026-11-22T00:00:00Z"
AUTOSCALER = {
    "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "1",
    "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "5",
}
FINALIZER = "burstd.io/test-hold"


def run(plane: ControlPlane, body: Callable[[KubeClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await KubeClient.from_kubeconfig(str(plane.kubeconfig)) as kube:
            return await asyncio.wait_for(body(kube), 60)

    return asyncio.run(main())


def namespace(plane: ControlPlane) -> str:
    ns = unique("parse")
    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    return ns


def condition(type_: str, status: str, reason: str) -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": WHEN}


# ---------------------------------------------------------------------------------------- Karmada


def fhpa(name: str) -> Obj:
    return {
        "apiVersion": FEDERATED_HPAS.api_version,
        "kind": "FederatedHPA",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 40,
        },
    }


def test_federated_hpa(control_plane: ControlPlane) -> None:
    ns, name = namespace(control_plane), unique("fhpa")
    status = {
        "currentReplicas": 8,
        "desiredReplicas": 40,
        "conditions": [
            condition("AbleToScale", "True", "SucceededRescale"),
            condition("ScalingLimited", "True", "TooManyReplicas"),
        ],
    }

    async def body(kube: KubeClient) -> tuple[Obj, Obj]:
        created = await kube.create(FEDERATED_HPAS, fhpa(name), ns)
        patched = await kube.patch_status(FEDERATED_HPAS, name, {"status": status}, ns)
        return created, patched

    created, patched = run(control_plane, body)
    fresh = parse_federated_hpa(created, AT)
    assert fresh.key == f"{ns}/{name}"
    assert (fresh.target_api_version, fresh.target_kind, fresh.target_name) == (
        "apps/v1",
        "Deployment",
        "web",
    )
    # No defaulting webhook here: minReplicas stays unset and the parser applies Karmada's default of 1.
    assert "minReplicas" not in created["spec"]
    assert (fresh.min_replicas, fresh.max_replicas) == (1, 40)
    assert (fresh.current_replicas, fresh.desired_replicas, fresh.scaling_limited) == (None, None, False)
    scaled = parse_federated_hpa(patched, AT + 1)
    assert (scaled.current_replicas, scaled.desired_replicas, scaled.scaling_limited) == (8, 40, True)
    assert scaled.observed_at == AT + 1


def binding(name: str, ns: str, policy: str) -> Obj:
    return {
        "apiVersion": RESOURCE_BINDINGS.api_version,
        "kind": "ResourceBinding",
        "metadata": {
            "name": name,
            "annotations": {
                "propagationpolicy.karmada.io/namespace": ns,
                "propagationpolicy.karmada.io/name": policy,
            },
        },
        "spec": {
            "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": ns},
            "replicas": 10,
            "replicaRequirements": {"resourceRequest": {"cpu": "250m", "memory": "512Mi"}},
            "clusters": [{"name": "base", "replicas": 6}, {"name": "cloud", "replicas": 2}],
        },
        # Ignored on create: ResourceBinding has a status subresource.
        "status": {"aggregatedStatus": [{"clusterName": "base", "status": {"readyReplicas": 6}}]},
    }


def test_resource_binding_with_status(control_plane: ControlPlane) -> None:
    ns, name = namespace(control_plane), unique("web-deployment")
    status = {
        "schedulerObservedGeneration": 1,
        "conditions": [condition("Scheduled", "False", "Unschedulable")],
        "aggregatedStatus": [
            {"clusterName": "base", "status": {"readyReplicas": 6, "replicas": 6}, "applied": True},
            {"clusterName": "cloud", "status": {"replicas": 2}, "applied": True, "health": "Unhealthy"},
        ],
    }

    async def body(kube: KubeClient) -> tuple[Obj, Obj]:
        created = await kube.create(RESOURCE_BINDINGS, binding(name, ns, "web"), ns)
        patched = await kube.patch_status(RESOURCE_BINDINGS, name, {"status": status}, ns)
        return created, patched

    created, patched = run(control_plane, body)
    fresh = parse_resource_binding(created, AT)
    assert "status" not in created  # the status in the create body was dropped
    assert (fresh.ready_by_cluster, fresh.scheduled, fresh.scheduler_observed_generation) == ({}, None, 0)
    got = parse_resource_binding(patched, AT)
    assert got.key == f"{ns}/{name}"
    assert got.policy_key == f"{ns}/web"
    assert (got.resource_api_version, got.resource_kind, got.resource_namespace, got.resource_name) == (
        "apps/v1",
        "Deployment",
        ns,
        "web",
    )
    assert got.replicas == 10
    assert got.request == Resources(0.25, 0.5 * GI)
    assert got.clusters == {"base": 6, "cloud": 2}
    assert got.ready_by_cluster == {"base": 6, "cloud": 0}
    assert (got.scheduled, got.scheduled_reason) == (False, "Unschedulable")
    assert (got.generation, got.scheduler_observed_generation) == (1, 1)


def propagation_policy(name: str, ns: str) -> Obj:
    return {
        "apiVersion": PROPAGATION_POLICIES.api_version,
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}],
            "placement": {
                "clusterAffinity": {"clusterNames": ["base", "cloud"]},
                "replicaScheduling": {"replicaDivisionPreference": "Weighted"},
            },
        },
    }


def weights_apply(name: str, ns: str, weights: dict[str, int]) -> Obj:
    entries = [{"targetCluster": {"clusterNames": [c]}, "weight": w} for c, w in weights.items()]
    return {
        "apiVersion": PROPAGATION_POLICIES.api_version,
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"placement": {"replicaScheduling": {"weightPreference": {"staticWeightList": entries}}}},
    }


def test_propagation_policy_weights_and_their_managers(control_plane: ControlPlane) -> None:
    ns, name = namespace(control_plane), unique("pp")

    async def body(kube: KubeClient) -> tuple[Obj, Obj]:
        created = await kube.create(PROPAGATION_POLICIES, propagation_policy(name, ns), ns)
        applied = await kube.apply(
            PROPAGATION_POLICIES,
            weights_apply(name, ns, {"base": 1, "cloud": 3}),
            field_manager="burstd",
            namespace=ns,
        )
        return created, applied

    created, applied = run(control_plane, body)
    fresh = parse_propagation_policy(created, AT)
    assert fresh.replica_scheduling_type == "Divided"  # the CRD's default, filled in by the apiserver
    assert created["spec"]["placement"]["replicaScheduling"]["replicaSchedulingType"] == "Divided"
    assert (fresh.division_preference, fresh.dynamic_weight) == ("Weighted", None)
    assert (fresh.weights, fresh.weights_shape_ok, fresh.weights_managers) == ({}, True, ())
    mine = parse_propagation_policy(applied, AT)
    assert (mine.weights, mine.weights_shape_ok, mine.weights_managers) == (
        {"base": 1, "cloud": 3},
        True,
        ("burstd",),
    )
    assert mine.resource_version == applied["metadata"]["resourceVersion"] != fresh.resource_version

    # Someone else rewrites the list with a merge patch (an Update): the list is atomic, so they own it now.
    theirs = {"targetCluster": {"clusterNames": ["base", "cloud"]}, "weight": 2}
    patch = {
        "spec": {"placement": {"replicaScheduling": {"weightPreference": {"staticWeightList": [theirs]}}}}
    }
    path = f"/apis/{PROPAGATION_POLICIES.api_version}/namespaces/{ns}/propagationpolicies/{name}"
    status, patched = control_plane.request(
        "PATCH", f"{path}?fieldManager=gitops", patch, content_type="application/merge-patch+json"
    )
    assert status == 200, patched
    other = parse_propagation_policy(patched, AT)
    assert (other.weights, other.weights_shape_ok, other.weights_managers) == ({}, False, ("gitops",))


# ---------------------------------------------------------------------------------------- Cluster API


def machine_pool(name: str) -> Obj:
    return {
        "apiVersion": MACHINE_POOLS.api_version,
        "kind": "MachinePool",
        "metadata": {"name": name, "annotations": AUTOSCALER},
        "spec": {
            "clusterName": "mgmt-burst",
            "template": {
                "spec": {
                    "clusterName": "mgmt-burst",
                    "bootstrap": {"dataSecretName": f"{name}-bootstrap"},
                    "infrastructureRef": {
                        "apiGroup": "infrastructure.cluster.x-k8s.io",
                        "kind": "DockerMachinePool",
                        "name": f"{name}-infra",
                    },
                }
            },
        },
    }


def machine(name: str, labels: dict[str, str], annotations: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": MACHINES.api_version,
        "kind": "Machine",
        "metadata": {"name": name, "labels": labels, "annotations": annotations or {}},
        "spec": {
            "clusterName": "mgmt-burst",
            "bootstrap": {"dataSecretName": f"{name}-bootstrap"},
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io",
                "kind": "DockerMachine",
                "name": f"{name}-infra",
            },
        },
    }


def machine_status(ready: str, node: str | None = None, failure: str | None = None) -> Obj:
    status: Obj = {"phase": "Running", "conditions": [condition("Ready", ready, "Ready")]}
    if node is not None:
        status["nodeRef"] = {"name": node}
    if failure is not None:
        status["deprecated"] = {"v1beta1": {"failureReason": failure, "failureMessage": "no stock"}}
    return {"status": status}


def test_machine_deployment_both_versions(control_plane: ControlPlane) -> None:
    ns, name = namespace(control_plane), unique("md")
    md = machine_deployment(name, 2)
    md["metadata"]["annotations"] = AUTOSCALER
    status = {"replicas": 3, "readyReplicas": 1, "deprecated": {"v1beta1": {"readyReplicas": 2}}}

    async def body(kube: KubeClient) -> tuple[Obj, Obj, Obj]:
        await kube.create(MACHINE_DEPLOYMENTS, md, ns)
        patched = await kube.patch_status(MACHINE_DEPLOYMENTS, name, {"status": status}, ns)
        paused = await kube.merge_patch(MACHINE_DEPLOYMENTS, name, {"spec": {"paused": True}}, ns)
        old = await kube.get(MACHINE_DEPLOYMENTS_V1BETA1, name, ns)
        return patched, paused, old

    patched, paused, old = run(control_plane, body)
    v2 = parse_machine_deployment(patched, AT)
    assert v2.key == f"{ns}/{name}"
    assert (v2.kind, v2.api_version) == ("MachineDeployment", "cluster.x-k8s.io/v1beta2")
    assert (v2.replicas, v2.status_replicas, v2.ready_replicas) == (2, 3, 1)
    assert (v2.paused, v2.autoscaler_managed, v2.uid) == (False, True, patched["metadata"]["uid"])
    assert parse_machine_deployment(paused, AT).paused is True
    v1 = parse_machine_deployment(old, AT)
    assert old["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert "deprecated" not in old["status"]  # pruned: not in the v1beta1 schema
    assert v1 == replace(parse_machine_deployment(paused, AT), api_version="cluster.x-k8s.io/v1beta1")


def test_machine_pool_both_versions(control_plane: ControlPlane) -> None:
    ns, name = namespace(control_plane), unique("mp")

    async def body(kube: KubeClient) -> tuple[Obj, Obj, Obj]:
        created = await kube.create(MACHINE_POOLS, machine_pool(name), ns)
        patched = await kube.patch_status(
            MACHINE_POOLS, name, {"status": {"replicas": 2, "readyReplicas": 2}}, ns
        )
        old = await kube.get(MACHINE_POOLS_V1BETA1, name, ns)
        return created, patched, old

    created, patched, old = run(control_plane, body)
    fresh = parse_machine_pool(created, AT)
    # No CAPI defaulting webhook here: spec.replicas stays unset.
    assert (fresh.kind, fresh.replicas, fresh.status_replicas, fresh.ready_replicas) == (
        "MachinePool",
        None,
        None,
        None,
    )
    assert fresh.autoscaler_managed is True
    got = parse_machine_pool(patched, AT)
    assert (got.status_replicas, got.ready_replicas) == (2, 2)
    assert parse_machine_pool(old, AT) == replace(got, api_version="cluster.x-k8s.io/v1beta1")


def burst_policy(ns: str, md: str, mp: str) -> BurstPolicy:
    def pool(name: str, backend: str, ref: str) -> Obj:
        return {
            "name": name,
            "provider": "fake",
            "cluster": f"cloud-{name}",
            "backend": backend,
            "ref": {"namespace": ns, "name": ref},
            "nodes": {"max": 10},
            "allocatable": {"cpu": "8", "memory": "16Gi"},
            "price": {"perNodeHour": 1.0},
        }

    doc = parse_document(
        {
            "apiVersion": "burstd.io/v1alpha1",
            "kind": "BurstPolicy",
            "metadata": {"name": "real"},
            "spec": {
                "workloads": [{"propagationPolicy": {"namespace": ns, "name": "web"}}],
                "base": {"clusters": ["base"]},
                "burst": {
                    "pools": [
                        pool("md", "capi-machinedeployment", md),
                        pool("mp", "capi-machinepool", mp),
                    ]
                },
                "triggers": {
                    "scaleOut": {"any": [{"signal": "base.cpu.requestedRatio", "above": 0.8}]},
                    "scaleIn": {"any": [{"signal": "base.cpu.requestedRatio", "below": 0.5}]},
                },
            },
        }
    )
    assert isinstance(doc, BurstPolicy)
    return doc


def test_machines_and_the_pool_built_from_them(control_plane: ControlPlane) -> None:
    ns, md_name = namespace(control_plane), unique("md")
    owned = {"cluster.x-k8s.io/deployment-name": md_name}
    names = [f"{md_name}-{s}" for s in ("ready", "failed", "leaving", "marked")]
    pool_machine = unique("mp-machine")

    async def body(kube: KubeClient) -> tuple[list[Obj], list[Obj], Obj, Obj]:
        md = await kube.create(MACHINE_DEPLOYMENTS, machine_deployment(md_name, 4), ns)
        marked = {"cluster.x-k8s.io/delete-machine": WHEN}
        for n in names:
            await kube.create(MACHINES, machine(n, owned, marked if n.endswith("marked") else None), ns)
        await kube.create(MACHINES, machine(pool_machine, {"cluster.x-k8s.io/pool-name": "mp-x"}), ns)
        await kube.patch_status(MACHINES, names[0], machine_status("True", node="node-a"), ns)
        await kube.patch_status(MACHINES, names[1], machine_status("False", failure="CreateError"), ns)
        await kube.patch_status(MACHINES, names[2], machine_status("True", node="node-c"), ns)
        # Deleting: a finalizer keeps the Machine with a deletionTimestamp (no CAPI controller here).
        await kube.merge_patch(MACHINES, names[2], {"metadata": {"finalizers": [FINALIZER]}}, ns)
        await kube.delete(MACHINES, names[2], ns)
        try:
            now = [await kube.get(MACHINES, n, ns) for n in [*names, pool_machine]]
            old = [await kube.get(MACHINES_V1BETA1, n, ns) for n in names]
        finally:
            await kube.merge_patch(MACHINES, names[2], {"metadata": {"finalizers": None}}, ns)
        return now, old, md, await kube.get(MACHINE_DEPLOYMENTS, md_name, ns)

    now, old, _, md = run(control_plane, body)
    parsed = [parse_machine(m, AT) for m in now]
    ready, failed, leaving, marked, in_pool = parsed
    created = datetime.fromisoformat(now[0]["metadata"]["creationTimestamp"]).timestamp()
    assert (ready.key, ready.name, ready.namespace) == (f"{ns}/{names[0]}", names[0], ns)
    assert (ready.owner_kind, ready.owner_name) == ("MachineDeployment", md_name)
    assert (ready.ready, ready.deleting, ready.failed, ready.node_name) == (True, False, False, "node-a")
    assert ready.created_at == created
    assert (failed.ready, failed.failed, failed.node_name) == (False, True, None)
    assert (leaving.ready, leaving.deleting, leaving.marked_for_deletion) == (True, True, False)
    assert (marked.ready, marked.marked_for_deletion, marked.deleting) == (False, True, False)
    assert (in_pool.owner_kind, in_pool.owner_name) == ("MachinePool", "mp-x")

    # The same Machines read as v1beta1 parse the same, except the failure that v1beta1 cannot carry here.
    as_v1 = [parse_machine(m, AT) for m in old]
    assert [m.failed for m in as_v1] == [False, False, False, False]
    assert [replace(m, failed=False) for m in parsed[:4]] == as_v1

    # build_world on the parsed objects: the MachineDeployment pool counts its Machines.
    policy = burst_policy(ns, md_name, "absent-mp")
    snap = Snapshot(
        scalables={f"{ns}/{md_name}": parse_machine_deployment(md, AT)},
        machines={m.key: m for m in parsed},
    )
    world = build_world(policy, snap)
    assert world.pools == {
        "md": PoolState(
            name="md",
            desired=4,
            ready=1,
            existing=4,
            failed=1,
            observed_at=AT,
            machines=tuple(
                MachineInfo(m.name, m.ready, 0, m.created_at, m.deleting)
                for m in sorted(parsed[:4], key=lambda m: m.name)
            ),
        )
    }
    assert describe_missing(policy, snap) == [
        "Cluster base",
        "Cluster cloud-md",
        "Cluster cloud-mp",
        f"PropagationPolicy {ns}/web",
        f"MachinePool {ns}/absent-mp",
    ]
