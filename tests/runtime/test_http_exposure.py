"""The HTTP endpoints expose nothing by default: loopback (or the pod's IP) only, and ``/debug/*`` opt-in."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from burstd.runtime.http import HttpServer
from burstd.runtime.metrics import Metrics

BOUND = 30.0  # seconds: a guard against a hang, never a timing assertion


async def _get_all(debug: bool | None) -> dict[str, int]:
    http = HttpServer(Metrics(), ready=lambda: (True, "ok"), decisions=list)
    if debug is None:
        await http.start("127.0.0.1", 0)
    else:
        await http.start("127.0.0.1", 0, debug=debug)
    try:
        assert http.port is not None
        statuses = {}
        async with aiohttp.ClientSession() as session:
            for path in ("/metrics", "/healthz", "/readyz", "/debug/decisions"):
                async with session.get(f"http://127.0.0.1:{http.port}{path}") as resp:
                    statuses[path] = resp.status
        return statuses
    finally:
        await http.stop()


@pytest.mark.parametrize("debug", [None, False])
def test_debug_endpoints_are_off_by_default(debug: bool | None) -> None:
    statuses = asyncio.run(asyncio.wait_for(_get_all(debug), BOUND))
    assert statuses == {"/metrics": 200, "/healthz": 200, "/readyz": 200, "/debug/decisions": 404}


def test_debug_endpoints_when_enabled() -> None:
    statuses = asyncio.run(asyncio.wait_for(_get_all(True), BOUND))
    assert statuses["/debug/decisions"] == 200
