"""The world snapshot the engine decides on: what the edges observed, already turned into values.

Every observation carries ``observed_at`` (seconds since the epoch, as given by the caller) so the engine
can tell fresh data from stale data without reading a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Resources:
    """CPU in cores and memory in bytes."""

    cpu: float = 0.0
    memory: float = 0.0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.memory - other.memory)

    def scale(self, factor: float) -> Resources:
        return Resources(self.cpu * factor, self.memory * factor)


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a signal and when it was observed."""

    value: float
    observed_at: float


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """A Karmada member cluster's ``status.resourceSummary`` (allocatable, allocated, allocating)."""

    name: str
    allocatable: Resources
    allocated: Resources
    allocating: Resources
    ready: bool
    observed_at: float
    #: When burstd first saw this summary (allocatable, allocated, allocating and Ready as they are now).
    #: Karmada's cluster status controller writes the status only when it changed, so a summary first seen
    #: before burstd last moved replicas (a weight write, a rebalance) still counts them where they were.
    #: None: unknown, taken as current.
    changed_at: float | None = None


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """One managed workload: its desired replicas (FederatedHPA or template), per-replica requests, and
    where the Karmada scheduler placed its replicas (ResourceBinding ``spec.clusters``)."""

    key: str  # "<namespace>/<propagationPolicy name>"
    desired_replicas: int
    request: Resources
    replicas_by_cluster: Mapping[str, int]
    ready_by_cluster: Mapping[str, int]
    unschedulable_replicas: int
    observed_at: float
    #: Static weights currently in the PropagationPolicy as written by anyone (cluster -> weight).
    weights: Mapping[str, int] = field(default_factory=dict)
    #: The weight list is owned by burstd's field manager alone: weights that differ from the state's were
    #: written by burstd after its last state save (a crash in between), not changed by someone else.
    weights_by_burstd: bool = False
    #: Karmada breaks ties between clusters in descending name order for this workload's binding (from the
    #: template's UID, ``burstd.engine.webster.descending_for``); ascending otherwise.
    ties_descending: bool = False


@dataclass(frozen=True, slots=True)
class MachineInfo:
    """A cloud node (a Cluster API Machine or a node-pool instance) and how busy it is."""

    name: str
    ready: bool
    pods: int
    created_at: float
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class PoolState:
    """What the capacity backend and the cloud provider report for one pool."""

    name: str
    desired: int  # nodes requested from the backend (spec.replicas)
    ready: int  # nodes Ready
    existing: int  # instances that exist and bill, as the cloud API reports them
    failed: int
    observed_at: float
    machines: tuple[MachineInfo, ...] = ()
    stock_out: bool = False  # the provider reports no stock / quota for this pool
    price_per_node_hour: float | None = None  # a live quote; the policy's static price otherwise
    #: how many more nodes the cloud account's quota allows in this pool (None: not quoted)
    quota_headroom: int | None = None
    #: why the provider cannot be asked or trusted for this pool right now (None: it can): e.g. the
    #: credentials were rejected, the API is unavailable and no fresh quote is left, or a pool priced by
    #: the provider has no quote. Such a pool does not grow.
    unavailable: str | None = None
    #: the machine-readable reason behind ``unavailable`` (``AuthFailed``, ``Unavailable``, ``NoQuote``, ...)
    unavailable_reason: str | None = None
    #: ids of cloud instances tagged for this pool with no Machine or node-pool member behind them
    orphans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FleetBudget:
    """What the fleet-wide limits leave to this policy after policies of higher priority."""

    max_nodes: int | None = None
    max_hourly_cost: float | None = None


@dataclass(frozen=True, slots=True)
class World:
    clusters: Mapping[str, ClusterSummary]
    workloads: tuple[WorkloadState, ...]
    pools: Mapping[str, PoolState]
    #: PromQL and other external signals, keyed by the condition's signal id (see engine.triggers).
    signals: Mapping[str, Sample] = field(default_factory=dict)
    budget: FleetBudget = field(default_factory=FleetBudget)
