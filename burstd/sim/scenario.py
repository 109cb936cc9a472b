"""A scenario: the policy, the fleet and the trace resolved into the plain numbers the three runs share.

Time inside the simulator is seconds since the trace start; the engine is given
``epoch + t`` where ``epoch = fleet.startTime + first timestamp_s`` for a CSV trace, and the real time of the
first sample for a history with real times (``Trace.origin``: Prometheus).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from burstd.engine.webster import webster
from burstd.model.world import Resources
from burstd.policy.spec import BurstPolicy
from burstd.sim.fleet import POOL_DEFAULTS, PoolSim, SimulatedFleet
from burstd.sim.trace import Trace, parse_base_replicas, resolve_base_replicas, scale_to_replicas


class ScenarioError(ValueError):
    """The policy, fleet and overrides do not fit together; the message says which field to change."""


@dataclass(frozen=True, slots=True)
class PoolModel:
    """One cloud pool as the simulator sees it."""

    name: str
    cluster: str
    index: int  # position in the policy's list
    min_nodes: int
    max_nodes: int
    allocatable: Resources
    pods_per_node: int
    replicas_per_node: int
    price_per_node_hour: float
    price_overridden: bool
    provision_delay: float
    deletion_delay: float
    stock_outs: tuple[tuple[float, float], ...]  # (from, to) in seconds since the trace start
    stock_out_probability: float
    stock_out_duration: float
    launch_failure_probability: float
    #: instances the simulated account's quota allows in this pool (None: no limit)
    quota: int | None = None
    #: the pool's price currency (its policy price's, else the scenario's)
    currency: str = "CNY"

    def utilisation(self, pods: int, request: Resources) -> float:
        """Requested share of the node: the larger of cpu and memory (as Cluster Autoscaler computes it)."""
        cpu = pods * request.cpu / self.allocatable.cpu if self.allocatable.cpu > 0 else 1.0
        mem = pods * request.memory / self.allocatable.memory if self.allocatable.memory > 0 else 1.0
        return max(cpu, mem)


@dataclass(frozen=True, slots=True)
class Scenario:
    trace: Trace
    policy: BurstPolicy
    #: desired replicas as change points: times (seconds since the trace start) and values
    times: tuple[float, ...]
    replicas: tuple[int, ...]
    end: float
    epoch: float
    peak_replicas: int
    base_spec: int | str
    base_replicas: int
    base_capacity: tuple[tuple[str, int], ...]  # per base cluster
    request: Resources
    pools: tuple[PoolModel, ...]
    cloud_clusters: tuple[str, ...]
    max_cloud_nodes: int | None
    mode: Literal["static-weights", "overflow"]
    status_refresh: float
    workload: str
    seed: int
    currency: str
    #: how long the burstd run trusts a quote from the simulated cloud
    quote_ttl: float = 60.0

    @property
    def base_clusters(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.base_capacity)

    def pool(self, name: str) -> PoolModel:
        for p in self.pools:
            if p.name == name:
                return p
        raise KeyError(name)


def build_scenario(
    policy: BurstPolicy,
    fleet: SimulatedFleet,
    trace: Trace,
    *,
    peak_replicas: int | None = None,
    base_replicas: str | None = None,
    provision_delay: float | None = None,
    seed: int = 0,
) -> Scenario:
    """Resolve everything. Raises ScenarioError (policy/fleet mismatch) or ValueError (bad override)."""
    spec = fleet.spec
    peak = peak_replicas if peak_replicas is not None else spec.peak_replicas
    if peak < 1:
        raise ScenarioError(f"--peak-replicas must be at least 1, got {peak}")
    base_spec = parse_base_replicas(base_replicas) if base_replicas is not None else spec.base.replicas
    scaled = scale_to_replicas(trace.values, peak)
    base_total = resolve_base_replicas(base_spec, scaled)

    base_names = list(policy.spec.base.clusters)
    if spec.base.clusters is not None and sorted(spec.base.clusters) != sorted(base_names):
        raise ScenarioError(
            f"fleet spec.base.clusters {spec.base.clusters} does not match the policy's "
            f"spec.base.clusters {base_names}"
        )
    split = webster(base_total, dict.fromkeys(base_names, 1))
    base_capacity = tuple((name, split.get(name, 0)) for name in base_names)

    request = Resources(spec.request.cpu, spec.request.memory)
    pool_names = [p.name for p in policy.spec.burst.pools]
    unknown = sorted(set(spec.pools) - set(pool_names))
    if unknown:
        raise ScenarioError(
            f"fleet spec.pools names {', '.join(unknown)}, which the policy does not have; "
            f"the policy's pools are: {', '.join(pool_names)}"
        )
    pools = []
    for i, p in enumerate(policy.spec.burst.pools):
        sim = _merge(spec.pools.get(p.name), spec.pool_defaults)
        alloc = Resources(p.allocatable.cpu, p.allocatable.memory)
        per_node = min(
            math.floor(alloc.cpu / request.cpu + 1e-9),
            math.floor(alloc.memory / request.memory + 1e-9),
            p.allocatable.pods,
        )
        if per_node < 1:
            raise ScenarioError(
                f"a replica (cpu {request.cpu:g}, memory {request.memory:g} bytes) does not fit "
                f"on a node of pool {p.name} (allocatable cpu {alloc.cpu:g}, memory "
                f"{alloc.memory:g} bytes)"
            )
        if sim.price_per_node_hour is not None:
            price, overridden = sim.price_per_node_hour, True
        elif p.price is not None and p.price.per_node_hour is not None:
            price, overridden = p.price.per_node_hour, False
        else:
            raise ScenarioError(
                f"pool {p.name} takes its price from the provider's quotes; give the simulated cloud a "
                f"price with fleet spec.pools.{p.name}.pricePerNodeHour"
            )
        pools.append(
            PoolModel(
                name=p.name,
                cluster=p.cluster,
                index=i,
                min_nodes=p.nodes.min,
                max_nodes=p.nodes.max,
                allocatable=alloc,
                pods_per_node=p.allocatable.pods,
                replicas_per_node=per_node,
                price_per_node_hour=price,
                price_overridden=overridden,
                provision_delay=provision_delay if provision_delay is not None else _set(sim.provision_delay),
                deletion_delay=_set(sim.deletion_delay),
                stock_outs=tuple(sorted((w.from_, w.to) for w in sim.stock_outs or ())),
                stock_out_probability=_set(sim.stock_out_probability),
                stock_out_duration=_set(sim.stock_out_duration),
                launch_failure_probability=_set(sim.launch_failure_probability),
                quota=sim.quota,
                currency=p.price.currency if p.price is not None else "CNY",
            )
        )
    cloud = tuple(dict.fromkeys(p.cluster for p in pools))
    currencies = {p.price.currency for p in policy.spec.burst.pools if p.price is not None}
    times, values = _change_points(trace, scaled)
    return Scenario(
        trace=trace,
        policy=policy,
        times=times,
        replicas=values,
        end=trace.duration,
        # a history with real times (Prometheus) runs at those times; a CSV trace at the fleet's startTime
        epoch=(spec.start_time.timestamp() if trace.origin is None else trace.origin) + trace.start,
        peak_replicas=peak,
        base_spec=base_spec,
        base_replicas=base_total,
        base_capacity=base_capacity,
        request=request,
        pools=tuple(pools),
        cloud_clusters=cloud,
        max_cloud_nodes=policy.spec.limits.max_cloud_nodes,
        mode=policy.spec.shift.mode,
        status_refresh=spec.status_refresh,
        workload=policy.spec.workloads[0].propagation_policy.key,
        seed=seed,
        currency=min(currencies) if currencies else "CNY",
        quote_ttl=spec.quote_ttl,
    )


def _set(value: float | None) -> float:
    """A merged pool setting; the built-in defaults set every one."""
    if value is None:  # pragma: no cover - POOL_DEFAULTS sets every field
        raise ScenarioError("internal error: a pool setting has no default")
    return value


def _merge(pool: PoolSim | None, defaults: PoolSim) -> PoolSim:
    """Each field from the pool's own settings, else ``poolDefaults``, else the built-in defaults."""
    values = {}
    for name in PoolSim.model_fields:
        for layer in (pool, defaults, POOL_DEFAULTS):
            if layer is not None and getattr(layer, name) is not None:
                values[name] = getattr(layer, name)
                break
    return PoolSim.model_construct(**values)


def _change_points(trace: Trace, scaled: list[int]) -> tuple[tuple[float, ...], tuple[int, ...]]:
    times: list[float] = []
    values: list[int] = []
    for t, v in zip(trace.times, scaled, strict=True):
        if not values or v != values[-1]:
            times.append(t - trace.start)
            values.append(v)
    return tuple(times), tuple(values)
