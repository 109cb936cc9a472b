"""The SimulatedFleet document and how it combines with a policy and a trace into a scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from burstd.sim.files import InputError, load_fleet, load_policy
from burstd.sim.fleet import parse_fleet
from burstd.sim.scenario import ScenarioError, build_scenario

from .scenarios import fleet_doc, make_policy, pool_doc, step_trace

FLEET = """\
apiVersion: burstd.io/v1alpha1
kind: SimulatedFleet
metadata: {name: test}
spec:
  request: {cpu: "1", memory: 2Gi}
  peakReplicas: 400
  base:
    replicas: p70
  pools:
    cloud-a:
      provisionDelay: 2m
      stockOuts: [{from: 1h, to: 2h30m}]
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return str(path)


def test_bundled_fleet_and_policy_load() -> None:
    fleet = load_fleet(None)
    assert fleet.spec.peak_replicas == 400
    assert fleet.spec.base.replicas == "p70"
    assert fleet.spec.pool_defaults.provision_delay == 180.0
    assert fleet.spec.start_time.isoformat() == "2026-01-05T00:00:00+00:00"
    policy = load_policy(None)
    assert [p.name for p in policy.spec.burst.pools] == ["tke-gz6", "ack-hz-h"]
    assert policy.spec.base.clusters == ["idc-1"]


def test_a_fleet_file(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, FLEET))
    assert fleet.spec.pools["cloud-a"].provision_delay == 120.0
    scenario = build_scenario(make_policy(), fleet, step_trace([(0, 1.0), (600, 2.0)], 3600))
    pool = scenario.pools[0]
    assert pool.provision_delay == 120.0
    assert pool.deletion_delay == 30.0  # built-in default
    assert pool.stock_outs == ((3600.0, 9000.0),)
    assert pool.replicas_per_node == 7
    assert scenario.base_replicas == 400  # p70 of a trace that is 200 then 400 for most of it
    assert scenario.status_refresh == 10.0


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("peakReplicas: 400", "peakReplicas: 0"),
            ":6:17: spec.peakReplicas: Input should be greater than or equal to 1",
        ),
        (
            ("    replicas: p70", "    replicas: q70"),
            ":8:15: spec.base.replicas: invalid base replicas 'q70'",
        ),
        (
            ("provisionDelay: 2m", "provisionDelay: 2x"),
            ":11:23: spec.pools.cloud-a.provisionDelay: invalid duration",
        ),
        (
            ("provisionDelay: 2m", "provisonDelay: 2m"),
            ":11:7: spec.pools.cloud-a.provisonDelay: unknown field",
        ),
        (
            ("{from: 1h, to: 2h30m}", "{from: 3h, to: 2h}"),
            ":12:19: spec.pools.cloud-a.stockOuts[0]: 'to' must be after 'from'",
        ),
        (("kind: SimulatedFleet", "kind: Fleet"), ":2:7: kind: expected 'SimulatedFleet', got 'Fleet'"),
        (
            ("peakReplicas: 400", "peakReplicas: 100000000000"),
            ":6:17: spec.peakReplicas: Input should be less than or equal to 1000000",
        ),
        (
            ("provisionDelay: 2m", "pricePerNodeHour: .inf"),
            ":11:25: spec.pools.cloud-a.pricePerNodeHour: Input should be a finite number",
        ),
    ],
)
def test_fleet_errors_point_at_the_line(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    path = write(tmp_path, FLEET.replace(*edit))
    with pytest.raises(InputError) as info:
        load_fleet(path)
    assert str(info.value).startswith(path + expected), str(info.value)


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: [\n")
    with pytest.raises(InputError, match=r"fleet\.yaml:\d+:\d+: invalid YAML"):
        load_fleet(path)


def test_base_clusters_must_match_the_policy() -> None:
    fleet = parse_fleet(fleet_doc(base={"clusters": ["idc-2"], "replicas": 10}))
    with pytest.raises(ScenarioError, match=r"does not match the policy's spec\.base\.clusters \['idc-1'\]"):
        build_scenario(make_policy(), fleet, step_trace([(0, 1.0)], 600))


def test_pool_names_must_exist_in_the_policy() -> None:
    fleet = parse_fleet(fleet_doc(pools={"nope": {"provisionDelay": "1m"}}))
    with pytest.raises(ScenarioError, match=r"fleet spec\.pools names nope, which the policy does not have"):
        build_scenario(make_policy(), fleet, step_trace([(0, 1.0)], 600))


def test_provider_priced_pools_need_a_price() -> None:
    pool = pool_doc("cloud-a", "cloud-a")
    pool["price"] = {"source": "provider"}
    policy = make_policy([pool])
    with pytest.raises(ScenarioError, match=r"spec\.pools\.cloud-a\.pricePerNodeHour"):
        build_scenario(policy, parse_fleet(fleet_doc()), step_trace([(0, 1.0)], 600))
    fleet = parse_fleet(fleet_doc(pools={"cloud-a": {"pricePerNodeHour": 1.5}}))
    assert build_scenario(policy, fleet, step_trace([(0, 1.0)], 600)).pools[0].price_per_node_hour == 1.5


def test_replica_must_fit_on_a_node() -> None:
    fleet = parse_fleet(fleet_doc(request={"cpu": "8", "memory": "1Gi"}))
    with pytest.raises(ScenarioError, match="does not fit on a node of pool cloud-a"):
        build_scenario(make_policy(), fleet, step_trace([(0, 1.0)], 600))


def test_overrides_win_over_the_fleet() -> None:
    fleet = parse_fleet(fleet_doc())
    trace = step_trace([(0, 50.0), (600, 100.0)], 1200)
    s = build_scenario(
        make_policy(), fleet, trace, peak_replicas=400, base_replicas="p0", provision_delay=42.0
    )
    assert s.peak_replicas == 400
    assert s.replicas == (200, 400)
    assert s.times == (0.0, 600.0)
    assert s.base_replicas == 200
    assert s.pools[0].provision_delay == 42.0
    assert s.epoch == 1_767_571_200.0  # 2026-01-05T00:00:00Z
