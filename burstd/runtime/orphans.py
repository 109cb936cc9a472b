"""Orphaned cloud instances: tagged for a burstd pool (``POOL_TAG``), alive, and with no Cluster API
Machine or native node-pool member behind them for longer than a grace period. Pure: no I/O, no clock.

An instance is matched to a Machine through the Machine's ``spec.providerID``, whose last path segment is
the instance id (``tencentcloud:///ap-guangzhou-3/ins-abc`` -> ``ins-abc``; Alibaba Cloud's
``cn-hangzhou.i-abc`` -> ``i-abc``), and to a node-pool member by its instance id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from burstd.kube.objects import MachineObs
from burstd.model.cloud import Instance, NodePool

__all__ = ["OrphanScan", "instance_id_of", "machine_instance_ids", "node_pool_instance_ids", "scan"]


def instance_id_of(provider_id: str) -> str:
    """The cloud instance id a Kubernetes ``providerID`` names (its last path segment; for the
    ``<region>.<instance id>`` form, the part after the last dot)."""
    last = provider_id.rstrip("/").rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1] if "." in last else last


def machine_instance_ids(machines: Iterable[MachineObs]) -> set[str]:
    """The instance ids behind these Machines (those whose providerID is set)."""
    return {instance_id_of(m.provider_id) for m in machines if m.provider_id}


def node_pool_instance_ids(pool: NodePool) -> set[str]:
    """The instance ids of a native node pool's members."""
    return {m.instance_id for m in pool.members}


@dataclass(frozen=True, slots=True)
class OrphanScan:
    #: instances unmatched for at least the grace period, as the instance list taken then shows
    orphans: tuple[str, ...]
    #: instance id -> when it was first seen alive with nothing behind it (carry over to the next scan)
    unmatched_since: Mapping[str, float]
    #: an unmatched instance passed its grace but the instance list is older than that: list again
    recheck: bool


def scan(
    instances: Sequence[Instance],
    listed_at: float,
    members: set[str],
    unmatched_since: Mapping[str, float],
    now: float,
    grace: float,
) -> OrphanScan:
    """Which of ``instances`` (listed at ``listed_at``) are orphans now.

    An instance counts as an orphan once it has been seen alive with no member behind it for ``grace``
    (counted from the later of its creation and the first time it was seen unmatched), and the instance
    list itself was taken after that: an instance terminated since an older listing is never reported.
    """
    since: dict[str, float] = {}
    orphans: list[str] = []
    recheck = False
    for inst in instances:
        if not inst.alive or inst.id in members:
            continue
        first = unmatched_since.get(inst.id, now)
        since[inst.id] = first
        due = max(first, inst.created_at) + grace
        if now < due:
            continue
        if listed_at >= due:
            orphans.append(inst.id)
        else:
            recheck = True
    return OrphanScan(tuple(sorted(orphans)), since, recheck)
