"""Retry policies: transient API errors (429/5xx/unreachable) with bounded, jittered exponential backoff
(tenacity), and re-read-and-retry on 409 conflicts for read-modify-write callers.

A fenced write (see ``burstd.kube.fence``) stops retrying as soon as its window would close before the
next attempt: each attempt checks the fence again, and a retry is never sent after leadership was lost.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from .errors import Conflict, Target
from .fence import Fence, closed

T = TypeVar("T")
log = logging.getLogger("burstd.kube")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Bounded exponential backoff with jitter: ``initial * 2**n + U(0, jitter)``, capped at ``max_delay``."""

    attempts: int = 5
    initial: float = 0.2
    max_delay: float = 10.0
    jitter: float = 0.5
    deadline: float = 60.0


def _transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


async def fenced_attempt(fence: Fence, target: Target | None, send: Callable[[], Awaitable[T]]) -> T:
    """One attempt of a write: ``await send()`` if ``fence`` is open, bounded by the time it has left
    (abandoned unanswered when it closes); ``Fenced`` when it is closed (nothing sent)."""
    left = fence()
    if not left > 0:
        raise closed(target, "not sent:")
    window = asyncio.timeout(None if math.isinf(left) else left)
    try:
        async with window:
            return await send()
    except TimeoutError:
        if window.expired():
            raise closed(target, "abandoned unanswered:") from None
        raise


class _WindowCloses(stop_base):
    """Stop when ``fence`` (seconds left to write) will have closed by the time the next attempt starts."""

    def __init__(self, fence: Fence) -> None:
        self._fence = fence

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._fence() <= retry_state.upcoming_sleep


async def call_with_retry(
    fn: Callable[[], Awaitable[T]], backoff: Backoff, *, fence: Fence | None = None
) -> T:
    """Await ``fn()``, retrying errors whose ``retryable`` is true (Throttled, ServerError); re-raise the last.

    With ``fence`` (seconds left in which a write may be sent), no retry is attempted once the window would
    have closed before it starts; ``fn`` itself must check the fence on every attempt (``fenced_attempt``).
    """
    stop = stop_after_attempt(backoff.attempts) | stop_after_delay(backoff.deadline)
    if fence is not None:
        stop = stop | _WindowCloses(fence)
    retrying = AsyncRetrying(
        retry=retry_if_exception(_transient),
        wait=wait_exponential_jitter(
            multiplier=backoff.initial, max=backoff.max_delay, jitter=backoff.jitter
        ),
        stop=stop,
        reraise=True,
        before_sleep=before_sleep_log(log, logging.WARNING),
    )
    async for attempt in retrying:
        with attempt:
            return await fn()
    raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying re-raises or returns


async def retry_on_conflict(read_modify_write: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Run ``read_modify_write()`` (which must re-read the object each time) until it does not hit a 409."""
    for n in range(1, attempts + 1):
        try:
            return await read_modify_write()
        except Conflict as exc:
            if n == attempts:
                raise
            log.info("conflict, re-reading and retrying (%d/%d): %s", n, attempts, exc)
    raise AssertionError("unreachable")  # pragma: no cover
