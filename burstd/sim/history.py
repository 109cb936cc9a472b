"""Demand from the user's own Prometheus history: one PromQL series pulled with chunked range queries.

The history is the grid of evaluation times ``end - (n - 1) * step .. end`` where ``end`` is ``until``
rounded down to a multiple of ``step`` and ``n = since / step`` (so ``--since 1d --step 1m`` asks for 1,440
points, each holding for one step). The trace starts at the first point with a value (its time origin)
and ends at the last one; points without a value in between (no sample within Prometheus's lookback
delta, NaN, ±Inf) are gaps, filled or refused like the gaps of a CSV trace (``--fill-gaps``).

Every problem raises ``InputError`` with one line naming the option (``--prometheus``, ``--query``, ...);
the bearer token and the URL's password never appear in it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from burstd.model.quantities import format_duration
from burstd.prometheus.errors import AuthFailed, PrometheusError, PrometheusUnavailable, QueryRejected
from burstd.prometheus.range_parse import MAX_POINTS_PER_QUERY, NotPrometheus, only_series
from burstd.prometheus.range_query import RangeQuerySource, display_url
from burstd.prometheus.source import RetryPolicy
from burstd.sim.files import InputError
from burstd.sim.trace import MAX_DEMAND, MAX_TRACE_DAYS, MAX_TRACE_DURATION_S, MAX_TRACE_SAMPLES, Trace

#: the shortest step: finer resolution than a second says nothing about demand
MIN_STEP_S = 1.0
#: points per range query (Prometheus refuses more than 11,001)
CHUNK_POINTS = MAX_POINTS_PER_QUERY
#: how long to keep trying one range query while Prometheus is unavailable (refused, timeout, 429, 5xx)
RETRY = RetryPolicy(attempts=4, initial_wait=0.5, max_wait=4.0, max_time=120.0)
#: the largest bearer token file read
MAX_TOKEN_BYTES = 1 * 2**20
_NAME_CHARS = 60
_SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """What ``--prometheus`` and its options ask for (times and durations in seconds)."""

    url: str
    query: str
    since: float
    until: float
    step: float
    bearer_token_file: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0
    fill_gaps: Literal["hold", "zero"] | None = None


@dataclass(frozen=True, slots=True)
class Grid:
    """``points`` evaluation times ``start + k * step``."""

    start: float
    points: int
    step: float

    def time(self, index: int) -> float:
        return self.start + index * self.step


def plan_grid(since: float, until: float, step: float) -> Grid:
    """The evaluation times of ``since`` of history ending at ``until`` (rounded down to the step)."""
    end = math.floor(until / step) * step
    points = math.floor(since / step + 1e-9)
    return Grid(end - (points - 1) * step, points, step)


def trace_name(query: str) -> str:
    """``prometheus:<query>``, whitespace collapsed, shortened to a readable length."""
    return "prometheus:" + _clip(" ".join(query.split()), _NAME_CHARS)


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dur(seconds: float) -> str:
    """``30d``, ``36h``, ``1m30s``, ``500ms``: a duration as written on the command line."""
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:.0f}d"
    if 0 < seconds < 1:
        return f"{seconds * 1000:g}ms"
    return format_duration(seconds)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_history(request: HistoryRequest) -> Trace:
    """Pull the history and turn it into a trace. Raises InputError (one line, no secrets)."""
    grid = _check(request)
    token = _read_token(request.bearer_token_file)
    prometheus = f"--prometheus {display_url(request.url)}"
    query_flag = f"--query {_clip(_one_line(request.query), _SHOWN_CHARS)!r}"
    try:
        source = RangeQuerySource(
            request.url,
            timeout=request.timeout,
            bearer_token=token,
            ca_file=request.ca_file,
            retry=RETRY,
            max_points=CHUNK_POINTS,
        )
    except ValueError as exc:
        raise InputError(f"{prometheus}: {exc}") from None
    except OSError as exc:  # ssl.SSLError included
        raise InputError(
            f"--prometheus-ca-file {request.ca_file}: cannot load the CA bundle: "
            f"{getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        series = asyncio.run(_fetch(source, request.query, grid))
    except AuthFailed as exc:
        status = exc.message.split(":")[0]
        raise InputError(
            f"{prometheus}: {status}: not authorized; check --prometheus-bearer-token-file (or the user "
            "and password in the URL) and the token's permissions"
        ) from None
    except (PrometheusUnavailable, NotPrometheus) as exc:
        raise InputError(f"{prometheus}: {_one_line(exc.message)}") from None
    except QueryRejected as exc:
        raise InputError(f"{query_flag}: {_one_line(exc.message)}{_hint(exc.message)}") from None
    except PrometheusError as exc:
        raise InputError(f"{query_flag}: {_one_line(exc.message)}") from None
    return to_trace(request.query, grid, series, request.fill_gaps)


async def _fetch(source: RangeQuerySource, query: str, grid: Grid) -> list[float | None] | None:
    async with source:
        stitched = await source.fetch(query, grid.start, grid.points, grid.step)
    return only_series(query, stitched)


def _hint(message: str) -> str:
    lowered = message.lower()
    if "too many samples" in lowered or "maximum resolution" in lowered:
        return " (use a longer --step or a shorter --since)"
    return ""


def _check(request: HistoryRequest) -> Grid:
    step, since = request.step, request.since
    if step < MIN_STEP_S:
        raise InputError(f"--step {_dur(step)}: must be at least {_dur(MIN_STEP_S)}")
    if since > MAX_TRACE_DURATION_S:
        raise InputError(
            f"--since {_dur(since)}: a trace may last at most {MAX_TRACE_DAYS} days (10 years); "
            "pull a shorter history"
        )
    grid = plan_grid(since, request.until, step)
    if grid.points < 2:
        raise InputError(
            f"--since {_dur(since)} is shorter than two steps of {_dur(step)}; "
            "a trace needs at least 2 samples"
        )
    if grid.points > MAX_TRACE_SAMPLES:
        raise InputError(
            f"--since {_dur(since)} at --step {_dur(step)} is {grid.points} points, "
            f"more than {MAX_TRACE_SAMPLES} in a trace: use a longer --step"
        )
    return grid


def _read_token(path: str | None) -> str | None:
    if path is None:
        return None
    flag = f"--prometheus-bearer-token-file {path}"
    try:
        with Path(path).open("rb") as file:
            data = file.read(MAX_TOKEN_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{flag}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{flag}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_TOKEN_BYTES:
        raise InputError(f"{flag}: larger than {MAX_TOKEN_BYTES // 2**20} MiB; is it the token?")
    try:
        token = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError(f"{flag}: not UTF-8 text") from None
    if not token:
        raise InputError(f"{flag}: the file is empty")
    return token


def to_trace(
    query: str, grid: Grid, series: Sequence[float | None] | None, fill_gaps: Literal["hold", "zero"] | None
) -> Trace:
    """The trace of one series' values on ``grid`` (None: no value), from its first value to its last.

    Raises InputError naming ``--query`` for no data, one sample, a negative or huge value, gaps without
    ``fill_gaps``, or only zeros.
    """
    query_flag = f"--query {_clip(_one_line(query), _SHOWN_CHARS)!r}"
    window = f"from {rfc3339(grid.start)} to {rfc3339(grid.time(grid.points - 1))}"
    present = [i for i, v in enumerate(series or ()) if v is not None]
    if series is None or not present:
        raise InputError(
            f"{query_flag}: no data {window} (step {_dur(grid.step)}); check the metric name "
            "and labels, and that Prometheus's retention covers --since"
        )
    first, last = present[0], present[-1]
    if first == last:
        raise InputError(
            f"{query_flag}: only one sample {window} (at {rfc3339(grid.time(first))}); a trace needs at "
            "least 2: pull a longer --since or use a shorter --step"
        )
    for i in present:
        value = series[i]
        assert value is not None
        if value < 0:
            raise InputError(
                f"{query_flag}: {value:g} at {rfc3339(grid.time(i))} is negative; demand must not be "
                "negative (e.g. clamp_min(..., 0))"
            )
        if value > MAX_DEMAND:
            raise InputError(f"{query_flag}: {value:g} at {rfc3339(grid.time(i))} is above {MAX_DEMAND:g}")
    span = series[first : last + 1]
    missing = [first + k for k, v in enumerate(span) if v is None]
    if missing and fill_gaps is None:
        raise InputError(f"{query_flag}: {_gaps(grid, missing)}")
    values: list[float] = []
    for v in span:
        if v is not None:
            values.append(v)
        else:
            values.append(values[-1] if fill_gaps == "hold" else 0.0)
    if max(values) <= 0:
        raise InputError(f"{query_flag}: every value {window} is 0; a trace needs some demand to scale")
    step = grid.step
    times = tuple(k * step for k in range(len(values)))
    rows, filled = len(span) - len(missing), len(missing)
    return Trace(trace_name(query), times, tuple(values), step, rows, filled, origin=grid.time(first))


def _gaps(grid: Grid, missing: list[int]) -> str:
    """``no value at 12 of the steps: 10m from 2026-...Z (and 1 more gap); pass --fill-gaps ...``"""
    runs: list[tuple[int, int]] = []  # (first index, length)
    for i in missing:
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    first, length = runs[0]
    more = f" (and {len(runs) - 1} more gap{'s' if len(runs) > 2 else ''})" if len(runs) > 1 else ""
    return (
        f"no value at {len(missing)} step{'s' if len(missing) > 1 else ''} of "
        f"{_dur(grid.step)}: {_dur(length * grid.step)} from "
        f"{rfc3339(grid.time(first))}{more}. Pass --fill-gaps hold to carry the last value over gaps, "
        "or --fill-gaps zero to treat them as no demand"
    )
