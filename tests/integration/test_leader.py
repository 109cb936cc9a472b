"""burstd.runtime.leader against the real kube-apiserver: one leader at a time on a Lease, release on
shutdown, supervision of the leader's work, and stepping down when renewals fail (errors, hangs, lost RBAC).

Durations are small (Lease 3 s, renew deadline 2 s, retry 0.5 s) so that each test takes a few seconds.
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

from burstd.kube import errors
from burstd.kube.client import KubeClient
from burstd.runtime.leader import LeaderElector, LeaseClient
from burstd.runtime.microtime import format_micro_time

from .controlplane import ControlPlane
from .objects import unique

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


def test_expired_lease_of_a_dead_holder_is_taken_over(control_plane: ControlPlane) -> None:
    """A holder that stopped renewing (renewTime long past) loses the Lease at once; one whose clock ran
    ahead (renewTime in the future) loses it after a Lease duration without change, as this candidate
    observes it."""
    timings: dict[str, float] = {}
    transitions: dict[str, int] = {}
    for case, renewed in (
        ("stale", format_micro_time(time.time() - 60)),
        ("ahead", "2099-01-01T00:00:00.000000Z"),
    ):
        ns = make_namespace(control_plane)
        ghost = {
            "metadata": {"name": LEASE},
            "spec": {
                "holderIdentity": "ghost",
                "leaseDurationSeconds": 3,
                "renewTime": renewed,
                "acquireTime": renewed,
                "leaseTransitions": 4,
            },
        }
        status, body = control_plane.request(
            "POST", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", ghost
        )
        assert status == 201, body
        works = Works()

        async def main(ns: str = ns, works: Works = works) -> float:
            async with await KubeClient.from_kubeconfig(str(control_plane.kubeconfig)) as kube:
                elector = make_elector(kube, ns, "a")
                task = asyncio.create_task(elector.run(works.of("a")))
                took = await until(lambda: "a" in works.running, 6, "takeover")
                await stop(task)
                return took

        timings[case] = asyncio.run(main())
        transitions[case] = lease_of(control_plane, ns)["leaseTransitions"]
    assert timings["stale"] < 1.0, timings
    assert 2.9 < timings["ahead"] < 5.0, timings
    assert transitions == {"stale": 5, "ahead": 5}
