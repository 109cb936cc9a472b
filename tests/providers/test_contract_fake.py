"""The scriptable fake passes the provider contract.

The fake is its own cloud: the harness scripts it through its test helpers and hands out that same
FakeProvider (it holds no sessions, so closing it changes nothing). The failures a real endpoint would
produce are the fake's own error rules: a timeout is an injected ``Unavailable`` (what a real provider
turns its deadline into), bad credentials a rule failing every call with ``AuthFailed`` and a message
carrying the credentials (which the error must redact), an unreachable endpoint a rule failing every call
with ``Unavailable``. The fake does not retry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from burstd_provider_fake import FakeProvider

from burstd.cloud import CloudProvider, InstanceState
from burstd.policy.spec import PoolSpec

from .contract import ErrorKind, Operation, ProviderContract

SECRET_ID = "AKIDfakeContract0123456789abcdef"
SECRET_KEY = "fakeContractSecretKey0123456789xyz"
INSTANCE_TYPE = "SA5.2XLARGE32"
ZONE = "ap-guangzhou-6"
CLUSTER_ID = "cls-contract"


class FakeCloudScript:
    """:class:`CloudScript` over a FakeProvider's test helpers."""

    def __init__(self, fake: FakeProvider) -> None:
        self.fake = fake

    def set_stock(self, pool: PoolSpec, in_stock: bool) -> None:
        self.fake.set_pool(pool.name, stock=in_stock)

    def set_price(self, pool: PoolSpec, price_per_node_hour: float, currency: str) -> None:
        self.fake.set_pool(pool.name, price=price_per_node_hour, currency=currency)

    def set_quota_headroom(self, pool: PoolSpec, nodes: int) -> None:
        self.fake.set_pool(pool.name, quota=self.fake.alive(pool.name) + nodes)

    def add_instance(
        self, pool: PoolSpec, state: InstanceState, created_at: float, *, tagged: bool = True
    ) -> str:
        return self.fake.add_instance(pool.name, state, created_at, tagged=tagged)

    def fail(
        self, operation: Operation, kind: ErrorKind, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        if kind == "Timeout":
            self.fake.inject(
                operation, "Unavailable", times=times, message="the request timed out after 1.5s"
            )
        else:
            self.fake.inject(operation, kind, times=times, retry_after=retry_after)

    def requests(self, operation: Operation) -> int:
        return len(self.fake.calls_of(operation))

    def alive(self, pool: PoolSpec) -> set[str]:
        return self.fake.alive_ids(pool.name)

    def add_node_pool(self, pool: PoolSpec, ready: Sequence[bool], *, autoscaling: bool = False) -> list[str]:
        assert pool.node_pool is not None
        ref = pool.node_pool
        return self.fake.add_node_pool(
            pool.name, ref.cluster_id, ref.node_pool_id, ready, autoscaling=autoscaling
        )

    def node_pool_desired(self, pool: PoolSpec) -> int:
        assert pool.node_pool is not None
        return self.fake.node_pool_desired(pool.node_pool.cluster_id, pool.node_pool.node_pool_id)

    def node_pool_members(self, pool: PoolSpec) -> list[str]:
        assert pool.node_pool is not None
        return self.fake.node_pool_members(pool.node_pool.cluster_id, pool.node_pool.node_pool_id)


class FakeHarness:
    secrets: Sequence[str] = (SECRET_ID, SECRET_KEY)

    def __init__(self) -> None:
        self.fake = FakeProvider(start=1_790_000_000.0)
        self.cloud = FakeCloudScript(self.fake)

    def pool(self, name: str, *, native: bool = False) -> PoolSpec:
        self.fake.set_pool(name, instance_type=INSTANCE_TYPE, zone=ZONE)
        data: dict[str, Any] = {
            "name": name,
            "provider": "fake",
            "cluster": "tke-gz",
            "nodes": {"min": 0, "max": 10},
            "instanceType": INSTANCE_TYPE,
            "zone": ZONE,
            "allocatable": {"cpu": "8", "memory": "32Gi"},
            "price": {"source": "provider"},
        }
        if native:
            data |= {
                "backend": "tke-nodepool",
                "nodePool": {"clusterId": CLUSTER_ID, "nodePoolId": f"np-{name}"},
            }
        else:
            data |= {"backend": "capi-machinedeployment", "ref": {"namespace": "capi", "name": name}}
        return PoolSpec.model_validate(data)

    def provider(self) -> CloudProvider:
        return self.fake

    def provider_with_bad_credentials(self) -> CloudProvider:
        provider = FakeProvider(self.fake.script, start=self.fake.now)
        provider.inject(
            None,
            "AuthFailed",
            times="always",
            code="AuthFailure.SecretIdNotFound",
            message=f"the SecretId is not found: SecretId={SECRET_ID}, SecretKey={SECRET_KEY}",
        )
        return provider

    def provider_unreachable(self) -> CloudProvider:
        provider = FakeProvider(self.fake.script, start=self.fake.now)
        provider.inject(None, "Unavailable", times="always", message="cannot connect to 127.0.0.1:9: refused")
        return provider


class TestFakeProviderContract(ProviderContract):
    retries_internally: ClassVar[bool] = False

    @pytest.fixture
    def harness(self) -> FakeHarness:
        return FakeHarness()
