"""The burstd run calls the engine only when an input changed or at its ``wake_at``: the engine must say
when anything it does depends on time (trigger ``for`` timers, the stabilization window,
``minBurstDuration``, back-offs, ``provisionTimeout``, shift and drain intervals, schedules, the
forecast). Proof: the same run with the daemon's old 60 s tick forced on gives the same results, action
for action, on slices of real traces and with the repository's policies that act in simulation
(policies/dry-run.yaml never acts; policies/scheduled-prewarm.yaml with its first workload only)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from burstd.engine import decide
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.fleet import SimulatedFleet, parse_fleet
from burstd.sim.runner import LEGACY_TICK_S, BurstdRun
from burstd.sim.scenario import build_scenario
from burstd.sim.trace import Trace, slice_trace

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("BURSTD_SHARED", REPO.parent / "shared")) / "traces"
DAY = 86400.0


def trace(name: str, days: float) -> Trace:
    """The first ``days`` of a shared trace (the bundled ones need no ../shared)."""
    path = SHARED / name / "demand.csv"
    if name in ("alibaba-2018", "nasa-http-1995"):
        source = name
    elif path.is_file():
        source = str(path)
    else:
        pytest.fail(f"{path} is missing: CI runs with ../shared beside the clone")
    return slice_trace(load_trace(source, "hold"), days * DAY)


def fleet(**spec: Any) -> SimulatedFleet:
    doc: dict[str, Any] = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "SimulatedFleet",
        "metadata": {"name": "wakes"},
        "spec": {
            "request": {"cpu": "1", "memory": "2Gi"},
            "peakReplicas": 400,
            "base": {"replicas": "p70"},
            "statusRefresh": "10s",
        },
    }
    doc["spec"].update(spec)
    return parse_fleet(doc)


def bundled() -> BurstPolicy:
    return load_policy(None)


def repo_policy(name: str, *, first_workload_only: bool = False) -> Callable[[], BurstPolicy]:
    """A policy of policies/; the simulator simulates one workload, so a policy with more needs only its
    first for its decisions to be simulated (with more, it waits to observe the others)."""

    def make() -> BurstPolicy:
        path = REPO / "policies" / f"{name}.yaml"
        if not first_workload_only:
            return load_policy(str(path))
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        del doc["spec"]["workloads"][1:]
        policy = parse_document(doc)
        assert isinstance(policy, BurstPolicy)
        return policy

    return make


def bundled_with(**spec: dict[str, Any]) -> Callable[[], BurstPolicy]:
    def make() -> BurstPolicy:
        policy = load_policy(None)
        changes = {k: getattr(policy.spec, k).model_copy(update=v) for k, v in spec.items()}
        return policy.model_copy(update={"spec": policy.spec.model_copy(update=changes)})

    return make


FLAKY = {
    "quoteTTL": "45s",
    "poolDefaults": {
        "stockOutProbability": 0.15,
        "stockOutDuration": "20m",
        "launchFailureProbability": 0.1,
    },
}
SLOW = {"statusRefresh": "25s", "poolDefaults": {"provisionDelay": "12m", "deletionDelay": "2m"}}


@dataclass(frozen=True)
class Case:
    trace: str
    days: float
    policy: Callable[[], BurstPolicy]
    fleet: dict[str, Any]

    def run(self, tick: float | None) -> tuple[tuple[Any, ...], list[str], int]:
        f = fleet(**self.fleet) if self.fleet else load_fleet(None)
        scenario = build_scenario(self.policy(), f, trace(self.trace, self.days), seed=3)
        log: list[str] = []
        r = BurstdRun(scenario, decide, log.append, tick=tick).run()
        details = dict(r.details)
        calls = details.pop("decide_calls")
        del details["holds"]  # one per call that changes nothing: counts calls
        figures = (
            r.cost,
            r.node_seconds,
            r.unserved_replica_seconds,
            r.replica_moves,
            r.peak_cloud_nodes,
            r.bursts,
            details,
            r.series,
        )
        return figures, log, calls


CASES = {
    "alibaba/bundled": Case("alibaba-2018", 2, bundled, {}),
    "alibaba/predictive": Case("alibaba-2018", 2, bundled_with(predictive={"enabled": True}), {}),
    "alibaba/overflow": Case("alibaba-2018", 2, bundled_with(shift={"mode": "overflow"}), {}),
    # schedules, trigger `for` timers of 20 s and 10 m, minBurstDuration 15 m
    "alibaba/scheduled-prewarm": Case(
        "alibaba-2018", 2, repo_policy("scheduled-prewarm", first_workload_only=True), {}
    ),
    "alibaba/two-clouds-flaky": Case("alibaba-2018", 2, repo_policy("static-weights-two-clouds"), FLAKY),
    "nasa/bundled-slow": Case("nasa-http-1995", 0.5, bundled, SLOW),
    "nasa/predictive": Case("nasa-http-1995", 0.5, bundled_with(predictive={"enabled": True}), {}),
    "azure/karmada-overflow": Case(
        "azure-vm-2019",
        1.5,
        repo_policy("karmada-overflow"),  # predictive, overflow, a provider-priced pool
        {"pools": {"ack-sh-b": {"pricePerNodeHour": 3.1}}},
    ),
    "borg/bundled-flaky": Case("google-borg-2019", 1.5, bundled, FLAKY),
    "twitter/scheduled-prewarm-slow": Case(
        "twitter-stream-2021-08", 0.5, repo_policy("scheduled-prewarm", first_workload_only=True), SLOW
    ),
    # the published cluster status is stale from 20 s after each refresh to the next one, 2 m later
    "twitter/stale-status": Case(
        "twitter-stream-2021-08", 0.5, bundled_with(safety={"signal_max_age": 20.0}), {"statusRefresh": "2m"}
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_legacy_tick_changes_nothing(name: str) -> None:
    case = CASES[name]
    figures, log, calls = case.run(None)
    ticked, ticked_log, ticked_calls = case.run(LEGACY_TICK_S)
    assert ticked_calls > calls  # the tick did call the engine more often
    assert log == ticked_log  # every action and phase change, at the same time
    assert figures == ticked
    assert any(" burstd " in line for line in log)  # the run did act
