"""The oracle's plan: the cheapest set of cloud nodes that serves all demand the limits allow.

The model (docs/simulation.md, "The three runs"): the cloud must hold ``max(0, D(t) - M)`` replicas, capped
at what the pools may hold. A node of pool ``p`` holds ``r_p`` replicas; launched at ``s`` it is Ready at
``s + L_p`` and bills per second from ``max(0, s)`` until its release ``b`` plus the deletion delay ``E_p``
(or the trace end). A launch may not fall inside a configured stock-out window ``(from, to)`` (a launch at
``from`` stands for one at the last instant before the window, so the cost is the infimum). The pools'
``nodes.min`` nodes exist from the start; ``nodes.max``, the quota and ``maxCloudNodes`` cap the Ready nodes.

Three methods, chosen by the fleet:

``layered`` (exact): every pool that can add nodes has the same replicas per node, delays and stock-out
    windows, however their prices and limits differ. The ``k``-th layer is the set of times that need at
    least ``k`` nodes beyond the pinned ones; it goes to the ``k``-th cheapest node slot, and each gap
    between two of its stretches is bridged (the node stays) when that is cheaper than a release and a
    relaunch. Minimal (see the proof in docs/simulation.md): a plan's cost splits into per-layer costs of
    its own layers, which are submodular and monotone once bridged, so uncrossing layers between pools
    never raises the cost, and the bridged requirement layers are each the cheapest cover of their layer.
``dp`` (exact): otherwise, a dynamic programme over the node counts of every pool on the event grid
    (demand change points, and both ends of every stock-out window shifted by the pool's delay: a launch
    just before the window or right at its end), used while the states times the grid points stay under
    :data:`DP_CELLS`.
``bound`` (a lower bound, not a plan): beyond that, one virtual pool whose node is ``g`` replicas (the
    greatest common divisor of the pools' sizes) at the lowest price per replica, the shortest delays, no
    stock-outs and no per-pool limits, planned by the layered method. Every real plan costs at least as much.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from burstd.sim.scenario import PoolModel, Scenario

#: the largest DP (node-count states x grid points) solved exactly; beyond it the oracle is a lower bound
DP_CELLS = 4_000_000

Method = Literal["layered", "dp", "bound"]
Floats = npt.NDArray[np.float64]


@dataclass(slots=True)
class PlannedNode:
    """One cloud node of the plan. ``launched_at`` may be negative: launched before the trace start."""

    pool: PoolModel
    launched_at: float
    ready_at: float
    released_at: float | None = None  # None: kept until the trace end
    pinned: bool = False  # one of the pool's minimum nodes, there from the start


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: tuple[PlannedNode, ...]
    method: Method
    #: gaps between two needs that a node stayed through (layered and bound methods)
    bridged_gaps: int | None


def ceiling(pool: PoolModel) -> int:
    """The most nodes the pool may hold: its maximum, or the cloud quota when that is lower."""
    return pool.max_nodes if pool.quota is None else min(pool.max_nodes, pool.quota)


def merged_windows(pool: PoolModel) -> tuple[tuple[float, float], ...]:
    """The pool's stock-out windows, overlapping or touching ones merged."""
    out: list[tuple[float, float]] = []
    for a, b in sorted(pool.stock_outs):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def latest_launch(windows: Sequence[tuple[float, float]], s: float) -> float:
    """The latest allowed launch at or before ``s``: ``s`` itself, or the start of the window it falls in."""
    for a, b in windows:
        if a < s < b:
            return a
    return s


def launch_allowed(windows: Sequence[tuple[float, float]], s: float) -> bool:
    return latest_launch(windows, s) == s


def plan(scenario: Scenario) -> Plan:
    """The oracle's nodes (see the module docstring for the method used)."""
    s = scenario
    pinned: list[PlannedNode] = []
    for pool in s.pools:
        for _ in range(pool.min_nodes):
            pinned.append(PlannedNode(pool, 0.0, 0.0, None, pinned=True))
    pinned_count = len(pinned)
    pinned_cap = sum(n.pool.replicas_per_node for n in pinned)
    room = None if s.max_cloud_nodes is None else max(0, s.max_cloud_nodes - pinned_count)
    extra = {p.name: max(0, ceiling(p) - p.min_nodes) for p in s.pools}
    pools = [p for p in s.pools if extra[p.name] > 0 and room != 0]
    if not pools:
        return Plan(tuple(pinned), "layered", 0)
    most = _most_replicas(pools, extra, room)
    times: list[float] = []
    need: list[int] = []
    for t, d in zip(s.times, s.replicas, strict=True):
        wanted = min(max(0, d - s.base_replicas - pinned_cap), most)
        if not need or wanted != need[-1]:
            times.append(t)
            need.append(wanted)
    if len({_kind(p) for p in pools}) == 1:
        slots = _slots(pools, extra, room)
        nodes, bridged = layered(times, need, s.end, slots)
        return Plan(tuple(pinned + nodes), "layered", bridged)
    states = math.prod(extra[p.name] + 1 for p in pools)
    if states * (len(times) + 2 * sum(len(p.stock_outs) for p in pools)) <= DP_CELLS:
        return Plan(tuple(pinned + dp(times, need, s.end, pools, extra, room)), "dp", None)
    virtual = _virtual_pool(pools)
    levels = -(-most // virtual.replicas_per_node)
    nodes, bridged = layered(times, need, s.end, [virtual] * levels)
    return Plan(tuple(pinned + nodes), "bound", bridged)


def _kind(pool: PoolModel) -> tuple[int, float, float, tuple[tuple[float, float], ...]]:
    """What the layered method needs to be the same across pools (prices and limits may differ)."""
    return pool.replicas_per_node, pool.provision_delay, pool.deletion_delay, merged_windows(pool)


def _most_replicas(pools: Sequence[PoolModel], extra: dict[str, int], room: int | None) -> int:
    """The most replicas the extra nodes can hold: largest nodes first, within ``room`` nodes in all."""
    left = room
    most = 0
    for p in sorted(pools, key=lambda p: -p.replicas_per_node):
        n = extra[p.name] if left is None else min(extra[p.name], left)
        most += n * p.replicas_per_node
        if left is not None:
            left -= n
    return most


def _slots(pools: Sequence[PoolModel], extra: dict[str, int], room: int | None) -> list[PoolModel]:
    """Every extra node the pools may add, cheapest per replica first (then in the policy's order)."""
    by_price = sorted(pools, key=lambda p: (p.price_per_node_hour / p.replicas_per_node, p.index))
    slots = [p for p in by_price for _ in range(extra[p.name])]
    return slots if room is None else slots[:room]


def _virtual_pool(pools: Sequence[PoolModel]) -> PoolModel:
    """The relaxation behind the ``bound`` method: cheaper and less constrained than every pool."""
    size = math.gcd(*(p.replicas_per_node for p in pools))
    cheapest = min(pools, key=lambda p: (p.price_per_node_hour / p.replicas_per_node, p.index))
    per_replica = cheapest.price_per_node_hour / cheapest.replicas_per_node
    return dataclasses.replace(
        cheapest,
        replicas_per_node=size,
        price_per_node_hour=per_replica * size,
        provision_delay=min(p.provision_delay for p in pools),
        deletion_delay=min(p.deletion_delay for p in pools),
        stock_outs=(),
    )


def layered(
    times: Sequence[float], need: Sequence[int], end: float, slots: Sequence[PoolModel]
) -> tuple[list[PlannedNode], int]:
    """Layered decomposition for slots of one kind (same size, delays and stock-out windows).

    ``need[i]`` replicas are wanted from ``times[i]`` to the next time (or ``end``); layer ``k`` goes to
    ``slots[k]``. Returns the nodes and how many gaps were bridged.
    """
    if not slots:
        return [], 0
    kind = slots[0]
    size, delay, deletion = kind.replicas_per_node, kind.provision_delay, kind.deletion_delay
    windows = merged_windows(kind)
    top = len(slots)
    nodes: list[PlannedNode] = []
    current: list[PlannedNode | None] = [None] * top
    bridged = 0
    level = 0
    for t, replicas in zip(times, need, strict=True):
        n = min(top, -(-replicas // size))
        if n == level:
            continue
        if n < level:
            for k in range(n, level):
                node = current[k]
                assert node is not None
                node.released_at = t
        else:
            launch = latest_launch(windows, t - delay) if windows else t - delay
            start_cost = t - max(0.0, launch)
            for k in range(level, n):
                node = current[k]
                if node is not None:
                    released = node.released_at
                    assert released is not None
                    if t - released < min(deletion, end - released) + start_cost:
                        node.released_at = None  # stays through the gap
                        bridged += 1
                        continue
                node = PlannedNode(slots[k], launch, launch + delay)
                nodes.append(node)
                current[k] = node
        level = n
    return nodes, bridged


def dp(
    times: Sequence[float],
    need: Sequence[int],
    end: float,
    pools: Sequence[PoolModel],
    extra: dict[str, int],
    room: int | None,
) -> list[PlannedNode]:
    """Exact plan for any pools: a dynamic programme over every pool's extra node count on the event grid.

    The state holds from one grid point to the next; at a grid point a pool may launch nodes (Ready there,
    when the launch one delay earlier is allowed) and release nodes. Launch and release costs are linear in
    the count change, so each step is a per-axis running minimum.
    """
    grid = sorted(
        {*times}
        | {
            x + p.provision_delay
            for p in pools
            for window in merged_windows(p)
            for x in window
            if 0.0 < x + p.provision_delay < end
        }
    )
    wanted: list[int] = []
    j = -1
    for t in grid:
        while j + 1 < len(times) and times[j + 1] <= t:
            j += 1
        wanted.append(need[j])
    shape = tuple(extra[p.name] + 1 for p in pools)
    axes = np.indices(shape, dtype=np.float64)
    capacity = sum(p.replicas_per_node * axes[i] for i, p in enumerate(pools))
    count = axes.sum(axis=0)
    per_second = sum(p.price_per_node_hour / 3600.0 * axes[i] for i, p in enumerate(pools))
    allowed = np.ones(shape, dtype=bool) if room is None else count <= room
    inf = np.inf
    values: list[Floats] = []
    value: Floats = np.zeros(shape)
    for i, t in enumerate(grid):
        if i:
            value = _step(value, pools, axes, t, end)
        value = np.where(allowed & (capacity >= wanted[i]), value, inf)
        until = grid[i + 1] if i + 1 < len(grid) else end
        value = value + per_second * (until - t)
        values.append(value)
    # walk back: the state held after each grid point
    state = np.unravel_index(int(np.argmin(values[-1])), shape)
    states = [tuple(int(x) for x in state)]
    for i in range(len(grid) - 1, 0, -1):
        total = values[i - 1].copy()
        for k, p in enumerate(pools):
            total += _change_cost(p, axes[k], states[-1][k], grid[i], end)
        state = np.unravel_index(int(np.argmin(total)), shape)
        states.append(tuple(int(x) for x in state))
    states.reverse()
    return _nodes_from_counts(grid, states, pools)


def _launch_cost(pool: PoolModel, t: float) -> float:
    """Cost per node of being Ready at ``t`` (inf when the launch would fall in a stock-out window)."""
    if not launch_allowed(merged_windows(pool), t - pool.provision_delay):
        return math.inf
    return min(t, pool.provision_delay) * pool.price_per_node_hour / 3600.0


def _release_cost(pool: PoolModel, t: float, end: float) -> float:
    return min(pool.deletion_delay, end - t) * pool.price_per_node_hour / 3600.0


def _step(value: Floats, pools: Sequence[PoolModel], axes: Floats, t: float, end: float) -> Floats:
    """``min over m of value[m] + cost(m -> m')`` at grid point ``t``, axis by axis."""
    for k, p in enumerate(pools):
        m = axes[k]
        up = _launch_cost(p, t)
        if up != math.inf:
            value = up * m + np.minimum.accumulate(value - up * m, axis=k)
        down = _release_cost(p, t, end)
        flipped = np.flip(value + down * m, axis=k)
        value = np.flip(np.minimum.accumulate(flipped, axis=k), axis=k) - down * m
    return value


def _change_cost(pool: PoolModel, m: Floats, target: int, t: float, end: float) -> Floats:
    """Cost of going from every count ``m`` of the pool to ``target`` at ``t``."""
    up = _launch_cost(pool, t)
    down = _release_cost(pool, t, end)
    rise = target - m
    with np.errstate(invalid="ignore"):
        cost = np.where(rise > 0, up * rise, -down * rise)
    return np.asarray(cost, dtype=np.float64)


def _nodes_from_counts(
    grid: Sequence[float], states: Sequence[tuple[int, ...]], pools: Sequence[PoolModel]
) -> list[PlannedNode]:
    nodes: list[PlannedNode] = []
    for k, pool in enumerate(pools):
        live: list[PlannedNode] = []
        for t, state in zip(grid, states, strict=True):
            while len(live) > state[k]:
                live.pop().released_at = t
            while len(live) < state[k]:
                node = PlannedNode(pool, t - pool.provision_delay, t)
                live.append(node)
                nodes.append(node)
    return nodes
