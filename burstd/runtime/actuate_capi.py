"""ScalePool and MarkMachines on Cluster API MachineDeployments and MachinePools (management cluster).

burstd reads the v1beta2 API and falls back to v1beta1 when the management cluster does not serve v1beta2
(an older Cluster API): the server then answers ``404 page not found`` for the resource, which is told
apart from the ``Status`` 404 for a missing object. The version found is remembered per resource.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from burstd.kube.client import KubeClient
from burstd.kube.errors import Conflict, NotFound
from burstd.kube.resources import (
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    MACHINE_POOLS,
    MACHINE_POOLS_V1BETA1,
    MACHINES,
    MACHINES_V1BETA1,
    Resource,
)
from burstd.model.actions import MarkMachines, ScalePool, describe
from burstd.policy.spec import BurstPolicy, NamespacedRef
from burstd.runtime.actuate_base import ActionResult, WriteGate, dig, ref_of, sending, stale
from burstd.runtime.eventsink import EventSink, ObjectRef

__all__ = [
    "CA_MAX_SIZE",
    "CA_MIN_SIZE",
    "DELETE_MACHINE",
    "PAUSED_ANNOTATION",
    "CapiActuator",
    "Refusal",
    "object_missing",
    "refusal",
]

log = logging.getLogger("burstd.runtime.actuate")

CA_MIN_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
CA_MAX_SIZE = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
PAUSED_ANNOTATION = "cluster.x-k8s.io/paused"
DELETE_MACHINE = "cluster.x-k8s.io/delete-machine"

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Kind:
    primary: Resource
    fallback: Resource
    machine_label: str  # the label that ties a Machine to this object


_KINDS = {
    "capi-machinedeployment": _Kind(
        MACHINE_DEPLOYMENTS, MACHINE_DEPLOYMENTS_V1BETA1, "cluster.x-k8s.io/deployment-name"
    ),
    "capi-machinepool": _Kind(MACHINE_POOLS, MACHINE_POOLS_V1BETA1, "cluster.x-k8s.io/pool-name"),
}


def object_missing(exc: NotFound, name: str) -> bool:
    """True when the 404 says the object does not exist; False when the API version is not served."""
    return exc.reason == "NotFound" and f'"{name}" not found' in exc.message


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # the Event reason
    message: str


def refusal(obj: Obj, kind: str) -> Refusal | None:
    """Why burstd must not scale this MachineDeployment/MachinePool (Cluster Autoscaler, paused), if so."""
    meta = dig(obj, "metadata") or {}
    what = f"{kind} {meta.get('namespace')}/{meta.get('name')}"
    annotations = meta.get("annotations") or {}
    if CA_MIN_SIZE in annotations and CA_MAX_SIZE in annotations:
        return Refusal(
            "RefusedAutoscalerManaged",
            f"{what} is managed by Cluster Autoscaler (annotations {CA_MIN_SIZE} and {CA_MAX_SIZE} are "
            "set), so burstd does not touch it; remove both annotations to hand it to burstd, or take "
            "this pool out of the BurstPolicy.",
        )
    if dig(obj, "spec", "paused") is True:
        return Refusal(
            "RefusedPaused",
            f"{what} is paused (spec.paused: true), so burstd does not touch it; set spec.paused to false "
            "once the maintenance is over.",
        )
    if PAUSED_ANNOTATION in annotations:
        return Refusal(
            "RefusedPaused",
            f"{what} is paused (annotation {PAUSED_ANNOTATION} is set), so burstd does not touch it; "
            "remove the annotation once the maintenance is over.",
        )
    return None


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class CapiActuator:
    """Writes to the management cluster for ScalePool and MarkMachines."""

    def __init__(
        self, client: KubeClient, events: EventSink, gate: WriteGate, clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._events = events
        self._gate = gate
        self._clock = clock
        self._served: dict[str, Resource] = {}  # primary resource -> the version the server serves

    async def read(self, primary: Resource, fallback: Resource, name: str, ns: str) -> tuple[Resource, Obj]:
        """GET ``name`` as ``primary`` (v1beta2), or as ``fallback`` if the server does not serve it."""
        resource = self._served.get(str(primary), primary)
        try:
            return resource, await self._client.get(resource, name, ns)
        except NotFound as exc:
            if resource is fallback or object_missing(exc, name):
                raise
        log.info("%s is not served; using %s (an older Cluster API)", primary, fallback)
        self._served[str(primary)] = fallback
        return fallback, await self._client.get(fallback, name, ns)

    def _target(self, policy: BurstPolicy, pool_name: str) -> tuple[_Kind, NamespacedRef] | str:
        pool = next((p for p in policy.spec.burst.pools if p.name == pool_name), None)
        if pool is None:
            return f"BurstPolicy {policy.name} has no pool named {pool_name!r}"
        kind = _KINDS.get(pool.backend)
        if kind is None:  # native node pools are driven by burstd.runtime.actuate_nodepool
            return f"pool {pool.name} (backend {pool.backend}) is not a Cluster API pool"
        if pool.ref is None:
            return f"pool {pool.name} (backend {pool.backend}) has no ref to a Cluster API object"
        return kind, pool.ref

    async def _refuse(
        self, action: ScalePool | MarkMachines, obj: Obj, regarding: ObjectRef
    ) -> ActionResult | None:
        why = refusal(obj, regarding.kind)
        if why is None:
            return None
        log.warning("refused to %s: %s", describe(action), why.message)
        if not self._gate.dry_run:
            await self._events.emit(regarding, "Warning", why.reason, type(action).__name__, why.message)
        return ActionResult(action, "refused", why.message)

    async def _managed(
        self, policy: BurstPolicy, action: ScalePool | MarkMachines
    ) -> ActionResult | tuple[_Kind, Resource, NamespacedRef, ObjectRef]:
        """The pool's MachineDeployment/MachinePool (kind, resource served, ref, Event target), or why it is
        refused."""
        target = self._target(policy, action.pool)
        if isinstance(target, str):
            log.warning("refused to %s: %s", describe(action), target)
            return ActionResult(action, "refused", target)
        kind, ref = target
        resource, obj = await self.read(kind.primary, kind.fallback, ref.name, ref.namespace)
        regarding = ref_of(obj, resource.api_version, resource.kind)
        refused = await self._refuse(action, obj, regarding)
        if refused is not None:
            return refused
        return kind, resource, ref, regarding

    async def scale(self, policy: BurstPolicy, action: ScalePool) -> ActionResult:
        """Set ``spec.replicas`` through ``/scale``, unless it already holds or the object is refused. The
        write carries the Scale's resourceVersion: when the object changed since it was read, ``conflict``."""
        found = await self._managed(policy, action)
        if isinstance(found, ActionResult):
            return found
        _, resource, ref, regarding = found
        scale = await self._client.get_scale(resource, ref.name, ref.namespace)
        current = int(dig(scale, "spec", "replicas") or 0)
        if current == action.nodes:
            return ActionResult(action, "unchanged", f"{regarding} already has {current} replicas")
        if self._gate.dry_run:
            return self._gate.dry(action, f"{regarding} has {current} replicas")
        version = dig(scale, "metadata", "resourceVersion")
        self._gate.ensure_leader(action)
        try:
            with sending({"spec": {"replicas": action.nodes}}):
                await self._client.patch_scale(
                    resource,
                    ref.name,
                    action.nodes,
                    ref.namespace,
                    resource_version=str(version) if version else None,
                )
        except Conflict as exc:
            return stale(action, str(regarding), exc)
        reason = "ScaledUp" if action.nodes > current else "ScaledDown"
        await self._events.emit(regarding, "Normal", reason, "ScalePool", describe(action))
        return ActionResult(action, "applied", f"{regarding}: {current} -> {action.nodes} replicas")

    async def mark(self, policy: BurstPolicy, action: MarkMachines) -> ActionResult:
        """Annotate each named Machine of the pool with ``cluster.x-k8s.io/delete-machine``."""
        found = await self._managed(policy, action)
        if isinstance(found, ActionResult):
            return found
        kind, _, ref, regarding = found
        ns = ref.namespace
        todo: list[tuple[Resource, str, str | None]] = []  # (resource served, name, resourceVersion read)
        skipped: list[str] = []
        for name in action.machines:
            try:
                machines, machine = await self.read(MACHINES, MACHINES_V1BETA1, name, ns)
            except NotFound as exc:
                if not object_missing(exc, name):
                    raise
                log.info("Machine %s/%s is already gone; not marking it", ns, name)
                skipped.append(f"{name} (gone)")
                continue
            meta = machine.get("metadata") or {}
            if (meta.get("labels") or {}).get(kind.machine_label) != ref.name:
                log.warning("Machine %s/%s is not a Machine of %s; not marking it", ns, name, regarding)
                skipped.append(f"{name} (not in {regarding})")
            elif DELETE_MACHINE in (meta.get("annotations") or {}):
                skipped.append(f"{name} (already marked)")
            else:
                version = meta.get("resourceVersion")
                todo.append((machines, name, str(version) if version else None))
        skip_note = f"skipped {', '.join(skipped)}" if skipped else ""
        if not todo:
            return ActionResult(action, "unchanged", f"nothing to mark: {skip_note}")
        if self._gate.dry_run:
            return self._gate.dry(action, skip_note)
        when = _rfc3339(self._clock())
        marked: list[str] = []
        changed: tuple[str, Conflict] | None = None  # the Machine that changed since it was read
        for machines, name, version in todo:
            # the resourceVersion read above: a Machine changed since (by a new leader, or now Ready) is
            # decided on again next round
            fields: dict[str, Any] = {"annotations": {DELETE_MACHINE: when}}
            if version is not None:
                fields["resourceVersion"] = version
            patch = {"metadata": fields}
            self._gate.ensure_leader(action)
            try:
                with sending(patch):
                    await self._client.merge_patch(machines, name, patch, ns)
            except NotFound:
                log.info("Machine %s/%s went away before it was marked", ns, name)
                continue
            except Conflict as exc:
                changed = (name, exc)
                break
            marked.append(name)
        if marked:
            done = replace(action, machines=tuple(marked))
            await self._events.emit(
                regarding, "Normal", "MachinesMarkedForDeletion", "MarkMachines", describe(done)
            )
        if changed is not None:
            result = stale(action, f"Machine {ns}/{changed[0]}", changed[1])
            if marked:
                result = replace(result, message=f"marked {', '.join(marked)}; {result.message}")
            return result
        if not marked:
            return ActionResult(action, "unchanged", "every Machine went away before it was marked")
        message = f"marked {', '.join(marked)} ({DELETE_MACHINE})" + (f"; {skip_note}" if skip_note else "")
        return ActionResult(action, "applied", message)

    async def problems(self, policy: BurstPolicy) -> list[str]:
        """Why a Cluster API pool of ``policy`` cannot be managed: missing, Cluster Autoscaler's, paused.
        Pools of other backends (native node pools) are checked by their own actuator."""
        out: list[str] = []
        for pool in policy.spec.burst.pools:
            kind = _KINDS.get(pool.backend)
            if kind is None:
                continue
            if pool.ref is None:
                out.append(f"Pool {pool.name} (backend {pool.backend}) has no ref to a Cluster API object.")
                continue
            try:
                resource, obj = await self.read(
                    kind.primary, kind.fallback, pool.ref.name, pool.ref.namespace
                )
            except NotFound:
                out.append(
                    f"{kind.primary.kind} {pool.ref.key} (pool {pool.name}) does not exist on the "
                    "management cluster; create it or fix the pool's ref."
                )
                continue
            why = refusal(obj, resource.kind)
            if why is not None:
                out.append(why.message)
        return out
