"""Reading the settings file, and naming where a bad setting came from.

The file is read with ruamel.yaml's round-trip loader, which remembers where each key and value was written,
so an error points at ``FILE:LINE:COL``. A value set by a ``BURSTD_*`` environment variable is reported
under the variable's name, a value set by a flag under the flag's name. Hostile files are refused with a
clear error instead of a traceback: bytes that are not UTF-8, files larger than ``MAX_FILE_BYTES``, nesting
deeper than ``MAX_DEPTH`` and more than ``MAX_VALUES`` values (YAML aliases expanding).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic.alias_generators import to_camel, to_snake
from ruamel.yaml import YAML
from ruamel.yaml.error import ReusedAnchorWarning, YAMLError

from burstd.policy.loader import locate
from burstd.policy.yamlvalues import NotUtf8, TooDeep, TooLarge, decode_utf8
from burstd.policy.yamlvalues import plain as to_plain

__all__ = ["ENV_PREFIX", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_VALUES", "Origins", "SettingsError", "read_file"]

ENV_PREFIX = "BURSTD_"
ENV_DELIMITER = "__"
#: a settings file is a few dozen values; these bounds only stop hostile files
MAX_FILE_BYTES = 1 * 2**20
MAX_VALUES = 10_000
MAX_DEPTH = 32

Loc = Sequence[str | int]
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class SettingsError(Exception):
    """The settings cannot be used; the message names the source and every bad field."""


@dataclass(frozen=True, slots=True)
class Origins:
    """Where the settings came from: the file (and its round-trip YAML, for positions), the flags given
    (field name -> flag) and the environment."""

    file: str | None = None
    root: Any = None
    flags: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def where(self, loc: Loc, *, at_key: bool = False) -> str:
        """``--flag``, ``BURSTD_VAR`` (or several, comma-separated), ``FILE:LINE:COL`` or ``settings``."""
        names = [to_snake(p) for p in loc if isinstance(p, str)]
        if names and names[0] in self.flags:
            return self.flags[names[0]]
        variables = self._variables(names)
        if variables:
            return ", ".join(variables)
        if self.file is not None:
            # a value read from the file is reported under the key as written there
            line, col = locate(self.root, tuple(loc), at_key=at_key) if self.root is not None else (0, 0)
            return f"{self.file}:{line + 1}:{col + 1}"
        return "settings"

    def describe(self, loc: Loc, message: str, *, at_key: bool = False) -> str:
        """One error line: ``WHERE: path.to.field: message``."""
        return f"{self.where(loc, at_key=at_key)}: {path_of(loc, literal_last=at_key)}: {message}"

    def _variables(self, names: list[str]) -> list[str]:
        present = {k.upper(): k for k in self.environ if k.upper().startswith(ENV_PREFIX)}
        for i in range(len(names), 0, -1):
            name = ENV_PREFIX + ENV_DELIMITER.join(names[:i]).upper()
            if name in present:
                return [present[name]]
        if names:  # a section-level error: every variable that set something in the section
            prefix = ENV_PREFIX + ENV_DELIMITER.join(names).upper() + ENV_DELIMITER
            return sorted(v for k, v in present.items() if k.startswith(prefix))
        return []


def path_of(loc: Loc, *, literal_last: bool = False) -> str:
    """``leaderElection.retryPeriod``, ``policies[0]``; ``(settings)`` for the whole document. Field names
    are shown as written in YAML (camelCase); with ``literal_last`` the last part (an unknown key) as is."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if literal_last and i == len(loc) - 1 else to_camel(part)
            if _PLAIN_KEY.fullmatch(name):
                out += ("." if out else "") + name
            else:  # e.g. an unknown key ' ': quoted, never blank
                out += f"[{name!r}]"
    return out or "(settings)"


def read_file(path: Path) -> tuple[dict[str, Any], Any]:
    """The settings file as plain data, and its round-trip YAML root (for positions).

    Raises SettingsError with ``FILE:LINE:COL`` where the problem has a position.
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SettingsError(f"{path}:1:1: the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = decode_utf8(data)
    except NotUtf8 as bad:
        raise SettingsError(f"{path}:{bad.line}:{bad.col}: {bad.message}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            root = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else f"{path}:1:1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SettingsError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise SettingsError(_too_deep(path)) from None
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        # ruamel.yaml itself trips over some odd inputs (e.g. a bare '!!set'): still the input's fault
        raise SettingsError(
            f"{path}:1:1: invalid YAML: the YAML reader cannot read this file ({type(exc).__name__})"
        ) from None
    if root is None:
        return {}, None
    if not isinstance(root, dict):
        kind = "list" if isinstance(root, list) else "text" if isinstance(root, str) else type(root).__name__
        raise SettingsError(f"{path}:1:1: expected a mapping of settings, got {kind}")
    try:
        plain = to_plain(root, max_values=MAX_VALUES, max_depth=MAX_DEPTH, str_keys=True)
    except TooLarge:
        raise SettingsError(
            f"{path}:1:1: the settings hold more than {MAX_VALUES} values (are YAML aliases expanding?)"
        ) from None
    except TooDeep:
        raise SettingsError(_too_deep(path)) from None
    return plain, root


def _too_deep(path: Path) -> str:
    return f"{path}:1:1: the settings are nested too deeply (more than {MAX_DEPTH} levels)"
