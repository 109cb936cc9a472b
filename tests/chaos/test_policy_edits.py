"""A policy edited while its burst runs: a pool removed, then the node limit lowered; a workload removed. The removed pool is
drained and released like the end of a burst (its nodes are not orphaned, its replicas do not jump), the
excess over the new limit likewise, and at no moment is the cloud assigned more replicas than its Ready
nodes hold. Two pools (two MachineDeployments of the same cloud cluster) make the first edit possible.
"""

from __future__ import annotations

import asyncio
import copy
import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from e2e.bed import Bed
from e2e.fleet import DEPLOYMENT_NAME_LABEL, Fleet, policy_doc
from e2e.test_daemon import burst_demand
from ruamel.yaml import YAML

from burstd.kube.client import MACHINE_DEPLOYMENTS, RESOURCE_BINDINGS

from . import figures
from .rig import ChaosDaemon, Rig, chaos_rig, is_action
from .test_faults import SETTINGS, no_traceback

FIRST_POOL_MAX = 2


def dump(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(doc, out)
    return out.getvalue()


def two_pool_policy(fleet: Fleet, second: Fleet) -> dict[str, Any]:
    doc = policy_doc(fleet)
    first = doc["spec"]["burst"]["pools"][0]
    first["nodes"]["max"] = FIRST_POOL_MAX
    other = copy.deepcopy(first)
    other.update(
        name=f"{first['name']}-b", ref={"namespace": second.capi_namespace, "name": second.machine_deployment}
    )
    other["nodes"]["max"] = fleet.pool_max_nodes
    doc["spec"]["burst"]["pools"].append(other)
    return doc


async def md_replicas(rig: Rig, name: str) -> tuple[int, int]:
    md = await rig.h.management_kube.get(MACHINE_DEPLOYMENTS, name, rig.fleet.capi_namespace)
    return int(md["spec"].get("replicas") or 0), int((md.get("status") or {}).get("readyReplicas") or 0)


async def pool_machines(rig: Rig, pool: Fleet) -> list[str]:
    """The Machines (not being deleted) of one of the fleet's pools."""
    return [
        m["metadata"]["name"]
        for m in await rig.h.machines()
        if m["metadata"]["labels"].get(DEPLOYMENT_NAME_LABEL) == pool.machine_deployment
    ]


def edit(d: ChaosDaemon, doc: dict[str, Any]) -> None:
    (d.workdir / "policy.yaml").write_text(dump(doc))


def test_pool_removed_and_limit_lowered_mid_burst(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    second = replace(fleet, machine_deployment=f"{fleet.machine_deployment}-b")

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path) as rig:
            await rig.add_pool(second)
            doc = two_pool_policy(fleet, second)
            d = (await rig.daemon("burstd-a", dump(doc), settings=SETTINGS)).start()
            await rig.until("Idle", lambda: rig.phase() == "Idle")
            # three nodes' worth of cloud replicas: the first pool's two and one of the second's
            await rig.h.karmada.set_demand(burst_demand(fleet))
            await rig.until("phase Bursting", lambda: rig.phase() == "Bursting", 90)
            first_nodes, _ = await md_replicas(rig, fleet.machine_deployment)
            assert first_nodes == FIRST_POOL_MAX

            # 1. the first pool is removed from the policy mid-burst
            edited = time.monotonic()
            without = copy.deepcopy(doc)
            del without["spec"]["burst"]["pools"][0]
            edit(d, without)

            async def first_pool_released() -> bool:
                return await md_replicas(rig, fleet.machine_deployment) == (0, 0)

            await rig.until("the removed pool's nodes are released", first_pool_released, 120)
            assert await pool_machines(rig, fleet) == []
            await rig.until("phase Bursting on the second pool", lambda: rig.phase() == "Bursting", 60)
            marked = [
                s for s in rig.journal.seen if s.landed and s.resource == "machines" and s.started > edited
            ]
            assert len(marked) >= FIRST_POOL_MAX  # removed emptiest first, by name, not left to chance

            # 2. the node limit is lowered below what the burst holds
            limited = copy.deepcopy(without)
            limited["spec"]["limits"]["maxCloudNodes"] = 1

            async def at_limit() -> bool:
                return (await md_replicas(rig, second.machine_deployment))[0] == 1

            edit(d, limited)
            await rig.until("the second pool drained to the new limit", at_limit, 120)

            async def one_machine_left() -> bool:
                return len(await rig.h.clusters.machines()) == 1  # deleting ones included

            await rig.until("the real MachineSet removed the excess Machines", one_machine_left, 120)
            # the Machines the real MachineSets removed (while others stayed) are exactly those burstd marked
            # with cluster.x-k8s.io/delete-machine, and each was marked before it went
            ledger = rig.h.recorder.machine_ledger
            removed = ledger.removed_while_others_stayed()
            assert len(removed) >= FIRST_POOL_MAX, ledger
            assert set(ledger.marked) == removed, (ledger.marked, removed)
            assert all(ledger.marked[m] <= ledger.gone[m] for m in removed), ledger

            # 3. demand back at base: everything released
            await rig.h.karmada.set_demand(fleet.initial_replicas)

            async def all_released() -> bool:
                return (
                    rig.phase() == "Idle"
                    and await md_replicas(rig, second.machine_deployment) == (0, 0)
                    and await rig.h.clusters.machines() == []  # both pools, deleting ones included
                )

            await rig.until("back at base with no cloud node", all_released, 120)
            left = len(await rig.h.machines())
            figures.add(policy_edits=2, nodes_leaked=left)
            assert left == 0
            rig.assert_invariants()
            assert any(is_action(s) for s in rig.journal.seen if s.started > edited)
            no_traceback(d)

    asyncio.run(main())


def test_workload_removed_mid_burst_moves_back_in_steps(bed: Bed, tmp_path: Path) -> None:
    """Two workloads burst together; one is removed from the policy mid-burst. Its cloud replicas move back
    to the base by ``drain.maxStep`` per ``drain.interval`` (not in one jump, and not left on the cloud
    with nobody managing them) before burstd stops writing its weights; the other keeps bursting."""
    fleet = bed.fleet()
    other = replace(fleet, workload="api")

    async def main() -> None:
        async with chaos_rig(bed, fleet, tmp_path, workloads=[other]) as rig:
            await rig.h.karmada.set_demand(fleet.initial_replicas, other.workload)
            doc = policy_doc(fleet)
            ref = {"namespace": other.namespace, "name": other.workload}
            doc["spec"]["workloads"].append({"propagationPolicy": ref, "federatedHPA": ref})
            d = (await rig.daemon("burstd-a", dump(doc), settings=SETTINGS)).start()
            await rig.until("Idle", lambda: rig.phase() == "Idle")
            await rig.h.karmada.set_demand(burst_demand(fleet))
            await rig.h.karmada.set_demand(burst_demand(fleet), other.workload)

            async def cloud_replicas(workload: Fleet) -> int:
                rb = await rig.h.karmada_kube.get(RESOURCE_BINDINGS, workload.binding, workload.namespace)
                clusters = rb["spec"].get("clusters") or []
                return sum(int(c.get("replicas") or 0) for c in clusters if c["name"] == fleet.cloud_cluster)

            async def both_on_the_cloud() -> bool:
                return (
                    rig.phase() == "Bursting"
                    and min(await cloud_replicas(fleet), await cloud_replicas(other)) > 0
                )

            await rig.until("both workloads burst", both_on_the_cloud, 120)
            seen = [await cloud_replicas(other)]

            async def other_back_on_base() -> bool:
                now = await cloud_replicas(other)
                if now != seen[-1]:
                    seen.append(now)
                return now == 0

            edited = time.monotonic()
            without = copy.deepcopy(doc)
            del without["spec"]["workloads"][1]
            edit(d, without)
            await rig.until("the removed workload's replicas are back on the base", other_back_on_base, 120)
            writes = [
                s for s in rig.journal.seen
                if s.landed and s.resource == "propagationpolicies" and f"/{other.workload}" in s.path
                and s.started > edited
            ]  # fmt: skip
            assert len(writes) >= 2, (seen, len(writes))  # in steps, not one jump
            assert len(seen) >= 3, seen  # an intermediate split was scheduled on the way back
            assert await cloud_replicas(fleet) > 0  # the workload still managed keeps bursting

            await rig.h.karmada.set_demand(fleet.initial_replicas)
            await rig.h.karmada.set_demand(fleet.initial_replicas, other.workload)
            await rig.until("back at base with no cloud node", rig.back_at_base, 120)
            left = len(await rig.h.machines())
            figures.add(policy_edits=1, nodes_leaked=left)
            assert left == 0
            rig.assert_invariants()
            no_traceback(d)

    asyncio.run(main())
