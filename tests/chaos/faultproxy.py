"""A fault-injecting HTTP proxy on loopback in front of one kube-apiserver, for the chaos suite.

burstd's kubeconfig points at ``http://127.0.0.1:<port>`` (plain HTTP on loopback, so a test can see and
change every request); the proxy forwards to the real apiserver over TLS, streaming watch responses as they
come. Every request is written to a shared ``Journal`` (which proxy, method, path, status, when), and the
current ``Fault`` decides what happens to it:

- ``Fault.NONE``: forward;
- ``STALL``: accept the request and never answer (the connection is closed, unanswered, when the fault
  ends: the request never reaches the apiserver);
- ``PARTITION``: close the connection at once, unanswered;
- ``SILENT_WATCH``: other requests pass; a watch is answered 200 and then hears nothing, ever (it is
  closed when the fault ends);
- ``GONE``: every watch is answered with one ERROR event 410 (resourceVersion too old), then closed;
- ``ERRORS``: every request is answered with the given status (500/503/429 with ``Retry-After``) as a
  Kubernetes ``Status`` object.

``on_write`` sees each mutating request (POST, PUT, PATCH, DELETE) before it is forwarded and may have the
proxy ``DROP`` it (close the connection, the write never lands) or ``FORWARD_THEN`` call it again after the
apiserver answered (``after_write``), before the answer is passed on: the SIGKILL sweep kills burstd there,
so the write landed but burstd never heard. ``hold`` keeps chosen requests until released (a late write).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from testbed.loopback_proxy import serve_loopback, upstream_session

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "host"}
)


class Fault(enum.Enum):
    NONE = "none"
    STALL = "stall"
    PARTITION = "partition"
    SILENT_WATCH = "silent-watch"
    GONE = "gone"
    ERRORS = "errors"


class WriteVerdict(enum.Enum):
    FORWARD = "forward"
    DROP = "drop"  # close the connection: the write never lands
    FORWARD_THEN = "forward-then"  # forward, then call ``after_write`` before answering


@dataclass
class Seen:
    """One request the proxy saw."""

    proxy: str
    method: str
    path: str
    query: str
    body: bytes
    started: float  # time.monotonic()
    status: int | None = None  # None: never answered (stalled, dropped, partitioned)
    ended: float | None = None
    fault: str = "none"
    response: bytes = b""

    @property
    def watch(self) -> bool:
        return "watch=true" in self.query.lower() or "watch=1" in self.query

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    @property
    def landed(self) -> bool:
        """A write the apiserver accepted."""
        return self.mutating and self.status is not None and 200 <= self.status < 300

    @property
    def resource(self) -> str:
        """``<plural>[/<subresource>]`` from the path (``leases``, ``machinedeployments/scale``, ...)."""
        parts = [p for p in self.path.split("/") if p]
        if parts[:1] == ["api"]:
            parts = parts[2:]
        elif parts[:1] == ["apis"]:
            parts = parts[3:]
        if parts[:1] == ["namespaces"] and len(parts) > 2:
            parts = parts[2:]
        if not parts:
            return ""
        return parts[0] + (f"/{parts[2]}" if len(parts) > 2 else "")

    def json_body(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def json_response(self) -> Any:
        try:
            return json.loads(self.response) if self.response else None
        except ValueError:
            return None


@dataclass
class Journal:
    """Every request every proxy saw, in the order they arrived."""

    seen: list[Seen] = field(default_factory=list)

    def writes(self, *, landed_only: bool = False) -> list[Seen]:
        return [s for s in self.seen if s.mutating and (s.landed or not landed_only)]

    def count(self, pred: Callable[[Seen], bool]) -> int:
        return sum(1 for s in self.seen if pred(s))


WriteHook = Callable[[Seen], Awaitable[WriteVerdict]]


class FaultProxy:
    """One proxy: ``await start()``, ``url``, ``fault``/``set_fault()``, ``await stop()``."""

    def __init__(self, name: str, upstream: str, ca_file: Path, journal: Journal) -> None:
        self.name = name
        self.upstream = upstream.rstrip("/")
        self.journal = journal
        self.fault = Fault.NONE
        self.error_status = 503
        self.on_write: WriteHook | None = None
        self.after_write: Callable[[Seen], Awaitable[None]] | None = None
        self.hold: Callable[[Seen], bool] | None = None
        self._released = asyncio.Event()
        self._fault_over = asyncio.Event()
        self._ssl = ssl.create_default_context(cafile=str(ca_file))
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Transport] = set()  # connections of open watch streams
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self._session = upstream_session(self._ssl)
        self._runner, self.port = await serve_loopback(self._handle)
        return self

    async def stop(self) -> None:
        self._end_fault()
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def set_fault(self, fault: Fault, *, status: int = 503) -> None:
        """Change the fault for requests from now on; requests held by the previous fault end now."""
        if fault is not self.fault:
            self._end_fault()
        self.fault = fault
        self.error_status = status
        if fault in (Fault.PARTITION, Fault.GONE, Fault.ERRORS):
            # open watches are cut, so the client's next watch meets the fault at once
            for transport in list(self._streams):
                transport.abort()
            self._streams.clear()

    def release(self) -> None:
        """Let every request kept by ``hold`` through."""
        self._released.set()
        self._released = asyncio.Event()

    def _end_fault(self) -> None:
        self._fault_over.set()
        self._fault_over = asyncio.Event()

    # ------------------------------------------------------------------ handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen = Seen(
            self.name,
            request.method,
            request.path,
            request.query_string,
            body,
            time.monotonic(),
            fault=self.fault.value,
        )
        self.journal.seen.append(seen)
        fault = self.fault
        if fault is Fault.PARTITION:
            return self._hang_up(request, seen)
        if fault is Fault.STALL:
            await self._fault_over.wait()
            return self._hang_up(request, seen)
        if fault is Fault.ERRORS:
            return self._error(seen, self.error_status)
        if seen.watch and fault is Fault.SILENT_WATCH:
            return await self._silent(request, seen)
        if seen.watch and fault is Fault.GONE:
            return await self._gone(request, seen)
        if self.hold is not None and self.hold(seen):
            await self._released.wait()
        verdict = WriteVerdict.FORWARD
        if seen.mutating and self.on_write is not None:
            verdict = await self.on_write(seen)
        if verdict is WriteVerdict.DROP:
            return self._hang_up(request, seen)
        return await self._forward(request, seen, verdict)

    def _hang_up(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        seen.ended = time.monotonic()
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # aiohttp drops the connection without a response

    def _error(self, seen: Seen, status: int) -> web.Response:
        reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"injected by the chaos proxy: HTTP {status}",
            "reason": reasons.get(status, "InternalError"),
            "code": status,
        }
        headers = {"Retry-After": "1"} if status == 429 else {}
        seen.status, seen.ended = status, time.monotonic()
        return web.json_response(body, status=status, headers=headers)

    async def _silent(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        seen.status = 200
        await self._fault_over.wait()
        return self._hang_up(request, seen)

    async def _gone(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "too old resource version (injected by the chaos proxy)",
            "reason": "Expired",
            "code": 410,
        }
        await resp.write(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
        await resp.write_eof()
        seen.status, seen.ended = 200, time.monotonic()
        return resp

    async def _forward(self, request: web.Request, seen: Seen, verdict: WriteVerdict) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = self.upstream + request.path + (f"?{request.query_string}" if request.query_string else "")
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=seen.body or None, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError):
            return self._hang_up(request, seen)
        async with upstream:
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            if not seen.watch:
                payload = await upstream.read()
                seen.status, seen.response, seen.ended = upstream.status, payload, time.monotonic()
                if verdict is WriteVerdict.FORWARD_THEN and self.after_write is not None:
                    await self.after_write(seen)
                return web.Response(body=payload, status=upstream.status, headers=out_headers)
            resp = web.StreamResponse(status=upstream.status, headers=out_headers)
            await resp.prepare(request)
            seen.status = upstream.status
            fault_over = self._fault_over
            transport = request.transport
            if transport is not None:
                self._streams.add(transport)
            try:
                with contextlib.suppress(aiohttp.ClientError, ConnectionError, OSError):
                    async for chunk in upstream.content.iter_any():
                        if self.fault in (Fault.STALL, Fault.SILENT_WATCH):
                            # an open stream goes quiet as the fault begins (and is cut when it ends)
                            await fault_over.wait()
                            return self._hang_up(request, seen)
                        await resp.write(chunk)
            finally:
                if transport is not None:
                    self._streams.discard(transport)
            seen.ended = time.monotonic()
            with contextlib.suppress(ConnectionError, OSError):
                await resp.write_eof()
            return resp


def proxy_kubeconfig(path: Path, proxy: FaultProxy, token: str) -> Path:
    """A kubeconfig that reaches the apiserver through ``proxy`` (plain HTTP on loopback), as ``token``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": proxy.name, "cluster": {"server": proxy.url}}],
        "users": [{"name": proxy.name, "user": {"token": token}}],
        "contexts": [{"name": proxy.name, "context": {"cluster": proxy.name, "user": proxy.name}}],
        "current-context": proxy.name,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
