"""Editing the policy files of a running ``burstd run``: a broken edit changes nothing and says where it is
broken; a valid edit takes effect without a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .bed import Bed, BedHarness
from .burstd_process import BurstdProcess
from .fleet import policy_yaml
from .test_daemon import burst_demand, phase_is, rounds_pass, run, until


def test_policy_edits_are_reloaded_and_a_broken_one_is_refused(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes

    async def body(h: BedHarness) -> None:
        proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet)).start()
        policy_file = proc.workdir / "policy.yaml"
        assert policy_file.read_text() == policy_yaml(fleet)
        try:
            await until(h, "Idle", phase_is(h, "Idle"), proc)
            assert proc.metric("burstd_policies_last_reload_successful") == 1.0

            policy_file.write_text(policy_yaml(fleet).replace("headroom:", "headroom: [", 1))
            await until(
                h,
                "the broken edit is reported",
                lambda: proc.metric("burstd_policies_last_reload_successful") == 0.0,
                proc,
                20,
            )
            assert f"{policy_file}:" in proc.log()
            assert "the running policies stay as they are" in proc.log()
            assert proc.running

            # a valid edit: the pool may now hold one node only
            policy_file.write_text(policy_yaml(dataclasses.replace(fleet, pool_max_nodes=1)))
            await until(
                h,
                "the valid edit is loaded",
                lambda: proc.metric("burstd_policies_last_reload_successful") == 1.0,
                proc,
                20,
            )
            assert f"policies reloaded: {fleet.policy_name}" in proc.log()
            await h.karmada.set_demand(burst_demand(fleet))  # would need 2 nodes under the old policy
            await until(h, "one cloud node Ready", lambda: (h.recorder.md_ready.last or 0) >= 1, proc)
            await rounds_pass(h, proc, 3)
            assert max(v or 0 for v in h.recorder.md_replicas.values) == 1
        finally:
            proc.close()

    run(bed, fleet, body)
