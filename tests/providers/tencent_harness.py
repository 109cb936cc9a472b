"""The contract harness for the Tencent Cloud provider: the real SDK against :mod:`fake_tencentcloud`."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from burstd_provider_tencentcloud import TencentCloudProvider

from burstd.cloud import InstanceState
from burstd.policy.spec import PoolSpec
from providers.contract import CloudScript, ErrorKind, Operation
from providers.fake_tencentcloud import FakeTencentCloud

__all__ = [
    "ACTIONS",
    "BAD_SECRET_KEY",
    "CLUSTER_ID",
    "ERROR_CODES",
    "IMAGE_ID",
    "INSTANCE_TYPE",
    "SECRET_ID",
    "SECRET_KEY",
    "TencentCloudHarness",
    "TencentCloudScript",
    "no_sleep",
    "write_credentials",
]

SECRET_ID: Final = "AKIDburstdContractTest0123456789ab"
SECRET_KEY: Final = "burstdContractSecretKey-never-log-me-42"
BAD_SECRET_KEY: Final = "burstdWrongSecretKey-never-log-me-either-7"
IMAGE_ID: Final = "img-burstd01"
INSTANCE_TYPE: Final = "S5.LARGE8"
CLUSTER_ID: Final = "cls-contract"

#: the API action each contract operation starts with (an error scripted for it hits that one)
ACTIONS: Final[dict[Operation, str]] = {
    "quote": "DescribeZoneInstanceConfigInfos",
    "instances": "DescribeInstances",
    "terminate": "TerminateInstances",
    "node_pool": "DescribeClusterNodePoolDetail",
    "scale_node_pool": "ModifyNodePoolDesiredCapacityAboutAsg",
    "remove_nodes": "DeleteClusterInstances",
}
ERROR_CODES: Final[dict[ErrorKind, str]] = {
    "StockOut": "ResourceInsufficient.SpecifiedInstanceType",
    "QuotaExceeded": "LimitExceeded.CvmQuota",
    "Throttled": "RequestLimitExceeded",
    "AuthFailed": "AuthFailure.UnauthorizedOperation",
    "InvalidRequest": "InvalidParameterValue",
    "Unavailable": "InternalError",
}
_STATES: Final = {
    InstanceState.PENDING: "PENDING",
    InstanceState.RUNNING: "RUNNING",
    InstanceState.STOPPING: "STOPPING",
    InstanceState.TERMINATED: "LAUNCH_FAILED",
}


async def no_sleep(seconds: float) -> None:
    """The backoff sleep in tests: yields to the loop, waits for nothing."""
    await asyncio.sleep(0)


def write_credentials(path: Path, secret_id: str, secret_key: str, profile: str = "burstd") -> Path:
    path.write_text(f"[{profile}]\nsecret_id = {secret_id}\nsecret_key = {secret_key}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TencentCloudScript:
    """``CloudScript`` over the fake Tencent Cloud (pools are mapped to their zone and instance type)."""

    def __init__(self, fake: FakeTencentCloud) -> None:
        self.fake = fake

    def set_stock(self, pool: PoolSpec, in_stock: bool) -> None:
        self.fake.set_stock(_zone(pool), _type(pool), in_stock)

    def set_price(self, pool: PoolSpec, price_per_node_hour: float, currency: str) -> None:
        assert currency == "CNY", "the Tencent Cloud API prices in yuan"
        self.fake.set_price(_zone(pool), _type(pool), price_per_node_hour)

    def set_quota_headroom(self, pool: PoolSpec, nodes: int) -> None:
        self.fake.set_quota_headroom(_zone(pool), nodes)

    def add_instance(
        self, pool: PoolSpec, state: InstanceState, created_at: float, *, tagged: bool = True
    ) -> str:
        return self.fake.add_instance(
            _zone(pool),
            _type(pool),
            pool=pool.name if tagged else None,
            state=_STATES[state],
            created_at=created_at,
        )

    def fail(
        self, operation: Operation, kind: ErrorKind, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        # Tencent Cloud sends no retry-after: the provider backs off on its own.
        if kind == "Timeout":
            self.fake.stall(ACTIONS[operation], times=times, seconds=30.0)
        else:
            self.fake.fail(ACTIONS[operation], ERROR_CODES[kind], times=times)

    def requests(self, operation: Operation) -> int:
        return len(self.fake.requests(ACTIONS[operation]))

    def alive(self, pool: PoolSpec) -> set[str]:
        return self.fake.instances_of(pool.name)

    def add_node_pool(self, pool: PoolSpec, ready: Sequence[bool], *, autoscaling: bool = False) -> list[str]:
        assert pool.node_pool is not None
        return self.fake.add_node_pool(
            pool.node_pool.cluster_id,
            pool.node_pool.node_pool_id,
            zone=_zone(pool),
            instance_type=_type(pool),
            pool=pool.name,
            ready=ready,
            autoscaling=autoscaling,
        )

    def node_pool_desired(self, pool: PoolSpec) -> int:
        assert pool.node_pool is not None
        return self.fake.node_pool_desired(pool.node_pool.cluster_id, pool.node_pool.node_pool_id)

    def node_pool_members(self, pool: PoolSpec) -> list[str]:
        assert pool.node_pool is not None
        return self.fake.node_pool_members(pool.node_pool.cluster_id, pool.node_pool.node_pool_id)


def _zone(pool: PoolSpec) -> str:
    assert pool.zone is not None
    return pool.zone


def _type(pool: PoolSpec) -> str:
    assert pool.instance_type is not None
    return pool.instance_type


class TencentCloudHarness:
    """``ContractHarness``: providers with the real SDK pointed at the fake; each pool gets its own zone."""

    def __init__(self, fake: FakeTencentCloud, tmp_path: Path) -> None:
        self.fake = fake
        self.script = TencentCloudScript(fake)
        self.cloud: CloudScript = self.script
        self.secrets: Sequence[str] = (SECRET_ID, SECRET_KEY, BAD_SECRET_KEY)
        fake.add_credential(SECRET_ID, SECRET_KEY)
        fake.add_image(IMAGE_ID)
        self._good = write_credentials(tmp_path / "credentials", SECRET_ID, SECRET_KEY)
        self._bad = write_credentials(tmp_path / "bad-credentials", SECRET_ID, BAD_SECRET_KEY)
        self._zones = itertools.count(1)

    def pool(self, name: str, *, native: bool = False) -> PoolSpec:
        zone = f"{self.fake.region}-{next(self._zones)}"
        self.fake.add_offer(zone, INSTANCE_TYPE)
        spec: dict[str, Any] = {
            "name": name,
            "provider": "tencentcloud",
            "cluster": "member-gz",
            "backend": "capi-machinedeployment",
            "nodes": {"max": 20},
            "instance_type": INSTANCE_TYPE,
            "zone": zone,
            "allocatable": {"cpu": "4", "memory": "8Gi"},
        }
        if native:
            self.fake.add_cluster(CLUSTER_ID)
            spec["backend"] = "tke-nodepool"
            spec["node_pool"] = {"cluster_id": CLUSTER_ID, "node_pool_id": f"np-{name}"}
        return PoolSpec.model_validate(spec)

    def settings(self, credentials: Path | None = None, endpoint: str | None = None) -> dict[str, Any]:
        return {
            "region": self.fake.region,
            "endpoint": endpoint or self.fake.endpoint,
            "scheme": "http",
            "credentials": {"source": "file", "path": str(credentials or self._good), "profile": "burstd"},
            "call_timeout": 1.8,
            "attempt_timeout": 0.3,
            "image_id": IMAGE_ID,
        }

    def provider(self) -> TencentCloudProvider:
        return TencentCloudProvider(sleep=no_sleep, **self.settings())

    def provider_with_bad_credentials(self) -> TencentCloudProvider:
        return TencentCloudProvider(sleep=no_sleep, **self.settings(self._bad))

    def provider_unreachable(self) -> TencentCloudProvider:
        return TencentCloudProvider(sleep=no_sleep, **self.settings(endpoint=f"127.0.0.1:{_free_port()}"))
