"""The daemon's HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz`` and, opt-in, ``/debug/decisions``.

Secure defaults: bound to the pod's IP or loopback (``http.address``); only GET and HEAD (any other method
answers 405, an unknown path 404; no static files, so no directory listing); a request body (no endpoint
takes one) beyond ``MAX_BODY`` bytes or of unknown length answers 413, and request lines and headers beyond
``MAX_LINE`` bytes are refused; a handler taking longer than ``HANDLER_TIMEOUT`` answers 503; idle
keep-alive connections close after ``KEEPALIVE_TIMEOUT``; the ``Server`` header says ``burstd`` (no
versions); every answer carries ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from burstd.runtime.evaluate import Evaluation
from burstd.runtime.metrics import Metrics

__all__ = ["HANDLER_TIMEOUT", "KEEPALIVE_TIMEOUT", "MAX_BODY", "MAX_LINE", "SERVER", "HttpServer"]

#: the ``Server`` header of every answer
SERVER = "burstd"
#: no endpoint takes a body: a GET carries none, so anything bigger is refused (413)
MAX_BODY = 1024
#: bound on the request line and on each header (bytes); beyond it the request is refused
MAX_LINE = 4096
#: bound on the number of request headers
MAX_HEADERS = 64
#: bound on one handler (seconds): a scrape or probe that takes longer answers 503
HANDLER_TIMEOUT = 10.0
#: idle keep-alive connections are closed after this long (seconds)
KEEPALIVE_TIMEOUT = 15.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.body_exists and (request.content_length is None or request.content_length > MAX_BODY):
        return web.Response(text=f"request bodies are limited to {MAX_BODY} bytes\n", status=413)
    try:
        async with asyncio.timeout(HANDLER_TIMEOUT):
            return await handler(request)
    except TimeoutError:
        return web.Response(text=f"no answer within {HANDLER_TIMEOUT:g} s\n", status=503)


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"


class HttpServer:
    def __init__(
        self,
        metrics: Metrics,
        *,
        ready: Callable[[], tuple[bool, str]],
        decisions: Callable[[], Sequence[Evaluation]],
        alive: Callable[[], tuple[bool, str]] | None = None,
    ) -> None:
        self._metrics = metrics
        self._ready = ready
        self._decisions = decisions
        #: liveness: (alive, why); ``/healthz`` answers 503 with the reason when not alive
        self._alive = alive
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self, address: str, port: int, *, debug: bool = False) -> None:
        """Listen on ``address:port``. ``/debug/*`` is served only with ``debug`` (settings ``http.debug``);
        without it those paths answer 404."""
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_bounded])
        app.on_response_prepare.append(_secure_headers)
        app.router.add_get("/metrics", self._get_metrics)
        app.router.add_get("/healthz", self._get_healthz)
        app.router.add_get("/readyz", self._get_readyz)
        if debug:
            app.router.add_get("/debug/decisions", self._get_decisions)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
            max_line_size=MAX_LINE,
            max_field_size=MAX_LINE,
            max_headers=MAX_HEADERS,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, address, port)
        await site.start()
        server = site._server  # the bound socket tells the real port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get_metrics(self, request: web.Request) -> web.Response:
        self._ready()  # refreshes the cache-synced gauges
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _get_healthz(self, request: web.Request) -> web.Response:
        ok, why = self._alive() if self._alive is not None else (True, "ok")
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def _get_readyz(self, request: web.Request) -> web.Response:
        ok, why = self._ready()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def _get_decisions(self, request: web.Request) -> web.Response:
        body = [e.to_dict() for e in self._decisions()]
        return web.Response(text=json.dumps(body, indent=2) + "\n", content_type="application/json")
