"""``decide``: one evaluation of one policy. Pure: the world, the policy, the state and the time in;
the next state, the plan and the reasons out.

The burst is reconciled rather than scripted: each call sizes the burst from demand, allocates nodes to
pools, steps the cloud share towards what Ready capacity allows, and then names the phase by what is in
flight (IDLE -> PROVISIONING -> SHIFTING -> BURSTING -> DRAINING -> RELEASING -> IDLE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from burstd.engine.capacity import (
    Demand,
    base_room,
    builtin_signals,
    cloud_part,
    demand_of,
    replicas_per_node,
    room_blind,
)
from burstd.engine.cloud import alert_cloud, blocked_pools, quota_ceilings
from burstd.engine.forecast import forecast, keep_for, next_change, peak, peak_leaves, record
from burstd.engine.ledger import accrue, currencies_of, track_burst
from burstd.engine.plan import Plan
from burstd.engine.pools import Limits, allocate, known_prices, preference
from burstd.engine.retire import effective, finish
from burstd.engine.scaling import scale
from burstd.engine.share import balanced
from burstd.engine.shifting import shift
from burstd.engine.statics import statics
from burstd.engine.triggers import evaluate
from burstd.engine.windows import window_floor
from burstd.model.actions import Hold, Severity
from burstd.model.decision import Decision, HoldReason
from burstd.model.state import BurstState, Phase
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy


def decide(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    # Retiring pools and workloads (removed from the policy, see engine.retire) are decided on with the
    # policy; one the world no longer shows is gone (its object was deleted) and is forgotten below.
    seen = _without_unseen(world, state)
    forgotten = {*state.retiring_pools, *state.retiring_workloads} - {
        *seen.retiring_pools,
        *seen.retiring_workloads,
    }
    policy = effective(policy, seen, gone=forgotten)
    spec = policy.spec
    pools = spec.burst.pools
    prices = known_prices(pools, world.pools)
    ledger = accrue(state.ledger, world.pools, prices, now, currencies_of(pools), state.burst_started_at)
    plan = Plan([], [], [], set(), state.alerts)

    demand = demand_of(world, policy)
    missing = _missing(world, policy, demand)
    if demand is None or missing:
        return _hold(
            replace(state, ledger=ledger),
            plan,
            HoldReason.NOT_OBSERVED,
            f"not observed yet: {', '.join(missing)}; holding",
        )
    stale = _stale(world, policy, demand, now)
    if stale:
        # A threshold must be seen holding on fresh data for its whole `for`: restart every timer.
        return _hold(
            replace(state, holding_since={}, ledger=ledger),
            plan,
            HoldReason.STALE,
            f"observations older than signalMaxAge "
            f"({spec.safety.signal_max_age:g}s): {', '.join(stale)}; holding (no scale-in on stale data)",
        )
    for name in sorted(set(state.retiring_pools) - set(seen.retiring_pools)):
        plan.reasons.append(f"retiring pool {name} is no longer observed (its object is gone): forgotten")
    for key in sorted(set(state.retiring_workloads) - set(seen.retiring_workloads)):
        plan.reasons.append(f"retiring workload {key} is no longer observed: forgotten")
    state = _adopt_own_weights(world, seen, now)
    drift = _weights_drift(world, policy, state)
    if drift:
        plan.alert(
            "WeightsChangedExternally",
            Severity.WARNING,
            f"staticWeightList of {drift} was changed by someone else; burstd holds this policy and does "
            "not fight: restore burstd's weights or reset its state to resume",
        )
        return _hold(
            replace(state, ledger=ledger),
            plan,
            HoldReason.WEIGHTS_CHANGED_EXTERNALLY,
            f"weights of {drift} changed externally; holding",
        )

    # --- signals and triggers -------------------------------------------------------------------
    max_age = spec.safety.signal_max_age
    room = base_room(world, policy, demand)
    signals = {**world.signals, **builtin_signals(world, policy, demand, room)}
    out = evaluate("scaleOut", spec.triggers.scale_out, signals, state.holding_since, now, max_age)
    inn = evaluate("scaleIn", spec.triggers.scale_in, signals, state.holding_since, now, max_age)
    plan.wake(out.wake_at, now)
    plan.wake(inn.wake_at, now)

    per_node = {p.name: replicas_per_node(p, demand.request) for p in pools}
    base_total = sum(room.values())
    replicas = demand.replicas
    window = spec.drain.stabilization_window
    history = record(
        state.history,
        now,
        float(replicas),
        keep_for(spec.predictive, window),
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

    # --- pool health: stock-outs, failed launches, provisioning timeouts ---------------------------
    # What each pool holds now is what it is observed to hold (spec.replicas), never what the state last
    # recorded: a crash between an action and the state save, or a state from an older save, must not
    # make burstd forget nodes (or ask for them twice).
    previous = {p.name: world.pools[p.name].desired for p in pools}
    backoff = {k: v for k, v in state.backoff_until.items() if v > now}
    waiting = [p.name for p in pools if previous[p.name] > world.pools[p.name].ready]
    # A provisioning clock times the request the state recorded while the pool waits for it; a pool that
    # waits for nothing, or now asks for another count (a request the state never saw: a crash before the
    # save, a state from an older save), starts anew.
    clocks = {
        p: since
        for p, since in state.provisioning_since.items()
        if p in waiting and state.pool_targets.get(p) == world.pools[p].desired
    }
    for name in waiting:
        pool = world.pools[name]
        why = None
        if pool.stock_out:
            why = "out of stock"
        elif pool.failed > 0:
            why = f"{pool.failed} node launch(es) failed"
        elif name in clocks and now - clocks[name] >= spec.burst.provision_timeout:
            why = f"nodes not Ready within provisionTimeout ({spec.burst.provision_timeout:g}s)"
        if why and name not in backoff:
            backoff[name] = now + spec.safety.stockout_backoff
            plan.reasons.append(f"pool {name}: {why}; skipped for {spec.safety.stockout_backoff:g}s")
    for p in pools:
        if world.pools[p.name].stock_out and p.name not in backoff:
            backoff[p.name] = now + spec.safety.stockout_backoff
    for p in pools:
        if p.name in backoff:
            # Cancel launches that will not come; keep what is Ready.
            previous[p.name] = max(p.nodes.min, min(previous[p.name], world.pools[p.name].ready))
            plan.wake(backoff[p.name], now)
    # --- the cloud's answers: provider errors, unpriced pools, quota --------------------------------
    blocked = blocked_pools(pools, world.pools, prices)
    for name, why in sorted(blocked.items()):
        plan.reasons.append(f"pool {name} is not grown: {why}")
    alert_cloud(plan, pools, world.pools)
    ceilings = quota_ceilings(pools, world.pools)
    usable = {p.name: p.name not in backoff and p.name not in blocked and per_node[p.name] > 0 for p in pools}

    # --- sizing: the cloud replicas the burst should hold ------------------------------------------
    # The cloud holds what the base's room cannot (the expected demand above it) plus `headroom` of that
    # part: no spare while the base absorbs the demand, and spare in proportion to the burst.
    wanted = cloud_part(expected, base_total, spec.burst.headroom)
    recent = peak(history, now - window)
    floor_wanted = cloud_part(max(recent or 0.0, expected), base_total, spec.burst.headroom)
    target = state.target_cloud_replicas
    # Nodes above the pools' minimum with no burst recorded (a crash before the state save, a state lost or
    # from an older save): a burst is in progress and is sized from demand now, not started or ignored.
    adopted = state.phase == Phase.IDLE and any(
        max(world.pools[p.name].desired, world.pools[p.name].existing) > p.nodes.min for p in pools
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
                first = next((p for p in preference(policy, world.pools) if usable[p.name]), None)
                wanted = per_node[first.name] if first is not None else 0
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
        elif floor_wanted < target:
            plan.reasons.append(
                f"scale-in: {'; '.join(inn.detail)}; cloud target {target} -> "
                f"{floor_wanted} (peak of the last {window:g}s: {recent or 0:.0f} replicas)"
            )
            target = floor_wanted
            if floor_wanted > wanted:  # the window's peak holds it up: it falls again when that peak leaves
                plan.wake(peak_leaves(history, now - window, window), now)
        else:
            plan.reasons.append(
                f"scale-in held; the peak of the last {window:g}s ({recent or 0:.0f} "
                f"replicas) still needs {target} cloud replicas"
            )
            plan.wake(peak_leaves(history, now - window, window), now)

    node_cap = _min_opt(spec.limits.max_cloud_nodes, world.budget.max_nodes)
    node_limit = None if node_cap is None else int(node_cap)
    cost_limit = _min_opt(
        spec.limits.max_hourly_cost.amount if spec.limits.max_hourly_cost else None,
        world.budget.max_hourly_cost,
    )
    order = preference(policy, world.pools)
    limits = Limits(node_limit, cost_limit)
    alloc = allocate(target, floor_nodes, previous, order, per_node, usable, prices, limits, ceilings)
    targets = alloc.targets
    capacity_all = sum(targets[p] * per_node[p] for p in targets)
    if alloc.capped_by and (target > capacity_all or floor_nodes > sum(targets.values())):
        code = _capped_code(alloc.capped_by)
        plan.alert(
            code,
            Severity.WARNING,
            f"cloud capacity capped by {alloc.capped_by}: wanted {target} replicas, can hold {capacity_all}",
        )
        target = min(target, capacity_all)
    need = min(target, wanted)
    if need < target:
        # The target is held above today's demand (scale-in not yet due): it keeps the nodes there are but
        # buys none beyond what today's demand needs (nodes lost, or a target from an older state).
        up = allocate(need, floor_nodes, previous, order, per_node, usable, prices, limits, ceilings).targets
        targets = {p: n if n <= previous[p] else min(n, max(previous[p], up[p])) for p, n in targets.items()}

    # --- the cloud share ---------------------------------------------------------------------------
    cloud_clusters = statics(policy).cloud_clusters
    kept_by_cluster: dict[str, int] = dict.fromkeys(cloud_clusters, 0)
    ready_by_cluster: dict[str, int] = dict.fromkeys(cloud_clusters, 0)
    for p in pools:
        ready = world.pools[p.name].ready
        kept_by_cluster[p.cluster] += min(ready, targets[p.name]) * per_node[p.name]
        ready_by_cluster[p.cluster] += ready * per_node[p.name]
    ready_capacity = sum(kept_by_cluster.values())
    desired_share = balanced(replicas, base_total, ready_capacity)
    changes: dict[str, Any] = {
        "ledger": ledger,
        "holding_since": {**out.holding_since, **inn.holding_since},
        "history": history,
        "backoff_until": backoff,
        "target_cloud_replicas": target,
    }
    if target == 0 and floor_nodes == 0:
        desired_share = 0  # no burst wanted: nothing runs on the cloud, not even on minimum nodes
    settled = True
    if spec.shift.mode == "static-weights":
        share, settled = shift(
            state,
            changes,
            plan,
            policy,
            world,
            demand,
            room,
            kept_by_cluster,
            ready_by_cluster,
            desired_share,
            now,
        )
    else:
        # Overflow mode: Karmada spills replicas onto the cloud by itself as capacity shows up.
        share = demand.on_cloud
        desired_share = min(desired_share, share)
    # --- nodes: up at once, down only once the replicas have left them ------------------------------
    final = scale(state, changes, plan, policy, world, targets, previous, per_node, now)
    # Each pool's provisioning clock runs from the first decision that left it waiting for nodes.
    clocks = {p: clocks.get(p, now) for p in final if final[p] > world.pools[p].ready and p not in backoff}
    changes["provisioning_since"] = clocks
    for since in clocks.values():
        plan.wake(since + spec.burst.provision_timeout, now)

    # --- the phase ---------------------------------------------------------------------------------
    mins = statics(policy).mins
    leaving = any(world.pools[p].existing > final[p] for p in final)
    if target == 0 and floor_nodes == 0 and share == 0 and final == mins and not leaving:
        phase = Phase.IDLE
    elif (share > desired_share and not settled) or any(final[p] > targets[p] for p in final):
        phase = Phase.DRAINING  # replicas still to move back before nodes can go
    elif leaving or _releasing(final, previous):
        phase = Phase.RELEASING
    elif any(final[p] > world.pools[p].ready for p in final):
        phase = Phase.PROVISIONING
    elif share < desired_share and not settled:
        phase = Phase.SHIFTING
    else:
        phase = Phase.BURSTING
    if phase == Phase.IDLE and state.phase != Phase.IDLE:
        plan.reasons.append("burst over: replicas back on the base, cloud nodes released")
    if state.phase == Phase.IDLE and phase != Phase.IDLE:
        changes.update(bursts=state.bursts + 1, burst_started_at=now)
    if phase == Phase.IDLE:
        changes.update(burst_started_at=None, target_cloud_replicas=0)
    if phase != state.phase:
        changes.update(phase=phase, phase_since=now)
    if (
        phase == Phase.RELEASING
        and leaving
        and state.phase == Phase.RELEASING
        and now - state.phase_since >= spec.burst.provision_timeout
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
        plan.wake(
            state.phase_since + spec.burst.provision_timeout
            if state.phase == Phase.RELEASING
            else now + spec.burst.provision_timeout,
            now,
        )
    changes["ledger"] = track_burst(ledger, changes.get("burst_started_at", state.burst_started_at), now)
    changes["alerts"] = tuple(sorted(plan.alerts))
    new_state = replace(state, **changes)
    new_state = finish(new_state, *_retired(world, policy, new_state, final, plan))
    if not plan.actions:
        plan.actions.append(Hold(plan.reasons[-1] if plan.reasons else f"{phase.value}: nothing to change"))
    return Decision(new_state, tuple(plan.actions), tuple(plan.reasons), min(plan.wakes, default=None))


def _without_unseen(world: World, state: BurstState) -> BurstState:
    """``state`` without the retiring pools and workloads the world does not show (their objects are
    gone: nothing left to release or move)."""
    keys = {w.key for w in world.workloads}
    pools = {n for n in state.retiring_pools if n not in world.pools}
    workloads = {k for k in state.retiring_workloads if k not in keys}
    return finish(state, pools, workloads)


def _retired(
    world: World, policy: BurstPolicy, state: BurstState, final: Mapping[str, int], plan: Plan
) -> tuple[set[str], set[str]]:
    """Retiring pools seen empty, and retiring workloads whose weights and replicas are back on the base."""
    pools = {
        n
        for n in state.retiring_pools
        if final.get(n) == 0 and world.pools[n].desired == 0 and world.pools[n].existing == 0
    }
    cloud = set(statics(policy).cloud_clusters)
    by_key = {w.key: w for w in world.workloads}
    workloads = {
        k
        for k in state.retiring_workloads
        if k in by_key
        and state.shifted.get(k, 0) == 0
        and not cloud & set(state.weights.get(k, {}))
        and not any(n > 0 for c, n in by_key[k].replicas_by_cluster.items() if c in cloud)
    }
    for name in sorted(pools):
        plan.reasons.append(f"retiring pool {name} is empty: forgotten")
    for key in sorted(workloads):
        plan.reasons.append(f"retiring workload {key} is back on the base: burstd no longer manages it")
    return pools, workloads


def _adopt_own_weights(world: World, state: BurstState, now: float) -> BurstState:
    """Weights owned by burstd alone that differ from the state's were written by burstd after its last
    save (a crash in between): take them as burstd's. The next move waits its interval from now."""
    adopted = {
        w.key: dict(w.weights)
        for w in world.workloads
        if w.weights_by_burstd and w.weights and dict(w.weights) != dict(state.weights.get(w.key, {}))
    }
    if not adopted:
        return state
    return replace(state, weights={**state.weights, **adopted}, last_shift_at=now)


def _releasing(final: Mapping[str, int], previous: Mapping[str, int]) -> bool:
    return any(final[p] < previous[p] for p in final)


def _missing(world: World, policy: BurstPolicy, demand: Demand | None) -> list[str]:
    out = []
    if demand is None:
        keys = {w.key for w in world.workloads}
        out += [
            f"workload {w.propagation_policy.key}"
            for w in policy.spec.workloads
            if w.propagation_policy.key not in keys
        ]
    out += [f"base cluster {c}" for c in policy.spec.base.clusters if c not in world.clusters]
    out += [f"pool {p.name}" for p in policy.spec.burst.pools if p.name not in world.pools]
    return out


def _stale(world: World, policy: BurstPolicy, demand: Demand, now: float) -> list[str]:
    max_age = policy.spec.safety.signal_max_age
    out = []
    if now - demand.observed_at > max_age:
        out.append("workloads")
    out += [
        f"cluster {c}" for c in policy.spec.base.clusters if now - world.clusters[c].observed_at > max_age
    ]
    out += [
        f"pool {p.name}" for p in policy.spec.burst.pools if now - world.pools[p.name].observed_at > max_age
    ]
    return out


def _weights_drift(world: World, policy: BurstPolicy, state: BurstState) -> str | None:
    if policy.spec.shift.mode != "static-weights":
        return None
    for w in world.workloads:
        written = state.weights.get(w.key)
        if written and w.weights and dict(w.weights) != dict(written):
            return w.key
    return None


def _hold(state: BurstState, plan: Plan, why: HoldReason, reason: str) -> Decision:
    """Change nothing this round: ``why`` is what the runtime acts on, ``reason`` what people read."""
    plan.reasons.append(reason)
    plan.actions.append(Hold(reason))
    alerts = tuple(sorted(plan.alerts | (set(state.alerts) - {"WeightsChangedExternally"})))
    return Decision(replace(state, alerts=alerts), tuple(plan.actions), tuple(plan.reasons), None, (why,))


def _capped_code(capped_by: str) -> str:
    """The alert code for what capped the cloud capacity."""
    if capped_by.startswith("max"):
        return "LimitReached"
    if capped_by.startswith("cloud quota"):
        return "CloudQuotaExhausted"
    return "ProvisioningFailed"


def _min_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
