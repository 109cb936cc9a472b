"""Policies the daemon holds because another policy already manages one of their targets.

``burstd.policy.claims.refusals`` decides which (the running claimant keeps its targets; otherwise the
first read). Here: the Events about it (``PolicyConflict``, Warning, on each contested object, on that
object's own API server) and the log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from burstd.kube.resources import PROPAGATION_POLICIES
from burstd.policy.claims import ONE_OWNER, Conflict, Target, claimed
from burstd.policy.spec import BurstPolicy
from burstd.runtime.eventsink import EventSink, ObjectRef

__all__ = ["EVENT_REASON", "HELD_REASON", "announce", "message_of", "owners_of", "regarding"]

log = logging.getLogger("burstd.runtime")

#: ``burstd_policy_held{reason}`` and the key in ``PolicyRunner.blocked``
HELD_REASON = "TargetConflict"
#: the reason of the Warning Event on the contested object
EVENT_REASON = "PolicyConflict"
_EVENT_ACTION = "HoldPolicy"


def owners_of(policies: Sequence[BurstPolicy], held: Mapping[str, object]) -> dict[Target, str]:
    """Which running policy manages each target: every claim of the policies not in ``held``."""
    return {c.target: c.policy for p in policies if p.name not in held for c in claimed(p)}


def message_of(conflicts: Sequence[Conflict]) -> str:
    """Why a policy is held: each conflict, then what to do."""
    return "; ".join(c.message() for c in conflicts) + f" ({ONE_OWNER})"


def regarding(target: Target, capi_version: str) -> tuple[str, ObjectRef] | None:
    """The API server (``karmada`` or ``management``) and object an Event about ``target`` goes to; None
    for a native node pool (no Kubernetes object: the log and the metric report it)."""
    namespace, _, name = target.key.partition("/")
    if target.kind == PROPAGATION_POLICIES.kind:
        return "karmada", ObjectRef(PROPAGATION_POLICIES.api_version, target.kind, name, namespace)
    if target.kind in ("MachineDeployment", "MachinePool"):
        return "management", ObjectRef(f"cluster.x-k8s.io/{capi_version}", target.kind, name, namespace)
    return None


async def announce(conflicts: Sequence[Conflict], sinks: Mapping[str, EventSink], capi_version: str) -> None:
    """One Warning Event per contested object (an EventSink never raises)."""
    for conflict in conflicts:
        where = regarding(conflict.target, capi_version)
        if where is None or where[0] not in sinks:
            continue
        server, ref = where
        note = f"{conflict.message()}: policy {conflict.later.policy} is held ({ONE_OWNER})"
        await sinks[server].emit(ref, "Warning", EVENT_REASON, _EVENT_ACTION, note)
