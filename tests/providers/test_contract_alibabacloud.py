"""The Alibaba Cloud provider passes the provider contract through the real SDKs (tea-openapi, ECS
2014-05-26, CS 2015-12-15, credentials) against the strict fake Alibaba Cloud.

How the contract's words land on Alibaba Cloud: ``quote`` = DescribeAvailableResource (first of its calls)
+ DescribePrice + DescribeInstanceTypes + DescribeAccountAttributes; ``instances`` = DescribeInstances;
``terminate`` = DeleteInstances; node pools = DescribeClusterNodePoolDetail / DescribeClusterNodes,
ScaleClusterNodePool, RemoveNodePoolNodes. Failures are the documented reply shapes: Throttled is 400
``Throttling.User`` (or 429 ``Throttling`` + ``x-acs-retry-after`` when a retry-after is scripted),
StockOut 400 ``OperationDenied.NoStock``, QuotaExceeded 400 ``QuotaExceed.PostPaidInstanceVcpu``,
AuthFailed 404 ``InvalidAccessKeyId.NotFound``, InvalidRequest 400 ``InvalidParameter``, Unavailable 503
``ServiceUnavailable``, Timeout a request the fake never answers within the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from alibabacloud_credentials.provider import StaticAKCredentialsProvider
from burstd_provider_alibabacloud import AlibabaCloudProvider

from burstd.cloud import POOL_TAG, CloudProvider, InstanceState
from burstd.policy.spec import PoolSpec

from .contract import ErrorKind, Operation, ProviderContract
from .fake_alibabacloud import FakeAlibabaCloud

ACCESS_KEY_ID = "LTAI5tContractKey0123456"
ACCESS_KEY_SECRET = "contractSecret0123456789abcdefXYZ"
WRONG_SECRET = "wrongSecret9876543210zyxwvuTSR"
REGION = "cn-hangzhou"
ZONE = "cn-hangzhou-h"
INSTANCE_TYPE = "ecs.g7.xlarge"
VCPUS = 4
CLUSTER_ID = "c-contract"

ACTIONS: dict[Operation, str] = {
    "quote": "DescribeAvailableResource",
    "instances": "DescribeInstances",
    "terminate": "DeleteInstances",
    "node_pool": "DescribeClusterNodePoolDetail",
    "scale_node_pool": "ScaleClusterNodePool",
    "remove_nodes": "RemoveNodePoolNodes",
}
ERRORS: dict[ErrorKind, tuple[int, str]] = {
    "StockOut": (400, "OperationDenied.NoStock"),
    "QuotaExceeded": (400, "QuotaExceed.PostPaidInstanceVcpu"),
    "Throttled": (400, "Throttling.User"),
    "AuthFailed": (404, "InvalidAccessKeyId.NotFound"),
    "InvalidRequest": (400, "InvalidParameter"),
    "Unavailable": (503, "ServiceUnavailable"),
}
_STATUS = {
    InstanceState.PENDING: "Pending",
    InstanceState.RUNNING: "Running",
    InstanceState.STOPPING: "Stopping",
}


async def no_wait(seconds: float) -> None:
    """tenacity's sleep in tests: yields, never waits."""
    await asyncio.sleep(0)


def where(pool: PoolSpec) -> tuple[str, str]:
    """The pool's (instance type, zone)."""
    if not pool.instance_type or not pool.zone:
        raise AssertionError(f"pool {pool.name} has no instance type or zone")
    return pool.instance_type, pool.zone


class AlibabaCloudScript:
    """:class:`CloudScript` over the fake Alibaba Cloud."""

    def __init__(self, fake: FakeAlibabaCloud) -> None:
        self.fake = fake

    def set_stock(self, pool: PoolSpec, in_stock: bool) -> None:
        instance_type, zone = where(pool)
        self.fake.set_stock(zone, instance_type, "WithStock" if in_stock else "WithoutStock")

    def set_price(self, pool: PoolSpec, price_per_node_hour: float, currency: str) -> None:
        instance_type, zone = where(pool)
        self.fake.set_price(zone, instance_type, price_per_node_hour, currency)

    def set_quota_headroom(self, pool: PoolSpec, nodes: int) -> None:
        self.fake.set_headroom(where(pool)[0], nodes)

    def add_instance(
        self, pool: PoolSpec, state: InstanceState, created_at: float, *, tagged: bool = True
    ) -> str:
        instance_type, zone = where(pool)
        instance_id = self.fake.add_instance(
            instance_type,
            zone,
            status=_STATUS.get(state, "Running"),
            created_at=created_at,
            tags={POOL_TAG: pool.name} if tagged else {"team": "other"},
        )
        if state is InstanceState.TERMINATED:
            self.fake.release_instance(instance_id)
        return instance_id

    def fail(
        self, operation: Operation, kind: ErrorKind, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        action = ACTIONS[operation]
        if kind == "Timeout":
            self.fake.stall(action, times=times)
            return
        status, code = ERRORS[kind]
        if kind == "Throttled" and retry_after is not None:
            status, code = 429, "Throttling"
        self.fake.fail(
            action,
            code,
            status=status,
            times=times,
            retry_after_ms=round(retry_after * 1000) if retry_after is not None else None,
        )

    def requests(self, operation: Operation) -> int:
        return self.fake.requests(ACTIONS[operation])

    def alive(self, pool: PoolSpec) -> set[str]:
        return set(self.fake.instances_of(pool.name))

    def add_node_pool(self, pool: PoolSpec, ready: Sequence[bool], *, autoscaling: bool = False) -> list[str]:
        assert pool.node_pool is not None
        instance_type, zone = where(pool)
        return self.fake.add_node_pool(
            pool.node_pool.cluster_id,
            pool.node_pool.node_pool_id,
            instance_type=instance_type,
            zone=zone,
            members=["running" if r else "initial" for r in ready],
            autoscaling=autoscaling,
            tags={POOL_TAG: pool.name},
        )

    def node_pool_desired(self, pool: PoolSpec) -> int:
        assert pool.node_pool is not None
        return self.fake.node_pool_desired(pool.node_pool.cluster_id, pool.node_pool.node_pool_id)

    def node_pool_members(self, pool: PoolSpec) -> list[str]:
        assert pool.node_pool is not None
        return self.fake.node_pool_members(pool.node_pool.cluster_id, pool.node_pool.node_pool_id)


def pool_spec(name: str, *, native: bool = False) -> PoolSpec:
    data: dict[str, Any] = {
        "name": name,
        "provider": "alibabacloud",
        "cluster": "ack-hz",
        "nodes": {"min": 0, "max": 10},
        "instanceType": INSTANCE_TYPE,
        "zone": ZONE,
        "allocatable": {"cpu": "4", "memory": "16Gi"},
        "price": {"source": "provider"},
    }
    if native:
        data |= {"backend": "ack-nodepool", "nodePool": {"clusterId": CLUSTER_ID, "nodePoolId": f"np-{name}"}}
    else:
        data |= {"backend": "capi-machinedeployment", "ref": {"namespace": "capi", "name": name}}
    return PoolSpec.model_validate(data)


class AlibabaCloudHarness:
    secrets: Sequence[str] = (ACCESS_KEY_SECRET, WRONG_SECRET)

    def __init__(self, fake: FakeAlibabaCloud) -> None:
        self.fake = fake
        self.cloud = AlibabaCloudScript(fake)
        fake.add_credentials(ACCESS_KEY_ID, ACCESS_KEY_SECRET)
        fake.add_instance_type(INSTANCE_TYPE, VCPUS)
        fake.add_cluster(CLUSTER_ID)

    def pool(self, name: str, *, native: bool = False) -> PoolSpec:
        return pool_spec(name, native=native)

    def _make(self, secret: str, endpoint: str) -> AlibabaCloudProvider:
        return AlibabaCloudProvider(
            credentials_provider=StaticAKCredentialsProvider(
                access_key_id=ACCESS_KEY_ID, access_key_secret=secret
            ),
            sleep=no_wait,
            region_id=REGION,
            ecs_endpoint=endpoint,
            cs_endpoint=endpoint,
            scheme="http",
            call_timeout=1.5,
            attempt_timeout=0.25,
        )

    def provider(self) -> CloudProvider:
        return self._make(ACCESS_KEY_SECRET, self.fake.endpoint)

    def provider_with_bad_credentials(self) -> CloudProvider:
        return self._make(WRONG_SECRET, self.fake.endpoint)

    def provider_unreachable(self) -> CloudProvider:
        return self._make(ACCESS_KEY_SECRET, "127.0.0.1:9")


@pytest.fixture(scope="module")
def fake_cloud() -> Iterator[FakeAlibabaCloud]:
    with FakeAlibabaCloud(region_id=REGION) as fake:
        yield fake


class TestAlibabaCloudContract(ProviderContract):
    @pytest.fixture
    def harness(self) -> Iterator[AlibabaCloudHarness]:
        with FakeAlibabaCloud(region_id=REGION) as fake:
            yield AlibabaCloudHarness(fake)
