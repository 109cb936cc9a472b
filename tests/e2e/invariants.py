"""What the end-to-end tests assert about what the real controllers did, sampled by ``BedRecorder``.

- ``MachineLedger``: every Machine of the fleet's MachineDeployment the real MachineSet controller made,
  when it was first seen, first Ready, first carried ``cluster.x-k8s.io/delete-machine`` and went away
  (deletionTimestamp set, or gone). The claim burstd relies on: the Machines it marked are the ones the
  real MachineSet removes on a scale-down.
- ``DivisionCheck``: at every sample where the real scheduler has caught up with the binding
  (``schedulerObservedGeneration == generation``), its ``spec.clusters`` are the division burstd's model
  predicts for the binding's replicas, static weights and tie order (``burstd.engine.webster``
  ``karmada_division``, checked case by case in ``test_karmada_division.py``); and whenever the
  replicas are a multiple of the weights' sum (as burstd writes them: the intended split over its gcd),
  they are exactly that intended split.
- ``CapacityCheck``: at every sample, the replicas the real scheduler assigned to the cloud cluster fit on
  its Ready nodes ("weights never lead Ready capacity"). The Machines are read just before and just after
  the ResourceBinding (they live on another API server, so there is no common order): a sample is a
  violation only if the assignment exceeds the larger of the two Ready capacities, which capacity that
  changes monotonically within those few milliseconds cannot explain.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from integration.controlplane import ControlPlane

from burstd.engine.webster import karmada_division
from burstd.kube.client import RESOURCE_BINDINGS, KubeClient

from .fleet import DELETE_MACHINE, Fleet
from .players import ClusterStatusPlayer, machine_ready
from .recorder import Recorder


@dataclass
class MachineLedger:
    seen: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)
    marked: dict[str, float] = field(default_factory=dict)
    gone: dict[str, float] = field(default_factory=dict)

    def observe(self, machines: Iterable[Mapping[str, Any]], at: float) -> None:
        present = set()
        for m in machines:
            meta = m["metadata"]
            name = str(meta["name"])
            self.seen.setdefault(name, at)
            if machine_ready(m):
                self.ready.setdefault(name, at)
            if DELETE_MACHINE in (meta.get("annotations") or {}):
                self.marked.setdefault(name, at)
            if meta.get("deletionTimestamp"):
                self.gone.setdefault(name, at)
            else:
                present.add(name)
        for name in self.seen.keys() - present:
            self.gone.setdefault(name, at)

    @property
    def created(self) -> int:
        return len(self.seen)

    def removed_while_others_stayed(self) -> set[str]:
        """Machines that went away while some of their MachineDeployment's Machines stayed: those a
        partial scale-down chose (a scale-down to zero removes all, whatever was marked)."""
        out = set()
        for name, at in self.gone.items():
            if any(other != name and self.gone.get(other, float("inf")) > at + 1.0 for other in self.seen):
                out.add(name)
        return out


def static_weights(rb: Mapping[str, Any]) -> dict[str, int]:
    """cluster -> weight from the binding's ``staticWeightList`` (one clusterName per entry, as burstd
    writes them; other shapes are not expected on the bed)."""
    rs = ((rb.get("spec") or {}).get("placement") or {}).get("replicaScheduling") or {}
    out: dict[str, int] = {}
    for entry in (rs.get("weightPreference") or {}).get("staticWeightList") or []:
        names = (entry.get("targetCluster") or {}).get("clusterNames") or []
        assert len(names) == 1, f"unexpected staticWeightList entry {entry}"
        out[str(names[0])] = int(entry["weight"])
    return out


def scheduled_clusters(rb: Mapping[str, Any]) -> dict[str, int]:
    return {str(c["name"]): int(c.get("replicas") or 0) for c in (rb.get("spec") or {}).get("clusters") or []}


@dataclass
class DivisionCheck:
    samples: int = 0
    exact_samples: int = 0
    mismatches: list[str] = field(default_factory=list)

    def observe(self, rb: Mapping[str, Any], at: float) -> None:
        meta, status = rb["metadata"], rb.get("status") or {}
        if status.get("schedulerObservedGeneration") != meta.get("generation"):
            return  # the scheduler has not seen this version yet
        replicas = int(rb["spec"].get("replicas") or 0)
        weights = {c: w for c, w in static_weights(rb).items() if w > 0}
        if not weights:
            return  # not divided by static weights (overflow mode's dynamic weights): not this check's
        got = {c: n for c, n in scheduled_clusters(rb).items() if n > 0}
        self.samples += 1
        predicted = karmada_division(
            replicas,
            weights,
            resource_uid=str(rb["spec"]["resource"].get("uid") or ""),
            candidates=(rb["spec"]["placement"].get("clusterAffinity") or {}).get("clusterNames") or (),
        )
        if got != predicted:
            self.mismatches.append(
                f"t={at:.2f}: {replicas} replicas, weights {weights}: scheduler {got}, model {predicted}"
            )
        total = sum(weights.values())
        if total and replicas % total == 0:
            self.exact_samples += 1
            intended = {c: replicas // total * w for c, w in weights.items()}
            if got != intended:
                self.mismatches.append(
                    f"t={at:.2f}: {replicas} replicas, weights {weights}: scheduler {got}, intended {intended}"
                )


@dataclass
class CapacityCheck:
    cluster: str
    replicas_per_node: int
    samples: int = 0
    violations: list[str] = field(default_factory=list)

    def observe(
        self,
        assigned: int,
        before: list[dict[str, Any]],
        after: list[dict[str, Any]],
        at: float,
        context: str,
    ) -> None:
        self.samples += 1
        ready_before, ready_after = sum(map(machine_ready, before)), sum(map(machine_ready, after))
        room = max(ready_before, ready_after) * self.replicas_per_node
        if assigned > room:
            self.violations.append(
                f"t={at:.2f}: {assigned} replicas assigned to {self.cluster}, Ready capacity {room} "
                f"({ready_before}->{ready_after} Ready nodes; {context}; Machines {describe(after)})"
            )


def describe(machines: Iterable[Mapping[str, Any]]) -> str:
    """``name: phase, Ready=..., nodeRef, deleting`` for each Machine (for failure messages)."""
    out = []
    for m in machines:
        status = m.get("status") or {}
        ready = next(
            (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), "-"
        )
        flags = [f"phase={status.get('phase')}", f"Ready={ready}"]
        if status.get("nodeRef"):
            flags.append("nodeRef")
        if m["metadata"].get("deletionTimestamp"):
            flags.append("deleting")
        out.append(f"{m['metadata']['name']} ({', '.join(flags)})")
    return "; ".join(out) or "none"


class BedRecorder(Recorder):
    """``Recorder`` plus the fleet's Machines (``machine_ledger``) and the capacity check."""

    def __init__(
        self,
        karmada: KubeClient,
        management: KubeClient,
        management_plane: ControlPlane,
        fleet: Fleet,
        clusters: ClusterStatusPlayer,
    ) -> None:
        super().__init__(karmada, management, management_plane, fleet)
        self.clusters = clusters
        self.machine_ledger = MachineLedger()
        self.capacity_check = CapacityCheck(fleet.cloud_cluster, fleet.replicas_per_node)
        self.division_check = DivisionCheck()

    async def poll(self) -> None:
        before = await self.clusters.machines()
        await super().poll()
        rb = await self.karmada.get(RESOURCE_BINDINGS, self.fleet.binding, self.fleet.namespace)
        after = await self.clusters.machines()
        now = time.monotonic()
        self.machine_ledger.observe(after, now)
        self.division_check.observe(rb, now)
        assigned = scheduled_clusters(rb).get(self.fleet.cloud_cluster, 0)
        context = f"phase {(self.phase_history() or ['?'])[-1]}, weights {static_weights(rb)}"
        self.capacity_check.observe(assigned, before, after, now, context)
