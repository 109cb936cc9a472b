"""``CapiSim`` plays the Cluster API MachineDeployment, MachineSet and Machine controllers for one
MachineDeployment, against the real apiserver.

Each ``step()``: read the MachineDeployment's ``spec.replicas``; create Machines (v1beta2, schema-valid)
while there are fewer; delete Machines while there are more, in CAPI's deletion priority: annotated
``cluster.x-k8s.io/delete-machine`` first, then not Ready (unhealthy), then the newest; make each Machine
Ready (``Ready``/``Available`` conditions True, ``nodeRef``, phase ``Running``) ``ready_delay`` seconds
after it was created; write the MachineDeployment's status (``replicas``, ``readyReplicas``,
``availableReplicas``, ``upToDateReplicas``, ``selector``, ``phase``).

Simplifications: no MachineSet object is created; deletion is immediate (no drain, no finalizers).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from burstd.kube.client import MACHINE_DEPLOYMENTS, MACHINES, KubeClient

from .conditions import condition, set_conditions, timestamp
from .fleet import DELETE_MACHINE, DEPLOYMENT_NAME_LABEL, Fleet, machine_labels

MachineState = Literal["provisioning", "ready", "failed"]


@dataclass(frozen=True, slots=True)
class ReplicasSeen:
    """A value of the MachineDeployment's ``spec.replicas`` the first time ``CapiSim`` saw it."""

    at: float
    """``time.monotonic()``."""
    replicas: int


def is_ready(machine: dict[str, Any]) -> bool:
    """Condition ``Ready`` is True (v1beta2 ``status.conditions``)."""
    for cond in (machine.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def machine_name(machine: dict[str, Any]) -> str:
    return str(machine["metadata"]["name"])


class CapiSim:
    """The Cluster API controllers for ``fleet.machine_deployment``."""

    def __init__(self, kube: KubeClient, fleet: Fleet, *, ready_delay: float = 2.0) -> None:
        self.kube = kube
        self.fleet = fleet
        self.ready_delay = ready_delay
        """Seconds from a Machine's creation to Ready; changing it affects Machines not yet Ready."""
        self.replicas_seen: list[ReplicasSeen] = []
        """Every change of ``spec.replicas`` observed, in order (the first observation included)."""
        self.created: list[str] = []
        """Names of the Machines created, in order."""
        self.deleted: list[str] = []
        """Names of the Machines deleted, in order."""
        self._born: dict[str, float] = {}
        self._seq: dict[str, int] = {}
        self._failed: set[str] = set()
        self._md_status: dict[str, Any] | None = None
        self._counter = 0

    @property
    def machines_created(self) -> int:
        return len(self.created)

    @property
    def machines_deleted(self) -> int:
        return len(self.deleted)

    @property
    def selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(machine_labels(self.fleet).items()))

    async def machines(self) -> list[dict[str, Any]]:
        """The MachineDeployment's Machines, oldest first."""
        listed = await self.kube.list(
            MACHINES,
            self.fleet.capi_namespace,
            label_selector=f"{DEPLOYMENT_NAME_LABEL}={self.fleet.machine_deployment}",
        )
        for m in listed.items:
            self._adopt(machine_name(m))
        return sorted(listed.items, key=lambda m: self._seq[machine_name(m)])

    def _adopt(self, name: str) -> None:
        if name not in self._seq:  # made before this sim ran: count it as born now
            self._counter += 1
            self._seq[name] = self._counter
            self._born[name] = time.monotonic()

    async def fail(self, name: str) -> None:
        """Make a Machine unhealthy (its node broke): ``NodeHealthy``, ``Ready`` and ``Available`` False."""
        self._failed.add(name)
        machine = await self.kube.get(MACHINES, name, self.fleet.capi_namespace)
        await self._set_status(machine, "failed")

    async def step(self) -> None:
        fleet = self.fleet
        md = await self.kube.get(MACHINE_DEPLOYMENTS, fleet.machine_deployment, fleet.capi_namespace)
        desired = int(md["spec"].get("replicas", 1))
        if not self.replicas_seen or self.replicas_seen[-1].replicas != desired:
            self.replicas_seen.append(ReplicasSeen(time.monotonic(), desired))
        machines = await self.machines()
        for _ in range(desired - len(machines)):
            machines.append(await self._create(md))
        if len(machines) > desired:
            victims = self._deletion_order(machines)[: len(machines) - desired]
            for victim in victims:
                await self.kube.delete(MACHINES, machine_name(victim), fleet.capi_namespace)
                self.deleted.append(machine_name(victim))
            gone = {machine_name(v) for v in victims}
            machines = [m for m in machines if machine_name(m) not in gone]
        now = time.monotonic()
        for i, m in enumerate(machines):
            name = machine_name(m)
            if name in self._failed or is_ready(m) or now - self._born[name] < self.ready_delay:
                continue
            machines[i] = await self._set_status(m, "ready")
        await self._write_md_status(md, desired, machines)

    async def run(self, interval: float = 0.2) -> None:
        """``step()`` every ``interval`` seconds until cancelled."""
        while True:
            await self.step()
            await asyncio.sleep(interval)

    def _deletion_order(self, machines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def priority(m: dict[str, Any]) -> tuple[int, int]:
            annotations = m["metadata"].get("annotations") or {}
            tier = 0 if DELETE_MACHINE in annotations else 1 if not is_ready(m) else 2
            return tier, -self._seq[machine_name(m)]

        return sorted(machines, key=priority)

    async def _create(self, md: dict[str, Any]) -> dict[str, Any]:
        fleet = self.fleet
        name = f"{fleet.machine_deployment}-{secrets.token_hex(3)}"
        template = md["spec"]["template"]
        body = {
            "apiVersion": MACHINES.api_version,
            "kind": "Machine",
            "metadata": {
                "name": name,
                "namespace": fleet.capi_namespace,
                "labels": {**(template.get("metadata") or {}).get("labels", {}), **machine_labels(fleet)},
                "ownerReferences": [
                    {
                        "apiVersion": MACHINE_DEPLOYMENTS.api_version,
                        "kind": "MachineDeployment",
                        "name": fleet.machine_deployment,
                        "uid": md["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                **template["spec"],
                "providerID": f"docker:////{name}",
            },
        }
        created = await self.kube.create(MACHINES, body, fleet.capi_namespace)
        self.created.append(name)
        self._adopt(name)
        return await self._set_status(created, "provisioning")

    async def _set_status(self, machine: dict[str, Any], state: MachineState) -> dict[str, Any]:
        """Write the status of a Machine that is ``provisioning``, ``ready`` or ``failed``."""
        name = machine_name(machine)
        now = timestamp()
        old = (machine.get("status") or {}).get("conditions")
        status: dict[str, Any]
        if state == "provisioning":
            conds = [
                condition("BootstrapConfigReady", True, "Ready", now),
                condition("InfrastructureReady", False, "NotProvisioned", now, "waiting for the instance"),
                condition("NodeHealthy", False, "NodeDoesNotExist", now, "waiting for the Node"),
                condition("Ready", False, "NotReady", now, "waiting for the Node"),
                condition("Available", False, "NotReady", now, "Machine is not Ready"),
            ]
            status = {
                "phase": "Provisioning",
                "initialization": {"bootstrapDataSecretCreated": True, "infrastructureProvisioned": False},
            }
        elif state == "ready":
            conds = [
                condition("InfrastructureReady", True, "Ready", now),
                condition("NodeHealthy", True, "NodeHealthy", now),
                condition("Ready", True, "Ready", now),
                condition("Available", True, "Available", now),
            ]
            status = {
                "phase": "Running",
                "nodeRef": {"name": name},
                "addresses": [{"type": "Hostname", "address": name}],
                "initialization": {"bootstrapDataSecretCreated": True, "infrastructureProvisioned": True},
            }
        elif state == "failed":
            conds = [
                condition("NodeHealthy", False, "NodeNotReady", now, "Node is not Ready"),
                condition("Ready", False, "NotReady", now, "NodeHealthy: Node is not Ready"),
                condition("Available", False, "NotReady", now, "Machine is not Ready"),
            ]
            status = {}
        else:
            raise ValueError(f"unknown machine state {state!r}")
        status["conditions"] = set_conditions(old, conds)
        return await self.kube.patch_status(MACHINES, name, {"status": status}, self.fleet.capi_namespace)

    async def _write_md_status(
        self, md: dict[str, Any], desired: int, machines: list[dict[str, Any]]
    ) -> None:
        ready = sum(1 for m in machines if is_ready(m))
        count = len(machines)
        status = {
            "observedGeneration": md["metadata"].get("generation", 1),
            "selector": self.selector,
            "replicas": count,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "upToDateReplicas": count,
            "phase": "ScalingUp" if count < desired else "ScalingDown" if count > desired else "Running",
        }
        if status != self._md_status:
            await self.kube.patch_status(
                MACHINE_DEPLOYMENTS,
                self.fleet.machine_deployment,
                {"status": status},
                self.fleet.capi_namespace,
            )
            self._md_status = status
