"""A policy edited mid-burst: a pool removed, a workload removed, limits lowered. What leaves is drained and
released like the end of a burst (drain.maxStep per drain.interval), never orphaned, never in one jump."""

from __future__ import annotations

import itertools
import json

from burstd.engine.share import step_size
from burstd.engine.webster import webster
from burstd.model.actions import ScalePool, SetWeights
from burstd.model.state import BurstState, Phase
from burstd.policy.spec import BurstPolicy

from .test_invariants import check_pacing, moves
from .toyfleet import ToyFleet, policy, pool_doc

CLUSTER = {"tke-a": "tke", "ack-b": "ack"}
TWO = [
    {"propagationPolicy": {"namespace": "shop", "name": "web"}},
    {"propagationPolicy": {"namespace": "shop", "name": "api"}},
]


def only_tke(**overrides: object) -> BurstPolicy:
    return policy(burst={"pools": [pool_doc("tke-a", "tke", 2.0)]}, **overrides)


def bursting(p: BurstPolicy, demand: int = 210, **extra: object) -> ToyFleet:
    fleet = ToyFleet(p, demand=demand, own_weights=True, files=p, **extra)  # type: ignore[arg-type]
    fleet.run(900)
    assert fleet.state.phase == Phase.BURSTING
    return fleet


def cloud_of(assignment: dict[str, int]) -> int:
    return sum(n for c, n in assignment.items() if c != "idc-1")


def weights_within_ready(fleet: ToyFleet) -> None:
    """Every weight write sends each cloud cluster at most what its Ready nodes hold, whatever the pools."""
    for _, decision, world in fleet.history:
        ready: dict[str, int] = {}
        for name, pool in world.pools.items():
            cluster = CLUSTER[name]
            ready[cluster] = ready.get(cluster, 0) + pool.ready * 8
        for action in decision.actions:
            if isinstance(action, SetWeights):
                for cluster, n in action.intended:
                    assert cluster == "idc-1" or n <= ready.get(cluster, 0), (action, ready)


def test_a_pool_removed_mid_burst_is_drained_in_steps_then_released_and_forgotten() -> None:
    fleet = bursting(policy())
    assert fleet.targets() == {"tke-a": 10, "ack-b": 8}
    share = fleet.cloud_share()
    mark = len(fleet.history)
    fleet.reload(only_tke())
    assert list(fleet.state.retiring_pools) == ["ack-b"]
    assert [p.name for p in fleet.policy.spec.burst.pools] == ["tke-a", "ack-b"]
    fleet.run(900)
    # released and forgotten; the burst goes on in the pool that stays
    assert fleet.targets() == {"tke-a": 10, "ack-b": 0}
    assert fleet.state.retiring_pools == {}
    assert [p.name for p in fleet.policy.spec.burst.pools] == ["tke-a"]
    assert fleet.state.phase == Phase.BURSTING
    assert set(fleet.state.pool_targets) == {"tke-a"}
    # no node of the removed pool was asked for; it went only once its replicas had left
    later = fleet.history[mark:]
    assert not [
        a for _, d, _ in later for a in d.actions if isinstance(a, ScalePool) and a.nodes > a.previous
    ]
    down = [(t, a) for t, d, _ in later for a in d.actions if isinstance(a, ScalePool) and a.pool == "ack-b"]
    assert [(a.previous, a.nodes) for _, a in down] == [(8, 0)]
    assert all(w.workloads[0].replicas_by_cluster.get("ack", 0) == 0 for t, _, w in later if t >= down[0][0])
    # the share moved back by at most drain.maxStep (20% of 210 = 42) per drain.interval (1m)
    steps = [m for m in moves(fleet) if m.at >= later[0][0]]
    assert len(steps) >= 2
    assert steps[0].before == share
    check_pacing(fleet.policy, moves(fleet))
    weights_within_ready(fleet)


def test_a_restart_mid_retirement_finishes_it() -> None:
    fleet = bursting(policy())
    fleet.reload(only_tke())
    fleet.run(60)
    assert fleet.state.retiring_pools
    assert fleet.targets()["ack-b"] == 8
    # a new process: the files without the pool, the state read back
    fleet.state = BurstState.from_dict(json.loads(json.dumps(fleet.state.to_dict())))
    fleet.policy = only_tke()
    fleet.run(900)
    assert fleet.targets() == {"tke-a": 10, "ack-b": 0}
    assert fleet.state.retiring_pools == {}
    check_pacing(fleet.policy, moves(fleet))


def test_a_pool_put_back_before_its_retirement_is_over_is_managed_again() -> None:
    fleet = bursting(policy())
    fleet.reload(only_tke())
    fleet.run(10)
    fleet.reload(policy())
    assert fleet.state.retiring_pools == {}
    fleet.run(900)
    assert fleet.targets() == {"tke-a": 10, "ack-b": 8}


def test_a_retiring_pool_whose_object_is_gone_is_forgotten_without_holding_the_policy() -> None:
    fleet = bursting(policy())
    fleet.reload(only_tke())
    decision = fleet.decide(10)
    world = fleet.history[-1][2]
    gone = type(world)(world.clusters, world.workloads, {"tke-a": world.pools["tke-a"]}, budget=world.budget)
    from burstd.engine import decide

    after = decide(gone, fleet.policy, fleet.state, fleet.now)
    assert after.state.retiring_pools == {}
    assert any("retiring pool ack-b is no longer observed" in r for r in after.reasons)
    assert not after.holds
    assert decision.state.retiring_pools  # while it is seen, it is kept


def test_a_workload_removed_mid_burst_moves_back_in_steps_then_is_let_go() -> None:
    fleet = bursting(policy(workloads=TWO), demand=150, extra={"shop/api": 60})
    api = cloud_of(fleet.assignment_of("shop/api"))
    assert api > 12
    mark = len(fleet.history)
    fleet.reload(policy())
    assert list(fleet.state.retiring_workloads) == ["shop/api"]
    fleet.run(900)
    assert fleet.state.retiring_workloads == {}
    assert "shop/api" not in fleet.state.weights
    assert fleet.extra_weights["shop/api"] == {"idc-1": 1}  # left on the base, no longer managed
    assert fleet.state.phase == Phase.BURSTING  # the other workload's burst goes on
    # shop/api's cloud replicas: at most 20% of its 60 replicas (12) a step, a step per minute at most
    shares: list[tuple[float, int]] = []
    for t, d, _ in fleet.history[mark:]:
        for a in d.actions:
            if isinstance(a, SetWeights) and a.workload == "shop/api":
                shares.append((t, cloud_of(webster(60, dict(a.weights)))))
    before = [api, *(n for _, n in shares)]
    assert all(0 <= a - b <= step_size(0.2, 60) for a, b in itertools.pairwise(before))
    assert all(b[0] - a[0] >= 60.0 for a, b in itertools.pairwise(shares))
    assert before[-1] == 0
    weights_within_ready(fleet)


def test_a_lowered_node_limit_drains_the_excess_in_steps() -> None:
    fleet = bursting(policy())
    fleet.files = fleet.policy = policy(limits={"maxCloudNodes": 4})
    fleet.run(900)
    assert sum(fleet.targets().values()) == 4
    check_pacing(fleet.policy, moves(fleet))
    down = [
        a for _, d, _ in fleet.history for a in d.actions if isinstance(a, ScalePool) and a.nodes < a.previous
    ]
    assert down
    weights_within_ready(fleet)


def test_a_lowered_pool_max_drains_the_excess_in_steps() -> None:
    fleet = bursting(policy(), demand=180)
    assert fleet.targets()["tke-a"] == 10
    pools = [pool_doc("tke-a", "tke", 2.0, high=2), pool_doc("ack-b", "ack", 3.0)]
    fleet.files = fleet.policy = policy(burst={"pools": pools})
    mark = len(fleet.history)
    fleet.run(900)
    assert fleet.targets()["tke-a"] == 2
    steps = [m for m in moves(fleet) if m.at >= fleet.history[mark][0] and m.direction < 0]
    assert len(steps) >= 2
    check_pacing(fleet.policy, moves(fleet))
    weights_within_ready(fleet)


def test_retiring_entries_round_trip_through_the_saved_state() -> None:
    fleet = bursting(policy(workloads=TWO), demand=150, extra={"shop/api": 60})
    fleet.reload(only_tke())
    state = fleet.state
    assert state.retiring_pools
    assert state.retiring_workloads
    assert BurstState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
