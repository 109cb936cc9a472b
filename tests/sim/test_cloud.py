"""The simulated cloud: launches, Ready after the delay, scale-down order, stock-outs, per-second billing."""

from __future__ import annotations

import pytest

from burstd.sim.cloud import LAUNCHING, READY, SimCloud
from burstd.sim.fleet import parse_fleet

from .scenarios import fleet_doc, scenario


def cloud_for(**pool: object) -> SimCloud:
    fleet = fleet_doc(pools={"cloud-a": {"provisionDelay": "1m", "deletionDelay": "30s", **pool}})
    parse_fleet(fleet)
    s = scenario([(0, 5.0), (600, 24.0)], 7200, fleet=fleet)
    return SimCloud(s, "test")


def test_billing_from_launch_to_deletion_per_second() -> None:
    cloud = cloud_for()
    assert cloud.scale("cloud-a", 1, 0.0, {}) == 1
    pool = cloud.pools["cloud-a"]
    assert (pool.count(LAUNCHING), pool.count(READY)) == (1, 0)
    assert cloud.next_event() == 60.0
    assert cloud.advance(60.0)
    assert pool.count(READY) == 1
    cloud.scale("cloud-a", 0, 600.0, {})
    assert pool.desired == 0
    assert cloud.existing() == 1  # being deleted, still billed
    cloud.advance(630.0)
    assert cloud.existing() == 0
    cost, seconds = cloud.cost(7200.0)
    assert seconds == 630.0
    assert cost == pytest.approx(0.63)  # 630 s at 3.6 per node-hour


def test_instances_alive_at_the_end_bill_until_the_end() -> None:
    cloud = cloud_for()
    cloud.scale("cloud-a", 2, 100.0, {})
    cost, seconds = cloud.cost(1000.0)
    assert seconds == 1800.0
    assert cost == pytest.approx(1.8)


def test_scale_down_order_marked_then_not_ready_then_emptiest() -> None:
    cloud = cloud_for()
    cloud.scale("cloud-a", 3, 0.0, {})
    cloud.advance(60.0)
    cloud.scale("cloud-a", 5, 100.0, {})  # two more, not Ready yet
    names = [m.name for m in cloud.pools["cloud-a"].machines]
    pods = {names[0]: 7, names[1]: 2, names[2]: 5}
    cloud.mark("cloud-a", [names[0]])
    cloud.scale("cloud-a", 4, 110.0, pods)  # the marked one, although it is the fullest
    cloud.scale("cloud-a", 2, 120.0, pods)  # the two launching ones
    cloud.scale("cloud-a", 1, 130.0, pods)  # the emptiest Ready one
    left = [m.name for m in cloud.pools["cloud-a"].machines if m.state == READY]
    assert left == [names[2]]


def test_stock_out_window_fails_launches_and_retries() -> None:
    cloud = cloud_for(stockOuts=[{"from": "0s", "to": "5m"}])
    pool = cloud.pools["cloud-a"]
    assert pool.stock_out(0.0)
    cloud.scale("cloud-a", 2, 10.0, {})
    assert pool.failed_launches == 2
    assert pool.desired == 2
    assert len(pool.failed_slots) == 2
    assert cloud.existing() == 0
    cloud.advance(70.0)  # retried, still out of stock
    assert pool.failed_launches == 4
    for t in (130.0, 190.0, 250.0, 300.0):
        cloud.advance(t)
    assert not pool.stock_out(300.0)
    cloud.advance(310.0)  # retried after the window: launched
    assert pool.failed_slots == []
    assert pool.count(LAUNCHING) == 2
    cloud.advance(370.0)
    assert pool.count(READY) == 2


def test_scale_down_drops_failed_launches_first() -> None:
    cloud = cloud_for(stockOuts=[{"from": "0s", "to": "1h"}])
    cloud.scale("cloud-a", 3, 0.0, {})
    cloud.scale("cloud-a", 1, 1.0, {})
    assert len(cloud.pools["cloud-a"].failed_slots) == 1


def test_random_stock_outs_are_seeded() -> None:
    def failures(seed: int) -> list[int]:
        fleet = fleet_doc(pools={"cloud-a": {"stockOutProbability": 0.5, "stockOutDuration": "1m"}})
        s = scenario([(0, 5.0), (600, 24.0)], 7200, fleet=fleet, seed=seed)
        cloud = SimCloud(s, "burstd")
        out = []
        for i in range(20):
            cloud.advance(i * 120.0)
            cloud.scale("cloud-a", i % 3, i * 120.0, {})
            out.append(cloud.pools["cloud-a"].stock_out_failures)
        return out

    assert failures(1) == failures(1)
    assert failures(1) != failures(2)
    assert failures(1)[-1] > 0


def test_launch_failures_bill_until_they_fail() -> None:
    cloud = cloud_for(launchFailureProbability=1.0)
    cloud.scale("cloud-a", 1, 0.0, {})
    cloud.advance(60.0)
    pool = cloud.pools["cloud-a"]
    assert pool.count(READY) == 0
    assert len(pool.failed_slots) == 1
    assert cloud.cost(1000.0)[1] == 60.0
