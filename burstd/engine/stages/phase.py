"""The phase, named by what is in flight (IDLE -> PROVISIONING -> SHIFTING -> BURSTING -> DRAINING ->
RELEASING -> IDLE), the burst's start and end, and the alert for instances that outlive their release."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from burstd.engine.plan import Plan
from burstd.engine.scaling import Scaled
from burstd.engine.shifting import Shift
from burstd.engine.stages.allocation import NodeTargets
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.health import Health
from burstd.engine.stages.outlook import Outlook
from burstd.model.actions import Severity
from burstd.model.state import Phase
from burstd.model.world import World


@dataclass(frozen=True, slots=True)
class PhaseStep:
    """The next state's phase and burst bookkeeping."""

    phase: Phase
    phase_since: float
    bursts: int
    burst_started_at: float | None
    target_cloud_replicas: int


def name_phase(
    world: World,
    seen: Observed,
    outlook: Outlook,
    health: Health,
    placed: NodeTargets,
    share: Shift,
    nodes: Scaled,
    plan: Plan,
    now: float,
) -> PhaseStep:
    state = seen.state
    spec = seen.policy.spec
    final, targets, target = nodes.final, placed.targets, placed.target
    mins = seen.statics.mins
    leaving = any(world.pools[p].existing > final[p] for p in final)
    unsettled = not share.settled
    if target == 0 and outlook.floor_nodes == 0 and share.share == 0 and final == mins and not leaving:
        phase = Phase.IDLE
    elif (share.share > share.desired and unsettled) or any(final[p] > targets[p] for p in final):
        phase = Phase.DRAINING  # replicas still to move back before nodes can go
    elif leaving or _releasing(final, health.previous):
        phase = Phase.RELEASING
    elif any(final[p] > world.pools[p].ready for p in final):
        phase = Phase.PROVISIONING
    elif share.share < share.desired and unsettled:
        phase = Phase.SHIFTING
    else:
        phase = Phase.BURSTING
    bursts, started = state.bursts, state.burst_started_at
    if phase == Phase.IDLE and state.phase != Phase.IDLE:
        plan.reasons.append("burst over: replicas back on the base, cloud nodes released")
    if state.phase == Phase.IDLE and phase != Phase.IDLE:
        bursts, started = state.bursts + 1, now
    if phase == Phase.IDLE:
        started, target = None, 0
    since = now if phase != state.phase else state.phase_since
    timeout = spec.burst.provision_timeout
    if (
        phase == Phase.RELEASING
        and leaving
        and state.phase == Phase.RELEASING
        and now - state.phase_since >= timeout
    ):
        gone = ", ".join(
            f"{p}: {world.pools[p].existing} exist, {final[p]} wanted"
            for p in final
            if world.pools[p].existing > final[p]
        )
        plan.alert(
            "InstancesNotReleased",
            Severity.CRITICAL,
            f"cloud instances still exist (and bill) after release: {gone}",
        )
    elif phase == Phase.RELEASING and leaving:
        plan.wake(state.phase_since + timeout if state.phase == Phase.RELEASING else now + timeout, now)
    return PhaseStep(phase, since, bursts, started, target)


def _releasing(final: Mapping[str, int], previous: Mapping[str, int]) -> bool:
    return any(final[p] < previous[p] for p in final)
