"""What the readers of the policy, settings and simulator files share: their bytes decoded as UTF-8 with the
line and column of the first bad byte; ruamel.yaml's round-trip values turned into plain dicts, lists and
scalars within a budget (YAML aliases can expand a small file into billions of values) and a depth; and a
short reason for an ``OSError`` that names no path (the caller names the place)."""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import TaggedScalar

__all__ = ["NotUtf8", "TooDeep", "TooLarge", "decode_utf8", "os_reason", "plain"]


class TooLarge(Exception):
    """More values than the budget allows."""


class TooDeep(Exception):
    """Nested deeper than allowed."""


def plain(value: Any, *, max_values: int, max_depth: int | None = None, str_keys: bool = False) -> Any:
    """``value`` as plain Python values. Raises ``TooLarge`` past ``max_values`` values and ``TooDeep``
    past ``max_depth`` levels; mapping keys become strings with ``str_keys``."""
    budget = [max_values]

    def walk(v: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise TooLarge
        if max_depth is not None and depth > max_depth:
            raise TooDeep
        if isinstance(v, dict):
            return {
                (k if isinstance(k, str) else str(k)) if str_keys else walk(k, depth + 1): walk(x, depth + 1)
                for k, x in v.items()
            }
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, TaggedScalar):
            return str(v.value)
        if isinstance(v, bool) or v is None:
            return v
        for kind in (int, float, str):
            if isinstance(v, kind):
                return kind(v)
        return v

    return walk(value, 0)


def os_reason(exc: OSError) -> str:
    """``no such file or directory``, ``permission denied``, ... (the error's own text names the path)."""
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return exc.strerror or type(exc).__name__


class NotUtf8(ValueError):
    """The bytes are not UTF-8: ``line``/``col`` (1-based) of the first bad byte, and why."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def decode_utf8(data: bytes) -> str:
    """``data`` as text (a leading BOM dropped). Raises ``NotUtf8`` at the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        raise NotUtf8(line, col, bad) from None
