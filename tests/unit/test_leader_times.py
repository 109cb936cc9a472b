"""MicroTime formatting and lenient parsing (Lease and Event times), the elector's argument checks, and how
the elector judges expiry (its own monotonic time, never another process's timestamps) and its write window."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from burstd.kube.errors import Conflict, NotFound
from burstd.runtime.leader import LeaderElector
from burstd.runtime.microtime import format_micro_time, parse_time

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def test_format_is_utc_with_six_fractional_digits() -> None:
    assert format_micro_time(T0) == "2024-05-01T12:00:00.000000Z"
    assert format_micro_time(T0 + 0.123456) == "2024-05-01T12:00:00.123456Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00.000000Z", T0),
        ("2024-05-01T12:00:00Z", T0),
        ("2024-05-01T12:00:00.5Z", T0 + 0.5),
        ("2024-05-01T12:00:00.123456789Z", T0 + 0.123456),  # nanoseconds: beyond micro dropped
        ("2024-05-01T14:00:00+02:00", T0),
        ("2024-05-01T12:00:00", T0),  # no offset: UTC
        (" 2024-05-01T12:00:00Z ", T0),
    ],
)
def test_parse_accepts_what_other_clients_write(text: str, expected: float) -> None:
    parsed = parse_time(text)
    assert parsed == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", [None, "", "  ", "yesterday", "2024-13-01T00:00:00Z", 1714564800, {"t": 1}])
def test_parse_rejects_what_is_not_a_time(value: Any) -> None:
    assert parse_time(value) is None


def test_round_trip() -> None:
    for t in (0.0, T0, T0 + 0.999999, 4_102_444_800.25):
        parsed = parse_time(format_micro_time(t))
        assert parsed == pytest.approx(t, abs=1e-6)


@pytest.mark.parametrize(
    ("lease", "renew", "retry"), [(10.0, 10.0, 2.0), (15.0, 2.0, 2.0), (15.0, 10.0, 0.0)]
)
def test_elector_refuses_unsafe_durations(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        LeaderElector(
            object(),  # type: ignore[arg-type]
            "ns",
            identity="a",
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


def test_elector_needs_an_identity() -> None:
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(object(), "ns", identity="")  # type: ignore[arg-type]


# ------------------------------------------------------------------ expiry and the write window
#
# The elector runs against an in-memory Lease API with the server's optimistic concurrency. Its monotonic
# clock is a fake that advances one second on every read of the Lease (one acquire or renew attempt); its
# wall clock is that plus a skew. Real time only paces the loop (a 10 ms retry period).

LEASE_S = 10  # leaseDurationSeconds
STEP = 1.0  # fake monotonic seconds per Lease read


class LeaseServer:
    """The Lease API in memory: resourceVersion preconditions on update (stale: Conflict), Conflict on a
    second create. ``before_get`` runs before every read (the test's hook to advance time and renew)."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.gets = 0
        self.writes = 0
        self.before_get: Callable[[], None] = lambda: None

    def _store(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.version += 1
        self.writes += 1
        metadata = {**dict(body.get("metadata") or {}), "resourceVersion": str(self.version)}
        self.lease = copy.deepcopy({**dict(body), "metadata": metadata})
        return copy.deepcopy(self.lease)

    def put(self, spec: Mapping[str, Any]) -> None:
        """Another process writes the Lease."""
        metadata = dict((self.lease or {}).get("metadata") or {"name": "burstd-leader", "namespace": "ns"})
        self._store({"metadata": metadata, "spec": dict(spec)})

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        self.gets += 1
        self.before_get()
        if self.lease is None:
            raise NotFound(f"leases {name} not found", status=404, target=None)
        return copy.deepcopy(self.lease)

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.lease is not None:
            raise Conflict("already exists", status=409, target=None)
        return self._store(body)

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        assert self.lease is not None
        if (body.get("metadata") or {}).get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified", status=409, target=None)
        return self._store(body)


@dataclass
class Clock:
    """A fake monotonic clock, and a wall clock ``T0 + now + skew`` for each process."""

    now: float = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall(self, skew: float) -> Callable[[], float]:
        return lambda: T0 + self.now + skew


def holder_spec(clock: Clock, skew: float, who: str = "a") -> dict[str, Any]:
    renewed = format_micro_time(clock.wall(skew)())
    return {
        "holderIdentity": who,
        "leaseDurationSeconds": LEASE_S,
        "acquireTime": renewed,
        "renewTime": renewed,
        "leaseTransitions": 0,
    }


def candidate(server: LeaseServer, clock: Clock, skew: float) -> LeaderElector:
    return LeaderElector(
        server,
        "ns",
        identity="b",
        lease_duration=float(LEASE_S),
        renew_deadline=5.0,
        retry_period=0.01,
        clock=clock.wall(skew),
        monotonic=clock.monotonic,
    )


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (polled; the suite's timeout bounds a condition that never comes)."""
    while not condition():
        await asyncio.sleep(0.001)


async def led_at(
    elector: LeaderElector, clock: Clock, started: list[float], steps: Callable[[], bool]
) -> None:
    """Run ``elector`` until ``steps()`` is true; ``started`` gets the fake time its work started, if it did."""

    async def work() -> None:
        started.append(clock.now)
        await asyncio.Event().wait()

    task = asyncio.create_task(elector.run(work))
    try:
        await until(steps, "the scripted attempts")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("skew", [-30.0, -14.0, 0.0, 14.0, 30.0], ids=lambda s: f"candidate{s:+.0f}s")
def test_a_renewed_lease_is_never_taken_whatever_the_clocks_say(skew: float) -> None:
    """The holder renews between every two attempts of a candidate whose wall clock is ``skew`` seconds off
    the holder's: the candidate never takes the Lease (40 attempts: 40 s of its time, 4 Lease durations).
    When the holder stops renewing, the candidate takes over exactly one Lease duration of its own
    monotonic time after it last saw the Lease change — whatever renewTime says."""
    server, clock = LeaseServer(), Clock()
    server.put(holder_spec(clock, 0.0))
    last_renewal = 0.0
    taken_while_renewed: list[float] = []

    def tick() -> None:
        nonlocal last_renewal
        clock.now += STEP
        holder = (server.lease or {}).get("spec", {}).get("holderIdentity")
        if holder != "a":
            if clock.now - last_renewal <= STEP:
                taken_while_renewed.append(clock.now)
            return
        if server.gets <= 40:  # then the holder pauses
            server.put(holder_spec(clock, 0.0))
            last_renewal = clock.now

    server.before_get = tick
    started: list[float] = []
    elector = candidate(server, clock, skew)
    asyncio.run(led_at(elector, clock, started, lambda: bool(started) or server.gets > 80))
    assert not taken_while_renewed, f"took the Lease while its holder renewed it (t={taken_while_renewed})"
    assert started, "the candidate never took over a Lease that stopped being renewed"
    waited = started[0] - last_renewal
    assert LEASE_S <= waited <= LEASE_S + STEP, f"took the Lease {waited:.0f} s after it last changed"


@pytest.mark.parametrize(
    "renewed",
    ["2000-01-01T00:00:00.000000Z", "now", "2099-01-01T00:00:00.000000Z"],
    ids=["past", "now", "future"],
)
def test_a_fresh_candidate_waits_a_whole_lease_duration_before_taking_an_idle_lease(renewed: str) -> None:
    """A Lease held by a process that no longer renews it, whatever its renewTime: a candidate that has
    just started takes it over only after a Lease duration of its own observation."""
    server, clock = LeaseServer(), Clock(now=1000.0)
    spec = holder_spec(clock, 0.0, "ghost")
    if renewed != "now":
        spec["renewTime"] = spec["acquireTime"] = renewed
    server.put(spec)
    first_seen: list[float] = []

    def tick() -> None:
        clock.now += STEP
        if not first_seen:
            first_seen.append(clock.now)

    server.before_get = tick
    started: list[float] = []
    asyncio.run(led_at(candidate(server, clock, 0.0), clock, started, lambda: bool(started)))
    assert started[0] - first_seen[0] >= LEASE_S, (
        f"took over {started[0] - first_seen[0]:.0f} s after first sight"
    )
    assert started[0] - first_seen[0] <= LEASE_S + STEP


def test_a_released_lease_is_taken_at_once() -> None:
    server, clock = LeaseServer(), Clock()
    spec = holder_spec(clock, 0.0)
    del spec["holderIdentity"]
    server.put(spec)
    server.before_get = lambda: setattr(clock, "now", clock.now + STEP)
    started: list[float] = []
    asyncio.run(led_at(candidate(server, clock, 0.0), clock, started, lambda: bool(started)))
    assert started == [STEP]


def test_write_window_runs_from_before_the_renewal_was_sent() -> None:
    """The window in which writes may be sent closes ``renew_deadline`` after the successful Lease write was
    *sent* (not answered): a slow answer shortens the window instead of extending it past what the other
    candidates count."""
    server, clock = LeaseServer(), Clock()
    slow = 2.0
    store = server._store

    def slow_store(body: Mapping[str, Any]) -> dict[str, Any]:
        clock.now += slow  # the answer takes 2 s of the elector's time
        return store(body)

    server._store = slow_store  # type: ignore[method-assign]
    elector = candidate(server, clock, 0.0)
    windows: list[float] = []

    async def main() -> None:
        async def work() -> None:
            windows.append(elector.write_window())
            await asyncio.Event().wait()

        task = asyncio.create_task(elector.run(work))
        await until(lambda: bool(windows) or task.done(), "leadership")
        assert elector.is_leader
        clock.now += 10.0  # no renewal for 10 s of its time (the loop is paused in between)
        windows.append(elector.write_window())
        leading = elector.is_leader
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert not leading
        windows.append(elector.write_window())

    asyncio.run(main())
    assert windows[0] == pytest.approx(5.0 - slow)
    assert windows[1] <= 0
    assert windows[2] <= 0
