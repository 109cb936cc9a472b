"""The daemon's HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz``, ``/readyz`` and, opt-in, ``/debug/decisions``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from burstd.runtime.evaluate import Evaluation
from burstd.runtime.metrics import Metrics

__all__ = ["HttpServer"]


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
        app = web.Application()
        app.router.add_get("/metrics", self._get_metrics)
        app.router.add_get("/healthz", self._get_healthz)
        app.router.add_get("/readyz", self._get_readyz)
        if debug:
            app.router.add_get("/debug/decisions", self._get_decisions)
        self._runner = web.AppRunner(app, access_log=None)
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
