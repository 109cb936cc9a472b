"""What a run is judged on: a timeline of piecewise-constant values, integrated exactly between events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Series:
    """Change points of a run, for plots: each value holds from its time to the next one."""

    t: list[float] = field(default_factory=list)
    demand: list[int] = field(default_factory=list)
    served: list[int] = field(default_factory=list)
    capacity: list[int] = field(
        default_factory=list
    )  # base capacity + replicas that fit on Ready cloud nodes
    nodes: list[int] = field(default_factory=list)  # cloud instances that exist (billed)


class Timeline:
    """Integrates demand, served replicas and cloud nodes over time.

    Call :meth:`update` with the values that hold from ``t`` on (any number of times per instant; the last
    call at an instant wins), then :meth:`finish` at the end of the trace.
    """

    def __init__(self, base_replicas: int) -> None:
        self.base = base_replicas
        self.series = Series()
        self.unserved = 0.0
        self.above_base = 0.0
        self.peak_nodes = 0
        self.bursts = 0
        self.moves = 0
        self._t: float | None = None
        self._state = (0, 0, 0, 0)

    def update(self, t: float, demand: int, served: int, capacity: int, nodes: int) -> None:
        last = self._t
        d, s, _, n = self._state
        if last is not None and t > last:
            dt = t - last
            if d > s:
                self.unserved += (d - s) * dt
            if d > self.base:
                self.above_base += (d - self.base) * dt
        if last is None:
            pass
        elif n == 0 and nodes > 0:
            self.bursts += 1
        self.peak_nodes = max(self.peak_nodes, nodes)
        state = (demand, served, capacity, nodes)
        self._t = t
        if state == self._state and self.series.t:
            return
        self._state = state
        series = self.series
        if series.t and series.t[-1] == t:
            series.demand[-1], series.served[-1], series.capacity[-1], series.nodes[-1] = state
        else:
            series.t.append(t)
            series.demand.append(demand)
            series.served.append(served)
            series.capacity.append(capacity)
            series.nodes.append(nodes)

    def finish(self, end: float) -> None:
        d, s, c, n = self._state
        self.update(end, d, s, c, n)


@dataclass(slots=True)
class RunResult:
    """The figures of one run (``as_dict`` is its JSON form) and its series for plotting."""

    name: str
    cost: float
    currency: str
    node_seconds: float
    unserved_replica_seconds: float
    demand_above_base_replica_seconds: float
    actions: int
    replica_moves: int
    peak_cloud_nodes: int
    bursts: int
    series: Series
    details: dict[str, Any] = field(default_factory=dict)
    #: SetWeights actions applied (each makes Karmada re-divide the workload); 0 for reactive and oracle
    weight_writes: int = 0

    @property
    def unserved_ratio(self) -> float | None:
        if self.demand_above_base_replica_seconds <= 0:
            return None
        return self.unserved_replica_seconds / self.demand_above_base_replica_seconds

    @property
    def replica_moves_per_burst(self) -> float:
        """Replica moves per burst (per run when the run never burst)."""
        return self.replica_moves / max(1, self.bursts)

    @property
    def weight_writes_per_burst(self) -> float:
        """SetWeights actions applied per burst (per run when the run never burst)."""
        return self.weight_writes / max(1, self.bursts)

    @property
    def node_hours(self) -> float:
        return self.node_seconds / 3600.0

    def as_dict(self) -> dict[str, Any]:
        ratio = self.unserved_ratio
        return {
            "cost": round(self.cost, 2),
            "currency": self.currency,
            "unserved_replica_seconds": round(self.unserved_replica_seconds, 1),
            "unserved_ratio": None if ratio is None else round(ratio, 6),
            "actions": self.actions,
            "replica_moves": self.replica_moves,
            "weight_writes": self.weight_writes,
            "replica_moves_per_burst": round(self.replica_moves_per_burst, 3),
            "weight_writes_per_burst": round(self.weight_writes_per_burst, 3),
            "peak_cloud_nodes": self.peak_cloud_nodes,
            "bursts": self.bursts,
            "node_hours": round(self.node_hours, 3),
            "demand_above_base_replica_seconds": round(self.demand_above_base_replica_seconds, 1),
            **self.details,
        }


def result_from(
    name: str,
    timeline: Timeline,
    cost: float,
    node_seconds: float,
    currency: str,
    actions: int,
    details: dict[str, Any] | None = None,
    weight_writes: int = 0,
) -> RunResult:
    """``weight_writes`` defaults to the ``SetWeights`` count in ``details["actions_by_kind"]``."""
    details = details or {}
    if not weight_writes:
        weight_writes = int(details.get("actions_by_kind", {}).get("SetWeights", 0))
    return RunResult(
        name=name,
        cost=cost,
        currency=currency,
        node_seconds=node_seconds,
        unserved_replica_seconds=timeline.unserved,
        demand_above_base_replica_seconds=timeline.above_base,
        actions=actions,
        replica_moves=timeline.moves,
        peak_cloud_nodes=timeline.peak_nodes,
        bursts=timeline.bursts,
        series=timeline.series,
        details=details,
        weight_writes=weight_writes,
    )
