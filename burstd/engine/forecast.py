"""Predictive mode: forecast demand one provisioning delay ahead from the recent trend and the same
time of day yesterday. Off by default (``spec.predictive.enabled``).

The demand history holds one bucket per minute: the highest demand in it, demand holding between two
observations (a bucket no evaluation fell in holds the last observed demand). The trend is the
least-squares slope over the buckets that overlap the last ``lookback``. Its sums come from running sums
kept with the history (:class:`Sums`, derived, never persisted), so a forecast costs the same whatever
the history's length. :func:`next_change` says when the forecast would change while demand holds, for
the decision's ``wake_at``: the engine need not be called in between.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from burstd.model.state import History
from burstd.policy.spec import Predictive

DAY = 86400.0
STEP = 60.0
#: :func:`next_change` looks at most this many times ahead, then answers the last one (a call too many)
MAX_LOOKAHEAD = 16


@dataclass(frozen=True, slots=True)
class Sums:
    """Running sums over a history's closed buckets (all but the last, which may still rise), for
    whole-number demand (replicas): prefix sums of ``v``, ``p * v`` and ``v * v`` by position ``p``.

    The lists are shared, append-only, between the histories that :func:`record` derives one from the
    other; ``base`` is the position of the history's first bucket, ``closed`` how many of its buckets
    are covered. A history derived from an older one than the lists' last owner copies them."""

    values: tuple[float, ...]
    base: int
    closed: int
    sv: list[int]
    spv: list[int]
    svv: list[int]

    @staticmethod
    def of(values: tuple[float, ...]) -> Sums | None:
        """Sums for ``values`` from scratch; None unless every value is a whole number."""
        sv, spv, svv = [0], [0], [0]
        if not _extend(sv, spv, svv, values[:-1]):
            return None
        return Sums(values, 0, len(values) - 1, sv, spv, svv)

    def then(self, values: tuple[float, ...], dropped: int) -> Sums | None:
        """Sums for ``values``: this history's values with ``dropped`` buckets gone from the front, its
        last bucket possibly raised, and buckets appended."""
        if dropped > self.closed:  # nothing closed here is left
            return Sums.of(values)
        base = self.base + dropped
        closed = len(values) - 1
        new = values[self.closed - dropped : closed]  # buckets closed since
        sv, spv, svv = self.sv, self.spv, self.svv
        end = self.base + self.closed + 1
        if base > 2 * len(values) + 64:  # positions grow without bound otherwise: start afresh
            return Sums.of(values)
        if len(sv) != end:  # another history was derived from the same lists: copy what is ours
            sv, spv, svv = sv[:end], spv[:end], svv[:end]
        if not _extend(sv, spv, svv, new):
            return None
        return Sums(values, base, closed, sv, spv, svv)

    def window(self, a: int, b: int, current: float) -> tuple[int, int, int]:
        """(n, sum of v, sum of (i - a) * v) over buckets ``a..b`` (``a >= 0``) of the history these sums
        are for, the buckets after its last one holding ``current``."""
        last = len(self.values) - 1
        n = b - a + 1
        s = sxv = 0
        hi = min(b, last - 1)
        if a <= hi:  # closed buckets
            p, q = self.base + a, self.base + hi + 1
            part = self.sv[q] - self.sv[p]
            s += part
            sxv += self.spv[q] - self.spv[p] - p * part
        if a <= last <= b:  # the last bucket
            v = int(self.values[last])
            s += v
            sxv += (last - a) * v
        lo = max(a, last + 1)
        if lo <= b:  # buckets still to come, holding `current`
            c = int(current)
            k = b - lo + 1
            s += k * c
            sxv += c * (k * (lo - a) + k * (k - 1) // 2)
        return n, s, sxv

    def flat(self, a: int, b: int) -> bool:
        """Whether the closed buckets ``a..b`` all hold the same value (equality in Cauchy-Schwarz)."""
        p, q = self.base + a, self.base + b + 1
        s = self.sv[q] - self.sv[p]
        return (q - p) * (self.svv[q] - self.svv[p]) == s * s


def _extend(sv: list[int], spv: list[int], svv: list[int], values: tuple[float, ...]) -> bool:
    p = len(sv) - 1
    s, sp, ss = sv[-1], spv[-1], svv[-1]
    for value in values:
        if not value.is_integer():
            return False
        v = int(value)
        s += v
        sp += p * v
        ss += v * v
        sv.append(s)
        spv.append(sp)
        svv.append(ss)
        p += 1
    return True


def sums(history: History) -> Sums | None:
    """The history's running sums (None for demand that is not whole numbers)."""
    cached = history.sums
    if isinstance(cached, Sums) and cached.values is history.values:
        return cached
    return Sums.of(history.values) if history.values else None


def record(
    history: History, now: float, value: float, keep_seconds: float, *, running_sums: bool = True
) -> History:
    """Add a demand sample: one bucket per minute holding the highest demand seen in it, the last sample
    holding until this one; buckets older than ``keep_seconds`` are dropped. ``running_sums``: keep the
    trend's running sums up to date (only :func:`forecast` reads them)."""
    if history.start is None or history.step != STEP or not history.values:
        first: tuple[float, ...] = (value,)
        return History(
            STEP, math.floor(now / STEP) * STEP, first, value, Sums.of(first) if running_sums else None
        )
    index = int((now - history.start) // STEP)
    values = history.values
    last = len(values) - 1
    if index < last:  # out-of-order sample: ignore
        return history
    held = history.last if history.last is not None else values[-1]
    if index == last:
        if value <= values[-1]:
            if value == held:
                return history
            return History(STEP, history.start, values, value, sums(history) if running_sums else None)
        values = (*values[:-1], value)
    else:
        # The last sample held until now: through the buckets in between, and into this one unless it
        # starts just now.
        into = value if now == history.start + index * STEP else max(value, held)
        values = values + (held,) * (index - last - 1) + (into,)
    keep = int(keep_seconds // STEP) + 2
    start = history.start
    dropped = 0
    if len(values) > keep:
        dropped = len(values) - keep
        start += dropped * STEP
        values = values[-keep:]
    before = sums(history) if running_sums else None
    return History(STEP, start, values, value, before.then(values, dropped) if before else None)


def keep_for(settings: Predictive, window: float) -> float:
    """How much history the policy needs: the stabilization window, and a day more when predicting."""
    if not settings.enabled:
        return window
    return max(
        window, DAY + settings.horizon + settings.lookback if settings.seasonality else settings.lookback
    )


def peak(history: History, since: float) -> float | None:
    """The highest demand recorded from ``since`` on (by whole buckets)."""
    if history.start is None or not history.values:
        return None
    first = max(0, int((since - history.start) // history.step))
    values = history.values[first:]
    return max(values) if values else None


def peak_leaves(history: History, since: float, window: float) -> float | None:
    """When the highest bucket at or after ``since`` leaves a trailing ``window`` (the last one holding
    that value, so the peak really falls then)."""
    if history.start is None or not history.values:
        return None
    first = max(0, int((since - history.start) // history.step))
    values = history.values[first:]
    if not values:
        return None
    top = max(values)
    last = first + len(values) - 1 - values[::-1].index(top)
    return history.start + (last + 1) * history.step + window


def forecast(history: History, now: float, current: float, settings: Predictive) -> float:
    """Demand expected ``horizon`` from now; never below ``current`` and never above twice it.

    The trend is the least-squares slope over the buckets that overlap ``[now - lookback, now]`` (at
    least 3), used when rising; the season scales ``current`` by how demand went on from this time
    yesterday, when it rose."""
    if history.start is None or not history.values:
        return current
    return _forecast(history, sums(history), now, current, settings)


def _forecast(history: History, cache: Sums | None, at: float, current: float, settings: Predictive) -> float:
    """:func:`forecast` at ``at``, the buckets after the history's last one holding ``current``."""
    assert history.start is not None
    predictions = [current]
    slope = _slope(history, cache, at, current, settings.lookback)
    if slope > 0:
        predictions.append(current + slope * settings.horizon)
    if settings.seasonality:
        then = _at(history, at - DAY, current)
        ahead = _at(history, at - DAY + settings.horizon, current)
        if then is not None and ahead is not None and then > 0 and ahead > then:
            predictions.append(current * ahead / then)
    return min(max(predictions), 2 * current if current > 0 else max(predictions))


def _bounds(history: History, at: float, lookback: float) -> tuple[int, int]:
    """The buckets that overlap ``[at - lookback, at]``: first and last index (last < first: none)."""
    assert history.start is not None
    first = max(0, int((at - lookback - history.start) // history.step))
    return first, int((at - history.start) // history.step)


def _slope(history: History, cache: Sums | None, at: float, current: float, lookback: float) -> float:
    """The trend's slope (demand per second) at ``at``; 0 over fewer than 3 buckets."""
    a, b = _bounds(history, at, lookback)
    n = b - a + 1
    if n < 3:
        return 0.0
    step = history.step
    if cache is None:  # demand that is not whole numbers: sum the window's buckets
        return _slope_of([(i * step, _value(history, i, current)) for i in range(a, b + 1)])
    n, s, sxv = cache.window(a, b, current)
    sx = n * (n - 1) // 2
    # least squares over x = 0..n-1 in whole numbers: exact up to the one division
    num = n * sxv - sx * s
    den = n * n * (n * n - 1) // 12
    if step.is_integer():
        return num / (den * int(step))
    return num / den / step


def _slope_of(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def _value(history: History, index: int, current: float) -> float:
    """Bucket ``index``; buckets after the last one hold ``current``."""
    return history.values[index] if index < len(history.values) else current


def _at(history: History, t: float, current: float) -> float | None:
    assert history.start is not None
    index = int((t - history.start) // history.step)
    if index < 0:
        return None
    return _value(history, index, current)


def next_change(history: History, now: float, current: float, settings: Predictive) -> float | None:
    """When :func:`forecast` would next answer differently if demand held at ``current`` (the history
    recorded as :func:`record` would record it), or None if it never would. It may answer earlier than
    that: after looking ``MAX_LOOKAHEAD`` times ahead it answers the last one."""
    if history.start is None or not history.values:
        return None
    cache = sums(history)
    now_value = _forecast(history, cache, now, current, settings)
    for checked, at in enumerate(_changes(history, cache, now, current, settings), 1):
        if checked >= MAX_LOOKAHEAD or _forecast(history, cache, at, current, settings) != now_value:
            return at
    return None


def _changes(
    history: History, cache: Sums | None, now: float, current: float, settings: Predictive
) -> Iterator[float]:
    """The times after ``now``, in order, at which an input of the forecast changes while demand holds:
    a bucket joins or leaves the trend's window (until the window holds only ``current``), and the
    buckets of yesterday that the season reads change value."""
    assert history.start is not None
    start, step = history.start, history.step
    values = history.values
    # the trend: its window holds only `current` once it starts after the last bucket that does not
    settled = -1
    for i in range(len(values) - 1, -1, -1):
        if values[i] != current:
            settled = i + 1
            break
        if start + (i + 1) * step + settings.lookback <= now:  # out of the window already
            break
    flat_from = start + settled * step + settings.lookback if settled >= 0 else -math.inf
    streams: list[Iterator[float]] = []
    if flat_from > now:
        streams.append(_grid(start, step, now, flat_from))  # a bucket joins
        streams.append(_grid(start + settings.lookback, step, now, flat_from))  # a bucket leaves
    if settings.seasonality:
        for offset in (DAY, DAY - settings.horizon):
            streams.append(_runs(history, cache, offset, now, current))
    pending = {i: next(s, math.inf) for i, s in enumerate(streams)}
    while pending:
        at = min(pending.values())
        if at == math.inf:
            return
        yield at
        for i, stream in enumerate(streams):
            while pending.get(i, math.inf) <= at:
                pending[i] = next(stream, math.inf)


def _grid(origin: float, step: float, after: float, until: float) -> Iterator[float]:
    """``origin + k * step`` after ``after`` and up to ``until`` (included)."""
    k = math.floor((after - origin) / step) + 1
    while origin + (k - 1) * step > after:
        k -= 1
    while (at := origin + k * step) <= until:
        if at > after:
            yield at
        k += 1


def _runs(
    history: History, cache: Sums | None, offset: float, after: float, current: float
) -> Iterator[float]:
    """The times after ``after`` at which the bucket read at ``time - offset`` changes value."""
    assert history.start is not None
    start, step = history.start, history.step
    last = len(history.values) - 1
    i = int((after - offset - start) // step)
    if i < 0:  # the season starts being read
        yield start + offset
        i = 0
    while i <= last:
        j = _run_end(history, cache, i)  # the first bucket after i with another value
        if j > last:
            if current != history.values[last]:
                yield start + (last + 1) * step + offset
            return
        yield start + j * step + offset
        i = j


def _run_end(history: History, cache: Sums | None, i: int) -> int:
    """The first index after ``i`` holding another value than bucket ``i`` (len(values) if none)."""
    values = history.values
    closed = len(values) - 1
    if cache is not None and i < closed:
        # the closed buckets i..k all equal, by bisection on the running sums
        lo, hi = i, closed - 1
        if cache.flat(i, hi):
            lo = hi
        else:
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if cache.flat(i, mid):
                    lo = mid
                else:
                    hi = mid - 1
        j = lo + 1
        return j if j < closed or values[closed] != values[i] else closed + 1
    j = i + 1
    while j < len(values) and values[j] == values[i]:
        j += 1
    return j
