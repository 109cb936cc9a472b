"""burstd's Karmada parsers on objects the real controllers wrote: the PropagationPolicy as the real
webhook admitted it, the ResourceBinding the real detector made and the real scheduler and binding-status
controllers filled in, and a Cluster after the real cluster controller handled it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from testbed.clusters import ClusterCapacity, push_cluster, write_cluster_status
from testbed.karmada import KarmadaPlane

from burstd.kube.client import KARMADA_CLUSTERS, PROPAGATION_POLICIES, RESOURCE_BINDINGS, KubeClient
from burstd.kube.errors import NotFound
from burstd.kube.parse import parse_cluster, parse_propagation_policy, parse_resource_binding
from burstd.model.world import Resources

from .bed import deployment, propagation_policy
from .core import ensure_namespace
from .fleet import BURSTD_MANAGER, HARNESS_MANAGER, Fleet, weights_body
from .players import DEPLOYMENTS


async def _until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    start = time.monotonic()
    while True:
        if await check():
            return
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def test_parsers_read_what_the_real_karmada_controllers_wrote(karmada: KarmadaPlane) -> None:
    s = uuid.uuid4().hex[:6]
    fleet = Fleet(
        namespace=f"parse-{s}",
        base_cluster=f"idc-{s}",
        cloud_cluster=f"tke-{s}",
        workload="web",
        initial_replicas=7,
    )

    async def main() -> None:
        async with await KubeClient.from_kubeconfig(str(karmada.plane.kubeconfig)) as kube:
            await ensure_namespace(karmada.plane, fleet.namespace)
            for name, nodes in ((fleet.base_cluster, 2), (fleet.cloud_cluster, 1)):
                await kube.create(KARMADA_CLUSTERS, push_cluster(name, provider="idc", region="cn-north"))
                await write_cluster_status(
                    kube,
                    name,
                    ClusterCapacity(
                        nodes=nodes,
                        node_cpu_milli=8000,
                        node_memory_bytes=32 * 1024**3,
                        node_pods=110,
                        allocated_cpu_milli=1500,
                        allocated_pods=3,
                    ),
                )
            await kube.apply(
                PROPAGATION_POLICIES,
                propagation_policy(fleet),
                field_manager=HARNESS_MANAGER,
                namespace=fleet.namespace,
            )
            await kube.apply(
                PROPAGATION_POLICIES,
                weights_body(fleet, {fleet.base_cluster: 2, fleet.cloud_cluster: 5}),
                field_manager=BURSTD_MANAGER,
                namespace=fleet.namespace,
            )
            await kube.create(DEPLOYMENTS, deployment(fleet, 7), fleet.namespace)

            async def scheduled() -> bool:
                try:
                    rb = await kube.get(RESOURCE_BINDINGS, fleet.binding, fleet.namespace)
                except NotFound:
                    return False
                status = rb.get("status") or {}
                return bool(rb["spec"].get("clusters")) and status.get("schedulerObservedGeneration") == rb[
                    "metadata"
                ].get("generation")

            await _until("the real scheduler placed the binding", scheduled)
            pp_obj = await kube.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
            rb_obj = await kube.get(RESOURCE_BINDINGS, fleet.binding, fleet.namespace)
            cluster_obj = await kube.get(KARMADA_CLUSTERS, fleet.base_cluster)

        pp = parse_propagation_policy(pp_obj, 1.0)
        assert pp.weights == {fleet.base_cluster: 2, fleet.cloud_cluster: 5}
        assert pp.weights_shape_ok
        assert pp.weights_managers == (BURSTD_MANAGER,)

        rb = parse_resource_binding(rb_obj, 1.0)
        # the detector names the policy that owns the binding; burstd finds bindings by it
        assert rb.policy_key == f"{fleet.namespace}/{fleet.workload}", rb_obj["metadata"]
        assert (rb.resource_kind, rb.resource_name, rb.resource_namespace) == (
            "Deployment",
            fleet.workload,
            fleet.namespace,
        )
        assert rb.resource_api_version == "apps/v1"
        assert rb.replicas == 7
        assert rb.clusters == {fleet.base_cluster: 2, fleet.cloud_cluster: 5}
        assert rb.scheduled is True
        assert rb.generation == rb.scheduler_observed_generation
        assert rb.request == Resources(cpu=fleet.request_cpu_milli / 1000, memory=fleet.request_memory_bytes)

        cluster = parse_cluster(cluster_obj, 1.0)
        assert cluster.name == fleet.base_cluster
        assert cluster.ready is True
        assert cluster.allocatable == Resources(cpu=16.0, memory=64 * 1024**3)
        assert cluster.allocated == Resources(cpu=1.5, memory=0.0)

    asyncio.run(main())
