"""``burstd run`` end to end with exactly the RBAC the Helm chart grants, and nothing else.

The chart is rendered by real helm for a release in the fleet's burstd namespace, burstd reaching both API
servers through kubeconfig Secrets: ``templates/karmada-rbac.yaml`` is applied to the Karmada API server and
``templates/management-rbac.yaml`` to the management cluster's, both bound to the chart's ServiceAccount.
burstd then runs the whole burst lifecycle (scale-up, nodes Ready, replicas shifted, drain, release, Idle,
SIGTERM) as that ServiceAccount: each API server is reached through an ``ImpersonatingProxy`` that sends the
admin's requests on with ``Impersonate-User: system:serviceaccount:<ns>:<name>`` and the ServiceAccount's
groups, so every request is authorized by the chart's rules (and the defaults every authenticated user has,
which burstd must not rely on: check (a) below allows only the chart's rules).

Every request burstd sent is recorded as the RBAC authorizer sees it, and the test asserts:
(a) used is a subset of granted: each request is allowed by one of the chart's rules on its own server;
(b) granted is a subset of used plus ``NOT_EXERCISED``: every (verb, group, resource) the chart grants was
    sent in this run, or is listed below with the reason this run cannot send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from pathlib import Path

import pytest
from chart.helm import Helm, find_helm
from chart.test_rules_and_dashboard import find_promtool
from integration.controlplane import ControlPlaneError

from .bed import Bed, BedHarness, run_bed
from .burstd_process import BurstdProcess
from .chart_rbac import Grants, apply, render_chart_rbac
from .fleet import policy_yaml
from .impersonating_proxy import ImpersonatingProxy, Recorded
from .test_daemon import burst_demand, lease, phase_is, until

CAPI = "cluster.x-k8s.io"

#: What the chart grants that the whole lifecycle of one MachineDeployment pool in weights mode, with one
#: burstd process that takes a free Lease, cannot send (each is exercised by the test named).
NOT_EXERCISED: dict[tuple[str, str, str], str] = {
    # a MachinePool pool (test_capi_controllers.py); this fleet's pool is a MachineDeployment
    **{
        (verb, CAPI, resource): "only a MachinePool pool reads and scales a MachinePool"
        for verb, resource in [
            ("get", "machinepools"),
            ("list", "machinepools"),
            ("watch", "machinepools"),
            ("get", "machinepools/scale"),
            ("patch", "machinepools/scale"),
        ]
    },
    # overflow mode (test_daemon_overflow.py) asks Karmada to reschedule with a WorkloadRebalancer; this
    # policy divides replicas by static weights
    **{
        (verb, "apps.karmada.io", "workloadrebalancers"): "only overflow mode makes a WorkloadRebalancer"
        for verb in ("create", "get")
    },
}


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    failure = None
    try:
        tools = find_helm()
    except ControlPlaneError as exc:
        failure = str(exc)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    return Helm(tools.helm, tmp_path_factory.mktemp("helm-home"))


def _denied(requests: list[Recorded]) -> list[str]:
    return [f"{r.attributes} -> HTTP {r.status}" for r in requests if r.status in (401, 403)]


def test_whole_lifecycle_with_exactly_the_charts_rbac(bed: Bed, helm: Helm, tmp_path: Path) -> None:
    fleet = bed.fleet()
    planes = bed.planes
    rbac = render_chart_rbac(helm, release=fleet.burstd_namespace, namespace=fleet.burstd_namespace)
    grants = {
        "karmada": Grants.bound_to(rbac.karmada, rbac.service_account),
        "management": Grants.bound_to(rbac.management, rbac.service_account),
    }
    assert all(g.rules for g in grants.values()), "the chart binds no rule to its ServiceAccount"
    proxies = {
        side: ImpersonatingProxy(side, plane.server, plane.ca_file, rbac.service_account, rbac.groups)
        for side, plane in (("karmada", planes.karmada), ("management", planes.management))
    }

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            h = await stack.enter_async_context(run_bed(bed, fleet))
            await asyncio.to_thread(apply, planes.karmada, rbac.karmada)
            await asyncio.to_thread(apply, planes.management, rbac.management)  # Role in burstd's namespace
            for proxy in proxies.values():
                await proxy.start()
                stack.push_async_callback(proxy.stop)
            kubeconfigs = {
                side: proxy.kubeconfig(tmp_path / f"{side}-as-serviceaccount.kubeconfig", plane.token)
                for (side, proxy), plane in zip(proxies.items(), planes, strict=True)
            }
            settings = {side: {"kubeconfig": str(path)} for side, path in kubeconfigs.items()}
            proc = BurstdProcess(planes, fleet, tmp_path, policy_yaml(fleet), settings=settings)
            stack.callback(proc.close)
            await lifecycle(h, proc.start())

    asyncio.run(main())
    used_log = tmp_path / "requests.json"  # what burstd sent, for whoever reads a failure
    used_log.write_text(
        json.dumps(
            {side: [[str(r.attributes), r.status] for r in p.requests] for side, p in proxies.items()},
            indent=1,
        )
    )

    for side, proxy in proxies.items():
        assert proxy.requests, f"burstd sent nothing to the {side} API server"
        denied = _denied(proxy.requests)
        assert denied == [], f"denied on the {side} API server: {denied}"
        # (a) used is a subset of granted, each request against its own server's rules
        not_granted = sorted(
            {str(r.attributes) for r in proxy.requests if not grants[side].allows(r.attributes)}
        )
        assert not_granted == [], (
            f"sent to the {side} API server with no chart rule that allows it: {not_granted}"
        )

    # (b) granted is a subset of used plus what this run cannot exercise
    granted = {(side, *g) for side, grant in grants.items() for g in grant.granted()}
    used = {
        (side, r.attributes.verb, r.attributes.api_group, r.attributes.rbac_resource)
        for side, proxy in proxies.items()
        for r in proxy.requests
    }
    unused = sorted(g for g in granted - used if g[1:] not in NOT_EXERCISED)
    assert unused == [], (
        f"the chart grants what burstd never sent (narrow the chart or justify it here): {unused}"
    )
    stale = sorted(k for k in NOT_EXERCISED if not any(g[1:] == k for g in granted))
    assert stale == [], f"NOT_EXERCISED names what the chart does not grant: {stale}"
    exercised = sorted(k for k in NOT_EXERCISED if any(u[1:] == k for u in used))
    assert exercised == [], f"NOT_EXERCISED names what this run did send (drop it): {exercised}"


async def lifecycle(h: BedHarness, proc: BurstdProcess) -> None:
    """The whole burst, as ``test_daemon.test_whole_burst_lifecycle_then_sigterm`` drives it."""
    fleet = proc.fleet
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

    await h.karmada.set_demand(fleet.initial_replicas)
    await until(
        h,
        "back to Idle with no cloud node",
        lambda: phase_is(h, "Idle")() and h.recorder.md_replicas.last == 0 and h.recorder.md_ready.last == 0,
        proc,
        90,
    )
    phases = h.recorder.phase_history()
    assert phases[:2] == ["Idle", "Provisioning"], phases
    # Shifting is brief and sampled: the shift shows as replicas on the cloud cluster, waited for above
    assert {"Bursting", "Draining"} <= set(phases), phases
    assert phases[-1] == "Idle", phases
    assert (h.recorder.binding_clusters.last or {}).keys() == {fleet.base_cluster}

    # the live /metrics of a daemon after a whole burst passes promtool's lint (names, types, units)
    status, text = await proc.aget("/metrics")
    assert status == 200
    assert "burstd_cloud_cost_total" in text
    lint = await asyncio.to_thread(
        subprocess.run, [find_promtool(), "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert (lint.stdout + lint.stderr).strip() == "", "promtool check metrics found problems"

    code = await asyncio.to_thread(proc.terminate, 20.0)
    log = proc.log()
    assert code == 0, log[-3000:]
    held = await lease(proc.planes.management, fleet.burstd_namespace)
    assert held is not None
    assert not held["spec"].get("holderIdentity"), held  # the Lease released on SIGTERM
    for denied in ("forbidden", "cannot record event"):
        assert denied not in log.lower(), f"{denied!r} in burstd's log:\n{log[-3000:]}"
