"""The provider's settings (keyword config from the burstd settings file), checked on construction."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CredentialsMode", "Settings"]

#: how the provider finds its credentials (all through ``alibabacloud_credentials``' own providers)
CredentialsMode = Literal["default", "env", "profile", "oidc"]
_MODES: tuple[str, ...] = ("default", "env", "profile", "oidc")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
MAX_ATTEMPTS_LIMIT = 5


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*$")


def _seconds(key: str, text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"alibabacloud provider: setting {key!r} = {text!r} is invalid: expected seconds or a duration "
            "such as '10s', '500ms', '1m'"
        )
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    return float(match.group(1)) * scale


@dataclass(frozen=True, slots=True)
class Settings:
    #: e.g. "cn-hangzhou": the region every ECS call names and the default endpoints are built from
    region_id: str
    #: host[:port] of the ECS API; default: the SDK's regional endpoint
    ecs_endpoint: str | None = None
    #: host[:port] of the Container Service (ACK) API; default: the SDK's regional endpoint
    cs_endpoint: str | None = None
    scheme: Literal["https", "http"] = "https"
    #: default: the library's default chain (env, RRSA OIDC, CLI profile, credentials file, ECS RAM role)
    credentials: CredentialsMode = "default"
    #: credentials file for ``credentials: profile`` (default: ``~/.alibabacloud/credentials.ini``)
    profile_file: str | None = None
    profile_name: str | None = None
    #: STS endpoint for ``credentials: oidc`` (default: the library's, from ALIBABA_CLOUD_STS_REGION)
    sts_endpoint: str | None = None
    #: total deadline of one API call, retries included (seconds)
    call_timeout: float = 10.0
    #: connect + read timeout of one HTTP attempt (seconds); default a third of ``call_timeout``
    attempt_timeout: float | None = None
    #: attempts per API call (first try included), at most 5
    max_attempts: int = 5
    #: first backoff (seconds) and the backoff cap
    backoff_initial: float = 0.2
    backoff_max: float = 5.0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise TypeError(
                f"alibabacloud provider: unknown setting(s) {', '.join(map(repr, unknown))}; "
                f"known settings: {', '.join(sorted(known))}"
            )
        if "region_id" not in config:
            raise TypeError("alibabacloud provider: setting 'region_id' is required (e.g. 'cn-hangzhou')")
        return cls(**config)

    def __post_init__(self) -> None:
        for key in ("call_timeout", "attempt_timeout", "backoff_initial", "backoff_max"):
            value = getattr(self, key)
            if isinstance(value, str):  # the settings file's durations: "10s", "500ms", "1m"
                object.__setattr__(self, key, _seconds(key, value))

        def bad(key: str, value: object, want: str) -> ValueError:
            return ValueError(f"alibabacloud provider: setting {key!r} = {value!r} is invalid: {want}")

        if not isinstance(self.region_id, str) or not _REGION.match(self.region_id):
            raise bad("region_id", self.region_id, "expected a region id such as 'cn-hangzhou'")
        for key in ("ecs_endpoint", "cs_endpoint", "sts_endpoint"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not _HOST_PORT.match(value)):
                raise bad(key, value, "expected host or host:port, without a scheme or path")
        if self.scheme not in ("https", "http"):
            raise bad("scheme", self.scheme, "expected 'https' or 'http'")
        if self.credentials not in _MODES:
            raise bad("credentials", self.credentials, f"expected one of {', '.join(_MODES)}")
        for key in ("profile_file", "profile_name"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value):
                raise bad(key, value, "expected a non-empty string")
        for key in ("call_timeout", "attempt_timeout", "backoff_initial", "backoff_max"):
            value = getattr(self, key)
            if value is None and key == "attempt_timeout":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise bad(key, value, "expected a number of seconds > 0")
        if self.attempt_timeout is not None and self.attempt_timeout > self.call_timeout:
            raise bad("attempt_timeout", self.attempt_timeout, "must not exceed call_timeout")
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or not 1 <= self.max_attempts <= MAX_ATTEMPTS_LIMIT
        ):
            raise bad("max_attempts", self.max_attempts, f"expected an int from 1 to {MAX_ATTEMPTS_LIMIT}")

    @property
    def per_attempt_timeout(self) -> float:
        return self.attempt_timeout if self.attempt_timeout is not None else self.call_timeout / 3
