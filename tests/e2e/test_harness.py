"""The harness itself, without burstd: its scheduler divides like Karmada, its Cluster API sim scales,
readies and deletes Machines like CAPI, its statuses are schema-valid and add up, and its fleet and policy
are what burstd expects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from burstd.kube.client import (
    FEDERATED_HPAS,
    KARMADA_CLUSTERS,
    MACHINE_DEPLOYMENTS,
    MACHINES,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
)
from burstd.kube.errors import NotFound
from burstd.kube.parse import parse_cluster
from burstd.policy.loader import load_text
from burstd.policy.spec import BurstPolicy

from .capi_sim import is_ready
from .conditions import find
from .fleet import (
    BURSTD_MANAGER,
    DELETE_MACHINE,
    GI,
    HARNESS_MANAGER,
    Fleet,
    policy_doc,
    policy_yaml,
    weights_body,
)
from .harness import Harness, Planes, run_harness
from .karmada_sim import merge_diff, resource_summary, static_weights
from .recorder import weight_managers, weight_map
from .webster import divide

T = TypeVar("T")


def run(planes: Planes, body: Callable[[Harness], Awaitable[T]], **kwargs: Any) -> T:
    """Run ``body`` inside a harness that is stepped by hand (``start=False``) unless told otherwise."""

    async def main() -> T:
        kwargs.setdefault("start", False)
        async with run_harness(*planes, **kwargs) as h:
            return await body(h)

    return asyncio.run(main())


async def set_weights(h: Harness, weights: dict[str, int], manager: str = BURSTD_MANAGER) -> None:
    await h.karmada_kube.apply(
        PROPAGATION_POLICIES,
        weights_body(h.fleet, weights),
        field_manager=manager,
        namespace=h.fleet.namespace,
    )


async def binding(h: Harness) -> dict[str, Any]:
    return await h.karmada_kube.get(RESOURCE_BINDINGS, h.fleet.binding, h.fleet.namespace)


def ready_by_cluster(rb: dict[str, Any]) -> dict[str, int]:
    return {
        a["clusterName"]: int((a.get("status") or {}).get("readyReplicas", 0))
        for a in (rb.get("status") or {}).get("aggregatedStatus") or []
    }


def clusters_of(rb: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c["replicas"] for c in rb["spec"].get("clusters") or []}


# ------------------------------------------------------------------------------------------ pure


@pytest.mark.parametrize(
    ("replicas", "weights", "expected"),
    [
        # the examples in Karmada's code comments
        (9, {"a": 1, "b": 2}, {"a": 3, "b": 6}),
        (9, {"a": 1, "b": 3}, {"a": 2, "b": 7}),
        # a tie between equal seats goes to the lower name
        (3, {"idc-1": 1, "tke-gz": 1}, {"idc-1": 2, "tke-gz": 1}),
        (1, {"tke-gz": 1, "idc-1": 1}, {"idc-1": 1}),
        # a tie between different seats goes to fewer seats, whatever the names: 3/(2*1+1) == 1/(2*0+1)
        (2, {"a": 3, "b": 1}, {"a": 1, "b": 1}),
        # 0-weight clusters and 0-replica clusters are dropped
        (5, {"idc-1": 1, "tke-gz": 0}, {"idc-1": 5}),
        (0, {"idc-1": 1, "tke-gz": 1}, {}),
        (4, {}, {}),
        # Webster on a classic example: 8 seats for 100k/80k/30k/20k votes -> 3/3/1/1
        (8, {"A": 100_000, "B": 80_000, "C": 30_000, "D": 20_000}, {"A": 3, "B": 3, "C": 1, "D": 1}),
    ],
)
def test_webster_division(replicas: int, weights: dict[str, int], expected: dict[str, int]) -> None:
    assert divide(replicas, weights) == expected


def test_static_weights_follow_karmada_matching_rules() -> None:
    rs = {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted"}
    candidates: dict[str, dict[str, str]] = {"idc-1": {}, "tke-gz": {"tier": "cloud"}}

    def with_rules(*rules: dict[str, Any]) -> dict[str, Any]:
        return {"replicaScheduling": {**rs, "weightPreference": {"staticWeightList": list(rules)}}}

    def rule(weight: int, **target: Any) -> dict[str, Any]:
        return {"targetCluster": target, "weight": weight}

    # no weightPreference: equal weights
    assert static_weights({"replicaScheduling": rs}, candidates) == {"idc-1": 1, "tke-gz": 1}
    # a candidate no rule matches gets 0 (and so no replicas)
    assert static_weights(with_rules(rule(1, clusterNames=["idc-1"])), candidates) == {
        "idc-1": 1,
        "tke-gz": 0,
    }
    # several matching rules: the highest weight wins; exclude beats clusterNames; labels match
    rules = with_rules(
        rule(2, clusterNames=["idc-1", "tke-gz"]),
        rule(5, labelSelector={"matchLabels": {"tier": "cloud"}}),
        rule(9, clusterNames=["idc-1"], exclude=["idc-1"]),
    )
    assert static_weights(rules, candidates) == {"idc-1": 2, "tke-gz": 5}
    # no candidate matches any rule: equal weights
    assert static_weights(with_rules(rule(3, clusterNames=["elsewhere"])), candidates) == {
        "idc-1": 1,
        "tke-gz": 1,
    }


def test_resource_summary_arithmetic() -> None:
    fleet = Fleet()  # nodes: 8 cpu, 32Gi, 110 pods; replicas request 500m, 1Gi
    assert fleet.replicas_per_node == 16
    summary = resource_summary(fleet, nodes=3, assigned=40, ready=37)
    assert summary == {
        "allocatable": {"cpu": "24", "memory": "96Gi", "pods": "330"},
        "allocated": {"cpu": "18500m", "memory": "37Gi", "pods": "37"},
        "allocating": {"cpu": "1500m", "memory": "3Gi", "pods": "3"},
    }
    # burstd reads it back as the same numbers
    parsed = parse_cluster({"metadata": {"name": "x"}, "status": {"resourceSummary": summary}}, 0.0)
    assert (parsed.allocatable.cpu, parsed.allocated.cpu, parsed.allocating.cpu) == (24.0, 18.5, 1.5)
    assert (parsed.allocatable.memory, parsed.allocated.memory) == (96 * GI, 37 * GI)
    empty = resource_summary(fleet, nodes=0, assigned=4, ready=0)
    assert empty["allocatable"] == {"cpu": "0", "memory": "0", "pods": "0"}
    assert empty["allocating"] == {"cpu": "2", "memory": "4Gi", "pods": "4"}


def test_merge_diff_removes_what_is_gone() -> None:
    old = {"a": {"b": 1, "c": 2}, "d": [1], "e": 1}
    new = {"a": {"b": 1}, "d": [2], "f": {"g": 1}}
    assert merge_diff(old, new) == {"a": {"c": None}, "d": [2], "e": None, "f": {"g": 1}}


def test_policy_for_the_fleet_is_a_valid_burst_policy() -> None:
    fleet = Fleet.unique()
    result = load_text(policy_yaml(fleet), "e2e-policy.yaml")
    assert result.errors == []
    [(_, policy)] = result.policies
    assert policy == BurstPolicy.model_validate(policy_doc(fleet))
    spec = policy.spec
    assert policy.name == fleet.policy_name
    assert spec.workloads[0].propagation_policy.key == fleet.workload_key
    assert spec.workloads[0].federated_hpa is not None
    assert spec.workloads[0].federated_hpa.key == fleet.workload_key
    assert spec.base.clusters == [fleet.base_cluster]
    [pool] = spec.burst.pools
    assert (pool.cluster, pool.backend) == (fleet.cloud_cluster, "capi-machinedeployment")
    assert pool.ref is not None
    assert pool.ref.key == f"{fleet.capi_namespace}/{fleet.machine_deployment}"
    assert (pool.allocatable.cpu, pool.allocatable.memory, pool.allocatable.pods) == (8.0, 32 * GI, 110)
    assert (spec.shift.interval, spec.drain.interval, spec.drain.min_burst_duration) == (1.0, 1.0, 5.0)
    assert (spec.drain.stabilization_window, spec.burst.provision_timeout, spec.safety.signal_max_age) == (
        5.0,
        60.0,
        30.0,
    )
    assert all(c.for_ <= 2.0 for c in spec.triggers.scale_out.conditions + spec.triggers.scale_in.conditions)


# ------------------------------------------------------------------------------------------ on the apiserver


def test_fleet_objects_and_initial_weights(planes: Planes) -> None:
    async def body(h: Harness) -> None:
        fleet, kube = h.fleet, h.karmada_kube
        pp = await kube.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
        rs = pp["spec"]["placement"]["replicaScheduling"]
        assert (rs["replicaSchedulingType"], rs["replicaDivisionPreference"]) == ("Divided", "Weighted")
        assert pp["spec"]["placement"]["clusterAffinity"]["clusterNames"] == [
            fleet.base_cluster,
            fleet.cloud_cluster,
        ]
        # the idle weights belong to burstd; everything else to the harness
        assert weight_map(rs["weightPreference"]["staticWeightList"]) == {fleet.base_cluster: 1}
        assert weight_managers(pp) == (BURSTD_MANAGER,)
        assert {m["manager"] for m in pp["metadata"]["managedFields"]} == {BURSTD_MANAGER, HARNESS_MANAGER}
        # so burstd's next non-forced apply owns the whole list and does not conflict
        await set_weights(h, {fleet.base_cluster: 3, fleet.cloud_cluster: 1})
        await h.recorder.poll()
        assert h.recorder.weights.last == {fleet.base_cluster: 3, fleet.cloud_cluster: 1}
        assert h.recorder.weight_managers.last == (BURSTD_MANAGER,)

        # all replicas start on the base; the binding is done and ready
        rb = await binding(h)
        ann = rb["metadata"]["annotations"]
        assert (ann["propagationpolicy.karmada.io/namespace"], ann["propagationpolicy.karmada.io/name"]) == (
            fleet.namespace,
            fleet.workload,
        )
        assert rb["spec"]["resource"]["kind"] == "Deployment"
        assert rb["spec"]["replicaRequirements"]["resourceRequest"] == {"cpu": "500m", "memory": "1Gi"}
        assert clusters_of(rb) == {fleet.base_cluster: fleet.initial_replicas}
        assert rb["status"]["schedulerObservedGeneration"] == rb["metadata"]["generation"]
        scheduled = find(rb["status"]["conditions"], "Scheduled")
        assert scheduled is not None
        assert (scheduled["status"], scheduled["reason"]) == ("True", "Success")
        assert ready_by_cluster(rb) == {fleet.base_cluster: fleet.initial_replicas}

        fhpa = await kube.get(FEDERATED_HPAS, fleet.workload, fleet.namespace)
        assert fhpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
        }
        assert (fhpa["spec"]["minReplicas"], fhpa["spec"]["maxReplicas"]) == (1, 400)
        md = await h.management_kube.get(MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace)
        assert md["spec"]["replicas"] == 0
        assert md["status"]["replicas"] == 0
        # two API servers: each side's objects exist on its own server only
        assert h.karmada_plane.server != h.management_plane.server
        with pytest.raises(NotFound):
            await kube.get(MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace)
        with pytest.raises(NotFound):
            await h.management_kube.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
        with pytest.raises(NotFound):
            await h.management_kube.get(KARMADA_CLUSTERS, fleet.cloud_cluster)
        for name in fleet.clusters:
            cluster = await kube.get(KARMADA_CLUSTERS, name)
            summary = parse_cluster(cluster, 0.0)
            assert summary.ready
        base = parse_cluster(await kube.get(KARMADA_CLUSTERS, fleet.base_cluster), 0.0)
        assert base.allocatable.cpu == 16.0
        assert base.allocated.cpu == fleet.initial_replicas * 0.5

    run(planes, body)


def test_demand_reaches_the_federated_hpa_and_the_binding(planes: Planes) -> None:
    async def body(h: Harness) -> None:
        fleet = h.fleet
        assert await h.karmada.set_demand(12) == 12
        fhpa = await h.karmada_kube.get(FEDERATED_HPAS, fleet.workload, fleet.namespace)
        assert (fhpa["status"]["desiredReplicas"], fhpa["status"]["currentReplicas"]) == (12, 12)
        limited = find(fhpa["status"]["conditions"], "ScalingLimited")
        assert limited is not None
        assert (limited["status"], limited["reason"]) == ("False", "DesiredWithinRange")
        rb = await binding(h)
        assert rb["spec"]["replicas"] == 12
        assert (
            rb["status"]["schedulerObservedGeneration"] != rb["metadata"]["generation"]
        )  # not scheduled yet
        await h.step()
        rb = await binding(h)
        assert clusters_of(rb) == {fleet.base_cluster: 12}
        assert rb["status"]["schedulerObservedGeneration"] == rb["metadata"]["generation"]
        assert ready_by_cluster(rb) == {fleet.base_cluster: 12}
        assert h.karmada.schedules[-1].clusters == {fleet.base_cluster: 12}

        # above maxReplicas: clamped, and the FederatedHPA says why
        assert await h.karmada.set_demand(500) == fleet.fhpa_max
        fhpa = await h.karmada_kube.get(FEDERATED_HPAS, fleet.workload, fleet.namespace)
        assert fhpa["status"]["desiredReplicas"] == fleet.fhpa_max
        limited = find(fhpa["status"]["conditions"], "ScalingLimited")
        assert limited is not None
        assert (limited["status"], limited["reason"]) == ("True", "TooManyReplicas")
        await h.step()
        rb = await binding(h)
        # weights are still base-only: everything goes to the base, where only 32 fit
        assert clusters_of(rb) == {fleet.base_cluster: fleet.fhpa_max}
        assert ready_by_cluster(rb) == {fleet.base_cluster: fleet.base_capacity}
        base = parse_cluster(await h.karmada_kube.get(KARMADA_CLUSTERS, fleet.base_cluster), 0.0)
        assert base.allocating.cpu == (fleet.fhpa_max - fleet.base_capacity) * 0.5

    run(planes, body)


def test_machines_follow_the_machine_deployment_and_become_ready_after_the_delay(
    planes: Planes,
) -> None:
    async def body(h: Harness) -> None:
        fleet = h.fleet
        started = time.monotonic()
        await h.management_kube.patch_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, 3, fleet.capi_namespace
        )
        await h.capi.step()
        machines = await h.capi.machines()
        assert len(machines) == 3
        assert not any(is_ready(m) for m in machines)
        md = await h.management_kube.get(MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace)
        assert (md["status"]["replicas"], md["status"]["readyReplicas"], md["status"]["phase"]) == (
            3,
            0,
            "Running",
        )
        for m in machines:
            assert m["metadata"]["labels"]["cluster.x-k8s.io/deployment-name"] == fleet.machine_deployment
            assert m["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == fleet.capi_cluster
            assert m["status"]["phase"] == "Provisioning"

        async def all_ready() -> bool:
            await h.capi.step()
            md = await h.management_kube.get(
                MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace
            )
            return bool(md["status"]["readyReplicas"] == 3)

        await h.wait_for("3 Ready machines", all_ready, timeout=20)
        assert time.monotonic() - started >= h.capi.ready_delay
        md = await h.management_kube.get(MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace)
        assert (md["status"]["availableReplicas"], md["status"]["upToDateReplicas"]) == (3, 3)
        assert md["status"]["selector"] == h.capi.selector
        # /scale reads the status back through the CRD's scale subresource
        scale = await h.management_kube.get_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace
        )
        assert (scale["spec"]["replicas"], scale["status"]["replicas"]) == (3, 3)
        for m in await h.capi.machines():
            assert is_ready(m)
            assert m["status"]["phase"] == "Running"
            assert m["status"]["nodeRef"]["name"] == m["metadata"]["name"]
        assert [s.replicas for s in h.capi.replicas_seen] == [0, 3]
        assert (h.capi.machines_created, h.capi.machines_deleted) == (3, 0)
        # the cloud cluster now has 3 nodes
        cloud = await h.karmada_kube.get(KARMADA_CLUSTERS, fleet.cloud_cluster)
        await h.karmada.step()
        cloud = await h.karmada_kube.get(KARMADA_CLUSTERS, fleet.cloud_cluster)
        assert cloud["status"]["nodeSummary"] == {"totalNum": 3, "readyNum": 3}
        assert parse_cluster(cloud, 0.0).allocatable.cpu == 24.0

    run(planes, body, ready_delay=1.0)


def test_scale_in_deletes_marked_then_unhealthy_then_newest_machines(planes: Planes) -> None:
    async def body(h: Harness) -> None:
        fleet = h.fleet
        await h.management_kube.patch_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, 4, fleet.capi_namespace
        )
        h.capi.ready_delay = 0.0
        await h.capi.step()
        await h.capi.step()
        m0, m1, m2, m3 = [m["metadata"]["name"] for m in await h.capi.machines()]  # oldest first
        assert h.capi.created == [m0, m1, m2, m3]
        assert all(is_ready(m) for m in await h.capi.machines())
        await h.capi.fail(m1)
        await h.management_kube.merge_patch(
            MACHINES,
            m0,
            {"metadata": {"annotations": {DELETE_MACHINE: "2025-01-01T00:00:00Z"}}},
            fleet.capi_namespace,
        )
        await h.management_kube.patch_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, 1, fleet.capi_namespace
        )
        await h.capi.step()
        assert h.capi.deleted == [m0, m1, m3]
        assert [m["metadata"]["name"] for m in await h.capi.machines()] == [m2]
        md = await h.management_kube.get(MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace)
        assert (md["status"]["replicas"], md["status"]["readyReplicas"]) == (1, 1)
        await h.management_kube.patch_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, 0, fleet.capi_namespace
        )
        await h.capi.step()
        assert await h.capi.machines() == []
        assert [s.replicas for s in h.capi.replicas_seen] == [0, 4, 1, 0]
        assert (h.capi.machines_created, h.capi.machines_deleted) == (4, 4)

    run(planes, body)


def test_weights_split_replicas_and_readiness_follows_cloud_capacity(planes: Planes) -> None:
    """Running in the background: demand 40 over weights 1:1 -> 20/20; the cloud's pods are Pending until
    its nodes are Ready, then as many run as its Ready nodes hold (16 per node)."""

    async def body(h: Harness) -> None:
        fleet, rec = h.fleet, h.recorder
        base, cloud = fleet.base_cluster, fleet.cloud_cluster
        await h.karmada.set_demand(40)
        await h.wait_for("40 replicas on the base", lambda: rec.binding_clusters.last == {base: 40})
        await set_weights(h, {base: 1, cloud: 1})
        await h.wait_for("a 20/20 split", lambda: rec.binding_clusters.last == {base: 20, cloud: 20})

        async def ready_is(expected: dict[str, int]) -> bool:
            return ready_by_cluster(await binding(h)) == expected

        async def cpu_is(cluster: str, expected: tuple[float, float, float]) -> bool:
            """The Cluster's (allocatable, allocated, allocating) cpu. The sim writes the Clusters' statuses
            after the binding's, so a test that saw the binding change waits for these too."""
            c = parse_cluster(await h.karmada_kube.get(KARMADA_CLUSTERS, cluster), 0.0)
            return (c.allocatable.cpu, c.allocated.cpu, c.allocating.cpu) == expected

        # the scheduler writes spec.clusters, then the status: wait for the status too
        await h.wait_for("20 ready on the base, 0 in the cloud", lambda: ready_is({base: 20, cloud: 0}))
        rb = await binding(h)
        assert rb["spec"]["placement"]["replicaScheduling"]["weightPreference"]["staticWeightList"] == [
            {"targetCluster": {"clusterNames": [base]}, "weight": 1},
            {"targetCluster": {"clusterNames": [cloud]}, "weight": 1},
        ]
        await h.wait_for("no cloud node, 20 pending", lambda: cpu_is(cloud, (0.0, 0.0, 10.0)), timeout=5)

        await h.management_kube.patch_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, 1, fleet.capi_namespace
        )

        waited = await h.wait_for("16 ready in the cloud", lambda: ready_is({base: 20, cloud: 16}))
        assert waited >= h.capi.ready_delay - h.interval
        await h.wait_for(
            "1 cloud node, 16 running, 4 pending", lambda: cpu_is(cloud, (8.0, 8.0, 2.0)), timeout=5
        )
        summary = parse_cluster(await h.karmada_kube.get(KARMADA_CLUSTERS, cloud), 0.0)
        assert (summary.allocatable.memory, summary.allocated.memory, summary.allocating.memory) == (
            32 * GI,
            16 * GI,
            4 * GI,
        )
        assert await cpu_is(base, (16.0, 10.0, 0.0))  # written before the cloud's, in the same pass

        await h.management_kube.patch_scale(
            MACHINE_DEPLOYMENTS, fleet.machine_deployment, 2, fleet.capi_namespace
        )
        await h.wait_for("20 ready in the cloud", lambda: ready_is({base: 20, cloud: 20}))
        rb = await binding(h)
        assert {a["clusterName"]: a["health"] for a in rb["status"]["aggregatedStatus"]} == {
            base: "Healthy",
            cloud: "Healthy",
        }
        # back to the base: the cloud's replicas go away, its nodes stay until the MachineDeployment shrinks
        await set_weights(h, {base: 1})
        await h.wait_for("all on the base", lambda: rec.binding_clusters.last == {base: 40})

        await h.wait_for("the recorder saw 2 Ready machines", lambda: rec.md_ready.last == 2)
        assert rec.md_replicas.values == [0, 1, 2]
        assert rec.md_ready.values == [0, 1, 2]
        assert rec.binding_clusters.values == [
            {base: fleet.initial_replicas},
            {base: 40},
            {base: 20, cloud: 20},
            {base: 40},
        ]
        assert rec.weights.values == [{base: 1}, {base: 1, cloud: 1}, {base: 1}]
        assert set(rec.weight_managers.values) == {(BURSTD_MANAGER,)}
        assert [s.clusters for s in h.karmada.schedules][-3:] == [
            {base: 40},
            {base: 20, cloud: 20},
            {base: 40},
        ]

    run(planes, body, start=True, ready_delay=1.0, interval=0.1)


def test_recorder_sees_another_manager_and_state_phases(planes: Planes) -> None:
    """A person's forced apply takes the weights over (the managers change); state ConfigMaps' phases are
    recorded per policy."""

    async def body(h: Harness) -> None:
        fleet, rec = h.fleet, h.recorder
        await h.karmada_kube.apply(
            PROPAGATION_POLICIES,
            weights_body(fleet, {fleet.base_cluster: 2, fleet.cloud_cluster: 1}),
            field_manager="kubectl-edit",
            force=True,
            namespace=fleet.namespace,
        )
        for phase in ("Idle", "Provisioning", "Provisioning", "Shifting"):
            cm = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": fleet.state_config_map},
                "data": {"state.json": f'{{"phase": "{phase}"}}'},
            }
            path = f"/api/v1/namespaces/{fleet.burstd_namespace}/configmaps"
            if phase == "Idle":
                status, _ = await asyncio.to_thread(h.management_plane.request, "POST", path, cm)
            else:
                status, _ = await asyncio.to_thread(
                    h.management_plane.request, "PUT", f"{path}/{fleet.state_config_map}", cm
                )
            assert status in (200, 201)
            await rec.poll()
        assert rec.phase_history() == ["Idle", "Provisioning", "Shifting"]
        assert rec.weights.values == [
            {fleet.base_cluster: 1},
            {fleet.base_cluster: 2, fleet.cloud_cluster: 1},
        ]
        assert rec.weight_managers.values == [(BURSTD_MANAGER,), ("kubectl-edit",)]

    run(planes, body)
