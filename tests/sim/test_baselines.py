"""The reactive baseline and the oracle on hand-computed steps of demand.

Base 10 replicas; demand 5, then 24 from t=600 s to t=4200 s, then 5 until 6000 s. Nodes hold 7 replicas,
take 180 s to become Ready and 30 s to go, and cost 0.001 per second.
"""

from __future__ import annotations

import pytest

from burstd.sim.metrics import RunResult
from burstd.sim.oracle import run_oracle
from burstd.sim.reactive import run_reactive

from .scenarios import fleet_doc, make_policy, pool_doc, scenario

STEP = [(0.0, 5.0), (600.0, 24.0), (4200.0, 5.0)]


def value_at(result: RunResult, series: list[int], t: float) -> int:
    i = max(i for i, x in enumerate(result.series.t) if x <= t)
    return series[i]


def test_reactive_step() -> None:
    r = run_reactive(scenario(STEP, 6000))
    # 14 replicas pending from 600 s until two nodes are Ready at 780 s
    assert value_at(r, r.series.served, 700) == 10
    assert value_at(r, r.series.nodes, 700) == 2
    assert value_at(r, r.series.served, 780) == 24
    assert r.unserved_replica_seconds == 14 * 180
    assert r.demand_above_base_replica_seconds == 14 * 3600
    assert r.unserved_ratio == pytest.approx(0.05)
    # empty from 4200 s, removed after 10 minutes unneeded (4800 s), gone 30 s later
    assert value_at(r, r.series.nodes, 4799) == 2
    assert value_at(r, r.series.capacity, 4800) == 10
    assert value_at(r, r.series.nodes, 4829) == 2
    assert value_at(r, r.series.nodes, 4830) == 0
    assert r.node_seconds == 2 * (4830 - 600)
    assert r.cost == pytest.approx(2 * 4230 * 0.001)
    assert r.actions == 2
    assert r.peak_cloud_nodes == 2
    assert r.bursts == 1
    assert r.replica_moves == 0


def test_reactive_keeps_a_node_whose_pods_do_not_fit_elsewhere() -> None:
    # 24 -> 13: 3 replicas stay on the cloud; one node keeps them (3/7.6 = 39 % busy, but nowhere to go)
    r = run_reactive(scenario([(0.0, 5.0), (600.0, 24.0), (1800.0, 13.0)], 6000))
    assert value_at(r, r.series.nodes, 2399) == 2
    assert value_at(r, r.series.nodes, 2430) == 1
    assert value_at(r, r.series.nodes, 5999) == 1
    assert r.unserved_replica_seconds == 14 * 180


def test_reactive_respects_max_cloud_nodes_and_pool_order() -> None:
    pools = [pool_doc("cloud-a", "cloud-a", max_nodes=1), pool_doc("cloud-b", "cloud-b", price=1.0)]
    policy = make_policy(pools, limits={"maxCloudNodes": 2})
    r = run_reactive(scenario([(0.0, 5.0), (600.0, 40.0)], 3000, policy=policy))
    # 30 replicas above the base need 5 nodes; one in cloud-a (its max), one in cloud-b (the limit)
    assert r.peak_cloud_nodes == 2
    assert value_at(r, r.series.served, 2000) == 24
    assert r.actions == 2


def test_oracle_step() -> None:
    r = run_oracle(scenario(STEP, 6000))
    assert r.unserved_replica_seconds == 0
    assert value_at(r, r.series.nodes, 419) == 0
    assert value_at(r, r.series.nodes, 420) == 2  # launched one delay ahead
    assert value_at(r, r.series.capacity, 599) == 10
    assert value_at(r, r.series.capacity, 600) == 24  # Ready exactly when needed
    assert value_at(r, r.series.capacity, 4200) == 10  # released at once
    assert value_at(r, r.series.nodes, 4229) == 2
    assert value_at(r, r.series.nodes, 4230) == 0
    assert r.node_seconds == 2 * (4230 - 420)
    assert r.cost == pytest.approx(2 * 3810 * 0.001)
    assert r.actions == 2
    assert r.peak_cloud_nodes == 2
    assert r.bursts == 1


def test_oracle_bridges_a_short_gap_and_releases_a_long_one() -> None:
    # 24 (two nodes) from 600 s; a 120 s dip to 5; 24 again until 2400 s; a 600 s dip; 24 from 3000 to 3600 s.
    # A relaunch costs its provisioning (180 s) plus the deletion (30 s): 210 s of a node.
    points = [(0.0, 5.0), (600.0, 24.0), (1200.0, 5.0), (1320.0, 24.0), (2400.0, 5.0), (3000.0, 24.0)]
    points.append((3600.0, 5.0))
    r = run_oracle(scenario(points, 4200))
    assert r.unserved_replica_seconds == 0
    assert r.details["method"] == "layered"
    assert r.details["bridged_gaps"] == 2  # the 120 s dip, once per node
    assert value_at(r, r.series.capacity, 1250) == 24  # both nodes stay, idle
    assert value_at(r, r.series.capacity, 2400) == 10  # the 600 s dip: released...
    assert value_at(r, r.series.nodes, 2430) == 0
    assert value_at(r, r.series.nodes, 2820) == 2  # ...and launched again one delay ahead
    assert value_at(r, r.series.capacity, 3000) == 24
    # per node: 420 -> 2430 and 2820 -> 3630; releasing at 1200 s would have billed 90 s more per node
    assert r.node_seconds == 2 * ((2430 - 420) + (3630 - 2820))
    assert r.cost == pytest.approx(2 * 2820 * 0.001)
    assert r.details["launches"] == 4
    assert r.actions == 4


def test_oracle_prefers_the_cheapest_pool_in_stock() -> None:
    pools = [pool_doc("dear", "dear", price=7.2), pool_doc("cheap", "cheap", price=3.6)]
    fleet_pools = {"cheap": {"stockOuts": [{"from": "0s", "to": "7m"}]}}
    s = scenario(STEP, 6000, policy=make_policy(pools), fleet=fleet_doc(pools=fleet_pools))
    r = run_oracle(s)
    # launched at 420 s, while 'cheap' is out of stock (until 420 s): so in 'cheap' after all
    assert r.cost == pytest.approx(2 * 3810 * 0.001)
    s2 = scenario(
        STEP,
        6000,
        policy=make_policy(pools),
        fleet=fleet_doc(pools={"cheap": {"stockOuts": [{"from": "0s", "to": "8m"}]}}),
    )
    # 'cheap' is out of stock at 420 s, but nodes launched before the trace start bill from 0 s:
    # 2 x 4230 s at 0.001 beats 2 x 3810 s of 'dear' at 0.002
    r2 = run_oracle(s2)
    assert r2.cost == pytest.approx(2 * 4230 * 0.001)
    assert value_at(r2, r2.series.nodes, 0) == 2


def test_oracle_covers_a_stock_out_with_the_dear_pool_until_the_cheap_one_is_ready() -> None:
    # 24 from 3000 s to 4200 s; 'cheap' is out of stock until 3000 s, so its nodes are Ready at 3180 s at best.
    # Per node: 'dear' from 2820 s until it goes at 3180 + 30 s (390 s at 0.002) and 'cheap' from 3000 s to
    # 4230 s (1230 s at 0.001): 2.01, less than 'dear' alone (1410 s: 2.82) or 'cheap' from 0 s (4.23).
    pools = [pool_doc("dear", "dear", price=7.2), pool_doc("cheap", "cheap", price=3.6)]
    fleet = fleet_doc(pools={"cheap": {"stockOuts": [{"from": "0s", "to": "50m"}]}})
    points = [(0.0, 5.0), (3000.0, 24.0), (4200.0, 5.0)]
    r = run_oracle(scenario(points, 6000, policy=make_policy(pools), fleet=fleet))
    assert r.details["method"] == "dp"
    assert r.unserved_replica_seconds == 0
    assert value_at(r, r.series.nodes, 2819) == 0
    assert value_at(r, r.series.nodes, 2820) == 2
    assert value_at(r, r.series.nodes, 3000) == 4
    assert value_at(r, r.series.nodes, 3210) == 2
    assert r.cost == pytest.approx(2 * (390 * 0.002 + 1230 * 0.001))


def test_oracle_capped_by_limits_leaves_demand_unserved() -> None:
    policy = make_policy(limits={"maxCloudNodes": 1})
    r = run_oracle(scenario(STEP, 6000, policy=policy))
    assert r.peak_cloud_nodes == 1
    assert r.unserved_replica_seconds == 7 * 3600
