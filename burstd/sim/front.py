"""Trade-off fronts: cost against unserved demand for two families of autoscalers on one scenario.

- the **burstd family**: the policy with its tunable parameters (``burstd.sim.tunables``) set to values on
  a grid. A coarse grid over the main two (headroom x stabilization window) is evaluated first, then the
  neighbours (one grid step up or down in one parameter) of the points on the front, round after round,
  until no new neighbour is left or the evaluation budget is spent;
- the **reactive family**: the Cluster-Autoscaler-like baseline with 0 to 16 nodes' worth of
  overprovisioning pause pods (``burstd.sim.reactive``).

Each point is one whole simulation; they run in a process pool. A point is on its family's front (Pareto)
when no point of the family is at most as costly and at most as unserved, and better in one of the two.
Ratios are against the oracle's cost and the plain reactive baseline's unserved demand, on the same span.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from burstd.sim.metrics import RunResult
from burstd.sim.scenario import Scenario
from burstd.sim.trace import Trace
from burstd.sim.tunables import PRIMARY, Assignments, Tunable, Value, apply, is_valid

Family = Literal["burstd", "reactive", "oracle"]
#: overprovisioning of the reactive family, in nodes of the smallest pool
SPARE_NODES = (0, 1, 2, 3, 4, 6, 8, 12, 16)
DEFAULT_BUDGET = 60
SPARE = "spare_replicas"


@dataclass(frozen=True, slots=True)
class Figures:
    """What one run is judged on (small, so it crosses process boundaries cheaply)."""

    cost: float
    unserved: float
    above_base: float
    moves: int
    weight_writes: int
    bursts: int
    actions: int

    @classmethod
    def of(cls, r: RunResult) -> Figures:
        return cls(
            r.cost,
            r.unserved_replica_seconds,
            r.demand_above_base_replica_seconds,
            r.replica_moves,
            r.weight_writes,
            r.bursts,
            r.actions,
        )

    @property
    def moves_per_burst(self) -> float:
        return self.moves / max(1, self.bursts)

    @property
    def weight_writes_per_burst(self) -> float:
        return self.weight_writes / max(1, self.bursts)

    @property
    def unserved_share(self) -> float | None:
        """Unserved over demand above base (None when the demand never exceeds the base)."""
        return None if self.above_base <= 0 else self.unserved / self.above_base


@dataclass(frozen=True, slots=True)
class Baselines:
    """The yardsticks on one span: the oracle's cost and the plain reactive baseline's unserved demand."""

    oracle: Figures
    reactive: Figures

    def cost_ratio(self, f: Figures) -> float | None:
        return _ratio(f.cost, self.oracle.cost)

    def unserved_ratio(self, f: Figures) -> float | None:
        return _ratio(f.unserved, self.reactive.unserved)


def _ratio(a: float, b: float) -> float | None:
    """``a / b``; 1 when both are 0; None (infinite) when only ``b`` is."""
    if b > 0:
        return a / b
    return 1.0 if a == 0 else None


@dataclass(frozen=True, slots=True)
class Point:
    family: Family
    params: Assignments
    figures: Figures

    @property
    def key(self) -> tuple[float, float]:
        return (self.figures.cost, self.figures.unserved)


def pareto(points: Iterable[Point]) -> list[Point]:
    """The points no other point dominates (at most as costly and as unserved, better in one), by cost.

    Points with exactly the same cost and unserved demand are all kept.
    """
    ordered = sorted(points, key=lambda p: p.key)
    front: list[Point] = []
    best = math.inf
    for p in ordered:
        unserved = p.key[1]
        if unserved < best:
            front.append(p)
            best = unserved
        elif front and p.key == front[-1].key:
            front.append(p)
    return front


# ------------------------------------------------------------------------------------------ evaluation

Task = tuple[str, Family, Assignments]
_SCENARIOS: dict[str, Scenario] = {}


def _init(scenarios: Mapping[str, Scenario]) -> None:
    _SCENARIOS.clear()
    _SCENARIOS.update(scenarios)


def _evaluate(task: Task) -> Figures:
    part, family, params = task
    s = _SCENARIOS[part]
    if family == "burstd":
        from burstd.engine import decide
        from burstd.sim.runner import run_burstd

        policy = apply(s.policy, params) if params else s.policy
        return Figures.of(run_burstd(replace(s, policy=policy), decide))
    if family == "reactive":
        from burstd.sim.reactive import run_reactive

        spare = int(dict(params).get(SPARE, 0))
        return Figures.of(run_reactive(s, spare))
    from burstd.sim.oracle import run_oracle

    return Figures.of(run_oracle(s))


class Evaluator:
    """Runs simulations of named scenario parts in a process pool (``jobs`` 1: in this process), each once.

    Use as a context manager; the pool is shut down on exit.
    """

    def __init__(self, scenarios: Mapping[str, Scenario], jobs: int | None = None) -> None:
        self.scenarios = dict(scenarios)
        self.jobs = max(1, jobs if jobs is not None else (os.cpu_count() or 1))
        self.cache: dict[Task, Figures] = {}
        self._pool: ProcessPoolExecutor | None = None
        self.evaluations = 0

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def run(self, tasks: Sequence[Task]) -> list[Figures]:
        todo = list(dict.fromkeys(t for t in tasks if t not in self.cache))
        if todo:
            if self.jobs == 1 or len(todo) == 1:
                _init(self.scenarios)
                results = [_evaluate(t) for t in todo]
            else:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(
                        max_workers=self.jobs, initializer=_init, initargs=(self.scenarios,)
                    )
                results = list(self._pool.map(_evaluate, todo))
            self.evaluations += len(todo)
            self.cache.update(zip(todo, results, strict=True))
        return [self.cache[t] for t in tasks]

    def baselines(self, part: str) -> Baselines:
        oracle, reactive = self.run([(part, "oracle", ()), (part, "reactive", ())])
        return Baselines(oracle, reactive)


# ------------------------------------------------------------------------------------------ search


@dataclass(frozen=True, slots=True)
class Caps:
    """Disruption caps: the most replica moves and weight writes per burst a point may take."""

    moves_per_burst: float | None = None
    weight_writes_per_burst: float | None = None

    def met(self, f: Figures) -> bool:
        if self.moves_per_burst is not None and f.moves_per_burst > self.moves_per_burst + 1e-9:
            return False
        return not (
            self.weight_writes_per_burst is not None
            and f.weight_writes_per_burst > self.weight_writes_per_burst + 1e-9
        )


#: orders front points by how promising their neighbourhood is (lower first); None: all front points
Priority = Callable[[Point], tuple[float, ...]]


@dataclass(slots=True)
class Search:
    """The burstd family on one part of the scenario."""

    evaluator: Evaluator
    part: str
    policy_params: Assignments
    tunables: Sequence[Tunable]
    caps: Caps = field(default_factory=Caps)
    budget: int = DEFAULT_BUDGET
    points: dict[tuple[int, ...], Point] = field(default_factory=dict)
    #: grid points whose policy fails a check (e.g. the triggers' dead band)
    invalid: set[tuple[int, ...]] = field(default_factory=set)

    @property
    def skipped(self) -> int:
        return len(self.invalid)

    def _index(self) -> tuple[int, ...]:
        return tuple(t.values.index(v) for t, (_, v) in zip(self.tunables, self.policy_params, strict=True))

    def _params(self, index: tuple[int, ...]) -> Assignments:
        return tuple((t.path, t.values[i]) for t, i in zip(self.tunables, index, strict=True))

    def evaluate(self, indexes: Iterable[tuple[int, ...]]) -> None:
        base = self.evaluator.scenarios[self.part].policy
        todo: list[tuple[int, ...]] = []
        for index in indexes:
            if index in self.points or index in self.invalid or index in todo:
                continue
            if len(self.points) + len(todo) >= self.budget:
                break
            if not is_valid(base, self._params(index)):
                self.invalid.add(index)
                continue
            todo.append(index)
        tasks: list[Task] = [(self.part, "burstd", self._params(i)) for i in todo]
        for index, task, figures in zip(todo, tasks, self.evaluator.run(tasks), strict=True):
            self.points[index] = Point("burstd", task[2], figures)

    def coarse(self) -> list[tuple[int, ...]]:
        """The policy's own point, then the coarse grid over the primary tunables (every other value and
        the last), the others at the policy's values."""
        start = self._index()
        primary = [i for i, t in enumerate(self.tunables) if t.path in PRIMARY] or list(
            range(min(2, len(self.tunables)))
        )
        grids: list[list[tuple[int, ...]]] = [[start]]
        for d in primary:
            n = len(self.tunables[d].values)
            steps = sorted({*range(0, n, 2), n - 1, start[d]})
            grids.append([(*idx[:d], s, *idx[d + 1 :]) for idx in grids[-1] for s in steps])
        return [start, *grids[-1]]

    def neighbours(self, index: tuple[int, ...]) -> list[tuple[int, ...]]:
        out = []
        for d, t in enumerate(self.tunables):
            for step in (-1, 1):
                j = index[d] + step
                if 0 <= j < len(t.values):
                    out.append((*index[:d], j, *index[d + 1 :]))
        return out

    def front(self) -> list[Point]:
        return pareto(p for p in self.points.values() if self.caps.met(p.figures))

    def run(self, priority: Priority | None = None, seeds: int = 3) -> list[Point]:
        """Coarse grid, then refine around the front until nothing new or the budget is spent."""
        self.evaluate(self.coarse())
        by_params = {p.params: i for i, p in self.points.items()}
        while len(self.points) < self.budget:
            front = self._distinct(self.front() or pareto(self.points.values()))
            if priority is not None:
                front = sorted(front, key=priority)[:seeds]
            fresh = [
                n
                for p in front
                for n in self.neighbours(by_params[p.params])
                if n not in self.points and n not in self.invalid
            ]
            if not fresh:
                break
            self.evaluate(fresh)
            by_params = {p.params: i for i, p in self.points.items()}
        return list(self.points.values())

    def _distinct(self, front: list[Point]) -> list[Point]:
        """One point per (cost, unserved): the nearest to the policy's on the grid. Parameters that change
        nothing where they are would otherwise spend the budget on neighbours of equal points."""
        start = self._index()
        index = {p.params: i for i, p in self.points.items()}
        best: dict[tuple[float, float], Point] = {}
        for p in front:
            q = best.get(p.key)
            if q is None or _distance(index[p.params], start) < _distance(index[q.params], start):
                best[p.key] = p
        return sorted(best.values(), key=lambda p: p.key)

    def policy_point(self) -> Point:
        return self.points[self._index()]


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


def reactive_family(evaluator: Evaluator, part: str, spare_nodes: Sequence[int] = SPARE_NODES) -> list[Point]:
    """The reactive baseline with overprovisioning worth each number of nodes of the smallest pool."""
    per_node = min(p.replicas_per_node for p in evaluator.scenarios[part].pools)
    params: list[Assignments] = [((SPARE, n * per_node),) for n in spare_nodes]
    figures = evaluator.run([(part, "reactive", p) for p in params])
    return [Point("reactive", p, f) for p, f in zip(params, figures, strict=True)]


# ------------------------------------------------------------------------------------------ splitting


class SplitError(ValueError):
    """The history is too short to hold out the share asked."""


def split(scenario: Scenario, holdout: float) -> tuple[Scenario, Scenario]:
    """The scenario cut at a trace sample near ``1 - holdout`` of its span: (earlier part, later part).

    Both keep the whole trace's scaling and base, so replicas are the same as in the whole run.
    """
    trace = scenario.trace
    cut_abs = trace.start + (1.0 - holdout) * trace.duration
    k = next((i for i, t in enumerate(trace.times) if t >= cut_abs), len(trace.times))
    if k < 2 or len(trace.times) - k < 2:
        raise SplitError(
            f"the trace has {len(trace.times)} samples: too few to hold out {holdout * 100:g}% "
            "(each part needs at least 2)"
        )
    cut = trace.times[k] - trace.start
    return sub_scenario(scenario, 0.0, cut, 0, k), sub_scenario(
        scenario, cut, scenario.end, k, len(trace.times)
    )


def sub_scenario(s: Scenario, start: float, end: float, first: int, last: int) -> Scenario:
    """The part of ``s`` from ``start`` to ``end`` (seconds since its start), trace samples first..last-1."""
    times: list[float] = []
    values: list[int] = []
    for t, v in zip(s.times, s.replicas, strict=True):
        if t <= start:
            times, values = [0.0], [v]
        elif t < end:
            times.append(t - start)
            values.append(v)
    tr = s.trace
    trace = Trace(tr.name, tr.times[first:last], tr.values[first:last], tr.step, last - first, 0, tr.origin)
    return replace(
        s, trace=trace, times=tuple(times), replicas=tuple(values), end=end - start, epoch=s.epoch + start
    )


def params_dict(params: Assignments) -> dict[str, Value]:
    return dict(params)


def point_json(p: Point, base: Baselines, caps: Caps, front: Sequence[Point] | None = None) -> dict[str, Any]:
    f = p.figures
    cost, unserved = base.cost_ratio(f), base.unserved_ratio(f)
    share = f.unserved_share
    out: dict[str, Any] = {
        "params": params_dict(p.params),
        "cost": round(f.cost, 2),
        "unserved_replica_seconds": round(f.unserved, 1),
        "unserved_ratio": None if share is None else round(share, 6),
        "cost_vs_oracle": None if cost is None else round(cost, 4),
        "unserved_vs_reactive": None if unserved is None else round(unserved, 4),
        "replica_moves_per_burst": round(f.moves_per_burst, 3),
        "weight_writes_per_burst": round(f.weight_writes_per_burst, 3),
        "replica_moves": f.moves,
        "weight_writes": f.weight_writes,
        "bursts": f.bursts,
        "actions": f.actions,
        "within_caps": caps.met(f),
    }
    if front is not None:
        out["on_front"] = any(q is p for q in front)
    return out
