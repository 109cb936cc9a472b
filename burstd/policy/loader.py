"""Read policy files and report every problem as ``FILE:LINE:COL: field.path: message``.

YAML is read with ruamel.yaml's round-trip loader, which remembers where every key, value and list item
was written. Each :class:`~burstd.policy.spec.Problem` found by :func:`~burstd.policy.spec.parse_document`
is mapped back to the most precise position: the offending value when its key exists, else the key of the
nearest parent that does exist (e.g. a missing field points at the mapping that should hold it).

Nothing here raises on bad input: unreadable files, YAML syntax errors, duplicate keys, empty files and
invalid documents all become :class:`Diagnostic` lines in a :class:`LoadResult`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError

from burstd.policy.claims import Conflict, claims_of, overlaps, repeated
from burstd.policy.spec import BurstPolicy, FleetLimits, Loc, PolicyInvalid, Problem, parse_document
from burstd.policy.yamlvalues import NotUtf8, TooLarge, decode_utf8, os_reason
from burstd.policy.yamlvalues import plain as to_plain

__all__ = [
    "Diagnostic",
    "LoadResult",
    "PolicyFileError",
    "Source",
    "expand_paths",
    "load_paths",
    "load_policy",
    "load_text",
    "locate",
]

#: File name suffixes read from a directory.
YAML_SUFFIXES = (".yaml", ".yml")

#: Path shown for problems that are not about one field (file unreadable, YAML syntax, empty file).
FILE_PATH = "(file)"
YAML_PATH = "(yaml)"
DOCUMENT_PATH = "(document)"

# Guards against alias bombs ("billion laughs"): a policy is a few hundred values.
_MAX_VALUES = 100_000


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, with its position (1-based line and column) in a file."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a document came from: the file, its index among the file's documents (0-based), and the
    position (1-based) where it starts."""

    file: str
    document: int
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(slots=True)
class LoadResult:
    """Everything read from a set of files: valid documents and every problem found."""

    files: list[str] = field(default_factory=list)
    policies: list[tuple[Source, BurstPolicy]] = field(default_factory=list)
    fleet_limits: FleetLimits | None = None
    fleet_limits_source: Source | None = None
    #: every problem, conflicts between policies included
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: policies (each valid on its own, all in ``policies``) naming a target an earlier policy names
    conflicts: list[Conflict] = field(default_factory=list)
    #: the diagnostics that report ``conflicts``
    conflict_diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Every problem as a ``FILE:LINE:COL: field.path: message`` line."""
        return [str(d) for d in self.diagnostics]

    @property
    def invalid(self) -> list[Diagnostic]:
        """The problems that make a document unusable: every problem but conflicts between policies
        (which ``burstd run`` settles by holding the later policy)."""
        return [d for d in self.diagnostics if d not in self.conflict_diagnostics]

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    def policies_in(self, file: str) -> list[BurstPolicy]:
        return [policy for source, policy in self.policies if source.file == file]


class PolicyFileError(Exception):
    """A policy file could not be used; the message holds one ``FILE:LINE:COL: path: message`` per line."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        self.errors = [str(d) for d in self.diagnostics]
        super().__init__("\n".join(self.errors))


# --------------------------------------------------------------------------------------------- public API


def load_paths(
    paths: Iterable[str | os.PathLike[str]], *, providers: Collection[str] | None = None
) -> LoadResult:
    """Load every document of the given files and directories (each ``*.yaml``/``*.yml`` in a directory,
    sorted by name, not recursive). A file named twice is read once. With ``providers`` (the names of the
    installed provider plugins, ``burstd.cloud.registry.available()``), a pool priced by its provider
    (``price.source: provider``) whose provider is not among them is a problem."""
    loader = _Loader(providers)
    files, problems = expand_paths(paths)
    loader.result.diagnostics.extend(problems)
    for display, path in files:
        loader.add_file(display, path)
    loader.check_claims()
    return loader.result


def load_text(text: str, file: str = "<string>") -> LoadResult:
    """Load the documents of one YAML text, reporting problems against the name ``file``."""
    loader = _Loader()
    loader.add_text(file, text)
    loader.check_claims()
    return loader.result


def load_policy(path: str | os.PathLike[str]) -> BurstPolicy:
    """Load the one BurstPolicy in ``path`` (FleetLimits documents beside it are ignored).

    Raises PolicyFileError if the file has any problem or does not hold exactly one BurstPolicy.
    """
    result = load_paths([path])
    if result.diagnostics:
        raise PolicyFileError(result.diagnostics)
    if len(result.policies) != 1:
        names = ", ".join(p.name for _, p in result.policies)
        found = f"{len(result.policies)} ({names})" if names else "none"
        raise PolicyFileError(
            [
                Diagnostic(
                    os.fspath(path), 1, 1, DOCUMENT_PATH, f"expected exactly one BurstPolicy, found {found}"
                )
            ]
        )
    return result.policies[0][1]


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[tuple[str, Path]], list[Diagnostic]]:
    """Turn command-line arguments into files to read: ``(display name, path)`` pairs, plus a problem for
    each argument that does not exist or is a directory without YAML files."""
    files: list[tuple[str, Path]] = []
    problems: list[Diagnostic] = []
    seen: set[Path] = set()

    def add(display: str, path: Path) -> None:
        try:
            key = path.resolve()
        except OSError:  # pragma: no cover - resolve() only fails on exotic loops
            key = path
        if key not in seen:
            seen.add(key)
            files.append((display, path))

    for arg in paths:
        display = os.fspath(arg)
        path = Path(arg)
        if path.is_dir():
            try:
                entries = sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
            except OSError as exc:
                problems.append(
                    Diagnostic(display, 1, 1, FILE_PATH, f"cannot list directory: {os_reason(exc)}")
                )
                continue
            if not entries:
                problems.append(
                    Diagnostic(display, 1, 1, FILE_PATH, "directory holds no *.yaml or *.yml files")
                )
            for entry in entries:
                add(os.path.join(display, entry.name), entry)
        else:
            add(display, path)
    return files, problems


def locate(
    root: Any, loc: Loc, root_position: tuple[int, int] = (0, 0), *, at_key: bool = False
) -> tuple[int, int]:
    """The 0-based ``(line, column)`` in a round-trip-loaded document that best matches ``loc``.

    The value's position when the whole path exists (the key's position when the value is a mapping or
    list, or when ``at_key`` is set); else the key (or list item) of the deepest part of the path that
    exists; else ``root_position``.
    """
    node = root
    position = root_position
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, CommentedMap):
            if part not in node:
                return position
            key_at = _lc(node, "key", part)
            if key_at is None:  # e.g. a key brought in by a YAML merge (<<): no position of its own
                return position
            child = node[part]
            if last:
                if at_key or isinstance(child, CommentedMap | CommentedSeq):
                    return key_at
                return _lc(node, "value", part) or key_at
            position, node = key_at, child
        elif isinstance(node, CommentedSeq):
            if not isinstance(part, int) or isinstance(part, bool) or not 0 <= part < len(node):
                return position
            item_at = _lc(node, "item", part)
            if item_at is None:  # pragma: no cover - ruamel records every item it reads
                return position
            position, node = item_at, node[part]
        else:
            return position
    return position


# --------------------------------------------------------------------------------------------- internals


def _lc(node: CommentedMap | CommentedSeq, what: str, part: Any) -> tuple[int, int] | None:
    try:
        line, col = getattr(node.lc, what)(part)
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return int(line), int(col)


_DUPLICATE = re.compile(r'found duplicate key "(?P<key>.*?)" with value')


def _yaml_error(file: str, exc: YAMLError) -> Diagnostic:
    """A YAML error as a diagnostic with a message that says what to fix."""
    if not isinstance(exc, MarkedYAMLError) or exc.problem_mark is None:
        return Diagnostic(file, 1, 1, YAML_PATH, f"YAML error: {exc}")
    problem = str(exc.problem or "invalid YAML")
    context = str(exc.context or "")
    mark = exc.problem_mark
    context_mark = exc.context_mark
    where = f" that starts at line {context_mark.line + 1}" if context_mark is not None else ""
    if (dup := _DUPLICATE.search(problem)) is not None:
        message = (
            f"duplicate key {dup.group('key')!r} in the mapping{where}; each key may appear only once in a "
            "mapping: remove or merge the repeated one"
        )
    elif "'\\t'" in problem:
        message = "YAML syntax error: found a tab character; indent YAML with spaces, never tabs"
    elif "quoted scalar" in context and context_mark is not None:
        quote = f"{context_mark.line + 1}:{context_mark.column + 1}"
        message = f"YAML syntax error: the quoted string that starts at {quote} is never closed ({problem})"
        mark = context_mark
    elif "<block end>" in problem:
        block = f"the {context.removeprefix('while parsing a ')}{where}" if context else "the lines above"
        message = f"YAML syntax error: bad indentation: this line does not line up with {block} ({problem})"
    elif "mapping values are not allowed" in problem:
        message = (
            "YAML syntax error: unexpected ':' (mapping values are not allowed here); check the indentation, "
            "and quote values that contain ': '"
        )
    else:
        message = f"YAML syntax error: {problem}"
        if context:
            message += f" ({context}{where})"
        if "undefined alias" in problem:
            message += "; define the anchor (&name) before using the alias (*name)"
    return Diagnostic(file, mark.line + 1, mark.column + 1, YAML_PATH, message)


class _Loader:
    """Accumulates documents and problems over several files; checks names across files."""

    def __init__(self, providers: Collection[str] | None = None) -> None:
        self.result = LoadResult()
        self._providers = providers
        self._policy_names: dict[str, str] = {}  # name -> "file:line:col" of its metadata.name
        self._fleet_at: str | None = None
        self._where: dict[tuple[str, Loc], tuple[str, int, int]] = {}  # (policy, loc) -> file, line, col

    def add_file(self, display: str, path: Path) -> None:
        self.result.files.append(display)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._problem(display, 1, 1, FILE_PATH, f"cannot read file: {os_reason(exc)}")
            return
        try:
            text = decode_utf8(data)
        except NotUtf8 as bad:
            self._problem(display, bad.line, bad.col, FILE_PATH, bad.message)
            return
        self._add_documents(display, text)

    def add_text(self, display: str, text: str) -> None:
        self.result.files.append(display)
        self._add_documents(display, text)

    def _problem(self, file: str, line: int, col: int, path: str, message: str) -> None:
        self.result.diagnostics.append(Diagnostic(file, line, col, path, message))

    def _add_documents(self, file: str, text: str) -> None:
        yaml = YAML(typ="rt")
        documents: list[Any] = []
        try:
            with warnings.catch_warnings():
                # A reused anchor is legal YAML (the later one wins): no warning on stderr.
                warnings.simplefilter("ignore", ReusedAnchorWarning)
                for document in yaml.load_all(text):
                    documents.append(document)
        except YAMLError as exc:
            for index, document in enumerate(documents):
                self._add_document(file, text, index, document)
            self.result.diagnostics.append(_yaml_error(file, exc))
            return
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
            # ruamel.yaml itself trips over some odd inputs (e.g. a bare '!!set'): still the input's fault.
            for index, document in enumerate(documents):
                self._add_document(file, text, index, document)
            self._problem(
                file,
                1,
                1,
                YAML_PATH,
                f"YAML error: the YAML reader cannot read this file "
                f"({type(exc).__name__}: {exc}); check for unusual tags (!!...) or syntax",
            )
            return
        if all(document is None for document in documents):
            self._problem(
                file,
                1,
                1,
                DOCUMENT_PATH,
                "no YAML document in the file (it is empty or only has "
                "comments); expected a BurstPolicy or FleetLimits",
            )
            return
        for index, document in enumerate(documents):
            self._add_document(file, text, index, document)

    def _add_document(self, file: str, text: str, index: int, document: Any) -> None:
        if document is None:  # an empty document, e.g. after a trailing '---': skipped, like kubectl does
            return
        root_at = _root_position(text, index, document)
        source = Source(file, index, root_at[0] + 1, root_at[1] + 1)

        def at(loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
            line, col = locate(document, loc, root_at, at_key=at_key)
            return line + 1, col + 1

        try:
            plain = to_plain(document, max_values=_MAX_VALUES)
        except TooLarge:
            self._problem(
                file,
                source.line,
                source.col,
                DOCUMENT_PATH,
                f"document has more than {_MAX_VALUES} values (are YAML aliases expanding it?)",
            )
            return
        try:
            parsed = parse_document(plain)
        except PolicyInvalid as invalid:
            for problem in invalid.problems:
                line, col = at(problem.loc, at_key=_about_key(problem))
                self._problem(file, line, col, problem.path, problem.message)
            return
        if isinstance(parsed, FleetLimits):
            if self._fleet_at is not None:
                line, col = at(("kind",))
                self._problem(
                    file,
                    line,
                    col,
                    "kind",
                    f"a second FleetLimits document; the first is at "
                    f"{self._fleet_at}. There is one FleetLimits per fleet: merge them",
                )
                return
            self._fleet_at = str(source)
            self.result.fleet_limits = parsed
            self.result.fleet_limits_source = source
            return
        line, col = at(("metadata", "name"))
        first = self._policy_names.get(parsed.name)
        if first is not None:
            self._problem(
                file,
                line,
                col,
                "metadata.name",
                f"policy name {parsed.name!r} is already used by "
                f"the policy at {first}; policy names must be unique",
            )
            return
        problems = [*repeated(parsed), *self._unpriced(parsed)]
        for problem in problems:
            self._problem(file, *at(problem.loc, at_key=True), problem.path, problem.message)
        if problems:
            return
        self._policy_names[parsed.name] = f"{file}:{line}:{col}"
        self.result.policies.append((source, parsed))
        self._where.update(
            {(parsed.name, claim.loc): (file, *at(claim.loc, at_key=True)) for claim in claims_of(parsed)}
        )

    def _unpriced(self, policy: BurstPolicy) -> list[Problem]:
        """Pools priced by a provider that is not installed: they could never have a price."""
        if self._providers is None:
            return []
        installed = ", ".join(sorted(self._providers)) or "none"
        return [
            Problem(
                ("spec", "burst", "pools", i, "provider"),
                f"pool {pool.name} is priced by its provider (price.source: provider) but provider "
                f"{pool.provider!r} is not installed (installed: {installed}); it would have no price: "
                "install the provider's plugin or set price.source: static with price.perNodeHour",
            )
            for i, pool in enumerate(policy.spec.burst.pools)
            if pool.price is not None
            and pool.price.source == "provider"
            and pool.provider not in self._providers
        ]

    def check_claims(self) -> None:
        """One target, one policy: report each claim on a target an earlier policy already names."""
        for conflict in overlaps(policy for _, policy in self.result.policies):
            first, later = conflict.first, conflict.later
            first_file, first_line, first_col = self._where[(first.policy, first.loc)]
            file, line, col = self._where[(later.policy, later.loc)]
            diagnostic = Diagnostic(
                file,
                line,
                col,
                later.path,
                f"{conflict.target} is already managed by policy {first.policy} at "
                f"{first_file}:{first_line}:{first_col} ({first.path}); one object is managed by one policy "
                "(both would write it as field manager burstd and undo each other's changes): remove it "
                "from one of them",
            )
            self.result.diagnostics.append(diagnostic)
            self.result.conflicts.append(conflict)
            self.result.conflict_diagnostics.append(diagnostic)


def _about_key(problem: Problem) -> bool:
    """Problems about a key itself (not its value) point at the key."""
    return problem.message.startswith("unknown field")


def _root_position(text: str, index: int, document: Any) -> tuple[int, int]:
    if isinstance(document, CommentedMap | CommentedSeq):
        return int(document.lc.line), int(document.lc.col)
    # A scalar document keeps no position of its own: find it among the composed nodes.
    try:
        for i, node in enumerate(YAML(typ="rt").compose_all(text)):
            if i == index:
                return int(node.start_mark.line), int(node.start_mark.column)
    except YAMLError:  # pragma: no cover - the text already loaded up to this document
        pass
    return 0, 0  # pragma: no cover
