"""The simulated cloud: node pools whose machines launch, become Ready after the provisioning delay, fail,
run out of stock, are deleted after the deletion delay, and are billed per second from launch to deletion.

Behind it is the cloud's provider, a FakeProvider scripted from the fleet (``burstd.sim.provider``): every
machine is an instance there, launched through it (so a launch meets its stock and quota) and released
when the machine is gone; random stock-outs are written into its stock timeline; the burstd run quotes it.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from burstd.cloud import QuotaExceeded, Quote, StockOut
from burstd.sim.provider import simulated_provider, stock_timeline
from burstd.sim.scenario import PoolModel, Scenario

#: how long a capacity backend waits before it launches a failed machine again
LAUNCH_RETRY_S = 60.0

LAUNCHING, READY, DELETING, GONE = 0, 1, 2, 3
_READY, _FAIL, _GONE, _RETRY, _WINDOW = 0, 1, 2, 3, 4


@dataclass(slots=True, eq=False)
class Machine:
    name: str
    seq: int
    launched_at: float
    state: int = LAUNCHING
    marked: bool = False
    gone_at: float | None = None
    #: the provider's instance id
    instance: str = ""


@dataclass(slots=True, eq=False)
class SimPool:
    model: PoolModel
    rng: random.Random
    machines: list[Machine] = field(default_factory=list)  # not gone, in launch order
    billed: list[Machine] = field(default_factory=list)  # every machine ever launched
    failed_slots: list[float] = field(default_factory=list)  # retry times of launches that failed
    windows: list[tuple[float, float]] = field(default_factory=list)  # stock-out windows, by start
    launches: int = 0
    failed_launches: int = 0
    stock_out_failures: int = 0
    quota_failures: int = 0
    seq: int = 0
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # machines per state

    def count(self, state: int) -> int:
        return self.counts[state]

    @property
    def desired(self) -> int:
        """Nodes asked for: machines not being deleted plus failed launches waiting for a retry."""
        return self.counts[LAUNCHING] + self.counts[READY] + len(self.failed_slots)

    def set_state(self, machine: Machine, state: int) -> None:
        self.counts[machine.state] -= 1
        self.counts[state] += 1
        machine.state = state

    def stock_out(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.windows)

    def node_seconds(self, start: float, end: float) -> float:
        total = 0.0
        for m in self.billed:
            stop = end if m.gone_at is None else min(m.gone_at, end)
            total += max(0.0, stop - max(m.launched_at, start))
        return total


class SimCloud:
    """All pools of one run, with their pending events (Ready, failure, deletion, retry, stock change)."""

    def __init__(self, scenario: Scenario, tag: str, *, retry_failed: bool = True) -> None:
        self.scenario = scenario
        self.retry_failed = retry_failed
        self.pools = {
            p.name: SimPool(p, random.Random(f"{scenario.seed}:{tag}:{p.name}")) for p in scenario.pools
        }
        self._heap: list[tuple[float, int, int, str, Machine | None]] = []
        self._seq = 0
        #: bumped on every change a watcher could see
        self.version = 0
        self._ready_cache: tuple[int, dict[str, int]] = (-1, {})
        self._alloc_cache: tuple[int, tuple[tuple[str, float, float], ...]] = (-1, ())
        #: the simulation's clock as the provider reads it
        self.now = 0.0
        self.provider = simulated_provider(scenario, lambda: self.now)
        self.specs = {p.name: p for p in scenario.policy.spec.burst.pools}
        for pool in self.pools.values():
            pool.windows = sorted(pool.model.stock_outs)
            for a, b in pool.windows:
                self._push(a, _WINDOW, pool.model.name, None)
                self._push(b, _WINDOW, pool.model.name, None)
            for _ in range(pool.model.min_nodes):
                instance = self.provider.add_instance(pool.model.name)
                pool.set_state(self._new_machine(pool, 0.0, instance), READY)

    # -- events -------------------------------------------------------------------------------------------
    def _push(self, t: float, kind: int, pool: str, machine: Machine | None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, pool, machine))

    def next_event(self) -> float:
        return self._heap[0][0] if self._heap else float("inf")

    def advance(self, t: float) -> bool:
        """Apply every event due at or before ``t``. True when something a watcher could see changed."""
        changed = False
        while self._heap and self._heap[0][0] <= t:
            at, _, kind, name, machine = heapq.heappop(self._heap)
            self.now = at
            pool = self.pools[name]
            if kind == _READY and machine is not None and machine.state == LAUNCHING:
                pool.set_state(machine, READY)
                changed = True
            elif kind == _FAIL and machine is not None and machine.state == LAUNCHING:
                self._gone(pool, machine, at)
                self._failed(pool, at)
                changed = True
            elif kind == _GONE and machine is not None and machine.state == DELETING:
                self._gone(pool, machine, at)
                changed = True
            elif kind == _RETRY:
                due = [s for s in pool.failed_slots if s <= at]
                if due:
                    pool.failed_slots = [s for s in pool.failed_slots if s > at]
                    for _ in due:
                        self._launch(pool, at)
                    changed = True
            elif kind == _WINDOW:
                pool.windows = [(a, b) for a, b in pool.windows if b > at]
                changed = True
        self.now = max(self.now, t)
        if changed:
            self.version += 1
        return changed

    def quote(self, name: str, nodes: int, t: float) -> Quote:
        """The provider's quote for ``nodes`` more nodes in the pool at ``t`` (raises ProviderError)."""
        self.now = t
        return self.provider.quote_sync(self.specs[name], nodes)

    # -- actions ------------------------------------------------------------------------------------------
    def scale(self, name: str, nodes: int, t: float, pods: Mapping[str, int]) -> int:
        """Set the pool's node count. Returns the change in nodes asked for.

        Scale-up launches machines. Scale-down removes, in order: machines marked for deletion, failed
        launches, machines not yet Ready (newest first), then Ready machines with the fewest pods (newest
        first among equals); ``pods`` gives each machine's pod count.
        """
        pool = self.pools[name]
        self.now = t
        current = pool.desired
        nodes = max(0, nodes)
        if nodes > current:
            for _ in range(nodes - current):
                self._launch(pool, t)
        elif nodes < current:
            surplus = current - nodes
            live = [m for m in pool.machines if m.state != DELETING]
            marked = sorted((m for m in live if m.marked), key=lambda m: (pods.get(m.name, 0), -m.seq))
            for m in marked[:surplus]:
                self._delete(pool, m, t)
            surplus -= min(surplus, len(marked))
            drop = min(surplus, len(pool.failed_slots))
            if drop:
                pool.failed_slots = sorted(pool.failed_slots)[: len(pool.failed_slots) - drop]
                surplus -= drop
            rest = [m for m in live if not m.marked]
            order = sorted(rest, key=lambda m: (m.state == READY, pods.get(m.name, 0), -m.seq))
            for m in order[:surplus]:
                self._delete(pool, m, t)
        if nodes != current:
            self.version += 1
        return nodes - current

    def mark(self, name: str, machines: Iterable[str]) -> int:
        """Annotate machines for deletion first. Returns how many of the names were found."""
        wanted = set(machines)
        found = 0
        for m in self.pools[name].machines:
            if m.name in wanted and m.state != DELETING:
                if not m.marked:
                    self.version += 1
                m.marked = True
                found += 1
        return found

    def drop_failed(self, name: str) -> int:
        """Forget failed launches (lower the target), as Cluster Autoscaler does after a failed scale-up."""
        pool = self.pools[name]
        n = len(pool.failed_slots)
        pool.failed_slots = []
        if n:
            self.version += 1
        return n

    # -- internals ----------------------------------------------------------------------------------------
    def _new_machine(self, pool: SimPool, t: float, instance: str) -> Machine:
        pool.seq += 1
        machine = Machine(f"{pool.model.name}-{pool.seq:05d}", pool.seq, t, instance=instance)
        pool.counts[LAUNCHING] += 1
        pool.machines.append(machine)
        pool.billed.append(machine)
        return machine

    def _launch(self, pool: SimPool, t: float) -> None:
        model = pool.model
        pool.launches += 1
        self.now = t
        if not self.provider.in_stock_now(model.name):
            pool.stock_out_failures += 1
            self._failed(pool, t)
            return
        if model.stock_out_probability > 0 and pool.rng.random() < model.stock_out_probability:
            end = t + model.stock_out_duration
            pool.windows.append((t, end))
            pool.windows.sort()
            self.provider.set_pool(model.name, stock=stock_timeline(pool.windows))
            self._push(end, _WINDOW, model.name, None)
            pool.stock_out_failures += 1
            self._failed(pool, t)
            return
        try:
            [instance] = self.provider.launch(model.name)
        except StockOut:  # pragma: no cover - the stock was just checked on the same clock
            pool.stock_out_failures += 1
            self._failed(pool, t)
            return
        except QuotaExceeded:
            pool.quota_failures += 1
            self._failed(pool, t)
            return
        machine = self._new_machine(pool, t, instance.id)
        fails = model.launch_failure_probability > 0 and pool.rng.random() < model.launch_failure_probability
        if fails:
            self._push(t + model.provision_delay, _FAIL, model.name, machine)
        elif model.provision_delay <= 0:
            pool.set_state(machine, READY)
        else:
            self._push(t + model.provision_delay, _READY, model.name, machine)

    def _failed(self, pool: SimPool, t: float) -> None:
        pool.failed_launches += 1
        if self.retry_failed:
            pool.failed_slots.append(t + LAUNCH_RETRY_S)
            self._push(t + LAUNCH_RETRY_S, _RETRY, pool.model.name, None)

    def _delete(self, pool: SimPool, machine: Machine, t: float) -> None:
        pool.set_state(machine, DELETING)
        if pool.model.deletion_delay <= 0:
            self._gone(pool, machine, t)
        else:
            self._push(t + pool.model.deletion_delay, _GONE, pool.model.name, machine)

    def _gone(self, pool: SimPool, machine: Machine, t: float) -> None:
        pool.set_state(machine, GONE)
        machine.gone_at = t
        pool.machines.remove(machine)
        self.now = t
        self.provider.release(pool.model.name, [machine.instance])

    # -- views --------------------------------------------------------------------------------------------
    def existing(self) -> int:
        """Instances that exist and bill (launching, Ready or being deleted), over all pools."""
        return sum(p.counts[LAUNCHING] + p.counts[READY] + p.counts[DELETING] for p in self.pools.values())

    def ready_capacity(self) -> Mapping[str, int]:
        """Replicas each cloud cluster can run on its Ready nodes (cached until the next change)."""
        if self._ready_cache[0] != self.version:
            out = dict.fromkeys(self.scenario.cloud_clusters, 0)
            for p in self.pools.values():
                out[p.model.cluster] += p.model.replicas_per_node * p.counts[READY]
            self._ready_cache = (self.version, out)
        return self._ready_cache[1]

    def ready_allocatable(self) -> tuple[tuple[str, float, float], ...]:
        """(cluster, cpu, memory) that the Ready nodes of each cloud cluster offer (cached)."""
        if self._alloc_cache[0] != self.version:
            alloc = {c: [0.0, 0.0] for c in self.scenario.cloud_clusters}
            for p in self.pools.values():
                a = alloc[p.model.cluster]
                a[0] += p.counts[READY] * p.model.allocatable.cpu
                a[1] += p.counts[READY] * p.model.allocatable.memory
            self._alloc_cache = (self.version, tuple((c, a[0], a[1]) for c, a in alloc.items()))
        return self._alloc_cache[1]

    def cost(self, end: float) -> tuple[float, float]:
        """(cost, node-seconds) of every instance from launch to deletion, up to ``end``."""
        cost = 0.0
        seconds = 0.0
        for p in self.pools.values():
            s = p.node_seconds(0.0, end)
            seconds += s
            cost += s * p.model.price_per_node_hour / 3600.0
        return cost, seconds


def pack(cloud: SimCloud, served: Mapping[str, int]) -> dict[str, int]:
    """Pods per Ready machine: each cluster's served replicas packed onto its nodes, fullest first
    (oldest nodes filled first, so the newest are the emptiest)."""
    out: dict[str, int] = {}
    left = dict(served)
    for p in cloud.pools.values():
        cluster = p.model.cluster
        for m in p.machines:
            if m.state == READY:
                n = min(p.model.replicas_per_node, left.get(cluster, 0))
                out[m.name] = n
                left[cluster] = left.get(cluster, 0) - n
    return out
