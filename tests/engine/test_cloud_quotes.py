"""The engine on what the cloud providers said: stock-outs, quota and provider errors fail over to the next
pool within one evaluation, quoted prices bind ``maxHourlyCost``, a provider-priced pool with no quote is
never taken as free, and provider errors and orphaned instances raise alerts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pytest

from burstd.engine.pools import known_prices, preference, price_of
from burstd.model.actions import Alert, Hold, MarkMachines, Rebalance, ScalePool, SetWeights, Severity
from burstd.model.decision import Decision
from burstd.model.state import Phase
from burstd.model.world import PoolState, World

from .toyfleet import ToyFleet, policy, pool_doc

A = TypeVar("A", ScalePool, MarkMachines, SetWeights, Rebalance, Hold, Alert)


def of(decision: Decision, kind: type[A]) -> list[A]:
    return [a for a in decision.actions if isinstance(a, kind)]


def scale_ups(decision: Decision) -> dict[str, int]:
    return {a.pool: a.nodes for a in of(decision, ScalePool) if a.nodes > a.previous}


@dataclass
class QuotedFleet(ToyFleet):
    """The toy fleet with what the provider says about each pool (PoolState fields by pool)."""

    cloud: dict[str, dict[str, Any]] = field(default_factory=dict)

    def world(self) -> World:
        world = super().world()
        pools = {n: replace(p, **self.cloud.get(n, {})) for n, p in world.pools.items()}
        return replace(world, pools=pools)


def first_scale_up(fleet: ToyFleet, *, limit: int = 60) -> Decision:
    """Step until a decision scales a pool up (the burst's first evaluation that buys nodes)."""
    for _ in range(limit):
        decision = fleet.step(10.0)
        if scale_ups(decision):
            return decision
    pytest.fail(f"nothing was scaled up; phases were {fleet.phases()}")


def wide_pools(first: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    a = pool_doc("tke-a", "tke", 2.0, high=40)
    if first:
        a.update(first)
    return [a, pool_doc("ack-b", "ack", 3.0, high=40)]


def provider_priced() -> dict[str, Any]:
    return {"price": {"source": "provider", "currency": "CNY"}}


# --- failover within one evaluation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "why"),
    [
        ({"stock_out": True}, None),  # backed off: see test_decide_table
        ({"quota_headroom": 0}, "quota"),
        ({"unavailable": "Unavailable: the API timed out", "unavailable_reason": "Unavailable"}, "cannot"),
        ({"unavailable": "AuthFailed: bad key", "unavailable_reason": "AuthFailed"}, "credentials"),
    ],
)
def test_first_pool_unusable_fails_over_to_the_second_in_the_same_evaluation(
    said: dict[str, Any], why: str | None
) -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}, limits={"maxCloudNodes": 60}), demand=150)
    fleet.cloud["tke-a"] = said
    decision = first_scale_up(fleet)
    assert scale_ups(decision) == {"ack-b": 9}  # the whole burst goes to the second pool at once
    assert fleet.targets() == {"tke-a": 0, "ack-b": 9}
    if why is None:
        assert "tke-a" in decision.state.backoff_until
    else:
        assert why in " ".join(r for _, d, _ in fleet.history for r in d.reasons)


def test_a_stock_out_mid_burst_moves_the_missing_nodes_in_one_evaluation() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}, limits={"maxCloudNodes": 60}), demand=150)
    fleet.delay = 10**9  # tke-a's nodes are still launching when the stock runs out
    assert scale_ups(first_scale_up(fleet)) == {"tke-a": 9}
    fleet.run_out_of_stock("tke-a")
    decision = fleet.step(10.0)  # the very next evaluation
    assert scale_ups(decision) == {"ack-b": 9}
    assert fleet.targets() == {"tke-a": 0, "ack-b": 9}


def test_quota_headroom_caps_the_pool_and_the_rest_goes_to_the_next() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}, limits={"maxCloudNodes": 60}), demand=150)
    fleet.cloud["tke-a"] = {"quota_headroom": 4}
    decision = first_scale_up(fleet)
    assert scale_ups(decision) == {"tke-a": 4, "ack-b": 5}


def test_quota_headroom_counts_from_the_instances_that_exist() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}, limits={"maxCloudNodes": 60}), demand=150)
    fleet.cloud["tke-a"] = {"quota_headroom": 6}
    assert scale_ups(first_scale_up(fleet)) == {"tke-a": 6, "ack-b": 3}
    fleet.cloud["tke-a"] = {"quota_headroom": 0}  # the 6 launched used the quota up
    fleet.demand = 300
    decision = fleet.step(10.0)
    assert "tke-a" not in scale_ups(decision)  # 6 exist + 0 headroom: kept, not grown
    assert fleet.targets()["tke-a"] == 6
    assert fleet.targets()["ack-b"] > 3


def test_quota_everywhere_used_up_raises_an_alert() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}, limits={"maxCloudNodes": 60}), demand=150)
    fleet.cloud = {"tke-a": {"quota_headroom": 2}, "ack-b": {"quota_headroom": 1}}
    decision = first_scale_up(fleet)
    assert scale_ups(decision) == {"tke-a": 2, "ack-b": 1}
    alerts = {a.code: a for a in of(decision, Alert)}
    assert "CloudQuotaExhausted" in alerts
    assert "cloud quota" in alerts["CloudQuotaExhausted"].reason


# --- prices ----------------------------------------------------------------------------------------


def test_a_quote_that_would_break_max_hourly_cost_blocks_the_scale_up() -> None:
    pools = [pool_doc("tke-a", "tke", 2.0, high=40) | provider_priced()]
    p = policy(burst={"pools": pools}, limits={"maxHourlyCost": {"amount": 20, "currency": "CNY"}})
    fleet = QuotedFleet(p, demand=150)
    fleet.quotes["tke-a"] = 25.0  # one node-hour costs more than the whole limit
    for _ in range(30):
        decision = fleet.step(10.0)
        assert scale_ups(decision) == {}
    assert fleet.cloud_nodes() == 0
    assert "LimitReached" in decision.state.alerts


def test_the_quoted_price_sets_how_many_nodes_max_hourly_cost_allows() -> None:
    pools = [pool_doc("tke-a", "tke", 2.0, high=40) | provider_priced()]
    p = policy(burst={"pools": pools}, limits={"maxHourlyCost": {"amount": 20, "currency": "CNY"}})
    fleet = QuotedFleet(p, demand=150)
    fleet.quotes["tke-a"] = 4.0  # 20 / 4 = 5 nodes, though demand wants 9
    assert scale_ups(first_scale_up(fleet)) == {"tke-a": 5}


def test_a_provider_priced_pool_without_a_quote_never_grows() -> None:
    pools = [pool_doc("tke-a", "tke", 2.0, high=40) | provider_priced()]
    fleet = QuotedFleet(policy(burst={"pools": pools}), demand=150)  # no quote, no cost limit
    for _ in range(30):
        decision = fleet.step(10.0)
        assert scale_ups(decision) == {}
    assert fleet.cloud_nodes() == 0
    assert any("no price" in r for r in decision.reasons)
    fleet.quotes["tke-a"] = 2.0  # the quote arrives: it grows
    assert scale_ups(fleet.step(10.0)) == {"tke-a": 9}


def test_a_provider_priced_pool_without_a_quote_fails_over_to_a_priced_one() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools(provider_priced())}), demand=150)
    assert scale_ups(first_scale_up(fleet)) == {"ack-b": 9}


def test_nothing_grows_under_a_cost_limit_while_a_pool_holding_nodes_has_no_price() -> None:
    pools = wide_pools(provider_priced())
    p = policy(burst={"pools": pools}, limits={"maxHourlyCost": {"amount": 1000, "currency": "CNY"}})
    fleet = QuotedFleet(p, demand=150)
    fleet.quotes["tke-a"] = 2.0
    fleet.cloud["tke-a"] = {"quota_headroom": 3}
    assert scale_ups(first_scale_up(fleet)) == {"tke-a": 3, "ack-b": 6}
    del fleet.quotes["tke-a"]  # the quote expired: tke-a's 3 nodes cost an unknown amount
    fleet.demand = 300
    decision = fleet.step(10.0)
    assert scale_ups(decision) == {}
    assert fleet.targets() == {"tke-a": 3, "ack-b": 6}  # nothing is taken away either
    assert any("no price for tke-a" in r for r in decision.reasons)


def test_price_of_is_never_zero_for_a_provider_priced_pool() -> None:
    p = policy(burst={"pools": wide_pools(provider_priced())})
    tke, ack = p.spec.burst.pools
    state = PoolState("tke-a", 0, 0, 0, 0, 0.0)
    assert price_of(tke, state) is None
    assert price_of(tke, None) is None
    assert price_of(tke, replace(state, price_per_node_hour=1.25)) == 1.25
    assert price_of(ack, replace(state, price_per_node_hour=9.0)) == 3.0  # static price wins
    assert known_prices(p.spec.burst.pools, {"tke-a": state}) == {"ack-b": 3.0}


def test_cheapest_available_puts_unpriced_pools_last() -> None:
    pools = [
        pool_doc("tke-a", "tke", 2.0) | provider_priced(),
        pool_doc("ack-b", "ack", 3.0),
    ]
    p = policy(burst={"pools": pools, "order": "cheapest-available"})
    unquoted = {"tke-a": PoolState("tke-a", 0, 0, 0, 0, 0.0)}
    assert [s.name for s in preference(p, unquoted)] == ["ack-b", "tke-a"]
    quoted = {"tke-a": replace(unquoted["tke-a"], price_per_node_hour=1.0)}
    assert [s.name for s in preference(p, quoted)] == ["tke-a", "ack-b"]


# --- alerts ----------------------------------------------------------------------------------------


def test_bad_credentials_raise_a_critical_alert_and_nothing_is_scaled() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}), demand=150)
    said = {
        "unavailable": "AuthFailed [AuthFailure.SecretIdNotFound]: <redacted>",
        "unavailable_reason": "AuthFailed",
    }
    fleet.cloud = {"tke-a": said, "ack-b": said}
    alerts: list[Alert] = []
    for _ in range(30):
        decision = fleet.step(10.0)
        assert scale_ups(decision) == {}
        alerts += of(decision, Alert)
    assert fleet.cloud_nodes() == 0
    auth = [a for a in alerts if a.code == "CloudAuthFailed"]
    assert len(auth) == 1  # raised once, kept while it lasts
    assert auth[0].severity is Severity.CRITICAL
    assert "tke-a" in auth[0].reason
    assert "ack-b" in auth[0].reason
    assert "AuthFailure.SecretIdNotFound" in auth[0].reason
    assert "CloudAuthFailed" in fleet.state.alerts
    fleet.cloud = {}  # fixed: the alert clears and the burst starts
    decision = fleet.step(10.0)
    assert "CloudAuthFailed" not in decision.state.alerts
    assert scale_ups(decision) == {"tke-a": 9}


def test_a_provider_error_raises_a_warning_naming_the_pool() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}), demand=50)
    fleet.cloud["ack-b"] = {"unavailable": "Unavailable: no answer", "unavailable_reason": "Unavailable"}
    decision = fleet.step(10.0)
    (alert,) = [a for a in of(decision, Alert) if a.code == "CloudProviderError"]
    assert alert.severity is Severity.WARNING
    assert "pool ack-b (fake): Unavailable: no answer" in alert.reason
    assert decision.state.phase is Phase.IDLE


def test_orphaned_instances_raise_an_alert_naming_them() -> None:
    fleet = QuotedFleet(policy(burst={"pools": wide_pools()}), demand=50)
    fleet.cloud["tke-a"] = {"orphans": ("ins-b", "ins-a")}
    decision = fleet.step(10.0)
    (alert,) = [a for a in of(decision, Alert) if a.code == "OrphanedInstance"]
    assert "pool tke-a: ins-a, ins-b" in alert.reason
    assert "OrphanedInstance" in decision.state.alerts
    fleet.cloud = {}
    assert "OrphanedInstance" not in fleet.step(10.0).state.alerts
