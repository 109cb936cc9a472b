"""What ``decide`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from burstd.model.actions import Action
from burstd.model.state import BurstState

__all__ = ["Decision", "HoldReason"]


class HoldReason(StrEnum):
    """Why the engine held a policy (changed nothing this round), as data. The runtime acts on these;
    the wording of ``Decision.reasons`` is for people only and may change freely."""

    #: something the policy needs (a workload, a base cluster, a pool) is missing from the observations
    NOT_OBSERVED = "NotObserved"
    #: an observation is older than ``safety.signalMaxAge``: no decision (and no scale-in) on stale data
    STALE = "Stale"
    #: another field manager changed the staticWeightList burstd wrote: burstd does not fight it
    WEIGHTS_CHANGED_EXTERNALLY = "WeightsChangedExternally"


@dataclass(frozen=True, slots=True)
class Decision:
    state: BurstState
    actions: tuple[Action, ...]
    #: why the engine did what it did (or nothing), in order; for logs, events, /debug and the simulator
    reasons: tuple[str, ...]
    #: the next time the outcome could change with no new observation (a `for` window or an interval
    #: elapsing, a timeout, a schedule window); None when only new observations can change it
    wake_at: float | None
    #: why the engine held the policy this round; empty when it decided normally
    holds: tuple[HoldReason, ...] = ()
