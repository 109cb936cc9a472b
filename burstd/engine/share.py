"""The cloud share: how many replicas the weights send to the cloud, and the weights that do it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from burstd.engine.webster import proportional, webster, weights_for


def balanced(demand: int, base: int, cloud: int) -> int:
    """Cloud replicas that load base and cloud equally (so a rise of demand lands where there is room),
    never above the cloud's Ready capacity and never leaving the base overloaded when the cloud has room."""
    if demand <= 0 or cloud <= 0:
        return 0
    if base <= 0:
        return min(demand, cloud)
    even = round(demand * cloud / (base + cloud))
    return min(cloud, demand, max(even, demand - base))


def step_size(step: int | float, demand: int) -> int:
    """A policy step (replicas, or a share of desired replicas) as a number of replicas, at least 1."""
    if isinstance(step, int):
        return step
    return max(1, math.ceil(step * demand - 1e-9))


def current_share(
    demand: int,
    written: Mapping[str, int] | None,
    cloud: set[str],
    observed: int,
    *,
    descending: bool = False,
) -> int:
    """Cloud replicas Karmada gives the workload now: from the weights burstd wrote (divided as Karmada
    divides them, ties in the binding's order ``descending``), or what was observed when burstd has
    written nothing."""
    if not written:
        return observed
    division = webster(demand, written, descending=descending)
    return sum(n for c, n in division.items() if c in cloud)


@dataclass(frozen=True, slots=True)
class Split:
    intended: dict[str, int]
    weights: dict[str, int]


def split_for(
    demand: int,
    cloud_replicas: int,
    base_room: Mapping[str, int],
    kept: Mapping[str, int],
    ready: Mapping[str, int],
) -> Split:
    """Per-cluster replica counts for ``cloud_replicas`` on the cloud and the rest on the base, and the
    static weights that make Karmada's Webster division produce exactly those counts.

    Cloud replicas go to the Ready nodes that stay (``kept``) first, in proportion to their capacity;
    only what does not fit there stays on Ready nodes that are on their way out.
    """
    base_weights = {c: float(r) for c, r in base_room.items() if r > 0} or dict.fromkeys(base_room, 1.0)
    intended = proportional(demand - cloud_replicas, base_weights)
    on_kept = min(cloud_replicas, sum(kept.values()))
    cloud = proportional(on_kept, {c: float(v) for c, v in kept.items()})
    leaving = {c: float(ready.get(c, 0) - kept.get(c, 0)) for c in ready}
    for c, n in proportional(cloud_replicas - on_kept, leaving).items():
        cloud[c] = cloud.get(c, 0) + n
    intended.update(cloud)
    return Split(intended, weights_for(intended))
