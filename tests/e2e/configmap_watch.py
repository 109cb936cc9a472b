"""``ConfigMapWatch``: every change of the ConfigMaps in one namespace, in the order the API server made
them, read from a watch stream in a thread (raw admin HTTP, as ``core`` does; ``KubeClient`` watches custom
resources only).

Polling can miss a state that lasts less than one poll (burstd's ``Draining`` can last 0.1 s); a watch
delivers every write. The thread lists once, then watches from the list's resourceVersion in requests of
``WATCH_SECONDS`` (so it notices ``stop()`` within that time), re-listing when the server says the version
is too old. Each object is handed to ``on_change(obj, time.monotonic())`` on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from integration.controlplane import ControlPlane

WATCH_SECONDS = 2
OnChange = Callable[[dict[str, Any], float], None]


class ConfigMapWatchError(RuntimeError):
    """The watch failed (its thread stopped)."""


class ConfigMapWatch:
    def __init__(self, plane: ControlPlane, namespace: str, on_change: OnChange) -> None:
        self.plane = plane
        self.namespace = namespace
        self.on_change = on_change
        self.error: BaseException | None = None
        """Why the thread stopped, if it failed."""
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl = ssl.create_default_context(cafile=str(plane.ca_file))

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/configmaps"

    def start(self) -> None:
        """Start the thread; call from the event loop that is to receive the changes."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"watch {self.path}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No change is delivered after this returns; the thread ends within ``WATCH_SECONDS``."""
        self._stopped.set()

    def check(self) -> None:
        """Raise if the thread failed."""
        if self.error is not None:
            raise ConfigMapWatchError(f"watching {self.path} failed: {self.error!r}") from self.error

    def _deliver(self, obj: dict[str, Any]) -> None:
        at = time.monotonic()
        loop = self._loop
        if loop is None or self._stopped.is_set():
            return
        loop.call_soon_threadsafe(self._on_loop, obj, at)

    def _on_loop(self, obj: dict[str, Any], at: float) -> None:
        if not self._stopped.is_set():
            self.on_change(obj, at)

    def _run(self) -> None:
        try:
            version: str | None = None
            while not self._stopped.is_set():
                if version is None:
                    version = self._list()
                version = self._watch(version)
        except BaseException as exc:  # reported through check()
            if not self._stopped.is_set():
                self.error = exc

    def _list(self) -> str:
        status, body = self.plane.request("GET", self.path)
        if status != 200:
            raise ConfigMapWatchError(f"listing {self.path}: HTTP {status}: {body}")
        for item in body.get("items") or []:
            self._deliver(item)
        return str(body["metadata"]["resourceVersion"])

    def _watch(self, version: str) -> str | None:
        """One watch request from ``version``: the last version seen, or None to list again."""
        url = (
            f"{self.plane.server}{self.path}?watch=1&resourceVersion={version}"
            f"&timeoutSeconds={WATCH_SECONDS}&allowWatchBookmarks=true"
        )
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.plane.token}"})
        with urllib.request.urlopen(req, context=self._ssl, timeout=WATCH_SECONDS + 30) as stream:
            for line in stream:
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:  # the version is too old: list again
                        return None
                    raise ConfigMapWatchError(f"watching {self.path}: {obj}")
                version = str(obj["metadata"]["resourceVersion"])
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self._deliver(obj)
        return version
