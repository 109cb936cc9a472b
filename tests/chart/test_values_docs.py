"""charts/burstd's values are documented and schema-checked: every leaf of values.yaml carries a ``# --``
comment, appears in the README's values table and in values.schema.json, and every key the schema knows
exists in values.yaml (so the three cannot drift apart). Pure file checks: no helm needed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .helm import CHART

VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"
README = CHART / "README.md"
_ROW = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def value_leaves(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves: scalars, lists and empty maps (free-form maps such as annotations)."""
    if isinstance(node, dict) and node:
        for key, child in node.items():
            yield from value_leaves(child, f"{prefix}{key}.")
    else:
        yield prefix.rstrip(".")


def schema_keys(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every property the schema declares."""
    for key, sub in schema.get("properties", {}).items():
        yield f"{prefix}{key}"
        yield from schema_keys(sub, f"{prefix}{key}.")


def schema_objects(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if "properties" in schema:
        yield path or "(root)", schema
        for key, sub in schema["properties"].items():
            yield from schema_objects(sub, f"{path}.{key}" if path else key)


def uncommented(node: CommentedMap, lines: list[str], prefix: str = "") -> Iterator[str]:
    """Leaves with no ``# --`` comment block right above their key line (continuation lines allowed)."""
    for key, child in node.items():
        path = f"{prefix}{key}"
        if isinstance(child, CommentedMap) and child:
            yield from uncommented(child, lines, path + ".")
            continue
        line = node.lc.key(key)[0] - 1
        while line >= 0 and lines[line].lstrip().startswith("#") and "# --" not in lines[line]:
            line -= 1
        if line < 0 or not lines[line].lstrip().startswith("# --"):
            yield path


def readme_values() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Values\n", 1)
    assert len(section) == 2, "charts/burstd/README.md has no '## Values' section"
    return set(_ROW.findall(section[1]))


def load_values() -> CommentedMap:
    loaded = YAML().load(VALUES)
    assert isinstance(loaded, CommentedMap)
    return loaded


def load_schema() -> dict[str, Any]:
    loaded = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_every_value_is_commented() -> None:
    lines = VALUES.read_text(encoding="utf-8").splitlines()
    assert list(uncommented(load_values(), lines)) == []


def test_the_comment_check_finds_an_uncommented_value(tmp_path: Path) -> None:
    bad = tmp_path / "values.yaml"
    text = (
        "a:\n  # -- documented\n  #    on two lines\n  b: 1\n  c: 2\n# plain\nd: {}\n# -- documented\ne: []\n"
    )
    bad.write_text(text, encoding="utf-8")
    assert list(uncommented(YAML().load(bad), text.splitlines())) == ["a.c", "d"]


def test_every_value_is_in_the_readme_table_and_nothing_else() -> None:
    leaves = set(value_leaves(load_values()))
    assert len(leaves) > 50
    documented = readme_values()
    assert sorted(leaves - documented) == [], "values missing from charts/burstd/README.md's table"
    assert sorted(documented - leaves) == [], "README rows for values that do not exist"


def test_every_value_is_in_the_schema_and_the_schema_has_no_other_key() -> None:
    leaves = set(value_leaves(load_values()))
    keys = set(schema_keys(load_schema()))
    assert sorted(leaves - keys) == [], "values missing from values.schema.json"
    parents = {leaf.rsplit(".", i)[0] for leaf in leaves for i in range(leaf.count(".") + 1)}
    assert sorted(keys - parents) == [], "schema keys that values.yaml does not have"


def test_the_schema_is_draft_07_and_closed_everywhere() -> None:
    schema = load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    open_objects = [
        path for path, sub in schema_objects(schema) if sub.get("additionalProperties") is not False
    ]
    assert open_objects == [], "objects of the schema that accept unknown keys"


def test_the_leaf_walk_sees_nested_and_free_form_values() -> None:
    walked = list(value_leaves({"a": {"b": 1, "c": {}}, "d": [1], "e": {"f": {"g": "x"}}}))
    assert walked == ["a.b", "a.c", "d", "e.f.g"]
