"""API calls with tenacity retries (Throttled, Unavailable): exponential backoff with jitter that honours
the cloud's retry-after, bounded attempts, a per-attempt timeout (also the SDK's connect/read timeouts)
and one total deadline per provider call (``call_timeout``: a quote's several API calls share it).

The SDK's own retryer stays off (``RuntimeOptions(autoretry=...)`` does not retry throttling)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import partial
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from burstd.cloud.provider import ProviderError, Throttled, Unavailable
from burstd_provider_alibabacloud.errors import NAME, classify_error
from burstd_provider_alibabacloud.settings import Settings

__all__ = ["Caller", "Sleep"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
log = logging.getLogger("burstd.provider.alibabacloud")
#: the event-loop time by which the current provider call must be done
_DEADLINE: ContextVar[float | None] = ContextVar("burstd_alibabacloud_deadline", default=None)


def _retryable(error: BaseException) -> bool:
    return isinstance(error, Throttled | Unavailable)


class _stop_past_deadline(stop_base):
    """Stop when the next wait would end past the deadline: the last error (a Throttled with its
    retry-after) tells the caller more than a bare deadline error."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return asyncio.get_running_loop().time() + retry_state.upcoming_sleep >= self.deadline


class Caller:
    """Runs SDK calls under the provider's retry policy and deadline; every failure leaves as a
    (redacted) ProviderError."""

    def __init__(self, settings: Settings, sleep: Sleep = asyncio.sleep) -> None:
        self._settings = settings
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            multiplier=settings.backoff_initial, max=settings.backoff_max, jitter=settings.backoff_initial
        )

    @asynccontextmanager
    async def deadline(self, what: str, pool: str | None) -> AsyncIterator[None]:
        """Bound one provider call (``what``), its API calls and retries, by ``call_timeout``. Nested
        uses keep the outermost deadline."""
        outer = _DEADLINE.get()
        at = outer if outer is not None else asyncio.get_running_loop().time() + self._settings.call_timeout
        token = _DEADLINE.set(at)
        try:
            async with asyncio.timeout_at(at):
                yield
        except TimeoutError:
            raise Unavailable(
                f"{what} did not finish within its {self._settings.call_timeout:g} s deadline",
                provider=NAME,
                pool=pool,
            ) from None
        finally:
            _DEADLINE.reset(token)

    def _wait(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, Throttled) and error.retry_after is not None:
            return max(backoff, error.retry_after)
        return backoff

    @staticmethod
    def _before_sleep(action: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.info(
            "alibabacloud call failed, retrying",
            extra={
                "action": action,
                "attempt": state.attempt_number,
                "reason": getattr(error, "reason", None),
                "code": getattr(error, "code", None),
                "wait_seconds": round(state.upcoming_sleep, 3),
            },
        )

    async def call(self, action: str, send: Callable[[], Awaitable[T]], *, pool: str | None = None) -> T:
        """``send()`` (one SDK request) until it succeeds, a failure no retry fixes, the attempts run out
        or the deadline passes."""
        async with self.deadline(action, pool):
            deadline = _DEADLINE.get()
            assert deadline is not None
            retrying = AsyncRetrying(
                stop=stop_after_attempt(self._settings.max_attempts) | _stop_past_deadline(deadline),
                wait=self._wait,
                retry=retry_if_exception(_retryable),
                sleep=self._sleep,
                reraise=True,
                before_sleep=partial(self._before_sleep, action),
            )
            async for attempt in retrying:
                with attempt:
                    try:
                        async with asyncio.timeout(self._settings.per_attempt_timeout):
                            return await send()
                    except ProviderError:
                        raise
                    except Exception as error:
                        raise classify_error(error, pool=pool) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
