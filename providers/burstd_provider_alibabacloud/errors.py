"""Alibaba Cloud error shapes -> burstd's ProviderError classes.

The tea-openapi core raises ``ThrottlingException`` when a 4xx/5xx reply carries ``x-acs-retry-after``
(milliseconds, > 0), else ``ClientException`` (4xx) or ``ServerException`` (5xx), each with ``.code``,
``.status_code`` and ``.request_id``. Transport failures arrive as darabonba's ``UnretryableException``
wrapping the aiohttp/OS error; credential failures as ``CredentialException``.
"""

from __future__ import annotations

import asyncio

from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_tea_openapi.exceptions import (
    AlibabaCloudException,
    ClientException,
    ServerException,
    ThrottlingException,
)
from darabonba.exceptions import UnretryableException

from burstd.cloud.provider import (
    AuthFailed,
    InvalidRequest,
    ProviderError,
    QuotaExceeded,
    StockOut,
    Throttled,
    Unavailable,
)

__all__ = ["AUTH_CODES", "classify_error", "kind_of_code"]

NAME = "alibabacloud"

#: exact codes that mean the credentials are wrong, expired or not allowed
AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidSecurityToken.Expired",
        "InvalidSecurityToken.Malformed",
        "InvalidSecurityToken.MismatchWithAccessKey",
        "Forbidden.RAM",
        "Forbidden.AccessKeyDisabled",
        "Forbidden",
        "NoPermission",
        "Forbidden.Unauthorized",
        "Forbidden.NotAuthorized",
        "ErrorRamPolicyCheckFailed",
        "StatusForbidden",
    }
)
#: exact codes of a sold-out type/zone (besides every code containing "NoStock")
STOCK_CODES = frozenset(
    {
        "OperationDenied.NoStock",
        "Zone.NotOnSale",
        "InvalidInstanceType.ZoneNotSupported",
        "ResourceNotAvailable",
        "InvalidResourceType.NotSupported",
    }
)
UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "InternalError", "UnknownError", "ServiceTimeout"})


def kind_of_code(code: str, status: int | None) -> type[ProviderError]:
    """The ProviderError class for an Alibaba Cloud error code (and HTTP status)."""
    if code.startswith("Throttling") or code == "Throttled" or status == 429:
        return Throttled
    if code in AUTH_CODES or code.startswith(("InvalidSecurityToken.", "Forbidden.RAM")):
        return AuthFailed
    if code in STOCK_CODES or "NoStock" in code:
        return StockOut
    if code.startswith("QuotaExceed") or ".QuotaExceed" in code:
        return QuotaExceeded
    if code in UNAVAILABLE_CODES or (status is not None and status >= 500):
        return Unavailable
    return InvalidRequest


def classify_error(error: BaseException, *, pool: str | None = None) -> ProviderError:
    """Any exception met while calling Alibaba Cloud, as a redacted ProviderError."""
    if isinstance(error, ProviderError):
        return error
    if isinstance(error, AlibabaCloudException):
        code = str(error.code or "Unknown")
        status = error.status_code if isinstance(error.status_code, int) else None
        request_id = error.request_id if isinstance(error, ClientException | ServerException) else None
        request_id = request_id or getattr(error, "request_id", None)
        message = _cloud_message(error)
        text = f"{message} (HTTP {status}, RequestId {request_id})"
        if isinstance(error, ThrottlingException):
            after = error.retry_after
            return Throttled(
                text,
                provider=NAME,
                pool=pool,
                code=code,
                retry_after=after / 1000.0 if isinstance(after, int | float) and after > 0 else None,
            )
        cls = kind_of_code(code, status)
        if cls is Throttled:
            return Throttled(text, provider=NAME, pool=pool, code=code, retry_after=None)
        return cls(text, provider=NAME, pool=pool, code=code)
    if isinstance(error, CredentialException):
        # The library's messages may quote an STS reply; ProviderError redacts, and we keep it short.
        return AuthFailed(
            f"could not get credentials: {_first_line(str(error))}", provider=NAME, pool=pool, code=None
        )
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return Unavailable("the call did not finish within its deadline", provider=NAME, pool=pool)
    if isinstance(error, UnretryableException):
        inner = getattr(error, "inner_exception", None)
        if isinstance(inner, CredentialException):
            return classify_error(inner, pool=pool)  # the SDK wraps whatever its request loop met
        detail = type(inner).__name__ if inner is not None else "transport error"
        return Unavailable(
            f"could not reach the API ({detail}: {_first_line(str(inner or error))})",
            provider=NAME,
            pool=pool,
        )
    if isinstance(error, OSError):
        return Unavailable(f"could not reach the API ({type(error).__name__})", provider=NAME, pool=pool)
    return Unavailable(
        f"unexpected failure calling the API ({type(error).__name__}: {_first_line(str(error))})",
        provider=NAME,
        pool=pool,
    )


def _cloud_message(error: AlibabaCloudException) -> str:
    # The SDK formats "code: <status>, <Message> request id: <id>"; keep only the cloud's message.
    message = str(error.message or "")
    if message.startswith("code: ") and ", " in message:
        message = message.split(", ", 1)[1]
    if " request id: " in message:
        message = message.rsplit(" request id: ", 1)[0]
    return _first_line(message)[:300] or "no message"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
