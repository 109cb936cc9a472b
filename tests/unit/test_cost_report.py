"""``burstd cost report`` offline: the report built from ledgers (windows, rounding, tables), states read
from files, clear errors; ``burstd policy check`` refuses a provider-priced pool whose plugin is missing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from burstd import cli
from burstd.model.state import BurstRecord, BurstState, Ledger, Phase, PoolCost
from burstd.runtime.costreport import build_report, cents, render_table

DAY = 86_400.0
NOW = 1_764_460_800.0  # 2025-11-30T00:00:00Z


def state() -> BurstState:
    """Two closed bursts (40 and 3 days ago; the newer one 5 days long) and one in progress."""
    old = BurstRecord(NOW - 40 * DAY, NOW - 40 * DAY + 3600.0, {"a": PoolCost(7200.0, 4.005, "CNY")})
    straddling = BurstRecord(
        NOW - 8 * DAY, NOW - 3 * DAY, {"a": PoolCost(3600.0, 2.0, "CNY"), "b": PoolCost(1800.0, 1.125, "CNY")}
    )
    current = BurstRecord(NOW - 600.0, None, {"a": PoolCost(1200.0, 0.666, "CNY")})
    pools = {"a": PoolCost(12_000.0, 6.671, "CNY"), "b": PoolCost(1800.0, 1.125, "CNY", 36.0)}
    ledger = Ledger(
        {"a": 12_000.0, "b": 1800.0}, 7.796, NOW - 10.0, pools, {"a": 1}, current, (old, straddling)
    )
    return BurstState(phase=Phase.BURSTING, burst_started_at=NOW - 600.0, ledger=ledger)


def test_cents_round_half_up_from_the_shortest_decimal() -> None:
    assert [cents(x) for x in (0.125, 2.675, 1.005, 0.004999, 7.796)] == [
        Decimal("0.13"),
        Decimal("2.68"),
        Decimal("1.01"),
        Decimal("0.00"),
        Decimal("7.80"),
    ]


def test_without_a_window_the_report_holds_every_burst_and_the_running_totals() -> None:
    report = build_report({"web": state()}, NOW)
    assert [(b["id"], b["end"], b["open"]) for b in report["bursts"]] == [
        ("2025-10-21T00:00:00Z", "2025-10-21T01:00:00Z", False),
        ("2025-11-22T00:00:00Z", "2025-11-27T00:00:00Z", False),
        ("2025-11-29T23:50:00Z", None, True),
    ]
    assert report["bursts"][2]["durationSeconds"] == 590.0  # accounted until the last evaluation
    assert report["bursts"][1]["totals"] == [{"currency": "CNY", "nodeHours": 1.5, "cost": 3.13}]
    assert [(p["pool"], p["cost"], p["nodeHours"], p["unpricedNodeHours"]) for p in report["pools"]] == [
        ("a", 6.67, 3.3333, 0.0),
        ("b", 1.13, 0.5, 0.01),
    ]
    assert report["policies"] == [{"policy": "web", "currency": "CNY", "nodeHours": 3.8333, "cost": 7.8}]
    assert report["totals"] == [{"currency": "CNY", "nodeHours": 3.8333, "cost": 7.8}]


def test_a_window_keeps_the_bursts_that_overlap_it_each_counted_whole() -> None:
    report = build_report({"web": state(), "api": BurstState()}, NOW, since=5 * DAY)
    assert report["since"] == "120h"
    assert report["windowStart"] == "2025-11-25T00:00:00Z"
    # the burst from 8 to 3 days ago straddles the window's start: counted whole; the one 40 days ago: out
    assert [b["id"] for b in report["bursts"]] == ["2025-11-22T00:00:00Z", "2025-11-29T23:50:00Z"]
    assert [(p["policy"], p["pool"], p["cost"]) for p in report["pools"]] == [
        ("web", "a", 2.67),
        ("web", "b", 1.13),
    ]
    assert report["policies"] == [{"policy": "web", "currency": "CNY", "nodeHours": 1.8333, "cost": 3.79}]
    assert report["totals"] == [{"currency": "CNY", "nodeHours": 1.8333, "cost": 3.79}]


def test_the_table_shows_every_section_to_the_cent() -> None:
    text = render_table(build_report({"web": state()}, NOW))
    lines = text.splitlines()
    assert lines[0] == "burstd cost report at 2025-11-30T00:00:00Z"
    assert (
        "web     2025-11-22T00:00:00Z  2025-11-27T00:00:00Z  120h      a,b          1.50  3.13  CNY" in lines
    )
    assert (
        "web     2025-11-29T23:50:00Z  (in progress)         9m50s     a            0.33  0.67  CNY" in lines
    )
    assert lines[lines.index("POOLS") + 1].split() == [
        "POLICY",
        "POOL",
        "NODE-HOURS",
        "COST",
        "CURRENCY",
        "UNPRICED-NODE-HOURS",
    ]
    assert lines[lines.index("POOLS") + 3].split() == ["web", "b", "0.50", "1.13", "CNY", "0.01"]
    assert lines[lines.index("POLICIES") + 2].split() == ["web", "3.83", "7.80", "CNY"]
    assert lines[lines.index("TOTAL") + 2].split() == ["CNY", "3.83", "7.80"]
    assert lines[-1].startswith("warning: some node-hours had no price")


def configmap(policy: str, state_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"burstd-state-{policy}",
            "namespace": "burstd-system",
            "labels": {"burstd.io/policy": policy},
        },
        "data": {"state.json": state_json},
    }


def report_of(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["cost", "report", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_states_are_read_from_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = json.dumps(state().to_dict())
    listed = tmp_path / "states.json"
    listed.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [configmap("web", saved)]}))
    single = tmp_path / "cm.json"
    single.write_text(json.dumps(configmap("api", json.dumps(BurstState().to_dict()))))
    bare = tmp_path / "burstd-state-batch.json"
    bare.write_text(saved)
    code, out, err = report_of(
        capsys, "--format", "json", *(f"--state-file={p}" for p in (listed, single, bare))
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert [p["policy"] for p in report["policies"]] == ["api", "batch", "web"]
    assert report["totals"] == [
        {"currency": "-", "nodeHours": 0.0, "cost": 0.0},
        {"currency": "CNY", "nodeHours": 7.6667, "cost": 15.59},
    ]


def test_a_corrupt_state_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "states.json"
    items = [configmap("web", "{not json"), configmap("api", json.dumps({"phase": "Bursting"}))]
    bad.write_text(json.dumps({"kind": "List", "items": items}))
    code, out, err = report_of(capsys, "--state-file", str(bad))
    assert code == 1
    assert out == ""
    assert (
        f"{bad}: ConfigMap burstd-system/burstd-state-web key 'state.json' is not a valid burst state" in err
    )
    assert (
        "burstd-system/burstd-state-api key 'state.json' is not a valid burst state: burst state is missing field 'phaseSince'"
        in err
    )


def test_a_missing_file_and_a_bad_window_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = report_of(capsys, "--state-file", str(tmp_path / "nope.json"))
    assert code == 1
    assert f"{tmp_path / 'nope.json'}: cannot read: No such file or directory" in err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["cost", "report", "--since", "a month"])
    assert exit_info.value.code == 2
    assert "--since" in capsys.readouterr().err


POLICY = """\
apiVersion: burstd.io/v1alpha1
kind: BurstPolicy
metadata: {name: web}
spec:
  workloads: [{propagationPolicy: {namespace: shop, name: web}}]
  base: {clusters: [idc-1]}
  burst:
    pools:
      - name: cloud-a
        provider: PROVIDER
        cluster: cloud
        backend: capi-machinedeployment
        ref: {namespace: capi, name: cloud-a}
        nodes: {min: 0, max: 10}
        allocatable: {cpu: "8", memory: 32Gi}
        price: PRICE
  triggers:
    scaleOut: {any: [{signal: fhpa.unfitReplicas, above: 0, for: 30s}]}
    scaleIn: {all: [{signal: fhpa.unfitReplicas, below: -5, for: 5m}]}
"""


@pytest.mark.parametrize(
    ("provider", "price", "problem"),
    [
        (
            "aws",
            "{source: provider, currency: USD}",
            "10:9: spec.burst.pools[0].provider: pool cloud-a is priced by its provider",
        ),
        ("fake", "{source: provider, currency: USD}", None),
        ("aws", "{perNodeHour: 2.5}", None),
        (
            "fake",
            "{source: static}",
            "16:9: spec.burst.pools[0].price.perNodeHour: price.source is static but perNodeHour is not set",
        ),
    ],
)
def test_policy_check_refuses_a_pool_that_could_have_no_price(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, price: str, problem: str | None
) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(POLICY.replace("PROVIDER", provider).replace("PRICE", price))
    code = cli.main(["policy", "check", str(path)])
    err = capsys.readouterr().err
    if problem is None:
        assert (code, err) == (0, "")
    else:
        assert code == 1
        assert f"{path}:{problem}" in err
        if provider == "aws":
            assert "'aws' is not installed (installed: alibabacloud, fake, tencentcloud)" in err
