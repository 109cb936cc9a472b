"""A native node pool (TKE, ACK) as the engine's pool: counts, members named by instance id, and what is
missing when the provider has not reported it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from burstd.model.cloud import NodePool, NodePoolMember
from burstd.model.world import MachineInfo, PoolState
from burstd.policy.spec import BurstPolicy, PoolSpec, parse_document
from burstd.runtime.observe import (
    NodePoolObs,
    Snapshot,
    build_world,
    describe_missing,
    node_pool_key,
    node_pool_of,
)
from burstd.runtime.observe_nodepool import is_native, node_pool_label, node_pool_state

from .fakes import snapshot

T = 1_700_000_000.0


def pool(name: str, backend: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "fake",
        "cluster": "tke-gz",
        "backend": backend,
        "nodes": {"max": 10},
        "allocatable": {"cpu": "8", "memory": "32Gi"},
        "price": {"perNodeHour": 1.0},
        **extra,
    }


def policy(*pools: dict[str, Any]) -> BurstPolicy:
    parsed = parse_document(
        {
            "apiVersion": "burstd.io/v1alpha1",
            "kind": "BurstPolicy",
            "metadata": {"name": "web-burst"},
            "spec": {
                "workloads": [{"propagationPolicy": {"namespace": "shop", "name": "web"}}],
                "base": {"clusters": ["idc-1"]},
                "burst": {"pools": list(pools)},
                "triggers": {
                    "scaleOut": {"any": [{"signal": "base.cpu.requestedRatio", "above": 0.85}]},
                    "scaleIn": {"any": [{"signal": "base.cpu.requestedRatio", "below": 0.5}]},
                },
            },
        }
    )
    assert isinstance(parsed, BurstPolicy)
    return parsed


TKE = pool("tke", "tke-nodepool", nodePool={"clusterId": "cls-1", "nodePoolId": "np-1"})
ACK = pool("ack", "ack-nodepool", cluster="ack-sh", nodePool={"clusterId": "c-ack", "nodePoolId": "np-ack"})
MD = pool("md", "capi-machinedeployment", cluster="ack-hz", ref={"namespace": "capi", "name": "md-0"})


def spec(doc: dict[str, Any]) -> PoolSpec:
    return policy(doc).spec.burst.pools[0]


def member(
    instance_id: str,
    *,
    ready: bool = True,
    deleting: bool = False,
    failed: bool = False,
    created_at: float = T - 600,
) -> NodePoolMember:
    node = f"10.0.0.{instance_id[-1]}" if ready else None
    return NodePoolMember(instance_id, node, ready, created_at, deleting=deleting, failed=failed)


def test_members_become_machines_named_by_instance_id() -> None:
    obs = NodePoolObs(
        NodePool(
            "np-1",
            4,
            (
                member("ins-3", deleting=True),
                member("ins-1", created_at=T - 60),
                member("ins-2", ready=False),
                member("ins-4", ready=False, failed=True),
            ),
        ),
        T - 5,
    )
    state = node_pool_state(spec(TKE), obs)
    assert state == PoolState(
        name="tke",
        desired=4,
        ready=1,  # ins-1: ins-3 is Ready but being removed
        existing=4,  # a member being removed, and a failed one, still hold an instance
        failed=1,
        observed_at=T - 5,
        machines=(
            MachineInfo("ins-1", True, 0, T - 60),
            MachineInfo("ins-2", False, 0, T - 600),
            MachineInfo("ins-3", True, 0, T - 600, deleting=True),
            MachineInfo("ins-4", False, 0, T - 600),
        ),
    )


def test_an_empty_node_pool_is_a_pool_of_nothing() -> None:
    state = node_pool_state(spec(ACK), NodePoolObs(NodePool("np-ack", 0, ()), T))
    assert (state.name, state.desired, state.ready, state.existing, state.failed) == ("ack", 0, 0, 0, 0)
    assert state.machines == ()


def test_native_pools_are_recognised_and_labelled() -> None:
    assert is_native(spec(TKE))
    assert is_native(spec(ACK))
    assert not is_native(spec(MD))
    assert node_pool_label(spec(TKE)) == "TKE node pool cls-1/np-1"
    assert node_pool_label(spec(ACK)) == "ACK node pool c-ack/np-ack"


def test_build_world_takes_native_pools_from_the_snapshot_by_cluster_and_node_pool_id() -> None:
    bp = policy(TKE, ACK)
    tke = NodePoolObs(NodePool("np-1", 2, (member("ins-1"), member("ins-2", ready=False))), T)
    other = NodePoolObs(NodePool("np-1", 7, ()), T)  # the same node pool id in another cluster
    snap = replace(
        snapshot(at=T),
        node_pools={node_pool_key("cls-1", "np-1"): tke, node_pool_key("cls-2", "np-1"): other},
    )
    world = build_world(bp, snap)
    assert set(world.pools) == {"tke"}
    assert world.pools["tke"] == node_pool_state(bp.spec.burst.pools[0], tke)
    assert node_pool_of(bp.spec.burst.pools[0], snap) is tke
    assert node_pool_of(bp.spec.burst.pools[1], snap) is None
    assert "ACK node pool c-ack/np-ack" in describe_missing(bp, snap)
    assert "TKE node pool cls-1/np-1" not in describe_missing(bp, snap)


def test_a_native_pool_not_reported_is_missing_and_absent() -> None:
    bp = policy(TKE, MD)
    snap = Snapshot()
    assert build_world(bp, snap).pools == {}
    assert describe_missing(bp, snap)[-2:] == ["TKE node pool cls-1/np-1", "MachineDeployment capi/md-0"]


def test_a_cluster_api_pool_never_reads_node_pools() -> None:
    bp = policy(MD)
    snap = Snapshot(node_pools={node_pool_key("capi", "md-0"): NodePoolObs(NodePool("md-0", 3, ()), T)})
    assert node_pool_of(bp.spec.burst.pools[0], snap) is None
    assert build_world(bp, snap).pools == {}
