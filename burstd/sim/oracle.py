"""The oracle: knows the whole trace in advance.

At each instant it needs ``ceil(max(0, D(t) - M) / replicas-per-node)`` cloud nodes (within the pools'
maximum, the fleet's quotas and ``spec.limits.maxCloudNodes``). Each node is launched exactly one
provisioning delay before it is needed, in the cheapest pool per replica that is in stock at launch time,
and released the moment it is no longer needed (it bills until its deletion completes). Random stock-outs
and launch failures do not touch it: it is the bound the other runs are measured against.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from burstd.sim.karmada import moves
from burstd.sim.metrics import RunResult, Timeline, result_from
from burstd.sim.scenario import PoolModel, Scenario


@dataclass(slots=True)
class _Node:
    pool: PoolModel
    needed_from: float
    released_at: float | None = None
    pinned: bool = False  # one of the pool's minimum nodes, there from the start

    @property
    def launched_at(self) -> float:
        return self.needed_from - self.pool.provision_delay


def _ceiling(pool: PoolModel) -> int:
    """The most nodes the pool may hold: its maximum, or the cloud quota when that is lower."""
    return pool.max_nodes if pool.quota is None else min(pool.max_nodes, pool.quota)


def _in_stock(pool: PoolModel, t: float) -> bool:
    return not any(a <= t < b for a, b in pool.stock_outs)


def plan_nodes(scenario: Scenario) -> list[_Node]:
    """Every node the oracle uses: when it is needed and when it is released (LIFO: last needed, first
    released)."""
    s = scenario
    by_price = sorted(s.pools, key=lambda p: (p.price_per_node_hour / p.replicas_per_node, p.index))
    stack: list[_Node] = []
    nodes: list[_Node] = []
    per_pool: Counter[str] = Counter()
    for pool in s.pools:
        for _ in range(pool.min_nodes):
            nodes.append(_Node(pool, 0.0, pinned=True))
            per_pool[pool.name] += 1
    pinned = sum(p.replicas_per_node * p.min_nodes for p in s.pools)
    capacity = pinned
    for t, desired in zip(s.times, s.replicas, strict=True):
        need = max(0, desired - s.base_replicas)
        while stack and capacity - stack[-1].pool.replicas_per_node >= need:
            node = stack.pop()
            node.released_at = t
            capacity -= node.pool.replicas_per_node
            per_pool[node.pool.name] -= 1
        while capacity < need:
            total = sum(per_pool.values())
            if s.max_cloud_nodes is not None and total >= s.max_cloud_nodes:
                break
            choice = next(
                (
                    p
                    for p in by_price
                    if per_pool[p.name] < _ceiling(p) and _in_stock(p, t - p.provision_delay)
                ),
                None,
            )
            if choice is None:
                break
            node = _Node(choice, t)
            stack.append(node)
            nodes.append(node)
            capacity += choice.replicas_per_node
            per_pool[choice.name] += 1
    return nodes


def run_oracle(scenario: Scenario) -> RunResult:
    s = scenario
    nodes = plan_nodes(s)
    # events: (time, kind, delta) with kind 0 = billed instances, 1 = Ready capacity per cloud cluster
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
        ready.append((node.needed_from, node.pool.cluster, node.pool.replicas_per_node))
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
    details = {"launches": sum(1 for n in nodes if not n.pinned)}
    return result_from("oracle", timeline, cost, seconds, s.currency, len(scale_changes), details)
