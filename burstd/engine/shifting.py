"""Moving the cloud share step by step, and writing the static weights that give each step."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from burstd.engine.capacity import Demand
from burstd.engine.plan import Plan
from burstd.engine.share import current_share, split_for, step_size
from burstd.engine.statics import statics
from burstd.model.actions import SetWeights
from burstd.model.state import BurstState
from burstd.model.world import WorkloadState, World
from burstd.policy.spec import BurstPolicy


@dataclass(frozen=True, slots=True)
class Shift:
    """The cloud share after one step, and the state it leaves."""

    share: int  # the cloud share now
    desired: int  # the cloud share the Ready capacity that stays allows
    settled: bool  # no move is due
    shifted: Mapping[str, int]  # the next state's cloud replicas per workload
    weights: Mapping[str, Mapping[str, int]]  # the next state's weights
    last_shift_at: float | None
    last_shift_direction: int


def shift(
    state: BurstState,
    plan: Plan,
    policy: BurstPolicy,
    world: World,
    demand: Demand,
    room: Mapping[str, int],
    kept: Mapping[str, int],
    ready: Mapping[str, int],
    desired: int,
    now: float,
) -> Shift:
    """Move the cloud share one step towards ``desired`` and write the weights that give it.

    Returns the cloud share now, whether it is settled (no move is due) and the state changes; the
    actions, reasons and wake-up times go to ``plan``. A move is due only when the current weights
    leave replicas without room at today's demand (the base's part above its room while the cloud has
    Ready room; the cloud's part above the Ready capacity that stays, while nodes leave or the base has
    room to take them back) or the burst ends: demand noise inside the spare moves nothing. ``kept`` is the Ready capacity that stays, per
    cloud cluster; ``ready`` counts nodes on their way out too. Steps honour ``maxStep`` and
    ``interval``, except when Ready capacity fell below the share (nodes were lost): then the share
    falls back at once.

    A retiring workload (removed from the policy) moves back to the base: by ``drain.maxStep`` of its
    replicas once ``drain.interval`` has passed since the last move, until its weights list no cloud
    cluster; the other workloads may take up the cloud share it leaves.
    """
    spec = policy.spec
    cloud = set(kept)
    by_key = {w.key: w for w in world.workloads}
    keys = list(statics(policy).keys)
    # What the weights send to the cloud now, at today's demand (not at the demand they were written for).
    current: dict[str, int] = {}
    for k in keys:
        wl, written = by_key[k], state.weights.get(k)
        # What is observed there counts only while burstd has written no weights.
        observed = 0 if written else sum(n for c, n in wl.replicas_by_cluster.items() if c in cloud)
        current[k] = current_share(
            wl.desired_replicas, written, cloud, observed, descending=wl.ties_descending
        )

    def stay(share: int, settled: bool) -> Shift:
        """No move: the weights stay as written."""
        return Shift(
            share,
            desired,
            settled,
            current,
            state.weights,
            state.last_shift_at,
            state.last_shift_direction,
        )

    share = sum(current.values())
    replicas = demand.replicas
    capacity = sum(ready.values())
    retiring = [
        k
        for k in keys
        if k in state.retiring_workloads
        and (current[k] > 0 or any(c in cloud for c in state.weights.get(k, {})))
    ]
    if desired == 0 and share == 0 and any(c in cloud for k in keys for c in state.weights.get(k, {})):
        # Nothing may go to the cloud: take the cloud clusters out of the weights, even at 0 replicas,
        # so that returning demand does not land on nodes that are gone.
        weights, shifted = _write(
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
        return Shift(0, desired, True, shifted, weights, state.last_shift_at, state.last_shift_direction)
    if not retiring and (replicas == 0 or desired == share):
        return stay(share, True)
    # Demand noise must not reshuffle replicas: the weights change only when the split they give at
    # today's demand leaves replicas without room (the base's part above its room while the cloud has
    # room, the cloud's part above its Ready capacity), when cloud capacity leaves, or when the burst
    # ends. The new split is the balanced one, whose spare on both sides absorbs the next rises.
    base_short = share < min(replicas - sum(room.values()), sum(kept.values()))
    # Replicas on nodes on their way out (a lower target, a retiring pool) must leave, however few; cloud
    # replicas beyond the Ready capacity move back only to room on the base (while both sides are full
    # they wait where the nodes are coming).
    over = share > sum(kept.values())
    leaving = over and (capacity > sum(kept.values()) or replicas - share < sum(room.values()))
    must = (desired == 0 and share > 0) or base_short or leaving
    if not must and not retiring:
        return stay(share, True)
    going_up = must and desired > share
    since = now - state.last_shift_at if state.last_shift_at is not None else math.inf
    # The cloud replicas each retiring workload keeps after this round.
    fixed = {k: current[k] for k in retiring}
    if share > capacity:
        # Safety: Ready cloud capacity fell below the share (nodes lost); move back now, unlimited.
        new_share = max(desired, min(share, capacity)) if desired < share else capacity
        plan.reasons.append(f"cloud capacity {capacity} below the cloud share {share}: shifting back now")
        fixed = dict.fromkeys(retiring, 0)
    else:
        interval = spec.shift.interval if going_up else spec.drain.interval
        if since < interval:
            plan.wake(now - since + interval, now)
            plan.reasons.append(f"{'shift' if going_up else 'drain'} waits for its interval ({interval:g}s)")
            return stay(share, False)
        if must:
            step = step_size(spec.shift.max_step if going_up else spec.drain.max_step, replicas)
            new_share = min(desired, share + step) if going_up else max(desired, share - step)
        else:
            new_share = share
        if since >= spec.drain.interval:
            for k in retiring:
                back = step_size(spec.drain.max_step, by_key[k].desired_replicas)
                fixed[k] = max(0, current[k] - back)
        elif retiring:
            plan.wake(now - since + spec.drain.interval, now)
    # A retiring workload at 0 whose weights still list a cloud cluster gets weights on the base only.
    if new_share == share and all(0 < fixed[k] == current[k] for k in retiring):
        return stay(share, False)
    if retiring:
        plan.reasons.append(
            "retiring workloads back to the base: "
            + ", ".join(f"{k} {current[k]} -> {fixed[k]} cloud replicas" for k in retiring)
        )
    per_workload = _per_workload(new_share, {k: by_key[k].desired_replicas for k in keys}, fixed)
    new_share = sum(per_workload.values())
    weights, shifted = _write(
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
    direction = 1 if new_share > share else -1
    return Shift(new_share, desired, new_share == desired, shifted, weights, now, direction)


def _write(
    plan: Plan,
    state: BurstState,
    keys: list[str],
    by_key: Mapping[str, WorkloadState],
    per_workload: Mapping[str, int],
    room: Mapping[str, int],
    kept: Mapping[str, int],
    ready: Mapping[str, int],
    reason: str,
) -> tuple[dict[str, Mapping[str, int]], dict[str, int]]:
    """Emit SetWeights for each workload whose weights change; returns the new weights and cloud replicas
    per workload."""
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
    return weights, dict(per_workload)


def _per_workload(
    total: int, desired: Mapping[str, int], fixed: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Split ``total`` cloud replicas over the workloads in proportion to their desired replicas (never
    more than a workload's desired replicas); workloads in ``fixed`` get exactly that (at most ``total``)."""
    out: dict[str, int] = {}
    for k, n in (fixed or {}).items():
        out[k] = min(n, total - sum(out.values()))
    free = {k: v for k, v in desired.items() if k not in out}
    total -= sum(out.values())
    whole = sum(free.values())
    if whole == 0:
        return {**out, **dict.fromkeys(free, 0)}
    out.update({k: min(v, math.floor(total * v / whole)) for k, v in free.items()})
    left = total - sum(out[k] for k in free)
    for k in sorted(free, key=lambda k: -free[k]):
        if left <= 0:
            break
        add = min(left, desired[k] - out[k])
        out[k] += add
        left -= add
    return out
