"""SimulatedFleet: the YAML document that describes the simulated fleet around a BurstPolicy.

Pure pydantic models (extra fields are errors), validated like policies: problems are reported with the
path of the field and, by ``burstd.sim.files``, with its line and column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationError,
    model_validator,
)

from burstd.policy.spec import ObjectMeta, PolicyInvalid, Problem, StrictModel
from burstd.policy.units import MAX_PRICE, CpuQuantity, Duration, MemoryQuantity, PositiveDuration
from burstd.sim.trace import parse_base_replicas

KIND = "SimulatedFleet"
API_VERSION = "burstd.io/v1alpha1"

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: the largest simulated demand (as ``burstd simulate --peak-replicas``): keeps the run's memory bounded
MAX_PEAK_REPLICAS = 1_000_000


def _base_replicas(value: Any) -> int | str:
    if isinstance(value, (int, str)):
        return parse_base_replicas(value)
    raise ValueError(f"expected a number of replicas (e.g. 180) or a percentile (e.g. p70), got {value!r}")


BaseReplicas = Annotated[int | str, BeforeValidator(_base_replicas)]


class ReplicaRequest(StrictModel):
    """What one replica of the workload requests (``resources.requests``)."""

    cpu: CpuQuantity
    memory: MemoryQuantity

    @model_validator(mode="after")
    def _positive(self) -> ReplicaRequest:
        if self.cpu <= 0 or self.memory <= 0:
            raise ValueError("a replica must request some cpu and some memory")
        return self


class BaseSim(StrictModel):
    """The base: which clusters (default: the policy's ``spec.base.clusters``) and how many replicas fit."""

    clusters: list[str] | None = None
    #: replicas the base holds: a number, or ``pNN``, a percentile of the scaled trace
    replicas: BaseReplicas


class StockOutWindow(StrictModel):
    """A time when the pool has no stock, relative to the trace start (e.g. ``from: 2d3h``)."""

    from_: Annotated[Duration, Field(alias="from")]
    to: Duration

    @model_validator(mode="after")
    def _ordered(self) -> StockOutWindow:
        if self.to <= self.from_:
            raise ValueError("'to' must be after 'from'")
        return self


class PoolSim(StrictModel):
    """How one pool behaves in the simulation. Every field is optional; unset ones come from
    ``poolDefaults`` and then from the built-in defaults."""

    provision_delay: Duration | None = None
    deletion_delay: Duration | None = None
    stock_outs: list[StockOutWindow] | None = None
    #: chance that a launch finds no stock; it then opens a stock-out window of ``stockOutDuration``
    stock_out_probability: Probability | None = None
    stock_out_duration: Duration | None = None
    #: chance that a launched node never becomes Ready (billed until it fails at the provision delay)
    launch_failure_probability: Probability | None = None
    #: the simulated cloud's price (what its quotes say), needed for pools priced by the provider's live
    #: quote (``price.source: provider``); other pools default to their policy price
    price_per_node_hour: Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)] | None = None
    #: how many instances of the pool the simulated account's quota allows (unset: no quota to speak of)
    quota: Annotated[int, Field(ge=0)] | None = None


class FleetSpec(StrictModel):
    start_time: AwareDatetime = Field(
        default_factory=lambda: datetime.fromisoformat("2026-01-05T00:00:00+00:00")
    )
    request: ReplicaRequest
    peak_replicas: Annotated[int, Field(ge=1, le=MAX_PEAK_REPLICAS)]
    base: BaseSim
    #: how often Karmada refreshes cluster status (``--cluster-status-update-frequency``); 0s: no lag
    status_refresh: Duration = 10.0
    #: how long burstd trusts a quote from the simulated cloud (the daemon's ``cloud.quoteTTL``)
    quote_ttl: Annotated[PositiveDuration, Field(alias="quoteTTL")] = 60.0
    pool_defaults: PoolSim = Field(default_factory=PoolSim)
    pools: dict[str, PoolSim] = Field(default_factory=dict)


class SimulatedFleet(StrictModel):
    api_version: Literal["burstd.io/v1alpha1"]
    kind: Literal["SimulatedFleet"]
    metadata: ObjectMeta
    spec: FleetSpec


#: Built-in pool behaviour where neither the pool nor ``poolDefaults`` says otherwise.
POOL_DEFAULTS = PoolSim(
    provision_delay="3m",
    deletion_delay="30s",
    stock_outs=[],
    stock_out_probability=0.0,
    stock_out_duration="15m",
    launch_failure_probability=0.0,
)


def parse_fleet(data: Any) -> SimulatedFleet:
    """Validate one parsed YAML document as a SimulatedFleet. Raises PolicyInvalid listing every problem."""
    if not isinstance(data, dict):
        kind = "nothing" if data is None else type(data).__name__
        raise PolicyInvalid([Problem((), f"expected a mapping with apiVersion and kind, got {kind}")])
    if data.get("apiVersion") != API_VERSION:
        raise PolicyInvalid(
            [Problem(("apiVersion",), f"expected {API_VERSION!r}, got {data.get('apiVersion')!r}")]
        )
    if data.get("kind") != KIND:
        raise PolicyInvalid([Problem(("kind",), f"expected {KIND!r}, got {data.get('kind')!r}")])
    try:
        return SimulatedFleet.model_validate(data)
    except ValidationError as exc:
        raise PolicyInvalid([_problem(err) for err in exc.errors(include_url=False)]) from None


def _problem(err: Any) -> Problem:
    loc = tuple(err["loc"])
    message = str(err["msg"])
    if err["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see docs/simulation.md)"
    message = message.removeprefix("Value error, ")
    clean = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"int", "str", "float"})))
    return Problem(clean, message)
