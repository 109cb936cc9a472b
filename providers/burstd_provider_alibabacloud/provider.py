"""AlibabaCloudProvider: quotes, the instance truth and native ACK node pools through the real SDKs
(``alibabacloud-ecs20140526`` and ``alibabacloud-cs20151215`` ``*_async`` methods)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, TypeVar

from alibabacloud_cs20151215 import models as cs_models
from alibabacloud_ecs20140526 import models as ecs_models

from burstd.cloud.provider import InvalidRequest, ProviderError
from burstd.model.cloud import POOL_TAG, Instance, NodePool, NodePoolMember, Quote
from burstd.policy.spec import NodePoolRef, PoolSpec
from burstd_provider_alibabacloud.clients import make_cs, make_ecs
from burstd_provider_alibabacloud.credentials import credential_client
from burstd_provider_alibabacloud.errors import NAME, classify_error
from burstd_provider_alibabacloud.replies import (
    MAX_POSTPAID_VCPUS,
    USED_POSTPAID_VCPUS,
    has_tag,
    instance_from,
    instances_page,
    member_from,
    postpaid_vcpu_headroom,
    price_from,
    stock_from,
    vcpus_from,
)
from burstd_provider_alibabacloud.retrying import Caller, Sleep
from burstd_provider_alibabacloud.settings import Settings

__all__ = ["AlibabaCloudProvider"]

T = TypeVar("T")
log = logging.getLogger("burstd.provider.alibabacloud")
#: DescribeInstances MaxResults / InstanceIds, DeleteInstances InstanceId.N, DescribeClusterNodes pageSize
PAGE = 100


def _body(response: Any) -> Mapping[str, Any]:
    body = getattr(response, "body", None)
    result = body.to_map() if body is not None else {}
    return result if isinstance(result, Mapping) else {}


class AlibabaCloudProvider:
    """Alibaba Cloud ECS + ACK. Keyword settings: see :class:`Settings` (``region_id`` required)."""

    name: ClassVar[str] = "alibabacloud"

    def __init__(
        self, *, credentials_provider: Any = None, sleep: Sleep = asyncio.sleep, **config: Any
    ) -> None:
        self.settings = Settings.from_config(config)
        credential = credential_client(self.settings, credentials_provider)
        self._ecs = make_ecs(self.settings, credential)
        self._cs = make_cs(self.settings, credential)
        self._caller = Caller(self.settings, sleep)
        self._vcpus: dict[str, int] = {}
        self._closed = False

    def __repr__(self) -> str:  # never shows the credentials
        return f"AlibabaCloudProvider(region_id={self.settings.region_id!r})"

    # ------------------------------------------------------------------ plumbing

    def classify(self, error: Exception) -> ProviderError:
        return classify_error(error)

    async def aclose(self) -> None:
        # The SDK opens one aiohttp session per request and closes it; nothing is held between calls.
        self._closed = True

    async def _call(
        self, action: str, send: Callable[[], Awaitable[Any]], pool: PoolSpec
    ) -> Mapping[str, Any]:
        if self._closed:
            raise InvalidRequest("the provider is closed", provider=NAME, pool=pool.name)
        return _body(await self._caller.call(action, send, pool=pool.name))

    @staticmethod
    def _typed(pool: PoolSpec) -> tuple[str, str]:
        if not pool.instance_type or not pool.zone:
            raise InvalidRequest(
                "an Alibaba Cloud pool needs instanceType and zone to be quoted",
                provider=NAME,
                pool=pool.name,
                code="MissingParameter",
            )
        return pool.instance_type, pool.zone

    # ------------------------------------------------------------------ quotes

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        async with self._caller.deadline("quote", pool.name):
            return await self._quote(pool, nodes)

    async def _quote(self, pool: PoolSpec, nodes: int) -> Quote:
        instance_type, zone = self._typed(pool)
        region = self.settings.region_id
        stock = await self._call(
            "DescribeAvailableResource",
            lambda: self._ecs.describe_available_resource_async(
                ecs_models.DescribeAvailableResourceRequest(
                    region_id=region,
                    zone_id=zone,
                    destination_resource="InstanceType",
                    instance_type=instance_type,
                    instance_charge_type="PostPaid",
                    resource_type="instance",
                )
            ),
            pool,
        )
        price = await self._call(
            "DescribePrice",
            lambda: self._ecs.describe_price_async(
                ecs_models.DescribePriceRequest(
                    region_id=region,
                    zone_id=zone,
                    resource_type="instance",
                    instance_type=instance_type,
                    price_unit="Hour",
                    period=1,
                    amount=1,
                )
            ),
            pool,
        )
        per_hour, currency = price_from(price)
        vcpus = await self._vcpus_of(pool, instance_type)
        attributes = await self._call(
            "DescribeAccountAttributes",
            lambda: self._ecs.describe_account_attributes_async(
                ecs_models.DescribeAccountAttributesRequest(
                    region_id=region, attribute_name=[MAX_POSTPAID_VCPUS, USED_POSTPAID_VCPUS]
                )
            ),
            pool,
        )
        return Quote(
            in_stock=stock_from(stock, zone, instance_type),
            quota_headroom_nodes=postpaid_vcpu_headroom(attributes) // vcpus,
            price_per_node_hour=per_hour,
            currency=currency,
        )

    async def _vcpus_of(self, pool: PoolSpec, instance_type: str) -> int:
        if instance_type not in self._vcpus:
            body = await self._call(
                "DescribeInstanceTypes",
                lambda: self._ecs.describe_instance_types_async(
                    ecs_models.DescribeInstanceTypesRequest(instance_types=[instance_type])
                ),
                pool,
            )
            try:
                self._vcpus[instance_type] = vcpus_from(body, instance_type)
            except InvalidRequest as error:
                raise InvalidRequest(error.message, provider=NAME, pool=pool.name, code=error.code) from None
        return self._vcpus[instance_type]

    # ------------------------------------------------------------------ the cloud's truth

    async def _describe(self, pool: PoolSpec, instance_ids: Sequence[str] | None = None) -> list[Instance]:
        found: list[Instance] = []
        token: str | None = None
        while True:
            request = ecs_models.DescribeInstancesRequest(
                region_id=self.settings.region_id,
                tag=[ecs_models.DescribeInstancesRequestTag(key=POOL_TAG, value=pool.name)],
                max_results=PAGE,
                next_token=token,
                instance_ids=json.dumps(list(instance_ids)) if instance_ids is not None else None,
            )
            body = await self._call(
                "DescribeInstances", partial(self._ecs.describe_instances_async, request), pool
            )
            items, token = instances_page(body)
            for item in items:
                if not has_tag(item, POOL_TAG, pool.name):
                    continue  # the filter is the cloud's; keep the promise even if it slips
                instance = instance_from(item, pool.name)
                if instance is None:
                    log.warning(
                        "instance with an unknown status ignored",
                        extra={
                            "pool": pool.name,
                            "instance": item.get("InstanceId"),
                            "status": item.get("Status"),
                        },
                    )
                    continue
                found.append(instance)
            if not token or not items:
                return found

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        async with self._caller.deadline("instances", pool.name):
            return await self._describe(pool)

    async def terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        async with self._caller.deadline("terminate", pool.name):
            await self._terminate(pool, instance_ids)

    async def _terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        wanted = list(dict.fromkeys(instance_ids))
        for start in range(0, len(wanted), PAGE):
            batch = wanted[start : start + PAGE]
            # Re-check: only ids that still exist AND carry this pool's tag are deleted.
            mine = [i.id for i in await self._describe(pool, batch)]
            if not mine:
                continue
            try:
                await self._call(
                    "DeleteInstances",
                    partial(
                        self._ecs.delete_instances_async,
                        ecs_models.DeleteInstancesRequest(
                            region_id=self.settings.region_id, instance_id=mine, force=True
                        ),
                    ),
                    pool,
                )
            except InvalidRequest as error:
                if error.code != "InvalidInstanceId.NotFound":
                    raise  # gone between the check and the delete: the goal is met

    # ------------------------------------------------------------------ native ACK node pools

    @staticmethod
    def _ref(pool: PoolSpec) -> NodePoolRef:
        if pool.node_pool is None:
            raise InvalidRequest(
                "pool has no nodePool {clusterId, nodePoolId}: not an ack-nodepool pool",
                provider=NAME,
                pool=pool.name,
                code="MissingParameter",
            )
        return pool.node_pool

    async def _members(self, pool: PoolSpec, ref: NodePoolRef) -> list[NodePoolMember]:
        members: list[NodePoolMember] = []
        page = 1
        while True:
            request = cs_models.DescribeClusterNodesRequest(
                nodepool_id=ref.node_pool_id, page_number=str(page), page_size=str(PAGE)
            )
            body = await self._call(
                "DescribeClusterNodes",
                partial(self._cs.describe_cluster_nodes_async, ref.cluster_id, request),
                pool,
            )
            nodes = body.get("nodes") or []
            for node in nodes:
                if isinstance(node, Mapping) and node.get("nodepool_id") in (None, ref.node_pool_id):
                    member = member_from(node)
                    if member is not None:
                        members.append(member)
            total = int((body.get("page") or {}).get("total_count") or 0)
            if not nodes or page * PAGE >= total:
                return members
            page += 1

    async def node_pool(self, pool: PoolSpec) -> NodePool:
        async with self._caller.deadline("node_pool", pool.name):
            return await self._node_pool(pool)

    async def _node_pool(self, pool: PoolSpec) -> NodePool:
        ref = self._ref(pool)
        detail = await self._call(
            "DescribeClusterNodePoolDetail",
            lambda: self._cs.describe_cluster_node_pool_detail_async(ref.cluster_id, ref.node_pool_id),
            pool,
        )
        scaling = detail.get("scaling_group") or {}
        auto = detail.get("auto_scaling") or {}
        members = await self._members(pool, ref)
        desired = scaling.get("desired_size")
        return NodePool(
            id=ref.node_pool_id,
            desired=int(desired) if desired is not None else len(members),
            members=tuple(members),
            autoscaling=bool(auto.get("enable")),
        )

    async def scale_node_pool(self, pool: PoolSpec, desired: int) -> None:
        """Raise: ScaleClusterNodePool adds ``count`` nodes. Lower: RemoveNodePoolNodes of the members
        that matter least (not Ready first, then the newest), which drops the desired size by as many:
        ModifyClusterNodePool is avoided because the SDK sends unset scaling-group lists as ``[]``."""
        async with self._caller.deadline("scale_node_pool", pool.name):
            await self._scale_node_pool(pool, desired)

    async def _scale_node_pool(self, pool: PoolSpec, desired: int) -> None:
        if isinstance(desired, bool) or not isinstance(desired, int) or desired < 0:
            raise InvalidRequest(
                f"desired must be an int >= 0, got {desired!r}", provider=NAME, pool=pool.name
            )
        ref = self._ref(pool)
        current = await self._node_pool(pool)
        if desired > current.desired:
            count = desired - current.desired
            await self._call(
                "ScaleClusterNodePool",
                lambda: self._cs.scale_cluster_node_pool_async(
                    ref.cluster_id, ref.node_pool_id, cs_models.ScaleClusterNodePoolRequest(count=count)
                ),
                pool,
            )
            return
        excess = current.desired - desired
        if excess == 0:
            return
        candidates = sorted(
            (m for m in current.members if not m.deleting),
            key=lambda m: (m.ready, -m.created_at),
        )
        if len(candidates) < excess:
            raise InvalidRequest(
                f"cannot lower node pool {ref.node_pool_id} from {current.desired} to {desired}: only "
                f"{len(candidates)} node(s) are listed to remove (others are still launching); retry later",
                provider=NAME,
                pool=pool.name,
                code="NodesNotListed",
            )
        await self._remove(pool, ref, [m.instance_id for m in candidates[:excess]])

    async def remove_nodes(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        async with self._caller.deadline("remove_nodes", pool.name):
            await self._remove_nodes(pool, instance_ids)

    async def _remove_nodes(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        ref = self._ref(pool)
        present = {m.instance_id for m in await self._members(pool, ref) if not m.deleting}
        ids = [i for i in dict.fromkeys(instance_ids) if i in present]  # gone already: not an error
        for start in range(0, len(ids), PAGE):
            await self._remove(pool, ref, ids[start : start + PAGE])

    async def _remove(self, pool: PoolSpec, ref: NodePoolRef, ids: list[str]) -> None:
        if not ids:
            return
        await self._call(
            "RemoveNodePoolNodes",
            lambda: self._cs.remove_node_pool_nodes_async(
                ref.cluster_id,
                ref.node_pool_id,
                cs_models.RemoveNodePoolNodesRequest(instance_ids=ids, release_node=True, drain_node=True),
            ),
            pool,
        )
