"""Fronts: Pareto sets, splitting a scenario, the tunables and the search over them."""

from __future__ import annotations

import pytest

from burstd.policy.spec import PolicyInvalid
from burstd.sim import tunables as T
from burstd.sim.front import (
    Caps,
    Evaluator,
    Figures,
    Point,
    Search,
    pareto,
    reactive_family,
    split,
)
from burstd.sim.reactive import run_reactive

from .scenarios import make_policy
from .test_reactive_spare import alibaba_two_days, sample_policy


def pt(cost: float, unserved: float, name: str = "", moves: int = 0, writes: int = 0) -> Point:
    return Point("burstd", (("name", name),), Figures(cost, unserved, 100.0, moves, writes, 2, 0))


def names(points: list[Point]) -> list[str]:
    return [str(dict(p.params)["name"]) for p in points]


def test_pareto_keeps_the_undominated_by_cost() -> None:
    points = [pt(3, 1, "c"), pt(1, 5, "a"), pt(2, 2, "b"), pt(2.5, 3, "dominated"), pt(4, 1, "worse")]
    assert names(pareto(points)) == ["a", "b", "c"]


def test_pareto_ties() -> None:
    # equal on both: both kept; same cost, more unserved: dropped; same unserved, more cost: dropped
    points = [pt(1, 2, "x"), pt(1, 2, "y"), pt(1, 3, "same cost"), pt(2, 2, "same unserved"), pt(3, 0, "z")]
    assert names(pareto(points)) == ["x", "y", "z"]
    assert pareto([]) == []


def test_caps_and_per_burst_figures() -> None:
    p = pt(1, 1, moves=30, writes=8)  # 2 bursts
    assert p.figures.moves_per_burst == 15
    assert p.figures.weight_writes_per_burst == 4
    assert Caps(15, 4).met(p.figures)
    assert not Caps(14.9, None).met(p.figures)
    assert not Caps(None, 3).met(p.figures)
    none = Figures(0, 0, 0, 3, 1, 0, 0)  # no burst: per run
    assert none.moves_per_burst == 3


def test_split_keeps_the_replicas_of_the_whole_run() -> None:
    s = alibaba_two_days()
    earlier, later = split(s, 0.25)
    assert earlier.end + later.end == s.end
    assert later.epoch == s.epoch + earlier.end
    assert earlier.end == 36 * 3600  # the cut falls on a sample: 1.5 days in
    # the change points of the two parts, put back on one clock, are the whole run's
    joined = list(zip(earlier.times, earlier.replicas, strict=True))
    joined += [(t + earlier.end, v) for t, v in zip(later.times, later.replicas, strict=True)]
    merged = [joined[0]]
    for t, v in joined[1:]:
        if v != merged[-1][1]:
            merged.append((t, v))
    assert merged == list(zip(s.times, s.replicas, strict=True))
    assert (earlier.base_replicas, later.peak_replicas) == (s.base_replicas, s.peak_replicas)
    assert later.trace.rows == 144
    with pytest.raises(ValueError, match="too few"):
        split(s, 0.001)


def test_tunable_paths() -> None:
    policy = sample_policy()
    assert T.parse_path("spec.triggers.scaleOut.any[0].above") == (
        "spec",
        "triggers",
        "scaleOut",
        "any",
        0,
        "above",
    )
    assert T.check_tunable(policy, "spec.burst.headroom") == "10%"
    assert T.check_tunable(policy, "spec.triggers.scaleOut.any[0].above") == 0.95
    variant = T.apply(policy, {"spec.burst.headroom": "5%", "spec.drain.stabilizationWindow": "20m"})
    assert variant.spec.burst.headroom == pytest.approx(0.05)
    assert variant.spec.drain.stabilization_window == 1200
    assert variant.spec.burst.pools == policy.spec.burst.pools
    with pytest.raises(PolicyInvalid, match="dead band"):
        T.apply(policy, {"spec.triggers.scaleIn.any[0].below": 0.99})
    errors = {
        "spec.burst.headroon": "no field spec.burst.headroon",
        "spec.drain.stabilisationWindow": "no field spec.drain.stabilisationWindow",
        "spec.triggers.scaleOut.any[7].above": "the list has 2 items",
        "spec.triggers.scaleOut.any[0].below": "is not set",
        "spec.triggers.scaleOut.any": "group of fields",
        "spec.limits.maxCloudNodes": "not a tunable parameter",
        "spec..drain": "not a field path",
    }
    for path, message in errors.items():
        with pytest.raises(T.TunableError, match=message):
            T.check_tunable(policy, path)


def test_default_tunables_follow_the_trigger() -> None:
    tunables, notes = T.default_tunables(sample_policy())
    paths = [t.path for t in tunables]
    assert paths[:4] == [
        "spec.burst.headroom",
        "spec.drain.stabilizationWindow",
        "spec.triggers.scaleOut.any[0].above",
        "spec.triggers.scaleIn.any[0].below",
    ]
    assert notes == []
    window = tunables[1]
    assert "12m" in window.values  # the policy's own value is on the grid, in order
    assert list(window.values) == sorted(window.values, key=T.sort_key)
    # a policy whose triggers are on fhpa.unfitReplicas only: no threshold tuned, and said so
    tunables, notes = T.default_tunables(make_policy())
    assert not any("triggers" in t.path for t in tunables)
    assert len(notes) == 2
    assert all("base.cpu.requestedRatio" in n for n in notes)


def test_custom_tunables_check_values() -> None:
    policy = sample_policy()
    (t,) = T.custom_tunables(policy, [T.parse_grid("spec.burst.headroom=0%,5%")])
    assert t.values == ("0%", "5%", "10%")
    with pytest.raises(T.TunableError, match=r"spec.burst.headroom=5: .*percentage"):
        T.custom_tunables(policy, [("spec.burst.headroom", (5,))])
    with pytest.raises(T.TunableError, match="given twice"):
        T.custom_tunables(policy, [("spec.burst.headroom", ("1%",)), ("spec.burst.headroom", ("2%",))])
    with pytest.raises(T.TunableError, match="expected PATH=V1,V2"):
        T.parse_grid("spec.burst.headroom")
    assert T.parse_grid("a.b=1, 0.5 ,5m") == ("a.b", (1, 0.5, "5m"))


def test_booleans_and_words_are_values_of_their_own() -> None:
    policy = sample_policy()
    assert T.parse_grid("spec.predictive.enabled=false,True") == ("spec.predictive.enabled", (False, True))
    (t,) = T.custom_tunables(policy, [T.parse_grid("spec.predictive.enabled=false,true")])
    assert t.values == (False, True)  # not merged into one value, and the policy's own False kept once
    # two words that are neither numbers nor durations stay two values
    assert T.sort_key("alpha") != T.sort_key("beta")
    assert T.sort_key("5m") < T.sort_key("alpha")


def test_search_on_a_2x2_grid_and_the_pool() -> None:
    s = alibaba_two_days()
    policy = s.policy
    tunables = T.custom_tunables(
        policy,
        [("spec.burst.headroom", ("0%", "10%")), ("spec.drain.stabilizationWindow", ("0s", "12m"))],
    )
    with Evaluator({"all": s}, jobs=2) as ev:
        search = Search(ev, "all", T.current_assignments(policy, tunables), tunables, budget=10)
        points = search.run()
        assert len(points) == 4  # the whole grid: every point is a neighbour of a front point
        assert search.policy_point().params == (
            ("spec.burst.headroom", "10%"),
            ("spec.drain.stabilizationWindow", "12m"),
        )
        front = search.front()
        assert front == pareto(points)
        # more headroom and a longer window: more cost, less unserved
        by = {tuple(v for _, v in p.params): p.figures for p in points}
        assert by[("10%", "12m")].cost > by[("0%", "0s")].cost
        assert by[("10%", "12m")].unserved < by[("0%", "0s")].unserved
        assert by[("10%", "12m")].weight_writes > 0
        reactive = reactive_family(ev, "all", (0, 2))
        evaluations = ev.evaluations
        # in a pool or in this process, a simulation gives the same figures
        assert Evaluator({"all": s}, jobs=1).run([("all", "burstd", points[0].params)]) == [points[0].figures]
        assert ev.run([("all", "reactive", (("spare_replicas", 14),))]) == [reactive[1].figures]
        assert ev.evaluations == evaluations  # cached
    assert reactive[0].figures == Figures.of(run_reactive(s))
    assert reactive[1].params == (("spare_replicas", 14),)


def test_search_skips_invalid_variants_and_stops() -> None:
    """Scale-in thresholds not below the scale-out one break the dead band: only the policy's own pair of
    this 2x2 grid is a valid policy; the search evaluates it and stops."""
    s = alibaba_two_days()
    tunables = T.custom_tunables(
        s.policy,
        [
            ("spec.triggers.scaleOut.any[0].above", (0.9,)),
            ("spec.triggers.scaleIn.any[0].below", (0.95,)),
        ],
    )
    assert [t.values for t in tunables] == [(0.9, 0.95), (0.9, 0.95)]
    with Evaluator({"all": s}, jobs=1) as ev:
        search = Search(ev, "all", T.current_assignments(s.policy, tunables), tunables, budget=20)
        points = search.run()
        assert [p.params for p in points] == [
            (("spec.triggers.scaleOut.any[0].above", 0.95), ("spec.triggers.scaleIn.any[0].below", 0.9))
        ]
        assert search.skipped == 3
        assert ev.evaluations == 1
