"""``burstd run`` end to end against the real Karmada and Cluster API controllers (the test bed: one API
server with Karmada's webhook, scheduler and controller-manager, one management cluster with the Cluster
API core, kubeadm and in-memory CAPD managers), as a separate process with only ``deploy/``'s RBAC on each
(``rbac-karmada.yaml`` on the first, ``rbac-management.yaml`` on the second).
Every test also checks that each write went to its own server (``assert_each_write_on_its_own_server``).

- the whole lifecycle: provision -> Ready -> shift -> burst -> drain -> nodes removed -> Idle;
- killed (SIGKILL) mid-burst and restarted: it resumes, with no second scale-up;
- two processes: only the leader writes, and the other takes over when the leader stops;
- a person edits the weights: burstd holds the policy and reports it (Event, metric), never fights;
- SIGTERM: a clean exit that releases the Lease; --dry-run writes nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from integration.controlplane import ControlPlane

from burstd.kube.client import PROPAGATION_POLICIES

from .bed import Bed, BedHarness, run_bed
from .burstd_process import BurstdProcess, grant_deploy_rbac
from .core import list_config_maps
from .fleet import Fleet, policy_yaml
from .planes import Planes

T = TypeVar("T")
LIFECYCLE = ["Idle", "Provisioning", "Shifting", "Bursting", "Draining", "Releasing", "Idle"]


def run(bed: Bed, fleet: Fleet, body: Callable[[BedHarness], Awaitable[T]], **options: Any) -> T:
    """Run ``body`` on ``fleet`` created on the bed (``options``: ``run_bed``'s), with deploy/'s RBAC."""

    async def main() -> T:
        async with run_bed(bed, fleet, **options) as h:
            await asyncio.to_thread(grant_deploy_rbac, bed.planes, fleet.burstd_namespace)
            return await body(h)

    return asyncio.run(main())


def burst_demand(fleet: Fleet) -> int:
    """Demand that needs about two cloud nodes beyond the base."""
    return fleet.base_capacity + 2 * fleet.replicas_per_node - 4


def scale_ups(values: list[int | None]) -> int:
    """How many times the MachineDeployment's replicas went up."""
    return sum(1 for before, after in itertools.pairwise(values) if (after or 0) > (before or 0))


async def events(plane: ControlPlane, namespace: str, prefix: str = "") -> list[dict[str, Any]]:
    """burstd's Events in ``namespace`` about objects whose name starts with ``prefix``."""
    status, body = await asyncio.to_thread(
        plane.request, "GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
    )
    assert status == 200, body
    return [
        e
        for e in body.get("items") or []
        if _is_burstd(e) and str((e.get("regarding") or {}).get("name", "")).startswith(prefix)
    ]


async def cloud_events(planes: Planes, fleet: Fleet) -> list[dict[str, Any]]:
    """burstd's Events about the fleet's MachineDeployment and its Machines (the Cluster API namespace is
    the bed's workload Cluster's, shared by every test's pool)."""
    return await events(planes.management, fleet.capi_namespace, fleet.machine_deployment)


def _is_burstd(event: dict[str, Any]) -> bool:
    return event.get("reportingController") == "burstd.io/burstd"


async def lease(plane: ControlPlane, namespace: str) -> dict[str, Any] | None:
    status, body = await asyncio.to_thread(
        plane.request, "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/burstd-leader"
    )
    return body if status == 200 else None


KARMADA_GROUPS = frozenset(
    {
        "cluster.karmada.io",
        "policy.karmada.io",
        "work.karmada.io",
        "autoscaling.karmada.io",
        "apps.karmada.io",
    }
)
CAPI_GROUP = "cluster.x-k8s.io"


async def _get(plane: ControlPlane, path: str) -> tuple[int, Any]:
    return await asyncio.to_thread(plane.request, "GET", path)


async def _items(plane: ControlPlane, path: str) -> list[dict[str, Any]]:
    status, body = await _get(plane, path)
    assert status == 200, body
    return [item for item in body.get("items") or [] if isinstance(item, dict)]


def _group(event: dict[str, Any]) -> str:
    """The API group of the object an Event is about (``""`` for the core group)."""
    api_version = str((event.get("regarding") or {}).get("apiVersion") or "")
    return api_version.rpartition("/")[0]


async def assert_each_write_on_its_own_server(planes: Planes, fleet: Fleet) -> None:
    """Nothing burstd keeps on the management plane (state ConfigMaps, Lease, Events about Cluster API
    objects) is on the Karmada plane, in any namespace; every burstd Event is on the API server of the object
    it is about; and the harness made each namespace on its own plane only, so a write to the wrong server
    fails instead of landing somewhere nobody looks. (What must exist, the callers check on the right plane.)
    """
    k, m = planes
    assert k.server != m.server
    for ns in (fleet.capi_namespace, fleet.burstd_namespace):
        status, _ = await _get(k, f"/api/v1/namespaces/{ns}")
        assert status == 404, f"namespace {ns} exists on the Karmada plane"
    status, _ = await _get(m, f"/api/v1/namespaces/{fleet.namespace}")
    assert status == 404, f"namespace {fleet.namespace} exists on the management plane"
    assert await events(k, fleet.capi_namespace, fleet.machine_deployment) == []
    # cluster-wide: none of burstd's management-side objects on the Karmada plane, in any namespace
    state = [
        f"{c['metadata']['namespace']}/{c['metadata']['name']}"
        for c in await _items(k, "/api/v1/configmaps")
        if c["metadata"]["name"].startswith("burstd-state-")
    ]
    assert state == []
    held = [
        f"{x['metadata']['namespace']}/{x['metadata']['name']}"
        for x in await _items(k, "/apis/coordination.k8s.io/v1/leases")
        if x["metadata"]["name"] == "burstd-leader"
    ]
    assert held == []
    # Events: about Karmada objects on the Karmada plane, about Cluster API objects on the management plane
    for plane, groups in ((k, KARMADA_GROUPS), (m, {CAPI_GROUP})):
        misplaced = [
            e["regarding"]
            for e in await _items(plane, "/apis/events.k8s.io/v1/events")
            if _is_burstd(e) and _group(e) not in groups
        ]
        assert misplaced == [], f"burstd Events on {plane.server} about objects of another API server"


def phase_is(h: BedHarness, phase: str) -> Callable[[], bool]:
    return lambda: h.recorder.phase_history()[-1:] == [phase]


async def until(
    h: BedHarness, what: str, predicate: Callable[[], Any], proc: BurstdProcess, timeout: float = 60
) -> None:
    """``h.wait_for`` that shows burstd's log when it times out (the log says why it did what it did)."""
    try:
        await h.wait_for(what, predicate, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- burstd log (tail) ---\n{proc.log()[-6000:]}") from None


async def rounds_pass(h: BedHarness, proc: BurstdProcess, n: int, timeout: float = 30) -> None:
    """Wait until burstd has evaluated the fleet's policy ``n`` more times (its own round counter): how a
    test shows that something did not happen without sleeping."""
    policy = proc.fleet.policy_name
    start = proc.metric("burstd_evaluations_total", policy=policy) or 0
    await until(
        h,
        f"{n} more evaluations",
        lambda: (proc.metric("burstd_evaluations_total", policy=policy) or 0) >= start + n,
        proc,
        timeout,
    )


# ------------------------------------------------------------------------------------------ lifecycle


def test_whole_burst_lifecycle_then_sigterm(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start()
        try:
            await until(h, "burstd evaluated the idle fleet", phase_is(h, "Idle"), proc)
            await until(h, "/readyz is 200", lambda: proc.get("/readyz")[0] == 200, proc, 10)
            assert proc.metric("burstd_leader") == 1.0

            await h.karmada.set_demand(burst_demand(fleet))
            await until(h, "cloud nodes Ready", lambda: (h.recorder.md_ready.last or 0) >= 2, proc)
            await until(
                h,
                "replicas on the cloud cluster",
                lambda: fleet.cloud_cluster in (h.recorder.binding_clusters.last or {}),
                proc,
            )
            await until(h, "phase Bursting", phase_is(h, "Bursting"), proc)
            peak_nodes = max(v or 0 for v in h.recorder.md_replicas.values)

            await h.karmada.set_demand(fleet.initial_replicas)
            await until(
                h,
                "back to Idle with no cloud node",
                lambda: (
                    phase_is(h, "Idle")()
                    and h.recorder.md_replicas.last == 0
                    and h.recorder.md_ready.last == 0
                ),
                proc,
                90,
            )
            machines = await h.machines()
            assert machines == [], [m["metadata"]["name"] for m in machines]
            assert (h.recorder.binding_clusters.last or {}).keys() == {fleet.base_cluster}

            # Idle -> Provisioning -> ... -> Bursting (a burst may resize in place: Shifting/Provisioning
            # again) -> Draining -> Releasing -> Idle, and Idle nowhere in between
            phases = h.recorder.phase_history()
            assert phases[:2] == ["Idle", "Provisioning"], phases
            assert phases.count("Idle") == 2, phases
            last_burst = len(phases) - 1 - phases[::-1].index("Bursting")
            assert "Draining" in phases[last_burst:], phases
            # after it, only the way back (a node the shrinking burst no longer needs may be Released before
            # the replicas Drain off the others: the recorder watches the state, so it sees that too)
            assert set(phases[last_burst:]) <= set(LIFECYCLE[3:]), phases
            assert phases[-1] == "Idle", phases
            # weights followed Ready capacity: checked at every sample by the capacity check below (Machines
            # read before and after each binding read; a single poll's timestamps cannot order the two)
            assert h.recorder.weight_managers.last == ("burstd",)
            # what the real scheduler did: the division burstd's model predicts, never ahead of Ready nodes
            h.assert_capacity_never_led()
            h.assert_division_as_modelled()
            assert 2 <= peak_nodes <= fleet.pool_max_nodes
            # At one unchanging demand the burst is sized once: it does not grow when Karmada's summary of
            # the base lags burstd's own weight write (it still counts the replicas moved off the base).
            assert scale_ups(h.recorder.md_replicas.values) == 1, h.recorder.md_replicas.values

            reasons = {e["reason"] for e in await cloud_events(planes, fleet)}
            assert {"ScaledUp", "ScaledDown"} <= reasons, reasons
            reasons = {e["reason"] for e in await events(planes.karmada, fleet.namespace)}
            assert "WeightsSet" in reasons, reasons
            cost = proc.metric("burstd_cloud_cost_total", policy=fleet.policy_name, currency="CNY")
            assert cost is not None
            assert cost > 0
            assert proc.metric("burstd_policy_phase", policy=fleet.policy_name, phase="Idle") == 1.0

            code = await asyncio.to_thread(proc.terminate, 20.0)
            assert code == 0, proc.log()[-3000:]
            held = await lease(planes.management, fleet.burstd_namespace)
            assert held is not None
            assert not held["spec"].get("holderIdentity"), held
            assert "stopped" in proc.log()
            assert "cannot record event" not in proc.log()  # no Event sent to a server that refused it
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            proc.close()

    run(bed, fleet, body)


def test_killed_mid_burst_resumes_without_a_second_scale_up(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        first = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet), identity="burstd-a").start()
        second = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet), identity="burstd-b")
        try:
            await until(h, "Idle", phase_is(h, "Idle"), first)
            await h.karmada.set_demand(burst_demand(fleet))
            await until(h, "phase Bursting", phase_is(h, "Bursting"), first)
            before = list(h.recorder.md_replicas.values)
            nodes = h.recorder.md_replicas.last
            first.kill()  # a crash: no clean shutdown, the Lease is left to expire
            second.start()
            await until(
                h, "the new process took over", lambda: second.metric("burstd_leader") == 1.0, second, 30
            )
            await until(
                h,
                "it evaluated",
                lambda: (second.metric("burstd_evaluations_total", policy=fleet.policy_name) or 0) >= 3,
                second,
                30,
            )
            assert h.recorder.md_replicas.values[len(before) - 1 :] == [nodes], h.recorder.md_replicas.values
            assert h.recorder.phase_history()[-1] == "Bursting"
            assert "resumed in phase Bursting" in second.log()
            machines = await h.machines()
            assert len(machines) == nodes  # no machine forgotten, none added
            assert h.recorder.machine_ledger.created == nodes

            await h.karmada.set_demand(fleet.initial_replicas)
            await until(
                h,
                "back to Idle with no cloud node",
                lambda: phase_is(h, "Idle")() and h.recorder.md_replicas.last == 0,
                second,
                90,
            )
            assert scale_ups(h.recorder.md_replicas.values) == scale_ups(before)
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            first.close()
            second.close()

    run(bed, fleet, body)


def test_two_processes_only_the_leader_writes(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        a = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet), identity="burstd-a").start()
        b = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet), identity="burstd-b").start()
        try:
            await until(
                h,
                "one leader",
                lambda: (a.metric("burstd_leader"), b.metric("burstd_leader")) in {(1.0, 0.0), (0.0, 1.0)},
                a,
                30,
            )
            leader, follower = (a, b) if a.metric("burstd_leader") == 1.0 else (b, a)
            await h.karmada.set_demand(burst_demand(fleet))
            await until(h, "phase Bursting", phase_is(h, "Bursting"), leader)
            writers = {
                e["reportingInstance"]
                for e in [*await events(planes.karmada, fleet.namespace), *await cloud_events(planes, fleet)]
            }
            assert writers == {leader.identity}, writers
            assert (follower.metric("burstd_evaluations_total", policy=fleet.policy_name) or 0) == 0
            assert follower.metric("burstd_leader") == 0.0

            assert await asyncio.to_thread(leader.terminate, 20.0) == 0
            await until(
                h, "the follower took over", lambda: follower.metric("burstd_leader") == 1.0, follower, 15
            )
            await h.karmada.set_demand(fleet.initial_replicas)
            await until(
                h,
                "back to Idle",
                lambda: phase_is(h, "Idle")() and h.recorder.md_replicas.last == 0,
                follower,
                90,
            )
            late = {
                e["reportingInstance"]
                for e in await cloud_events(planes, fleet)
                if e["reason"] == "ScaledDown"
            }
            assert late == {follower.identity}, late
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            a.close()
            b.close()

    run(bed, fleet, body)


# ------------------------------------------------------------------------------------------ never fight


def test_a_person_editing_the_weights_makes_burstd_hold_and_report(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start()
        try:
            await h.karmada.set_demand(burst_demand(fleet))
            await until(h, "phase Bursting", phase_is(h, "Bursting"), proc)
            mine = {fleet.base_cluster: 5, fleet.cloud_cluster: 1}
            entries = [{"targetCluster": {"clusterNames": [c]}, "weight": w} for c, w in mine.items()]
            patch = {
                "spec": {
                    "placement": {"replicaScheduling": {"weightPreference": {"staticWeightList": entries}}}
                }
            }
            path = f"/apis/policy.karmada.io/v1alpha1/namespaces/{fleet.namespace}/propagationpolicies/{fleet.workload}?fieldManager=alice"
            status, answer = await asyncio.to_thread(
                planes.karmada.request, "PATCH", path, patch, content_type="application/merge-patch+json"
            )
            assert status == 200, answer
            await until(
                h,
                "held metric",
                lambda: (
                    proc.metric(
                        "burstd_policy_held", policy=fleet.policy_name, reason="WeightsChangedExternally"
                    )
                    == 1.0
                ),
                proc,
                30,
            )
            # demand drops: a burstd that fought would now rewrite the weights; a holding one leaves them.
            # Wait on burstd's own round counter: five more evaluations that saw the lower demand.
            await h.karmada.set_demand(fleet.initial_replicas)
            await rounds_pass(h, proc, 5)
            assert h.recorder.weights.last == mine
            assert h.recorder.weight_managers.last == ("alice",)
            warnings = [e for e in await events(planes.karmada, fleet.namespace) if e["type"] == "Warning"]
            assert any(e["reason"] == "WeightsChangedExternally" for e in warnings), warnings
            assert (
                proc.metric("burstd_alert_active", policy=fleet.policy_name, code="WeightsChangedExternally")
                == 1.0
            )
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            proc.close()

    run(bed, fleet, body)


def test_dry_run_writes_nothing_and_says_what_it_would_write(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        pp_before = await h.karmada_kube.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
        proc = BurstdProcess(
            planes, fleet, tmp_path, policy_yaml(fleet), dry_run=True, debug_endpoints=True
        ).start()
        try:
            await h.karmada.set_demand(burst_demand(fleet))
            await until(
                h, "a would-be scale-up in the log", lambda: "would scale pool" in proc.log(), proc, 30
            )
            await rounds_pass(h, proc, 2)
            assert h.recorder.md_replicas.values == [0]
            pp = await h.karmada_kube.get(PROPAGATION_POLICIES, fleet.workload, fleet.namespace)
            assert pp["metadata"]["resourceVersion"] == pp_before["metadata"]["resourceVersion"]
            assert await list_config_maps(planes.management, fleet.burstd_namespace) == []
            assert await cloud_events(planes, fleet) == []
            assert await events(planes.karmada, fleet.namespace) == []
            assert await lease(planes.management, fleet.burstd_namespace) is None
            assert proc.metric("burstd_dry_run") == 1.0
            decisions = json.loads(proc.get("/debug/decisions")[1])
            assert [d["policy"] for d in decisions] == [fleet.policy_name], decisions
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            proc.close()

    run(bed, fleet, body)


def test_once_evaluates_saves_releases_and_exits(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start("--once")
        try:
            code = await asyncio.to_thread(proc.wait_exit, 60.0)
            assert code == 0, proc.log()[-3000:]
            maps = await list_config_maps(planes.management, fleet.burstd_namespace)
            assert [m["metadata"]["name"] for m in maps] == [fleet.state_config_map]
            assert maps[0]["data"]["phase"] == "Idle"
            held = await lease(planes.management, fleet.burstd_namespace)
            assert held is not None
            assert not held["spec"].get("holderIdentity"), held
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            proc.close()

    run(bed, fleet, body)
