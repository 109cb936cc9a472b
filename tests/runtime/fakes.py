"""In-memory stand-ins for the daemon's edges (actuator, state store, watch caches) and a one-pool fleet
built from the parsed object types, for tests of ``PolicyRunner`` and ``Daemon`` without an API server."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from burstd.kube.objects import (
    BindingInfo,
    FederatedHPAInfo,
    MachineObs,
    PropagationPolicyInfo,
    ScalableInfo,
)
from burstd.model.actions import Action, Hold
from burstd.model.state import BurstState
from burstd.model.world import ClusterSummary, Resources
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.runtime.actuate import Actuator
from burstd.runtime.actuate_base import ActionResult, Outcome
from burstd.runtime.caches import Caches
from burstd.runtime.daemon import Daemon
from burstd.runtime.observe import Snapshot
from burstd.runtime.store import CorruptState, StateConflict, StateStore, Stored

GI = 1024**3
T0 = 1_700_000_000.0

BASE = "idc-1"
CLOUD = "tke-gz"
POOL = "tke-gz6"
MD_KEY = "capi-tke/tke-gz-md-0"
WORKLOAD = "shop/web"
BINDING_KEY = "shop/web-deployment"
#: replicas one pool node holds (8 cpu / 0.5 cpu); the base holds 32 (16 cpu / 0.5 cpu)
PER_NODE = 16
BASE_ROOM = 32


# ------------------------------------------------------------------------------------------ the fleet


def policy(name: str = "web-burst", *, dry_run: bool = False) -> BurstPolicy:
    """A one-pool policy: base idc-1, a Cluster API MachineDeployment pool on tke-gz, static weights, and a
    scale-out trigger without ``for`` (a decision on demand beyond the base scales at once)."""
    doc: dict[str, Any] = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "BurstPolicy",
        "metadata": {"name": name},
        "spec": {
            "dryRun": dry_run,
            "workloads": [
                {
                    "propagationPolicy": {"namespace": "shop", "name": "web"},
                    "federatedHPA": {"namespace": "shop", "name": "web"},
                }
            ],
            "base": {"clusters": [BASE]},
            "burst": {
                "headroom": "10%",
                "provisionTimeout": "60s",
                "pools": [
                    {
                        "name": POOL,
                        "provider": "tencent",
                        "cluster": CLOUD,
                        "backend": "capi-machinedeployment",
                        "ref": {"namespace": "capi-tke", "name": "tke-gz-md-0"},
                        "nodes": {"min": 0, "max": 10},
                        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": 110},
                        "price": {"perNodeHour": 2.88, "currency": "CNY"},
                    }
                ],
            },
            "triggers": {
                "scaleOut": {"any": [{"signal": "fhpa.unfitReplicas", "above": 0}]},
                "scaleIn": {"all": [{"signal": "fhpa.unfitReplicas", "below": -2, "for": "2s"}]},
            },
            "shift": {"mode": "static-weights", "maxStep": "50%", "interval": "1s"},
            "drain": {
                "minBurstDuration": "5s",
                "maxStep": "50%",
                "interval": "1s",
                "stabilizationWindow": "5s",
            },
            "limits": {"maxCloudNodes": 10},
            "safety": {"signalMaxAge": "30s", "stockoutBackoff": "30s"},
        },
    }
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


def elsewhere(name: str) -> BurstPolicy:
    """``policy(name)`` naming other targets: PropagationPolicy shop/api and MachineDeployment
    capi-tke/tke-gz-md-1, which ``snapshot()`` does not hold. It may run beside ``policy()`` (one policy
    per target; no TargetConflict) and holds NotObserved."""
    doc = policy(name).model_dump(by_alias=True, mode="json", exclude_none=True)
    doc["spec"]["workloads"][0]["propagationPolicy"]["name"] = "api"
    doc["spec"]["burst"]["pools"][0]["ref"]["name"] = "tke-gz-md-1"
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


def machine(index: int, *, ready: bool = True, at: float = T0) -> MachineObs:
    name = f"tke-gz-md-0-{index}"
    return MachineObs(
        key=f"capi-tke/{name}",
        name=name,
        namespace="capi-tke",
        owner_kind="MachineDeployment",
        owner_name="tke-gz-md-0",
        ready=ready,
        deleting=False,
        failed=False,
        marked_for_deletion=False,
        node_name=name,
        created_at=at - 600.0,
        observed_at=at,
    )


def snapshot(
    *,
    desired: int = 40,
    placed: Mapping[str, int] | None = None,
    weights: Mapping[str, int] | None = None,
    managers: Sequence[str] = (),
    nodes: int = 0,
    at: float = T0,
) -> Snapshot:
    """The fleet as the caches hold it: the FederatedHPA wants ``desired`` replicas, the binding placed
    ``placed`` (all Ready), the PropagationPolicy carries ``weights`` owned by ``managers``, and the
    MachineDeployment has ``nodes`` Ready Machines."""
    where = dict(placed) if placed is not None else {BASE: min(desired, BASE_ROOM)}
    total = sum(where.values())
    machines = [machine(i, at=at) for i in range(nodes)]
    return Snapshot(
        clusters={
            BASE: ClusterSummary(BASE, Resources(16, 64 * GI), Resources(), Resources(), True, at),
            CLOUD: ClusterSummary(CLOUD, Resources(), Resources(), Resources(), True, at),
        },
        fhpas={
            WORKLOAD: FederatedHPAInfo(
                key=WORKLOAD,
                target_api_version="apps/v1",
                target_kind="Deployment",
                target_name="web",
                min_replicas=1,
                max_replicas=400,
                current_replicas=total,
                desired_replicas=desired,
                scaling_limited=False,
                observed_at=at,
            )
        },
        bindings={
            BINDING_KEY: BindingInfo(
                key=BINDING_KEY,
                policy_key=WORKLOAD,
                resource_kind="Deployment",
                resource_name="web",
                resource_namespace="shop",
                resource_api_version="apps/v1",
                resource_uid="",
                replicas=total,
                request=Resources(0.5, GI),
                clusters=where,
                ready_by_cluster=where,
                scheduled=True,
                scheduled_reason=None,
                generation=3,
                scheduler_observed_generation=3,
                observed_at=at,
            )
        },
        policies={
            WORKLOAD: PropagationPolicyInfo(
                key=WORKLOAD,
                replica_scheduling_type="Divided",
                division_preference="Weighted",
                dynamic_weight=None,
                weights=dict(weights or {}),
                weights_shape_ok=True,
                weights_managers=tuple(managers),
                resource_version="17",
                observed_at=at,
            )
        },
        scalables={
            MD_KEY: ScalableInfo(
                key=MD_KEY,
                kind="MachineDeployment",
                api_version="cluster.x-k8s.io/v1beta2",
                replicas=nodes,
                status_replicas=nodes,
                ready_replicas=nodes,
                paused=False,
                autoscaler_managed=False,
                uid="md-uid",
                observed_at=at,
            )
        },
        machines={m.key: m for m in machines},
    )


# ------------------------------------------------------------------------------------------ the edges


@dataclass
class FakeActuator:
    """Records every action it is asked to apply and answers with the outcome scripted for its type
    ("applied" when none is). With ``gate`` set, each ``apply`` waits for it (``entered`` is set first).
    A Hold must never reach an actuator: the runner reports those itself."""

    outcomes: dict[type, Outcome] = field(default_factory=dict)
    messages: dict[type, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    applied: list[tuple[str, Action]] = field(default_factory=list)
    finished: list[tuple[str, Action]] = field(default_factory=list)
    preflights: list[str] = field(default_factory=list)

    async def apply(self, policy: BurstPolicy, action: Action) -> ActionResult:
        assert not isinstance(action, Hold), f"a Hold reached the actuator: {action}"
        self.applied.append((policy.metadata.name, action))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        self.finished.append((policy.metadata.name, action))
        outcome = self.outcomes.get(type(action), "applied")
        return ActionResult(action, outcome, self.messages.get(type(action), f"{outcome} by the fake"))

    async def preflight(self, policy: BurstPolicy) -> list[str]:
        self.preflights.append(policy.metadata.name)
        return list(self.problems)

    def actions(self, policy: str | None = None) -> list[Action]:
        return [a for p, a in self.applied if policy is None or p == policy]


@dataclass(frozen=True)
class Save:
    policy: str
    state: BurstState
    expected_version: str | None
    new_version: str


@dataclass
class FakeStore:
    """Saves with a resourceVersion precondition like the real store: a save must name the version the
    policy's state is at (None before the first save), else ``StateConflict``. Versions count up from
    ``next_version``. ``conflict_once`` makes the next save conflict as if another writer had been first;
    ``corrupt`` names policies whose load raises ``CorruptState``. Loading an unknown policy fails the test."""

    stored: dict[str, Stored] = field(default_factory=dict)
    next_version: int = 100
    conflict_once: bool = False
    corrupt: dict[str, str] = field(default_factory=dict)
    saves: list[Save] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)

    async def load(self, policy: str) -> Stored:
        self.loads.append(policy)
        if policy in self.corrupt:
            raise CorruptState(self.corrupt[policy])
        assert policy in self.stored, f"the test did not script a state for policy {policy}"
        return self.stored[policy]

    async def save(self, policy: str, state: BurstState, expected_version: str | None) -> str:
        current = self.stored.get(policy)
        at = current.version if current is not None else None
        if self.conflict_once or expected_version != at:
            self.conflict_once = False
            raise StateConflict(
                f"fake: {policy} is at {at}, not {expected_version}",
                policy=policy,
                expected_version=expected_version,
            )
        version = str(self.next_version)
        self.next_version += 1
        self.stored[policy] = Stored(state, version)
        self.saves.append(Save(policy, state, expected_version, version))
        return version

    def saved(self, policy: str) -> list[Save]:
        return [s for s in self.saves if s.policy == policy]


@dataclass
class FakeCaches:
    """What ``Daemon._round`` reads of the watch caches: a snapshot. ``needed`` records the pools of the
    policies ``need`` was given (the daemon asks for what each runner decides on)."""

    snap: Snapshot
    synced: bool = True
    needed: list[list[str]] = field(default_factory=list)

    def snapshot(self) -> Snapshot:
        return self.snap

    def need(self, policies: Sequence[BurstPolicy]) -> None:
        self.needed.append([p.name for policy in policies for p in policy.spec.burst.pools])

    def unsynced(self) -> list[str]:
        return [] if self.synced else ["machines.cluster.x-k8s.io/v1beta2"]


def caches(snap: Snapshot) -> Caches:
    return cast(Caches, FakeCaches(snap))


def install(
    daemon: Daemon, real: tuple[FakeActuator, FakeStore], dry: tuple[FakeActuator, FakeStore]
) -> None:
    """Give the daemon fake actuator/store pairs, as ``Daemon.run`` would give it real ones."""
    daemon._io = {
        False: (cast(Actuator, real[0]), cast(StateStore, real[1])),
        True: (cast(Actuator, dry[0]), cast(StateStore, dry[1])),
    }
