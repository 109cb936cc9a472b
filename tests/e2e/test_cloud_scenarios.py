"""``burstd run`` asking the clouds before it scales: the daemon (a separate process, only deploy/'s RBAC) on
the real Karmada controllers and the management kube-apiserver, its cloud pools native node pools in a
strict fake Tencent Cloud or Alibaba Cloud that its providers reach through the REAL SDKs (signed requests,
documented reply and error shapes; ``tests/providers/fake_*.py``).

- a whole burst on a native TKE node pool and on a native ACK node pool, priced by the quote, then a
  leaked instance found after the release (metric, Event; not deleted: ``deleteOrphans`` is off);
- a stock-out on the first pool fails over to the second before any scale-up is sent;
- a throttling storm: the provider backs off, the action is retried by later rounds, and succeeds;
- bad credentials: a clear alert, nothing scaled, no secret in the log;
- a quote that would break ``maxHourlyCost`` blocks the scale-up.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from burstd.runtime.costreport import cents

from .bed import Bed, BedHarness, run_bed
from .burstd_process import BurstdProcess, grant_cost_report_rbac, grant_deploy_rbac
from .clouds import CloudUnderTest, alibaba_cloud, tencent_cloud
from .fleet import Fleet, policy_yaml
from .test_daemon import burst_demand, events, phase_is, rounds_pass, until

CLOUDS: dict[str, Callable[[], AbstractContextManager[CloudUnderTest]]] = {
    "tencentcloud": tencent_cloud,
    "alibabacloud": alibaba_cloud,
}
Body = Callable[[BedHarness, BurstdProcess, CloudUnderTest], Awaitable[None]]


def scenario(
    bed: Bed,
    tmp_path: Path,
    cloud_name: str,
    pools: list[tuple[str, float, bool]],
    body: Body,
    *,
    limits: dict[str, Any] | None = None,
    bad_credentials: bool = False,
) -> None:
    """Run ``body`` with a burstd process whose policy's pools are ``pools`` ((name, price, in stock),
    in preference order) on native node pools of ``cloud_name``'s fake cloud."""
    fleet = bed.fleet()
    with CLOUDS[cloud_name]() as cloud:
        docs = [cloud.add_pool(fleet, name, price=price, in_stock=stock) for name, price, stock in pools]

        async def members() -> list[dict[str, Any]]:
            return [m for name, _, _ in pools for m in cloud.members(name)]

        async def main() -> None:
            async with run_bed(bed, fleet, members=members) as h:
                await asyncio.to_thread(grant_deploy_rbac, bed.planes, fleet.burstd_namespace)
                settings = {
                    "cloud": {
                        "providers": {cloud.provider: cloud.settings()},
                        "quoteTTL": "2s",
                        "instancesInterval": "2s",
                        "orphanGracePeriod": "1s",
                        "callTimeout": "8s",
                    }
                }
                policy = policy_yaml(fleet, pools=docs, limits=limits)
                proc = BurstdProcess(bed.planes, fleet, tmp_path, policy, settings=settings)
                proc.extra_env.update(cloud.env(bad_credentials=bad_credentials))
                proc.start()
                try:
                    await body(h, proc, cloud)
                    log = proc.log()
                    for secret in cloud.secrets:
                        assert secret not in log, "a cloud credential reached burstd's log"
                finally:
                    proc.close()

        asyncio.run(main())


async def alert_events(h: BedHarness, fleet: Fleet, reason: str) -> list[dict[str, Any]]:
    """burstd's Events with ``reason`` about the fleet's Karmada objects (where a policy's alerts go)."""
    return [e for e in await events(h.planes.karmada, fleet.namespace) if e.get("reason") == reason]


def metric(proc: BurstdProcess, name: str, **labels: str) -> float:
    return proc.metric(name, **labels) or 0.0


# ------------------------------------------------------------------------------------------ lifecycle


@pytest.mark.parametrize("cloud_name", sorted(CLOUDS))
def test_whole_burst_on_a_native_node_pool_then_a_leak_is_found(
    bed: Bed, tmp_path: Path, cloud_name: str
) -> None:
    price = 3.25

    async def body(h: BedHarness, proc: BurstdProcess, cloud: CloudUnderTest) -> None:
        fleet = h.fleet
        policy = fleet.policy_name
        await until(h, "burstd evaluated the idle fleet", phase_is(h, "Idle"), proc)
        await _until_quoted(h, proc, "np-a", price)
        await h.karmada.set_demand(burst_demand(fleet))
        await until(h, "2 Ready members", lambda: sum(_ready(cloud.members("np-a"))) >= 2, proc)
        await until(
            h,
            "replicas on the cloud cluster",
            lambda: fleet.cloud_cluster in (h.recorder.binding_clusters.last or {}),
            proc,
        )
        await until(h, "phase Bursting", phase_is(h, "Bursting"), proc)
        peak = cloud.desired("np-a")

        await h.karmada.set_demand(fleet.initial_replicas)
        await until(
            h,
            "back to Idle with no member left",
            lambda: phase_is(h, "Idle")() and cloud.desired("np-a") == 0 and cloud.members("np-a") == [],
            proc,
            90,
        )
        assert cloud.alive("np-a") == [], "a released member still runs"
        assert (h.recorder.binding_clusters.last or {}).keys() == {fleet.base_cluster}
        phases = h.recorder.phase_history()
        assert phases[:2] == ["Idle", "Provisioning"], phases
        assert phases.count("Idle") == 2, phases
        h.assert_capacity_never_led()
        h.assert_division_as_modelled()
        assert 2 <= peak <= fleet.pool_max_nodes
        # a scale-up of the node pool's desired count, never a second one for the same burst
        scale_ups = cloud.scale_up_requests("np-a")
        assert 1 <= len(scale_ups) <= 3, scale_ups
        # accounted at the quoted price: the cost of node-seconds the ledger counted
        cost = metric(proc, "burstd_cloud_pool_cost_total", policy=policy, pool="np-a", currency="CNY")
        seconds = metric(proc, "burstd_cloud_node_seconds_total", policy=policy, pool="np-a")
        assert seconds > 0
        assert cost == pytest.approx(seconds / 3600 * price, rel=1e-9)
        assert (
            metric(
                proc, "burstd_cloud_orphaned_instances", policy=policy, pool="np-a", provider=cloud.provider
            )
            == 0
        )
        # finance's view: `burstd cost report` from the persisted ledger, with deploy/'s read-only Role
        await asyncio.to_thread(grant_cost_report_rbac, h.planes, fleet.burstd_namespace)
        done = await asyncio.to_thread(proc.command, "cost", "report", "--format", "json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        [row] = [r for r in report["pools"] if r["policy"] == policy and r["pool"] == "np-a"]
        assert row["currency"] == "CNY"
        assert row["cost"] == float(cents(cost)), (row, cost)
        assert row["nodeSeconds"] == pytest.approx(seconds, abs=1e-3)
        [burst] = [b for b in report["bursts"] if b["policy"] == policy]
        assert burst["end"] is not None

        # after the release: an instance tagged for the pool that no node-pool member stands behind
        leaked = cloud.leak("np-a")
        await until(
            h,
            "the leaked instance is reported",
            lambda: (
                metric(
                    proc,
                    "burstd_cloud_orphaned_instances",
                    policy=policy,
                    pool="np-a",
                    provider=cloud.provider,
                )
                == 1
            ),
            proc,
        )
        found = await _until_event(h, proc, fleet, "OrphanedInstance")
        assert any(leaked in e.get("note", "") for e in found), found
        assert found[0]["type"] == "Warning"
        assert leaked in cloud.alive("np-a"), "deleteOrphans is off: an orphan is reported, not deleted"

    scenario(bed, tmp_path, cloud_name, [("np-a", price, True)], body)


# ------------------------------------------------------------------------------------------ stock-out


@pytest.mark.parametrize("cloud_name", sorted(CLOUDS))
def test_a_stock_out_on_the_first_pool_fails_over_to_the_second_at_once(
    bed: Bed, tmp_path: Path, cloud_name: str
) -> None:
    async def body(h: BedHarness, proc: BurstdProcess, cloud: CloudUnderTest) -> None:
        fleet = h.fleet
        await until(h, "burstd evaluated the idle fleet", phase_is(h, "Idle"), proc)
        await until(
            h,
            "the first pool is quoted out of stock",
            lambda: proc.metric("burstd_cloud_quote_in_stock", policy=fleet.policy_name, pool="np-a") == 0,
            proc,
        )
        await h.karmada.set_demand(burst_demand(fleet))
        await until(h, "the second pool grows", lambda: cloud.desired("np-b") >= 2, proc)
        await until(h, "its members are Ready", lambda: sum(_ready(cloud.members("np-b"))) >= 2, proc)
        # the evaluation that started the burst already chose the second pool: the sold-out one was never
        # asked to scale (no failed launch, no provisioning timeout to wait out first)
        assert cloud.scale_up_requests("np-a") == []
        assert cloud.desired("np-a") == 0
        assert cloud.scale_up_requests("np-b")

    scenario(bed, tmp_path, cloud_name, [("np-a", 2.0, False), ("np-b", 2.5, True)], body)


# ------------------------------------------------------------------------------------------ throttling


def test_a_throttling_storm_backs_off_then_succeeds(bed: Bed, tmp_path: Path) -> None:
    storm = 8

    async def body(h: BedHarness, proc: BurstdProcess, cloud: CloudUnderTest) -> None:
        fleet = h.fleet
        await until(h, "burstd evaluated the idle fleet", phase_is(h, "Idle"), proc)
        cloud.throttle_scale_ups(storm)
        await h.karmada.set_demand(burst_demand(fleet))
        await until(h, "the pool grows despite the storm", lambda: cloud.desired("np-a") >= 2, proc, 90)
        arrivals = cloud.scale_up_requests("np-a")
        assert len(arrivals) == storm + 1, arrivals  # every throttled attempt, then the one that passed
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) >= 0.09, f"retries not spaced by the backoff: {gaps}"
        throttled = metric(
            proc, "burstd_cloud_provider_errors_total", provider=cloud.provider, reason="Throttled"
        )
        assert throttled >= 1
        await until(h, "its members are Ready", lambda: sum(_ready(cloud.members("np-a"))) >= 2, proc)

    scenario(bed, tmp_path, "alibabacloud", [("np-a", 2.0, True)], body)


# ------------------------------------------------------------------------------------------ credentials


@pytest.mark.parametrize("cloud_name", sorted(CLOUDS))
def test_bad_credentials_raise_a_clear_alert_and_nothing_is_scaled(
    bed: Bed, tmp_path: Path, cloud_name: str
) -> None:
    async def body(h: BedHarness, proc: BurstdProcess, cloud: CloudUnderTest) -> None:
        fleet = h.fleet
        await h.karmada.set_demand(burst_demand(fleet))
        await until(
            h,
            "the credential failure is counted",
            lambda: (
                metric(
                    proc, "burstd_cloud_provider_errors_total", provider=cloud.provider, reason="AuthFailed"
                )
                >= 1
            ),
            proc,
        )
        found = await _until_event(h, proc, fleet, "CloudAuthFailed")
        assert found[0]["type"] == "Warning"
        assert "credentials" in found[0]["note"]
        await rounds_of_the_loop_pass(h, proc, 3)  # the policy is held: it is not evaluated
        assert cloud.desired("np-a") == 0
        assert cloud.scale_up_requests("np-a") == []
        assert "AuthFailed" in proc.log()

    scenario(bed, tmp_path, cloud_name, [("np-a", 2.0, True)], body, bad_credentials=True)


# ------------------------------------------------------------------------------------------ budget


def test_a_quote_that_would_break_max_hourly_cost_blocks_the_scale_up(bed: Bed, tmp_path: Path) -> None:
    async def body(h: BedHarness, proc: BurstdProcess, cloud: CloudUnderTest) -> None:
        fleet = h.fleet
        await until(h, "burstd evaluated the idle fleet", phase_is(h, "Idle"), proc)
        await _until_quoted(h, proc, "np-a", 50.0)
        await h.karmada.set_demand(burst_demand(fleet))
        found = await _until_event(h, proc, fleet, "LimitReached")
        assert "max hourly cost" in found[0]["note"], found[0]["note"]
        await rounds_pass(h, proc, 3)
        assert cloud.desired("np-a") == 0
        assert cloud.scale_up_requests("np-a") == []

    limits = {"maxCloudNodes": 10, "maxHourlyCost": {"amount": 40, "currency": "CNY"}}
    scenario(bed, tmp_path, "tencentcloud", [("np-a", 50.0, True)], body, limits=limits)


# ------------------------------------------------------------------------------------------ helpers


def _ready(members: list[dict[str, Any]]) -> Iterator[bool]:
    for m in members:
        yield any(c.get("type") == "Ready" and c.get("status") == "True" for c in m["status"]["conditions"])


async def rounds_of_the_loop_pass(h: BedHarness, proc: BurstdProcess, n: int) -> None:
    """Wait until the daemon's loop completed ``n`` more rounds (``burstd_rounds_total``, counted whether
    or not a held policy is evaluated)."""
    start = metric(proc, "burstd_rounds_total")
    await until(h, f"{n} more rounds", lambda: metric(proc, "burstd_rounds_total") >= start + n, proc)


async def _until_quoted(h: BedHarness, proc: BurstdProcess, pool: str, price: float) -> None:
    """Wait until burstd exports the pool's quoted price (in CNY)."""
    policy = proc.fleet.policy_name
    await until(
        h,
        f"pool {pool} quoted at {price:g} CNY",
        lambda: (
            metric(proc, "burstd_cloud_quote_price_per_node_hour", policy=policy, pool=pool, currency="CNY")
            == price
        ),
        proc,
    )


async def _until_event(h: BedHarness, proc: BurstdProcess, fleet: Fleet, reason: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def seen() -> bool:
        found[:] = await alert_events(h, fleet, reason)
        return bool(found)

    await until(h, f"a {reason} Event", seen, proc)
    return found
