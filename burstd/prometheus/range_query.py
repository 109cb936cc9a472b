"""Range queries (``/api/v1/query_range``) over HTTP, chunked, authenticated like the daemon's PromQLSource.

The same credentials (a bearer token, a CA bundle; user and password in the URL for basic auth), the same
error classes and the same retry rule: Prometheus being unavailable (connection refused, timeout, 429,
5xx) is retried with exponential backoff, bounded in attempts and time; a rejected query or failed
authentication is not. Errors never contain the bearer token nor the URL's password.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from burstd.prometheus.errors import BadResponse, PrometheusError, PrometheusUnavailable
from burstd.prometheus.range_parse import (
    MAX_POINTS_PER_QUERY,
    Chunk,
    Series,
    check_one_series,
    parse_range_response,
    plan_chunks,
    stitch,
)
from burstd.prometheus.source import RetryPolicy, retried

#: the largest answer read for one chunk (one series of 11,000 points is about 300 KiB)
MAX_BODY_BYTES = 64 * 2**20


def display_url(url: str) -> str:
    """The URL without user and password, for messages."""
    try:
        return str(httpx.URL(url).copy_with(username=None, password=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"


class RangeQuerySource:
    """Range queries against ``{base_url}/api/v1/query_range``. Use ``async with`` or call ``aclose()``.

    Raises ValueError for a URL that is not http(s) and OSError (ssl.SSLError) for an unusable CA file.

    ``timeout`` is sent to Prometheus as each query's evaluation timeout; ``request_timeout`` (default
    ``timeout`` + 5 s) bounds each request as a whole; ``retry`` bounds the retries of one chunk.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        request_timeout: float | None = None,
        bearer_token: str | None = None,
        ca_file: str | Path | None = None,
        retry: RetryPolicy | None = None,
        max_points: int = MAX_POINTS_PER_QUERY,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise ValueError("not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("expected an http:// or https:// URL with a host, e.g. http://prometheus:9090")
        self._base_url = base_url.rstrip("/")
        self._shown_url = display_url(self._base_url)
        self._timeout = timeout
        self._request_timeout = request_timeout if request_timeout is not None else timeout + 5.0
        if not (timeout > 0 and self._request_timeout > 0):
            raise ValueError(f"timeouts must be above 0 s, got {timeout} and {self._request_timeout}")
        self._secrets = [s for s in (bearer_token, url.password) if s]
        self._auth = "bearer ***" if bearer_token else "basic ***" if url.password else "none"
        self._retry = retry or RetryPolicy(
            attempts=4, initial_wait=0.5, max_wait=4.0, max_time=4 * self._request_timeout
        )
        self._max_points = max_points
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))  # OSError, ssl.SSLError
        headers = {"Accept": "application/json"}
        if bearer_token:
            headers["Authorization"] = f"Bearer {bearer_token}"
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            timeout=httpx.Timeout(self._request_timeout),
            verify=verify,
        )

    def __repr__(self) -> str:
        return f"RangeQuerySource(base_url={self._shown_url!r}, timeout={self._timeout}, auth={self._auth})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        query: str,
        start: float,
        points: int,
        step: float,
        on_chunk: Callable[[Chunk], None] | None = None,
    ) -> dict[str, list[float | None]]:
        """Every series of ``query`` on ``points`` evaluation times ``start + k * step``, keyed by labels.

        Values are None where the series has no finite value. Stops at the first chunk that returns more
        than one series (BadResponse). Raises a PrometheusError subclass (secrets redacted).
        """
        answers: list[list[Series]] = []
        for chunk in plan_chunks(start, points, step, self._max_points):
            if on_chunk is not None:
                on_chunk(chunk)
            answer = await self._chunk(query, chunk, start, step)
            check_one_series(query, answer)
            answers.append(answer)
        return stitch(query, points, answers)

    async def _chunk(self, query: str, chunk: Chunk, grid_start: float, step: float) -> list[Series]:
        try:
            return await retried(self._retry, query, lambda: self._attempt(query, chunk, grid_start, step))
        except PrometheusError as exc:
            raise self._redacted(exc) from None

    def _redacted(self, exc: PrometheusError) -> PrometheusError:
        for secret in self._secrets:
            exc = exc.redacted(secret)
        return exc

    async def _attempt(self, query: str, chunk: Chunk, grid_start: float, step: float) -> list[Series]:
        params = {
            "query": query,
            "start": f"{chunk.start:.3f}",
            "end": f"{chunk.end:.3f}",
            "step": f"{step:g}",
            "timeout": f"{self._timeout:g}s",
        }
        no_answer = f"no answer within {self._request_timeout:g} s"
        deadline = asyncio.timeout(self._request_timeout)
        try:
            async with deadline:
                status, body = await self._get(query, params)
        except httpx.TimeoutException:
            raise PrometheusUnavailable(query, no_answer) from None
        except TimeoutError:
            if not deadline.expired():
                raise
            raise PrometheusUnavailable(query, no_answer) from None
        except httpx.HTTPError as exc:
            message = f"cannot reach {self._shown_url}: {type(exc).__name__}: {exc}"
            raise self._redacted(PrometheusUnavailable(query, message)) from None
        return parse_range_response(query, status, body, chunk, grid_start, step)

    async def _get(self, query: str, params: dict[str, str]) -> tuple[int, bytes]:
        async with self._client.stream("GET", "/api/v1/query_range", params=params) as response:
            body = bytearray()
            async for part in response.aiter_bytes():
                body += part
                if len(body) > MAX_BODY_BYTES:
                    raise BadResponse(
                        query,
                        f"the answer to one range query is larger than {MAX_BODY_BYTES // 2**20} MiB; "
                        "the query returns too many series: aggregate it, e.g. sum(...)",
                    )
            return response.status_code, bytes(body)
