"""The plumbing the test bed's HTTP proxies share (the chaos suite's fault proxy, the e2e impersonating
proxy): a client session to the upstream API server that streams bodies as they are, and an aiohttp server
on a free loopback port that hands every request to the proxy's handler."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

__all__ = ["serve_loopback", "upstream_session"]


def upstream_session(context: ssl.SSLContext) -> aiohttp.ClientSession:
    """A session to the upstream API server: no connection limit (watches stay open), no total timeout
    (watches are long), bodies passed through undecoded."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context, limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        auto_decompress=False,
    )


async def serve_loopback(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> tuple[web.AppRunner, int]:
    """Serve every method and path with ``handler`` on 127.0.0.1 at a free port; the runner (``cleanup()``
    to stop) and the port."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    return runner, int(sockets[0].getsockname()[1])
