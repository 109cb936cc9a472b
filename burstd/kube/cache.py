"""A watch cache for one resource: list, then watch from the list's resourceVersion with bookmarks.

- keeps the latest resourceVersion (from events and bookmarks) and resumes the watch from it;
- on 410 Gone (an HTTP 410 or an ERROR event with code 410) re-lists;
- on other errors backs off (bounded, jittered) and resumes;
- ``synced`` is True after the first successful list (``wait_synced()`` awaits it);
- ``fresh_items()`` stamps every object with the time the cache was last known to be current: now while
  the watch is open (an object that does not change is not stale: its watch would have told), else when
  the last watch ended or failed. An object whose latest update was malformed keeps its older time;
- objects are parsed where they arrive (``parse(obj, observed_at)``, ``observed_at`` from an injected
  clock); a malformed object is skipped with a WARNING naming its kind, namespace/name and the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from .client import EventType, KubeClient, Resource, WatchEvent
from .errors import Gone, KubeError, classify

T = TypeVar("T")
Parser = Callable[[Mapping[str, Any], float], T]
log = logging.getLogger("burstd.kube.cache")

_MALFORMED = (ValueError, KeyError, TypeError)


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (or ``name`` for cluster-scoped objects), as client-go's cache keys them."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        raise ValueError("metadata.name is missing")
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if isinstance(ns, str) and ns else str(meta["name"])


def _describe(obj: Any) -> str:
    try:
        return object_key(obj)
    except (ValueError, AttributeError):
        return "<unnamed>"


class WatchCache(Generic[T]):
    """The parsed objects of one resource, kept current by a list + watch loop (``start()``/``stop()``)."""

    def __init__(
        self,
        client: KubeClient,
        resource: Resource,
        parse: Parser[T],
        *,
        namespace: str | None = None,
        clock: Callable[[], float] = time.time,
        watch_timeout: int = 300,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self._client = client
        self._parse = parse
        self._clock = clock
        self._watch_timeout = watch_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._on_change = on_change
        self._items: dict[str, T] = {}
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.resource_version: str | None = None
        self.relists = 0
        self.errors = 0
        self._watching = False
        self._current_at: float | None = None  # when the cache was last known current
        self._aging: set[str] = set()  # keys whose latest update was malformed

    # ------------------------------------------------------------------ reading

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    @property
    def items(self) -> Mapping[str, T]:
        """A snapshot copy keyed by ``namespace/name`` (``name`` when cluster-scoped)."""
        return dict(self._items)

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def current_at(self) -> float | None:
        """Now while the watch is open; otherwise when the cache was last current (None before a list)."""
        return self._clock() if self._watching else self._current_at

    def fresh_items(self) -> Mapping[str, T]:
        """``items`` with each ``observed_at`` set to ``current_at()`` (objects are frozen dataclasses
        with an ``observed_at`` field); objects whose latest update was malformed keep their own time."""
        at = self.current_at()
        if at is None:
            return dict(self._items)
        out: dict[str, T] = {}
        for key, value in self._items.items():
            if key in self._aging or not dataclasses.is_dataclass(value):
                out[key] = value
            else:
                out[key] = dataclasses.replace(value, observed_at=at)  # type: ignore[type-var]
        return out

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"watch-cache {self.resource}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Forever: list when needed, watch from the last resourceVersion, back off on errors."""
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    await self.relist()
                await self.watch_once(self.resource_version)
                failures = 0
            except Gone as exc:
                log.info("%s: %s; re-listing", self.resource, exc)
                self.resource_version = None
            except (KubeError, OSError) as exc:
                self.errors += 1
                failures += 1
                delay = self._delay(failures)
                log.warning("%s: watch failed (%s); retrying in %.1f s", self.resource, exc, delay)
                await asyncio.sleep(delay)

    def _delay(self, failures: int) -> float:
        base: float = min(self._backoff_max, self._backoff_initial * 2.0 ** min(failures - 1, 30))
        return base / 2 + random.uniform(0, base / 2)  # "equal jitter": never zero, never above the cap

    # ------------------------------------------------------------------ steps (public for tests)

    async def relist(self) -> None:
        listed = await self._client.list(self.resource, self.namespace)
        observed_at = self._clock()
        fresh: dict[str, T] = {}
        for obj in listed.items:
            parsed = self._parsed(obj, observed_at)
            if parsed is not None:
                fresh[parsed[0]] = parsed[1]
        self._items = fresh
        self._aging.clear()
        self._current_at = observed_at
        self.resource_version = listed.resource_version
        self.relists += 1
        self._synced.set()
        self._changed("")

    async def watch_once(self, resource_version: str | None) -> None:
        """One watch request from ``resource_version``; returns when the server ends it. Raises ``Gone``."""
        self.resource_version = resource_version
        self._watching = True
        try:
            async for event in self._client.watch(
                self.resource,
                self.namespace,
                resource_version=resource_version,
                timeout_seconds=self._watch_timeout,
            ):
                self.handle(event)
        finally:
            if self._watching:
                self._watching = False
                self._current_at = self._clock()

    def handle(self, event: WatchEvent) -> None:
        """Apply one watch event. Raises ``Gone`` for an ERROR 410 and ``KubeError`` for other ERRORs."""
        if event.type is EventType.ERROR:
            self._watching = False  # the cache stopped being current when the stream failed
            self._current_at = self._clock()
            raise classify(event.code or 0, event.object, None, reason=str(event.object.get("reason", "")))
        rv = event.resource_version
        if event.type is EventType.BOOKMARK:
            if rv:
                self.resource_version = rv
            return
        observed_at = self._clock()
        if event.type is EventType.DELETED:
            key = _describe(event.object)
            self._items.pop(key, None)
            self._changed(key)
        else:
            parsed = self._parsed(event.object, observed_at)
            if parsed is not None:
                self._items[parsed[0]] = parsed[1]
                self._aging.discard(parsed[0])
                self._changed(parsed[0])
            else:
                with contextlib.suppress(ValueError):
                    self._aging.add(object_key(event.object))
            # A malformed update keeps the previous value (with its older observed_at, so it ages).
        if rv:
            self.resource_version = rv

    def _parsed(self, obj: Mapping[str, Any], observed_at: float) -> tuple[str, T] | None:
        try:
            return object_key(obj), self._parse(obj, observed_at)
        except _MALFORMED as exc:
            log.warning(
                "skipping malformed %s %s (%s): %s",
                self.resource.kind,
                _describe(obj),
                self.resource,
                exc,
            )
            return None

    def _changed(self, key: str) -> None:
        if self._on_change is not None:
            self._on_change(key)
