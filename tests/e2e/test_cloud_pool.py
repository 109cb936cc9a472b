"""The cloud pool as the real Cluster API controllers run it: the Machines burstd marks with
``cluster.x-k8s.io/delete-machine`` are exactly the ones the real MachineSet removes on a scale-down, and a
MachineDeployment managed by Cluster Autoscaler is refused, never scaled."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from .bed import Bed, BedHarness
from .burstd_process import BurstdProcess
from .fleet import policy_yaml
from .test_daemon import burst_demand, cloud_events, phase_is, rounds_pass, run, until

CA_MIN = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size"
CA_MAX = "cluster.x-k8s.io/cluster-api-autoscaler-node-group-max-size"
MARKED = re.compile(r"mark for deletion in [^:]+: (.+?) \(")


def marked_in_events(events: list[dict[str, object]]) -> set[str]:
    """Machine names burstd reported in its ``MachinesMarkedForDeletion`` Events."""
    names: set[str] = set()
    for e in events:
        if e.get("reason") == "MachinesMarkedForDeletion":
            found = MARKED.search(str(e.get("note") or ""))
            assert found, e
            names.update(found.group(1).split(", "))
    return names


def test_the_machines_burstd_marks_are_the_ones_the_machineset_removes(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes
    per_node = fleet.replicas_per_node

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start()
        policy_file = proc.workdir / "policy.yaml"
        try:
            await until(h, "Idle", phase_is(h, "Idle"), proc)
            await h.karmada.set_demand(fleet.base_capacity + 3 * per_node - 4)
            await until(
                h, "3 or more cloud nodes Ready", lambda: (h.recorder.md_ready.last or 0) >= 3, proc, 90
            )
            await until(h, "phase Bursting", phase_is(h, "Bursting"), proc, 60)
            peak = h.recorder.md_replicas.last or 0

            # the pool may now hold one node: burstd drains replicas off the others, marks those Machines
            # and scales the MachineDeployment down; the real MachineSet picks its victims
            policy_file.write_text(policy_yaml(dataclasses.replace(fleet, pool_max_nodes=1)))
            await until(
                h,
                "the pool shrank to one node and the others went",
                lambda: h.recorder.md_replicas.last == 1 and len(h.recorder.machine_ledger.gone) >= peak - 1,
                proc,
                120,
            )
            await rounds_pass(h, proc, 2)
            ledger = h.recorder.machine_ledger
            removed = ledger.removed_while_others_stayed()
            reported = marked_in_events(await cloud_events(planes, fleet))
            assert removed, ledger
            assert set(ledger.marked) == removed, (ledger.marked, removed)
            assert reported == removed, (reported, removed)
            # every one was marked before it went
            assert all(ledger.marked[m] <= ledger.gone[m] for m in removed)
            h.assert_capacity_never_led()
            h.assert_division_as_modelled()
        finally:
            proc.close()

    run(bed, fleet, body)


def test_a_cluster_autoscaler_machinedeployment_is_refused(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start()
        try:
            await h.karmada.set_demand(burst_demand(fleet))
            await until(
                h,
                "the policy held for its target",
                lambda: (
                    proc.metric("burstd_policy_held", policy=fleet.policy_name, reason="RefusedTarget") == 1.0
                ),
                proc,
                60,
            )
            # the burst is wanted, and the refusal stands round after round (burstd's own round counter)
            rounds = proc.metric("burstd_rounds_total") or 0
            await until(
                h, "3 more rounds", lambda: (proc.metric("burstd_rounds_total") or 0) >= rounds + 3, proc
            )
            assert proc.metric("burstd_policy_held", policy=fleet.policy_name, reason="RefusedTarget") == 1.0
            log = proc.log()
            what = (
                f"MachineDeployment {fleet.capi_namespace}/{fleet.machine_deployment} is managed by Cluster"
            )
            assert what in log
            assert CA_MIN in log
            assert "remove both annotations" in log
            assert log.count("is held until its targets can be managed") == 1  # said once, not every round
            assert proc.metric("burstd_evaluations_total", policy=fleet.policy_name) is None
            assert h.recorder.md_replicas.values == [0]
            assert h.recorder.machine_ledger.created == 0
            assert fleet.cloud_cluster not in (h.recorder.binding_clusters.last or {})
        finally:
            proc.close()

    run(bed, fleet, body, md_annotations={CA_MIN: "0", CA_MAX: "5"})
