"""burstd.runtime.store against the real kube-apiserver: burst state in a ConfigMap, written with
resourceVersion preconditions, never overwritten when it is corrupt."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from burstd.kube import errors
from burstd.kube.client import KubeClient
from burstd.kube.fence import Fenced
from burstd.model.state import BurstState, History, Ledger, Phase
from burstd.runtime.store import CorruptState, StateConflict, StateStore, Stored, configmap_name

from .controlplane import ControlPlane
from .objects import unique

T = TypeVar("T")


def make_namespace(plane: ControlPlane) -> str:
    ns = unique("st")
    status, body = plane.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    assert status == 201, body
    return ns


def run(plane: ControlPlane, body: Callable[[KubeClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await KubeClient.from_kubeconfig(str(plane.kubeconfig)) as kube:
            return await body(kube)

    return asyncio.run(main())


def configmap(plane: ControlPlane, ns: str, name: str) -> tuple[int, Any]:
    return plane.request("GET", f"/api/v1/namespaces/{ns}/configmaps/{name}")


BURSTING = BurstState(
    phase=Phase.BURSTING,
    phase_since=1_700_000_100.5,
    burst_started_at=1_700_000_000.0,
    holding_since={"pressure": 1_699_999_900.0},
    pool_targets={"cloud-a": 3, "cloud-b": 1},
    shifted={"web/frontend": 4},
    weights={"web/frontend": {"base": 1, "cloud": 2}},
    alerts=("PoolStockOut",),
    target_cloud_replicas=4,
    last_shift_at=1_700_000_050.0,
    last_shift_direction=1,
    provisioning_since={"cloud-b": 1_700_000_090.0},
    backoff_until={"cloud-c": 1_700_000_600.0},
    rebalance_requested_at=None,
    bursts=2,
    ledger=Ledger(node_seconds={"cloud-a": 3600.0}, cost=1.25, accounted_until=1_700_000_100.0),
    history=History(step=300.0, start=1_699_990_000.0, values=(1.0, 2.5, 4.0)),
)


def test_round_trip_and_new_versions(control_plane: ControlPlane) -> None:
    ns, policy = make_namespace(control_plane), unique("web")

    async def body(kube: KubeClient) -> tuple[Stored, str, Stored, str, Stored]:
        store = StateStore(kube, ns)
        empty = await store.load(policy)
        v1 = await store.save(policy, BURSTING, None)
        first = await store.load(policy)
        draining = BurstState(phase=Phase.DRAINING, phase_since=1_700_000_700.0, bursts=2)
        v2 = await store.save(policy, draining, v1)
        second = await store.load(policy)
        return empty, v1, first, v2, second

    empty, v1, first, v2, second = run(control_plane, body)
    assert empty == Stored(BurstState(), None)
    assert first == Stored(BURSTING, v1)
    assert v2 != v1
    assert second.version == v2
    assert second.state.phase is Phase.DRAINING
    assert second.state.pool_targets == {}
    status, cm = configmap(control_plane, ns, f"burstd-state-{policy}")
    assert status == 200, cm
    assert cm["metadata"]["resourceVersion"] == v2
    assert cm["metadata"]["labels"] == {
        "app.kubernetes.io/name": "burstd",
        "app.kubernetes.io/managed-by": "burstd",
        "burstd.io/policy": policy,
    }
    assert cm["data"]["phase"] == "Draining"
    assert json.loads(cm["data"]["state.json"])["phase"] == "Draining"


def test_stale_version_conflicts_and_keeps_the_other_write(control_plane: ControlPlane) -> None:
    ns, policy = make_namespace(control_plane), unique("web")

    async def body(kube: KubeClient) -> tuple[StateConflict, str, Stored]:
        store = StateStore(kube, ns)
        v1 = await store.save(policy, BurstState(phase=Phase.PROVISIONING, phase_since=1.0), None)
        theirs = await store.save(policy, BURSTING, v1)  # another writer got there first
        with pytest.raises(StateConflict) as stale:
            await store.save(policy, BurstState(phase=Phase.IDLE, phase_since=2.0), v1)
        return stale.value, theirs, await store.load(policy)

    conflict, theirs, after = run(control_plane, body)
    assert conflict.policy == policy
    assert conflict.expected_version is not None
    assert conflict.expected_version in str(conflict)
    assert policy in str(conflict)
    assert f"ConfigMap {ns}/burstd-state-{policy}" in str(conflict)
    assert isinstance(conflict.__cause__, errors.Conflict)
    assert f"update ConfigMap {ns}/burstd-state-{policy} (configmaps/v1)" in str(conflict.__cause__)
    assert after == Stored(BURSTING, theirs)


def test_create_conflicts_when_the_state_exists(control_plane: ControlPlane) -> None:
    ns, policy = make_namespace(control_plane), unique("web")

    async def body(kube: KubeClient) -> tuple[StateConflict, Stored]:
        store = StateStore(kube, ns)
        await store.save(policy, BURSTING, None)
        with pytest.raises(StateConflict) as exists:
            await store.save(policy, BurstState(), None)
        return exists.value, await store.load(policy)

    conflict, after = run(control_plane, body)
    assert conflict.expected_version is None
    assert "none (create)" in str(conflict)
    assert after.state == BURSTING


def test_replace_after_delete_conflicts(control_plane: ControlPlane) -> None:
    ns, policy = make_namespace(control_plane), unique("web")

    async def body(kube: KubeClient) -> tuple[str, StateConflict]:
        store = StateStore(kube, ns)
        v1 = await store.save(policy, BURSTING, None)
        status, _ = control_plane.request(
            "DELETE", f"/api/v1/namespaces/{ns}/configmaps/{configmap_name(policy)}"
        )
        assert status == 200
        with pytest.raises(StateConflict) as gone:
            await store.save(policy, BurstState(), v1)
        return v1, gone.value

    v1, conflict = run(control_plane, body)
    assert conflict.expected_version == v1
    assert configmap(control_plane, ns, configmap_name(policy))[0] == 404  # not silently re-created


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"state.json": "{not json"}, "is not valid JSON"),
        ({"state.json": json.dumps({"phase": "Bursting", "phaseSince": "yesterday"})}, "phaseSince"),
        ({"state.json": json.dumps({"phase": "Exploding", "phaseSince": 1.0})}, "field phase is malformed"),
        ({"state.json": json.dumps({"phaseSince": 1.0})}, "missing field 'phase'"),
        ({"phase": "Bursting"}, "has no key 'state.json'"),
        ({"state.json": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
    ],
    ids=["bad-json", "bad-field", "bad-phase", "missing-field", "missing-key", "too-deep"],
)
def test_corrupt_state_names_the_configmap_and_is_left_untouched(
    control_plane: ControlPlane, data: dict[str, str], expected: str
) -> None:
    ns, policy = make_namespace(control_plane), unique("web")
    name = configmap_name(policy)
    status, created = control_plane.request(
        "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": name}, "data": data}
    )
    assert status == 201, created

    async def body(kube: KubeClient) -> CorruptState:
        with pytest.raises(CorruptState) as corrupt:
            await StateStore(kube, ns).load(policy)
        return corrupt.value

    corrupt = run(control_plane, body)
    assert f"ConfigMap {ns}/{name}" in str(corrupt)
    assert expected in str(corrupt)
    status, after = configmap(control_plane, ns, name)
    assert status == 200
    assert after["data"] == data
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_dry_run_writes_nothing(control_plane: ControlPlane) -> None:
    ns, policy = make_namespace(control_plane), unique("web")

    async def body(kube: KubeClient) -> tuple[str, str, Stored]:
        store = StateStore(kube, ns, dry_run=True)
        first = await store.save(policy, BURSTING, None)
        again = await store.save(policy, BURSTING, "12345")
        return first, again, await store.load(policy)

    first, again, loaded = run(control_plane, body)
    assert (first, again) == ("dry-run", "12345")
    assert loaded == Stored(BurstState(), None)
    assert configmap(control_plane, ns, configmap_name(policy))[0] == 404


def test_configmap_names() -> None:
    assert configmap_name("web") == "burstd-state-web"
    assert configmap_name("a" * 63) == "burstd-state-" + "a" * 63
    for bad in ("", "Web", "web_1", "web-", "a" * 241):
        with pytest.raises(ValueError, match="not a DNS subdomain"):
            configmap_name(bad)


def test_saves_through_a_fenced_client_stop_when_the_write_window_closes(control_plane: ControlPlane) -> None:
    """The daemon saves through a client fenced by the leader's write window: once it has closed, neither a
    replace nor a create is sent (``Fenced``), and the state stays as the last leader saved it."""
    ns, policy, other = make_namespace(control_plane), unique("web"), unique("api")
    window = [5.0]

    async def body(kube: KubeClient) -> tuple[str, list[Fenced], Stored]:
        store = StateStore(kube.fenced(lambda: window[0]), ns)
        v1 = await store.save(policy, BURSTING, None)
        draining = BurstState(phase=Phase.DRAINING, phase_since=1_700_000_700.0, bursts=2)
        v2 = await store.save(policy, draining, v1)
        window[0] = 0.0  # leadership lapsed
        refused: list[Fenced] = []
        for name, version in ((policy, v2), (other, None)):
            with pytest.raises(Fenced) as exc:
                await store.save(name, BurstState(), version)
            refused.append(exc.value)
        return v2, refused, await StateStore(kube, ns).load(policy)

    v2, refused, after = run(control_plane, body)
    assert after.version == v2
    assert after.state.phase is Phase.DRAINING
    assert "not sent: update ConfigMap" in refused[0].message
    assert "not sent: create ConfigMap" in refused[1].message
    status, _ = configmap(control_plane, ns, configmap_name(other))
    assert status == 404
