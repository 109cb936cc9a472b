"""``Recorder``: polls the apiserver and keeps the history of what a burst changes, one sample per change.

Recorded (each a list of ``Sample`` with ``time.monotonic()`` and the value, appended only when the value
changes): the MachineDeployment's ``spec.replicas`` and ``status.readyReplicas``, the PropagationPolicy's
``staticWeightList`` (as cluster -> weight) and the field managers that own it, the ResourceBinding's
``spec.clusters`` (cluster -> replicas), and the ``phase`` in every ``burstd-state-*`` ConfigMap of
burstd's namespace (per ConfigMap). The MachineDeployment and the ConfigMaps are read from the management
cluster's API server, the PropagationPolicy and the ResourceBinding from the Karmada API server.

``poll()`` reads everything once. ``run()`` polls all but the state ConfigMaps, which it watches instead: a
phase shorter than one poll (``Draining`` can last 0.1 s) is still recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from integration.controlplane import ControlPlane

from burstd.kube.client import MACHINE_DEPLOYMENTS, PROPAGATION_POLICIES, RESOURCE_BINDINGS, KubeClient
from burstd.kube.errors import NotFound

from .configmap_watch import ConfigMapWatch
from .core import list_config_maps
from .fleet import Fleet

T = TypeVar("T")
STATE_PREFIX = "burstd-state-"
_WEIGHTS_PATH = ("f:spec", "f:placement", "f:replicaScheduling", "f:weightPreference", "f:staticWeightList")


@dataclass(frozen=True, slots=True)
class Sample(Generic[T]):
    at: float
    """``time.monotonic()`` when the value was first seen."""
    value: T


@dataclass(slots=True)
class History(Generic[T]):
    """Values in the order they were seen; a value equal to the last one is not appended again."""

    samples: list[Sample[T]] = field(default_factory=list)

    def add(self, value: T, at: float | None = None) -> bool:
        if self.samples and self.samples[-1].value == value:
            return False
        self.samples.append(Sample(time.monotonic() if at is None else at, value))
        return True

    @property
    def values(self) -> list[T]:
        return [s.value for s in self.samples]

    @property
    def last(self) -> T | None:
        return self.samples[-1].value if self.samples else None


def weight_map(entries: Any) -> dict[str, int] | None:
    """A ``staticWeightList`` as cluster -> weight; an entry that is not exactly one clusterName is keyed by
    its ``targetCluster`` as sorted JSON. ``None`` when there is no list."""
    if entries is None:
        return None
    out: dict[str, int] = {}
    for entry in entries:
        target = entry.get("targetCluster") or {}
        names = target.get("clusterNames") or []
        key = (
            names[0]
            if set(target) == {"clusterNames"} and len(names) == 1
            else json.dumps(target, sort_keys=True)
        )
        out[key] = int(entry.get("weight", 0))
    return out


def weight_managers(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The field managers (sorted) whose managedFields entry owns ``staticWeightList``."""
    owners = set()
    for entry in obj["metadata"].get("managedFields") or []:
        node: Any = entry.get("fieldsV1") or {}
        for part in _WEIGHTS_PATH:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            owners.add(str(entry.get("manager")))
    return tuple(sorted(owners))


def state_phase(config_map: Mapping[str, Any]) -> str:
    """The ``phase`` in a state ConfigMap's ``state.json`` (``"<unreadable>"`` if it cannot be read)."""
    raw = (config_map.get("data") or {}).get("state.json")
    try:
        phase = json.loads(raw)["phase"] if raw is not None else None
    except (ValueError, KeyError, TypeError):
        phase = None
    return phase if isinstance(phase, str) else "<unreadable>"


class Recorder:
    def __init__(
        self, karmada: KubeClient, management: KubeClient, management_plane: ControlPlane, fleet: Fleet
    ) -> None:
        self.karmada = karmada
        self.management = management
        self.management_plane = management_plane
        self.fleet = fleet
        self.md_replicas: History[int | None] = History()
        self.md_ready: History[int] = History()
        self.weights: History[dict[str, int] | None] = History()
        self.weight_managers: History[tuple[str, ...]] = History()
        self.binding_clusters: History[dict[str, int]] = History()
        self.phases: dict[str, History[str]] = {}
        """State ConfigMap name -> its phases."""
        self.polls = 0
        self._watch: ConfigMapWatch | None = None

    def phase_history(self, policy: str | None = None) -> list[str]:
        """The phases recorded for ``policy`` (default: the fleet's policy)."""
        history = self.phases.get(STATE_PREFIX + (policy or self.fleet.policy_name))
        return history.values if history else []

    async def poll(self) -> None:
        """Read everything once and record what changed."""
        fleet = self.fleet
        now = time.monotonic()
        try:
            md = await self.management.get(
                MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace
            )
        except NotFound:
            md = None
        if md is not None:
            self.md_replicas.add(md["spec"].get("replicas"), now)
            self.md_ready.add(int((md.get("status") or {}).get("readyReplicas") or 0), now)
        pp = await self.karmada.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
        preference = pp["spec"]["placement"].get("replicaScheduling", {}).get("weightPreference") or {}
        self.weights.add(weight_map(preference.get("staticWeightList")), now)
        self.weight_managers.add(weight_managers(pp), now)
        rb = await self.karmada.get(RESOURCE_BINDINGS, fleet.binding, fleet.namespace)
        self.binding_clusters.add(
            {c["name"]: int(c.get("replicas") or 0) for c in rb["spec"].get("clusters") or []}, now
        )
        if self._watch is None:
            for cm in await list_config_maps(self.management_plane, fleet.burstd_namespace):
                self._record_config_map(cm, now)
        self.polls += 1

    def _record_config_map(self, cm: Mapping[str, Any], at: float) -> None:
        name = str(cm["metadata"]["name"])
        if name.startswith(STATE_PREFIX):
            self.phases.setdefault(name, History()).add(state_phase(cm), at)

    async def run(self, interval: float = 0.2, before: Callable[[], Awaitable[None]] | None = None) -> None:
        """Watch the state ConfigMaps and ``poll()`` the rest every ``interval`` seconds until cancelled,
        after ``before()`` (the players' pass) each time."""
        if self._watch is not None:
            raise RuntimeError("the recorder is already running")
        watch = ConfigMapWatch(self.management_plane, self.fleet.burstd_namespace, self._record_config_map)
        self._watch = watch
        watch.start()
        try:
            while True:
                watch.check()
                if before is not None:
                    await before()
                await self.poll()
                await asyncio.sleep(interval)
        finally:
            watch.stop()
            self._watch = None
