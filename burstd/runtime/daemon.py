"""``burstd run``: the composition root. Watches both API servers, elects a leader, and — as leader only —
evaluates every policy on watch events and on a periodic tick, acts, and persists each policy's state.

Shutdown (SIGTERM/SIGINT): the evaluation in progress finishes (bounded by ``shutdownGrace``), the leader
Lease is released, the caches and the HTTP server stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from burstd.engine.fleet import Usage, budgets
from burstd.engine.pools import price_of
from burstd.kube.client import KubeClient
from burstd.kube.errors import KubeError, redact
from burstd.model.state import BurstState
from burstd.model.world import FleetBudget, Sample
from burstd.policy.spec import BurstPolicy, FleetLimits
from burstd.prometheus.source import PromQLSource, queries_of
from burstd.runtime.actuate import Actuator
from burstd.runtime.caches import Caches
from burstd.runtime.evaluate import Evaluation, PolicyRunner
from burstd.runtime.events import EventRecorder
from burstd.runtime.http import HttpServer
from burstd.runtime.leader import LeaderElector
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot
from burstd.runtime.policies import digest_of, merge, read_policies
from burstd.runtime.settings import ApiServer, Settings
from burstd.runtime.store import CorruptState, StateConflict, StateStore

__all__ = ["Daemon", "StartupError", "connect"]

log = logging.getLogger("burstd.runtime")


class StartupError(Exception):
    """burstd cannot start: the message says which API server and what is wrong."""


async def connect(role: str, server: ApiServer) -> KubeClient:
    """A client for the ``role`` ("karmada" or "management") API server. Raises StartupError."""
    try:
        if server.in_cluster:
            return KubeClient.in_cluster()
        return await KubeClient.from_kubeconfig(
            str(server.kubeconfig) if server.kubeconfig is not None else None, server.context
        )
    except Exception as exc:  # the client library raises ConfigException, OSError, ValueError, ...
        raise StartupError(f"{role}: cannot load {server.describe()}: {redact(str(exc))}") from None


@dataclass(slots=True)
class Daemon:
    settings: Settings
    policies: Sequence[BurstPolicy]
    fleet_limits: FleetLimits | None = None
    #: evaluate once after the caches have synced, then stop (``burstd run --once``)
    once: bool = False
    clock: Callable[[], float] = time.time
    metrics: Metrics = field(default_factory=Metrics)
    runners: dict[str, PolicyRunner] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    caches: Caches | None = None
    elector: LeaderElector | None = None
    _io: dict[bool, tuple[Actuator, StateStore]] = field(default_factory=dict)
    #: fingerprint of the policy files the running policies came from (None: never re-read them)
    policy_digest: str | None = None
    _reload_requested: bool = False

    # ------------------------------------------------------------------ entry point

    async def run(self) -> None:
        s = self.settings
        self.metrics.dry_run.set(1.0 if s.dry_run else 0.0)
        karmada = await connect("karmada", s.karmada)
        try:
            management = await connect("management", s.management)
        except StartupError:
            await karmada.close()
            raise
        promql = self._promql()
        http = HttpServer(self.metrics, ready=self._ready, decisions=self._decisions)
        caches = self.caches = Caches(
            karmada, management, capi_version=s.capi_version, on_change=self._changed, clock=self.clock
        )
        try:
            await http.start(s.http.address, s.http.port)
            caches.need(self.policies)
            store = StateStore(management, s.namespace, dry_run=s.dry_run)
            dry_store = StateStore(management, s.namespace, dry_run=True)
            events_k = EventRecorder(karmada, instance=s.identity, dry_run=s.dry_run)
            events_m = EventRecorder(management, instance=s.identity, dry_run=s.dry_run)
            actuator = Actuator(
                karmada, management, events_k, events_m, dry_run=s.dry_run, may_write=self._may_write
            )
            dry = Actuator(karmada, management, events_k, events_m, dry_run=True, may_write=self._may_write)
            self._io = {False: (actuator, store), True: (dry, dry_store)}

            async def work() -> None:
                await self._lead(caches, store, promql)

            le = s.leader_election
            if le.enabled and not s.dry_run:
                self.elector = LeaderElector(
                    management,
                    s.namespace,
                    name=le.lease_name,
                    identity=s.identity,
                    lease_duration=le.lease_duration,
                    renew_deadline=le.renew_deadline,
                    retry_period=le.retry_period,
                    on_change=self._leadership,
                )
                main = asyncio.create_task(self.elector.run(work), name="leader-election")
            else:
                if s.dry_run:
                    log.info("dry run: no leader election, nothing is written")
                main = asyncio.create_task(work(), name="burstd")
            stop = asyncio.create_task(self.stopping.wait(), name="stop")
            await asyncio.wait({main, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not main.done():
                log.info("stopping: finishing the step in progress")
                main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await main
            stop.cancel()
        finally:
            await caches.stop()
            await http.stop()
            if promql is not None:
                await promql.aclose()
            await karmada.close()
            await management.close()
            log.info("stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_hangup)

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s", sig.name)
        self.stopping.set()

    def _on_hangup(self) -> None:
        log.info("received SIGHUP: re-reading the policies")
        self._reload_requested = True
        self._wake.set()

    # ------------------------------------------------------------------ callbacks

    def _changed(self, what: str) -> None:
        log.debug("changed: %s", what)
        self._wake.set()

    def _leadership(self, leading: bool) -> None:
        self.metrics.leader.set(1.0 if leading else 0.0)
        log.info("%s the leader Lease", "acquired" if leading else "lost")

    def _may_write(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def _ready(self) -> tuple[bool, str]:
        caches = self.caches
        if caches is None:
            return False, "starting"
        for c in caches.started:
            self.metrics.cache_synced.labels(str(c.resource)).set(1.0 if c.synced else 0.0)
        if not caches.synced:
            return False, "caches not synced: " + ", ".join(caches.unsynced())
        return True, "ok"

    def _decisions(self) -> list[Evaluation]:
        return [r.last for r in self.runners.values() if r.last is not None]

    def _promql(self) -> PromQLSource | None:
        p = self.settings.prometheus
        if p.url is None:
            return None
        token = p.bearer_token_file.read_text().strip() if p.bearer_token_file is not None else None
        return PromQLSource(p.url, timeout=p.timeout, bearer_token=token, ca_file=p.ca_file)

    # ------------------------------------------------------------------ the leader's loop

    async def _lead(self, caches: Caches, store: StateStore, promql: PromQLSource | None) -> None:
        log.info("waiting for the watch caches to sync")
        while not caches.synced:  # no decision before every cache has listed once
            await asyncio.sleep(0.1)
        self._ready()
        log.info("caches synced; loading the state of %d policies", len(self.policies))
        while True:
            self._wake.clear()
            await self._maybe_reload(store)
            for policy in self.policies:  # first round, and any whose state could not be read before
                if policy.metadata.name not in self.runners:
                    await self._try_load(policy, store)
            now = self.clock()
            signals = await self._sample(promql, queries_of(self.policies), now)
            wake_at = await self._round(caches, signals, now)
            if self.once:
                return
            tick = self.settings.tick_interval
            delay = max(0.0, min(tick, (wake_at - self.clock()) if wake_at is not None else tick))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
                await asyncio.sleep(self.settings.debounce)  # let a burst of watch events settle

    async def _maybe_reload(self, store: StateStore) -> None:
        """Re-read the policy files when they changed (or on SIGHUP). A reload with any problem changes
        nothing; a removed policy with a burst in progress keeps running until it is Idle."""
        if self.policy_digest is None:
            return
        forced, self._reload_requested = self._reload_requested, False
        paths = self.settings.policies
        if not forced and await asyncio.to_thread(digest_of, paths) == self.policy_digest:
            return
        found, problems = await asyncio.to_thread(
            read_policies, paths, prometheus_configured=self.settings.prometheus.url is not None
        )
        if found is None:
            self.metrics.reload_success.set(0.0)
            log.error(
                "policy files changed but are invalid; the running policies stay as they are:\n%s",
                "\n".join(problems),
            )
            self.policy_digest = await asyncio.to_thread(digest_of, paths)  # report each bad version once
            return
        phases = {name: runner.state.phase for name, runner in self.runners.items()}
        policies, kept = merge(self.policies, phases, found.policies)
        for why in kept:
            log.warning("%s", why)
        for policy in policies:
            name = policy.metadata.name
            runner = self.runners.get(name)
            if runner is None:
                await self._try_load(policy, store)
            elif runner.policy != policy:
                runner.policy = policy
                runner.checked = False  # the new targets must pass preflight
                runner.blocked.pop("RefusedTarget", None)
        for name in set(self.runners) - {p.metadata.name for p in policies}:
            del self.runners[name]
            self.metrics.forget(name)
        self.policies = policies
        if self.caches is not None:
            self.caches.need(policies)
        self.fleet_limits = found.fleet_limits
        self.policy_digest = found.digest
        self.metrics.reload_success.set(1.0)
        log.info("policies reloaded: %s", ", ".join(sorted(p.metadata.name for p in policies)))

    async def _try_load(self, policy: BurstPolicy, store: StateStore) -> None:
        """``_load``, but an API error leaves the policy without a runner, to be tried again next round."""
        try:
            await self._load(policy, store)
        except (KubeError, OSError) as exc:
            log.error("policy %s: cannot read its state (will retry): %s", policy.metadata.name, exc)

    async def _load(self, policy: BurstPolicy, store: StateStore) -> None:
        name = policy.metadata.name
        try:
            stored = await store.load(name)
        except CorruptState as exc:
            log.error("policy %s is held: %s", name, exc)
            runner = PolicyRunner(policy, BurstState(), None)
            runner.blocked["CorruptState"] = str(exc)
            self.runners[name] = runner
            return
        self.runners[name] = PolicyRunner(policy, stored.state, stored.version)
        log.info("policy %s: resumed in phase %s", name, stored.state.phase.value)

    async def _sample(self, promql: PromQLSource | None, queries: list[str], now: float) -> dict[str, Sample]:
        if promql is None or not queries:
            return {}
        result = await promql.sample(queries, now)
        return dict(result.samples)

    async def _round(self, caches: Caches, signals: dict[str, Sample], now: float) -> float | None:
        if not caches.synced:  # a cache a reloaded policy needs is still listing: decide nothing yet
            log.info("waiting for the watch caches: %s", ", ".join(caches.unsynced()))
            return None
        snap = caches.snapshot()
        budget = self._budgets(snap, signals)
        wake_at: float | None = None
        for name, runner in self.runners.items():
            # a policy with spec.dryRun decides and reports like the others but writes nothing
            actuator, store = self._io[self.settings.dry_run or runner.policy.spec.dry_run]
            try:
                manageable = await self._preflight(runner, actuator)
            except (KubeError, OSError) as exc:
                self.metrics.evaluation_errors.labels(name, type(exc).__name__).inc()
                log.error("policy %s: cannot check its targets: %s", name, exc)
                continue
            if not manageable:
                self.metrics.set_held(name, set(runner.blocked))
                continue
            task = asyncio.ensure_future(
                runner.evaluate(
                    snap, signals, budget.get(name, FleetBudget()), now, actuator, store, self.metrics
                )
            )
            try:
                evaluation = await asyncio.shield(task)
            except asyncio.CancelledError:
                # Shutdown or lost leadership: let the step in progress finish so nothing is half-applied.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, self.settings.shutdown_grace)
                raise
            except StateConflict as exc:
                self.metrics.state_conflicts.labels(name).inc()
                log.warning("policy %s: %s; re-reading the state", name, exc)
                await self._load(runner.policy, store)
                continue
            except (KubeError, OSError) as exc:
                self.metrics.evaluation_errors.labels(name, type(exc).__name__).inc()
                log.error("policy %s: evaluation failed: %s", name, exc)
                continue
            except Exception as exc:  # a bug must not stop the other policies or the next round
                self.metrics.evaluation_errors.labels(name, type(exc).__name__).inc()
                log.exception("policy %s: evaluation failed unexpectedly: %s", name, exc)
                continue
            self.metrics.set_view(name, runner.view())
            self.metrics.set_held(name, set(evaluation.held))
            log.info(
                "policy %s: phase %s; %s",
                name,
                evaluation.phase,
                "; ".join(evaluation.reasons) if evaluation.reasons else "no change",
            )
            if evaluation.wake_at is not None:
                wake_at = evaluation.wake_at if wake_at is None else min(wake_at, evaluation.wake_at)
        return wake_at

    async def _preflight(self, runner: PolicyRunner, actuator: Actuator) -> bool:
        """Whether the policy's targets can be managed. A policy stays held (``RefusedTarget``) until they
        can: checked when it starts, and again every round while it is held."""
        if "CorruptState" in runner.blocked:
            return False
        if runner.checked and "RefusedTarget" not in runner.blocked:
            return True
        problems = await actuator.preflight(runner.policy)
        runner.checked = True
        name = runner.name
        if problems:
            message = " ".join(problems)
            if runner.blocked.get("RefusedTarget") != message:
                log.error("policy %s is held until its targets can be managed: %s", name, message)
            runner.blocked["RefusedTarget"] = message
            return False
        if runner.blocked.pop("RefusedTarget", None) is not None:
            log.info("policy %s: its targets can be managed again; resuming", name)
        return True

    def _budgets(self, snap: Snapshot, signals: dict[str, Sample]) -> dict[str, FleetBudget]:
        if self.fleet_limits is None:
            return {}
        usage: list[Usage] = []
        for name, runner in self.runners.items():
            world = runner.world(snap, signals, FleetBudget())
            nodes = wanted = 0
            cost = wanted_cost = 0.0
            for p in runner.policy.spec.burst.pools:
                pool = world.pools.get(p.name)
                existing = pool.existing if pool is not None else 0
                price = price_of(p, pool)
                more = max(0, runner.state.pool_targets.get(p.name, 0) - existing)
                nodes += existing
                cost += existing * price
                wanted += more
                wanted_cost += more * price
            usage.append(Usage(name, runner.policy.spec.priority, nodes, cost, wanted, wanted_cost))
        return budgets(self.fleet_limits, usage)
