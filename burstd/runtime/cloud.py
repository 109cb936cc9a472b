"""``CloudView``: what the cloud providers say about the running policies' pools, refreshed once a round.

Each round (``refresh``) asks, all at once and each call bounded by ``cloud.callTimeout`` (a slow cloud
must not eat the round):

- a quote per pool (stock, quota headroom, price) once the cached one is half ``cloud.quoteTTL`` old; a
  failed call keeps the last good quote until it expires (at ``quoteTTL``), and a throttled one is not
  repeated before its ``retry_after``;
- every native node pool (backends ``tke-nodepool``/``ack-nodepool``) for ``Snapshot.node_pools``;
- the cloud's instances of each pool (by ``POOL_TAG``) every ``cloud.instancesInterval``, right after the
  pool shrank, and when an unmatched instance passed its grace: from them, the orphans
  (``burstd.runtime.orphans``), terminated only with ``cloud.deleteOrphans``.

Only providers configured under ``cloud.providers`` are created and asked. Errors are logged once per change
(their messages are redacted by ``ProviderError``) and counted in ``burstd_cloud_provider_errors_total``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from burstd.cloud.provider import CloudProvider, NodePoolBackend, ProviderError, Throttled, Unavailable
from burstd.cloud.registry import ProviderLoadError, UnknownProvider, get_provider
from burstd.engine.quotes import PoolCloudObs, cloud_key
from burstd.model.cloud import Instance, NodePool, Quote
from burstd.policy.spec import BurstPolicy, PoolSpec
from burstd.runtime.metrics import CloudPoolFigures, Metrics
from burstd.runtime.observe import NodePoolObs, Snapshot, machines_of, node_pool_key, scalable_of
from burstd.runtime.observe_nodepool import is_native
from burstd.runtime.orphans import machine_instance_ids, node_pool_instance_ids, scan
from burstd.runtime.settings import CloudSettings

__all__ = ["CloudConfigError", "CloudRound", "CloudView"]

log = logging.getLogger("burstd.runtime.cloud")

T = TypeVar("T")

#: the bound on one provider call when neither cloud.callTimeout nor requestTimeout is given
DEFAULT_CALL_TIMEOUT_S = 10.0
#: a throttled call with no retry-after is not repeated for this long
THROTTLE_BACKOFF_S = 5.0

ProviderFactory = Callable[..., CloudProvider]


class CloudConfigError(Exception):
    """A provider under ``cloud.providers`` cannot be created (unknown, broken, or rejecting its config)."""


@dataclass(frozen=True, slots=True)
class CloudRound:
    """What one refresh adds to the watch caches' snapshot."""

    node_pools: Mapping[str, NodePoolObs]
    quotes: Mapping[str, PoolCloudObs]


@dataclass(slots=True)
class _Pool:
    """What the view remembers of one pool between rounds."""

    policy: str
    spec: PoolSpec
    quote: Quote | None = None
    quoted_at: float | None = None
    error: ProviderError | None = None
    #: no quote is asked for before this time (a throttled call's retry-after)
    retry_at: float = 0.0
    instances: tuple[Instance, ...] | None = None
    listed_at: float | None = None
    instances_due: bool = True
    #: the node count the pool was last seen asking for (a drop means a release: list its instances)
    desired: int | None = None
    unmatched_since: Mapping[str, float] = field(default_factory=dict)
    orphans: tuple[str, ...] = ()


class CloudView:
    """The providers configured under ``cloud.providers`` and what they said about the running pools."""

    def __init__(
        self,
        settings: CloudSettings,
        providers: Mapping[str, CloudProvider],
        *,
        call_timeout: float = DEFAULT_CALL_TIMEOUT_S,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        #: ``cloud.callTimeout``, else the daemon's ``requestTimeout``
        self.call_timeout = settings.call_timeout if settings.call_timeout is not None else call_timeout
        self._providers = dict(providers)
        self._metrics = metrics
        self._pools: dict[str, _Pool] = {}
        self._node_pools: dict[str, NodePoolObs] = {}
        #: the error each (provider, call, pool) last logged: logged again only when it changes
        self._logged: dict[tuple[str, str, str], str] = {}
        self._unconfigured_warned: set[str] = set()
        if metrics is not None:
            metrics.cloud.pools = self.figures

    @classmethod
    def create(
        cls,
        settings: CloudSettings,
        *,
        call_timeout: float = DEFAULT_CALL_TIMEOUT_S,
        metrics: Metrics | None = None,
        factory: ProviderFactory = get_provider,
    ) -> CloudView:
        """A view with one provider per name under ``cloud.providers``, created from its configuration.
        Raises CloudConfigError naming the provider (never its configuration's values)."""
        providers: dict[str, CloudProvider] = {}
        for name in sorted(settings.providers):
            try:
                providers[name] = factory(name, **settings.config_of(name))
            except (UnknownProvider, ProviderLoadError) as exc:
                raise CloudConfigError(f"settings cloud.providers.{name}: {exc}") from None
        return cls(settings, providers, call_timeout=call_timeout, metrics=metrics)

    @property
    def providers(self) -> Mapping[str, CloudProvider]:
        """The providers by name (for the node-pool actuator)."""
        return self._providers

    @property
    def node_pools(self) -> Mapping[str, NodePoolObs]:
        """The native node pools as the providers last described them, by ``node_pool_key``."""
        return dict(self._node_pools)

    async def aclose(self) -> None:
        """Close every provider's HTTP sessions (errors are logged, never raised)."""
        for name, provider in self._providers.items():
            try:
                await provider.aclose()
            except Exception as exc:  # closing must not stop the others
                log.warning("cloud provider %s: closing failed: %s", name, _describe(provider, exc))

    # ------------------------------------------------------------------ the round

    async def refresh(self, policies: Sequence[BurstPolicy], now: float, snap: Snapshot) -> CloudRound:
        """Ask the providers what this round needs (see the module) and return it for the snapshot.
        Never raises for a provider's failure; each call is bounded by ``cloud.callTimeout``."""
        pools = self._track(policies)
        calls: list[Awaitable[None]] = []
        native: dict[str, tuple[NodePoolBackend, PoolSpec]] = {}
        for entry in pools.values():
            provider = self._providers[entry.spec.provider]
            self._note_release(entry, snap)
            if is_native(entry.spec) and isinstance(provider, NodePoolBackend):
                ref = entry.spec.node_pool
                assert ref is not None  # is_native
                native.setdefault(node_pool_key(ref.cluster_id, ref.node_pool_id), (provider, entry.spec))
            if self._quote_due(entry, now):
                calls.append(self._quote(provider, entry, now, snap))
            if entry.instances_due or (
                entry.listed_at is None or now - entry.listed_at >= self.settings.instances_interval
            ):
                calls.append(self._list(provider, entry, now))
        for np_key, (backend, spec) in native.items():
            calls.append(self._node_pool(backend, np_key, spec, now))
        self._node_pools = {k: v for k, v in self._node_pools.items() if k in native}
        await asyncio.gather(*calls)
        merged = Snapshot(
            scalables=snap.scalables,
            machines=snap.machines,
            node_pools={**snap.node_pools, **self._node_pools},
        )
        # An unmatched instance passed its grace since the last listing: list again before telling.
        again = [e for e in pools.values() if self._find_orphans(e, merged, now)]
        if again:
            await asyncio.gather(*(self._list(self._providers[e.spec.provider], e, now) for e in again))
            for entry in again:
                self._find_orphans(entry, merged, now)
        if self.settings.delete_orphans:
            await asyncio.gather(
                *(self._terminate(self._providers[e.spec.provider], e) for e in pools.values() if e.orphans)
            )
        return CloudRound(dict(self._node_pools), {key: self._observed(e, now) for key, e in pools.items()})

    def figures(self) -> list[CloudPoolFigures]:
        """Each pool's quote, orphans and instance counts, for the metrics (read at scrape time)."""
        out = []
        for entry in self._pools.values():
            states: dict[str, int] | None = None
            if entry.instances is not None:
                states = {}
                for inst in entry.instances:
                    states[inst.state.value] = states.get(inst.state.value, 0) + 1
            out.append(
                CloudPoolFigures(
                    policy=entry.policy,
                    pool=entry.spec.name,
                    provider=entry.spec.provider,
                    quote=entry.quote,
                    orphans=len(entry.orphans),
                    instances=states,
                )
            )
        return out

    # ------------------------------------------------------------------ helpers

    def _track(self, policies: Sequence[BurstPolicy]) -> dict[str, _Pool]:
        """The pools of configured providers, keyed by ``cloud_key``; the others are forgotten."""
        seen: dict[str, _Pool] = {}
        for policy in policies:
            name = policy.metadata.name
            for spec in policy.spec.burst.pools:
                if spec.provider not in self._providers:
                    self._warn_unconfigured(name, spec)
                    continue
                key = cloud_key(name, spec.name)
                entry = self._pools.get(key)
                if entry is None or entry.spec != spec:
                    entry = _Pool(name, spec)
                seen[key] = entry
        self._pools = seen
        return seen

    def _warn_unconfigured(self, policy: str, spec: PoolSpec) -> None:
        if spec.price is None or spec.price.source != "provider":
            return
        key = cloud_key(policy, spec.name)
        if key not in self._unconfigured_warned:
            self._unconfigured_warned.add(key)
            log.warning(
                "policy %s: pool %s is priced by cloud provider %s, which is not configured under the "
                "settings' cloud.providers: the pool has no price and is not grown",
                policy,
                spec.name,
                spec.provider,
            )

    def _quote_due(self, entry: _Pool, now: float) -> bool:
        """A quote is asked for again halfway through its TTL (so a failed call leaves the last good one
        standing until it expires), and after an error every round, unless throttled."""
        if now < entry.retry_at:
            return False
        young = entry.quoted_at is not None and now - entry.quoted_at < self.settings.quote_ttl / 2
        return not young or entry.error is not None

    def _note_release(self, entry: _Pool, snap: Snapshot) -> None:
        """A pool asking for fewer nodes than last round was released (partly): list its instances."""
        desired = _desired(entry.spec, snap)
        if desired is not None and entry.desired is not None and desired < entry.desired:
            entry.instances_due = True
        if desired is not None:
            entry.desired = desired

    async def _quote(self, provider: CloudProvider, entry: _Pool, now: float, snap: Snapshot) -> None:
        spec = entry.spec
        # how many more the pool could take; at least one (a pool at its max still needs its price)
        room = max(1, spec.nodes.max - (_desired(spec, snap) or 0))
        result = await self._call(spec, "quote", lambda: provider.quote(spec, room))
        if isinstance(result, ProviderError):
            entry.error = result
            if isinstance(result, Throttled):
                entry.retry_at = now + (result.retry_after or THROTTLE_BACKOFF_S)
            return
        entry.quote, entry.quoted_at, entry.error = result, now, None

    async def _list(self, provider: CloudProvider, entry: _Pool, now: float) -> None:
        spec = entry.spec
        result = await self._call(spec, "instances", lambda: provider.instances(spec))
        if isinstance(result, ProviderError):
            return  # listed again next round: the due flag stays
        entry.instances, entry.listed_at, entry.instances_due = tuple(result), now, False

    async def _node_pool(self, provider: NodePoolBackend, key: str, spec: PoolSpec, now: float) -> None:
        result = await self._call(spec, "node_pool", lambda: provider.node_pool(spec))
        if isinstance(result, NodePool):
            self._node_pools[key] = NodePoolObs(result, now)
        # on an error the last one observed stays, with its time: the engine holds once it is too old

    def _find_orphans(self, entry: _Pool, snap: Snapshot, now: float) -> bool:
        """Update the pool's orphans; True when its instances must be listed again before telling."""
        if entry.instances is None or entry.listed_at is None:
            return False
        members = _members(entry.spec, snap)
        if members is None:  # the pool's object is not observed: nothing can be told
            return False
        found = scan(
            entry.instances,
            entry.listed_at,
            members,
            entry.unmatched_since,
            now,
            self.settings.orphan_grace_period,
        )
        if found.orphans and found.orphans != entry.orphans:
            log.warning(
                "policy %s: pool %s: cloud instances with no Machine or node-pool member behind them for "
                "over %gs: %s%s",
                entry.policy,
                entry.spec.name,
                self.settings.orphan_grace_period,
                ", ".join(found.orphans),
                "; terminating them (cloud.deleteOrphans)" if self.settings.delete_orphans else "",
            )
        entry.unmatched_since, entry.orphans = found.unmatched_since, found.orphans
        entry.instances_due = entry.instances_due or found.recheck
        return found.recheck

    async def _terminate(self, provider: CloudProvider, entry: _Pool) -> None:
        spec, ids = entry.spec, entry.orphans
        result = await self._call(spec, "terminate", lambda: provider.terminate(spec, ids))
        if not isinstance(result, ProviderError):
            log.info("policy %s: pool %s: terminated orphaned instances %s", entry.policy, spec.name, ids)
        entry.instances_due = True  # verify they are gone

    def _observed(self, entry: _Pool, now: float) -> PoolCloudObs:
        fresh = entry.quoted_at is not None and now - entry.quoted_at < self.settings.quote_ttl
        error = entry.error
        return PoolCloudObs(
            quote=entry.quote if fresh else None,
            quoted_at=entry.quoted_at if fresh else None,
            error_reason=error.reason if error is not None else None,
            error=str(error) if error is not None else None,
            orphans=entry.orphans,
        )

    async def _call(self, spec: PoolSpec, call: str, fn: Callable[[], Awaitable[T]]) -> T | ProviderError:
        """``fn()`` (a call to the provider of pool ``spec``) within ``cloud.callTimeout``; any failure
        comes back as a ProviderError (logged once per change, counted by provider and reason)."""
        name, pool = spec.provider, spec.name
        provider = self._providers[name]
        timeout = self.call_timeout
        try:
            async with asyncio.timeout(timeout):
                result = await fn()
        except ProviderError as exc:
            error = exc
        except TimeoutError:
            error = Unavailable(
                f"{call}: no answer within cloud.callTimeout ({timeout:g}s)", provider=name, pool=pool
            )
        except Exception as exc:  # an SDK error the provider did not classify itself
            error = _classify(provider, exc, name, pool)
        else:
            if self._logged.pop((name, call, pool), None) is not None:
                log.info("cloud provider %s: %s for pool %s works again", name, call, pool)
            return result
        if self._metrics is not None:
            self._metrics.cloud_errors.labels(name, error.reason).inc()
        text = str(error)
        if self._logged.get((name, call, pool)) != text:
            self._logged[(name, call, pool)] = text
            log.error("cloud provider %s: %s for pool %s failed: %s", name, call, pool, text)
        return error


def _desired(spec: PoolSpec, snap: Snapshot) -> int | None:
    """The node count the pool asks for now, as observed (None when not observed)."""
    if is_native(spec):
        ref = spec.node_pool
        assert ref is not None
        obs = snap.node_pools.get(node_pool_key(ref.cluster_id, ref.node_pool_id))
        return obs.node_pool.desired if obs is not None else None
    obj = scalable_of(spec, snap)
    if obj is None:
        return None
    return obj.replicas if obj.replicas is not None else obj.status_replicas


def _members(spec: PoolSpec, snap: Snapshot) -> set[str] | None:
    """The instance ids behind the pool's Machines or node-pool members (None when not observed)."""
    if is_native(spec):
        ref = spec.node_pool
        assert ref is not None
        obs = snap.node_pools.get(node_pool_key(ref.cluster_id, ref.node_pool_id))
        return node_pool_instance_ids(obs.node_pool) if obs is not None else None
    obj = scalable_of(spec, snap)
    return machine_instance_ids(machines_of(snap, obj)) if obj is not None else None


def _classify(provider: Any, exc: Exception, name: str, pool: str) -> ProviderError:
    try:
        error = provider.classify(exc)
    except Exception:  # a broken classifier still yields an error, without the original's text
        return Unavailable(f"unexpected {type(exc).__name__}", provider=name, pool=pool)
    if isinstance(error, ProviderError):
        return error
    return Unavailable(f"unexpected {type(exc).__name__}", provider=name, pool=pool)


def _describe(provider: CloudProvider, exc: Exception) -> str:
    return str(_classify(provider, exc, getattr(provider, "name", "?"), ""))
