"""The daemon's round with the cloud providers wired in (``Daemon.cloud``, a CloudView over the scriptable
FakeProvider): quotes reach the engine before it scales, bad credentials scale nothing and raise an alert,
orphans raise an alert (and are terminated only when asked), and a provider that cannot be created stops
``burstd run`` before it connects anywhere."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import pytest
from burstd_provider_fake import FakeProvider

from burstd.model.actions import Alert, ScalePool, Severity
from burstd.model.state import BurstState
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.cloud import CloudView
from burstd.runtime.daemon import Daemon, StartupError
from burstd.runtime.observe import Snapshot
from burstd.runtime.settings import CloudSettings, load_settings
from burstd.runtime.store import Stored

from .fakes import MD_KEY, POOL, T0, FakeActuator, FakeStore, caches, install, machine, policy, snapshot

WEB = "web-burst"
SECRET = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"


def provider_priced() -> BurstPolicy:
    doc = policy(WEB).model_dump(by_alias=True, mode="json", exclude_none=True)
    doc["spec"]["burst"]["pools"][0]["price"] = {"source": "provider", "currency": "CNY"}
    doc["spec"]["limits"]["maxHourlyCost"] = {"amount": 10, "currency": "CNY"}
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


def daemon(cloud: FakeProvider | None, **cloud_settings: Any) -> tuple[Daemon, FakeActuator]:
    d = Daemon(load_settings(None), [provider_priced()])
    if cloud is not None:
        d.cloud = CloudView(
            CloudSettings.model_validate(cloud_settings), {"tencent": cloud}, metrics=d.metrics
        )
    actuator, store = FakeActuator(), FakeStore()
    store.stored[WEB] = Stored(BurstState(), "1")
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    asyncio.run(d._load(d.policies[0], store))  # type: ignore[arg-type]
    return d, actuator


def round_(d: Daemon, snap: Snapshot, now: float) -> None:
    asyncio.run(d._round(caches(snap), {}, now))


def scale_ups(actuator: FakeActuator) -> list[tuple[str, int, int]]:
    return [(a.pool, a.previous, a.nodes) for a in actuator.actions(WEB) if isinstance(a, ScalePool)]


def alerts(actuator: FakeActuator) -> dict[str, Alert]:
    return {a.code: a for a in actuator.actions(WEB) if isinstance(a, Alert)}


def fake(**pool: Any) -> FakeProvider:
    return FakeProvider({"pools": {POOL: {"price": 2.5, **pool}}}, start=T0)


def test_the_quoted_price_lets_a_provider_priced_pool_grow() -> None:
    cloud = fake()
    d, actuator = daemon(cloud)
    round_(d, snapshot(desired=40), T0 + 1)
    assert scale_ups(actuator) == [(POOL, 0, 1)]
    assert [c.call for c in cloud.calls][:1] == ["quote"]  # asked before the decision
    seen = d.runners[WEB].seen
    assert seen is not None
    assert seen.pools[POOL].price_per_node_hour == 2.5


def test_without_a_provider_the_provider_priced_pool_does_not_grow() -> None:
    d, actuator = daemon(None)
    d.cloud = CloudView(CloudSettings(), {})
    round_(d, snapshot(desired=40), T0 + 1)
    assert scale_ups(actuator) == []


def test_a_quote_above_max_hourly_cost_blocks_the_scale_up() -> None:
    d, actuator = daemon(fake(price=12.0))  # the limit is 10 CNY an hour
    round_(d, snapshot(desired=40), T0 + 1)
    assert scale_ups(actuator) == []
    assert "LimitReached" in alerts(actuator)


def test_bad_credentials_scale_nothing_and_raise_a_critical_alert(caplog: pytest.LogCaptureFixture) -> None:
    cloud = fake()
    cloud.inject(None, "AuthFailed", times="always", message=f"SecretId {SECRET} not found")
    d, actuator = daemon(cloud)
    with caplog.at_level(logging.DEBUG):
        for i in range(3):
            round_(d, snapshot(desired=40), T0 + 1 + i)
    assert scale_ups(actuator) == []
    alert = alerts(actuator)["CloudAuthFailed"]
    assert alert.severity is Severity.CRITICAL
    assert "pool tke-gz6 (tencent)" in alert.reason
    raised = [a for a in actuator.actions(WEB) if isinstance(a, Alert) and a.code == "CloudAuthFailed"]
    assert len(raised) == 1  # once, kept raised
    assert "CloudAuthFailed" in d.runners[WEB].state.alerts
    text = caplog.text + repr(actuator.applied) + repr(d.runners[WEB].state)
    assert SECRET not in text
    assert "<redacted>" in alert.reason


def test_an_orphan_raises_an_alert_naming_it_and_is_kept_without_delete_orphans() -> None:
    cloud = fake()
    behind = cloud.add_instance(POOL, created_at=T0 - 3600)
    leaked = cloud.add_instance(POOL, created_at=T0 - 3600)
    m = replace(machine(0), provider_id=f"tencentcloud:///ap-guangzhou-6/{behind}")
    snap = replace(snapshot(desired=20, nodes=0), machines={m.key: m})
    d, actuator = daemon(cloud, orphanGracePeriod="10s")  # within the policy's signalMaxAge (30s)
    round_(d, snap, T0 + 1)
    assert "OrphanedInstance" not in alerts(actuator)
    round_(d, snap, T0 + 11)
    alert = alerts(actuator)["OrphanedInstance"]
    assert leaked in alert.reason
    assert behind not in alert.reason
    assert leaked in cloud.alive_ids(POOL)


def test_delete_orphans_terminates_them() -> None:
    cloud = fake()
    leaked = cloud.add_instance(POOL, created_at=T0 - 3600)
    snap = snapshot(desired=20, nodes=0)
    assert MD_KEY in snap.scalables
    d, _ = daemon(cloud, orphanGracePeriod="10s", deleteOrphans=True)
    round_(d, snap, T0 + 1)
    assert leaked in cloud.alive_ids(POOL)
    round_(d, snap, T0 + 11)
    assert leaked not in cloud.alive_ids(POOL)


def test_a_provider_that_cannot_be_created_stops_run_before_connecting() -> None:
    settings = load_settings(None, cloud={"providers": {"nosuch": {"secretKey": SECRET}}})
    d = Daemon(settings, [policy(WEB)])
    with pytest.raises(StartupError) as caught:
        asyncio.run(d.run())
    assert "settings cloud.providers.nosuch: unknown cloud provider 'nosuch'" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert d.caches is None  # nothing was started
