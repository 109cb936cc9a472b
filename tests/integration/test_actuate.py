"""burstd.runtime.actuate against the real kube-apiserver: /scale writes and refusals, delete-machine marks,
server-side apply of the static weights (ownership and conflicts), WorkloadRebalancers, dry-run,
leadership and preflight. One client plays both the Karmada and the management API server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import pytest

from burstd.kube import errors
from burstd.kube.client import (
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    MACHINE_POOLS,
    MACHINES,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
    WORKLOAD_REBALANCERS,
    KubeClient,
    Resource,
)
from burstd.kube.fence import Fence, unfenced
from burstd.model.actions import (
    Action,
    Alert,
    Hold,
    MarkMachines,
    Rebalance,
    ScalePool,
    SetWeights,
    Severity,
)
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate import ActionResult, Actuator, NotLeader
from burstd.runtime.actuate_base import WriteGate
from burstd.runtime.actuate_capi import CA_MAX_SIZE, CA_MIN_SIZE, DELETE_MACHINE, CapiActuator, object_missing
from burstd.runtime.actuate_karmada import weights_body
from burstd.runtime.eventsink import EventType, ObjectRef

from .controlplane import ControlPlane
from .objects import machine_deployment, unique

T = TypeVar("T")
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
WEIGHTS_ONLY: dict[str, Any] = {
    "f:spec": {"f:placement": {"f:replicaScheduling": {"f:weightPreference": {"f:staticWeightList": {}}}}}
}


@dataclass(frozen=True)
class Recorded:
    regarding: ObjectRef
    type: EventType
    reason: str
    action: str
    note: str


@dataclass
class RecordingSink:
    """An EventSink that keeps what it was given."""

    events: list[Recorded] = field(default_factory=list)

    async def emit(self, regarding: ObjectRef, type_: EventType, reason: str, action: str, note: str) -> None:
        self.events.append(Recorded(regarding, type_, reason, action, note))


@dataclass
class Env:
    kube: KubeClient
    sink: RecordingSink

    def actuator(
        self, *, dry_run: bool = False, fence: Fence = unfenced, kube: KubeClient | None = None
    ) -> Actuator:
        return Actuator(
            kube or self.kube,
            kube or self.kube,
            self.sink,
            self.sink,
            dry_run=dry_run,
            fence=fence,
            clock=lambda: NOW,
        )


def run(plane: ControlPlane, body: Callable[[Env], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await KubeClient.from_kubeconfig(str(plane.kubeconfig)) as kube:
            return await body(Env(kube, RecordingSink()))

    return asyncio.run(main())


def namespace(plane: ControlPlane) -> str:
    ns = unique("act")
    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    return ns


def rv(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


def policy(
    ns: str,
    *,
    name: str | None = None,
    pools: list[dict[str, Any]] | None = None,
    workloads: tuple[str, ...] = ("web",),
    mode: str = "static-weights",
) -> BurstPolicy:
    if pools is None:
        pools = [pool("md", "capi-machinedeployment", ns, "pool")]
    return BurstPolicy.model_validate(
        {
            "apiVersion": "burstd.io/v1alpha1",
            "kind": "BurstPolicy",
            "metadata": {"name": name or unique("bp")},
            "spec": {
                "workloads": [{"propagationPolicy": {"namespace": ns, "name": w}} for w in workloads],
                "base": {"clusters": ["base"]},
                "burst": {"pools": pools},
                "triggers": {
                    "scaleOut": {"any": [{"signal": "base.cpu.requestedRatio", "above": 0.9}]},
                    "scaleIn": {"any": [{"signal": "base.cpu.requestedRatio", "below": 0.5}]},
                },
                "shift": {"mode": mode},
            },
        }
    )


def pool(name: str, backend: str, ns: str, ref: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "provider": "fake",
        "cluster": f"cloud-{name}",
        "backend": backend,
        "nodes": {"min": 0, "max": 10},
        "allocatable": {"cpu": "4", "memory": "16Gi"},
        "price": {"perNodeHour": 1.0},
    }
    if backend.startswith("capi-"):
        spec["ref"] = {"namespace": ns, "name": ref}
    else:
        spec["nodePool"] = {"clusterId": "c-1", "nodePoolId": "np-1"}
    return spec


def machine(name: str, md: str) -> dict[str, Any]:
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Machine",
        "metadata": {"name": name, "labels": {"cluster.x-k8s.io/deployment-name": md}},
        "spec": {
            "clusterName": "mgmt-burst",
            "bootstrap": {"dataSecretName": f"{name}-bootstrap"},
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io",
                "kind": "DockerMachine",
                "name": name,
            },
        },
    }


def machine_pool(name: str, replicas: int) -> dict[str, Any]:
    md = machine_deployment(name, replicas)
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "MachinePool",
        "metadata": {"name": name},
        "spec": {"clusterName": "mgmt-burst", "replicas": replicas, "template": md["spec"]["template"]},
    }


def propagation_policy(name: str, ns: str, **scheduling: Any) -> dict[str, Any]:
    replica_scheduling = {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted"}
    replica_scheduling.update(scheduling)
    return {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
            "placement": {
                "clusterAffinity": {"clusterNames": ["base", "cloud"]},
                "replicaScheduling": replica_scheduling,
            },
        },
    }


def binding(template: str, ns: str, pp: str) -> dict[str, Any]:
    return {
        "apiVersion": "work.karmada.io/v1alpha2",
        "kind": "ResourceBinding",
        "metadata": {
            "name": f"{template}-deployment",
            "annotations": {
                "propagationpolicy.karmada.io/namespace": ns,
                "propagationpolicy.karmada.io/name": pp,
            },
        },
        "spec": {
            "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "name": template, "namespace": ns},
            "replicas": 3,
        },
    }


def weights_of(pp: dict[str, Any]) -> list[tuple[list[str], int]]:
    entries = pp["spec"]["placement"]["replicaScheduling"]["weightPreference"]["staticWeightList"]
    return [(e["targetCluster"]["clusterNames"], e["weight"]) for e in entries]


def set_weights(ns: str, name: str, **weights: int) -> SetWeights:
    pairs = tuple(sorted(weights.items()))
    return SetWeights(f"{ns}/{name}", pairs, pairs, sum(weights.values()), "test")


# ---------------------------------------------------------------------------------------------- ScalePool


def test_scale_pool_up_and_down_through_scale_with_events(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(env: Env) -> tuple[list[ActionResult], list[int], list[Recorded]]:
        created = await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 1), ns)
        act = env.actuator()
        up = await act.apply(bp, ScalePool("md", 4, 1, "burst"))
        after_up = await env.kube.get(MACHINE_DEPLOYMENTS, "pool", ns)
        down = await act.apply(bp, ScalePool("md", 2, 4, "drain"))
        after_down = await env.kube.get(MACHINE_DEPLOYMENTS, "pool", ns)
        assert created["metadata"]["uid"] == after_down["metadata"]["uid"]
        replicas = [after_up["spec"]["replicas"], after_down["spec"]["replicas"]]
        return [up, down], replicas, env.sink.events

    (up, down), replicas, events = run(control_plane, body)
    assert (up.outcome, down.outcome) == ("applied", "applied")
    assert replicas == [4, 2]
    assert "1 -> 4" in up.message
    assert [(e.type, e.reason, e.action) for e in events] == [
        ("Normal", "ScaledUp", "ScalePool"),
        ("Normal", "ScaledDown", "ScalePool"),
    ]
    assert events[0].note == "scale pool md: 1 -> 4 nodes (burst)"
    regarding = events[0].regarding
    assert (regarding.kind, regarding.namespace, regarding.name) == ("MachineDeployment", ns, "pool")
    assert regarding.api_version == "cluster.x-k8s.io/v1beta2"
    assert regarding.uid


def test_scale_pool_machine_pool_and_unchanged_writes_nothing(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns, pools=[pool("mp", "capi-machinepool", ns, "mp-0")])

    async def body(env: Env) -> tuple[ActionResult, ActionResult, str, str, int]:
        await env.kube.create(MACHINE_POOLS, machine_pool("mp-0", 2), ns)
        act = env.actuator()
        scaled = await act.apply(bp, ScalePool("mp", 3, 2, "burst"))
        before = rv(await env.kube.get(MACHINE_POOLS, "mp-0", ns))
        same = await act.apply(bp, ScalePool("mp", 3, 3, "steady"))
        after = await env.kube.get(MACHINE_POOLS, "mp-0", ns)
        return scaled, same, before, rv(after), after["spec"]["replicas"]

    scaled, same, before, after, replicas = run(control_plane, body)
    assert scaled.outcome == "applied"
    assert replicas == 3
    assert same.outcome == "unchanged"
    assert after == before  # no write at all


@pytest.mark.parametrize(
    ("annotations", "spec", "reason", "hint"),
    [
        ({CA_MIN_SIZE: "0", CA_MAX_SIZE: "5"}, {}, "RefusedAutoscalerManaged", CA_MIN_SIZE),
        ({}, {"paused": True}, "RefusedPaused", "spec.paused"),
        ({"cluster.x-k8s.io/paused": ""}, {}, "RefusedPaused", "annotation cluster.x-k8s.io/paused"),
    ],
    ids=["autoscaler", "spec-paused", "paused-annotation"],
)
def test_refused_targets_are_not_written(
    control_plane: ControlPlane, annotations: dict[str, str], spec: dict[str, Any], reason: str, hint: str
) -> None:
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(env: Env) -> tuple[list[ActionResult], str, str, int, list[Recorded], list[str]]:
        md = machine_deployment("pool", 1)
        md["metadata"]["annotations"] = annotations
        md["spec"].update(spec)
        created = await env.kube.create(MACHINE_DEPLOYMENTS, md, ns)
        await env.kube.create(MACHINES, machine("m-1", "pool"), ns)
        act = env.actuator()
        results = [
            await act.apply(bp, ScalePool("md", 3, 1, "burst")),
            await act.apply(bp, MarkMachines("md", ("m-1",), "drain")),
        ]
        after = await env.kube.get(MACHINE_DEPLOYMENTS, "pool", ns)
        m1 = await env.kube.get(MACHINES, "m-1", ns)
        problems = await act.preflight(bp)
        assert DELETE_MACHINE not in (m1["metadata"].get("annotations") or {})
        return results, rv(created), rv(after), after["spec"]["replicas"], env.sink.events, problems

    results, before, after, replicas, events, problems = run(control_plane, body)
    assert [r.outcome for r in results] == ["refused", "refused"]
    assert after == before
    assert replicas == 1
    assert [(e.type, e.reason, e.action) for e in events] == [
        ("Warning", reason, "ScalePool"),
        ("Warning", reason, "MarkMachines"),
    ]
    for text in (results[0].message, events[0].note):
        assert f"MachineDeployment {ns}/pool" in text
        assert hint in text
    assert any(hint in p for p in problems)


def test_non_capi_backend_is_refused_without_a_call(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns, pools=[pool("tke", "tke-nodepool", ns, "")])

    async def body(env: Env) -> tuple[ActionResult, ActionResult]:
        act = env.actuator()
        return await act.apply(bp, ScalePool("tke", 3, 0, "burst")), await act.apply(
            bp, ScalePool("nope", 3, 0, "burst")
        )

    tke, unknown = run(control_plane, body)
    assert tke.outcome == "refused"  # a native node pool, and no provider configured to drive it
    assert tke.message.startswith(
        "Pool tke (TKE node pool c-1/np-1) uses cloud provider 'fake', which is not configured in burstd"
    )
    assert unknown.outcome == "refused"
    assert "no pool named 'nope'" in unknown.message


def test_v1beta1_fallback_only_when_the_version_is_not_served(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    unserved = Resource("cluster.x-k8s.io", "v1alpha9", "machinedeployments", True, "MachineDeployment")

    async def body(env: Env) -> tuple[Resource, dict[str, Any], errors.NotFound, errors.NotFound]:
        await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 1), ns)
        with pytest.raises(errors.NotFound) as no_version:
            await env.kube.get(unserved, "pool", ns)
        with pytest.raises(errors.NotFound) as no_object:
            await env.kube.get(MACHINE_DEPLOYMENTS, "missing", ns)
        capi = CapiActuator(env.kube, env.sink, WriteGate(False), lambda: NOW)
        resource, obj = await capi.read(unserved, MACHINE_DEPLOYMENTS_V1BETA1, "pool", ns)
        with pytest.raises(errors.NotFound):  # a missing object is not a reason to try v1beta1
            await capi.read(MACHINE_DEPLOYMENTS, MACHINE_DEPLOYMENTS_V1BETA1, "missing", ns)
        return resource, obj, no_version.value, no_object.value

    resource, obj, no_version, no_object = run(control_plane, body)
    assert not object_missing(no_version, "pool")
    assert object_missing(no_object, "missing")
    assert resource is MACHINE_DEPLOYMENTS_V1BETA1
    assert obj["apiVersion"] == "cluster.x-k8s.io/v1beta1"


# ------------------------------------------------------------------------------------------- MarkMachines


def test_mark_machines_annotates_only_the_pools_unmarked_machines(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(env: Env) -> tuple[ActionResult, dict[str, dict[str, str]], list[Recorded], ActionResult]:
        await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 3), ns)
        for name in ("m-1", "m-2", "m-3"):
            await env.kube.create(MACHINES, machine(name, "pool"), ns)
        await env.kube.create(MACHINES, machine("other", "another-md"), ns)
        earlier = {"metadata": {"annotations": {DELETE_MACHINE: "2025-01-01T00:00:00Z"}}}
        await env.kube.merge_patch(MACHINES, "m-3", earlier, ns)
        act = env.actuator()
        marked = await act.apply(bp, MarkMachines("md", ("m-1", "m-2", "m-3", "gone", "other"), "drain"))
        annotations = {
            m: (await env.kube.get(MACHINES, m, ns))["metadata"].get("annotations") or {}
            for m in ("m-1", "m-2", "m-3", "other")
        }
        again = await act.apply(bp, MarkMachines("md", ("m-1", "m-2"), "drain"))
        return marked, annotations, env.sink.events, again

    marked, annotations, events, again = run(control_plane, body)
    assert marked.outcome == "applied"
    assert annotations["m-1"][DELETE_MACHINE] == "2026-01-01T00:00:00Z"
    assert annotations["m-2"][DELETE_MACHINE] == "2026-01-01T00:00:00Z"
    assert annotations["m-3"][DELETE_MACHINE] == "2025-01-01T00:00:00Z"  # already marked: untouched
    assert DELETE_MACHINE not in annotations["other"]  # not a Machine of this pool
    assert "gone (gone)" in marked.message
    assert "m-3 (already marked)" in marked.message
    assert [(e.type, e.reason, e.action, e.regarding.kind) for e in events] == [
        ("Normal", "MachinesMarkedForDeletion", "MarkMachines", "MachineDeployment")
    ]
    assert events[0].note == "mark for deletion in md: m-1, m-2 (drain)"
    assert again.outcome == "unchanged"


# --------------------------------------------------------------------------------------------- SetWeights


def test_set_weights_owns_only_the_list_and_never_forces(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)

    async def body(env: Env) -> dict[str, Any]:
        await env.kube.create(PROPAGATION_POLICIES, propagation_policy("web", ns), ns)
        bp = policy(ns)
        act = env.actuator()
        out: dict[str, Any] = {"first": await act.apply(bp, set_weights(ns, "web", cloud=3, base=1))}
        out["pp"] = await env.kube.get(PROPAGATION_POLICIES, "web", ns)
        out["same"] = await act.apply(bp, set_weights(ns, "web", base=1, cloud=3))
        out["rv_same"] = rv(await env.kube.get(PROPAGATION_POLICIES, "web", ns))
        person = {
            "spec": {
                "placement": {
                    "replicaScheduling": {
                        "weightPreference": {
                            "staticWeightList": [
                                {"targetCluster": {"clusterNames": ["base"]}, "weight": 5},
                                {"targetCluster": {"clusterNames": ["cloud"]}, "weight": 1},
                            ]
                        }
                    }
                }
            }
        }
        status, patched = control_plane.request(
            "PATCH",
            f"/apis/policy.karmada.io/v1alpha1/namespaces/{ns}/propagationpolicies/web?fieldManager=alice",
            person,
            content_type="application/merge-patch+json",
        )
        assert status == 200, patched
        out["dry"] = await env.actuator(dry_run=True).apply(bp, set_weights(ns, "web", base=1, cloud=4))
        out["events_before_held"] = len(env.sink.events)
        out["held"] = await act.apply(bp, set_weights(ns, "web", base=1, cloud=4))
        out["after"] = await env.kube.get(PROPAGATION_POLICIES, "web", ns)
        out["events"] = env.sink.events
        return out

    out = run(control_plane, body)
    assert out["first"].outcome == "applied"
    pp = out["pp"]
    assert weights_of(pp) == [(["base"], 1), (["cloud"], 3)]  # sorted by cluster
    managers = {m["manager"]: m for m in pp["metadata"]["managedFields"]}
    assert managers["burstd"]["operation"] == "Apply"
    assert managers["burstd"]["fieldsV1"] == WEIGHTS_ONLY  # not replicaSchedulingType, not the rest
    assert out["same"].outcome == "unchanged"
    assert out["rv_same"] == rv(pp)
    dry = out["dry"]
    assert dry.outcome == "held"  # predicted from managedFields: alice owns the list now
    assert '"alice"' in dry.message
    assert out["events_before_held"] == 1  # the first apply only; dry-run recorded nothing
    held = out["held"]
    assert held.outcome == "held"
    assert weights_of(out["after"]) == [(["base"], 5), (["cloud"], 1)]  # the person's weights stay
    event = out["events"][-1]
    assert (event.type, event.reason, event.action) == ("Warning", "WeightsChangedExternally", "SetWeights")
    assert (event.regarding.kind, event.regarding.namespace, event.regarding.name) == (
        "PropagationPolicy",
        ns,
        "web",
    )
    for text in (held.message, event.note):
        assert 'field manager "alice"' in text
        assert "will not force" in text
    first = out["events"][0]
    assert (first.type, first.reason) == ("Normal", "WeightsSet")


def test_set_weights_after_the_person_removes_the_list_takes_it_back(control_plane: ControlPlane) -> None:
    """Removing the list (a merge patch to null) releases every manager's claim on it."""
    ns = namespace(control_plane)
    path = f"/apis/policy.karmada.io/v1alpha1/namespaces/{ns}/propagationpolicies/web"
    with_list = propagation_policy(
        "web",
        ns,
        weightPreference={"staticWeightList": [{"targetCluster": {"clusterNames": ["base"]}, "weight": 2}]},
    )
    collection = f"/apis/policy.karmada.io/v1alpha1/namespaces/{ns}/propagationpolicies"
    status, created = control_plane.request("POST", f"{collection}?fieldManager=gitops", with_list)
    assert status == 201, created

    async def held(env: Env) -> ActionResult:
        return await env.actuator().apply(policy(ns), set_weights(ns, "web", base=1, cloud=1))

    result = run(control_plane, held)
    assert result.outcome == "held"
    assert '"gitops"' in result.message
    clear = {"spec": {"placement": {"replicaScheduling": {"weightPreference": {"staticWeightList": None}}}}}
    status, _ = control_plane.request("PATCH", path, clear, content_type="application/merge-patch+json")
    assert status == 200
    result = run(control_plane, held)
    assert result.outcome == "applied"
    status, pp = control_plane.request("GET", path)
    assert weights_of(pp) == [(["base"], 1), (["cloud"], 1)]


def test_set_weights_invalid_write_names_the_body_sent(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)

    async def body(env: Env) -> errors.Invalid:
        await env.kube.create(PROPAGATION_POLICIES, propagation_policy("web", ns), ns)
        with pytest.raises(errors.Invalid) as exc:
            await env.actuator().apply(policy(ns), set_weights(ns, "web", base=0, cloud=2))
        return exc.value

    invalid = run(control_plane, body)
    assert f"PropagationPolicy {ns}/web" in str(invalid)
    assert "staticWeightList[0].weight" in str(invalid)
    assert 'burstd sent: {"apiVersion":"policy.karmada.io/v1alpha1"' in str(invalid)
    assert '"weight":0' in str(invalid)


def test_set_weights_refuses_a_policy_whose_weights_would_be_ignored(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)

    async def body(env: Env) -> tuple[ActionResult, str, str]:
        created = await env.kube.create(
            PROPAGATION_POLICIES, propagation_policy("web", ns, replicaDivisionPreference="Aggregated"), ns
        )
        result = await env.actuator().apply(policy(ns), set_weights(ns, "web", base=1, cloud=1))
        return result, rv(created), rv(await env.kube.get(PROPAGATION_POLICIES, "web", ns))

    result, before, after = run(control_plane, body)
    assert result.outcome == "refused"
    assert "Aggregated" in result.message
    assert after == before


# ---------------------------------------------------------------------------------------------- Rebalance


def test_rebalance_creates_a_workload_rebalancer_for_the_bound_templates(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    name = unique("bp")
    bp = policy(ns, name=name, workloads=("web", "api"))

    async def body(env: Env) -> tuple[ActionResult, list[dict[str, Any]], list[Recorded], ActionResult]:
        for template, pp in (("web", "web"), ("web-canary", "web"), ("other", "someone-else")):
            await env.kube.create(RESOURCE_BINDINGS, binding(template, ns, pp), ns)
        act = env.actuator()
        result = await act.apply(bp, Rebalance((f"{ns}/web", f"{ns}/api"), "drain back"))
        listed = await env.kube.list(WORKLOAD_REBALANCERS, label_selector=f"burstd.io/policy={name}")
        none = await act.apply(bp, Rebalance((f"{ns}/api",), "drain back"))
        return result, listed.items, env.sink.events, none

    result, rebalancers, events, none = run(control_plane, body)
    assert result.outcome == "applied"
    assert len(rebalancers) == 1
    wr = rebalancers[0]
    assert wr["metadata"]["name"].startswith(f"burstd-{name}-")
    assert wr["spec"]["ttlSecondsAfterFinished"] == 300
    assert wr["spec"]["workloads"] == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": ns},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-canary", "namespace": ns},
    ]
    assert f"no ResourceBinding for {ns}/api" in result.message
    assert [(e.reason, e.action, e.regarding.kind, e.regarding.name) for e in events] == [
        ("RebalanceRequested", "Rebalance", "PropagationPolicy", "web")
    ]
    assert wr["metadata"]["name"] in events[0].note
    assert none.outcome == "refused"
    assert f"PropagationPolicy {ns}/api" in none.message


# ------------------------------------------------------------------------------------------ Hold and Alert


def test_hold_writes_nothing_and_alert_is_an_event_on_the_first_workload(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns, workloads=("web", "api"))

    async def body(env: Env) -> tuple[list[ActionResult], list[Recorded]]:
        act = env.actuator(fence=lambda: 0.0)  # Hold needs no leadership
        held = await act.apply(bp, Hold("cooling down"))
        act = env.actuator()
        warn = await act.apply(bp, Alert(Severity.CRITICAL, "LimitReached", "maxCloudNodes reached"))
        info = await act.apply(bp, Alert(Severity.INFO, "BurstStarted", "bursting"))
        return [held, warn, info], env.sink.events

    (held, warn, info), events = run(control_plane, body)
    assert (held.outcome, held.message) == ("unchanged", "cooling down")
    assert (warn.outcome, info.outcome) == ("applied", "applied")
    assert [(e.type, e.reason, e.action, e.note) for e in events] == [
        ("Warning", "LimitReached", "Alert", "maxCloudNodes reached"),
        ("Normal", "BurstStarted", "Alert", "bursting"),
    ]
    assert {(e.regarding.kind, e.regarding.namespace, e.regarding.name) for e in events} == {
        ("PropagationPolicy", ns, "web")
    }


# ------------------------------------------------------------------------------- dry-run and leadership


async def _fixture(env: Env, ns: str) -> None:
    await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 1), ns)
    await env.kube.create(MACHINES, machine("m-1", "pool"), ns)
    await env.kube.create(PROPAGATION_POLICIES, propagation_policy("web", ns), ns)
    await env.kube.create(RESOURCE_BINDINGS, binding("web", ns, "web"), ns)


async def _versions(env: Env, ns: str, policy_name: str) -> tuple[str, str, str, int]:
    md = await env.kube.get(MACHINE_DEPLOYMENTS, "pool", ns)
    machine_rv = rv(await env.kube.get(MACHINES, "m-1", ns))
    pp = await env.kube.get(PROPAGATION_POLICIES, "web", ns)
    wrs = await env.kube.list(WORKLOAD_REBALANCERS, label_selector=f"burstd.io/policy={policy_name}")
    return rv(md), machine_rv, rv(pp), len(wrs.items)


def _writes(ns: str) -> list[Action]:
    return [
        ScalePool("md", 3, 1, "burst"),
        MarkMachines("md", ("m-1",), "drain"),
        set_weights(ns, "web", base=1, cloud=2),
        Rebalance((f"{ns}/web",), "drain back"),
        Alert(Severity.WARNING, "LimitReached", "limit"),
    ]


def test_dry_run_writes_nothing_and_says_what_it_would_do(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(
        env: Env,
    ) -> tuple[list[ActionResult], tuple[str, str, str, int], tuple[str, str, str, int]]:
        await _fixture(env, ns)
        before = await _versions(env, ns, bp.name)
        act = env.actuator(dry_run=True)
        results = [await act.apply(bp, a) for a in _writes(ns)]
        return results, before, await _versions(env, ns, bp.name)

    results, before, after = run(control_plane, body)
    assert [r.outcome for r in results] == ["dry-run"] * 5
    assert results[0].message.startswith("would scale pool md: 1 -> 3 nodes (burst)")
    assert results[1].message.startswith("would mark for deletion in md: m-1 (drain)")
    assert results[2].message == f"would set weights of {ns}/web: base=1, cloud=2 (test)"
    assert results[3].message.startswith(f"would rebalance {ns}/web (drain back)")
    assert results[4].message.startswith("would alert Warning/LimitReached")
    assert after == before
    assert after[3] == 0


def test_not_the_leader_raises_before_any_write(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(env: Env) -> tuple[list[str], tuple[str, str, str, int], tuple[str, str, str, int], int]:
        await _fixture(env, ns)
        before = await _versions(env, ns, bp.name)
        raised: list[str] = []
        for action in _writes(ns):
            with pytest.raises(NotLeader) as exc:
                await env.actuator(fence=lambda: 0.0).apply(bp, action)
            raised.append(str(exc.value))
        # Leadership lost after the reads, just before the write: still nothing written.
        answers = iter([1.0])
        lost = env.actuator(fence=lambda: next(answers, 0.0))
        with pytest.raises(NotLeader):
            await lost.apply(bp, ScalePool("md", 3, 1, "burst"))
        return raised, before, await _versions(env, ns, bp.name), len(env.sink.events)

    raised, before, after, events = run(control_plane, body)
    assert len(raised) == 5
    assert raised[0] == "not the leader: refusing to scale pool md: 1 -> 3 nodes (burst)"
    assert after == before
    assert events == 0


# ---------------------------------------------------------------------------------------------- preflight


def test_preflight_names_every_unmanageable_object(control_plane: ControlPlane) -> None:
    ns = namespace(control_plane)
    pools = [
        pool("ok", "capi-machinedeployment", ns, "ok"),
        pool("missing", "capi-machinedeployment", ns, "missing-md"),
        pool("ca", "capi-machinedeployment", ns, "ca-md"),
        pool("paused", "capi-machinepool", ns, "paused-mp"),
    ]
    bp = policy(ns, pools=pools, workloads=("good", "gone", "aggregated", "dynamic"))
    clean = policy(ns, pools=pools[:1], workloads=("good",))
    overflow = policy(ns, pools=pools[:1], workloads=("overflowing",), mode="overflow")
    not_overflowing = policy(ns, pools=pools[:1], workloads=("dynamic", "good", "elsewhere"), mode="overflow")

    async def body(env: Env) -> tuple[list[str], list[str], list[str], list[str]]:
        await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("ok", 0), ns)
        ca = machine_deployment("ca-md", 1)
        ca["metadata"]["annotations"] = {CA_MIN_SIZE: "1", CA_MAX_SIZE: "4"}
        await env.kube.create(MACHINE_DEPLOYMENTS, ca, ns)
        paused = machine_pool("paused-mp", 0)
        paused["metadata"]["annotations"] = {"cluster.x-k8s.io/paused": "true"}
        await env.kube.create(MACHINE_POOLS, paused, ns)
        await env.kube.create(PROPAGATION_POLICIES, propagation_policy("good", ns), ns)
        aggregated = propagation_policy("aggregated", ns, replicaDivisionPreference="Aggregated")
        await env.kube.create(PROPAGATION_POLICIES, aggregated, ns)
        dynamic = propagation_policy("dynamic", ns, weightPreference={"dynamicWeight": "AvailableReplicas"})
        await env.kube.create(PROPAGATION_POLICIES, dynamic, ns)
        for name, cloud in (("overflowing", "cloud-ok"), ("elsewhere", "cloud-other")):
            pp = propagation_policy(name, ns, weightPreference={"dynamicWeight": "AvailableReplicas"})
            del pp["spec"]["placement"]["clusterAffinity"]
            pp["spec"]["placement"]["clusterAffinities"] = [
                {
                    "affinityName": "base",
                    "clusterNames": ["base"],
                    "overflowAffinities": [{"affinityName": "cloud", "clusterNames": [cloud]}],
                }
            ]
            await env.kube.create(PROPAGATION_POLICIES, pp, ns)
        act = env.actuator()
        return (
            await act.preflight(bp),
            await act.preflight(clean),
            await act.preflight(overflow),
            await act.preflight(not_overflowing),
        )

    problems, none, overflow_problems, not_overflowing_problems = run(control_plane, body)
    text = json.dumps(problems)
    assert len(problems) == 6, problems
    assert f"MachineDeployment {ns}/missing-md (pool missing) does not exist" in text
    assert f"MachineDeployment {ns}/ca-md is managed by Cluster Autoscaler" in text
    assert f"MachinePool {ns}/paused-mp is paused" in text
    assert f"PropagationPolicy {ns}/gone (a workload of BurstPolicy {bp.name}) does not exist" in text
    assert f"PropagationPolicy {ns}/aggregated must set" in text
    assert f"PropagationPolicy {ns}/dynamic sets weightPreference.dynamicWeight" in text
    assert all(p.endswith(".") for p in problems)
    assert none == []
    assert overflow_problems == []  # overflow mode uses dynamic weights and overflowAffinities on purpose
    # a plain clusterAffinity with dynamic weights spreads onto the cloud whether or not the base has room;
    # static weights never overflow; an overflow group without the pool's cloud cluster never reaches it
    text = json.dumps(not_overflowing_problems)
    assert len(not_overflowing_problems) == 3, not_overflowing_problems
    assert f"PropagationPolicy {ns}/dynamic must put the base clusters in a spec.placement" in text
    assert f"PropagationPolicy {ns}/good must divide replicas by available room" in text
    assert f"PropagationPolicy {ns}/elsewhere does not name cloud cluster cloud-ok" in text


# ------------------------------------------------------------------- late writes of a deposed leader


class Racing(KubeClient):
    """A client that lets another writer in between its read and its write: ``race_after(method, plural,
    write)`` runs ``write`` once, right after the next ``method`` ("get" or "get_scale") of that resource
    (a new leader writing while the deposed leader's write is on its way)."""

    _race: tuple[str, str, Callable[[], Awaitable[None]]] | None = None

    def race_after(self, method: str, plural: str, write: Callable[[], Awaitable[None]]) -> None:
        self._race = (method, plural, write)

    async def _raced(self, method: str, resource: Resource) -> None:
        race = self._race
        if race is not None and race[:2] == (method, resource.plural):
            self._race = None
            await race[2]()

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        obj = await super().get(resource, name, namespace)
        await self._raced("get", resource)
        return obj

    async def get_scale(self, resource: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        obj = await super().get_scale(resource, name, namespace)
        await self._raced("get_scale", resource)
        return obj


async def racing(plane: ControlPlane) -> Racing:
    return cast(Racing, await Racing.from_kubeconfig(str(plane.kubeconfig)))


def test_a_late_scale_from_a_stale_read_conflicts_and_changes_nothing(control_plane: ControlPlane) -> None:
    """The deposed leader read the Scale; the new leader scaled the pool; the deposed leader's write carries
    the resourceVersion it read, fails with 409 and changes nothing: outcome "conflict", no Event."""
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(env: Env) -> tuple[ActionResult, int, list[str]]:
        await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 1), ns)

        async def new_leader_scales() -> None:
            assert (await env.actuator().apply(bp, ScalePool("md", 7, 1, "burst"))).outcome == "applied"

        async with await racing(control_plane) as old:
            old.race_after("get_scale", "machinedeployments", new_leader_scales)
            late = await env.actuator(kube=old).apply(bp, ScalePool("md", 3, 1, "burst"))
        md = await env.kube.get(MACHINE_DEPLOYMENTS, "pool", ns)
        return late, md["spec"]["replicas"], [e.reason for e in env.sink.events]

    late, replicas, reasons = run(control_plane, body)
    assert replicas == 7  # the new leader's write stands
    assert late.outcome == "conflict", late
    assert f"MachineDeployment {ns}/pool changed since burstd read it" in late.message
    assert reasons == ["ScaledUp"]  # the new leader's only


def test_a_late_weights_apply_from_a_stale_read_conflicts_and_is_not_an_external_change(
    control_plane: ControlPlane,
) -> None:
    """The same for the static weights: both leaders apply as field manager "burstd", so only the
    resourceVersion precondition stops the late apply. Its 409 is told apart from another manager owning
    the list by the Status details: outcome "conflict", not "held", no WeightsChangedExternally."""
    ns = namespace(control_plane)
    bp = policy(ns)

    async def body(env: Env) -> tuple[ActionResult, dict[str, Any], list[str]]:
        await env.kube.create(PROPAGATION_POLICIES, propagation_policy("web", ns), ns)

        async def new_leader_sets_weights() -> None:
            result = await env.actuator().apply(bp, set_weights(ns, "web", base=1, cloud=5))
            assert result.outcome == "applied"

        async with await racing(control_plane) as old:
            old.race_after("get", "propagationpolicies", new_leader_sets_weights)
            late = await env.actuator(kube=old).apply(bp, set_weights(ns, "web", base=1, cloud=2))
        pp = await env.kube.get(PROPAGATION_POLICIES, "web", ns)
        return late, pp, [e.reason for e in env.sink.events]

    late, pp, reasons = run(control_plane, body)
    assert weights_of(pp) == [(["base"], 1), (["cloud"], 5)]
    assert late.outcome == "conflict", late
    assert f"PropagationPolicy {ns}/web changed since burstd read it" in late.message
    assert reasons == ["WeightsSet"]
    managers = {m["manager"]: m for m in pp["metadata"]["managedFields"]}
    assert managers["burstd"]["fieldsV1"] == WEIGHTS_ONLY  # the precondition is not a field burstd owns


def test_a_late_delete_machine_mark_from_a_stale_read_conflicts(control_plane: ControlPlane) -> None:
    """A Machine that changed after the deposed leader read it is not marked for deletion."""
    ns = namespace(control_plane)
    bp = policy(ns)
    path = f"/apis/cluster.x-k8s.io/v1beta2/namespaces/{ns}/machines/m-1"

    async def body(env: Env) -> tuple[ActionResult, dict[str, dict[str, str]], list[Recorded]]:
        await env.kube.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 2), ns)
        for name in ("m-1", "m-2"):
            await env.kube.create(MACHINES, machine(name, "pool"), ns)

        async def machine_changes() -> None:
            patch = {"metadata": {"labels": {"touched": "yes"}}}
            status, answer = control_plane.request(
                "PATCH", path, patch, content_type="application/merge-patch+json"
            )
            assert status == 200, answer

        async with await racing(control_plane) as old:
            old.race_after("get", "machines", machine_changes)
            late = await env.actuator(kube=old).apply(bp, MarkMachines("md", ("m-1", "m-2"), "drain"))
        annotations = {
            m: (await env.kube.get(MACHINES, m, ns))["metadata"].get("annotations") or {}
            for m in ("m-1", "m-2")
        }
        return late, annotations, env.sink.events

    late, annotations, events = run(control_plane, body)
    assert DELETE_MACHINE not in annotations["m-1"]
    assert late.outcome == "conflict", late
    assert f"Machine {ns}/m-1 changed since burstd read it" in late.message
    assert DELETE_MACHINE not in annotations["m-2"]  # the rest of the action waits for the next round
    assert events == []


def test_a_field_manager_conflict_is_told_apart_from_a_stale_read(control_plane: ControlPlane) -> None:
    """The two 409s the weights can meet, as the real apiserver words them."""
    ns = namespace(control_plane)

    async def body(env: Env) -> tuple[errors.Conflict, errors.Conflict]:
        created = await env.kube.create(PROPAGATION_POLICIES, propagation_policy("web", ns), ns)
        theirs = weights_body_for(ns, [("base", 5)])
        await env.kube.apply(PROPAGATION_POLICIES, theirs, field_manager="alice", namespace=ns)
        with pytest.raises(errors.Conflict) as owned:
            await env.kube.apply(
                PROPAGATION_POLICIES,
                weights_body_for(ns, [("base", 1)]),
                field_manager="burstd",
                namespace=ns,
            )
        stale_body = weights_body_for(ns, [("base", 5)])
        stale_body["metadata"]["resourceVersion"] = rv(created)
        with pytest.raises(errors.Conflict) as stale:
            await env.kube.apply(PROPAGATION_POLICIES, stale_body, field_manager="alice", namespace=ns)
        return owned.value, stale.value

    owned, stale = run(control_plane, body)
    assert owned.field_manager_conflict
    assert not stale.field_manager_conflict


def weights_body_for(ns: str, weights: list[tuple[str, int]]) -> dict[str, Any]:
    return weights_body(ns, "web", tuple(weights))
