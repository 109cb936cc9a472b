"""Annotated pydantic types for the units written in policies, and the bounds every value must keep. Pure: no I/O.

The bounds keep the engine's arithmetic finite and its memory small (documented in the README's policy
reference, "Bounds"): a value that validates can never make the engine overflow, loop or allocate without
limit. Settings (``burstd.runtime.settings``) and the simulator's inputs use the same types.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

from burstd.model.quantities import format_duration, parse_duration, parse_percent, parse_quantity

DAY_S = 86_400.0
#: the longest duration anywhere (a ``for``, an interval, a timeout, a settings period): 366 days
MAX_DURATION_S = 366 * DAY_S
MAX_DURATION = "366d"
#: the longest window over the per-minute demand history kept in a policy's state
#: (``drain.stabilizationWindow``, ``predictive.horizon``, ``predictive.lookback``): 1 day
MAX_WINDOW_S = DAY_S
MAX_WINDOW = "1d"
#: nodes: a pool's ``min``/``max``, ``maxCloudNodes``, a schedule's ``minNodes`` (Kubernetes supports 5,000
#: nodes per cluster)
MAX_NODES = 10_000
#: pods per node (``allocatable.pods``)
MAX_PODS = 10_000
#: a step given as a number of replicas
MAX_STEP_REPLICAS = 1_000_000
#: CPU per node, in cores
MAX_CPU = 1_000_000.0
#: memory per node or replica, in bytes (1Ei)
MAX_MEMORY = float(2**60)
#: the magnitude of a trigger threshold
MAX_THRESHOLD = 1e18
#: the price of one node-hour, and an hourly cost limit
MAX_PRICE = 1e6
MAX_HOURLY_COST = 1e12
#: ``spec.priority``: a Kubernetes int32, like a PriorityClass's value
MIN_PRIORITY = -(2**31)
MAX_PRIORITY = 2**31 - 1


def _duration(value: Any) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(
        f"expected a duration string such as '90s' or '2m', got {type(value).__name__} {value!r}"
    )


def _percent(value: Any) -> float:
    if isinstance(value, str):
        return parse_percent(value)
    raise ValueError(f"expected a percentage string such as '10%', got {type(value).__name__} {value!r}")


def _quantity(value: Any) -> float:
    if isinstance(value, (str, int, float)):
        return parse_quantity(value)
    raise ValueError(f"expected a Kubernetes quantity such as '500m' or '4Gi', got {type(value).__name__}")


def _at_most(maximum: float, text: str) -> AfterValidator:
    def check(value: float) -> float:
        if not math.isfinite(value) or value > maximum:
            raise ValueError(f"must be at most {text}, got {value:g}")
        return value

    return AfterValidator(check)


def _above_zero(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be above 0, got {value:g}")
    return value


#: a quantity that must be above 0 (e.g. a node's allocatable CPU: 0 would fit no replica)
AboveZero = AfterValidator(_above_zero)


def _duration_bounds(minimum_exclusive: bool, maximum: float, text: str) -> AfterValidator:
    def check(value: float) -> float:
        if minimum_exclusive and value <= 0:
            raise ValueError(f"must be above 0s, got {format_duration(value)}")
        if not math.isfinite(value) or value > maximum:
            shown = format_duration(value) if math.isfinite(value) else "an endless duration"
            raise ValueError(f"must be at most {text}, got {shown}")
        return value

    return AfterValidator(check)


def _threshold(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    if abs(value) > MAX_THRESHOLD:
        raise ValueError(f"must be at most {MAX_THRESHOLD:g} in absolute value, got {value:g}")
    return value


def _step(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("expected a number of replicas (e.g. 5) or a percentage (e.g. '20%'), got a boolean")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"step must be at least 1 replica, got {value}")
        if value > MAX_STEP_REPLICAS:
            raise ValueError(f"step must be at most {MAX_STEP_REPLICAS} replicas, got {value}")
        return value
    if isinstance(value, str):
        fraction = parse_percent(value)
        if fraction <= 0:
            raise ValueError(f"step must be above 0%, got {value!r}")
        return fraction
    raise ValueError(f"expected a number of replicas (e.g. 5) or a percentage (e.g. '20%'), got {value!r}")


def _render_step(value: int | float) -> int | str:
    return value if isinstance(value, int) else f"{value * 100:g}%"


#: A step size: an ``int`` is a number of replicas, a ``float`` is a share of the desired replicas.
Step = Annotated[
    int | float,
    BeforeValidator(_step),
    PlainSerializer(_render_step),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_STEP_REPLICAS},
                {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
            ],
            "description": "Replicas (an integer) or a share of the desired replicas ('20%').",
        }
    ),
]

_DURATION_PATTERN = r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"
_FORMAT = PlainSerializer(format_duration, return_type=str)

#: A duration from 0s to 366d.
Duration = Annotated[
    float,
    BeforeValidator(_duration),
    _duration_bounds(False, MAX_DURATION_S, MAX_DURATION),
    _FORMAT,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DURATION_PATTERN,
            "description": f"Duration such as '90s', '2m', '1h30m'; at most {MAX_DURATION}.",
        }
    ),
]
#: A duration above 0s, at most 366d: intervals, timeouts and ages, where 0s has no meaning.
PositiveDuration = Annotated[
    float,
    BeforeValidator(_duration),
    _duration_bounds(True, MAX_DURATION_S, MAX_DURATION),
    _FORMAT,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DURATION_PATTERN,
            "description": f"Duration above 0s such as '90s', '2m', '1h30m'; at most {MAX_DURATION}.",
        }
    ),
]
#: A window over the per-minute demand history: from 0s to 1d.
WindowDuration = Annotated[
    float,
    BeforeValidator(_duration),
    _duration_bounds(False, MAX_WINDOW_S, MAX_WINDOW),
    _FORMAT,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DURATION_PATTERN,
            "description": f"Duration such as '10m'; at most {MAX_WINDOW}.",
        }
    ),
]
#: A window over the per-minute demand history that must be above 0s (at most 1d).
PositiveWindowDuration = Annotated[
    float,
    BeforeValidator(_duration),
    _duration_bounds(True, MAX_WINDOW_S, MAX_WINDOW),
    _FORMAT,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DURATION_PATTERN,
            "description": f"Duration above 0s such as '15m'; at most {MAX_WINDOW}.",
        }
    ),
]
#: A trigger threshold: a finite number of magnitude at most 1e18.
Threshold = Annotated[
    float,
    AfterValidator(_threshold),
    WithJsonSchema({"type": "number", "minimum": -MAX_THRESHOLD, "maximum": MAX_THRESHOLD}),
]

Percent = Annotated[
    float,
    BeforeValidator(_percent),
    PlainSerializer(lambda v: f"{v * 100:g}%", return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d+(\.\d+)?%$", "description": "Percentage such as '10%'."}
    ),
]
CpuQuantity = Annotated[
    float,
    BeforeValidator(_quantity),
    _at_most(MAX_CPU, f"{MAX_CPU:g} cores"),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\+?(\d+(\.\d+)?|\.\d+)(m|[kMGTPE]?)$"},
                {"type": "number", "minimum": 0, "maximum": MAX_CPU},
            ],
            "description": f"CPU as a Kubernetes quantity, e.g. '500m' or '2'; at most {MAX_CPU:g} cores.",
        }
    ),
]
MemoryQuantity = Annotated[
    float,
    BeforeValidator(_quantity),
    _at_most(MAX_MEMORY, "1Ei"),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\+?(\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$"},
                {"type": "number", "minimum": 0, "maximum": MAX_MEMORY},
            ],
            "description": "Memory as a Kubernetes quantity, e.g. '512Mi' or '4Gi'; at most 1Ei.",
        }
    ),
]
