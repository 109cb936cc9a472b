"""The cost ledger (burstd.engine.ledger): node-seconds from launch to gone, at the pool's price, per pool
and per burst; burst records bounded; states saved before per-pool costs still load and keep counting."""

from __future__ import annotations

import json

import pytest

from burstd.engine.ledger import (
    MAX_BURST_AGE_S,
    MAX_CLOSED_BURSTS,
    accrue,
    cost_by_currency,
    currencies_of,
    prune,
    track_burst,
)
from burstd.engine.pools import known_prices
from burstd.model.state import BurstRecord, BurstState, Ledger, Phase, PoolCost
from burstd.model.world import MachineInfo, PoolState

from .toyfleet import ToyFleet, policy, pool_doc

T0 = 1_700_000_000.0
CNY = {"a": "CNY", "b": "CNY"}


def pool(name: str, *created: float, existing: int | None = None, quote: float | None = None) -> PoolState:
    machines = tuple(MachineInfo(f"{name}-{i}", True, 0, at) for i, at in enumerate(created))
    n = len(machines) if existing is None else existing
    return PoolState(name, n, n, n, 0, T0, machines, price_per_node_hour=quote)


def started(**pools: PoolState) -> Ledger:
    """A ledger whose accounting started at T0 with ``pools`` as seen then."""
    return accrue(Ledger(), pools, {}, T0, CNY)


def test_the_first_accounting_starts_now_and_charges_nothing_before() -> None:
    ledger = started(a=pool("a", T0 - 3600.0))
    assert ledger == Ledger(accounted_until=T0, seen={"a": 1})


def test_a_node_launched_between_two_evaluations_is_charged_from_its_launch() -> None:
    ledger = started(a=pool("a"))
    ledger = accrue(ledger, {"a": pool("a", T0 + 42.5)}, {"a": 3.6}, T0 + 60.0, CNY)
    assert ledger.node_seconds == {"a": 17.5}
    assert ledger.pools == {"a": PoolCost(17.5, 17.5 / 3600 * 3.6, "CNY")}
    assert ledger.cost == pytest.approx(0.0175)
    assert ledger.seen == {"a": 1}


def test_a_node_gone_is_charged_until_the_evaluation_that_stops_seeing_it() -> None:
    ledger = started(a=pool("a", T0 - 100.0, T0 - 50.0))
    ledger = accrue(ledger, {"a": pool("a", T0 - 100.0)}, {"a": 2.0}, T0 + 30.0, CNY)
    # both nodes for the whole interval: the one gone is charged until now (at most one interval over)
    assert ledger.node_seconds == {"a": 60.0}
    ledger = accrue(ledger, {"a": pool("a")}, {"a": 2.0}, T0 + 40.0, CNY)
    assert ledger.node_seconds == {"a": 70.0}
    assert ledger.seen == {}
    ledger = accrue(ledger, {"a": pool("a")}, {"a": 2.0}, T0 + 100.0, CNY)
    assert ledger.node_seconds == {"a": 70.0}  # nothing left: nothing charged


def test_a_node_launched_and_another_gone_in_the_same_interval() -> None:
    ledger = started(a=pool("a", T0 - 100.0))
    ledger = accrue(ledger, {"a": pool("a", T0 + 25.0)}, {"a": 2.0}, T0 + 30.0, CNY)
    assert ledger.node_seconds == {"a": 30.0 + 5.0}


def test_nodes_a_pool_counts_but_does_not_list_are_charged_for_the_whole_interval() -> None:
    ledger = started(a=pool("a", existing=3))
    ledger = accrue(ledger, {"a": pool("a", T0 + 5.0, existing=4)}, {"a": 1.0}, T0 + 10.0, CNY)
    assert ledger.node_seconds == {"a": 3 * 10.0 + 5.0}
    # one of the three unlisted nodes was replaced by a listed one launched since: the one gone counts too
    ledger = accrue(ledger, {"a": pool("a", T0 + 15.0, existing=4)}, {"a": 1.0}, T0 + 20.0, CNY)
    assert ledger.node_seconds == {"a": 35.0 + 3 * 10.0 + 5.0 + 10.0}


def test_a_pool_not_observed_is_charged_as_last_seen_and_one_that_left_the_policy_is_not() -> None:
    ledger = started(a=pool("a", T0 - 1.0), b=pool("b", T0 - 1.0))
    ledger = accrue(ledger, {}, {"a": 1.0}, T0 + 10.0, {"a": "CNY"})
    assert ledger.node_seconds == {"a": 10.0}
    assert ledger.seen == {"a": 1}


def test_the_price_is_the_quote_for_a_provider_pool_and_the_static_price_otherwise() -> None:
    doc = pool_doc("b", "ack", 3.0)
    doc["price"] = {"source": "provider", "currency": "USD"}
    specs = policy(burst={"pools": [pool_doc("a", "tke", 2.0), doc]}).spec.burst.pools
    now = {"a": pool("a", T0 - 1.0, quote=9.0), "b": pool("b", T0 - 1.0, quote=0.5)}
    ledger = started(**now)
    ledger = accrue(ledger, now, known_prices(specs, now), T0 + 3600.0, currencies_of(specs))
    assert ledger.pools == {"a": PoolCost(3600.0, 2.0, "CNY"), "b": PoolCost(3600.0, 0.5, "USD")}
    assert cost_by_currency(ledger.pools.values(), ledger.cost, "CNY") == {"CNY": 2.0, "USD": 0.5}


def test_node_seconds_without_a_price_are_counted_as_unpriced_never_as_free() -> None:
    ledger = started(a=pool("a", T0 - 1.0))
    for price in ({}, {"a": float("nan")}):
        ledger = accrue(ledger, {"a": pool("a", T0 - 1.0)}, price, ledger.accounted_until + 60.0, CNY)  # type: ignore[operator]
    assert ledger.pools == {"a": PoolCost(120.0, 0.0, "CNY", unpriced_seconds=120.0)}
    assert ledger.cost == 0.0
    assert ledger.node_seconds == {"a": 120.0}


def test_a_burst_record_opens_collects_its_charges_and_closes_at_idle() -> None:
    ledger = track_burst(started(a=pool("a")), T0, T0)
    assert ledger.burst == BurstRecord(T0)
    ledger = accrue(ledger, {"a": pool("a", T0 + 4.0)}, {"a": 3.6}, T0 + 10.0, CNY, T0)
    ledger = accrue(ledger, {"a": pool("a")}, {"a": 3.6}, T0 + 20.0, CNY, T0)
    assert ledger.burst == BurstRecord(T0, None, {"a": PoolCost(16.0, 16.0 / 1000, "CNY")})
    assert track_burst(ledger, T0, T0 + 20.0) is ledger  # still the same burst
    ledger = track_burst(ledger, None, T0 + 20.0)
    assert ledger.burst is None
    assert ledger.bursts == (BurstRecord(T0, T0 + 20.0, {"a": PoolCost(16.0, 16.0 / 1000, "CNY")}),)
    # charges while Idle go to the pool totals only
    ledger = accrue(ledger, {"a": pool("a", T0 + 25.0)}, {"a": 3.6}, T0 + 30.0, CNY, None)
    assert ledger.bursts[0].pools["a"].node_seconds == 16.0
    assert ledger.pools["a"].node_seconds == 21.0


def test_closed_bursts_are_bounded_by_count_and_age() -> None:
    many = tuple(BurstRecord(T0 + i, T0 + i + 0.5) for i in range(MAX_CLOSED_BURSTS + 5))
    kept = prune(many, T0 + MAX_CLOSED_BURSTS + 10)
    assert len(kept) == MAX_CLOSED_BURSTS
    assert kept[-1] == many[-1]
    assert kept[0] == many[5]
    old = (BurstRecord(T0, T0 + 1.0), BurstRecord(T0 + 2.0, T0 + 3.0))
    assert prune(old, T0 + 2.0 + MAX_BURST_AGE_S) == old[1:]
    ledger = Ledger(burst=BurstRecord(T0 + 5.0), bursts=many)
    assert len(track_burst(ledger, None, T0 + 10_000.0).bursts) == MAX_CLOSED_BURSTS


def test_bounded_burst_history_stays_far_below_a_configmap_s_limit() -> None:
    pools = {f"pool-{i:02d}-with-a-long-name": PoolCost(1e7 / 3, 1e6 / 7, "CNY", 1.0 / 3) for i in range(16)}
    records = tuple(BurstRecord(T0 + i, T0 + i + 0.123456789, pools) for i in range(MAX_CLOSED_BURSTS))
    state = BurstState(ledger=Ledger(dict.fromkeys(pools, 1.0 / 3), 1.0 / 3, T0, pools, bursts=records))
    size = len(json.dumps(state.to_dict(), sort_keys=True))
    assert size < 256 * 1024, size  # far below a ConfigMap's 1 MiB


def test_a_state_saved_before_per_pool_costs_loads_and_keeps_counting() -> None:
    old = {
        "phase": "Bursting",
        "phaseSince": T0,
        "burstStartedAt": T0 - 600.0,
        "ledger": {"nodeSeconds": {"a": 3600.0}, "cost": 2.0, "accountedUntil": T0},
    }
    state = BurstState.from_dict(old)
    assert state.ledger == Ledger({"a": 3600.0}, 2.0, T0)
    assert state.phase == Phase.BURSTING
    # the burst in progress gets a record from now on; the old totals go on growing
    ledger = accrue(state.ledger, {"a": pool("a", T0 - 900.0)}, {"a": 3.6}, T0 + 100.0, CNY, T0 - 600.0)
    assert ledger.node_seconds == {"a": 3700.0}
    assert ledger.cost == pytest.approx(2.1)
    assert ledger.burst == BurstRecord(T0 - 600.0, None, {"a": PoolCost(100.0, pytest.approx(0.1), "CNY")})  # type: ignore[arg-type]
    assert cost_by_currency(ledger.pools.values(), ledger.cost, "CNY") == {"CNY": pytest.approx(2.1)}


def test_the_ledger_round_trips_through_json_and_names_a_malformed_record() -> None:
    ledger = Ledger(
        {"a": 1.5},
        0.25,
        T0,
        {"a": PoolCost(1.5, 0.25, "CNY", 0.5)},
        {"a": 2},
        BurstRecord(T0 - 5.0, None, {"a": PoolCost(1.0, 0.1, "CNY")}),
        (BurstRecord(T0 - 100.0, T0 - 50.0, {"a": PoolCost(0.5, 0.15, "CNY")}),),
    )
    data = json.loads(json.dumps(BurstState(ledger=ledger).to_dict()))
    assert BurstState.from_dict(data).ledger == ledger
    data["ledger"]["bursts"] = [{"end": 3.0}]
    with pytest.raises(ValueError, match=r"ledger\.bursts"):
        BurstState.from_dict(data)


def test_a_scripted_burst_bills_every_node_from_launch_to_gone() -> None:
    provider = pool_doc("ack-b", "ack", 3.0)
    provider["price"] = {"source": "provider", "currency": "CNY"}
    fleet = ToyFleet(
        policy(burst={"pools": [pool_doc("tke-a", "tke", 2.0), provider]}), quotes={"ack-b": 3.37}
    )
    fleet.run(60)
    fleet.demand = 200
    fleet.run(900)
    fleet.demand = 40
    fleet.run(1800)
    assert fleet.state.phase == Phase.IDLE
    ledger = fleet.state.ledger
    assert ledger.burst is None
    assert len(ledger.bursts) == 1
    # independently: each node from its launch to the first evaluation that no longer shows it
    times = [t for t, _, _ in fleet.history]
    last_seen: dict[tuple[str, str], tuple[float, float]] = {}  # (pool, node) -> (launch, last seen)
    for t, _, world in fleet.history:
        for name, p in world.pools.items():
            for m in p.machines:
                last_seen[(name, m.name)] = (m.created_at, t)
    seconds: dict[str, float] = {}
    for (name, _), (launch, seen) in last_seen.items():
        gone = next(t for t in times if t > seen)
        seconds[name] = seconds.get(name, 0.0) + gone - launch
    assert set(seconds) == {"tke-a", "ack-b"}
    assert ledger.node_seconds == pytest.approx(seconds)
    expected = {"tke-a": seconds["tke-a"] / 3600 * 2.0, "ack-b": seconds["ack-b"] / 3600 * 3.37}
    assert {p: c.cost for p, c in ledger.pools.items()} == pytest.approx(expected)
    assert {p: c.cost for p, c in ledger.bursts[0].pools.items()} == pytest.approx(expected)
    phases = [(t, d.state.phase) for t, d, _ in fleet.history]
    start = next(t for t, ph in phases if ph != Phase.IDLE)
    end = next(t for t, ph in phases if t > start and ph == Phase.IDLE)
    assert (ledger.bursts[0].start, ledger.bursts[0].end) == (start, end)
