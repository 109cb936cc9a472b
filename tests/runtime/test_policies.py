"""Reading and reloading the daemon's policies: a bad reload changes nothing; a burst is never orphaned."""

from __future__ import annotations

import re
from pathlib import Path

from burstd.model.state import Phase
from burstd.policy.loader import load_text
from burstd.policy.spec import BurstPolicy
from burstd.runtime.policies import digest_of, merge, read_policies

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "burstd" / "sim" / "data" / "policy.yaml").read_text()


def _rename(name: str) -> str:
    renamed = re.sub(
        r"^(metadata:\s*\n\s+name:)\s*\S+", rf"\g<1> {name}", EXAMPLE, count=1, flags=re.MULTILINE
    )
    assert renamed != EXAMPLE
    return renamed


def policy(name: str) -> BurstPolicy:
    result = load_text(_rename(name), f"{name}.yaml")
    assert result.ok, result.errors
    return result.policies[0][1]


def test_digest_changes_with_content_and_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_rename("a"))
    first = digest_of([tmp_path])
    assert digest_of([tmp_path]) == first
    (tmp_path / "a.yaml").write_text(_rename("a") + "\n# edited\n")
    second = digest_of([tmp_path])
    assert second != first
    (tmp_path / "b.yaml").write_text(_rename("b"))
    assert digest_of([tmp_path]) not in {first, second}


def test_read_policies_reports_every_problem_and_returns_nothing(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(_rename("good"))
    (tmp_path / "bad.yaml").write_text(_rename("bad").replace("kind: BurstPolicy", "kind: BurstPolicyy"))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert found is None
    assert any(p.startswith(f"{tmp_path / 'bad.yaml'}:") for p in problems), problems


def test_read_policies_ok(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_rename("a"))
    found, problems = read_policies([tmp_path], prometheus_configured=False)
    assert problems == []
    assert found is not None
    assert [p.metadata.name for p in found.policies] == ["a"]
    assert found.digest == digest_of([tmp_path])


def test_merge_replaces_adds_and_drops_idle_ones() -> None:
    a, b, c = policy("a"), policy("b"), policy("c")
    running = [a, b]
    out, kept = merge(running, {"a": Phase.IDLE, "b": Phase.IDLE}, [a, c])
    assert [p.metadata.name for p in out] == ["a", "c"]
    assert kept == []


def test_merge_keeps_a_removed_policy_while_it_bursts() -> None:
    a, b = policy("a"), policy("b")
    out, kept = merge([a, b], {"a": Phase.IDLE, "b": Phase.BURSTING}, [a])
    assert [p.metadata.name for p in out] == ["a", "b"]
    assert len(kept) == 1
    assert "policy b was removed from the files but is in phase Bursting" in kept[0]
