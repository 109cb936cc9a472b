"""TencentCloudProvider: CVM stock, price, quota and instances, and native TKE node pools, through the
Tencent Cloud SDK's async (httpx) clients.

API calls (every one through :func:`call_with_retries`: a deadline, bounded retries of Throttled and
Unavailable only):

- quote: ``cvm:DescribeZoneInstanceConfigInfos`` (stock), ``cvm:InquiryPriceRunInstances`` (price; without
  an ``image_id`` setting, the price that DescribeZoneInstanceConfigInfos reports), ``cvm:DescribeAccountQuota``
  (pay-as-you-go quota in the zone);
- instances / terminate: ``cvm:DescribeInstances`` (by tag, or by id to re-check the tag),
  ``cvm:TerminateInstances``;
- node pools: ``tke:DescribeClusterNodePoolDetail``, ``tke:DescribeClusterInstances``,
  ``tke:ModifyNodePoolDesiredCapacityAboutAsg``, ``tke:DeleteClusterInstances``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Final

from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.cvm.v20170312 import cvm_client_async
from tencentcloud.cvm.v20170312 import models as cvm_models
from tencentcloud.tke.v20180525 import models as tke_models
from tencentcloud.tke.v20180525 import tke_client_async

from burstd.cloud.provider import (
    POOL_TAG,
    Instance,
    InvalidRequest,
    NodePool,
    NodePoolMember,
    ProviderError,
    Quote,
    Unavailable,
)
from burstd.policy.spec import NodePoolRef, PoolSpec
from burstd_provider_tencentcloud.config import ProviderConfig, parse_config
from burstd_provider_tencentcloud.credentials import SigningCredential, make_credential
from burstd_provider_tencentcloud.errors import PROVIDER_NAME, classify
from burstd_provider_tencentcloud.parse import as_dict, cvm_instance, has_pool_tag, node_pool_member
from burstd_provider_tencentcloud.retry import RetryPolicy, Sleep, call_with_retries

__all__ = ["CHARGE_TYPE", "TencentCloudProvider"]

#: burst nodes are pay-as-you-go
CHARGE_TYPE: Final = "POSTPAID_BY_HOUR"
_PAGE: Final = 100  # the API's largest page and its most ids per call
_MAX_PAGES: Final = 1000
_SDK_LOGGER: Final = "tencentcloud_sdk_common"
#: AutoscalingGroupStatus values meaning TKE's own cluster autoscaler drives the node pool
_AUTOSCALING_ON: Final = frozenset({"enabled", "enabling"})
_GONE_STATES: Final = frozenset({"TERMINATING", "LAUNCH_FAILED"})


class _NoSdkDebug(logging.Filter):
    """The SDK logs whole requests at DEBUG (headers included: X-TC-Token is a session token). Drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _silence_sdk_debug() -> None:
    logger = logging.getLogger(_SDK_LOGGER)
    if not any(isinstance(f, _NoSdkDebug) for f in logger.filters):
        logger.addFilter(_NoSdkDebug())


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + _PAGE] for i in range(0, len(unique), _PAGE)]


class TencentCloudProvider:
    """A ``CloudProvider`` and ``NodePoolBackend`` for Tencent Cloud (CVM + TKE).

    Settings (keyword arguments, from the burstd settings file): ``region`` (required), ``endpoint``,
    ``scheme``, ``credentials``, ``call_timeout``, ``attempt_timeout``, ``max_attempts``, ``currency``,
    ``image_id``, ``language`` (see :mod:`.config`). ``sleep`` replaces the backoff sleep (tests).
    """

    name: ClassVar[str] = PROVIDER_NAME

    def __init__(self, *, sleep: Sleep | None = None, **settings: Any) -> None:
        self.config: ProviderConfig = parse_config(settings)
        self._credential: SigningCredential = make_credential(self.config.credentials)
        policy = RetryPolicy(
            deadline=self.config.call_timeout,
            attempt_timeout=self.config.per_attempt_timeout,
            max_attempts=self.config.max_attempts,
        )
        self._policy = policy if sleep is None else replace(policy, sleep=sleep)
        _silence_sdk_debug()
        self._cvm: Any = cvm_client_async.CvmClient(self._credential, self.config.region, self._profile())
        self._tke: Any = tke_client_async.TkeClient(self._credential, self.config.region, self._profile())
        self._closed = False

    def __repr__(self) -> str:
        return f"TencentCloudProvider(region={self.config.region!r}, credentials={self._credential.description!r})"

    def _profile(self) -> Any:
        http = HttpProfile(
            protocol=self.config.scheme,
            endpoint=self.config.endpoint,
            reqTimeout=self.config.per_attempt_timeout,
        )
        return ClientProfile(
            httpProfile=http,
            language=self.config.language,
            disable_region_breaker=True,  # its "backup endpoint" would leave a configured endpoint
            request_client="burstd",
        )

    # ------------------------------------------------------------------------------------------ plumbing

    async def _call(
        self, client: Any, models: Any, action: str, params: dict[str, Any], *, pool: str | None
    ) -> dict[str, Any]:
        async def send() -> dict[str, Any]:
            await self._credential.refresh()
            request = getattr(models, f"{action}Request")()
            request.from_json_string(json.dumps(params))
            response = await getattr(client, action)(request)
            return as_dict(response)

        return await call_with_retries(
            send, action=action, policy=self._policy, pool=pool, secrets=self._credential.secrets
        )

    async def _cvm_call(self, action: str, params: dict[str, Any], pool: PoolSpec) -> dict[str, Any]:
        return await self._call(self._cvm, cvm_models, action, params, pool=pool.name)

    async def _tke_call(self, action: str, params: dict[str, Any], pool: PoolSpec) -> dict[str, Any]:
        return await self._call(self._tke, tke_models, action, params, pool=pool.name)

    def classify(self, error: Exception) -> ProviderError:
        return classify(error, secrets=self._credential.secrets())

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for client in (self._cvm, self._tke):
            await client.close()

    # ------------------------------------------------------------------------------------------ quotes

    @staticmethod
    def _placement(pool: PoolSpec) -> tuple[str, str]:
        if pool.zone and pool.instance_type:
            return pool.zone, pool.instance_type
        missing = " and no ".join(key for key in ("zone", "instance_type") if not getattr(pool, key))
        raise InvalidRequest(
            f"pool {pool.name!r} sets no {missing}: a Tencent Cloud pool names the CVM zone "
            "(e.g. ap-guangzhou-6) and instance type (e.g. S5.LARGE8) it launches",
            provider=PROVIDER_NAME,
            pool=pool.name,
        )

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        zone, instance_type = self._placement(pool)
        stock = await self._cvm_call(
            "DescribeZoneInstanceConfigInfos",
            {
                "Filters": [
                    {"Name": "zone", "Values": [zone]},
                    {"Name": "instance-type", "Values": [instance_type]},
                    {"Name": "instance-charge-type", "Values": [CHARGE_TYPE]},
                ]
            },
            pool,
        )
        offers = [
            item
            for item in stock.get("InstanceTypeQuotaSet") or ()
            if item.get("Zone") == zone and item.get("InstanceType") == instance_type
        ]
        if not offers:
            raise InvalidRequest(
                f"instance type {instance_type} is not offered pay-as-you-go in zone {zone} "
                f"(region {self.config.region})",
                provider=PROVIDER_NAME,
                pool=pool.name,
            )
        in_stock = any(
            item.get("Status") == "SELL" and item.get("StatusCategory") != "WithoutStock" for item in offers
        )
        price = await self._price(pool, zone, instance_type, offers[0])
        headroom = await self._quota_headroom(pool, zone)
        return Quote(
            in_stock=in_stock,
            quota_headroom_nodes=headroom,
            price_per_node_hour=price,
            currency=self.config.currency,
        )

    async def _price(self, pool: PoolSpec, zone: str, instance_type: str, offer: dict[str, Any]) -> float:
        if self.config.image_id is None:
            item = offer.get("Price") or {}
        else:
            answer = await self._cvm_call(
                "InquiryPriceRunInstances",
                {
                    "Placement": {"Zone": zone},
                    "ImageId": self.config.image_id,
                    "InstanceChargeType": CHARGE_TYPE,
                    "InstanceType": instance_type,
                    "InstanceCount": 1,
                },
                pool,
            )
            item = (answer.get("Price") or {}).get("InstancePrice") or {}
        unit = item.get("ChargeUnit")
        # UnitPriceDiscount is what the account pays (its discount applied); UnitPrice the list price
        value = item.get("UnitPriceDiscount")
        if value is None:
            value = item.get("UnitPrice")
        if value is None or (unit is not None and str(unit).upper() != "HOUR"):
            raise Unavailable(
                f"no hourly pay-as-you-go price for {instance_type} in {zone} (charge unit {unit!r})",
                provider=PROVIDER_NAME,
                pool=pool.name,
            )
        return float(value)

    async def _quota_headroom(self, pool: PoolSpec, zone: str) -> int:
        answer = await self._cvm_call(
            "DescribeAccountQuota",
            {
                "Filters": [
                    {"Name": "zone", "Values": [zone]},
                    {"Name": "quota-type", "Values": ["PostPaidQuotaSet"]},
                ]
            },
            pool,
        )
        overview = answer.get("AccountQuotaOverview") or {}
        quotas = (overview.get("AccountQuota") or {}).get("PostPaidQuotaSet") or ()
        for quota in quotas:
            if quota.get("Zone") != zone:
                continue
            remaining = quota.get("RemainingQuota")
            if remaining is None:
                remaining = int(quota.get("TotalQuota") or 0) - int(quota.get("UsedQuota") or 0)
            return max(0, int(remaining))
        return 0  # no pay-as-you-go quota in the zone: nothing can be launched there

    # ------------------------------------------------------------------------------------------ truth

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        found: list[Instance] = []
        offset = 0
        for _ in range(_MAX_PAGES):
            page = await self._cvm_call(
                "DescribeInstances",
                {
                    "Filters": [{"Name": f"tag:{POOL_TAG}", "Values": [pool.name]}],
                    "Offset": offset,
                    "Limit": _PAGE,
                },
                pool,
            )
            items = page.get("InstanceSet") or []
            found.extend(cvm_instance(item, pool.name) for item in items if has_pool_tag(item, pool.name))
            offset += len(items)
            if not items or offset >= int(page.get("TotalCount") or 0):
                break
        return found

    async def terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        for chunk in _chunks(instance_ids):
            # Re-check: only instances that still exist and carry this pool's tag are terminated.
            page = await self._cvm_call("DescribeInstances", {"InstanceIds": chunk, "Limit": _PAGE}, pool)
            items = page.get("InstanceSet") or []
            foreign = sorted(str(i["InstanceId"]) for i in items if not has_pool_tag(i, pool.name))
            if foreign:
                raise InvalidRequest(
                    f"refusing to terminate {', '.join(foreign)}: not tagged {POOL_TAG}={pool.name}",
                    provider=PROVIDER_NAME,
                    pool=pool.name,
                )
            doomed = [str(i["InstanceId"]) for i in items if str(i.get("InstanceState")) not in _GONE_STATES]
            if not doomed:
                continue
            try:
                await self._cvm_call("TerminateInstances", {"InstanceIds": doomed}, pool)
            except InvalidRequest as exc:
                if not (exc.code or "").startswith("InvalidInstanceId.NotFound"):
                    raise  # gone in between: done; anything else is a real refusal

    # ------------------------------------------------------------------------------------------ node pools

    @staticmethod
    def _node_pool_ref(pool: PoolSpec) -> NodePoolRef:
        if pool.node_pool is None:
            raise InvalidRequest(
                f"pool {pool.name!r} names no TKE node pool (nodePool: {{clusterId, nodePoolId}})",
                provider=PROVIDER_NAME,
                pool=pool.name,
            )
        return pool.node_pool

    async def node_pool(self, pool: PoolSpec) -> NodePool:
        ref = self._node_pool_ref(pool)
        detail = await self._tke_call(
            "DescribeClusterNodePoolDetail",
            {"ClusterId": ref.cluster_id, "NodePoolId": ref.node_pool_id},
            pool,
        )
        node_pool = detail.get("NodePool")
        if not node_pool:
            raise InvalidRequest(
                f"TKE cluster {ref.cluster_id} has no node pool {ref.node_pool_id}",
                provider=PROVIDER_NAME,
                pool=pool.name,
            )
        members = await self._members(pool, ref)
        status = str(node_pool.get("AutoscalingGroupStatus") or "").lower()
        return NodePool(
            id=ref.node_pool_id,
            desired=int(node_pool.get("DesiredNodesNum") or 0),
            members=tuple(members),
            autoscaling=status in _AUTOSCALING_ON,
        )

    async def _members(self, pool: PoolSpec, ref: NodePoolRef) -> list[NodePoolMember]:
        members: list[NodePoolMember] = []
        offset = 0
        for _ in range(_MAX_PAGES):
            page = await self._tke_call(
                "DescribeClusterInstances",
                {
                    "ClusterId": ref.cluster_id,
                    "InstanceRole": "WORKER",
                    "Filters": [{"Name": "nodepool-id", "Values": [ref.node_pool_id]}],
                    "Offset": offset,
                    "Limit": _PAGE,
                },
                pool,
            )
            items = page.get("InstanceSet") or []
            members.extend(
                node_pool_member(item)
                for item in items
                if item.get("NodePoolId") in (None, "", ref.node_pool_id)
            )
            offset += len(items)
            if not items or offset >= int(page.get("TotalCount") or 0):
                break
        return members

    async def scale_node_pool(self, pool: PoolSpec, desired: int) -> None:
        ref = self._node_pool_ref(pool)
        if isinstance(desired, bool) or not isinstance(desired, int) or desired < 0:
            raise InvalidRequest(
                f"desired node count must be an int >= 0, got {desired!r}",
                provider=PROVIDER_NAME,
                pool=pool.name,
            )
        await self._tke_call(
            "ModifyNodePoolDesiredCapacityAboutAsg",
            {"ClusterId": ref.cluster_id, "NodePoolId": ref.node_pool_id, "DesiredCapacity": desired},
            pool,
        )

    async def remove_nodes(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        """``DeleteClusterInstances`` with ``InstanceDeleteMode=terminate``: TKE removes the nodes from the
        cluster and its node pool, destroys the (pay-as-you-go) instances and lowers the pool's desired count.
        ``RemoveNodeFromNodePool`` would only move them out of the pool: still in the cluster, still billed."""
        ref = self._node_pool_ref(pool)
        members = {m.instance_id for m in await self._members(pool, ref)}
        # Only the pool's own members; an id no longer in the pool is already removed (idempotent).
        chosen = [i for i in dict.fromkeys(instance_ids) if i in members]
        for chunk in _chunks(chosen):
            answer = await self._tke_call(
                "DeleteClusterInstances",
                {
                    "ClusterId": ref.cluster_id,
                    "InstanceIds": chunk,
                    "InstanceDeleteMode": "terminate",
                    "ForceDelete": True,  # also nodes still initializing
                },
                pool,
            )
            failed = answer.get("FailedInstanceIds") or []
            if failed:
                raise Unavailable(
                    f"DeleteClusterInstances: TKE could not remove {', '.join(map(str, failed))} from node pool "
                    f"{ref.node_pool_id}",
                    provider=PROVIDER_NAME,
                    pool=pool.name,
                )
