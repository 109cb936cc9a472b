"""Reading the simulator's inputs: policy and fleet YAML (errors with ``FILE:LINE:COL``), trace CSVs, and the
files bundled in ``burstd/sim/data`` (used when no file is given).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from burstd.policy.loader import PolicyFileError, load_text
from burstd.policy.loader import load_policy as load_policy_file
from burstd.policy.loader import locate as locate_0
from burstd.policy.spec import BurstPolicy, PolicyInvalid
from burstd.policy.yamlvalues import NotUtf8, decode_utf8
from burstd.sim.fleet import SimulatedFleet, parse_fleet
from burstd.sim.trace import FillGaps, Trace, TraceError, parse_trace

T = TypeVar("T")

BUNDLED_POLICY = "policy.yaml"
BUNDLED_FLEET = "fleet.yaml"
DEFAULT_TRACE = "alibaba-2018"


class InputError(Exception):
    """An input file that cannot be used; ``str()`` is one or more ``FILE:LINE[:COL]: message`` lines."""


def data_dir() -> Traversable:
    return resources.files("burstd.sim").joinpath("data")


def bundled_traces() -> list[str]:
    """Names of the traces shipped with burstd (``burstd/sim/data/traces/<name>/demand.csv``)."""
    root = data_dir().joinpath("traces")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.joinpath("demand.csv").is_file())


#: the largest input file read (a trace of MAX_TRACE_SAMPLES rows is about 20 MiB)
MAX_FILE_BYTES = 64 * 2**20


def _read(path: str | None, bundled: str) -> tuple[str, str]:
    """(display name, text) of a file given on the command line, or of a bundled file."""
    if path is None:
        return f"<bundled {bundled}>", data_dir().joinpath(bundled).read_text(encoding="utf-8")
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL byte in the path
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path}: the file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        return path, decode_utf8(data)
    except NotUtf8 as bad:
        raise InputError(f"{path}:{bad.line}:{bad.col}: {bad.message}") from None


def load_trace(arg: str | None, fill_gaps: FillGaps = "error") -> Trace:
    """A trace from a CSV file, or the bundled trace of that name (``alibaba-2018`` when ``arg`` is None)."""
    if arg is None or (arg in bundled_traces() and not _exists(arg)):
        name = arg or DEFAULT_TRACE
        text = data_dir().joinpath("traces", name, "demand.csv").read_text(encoding="utf-8")
        source = name
    else:
        source, text = _read(arg, "")
    try:
        return parse_trace(text, source, fill_gaps)
    except TraceError as exc:
        raise InputError(str(exc)) from None


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def load_policy(path: str | None) -> BurstPolicy:
    """The one BurstPolicy in ``path`` (read by ``burstd.policy.loader``), or the bundled example policy."""
    try:
        if path is not None:
            return load_policy_file(path)
        source, text = _read(None, BUNDLED_POLICY)
        result = load_text(text, source)
        if result.diagnostics:
            raise PolicyFileError(result.diagnostics)
        return result.policies[0][1]
    except PolicyFileError as exc:
        raise InputError(str(exc)) from None


def load_fleet(path: str | None) -> SimulatedFleet:
    return _load_yaml(path, BUNDLED_FLEET, parse_fleet)


def _load_yaml(path: str | None, bundled: str, validate: Callable[[Any], T]) -> T:
    """Read one YAML document and validate it; problems become ``FILE:LINE:COL: path: message``."""
    source, text = _read(path, bundled)
    yaml = YAML(typ="rt")
    try:
        docs = [d for d in yaml.load_all(text) if d is not None]
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}: invalid YAML: {problem}") from None
    except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
        # ruamel.yaml trips over some odd inputs (deep nesting, a bare '!!set'): still the input's fault
        raise InputError(
            f"{source}:1:1: the YAML reader cannot read this file ({type(exc).__name__})"
        ) from None
    if len(docs) != 1:
        raise InputError(f"{source}: expected exactly one YAML document, found {len(docs)}")
    root = docs[0]
    try:
        return validate(plain(root))
    except PolicyInvalid as exc:
        lines = []
        for problem in exc.problems:
            line, col = locate_0(root, problem.loc, at_key=problem.message.startswith("unknown field"))
            lines.append(f"{source}:{line + 1}:{col + 1}: {problem.path}: {problem.message}")
        raise InputError("\n".join(lines)) from None


def plain(node: Any) -> Any:
    """ruamel's round-trip values as plain dicts, lists, str, int, float, bool, datetime."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, dt.datetime):
        return dt.datetime(
            node.year,
            node.month,
            node.day,
            node.hour,
            node.minute,
            node.second,
            node.microsecond,
            tzinfo=node.tzinfo,
        )
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
