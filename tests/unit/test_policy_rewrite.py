"""Rewriting a policy's values (``burstd tune`` output): only the assigned values change, byte for byte."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from burstd.policy.loader import PolicyFileError, load_text, locate
from burstd.policy.rewrite import PolicyRewriteError, Value, rewrite_file, rewrite_policy
from burstd.policy.spec import BurstPolicy
from burstd.policy.yamlpath import PathError, format_path, parse_path, read_path
from burstd.policy.yamlvalues import plain

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILES = [
    *sorted((ROOT / "policies").glob("*.yaml")),
    ROOT / "burstd" / "sim" / "data" / "policy.yaml",
]

SMALL = """\
# Leading comment: what this policy is for.
# Second line of it.

apiVersion: burstd.io/v1alpha1
kind: BurstPolicy
metadata:
  name: small
  annotations:
    burstd.io/owner: 'sre@example.com'
spec:
  workloads:
    - propagationPolicy: {namespace: shop, name: web}
  base:
    clusters: [idc-1]
  burst:
    order: listed
    headroom: "10%"   # spare capacity
    pools:
      - name: pool-a
        provider: fake
        cluster: cloud-1
        backend: capi-machinedeployment
        ref: {namespace: capi, name: md-0}
        nodes: {min: 0, max: 40}
        allocatable: {cpu: 7600m, memory: 28Gi}
        price: {perNodeHour: 2.5}

  # triggers: when to burst
  triggers:
    scaleOut:
      any:
        - {signal: fhpa.unfitReplicas, above: 0, for: 30s}
        - signal: base.cpu.requestedRatio
          above: 0.95
          for: 1m
    scaleIn:
      all:
        - {signal: base.memory.requestedRatio, below: 0.50, for: 10m}
  drain: {minBurstDuration: 5m, interval: 30s}
  limits:
    maxCloudNodes: 40
"""


def _policy(text: str) -> BurstPolicy:
    result = load_text(text, "rewritten.yaml")
    assert result.errors == []
    [(_, policy)] = result.policies
    return policy


def _changes(old: str, new: str) -> tuple[list[int], list[str]]:
    """The 0-based input lines that were replaced (line for line) and the lines that were added."""
    replaced: list[int] = []
    added: list[str] = []
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        assert tag != "delete", (i1, i2)
        if tag == "replace":  # changed lines, then maybe added ones; never fewer lines
            assert j2 - j1 >= i2 - i1, (old.splitlines()[i1:i2], new.splitlines()[j1:j2])
            replaced.extend(range(i1, i2))
            added.extend(new.splitlines()[j1 + i2 - i1 : j2])
        elif tag == "insert":
            added.extend(new.splitlines()[j1:j2])
    return replaced, added


def _policy_document(text: str) -> Any:
    return next(d for d in YAML(typ="rt").load_all(text) if d is not None and d.get("kind") == "BurstPolicy")


# ------------------------------------------------------------------------------------ the bundled files


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_every_bundled_policy_changes_only_the_assigned_lines(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if "kind: BurstPolicy" not in text:  # fleet-limits.yaml: nothing to tune
        with pytest.raises(
            PolicyRewriteError, match=r"expected exactly one BurstPolicy to rewrite, found none"
        ):
            rewrite_policy(text, {"spec.maxCloudNodes": 5}, source=path.name)
        return
    doc = _policy_document(text)
    max_nodes = doc["spec"]["burst"]["pools"][0]["nodes"]["max"]
    assignments: dict[str, Any] = {
        "spec.burst.headroom": "7%",
        "spec.burst.pools[0].nodes.max": max_nodes - 1,
        "spec.triggers.scaleOut.any[0].for": "3m",
        "spec.limits.maxCloudNodes": doc["spec"]["limits"]["maxCloudNodes"] + 1,
    }
    new = rewrite_policy(text, assignments, source=path.name)

    existing = [parse_path(p) for p in assignments if p != "spec.burst.headroom"]
    value_lines = {locate(doc, loc)[0] for loc in existing}
    inserted = "headroom" not in doc["spec"]["burst"]
    if not inserted:
        value_lines.add(locate(doc, ("spec", "burst", "headroom"))[0])
    replaced, added = _changes(text, new)
    assert set(replaced) <= value_lines
    assert len(replaced) >= 2  # the flow mapping and the trigger lines at least
    assert added == (['    headroom: "7%"'] if inserted else [])
    assert new.count("\n") == text.count("\n") + len(added)

    policy = _policy(new)
    assert read_path(policy, "spec.burst.headroom") == pytest.approx(0.07)
    assert read_path(policy, "spec.burst.pools[0].nodes.max") == max_nodes - 1
    assert read_path(policy, "spec.triggers.scaleOut.any[0].for") == 180.0
    assert read_path(policy, "spec.limits.maxCloudNodes") == assignments["spec.limits.maxCloudNodes"]


def test_the_sim_policy_keeps_its_quoting_and_flow_mappings() -> None:
    text = POLICY_FILES[-1].read_text(encoding="utf-8")
    new = rewrite_policy(
        text,
        {
            "spec.burst.headroom": "6%",
            "spec.drain.stabilizationWindow": "15m",
            "spec.drain.maxStep": "40%",
            "spec.shift.maxStep": 8,
            "spec.triggers.scaleOut.any[0].above": 0.97,
        },
    )
    diff = [
        line[0] + line[2:]
        for line in difflib.ndiff(text.splitlines(), new.splitlines())
        if line[:2] in "+ - "
    ]
    assert diff == [
        '-    headroom: "10%"',
        '+    headroom: "6%"',
        "-        - {signal: base.cpu.requestedRatio, above: 0.95, for: 0s}",
        "+        - {signal: base.cpu.requestedRatio, above: 0.97, for: 0s}",
        '-  shift: {mode: static-weights, maxStep: "50%", interval: 30s}',
        "+  shift: {mode: static-weights, maxStep: 8, interval: 30s}",
        '-  drain: {minBurstDuration: 5m, maxStep: "50%", interval: 30s, stabilizationWindow: 12m}',
        '+  drain: {minBurstDuration: 5m, maxStep: "40%", interval: 30s, stabilizationWindow: 15m}',
    ]


# ------------------------------------------------------------------------------------ editing in place


def test_flow_mapping_value_is_replaced_in_place() -> None:
    new = rewrite_policy(SMALL, {"spec.burst.pools[0].nodes.min": 2, "spec.burst.pools[0].nodes.max": 12})
    assert new == SMALL.replace("nodes: {min: 0, max: 40}", "nodes: {min: 2, max: 12}")


def test_block_values_keep_their_comments_and_quoting() -> None:
    new = rewrite_policy(
        SMALL,
        {
            "spec.burst.headroom": "25%",
            "spec.triggers.scaleOut.any[1].above": 0.9,
            "spec.triggers.scaleOut.any[1].for": "2m",
            "metadata.annotations['burstd.io/owner']": "o'brien@example.com",
        },
    )
    assert new == (
        SMALL.replace('headroom: "10%"   # spare capacity', 'headroom: "25%"   # spare capacity')
        .replace("above: 0.95\n          for: 1m", "above: 0.9\n          for: 2m")
        .replace("'sre@example.com'", "'o''brien@example.com'")
    )


def test_a_value_already_there_keeps_its_spelling() -> None:
    assignments: dict[str, Value] = {"spec.triggers.scaleIn.all[0].below": 0.5, "spec.burst.headroom": "10%"}
    assert rewrite_policy(SMALL, assignments) == SMALL


def test_an_integral_float_stays_an_integer_where_the_file_has_one() -> None:
    new = rewrite_policy(
        SMALL, {"spec.limits.maxCloudNodes": 30.0, "spec.triggers.scaleOut.any[0].above": 2.0}
    )
    assert "    maxCloudNodes: 30\n" in new
    assert "{signal: fhpa.unfitReplicas, above: 2, for: 30s}" in new


def test_a_string_that_cannot_be_plain_in_a_flow_mapping_is_quoted() -> None:
    text = SMALL.replace(
        "{signal: fhpa.unfitReplicas, above: 0, for: 30s}", "{promql: up, above: 0, for: 30s}"
    )
    query = 'sum(rate(x{job="a, b"}[5m])) # not a comment'
    new = rewrite_policy(text, {"spec.triggers.scaleOut.any[0].promql": query})
    assert '{promql: "sum(rate(x{job=\\"a, b\\"}[5m])) # not a comment", above: 0, for: 30s}' in new
    assert read_path(_policy(new), "spec.triggers.scaleOut.any[0].promql") == query


# ------------------------------------------------------------------------------------ adding keys


def test_a_missing_key_is_added_to_a_block_mapping_after_its_last_entry() -> None:
    new = rewrite_policy(SMALL, {"spec.burst.provisionTimeout": "12m", "spec.priority": 5})
    # pools is the burst mapping's last entry: the key goes after the pool's last line, at burst's
    # indentation, before the blank line and the comment that belong to the next key
    assert new == SMALL.replace(
        "        price: {perNodeHour: 2.5}\n",
        "        price: {perNodeHour: 2.5}\n    provisionTimeout: 12m\n",
    ).replace("    maxCloudNodes: 40\n", "    maxCloudNodes: 40\n  priority: 5\n")
    assert "    provisionTimeout: 12m\n\n  # triggers: when to burst" in new


def test_keys_added_at_one_place_nest_by_indentation() -> None:
    # the pool's last key has an empty value, right where the new keys go
    pool_end = "        price: {perNodeHour: 2.5}\n"
    text = SMALL.replace(pool_end, pool_end + "        instanceType:\n")
    new = rewrite_policy(
        text,
        {
            "spec.burst.provisionTimeout": "12m",
            "spec.burst.pools[0].zone": "ap-guangzhou-6",
            "spec.burst.pools[0].instanceType": "SA5.2XLARGE32",
            "spec.burst.pools[0].provider": "fake2",
        },
    )
    assert new == text.replace(
        "        instanceType:\n",
        "        instanceType: SA5.2XLARGE32\n        zone: ap-guangzhou-6\n    provisionTimeout: 12m\n",
    ).replace("provider: fake\n", "provider: fake2\n")


def test_a_missing_key_is_added_to_a_flow_mapping_before_its_brace() -> None:
    new = rewrite_policy(SMALL, {"spec.drain.stabilizationWindow": "12m", "spec.drain.maxStep": "20%"})
    # the file writes its only percentage in double quotes: a new one follows suit
    assert new == SMALL.replace(
        "drain: {minBurstDuration: 5m, interval: 30s}",
        'drain: {minBurstDuration: 5m, interval: 30s, stabilizationWindow: 12m, maxStep: "20%"}',
    )
    assert read_path(_policy(new), "spec.drain.stabilizationWindow") == 720.0


def test_keys_are_added_to_an_empty_flow_mapping_in_order() -> None:
    text = SMALL.replace("drain: {minBurstDuration: 5m, interval: 30s}", "drain: {}")
    new = rewrite_policy(
        text,
        {"spec.drain.interval": "1m", "spec.drain.maxStep": 2, "spec.safety.stockoutBackoff": "5m"},
        create_parents=True,
    )
    assert new == text.replace("drain: {}", "drain: {interval: 1m, maxStep: 2}").replace(
        "    maxCloudNodes: 40\n", "    maxCloudNodes: 40\n  safety: {stockoutBackoff: 5m}\n"
    )


def test_a_missing_parent_is_refused_unless_asked_to_create_it() -> None:
    with pytest.raises(PolicyRewriteError) as refused:
        rewrite_policy(SMALL, {"spec.shift.maxStep": "30%"}, source="small.yaml")
    assert str(refused.value) == (
        "small.yaml:11:3: spec.shift.maxStep: spec.shift does not exist, so there is no mapping to add "
        "spec.shift.maxStep to; add it to the file first"
    )
    new = rewrite_policy(
        SMALL, {"spec.shift.maxStep": "30%", "spec.shift.interval": "20s"}, create_parents=True
    )
    assert new == SMALL.replace(
        "    maxCloudNodes: 40\n", '    maxCloudNodes: 40\n  shift: {maxStep: "30%", interval: 20s}\n'
    )


def test_a_key_is_added_at_the_end_of_a_file_without_final_newline() -> None:
    text = SMALL.removesuffix("\n")
    new = rewrite_policy(text, {"spec.predictive.enabled": True}, create_parents=True)
    assert new == text + "\n  predictive: {enabled: true}"
    assert read_path(_policy(new), "spec.predictive.enabled") is True


# ------------------------------------------------------------------------------------ file formats


def test_crlf_file_stays_crlf() -> None:
    text = SMALL.replace("\n", "\r\n")
    new = rewrite_policy(
        text,
        {"spec.burst.headroom": "5%", "spec.burst.provisionTimeout": "12m", "spec.drain.maxStep": 3},
        header_comment="Tuned by burstd tune on alibaba-2018, 2026-11-30",
    )
    assert "\n" not in new.replace("\r\n", "")
    assert new.count("\r\n") == text.count("\r\n") + 3  # the inserted key, a blank line and the header
    assert "    provisionTimeout: 12m\r\n" in new
    assert read_path(_policy(new), "spec.drain.maxStep") == 3


def test_leading_comment_and_document_marker() -> None:
    text = "# Policy for the shop.\n---\n" + SMALL.split("\n\n", 1)[1]
    new = rewrite_policy(text, {"spec.burst.headroom": "5%"}, header_comment="Tuned by burstd tune on nasa")
    assert new.startswith("# Policy for the shop.\n\n# Tuned by burstd tune on nasa\n---\napiVersion:")
    assert '    headroom: "5%"   # spare capacity\n' in new
    assert read_path(_policy(new), "spec.burst.headroom") == pytest.approx(0.05)


def test_other_documents_in_the_file_are_kept() -> None:
    fleet = (ROOT / "policies" / "fleet-limits.yaml").read_text(encoding="utf-8")
    text = fleet + "---\n" + SMALL
    new = rewrite_policy(text, {"spec.limits.maxCloudNodes": 20})
    assert new == fleet + "---\n" + SMALL.replace("maxCloudNodes: 40\n", "maxCloudNodes: 20\n")


def test_header_comment_goes_after_the_leading_comment_block_and_wraps() -> None:
    header = "Tuned by burstd tune on alibaba-2018, 2026-11-30: " + ", ".join(
        f"parameter{i} 10% -> 6%" for i in range(8)
    )
    new = rewrite_policy(SMALL, {}, header_comment=header + "\n\nsecond paragraph")
    head = new[: new.index("apiVersion:")]
    lines = head.splitlines()
    assert lines[:4] == ["# Leading comment: what this policy is for.", "# Second line of it.", "", lines[3]]
    assert lines[3].startswith("# Tuned by burstd tune on alibaba-2018, 2026-11-30: parameter0 10% -> 6%")
    assert all(len(line) <= 110 for line in lines)
    assert lines[-3:] == ["#", "# second paragraph", ""]
    assert " ".join(line.removeprefix("# ") for line in lines[3:-3]) == header
    assert new[len(head) :] == SMALL[SMALL.index("apiVersion:") :]


def test_header_comment_without_leading_comment_goes_first() -> None:
    text = SMALL[SMALL.index("apiVersion:") :]
    assert rewrite_policy(text, {}, header_comment="Tuned") == "# Tuned\n" + text


def test_rewrite_file_keeps_bom_and_crlf_and_writes_nothing_on_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    original = b"\xef\xbb\xbf" + SMALL.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    path.chmod(0o640)
    with pytest.raises(PolicyRewriteError, match=r"spec\.burst\.headroom: .*'-5%'"):
        rewrite_file(path, {"spec.burst.headroom": "-5%"})
    assert path.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.yaml"]

    output = tmp_path / "tuned.yaml"
    new = rewrite_file(path, {"spec.burst.headroom": "5%"}, output=output)
    assert path.read_bytes() == original
    assert output.read_bytes() == b"\xef\xbb\xbf" + new.encode()
    assert output.read_bytes() == original.replace(b'"10%"', b'"5%"')
    rewrite_file(path, {"spec.burst.headroom": "5%"})
    assert path.read_bytes() == output.read_bytes()
    assert path.stat().st_mode & 0o777 == 0o640


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ({"spec..burst": 1}, r"^small.yaml:1:1: spec..burst: malformed path 'spec..burst' at character 5"),
        ({"spec.burst.pools[0": 1}, r"malformed path 'spec.burst.pools\[0' at character 17"),
        (
            {"spec.burst.pools[3].nodes.max": 1},
            r"^small.yaml:19:7: spec.burst.pools\[3\].nodes.max: index 3 is out of range: "
            r"spec.burst.pools has 1 items \(from \[0\]\)$",
        ),
        (
            {"spec.triggers.scaleIn.any[0].below": 0.1},
            r"^small.yaml:37:7: spec.triggers.scaleIn.any\[0\].below: spec.triggers.scaleIn.any does not exist",
        ),
        ({"spec.burst.pools": 3}, r"^small.yaml:19:7: spec.burst.pools: is a list; only single values"),
        (
            {"spec.burst.headroom.x": 3},
            r"^small.yaml:17:15: spec.burst.headroom.x: spec.burst.headroom is a ",
        ),
        ({"spec.base.clusters.x": 3}, r"spec.base.clusters is a list, not a mapping with key 'x'"),
        ({"spec.burst.headroom": None}, r"spec.burst.headroom: cannot write a NoneType \(None\)"),
        ({"spec.burst.headroom": [1]}, r"spec.burst.headroom: cannot write a list"),
        (
            {"spec.burst.headroom": "-5%"},
            r"^small.yaml:17:15: spec.burst.headroom: .*\(assigned '-5%'\); with the new values the policy "
            r"would be invalid, so it was not rewritten$",
        ),
        ({"spec.drain.interval": "0s"}, r"^small.yaml:39:43: spec.drain.interval: must be above 0s"),
        ({"spec.burst.pools[0].nodes.max": 1e300}, r"spec.burst.pools\[0\].nodes.max: "),
        ({"spec.triggers.scaleOut.any[0].above": math.inf}, r"spec.triggers.scaleOut.any\[0\].above: "),
        (
            {"spec.drain.maxRetries": 3},
            r"^small.yaml:\d+:\d+: spec.drain.maxRetries: unknown field .*not rewritten$",
        ),
    ],
)
def test_refusals_name_the_path_and_position(assignments: dict[str, Any], expected: str) -> None:
    with pytest.raises(PolicyRewriteError) as refused:
        rewrite_policy(SMALL, assignments, source="small.yaml")
    assert re.search(expected, str(refused.value)), str(refused.value)
    assert isinstance(refused.value, PolicyFileError)  # the CLI reports it: exit code 1, no traceback


def test_every_bad_path_is_reported_at_once() -> None:
    with pytest.raises(PolicyRewriteError) as refused:
        rewrite_policy(SMALL, {"spec.nope.x": 1, "spec.burst.pools[9].name": "a"}, source="s.yaml")
    assert [e.split(": ")[1] for e in refused.value.errors] == ["spec.nope.x", "spec.burst.pools[9].name"]


def test_shared_anchors_tags_and_block_scalars_are_refused() -> None:
    text = SMALL.replace(
        "{minBurstDuration: 5m, interval: 30s}", "&drain {minBurstDuration: 5m, interval: 30s}"
    )
    with pytest.raises(PolicyRewriteError, match=r"spec.drain has the YAML anchor &drain"):
        rewrite_policy(text, {"spec.drain.interval": "1m"})
    text = SMALL.replace("maxCloudNodes: 40", "maxCloudNodes: &n 40")
    with pytest.raises(PolicyRewriteError, match=r"maxCloudNodes: the value has the YAML anchor &n"):
        rewrite_policy(text, {"spec.limits.maxCloudNodes": 41})
    text = SMALL.replace("order: listed", "order: !!str listed")
    with pytest.raises(PolicyRewriteError, match=r"spec.burst.order: the value has an explicit YAML tag"):
        rewrite_policy(text, {"spec.burst.order": "cheapest-available"})
    text = SMALL.replace("    order: listed\n", "    order: |-\n      listed\n")
    with pytest.raises(PolicyRewriteError, match=r"spec.burst.order: the value is a block scalar"):
        rewrite_policy(text, {"spec.burst.order": "cheapest-available"})


def test_keys_from_a_yaml_merge_are_refused() -> None:
    text = SMALL.replace(
        "  drain: {minBurstDuration: 5m, interval: 30s}\n",
        "  safety: &timing {signalMaxAge: 2m}\n  drain:\n    <<: {minBurstDuration: 5m}\n    interval: 30s\n",
    )
    with pytest.raises(
        PolicyRewriteError, match=r"spec.drain.maxStep: spec.drain takes keys from a YAML merge"
    ):
        rewrite_policy(text, {"spec.drain.maxStep": 2})
    assert "interval: 1m" in rewrite_policy(text, {"spec.drain.interval": "1m"})


def test_a_splice_that_changes_anything_else_is_never_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from burstd.policy import rewrite

    real = rewrite._splice

    def sloppy(text: str, *args: Any) -> str:
        return str(real(text, *args)).replace("order: listed", "order: cheapest-available")

    monkeypatch.setattr(rewrite, "_splice", sloppy)
    with pytest.raises(PolicyRewriteError, match=r"^s.yaml:1:1: \(document\): internal error: the rewritten"):
        rewrite_policy(SMALL, {"spec.burst.headroom": "5%"}, source="s.yaml")


def test_an_invalid_input_is_reported_as_it_is() -> None:
    text = SMALL.replace('headroom: "10%"', "headroom: 10")
    with pytest.raises(PolicyRewriteError, match=r"^in.yaml:17:15: spec.burst.headroom: .*percentage"):
        rewrite_policy(text, {"spec.burst.headroom": "5%"}, source="in.yaml")


def test_a_control_character_in_the_header_is_refused() -> None:
    with pytest.raises(PolicyRewriteError, match=r"control character '\\x07'"):
        rewrite_policy(SMALL, {}, header_comment="bell\x07")


# ------------------------------------------------------------------------------------ paths


def test_paths_parse_and_format_like_the_loaders_field_paths() -> None:
    path = "metadata.annotations['burstd.io/owner']"
    assert parse_path(path) == ("metadata", "annotations", "burstd.io/owner")
    assert format_path(parse_path(path)) == path
    assert parse_path('a["x y"][2].b') == ("a", "x y", 2, "b")
    with pytest.raises(PathError, match="empty path"):
        parse_path("")


def test_read_path_reads_documents_and_parsed_policies() -> None:
    doc = _policy_document(SMALL)
    assert read_path(doc, "spec.burst.headroom") == "10%"
    assert read_path(doc, ("spec", "triggers", "scaleOut", "any", 1, "above")) == 0.95
    policy = _policy(SMALL)
    assert read_path(policy, "spec.burst.headroom") == pytest.approx(0.1)
    assert read_path(policy, "spec.drain.stabilizationWindow") == 600.0  # the default
    assert read_path(policy, "spec.triggers.scaleOut.any[0].for") == 30.0
    with pytest.raises(
        PathError, match=r"^spec.burst.pools\[1\]: index out of range \(the list has 1 items\)"
    ):
        read_path(policy, "spec.burst.pools[1].name")
    with pytest.raises(PathError, match=r"^spec.nope: no such field"):
        read_path(policy, "spec.nope")
    with pytest.raises(PathError, match=r"^spec.burst.headroom.x: spec.burst.headroom is a single value"):
        read_path(doc, "spec.burst.headroom.x")


# ------------------------------------------------------------------------------------ properties


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    owner=_TEXT,
    threshold=st.floats(min_value=-1e18, max_value=1e18, allow_nan=False) | st.integers(-(10**9), 10**9),
    headroom=st.integers(0, 10_000).map(lambda n: f"{n / 100:g}%"),
    window=st.sampled_from(["0s", "90s", "12m", "1h30m", "1d"]),
    crlf=st.booleans(),
)
def test_any_value_round_trips_and_changes_only_its_lines(
    owner: str, threshold: float, headroom: str, window: str, crlf: bool
) -> None:
    text = SMALL.replace("\n", "\r\n") if crlf else SMALL
    assignments: dict[str, Any] = {
        "metadata.annotations['burstd.io/owner']": owner,
        "spec.triggers.scaleOut.any[1].above": threshold,
        "spec.burst.headroom": headroom,
        "spec.drain.stabilizationWindow": window,
    }
    new = rewrite_policy(text, assignments)
    doc = plain(_policy_document(new), max_values=1000)
    for path, value in assignments.items():
        assert read_path(doc, path) == value
        assert type(read_path(doc, path)) is type(value)
    replaced, added = _changes(text, new)
    assert set(replaced) <= {8, 16, 33, 38}
    assert added == []
    assert ("\n" not in new.replace("\r\n", "")) if crlf else ("\r" not in new.replace(owner, ""))


_CANDIDATES: list[tuple[str, Value]] = [
    ("spec.burst.headroom", "7%"),
    ("spec.burst.provisionTimeout", "12m"),
    ("spec.burst.pools[0].zone", "zone-1"),
    ("spec.burst.pools[0].instanceType", "big"),
    ("spec.burst.pools[0].nodes.max", 12),
    ("spec.burst.pools[0].allocatable.pods", 64),
    ("spec.drain.maxStep", 3),
    ("spec.drain.interval", "1m"),
    ("spec.shift.maxStep", "30%"),
    ("spec.shift.interval", "20s"),
    ("spec.safety.signalMaxAge", "1m"),
    ("spec.priority", 7),
    ("spec.limits.maxCloudNodes", 50),
    ("spec.triggers.scaleOut.any[1].for", "2m"),
    ("spec.triggers.scaleIn.all[0].below", 0.4),
    ("spec.predictive.enabled", True),
    ("metadata.labels.team", "shop"),
]


@settings(max_examples=40, deadline=None)
@given(
    chosen=st.permutations(_CANDIDATES).flatmap(lambda p: st.integers(0, len(p)).map(lambda k: p[:k])),
    crlf=st.booleans(),
    final_newline=st.booleans(),
)
def test_any_mix_of_replaced_and_added_keys_loads_with_exactly_those_values(
    chosen: list[tuple[str, Value]], crlf: bool, final_newline: bool
) -> None:
    text = SMALL if final_newline else SMALL.removesuffix("\n")
    text = text.replace("\n", "\r\n") if crlf else text
    assignments = dict(chosen)
    new = rewrite_policy(text, assignments, create_parents=True)
    expected = plain(_policy_document(text), max_values=1000)
    for path, value in chosen:
        loc = parse_path(path)
        node = expected
        for part in loc[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[loc[-1]] = value
    assert plain(_policy_document(new), max_values=1000) == expected
    _policy(new)
    replaced, added = _changes(text, new)
    assert len(replaced) <= len(chosen)
    assert len(added) <= len(chosen)
    assert ("\n" not in new.replace("\r\n", "")) if crlf else ("\r" not in new)
    assert new.endswith("\n") == final_newline


def test_a_byte_order_mark_read_as_text_stays_in_front() -> None:
    text = "\ufeff" + SMALL
    new = rewrite_policy(text, {"spec.burst.headroom": "5%", "spec.priority": 3})
    assert new == "\ufeff" + SMALL.replace('"10%"', '"5%"').replace(
        "    maxCloudNodes: 40\n", "    maxCloudNodes: 40\n  priority: 3\n"
    )
