"""The demand history and the forecast: the history records demand as it held between observations
(however often it is observed), the incremental forecast equals a straightforward one, and
``next_change`` never misses a change of the forecast (the engine's wake-up for predictive mode)."""

from __future__ import annotations

import itertools
import json
import math
import random
from fractions import Fraction

import pytest

from burstd.engine.forecast import DAY, STEP, Sums, forecast, keep_for, next_change, record, sums
from burstd.model.state import BurstState, History
from burstd.policy.spec import Predictive

T0 = 1_767_571_200.0  # a whole minute
LOOKBACKS = (900.0, 930.0, 1800.0, 120.0)


def predictive(lookback: float = 900.0, horizon: float = 180.0, seasonality: bool = True) -> Predictive:
    return Predictive(
        enabled=True, lookback=f"{lookback:g}s", horizon=f"{horizon:g}s", seasonality=seasonality
    )


# --- references: straightforward, scanning every bucket -------------------------------------------------


def reference_buckets(
    calls: list[tuple[float, float]], keep_seconds: float
) -> tuple[float, tuple[float, ...]]:
    """(start, buckets) of demand observed at ``calls`` (time, value), each value holding until the next
    call: each minute bucket holds the highest value that held in it; only the last buckets are kept."""
    first = math.floor(calls[0][0] / STEP)
    last = math.floor(calls[-1][0] / STEP)
    buckets = []
    for k in range(first, last + 1):
        lo, hi = k * STEP, (k + 1) * STEP
        held = [v for (t, v), (u, _) in itertools.pairwise(calls) if t < hi and u > lo]
        if lo <= calls[-1][0] < hi:
            held.append(calls[-1][1])
        buckets.append(max(held))
    keep = int(keep_seconds // STEP) + 2
    start = first * STEP + max(0, len(buckets) - keep) * STEP
    return start, tuple(buckets[-keep:])


def exact_slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    ts = [Fraction(t) for t, _ in points]
    vs = [Fraction(v) for _, v in points]
    mt, mv = sum(ts) / n, sum(vs) / n
    var = sum((t - mt) ** 2 for t in ts)
    return float(sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / var)


def reference_forecast(
    history: History, now: float, current: float, settings: Predictive, *, exact: bool = True
) -> float:
    """The forecast, the trend over every bucket that overlaps ``[now - lookback, now]``."""
    assert history.start is not None
    first = max(0, int((now - settings.lookback - history.start) // history.step))
    last = int((now - history.start) // history.step)
    points = [
        (history.start + i * history.step, v) for i, v in enumerate(history.values) if first <= i <= last
    ]
    predictions = [current]
    if len(points) >= 3:
        slope = exact_slope(points) if exact else float_slope(points)
        if slope > 0:
            predictions.append(current + slope * settings.horizon)
    if settings.seasonality:
        then = value_at(history, now - DAY)
        ahead = value_at(history, now - DAY + settings.horizon)
        if then is not None and ahead is not None and then > 0 and ahead > then:
            predictions.append(current * ahead / then)
    return min(max(predictions), 2 * current if current > 0 else max(predictions))


def float_slope(points: list[tuple[float, float]]) -> float:
    """The slope as the forecast computed it before it was incremental (sums of floats)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def value_at(history: History, t: float) -> float | None:
    assert history.start is not None
    index = int((t - history.start) // history.step)
    return history.values[index] if 0 <= index < len(history.values) else None


# --- random demand ------------------------------------------------------------------------------------------


def random_calls(rng: random.Random, span: float, *, whole: bool = True) -> list[tuple[float, float]]:
    """Observations over ``span`` seconds: demand in steps and ramps, observed at irregular times (often
    on whole minutes, sometimes hours apart)."""
    t = T0 + rng.choice((0.0, 17.0, 60.0))
    value = float(rng.randint(0, 300))
    calls = [(t, value)]
    while t < T0 + span:
        gap = rng.choice((10.0, 30.0, 60.0, 60.0, 120.0, 45.5, 600.0, 3600.0, 7.25))
        t += gap
        if rng.random() < 0.6:
            value = max(0.0, value + rng.choice((-40, -5, -1, 1, 2, 5, 30, 120)))
        if not whole and rng.random() < 0.3:
            value += 0.25
        calls.append((t, value))
    return calls


def recorded(calls: list[tuple[float, float]], keep: float) -> History:
    history = History()
    for t, v in calls:
        history = record(history, t, v, keep)
    return history


# --- the history ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_the_history_holds_each_value_until_the_next_observation(seed: int) -> None:
    rng = random.Random(seed)
    keep = rng.choice((600.0, 3600.0, DAY + 1200.0))
    calls = random_calls(rng, rng.choice((3000.0, 30000.0, 2 * DAY)))
    history = recorded(calls, keep)
    start, values = reference_buckets(calls, keep)
    assert (history.start, history.values, history.last) == (start, values, calls[-1][1])


@pytest.mark.parametrize("seed", range(20))
def test_observing_more_often_records_the_same_history(seed: int) -> None:
    # what the simulator relies on: an evaluation that observes no change records nothing new
    rng = random.Random(seed)
    calls = random_calls(rng, 20000.0)
    extra = list(calls)
    for (t, v), (u, _) in itertools.pairwise(calls):
        extra += [(t + (u - t) * f, v) for f in (0.2, 0.5, 0.99) if t + (u - t) * f < u]
    extra.sort(key=lambda c: c[0])
    keep = 3600.0
    assert recorded(extra, keep) == recorded(calls, keep)


def test_a_bucket_holds_the_value_carried_into_it_unless_it_starts_with_the_observation() -> None:
    h = record(History(), T0 + 10.0, 100.0, 600.0)
    h = record(h, T0 + 90.0, 50.0, 600.0)  # 100 held from 60 s to 90 s
    assert h.values == (100.0, 100.0)
    h = record(h, T0 + 180.0, 40.0, 600.0)  # 50 held through the bucket of 120 s; 180 s starts with 40
    assert h.values == (100.0, 100.0, 50.0, 40.0)
    assert h.last == 40.0


def test_the_running_sums_follow_the_history_and_survive_branching() -> None:
    rng = random.Random(7)
    history = recorded(random_calls(rng, 9000.0), 1800.0)
    cache = sums(history)
    assert cache is not None
    assert cache.values is history.values
    fresh = Sums.of(history.values)
    assert fresh is not None
    n = len(history.values) - 1
    assert [cache.window(0, n, 0.0)[1:], cache.window(3, n - 2, 0.0)[1:]] == [
        fresh.window(0, n, 0.0)[1:],
        fresh.window(3, n - 2, 0.0)[1:],
    ]
    # two histories derived from the same one (the same state decided on twice) do not disturb each other
    now = T0 + 9000.0 + 3600.0
    a = record(history, now, 5.0, 1800.0)
    b = record(history, now + 300.0, 900.0, 1800.0)
    again = record(history, now, 5.0, 1800.0)
    for h in (a, b, again, history):
        mine, scratch = sums(h), Sums.of(h.values)
        assert mine is not None
        assert scratch is not None
        last = len(h.values) - 1
        assert mine.window(0, last, 0.0) == scratch.window(0, last, 0.0)


def test_demand_that_is_not_whole_numbers_is_forecast_without_running_sums() -> None:
    rng = random.Random(3)
    calls = random_calls(rng, 20000.0, whole=False)
    history = recorded(calls, keep_for(predictive(), 0.0))
    assert any(not v.is_integer() for v in history.values)
    assert sums(history) is None
    now, current = calls[-1]
    expected = reference_forecast(history, now, current, predictive(), exact=False)
    assert forecast(history, now, current, predictive()) == pytest.approx(expected, rel=1e-12)


# --- the forecast ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_the_incremental_forecast_is_the_straightforward_one(seed: int) -> None:
    rng = random.Random(seed)
    settings = predictive(rng.choice(LOOKBACKS), rng.choice((60.0, 180.0, 300.0)), rng.random() < 0.7)
    keep = keep_for(settings, 600.0)
    calls = random_calls(rng, rng.choice((5000.0, DAY + 7200.0)))
    history = History()
    for t, v in calls:
        history = record(history, t, v, keep)
        got = forecast(history, t, v, settings)
        assert got == reference_forecast(history, t, v, settings), (t, v)


@pytest.mark.parametrize("seed", range(20))
def test_on_whole_minutes_the_forecast_is_the_one_before_it_was_incremental(seed: int) -> None:
    # with the lookback a whole number of minutes and the evaluation on a whole minute, the buckets that
    # overlap the lookback are the ones whose start falls in it: the window the forecast used before
    rng = random.Random(seed)
    settings = predictive(rng.choice((900.0, 1800.0, 120.0)), 180.0, rng.random() < 0.5)
    calls = [(T0 + round((t - T0) / STEP) * STEP, v) for t, v in random_calls(rng, 30000.0)]
    calls = [c for i, c in enumerate(calls) if i == 0 or c[0] > calls[i - 1][0]]
    history = History()
    for t, v in calls:
        history = record(history, t, v, keep_for(settings, 600.0))
        before = reference_forecast(history, t, v, settings, exact=False)
        assert forecast(history, t, v, settings) == pytest.approx(before, rel=1e-12, abs=1e-9)


def test_a_rising_trend_is_extrapolated_over_the_horizon() -> None:
    settings = predictive(600.0, 180.0, seasonality=False)
    history = History()
    for minute in range(11):
        history = record(history, T0 + minute * STEP, 100.0 + 2 * minute, 1200.0)
    # +2 a minute: 120 now, 126 three minutes on
    assert forecast(history, T0 + 600.0, 120.0, settings) == pytest.approx(126.0)


# --- when the forecast changes ---------------------------------------------------------------------------


def forecasts_while_demand_holds(
    history: History, now: float, current: float, settings: Predictive, until: float, keep: float
) -> list[tuple[float, float]]:
    """(time, forecast) as evaluations every 20 s and on every bucket start would see them, demand held."""
    times = sorted(
        {now + 20.0 * k for k in range(1, int((until - now) / 20.0) + 1)}
        | {math.floor(now / STEP) * STEP + STEP * k for k in range(1, int((until - now) / STEP) + 1)}
        | {
            math.floor(now / STEP) * STEP + STEP * k + settings.lookback
            for k in range(int((until - now) / STEP))
        }
    )
    out = []
    h = history
    for t in times:
        if now < t <= until:
            h = record(h, t, current, keep)
            out.append((t, forecast(h, t, current, settings)))
    return out


@pytest.mark.parametrize("seed", range(30))
def test_the_forecast_does_not_change_before_next_change(seed: int) -> None:
    rng = random.Random(seed)
    settings = predictive(rng.choice(LOOKBACKS), rng.choice((120.0, 180.0, 600.0)), rng.random() < 0.6)
    keep = keep_for(settings, 600.0)
    calls = random_calls(rng, rng.choice((4000.0, DAY + 5000.0)))
    history = recorded(calls, keep)
    now, current = calls[-1]
    if rng.random() < 0.5:  # demand just changed: the trend is moving
        now += rng.choice((1.0, 60.0, 61.0))
        current = max(0.0, current + rng.choice((-50.0, 50.0)))
        history = record(history, now, current, keep)
    value = forecast(history, now, current, settings)
    wake = next_change(history, now, current, settings)
    until = (wake if wake is not None else now + 2 * DAY) - 1e-6
    for t, seen in forecasts_while_demand_holds(
        history, now, current, settings, min(until, now + 2 * DAY), keep
    ):
        assert seen == value, (t, wake)
    if wake is not None:
        assert wake > now


def test_next_change_is_the_next_bucket_while_a_rise_is_in_the_trend_window() -> None:
    settings = predictive(600.0, 180.0, seasonality=False)
    history = History()
    for minute in range(6):
        history = record(history, T0 + minute * STEP, 100.0 + 10 * minute, 1200.0)
    now = T0 + 5 * STEP
    assert next_change(history, now, 150.0, settings) == now + STEP


def test_flat_demand_never_changes_the_forecast() -> None:
    settings = predictive(600.0, 180.0, seasonality=True)
    history = recorded([(T0 + k * 600.0, 120.0) for k in range(200)], keep_for(settings, 600.0))
    assert next_change(history, T0 + 199 * 600.0, 120.0, settings) is None


def test_yesterday_is_read_again_when_it_changed() -> None:
    # flat today; yesterday demand rose at 10:00, so the season lifts the forecast at 10:00 - horizon
    settings = predictive(600.0, 300.0, seasonality=True)
    calls = [(T0, 100.0), (T0 + 36000.0, 200.0), (T0 + 39600.0, 100.0), (T0 + DAY + 3600.0, 100.0)]
    history = recorded(calls, keep_for(settings, 600.0))
    now = T0 + DAY + 3600.0
    assert next_change(history, now, 100.0, settings) == T0 + DAY + 36000.0 - 300.0


# --- the persisted state --------------------------------------------------------------------------------


def test_the_history_round_trips_without_its_running_sums() -> None:
    history = recorded([(T0, 5.0), (T0 + 130.0, 7.0)], 600.0)
    assert history.sums is not None
    state = BurstState(history=history)
    data = json.loads(json.dumps(state.to_dict()))
    assert data["history"] == {"step": 60.0, "start": T0, "values": [5.0, 5.0, 7.0], "last": 7.0}
    back = BurstState.from_dict(data)
    assert back == state
    assert back.history.sums is None  # rebuilt on first use
    assert forecast(back.history, T0 + 130.0, 7.0, predictive()) == forecast(
        history, T0 + 130.0, 7.0, predictive()
    )


def test_a_history_saved_before_the_last_sample_was_kept_loads() -> None:
    data = BurstState().to_dict()
    data["history"] = {"step": 60.0, "start": T0, "values": [5.0, 9.0]}
    history = BurstState.from_dict(data).history
    assert (history.values, history.last) == ((5.0, 9.0), None)
    # the last bucket's value is taken as held until the next observation
    assert record(history, T0 + 150.0, 1.0, 600.0).values == (5.0, 9.0, 9.0)


def test_without_running_sums_the_history_is_the_same_and_forecasts_alike() -> None:
    # decide keeps the running sums only in predictive mode (the stabilization window needs none)
    calls = random_calls(random.Random(11), 20000.0)
    plain = History()
    for t, v in calls:
        plain = record(plain, t, v, 3600.0, running_sums=False)
    assert plain.sums is None
    full = recorded(calls, 3600.0)
    assert plain == full
    now, current = calls[-1]
    assert forecast(plain, now, current, predictive()) == forecast(full, now, current, predictive())
