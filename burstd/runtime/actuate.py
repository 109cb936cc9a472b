"""Apply the engine's actions to the real API servers: idempotent, one Event per change, never forced.

``Actuator.apply`` turns one action into at most a few writes and returns what happened (``ActionResult``):
``applied``, ``unchanged`` (already so: nothing written, no Event), ``dry-run`` (would have written),
``held`` (another field manager owns the weights: burstd did not force), ``refused`` (a target burstd must
not manage: Cluster Autoscaler's or the cloud's autoscaler's, paused, a provider not configured, a node pool
the cloud does not know or bad cloud credentials), ``conflict`` (the object changed since it was read: a
resourceVersion precondition failed; the next round decides again) or ``failed`` (a cloud call failed in a
way that may pass: throttled, unavailable, stock-out, quota; the next round decides again). Every write is preceded by a leadership check (``NotLeader``), and the clients should be fenced by the same
window (``KubeClient.fenced``) so that retries and writes in flight are fenced too. API errors other than those handled here propagate as
``burstd.kube.errors`` classes; a 422 on a write carries the body burstd sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from burstd.cloud.provider import CloudProvider, ProviderError
from burstd.kube.client import KubeClient
from burstd.kube.fence import Fence, unfenced
from burstd.model.actions import Action, Alert, Hold, MarkMachines, Rebalance, ScalePool, SetWeights
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate_base import FIELD_MANAGER, ActionResult, NotLeader, Outcome, WriteGate
from burstd.runtime.actuate_capi import CapiActuator
from burstd.runtime.actuate_karmada import KarmadaActuator
from burstd.runtime.actuate_nodepool import NodePoolActuator
from burstd.runtime.eventsink import EventSink

__all__ = ["FIELD_MANAGER", "ActionResult", "Actuator", "NotLeader", "Outcome"]

_NO_PROVIDERS: Mapping[str, CloudProvider] = MappingProxyType({})


class Actuator:
    """Applies actions: Cluster API writes on ``management``, Karmada writes on ``karmada``, native node pool
    (``tke-nodepool``, ``ack-nodepool``) writes through ``providers`` (by provider name, the pools'
    ``provider``; see ``burstd.runtime.actuate_nodepool``).

    Events about Cluster API objects go to ``management_events``, the others (native node pools included:
    they have no Kubernetes object) to ``karmada_events``. With
    ``dry_run`` nothing is written (reads still happen, so refusals and "unchanged" are still reported)
    and no Event is emitted. ``fence`` (seconds left in which a write may be sent, e.g.
    ``LeaderElector.write_window``) is asked before every write and at the start of every action but
    ``Hold``: a non-leader raises ``NotLeader`` before writing anything.
    """

    def __init__(
        self,
        karmada: KubeClient,
        management: KubeClient,
        karmada_events: EventSink,
        management_events: EventSink,
        *,
        dry_run: bool = False,
        fence: Fence = unfenced,
        clock: Callable[[], float] = time.time,
        providers: Mapping[str, CloudProvider] = _NO_PROVIDERS,
        on_cloud_error: Callable[[str, ProviderError], None] | None = None,
    ) -> None:
        self._gate = WriteGate(dry_run, fence)
        self._capi = CapiActuator(management, management_events, self._gate, clock)
        self._karmada = KarmadaActuator(karmada, karmada_events, self._gate)
        self._node_pools = NodePoolActuator(providers, karmada_events, self._gate, on_cloud_error)

    @property
    def dry_run(self) -> bool:
        return self._gate.dry_run

    async def apply(self, policy: BurstPolicy, action: Action) -> ActionResult:
        if isinstance(action, Hold):
            return ActionResult(action, "unchanged", action.reason)
        self._gate.ensure_leader(action)
        match action:
            case ScalePool() if self._node_pools.handles(policy, action.pool):
                return await self._node_pools.scale(policy, action)
            case MarkMachines() if self._node_pools.handles(policy, action.pool):
                return await self._node_pools.mark(policy, action)
            case ScalePool():
                return await self._capi.scale(policy, action)
            case MarkMachines():
                return await self._capi.mark(policy, action)
            case SetWeights():
                return await self._karmada.set_weights(action)
            case Rebalance():
                return await self._karmada.rebalance(policy, action)
            case Alert():
                return await self._karmada.alert(policy, action)

    async def preflight(self, policy: BurstPolicy) -> list[str]:
        """Problems that make ``policy`` unmanageable, each a full sentence naming the object.

        Missing, Cluster Autoscaler-managed or paused MachineDeployments/MachinePools; native node pools
        whose provider is not configured or not a node-pool backend, that cannot be read (not found, bad
        credentials, the cloud unreachable) or that the cloud's own autoscaler manages; a missing
        PropagationPolicy; in ``static-weights`` mode a PropagationPolicy that is not Divided + Weighted
        or that sets ``dynamicWeight``. Other API errors (403, unreachable) propagate.
        """
        return [
            *await self._capi.problems(policy),
            *await self._node_pools.problems(policy),
            *await self._karmada.problems(policy),
        ]
