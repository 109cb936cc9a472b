"""Two policies naming one target, added to a running ``burstd run``: the running policy keeps the target
and bursts; the added one is held (``TargetConflict``) with a Warning Event on each contested object, on
that object's own API server, and the process does not stop."""

from __future__ import annotations

from pathlib import Path

from .bed import Bed, BedHarness
from .burstd_process import BurstdProcess
from .fleet import policy_yaml
from .test_daemon import (
    assert_each_write_on_its_own_server,
    burst_demand,
    cloud_events,
    events,
    phase_is,
    run,
    until,
)


def test_a_policy_added_on_a_running_policys_targets_is_held_and_reported(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes
    copy = "aaa-copy"  # sorts before the running policy: being read first does not take its targets

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start()
        policy_file = proc.workdir / "policy.yaml"
        try:
            await until(h, "Idle", phase_is(h, "Idle"), proc)
            second = policy_yaml(fleet).replace(f"name: {fleet.policy_name}", f"name: {copy}", 1)
            assert second != policy_yaml(fleet)
            policy_file.write_text(second + "---\n" + policy_yaml(fleet))
            await until(
                h,
                "the copy is held",
                lambda: proc.metric("burstd_policy_held", policy=copy, reason="TargetConflict") == 1.0,
                proc,
                30,
            )
            assert proc.metric("burstd_policies_last_reload_successful") == 1.0
            assert proc.metric("burstd_policy_held", policy=fleet.policy_name, reason="TargetConflict") == 0.0
            log = proc.log()
            assert f"policy {copy} is held (TargetConflict): policy {copy} " in log
            assert f"which policy {fleet.policy_name} " in log

            # the running policy still bursts; the held one never acts
            await h.karmada.set_demand(burst_demand(fleet))
            await until(h, "a cloud node Ready", lambda: (h.recorder.md_ready.last or 0) >= 1, proc)
            assert proc.metric("burstd_evaluations_total", policy=copy) is None
            assert proc.running

            pp = [e for e in await events(planes.karmada, fleet.namespace) if e["reason"] == "PolicyConflict"]
            md = [e for e in await cloud_events(planes, fleet) if e["reason"] == "PolicyConflict"]
            assert [(e["type"], e["regarding"]["kind"], e["regarding"]["name"]) for e in pp] == [
                ("Warning", "PropagationPolicy", fleet.workload)
            ]
            assert [(e["type"], e["regarding"]["kind"], e["regarding"]["name"]) for e in md] == [
                ("Warning", "MachineDeployment", fleet.machine_deployment)
            ]
            for event in (*pp, *md):
                assert f"policy {copy} is held" in event["note"]
                assert f"policy {fleet.policy_name} " in event["note"]
            await assert_each_write_on_its_own_server(planes, fleet)
        finally:
            proc.close()

    run(bed, fleet, body)
