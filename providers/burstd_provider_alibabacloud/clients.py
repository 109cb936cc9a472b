"""The SDK clients (ECS 2014-05-26 RPC, CS 2015-12-15 ROA), signing with ACS3-HMAC-SHA256 through the
credentials client; HTTP timeouts from the settings; the SDK's own retryer off."""

from __future__ import annotations

from typing import Any

from alibabacloud_cs20151215.client import Client as CsClient
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.utils_models import Config

from burstd_provider_alibabacloud.settings import Settings

__all__ = ["make_cs", "make_ecs"]


def _config(settings: Settings, credential: Any, endpoint: str | None) -> Any:
    timeout_ms = max(1, round(settings.per_attempt_timeout * 1000))
    return Config(
        credential=credential,
        region_id=settings.region_id,
        endpoint=endpoint,
        protocol=settings.scheme,
        connect_timeout=timeout_ms,
        read_timeout=timeout_ms,
        user_agent="burstd",
    )


def make_ecs(settings: Settings, credential: Any) -> Any:
    return EcsClient(_config(settings, credential, settings.ecs_endpoint))


def make_cs(settings: Settings, credential: Any) -> Any:
    return CsClient(_config(settings, credential, settings.cs_endpoint))
