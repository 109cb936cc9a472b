"""Kubernetes API errors, classified by what the caller must do about them.

Built from an HTTP status and the server's ``Status`` body by ``burstd.kube.client`` (the only module that
sees ``kubernetes_asyncio``'s ``ApiException``). Messages name the verb, the resource and the object, and
never contain a credential: every message passes through ``redact`` with the client's secrets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .resources import Resource

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


@dataclass(frozen=True, slots=True)
class Target:
    """What a request was about: the verb (as RBAC spells it), the resource and the object, if any."""

    verb: str
    resource: Resource
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def rbac_resource(self) -> str:
        """``machinedeployments/scale``: the resource as a Role rule names it (with its group)."""
        plural = f"{self.resource.plural}/{self.subresource}" if self.subresource else self.resource.plural
        return f'resource "{plural}" in API group "{self.resource.group}"'

    @property
    def object_ref(self) -> str:
        """``MachineDeployment ns/name`` (or the collection when there is no name)."""
        if self.name is None:
            where = f" in namespace {self.namespace}" if self.namespace else ""
            return f"{self.resource.kind} collection ({self.resource}){where}"
        key = f"{self.namespace}/{self.name}" if self.namespace else self.name
        sub = f" (subresource {self.subresource})" if self.subresource else ""
        return f"{self.resource.kind} {key}{sub} ({self.resource})"


class KubeError(Exception):
    """A Kubernetes API call failed. ``status`` is the HTTP status (0 when the server was not reached)."""

    retryable = False

    def __init__(self, message: str, *, status: int, target: Target | None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.target = target
        self.reason = reason


class Conflict(KubeError):
    """409: the object changed since it was read (a resourceVersion precondition failed, or it already
    exists), or, with ``field_manager_conflict``, a server-side apply touched a field another field manager
    owns (the Status details list ``FieldManagerConflict`` causes). Re-read, decide again."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        target: Target | None,
        reason: str = "",
        field_manager: bool = False,
    ) -> None:
        super().__init__(message, status=status, target=target, reason=reason)
        self.field_manager_conflict = field_manager


class Invalid(KubeError):
    """422: the server rejected the object burstd built. This is a bug in burstd."""

    def __init__(
        self, message: str, *, status: int, target: Target | None, reason: str = "", causes: tuple[str, ...]
    ) -> None:
        super().__init__(message, status=status, target=target, reason=reason)
        self.causes = causes


class Forbidden(KubeError):
    """403: RBAC does not allow burstd's identity this verb on this resource."""


class Unauthorized(KubeError):
    """401: the credential was rejected (expired token, wrong kubeconfig user)."""


class NotFound(KubeError):
    """404: the object (or the API) does not exist."""


class Gone(KubeError):
    """410: the resourceVersion is too old (compacted). Re-list."""


class Throttled(KubeError):
    """429: the server asked burstd to slow down. Retried with backoff."""

    retryable = True


class ServerError(KubeError):
    """5xx or the server could not be reached. Retried with backoff."""

    retryable = True


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove bearer tokens and the given secrets from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return _BEARER.sub(r"\1<redacted>", text)


def _status_body(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {"message": body[:500]}
    return body if isinstance(body, dict) else {}


def _causes(status: dict[str, Any]) -> tuple[str, ...]:
    details = status.get("details")
    raw = details.get("causes") if isinstance(details, dict) else None
    out: list[str] = []
    for cause in raw if isinstance(raw, list) else []:
        if isinstance(cause, dict):
            field = cause.get("field") or ""
            text = cause.get("message") or cause.get("reason") or ""
            out.append(f"{field}: {text}" if field else str(text))
    return tuple(out)


def classify(
    status: int, body: Any, target: Target | None, *, reason: str = "", secrets: Iterable[str] = ()
) -> KubeError:
    """The ``KubeError`` subclass for an HTTP status and a ``Status`` body (bytes, str or dict)."""
    secrets = tuple(secrets)
    parsed = _status_body(body)
    server = str(parsed.get("message") or reason or "no message")
    what = target.object_ref if target else "the API"
    verb = target.verb if target else "call"

    def done(cls: type[KubeError], message: str) -> KubeError:
        return cls(
            redact(message, secrets), status=status, target=target, reason=str(parsed.get("reason", ""))
        )

    if status == 409:
        details = parsed.get("details")
        causes = details.get("causes") if isinstance(details, dict) else None
        field_manager = isinstance(causes, list) and any(
            isinstance(c, dict) and c.get("reason") == "FieldManagerConflict" for c in causes
        )
        return Conflict(
            redact(f"conflict on {verb} {what}: {server}", secrets),
            status=status,
            target=target,
            reason=str(parsed.get("reason", "")),
            field_manager=field_manager,
        )
    if status == 422:
        causes = tuple(redact(c, secrets) for c in _causes(parsed))
        listed = "; ".join(causes) or server
        message = f"burstd bug: the server rejected {verb} of {what} as invalid: {listed}"
        return Invalid(
            redact(message, secrets), status=status, target=target, reason="Invalid", causes=causes
        )
    if status == 403:
        rbac = target.rbac_resource if target else "this resource"
        ns = f" in namespace {target.namespace}" if target and target.namespace else ""
        message = (
            f'RBAC problem: burstd is not allowed to "{verb}" {rbac}{ns} (on {what}); grant that verb '
            f"on that resource to burstd's ServiceAccount in its ClusterRole/Role. Server said: {server}"
        )
        return done(Forbidden, message)
    if status == 401:
        return done(
            Unauthorized, f"unauthorized: the API server rejected burstd's credential ({verb} {what})"
        )
    if status == 404:
        return done(NotFound, f"not found: {what} ({verb}): {server}")
    if status == 410:
        return done(Gone, f"resourceVersion too old for {verb} {what}: {server}")
    if status == 429:
        return done(Throttled, f"throttled (429) on {verb} {what}: {server}")
    if status == 0 or status >= 500:
        return done(ServerError, f"server error ({status or 'unreachable'}) on {verb} {what}: {server}")
    return done(KubeError, f"HTTP {status} on {verb} {what}: {server}")
