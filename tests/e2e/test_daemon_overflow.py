"""``burstd run`` in overflow mode (``spec.shift.mode: overflow``) on the real test bed: Karmada's own
overflow affinities spill replicas onto the cloud once the real Cluster API controllers' Machines are Ready,
and burstd moves them back with a WorkloadRebalancer before it removes the cloud nodes.

The PropagationPolicy is the one ``policies/karmada-overflow.yaml`` asks for (the base in a
``clusterAffinities`` term, the cloud in its ``overflowAffinities``, ``dynamicWeight: AvailableReplicas``);
burstd writes no weights. What the real scheduler does here is what ``test_karmada_overflow.py`` measures
on its own: all or nothing (the replicas stay where they were until every one fits), and no reschedule when
only a cluster's room changes, which is why the drain needs burstd's WorkloadRebalancer.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from ruamel.yaml import YAML

from burstd.kube.resources import WORKLOAD_REBALANCERS

from .bed import Bed, BedHarness
from .burstd_process import BurstdProcess
from .fleet import Fleet, policy_doc
from .test_daemon import burst_demand, events, phase_is, run, until
from .test_karmada_overflow import overflow_placement


def overflow_policy_yaml(fleet: Fleet) -> str:
    """``policy_doc(fleet)`` in overflow mode."""
    doc = policy_doc(fleet)
    doc["spec"]["shift"] = {"mode": "overflow", "interval": "1s"}
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def test_overflow_burst_spills_onto_ready_nodes_and_a_rebalancer_drains_it(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes
    base, cloud = fleet.base_cluster, fleet.cloud_cluster
    demand = burst_demand(fleet)  # the base's 32 and 28 more: two cloud nodes' worth
    started = time.monotonic()

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, overflow_policy_yaml(fleet)).start()
        try:
            await until(h, "burstd evaluated the idle fleet", phase_is(h, "Idle"), proc)
            await h.karmada.set_demand(demand)
            await until(
                h,
                "Karmada spilled replicas onto the cloud",
                lambda: cloud in (h.recorder.binding_clusters.last or {}),
                proc,
                120,
            )
            await until(h, "phase Bursting", phase_is(h, "Bursting"), proc, 60)
            # all or nothing: the binding kept its initial replicas while the cloud could not hold the rest,
            # then took all of them at once; the cloud got only what the base could not hold
            assert h.recorder.binding_clusters.values == [
                {base: fleet.initial_replicas},
                {base: fleet.base_capacity, cloud: demand - fleet.base_capacity},
            ]
            first_cloud = next(s for s in h.recorder.binding_clusters.samples if cloud in s.value)
            ready_enough = next(
                s
                for s in h.recorder.md_ready.samples
                if (s.value or 0) * fleet.replicas_per_node >= demand - fleet.base_capacity
            )
            assert ready_enough.at <= first_cloud.at
            nodes = h.recorder.md_replicas.last or 0
            assert nodes >= 2

            # The base gets room for every replica (three more nodes). Karmada does not reschedule for that;
            # burstd drains: a WorkloadRebalancer moves the replicas back, then the cloud nodes go.
            h.clusters.base_nodes = fleet.base_nodes + 3
            await until(
                h,
                "every replica back on the base",
                lambda: h.recorder.binding_clusters.last == {base: demand},
                proc,
                90,
            )
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

            listed = await h.karmada_kube.list(
                WORKLOAD_REBALANCERS, label_selector=f"burstd.io/policy={fleet.policy_name}"
            )
            assert listed.items, "burstd created no WorkloadRebalancer"
            results = [
                (w["workload"]["name"], w.get("result"))
                for wr in listed.items
                for w in (wr.get("status") or {}).get("observedWorkloads") or []
            ]
            assert ("web", "Successful") in results, results
            reasons = {e["reason"] for e in await events(planes.karmada, fleet.namespace)}
            assert "RebalanceRequested" in reasons, reasons
            assert "WeightsSet" not in reasons, reasons  # overflow mode writes no weights

            # the replicas left the cloud before any cloud Machine was marked or went
            back = next(
                s
                for s in h.recorder.binding_clusters.samples
                if s.at > first_cloud.at and cloud not in s.value
            )
            ledger = h.recorder.machine_ledger
            assert ledger.created == nodes
            first_touched = min([*ledger.marked.values(), *ledger.gone.values()])
            assert back.at <= first_touched
            h.assert_capacity_never_led()
            phases = h.recorder.phase_history()
            assert phases[:2] == ["Idle", "Provisioning"], phases
            assert phases.count("Idle") == 2, phases
            assert {"Bursting", "Draining", "Releasing"} <= set(phases), phases
            assert "cannot record event" not in proc.log()
        finally:
            proc.close()

    run(bed, fleet, body, placement=overflow_placement(base, cloud))
    print(f"\nburstd overflow e2e: whole burst and drain in {time.monotonic() - started:.1f} s")
