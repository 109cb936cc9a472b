"""The provider's settings (the ``providers.tencentcloud`` block of the burstd settings file), checked.

Every key is optional except ``region``; an unknown key or a wrong value is a ``ValueError``/``TypeError``
naming the key, which the provider registry reports as a ``ProviderLoadError``. Keys arrive snake_case (the
daemon converts the settings file's camelCase); durations are seconds or strings such as ``10s``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from burstd.model.quantities import parse_duration

__all__ = ["CredentialsConfig", "ProviderConfig", "parse_config"]

CredentialSource = Literal["env", "file", "oidc"]

_REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_KNOWN_KEYS = (
    "region",
    "endpoint",
    "scheme",
    "credentials",
    "call_timeout",
    "attempt_timeout",
    "max_attempts",
    "currency",
    "image_id",
    "language",
)
_CREDENTIAL_KEYS = ("source", "path", "profile", "sts_endpoint")


@dataclass(frozen=True, slots=True)
class CredentialsConfig:
    """Where the SecretId/SecretKey come from.

    ``env``: ``TENCENTCLOUD_SECRET_ID``/``_KEY`` (and ``_SESSION_TOKEN``); ``file``: an INI credentials file
    (``path``, default the SDK's own locations; ``profile``, default ``default``); ``oidc``: TKE pod identity
    (``TKE_REGION``, ``TKE_ROLE_ARN``, ``TKE_PROVIDER_ID``, ``TKE_WEB_IDENTITY_TOKEN_FILE``), with an
    optional ``sts_endpoint`` (host[:port]) override.
    """

    source: CredentialSource = "env"
    path: Path | None = None
    profile: str = "default"
    sts_endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    region: str
    #: host[:port] serving both CVM and TKE (tests, private endpoints); None: the public endpoints
    endpoint: str | None = None
    scheme: Literal["https", "http"] = "https"
    credentials: CredentialsConfig = CredentialsConfig()
    #: seconds one provider call (one API action, retries included) may take in all
    call_timeout: float = 10.0
    #: seconds one HTTP attempt may take; default a third of call_timeout, so a stall is retried
    attempt_timeout: float | None = None
    #: attempts per API action (1..5)
    max_attempts: int = 5
    #: the API prices in yuan; accounts on the international site are billed in USD
    currency: str = "CNY"
    #: the image priced by InquiryPriceRunInstances (the API requires one); None: quotes are refused
    image_id: str | None = None
    #: the language of the API's error messages
    language: Literal["en-US", "zh-CN"] = "en-US"

    @property
    def per_attempt_timeout(self) -> float:
        return self.attempt_timeout if self.attempt_timeout is not None else self.call_timeout / 3


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key).lstrip("_")


def _where(key: str) -> str:
    return f"tencentcloud provider setting {key!r}"


def _positive(key: str, value: Any) -> float:
    """Seconds: a number, or a duration string such as ``10s``, ``500ms``, ``1m``."""
    if isinstance(value, str):
        try:
            value = parse_duration(value)
        except ValueError as exc:
            raise ValueError(f"{_where(key)}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{_where(key)} must be a duration (seconds, or e.g. '10s'), got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{_where(key)} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{_where(key)} must be a non-empty string, got {value!r}")
    return value


def _credentials(value: Any) -> CredentialsConfig:
    if value is None:
        return CredentialsConfig()
    if isinstance(value, str):
        value = {"source": value}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{_where('credentials')} must be 'env', 'file', 'oidc' or a mapping with 'source', got {value!r}"
        )
    value = {_snake(str(key)): item for key, item in value.items()}  # stsEndpoint as in the settings file
    unknown = sorted(set(value) - set(_CREDENTIAL_KEYS))
    if unknown:
        raise ValueError(
            f"{_where('credentials')}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(_CREDENTIAL_KEYS)}"
        )
    source = value.get("source", "env")
    if source not in ("env", "file", "oidc"):
        raise ValueError(f"{_where('credentials.source')} must be 'env', 'file' or 'oidc', got {source!r}")
    path = value.get("path")
    if path is not None and source != "file":
        raise ValueError(f"{_where('credentials.path')} applies only to source 'file'")
    sts_endpoint = value.get("sts_endpoint")
    if sts_endpoint is not None:
        if source != "oidc":
            raise ValueError(f"{_where('credentials.sts_endpoint')} applies only to source 'oidc'")
        if not _HOST_PORT.match(_string("credentials.sts_endpoint", sts_endpoint)):
            raise ValueError(
                f"{_where('credentials.sts_endpoint')} must be host[:port], got {sts_endpoint!r}"
            )
    return CredentialsConfig(
        source=source,
        path=Path(_string("credentials.path", path)) if path is not None else None,
        profile=_string("credentials.profile", value.get("profile", "default")),
        sts_endpoint=sts_endpoint,
    )


def parse_config(config: Mapping[str, Any]) -> ProviderConfig:
    """The checked settings; ``ValueError``/``TypeError`` naming the bad key otherwise."""
    unknown = sorted(set(config) - set(_KNOWN_KEYS))
    if unknown:
        raise ValueError(
            f"tencentcloud provider: unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"known settings: {', '.join(_KNOWN_KEYS)}"
        )
    if "region" not in config:
        raise ValueError("tencentcloud provider: setting 'region' is required (e.g. 'ap-guangzhou')")
    region = _string("region", config["region"])
    if not _REGION.match(region):
        raise ValueError(f"{_where('region')} must look like 'ap-guangzhou', got {region!r}")
    endpoint = config.get("endpoint")
    if endpoint is not None and not _HOST_PORT.match(_string("endpoint", endpoint)):
        raise ValueError(f"{_where('endpoint')} must be host[:port] (no scheme), got {endpoint!r}")
    scheme = config.get("scheme", "https")
    if scheme not in ("https", "http"):
        raise ValueError(f"{_where('scheme')} must be 'https' or 'http', got {scheme!r}")
    call_timeout = _positive("call_timeout", config.get("call_timeout", 10.0))
    attempt_timeout = config.get("attempt_timeout")
    if attempt_timeout is not None:
        attempt_timeout = _positive("attempt_timeout", attempt_timeout)
    max_attempts = config.get("max_attempts", 5)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or not 1 <= max_attempts <= 5:
        raise ValueError(f"{_where('max_attempts')} must be an integer from 1 to 5, got {max_attempts!r}")
    currency = _string("currency", config.get("currency", "CNY"))
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"{_where('currency')} must be an ISO 4217 code such as 'CNY', got {currency!r}")
    image_id = config.get("image_id")
    if image_id is not None:
        _string("image_id", image_id)
    language = config.get("language", "en-US")
    if language not in ("en-US", "zh-CN"):
        raise ValueError(f"{_where('language')} must be 'en-US' or 'zh-CN', got {language!r}")
    return ProviderConfig(
        region=region,
        endpoint=endpoint,
        scheme=scheme,
        credentials=_credentials(config.get("credentials")),
        call_timeout=call_timeout,
        attempt_timeout=attempt_timeout,
        max_attempts=max_attempts,
        currency=currency,
        image_id=image_id,
        language=language,
    )
