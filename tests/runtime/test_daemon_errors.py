"""No error of an API server, of Prometheus or of burstd itself ends the leader's loop: each is counted,
logged once, and the step is tried again next round. Each test names the path it covers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

from burstd.kube.errors import ServerError
from burstd.model.actions import ScalePool
from burstd.model.state import BurstState
from burstd.model.world import FleetBudget, Sample, World
from burstd.policy.spec import BurstPolicy
from burstd.prometheus.source import PromQLSource, RetryPolicy, SampleResult
from burstd.runtime.daemon import Daemon
from burstd.runtime.evaluate import PolicyRunner
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot
from burstd.runtime.settings import load_settings
from burstd.runtime.store import StateStore, Stored

from .fakes import POOL, T0, FakeActuator, FakeStore, caches, install, policy, snapshot

WEB = "web-burst"
BOUND = 30.0


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def unavailable(what: str = "get ConfigMap burstd-system/burstd-state-web-burst") -> ServerError:
    return ServerError(
        f"server error (503) on {what}: the server is currently unable to handle the request",
        status=503,
        target=None,
    )


@dataclass
class FlakyStore(FakeStore):
    """A FakeStore whose next loads raise the scripted errors, in order, before it answers again."""

    load_errors: list[BaseException] = field(default_factory=list)

    async def load(self, policy: str) -> Stored:
        if self.load_errors:
            self.loads.append(policy)
            raise self.load_errors.pop(0)
        return await super().load(policy)


def daemon(
    running: Sequence[BurstPolicy], store: FakeStore | None = None, **settings: Any
) -> tuple[Daemon, FakeActuator, FakeStore]:
    d = Daemon(load_settings(None, **settings), list(running), clock=lambda: T0 + 1)
    actuator, real = FakeActuator(), store or FakeStore()
    install(d, (actuator, real), (FakeActuator(), FakeStore()))
    return d, actuator, real


def scale_ups(actuator: FakeActuator, name: str) -> list[tuple[str, int, int]]:
    return [(a.pool, a.previous, a.nodes) for a in actuator.actions(name) if isinstance(a, ScalePool)]


async def load_all(d: Daemon, store: FakeStore) -> None:
    for p in d.policies:
        await d._load(p, cast(StateStore, store))


# ------------------------------------------------------------------------------------------ _round


def test_a_503_while_re_reading_state_after_a_conflict_ends_neither_the_round_nor_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore()
    d, actuator, _ = daemon([policy(WEB)], store)
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    store.conflict_once = True  # WEB's save conflicts (another writer was first) ...
    store.load_errors = [unavailable()]  # ... and the API server answers 503 when burstd re-reads it

    asyncio.run(d._round(caches(snapshot(desired=40)), {}, T0 + 1))  # must not raise

    assert sample(d.metrics, "burstd_state_conflicts_total", policy=WEB) == 1
    assert sample(d.metrics, "burstd_evaluation_errors_total", policy=WEB, error="ServerError") == 1
    assert WEB not in d.runners  # not evaluated again before its state has been re-read
    assert store.saves == []
    assert "cannot re-read its state (will retry next round)" in caplog.text

    # the next round re-reads WEB's state and evaluates it from there
    asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert d.runners[WEB].version == "100"
    assert [(s.policy, s.expected_version) for s in store.saves] == [(WEB, "41")]
    assert scale_ups(actuator, WEB) == [(POOL, 0, 1), (POOL, 0, 1)]  # the second finds it already done
    assert sample(d.metrics, "burstd_rounds_total") == 1


def test_an_unexpected_error_outside_any_policy_is_counted_and_the_next_round_runs() -> None:
    """E.g. a bug while the budgets of the fleet limits are computed (``_budgets``)."""
    d, actuator, store = daemon([policy(WEB)])
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    d.fleet_limits = cast(Any, object())  # anything but None: the budgets are computed

    calls: list[int] = []

    def world(self: PolicyRunner, snap: Snapshot, signals: Any, budget: FleetBudget) -> World:
        calls.append(1)
        raise ZeroDivisionError("a bug in the budget accounting")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PolicyRunner, "world", world)
        asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert calls == [1]
    assert actuator.applied == []  # no decision without the fleet-wide budgets
    assert sample(d.metrics, "burstd_round_errors_total", stage="evaluate", error="ZeroDivisionError") == 1
    assert sample(d.metrics, "burstd_rounds_total") == 0

    d.fleet_limits = None
    asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert scale_ups(actuator, WEB) == [(POOL, 0, 1)]
    assert sample(d.metrics, "burstd_rounds_total") == 1


def test_budgets_failing_in_the_loop_does_not_end_it() -> None:
    """Through ``_lead`` itself: before, the exception left the leader's work and ended the process."""
    d, actuator, store = daemon([policy(WEB)], tick_interval="10ms", debounce="1ms")
    store.stored[WEB] = Stored(BurstState(), "41")
    d.fleet_limits = cast(Any, object())
    failures: list[int] = []

    def world(self: PolicyRunner, snap: Snapshot, signals: Any, budget: FleetBudget) -> World:
        failures.append(1)
        raise ZeroDivisionError("a bug in the budget accounting")

    async def body() -> None:
        loop = asyncio.create_task(d._lead(caches(snapshot(desired=40)), cast(StateStore, store), None))
        try:
            async with asyncio.timeout(BOUND):
                while len(failures) < 3 and not loop.done():
                    await asyncio.sleep(0.005)
            assert not loop.done(), loop.exception() if loop.done() else ""
        finally:
            loop.cancel()
            await asyncio.wait({loop}, timeout=BOUND)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(PolicyRunner, "world", world)
        asyncio.run(body())
    assert len(failures) >= 3
    assert (
        sample(d.metrics, "burstd_round_errors_total", stage="evaluate", error="ZeroDivisionError") or 0
    ) >= 3
    assert actuator.applied == []


# ------------------------------------------------------------------------------------------ loading


def test_a_state_that_cannot_be_read_at_all_is_retried_next_round(caplog: pytest.LogCaptureFixture) -> None:
    """``_lead`` loads the state of every policy without a runner; an error there must not end the loop
    (RecursionError: a state ConfigMap nested too deeply for the JSON parser, or any other bug)."""
    store = FlakyStore()
    d, actuator, _ = daemon([policy(WEB)], store)
    store.stored[WEB] = Stored(BurstState(), "41")
    store.load_errors = [RecursionError("maximum recursion depth exceeded while decoding a JSON array")]
    caplog.set_level(logging.ERROR)

    asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert WEB not in d.runners
    assert sample(d.metrics, "burstd_evaluation_errors_total", policy=WEB, error="RecursionError") == 1
    assert "policy web-burst: cannot read its state" in caplog.text

    asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert scale_ups(actuator, WEB) == [(POOL, 0, 1)]


def test_a_reload_that_fails_keeps_the_running_policies_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``_maybe_reload``: the state of a policy added by a reload cannot be read because of a bug."""
    store = FlakyStore()
    d, actuator, _ = daemon([policy(WEB)], store, policies=[str(tmp_path)])
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    d.policy_digest = "the files were read once"  # the daemon watches the policy files for changes
    caplog.set_level(logging.ERROR)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("burstd.runtime.daemon.digest_of", broken)
        for _ in range(3):
            asyncio.run(d._bounded_round(caches(snapshot(desired=40)), cast(StateStore, store), None))
    assert sample(d.metrics, "burstd_round_errors_total", stage="reload", error="UnicodeDecodeError") == 3
    assert caplog.text.count("re-reading the policy files failed") == 1  # once, not every round
    # the running policy kept running through all three rounds
    assert [s.expected_version for s in store.saves] == ["41", "100", "101"]
    assert set(scale_ups(actuator, WEB)) == {(POOL, 0, 1)}
    assert sample(d.metrics, "burstd_rounds_total") == 3


# ------------------------------------------------------------------------------------------ _sample


class _Broken:
    """A PromQL source whose ``sample`` raises what the test says (a bug, or a closed client)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls = 0

    async def sample(self, queries: Sequence[str], now: float) -> SampleResult:
        self.calls += 1
        raise self.exc


def test_a_failing_prometheus_source_leaves_the_round_without_signals() -> None:
    d, _, store = daemon([policy(WEB)])
    store.stored[WEB] = Stored(BurstState(), "41")
    asyncio.run(load_all(d, store))
    source = _Broken(RuntimeError("Cannot send a request, as the client has been closed."))
    got = asyncio.run(d._sample(cast(PromQLSource, source), ["sum(up)"], T0))
    assert got == {}
    assert source.calls == 1
    assert sample(d.metrics, "burstd_round_errors_total", stage="sample", error="RuntimeError") == 1


NESTED = b"[" * 200_000  # what a misbehaving proxy in front of Prometheus answered during an outage


def test_a_prometheus_outage_answered_with_garbage_does_not_end_the_loop() -> None:
    """The real PromQLSource against a loopback server standing in for a broken proxy: 502 with a body
    nested too deeply for the JSON parser (RecursionError, not ValueError)."""

    async def body() -> dict[str, Sample]:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=502, body=NESTED, content_type="application/json")

        app = web.Application()
        app.router.add_get("/api/v1/query", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        d, _, _ = daemon([policy(WEB)])
        retry = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01, max_time=BOUND)
        try:
            async with PromQLSource(f"http://127.0.0.1:{port}", retry=retry) as source:
                async with asyncio.timeout(BOUND):
                    return await d._sample(source, ["sum(kube_pod_status_unschedulable)"], T0)
        finally:
            await runner.cleanup()

    assert asyncio.run(body()) == {}
