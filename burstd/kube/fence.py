"""Write fencing: a write is sent only while its writer may still write, and is abandoned when that time is up.

A ``Fence`` says how many seconds (monotonic) are left in which a write may be sent *and answered*; 0 or
less means none. The leader elector's fence (``LeaderElector.write_window``) closes ``renewDeadline`` after
the last successful Lease write was sent, before any other candidate may take the Lease over, so a write
that was answered within the window cannot overlap another leader's term. ``burstd.kube.retry.fenced_attempt``
applies a fence to one request: it is not sent when the window has closed, and it is abandoned (not awaited)
when the window closes while it is in flight. A retry is one more attempt, checked
again.

Abandoning a request cannot unsend it: a write whose bytes left before the window closed may still land.
Writes that must not land late therefore also carry a ``resourceVersion`` precondition where the API allows
(the server then answers 409 Conflict to a write based on a stale read).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .errors import KubeError, Target

__all__ = ["Fence", "Fenced", "closed", "not_retried", "unfenced"]

#: Seconds left in which a write may be sent and answered (0 or less: none).
Fence = Callable[[], float]


def unfenced() -> float:
    """The fence of a writer that needs no leadership (leader election off): always open."""
    return math.inf


class Fenced(KubeError):
    """A write was not sent, or was abandoned unanswered, because the writer's window had closed (it may no
    longer be the leader). Never retried."""


def closed(target: Target | None, what: str) -> Fenced:
    """``Fenced`` for ``target``: ``what`` ("not sent:", "abandoned unanswered:") happened to it."""
    where = f"{target.verb} {target.object_ref}" if target is not None else "write"
    return Fenced(
        f"{what} {where}: the write window has closed (leadership not confirmed)", status=0, target=target
    )


def not_retried(target: Target | None, exc: KubeError) -> Fenced:
    """A transient failure (``exc``) that was not retried because the window had closed before a retry could
    be sent (the failed attempt may or may not have landed)."""
    shut = closed(target, "not retried:")
    return Fenced(f"{shut.message}; the last attempt failed: {exc.message}", status=exc.status, target=target)
