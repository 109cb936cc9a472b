"""burstd.kube.cache.WatchCache against the real kube-apiserver (Karmada Clusters, test-only CRD):
list + watch, resourceVersion tracking, re-list on 410 Gone, malformed objects skipped with a warning,
a quiet resource heard from when the server ends each watch, a silent stream abandoned (against a local
HTTP server that answers and then says nothing), and the event handler at the unit level (bookmarks,
ERROR events)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from burstd.kube import errors
from burstd.kube.cache import WatchCache
from burstd.kube.client import KARMADA_CLUSTERS, EventType, KubeClient, WatchEvent
from burstd.kube.parse import parse_cluster
from burstd.model.world import ClusterSummary, Resources

from .controlplane import ControlPlane
from .objects import unique

T = TypeVar("T")
GiB = 1024.0**3
NOW = 1_800_000_000.0


def clock() -> float:
    return NOW


def run(plane: ControlPlane, body: Callable[[KubeClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await KubeClient.from_kubeconfig(str(plane.kubeconfig)) as kube:
            return await asyncio.wait_for(body(kube), 60)

    return asyncio.run(main())


def cluster(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {"syncMode": "Push", "apiEndpoint": "https://10.0.0.1:6443"},
    }


def status(
    cpu_allocated: str, ready: str = "True", allocatable: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "ClusterReady",
                    "message": "ok",
                    "lastTransitionTime": "2026-11-22T00:00:00Z",
                }
            ],
            "resourceSummary": {
                "allocatable": allocatable or {"cpu": "64", "memory": "256Gi", "pods": "440"},
                "allocated": {"cpu": cpu_allocated, "memory": "190Gi"},
                "allocating": {"cpu": "500m", "memory": "1Gi"},
            },
        }
    }


async def add_cluster(kube: KubeClient, name: str, cpu_allocated: str = "8") -> None:
    await kube.create(KARMADA_CLUSTERS, cluster(name))
    await kube.patch_status(KARMADA_CLUSTERS, name, status(cpu_allocated))


def summary(cache: WatchCache[ClusterSummary], key: str) -> ClusterSummary:
    got = cache.get(key)
    assert got is not None, f"{key} not in the cache"
    return got


def cpu_allocated(cache: WatchCache[ClusterSummary], key: str) -> float | None:
    got = cache.get(key)
    return None if got is None else got.allocated.cpu


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_syncs_and_follows_added_modified_deleted(control_plane: ControlPlane) -> None:
    a, b = unique("base"), unique("cloud")

    async def body(kube: KubeClient) -> None:
        await add_cluster(kube, a, "8")
        cache = WatchCache(kube, KARMADA_CLUSTERS, parse_cluster, clock=clock, watch_timeout=30)
        assert not cache.synced
        cache.start()
        await cache.wait_synced(10)
        assert cache.synced
        first = cache.get(a)
        assert first == ClusterSummary(
            name=a,
            allocatable=Resources(64.0, 256 * GiB),
            allocated=Resources(8.0, 190 * GiB),
            allocating=Resources(0.5, 1 * GiB),
            ready=True,
            observed_at=NOW,
            changed_at=NOW,
        )
        rv0 = int(cache.resource_version or 0)

        await add_cluster(kube, b, "1")  # ADDED (+ MODIFIED for the status)
        await eventually(lambda: cpu_allocated(cache, b) == 1.0, "B added")
        await kube.patch_status(KARMADA_CLUSTERS, a, status("60", ready="False"))  # MODIFIED
        await eventually(lambda: cpu_allocated(cache, a) == 60.0, "A modified")
        assert summary(cache, a).ready is False
        await kube.delete(KARMADA_CLUSTERS, b)  # DELETED
        await eventually(lambda: cache.get(b) is None, "B deleted")
        assert int(cache.resource_version or 0) > rv0
        assert cache.relists == 1
        await cache.stop()

    run(control_plane, body)


def test_relists_on_410_gone(control_plane: ControlPlane) -> None:
    a, b, c = unique("keep"), unique("gone"), unique("new")

    async def body(kube: KubeClient) -> None:
        await add_cluster(kube, a)
        await add_cluster(kube, b)
        cache = WatchCache(kube, KARMADA_CLUSTERS, parse_cluster, clock=clock, watch_timeout=30)
        await cache.relist()
        assert {a, b} <= set(cache.items)
        # Changes the cache does not see (no watch running).
        await kube.delete(KARMADA_CLUSTERS, b)
        await add_cluster(kube, c)
        # Resuming from a compacted resourceVersion: the apiserver answers 410 "too old resource version".
        with pytest.raises(errors.Gone):
            await cache.watch_once("1")
        # The run loop treats that as "re-list", then watches on.
        cache.resource_version = "1"
        cache.start()
        await eventually(lambda: cache.relists == 2, "re-list after 410")
        items = cache.items
        assert a in items
        assert c in items
        assert b not in items
        assert cache.errors == 0  # a 410 is not an error to back off from
        await add_cluster(kube, b)  # and the watch resumed after the re-list
        await eventually(lambda: cache.get(b) is not None, "watch resumed after re-list")
        assert cache.relists == 2  # one LIST for one 410, not a storm
        await cache.stop()

    run(control_plane, body)


def test_malformed_cluster_is_skipped_with_a_warning(
    control_plane: ControlPlane, caplog: pytest.LogCaptureFixture
) -> None:
    no_status, no_cpu, good = unique("nostatus"), unique("nocpu"), unique("good")
    caplog.set_level(logging.WARNING, logger="burstd.kube.cache")

    async def body(kube: KubeClient) -> None:
        cache = WatchCache(kube, KARMADA_CLUSTERS, parse_cluster, clock=clock, watch_timeout=30)
        cache.start()
        await cache.wait_synced(10)
        # Both are valid for the schema, but unusable for decisions.
        await kube.create(KARMADA_CLUSTERS, cluster(no_status))
        await kube.create(KARMADA_CLUSTERS, cluster(no_cpu))
        await kube.patch_status(KARMADA_CLUSTERS, no_cpu, status("1", allocatable={"pods": "110"}))
        await add_cluster(kube, good)
        await eventually(lambda: cache.get(good) is not None, "the good cluster after the bad ones")
        assert cache.get(no_status) is None
        assert cache.get(no_cpu) is None
        task = cache.start()  # the same task: still running
        assert not task.done()
        await cache.stop()
        assert task.done()

    run(control_plane, body)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Cluster {no_status}" in w and "status is missing" in w for w in warnings), warnings
    assert any(
        f"Cluster {no_cpu}" in w and "status.resourceSummary.allocatable.cpu is missing" in w
        for w in warnings
    ), warnings


def test_stop_ends_the_task(control_plane: ControlPlane) -> None:
    async def body(kube: KubeClient) -> None:
        cache = WatchCache(kube, KARMADA_CLUSTERS, parse_cluster, clock=clock, watch_timeout=30)
        task = cache.start()
        await cache.wait_synced(10)
        await cache.stop()
        assert task.done()
        assert task.cancelled()
        await cache.stop()  # idempotent

    run(control_plane, body)


def test_a_quiet_resource_is_heard_from_when_the_server_ends_each_watch(control_plane: ControlPlane) -> None:
    """Nothing changes: the objects stay fresh only because each watch (timeoutSeconds 2) is ended by the
    server, cleanly, and the cache counts that as heard (kube-apiserver sends no BOOKMARK on a quiet
    resource: measured, the bookmark's resourceVersion would not be newer than the watch's)."""
    name = unique("quiet")

    async def body(kube: KubeClient) -> None:
        await add_cluster(kube, name)
        cache = WatchCache(kube, KARMADA_CLUSTERS, parse_cluster, watch_timeout=2)
        cache.start()
        await cache.wait_synced(10)
        listed_at = cache.last_heard_at()
        assert listed_at is not None

        def heard_after(at: float) -> Callable[[], bool]:
            return lambda: (cache.last_heard_at() or 0.0) > at

        for _ in range(2):  # two watches ended by the server, each heard
            await eventually(heard_after(cache.last_heard_at() or 0.0), "a watch's clean end", 15)
        at = cache.last_heard_at()
        assert at is not None
        assert at > listed_at
        assert summary(cache, name).observed_at <= listed_at  # the object as parsed at the list ...
        assert cache.fresh_items()[name].observed_at == cache.last_heard_at()  # ... is fresh as heard
        assert cache.relists == 1
        assert cache.errors == 0
        await cache.stop()

    run(control_plane, body)


class AlwaysStale:
    """The real client, but every watch asks for resourceVersion 1, long compacted: the real API server
    answers each one with 410 Gone (a 410 storm). Counts the LISTs."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.lists = 0

    async def list(self, resource: Any, namespace: str | None = None, **kw: Any) -> Any:
        self.lists += 1
        return await self.kube.list(resource, namespace, **kw)

    def watch(self, resource: Any, namespace: str | None = None, **kw: Any) -> AsyncIterator[WatchEvent]:
        return self.kube.watch(resource, namespace, **{**kw, "resource_version": "1"})


def test_a_real_410_storm_is_backed_off(control_plane: ControlPlane) -> None:
    """Before: 3,206 LISTs in 5 s. Now each re-list waits for a jittered, doubling delay: five LISTs take
    at least the four shortest delays (0.25 + 0.5 + 1 + 2 s)."""

    async def body(kube: KubeClient) -> None:
        stale = AlwaysStale(kube)
        cache = WatchCache(stale, KARMADA_CLUSTERS, parse_cluster, clock=clock, watch_timeout=30)  # type: ignore[arg-type]
        started = asyncio.get_running_loop().time()
        cache.start()
        await eventually(lambda: cache.relists >= 5, "five LISTs", 30)
        elapsed = asyncio.get_running_loop().time() - started
        await cache.stop()
        assert elapsed >= 3.75, f"5 LISTs in {elapsed:.2f} s"
        # every LIST sent was counted, but for one that may have been in flight when the cache stopped
        assert cache.relists <= stale.lists <= cache.relists + 1
        assert cache.errors == 0  # 410s are no errors, but they are backed off from

    run(control_plane, body)


class SilentServer:
    """A local HTTP server that answers a Cluster LIST, and a watch with its headers, then nothing
    (``stall_headers``: not even the headers) until the client gives up."""

    def __init__(self, *, stall_headers: bool = False, event: bytes = b"") -> None:
        self.stall_headers = stall_headers
        self.event = event  # sent (in 64 KiB pieces) before the silence
        self.watches = 0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") not in ("true", "True", "1"):
            body = {"apiVersion": "cluster.karmada.io/v1alpha1", "kind": "ClusterList", "items": []}
            return web.json_response({**body, "metadata": {"resourceVersion": "5"}})
        self.watches += 1
        if self.stall_headers:
            await asyncio.Event().wait()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for at in range(0, len(self.event), 64 * 1024):
            await response.write(self.event[at : at + 64 * 1024])
        await asyncio.Event().wait()  # open, silent
        return response  # pragma: no cover

    async def __aenter__(self) -> SilentServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "s", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
                    "users": [{"name": "u", "user": {"token": "not-a-secret"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "s", "user": "u"}}],
                    "current-context": "c",
                }
            )
        )
        return path


async def drain(events: AsyncIterator[Any]) -> None:
    async for _ in events:
        pass


@pytest.mark.parametrize("stall_headers", [False, True], ids=["silent-stream", "no-headers"])
def test_a_silent_watch_is_abandoned_after_its_read_timeout(tmp_path: Path, stall_headers: bool) -> None:
    """The server holds the watch open and says nothing: the client gives up after ``read_timeout`` with
    a retryable error (the cache then backs off and watches again) instead of waiting for timeoutSeconds
    plus minutes."""

    async def main() -> None:
        async with SilentServer(stall_headers=stall_headers) as server:
            config = server.kubeconfig(tmp_path / "kubeconfig")
            async with await KubeClient.from_kubeconfig(str(config)) as kube:
                events = kube.watch(
                    KARMADA_CLUSTERS, resource_version="5", timeout_seconds=60, read_timeout=1.0
                )
                with pytest.raises(errors.ServerError) as caught:
                    await asyncio.wait_for(drain(events), 30)  # a guard: the read timeout ends it first
                assert server.watches >= 1
                assert caught.value.retryable

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- unit level


def raw_cluster(name: str, rv: str, **status_fields: Any) -> dict[str, Any]:
    obj = cluster(name)
    obj["metadata"]["resourceVersion"] = rv
    obj.update(status(status_fields.get("cpu", "2")))
    return obj


class _NoClient:
    """The handler never calls the client."""


def unit_cache(times: list[float]) -> WatchCache[ClusterSummary]:
    return WatchCache(_NoClient(), KARMADA_CLUSTERS, parse_cluster, clock=lambda: times[0])  # type: ignore[arg-type]


def test_handler_tracks_bookmarks_events_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    times = [100.0]
    cache = unit_cache(times)
    cache.handle(WatchEvent(EventType.ADDED, raw_cluster("a", "10")))
    assert cache.resource_version == "10"
    assert summary(cache, "a").observed_at == 100.0

    cache.handle(WatchEvent(EventType.BOOKMARK, {"kind": "Cluster", "metadata": {"resourceVersion": "25"}}))
    assert cache.resource_version == "25"
    assert set(cache.items) == {"a"}

    times[0] = 130.0
    cache.handle(WatchEvent(EventType.MODIFIED, raw_cluster("a", "26", cpu="3")))
    got = summary(cache, "a")
    assert got.allocated.cpu == 3.0
    assert got.observed_at == 130.0

    # A malformed update is skipped with a warning naming it; the previous value stays (and ages).
    bad = raw_cluster("a", "27")
    bad["status"]["resourceSummary"]["allocatable"]["cpu"] = {"cores": 64}
    with caplog.at_level(logging.WARNING, logger="burstd.kube.cache"):
        cache.handle(WatchEvent(EventType.MODIFIED, bad))
        cache.handle(
            WatchEvent(EventType.ADDED, {"metadata": {"name": "x", "resourceVersion": "28"}, "status": 5})
        )
        cache.handle(WatchEvent(EventType.ADDED, {"metadata": {}}))
    messages = [r.getMessage() for r in caplog.records]
    assert any("Cluster a " in m and "allocatable.cpu must be a quantity" in m for m in messages), messages
    assert any("Cluster x " in m and "status must be an object" in m for m in messages), messages
    assert any("<unnamed>" in m and "metadata.name is missing" in m for m in messages), messages
    assert cache.get("a") == got
    assert cache.resource_version == "28"

    cache.handle(WatchEvent(EventType.DELETED, raw_cluster("a", "29")))
    assert cache.items == {}
    assert cache.resource_version == "29"

    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version: 1 (29)"}
    with pytest.raises(errors.Gone):
        cache.handle(WatchEvent(EventType.ERROR, gone))
    with pytest.raises(errors.ServerError):
        cache.handle(WatchEvent(EventType.ERROR, {"kind": "Status", "code": 500, "message": "etcd"}))


def test_a_large_watch_event_from_the_apiserver_arrives_whole(control_plane: ControlPlane) -> None:
    """A Cluster whose status lists many APIs is a watch event of about 1.2 MiB (etcd keeps objects up to
    1.5 MiB): it arrives whole from the real apiserver."""
    name = unique("big")
    resources = [{"name": f"widgets{i:05d}", "kind": f"Widget{i:05d}"} for i in range(24_000)]
    big = {"status": {"apiEnablements": [{"groupVersion": "example.io/v1", "resources": resources}]}}

    async def body(kube: KubeClient) -> int:
        await kube.create(KARMADA_CLUSTERS, cluster(name))
        listed = await kube.list(KARMADA_CLUSTERS)
        events = kube.watch(KARMADA_CLUSTERS, resource_version=listed.resource_version, timeout_seconds=30)
        await kube.patch_status(KARMADA_CLUSTERS, name, big)
        async for event in events:
            if event.type is EventType.MODIFIED and event.object["metadata"]["name"] == name:
                enabled = event.object["status"]["apiEnablements"][0]["resources"]
                assert len(json.dumps(event.object)) > 1024 * 1024
                return len(enabled)
        raise AssertionError("the watch ended without the event")

    assert run(control_plane, body) == len(resources)


def test_a_watch_event_over_aiohttp_s_line_limit_arrives_whole(tmp_path: Path) -> None:
    """A 2 MiB event, sent in 64 KiB pieces, arrives whole. aiohttp's ``readline()`` raises LineTooLong (not a
    ClientError) for a line over twice the session's read buffer, 512 KiB by default; kubernetes_asyncio's
    session reads 2 MiB at a time, so a line of up to 4 MiB, well above etcd's 1.5 MiB object limit, is
    read. This guards that headroom."""
    obj = cluster("huge")
    obj["metadata"]["resourceVersion"] = "6"
    obj["status"] = {"apiEnablements": [{"groupVersion": "x/v1", "resources": [{"name": "r" * 2_000_000}]}]}
    line = json.dumps({"type": "MODIFIED", "object": obj}).encode() + b"\n"

    async def main() -> WatchEvent:
        async with SilentServer(event=line) as server:
            config = server.kubeconfig(tmp_path / "kubeconfig")
            async with await KubeClient.from_kubeconfig(str(config)) as kube:
                events = kube.watch(
                    KARMADA_CLUSTERS, resource_version="5", timeout_seconds=60, read_timeout=5.0
                )
                return await asyncio.wait_for(anext(events), 30)

    event = asyncio.run(main())
    assert event.type is EventType.MODIFIED
    assert event.object == obj
