"""Turn a Prometheus ``/api/v1/query`` HTTP answer into a Sample, no data, or a classified error.

Pure: no I/O. ``observed_at`` is the timestamp Prometheus returns with the value. For an instant query
that is the evaluation time; a series whose last scrape is older than the lookback delta (5m by default),
or that Prometheus marked stale (its target went down or stopped exposing it), is simply absent.
"""

from __future__ import annotations

import json
import math
from typing import Any

from burstd.model.world import Sample
from burstd.prometheus.errors import (
    AuthFailed,
    BadResponse,
    PrometheusError,
    PrometheusUnavailable,
    QueryRejected,
)

_MAX_SERIES_SHOWN = 3


def parse_response(query: str, status_code: int, body: bytes) -> Sample | None:
    """The one value of ``query``, or None when there is no data (empty vector, NaN or ±Inf).

    Raises a PrometheusError subclass for everything else.
    """
    payload = json_payload(body)
    if status_code != 200:
        raise http_error(query, status_code, payload)
    if payload is None or payload.get("status") != "success":
        raise BadResponse(query, f"Prometheus answered 200 without a success status: {error_text(payload)}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise BadResponse(query, "the response has no 'data' object")
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar":
        return _point(query, result)
    if result_type == "vector":
        if not isinstance(result, list):
            raise BadResponse(query, "the vector result is not a list")
        if not result:
            return None
        if len(result) > 1:
            raise BadResponse(query, _several_series(result))
        series = result[0]
        if not isinstance(series, dict):
            raise BadResponse(query, "a vector element is not an object")
        return _point(query, series.get("value"))
    if result_type == "matrix":
        raise BadResponse(
            query,
            "returned a range vector; a condition needs one number: drop the [range] or reduce it, "
            "e.g. max_over_time(...[5m])",
        )
    raise BadResponse(query, f"unsupported result type {result_type!r}; expected a scalar or a vector")


def json_payload(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser's stack
        return None
    return value if isinstance(value, dict) else None


def error_text(payload: dict[str, Any] | None) -> str:
    if payload is None:
        return "(no JSON body)"
    kind, text = payload.get("errorType"), payload.get("error")
    if kind is None and text is None:
        return "(no error text)"
    return f"{kind}: {text}" if kind else str(text)


def http_error(query: str, status_code: int, payload: dict[str, Any] | None) -> PrometheusError:
    text = error_text(payload)
    if status_code in (400, 422):
        return QueryRejected(query, f"rejected by Prometheus (HTTP {status_code}) - {text}")
    if status_code in (401, 403):
        return AuthFailed(
            query, f"HTTP {status_code}: not authorized; check the bearer token and its permissions"
        )
    if status_code == 429 or status_code >= 500:
        return PrometheusUnavailable(query, f"Prometheus unavailable (HTTP {status_code}) - {text}")
    return BadResponse(
        query, f"unexpected HTTP {status_code} - {text}; does the base URL point at Prometheus?"
    )


def _point(query: str, point: Any) -> Sample | None:
    if not (isinstance(point, list) and len(point) == 2):
        raise BadResponse(query, f'expected [timestamp, "value"], got {point!r:.100}')
    try:
        observed_at, value = float(point[0]), float(point[1])
    except (TypeError, ValueError):
        raise BadResponse(query, f"cannot read [timestamp, value] from {point!r:.100}") from None
    if not math.isfinite(value):
        return None  # NaN (e.g. 0/0) or ±Inf: no usable number, the engine treats it as missing
    return Sample(value=value, observed_at=observed_at)


def _several_series(result: list[Any]) -> str:
    labels = [
        series_labels(s.get("metric") if isinstance(s, dict) else None) for s in result[:_MAX_SERIES_SHOWN]
    ]
    more = f" and {len(result) - _MAX_SERIES_SHOWN} more" if len(result) > _MAX_SERIES_SHOWN else ""
    return (
        f"returned {len(result)} series ({', '.join(labels)}{more}); a condition needs one number: "
        "aggregate the query, e.g. sum(...) or max(...)"
    )


def series_labels(metric: Any) -> str:
    if not isinstance(metric, dict) or not metric:
        return "{}"
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"
