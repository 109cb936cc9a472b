"""A watch cache for one resource: list, then watch from the list's resourceVersion with bookmarks.

Freshness comes from when the API server was last *heard*, never from a stream merely being open:

- heard: a successful list, an ADDED/MODIFIED/DELETED event, a BOOKMARK (requested with
  ``allowWatchBookmarks``), and a watch the server ended cleanly (at its ``timeoutSeconds``) after at
  least ``MIN_WATCH``. ERROR events, failed requests and very short empty watches are not heard.
  Bookmarks cannot be relied on: kube-apiserver (v1.35, measured) sends one only once its watch cache's
  resourceVersion has moved past the watch's, so on a quiet resource a 5, 30 or 60 s watch saw none (a
  200 s one saw the first after 120 s). The clean end at ``timeoutSeconds`` is the heartbeat.
- each watch asks the server for ``timeoutSeconds = watch_timeout``, so even a quiet resource is heard
  from at least that often; a watch that hears nothing (no byte) for ``silence_bound(watch_timeout)`` is
  abandoned and restarted. While nothing is heard, the objects age.
- ``fresh_items()`` stamps every object with the last-heard time. An object whose latest update was
  malformed keeps its older time.
- an object with a ``changed_at`` field keeps it across updates and re-lists that repeat what it says:
  ``changed_at`` is when the cache first heard its current content.

A 410 Gone (HTTP 410 or an ERROR event with code 410) re-lists: at once when the watch resumed from an
older list (the resourceVersion was compacted meanwhile), else after the backoff. Retries back off with
"equal jitter" (bounded, never zero): each consecutive failed attempt (a 410 right after a list, a failed
list or watch, a very short empty watch) doubles the delay, from ``backoff_initial`` up to
``backoff_max``; a watch that made progress (heard, and open at least ``MIN_WATCH``) resets it. So a
server that answers every watch with 410 sees at most one LIST per backoff delay, not a storm.

Objects are parsed where they arrive (``parse(obj, observed_at)``, ``observed_at`` from an injected
clock); a malformed object is skipped with a WARNING naming its kind, namespace/name and the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from .client import SILENCE_MARGIN, EventType, KubeClient, Resource, WatchEvent
from .errors import Gone, KubeError, classify

T = TypeVar("T")
Parser = Callable[[Mapping[str, Any], float], T]
log = logging.getLogger("burstd.kube.cache")

_MALFORMED = (ValueError, KeyError, TypeError)

#: A watch open for less than this that ends with nothing in it is a failure (as client-go's reflector
#: treats a "very short watch"), and a watch must be open this long to reset the backoff.
MIN_WATCH = 1.0


def silence_bound(watch_timeout: float) -> float:
    """Seconds a watch asked for ``timeoutSeconds = watch_timeout`` may be silent before it is restarted.

    A quiet resource is heard from at least every ``watch_timeout`` (a BOOKMARK and a clean end), and
    after a silent stream at the latest ``silence_bound`` later the watch is restarted: a policy's
    ``safety.signalMaxAge`` must be above this bound, or a quiet fleet would hold.
    """
    return timeout_seconds(watch_timeout) + SILENCE_MARGIN


def timeout_seconds(watch_timeout: float) -> int:
    """The watch's ``timeoutSeconds`` (an integer, at least 1) for a ``watch_timeout`` in seconds."""
    return max(1, math.ceil(watch_timeout))


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


def _unchanged_since(held: T | None, parsed: T) -> T:
    """``parsed``, keeping ``held``'s ``changed_at`` when the object says the same as before (apart from its
    times): an update or a re-list that repeats what was known does not make it news (objects with a
    ``changed_at`` field, e.g. ``ClusterSummary``)."""
    old: Any = held
    new: Any = parsed
    if old is None or getattr(new, "changed_at", None) is None:
        return parsed
    if dataclasses.replace(old, observed_at=new.observed_at, changed_at=new.changed_at) == new:
        kept: T = dataclasses.replace(new, changed_at=old.changed_at)
        return kept
    return parsed


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
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        watch_timeout: float = 15.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self._client = client
        self._parse = parse
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._timeout_seconds = timeout_seconds(watch_timeout)
        self._read_timeout = silence_bound(watch_timeout)
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._on_change = on_change
        self._items: dict[str, T] = {}
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.resource_version: str | None = None
        #: successful lists (the first one included)
        self.relists = 0
        #: failed lists and watches (410 Gone is not counted: it is the server's way to say "re-list")
        self.errors = 0
        self._heard_at: float | None = None  # wall clock: when the server last told us something
        self._heard_in_watch = False  # the current (or last) watch heard something
        self._progressed = False  # the last watch made progress (resets the backoff)
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

    def last_heard_at(self) -> float | None:
        """When the server last told this cache something (wall clock; None before the first list)."""
        return self._heard_at

    def fresh_items(self) -> Mapping[str, T]:
        """``items`` with each ``observed_at`` set to ``last_heard_at()`` (objects are frozen dataclasses
        with an ``observed_at`` field); objects whose latest update was malformed keep their own time."""
        at = self._heard_at
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
        """Forever: list when needed, watch from the last resourceVersion, back off on failures.

        ``failures`` counts consecutive failed attempts (410 Gone right after a list, failed lists and
        watches, very short watches); before each retry the cache sleeps ``_delay(failures)``. An attempt
        with a watch that made progress starts the count over.
        """
        failures = 0
        delay = 0.0
        while True:
            if failures:
                await self._sleep(delay)
            self._progressed = False
            level, why = logging.INFO, "the watch ended at once with nothing in it"
            try:
                failed = not await self._list_and_watch()
            except Gone as exc:
                self.resource_version = None
                failed, why = True, f"{exc}; re-listing"
            except (KubeError, OSError) as exc:
                self.errors += 1
                failed, level, why = True, logging.WARNING, f"list or watch failed ({exc})"
            failures = (0 if self._progressed else failures) + (1 if failed else 0)
            if failed:
                delay = self._delay(failures)
                log.log(level, "%s: %s; retrying in %.1f s", self.resource, why, delay)

    async def _list_and_watch(self) -> bool:
        """One attempt: list if needed, then watch. A 410 on a watch resumed from an older list (e.g. after
        a partition, the resourceVersion compacted meanwhile) re-lists at once, in the same attempt; a 410
        right after a list fails the attempt (so a server answering every watch with 410 meets the
        backoff, one LIST per attempt). Returns whether the last watch was heard from."""
        listed = self.resource_version is None
        if listed:
            await self.relist()
        try:
            return await self.watch_once(self.resource_version)
        except Gone as exc:
            if listed:
                raise
            log.info("%s: %s; re-listing", self.resource, exc)
        self.resource_version = None
        await self.relist()
        return await self.watch_once(self.resource_version)

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
                fresh[parsed[0]] = _unchanged_since(self._items.get(parsed[0]), parsed[1])
        self._items = fresh
        self._aging.clear()
        self._heard_at = observed_at
        self.resource_version = listed.resource_version
        self.relists += 1
        self._synced.set()
        self._changed("")

    async def watch_once(self, resource_version: str | None) -> bool:
        """One watch request from ``resource_version``, until the server ends it (or it stays silent past
        ``silence_bound``: a ``KubeError``). Raises ``Gone`` on 410.

        Returns whether the server was heard in it: an event, a BOOKMARK, or a clean end after at least
        ``MIN_WATCH`` (heard then); a very short empty watch is not (the caller counts it as a failure).
        Sets ``_progressed`` when the watch was heard and open at least ``MIN_WATCH``, however it ended.
        """
        self.resource_version = resource_version
        self._heard_in_watch = False
        opened = self._monotonic()
        clean = False
        try:
            async for event in self._client.watch(
                self.resource,
                self.namespace,
                resource_version=resource_version,
                timeout_seconds=self._timeout_seconds,
                read_timeout=self._read_timeout,
            ):
                self.handle(event)
            clean = True
        finally:
            lasted = self._monotonic() - opened
            if clean and lasted >= MIN_WATCH:
                self._heard()
            if self._heard_in_watch and lasted >= MIN_WATCH:
                self._progressed = True  # reset by run() before each attempt
        return self._heard_in_watch

    def handle(self, event: WatchEvent) -> None:
        """Apply one watch event. Raises ``Gone`` for an ERROR 410 and ``KubeError`` for other ERRORs."""
        if event.type is EventType.ERROR:  # not news about the objects: the cache keeps aging
            raise classify(event.code or 0, event.object, None, reason=str(event.object.get("reason", "")))
        rv = event.resource_version
        self._heard()
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
                self._items[parsed[0]] = _unchanged_since(self._items.get(parsed[0]), parsed[1])
                self._aging.discard(parsed[0])
                self._changed(parsed[0])
            else:
                with contextlib.suppress(ValueError):
                    self._aging.add(object_key(event.object))
            # A malformed update keeps the previous value (with its older observed_at, so it ages).
        if rv:
            self.resource_version = rv

    def _heard(self) -> None:
        self._heard_at = self._clock()
        self._heard_in_watch = True

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
