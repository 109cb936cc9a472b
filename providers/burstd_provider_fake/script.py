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
errors:
  - {call: quote, pool: tke-gz6, error: Throttled, times: 2, retryAfter: 1s}
  - {call: launch, error: StockOut, after: 3, message: "ResourceInsufficient.SpecifiedInstanceType"}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from burstd.model.quantities import parse_duration

__all__ = [
    "Call",
    "ErrorName",
    "ErrorRule",
    "PoolScript",
    "Script",
    "ScriptError",
    "StockChange",
    "parse_script",
]

Call = Literal["quote", "instances", "launch", "terminate"]
ErrorName = Literal["StockOut", "QuotaExceeded", "Throttled", "AuthFailed", "InvalidRequest", "Unavailable"]


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


class PoolScript(_Strict):
    price: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    quota: Annotated[int, Field(ge=0)] = 1000
    instance_type: str | None = None
    zone: str | None = None
    stock: bool | list[StockChange] = True
    launch_delay: Seconds = 0.0
    terminate_delay: Seconds = 0.0

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
    """Fail ``times`` calls of ``call`` (on ``pool``, or any pool) after letting ``after`` through."""

    call: Call
    error: ErrorName
    pool: str | None = None
    times: Annotated[int, Field(ge=1)] = 1
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
        return self


def parse_script(data: Mapping[str, Any] | Script | None) -> Script:
    """Validate a script given as a mapping (e.g. parsed YAML). Raises ScriptError listing every problem."""
    if data is None:
        return Script()
    if isinstance(data, Script):
        return data
    if not isinstance(data, Mapping):
        raise ScriptError(f"fake provider script must be a mapping, got {type(data).__name__}")
    try:
        return Script.model_validate(dict(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            path = _path(err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            lines.append(f"{path}: {message}")
        raise ScriptError("invalid fake provider script: " + "; ".join(lines)) from None


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" not in part and part not in {"bool", "int", "float", "str"}:  # skip union branch names
            out += f".{part}" if out else part
    return out or "(script)"
