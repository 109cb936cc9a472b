"""How the Karmada scheduler divides a workload's replicas between member clusters.

- static weights: Webster / Sainte-Laguë division, recomputed from scratch (api-notes §1), by the engine's
  model (``burstd.engine.webster.webster``, re-exported here: one division model for engine and
  simulator). The simulator's bindings have no resource UID, so ties break by ascending name, as Karmada
  does for an empty UID;
- dynamic weights with overflow tiers (``spec.shift.mode: overflow``, ``overflow``): the base tier first,
  then the cloud tier, each up to what it can hold; scale-down empties the cloud first; all or nothing
  (replicas that do not all fit leave the binding as it was). Checked against the real scheduler by
  ``tests/e2e/test_karmada_overflow.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from burstd.engine.webster import webster

__all__ = ["moves", "overflow", "webster"]


def overflow(
    assigned: Mapping[str, int],
    desired: int,
    free: Mapping[str, int],
    tiers: Sequence[Sequence[str]],
    *,
    fresh: bool = False,
    descending: bool = False,
) -> dict[str, int] | None:
    """What karmada-scheduler (v1.18) assigns to a Divided binding whose placement is one
    ``clusterAffinities`` term with ``overflowAffinities`` and ``dynamicWeight: AvailableReplicas``.

    ``assigned`` is the binding's current ``spec.clusters``; ``free`` each cluster's *allocatable
    replicas*: what its ``resourceSummary`` leaves free (``allocatable - allocated - allocating``) divided
    by the replica's requests; ``tiers`` the primary group then each overflow group, in order.
    ``fresh`` is a reschedule triggered by a WorkloadRebalancer (``rescheduleTriggeredAt``).

    Tier by tier (``assignWorkloadReplicas``), each tier takes ``min(remaining, sum(available))`` where a
    cluster's available replicas are ``free + assigned``; the first tiers keep what they can hold, so a
    scale-down empties the *last* tier first and any reschedule moves replicas back to the first tier as
    far as it has room. A tier that takes nothing because the earlier ones took everything loses what it
    had. Within a tier (``assignByDynamicStrategy``): steady scale-up spreads the new replicas by ``free``,
    steady scale-down divides by the current assignment, fresh divides by available; each division is
    Webster (``descending``: see ``burstd.engine.webster.descending_for``).

    Returns None when the replicas do not all fit (``UnschedulableError``): the scheduler then changes
    nothing, so the binding keeps its previous assignment in full; it retries with exponential back-off
    (5 ms doubling to 1000 s) or when the binding changes, not when a cluster's status does.
    """
    remaining = desired
    out: dict[str, int] = {}
    for tier in tiers:
        if not tier:
            continue
        had = {c: assigned.get(c, 0) for c in tier}
        room = {c: max(0, free.get(c, 0)) for c in tier}
        available = {c: room[c] + had[c] for c in tier}
        take = min(remaining, sum(available.values()))
        before = sum(had.values())
        if fresh:
            part = webster(take, available, descending=descending)
        elif before > take:
            part = webster(take, had, descending=descending)
        elif before < take:
            extra = webster(take - before, room, descending=descending)
            part = {c: had[c] + extra.get(c, 0) for c in tier}
        else:
            part = had
        out.update(part)
        remaining -= take
        if remaining <= 0:
            break
    if remaining > 0:
        return None
    return {c: n for c, n in out.items() if n > 0}


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
