"""The demand outlook: the demand history (stabilization window, predictive mode), the expected demand
one horizon ahead, and the cloud nodes a schedule window asks for."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.engine.forecast import forecast, keep_for, next_change, record
from burstd.engine.plan import Plan
from burstd.engine.stages.guards import Observed
from burstd.engine.windows import window_floor
from burstd.model.state import History


@dataclass(frozen=True, slots=True)
class Outlook:
    replicas: int  # desired replicas now
    history: History  # the next state's demand history
    expected: float  # the demand the burst is sized for (``replicas`` unless predictive)
    floor_nodes: int  # cloud nodes a schedule window asks for


def look_ahead(seen: Observed, plan: Plan, now: float) -> Outlook:
    spec = seen.policy.spec
    replicas = seen.demand.replicas
    history = record(
        seen.state.history,
        now,
        float(replicas),
        keep_for(spec.predictive, spec.drain.stabilization_window),
        running_sums=spec.predictive.enabled,
    )
    expected = float(replicas)
    if spec.predictive.enabled:
        expected = forecast(history, now, float(replicas), spec.predictive)
        plan.wake(next_change(history, now, float(replicas), spec.predictive), now)
        if expected > replicas:
            plan.reasons.append(
                f"predictive: {replicas} replicas now, {expected:.0f} expected in "
                f"{spec.predictive.horizon:g}s"
            )
    floor_nodes, window_wake, window_name = (
        window_floor(spec.triggers.schedules, now) if spec.triggers.schedules else (0, None, None)
    )
    plan.wake(window_wake, now)
    if floor_nodes:
        plan.reasons.append(f"schedule {window_name}: at least {floor_nodes} cloud nodes")
    return Outlook(replicas, history, expected, floor_nodes)
