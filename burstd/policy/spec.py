"""BurstPolicy and FleetLimits: the pydantic models SREs write as YAML, and their cross-field checks.

Pure: no I/O. ``burstd.policy.loader`` reads files and maps errors to ``FILE:LINE:COL``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from burstd.policy.units import (
    MAX_HOURLY_COST,
    MAX_NODES,
    MAX_PODS,
    MAX_PRICE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    AboveZero,
    CpuQuantity,
    Duration,
    MemoryQuantity,
    Percent,
    PositiveDuration,
    PositiveWindowDuration,
    Step,
    Threshold,
    WindowDuration,
)

API_VERSION = "burstd.io/v1alpha1"

#: Signals burstd computes itself from the Karmada caches (see the policy reference in the README).
BUILTIN_SIGNALS: dict[str, str] = {
    "base.cpu.requestedRatio": "(allocated + allocating) / allocatable CPU over the base clusters",
    "base.memory.requestedRatio": "(allocated + allocating) / allocatable memory over the base clusters",
    "fhpa.unfitReplicas": "desired replicas of the managed workloads minus the replicas the base can hold "
    "(negative when the base has room)",
    "workload.unschedulableReplicas": "replicas of the managed workloads that the scheduler could not place",
}

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: a key shown as is in a field path; any other is quoted
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class StrictModel(BaseModel):
    """Base of every document model: unknown keys are errors, values are frozen, YAML keys are camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=True,
    )


class ObjectMeta(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class NamespacedRef(StrictModel):
    namespace: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
    name: Annotated[str, Field(min_length=1, max_length=253)]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class WorkloadSpec(StrictModel):
    """A workload burstd moves between base and cloud: its PropagationPolicy and optional FederatedHPA."""

    propagation_policy: NamespacedRef
    federated_hpa: Annotated[NamespacedRef | None, Field(alias="federatedHPA")] = None


class Reserve(StrictModel):
    cpu: Percent = 0.0
    memory: Percent = 0.0


class BaseSpec(StrictModel):
    clusters: Annotated[list[str], Field(min_length=1)]
    reserve: Reserve = Field(default_factory=Reserve)


#: a number of nodes: 0 to MAX_NODES
Nodes = Annotated[int, Field(ge=0, le=MAX_NODES)]


class NodeRange(StrictModel):
    min: Nodes = 0
    max: Nodes


class NodeAllocatable(StrictModel):
    """What one node of the pool offers to pods (``node.status.allocatable``)."""

    cpu: Annotated[CpuQuantity, AboveZero]
    memory: Annotated[MemoryQuantity, AboveZero]
    pods: Annotated[int, Field(ge=1, le=MAX_PODS)] = 110


class Price(StrictModel):
    """Where a pool's price comes from: a static price per node-hour, or the provider's live quote."""

    source: Literal["static", "provider"] = "static"
    per_node_hour: Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"


class NodePoolRef(StrictModel):
    """A native TKE or ACK node pool."""

    cluster_id: Annotated[str, Field(min_length=1)]
    node_pool_id: Annotated[str, Field(min_length=1)]


Backend = Literal["capi-machinedeployment", "capi-machinepool", "tke-nodepool", "ack-nodepool"]


class PoolSpec(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
    provider: Annotated[str, Field(min_length=1)]
    cluster: Annotated[str, Field(min_length=1)]
    backend: Backend
    ref: NamespacedRef | None = None
    node_pool: NodePoolRef | None = None
    nodes: NodeRange
    instance_type: str | None = None
    zone: str | None = None
    allocatable: NodeAllocatable
    price: Price | None = None


class BurstSpec(StrictModel):
    pools: Annotated[list[PoolSpec], Field(min_length=1)]
    order: Literal["listed", "cheapest-available"] = "listed"
    #: spare capacity kept while bursting, as a share of the cloud part of the demand (the replicas the
    #: base's room cannot hold); no spare while the base holds the demand
    headroom: Annotated[
        Percent,
        Field(
            description="Percentage such as '10%': spare cloud capacity kept while bursting, as a share of "
            "the replicas the base's room cannot hold (the cloud part of the demand, not the whole demand)."
        ),
    ] = 0.1
    provision_timeout: PositiveDuration = 600.0


class Condition(StrictModel):
    signal: str | None = None
    promql: str | None = None
    above: Threshold | None = None
    below: Threshold | None = None
    for_: Annotated[Duration, Field(alias="for")] = 0.0

    @model_validator(mode="after")
    def _one_of_each(self) -> Condition:
        if (self.signal is None) == (self.promql is None):
            raise ValueError("set exactly one of 'signal' (a built-in signal) or 'promql' (a query)")
        if (self.above is None) == (self.below is None):
            raise ValueError("set exactly one of 'above' or 'below'")
        if self.signal is not None and self.signal not in BUILTIN_SIGNALS:
            known = ", ".join(sorted(BUILTIN_SIGNALS))
            raise ValueError(f"unknown signal {self.signal!r}; built-in signals are: {known}")
        return self

    @property
    def signal_id(self) -> str:
        """The key of this condition's samples in ``World.signals`` (built-in name or ``promql:<query>``)."""
        return self.signal if self.signal is not None else f"promql:{self.promql}"

    @property
    def threshold(self) -> float:
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    def met(self, value: float) -> bool:
        if self.above is not None:
            return value > self.above
        return value < self.below  # type: ignore[operator]


class ConditionGroup(StrictModel):
    any_: Annotated[list[Condition] | None, Field(alias="any", min_length=1)] = None
    all_: Annotated[list[Condition] | None, Field(alias="all", min_length=1)] = None

    @model_validator(mode="after")
    def _one_combinator(self) -> ConditionGroup:
        if (self.any_ is None) == (self.all_ is None):
            raise ValueError("set exactly one of 'any' or 'all', each a list of conditions")
        return self

    @property
    def mode(self) -> Literal["any", "all"]:
        return "any" if self.any_ is not None else "all"

    @property
    def conditions(self) -> list[Condition]:
        return self.any_ if self.any_ is not None else self.all_  # type: ignore[return-value]


class ScheduleWindow(StrictModel):
    """Pre-warm: keep at least ``minNodes`` cloud nodes Ready for ``duration`` after each cron time."""

    name: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
    cron: str
    duration: PositiveDuration
    time_zone: str = "UTC"
    min_nodes: Nodes

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}; expected 5 fields, e.g. '0 8 * * 1-5'")
        return value

    @field_validator("time_zone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; expected an IANA name such as 'Asia/Shanghai'"
            ) from None
        return value


class Triggers(StrictModel):
    scale_out: ConditionGroup
    scale_in: ConditionGroup
    schedules: list[ScheduleWindow] = Field(default_factory=list)


class ShiftSpec(StrictModel):
    mode: Literal["static-weights", "overflow"] = "static-weights"
    #: largest move per step: replicas (an integer) or a share of the workload's desired replicas ('20%')
    max_step: Step = 0.2
    interval: PositiveDuration = 30.0


class DrainSpec(StrictModel):
    min_burst_duration: Duration = 1200.0
    #: a burst never shrinks below what the highest demand of this trailing window needs
    stabilization_window: WindowDuration = 600.0
    max_step: Step = 0.1
    interval: PositiveDuration = 120.0


class Money(StrictModel):
    amount: Annotated[float, Field(gt=0, le=MAX_HOURLY_COST, allow_inf_nan=False)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"


class Limits(StrictModel):
    max_cloud_nodes: Nodes | None = None
    max_hourly_cost: Money | None = None


class Safety(StrictModel):
    signal_max_age: PositiveDuration = 120.0
    stockout_backoff: PositiveDuration = 600.0


class Predictive(StrictModel):
    """Forecast demand one provisioning delay ahead from the recent trend and the same time yesterday."""

    enabled: bool = False
    horizon: WindowDuration = 180.0
    lookback: PositiveWindowDuration = 900.0
    seasonality: bool = True


class BurstPolicySpec(StrictModel):
    priority: Annotated[int, Field(ge=MIN_PRIORITY, le=MAX_PRIORITY)] = 0
    dry_run: bool = False
    #: hold this policy: no action, no alert, its state left as it is; resuming continues from that state
    paused: bool = False
    workloads: Annotated[list[WorkloadSpec], Field(min_length=1)]
    base: BaseSpec
    burst: BurstSpec
    triggers: Triggers
    shift: ShiftSpec = Field(default_factory=ShiftSpec)
    drain: DrainSpec = Field(default_factory=DrainSpec)
    limits: Limits = Field(default_factory=Limits)
    safety: Safety = Field(default_factory=Safety)
    predictive: Predictive = Field(default_factory=Predictive)


class BurstPolicy(StrictModel):
    api_version: Literal["burstd.io/v1alpha1"]
    kind: Literal["BurstPolicy"]
    metadata: ObjectMeta
    spec: BurstPolicySpec

    @property
    def name(self) -> str:
        return self.metadata.name


class FleetLimitsSpec(StrictModel):
    max_cloud_nodes: Nodes | None = None
    max_hourly_cost: Money | None = None


class FleetLimits(StrictModel):
    """Limits shared by every policy; when policies compete, higher ``spec.priority`` is served first."""

    api_version: Literal["burstd.io/v1alpha1"]
    kind: Literal["FleetLimits"]
    metadata: ObjectMeta
    spec: FleetLimitsSpec


Document = BurstPolicy | FleetLimits
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: where (a path of keys and indexes) and what."""

    loc: Loc
    message: str

    @property
    def path(self) -> str:
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            elif not _PLAIN_KEY.fullmatch(part):  # e.g. an unknown key ' ' or 'a.b': quoted, never blank
                out += f"[{part!r}]"
            else:
                out += f".{part}" if out else part
        return out or "(document)"


class PolicyInvalid(ValueError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))


def parse_document(data: Any) -> Document:
    """Validate one YAML document (already parsed) as a BurstPolicy or FleetLimits, with every check.

    Raises PolicyInvalid listing every problem found.
    """
    if not isinstance(data, dict):
        raise PolicyInvalid(
            [Problem((), f"expected a mapping with apiVersion and kind, got {_kind_of(data)}")]
        )
    api_version = data.get("apiVersion")
    if api_version != API_VERSION:
        raise PolicyInvalid([Problem(("apiVersion",), f"expected {API_VERSION!r}, got {api_version!r}")])
    kind = data.get("kind")
    model: type[BurstPolicy] | type[FleetLimits]
    if kind == "BurstPolicy":
        model = BurstPolicy
    elif kind == "FleetLimits":
        model = FleetLimits
    else:
        raise PolicyInvalid([Problem(("kind",), f"expected 'BurstPolicy' or 'FleetLimits', got {kind!r}")])
    try:
        doc = model.model_validate(data)
    except ValidationError as exc:
        raise PolicyInvalid([_problem(err) for err in exc.errors(include_url=False)]) from None
    problems = list(cross_check(doc)) if isinstance(doc, BurstPolicy) else []
    if problems:
        raise PolicyInvalid(problems)
    return doc


def _kind_of(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _problem(err: Any) -> Problem:
    loc = tuple(err["loc"])
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see the policy reference)"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    # Drop pydantic's union-branch names (e.g. 'int', 'function-before[...]') from the location.
    clean = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"int", "float"})))
    return Problem(clean, message)


def cross_check(policy: BurstPolicy) -> Iterator[Problem]:
    """Checks that span several fields. Each problem points at the field to change."""
    spec = policy.spec
    base = set()
    for i, cluster in enumerate(spec.base.clusters):
        if cluster in base:
            yield Problem(("spec", "base", "clusters", i), f"cluster {cluster!r} is listed twice")
        base.add(cluster)
    seen_wl: set[str] = set()
    for i, wl in enumerate(spec.workloads):
        key = wl.propagation_policy.key
        if key in seen_wl:
            yield Problem(("spec", "workloads", i, "propagationPolicy"), f"workload {key!r} is listed twice")
        seen_wl.add(key)
    names: set[str] = set()
    limit_currency = spec.limits.max_hourly_cost.currency if spec.limits.max_hourly_cost else None
    for i, pool in enumerate(spec.burst.pools):
        at: Loc = ("spec", "burst", "pools", i)
        if pool.name in names:
            yield Problem((*at, "name"), f"pool name {pool.name!r} is used twice; pool names must be unique")
        names.add(pool.name)
        if pool.cluster in base:
            yield Problem(
                (*at, "cluster"),
                f"cluster {pool.cluster!r} is both a base cluster and a burst "
                "cluster; a cluster is one or the other",
            )
        if pool.nodes.min > pool.nodes.max:
            yield Problem(
                (*at, "nodes", "min"), f"min ({pool.nodes.min}) is greater than max ({pool.nodes.max})"
            )
        if pool.backend.startswith("capi-"):
            if pool.ref is None:
                yield Problem(
                    (*at, "ref"),
                    f"backend {pool.backend} needs ref: {{namespace, name}} of the Cluster API object",
                )
            if pool.node_pool is not None:
                yield Problem((*at, "nodePool"), f"nodePool is for native node pools, not {pool.backend}")
        else:
            if pool.node_pool is None:
                yield Problem(
                    (*at, "nodePool"), f"backend {pool.backend} needs nodePool: {{clusterId, nodePoolId}}"
                )
            if pool.ref is not None:
                yield Problem((*at, "ref"), f"ref is for Cluster API backends, not {pool.backend}")
        if pool.price is None:
            yield Problem(
                (*at, "price"),
                "pool has no price source; set price.perNodeHour, or "
                "price.source: provider to use the provider's live quote",
            )
        elif pool.price.source == "static" and pool.price.per_node_hour is None:
            yield Problem((*at, "price", "perNodeHour"), "price.source is static but perNodeHour is not set")
        elif limit_currency and pool.price.currency != limit_currency:
            yield Problem(
                (*at, "price", "currency"),
                f"currency {pool.price.currency} differs from "
                f"limits.maxHourlyCost.currency {limit_currency}; use one currency per policy",
            )
    max_nodes = spec.limits.max_cloud_nodes
    min_sum = sum(p.nodes.min for p in spec.burst.pools)
    max_sum = sum(p.nodes.max for p in spec.burst.pools)
    if max_nodes is not None and min_sum > max_nodes:
        yield Problem(
            ("spec", "limits", "maxCloudNodes"),
            f"the pools' minimum sizes add up to {min_sum} nodes, "
            f"above maxCloudNodes ({max_nodes}): the limit could never be met",
        )
    for i, window in enumerate(spec.triggers.schedules):
        at = ("spec", "triggers", "schedules", i, "minNodes")
        if window.min_nodes > max_sum:
            yield Problem(at, f"minNodes ({window.min_nodes}) is more than all pools can hold ({max_sum})")
        elif max_nodes is not None and window.min_nodes > max_nodes:
            yield Problem(at, f"minNodes ({window.min_nodes}) is above limits.maxCloudNodes ({max_nodes})")
    yield from _dead_band(spec.triggers)
    if spec.shift.mode == "overflow" and spec.predictive.enabled and spec.predictive.horizon <= 0:
        yield Problem(("spec", "predictive", "horizon"), "horizon must be above 0s")


def _dead_band(triggers: Triggers) -> Iterator[Problem]:
    """A scale-in threshold must sit on the calm side of the scale-out threshold of the same signal."""
    group_key = "any" if triggers.scale_out.any_ is not None else "all"
    outs = {c.signal_id: c for c in triggers.scale_out.conditions}
    in_key = "any" if triggers.scale_in.any_ is not None else "all"
    for i, cond in enumerate(triggers.scale_in.conditions):
        at: Loc = ("spec", "triggers", "scaleIn", in_key, i)
        out = outs.get(cond.signal_id)
        if out is None:
            continue
        name = cond.signal or cond.promql
        if out.above is not None:
            if cond.below is None:
                yield Problem(
                    (*at, "above"),
                    f"{name}: scale-out is 'above {out.above:g}', so scale-in must be 'below' a lower value",
                )
            elif cond.below >= out.above:
                yield Problem(
                    (*at, "below"),
                    f"{name}: scale-in threshold {cond.below:g} must be below the "
                    f"scale-out threshold {out.above:g} (spec.triggers.scaleOut.{group_key}) to leave "
                    "a dead band",
                )
        elif out.below is not None:
            if cond.above is None:
                yield Problem(
                    (*at, "below"),
                    f"{name}: scale-out is 'below {out.below:g}', so scale-in must be 'above' a higher value",
                )
            elif cond.above <= out.below:
                yield Problem(
                    (*at, "above"),
                    f"{name}: scale-in threshold {cond.above:g} must be above the "
                    f"scale-out threshold {out.below:g} to leave a dead band",
                )
