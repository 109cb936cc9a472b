"""Demand traces: strict CSV loading (``timestamp_s,demand``), gap filling, scaling to replicas.

Every error names the file, the line, the column and the field: ``FILE:LINE:COL: FIELD: message``.

Bounds (so that a trace that loads is simulated in bounded time and memory): timestamps and demand values
are finite, not negative and at most ``MAX_TIMESTAMP_S`` / ``MAX_DEMAND``; the trace lasts at most
``MAX_TRACE_DURATION_S`` (10 years, its last step included); after gap filling it has at most
``MAX_TRACE_SAMPLES`` samples.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

HEADER = ("timestamp_s", "demand")
#: the largest timestamp (seconds; 1e10 is the year 2286 as a Unix time)
MAX_TIMESTAMP_S = 1e10
#: the largest demand value
MAX_DEMAND = 1e15
#: the longest trace, from its first timestamp to the end of its last step: 10 years (leap days included)
MAX_TRACE_DAYS = 3653
MAX_TRACE_DURATION_S = MAX_TRACE_DAYS * 86400.0
#: the most samples a trace may have, gap-filled ones included
MAX_TRACE_SAMPLES = 1_000_000
FillGaps = Literal["error", "hold", "zero"]
_PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


class TraceError(ValueError):
    """A trace that cannot be used, and where: ``FILE:LINE:COL: FIELD: message``."""

    def __init__(
        self, source: str, line: int | None, field: str | None, message: str, col: int | None = None
    ) -> None:
        self.source = source
        self.line = line
        self.col = col
        self.field = field
        self.message = message
        # a problem with the whole file (empty, no demand at all) points at its start
        where = f"{source}:{line if line is not None else 1}:{col if col is not None else 1}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class Trace:
    """A demand trace on its own clock: ``times`` in seconds (strictly increasing), one value each.

    Each value holds from its time until the next sample; the last one holds for one ``step``.
    """

    name: str
    times: tuple[float, ...]
    values: tuple[float, ...]
    step: float  # the typical (median) step between samples
    rows: int  # samples read from the file
    filled: int  # samples inserted by gap filling
    #: the Unix time of timestamp 0 when the history has real times (Prometheus); None for a CSV trace,
    #: which the simulator places at the fleet's startTime
    origin: float | None = None

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1] + self.step

    @property
    def duration(self) -> float:
        return self.end - self.start


def parse_trace(text: str, source: str, fill_gaps: FillGaps = "error") -> Trace:
    """Parse and validate the text of a trace CSV. ``source`` names it in errors."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise TraceError(
            source,
            None,
            None,
            "the file is empty; expected a header 'timestamp_s,demand' and at least 2 rows",
        )
    header = tuple(part.strip() for part in lines[0].lstrip("\ufeff").split(","))
    if header != HEADER:
        raise TraceError(
            source, 1, "header", f"expected exactly 'timestamp_s,demand', got {_clip(lines[0])!r}"
        )
    if len(lines) - 1 > MAX_TRACE_SAMPLES:
        raise TraceError(
            source, MAX_TRACE_SAMPLES + 2, None, f"more than {MAX_TRACE_SAMPLES} rows; split the trace"
        )
    times: list[float] = []
    values: list[float] = []
    line_of: list[int] = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split(",")
        if len(parts) != 2:
            raise TraceError(
                source,
                number,
                None,
                f"expected 2 comma-separated fields (timestamp_s,demand), got {len(parts)}: {_clip(line)!r}",
            )
        t = _number(source, number, 1, "timestamp_s", parts[0], MAX_TIMESTAMP_S)
        v = _number(source, number, len(parts[0]) + 2, "demand", parts[1], MAX_DEMAND)
        if times and t <= times[-1]:
            raise TraceError(
                source,
                number,
                "timestamp_s",
                f"{_n(t)} is not after the previous timestamp "
                f"{_n(times[-1])} (line {line_of[-1]}); timestamps must increase strictly",
                col=1,
            )
        times.append(t)
        values.append(v)
        line_of.append(number)
    if len(times) < 2:
        raise TraceError(source, len(lines), None, f"expected at least 2 data rows, got {len(times)}")
    step = statistics.median(b - a for a, b in itertools.pairwise(times))
    if times[-1] + step - times[0] > MAX_TRACE_DURATION_S:
        raise TraceError(
            source,
            line_of[-1],
            "timestamp_s",
            f"the trace lasts {_n(times[-1] + step - times[0])}s (from t={_n(times[0])} to "
            f"t={_n(times[-1])} plus one step of {_n(step)}s); a trace may last at most "
            f"{MAX_TRACE_DAYS} days (10 years, {_n(MAX_TRACE_DURATION_S)}s)",
            col=1,
        )
    gaps = [i for i in range(1, len(times)) if times[i] - times[i - 1] > step * (1 + 1e-9)]
    filled = 0
    if gaps:
        if fill_gaps == "error":
            i = gaps[0]
            more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
            raise TraceError(
                source,
                line_of[i],
                "timestamp_s",
                f"gap of {_n(times[i] - times[i - 1])}s between line {line_of[i - 1]} "
                f"(t={_n(times[i - 1])}) and line {line_of[i]} (t={_n(times[i])}); the typical step is "
                f"{_n(step)}s{more}. Pass --fill-gaps hold to carry the last value over gaps, or "
                "--fill-gaps zero to treat them as no demand",
                col=1,
            )
        inserted = sum(math.ceil((times[i] - times[i - 1]) / step - 1e-9) - 1 for i in gaps)
        if len(times) + inserted > MAX_TRACE_SAMPLES:
            raise TraceError(
                source,
                line_of[gaps[0]],
                "timestamp_s",
                f"filling the gaps would insert {inserted} samples, more than {MAX_TRACE_SAMPLES} in "
                f"all; the typical step is {_n(step)}s. Resample the trace to a longer step",
                col=1,
            )
        times, values, filled = _fill(times, values, step, gaps, hold=fill_gaps == "hold")
    if max(values) <= 0:
        raise TraceError(source, None, "demand", "every value is 0; a trace needs some demand to scale")
    return Trace(source, tuple(times), tuple(values), step, len(line_of), filled)


def _n(x: float) -> str:
    """A number as written in a trace: ``2381520``, ``60``, ``0.5`` (no exponent for large whole numbers)."""
    return f"{x:.15g}"


def _clip(text: str, limit: int = 80) -> str:
    """At most ``limit`` characters of ``text`` for an error message."""
    return text if len(text) <= limit else text[:limit] + "..."


def _number(source: str, line: int, col: int, field: str, text: str, maximum: float) -> float:
    shown = _clip(text.strip())
    try:
        value = float(text.strip())
    except ValueError:
        raise TraceError(source, line, field, f"expected a number, got {shown!r}", col) from None
    if not math.isfinite(value):
        raise TraceError(source, line, field, f"expected a finite number, got {shown!r}", col)
    if value < 0:
        raise TraceError(source, line, field, f"must not be negative, got {shown}", col)
    if value > maximum:
        raise TraceError(source, line, field, f"must be at most {maximum:g}, got {shown}", col)
    return value


def _fill(
    times: list[float], values: list[float], step: float, gaps: Sequence[int], *, hold: bool
) -> tuple[list[float], list[float], int]:
    """Insert samples every ``step`` inside each gap: the last value (hold) or 0 (zero)."""
    out_t: list[float] = []
    out_v: list[float] = []
    gap_set = set(gaps)
    filled = 0
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        if i in gap_set:
            prev_t, prev_v = times[i - 1], values[i - 1]
            k = 1
            while prev_t + k * step < t - step * 1e-9:
                out_t.append(prev_t + k * step)
                out_v.append(prev_v if hold else 0.0)
                filled += 1
                k += 1
        out_t.append(t)
        out_v.append(v)
    return out_t, out_v, filled


def slice_trace(trace: Trace, duration: float) -> Trace:
    """The first ``duration`` seconds of a trace (at least 2 samples)."""
    cut = trace.start + duration
    n = max(2, sum(1 for t in trace.times if t < cut))
    return Trace(
        trace.name,
        trace.times[:n],
        trace.values[:n],
        trace.step,
        min(trace.rows, n),
        trace.filled,
        trace.origin,
    )


def scale_to_replicas(values: Sequence[float], peak: int) -> list[int]:
    """Desired replicas per sample: ``ceil(demand * peak / max)``, exactly ``peak`` at the maximum."""
    top = max(values)
    return [math.ceil(round(v * peak / top, 9)) for v in values]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def parse_base_replicas(text: str | int) -> int | str:
    """``"180"``/``180`` -> 180; ``"p70"`` -> ``"p70"`` (a percentile of the scaled trace).

    Raises ValueError saying what is expected.
    """
    if isinstance(text, bool):
        raise ValueError("expected a number of replicas (e.g. 180) or a percentile (e.g. p70), got a boolean")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"base replicas must not be negative, got {text}")
        return text
    s = str(text).strip()
    if s.isdigit():
        return int(s)
    match = _PERCENTILE.match(s)
    if not match or float(match.group(1)) > 100:
        raise ValueError(
            f"invalid base replicas {text!r}; expected a number of replicas (e.g. 180) or a "
            "percentile of the scaled trace from p0 to p100 (e.g. p70)"
        )
    return s


def resolve_base_replicas(spec: int | str, replicas: Sequence[int]) -> int:
    """The base capacity in replicas: the number itself, or ``ceil`` of the percentile of ``replicas``."""
    if isinstance(spec, int):
        return spec
    return math.ceil(round(percentile(replicas, float(spec[1:])), 9))
