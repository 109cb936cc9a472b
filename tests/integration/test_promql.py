"""PromQLSource against a REAL Prometheus scraping exporters served by this test on loopback.

The Prometheus binary must exist (scripts/testenv/install-prometheus.sh); if it does not, these tests
ERROR with the command that provides it - never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from burstd.model.world import Sample
from burstd.policy.loader import load_policy
from burstd.policy.spec import Condition
from burstd.prometheus import (
    AuthFailed,
    BadResponse,
    PrometheusUnavailable,
    PromQLSource,
    QueryRejected,
    RetryPolicy,
    SampleResult,
    queries_of,
    signal_id_of,
)

from .prometheus_server import (
    SCRAPE_INTERVAL_S,
    Exporter,
    FrontServer,
    Prometheus,
    PrometheusSetupError,
    free_port,
    start_prometheus,
)

T = TypeVar("T")
TOKEN = "s3cr3t-T0KEN-burstd-test"  # a test token that must never leak
UNSCHEDULABLE = "sum(burstd_test_unschedulable)"
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.05, max_wait=0.2, max_time=5.0)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Env:
    prometheus: Prometheus
    exporter: Exporter
    volatile: Exporter
    front: FrontServer


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    exporter = Exporter(
        {
            'burstd_test_unschedulable{cluster="idc-1"}': 7,
            'burstd_test_changing{cluster="idc-1"}': 1,
            'burstd_test_pending{cluster="idc-1"}': 1,
            'burstd_test_pending{cluster="idc-2"}': 2,
        }
    )
    volatile = Exporter({'burstd_test_volatile{cluster="idc-2"}': 3})
    with contextlib.ExitStack() as stack:
        stack.callback(exporter.stop)
        stack.callback(volatile.stop)
        failure = None
        try:
            prom = stack.enter_context(
                start_prometheus(
                    {"exporter": f"127.0.0.1:{exporter.port}", "volatile": f"127.0.0.1:{volatile.port}"}
                )
            )
        except PrometheusSetupError as exc:
            failure = str(exc)
        if failure is not None:  # an ERROR with the reason, never a skip
            pytest.fail(failure, pytrace=False)
        front = FrontServer(prom.url, accepted_token=TOKEN)
        stack.callback(front.stop)
        print(f"\nprometheus: ready in {prom.ready_s:.2f} s, first scrape after {prom.first_scrape_s:.2f} s")
        yield Env(prom, exporter, volatile, front)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def sample(url: str, queries: list[str], now: float | None = None, **kwargs: Any) -> SampleResult:
    async def main() -> SampleResult:
        async with PromQLSource(url, **kwargs) as source:
            return await source.sample(queries, time.time() if now is None else now)

    return run(main())


def test_queries_of_policies_are_distinct_and_keyed_like_conditions() -> None:
    policies = [
        load_policy(REPO / "policies" / name) for name in ("static-weights-two-clouds.yaml", "dry-run.yaml")
    ]
    queries = queries_of(policies * 2)
    assert queries == [
        'sum(kube_pod_status_unschedulable{cluster=~"idc-.*", namespace="shop"})',
        'sum(kube_job_status_active{namespace="reports", cluster=~"idc-.*"})',
    ]
    for query in queries:
        assert signal_id_of(query) == Condition(promql=query, above=1).signal_id


def test_sum_is_the_exporter_value_as_a_fresh_sample(env: Env) -> None:
    now = time.time()
    result = sample(env.prometheus.url, [UNSCHEDULABLE], now)
    assert result.errors == {}
    got = result.samples[signal_id_of(UNSCHEDULABLE)]
    assert got.value == 7
    assert math.isclose(got.observed_at, now, abs_tol=0.002)  # Prometheus' timestamp: the evaluation time


def test_a_changed_value_shows_up_after_a_scrape(env: Env) -> None:
    query = "sum(burstd_test_changing)"
    env.exporter.set('burstd_test_changing{cluster="idc-1"}', 42)
    deadline = time.monotonic() + 10 * SCRAPE_INTERVAL_S
    while True:
        got = sample(env.prometheus.url, [query]).samples.get(signal_id_of(query))
        if got is not None and got.value == 42:
            break
        assert time.monotonic() < deadline, f"still {got} after 10 scrape intervals"
        time.sleep(0.2)


def test_several_series_is_an_error_naming_the_query_and_the_others_still_sample(env: Env) -> None:
    result = sample(env.prometheus.url, ["burstd_test_pending", UNSCHEDULABLE])
    error = result.errors[signal_id_of("burstd_test_pending")]
    assert isinstance(error, BadResponse)
    assert "'burstd_test_pending'" in str(error)
    assert "2 series" in str(error)
    assert "sum(" in str(error)
    assert 'cluster="idc-2"' in str(error)
    assert result.samples[signal_id_of(UNSCHEDULABLE)].value == 7


def test_a_syntax_error_is_rejected_with_prometheus_message_and_not_retried(env: Env) -> None:
    query = "sum(burstd_test_unschedulable"
    result = sample(env.front.url, [query, UNSCHEDULABLE], retry=FAST_RETRY)
    error = result.errors[signal_id_of(query)]
    assert isinstance(error, QueryRejected)
    assert query in str(error)
    assert "bad_data" in str(error)
    assert "parse error" in str(error)  # Prometheus' own text
    assert env.front.count(query) == 1
    assert result.samples[signal_id_of(UNSCHEDULABLE)].value == 7


def test_no_data_nan_and_inf_are_absent_not_errors(env: Env) -> None:
    queries = ["sum(burstd_test_no_such_metric)", "0/0", "sum(burstd_test_unschedulable) / 0"]
    result = sample(env.prometheus.url, queries)
    assert result.samples == {}
    assert result.errors == {}


def test_unavailable_is_retried_a_bounded_number_of_times_and_others_unaffected(env: Env) -> None:
    down = "sum(burstd_test_down)"
    start = time.monotonic()
    result = sample(env.front.url, [down, UNSCHEDULABLE], retry=FAST_RETRY, bearer_token=TOKEN)
    elapsed = time.monotonic() - start
    error = result.errors[signal_id_of(down)]
    assert isinstance(error, PrometheusUnavailable)
    assert "HTTP 503" in str(error)
    assert env.front.count(down) == FAST_RETRY.attempts
    assert elapsed < FAST_RETRY.max_time
    assert result.samples[signal_id_of(UNSCHEDULABLE)].value == 7
    # the front server echoed the Authorization header into its error text: it must come out redacted
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)
    assert "Bearer ***" in str(error)


def test_prometheus_down_is_unavailable_within_a_bounded_time() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.monotonic()
    result = sample(url, [UNSCHEDULABLE, "up"], retry=FAST_RETRY, timeout=1.0)
    assert time.monotonic() - start < FAST_RETRY.max_time
    assert result.samples == {}
    assert set(result.errors) == {signal_id_of(UNSCHEDULABLE), signal_id_of("up")}
    for error in result.errors.values():
        assert isinstance(error, PrometheusUnavailable)
        assert "ConnectError" in str(error)


def test_a_prometheus_that_does_not_answer_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # accepts connections in the kernel, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        retry = RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.1, max_time=5.0)
        start = time.monotonic()
        result = sample(url, [UNSCHEDULABLE], retry=retry, timeout=0.5)
        elapsed = time.monotonic() - start
    error = result.errors[signal_id_of(UNSCHEDULABLE)]
    assert isinstance(error, PrometheusUnavailable)
    assert "no answer within 0.5 s" in str(error)
    assert elapsed >= 1.0  # both attempts ran, each waiting out the 0.5 s timeout
    assert elapsed < retry.max_time  # and the retry stays within its bound


def test_a_wrong_token_is_auth_failed_and_never_leaks(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = TOKEN + "-wrong"

    async def main() -> tuple[str, SampleResult]:
        async with PromQLSource(env.front.url, bearer_token=wrong, retry=FAST_RETRY) as source:
            return repr(source), await source.sample([UNSCHEDULABLE], time.time())

    text, result = run(main())
    error = result.errors[signal_id_of(UNSCHEDULABLE)]
    assert isinstance(error, AuthFailed)
    assert "HTTP 401" in str(error)
    assert env.front.count(UNSCHEDULABLE) >= 1
    assert "bearer ***" in text
    for leak in (text, str(error), repr(error), caplog.text):
        assert TOKEN not in leak
    # the right token gets through the same server
    good = sample(env.front.url, [UNSCHEDULABLE], bearer_token=TOKEN)
    assert good.samples[signal_id_of(UNSCHEDULABLE)].value == 7


def test_staleness_comes_from_prometheus_sample_times(env: Env) -> None:
    raw, total = "burstd_test_volatile", "sum(burstd_test_volatile)"
    now = time.time()
    result = sample(env.prometheus.url, [f"timestamp({raw})", total], now)
    scraped_at = result.samples[signal_id_of(f"timestamp({raw})")].value
    assert now - 3 * SCRAPE_INTERVAL_S < scraped_at <= now  # the real time of the last scrape
    assert result.samples[signal_id_of(total)] == Sample(3.0, round(now, 3))

    # evaluated later without newer samples: within the 5m lookback the last sample still counts and is
    # stamped with that later time; beyond it the series is gone (absent = stale/missing to the engine)
    later = sample(env.prometheus.url, [total], scraped_at + 60).samples[signal_id_of(total)]
    assert later == Sample(3.0, round(scraped_at + 60, 3))
    assert sample(env.prometheus.url, [total], scraped_at + 600).samples == {}

    # the target goes down: Prometheus writes staleness markers on the failed scrape and the series is absent
    env.volatile.stop()
    deadline = time.monotonic() + 10 * SCRAPE_INTERVAL_S
    while sample(env.prometheus.url, [total]).samples:
        assert time.monotonic() < deadline, "the series did not go stale after the target went down"
        time.sleep(0.2)
    # ...while the history keeps the real time of the last sample
    history = sample(env.prometheus.url, [f"max_over_time(timestamp({raw})[5m:1s])"]).samples
    last_seen = next(iter(history.values())).value
    assert scraped_at <= last_seen < time.time() - 0.2


# ------------------------------------------------------------------------------------------ deadlines

BOUND = 20.0  # the test's own bound: far above every deadline the source should keep


async def _serve(handler: Any) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def test_a_prometheus_that_trickles_its_answer_is_cut_at_the_request_timeout() -> None:
    """Headers at once, then one byte every 50 ms: each read is quick, so only a deadline on the whole
    request ends it (a per-read timeout never fires)."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            while not writer.is_closing():
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.05)

    async def main() -> SampleResult:
        server, url = await _serve(trickle)
        retry = RetryPolicy(attempts=1, initial_wait=0.01, max_wait=0.01, max_time=BOUND / 2)
        try:
            async with PromQLSource(url, timeout=0.3, retry=retry) as source, asyncio.timeout(BOUND):
                return await source.sample([UNSCHEDULABLE], time.time())
        finally:
            server.close()

    result = run(main())
    error = result.errors[signal_id_of(UNSCHEDULABLE)]
    assert isinstance(error, PrometheusUnavailable)
    assert "no answer within 0.3 s" in str(error)


def test_retries_of_a_query_fit_within_max_time() -> None:
    """A server that accepts and never answers, many attempts allowed: ``max_time`` ends the query even in
    the middle of an attempt (before, the last attempt could run a whole timeout past it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        retry = RetryPolicy(attempts=1000, initial_wait=0.01, max_wait=0.01, max_time=1.0)

        async def main() -> SampleResult:
            async with PromQLSource(url, timeout=0.3, retry=retry) as source, asyncio.timeout(BOUND):
                return await source.sample([UNSCHEDULABLE], time.time())

        result = run(main())
    error = result.errors[signal_id_of(UNSCHEDULABLE)]
    assert isinstance(error, PrometheusUnavailable)
    assert "no answer within 1 s (all attempts)" in str(error)


def test_a_garbage_answer_during_an_outage_is_unavailable_not_a_crash() -> None:
    """A proxy in front of a Prometheus that is down answers 502 with a body nested too deeply for the JSON
    parser (RecursionError, not ValueError): classified like any 502, and the other queries still run."""
    body = b"[" * 200_000

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 502 Bad Gateway\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        writer.write(head.encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def main() -> SampleResult:
        server, url = await _serve(garbage)
        retry = RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01, max_time=BOUND / 2)
        try:
            async with PromQLSource(url, retry=retry) as source, asyncio.timeout(BOUND):
                return await source.sample([UNSCHEDULABLE, "up"], time.time())
        finally:
            server.close()

    result = run(main())
    assert set(result.errors) == {signal_id_of(UNSCHEDULABLE), signal_id_of("up")}
    for error in result.errors.values():
        assert isinstance(error, PrometheusUnavailable)
        assert "HTTP 502" in str(error)
