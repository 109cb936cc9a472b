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
    assert burstd.details["decide_calls"] >= s.end / 60  # at least one call a minute
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
    # On this trace no policy reaches both targets (docs/simulation.md); the bundled one keeps the
    # unserved target and pays for it.
    assert unserved <= 0.5
    assert cost <= 2.5


@pytest.mark.slow
def test_nasa_http_1995() -> None:
    comparison = run("nasa-http-1995", "hold")
    assert comparison.scenario.trace.filled == 4948
    check(comparison)
    unserved, cost = ratios(comparison)
    assert unserved <= 0.5  # at most half the reactive baseline's unserved replica-seconds
    assert cost <= 1.5  # at no more than 1.5x the oracle's cost
