"""Annotated pydantic types for the units written in policies. Pure: no I/O."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from burstd.model.quantities import format_duration, parse_duration, parse_percent, parse_quantity


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


def _step(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("expected a number of replicas (e.g. 5) or a percentage (e.g. '20%'), got a boolean")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"step must be at least 1 replica, got {value}")
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
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^\d+(\.\d+)?%$"}],
            "description": "Replicas (an integer) or a share of the desired replicas ('20%').",
        }
    ),
]

Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$",
            "description": "Duration such as '90s', '2m', '1h30m'.",
        }
    ),
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
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\+?(\d+(\.\d+)?|\.\d+)(m|[kMGTPE]?)$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "CPU as a Kubernetes quantity, e.g. '500m' or '2'.",
        }
    ),
]
MemoryQuantity = Annotated[
    float,
    BeforeValidator(_quantity),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "string", "pattern": r"^\+?(\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "Memory as a Kubernetes quantity, e.g. '512Mi' or '4Gi'.",
        }
    ),
]
