"""The burstd run: the real engine on a virtual clock against the simulated fleet.

Event-driven: the engine is called when the desired replicas change, when a node becomes Ready, fails or
is gone, when a stock-out starts or ends, when a cluster status refresh publishes a change, at the
decision's ``wake_at``, and at least every ``MAX_QUIET_S`` seconds (the daemon's tick).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from burstd.model.actions import Action, Alert, Hold, MarkMachines, Rebalance, ScalePool, SetWeights, describe
from burstd.model.decision import Decision
from burstd.model.state import BurstState
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.binding import Binding
from burstd.sim.cloud import SimCloud, pack
from burstd.sim.metrics import RunResult, Timeline, result_from
from burstd.sim.scenario import Scenario
from burstd.sim.world import WorldBuilder, cluster_numbers

Decider = Callable[[World, BurstPolicy, BurstState, float], Decision]
Log = Callable[[str], None]

#: the engine is called at least this often, even if nothing changes
MAX_QUIET_S = 60.0


class EngineFailed(RuntimeError):
    """The decider raised; says when (virtual time) and what."""


class BurstdRun:
    def __init__(self, scenario: Scenario, decider: Decider, log: Log | None = None) -> None:
        self.s = scenario
        self.decider = decider
        self.log = log
        self.cloud = SimCloud(scenario, "burstd", retry_failed=True)
        self.binding = Binding(scenario.mode, scenario.base_clusters, scenario.cloud_clusters)
        self.timeline = Timeline(scenario.base_replicas)
        self.world = WorldBuilder(scenario)
        self.base_capacity = dict(scenario.base_capacity)
        #: replicas running per cluster (clusters with none left out); replaced, never changed in place
        self.served: dict[str, int] = {}
        self._capacity: tuple[int, dict[str, int], int] = (-1, {}, 0)
        self._pods: dict[str, int] | None = None
        self._pods_version = 0
        self._pods_cloud = -1
        self.refresh_due = math.inf
        self.applied: Counter[str] = Counter()
        self.alerts: Counter[str] = Counter()
        self.holds = 0
        self.calls = 0
        self.ignored: Counter[str] = Counter()

    def run(self) -> RunResult:
        s = self.s
        state = BurstState(phase_since=s.epoch)
        desired = s.replicas[0]
        nxt = 1
        t = 0.0
        self._settle(t, desired)
        while True:
            world = self.world.build(
                t, desired, self.binding, self.served, self.cloud, self.pods(), self._pods_version
            )
            try:
                decision = self.decider(world, s.policy, state, s.epoch + t)
            except Exception as exc:
                raise EngineFailed(
                    f"the engine raised at {self._when(t)} (t={t:.15g}s into the trace): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            self.calls += 1
            if self.log is not None and decision.state.phase != state.phase:
                self.log(f"{self._when(t)} burstd phase {state.phase.value} -> {decision.state.phase.value}")
            state = decision.state
            if self._apply(decision.actions, t):
                self._settle(t, desired)
            last_call = t
            wake = math.inf
            if decision.wake_at is not None and decision.wake_at - s.epoch > t:
                wake = decision.wake_at - s.epoch
            while True:
                next_sample = s.times[nxt] if nxt < len(s.times) else math.inf
                t = min(next_sample, self.cloud.next_event(), wake, last_call + MAX_QUIET_S, self.refresh_due)
                if t >= s.end:
                    return self._finish()
                changed = t >= wake or t >= last_call + MAX_QUIET_S
                if t >= self.refresh_due:
                    self.refresh_due = math.inf
                    changed = True
                while nxt < len(s.times) and s.times[nxt] <= t:
                    desired = s.replicas[nxt]
                    nxt += 1
                    changed = True
                if self.cloud.advance(t):
                    changed = True
                if changed:
                    self._settle(t, desired)
                    break

    def _settle(self, t: float, desired: int) -> None:
        """Let Karmada schedule, then record what is served."""
        if self._capacity[0] != self.cloud.version:
            capacity = dict(self.base_capacity)
            capacity.update(self.cloud.ready_capacity())
            self._capacity = (self.cloud.version, capacity, sum(capacity.values()))
        _, capacity, total = self._capacity
        self.timeline.moves += self.binding.update(desired, capacity)
        served = {c: m for c, n in self.binding.assigned.items() if (m := min(n, capacity.get(c, 0))) > 0}
        if served != self.served:
            self.served = served
            self._pods = None
        self.timeline.update(t, desired, sum(self.served.values()), total, self.cloud.existing())
        due = self.world.record(t, cluster_numbers(self.s, self.binding, self.served, self.cloud))
        if due is not None:
            self.refresh_due = min(self.refresh_due, due)

    def pods(self) -> dict[str, int]:
        """Pods per Ready machine (computed when first needed after a change)."""
        if self._pods is None or self._pods_cloud != self.cloud.version:
            self._pods = pack(self.cloud, self.served)
            self._pods_cloud = self.cloud.version
            self._pods_version += 1
        return self._pods

    def _apply(self, actions: tuple[Action, ...], t: float) -> bool:
        """Apply a plan; True when it changed anything."""
        changed = False
        for action in actions:
            match action:
                case ScalePool(pool=pool, nodes=nodes):
                    if pool not in self.cloud.pools:
                        self.ignored["ScalePool: unknown pool"] += 1
                        continue
                    self.cloud.scale(pool, nodes, t, self.pods())
                case MarkMachines(pool=pool, machines=machines):
                    if pool not in self.cloud.pools:
                        self.ignored["MarkMachines: unknown pool"] += 1
                        continue
                    self.cloud.mark(pool, machines)
                case SetWeights(workload=workload, weights=weights):
                    if workload != self.s.workload:
                        self.ignored["SetWeights: other workload"] += 1
                        continue
                    self.binding.set_weights(weights)
                case Rebalance(workloads=workloads):
                    if self.s.workload in workloads:
                        self.binding.rebalance()
                case Hold():
                    self.holds += 1
                    continue
                case Alert(code=code):
                    self.alerts[code] += 1
            if not isinstance(action, Alert):
                self.applied[type(action).__name__] += 1
                changed = True
            if self.log is not None:
                self.log(f"{self._when(t)} burstd {describe(action)}")
        return changed

    def _finish(self) -> RunResult:
        s = self.s
        self.timeline.finish(s.end)
        cost, seconds = self.cloud.cost(s.end)
        pools = self.cloud.pools.values()
        details = {
            "decide_calls": self.calls,
            "actions_by_kind": dict(sorted(self.applied.items())),
            "holds": self.holds,
            "alerts": dict(sorted(self.alerts.items())),
            "launches": sum(p.launches for p in pools),
            "failed_launches": sum(p.failed_launches for p in pools),
            "ignored_actions": dict(sorted(self.ignored.items())),
        }
        return result_from(
            "burstd", self.timeline, cost, seconds, s.currency, sum(self.applied.values()), details
        )

    def _when(self, t: float) -> str:
        return datetime.fromtimestamp(self.s.epoch + t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_burstd(scenario: Scenario, decider: Decider, log: Log | None = None) -> RunResult:
    return BurstdRun(scenario, decider, log).run()
