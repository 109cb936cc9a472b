"""A policy at rest: Idle and wanting nothing, every pool at its minimum with nothing launching, leaving or
backed off, no managed replica on the cloud and no cloud cluster in burstd's weights. Allocation, the cloud
share, the nodes and the phase then have one answer each, given here without working them out: on a
typical trace about 40% of the evaluations are at rest, and these four stages are a quarter of their cost.
``tests/engine/test_rest.py`` checks, evaluation by evaluation on simulated traces, that the answers are
the ones the stages give."""

from __future__ import annotations

from burstd.engine.scaling import Scaled
from burstd.engine.shifting import Shift
from burstd.engine.stages.allocation import NodeTargets
from burstd.engine.stages.guards import Observed
from burstd.engine.stages.health import Health
from burstd.engine.stages.outlook import Outlook
from burstd.engine.stages.phase import PhaseStep
from burstd.engine.stages.sizing import Sizing
from burstd.model.state import Phase
from burstd.model.world import World


def at_rest(world: World, seen: Observed, outlook: Outlook, health: Health, sizing: Sizing) -> bool:
    state = seen.state
    if state.phase != Phase.IDLE or sizing.target != 0 or outlook.floor_nodes != 0:
        return False
    if state.retiring_pools or state.retiring_workloads or health.backoff or health.clocks:
        return False
    if seen.demand.on_cloud != 0:
        return False
    cloud = seen.statics.cloud_clusters
    if any(c in cloud for weights in state.weights.values() for c in weights):
        return False
    for p in seen.policy.spec.burst.pools:
        pool, low = world.pools[p.name], p.nodes.min
        if not pool.desired == pool.existing == pool.ready == health.previous[p.name] == low:
            return False
    return True


def rest(seen: Observed) -> tuple[NodeTargets, Shift, Scaled, PhaseStep]:
    """What allocation, the cloud share, the nodes and the phase answer for a policy :func:`at_rest`:
    the pools stay at their minimum, nothing moves, the phase stays Idle."""
    state = seen.state
    mins = seen.statics.mins
    if seen.policy.spec.shift.mode == "static-weights":
        shifted = dict.fromkeys(seen.statics.keys, 0)  # what the weights send to the cloud now: nothing
    else:
        shifted = dict(state.shifted)
    share = Shift(0, 0, True, shifted, state.weights, state.last_shift_at, state.last_shift_direction)
    nodes = Scaled(dict(mins), state.rebalance_requested_at, {})
    phase = PhaseStep(Phase.IDLE, state.phase_since, state.bursts, None, 0)
    return NodeTargets(dict(mins), 0), share, nodes, phase
