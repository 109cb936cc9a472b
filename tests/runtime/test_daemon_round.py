"""Daemon._load, _preflight and _round without API servers: fake actuator/store pairs in ``Daemon._io``
and a fake cache that hands out one snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from burstd.model.actions import ScalePool
from burstd.model.state import BurstState, Phase
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate import Actuator
from burstd.runtime.daemon import Daemon
from burstd.runtime.evaluate import PolicyRunner
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot
from burstd.runtime.settings import load_settings
from burstd.runtime.store import StateStore, Stored

from .fakes import MD_KEY, POOL, T0, FakeActuator, FakeStore, caches, install, policy, snapshot

WEB = "web-burst"
PAUSED = f"MachineDeployment {MD_KEY} is paused (spec.paused: true); burstd does not scale it."
CORRUPT = "ConfigMap burstd-system/burstd-state-broken key 'state.json' is not valid JSON; left untouched"


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def scale_ups(actions: Sequence[object]) -> list[tuple[str, int, int]]:
    return [(a.pool, a.previous, a.nodes) for a in actions if isinstance(a, ScalePool)]


def daemon(policies: Sequence[BurstPolicy], **settings: Any) -> tuple[Daemon, FakeActuator, FakeStore]:
    """A daemon with a fake real pair (returned) and a fake dry-run pair (``dry_pair(d)``)."""
    d = Daemon(load_settings(None, **settings), list(policies))
    actuator, store = FakeActuator(), FakeStore()
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    return d, actuator, store


def dry_pair(d: Daemon) -> tuple[FakeActuator, FakeStore]:
    actuator, store = d._io[True]
    return cast(FakeActuator, actuator), cast(FakeStore, store)


async def load_all(d: Daemon, store: FakeStore) -> None:
    for p in d.policies:
        await d._load(p, cast(StateStore, store))


def round_(d: Daemon, snap: Snapshot, now: float = T0 + 1) -> float | None:
    return asyncio.run(d._round(caches(snap), {}, now))


# ------------------------------------------------------------------------------------------ _load


def test_load_resumes_each_policy_from_its_saved_state_and_version() -> None:
    d, _, store = daemon([policy(WEB)])
    resumed = BurstState(phase=Phase.BURSTING, bursts=3)
    store.stored[WEB] = Stored(resumed, "57")
    asyncio.run(load_all(d, store))
    runner = d.runners[WEB]
    assert (runner.state, runner.version, runner.blocked) == (resumed, "57", {})


def test_corrupt_state_holds_that_policy_only() -> None:
    d, actuator, store = daemon([policy("broken"), policy(WEB)])
    store.corrupt["broken"] = CORRUPT
    store.stored[WEB] = Stored(BurstState(), "41")

    asyncio.run(load_all(d, store))
    broken = d.runners["broken"]
    assert broken.blocked == {"CorruptState": CORRUPT}
    assert (broken.state, broken.version) == (BurstState(), None)

    round_(d, snapshot(desired=40))
    round_(d, snapshot(desired=40), now=T0 + 2)

    assert actuator.actions("broken") == []
    assert "broken" not in actuator.preflights
    assert store.saved("broken") == []
    assert sample(d.metrics, "burstd_evaluations_total", policy="broken") is None
    assert sample(d.metrics, "burstd_policy_held", policy="broken", reason="CorruptState") == 1
    assert broken.blocked == {"CorruptState": CORRUPT}
    # the other policy ran as usual
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]
    assert [s.expected_version for s in store.saved(WEB)] == ["41", "100"]
    assert sample(d.metrics, "burstd_policy_held", policy=WEB, reason="CorruptState") == 0


# ------------------------------------------------------------------------------------------ _preflight


def test_preflight_runs_once_while_the_targets_are_fine() -> None:
    d, actuator, _ = daemon([policy(WEB)])
    runner = PolicyRunner(policy(WEB), BurstState(), None)

    async def twice() -> list[bool]:
        fake = cast(Actuator, actuator)
        return [await d._preflight(runner, fake), await d._preflight(runner, fake)]

    assert asyncio.run(twice()) == [True, True]
    assert actuator.preflights == [WEB]
    assert runner.checked


def test_a_refused_target_holds_the_policy_until_preflight_finds_no_problem() -> None:
    d, actuator, store = daemon([policy(WEB)])
    actuator.outcomes[ScalePool] = "refused"
    actuator.messages[ScalePool] = "MachineDeployment became paused"
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))

    # Round 1: preflight passes, the scale-up is refused at the target.
    round_(d, snapshot(desired=40))
    runner = d.runners[WEB]
    assert runner.blocked == {"RefusedTarget": "MachineDeployment became paused"}
    assert scale_ups(actuator.actions()) == [(POOL, 0, 1)]
    assert store.saves == []
    assert sample(d.metrics, "burstd_policy_held", policy=WEB, reason="RefusedTarget") == 1

    # Rounds 2-3: preflight still finds the problem: the policy is neither evaluated nor acted on.
    actuator.outcomes.clear()
    actuator.problems = [PAUSED]
    round_(d, snapshot(desired=40), now=T0 + 2)
    round_(d, snapshot(desired=40), now=T0 + 3)
    assert actuator.preflights == [WEB, WEB, WEB]
    assert len(actuator.applied) == 1
    assert store.saves == []
    assert runner.blocked == {"RefusedTarget": PAUSED}
    assert sample(d.metrics, "burstd_evaluations_total", policy=WEB) == 1
    assert sample(d.metrics, "burstd_policy_held", policy=WEB, reason="RefusedTarget") == 1

    # Round 4: the target can be managed again: unblocked, and the refused scale-up is asked for again.
    actuator.problems = []
    round_(d, snapshot(desired=40), now=T0 + 4)
    assert runner.blocked == {}
    assert scale_ups(actuator.actions()) == [(POOL, 0, 1), (POOL, 0, 1)]
    assert [s.expected_version for s in store.saves] == ["41"]
    assert store.saves[0].state.pool_targets == {POOL: 1}
    assert sample(d.metrics, "burstd_policy_held", policy=WEB, reason="RefusedTarget") == 0

    # Round 5: checked and not held: no further preflight.
    round_(d, snapshot(desired=40), now=T0 + 5)
    assert actuator.preflights == [WEB, WEB, WEB, WEB]


def test_preflight_problems_at_start_hold_the_policy_before_any_action() -> None:
    d, actuator, store = daemon([policy(WEB)])
    actuator.problems = [PAUSED]
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    round_(d, snapshot(desired=40))
    assert actuator.applied == []
    assert store.saves == []
    assert d.runners[WEB].blocked == {"RefusedTarget": PAUSED}


# ------------------------------------------------------------------------------------------ conflicts


def test_a_state_conflict_reloads_the_state_and_the_next_round_starts_from_it() -> None:
    d, actuator, store = daemon([policy(WEB)])
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    first = d.runners[WEB]
    # another writer saved a state in between (7 bursts so far)
    theirs = BurstState(bursts=7)
    store.stored[WEB] = Stored(theirs, "57")

    round_(d, snapshot(desired=40))

    assert sample(d.metrics, "burstd_state_conflicts_total", policy=WEB) == 1
    assert store.saves == []
    assert store.loads == [WEB, WEB]
    reloaded = d.runners[WEB]
    assert reloaded is not first
    assert (reloaded.state, reloaded.version) == (theirs, "57")

    round_(d, snapshot(desired=40), now=T0 + 2)

    assert [s.expected_version for s in store.saves] == ["57"]
    assert store.saves[0].state.bursts == 8  # decided from their state, not from the lost one
    assert d.runners[WEB].version == "100"
    assert sample(d.metrics, "burstd_state_conflicts_total", policy=WEB) == 1
    # both rounds acted: the second repeats an absolute action the actuator finds already done
    assert scale_ups(actuator.actions()) == [(POOL, 0, 1), (POOL, 0, 1)]


# ------------------------------------------------------------------------------------------ shutdown


def test_cancelling_a_round_lets_the_action_in_flight_finish_and_the_state_save() -> None:
    d, actuator, store = daemon([policy(WEB)])
    store.stored[WEB] = Stored(BurstState(), "41")

    async def body() -> None:
        await load_all(d, store)
        actuator.gate = asyncio.Event()
        task = asyncio.create_task(d._round(caches(snapshot(desired=40)), {}, T0 + 1))
        await actuator.entered.wait()
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not task.done()  # waiting for the action in flight
        assert actuator.finished == []
        assert store.saves == []
        actuator.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        # by the time the cancellation came out, the action had finished and the state was saved
        assert scale_ups([a for _, a in actuator.finished]) == [(POOL, 0, 1)]
        assert [s.expected_version for s in store.saves] == ["41"]
        assert d.runners[WEB].version == "100"

    asyncio.run(body())


def test_a_round_cancelled_past_the_shutdown_grace_gives_up_on_the_action() -> None:
    d, actuator, store = daemon([policy(WEB)], shutdown_grace="50ms")
    store.stored[WEB] = Stored(BurstState(), "41")

    async def body() -> None:
        await load_all(d, store)
        actuator.gate = asyncio.Event()  # never set
        task = asyncio.create_task(d._round(caches(snapshot(desired=40)), {}, T0 + 1))
        await actuator.entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)
        assert actuator.finished == []
        assert store.saves == []
        assert d.runners[WEB].version == "41"

    asyncio.run(body())


# ------------------------------------------------------------------------------------------ dry run


def test_a_dry_run_policy_acts_and_saves_through_the_dry_run_pair_only() -> None:
    d, actuator, store = daemon([policy(WEB), policy("web-dry", dry_run=True)])
    dry_actuator, dry_store = dry_pair(d)
    store.stored[WEB] = Stored(BurstState(), "41")
    dry_store.stored["web-dry"] = Stored(BurstState(), "7")

    async def load() -> None:
        await d._load(d.policies[0], cast(StateStore, store))
        await d._load(d.policies[1], cast(StateStore, dry_store))

    asyncio.run(load())
    round_(d, snapshot(desired=40))

    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]
    assert actuator.actions("web-dry") == []
    assert actuator.preflights == [WEB]
    assert scale_ups(dry_actuator.actions("web-dry")) == [(POOL, 0, 1)]
    assert dry_actuator.actions(WEB) == []
    assert dry_actuator.preflights == ["web-dry"]
    assert [(s.policy, s.expected_version) for s in store.saves] == [(WEB, "41")]
    assert [(s.policy, s.expected_version) for s in dry_store.saves] == [("web-dry", "7")]


def test_a_dry_run_daemon_sends_every_policy_through_the_dry_run_pair() -> None:
    d, actuator, store = daemon([policy(WEB), policy("web-dry", dry_run=True)], dry_run=True)
    dry_actuator, dry_store = dry_pair(d)
    dry_store.stored[WEB] = Stored(BurstState(), "41")
    dry_store.stored["web-dry"] = Stored(BurstState(), "7")
    asyncio.run(load_all(d, dry_store))
    round_(d, snapshot(desired=40))
    assert actuator.applied == []
    assert actuator.preflights == []
    assert store.saves == []
    assert sorted(p for p, _ in dry_actuator.applied) == sorted(["web-dry", WEB])
    assert sorted(s.policy for s in dry_store.saves) == sorted(["web-dry", WEB])


# ------------------------------------------------------------------------------------------ the round


def test_the_round_reports_the_earliest_wake_up_and_exports_the_state() -> None:
    d, _, store = daemon([policy(WEB)])
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    wake = round_(d, snapshot(desired=40))
    runner = d.runners[WEB]
    assert runner.last is not None
    assert wake == runner.last.wake_at
    assert wake is not None
    assert wake > T0 + 1
    assert sample(d.metrics, "burstd_pool_target_nodes", policy=WEB, pool=POOL) == 1
    assert sample(d.metrics, "burstd_policy_phase", policy=WEB, phase="Provisioning") == 1
    assert d._decisions() == [runner.last]


# ------------------------------------------------------------------------------------------ robustness


def test_no_decision_while_a_needed_cache_is_still_listing() -> None:
    d, actuator, store = daemon([policy(WEB)])
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    fake = caches(snapshot(desired=40))
    cast(Any, fake).synced = False
    assert asyncio.run(d._round(fake, {}, T0 + 1)) is None
    assert actuator.applied == []
    assert store.saves == []
    assert actuator.preflights == []


class _Unreachable(FakeActuator):
    async def preflight(self, policy: BurstPolicy) -> list[str]:
        from burstd.kube.errors import ServerError

        raise ServerError("cannot reach the API server (get machinedeployments)", status=0, target=None)


def test_an_api_error_while_checking_targets_skips_the_policy_for_this_round_only() -> None:
    d = Daemon(load_settings(None), [policy(WEB)])
    broken, store = _Unreachable(), FakeStore()
    install(d, (broken, store), (FakeActuator(), FakeStore()))
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    round_(d, snapshot(desired=40))  # must not raise
    assert broken.applied == []
    assert sample(d.metrics, "burstd_evaluation_errors_total", policy=WEB, error="ServerError") == 1

    fine = FakeActuator()
    install(d, (fine, store), (FakeActuator(), FakeStore()))
    round_(d, snapshot(desired=40), now=T0 + 2)
    assert scale_ups(fine.actions()) == [(POOL, 0, 1)]
