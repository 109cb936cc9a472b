"""Where a new value goes in a policy's text, and the text that goes there (``burstd tune`` output).

:func:`find_spot` follows a path through the composed YAML (ruamel.yaml nodes, which record where each
value starts and ends) to the scalar to replace, or to the mapping that a missing key is added to, and
refuses (:class:`Refused`) what cannot be written safely: anchors, aliases, merges, tags, block scalars, a
missing parent or list item. :func:`pair_end` finds where an entry's text ends, and :func:`format_entry`
writes a new ``key: value`` entry, nesting missing mappings as ``{...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from burstd.policy.spec import Loc
from burstd.policy.yamlpath import format_path, kind
from burstd.policy.yamlscalar import render_string, render_value

__all__ = ["Refused", "Spot", "find_spot", "format_entry", "pair_end"]


@dataclass(frozen=True, slots=True)
class Spot:
    #: the scalar to replace, or the mapping to add ``missing`` to
    node: Node
    #: the keys to add below ``node``: () when the value exists
    missing: tuple[str, ...]
    #: whether ``node`` sits inside a ``{...}`` or ``[...]`` collection
    flow: bool
    #: the text to replace (start, end): the scalar, or the place after the colon of an empty value
    span: tuple[int, int] = (0, 0)
    #: where to point at in the input: ``node``, or the key of an empty value
    where: Node | None = None


class Refused(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.line = int(node.start_mark.line) + 1
        self.col = int(node.start_mark.column) + 1
        self.message = message


def find_spot(text: str, root: MappingNode, loc: Loc, create_parents: bool) -> Spot:
    node: Node = root
    key: Node | None = None
    flow = False
    for depth, part in enumerate(loc):
        here = format_path(loc[:depth]) or "the document"
        if node.anchor is not None:
            raise Refused(
                node,
                f"{here} has the YAML anchor &{node.anchor}, so other places share it; "
                "edit it by hand or remove the anchor",
            )
        flow = flow or bool(getattr(node, "flow_style", False))
        if isinstance(part, str):
            if not isinstance(node, MappingNode):
                raise Refused(node, f"{here} is {kind(node)}, not a mapping with key {part!r}")
            key, child = next(
                ((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == part), (None, None)
            )
            if child is None:
                if any(isinstance(k, ScalarNode) and str(k.tag).endswith(":merge") for k, _ in node.value):
                    raise Refused(
                        node,
                        f"{here} takes keys from a YAML merge (<<), so {format_path(loc[: depth + 1])} may "
                        "come from a mapping other places share; edit it by hand",
                    )
                rest = loc[depth:]
                if len(rest) == 1 or (create_parents and all(isinstance(p, str) for p in rest)):
                    return Spot(node, tuple(str(p) for p in rest), flow)
                raise Refused(
                    node,
                    f"{format_path(loc[: depth + 1])} does not exist, so there is no mapping to add "
                    f"{format_path(loc)} to; add it to the file first",
                )
            node = child
        else:
            if not isinstance(node, SequenceNode):
                raise Refused(node, f"{here} is {kind(node)}, not a list")
            if part >= len(node.value):
                raise Refused(
                    node, f"index {part} is out of range: {here} has {len(node.value)} items (from [0])"
                )
            key, node = None, node.value[part]
    if not isinstance(node, ScalarNode):
        raise Refused(node, f"is {kind(node)}; only single values (a string, number or boolean) are set")
    if node.anchor is not None:
        raise Refused(
            node, f"the value has the YAML anchor &{node.anchor} or is an alias of it; edit it by hand"
        )
    if node.style in ("|", ">"):
        raise Refused(node, "the value is a block scalar (| or >); write it on one line first")
    if text.startswith("!", int(node.start_mark.index)):
        raise Refused(node, "the value has an explicit YAML tag (!...); edit it by hand")
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    if start == end:  # an empty value: its marks point at whatever follows; write it after the colon
        if key is None:
            raise Refused(node, "the list item is empty; write a value in the file first")
        start = end = text.index(":", int(key.end_mark.index)) + 1
        return Spot(node, (), flow, (start, end), key)
    return Spot(node, (), flow, (start, end))


def _content_end(text: str, node: Node) -> int:
    """Where the text of ``node`` ends: its last character for a scalar or a ``{...}``/``[...]``
    collection, the end of its last entry for a block collection (whose own end mark lies past the
    comments and blank lines that follow it)."""
    if isinstance(node, MappingNode) and not node.flow_style and node.value:
        return pair_end(text, *node.value[-1])
    if isinstance(node, SequenceNode) and not node.flow_style and node.value:
        return _content_end(text, node.value[-1])
    return int(node.end_mark.index)


def pair_end(text: str, key: Node, value: Node) -> int:
    """Where a ``key: value`` entry ends; after the colon when the value is empty (an empty value's
    marks point at whatever follows it)."""
    if isinstance(value, ScalarNode) and value.start_mark.index == value.end_mark.index:
        return text.index(":", int(key.end_mark.index)) + 1
    return _content_end(text, value)


def format_entry(tree: Mapping[str, Any], styles: Mapping[str, str], flow: bool) -> str:
    """``key: value`` for the one key of ``tree``, its value a ``{...}`` mapping when it is a tree."""
    [(key, value)] = tree.items()
    return f"{render_string(key, '', flow)}: {_flow_value(value, styles, flow)}"


def _flow_value(value: Any, styles: Mapping[str, str], flow: bool) -> str:
    if not isinstance(value, dict):
        return render_value(value, None, styles, flow)
    pairs = (f"{render_string(k, '', True)}: {_flow_value(v, styles, True)}" for k, v in value.items())
    return "{" + ", ".join(pairs) + "}"
