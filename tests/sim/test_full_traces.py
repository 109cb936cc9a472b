"""The bundled traces with the bundled policy and fleet and the real engine: the runs complete and their
figures are consistent. (The targets burstd is tuned for are in docs/simulation.md, not asserted here.)"""

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


def test_alibaba_2018() -> None:
    comparison = run("alibaba-2018")
    assert comparison.scenario.base_replicas == 227
    check(comparison)


@pytest.mark.slow
def test_nasa_http_1995() -> None:
    comparison = run("nasa-http-1995", "hold")
    assert comparison.scenario.trace.filled == 4948
    check(comparison)
