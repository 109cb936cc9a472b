"""What the actuators share: the result of one action, the leadership/dry-run gate before every write.

Fencing: the gate is checked at the start of an action and right before each of its writes; the clients
the actuators write through are fenced by the same window (``KubeClient.fenced``), so a retry or a write
still in flight when leadership lapses is not sent or is abandoned. Writes that change what the engine
decided on (``/scale``, the static weights, the delete-machine mark) also carry the resourceVersion just
read: when the object changed since (another writer, perhaps a new leader, came first), the server refuses
the write and the action's outcome is ``conflict``; the next round re-reads and decides again.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from burstd.kube.errors import Conflict, Invalid
from burstd.kube.fence import Fence, Fenced, unfenced
from burstd.model.actions import Action, describe
from burstd.runtime.eventsink import ObjectRef

__all__ = [
    "FIELD_MANAGER",
    "ActionResult",
    "NotLeader",
    "Outcome",
    "WriteGate",
    "dig",
    "ref_of",
    "sending",
    "stale",
    "summarise",
]

log = logging.getLogger("burstd.runtime.actuate")

FIELD_MANAGER = "burstd"

#: applied: written; unchanged: already so, nothing written; dry-run: would have been written;
#: held: another field manager owns the field, burstd did not force; refused: burstd must not manage it;
#: conflict: the object changed since burstd read it (a resourceVersion precondition failed), nothing more
#: was written: the next round re-reads it and decides again; failed: a cloud call failed in a way that may
#: pass (throttled, unavailable, stock-out, quota), nothing more was written: the next round decides again.
Outcome = Literal["applied", "unchanged", "dry-run", "held", "refused", "conflict", "failed"]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What one action did: the outcome and a one-line message for logs and /debug/decisions."""

    action: Action
    outcome: Outcome
    message: str


class NotLeader(Fenced):
    """burstd was about to write without holding the leader Lease (its write window had closed). Nothing
    was written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=0, target=None)


@dataclass(frozen=True, slots=True)
class WriteGate:
    """Checked before every write: leadership (``fence``: seconds left in which a write may be sent, see
    ``burstd.kube.fence``) and ``dry_run``."""

    dry_run: bool
    fence: Fence = unfenced

    def may_write(self) -> bool:
        return self.fence() > 0

    def ensure_leader(self, action: Action) -> None:
        if not self.may_write():
            raise NotLeader(f"not the leader: refusing to {describe(action)}")

    def dry(self, action: Action, detail: str = "") -> ActionResult:
        """The result of a write skipped because of dry-run (logged at INFO)."""
        message = f"would {describe(action)}" + (f"; {detail}" if detail else "")
        log.info("dry run: %s", message)
        return ActionResult(action, "dry-run", message)


def stale(action: Action, what: str, exc: Conflict) -> ActionResult:
    """The result of a write refused because ``what`` changed since it was read (logged at INFO: not an
    error; the next round re-reads and decides again)."""
    message = (
        f"{what} changed since burstd read it; not written, the next round decides again ({exc.message})"
    )
    log.info("%s: %s", describe(action), message)
    return ActionResult(action, "conflict", message)


def ref_of(obj: Mapping[str, Any], api_version: str, kind: str) -> ObjectRef:
    """The ``ObjectRef`` of an object read from the API server (with its uid)."""
    meta = dig(obj, "metadata") or {}
    uid = meta.get("uid")
    return ObjectRef(
        api_version,
        kind,
        str(meta.get("name", "")),
        str(meta["namespace"]) if meta.get("namespace") else None,
        uid if isinstance(uid, str) else None,
    )


def summarise(body: Mapping[str, Any], limit: int = 400) -> str:
    """``body`` as compact JSON, cut to ``limit`` characters (for error messages)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def sending(body: Mapping[str, Any]) -> Iterator[None]:
    """Re-raise a 422 from the write inside with the body burstd sent (an invalid write is a burstd bug)."""
    try:
        yield
    except Invalid as exc:
        raise Invalid(
            f"{exc.message}; burstd sent: {summarise(body)}",
            status=exc.status,
            target=exc.target,
            reason=exc.reason,
            causes=exc.causes,
        ) from exc


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj
