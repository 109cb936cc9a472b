"""Policy files: every problem is reported as FILE:LINE:COL: field.path: message, never as a traceback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from burstd.policy.loader import (
    LoadResult,
    PolicyFileError,
    load_paths,
    load_policy,
    load_text,
    locate,
)

POLICY = """\
# a comment line
apiVersion: burstd.io/v1alpha1
kind: BurstPolicy
metadata:
  name: shop-web
spec:
  workloads:
    - propagationPolicy: {namespace: shop, name: web}
  base:
    clusters: [idc-1, idc-2]
  burst:
    pools:
      - name: tke-gz6
        provider: tencent
        cluster: tke-gz
        backend: capi-machinedeployment
        ref: {namespace: capi, name: md-0}
        nodes: {min: 0, max: 10}
        allocatable: {cpu: 7600m, memory: 28Gi}
        price: {perNodeHour: 2.5}
  triggers:
    scaleOut:
      any:
        - {signal: base.cpu.requestedRatio, above: 0.85, for: 2m}
    scaleIn:
      all:
        - signal: base.cpu.requestedRatio
          below: 0.6
          for: 15m
"""

FLEET = """\
apiVersion: burstd.io/v1alpha1
kind: FleetLimits
metadata: {name: fleet}
spec: {maxCloudNodes: 50}
"""


def at(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based line and column of the nth occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_one(tmp_path: Path, text: str, name: str = "policy.yaml") -> tuple[str, LoadResult]:
    path = write(tmp_path, name, text)
    return str(path), load_paths([path])


MD_REF = "ref: {namespace: capi, name: md-0}"
PP_REF = "propagationPolicy: {namespace: shop, name: web}"
NODE_POOL = "nodePool: {clusterId: cls-7xk2m9qp, nodePoolId: np-1}"


def variant(name: str, *, workload: str = "web", md: str = "md-0", backend: str = "md") -> str:
    """POLICY renamed, naming PropagationPolicy shop/<workload> and the node group <md> of ``backend``
    (``md``: a MachineDeployment, ``mp``: a MachinePool, ``tke``: a TKE node pool <md>)."""
    text = POLICY.replace("shop-web", name).replace(PP_REF, PP_REF.replace("web", workload))
    if backend == "mp":
        text = text.replace("capi-machinedeployment", "capi-machinepool")
    if backend == "tke":
        text = text.replace("capi-machinedeployment", "tke-nodepool")
        return text.replace(MD_REF, NODE_POOL.replace("np-1", md))
    return text.replace(MD_REF, MD_REF.replace("md-0", md))


def test_valid_file(tmp_path: Path) -> None:
    file, result = load_one(tmp_path, POLICY)
    assert result.errors == []
    assert result.ok
    assert result.files == [file]
    [(source, policy)] = result.policies
    assert policy.name == "shop-web"
    assert (source.file, source.document, source.line, source.col) == (file, 0, 2, 1)
    assert result.fleet_limits is None


def test_unknown_key_points_at_the_key(tmp_path: Path) -> None:
    text = POLICY.replace(
        "        price: {perNodeHour: 2.5}\n", "        price: {perNodeHour: 2.5}\n        colour: red\n"
    )
    file, result = load_one(tmp_path, text)
    line, col = at(text, "colour")
    assert (line, col) == (21, 9)
    assert result.errors == [
        f"{file}:21:9: spec.burst.pools[0].colour: unknown field (check the spelling; see the policy reference)"
    ]
    assert result.policies == []


def test_unknown_key_with_block_value_points_at_the_key(tmp_path: Path) -> None:
    text = POLICY + "  shfit:\n    mode: overflow\n"
    _, result = load_one(tmp_path, text)
    line, col = at(text, "shfit")
    assert [d.path for d in result.diagnostics] == ["spec.shfit"]
    assert (result.diagnostics[0].line, result.diagnostics[0].col) == (line, col) == (30, 3)


def test_bad_duration_points_at_the_value_in_a_flow_mapping(tmp_path: Path) -> None:
    text = POLICY.replace("above: 0.85, for: 2m}", "above: 0.85, for: 2mins}")
    file, result = load_one(tmp_path, text)
    line, col = at(text, "2mins")
    assert len(result.diagnostics) == 1
    diagnostic = result.diagnostics[0]
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == (file, line, col)
    assert diagnostic.path == "spec.triggers.scaleOut.any[0].for"
    assert "invalid duration '2mins'" in diagnostic.message
    assert str(diagnostic).startswith(
        f"{file}:{line}:{col}: spec.triggers.scaleOut.any[0].for: invalid duration"
    )


def test_bad_duration_in_a_block_mapping(tmp_path: Path) -> None:
    text = POLICY.replace("          for: 15m", "          for: 15")
    _, result = load_one(tmp_path, text)
    assert [(d.line, d.col, d.path) for d in result.diagnostics] == [
        (*at(text, "15", nth=1), "spec.triggers.scaleIn.all[0].for")
    ]


def test_cross_field_problem_points_at_the_value(tmp_path: Path) -> None:
    text = POLICY.replace("nodes: {min: 0, max: 10}", "nodes: {min: 12, max: 10}")
    _, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert (diagnostic.line, diagnostic.col) == at(text, "12")
    assert diagnostic.path == "spec.burst.pools[0].nodes.min"
    assert diagnostic.message == "min (12) is greater than max (10)"


def test_missing_field_points_at_the_parent_key(tmp_path: Path) -> None:
    text = POLICY.replace("        allocatable: {cpu: 7600m, memory: 28Gi}\n", "")
    _, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert diagnostic.path == "spec.burst.pools[0].allocatable"
    assert (diagnostic.line, diagnostic.col) == at(text, "name: tke-gz6")  # the list item holding the pool


def test_list_item_problem_points_at_the_item(tmp_path: Path) -> None:
    text = POLICY.replace("clusters: [idc-1, idc-2]", "clusters: [idc-1, idc-1]")
    _, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert diagnostic.path == "spec.base.clusters[1]"
    assert (diagnostic.line, diagnostic.col) == at(text, "idc-1", nth=2)


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = POLICY.replace("name: shop-web", "name: Shop_Web").replace("for: 2m}", "for: soon}")
    _, result = load_one(tmp_path, text)
    assert {d.path for d in result.diagnostics} == {"metadata.name", "spec.triggers.scaleOut.any[0].for"}


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("apiVersion: burstd.io/v1alpha1\nkind: BurstPolicy\nmetadata:\n\tname: x\n", 4, 1, "tab character"),
        ("apiVersion: burstd.io/v1alpha1\nmetadata:\n  name: x\n kind: BurstPolicy\n", 4, 2, "indentation"),
        ("apiVersion: burstd.io/v1alpha1\nmetadata:\n  name: x\n    kind: y\n", 4, 9, "indentation"),
        ("apiVersion: burstd.io/v1alpha1\nkind: 'BurstPolicy\nmetadata: {}\n", 2, 7, "is never closed"),
        ("apiVersion: burstd.io/v1alpha1\nmetadata: {name: x\nspec: {}\n", 3, 5, "flow mapping"),
        ("apiVersion: *version\n", 1, 13, "undefined alias"),
    ],
    ids=["tab", "dedent", "over-indent", "unclosed-quote", "unclosed-flow", "alias"],
)
def test_yaml_syntax_errors(tmp_path: Path, text: str, line: int, col: int, fragment: str) -> None:
    file, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.col, diagnostic.path) == (file, line, col, "(yaml)")
    assert fragment in diagnostic.message
    assert "Traceback" not in diagnostic.message


def test_duplicate_key(tmp_path: Path) -> None:
    text = POLICY.replace(
        "        backend: capi-machinedeployment\n",
        "        backend: capi-machinedeployment\n        provider: aliyun\n",
    )
    _, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert (diagnostic.line, diagnostic.col) == at(text, "provider: aliyun")
    assert diagnostic.message.startswith("duplicate key 'provider' in the mapping that starts at line 13")
    assert "To suppress this check" not in diagnostic.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "---\n---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    file, result = load_one(tmp_path, text)
    assert result.errors == [
        f"{file}:1:1: (document): no YAML document in the file (it is empty or only has comments); "
        "expected a BurstPolicy or FleetLimits"
    ]


def test_multi_document_file(tmp_path: Path) -> None:
    second = POLICY.replace("shop-web", "shop-api").replace("above: 0.85", "above: high")
    text = POLICY + "---\n" + FLEET + "---\n" + second + "---\n"  # a trailing '---' is fine
    _, result = load_one(tmp_path, text)
    assert [p.name for _, p in result.policies] == ["shop-web"]
    assert result.fleet_limits is not None
    assert result.fleet_limits_source is not None
    assert (result.fleet_limits_source.document, result.fleet_limits_source.line) == (
        1,
        at(text, "kind: Fleet")[0] - 1,
    )
    [diagnostic] = result.diagnostics
    assert (diagnostic.line, diagnostic.col) == at(text, "high")
    assert diagnostic.path == "spec.triggers.scaleOut.any[0].above"


def test_documents_before_a_syntax_error_are_still_checked(tmp_path: Path) -> None:
    text = POLICY.replace("above: 0.85", "above: x") + "---\nkind: [\n"
    _, result = load_one(tmp_path, text)
    assert [d.path for d in result.diagnostics] == ["spec.triggers.scaleOut.any[0].above", "(yaml)"]
    assert result.diagnostics[1].line > POLICY.count("\n")


def test_non_mapping_documents(tmp_path: Path) -> None:
    text = "- a\n- b\n---\njust text\n"
    file, result = load_one(tmp_path, text)
    assert result.errors == [
        f"{file}:1:1: (document): expected a mapping with apiVersion and kind, got list",
        f"{file}:4:1: (document): expected a mapping with apiVersion and kind, got str",
    ]


def test_unknown_kind_and_api_version(tmp_path: Path) -> None:
    text = POLICY.replace("kind: BurstPolicy", "kind: Policy") + "---\n" + FLEET.replace("v1alpha1", "v2")
    file, result = load_one(tmp_path, text)
    assert result.errors == [
        f"{file}:3:7: kind: expected 'BurstPolicy' or 'FleetLimits', got 'Policy'",
        f"{file}:31:13: apiVersion: expected 'burstd.io/v1alpha1', got 'burstd.io/v2'",
    ]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = load_paths([missing])
    assert result.errors == [f"{missing}:1:1: (file): cannot read file: no such file or directory"]


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.yaml", "apiVersion: burstd.io/v1alpha1\nkind: caf\xe9\n".encode("latin-1"))
    result = load_paths([path])
    assert result.errors == [f"{path}:2:10: (file): not UTF-8 text (byte 0xe9); save the file as UTF-8"]


def test_directory_reads_yaml_files_sorted(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", variant("b-policy", workload="api", md="md-1"))
    write(tmp_path, "a.yaml", variant("a-policy"))
    write(tmp_path, "notes.txt", "not yaml: [")
    write(tmp_path, "schema.json", "{}")
    result = load_paths([tmp_path])
    assert result.errors == []
    assert result.files == [str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")]
    assert [p.name for _, p in result.policies] == ["a-policy", "b-policy"]


def test_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", POLICY)
    result = load_paths([path, tmp_path, path])
    assert result.errors == []
    assert len(result.policies) == 1


def test_directory_without_yaml(tmp_path: Path) -> None:
    result = load_paths([tmp_path])
    assert result.errors == [f"{tmp_path}:1:1: (file): directory holds no *.yaml or *.yml files"]


def test_duplicate_policy_names_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", POLICY)
    second = write(tmp_path, "b.yaml", "# the same name again\n" + POLICY)
    result = load_paths([first, second])
    line, col = at(POLICY, "shop-web")
    assert result.errors == [
        f"{second}:{line + 1}:{col}: metadata.name: policy name 'shop-web' is already used by the policy at "
        f"{first}:{line}:{col}; policy names must be unique"
    ]
    assert len(result.policies) == 1


def test_two_fleet_limits(tmp_path: Path) -> None:
    text = FLEET + "---\n" + FLEET
    file, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert (diagnostic.line, diagnostic.col) == at(text, "FleetLimits", nth=2)
    assert diagnostic.path == "kind"
    assert f"the first is at {file}:1:1" in diagnostic.message


@pytest.mark.parametrize(
    ("first_text", "second_text", "needle", "path", "target"),
    [
        pytest.param(
            variant("a"),
            variant("b", workload="api"),
            "ref:",
            "spec.burst.pools[0].ref",
            "MachineDeployment capi/md-0",
            id="MachineDeployment",
        ),
        pytest.param(
            variant("a", backend="mp"),
            variant("b", workload="api", backend="mp"),
            "ref:",
            "spec.burst.pools[0].ref",
            "MachinePool capi/md-0",
            id="MachinePool",
        ),
        pytest.param(
            variant("a", backend="tke", md="np-1"),
            variant("b", workload="api", backend="tke", md="np-1"),
            "nodePool:",
            "spec.burst.pools[0].nodePool",
            "TKE node pool cls-7xk2m9qp/np-1",
            id="node-pool",
        ),
        pytest.param(
            variant("a"),
            variant("b", md="md-1"),
            "propagationPolicy:",
            "spec.workloads[0].propagationPolicy",
            "PropagationPolicy shop/web",
            id="PropagationPolicy",
        ),
    ],
)
def test_two_policies_naming_one_target_across_files_name_both_places(
    tmp_path: Path, first_text: str, second_text: str, needle: str, path: str, target: str
) -> None:
    first = write(tmp_path, "a.yaml", first_text)
    second = write(tmp_path, "b.yaml", "# another team's policy\n" + second_text)
    result = load_paths([tmp_path])
    line, col = at(first_text, needle)
    assert result.errors == [
        f"{second}:{line + 1}:{col}: {path}: {target} is already managed by policy a at "
        f"{first}:{line}:{col} ({path}); one object is managed by one policy (both would write it as "
        "field manager burstd and undo each other's changes): remove it from one of them"
    ]
    # Each policy is valid on its own: the daemon runs the first and holds the later one.
    assert [p.name for _, p in result.policies] == ["a", "b"]
    assert [(c.first.policy, c.later.policy, str(c.target)) for c in result.conflicts] == [("a", "b", target)]
    assert result.invalid == []


def test_two_policies_naming_one_target_in_one_file(tmp_path: Path) -> None:
    text = variant("a") + "---\n" + variant("b", workload="api")
    file, result = load_one(tmp_path, text)
    [error] = result.errors
    line, col = at(text, "ref:", nth=2)
    first_line, first_col = at(text, "ref:")
    assert error.startswith(f"{file}:{line}:{col}: spec.burst.pools[0].ref: MachineDeployment capi/md-0 ")
    assert f"policy a at {file}:{first_line}:{first_col} " in error


def test_policies_with_different_targets_do_not_conflict(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", variant("a"))
    write(tmp_path, "b.yaml", variant("b", workload="api", md="md-1"))
    write(tmp_path, "c.yaml", variant("c", workload="search", md="md-0", backend="mp"))  # a MachinePool
    result = load_paths([tmp_path])
    assert result.errors == []
    assert result.conflicts == []


def test_two_pools_of_one_policy_naming_one_node_group(tmp_path: Path) -> None:
    pool = POLICY[POLICY.index("      - name: tke-gz6") : POLICY.index("  triggers:")]
    text = POLICY.replace(pool, pool + pool.replace("tke-gz6", "tke-gz7"))
    file, result = load_one(tmp_path, text)
    line, col = at(text, "ref:", nth=2)
    assert result.errors == [
        f"{file}:{line}:{col}: spec.burst.pools[1].ref: MachineDeployment capi/md-0 is already the target "
        "of spec.burst.pools[0].ref; each pool must name its own node group"
    ]
    assert result.policies == []


def test_merge_keys_do_not_crash_positions(tmp_path: Path) -> None:
    text = POLICY.replace("        nodes: {min: 0, max: 10}\n", "        <<: {nodes: {min: 20, max: 10}}\n")
    _, result = load_one(tmp_path, text)
    [diagnostic] = result.diagnostics
    assert diagnostic.path == "spec.burst.pools[0].nodes.min"
    assert diagnostic.line == at(text, "name: tke-gz6")[0]  # the pool: the merged key has no position


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    started = time.monotonic()
    _, result = load_one(tmp_path, "\n".join(lines) + "\n")
    assert time.monotonic() - started < 10
    [diagnostic] = result.diagnostics
    assert "more than 100000 values" in diagnostic.message


def test_load_text_names_the_source() -> None:
    result = load_text("kind: [", "configmap/policies:shop.yaml")
    assert result.errors[0].startswith("configmap/policies:shop.yaml:")


def test_load_policy(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", POLICY + "---\n" + FLEET)
    assert load_policy(path).name == "shop-web"


def test_load_policy_raises_with_formatted_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", POLICY.replace("for: 2m}", "for: 2mins}"))
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    line, col = at(POLICY, "2m}")
    assert str(caught.value).startswith(f"{path}:{line}:{col}: spec.triggers.scaleOut.any[0].for: ")
    assert caught.value.errors == [str(d) for d in caught.value.diagnostics]


def test_load_policy_needs_exactly_one(tmp_path: Path) -> None:
    path = write(tmp_path, "two.yaml", POLICY + "---\n" + variant("other", workload="api", md="md-1"))
    with pytest.raises(
        PolicyFileError, match=r"expected exactly one BurstPolicy, found 2 \(shop-web, other\)"
    ):
        load_policy(path)
    fleet_only = write(tmp_path, "fleet.yaml", FLEET)
    with pytest.raises(PolicyFileError, match="found none"):
        load_policy(fleet_only)


def test_locate_falls_back_to_the_deepest_existing_parent() -> None:
    from ruamel.yaml import YAML

    document = YAML().load("a:\n  b:\n    - x\n    - {c: 1}\n")
    assert locate(document, ("a", "b", 1, "c")) == (3, 10)  # the value
    assert locate(document, ("a", "b", 1, "c"), at_key=True) == (3, 7)
    assert locate(document, ("a", "b", 1, "missing")) == (3, 6)  # the list item
    assert locate(document, ("a", "b", 7)) == (1, 2)
    assert locate(document, ("a", "b")) == (1, 2)
    assert locate(document, ("a", "b"), at_key=True) == (1, 2)
    assert locate(document, ("nope",), (9, 9)) == (9, 9)


@pytest.mark.parametrize("text", ["!!set", "!!int", "!!float 6x", "!!bool #x\t,'"])
def test_inputs_that_trip_the_yaml_library_are_reported(text: str) -> None:
    [error] = load_text(text, "odd.yaml").errors
    assert error.startswith("odd.yaml:1:1: (yaml): YAML error: the YAML reader cannot read this file (")


TOKENS = [
    *"ab:-{}[],'\"\t\n #&*!?|>%@`=.019",
    "kind",
    "apiVersion",
    "BurstPolicy",
    "\n  ",
    "---\n",
    "<<: ",
    "!!set",
    "!!omap",
    "!!binary",
    "!!python/object:os.system",
    "? ",
    "&a ",
    "*a",
    "2001-12-14",
    "!x ",
]
ERROR_LINE = re.compile(r"^odd\.yaml:\d+:\d+: \S+: .+$")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_any_text_gives_error_lines_never_an_exception(text: str) -> None:
    result = load_text(text, "odd.yaml")
    for error in result.errors:
        assert ERROR_LINE.match(error), error
    assert len(result.policies) <= text.count("BurstPolicy")  # a policy needs its kind
