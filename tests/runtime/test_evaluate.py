"""PolicyRunner.evaluate: snapshot -> decide -> act -> save, with a fake actuator and state store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest

from burstd.engine import decide
from burstd.model.actions import Alert, Hold, ScalePool, SetWeights
from burstd.model.decision import Decision
from burstd.model.state import BurstState, Phase
from burstd.model.world import FleetBudget
from burstd.runtime.actuate_base import Outcome
from burstd.runtime.evaluate import Evaluation, PolicyRunner
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot
from burstd.runtime.store import StateConflict, Stored

from .fakes import BASE, MD_KEY, POOL, T0, WORKLOAD, FakeActuator, FakeStore, policy, snapshot

NAME = "web-burst"
PAUSED = f"MachineDeployment {MD_KEY} is paused (spec.paused: true); burstd does not scale it"


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def evaluate(
    runner: PolicyRunner,
    actuator: FakeActuator,
    store: FakeStore,
    metrics: Metrics,
    snap: Snapshot,
    *,
    now: float = T0 + 1,
) -> Evaluation:
    return asyncio.run(runner.evaluate(snap, {}, FleetBudget(), now, actuator, store, metrics))


def loaded(store: FakeStore, state: BurstState, version: str | None) -> PolicyRunner:
    """A runner as the daemon makes one: from what the store holds."""
    if version is not None:
        store.stored[NAME] = Stored(state, version)
    return PolicyRunner(policy(NAME), state, version)


def scale_ups(actions: Sequence[object]) -> list[tuple[str, int, int]]:
    return [(a.pool, a.previous, a.nodes) for a in actions if isinstance(a, ScalePool)]


# ------------------------------------------------------------------------------------------ act, then save


def test_demand_beyond_the_base_scales_the_pool_then_saves_against_the_loaded_version() -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")

    first = evaluate(runner, actuator, store, metrics, snapshot(desired=40))  # 8 more than the base's 32

    # ceil(40 * 1.1) - 32 = 12 cloud replicas: one 16-replica node
    assert [type(a) for a in actuator.actions()] == [ScalePool]
    assert scale_ups(actuator.actions()) == [(POOL, 0, 1)]
    assert len(store.saves) == 1
    save = store.saves[0]
    assert save.expected_version == "41"
    assert save.state.phase == Phase.PROVISIONING
    assert save.state.pool_targets == {POOL: 1}
    assert save.state.bursts == 1
    assert runner.version == save.new_version == "100"
    assert runner.state is save.state
    assert first.phase == "Provisioning"
    assert [o for _, o, _ in first.actions] == ["applied"]
    assert first.held == ()
    assert runner.last is first
    assert sample(metrics, "burstd_actions_total", policy=NAME, action="ScalePool", outcome="applied") == 1
    assert sample(metrics, "burstd_evaluations_total", policy=NAME) == 1
    assert sample(metrics, "burstd_last_evaluation_timestamp_seconds", policy=NAME) == T0 + 1

    # The next evaluation saves against the version the first one got back.
    evaluate(runner, actuator, store, metrics, snapshot(desired=40), now=T0 + 2)
    assert [s.expected_version for s in store.saves] == ["41", "100"]
    assert runner.version == "101"


def test_a_first_save_creates_the_state_with_no_version() -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), None)
    evaluate(runner, actuator, store, metrics, snapshot(desired=20))  # fits on the base: a Hold only
    assert actuator.applied == []  # Holds never reach the actuator
    assert [s.expected_version for s in store.saves] == [None]
    assert runner.version == "100"
    assert runner.last is not None
    assert [o for _, o, _ in runner.last.actions] == ["unchanged"]


def test_a_conflicting_save_leaves_the_runner_at_the_state_it_had() -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(conflict_once=True), Metrics()
    runner = loaded(store, BurstState(), "41")
    with pytest.raises(StateConflict):
        evaluate(runner, actuator, store, metrics, snapshot(desired=40))
    assert scale_ups(actuator.actions()) == [(POOL, 0, 1)]  # acted; the next evaluation repeats it
    assert store.saves == []
    assert runner.state == BurstState()
    assert runner.version == "41"


def test_a_missing_object_is_named_in_the_reasons() -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, replace(snapshot(desired=40), scalables={}))
    assert actuator.applied == []
    assert f"not observed: MachineDeployment {MD_KEY}" in evaluation.reasons
    assert evaluation.held == ("NotObserved",)
    assert store.saves[0].state.phase == Phase.IDLE


# ------------------------------------------------------------------------------------------ whose weights


def test_weights_owned_by_burstd_alone_are_adopted_not_read_as_drift() -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    # burstd wrote {idc-1: 2} but lost the state write that recorded it (a restart, say)
    runner = loaded(store, BurstState(weights={WORKLOAD: {BASE: 1}}), "41")

    evaluation = evaluate(
        runner, actuator, store, metrics, snapshot(desired=40, weights={BASE: 2}, managers=["burstd"])
    )

    assert scale_ups(actuator.actions()) == [(POOL, 0, 1)]
    assert not any(isinstance(a, Alert) for a in actuator.actions())
    saved = store.saves[0].state
    assert "WeightsChangedExternally" not in saved.alerts
    assert saved.weights[WORKLOAD] == {BASE: 2}
    assert evaluation.held == ()


@pytest.mark.parametrize("managers", [["alice"], ["burstd", "alice"]])
def test_weights_another_manager_owns_make_the_engine_hold(managers: list[str]) -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(weights={WORKLOAD: {BASE: 1}}), "41")

    evaluation = evaluate(
        runner, actuator, store, metrics, snapshot(desired=40, weights={BASE: 2}, managers=managers)
    )

    sent = actuator.actions()
    assert [(type(a), getattr(a, "code", None)) for a in sent] == [(Alert, "WeightsChangedExternally")]
    assert not any(isinstance(a, ScalePool | SetWeights) for a in sent)
    assert any(d.startswith("hold (") and o == "unchanged" for d, o, _ in evaluation.actions)
    saved = store.saves[0].state
    assert saved.alerts == ("WeightsChangedExternally",)
    assert saved.weights[WORKLOAD] == {BASE: 1}  # what burstd wrote, not what it found
    assert saved.phase == Phase.IDLE
    assert evaluation.held == ("WeightsChangedExternally",)


# ------------------------------------------------------------------------------------------ held, refused


def provisioning() -> BurstState:
    """Mid-burst: 2 nodes asked for and Ready, nothing shifted yet, burstd's weights on the base only."""
    return BurstState(
        phase=Phase.PROVISIONING,
        phase_since=T0 - 60,
        burst_started_at=T0 - 60,
        pool_targets={POOL: 2},
        shifted={WORKLOAD: 0},
        weights={WORKLOAD: {BASE: 1}},
        target_cloud_replicas=24,
        bursts=1,
    )


def growing() -> Snapshot:
    """Demand grows to 80 while the 2 Ready nodes hold no replicas yet."""
    return snapshot(desired=80, weights={BASE: 1}, managers=["burstd"], nodes=2)


def test_the_growing_burst_decides_weights_then_more_nodes() -> None:
    """The decision the held test stops: SetWeights first, then a ScalePool (all applied here)."""
    runner = loaded(FakeStore(), provisioning(), "41")
    world = runner.world(growing(), {}, FleetBudget())
    decision = decide(world, runner.policy, runner.state, T0 + 1)
    assert [type(a) for a in decision.actions] == [SetWeights, ScalePool]

    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, provisioning(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, growing())
    assert [type(a) for a in actuator.actions()] == [SetWeights, ScalePool]
    assert evaluation.held == ()


def test_held_weights_stop_the_rest_of_the_decision() -> None:
    actuator = FakeActuator(outcomes={SetWeights: "held"}, messages={SetWeights: 'owned by "alice"'})
    store, metrics = FakeStore(), Metrics()
    runner = loaded(store, provisioning(), "41")

    evaluation = evaluate(runner, actuator, store, metrics, growing())

    assert [type(a) for a in actuator.actions()] == [SetWeights]  # the ScalePool after it never went out
    assert [(o, m) for _, o, m in evaluation.actions] == [("held", 'owned by "alice"')]
    assert evaluation.held == ("WeightsChangedExternally",)
    assert (
        sample(metrics, "burstd_external_changes_total", policy=NAME, object=f"PropagationPolicy {WORKLOAD}")
        == 1
    )
    assert sample(metrics, "burstd_actions_total", policy=NAME, action="SetWeights", outcome="held") == 1
    assert sample(metrics, "burstd_actions_total", policy=NAME, action="ScalePool", outcome="applied") is None
    assert runner.blocked == {}  # the engine, not the runner, holds on weights
    # Neither the weights nor the scale-up happened: the saved state must not claim them.
    before = provisioning()
    assert store.saves == []
    assert runner.state == before
    assert runner.version == "41"


def test_a_refused_target_blocks_the_policy_and_keeps_the_state_that_matches_the_fleet() -> None:
    actuator = FakeActuator(outcomes={ScalePool: "refused"}, messages={ScalePool: PAUSED})
    store, metrics = FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")

    evaluation = evaluate(runner, actuator, store, metrics, snapshot(desired=40))

    assert scale_ups(actuator.actions()) == [(POOL, 0, 1)]
    assert runner.blocked == {"RefusedTarget": PAUSED}
    assert evaluation.held == ("RefusedTarget",)
    assert [o for _, o, _ in evaluation.actions] == ["refused"]
    # The refused scale-up did not happen: the state must not say it did, or the engine would never ask
    # for the node again once the target can be managed.
    assert runner.state == BurstState()
    assert runner.version == "41"
    assert store.saves == []

    # Blocked: the next evaluation reports why and neither acts nor saves.
    again = evaluate(runner, actuator, store, metrics, snapshot(desired=40), now=T0 + 2)
    assert len(actuator.applied) == 1
    assert store.saves == []
    assert again.reasons == (f"RefusedTarget: {PAUSED}",)
    assert again.held == ("RefusedTarget",)
    assert again.actions == ()
    assert sample(metrics, "burstd_evaluations_total", policy=NAME) == 2


def test_a_write_refused_as_stale_stops_the_decision_and_decides_again_next_round() -> None:
    """``conflict``: the weights changed since burstd read them (a new leader wrote first). Nothing after
    that action is applied, the state is not saved (the step did not happen), nothing is held or blocked,
    and the next round decides again from what it reads."""
    actuator = FakeActuator(outcomes={SetWeights: "conflict"}, messages={SetWeights: "changed since read"})
    store, metrics = FakeStore(), Metrics()
    runner = loaded(store, provisioning(), "41")

    evaluation = evaluate(runner, actuator, store, metrics, growing())

    assert [type(a) for a in actuator.actions()] == [SetWeights]  # the ScalePool after it never went out
    assert [o for _, o, _ in evaluation.actions] == ["conflict"]
    assert evaluation.held == ()
    assert runner.blocked == {}
    assert store.saves == []
    assert runner.state == provisioning()
    assert sample(metrics, "burstd_actions_total", policy=NAME, action="SetWeights", outcome="conflict") == 1
    assert (
        sample(metrics, "burstd_external_changes_total", policy=NAME, object=f"PropagationPolicy {WORKLOAD}")
        is None
    )

    actuator.outcomes.clear()
    again = evaluate(runner, actuator, store, metrics, growing(), now=T0 + 2)
    assert [type(a) for a in actuator.actions()] == [SetWeights, SetWeights, ScalePool]
    assert len(store.saves) == 1
    assert again.held == ()


@pytest.mark.parametrize("outcome", ["unchanged", "dry-run"])
def test_other_outcomes_do_not_stop_the_decision(outcome: Outcome) -> None:
    actuator = FakeActuator(outcomes={SetWeights: outcome})
    store, metrics = FakeStore(), Metrics()
    runner = loaded(store, provisioning(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, growing())
    assert [type(a) for a in actuator.actions()] == [SetWeights, ScalePool]
    assert [o for _, o, _ in evaluation.actions] == [outcome, "applied"]
    assert evaluation.held == ()
    assert len(store.saves) == 1


def test_hold_actions_are_reported_without_the_actuator() -> None:
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, snapshot(desired=10))
    assert actuator.applied == []
    assert len(evaluation.actions) == 1
    description, outcome, message = evaluation.actions[0]
    assert description.startswith("hold (")
    assert (outcome, message) == ("unchanged", "")
    assert store.saves[0].state.phase == Phase.IDLE


# ------------------------------------------------------------------------------------------ typed holds


def _reworded(monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...] = ()) -> None:
    """Make the runner's engine say everything in other words (and add ``extra`` reasons), as a change of
    wording in ``decide`` would: what the decision does is unchanged."""
    import burstd.runtime.evaluate as evaluate_module

    def reworded(*args: object, **kwargs: object) -> Decision:
        real = decide(*args, **kwargs)  # type: ignore[arg-type]
        actions = tuple(
            Hold(f"reworded hold {i}") if isinstance(a, Hold) else a for i, a in enumerate(real.actions)
        )
        reasons = tuple(f"reworded reason {i}" for i, _ in enumerate(real.reasons)) + extra
        return replace(real, actions=actions, reasons=reasons)

    monkeypatch.setattr(evaluate_module, "decide", reworded)


@pytest.mark.parametrize(
    "snap",
    [
        pytest.param(replace(snapshot(desired=40), scalables={}), id="missing"),
        pytest.param(snapshot(desired=40, at=T0 - 120), id="stale"),
    ],
)
def test_what_is_held_does_not_depend_on_the_wording_of_the_reasons(
    monkeypatch: pytest.MonkeyPatch, snap: Snapshot
) -> None:
    _reworded(monkeypatch)
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, snap)
    assert actuator.applied == []
    assert evaluation.held == ("NotObserved",)
    assert all(r.startswith(("reworded", "not observed: ")) for r in evaluation.reasons)


def test_a_missing_object_is_named_however_the_engine_words_its_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    _reworded(monkeypatch)
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, replace(snapshot(desired=40), scalables={}))
    assert f"not observed: MachineDeployment {MD_KEY}" in evaluation.reasons


def test_reasons_that_read_like_a_hold_hold_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    _reworded(
        monkeypatch,
        extra=("not observed yet: a reason a person reads", "observations older than signalMaxAge, in prose"),
    )
    actuator, store, metrics = FakeActuator(), FakeStore(), Metrics()
    runner = loaded(store, BurstState(), "41")
    evaluation = evaluate(runner, actuator, store, metrics, snapshot(desired=40))
    assert scale_ups(actuator.actions()) == [(POOL, 0, 1)]
    assert evaluation.held == ()
    assert not any(r.startswith("not observed: ") for r in evaluation.reasons)
