"""Sizing: the cloud replicas the burst should hold. The cloud holds what the base's room cannot (the
expected demand above it) plus ``headroom`` of that part; it grows at once, and shrinks only once the
scale-in trigger held, ``minBurstDuration`` passed and the stabilization window's peak allows it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from burstd.engine.capacity import cloud_part, room_blind
from burstd.engine.forecast import peak, peak_leaves
from burstd.engine.plan import Plan
from burstd.engine.pools import preference
from burstd.engine.stages.cloud_answers import CloudAnswers
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.outlook import Outlook
from burstd.engine.stages.signals import Signals
from burstd.model.state import Phase
from burstd.model.world import World


@dataclass(frozen=True, slots=True)
class Sizing:
    wanted: int  # cloud replicas today's (expected) demand needs
    target: int  # the cloud target: ``wanted``, or held above it while scale-in is not due


def size(
    world: World,
    seen: Observed,
    signals: Signals,
    outlook: Outlook,
    cloud: CloudAnswers,
    plan: Plan,
    now: float,
) -> Sizing:
    policy = seen.policy
    spec = policy.spec
    state = seen.state
    out, inn = signals.out, signals.inn
    base_total = signals.base_total
    replicas, expected, floor_nodes = outlook.replicas, outlook.expected, outlook.floor_nodes
    history = outlook.history
    window = spec.drain.stabilization_window
    # The cloud holds what the base's room cannot (the expected demand above it) plus `headroom` of that
    # part: no spare while the base absorbs the demand, and spare in proportion to the burst.
    wanted = cloud_part(expected, base_total, spec.burst.headroom)
    target = state.target_cloud_replicas
    # Nodes above the pools' minimum with no burst recorded (a crash before the state save, a state lost or
    # from an older save): a burst is in progress and is sized from demand now, not started or ignored.
    adopted = state.phase == Phase.IDLE and any(
        max(world.pools[p.name].desired, world.pools[p.name].existing) > p.nodes.min for p in spec.burst.pools
    )
    if adopted:
        plan.reasons.append(
            "cloud nodes found with no burst recorded: taking them over as a burst in progress"
        )
    if state.phase == Phase.IDLE and not adopted:
        if out.held or floor_nodes > 0:
            beyond = room_blind(out) if out.held and wanted == 0 else ()
            if beyond:
                # A signal the base's room does not explain (a PromQL query, replicas the scheduler could
                # not place) asks for capacity the sizing cannot see: one node.
                first = next((p for p in preference(policy, world.pools) if cloud.usable[p.name]), None)
                wanted = seen.per_node[first.name] if first is not None else 0
                plan.reasons.append(
                    f"scale-out trigger held on {', '.join(beyond)} while the base still has room: one node"
                )
            if out.held and wanted == 0 and not beyond and not floor_nodes:
                # A trigger on the base's own load (95% requested) buys nothing the room still holds.
                target = 0
                plan.reasons.append(
                    f"scale-out trigger held, but the base's room ({base_total} replicas) holds the "
                    f"{'expected ' if expected > replicas else ''}demand ({math.ceil(expected - 1e-9)}): "
                    "no cloud node yet"
                )
            else:
                target = wanted
                plan.reasons.append(
                    "scale-out: " + "; ".join(out.detail) if out.held else "scheduled pre-warm"
                )
        else:
            target = 0
    elif wanted > target:
        plan.reasons.append(
            f"grow: {replicas} replicas desired, base holds {base_total}, cloud target {target} -> {wanted}"
        )
        target = wanted
    elif wanted < target:
        min_end = (state.burst_started_at or now) + spec.drain.min_burst_duration
        if not inn.held:
            plan.reasons.append(
                f"could shrink to {wanted} cloud replicas; scale-in not held: " + "; ".join(inn.detail)
            )
        elif now < min_end:
            plan.reasons.append(f"scale-in held; minBurstDuration keeps the burst until {min_end:g}")
            plan.wake(min_end, now)
        else:
            # The highest demand of the stabilization window sets how far the target may fall.
            recent = peak(history, now - window) or 0.0
            floor_wanted = cloud_part(max(recent, expected), base_total, spec.burst.headroom)
            if floor_wanted < target:
                plan.reasons.append(
                    f"scale-in: {'; '.join(inn.detail)}; cloud target {target} -> "
                    f"{floor_wanted} (peak of the last {window:g}s: {recent:.0f} replicas)"
                )
                target = floor_wanted
                if floor_wanted > wanted:  # the window's peak holds it up: it falls again when it leaves
                    plan.wake(peak_leaves(history, now - window, window), now)
            else:
                plan.reasons.append(
                    f"scale-in held; the peak of the last {window:g}s ({recent:.0f} "
                    f"replicas) still needs {target} cloud replicas"
                )
                plan.wake(peak_leaves(history, now - window, window), now)
    return Sizing(wanted, target)
