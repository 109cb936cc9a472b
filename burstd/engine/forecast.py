"""Predictive mode: forecast demand one provisioning delay ahead from the recent trend and the same
time of day yesterday. Off by default (``spec.predictive.enabled``)."""

from __future__ import annotations

import math
from dataclasses import replace

from burstd.model.state import History
from burstd.policy.spec import Predictive

DAY = 86400.0
STEP = 60.0


def record(history: History, now: float, value: float, keep_seconds: float) -> History:
    """Add a demand sample: one bucket per minute holding the highest demand seen in it; buckets older
    than ``keep_seconds`` are dropped."""
    if history.start is None or history.step != STEP:
        return History(step=STEP, start=math.floor(now / STEP) * STEP, values=(value,))
    index = int((now - history.start) // STEP)
    values = history.values
    last = len(values) - 1
    if index < last:  # out-of-order sample: ignore
        return history
    if index == last:
        if value <= values[-1]:
            return history
        values = (*values[:-1], value)
    else:
        values = values + (values[-1],) * (index - last - 1) + (value,)
    keep = int(keep_seconds // STEP) + 2
    start = history.start
    if len(values) > keep:
        start += (len(values) - keep) * STEP
        values = values[-keep:]
    return replace(history, start=start, values=values)


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
    """Demand expected ``horizon`` from now; never below ``current`` and never above twice it."""
    if history.start is None or not history.values:
        return current
    predictions = [current]
    recent = _window(history, now - settings.lookback, now)
    if len(recent) >= 3:
        slope = _slope(recent)
        if slope > 0:
            predictions.append(current + slope * settings.horizon)
    if settings.seasonality:
        then = _at(history, now - DAY)
        ahead = _at(history, now - DAY + settings.horizon)
        if then is not None and ahead is not None and then > 0 and ahead > then:
            predictions.append(current * ahead / then)
    return min(max(predictions), 2 * current if current > 0 else max(predictions))


def _window(history: History, since: float, until: float) -> list[tuple[float, float]]:
    assert history.start is not None
    out = []
    for i, value in enumerate(history.values):
        t = history.start + i * history.step
        if since <= t <= until:
            out.append((t, value))
    return out


def _at(history: History, t: float) -> float | None:
    assert history.start is not None
    index = int((t - history.start) // history.step)
    if 0 <= index < len(history.values):
        return history.values[index]
    return None


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var
