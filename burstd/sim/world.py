"""Builds the engine's World snapshot from the simulated fleet.

Cluster summaries (Karmada ``Cluster.status.resourceSummary``) are refreshed on a grid of
``statusRefresh`` seconds and show the state as it was just before the last refresh; the workload
(ResourceBinding and FederatedHPA) and the pools (Cluster API, cloud API) are seen as they are; the cloud's
answers (stock, quota headroom, price) are those of the last quote refresh (:meth:`WorldBuilder.refresh_quotes`,
timed by the runner).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from burstd.model.world import ClusterSummary, MachineInfo, PoolState, Resources, WorkloadState, World
from burstd.sim.binding import Binding
from burstd.sim.cloud import DELETING, READY, Machine, SimCloud
from burstd.sim.provider import CloudAnswer, QuoteBook
from burstd.sim.scenario import Scenario

#: per cluster: (name, allocatable cpu, allocatable memory, served replicas, pending replicas)
ClusterNumbers = tuple[tuple[str, float, float, int, int], ...]


class WorldBuilder:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.lag = scenario.status_refresh
        self._history: list[tuple[float, ClusterNumbers]] = []
        self._cache_key: tuple[float, ClusterNumbers] | None = None
        self._cache: dict[str, ClusterSummary] = {}
        self._resources: dict[tuple[str, float, float, int, int], tuple[Resources, Resources, Resources]] = {}
        self._machines: dict[str, tuple[int, int, MachineInfo]] = {}  # name -> (state, pods, info)
        #: pool -> ((cloud version, pods version), machines) for reuse while nothing changed
        self._pool_machines: dict[str, tuple[tuple[int, int], tuple[MachineInfo, ...]]] = {}
        #: the run's quotes from the simulated cloud's provider, asked once per quote TTL
        self.quotes = QuoteBook(scenario)
        #: pool -> the cloud's answer at the last quote refresh
        self._answers: dict[str, CloudAnswer] = {}
        self._quoted_at = -math.inf

    def refresh_quotes(self, cloud: SimCloud, t: float) -> bool:
        """Ask every pool's quote at ``t`` (at least one quote TTL after the last refresh). True when an
        answer changed in a way the engine can act on: the quota headroom of a pool the fleet gives no
        quota (``NO_QUOTA`` less the instances that exist, never near a limit) is shown as it is but
        changes nothing by itself."""
        asked_at = t
        while asked_at - self._quoted_at < self.quotes.ttl:  # a grid point rounded below one TTL
            asked_at = math.nextafter(asked_at, math.inf)
        self._quoted_at = asked_at
        changed = False
        for name, pool in cloud.pools.items():
            answer = self.quotes.answer(cloud.quote, name, pool.desired, asked_at)
            before = self._answers.get(name)
            if before == answer:
                continue
            self._answers[name] = answer
            if (
                before is None
                or pool.model.quota is not None
                or replace(before, quota_headroom=answer.quota_headroom) != answer
            ):
                changed = True
        return changed

    def quote_errors(self) -> bool:
        """Whether the provider could not answer for some pool at the last refresh."""
        return any(a.unavailable is not None for a in self._answers.values())

    def record(self, t: float, numbers: ClusterNumbers) -> float | None:
        """Note the clusters' state from ``t`` on. Returns when a status refresh will publish a change."""
        history = self._history
        if history and history[-1][1] == numbers:
            return None
        if not history:
            history.append((-math.inf, numbers))
            return None
        if history[-1][0] == t:
            history[-1] = (t, numbers)
        else:
            history.append((t, numbers))
        if self.lag <= 0:
            return None
        due = (math.floor(t / self.lag) + 1) * self.lag
        return due if due > t else due + self.lag

    def published(self, t: float) -> tuple[float, ClusterNumbers]:
        """(refresh time, numbers) of the cluster status visible at ``t``."""
        history = self._history
        if self.lag <= 0:
            return t, history[-1][1]
        r = math.floor(t / self.lag) * self.lag
        while len(history) > 1 and history[1][0] < r:
            history.pop(0)
        return r, history[0][1]

    def _first_published(self, r: float) -> float:
        """When the numbers visible at refresh ``r`` were first published: the first refresh after they
        changed (Karmada writes a Cluster's status only when it changed); 0 for the initial numbers."""
        if self.lag <= 0:  # no lag: every summary is current
            return r
        since = self._history[0][0]
        if since == -math.inf:  # the numbers the run started with
            return 0.0
        return (math.floor(since / self.lag) + 1) * self.lag

    def clusters(self, t: float) -> dict[str, ClusterSummary]:
        r, numbers = self.published(t)
        key = (r, numbers)
        if key != self._cache_key:
            observed = self.s.epoch + r
            changed = self.s.epoch + self._first_published(r)
            self._cache = {}
            for entry in numbers:
                resources = self._resources.get(entry)
                if resources is None:
                    _, cpu, mem, served, pending = entry
                    req = self.s.request
                    resources = (
                        Resources(cpu, mem),
                        Resources(req.cpu * served, req.memory * served),
                        Resources(req.cpu * pending, req.memory * pending),
                    )
                    if len(self._resources) > 4096:
                        self._resources.clear()
                    self._resources[entry] = resources
                self._cache[entry[0]] = ClusterSummary(entry[0], *resources, True, observed, changed)
            self._cache_key = key
        return self._cache

    def build(
        self,
        t: float,
        desired: int,
        binding: Binding,
        served: Mapping[str, int],
        cloud: SimCloud,
        pods: Mapping[str, int],
        pods_version: int = -1,
    ) -> World:
        """The snapshot at ``t``. ``pods_version`` names the content of ``pods`` (-1: unknown, no reuse)."""
        now = self.s.epoch + t
        workload = WorkloadState(
            key=self.s.workload,
            desired_replicas=desired,
            request=self.s.request,
            replicas_by_cluster=binding.assigned,  # the binding replaces its dicts, never edits them
            ready_by_cluster=served,
            unschedulable_replicas=binding.unscheduled,
            observed_at=now,
            weights=binding.weights,
        )
        pools = {}
        for name, pool in cloud.pools.items():
            key = (cloud.version, pods_version)
            cached_pool = self._pool_machines.get(name)
            if pods_version >= 0 and cached_pool is not None and cached_pool[0] == key:
                machines = cached_pool[1]
            else:
                machines = self._machine_infos(pool.machines, pods)
                self._pool_machines[name] = (key, machines)
            cloud_says = self._answers.get(name)
            if cloud_says is None:
                self.refresh_quotes(cloud, t)
                cloud_says = self._answers[name]
            pools[name] = PoolState(
                name=name,
                desired=pool.desired,
                ready=pool.count(READY),
                existing=len(pool.machines),
                failed=len(pool.failed_slots),
                observed_at=now,
                machines=machines,
                stock_out=cloud_says.stock_out,
                price_per_node_hour=cloud_says.price_per_node_hour,
                quota_headroom=cloud_says.quota_headroom,
                unavailable=cloud_says.unavailable,
                unavailable_reason=cloud_says.unavailable_reason,
            )
        return World(clusters=self.clusters(t), workloads=(workload,), pools=pools)

    def _machine_infos(self, machines: Sequence[Machine], pods: Mapping[str, int]) -> tuple[MachineInfo, ...]:
        known = self._machines
        infos = []
        for m in machines:
            n = pods.get(m.name, 0)
            cached = known.get(m.name)
            if cached is None or cached[0] != m.state or cached[1] != n:
                info = MachineInfo(
                    m.name, m.state == READY, n, self.s.epoch + m.launched_at, m.state == DELETING
                )
                known[m.name] = (m.state, n, info)
            else:
                info = cached[2]
            infos.append(info)
        return tuple(infos)


def cluster_numbers(
    scenario: Scenario, binding: Binding, served: Mapping[str, int], cloud: SimCloud
) -> ClusterNumbers:
    out = []
    req = scenario.request
    assigned = binding.assigned
    for name, cap in scenario.base_capacity:
        s = served.get(name, 0)
        out.append((name, req.cpu * cap, req.memory * cap, s, assigned.get(name, 0) - s))
    for name, cpu, mem in cloud.ready_allocatable():
        s = served.get(name, 0)
        out.append((name, cpu, mem, s, assigned.get(name, 0) - s))
    return tuple(out)
