"""What ``decide`` returns."""

from __future__ import annotations

from dataclasses import dataclass

from burstd.model.actions import Action
from burstd.model.state import BurstState


@dataclass(frozen=True, slots=True)
class Decision:
    state: BurstState
    actions: tuple[Action, ...]
    #: why the engine did what it did (or nothing), in order; for logs, events, /debug and the simulator
    reasons: tuple[str, ...]
    #: the next time the outcome could change with no new observation (a `for` window or an interval
    #: elapsing, a timeout, a schedule window); None when only new observations can change it
    wake_at: float | None
