"""Cloud provider plugins (an edge): the ``CloudProvider`` protocol, its value types and errors, and the
entry-point registry that finds installed providers. SDKs stay inside their provider packages."""

from burstd.cloud.provider import (
    POOL_TAG,
    AuthFailed,
    CloudProvider,
    Instance,
    InstanceState,
    InvalidRequest,
    NodePool,
    NodePoolBackend,
    NodePoolMember,
    ProviderError,
    QuotaExceeded,
    Quote,
    StockOut,
    Throttled,
    Unavailable,
    redact,
)
from burstd.cloud.registry import ProviderLoadError, UnknownProvider, available, get_provider, load_class

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
    "ProviderLoadError",
    "QuotaExceeded",
    "Quote",
    "StockOut",
    "Throttled",
    "Unavailable",
    "UnknownProvider",
    "available",
    "get_provider",
    "load_class",
    "redact",
]
