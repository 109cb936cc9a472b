"""A small closed loop for engine tests: a base cluster, cloud pools whose nodes turn Ready after a delay,
and Karmada's Webster division of the desired replicas by the weights the engine wrote (or, in overflow
mode, Karmada's steady overflow placement, moved back only by a WorkloadRebalancer).

Knobs a test turns between steps: ``demand``, ``delay``, ``stock_out`` / :meth:`ToyFleet.run_out_of_stock`,
``stale_for``, ``failed``, ``quotes``, ``pods``, ``budget``, ``base_replicas``, ``extra`` (more workloads)
and ``files`` (the policy as the files have it; the fleet then decides on its effective policy, with the
retiring pools and workloads, as the daemon does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import settings

from burstd.engine import decide
from burstd.engine.capacity import replicas_per_node
from burstd.engine.retire import effective, retire
from burstd.engine.webster import webster
from burstd.model.actions import Action, MarkMachines, Rebalance, ScalePool, SetWeights
from burstd.model.decision import Decision
from burstd.model.state import BurstState, Phase
from burstd.model.world import (
    ClusterSummary,
    FleetBudget,
    MachineInfo,
    PoolState,
    Resources,
    WorkloadState,
    World,
)
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.sim.karmada import overflow

REQUEST = Resources(cpu=1.0, memory=2 * 2**30)

#: Hypothesis settings for the engine tests: the same examples on every run, no deadline, no database.
DETERMINISTIC = settings(derandomize=True, deadline=None, database=None)


def policy(**overrides: Any) -> BurstPolicy:
    """A small policy: base idc-1, two pools (8 replicas per node), quick intervals."""
    doc: dict[str, Any] = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "BurstPolicy",
        "metadata": {"name": "web"},
        "spec": {
            "workloads": [{"propagationPolicy": {"namespace": "shop", "name": "web"}}],
            "base": {"clusters": ["idc-1"]},
            "burst": {
                "headroom": "30%",
                "provisionTimeout": "10m",
                "pools": [
                    pool_doc("tke-a", "tke", 2.0),
                    pool_doc("ack-b", "ack", 3.0),
                ],
            },
            "triggers": {
                "scaleOut": {"any": [{"signal": "fhpa.unfitReplicas", "above": 0, "for": "30s"}]},
                "scaleIn": {"all": [{"signal": "fhpa.unfitReplicas", "below": -5, "for": "5m"}]},
            },
            "shift": {"maxStep": "25%", "interval": "30s"},
            "drain": {"minBurstDuration": "10m", "maxStep": "20%", "interval": "1m"},
            "limits": {"maxCloudNodes": 20},
        },
    }
    _merge(doc["spec"], overrides)
    parsed = parse_document(doc)
    assert isinstance(parsed, BurstPolicy)
    return parsed


def wide(**overrides: Any) -> BurstPolicy:
    """The toy policy with a first pool large enough (40 nodes) that sizing is not bent by pool maxima."""
    pools = [pool_doc("tke-a", "tke", 2.0, high=40), pool_doc("ack-b", "ack", 3.0)]
    burst: dict[str, Any] = {"pools": pools, **overrides.pop("burst", {})}
    limits: dict[str, Any] = {"maxCloudNodes": 60, **overrides.pop("limits", {})}
    return policy(burst=burst, limits=limits, **overrides)


def pool_doc(name: str, cluster: str, price: float, *, low: int = 0, high: int = 10) -> dict[str, Any]:
    """One pool of the toy policy: 8 CPU / 32Gi nodes (8 toy replicas each), static price per node-hour."""
    backend = "capi-machinedeployment"
    return {
        "name": name,
        "provider": "fake",
        "cluster": cluster,
        "backend": backend,
        "ref": {"namespace": "capi", "name": name},
        "nodes": {"min": low, "max": high},
        "allocatable": {"cpu": "8", "memory": "32Gi", "pods": 110},
        "price": {"perNodeHour": price, "currency": "CNY"},
    }


def _merge(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@dataclass
class Node:
    name: str
    ready_at: float
    created_at: float


@dataclass
class ToyFleet:
    policy: BurstPolicy
    base_replicas: int = 100
    delay: float = 180.0
    now: float = 1_700_000_000.0
    demand: int = 50
    nodes: dict[str, list[Node]] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)
    marked: dict[str, set[str]] = field(default_factory=dict)
    stock_out: set[str] = field(default_factory=set)
    state: BurstState = field(default_factory=BurstState)
    serial: int = 0
    stale_for: float = 0.0  # observations this old
    #: pods per machine name (MachineInfo.pods); 0 when not listed
    pods: dict[str, int] = field(default_factory=dict)
    #: failed node launches per pool (PoolState.failed)
    failed: dict[str, int] = field(default_factory=dict)
    #: live price quotes per pool (PoolState.price_per_node_hour)
    quotes: dict[str, float] = field(default_factory=dict)
    budget: FleetBudget = field(default_factory=FleetBudget)
    #: overflow mode only: where Karmada placed the replicas (see :meth:`schedule`)
    placed: dict[str, int] = field(default_factory=dict)
    #: overflow mode only: the demand ``placed`` was scheduled for (None: not yet, or refused)
    scheduled_for: int | None = None
    rebalances: int = 0
    history: list[tuple[float, Decision, World]] = field(default_factory=list)
    #: the weight lists are owned by burstd alone (``WorkloadState.weights_by_burstd``)
    own_weights: bool = False
    #: more workloads of the policy: key -> desired replicas (placed by their own weights, all served)
    extra: dict[str, int] = field(default_factory=dict)
    extra_weights: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the policy as the files have it: each decision is then made on ``effective(files, state)``
    files: BurstPolicy | None = None
    #: when set, the base's resource summary as Karmada last published it (a status that lags the pods);
    #: else the live one
    base_summary: ClusterSummary | None = None

    def __post_init__(self) -> None:
        self._pools()

    def _pools(self) -> None:
        for p in self.policy.spec.burst.pools:
            self.nodes.setdefault(p.name, [])
            self.marked.setdefault(p.name, set())

    def reload(self, files: BurstPolicy) -> None:
        """The daemon reloads the policy files: what ``files`` drops starts retiring (see engine.retire)."""
        self.state = retire(self.files or self.policy, files, self.state)
        self.files = files
        self.refresh()

    def refresh(self) -> None:
        if self.files is not None:
            self.policy = effective(self.files, self.state)
            self._pools()

    def managed(self) -> set[str]:
        return {w.propagation_policy.key for w in self.policy.spec.workloads}

    def assignment_of(self, key: str) -> dict[str, int]:
        """Where Karmada places an extra workload's replicas (Webster division of its weights)."""
        weights = self.extra_weights.get(key)
        return webster(self.extra[key], weights) if weights else {"idc-1": self.extra[key]}

    @property
    def key(self) -> str:
        return self.policy.spec.workloads[0].propagation_policy.key

    def per_node(self, pool: str) -> int:
        spec = next(p for p in self.policy.spec.burst.pools if p.name == pool)
        return replicas_per_node(spec, REQUEST)

    def ready(self, pool: str) -> int:
        return sum(1 for n in self.nodes[pool] if n.ready_at <= self.now)

    @property
    def overflow(self) -> bool:
        return self.policy.spec.shift.mode == "overflow"

    def clusters(self) -> list[str]:
        """The base cluster, then the cloud clusters (the overflow tiers, in order)."""
        return ["idc-1", *sorted({p.cluster for p in self.policy.spec.burst.pools})]

    def schedule(self, *, fresh: bool = False) -> None:
        """Overflow mode: the real scheduler's placement with overflow affinities (``burstd.sim.karmada.
        overflow``, checked against karmada-scheduler in tests/e2e/test_karmada_overflow.py), one tier per
        cluster: all of the replicas or, when they do not all fit, the previous assignment unchanged. Like
        the real scheduler, it schedules again only when the replicas changed, after a refusal (its retry),
        or for a WorkloadRebalancer (``fresh``): never because a cluster got room."""
        if not self.overflow:
            return
        if not fresh and self.scheduled_for == self.demand:
            return
        free = {c: max(0, self.capacity(c) - self.placed.get(c, 0)) for c in self.clusters()}
        placed = overflow(self.placed, self.demand, free, [[c] for c in self.clusters()], fresh=fresh)
        if placed is None:
            self.scheduled_for = None  # refused: retried next time
            return
        self.placed = {c: n for c, n in placed.items() if n > 0}
        self.scheduled_for = self.demand

    def assignment(self) -> dict[str, int]:
        if self.overflow:
            return dict(self.placed)
        if not self.weights:
            return {"idc-1": self.demand}
        return webster(self.demand, self.weights)

    def capacity(self, cluster: str) -> int:
        if cluster == "idc-1":
            return self.base_replicas
        return sum(
            self.ready(p.name) * self.per_node(p.name)
            for p in self.policy.spec.burst.pools
            if p.cluster == cluster
        )

    def world(self) -> World:
        seen = self.now - self.stale_for
        assign = self.assignment()
        served = {c: min(n, self.capacity(c)) for c, n in assign.items()}
        others = [k for k in sorted(self.extra) if k in self.managed()]
        extra = {k: self.assignment_of(k) for k in self.extra}
        base_assigned = assign.get("idc-1", 0) + sum(a.get("idc-1", 0) for a in extra.values())
        base_served = min(base_assigned, self.base_replicas)
        base = ClusterSummary(
            "idc-1",
            allocatable=REQUEST.scale(self.base_replicas),
            allocated=REQUEST.scale(base_served),
            allocating=REQUEST.scale(base_assigned - base_served),
            ready=True,
            observed_at=seen,
        )
        unschedulable = self.demand - sum(assign.values())
        workload = WorkloadState(
            self.key,
            self.demand,
            REQUEST,
            assign,
            served,
            unschedulable,
            seen,
            dict(self.weights),
            weights_by_burstd=self.own_weights,
        )
        more = tuple(
            WorkloadState(
                k,
                self.extra[k],
                REQUEST,
                extra[k],
                extra[k],
                0,
                seen,
                dict(self.extra_weights.get(k, {})),
                weights_by_burstd=self.own_weights,
            )
            for k in others
        )
        pools = {}
        for p in self.policy.spec.burst.pools:
            machines = tuple(
                MachineInfo(n.name, n.ready_at <= self.now, self.pods.get(n.name, 0), n.created_at)
                for n in self.nodes[p.name]
            )
            pools[p.name] = PoolState(
                p.name,
                desired=len(self.nodes[p.name]),
                ready=self.ready(p.name),
                existing=len(self.nodes[p.name]),
                failed=self.failed.get(p.name, 0),
                observed_at=seen,
                machines=machines,
                stock_out=p.name in self.stock_out,
                price_per_node_hour=self.quotes.get(p.name),
            )
        if self.base_summary is not None:
            base = replace(self.base_summary, observed_at=seen)
        return World({"idc-1": base}, (workload, *more), pools, budget=self.budget)

    def apply(self, action: Action) -> None:
        match action:
            case ScalePool(pool=pool, nodes=nodes):
                current = self.nodes[pool]
                while len(current) < nodes:
                    self.serial += 1
                    ready_at = float("inf") if pool in self.stock_out else self.now + self.delay
                    current.append(Node(f"{pool}-{self.serial}", ready_at, self.now))
                while len(current) > nodes:
                    marked = [n for n in current if n.name in self.marked[pool]]
                    victim = marked[0] if marked else current[-1]
                    current.remove(victim)
                    self.marked[pool].discard(victim.name)
            case MarkMachines(pool=pool, machines=machines):
                self.marked[pool].update(machines)
            case SetWeights(workload=key, weights=weights):
                if key == self.key:
                    self.weights = dict(weights)
                else:
                    self.extra_weights[key] = dict(weights)
            case Rebalance():
                self.rebalances += 1
                self.schedule(fresh=True)
            case _:
                pass

    def decide(self, seconds: float) -> Decision:
        """Advance the clock and decide on the world as it is, recording the decision; nothing is applied
        and the state is not kept (see :meth:`step` and :meth:`crash`)."""
        self.now += seconds
        self.refresh()
        self.schedule()
        world = self.world()
        decision = decide(world, self.policy, self.state, self.now)
        self.history.append((self.now, decision, world))
        return decision

    def step(self, seconds: float) -> Decision:
        """One whole round: decide, apply every action, keep the new state (the save)."""
        decision = self.decide(seconds)
        self.state = decision.state
        for action in decision.actions:
            self.apply(action)
        return decision

    def crash(self, decision: Decision, applied: int) -> None:
        """The process dies in the round that made ``decision``: after its first ``applied`` actions
        reached the cluster and before the new state was saved (``self.state`` stays the last save)."""
        for action in decision.actions[:applied]:
            self.apply(action)

    def run(self, seconds: float, tick: float = 10.0) -> None:
        end = self.now + seconds
        while self.now < end:
            self.step(tick)

    def cloud_nodes(self) -> int:
        return sum(len(v) for v in self.nodes.values())

    def run_out_of_stock(self, pool: str) -> None:
        """The provider runs out of stock for ``pool``: launches in flight never turn Ready, and new ones
        neither while the stock-out lasts."""
        self.stock_out.add(pool)
        for node in self.nodes[pool]:
            if node.ready_at > self.now:
                node.ready_at = float("inf")

    def targets(self) -> dict[str, int]:
        """Node count per pool, as the backend holds them now."""
        return {name: len(nodes) for name, nodes in self.nodes.items()}

    def cloud_share(self) -> int:
        """Replicas Karmada's division of the current weights sends to cloud clusters."""
        return sum(n for c, n in self.assignment().items() if c != "idc-1")

    def phases(self) -> list[Phase]:
        """The phases the engine went through, consecutive repeats collapsed (the starting IDLE included)."""
        out = [Phase.IDLE]
        for _, decision, _ in self.history:
            if decision.state.phase != out[-1]:
                out.append(decision.state.phase)
        return out
