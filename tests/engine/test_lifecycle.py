"""Whole bursts in the closed-loop toy fleet: the phases in order, resizing in place, rollback, restart."""

from __future__ import annotations

import json

import pytest

from burstd.model.actions import Alert, ScalePool, SetWeights
from burstd.model.decision import Decision
from burstd.model.state import BurstState, Phase

from .toyfleet import ToyFleet, policy, wide

CLOUD = {"tke", "ack"}


def ups(fleet: ToyFleet, since: int = 0) -> list[ScalePool]:
    return [
        a
        for _, d, _ in fleet.history[since:]
        for a in d.actions
        if isinstance(a, ScalePool) and a.nodes > a.previous
    ]


def alerts(fleet: ToyFleet) -> list[str]:
    return [a.code for _, d, _ in fleet.history for a in d.actions if isinstance(a, Alert)]


def back_on_base(fleet: ToyFleet) -> None:
    assert fleet.state.phase == Phase.IDLE
    assert fleet.cloud_nodes() == 0
    assert fleet.state.pool_targets == {"tke-a": 0, "ack-b": 0}
    assert not CLOUD & set(fleet.weights)
    assert fleet.assignment() == {"idc-1": fleet.demand}
    assert fleet.state.burst_started_at is None
    assert fleet.state.target_cloud_replicas == 0


def test_step_up_and_back_down_walks_every_phase_in_order() -> None:
    fleet = ToyFleet(wide(), demand=60)
    fleet.run(60)
    fleet.demand = 150
    fleet.run(600)
    assert fleet.state.phase == Phase.BURSTING
    # 150 x 1.1 = 165 replicas, 100 on the base: 65 on the cloud, 9 nodes of 8.
    assert fleet.targets() == {"tke-a": 9, "ack-b": 0}
    assert fleet.state.target_cloud_replicas == 65
    # The base and the cloud share the load evenly: round(150 x 72 / 172) = 63 on the cloud.
    assert fleet.assignment() == {"idc-1": 87, "tke": 63}
    fleet.demand = 40
    fleet.run(1500)
    assert fleet.phases() == [
        Phase.IDLE,
        Phase.PROVISIONING,
        Phase.SHIFTING,
        Phase.BURSTING,
        Phase.DRAINING,
        Phase.RELEASING,
        Phase.IDLE,
    ]
    back_on_base(fleet)
    assert fleet.state.bursts == 1
    assert len(ups(fleet)) == 1
    assert alerts(fleet) == []
    # Every node-second is billed: 9 nodes from their launch (the scale-up) until the evaluation that no
    # longer sees them (one 10s tick after the release removed them), at 2.0 an hour.
    times = [t for t, d, _ in fleet.history if any(isinstance(a, ScalePool) for a in d.actions)]
    assert len(times) == 2
    node_seconds = 9 * (times[1] + 10.0 - times[0])
    assert fleet.state.ledger.node_seconds == {"tke-a": pytest.approx(node_seconds)}
    assert fleet.state.ledger.cost == pytest.approx(node_seconds / 3600 * 2.0)


def test_weights_follow_ready_nodes_while_shifting() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.run(600)
    writes = [(t, d, w) for t, d, w in fleet.history if any(isinstance(a, SetWeights) for a in d.actions)]
    assert len(writes) == 2, "25% of 150 = 38 replicas a step: 0 -> 38 -> 63"
    first, second = writes
    assert second[0] - first[0] >= 30.0
    assert all(w.pools["tke-a"].ready == 9 for _, _, w in writes)
    assert [
        dict(a.intended)["tke"] for _, d, _ in writes for a in d.actions if isinstance(a, SetWeights)
    ] == [38, 63]


def test_burst_resizes_in_place() -> None:
    # Scale-in allowed whenever the base is below 99% requested: with the cloud part sized from demand,
    # a trigger on replicas the base cannot hold (`fhpa.unfitReplicas`) would hold only once the demand
    # is back on the base, and the burst could never shrink in place.
    scale_in = {"all": [{"signal": "base.cpu.requestedRatio", "below": 0.99, "for": "5m"}]}
    fleet = ToyFleet(wide(triggers={"scaleIn": scale_in}), demand=150)
    fleet.run(600)
    assert fleet.state.phase == Phase.BURSTING
    mark = len(fleet.history)
    fleet.demand = 200
    fleet.run(600)
    later = [d.state.phase for _, d, _ in fleet.history[mark:]]
    assert Phase.IDLE not in later
    assert Phase.PROVISIONING in later
    assert fleet.state.phase == Phase.BURSTING
    assert fleet.state.bursts == 1
    # 100 above the base's 100, x 1.3 = 130 on the cloud: 17 nodes.
    assert fleet.targets() == {"tke-a": 17, "ack-b": 0}
    assert [(a.previous, a.nodes) for a in ups(fleet, mark)] == [(9, 17)]
    # Shrink in place: 20 above the base, x 1.3 = 26 cloud replicas on 4 nodes.
    mark = len(fleet.history)
    fleet.demand = 120
    fleet.run(1500)
    assert Phase.IDLE not in [d.state.phase for _, d, _ in fleet.history[mark:]]
    assert fleet.state.phase == Phase.BURSTING
    assert fleet.targets() == {"tke-a": 4, "ack-b": 0}
    assert fleet.state.target_cloud_replicas == 26
    assert 20 <= fleet.cloud_share() <= 32
    assert fleet.state.bursts == 1


def test_rollback_when_every_pool_is_out_of_stock() -> None:
    fleet = ToyFleet(wide(), demand=150)
    while not ups(fleet):
        fleet.step(10)
    assert fleet.state.phase == Phase.PROVISIONING
    fleet.run_out_of_stock("tke-a")
    fleet.run_out_of_stock("ack-b")
    fleet.run(120)
    back_on_base(fleet)
    assert alerts(fleet) == ["ProvisioningFailed"]
    assert set(fleet.state.backoff_until) == {"tke-a", "ack-b"}
    assert "ProvisioningFailed" in fleet.state.alerts
    # Nothing was ever shifted onto nodes that did not exist.
    assert not [a for _, d, _ in fleet.history for a in d.actions if isinstance(a, SetWeights)]


def test_rollback_with_every_pool_out_of_stock_from_the_start() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.stock_out |= {"tke-a", "ack-b"}
    fleet.run(300)
    back_on_base(fleet)
    assert not ups(fleet)
    assert alerts(fleet) == ["ProvisioningFailed"]


def test_no_burst_is_counted_when_none_can_start() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.stock_out |= {"tke-a", "ack-b"}
    fleet.run(300)
    assert fleet.state.phase == Phase.IDLE
    assert fleet.state.bursts == 0
    assert fleet.state.burst_started_at is None


def test_bursts_recover_once_stock_returns() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.stock_out |= {"tke-a", "ack-b"}
    fleet.run(300)
    fleet.stock_out.clear()
    fleet.run(900)  # the 10-minute stock-out backoff runs out, then a normal burst
    assert fleet.state.phase == Phase.BURSTING
    assert fleet.targets() == {"tke-a": 9, "ack-b": 0}


def test_failover_pool_gets_its_own_provision_timeout() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.delay = 10**9  # tke-a never delivers
    while not ups(fleet):
        fleet.step(10)
    fleet.delay = 180.0  # ack-b delivers in 3 minutes
    fleet.run(1200)
    assert fleet.targets() == {"tke-a": 0, "ack-b": 9}
    assert fleet.state.phase == Phase.BURSTING


def _restored(state: BurstState) -> BurstState:
    return BurstState.from_dict(json.loads(json.dumps(state.to_dict())))


@pytest.mark.parametrize("phase", [Phase.PROVISIONING, Phase.SHIFTING, Phase.BURSTING, Phase.DRAINING])
def test_restart_mid_burst_resumes_without_a_second_scale_up(phase: Phase) -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.run(30)
    schedule = [(600, 150), (1500, 40)]
    restarted = False
    for seconds, demand in schedule:
        fleet.demand = demand
        end = fleet.now + seconds
        while fleet.now < end:
            fleet.step(10)
            if not restarted and fleet.state.phase == phase:
                fleet.state = _restored(fleet.state)  # a new leader reads the state back
                restarted = True
    assert restarted
    assert len(ups(fleet)) == 1
    assert fleet.state.bursts == 1
    assert fleet.phases()[-1] == Phase.IDLE
    back_on_base(fleet)


def test_restart_before_every_decision_changes_nothing() -> None:
    def run(restart: bool) -> list[Decision]:
        fleet = ToyFleet(policy(), demand=60)
        for demand, seconds in [(60, 60), (180, 900), (120, 300), (40, 1500)]:
            fleet.demand = demand
            end = fleet.now + seconds
            while fleet.now < end:
                if restart:
                    fleet.state = _restored(fleet.state)
                fleet.step(10)
        return [d for _, d, _ in fleet.history]

    steady, restarted = run(False), run(True)
    assert [d.actions for d in restarted] == [d.actions for d in steady]
    assert [d.state for d in restarted] == [d.state for d in steady]


def test_settled_burst_is_reported_as_bursting() -> None:
    fleet = ToyFleet(policy(), demand=180)
    fleet.run(1200)
    # The engine has stopped moving: 90 of 180 replicas on the cloud, the balanced target is 92, and a
    # difference under the 2% tolerance (4 replicas) is not worth a weight change.
    last_write = max(t for t, d, _ in fleet.history if any(isinstance(a, SetWeights) for a in d.actions))
    assert fleet.now - last_write > 600
    assert fleet.cloud_share() == 90
    assert fleet.state.phase == Phase.BURSTING


@pytest.mark.parametrize(("max_nodes", "high", "share", "low"), [(20, 180, 90, 0), (1, 101, 7, 1)])
def test_burst_ends_when_demand_falls_to_almost_nothing(
    max_nodes: int, high: int, share: int, low: int
) -> None:
    fleet = ToyFleet(policy(limits={"maxCloudNodes": max_nodes}), demand=high)
    fleet.run(1200)
    assert fleet.cloud_share() == share
    # Webster gives the cloud nothing of 0 or 1 replica, and the balanced cloud share is 0 too
    # (round(1 x 8 / 108) = 0), so the engine writes no weights.
    fleet.demand = low
    assert fleet.cloud_share() == 0
    fleet.run(3000)
    assert fleet.state.phase == Phase.IDLE
    assert fleet.cloud_nodes() == 0
    assert not CLOUD & set(fleet.weights)
