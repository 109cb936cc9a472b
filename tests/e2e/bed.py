"""The end-to-end harness on the real controllers: a fleet on the Karmada test bed (real webhook, scheduler
and controller-manager) and the Cluster API test bed (real core, kubeadm and in-memory CAPD managers), with
the two players of ``players.py`` and a ``BedRecorder`` running as asyncio tasks.

    async with run_bed(bed, Fleet.unique()) as h:
        await h.karmada.set_demand(60)
        await h.wait_for("3 cloud nodes Ready", lambda: h.recorder.md_ready.last == 3)

On the Karmada API server: the workload's namespace, a base and a cloud Cluster (Push mode), the
Deployment template ``web`` with its PropagationPolicy and FederatedHPA; the real detector makes the
ResourceBinding. On the management cluster: burstd's namespace and the cloud pool, a real
MachineDeployment of the session's workload Cluster (``bed.cluster``) whose Machines come and go through
real MachineSets after a provisioning delay (``startup_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from integration.controlplane import ControlPlane
from testbed.capi import CapiPlane, WorkloadCluster, create_objects, worker_pool_objects
from testbed.clusters import push_cluster, schedulable
from testbed.karmada import KarmadaPlane

from burstd.kube.client import (
    FEDERATED_HPAS,
    KARMADA_CLUSTERS,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
    KubeClient,
)
from burstd.kube.errors import NotFound

from .core import ensure_namespace
from .fleet import (
    BURSTD_MANAGER,
    HARNESS_MANAGER,
    Fleet,
    cpu_quantity,
    federated_hpa,
    machine_labels,
    memory_quantity,
    placement,
    weights_body,
)
from .invariants import BedRecorder, static_weights
from .planes import HarnessError, Planes
from .players import DEPLOYMENTS, ClusterStatusPlayer, FederatedHPAPlayer

Predicate = Callable[[], bool | Awaitable[bool]]


@dataclass(frozen=True)
class Bed:
    """The session's real controllers: Karmada's and Cluster API's, each on its own API server."""

    karmada: KarmadaPlane
    capi: CapiPlane
    cluster: WorkloadCluster
    """The Cluster API Cluster (in-memory provider) whose MachineDeployments are the tests' cloud pools."""

    @property
    def planes(self) -> Planes:
        return Planes(self.karmada.plane, self.capi.plane)

    def fleet(self, **overrides: Any) -> Fleet:
        """``Fleet.unique()`` placed on this bed: the cloud pool is a MachineDeployment of its Cluster."""
        fleet = Fleet.unique(capi_namespace=self.cluster.namespace, capi_cluster=self.cluster.name)
        fleet = dataclasses.replace(fleet, machine_deployment=f"md-{fleet.cloud_cluster}")
        return dataclasses.replace(fleet, **overrides)

    def check_alive(self) -> None:
        self.karmada.check_alive()
        self.capi.check_alive()


# ------------------------------------------------------------------------------------------ objects


def deployment(fleet: Fleet, replicas: int) -> dict[str, Any]:
    """The workload's resource template on the Karmada API server (no pods run there)."""
    labels = {"app": fleet.workload}
    requests = {
        "cpu": cpu_quantity(fleet.request_cpu_milli),
        "memory": memory_quantity(fleet.request_memory_bytes),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": fleet.workload, "namespace": fleet.namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": requests},
                        }
                    ]
                },
            },
        },
    }


def propagation_policy(fleet: Fleet, custom: dict[str, Any] | None = None) -> dict[str, Any]:
    """Divided + Weighted over both clusters, no weights yet (the webhook adds its permanent-id label);
    ``custom``: this placement instead."""
    return {
        "apiVersion": PROPAGATION_POLICIES.api_version,
        "kind": "PropagationPolicy",
        "metadata": {"name": fleet.workload, "namespace": fleet.namespace},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": fleet.workload}],
            "placement": custom or placement(fleet),
        },
    }


async def create_workload(kube: KubeClient, fleet: Fleet, *, custom: dict[str, Any] | None = None) -> None:
    """``fleet.workload``'s Deployment template, PropagationPolicy (burstd's idle weights: the base only,
    applied by field manager ``burstd`` as if burstd had written them) and FederatedHPA."""
    await kube.apply(
        PROPAGATION_POLICIES,
        propagation_policy(fleet, custom),
        field_manager=HARNESS_MANAGER,
        namespace=fleet.namespace,
    )
    if custom is None:  # a custom placement (overflow mode) gets no static weights
        await kube.apply(
            PROPAGATION_POLICIES,
            weights_body(fleet, {fleet.base_cluster: 1}),
            field_manager=BURSTD_MANAGER,
            namespace=fleet.namespace,
        )
    await kube.create(DEPLOYMENTS, deployment(fleet, fleet.initial_replicas), fleet.namespace)
    await kube.create(FEDERATED_HPAS, federated_hpa(fleet), fleet.namespace)


async def create_clusters(kube: KubeClient, plane: ControlPlane, fleet: Fleet) -> None:
    """The workload's namespace and the fleet's two Karmada Clusters (no status yet: tainted NotReady)."""
    await ensure_namespace(plane, fleet.namespace)
    await kube.create(KARMADA_CLUSTERS, push_cluster(fleet.base_cluster, provider="idc", region="cn-north"))
    await kube.create(
        KARMADA_CLUSTERS, push_cluster(fleet.cloud_cluster, provider="tencentcloud", region="ap-guangzhou")
    )


async def _schedulable(kube: KubeClient, fleet: Fleet) -> bool:
    return all([schedulable(await kube.get(KARMADA_CLUSTERS, name)) for name in fleet.clusters])


async def create_management_side(
    bed: Bed, fleet: Fleet, *, startup_s: float, annotations: dict[str, str] | None = None
) -> None:
    await ensure_namespace(bed.capi.plane, fleet.burstd_namespace)
    objects = worker_pool_objects(
        bed.cluster,
        fleet.machine_deployment,
        replicas=0,
        startup_s=startup_s,
        labels=machine_labels(fleet),
        annotations=annotations,
    )
    await asyncio.to_thread(create_objects, bed.capi, objects)


# ------------------------------------------------------------------------------------------ harness


@dataclass
class BedHarness:
    bed: Bed
    karmada_kube: KubeClient
    management_kube: KubeClient
    fleet: Fleet
    karmada: FederatedHPAPlayer
    clusters: ClusterStatusPlayer
    recorder: BedRecorder
    interval: float = 0.2
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def planes(self) -> Planes:
        return self.bed.planes

    async def _loop(self) -> None:
        # the recorder watches the state ConfigMaps (a phase shorter than a poll is still recorded) and polls
        # the rest after each pass of the players
        await self.recorder.run(self.interval, before=self.clusters.step)

    async def step(self) -> None:
        """One pass: the clusters' status, then the recorder."""
        await self.clusters.step()
        await self.recorder.poll()

    def start(self) -> None:
        if self.tasks:
            raise RuntimeError("the harness is already running")
        self.tasks = [asyncio.create_task(self._loop(), name="bed-players")]

    async def stop(self) -> None:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise HarnessError(f"{task.get_name()} failed: {result!r}") from result

    def check(self) -> None:
        """Raise if the players' task or a real controller has stopped."""
        for task in self.tasks:
            if task.done():
                exc = None if task.cancelled() else task.exception()
                raise HarnessError(f"{task.get_name()} stopped: {exc!r}") from exc
        self.bed.check_alive()

    async def machines(self) -> list[dict[str, Any]]:
        """The cloud pool's Machines now (without those being deleted)."""
        return [m for m in await self.clusters.machines() if not m["metadata"].get("deletionTimestamp")]

    async def wait_for(
        self, what: str, predicate: Predicate, timeout: float = 30.0, poll: float = 0.05
    ) -> float:
        """Poll ``predicate`` (sync or async) until true; return the seconds waited."""
        start = time.monotonic()
        while True:
            self.check()
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise HarnessError(f"timed out after {timeout:g}s waiting for: {what}")
            await asyncio.sleep(poll)

    def assert_capacity_never_led(self) -> None:
        """At no sample did the real scheduler put more replicas on the cloud than its Ready nodes hold."""
        check = self.recorder.capacity_check
        assert check.samples > 0
        assert check.violations == [], "\n".join(check.violations[:20])

    def assert_division_as_modelled(self) -> None:
        """Every settled ResourceBinding sample is the division burstd's model predicts, and the intended
        split whenever the replicas are a multiple of the weights' sum (there was at least one such)."""
        check = self.recorder.division_check
        assert check.samples > 0
        assert check.exact_samples > 0
        assert check.mismatches == [], "\n".join(check.mismatches[:20])


async def scheduled(kube: KubeClient, fleet: Fleet, *, weighted: bool) -> bool:
    """The binding is scheduled, and (``weighted``) the detector had carried burstd's idle weights into it:
    a binding made from a PropagationPolicy read before its weights were applied is first divided equally."""
    try:
        rb = await kube.get(RESOURCE_BINDINGS, fleet.binding, fleet.namespace)
    except NotFound:
        return False
    status = rb.get("status") or {}
    return bool(
        rb["spec"].get("clusters")
        and status.get("schedulerObservedGeneration") == rb["metadata"].get("generation")
        and (static_weights(rb) or not weighted)
    )


@contextlib.asynccontextmanager
async def run_bed(
    bed: Bed,
    fleet: Fleet | None = None,
    *,
    startup_s: float = 2.0,
    interval: float = 0.2,
    md_annotations: dict[str, str] | None = None,
    placement: dict[str, Any] | None = None,
    start: bool = True,
    members: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None,
) -> AsyncIterator[BedHarness]:
    """Create ``fleet`` (default ``bed.fleet()``) on the bed, wait until the real scheduler has placed
    its initial replicas, then (with ``start``) run the players and the recorder until the block ends.
    ``placement``: the PropagationPolicy's placement instead of ``fleet.placement`` (then no static weights
    are written: overflow mode). ``members``: the cloud pool is a native node pool in a fake cloud, whose
    members (Machine-shaped, ``players.member_as_machine``) are the cloud cluster's nodes; no
    MachineDeployment is made."""
    fleet = fleet or bed.fleet()
    async with contextlib.AsyncExitStack() as stack:
        karmada = await stack.enter_async_context(
            await KubeClient.from_kubeconfig(str(bed.karmada.plane.kubeconfig))
        )
        management = await stack.enter_async_context(
            await KubeClient.from_kubeconfig(str(bed.capi.plane.kubeconfig))
        )
        await create_clusters(karmada, bed.karmada.plane, fleet)
        if members is None:
            await create_management_side(bed, fleet, startup_s=startup_s, annotations=md_annotations)
        else:
            await ensure_namespace(bed.capi.plane, fleet.burstd_namespace)
        clusters = ClusterStatusPlayer(karmada, management, fleet)
        clusters.members = members
        harness = BedHarness(
            bed=bed,
            karmada_kube=karmada,
            management_kube=management,
            fleet=fleet,
            karmada=FederatedHPAPlayer(karmada, fleet),
            clusters=clusters,
            recorder=BedRecorder(karmada, management, bed.capi.plane, fleet, clusters),
            interval=interval,
        )
        # Both clusters Ready and untainted before the workload exists: were the base still tainted when
        # the scheduler first placed it, no candidate would match the weights and Karmada would divide the
        # replicas equally over the others (the cloud, with no Ready node).
        await clusters.step()
        await harness.wait_for("both clusters schedulable", lambda: _schedulable(karmada, fleet), 60)
        await create_workload(karmada, fleet, custom=placement)
        await harness.karmada.set_demand(fleet.initial_replicas)
        await clusters.step()
        await harness.wait_for(
            "the real scheduler placed the initial replicas",
            lambda: scheduled(karmada, fleet, weighted=placement is None),
            60,
        )
        await harness.recorder.poll()
        if start:
            harness.start()
        try:
            yield harness
            harness.check()
        finally:
            await harness.stop()
