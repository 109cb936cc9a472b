"""``burstd run``: the composition root. Watches both API servers, elects a leader, and — as leader only —
evaluates every policy on watch events and on a periodic tick, acts, and persists each policy's state.

Shutdown (SIGTERM/SIGINT): the evaluation in progress finishes (bounded by ``shutdownGrace``), the leader
Lease is released, the caches and the HTTP server stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from burstd.cloud.provider import ProviderError
from burstd.engine.fleet import Usage, budgets
from burstd.engine.pools import price_of
from burstd.engine.retire import effective, finish, retiring_pools
from burstd.kube.client import REQUEST_TIMEOUT, KubeClient
from burstd.kube.errors import KubeError, redact
from burstd.kube.fence import unfenced
from burstd.model.state import BurstState
from burstd.model.world import FleetBudget, Sample
from burstd.policy.claims import Conflict, Target, refusals
from burstd.policy.spec import BurstPolicy, FleetLimits, PoolSpec
from burstd.prometheus.errors import PrometheusError
from burstd.prometheus.source import PromQLSource, queries_of
from burstd.runtime.actuate import Actuator
from burstd.runtime.caches import Caches
from burstd.runtime.cloud import CloudConfigError, CloudView
from burstd.runtime.conflicts import HELD_REASON, announce, message_of, owners_of
from burstd.runtime.evaluate import Evaluation, PolicyRunner
from burstd.runtime.events import EventRecorder
from burstd.runtime.eventsink import EventSink
from burstd.runtime.http import HttpServer
from burstd.runtime.leader import LeaderElector
from burstd.runtime.logs import fields
from burstd.runtime.metrics import Metrics
from burstd.runtime.observe import Snapshot, node_pool_of, scalable_of
from burstd.runtime.observe_nodepool import is_native
from burstd.runtime.pause import KillSwitch, pause_reasons
from burstd.runtime.policies import digest_of, merge, read_policies
from burstd.runtime.settings import ApiServer, Settings
from burstd.runtime.store import CorruptState, StateConflict, StateStore

__all__ = ["Daemon", "StartupError", "connect"]

log = logging.getLogger("burstd.runtime")


#: stage of a round -> (what its failure means, what its recovery logs)
_STAGES = {
    "reload": (
        "re-reading the policy files failed; the running policies stay as they are",
        "re-reading the policy files works again",
    ),
    "sample": (
        "sampling the PromQL conditions failed; they count as missing this round",
        "sampling the PromQL conditions works again",
    ),
    "evaluate": (
        "the round failed before evaluating the policies; nothing was decided",
        "rounds evaluate the policies again",
    ),
}


class StartupError(Exception):
    """burstd cannot start: the message says which API server and what is wrong."""


async def connect(role: str, server: ApiServer, *, request_timeout: float = REQUEST_TIMEOUT) -> KubeClient:
    """A client for the ``role`` ("karmada" or "management") API server, each request bounded by
    ``request_timeout``. Raises StartupError."""
    try:
        if server.in_cluster:
            return KubeClient.in_cluster(request_timeout=request_timeout)
        return await KubeClient.from_kubeconfig(
            str(server.kubeconfig) if server.kubeconfig is not None else None,
            server.context,
            request_timeout=request_timeout,
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
    #: policies held because another policy already manages one of their targets (TargetConflict)
    refused: dict[str, list[Conflict]] = field(default_factory=dict)
    #: Event sinks by API server ("karmada", "management") for Events no action writes
    events: dict[str, EventSink] = field(default_factory=dict)
    #: the monotonic clock liveness is measured with (injected by tests)
    monotonic: Callable[[], float] = time.monotonic
    #: monotonic time of the last progress: process start, leadership change, or a completed round
    _progress_at: float = 0.0
    #: the error each failing stage of the round last logged (logged again only when it changes)
    _failing: dict[str, str] = field(default_factory=dict)
    #: the deadline of the round in progress (None between rounds)
    _deadline: asyncio.Timeout | None = None
    #: the cloud providers (``cloud.providers``): created by ``run`` unless given (tests point it at fakes)
    cloud: CloudView | None = None
    #: the global kill switch (``killSwitch.configMap``): created by ``run`` unless given
    kill_switch: KillSwitch | None = None
    #: policies held on purpose (paused, kill switch) -> why, as last logged
    _paused: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._progress_at = self.monotonic()
        self._settle_claims(self.policies, {})

    # ------------------------------------------------------------------ entry point

    async def run(self) -> None:
        s = self.settings
        self.metrics.dry_run.set(1.0 if s.dry_run else 0.0)
        self._progress_at = self.monotonic()
        if self.cloud is None:
            try:  # first: a provider that cannot be created leaves nothing open
                self.cloud = CloudView.create(s.cloud, call_timeout=s.request_timeout, metrics=self.metrics)
            except CloudConfigError as exc:
                raise StartupError(str(exc)) from None
        cloud = self.cloud
        try:
            promql = self._promql()  # a token file that cannot be read leaves no client open
        except BaseException:
            await cloud.aclose()
            raise
        try:
            karmada = await connect("karmada", s.karmada, request_timeout=s.request_timeout)
        except StartupError:
            if promql is not None:
                await promql.aclose()
            await cloud.aclose()
            raise
        try:
            management = await connect("management", s.management, request_timeout=s.request_timeout)
        except StartupError:
            await karmada.close()
            if promql is not None:
                await promql.aclose()
            await cloud.aclose()
            raise
        http = HttpServer(self.metrics, ready=self._ready, decisions=self._decisions, alive=self._alive)
        caches = self.caches = Caches(
            karmada,
            management,
            capi_version=s.capi_version,
            on_change=self._changed,
            clock=self.clock,
            watch_timeout=s.watch_timeout,
        )
        self.metrics.watches.watches = lambda: caches.started
        try:
            await http.start(s.http.address, s.http.port, debug=s.http.debug)
            caches.need(self.policies)
            # Every write but the Lease's goes through clients fenced by the leader's write window.
            writes_k, writes_m = karmada.fenced(self._write_window), management.fenced(self._write_window)
            store = StateStore(writes_m, s.namespace, dry_run=s.dry_run)
            dry_store = StateStore(writes_m, s.namespace, dry_run=True)
            events_k = EventRecorder(writes_k, instance=s.identity, dry_run=s.dry_run)
            events_m = EventRecorder(writes_m, instance=s.identity, dry_run=s.dry_run)
            self.events = {"karmada": events_k, "management": events_m}
            actuator = Actuator(
                writes_k,
                writes_m,
                events_k,
                events_m,
                dry_run=s.dry_run,
                fence=self._write_window,
                providers=cloud.providers,
                on_cloud_error=self._cloud_error,
            )
            dry = Actuator(
                writes_k,
                writes_m,
                events_k,
                events_m,
                dry_run=True,
                fence=self._write_window,
                providers=cloud.providers,
                on_cloud_error=self._cloud_error,
            )
            self._io = {False: (actuator, store), True: (dry, dry_store)}
            if self.kill_switch is None:  # a read: not fenced, any instance may read it
                self.kill_switch = KillSwitch(management, s.namespace, s.kill_switch.config_map)

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
                    monotonic=self.monotonic,
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
            await cloud.aclose()
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
        self._progress_at = self.monotonic()  # a new leader has maxInactivity for its first round
        log.info("%s the leader Lease", "acquired" if leading else "lost")

    def _cloud_error(self, provider: str, error: ProviderError) -> None:
        """Count a failed cloud call the actuators made (the CloudView counts its own)."""
        self.metrics.cloud_errors.labels(provider, error.reason).inc()

    def _write_window(self) -> float:
        """Seconds left in which a write may be sent (``burstd.kube.fence``): the leader's window, or
        unbounded without leader election."""
        return unfenced() if self.elector is None else self.elector.write_window()

    def _ready(self) -> tuple[bool, str]:
        caches = self.caches
        if caches is None:
            return False, "starting"
        for c in caches.started:
            self.metrics.cache_synced.labels(str(c.resource)).set(1.0 if c.synced else 0.0)
        if not caches.synced:
            return False, "caches not synced: " + ", ".join(caches.unsynced())
        return True, "ok"

    def _alive(self) -> tuple[bool, str]:
        """Liveness for ``/healthz``: the leader (or a daemon without leader election) must complete a round
        within ``maxInactivity``, counted from the process start or the leadership change before the first;
        a follower's leader election must keep making attempts."""
        bound = self.settings.max_inactivity
        now = self.monotonic()
        elector = self.elector
        if elector is not None and not elector.is_leader:
            last = elector.last_attempt
            since = self._progress_at if last is None else max(self._progress_at, last)
            what = "no leader-election attempt"
        else:
            since, what = self._progress_at, "no round completed"
        idle = now - since
        if idle > bound:
            return False, f"{what} for {idle:.0f} s (maxInactivity {bound:g} s)"
        return True, "ok"

    def _decisions(self) -> list[Evaluation]:
        return [r.last for r in self.runners.values() if r.last is not None]

    def _promql(self) -> PromQLSource | None:
        p = self.settings.prometheus
        if p.url is None:
            return None
        token = p.bearer_token_file.read_text().strip() if p.bearer_token_file is not None else None
        return PromQLSource(
            p.url,
            timeout=p.timeout,
            request_timeout=self.settings.request_timeout,
            bearer_token=token,
            ca_file=p.ca_file,
        )

    # ------------------------------------------------------------------ the leader's loop

    async def _lead(self, caches: Caches, store: StateStore, promql: PromQLSource | None) -> None:
        log.info("waiting for the watch caches to sync")
        while not caches.synced:  # no decision before every cache has listed once
            await asyncio.sleep(0.1)
        self._ready()
        log.info("caches synced; loading the state of %d policies", len(self.policies))
        while True:
            self._wake.clear()
            wake_at = await self._bounded_round(caches, store, promql)
            if self.once:
                return
            tick = self.settings.tick_interval
            delay = max(0.0, min(tick, (wake_at - self.clock()) if wake_at is not None else tick))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
                await asyncio.sleep(self.settings.debounce)  # let a burst of watch events settle

    async def _bounded_round(
        self, caches: Caches, store: StateStore, promql: PromQLSource | None
    ) -> float | None:
        """One round within ``roundTimeout``; the earliest time a policy wants to be evaluated again.

        Never raises (but for cancellation): a round cut by its deadline is counted in
        ``burstd_round_timeouts_total``, an error in ``burstd_round_errors_total``, and the next round starts
        afresh. Only a round that evaluated the policies (caches synced) counts as progress for ``/healthz``.
        """
        limit = self.settings.round_timeout
        deadline = asyncio.timeout(limit)
        self._deadline = deadline
        try:
            async with deadline:
                wake_at, evaluated = await self._round_steps(caches, store, promql)
        except TimeoutError as exc:
            if not deadline.expired():
                self._failed("evaluate", exc)
                return None
            self.metrics.round_timeouts.inc()
            log.error(
                "the round did not finish within roundTimeout (%gs): cut short; actions are absolute, so the "
                "next round repairs whatever was interrupted",
                limit,
            )
            return None
        finally:
            self._deadline = None
        if evaluated:
            self._progress_at = self.monotonic()
            self.metrics.rounds.inc()
            self.metrics.last_round.set(self.clock())
        return wake_at

    async def _round_steps(
        self, caches: Caches, store: StateStore, promql: PromQLSource | None
    ) -> tuple[float | None, bool]:
        """Re-read changed policy files, load the state of policies without one, sample PromQL, evaluate.
        Each stage that fails is reported and skipped; the stages after it still run when that is safe."""
        try:
            await self._maybe_reload(store)
        except Exception as exc:  # the running policies stay as they are
            self._failed("reload", exc)
        else:
            self._recovered("reload")
        for policy in self.policies:  # first round, and any whose state could not be read before
            name = policy.metadata.name
            if name not in self.runners:
                try:
                    await self._try_load(policy, store)
                except Exception as exc:  # _try_load reports API errors itself; this is anything else
                    self.metrics.evaluation_errors.labels(name, type(exc).__name__).inc()
                    self._report(f"load {name}", exc, f"policy {name}: cannot read its state (will retry)")
                else:
                    self._failing.pop(f"load {name}", None)
        await self._read_kill_switch()
        now = self.clock()
        signals = await self._sample(promql, queries_of(self.policies), now)
        synced = caches.synced  # read right before the round, which decides nothing without it
        try:
            wake_at = await self._round(caches, signals, now)
        except Exception as exc:  # no decision this round; a bug in one policy is caught inside
            self._failed("evaluate", exc)
            return None, False
        self._recovered("evaluate")
        return wake_at, synced

    def _failed(self, stage: str, exc: BaseException) -> None:
        self.metrics.round_errors.labels(stage, type(exc).__name__).inc()
        self._report(stage, exc, _STAGES[stage][0])

    def _report(self, key: str, exc: BaseException, what: str) -> None:
        """Log a failure once: again only when it changes (it is tried again every round). API and I/O
        errors in one line; anything else (a bug) with its traceback."""
        text = f"{type(exc).__name__}: {exc}"
        if self._failing.get(key) == text:
            log.debug("%s (still): %s", what, text)
            return
        self._failing[key] = text
        expected = isinstance(exc, KubeError | OSError | PrometheusError | TimeoutError)
        suffix = "; tried again every round, logged again when the error changes"
        log.error("%s: %s%s", what, text, suffix, exc_info=None if expected else exc)

    def _recovered(self, stage: str) -> None:
        if self._failing.pop(stage, None) is not None:
            log.info("%s", _STAGES[stage][1])

    async def _maybe_reload(self, store: StateStore) -> None:
        """Re-read the policy files when they changed (or on SIGHUP). A reload with any problem changes
        nothing; a removed policy with a burst in progress keeps running until it is Idle, and a pool or
        workload removed from a policy is retired (``merge``)."""
        self._follow_retirements()
        if self.policy_digest is None:
            return
        forced, self._reload_requested = self._reload_requested, False
        paths = self.settings.policies
        if not forced and await asyncio.to_thread(digest_of, paths) == self.policy_digest:
            return
        found, problems = await asyncio.to_thread(
            read_policies,
            paths,
            prometheus_configured=self.settings.prometheus.url is not None,
            watch_timeout=self.settings.watch_timeout,
        )
        if found is None:
            self.metrics.reload_success.set(0.0)
            log.error(
                "policy files changed but are invalid; the running policies stay as they are:\n%s",
                "\n".join(problems),
            )
            self.policy_digest = await asyncio.to_thread(digest_of, paths)  # report each bad version once
            return
        states = {name: runner.state for name, runner in self.runners.items()}
        owners = owners_of(self._as_run(self.policies), self.refused)  # running policies keep their targets
        merged = merge(self.policies, states, found.policies)
        policies = merged.policies
        for why in merged.notes:
            log.warning("%s", why)
        for name, state in merged.states.items():
            await self._retiring(self.runners[name], self._drainable(state))
        for policy in policies:
            name = policy.metadata.name
            runner = self.runners.get(name)
            if runner is None:
                await self._try_load(policy, store)
            elif runner.policy != (running := effective(policy, runner.state)):
                runner.policy = running
                runner.checked = False  # the new targets must pass preflight
                runner.blocked.pop("RefusedTarget", None)
        for name in set(self.runners) - {p.metadata.name for p in policies}:
            del self.runners[name]
            self.metrics.forget(name)
            self._paused.pop(name, None)
        self.policies = policies
        self._settle_claims(self._as_run(policies), owners)
        if self.caches is not None:
            self.caches.need([*policies, *(r.policy for r in self.runners.values())])
        self.fleet_limits = found.fleet_limits
        self.policy_digest = found.digest
        self.metrics.reload_success.set(1.0)
        log.info("policies reloaded: %s", ", ".join(sorted(p.metadata.name for p in policies)))

    async def _retiring(self, runner: PolicyRunner, state: BurstState) -> None:
        """Record what a reload starts (or stops) retiring, and save it at once (through the policy's store,
        the dry-run one for a dry-run policy): a restart before the next evaluation must still finish the
        retirement. A failed save is left to the next evaluation's."""
        runner.state = state
        io = self._io.get(self.settings.dry_run or runner.policy.spec.dry_run)
        if io is None:
            return
        try:
            runner.version = await io[1].save(runner.name, state, runner.version)
        except (KubeError, OSError, StateConflict) as exc:
            log.error(
                "policy %s: cannot save what it retires yet (the next round saves it): %s", runner.name, exc
            )

    def _drainable(self, state: BurstState) -> BurstState:
        """``state`` retiring only what burstd can still wind down: a pool whose object is gone or that
        Cluster Autoscaler (or, for a native node pool, the cloud's own autoscaler) now manages, or a
        workload whose PropagationPolicy is gone, is let go at once (its checks would otherwise hold the
        whole policy). A native node pool the cloud has not described is kept: its nodes may still bill."""
        if self.caches is None or not self.caches.synced:
            return state
        snap = self.caches.snapshot()
        if self.cloud is not None:  # the native node pools as the cloud last described them
            snap = dataclasses.replace(snap, node_pools=self.cloud.node_pools)
        pools = {name for name, pool in retiring_pools(state).items() if _let_go(pool, snap)}
        workloads = {key for key in state.retiring_workloads if key not in snap.policies}
        return finish(state, pools, workloads)

    def _follow_retirements(self) -> None:
        """Keep each runner on its effective policy (``burstd.engine.retire.effective``): the policy from
        the files plus the pools and workloads it still retires; one whose retirement is over is dropped."""
        files = {p.metadata.name: p for p in self.policies}
        for name, runner in self.runners.items():
            policy = files.get(name)
            if policy is not None and runner.policy != (want := effective(policy, runner.state)):
                runner.policy = want
        if self.caches is not None:
            self.caches.need([r.policy for r in self.runners.values()])

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
        # with what it still retires, watched before it is decided on
        self.runners[name] = PolicyRunner(effective(policy, stored.state), stored.state, stored.version)
        if self.caches is not None:
            self.caches.need([self.runners[name].policy])
        log.info("policy %s: resumed in phase %s", name, stored.state.phase.value)

    async def _sample(self, promql: PromQLSource | None, queries: list[str], now: float) -> dict[str, Sample]:
        if promql is None or not queries:
            return {}
        try:
            result = await promql.sample(queries, now)
        except Exception as exc:  # missing signals hold the policies that need them: never a crash
            self._failed("sample", exc)
            return {}
        self._recovered("sample")
        return dict(result.samples)

    async def _round(self, caches: Caches, signals: dict[str, Sample], now: float) -> float | None:
        if not caches.synced:  # a cache a reloaded policy needs is still listing: decide nothing yet
            log.info("waiting for the watch caches: %s", ", ".join(caches.unsynced()))
            return None
        snap = await self._with_cloud(caches.snapshot(), now)
        budget = self._budgets(snap, signals)
        wake_at: float | None = None
        for name, runner in list(self.runners.items()):  # a runner may be dropped on the way
            # a policy with spec.dryRun decides and reports like the others but writes nothing
            actuator, store = self._io[self.settings.dry_run or runner.policy.spec.dry_run]
            if self._held_on_purpose(runner):
                continue
            try:
                manageable = await self._preflight(runner, actuator)
            except (KubeError, OSError) as exc:
                self.metrics.evaluation_errors.labels(name, type(exc).__name__).inc()
                log.error("policy %s: cannot check its targets: %s", name, exc)
                continue
            except Exception as exc:  # a bug must not stop the other policies or the next round
                self.metrics.evaluation_errors.labels(name, type(exc).__name__).inc()
                log.exception("policy %s: checking its targets failed unexpectedly: %s", name, exc)
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
                if self._deadline is not None and self._deadline.expired():
                    # roundTimeout: the step in progress is what hangs. Cut it like a crash would; its
                    # state was not saved, and the next round decides again from the saved state.
                    task.cancel()
                    await asyncio.wait({task}, timeout=self.settings.shutdown_grace)
                    self.metrics.evaluation_errors.labels(name, "RoundTimeout").inc()
                    raise
                # Shutdown or lost leadership: let the step in progress finish so nothing is half-applied.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(task, self.settings.shutdown_grace)
                raise
            except StateConflict as exc:
                self.metrics.state_conflicts.labels(name).inc()
                log.warning("policy %s: %s; re-reading the state", name, exc)
                try:
                    await self._load(runner.policy, store)
                except Exception as reread:  # e.g. a 503: evaluate it only once its state has been read
                    self.runners.pop(name, None)
                    self.metrics.evaluation_errors.labels(name, type(reread).__name__).inc()
                    log.error("policy %s: cannot re-read its state (will retry next round): %s", name, reread)
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
                extra=evaluation.log_fields(),
            )
            if evaluation.wake_at is not None:
                wake_at = evaluation.wake_at if wake_at is None else min(wake_at, evaluation.wake_at)
        return wake_at

    async def _read_kill_switch(self) -> None:
        """Read the kill switch for this round (``burstd.runtime.pause.KillSwitch``; it never raises but
        for cancellation) and export it as ``burstd_paused``."""
        if self.kill_switch is None:
            return
        paused = await self.kill_switch.read()
        self.metrics.paused.set(1.0 if paused else 0.0)

    def _held_on_purpose(self, runner: PolicyRunner) -> bool:
        """Whether the policy is paused (``spec.paused``, the annotation) or held by the kill switch. Held
        before the engine decides: no action, no alert, no state write. Each change is logged once."""
        name = runner.name
        reasons = pause_reasons(runner.policy, self.kill_switch is not None and self.kill_switch.paused)
        before = self._paused.get(name, {})
        if reasons.keys() != before.keys():
            if reasons:
                log.warning(
                    "policy %s is held: %s; no action until it is resumed",
                    name,
                    "; ".join(reasons.values()),
                    extra=fields(
                        event="held", policy=name, phase=runner.state.phase.value, held=sorted(reasons)
                    ),
                )
            else:
                log.info(
                    "policy %s resumes from its saved state (phase %s)",
                    name,
                    runner.state.phase.value,
                    extra=fields(event="resumed", policy=name, phase=runner.state.phase.value),
                )
        if not reasons:
            self._paused.pop(name, None)
            return False
        self._paused[name] = reasons
        self.metrics.set_held(name, set(runner.blocked) | set(reasons))
        return True

    async def _with_cloud(self, snap: Snapshot, now: float) -> Snapshot:
        """``snap`` with what the cloud providers say this round (quotes, node pools, orphans). Each call is
        bounded by ``cloud.callTimeout``; a failure leaves the pools it concerns unquoted, never the round."""
        cloud = self.cloud
        if cloud is None:
            return snap
        try:
            seen = await cloud.refresh(self._as_run(self.policies), now, snap)
        except Exception as exc:  # a bug: the round goes on without quotes (nothing unquoted grows)
            self._report("cloud", exc, "asking the cloud providers failed; no pool is quoted this round")
            return snap
        self._failing.pop("cloud", None)
        node_pools = {**snap.node_pools, **seen.node_pools}
        return dataclasses.replace(snap, node_pools=node_pools, quotes=seen.quotes)

    async def _preflight(self, runner: PolicyRunner, actuator: Actuator) -> bool:
        """Whether the policy's targets can be managed. A policy stays held (``RefusedTarget``) until they
        can: checked when it starts, and again every round while it is held. A policy naming a target
        another policy manages is held (``TargetConflict``) without a check."""
        conflicts = self.refused.get(runner.name)
        if conflicts:
            message = message_of(conflicts)
            if runner.blocked.get(HELD_REASON) != message:
                runner.blocked[HELD_REASON] = message
                await announce(conflicts, self.events, self.settings.capi_version)
            return False
        if runner.blocked.pop(HELD_REASON, None) is not None:
            runner.checked = False  # its targets have not been checked yet
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

    def _as_run(self, policies: Sequence[BurstPolicy]) -> list[BurstPolicy]:
        """Each policy as its runner runs it (with any removed pool it still drains), else as read."""
        return [r.policy if (r := self.runners.get(p.metadata.name)) else p for p in policies]

    def _settle_claims(self, policies: Sequence[BurstPolicy], owners: dict[Target, str]) -> None:
        """Hold each policy naming a target another one manages (``burstd.policy.claims.refusals``); log
        each change once (the leader's ``_preflight`` writes the Events)."""
        refused = refusals(policies, owners)
        for name, conflicts in refused.items():
            if self.refused.get(name) != conflicts:
                log.error("policy %s is held (%s): %s", name, HELD_REASON, message_of(conflicts))
        for name in set(self.refused) - set(refused):
            if any(p.metadata.name == name for p in policies):
                log.info("policy %s no longer names a target another policy manages; resuming", name)
        self.refused = refused

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
                # A pool without a price does not grow (the engine holds it); its nodes are counted at 0
                # here only because no price is known for them (see docs: cloud.providers).
                price = price_of(p, pool) or 0.0
                more = max(0, runner.state.pool_targets.get(p.name, 0) - existing)
                nodes += existing
                cost += existing * price
                wanted += more
                wanted_cost += more * price
            usage.append(Usage(name, runner.policy.spec.priority, nodes, cost, wanted, wanted_cost))
        return budgets(self.fleet_limits, usage)


def _let_go(pool: PoolSpec, snap: Snapshot) -> bool:
    """Whether a retiring pool is let go at once rather than drained (``Daemon._drainable``)."""
    if is_native(pool):
        seen = node_pool_of(pool, snap)
        return seen is not None and seen.node_pool.autoscaling
    obj = scalable_of(pool, snap)
    return obj is None or obj.autoscaler_managed
