"""The fake clouds behind ``burstd run`` in the end-to-end scenarios, as one interface: each wraps a strict
fake cloud endpoint (``tests/providers/fake_*.py``) that the REAL SDKs inside the daemon's provider talk to,
and says what the daemon's settings and environment need to reach it.

A native node pool's members are the cloud cluster's nodes (``members``, Machine-shaped for the bed's
recorder); they come Ready after the fake's launch delay on the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from providers.fake_alibabacloud import FakeAlibabaCloud
from providers.fake_tencentcloud import FakeTencentCloud

from burstd.cloud import POOL_TAG

from .fleet import Fleet, native_pool
from .players import member_as_machine

#: launch delay of a node pool member (pending -> Ready), seconds
LAUNCH_DELAY = 2.0


class CloudUnderTest(Protocol):
    """One fake cloud as the scenarios drive it. Pools are named by burstd pool name."""

    provider: str
    #: every credential secret the daemon is given (none may reach its log)
    secrets: tuple[str, ...]

    def settings(self) -> dict[str, Any]:
        """``cloud.providers.<provider>`` of the daemon's settings file."""
        ...

    def env(self, *, bad_credentials: bool = False) -> dict[str, str]:
        """The daemon's environment for its credentials (the SDK's own variables)."""
        ...

    def add_pool(self, fleet: Fleet, name: str, *, price: float, in_stock: bool = True) -> dict[str, Any]:
        """A native node pool for burstd pool ``name`` (empty), its instance type priced and stocked; the
        policy's pool document."""
        ...

    def set_stock(self, name: str, in_stock: bool) -> None: ...

    def throttle_scale_ups(self, times: int) -> None:
        """The next ``times`` node-pool scale-up requests answer with the cloud's throttling error."""
        ...

    def scale_up_requests(self, name: str) -> list[float]:
        """When each node-pool scale-up request for pool ``name`` arrived (monotonic seconds), throttled
        ones included."""
        ...

    def desired(self, name: str) -> int: ...

    def members(self, name: str) -> list[dict[str, Any]]:
        """The node pool's members now, Machine-shaped."""
        ...

    def leak(self, name: str) -> str:
        """An instance tagged for pool ``name`` with no node-pool member behind it; its id."""
        ...

    def alive(self, name: str) -> list[str]:
        """Ids of the instances tagged for pool ``name`` that still run (and bill)."""
        ...


# ------------------------------------------------------------------------------------------ Alibaba Cloud

ALIBABA_KEY_ID = "LTAI5tE2eScenarioKey01"
ALIBABA_SECRET = "e2eScenarioSecret0123456789abcdEF"
ALIBABA_REGION = "cn-hangzhou"
ALIBABA_ZONE = "cn-hangzhou-h"
ALIBABA_CLUSTER = "c-e2e"


@dataclass
class _AckPool:
    node_pool_id: str
    instance_type: str


class AlibabaCloud:
    provider: str = "alibabacloud"
    secrets: tuple[str, ...] = (ALIBABA_SECRET,)

    def __init__(self, fake: FakeAlibabaCloud) -> None:
        self.fake = fake
        self.pools: dict[str, _AckPool] = {}
        fake.add_credentials(ALIBABA_KEY_ID, ALIBABA_SECRET)
        fake.add_cluster(ALIBABA_CLUSTER)

    def settings(self) -> dict[str, Any]:
        return {
            "regionId": ALIBABA_REGION,
            "ecsEndpoint": self.fake.endpoint,
            "csEndpoint": self.fake.endpoint,
            "scheme": "http",
            "credentials": "env",
            "callTimeout": "5s",
            "backoffInitial": "100ms",
            "backoffMax": "1s",
        }

    def env(self, *, bad_credentials: bool = False) -> dict[str, str]:
        return {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": ALIBABA_KEY_ID,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong" + ALIBABA_SECRET[5:]
            if bad_credentials
            else ALIBABA_SECRET,
        }

    def add_pool(self, fleet: Fleet, name: str, *, price: float, in_stock: bool = True) -> dict[str, Any]:
        # one instance type per pool, so that stock and price are per pool
        instance_type = f"ecs.g7.{len(self.pools) + 2}xlarge"
        node_pool_id = f"np-{name}"
        self.fake.add_instance_type(instance_type, fleet.node_cpu_milli // 1000)
        self.fake.set_price(ALIBABA_ZONE, instance_type, price, "CNY")
        self.fake.add_node_pool(
            ALIBABA_CLUSTER,
            node_pool_id,
            instance_type=instance_type,
            zone=ALIBABA_ZONE,
            tags={POOL_TAG: name},
        )
        self.pools[name] = _AckPool(node_pool_id, instance_type)
        self.set_stock(name, in_stock)
        return native_pool(
            fleet,
            name,
            provider=self.provider,
            cluster_id=ALIBABA_CLUSTER,
            node_pool_id=node_pool_id,
            instance_type=instance_type,
            zone=ALIBABA_ZONE,
        )

    def set_stock(self, name: str, in_stock: bool) -> None:
        category = "WithStock" if in_stock else "SoldOut"
        self.fake.set_stock(ALIBABA_ZONE, self.pools[name].instance_type, category)

    def throttle_scale_ups(self, times: int) -> None:
        self.fake.fail("ScaleClusterNodePool", "Throttling.User", status=400, times=times)

    def scale_up_requests(self, name: str) -> list[float]:
        path = f"/nodepools/{self.pools[name].node_pool_id}"
        return [r.at for r in self.fake.request_log("ScaleClusterNodePool") if path in r.path]

    def desired(self, name: str) -> int:
        return self.fake.node_pool_desired(ALIBABA_CLUSTER, self.pools[name].node_pool_id)

    def members(self, name: str) -> list[dict[str, Any]]:
        node_pool_id = self.pools[name].node_pool_id
        ready = set(self.fake.ready_members(ALIBABA_CLUSTER, node_pool_id))
        return [
            member_as_machine(i, ready=i in ready)
            for i in self.fake.node_pool_members(ALIBABA_CLUSTER, node_pool_id)
        ]

    def leak(self, name: str) -> str:
        return self.fake.leak_instance(name, self.pools[name].instance_type, ALIBABA_ZONE)

    def alive(self, name: str) -> list[str]:
        return self.fake.instances_of(name)


@contextmanager
def alibaba_cloud() -> Iterator[CloudUnderTest]:
    with FakeAlibabaCloud(region_id=ALIBABA_REGION, clock=time.monotonic, launch_delay=LAUNCH_DELAY) as fake:
        yield AlibabaCloud(fake)


# ------------------------------------------------------------------------------------------ Tencent Cloud

TENCENT_SECRET_ID = "AKIDburstdE2eScenario0123456789abcd"
TENCENT_SECRET_KEY = "burstdE2eScenarioSecretKey-never-logged"
TENCENT_REGION = "ap-guangzhou"
TENCENT_ZONE = "ap-guangzhou-3"
TENCENT_CLUSTER = "cls-e2e00001"
TENCENT_IMAGE = "img-burstd01"
TENCENT_TYPES = ("S5.2XLARGE16", "S5.4XLARGE32", "SA5.2XLARGE16")


@dataclass
class _TkePool:
    node_pool_id: str
    instance_type: str


class TencentCloud:
    provider: str = "tencentcloud"
    secrets: tuple[str, ...] = (TENCENT_SECRET_KEY,)

    def __init__(self, fake: FakeTencentCloud) -> None:
        self.fake = fake
        self.pools: dict[str, _TkePool] = {}
        fake.add_cluster(TENCENT_CLUSTER)
        fake.add_image(TENCENT_IMAGE)
        fake.set_quota(TENCENT_ZONE, 100)  # the zone's pay-as-you-go instance quota

    def settings(self) -> dict[str, Any]:
        return {
            "region": TENCENT_REGION,
            "endpoint": self.fake.endpoint,
            "scheme": "http",
            "credentials": "env",
            "callTimeout": "5s",
            "imageId": TENCENT_IMAGE,
        }

    def env(self, *, bad_credentials: bool = False) -> dict[str, str]:
        return {
            "TENCENTCLOUD_SECRET_ID": TENCENT_SECRET_ID,
            "TENCENTCLOUD_SECRET_KEY": "wrong" + TENCENT_SECRET_KEY[5:]
            if bad_credentials
            else TENCENT_SECRET_KEY,
        }

    def add_pool(self, fleet: Fleet, name: str, *, price: float, in_stock: bool = True) -> dict[str, Any]:
        instance_type = TENCENT_TYPES[len(self.pools)]
        node_pool_id = f"np-{name}"
        self.fake.add_offer(TENCENT_ZONE, instance_type, in_stock=in_stock, price=price)
        self.fake.add_node_pool(
            TENCENT_CLUSTER, node_pool_id, zone=TENCENT_ZONE, instance_type=instance_type, pool=name
        )
        self.pools[name] = _TkePool(node_pool_id, instance_type)
        return native_pool(
            fleet,
            name,
            provider=self.provider,
            cluster_id=TENCENT_CLUSTER,
            node_pool_id=node_pool_id,
            instance_type=instance_type,
            zone=TENCENT_ZONE,
        )

    def set_stock(self, name: str, in_stock: bool) -> None:
        self.fake.set_stock(TENCENT_ZONE, self.pools[name].instance_type, in_stock)

    def throttle_scale_ups(self, times: int) -> None:
        self.fake.fail("ModifyNodePoolDesiredCapacityAboutAsg", "RequestLimitExceeded", times=times)

    def scale_up_requests(self, name: str) -> list[float]:
        node_pool_id = self.pools[name].node_pool_id
        return [
            r.at
            for r in self.fake.requests("ModifyNodePoolDesiredCapacityAboutAsg")
            if r.params.get("NodePoolId") == node_pool_id
        ]

    def desired(self, name: str) -> int:
        return self.fake.node_pool_desired(TENCENT_CLUSTER, self.pools[name].node_pool_id)

    def members(self, name: str) -> list[dict[str, Any]]:
        node_pool_id = self.pools[name].node_pool_id
        ready = set(self.fake.ready_members(TENCENT_CLUSTER, node_pool_id))
        return [
            member_as_machine(i, ready=i in ready)
            for i in self.fake.node_pool_members(TENCENT_CLUSTER, node_pool_id)
        ]

    def leak(self, name: str) -> str:
        return self.fake.leak_instance(name, zone=TENCENT_ZONE, instance_type=self.pools[name].instance_type)

    def alive(self, name: str) -> list[str]:
        return sorted(self.fake.instances_of(name))


@contextmanager
def tencent_cloud() -> Iterator[CloudUnderTest]:
    with FakeTencentCloud(
        secret_id=TENCENT_SECRET_ID,
        secret_key=TENCENT_SECRET_KEY,
        region=TENCENT_REGION,
        clock=time.time,
        launch_delay=LAUNCH_DELAY,
    ) as fake:
        yield TencentCloud(fake)
