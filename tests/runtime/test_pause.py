"""Per-policy pause (``spec.paused``, the ``burstd.io/paused`` annotation) and the global kill switch, through
the daemon's rounds with fake actuator/store pairs and a scripted kill-switch ConfigMap."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from burstd.kube.errors import NotFound, ServerError
from burstd.model.state import BurstState, Phase
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.caches import Caches
from burstd.runtime.daemon import Daemon
from burstd.runtime.logs import QUIET_LOGGERS, configure_logging
from burstd.runtime.metrics import Metrics
from burstd.runtime.pause import PAUSED_ANNOTATION, KillSwitch, paused_by_policy
from burstd.runtime.settings import load_settings
from burstd.runtime.store import StateStore, Stored

from .fakes import POOL, T0, FakeActuator, FakeCaches, FakeStore, elsewhere, install, policy, snapshot
from .test_daemon_round import scale_ups

ROOT = Path(__file__).resolve().parents[2]
WEB = "web-burst"
OTHER = "api-burst"


def paused(p: BurstPolicy) -> BurstPolicy:
    return p.model_copy(update={"spec": p.spec.model_copy(update={"paused": True})})


def annotated(p: BurstPolicy, value: str = "true") -> BurstPolicy:
    meta = p.metadata.model_copy(update={"annotations": {PAUSED_ANNOTATION: value}})
    return p.model_copy(update={"metadata": meta})


@dataclass
class ConfigMaps:
    """The management cluster's answer to ``get configmap``: a ConfigMap's data, absent (404), or an error."""

    data: dict[str, str] | None = None
    error: Exception | None = None
    reads: list[tuple[str, str]] = field(default_factory=list)

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any]:
        self.reads.append((namespace, name))
        if self.error is not None:
            raise self.error
        if self.data is None:
            raise NotFound(f"configmaps {name} not found", status=404, target=None)
        return {"metadata": {"name": name, "namespace": namespace}, "data": dict(self.data)}


def daemon(*policies: BurstPolicy, cms: ConfigMaps | None = None) -> tuple[Daemon, FakeActuator, FakeStore]:
    d = Daemon(load_settings(None), list(policies))
    actuator, store = FakeActuator(), FakeStore()
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    if cms is not None:
        d.kill_switch = KillSwitch(cms, "burstd-system", "burstd-control")
    return d, actuator, store


def round_(d: Daemon, store: FakeStore, *, desired: int = 40, nodes: int = 0, now: float = T0 + 1) -> None:
    """One round as the leader runs it: read the kill switch, load states, evaluate."""
    fake = FakeCaches(snapshot(desired=desired, nodes=nodes, at=now - 1))
    d.clock = lambda: now
    asyncio.run(d._round_steps(cast(Caches, fake), cast(StateStore, store), None))


def held(metrics: Metrics, name: str, reason: str) -> float | None:
    return metrics.registry.get_sample_value("burstd_policy_held", {"policy": name, "reason": reason})


def burstd_paused(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("burstd_paused", {})


def messages(caplog: pytest.LogCaptureFixture, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


# ------------------------------------------------------------------------------------------ per policy


def test_spec_paused_is_part_of_the_policy_language() -> None:
    doc = policy(WEB).model_dump(by_alias=True, mode="json", exclude_none=True)
    assert doc["spec"]["paused"] is False
    doc["spec"]["paused"] = True
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    assert parsed.spec.paused
    schema = json.loads((ROOT / "policies" / "burstpolicy.schema.json").read_text())
    assert schema["$defs"]["BurstPolicySpec"]["properties"]["paused"]["type"] == "boolean"


def test_which_policies_pause_themselves() -> None:
    assert not paused_by_policy(policy(WEB))
    assert paused_by_policy(paused(policy(WEB)))
    assert paused_by_policy(annotated(policy(WEB)))
    assert paused_by_policy(annotated(policy(WEB), "True"))
    assert not paused_by_policy(annotated(policy(WEB), "false"))
    assert not paused_by_policy(annotated(policy(WEB), "yes"))


def test_a_paused_policy_does_nothing_and_resumes_from_its_saved_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d, actuator, store = daemon(paused(policy(WEB)), elsewhere(OTHER))
    saved = BurstState(phase=Phase.IDLE, bursts=2)
    store.stored[WEB] = Stored(saved, "41")
    store.stored[OTHER] = Stored(BurstState(), "7")
    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, store)
        round_(d, store, now=T0 + 2)
    assert actuator.actions(WEB) == []
    assert store.saved(WEB) == []
    assert WEB not in actuator.preflights
    assert d.runners[WEB].state == saved
    assert held(d.metrics, WEB, "Paused") == 1
    assert held(d.metrics, WEB, "KillSwitch") == 0
    assert d.metrics.registry.get_sample_value("burstd_evaluations_total", {"policy": WEB}) is None
    assert len(messages(caplog, f"policy {WEB} is held: paused")) == 1  # once, not every round
    # the other policy ran: it names targets the snapshot does not hold, so it is evaluated and saved
    assert [s.expected_version for s in store.saved(OTHER)] == ["7", "100"]
    assert held(d.metrics, OTHER, "Paused") == 0

    d.policies = [policy(WEB), elsewhere(OTHER)]  # spec.paused removed (as a reload does)
    d.runners[WEB].policy = d.policies[0]
    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, store, now=T0 + 3)
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]
    first = store.saved(WEB)[0]
    assert first.expected_version == "41"
    assert first.state.bursts == 3  # counted on from the saved state
    assert held(d.metrics, WEB, "Paused") == 0
    assert len(messages(caplog, f"policy {WEB} resumes from its saved state (phase Idle)")) == 1


def test_the_annotation_pauses_a_policy_like_spec_paused() -> None:
    d, actuator, store = daemon(annotated(policy(WEB)))
    store.stored[WEB] = Stored(BurstState(), "41")
    round_(d, store)
    assert actuator.applied == []
    assert store.saves == []
    assert held(d.metrics, WEB, "Paused") == 1


# ------------------------------------------------------------------------------------------ kill switch


def test_the_kill_switch_holds_every_policy_and_releasing_it_resumes_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cms = ConfigMaps(data={"paused": "true"})
    d, actuator, store = daemon(policy(WEB), elsewhere(OTHER), cms=cms)
    store.stored[WEB] = Stored(BurstState(), "41")
    store.stored[OTHER] = Stored(BurstState(), "7")
    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, store)
        round_(d, store, now=T0 + 2)
    assert cms.reads == [("burstd-system", "burstd-control")] * 2
    assert actuator.applied == []
    assert store.saves == []
    assert burstd_paused(d.metrics) == 1
    assert (held(d.metrics, WEB, "KillSwitch"), held(d.metrics, OTHER, "KillSwitch")) == (1, 1)
    assert len(messages(caplog, "kill switch on")) == 1

    cms.data = None  # kubectl delete configmap burstd-control: 404 means not paused
    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, store, now=T0 + 3)
    assert burstd_paused(d.metrics) == 0
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]
    assert held(d.metrics, WEB, "KillSwitch") == 0
    assert len(messages(caplog, "kill switch off")) == 1


def test_the_kill_switch_value_must_be_true() -> None:
    cms = ConfigMaps(data={"paused": "false"})
    d, actuator, store = daemon(policy(WEB), cms=cms)
    store.stored[WEB] = Stored(BurstState(), "41")
    round_(d, store)
    assert burstd_paused(d.metrics) == 0
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]


def test_an_api_error_keeps_the_last_answer_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    cms = ConfigMaps(data={"paused": "true"})
    d, actuator, store = daemon(policy(WEB), cms=cms)
    store.stored[WEB] = Stored(BurstState(), "41")
    round_(d, store)
    cms.error = ServerError("the server is unavailable", status=503, target=None)
    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, store, now=T0 + 2)
        round_(d, store, now=T0 + 3)
    assert burstd_paused(d.metrics) == 1  # still paused: the last answer holds
    assert actuator.applied == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "kill switch" in r.getMessage()]
    assert len(errors) == 1
    assert "keeping the last answer (paused: true)" in errors[0].getMessage()
    assert errors[0].exc_info is None  # an API error: one line, no traceback

    cms.error = None
    cms.data = {"paused": "false"}
    with caplog.at_level(logging.INFO, logger="burstd.runtime"):
        round_(d, store, now=T0 + 4)
    assert messages(caplog, "can be read again")
    assert burstd_paused(d.metrics) == 0
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]


def test_without_an_answer_yet_an_api_error_means_not_paused() -> None:
    cms = ConfigMaps(error=ServerError("connection refused", status=0, target=None))
    d, actuator, store = daemon(policy(WEB), cms=cms)
    store.stored[WEB] = Stored(BurstState(), "41")
    round_(d, store)
    assert burstd_paused(d.metrics) == 0
    assert scale_ups(actuator.actions(WEB)) == [(POOL, 0, 1)]


# ------------------------------------------------------------------------------------------ the decision line


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging("INFO", [], stream=out, log_format="json")
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_each_evaluation_writes_exactly_one_decision_line_with_its_fields(json_log: io.StringIO) -> None:
    d, _, store = daemon(policy(WEB), paused(elsewhere(OTHER)))
    for name, version in ((WEB, "41"), (OTHER, "7")):
        store.stored[name] = Stored(BurstState(), version)
    round_(d, store)
    round_(d, store, nodes=1, now=T0 + 2)
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    decisions = [line for line in lines if line.get("event") == "decision"]
    assert [line["policy"] for line in decisions] == [WEB, WEB]
    first = next(line for line in decisions if line["policy"] == WEB)
    assert first["phase"] == "Provisioning"
    assert first["msg"].startswith(f"policy {WEB}: phase Provisioning; ")
    assert first["reasons"]
    scales = [a for a in first["actions"] if a["action"].startswith(f"scale pool {POOL}: 0 -> 1 nodes")]
    assert [a["outcome"] for a in scales] == ["applied"]
    assert set(first) >= {"time", "level", "logger", "msg", "policy", "phase", "reasons", "actions", "held"}
    actions = [line for line in lines if line.get("event") == "action"]
    assert actions
    assert all(line["policy"] == WEB and line["outcome"] == "applied" for line in actions)
    held_lines = [line for line in lines if line.get("event") == "held"]
    assert [(line["policy"], line["held"]) for line in held_lines] == [(OTHER, ["Paused"])]
