"""The simulated cloud runs on the fake provider: launches meet its stock and quota, and the burstd run
sees the quotes (stock, quota headroom, price) the way the daemon does, once per quote TTL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from burstd.cloud import StockOut, Unavailable
from burstd.model.cloud import Quote
from burstd.sim.cloud import LAUNCHING, SimCloud
from burstd.sim.oracle import run_oracle
from burstd.sim.provider import NO_QUOTA, QuoteBook, stock_timeline
from burstd.sim.runner import run_burstd
from burstd.sim.scenario import Scenario

from .scenarios import PRICE, Scripted, fleet_doc, make_policy, pool_doc, scenario


def one_pool(points: Sequence[tuple[float, float]], end: float, **pool: Any) -> Scenario:
    fleet = fleet_doc(pools={"cloud-a": {"provisionDelay": "1m", **pool}})
    return scenario(points, end, fleet=fleet)


def test_stock_timeline_merges_windows() -> None:
    assert stock_timeline([]) is True
    assert stock_timeline([(600.0, 900.0), (0.0, 60.0), (800.0, 1200.0), (1200.0, 1300.0)]) == [
        {"at": 0.0, "inStock": False},
        {"at": 60.0, "inStock": True},
        {"at": 600.0, "inStock": False},
        {"at": 1300.0, "inStock": True},
    ]


def test_every_machine_is_an_instance_of_the_provider() -> None:
    cloud = SimCloud(one_pool([(0, 5.0)], 3600), "test")
    cloud.scale("cloud-a", 3, 0.0, {})
    machines = cloud.pools["cloud-a"].machines
    assert cloud.provider.alive("cloud-a") == 3
    assert {i.id for i in cloud.provider.instances_now("cloud-a")} == {m.instance for m in machines}
    cloud.scale("cloud-a", 1, 100.0, {})
    assert cloud.provider.alive("cloud-a") == 3  # being deleted: still there (and billed)
    cloud.advance(130.0)
    assert cloud.provider.alive("cloud-a") == 1
    assert cloud.provider.calls == []  # the simulator keeps no call history


def test_the_quota_stops_launches_and_they_are_retried() -> None:
    cloud = SimCloud(one_pool([(0, 5.0)], 3600, quota=2), "test")
    cloud.scale("cloud-a", 3, 0.0, {})
    pool = cloud.pools["cloud-a"]
    assert (pool.count(LAUNCHING), len(pool.failed_slots), pool.quota_failures) == (2, 1, 1)
    assert cloud.quote("cloud-a", 1, 0.0).quota_headroom_nodes == 0
    cloud.scale("cloud-a", 1, 30.0, {})  # frees quota (the launching ones go at once: deletionDelay 30s)
    cloud.advance(60.0)
    assert cloud.quote("cloud-a", 1, 60.0).quota_headroom_nodes == 1


def test_random_stock_outs_are_written_into_the_providers_stock() -> None:
    cloud = SimCloud(one_pool([(0, 5.0)], 3600, stockOutProbability=1.0, stockOutDuration="5m"), "test")
    cloud.scale("cloud-a", 1, 10.0, {})
    assert cloud.pools["cloud-a"].stock_out_failures == 1
    assert cloud.quote("cloud-a", 1, 10.0).in_stock is False
    assert cloud.quote("cloud-a", 1, 309.0).in_stock is False
    assert cloud.quote("cloud-a", 1, 310.0).in_stock is True


def test_the_burstd_run_sees_quotes_once_per_ttl() -> None:
    s = one_pool([(0, 5.0), (600, 24.0)], 1800, stockOuts=[{"from": "10m30s", "to": "20m"}])
    assert s.quote_ttl == 60.0
    decider = Scripted(s.epoch, [(600.0, "cloud-a", 1), (640.0, "cloud-a", 3)])
    run_burstd(s, decider)
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    pool = at[0.0].pools["cloud-a"]
    assert (pool.stock_out, pool.quota_headroom, pool.price_per_node_hour) == (False, NO_QUOTA, PRICE)
    assert pool.unavailable is None
    # the stock-out starts at 630 s; the quote of 600 s is trusted until the next refresh, at 660 s
    assert at[630.0].pools["cloud-a"].stock_out is False
    assert at[660.0].pools["cloud-a"].stock_out is True
    # quotes are refreshed on a grid of one TTL from the start, after the cloud changed: the stock-out ends
    # at 1200 s, a point of the grid, so the quote of 1200 s sees it at once
    assert at[1200.0].pools["cloud-a"].stock_out is False


def test_a_short_quote_ttl_sees_the_stock_at_once() -> None:
    fleet = fleet_doc(quoteTTL="1s", pools={"cloud-a": {"stockOuts": [{"from": "10m30s", "to": "20m"}]}})
    s = scenario([(0, 5.0), (600, 24.0)], 1800, fleet=fleet)
    decider = Scripted(s.epoch, [])
    run_burstd(s, decider)
    at = dict(zip(decider.calls, decider.worlds, strict=True))
    assert at[630.0].pools["cloud-a"].stock_out is True
    assert at[1200.0].pools["cloud-a"].stock_out is False


def test_a_provider_priced_pool_is_priced_by_the_quote() -> None:
    pool = pool_doc("cloud-a", "cloud-a")
    pool["price"] = {"source": "provider", "currency": "USD"}
    fleet = fleet_doc(pools={"cloud-a": {"pricePerNodeHour": 0.5, "quota": 4}})
    s = scenario([(0, 5.0)], 600, policy=make_policy([pool]), fleet=fleet)
    decider = Scripted(s.epoch, [])
    run_burstd(s, decider)
    state = decider.worlds[0].pools["cloud-a"]
    assert (state.price_per_node_hour, state.quota_headroom) == (0.5, 4)
    assert s.pools[0].currency == "USD"


def test_the_oracle_keeps_within_the_quota() -> None:
    points = [(0, 10.0), (600, 80.0)]
    free = run_oracle(scenario(points, 1800))
    capped = run_oracle(one_pool(points, 1800, quota=3))
    assert free.peak_cloud_nodes == 10
    assert capped.peak_cloud_nodes == 3


class _Scripted:
    def __init__(self, *answers: Quote | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int, float]] = []

    def __call__(self, pool: str, nodes: int, t: float) -> Quote:
        self.asked.append((pool, nodes, t))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_failed_quote_keeps_the_last_one_while_fresh_and_is_asked_again() -> None:
    book = QuoteBook(scenario([(0, 5.0)], 600))
    ask = _Scripted(
        Quote(True, 7, 3.6, "CNY"), Unavailable("down", provider="fake"), Quote(False, 7, 3.6, "CNY")
    )
    assert book.answer(ask, "cloud-a", 2, 0.0).quota_headroom == 7
    assert book.answer(ask, "cloud-a", 2, 59.0).quota_headroom == 7  # cached
    assert ask.asked == [("cloud-a", 8, 0.0)]  # nodes: up to the pool's maximum
    book.answer(ask, "cloud-a", 2, 60.0)  # due: fails, the quote of 0 s is stale now
    answer = book.answer(ask, "cloud-a", 2, 61.0)  # asked again at once after a failure
    assert answer.stock_out is True
    assert len(ask.asked) == 3


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (StockOut("sold out", provider="fake"), (True, None, None)),
        (Unavailable("down", provider="fake"), (False, None, "Unavailable")),
    ],
)
def test_a_failed_first_quote(error: Exception, expected: tuple[bool, int | None, str | None]) -> None:
    book = QuoteBook(scenario([(0, 5.0)], 600))
    answer = book.answer(_Scripted(error), "cloud-a", 0, 0.0)
    assert (answer.stock_out, answer.price_per_node_hour, answer.unavailable_reason) == expected
