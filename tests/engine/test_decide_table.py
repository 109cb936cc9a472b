"""Single decisions of ``decide`` on hand-built worlds: one behaviour per test, real values asserted."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from itertools import pairwise
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from burstd.engine import decide
from burstd.engine.fleet import Usage, budgets
from burstd.engine.pools import pick_removals
from burstd.model.actions import Alert, Hold, MarkMachines, Rebalance, ScalePool, SetWeights, Severity
from burstd.model.decision import Decision
from burstd.model.state import BurstState, History, Ledger, Phase
from burstd.model.world import FleetBudget, MachineInfo, PoolState, Sample
from burstd.policy.spec import FleetLimits, parse_document

from .toyfleet import ToyFleet, policy, pool_doc, wide

A = TypeVar("A", ScalePool, MarkMachines, SetWeights, Rebalance, Hold, Alert)
T0 = 1_700_000_000.0


def of(decision: Decision, kind: type[A]) -> list[A]:
    return [a for a in decision.actions if isinstance(a, kind)]


def only_hold(decision: Decision) -> bool:
    return all(isinstance(a, Hold) for a in decision.actions) and len(decision.actions) == 1


def scale_ups(decision: Decision) -> dict[str, int]:
    return {a.pool: a.nodes for a in of(decision, ScalePool) if a.nodes > a.previous}


def until(fleet: ToyFleet, phase: Phase, *, limit: int = 500, tick: float = 10.0) -> Decision:
    """Step until the engine reports ``phase``; fail if it never does."""
    for _ in range(limit):
        decision = fleet.step(tick)
        if decision.state.phase == phase:
            return decision
    pytest.fail(f"never reached {phase}; phases were {fleet.phases()}")


def in_burst(fleet: ToyFleet, demand: int = 180) -> None:
    """Drive the fleet into a settled burst at ``demand``."""
    fleet.demand = demand
    fleet.run(600)
    assert fleet.state.phase != Phase.IDLE
    assert fleet.cloud_share() > 0


# --- idle and triggers -------------------------------------------------------------------------


def test_idle_stays_idle_without_pressure() -> None:
    fleet = ToyFleet(policy(), demand=60)
    for _ in range(30):
        decision = fleet.step(30)
        assert decision.state.phase == Phase.IDLE
        assert only_hold(decision)
        assert decision.state.pool_targets == {"tke-a": 0, "ack-b": 0}
        assert decision.state.bursts == 0
    assert fleet.cloud_nodes() == 0
    assert fleet.weights == {}


def test_idle_stays_idle_with_a_pool_minimum() -> None:
    p = policy(burst={"pools": [pool_doc("tke-a", "tke", 2.0, low=2), pool_doc("ack-b", "ack", 3.0)]})
    fleet = ToyFleet(p, demand=50)
    fleet.run(600)
    assert fleet.targets() == {"tke-a": 2, "ack-b": 0}  # the pool's base size is kept
    assert fleet.state.bursts == 0
    assert fleet.state.phase == Phase.IDLE
    assert fleet.weights == {}


def test_scale_out_trigger_must_hold_for_its_for() -> None:
    fleet = ToyFleet(wide(), demand=120)  # 20 replicas more than the base holds
    first = fleet.step(10)
    assert first.state.phase == Phase.IDLE
    assert only_hold(first)
    seen = fleet.now
    assert first.wake_at == seen + 30.0  # the trigger's `for`
    fleet.now = seen + 29.0 - 10.0
    almost = fleet.step(10)
    assert almost.state.phase == Phase.IDLE
    assert only_hold(almost)
    assert almost.wake_at == seen + 30.0
    fleet.now = seen + 30.0 - 10.0
    due = fleet.step(10)
    assert due.state.phase == Phase.PROVISIONING
    assert scale_ups(due) == {"tke-a": 4}  # ceil(ceil((120 - 100) * 1.3) / 8)
    assert due.state.bursts == 1
    assert due.state.burst_started_at == seen + 30.0


def test_trigger_timer_restarts_when_the_condition_breaks() -> None:
    fleet = ToyFleet(wide(), demand=120)
    fleet.step(10)
    fleet.step(10)
    fleet.demand = 90  # not met any more
    assert fleet.step(10).state.holding_since.get("scaleOut.any[0]") is None
    fleet.demand = 120
    restarted = fleet.step(10)
    assert restarted.wake_at == fleet.now + 30.0
    fleet.step(20)
    assert fleet.state.phase == Phase.IDLE
    assert fleet.step(10).state.phase == Phase.PROVISIONING


# --- sizing and pool choice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("demand", "headroom"),
    [
        (101, "10%"),
        (120, "10%"),
        (150, "10%"),
        (180, "10%"),
        (333, "10%"),
        (150, "0%"),
        (150, "25%"),
        (207, "5%"),
    ],
)
def test_scale_out_sizes_nodes_from_demand_headroom_and_base_room(demand: int, headroom: str) -> None:
    fleet = ToyFleet(wide(burst={"headroom": headroom}), demand=demand)
    decision = until(fleet, Phase.PROVISIONING)
    wanted = math.ceil((demand - 100) * (1 + Fraction(headroom.rstrip("%")) / 100))  # of the cloud part
    nodes = math.ceil(wanted / 8)
    assert decision.state.target_cloud_replicas == wanted
    assert scale_ups(decision) == {"tke-a": nodes}
    assert decision.state.pool_targets == {"tke-a": nodes, "ack-b": 0}


def test_trigger_held_while_the_base_has_room_asks_for_one_node() -> None:
    # Unschedulable replicas trigger although the base has room by its resource summary.
    p = wide(triggers={"scaleOut": {"any": [{"signal": "workload.unschedulableReplicas", "above": 0}]}})
    fleet = ToyFleet(p, demand=60)
    world = fleet.world()
    workload = replace(world.workloads[0], unschedulable_replicas=3)
    decision = decide(replace(world, workloads=(workload,)), p, BurstState(), fleet.now)
    assert scale_ups(decision) == {"tke-a": 1}
    assert decision.state.target_cloud_replicas == 8


#: scale out at 90% of the base requested (or any replica the base cannot hold); scale in below 80%
RATIO_TRIGGERS = {
    "scaleOut": {
        "any": [
            {"signal": "base.cpu.requestedRatio", "above": 0.9},
            {"signal": "fhpa.unfitReplicas", "above": 0},
        ]
    },
    "scaleIn": {"all": [{"signal": "base.cpu.requestedRatio", "below": 0.8}]},
}


@pytest.mark.parametrize(
    ("demand", "target", "nodes"),
    [
        (91, 0, 0),  # 91% requested: the trigger holds, but the base's 100 replicas hold the demand
        (100, 0, 0),  # the base exactly full: still nothing the cloud must hold
        (101, 2, 1),  # 1 replica above the base, x 1.3 -> 2 cloud replicas: one node
        (108, 11, 2),  # 8 above, x 1.3 = 10.4 -> 11
        (140, 52, 7),  # the spare is 30% of the cloud part (12 replicas), not of the whole demand (42)
    ],
)
def test_a_trigger_on_the_base_load_buys_only_what_the_base_cannot_hold(
    demand: int, target: int, nodes: int
) -> None:
    fleet = ToyFleet(wide(triggers=RATIO_TRIGGERS), demand=demand)
    decision = fleet.step(10)
    assert decision.state.target_cloud_replicas == target
    assert scale_ups(decision) == ({"tke-a": nodes} if nodes else {})
    if nodes:
        assert decision.state.phase == Phase.PROVISIONING
        assert decision.state.bursts == 1
    else:
        assert decision.state.phase == Phase.IDLE
        assert decision.state.bursts == 0
        assert only_hold(decision)
        assert any("holds the demand" in r and "no cloud node yet" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("condition", "signals", "nodes"),
    [
        # a PromQL signal measures what the base's room cannot see: one node
        ({"promql": "max(queue_depth)", "above": 100}, {"promql:max(queue_depth)": 500.0}, 1),
        # the base's own load while its room holds the 60 replicas: nothing
        ({"signal": "base.cpu.requestedRatio", "above": 0.5}, {}, 0),
        ({"signal": "fhpa.unfitReplicas", "above": -50}, {}, 0),
    ],
)
def test_only_a_signal_the_room_cannot_see_buys_a_node_while_the_base_has_room(
    condition: dict[str, Any], signals: dict[str, float], nodes: int
) -> None:
    triggers = {
        "scaleOut": {"any": [condition]},
        "scaleIn": {"all": [{"signal": "workload.unschedulableReplicas", "below": 1}]},
    }
    p = wide(triggers=triggers)
    fleet = ToyFleet(p, demand=60)
    world = fleet.world()
    world = replace(world, signals={k: Sample(v, fleet.now) for k, v in signals.items()})
    decision = decide(world, p, BurstState(), fleet.now)
    assert scale_ups(decision) == ({"tke-a": 1} if nodes else {})
    assert decision.state.target_cloud_replicas == 8 * nodes


@pytest.mark.parametrize(
    "noise",
    [
        (172, 178, 175, 180, 171, 179),  # inside the spare of both sides
        (195,),  # a rise both sides absorb at the weights they have (16 nodes are bought for it)
    ],
)
def test_demand_noise_inside_the_spare_writes_no_weights(noise: tuple[int, ...]) -> None:
    fleet = ToyFleet(wide(), demand=180)
    in_burst(fleet)
    fleet.run(300)
    assert fleet.assignment() == {"idc-1": 90, "tke": 90}  # 104 Ready on the cloud, 100 on the base
    mark = len(fleet.history)
    for demand in noise:
        fleet.demand = demand
        fleet.run(60)
    fleet.run(240)  # any node bought for the rise is Ready
    assert not [a for _, d, _ in fleet.history[mark:] for a in of(d, SetWeights)]
    assert fleet.state.phase == Phase.BURSTING
    for _, _, world in fleet.history[mark:]:
        workload = world.workloads[0]
        assert sum(workload.ready_by_cluster.values()) == workload.desired_replicas  # all served


def test_a_rise_past_both_sides_waits_for_the_nodes_then_moves_once() -> None:
    fleet = ToyFleet(wide(), demand=180)
    in_burst(fleet)
    fleet.run(300)
    mark = len(fleet.history)
    start = fleet.now
    fleet.demand = 210  # 105 land on each side: 5 too many for the base, 1 for the 104 Ready on the cloud
    fleet.run(300)
    writes = [(t - start, a) for t, d, _ in fleet.history[mark:] for a in of(d, SetWeights)]
    # Moving the cloud's extra replica to a full base would serve nothing: it waits for the nodes, and
    # the one write comes when they are Ready (18 nodes for (210 - 100) x 1.3 = 143 replicas).
    assert [(t, dict(a.intended)) for t, a in writes] == [(190.0, {"ack": 0, "idc-1": 86, "tke": 124})]
    assert fleet.targets() == {"tke-a": 18, "ack-b": 0}
    assert fleet.assignment() == {"idc-1": 86, "tke": 124}


def test_pools_fill_in_listed_order_and_spill_over_at_their_max() -> None:
    fleet = ToyFleet(policy(), demand=180)  # 98 replicas: 13 nodes, tke-a holds at most 10
    decision = until(fleet, Phase.PROVISIONING)
    assert scale_ups(decision) == {"tke-a": 10, "ack-b": 3}


@pytest.mark.parametrize(("order", "first"), [("listed", "tke-a"), ("cheapest-available", "ack-b")])
def test_cheapest_available_versus_listed_order(order: str, first: str) -> None:
    pools = [pool_doc("tke-a", "tke", 3.0, high=40), pool_doc("ack-b", "ack", 2.0, high=40)]
    fleet = ToyFleet(policy(burst={"pools": pools, "order": order}), demand=150)
    decision = until(fleet, Phase.PROVISIONING)
    assert scale_ups(decision) == {first: 9}


def test_cheapest_available_follows_live_provider_quotes() -> None:
    pools = [pool_doc("tke-a", "tke", 3.0, high=40), pool_doc("ack-b", "ack", 2.0, high=40)]
    pools[0]["price"] = {"source": "provider", "perNodeHour": 3.0, "currency": "CNY"}
    fleet = ToyFleet(policy(burst={"pools": pools, "order": "cheapest-available"}), demand=150)
    fleet.quotes["tke-a"] = 1.5  # the live quote beats ack-b's static 2.0
    decision = until(fleet, Phase.PROVISIONING)
    assert scale_ups(decision) == {"tke-a": 9}


def test_stocked_out_pool_is_skipped_and_backed_off() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.stock_out.add("tke-a")
    seen = fleet.step(10)  # the stock-out is noted as soon as it is seen, before any burst
    assert seen.state.backoff_until == {"tke-a": fleet.now + 600.0}
    assert seen.wake_at == fleet.now + 30.0
    decision = until(fleet, Phase.PROVISIONING)
    assert scale_ups(decision) == {"ack-b": 9}
    assert decision.state.pool_targets == {"tke-a": 0, "ack-b": 9}
    assert decision.state.backoff_until == seen.state.backoff_until


def test_provisioning_timeout_backs_off_and_fails_over() -> None:
    fleet = ToyFleet(wide(), demand=150)
    fleet.delay = 10**9  # tke-a's nodes never turn Ready
    up = until(fleet, Phase.PROVISIONING)
    assert scale_ups(up) == {"tke-a": 9}
    since = up.state.provisioning_since["tke-a"]
    assert since == fleet.now  # the clock starts with the decision that raised the pool
    assert up.wake_at == since + 600.0
    fleet.delay = 180.0
    waiting = fleet.step(10)
    assert waiting.state.provisioning_since == {"tke-a": since}
    assert not of(waiting, ScalePool)
    fleet.now = since + 600.0 - 10.0 - 10.0
    assert not of(fleet.step(10), ScalePool)  # 590 s: not yet
    failover = fleet.step(10)
    assert failover.state.backoff_until == {"tke-a": since + 600.0 + 600.0}
    assert any("provisionTimeout" in r for r in failover.reasons)
    moves = {a.pool: (a.previous, a.nodes) for a in of(failover, ScalePool)}
    assert moves == {"tke-a": (9, 0), "ack-b": (0, 9)}
    marked = of(failover, MarkMachines)
    assert [m.pool for m in marked] == ["tke-a"]
    assert len(marked[0].machines) == 9


def test_failed_launches_back_the_pool_off() -> None:
    fleet = ToyFleet(wide(), demand=150)
    until(fleet, Phase.PROVISIONING)
    fleet.failed["tke-a"] = 2
    decision = fleet.step(10)
    assert "tke-a" in decision.state.backoff_until
    assert {a.pool: a.nodes for a in of(decision, ScalePool)} == {"tke-a": 0, "ack-b": 9}


# --- limits ---------------------------------------------------------------------------------------


def test_max_cloud_nodes_caps_with_one_alert() -> None:
    fleet = ToyFleet(policy(limits={"maxCloudNodes": 5}), demand=180)
    decision = until(fleet, Phase.PROVISIONING)
    assert scale_ups(decision) == {"tke-a": 5}
    alerts = of(decision, Alert)
    assert [(a.code, a.severity) for a in alerts] == [("LimitReached", Severity.WARNING)]
    assert "max cloud nodes (5)" in alerts[0].reason
    assert decision.state.target_cloud_replicas == 40
    assert decision.state.alerts == ("LimitReached",)
    for _ in range(40):
        later = fleet.step(10)
        assert not of(later, Alert), "the alert is raised once while the cap lasts"
        assert "LimitReached" in later.state.alerts
        assert sum(later.state.pool_targets.values()) == 5


def test_max_hourly_cost_caps_with_one_alert() -> None:
    fleet = ToyFleet(policy(limits={"maxCloudNodes": 20, "maxHourlyCost": {"amount": 25}}), demand=180)
    decision = until(fleet, Phase.PROVISIONING)
    # tke-a at 2.0/h fills first (10 nodes = 20/h); ack-b at 3.0/h fits once more (23/h <= 25/h).
    assert scale_ups(decision) == {"tke-a": 10, "ack-b": 1}
    assert [a.code for a in of(decision, Alert)] == ["LimitReached"]
    assert "max hourly cost (25)" in of(decision, Alert)[0].reason
    assert not of(fleet.step(10), Alert)


def test_fleet_budget_caps_like_a_policy_limit() -> None:
    fleet = ToyFleet(wide(), demand=180, budget=FleetBudget(max_nodes=3))
    decision = until(fleet, Phase.PROVISIONING)
    assert scale_ups(decision) == {"tke-a": 3}
    assert [a.code for a in of(decision, Alert)] == ["LimitReached"]


def test_lowered_limit_takes_nodes_from_the_least_preferred_pool() -> None:
    fleet = ToyFleet(policy(), demand=180)
    until(fleet, Phase.PROVISIONING)
    assert fleet.targets() == {"tke-a": 10, "ack-b": 3}
    fleet.budget = FleetBudget(max_nodes=11)
    decision = fleet.step(10)
    assert decision.state.pool_targets == {"tke-a": 10, "ack-b": 1}


def test_a_summary_older_than_burstds_own_weight_write_does_not_grow_the_burst() -> None:
    """Right after a weight write the scheduler's placement has moved replicas off the base, but Karmada's
    summary of the base (refreshed every 10 s, once the pods moved) still counts them there. Read against
    the new placement it would show the base full of other workloads and grow the cloud; read against the
    placement it counted (kept in the state at the write), the room is unchanged."""
    fleet = ToyFleet(policy(), demand=180)
    for _ in range(200):
        write = fleet.step(10.0)
        if of(write, SetWeights):
            break
    else:
        pytest.fail("no weight write")
    at_write = fleet.history[-1][2]
    target, nodes = write.state.target_cloud_replicas, fleet.targets()
    assert write.state.replicas_in_summaries == {"idc-1": at_write.workloads[0].replicas_by_cluster["idc-1"]}
    # Karmada's summary of the base as published before the write: it counts the replicas still there.
    fleet.base_summary = replace(at_write.clusters["idc-1"], changed_at=fleet.now - 1)
    blind_targets = []
    for _ in range(3):
        prev = fleet.state
        d = fleet.step(10.0)
        assert d.state.target_cloud_replicas == target, d.reasons
        assert fleet.targets() == nodes
        assert not any(r.startswith("grow:") for r in d.reasons), d.reasons
        # The control: the same round read against the new placement finds the base full and grows.
        world = fleet.history[-1][2]
        assert world.workloads[0].replicas_by_cluster["idc-1"] < prev.replicas_in_summaries["idc-1"]
        blind = decide(world, fleet.policy, replace(prev, replicas_in_summaries={}), fleet.now)
        blind_targets.append(blind.state.target_cloud_replicas)
    assert min(blind_targets) > target, blind_targets
    # A summary newer than the write counts the replicas where the scheduler placed them now.
    fleet.base_summary = None
    d = fleet.step(10.0)
    assert d.state.target_cloud_replicas == target
    assert fleet.targets() == nodes


# --- holds: stale, missing, changed by someone else ---------------------------------------------


def test_stale_observations_only_hold() -> None:
    fleet = ToyFleet(policy(), demand=180)
    fleet.step(10)
    fleet.stale_for = 121.0  # signalMaxAge is 120 s
    for _ in range(10):
        decision = fleet.step(10)
        assert only_hold(decision)
        assert "signalMaxAge" in of(decision, Hold)[0].reason
        assert decision.state.phase == Phase.IDLE
        assert decision.state.holding_since == {}
        assert decision.wake_at is None


def test_stale_observations_mid_drain_do_not_scale_in() -> None:
    fleet = ToyFleet(policy(), demand=180)
    in_burst(fleet)
    fleet.demand = 40
    fleet.stale_for = 500.0
    before = (dict(fleet.weights), fleet.targets())
    for _ in range(200):
        assert only_hold(fleet.step(10))
    assert (fleet.weights, fleet.targets()) == before
    fleet.stale_for = 0.0
    assert fleet.step(10).state.holding_since.get("scaleIn.all[0]") == fleet.now, "the timer starts afresh"


@pytest.mark.parametrize("missing", ["workload", "pool", "cluster"])
def test_missing_observation_holds(missing: str) -> None:
    fleet = ToyFleet(policy(), demand=180)
    world = fleet.world()
    if missing == "workload":
        world = replace(world, workloads=())
    elif missing == "pool":
        world = replace(world, pools={k: v for k, v in world.pools.items() if k != "ack-b"})
    else:
        world = replace(world, clusters={})
    decision = decide(world, fleet.policy, BurstState(), fleet.now)
    assert only_hold(decision)
    assert "not observed yet" in of(decision, Hold)[0].reason
    assert decision.state.phase == Phase.IDLE
    assert decision.state.holding_since == {}


def test_weights_changed_externally_hold_with_one_alert() -> None:
    fleet = ToyFleet(policy(), demand=180)
    in_burst(fleet)
    written = dict(fleet.weights)
    fleet.weights = {"idc-1": 1}  # someone else took the cloud out
    decision = fleet.step(10)
    assert [type(a) for a in decision.actions] == [Alert, Hold]
    alert = of(decision, Alert)[0]
    assert (alert.code, alert.severity) == ("WeightsChangedExternally", Severity.WARNING)
    assert "shop/web" in alert.reason
    assert dict(decision.state.weights["shop/web"]) == written
    again = fleet.step(10)
    assert only_hold(again)
    assert "WeightsChangedExternally" in again.state.alerts
    fleet.weights = written  # restored: burstd resumes
    resumed = fleet.step(10)
    assert not any("changed externally" in r for r in resumed.reasons)
    assert "WeightsChangedExternally" not in resumed.state.alerts


# --- the drain back ------------------------------------------------------------------------------


def test_min_burst_duration_blocks_scale_in() -> None:
    fleet = ToyFleet(policy(drain={"stabilizationWindow": "1m"}), demand=180)
    until(fleet, Phase.PROVISIONING)
    started = fleet.state.burst_started_at
    assert started is not None
    until(fleet, Phase.SHIFTING)
    fleet.run(60)
    fleet.demand = 40
    target = fleet.state.target_cloud_replicas
    assert target == 104  # (180 - 100) x 1.3
    blocked: list[Decision] = []
    while fleet.now < started + 600.0 - 10.0:
        decision = fleet.step(10)
        assert decision.state.target_cloud_replicas == target
        assert decision.state.pool_targets == {"tke-a": 10, "ack-b": 3}
        assert not [a for a in of(decision, ScalePool) if a.nodes < a.previous]
        if any("minBurstDuration" in r for r in decision.reasons):
            blocked.append(decision)
    assert blocked, "scale-in held before minBurstDuration was over"
    assert all(d.wake_at == started + 600.0 for d in blocked)
    assert all(d.state.target_cloud_replicas > 0 for d in blocked)
    fleet.run(20)
    assert fleet.state.target_cloud_replicas == 0
    assert fleet.state.phase == Phase.DRAINING


def test_stabilization_window_keeps_the_burst_for_the_recent_peak() -> None:
    fleet = ToyFleet(policy(), demand=180)  # drain.stabilizationWindow defaults to 10m
    in_burst(fleet)
    fleet.run(300)  # minBurstDuration (10m) is over before the scale-in `for` (5m) can be
    started = fleet.state.burst_started_at
    assert started is not None
    fleet.demand = 40
    dropped = fleet.now
    kept: list[tuple[float, Decision]] = []
    while fleet.state.target_cloud_replicas > 0:
        decision = fleet.step(10)
        if fleet.now < dropped + 600.0:
            assert decision.state.target_cloud_replicas == 104, fleet.now - dropped
            assert not [a for a in of(decision, ScalePool) if a.nodes < a.previous]
        if any("peak of the last 600s" in r and "still needs 104" in r for r in decision.reasons):
            kept.append((fleet.now, decision))
        assert fleet.now <= dropped + 670.0, "the peak left the window a minute bucket ago at most"
    assert fleet.now >= dropped + 600.0
    assert fleet.now - started >= 600.0
    assert kept, "scale-in held, but the recent peak kept the burst"
    # The engine asks to be called back when the peak leaves the window: the end of the last minute
    # bucket that saw it, plus the window.
    peak_bucket_end = (dropped // 60.0 + 1) * 60.0
    assert all(d.wake_at == peak_bucket_end + 600.0 for _, d in kept), [d.wake_at for _, d in kept]
    assert kept[0][0] >= dropped + 300.0, "only once the scale-in condition held for its `for`"
    fleet.run(900)
    assert fleet.state.phase == Phase.IDLE
    assert fleet.cloud_nodes() == 0


def test_drain_steps_by_max_step_and_interval() -> None:
    fleet = ToyFleet(policy(), demand=180)
    in_burst(fleet)
    fleet.demand = 40
    shares: list[tuple[float, int]] = []
    for _ in range(150):
        decision = fleet.step(10)
        if of(decision, SetWeights):
            shares.append((fleet.now, fleet.cloud_share()))
    assert [s for _, s in shares][-1] == 0
    times = [t for t, _ in shares]
    assert all(b - a >= 60.0 for a, b in pairwise(times))
    steps = [a - b for (_, a), (_, b) in pairwise(shares)]
    assert all(0 < s <= 8 for s in steps), steps  # 20% of 40 replicas


def test_emptiest_machines_are_marked_first() -> None:
    # Scale-in while the demand is still above the base: below 99% of the base requested.
    scale_in = {"all": [{"signal": "base.cpu.requestedRatio", "below": 0.99, "for": "5m"}]}
    fleet = ToyFleet(wide(triggers={"scaleIn": scale_in}), demand=180)
    in_burst(fleet)
    names = [n.name for n in fleet.nodes["tke-a"]]
    assert len(names) == 13
    # Every machine has a different number of pods; the busiest must stay.
    for i, name in enumerate(names):
        fleet.pods[name] = (i * 7) % 13
    busiest = max(names, key=lambda n: fleet.pods[n])
    fleet.demand = 103  # 3 above the base's 100, x 1.3 -> 4 cloud replicas: one node
    for _ in range(300):
        decision = fleet.step(10)
        marks = of(decision, MarkMachines)
        if marks:
            break
    else:
        pytest.fail("no machine was marked")
    assert decision.state.pool_targets["tke-a"] == 1
    assert set(marks[0].machines) == set(names) - {busiest}
    pods = [fleet.pods[m] for m in marks[0].machines]
    assert pods == sorted(pods)
    assert [n.name for n in fleet.nodes["tke-a"]] == [busiest]


def test_pick_removals_prefers_not_ready_then_emptiest_then_newest() -> None:
    machines = (
        MachineInfo("busy", True, 9, 100.0),
        MachineInfo("idle-old", True, 0, 100.0),
        MachineInfo("idle-new", True, 0, 200.0),
        MachineInfo("booting", False, 0, 50.0),
        MachineInfo("gone", True, 0, 300.0, deleting=True),
        MachineInfo("light", True, 2, 300.0),
    )
    pool = PoolState("tke-a", 6, 4, 6, 0, T0, machines)
    assert pick_removals(pool, 4) == ("booting", "idle-new", "idle-old", "light")
    assert pick_removals(pool, 0) == ()
    assert pick_removals(pool, 99) == ("booting", "idle-new", "idle-old", "light", "busy")


# --- schedules, overflow, predictive -----------------------------------------------------------


def test_scheduled_window_prewarms_min_nodes_in_its_time_zone() -> None:
    window = {
        "name": "morning",
        "cron": "0 8 * * *",
        "duration": "2h",
        "timeZone": "Asia/Shanghai",
        "minNodes": 3,
    }
    p = policy(triggers={"schedules": [window]})
    shanghai = ZoneInfo("Asia/Shanghai")
    opens = datetime(2026, 3, 2, 8, 0, tzinfo=shanghai).timestamp()
    fleet = ToyFleet(p, demand=50, now=opens - 60.0)
    before = fleet.step(30)
    assert before.state.phase == Phase.IDLE
    assert only_hold(before)
    assert before.wake_at == opens
    fleet.now = opens - 10.0
    at = fleet.step(10)
    assert at.state.phase == Phase.PROVISIONING
    assert scale_ups(at) == {"tke-a": 3}
    assert any("schedule morning" in r for r in at.reasons)
    fleet.run(7200.0 - 60.0, tick=60.0)
    assert fleet.targets() == {"tke-a": 3, "ack-b": 0}
    assert fleet.history[-1][1].wake_at == opens + 7200.0  # the window's end
    assert fleet.state.phase == Phase.BURSTING
    fleet.run(300.0)
    # The base held the 50 replicas all along: the pre-warmed nodes stood by, no weight was written, so
    # there is nothing to drain back.
    assert fleet.phases()[-3:] == [Phase.BURSTING, Phase.RELEASING, Phase.IDLE]
    assert not [a for _, d, _ in fleet.history for a in d.actions if isinstance(a, SetWeights)]
    assert fleet.cloud_nodes() == 0
    assert fleet.cloud_share() == 0


def test_scheduled_window_ignores_the_same_hour_in_utc() -> None:
    window = {
        "name": "morning",
        "cron": "0 8 * * *",
        "duration": "2h",
        "timeZone": "Asia/Shanghai",
        "minNodes": 3,
    }
    fleet = ToyFleet(policy(triggers={"schedules": [window]}), demand=97)
    fleet.now = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("UTC")).timestamp() - 10.0  # 16:00 in Shanghai
    decision = fleet.step(10)
    assert decision.state.phase == Phase.IDLE
    assert only_hold(decision)
    assert decision.wake_at == datetime(2026, 3, 3, 0, 0, tzinfo=ZoneInfo("UTC")).timestamp()


def test_overflow_mode_rebalances_instead_of_setting_weights() -> None:
    fleet = ToyFleet(policy(shift={"mode": "overflow"}), demand=180)
    until(fleet, Phase.BURSTING)
    assert fleet.assignment() == {"idc-1": 100, "ack": 24, "tke": 56}
    fleet.base_replicas = 200  # the base has room again; Karmada does not move replicas back by itself
    first: Decision | None = None
    for _ in range(200):
        decision = fleet.step(10)
        if of(decision, Rebalance):
            first = decision
            break
    assert first is not None
    assert first.state.phase == Phase.DRAINING
    assert of(first, Rebalance)[0].workloads == ("shop/web",)
    assert not [a for a in of(first, ScalePool) if a.nodes < fleet.ready(a.pool)], "Ready nodes kept"
    fleet.run(60)
    assert fleet.state.phase == Phase.IDLE
    assert fleet.cloud_nodes() == 0
    assert fleet.rebalances == 1
    assert not [a for _, d, _ in fleet.history for a in d.actions if isinstance(a, SetWeights)]


def test_overflow_mode_repeats_rebalance_only_after_the_drain_interval() -> None:
    fleet = ToyFleet(policy(shift={"mode": "overflow"}), demand=180)
    until(fleet, Phase.BURSTING)
    fleet.base_replicas = 200
    world_before = None
    for _ in range(200):
        world_before = fleet.world()
        decision = decide(world_before, fleet.policy, fleet.state, fleet.now + 10)
        fleet.now += 10
        fleet.state = decision.state
        if of(decision, Rebalance):
            break
    # Karmada has not moved anything yet: the engine waits one drain interval before asking again.
    asked = fleet.now
    assert fleet.state.rebalance_requested_at == asked
    assert world_before is not None
    repeat = decide(world_before, fleet.policy, fleet.state, asked + 30.0)
    assert not of(repeat, Rebalance)
    assert repeat.wake_at == asked + 60.0
    again = decide(world_before, fleet.policy, repeat.state, asked + 60.0)
    assert len(of(again, Rebalance)) == 1


def _first_scale_out(predictive: bool) -> Decision:
    fleet = ToyFleet(wide(predictive={"enabled": predictive}), demand=60)
    while True:
        if int(fleet.now) % 30 == 0:
            fleet.demand += 1  # +2 replicas a minute
        decision = fleet.step(10)
        if decision.state.phase != Phase.IDLE:
            assert fleet.demand == 102
            return decision


def test_predictive_mode_sizes_ahead_on_a_rising_ramp() -> None:
    reactive = _first_scale_out(False)
    ahead = _first_scale_out(True)
    assert reactive.state.target_cloud_replicas == math.ceil((102 - 100) * 1.3 - 1e-9) == 3
    # +2 a minute for the 3-minute horizon: 108 replicas expected.
    assert ahead.state.target_cloud_replicas == math.ceil((108 - 100) * 1.3 - 1e-9) == 11
    assert scale_ups(reactive) == {"tke-a": 1}
    assert scale_ups(ahead) == {"tke-a": 2}
    assert any("108 expected" in r for r in ahead.reasons)


def test_predictive_mode_does_not_size_ahead_on_flat_demand() -> None:
    fleet = ToyFleet(wide(predictive={"enabled": True}), demand=120)
    decision = until(fleet, Phase.PROVISIONING)
    assert decision.state.target_cloud_replicas == 26  # (120 - 100) x 1.3: nothing added for a trend


# --- the persisted state -----------------------------------------------------------------------


def full_state() -> BurstState:
    return BurstState(
        phase=Phase.BURSTING,
        phase_since=T0 + 1.5,
        burst_started_at=T0,
        holding_since={"scaleOut.any[0]": T0 - 30.0},
        pool_targets={"tke-a": 10, "ack-b": 3},
        shifted={"shop/web": 90},
        weights={"shop/web": {"idc-1": 30, "tke": 23, "ack": 7}},
        alerts=("LimitReached",),
        target_cloud_replicas=98,
        last_shift_at=T0 + 210.0,
        last_shift_direction=1,
        provisioning_since={"tke-a": 1_700_000_100.0},
        backoff_until={"ack-b": T0 + 600.0},
        rebalance_requested_at=T0 + 5.0,
        bursts=4,
        ledger=Ledger({"tke-a": 3600.0, "ack-b": 120.5}, 2.1, T0 + 300.0),
        history=History(60.0, T0 - 120.0, (50.0, 51.0, 180.0)),
    )


def test_state_round_trips_through_json() -> None:
    state = full_state()
    data = json.loads(json.dumps(state.to_dict()))
    assert BurstState.from_dict(data) == state
    assert BurstState.from_dict(BurstState().to_dict()) == BurstState()


def test_state_from_dict_reports_a_missing_field() -> None:
    data = full_state().to_dict()
    del data["phaseSince"]
    with pytest.raises(ValueError, match="missing field 'phaseSince'"):
        BurstState.from_dict(data)


def test_state_from_dict_reports_a_bad_phase() -> None:
    data = {**full_state().to_dict(), "phase": "Sleeping"}
    with pytest.raises(ValueError, match="Sleeping"):
        BurstState.from_dict(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phaseSince", "soon"),
        ("poolTargets", {"tke-a": "ten"}),
        ("weights", {"shop/web": 3}),
        ("ledger", []),
        ("lastShiftAt", "later"),
    ],
)
def test_state_from_dict_names_the_malformed_field(field: str, value: object) -> None:
    data = {**full_state().to_dict(), field: value}
    with pytest.raises(ValueError, match=field):
        BurstState.from_dict(data)


# --- fleet budgets -----------------------------------------------------------------------------


def fleet_limits(nodes: int | None, cost: float | None = None) -> FleetLimits:
    spec: dict[str, Any] = {}
    if nodes is not None:
        spec["maxCloudNodes"] = nodes
    if cost is not None:
        spec["maxHourlyCost"] = {"amount": cost}
    doc = parse_document(
        {
            "apiVersion": "burstd.io/v1alpha1",
            "kind": "FleetLimits",
            "metadata": {"name": "fleet"},
            "spec": spec,
        }
    )
    assert isinstance(doc, FleetLimits)
    return doc


def test_budgets_serve_higher_priority_first() -> None:
    usage = [
        Usage("checkout", 10, nodes=5, hourly_cost=10.0, wanted_nodes=20, wanted_hourly_cost=40.0),
        Usage("search", 0, nodes=3, hourly_cost=6.0, wanted_nodes=10, wanted_hourly_cost=20.0),
    ]
    out = budgets(fleet_limits(30, 100.0), usage)
    # checkout may use all but what search runs; search must also leave checkout's wish alone.
    assert out["checkout"] == FleetBudget(27, 94.0)
    assert out["search"] == FleetBudget(30 - 5 - 20, 100.0 - 10.0 - 40.0)


def test_budgets_never_negative_and_never_take_running_nodes() -> None:
    usage = [
        Usage("high", 5, nodes=8, hourly_cost=0.0, wanted_nodes=30),
        Usage("low", 1, nodes=6, hourly_cost=0.0),
    ]
    out = budgets(fleet_limits(20), usage)
    assert out["high"] == FleetBudget(14, None)
    assert out["low"] == FleetBudget(0, None)


def test_budgets_equal_priority_do_not_reserve_for_each_other() -> None:
    usage = [Usage("a", 1, 2, 0.0, wanted_nodes=50), Usage("b", 1, 3, 0.0, wanted_nodes=50)]
    assert budgets(fleet_limits(20), usage) == {"a": FleetBudget(17, None), "b": FleetBudget(18, None)}


def test_budgets_without_fleet_limits_are_unlimited() -> None:
    usage = [Usage("a", 1, 200, 1e6)]
    assert budgets(None, usage) == {"a": FleetBudget()}
