"""Range queries split into chunks Prometheus accepts, and their ``/api/v1/query_range`` answers stitched back.

Pure: no I/O. The whole range is a grid of ``points`` evaluation times ``start + k * step``. Prometheus refuses
a query of more than 11,000 steps per series (``(end - start) / step > 11000``), so the grid is cut into
chunks of at most ``MAX_POINTS_PER_QUERY`` consecutive points; each point belongs to exactly one chunk, so
stitching the answers has neither duplicate nor missing steps. A point without a value (no sample within
the lookback delta, a NaN or an infinite value) is ``None`` in the stitched series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from burstd.prometheus.errors import BadResponse
from burstd.prometheus.parse import error_text, http_error, json_payload, series_labels

#: points per range query: Prometheus rejects more than 11,000 steps (11,001 points) per series
MAX_POINTS_PER_QUERY = 11_000
#: a grid point's timestamp may differ from ``start + k * step`` by this much (Prometheus answers in ms)
_GRID_TOLERANCE_S = 0.0015
_MAX_SERIES_SHOWN = 3


class NotPrometheus(BadResponse):
    """The server answered, but not like Prometheus's HTTP API (e.g. 404, HTML): the base URL is wrong."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Points ``first .. first + points - 1`` of the grid, evaluated from ``start`` to ``end`` inclusive."""

    first: int
    points: int
    start: float
    end: float


def plan_chunks(
    start: float, points: int, step: float, max_points: int = MAX_POINTS_PER_QUERY
) -> list[Chunk]:
    """The range queries covering ``points`` evaluation times ``start + k * step``, in time order."""
    if points < 1 or step <= 0 or max_points < 1:
        raise ValueError(f"need points >= 1, step > 0, max_points >= 1; got {points}, {step}, {max_points}")
    chunks = []
    for first in range(0, points, max_points):
        n = min(max_points, points - first)
        chunks.append(Chunk(first, n, start + first * step, start + (first + n - 1) * step))
    return chunks


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range answer: its labels and its ``(grid index, value)`` points (value may be NaN)."""

    labels: Mapping[str, str]
    points: Sequence[tuple[int, float]]


def labels_text(labels: Mapping[str, str]) -> str:
    """``{a="1",b="2"}`` (sorted), ``{}`` for none."""
    return series_labels(dict(labels))


def parse_range_response(
    query: str, status_code: int, body: bytes, chunk: Chunk, grid_start: float, step: float
) -> list[Series]:
    """The series of one chunk's answer, each point placed on the grid. Raises a PrometheusError subclass."""
    payload = json_payload(body)
    if status_code != 200:
        if status_code not in (400, 401, 403, 422, 429) and status_code < 500:
            raise NotPrometheus(
                query,
                f"unexpected HTTP {status_code} - {error_text(payload)}; does the URL point at Prometheus?",
            )
        raise http_error(query, status_code, payload)
    if payload is None:
        raise NotPrometheus(query, "the answer is not JSON; does the URL point at Prometheus?")
    if payload.get("status") != "success":
        raise BadResponse(query, f"Prometheus answered 200 without a success status: {error_text(payload)}")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise BadResponse(query, "the response has no 'data' object")
    result_type, result = data.get("resultType"), data.get("result")
    if result_type != "matrix" or not isinstance(result, list):
        raise BadResponse(query, f"expected a range result (matrix), got {result_type!r}")
    out = []
    for element in result:
        if not isinstance(element, dict):
            raise BadResponse(query, "a matrix element is not an object")
        metric = element.get("metric", {})
        if not isinstance(metric, dict):
            raise BadResponse(query, "a series' 'metric' is not an object")
        values = element.get("values", [])
        if not isinstance(values, list):
            raise BadResponse(query, "a series' 'values' is not a list")
        labels = {str(k): str(v) for k, v in metric.items()}
        out.append(Series(labels, [_on_grid(query, p, chunk, grid_start, step) for p in values]))
    return out


def _on_grid(query: str, point: Any, chunk: Chunk, grid_start: float, step: float) -> tuple[int, float]:
    if not (isinstance(point, list) and len(point) == 2):
        raise BadResponse(query, f'expected [timestamp, "value"], got {point!r:.100}')
    try:
        t, value = float(point[0]), float(point[1])  # "NaN", "+Inf" and "-Inf" parse
    except (TypeError, ValueError):
        raise BadResponse(query, f"cannot read [timestamp, value] from {point!r:.100}") from None
    index = round((t - grid_start) / step)
    if abs(t - (grid_start + index * step)) > _GRID_TOLERANCE_S or not (
        chunk.first <= index < chunk.first + chunk.points
    ):
        raise BadResponse(
            query,
            f"returned a sample at t={t:.3f}, not one of the evaluation times asked for "
            f"({chunk.start:.3f} to {chunk.end:.3f} every {step:g}s)",
        )
    return index, value


def stitch(query: str, points: int, answers: Sequence[Sequence[Series]]) -> dict[str, list[float | None]]:
    """Per series (keyed by ``labels_text``), one value per grid point: None where it has no finite value.

    Raises BadResponse if a grid point is answered twice for the same series.
    """
    out: dict[str, list[float | None]] = {}
    answered: dict[str, set[int]] = {}
    for answer in answers:
        for series in answer:
            key = labels_text(series.labels)
            values = out.setdefault(key, [None] * points)
            seen = answered.setdefault(key, set())
            for index, value in series.points:
                if index in seen:
                    raise BadResponse(query, f"returned the step at grid index {index} twice for {key}")
                seen.add(index)
                values[index] = value if math.isfinite(value) else None
    return out


def several_series(count: int, labels: Sequence[str]) -> str:
    """``returned 3 series ({a="1"}, {a="2"} and 1 more)``."""
    shown = ", ".join(labels[:_MAX_SERIES_SHOWN])
    more = f" and {count - _MAX_SERIES_SHOWN} more" if count > _MAX_SERIES_SHOWN else ""
    return f"returned {count} series ({shown}{more})"


def check_one_series(query: str, answer: Sequence[Series]) -> None:
    """Raise BadResponse if one chunk's answer holds more than one series (fail before pulling the rest)."""
    if len(answer) > 1:
        labels = [labels_text(s.labels) for s in answer]
        raise BadResponse(query, several_series(len(answer), labels) + _AGGREGATE)


_AGGREGATE = "; the demand must be one series: aggregate the query, e.g. sum(...) or max(...)"


def only_series(query: str, stitched: Mapping[str, list[float | None]]) -> list[float | None] | None:
    """The values of the one series over the whole range, None if there is none. BadResponse if several."""
    if not stitched:
        return None
    if len(stitched) > 1:
        raise BadResponse(query, several_series(len(stitched), sorted(stitched)) + _AGGREGATE)
    return next(iter(stitched.values()))
