"""Real Karmada members: Works applied, status flowing back, as in production.

Two member clusters (``testbed.member``: each its own kube-apiserver, kube-scheduler,
kube-controller-manager and kwok Nodes), joined in Push mode to the real Karmada control plane with the
``clusterStatus``, ``execution`` and ``workStatus`` controllers on. Nothing here writes a Cluster's status
or a binding's: Ready and ``resourceSummary`` come from the members' Nodes, and ``aggregatedStatus`` from
the Deployments the members really run.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from integration.controlplane import ControlPlaneError
from testbed.karmada import KarmadaPlane, start_karmada
from testbed.member import MEMBER_CONTROLLERS, Member, NodeShape, register_member, start_member

from burstd.kube.parse import parse_cluster, parse_resource_binding
from burstd.model.world import Resources

NAMESPACE = "shop"
SHAPE = NodeShape(cpu="8", memory="32Gi", pods=110)
BASE_NODES, CLOUD_NODES = 3, 2
_TIMEOUT = 120.0
_MIB = 1024 * 1024

T = TypeVar("T")


@dataclass
class MemberBed:
    karmada: KarmadaPlane
    members: dict[str, Member]
    registered_at: float = 0.0
    figures: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def members_bed() -> Iterator[MemberBed]:
    with contextlib.ExitStack() as stack:
        failure = None
        try:
            karmada = stack.enter_context(start_karmada(controllers=MEMBER_CONTROLLERS))
            base = stack.enter_context(start_member("base", nodes=BASE_NODES, shape=SHAPE))
            cloud = stack.enter_context(start_member("cloud", nodes=CLOUD_NODES, shape=SHAPE))
        except ControlPlaneError as exc:
            failure = str(exc)
        if failure is not None:  # outside the except block: no "during handling ..." noise
            pytest.fail(failure, pytrace=False)
        registered_at = time.monotonic()
        register_member(karmada, base, provider="onprem", region="cn-north", labels={"pool": "base"})
        register_member(
            karmada, cloud, provider="tencentcloud", region="ap-guangzhou", labels={"pool": "cloud"}
        )
        _create(karmada, "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        members_bed = MemberBed(karmada, {"base": base, "cloud": cloud}, registered_at)
        members_bed.figures.update(
            {
                "karmada_start_s": karmada.start_s,
                "member_base_start_s": base.start_s,
                "member_cloud_start_s": cloud.start_s,
            }
        )
        yield members_bed
        rss = {name: m.rss_bytes() for name, m in members_bed.members.items()}
        rss["karmada"] = karmada.rss_bytes()
        for name, per_process in rss.items():
            for process, value in per_process.items():
                members_bed.figures[f"rss_{name}_{process}_mib"] = value / _MIB
            members_bed.figures[f"rss_{name}_total_mib"] = sum(per_process.values()) / _MIB
        print("\nburstd real members:", ", ".join(f"{k}={v:.2f}" for k, v in members_bed.figures.items()))


# ------------------------------------------------------------------------------------------ the tests


def test_cluster_status_comes_from_the_members_nodes(members_bed: MemberBed) -> None:
    """Ready, apiEnablements, nodeSummary and resourceSummary.allocatable are the clusterStatus
    controller's reading of each member's Nodes; adding and removing Nodes shows up in them."""
    for name, nodes in (("base", BASE_NODES), ("cloud", CLOUD_NODES)):
        summary = functools.partial(_summary_at, members_bed, name, nodes)
        cluster = _eventually(members_bed, f"Cluster {name} Ready with {nodes} Nodes", summary)
        assert _condition(cluster, "Ready") == "True"
        enabled = {
            (g["groupVersion"], r["kind"])
            for g in cluster["status"]["apiEnablements"]
            for r in g["resources"]
        }
        assert ("apps/v1", "Deployment") in enabled
        assert cluster["status"]["nodeSummary"] == {"totalNum": nodes, "readyNum": nodes}
        assert _allocatable(cluster) == _expected_allocatable(nodes)
        parsed = parse_cluster(cluster, 0.0)  # burstd's parser on what the real controller wrote
        assert parsed.ready
        assert parsed.allocatable == Resources(nodes * 8.0, nodes * 32.0 * (1 << 30))
    members_bed.figures["register_to_clusters_ready_s"] = time.monotonic() - members_bed.registered_at

    cloud = members_bed.members["cloud"]
    started = time.monotonic()
    cloud.wait_nodes_ready(cloud.set_nodes(CLOUD_NODES + 2, shape=SHAPE))
    node_ready_s = time.monotonic() - started
    _eventually(
        members_bed,
        "cloud's resourceSummary with 2 more Nodes",
        lambda: _summary_at(members_bed, "cloud", CLOUD_NODES + 2),
    )
    members_bed.figures["node_ready_s"] = node_ready_s
    members_bed.figures["node_add_to_resource_summary_s"] = time.monotonic() - started

    started = time.monotonic()
    cloud.set_nodes(CLOUD_NODES, shape=SHAPE)
    _eventually(
        members_bed,
        "cloud's resourceSummary back to its Nodes",
        lambda: _summary_at(members_bed, "cloud", CLOUD_NODES),
    )
    members_bed.figures["node_delete_to_resource_summary_s"] = time.monotonic() - started
    assert cloud.node_names() == [cloud.node_name(i) for i in range(1, CLOUD_NODES + 1)]

    # A Node that never becomes Ready (no kwok manages it) counts in nodeSummary.totalNum only, but its
    # allocatable is in resourceSummary.allocatable all the same: Karmada sums every Node's allocatable.
    unready = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "cloud-unready", "labels": {"kubernetes.io/hostname": "cloud-unready"}},
        "status": {"capacity": SHAPE.resources(), "allocatable": SHAPE.resources()},
    }
    assert cloud.plane.request("POST", "/api/v1/nodes", unready)[0] == 201

    def with_unready() -> dict[str, Any] | None:
        cluster = _get(members_bed.karmada, "/apis/cluster.karmada.io/v1alpha1/clusters/cloud")
        status = (cluster or {}).get("status") or {}
        total = {"totalNum": CLOUD_NODES + 1, "readyNum": CLOUD_NODES}
        return cluster if status.get("nodeSummary") == total else None

    cluster = _eventually(members_bed, "cloud's nodeSummary with the unready Node", with_unready)
    assert _allocatable(cluster) == _expected_allocatable(CLOUD_NODES + 1)
    assert parse_cluster(cluster, 0.0).allocatable.cpu == (CLOUD_NODES + 1) * 8.0
    assert cloud.plane.request("DELETE", "/api/v1/nodes/cloud-unready")[0] == 200

    # A member with no Node at all (a cloud pool at rest) stays Ready, and its summaries are empty:
    # zero quantities are omitted, so there is no allocatable to read (not even a zero).
    cloud.set_nodes(0)

    def empty() -> dict[str, Any] | None:
        cluster = _get(members_bed.karmada, "/apis/cluster.karmada.io/v1alpha1/clusters/cloud")
        return cluster if ((cluster or {}).get("status") or {}).get("nodeSummary") == {} else None

    cluster = _eventually(members_bed, "cloud's nodeSummary empty", empty)
    assert _condition(cluster, "Ready") == "True"
    assert cluster["status"]["resourceSummary"] == {}
    cloud.wait_nodes_ready(cloud.set_nodes(CLOUD_NODES, shape=SHAPE))
    _eventually(
        members_bed, "cloud back to its kwok Nodes", lambda: _summary_at(members_bed, "cloud", CLOUD_NODES)
    )


def test_divided_deployment_runs_in_both_members_and_follows_the_weights(members_bed: MemberBed) -> None:
    """A Deployment divided 1:1 over the two members runs there with the divided replicas, its Pods
    scheduled on kwok Nodes and Running; the binding's aggregatedStatus reports each member's
    readyReplicas. Rewriting the weights to 1:2 moves replicas, in the members too."""
    karmada = members_bed.karmada
    name, replicas = "web", 6
    started = time.monotonic()
    _create(
        karmada,
        f"/apis/policy.karmada.io/v1alpha1/namespaces/{NAMESPACE}/propagationpolicies",
        _policy(name, {"base": 1, "cloud": 1}),
    )
    _create(karmada, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", _deployment(name, replicas))

    split = {"base": 3, "cloud": 3}
    binding = _eventually(
        members_bed,
        f"binding scheduled {split}",
        lambda: _binding_if(members_bed, name, lambda rb: _assigned(rb) == split),
    )
    members_bed.figures["deployment_to_binding_scheduled_s"] = time.monotonic() - started
    _eventually(
        members_bed,
        f"aggregatedStatus ready {split}",
        lambda: _binding_if(members_bed, name, lambda rb: _ready(rb) == split),
    )
    members_bed.figures["deployment_to_all_ready_s"] = time.monotonic() - started
    _assert_members_run(members_bed, name, split)
    assert _condition(binding, "Scheduled") == "True"
    _assert_burstd_reads(members_bed, name, split)

    started = time.monotonic()
    _patch(
        karmada,
        f"/apis/policy.karmada.io/v1alpha1/namespaces/{NAMESPACE}/propagationpolicies/{name}",
        {"spec": {"placement": _placement({"base": 1, "cloud": 2})}},
    )
    split = {"base": 2, "cloud": 4}
    _eventually(
        members_bed,
        f"binding rescheduled {split}",
        lambda: _binding_if(members_bed, name, lambda rb: _assigned(rb) == split),
    )
    members_bed.figures["weights_to_binding_rescheduled_s"] = time.monotonic() - started
    _eventually(
        members_bed,
        f"aggregatedStatus ready {split}",
        lambda: _binding_if(members_bed, name, lambda rb: _ready(rb) == split),
    )
    members_bed.figures["weights_to_all_ready_s"] = time.monotonic() - started
    _assert_members_run(members_bed, name, split)
    _assert_burstd_reads(members_bed, name, split)

    # A cloud Node goes away the way Cluster API removes a Machine's: drained (cordon, evictions),
    # then deleted. Its Pods come back on the remaining Node and the binding is all ready again.
    cloud = members_bed.members["cloud"]
    evicted = {p["metadata"]["name"] for p in cloud.pods_on(cloud.node_name(2))}
    assert evicted, f"no cloud Pod on {cloud.node_name(2)}: draining it would prove nothing"
    started = time.monotonic()
    kept = cloud.set_nodes(1, shape=SHAPE)  # returns once the Node is drained and deleted
    pods = _assert_members_run(members_bed, name, split)
    members_bed.figures["node_drain_to_pods_running_again_s"] = time.monotonic() - started
    assert {p["spec"]["nodeName"] for p in pods["cloud"]} == set(kept)
    assert not evicted & {p["metadata"]["name"] for p in pods["cloud"]}
    _eventually(
        members_bed,
        f"aggregatedStatus ready {split} again",
        lambda: _binding_if(members_bed, name, lambda rb: _ready(rb) == split),
    )
    cloud.wait_nodes_ready(cloud.set_nodes(CLOUD_NODES, shape=SHAPE))


# ------------------------------------------------------------------------------------------ helpers


def _assert_members_run(
    members_bed: MemberBed, name: str, split: dict[str, int]
) -> dict[str, list[dict[str, Any]]]:
    """Each member runs the Deployment with its share: spec.replicas, that many Running Pods, each on
    one of the member's kwok Nodes, and no other Pod of it (the surplus is gone, not just unready).
    Returns the Pods per member."""
    out: dict[str, list[dict[str, Any]]] = {}
    for cluster, want in split.items():
        member = members_bed.members[cluster]
        deploy = member.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
        assert deploy is not None, f"{name} missing in member {cluster}"
        assert deploy["spec"]["replicas"] == want

        def running(m: Member = member, n: int = want) -> list[dict[str, Any]] | None:
            current = m.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
            pods = m.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3D{name}")["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            ok = len(live) == n and all(p["status"].get("phase") == "Running" for p in live)
            return live if ok and (current.get("status") or {}).get("readyReplicas") == n else None

        pods = _eventually(members_bed, f"{want} Running Pods of {name} in {cluster}, all ready", running)
        nodes = set(member.node_names())
        assert {p["spec"]["nodeName"] for p in pods} <= nodes
        out[cluster] = pods
    return out


def _assert_burstd_reads(members_bed: MemberBed, name: str, split: dict[str, int]) -> None:
    """burstd's parsers read the objects the real controllers wrote: the binding's split and per-cluster
    readiness, the replica requests; each Cluster's allocated resources are its Pods' requests."""
    rb = _binding_if(members_bed, name, lambda rb: _ready(rb) == split)
    assert rb is not None
    info = parse_resource_binding(rb, 0.0)
    assert dict(info.clusters) == split
    assert dict(info.ready_by_cluster) == split
    assert info.request == Resources(0.5, 512.0 * (1 << 20))
    assert info.scheduled is True
    assert info.scheduler_observed_generation == info.generation
    for cluster, replicas in split.items():
        want = Resources(replicas * 0.5, replicas * 512.0 * (1 << 20))

        def allocated(c: str = cluster, w: Resources = want) -> dict[str, Any] | None:
            obj = _get(members_bed.karmada, f"/apis/cluster.karmada.io/v1alpha1/clusters/{c}")
            return obj if obj is not None and parse_cluster(obj, 0.0).allocated == w else None

        _eventually(members_bed, f"{cluster}'s resourceSummary.allocated = {want}", allocated)


def _summary_at(members_bed: MemberBed, name: str, nodes: int) -> dict[str, Any] | None:
    """The Cluster once the controller reports ``nodes`` Ready Nodes and their allocatable, else None."""
    cluster = _get(members_bed.karmada, f"/apis/cluster.karmada.io/v1alpha1/clusters/{name}")
    if cluster is None or _condition(cluster, "Ready") != "True":
        return None
    status = cluster.get("status") or {}
    if status.get("nodeSummary") != {"totalNum": nodes, "readyNum": nodes}:
        return None
    return cluster if _allocatable(cluster) == _expected_allocatable(nodes) else None


def _expected_allocatable(nodes: int) -> dict[str, int]:
    return {
        "cpu": nodes * _quantity(SHAPE.cpu),
        "memory": nodes * _quantity(SHAPE.memory),
        "pods": nodes * SHAPE.pods,
    }


def _allocatable(cluster: dict[str, Any]) -> dict[str, int]:
    summary = (cluster.get("status") or {}).get("resourceSummary") or {}
    return {
        k: _quantity(v)
        for k, v in (summary.get("allocatable") or {}).items()
        if k in ("cpu", "memory", "pods")
    }


def _quantity(value: str) -> int:
    """The integer quantities this test uses (``8``, ``32Gi``, ``256Gi``, ``110``)."""
    for suffix, factor in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40)):
        if value.endswith(suffix):
            return int(value[: -len(suffix)]) * factor
    return int(value)


def _binding_if(
    members_bed: MemberBed, name: str, pred: Callable[[dict[str, Any]], bool]
) -> dict[str, Any] | None:
    rb = _get(
        members_bed.karmada,
        f"/apis/work.karmada.io/v1alpha2/namespaces/{NAMESPACE}/resourcebindings/{name}-deployment",
    )
    return rb if rb is not None and pred(rb) else None


def _assigned(rb: dict[str, Any]) -> dict[str, int]:
    return {c["name"]: c.get("replicas", 0) for c in rb["spec"].get("clusters") or []}


def _ready(rb: dict[str, Any]) -> dict[str, int]:
    """readyReplicas per cluster from ``status.aggregatedStatus`` (only applied, healthy entries)."""
    out: dict[str, int] = {}
    for item in (rb.get("status") or {}).get("aggregatedStatus") or []:
        if item.get("applied") and item.get("health") == "Healthy":
            out[item["clusterName"]] = int((item.get("status") or {}).get("readyReplicas", 0))
    return out


def _condition(obj: dict[str, Any], type_: str) -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return str(cond.get("status"))
    return None


def _eventually(
    members_bed: MemberBed, what: str, fn: Callable[[], T | None], timeout: float = _TIMEOUT
) -> T:
    """Poll ``fn`` until it returns something; fail (with the controllers' log tails) at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value is not None:
            return value
        members_bed.karmada.check_alive()
        for member in members_bed.members.values():
            member.check_alive()
        if time.monotonic() > deadline:
            tails = "\n".join(
                f"--- {n}:\n{p.tail(10)}"
                for n, p in members_bed.karmada.processes.items()
                if n == "karmada-controller-manager"
            )
            pytest.fail(f"not {what} within {timeout:.0f} s\n{tails}")
        time.sleep(0.1)


def _get(karmada: KarmadaPlane, path: str) -> Any:
    status, answer = karmada.plane.request("GET", path)
    if status == 404:
        return None
    assert status == 200, f"GET {path}: HTTP {status}: {answer}"
    return answer


def _create(karmada: KarmadaPlane, path: str, body: dict[str, Any]) -> None:
    status, answer = karmada.plane.request("POST", path, body)
    assert status == 201, f"POST {path}: HTTP {status}: {answer}"


def _patch(karmada: KarmadaPlane, path: str, body: dict[str, Any]) -> None:
    status, answer = karmada.plane.request("PATCH", path, body, content_type="application/merge-patch+json")
    assert status == 200, f"PATCH {path}: HTTP {status}: {answer}"


def _placement(weights: dict[str, int]) -> dict[str, Any]:
    return {
        "clusterAffinity": {"clusterNames": sorted(weights)},
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "replicaDivisionPreference": "Weighted",
            "weightPreference": {
                "staticWeightList": [
                    {"targetCluster": {"clusterNames": [c]}, "weight": w} for c, w in sorted(weights.items())
                ]
            },
        },
    }


def _policy(name: str, weights: dict[str, int]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
            "placement": _placement(weights),
        },
    }


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "app",
        "image": "registry.invalid/web:1",  # kwok runs no containers: the image is never pulled
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
