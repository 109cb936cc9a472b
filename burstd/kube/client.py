"""The one thin wrapper around ``kubernetes_asyncio`` (the only module that imports it).

Custom objects: get, list, create, delete, JSON merge patch, server-side apply, the ``/status`` and
``/scale`` subresources and a raw watch. Built-in objects burstd keeps on the management cluster: ConfigMaps
(its state) and Leases (get, create, replace) and ``events.k8s.io/v1`` Events (create), returned as the
JSON the server sent. Every PATCH sets its content type explicitly (the library would
otherwise send a JSON patch). API errors leave this module as ``burstd.kube.errors`` classes; 429/5xx and
connection failures are retried with bounded, jittered backoff first.

Writes can be fenced (``KubeClient.fenced``, ``burstd.kube.fence``): the leader's writes are sent only
while its leadership is confirmed, each attempt and retry bounded by the time left.

Every call has a deadline: each request is bounded by ``request_timeout`` (connect, send, read the whole
answer; a server that accepts and never answers is a retryable ``ServerError``), and a call with its retries
by ``Backoff.deadline``. Only an open watch stream reads past ``request_timeout`` (it has its own bound).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.rest import ApiException

from .errors import KubeError, ServerError, Target, classify, redact
from .fence import Fence, not_retried, unfenced
from .resources import (
    CONFIGMAPS,
    EVENTS,
    FEDERATED_HPAS,
    KARMADA_CLUSTERS,
    LEASES,
    MACHINE_DEPLOYMENTS,
    MACHINE_DEPLOYMENTS_V1BETA1,
    MACHINE_POOLS,
    MACHINE_POOLS_V1BETA1,
    MACHINES,
    MACHINES_V1BETA1,
    PROPAGATION_POLICIES,
    RESOURCE_BINDINGS,
    WORKLOAD_REBALANCERS,
    Resource,
)
from .retry import Backoff, call_with_retry, fenced_attempt

__all__ = [
    "APPLY_PATCH",
    "CONFIGMAPS",
    "EVENTS",
    "FEDERATED_HPAS",
    "KARMADA_CLUSTERS",
    "LEASES",
    "MACHINES",
    "MACHINES_V1BETA1",
    "MACHINE_DEPLOYMENTS",
    "MACHINE_DEPLOYMENTS_V1BETA1",
    "MACHINE_POOLS",
    "MACHINE_POOLS_V1BETA1",
    "MERGE_PATCH",
    "PROPAGATION_POLICIES",
    "RESOURCE_BINDINGS",
    "WORKLOAD_REBALANCERS",
    "EventType",
    "KubeClient",
    "ListResult",
    "Resource",
    "WatchEvent",
]

MERGE_PATCH = "application/merge-patch+json"
#: How much longer than its ``timeoutSeconds`` a watch may stay silent (no byte at all) before it is
#: abandoned: the server ends a healthy watch at ``timeoutSeconds`` (after a BOOKMARK ~2 s before).
SILENCE_MARGIN = 10.0
APPLY_PATCH = "application/apply-patch+yaml"
T = TypeVar("T")
Obj = dict[str, Any]
#: Default bound on one request (connect, send, read the whole answer), in seconds.
REQUEST_TIMEOUT = 10.0


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event. For ERROR, ``object`` is the server's ``Status`` (``code``, ``reason``, ``message``)."""

    type: EventType
    object: Obj

    @property
    def resource_version(self) -> str | None:
        meta = self.object.get("metadata")
        rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
        return rv if isinstance(rv, str) and rv else None

    @property
    def code(self) -> int | None:
        """The HTTP code of an ERROR event's Status (410 = resourceVersion too old)."""
        code = self.object.get("code")
        return code if isinstance(code, int) else None


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[Obj]
    resource_version: str


def _secrets_of(cfg: k8s.Configuration) -> tuple[str, ...]:
    found: list[str] = []
    for value in (getattr(cfg, "api_key", None) or {}).values():
        if isinstance(value, str) and value:
            found.append(value)
            parts = value.split(None, 1)
            if len(parts) == 2:
                found.append(parts[1])
    for attr in ("password",):
        value = getattr(cfg, attr, None)
        if isinstance(value, str) and value:
            found.append(value)
    return tuple(found)


class KubeClient:
    """An async client for one API server. Use as ``async with await KubeClient.from_kubeconfig(...)``."""

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        backoff: Backoff | None = None,
        secrets: tuple[str, ...] = (),
        request_timeout: float = REQUEST_TIMEOUT,
    ):
        if not request_timeout > 0:
            raise ValueError(f"request_timeout must be above 0 s, got {request_timeout}")
        self._api = api
        self._request_timeout = request_timeout
        # Typed Any on purpose: kubernetes_asyncio 36.1.0's stubs omit the ``_content_type`` keyword its
        # methods accept (and every PATCH must pass). This is the one place that hides it.
        self._co: Any = k8s.CustomObjectsApi(api)
        self._core: Any = k8s.CoreV1Api(api)
        self._coordination: Any = k8s.CoordinationV1Api(api)
        self._events: Any = k8s.EventsV1Api(api)
        self._backoff = backoff or Backoff()
        self._secrets = secrets or _secrets_of(api.configuration)
        self._fence: Fence = unfenced  # writes other than Leases (see ``fenced``)

    @classmethod
    async def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        *,
        backoff: Backoff | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> KubeClient:
        cfg = k8s.Configuration()
        await k8s_config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
        return cls(k8s.ApiClient(cfg), backoff=backoff, request_timeout=request_timeout)

    @classmethod
    def in_cluster(
        cls, *, backoff: Backoff | None = None, request_timeout: float = REQUEST_TIMEOUT
    ) -> KubeClient:
        cfg = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        return cls(k8s.ApiClient(cfg), backoff=backoff, request_timeout=request_timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._api.close()

    def fenced(self, fence: Fence) -> KubeClient:
        """This client (sharing its connections: close only the original) with every write but the Lease's
        fenced: create, delete, patch, apply, ``/status``, ``/scale``, ConfigMaps and Events. Each attempt,
        retries included, is sent only while ``fence`` is open and abandoned when it closes (``Fenced``);
        retrying stops once the window would close first. Lease writes stay unfenced: the elector that
        owns the fence makes them."""
        view = copy.copy(self)
        view._fence = fence
        return view

    # ------------------------------------------------------------------ plumbing

    def _error(self, exc: BaseException, target: Target) -> KubeError:
        if isinstance(exc, ApiException):
            return classify(
                int(exc.status or 0), exc.body, target, reason=str(exc.reason or ""), secrets=self._secrets
            )
        what = redact(f"{type(exc).__name__}: {exc}", self._secrets)
        return ServerError(
            f"cannot reach the API server ({target.verb} {target.object_ref}): {what}",
            status=0,
            target=target,
        )

    def _no_answer(self, target: Target, seconds: float, what: str) -> ServerError:
        return ServerError(
            f"cannot reach the API server ({target.verb} {target.object_ref}): no answer within "
            f"{seconds:g} s{what}",
            status=0,
            target=target,
        )

    async def _write(self, target: Target, send: Callable[[], Awaitable[T]]) -> T:
        """A write: every attempt (each retry too) goes through this client's fence."""
        fence = self._fence
        return await self._call(target, lambda: fenced_attempt(fence, target, send), fence)

    def _guarded(self, target: Target, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """``fn`` (a typed API method that writes) behind this client's fence, attempt by attempt."""
        fence = self._fence

        async def send(*args: Any, **kwargs: Any) -> Any:
            return await fenced_attempt(fence, target, lambda: fn(*args, **kwargs))

        return send

    async def _call(self, target: Target, fn: Callable[[], Awaitable[T]], fence: Fence | None = None) -> T:
        """``fn()`` with a deadline per attempt (``request_timeout``) and for all attempts together
        (``Backoff.deadline``); any failure leaves as a ``KubeError``. With ``fence``, retries stop when it
        closes, and a transient failure left unretried for that reason is reported as ``Fenced``."""
        try:
            return await self._attempts(target, fn, fence)
        except KubeError as exc:
            if fence is not None and exc.retryable and not fence() > 0:
                raise not_retried(target, exc) from exc
            raise

    async def _attempts(self, target: Target, fn: Callable[[], Awaitable[T]], fence: Fence | None) -> T:

        async def once() -> T:
            deadline = asyncio.timeout(self._request_timeout)
            try:
                async with deadline:
                    return await fn()
            except TimeoutError as exc:
                if deadline.expired():
                    raise self._no_answer(target, self._request_timeout, "") from None
                raise self._error(exc, target) from None
            except (ApiException, aiohttp.ClientError) as exc:
                raise self._error(exc, target) from None

        bound = self._backoff.deadline
        overall = asyncio.timeout(bound)
        try:
            async with overall:
                return await call_with_retry(once, self._backoff, fence=fence)
        except TimeoutError as exc:
            if not overall.expired():
                raise self._error(exc, target) from None
            raise self._no_answer(target, bound, " (all attempts)") from None

    @staticmethod
    def _scope(resource: Resource, namespace: str | None) -> str:
        if resource.namespaced and not namespace:
            raise ValueError(f"{resource} is namespaced: a namespace is required")
        if not resource.namespaced and namespace:
            raise ValueError(f"{resource} is cluster-scoped: no namespace")
        return "namespaced" if resource.namespaced else "cluster"

    def _method(self, template: str, resource: Resource, namespace: str | None) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self._co, template.format(self._scope(resource, namespace)))
        return method

    @staticmethod
    def _args(resource: Resource, namespace: str | None) -> tuple[str, ...]:
        if resource.namespaced:
            assert namespace is not None
            return (resource.group, resource.version, namespace, resource.plural)
        return (resource.group, resource.version, resource.plural)

    # ------------------------------------------------------------------ verbs

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        fn = self._method("get_{}_custom_object", resource, namespace)
        target = Target("get", resource, namespace, name)
        result: Obj = await self._call(target, lambda: fn(*self._args(resource, namespace), name))
        return result

    async def list(
        self, resource: Resource, namespace: str | None = None, *, label_selector: str | None = None
    ) -> ListResult:
        """List the resource (all namespaces when a namespaced resource is listed without ``namespace``)."""
        target = Target("list", resource, namespace)
        kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
        raw: Obj = await self._call(target, lambda: self._list_fn(resource, namespace)(**kwargs))
        return ListResult(list(raw.get("items") or []), str(raw["metadata"]["resourceVersion"]))

    def _list_fn(self, resource: Resource, namespace: str | None) -> Callable[..., Awaitable[Any]]:
        if namespace is None:
            return lambda **kw: self._co.list_cluster_custom_object(
                resource.group, resource.version, resource.plural, **kw
            )
        self._scope(resource, namespace)
        return lambda **kw: self._co.list_namespaced_custom_object(
            resource.group, resource.version, namespace, resource.plural, **kw
        )

    async def create(self, resource: Resource, body: Mapping[str, Any], namespace: str | None = None) -> Obj:
        fn = self._method("create_{}_custom_object", resource, namespace)
        name = (body.get("metadata") or {}).get("name")
        target = Target("create", resource, namespace, name)
        result: Obj = await self._write(target, lambda: fn(*self._args(resource, namespace), dict(body)))
        return result

    async def delete(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        fn = self._method("delete_{}_custom_object", resource, namespace)
        target = Target("delete", resource, namespace, name)
        result: Obj = await self._write(target, lambda: fn(*self._args(resource, namespace), name))
        return result

    async def _patch(
        self,
        template: str,
        target: Target,
        body: Mapping[str, Any],
        content_type: str,
        **kwargs: Any,
    ) -> Obj:
        fn = self._method(template, target.resource, target.namespace)
        args = (*self._args(target.resource, target.namespace), target.name, dict(body))
        result: Obj = await self._write(target, lambda: fn(*args, _content_type=content_type, **kwargs))
        return result

    async def merge_patch(
        self, resource: Resource, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> Obj:
        """JSON merge patch (RFC 7386). Put ``metadata.resourceVersion`` in ``patch`` for a precondition."""
        target = Target("patch", resource, namespace, name)
        return await self._patch("patch_{}_custom_object", target, patch, MERGE_PATCH)

    async def apply(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        *,
        field_manager: str,
        force: bool = False,
        namespace: str | None = None,
    ) -> Obj:
        """Server-side apply ``body`` (a partial object with apiVersion, kind, metadata.name) as ``field_manager``.
        Without ``force`` a field owned by another manager with a different value raises ``Conflict``
        (``Conflict.field_manager_conflict``). ``metadata.resourceVersion`` in ``body`` is a precondition:
        when the object has changed since, ``Conflict`` (stale, not a field-manager conflict)."""
        name = str(body["metadata"]["name"])
        target = Target("patch", resource, namespace, name)
        return await self._patch(
            "patch_{}_custom_object", target, body, APPLY_PATCH, field_manager=field_manager, force=force
        )

    async def patch_status(
        self, resource: Resource, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> Obj:
        """JSON merge patch of the ``/status`` subresource."""
        target = Target("patch", resource, namespace, name, "status")
        return await self._patch("patch_{}_custom_object_status", target, patch, MERGE_PATCH)

    async def get_scale(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        """The ``/scale`` subresource (an ``autoscaling/v1 Scale``)."""
        fn = self._method("get_{}_custom_object_scale", resource, namespace)
        target = Target("get", resource, namespace, name, "scale")
        result: Obj = await self._call(target, lambda: fn(*self._args(resource, namespace), name))
        return result

    async def patch_scale(
        self,
        resource: Resource,
        name: str,
        replicas: int,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
    ) -> Obj:
        """Set ``spec.replicas`` through the ``/scale`` subresource (merge patch). With ``resource_version``
        (the Scale's, as ``get_scale`` read it) the write is refused with ``Conflict`` when the object has
        changed since."""
        target = Target("patch", resource, namespace, name, "scale")
        body: Obj = {"spec": {"replicas": replicas}}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self._patch("patch_{}_custom_object_scale", target, body, MERGE_PATCH)

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int = 15,
        read_timeout: float | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """One watch request with bookmarks, from ``resource_version``; ends when the server closes it
        (at ``timeout_seconds``, which the server enforces).

        ERROR events (e.g. 410 "too old resource version") are yielded, not raised: the caller decides.
        Opening the stream retries 429/5xx; a non-2xx answer raises the classified error. When nothing at
        all arrives for ``read_timeout`` seconds (default ``timeout_seconds + 10``), waiting for the answer
        or within the stream, the watch is abandoned with a ``ServerError``: a silent stream is no news.
        """
        target = Target("watch", resource, namespace)
        silence = read_timeout if read_timeout is not None else timeout_seconds + SILENCE_MARGIN
        kwargs: dict[str, Any] = {
            "watch": True,
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
            "_preload_content": False,
            "_request_timeout": aiohttp.ClientTimeout(sock_connect=30, sock_read=silence),
        }
        if resource_version:
            kwargs["resource_version"] = resource_version
        list_fn = self._list_fn(resource, namespace)

        async def open_stream() -> Any:
            resp = await list_fn(**kwargs)
            if not 200 <= resp.status <= 299:
                body = await resp.read()
                resp.release()
                error = ApiException(status=resp.status, reason=str(resp.reason))
                error.body = body
                raise error
            return resp

        resp = await self._call(target, open_stream)
        try:
            while True:
                try:
                    line = await resp.content.readline()
                except (TimeoutError, aiohttp.ClientError) as exc:
                    raise self._error(exc, target) from None
                if not line:
                    return
                yield _event(line)
        finally:
            resp.release()

    # ------------------------------------------------------------------ built-in objects

    async def _builtin(
        self, target: Target, fn: Callable[..., Awaitable[Any]], *args: Any, fence: Fence | None = None
    ) -> Obj:
        """Call a typed API method without its model classes: the JSON the server sent, as a dict. A write
        passes ``fence`` (and ``fn`` behind it, see ``_guarded``)."""

        async def call() -> Obj:
            timeout = aiohttp.ClientTimeout(total=self._request_timeout)
            resp = await fn(*args, _preload_content=False, _request_timeout=timeout)
            try:
                raw = await resp.read()
            finally:
                resp.release()
            if not 200 <= resp.status <= 299:
                error = ApiException(status=resp.status, reason=str(resp.reason))
                error.body = raw
                raise error
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                what = redact(raw[:200].decode(errors="replace"), self._secrets)
                raise KubeError(
                    f"malformed answer to {target.verb} {target.object_ref}: {what!r}",
                    status=resp.status,
                    target=target,
                )
            return obj

        return await self._call(target, call, fence)

    @staticmethod
    def _name_of(body: Mapping[str, Any]) -> str | None:
        name = (body.get("metadata") or {}).get("name")
        return name if isinstance(name, str) else None

    async def get_configmap(self, namespace: str, name: str) -> Obj:
        target = Target("get", CONFIGMAPS, namespace, name)
        return await self._builtin(target, self._core.read_namespaced_config_map, name, namespace)

    async def list_configmaps(self, namespace: str, *, label_selector: str | None = None) -> Obj:
        """The ConfigMapList of ``namespace`` (only those matching ``label_selector`` when given)."""
        target = Target("list", CONFIGMAPS, namespace)
        list_fn = self._core.list_namespaced_config_map
        selector = {"label_selector": label_selector} if label_selector else {}

        async def fn(ns: str, **kwargs: Any) -> Any:
            return await list_fn(ns, **selector, **kwargs)

        return await self._builtin(target, fn, namespace)

    async def create_configmap(self, namespace: str, body: Mapping[str, Any]) -> Obj:
        target = Target("create", CONFIGMAPS, namespace, self._name_of(body))
        fn = self._guarded(target, self._core.create_namespaced_config_map)
        return await self._builtin(target, fn, namespace, dict(body), fence=self._fence)

    async def replace_configmap(self, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT the whole ConfigMap. ``metadata.resourceVersion`` in ``body`` is a precondition (stale: Conflict)."""
        target = Target("update", CONFIGMAPS, namespace, name)
        fn = self._guarded(target, self._core.replace_namespaced_config_map)
        return await self._builtin(target, fn, name, namespace, dict(body), fence=self._fence)

    async def get_lease(self, namespace: str, name: str) -> Obj:
        target = Target("get", LEASES, namespace, name)
        return await self._builtin(target, self._coordination.read_namespaced_lease, name, namespace)

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> Obj:
        """Create the Lease (never fenced: the elector's own write)."""
        target = Target("create", LEASES, namespace, self._name_of(body))
        fn = self._coordination.create_namespaced_lease
        return await self._builtin(target, fn, namespace, dict(body))

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> Obj:
        """PUT the whole Lease. ``metadata.resourceVersion`` in ``body`` is a precondition (stale: Conflict).
        Never fenced: the elector's own write."""
        target = Target("update", LEASES, namespace, name)
        fn = self._coordination.replace_namespaced_lease
        return await self._builtin(target, fn, name, namespace, dict(body))

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> Obj:
        """Create an ``events.k8s.io/v1`` Event (fenced like every other write: Events are writes too)."""
        target = Target("create", EVENTS, namespace, self._name_of(body))
        fn = self._guarded(target, self._events.create_namespaced_event)
        return await self._builtin(target, fn, namespace, dict(body), fence=self._fence)


def _event(line: bytes) -> WatchEvent:
    try:
        raw = json.loads(line)
        kind = EventType(raw["type"])
        obj = raw["object"]
        if not isinstance(obj, dict):
            raise TypeError("object is not a mapping")
    except (ValueError, KeyError, TypeError) as exc:
        text = line[:200].decode(errors="replace")
        status = {"kind": "Status", "code": 0, "reason": "MalformedEvent", "message": f"{exc}: {text}"}
        return WatchEvent(EventType.ERROR, status)
    return WatchEvent(kind, obj)
