"""How the Karmada scheduler divides a workload's replicas between member clusters.

- static weights: Webster / Sainte-Laguë division, recomputed from scratch (api-notes §1);
- dynamic weights with overflow (``spec.shift.mode: overflow``): a sticky assignment; new replicas go to the
  base first, then to the cloud clusters by available room; scale-down is proportional; a Rebalance
  re-divides from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache


def webster(total: int, weights: Mapping[str, int] | Sequence[tuple[str, int]]) -> dict[str, int]:
    """Divide ``total`` seats by the Webster (Sainte-Laguë) method.

    Each seat goes to the cluster with the largest ``weight / (2 * seats + 1)``; ties go to the cluster with
    fewer seats, then to the name that sorts first. Clusters with weight 0 get nothing. Every listed
    cluster with a positive weight appears in the result (possibly with 0).
    """
    items = tuple(sorted(dict(weights).items()))
    return dict(_webster(total, items))


@lru_cache(maxsize=65536)
def _webster(total: int, items: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    live = [(name, w) for name, w in items if w > 0]
    if total <= 0 or not live:
        return tuple((name, 0) for name, w in live)
    weight_sum = sum(w for _, w in live)
    seats = [total * w // weight_sum for _, w in live]  # a close start; fixed up below

    # A seat is identified by (cluster i, k = seats before it). Seats are taken best first, where a seat
    # is better when w_i/(2k+1) is larger, then k is smaller, then the name sorts first. The result is
    # the `total` best seats; each cluster's seats form a prefix k = 0..s_i-1.
    def better(i: int, ki: int, j: int, kj: int) -> bool:
        left = live[i][1] * (2 * kj + 1)
        right = live[j][1] * (2 * ki + 1)
        if left != right:
            return left > right
        if ki != kj:
            return ki < kj
        return live[i][0] < live[j][0]

    n = len(live)

    def best_next() -> int:
        best = 0
        for i in range(1, n):
            if better(i, seats[i], best, seats[best]):
                best = i
        return best

    def worst_last() -> int | None:
        worst: int | None = None
        for i in range(n):
            if seats[i] > 0 and (worst is None or better(worst, seats[worst] - 1, i, seats[i] - 1)):
                worst = i
        return worst

    while sum(seats) < total:
        seats[best_next()] += 1
    while sum(seats) > total:
        worst = worst_last()
        assert worst is not None
        seats[worst] -= 1
    while True:
        nxt, last = best_next(), worst_last()
        if last is None or nxt == last or not better(nxt, seats[nxt], last, seats[last] - 1):
            break
        seats[nxt] += 1
        seats[last] -= 1
    return tuple((name, s) for (name, _), s in zip(live, seats, strict=True))


def fill_by_room(count: int, room: Mapping[str, int]) -> dict[str, int]:
    """Spread ``count`` replicas over clusters in proportion to their available room, never above it.

    Karmada's dynamic weight (``AvailableReplicas``): weights are each cluster's available replicas.
    Assumes ``count <= sum(room)``.
    """
    free = {c: r for c, r in room.items() if r > 0}
    out = dict.fromkeys(room, 0)
    left = count
    while left > 0 and free:
        share = webster(left, free)
        for c, s in share.items():
            take = min(s, free[c])
            out[c] += take
            free[c] -= take
            left -= take
        free = {c: r for c, r in free.items() if r > 0}
    return out


def overflow_scale(
    assigned: Mapping[str, int],
    desired: int,
    capacity: Mapping[str, int],
    base: Sequence[str],
    cloud: Sequence[str],
) -> dict[str, int]:
    """Karmada's steady assignment with an overflow tier, for a new desired count.

    Scale-up: the new replicas go to the base clusters while they have room, then to the cloud clusters by
    available room (``capacity - assigned``); what fits nowhere stays unassigned (unschedulable).
    Scale-down: removed in proportion to the current assignment. The caller keeps ``desired - sum(result)``
    as unschedulable and calls again to retry.
    """
    current = {c: assigned.get(c, 0) for c in (*base, *cloud)}
    placed = sum(current.values())
    if desired < placed:
        return _shrink(current, desired)
    left = desired - placed
    for tier in (base, cloud):
        if left <= 0:
            break
        room = {c: max(0, capacity.get(c, 0) - current[c]) for c in tier}
        take = min(left, sum(room.values()))
        for c, n in fill_by_room(take, room).items():
            current[c] += n
        left -= take
    return current


def overflow_fresh(
    desired: int, capacity: Mapping[str, int], base: Sequence[str], cloud: Sequence[str]
) -> dict[str, int]:
    """A fresh re-division (a WorkloadRebalancer): base first up to its capacity, then the cloud."""
    return overflow_scale({}, desired, capacity, base, cloud)


def _shrink(current: Mapping[str, int], desired: int) -> dict[str, int]:
    """Scale down in proportion to the current assignment (never adding to a cluster)."""
    target = webster(desired, {c: n for c, n in current.items() if n > 0})
    out = {c: min(current[c], target.get(c, 0)) for c in current}
    short = desired - sum(out.values())
    while short > 0:  # a cluster capped at its current count: give the rest to the others, largest first
        for c in sorted(current, key=lambda c: (out[c] - current[c], c)):
            if short > 0 and out[c] < current[c]:
                out[c] += 1
                short -= 1
    return out


def moves(old: Mapping[str, int], new: Mapping[str, int]) -> int:
    """Replicas that changed cluster: the increases beyond what the total grew by.

    Replicas added or removed because the desired count changed are not moves; a replica taken from one
    cluster and placed in another is one move.
    """
    if old == new:
        return 0
    keys = set(old) | set(new)
    up = sum(max(0, new.get(c, 0) - old.get(c, 0)) for c in keys)
    grown = sum(new.values()) - sum(old.values())
    return up - max(0, grown)
