"""The contract every cloud provider plugin passes: the fake, Tencent Cloud and Alibaba Cloud alike.

A provider's test module subclasses :class:`ProviderContract` and defines the ``harness`` fixture, which
yields a :class:`ContractHarness`: it makes providers pointed at the cloud behind them (for the real
providers: their real SDK talking to a strict local fake endpoint) and scripts that cloud through a
:class:`CloudScript`. The contract states behaviour, never how a provider gets there: how many API calls a
quote takes, which API answers a stock question, which error code a cloud uses for throttling are the
provider's and its harness's business.

Every test creates its providers inside its own event loop (``run``): the SDKs' HTTP sessions belong to
the loop they were made in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import pytest

from burstd.cloud import (
    AuthFailed,
    CloudProvider,
    InstanceState,
    InvalidRequest,
    NodePoolBackend,
    ProviderError,
    QuotaExceeded,
    StockOut,
    Throttled,
    Unavailable,
    load_class,
)
from burstd.policy.spec import PoolSpec

__all__ = ["CloudScript", "ContractHarness", "ErrorKind", "Operation", "ProviderContract", "run"]

T = TypeVar("T")

#: What the contract asks a provider to do. ``quote`` may take several API calls: an error scripted for it
#: hits the first of them.
Operation = Literal["quote", "instances", "terminate", "node_pool", "scale_node_pool", "remove_nodes"]
#: The failures a cloud can answer with; ``Timeout`` is an endpoint that does not answer within the
#: provider's call deadline.
ErrorKind = Literal[
    "StockOut", "QuotaExceeded", "Throttled", "AuthFailed", "InvalidRequest", "Unavailable", "Timeout"
]

ERROR_CLASSES: dict[ErrorKind, type[ProviderError]] = {
    "StockOut": StockOut,
    "QuotaExceeded": QuotaExceeded,
    "Throttled": Throttled,
    "AuthFailed": AuthFailed,
    "InvalidRequest": InvalidRequest,
    "Unavailable": Unavailable,
    "Timeout": Unavailable,
}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class CloudScript(Protocol):
    """The cloud behind a provider, scripted by the contract (thread-safe: the cloud may serve from another
    thread). Pools are the ``PoolSpec`` the harness made."""

    def set_stock(self, pool: PoolSpec, in_stock: bool) -> None: ...

    def set_price(self, pool: PoolSpec, price_per_node_hour: float, currency: str) -> None: ...

    def set_quota_headroom(self, pool: PoolSpec, nodes: int) -> None:
        """How many more instances of the pool's type the account's quota allows."""
        ...

    def add_instance(
        self, pool: PoolSpec, state: InstanceState, created_at: float, *, tagged: bool = True
    ) -> str:
        """An instance of the pool's type; with ``tagged`` it carries POOL_TAG = the pool's name. Its id."""
        ...

    def fail(
        self, operation: Operation, kind: ErrorKind, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """The next ``times`` requests of ``operation`` fail as ``kind``."""
        ...

    def requests(self, operation: Operation) -> int:
        """How many API requests of ``operation`` the cloud received (retries included)."""
        ...

    def alive(self, pool: PoolSpec) -> set[str]:
        """Ids of the pool's instances that are not terminated."""
        ...

    # ---- native node pools (only for harnesses whose provider is a NodePoolBackend)

    def add_node_pool(self, pool: PoolSpec, ready: Sequence[bool], *, autoscaling: bool = False) -> list[str]:
        """The pool's native node pool with one member per entry (Ready or not); the members' ids."""
        ...

    def node_pool_desired(self, pool: PoolSpec) -> int: ...

    def node_pool_members(self, pool: PoolSpec) -> list[str]: ...


class ContractHarness(Protocol):
    cloud: CloudScript
    #: the test credentials (every secret part); none may appear in an error message
    secrets: Sequence[str]

    def pool(self, name: str, *, native: bool = False) -> PoolSpec:
        """A pool this provider serves (its instance type and zone known to the cloud); ``native``: a
        native node-pool backend with a node pool the cloud knows."""
        ...

    def provider(self) -> CloudProvider:
        """A provider pointed at the cloud, with the test credentials and a short call deadline (< 2 s).
        Called inside the test's event loop."""
        ...

    def provider_with_bad_credentials(self) -> CloudProvider: ...

    def provider_unreachable(self) -> CloudProvider:
        """A provider pointed at an address where nothing listens."""
        ...


class ProviderContract:
    """Subclass in a provider's test module and define the ``harness`` fixture."""

    #: the provider retries throttling and transient failures itself (every real provider does)
    retries_internally: ClassVar[bool] = True
    #: the provider is also a NodePoolBackend
    native_node_pools: ClassVar[bool] = True

    @pytest.fixture
    def harness(self) -> Iterator[ContractHarness]:
        raise NotImplementedError("a provider's contract test defines the harness fixture")

    # ------------------------------------------------------------------ identity

    def test_is_a_cloud_provider_registered_under_its_name(self, harness: ContractHarness) -> None:
        async def check() -> None:
            provider = harness.provider()
            try:
                assert isinstance(provider, CloudProvider)
                assert load_class(provider.name) is type(provider)
                if self.native_node_pools:
                    assert isinstance(provider, NodePoolBackend)
            finally:
                await provider.aclose()
                await provider.aclose()  # idempotent

        run(check())

    # ------------------------------------------------------------------ quotes

    def test_a_quote_carries_stock_quota_and_the_cloud_price(self, harness: ContractHarness) -> None:
        pool = harness.pool("quoted")
        harness.cloud.set_stock(pool, True)
        harness.cloud.set_price(pool, 2.88, "CNY")
        harness.cloud.set_quota_headroom(pool, 7)
        quote = run(_with(harness, lambda p: p.quote(pool, 3)))
        assert quote.in_stock is True
        assert quote.quota_headroom_nodes == 7
        assert quote.price_per_node_hour == pytest.approx(2.88)
        assert quote.currency == "CNY"
        assert quote.can_launch(3)

    def test_a_sold_out_pool_is_quoted_out_of_stock(self, harness: ContractHarness) -> None:
        pool = harness.pool("soldout")
        harness.cloud.set_stock(pool, False)
        harness.cloud.set_price(pool, 1.5, "CNY")
        harness.cloud.set_quota_headroom(pool, 10)
        try:
            quote = run(_with(harness, lambda p: p.quote(pool, 1)))
        except StockOut:
            return  # answering with StockOut is as good as a quote that says so
        assert quote.in_stock is False
        assert not quote.can_launch(1)

    def test_a_used_up_quota_is_quoted_as_no_headroom(self, harness: ContractHarness) -> None:
        pool = harness.pool("noquota")
        harness.cloud.set_stock(pool, True)
        harness.cloud.set_price(pool, 1.5, "CNY")
        harness.cloud.set_quota_headroom(pool, 0)
        try:
            quote = run(_with(harness, lambda p: p.quote(pool, 1)))
        except QuotaExceeded:
            return
        assert quote.quota_headroom_nodes == 0
        assert not quote.can_launch(1)

    # ------------------------------------------------------------------ the cloud's truth

    def test_instances_are_found_by_the_pool_tag_only(self, harness: ContractHarness) -> None:
        pool, other = harness.pool("mine"), harness.pool("theirs")
        running = harness.cloud.add_instance(pool, InstanceState.RUNNING, 1_790_000_000.0)
        pending = harness.cloud.add_instance(pool, InstanceState.PENDING, 1_790_000_100.0)
        harness.cloud.add_instance(other, InstanceState.RUNNING, 1_790_000_000.0)
        harness.cloud.add_instance(pool, InstanceState.RUNNING, 1_790_000_000.0, tagged=False)
        found = run(_with(harness, lambda p: p.instances(pool)))
        by_id = {i.id: i for i in found}
        assert set(by_id) == {running, pending}
        assert by_id[running].state is InstanceState.RUNNING
        assert by_id[pending].state is InstanceState.PENDING
        assert by_id[running].created_at == pytest.approx(1_790_000_000.0, abs=1.0)
        assert all(i.pool == pool.name and i.alive for i in found)

    def test_terminate_stops_billing_and_a_gone_instance_is_no_error(self, harness: ContractHarness) -> None:
        pool = harness.pool("leaky")
        keep = harness.cloud.add_instance(pool, InstanceState.RUNNING, 1_790_000_000.0)
        leak = harness.cloud.add_instance(pool, InstanceState.RUNNING, 1_790_000_000.0)

        async def check(provider: CloudProvider) -> None:
            await provider.terminate(pool, [leak])
            await provider.terminate(pool, [leak])  # already terminating or gone: not an error

        run(_with(harness, check))
        assert harness.cloud.alive(pool) == {keep}

    # ------------------------------------------------------------------ errors

    @pytest.mark.parametrize("kind", ["AuthFailed", "InvalidRequest", "Unavailable", "Throttled", "Timeout"])
    def test_every_failure_is_one_of_the_provider_errors(
        self, harness: ContractHarness, kind: ErrorKind
    ) -> None:
        pool = harness.pool("failing")
        harness.cloud.fail("instances", kind, times=1000)
        with pytest.raises(ERROR_CLASSES[kind]) as caught:
            run(_with(harness, lambda p: p.instances(pool)))
        _no_secret(harness, caught.value)
        assert caught.value.provider == harness_name(harness)
        if kind == "Throttled":
            retry_after = getattr(caught.value, "retry_after", None)
            assert retry_after is None or retry_after >= 0
        if self.retries_internally and ERROR_CLASSES[kind].retryable:
            # bounded: a storm is given up on, not retried forever
            assert 1 < harness.cloud.requests("instances") <= 10
        elif not ERROR_CLASSES[kind].retryable:
            assert harness.cloud.requests("instances") == 1, "a failure no retry can fix is not retried"

    def test_a_throttled_call_is_retried_and_succeeds(self, harness: ContractHarness) -> None:
        pool = harness.pool("throttled")
        harness.cloud.add_instance(pool, InstanceState.RUNNING, 1_790_000_000.0)
        harness.cloud.fail("instances", "Throttled", times=2, retry_after=0.05)
        if not self.retries_internally:
            with pytest.raises(Throttled):
                run(_with(harness, lambda p: p.instances(pool)))
            return
        found = run(_with(harness, lambda p: p.instances(pool)))
        assert len(found) == 1
        assert harness.cloud.requests("instances") == 3

    def test_a_transient_quote_failure_is_retried(self, harness: ContractHarness) -> None:
        pool = harness.pool("flaky")
        harness.cloud.set_stock(pool, True)
        harness.cloud.set_price(pool, 3.0, "CNY")
        harness.cloud.set_quota_headroom(pool, 4)
        harness.cloud.fail("quote", "Unavailable", times=1)
        if not self.retries_internally:
            with pytest.raises(Unavailable):
                run(_with(harness, lambda p: p.quote(pool, 1)))
            return
        quote = run(_with(harness, lambda p: p.quote(pool, 1)))
        assert quote.price_per_node_hour == pytest.approx(3.0)

    def test_bad_credentials_fail_as_auth_failed_and_say_no_secret(self, harness: ContractHarness) -> None:
        pool = harness.pool("denied")
        harness.cloud.set_stock(pool, True)
        harness.cloud.set_price(pool, 1.0, "CNY")
        harness.cloud.set_quota_headroom(pool, 4)

        async def check() -> None:
            provider = harness.provider_with_bad_credentials()
            try:
                for call in (provider.quote(pool, 1), provider.instances(pool)):
                    with pytest.raises(AuthFailed) as caught:
                        await call
                    _no_secret(harness, caught.value)
            finally:
                await provider.aclose()

        run(check())

    def test_an_unreachable_cloud_is_unavailable(self, harness: ContractHarness) -> None:
        pool = harness.pool("unreachable")

        async def check() -> None:
            provider = harness.provider_unreachable()
            try:
                with pytest.raises(Unavailable) as caught:
                    await provider.instances(pool)
                _no_secret(harness, caught.value)
            finally:
                await provider.aclose()

        run(check())

    # ------------------------------------------------------------------ native node pools

    def test_a_node_pool_reports_its_desired_count_and_members(self, harness: ContractHarness) -> None:
        self._native_only()
        pool = harness.pool("np-report", native=True)
        ids = harness.cloud.add_node_pool(pool, [True, True, False])
        node_pool = run(_with(harness, lambda p: _backend(p).node_pool(pool)))
        assert node_pool.desired == 3
        assert node_pool.autoscaling is False
        members = {m.instance_id: m for m in node_pool.members}
        assert set(members) == set(ids)
        assert [members[i].ready for i in ids] == [True, True, False]

    def test_a_node_pool_is_scaled_to_a_desired_count(self, harness: ContractHarness) -> None:
        self._native_only()
        pool = harness.pool("np-scale", native=True)
        harness.cloud.add_node_pool(pool, [True])
        run(_with(harness, lambda p: _backend(p).scale_node_pool(pool, 4)))
        assert harness.cloud.node_pool_desired(pool) == 4

    def test_chosen_nodes_are_removed_and_the_desired_count_follows(self, harness: ContractHarness) -> None:
        self._native_only()
        pool = harness.pool("np-remove", native=True)
        first, second, third = harness.cloud.add_node_pool(pool, [True, True, True])

        async def remove(provider: CloudProvider) -> int:
            await _backend(provider).remove_nodes(pool, [second])
            # read right after: burstd's next ScalePool compares with this, and must find it already lowered
            return (await _backend(provider).node_pool(pool)).desired

        assert run(_with(harness, remove)) == 2
        assert sorted(harness.cloud.node_pool_members(pool)) == sorted([first, third])
        assert harness.cloud.node_pool_desired(pool) == 2

    def test_a_node_pool_with_the_clouds_autoscaler_says_so(self, harness: ContractHarness) -> None:
        self._native_only()
        pool = harness.pool("np-auto", native=True)
        harness.cloud.add_node_pool(pool, [True], autoscaling=True)
        assert run(_with(harness, lambda p: _backend(p).node_pool(pool))).autoscaling is True

    def test_an_unknown_node_pool_is_an_invalid_request(self, harness: ContractHarness) -> None:
        self._native_only()
        pool = harness.pool("np-missing", native=True)  # no add_node_pool: the cloud does not know it
        with pytest.raises(InvalidRequest) as caught:
            run(_with(harness, lambda p: _backend(p).node_pool(pool)))
        _no_secret(harness, caught.value)

    def _native_only(self) -> None:
        if not self.native_node_pools:
            pytest.fail("this provider declares no native node pools; do not run the node-pool contract")


# ---------------------------------------------------------------------------------------------- helpers


def harness_name(harness: ContractHarness) -> str:
    async def name() -> str:
        provider = harness.provider()
        try:
            return provider.name
        finally:
            await provider.aclose()

    return run(name())


def _backend(provider: CloudProvider) -> NodePoolBackend:
    assert isinstance(provider, NodePoolBackend), f"{type(provider).__name__} drives no native node pools"
    return provider


async def _with(harness: ContractHarness, call: Callable[[CloudProvider], Coroutine[Any, Any, T]]) -> T:
    provider = harness.provider()
    try:
        return await call(provider)
    finally:
        await provider.aclose()


def _no_secret(harness: ContractHarness, error: BaseException) -> None:
    shown = f"{error} {error!r} {getattr(error, 'message', '')} {getattr(error, 'code', '')}"
    for secret in harness.secrets:
        assert secret not in shown, "an error message carries a credential"
