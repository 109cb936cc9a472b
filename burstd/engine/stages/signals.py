"""Signals and triggers: the base's room, the built-in signals beside the observed ones, and the scale-out
and scale-in trigger groups evaluated on them."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.engine.capacity import base_room, builtin_signals, counted
from burstd.engine.plan import Plan
from burstd.engine.stages.guards import Observed
from burstd.engine.triggers import GroupResult, evaluate
from burstd.model.world import World


@dataclass(frozen=True, slots=True)
class Signals:
    room: dict[str, int]  # replicas each base cluster can still take
    base_total: int  # the sum of ``room``
    out: GroupResult  # the scale-out trigger group
    inn: GroupResult  # the scale-in trigger group
    holding_since: dict[str, float]  # the next state's condition timers
    counted: dict[str, int]  # managed replicas each base cluster's summary counts (capacity.counted)


def read_signals(world: World, seen: Observed, plan: Plan, now: float) -> Signals:
    spec = seen.policy.spec
    max_age = spec.safety.signal_max_age
    ours = counted(world, seen.policy, seen.state)
    room = base_room(world, seen.policy, seen.demand, ours)
    signals = {**world.signals, **builtin_signals(world, seen.policy, seen.demand, room)}
    holding = seen.state.holding_since
    out = evaluate("scaleOut", spec.triggers.scale_out, signals, holding, now, max_age)
    inn = evaluate("scaleIn", spec.triggers.scale_in, signals, holding, now, max_age)
    plan.wake(out.wake_at, now)
    plan.wake(inn.wake_at, now)
    return Signals(room, sum(room.values()), out, inn, {**out.holding_since, **inn.holding_since}, ours)
