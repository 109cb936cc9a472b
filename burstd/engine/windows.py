"""Scheduled pre-warm windows: cron times in a time zone, each opening a window of minimum cloud nodes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter

from burstd.policy.spec import ScheduleWindow


def window_floor(windows: Sequence[ScheduleWindow], now: float) -> tuple[int, float | None, str | None]:
    """(minimum nodes now, next time that can change, name of the window setting the minimum)."""
    floor = 0
    name: str | None = None
    wake: float | None = None
    for window in windows:
        active_until, next_start = _bounds(window.cron, window.time_zone, window.duration, now)
        if active_until is not None:
            if window.min_nodes > floor:
                floor, name = window.min_nodes, window.name
            wake = active_until if wake is None else min(wake, active_until)
        wake = next_start if wake is None else min(wake, next_start)
    return floor, wake, name


@lru_cache(maxsize=4096)
def _bounds(cron: str, zone: str, duration: float, now: float) -> tuple[float | None, float]:
    """(end of the window active at ``now`` or None, start of the next window)."""
    at = datetime.fromtimestamp(now, ZoneInfo(zone))
    # A window opened by the latest cron time at or before now; croniter's get_prev excludes `now`
    # itself, so step one second ahead to include a window opening exactly now.
    prev = croniter(cron, at + timedelta(seconds=1)).get_prev(datetime)
    nxt = croniter(cron, at).get_next(datetime)
    end = prev.timestamp() + duration
    return (end if end > now else None), nxt.timestamp()
