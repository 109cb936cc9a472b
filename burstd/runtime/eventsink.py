"""What the runtime reports Kubernetes Events through, and the object an Event is about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object an Event is about (``regarding`` in ``events.k8s.io/v1``)."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


class EventSink(Protocol):
    """Records an Event on ``regarding``. Never raises: a failed Event is logged, not fatal."""

    async def emit(
        self, regarding: ObjectRef, type_: EventType, reason: str, action: str, note: str
    ) -> None: ...
