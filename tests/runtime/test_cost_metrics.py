"""The cost metrics come from the persisted ledger: per policy and currency, per pool, the burst in
progress; the series of states saved before per-pool costs stay as they were."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from burstd.model.state import BurstRecord, BurstState, Ledger, Phase, PoolCost
from burstd.runtime.metrics import Metrics, PolicyView


def samples(state: BurstState, currency: str = "CNY") -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    metrics = Metrics()
    metrics.set_view("web", PolicyView(state=state, currency=currency))
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(
            ("burstd_cloud_cost", "burstd_cloud_pool", "burstd_cloud_burst", "burstd_cloud_un")
        )
        or s.name == "burstd_cloud_node_seconds_total"
    }


def test_costs_per_policy_pool_and_burst_in_progress() -> None:
    ledger = Ledger(
        {"a": 7200.0, "b": 3600.0},
        7.5,
        1.0,
        {"a": PoolCost(7200.0, 4.0, "CNY"), "b": PoolCost(3600.0, 3.5, "CNY", unpriced_seconds=60.0)},
        burst=BurstRecord(0.0, None, {"a": PoolCost(3600.0, 2.0, "CNY"), "b": PoolCost(60.0, 0.25, "CNY")}),
    )
    got = samples(BurstState(phase=Phase.BURSTING, ledger=ledger))
    assert got == {
        ("burstd_cloud_cost_total", (("currency", "CNY"), ("policy", "web"))): 7.5,
        ("burstd_cloud_node_seconds_total", (("policy", "web"), ("pool", "a"))): 7200.0,
        ("burstd_cloud_node_seconds_total", (("policy", "web"), ("pool", "b"))): 3600.0,
        ("burstd_cloud_pool_cost_total", (("currency", "CNY"), ("policy", "web"), ("pool", "a"))): 4.0,
        ("burstd_cloud_pool_cost_total", (("currency", "CNY"), ("policy", "web"), ("pool", "b"))): 3.5,
        ("burstd_cloud_unpriced_node_seconds_total", (("policy", "web"), ("pool", "a"))): 0.0,
        ("burstd_cloud_unpriced_node_seconds_total", (("policy", "web"), ("pool", "b"))): 60.0,
        ("burstd_cloud_burst_cost", (("currency", "CNY"), ("policy", "web"))): 2.25,
    }


def test_a_state_saved_before_per_pool_costs_keeps_its_series() -> None:
    got = samples(BurstState(ledger=Ledger({"a": 3600.0}, 2.88, 1.0)), currency="USD")
    assert got == {
        ("burstd_cloud_cost_total", (("currency", "USD"), ("policy", "web"))): 2.88,
        ("burstd_cloud_node_seconds_total", (("policy", "web"), ("pool", "a"))): 3600.0,
        ("burstd_cloud_burst_cost", (("currency", "USD"), ("policy", "web"))): 0.0,
    }


def test_pools_in_two_currencies_give_one_cost_series_each() -> None:
    pools = {"a": PoolCost(3600.0, 2.0, "CNY"), "b": PoolCost(3600.0, 0.5, "USD")}
    # 1.0 CNY accounted before per-pool costs: it stays in the policy's (first priced pool's) currency
    got = samples(BurstState(ledger=Ledger({"a": 7200.0, "b": 3600.0}, 3.5, 1.0, pools)))
    assert got[("burstd_cloud_cost_total", (("currency", "CNY"), ("policy", "web")))] == 3.0
    assert got[("burstd_cloud_cost_total", (("currency", "USD"), ("policy", "web")))] == 0.5
