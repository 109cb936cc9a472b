"""Kubernetes Events (``events.k8s.io/v1``) for what burstd does, and an in-memory sink for tests.

``EventRecorder`` writes one Event per call on the API server of the client it is given (the object's own
API server). An Event that cannot be written is logged and dropped: Events never stop burstd.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from burstd.cloud.provider import redact as redact_credentials
from burstd.kube.errors import KubeError, redact

from .eventsink import EventType, ObjectRef
from .microtime import format_micro_time

__all__ = [
    "CLUSTER_SCOPED_NAMESPACE",
    "NOTE_LIMIT",
    "EventClient",
    "EventRecorder",
    "RecordedEvent",
    "RecordingSink",
    "clean_note",
    "event_name",
]

log = logging.getLogger("burstd.events")

#: The API server rejects a note longer than this many bytes.
NOTE_LIMIT = 1024
#: The only namespace the API server accepts Events about cluster-scoped objects in.
CLUSTER_SCOPED_NAMESPACE = "default"
#: The API server's limit on ``reason``, ``action`` and ``reportingInstance``.
_FIELD_LIMIT = 128
_ELLIPSIS = "…"


class EventClient(Protocol):
    """The part of ``burstd.kube.client.KubeClient`` the recorder uses."""

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


def _truncate_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary), marked with an ellipsis."""
    if len(text.encode()) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode())
    cut = text.encode()[:room].decode(errors="ignore")
    return cut + _ELLIPSIS


def clean_note(note: str) -> str:
    """The note as it may be stored: credentials redacted, at most ``NOTE_LIMIT`` bytes."""
    return _truncate_bytes(redact_credentials(redact(note)), NOTE_LIMIT)


def event_name(object_name: str) -> str:
    """``<object name>.<nanoseconds, hex>``, as client-go names Events (the server rejects a
    ``generateName`` ending in a dot)."""
    suffix = f".{time.time_ns():x}"
    return object_name[: 253 - len(suffix)] + suffix


class EventRecorder:
    """An ``EventSink`` writing ``events.k8s.io/v1`` Events through ``client``.

    Events about a namespaced object go to that object's namespace. Events about a cluster-scoped object
    go to ``default``: the API server accepts them nowhere else (``events.k8s.io`` validation rejects
    "involvedObject.namespace does not match event.namespace"). ``namespace`` is kept for that case; any
    other value than ``default`` is ignored with a warning. ``instance`` is the reporting instance (the pod's
    identity). With ``dry_run`` nothing is written: the Event is logged as "would record event".
    """

    def __init__(
        self,
        client: EventClient,
        *,
        namespace: str = CLUSTER_SCOPED_NAMESPACE,
        instance: str,
        controller: str = "burstd.io/burstd",
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if namespace != CLUSTER_SCOPED_NAMESPACE:
            log.warning(
                "Events about cluster-scoped objects go to namespace %s, not %s: the API server accepts "
                "them only there",
                CLUSTER_SCOPED_NAMESPACE,
                namespace,
            )
        if not instance:
            raise ValueError("EventRecorder needs a reporting instance")
        self._client = client
        self._instance = instance[:_FIELD_LIMIT]
        self._controller = controller
        self._dry_run = dry_run
        self._clock = clock

    def body(
        self, regarding: ObjectRef, type_: EventType, reason: str, action: str, note: str
    ) -> dict[str, Any]:
        """The Event object ``emit`` creates (note already redacted and truncated)."""
        ref: dict[str, Any] = {
            "apiVersion": regarding.api_version,
            "kind": regarding.kind,
            "name": regarding.name,
        }
        if regarding.namespace:
            ref["namespace"] = regarding.namespace
        if regarding.uid:
            ref["uid"] = regarding.uid
        namespace = regarding.namespace or CLUSTER_SCOPED_NAMESPACE
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": event_name(regarding.name), "namespace": namespace},
            "eventTime": format_micro_time(self._clock()),
            "reportingController": self._controller,
            "reportingInstance": self._instance,
            "regarding": ref,
            "type": type_,
            "reason": reason[:_FIELD_LIMIT],
            "action": action[:_FIELD_LIMIT],
            "note": clean_note(note),
        }

    async def emit(self, regarding: ObjectRef, type_: EventType, reason: str, action: str, note: str) -> None:
        """Create the Event. Never raises (except for cancellation): a failure is logged as a warning."""
        body = self.body(regarding, type_, reason, action, note)
        namespace = body["metadata"]["namespace"]
        if self._dry_run:
            log.info(
                "dry run: would record event %s %s/%s on %s: %s",
                type_,
                body["action"],
                body["reason"],
                regarding,
                body["note"],
            )
            return
        try:
            await self._client.create_event(namespace, body)
        except KubeError as exc:
            log.warning("cannot record event %s on %s: %s", body["reason"], regarding, exc.message)
        except Exception as exc:
            what = redact_credentials(redact(f"{type(exc).__name__}: {exc}"))
            log.warning("cannot record event %s on %s: %s", body["reason"], regarding, what)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    regarding: ObjectRef
    type: EventType
    reason: str
    action: str
    note: str


@dataclass
class RecordingSink:
    """Test double satisfying ``EventSink``: keeps every emitted Event in ``events``, in order."""

    events: list[RecordedEvent] = field(default_factory=list)

    async def emit(self, regarding: ObjectRef, type_: EventType, reason: str, action: str, note: str) -> None:
        self.events.append(RecordedEvent(regarding, type_, reason, action, note))

    def reasons(self) -> list[str]:
        """The reasons of the recorded Events, in order."""
        return [e.reason for e in self.events]
