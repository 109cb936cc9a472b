"""burstd.kube.fence and the fenced retry loop: a write is sent only while the window is open, abandoned when
it closes in flight, and never retried after it closed."""

from __future__ import annotations

import asyncio
import functools

import pytest

from burstd.kube.errors import ServerError, Target
from burstd.kube.fence import Fenced, unfenced
from burstd.kube.resources import MACHINE_DEPLOYMENTS
from burstd.kube.retry import Backoff, call_with_retry, fenced_attempt

TARGET = Target("patch", MACHINE_DEPLOYMENTS, "ns", "pool", "scale")
FAST = Backoff(attempts=5, initial=0.001, max_delay=0.002, jitter=0.0, deadline=10.0)


def test_a_closed_window_sends_nothing() -> None:
    sent: list[int] = []

    async def send() -> str:
        sent.append(1)
        return "ok"

    for left in (0.0, -1.0, float("nan")):
        with pytest.raises(Fenced, match=r"not sent: patch MachineDeployment ns/pool \(subresource scale\)"):
            asyncio.run(fenced_attempt(functools.partial(float, left), TARGET, send))
    assert sent == []
    assert asyncio.run(fenced_attempt(unfenced, TARGET, send)) == "ok"
    assert asyncio.run(fenced_attempt(lambda: 5.0, TARGET, send)) == "ok"


def test_a_write_in_flight_when_the_window_closes_is_abandoned() -> None:
    async def never_answered() -> str:
        await asyncio.Event().wait()
        return "late"

    with pytest.raises(Fenced, match="abandoned unanswered"):
        asyncio.run(fenced_attempt(lambda: 0.05, TARGET, never_answered))


def test_a_timeout_of_the_request_itself_is_not_taken_for_the_window() -> None:
    async def times_out() -> str:
        raise TimeoutError

    with pytest.raises(TimeoutError):
        asyncio.run(fenced_attempt(lambda: 60.0, TARGET, times_out))


def test_no_retry_once_the_window_has_closed() -> None:
    """The first attempt fails (503) and leadership lapses meanwhile: the retry is neither sent nor waited
    for; the caller gets the last error. With the window open, the same failure is retried."""
    window = [5.0]
    calls: list[float] = []

    async def fails_then_lapses() -> str:
        calls.append(window[0])
        if len(calls) == 1:
            window[0] = 0.0
            raise ServerError("503", status=503, target=TARGET)
        return "sent"

    with pytest.raises(ServerError):
        asyncio.run(
            call_with_retry(
                lambda: fenced_attempt(lambda: window[0], TARGET, fails_then_lapses),
                FAST,
                fence=lambda: window[0],
            )
        )
    assert len(calls) == 1

    window[0], calls[:] = 5.0, []

    async def fails_once() -> str:
        calls.append(window[0])
        if len(calls) == 1:
            raise ServerError("503", status=503, target=TARGET)
        return "sent"

    def fence() -> float:
        return window[0]

    assert (
        asyncio.run(call_with_retry(lambda: fenced_attempt(fence, TARGET, fails_once), FAST, fence=fence))
        == "sent"
    )
    assert len(calls) == 2
