"""The first stage: what the policy and the world allow deciding on at all. Retiring pools and workloads
the world no longer shows are forgotten; a missing or stale observation, or weights someone else wrote,
ends the evaluation with a Hold."""

from __future__ import annotations

from dataclasses import dataclass, replace

from burstd.engine.capacity import Demand, demand_of, replicas_per_node
from burstd.engine.ledger import accrue, currencies_of
from burstd.engine.plan import Plan
from burstd.engine.pools import known_prices
from burstd.engine.retire import effective, finish
from burstd.engine.statics import Statics, statics
from burstd.model.actions import Hold, Severity
from burstd.model.decision import Decision, HoldReason
from burstd.model.state import BurstState, Ledger
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy


@dataclass(frozen=True, slots=True)
class Observed:
    """Everything observed that the evaluation goes on with."""

    policy: BurstPolicy  # with the retiring pools and workloads (engine.retire.effective)
    state: BurstState  # the state to decide from: unseen retirements dropped, burstd's own weights adopted
    prices: dict[str, float]
    ledger: Ledger  # accrued up to now
    demand: Demand
    per_node: dict[str, int]  # replicas one node of each pool holds
    statics: Statics  # the policy's constants


def guard(
    world: World, policy: BurstPolicy, state: BurstState, plan: Plan, now: float
) -> Observed | Decision:
    """What the evaluation decides on, or the Hold that ends it."""
    # Retiring pools and workloads (removed from the policy, see engine.retire) are decided on with the
    # policy; one the world no longer shows is gone (its object was deleted) and is forgotten below.
    seen = _without_unseen(world, state)
    retiring = bool(state.retiring_pools or state.retiring_workloads)
    forgotten = (
        {*state.retiring_pools, *state.retiring_workloads} - {*seen.retiring_pools, *seen.retiring_workloads}
        if retiring
        else set()
    )
    policy = effective(policy, seen, gone=forgotten)
    spec = policy.spec
    pools = spec.burst.pools
    prices = known_prices(pools, world.pools)
    ledger = accrue(state.ledger, world.pools, prices, now, currencies_of(pools), state.burst_started_at)

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
    if forgotten:
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
    per_node = {p.name: replicas_per_node(p, demand.request) for p in pools}
    return Observed(policy, state, prices, ledger, demand, per_node, statics(policy))


def _without_unseen(world: World, state: BurstState) -> BurstState:
    """``state`` without the retiring pools and workloads the world does not show (their objects are
    gone: nothing left to release or move)."""
    if not state.retiring_pools and not state.retiring_workloads:
        return state
    keys = {w.key for w in world.workloads}
    pools = {n for n in state.retiring_pools if n not in world.pools}
    workloads = {k for k in state.retiring_workloads if k not in keys}
    return finish(state, pools, workloads)


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
