"""BurstPolicy/FleetLimits validation: every field and cross-field check reports the right path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from burstd.policy.spec import BurstPolicy, FleetLimits, PolicyInvalid, Problem, parse_document

Doc = dict[str, Any]


def valid() -> Doc:
    return {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "BurstPolicy",
        "metadata": {"name": "shop-web"},
        "spec": {
            "workloads": [{"propagationPolicy": {"namespace": "shop", "name": "web"}}],
            "base": {"clusters": ["idc-1", "idc-2"]},
            "burst": {
                "pools": [
                    {
                        "name": "tke-gz6",
                        "provider": "tencent",
                        "cluster": "tke-gz",
                        "backend": "capi-machinedeployment",
                        "ref": {"namespace": "capi", "name": "md-0"},
                        "nodes": {"min": 0, "max": 10},
                        "allocatable": {"cpu": "7600m", "memory": "28Gi"},
                        "price": {"perNodeHour": 2.5},
                    },
                    {
                        "name": "ack-hz-h",
                        "provider": "aliyun",
                        "cluster": "ack-hz",
                        "backend": "ack-nodepool",
                        "nodePool": {"clusterId": "c1", "nodePoolId": "np1"},
                        "nodes": {"min": 0, "max": 10},
                        "allocatable": {"cpu": "8", "memory": "16Gi"},
                        "price": {"perNodeHour": 3.0},
                    },
                ]
            },
            "triggers": {
                "scaleOut": {"any": [{"signal": "base.cpu.requestedRatio", "above": 0.85, "for": "2m"}]},
                "scaleIn": {"all": [{"signal": "base.cpu.requestedRatio", "below": 0.6, "for": "15m"}]},
            },
        },
    }


def problems_of(doc: Any) -> dict[str, str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_document(doc)
    return {p.path: p.message for p in caught.value.problems}


def edited(edit: Callable[[Doc], object]) -> Doc:
    doc = copy.deepcopy(valid())
    edit(doc)
    return doc


def pool(doc: Doc, i: int) -> Doc:
    result: Doc = doc["spec"]["burst"]["pools"][i]
    return result


def test_valid_policy_parses_with_units_and_defaults() -> None:
    policy = parse_document(valid())
    assert isinstance(policy, BurstPolicy)
    assert policy.name == "shop-web"
    spec = policy.spec
    assert spec.burst.pools[0].allocatable.cpu == pytest.approx(7.6)
    assert spec.burst.pools[0].allocatable.memory == 28 * 2**30
    assert spec.triggers.scale_out.conditions[0].for_ == 120.0
    assert spec.triggers.scale_in.mode == "all"
    assert spec.shift.max_step == pytest.approx(0.2)  # default '20%'
    assert spec.drain.min_burst_duration == 1200.0
    assert spec.dry_run is False


def test_fleet_limits_parse() -> None:
    doc = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "FleetLimits",
        "metadata": {"name": "fleet"},
        "spec": {"maxCloudNodes": 100, "maxHourlyCost": {"amount": 500}},
    }
    limits = parse_document(doc)
    assert isinstance(limits, FleetLimits)
    assert limits.spec.max_cloud_nodes == 100
    assert limits.spec.max_hourly_cost is not None
    assert limits.spec.max_hourly_cost.currency == "CNY"


def test_problem_path_renders_indexes() -> None:
    assert Problem(("spec", "burst", "pools", 0, "nodes", "min"), "x").path == "spec.burst.pools[0].nodes.min"
    assert Problem((), "x").path == "(document)"


# ------------------------------------------------------------------------------------------- document level


@pytest.mark.parametrize(("data", "got"), [(None, "nothing"), ([1, 2], "list"), ("text", "str")])
def test_document_must_be_a_mapping(data: Any, got: str) -> None:
    assert problems_of(data) == {"(document)": f"expected a mapping with apiVersion and kind, got {got}"}


def test_wrong_api_version() -> None:
    found = problems_of(edited(lambda d: d.update(apiVersion="burstd.io/v1")))
    assert "burstd.io/v1alpha1" in found["apiVersion"]


def test_unknown_kind() -> None:
    found = problems_of(edited(lambda d: d.update(kind="Policy")))
    assert found == {"kind": "expected 'BurstPolicy' or 'FleetLimits', got 'Policy'"}


# ------------------------------------------------------------------------------------------- field level


def test_unknown_keys_are_reported_at_their_path() -> None:
    def edit(d: Doc) -> None:
        d["spec"]["shfit"] = {}
        pool(d, 1)["colour"] = "red"

    found = problems_of(edited(edit))
    assert set(found) == {"spec.shfit", "spec.burst.pools[1].colour"}
    assert all(message.startswith("unknown field") for message in found.values())


def test_missing_required_field() -> None:
    found = problems_of(edited(lambda d: pool(d, 0).pop("allocatable")))
    assert set(found) == {"spec.burst.pools[0].allocatable"}


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [
        (
            lambda d: d["spec"]["triggers"]["scaleOut"]["any"][0].update({"for": "2 minutes"}),
            "spec.triggers.scaleOut.any[0].for",
            "invalid duration",
        ),
        (
            lambda d: d["spec"]["triggers"]["scaleOut"]["any"][0].update({"for": 120}),
            "spec.triggers.scaleOut.any[0].for",
            "expected a duration string",
        ),
        (
            lambda d: d["spec"]["base"].update(reserve={"cpu": "10"}),
            "spec.base.reserve.cpu",
            "invalid percentage",
        ),
        (
            lambda d: d["spec"]["base"].update(reserve={"cpu": 0.1}),
            "spec.base.reserve.cpu",
            "percentage string",
        ),
        (
            lambda d: pool(d, 0)["allocatable"].update(memory="28GB"),
            "spec.burst.pools[0].allocatable.memory",
            "invalid quantity",
        ),
        (lambda d: d["spec"].update(shift={"maxStep": 0}), "spec.shift.maxStep", "at least 1 replica"),
        (lambda d: d["spec"].update(shift={"maxStep": "0%"}), "spec.shift.maxStep", "above 0%"),
        (lambda d: d["spec"].update(shift={"maxStep": True}), "spec.shift.maxStep", "boolean"),
        (lambda d: d["spec"].update(drain={"maxStep": "150%"}), "spec.drain.maxStep", "above 100%"),
        (lambda d: d["spec"].update(shift={"mode": "weights"}), "spec.shift.mode", "static-weights"),
        (
            lambda d: pool(d, 0).update(backend="capi"),
            "spec.burst.pools[0].backend",
            "capi-machinedeployment",
        ),
        (
            lambda d: pool(d, 0)["nodes"].update(max=-1),
            "spec.burst.pools[0].nodes.max",
            "greater than or equal",
        ),
        (lambda d: pool(d, 0).update(name="TKE_GZ"), "spec.burst.pools[0].name", "pattern"),
        (lambda d: d["metadata"].update(name=""), "metadata.name", "at least 1 character"),
        (
            lambda d: pool(d, 0)["price"].update(currency="yuan"),
            "spec.burst.pools[0].price.currency",
            "pattern",
        ),
    ],
)
def test_field_errors(edit: Callable[[Doc], object], path: str, fragment: str) -> None:
    found = problems_of(edited(edit))
    assert path in found, found
    assert fragment in found[path]


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ({"above": 1}, "exactly one of 'signal'"),
        ({"signal": "base.cpu.requestedRatio", "promql": "up", "above": 1}, "exactly one of 'signal'"),
        ({"signal": "base.cpu.requestedRatio"}, "exactly one of 'above' or 'below'"),
        ({"signal": "base.cpu.requestedRatio", "above": 1, "below": 0}, "exactly one of 'above' or 'below'"),
        ({"signal": "cpu", "above": 1}, "unknown signal 'cpu'"),
    ],
)
def test_condition_checks(condition: Doc, fragment: str) -> None:
    found = problems_of(edited(lambda d: d["spec"]["triggers"]["scaleOut"].update({"any": [condition]})))
    assert fragment in found["spec.triggers.scaleOut.any[0]"]


@pytest.mark.parametrize(
    "group",
    [
        {},
        {"any": [], "all": []},
        {"any": [{"promql": "up", "above": 1}], "all": [{"promql": "up", "above": 1}]},
    ],
)
def test_condition_group_needs_exactly_one_combinator(group: Doc) -> None:
    found = problems_of(edited(lambda d: d["spec"]["triggers"].update(scaleOut=group)))
    assert any(path.startswith("spec.triggers.scaleOut") for path in found), found


def test_condition_group_with_neither_combinator_says_so() -> None:
    found = problems_of(edited(lambda d: d["spec"]["triggers"].update(scaleOut={})))
    assert found == {"spec.triggers.scaleOut": "set exactly one of 'any' or 'all', each a list of conditions"}


def schedule(**overrides: Any) -> Doc:
    window: Doc = {
        "name": "morning",
        "cron": "0 8 * * 1-5",
        "duration": "2h",
        "timeZone": "Asia/Shanghai",
        "minNodes": 4,
    }
    window.update(overrides)
    return window


@pytest.mark.parametrize(
    ("window", "path", "fragment"),
    [
        (schedule(cron="0 8 * *"), "cron", "invalid cron expression"),
        (schedule(cron="0 25 * * *"), "cron", "invalid cron expression"),
        (schedule(cron="0 8 * * * *"), "cron", "expected 5 fields"),
        (schedule(timeZone="Asia/Beijing"), "timeZone", "unknown time zone 'Asia/Beijing'"),
        (schedule(duration="2 hours"), "duration", "invalid duration"),
        (schedule(minNodes=-1), "minNodes", "greater than or equal to 0"),
    ],
)
def test_schedule_window_checks(window: Doc, path: str, fragment: str) -> None:
    found = problems_of(edited(lambda d: d["spec"]["triggers"].update(schedules=[window])))
    assert fragment in found[f"spec.triggers.schedules[0].{path}"]


def test_valid_schedule_window() -> None:
    policy = parse_document(edited(lambda d: d["spec"]["triggers"].update(schedules=[schedule()])))
    assert isinstance(policy, BurstPolicy)
    assert policy.spec.triggers.schedules[0].duration == 7200.0


# ------------------------------------------------------------------------------------------- cross-field


def set_path(doc: Doc, *path_and_value: Any) -> None:
    *path, key, value = path_and_value
    node = doc
    for part in path:
        node = node[part]
    node[key] = value


CROSS_FIELD: list[tuple[str, Callable[[Doc], object], str, str]] = [
    (
        "base cluster twice",
        lambda d: set_path(d, "spec", "base", "clusters", ["idc-1", "idc-1"]),
        "spec.base.clusters[1]",
        "cluster 'idc-1' is listed twice",
    ),
    (
        "workload twice",
        lambda d: d["spec"]["workloads"].append(copy.deepcopy(d["spec"]["workloads"][0])),
        "spec.workloads[1].propagationPolicy",
        "workload 'shop/web' is listed twice",
    ),
    (
        "pool name twice",
        lambda d: pool(d, 1).update(name="tke-gz6"),
        "spec.burst.pools[1].name",
        "pool name 'tke-gz6' is used twice",
    ),
    (
        "pool in base cluster",
        lambda d: pool(d, 0).update(cluster="idc-2"),
        "spec.burst.pools[0].cluster",
        "both a base cluster and a burst cluster",
    ),
    (
        "min above max",
        lambda d: pool(d, 0).update(nodes={"min": 5, "max": 3}),
        "spec.burst.pools[0].nodes.min",
        "min (5) is greater than max (3)",
    ),
    ("capi without ref", lambda d: pool(d, 0).pop("ref"), "spec.burst.pools[0].ref", "needs ref"),
    (
        "capi with nodePool",
        lambda d: pool(d, 0).update(nodePool={"clusterId": "c", "nodePoolId": "n"}),
        "spec.burst.pools[0].nodePool",
        "nodePool is for native node pools",
    ),
    (
        "native without nodePool",
        lambda d: pool(d, 1).pop("nodePool"),
        "spec.burst.pools[1].nodePool",
        "needs nodePool",
    ),
    (
        "native with ref",
        lambda d: pool(d, 1).update(ref={"namespace": "a", "name": "b"}),
        "spec.burst.pools[1].ref",
        "ref is for Cluster API backends",
    ),
    ("no price", lambda d: pool(d, 1).pop("price"), "spec.burst.pools[1].price", "no price source"),
    (
        "static price without amount",
        lambda d: pool(d, 1).update(price={"source": "static"}),
        "spec.burst.pools[1].price.perNodeHour",
        "perNodeHour is not set",
    ),
    (
        "currency differs from limit",
        lambda d: (
            pool(d, 1)["price"].update(currency="USD"),
            d["spec"].update(limits={"maxHourlyCost": {"amount": 100}}),
        ),
        "spec.burst.pools[1].price.currency",
        "differs from limits.maxHourlyCost.currency CNY",
    ),
    (
        "impossible maxCloudNodes",
        lambda d: (
            pool(d, 0).update(nodes={"min": 3, "max": 10}),
            pool(d, 1).update(nodes={"min": 3, "max": 10}),
            d["spec"].update(limits={"maxCloudNodes": 5}),
        ),
        "spec.limits.maxCloudNodes",
        "add up to 6 nodes, above maxCloudNodes (5)",
    ),
    (
        "schedule beyond pools",
        lambda d: d["spec"]["triggers"].update(schedules=[schedule(minNodes=21)]),
        "spec.triggers.schedules[0].minNodes",
        "more than all pools can hold (20)",
    ),
    (
        "schedule beyond limit",
        lambda d: (
            d["spec"]["triggers"].update(schedules=[schedule(minNodes=8)]),
            d["spec"].update(limits={"maxCloudNodes": 6}),
        ),
        "spec.triggers.schedules[0].minNodes",
        "above limits.maxCloudNodes (6)",
    ),
    (
        "overflow predictive zero horizon",
        lambda d: d["spec"].update(shift={"mode": "overflow"}, predictive={"enabled": True, "horizon": "0s"}),
        "spec.predictive.horizon",
        "horizon must be above 0s",
    ),
]


@pytest.mark.parametrize(
    ("edit", "path", "fragment"), [c[1:] for c in CROSS_FIELD], ids=[c[0] for c in CROSS_FIELD]
)
def test_cross_field_checks(edit: Callable[[Doc], object], path: str, fragment: str) -> None:
    found = problems_of(edited(edit))
    assert path in found, found
    assert fragment in found[path]


def test_cross_field_checks_report_every_problem_at_once() -> None:
    def edit(d: Doc) -> None:
        pool(d, 0).update(nodes={"min": 5, "max": 3})
        pool(d, 1).pop("price")

    assert set(problems_of(edited(edit))) == {"spec.burst.pools[0].nodes.min", "spec.burst.pools[1].price"}


def test_provider_price_needs_no_amount() -> None:
    policy = parse_document(edited(lambda d: pool(d, 1).update(price={"source": "provider"})))
    assert isinstance(policy, BurstPolicy)


# ------------------------------------------------------------------------------------------- dead band


def triggers(out: Doc, in_: Doc) -> Callable[[Doc], object]:
    return lambda d: d["spec"].update(triggers={"scaleOut": {"any": [out]}, "scaleIn": {"all": [in_]}})


CPU = "base.cpu.requestedRatio"


@pytest.mark.parametrize(
    ("out", "in_", "path", "fragment"),
    [
        (
            {"signal": CPU, "above": 0.8},
            {"signal": CPU, "below": 0.8},
            "below",
            "must be below the scale-out",
        ),
        ({"signal": CPU, "above": 0.8}, {"signal": CPU, "below": 0.9}, "below", "to leave a dead band"),
        ({"signal": CPU, "above": 0.8}, {"signal": CPU, "above": 0.9}, "above", "scale-in must be 'below'"),
        (
            {"signal": CPU, "below": 0.2},
            {"signal": CPU, "above": 0.1},
            "above",
            "must be above the scale-out",
        ),
        ({"signal": CPU, "below": 0.2}, {"signal": CPU, "below": 0.1}, "below", "scale-in must be 'above'"),
        ({"promql": "sum(up)", "above": 5}, {"promql": "sum(up)", "below": 5}, "below", "sum(up): scale-in"),
    ],
)
def test_dead_band(out: Doc, in_: Doc, path: str, fragment: str) -> None:
    found = problems_of(edited(triggers(out, in_)))
    assert fragment in found[f"spec.triggers.scaleIn.all[0].{path}"]


@pytest.mark.parametrize(
    ("out", "in_"),
    [
        ({"signal": CPU, "above": 0.8}, {"signal": CPU, "below": 0.6}),
        ({"signal": CPU, "below": 0.2}, {"signal": CPU, "above": 0.3}),
        # different signals: no dead band to check
        ({"signal": CPU, "above": 0.8}, {"signal": "base.memory.requestedRatio", "below": 0.9}),
        ({"promql": "sum(up)", "above": 5}, {"promql": "sum(up) by (x)", "below": 9}),
    ],
)
def test_dead_band_accepts_a_gap(out: Doc, in_: Doc) -> None:
    assert isinstance(parse_document(edited(triggers(out, in_))), BurstPolicy)


# ------------------------------------------------------------------------------------------- bounds (issue 7)


def _set(path: str, value: Any) -> Callable[[Doc], object]:
    """An edit that sets ``value`` at a dotted path with ``[i]`` indexes, creating mappings on the way."""

    def edit(d: Doc) -> None:
        node: Any = d
        parts: list[str | int] = []
        for part in path.split("."):
            name, _, index = part.partition("[")
            parts.append(name)
            if index:
                parts.append(int(index.rstrip("]")))
        for step in parts[:-1]:
            node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
        node[parts[-1]] = value

    return edit


NINES = "9" * 400  # float(Decimal(NINES)) is inf


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("spec.triggers.scaleOut.any[0].above", float("nan"), "finite"),
        ("spec.triggers.scaleOut.any[0].above", float("inf"), "finite"),
        ("spec.triggers.scaleIn.all[0].below", float("-inf"), "finite"),
        ("spec.triggers.scaleOut.any[0].above", 1e300, "at most"),
        ("spec.triggers.scaleOut.any[0].for", NINES + "d", "at most 366d"),
        ("spec.triggers.scaleOut.any[0].for", "400d", "at most 366d"),
        ("spec.shift.interval", "0s", "above 0s"),
        ("spec.drain.interval", "0s", "above 0s"),
        ("spec.burst.provisionTimeout", "0s", "above 0s"),
        ("spec.safety.signalMaxAge", "0s", "above 0s"),
        ("spec.safety.stockoutBackoff", "0s", "above 0s"),
        ("spec.drain.stabilizationWindow", "30d", "at most 1d"),
        ("spec.predictive.lookback", "0s", "above 0s"),
        ("spec.predictive.lookback", "2d", "at most 1d"),
        ("spec.predictive.horizon", "2d", "at most 1d"),
        ("spec.burst.pools[0].allocatable.cpu", "0", "above 0"),
        ("spec.burst.pools[0].allocatable.cpu", 0, "above 0"),
        ("spec.burst.pools[0].allocatable.memory", "0Gi", "above 0"),
        ("spec.burst.pools[0].allocatable.memory", NINES, "at most"),
        ("spec.burst.pools[0].allocatable.cpu", "2000000", "at most"),
        ("spec.burst.pools[0].allocatable.pods", 10**9, "less than or equal to 10000"),
        ("spec.burst.pools[0].nodes.max", 10**29, "less than or equal to 10000"),
        ("spec.burst.pools[0].nodes.min", 10**29, "less than or equal to 10000"),
        ("spec.limits.maxCloudNodes", 10**29, "less than or equal to 10000"),
        ("spec.burst.pools[0].price.perNodeHour", float("inf"), "finite"),
        ("spec.burst.pools[0].price.perNodeHour", float("nan"), "finite"),
        ("spec.burst.pools[0].price.perNodeHour", 1e300, "less than or equal to"),
        ("spec.limits.maxHourlyCost.amount", float("inf"), "finite"),
        ("spec.shift.maxStep", 10**12, "at most 1000000"),
        ("spec.priority", 10**40, "less than or equal to 2147483647"),
    ],
)
def test_values_that_would_break_the_engine_are_refused(path: str, value: Any, fragment: str) -> None:
    found = problems_of(edited(_set(path, value)))
    assert path in found, found
    assert fragment in found[path], found[path]


def test_schedule_window_duration_must_be_positive_and_bounded() -> None:
    window = {"name": "w", "cron": "0 8 * * *", "duration": "0s", "minNodes": 1}
    found = problems_of(edited(_set("spec.triggers.schedules", [window])))
    assert "above 0s" in found["spec.triggers.schedules[0].duration"]


def test_fleet_limits_are_bounded() -> None:
    doc = {
        "apiVersion": "burstd.io/v1alpha1",
        "kind": "FleetLimits",
        "metadata": {"name": "fleet"},
        "spec": {"maxCloudNodes": 10**29, "maxHourlyCost": {"amount": float("nan")}},
    }
    found = problems_of(doc)
    assert "less than or equal to 10000" in found["spec.maxCloudNodes"]
    assert "finite" in found["spec.maxHourlyCost.amount"]


def test_bounds_accept_the_largest_sensible_values() -> None:
    def edit(d: Doc) -> None:
        _set("spec.triggers.scaleOut.any[0].for", "366d")(d)
        _set("spec.drain.stabilizationWindow", "1d")(d)
        _set("spec.burst.pools[0].nodes.max", 10_000)(d)
        _set("spec.burst.pools[0].allocatable.memory", "1Ei")(d)
        _set("spec.drain.minBurstDuration", "0s")(d)

    policy = parse_document(edited(edit))
    assert isinstance(policy, BurstPolicy)
    assert policy.spec.triggers.scale_out.conditions[0].for_ == 366 * 86400.0


def test_a_blank_or_dotted_unknown_key_is_quoted_in_the_path() -> None:
    assert Problem(("spec", " "), "x").path == "spec[' ']"
    assert Problem(("spec", "a.b", 0), "x").path == "spec['a.b'][0]"
