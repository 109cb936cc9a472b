"""The reactive baseline: what Cluster Autoscaler does with the same fleet.

Replicas beyond the base's capacity go to the cloud (an ideal overflow division, recomputed at every
change). A scan every 10 s: pending cloud replicas trigger a scale-up of exactly the nodes needed (counting
nodes still launching), in the policy's listed pool order, skipping pools out of stock, within each pool's
maximum and ``spec.limits.maxCloudNodes``; a node is removed once it has been unneeded (utilisation below
50 % and its pods fit on the other nodes) for 10 minutes. Event-driven: scans happen on the 10 s grid, only
when something changed or a timer runs out.

``spare_replicas`` models the overprovisioning SREs run beside Cluster Autoscaler: a deployment of
low-priority pause pods worth that many replicas. They are divided like the workload's replicas but after
them (any replica preempts a pause pod), so Cluster Autoscaler keeps room for ``spare`` more replicas than
the demand: pause pods that fit nowhere are pending and trigger a scale-up, and pause pods count in a
node's utilisation at scale-down. With ``spare_replicas = 0`` the run is exactly the plain baseline.
"""

from __future__ import annotations

import math

from burstd.sim.cloud import LAUNCHING, READY, SimCloud, pack
from burstd.sim.karmada import moves
from burstd.sim.metrics import RunResult, Timeline, result_from
from burstd.sim.scenario import Scenario

SCAN_INTERVAL_S = 10.0
SCALE_DOWN_UNNEEDED_S = 600.0
SCALE_DOWN_UTILISATION = 0.5


class ReactiveRun:
    def __init__(self, scenario: Scenario, spare_replicas: int = 0) -> None:
        if spare_replicas < 0:
            raise ValueError(f"spare_replicas must not be negative, got {spare_replicas}")
        self.s = scenario
        self.spare = spare_replicas
        self.cloud = SimCloud(scenario, "reactive", retry_failed=False)
        self.timeline = Timeline(scenario.base_replicas)
        self.assigned: dict[str, int] = {}
        self.served: dict[str, int] = {}
        #: replicas and pause pods running per cluster (what fills the nodes)
        self.pods: dict[str, int] = {}
        self.unneeded_since: dict[str, float] = {}
        self.actions = 0
        self.scans = 0

    def run(self) -> RunResult:
        s = self.s
        desired = s.replicas[0]
        nxt = 1
        t = 0.0
        scan_due = 0.0
        self._settle(t, desired)
        while True:
            next_sample = s.times[nxt] if nxt < len(s.times) else math.inf
            t = min(next_sample, self.cloud.next_event(), scan_due)
            if t >= s.end:
                break
            changed = False
            while nxt < len(s.times) and s.times[nxt] <= t:
                desired = s.replicas[nxt]
                nxt += 1
                changed = True
            if self.cloud.advance(t):
                changed = True
            if changed:
                self._settle(t, desired)
                scan_due = min(scan_due, _grid_up(t))
            if t >= scan_due:
                scan_due = self._scan(t, desired)
                self._settle(t, desired)
        self.timeline.finish(s.end)
        cost, seconds = self.cloud.cost(s.end)
        pools = self.cloud.pools.values()
        details = {
            "spare_replicas": self.spare,
            "scans": self.scans,
            "launches": sum(p.launches for p in pools),
            "failed_launches": sum(p.failed_launches for p in pools),
        }
        return result_from("reactive", self.timeline, cost, seconds, s.currency, self.actions, details)

    def _settle(self, t: float, desired: int) -> None:
        """Ideal overflow: the base first, then the cloud clusters' Ready capacity in pool order."""
        left = desired
        served: dict[str, int] = {}
        for name, cap in self.s.base_capacity:
            served[name] = min(left, cap)
            left -= served[name]
        cloud_cap = self.cloud.ready_capacity()
        for name in self.s.cloud_clusters:
            served[name] = min(left, cloud_cap[name])
            left -= served[name]
        self.timeline.moves += moves(self.assigned, served)
        self.assigned = served
        self.served = served
        if self.spare:
            pods = dict(served)
            spare = self.spare
            for name, cap in self.s.base_capacity:
                extra = min(spare, cap - served[name])
                pods[name] += extra
                spare -= extra
            for name in self.s.cloud_clusters:
                extra = min(spare, cloud_cap[name] - served[name])
                pods[name] += extra
                spare -= extra
            self.pods = pods
        else:
            self.pods = served
        capacity = self.s.base_replicas + sum(cloud_cap.values())
        self.timeline.update(t, desired, sum(served.values()), capacity, self.cloud.existing())

    def _scan(self, t: float, desired: int) -> float:
        """One Cluster Autoscaler loop at ``t``. Returns when the next scan is due if nothing changes."""
        self.scans += 1
        s = self.s
        cloud = self.cloud
        for name in cloud.pools:
            cloud.drop_failed(name)
        cloud_cap = sum(cloud.ready_capacity().values())
        launching = sum(p.model.replicas_per_node * p.count(LAUNCHING) for p in cloud.pools.values())
        need = desired + self.spare - s.base_replicas - cloud_cap - launching
        failed_before = sum(p.failed_launches for p in cloud.pools.values())
        scaled_up = False
        if need > 0:
            total = sum(p.desired for p in cloud.pools.values())
            for pool in cloud.pools.values():
                if need <= 0:
                    break
                if pool.stock_out(t):
                    continue
                room = pool.model.max_nodes - pool.desired
                if s.max_cloud_nodes is not None:
                    room = min(room, s.max_cloud_nodes - total)
                n = min(math.ceil(need / pool.model.replicas_per_node), room)
                if n <= 0:
                    continue
                cloud.scale(pool.model.name, pool.desired + n, t, {})
                self.actions += 1
                scaled_up = True
                total += n
                need -= n * pool.model.replicas_per_node
        if sum(p.failed_launches for p in cloud.pools.values()) > failed_before:
            return t + SCAN_INTERVAL_S  # a launch failed at once (no stock): try the other pools next scan
        if scaled_up:
            self.unneeded_since.clear()
            return math.inf
        return self._scale_down(t)

    def _scale_down(self, t: float) -> float:
        cloud = self.cloud
        if not any(p.counts[READY] for p in cloud.pools.values()):
            self.unneeded_since.clear()
            return math.inf
        pods = pack(cloud, self.pods)
        unneeded: set[str] = set()
        for cluster in self.s.cloud_clusters:
            nodes = [
                (p, m)
                for p in cloud.pools.values()
                if p.model.cluster == cluster
                for m in p.machines
                if m.state == READY
            ]
            free = sum(p.model.replicas_per_node - pods.get(m.name, 0) for p, m in nodes)
            removable = {p.model.name: p.desired - p.model.min_nodes for p in cloud.pools.values()}
            for p, m in sorted(nodes, key=lambda pm: (pods.get(pm[1].name, 0), -pm[1].seq)):
                n = pods.get(m.name, 0)
                own_free = p.model.replicas_per_node - n
                if removable[p.model.name] <= 0:
                    continue
                if p.model.utilisation(n, self.s.request) >= SCALE_DOWN_UTILISATION:
                    continue
                if n > free - own_free:
                    continue
                unneeded.add(m.name)
                removable[p.model.name] -= 1
                free -= own_free + n
        for name in list(self.unneeded_since):
            if name not in unneeded:
                del self.unneeded_since[name]
        for name in unneeded:
            self.unneeded_since.setdefault(name, t)
        for pool in cloud.pools.values():
            expired = [
                m.name
                for m in pool.machines
                if m.state == READY and t - self.unneeded_since.get(m.name, math.inf) >= SCALE_DOWN_UNNEEDED_S
            ]
            if expired:
                cloud.mark(pool.model.name, expired)
                cloud.scale(pool.model.name, pool.desired - len(expired), t, pods)
                self.actions += 1
                for name in expired:
                    del self.unneeded_since[name]
        if not self.unneeded_since:
            return math.inf
        return _grid_up(min(self.unneeded_since.values()) + SCALE_DOWN_UNNEEDED_S)


def _grid_up(t: float) -> float:
    """The first scan time at or after ``t`` (scans run every 10 s from the trace start)."""
    return math.ceil(t / SCAN_INTERVAL_S - 1e-9) * SCAN_INTERVAL_S


def run_reactive(scenario: Scenario, spare_replicas: int = 0) -> RunResult:
    """The reactive baseline; ``spare_replicas`` of overprovisioning pause pods (0: none)."""
    return ReactiveRun(scenario, spare_replicas).run()
