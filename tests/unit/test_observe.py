"""build_world: clusters, workloads (bindings summed, FHPA vs binding desired), Cluster API pools from
their Machines, and what is missing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from burstd.kube.objects import (
    BindingInfo,
    FederatedHPAInfo,
    MachineObs,
    PropagationPolicyInfo,
    ScalableInfo,
    ScalableKind,
)
from burstd.model.cloud import NodePool, NodePoolMember
from burstd.model.world import (
    ClusterSummary,
    FleetBudget,
    MachineInfo,
    PoolState,
    Resources,
    Sample,
    WorkloadState,
)
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.observe import NodePoolObs, Snapshot, build_world, describe_missing

T = 1000.0


def pool(name: str, cluster: str, backend: str, ref: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "provider": "fake",
        "cluster": cluster,
        "backend": backend,
        "nodes": {"max": 10},
        "allocatable": {"cpu": "8", "memory": "16Gi"},
        "price": {"perNodeHour": 1.0},
    }
    if ref is None:
        out["nodePool"] = {"clusterId": "c", "nodePoolId": "np"}
    else:
        ns, _, n = ref.partition("/")
        out["ref"] = {"namespace": ns, "name": n}
    return out


def policy() -> BurstPolicy:
    doc = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "BurstPolicy",
        "metadata": {"name": "shop"},
        "spec": {
            "workloads": [
                {
                    "propagationPolicy": {"namespace": "shop", "name": "web"},
                    "federatedHPA": {"namespace": "shop", "name": "web-hpa"},
                },
                {"propagationPolicy": {"namespace": "shop", "name": "api"}},
            ],
            "base": {"clusters": ["idc-1", "idc-2"]},
            "burst": {
                "pools": [
                    pool("md", "tke-gz", "capi-machinedeployment", "capi/md-0"),
                    pool("mp", "ack-hz", "capi-machinepool", "capi/mp-0"),
                    pool("np", "ack-sh", "ack-nodepool", None),
                ]
            },
            "triggers": {
                "scaleOut": {"any": [{"signal": "base.cpu.requestedRatio", "above": 0.85}]},
                "scaleIn": {"any": [{"signal": "base.cpu.requestedRatio", "below": 0.5}]},
            },
        },
    }
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


def cluster(name: str, at: float = T) -> ClusterSummary:
    r = Resources(8, 32)
    return ClusterSummary(name, r, Resources(), Resources(), True, at)


def pp(name: str, weights: dict[str, int] | None = None, at: float = T) -> PropagationPolicyInfo:
    return PropagationPolicyInfo(
        key=f"shop/{name}",
        replica_scheduling_type="Divided",
        division_preference="Weighted",
        dynamic_weight=None,
        weights=weights or {},
        weights_shape_ok=True,
        weights_managers=("burstd",) if weights else (),
        resource_version="1",
        observed_at=at,
    )


def rb(
    name: str,
    policy_key: str | None,
    replicas: int,
    clusters: dict[str, int],
    ready: dict[str, int] | None = None,
    *,
    cpu: float = 0.5,
    at: float = T,
    uid: str = "",
) -> BindingInfo:
    return BindingInfo(
        key=f"shop/{name}",
        policy_key=policy_key,
        resource_kind="Deployment",
        resource_name=name,
        resource_namespace="shop",
        resource_api_version="apps/v1",
        resource_uid=uid,
        replicas=replicas,
        request=Resources(cpu, 2**30),
        clusters=clusters,
        ready_by_cluster=ready or {},
        scheduled=True,
        scheduled_reason="Success",
        generation=1,
        scheduler_observed_generation=1,
        observed_at=at,
    )


def hpa(desired: int | None, at: float = T) -> FederatedHPAInfo:
    return FederatedHPAInfo(
        key="shop/web-hpa",
        target_api_version="apps/v1",
        target_kind="Deployment",
        target_name="web",
        min_replicas=1,
        max_replicas=50,
        current_replicas=10,
        desired_replicas=desired,
        scaling_limited=False,
        observed_at=at,
    )


def scalable(
    name: str,
    kind: ScalableKind,
    replicas: int | None,
    status: int | None = None,
    ready: int | None = None,
    at: float = T,
) -> ScalableInfo:
    return ScalableInfo(
        key=f"capi/{name}",
        kind=kind,
        api_version="cluster.x-k8s.io/v1beta2",
        replicas=replicas,
        status_replicas=status,
        ready_replicas=ready,
        paused=False,
        autoscaler_managed=False,
        uid="u",
        observed_at=at,
    )


def machine(
    name: str,
    owner: str | None = "md-0",
    kind: ScalableKind = "MachineDeployment",
    *,
    ready: bool = True,
    deleting: bool = False,
    failed: bool = False,
    namespace: str = "capi",
    at: float = T,
) -> MachineObs:
    return MachineObs(
        key=f"{namespace}/{name}",
        name=name,
        namespace=namespace,
        owner_kind=kind if owner else None,
        owner_name=owner,
        ready=ready,
        deleting=deleting,
        failed=failed,
        marked_for_deletion=False,
        node_name=None,
        created_at=500.0,
        observed_at=at,
    )


def keyed(*objs: Any) -> dict[str, Any]:
    return {o.key: o for o in objs}


def full() -> Snapshot:
    return Snapshot(
        clusters={c: cluster(c) for c in ("idc-1", "idc-2", "tke-gz", "ack-hz", "ack-sh", "other")},
        fhpas=keyed(hpa(30)),
        bindings=keyed(
            rb("web", "shop/web", 20, {"idc-1": 12, "tke-gz": 8}, {"idc-1": 12, "tke-gz": 5}),
            rb("web-2", "shop/web", 1, {"idc-1": 1, "idc-2": 1}, {"idc-2": 1}, cpu=0.1),
            rb("cm-web", "shop/web", 0, {"idc-1": 0}, cpu=0),
            rb("api", "shop/api", 6, {"idc-2": 4}),
            rb("stray", None, 3, {"idc-1": 3}),
        ),
        policies=keyed(pp("web", {"idc-1": 3, "tke-gz": 1}), pp("api")),
        scalables=keyed(scalable("md-0", "MachineDeployment", 3), scalable("mp-0", "MachinePool", 2, 2, 1)),
        machines=keyed(
            machine("md-0-a"),
            machine("md-0-b", ready=False),
            machine("md-0-c", deleting=True),
            machine("md-0-d", ready=False, failed=True),
            machine("other-ns", namespace="capi2"),
            machine("mp-like", owner="md-0", kind="MachinePool"),
            machine("orphan", owner=None),
        ),
        node_pools={"c/np": NodePoolObs(NodePool("np", 1, (NodePoolMember("ins-1", "n-1", True, T),)), T)},
    )


def test_clusters_are_the_policys_that_exist() -> None:
    snap = replace(full(), clusters={c: cluster(c) for c in ("idc-1", "tke-gz", "other")})
    assert set(build_world(policy(), snap).clusters) == {"idc-1", "tke-gz"}


def test_workloads_sum_their_bindings() -> None:
    world = build_world(policy(), full())
    web, api = world.workloads
    assert web == WorkloadState(
        key="shop/web",
        desired_replicas=30,  # the FederatedHPA's desiredReplicas
        request=Resources(0.5, 2**30),  # the first binding by key with replicas: not shop/cm-web
        replicas_by_cluster={"idc-1": 13, "tke-gz": 8, "idc-2": 1},
        ready_by_cluster={"idc-1": 12, "tke-gz": 5, "idc-2": 1},
        unschedulable_replicas=0,
        observed_at=T,
        weights={"idc-1": 3, "tke-gz": 1},
        weights_by_burstd=True,  # burstd's field manager alone owns the list
    )
    assert (api.key, api.desired_replicas, api.replicas_by_cluster) == ("shop/api", 6, {"idc-2": 4})
    assert api.unschedulable_replicas == 2  # 6 replicas, 4 placed


def test_weights_are_burstds_only_when_its_field_manager_alone_owns_them() -> None:
    snap = full()
    assert build_world(policy(), snap).workloads[0].weights_by_burstd
    shared = {k: replace(v, weights_managers=("burstd", "argo")) for k, v in snap.policies.items()}
    assert not build_world(policy(), replace(snap, policies=shared)).workloads[0].weights_by_burstd
    odd = {k: replace(v, weights_shape_ok=False) for k, v in snap.policies.items()}
    assert not build_world(policy(), replace(snap, policies=odd)).workloads[0].weights_by_burstd


def test_desired_falls_back_to_binding_replicas() -> None:
    no_status = replace(full(), fhpas=keyed(hpa(None)))
    assert build_world(policy(), no_status).workloads[0].desired_replicas == 21
    no_fhpa = replace(full(), fhpas={})
    assert build_world(policy(), no_fhpa).workloads[0].desired_replicas == 21


def test_workload_observed_at_is_the_oldest_piece() -> None:
    snap = full()
    assert build_world(policy(), replace(snap, fhpas=keyed(hpa(30, at=T - 40)))).workloads[0].observed_at == (
        T - 40
    )
    older_pp = replace(snap, policies={**snap.policies, "shop/web": pp("web", at=T - 7)})
    assert build_world(policy(), older_pp).workloads[0].observed_at == T - 7
    older_rb = replace(snap, bindings={**snap.bindings, "shop/web": rb("web", "shop/web", 1, {}, at=T - 9)})
    assert build_world(policy(), older_rb).workloads[0].observed_at == T - 9


def test_workload_needs_its_policy_and_a_binding() -> None:
    snap = full()
    no_pp = replace(snap, policies=keyed(pp("web")))
    assert [w.key for w in build_world(policy(), no_pp).workloads] == ["shop/web"]
    no_rb = replace(snap, bindings={k: b for k, b in snap.bindings.items() if b.policy_key != "shop/web"})
    assert [w.key for w in build_world(policy(), no_rb).workloads] == ["shop/api"]


def test_machine_deployment_pool_from_its_machines() -> None:
    world = build_world(policy(), full())
    assert world.pools["md"] == PoolState(
        name="md",
        desired=3,
        ready=1,  # md-0-a; md-0-c is Ready but deleting
        existing=4,  # deleting machines still bill; other namespaces, kinds and orphans are not ours
        failed=1,
        observed_at=T,
        machines=(
            MachineInfo("md-0-a", True, 0, 500.0, False),
            MachineInfo("md-0-b", False, 0, 500.0, False),
            MachineInfo("md-0-c", True, 0, 500.0, True),
            MachineInfo("md-0-d", False, 0, 500.0, False),
        ),
    )


def test_pool_without_machines_uses_status_and_a_native_pool_its_members() -> None:
    world = build_world(policy(), full())
    assert world.pools["mp"] == PoolState(name="mp", desired=2, ready=1, existing=2, failed=0, observed_at=T)
    assert world.pools["np"] == PoolState(
        name="np",
        desired=1,
        ready=1,
        existing=1,
        failed=0,
        observed_at=T,
        machines=(MachineInfo("ins-1", True, 0, T),),
    )


@pytest.mark.parametrize(
    ("replicas", "status", "ready", "expected"),
    [(None, 4, None, (4, 0, 4)), (None, None, None, (0, 0, 0)), (0, 2, 2, (0, 2, 2))],
)
def test_pool_desired_falls_back_to_status(
    replicas: int | None, status: int | None, ready: int | None, expected: tuple[int, int, int]
) -> None:
    snap = replace(full(), scalables=keyed(scalable("md-0", "MachineDeployment", replicas, status, ready)))
    snap = replace(snap, machines={})
    md = build_world(policy(), snap).pools["md"]
    assert (md.desired, md.ready, md.existing) == expected


def test_pool_observed_at_includes_machines() -> None:
    snap = full()
    snap = replace(snap, machines={**snap.machines, "capi/md-0-z": machine("md-0-z", at=T - 30)})
    assert build_world(policy(), snap).pools["md"].observed_at == T - 30


def test_pool_of_the_wrong_kind_is_absent() -> None:
    snap = replace(
        full(), scalables=keyed(scalable("md-0", "MachinePool", 3), scalable("mp-0", "MachinePool", 2))
    )
    world = build_world(policy(), snap)
    assert set(world.pools) == {"mp", "np"}
    assert describe_missing(policy(), snap) == ["MachineDeployment capi/md-0"]


def test_signals_and_budget_pass_through() -> None:
    signals = {"base.cpu.requestedRatio": Sample(0.9, T)}
    budget = FleetBudget(max_nodes=4)
    world = build_world(policy(), full(), signals, budget)
    assert (world.signals, world.budget) == (signals, budget)
    assert build_world(policy(), full()).signals == {}


def test_describe_missing() -> None:
    assert describe_missing(policy(), full()) == []
    empty = Snapshot()
    assert describe_missing(policy(), empty) == [
        "Cluster idc-1",
        "Cluster idc-2",
        "Cluster tke-gz",
        "Cluster ack-hz",
        "Cluster ack-sh",
        "PropagationPolicy shop/web",
        "FederatedHPA shop/web-hpa",
        "PropagationPolicy shop/api",
        "MachineDeployment capi/md-0",
        "MachinePool capi/mp-0",
        "ACK node pool c/np",
    ]
    world = build_world(policy(), empty)
    assert (world.clusters, world.workloads, world.pools) == ({}, (), {})
    no_bindings = replace(full(), bindings={})
    assert describe_missing(policy(), no_bindings) == [
        "ResourceBinding for shop/web",
        "ResourceBinding for shop/api",
    ]


def test_request_of_a_workload_without_replicas_is_its_first_bindings() -> None:
    only_cm = replace(full(), bindings=keyed(rb("cm-web", "shop/web", 0, {}, cpu=0.25)))
    web = build_world(policy(), only_cm).workloads[0]
    assert (web.request, web.desired_replicas, web.unschedulable_replicas) == (Resources(0.25, 2**30), 30, 0)


def test_karmadas_tie_order_comes_from_the_templates_uid() -> None:
    """Karmada breaks Webster ties by name, descending when the FNV-1a hash of spec.resource.uid is odd;
    the workload carries that order so the engine divides as the real scheduler does."""
    for uid, descending in (("tmpl-a", False), ("tmpl-b", True), ("", False)):
        snap = full()
        bindings = {k: replace(b, resource_uid=uid) for k, b in snap.bindings.items()}
        world = build_world(policy(), replace(snap, bindings=bindings))
        assert world.workloads[0].ties_descending is descending, uid
