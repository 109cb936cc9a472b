"""``decide``: one evaluation of one policy. Pure: the world, the policy, the state and the time in;
the next state, the plan and the reasons out.

The burst is reconciled rather than scripted: each call sizes the burst from demand, allocates nodes to
pools, steps the cloud share towards what Ready capacity allows, and then names the phase by what is in
flight (IDLE -> PROVISIONING -> SHIFTING -> BURSTING -> DRAINING -> RELEASING -> IDLE).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from burstd.engine.capacity import (
    Demand,
    base_room,
    builtin_signals,
    demand_of,
    replicas_by_cluster,
    replicas_per_node,
)
from burstd.engine.forecast import forecast, keep_for, peak, peak_leaves, record
from burstd.engine.ledger import accrue
from burstd.engine.pools import Limits, allocate, pick_removals, preference, price_of
from burstd.engine.share import balanced, current_share, split_for, step_size
from burstd.engine.statics import statics
from burstd.engine.triggers import evaluate
from burstd.engine.windows import window_floor
from burstd.model.actions import Action, Alert, Hold, MarkMachines, Rebalance, ScalePool, SetWeights, Severity
from burstd.model.decision import Decision
from burstd.model.state import BurstState, Phase
from burstd.model.world import WorkloadState, World
from burstd.policy.spec import BurstPolicy


@dataclass(slots=True)
class _Plan:
    """Scratch space for one evaluation."""

    actions: list[Action]
    reasons: list[str]
    wakes: list[float]
    alerts: set[str]
    raised: tuple[str, ...]

    def wake(self, at: float | None, now: float) -> None:
        if at is not None and at > now:
            self.wakes.append(at)

    def alert(self, code: str, severity: Severity, reason: str) -> None:
        """Raise an alert; the Alert action is emitted only when the code was not already raised."""
        self.alerts.add(code)
        if code not in self.raised:
            self.actions.append(Alert(severity, code, reason))
        self.reasons.append(reason)


def decide(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    spec = policy.spec
    pools = spec.burst.pools
    prices = {p.name: price_of(p, world.pools.get(p.name)) for p in pools}
    ledger = accrue(state.ledger, world.pools, prices, now)
    plan = _Plan([], [], [], set(), state.alerts)

    demand = demand_of(world, policy)
    missing = _missing(world, policy, demand)
    if demand is None or missing:
        return _hold(replace(state, ledger=ledger), plan, f"not observed yet: {', '.join(missing)}; holding")
    stale = _stale(world, policy, demand, now)
    if stale:
        # A threshold must be seen holding on fresh data for its whole `for`: restart every timer.
        return _hold(
            replace(state, holding_since={}, ledger=ledger),
            plan,
            f"observations older than signalMaxAge "
            f"({spec.safety.signal_max_age:g}s): {', '.join(stale)}; holding (no scale-in on stale data)",
        )
    drift = _weights_drift(world, policy, state)
    if drift:
        plan.alert(
            "WeightsChangedExternally",
            Severity.WARNING,
            f"staticWeightList of {drift} was changed by someone else; burstd holds this policy and does "
            "not fight: restore burstd's weights or reset its state to resume",
        )
        return _hold(replace(state, ledger=ledger), plan, f"weights of {drift} changed externally; holding")

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
    history = record(state.history, now, float(replicas), keep_for(spec.predictive, window))
    expected = float(replicas)
    if spec.predictive.enabled:
        expected = forecast(history, now, float(replicas), spec.predictive)
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
    previous = {
        p.name: state.pool_targets.get(p.name, _clamp(world.pools[p.name].desired, p.nodes.min, p.nodes.max))
        for p in pools
    }
    backoff = {k: v for k, v in state.backoff_until.items() if v > now}
    waiting = [p.name for p in pools if previous[p.name] > world.pools[p.name].ready]
    clocks = state.provisioning_since
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
    usable = {p.name: p.name not in backoff and per_node[p.name] > 0 for p in pools}

    # --- sizing: the cloud replicas the burst should hold ------------------------------------------
    headroom = 1 + spec.burst.headroom
    wanted = max(0, math.ceil(expected * headroom - 1e-9) - base_total)
    recent = peak(history, now - window)
    floor_wanted = max(0, math.ceil(max(recent or 0.0, expected) * headroom - 1e-9) - base_total)
    target = state.target_cloud_replicas
    if state.phase == Phase.IDLE:
        if out.held or floor_nodes > 0:
            if out.held and wanted == 0:
                first = next((p for p in preference(policy, world.pools) if usable[p.name]), None)
                wanted = per_node[first.name] if first is not None else 0
                plan.reasons.append("scale-out trigger held while the base still has room: one node")
            target = wanted
            plan.reasons.append("scale-out: " + "; ".join(out.detail) if out.held else "scheduled pre-warm")
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
    alloc = allocate(
        target, floor_nodes, previous, order, per_node, usable, prices, Limits(node_limit, cost_limit)
    )
    targets = alloc.targets
    capacity_all = sum(targets[p] * per_node[p] for p in targets)
    if alloc.capped_by and (target > capacity_all or floor_nodes > sum(targets.values())):
        code = "LimitReached" if alloc.capped_by.startswith("max") else "ProvisioningFailed"
        plan.alert(
            code,
            Severity.WARNING,
            f"cloud capacity capped by {alloc.capped_by}: wanted {target} replicas, can hold {capacity_all}",
        )
        target = min(target, capacity_all)

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
        share, settled = _shift(
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
    final = _scale(state, changes, plan, policy, world, targets, previous, per_node, now)
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
    changes["alerts"] = tuple(sorted(plan.alerts))
    new_state = replace(state, **changes)
    if not plan.actions:
        plan.actions.append(Hold(plan.reasons[-1] if plan.reasons else f"{phase.value}: nothing to change"))
    return Decision(new_state, tuple(plan.actions), tuple(plan.reasons), min(plan.wakes, default=None))


def _shift(
    state: BurstState,
    changes: dict[str, Any],
    plan: _Plan,
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
    plan: _Plan,
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


def _scale(
    state: BurstState,
    changes: dict[str, Any],
    plan: _Plan,
    policy: BurstPolicy,
    world: World,
    targets: Mapping[str, int],
    previous: Mapping[str, int],
    per_node: Mapping[str, int],
    now: float,
) -> dict[str, int]:
    """Scale pools: up at once; down only for nodes whose replicas have already left. Returns the new
    pool targets (also recorded in ``changes``)."""
    spec = policy.spec
    recorded = {p.name: state.pool_targets.get(p.name, world.pools[p.name].desired) for p in spec.burst.pools}
    by_cluster_kept: dict[str, int] = {}
    for p in spec.burst.pools:
        kept = min(world.pools[p.name].ready, targets[p.name]) * per_node[p.name]
        by_cluster_kept[p.cluster] = by_cluster_kept.get(p.cluster, 0) + kept
    keys = statics(policy).key_set
    placed = replicas_by_cluster(world, policy)
    shifted = (
        sum(changes.get("shifted", state.shifted).values()) if spec.shift.mode == "static-weights" else None
    )
    final = dict(targets)
    rebalance_needed = False
    for p in spec.burst.pools:
        pool = world.pools[p.name]
        new = targets[p.name]
        if new >= previous[p.name]:
            continue
        fits = placed.get(p.cluster, 0) <= by_cluster_kept.get(p.cluster, 0)
        if shifted is not None:
            fits = fits and shifted <= sum(by_cluster_kept.values())
        if not fits:
            # Replicas still run there: remove only nodes that are not Ready.
            final[p.name] = max(new, min(previous[p.name], pool.ready))
            rebalance_needed = True
    for p in spec.burst.pools:
        name = p.name
        before = recorded[name]
        after = final[name]
        if after > before:
            plan.actions.append(
                ScalePool(
                    name,
                    after,
                    before,
                    f"cloud target {changes['target_cloud_replicas']} replicas needs {after} nodes in {name}",
                )
            )
        elif after < before:
            machines = pick_removals(world.pools[name], before - after)
            if machines:
                plan.actions.append(MarkMachines(name, machines, "emptiest first"))
            plan.actions.append(ScalePool(name, after, before, "release nodes the replicas have left"))
    if rebalance_needed:
        plan.reasons.append("waiting for replicas to leave cloud nodes before removing them")
        if spec.shift.mode == "overflow" and (
            state.rebalance_requested_at is None or now - state.rebalance_requested_at >= spec.drain.interval
        ):
            plan.actions.append(
                Rebalance(tuple(sorted(keys)), "move replicas back to the base before releasing cloud nodes")
            )
            changes["rebalance_requested_at"] = now
        requested = changes.get("rebalance_requested_at", state.rebalance_requested_at)
        if spec.shift.mode == "overflow" and requested is not None:
            plan.wake(requested + spec.drain.interval, now)
    changes["pool_targets"] = final
    return final


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


def _hold(state: BurstState, plan: _Plan, reason: str) -> Decision:
    plan.reasons.append(reason)
    plan.actions.append(Hold(reason))
    alerts = tuple(sorted(plan.alerts | (set(state.alerts) - {"WeightsChangedExternally"})))
    return Decision(replace(state, alerts=alerts), tuple(plan.actions), tuple(plan.reasons), None)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _min_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
