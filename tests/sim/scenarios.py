"""Small hand-made scenarios for the simulator tests: a base cluster idc-1 and one or two cloud pools whose
nodes hold 7 replicas (cpu request 1, 7.6 cpu allocatable), priced so that one node-second costs 0.001."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from burstd.model.actions import Action, Hold, ScalePool, SetWeights
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy, parse_document
from burstd.sim.fleet import parse_fleet
from burstd.sim.scenario import Scenario, build_scenario
from burstd.sim.trace import Trace

PRICE = 3.6  # per node-hour: 0.001 per node-second


def pool_doc(name: str, cluster: str, price: float = PRICE, max_nodes: int = 10) -> dict[str, Any]:
    return {
        "name": name,
        "provider": "fake",
        "cluster": cluster,
        "backend": "capi-machinedeployment",
        "ref": {"namespace": "capi", "name": name},
        "nodes": {"min": 0, "max": max_nodes},
        "allocatable": {"cpu": "7600m", "memory": "28Gi", "pods": 64},
        "price": {"perNodeHour": price, "currency": "CNY"},
    }


def policy_doc(pools: Sequence[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "BurstPolicy",
        "metadata": {"name": "test"},
        "spec": {
            "workloads": [{"propagationPolicy": {"namespace": "shop", "name": "web"}}],
            "base": {"clusters": ["idc-1"]},
            "burst": {"pools": list(pools) if pools is not None else [pool_doc("cloud-a", "cloud-a")]},
            "triggers": {
                "scaleOut": {"any": [{"signal": "fhpa.unfitReplicas", "above": 0, "for": "0s"}]},
                "scaleIn": {"all": [{"signal": "fhpa.unfitReplicas", "below": -5, "for": "5m"}]},
            },
            "limits": {"maxCloudNodes": 20},
        },
    }
    doc["spec"].update(spec)
    return doc


def make_policy(pools: Sequence[dict[str, Any]] | None = None, **spec: Any) -> BurstPolicy:
    doc = parse_document(policy_doc(pools, **spec))
    assert isinstance(doc, BurstPolicy)
    return doc


def fleet_doc(**spec: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "SimulatedFleet",
        "metadata": {"name": "test"},
        "spec": {
            "request": {"cpu": "1", "memory": "1Gi"},
            "peakReplicas": 1,
            "base": {"replicas": 10},
            "statusRefresh": "0s",
            "poolDefaults": {"provisionDelay": "3m", "deletionDelay": "30s"},
        },
    }
    spec_doc = copy.deepcopy(doc["spec"])
    spec_doc.update(spec)
    doc["spec"] = spec_doc
    return doc


def step_trace(points: Sequence[tuple[float, float]], end: float, step: float = 60.0) -> Trace:
    """A trace on a ``step`` grid from 0 to ``end`` holding each (time, value) until the next one."""
    times: list[float] = []
    values: list[float] = []
    t = 0.0
    i = 0
    while t < end:
        while i + 1 < len(points) and points[i + 1][0] <= t:
            i += 1
        times.append(t)
        values.append(points[i][1])
        t += step
    return Trace("step", tuple(times), tuple(values), step, len(times), 0)


def scenario(
    points: Sequence[tuple[float, float]],
    end: float,
    *,
    base: int = 10,
    policy: BurstPolicy | None = None,
    fleet: dict[str, Any] | None = None,
    seed: int = 0,
) -> Scenario:
    """Demand in replicas (peak = the largest value, so replicas are the values themselves)."""
    trace = step_trace(points, end)
    peak = int(max(v for _, v in points))
    fleet_model = parse_fleet(fleet if fleet is not None else fleet_doc())
    return build_scenario(
        policy or make_policy(), fleet_model, trace, peak_replicas=peak, base_replicas=str(base), seed=seed
    )


class Scripted:
    """A throw-away decider: scales ``pool`` to ``nodes`` at the given times (seconds since the trace start)
    and otherwise holds; records when it was called."""

    def __init__(self, epoch: float, plan: Sequence[tuple[float, str, int]]) -> None:
        self.epoch = epoch
        self.plan = list(plan)
        self.calls: list[float] = []
        self.worlds: list[World] = []

    def __call__(self, world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
        t = now - self.epoch
        self.calls.append(t)
        self.worlds.append(world)
        actions: list[Action] = []
        for at, pool, nodes in self.plan:
            if at <= t:
                current = world.pools[pool].desired
                actions.append(ScalePool(pool, nodes, current, "scripted"))
        self.plan = [p for p in self.plan if p[0] > t]
        wake = min((at for at, _, _ in self.plan), default=None)
        return Decision(
            state, tuple(actions) or (Hold("scripted"),), (), None if wake is None else self.epoch + wake
        )


def follow_demand(world: World, policy: BurstPolicy, state: BurstState, now: float) -> Decision:
    """A naive decider: enough nodes for everything above the base, weights by Ready capacity."""
    workload = world.workloads[0]
    base = world.clusters["idc-1"]
    base_cap = round(base.allocatable.cpu / workload.request.cpu)
    above = max(0, workload.desired_replicas - base_cap)
    actions: list[Action] = []
    pool = world.pools["cloud-a"]
    nodes = -(-above // 7)
    if nodes != pool.desired:
        actions.append(ScalePool("cloud-a", nodes, pool.desired, "follow demand"))
    weights = {"idc-1": max(1, base_cap)}
    if pool.ready:
        weights["cloud-a"] = pool.ready * 7
    if weights != dict(workload.weights):
        actions.append(
            SetWeights(workload.key, tuple(weights.items()), (), workload.desired_replicas, "follow")
        )
    return Decision(state, tuple(actions) or (Hold("nothing"),), (), None)
