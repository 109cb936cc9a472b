"""The real Cluster API controllers (v1.14.2, CAPD in-memory backend) as burstd meets them.

- A MachineDeployment scaled from 0 gets its Machines through a real MachineSet; the Machines marked with
  ``cluster.x-k8s.io/delete-machine`` are exactly the ones a scale-down removes (the claim burstd's
  MarkMachines relies on).
- burstd's parsers and ``build_world`` accept every object the controllers wrote, at each stage
  (provisioning, Ready, deleting, failed), read at v1beta2 (what burstd reads) and at v1beta1 (the
  fallback; served through the real conversion webhook), and read the right numbers.
- MachinePool: CAPD's DevMachinePool has no in-memory backend in v1.14.2; what the controllers then do is
  documented by a test.
- The Cluster Autoscaler annotations survive the real webhooks, and burstd refuses such a pool.

Figures (stack start, workload cluster ready, scale-to-Ready, delete, RSS) are printed (``-s``/``-rP``).
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from testbed.capi import (
    CapiPlane,
    WorkloadCluster,
    condition_true,
    create_objects,
    wait_for,
    worker_pool_objects,
)

from burstd.kube.client import KubeClient
from burstd.kube.objects import MachineObs, ScalableInfo
from burstd.kube.parse import parse_machine, parse_machine_deployment, parse_machine_pool
from burstd.kube.resources import (
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    MACHINE_POOLS,
    MACHINE_POOLS_V1BETA1,
    MACHINES,
    MACHINES_V1BETA1,
)
from burstd.model.world import PoolState
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.actuate_capi import DELETE_MACHINE, refusal
from burstd.runtime.observe import Snapshot, build_world, machines_of

Obj = dict[str, Any]
VERSIONS = ("v1beta2", "v1beta1")
DEPLOYMENT_LABEL = "cluster.x-k8s.io/deployment-name"
STARTUP_S = 2.0
TIMEOUT = 120.0
WHEN = "2026-11-30T00:00:00Z"


@dataclass
class Figures:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        print(f"burstd capi figure: {line}")


@pytest.fixture(scope="module")
def figures(capi: CapiPlane, workload_cluster: WorkloadCluster) -> Iterator[Figures]:
    out = Figures()
    out.add(f"CAPI stack (apiserver + CRDs + 4 managers + webhooks) started in {capi.start_s:.1f} s")
    out.add(f"workload cluster ready for workers {workload_cluster.ready_s:.1f} s after its creation")
    yield out
    rss = capi.rss_bytes()
    out.add(
        "RSS at the end: "
        + ", ".join(f"{name} {b / 2**20:.0f} MiB" for name, b in rss.items())
        + f" (total {sum(rss.values()) / 2**20:.0f} MiB)"
    )


# ------------------------------------------------------------------------------------------ reading


@functools.cache
def _pool_policy(namespace: str, name: str, backend: str) -> BurstPolicy:
    """A BurstPolicy whose one pool names the Cluster API object ``namespace/name``."""
    doc = parse_document(
        {
            "apiVersion": "burstd.io/v1alpha1",
            "kind": "BurstPolicy",
            "metadata": {"name": "capi"},
            "spec": {
                "workloads": [{"propagationPolicy": {"namespace": namespace, "name": "web"}}],
                "base": {"clusters": ["base"]},
                "burst": {
                    "pools": [
                        {
                            "name": name,
                            "provider": "fake",
                            "cluster": "cloud",
                            "backend": backend,
                            "ref": {"namespace": namespace, "name": name},
                            "nodes": {"max": 10},
                            "allocatable": {"cpu": "8", "memory": "16Gi"},
                            "price": {"perNodeHour": 1.0},
                        }
                    ]
                },
                "triggers": {
                    "scaleOut": {"any": [{"signal": "base.cpu.requestedRatio", "above": 0.8}]},
                    "scaleIn": {"any": [{"signal": "base.cpu.requestedRatio", "below": 0.5}]},
                },
            },
        }
    )
    assert isinstance(doc, BurstPolicy)
    return doc


@dataclass(frozen=True)
class Seen:
    """One read of a pool at one API version: raw objects and what burstd's parsers made of them."""

    version: str
    scalable_raw: Obj
    machines_raw: list[Obj]
    scalable: ScalableInfo
    machines: list[MachineObs]
    pool: PoolState

    @property
    def by_name(self) -> dict[str, MachineObs]:
        return {m.name: m for m in self.machines}


def read_pool(
    capi: CapiPlane, namespace: str, name: str, version: str, kind: str = "MachineDeployment"
) -> Seen:
    """The pool and its Machines as the real API serves them at ``version``, through burstd's parsers
    and ``build_world`` (what the runtime does with its watch caches' contents)."""
    at = time.time()
    raw = capi.get(kind, namespace, name, version=version)
    label = DEPLOYMENT_LABEL if kind == "MachineDeployment" else "cluster.x-k8s.io/pool-name"
    machines_raw = capi.list("Machine", namespace, version=version, selector={label: name})
    parse = parse_machine_deployment if kind == "MachineDeployment" else parse_machine_pool
    scalable = parse(raw, at)
    machines = [parse_machine(m, at) for m in machines_raw]
    snap = Snapshot(scalables={scalable.key: scalable}, machines={m.key: m for m in machines})
    backend = "capi-machinedeployment" if kind == "MachineDeployment" else "capi-machinepool"
    world = build_world(_pool_policy(namespace, name, backend), snap)
    assert [m.name for m in machines_of(snap, scalable)] == sorted(m.name for m in machines)
    return Seen(version, raw, machines_raw, scalable, machines, world.pools[name])


def read_both(capi: CapiPlane, namespace: str, name: str, kind: str = "MachineDeployment") -> dict[str, Seen]:
    return {v: read_pool(capi, namespace, name, v, kind) for v in VERSIONS}


def _node_ref(machine: Obj) -> str | None:
    ref = (machine.get("status") or {}).get("nodeRef") or {}
    return ref.get("name")


def _failure(machine: Obj, version: str) -> tuple[str | None, str | None]:
    status = machine.get("status") or {}
    holder = status if version == "v1beta1" else ((status.get("deprecated") or {}).get("v1beta1") or {})
    return holder.get("failureReason"), holder.get("failureMessage")


def _ready_raw(machine: Obj, version: str) -> bool:
    status = machine.get("status") or {}
    holder = status.get("v1beta2") or {} if version == "v1beta1" else status
    return condition_true({"status": holder}, "Ready")


def check_parsed(seen: Seen) -> None:
    """Every number burstd read equals what the controllers wrote in the raw object at that version."""
    status = seen.scalable_raw.get("status") or {}
    ready_raw = (status.get("v1beta2") or {}).get("readyReplicas") if seen.version == "v1beta1" else None
    if ready_raw is None:
        ready_raw = status.get("readyReplicas")
    assert seen.scalable.api_version == f"cluster.x-k8s.io/{seen.version}"
    assert seen.scalable.replicas == seen.scalable_raw["spec"].get("replicas")
    assert seen.scalable.status_replicas == status.get("replicas")
    assert seen.scalable.ready_replicas == ready_raw
    assert not seen.scalable.autoscaler_managed
    assert not seen.scalable.paused
    for raw in seen.machines_raw:
        name = raw["metadata"]["name"]
        obs = seen.by_name[name]
        assert obs.ready == _ready_raw(raw, seen.version), (name, seen.version)
        assert obs.node_name == _node_ref(raw), (name, seen.version)
        assert obs.deleting == ("deletionTimestamp" in raw["metadata"])
        assert obs.marked_for_deletion == (DELETE_MACHINE in (raw["metadata"].get("annotations") or {}))
        assert obs.failed == any(_failure(raw, seen.version)), (name, seen.version)
    assert seen.pool.desired == seen.scalable.replicas
    if seen.machines:  # build_world counts the Machines ...
        assert seen.pool.existing == len(seen.machines)
        assert seen.pool.ready == sum(1 for m in seen.machines if m.ready and not m.deleting)
    else:  # ... and, with none, falls back to the pool's status
        assert seen.pool.existing == (seen.scalable.status_replicas or 0)
        assert seen.pool.ready == (seen.scalable.ready_replicas or 0)
    assert seen.pool.failed == sum(1 for m in seen.machines if m.failed)


def stale_fallback(reads: list[dict[str, Seen]]) -> tuple[int, int]:
    """Reads where the pool had no Machine left but build_world, from the lagging status, still counted
    existing nodes, and (second) Ready nodes."""
    empty = [r["v1beta2"].pool for r in reads if not r["v1beta2"].machines]
    return sum(1 for p in empty if p.existing), sum(1 for p in empty if p.ready)


def same_reading(both: Mapping[str, Seen]) -> int:
    """v1beta2 and v1beta1 (through conversion) give burstd the same pool, when read at once. How many
    objects were compared (those unchanged between the two reads)."""
    a, b = both["v1beta2"], both["v1beta1"]
    compared = 0
    for seen in (a, b):
        check_parsed(seen)
    # The two reads are two requests: an object may change between them; compare those that did not.
    if a.scalable_raw["metadata"]["resourceVersion"] == b.scalable_raw["metadata"]["resourceVersion"]:
        # v1beta1's status counts are plain integers: a status not yet written reads 0 there and absent
        # (None) at v1beta2. build_world treats both as 0.
        assert (a.scalable.replicas, a.scalable.status_replicas or 0, a.scalable.ready_replicas or 0) == (
            b.scalable.replicas,
            b.scalable.status_replicas or 0,
            b.scalable.ready_replicas or 0,
        )
        compared += 1
    for name, m in a.by_name.items():
        other = b.by_name.get(name)
        raw_a = next(r for r in a.machines_raw if r["metadata"]["name"] == name)
        raw_b = next((r for r in b.machines_raw if r["metadata"]["name"] == name), None)
        if other is None or raw_b is None:
            continue
        if raw_a["metadata"]["resourceVersion"] == raw_b["metadata"]["resourceVersion"]:
            assert (m.ready, m.node_name, m.deleting, m.failed, m.marked_for_deletion, m.owner_name) == (
                other.ready,
                other.node_name,
                other.deleting,
                other.failed,
                other.marked_for_deletion,
                other.owner_name,
            ), name
            compared += 1
    return compared


def poll(
    what: str, capi: CapiPlane, read: Callable[[], dict[str, Seen]], done: Callable[[Seen], bool]
) -> tuple[float, list[dict[str, Seen]]]:
    """Read both versions until ``done`` holds on the v1beta2 read; every read is checked. Seconds taken
    and the reads."""
    start = time.monotonic()
    reads: list[dict[str, Seen]] = []
    compared = 0

    def step() -> bool:
        nonlocal compared
        both = read()
        compared += same_reading(both)
        reads.append(both)
        return done(both["v1beta2"])

    wait_for(what, step, TIMEOUT, capi, interval=0.1)
    assert compared > 0, "v1beta1 and v1beta2 reads never saw the same object version"
    return time.monotonic() - start, reads


def all_ready(n: int) -> Callable[[Seen], bool]:
    def done(seen: Seen) -> bool:
        live = [m for m in seen.machines if not m.deleting]
        return (
            len(seen.machines) == n
            and all(m.ready and m.node_name for m in live)
            and seen.scalable.ready_replicas == n
            and seen.scalable.status_replicas == n
        )

    return done


# ------------------------------------------------------------------------------------------ tests


def test_management_cluster_runs_the_four_managers(capi: CapiPlane, figures: Figures) -> None:
    capi.check_alive()
    rss = capi.rss_bytes()
    assert set(rss) == {
        "capi-manager",
        "capi-kubeadm-bootstrap-manager",
        "capi-kubeadm-control-plane-manager",
        "capd-manager",
    }
    assert all(b > 0 for b in rss.values()), rss
    # Both Cluster API versions are served, v1beta2 stored: burstd reads v1beta2 and can fall back.
    status, crd = capi.plane.request(
        "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/machinedeployments.cluster.x-k8s.io"
    )
    assert status == 200
    served = {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}
    assert served == {"v1beta1": (True, False), "v1beta2": (True, True)}
    assert crd["spec"]["conversion"]["strategy"] == "Webhook"


def test_machine_deployment_scales_through_a_real_machineset(
    capi: CapiPlane, workload_cluster: WorkloadCluster, figures: Figures
) -> None:
    ns, name = workload_cluster.namespace, "burst-md"
    create_objects(capi, worker_pool_objects(workload_cluster, name, replicas=0, startup_s=STARTUP_S))

    def read() -> dict[str, Seen]:
        return read_both(capi, ns, name)

    wait_for(
        "the MachineDeployment's MachineSet at 0 replicas",
        lambda: (
            capi.list("MachineSet", ns, selector={DEPLOYMENT_LABEL: name}) != []
            and read_pool(capi, ns, name, "v1beta2").scalable.status_replicas == 0
        ),
        TIMEOUT,
        capi,
    )

    # 0 -> 3 through /scale, as burstd's ScalePool does.
    scaled_at = time.time()
    capi.scale("MachineDeployment", ns, name, 3)
    up_s, reads = poll("3 Ready Machines", capi, read, all_ready(3))
    # burstd counts Ready Machines (build_world), not the MachineDeployment's status: how much sooner.
    machines_ready_at = next(r["v1beta2"].pool.observed_at for r in reads if r["v1beta2"].pool.ready == 3)
    figures.add(
        f"MachineDeployment 0 -> 3: readyReplicas 3 after {up_s:.1f} s (startupDuration {STARTUP_S:g} s); "
        f"3 Ready Machines (what build_world counts) seen after {machines_ready_at - scaled_at:.1f} s"
    )
    provisioning = [r["v1beta2"] for r in reads if any(not m.ready for m in r["v1beta2"].machines)]
    assert provisioning, "no read saw a Machine still provisioning"
    assert any(r.pool.existing == 3 and r.pool.ready < 3 for r in provisioning)
    ready = reads[-1]["v1beta2"]
    assert ready.pool == PoolState(
        name=name,
        desired=3,
        ready=3,
        existing=3,
        failed=0,
        observed_at=ready.pool.observed_at,
        machines=ready.pool.machines,
    )
    # The Machines came from a real MachineSet owned by the MachineDeployment.
    (machine_set,) = capi.list("MachineSet", ns, selector={DEPLOYMENT_LABEL: name})
    assert [o["kind"] for o in machine_set["metadata"]["ownerReferences"]] == ["MachineDeployment"]
    for raw in ready.machines_raw:
        owners = [(o["kind"], o["name"]) for o in raw["metadata"]["ownerReferences"]]
        assert owners == [("MachineSet", machine_set["metadata"]["name"])]
        assert _node_ref(raw)
    # burstd's own client lists both versions (what its watch caches do).
    listed = asyncio.run(_list_with_burstd_client(capi, ns, name))
    assert listed == {v: sorted(m["metadata"]["name"] for m in ready.machines_raw) for v in VERSIONS}

    # Mark two Machines as burstd does, then scale 3 -> 1: exactly those two go.
    names = sorted(ready.by_name)
    marked, kept = {names[0], names[2]}, names[1]
    for machine in sorted(marked):
        version = next(r for r in ready.machines_raw if r["metadata"]["name"] == machine)["metadata"][
            "resourceVersion"
        ]
        capi.merge_patch(
            "Machine",
            ns,
            machine,
            {"metadata": {"annotations": {DELETE_MACHINE: WHEN}, "resourceVersion": version}},
        )
    both = read()
    assert same_reading(both) > 0
    assert {m.name for m in both["v1beta2"].machines if m.marked_for_deletion} == marked
    capi.scale("MachineDeployment", ns, name, 1)

    def only_kept(seen: Seen) -> bool:
        assert kept in seen.by_name, "the unmarked Machine was deleted"
        assert not seen.by_name[kept].deleting, "the unmarked Machine is being deleted"
        return (
            set(seen.by_name) == {kept}
            and seen.scalable.status_replicas == 1
            and seen.scalable.ready_replicas == 1
        )

    down_s, reads = poll("only the unmarked Machine left", capi, read, only_kept)
    figures.add(f"MachineDeployment 3 -> 1 (2 marked): marked Machines gone after {down_s:.1f} s")
    deleting = [r["v1beta2"] for r in reads if any(m.deleting for m in r["v1beta2"].machines)]
    for seen in deleting:  # a deleting Machine still counts as existing, and no longer as ready
        assert {m.name for m in seen.machines if m.deleting} <= marked
        assert seen.pool.existing == len(seen.machines)
        assert seen.pool.ready <= 1

    # A second round: 1 -> 3 -> 0.
    capi.scale("MachineDeployment", ns, name, 3)
    up2_s, _ = poll("3 Ready Machines again", capi, read, all_ready(3))
    capi.scale("MachineDeployment", ns, name, 0)
    down2_s, reads = poll(
        "no Machine left", capi, read, lambda s: not s.machines and s.scalable.status_replicas == 0
    )
    stale_existing, stale_ready = stale_fallback(reads)
    figures.add(
        f"MachineDeployment 3 -> 0: of {len(reads)} reads, {stale_existing} saw no Machine but existing > 0 and "
        f"{stale_ready} ready > 0 (build_world's fallback to the lagging status)"
    )
    figures.add(
        f"MachineDeployment 1 -> 3: {up2_s:.1f} s to Ready; 3 -> 0: {down2_s:.1f} s until every Machine is gone; "
        f"scale-up mean {statistics.mean([up_s, up2_s]):.1f} s"
    )


async def _list_with_burstd_client(capi: CapiPlane, ns: str, name: str) -> dict[str, list[str]]:
    async with await KubeClient.from_kubeconfig(str(capi.plane.kubeconfig)) as kube:
        out: dict[str, list[str]] = {}
        for version, resource in (("v1beta2", MACHINES), ("v1beta1", MACHINES_V1BETA1)):
            listed = await kube.list(resource, ns, label_selector=f"{DEPLOYMENT_LABEL}={name}")
            out[version] = sorted(parse_machine(m, 0.0).name for m in listed.items)
        for resource in (MACHINE_DEPLOYMENTS, MACHINE_DEPLOYMENTS_V1BETA1):
            parse_machine_deployment(await kube.get(resource, name, ns), 0.0)
        return out


def test_a_machine_whose_infrastructure_vanished_is_failed(
    capi: CapiPlane, workload_cluster: WorkloadCluster, figures: Figures
) -> None:
    """The one failure the v1.14 controllers still report: the infrastructure machine deleted after it was
    provisioned (``status.deprecated.v1beta1.failureReason``, ``status.failureReason`` at v1beta1)."""
    ns, name = workload_cluster.namespace, "failing-md"
    create_objects(capi, worker_pool_objects(workload_cluster, name, replicas=1, startup_s=0.5))

    def read() -> dict[str, Seen]:
        return read_both(capi, ns, name)

    poll("1 Ready Machine", capi, read, all_ready(1))
    (machine,) = capi.list("Machine", ns, selector={DEPLOYMENT_LABEL: name})
    infra = machine["spec"]["infrastructureRef"]["name"]
    capi.delete("DevMachine", ns, infra)
    took, reads = poll("the Machine failed", capi, read, lambda s: s.pool.failed == 1)
    figures.add(f"DevMachine deleted under a Running Machine: failed after {took:.1f} s")
    failed = reads[-1]
    for version, seen in failed.items():
        (obs,) = seen.machines
        assert obs.failed, version
        reason, message = _failure(seen.machines_raw[0], version)
        assert reason == "InvalidConfiguration", (version, reason)
        assert message
        assert infra in message
    capi.scale("MachineDeployment", ns, name, 0)


def test_machine_pool_with_the_in_memory_provider(
    capi: CapiPlane, workload_cluster: WorkloadCluster, figures: Figures
) -> None:
    """CAPD v1.14.2's DevMachinePool has only a Docker backend: no in-memory MachinePool exists. A
    MachinePool on a DevMachinePool without a backend is accepted, gets its bootstrap data, and then waits
    for infrastructure forever; burstd reads it as a pool with no ready replicas."""
    ns, name = workload_cluster.namespace, "burst-mp"
    # The DevMachinePool schema has no inMemory backend: a strict create says so.
    strict = capi.path("DevMachinePool", ns) + "?fieldValidation=Strict&dryRun=All"
    status, body = capi.plane.request(
        "POST",
        strict,
        {
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
            "kind": "DevMachinePool",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"backend": {"inMemory": {}}},
        },
    )
    assert status == 400, body  # strict field validation answers BadRequest
    assert 'unknown field "spec.backend.inMemory"' in str(body), body

    create_objects(capi, worker_pool_objects(workload_cluster, name, kind="MachinePool", replicas=2))
    log = capi.processes["capd-manager"].log
    refused = "can't be called for DevMachinePools without a Docker backend"

    def waiting_for_infrastructure() -> bool:
        pool = capi.get("MachinePool", ns, name)
        init = (pool.get("status") or {}).get("initialization") or {}
        return bool(init.get("bootstrapDataSecretCreated")) and f'DevMachinePool="{ns}/{name}"' in "\n".join(
            line for line in log.read_text(errors="replace").splitlines() if refused in line
        )

    wait_for(
        "MachinePool bootstrapped and its DevMachinePool refused by CAPD",
        waiting_for_infrastructure,
        TIMEOUT,
        capi,
    )
    both = read_both(capi, ns, name, kind="MachinePool")
    for version, seen in both.items():
        check_parsed(seen)
        assert seen.scalable.kind == "MachinePool"
        assert (seen.scalable.replicas, seen.scalable.ready_replicas) == (2, None), version
        assert seen.machines == []
        assert (seen.pool.desired, seen.pool.ready, seen.pool.existing) == (2, 0, 0), version
    raw = both["v1beta2"].scalable_raw
    assert raw["status"]["phase"] == "Provisioning"
    assert raw["status"]["initialization"].get("infrastructureProvisioned") is not True
    figures.add("MachinePool: not supported by CAPD's in-memory backend (DevMachinePool is Docker-only)")
    # The MachinePool controllers did run (the MachinePool feature gate is on): the v1beta1 read shows
    # the same state through the conversion webhook.
    assert both["v1beta1"].scalable_raw["status"]["phase"] == "Provisioning"


def test_cluster_autoscaler_pool_keeps_its_annotations_and_is_refused(
    capi: CapiPlane, workload_cluster: WorkloadCluster
) -> None:
    ns, name = workload_cluster.namespace, "autoscaled-md"
    annotations = {
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size": "0",
        "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size": "5",
    }
    create_objects(capi, worker_pool_objects(workload_cluster, name, replicas=0, annotations=annotations))
    wait_for(
        "the autoscaled MachineDeployment reconciled",
        lambda: (capi.get("MachineDeployment", ns, name).get("status") or {}).get("replicas") == 0,
        TIMEOUT,
        capi,
    )
    for version in VERSIONS:
        raw = capi.get("MachineDeployment", ns, name, version=version)
        assert annotations.items() <= raw["metadata"]["annotations"].items()
        assert parse_machine_deployment(raw, 0.0).autoscaler_managed, version
        why = refusal(raw, "MachineDeployment")
        assert why is not None, version
        assert why.reason == "RefusedAutoscalerManaged", version


def test_pools_listed_by_burstd_client_at_both_versions(
    capi: CapiPlane, workload_cluster: WorkloadCluster
) -> None:
    """The list burstd's watch caches start from, at v1beta2 and at v1beta1: every MachineDeployment and
    MachinePool the controllers wrote parses."""

    async def body() -> dict[str, int]:
        async with await KubeClient.from_kubeconfig(str(capi.plane.kubeconfig)) as kube:
            counts: dict[str, int] = {}
            for resource, parse in (
                (MACHINE_DEPLOYMENTS, parse_machine_deployment),
                (MACHINE_DEPLOYMENTS_V1BETA1, parse_machine_deployment),
                (MACHINE_POOLS, parse_machine_pool),
                (MACHINE_POOLS_V1BETA1, parse_machine_pool),
                (MACHINES, parse_machine),
                (MACHINES_V1BETA1, parse_machine),
            ):
                listed = await kube.list(resource)
                for item in listed.items:
                    parse(item, 0.0)
                counts[str(resource)] = len(listed.items)
            return counts

    counts = asyncio.run(body())
    assert counts["machines.cluster.x-k8s.io/v1beta2"] >= 1  # at least the control-plane Machine
    assert counts["machines.cluster.x-k8s.io/v1beta1"] == counts["machines.cluster.x-k8s.io/v1beta2"]
