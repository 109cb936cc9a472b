"""ScalePool and MarkMachines on native node pools (backends ``tke-nodepool``, ``ack-nodepool``), through the
pool's cloud provider (``NodePoolBackend``) instead of Cluster API.

The engine shrinks a pool in two actions: ``MarkMachines`` names the members to remove (the emptiest
first), then ``ScalePool`` sets the lower count. On Cluster API the first marks Machines and the second
lowers ``spec.replicas`` so the MachineSet deletes exactly the marked ones. Here the first is
``remove_nodes(pool, instance_ids)``: the cloud releases exactly those nodes and lowers the desired count
by as many, so the ``ScalePool`` after it finds the count already there (``unchanged``). The workloads'
replicas have left them before (the Draining phase moves them to the base through Karmada's weights); ACK
also drains the nodes, TKE's ``DeleteClusterInstances`` does not (anything else scheduled there is cut).
Growing, or any count the removal did not reach, is ``scale_node_pool(pool, desired)``. Members are named by
instance id (``burstd.runtime.observe_nodepool``).

Every action reads the node pool first (also in dry-run, so refusals and "unchanged" are still reported),
checks leadership right before each cloud write, and emits one Event per change. A node pool has no
Kubernetes object, so its Events go, like the Alerts, to the PropagationPolicy of the policy's first
workload (on the Karmada API server), naming the node pool in the note.

A provider error never crashes the round; it becomes the action's outcome:

- ``AuthFailed`` and ``InvalidRequest`` (wrong credentials or permissions, an unknown node pool): a human
  must act, so ``refused`` with a Warning Event; the daemon holds the policy (``RefusedTarget``) and checks
  it again every round (``problems``), resuming once the call succeeds;
- ``StockOut``, ``QuotaExceeded``, ``Throttled``, ``Unavailable``, and an ``InvalidRequest`` from
  ``remove_nodes`` (a member released between the read and the removal): ``failed``; nothing more of the
  step is applied, its state is not saved, and the next round decides again (with fresh quotes, so a
  stock-out or a quota fails over to the next pool).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from burstd.cloud.provider import (
    AuthFailed,
    CloudProvider,
    InvalidRequest,
    NodePool,
    NodePoolBackend,
    ProviderError,
    Throttled,
)
from burstd.kube.resources import PROPAGATION_POLICIES
from burstd.model.actions import MarkMachines, ScalePool, describe
from burstd.policy.spec import BurstPolicy, PoolSpec
from burstd.runtime.actuate_base import ActionResult, WriteGate
from burstd.runtime.eventsink import EventSink, ObjectRef
from burstd.runtime.observe_nodepool import NODE_POOL_KINDS, is_native, node_pool_label

__all__ = ["NodePoolActuator", "events_ref"]

log = logging.getLogger("burstd.runtime.actuate")

T = TypeVar("T")

#: provider errors that need a human: the action is refused and the policy held until they are fixed
_NEEDS_A_HUMAN = (AuthFailed, InvalidRequest)


def events_ref(policy: BurstPolicy) -> ObjectRef:
    """The object a native pool's Events are about: the PropagationPolicy of the policy's first workload
    (where the Alerts go too)."""
    pp = policy.spec.workloads[0].propagation_policy
    return ObjectRef(PROPAGATION_POLICIES.api_version, PROPAGATION_POLICIES.kind, pp.name, pp.namespace)


@dataclass(frozen=True, slots=True)
class _Target:
    pool: PoolSpec
    provider: CloudProvider
    backend: NodePoolBackend
    label: str  # e.g. "TKE node pool cls-1/np-1 (pool tke-gz6)"


class _Failed(Exception):
    """A provider call failed; carries the action's result."""

    def __init__(self, result: ActionResult) -> None:
        super().__init__(result.message)
        self.result = result


class NodePoolActuator:
    """Drives native node pools through the providers, by provider name (``PoolSpec.provider``)."""

    def __init__(
        self,
        providers: Mapping[str, CloudProvider],
        events: EventSink,
        gate: WriteGate,
        on_error: Callable[[str, ProviderError], None] | None = None,
    ) -> None:
        self._providers = providers
        self._events = events
        self._gate = gate
        #: told of every failed provider call (provider name, error), e.g. to count it in a metric
        self._on_error = on_error
        #: (policy, pool) -> the refusal last announced with an Event (announced again only when it changes)
        self._announced: dict[tuple[str, str], str] = {}

    @staticmethod
    def handles(policy: BurstPolicy, pool_name: str) -> bool:
        """True when ``pool_name`` is a native node pool of ``policy`` (its actions come here)."""
        return any(p.name == pool_name and is_native(p) for p in policy.spec.burst.pools)

    # ------------------------------------------------------------------------------------------ targets

    def _backend(self, pool: PoolSpec) -> tuple[CloudProvider, NodePoolBackend] | str:
        """The pool's provider as a node-pool backend, or why it cannot be one (a full sentence)."""
        provider = self._providers.get(pool.provider)
        if provider is None:
            configured = ", ".join(sorted(self._providers)) or "none"
            return (
                f"Pool {pool.name} ({node_pool_label(pool)}) uses cloud provider {pool.provider!r}, which is "
                f"not configured in burstd (configured providers: {configured}); configure it, or fix the "
                "pool's provider."
            )
        if not isinstance(provider, NodePoolBackend):
            return (
                f"Pool {pool.name} uses backend {pool.backend}, but cloud provider {pool.provider!r} does not "
                "drive native node pools; use a provider that does, or a Cluster API backend."
            )
        return provider, provider

    def _target(self, policy: BurstPolicy, action: ScalePool | MarkMachines) -> _Target | ActionResult:
        pool = next((p for p in policy.spec.burst.pools if p.name == action.pool), None)
        if pool is None:
            why = f"BurstPolicy {policy.name} has no pool named {action.pool!r}"
        elif not is_native(pool):
            why = f"pool {pool.name} (backend {pool.backend}) is not a native node pool"
        else:
            found = self._backend(pool)
            if not isinstance(found, str):
                label = f"{node_pool_label(pool)} (pool {pool.name})"
                return _Target(pool, found[0], found[1], label)
            why = found
        log.warning("refused to %s: %s", describe(action), why)
        return ActionResult(action, "refused", why)

    # ------------------------------------------------------------------------------------------ calls

    async def _call(
        self,
        policy: BurstPolicy,
        action: ScalePool | MarkMachines,
        target: _Target,
        what: str,
        call: Callable[[], Awaitable[T]],
        needs_a_human: tuple[type[ProviderError], ...] = _NEEDS_A_HUMAN,
    ) -> T:
        """``call()``; a failure raises ``_Failed`` with the action's result: ``refused`` for the errors in
        ``needs_a_human``, ``failed`` for the others."""
        try:
            return await call()
        except ProviderError as exc:
            error = exc
        except Exception as exc:  # a provider must raise only ProviderErrors; classify what slips through
            error = target.provider.classify(exc)
        if error.provider is None:
            error.provider = target.provider.name
        if error.pool is None:
            error.pool = target.pool.name
        self._failed_call(target.provider.name, error)
        retry = (
            f"; retry after {error.retry_after:g}s"
            if isinstance(error, Throttled) and error.retry_after is not None
            else ""
        )
        if isinstance(error, needs_a_human):
            message = (
                f"cannot {what} {target.label}: {error}; the policy is held until the call succeeds "
                "(checked every round)"
            )
            log.warning("refused to %s: %s", describe(action), message)
            if not self._gate.dry_run:
                await self._events.emit(
                    events_ref(policy), "Warning", f"NodePool{error.reason}", type(action).__name__, message
                )
            raise _Failed(ActionResult(action, "refused", message))
        message = f"cannot {what} {target.label}: {error}{retry}; the next round decides again"
        log.warning("%s: %s", describe(action), message)
        raise _Failed(ActionResult(action, "failed", message))

    async def _read(
        self, policy: BurstPolicy, action: ScalePool | MarkMachines, target: _Target
    ) -> NodePool | ActionResult:
        """The node pool now, or the action's result when it cannot be read or must not be touched."""
        try:
            node_pool = await self._call(
                policy, action, target, "read", lambda: target.backend.node_pool(target.pool)
            )
        except _Failed as failed:
            return failed.result
        if node_pool.autoscaling:
            message = _autoscaling(target.pool)
            log.warning("refused to %s: %s", describe(action), message)
            if not self._gate.dry_run:
                await self._events.emit(
                    events_ref(policy), "Warning", "RefusedAutoscalerManaged", type(action).__name__, message
                )
            return ActionResult(action, "refused", message)
        return node_pool

    # ------------------------------------------------------------------------------------------ actions

    async def scale(self, policy: BurstPolicy, action: ScalePool) -> ActionResult:
        """Set the node pool's desired count, unless it already holds or the node pool is refused."""
        target = self._target(policy, action)
        if isinstance(target, ActionResult):
            return target
        node_pool = await self._read(policy, action, target)
        if isinstance(node_pool, ActionResult):
            return node_pool
        current = node_pool.desired
        if current == action.nodes:
            return ActionResult(action, "unchanged", f"{target.label} already wants {current} nodes")
        if self._gate.dry_run:
            return self._gate.dry(action, f"{target.label} wants {current} nodes")
        self._gate.ensure_leader(action)
        try:
            await self._call(
                policy,
                action,
                target,
                f"set the desired node count ({current} -> {action.nodes}) of",
                lambda: target.backend.scale_node_pool(target.pool, action.nodes),
            )
        except _Failed as failed:
            return failed.result
        reason = "ScaledUp" if action.nodes > current else "ScaledDown"
        note = f"{target.label}: {current} -> {action.nodes} nodes ({action.reason})"
        await self._events.emit(events_ref(policy), "Normal", reason, "ScalePool", note)
        return ActionResult(action, "applied", f"{target.label}: {current} -> {action.nodes} nodes")

    async def mark(self, policy: BurstPolicy, action: MarkMachines) -> ActionResult:
        """Remove exactly the named members (instance ids) from the node pool; the desired count drops by as
        many. Members already gone or already being removed are skipped."""
        target = self._target(policy, action)
        if isinstance(target, ActionResult):
            return target
        node_pool = await self._read(policy, action, target)
        if isinstance(node_pool, ActionResult):
            return node_pool
        members = {m.instance_id: m for m in node_pool.members}
        todo: list[str] = []
        skipped: list[str] = []
        for instance_id in dict.fromkeys(action.machines):
            member = members.get(instance_id)
            if member is None:
                skipped.append(f"{instance_id} (not a member: gone)")
            elif member.deleting:
                skipped.append(f"{instance_id} (already being removed)")
            else:
                todo.append(instance_id)
        skip_note = f"skipped {', '.join(skipped)}" if skipped else ""
        if not todo:
            return ActionResult(action, "unchanged", f"nothing to remove: {skip_note}")
        if self._gate.dry_run:
            return self._gate.dry(action, f"would remove {', '.join(todo)} from {target.label}")
        ids = tuple(todo)
        self._gate.ensure_leader(action)
        try:
            await self._call(
                policy,
                action,
                target,
                f"remove {', '.join(ids)} from",
                lambda: target.backend.remove_nodes(target.pool, ids),
                # an id the cloud rejects is most likely a member released since the read: decided again
                # next round on a fresh read, not a reason to hold the policy
                needs_a_human=(AuthFailed,),
            )
        except _Failed as failed:
            return failed.result
        after = max(0, node_pool.desired - len(ids))
        note = (
            f"removed {', '.join(ids)} from {target.label} (desired {node_pool.desired} -> {after}; "
            f"{action.reason})"
        )
        await self._events.emit(events_ref(policy), "Normal", "NodesRemoved", "MarkMachines", note)
        message = f"removed {', '.join(ids)} from {target.label}" + (f"; {skip_note}" if skip_note else "")
        return ActionResult(action, "applied", message)

    # ------------------------------------------------------------------------------------------ preflight

    async def problems(self, policy: BurstPolicy) -> list[str]:
        """Why a native pool of ``policy`` cannot be managed (full sentences): its provider is not
        configured or does not drive node pools, the node pool cannot be read (not found, credentials,
        the cloud unreachable), or the cloud's own autoscaler manages it. Each refusal is also announced
        once (again when it changes) as a Warning Event on the policy's first PropagationPolicy:
        ``CloudAuthFailed``, ``CloudProviderError``, ``NodePoolNotFound``, ``RefusedAutoscalerManaged`` or
        ``CloudProviderNotConfigured``."""
        out: list[str] = []
        for pool in policy.spec.burst.pools:
            if pool.backend not in NODE_POOL_KINDS:
                continue
            found = await self._problem(pool)
            key = (policy.name, pool.name)
            if found is None:
                self._announced.pop(key, None)
                continue
            reason, message = found
            out.append(message)
            if self._announced.get(key) != message and not self._gate.dry_run:
                self._announced[key] = message
                await self._events.emit(events_ref(policy), "Warning", reason, "Preflight", message)
        return out

    async def _problem(self, pool: PoolSpec) -> tuple[str, str] | None:
        """Why the native ``pool`` cannot be managed: (Event reason, sentence), or None."""
        if pool.node_pool is None:
            return (
                "InvalidPool",
                f"Pool {pool.name} (backend {pool.backend}) has no nodePool: {{clusterId, nodePoolId}}.",
            )
        found = self._backend(pool)
        if isinstance(found, str):
            return "CloudProviderNotConfigured", found
        provider, backend = found
        label = node_pool_label(pool)
        try:
            node_pool = await backend.node_pool(pool)
        except Exception as exc:
            error = exc if isinstance(exc, ProviderError) else provider.classify(exc)
            self._failed_call(provider.name, error)
            if isinstance(error, AuthFailed):
                return "CloudAuthFailed", (
                    f"{label} (pool {pool.name}) cannot be read: cloud provider {pool.provider!r} rejected "
                    f"burstd's credentials ({error}); nothing is scaled until they are fixed (checked every "
                    "round)."
                )
            if isinstance(error, InvalidRequest):
                return "NodePoolNotFound", (
                    f"{label} (pool {pool.name}) was not found or was refused by cloud provider "
                    f"{pool.provider!r}: {error}; fix the pool's nodePool (clusterId, nodePoolId)."
                )
            return "CloudProviderError", (
                f"{label} (pool {pool.name}) cannot be read through cloud provider "
                f"{pool.provider!r}: {error}; burstd checks again every round."
            )
        if node_pool.autoscaling:
            return "RefusedAutoscalerManaged", _autoscaling(pool)
        return None

    def _failed_call(self, provider: str, error: ProviderError) -> None:
        if self._on_error is not None:
            self._on_error(provider, error)


def _autoscaling(pool: PoolSpec) -> str:
    return (
        f"{node_pool_label(pool)} (pool {pool.name}) is managed by the cloud's own autoscaler (node pool "
        "autoscaling is on), so burstd does not touch it; turn the node pool's autoscaling off to hand it "
        "to burstd, or take this pool out of the BurstPolicy."
    )
