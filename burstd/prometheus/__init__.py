"""PromQL signal source: instant queries against a Prometheus HTTP API (an edge; see DESIGN.md §2)."""

from burstd.prometheus.errors import (
    AuthFailed,
    BadResponse,
    PrometheusError,
    PrometheusUnavailable,
    QueryRejected,
)
from burstd.prometheus.source import PromQLSource, RetryPolicy, SampleResult, queries_of, signal_id_of

__all__ = [
    "AuthFailed",
    "BadResponse",
    "PromQLSource",
    "PrometheusError",
    "PrometheusUnavailable",
    "QueryRejected",
    "RetryPolicy",
    "SampleResult",
    "queries_of",
    "signal_id_of",
]
