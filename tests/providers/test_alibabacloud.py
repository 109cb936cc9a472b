"""The Alibaba Cloud provider beyond the contract, through the real SDKs against the strict fake: the fake
rejects what the cloud rejects, every documented error shape maps to its class, retries and the deadline,
paging, node-pool scaling, credentials (env, file, ACK RRSA OIDC over TLS) and no secret in any log line
or error."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import StaticAKCredentialsProvider, StaticSTSCredentialsProvider
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.utils_models import Config, OpenApiRequest, Params
from burstd_provider_alibabacloud import AlibabaCloudProvider
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from darabonba.runtime import RuntimeOptions

from burstd.cloud import (
    POOL_TAG,
    AuthFailed,
    InvalidRequest,
    ProviderError,
    ProviderLoadError,
    QuotaExceeded,
    StockOut,
    Throttled,
    Unavailable,
    get_provider,
)
from burstd.policy.spec import NodePoolRef

from .fake_alibabacloud import FakeAlibabaCloud, ManualClock
from .test_contract_alibabacloud import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    CLUSTER_ID,
    INSTANCE_TYPE,
    REGION,
    VCPUS,
    WRONG_SECRET,
    ZONE,
    pool_spec,
)

STS_TOKEN = "fakeStsSessionToken0123456789"
STS_KEY_ID = "STS.fakeSessionKey0123"
STS_SECRET = "stsSessionSecret0123456789abc"
OIDC_TOKEN = "eyJhbGciOiJSUzI1NiJ9.fakeOidcTokenPayload.signature0123"
ROLE_ARN = "acs:ram::1234567890:role/burstd"
OIDC_PROVIDER_ARN = "acs:ram::1234567890:oidc-provider/ack-rrsa-c-contract"
SECRETS = (ACCESS_KEY_SECRET, WRONG_SECRET, STS_TOKEN, STS_SECRET, OIDC_TOKEN)


class Sleeps:
    """tenacity's injected sleep: records the waits, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> Iterator[FakeAlibabaCloud]:
    with FakeAlibabaCloud(region_id=REGION, clock=ManualClock()) as cloud:
        cloud.add_credentials(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        cloud.add_instance_type(INSTANCE_TYPE, VCPUS)
        cloud.add_cluster(CLUSTER_ID)
        yield cloud


def make(fake: FakeAlibabaCloud, sleeps: Sleeps | None = None, **config: Any) -> AlibabaCloudProvider:
    settings: dict[str, Any] = {
        "region_id": REGION,
        "ecs_endpoint": fake.endpoint,
        "cs_endpoint": fake.endpoint,
        "scheme": "http",
        "call_timeout": 2.0,
        "attempt_timeout": 0.5,
    }
    settings |= config
    if "credentials" not in config:
        settings["credentials_provider"] = StaticAKCredentialsProvider(
            access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET
        )
    return AlibabaCloudProvider(sleep=sleeps or Sleeps(), **settings)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def using(provider: AlibabaCloudProvider, call: Any) -> Any:
    try:
        return await call(provider)
    finally:
        await provider.aclose()


def sdk_ecs(fake: FakeAlibabaCloud, key_id: str, secret: str, token: str | None = None) -> Any:
    return EcsClient(
        Config(
            access_key_id=key_id,
            access_key_secret=secret,
            security_token=token,
            endpoint=fake.endpoint,
            protocol="http",
            region_id=REGION,
        )
    )


# ---------------------------------------------------------------------------------- the fake is strict


async def _sdk_error(call: Any) -> ClientException:
    with pytest.raises(ClientException) as caught:
        await call
    return caught.value


def test_the_fake_rejects_a_wrong_secret_and_an_unknown_key(fake: FakeAlibabaCloud) -> None:
    request = ecs_models.DescribeInstancesRequest(region_id=REGION)
    wrong = run(_sdk_error(sdk_ecs(fake, ACCESS_KEY_ID, WRONG_SECRET).describe_instances_async(request)))
    assert (wrong.status_code, wrong.code) == (400, "SignatureDoesNotMatch")
    unknown = run(_sdk_error(sdk_ecs(fake, "LTAIunknownKey000000", "x").describe_instances_async(request)))
    assert (unknown.status_code, unknown.code) == (404, "InvalidAccessKeyId.NotFound")
    right = run(sdk_ecs(fake, ACCESS_KEY_ID, ACCESS_KEY_SECRET).describe_instances_async(request))
    assert right.body.total_count == 0


def test_the_fake_requires_the_sts_token_of_sts_credentials(fake: FakeAlibabaCloud) -> None:
    fake.add_credentials(STS_KEY_ID, STS_SECRET, STS_TOKEN)
    request = ecs_models.DescribeInstancesRequest(region_id=REGION)
    error = run(_sdk_error(sdk_ecs(fake, STS_KEY_ID, STS_SECRET).describe_instances_async(request)))
    assert error.code == "InvalidSecurityToken.Malformed"
    assert run(sdk_ecs(fake, STS_KEY_ID, STS_SECRET, STS_TOKEN).describe_instances_async(request)).body


def test_the_fake_checks_required_parameters(fake: FakeAlibabaCloud) -> None:
    ecs = sdk_ecs(fake, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    no_destination = ecs_models.DescribeAvailableResourceRequest(region_id=REGION, zone_id=ZONE)
    error = run(_sdk_error(ecs.describe_available_resource_async(no_destination)))
    assert (error.status_code, error.code) == (400, "MissingParameter")
    assert "DestinationResource" in str(error.message)
    no_region = ecs_models.DescribeInstancesRequest()
    assert run(_sdk_error(ecs.describe_instances_async(no_region))).code == "MissingParameter"
    no_type = ecs_models.DescribePriceRequest(region_id=REGION, zone_id=ZONE)
    assert run(_sdk_error(ecs.describe_price_async(no_type))).code == "MissingParameter"


def _generic(fake: FakeAlibabaCloud, params: Params) -> Any:
    client = OpenApiClient(
        Config(
            access_key_id=ACCESS_KEY_ID,
            access_key_secret=ACCESS_KEY_SECRET,
            endpoint=fake.endpoint,
            protocol="http",
        )
    )
    return client.call_api_async(params, OpenApiRequest(query={"RegionId": REGION}), RuntimeOptions())


def _params(action: str, version: str, pathname: str, method: str, style: str) -> Params:
    return Params(
        action=action,
        version=version,
        protocol="HTTP",
        pathname=pathname,
        method=method,
        auth_type="AK",
        style=style,
        req_body_type="json",
        body_type="json",
    )


def test_the_fake_checks_the_version_and_the_action(fake: FakeAlibabaCloud) -> None:
    old = run(_sdk_error(_generic(fake, _params("DescribeInstances", "2016-03-14", "/", "POST", "RPC"))))
    assert (old.status_code, old.code) == (400, "InvalidVersion")
    unknown = run(_sdk_error(_generic(fake, _params("RunInstances", "2014-05-26", "/", "POST", "RPC"))))
    assert (unknown.status_code, unknown.code) == (404, "InvalidAction.NotFound")
    cs_on_wrong_route = _params(
        "ScaleClusterNodePool", "2015-12-15", f"/clusters/{CLUSTER_ID}/nodepools", "POST", "ROA"
    )
    mismatch = run(_sdk_error(_generic(fake, cs_on_wrong_route)))
    assert (mismatch.status_code, mismatch.code) == (404, "InvalidAction.NotFound")
    cs_old = _params("DescribeClusterNodes", "2014-05-26", f"/clusters/{CLUSTER_ID}/nodes", "GET", "ROA")
    assert run(_sdk_error(_generic(fake, cs_old))).code == "InvalidVersion"


def test_the_fake_rejects_an_unsigned_request(fake: FakeAlibabaCloud) -> None:
    import aiohttp

    async def post() -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://{fake.endpoint}/?RegionId={REGION}",
                headers={"x-acs-action": "DescribeInstances", "x-acs-version": "2014-05-26"},
            ) as reply,
        ):
            return reply.status, await reply.json()

    status, body = run(post())
    assert status == 400
    assert body["Code"] == "IncompleteSignature"
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}


# ---------------------------------------------------------------------------------- error shapes


@pytest.mark.parametrize(
    ("status", "code", "retry_after_ms", "expected"),
    [
        (400, "Throttling.User", None, Throttled),
        (400, "Throttling.Api", None, Throttled),
        (429, "Throttling", 2000, Throttled),
        (400, "OperationDenied.NoStock", None, StockOut),
        (403, "Zone.NotOnSale", None, StockOut),
        (400, "InvalidResourceType.NotSupported", None, StockOut),
        (403, "QuotaExceed.PostPaidInstanceVcpu", None, QuotaExceeded),
        (400, "InvalidParameter.QuotaExceed", None, QuotaExceeded),
        (404, "InvalidAccessKeyId.NotFound", None, AuthFailed),
        (400, "SignatureDoesNotMatch", None, AuthFailed),
        (403, "Forbidden.RAM", None, AuthFailed),
        (400, "InvalidSecurityToken.Expired", None, AuthFailed),
        (400, "InvalidParameter", None, InvalidRequest),
        (400, "MissingParameter", None, InvalidRequest),
        (404, "InvalidInstanceId.NotFound", None, InvalidRequest),
        (503, "ServiceUnavailable", None, Unavailable),
        (500, "InternalError", None, Unavailable),
    ],
)
def test_every_documented_error_shape_maps_to_its_class(
    fake: FakeAlibabaCloud, status: int, code: str, retry_after_ms: int | None, expected: type[ProviderError]
) -> None:
    pool = pool_spec("errors")
    fake.fail("DescribeInstances", code, status=status, retry_after_ms=retry_after_ms)
    with pytest.raises(expected) as caught:
        run(using(make(fake, max_attempts=1), lambda p: p.instances(pool)))
    error = caught.value
    assert type(error) is expected
    assert error.code == code
    assert error.provider == "alibabacloud"
    assert error.pool == "errors"
    assert "RequestId FAKE-" in str(error)
    assert f"HTTP {status}" in str(error)
    if retry_after_ms is not None:
        assert isinstance(error, Throttled)
        assert error.retry_after == pytest.approx(retry_after_ms / 1000)


def test_container_service_errors_map_too(fake: FakeAlibabaCloud) -> None:
    missing_cluster = pool_spec("np-x", native=True).model_copy(
        update={"node_pool": NodePoolRef(cluster_id="c-nope", node_pool_id="np-x")}
    )
    with pytest.raises(InvalidRequest) as caught:
        run(using(make(fake), lambda p: p.node_pool(missing_cluster)))
    assert caught.value.code == "ErrorClusterNotFound"
    fake.fail("DescribeClusterNodePoolDetail", "Throttling", status=429, retry_after_ms=1500, times=5)
    with pytest.raises(Throttled) as throttled:
        run(using(make(fake), lambda p: p.node_pool(pool_spec("np-y", native=True))))
    assert throttled.value.retry_after == pytest.approx(1.5)


def test_non_sdk_failures_are_classified(fake: FakeAlibabaCloud) -> None:
    provider = make(fake)
    assert isinstance(provider.classify(TimeoutError()), Unavailable)
    assert isinstance(provider.classify(ConnectionRefusedError("refused")), Unavailable)
    leaked = provider.classify(CredentialException(f"sts said: AccessKeySecret={ACCESS_KEY_SECRET}"))
    assert isinstance(leaked, AuthFailed)
    assert ACCESS_KEY_SECRET not in str(leaked)
    run(provider.aclose())


# ---------------------------------------------------------------------------------- retries, deadline


def test_throttling_is_retried_with_backoff_until_it_succeeds(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("retry")
    fake.add_instance(INSTANCE_TYPE, ZONE, tags={POOL_TAG: "retry"})
    fake.fail("DescribeInstances", "Throttling.User", times=2)
    sleeps = Sleeps()
    found = run(using(make(fake, sleeps), lambda p: p.instances(pool)))
    assert len(found) == 1
    assert fake.requests("DescribeInstances") == 3
    assert len(sleeps.waits) == 2
    assert all(0 < wait <= 5.0 for wait in sleeps.waits)


def test_a_retry_after_header_is_honoured(fake: FakeAlibabaCloud) -> None:
    fake.fail("DescribeInstances", "Throttling", status=429, retry_after_ms=3000)
    sleeps = Sleeps()
    run(using(make(fake, sleeps, call_timeout=10.0), lambda p: p.instances(pool_spec("later"))))
    assert sleeps.waits[0] >= 3.0
    assert fake.requests("DescribeInstances") == 2


def test_a_storm_is_given_up_after_five_attempts(fake: FakeAlibabaCloud) -> None:
    fake.fail("DescribeInstances", "ServiceUnavailable", status=503, times=100)
    sleeps = Sleeps()
    with pytest.raises(Unavailable):
        run(using(make(fake, sleeps), lambda p: p.instances(pool_spec("storm"))))
    assert fake.requests("DescribeInstances") == 5
    assert len(sleeps.waits) == 4


@pytest.mark.parametrize(
    "code", ["OperationDenied.NoStock", "QuotaExceed.PostPaidInstanceVcpu", "Forbidden.RAM"]
)
def test_failures_no_retry_fixes_are_not_retried(fake: FakeAlibabaCloud, code: str) -> None:
    fake.fail("DescribeInstances", code, times=10)
    with pytest.raises(ProviderError):
        run(using(make(fake), lambda p: p.instances(pool_spec("once"))))
    assert fake.requests("DescribeInstances") == 1


def test_the_call_deadline_holds_against_a_hung_endpoint(fake: FakeAlibabaCloud) -> None:
    fake.stall("DescribeInstances", times=100)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        run(
            using(make(fake, call_timeout=0.6, attempt_timeout=0.2), lambda p: p.instances(pool_spec("hung")))
        )
    elapsed = time.monotonic() - started
    assert elapsed < 0.6 + 0.5, f"the 0.6 s deadline took {elapsed:.2f} s"
    assert 2 <= fake.requests("DescribeInstances") <= 5  # each attempt timed out on its own


# ---------------------------------------------------------------------------------- paging, truth


def test_instances_are_paged_with_next_token(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("big")
    ids = {fake.add_instance(INSTANCE_TYPE, ZONE, tags={POOL_TAG: "big"}) for _ in range(250)}
    for _ in range(5):
        fake.add_instance(INSTANCE_TYPE, ZONE, tags={POOL_TAG: "other"})
    found = run(using(make(fake), lambda p: p.instances(pool)))
    assert {i.id for i in found} == ids
    log = fake.request_log("DescribeInstances")
    assert len(log) == 3
    assert [r.query.get("NextToken") for r in log] == [None, "nt-100", "nt-200"]
    assert all(r.query["MaxResults"] == "100" and r.query["Tag.1.Key"] == POOL_TAG for r in log)
    assert all(r.query["Tag.1.Value"] == "big" for r in log)


def test_statuses_map_to_instance_states(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("states")
    by_status = {
        status: fake.add_instance(INSTANCE_TYPE, ZONE, status=status, tags={POOL_TAG: "states"})
        for status in ("Pending", "Starting", "Running", "Stopping", "Stopped")
    }
    found = {i.id: i.state.value for i in run(using(make(fake), lambda p: p.instances(pool)))}
    assert found == {
        by_status["Pending"]: "pending",
        by_status["Starting"]: "pending",
        by_status["Running"]: "running",
        by_status["Stopping"]: "stopping",
        by_status["Stopped"]: "stopping",
    }


def test_terminate_deletes_only_instances_carrying_the_pool_tag(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("mine")
    mine = fake.add_instance(INSTANCE_TYPE, ZONE, tags={POOL_TAG: "mine"})
    theirs = fake.add_instance(INSTANCE_TYPE, ZONE, tags={POOL_TAG: "theirs"})
    run(using(make(fake), lambda p: p.terminate(pool, [mine, theirs, "i-gone"])))
    assert fake.instance_status(mine) is None
    assert fake.instance_status(theirs) == "Running"
    (delete,) = fake.request_log("DeleteInstances")
    assert delete.query["InstanceId.1"] == mine
    assert "InstanceId.2" not in delete.query
    assert delete.query["Force"].lower() == "true"


# ---------------------------------------------------------------------------------- quotes


def test_a_quote_reads_stock_categories_price_and_vcpu_quota(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("q")
    fake.set_price(ZONE, INSTANCE_TYPE, 1.234, "USD")
    fake.set_vcpu_quota(100, used_elsewhere=10)
    fake.add_instance(INSTANCE_TYPE, ZONE)  # 4 more vCPUs used
    for category, in_stock in [
        ("WithStock", True),
        ("ClosedWithStock", True),
        ("WithoutStock", False),
        ("ClosedWithoutStock", False),
        ("SoldOut", False),
    ]:
        fake.set_stock(ZONE, INSTANCE_TYPE, category)
        quote = run(using(make(fake), lambda p: p.quote(pool, 2)))
        assert quote.in_stock is in_stock, category
        assert quote.quota_headroom_nodes == (100 - 14) // VCPUS
        assert quote.price_per_node_hour == pytest.approx(1.234)
        assert quote.currency == "USD"
    (price,) = fake.request_log("DescribePrice")[:1]
    assert price.query["PriceUnit"] == "Hour"
    assert price.query["InstanceType"] == INSTANCE_TYPE


def test_a_quote_for_an_unknown_type_is_an_invalid_request(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("unknown").model_copy(update={"instance_type": "ecs.nope.large"})
    fake.set_stock(ZONE, "ecs.nope.large")
    fake.set_price(ZONE, "ecs.nope.large", 1.0)
    with pytest.raises(InvalidRequest):
        run(using(make(fake), lambda p: p.quote(pool, 1)))


# ---------------------------------------------------------------------------------- ACK node pools


def test_a_node_pool_scales_up_and_members_become_ready_after_the_launch_delay(
    fake: FakeAlibabaCloud,
) -> None:
    clock = ManualClock()
    with FakeAlibabaCloud(region_id=REGION, clock=clock, launch_delay=90.0) as cloud:
        cloud.add_credentials(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        pool = pool_spec("grow", native=True)
        cloud.add_node_pool(
            CLUSTER_ID,
            "np-grow",
            instance_type=INSTANCE_TYPE,
            zone=ZONE,
            members=["running"],
            tags={POOL_TAG: "grow"},
        )
        run(using(make(cloud), lambda p: p.scale_node_pool(pool, 4)))
        (scale,) = cloud.request_log("ScaleClusterNodePool")
        assert json.loads(scale.body) == {"count": 3}
        assert cloud.node_pool_desired(CLUSTER_ID, "np-grow") == 4
        node_pool = run(using(make(cloud), lambda p: p.node_pool(pool)))
        assert node_pool.desired == 4
        assert sorted(m.ready for m in node_pool.members) == [False, False, False, True]
        assert len(cloud.ready_members(CLUSTER_ID, "np-grow")) == 1
        clock.advance(90.0)
        assert len(cloud.ready_members(CLUSTER_ID, "np-grow")) == 4
        assert len(cloud.instances_of("grow")) == 4  # members carry the node pool's tags
        node_pool = run(using(make(cloud), lambda p: p.node_pool(pool)))
        assert all(m.ready and m.node_name for m in node_pool.members)


def test_lowering_a_node_pool_removes_unready_and_newest_members_first(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("shrink", native=True)
    old, _, stuck = fake.add_node_pool(
        CLUSTER_ID,
        "np-shrink",
        instance_type=INSTANCE_TYPE,
        zone=ZONE,
        members=["running", "running", "initial"],
    )
    run(using(make(fake), lambda p: p.scale_node_pool(pool, 1)))
    members = fake.node_pool_members(CLUSTER_ID, "np-shrink")
    assert stuck not in members
    assert members == [old]
    assert fake.node_pool_desired(CLUSTER_ID, "np-shrink") == 1
    (remove,) = fake.request_log("RemoveNodePoolNodes")
    assert remove.method == "DELETE"
    assert remove.query["release_node"].lower() == "true"
    assert remove.query["drain_node"].lower() == "true"
    assert fake.request_log("ModifyClusterNodePool") == []
    assert fake.instance_status(stuck) is None  # released


def test_removing_a_node_that_is_already_gone_is_no_error(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("gone", native=True)
    (only,) = fake.add_node_pool(
        CLUSTER_ID, "np-gone", instance_type=INSTANCE_TYPE, zone=ZONE, members=["running"]
    )
    run(using(make(fake), lambda p: p.remove_nodes(pool, ["i-never-was"])))
    assert fake.request_log("RemoveNodePoolNodes") == []
    assert fake.node_pool_members(CLUSTER_ID, "np-gone") == [only]


def test_node_pool_members_are_paged(fake: FakeAlibabaCloud) -> None:
    pool = pool_spec("many", native=True)
    fake.add_node_pool(
        CLUSTER_ID, "np-many", instance_type=INSTANCE_TYPE, zone=ZONE, members=["running"] * 150
    )
    node_pool = run(using(make(fake), lambda p: p.node_pool(pool)))
    assert len(node_pool.members) == 150
    log = fake.request_log("DescribeClusterNodes")
    assert [(r.query["pageNumber"], r.query["pageSize"], r.query["nodepool_id"]) for r in log] == [
        ("1", "100", "np-many"),
        ("2", "100", "np-many"),
    ]


# ---------------------------------------------------------------------------------- credentials, settings


def test_credentials_from_the_environment(fake: FakeAlibabaCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ACCESS_KEY_SECRET)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    run(using(make(fake, credentials="env"), lambda p: p.instances(pool_spec("env"))))
    fake.add_credentials(STS_KEY_ID, STS_SECRET, STS_TOKEN)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", STS_KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", STS_SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", STS_TOKEN)
    run(using(make(fake, credentials="env"), lambda p: p.instances(pool_spec("env"))))
    assert [r.access_key_id for r in fake.request_log("DescribeInstances")] == [ACCESS_KEY_ID, STS_KEY_ID]
    monkeypatch.delenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    with pytest.raises(ValueError, match="ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        make(fake, credentials="env")


def test_credentials_from_a_file_profile(fake: FakeAlibabaCloud, tmp_path: Path) -> None:
    path = tmp_path / "credentials.ini"
    path.write_text(
        "[default]\ntype = access_key\naccess_key_id = LTAIotherKey000000\naccess_key_secret = other\n\n"
        f"[burstd]\ntype = access_key\naccess_key_id = {ACCESS_KEY_ID}\naccess_key_secret = {ACCESS_KEY_SECRET}\n"
    )
    provider = make(fake, credentials="profile", profile_file=str(path), profile_name="burstd")
    run(using(provider, lambda p: p.instances(pool_spec("file"))))
    assert [r.access_key_id for r in fake.request_log("DescribeInstances")] == [ACCESS_KEY_ID]
    missing = make(fake, credentials="profile", profile_file=str(path), profile_name="nope")
    with pytest.raises(AuthFailed):
        run(using(missing, lambda p: p.instances(pool_spec("file"))))


def _tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1: the server context and the CA file."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "burstd test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file


@pytest.mark.parametrize(("lifetime", "sts_calls"), [(3600.0, 1), (600.0, 2)])
def test_ack_rrsa_oidc_credentials_through_sts_over_tls(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    lifetime: float,
    sts_calls: int,
) -> None:
    """RRSA: the credentials library exchanges the pod's OIDC token at STS (AssumeRoleWithOIDC, always
    HTTPS: the fake serves TLS with a throwaway CA trusted through SSL_CERT_FILE) and signs with the STS
    key and token. Credentials within 15 minutes of expiry are refreshed before use: with a 10-minute
    lifetime every call fetches fresh ones."""
    caplog.set_level(logging.DEBUG)
    context, ca_file = _tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    token_file = tmp_path / "token"
    token_file.write_text(OIDC_TOKEN)
    monkeypatch.setenv("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN)
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", OIDC_PROVIDER_ARN)
    monkeypatch.setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", str(token_file))
    with FakeAlibabaCloud(region_id=REGION, ssl_context=context, sts_lifetime=lifetime) as cloud:
        cloud.add_oidc_role(ROLE_ARN, OIDC_PROVIDER_ARN, OIDC_TOKEN)
        cloud.add_instance(INSTANCE_TYPE, ZONE, tags={POOL_TAG: "rrsa"})
        provider = make(cloud, credentials="oidc", scheme="https", sts_endpoint=cloud.endpoint)

        async def twice(p: AlibabaCloudProvider) -> None:
            assert len(await p.instances(pool_spec("rrsa"))) == 1
            assert len(await p.instances(pool_spec("rrsa"))) == 1

        run(using(provider, twice))
        assert cloud.requests("AssumeRoleWithOIDC") == sts_calls
        signed_with = {r.access_key_id for r in cloud.request_log("DescribeInstances")}
        assert all(key and key.startswith("STS.") for key in signed_with)
        assert len(signed_with) == sts_calls
        issued = cloud.issued_sts_secrets()
    for secret in (OIDC_TOKEN, *[s for s in issued if not s.startswith("STS.")]):
        assert secret not in caplog.text


def test_rrsa_without_its_environment_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="ALIBABA_CLOUD_ROLE_ARN"):
        AlibabaCloudProvider(region_id=REGION, credentials="oidc")


@pytest.mark.parametrize(
    ("config", "error", "names"),
    [
        ({"region_id": REGION, "regionId": "x"}, TypeError, "'regionId'"),
        ({}, TypeError, "region_id"),
        ({"region_id": "Hangzhou"}, ValueError, "region_id"),
        ({"region_id": REGION, "max_attempts": 6}, ValueError, "max_attempts"),
        ({"region_id": REGION, "call_timeout": 0}, ValueError, "call_timeout"),
        ({"region_id": REGION, "ecs_endpoint": "http://x/"}, ValueError, "ecs_endpoint"),
        ({"region_id": REGION, "credentials": "magic"}, ValueError, "credentials"),
        ({"region_id": REGION, "call_timeout": 1, "attempt_timeout": 2}, ValueError, "attempt_timeout"),
    ],
)
def test_bad_settings_are_clear_errors(config: dict[str, Any], error: type[Exception], names: str) -> None:
    with pytest.raises(ProviderLoadError, match=names) as caught:
        get_provider("alibabacloud", **config)
    assert type(caught.value.__cause__) is error


def test_no_secret_reaches_a_log_line_an_error_or_a_repr(
    fake: FakeAlibabaCloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_credentials(STS_KEY_ID, STS_SECRET, STS_TOKEN)
    fake.fail(
        "DescribeInstances", "Throttling.User", times=2, message=f"echo AccessKeySecret={ACCESS_KEY_SECRET}"
    )
    errors: list[BaseException] = []
    provider = make(fake)
    run(using(provider, lambda p: p.instances(pool_spec("quiet"))))
    sts = AlibabaCloudProvider(
        credentials_provider=StaticSTSCredentialsProvider(
            access_key_id=STS_KEY_ID, access_key_secret=WRONG_SECRET, security_token=STS_TOKEN
        ),
        sleep=Sleeps(),
        region_id=REGION,
        ecs_endpoint=fake.endpoint,
        scheme="http",
    )
    with pytest.raises(AuthFailed) as denied:
        run(using(sts, lambda p: p.instances(pool_spec("quiet"))))
    errors.append(denied.value)
    fake.fail(
        "DescribeInstances",
        "InvalidParameter",
        message=f"SecurityToken={STS_TOKEN}, AccessKeySecret: {STS_SECRET}",
    )
    with pytest.raises(InvalidRequest) as invalid:
        run(using(make(fake), lambda p: p.instances(pool_spec("quiet"))))
    errors.append(invalid.value)
    shown = caplog.text + " ".join(f"{e} {e!r}" for e in errors) + repr(provider) + repr(sts)
    for secret in SECRETS:
        assert secret not in shown
    assert "retrying" in caplog.text  # the retries were logged, without secrets


def test_a_retry_after_beyond_the_deadline_gives_the_throttling_back(fake: FakeAlibabaCloud) -> None:
    fake.fail("DescribeInstances", "Throttling", status=429, retry_after_ms=30_000, times=3)
    sleeps = Sleeps()
    with pytest.raises(Throttled) as caught:
        run(using(make(fake, sleeps, call_timeout=5.0), lambda p: p.instances(pool_spec("patience"))))
    assert caught.value.retry_after == pytest.approx(30.0)
    assert sleeps.waits == []
    assert fake.requests("DescribeInstances") == 1


def test_settings_take_durations_and_camel_case_keys_arrive_snake_cased() -> None:
    provider = AlibabaCloudProvider(
        credentials_provider=StaticAKCredentialsProvider(access_key_id=ACCESS_KEY_ID, access_key_secret="x"),
        region_id=REGION,
        call_timeout="1.5s",
        attempt_timeout="500ms",
    )
    assert provider.settings.call_timeout == pytest.approx(1.5)
    assert provider.settings.per_attempt_timeout == pytest.approx(0.5)
    run(provider.aclose())


def test_a_quote_shares_one_deadline_across_its_api_calls(fake: FakeAlibabaCloud) -> None:
    """Each of the quote's calls answers within the attempt timeout, but together they would not."""
    pool = pool_spec("slowquote")
    fake.set_stock(ZONE, INSTANCE_TYPE)
    fake.set_price(ZONE, INSTANCE_TYPE, 1.0)
    fake.stall("DescribePrice", 0.3, times=1)
    fake.stall("DescribeAccountAttributes", 0.3, times=1)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="quote did not finish"):
        run(using(make(fake, call_timeout=0.5, attempt_timeout=0.45), lambda p: p.quote(pool, 1)))
    assert time.monotonic() - started < 0.5 + 0.4
