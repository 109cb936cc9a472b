"""Retry policies: transient API errors (429/5xx/unreachable) with bounded, jittered exponential backoff
(tenacity), and re-read-and-retry on 409 conflicts for read-modify-write callers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from .errors import Conflict

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


async def call_with_retry(fn: Callable[[], Awaitable[T]], backoff: Backoff) -> T:
    """Await ``fn()``, retrying errors whose ``retryable`` is true (Throttled, ServerError); re-raise the last."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_transient),
        wait=wait_exponential_jitter(
            multiplier=backoff.initial, max=backoff.max_delay, jitter=backoff.jitter
        ),
        stop=stop_after_attempt(backoff.attempts) | stop_after_delay(backoff.deadline),
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
