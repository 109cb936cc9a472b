"""Parsers: raw API objects -> ``burstd.model`` values, at the edge where they arrive.

A parser raises ``ValueError``, ``KeyError`` or ``TypeError`` with a message that says what is wrong; the
watch cache then skips that object with a warning naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from burstd.model.quantities import parse_quantity
from burstd.model.world import ClusterSummary, Resources


def _mapping(value: Any, where: str, *, required: bool = True) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if value is None:
        raise ValueError(f"{where} is missing")
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _quantity(value: Any, where: str) -> float:
    if not isinstance(value, (str, int, float)):
        raise TypeError(f"{where} must be a quantity, got {type(value).__name__}")
    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _resources(summary: Mapping[str, Any], key: str, *, required: bool) -> Resources:
    where = f"status.resourceSummary.{key}"
    rl = _mapping(summary.get(key), where, required=required)
    if required:
        for res in ("cpu", "memory"):
            if res not in rl:
                raise ValueError(f"{where}.{res} is missing")
    return Resources(
        cpu=_quantity(rl.get("cpu", 0), f"{where}.cpu"),
        memory=_quantity(rl.get("memory", 0), f"{where}.memory"),
    )


def object_name(obj: Mapping[str, Any]) -> str:
    meta = _mapping(obj.get("metadata"), "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name is missing")
    return name


def _ready(status: Mapping[str, Any]) -> bool:
    conditions = status.get("conditions") or []
    if not isinstance(conditions, list):
        raise TypeError("status.conditions must be a list")
    for i, cond in enumerate(conditions):
        c = _mapping(cond, f"status.conditions[{i}]")
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def parse_cluster(obj: Mapping[str, Any], observed_at: float) -> ClusterSummary:
    """A Karmada ``Cluster`` -> ``ClusterSummary`` from ``status.resourceSummary`` and the Ready condition.

    ``allocatable`` must give cpu and memory (a summary without them cannot be used for decisions);
    ``allocated`` and ``allocating`` default to zero when absent (no pods). A cluster without a Ready
    condition is not ready.
    """
    name = object_name(obj)
    status = _mapping(obj.get("status"), "status")
    summary = _mapping(status.get("resourceSummary"), "status.resourceSummary")
    return ClusterSummary(
        name=name,
        allocatable=_resources(summary, "allocatable", required=True),
        allocated=_resources(summary, "allocated", required=False),
        allocating=_resources(summary, "allocating", required=False),
        ready=_ready(status),
        observed_at=observed_at,
    )
