"""SetWeights, Rebalance and Alert on the Karmada API server.

Weights are written with server-side apply as field manager ``burstd`` and never forced. The applied object
holds only ``staticWeightList`` (and what identifies the PropagationPolicy), so burstd owns that list and
nothing else: ``replicaSchedulingType`` and ``replicaDivisionPreference`` stay with whoever set them. If
another manager owns the list with other weights (a person's ``kubectl edit``, a GitOps apply) the server
answers 409 and burstd holds the policy instead of overwriting it.

The applied object also carries the PropagationPolicy's resourceVersion as burstd just read it (an
optimistic-concurrency precondition of server-side apply): when the policy changed since (another writer,
perhaps a new leader, came first) the server answers 409 as well. The two are told apart by the Status
details (``FieldManagerConflict`` causes): the first holds the policy, the second is outcome ``conflict``
and the next round decides again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from burstd.kube.client import KubeClient
from burstd.kube.errors import Conflict, NotFound
from burstd.kube.resources import PROPAGATION_POLICIES, RESOURCE_BINDINGS, WORKLOAD_REBALANCERS
from burstd.model.actions import Alert, Rebalance, SetWeights, Severity, describe
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate_base import (
    FIELD_MANAGER,
    ActionResult,
    WriteGate,
    dig,
    ref_of,
    sending,
    stale,
)
from burstd.runtime.eventsink import EventSink, EventType, ObjectRef

__all__ = [
    "PP_NAMESPACE_ANNOTATION",
    "PP_NAME_ANNOTATION",
    "KarmadaActuator",
    "list_owners",
    "overflow_problem",
    "placement_problem",
    "static_weights",
    "weights_body",
]

log = logging.getLogger("burstd.runtime.actuate")

PP_NAMESPACE_ANNOTATION = "propagationpolicy.karmada.io/namespace"
PP_NAME_ANNOTATION = "propagationpolicy.karmada.io/name"
_LIST_PATH = ("spec", "placement", "replicaScheduling", "weightPreference", "staticWeightList")
_CONFLICT_WITH = re.compile(r'conflict with "([^"]+)"')

Obj = dict[str, Any]


def _split(key: str) -> tuple[str, str]:
    ns, _, name = key.partition("/")
    if not ns or not name:
        raise ValueError(f"workload key {key!r} is not <namespace>/<PropagationPolicy name>")
    return ns, name


def _pp_ref(key: str) -> ObjectRef:
    ns, name = _split(key)
    return ObjectRef(PROPAGATION_POLICIES.api_version, PROPAGATION_POLICIES.kind, name, ns)


def static_weights(pp: Mapping[str, Any]) -> dict[str, int] | None:
    """The PP's staticWeightList as {cluster: weight}; None when absent or not burstd-shaped."""
    entries = dig(pp, *_LIST_PATH)
    if not isinstance(entries, list):
        return None
    out: dict[str, int] = {}
    for entry in entries:
        target = dig(entry, "targetCluster")
        names = dig(target, "clusterNames")
        weight = dig(entry, "weight")
        if not (isinstance(target, Mapping) and set(target) == {"clusterNames"} and isinstance(names, list)):
            return None
        if len(names) != 1 or not isinstance(weight, int) or names[0] in out:
            return None
        out[str(names[0])] = weight
    return out


def weights_body(
    ns: str, name: str, weights: tuple[tuple[str, int], ...], resource_version: str | None = None
) -> Obj:
    """The partial PropagationPolicy burstd applies: the static weight list only, sorted by cluster; with
    ``resource_version`` as a precondition (the apply fails with 409 when the policy has changed since)."""
    entries = [{"targetCluster": {"clusterNames": [c]}, "weight": w} for c, w in sorted(weights)]
    metadata: Obj = {"name": name, "namespace": ns}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": PROPAGATION_POLICIES.api_version,
        "kind": PROPAGATION_POLICIES.kind,
        "metadata": metadata,
        "spec": {"placement": {"replicaScheduling": {"weightPreference": {"staticWeightList": entries}}}},
    }


def list_owners(pp: Mapping[str, Any]) -> list[str]:
    """Field managers other than burstd that own the staticWeightList (from ``managedFields``)."""
    owners: list[str] = []
    for entry in dig(pp, "metadata", "managedFields") or []:
        manager = dig(entry, "manager")
        if manager == FIELD_MANAGER or dig(entry, "fieldsV1", *(f"f:{k}" for k in _LIST_PATH)) is None:
            continue
        owners.append(str(manager))
    return sorted(set(owners))


def placement_problem(pp: Mapping[str, Any]) -> str | None:
    """Why static weights written to this PP would not be used, if so (a full sentence)."""
    what = f"PropagationPolicy {dig(pp, 'metadata', 'namespace')}/{dig(pp, 'metadata', 'name')}"
    scheduling = dig(pp, "spec", "placement", "replicaScheduling") or {}
    kind, division = scheduling.get("replicaSchedulingType"), scheduling.get("replicaDivisionPreference")
    if kind != "Divided" or division != "Weighted":
        return (
            f"{what} must set spec.placement.replicaScheduling.replicaSchedulingType: Divided and "
            f"replicaDivisionPreference: Weighted for burstd's static weights to apply (it has "
            f"{kind or 'no replicaSchedulingType'} / {division or 'no replicaDivisionPreference'})."
        )
    dynamic = dig(scheduling, "weightPreference", "dynamicWeight")
    if dynamic:
        return (
            f"{what} sets weightPreference.dynamicWeight: {dynamic}, which makes Karmada ignore "
            "staticWeightList; remove dynamicWeight for shift.mode static-weights."
        )
    return None


def overflow_problem(pp: Mapping[str, Any], cloud_clusters: Sequence[str]) -> str | None:
    """Why Karmada would not overflow this PP's replicas onto ``cloud_clusters`` (``shift.mode: overflow``),
    if so (a full sentence). Karmada overflows only a Divided placement by available room (dynamic weight or
    Aggregated) whose ``clusterAffinities`` term lists the cloud in ``overflowAffinities``; a plain
    ``clusterAffinity`` over base and cloud spreads replicas onto the cloud whether or not the base has room."""
    what = f"PropagationPolicy {dig(pp, 'metadata', 'namespace')}/{dig(pp, 'metadata', 'name')}"
    placement = dig(pp, "spec", "placement") or {}
    scheduling = placement.get("replicaScheduling") or {}
    kind, division = scheduling.get("replicaSchedulingType"), scheduling.get("replicaDivisionPreference")
    dynamic = dig(scheduling, "weightPreference", "dynamicWeight")
    if kind != "Divided" or not (division == "Aggregated" or (division == "Weighted" and dynamic)):
        return (
            f"{what} must divide replicas by available room for shift.mode overflow: replicaSchedulingType: "
            "Divided with replicaDivisionPreference: Weighted and weightPreference.dynamicWeight: "
            f"AvailableReplicas (it has {kind or 'no replicaSchedulingType'} / "
            f"{division or 'no replicaDivisionPreference'}{f' / {dynamic}' if dynamic else ''})."
        )
    terms = [t for t in placement.get("clusterAffinities") or [] if isinstance(t, Mapping)]
    groups = [g for t in terms for g in t.get("overflowAffinities") or [] if isinstance(g, Mapping)]
    if placement.get("clusterAffinity") is not None or not groups:
        return (
            f"{what} must put the base clusters in a spec.placement.clusterAffinities term and the cloud "
            "clusters in that term's overflowAffinities (Karmada 1.18 or later) for shift.mode overflow; "
            "without them Karmada places replicas on the cloud whether or not the base has room."
        )
    if all(set(g) <= {"affinityName", "clusterNames"} for g in groups):
        named = {str(n) for g in groups for n in g.get("clusterNames") or []}
        missing = sorted(set(cloud_clusters) - named)
        if missing:
            return (
                f"{what} does not name cloud cluster {', '.join(missing)} in its overflowAffinities: Karmada "
                "would never place replicas there."
            )
    return None


class KarmadaActuator:
    """Writes to the Karmada API server for SetWeights, Rebalance and Alert."""

    def __init__(self, client: KubeClient, events: EventSink, gate: WriteGate) -> None:
        self._client = client
        self._events = events
        self._gate = gate

    async def set_weights(self, action: SetWeights) -> ActionResult:
        """Server-side apply the staticWeightList; 409 from another manager -> "held", never forced; 409
        because the policy changed since it was read -> "conflict"."""
        ns, name = _split(action.workload)
        pp = await self._client.get(PROPAGATION_POLICIES, name, ns)
        regarding = ref_of(pp, PROPAGATION_POLICIES.api_version, PROPAGATION_POLICIES.kind)
        problem = placement_problem(pp)
        if problem is not None:
            log.warning("refused to %s: %s", describe(action), problem)
            if not self._gate.dry_run:
                await self._events.emit(regarding, "Warning", "RefusedPlacement", "SetWeights", problem)
            return ActionResult(action, "refused", problem)
        if static_weights(pp) == dict(action.weights):
            return ActionResult(action, "unchanged", f"{regarding} already has these weights")
        version = dig(pp, "metadata", "resourceVersion")
        body = weights_body(ns, name, action.weights, str(version) if version else None)
        if self._gate.dry_run:
            others = list_owners(pp)
            if others:
                return ActionResult(action, "held", self._held_note(regarding, others, action))
            return self._gate.dry(action)
        self._gate.ensure_leader(action)
        try:
            with sending(body):
                await self._client.apply(
                    PROPAGATION_POLICIES, body, field_manager=FIELD_MANAGER, force=False, namespace=ns
                )
        except Conflict as exc:
            if not exc.field_manager_conflict:
                return stale(action, str(regarding), exc)
            note = self._held_note(regarding, _CONFLICT_WITH.findall(exc.message), action)
            await self._events.emit(regarding, "Warning", "WeightsChangedExternally", "SetWeights", note)
            return ActionResult(action, "held", note)
        await self._events.emit(regarding, "Normal", "WeightsSet", "SetWeights", describe(action))
        return ActionResult(action, "applied", f"applied staticWeightList to {regarding}")

    @staticmethod
    def _held_note(regarding: ObjectRef, managers: list[str], action: SetWeights) -> str:
        who = ", ".join(f'"{m}"' for m in sorted(set(managers))) or "another field manager"
        wanted = ", ".join(f"{c}={w}" for c, w in action.weights)
        return (
            f"the staticWeightList of {regarding} is owned by field manager {who} with other weights; "
            f"burstd holds this policy and will not force its weights ({wanted}). To hand the list back "
            "to burstd, remove it from that manager's configuration (or delete the field)."
        )

    async def rebalance(self, policy: BurstPolicy, action: Rebalance) -> ActionResult:
        """Create a WorkloadRebalancer for the resource templates bound through the workloads' PPs."""
        workloads: dict[tuple[str, str, str, str], Obj] = {}
        found: list[str] = []
        missing: list[str] = []
        bindings: dict[str, list[Obj]] = {}
        for key in action.workloads:
            ns, name = _split(key)
            if ns not in bindings:
                bindings[ns] = (await self._client.list(RESOURCE_BINDINGS, ns)).items
            mine = [
                rb
                for rb in bindings[ns]
                if (dig(rb, "metadata", "annotations") or {}).get(PP_NAMESPACE_ANNOTATION) == ns
                and (dig(rb, "metadata", "annotations") or {}).get(PP_NAME_ANNOTATION) == name
            ]
            for rb in mine:
                res = dig(rb, "spec", "resource") or {}
                entry = {
                    "apiVersion": str(res.get("apiVersion", "")),
                    "kind": str(res.get("kind", "")),
                    "name": str(res.get("name", "")),
                    "namespace": str(res.get("namespace") or ns),
                }
                workloads[(entry["apiVersion"], entry["kind"], entry["namespace"], entry["name"])] = entry
            (found if mine else missing).append(key)
        if not workloads:
            message = (
                f"no ResourceBinding in the Karmada API server belongs to PropagationPolicy "
                f"{', '.join(missing)} (annotations {PP_NAMESPACE_ANNOTATION}/{PP_NAME_ANNOTATION}): "
                "nothing to rebalance; check that the policy selects a resource template and Karmada "
                "has bound it"
            )
            log.warning("refused to %s: %s", describe(action), message)
            return ActionResult(action, "refused", message)
        unbound = f"; no ResourceBinding for {', '.join(missing)}" if missing else ""
        body: Obj = {
            "apiVersion": WORKLOAD_REBALANCERS.api_version,
            "kind": WORKLOAD_REBALANCERS.kind,
            "metadata": {
                "generateName": f"burstd-{policy.name}-",
                "labels": {"app.kubernetes.io/managed-by": "burstd", "burstd.io/policy": policy.name},
            },
            "spec": {"workloads": [workloads[k] for k in sorted(workloads)], "ttlSecondsAfterFinished": 300},
        }
        if self._gate.dry_run:
            return self._gate.dry(action, f"{len(workloads)} resource templates{unbound}")
        self._gate.ensure_leader(action)
        with sending(body):
            created = await self._client.create(WORKLOAD_REBALANCERS, body)
        wr = str(dig(created, "metadata", "name"))
        for key in found:
            note = f"{describe(action)}: WorkloadRebalancer {wr}"
            await self._events.emit(_pp_ref(key), "Normal", "RebalanceRequested", "Rebalance", note)
        return ActionResult(
            action, "applied", f"created WorkloadRebalancer {wr} for {len(workloads)} workloads{unbound}"
        )

    async def alert(self, policy: BurstPolicy, action: Alert) -> ActionResult:
        """An Event on the PropagationPolicy of the policy's first workload."""
        regarding = _pp_ref(policy.spec.workloads[0].propagation_policy.key)
        if self._gate.dry_run:
            return self._gate.dry(action)
        self._gate.ensure_leader(action)
        type_: EventType = "Normal" if action.severity is Severity.INFO else "Warning"
        await self._events.emit(regarding, type_, action.code, "Alert", action.reason)
        return ActionResult(action, "applied", f"Event {action.code} on {regarding}")

    async def problems(self, policy: BurstPolicy) -> list[str]:
        """Why a workload of ``policy`` cannot be managed: PP missing, or a placement that does not do what
        the shift mode needs (static weights, or overflow onto the cloud clusters)."""
        out: list[str] = []
        for workload in policy.spec.workloads:
            ref = workload.propagation_policy
            try:
                pp = await self._client.get(PROPAGATION_POLICIES, ref.name, ref.namespace)
            except NotFound:
                out.append(
                    f"PropagationPolicy {ref.key} (a workload of BurstPolicy {policy.name}) does not "
                    "exist on the Karmada API server."
                )
                continue
            if policy.spec.shift.mode == "static-weights":
                problem = placement_problem(pp)
            else:
                problem = overflow_problem(pp, [p.cluster for p in policy.spec.burst.pools])
            if problem is not None:
                out.append(problem)
        return out
