"""The leader's loop is bounded and watched: a round that hangs is cut by ``roundTimeout`` and the loop goes
on; ``/healthz`` answers 503 once no round has completed (or, on a follower, no leader-election attempt
was made) within ``maxInactivity``. The monotonic clock is injected: no test waits for real time to pass
except to let a deliberately tiny ``roundTimeout`` fire, and then it waits on counters, not on time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from burstd.model.state import BurstState
from burstd.runtime.daemon import Daemon
from burstd.runtime.http import HttpServer
from burstd.runtime.leader import LeaderElector
from burstd.runtime.metrics import Metrics
from burstd.runtime.settings import SettingsError, load_settings
from burstd.runtime.store import StateStore, Stored

from .fakes import T0, FakeActuator, FakeStore, caches, install, policy, snapshot

WEB = "web-burst"
BOUND = 30.0  # a hung test fails here instead of waiting for pytest-timeout


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def make(clock: Clock | None = None, **settings: Any) -> tuple[Daemon, FakeActuator, FakeStore]:
    d = Daemon(
        load_settings(None, **settings), [policy(WEB)], clock=lambda: T0 + 1, monotonic=clock or Clock()
    )
    actuator, store = FakeActuator(), FakeStore()
    install(d, (actuator, store), (FakeActuator(), FakeStore()))
    store.stored[WEB] = Stored(BurstState(), "41")
    return d, actuator, store


async def wait_until(condition: Any, what: str) -> None:
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.005)  # polling a condition, not proving that nothing happened
    assert condition(), what


# ------------------------------------------------------------------------------------------ roundTimeout


def test_a_round_that_hangs_is_cut_by_round_timeout_and_the_loop_goes_on() -> None:
    d, actuator, store = make(
        round_timeout="200ms",
        request_timeout="100ms",
        prometheus={"timeout": "100ms"},
        tick_interval="10ms",
        debounce="1ms",
        shutdown_grace="50ms",  # the test ends by cancelling the loop, perhaps mid-action
    )
    actuator.gate = asyncio.Event()  # every action hangs: a write to an API server that never answers
    fake = caches(snapshot(desired=40))

    async def body() -> None:
        loop = asyncio.create_task(d._lead(fake, cast(StateStore, store), None))
        try:
            await wait_until(lambda: len(actuator.applied) >= 2, "a second round never started")
        finally:
            loop.cancel()
            await asyncio.wait({loop}, timeout=BOUND)
        assert loop.done()
        assert (sample(d.metrics, "burstd_round_timeouts_total") or 0) >= 1
        # nothing was saved: every round was cut before its action finished
        assert store.saves == []
        assert actuator.finished == []
        # a cut round is not progress
        assert sample(d.metrics, "burstd_rounds_total") == 0

    asyncio.run(body())


def test_a_round_that_finishes_counts_as_progress() -> None:
    clock = Clock()
    d, actuator, store = make(clock)
    fake = caches(snapshot(desired=40))
    clock.now += 120.0

    async def body() -> None:
        await d._bounded_round(fake, cast(StateStore, store), None)

    asyncio.run(body())
    assert [a.__class__.__name__ for a in actuator.actions()] == ["ScalePool"]
    assert sample(d.metrics, "burstd_rounds_total") == 1
    assert sample(d.metrics, "burstd_round_timeouts_total") == 0
    assert d._progress_at == clock.now
    last = sample(d.metrics, "burstd_last_round_timestamp_seconds")
    assert last is not None
    assert last > 0


def test_no_round_while_a_cache_is_listing_is_not_progress() -> None:
    clock = Clock()
    d, actuator, store = make(clock)
    fake = caches(snapshot(desired=40))
    cast(Any, fake).synced = False
    start = d._progress_at
    clock.now += 60.0
    asyncio.run(d._bounded_round(fake, cast(StateStore, store), None))
    assert actuator.applied == []
    assert d._progress_at == start
    assert sample(d.metrics, "burstd_rounds_total") == 0


# ------------------------------------------------------------------------------------------ /healthz


@dataclass
class StubElector:
    """What ``Daemon._alive`` reads of a LeaderElector."""

    is_leader: bool = False
    last_attempt: float | None = None


def test_alive_counts_from_process_start_before_the_first_round() -> None:
    clock = Clock()
    d, _, _ = make(clock, max_inactivity="10m")
    clock.now += 599.0
    assert d._alive() == (True, "ok")
    clock.now += 2.0
    ok, why = d._alive()
    assert not ok
    assert "no round completed for 601 s" in why
    assert "maxInactivity 600 s" in why


def test_alive_fails_when_no_round_completed_within_max_inactivity() -> None:
    clock = Clock()
    d, _, store = make(clock, max_inactivity="5m")
    asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    clock.now += 299.0
    assert d._alive()[0]
    clock.now += 2.0
    ok, why = d._alive()
    assert not ok
    assert why.startswith("no round completed for 301 s")
    # one more round and it is alive again
    asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert d._alive() == (True, "ok")


def test_a_follower_is_alive_while_its_leader_election_makes_attempts() -> None:
    clock = Clock()
    d, _, _ = make(clock, max_inactivity="2m")
    elector = StubElector(is_leader=False, last_attempt=None)
    d.elector = cast(LeaderElector, elector)
    clock.now += 119.0
    assert d._alive()[0]  # no attempt yet: counted from the process start
    clock.now += 2.0
    ok, why = d._alive()
    assert not ok
    assert "no leader-election attempt for 121 s" in why
    elector.last_attempt = clock.now - 1.0
    clock.now += 60.0  # no round for 181 s, but a follower does not run rounds
    assert d._alive() == (True, "ok")
    clock.now += 61.0
    ok, why = d._alive()
    assert not ok
    assert "no leader-election attempt for 122 s (maxInactivity 120 s)" in why


def test_a_new_leader_counts_from_when_it_became_leader() -> None:
    clock = Clock()
    d, _, _ = make(clock, max_inactivity="2m")
    elector = StubElector(is_leader=False, last_attempt=clock.now)
    d.elector = cast(LeaderElector, elector)
    clock.now += 3600.0
    elector.last_attempt = clock.now
    elector.is_leader = True
    d._leadership(True)
    assert d._alive()[0]  # an hour after the start, but it has only just become the leader
    clock.now += 119.0
    assert d._alive()[0]
    clock.now += 2.0
    assert not d._alive()[0]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_healthz_answers_503_with_the_reason_when_the_loop_is_stuck(loop: asyncio.AbstractEventLoop) -> None:
    clock = Clock()
    d, _, _ = make(clock, max_inactivity="10m")

    async def get(port: int) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            return resp.status, await resp.text()

    async def body() -> list[tuple[int, str]]:
        http = HttpServer(d.metrics, ready=d._ready, decisions=d._decisions, alive=d._alive)
        await http.start("127.0.0.1", 0)
        try:
            assert http.port is not None
            seen = [await get(http.port)]
            clock.now += 601.0
            seen.append(await get(http.port))
            return seen
        finally:
            await http.stop()

    fine, stuck = loop.run_until_complete(asyncio.wait_for(body(), BOUND))
    assert fine == (200, "ok\n")
    assert stuck[0] == 503
    assert "no round completed for 601 s (maxInactivity 600 s)" in stuck[1]


# ------------------------------------------------------------------------------------------ settings


def test_the_new_settings_have_their_defaults() -> None:
    s = load_settings(None)
    assert (s.request_timeout, s.round_timeout, s.max_inactivity) == (10.0, 60.0, 600.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("requestTimeout: 1m\nroundTimeout: 30s\n", "requestTimeout (60s) must be shorter than roundTimeout"),
        ("roundTimeout: 10m\n", "maxInactivity (600s) must be longer than roundTimeout + tickInterval"),
        ("maxInactivity: 10s\n", "maxInactivity (10s) must be longer than"),
        ("prometheus: {timeout: 20s}\n", "prometheus.timeout (20s) must not exceed requestTimeout (10s)"),
        ("requestTimeout: 0s\n", "requestTimeout: ... must be above 0s"),
        ("maxInactivity: 0s\n", "maxInactivity: ... must be above 0s"),
    ],
)
def test_timeouts_that_cannot_work_together_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "burstd.yaml"
    config.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "burstd.yaml" in message
    for part in expected.split(" ... "):  # in this order
        assert part in message
        message = message[message.index(part) + len(part) :]
