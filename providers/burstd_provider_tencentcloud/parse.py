"""Reading the API's answers (as the SDK models' JSON) into burstd's values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from burstd.cloud.provider import POOL_TAG, Instance, InstanceState, NodePoolMember
from burstd_provider_tencentcloud.errors import PROVIDER_NAME

__all__ = [
    "CVM_STATES",
    "as_dict",
    "cvm_instance",
    "has_pool_tag",
    "node_pool_member",
    "parse_time",
]

#: CVM ``InstanceState`` -> burstd. Anything still billed or about to be is alive: a stopped postpaid
#: instance may still bill, SHUTDOWN is "stopped, waiting to be destroyed". A failed launch bills nothing.
CVM_STATES: Final[Mapping[str, InstanceState]] = {
    "PENDING": InstanceState.PENDING,
    "STARTING": InstanceState.PENDING,
    "RUNNING": InstanceState.RUNNING,
    "REBOOTING": InstanceState.RUNNING,
    "STOPPING": InstanceState.STOPPING,
    "STOPPED": InstanceState.STOPPING,
    "SHUTDOWN": InstanceState.STOPPING,
    "TERMINATING": InstanceState.STOPPING,
    "LAUNCH_FAILED": InstanceState.TERMINATED,
}


def as_dict(model: Any) -> dict[str, Any]:
    """An SDK response model as plain JSON data (the documented field names)."""
    data = json.loads(model.to_json_string())
    if not isinstance(data, dict):
        raise TypeError(f"{type(model).__name__} did not serialise to an object")
    return data


def parse_time(text: object) -> float:
    """``2026-11-22T08:00:00Z`` (CVM, TKE) or ``2026-11-22 08:00:00`` (read as UTC) -> epoch seconds; 0 if
    the API left it out."""
    if not isinstance(text, str) or not text.strip():
        return 0.0
    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{PROVIDER_NAME}: unreadable timestamp {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _tags(item: Mapping[str, Any]) -> dict[str, str]:
    tags: Sequence[Mapping[str, Any]] = item.get("Tags") or ()
    return {str(tag.get("Key")): str(tag.get("Value")) for tag in tags if tag.get("Key") is not None}


def has_pool_tag(item: Mapping[str, Any], pool: str) -> bool:
    return _tags(item).get(POOL_TAG) == pool


def cvm_instance(item: Mapping[str, Any], pool: str) -> Instance:
    """One ``DescribeInstances`` item. An unknown state counts as running (alive: a leak check sees it)."""
    state = CVM_STATES.get(str(item.get("InstanceState") or "").upper(), InstanceState.RUNNING)
    return Instance(
        id=str(item["InstanceId"]), pool=pool, state=state, created_at=parse_time(item.get("CreatedTime"))
    )


def node_pool_member(item: Mapping[str, Any]) -> NodePoolMember:
    """One ``DescribeClusterInstances`` item: ``InstanceState`` running | initializing | failed (deleting
    when TKE is removing it). TKE names nodes by their LAN IP unless the cluster uses hostnames, which this
    API does not report: ``node_name`` is the LAN IP, None before one is assigned."""
    state = str(item.get("InstanceState") or "").lower()
    lan_ip = item.get("LanIP")
    return NodePoolMember(
        instance_id=str(item["InstanceId"]),
        node_name=str(lan_ip) if lan_ip else None,
        ready=state == "running",
        created_at=parse_time(item.get("CreatedTime")),
        deleting=state in ("deleting", "terminating", "removing"),
        failed=state == "failed",
    )
