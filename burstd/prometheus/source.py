"""PromQLSource: sample the PromQL conditions of the policies with instant queries over HTTP (httpx).

One query failing never stops the others: ``sample`` returns the samples it got and, per signal id, the
error of each query that failed. Prometheus being unavailable (connection refused, timeout, 429, 5xx) is
retried with exponential backoff and jitter, bounded in attempts and time; a rejected query or failed
authentication is not retried. The bearer token never appears in reprs, logs or error messages.

Deadlines: each request is bounded as a whole by ``request_timeout`` (a server that trickles its answer
byte by byte cannot hold it open), and a query with its retries by ``RetryPolicy.max_time``, which cuts the
attempt in progress. ``timeout`` is also sent to Prometheus as the query's evaluation timeout.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from burstd.model.world import Sample
from burstd.policy.spec import BurstPolicy
from burstd.prometheus.errors import BadResponse, PrometheusError, PrometheusUnavailable
from burstd.prometheus.parse import parse_response

T = TypeVar("T")
log = logging.getLogger(__name__)


def signal_id_of(query: str) -> str:
    """The key of a query's samples in ``World.signals``; equals ``Condition.signal_id``."""
    return f"promql:{query}"


def queries_of(policies: Iterable[BurstPolicy]) -> list[str]:
    """The distinct PromQL queries of the policies' scale-out and scale-in conditions, in first-seen order."""
    seen: dict[str, None] = {}
    for policy in policies:
        triggers = policy.spec.triggers
        for group in (triggers.scale_out, triggers.scale_in):
            for condition in group.conditions:
                if condition.promql is not None:
                    seen.setdefault(condition.promql, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to keep trying while Prometheus is unavailable (per query).

    Waits ``initial_wait * 2**n`` plus up to ``initial_wait`` of jitter, at most ``max_wait``; stops after
    ``attempts`` attempts or once ``max_time`` has passed. ``max_time`` is a hard bound on the whole query:
    an attempt still running then is cut.
    """

    attempts: int = 4
    initial_wait: float = 0.2
    max_wait: float = 2.0
    max_time: float = 10.0


async def retried(retry: RetryPolicy, query: str, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, retried while Prometheus is unavailable (jittered exponential backoff), within
    ``retry.max_time`` for all attempts together; raises the last error."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(PrometheusUnavailable),
        stop=stop_after_attempt(retry.attempts) | stop_after_delay(retry.max_time),
        wait=wait_exponential_jitter(
            multiplier=retry.initial_wait, jitter=retry.initial_wait, max=retry.max_wait
        ),
        reraise=True,
    )
    bound = retry.max_time
    deadline = asyncio.timeout(bound)
    try:
        async with deadline:
            async for attempt in retrying:
                with attempt:
                    return await call()
    except TimeoutError:
        if not deadline.expired():
            raise
        raise PrometheusUnavailable(query, f"no answer within {bound:g} s (all attempts)") from None
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class SampleResult:
    """Samples keyed by signal id (``promql:<query>``) and the errors of the queries that got none.

    A query with no data (empty vector, NaN, ±Inf) is in neither: absent means missing/stale to the engine.
    """

    samples: Mapping[str, Sample] = field(default_factory=dict)
    errors: Mapping[str, PrometheusError] = field(default_factory=dict)


class PromQLSource:
    """Instant queries against ``{base_url}/api/v1/query``. Use ``async with`` or call ``aclose()``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        request_timeout: float | None = None,
        bearer_token: str | None = None,
        ca_file: str | Path | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        #: the client's bound on one whole request (default: the query timeout)
        self._request_timeout = request_timeout if request_timeout is not None else timeout
        if not (timeout > 0 and self._request_timeout > 0):
            raise ValueError(f"timeouts must be above 0 s, got {timeout} and {self._request_timeout}")
        self._token = bearer_token or None
        self._retry = retry or RetryPolicy()
        self._limit = asyncio.Semaphore(max_concurrency)
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            headers=headers,
            timeout=httpx.Timeout(self._request_timeout),
            verify=verify,
        )

    def __repr__(self) -> str:
        url = httpx.URL(self._base_url).copy_with(username=None, password=None)
        auth = "bearer ***" if self._token is not None else "none"
        return f"PromQLSource(base_url={str(url)!r}, timeout={self._timeout}, auth={auth})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def sample(self, queries: Sequence[str], now: float) -> SampleResult:
        """Evaluate every distinct query at ``now`` (seconds since the epoch), concurrently."""
        distinct = list(dict.fromkeys(queries))
        outcomes = await asyncio.gather(*(self._sample_one(q, now) for q in distinct))
        samples: dict[str, Sample] = {}
        errors: dict[str, PrometheusError] = {}
        for query, outcome in zip(distinct, outcomes, strict=True):
            if isinstance(outcome, PrometheusError):
                errors[signal_id_of(query)] = outcome
                log.warning("PromQL signal unavailable: %s", outcome)
            elif outcome is None:
                log.debug("PromQL query %r: no data", query)
            else:
                samples[signal_id_of(query)] = outcome
        return SampleResult(samples=samples, errors=errors)

    async def query(self, query: str, now: float) -> Sample | None:
        """One instant query: its sample, None for no data; raises a PrometheusError (token redacted)."""
        return await retried(self._retry, query, lambda: self._attempt(query, now))

    async def _sample_one(self, query: str, now: float) -> Sample | PrometheusError | None:
        try:
            return await self.query(query, now)
        except PrometheusError as exc:
            return exc
        except Exception as exc:  # a bug must not cost the other queries their samples
            log.error("PromQL query %r failed unexpectedly", query, exc_info=True)
            return BadResponse(query, f"unexpected {type(exc).__name__}").redacted(self._token)

    async def _attempt(self, query: str, now: float) -> Sample | None:
        params = {"query": query, "time": f"{now:.3f}", "timeout": f"{self._timeout:g}s"}
        no_answer = f"no answer within {self._request_timeout:g} s"
        async with self._limit:  # waiting for a free slot is bounded by the query's max_time only
            deadline = asyncio.timeout(self._request_timeout)
            try:
                async with deadline:
                    response = await self._client.get("/api/v1/query", params=params)
            except httpx.TimeoutException:
                raise PrometheusUnavailable(query, no_answer) from None
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise PrometheusUnavailable(query, no_answer) from None
            except httpx.HTTPError as exc:
                message = f"cannot reach {self._base_url}: {type(exc).__name__}: {exc}"
                raise PrometheusUnavailable(query, message).redacted(self._token) from None
        try:
            return parse_response(query, response.status_code, response.content)
        except PrometheusError as exc:
            raise exc.redacted(self._token) from None
