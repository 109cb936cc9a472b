"""``burstd tune``'s method: the fronts of both families on the earlier part of the history, the cheapest
(or best served) point of the burstd family that meets the objective within the disruption caps, and that
point checked on the held-out later part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from burstd.sim.front import (
    Baselines,
    Caps,
    Evaluator,
    Figures,
    Point,
    Search,
    pareto,
    reactive_family,
    split,
)
from burstd.sim.scenario import Scenario
from burstd.sim.tunables import Assignments, Tunable, current_assignments

ObjectiveKind = Literal["max_unserved", "max_cost"]
_OBJECTIVE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(x|%)\s*$")
#: front points shown when the objective cannot be met
CLOSEST = 3


@dataclass(frozen=True, slots=True)
class Objective:
    """``max_unserved``: unserved demand at most ``value`` times the reactive baseline's (unit ``x``) or
    at most ``value`` % of the demand above the base (unit ``%``); ``max_cost``: cost at most ``value``
    times the oracle's."""

    kind: ObjectiveKind
    value: float
    unit: Literal["x", "%"]

    @classmethod
    def parse(cls, kind: ObjectiveKind, text: str) -> Objective:
        match = _OBJECTIVE.match(text)
        units = "Kx (times the reactive baseline's) or N% (of the demand above the base)"
        if kind == "max_cost":
            units = "Kx (times the oracle's cost)"
        if match is None:
            raise ValueError(
                f"expected {units}, e.g. {'0.5x' if kind == 'max_unserved' else '1.5x'}; got {text!r}"
            )
        value, unit = float(match.group(1)), match.group(2)
        if unit == "%" and kind == "max_cost":
            raise ValueError(f"expected {units}, e.g. 1.5x; got {text!r}")
        if unit == "%" and value > 100:
            raise ValueError(f"a share of the demand above the base is at most 100%, got {text!r}")
        return cls(kind, value, "x" if unit == "x" else "%")

    def met(self, f: Figures, base: Baselines) -> bool:
        if self.kind == "max_cost":
            ratio = base.cost_ratio(f)
            return ratio is not None and ratio <= self.value + 1e-9
        if self.unit == "%":
            share = f.unserved_share
            return share is None or share * 100 <= self.value + 1e-9
        ratio = base.unserved_ratio(f)
        return ratio is not None and ratio <= self.value + 1e-9

    def describe(self) -> str:
        if self.kind == "max_cost":
            return f"cost at most {self.value:g}x the oracle's"
        if self.unit == "%":
            return f"unserved at most {self.value:g}% of the demand above the base"
        return f"unserved at most {self.value:g}x the reactive baseline's"

    def as_text(self) -> str:
        return f"{self.value:g}{self.unit}"


@dataclass(slots=True)
class SpanResult:
    """One part of the history and what was evaluated on it."""

    name: str
    scenario: Scenario
    baselines: Baselines
    policy: Point
    burstd: list[Point] = field(default_factory=list)
    reactive: list[Point] = field(default_factory=list)
    chosen: Point | None = None
    #: where the span starts, seconds since the trace start
    start_s: float = 0.0

    @property
    def burstd_front(self) -> list[Point]:
        return pareto(self.burstd)

    @property
    def reactive_front(self) -> list[Point]:
        return pareto(self.reactive)


@dataclass(slots=True)
class TuneResult:
    scenario: Scenario
    tunables: Sequence[Tunable]
    notes: list[str]
    objective: Objective | None
    caps: Caps
    holdout: float
    search: SpanResult
    chosen: Point | None = None
    closest: list[Point] = field(default_factory=list)
    out_of_sample: SpanResult | None = None
    evaluations: int = 0
    skipped: int = 0

    @property
    def met(self) -> bool | None:
        return None if self.objective is None else self.chosen is not None

    def capped_front(self) -> list[Point]:
        return pareto(p for p in self.search.burstd if self.caps.met(p.figures))


def changes(point: Point, policy: Point) -> Assignments:
    """The parameters of ``point`` that differ from the policy's."""
    own = dict(policy.params)
    return tuple((k, v) for k, v in point.params if own.get(k) != v)


def _rank(objective: Objective, base: Baselines, policy: Point) -> Callable[[Point], tuple[float, ...]]:
    def key(p: Point) -> tuple[float, ...]:
        f = p.figures
        cost = base.cost_ratio(f)
        unserved = base.unserved_ratio(f)
        c = cost if cost is not None else float("inf")
        u = unserved if unserved is not None else float("inf")
        first, second = (c, u) if objective.kind == "max_unserved" else (u, c)
        return (first, second, f.weight_writes_per_burst, f.moves_per_burst, len(changes(p, policy)))

    return key


def choose(
    points: Sequence[Point], objective: Objective, caps: Caps, base: Baselines, policy: Point
) -> Point | None:
    """The cheapest point meeting ``max_unserved`` (the least unserved meeting ``max_cost``) within the
    caps; among equals, fewer weight writes, fewer moves, fewer changes from the policy."""
    ok = [p for p in points if caps.met(p.figures) and objective.met(p.figures, base)]
    if not ok:
        return None
    return min(ok, key=_rank(objective, base, policy))


def closest(
    points: Sequence[Point], objective: Objective, caps: Caps, base: Baselines, n: int = CLOSEST
) -> list[Point]:
    """The front points (within the caps when any is) nearest to meeting the objective."""
    capped = [p for p in points if caps.met(p.figures)]
    front = pareto(capped or points)

    def gap(p: Point) -> float:
        f = p.figures
        if objective.kind == "max_cost":
            r = base.cost_ratio(f)
            return r if r is not None else float("inf")
        if objective.unit == "%":
            share = f.unserved_share
            return 0.0 if share is None else share
        r = base.unserved_ratio(f)
        return r if r is not None else float("inf")

    distinct: dict[tuple[float, float], Point] = {}
    for p in sorted(front, key=gap):
        distinct.setdefault(p.key, p)
    return list(distinct.values())[:n]


def edge_notes(chosen: Point | None, tunables: Sequence[Tunable]) -> list[str]:
    """A note for each parameter whose chosen value is the last of its grid (the best may lie beyond)."""
    if chosen is None:
        return []
    values = dict(chosen.params)
    notes = []
    for t in tunables:
        if len(t.values) > 1 and values.get(t.path) == t.values[-1]:
            notes.append(
                f"{t.path}: the chosen value {values[t.path]} is the last of its grid; a larger one may do "
                f"better (--tune {t.path}=...)"
            )
    return notes


def tune(
    scenario: Scenario,
    tunables: Sequence[Tunable],
    *,
    objective: Objective | None,
    caps: Caps,
    holdout: float,
    budget: int,
    jobs: int | None,
    notes: Sequence[str] = (),
) -> TuneResult:
    """Search on the earlier part (the whole history without an objective or with ``holdout`` 0), choose,
    and evaluate the choice and the given policy on the held-out part."""
    parts = {"all": scenario}
    search_part = "all"
    if objective is not None and holdout > 0:
        earlier, later = split(scenario, holdout)
        parts = {"tune": earlier, "holdout": later}
        search_part = "tune"
    policy = scenario.policy
    params = current_assignments(policy, tunables)
    with Evaluator(parts, jobs) as ev:
        base = ev.baselines(search_part)
        search = Search(ev, search_part, params, tunables, caps=caps, budget=budget)
        priority = None
        if objective is not None:

            def priority(p: Point) -> tuple[float, ...]:
                feasible = caps.met(p.figures) and objective.met(p.figures, base)
                f = p.figures
                metric = f.cost if (feasible == (objective.kind == "max_unserved")) else f.unserved
                return (0.0 if feasible else 1.0, metric)

        points = search.run(priority)
        span = SpanResult(parts[search_part].trace.name, parts[search_part], base, search.policy_point())
        span.name = search_part
        span.burstd = points
        span.reactive = reactive_family(ev, search_part)
        result = TuneResult(
            scenario, tunables, list(notes), objective, caps, holdout if search_part == "tune" else 0.0, span
        )
        if objective is not None:
            result.chosen = choose(points, objective, caps, base, span.policy)
            span.chosen = result.chosen
            result.notes.extend(edge_notes(result.chosen, tunables))
            if result.chosen is None:
                result.closest = closest(points, objective, caps, base)
            elif search_part == "tune":
                later_base = ev.baselines("holdout")
                own, chosen = ev.run(
                    [("holdout", "burstd", params), ("holdout", "burstd", result.chosen.params)]
                )
                out = SpanResult("holdout", parts["holdout"], later_base, Point("burstd", params, own))
                out.chosen = Point("burstd", result.chosen.params, chosen)
                out.start_s = parts["tune"].end
                result.out_of_sample = out
        result.evaluations = ev.evaluations
        result.skipped = search.skipped
    return result
