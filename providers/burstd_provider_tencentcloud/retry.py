"""One API action with bounded retries (tenacity) under a total deadline.

Not the SDK's ``StandardRetryer``: after a throttled attempt and a successful retry it still raises the first
error. Here every attempt's failure is classified first; only Throttled and Unavailable are retried (a
stock-out, a quota or an auth failure is an answer, not a blip), with exponential backoff and jitter (at
least a Throttled's ``retry_after``), at most ``max_attempts`` times, all within ``deadline`` seconds. When the
deadline cuts a retry short, the last failure is raised; with none yet, Unavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from burstd.cloud.provider import ProviderError, Throttled, Unavailable
from burstd_provider_tencentcloud.errors import PROVIDER_NAME, classify

__all__ = ["RetryPolicy", "Sleep", "call_with_retries"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


async def _asyncio_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: seconds for the whole action, retries and backoffs included
    deadline: float
    #: seconds for one HTTP attempt
    attempt_timeout: float
    max_attempts: int = 5
    #: first backoff (seconds), doubled per attempt, plus up to ``jitter`` seconds, at most ``max_backoff``
    backoff: float = 0.2
    jitter: float = 0.2
    max_backoff: float = 3.0
    sleep: Sleep = field(default=_asyncio_sleep)


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    exponential = wait_exponential_jitter(
        multiplier=policy.backoff, max=policy.max_backoff, jitter=policy.jitter
    )

    def wait(state: RetryCallState) -> float:
        seconds = exponential(state)
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after = error.retry_after if isinstance(error, Throttled) else None
        return max(seconds, retry_after or 0.0)

    return wait


async def call_with_retries(
    send: Callable[[], Awaitable[T]],
    *,
    action: str,
    policy: RetryPolicy,
    pool: str | None = None,
    secrets: Callable[[], Iterable[str]] = tuple,
) -> T:
    """``await send()`` with retries; raises only ProviderError (``secrets()`` blanked from messages)."""
    last: list[ProviderError] = []

    async def attempt() -> T:
        try:
            async with asyncio.timeout(policy.attempt_timeout):
                return await send()
        except ProviderError as exc:
            last.append(exc)
            raise
        except Exception as exc:
            error = classify(exc, action=action, pool=pool, secrets=secrets())
            last.append(error)
            raise error from None

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_wait(policy),
        retry=retry_if_exception_type((Throttled, Unavailable)),
        sleep=policy.sleep,
        reraise=True,
    )
    try:
        async with asyncio.timeout(policy.deadline):
            return await retrying(attempt)
    except TimeoutError:
        if last:
            raise last[-1] from None
        raise Unavailable(
            f"{action}: no answer within the {policy.deadline:g} s call deadline",
            provider=PROVIDER_NAME,
            pool=pool,
        ) from None
