"""Leader election on a ``coordination.k8s.io/v1`` Lease, written directly against the Lease API.

One candidate holds the Lease and runs the work; the others retry every ``retry_period``. Compared with
the usual client loop this one:

- bounds every acquire and renew call with a timeout, and stops the work once no renewal has succeeded
  for ``renew_deadline`` (shorter than ``lease_duration``, so the work has stopped before anyone else may
  take the Lease over);
- steps down at once when a renewal finds another holder;
- supervises the work: when it ends or raises, leadership is given up (the Lease is released) and
  ``run`` returns or re-raises;
- on cancellation (shutdown) cancels and awaits the work, then releases the Lease so another candidate
  takes over at once instead of after ``lease_duration``;
- treats any failure of the API (not only HTTP errors) as a failed attempt, never as a crash.

Every write carries the resourceVersion just read, so two candidates can never both win.

Expiry is judged as client-go's leaderelection judges it: a Lease is free when it has no holder, or when
its record has not changed for ``leaseDurationSeconds`` of this candidate's own monotonic clock, counted
from when this candidate last saw it change (a candidate that has just started therefore waits a whole
Lease duration before taking over an apparently idle holder). ``renewTime`` and ``acquireTime`` are
written for people and never compared with the local clock: another process's timestamps say nothing
about this process's time (a candidate whose clock ran 14 s ahead once took the Lease from a healthy
leader that way).

Writes are fenced by ``write_window()``: the seconds left until ``renewDeadline`` after the last
successful Lease write was *sent* (monotonic). A candidate takes over at the earliest
``leaseDuration`` after it saw that write land, which is later, so every write sent and answered within
the window happens before any other candidate can lead. ``burstd.kube.client.KubeClient.fenced`` bounds
every write attempt (and each retry) by this window.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from burstd.kube.errors import Conflict, KubeError, NotFound

from .microtime import format_micro_time

__all__ = ["LeaderElector", "LeaseClient"]

log = logging.getLogger("burstd.leader")

_JITTER = 1.2  # the acquire loop waits retry_period * U(1, 1.2)


class LeaseClient(Protocol):
    """The part of ``burstd.kube.client.KubeClient`` the elector uses."""

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]: ...

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]: ...


class LeaderElector:
    """Runs ``work`` only while this ``identity`` holds the Lease ``namespace/name``."""

    def __init__(
        self,
        client: LeaseClient,
        namespace: str,
        name: str = "burstd-leader",
        *,
        identity: str,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "leader election needs 0 < retry_period < renew_deadline < lease_duration, got "
                f"{retry_period} / {renew_deadline} / {lease_duration}"
            )
        self._client = client
        self._namespace = namespace
        self._name = name
        self._identity = identity
        self._lease_duration = lease_duration
        self._renew_deadline = renew_deadline
        self._retry_period = retry_period
        self._release_timeout = release_timeout
        self._clock = clock
        self._monotonic = monotonic
        self._on_change = on_change
        self._leading = False
        self._last_renew = -math.inf  # monotonic time the last successful acquire or renew was sent
        self._may_hold = False  # a write that would make us the holder may have succeeded
        self._observed_rv: str | None = None
        self._observed_at = 0.0  # monotonic time when the Lease was last seen to change
        self._last_attempt: float | None = None  # monotonic time the last acquire or renew attempt began

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def last_attempt(self) -> float | None:
        """Monotonic time the last acquire or renew attempt began (None before the first): liveness for a
        follower, whose election loop must keep trying."""
        return self._last_attempt

    @property
    def is_leader(self) -> bool:
        """True while this candidate holds the Lease and its last renewal is within ``renew_deadline``."""
        return self.write_window() > 0

    def write_window(self) -> float:
        """Seconds (monotonic) left in which a write may be sent and answered: until ``renew_deadline`` after
        the last successful acquire or renewal was sent; 0 or less when not leading. A ``Fence``."""
        if not self._leading:
            return 0.0
        return self._last_renew + self._renew_deadline - self._monotonic()

    def __str__(self) -> str:
        return f"Lease {self._namespace}/{self._name} ({self._identity})"

    # ------------------------------------------------------------------ run

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Acquire, run ``work`` while leading, and repeat after losing the Lease.

        Returns (after releasing the Lease) when ``work`` returns; re-raises what ``work`` raised. On
        cancellation the work is cancelled and awaited, the Lease released, and CancelledError re-raised.
        """
        task: asyncio.Task[None] | None = None
        try:
            while True:
                await self._acquire()
                task = asyncio.create_task(_call(work), name=f"leader-work:{self._identity}")
                if await self._lead(task):
                    task = None
                    continue
                return
        except asyncio.CancelledError:
            if task is not None and not task.done():
                task.cancel()
                await _settle(task)
            if self._may_hold or self._leading:
                await self.release()
            self._set_leading(False)
            raise

    async def release(self) -> None:
        """Give the Lease up if this candidate holds it (no holder, 1 s duration), within ``release_timeout``.

        Never raises (except for cancellation): a failure is logged; the Lease then expires by itself.
        """
        try:
            async with asyncio.timeout(self._release_timeout):
                await self._release()
        except TimeoutError:
            log.warning(
                "%s: release timed out after %.1f s; it expires by itself", self, self._release_timeout
            )
        except KubeError as exc:
            log.warning("%s: cannot release (it expires by itself): %s", self, exc.message)
        except Exception:
            log.warning("%s: cannot release (it expires by itself)", self, exc_info=True)
        finally:
            self._set_leading(False)

    # ------------------------------------------------------------------ states

    async def _acquire(self) -> None:
        """Return once this candidate holds the Lease."""
        while True:
            try:
                async with asyncio.timeout(self._renew_deadline):
                    sent = await self._try_acquire_or_renew()
                    if sent is not None:
                        self._last_renew = sent
                        self._set_leading(True)
                        log.info("%s: became the leader", self)
                        return
            except TimeoutError:
                log.warning("%s: acquire attempt timed out after %.1f s", self, self._renew_deadline)
            except KubeError as exc:
                log.warning("%s: acquire attempt failed: %s", self, exc.message)
            except Exception:
                log.warning("%s: acquire attempt failed", self, exc_info=True)
            await asyncio.sleep(self._retry_period * random.uniform(1.0, _JITTER))

    async def _lead(self, task: asyncio.Task[None]) -> bool:
        """Renew while ``task`` runs. True when leadership was lost (the task is then cancelled and
        awaited); False when the task returned (the Lease is then released); re-raises what it raised."""
        failing = False
        while True:
            wait = self._retry_period
            if failing:
                wait = min(wait, max(0.0, self.write_window()))
            await asyncio.wait({task}, timeout=wait)
            if task.done():
                await self._work_ended(task)
                return False
            left = self.write_window()
            reason = f"no renewal succeeded for {self._renew_deadline:.1f} s"
            if left > 0:
                try:
                    async with asyncio.timeout(left):
                        sent = await self._renew()
                except TimeoutError:
                    log.warning("%s: renewal timed out", self)
                except KubeError as exc:
                    log.warning("%s: renewal failed: %s", self, exc.message)
                except Exception:
                    log.warning("%s: renewal failed", self, exc_info=True)
                else:
                    if sent is not None:
                        self._last_renew = sent
                        failing = False
                        continue
                    reason = "another candidate holds the Lease"
                    left = 0.0
            failing = True
            if left > 0 and self.write_window() > 0:
                continue
            log.warning("%s: lost leadership (%s): stopping the work", self, reason)
            self._set_leading(False)
            task.cancel()
            await _settle(task)
            return True

    async def _work_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            log.error("%s: the leader's work was cancelled from outside; giving up leadership", self)
            await self.release()
            raise RuntimeError(f"{self}: the leader's work was cancelled")
        exc = task.exception()
        if exc is not None:
            log.error("%s: the leader's work failed; giving up leadership", self, exc_info=exc)
            await self.release()
            raise exc
        log.info("%s: the leader's work finished; giving up leadership", self)
        await self.release()

    def _set_leading(self, leading: bool) -> None:
        if leading:
            self._may_hold = True
        if leading == self._leading:
            return
        self._leading = leading
        if self._on_change is not None:
            try:
                self._on_change(leading)
            except Exception:
                log.exception("%s: on_change callback failed", self)

    # ------------------------------------------------------------------ the Lease

    def _observe(self, lease: Mapping[str, Any]) -> None:
        rv = (lease.get("metadata") or {}).get("resourceVersion")
        if rv != self._observed_rv:
            self._observed_rv = rv if isinstance(rv, str) else None
            self._observed_at = self._monotonic()

    def _expired(self, spec: Mapping[str, Any]) -> bool:
        """The holder's record has not changed for its ``leaseDurationSeconds`` of this candidate's monotonic
        time (client-go: ``observedTime + leaseDuration <= now``). No timestamp in the record is read."""
        duration = spec.get("leaseDurationSeconds")
        seconds = (
            float(duration)
            if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0
            else self._lease_duration
        )
        return self._monotonic() - self._observed_at >= seconds

    def _spec(self, previous: Mapping[str, Any]) -> dict[str, Any]:
        """The spec that makes this candidate the holder (a takeover when it was someone else)."""
        now = format_micro_time(self._clock())
        spec = dict(previous)
        if previous.get("holderIdentity") != self._identity:
            transitions = previous.get("leaseTransitions")
            spec["leaseTransitions"] = (transitions if isinstance(transitions, int) else 0) + (
                1 if previous else 0
            )
            spec["acquireTime"] = now
        spec["holderIdentity"] = self._identity
        spec["leaseDurationSeconds"] = max(1, math.ceil(self._lease_duration))
        spec["renewTime"] = now
        return spec

    def _body(self, lease: Mapping[str, Any] | None, spec: Mapping[str, Any]) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self._name, "namespace": self._namespace}
        if lease is not None:
            metadata = dict(lease.get("metadata") or {})
            metadata.pop("managedFields", None)
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    async def _try_acquire_or_renew(self) -> float | None:
        """One attempt. The monotonic time the winning write was sent when this candidate holds the Lease
        now; None when another candidate holds it and it has not expired."""
        self._last_attempt = self._monotonic()
        try:
            lease = await self._client.get_lease(self._namespace, self._name)
        except NotFound:
            self._may_hold = True
            sent = self._monotonic()
            try:
                created = await self._client.create_lease(self._namespace, self._body(None, self._spec({})))
            except Conflict:  # another candidate created it first
                self._may_hold = self._leading
                return None
            self._observe(created)
            return sent
        self._observe(lease)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if holder and holder != self._identity and not self._expired(spec):
            self._may_hold = False
            return None
        if holder and holder != self._identity:
            log.info("%s: the Lease of %s has expired: taking it over", self, holder)
        self._may_hold = True
        sent = self._monotonic()
        try:
            replaced = await self._client.replace_lease(
                self._namespace, self._name, self._body(lease, self._spec(spec))
            )
        except Conflict:  # someone else wrote it between our read and write
            self._may_hold = self._leading
            return None
        self._observe(replaced)
        return sent

    async def _renew(self) -> float | None:
        """Extend this candidate's Lease: the monotonic time the renewal was sent; None when another
        candidate holds it (not an error)."""
        self._last_attempt = self._monotonic()
        lease = await self._client.get_lease(self._namespace, self._name)
        self._observe(lease)
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self._identity:
            return None
        sent = self._monotonic()
        replaced = await self._client.replace_lease(
            self._namespace, self._name, self._body(lease, self._spec(spec))
        )
        self._observe(replaced)
        return sent

    async def _release(self) -> None:
        lease = await self._client.get_lease(self._namespace, self._name)
        spec = dict(lease.get("spec") or {})
        if spec.get("holderIdentity") != self._identity:
            self._may_hold = False
            return
        now = format_micro_time(self._clock())
        spec.pop("holderIdentity", None)
        spec.update({"leaseDurationSeconds": 1, "renewTime": now, "acquireTime": now})
        await self._client.replace_lease(self._namespace, self._name, self._body(lease, spec))
        self._may_hold = False
        log.info("%s: released the Lease", self)


async def _call(work: Callable[[], Awaitable[None]]) -> None:
    await work()


async def _settle(task: asyncio.Task[None]) -> None:
    """Wait for a cancelled task to finish (the caller's own cancellation still propagates); log what the
    task raised other than its cancellation."""
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.error("the leader's work failed while being cancelled", exc_info=task.exception())
