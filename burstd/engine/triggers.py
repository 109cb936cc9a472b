"""Trigger conditions: thresholds that must hold for a while (`for`), over fresh samples only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from burstd.model.world import Sample
from burstd.policy.spec import Condition, ConditionGroup


@dataclass(frozen=True, slots=True)
class GroupResult:
    held: bool  # the group is satisfied, each condition for its full `for`
    stale: tuple[str, ...]  # signals that were missing or too old
    holding_since: dict[str, float]  # updated start times of conditions that are currently met
    wake_at: float | None  # when a met-but-not-yet-long-enough condition will have held long enough
    #: per condition: (condition, value or None when stale, seconds held or None when not met)
    seen: tuple[tuple[Condition, float | None, float | None], ...]

    @property
    def detail(self) -> tuple[str, ...]:
        """One line per condition, for reasons (formatted only when a reason needs it)."""
        out = []
        for cond, value, held in self.seen:
            label = _label(cond)
            if value is None:
                out.append(f"{label}: no fresh sample")
            elif held is None:
                out.append(f"{label}: {value:g}, not met")
            else:
                out.append(f"{label}: {value:g}, met for {held:g}s of {cond.for_:g}s")
        return tuple(out)


def evaluate(
    prefix: str,
    group: ConditionGroup,
    signals: Mapping[str, Sample],
    previous: Mapping[str, float],
    now: float,
    max_age: float,
) -> GroupResult:
    """Evaluate a condition group. A condition on a stale or missing signal is not met, and its timer
    restarts: a threshold must be seen holding on fresh data for the whole `for`."""
    since: dict[str, float] = {}
    stale: list[str] = []
    results: list[bool] = []
    wake: float | None = None
    seen: list[tuple[Condition, float | None, float | None]] = []
    mode, checks = _checks(prefix, group)
    for check in checks:
        cond = check.cond
        sample = signals.get(check.signal_id)
        if sample is None or now - sample.observed_at > max_age:
            stale.append(check.name)
            results.append(False)
            seen.append((cond, None, None))
            continue
        value = sample.value
        if not (value > check.above if check.above is not None else value < check.below):
            results.append(False)
            seen.append((cond, value, None))
            continue
        start = previous.get(check.key, now)
        since[check.key] = start
        held_for = now - start
        ok = held_for >= cond.for_
        results.append(ok)
        if not ok:
            due = start + cond.for_
            wake = due if wake is None else min(wake, due)
        seen.append((cond, value, held_for))
    held = any(results) if mode == "any" else all(results)
    return GroupResult(held, tuple(stale), since, wake, tuple(seen))


@dataclass(frozen=True, slots=True)
class _Check:
    """What :func:`evaluate` reads of one condition, worked out once per condition group."""

    cond: Condition
    key: str  # its timer's key in ``holding_since``
    signal_id: str
    name: str  # how a stale signal is named
    above: float | None
    below: float  # used only when ``above`` is None


_CHECKS: dict[tuple[str, int], tuple[ConditionGroup, str, tuple[_Check, ...]]] = {}


def _checks(prefix: str, group: ConditionGroup) -> tuple[str, tuple[_Check, ...]]:
    """The group's mode and its conditions' checks. Policies are frozen, so the answer for one group
    object never changes; the cache keeps the group alive with its entry, so an id is never reused while
    cached."""
    hit = _CHECKS.get((prefix, id(group)))
    if hit is not None and hit[0] is group:
        return hit[1], hit[2]
    mode = group.mode
    checks = tuple(
        _Check(
            cond,
            f"{prefix}.{mode}[{i}]",
            cond.signal_id,
            cond.signal or cond.promql or "?",
            cond.above,
            cond.below if cond.below is not None else math.nan,
        )
        for i, cond in enumerate(group.conditions)
    )
    if len(_CHECKS) >= 256:
        _CHECKS.clear()
    _CHECKS[(prefix, id(group))] = (group, mode, checks)
    return mode, checks


def _label(cond: Condition) -> str:
    op = f"> {cond.above:g}" if cond.above is not None else f"< {cond.below:g}"
    return f"{cond.signal or 'promql ' + repr(cond.promql)} {op}"
