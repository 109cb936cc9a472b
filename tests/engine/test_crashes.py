"""A process killed at any write boundary of a burst, then restarted: the engine reconciles from what the
pools and weights show, not from the state it last saved, and every burst still ends with no cloud node.

Each test builds the cluster as it is after the crash (the toy fleet with the crashed round's first actions
applied) and the state as last saved (or an older one, or none), then lets demand fall back to the base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from burstd.model.actions import Hold, MarkMachines, ScalePool, SetWeights
from burstd.model.decision import Decision
from burstd.model.state import BurstState, Phase

from .test_invariants import (
    Segment,
    Setup,
    check_back_on_base,
    check_limits,
    check_stale,
    check_weights,
    make_policy,
    scenarios,
    setups,
    tail,
)
from .toyfleet import DETERMINISTIC, ToyFleet, policy, wide

CLOUD = {"tke", "ack"}
TICK = 10.0
Schedule = tuple[tuple[int, float], ...]
#: a burst and back: demand at the base, 150 replicas (9 cloud nodes in tke-a), then 40 again
BURST: Schedule = ((60, 60.0), (150, 600.0), (40, 1500.0))
#: with the toy policy's two pools: 180 replicas (10 + 3 nodes), grows to 220 (10 + 10), then 40 again
GROWING: Schedule = ((60, 60.0), (180, 600.0), (220, 300.0), (40, 1800.0))
LOW = 40
TAIL = 3600.0  # minBurstDuration, the scale-in `for`, the stabilization window and every drain step


def ups(fleet: ToyFleet, since: int = 0) -> list[ScalePool]:
    """Scale-ups that asked a pool for more nodes than it was observed to hold."""
    return [
        a
        for _, decision, world in fleet.history[since:]
        for a in decision.actions
        if isinstance(a, ScalePool) and a.nodes > world.pools[a.pool].desired
    ]


def released(fleet: ToyFleet) -> None:
    assert fleet.cloud_nodes() == 0, fleet.targets()
    assert fleet.state.phase == Phase.IDLE, fleet.phases()
    assert not CLOUD & set(fleet.weights), fleet.weights
    assert fleet.assignment() == {"idc-1": fleet.demand}
    assert fleet.state.target_cloud_replicas == 0


def weights_within_ready(fleet: ToyFleet) -> None:
    for _, decision, world in fleet.history:
        check_weights(decision, world)


def writes(decision: Decision) -> int:
    """How many of the decision's actions are writes (all but Hold)."""
    return sum(1 for a in decision.actions if not isinstance(a, Hold))


@dataclass
class Crash:
    """Where the process died: in the ``round``-th round of the burst, after its first ``applied``
    actions; ``saved`` holds the state as saved before each round."""

    round: int
    applied: int
    saved: list[BurstState]


def crash_in(fleet: ToyFleet, at: Callable[[int, Decision], int | None], schedule: Schedule = BURST) -> Crash:
    """Play the burst until ``at(round, decision)`` names how many actions reached the cluster before the
    process died in that round; apply those, keep the last saved state, set demand back to the base."""
    saved: list[BurstState] = []
    index = 0
    for demand, seconds in schedule:
        fleet.demand = demand
        end = fleet.now + seconds
        while fleet.now < end:
            saved.append(fleet.state)
            decision = fleet.decide(TICK)
            applied = at(index, decision)
            if applied is not None:
                fleet.crash(decision, applied)
                fleet.demand = LOW  # demand falls before the restart
                return Crash(index, applied, saved)
            fleet.state = decision.state
            for action in decision.actions:
                fleet.apply(action)
            index += 1
    raise AssertionError("the crash point was never reached")


def at_point(point: tuple[int, int]) -> Callable[[int, Decision], int | None]:
    """Crash in round ``point[0]`` after ``point[1]`` actions."""
    return lambda index, _: point[1] if index == point[0] else None


def after(kind: type) -> Callable[[int, Decision], int | None]:
    """Crash right after the first action of type ``kind``."""

    def at(_: int, decision: Decision) -> int | None:
        for i, action in enumerate(decision.actions):
            if isinstance(action, kind):
                return i + 1
        return None

    return at


def restart_and_finish(fleet: ToyFleet, state: BurstState | None = None) -> int:
    """Restart with ``state`` (the last saved one by default), run until the burst is over."""
    if state is not None:
        fleet.state = state
    restart = len(fleet.history)
    fleet.run(TAIL)
    released(fleet)
    weights_within_ready(fleet)
    assert ups(fleet, restart) == [], "a scale-up after the restart, with demand at the base"
    return restart


# --- one test per crash point of a burst --------------------------------------------------------------


def test_crash_after_scale_up_before_save_then_demand_falls() -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash = crash_in(fleet, after(ScalePool))
    assert fleet.targets() == {"tke-a": 9, "ack-b": 0}
    assert fleet.state is crash.saved[-1]
    assert fleet.state.phase == Phase.IDLE
    assert fleet.state.pool_targets == {"tke-a": 0, "ack-b": 0}
    restart = restart_and_finish(fleet)
    first = fleet.history[restart][1]
    assert first.state.phase == Phase.RELEASING
    assert [(a.pool, a.previous, a.nodes) for a in first.actions if isinstance(a, ScalePool)] == [
        ("tke-a", 9, 0)
    ]


def test_crash_after_scale_up_before_save_demand_still_high_asks_for_no_node_twice() -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash_in(fleet, after(ScalePool))
    fleet.demand = 150
    fleet.run(600)
    assert fleet.state.phase == Phase.BURSTING
    assert fleet.targets() == {"tke-a": 9, "ack-b": 0}
    assert len(ups(fleet)) == 1
    assert fleet.state.bursts == 1
    fleet.demand = LOW
    restart_and_finish(fleet)


def test_crash_after_weights_before_save() -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash_in(fleet, after(SetWeights))
    assert fleet.cloud_share() > 0
    assert not CLOUD & set(fleet.state.weights.get("shop/web", {}))  # saved before the first write
    restart = restart_and_finish(fleet)
    # the weights burstd wrote are taken as its own: no hold, and the next move waits its interval
    first_at, first, _ = fleet.history[restart]
    assert not any("changed externally" in r for r in first.reasons)
    assert first.state.last_shift_at == first_at
    assert not any(isinstance(a, SetWeights) for a in first.actions)


def test_crash_after_marking_machines_before_the_scale_down() -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash_in(fleet, after(MarkMachines))
    assert fleet.targets() == {"tke-a": 9, "ack-b": 0}
    assert fleet.marked["tke-a"]
    assert fleet.state.pool_targets["tke-a"] > 0
    restart = restart_and_finish(fleet)
    down = [a for _, d, _ in fleet.history[restart:] for a in d.actions if isinstance(a, ScalePool)]
    assert [(a.previous, a.nodes) for a in down] == [(9, 0)]


def test_crash_after_the_scale_down_before_save() -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash = crash_in(fleet, _scale_down)
    assert fleet.cloud_nodes() == 0
    assert crash.saved[-1].pool_targets["tke-a"] == 9
    restart = restart_and_finish(fleet)
    assert not [a for _, d, _ in fleet.history[restart:] for a in d.actions if isinstance(a, ScalePool)]


def _scale_down(_: int, decision: Decision) -> int | None:
    for i, action in enumerate(decision.actions):
        if isinstance(action, ScalePool) and action.nodes < action.previous:
            return i + 1
    return None


@pytest.mark.parametrize("phase", [Phase.PROVISIONING, Phase.SHIFTING, Phase.BURSTING, Phase.DRAINING])
def test_state_lost_entirely(phase: Phase) -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash_in(fleet, lambda _, d: 0 if d.state.phase == phase and fleet.cloud_nodes() == 9 else None)
    restart_and_finish(fleet, BurstState())
    assert len(ups(fleet)) == 1


def test_state_lost_entirely_with_demand_still_high_keeps_the_burst() -> None:
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash_in(fleet, lambda _, d: 0 if d.state.phase == Phase.BURSTING else None)
    fleet.state = BurstState()
    fleet.demand = 150
    fleet.run(600)
    assert fleet.state.phase == Phase.BURSTING
    assert fleet.targets() == {"tke-a": 9, "ack-b": 0}
    assert len(ups(fleet)) == 1
    fleet.demand = LOW
    restart_and_finish(fleet)


def test_stale_state_from_before_the_burst() -> None:
    """The saves of the whole burst were lost: the state says Idle, the pools and weights say Bursting."""
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash = crash_in(fleet, lambda _, d: 0 if d.state.phase == Phase.BURSTING else None)
    assert fleet.cloud_share() > 0
    restart_and_finish(fleet, crash.saved[0])


def test_stale_state_from_mid_burst_after_the_nodes_are_gone() -> None:
    """A state saved while provisioning (target 65 replicas, 9 nodes) read back after the burst ended:
    demand is at the base and no node exists. burstd asks for none."""
    fleet = ToyFleet(wide(), demand=60, own_weights=True)
    crash = crash_in(fleet, lambda i, d: 0 if i > 100 and d.state.phase == Phase.IDLE else None)
    assert fleet.cloud_nodes() == 0
    provisioning = next(s for s in crash.saved if s.phase == Phase.PROVISIONING)
    assert provisioning.target_cloud_replicas == 65
    restart_and_finish(fleet, provisioning)


# --- every crash point, found by running the burst --------------------------------------------------


def crash_points() -> list[tuple[int, int]]:
    """(round, actions applied before the crash) for every write of the growing burst, and the boundary
    before each round's first write."""
    fleet = ToyFleet(policy(), demand=60, own_weights=True)
    points: list[tuple[int, int]] = []
    index = 0
    for demand, seconds in GROWING:
        fleet.demand = demand
        end = fleet.now + seconds
        while fleet.now < end:
            decision = fleet.step(TICK)
            if writes(decision):
                points += [(index, k) for k in range(writes(decision) + 1)]
            index += 1
    assert fleet.cloud_nodes() == 0
    return points


POINTS = crash_points()


def test_the_burst_has_enough_crash_points() -> None:
    assert len(POINTS) >= 20
    assert len({r for r, _ in POINTS}) >= 8


@pytest.mark.parametrize("lost", [False, True], ids=["saved", "lost"])
def test_every_crash_point_converges(lost: bool) -> None:
    for point in POINTS:
        fleet = ToyFleet(policy(), demand=60, own_weights=True)
        crash_in(fleet, at_point(point), GROWING)
        try:
            restart_and_finish(fleet, BurstState() if lost else None)
        except AssertionError as exc:
            raise AssertionError(f"crash point {point} (state {'lost' if lost else 'saved'}): {exc}") from exc


@settings(DETERMINISTIC, max_examples=40)
@given(point=st.sampled_from(POINTS), older=st.integers(min_value=0, max_value=10_000), high=st.booleans())
def test_any_older_state_converges(point: tuple[int, int], older: int, high: bool) -> None:
    """Restart from any state saved before the crash (a save lost, a stale copy read back)."""
    fleet = ToyFleet(policy(), demand=60, own_weights=True)
    crash = crash_in(fleet, at_point(point), GROWING)
    fleet.state = crash.saved[older % len(crash.saved)]
    if high:  # demand comes back before it falls: every node launched from now on is one that stays
        nodes, launched = fleet.cloud_nodes(), fleet.serial
        fleet.demand = 220  # 120 above the base, x 1.3: 156 cloud replicas on 10 + 10 nodes
        fleet.run(900)
        assert fleet.targets() == {"tke-a": 10, "ack-b": 10}
        assert fleet.serial - launched == 20 - nodes
        fleet.demand = LOW
    restart_and_finish(fleet)


# --- crashes anywhere in random scenarios (stock-outs, stale data, limits, overflow mode) ------------


@dataclass(frozen=True)
class Kill:
    """Crash in round ``at`` of the scenario (modulo its rounds), after ``applied`` of that round's writes
    (modulo their number plus one), and restart from the last save, from none, or from the save ``older``
    rounds before."""

    at: int
    applied: int
    restart: str
    older: int


kills = st.builds(
    Kill,
    at=st.integers(min_value=0, max_value=10_000),
    applied=st.integers(min_value=0, max_value=6),
    restart=st.sampled_from(["saved", "saved", "lost", "older"]),
    older=st.integers(min_value=1, max_value=60),
)


#: every random scenario starts with a burst, so there is always a write to crash after
OPENING = Segment(steps=30, tick=10.0, demand=180, delay=90.0, stock_out=frozenset(), stale_for=0.0)


def play(fleet: ToyFleet, scenario: list[Segment], kill: Kill | None = None) -> list[int]:
    """Play the scenario; with ``kill``, the process is killed once as it says and the scenario ends
    there. Returns the rounds that wrote something, or ``[round, writes applied]`` of the crash."""
    saved: list[BurstState] = []
    written: list[int] = []
    at = -1
    if kill is not None:
        rounds = play(ToyFleet(fleet.policy, demand=fleet.demand), scenario)
        at = rounds[kill.at % len(rounds)]
    for segment in scenario:
        fleet.demand = segment.demand
        fleet.delay = segment.delay
        fleet.stale_for = segment.stale_for
        for pool in ("tke-a", "ack-b"):
            if pool in segment.stock_out:
                fleet.run_out_of_stock(pool)
            else:
                fleet.stock_out.discard(pool)
        for _ in range(segment.steps):
            saved.append(fleet.state)
            decision = fleet.decide(segment.tick)
            if kill is not None and len(saved) - 1 == at:
                applied = kill.applied % (writes(decision) + 1)
                fleet.crash(decision, applied)
                if kill.restart == "lost":
                    fleet.state = BurstState()
                elif kill.restart == "older":
                    fleet.state = saved[max(0, len(saved) - kill.older)]
                return [at, applied]
            if writes(decision):
                written.append(len(saved) - 1)
            fleet.state = decision.state
            for action in decision.actions:
                fleet.apply(action)
    assert kill is None, "the crash round was never reached"
    return written


@settings(DETERMINISTIC, max_examples=150)
@given(setup=setups, scenario=scenarios, kill=kills, low=st.integers(min_value=1, max_value=89))
def test_a_crash_anywhere_still_ends_every_burst(
    setup: Setup, scenario: list[Segment], kill: Kill, low: int
) -> None:
    fleet = ToyFleet(make_policy(setup), demand=60, own_weights=True)
    _, applied = play(fleet, [OPENING, *scenario], kill)
    event(f"killed after {min(applied, 2)}{'+' if applied > 2 else ''} writes, restarted from {kill.restart}")
    if fleet.cloud_nodes():
        event("killed with cloud nodes up")
    fleet.demand = low
    fleet.delay = 180.0
    fleet.stale_for = 0.0
    fleet.stock_out.clear()
    fleet.run(tail(fleet.policy, low) + 1800.0, tick=30.0)
    for now, decision, world in fleet.history:
        check_limits(fleet.policy, decision)
        check_weights(decision, world)
        check_stale(fleet.policy, decision, world, now)
    check_back_on_base(fleet, low)
