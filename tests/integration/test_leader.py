"""burstd.runtime.leader against the real kube-apiserver: one leader at a time on a Lease, release on
shutdown, supervision of the leader's work, stepping down when renewals fail (errors, hangs, lost RBAC),
expiry judged on the candidate's own monotonic clock whatever the wall clocks say, and fenced writes.

Durations are small (Lease 3 s, renew deadline 2 s, retry 0.5 s) so that each test takes a few seconds.
Clocks are injected: wall clocks skewed per elector, and a monotonic clock the test moves by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chaos.faultproxy import FaultProxy, Journal, Seen, WriteVerdict, proxy_kubeconfig

from burstd.kube import errors
from burstd.kube.client import MACHINE_DEPLOYMENTS, KubeClient
from burstd.kube.fence import Fenced
from burstd.model.actions import ScalePool
from burstd.model.state import BurstState
from burstd.runtime.actuate import Actuator, NotLeader
from burstd.runtime.events import EventRecorder
from burstd.runtime.eventsink import ObjectRef
from burstd.runtime.leader import LeaderElector, LeaseClient
from burstd.runtime.microtime import format_micro_time
from burstd.runtime.store import StateStore

from .controlplane import ControlPlane
from .objects import machine_deployment, unique
from .test_actuate import policy

LEASE = "burstd-leader"
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = 3.0, 2.0, 0.5


def make_elector(client: LeaseClient, ns: str, identity: str, **kwargs: Any) -> LeaderElector:
    """An elector with the test's small durations."""
    return LeaderElector(
        client,
        ns,
        identity=identity,
        lease_duration=LEASE_DURATION,
        renew_deadline=RENEW_DEADLINE,
        retry_period=RETRY_PERIOD,
        **kwargs,
    )


def make_namespace(plane: ControlPlane) -> str:
    ns = unique("le")
    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    return ns


def lease_of(plane: ControlPlane, ns: str) -> dict[str, Any]:
    status, body = plane.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}")
    assert status == 200, body
    spec: dict[str, Any] = body["spec"]
    return spec


async def until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition``; the seconds it took. Fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@dataclass
class Works:
    """Work functions that run until cancelled and record when each identity ran, to check exclusivity."""

    intervals: list[tuple[str, float, float]] = field(default_factory=list)
    running: dict[str, float] = field(default_factory=dict)
    on_end: Callable[[str], None] | None = None

    def of(self, identity: str) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            assert not self.running, f"{identity} started while {list(self.running)} runs"
            self.running[identity] = time.monotonic()
            try:
                await asyncio.Event().wait()
            finally:
                if self.on_end is not None:
                    self.on_end(identity)
                self.intervals.append((identity, self.running.pop(identity), time.monotonic()))

        return work

    def assert_no_overlap(self) -> None:
        ordered = sorted(self.intervals, key=lambda i: i[1])
        for (_, _, end), (who, start, _) in itertools.pairwise(ordered):
            assert start >= end, f"{who} started {end - start:.3f} s before the previous leader stopped"


def test_one_leader_at_a_time_and_fast_handover_on_shutdown(control_plane: ControlPlane) -> None:
    ns = make_namespace(control_plane)
    works = Works()
    changes: list[tuple[str, bool]] = []

    async def main() -> tuple[str, float, dict[str, Any], dict[str, Any]]:
        async with (
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as ka,
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kb,
        ):
            electors = {
                who: make_elector(kube, ns, who, on_change=lambda v, w=who: changes.append((w, v)))
                for who, kube in (("a", ka), ("b", kb))
            }
            tasks = {who: asyncio.create_task(e.run(works.of(who))) for who, e in electors.items()}
            await until(lambda: len(works.running) == 1, 5, "a leader")
            (first,) = works.running
            second = "b" if first == "a" else "a"
            # Past a whole lease duration the follower has not taken over a leader that renews.
            await asyncio.sleep(LEASE_DURATION + 0.5)
            assert electors[first].is_leader
            assert not electors[second].is_leader
            held = lease_of(control_plane, ns)
            await stop(tasks[first])  # shutdown: work stopped, Lease released
            stopped = time.monotonic()
            await until(lambda: second in works.running, 2, "the follower to take over")
            takeover = works.running[second] - stopped
            after = lease_of(control_plane, ns)
            await stop(tasks[second])
            return first, takeover, held, after

    first, takeover, held, after = asyncio.run(main())
    second = "b" if first == "a" else "a"
    works.assert_no_overlap()
    assert [w for w, _, _ in works.intervals] == [first, second]
    assert held["holderIdentity"] == first
    assert held["leaseDurationSeconds"] == 3
    assert held["leaseTransitions"] == 0
    assert after["holderIdentity"] == second
    assert after["leaseTransitions"] == 1
    assert takeover < 1.5, f"takeover took {takeover:.2f} s (lease duration 3 s)"
    assert changes == [(first, True), (first, False), (second, True), (second, False)]


def test_shutdown_stops_the_work_before_releasing(control_plane: ControlPlane) -> None:
    ns = make_namespace(control_plane)
    holder_when_work_stopped: list[str | None] = []
    works = Works(
        on_end=lambda _: holder_when_work_stopped.append(lease_of(control_plane, ns).get("holderIdentity"))
    )

    async def main() -> tuple[bool, bool]:
        async with await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kube:
            elector = make_elector(kube, ns, "a")
            task = asyncio.create_task(elector.run(works.of("a")))
            await until(lambda: "a" in works.running, 5, "leadership")
            leading = elector.is_leader
            await stop(task)
            return leading, elector.is_leader

    leading, leading_after = asyncio.run(main())
    assert (leading, leading_after) == (True, False)
    assert holder_when_work_stopped == ["a"]  # the work had stopped while the Lease was still held
    released = lease_of(control_plane, ns)
    assert released.get("holderIdentity") in (None, "")
    assert released["leaseDurationSeconds"] == 1


@pytest.mark.parametrize("outcome", ["raises", "returns"])
def test_work_ending_gives_up_leadership(control_plane: ControlPlane, outcome: str) -> None:
    ns = make_namespace(control_plane)
    changes: list[bool] = []

    async def work() -> None:
        await asyncio.sleep(0.3)
        if outcome == "raises":
            raise RuntimeError("the control loop crashed")

    async def main() -> None:
        async with await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kube:
            elector = make_elector(kube, ns, "a", on_change=changes.append)
            async with asyncio.timeout(10):
                await elector.run(work)
            assert not elector.is_leader

    if outcome == "raises":
        with pytest.raises(RuntimeError, match="the control loop crashed"):
            asyncio.run(main())
    else:
        asyncio.run(main())
    assert changes == [True, False]
    released = lease_of(control_plane, ns)
    assert released.get("holderIdentity") in (None, "")
    assert released["leaseDurationSeconds"] == 1


class Breakable:
    """A LeaseClient that, once broken, fails every call (an error, or a call that never answers)."""

    def __init__(self, inner: LeaseClient) -> None:
        self.inner = inner
        self.mode: str | None = None

    async def _check(self) -> None:
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "error":
            raise errors.ServerError("injected: connection refused", status=0, target=None)

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        await self._check()
        return await self.inner.get_lease(namespace, name)

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await self._check()
        return await self.inner.create_lease(namespace, body)

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        await self._check()
        return await self.inner.replace_lease(namespace, name, body)


def grant_leases(plane: ControlPlane, ns: str) -> str:
    """Let the unprivileged user run leader election in ``ns``; the RoleBinding's path (to revoke it)."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    role = {
        "metadata": {"name": "leader"},
        "rules": [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "update"],
            }
        ],
    }
    binding = {
        "metadata": {"name": "leader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "leader"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": plane.unprivileged_user}
        ],
    }
    for path, obj in ((f"{rbac}/roles", role), (f"{rbac}/rolebindings", binding)):
        status, body = plane.request("POST", path, obj)
        assert status == 201, body
    return f"{rbac}/rolebindings/leader"


@pytest.mark.parametrize("failure", ["error", "hang", "rbac"])
def test_leader_that_cannot_renew_stops_before_the_lease_expires(
    control_plane: ControlPlane, tmp_path: Path, failure: str
) -> None:
    ns = make_namespace(control_plane)
    works = Works()
    binding = grant_leases(control_plane, ns)
    user = control_plane.write_kubeconfig(
        tmp_path / "user.kubeconfig", token=control_plane.unprivileged_token
    )

    async def main() -> tuple[float, float, dict[str, Any]]:
        async with (
            await KubeClient.from_kubeconfig(
                str(user if failure == "rbac" else control_plane.kubeconfig)
            ) as ka,
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kb,
        ):
            broken = Breakable(ka)
            a = make_elector(broken, ns, "a", release_timeout=1.0)
            b = make_elector(kb, ns, "b")
            ta = asyncio.create_task(a.run(works.of("a")))
            await until(lambda: "a" in works.running, 5, "a to lead")
            tb = asyncio.create_task(b.run(works.of("b")))
            await asyncio.sleep(1.0)  # a few renewals
            assert a.is_leader
            if failure == "rbac":
                status, body = control_plane.request("DELETE", binding)
                assert status == 200, body
            else:
                broken.mode = failure
            broke = time.monotonic()
            stopped_after = await until(lambda: "a" not in works.running, 4, "a to stop its work")
            assert not a.is_leader
            await until(lambda: "b" in works.running, 4, "b to take over")
            started = works.running["b"] - broke
            lease = lease_of(control_plane, ns)
            shutdown = time.monotonic()
            await stop(ta)  # its release cannot get through: bounded by release_timeout
            shutdown = time.monotonic() - shutdown
            assert shutdown < 1.5, f"shutdown of a leader that cannot reach the API took {shutdown:.2f} s"
            await stop(tb)
            return stopped_after, started, lease

    stopped_after, started, lease = asyncio.run(main())
    works.assert_no_overlap()
    # renew deadline 2 s after the last successful renewal (at most 0.5 s before the break), and before
    # the 3 s Lease could expire and let b in.
    assert 1.3 < stopped_after < 2.4, stopped_after
    assert started > stopped_after
    assert lease["holderIdentity"] == "b"
    assert lease["leaseTransitions"] == 1


@dataclass
class Clock:
    """A monotonic clock for one elector: real time plus ``offset``, or, once ``frozen``, only ``offset``
    (it then moves only when the test moves it)."""

    offset: float = 0.0
    frozen: bool = False

    def monotonic(self) -> float:
        return self.offset if self.frozen else time.monotonic() + self.offset


class Counting:
    """A LeaseClient that records when (real monotonic time) each acquire or renew attempt read the Lease."""

    def __init__(self, inner: LeaseClient) -> None:
        self.inner = inner
        self.reads: list[float] = []

    def span(self) -> float:
        return self.reads[-1] - self.reads[0] if self.reads else 0.0

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        self.reads.append(time.monotonic())
        return await self.inner.get_lease(namespace, name)

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.inner.create_lease(namespace, body)

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.inner.replace_lease(namespace, name, body)


#: (leader's wall clock, candidate's wall clock), seconds off the true time
SKEWS = [
    (0.0, 14.0),
    (0.0, 30.0),
    (-14.0, 0.0),
    (-30.0, 0.0),
    (0.0, -14.0),
    (0.0, -30.0),
    (14.0, 0.0),
    (30.0, 0.0),
]


def test_skewed_wall_clocks_never_take_over_a_healthy_leader(control_plane: ControlPlane) -> None:
    """Each pair runs in its own namespace, all at once: a leader that renews keeps the Lease through
    more than two Lease durations of a candidate's attempts, whichever of the two clocks is 14 s or 30 s
    off, and at no moment do both run the work."""
    namespaces = {skews: make_namespace(control_plane) for skews in SKEWS}
    outcome: dict[tuple[float, float], tuple[bool, bool, list[str]]] = {}

    async def pair(ka: KubeClient, kb: KubeClient, skews: tuple[float, float]) -> None:
        ns, works = namespaces[skews], Works()
        a = make_elector(ka, ns, "a", clock=lambda: time.time() + skews[0])
        counted = Counting(kb)
        b = make_elector(counted, ns, "b", clock=lambda: time.time() + skews[1])
        ta = asyncio.create_task(a.run(works.of("a")))
        await until(lambda: "a" in works.running, 5, f"a to lead ({skews})")
        tb = asyncio.create_task(b.run(works.of("b")))
        await until(lambda: counted.span() > 2 * LEASE_DURATION or tb.done(), 20, f"b's attempts ({skews})")
        outcome[skews] = (a.is_leader, b.is_leader, sorted(works.running))
        await stop(tb)
        await stop(ta)
        works.assert_no_overlap()
        assert [w for w, _, _ in works.intervals] == ["a"], (skews, works.intervals)

    async def main() -> None:
        async with (
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as ka,
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kb,
        ):
            await asyncio.gather(*(pair(ka, kb, skews) for skews in SKEWS))

    asyncio.run(main())
    taken = {skews: got for skews, got in outcome.items() if got != (True, False, ["a"])}
    assert not taken, f"(leader skew, candidate skew): (a leads, b leads, running) {taken}"


async def takes_over_by_own_time(
    counted: Counting, clock: Clock, works: Works, task: asyncio.Task[None]
) -> None:
    """Candidate "b", its monotonic clock frozen at ``clock.offset``, watches a Lease that no longer changes:
    it does not take over however many attempts it makes; moved to just short of a Lease duration after
    the last change it saw, it still does not; moved past that, it does."""
    base = clock.offset
    seen = len(counted.reads)
    await until(lambda: len(counted.reads) >= seen + 4 or task.done(), 10, "four attempts")
    assert "b" not in works.running, "took the Lease before a Lease duration of its own time"
    clock.offset = base + LEASE_DURATION - 0.1
    seen = len(counted.reads)
    await until(lambda: len(counted.reads) >= seen + 2 or task.done(), 10, "two more attempts")
    assert "b" not in works.running, "took the Lease 0.1 s before a Lease duration of its own time"
    clock.offset = base + LEASE_DURATION + 0.1
    await until(lambda: "b" in works.running, 5, "b to take over")


@pytest.mark.parametrize("renewed", ["past", "now", "future"])
def test_a_dead_holder_is_taken_over_after_a_lease_duration_of_the_candidates_own_time(
    control_plane: ControlPlane, renewed: str
) -> None:
    """A Lease its holder no longer renews, whatever its renewTime (60 s ago, now, in 2099): a candidate
    that has just started waits a whole Lease duration of its own observation before taking over."""
    ns = make_namespace(control_plane)
    stamp = {
        "past": format_micro_time(time.time() - 60),
        "now": format_micro_time(time.time()),
        "future": "2099-01-01T00:00:00.000000Z",
    }[renewed]
    ghost = {
        "metadata": {"name": LEASE},
        "spec": {
            "holderIdentity": "ghost",
            "leaseDurationSeconds": 3,
            "renewTime": stamp,
            "acquireTime": stamp,
            "leaseTransitions": 4,
        },
    }
    status, body = control_plane.request(
        "POST", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", ghost
    )
    assert status == 201, body
    works = Works()

    async def main() -> dict[str, Any]:
        async with await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kube:
            clock = Clock(frozen=True)
            counted = Counting(kube)
            b = make_elector(counted, ns, "b", clock=lambda: time.time() + 30, monotonic=clock.monotonic)
            task = asyncio.create_task(b.run(works.of("b")))
            try:
                await takes_over_by_own_time(counted, clock, works, task)
                return lease_of(control_plane, ns)
            finally:
                await stop(task)

    held = asyncio.run(main())
    assert held["holderIdentity"] == "b"
    assert held["leaseTransitions"] == 5


def test_a_paused_leader_is_taken_over_only_after_a_lease_duration_of_the_candidates_own_time(
    control_plane: ControlPlane,
) -> None:
    """A leader that stops renewing (paused: its calls never answer) while a candidate whose wall clock is
    30 s ahead watches: the candidate takes over only after a Lease duration of its own monotonic time
    since the Lease last changed, never while the leader renewed, never both at once."""
    ns = make_namespace(control_plane)
    works = Works()

    async def main() -> dict[str, Any]:
        async with (
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as ka,
            await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kb,
        ):
            paused = Breakable(ka)
            a = make_elector(paused, ns, "a", release_timeout=0.5)
            ta = asyncio.create_task(a.run(works.of("a")))
            await until(lambda: "a" in works.running, 5, "a to lead")
            clock = Clock(frozen=True)
            counted = Counting(kb)
            b = make_elector(counted, ns, "b", clock=lambda: time.time() + 30, monotonic=clock.monotonic)
            tb = asyncio.create_task(b.run(works.of("b")))
            try:
                # While a renews, b sees the Lease change at every attempt: moving its clock changes nothing.
                await until(lambda: len(counted.reads) >= 3, 5, "b's first attempts")
                clock.offset = 100 * LEASE_DURATION
                seen = len(counted.reads)
                await until(lambda: len(counted.reads) >= seen + 3, 5, "three more attempts")
                assert works.running.keys() == {"a"}, "b took the Lease of a leader that renews it"
                paused.mode = "hang"  # a is paused: no renewal lands any more
                await until(lambda: "a" not in works.running, 5, "a to stop its work at its renew deadline")
                await takes_over_by_own_time(counted, clock, works, tb)
                return lease_of(control_plane, ns)
            finally:
                await stop(tb)
                await stop(ta)

    held = asyncio.run(main())
    works.assert_no_overlap()
    assert [w for w, _, _ in works.intervals] == ["a", "b"]
    assert held["holderIdentity"] == "b"
    assert held["leaseTransitions"] == 1


def test_no_write_is_sent_or_left_in_flight_after_the_renew_deadline(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Writes through a client fenced by the leader's write window, counted where they arrive (a proxy in
    front of the apiserver): a write in flight when the window closes is abandoned; a retry after the
    window closed is not sent; a write (an action, an Event, a state save) attempted after it is not sent."""
    ns = make_namespace(control_plane)
    journal = Journal()

    def scale_writes() -> list[Seen]:
        return [s for s in journal.seen if s.method == "PATCH" and s.resource == "machinedeployments/scale"]

    async def main() -> None:
        proxy = await FaultProxy("management", control_plane.server, control_plane.ca_file, journal).start()
        config = proxy_kubeconfig(tmp_path / "proxy.kubeconfig", proxy, control_plane.token)
        try:
            async with (
                await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as admin,
                await KubeClient.from_kubeconfig(str(config)) as via_proxy,
            ):
                await admin.create(MACHINE_DEPLOYMENTS, machine_deployment("pool", 1), ns)
                leases, clock, works = Breakable(admin), Clock(), Works()
                a = make_elector(leases, ns, "a", monotonic=clock.monotonic, release_timeout=0.5)
                task = asyncio.create_task(a.run(works.of("a")))
                try:
                    await until(lambda: a.is_leader, 5, "leadership")
                    writes = via_proxy.fenced(a.write_window)

                    # 1. In flight when the window closes (the proxy holds it; the leader cannot renew).
                    proxy.hold = lambda seen: seen.mutating
                    leases.mode = "hang"
                    with pytest.raises(Fenced, match="abandoned unanswered"):
                        await writes.patch_scale(MACHINE_DEPLOYMENTS, "pool", 5, ns)
                    assert not a.is_leader
                    assert [s.status for s in scale_writes()] == [None]
                    proxy.hold = None
                    proxy.release()
                    leases.mode = None
                    await until(lambda: a.is_leader, 10, "leadership again")

                    # 2. The first attempt fails (connection dropped) and leadership lapses meanwhile.
                    async def drop_and_lapse(seen: Seen) -> WriteVerdict:
                        proxy.on_write = None
                        leases.mode = "hang"
                        clock.offset += RENEW_DEADLINE
                        return WriteVerdict.DROP

                    proxy.on_write = drop_and_lapse
                    with pytest.raises(Fenced, match="not retried"):
                        await writes.patch_scale(MACHINE_DEPLOYMENTS, "pool", 6, ns)
                    assert [s.status for s in scale_writes()] == [None, None]  # no retry went out

                    # 3. Attempted after the deadline: nothing goes out, whatever the write.
                    assert a.write_window() <= 0
                    sent = len(journal.writes())
                    recorder = EventRecorder(writes, instance="a")
                    md = ObjectRef("cluster.x-k8s.io/v1beta2", "MachineDeployment", "pool", ns)
                    with pytest.raises(Fenced, match="not sent"):
                        await writes.patch_scale(MACHINE_DEPLOYMENTS, "pool", 7, ns)
                    with pytest.raises(Fenced, match="not sent"):
                        await writes.create_event(
                            ns, recorder.body(md, "Normal", "ScaledUp", "ScalePool", "n")
                        )
                    await recorder.emit(md, "Normal", "ScaledUp", "ScalePool", "n")  # logged, dropped
                    with pytest.raises(Fenced, match="not sent"):
                        await StateStore(writes, ns).save("web", BurstState(), None)
                    actuator = Actuator(writes, writes, recorder, recorder, fence=a.write_window)
                    with pytest.raises(NotLeader):
                        await actuator.apply(policy(ns), ScalePool("md", 3, 1, "burst"))
                    assert len(journal.writes()) == sent
                finally:
                    leases.mode = None
                    await stop(task)
        finally:
            await proxy.stop()

    asyncio.run(main())
    status, md = control_plane.request(
        "GET", f"/apis/cluster.x-k8s.io/v1beta2/namespaces/{ns}/machinedeployments/pool"
    )
    assert status == 200, md
    assert md["spec"]["replicas"] == 1  # no fenced write landed, early or late
    status, _ = control_plane.request("GET", f"/api/v1/namespaces/{ns}/configmaps/burstd-state-web")
    assert status == 404
