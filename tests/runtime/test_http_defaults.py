"""The HTTP endpoints' secure defaults, over a real socket: GET/HEAD only, no listing, no versions, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from burstd.runtime import http as http_module
from burstd.runtime.http import MAX_BODY, MAX_LINE, SERVER, HttpServer
from burstd.runtime.metrics import Metrics

BOUND = 30.0  # seconds: a guard against a hang, never a timing assertion

Probe = Callable[[aiohttp.ClientSession, str], Awaitable[None]]


def serve(probe: Probe) -> None:
    async def main() -> None:
        server = HttpServer(Metrics(), ready=lambda: (True, "ok"), decisions=list)
        await server.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                await probe(session, f"http://127.0.0.1:{server.port}")
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(main(), BOUND))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_get_and_head_are_allowed(method: str) -> None:
    async def probe(session: aiohttp.ClientSession, base: str) -> None:
        for path in ("/metrics", "/healthz", "/readyz"):
            async with session.request(method, base + path) as resp:
                assert resp.status == 405, (method, path)
                assert set(resp.headers["Allow"].split(",")) == {"GET", "HEAD"}
            async with session.head(base + path) as resp:
                assert resp.status == 200, path

    serve(probe)


def test_no_listing_and_no_other_paths() -> None:
    async def probe(session: aiohttp.ClientSession, base: str) -> None:
        for path in ("/", "/debug/", "/debug", "/metrics/", "/..%2f..%2fetc/passwd", "/static/"):
            async with session.get(base + path) as resp:
                assert resp.status == 404, path
                assert "Index of" not in await resp.text()

    serve(probe)


def test_server_header_names_no_version_and_answers_are_not_cached_or_sniffed() -> None:
    async def probe(session: aiohttp.ClientSession, base: str) -> None:
        for path in ("/metrics", "/healthz", "/nothing-here"):
            async with session.get(base + path) as resp:
                assert resp.headers["Server"] == SERVER, path
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["Cache-Control"] == "no-store"
        async with session.post(base + "/metrics") as resp:
            assert resp.headers["Server"] == SERVER

    serve(probe)


def test_a_request_body_beyond_the_limit_is_refused() -> None:
    async def probe(session: aiohttp.ClientSession, base: str) -> None:
        async with session.get(base + "/healthz", data=b"x" * (MAX_BODY + 1)) as resp:
            assert resp.status == 413
        async with session.get(base + "/healthz", data=b"x" * 10) as resp:
            assert resp.status == 200

    serve(probe)


def test_oversized_request_lines_and_headers_are_refused() -> None:
    async def probe(session: aiohttp.ClientSession, base: str) -> None:
        async with session.get(base + "/healthz", headers={"X-Padding": "a" * (MAX_LINE + 1)}) as resp:
            assert resp.status in (400, 431)
        async with session.get(base + "/healthz?" + "q" * (MAX_LINE + 1)) as resp:
            assert resp.status in (400, 414)
        async with session.get(base + "/healthz", headers={"X-Padding": "a" * 100}) as resp:
            assert resp.status == 200

    serve(probe)


def test_a_handler_that_hangs_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "HANDLER_TIMEOUT", 0.2)
    release = asyncio.Event()

    async def probe(session: aiohttp.ClientSession, base: str) -> None:
        async with session.get(base + "/readyz") as resp:
            assert resp.status == 503
            assert "no answer within" in await resp.text()

    async def slow_readyz(self: HttpServer, request: web.Request) -> web.Response:
        await release.wait()  # never set: only the handler timeout ends this
        return web.Response(text="late")

    monkeypatch.setattr(HttpServer, "_get_readyz", slow_readyz)
    serve(probe)


def test_the_default_address_is_loopback_without_pod_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    from burstd.runtime.settings import load_settings

    monkeypatch.delenv("POD_IP", raising=False)
    assert load_settings(None).http.address == "127.0.0.1"
    monkeypatch.setenv("POD_IP", "10.1.2.3")
    assert load_settings(None).http.address == "10.1.2.3"
