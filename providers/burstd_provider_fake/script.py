"""The fake provider's script: per-pool price, stock (optionally changing over time), quota, delays, and
errors to inject into the next calls. Validated strictly: a typo in a test's script is an error, not a
silently ignored key.

```yaml
quota: 100                   # optional: instances alive across all pools
pools:
  tke-gz6:
    price: 2.88              # per node-hour (default 1.0)
    currency: CNY
    quota: 40                # instances alive in this pool (default 1000)
    instanceType: SA5.2XLARGE32   # optional: quote() rejects a PoolSpec asking for another type
    zone: ap-guangzhou-6          # optional: likewise for the zone
    stock:                   # true (default), false, or a timeline of changes
      - {at: 0, inStock: true}
      - {at: 1h, inStock: false}
      - {at: 1h30m, inStock: true}
    launchDelay: 90s         # pending -> running (seconds or a duration, default 0)
    terminateDelay: 30s      # stopping -> terminated (default 0)
    nodePool:                # optional: the pool's native node pool (backends tke-nodepool, ack-nodepool)
      clusterId: cls-a1b2c3
      nodePoolId: np-d4e5f6
      desired: 2             # members Ready from the start (default 0)
      autoscaling: false     # the cloud's own autoscaler drives it (default false)
errors:
  - {call: quote, pool: tke-gz6, error: Throttled, times: 2, retryAfter: 1s}
  - {call: launch, error: StockOut, after: 3, message: "ResourceInsufficient.SpecifiedInstanceType"}
  - {error: AuthFailed, times: always}     # no call: every call; times: always never runs out
```

Calls: ``quote``, ``instances``, ``terminate``, ``node_pool``, ``scale_node_pool``, ``remove_nodes`` (the
provider's methods) and ``launch`` (the test helper that stands for a Cluster API machine launch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from burstd.model.quantities import parse_duration

__all__ = [
    "Call",
    "ErrorName",
    "ErrorRule",
    "NodePoolScript",
    "PoolScript",
    "Script",
    "ScriptError",
    "StockChange",
    "parse_pool",
    "parse_script",
]

Call = Literal["quote", "instances", "launch", "terminate", "node_pool", "scale_node_pool", "remove_nodes"]
ErrorName = Literal["StockOut", "QuotaExceeded", "Throttled", "AuthFailed", "InvalidRequest", "Unavailable"]


M = TypeVar("M", bound=BaseModel)


class ScriptError(ValueError):
    """The fake provider's script is invalid; the message lists every problem with its path."""


def _seconds(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected seconds (a number) or a duration such as '90s', got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"expected seconds (a number) or a duration such as '90s', got {value!r}")


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, alias_generator=to_camel, populate_by_name=True
    )


class StockChange(_Strict):
    """From ``at`` (seconds on the provider's clock) on, the pool is (or is not) in stock."""

    at: Seconds
    in_stock: bool


class NodePoolScript(_Strict):
    """A native node pool (TKE, ACK) holding the pool's instances, named as ``PoolSpec.node_pool``."""

    cluster_id: Annotated[str, Field(min_length=1)]
    node_pool_id: Annotated[str, Field(min_length=1)]
    #: members that exist (Ready) from the start
    desired: Annotated[int, Field(ge=0)] = 0
    autoscaling: bool = False

    @property
    def key(self) -> str:
        return f"{self.cluster_id}/{self.node_pool_id}"


class PoolScript(_Strict):
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    quota: Annotated[int, Field(ge=0)] = 1000
    instance_type: str | None = None
    zone: str | None = None
    stock: bool | list[StockChange] = True
    launch_delay: Seconds = 0.0
    terminate_delay: Seconds = 0.0
    node_pool: NodePoolScript | None = None

    @model_validator(mode="after")
    def _ordered_timeline(self) -> PoolScript:
        if isinstance(self.stock, list):
            times = [change.at for change in self.stock]
            if times != sorted(times) or len(set(times)) != len(times):
                raise ValueError(f"stock changes must be in strictly increasing 'at' order, got {times}")
        return self

    def in_stock(self, now: float) -> bool:
        """Stock at ``now``: the last change at or before it (in stock before the first change)."""
        if isinstance(self.stock, bool):
            return self.stock
        state = True
        for change in self.stock:
            if change.at > now:
                break
            state = change.in_stock
        return state


class ErrorRule(_Strict):
    """Fail ``times`` calls of ``call`` (every call when unset) on ``pool`` (or any pool) after letting
    ``after`` through; ``times: always`` never runs out (bad credentials, an unreachable endpoint)."""

    call: Call | None = None
    error: ErrorName
    pool: str | None = None
    times: Annotated[int, Field(ge=1)] | Literal["always"] = 1
    after: Annotated[int, Field(ge=0)] = 0
    message: str | None = None
    code: str | None = None
    retry_after: Seconds | None = None

    @model_validator(mode="after")
    def _retry_after_only_when_throttled(self) -> ErrorRule:
        if self.retry_after is not None and self.error != "Throttled":
            raise ValueError(f"retryAfter only applies to Throttled, not {self.error}")
        return self


class Script(_Strict):
    quota: Annotated[int, Field(ge=0)] | None = None
    pools: dict[str, PoolScript] = Field(default_factory=dict)
    errors: list[ErrorRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules_name_known_pools(self) -> Script:
        for i, rule in enumerate(self.errors):
            if rule.pool is not None and rule.pool not in self.pools:
                raise ValueError(
                    f"errors[{i}].pool {rule.pool!r} is not among the scripted pools "
                    f"({', '.join(sorted(self.pools)) or 'none'})"
                )
        owners: dict[str, str] = {}
        for name, pool in self.pools.items():
            if pool.node_pool is None:
                continue
            other = owners.setdefault(pool.node_pool.key, name)
            if other != name:
                raise ValueError(f"pools {other} and {name} both name node pool {pool.node_pool.key}")
        return self


def parse_script(data: Mapping[str, Any] | Script | None) -> Script:
    """Validate a script given as a mapping (e.g. parsed YAML). Raises ScriptError listing every problem."""
    if data is None:
        return Script()
    if isinstance(data, Script):
        return data
    if not isinstance(data, Mapping):
        raise ScriptError(f"fake provider script must be a mapping, got {type(data).__name__}")
    return _validate(Script, data, "invalid fake provider script")


def parse_pool(name: str, data: Mapping[str, Any]) -> PoolScript:
    """Validate one pool's script (keys as in YAML or as field names). Raises ScriptError."""
    return _validate(PoolScript, data, f"invalid fake provider script for pool {name}")


def _validate(model: type[M], data: Mapping[str, Any], what: str) -> M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            path = _path(err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"{path}: {message}")
        raise ScriptError(f"{what}: " + "; ".join(lines)) from None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" not in part and part not in {"bool", "int", "float", "str"}:  # skip union branch names
            out += f".{part}" if out else part
    return out or "(script)"
