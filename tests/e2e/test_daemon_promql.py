"""A burst triggered by a PromQL signal: ``burstd run`` queries a REAL Prometheus scraping an exporter the
test serves on loopback, while the Karmada-side signals say the base has room."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from integration.prometheus_server import Exporter, PrometheusSetupError, start_prometheus

from .bed import Bed, BedHarness
from .burstd_process import BurstdProcess
from .fleet import policy_yaml
from .test_daemon import assert_each_write_on_its_own_server, phase_is, rounds_pass, run, until

QUERY = "max(burstd_e2e_queue_depth)"


def test_a_promql_signal_starts_and_ends_a_burst(bed: Bed, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes
    exporter = Exporter({'burstd_e2e_queue_depth{queue="orders"}': 0})
    with contextlib.ExitStack() as stack:
        stack.callback(exporter.stop)
        failure = None
        try:
            prom = stack.enter_context(start_prometheus({"exporter": f"127.0.0.1:{exporter.port}"}))
        except PrometheusSetupError as exc:
            failure = str(exc)
        if failure is not None:  # an ERROR with the reason, never a skip
            pytest.fail(failure, pytrace=False)
        policy = policy_yaml(
            fleet,
            scale_out=[{"promql": QUERY, "above": 100, "for": "1s"}],
            scale_in=[{"promql": QUERY, "below": 10, "for": "2s"}],
        )

        async def body(h: BedHarness) -> None:
            proc = BurstdProcess(
                planes, fleet, tmp_path, policy, settings={"prometheus": {"url": prom.url}}
            ).start()
            try:
                await until(h, "Idle", phase_is(h, "Idle"), proc)
                await rounds_pass(h, proc, 3)  # the queue is short: nothing happens
                assert h.recorder.md_replicas.values == [0]

                exporter.set('burstd_e2e_queue_depth{queue="orders"}', 500)
                await until(
                    h,
                    "a cloud node for the PromQL trigger",
                    lambda: (h.recorder.md_replicas.last or 0) >= 1,
                    proc,
                )
                exporter.set('burstd_e2e_queue_depth{queue="orders"}', 0)
                await until(
                    h,
                    "back to Idle with no cloud node",
                    lambda: phase_is(h, "Idle")() and h.recorder.md_replicas.last == 0,
                    proc,
                    90,
                )
                assert "Provisioning" in h.recorder.phase_history()
                await assert_each_write_on_its_own_server(planes, fleet)
            finally:
                proc.close()

        run(bed, fleet, body)
