"""docs/operations.md stays true to the chart: every alert the PrometheusRule renders has a section whose
GitHub anchor is its ``runbook_url`` fragment; every values snippet (each ```yaml block) and every
``--set`` key passes ``values.schema.json`` and renders with real helm; every ``helm template`` command
renders; every value path, repository file and link the page names exists (links' anchors included)."""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from integration.controlplane import REPO, ControlPlane
from ruamel.yaml import YAML

from .conftest import VALUES_DIR
from .helm import CHART, Helm, apply_dry_run, rejected

DOC = REPO / "docs" / "operations.md"
VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"

_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
_HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$", re.M)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_REPO_PATH = re.compile(r"^[\w.-]+(?:/[\w.-]+)+/?$")
_SET_FLAGS = ("--set", "--set-string", "--set-file", "--set-json")
_FILE_FLAGS = ("-f", "--filename", "--values", "--from-file", "--set-file")


# ------------------------------------------------------------------------------------------- markdown


@dataclass(frozen=True)
class Block:
    lang: str
    body: str


def code_blocks(text: str) -> list[Block]:
    """Fenced blocks (indented ones in list items too), dedented by their fence's indentation."""
    out = []
    for m in _FENCE.finditer(text):
        indent = len(m["indent"])
        body = "".join(
            line[indent:] if line[:indent].isspace() else line for line in m["body"].splitlines(True)
        )
        out.append(Block(m["lang"], body))
    return out


def prose(text: str) -> str:
    """The text outside fenced blocks."""
    return _FENCE.sub("", text)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, inline markup and punctuation dropped (but ``-`` and
    ``_``), spaces to ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; repeated headings get ``-1``, ``-2``, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for m in _HEADING.finditer(prose(text)):
        base = github_anchor(m[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


# ------------------------------------------------------------------------------------ shell commands


def commands(block: Block) -> Iterator[list[str]]:
    """Each command of a shell block as tokens (continuation lines joined, comments dropped; a pipeline
    is split at ``|`` so each program is its own command)."""
    text = re.sub(r"\\\n", " ", block.body)
    for line in text.splitlines():
        tokens = shlex.split(line, comments=True)
        while tokens:
            cut = tokens.index("|") if "|" in tokens else len(tokens)
            if tokens[:cut]:
                yield tokens[:cut]
            tokens = tokens[cut + 1 :]


def flag_values(tokens: list[str], flags: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(flag, value) for ``--flag value`` and ``--flag=value``."""
    for i, tok in enumerate(tokens):
        for flag in flags:
            if tok == flag and i + 1 < len(tokens):
                yield flag, tokens[i + 1]
            elif tok.startswith(flag + "="):
                yield flag, tok[len(flag) + 1 :]


def split_unescaped(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` not preceded by a backslash (helm's ``--set`` escaping)."""
    return [part.replace("\\" + sep, sep) for part in re.split(rf"(?<!\\){re.escape(sep)}", text)]


def set_keys(assignments: str) -> list[str]:
    """The value paths of one ``--set`` argument (``a.b=1,c[0].d=x`` -> ``a.b``, ``c[0].d``)."""
    return [re.split(r"(?<!\\)=", part, maxsplit=1)[0] for part in re.split(r"(?<!\\),", assignments)]


def helm_chart_args(tokens: list[str]) -> list[str]:
    """A ``helm`` command's arguments with the chart's repository path made absolute."""
    return [str(CHART) if tok in ("charts/burstd", "charts/burstd/") else tok for tok in tokens[1:]]


# ------------------------------------------------------------------------------------- values schema


def schema_at(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema of a value path (``a.b[0].c``, ``policies.inline.web\\.yaml``); None when the schema
    has no such key."""
    node: dict[str, Any] | None = schema
    for raw in split_unescaped(path, "."):
        m = re.fullmatch(r"(.+?)((?:\[\d+\])*)", raw)
        if m is None or node is None:
            return None
        node = _property(node, m[1])
        for _ in re.findall(r"\[\d+\]", m[2]):
            node = node.get("items") if node is not None and node.get("type") == "array" else None
    return node


def _property(node: dict[str, Any], key: str) -> dict[str, Any] | None:
    props: dict[str, Any] = node.get("properties", {})
    if key in props:
        found: dict[str, Any] = props[key]
        return found
    extra = node.get("additionalProperties", True)
    if extra is False or node.get("type") != "object":
        return None
    pattern = node.get("propertyNames", {}).get("pattern")
    if pattern and not re.search(pattern, key):
        return None
    return extra if isinstance(extra, dict) else {}


def merged(base: Any, override: Any) -> Any:
    """``override`` deep-merged over ``base`` (maps merge, anything else replaces), as helm merges values."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = merged(base.get(key), value)
        return out
    return copy.deepcopy(override)


def schema_errors(schema: dict[str, Any], values: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(values)
    ]


def inline_value_paths(text: str, top_keys: set[str]) -> set[str]:
    """Value paths named in prose code spans (``settings.logFormat: json``, ``prometheusRule.labels``,
    ``--set settings.dryRun=true``): dotted names starting with a top-level value; spans with placeholders
    (``<side>``) are left out."""
    out = set()
    for span in _CODE_SPAN.findall(prose(text)):
        flag, _, rest = span.partition(" ")
        names = set_keys(rest) if flag in _SET_FLAGS else [span.split(":", 1)[0].strip()]
        for name in (n.removesuffix(".*") for n in names):
            if re.fullmatch(r"[A-Za-z]\w*(?:\.[A-Za-z]\w*)+", name) and name.split(".")[0] in top_keys:
                out.add(name)
    return out


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def defaults() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe", pure=True).load(VALUES)
    return loaded


def yaml_snippets(doc: str) -> list[str]:
    snippets = [b.body for b in code_blocks(doc) if b.lang == "yaml"]
    assert len(snippets) >= 4, "docs/operations.md lost its values snippets (```yaml blocks)?"
    return snippets


def shell_commands(doc: str, program: str) -> list[list[str]]:
    return [cmd for b in code_blocks(doc) if b.lang == "sh" for cmd in commands(b) if cmd[0] == program]


# ------------------------------------------------------------------------------------------- the tests


def test_every_alert_has_a_section_at_its_runbook_anchor(helm: Helm, doc: str) -> None:
    docs = helm.render(VALUES_DIR / "monitoring.yaml")
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    assert len(rules) == 1
    found = [r for g in rules[0]["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(found) >= 13
    have = anchors(doc)
    missing = {}
    for rule in found:
        url = rule["annotations"]["runbook_url"]
        page, _, fragment = url.partition("#")
        assert page.endswith("/operations.md"), url
        assert fragment == rule["alert"].lower(), url
        if fragment not in have:
            missing[rule["alert"]] = fragment
    assert missing == {}, f"docs/operations.md has no heading for these alerts' runbook anchors: {missing}"


def test_every_values_snippet_passes_the_schema_and_renders(
    doc: str, schema: dict[str, Any], defaults: dict[str, Any], helm: Helm, tmp_path: Path
) -> None:
    yaml = YAML(typ="safe", pure=True)
    for i, snippet in enumerate(yaml_snippets(doc)):
        values = yaml.load(snippet)
        assert isinstance(values, dict), snippet
        assert schema_errors(schema, merged(defaults, values)) == [], snippet
        path = tmp_path / f"snippet-{i}.yaml"
        path.write_text(snippet, encoding="utf-8")
        assert helm.render(path), snippet


def test_every_set_key_exists_in_the_schema(doc: str, schema: dict[str, Any]) -> None:
    keys = [
        key
        for cmd in shell_commands(doc, "helm")
        for _, arg in flag_values(cmd, _SET_FLAGS)
        for key in set_keys(arg)
    ]
    assert len(keys) >= 8, keys
    assert [k for k in keys if schema_at(schema, k) is None] == []


def test_every_value_named_in_the_prose_exists(doc: str, schema: dict[str, Any]) -> None:
    split = [line for line in prose(doc).splitlines() if line.count("`") % 2]
    assert split == [], "keep each code span on one line, so that these checks see it"
    named = inline_value_paths(doc, set(schema["properties"]))
    assert len(named) >= 20, sorted(named)
    assert sorted(p for p in named if schema_at(schema, p) is None) == []


def test_every_helm_template_command_renders(doc: str, helm: Helm) -> None:
    """The RBAC commands for kubeconfig identities, exactly as written (without the ``| kubectl``)."""
    templates = [cmd for cmd in shell_commands(doc, "helm") if cmd[1:2] == ["template"]]
    assert len(templates) >= 2
    for cmd in templates:
        res = helm.run(*helm_chart_args(cmd))
        assert res.returncode == 0, f"{shlex.join(cmd)} failed:\n{res.stderr}"
        rendered = [d for d in YAML(typ="safe", pure=True).load_all(res.stdout) if d]
        kinds = {d["kind"] for d in rendered}
        assert kinds >= {"ClusterRole", "ClusterRoleBinding"}, (shlex.join(cmd), kinds)


def test_every_repository_file_named_exists(doc: str) -> None:
    top = {p.name for p in REPO.iterdir()}
    named = set()
    for program in ("helm", "kubectl"):
        for cmd in shell_commands(doc, program):
            named |= {v.split("=", 1)[-1] for _, v in flag_values(cmd, _FILE_FLAGS)}
            named |= {f"charts/burstd/{v}" for _, v in flag_values(cmd, ("--show-only", "-s"))}
            if program == "helm":
                named |= {tok for tok in cmd[1:] if tok.startswith("charts/")}
    named |= {span for span in _CODE_SPAN.findall(prose(doc)) if _REPO_PATH.match(span)}
    repo_paths = {p for p in named if p.split("/")[0] in top}
    assert len(repo_paths) >= 5, sorted(named)
    assert sorted(p for p in repo_paths if not (REPO / p).exists()) == []


def link_broken(target: str) -> bool:
    """A relative link whose file, or (for a Markdown file) whose anchor, does not exist."""
    file_part, _, fragment = target.partition("#")
    path = (DOC.parent / file_part).resolve() if file_part else DOC
    if not path.exists():
        return True
    return (
        bool(fragment) and path.suffix == ".md" and fragment not in anchors(path.read_text(encoding="utf-8"))
    )


def test_every_relative_link_and_its_anchor_exist(doc: str) -> None:
    links = [t for t in _LINK.findall(prose(doc)) if not re.match(r"[a-z]+:", t)]
    assert len(links) >= 15
    assert [t for t in links if link_broken(t)] == []


def test_the_install_values_are_accepted_by_the_api_server(
    doc: str, helm: Helm, chart_api: ControlPlane, tmp_path: Path
) -> None:
    """The minimal values file of "helm install", rendered and applied with a server-side dry run."""
    install = [s for s in yaml_snippets(doc) if s.startswith("# my-values.yaml")]
    assert len(install) == 1, "the install section's values file must start with '# my-values.yaml'"
    path = tmp_path / "my-values.yaml"
    path.write_text(install[0], encoding="utf-8")
    docs = helm.render(path)
    kinds = {d["kind"] for d in docs}
    assert kinds >= {"Deployment", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Role", "ClusterRole"}, (
        kinds
    )
    verdicts = apply_dry_run(chart_api, docs)
    assert not rejected(verdicts), "\n".join(rejected(verdicts))


# ------------------------------------------------------------------------ the checks can fail


def test_the_checks_catch_a_wrong_key_and_a_missing_anchor(
    schema: dict[str, Any], defaults: dict[str, Any]
) -> None:
    assert github_anchor("BurstdBurstStuckProvisioning") == "burstdburststuckprovisioning"
    assert github_anchor("Pause, kill switch, cost report, logs") == "pause-kill-switch-cost-report-logs"
    assert (
        github_anchor("What the bursts cost: `burstd cost report`")
        == "what-the-bursts-cost-burstd-cost-report"
    )
    assert "burstdnoleader" not in anchors("## Alerts\n```sh\n# BurstdNoLeader\n```\n### Other\n")
    assert schema_at(schema, "settings.karmada.kubeconfigSecret.name") is not None
    assert schema_at(schema, "karmadaRbac.subjects[0].apiGroup") is not None
    assert schema_at(schema, "policies.inline.web\\.yaml") is not None
    assert schema_at(schema, "settings.karmada.kubeconfigSecrets.name") is None
    assert schema_at(schema, "karmadaRbac.subjects.kind") is None
    assert schema_at(schema, "policies.inline.web\\.json") is None
    assert link_broken("../deploy/no-such-file.yaml")
    assert link_broken("../README.md#no-such-section")
    assert not link_broken("../README.md#logs")
    assert inline_value_paths(
        "`--set settings.dryRun=true` and `settings.logFormat: json`", {"settings"}
    ) == {
        "settings.dryRun",
        "settings.logFormat",
    }
    assert set_keys("a.b=1,c[0].d=x\\,y,e\\.f=2") == ["a.b", "c[0].d", "e\\.f"]
    assert schema_errors(schema, merged(defaults, {"serviceMonitor": {"enable": True}})) != []
    assert schema_errors(schema, merged(defaults, {"replicaCount": "2"})) != []
