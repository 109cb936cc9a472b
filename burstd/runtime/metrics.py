"""The daemon's Prometheus metrics (the catalogue is in docs/metrics.md; keep the two in step).

Cost and node-second totals come from the persisted ledger of each policy's burst state, so they survive
restarts and leader changes: they are exported as counters by a collector that reads the latest state,
not incremented in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from burstd import __version__
from burstd.engine.ledger import cost_by_currency
from burstd.model.cloud import Quote
from burstd.model.state import BurstState, Phase

__all__ = ["CloudPoolFigures", "Metrics", "PolicyView", "WatchedResource"]

# No `<counter>_created` series: they double the series count and no dashboard of ours reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]


#: the values of ``burstd_policy_held``'s ``reason`` label (each set to 0 or 1 for every policy)
HELD_REASONS = (
    "WeightsChangedExternally",
    "RefusedTarget",
    "CorruptState",
    "NotObserved",
    "TargetConflict",
    "Paused",
    "KillSwitch",
)


@dataclass(slots=True)
class PolicyView:
    """What the state collector exports for one policy (replaced after every evaluation)."""

    state: BurstState
    currency: str
    nodes: Mapping[str, int] = field(default_factory=dict)  # pool -> cloud nodes that exist and bill
    ready: Mapping[str, int] = field(default_factory=dict)  # pool -> cloud nodes Ready


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.views: dict[str, PolicyView] = {}

    def collect(self) -> Iterator[Metric]:
        phase = GaugeMetricFamily(
            "burstd_policy_phase",
            "1 for the burst phase each policy is in, 0 for the others",
            labels=["policy", "phase"],
        )
        cost = CounterMetricFamily(
            "burstd_cloud_cost", "Cloud cost accounted by the policy's ledger", labels=["policy", "currency"]
        )
        node_seconds = CounterMetricFamily(
            "burstd_cloud_node_seconds", "Cloud node-seconds accounted per pool", labels=["policy", "pool"]
        )
        pool_cost = CounterMetricFamily(
            "burstd_cloud_pool_cost",
            "Cloud cost accounted per pool at its price (the quote for price.source: provider)",
            labels=["policy", "pool", "currency"],
        )
        unpriced = CounterMetricFamily(
            "burstd_cloud_unpriced_node_seconds",
            "Cloud node-seconds accounted while the pool had no price (in no cost)",
            labels=["policy", "pool"],
        )
        burst_cost = GaugeMetricFamily(
            "burstd_cloud_burst_cost",
            "Cloud cost of the burst in progress so far (0 when Idle)",
            labels=["policy", "currency"],
        )
        nodes = GaugeMetricFamily(
            "burstd_cloud_nodes", "Cloud nodes that exist (and bill) per pool", labels=["policy", "pool"]
        )
        ready = GaugeMetricFamily(
            "burstd_cloud_nodes_ready", "Cloud nodes Ready per pool", labels=["policy", "pool"]
        )
        target = GaugeMetricFamily(
            "burstd_pool_target_nodes", "Nodes burstd asked each pool for", labels=["policy", "pool"]
        )
        shifted = GaugeMetricFamily(
            "burstd_cloud_replicas_target", "Cloud replicas the current burst aims for", labels=["policy"]
        )
        alerts = GaugeMetricFamily(
            "burstd_alert_active", "1 while an alert code is raised for the policy", labels=["policy", "code"]
        )
        bursts = CounterMetricFamily("burstd_bursts", "Bursts started", labels=["policy"])
        for name, view in sorted(self.views.items()):
            st = view.state
            for p in Phase:
                phase.add_metric([name, p.value], 1.0 if st.phase is p else 0.0)
            ledger = st.ledger
            for currency, amount in sorted(
                cost_by_currency(ledger.pools.values(), ledger.cost, view.currency).items()
            ):
                cost.add_metric([name, currency], amount)
            for pool, secs in sorted(ledger.node_seconds.items()):
                node_seconds.add_metric([name, pool], secs)
            for pool, pc in sorted(ledger.pools.items()):
                pool_cost.add_metric([name, pool, pc.currency or view.currency], pc.cost)
                unpriced.add_metric([name, pool], pc.unpriced_seconds)
            in_burst = ledger.burst.pools.values() if ledger.burst is not None else ()
            for currency, amount in sorted(
                (cost_by_currency(in_burst, None, view.currency) or {view.currency: 0.0}).items()
            ):
                burst_cost.add_metric([name, currency], amount)
            for pool, n in sorted(view.nodes.items()):
                nodes.add_metric([name, pool], float(n))
            for pool, n in sorted(view.ready.items()):
                ready.add_metric([name, pool], float(n))
            for pool, n in sorted(st.pool_targets.items()):
                target.add_metric([name, pool], float(n))
            shifted.add_metric([name], float(st.target_cloud_replicas))
            for code in st.alerts:
                alerts.add_metric([name, code], 1.0)
            bursts.add_metric([name], float(st.bursts))
        yield from (phase, cost, node_seconds, pool_cost, unpriced, burst_cost, nodes, ready, target, shifted)
        yield from (alerts, bursts)


@dataclass(frozen=True, slots=True)
class CloudPoolFigures:
    """What the cloud said about one pool, for ``burstd_cloud_quote_*``, ``burstd_cloud_quota_headroom_nodes``,
    ``burstd_cloud_orphaned_instances`` and ``burstd_cloud_instances`` (from ``CloudView.figures``)."""

    policy: str
    pool: str
    provider: str
    quote: Quote | None
    orphans: int
    #: instances by state as last listed (None: never listed)
    instances: Mapping[str, int] | None


class _CloudCollector(Collector):
    """Read at scrape time from the daemon's ``CloudView``."""

    def __init__(self) -> None:
        self.pools: Callable[[], Iterable[CloudPoolFigures]] = tuple

    def collect(self) -> Iterator[Metric]:
        price = GaugeMetricFamily(
            "burstd_cloud_quote_price_per_node_hour",
            "The last quoted price of one node-hour per pool",
            labels=["policy", "pool", "currency"],
        )
        stock = GaugeMetricFamily(
            "burstd_cloud_quote_in_stock",
            "1 when the last quote found the pool's instance type in stock in its zone",
            labels=["policy", "pool"],
        )
        quota = GaugeMetricFamily(
            "burstd_cloud_quota_headroom_nodes",
            "How many more nodes the cloud account's quota allowed per pool at the last quote",
            labels=["policy", "pool"],
        )
        orphans = GaugeMetricFamily(
            "burstd_cloud_orphaned_instances",
            "Cloud instances tagged for a pool with no Machine or node-pool member behind them",
            labels=["policy", "pool", "provider"],
        )
        instances = GaugeMetricFamily(
            "burstd_cloud_instances",
            "Cloud instances tagged for each pool by state, as the cloud API last listed them",
            labels=["policy", "pool", "state"],
        )
        for f in sorted(self.pools(), key=lambda f: (f.policy, f.pool)):
            if f.quote is not None:
                price.add_metric([f.policy, f.pool, f.quote.currency], f.quote.price_per_node_hour)
                stock.add_metric([f.policy, f.pool], 1.0 if f.quote.in_stock else 0.0)
                quota.add_metric([f.policy, f.pool], float(f.quote.quota_headroom_nodes))
            orphans.add_metric([f.policy, f.pool, f.provider], float(f.orphans))
            for state, n in sorted((f.instances or {}).items()):
                instances.add_metric([f.policy, f.pool, state], float(n))
        yield from (price, stock, quota, orphans, instances)


class WatchedResource(Protocol):
    """What the watch metrics read from each watch cache (``burstd.kube.cache.WatchCache``)."""

    @property
    def resource(self) -> object: ...

    @property
    def relists(self) -> int: ...

    def last_heard_at(self) -> float | None: ...


class _WatchCollector(Collector):
    """Read at scrape time from the watch caches ``watches()`` returns."""

    def __init__(self) -> None:
        self.watches: Callable[[], Iterable[WatchedResource]] = tuple

    def collect(self) -> Iterator[Metric]:
        relists = CounterMetricFamily(
            "burstd_watch_relists",
            "Successful full LISTs by each watch cache: the first, then one per 410 Gone (backed off with jitter)",
            labels=["resource"],
        )
        heard = GaugeMetricFamily(
            "burstd_watch_last_heard_timestamp_seconds",
            "When the API server was last heard on each watch: a list, an event, a bookmark or a watch "
            "it ended; observations are as old as this",
            labels=["resource"],
        )
        for cache in self.watches():
            relists.add_metric([str(cache.resource)], float(cache.relists))
            at = cache.last_heard_at()
            if at is not None:
                heard.add_metric([str(cache.resource)], at)
        yield from (relists, heard)


class Metrics:
    """Every metric burstd exports, on its own registry (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._state = _StateCollector()
        r.register(self._state)
        #: set ``watches.watches`` to a callable returning the running watch caches
        self.watches = _WatchCollector()
        r.register(self.watches)
        #: set ``cloud.pools`` to a callable returning what the cloud said about each pool
        self.cloud = _CloudCollector()
        r.register(self.cloud)
        self.cloud_errors = Counter(
            "burstd_cloud_provider_errors",
            "Failed cloud provider calls by provider and reason (StockOut, QuotaExceeded, Throttled, "
            "AuthFailed, InvalidRequest, Unavailable)",
            ["provider", "reason"],
            registry=r,
        )
        Info("burstd_build", "burstd version", registry=r).info({"version": __version__})
        self.leader = Gauge("burstd_leader", "1 while this instance holds the leader Lease", registry=r)
        self.dry_run = Gauge("burstd_dry_run", "1 when this instance runs with --dry-run", registry=r)
        self.paused = Gauge(
            "burstd_paused",
            "1 while the kill switch holds every policy (the leader's last read of its ConfigMap)",
            registry=r,
        )
        self.cache_synced = Gauge(
            "burstd_watch_cache_synced",
            "1 once a watch cache has listed its resource",
            ["resource"],
            registry=r,
        )
        self.evaluations = Counter(
            "burstd_evaluations", "Policy evaluations (decide calls)", ["policy"], registry=r
        )
        self.evaluation_errors = Counter(
            "burstd_evaluation_errors",
            "Evaluations that failed, by error class",
            ["policy", "error"],
            registry=r,
        )
        self.last_evaluation = Gauge(
            "burstd_last_evaluation_timestamp_seconds",
            "When each policy was last evaluated",
            ["policy"],
            registry=r,
        )
        self.actions = Counter(
            "burstd_actions",
            "Actions by kind and outcome (applied, unchanged, dry-run, held, refused, conflict)",
            ["policy", "action", "outcome"],
            registry=r,
        )
        self.held = Gauge(
            "burstd_policy_held",
            "1 while a policy is held and why (WeightsChangedExternally, RefusedTarget, CorruptState, "
            "NotObserved, TargetConflict, Paused, KillSwitch)",
            ["policy", "reason"],
            registry=r,
        )
        self.external_changes = Counter(
            "burstd_external_changes",
            "Times another field manager changed what burstd owns",
            ["policy", "object"],
            registry=r,
        )
        self.state_conflicts = Counter(
            "burstd_state_conflicts",
            "State writes refused by a resourceVersion precondition",
            ["policy"],
            registry=r,
        )
        self.rounds = Counter(
            "burstd_rounds",
            "Rounds of the leader's loop that completed (every policy considered within roundTimeout)",
            registry=r,
        )
        self.last_round = Gauge(
            "burstd_last_round_timestamp_seconds",
            "When the leader's loop last completed a round",
            registry=r,
        )
        self.round_timeouts = Counter(
            "burstd_round_timeouts",
            "Rounds cut short by roundTimeout",
            registry=r,
        )
        self.round_errors = Counter(
            "burstd_round_errors",
            "Errors outside any one policy's evaluation, by stage of the round (reload, sample, evaluate) "
            "and error class; the stage is tried again next round",
            ["stage", "error"],
            registry=r,
        )

        self.reload_success = Gauge(
            "burstd_policies_last_reload_successful",
            "1 when the policy files last read were valid (0: the running policies are older than the files)",
            registry=r,
        )
        self.reload_success.set(1.0)

    def forget(self, policy: str) -> None:
        """Drop the state-derived series of a policy that no longer runs."""
        self._state.views.pop(policy, None)

    def set_view(self, policy: str, view: PolicyView) -> None:
        self._state.views[policy] = view

    def set_held(self, policy: str, reasons: set[str]) -> None:
        for reason in HELD_REASONS:
            self.held.labels(policy, reason).set(1.0 if reason in reasons else 0.0)
