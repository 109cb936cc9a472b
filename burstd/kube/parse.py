"""Parsers: raw API objects -> ``burstd`` values, at the edge where they arrive.

A parser raises ``ValueError``, ``KeyError`` or ``TypeError`` with a message that names the field's path;
the watch cache then skips that object with a warning naming it. Karmada workload objects are parsed in
``parse_karmada`` and Cluster API objects in ``parse_capi``; every parser is importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from burstd.model.world import ClusterSummary, Resources

from . import fields as f
from .fields import object_key, object_name
from .parse_capi import parse_machine, parse_machine_deployment, parse_machine_pool, parse_scalable
from .parse_karmada import parse_federated_hpa, parse_propagation_policy, parse_resource_binding

__all__ = [
    "object_key",
    "object_name",
    "parse_cluster",
    "parse_federated_hpa",
    "parse_machine",
    "parse_machine_deployment",
    "parse_machine_pool",
    "parse_propagation_policy",
    "parse_resource_binding",
    "parse_scalable",
]


def _resources(summary: Mapping[str, Any], key: str, *, complete: bool) -> Resources:
    """``summary[key]`` as Resources, zero when absent; with ``complete``, one that is there must give
    both cpu and memory."""
    where = f"status.resourceSummary.{key}"
    rl = f.mapping(summary.get(key), where, required=False)
    if complete and rl:
        for res in ("cpu", "memory"):
            if res not in rl:
                raise ValueError(f"{where}.{res} is missing")
    return f.resources(rl, where)


def parse_cluster(obj: Mapping[str, Any], observed_at: float) -> ClusterSummary:
    """A Karmada ``Cluster`` -> ``ClusterSummary`` from ``status.resourceSummary`` and the Ready condition.

    An ``allocatable`` that is there must give cpu and memory (half a summary cannot be used for
    decisions). What is absent is zero: Karmada's cluster status controller leaves zero quantities out, so
    a Ready member with no Nodes reports ``resourceSummary: {}`` (a cloud cluster at rest, or a base that
    lost every node: no room, not "unobserved"). A cluster without a Ready condition is not ready.
    """
    name = object_name(obj)
    status = f.mapping(obj.get("status"), "status")
    summary = f.mapping(status.get("resourceSummary"), "status.resourceSummary", required=False)
    return ClusterSummary(
        name=name,
        allocatable=_resources(summary, "allocatable", complete=True),
        allocated=_resources(summary, "allocated", complete=False),
        allocating=_resources(summary, "allocating", complete=False),
        ready=f.condition_true(status.get("conditions"), "status.conditions", "Ready"),
        observed_at=observed_at,
        changed_at=observed_at,
    )
