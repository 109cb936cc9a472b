"""The command line, run as users run it: ``python -m burstd ...`` in a subprocess."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from burstd import __version__, cli
from burstd.policy.loader import Diagnostic, PolicyFileError

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
EXAMPLES = sorted(POLICIES.glob("*.yaml"))
SCHEMA_FILE = POLICIES / "burstpolicy.schema.json"
ERROR_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<path>\S+): (?P<message>.+)$")


def burstd(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "burstd", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_version() -> None:
    run = burstd("--version")
    assert run.returncode == 0
    assert run.stdout.strip() == f"burstd {__version__}"


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("policy",),
        ("policy", "check"),
        ("policy", "lint"),
        ("frobnicate",),
        ("policy", "schema", "--bogus"),
    ],
    ids=[
        "no-command",
        "no-subcommand",
        "check-without-files",
        "unknown-subcommand",
        "unknown-command",
        "bad-flag",
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    run = burstd(*args)
    assert run.returncode == 2
    assert "usage: burstd" in run.stderr
    assert "Traceback" not in run.stderr


def test_examples_exist() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "static-weights-two-clouds.yaml",
        "karmada-overflow.yaml",
        "scheduled-prewarm.yaml",
        "dry-run.yaml",
        "fleet-limits.yaml",
    } <= names
    for path in EXAMPLES:
        assert path.read_text(encoding="utf-8").startswith("#"), f"{path.name} should start with a comment"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_passes(example: Path) -> None:
    run = burstd("policy", "check", str(example.relative_to(ROOT)))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert re.fullmatch(rf"policies/{re.escape(example.name)}: ok \(\d+ polic(y|ies)[^)\n]*\)\n", run.stdout)


def test_check_directory() -> None:
    run = burstd("policy", "check", "policies")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines == [f"policies/{p.name}: ok ({_expected_summary(p.name)})" for p in EXAMPLES]


def _expected_summary(name: str) -> str:
    known = {
        "static-weights-two-clouds.yaml": "1 policy: shop-web",
        "karmada-overflow.yaml": "1 policy: search-api",
        "scheduled-prewarm.yaml": "1 policy: trading-gateway",
        "dry-run.yaml": "1 policy: batch-reports",
        "fleet-limits.yaml": "0 policies; FleetLimits fleet",
    }
    return known.get(name, "?")


def test_examples_show_what_they_say() -> None:
    from burstd.policy.loader import load_paths

    result = load_paths([POLICIES])
    assert result.ok, result.errors
    policies = {policy.name: policy for _, policy in result.policies}
    assert policies["search-api"].spec.shift.mode == "overflow"
    prewarm = policies["trading-gateway"].spec.triggers.schedules
    assert prewarm
    assert {w.time_zone for w in prewarm} == {"Asia/Shanghai"}
    assert all(w.min_nodes > 0 for w in prewarm)
    assert policies["batch-reports"].spec.dry_run is True
    assert result.fleet_limits is not None


def test_invalid_policy_exits_1_with_file_line_col(tmp_path: Path) -> None:
    text = (POLICIES / "static-weights-two-clouds.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("maxCloudNodes: 80", "maxCloudNodez: 80").replace("for: 30s", "for: 30"))
    good = tmp_path / "good.yaml"
    good.write_text(text.replace("name: shop-web", "name: other"))
    run = burstd("policy", "check", str(good), str(bad))
    assert run.returncode == 1
    assert run.stdout == ""
    *errors, summary = run.stderr.splitlines()
    parsed = [ERROR_LINE.match(line) for line in errors]
    assert all(parsed), errors
    assert {(m["file"], m["path"]) for m in parsed if m} == {
        (str(bad), "spec.limits.maxCloudNodez"),
        (str(bad), "spec.triggers.scaleOut.any[1].for"),
    }
    unknown = next(m for m in parsed if m and m["path"] == "spec.limits.maxCloudNodez")
    line_no = text.splitlines().index("    maxCloudNodes: 80") + 1
    assert (int(unknown["line"]), int(unknown["col"])) == (line_no, 5)
    assert summary == "burstd policy check: 2 problems in 1 file"


def test_two_policies_naming_the_same_targets_across_files_exit_1_naming_both_places(tmp_path: Path) -> None:
    text = (POLICIES / "static-weights-two-clouds.yaml").read_text(encoding="utf-8")
    first = tmp_path / "a.yaml"
    first.write_text(text)
    second = tmp_path / "b.yaml"
    second.write_text("# a copy under another name\n" + text.replace("name: shop-web", "name: shop-web-copy"))
    run = burstd("policy", "check", str(tmp_path))
    assert run.returncode == 1
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    *errors, summary = run.stderr.splitlines()
    parsed = [ERROR_LINE.match(line) for line in errors]
    assert all(parsed), errors
    lines = text.splitlines()

    def where(needle: str) -> tuple[int, int]:
        index = next(i for i, line in enumerate(lines) if line.lstrip().startswith(needle))
        return index + 1, len(lines[index]) - len(lines[index].lstrip()) + 1

    expected = {
        "spec.workloads[0].propagationPolicy": ("PropagationPolicy shop/web", where("- propagationPolicy:")),
        "spec.burst.pools[0].ref": ("MachineDeployment capi-tke/tke-gz-md-0", where("ref:")),
        "spec.burst.pools[1].nodePool": ("ACK node pool c8f2e1a0b4d/np-burst-h", where("nodePool:")),
    }
    assert {m["path"] for m in parsed if m} == set(expected)
    for m in parsed:
        assert m is not None
        target, (line, col) = expected[m["path"]]
        if m["path"].endswith("propagationPolicy"):
            col += 2  # the key after the list item's '- '
        assert (m["file"], int(m["line"]), int(m["col"])) == (str(second), line + 1, col)
        assert m["message"].startswith(
            f"{target} is already managed by policy shop-web at {first}:{line}:{col} ({m['path']}); "
        )
    assert summary == "burstd policy check: 3 problems in 1 file"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "no YAML document"),
        ("kind: 'BurstPolicy\n", "never closed"),
        ("a:\n\tb: 1\n", "tab character"),
        ("kind: FleetLimits\nkind: BurstPolicy\n", "duplicate key 'kind'"),
        ("[1, 2]\n", "expected a mapping"),
        ("apiVersion: burstd.io/v1alpha1\nkind: Deployment\n", "expected 'BurstPolicy' or 'FleetLimits'"),
    ],
    ids=["empty", "unclosed-quote", "tab", "duplicate-key", "not-a-mapping", "unknown-kind"],
)
def test_bad_input_is_a_line_not_a_traceback(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "input.yaml"
    path.write_text(content)
    run = burstd("policy", "check", str(path))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    first = run.stderr.splitlines()[0]
    assert ERROR_LINE.match(first), first
    assert first.startswith(f"{path}:")
    assert fragment in first


def test_missing_file_exits_1(tmp_path: Path) -> None:
    run = burstd("policy", "check", str(tmp_path / "nope.yaml"))
    assert run.returncode == 1
    assert (
        run.stderr.splitlines()[0]
        == f"{tmp_path / 'nope.yaml'}:1:1: (file): cannot read file: no such file or directory"
    )


def test_schema_matches_committed_file() -> None:
    run = burstd("policy", "schema")
    assert run.returncode == 0, run.stderr
    assert run.stdout.endswith("}\n")
    assert run.stdout == SCHEMA_FILE.read_text(encoding="utf-8"), "stale schema: run 'make schema'"


def test_schema_content() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "title" in schema
    assert list(schema)[:2] == ["$schema", "title"]
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) == {"BurstPolicy", "FleetLimits"}
    assert list(schema["$defs"]) == sorted(schema["$defs"])
    pool = schema["$defs"]["PoolSpec"]
    assert pool["additionalProperties"] is False
    assert "instanceType" in pool["properties"]  # camelCase, as written in YAML
    condition = schema["$defs"]["Condition"]["properties"]
    assert "for" in condition
    assert condition["for"]["default"] == "0s"  # defaults as written in YAML, not as parsed floats
    assert schema["$defs"]["ShiftSpec"]["properties"]["maxStep"]["default"] == "20%"


def test_schema_accepts_every_example_and_rejects_typos() -> None:
    jsonschema: Any = importlib.import_module("jsonschema")  # a dev dependency: missing is a failure
    from ruamel.yaml import YAML

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for path in EXAMPLES:
        for document in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")):
            errors = [e.message for e in validator.iter_errors(document)]
            assert errors == [], (path.name, errors)
    typo = YAML(typ="safe").load((POLICIES / "fleet-limits.yaml").read_text(encoding="utf-8"))
    typo["spec"]["maxCloudNode"] = 3
    assert list(validator.iter_errors(typo))


def test_simulate_is_wired() -> None:
    run = burstd("simulate", "--help")
    assert run.returncode == 0, run.stderr
    assert "usage: burstd simulate" in run.stdout


def test_policy_file_errors_from_a_command_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: argparse.Namespace) -> int:
        raise PolicyFileError([Diagnostic("p.yaml", 3, 5, "spec.base", "something is wrong")])

    monkeypatch.setattr(cli, "_cmd_policy_schema", failing)
    assert cli.main(["policy", "schema"]) == 1
    assert capsys.readouterr().err == "p.yaml:3:5: spec.base: something is wrong\n"


def test_bugs_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(args: argparse.Namespace) -> int:
        raise ZeroDivisionError("a genuine bug")

    monkeypatch.setattr(cli, "_cmd_policy_schema", buggy)
    with pytest.raises(ZeroDivisionError):
        cli.main(["policy", "schema"])
