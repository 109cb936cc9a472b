"""``decide``: one evaluation of one policy. Pure: the world, the policy, the state and the time in;
the next state, the plan and the reasons out.

The burst is reconciled rather than scripted: each call sizes the burst from demand, allocates nodes to
pools, steps the cloud share towards what Ready capacity allows, and then names the phase by what is in
flight (IDLE -> PROVISIONING -> SHIFTING -> BURSTING -> DRAINING -> RELEASING -> IDLE).

Each step is a stage in :mod:`burstd.engine.stages` returning a frozen result; the next state is built
once, here, from those results. The stages write what they say (actions, reasons, wake-up times, alerts)
to one :class:`~burstd.engine.plan.Plan`, in stage order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from burstd.engine.ledger import track_burst
from burstd.engine.plan import Plan
from burstd.engine.retire import finish
from burstd.engine.stages.allocation import place
from burstd.engine.stages.cloud_answers import ask_cloud
from burstd.engine.stages.cloud_share import share_out
from burstd.engine.stages.guards import guard
from burstd.engine.stages.health import check_pools
from burstd.engine.stages.nodes import scale_nodes
from burstd.engine.stages.outlook import look_ahead
from burstd.engine.stages.phase import name_phase
from burstd.engine.stages.rest import at_rest, rest
from burstd.engine.stages.signals import Signals, read_signals
from burstd.engine.stages.sizing import size
from burstd.model.actions import Hold
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy


def decide(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    plan = Plan([], [], [], set(), state.alerts)
    seen = guard(world, policy, state, plan, now)
    if isinstance(seen, Decision):
        return seen
    signals = read_signals(world, seen, plan, now)
    outlook = look_ahead(seen, plan, now)
    health = check_pools(world, seen, plan, now)
    cloud = ask_cloud(world, seen, health, plan)
    sizing = size(world, seen, signals, outlook, cloud, plan, now)
    if at_rest(world, seen, outlook, health, sizing):
        placed, share, nodes, phase = rest(seen)
    else:
        placed = place(world, seen, outlook, health, cloud, sizing, plan)
        share = share_out(world, seen, signals, outlook, placed, plan, now)
        nodes = scale_nodes(world, seen, health, placed, share, plan, now)
        phase = name_phase(world, seen, outlook, health, placed, share, nodes, plan, now)
    new_state = replace(
        seen.state,
        phase=phase.phase,
        phase_since=phase.phase_since,
        burst_started_at=phase.burst_started_at,
        holding_since=signals.holding_since,
        pool_targets=nodes.final,
        shifted=share.shifted,
        weights=share.weights,
        alerts=tuple(sorted(plan.alerts)),
        target_cloud_replicas=phase.target_cloud_replicas,
        last_shift_at=share.last_shift_at,
        last_shift_direction=share.last_shift_direction,
        provisioning_since=nodes.provisioning_since,
        backoff_until=health.backoff,
        rebalance_requested_at=nodes.rebalance_requested_at,
        replicas_in_summaries=_in_summaries(
            state, share.last_shift_at, nodes.rebalance_requested_at, signals
        ),
        bursts=phase.bursts,
        ledger=track_burst(seen.ledger, phase.burst_started_at, now),
        history=outlook.history,
    )
    new_state = finish(new_state, *_retired(world, seen.statics.cloud_clusters, new_state, nodes.final, plan))
    if not plan.actions:
        plan.actions.append(
            Hold(plan.reasons[-1] if plan.reasons else f"{phase.phase.value}: nothing to change")
        )
    return Decision(new_state, tuple(plan.actions), tuple(plan.reasons), min(plan.wakes, default=None))


def _in_summaries(
    state: BurstState, shift_at: float | None, rebalance_at: float | None, signals: Signals
) -> Mapping[str, int]:
    """What the base clusters' summaries count, kept when this round moves replicas (a weight write or a
    rebalance request): until each summary is newer than the move, it counts them where they were."""
    if shift_at != state.last_shift_at or rebalance_at != state.rebalance_requested_at:
        return signals.counted
    return state.replicas_in_summaries


def _retired(
    world: World, cloud_clusters: tuple[str, ...], state: BurstState, final: Mapping[str, int], plan: Plan
) -> tuple[set[str], set[str]]:
    """Retiring pools seen empty, and retiring workloads whose weights and replicas are back on the base."""
    if not state.retiring_pools and not state.retiring_workloads:
        return set(), set()
    pools = {
        n
        for n in state.retiring_pools
        if final.get(n) == 0 and world.pools[n].desired == 0 and world.pools[n].existing == 0
    }
    cloud = set(cloud_clusters)
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
