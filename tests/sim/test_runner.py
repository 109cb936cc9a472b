"""The burstd run: event-driven calls (only when an input changed or at wake_at), applying plans, Karmada
static division, status lag, billing.

These use throw-away deciders (tests.sim.scenarios) so the simulator is tested on its own."""

from __future__ import annotations

import pytest

from burstd.model.actions import Hold, MarkMachines, Rebalance, ScalePool
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.runner import LEGACY_TICK_S, BurstdRun, EngineFailed, run_burstd

from .scenarios import Scripted, fleet_doc, follow_demand, make_policy, scenario

STEP = [(0.0, 5.0), (600.0, 24.0), (4200.0, 5.0)]


def test_scripted_node_is_billed_from_launch_to_deletion() -> None:
    s = scenario([(0.0, 5.0)], 1200)
    decider = Scripted(s.epoch, [(0.0, "cloud-a", 1), (600.0, "cloud-a", 0)])
    r = run_burstd(s, decider)
    assert r.node_seconds == 630.0
    assert r.cost == pytest.approx(0.63)
    assert r.actions == 2
    assert r.peak_cloud_nodes == 1
    assert r.bursts == 1
    # called at the start, when the node is Ready (180 s), at the planned time and when it is gone (630 s):
    # only when an input changed or at wake_at (the quotes refreshed at 60 s and 660 s show one instance
    # more and one less, but the pool has no quota: nothing to act on)
    assert decider.calls == [0.0, 180.0, 600.0, 630.0]


def test_a_quote_that_shows_less_quota_is_an_input_change() -> None:
    fleet = fleet_doc(pools={"cloud-a": {"quota": 5}})
    s = scenario([(0.0, 5.0)], 1200, fleet=fleet)
    decider = Scripted(s.epoch, [(0.0, "cloud-a", 1), (600.0, "cloud-a", 0)])
    run_burstd(s, decider)
    # quotes are refreshed on a grid of quoteTTL (60 s) after the cloud changed: the one of 60 s shows the
    # launch, the one of 660 s the instance gone at 630 s
    assert decider.calls == [0.0, 60.0, 180.0, 600.0, 630.0, 660.0]
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    assert [at[t].pools["cloud-a"].quota_headroom for t in (0.0, 60.0, 630.0, 660.0)] == [5, 4, 4, 5]


def test_the_legacy_tick_calls_at_least_every_minute_and_changes_nothing() -> None:
    s = scenario([(0.0, 5.0)], 1200)
    decider = Scripted(s.epoch, [(0.0, "cloud-a", 1), (600.0, "cloud-a", 0)])
    r = run_burstd(s, decider, tick=LEGACY_TICK_S)
    gaps = [b - a for a, b in zip(decider.calls, decider.calls[1:], strict=False)]
    assert max(gaps) <= LEGACY_TICK_S
    assert {0.0, 180.0, 600.0, 630.0} < set(decider.calls)
    assert decider.calls == sorted(set(decider.calls))
    assert (r.node_seconds, r.actions, r.details["decide_calls"]) == (630.0, 2, len(decider.calls))


@pytest.mark.parametrize("tick", [0.0, -1.0, float("nan")])
def test_the_tick_must_be_positive(tick: float) -> None:
    with pytest.raises(ValueError, match="tick must be a positive number of seconds"):
        BurstdRun(scenario([(0.0, 5.0)], 600), follow_demand, tick=tick)


def test_samples_that_keep_the_replicas_are_no_input_change() -> None:
    # the trace has a sample every minute; the replicas change at 600 s only (and nodes are never asked for)
    s = scenario([(0.0, 5.0), (600.0, 8.0)], 1200)
    decider = Scripted(s.epoch, [])
    r = run_burstd(s, decider)
    assert decider.calls == [0.0, 600.0]
    assert r.details["decide_calls"] == 2


def test_wake_at_is_honoured() -> None:
    s = scenario([(0.0, 5.0)], 300)
    decider = Scripted(s.epoch, [(17.5, "cloud-a", 0)])
    run_burstd(s, decider)
    assert decider.calls[:2] == [0.0, 17.5]


def test_static_weights_follow_ready_capacity() -> None:
    s = scenario(STEP, 6000)
    r = run_burstd(s, follow_demand)
    # 14 replicas pending on the base until the nodes are Ready at 780 s and the weights move them; at
    # 4200 s the nodes go at once but the weights still send 3 of 5 replicas to the cloud until 4230 s
    assert r.unserved_replica_seconds == 14 * 180 + 3 * 30
    assert r.replica_moves == 14 + 3
    assert r.node_seconds == 2 * (4230 - 600)
    assert r.details["actions_by_kind"] == {"ScalePool": 2, "SetWeights": 3}  # also idc-1: 1 -> 10 at 0 s


def test_world_snapshot() -> None:
    s = scenario(STEP, 6000)
    decider = Scripted(s.epoch, [(600.0, "cloud-a", 2)])
    run_burstd(s, decider)
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    w = at[600.0]
    workload = w.workloads[0]
    assert workload.key == "shop/web"
    assert workload.desired_replicas == 24
    assert workload.replicas_by_cluster == {"idc-1": 24}
    assert workload.ready_by_cluster == {"idc-1": 10}
    assert workload.weights == {"idc-1": 1}
    base = w.clusters["idc-1"]
    assert base.allocatable.cpu == 10.0
    assert base.allocated.cpu == 10.0
    assert base.allocating.cpu == 14.0
    assert base.observed_at == s.epoch + 600.0
    later = at[780.0]
    pool = later.pools["cloud-a"]
    assert (pool.desired, pool.ready, pool.existing, pool.failed) == (2, 2, 2, 0)
    assert [m.ready for m in pool.machines] == [True, True]
    assert [m.created_at for m in pool.machines] == [s.epoch + 600.0] * 2
    assert later.clusters["cloud-a"].allocatable.cpu == pytest.approx(15.2)
    assert not pool.stock_out
    assert w.signals == {}


def test_cluster_status_lags_by_the_refresh_period() -> None:
    s = scenario(STEP, 1200, fleet=fleet_doc(statusRefresh="10s"))
    decider = Scripted(s.epoch, [])
    run_burstd(s, decider)
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    # at 600 s the FederatedHPA already wants 24, but the cluster status still shows 5 replicas
    assert at[600.0].workloads[0].desired_replicas == 24
    assert at[600.0].clusters["idc-1"].allocated.cpu == 5.0
    assert at[600.0].clusters["idc-1"].allocating.cpu == 0.0
    # the next refresh (610 s) publishes it, and the engine is called then
    assert at[610.0].clusters["idc-1"].allocated.cpu == 10.0
    assert at[610.0].clusters["idc-1"].allocating.cpu == 14.0
    assert at[610.0].clusters["idc-1"].observed_at == s.epoch + 610.0
    # refreshes that publish nothing new call nothing: a newer observed_at alone is no input change
    assert decider.calls == [0.0, 600.0, 610.0]


def test_a_signal_max_age_below_the_status_refresh_calls_in_each_stale_part() -> None:
    # signalMaxAge 20s, status refreshed every 60s: the published status is stale from 20 s after each
    # refresh to the next one; the engine is called in the middle of that part and at each refresh
    policy = make_policy(safety={"signalMaxAge": "20s"})
    s = scenario([(0.0, 5.0)], 300, policy=policy, fleet=fleet_doc(statusRefresh="1m"))
    decider = Scripted(s.epoch, [])
    run_burstd(s, decider)
    assert decider.calls == [0.0, 40.0, 60.0, 100.0, 120.0, 160.0, 180.0, 220.0, 240.0, 280.0]
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    assert s.epoch + 40.0 - at[40.0].clusters["idc-1"].observed_at > 20.0  # stale then
    assert s.epoch + 60.0 - at[60.0].clusters["idc-1"].observed_at == 0.0


def test_overflow_mode_places_by_room_and_scales_down_from_the_cloud() -> None:
    policy = make_policy(shift={"mode": "overflow"})
    s = scenario([(0.0, 5.0), (600.0, 24.0), (1800.0, 12.0)], 3600, policy=policy)
    seen: dict[float, World] = {}

    def decider(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
        t = now - s.epoch
        seen[t] = world
        wake = next((s.epoch + at for at in (2340.0, 2400.0, 2460.0) if at > t), None)
        if t == 0.0:
            return Decision(state, (ScalePool("cloud-a", 2, 0, "pre-warm"),), (), wake)
        if t == 2400.0:
            return Decision(state, (Rebalance(("shop/web",), "back to base"),), (), wake)
        return Decision(state, (Hold("-"),), (), wake)

    r = run_burstd(s, decider)
    assert seen[600.0].workloads[0].replicas_by_cluster == {"idc-1": 10, "cloud-a": 14}
    assert seen[600.0].workloads[0].unschedulable_replicas == 0
    # scale-down empties the cloud first (the base keeps its 10; not 5 + 7 in proportion); the rebalance
    # finds the base full and moves nothing
    assert seen[1800.0].workloads[0].replicas_by_cluster == {"idc-1": 10, "cloud-a": 2}
    assert seen[2340.0].workloads[0].replicas_by_cluster == {"idc-1": 10, "cloud-a": 2}
    assert seen[2460.0].workloads[0].replicas_by_cluster == {"idc-1": 10, "cloud-a": 2}
    assert r.replica_moves == 0
    assert r.unserved_replica_seconds == 0
    assert r.details["actions_by_kind"] == {"Rebalance": 1, "ScalePool": 1}


def test_overflow_unschedulable_until_nodes_are_ready() -> None:
    policy = make_policy(shift={"mode": "overflow"})
    s = scenario(STEP, 1200, policy=policy)
    decider = Scripted(s.epoch, [(600.0, "cloud-a", 2)])
    r = run_burstd(s, decider)
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    # all or nothing: 24 do not fit before the nodes are Ready, so the binding keeps its 5 on the base (the
    # base's 5 more free replicas are not used either) and 19 are unschedulable
    assert at[600.0].workloads[0].replicas_by_cluster == {"idc-1": 5}
    assert at[600.0].workloads[0].unschedulable_replicas == 19
    assert at[780.0].workloads[0].unschedulable_replicas == 0
    assert at[780.0].workloads[0].replicas_by_cluster == {"idc-1": 10, "cloud-a": 14}
    assert r.unserved_replica_seconds == 19 * 180


def test_marked_machines_go_first() -> None:
    s = scenario([(0.0, 5.0)], 1200)
    seen: list[World] = []

    def decider(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
        t = now - s.epoch
        seen.append(world)
        wake = s.epoch + 300 if t < 300 else None  # each decision says when it wants to be called
        if t == 0.0:
            return Decision(state, (ScalePool("cloud-a", 3, 0, "up"),), (), wake)
        if t == 300.0:
            first = world.pools["cloud-a"].machines[0].name
            return Decision(
                state, (MarkMachines("cloud-a", (first,), "x"), ScalePool("cloud-a", 2, 3, "down")), (), None
            )
        return Decision(state, (Hold("-"),), (), wake)

    run_burstd(s, decider)
    names = [m.name for m in seen[-1].pools["cloud-a"].machines]
    assert names == ["cloud-a-00002", "cloud-a-00003"]


def test_engine_errors_say_when() -> None:
    s = scenario([(0.0, 5.0)], 600)

    def broken(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
        if now - s.epoch >= 120:
            raise KeyError("boom")
        return Decision(state, (Hold("-"),), (), s.epoch + 120)

    with pytest.raises(EngineFailed, match=r"at 2026-01-05T00:02:00Z \(t=120s into the trace\): KeyError"):
        run_burstd(s, broken)
