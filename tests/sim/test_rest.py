"""A policy at rest (burstd.engine.stages.rest) skips allocation, the cloud share, the nodes and the phase:
their answers must be the ones the stages give. Every evaluation of the runs of test_wakes.py (the bundled
policy in static-weights, predictive and overflow mode, the repository's policies, stock-outs, launch
failures, slow nodes, stale status) is decided both ways and the decisions compared whole: the next state,
the actions, the reasons, the wake-up time."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from burstd.engine import decide
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.files import load_fleet
from burstd.sim.runner import BurstdRun
from burstd.sim.scenario import build_scenario

from .test_wakes import CASES, fleet, trace

DECIDE: Any = importlib.import_module("burstd.engine.decide")  # the module; `decide` is its function


@contextmanager
def never_at_rest() -> Iterator[None]:
    """Every stage worked out, as before the shortcut."""
    at_rest = DECIDE.at_rest
    DECIDE.at_rest = lambda *args: False
    try:
        yield
    finally:
        DECIDE.at_rest = at_rest


class BothWays:
    """A decider that decides each evaluation with the shortcut and without it, and compares."""

    def __init__(self) -> None:
        self.calls = 0
        self.rested = 0  # evaluations the shortcut answered

    def __call__(self, world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
        at_rest = DECIDE.at_rest

        def counted(*args: Any) -> bool:
            rests: bool = at_rest(*args)
            self.rested += rests
            return rests

        DECIDE.at_rest = counted
        try:
            shortcut = decide(world, policy, state, now)
        finally:
            DECIDE.at_rest = at_rest
        with never_at_rest():
            full = decide(world, policy, state, now)
        assert shortcut == full, (now, shortcut, full)
        # the saved state's JSON too (key order included)
        assert shortcut.state.to_dict() == full.state.to_dict()
        assert list(shortcut.state.pool_targets) == list(full.state.pool_targets)
        self.calls += 1
        return shortcut


@pytest.mark.parametrize("name", sorted(CASES))
def test_at_rest_gives_the_stages_own_answers(name: str) -> None:
    case = CASES[name]
    f = fleet(**case.fleet) if case.fleet else load_fleet(None)
    scenario = build_scenario(case.policy(), f, trace(case.trace, case.days), seed=3)
    both = BothWays()
    BurstdRun(scenario, both).run()
    assert both.calls > 100
    assert both.rested > 0, "no evaluation was at rest: the shortcut was not exercised"
