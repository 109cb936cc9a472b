"""The burstd run: the real engine on a virtual clock against the simulated fleet.

Event-driven: the engine is called only when an input it reads changed or at the decision's ``wake_at``.
The inputs that change are: the state (a decision that begins or ends a burst is followed at once by
another), the desired replicas, a node becoming Ready, failing or gone, a stock-out
starting or ending (every change of the simulated cloud a watcher could see), a cluster status refresh
that publishes a change, and a quote refresh whose answer differs from the last one. Quotes are refreshed
on a grid of ``quoteTTL`` from the start of the trace (the answer at a grid point is the provider's as it
stands then), asked only after the cloud changed since the last refresh: so they are the same however
often the engine is called. Time stamps alone (``observed_at``) are no input change: the workload and the
pools are seen as they are and the cluster status is at most one ``statusRefresh`` old, so with
``signalMaxAge`` at least ``statusRefresh`` nothing the engine reads ever turns stale. A shorter
``signalMaxAge`` makes the published status stale in part of each refresh period: the engine is then also
called in that part and at each refresh (see :meth:`BurstdRun._stale_after`).

Everything else that depends on time is the engine's to say in ``wake_at`` (trigger ``for`` timers,
the stabilization window, ``minBurstDuration``, back-offs, ``provisionTimeout``, shift and drain
intervals, schedules, the forecast). ``tests/sim/test_wakes.py`` checks it: the run with the daemon's old
60 s tick forced on (``tick=60``) gives the same results.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from burstd.model.actions import Action, Alert, Hold, MarkMachines, Rebalance, ScalePool, SetWeights, describe
from burstd.model.decision import Decision
from burstd.model.state import BurstState, Phase
from burstd.model.world import World
from burstd.policy.spec import BurstPolicy
from burstd.sim.binding import Binding
from burstd.sim.cloud import SimCloud, pack
from burstd.sim.metrics import RunResult, Timeline, result_from
from burstd.sim.scenario import Scenario
from burstd.sim.world import WorldBuilder, cluster_numbers

Decider = Callable[[World, BurstPolicy, BurstState, float], Decision]
Log = Callable[[str], None]

#: the daemon's old tick: how often ``tick=LEGACY_TICK_S`` calls the engine at least (tests, benchmarks)
LEGACY_TICK_S = 60.0
#: how many times in a row the engine is called again at once because a burst began or ended
MAX_AGAIN = 3


class EngineFailed(RuntimeError):
    """The decider raised; says when (virtual time) and what."""


class BurstdRun:
    """One burstd run. ``tick`` (seconds) also calls the engine at least that often, as the daemon's loop
    would: only for tests and benchmarks that check that no ``wake_at`` is missed (the results must not
    change); None, the default, calls it only when an input changed or at ``wake_at``."""

    def __init__(
        self, scenario: Scenario, decider: Decider, log: Log | None = None, *, tick: float | None = None
    ) -> None:
        if tick is not None and not tick > 0:
            raise ValueError(f"tick must be a positive number of seconds, got {tick!r}")
        self.s = scenario
        self.decider = decider
        self.log = log
        self.tick = tick
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
        #: the next quote refresh (a point of the quote grid), once the cloud changed since the last one
        self.quote_due = math.inf
        self._quoted_version = -1
        max_age = scenario.policy.spec.safety.signal_max_age
        lag = scenario.status_refresh
        #: the part of each status refresh period in which the published status is stale (None: never)
        self._stale = (max_age, lag) if lag > 0 and max_age < lag else None
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
        again = 0
        self._refresh_quotes(t)
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
            previous = state.phase
            new_phase = decision.state.phase != previous
            if self.log is not None and new_phase:
                self.log(f"{self._when(t)} burstd phase {previous.value} -> {decision.state.phase.value}")
            state = decision.state
            if self._apply(decision.actions, t):
                self._settle(t, desired)
            if self.cloud.version != self._quoted_version:
                self.quote_due = min(self.quote_due, self._quote_grid(t, after=True))
            # The state is an input too: a burst that just began, or just ended, is decided on again at
            # once, as the daemon would at its next round (the engine sizes a burst once it runs, and
            # starts one from Idle only on its triggers). Other phase changes only name what is in flight.
            began_or_ended = new_phase and Phase.IDLE in (decision.state.phase, previous)
            again = again + 1 if began_or_ended else 0
            if began_or_ended and again <= MAX_AGAIN:
                continue
            wake = math.inf
            if decision.wake_at is not None and decision.wake_at - s.epoch > t:
                wake = decision.wake_at - s.epoch
            tick_due = t + self.tick if self.tick is not None else math.inf
            stale_due = self._stale_after(t)
            while True:
                next_sample = s.times[nxt] if nxt < len(s.times) else math.inf
                t = min(
                    next_sample,
                    self.cloud.next_event(),
                    wake,
                    tick_due,
                    stale_due,
                    self.refresh_due,
                    self.quote_due,
                )
                if t >= s.end:
                    return self._finish()
                changed = t >= wake or t >= tick_due or t >= stale_due
                if t >= self.refresh_due:
                    self.refresh_due = math.inf
                    changed = True
                while nxt < len(s.times) and s.times[nxt] <= t:
                    changed = changed or s.replicas[nxt] != desired
                    desired = s.replicas[nxt]
                    nxt += 1
                if self.cloud.advance(t):
                    changed = True
                    self.quote_due = min(self.quote_due, self._quote_grid(t, after=False))
                if t >= self.quote_due and self._refresh_quotes(t):
                    changed = True
                if changed:
                    self._settle(t, desired)
                    break
                stale_due = self._stale_after(t)

    def _quote_grid(self, t: float, *, after: bool) -> float:
        """The first point of the quote grid at (``after``: strictly after) ``t``."""
        ttl = self.s.quote_ttl
        k = math.floor(t / ttl)
        while k * ttl < t or (after and k * ttl <= t):
            k += 1
        return k * ttl

    def _refresh_quotes(self, t: float) -> bool:
        """Ask the quotes at ``t`` (a point of the quote grid). True when an answer changed."""
        changed = self.world.refresh_quotes(self.cloud, t)
        self._quoted_version = self.cloud.version
        # A pool the provider cannot answer for is asked again at every grid point (the daemon asks again
        # every round after an error), and its last good quote expires meanwhile.
        self.quote_due = self._quote_grid(t, after=True) if self.world.quote_errors() else math.inf
        return changed

    def _stale_after(self, t: float) -> float:
        """The next time after ``t`` that the published cluster status turns stale or fresh again, when
        ``signalMaxAge`` is shorter than ``statusRefresh``: a call in the middle of the stale part of each
        refresh period, and one at each refresh (inf otherwise)."""
        if self._stale is None:
            return math.inf
        max_age, lag = self._stale
        r = math.floor(t / lag) * lag
        stale = r + (max_age + lag) / 2
        return stale if stale > t else r + lag

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


def run_burstd(
    scenario: Scenario, decider: Decider, log: Log | None = None, *, tick: float | None = None
) -> RunResult:
    """Run burstd on ``scenario``; ``tick``: see :class:`BurstdRun` (tests and benchmarks only)."""
    return BurstdRun(scenario, decider, log, tick=tick).run()
