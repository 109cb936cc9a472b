"""CloudView against the scriptable FakeProvider with an injected clock: quotes cached for quoteTTL, the last
good quote kept through errors until it expires, throttling honoured, every call bounded, instances listed
on their interval and after a release, orphans found past their grace (and terminated only when asked),
metrics, and no secret anywhere."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from burstd_provider_fake import FakeProvider
from prometheus_client import generate_latest

from burstd.cloud.provider import Instance, InvalidRequest, NodePool, ProviderError, Quote, Unavailable
from burstd.cloud.registry import ProviderLoadError
from burstd.engine.quotes import cloud_key
from burstd.kube.objects import ScalableInfo
from burstd.model.cloud import InstanceState
from burstd.policy.spec import BurstPolicy, PoolSpec, parse_document
from burstd.runtime.cloud import CloudConfigError, CloudView
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot, build_world
from burstd.runtime.settings import CloudSettings

from .fakes import MD_KEY, POOL, T0, machine, policy, snapshot

KEY = cloud_key("web-burst", POOL)
SECRET = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def provider_priced(p: BurstPolicy | None = None, **pool: Any) -> BurstPolicy:
    doc = (p or policy()).model_dump(by_alias=True, mode="json", exclude_none=True)
    doc["spec"]["burst"]["pools"][0]["price"] = {"source": "provider", "currency": "CNY"}
    doc["spec"]["burst"]["pools"][0].update(pool)
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


def view(
    fake: FakeProvider, metrics: Metrics | None = None, name: str = "tencent", **settings: Any
) -> CloudView:
    return CloudView(CloudSettings.model_validate(settings), {name: fake}, metrics=metrics)


def fake(clock: Clock, **pool: Any) -> FakeProvider:
    return FakeProvider({"pools": {POOL: {"price": 2.5, "quota": 7, **pool}}}, clock=clock)


def refresh(v: CloudView, snap: Snapshot, now: float, policies: Sequence[BurstPolicy] = ()) -> Any:
    return asyncio.run(v.refresh(list(policies) or [policy()], now, snap))


# --- quotes ------------------------------------------------------------------------------------------


def test_a_quote_is_cached_and_asked_again_halfway_through_its_ttl() -> None:
    clock = Clock()
    cloud = fake(clock)
    v = view(cloud, quoteTTL="60s")
    got = refresh(v, snapshot(nodes=2), clock.now)
    assert got.quotes[KEY].quote == Quote(True, 7, 2.5, "CNY")
    assert got.quotes[KEY].quoted_at == clock.now
    assert [c.nodes for c in cloud.calls_of("quote")] == [8]  # max 10, 2 asked for: room for 8 more
    clock.now += 29
    assert refresh(v, snapshot(nodes=2), clock.now).quotes[KEY].quote is not None
    assert len(cloud.calls_of("quote")) == 1  # young: not asked
    clock.now += 1
    cloud.set_pool(POOL, price=3.0)
    assert refresh(v, snapshot(nodes=2), clock.now).quotes[KEY].quote == Quote(True, 7, 3.0, "CNY")
    assert len(cloud.calls_of("quote")) == 2


def test_the_last_good_quote_is_kept_through_errors_until_it_expires() -> None:
    clock = Clock()
    cloud = fake(clock)
    v = view(cloud, quoteTTL="60s")
    refresh(v, snapshot(), clock.now)
    cloud.inject("quote", "Unavailable", times="always")
    clock.now += 30
    kept = refresh(v, snapshot(), clock.now).quotes[KEY]
    # an error makes the view ask again every round, but the fresh quote still stands
    assert kept.quote == Quote(True, 7, 2.5, "CNY")
    assert kept.error_reason == "Unavailable"
    state = build_world(provider_priced(), replace(snapshot(), quotes={KEY: kept})).pools[POOL]
    assert state.unavailable is None
    assert state.price_per_node_hour == 2.5
    clock.now += 30  # the quote is 60s old now: expired
    gone = refresh(v, snapshot(), clock.now).quotes[KEY]
    assert gone.quote is None
    state = build_world(provider_priced(), replace(snapshot(), quotes={KEY: gone})).pools[POOL]
    assert state.unavailable_reason == "Unavailable"
    assert state.price_per_node_hour is None
    assert len(cloud.calls_of("quote")) == 3


def test_a_throttled_quote_is_not_asked_again_before_its_retry_after() -> None:
    clock = Clock()
    cloud = fake(clock)
    cloud.inject("quote", "Throttled", retry_after=20.0)
    v = view(cloud)
    assert refresh(v, snapshot(), clock.now).quotes[KEY].error_reason == "Throttled"
    clock.now += 19
    refresh(v, snapshot(), clock.now)
    assert len(cloud.calls_of("quote")) == 1
    clock.now += 1
    assert refresh(v, snapshot(), clock.now).quotes[KEY].quote == Quote(True, 7, 2.5, "CNY")
    assert len(cloud.calls_of("quote")) == 2


def test_errors_are_counted_and_logged_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    cloud = fake(clock)
    cloud.inject("quote", "AuthFailed", times="always", message=f"SecretId {SECRET} not found")
    metrics = Metrics()
    v = view(cloud, metrics)
    with caplog.at_level(logging.INFO, logger="burstd.runtime.cloud"):
        for _ in range(3):
            got = refresh(v, snapshot(), clock.now)
            clock.now += 10
    assert got.quotes[KEY].error_reason == "AuthFailed"
    sample = metrics.registry.get_sample_value(
        "burstd_cloud_provider_errors_total", {"provider": "tencent", "reason": "AuthFailed"}
    )
    assert sample == 3.0
    failures = [r for r in caplog.records if "quote for pool tke-gz6 failed" in r.getMessage()]
    assert len(failures) == 1
    everything = caplog.text + generate_latest(metrics.registry).decode() + str(got)
    assert SECRET not in everything
    world = build_world(provider_priced(), replace(snapshot(), quotes=got.quotes))
    assert world.pools[POOL].unavailable_reason == "AuthFailed"
    assert SECRET not in str(world)


class Slow:
    """A provider whose calls never answer (until the test lets them)."""

    name: ClassVar[str] = "slow"

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        await self.release.wait()
        return Quote(True, 1, 1.0, "CNY")

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        await self.release.wait()
        return []

    async def terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        await self.release.wait()

    def classify(self, error: Exception) -> ProviderError:
        return Unavailable(str(error))

    async def aclose(self) -> None:
        return None


def test_a_cloud_that_does_not_answer_costs_one_call_timeout_per_round() -> None:
    slow = Slow()
    v = CloudView(CloudSettings(), {"tencent": slow}, call_timeout=0.05)

    async def go() -> Any:
        return await asyncio.wait_for(v.refresh([policy()], T0, snapshot()), 5.0)

    got = asyncio.run(go())
    assert got.quotes[KEY].error_reason == "Unavailable"
    assert "no answer within cloud.callTimeout (0.05s)" in (got.quotes[KEY].error or "")


class Raising(Slow):
    """A provider whose SDK raised something its own code did not classify."""

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        raise KeyError("Response")

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        return []

    def classify(self, error: Exception) -> ProviderError:
        return InvalidRequest(f"bad answer: {error}")


def test_an_unclassified_error_is_classified_by_the_provider() -> None:
    v = CloudView(CloudSettings(), {"tencent": Raising()})
    got = asyncio.run(v.refresh([policy()], T0, snapshot())).quotes[KEY]
    assert got.error_reason == "InvalidRequest"
    assert "bad answer" in (got.error or "")


def test_pools_of_providers_not_configured_are_not_asked(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    cloud = fake(clock)
    v = view(cloud, name="alibaba")
    with caplog.at_level(logging.WARNING, logger="burstd.runtime.cloud"):
        got = refresh(v, snapshot(), clock.now, [provider_priced()])
        refresh(v, snapshot(), clock.now, [provider_priced()])
    assert got.quotes == {}
    assert cloud.calls == []
    warned = [r for r in caplog.records if "not configured" in r.getMessage()]
    assert len(warned) == 1  # once, not every round
    assert "pool tke-gz6 is priced by cloud provider tencent" in warned[0].getMessage()


def test_create_names_the_provider_and_never_its_configuration() -> None:
    settings = CloudSettings.model_validate({"providers": {"tencent": {"secretKey": SECRET}}})

    def factory(name: str, **config: Any) -> Any:
        assert config == {"secret_key": SECRET}  # camelCase keys become snake_case keyword arguments
        raise ProviderLoadError(f"cloud provider {name!r} rejected its configuration: bad")

    with pytest.raises(CloudConfigError) as caught:
        CloudView.create(settings, factory=factory)
    assert str(caught.value) == (
        "settings cloud.providers.tencent: cloud provider 'tencent' rejected its configuration: bad"
    )
    assert SECRET not in repr(settings)


def test_create_makes_the_configured_providers_through_the_registry() -> None:
    settings = CloudSettings.model_validate({"providers": {"fake": {"script": {"pools": {POOL: {}}}}}})
    v = CloudView.create(settings, call_timeout=3.0)
    assert isinstance(v.providers["fake"], FakeProvider)
    assert v.call_timeout == 3.0
    asyncio.run(v.aclose())
    provider = v.providers["fake"]
    assert isinstance(provider, FakeProvider)
    assert provider.closed == 1


# --- instances and orphans ------------------------------------------------------------------------


def with_provider_ids(snap: Snapshot, ids: Sequence[str]) -> Snapshot:
    machines = {}
    for i, instance_id in enumerate(ids):
        m = replace(machine(i), provider_id=f"tencentcloud:///ap-guangzhou-6/{instance_id}")
        machines[m.key] = m
    scalable = snap.scalables[MD_KEY]
    assert isinstance(scalable, ScalableInfo)
    scalables = {MD_KEY: replace(scalable, replicas=len(ids), status_replicas=len(ids))}
    return replace(snap, machines=machines, scalables=scalables)


def test_instances_are_listed_on_their_interval_and_right_after_a_release() -> None:
    clock = Clock()
    cloud = fake(clock)
    v = view(cloud, instancesInterval="5m")
    refresh(v, snapshot(nodes=3), clock.now)
    clock.now += 60
    refresh(v, snapshot(nodes=3), clock.now)
    assert len(cloud.calls_of("instances")) == 1
    clock.now += 10
    refresh(v, snapshot(nodes=1), clock.now)  # the pool shrank: its instances are checked at once
    assert len(cloud.calls_of("instances")) == 2
    clock.now += 299
    refresh(v, snapshot(nodes=1), clock.now)
    assert len(cloud.calls_of("instances")) == 2
    clock.now += 1
    refresh(v, snapshot(nodes=1), clock.now)
    assert len(cloud.calls_of("instances")) == 3


def test_an_instance_with_no_machine_behind_it_is_an_orphan_after_the_grace() -> None:
    clock = Clock()
    cloud = fake(clock)
    kept = cloud.add_instance(POOL, created_at=T0 - 3600)
    leaked = cloud.add_instance(POOL, created_at=T0 - 3600)
    cloud.add_instance(POOL, InstanceState.TERMINATED, created_at=T0 - 3600)  # gone: never an orphan
    cloud.add_instance(POOL, created_at=T0 - 3600, tagged=False)  # not burstd's: never listed
    snap = with_provider_ids(snapshot(), [kept])
    metrics = Metrics()
    v = view(cloud, metrics, orphanGracePeriod="10m", instancesInterval="5m")
    assert refresh(v, snap, clock.now).quotes[KEY].orphans == ()
    clock.now += 599
    assert refresh(v, snap, clock.now).quotes[KEY].orphans == ()
    clock.now += 1
    # the grace is over, but the last listing is older than that: the view lists again before it tells
    got = refresh(v, snap, clock.now).quotes[KEY]
    assert got.orphans == (leaked,)
    assert cloud.calls_of("instances")[-1].at == clock.now
    assert cloud.alive_ids(POOL) >= {leaked}  # reported, not terminated (deleteOrphans is off)
    assert cloud.calls_of("terminate") == []
    labels = {"policy": "web-burst", "pool": POOL, "provider": "tencent"}
    assert metrics.registry.get_sample_value("burstd_cloud_orphaned_instances", labels) == 1.0
    running = {"policy": "web-burst", "pool": POOL, "state": "running"}
    assert metrics.registry.get_sample_value("burstd_cloud_instances", running) == 2.0
    world = build_world(policy(), replace(snap, quotes=got and {KEY: got}))
    assert world.pools[POOL].orphans == (leaked,)


def test_a_machine_that_joins_within_the_grace_is_no_orphan() -> None:
    clock = Clock()
    cloud = fake(clock)
    new = cloud.add_instance(POOL, InstanceState.PENDING, created_at=T0)
    v = view(cloud, orphanGracePeriod="10m")
    refresh(v, snapshot(), clock.now)  # no Machine has its providerID yet
    clock.now += 300
    snap = with_provider_ids(snapshot(), [new])
    clock.now += 400
    assert refresh(v, snap, clock.now).quotes[KEY].orphans == ()


def test_delete_orphans_terminates_them_and_checks_they_are_gone() -> None:
    clock = Clock()
    cloud = fake(clock)
    leaked = cloud.add_instance(POOL, created_at=T0 - 3600)
    v = view(cloud, orphanGracePeriod="1m", deleteOrphans=True)
    refresh(v, snapshot(), clock.now)
    clock.now += 60
    got = refresh(v, snapshot(), clock.now).quotes[KEY]
    assert got.orphans == (leaked,)
    (call,) = cloud.calls_of("terminate")
    assert call.pool == POOL
    assert leaked not in cloud.alive_ids(POOL)
    clock.now += 10
    assert refresh(v, snapshot(), clock.now).quotes[KEY].orphans == ()  # listed again: gone


def test_native_node_pools_are_read_every_round_and_their_members_are_not_orphans() -> None:
    clock = Clock()
    cloud = fake(clock)
    members = cloud.add_node_pool(POOL, "cls-1", "np-1", [True, False])
    leaked = cloud.add_instance(POOL, created_at=T0 - 3600)
    native = provider_priced(
        backend="tke-nodepool", ref=None, nodePool={"clusterId": "cls-1", "nodePoolId": "np-1"}
    )
    v = view(cloud, orphanGracePeriod="1m")
    got = refresh(v, Snapshot(), clock.now, [native])
    obs = got.node_pools["cls-1/np-1"]
    assert isinstance(obs.node_pool, NodePool)
    assert obs.observed_at == clock.now
    assert sorted(m.instance_id for m in obs.node_pool.members) == sorted(members)
    clock.now += 60
    got = refresh(v, Snapshot(), clock.now, [native])
    assert got.quotes[KEY].orphans == (leaked,)
    assert len(cloud.calls_of("node_pool")) == 2
    cloud.inject("node_pool", "Unavailable")
    clock.now += 10
    kept = refresh(v, Snapshot(), clock.now, [native]).node_pools["cls-1/np-1"]
    assert kept.observed_at == clock.now - 10  # the last one observed, with its time: it ages
