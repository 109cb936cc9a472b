"""WatchCache with a strict fake client and simulated time (wall and monotonic clocks and ``sleep`` are
injected: no real time passes, the clocks move only when the cache sleeps or the test says so).

- freshness comes from when the server was last *heard* (an event, a BOOKMARK, a list, a watch the server
  ended cleanly), never from a stream merely being open;
- re-lists after 410 Gone (and failed lists) back off with jitter, and are counted.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from burstd.cli import main as cli
from burstd.kube import errors
from burstd.kube.cache import WatchCache, silence_bound
from burstd.kube.client import KARMADA_CLUSTERS, EventType, ListResult, WatchEvent
from burstd.kube.parse import parse_cluster
from burstd.model.world import ClusterSummary
from burstd.policy.loader import load_policy
from burstd.runtime.policies import read_policies, signal_max_age_problems

ROOT = Path(__file__).resolve().parents[2]

T0 = 1_800_000_000.0
#: a fake client answers at most this many LISTs (and watches): a cache that retries without backing off
#: fails here instead of spinning forever (it never yields to the event loop)
LIST_GUARD = 1000


class TimeUp(Exception):
    """The simulated run is over."""


class Sim:
    """Simulated time. ``sleep`` records the delay, moves both clocks and yields to the event loop."""

    def __init__(self, *, end: float = math.inf) -> None:
        self.wall = T0
        self.mono = 0.0
        self.end = end
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        if self.mono > self.end:
            raise TimeUp
        await asyncio.sleep(0)


def cluster(name: str, rv: str, cpu: str = "8") -> dict[str, Any]:
    return {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "resourceVersion": rv},
        "spec": {"syncMode": "Push"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "resourceSummary": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "440"},
                "allocated": {"cpu": cpu, "memory": "190Gi"},
            },
        },
    }


GONE = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version: 1 (99)"}
Script = Callable[["FakeKube"], AsyncIterator[WatchEvent]]


class FakeKube:
    """Answers ``list`` (the Clusters it holds, or ``list_error``) and ``watch`` (the next scripted stream,
    the last one repeating). Any other call fails the test."""

    def __init__(self, sim: Sim, scripts: list[Script], objects: list[dict[str, Any]] | None = None):
        self.sim = sim
        self.scripts = scripts
        self.objects = objects if objects is not None else [cluster("a", "10")]
        self.list_error: errors.KubeError | None = None
        self.list_failures = 0  # answer this many LISTs with ``list_error``
        self.lists = 0
        self.list_times: list[float] = []
        self.watches: list[Mapping[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected client call: {name}")

    async def list(self, resource: Any, namespace: str | None = None, **kw: Any) -> ListResult:
        assert resource is KARMADA_CLUSTERS
        assert namespace is None
        assert not kw
        self.lists += 1
        self.list_times.append(self.sim.mono)
        if self.lists > LIST_GUARD:
            raise AssertionError(
                f"{self.lists} LISTs within {self.sim.mono:g} simulated seconds: re-lists do not back off"
            )
        if self.list_error is not None and self.list_failures > 0:
            self.list_failures -= 1
            raise self.list_error
        return ListResult([dict(o) for o in self.objects], "99")

    def watch(self, resource: Any, namespace: str | None = None, **kw: Any) -> AsyncIterator[WatchEvent]:
        assert resource is KARMADA_CLUSTERS
        assert namespace is None
        self.watches.append(kw)
        if len(self.watches) > LIST_GUARD:
            raise AssertionError(
                f"{len(self.watches)} watches within {self.sim.mono:g} simulated seconds: no backoff"
            )
        script = self.scripts[min(len(self.watches), len(self.scripts)) - 1]
        return script(self)


async def gone_on_open(kube: FakeKube) -> AsyncIterator[WatchEvent]:
    """The server answers the watch request itself with HTTP 410 (the client raises it)."""
    raise errors.Gone("too old resource version", status=410, target=None)
    yield  # pragma: no cover - makes this an async generator


async def gone_event(kube: FakeKube) -> AsyncIterator[WatchEvent]:
    yield WatchEvent(EventType.ERROR, GONE)


async def bookmark_then_gone(kube: FakeKube) -> AsyncIterator[WatchEvent]:
    yield WatchEvent(EventType.BOOKMARK, {"kind": "Cluster", "metadata": {"resourceVersion": "100"}})
    yield WatchEvent(EventType.ERROR, GONE)


def silent(opened: asyncio.Event) -> Script:
    """An open stream that never says anything (until the test cancels the cache)."""

    async def script(kube: FakeKube) -> AsyncIterator[WatchEvent]:
        opened.set()
        await asyncio.Event().wait()
        return  # pragma: no cover
        yield  # pragma: no cover

    return script


def healthy(seconds: float, then: Script | None = None) -> Script:
    """A watch that hears a bookmark, lasts ``seconds`` (simulated) and ends cleanly, or with ``then``."""

    async def script(kube: FakeKube) -> AsyncIterator[WatchEvent]:
        yield WatchEvent(EventType.BOOKMARK, {"kind": "Cluster", "metadata": {"resourceVersion": "100"}})
        kube.sim.advance(seconds)
        if then is not None:
            async for event in then(kube):
                yield event

    return script


def new_cache(sim: Sim, kube: FakeKube, **kw: Any) -> WatchCache[ClusterSummary]:
    return WatchCache(
        kube,  # type: ignore[arg-type]
        KARMADA_CLUSTERS,
        parse_cluster,
        clock=sim.time,
        monotonic=sim.monotonic,
        sleep=sim.sleep,
        **kw,
    )


async def run_until_time_up(cache: WatchCache[Any]) -> None:
    with pytest.raises(TimeUp):
        await asyncio.wait_for(cache.run(), 30)  # a guard against a hang, never reached when it works


def observed_at(cache: WatchCache[ClusterSummary], key: str = "a") -> float:
    return cache.fresh_items()[key].observed_at


# -------------------------------------------------------------------------------- defect 1: freshness


def test_a_silent_open_watch_does_not_keep_objects_fresh() -> None:
    """The API server goes silent for 150 s with the stream still open: the objects are 150 s old."""

    async def main() -> None:
        sim = Sim()
        opened = asyncio.Event()
        kube = FakeKube(sim, [silent(opened)])
        cache = new_cache(sim, kube, watch_timeout=60)
        task = asyncio.create_task(cache.run())
        await asyncio.wait_for(opened.wait(), 10)
        listed_at = sim.wall
        sim.advance(150.0)
        try:
            assert observed_at(cache) == listed_at, "age 0 s after 150 s of silence"
            assert sim.wall - observed_at(cache) == 150.0
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


def test_events_bookmarks_and_a_clean_end_are_heard_errors_are_not() -> None:
    async def main() -> None:
        sim = Sim()
        step = asyncio.Event()
        proceed = asyncio.Event()

        async def script(kube: FakeKube) -> AsyncIterator[WatchEvent]:
            for event in (
                WatchEvent(EventType.BOOKMARK, {"kind": "Cluster", "metadata": {"resourceVersion": "120"}}),
                WatchEvent(EventType.MODIFIED, cluster("b", "121")),
            ):
                sim.advance(20.0)
                yield event
                step.set()
                await proceed.wait()
                proceed.clear()
            sim.advance(30.0)  # the server ends the watch at its timeoutSeconds, saying nothing more

        async def stop_here(kube: FakeKube) -> AsyncIterator[WatchEvent]:
            step.set()
            await asyncio.Event().wait()
            return  # pragma: no cover
            yield  # pragma: no cover

        kube = FakeKube(sim, [script, stop_here], objects=[cluster("a", "10"), cluster("b", "11")])
        cache = new_cache(sim, kube, watch_timeout=60)
        task = asyncio.create_task(cache.run())

        async def next_step() -> None:
            await asyncio.wait_for(step.wait(), 10)
            step.clear()

        await next_step()  # after the BOOKMARK (20 s after the list)
        assert observed_at(cache, "a") == observed_at(cache, "b") == T0 + 20.0
        assert cache.last_heard_at() == T0 + 20.0
        proceed.set()
        await next_step()  # after the MODIFIED of b (40 s)
        assert observed_at(cache, "a") == observed_at(cache, "b") == T0 + 40.0
        proceed.set()
        await next_step()  # the watch ended cleanly at 70 s; the next one is open and silent
        assert observed_at(cache, "a") == T0 + 70.0
        assert kube.lists == 1
        assert sim.sleeps == []  # a watch that ends at its timeout is no failure: no backoff

        cache.handle(WatchEvent(EventType.BOOKMARK, {"metadata": {"resourceVersion": "130"}}))
        sim.advance(5.0)
        with pytest.raises(errors.Gone):
            cache.handle(WatchEvent(EventType.ERROR, GONE))
        assert cache.last_heard_at() == T0 + 70.0  # an ERROR is not news about the objects
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_very_short_clean_watch_is_not_heard_and_backs_off() -> None:
    """A stream that closes at once with nothing in it (a proxy, a restarting server) says nothing about
    the objects: it is a failure (backoff), as client-go's reflector treats a "very short watch"."""

    async def empty(kube: FakeKube) -> AsyncIterator[WatchEvent]:
        kube.sim.wall += 5.0  # wall time moves, monotonic does not: the watch lasted 0 s
        return
        yield  # pragma: no cover

    async def main() -> None:
        sim = Sim(end=60.0)
        kube = FakeKube(sim, [empty])
        cache = new_cache(sim, kube, watch_timeout=60)
        await run_until_time_up(cache)
        assert cache.last_heard_at() == T0  # the list, never the empty watches
        assert kube.lists == 1
        assert len(sim.sleeps) >= 3
        assert sim.sleeps[2] > sim.sleeps[0]

    asyncio.run(main())


def test_asks_the_server_for_watch_timeout_and_bounds_silence_above_it() -> None:
    async def main() -> None:
        sim = Sim()
        opened = asyncio.Event()
        kube = FakeKube(sim, [silent(opened)])
        cache = new_cache(sim, kube, watch_timeout=45)
        task = asyncio.create_task(cache.run())
        await asyncio.wait_for(opened.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert kube.watches == [
            {"resource_version": "99", "timeout_seconds": 45, "read_timeout": silence_bound(45)}
        ]
        assert 45 < silence_bound(45) <= 60

    asyncio.run(main())


# -------------------------------------------------------------------------------- defect 5: re-list storm


@pytest.mark.parametrize("script", [gone_on_open, gone_event, bookmark_then_gone])
def test_a_410_storm_re_lists_a_bounded_number_of_times(script: Script) -> None:
    """The server answers every watch with 410 Gone (at once, as an ERROR event, or after a bookmark):
    in 600 simulated seconds the cache lists at most ~once per maximum backoff once the backoff has grown,
    and keeps trying (it is not stuck)."""

    async def main() -> None:
        sim = Sim(end=600.0)
        kube = FakeKube(sim, [script])
        cache = new_cache(sim, kube, watch_timeout=60, backoff_initial=0.5, backoff_max=30.0)
        await run_until_time_up(cache)
        # Equal jitter: each delay is in [base/2, base], base = min(30, 0.5 * 2**(n-1)). The shortest
        # possible delays (0.25, 0.5, 1, 2, 4, 8, then 15 s) allow at most 7 + (600 - 15.75) / 15 + 1 = 46
        # LISTs; the longest (0.5, 1, ..., 16, then 30 s) at least 6 + (600 - 31.5) / 30 = 24.
        assert 24 <= kube.lists <= 46, kube.lists
        assert cache.relists == kube.lists
        gaps = [b - a for a, b in zip(kube.list_times, kube.list_times[1:], strict=False)]
        assert min(gaps) >= 0.25
        assert all(g >= 15.0 for g in gaps[7:]), gaps
        assert cache.errors == 0  # a 410 is no error, but it is backed off from

    asyncio.run(main())


def test_failed_lists_back_off_and_a_watch_that_made_progress_resets_the_backoff() -> None:
    async def main() -> None:
        sim = Sim(end=10_000.0)
        # 1 LIST fails 5 times; 2 then watches: 3 x 410, one healthy watch (60 s) that ends in 410, 410 ...
        kube = FakeKube(sim, [gone_event, gone_event, gone_event, healthy(60.0, then=gone_event), gone_event])
        kube.list_error = errors.ServerError("etcd unavailable", status=503, target=None)
        kube.list_failures = 5
        cache = new_cache(sim, kube, watch_timeout=60, backoff_initial=0.5, backoff_max=30.0)
        task = asyncio.create_task(cache.run())
        while len(kube.watches) < 6:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        bases = [min(30.0, 0.5 * 2.0**n) for n in range(12)]
        # 5 failed lists, the 6th succeeds; its watch and the next two get 410 (3 more failures, 8 in all);
        # the 4th watch makes progress (heard for 60 s) before its 410: the backoff starts over (1, 2, 3)
        expected = [*bases[:8], *bases[:3]]
        assert len(sim.sleeps) == len(expected), sim.sleeps
        for n, (delay, base) in enumerate(zip(sim.sleeps, expected, strict=True)):
            assert base / 2 <= delay <= base, (n, sim.sleeps)
        assert cache.errors == 5
        assert kube.lists == 11

    asyncio.run(main())


# ------------------------------------------- defect 1: a signalMaxAge a quiet fleet could never meet


def policy_with_max_age(tmp_path: Path, max_age: str, name: str = "quiet") -> Path:
    text = (ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text()
    marker = "safety: {signalMaxAge: 2m,"
    assert marker in text
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(marker, f"safety: {{signalMaxAge: {max_age},", 1))
    return path


def test_signal_max_age_must_be_above_the_watch_silence_bound(tmp_path: Path) -> None:
    quiet = policy_with_max_age(tmp_path, "40s")
    found, problems = read_policies([quiet], prometheus_configured=False, watch_timeout=30.0)
    assert found is None
    assert len(problems) == 1, problems
    # FILE:LINE:COL of the policy's document, the field, the policy's name
    assert re.match(rf"{re.escape(str(quiet))}:3:1: spec\.safety\.signalMaxAge: policy sim-", problems[0])
    assert "signalMaxAge (40s) must be above 40s" in problems[0]
    assert "watchTimeout, 30s" in problems[0]
    # a shorter watchTimeout makes the same policy fine; so does no check (burstd policy check)
    found, problems = read_policies([quiet], prometheus_configured=False, watch_timeout=29.0)
    assert found is not None, problems
    found, problems = read_policies([quiet], prometheus_configured=False)
    assert found is not None, problems


def test_the_pure_check_names_every_offending_policy() -> None:
    policy = load_policy(ROOT / "burstd" / "sim" / "data" / "policy.yaml")
    ok = signal_max_age_problems([("p.yaml:1:1", policy)], watch_timeout=60.0)  # 2m > 70 s
    assert ok == []
    late = signal_max_age_problems([("p.yaml:1:1", policy)], watch_timeout=110.0)  # 2m <= 120 s
    assert len(late) == 1
    assert "signalMaxAge (120s) must be above 120s" in late[0]


def test_burstd_run_refuses_such_a_policy_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = policy_with_max_age(tmp_path, "1m")
    config = tmp_path / "burstd.yaml"
    config.write_text("watchTimeout: 60s\n")
    assert cli(["run", "--config", str(config), "--policies", str(quiet)]) == 1
    err = capsys.readouterr().err
    assert f"{quiet}:3:1: spec.safety.signalMaxAge: policy sim-" in err
    assert "signalMaxAge (60s) must be above 70s" in err
    assert "nothing was started" in err
    assert "Traceback" not in err


def test_the_watch_metrics_read_the_caches_at_scrape_time() -> None:
    from prometheus_client import generate_latest

    from burstd.runtime.metrics import Metrics

    async def main() -> None:
        sim = Sim()
        kube = FakeKube(sim, [gone_event])
        cache = new_cache(sim, kube)
        metrics = Metrics()
        metrics.watches.watches = lambda: [cache]
        resource = str(KARMADA_CLUSTERS)
        before = generate_latest(metrics.registry).decode()
        assert f'burstd_watch_relists_total{{resource="{resource}"}} 0.0' in before
        assert "burstd_watch_last_heard_timestamp_seconds{" not in before  # never heard: no sample
        await cache.relist()
        sim.advance(7.0)
        await cache.relist()
        text = generate_latest(metrics.registry).decode()
        assert f'burstd_watch_relists_total{{resource="{resource}"}} 2.0' in text
        heard = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(f'burstd_watch_last_heard_timestamp_seconds{{resource="{resource}"}} ')
        ]
        assert heard == [T0 + 7.0]

    asyncio.run(main())


def test_a_410_after_a_partition_re_lists_at_once() -> None:
    """The watch fails 4 times (API server unreachable): backoff. When it comes back, the resumed watch's
    resourceVersion has been compacted (410): the cache re-lists in the same attempt, with no second
    wait, and watches on."""

    async def unreachable(kube: FakeKube) -> AsyncIterator[WatchEvent]:
        raise errors.ServerError("cannot reach the API server", status=0, target=None)
        yield  # pragma: no cover

    async def main() -> None:
        sim = Sim()
        opened = asyncio.Event()
        kube = FakeKube(sim, [healthy(60.0), *[unreachable] * 4, gone_on_open, silent(opened)])
        cache = new_cache(sim, kube, watch_timeout=60, backoff_initial=0.5, backoff_max=30.0)
        task = asyncio.create_task(cache.run())
        await asyncio.wait_for(opened.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert kube.lists == 2  # the first, and one after the 410
        assert len(sim.sleeps) == 4, sim.sleeps  # one per unreachable attempt, none for the 410
        assert cache.errors == 4
        assert [w["resource_version"] for w in kube.watches] == ["99", *["100"] * 5, "99"]

    asyncio.run(main())


@pytest.mark.parametrize(("value", "expected"), [("2h", "got 7200s"), ("500ms", "got 0.5s")])
def test_watch_timeout_out_of_range_is_a_clear_settings_error(
    tmp_path: Path, value: str, expected: str
) -> None:
    from burstd.runtime.settings import SettingsError, load_settings

    assert load_settings(None).watch_timeout == 15.0
    config = tmp_path / "burstd.yaml"
    config.write_text(f"tickInterval: 15s\nwatchTimeout: {value}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert message.startswith(f"{config}:2:"), message
    assert "watchTimeout: must be between 1s and 1h" in message
    assert expected in message


# ------------------------------------------------------------------- when a cluster summary last changed


def test_a_summary_keeps_when_it_changed_across_repeats_and_re_lists() -> None:
    """Karmada writes a Cluster's status only when it changed: an update or a re-list that repeats the
    summary is not news (``changed_at`` stays), a different summary is (``changed_at`` moves)."""

    async def main() -> None:
        sim = Sim()
        kube = FakeKube(sim, [healthy(1.0)])
        cache = new_cache(sim, kube)
        await cache.relist()
        first = cache.fresh_items()["a"]
        assert first.changed_at == T0

        sim.advance(10)  # the same summary again, at a new resourceVersion (a label changed, say)
        cache.handle(WatchEvent(EventType.MODIFIED, cluster("a", "11")))
        sim.advance(10)
        await cache.relist()
        again = cache.fresh_items()["a"]
        assert (again.changed_at, again.observed_at) == (T0, T0 + 20)

        sim.advance(10)  # the pods moved: the summary's allocated CPU changed
        cache.handle(WatchEvent(EventType.MODIFIED, cluster("a", "12", cpu="2")))
        moved = cache.fresh_items()["a"]
        assert (moved.allocated.cpu, moved.changed_at) == (2.0, T0 + 30)

        sim.advance(10)  # a malformed update keeps the last good summary and when it changed
        broken = cluster("a", "13")
        broken["status"]["resourceSummary"]["allocatable"] = {"cpu": "64"}
        cache.handle(WatchEvent(EventType.MODIFIED, broken))
        kept = cache.fresh_items()["a"]
        assert (kept.allocated.cpu, kept.changed_at, kept.observed_at) == (2.0, T0 + 30, T0 + 30)

    asyncio.run(main())
