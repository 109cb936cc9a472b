"""FakeProvider: an in-memory cloud for tests and the simulator, scripted by :mod:`.script`.

It behaves like a strict real API: unknown pools, instance types, zones and instance ids are
InvalidRequest; launching beyond quota is QuotaExceeded; launching while out of stock is StockOut. Time is
the provider's own virtual clock (``advance()``) or a ``clock`` callable given by the caller, never the
wall clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from burstd.cloud.provider import (
    AuthFailed,
    Instance,
    InstanceState,
    InvalidRequest,
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
    times: int


@dataclass(slots=True)
class _Machine:
    id: str
    pool: str
    created_at: float
    stop_requested_at: float | None = None


class FakeProvider:
    """A scriptable in-memory CloudProvider (entry point ``fake`` in ``burstd.providers``)."""

    name: ClassVar[str] = "fake"

    def __init__(
        self,
        script: Mapping[str, Any] | Script | None = None,
        *,
        script_file: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] | None = None,
        start: float = 0.0,
    ) -> None:
        if script is not None and script_file is not None:
            raise ScriptError("give the fake provider either script or script_file, not both")
        if script_file is not None:
            script = _read_script_file(Path(script_file))
        self.script: Script = parse_script(script)
        self._clock = clock
        self._now = float(start)
        self._rules = [_Rule(rule, rule.after, rule.times) for rule in self.script.errors]
        self._machines: dict[str, _Machine] = {}
        self._serial = 0
        self.calls: list[CallRecord] = []

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
        script = self._begin("quote", pool.name, nodes=nodes)
        self._check_offer(pool, script)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 0:
            raise self._fail(
                "quote",
                pool.name,
                InvalidRequest(
                    f"nodes must be a non-negative integer, got {nodes!r}", provider=self.name, pool=pool.name
                ),
            )
        return Quote(
            in_stock=script.in_stock(self.now),
            quota_headroom_nodes=self.quota_headroom(pool.name),
            price_per_node_hour=script.price,
            currency=script.currency,
        )

    async def instances(self, pool: PoolSpec) -> Sequence[Instance]:
        """Every instance of ``pool``, including terminated ones (as real clouds list them for a while)."""
        self._begin("instances", pool.name)
        return self.instances_now(pool.name)

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

    # ------------------------------------------------------------------------------------ test helpers

    def launch(self, pool: str, nodes: int = 1) -> list[Instance]:
        """Launch ``nodes`` instances in ``pool`` (pending for the pool's launchDelay, then running).

        Raises InvalidRequest, StockOut or QuotaExceeded as a real RunInstances call would.
        """
        script = self._begin("launch", pool, nodes=nodes)
        if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
            raise self._fail(
                "launch",
                pool,
                InvalidRequest(
                    f"nodes must be a positive integer, got {nodes!r}", provider=self.name, pool=pool
                ),
            )
        if not script.in_stock(self.now):
            raise self._fail(
                "launch",
                pool,
                StockOut("the instance type is sold out in this zone", provider=self.name, pool=pool),
            )
        headroom = self.quota_headroom(pool)
        if nodes > headroom:
            raise self._fail(
                "launch",
                pool,
                QuotaExceeded(
                    f"launching {nodes} instances exceeds the quota (room for {headroom})",
                    provider=self.name,
                    pool=pool,
                ),
            )
        created = []
        for _ in range(nodes):
            self._serial += 1
            machine = _Machine(f"fake-{pool}-{self._serial:05d}", pool, self.now)
            self._machines[machine.id] = machine
            created.append(self._instance(machine))
        return created

    def terminate(self, instance_ids: Iterable[str]) -> None:
        """Ask to terminate instances: stopping for the pool's terminateDelay, then terminated.

        Unknown ids are InvalidRequest (and nothing is terminated); stopping or terminated ones are left as
        they are.
        """
        ids = [instance_ids] if isinstance(instance_ids, str) else list(instance_ids)
        unknown = [i for i in ids if i not in self._machines]
        pool = self._machines[ids[0]].pool if ids and not unknown else ""
        self._begin("terminate", pool, nodes=len(ids))
        if unknown:
            raise self._fail(
                "terminate",
                pool,
                InvalidRequest(f"unknown instance ids: {', '.join(sorted(unknown))}", provider=self.name),
            )
        for instance_id in ids:
            machine = self._machines[instance_id]
            if machine.stop_requested_at is None:
                machine.stop_requested_at = self.now

    def instances_now(self, pool: str) -> list[Instance]:
        """``instances()`` without the call being recorded or scripted errors applied (for assertions)."""
        self._pool(pool, "instances")
        return [self._instance(m) for m in self._machines.values() if m.pool == pool]

    def alive(self, pool: str | None = None) -> int:
        """Instances not yet terminated, in ``pool`` or in every pool."""
        return sum(
            1
            for m in self._machines.values()
            if (pool is None or m.pool == pool) and self._state(m) is not InstanceState.TERMINATED
        )

    def quota_headroom(self, pool: str) -> int:
        script = self._pool(pool, "quota")
        room = script.quota - self.alive(pool)
        if self.script.quota is not None:
            room = min(room, self.script.quota - self.alive())
        return max(room, 0)

    def inject(
        self,
        call: Call,
        error: ErrorName,
        *,
        times: int = 1,
        pool: str | None = None,
        after: int = 0,
        message: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``call`` (after ``after`` more) raise ``error``."""
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
        self._rules.append(_Rule(rule, rule.after, rule.times))

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
        self.calls.append(CallRecord(call, pool, self.now, nodes))
        if call != "terminate" or pool:
            try:
                script = self._pool(pool, call)
            except InvalidRequest as exc:
                raise self._fail(call, pool, exc) from None
        else:
            script = PoolScript()
        for rule in self._rules:
            if rule.times == 0 or rule.spec.call != call or rule.spec.pool not in (None, pool):
                continue
            if rule.after > 0:
                rule.after -= 1
                continue
            rule.times -= 1
            raise self._fail(call, pool, self._scripted_error(rule.spec, pool))
        return script

    def _fail(self, call: Call, pool: str, error: ProviderError) -> ProviderError:
        last = self.calls[-1]
        if last.call == call and last.pool == pool and last.failed is None:
            self.calls[-1] = CallRecord(last.call, last.pool, last.at, last.nodes, error.reason)
        return error

    def _scripted_error(self, rule: ErrorRule, pool: str) -> ProviderError:
        message = rule.message or _DEFAULT_MESSAGES[rule.error]
        if rule.error == "Throttled":
            return Throttled(
                message, provider=self.name, pool=pool or None, code=rule.code, retry_after=rule.retry_after
            )
        return _ERRORS[rule.error](message, provider=self.name, pool=pool or None, code=rule.code)

    def _check_offer(self, pool: PoolSpec, script: PoolScript) -> None:
        if script.instance_type is not None and pool.instance_type != script.instance_type:
            raise self._fail(
                "quote",
                pool.name,
                InvalidRequest(
                    f"instance type {pool.instance_type!r} is not offered in pool {pool.name!r} "
                    f"(it offers {script.instance_type!r})",
                    provider=self.name,
                    pool=pool.name,
                ),
            )
        if script.zone is not None and pool.zone != script.zone:
            raise self._fail(
                "quote",
                pool.name,
                InvalidRequest(
                    f"zone {pool.zone!r} is not where pool {pool.name!r} is (it is in {script.zone!r})",
                    provider=self.name,
                    pool=pool.name,
                ),
            )

    def _state(self, machine: _Machine) -> InstanceState:
        now = self.now
        script = self.script.pools[machine.pool]
        if machine.stop_requested_at is not None:
            if now >= machine.stop_requested_at + script.terminate_delay:
                return InstanceState.TERMINATED
            return InstanceState.STOPPING
        if now >= machine.created_at + script.launch_delay:
            return InstanceState.RUNNING
        return InstanceState.PENDING

    def _instance(self, machine: _Machine) -> Instance:
        return Instance(machine.id, machine.pool, self._state(machine), machine.created_at)


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
