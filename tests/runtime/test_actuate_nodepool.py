"""ScalePool and MarkMachines on native node pools through the provider's NodePoolBackend (the scriptable
FakeProvider): idempotent, dry-run aware, fenced, exactly the chosen nodes removed, provider errors as
outcomes, preflight refusals; and a whole burst decided by the engine and applied through the real
Actuator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, cast

import pytest
from burstd_provider_fake import FakeProvider

from burstd.cloud.provider import CloudProvider, Instance, NodePoolBackend, ProviderError, Quote, Unavailable
from burstd.kube.client import KubeClient
from burstd.model.actions import Action, MarkMachines, ScalePool
from burstd.model.state import BurstState
from burstd.model.world import FleetBudget
from burstd.policy.spec import BurstPolicy, PoolSpec, parse_document
from burstd.runtime.actuate import Actuator, NotLeader
from burstd.runtime.actuate_base import ActionResult
from burstd.runtime.evaluate import Evaluation, PolicyRunner
from burstd.runtime.eventsink import EventType, ObjectRef
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import NodePoolObs, Snapshot, node_pool_key

from .fakes import BASE, POOL, T0, FakeActuator, FakeStore, snapshot
from .fakes import policy as capi_policy

SECRET = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
CLUSTER_ID, NODE_POOL_ID = "cls-7x2k", "np-gz6"
LABEL = f"TKE node pool {CLUSTER_ID}/{NODE_POOL_ID}"
WHERE = f"{LABEL} (pool {POOL})"
PP = ObjectRef("policy.karmada.io/v1alpha1", "PropagationPolicy", "web", "shop")


# ------------------------------------------------------------------------------------------ the rig


class CloudWithoutNodePools:
    """A provider that does not drive native node pools."""

    name: ClassVar[str] = "fake"

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        raise AssertionError("never called")

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        raise AssertionError("never called")

    async def terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        raise AssertionError("never called")

    def classify(self, error: Exception) -> ProviderError:
        return Unavailable(str(error))

    async def aclose(self) -> None:
        pass


@dataclass(frozen=True)
class Event:
    regarding: ObjectRef
    type: EventType
    reason: str
    action: str
    note: str


@dataclass
class Sink:
    events: list[Event] = field(default_factory=list)

    async def emit(self, regarding: ObjectRef, type_: EventType, reason: str, action: str, note: str) -> None:
        self.events.append(Event(regarding, type_, reason, action, note))


class Karmada:
    """What preflight reads on the Karmada API server: the PropagationPolicy, Divided and Weighted."""

    async def get(self, resource: object, name: str, namespace: str | None = None) -> dict[str, Any]:
        scheduling = {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted"}
        return {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"placement": {"replicaScheduling": scheduling}},
        }


def policy(*, dry_run: bool = False) -> BurstPolicy:
    """``tests.runtime.fakes.policy`` with its pool on a native TKE node pool instead of a MachineDeployment."""
    doc = capi_policy(dry_run=dry_run).model_dump(by_alias=True, mode="json", exclude_none=True)
    pool = doc["spec"]["burst"]["pools"][0]
    del pool["ref"]
    pool.update(
        backend="tke-nodepool",
        provider="fake",
        nodePool={"clusterId": CLUSTER_ID, "nodePoolId": NODE_POOL_ID},
    )
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


@dataclass
class Rig:
    cloud: FakeProvider
    members: list[str]  # the node pool's members at the start, in launch order
    sink: Sink
    actuator: Actuator
    fence_calls: list[float]
    clock: list[float]

    def writes(self) -> list[tuple[str, int | None]]:
        """The cloud writes asked for (failed ones included): (call, desired count or nodes removed)."""
        return [(c.call, c.nodes) for c in self.cloud.calls if c.call != "node_pool"]

    def calls(self) -> list[str]:
        return [c.call for c in self.cloud.calls]

    @property
    def desired(self) -> int:
        return self.cloud.node_pool_desired(CLUSTER_ID, NODE_POOL_ID)

    def live(self) -> list[str]:
        """Members not being removed."""
        return self.cloud.node_pool_members(CLUSTER_ID, NODE_POOL_ID)


def rig(
    ready: Sequence[bool] = (True,),
    *,
    autoscaling: bool = False,
    dry_run: bool = False,
    fence: Callable[[], float] | None = None,
    providers: dict[str, Any] | None = None,
) -> Rig:
    """A fake cloud whose pool ``POOL`` has a native node pool with a member per ``ready`` entry (Ready or
    pending); removed members stay "being removed" for 60s. Its clock is ``Rig.clock``."""
    clock = [T0]
    cloud = FakeProvider({"pools": {POOL: {"terminateDelay": 60}}}, clock=lambda: clock[0])
    members = cloud.add_node_pool(POOL, CLUSTER_ID, NODE_POOL_ID, ready, autoscaling=autoscaling)
    sink = Sink()
    asked: list[float] = []

    def window() -> float:
        left = fence() if fence is not None else 10.0
        asked.append(left)
        return left

    # the management cluster is never touched for a native pool: any call on None fails the test
    actuator = Actuator(
        cast(KubeClient, Karmada()),
        cast(KubeClient, None),
        sink,
        Sink(),
        dry_run=dry_run,
        fence=window,
        providers={"fake": cloud} if providers is None else providers,
    )
    return Rig(cloud, members, sink, actuator, asked, clock)


def apply(r: Rig, action: Action, bp: BurstPolicy | None = None) -> ActionResult:
    return asyncio.run(r.actuator.apply(bp or policy(), action))


def preflight(r: Rig) -> list[str]:
    return asyncio.run(r.actuator.preflight(policy()))


def test_the_fake_cloud_is_a_node_pool_backend() -> None:
    assert isinstance(rig().cloud, NodePoolBackend)
    assert isinstance(CloudWithoutNodePools(), CloudProvider)
    assert not isinstance(CloudWithoutNodePools(), NodePoolBackend)


# ------------------------------------------------------------------------------------------ ScalePool


def test_scale_up_sets_the_desired_count_once_with_one_event() -> None:
    r = rig([True])
    result = apply(r, ScalePool(POOL, 3, 1, "burst"))
    assert (result.outcome, result.message) == ("applied", f"{WHERE}: 1 -> 3 nodes")
    assert r.writes() == [("scale_node_pool", 3)]
    assert r.desired == 3
    assert len(r.live()) == 3
    assert [(e.regarding, e.type, e.reason, e.action) for e in r.sink.events] == [
        (PP, "Normal", "ScaledUp", "ScalePool")
    ]
    assert r.sink.events[0].note == f"{WHERE}: 1 -> 3 nodes (burst)"

    again = apply(r, ScalePool(POOL, 3, 1, "burst"))
    assert (again.outcome, again.message) == ("unchanged", f"{WHERE} already wants 3 nodes")
    assert r.writes() == [("scale_node_pool", 3)]  # nothing more written
    assert len(r.sink.events) == 1


def test_scale_down_without_chosen_nodes_lowers_the_count() -> None:
    r = rig([True, True])
    result = apply(r, ScalePool(POOL, 1, 2, "release"))
    assert result.outcome == "applied"
    assert r.writes() == [("scale_node_pool", 1)]
    assert r.desired == 1
    assert [e.reason for e in r.sink.events] == ["ScaledDown"]


def test_dry_run_reads_but_writes_nothing_and_emits_no_event() -> None:
    r = rig([True, True], dry_run=True)
    bp = policy(dry_run=True)
    scaled = apply(r, ScalePool(POOL, 4, 2, "burst"), bp)
    marked = apply(r, MarkMachines(POOL, (r.members[1],), "emptiest first"), bp)
    held = apply(r, ScalePool(POOL, 2, 2, "burst"), bp)
    assert [scaled.outcome, marked.outcome, held.outcome] == ["dry-run", "dry-run", "unchanged"]
    assert scaled.message == f"would scale pool {POOL}: 2 -> 4 nodes (burst); {WHERE} wants 2 nodes"
    assert f"would remove {r.members[1]} from {WHERE}" in marked.message
    assert r.calls() == ["node_pool"] * 3
    assert (r.desired, r.live()) == (2, r.members)
    assert r.sink.events == []


def test_not_the_leader_writes_nothing() -> None:
    r = rig([True], fence=lambda: 0.0)
    with pytest.raises(NotLeader):
        apply(r, ScalePool(POOL, 3, 1, "burst"))
    with pytest.raises(NotLeader):
        apply(r, MarkMachines(POOL, tuple(r.members), "emptiest first"))
    assert r.cloud.calls == []
    assert r.sink.events == []


def test_leadership_lost_between_the_read_and_the_write_writes_nothing() -> None:
    left = iter([5.0, 0.0, 5.0, 0.0])  # open at the start of each action, closed before its write
    r = rig([True, True], fence=lambda: next(left))
    with pytest.raises(NotLeader):
        apply(r, ScalePool(POOL, 3, 2, "burst"))
    with pytest.raises(NotLeader):
        apply(r, MarkMachines(POOL, (r.members[0],), "emptiest first"))
    assert r.calls() == ["node_pool", "node_pool"]  # read, never written
    assert r.fence_calls == [5.0, 0.0, 5.0, 0.0]
    assert (r.desired, r.live()) == (2, r.members)
    assert r.sink.events == []


def test_a_node_pool_under_the_clouds_autoscaler_is_refused() -> None:
    r = rig([True], autoscaling=True)
    results = [
        apply(r, ScalePool(POOL, 3, 1, "burst")),
        apply(r, MarkMachines(POOL, tuple(r.members), "emptiest first")),
    ]
    assert [x.outcome for x in results] == ["refused", "refused"]
    assert r.writes() == []
    assert [(e.regarding, e.type, e.reason, e.action) for e in r.sink.events] == [
        (PP, "Warning", "RefusedAutoscalerManaged", "ScalePool"),
        (PP, "Warning", "RefusedAutoscalerManaged", "MarkMachines"),
    ]
    assert results[0].message.startswith(f"{WHERE} is managed by the cloud's own autoscaler")
    assert preflight(r) == [results[0].message]


# ------------------------------------------------------------------------------------------ MarkMachines


def test_mark_removes_exactly_the_chosen_members_and_the_scale_after_it_is_unchanged() -> None:
    r = rig([True, True, True, True])
    a, b, c, d = r.members
    r.cloud.remove_nodes_sync(policy().spec.burst.pools[0], [d])  # already being removed (desired 3)
    r.cloud.calls.clear()

    marked = apply(r, MarkMachines(POOL, (c, a, d, "ins-gone"), "emptiest first"))
    scaled = apply(r, ScalePool(POOL, 1, 3, "release nodes the replicas have left"))

    assert marked.outcome == "applied"
    assert marked.message == (
        f"removed {c}, {a} from {WHERE}; skipped {d} (already being removed), ins-gone (not a member: gone)"
    )
    assert r.writes() == [("remove_nodes", 2)]
    assert r.live() == [b]  # exactly the chosen ones left
    assert scaled.outcome == "unchanged"  # the removal lowered the desired count already
    assert r.desired == 1
    assert [(e.regarding, e.type, e.reason, e.action) for e in r.sink.events] == [
        (PP, "Normal", "NodesRemoved", "MarkMachines")
    ]
    assert r.sink.events[0].note == f"removed {c}, {a} from {WHERE} (desired 3 -> 1; emptiest first)"

    again = apply(r, MarkMachines(POOL, (c, a), "emptiest first"))
    assert again.outcome == "unchanged"
    assert (
        again.message
        == f"nothing to remove: skipped {c} (already being removed), {a} (already being removed)"
    )
    r.clock[0] += 61  # released: no longer members
    gone = apply(r, MarkMachines(POOL, (c,), "emptiest first"))
    assert (gone.outcome, gone.message) == (
        "unchanged",
        f"nothing to remove: skipped {c} (not a member: gone)",
    )
    assert r.writes() == [("remove_nodes", 2)]
    assert len(r.sink.events) == 1


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("error", "code", "outcome"),
    [
        ("Throttled", "RequestLimitExceeded", "failed"),
        ("Unavailable", None, "failed"),
        ("StockOut", "ResourceInsufficient.SpecifiedInstanceType", "failed"),
        ("QuotaExceeded", "LimitExceeded.CvmInstanceQuota", "failed"),
        ("AuthFailed", "AuthFailure.SecretIdNotFound", "refused"),
        ("InvalidRequest", "InvalidParameter", "refused"),
    ],
)
@pytest.mark.parametrize("call", ["scale_node_pool", "remove_nodes", "node_pool"])
def test_provider_errors_become_outcomes_with_redacted_messages(
    error: Any, code: str | None, outcome: str, call: Any, caplog: pytest.LogCaptureFixture
) -> None:
    r = rig([True, True])
    r.cloud.inject(
        call,
        error,
        message=f"the cloud said no; SecretId={SECRET}",
        code=code,
        retry_after=2 if error == "Throttled" else None,
    )
    action: Action = (
        MarkMachines(POOL, (r.members[1],), "emptiest first")
        if call == "remove_nodes"
        else ScalePool(POOL, 3, 2, "burst")
    )
    if (call, error) == ("remove_nodes", "InvalidRequest"):
        outcome = "failed"  # a member released since the read: decided again next round, not held
    result = apply(r, action)
    assert result.outcome == outcome
    assert result.message.startswith("cannot ")
    assert f"{WHERE}: fake/{POOL}: {error}" in result.message
    if error == "Throttled":
        assert "retry after 2s" in result.message
    if outcome == "failed":
        assert result.message.endswith("the next round decides again")
        assert r.sink.events == []
    else:
        assert result.message.endswith("the policy is held until the call succeeds (checked every round)")
        assert [(e.regarding, e.type, e.reason) for e in r.sink.events] == [
            (PP, "Warning", f"NodePool{error}")
        ]
    assert [c.failed for c in r.cloud.calls] == ([error] if call == "node_pool" else [None, error])
    assert (r.desired, r.live()) == (2, r.members)  # nothing changed
    everything = result.message + " ".join(e.note for e in r.sink.events) + caplog.text
    assert SECRET not in everything
    assert "<redacted>" in result.message


def test_an_exception_that_slips_through_the_provider_is_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    r = rig([True])

    async def broken(pool: PoolSpec, desired: int) -> None:
        raise KeyError("InstanceSet")

    monkeypatch.setattr(r.cloud, "scale_node_pool", broken)
    result = apply(r, ScalePool(POOL, 2, 1, "burst"))
    assert result.outcome == "refused"  # the fake classifies a KeyError as InvalidRequest
    assert "InvalidRequest: KeyError: 'InstanceSet'" in result.message


def test_a_failed_call_does_not_stop_the_next_action() -> None:
    r = rig([True])
    r.cloud.inject("scale_node_pool", "Throttled")
    assert apply(r, ScalePool(POOL, 2, 1, "burst")).outcome == "failed"
    assert apply(r, ScalePool(POOL, 2, 1, "burst")).outcome == "applied"
    assert r.desired == 2


# ------------------------------------------------------------------------------------------ routing, preflight


def test_a_pool_whose_provider_is_missing_or_cannot_drive_node_pools_is_refused() -> None:
    for providers, hint in (
        ({}, f"Pool {POOL} ({LABEL}) uses cloud provider 'fake', which is not configured in burstd"),
        ({"fake": CloudWithoutNodePools()}, "cloud provider 'fake' does not drive native node pools"),
    ):
        r = rig([True], providers=providers)
        result = apply(r, ScalePool(POOL, 2, 1, "burst"))
        assert result.outcome == "refused"
        assert hint in result.message
        assert preflight(r) == [result.message]
        assert r.cloud.calls == []


def test_preflight_names_a_node_pool_that_cannot_be_read() -> None:
    r = rig([True])
    assert preflight(r) == []
    r.cloud.inject("node_pool", "InvalidRequest", message="node pool np-gz6 not found")
    [missing] = preflight(r)
    assert missing.startswith(f"{WHERE} was not found or was refused by cloud provider 'fake'")
    assert missing.endswith("fix the pool's nodePool (clusterId, nodePoolId).")
    r.cloud.inject("node_pool", "AuthFailed", message=f"bad key SecretKey={SECRET}")
    [auth] = preflight(r)
    assert auth.startswith(f"{WHERE} cannot be read: cloud provider 'fake' rejected burstd's credentials")
    assert f"fake/{POOL}: AuthFailed" in auth
    assert SECRET not in auth
    r.cloud.inject("node_pool", "AuthFailed", message=f"bad key SecretKey={SECRET}")
    assert preflight(r) == [auth]  # the same refusal: announced once
    r.cloud.inject("node_pool", "Unavailable", message="connection refused")
    [down] = preflight(r)
    assert f"{WHERE} cannot be read through cloud provider 'fake': fake/{POOL}: Unavailable" in down
    assert preflight(r) == []  # readable again: the next refusal is announced anew
    assert r.calls() == ["node_pool"] * 6
    # each refusal announced once, as a Warning Event on the policy's PropagationPolicy
    assert [(e.type, e.reason) for e in r.sink.events] == [
        ("Warning", "NodePoolNotFound"),
        ("Warning", "CloudAuthFailed"),
        ("Warning", "CloudProviderError"),
    ]
    assert all(SECRET not in e.note for e in r.sink.events)


def test_an_unknown_pool_name_is_refused_without_a_cloud_call() -> None:
    r = rig([True])
    # not a pool of the policy: goes to the Cluster API actuator, which refuses it before any API call
    result = apply(r, ScalePool("nope", 2, 1, "burst"))
    assert result.outcome == "refused"
    assert "no pool named 'nope'" in result.message
    assert r.cloud.calls == []


# ------------------------------------------------------------------------------------------ decided and applied


@dataclass
class PoolsOnly:
    """The real Actuator for the pool actions; the others (weights) applied by a fake, whose effect the
    test scripts into the next snapshot."""

    real: Actuator
    fake: FakeActuator = field(default_factory=FakeActuator)

    async def apply(self, policy: BurstPolicy, action: Action) -> ActionResult:
        if isinstance(action, ScalePool | MarkMachines):
            return await self.real.apply(policy, action)
        return await self.fake.apply(policy, action)


@dataclass
class Burst:
    """A policy on the rig's node pool, evaluated round by round as the daemon would: each round reads the
    node pool from the provider into the snapshot (``Snapshot.node_pools``) first."""

    r: Rig
    store: FakeStore = field(default_factory=FakeStore)
    runner: PolicyRunner = field(default_factory=lambda: PolicyRunner(policy(), BurstState(), None))

    def round(self, *, desired: int, placed: dict[str, int]) -> tuple[Evaluation, bool]:
        """One round at the rig's clock: the evaluation and whether it saved the state."""
        now = self.r.clock[0]
        node_pool = self.r.cloud.node_pool_sync(self.runner.policy.spec.burst.pools[0])
        snap: Snapshot = replace(
            snapshot(desired=desired, placed=placed, at=now),
            scalables={},
            machines={},
            node_pools={node_pool_key(CLUSTER_ID, NODE_POOL_ID): NodePoolObs(node_pool, now)},
        )
        saves = len(self.store.saves)
        applier = PoolsOnly(self.r.actuator)
        evaluation = asyncio.run(
            self.runner.evaluate(snap, {}, FleetBudget(), now, applier, self.store, Metrics())
        )
        return evaluation, len(self.store.saves) > saves

    def quiet_until_removal(self) -> tuple[Evaluation, bool]:
        """Rounds every 20s with the demand back on the base, until one asks the cloud to remove a node."""
        for _ in range(20):
            self.r.clock[0] += 20
            evaluation, saved = self.round(desired=8, placed={BASE: 8})
            if "remove_nodes" in self.r.calls():
                return evaluation, saved
        pytest.fail(f"the node pool was never shrunk: {self.r.writes()}")


def pool_actions(evaluation: Evaluation) -> list[tuple[str, str]]:
    return [(d.split(":")[0], o) for d, o, _ in evaluation.actions if POOL in d.split(":")[0]]


def test_a_burst_on_a_native_node_pool_grows_then_releases_exactly_the_chosen_node() -> None:
    """The engine decides on the node pool as the provider reports it; the Actuator drives the provider:
    scale_node_pool to grow; remove_nodes of the node it chose (and nothing more) to shrink."""
    r = rig([])
    burst = Burst(r)
    first, _ = burst.round(desired=40, placed={BASE: 32})  # 8 replicas beyond the base
    assert pool_actions(first) == [(f"scale pool {POOL}", "applied")]
    assert r.writes() == [("scale_node_pool", 1)]
    [node] = r.live()  # it launched and joined (the fake's launch delay is 0)

    removal, saved = burst.quiet_until_removal()
    assert saved
    assert pool_actions(removal) == [
        (f"mark for deletion in {POOL}", "applied"),
        (f"scale pool {POOL}", "unchanged"),
    ]
    assert removal.actions[-2][0] == f"mark for deletion in {POOL}: {node} (emptiest first)"
    assert r.writes() == [("scale_node_pool", 1), ("remove_nodes", 1)]
    assert (r.desired, r.live()) == (0, [])
    assert [(e.regarding, e.reason) for e in r.sink.events] == [(PP, "ScaledUp"), (PP, "NodesRemoved")]

    # the member being removed still bills: the burst is not over until the cloud has released it
    r.clock[0] += 20
    assert burst.round(desired=8, placed={BASE: 8})[0].phase == "Releasing"
    r.clock[0] += 60
    assert burst.round(desired=8, placed={BASE: 8})[0].phase == "Idle"
    assert r.writes() == [("scale_node_pool", 1), ("remove_nodes", 1)]  # nothing more written


def test_a_failed_removal_stops_the_step_and_the_next_round_removes_the_node() -> None:
    """``failed`` (a cloud call that may pass later) stops the step like ``conflict``: the ScalePool after
    the failed removal is not applied (it would let the cloud pick any node, perhaps a busy one), the state
    is not saved, nothing is held, and the next round decides again."""
    r = rig([])
    burst = Burst(r)
    burst.round(desired=40, placed={BASE: 32})
    r.cloud.inject("remove_nodes", "Unavailable", message="503 from the node pool API")

    failed, saved = burst.quiet_until_removal()
    assert not saved  # the step did not happen
    assert pool_actions(failed) == [
        (f"mark for deletion in {POOL}", "failed")
    ]  # the ScalePool never went out
    assert "503 from the node pool API" in failed.actions[-1][2]
    assert failed.held == ()
    assert burst.runner.blocked == {}
    assert (r.desired, len(r.live())) == (1, 1)

    r.clock[0] += 20
    again, saved = burst.round(desired=8, placed={BASE: 8})
    assert saved
    assert pool_actions(again) == [
        (f"mark for deletion in {POOL}", "applied"),
        (f"scale pool {POOL}", "unchanged"),
    ]
    assert r.writes() == [("scale_node_pool", 1), ("remove_nodes", 1), ("remove_nodes", 1)]
    assert (r.desired, r.live()) == (0, [])
