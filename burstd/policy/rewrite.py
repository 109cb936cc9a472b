"""Write new values into a policy file and leave every other byte as it was (``burstd tune`` output).

A round-trip dump would re-indent sequences, re-wrap long lines and re-flow ``{...}`` mappings, so this
module edits the text instead: it composes the YAML with ruamel.yaml, which records where every value
starts and ends, and splices each new value over the old one. Everything else (comments, blank lines, key
order, quoting, flow mappings, line endings) stays byte-identical.

- A value is written in the style the file uses: the old value's quoting when it was a string, else the
  quoting the file uses for strings of the same shape (percentages, durations, others); numbers plain.
- A key missing from a mapping that exists is added: a new line after the mapping's last entry at the
  same indentation (block mapping), or ``, key: value`` at the end of a ``{...}`` mapping. With
  ``create_parents`` missing mappings on the way are added too, as ``key: {child: value}``.
- Refused with ``FILE:LINE:COL: path: message``: a path through a list index out of range, a missing
  parent (unless ``create_parents``), a path to a mapping or list, a value that is a YAML anchor, alias,
  tagged or block (``|``/``>``) scalar, and any result the policy loader rejects: nothing invalid is
  ever returned or written.
"""

from __future__ import annotations

import codecs
import copy
import os
import shutil
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, ScalarNode

from burstd.policy.loader import DOCUMENT_PATH, FILE_PATH, Diagnostic, PolicyFileError, load_text
from burstd.policy.spec import Loc
from burstd.policy.yamlpath import PathError, format_path, parse_path, read_path
from burstd.policy.yamlscalar import Value, printable, render_value, string_styles
from burstd.policy.yamlsplice import Refused, Spot, find_spot, format_entry, pair_end
from burstd.policy.yamlvalues import NotUtf8, decode_utf8, os_reason, plain

__all__ = [
    "HEADER_WIDTH",
    "PolicyRewriteError",
    "Value",
    "rewrite_file",
    "rewrite_policy",
]

#: Header comment lines are wrapped to this many characters (``# `` included).
HEADER_WIDTH = 110

_MAX_VALUES = 100_000
#: a rank before any other (a value replaced where keys are added too, e.g. an empty ``key:``)
_FIRST = 1 << 30


class PolicyRewriteError(PolicyFileError):
    """The policy could not be rewritten; one ``FILE:LINE:COL: path: message`` per line, nothing written.

    A :class:`~burstd.policy.loader.PolicyFileError`, so the command line reports it like any invalid
    policy (exit code 1, no traceback)."""


# ------------------------------------------------------------------------------------------ public API


def rewrite_policy(
    text: str,
    assignments: Mapping[str, Value],
    *,
    source: str = "<policy>",
    header_comment: str | None = None,
    create_parents: bool = False,
) -> str:
    """``text`` (a policy file holding one BurstPolicy) with the values at the given paths replaced.

    ``assignments`` maps paths (:func:`parse_path`) to new values. Only the assigned values change;
    missing keys are added to their mapping (and missing mappings on the way with ``create_parents``).
    ``header_comment`` (plain text, no ``#``) is added as a comment block after the file's leading
    comment block, or at the top, each line wrapped to :data:`HEADER_WIDTH` characters: e.g.
    ``"Tuned by burstd tune on alibaba-2018, 2026-11-30: headroom 10% -> 6%"``.

    Raises :class:`PolicyRewriteError` (``source:LINE:COL: path: message`` per problem) when the input
    is not a valid policy, a path cannot be written, or the result would not load as a valid policy."""
    _check_input(text, source)
    documents = _documents(text)
    index = _policy_index(documents)
    root = _policy_node(text)
    edits = _plan(text, root, assignments, source, create_parents)
    new = _splice(text, root, edits, documents[index])
    expected = copy.deepcopy(documents)
    for edit in edits:
        _assign(expected[index], edit.loc, edit.value)
    with_header = new if header_comment is None else _with_header(new, header_comment, source)
    try:
        _check_output(with_header, expected, edits, source)
    except PolicyRewriteError:
        if with_header is not new:
            _check_output(new, expected, edits, source)  # the problems at their positions in the input
        raise
    return with_header


def rewrite_file(
    path: str | os.PathLike[str],
    assignments: Mapping[str, Value],
    *,
    output: str | os.PathLike[str] | None = None,
    header_comment: str | None = None,
    create_parents: bool = False,
) -> str:
    """Rewrite the policy file ``path`` (see :func:`rewrite_policy`) into ``output`` (default: in place)
    and return the new text.

    The bytes are read and written as they are: CRLF line endings and a UTF-8 byte order mark stay.
    The new file replaces the old one atomically (written beside it, then renamed) and keeps its
    permissions; on any error nothing is written."""
    display = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyRewriteError(
            [Diagnostic(display, 1, 1, FILE_PATH, f"cannot read file: {os_reason(exc)}")]
        ) from None
    try:
        text = decode_utf8(data)
    except NotUtf8 as bad:
        raise PolicyRewriteError([Diagnostic(display, bad.line, bad.col, FILE_PATH, bad.message)]) from None
    new = rewrite_policy(
        text, assignments, source=display, header_comment=header_comment, create_parents=create_parents
    )
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    target = Path(output if output is not None else path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(bom + new.encode("utf-8"))
        if target.exists():
            shutil.copymode(target, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise PolicyRewriteError(
            [Diagnostic(os.fspath(target), 1, 1, FILE_PATH, f"cannot write file: {os_reason(exc)}")]
        ) from None
    return new


# ------------------------------------------------------------------------------------------ planning


@dataclass(frozen=True, slots=True)
class _Edit:
    loc: Loc
    value: Value
    spot: Spot

    @property
    def line(self) -> int:
        """1-based line in the input of the value, or of the mapping a missing key is added to."""
        return int((self.spot.where or self.spot.node).start_mark.line) + 1

    @property
    def col(self) -> int:
        return int((self.spot.where or self.spot.node).start_mark.column) + 1


def _problem(source: str, loc: Loc | str, line: int, col: int, message: str) -> PolicyRewriteError:
    path = loc if isinstance(loc, str) else format_path(loc)
    return PolicyRewriteError([Diagnostic(source, line, col, path, message)])


def _check_input(text: str, source: str) -> None:
    result = load_text(text, source)
    if result.diagnostics:
        raise PolicyRewriteError(result.diagnostics)
    if len(result.policies) != 1:
        found = ", ".join(policy.name for _, policy in result.policies) or "none"
        raise _problem(
            source, DOCUMENT_PATH, 1, 1, f"expected exactly one BurstPolicy to rewrite, found {found}"
        )


def _plan(
    text: str, root: MappingNode, assignments: Mapping[str, Value], source: str, create_parents: bool
) -> list[_Edit]:
    """Check every assignment against the input; all problems are reported at once, at input positions."""
    edits: list[_Edit] = []
    problems: list[Diagnostic] = []
    seen: dict[Loc, str] = {}
    for path, value in assignments.items():
        try:
            loc = parse_path(path)
        except PathError as exc:
            problems.append(Diagnostic(source, 1, 1, path, str(exc)))
            continue
        if loc in seen:
            problems.append(Diagnostic(source, 1, 1, path, f"assigned twice (also as {seen[loc]!r})"))
            continue
        seen[loc] = path
        if not isinstance(value, str | int | float):  # bool is an int
            problems.append(
                Diagnostic(
                    source,
                    1,
                    1,
                    format_path(loc),
                    f"cannot write a {type(value).__name__} ({value!r}): expected a string, number or boolean",
                )
            )
            continue
        try:
            spot = find_spot(text, root, loc, create_parents)
        except Refused as refused:
            problems.append(Diagnostic(source, refused.line, refused.col, format_path(loc), refused.message))
            continue
        edits.append(_Edit(loc, value, spot))
    for edit in edits:
        for other in edits:
            if len(other.loc) > len(edit.loc) and other.loc[: len(edit.loc)] == edit.loc:
                problems.append(
                    Diagnostic(
                        source,
                        edit.line,
                        edit.col,
                        format_path(edit.loc),
                        f"assigned a value and also a key below it ({format_path(other.loc)})",
                    )
                )
    if problems:
        raise PolicyRewriteError(problems)
    return edits


def _policy_node(text: str) -> MappingNode:
    """The composed node of the one BurstPolicy document (the input already loaded cleanly)."""
    for node in YAML(typ="rt").compose_all(text):
        if isinstance(node, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "kind" and getattr(v, "value", None) == "BurstPolicy"
            for k, v in node.value
        ):
            return node
    raise AssertionError("no BurstPolicy document")  # pragma: no cover - checked by _check_input


# ------------------------------------------------------------------------------------------ splicing


def _splice(text: str, root: MappingNode, edits: Sequence[_Edit], policy: Any) -> str:
    """``text`` with every edit made. Each is placed by its position in ``text`` and the splices are made
    from the end of the text backwards, so no splice moves the place of another. Several keys added to one
    mapping (or to missing mappings below one key, with ``create_parents``) go in the order assigned."""
    styles = string_styles(root)
    nl = "\r\n" if "\r\n" in text else "\n"
    # start, end, rank, order, new text: splices at one place end up in the file by rank then order
    splices: list[tuple[int, int, int, int, str]] = []
    groups: dict[tuple[int, str], list[_Edit]] = {}  # added keys, by the mapping and key they go in
    for order, edit in enumerate(edits):
        spot = edit.spot
        if spot.missing:
            groups.setdefault((id(spot.node), spot.missing[0]), []).append(edit)
            continue
        assert isinstance(spot.node, ScalarNode)
        try:
            current = read_path(policy, edit.loc)
        except PathError:  # pragma: no cover - the value exists in the composed document
            current = None
        if _unchanged(current, edit.value):
            continue
        start, end = spot.span
        rendered = render_value(edit.value, spot.node, styles, spot.flow)
        if start == end:  # an empty value, right after its colon
            rendered = " " + rendered
        splices.append((start, end, -_FIRST, order, rendered))
    filled: set[int] = set()  # the {...} mappings that got a key
    for order, group in enumerate(groups.values(), start=len(edits)):
        parent = group[0].spot.node
        assert isinstance(parent, MappingNode)
        flow = group[0].spot.flow or bool(parent.flow_style)
        tree: dict[str, Any] = {}
        for edit in group:
            _assign(tree, edit.spot.missing, edit.value)
        entry = format_entry(tree, styles, flow)
        if parent.flow_style:
            first = not parent.value and id(parent) not in filled
            filled.add(id(parent))
            at = pair_end(text, *parent.value[-1]) if parent.value else int(parent.end_mark.index) - 1
            splices.append((at, at, 0, order, entry if first else ", " + entry))
            continue
        indent = int(parent.value[0][0].start_mark.column)
        last = pair_end(text, *parent.value[-1])
        line_end = text.find("\n", max(last - 1, 0))
        if line_end == -1:
            line_end = len(text)
        elif text[line_end - 1 : line_end] == "\r":
            line_end -= 1
        # keys of a nested mapping (more indented) go before keys of the mappings that hold it
        splices.append((line_end, line_end, -indent, order, nl + " " * indent + entry))
    new = text
    for start, end, _, _, rendered in sorted(splices, reverse=True):
        new = new[:start] + rendered + new[end:]
    return new


def _unchanged(current: Any, value: Value) -> bool:
    """Whether ``current`` (the value as loaded) already is ``value``: then its text is kept as written
    (e.g. ``0.50`` for 0.5)."""
    if isinstance(value, bool) or isinstance(current, bool):
        return type(current) is type(value) and current == value
    if isinstance(value, str) or isinstance(current, str):
        return isinstance(current, str) and isinstance(value, str) and current == value
    return isinstance(current, int | float) and bool(current == value)


# ------------------------------------------------------------------------------------------ header


def _with_header(text: str, header: str, source: str) -> str:
    """``text`` with ``header`` as a comment block after the leading comment block (or at the top)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    bad = next((c for c in header if not printable(c) and c not in "\t\r\n"), None)
    if bad is not None:
        raise _problem(
            source, "(header)", 1, 1, f"the header comment holds the control character {bad!r}; remove it"
        )
    lines: list[str] = []
    for paragraph in header.splitlines() or [""]:
        wrapped = textwrap.wrap(
            paragraph.strip(), HEADER_WIDTH - 2, break_long_words=False, break_on_hyphens=False
        )
        lines.extend(f"# {line}" for line in wrapped) if wrapped else lines.append("#")
    block = nl.join(lines) + nl
    offset = 0
    comment_end = None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        offset += len(line)
        if stripped:
            comment_end = offset
    if comment_end is None:
        return block + text
    before = text[:comment_end]
    if not before.endswith(("\n", "\r")):  # pragma: no cover - a file of comments only holds no policy
        before += nl
    return before + nl + block + text[comment_end:]


# ------------------------------------------------------------------------------------------ checking


def _check_output(text: str, expected: list[Any], edits: Sequence[_Edit], source: str) -> None:
    """``text`` must be a valid policy that holds ``expected``: the input's documents with the assigned
    values, and nothing else changed."""
    result = load_text(text, source)
    if result.diagnostics:
        assigned = {format_path(edit.loc): edit for edit in edits}
        problems = []
        for diagnostic in result.diagnostics:
            edit = assigned.get(diagnostic.path)
            line, col = (edit.line, edit.col) if edit is not None else (diagnostic.line, diagnostic.col)
            shown = f" (assigned {edit.value!r})" if edit is not None else ""
            problems.append(
                Diagnostic(
                    source,
                    line,
                    col,
                    diagnostic.path,
                    f"{diagnostic.message}{shown}; with the new values the policy would be invalid, "
                    "so it was not rewritten",
                )
            )
        raise PolicyRewriteError(problems)
    if _documents(text) != expected:  # a splice went wrong: never hand it out
        raise _problem(
            source,
            DOCUMENT_PATH,
            1,
            1,
            "internal error: the rewritten text does not hold exactly the assigned values; "
            "nothing was written (please report this with the policy file)",
        )


def _documents(text: str) -> list[Any]:
    return [plain(doc, max_values=_MAX_VALUES) for doc in YAML(typ="rt").load_all(text)]


def _policy_index(documents: Sequence[Any]) -> int:
    for index, doc in enumerate(documents):
        if isinstance(doc, Mapping) and doc.get("kind") == "BurstPolicy":
            return index
    raise AssertionError("no BurstPolicy document")  # pragma: no cover - checked by _check_input


def _assign(data: Any, loc: Loc, value: Value) -> None:
    for part in loc[:-1]:
        data = data.setdefault(part, {}) if isinstance(part, str) else data[part]
    data[loc[-1]] = value
