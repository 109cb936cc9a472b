"""The cloud provider plugin interface: what burstd asks a cloud, and the errors a cloud can answer with.

A provider (Tencent Cloud, Alibaba Cloud, the scriptable fake) lives in its own package and registers its
class under the entry-point group ``burstd.providers``. Its SDK and the SDK's exceptions stay inside that
package: every failure leaves it as one of the :class:`ProviderError` subclasses below, through
:meth:`CloudProvider.classify`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable

from burstd.model.cloud import POOL_TAG, Instance, InstanceState, NodePool, NodePoolMember, Quote
from burstd.policy.spec import PoolSpec

__all__ = [
    "POOL_TAG",
    "AuthFailed",
    "CloudProvider",
    "Instance",
    "InstanceState",
    "InvalidRequest",
    "NodePool",
    "NodePoolBackend",
    "NodePoolMember",
    "ProviderError",
    "QuotaExceeded",
    "Quote",
    "StockOut",
    "Throttled",
    "Unavailable",
    "redact",
]


# ------------------------------------------------------------------------------------------------ errors

# key=value, key: value and "key": "value" forms of things that must never reach a log line.
_SECRET_KEYS = (
    r"secret[_-]?id|secret[_-]?key|access[_-]?key[_-]?id|access[_-]?key[_-]?secret|access[_-]?key|"
    r"security[_-]?token|session[_-]?token|x-tc-token|x-acs-security-token|token|password|passwd|signature|"
    r"credential|authorization|api[_-]?key"
)
_SECRET_PAIR = re.compile(
    rf"""(?P<key>["']?\b(?:{_SECRET_KEYS})\b["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|(?:Bearer\s+|TC3-HMAC-SHA256\s+|ACS3-HMAC-SHA256\s+)?[^\s,;&"'}}]+)""",
    re.IGNORECASE,
)
# Tencent Cloud SecretIds start with AKID, Alibaba Cloud AccessKey IDs with LTAI; STS ones with STS.
_KEY_ID = re.compile(r"\b(?:AKID[0-9A-Za-z]{8,}|LTAI[0-9A-Za-z]{8,}|STS\.[0-9A-Za-z]{8,})\b")
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential replaced by ``<redacted>``."""
    text = _SECRET_PAIR.sub(lambda m: m.group("key") + REDACTED, text)
    return _KEY_ID.sub(REDACTED, text)


class ProviderError(Exception):
    """A cloud call failed. Subclasses say how; ``retryable`` says whether the same call may succeed later.

    The message is redacted on construction, so it never carries a credential into logs, Events or alerts.
    """

    retryable: ClassVar[bool] = False
    #: short machine-readable reason, used in metrics labels and alerts
    reason: ClassVar[str] = "ProviderError"

    def __init__(
        self, message: str, *, provider: str | None = None, pool: str | None = None, code: str | None = None
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.pool = pool
        #: the cloud's own error code (e.g. "ResourceInsufficient.SpecifiedInstanceType"), if any
        self.code = redact(code) if code is not None else None
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(part for part in (self.provider, self.pool) if part)
        prefix = f"{where}: " if where else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{prefix}{self.reason}{code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, pool={self.pool!r})"


class StockOut(ProviderError):
    """The instance type is sold out in the zone. Try another pool; retry this one after a backoff."""

    retryable = True
    reason = "StockOut"


class QuotaExceeded(ProviderError):
    """The account's quota (instances, vCPUs, ...) would be exceeded. Needs a human to raise the quota."""

    reason = "QuotaExceeded"


class Throttled(ProviderError):
    """The API rate limit was hit. Retry after ``retry_after`` seconds (or a backoff if unknown)."""

    retryable = True
    reason = "Throttled"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        pool: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, pool=pool, code=code)
        self.retry_after = retry_after


class AuthFailed(ProviderError):
    """Credentials are missing, wrong, expired, or lack a permission. Needs a human."""

    reason = "AuthFailed"


class InvalidRequest(ProviderError):
    """The request is wrong (unknown pool, instance type or zone; bad parameter). A bug or a bad policy."""

    reason = "InvalidRequest"


class Unavailable(ProviderError):
    """The cloud API could not be reached or failed internally (timeout, 5xx). Retry with a backoff."""

    retryable = True
    reason = "Unavailable"


# ------------------------------------------------------------------------------------------------ protocol


@runtime_checkable
class CloudProvider(Protocol):
    """A cloud, as burstd sees it. Registered via the entry-point group ``burstd.providers``.

    Methods raise only :class:`ProviderError` subclasses; SDK exceptions are turned into those with
    :meth:`classify` inside the provider package.
    """

    #: the name pools use in ``provider:`` (also the entry-point name)
    name: ClassVar[str]

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        """Stock, quota headroom and price for launching ``nodes`` more nodes in ``pool``."""
        ...

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        """Every instance the cloud holds for ``pool``, whatever burstd believes (finds leaks)."""
        ...

    async def terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        """Terminate (and stop billing) these instances of ``pool``: used only to delete orphans, when
        the ``cloud.deleteOrphans`` setting is on. An id that is already gone is not an error."""
        ...

    def classify(self, error: Exception) -> ProviderError:
        """Turn any exception from this provider's SDK into a ProviderError (redacted message)."""
        ...

    async def aclose(self) -> None:
        """Release the provider's HTTP sessions. Idempotent."""
        ...


@runtime_checkable
class NodePoolBackend(Protocol):
    """A provider that also drives its cloud's native node pools (backends ``tke-nodepool``,
    ``ack-nodepool``) in place of Cluster API. The pool is named by ``PoolSpec.node_pool``
    (``clusterId``, ``nodePoolId``). Methods raise only :class:`ProviderError` subclasses."""

    async def node_pool(self, pool: PoolSpec) -> NodePool:
        """The node pool's desired count and its nodes now."""
        ...

    async def scale_node_pool(self, pool: PoolSpec, desired: int) -> None:
        """Set the node pool's desired node count (the cloud launches or removes nodes to reach it)."""
        ...

    async def remove_nodes(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        """Remove exactly these nodes from the node pool, drained, releasing their instances; the
        desired count drops by as many. Used to scale in by chosen nodes (the emptiest first)."""
        ...
