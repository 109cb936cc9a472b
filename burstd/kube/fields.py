"""Typed reads of fields of raw API objects; every error message names the field's path.

Errors are ``ValueError`` (missing or bad value) or ``TypeError`` (wrong JSON type), the exceptions the
watch cache treats as "malformed object: skip it with a warning".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from burstd.model.quantities import parse_quantity
from burstd.model.world import Resources


def _got(value: Any) -> str:
    return repr(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__


def mapping(value: Any, where: str, *, required: bool = True) -> Mapping[str, Any]:
    """An object; ``{}`` when absent and not required."""
    if value is None and not required:
        return {}
    if value is None:
        raise ValueError(f"{where} is missing")
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be an object, got {type(value).__name__}")
    return value


def array(value: Any, where: str) -> Sequence[Any]:
    """A list; ``[]`` when absent."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{where} must be a list, got {type(value).__name__}")
    return value


def objects(value: Any, where: str) -> list[Mapping[str, Any]]:
    """A list of objects; ``[]`` when absent."""
    return [mapping(item, f"{where}[{i}]") for i, item in enumerate(array(value, where))]


def string(value: Any, where: str) -> str:
    """A required non-empty string."""
    if value is None or value == "":
        raise ValueError(f"{where} is missing")
    if not isinstance(value, str):
        raise TypeError(f"{where} must be a string, got {_got(value)}")
    return value


def opt_string(value: Any, where: str) -> str | None:
    """A string, or None when absent or empty."""
    if value is None or value == "":
        return None
    return string(value, where)


def opt_integer(value: Any, where: str) -> int | None:
    """An integer (never a bool), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where} must be an integer, got {_got(value)}")
    return value


def integer(value: Any, where: str, *, default: int | None = None) -> int:
    """An integer (never a bool); ``default`` when absent, or an error if there is no default."""
    found = opt_integer(value, where)
    if found is not None:
        return found
    if default is None:
        raise ValueError(f"{where} is missing")
    return default


def count(value: Any, where: str, *, default: int | None = None) -> int:
    """A non-negative integer (replicas and the like)."""
    found = integer(value, where, default=default)
    if found < 0:
        raise ValueError(f"{where} must not be negative, got {found}")
    return found


def opt_count(value: Any, where: str) -> int | None:
    return None if value is None else count(value, where)


def boolean(value: Any, where: str, *, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be a boolean, got {_got(value)}")
    return value


def quantity(value: Any, where: str) -> float:
    """A Kubernetes quantity (``"500m"``, ``"4Gi"``, ``2``) in base units."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(f"{where} must be a quantity, got {type(value).__name__}")
    try:
        return parse_quantity(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def resources(value: Any, where: str) -> Resources:
    """cpu and memory of a resource list (absent ones are 0; other resources are ignored)."""
    rl = mapping(value, where, required=False)
    return Resources(
        cpu=quantity(rl.get("cpu", 0), f"{where}.cpu"),
        memory=quantity(rl.get("memory", 0), f"{where}.memory"),
    )


def timestamp(value: Any, where: str) -> float:
    """An RFC 3339 time (``2026-01-02T03:04:05Z``) as seconds since the epoch."""
    text = string(value, where)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{where} must be an RFC 3339 time, got {text!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{where} must be an RFC 3339 time with a zone, got {text!r}")
    return parsed.timestamp()


def metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(obj.get("metadata"), "metadata")


def object_name(obj: Mapping[str, Any]) -> str:
    meta = metadata(obj)
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("metadata.name is missing")
    return name


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects), as the watch cache keys objects."""
    name = object_name(obj)
    namespace = opt_string(metadata(obj).get("namespace"), "metadata.namespace")
    return f"{namespace}/{name}" if namespace else name


def string_map(obj: Mapping[str, Any], field: str) -> Mapping[str, str]:
    """``metadata.labels`` or ``metadata.annotations`` (``{}`` when absent)."""
    where = f"metadata.{field}"
    found = mapping(metadata(obj).get(field), where, required=False)
    for key, value in found.items():
        if not isinstance(value, str):
            raise TypeError(f"{where}[{key!r}] must be a string, got {_got(value)}")
    return found


def condition(conditions: Any, where: str, type_: str) -> Mapping[str, Any] | None:
    """The condition of type ``type_`` in a conditions list (``where`` is the list's path), if any."""
    for cond in objects(conditions, where):
        if cond.get("type") == type_:
            return cond
    return None


def condition_true(conditions: Any, where: str, type_: str) -> bool:
    """True when the condition ``type_`` is present with status ``"True"``."""
    cond = condition(conditions, where, type_)
    return cond is not None and cond.get("status") == "True"
