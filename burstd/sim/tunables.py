"""The policy parameters ``burstd tune`` may change, named by YAML paths such as ``spec.burst.headroom`` or
``spec.triggers.scaleOut.any[0].above``, each with the grid of values the search walks.

A variant of a policy is built by setting paths in its ``model_dump`` and validating the result with every
policy check (a variant that breaks one, such as a scale-in threshold above the scale-out one, is skipped).
Only parameters that change how the engine decides are tunable: pools, limits, base clusters and the shift
mode shape the simulated fleet itself and stay as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from burstd.model.quantities import parse_duration, parse_percent
from burstd.policy.spec import BurstPolicy, PolicyInvalid, parse_document

#: a value as written in YAML: a percentage or duration string, a number
Value = str | int | float
Assignments = tuple[tuple[str, Value], ...]

#: the built-in signal whose thresholds are tuned when the policy has a condition on it
RATIO_SIGNAL = "base.cpu.requestedRatio"

#: paths (exact, or a prefix ending in '.') that may be tuned
_TUNABLE = (
    "spec.burst.headroom",
    "spec.burst.provisionTimeout",
    "spec.triggers.scaleOut.",
    "spec.triggers.scaleIn.",
    "spec.shift.maxStep",
    "spec.shift.interval",
    "spec.drain.",
    "spec.predictive.",
    "spec.safety.",
)
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


class TunableError(ValueError):
    """A tunable path or value that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Tunable:
    """One parameter: its path, a short label for tables, and its values in increasing order."""

    path: str
    label: str
    values: tuple[Value, ...]


def parse_path(path: str) -> tuple[str | int, ...]:
    """``spec.triggers.scaleOut.any[0].above`` -> ``('spec', 'triggers', 'scaleOut', 'any', 0, 'above')``."""
    parts: list[str | int] = []
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None:
            raise TunableError(
                f"{path!r}: not a field path (expected keys joined by '.', list items as [N], "
                "e.g. spec.triggers.scaleOut.any[0].above)"
            )
        parts.append(match.group(1))
        parts.extend(int(i) for i in _INDEX.findall(match.group(2)))
    return tuple(parts)


def _walk(data: Any, path: str) -> tuple[Any, str | int]:
    """The container holding ``path``'s leaf, and the leaf's key."""
    parts = parse_path(path)
    node = data
    for i, part in enumerate(parts):
        where = _render(parts[: i + 1])
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                size = len(node) if isinstance(node, list) else 0
                raise TunableError(f"{path}: the policy has no {where} (the list has {size} items)")
        elif not isinstance(node, dict) or part not in node:
            raise TunableError(f"{path}: the policy has no field {where}")
        if i == len(parts) - 1:
            return node, part
        node = node[part]
    raise TunableError(f"{path}: empty path")  # pragma: no cover - parse_path never returns ()


def _render(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def check_tunable(policy: BurstPolicy, path: str) -> Value:
    """The policy's current value at ``path``; raises TunableError if the path is unknown or not tunable."""
    data = dump(policy)
    node, key = _walk(data, path)
    if not any(path == p or (p.endswith(".") and path.startswith(p)) for p in _TUNABLE):
        raise TunableError(
            f"{path}: not a tunable parameter; tunable are spec.burst.headroom, spec.burst.provisionTimeout, "
            "spec.triggers.*, spec.shift.maxStep, spec.shift.interval, spec.drain.*, spec.predictive.*, "
            "spec.safety.*"
        )
    value = node[key]
    if isinstance(value, dict | list):
        raise TunableError(f"{path}: is a group of fields, not one value; name one of its fields")
    if value is None:
        raise TunableError(f"{path}: is not set in the policy (a condition has either 'above' or 'below')")
    if not isinstance(value, str | int | float):
        raise TunableError(f"{path}: {type(value).__name__} values are not tunable")
    return value


def dump(policy: BurstPolicy) -> dict[str, Any]:
    data: dict[str, Any] = policy.model_dump(by_alias=True, mode="json", exclude_none=False)
    return data


def apply(policy: BurstPolicy, assignments: Mapping[str, Value] | Iterable[tuple[str, Value]]) -> BurstPolicy:
    """The policy with each path set to its value, validated like a policy file (raises PolicyInvalid)."""
    items = assignments.items() if isinstance(assignments, Mapping) else assignments
    data = dump(policy)
    for path, value in items:
        node, key = _walk(data, path)
        node[key] = value
    doc = parse_document(_drop_none(data))
    assert isinstance(doc, BurstPolicy)
    return doc


def is_valid(policy: BurstPolicy, assignments: Assignments) -> bool:
    try:
        apply(policy, assignments)
    except PolicyInvalid:
        return False
    return True


def _drop_none(node: Any) -> Any:
    """``model_dump`` writes unset optional fields as null; the models want them absent."""
    if isinstance(node, dict):
        return {k: _drop_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_drop_none(v) for v in node]
    return node


def sort_key(value: Value) -> tuple[int, float, str]:
    """Orders values of one parameter: numbers, percentages and durations by size (replica counts after
    percentages, for steps); other text after them, by itself, so that two different words never count as
    one value."""
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int):
        return (1, float(value), "")
    if isinstance(value, float):
        return (0, value, "")
    text = value.strip()
    try:
        return (0, parse_percent(text), "") if text.endswith("%") else (0, parse_duration(text), "")
    except ValueError:
        return (2, math.inf, text)


def parse_value(text: str) -> Value:
    """A grid value from the command line: true or false, a whole number, a number, or a string such as
    '10%' or '5m'."""
    text = text.strip()
    if not text:
        raise TunableError("empty value")
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_grid(text: str) -> tuple[str, tuple[Value, ...]]:
    """``PATH=V1,V2,...`` (``--tune``) -> the path and its values."""
    path, sep, values = text.partition("=")
    if not sep or not path.strip() or not values.strip():
        raise TunableError(f"{text!r}: expected PATH=V1,V2,... e.g. spec.burst.headroom=0%,5%,10%")
    return path.strip(), tuple(parse_value(v) for v in values.split(","))


def _with_current(values: Iterable[Value], current: Value) -> tuple[Value, ...]:
    """The grid with the policy's own value in it, in increasing order, without duplicates."""
    out: dict[tuple[int, float, str], Value] = {}
    for v in [*values, current]:
        out.setdefault(sort_key(v), v)
    out[sort_key(current)] = current
    return tuple(out[k] for k in sorted(out))


def _condition_index(policy: BurstPolicy, group: str, bound: str) -> str | None:
    """Path of ``bound`` ('above'/'below') of the first condition on RATIO_SIGNAL in a trigger group."""
    triggers = policy.spec.triggers
    cond_group = triggers.scale_out if group == "scaleOut" else triggers.scale_in
    key = cond_group.mode
    for i, cond in enumerate(cond_group.conditions):
        if cond.signal == RATIO_SIGNAL and getattr(cond, bound) is not None:
            return f"spec.triggers.{group}.{key}[{i}].{bound}"
    return None


#: the default grids (the policy's own value is added to each)
DEFAULT_GRIDS: tuple[tuple[str, str, tuple[Value, ...]], ...] = (
    ("spec.burst.headroom", "headroom", ("0%", "5%", "10%", "15%", "20%", "30%", "50%", "75%", "100%")),
    ("spec.drain.stabilizationWindow", "window", ("0s", "5m", "10m", "15m", "20m", "30m")),
    ("scaleOut", "out above", (0.8, 0.85, 0.9, 0.95, 1.0)),
    ("scaleIn", "in below", (0.6, 0.7, 0.8, 0.85, 0.9)),
    ("spec.drain.maxStep", "drain step", ("10%", "25%", "50%", "100%")),
    ("spec.drain.interval", "drain every", ("30s", "1m", "2m", "5m")),
    ("spec.shift.maxStep", "shift step", ("20%", "50%", "100%")),
    ("spec.predictive.enabled", "predictive", (False, True)),
)
#: the tunables of the coarse grid; the others are explored around the front only
PRIMARY = ("spec.burst.headroom", "spec.drain.stabilizationWindow")


def default_tunables(policy: BurstPolicy) -> tuple[list[Tunable], list[str]]:
    """The default tunables of ``policy``, and notes on what is left out (e.g. no trigger on the ratio)."""
    tunables: list[Tunable] = []
    notes: list[str] = []
    for name, label, values in DEFAULT_GRIDS:
        path = name
        if name in ("scaleOut", "scaleIn"):
            bound = "above" if name == "scaleOut" else "below"
            found = _condition_index(policy, name, bound)
            if found is None:
                notes.append(
                    f"spec.triggers.{name}: no '{bound}' condition on {RATIO_SIGNAL}; its threshold is not tuned"
                )
                continue
            path = found
        current = check_tunable(policy, path)
        tunables.append(Tunable(path, label, _with_current(values, current)))
    return tunables, notes


def custom_tunables(policy: BurstPolicy, grids: Sequence[tuple[str, tuple[Value, ...]]]) -> list[Tunable]:
    """Tunables from ``--tune PATH=V1,V2`` options; each path is checked and each value validated alone."""
    out: list[Tunable] = []
    seen: set[str] = set()
    for path, values in grids:
        if path in seen:
            raise TunableError(f"{path}: given twice")
        seen.add(path)
        current = check_tunable(policy, path)
        for value in values:
            _check_value(policy, path, value)
        label = path.rsplit(".", 1)[-1]
        out.append(Tunable(path, label, _with_current(values, current)))
    return out


def _check_value(policy: BurstPolicy, path: str, value: Value) -> None:
    """``value`` is one ``path`` may hold (checks across fields, such as the triggers' dead band, are left
    to each combination: a variant that fails them is skipped)."""
    data = dump(policy)
    node, key = _walk(data, path)
    node[key] = value
    try:
        BurstPolicy.model_validate(_drop_none(data))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise TunableError(f"{path}={value}: {message}") from None


def current_assignments(policy: BurstPolicy, tunables: Sequence[Tunable]) -> Assignments:
    return tuple((t.path, check_tunable(policy, t.path)) for t in tunables)
