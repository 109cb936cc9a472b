"""One value as YAML text, written the way a file already writes its values (``burstd tune`` output).

Numbers and booleans are written plain. A string keeps the quoting of the value it replaces, or takes the
quoting the file uses most for strings of the same shape (percentages, durations, others), and is quoted
whenever it would not read back as the same string unquoted (``{``, ``: ``, `` #``, ``12`` ...).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["Value", "printable", "render_string", "render_value", "shape", "string_styles"]

#: What may be written: a string (``"15%"``, ``"12m"``), a number or a boolean.
Value = str | int | float | bool

_PERCENT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)%")
_DURATION = re.compile(r"(\d+(\.\d+)?(ms|s|m|h|d))+")


def render_value(value: Value, old: ScalarNode | None, styles: Mapping[str, str], flow: bool) -> str:
    """``value`` as YAML text in the file's style: an old string's quoting, or the quoting the file uses
    for strings of this shape; numbers and booleans plain."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        if value.is_integer() and old is not None and str(old.tag).endswith(":int"):
            return str(int(value))
        return repr(value)
    if old is not None and str(old.tag).endswith(":str"):
        style = old.style or ""
    else:
        style = styles.get(shape(value), "")
    return render_string(value, style, flow)


def shape(value: str) -> str:
    """``percent``, ``duration`` or ``other``: strings of one shape are quoted alike in a file."""
    if _PERCENT.fullmatch(value):
        return "percent"
    if _DURATION.fullmatch(value):
        return "duration"
    return "other"


def string_styles(root: Node) -> dict[str, str]:
    """The quoting the document uses most for string values of each shape ('' plain, ``'`` or ``"``)."""
    counts: dict[str, Counter[str]] = {}
    for node in _values(root):
        if str(node.tag).endswith(":str") and node.style not in ("|", ">"):
            counts.setdefault(shape(str(node.value)), Counter())[node.style or ""] += 1
    # Without an example in the file, percentages are quoted as in the policy reference ("10%").
    return {"percent": '"'} | {shape: count.most_common(1)[0][0] for shape, count in counts.items()}


def _values(node: Node) -> Iterator[ScalarNode]:
    if isinstance(node, ScalarNode):
        yield node
    elif isinstance(node, MappingNode):
        for _, value in node.value:
            yield from _values(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _values(item)


def render_string(value: str, style: str, flow: bool) -> str:
    if style == "" and _plain_ok(value, flow):
        return value
    if style == "'" and all(printable(c) for c in value):
        return "'" + value.replace("'", "''") + "'"
    return _double_quoted(value)


def _plain_ok(value: str, flow: bool) -> bool:
    """Whether ``value`` reads back as the same string when written unquoted here."""
    if not value or value != value.strip() or not all(printable(c) for c in value):
        return False
    probe = f"{{k: {value}}}" if flow else f"k: {value}\n"
    try:
        return bool(YAML(typ="rt").load(probe) == {"k": value})
    except (YAMLError, ValueError, TypeError, AttributeError):
        return False


def printable(char: str) -> bool:
    """A character written as is (not escaped) inside a one-line quoted YAML string."""
    code = ord(char)
    return (
        0x20 <= code <= 0x7E
        or (0xA0 <= code <= 0xD7FF and code not in (0x2028, 0x2029))
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
        or 0x10000 <= code <= 0x10FFFF
    )


def _double_quoted(value: str) -> str:
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif printable(char):
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:  # pragma: no cover - every character above 0xFFFF outside the printable range is a surrogate
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)
