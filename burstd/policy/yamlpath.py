"""Paths to values in a policy, as the policy loader writes them: ``spec.triggers.scaleOut.any[0].above``.

:func:`parse_path` reads a path into its keys and list indexes (a :data:`~burstd.policy.spec.Loc`),
:func:`format_path` writes one back, and :func:`read_path` follows one through a loaded YAML document or a
parsed :class:`~burstd.policy.spec.BurstPolicy`, raising :class:`PathError` where it leads nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from burstd.policy.spec import Loc, Problem

__all__ = ["PathError", "format_path", "kind", "parse_path", "read_path"]

_KEY = r"[A-Za-z0-9_-]+"
_PATH_TOKEN = re.compile(
    rf"(?P<dot>^|\.)(?P<key>{_KEY})|\[(?P<index>\d+)\]|\['(?P<single>[^']*)'\]|\[\"(?P<double>[^\"]*)\"\]"
)


class PathError(LookupError):
    """A path that is malformed or leads nowhere in the data given to :func:`read_path`."""


def parse_path(path: str) -> Loc:
    """``spec.triggers.scaleOut.any[0].above`` as ``("spec", "triggers", "scaleOut", "any", 0, "above")``.

    Keys are separated by dots; ``[i]`` indexes a list; ``['key']`` names a key with other characters
    (``metadata.annotations['burstd.io/owner']``), as the policy loader writes field paths."""
    parts: list[str | int] = []
    at = 0
    while at < len(path):
        match = _PATH_TOKEN.match(path, at)
        if match is None or (match.group("key") is not None and match.group("dot") == "" and at != 0):
            raise PathError(
                f"malformed path {path!r} at character {at + 1}: expected keys separated by dots, "
                "list indexes as [0] and other keys as ['key'] (e.g. spec.triggers.scaleOut.any[0].above)"
            )
        if match.group("key") is not None:
            parts.append(match.group("key"))
        elif match.group("index") is not None:
            parts.append(int(match.group("index")))
        else:
            parts.append(
                match.group("single") if match.group("single") is not None else match.group("double")
            )
        at = match.end()
    if not parts:
        raise PathError("empty path: expected e.g. spec.burst.headroom")
    return tuple(parts)


def format_path(loc: Loc) -> str:
    """The path as the policy loader writes it (the inverse of :func:`parse_path`)."""
    return Problem(loc, "").path


def read_path(data: Any, path: str | Loc) -> Any:
    """The value at ``path`` in a parsed policy.

    ``data`` is a loaded YAML document (dicts and lists: the value as written, e.g. ``"10%"``) or a
    :class:`~burstd.policy.spec.BurstPolicy` (the parsed value with defaults filled in, e.g. ``0.1``;
    keys are the YAML names). Raises :class:`PathError` naming the path when it leads nowhere."""
    loc = parse_path(path) if isinstance(path, str) else tuple(path)
    node = data
    for depth, part in enumerate(loc):
        where = format_path(loc[: depth + 1])
        if isinstance(node, BaseModel) and isinstance(part, str):
            fields = type(node).model_fields
            name = next((n for n, f in fields.items() if part in (n, f.alias)), None)
            if name is None:
                raise PathError(f"{where}: no such field")
            node = getattr(node, name)
        elif isinstance(node, Mapping) and isinstance(part, str):
            if part not in node:
                raise PathError(f"{where}: no such key")
            node = node[part]
        elif isinstance(node, Sequence) and not isinstance(node, str) and isinstance(part, int):
            if not 0 <= part < len(node):
                raise PathError(f"{where}: index out of range (the list has {len(node)} items)")
            node = node[part]
        else:
            raise PathError(f"{where}: {format_path(loc[:depth]) or 'the document'} is {kind(node)}")
    return node


def kind(value: Any) -> str:
    if value is None or (isinstance(value, ScalarNode) and str(value.tag).endswith(":null")):
        return "empty"
    if isinstance(value, Mapping | BaseModel | MappingNode):
        return "a mapping"
    if isinstance(value, SequenceNode) or (isinstance(value, Sequence) and not isinstance(value, str)):
        return "a list"
    return "a single value"
