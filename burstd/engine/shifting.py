"""Moving the cloud share step by step, and writing the static weights that give each step."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from burstd.engine.capacity import Demand
from burstd.engine.plan import Plan
from burstd.engine.share import current_share, split_for, step_size
from burstd.engine.statics import statics
from burstd.model.actions import SetWeights
from burstd.model.state import BurstState
from burstd.model.world import WorkloadState, World
from burstd.policy.spec import BurstPolicy


def shift(
    state: BurstState,
    changes: dict[str, Any],
    plan: Plan,
    policy: BurstPolicy,
    world: World,
    demand: Demand,
    room: Mapping[str, int],
    kept: Mapping[str, int],
    ready: Mapping[str, int],
    desired: int,
    now: float,
) -> tuple[int, bool]:
    """Move the cloud share one step towards ``desired`` and write the weights that give it.

    Records the state changes in ``changes`` and returns (the cloud share now, whether it is settled:
    close enough to ``desired`` that no move is due). ``kept`` is the Ready capacity that stays, per
    cloud cluster; ``ready`` counts nodes on their way out too. Steps honour ``maxStep`` and
    ``interval``, except when Ready capacity fell below the share (nodes were lost): then the share
    falls back at once.
    """
    spec = policy.spec
    cloud = set(kept)
    by_key = {w.key: w for w in world.workloads}
    keys = list(statics(policy).keys)
    current = {
        k: current_share(
            by_key[k].desired_replicas,
            state.weights.get(k),
            cloud,
            sum(n for c, n in by_key[k].replicas_by_cluster.items() if c in cloud),
        )
        for k in keys
    }
    # What the weights send to the cloud now, at today's demand (not at the demand they were written for).
    changes["shifted"] = current
    share = sum(current.values())
    replicas = demand.replicas
    capacity = sum(ready.values())
    listed = any(c in cloud for k in keys for c in state.weights.get(k, {}))
    if desired == 0 and share == 0 and listed:
        # Nothing may go to the cloud: take the cloud clusters out of the weights, even at 0 replicas,
        # so that returning demand does not land on nodes that are gone.
        _write(
            changes,
            plan,
            state,
            keys,
            by_key,
            dict.fromkeys(keys, 0),
            room,
            kept,
            ready,
            "no cloud capacity kept: weights back to the base clusters only",
        )
        return 0, True
    if replicas == 0 or desired == share:
        return share, True
    tolerance = max(1, math.ceil(0.02 * replicas))
    base_short = share < min(replicas - sum(room.values()), sum(kept.values()))
    must = share > capacity or (desired == 0 and share > 0) or base_short or abs(desired - share) >= tolerance
    if not must:
        return share, True
    going_up = desired > share
    if share > capacity:
        # Safety: Ready cloud capacity fell below the share (nodes lost); move back now, unlimited.
        new_share = max(desired, min(share, capacity)) if desired < share else capacity
        plan.reasons.append(f"cloud capacity {capacity} below the cloud share {share}: shifting back now")
    else:
        interval = spec.shift.interval if going_up else spec.drain.interval
        if state.last_shift_at is not None and now - state.last_shift_at < interval:
            plan.wake(state.last_shift_at + interval, now)
            plan.reasons.append(f"{'shift' if going_up else 'drain'} waits for its interval ({interval:g}s)")
            return share, False
        step = step_size(spec.shift.max_step if going_up else spec.drain.max_step, replicas)
        new_share = min(desired, share + step) if going_up else max(desired, share - step)
    if new_share == share:
        return share, False
    per_workload = _per_workload(new_share, {k: by_key[k].desired_replicas for k in keys})
    _write(
        changes,
        plan,
        state,
        keys,
        by_key,
        per_workload,
        room,
        kept,
        ready,
        f"cloud share {share} -> {new_share} of {replicas} replicas (target {desired}, Ready cloud "
        f"capacity {capacity})",
    )
    changes.update(last_shift_at=now, last_shift_direction=1 if new_share > share else -1)
    return new_share, new_share == desired


def _write(
    changes: dict[str, Any],
    plan: Plan,
    state: BurstState,
    keys: list[str],
    by_key: Mapping[str, WorkloadState],
    per_workload: Mapping[str, int],
    room: Mapping[str, int],
    kept: Mapping[str, int],
    ready: Mapping[str, int],
    reason: str,
) -> None:
    """Emit SetWeights for each workload whose weights change, and record them."""
    weights = dict(state.weights)
    for key in keys:
        wl = by_key[key]
        split = split_for(wl.desired_replicas, per_workload[key], room, kept, ready)
        new = split.weights or dict.fromkeys(sorted(room), 1)
        if new != dict(state.weights.get(key, {})):
            plan.actions.append(
                SetWeights(
                    key,
                    tuple(new.items()),
                    tuple(sorted(split.intended.items())),
                    wl.desired_replicas,
                    reason,
                )
            )
            weights[key] = new
    plan.reasons.append(reason)
    changes.update(weights=weights, shifted=dict(per_workload))


def _per_workload(total: int, desired: Mapping[str, int]) -> dict[str, int]:
    whole = sum(desired.values())
    if whole == 0:
        return dict.fromkeys(desired, 0)
    out = {k: min(v, math.floor(total * v / whole)) for k, v in desired.items()}
    left = total - sum(out.values())
    for k in sorted(desired, key=lambda k: -desired[k]):
        if left <= 0:
            break
        add = min(left, desired[k] - out[k])
        out[k] += add
        left -= add
    return out
