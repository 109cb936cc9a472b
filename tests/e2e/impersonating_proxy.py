"""A recording HTTP proxy on loopback that sends every request on to one kube-apiserver as another identity.

kubernetes_asyncio ignores a kubeconfig user's ``as``/``as-groups``, so impersonation is done here: burstd's
kubeconfig points at ``http://127.0.0.1:<port>`` with the admin token, and the proxy forwards each request
over TLS with ``Impersonate-User``/``Impersonate-Group`` headers (any the client sent are dropped). The API
server authenticates the admin, checks that it may impersonate, and then authorizes the request as the
impersonated user and groups only: exactly the RBAC bound to them. Watches are streamed as they come.

Every request is recorded with its ``RequestAttributes`` (verb, API group, resource, subresource,
namespace, name: what the RBAC authorizer decides on) and the status the API server answered.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from testbed.loopback_proxy import serve_loopback, upstream_session

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "host"}
)
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestAttributes:
    """A request as the RBAC authorizer sees it (``resource == ""``: a non-resource URL, ``path`` set)."""

    verb: str
    api_group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def rbac_resource(self) -> str:
        """``resource`` or ``resource/subresource``, as RBAC rules name it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def __str__(self) -> str:
        if not self.resource:
            return f"{self.verb} {self.path}"
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.api_group or 'core'}/{self.rbac_resource}{where}"


def request_attributes(method: str, path: str, query: str) -> RequestAttributes:
    """What kube-apiserver's request-info resolver makes of a request (verb mapped as RBAC authorizes it:
    GET of one object ``get``, of a collection ``list``, ``watch=true|1`` ``watch``, POST ``create``, PUT
    ``update``, PATCH ``patch``, DELETE ``delete`` or ``deletecollection``)."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        rest = []
    if not rest:  # /version, /api, /apis/<group>, /healthz...: non-resource URLs
        return RequestAttributes(method.lower(), "", "", path=path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        namespace = rest[1]  # the Namespace object itself: its name is its namespace
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    params = parse_qs(query)
    watch = params.get("watch", [""])[0].lower() in ("true", "1")
    if method == "GET":
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS.get(method, method.lower())
    return RequestAttributes(verb, group, resource, subresource, namespace, name, path)


@dataclass
class Recorded:
    attributes: RequestAttributes
    status: int | None = None  # None: never answered (the proxy or the client went away first)


@dataclass
class ImpersonatingProxy:
    """``await start()``, ``url``, ``requests``, ``await stop()``: one proxy in front of ``upstream``."""

    name: str
    upstream: str
    ca_file: Path
    user: str
    groups: tuple[str, ...]
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _session: aiohttp.ClientSession | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ImpersonatingProxy:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        self._session = upstream_session(context)
        self._runner, self.port = await serve_loopback(self._handle)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig that reaches the API server through this proxy (plain HTTP on loopback) with
        ``token``, which must be allowed to impersonate."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": {"server": self.url}}],
            "users": [{"name": self.name, "user": {"token": token}}],
            "contexts": [{"name": self.name, "context": {"cluster": self.name, "user": self.name}}],
            "current-context": self.name,
        }
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)
        return path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        record = Recorded(request_attributes(request.method, request.path, request.query_string))
        self.requests.append(record)
        headers: CIMultiDict[str] = CIMultiDict(
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("impersonate-")
        )
        headers.add("Impersonate-User", self.user)
        for group in self.groups:
            headers.add("Impersonate-Group", group)
        url = self.upstream.rstrip("/") + request.path_qs
        upstream = await self._session.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        )
        async with upstream:
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            record.status = upstream.status
            if record.attributes.verb != "watch":
                payload = await upstream.read()
                return web.Response(body=payload, status=upstream.status, headers=out_headers)
            resp = web.StreamResponse(status=upstream.status, headers=out_headers)
            await resp.prepare(request)
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, OSError):
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
            return resp
