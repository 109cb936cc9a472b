"""Daemon._load, _preflight and _round without API servers: fake actuator/store pairs in ``Daemon._io``
and a fake cache that hands out one snapshot."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from burstd.model.actions import ScalePool
from burstd.model.state import BurstState, Phase
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate import Actuator
from burstd.runtime.daemon import Daemon
from burstd.runtime.evaluate import PolicyRunner
from burstd.runtime.events import RecordingSink
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot
from burstd.runtime.policies import read_policies
from burstd.runtime.settings import load_settings
from burstd.runtime.store import StateStore, Stored

from .fakes import (
    MD_KEY,
    POOL,
    T0,
    WORKLOAD,
    FakeActuator,
    FakeStore,
    caches,
    elsewhere,
    install,
    policy,
    snapshot,
)

WEB = "web-burst"
PAUSED = f"MachineDeployment {MD_KEY} is paused (spec.paused: true); burstd does not scale it."
CORRUPT = "ConfigMap burstd-system/burstd-state-broken key 'state.json' is not valid JSON; left untouched"


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def scale_ups(actions: Sequence[object]) -> list[tuple[str, int, int]]:
    return [(a.pool, a.previous, a.nodes) for a in actions if isinstance(a, ScalePool)]


def _renamed(p: BurstPolicy, *, name: str, workload: str, md: str) -> dict[str, Any]:
    doc = p.model_dump(by_alias=True, mode="json", exclude_none=True)
    doc["metadata"]["name"] = name
    doc["spec"]["workloads"][0]["propagationPolicy"]["name"] = workload
    doc["spec"]["burst"]["pools"][0]["ref"]["name"] = md
    return doc


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
    d, actuator, store = daemon([elsewhere("broken"), policy(WEB)])
    store.corrupt["broken"] = CORRUPT
    store.stored[WEB] = Stored(BurstState(), "41")

    asyncio.run(load_all(d, store))
    broken = d.runners["broken"]
    assert broken.blocked == {"CorruptState": CORRUPT}
    assert (broken.state, broken.version) == (BurstState(), None)

    round_(d, snapshot(desired=40))
    round_(d, snapshot(desired=40, nodes=1), now=T0 + 2)  # the scale-up has landed

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


# ------------------------------------------------------------------------------------------ one target, one policy


def sinks(d: Daemon) -> tuple[RecordingSink, RecordingSink]:
    """Recording Event sinks for the Karmada and the management API server."""
    karmada, management = RecordingSink(), RecordingSink()
    d.events = {"karmada": karmada, "management": management}
    return karmada, management


def test_two_policies_naming_one_target_run_the_first_and_hold_the_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Read order decides, not the name: web-b is read first, so web-a (the later one) is held.
    d, actuator, store = daemon([policy("web-b"), policy("web-a")])
    karmada, management = sinks(d)
    for name in ("web-a", "web-b"):
        store.stored[name] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))

    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, snapshot(desired=40))
        round_(d, snapshot(desired=40), now=T0 + 2)

    assert scale_ups(actuator.actions("web-b"))[:1] == [(POOL, 0, 1)]  # the first claimant acts
    assert actuator.actions("web-a") == []
    assert "web-a" not in actuator.preflights
    assert store.saved("web-a") == []
    assert sample(d.metrics, "burstd_policy_held", policy="web-a", reason="TargetConflict") == 1
    assert sample(d.metrics, "burstd_policy_held", policy="web-b", reason="TargetConflict") == 0
    assert set(d.runners["web-a"].blocked) == {"TargetConflict"}
    # One Warning Event on each contested object (not one per round), on that object's API server.
    assert [(e.type, e.reason, str(e.regarding)) for e in karmada.events] == [
        ("Warning", "PolicyConflict", f"PropagationPolicy {WORKLOAD}")
    ]
    assert [(e.type, e.reason, str(e.regarding)) for e in management.events] == [
        ("Warning", "PolicyConflict", f"MachineDeployment {MD_KEY}")
    ]
    assert management.events[0].regarding.api_version == "cluster.x-k8s.io/v1beta2"
    for event in (*karmada.events, *management.events):
        assert "policy web-a" in event.note
        assert "policy web-b" in event.note
    held = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(held) == 1, held
    assert "policy web-a is held" in held[0]
    assert "policy web-b" in held[0]
    assert f"MachineDeployment {MD_KEY}" in held[0]


def _doc(p: BurstPolicy, *, name: str, workload: str = "web", md: str = "tke-gz-md-0") -> str:
    """``p`` as a policy file (JSON is YAML) under ``name``, naming PropagationPolicy shop/<workload> and
    MachineDeployment capi-tke/<md>."""
    return json.dumps(_renamed(p, name=name, workload=workload, md=md), indent=2)


def test_a_conflicting_policy_added_on_reload_is_held_and_the_others_reload(tmp_path: Path) -> None:
    web = policy(WEB)
    (tmp_path / "b.yaml").write_text(_doc(web, name=WEB))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert found is not None, problems
    d = Daemon(load_settings(None, policies=[tmp_path]), list(found.policies), policy_digest=found.digest)
    actuator, store = FakeActuator(), FakeStore()
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    karmada, management = sinks(d)
    for name in (WEB, "a-copy", "other"):
        store.stored[name] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    round_(d, snapshot(desired=40))
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]

    # a.yaml sorts before b.yaml, yet the running policy keeps its targets; other.yaml names other ones.
    (tmp_path / "a.yaml").write_text(_doc(web, name="a-copy", md="tke-gz-md-9"))
    (tmp_path / "other.yaml").write_text(_doc(web, name="other", workload="api", md="tke-gz-md-1"))
    asyncio.run(d._maybe_reload(cast(StateStore, store)))
    assert sorted(p.metadata.name for p in d.policies) == sorted(["a-copy", WEB, "other"])
    assert sample(d.metrics, "burstd_policies_last_reload_successful") == 1
    round_(d, snapshot(desired=40), now=T0 + 2)

    assert actuator.actions("a-copy") == []
    assert sample(d.metrics, "burstd_policy_held", policy="a-copy", reason="TargetConflict") == 1
    assert sample(d.metrics, "burstd_policy_held", policy=WEB, reason="TargetConflict") == 0
    assert sample(d.metrics, "burstd_evaluations_total", policy=WEB) == 2  # it ran on
    assert "other" in actuator.preflights  # loaded and evaluated like any policy
    assert sample(d.metrics, "burstd_evaluations_total", policy="other") == 1
    assert [str(e.regarding) for e in karmada.events] == [f"PropagationPolicy {WORKLOAD}"]
    assert management.events == []  # a-copy names another MachineDeployment
    assert "policy a-copy" in karmada.events[0].note
    assert f"policy {WEB}" in karmada.events[0].note

    # The conflicting file goes: nothing is held any more.
    (tmp_path / "a.yaml").unlink()
    asyncio.run(d._maybe_reload(cast(StateStore, store)))
    assert "a-copy" not in d.refused
    assert sorted(p.metadata.name for p in d.policies) == sorted([WEB, "other"])


def test_a_held_policy_runs_once_the_policy_it_conflicts_with_is_gone(tmp_path: Path) -> None:
    web = policy(WEB)
    (tmp_path / "a.yaml").write_text(_doc(web, name="first"))
    (tmp_path / "b.yaml").write_text(_doc(web, name="second"))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert found is not None, problems
    d = Daemon(load_settings(None, policies=[tmp_path]), list(found.policies), policy_digest=found.digest)
    actuator, store = FakeActuator(), FakeStore()
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    sinks(d)
    for name in ("first", "second"):
        store.stored[name] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    round_(d, snapshot(desired=10))  # the base holds 10 replicas: both policies stay Idle
    assert actuator.preflights == ["first"]
    assert d.runners["second"].blocked.keys() == {"TargetConflict"}

    (tmp_path / "a.yaml").unlink()  # "first" is Idle: it stops
    asyncio.run(d._maybe_reload(cast(StateStore, store)))
    round_(d, snapshot(desired=40), now=T0 + 2)
    assert scale_ups(actuator.actions("second")) == [(POOL, 0, 1)]
    assert sample(d.metrics, "burstd_policy_held", policy="second", reason="TargetConflict") == 0


# ------------------------------------------------------------------------------------------ reload

# imported here, next to the tests that use them (the module's imports are shared with other tests)
from dataclasses import replace  # noqa: E402

from burstd.engine.retire import retire  # noqa: E402
from burstd.engine.webster import weights_for  # noqa: E402
from burstd.model.actions import MarkMachines, SetWeights  # noqa: E402
from burstd.policy.loader import load_text  # noqa: E402
from burstd.runtime.policies import digest_of  # noqa: E402

from .fakes import BASE, FakeCaches, machine  # noqa: E402

SECOND = "tke-gz7"
SECOND_MD = "tke-gz-md-1"


def two_pools(*, second: bool = True) -> dict[str, Any]:
    """The fake policy with a second pool (another MachineDeployment on the same cluster), drained 5
    replicas at a time; as a document to write to a policy file."""
    doc = policy(WEB).model_dump(mode="json", by_alias=True, exclude_none=True)
    pools = doc["spec"]["burst"]["pools"]
    if second:
        pools.append({**pools[0], "name": SECOND, "ref": {"namespace": "capi-tke", "name": SECOND_MD}})
    doc["spec"]["drain"]["maxStep"] = 5
    doc["spec"]["safety"]["signalMaxAge"] = "1h"
    return doc


def mid_burst(cloud: int, *, second_nodes: int = 2, at: float = T0) -> Snapshot:
    """80 replicas, ``cloud`` of them on tke-gz by burstd's weights; 2 Ready nodes in the first pool and
    ``second_nodes`` in the second."""
    weights = weights_for({BASE: 80 - cloud, "tke-gz": cloud})
    snap = snapshot(
        desired=80, placed={BASE: 80 - cloud, "tke-gz": cloud}, weights=weights, managers=["burstd"], nodes=2
    )
    md = replace(
        snap.scalables[MD_KEY],
        key=f"capi-tke/{SECOND_MD}",
        uid="md-1-uid",
        replicas=second_nodes,
        status_replicas=second_nodes,
        ready_replicas=second_nodes,
    )
    machines = dict(snap.machines)
    for i in range(second_nodes):
        m = machine(10 + i, at=at)
        name = f"{SECOND_MD}-{i}"
        machines[f"capi-tke/{name}"] = replace(m, key=f"capi-tke/{name}", name=name, owner_name=SECOND_MD)
    return replace(snap, scalables={**snap.scalables, md.key: md}, machines=machines)


def two_pool_daemon(tmp_path: Path) -> tuple[Daemon, Path, FakeActuator, FakeStore]:
    """A daemon running the two-pool policy from a policy directory it re-reads (for reload tests)."""
    files = tmp_path / "policies"
    files.mkdir()
    (files / "web.yaml").write_text(json.dumps(two_pools()))
    d = Daemon(
        load_settings(None, policies=[files]), [load_text(json.dumps(two_pools()), "web.yaml").policies[0][1]]
    )
    actuator, store = FakeActuator(), FakeStore()
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    d.policy_digest = digest_of([files])
    return d, files, actuator, store


def test_a_pool_removed_on_reload_mid_burst_is_drained_in_steps_and_released(tmp_path: Path) -> None:
    d, files, actuator, store = two_pool_daemon(tmp_path)
    store.stored[WEB] = Stored(
        BurstState(
            phase=Phase.BURSTING,
            phase_since=T0 - 600,
            burst_started_at=T0 - 900,
            pool_targets={POOL: 2, SECOND: 2},
            weights={"shop/web": {BASE: 32, "tke-gz": 48}},
            shifted={"shop/web": 48},
            target_cloud_replicas=56,
            last_shift_at=T0 - 600,
            bursts=1,
        ),
        "41",
    )
    asyncio.run(load_all(d, store))

    # The second pool is removed from the file: its replicas move back 5 at a time, one step a round
    # (drain.interval 1s), and its nodes go only once no replica runs on the cluster beyond what stays.
    (files / "web.yaml").write_text(json.dumps(two_pools(second=False)))
    cloud, now = 48, T0 + 1
    for _ in range(5):
        asyncio.run(d._maybe_reload(cast(StateStore, store)))
        round_(d, mid_burst(cloud), now=now)
        sent = [a for a in actuator.actions() if isinstance(a, SetWeights)]
        if sent:
            cloud = dict(sent[-1].intended)["tke-gz"]
        now += 2
    released = [a for a in actuator.actions() if isinstance(a, ScalePool) and a.pool == SECOND]
    assert [(a.previous, a.nodes) for a in released] == [(2, 0)], actuator.actions()
    marked = [a for a in actuator.actions() if isinstance(a, MarkMachines)]
    assert [a.pool for a in marked] == [SECOND]
    shares = [dict(a.intended)["tke-gz"] for a in actuator.actions() if isinstance(a, SetWeights)]
    assert shares == [43, 38, 33, 32]  # the stable pool holds 32: drain.maxStep (5) per drain.interval
    # the weights moved back first; the nodes went in the round that saw the share down to what stays
    last_move = max(i for i, a in enumerate(actuator.actions()) if isinstance(a, SetWeights))
    assert actuator.actions().index(released[0]) > last_move
    # recorded at once (a restart finishes the retirement), then forgotten once the pool is empty
    assert SECOND in store.saves[0].state.retiring_pools
    asyncio.run(d._maybe_reload(cast(StateStore, store)))
    round_(d, mid_burst(32, second_nodes=0), now=now)
    assert d.runners[WEB].state.retiring_pools == {}
    asyncio.run(d._maybe_reload(cast(StateStore, store)))
    assert [p.name for p in d.runners[WEB].policy.spec.burst.pools] == [POOL]


def test_a_restart_mid_retirement_watches_and_finishes_the_removed_pool(tmp_path: Path) -> None:
    """The state says a pool is retiring; the files no longer name it: the new process decides on it."""
    one = load_text(json.dumps(two_pools(second=False)), "web.yaml").policies[0][1]
    both = load_text(json.dumps(two_pools()), "web.yaml").policies[0][1]
    state = retire(both, one, BurstState(phase=Phase.BURSTING, pool_targets={POOL: 2, SECOND: 2}))
    d, actuator, store = daemon([one])
    fake = caches(mid_burst(32))
    d.caches = fake
    store.stored[WEB] = Stored(state, "41")
    asyncio.run(load_all(d, store))
    assert [p.name for p in d.runners[WEB].policy.spec.burst.pools] == [POOL, SECOND]
    assert cast(FakeCaches, fake).needed == [[POOL, SECOND]]  # watched before it is decided on
    round_(d, mid_burst(32), now=T0 + 1)
    assert [
        (a.pool, a.nodes) for a in actuator.actions() if isinstance(a, ScalePool) and a.pool == SECOND
    ] == [(SECOND, 0)]


def test_a_removed_pool_whose_machinedeployment_is_gone_is_let_go_at_once(tmp_path: Path) -> None:
    d, files, _, store = two_pool_daemon(tmp_path)
    store.stored[WEB] = Stored(BurstState(phase=Phase.BURSTING, pool_targets={POOL: 2, SECOND: 2}), "41")
    asyncio.run(load_all(d, store))
    snap = mid_burst(32)
    d.caches = caches(replace(snap, scalables={MD_KEY: snap.scalables[MD_KEY]}))  # the second one deleted
    (files / "web.yaml").write_text(json.dumps(two_pools(second=False)))
    asyncio.run(d._maybe_reload(cast(StateStore, store)))
    assert d.runners[WEB].state.retiring_pools == {}
    assert [p.name for p in d.runners[WEB].policy.spec.burst.pools] == [POOL]
