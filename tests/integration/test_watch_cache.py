"""burstd.kube.cache.WatchCache against the real kube-apiserver (Karmada Clusters, test-only CRD):
list + watch, resourceVersion tracking, re-list on 410 Gone, malformed objects skipped with a warning,
and the event handler at the unit level (bookmarks, ERROR events)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

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
