"""FakeProvider: an in-memory cloud for tests and the simulator, scripted by :mod:`.script`.

It behaves like a strict real API: unknown pools, node pools, instance types, zones and instance ids are
InvalidRequest; launching beyond quota is QuotaExceeded; launching while out of stock is StockOut. Time is
the provider's own virtual clock (``advance()``) or a ``clock`` callable given by the caller, never the
wall clock.

Every provider call has a synchronous core (``quote_sync``, ``instances_sync``, ...) that records the call
and applies the scripted errors exactly as the async method does; the async methods only wrap it (nothing
in the fake ever awaits). The simulator drives the cores directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from burstd.cloud.provider import (
    AuthFailed,
    Instance,
    InstanceState,
    InvalidRequest,
    NodePool,
    NodePoolMember,
    ProviderError,
    QuotaExceeded,
    Quote,
    StockOut,
    Throttled,
    Unavailable,
)
from burstd.policy.spec import PoolSpec
from burstd_provider_fake.script import (
    Call,
    ErrorName,
    ErrorRule,
    PoolScript,
    Script,
    ScriptError,
    parse_pool,
    parse_script,
)

__all__ = ["CallRecord", "FakeProvider"]

_ERRORS: dict[ErrorName, type[ProviderError]] = {
    "StockOut": StockOut,
    "QuotaExceeded": QuotaExceeded,
    "Throttled": Throttled,
    "AuthFailed": AuthFailed,
    "InvalidRequest": InvalidRequest,
    "Unavailable": Unavailable,
}

_DEFAULT_MESSAGES: dict[ErrorName, str] = {
    "StockOut": "injected: the instance type is sold out in this zone",
    "QuotaExceeded": "injected: the account's instance quota is used up",
    "Throttled": "injected: request rate limit exceeded",
    "AuthFailed": "injected: the credentials were rejected",
    "InvalidRequest": "injected: the request was rejected as invalid",
    "Unavailable": "injected: the cloud API is unavailable",
}


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call the provider received (also the failed ones), for tests to assert on."""

    call: Call
    pool: str
    at: float
    nodes: int | None = None
    failed: str | None = None  # the ProviderError reason when the call raised


@dataclass(slots=True)
class _Rule:
    spec: ErrorRule
    after: int
    times: int | None  # None: always


@dataclass(slots=True)
class _Machine:
    id: str
    pool: str
    created_at: float
    tagged: bool = True
    #: a state held until terminate is asked (instances added by tests in a given state)
    pinned: InstanceState | None = None
    stop_requested_at: float | None = None


@dataclass(slots=True)
class _NodePool:
    pool: str
    cluster_id: str
    node_pool_id: str
    desired: int
    autoscaling: bool
    members: list[str] = field(default_factory=list)  # machine ids in launch order


class FakeProvider:
    """A scriptable in-memory CloudProvider and NodePoolBackend (entry point ``fake`` in
    ``burstd.providers``)."""

    name: ClassVar[str] = "fake"

    def __init__(
        self,
        script: Mapping[str, Any] | Script | None = None,
        *,
        script_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] | None = None,
        start: float = 0.0,
        record_calls: bool = True,
    ) -> None:
        if script is not None and script_file is not None:
            raise ScriptError("give the fake provider either script or script_file, not both")
        if script_file is not None:
            script = _read_script_file(Path(script_file))
        self.script: Script = parse_script(script)
        self._clock = clock
        self._now = float(start)
        self._rules = [
            _Rule(r, r.after, None if r.times == "always" else r.times) for r in self.script.errors
        ]
        self._machines: dict[str, _Machine] = {}
        self._by_pool: dict[str, list[_Machine]] = {}
        #: per pool: machines not asked to stop (and not held terminated); those asked, maybe not gone yet
        self._active: dict[str, int] = {}
        self._stopping: dict[str, list[_Machine]] = {}
        self._record = record_calls
        self._quotes: dict[tuple[bool, int, float, str], Quote] = {}
        self._node_pools: dict[str, _NodePool] = {}  # by "clusterId/nodePoolId"
        self._serial = 0
        #: every call received, unless ``record_calls`` is off (the simulator keeps no history)
        self.calls: list[CallRecord] = []
        #: how many times aclose() was called (it holds no sessions; closing is idempotent)
        self.closed = 0
        for name, pool in self.script.pools.items():
            if pool.node_pool is not None:
                node_pool = self._add_node_pool(
                    name, pool.node_pool.cluster_id, pool.node_pool.node_pool_id, pool.node_pool.autoscaling
                )
                for _ in range(pool.node_pool.desired):
                    node_pool.members.append(self._new_machine(name, ready_now=True).id)
                node_pool.desired = len(node_pool.members)

    # ------------------------------------------------------------------------------------ construction

    @classmethod
    def from_yaml(cls, text: str, *, clock: Callable[[], float] | None = None) -> FakeProvider:
        """A provider scripted by YAML text (see :mod:`burstd_provider_fake.script`)."""
        return cls(_parse_yaml(text, "<text>"), clock=clock)

    # ------------------------------------------------------------------------------------ clock

    @property
    def now(self) -> float:
        return float(self._clock()) if self._clock is not None else self._now

    def advance(self, seconds: float) -> float:
        """Move the provider's own clock forward; returns the new time."""
        if self._clock is not None:
            raise RuntimeError("this FakeProvider follows an external clock; advance that clock instead")
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards ({seconds}s)")
        self._now += seconds
        return self._now

    # ------------------------------------------------------------------------------------ CloudProvider

    async def quote(self, pool: PoolSpec, nodes: int) -> Quote:
        """Stock, quota headroom and price of ``pool`` now, for launching ``nodes`` more nodes."""
        return self.quote_sync(pool, nodes)

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        """Every instance tagged for ``pool``, terminated ones included (as real clouds list them a while)."""
        return self.instances_sync(pool)

    async def terminate(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        """Terminate instances of ``pool``: stopping for its terminateDelay, then terminated."""
        self.terminate_sync(pool, instance_ids)

    def classify(self, error: Exception) -> ProviderError:
        """Map an exception to a ProviderError, as a real provider maps its SDK's exceptions."""
        if isinstance(error, ProviderError):
            return error
        if isinstance(error, TimeoutError):
            return Unavailable("the request timed out", provider=self.name)
        if isinstance(error, OSError):  # ConnectionError and friends
            return Unavailable(f"cannot reach the API: {type(error).__name__}: {error}", provider=self.name)
        if isinstance(error, ValueError | TypeError | KeyError):
            return InvalidRequest(f"{type(error).__name__}: {error}", provider=self.name)
        return Unavailable(f"unexpected {type(error).__name__}: {error}", provider=self.name)

    async def aclose(self) -> None:
        """Nothing to release (no sessions); counted in ``closed``. Idempotent."""
        self.closed += 1

    # ------------------------------------------------------------------------------------ NodePoolBackend

    async def node_pool(self, pool: PoolSpec) -> NodePool:
        """The pool's native node pool: desired count and members (terminated ones are gone)."""
        return self.node_pool_sync(pool)

    async def scale_node_pool(self, pool: PoolSpec, desired: int) -> None:
        """Set the desired count: launches members (subject to stock and quota) or removes the newest."""
        self.scale_node_pool_sync(pool, desired)

    async def remove_nodes(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        """Remove exactly these members; the desired count drops by as many."""
        self.remove_nodes_sync(pool, instance_ids)

    # ------------------------------------------------------------------------------------ synchronous cores

    def quote_sync(self, pool: PoolSpec, nodes: int) -> Quote:
        script = self._begin("quote", pool.name, nodes=nodes)
        self._check_offer(pool, script)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 0:
            raise self._invalid("quote", pool.name, f"nodes must be a non-negative integer, got {nodes!r}")
        key = (script.in_stock(self.now), self.quota_headroom(pool.name), script.price, script.currency)
        quote = self._quotes.get(key)
        if quote is None:  # quotes are immutable: equal ones are shared (the simulator asks many)
            if len(self._quotes) >= 4096:
                self._quotes.clear()
            quote = self._quotes[key] = Quote(*key)
        return quote

    def instances_sync(self, pool: PoolSpec) -> list[Instance]:
        self._begin("instances", pool.name)
        return self.instances_now(pool.name)

    def terminate_sync(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        """Unknown ids, or ids of another pool, are InvalidRequest (nothing is terminated); stopping or
        terminated ones are left as they are (an instance already gone is not an error)."""
        ids = _ids(instance_ids)
        self._begin("terminate", pool.name, nodes=len(ids))
        self._check_ids("terminate", pool.name, ids, lambda m: m.pool == pool.name, f"pool {pool.name!r}")
        for instance_id in ids:
            self._stop(self._machines[instance_id])

    def node_pool_sync(self, pool: PoolSpec) -> NodePool:
        self._begin("node_pool", pool.name)
        node_pool = self._node_pool("node_pool", pool)
        members = []
        for instance_id in node_pool.members:
            machine = self._machines[instance_id]
            state = self._state(machine)
            if state is InstanceState.TERMINATED:
                continue
            started = state in (InstanceState.RUNNING, InstanceState.STOPPING)
            members.append(
                NodePoolMember(
                    instance_id=machine.id,
                    node_name=f"node-{machine.id}" if started else None,
                    ready=state is InstanceState.RUNNING,
                    created_at=machine.created_at,
                    deleting=state is InstanceState.STOPPING,
                )
            )
        return NodePool(
            id=node_pool.node_pool_id,
            desired=node_pool.desired,
            members=tuple(members),
            autoscaling=node_pool.autoscaling,
        )

    def scale_node_pool_sync(self, pool: PoolSpec, desired: int) -> None:
        script = self._begin("scale_node_pool", pool.name, nodes=desired)
        node_pool = self._node_pool("scale_node_pool", pool)
        if isinstance(desired, bool) or not isinstance(desired, int) or desired < 0:
            raise self._invalid(
                "scale_node_pool", pool.name, f"desired must be a non-negative integer, got {desired!r}"
            )
        live = [i for i in node_pool.members if self._machines[i].stop_requested_at is None]
        if desired > len(live):
            more = desired - len(live)
            self._check_launch("scale_node_pool", pool.name, script, more)
            node_pool.members.extend(self._new_machine(pool.name).id for _ in range(more))
        else:
            for instance_id in live[desired:]:  # the newest go first
                self._stop(self._machines[instance_id])
        node_pool.desired = desired

    def remove_nodes_sync(self, pool: PoolSpec, instance_ids: Sequence[str]) -> None:
        ids = _ids(instance_ids)
        self._begin("remove_nodes", pool.name, nodes=len(ids))
        node_pool = self._node_pool("remove_nodes", pool)
        members = set(node_pool.members)
        self._check_ids(
            "remove_nodes",
            pool.name,
            ids,
            lambda m: m.id in members,
            f"node pool {node_pool.cluster_id}/{node_pool.node_pool_id}",
        )
        removed = 0
        for instance_id in dict.fromkeys(ids):
            machine = self._machines[instance_id]
            if machine.stop_requested_at is None:
                self._stop(machine)
                removed += 1
        node_pool.desired = max(node_pool.desired - removed, 0)

    # ------------------------------------------------------------------------------------ test helpers

    def launch(self, pool: str, nodes: int = 1) -> list[Instance]:
        """Launch ``nodes`` instances tagged for ``pool``, as a Cluster API Machine would (pending for the
        pool's launchDelay, then running). Raises InvalidRequest, StockOut or QuotaExceeded as a real
        RunInstances call would."""
        script = self._begin("launch", pool, nodes=nodes)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
            raise self._invalid("launch", pool, f"nodes must be a positive integer, got {nodes!r}")
        self._check_launch("launch", pool, script, nodes)
        return [self._instance(self._new_machine(pool)) for _ in range(nodes)]

    def add_instance(
        self,
        pool: str,
        state: InstanceState = InstanceState.RUNNING,
        created_at: float | None = None,
        *,
        tagged: bool = True,
    ) -> str:
        """An instance of ``pool``'s type held in ``state`` until terminated (quota and stock are not
        checked): with ``tagged`` and no node-pool member or Machine behind it, a leaked instance for
        orphan tests. Not recorded as a call. Returns its id."""
        self._pool(pool, "add_instance")
        machine = self._new_machine(pool, pinned=InstanceState(state), tagged=tagged)
        if created_at is not None:
            machine.created_at = float(created_at)
        return machine.id

    def add_node_pool(
        self,
        pool: str,
        cluster_id: str,
        node_pool_id: str,
        ready: Sequence[bool] = (),
        *,
        autoscaling: bool = False,
    ) -> list[str]:
        """Give ``pool`` a native node pool with one member per entry, Ready or pending (pending members
        stay so until removed). The desired count is the number of members. Returns the members' ids."""
        self._pool(pool, "add_node_pool")
        node_pool = self._add_node_pool(pool, cluster_id, node_pool_id, autoscaling)
        for is_ready in ready:
            pinned = InstanceState.RUNNING if is_ready else InstanceState.PENDING
            node_pool.members.append(self._new_machine(pool, pinned=pinned).id)
        node_pool.desired = len(node_pool.members)
        return list(node_pool.members)

    def set_pool(self, pool: str, **changes: Any) -> None:
        """Add a pool to the script or change its settings (field names as in PoolScript, e.g.
        ``price=2.5, stock=False, quota=3``); validated like the script. Not for ``node_pool``: use
        :meth:`add_node_pool`."""
        if "node_pool" in changes or "nodePool" in changes:
            raise ScriptError("set_pool cannot change a node pool; use add_node_pool")
        current = self.script.pools.get(pool)
        data = current.model_dump() if current is not None else {}
        data.update(changes)
        updated = parse_pool(pool, data)
        self.script = self.script.model_copy(update={"pools": {**self.script.pools, pool: updated}})

    def release(self, pool: str, instance_ids: Iterable[str]) -> None:
        """Terminate instances of ``pool`` as Cluster API would when it deletes their Machines (the
        counterpart of :meth:`launch`: no provider call, nothing recorded, no scripted errors)."""
        for instance_id in _ids(instance_ids):
            machine = self._machines.get(instance_id)
            if machine is None or machine.pool != pool:
                raise InvalidRequest(
                    f"release: no instance {instance_id!r} in pool {pool!r}", provider=self.name
                )
            self._stop(machine)

    def in_stock_now(self, pool: str) -> bool:
        """Whether ``pool`` is in stock now, without a call being recorded or scripted errors applied."""
        return self._pool(pool, "in_stock").in_stock(self.now)

    def instances_now(self, pool: str) -> list[Instance]:
        """The instances tagged for ``pool``, without the call being recorded or scripted errors applied."""
        self._pool(pool, "instances")
        return [self._instance(m) for m in self._by_pool.get(pool, ()) if m.tagged]

    def alive(self, pool: str | None = None) -> int:
        """Instances not yet terminated (tagged or not), in ``pool`` or in every pool (the clock is taken
        to move forward only)."""
        if pool is None:
            return sum(self.alive(name) for name in self._by_pool)
        stopping = self._stopping.get(pool)
        if stopping:
            stopping[:] = [m for m in stopping if self._state(m) is not InstanceState.TERMINATED]
        return self._active.get(pool, 0) + (len(stopping) if stopping else 0)

    def alive_ids(self, pool: str | None = None) -> set[str]:
        return {
            m.id
            for m in self._machines.values()
            if (pool is None or m.pool == pool) and self._state(m) is not InstanceState.TERMINATED
        }

    def node_pool_members(self, cluster_id: str, node_pool_id: str) -> list[str]:
        """Ids of the node pool's members not being removed, in launch order (not recorded)."""
        node_pool = self._node_pools[f"{cluster_id}/{node_pool_id}"]
        return [i for i in node_pool.members if self._machines[i].stop_requested_at is None]

    def node_pool_desired(self, cluster_id: str, node_pool_id: str) -> int:
        return self._node_pools[f"{cluster_id}/{node_pool_id}"].desired

    def quota_headroom(self, pool: str) -> int:
        script = self._pool(pool, "quota")
        room = script.quota - self.alive(pool)
        if self.script.quota is not None:
            room = min(room, self.script.quota - self.alive())
        return max(room, 0)

    def inject(
        self,
        call: Call | None,
        error: ErrorName,
        *,
        times: int | str = 1,
        pool: str | None = None,
        after: int = 0,
        message: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``call`` (every call when None; after ``after`` more) raise
        ``error``; ``times="always"`` never runs out."""
        rule = ErrorRule.model_validate(
            {
                "call": call,
                "error": error,
                "pool": pool,
                "times": times,
                "after": after,
                "message": message,
                "code": code,
                "retry_after": retry_after,
            }
        )
        if pool is not None:
            self._pool(pool, "inject")
        self._rules.append(_Rule(rule, rule.after, None if rule.times == "always" else rule.times))

    def calls_of(self, call: Call) -> list[CallRecord]:
        return [record for record in self.calls if record.call == call]

    # ------------------------------------------------------------------------------------ internals

    def _pool(self, pool: str, call: str) -> PoolScript:
        script = self.script.pools.get(pool)
        if script is None:
            known = ", ".join(sorted(self.script.pools)) or "none"
            raise InvalidRequest(
                f"{call}: unknown pool {pool!r} (known pools: {known})", provider=self.name, pool=pool
            )
        return script

    def _begin(self, call: Call, pool: str, *, nodes: int | None = None) -> PoolScript:
        """Record the call, validate the pool, then raise a scripted error if one is due."""
        if self._record:
            self.calls.append(CallRecord(call, pool, self.now, nodes))
        try:
            script = self._pool(pool, call)
        except InvalidRequest as exc:
            raise self._fail(call, pool, exc) from None
        for rule in self._rules:
            if rule.times == 0 or rule.spec.call not in (None, call) or rule.spec.pool not in (None, pool):
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            if rule.times is not None:
                rule.times -= 1
            raise self._fail(call, pool, self._scripted_error(rule.spec, pool))
        return script

    def _fail(self, call: Call, pool: str, error: ProviderError) -> ProviderError:
        if not self.calls:
            return error
        last = self.calls[-1]
        if last.call == call and last.pool == pool and last.failed is None:
            self.calls[-1] = CallRecord(last.call, last.pool, last.at, last.nodes, error.reason)
        return error

    def _invalid(self, call: Call, pool: str, message: str) -> ProviderError:
        return self._fail(call, pool, InvalidRequest(message, provider=self.name, pool=pool))

    def _scripted_error(self, rule: ErrorRule, pool: str) -> ProviderError:
        message = rule.message or _DEFAULT_MESSAGES[rule.error]
        if rule.error == "Throttled":
            return Throttled(
                message, provider=self.name, pool=pool or None, code=rule.code, retry_after=rule.retry_after
            )
        return _ERRORS[rule.error](message, provider=self.name, pool=pool or None, code=rule.code)

    def _check_offer(self, pool: PoolSpec, script: PoolScript) -> None:
        if script.instance_type is not None and pool.instance_type != script.instance_type:
            raise self._invalid(
                "quote",
                pool.name,
                f"instance type {pool.instance_type!r} is not offered in pool {pool.name!r} "
                f"(it offers {script.instance_type!r})",
            )
        if script.zone is not None and pool.zone != script.zone:
            raise self._invalid(
                "quote",
                pool.name,
                f"zone {pool.zone!r} is not where pool {pool.name!r} is (it is in {script.zone!r})",
            )

    def _check_launch(self, call: Call, pool: str, script: PoolScript, nodes: int) -> None:
        if not script.in_stock(self.now):
            raise self._fail(
                call,
                pool,
                StockOut("the instance type is sold out in this zone", provider=self.name, pool=pool),
            )
        headroom = self.quota_headroom(pool)
        if nodes > headroom:
            raise self._fail(
                call,
                pool,
                QuotaExceeded(
                    f"launching {nodes} instances exceeds the quota (room for {headroom})",
                    provider=self.name,
                    pool=pool,
                ),
            )

    def _check_ids(
        self, call: Call, pool: str, ids: Sequence[str], belongs: Callable[[_Machine], bool], where: str
    ) -> None:
        unknown = [i for i in ids if i not in self._machines]
        if unknown:
            raise self._invalid(call, pool, f"unknown instance ids: {', '.join(sorted(unknown))}")
        foreign = [i for i in ids if not belongs(self._machines[i])]
        if foreign:
            raise self._invalid(call, pool, f"instances not in {where}: {', '.join(sorted(foreign))}")

    def _node_pool(self, call: Call, pool: PoolSpec) -> _NodePool:
        ref = pool.node_pool
        if ref is None:
            raise self._invalid(
                call,
                pool.name,
                f"pool {pool.name!r} names no native node pool (nodePool: clusterId, nodePoolId)",
            )
        key = f"{ref.cluster_id}/{ref.node_pool_id}"
        node_pool = self._node_pools.get(key)
        if node_pool is None:
            known = ", ".join(sorted(self._node_pools)) or "none"
            raise self._invalid(call, pool.name, f"unknown node pool {key} (known node pools: {known})")
        if node_pool.pool != pool.name:
            raise self._invalid(call, pool.name, f"node pool {key} belongs to pool {node_pool.pool!r}")
        return node_pool

    def _add_node_pool(self, pool: str, cluster_id: str, node_pool_id: str, autoscaling: bool) -> _NodePool:
        key = f"{cluster_id}/{node_pool_id}"
        if not cluster_id or not node_pool_id:
            raise ScriptError(f"a node pool needs a clusterId and a nodePoolId, got {key!r}")
        if key in self._node_pools:
            raise ScriptError(f"node pool {key} exists already (pool {self._node_pools[key].pool})")
        if any(n.pool == pool for n in self._node_pools.values()):
            raise ScriptError(f"pool {pool} has a node pool already")
        node_pool = self._node_pools[key] = _NodePool(pool, cluster_id, node_pool_id, 0, autoscaling)
        return node_pool

    def _new_machine(
        self,
        pool: str,
        *,
        pinned: InstanceState | None = None,
        tagged: bool = True,
        ready_now: bool = False,
    ) -> _Machine:
        self._serial += 1
        now = self.now
        created = now - self.script.pools[pool].launch_delay if ready_now else now
        machine = _Machine(f"fake-{pool}-{self._serial:05d}", pool, created, tagged, pinned)
        self._machines[machine.id] = machine
        self._by_pool.setdefault(pool, []).append(machine)
        if pinned is InstanceState.STOPPING:
            self._stopping.setdefault(pool, []).append(machine)
        elif pinned is not InstanceState.TERMINATED:
            self._active[pool] = self._active.get(pool, 0) + 1
        return machine

    def _stop(self, machine: _Machine) -> None:
        if machine.stop_requested_at is not None or machine.pinned is InstanceState.TERMINATED:
            return
        if machine.pinned is not InstanceState.STOPPING:
            self._active[machine.pool] -= 1
            self._stopping.setdefault(machine.pool, []).append(machine)
        machine.stop_requested_at = self.now
        machine.pinned = None

    def _state(self, machine: _Machine) -> InstanceState:
        now = self.now
        script = self.script.pools[machine.pool]
        if machine.stop_requested_at is not None:
            if now >= machine.stop_requested_at + script.terminate_delay:
                return InstanceState.TERMINATED
            return InstanceState.STOPPING
        if machine.pinned is not None:
            return machine.pinned
        if now >= machine.created_at + script.launch_delay:
            return InstanceState.RUNNING
        return InstanceState.PENDING

    def _instance(self, machine: _Machine) -> Instance:
        return Instance(machine.id, machine.pool, self._state(machine), machine.created_at)


def _ids(instance_ids: Iterable[str] | str) -> list[str]:
    return [instance_ids] if isinstance(instance_ids, str) else list(instance_ids)


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ScriptError(f"fake provider script {where} is not valid YAML: {exc}") from None


def _read_script_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"cannot read fake provider script {path}: {exc.strerror or exc}") from None
    return _parse_yaml(text, str(path))
