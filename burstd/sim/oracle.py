"""The oracle: knows the whole trace in advance and pays the least any plan can to serve all of it.

Its nodes come from :func:`burstd.sim.oracle_plan.plan` (the cheapest plan that serves all demand within the
pools' limits, or, for fleets too mixed to solve exactly in time, a lower bound); this module bills them and
plays them against the demand, as the other runs are. Random stock-outs and launch failures do not touch it:
it is the bound the other runs are measured against.
"""

from __future__ import annotations

from burstd.sim.karmada import moves
from burstd.sim.metrics import RunResult, Timeline, result_from
from burstd.sim.oracle_plan import plan
from burstd.sim.scenario import Scenario


def run_oracle(scenario: Scenario) -> RunResult:
    s = scenario
    planned = plan(s)
    nodes = planned.nodes
    # events: billed instances (time, delta) and Ready capacity per cloud cluster (time, cluster, delta)
    billed: list[tuple[float, int]] = []
    ready: list[tuple[float, str, int]] = []
    cost = 0.0
    seconds = 0.0
    scale_changes: set[tuple[str, float]] = set()
    for node in nodes:
        start = 0.0 if node.pinned else max(0.0, node.launched_at)
        stop = s.end if node.released_at is None else min(s.end, node.released_at + node.pool.deletion_delay)
        if stop > start:
            seconds += stop - start
            cost += (stop - start) * node.pool.price_per_node_hour / 3600.0
        billed.append((start, 1))
        if node.released_at is not None:
            billed.append((stop, -1))
            ready.append((node.released_at, node.pool.cluster, -node.pool.replicas_per_node))
            scale_changes.add((node.pool.name, node.released_at))
        ready.append((node.ready_at, node.pool.cluster, node.pool.replicas_per_node))
        if not node.pinned:
            scale_changes.add((node.pool.name, node.launched_at))
    timeline = Timeline(s.base_replicas)
    points = sorted({0.0, *s.times, *(t for t, _ in billed), *(t for t, _, _ in ready)})
    billed.sort()
    ready.sort()
    bi = ri = di = 0
    existing = 0
    cap = dict.fromkeys(s.cloud_clusters, 0)
    desired = 0
    assigned: dict[str, int] = {}
    for t in points:
        if t >= s.end:
            break
        while bi < len(billed) and billed[bi][0] <= t:
            existing += billed[bi][1]
            bi += 1
        while ri < len(ready) and ready[ri][0] <= t:
            cap[ready[ri][1]] += ready[ri][2]
            ri += 1
        while di < len(s.times) and s.times[di] <= t:
            desired = s.replicas[di]
            di += 1
        left = desired
        served: dict[str, int] = {}
        for name, base_cap in s.base_capacity:
            served[name] = min(left, base_cap)
            left -= served[name]
        for name in s.cloud_clusters:
            served[name] = min(left, cap[name])
            left -= served[name]
        timeline.moves += moves(assigned, served)
        assigned = served
        timeline.update(t, desired, sum(served.values()), s.base_replicas + sum(cap.values()), existing)
    timeline.finish(s.end)
    details: dict[str, object] = {
        "launches": sum(1 for n in nodes if not n.pinned),
        "method": planned.method,
        "exact": planned.method != "bound",
    }
    if planned.bridged_gaps is not None:
        details["bridged_gaps"] = planned.bridged_gaps
    return result_from("oracle", timeline, cost, seconds, s.currency, len(scale_changes), details)
