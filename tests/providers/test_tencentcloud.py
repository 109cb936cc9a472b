"""The Tencent Cloud provider beyond the contract: the fake's strictness, the error map, retries and the
deadline, paging, quotes in detail, credentials (env, file, TKE OIDC through a TLS STS) and secrecy."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
from burstd_provider_tencentcloud import TencentCloudProvider, class_for
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tencentcloud.common.common_client_async import CommonClient
from tencentcloud.common.credential import Credential, OIDCRoleArnCredential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.retry_async import StandardRetryer

from burstd.cloud import (
    AuthFailed,
    InstanceState,
    InvalidRequest,
    ProviderError,
    ProviderLoadError,
    QuotaExceeded,
    StockOut,
    Throttled,
    Unavailable,
    get_provider,
)
from providers.contract import run
from providers.fake_tencentcloud import CVM_VERSION, TKE_VERSION, FakeTencentCloud
from providers.tencent_harness import (
    CLUSTER_ID,
    IMAGE_ID,
    INSTANCE_TYPE,
    SECRET_ID,
    SECRET_KEY,
    TencentCloudHarness,
    no_sleep,
    write_credentials,
)

ZONE = "ap-guangzhou-1"  # the first pool a harness makes


@pytest.fixture
def fake() -> Iterator[FakeTencentCloud]:
    with FakeTencentCloud() as cloud:
        yield cloud


@pytest.fixture
def harness(fake: FakeTencentCloud, tmp_path: Path) -> TencentCloudHarness:
    return TencentCloudHarness(fake, tmp_path)


async def sdk_call(
    fake: FakeTencentCloud,
    service: str,
    action: str,
    params: dict[str, Any],
    *,
    secret_id: str = SECRET_ID,
    secret_key: str = SECRET_KEY,
    version: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """One request through the SDK's own async client, no provider in between."""
    version = version or {"cvm": CVM_VERSION, "tke": TKE_VERSION}[service]
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=fake.endpoint))
    client = CommonClient(service, version, Credential(secret_id, secret_key), region or fake.region, profile)
    try:
        answer: dict[str, Any] = await client.call_and_deserialize(action, params)
        return answer
    finally:
        await client.close()


def sdk_error(coroutine: Any) -> str:
    with pytest.raises(TencentCloudSDKException) as caught:
        run(coroutine)
    return str(caught.value.get_code())


# ------------------------------------------------------------------------------------ the fake is strict


class TestTheFakeIsStrict:
    def test_a_good_signature_passes(self, harness: TencentCloudHarness) -> None:
        answer = run(sdk_call(harness.fake, "cvm", "DescribeInstances", {"Limit": 10}))
        assert answer["Response"]["TotalCount"] == 0
        assert answer["Response"]["RequestId"]

    def test_a_wrong_key_is_a_signature_failure(self, harness: TencentCloudHarness) -> None:
        call = sdk_call(harness.fake, "cvm", "DescribeInstances", {}, secret_key="not-the-key")
        assert sdk_error(call) == "AuthFailure.SignatureFailure"

    def test_an_unknown_secret_id_is_not_found(self, harness: TencentCloudHarness) -> None:
        call = sdk_call(harness.fake, "cvm", "DescribeInstances", {}, secret_id="AKIDnobodyknowsthisid000")
        assert sdk_error(call) == "AuthFailure.SecretIdNotFound"

    def test_a_stale_timestamp_is_expired(self, tmp_path: Path) -> None:
        with FakeTencentCloud(signature_clock=lambda: time.time() + 600) as late:
            TencentCloudHarness(late, tmp_path)
            assert sdk_error(sdk_call(late, "cvm", "DescribeInstances", {})) == "AuthFailure.SignatureExpire"

    def test_a_missing_parameter_is_refused(self, harness: TencentCloudHarness) -> None:
        harness.fake.add_cluster(CLUSTER_ID)
        call = sdk_call(harness.fake, "tke", "DescribeClusterNodePoolDetail", {"ClusterId": CLUSTER_ID})
        assert sdk_error(call) == "MissingParameter"
        price = sdk_call(harness.fake, "cvm", "InquiryPriceRunInstances", {"Placement": {"Zone": ZONE}})
        assert sdk_error(price) == "MissingParameter"

    def test_a_wrong_version_or_action_or_region_is_refused(self, harness: TencentCloudHarness) -> None:
        assert sdk_error(sdk_call(harness.fake, "cvm", "DescribeInstances", {}, version=TKE_VERSION)) == (
            "NoSuchVersion"
        )
        assert sdk_error(sdk_call(harness.fake, "tke", "DescribeInstances", {})) == "InvalidAction"
        assert sdk_error(sdk_call(harness.fake, "cvm", "DescribeInstances", {}, region="ap-nowhere")) == (
            "UnsupportedRegion"
        )

    def test_limits_and_combinations_are_checked(self, harness: TencentCloudHarness) -> None:
        fake = harness.fake
        assert (
            sdk_error(sdk_call(fake, "cvm", "DescribeInstances", {"Limit": 101})) == "InvalidParameterValue"
        )
        both = {"InstanceIds": ["ins-00000001"], "Filters": [{"Name": "zone", "Values": [ZONE]}]}
        assert sdk_error(sdk_call(fake, "cvm", "DescribeInstances", both)) == "InvalidParameterCombination"
        assert sdk_error(sdk_call(fake, "cvm", "TerminateInstances", {"InstanceIds": ["i-1"]})) == (
            "InvalidInstanceId.Malformed"
        )
        bad_filter = {"Filters": [{"Name": "colour", "Values": ["red"]}]}
        assert sdk_error(sdk_call(fake, "cvm", "DescribeInstances", bad_filter)) == "InvalidFilter"

    def test_every_request_is_logged(self, harness: TencentCloudHarness) -> None:
        sdk_error(sdk_call(harness.fake, "cvm", "DescribeInstances", {}, secret_key="wrong"))
        [logged] = harness.fake.requests("DescribeInstances")
        assert (logged.service, logged.error) == ("?", "AuthFailure.SignatureFailure")


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("RequestLimitExceeded", Throttled),
        ("RequestLimitExceeded.UinLimitExceeded", Throttled),
        ("ResourceInsufficient.SpecifiedInstanceType", StockOut),
        ("ResourcesSoldOut.EipInsufficient", StockOut),
        ("LimitExceeded.CvmQuota", QuotaExceeded),
        ("LimitExceeded.InstanceQuota", QuotaExceeded),
        ("AuthFailure.SignatureExpire", AuthFailed),
        ("AuthFailure.SecretIdNotFound", AuthFailed),
        ("UnauthorizedOperation", AuthFailed),
        ("InvalidParameter", InvalidRequest),
        ("InvalidParameterValue.InstanceTypeNotFound", InvalidRequest),
        ("MissingParameter", InvalidRequest),
        ("ResourceNotFound.ClusterNotFound", InvalidRequest),
        ("InvalidInstanceId.NotFound", InvalidRequest),
        ("InternalError.ClusterNotFound", InvalidRequest),
        ("InternalError", Unavailable),
        ("InternalError.UnexpectedInternal", Unavailable),
        ("ServerNetworkError", Unavailable),
        ("SomethingNobodyDocumented", Unavailable),
    ],
)
def test_each_error_code_maps_to_its_class(code: str, expected: type[ProviderError]) -> None:
    assert class_for(code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceInsufficient.SpecifiedInstanceType", StockOut),
        ("LimitExceeded.CvmQuota", QuotaExceeded),
        ("AuthFailure.SignatureExpire", AuthFailed),
        ("InvalidParameterValue", InvalidRequest),
        ("InternalError", Unavailable),
    ],
)
def test_an_error_answer_becomes_its_class_with_code_and_request_id(
    harness: TencentCloudHarness, code: str, expected: type[ProviderError]
) -> None:
    pool = harness.pool("errors")
    harness.fake.fail("DescribeInstances", code, times=100, message=f"injected {code} for {SECRET_ID}")
    provider = harness.provider()
    with pytest.raises(expected) as caught:
        run(_closing(provider, provider.instances(pool)))
    error = caught.value
    assert error.code == code
    assert error.provider == "tencentcloud"
    assert error.pool == "errors"
    assert "DescribeInstances" in str(error)
    assert "RequestId " in str(error)
    assert SECRET_ID not in str(error), "a SecretId in the cloud's message is redacted"


def test_a_bare_http_error_is_unavailable(harness: TencentCloudHarness) -> None:
    pool = harness.pool("gateway")
    harness.fake.fail_http("DescribeInstances", 502, times=100)
    provider = harness.provider()
    with pytest.raises(Unavailable) as caught:
        run(_closing(provider, provider.instances(pool)))
    assert caught.value.code == "ServerNetworkError"
    assert len(harness.fake.requests("DescribeInstances")) == 5


async def _closing(provider: TencentCloudProvider, call: Any) -> Any:
    try:
        return await call
    finally:
        await provider.aclose()


# ------------------------------------------------------------------------------------ retries, deadline


def test_throttled_then_ok_succeeds_where_the_sdk_retryer_raises(harness: TencentCloudHarness) -> None:
    pool = harness.pool("storm")
    running = harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="storm")
    harness.fake.fail("DescribeInstances", "RequestLimitExceeded", times=1)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    provider = TencentCloudProvider(sleep=sleep, **harness.settings())
    found = run(_closing(provider, provider.instances(pool)))
    assert [i.id for i in found] == [running]
    assert len(harness.fake.requests("DescribeInstances")) == 2
    assert len(slept) == 1
    assert 0.2 <= slept[0] <= 0.4  # first backoff: 0.2 s plus up to 0.2 s of jitter

    # The SDK's StandardRetryer on the same script: it never forgets the first error, so it goes on retrying
    # after the successful retry until its attempts run out, and then raises that first error.
    harness.fake.fail("DescribeInstances", "RequestLimitExceeded", times=1)

    async def zero(attempt: int) -> float:
        return 0.0

    async def with_sdk_retryer() -> None:
        profile = ClientProfile(
            httpProfile=HttpProfile(protocol="http", endpoint=harness.fake.endpoint),
            retryer=StandardRetryer(max_attempts=3, backoff_fn=zero),
        )
        client = CommonClient(
            "cvm", CVM_VERSION, Credential(SECRET_ID, SECRET_KEY), harness.fake.region, profile
        )
        try:
            await client.call_and_deserialize("DescribeInstances", {"Limit": 10})
        finally:
            await client.close()

    before = len(harness.fake.requests("DescribeInstances"))
    assert sdk_error(with_sdk_retryer()) == "RequestLimitExceeded"
    assert [r.error for r in harness.fake.requests("DescribeInstances")[before:]] == [
        "RequestLimitExceeded",
        None,
        None,
    ]


def test_a_storm_is_given_up_after_five_attempts_with_growing_backoff(harness: TencentCloudHarness) -> None:
    pool = harness.pool("stormy")
    harness.fake.fail("DescribeInstances", "RequestLimitExceeded", times=1000)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    provider = TencentCloudProvider(sleep=sleep, **harness.settings())
    with pytest.raises(Throttled):
        run(_closing(provider, provider.instances(pool)))
    assert len(harness.fake.requests("DescribeInstances")) == 5
    assert len(slept) == 4
    for attempt, seconds in enumerate(slept):  # 0.2 s doubled per attempt, plus up to 0.2 s of jitter
        assert 0.2 * 2**attempt <= seconds <= 0.2 * 2**attempt + 0.2


def test_stock_quota_and_auth_failures_are_not_retried(harness: TencentCloudHarness) -> None:
    pool = harness.pool("final")
    for code in ("ResourceInsufficient.SpecifiedInstanceType", "LimitExceeded.CvmQuota", "AuthFailure"):
        harness.fake.fail("DescribeZoneInstanceConfigInfos", code, times=1)
        provider = harness.provider()
        with pytest.raises(ProviderError):
            run(_closing(provider, provider.quote(pool, 1)))
    assert len(harness.fake.requests("DescribeZoneInstanceConfigInfos")) == 3


def test_the_call_deadline_holds_on_a_stalled_api(harness: TencentCloudHarness) -> None:
    pool = harness.pool("stalled")
    harness.fake.stall("DescribeInstances", times=100, seconds=30)
    settings = harness.settings() | {"call_timeout": 0.5, "attempt_timeout": 5.0}
    provider = TencentCloudProvider(sleep=no_sleep, **settings)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"0\.5 s call deadline"):
        run(_closing(provider, provider.instances(pool)))
    assert time.monotonic() - started < 2.0
    assert len(harness.fake.requests("DescribeInstances")) == 1


def test_the_deadline_cuts_a_backoff_short_and_keeps_the_last_error(harness: TencentCloudHarness) -> None:
    pool = harness.pool("slowstorm")
    harness.fake.fail("DescribeInstances", "RequestLimitExceeded", times=1000)
    provider = TencentCloudProvider(**(harness.settings() | {"call_timeout": 0.3}))  # real backoff sleeps
    started = time.monotonic()
    with pytest.raises(Throttled):
        run(_closing(provider, provider.instances(pool)))
    assert time.monotonic() - started < 1.5
    assert 1 <= len(harness.fake.requests("DescribeInstances")) < 5


# ------------------------------------------------------------------------------------ truth, paging


def test_instances_are_paged_by_100(harness: TencentCloudHarness) -> None:
    pool = harness.pool("big")
    mine = {harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="big") for _ in range(250)}
    for _ in range(30):
        harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="other")
    provider = harness.provider()
    found = run(_closing(provider, provider.instances(pool)))
    assert {i.id for i in found} == mine
    pages = harness.fake.requests("DescribeInstances")
    assert [(p.params["Offset"], p.params["Limit"]) for p in pages] == [(0, 100), (100, 100), (200, 100)]
    assert pages[0].params["Filters"] == [{"Name": "tag:burstd.io/pool", "Values": ["big"]}]


@pytest.mark.parametrize(
    ("cvm_state", "state"),
    [
        ("PENDING", InstanceState.PENDING),
        ("STARTING", InstanceState.PENDING),
        ("RUNNING", InstanceState.RUNNING),
        ("REBOOTING", InstanceState.RUNNING),
        ("STOPPING", InstanceState.STOPPING),
        ("STOPPED", InstanceState.STOPPING),
        ("SHUTDOWN", InstanceState.STOPPING),
        ("TERMINATING", InstanceState.STOPPING),
        ("LAUNCH_FAILED", InstanceState.TERMINATED),
    ],
)
def test_every_cvm_state_maps(harness: TencentCloudHarness, cvm_state: str, state: InstanceState) -> None:
    pool = harness.pool("states")
    harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="states", state=cvm_state, created_at=1_790_000_000.0)
    provider = harness.provider()
    [found] = run(_closing(provider, provider.instances(pool)))
    assert found.state is state
    assert found.created_at == 1_790_000_000.0


def test_terminate_refuses_an_instance_of_another_pool_and_terminates_nothing(
    harness: TencentCloudHarness,
) -> None:
    pool = harness.pool("careful")
    mine = harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="careful")
    theirs = harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="someone-else")
    provider = harness.provider()
    with pytest.raises(InvalidRequest, match=theirs):
        run(_closing(provider, provider.terminate(pool, [mine, theirs])))
    assert harness.fake.instances_of("careful") == {mine}
    assert harness.fake.instances_of("someone-else") == {theirs}
    assert harness.fake.requests("TerminateInstances") == []


def test_terminate_tolerates_an_instance_gone_in_between(harness: TencentCloudHarness) -> None:
    pool = harness.pool("racy")
    doomed = harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="racy")
    harness.fake.fail("TerminateInstances", "InvalidInstanceId.NotFound")
    provider = harness.provider()
    run(_closing(provider, provider.terminate(pool, [doomed])))
    assert len(harness.fake.requests("TerminateInstances")) == 1


# ------------------------------------------------------------------------------------ quotes


def test_a_quote_pays_the_discounted_price_and_asks_for_pay_as_you_go(harness: TencentCloudHarness) -> None:
    pool = harness.pool("discount")
    harness.fake.set_price(ZONE, INSTANCE_TYPE, 2.0, discount_price=1.6)
    harness.fake.set_quota(ZONE, 10)
    harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="discount")
    provider = harness.provider()
    quote = run(_closing(provider, provider.quote(pool, 2)))
    assert quote.price_per_node_hour == pytest.approx(1.6)
    assert quote.quota_headroom_nodes == 9  # 10 minus the one running
    assert quote.currency == "CNY"
    [inquiry] = harness.fake.requests("InquiryPriceRunInstances")
    assert inquiry.params == {
        "Placement": {"Zone": ZONE},
        "ImageId": IMAGE_ID,
        "InstanceChargeType": "POSTPAID_BY_HOUR",
        "InstanceType": INSTANCE_TYPE,
        "InstanceCount": 1,
    }
    [stock] = harness.fake.requests("DescribeZoneInstanceConfigInfos")
    assert {"Name": "instance-charge-type", "Values": ["POSTPAID_BY_HOUR"]} in stock.params["Filters"]


def test_without_an_image_the_price_comes_from_the_zone_offer(harness: TencentCloudHarness) -> None:
    pool = harness.pool("noimage")
    harness.fake.set_price(ZONE, INSTANCE_TYPE, 0.9)
    settings = harness.settings()
    del settings["image_id"]
    provider = TencentCloudProvider(sleep=no_sleep, **(settings | {"currency": "USD"}))
    quote = run(_closing(provider, provider.quote(pool, 1)))
    assert (quote.price_per_node_hour, quote.currency) == (pytest.approx(0.9), "USD")
    assert harness.fake.requests("InquiryPriceRunInstances") == []


def test_a_pool_without_zone_or_type_or_offer_is_an_invalid_request(harness: TencentCloudHarness) -> None:
    pool = harness.pool("vague")
    provider = harness.provider()
    with pytest.raises(InvalidRequest, match="'nozone' sets no zone"):
        run(_closing(provider, provider.quote(pool.model_copy(update={"name": "nozone", "zone": None}), 1)))
    provider = harness.provider()
    unknown = pool.model_copy(update={"instance_type": "SA9.HUGE"})
    with pytest.raises(InvalidRequest, match=r"SA9\.HUGE is not offered"):
        run(_closing(provider, provider.quote(unknown, 1)))


# ------------------------------------------------------------------------------------ node pools


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_scaled_node_pool_launches_members_that_turn_ready_after_the_launch_delay(tmp_path: Path) -> None:
    clock = FakeClock()
    with FakeTencentCloud(clock=clock, launch_delay=90.0) as fake:
        harness = TencentCloudHarness(fake, tmp_path)
        pool = harness.pool("np-launch", native=True)
        harness.script.add_node_pool(pool, [True])
        provider = harness.provider()
        run(_closing(provider, provider.scale_node_pool(pool, 3)))
        provider = harness.provider()
        node_pool = run(_closing(provider, provider.node_pool(pool)))
        assert node_pool.desired == 3
        assert sorted(m.ready for m in node_pool.members) == [False, False, True]
        assert all(m.node_name and m.node_name.startswith("10.0.") for m in node_pool.members)
        assert len(fake.ready_members(CLUSTER_ID, "np-np-launch")) == 1
        clock.now += 90.0
        provider = harness.provider()
        node_pool = run(_closing(provider, provider.node_pool(pool)))
        assert all(m.ready for m in node_pool.members)
        # the members are CVM instances carrying the pool tag: the cloud's truth sees them
        provider = harness.provider()
        assert len(run(_closing(provider, provider.instances(pool)))) == 3


def test_remove_nodes_deletes_and_terminates_and_ignores_strangers(harness: TencentCloudHarness) -> None:
    pool = harness.pool("np-del", native=True)
    first, second = harness.script.add_node_pool(pool, [True, True])
    stranger = harness.fake.leak_instance("np-del", zone=ZONE)
    provider = harness.provider()
    run(_closing(provider, provider.remove_nodes(pool, [second, stranger])))
    [delete] = harness.fake.requests("DeleteClusterInstances")
    assert delete.params == {
        "ClusterId": CLUSTER_ID,
        "InstanceIds": [second],
        "InstanceDeleteMode": "terminate",
        "ForceDelete": True,
    }
    assert harness.fake.instance_state(second) == "TERMINATED"
    assert harness.fake.instances_of("np-del") == {first, stranger}


def test_a_desired_count_outside_the_pool_bounds_is_an_invalid_request(harness: TencentCloudHarness) -> None:
    pool = harness.pool("np-bounds", native=True)
    harness.script.add_node_pool(pool, [])
    provider = harness.provider()
    with pytest.raises(InvalidRequest):
        run(_closing(provider, provider.scale_node_pool(pool, 1000)))


# ------------------------------------------------------------------------------------ credentials


def test_credentials_from_the_environment_with_a_session_token(
    harness: TencentCloudHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = harness.pool("envcreds")
    harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="envcreds")
    harness.fake.add_credential("AKIDtemporaryenvkey0000001", "tempEnvSecretKey-1", token="envSessionToken-1")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKIDtemporaryenvkey0000001")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "tempEnvSecretKey-1")
    monkeypatch.setenv("TENCENTCLOUD_SESSION_TOKEN", "envSessionToken-1")
    settings = harness.settings() | {"credentials": "env"}
    provider = TencentCloudProvider(sleep=no_sleep, **settings)
    assert len(run(_closing(provider, provider.instances(pool)))) == 1

    monkeypatch.setenv("TENCENTCLOUD_SESSION_TOKEN", "not-the-token")
    provider = TencentCloudProvider(sleep=no_sleep, **settings)
    with pytest.raises(AuthFailed) as caught:
        run(_closing(provider, provider.instances(pool)))
    assert caught.value.code == "AuthFailure.TokenFailure"


def test_a_rotated_credentials_file_is_read_again(harness: TencentCloudHarness, tmp_path: Path) -> None:
    pool = harness.pool("rotated")
    harness.fake.add_instance(ZONE, INSTANCE_TYPE, pool="rotated")
    path = write_credentials(tmp_path / "rotating", SECRET_ID, SECRET_KEY)

    async def twice() -> None:
        provider = TencentCloudProvider(sleep=no_sleep, **harness.settings(credentials=path))
        try:
            assert len(await provider.instances(pool)) == 1
            harness.fake.add_credential("AKIDrotatedkey000000000002", "rotatedSecretKey-2")
            write_credentials(path, "AKIDrotatedkey000000000002", "rotatedSecretKey-2")
            harness.fake.revoke_credential(SECRET_ID)
            assert len(await provider.instances(pool)) == 1
        finally:
            await provider.aclose()

    run(twice())
    assert [r.error for r in harness.fake.requests("DescribeInstances")] == [None, None]


def test_settings_as_the_daemon_passes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
    provider = get_provider(
        "tencentcloud", region="ap-shanghai", call_timeout="4s", attempt_timeout="500ms", credentials="env"
    )
    assert isinstance(provider, TencentCloudProvider)
    assert (provider.config.call_timeout, provider.config.per_attempt_timeout) == (4.0, 0.5)
    assert SECRET_KEY not in repr(provider)
    run(provider.aclose())
    with pytest.raises(ProviderLoadError, match="call_timeout"):
        get_provider("tencentcloud", region="ap-shanghai", call_timeout="soon")
    with pytest.raises(ProviderLoadError, match=r"sts_endpoint.*applies only to source 'oidc'"):
        get_provider(
            "tencentcloud", region="ap-shanghai", credentials={"source": "env", "stsEndpoint": "x:1"}
        )


def test_missing_or_unknown_settings_fail_to_load_with_a_clear_message(
    harness: TencentCloudHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TENCENTCLOUD_SECRET_ID", raising=False)
    monkeypatch.delenv("TENCENTCLOUD_SECRET_KEY", raising=False)
    with pytest.raises(ProviderLoadError, match="TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY"):
        get_provider("tencentcloud", region="ap-guangzhou", credentials="env")
    with pytest.raises(ProviderLoadError, match=r"unknown setting.*'zone'"):
        get_provider("tencentcloud", region="ap-guangzhou", zone="ap-guangzhou-3")
    with pytest.raises(ProviderLoadError, match="'region' is required"):
        get_provider("tencentcloud")
    missing = write_credentials(tmp_path / "other", SECRET_ID, SECRET_KEY, profile="other")
    with pytest.raises(ProviderLoadError, match=r"has no \[burstd\] section"):
        get_provider(
            "tencentcloud",
            region="ap-guangzhou",
            credentials={"source": "file", "path": str(missing), "profile": "burstd"},
        )
    with pytest.raises(ProviderLoadError, match="TKE_ROLE_ARN"):
        get_provider("tencentcloud", region="ap-guangzhou", credentials="oidc")


def _tls_material(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-tencentcloud")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake.crt", directory / "fake.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tke_pod_identity_assumes_the_role_and_refreshes_before_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's OIDC credential always calls STS over HTTPS and trusts certifi's bundle only: the fake serves
    TLS with a throwaway certificate and the test points certifi (and httpx) at it."""
    import ssl

    cert, key = _tls_material(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setattr(certifi, "where", lambda: str(cert))  # the SDK's STS call (requests)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the SDK's API calls (httpx)
    web_token = "eyJoidcWebIdentityToken.never-log-me.sig"
    token_file = tmp_path / "token"
    token_file.write_text(web_token)
    role = "qcs::cam::uin/100000000001:roleName/burstd"
    monkeypatch.setenv("TKE_REGION", "ap-guangzhou")
    monkeypatch.setenv("TKE_PROVIDER_ID", "cls-oidc-provider")
    monkeypatch.setenv("TKE_ROLE_ARN", role)
    monkeypatch.setenv("TKE_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    caplog.set_level(logging.DEBUG)
    refreshed_in: list[str] = []
    original_refresh = OIDCRoleArnCredential.refresh

    def refresh(credential: Any) -> None:  # the SDK's blocking refresh, watched: which thread runs it?
        refreshed_in.append(threading.current_thread().name)
        original_refresh(credential)

    monkeypatch.setattr(OIDCRoleArnCredential, "refresh", refresh)
    with FakeTencentCloud(tls=context) as fake:
        # STS issues keys that live 600 s: the SDK refreshes once 90 % of the requested 7200 s would have
        # passed, i.e. these are due at once: every call assumes the role again (refresh before expiry).
        fake.add_oidc_role(
            role_arn=role, provider_id="cls-oidc-provider", web_identity_token=web_token, lifetime=600
        )
        harness = TencentCloudHarness(fake, tmp_path)
        pool = harness.pool("oidc")
        fake.add_instance(ZONE, INSTANCE_TYPE, pool="oidc")
        settings = harness.settings() | {
            "scheme": "https",
            "credentials": {"source": "oidc", "sts_endpoint": fake.endpoint},
        }
        for _ in range(2):
            provider = TencentCloudProvider(sleep=no_sleep, **settings)
            assert len(run(_closing(provider, provider.instances(pool)))) == 1
        assumed = fake.requests("AssumeRoleWithWebIdentity")
        assert len(assumed) == 2
        assert len(refreshed_in) == 2
        assert threading.main_thread().name not in refreshed_in, "the blocking STS call ran on the event loop"
        assert all(r.error is None for r in assumed)
        issued = fake.issued_keys()
        assert len(issued) == 2

        token_file.write_text("a-forged-token")
        provider = TencentCloudProvider(sleep=no_sleep, **settings)
        with pytest.raises(AuthFailed) as caught:
            run(_closing(provider, provider.instances(pool)))
    shown = f"{caught.value} {caught.value!r} {caplog.text}"
    for secret in (web_token, *(part for key_set in issued for part in key_set if part)):
        assert secret not in shown


# ------------------------------------------------------------------------------------ secrecy


def test_no_secret_reaches_a_log_line_or_an_error(
    harness: TencentCloudHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK logs whole requests at DEBUG; the provider drops those
    pool = harness.pool("secret", native=True)
    harness.script.add_node_pool(pool, [True])
    harness.fake.fail("DescribeInstances", "AuthFailure.SignatureFailure", message=f"bad key {SECRET_KEY}")
    errors: list[BaseException] = []

    async def everything() -> None:
        for provider in (harness.provider(), harness.provider_with_bad_credentials()):
            try:
                for call in (
                    provider.quote(pool, 1),
                    provider.instances(pool),
                    provider.node_pool(pool),
                    provider.scale_node_pool(pool, 2),
                ):
                    try:
                        await call
                    except ProviderError as exc:
                        errors.append(exc)
                        logging.getLogger("burstd.test").warning("call failed: %s", exc)
            finally:
                await provider.aclose()
            logging.getLogger("burstd.test").info("provider %r", provider)

    run(everything())
    assert len(errors) >= 4
    shown = caplog.text + " ".join(f"{e} {e!r}" for e in errors)
    for secret in harness.secrets:
        assert secret not in shown
    assert "SendRequest" not in caplog.text
