"""The bundled traces with the bundled policy and fleet and the real engine: the runs complete, their
figures are consistent, and burstd keeps the trade-off documented in docs/simulation.md (Figures)."""

from __future__ import annotations

import pytest

from burstd.sim.files import load_fleet, load_policy, load_trace
from burstd.sim.scenario import build_scenario
from burstd.sim.simulate import Comparison, simulate


def run(name: str, fill: str = "error") -> Comparison:
    trace = load_trace(name, fill)  # type: ignore[arg-type]
    return simulate(build_scenario(load_policy(None), load_fleet(None), trace))


def check(comparison: Comparison) -> None:
    s = comparison.scenario
    for name in ("reactive", "oracle"):
        r = comparison.runs[name]
        assert 0 <= r.unserved_replica_seconds <= r.demand_above_base_replica_seconds, name
    oracle = comparison.runs["oracle"]
    assert oracle.unserved_replica_seconds == 0  # the bundled limits never bind on these traces
    above = oracle.demand_above_base_replica_seconds
    for name, r in comparison.runs.items():
        assert r.demand_above_base_replica_seconds == pytest.approx(above), name
        assert r.cost >= 0
        assert r.peak_cloud_nodes <= (s.max_cloud_nodes or 10**9)
        assert r.series.t == sorted(r.series.t)
    burstd = comparison.runs["burstd"]
    assert burstd.details["decide_calls"] >= len(s.times)  # at least at every change of the replicas
    report = comparison.as_dict()
    assert set(report["runs"]) == {"burstd", "reactive", "oracle"}


def ratios(comparison: Comparison) -> tuple[float, float]:
    """(burstd unserved / reactive unserved, burstd cost / oracle cost)."""
    runs = comparison.runs
    unserved = runs["burstd"].unserved_replica_seconds / runs["reactive"].unserved_replica_seconds
    return unserved, runs["burstd"].cost / runs["oracle"].cost


def test_alibaba_2018() -> None:
    comparison = run("alibaba-2018")
    assert comparison.scenario.base_replicas == 227
    check(comparison)
    unserved, cost = ratios(comparison)
    # On this trace no policy reaches both targets (docs/simulation.md); the bundled one stays cheap
    # (spare only over the cloud part of the demand) and still serves more than the reactive baseline.
    assert unserved < 1.0
    assert cost <= 1.6


@pytest.mark.slow
def test_nasa_http_1995() -> None:
    comparison = run("nasa-http-1995", "hold")
    assert comparison.scenario.trace.filled == 4948
    check(comparison)
    unserved, cost = ratios(comparison)
    assert unserved <= 0.8  # 0.70x the reactive baseline's unserved replica-seconds (issue 11 item 5)
    # Demand noise does not reshuffle replicas: at most 3x the reactive baseline's actions (7.8x when
    # every 2% gap to the balanced split was a weight write).
    assert comparison.runs["burstd"].actions <= 3 * comparison.runs["reactive"].actions
    # Against the true oracle (the cheapest plan, issue 11 item 1) the bundled policy costs 1.52x
    # (13,409.06 / 8,843.08 CNY; 1.75x before the spare was sized on the cloud part). The 1.5x target is
    # decided on the front (issue 11 item 5), not here.
    assert cost <= 1.7
