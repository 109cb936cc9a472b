"""Read the documented reply shapes (the SDK response bodies as maps) into burstd values. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from burstd.cloud.provider import InvalidRequest
from burstd.model.cloud import Instance, InstanceState, NodePoolMember
from burstd_provider_alibabacloud.errors import NAME

__all__ = [
    "IN_STOCK_CATEGORIES",
    "MAX_POSTPAID_VCPUS",
    "USED_POSTPAID_VCPUS",
    "has_tag",
    "instance_from",
    "instances_page",
    "member_from",
    "parse_time",
    "postpaid_vcpu_headroom",
    "price_from",
    "stock_from",
    "vcpus_from",
]

#: ``StatusCategory`` values of a resource that can be launched now (ClosedWithStock: being retired but
#: still stocked); WithoutStock, ClosedWithoutStock and SoldOut cannot
IN_STOCK_CATEGORIES = frozenset({"WithStock", "ClosedWithStock"})
MAX_POSTPAID_VCPUS = "max-postpaid-instance-vcpu-count"
USED_POSTPAID_VCPUS = "used-postpaid-instance-vcpu-count"

_STATES: dict[str, InstanceState] = {
    "Pending": InstanceState.PENDING,
    "Starting": InstanceState.PENDING,
    "Running": InstanceState.RUNNING,
    "Stopping": InstanceState.STOPPING,
    # A stopped pay-as-you-go instance is still billed (unless stopped in economical mode): alive.
    "Stopped": InstanceState.STOPPING,
}


def _list(value: Any, *keys: str) -> list[Any]:
    """``value[k1][k2]...`` as a list (the RPC replies wrap lists: ``{"Instances": {"Instance": [...]}}``)."""
    for key in keys:
        if not isinstance(value, Mapping):
            return []
        value = value.get(key)
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _bad_reply(action: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{action} reply is missing {what}", provider=NAME, code="MalformedReply")


def stock_from(body: Mapping[str, Any], zone: str, instance_type: str) -> bool:
    """DescribeAvailableResource: the instance type is launchable in the zone now."""
    for available_zone in _list(body, "AvailableZones", "AvailableZone"):
        if available_zone.get("ZoneId") != zone:
            continue
        if available_zone.get("Status") not in (None, "Available"):
            return False
        for resource in _list(available_zone, "AvailableResources", "AvailableResource"):
            for supported in _list(resource, "SupportedResources", "SupportedResource"):
                if supported.get("Value") == instance_type:
                    return (
                        supported.get("Status") == "Available"
                        and supported.get("StatusCategory") in IN_STOCK_CATEGORIES
                    )
    return False


def price_from(body: Mapping[str, Any]) -> tuple[float, str]:
    """DescribePrice: (TradePrice per hour, currency)."""
    price = body.get("PriceInfo", {}).get("Price") if isinstance(body.get("PriceInfo"), Mapping) else None
    if not isinstance(price, Mapping) or price.get("TradePrice") is None:
        raise _bad_reply("DescribePrice", "PriceInfo.Price.TradePrice")
    currency = price.get("Currency")
    if not isinstance(currency, str) or not currency:
        raise _bad_reply("DescribePrice", "PriceInfo.Price.Currency")
    return float(price["TradePrice"]), currency


def vcpus_from(body: Mapping[str, Any], instance_type: str) -> int:
    """DescribeInstanceTypes: the type's vCPU count."""
    for item in _list(body, "InstanceTypes", "InstanceType"):
        if item.get("InstanceTypeId") == instance_type and int(item.get("CpuCoreCount") or 0) > 0:
            return int(item["CpuCoreCount"])
    raise InvalidRequest(
        f"instance type {instance_type!r} is unknown to DescribeInstanceTypes in this region",
        provider=NAME,
        code="InvalidInstanceType.NotFound",
    )


def postpaid_vcpu_headroom(body: Mapping[str, Any]) -> int:
    """DescribeAccountAttributes: pay-as-you-go vCPUs the account may still launch (max - used)."""
    values: dict[str, int] = {}
    for item in _list(body, "AccountAttributeItems", "AccountAttributeItem"):
        name = item.get("AttributeName")
        for value in _list(item, "AttributeValues", "ValueItem"):
            if value.get("InstanceChargeType") not in (None, "", "PostPaid"):
                continue
            try:
                values[name] = values.get(name, 0) + int(value.get("Value"))
            except (TypeError, ValueError):
                continue
    if MAX_POSTPAID_VCPUS not in values:
        raise _bad_reply("DescribeAccountAttributes", MAX_POSTPAID_VCPUS)
    return max(0, values[MAX_POSTPAID_VCPUS] - values.get(USED_POSTPAID_VCPUS, 0))


def parse_time(text: str | None) -> float:
    """ECS ``2026-11-22T02:57Z`` / ``...:08Z`` and CS ``2026-11-22T10:57:08+08:00`` as epoch seconds."""
    if not text:
        return 0.0
    raw = text.strip()
    if raw.endswith("Z"):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def instance_from(item: Mapping[str, Any], pool: str) -> Instance | None:
    """One DescribeInstances item; None for a status burstd does not know (logged by the caller)."""
    state = _STATES.get(str(item.get("Status")))
    instance_id = item.get("InstanceId")
    if state is None or not instance_id:
        return None
    return Instance(
        id=str(instance_id), pool=pool, state=state, created_at=parse_time(item.get("CreationTime"))
    )


def instances_page(body: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], str | None]:
    """DescribeInstances (NextToken paging): the page's items and the next token ('' / None: done)."""
    token = body.get("NextToken")
    return _list(body, "Instances", "Instance"), (str(token) if token else None)


def has_tag(item: Mapping[str, Any], key: str, value: str) -> bool:
    return any(
        tag.get("TagKey") == key and tag.get("TagValue") == value for tag in _list(item, "Tags", "Tag")
    )


def member_from(node: Mapping[str, Any]) -> NodePoolMember | None:
    """One DescribeClusterNodes node (ACK ``state``: initial, running, failed, removing, removed...)."""
    instance_id = node.get("instance_id")
    if not instance_id:
        return None
    state = str(node.get("state") or "")
    name = node.get("node_name") or None
    return NodePoolMember(
        instance_id=str(instance_id),
        node_name=str(name) if name else None,
        ready=state == "running" and node.get("node_status") in (None, "", "Ready"),
        created_at=parse_time(node.get("creation_time")),
        deleting=state in ("removing", "removed", "deleting", "draining"),
        failed=state == "failed",
    )
