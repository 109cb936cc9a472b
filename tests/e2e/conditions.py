"""metav1.Condition helpers shared by the simulated controllers."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any


def timestamp(at: datetime | None = None) -> str:
    """RFC 3339 in UTC with second precision, as the apiserver stores ``metav1.Time``."""
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: bool, reason: str, now: str, message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


def set_conditions(old: Iterable[Any] | None, new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each of ``new`` set by type; a condition whose status did not change keeps its
    ``lastTransitionTime`` (as ``meta.SetStatusCondition`` does)."""
    out = [dict(c) for c in old or [] if isinstance(c, dict)]
    index = {c.get("type"): i for i, c in enumerate(out)}
    for cond in new:
        i = index.get(cond["type"])
        if i is None:
            index[cond["type"]] = len(out)
            out.append(dict(cond))
            continue
        previous = out[i]
        updated = dict(cond)
        if previous.get("status") == cond["status"] and previous.get("lastTransitionTime"):
            updated["lastTransitionTime"] = previous["lastTransitionTime"]
        out[i] = updated
    return out


def find(conditions: Iterable[Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition of ``type_`` in a ``status.conditions`` list, if any."""
    for cond in conditions or []:
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None
