"""Karmada's overflow scheduling, as the real karmada-scheduler v1.18.2 does it, against burstd's model.

``spec.shift.mode: overflow`` leaves the division to Karmada: the PropagationPolicy has one
``clusterAffinities`` term whose inline affinity is the base and whose ``overflowAffinities`` hold the cloud,
with ``dynamicWeight: AvailableReplicas``. Each test builds its own Push-mode base and cloud Clusters on the
session's real Karmada control plane and writes their status itself (``testbed.clusters``), so each
cluster's free room (``resourceSummary``: allocatable - allocated) is known exactly. At every step the
binding the real scheduler writes is compared with ``burstd.sim.karmada.overflow`` fed the same numbers.

What the real scheduler does (and the model now says): the base takes ``min(desired, its free room + what
it already has)``; the cloud takes the rest; a scale-down empties the cloud first; any reschedule (a scale,
or a WorkloadRebalancer) moves replicas back to the base as far as it has room, while a cluster's status
changing alone reschedules nothing; and replicas that do not all fit leave the binding as it was (all or
nothing), until a retry finds room for all of them.

A WorkloadRebalancer's fresh pass may run twice: the scheduler patches ``spec.clusters`` before it records
``lastScheduledTime``, and when it handles its own spec update before that record reaches its cache, the
reschedule still looks requested. The second pass counts what the first moved to the base as available on
top of the base's free room (whose status has not changed yet), so it can put more on the base than fits.
Both outcomes are accepted below; the simulator applies a rebalance once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from testbed.clusters import ClusterCapacity, push_cluster, schedulable, write_cluster_status
from testbed.karmada import KarmadaPlane

from burstd.engine.webster import descending_for
from burstd.kube.client import KARMADA_CLUSTERS, PROPAGATION_POLICIES, RESOURCE_BINDINGS, KubeClient
from burstd.kube.errors import NotFound
from burstd.kube.resources import WORKLOAD_REBALANCERS
from burstd.model.actions import Rebalance
from burstd.policy.spec import BurstPolicy
from burstd.runtime.actuate_base import WriteGate
from burstd.runtime.actuate_karmada import KarmadaActuator, overflow_problem
from burstd.runtime.events import RecordingSink
from burstd.sim.karmada import overflow

from .core import ensure_namespace
from .fleet import GI, Fleet, cpu_quantity, memory_quantity, policy_doc
from .players import DEPLOYMENTS

T = TypeVar("T")

NODE_CPU_MILLI, NODE_MEMORY, NODE_PODS = 8000, 32 * GI, 110
REQUEST_CPU_MILLI, REQUEST_MEMORY = 500, 1 * GI
PER_NODE = 16  # replicas one node holds (8 cores / 500m)
TIMEOUT = 30.0
FENCE_NODES = 4


def overflow_placement(base: str | Sequence[str], cloud: str) -> dict[str, Any]:
    """The placement ``policies/karmada-overflow.yaml`` asks for: the base cluster(s) as the primary group,
    the cloud as its overflow group, divided by dynamic weight (available replicas)."""
    return {
        "clusterAffinities": [
            {
                "affinityName": "base",
                "clusterNames": [base] if isinstance(base, str) else list(base),
                "overflowAffinities": [{"affinityName": "cloud", "clusterNames": [cloud]}],
            }
        ],
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "replicaDivisionPreference": "Weighted",
            "weightPreference": {"dynamicWeight": "AvailableReplicas"},
        },
    }


@dataclass
class Binding:
    """One ResourceBinding as read: its per-cluster replicas and scheduling status."""

    replicas: int
    clusters: dict[str, int]
    generation: int
    observed_generation: int
    scheduled: str | None
    """The ``Scheduled`` condition's status (``True``/``False``), None before the first attempt."""
    last_scheduled: str | None
    uid: str

    @classmethod
    def of(cls, rb: Mapping[str, Any]) -> Binding:
        status = rb.get("status") or {}
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        return cls(
            replicas=int(rb["spec"].get("replicas") or 0),
            clusters={c["name"]: int(c.get("replicas") or 0) for c in rb["spec"].get("clusters") or []},
            generation=int(rb["metadata"].get("generation") or 0),
            observed_generation=int(status.get("schedulerObservedGeneration") or 0),
            scheduled=conds.get("Scheduled"),
            last_scheduled=status.get("lastScheduledTime"),
            uid=str(rb["spec"]["resource"].get("uid") or ""),
        )

    @property
    def settled(self) -> bool:
        """The scheduler placed the current generation."""
        return self.scheduled == "True" and self.observed_generation == self.generation


@dataclass
class Overflow:
    """A base and a cloud Cluster of this test, their nodes and what their pods use (in replicas)."""

    karmada: KarmadaPlane
    kube: KubeClient
    namespace: str
    base: str
    cloud: str
    nodes: dict[str, int]
    used: dict[str, int] = field(default_factory=dict)
    """Replicas' worth of requests running in each cluster (this test's workloads and others)."""
    more_bases: tuple[str, ...] = ()
    fence: str = ""
    """A Cluster only the fence workloads go to (see ``barrier``)."""
    fences: int = 0
    unfenced: bool = False
    """A status was written since the last barrier."""

    @property
    def bases(self) -> tuple[str, ...]:
        return (self.base, *self.more_bases)

    @property
    def tiers(self) -> tuple[tuple[str, ...], ...]:
        return (self.bases, (self.cloud,))

    def free(self) -> dict[str, int]:
        """Each cluster's allocatable replicas, as Karmada's general estimator reads the status written."""
        return {c: self.nodes[c] * PER_NODE - self.used.get(c, 0) for c in self.nodes}

    async def write(self, cluster: str, *, nodes: int | None = None, used: int | None = None) -> None:
        """Set the cluster's nodes and used replicas and write its status."""
        if nodes is not None:
            self.nodes[cluster] = nodes
        if used is not None:
            self.used[cluster] = used
        await _write_status(self.kube, cluster, self.nodes[cluster], self.used.get(cluster, 0))
        self.unfenced = True

    async def barrier(self) -> None:
        """Return once karmada-scheduler has seen every Cluster status written so far.

        Its Cluster informer applies updates in order, so once it has seen a later write to the fence
        Cluster it has seen all of them. Fence ``k`` leaves ``k`` replicas free on the fence Cluster and is
        a new workload of ``k`` replicas there: it is placed only when that status is seen (with the one
        before, ``k - 1`` free, it is unschedulable and retried).
        """
        if not self.unfenced:
            return
        self.fences += 1
        k = self.fences
        await _write_status(self.kube, self.fence, FENCE_NODES, FENCE_NODES * PER_NODE - k)
        self.unfenced = False
        placement = {
            "clusterAffinity": {"clusterNames": [self.fence]},
            "replicaScheduling": overflow_placement(self.base, self.cloud)["replicaScheduling"],
        }
        await self.create(f"fence-{k}", k, placement=placement)

    async def running(self, assigned: Mapping[str, int], others: Mapping[str, int] | None = None) -> None:
        """Write each cluster's status as if ``assigned`` (plus ``others``) ran there."""
        for c in self.nodes:
            await self.write(c, used=assigned.get(c, 0) + (others or {}).get(c, 0))

    async def binding(self, workload: str) -> Binding:
        return Binding.of(await self.kube.get(RESOURCE_BINDINGS, f"{workload}-deployment", self.namespace))

    async def wait(self, what: str, check: Callable[[], Awaitable[T | None]], timeout: float = TIMEOUT) -> T:
        deadline = time.monotonic() + timeout
        while True:
            self.karmada.check_alive()
            found = await check()
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for: {what}")
            await asyncio.sleep(0.05)

    async def create(
        self, workload: str, replicas: int, *, placement: dict[str, Any] | None = None
    ) -> Binding:
        """A Deployment template and its overflow PropagationPolicy (or ``placement``); returns the settled
        binding. Statuses written before are seen by the scheduler first."""
        await self.barrier()
        labels = {"app": workload}
        requests = {"cpu": cpu_quantity(REQUEST_CPU_MILLI), "memory": memory_quantity(REQUEST_MEMORY)}
        await self.kube.create(
            PROPAGATION_POLICIES,
            {
                "apiVersion": PROPAGATION_POLICIES.api_version,
                "kind": "PropagationPolicy",
                "metadata": {"name": workload, "namespace": self.namespace},
                "spec": {
                    "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": workload}],
                    "placement": placement or overflow_placement(self.bases, self.cloud),
                },
            },
            self.namespace,
        )
        await self.kube.create(
            DEPLOYMENTS,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": workload, "namespace": self.namespace, "labels": labels},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "c",
                                    "image": "registry.k8s.io/pause:3.10",
                                    "resources": {"requests": requests},
                                }
                            ]
                        },
                    },
                },
            },
            self.namespace,
        )

        async def placed() -> Binding | None:
            try:
                b = await self.binding(workload)
            except NotFound:
                return None
            return b if b.replicas == replicas and b.settled else None

        return await self.wait(f"{workload} scheduled with {replicas} replicas", placed)

    async def scale(self, workload: str, replicas: int, *, fits: bool = True) -> Binding:
        """Scale the template; wait until the scheduler placed it (``fits``) or refused it (Scheduled
        turned False: the binding was settled before). Statuses written before are seen by the scheduler
        first."""
        await self.barrier()
        await self.kube.patch_scale(DEPLOYMENTS, workload, replicas, self.namespace)

        async def done() -> Binding | None:
            b = await self.binding(workload)
            if b.replicas != replicas:
                return None
            if fits:
                return b if b.settled else None
            return b if b.scheduled == "False" else None

        return await self.wait(f"{workload} {'scheduled' if fits else 'refused'} at {replicas}", done)

    def model(self, before: Binding, desired: int, *, fresh: bool = False) -> dict[str, int] | None:
        """burstd's model of what the scheduler assigns, from the statuses written."""
        return overflow(
            before.clusters,
            desired,
            self.free(),
            self.tiers,
            fresh=fresh,
            descending=descending_for(before.uid),
        )


async def overflow_bed(
    karmada: KarmadaPlane, kube: KubeClient, *, base_nodes: int, cloud_nodes: int, second_base_nodes: int = 0
) -> Overflow:
    """This test's namespace and its Push-mode Clusters (a base, a second base with ``second_base_nodes``,
    a cloud), Ready and empty, taken off their taints."""
    s = uuid.uuid4().hex[:6]
    nodes = {f"idc-{s}": base_nodes, f"tke-{s}": cloud_nodes}
    more = (f"idc2-{s}",) if second_base_nodes else ()
    nodes.update(dict.fromkeys(more, second_base_nodes))
    o = Overflow(
        karmada, kube, f"ovf-{s}", f"idc-{s}", f"tke-{s}", nodes, more_bases=more, fence=f"fence-{s}"
    )
    await ensure_namespace(karmada.plane, o.namespace)
    for base in o.bases:
        await kube.create(KARMADA_CLUSTERS, push_cluster(base, provider="idc", region="cn-north"))
    await kube.create(KARMADA_CLUSTERS, push_cluster(o.cloud, provider="tencentcloud", region="ap-guangzhou"))
    await kube.create(KARMADA_CLUSTERS, push_cluster(o.fence, provider="idc", region="cn-north"))
    await o.running({})
    await _write_status(kube, o.fence, FENCE_NODES, FENCE_NODES * PER_NODE)

    async def ready() -> bool | None:
        ok = [schedulable(await kube.get(KARMADA_CLUSTERS, c)) for c in (*o.nodes, o.fence)]
        return True if all(ok) else None

    await o.wait("the Clusters schedulable (taints removed by the cluster controller)", ready)
    return o


async def _write_status(kube: KubeClient, cluster: str, nodes: int, used: int) -> None:
    """Write the Cluster's status: ``nodes`` nodes, ``used`` replicas' worth of requests allocated."""
    await write_cluster_status(
        kube,
        cluster,
        ClusterCapacity(
            nodes=nodes,
            node_cpu_milli=NODE_CPU_MILLI,
            node_memory_bytes=NODE_MEMORY,
            node_pods=NODE_PODS,
            allocated_cpu_milli=used * REQUEST_CPU_MILLI,
            allocated_memory_bytes=used * REQUEST_MEMORY,
            allocated_pods=used,
        ),
    )


async def _after(stamp: str | None) -> bool | None:
    """True once the wall clock is in a later second than ``stamp`` (an RFC 3339 time in whole seconds)."""
    assert stamp is not None
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return True if datetime.now(UTC).replace(microsecond=0) > then else None


def run(karmada: KarmadaPlane, body: Callable[[KubeClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await KubeClient.from_kubeconfig(str(karmada.plane.kubeconfig)) as kube:
            return await body(kube)

    return asyncio.run(main())


# ------------------------------------------------------------------------------------------ the tests


def test_the_cloud_gets_only_what_the_base_cannot_hold_and_all_or_nothing(karmada: KarmadaPlane) -> None:
    """Scale-up fills the base's free room (its allocatable replicas, other workloads' use deducted) and
    spills only the rest onto the cloud; a count that does not fit in all leaves the binding as it was
    until a retry finds room for every replica."""
    figures: dict[str, float] = {}

    async def body(
        kube: KubeClient,
    ) -> tuple[Overflow, list[tuple[int, dict[str, int], dict[str, int] | None]]]:
        o = await overflow_bed(karmada, kube, base_nodes=2, cloud_nodes=1)
        await o.write(o.base, used=6)  # another workload uses 6 replicas' worth of the base
        steps: list[tuple[int, dict[str, int], dict[str, int] | None]] = []
        b = await o.create("web", 4)
        steps.append((4, b.clusters, {o.base: 4}))
        # the placement the real scheduler overflows is the one burstd's preflight asks for
        assert overflow_problem(await kube.get(PROPAGATION_POLICIES, "web", o.namespace), [o.cloud]) is None
        for desired in (20, 36):
            await o.running(b.clusters, {o.base: 6})
            expected = o.model(b, desired)
            b = await o.scale("web", desired)
            steps.append((desired, b.clusters, expected))
        # 44 > base 26 + cloud 16: unschedulable, nothing changes (not 26 + 16 with 2 left over)
        await o.running(b.clusters, {o.base: 6})
        before = b
        assert o.model(b, 44) is None
        b = await o.scale("web", 44, fits=False)
        steps.append((44, b.clusters, before.clusters))
        # a second cloud node: only a cluster status change, which the scheduler does not watch; it places
        # all 44 at its next retry (exponential back-off since the first failure)
        await o.write(o.cloud, nodes=2)
        expected = o.model(b, 44)
        started = time.monotonic()

        async def retried() -> Binding | None:
            now = await o.binding("web")
            return now if now.settled else None

        b = await o.wait("the retry places all 44 replicas", retried, 120)
        figures["retry_after_status_s"] = time.monotonic() - started
        steps.append((44, b.clusters, expected))
        return o, steps

    o, steps = run(karmada, body)
    print(
        f"\nburstd overflow: unschedulable retried {figures['retry_after_status_s']:.2f} s after the cloud grew"
    )
    for desired, real, expected in steps:
        assert real == expected, f"at {desired} replicas the scheduler assigned {real}, the model {expected}"
    base, cloud = o.base, o.cloud
    assert [s[1] for s in steps] == [
        {base: 4},
        {base: 20},
        {base: 26, cloud: 10},  # the base's 32 minus the other workload's 6
        {base: 26, cloud: 10},  # 44 refused: unchanged
        {base: 26, cloud: 18},
    ]


def test_scale_down_empties_the_cloud_first_and_a_rescale_moves_replicas_back(karmada: KarmadaPlane) -> None:
    """Not proportional: the overflow tier contracts first. And not sticky: once the base has room, the
    next scale puts every replica it can hold back on the base, with no WorkloadRebalancer."""

    async def body(
        kube: KubeClient,
    ) -> tuple[Overflow, list[tuple[int, dict[str, int], dict[str, int] | None]]]:
        o = await overflow_bed(karmada, kube, base_nodes=2, cloud_nodes=1)
        steps: list[tuple[int, dict[str, int], dict[str, int] | None]] = []
        b = await o.create("web", 4)
        for desired in (40, 36):
            await o.running(b.clusters)
            expected = o.model(b, desired)
            b = await o.scale("web", desired)
            steps.append((desired, b.clusters, expected))
        await o.running(b.clusters)
        await o.write(o.base, nodes=3)  # the base grows by a node: 16 replicas of room
        expected = o.model(b, 37)
        b = await o.scale("web", 37)
        steps.append((37, b.clusters, expected))
        return o, steps

    o, steps = run(karmada, body)
    for desired, real, expected in steps:
        assert real == expected, f"at {desired} replicas the scheduler assigned {real}, the model {expected}"
    assert [s[1] for s in steps] == [
        {o.base: 32, o.cloud: 8},
        {o.base: 32, o.cloud: 4},  # proportional would have been 29 + 7
        {o.base: 37},  # all back on the base, by a scale of one replica
    ]


def test_a_status_change_alone_moves_nothing_and_a_workload_rebalancer_moves_back_what_fits(
    karmada: KarmadaPlane,
) -> None:
    """With the base grown, the burst stays where it was until something reschedules it; burstd's
    Rebalance (a WorkloadRebalancer, made by ``KarmadaActuator.rebalance``) does, and the fresh division
    puts on the base what its free room allows: here all but 2 replicas."""

    async def body(
        kube: KubeClient,
    ) -> tuple[Overflow, dict[str, dict[str, int] | None], list[dict[str, Any]]]:
        o = await overflow_bed(karmada, kube, base_nodes=2, cloud_nodes=1)
        seen: dict[str, dict[str, int] | None] = {}
        b = await o.create("web", 4)
        await o.running(b.clusters)
        b = await o.scale("web", 40)
        seen["burst"] = b.clusters
        await o.running(b.clusters)
        await o.write(o.base, nodes=3)  # 16 replicas of room on the base
        # A second workload proves the scheduler has seen the new base status: 10 replicas fit only on the
        # grown base (the cloud's 8 free would not hold them). By then "web" has not moved.
        probe = await o.create("probe", 10)
        seen["probe"] = probe.clusters
        after = await o.binding("web")
        seen["web after the status change"] = after.clusters
        assert after.last_scheduled == b.last_scheduled
        await o.running(b.clusters, {o.base: 10})  # the probe runs on the base: 6 replicas of room left
        once = o.model(b, 40, fresh=True)
        assert once is not None
        seen["once"] = once
        # Karmada may run the fresh pass twice (see the module docstring): the second counts the replicas
        # the first moved to the base as available on top of the base's free room, which the status shows
        # unchanged
        seen["twice"] = overflow(once, 40, o.free(), o.tiers, fresh=True, descending=descending_for(b.uid))

        await o.barrier()
        # Karmada compares rescheduleTriggeredAt with lastScheduledTime at whole seconds: a rebalancer made in
        # the second of the last scheduling is reported Successful but moves nothing.
        await o.wait("the second of web's last scheduling is over", lambda: _after(after.last_scheduled))

        # a policy name of its own: WorkloadRebalancers are cluster-scoped and found by the policy's label,
        # and other tests of the session make theirs for policies named like policy_doc's default
        fleet = Fleet(
            namespace=o.namespace,
            workload="web",
            base_cluster=o.base,
            cloud_cluster=o.cloud,
            policy_name=f"rebalance-{o.namespace}",
        )
        doc = policy_doc(fleet)
        doc["spec"]["shift"] = {"mode": "overflow", "interval": "1s"}
        policy = BurstPolicy.model_validate(doc)
        actuator = KarmadaActuator(kube, RecordingSink(), WriteGate(dry_run=False))
        asked = time.monotonic()
        result = await actuator.rebalance(policy, Rebalance((f"{o.namespace}/web",), "drain back"))
        assert result.outcome == "applied", result

        async def moved() -> Binding | None:
            now = await o.binding("web")
            return now if now.settled and now.last_scheduled != b.last_scheduled else None

        seen["rebalanced"] = (await o.wait("the WorkloadRebalancer reschedules web", moved)).clusters
        took = time.monotonic() - asked
        print(f"\nburstd overflow: WorkloadRebalancer created -> binding rescheduled in {took:.2f} s")

        async def finished() -> list[dict[str, Any]] | None:
            listed = await kube.list(WORKLOAD_REBALANCERS, label_selector=f"burstd.io/policy={policy.name}")
            done = [w for w in listed.items if (w.get("status") or {}).get("finishTime")]
            return done or None

        done = await o.wait("the WorkloadRebalancer finished", finished)
        seen["final"] = (await o.binding("web")).clusters
        return o, seen, done

    o, seen, rebalancers = run(karmada, body)
    assert seen["burst"] == {o.base: 32, o.cloud: 8}
    assert seen["probe"] == {o.base: 10}
    assert seen["web after the status change"] == {o.base: 32, o.cloud: 8}
    assert seen["once"] == {o.base: 38, o.cloud: 2}  # the base's 6 free + its 32; the cloud keeps 2
    assert seen["twice"] == {o.base: 40}  # 6 free + 38 assigned: over the base's room by 2
    assert seen["rebalanced"] in (seen["once"], seen["twice"])
    assert seen["final"] in (seen["once"], seen["twice"])
    print(f"burstd overflow: the rebalance ran {'twice' if seen['final'] == seen['twice'] else 'once'}")
    [wr] = rebalancers
    observed = wr["status"]["observedWorkloads"]
    assert [(w["workload"]["name"], w.get("result")) for w in observed] == [("web", "Successful")]


def test_within_a_tier_webster_divides_by_room_with_the_bindings_tie_order(karmada: KarmadaPlane) -> None:
    """Two base clusters with the same room: within the base tier a scale-up spreads the new replicas by
    free room and a scale-down divides by the current counts, by Webster, ties broken in the binding's own
    order (the FNV-1a hash of the template's UID, ``descending_for``), as burstd's model does."""

    async def body(kube: KubeClient) -> tuple[list[tuple[int, dict[str, int], dict[str, int] | None]], int]:
        o = await overflow_bed(karmada, kube, base_nodes=1, cloud_nodes=1, second_base_nodes=1)
        steps: list[tuple[int, dict[str, int], dict[str, int] | None]] = []
        b = await o.create("web", 3)
        before = dataclasses.replace(b, clusters={})
        steps.append((3, b.clusters, o.model(before, 3)))
        flipped = 0  # steps whose answer the tie order decides
        for desired in (9, 40, 25, 7):
            await o.running(b.clusters)
            expected = o.model(b, desired)
            other = overflow(b.clusters, desired, o.free(), o.tiers, descending=not descending_for(b.uid))
            flipped += other != expected
            b = await o.scale("web", desired)
            steps.append((desired, b.clusters, expected))
        return steps, flipped

    steps, flipped = run(karmada, body)
    for desired, real, expected in steps:
        assert real == expected, f"at {desired} replicas the scheduler assigned {real}, the model {expected}"
    assert flipped >= 1  # a tie was decided by the binding's order, and the model got it right
    assert sorted(steps[2][1].values()) == [8, 16, 16]  # at 40: both bases full, 8 on the cloud
