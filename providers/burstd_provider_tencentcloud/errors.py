"""Tencent Cloud error codes -> burstd's provider errors.

The API answers HTTP 200 with ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``; the SDK raises
that as ``TencentCloudSDKException(code, message, request_id)``, a non-200 answer as code
``ServerNetworkError``, and lets httpx's transport errors (refused, reset, timed out) through as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Final

import httpx
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)

from burstd.cloud.provider import (
    AuthFailed,
    InvalidRequest,
    ProviderError,
    QuotaExceeded,
    StockOut,
    Throttled,
    Unavailable,
)

__all__ = ["PROVIDER_NAME", "class_for", "classify", "error_code", "is_not_found", "scrub"]

PROVIDER_NAME: Final = "tencentcloud"

# (prefix, class): the first match wins. A prefix matches the code itself, its sub-codes and its variants
# ("LimitExceeded" matches "LimitExceeded.CvmQuota", "ResourcesSoldOut" "ResourcesSoldOut.SpecifiedInstanceType").
_PREFIXES: Final[tuple[tuple[str, type[ProviderError]], ...]] = (
    ("RequestLimitExceeded", Throttled),
    ("ResourceInsufficient", StockOut),
    ("ResourcesSoldOut", StockOut),
    ("LimitExceeded", QuotaExceeded),
    ("InstancesQuotaLimitExceeded", QuotaExceeded),
    ("OverQuota", QuotaExceeded),
    ("InvalidParameterValue.InsufficientOffering", StockOut),
    ("AuthFailure", AuthFailed),
    ("UnauthorizedOperation", AuthFailed),
    ("InvalidCredential", AuthFailed),  # the SDK, client side: empty or malformed SecretId/SecretKey
    ("ClientSideError", AuthFailed),  # the SDK, client side: no credential found
    ("InvalidAccount", AuthFailed),  # e.g. InvalidAccount.InsufficientBalance: the account needs a human
    ("InvalidParameter", InvalidRequest),  # also InvalidParameterValue, InvalidParameterCombination
    ("MissingParameter", InvalidRequest),
    ("UnknownParameter", InvalidRequest),
    ("ResourceNotFound", InvalidRequest),
    ("InvalidInstanceId", InvalidRequest),
    ("InvalidZone", InvalidRequest),
    ("InvalidInstanceType", InvalidRequest),
    ("InvalidAction", InvalidRequest),
    ("NoSuchVersion", InvalidRequest),
    ("UnsupportedRegion", InvalidRequest),
    ("UnsupportedOperation", InvalidRequest),
    ("OperationDenied", InvalidRequest),
    ("ResourceUnavailable", InvalidRequest),  # e.g. the instance type is not offered in the zone
    ("FailedOperation", InvalidRequest),
    ("ClientParamsError", InvalidRequest),
    ("ClientError", InvalidRequest),
    ("Invalid", InvalidRequest),  # InvalidFilter, InvalidImageId.*, InvalidPermission, ...
    ("InternalError", Unavailable),
    ("ServerNetworkError", Unavailable),
    ("ClientNetworkError", Unavailable),
    ("ResourceInUse", Unavailable),
)


def error_code(error: BaseException) -> str | None:
    if isinstance(error, TencentCloudSDKException):
        code = error.get_code()
        return str(code) if code else None
    return None


def class_for(code: str) -> type[ProviderError]:
    """The provider error class for a Tencent Cloud error code. An unknown code is ``Unavailable``: burstd
    retries it with a backoff and shows the code, rather than holding a pool on an error it cannot read."""
    if code.startswith(("InternalError", "FailedOperation")) and ("NotFound" in code or "NotExist" in code):
        return InvalidRequest  # InternalError.ClusterNotFound: no retry will make it appear
    for prefix, cls in _PREFIXES:
        if code.startswith(prefix):
            return cls
    return Unavailable


def is_not_found(error: BaseException) -> bool:
    """The instance (or node) the call named does not exist (any more)."""
    code = error_code(error) or ""
    return code.startswith(("InvalidInstanceId.NotFound", "ResourceNotFound"))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets`` (the provider's own credentials, whatever their shape)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return text


def classify(
    error: BaseException, *, action: str | None = None, pool: str | None = None, secrets: Iterable[str] = ()
) -> ProviderError:
    """``error`` (from the SDK, httpx or asyncio) as a redacted ProviderError naming the action; any of
    ``secrets`` in the cloud's message is blanked too."""
    if isinstance(error, ProviderError):
        return error
    where = f"{action}: " if action else ""
    if isinstance(error, TencentCloudSDKException):
        code = error_code(error) or "Unknown"
        message = error.get_message()
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        text = f"{where}{scrub(str(message or '').strip(), secrets)[:500] or 'no message'}"
        request_id = error.get_request_id()
        if request_id:
            text += f" (RequestId {request_id})"
        cls = class_for(code)
        if cls is Throttled:
            return Throttled(text, provider=PROVIDER_NAME, pool=pool, code=code, retry_after=None)
        return cls(text, provider=PROVIDER_NAME, pool=pool, code=code)
    if isinstance(error, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return Unavailable(f"{where}the API did not answer in time", provider=PROVIDER_NAME, pool=pool)
    if isinstance(error, httpx.TransportError | OSError):
        # connection refused/reset, DNS; requests' errors (the OIDC refresh) are OSErrors too
        return Unavailable(
            f"{where}cannot reach the API: {type(error).__name__}: {scrub(str(error), secrets)}",
            provider=PROVIDER_NAME,
            pool=pool,
        )
    return Unavailable(
        f"{where}unexpected {type(error).__name__}: {scrub(str(error), secrets)}",
        provider=PROVIDER_NAME,
        pool=pool,
    )
