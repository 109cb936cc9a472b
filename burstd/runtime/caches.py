"""The watch caches the daemon decides on: Karmada objects from one API server, Cluster API objects from
the other, each parsed where it arrives. ``snapshot()`` freezes their current contents for one evaluation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from burstd.kube.cache import WatchCache
from burstd.kube.client import KubeClient
from burstd.kube.parse import (
    parse_cluster,
    parse_federated_hpa,
    parse_machine,
    parse_machine_deployment,
    parse_machine_pool,
    parse_propagation_policy,
    parse_resource_binding,
)
from burstd.kube.resources import (
    FEDERATED_HPAS,
    KARMADA_CLUSTERS,
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    MACHINE_POOLS,
    MACHINE_POOLS_V1BETA1,
    MACHINES,
    MACHINES_V1BETA1,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
)
from burstd.policy.spec import BurstPolicy
from burstd.runtime.observe import Snapshot

__all__ = ["Caches"]


class Caches:
    """List + watch of what the policies read. Only the caches some policy needs are started (``need``):
    a management cluster without the MachinePool CRD, or a Karmada without FederatedHPAs in use, must not
    keep burstd from deciding. ``synced`` once every started cache has listed."""

    def __init__(
        self,
        karmada: KubeClient,
        management: KubeClient,
        *,
        capi_version: Literal["v1beta2", "v1beta1"] = "v1beta2",
        on_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        watch_timeout: float = 15.0,
    ) -> None:
        v1beta2 = capi_version == "v1beta2"

        def cache(client: KubeClient, resource: Any, parse: Any) -> WatchCache[Any]:
            def changed(key: str) -> None:
                if on_change is not None:
                    on_change(f"{resource.kind} {key}".rstrip())

            return WatchCache(
                client, resource, parse, clock=clock, watch_timeout=watch_timeout, on_change=changed
            )

        self.clusters = cache(karmada, KARMADA_CLUSTERS, parse_cluster)
        self.fhpas = cache(karmada, FEDERATED_HPAS, parse_federated_hpa)
        self.bindings = cache(karmada, RESOURCE_BINDINGS, parse_resource_binding)
        self.policies = cache(karmada, PROPAGATION_POLICIES, parse_propagation_policy)
        self.machine_deployments = cache(
            management,
            MACHINE_DEPLOYMENTS if v1beta2 else MACHINE_DEPLOYMENTS_V1BETA1,
            parse_machine_deployment,
        )
        self.machine_pools = cache(
            management, MACHINE_POOLS if v1beta2 else MACHINE_POOLS_V1BETA1, parse_machine_pool
        )
        self.machines = cache(management, MACHINES if v1beta2 else MACHINES_V1BETA1, parse_machine)
        self.all: tuple[WatchCache[Any], ...] = (
            self.clusters,
            self.fhpas,
            self.bindings,
            self.policies,
            self.machine_deployments,
            self.machine_pools,
            self.machines,
        )
        self.started: list[WatchCache[Any]] = []

    def need(self, policies: Iterable[BurstPolicy]) -> None:
        """Start the caches ``policies`` read (already running ones keep running)."""
        wanted = [self.clusters, self.bindings, self.policies]
        for policy in policies:
            if any(w.federated_hpa is not None for w in policy.spec.workloads):
                wanted.append(self.fhpas)
            for pool in policy.spec.burst.pools:
                if pool.backend == "capi-machinedeployment":
                    wanted += [self.machine_deployments, self.machines]
                elif pool.backend == "capi-machinepool":
                    wanted += [self.machine_pools, self.machines]
        for c in wanted:
            if c not in self.started:
                self.started.append(c)
                c.start()

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.started))

    @property
    def synced(self) -> bool:
        return all(c.synced for c in self.started)

    def unsynced(self) -> list[str]:
        return [str(c.resource) for c in self.started if not c.synced]

    def snapshot(self) -> Snapshot:
        # A MachinePool and a MachineDeployment with the same namespace/name: the pool's backend decides
        # which one it means, and build_world checks the kind, so the MachineDeployment wins the key.
        scalables = {**self.machine_pools.fresh_items(), **self.machine_deployments.fresh_items()}
        return Snapshot(
            clusters=self.clusters.fresh_items(),
            fhpas=self.fhpas.fresh_items(),
            bindings=self.bindings.fresh_items(),
            policies=self.policies.fresh_items(),
            scalables=scalables,
            machines=self.machines.fresh_items(),
        )
