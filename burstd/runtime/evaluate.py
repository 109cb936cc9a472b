"""One evaluation of one policy: snapshot -> world -> decide -> act -> persist.

Actions are absolute (a node count, a weight list), and the actuator skips what already holds, so an
evaluation interrupted between acting and saving is repaired by the next one without a second scale-up.
The state is saved after the actions, with the resourceVersion read before them as precondition.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from burstd.engine import decide
from burstd.model.actions import Action, Alert, Hold, SetWeights, describe
from burstd.model.decision import HoldReason
from burstd.model.state import BurstState
from burstd.model.world import FleetBudget, Sample, World
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate_base import FIELD_MANAGER
from burstd.runtime.logs import fields
from burstd.runtime.metrics import Metrics, PolicyView
from burstd.runtime.observe import Snapshot, build_world, describe_missing

__all__ = ["ActionOutcome", "Evaluation", "PolicyRunner"]

log = logging.getLogger("burstd.runtime")


#: The ``reason`` label of ``burstd_policy_held`` for each engine hold. Stale data is reported as
#: ``NotObserved`` (missing, or older than ``safety.signalMaxAge``), as it always was.
HELD_LABELS: dict[HoldReason, str] = {
    HoldReason.NOT_OBSERVED: "NotObserved",
    HoldReason.STALE: "NotObserved",
    HoldReason.WEIGHTS_CHANGED_EXTERNALLY: "WeightsChangedExternally",
}


class ActionOutcome(Protocol):
    @property
    def outcome(self) -> str: ...

    @property
    def message(self) -> str: ...


class Applier(Protocol):
    async def apply(self, policy: BurstPolicy, action: Action) -> ActionOutcome: ...


class Store(Protocol):
    async def save(self, policy: str, state: BurstState, expected_version: str | None) -> str: ...


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What one evaluation did, for logs, ``/debug/decisions`` and tests."""

    policy: str
    at: float
    phase: str
    reasons: tuple[str, ...]
    actions: tuple[tuple[str, str, str], ...]  # (description, outcome, message)
    wake_at: float | None
    held: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "policy": self.policy,
            "at": self.at,
            "phase": self.phase,
            "reasons": list(self.reasons),
            "actions": [{"action": a, "outcome": o, "message": m} for a, o, m in self.actions],
            "wakeAt": self.wake_at,
            "held": list(self.held),
        }

    def log_fields(self) -> dict[str, object]:
        """The structured fields of this evaluation's decision line (``burstd.runtime.logs.fields``)."""
        return fields(
            event="decision",
            policy=self.policy,
            phase=self.phase,
            reasons=list(self.reasons),
            actions=[{"action": a, "outcome": o} for a, o, _ in self.actions],
            held=list(self.held),
            wakeAt=self.wake_at,
        )


@dataclass(slots=True)
class PolicyRunner:
    """The daemon's memory of one policy between evaluations: its state and the version it was read at."""

    policy: BurstPolicy
    state: BurstState
    version: str | None
    #: reasons this policy is held outside the engine (CorruptState, RefusedTarget)
    blocked: dict[str, str] = field(default_factory=dict)
    #: preflight has passed once since the policy was loaded
    checked: bool = False
    last: Evaluation | None = None
    #: the world of the last evaluation (for the metrics; not rebuilt)
    seen: World | None = None

    @property
    def name(self) -> str:
        return self.policy.metadata.name

    def world(self, snap: Snapshot, signals: Mapping[str, Sample], budget: FleetBudget) -> World:
        return build_world(self.policy, snap, signals, budget)

    def adopt_own_weights(self, snap: Snapshot) -> None:
        """Weights still owned by burstd alone were written by burstd (perhaps just before a restart that
        lost the state write): take them as burstd's, so only another manager's edit reads as drift."""
        adopted = dict(self.state.weights)
        for w in self.policy.spec.workloads:
            info = snap.policies.get(w.propagation_policy.key)
            if info is None or not info.weights or not info.weights_shape_ok:
                continue
            if tuple(info.weights_managers) == (FIELD_MANAGER,):
                adopted[w.propagation_policy.key] = dict(info.weights)
        if adopted != dict(self.state.weights):
            self.state = replace(self.state, weights=adopted)

    async def evaluate(
        self,
        snap: Snapshot,
        signals: Mapping[str, Sample],
        budget: FleetBudget,
        now: float,
        actuator: Applier,
        store: Store,
        metrics: Metrics,
    ) -> Evaluation:
        name = self.name
        metrics.evaluations.labels(name).inc()
        metrics.last_evaluation.labels(name).set(now)
        world = self.world(snap, signals, budget)
        if self.blocked:
            reasons = tuple(f"{k}: {v}" for k, v in sorted(self.blocked.items()))
            return self._record(now, self.state.phase.value, reasons, (), None, world)
        self.adopt_own_weights(snap)
        decision = decide(world, self.policy, self.state, now)
        missing = describe_missing(self.policy, snap) if HoldReason.NOT_OBSERVED in decision.holds else []
        done: list[tuple[str, str, str]] = []
        held: list[str] = []
        stopped = False
        for action in decision.actions:
            if isinstance(action, Hold):
                done.append((describe(action), "unchanged", ""))
                continue
            result = await actuator.apply(self.policy, action)
            metrics.actions.labels(name, type(action).__name__, result.outcome).inc()
            done.append((describe(action), result.outcome, result.message))
            level = logging.WARNING if result.outcome in ("held", "refused", "failed") else logging.INFO
            if not isinstance(action, Alert) or result.outcome != "unchanged":
                log.log(
                    level,
                    "policy %s: %s -> %s %s",
                    name,
                    describe(action),
                    result.outcome,
                    result.message,
                    extra=fields(
                        event="action",
                        policy=name,
                        action=describe(action),
                        kind=type(action).__name__,
                        outcome=result.outcome,
                        message=result.message,
                    ),
                )
            if result.outcome == "held":
                held.append("WeightsChangedExternally")
                if isinstance(action, SetWeights):
                    metrics.external_changes.labels(name, f"PropagationPolicy {action.workload}").inc()
                break  # never apply the rest of a step whose weights someone else owns
            if result.outcome == "refused":
                held.append("RefusedTarget")
                self.blocked["RefusedTarget"] = result.message
                break
            # changed since read (a new leader?), or a cloud call failed: decide again next round
            if result.outcome in ("conflict", "failed"):
                stopped = True
                break
        reasons = decision.reasons + tuple(f"not observed: {m}" for m in missing)
        if held or stopped:
            # The held or refused action and those after it did not happen. Saving the decision's state would
            # record them as done (a pool target never applied is never asked for again; weights never
            # written would be taken for burstd's): keep the saved state. For held weights the next round
            # sees another manager's list differ from burstd's last one and holds with an alert.
            return self._record(now, self.state.phase.value, reasons, tuple(done), None, world, held)
        held += [HELD_LABELS[why] for why in decision.holds]
        new_state = decision.state
        self.version = await store.save(name, new_state, self.version)
        self.state = new_state
        return self._record(now, new_state.phase.value, reasons, tuple(done), decision.wake_at, world, held)

    def _record(
        self,
        now: float,
        phase: str,
        reasons: tuple[str, ...],
        actions: tuple[tuple[str, str, str], ...],
        wake_at: float | None,
        world: World,
        held: list[str] | None = None,
    ) -> Evaluation:
        held_all = tuple(sorted(set(held or ()) | set(self.blocked) | _engine_holds(self.state)))
        self.seen = world
        self.last = Evaluation(self.name, now, phase, reasons, actions, wake_at, held_all)
        return self.last

    def view(self) -> PolicyView:
        """What the metrics export for this policy: its state and the pools of the last world it saw."""
        world = self.seen
        currency = "CNY"
        for p in self.policy.spec.burst.pools:
            if p.price is not None:
                currency = p.price.currency
                break
        return PolicyView(
            state=self.state,
            currency=currency,
            nodes={n: p.existing for n, p in world.pools.items()} if world else {},
            ready={n: p.ready for n, p in world.pools.items()} if world else {},
        )


def _engine_holds(state: BurstState) -> set[str]:
    return {"WeightsChangedExternally"} & set(state.alerts)
