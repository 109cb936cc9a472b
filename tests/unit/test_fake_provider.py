"""The scriptable fake cloud: price, stock over time, quota, delays, injected errors, strict inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from burstd_provider_fake import FakeProvider, ScriptError
from pydantic import ValidationError

from burstd.cloud import (
    AuthFailed,
    CloudProvider,
    Instance,
    InstanceState,
    InvalidRequest,
    NodePool,
    NodePoolBackend,
    ProviderError,
    QuotaExceeded,
    Quote,
    StockOut,
    Throttled,
    Unavailable,
)
from burstd.policy.spec import PoolSpec

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def pool_spec(name: str = "tke-gz6", **overrides: Any) -> PoolSpec:
    data: dict[str, Any] = {
        "name": name,
        "provider": "fake",
        "cluster": "tke-gz",
        "backend": "capi-machinedeployment",
        "ref": {"namespace": "capi", "name": "md-0"},
        "nodes": {"min": 0, "max": 10},
        "instanceType": "SA5.2XLARGE32",
        "zone": "ap-guangzhou-6",
        "allocatable": {"cpu": "8", "memory": "32Gi"},
        "price": {"source": "provider"},
    }
    data.update(overrides)
    return PoolSpec.model_validate(data)


SCRIPT: dict[str, Any] = {
    "pools": {
        "tke-gz6": {
            "price": 2.88,
            "currency": "CNY",
            "quota": 5,
            "instanceType": "SA5.2XLARGE32",
            "zone": "ap-guangzhou-6",
        },
        "ack-hz-h": {"price": 3.02, "stock": [{"at": "1h", "inStock": False}, {"at": "2h", "inStock": True}]},
    }
}


def quote(provider: FakeProvider, pool: PoolSpec, nodes: int = 1) -> Quote:
    return run(provider.quote(pool, nodes))


def instances(provider: FakeProvider, pool: PoolSpec) -> Sequence[Instance]:
    return run(provider.instances(pool))


def terminate(provider: FakeProvider, pool: PoolSpec, ids: Sequence[str]) -> None:
    run(provider.terminate(pool, ids))


def test_satisfies_the_protocol() -> None:
    provider: CloudProvider = FakeProvider(SCRIPT)  # checked by mypy as well as at run time
    assert isinstance(provider, CloudProvider)
    assert provider.name == "fake"


def test_quote_reports_price_stock_and_quota() -> None:
    provider = FakeProvider(SCRIPT)
    assert quote(provider, pool_spec()) == Quote(True, 5, 2.88, "CNY")
    assert quote(provider, pool_spec("ack-hz-h", instanceType=None, zone=None)) == Quote(
        True, 1000, 3.02, "CNY"
    )


def test_stock_changes_over_time() -> None:
    provider = FakeProvider(SCRIPT)
    ack = pool_spec("ack-hz-h", instanceType=None, zone=None)
    assert quote(provider, ack).in_stock
    provider.advance(3600)
    assert not quote(provider, ack).in_stock
    with pytest.raises(StockOut):
        provider.launch("ack-hz-h", 1)
    provider.advance(3599)
    assert not quote(provider, ack).in_stock
    provider.advance(1)
    assert quote(provider, ack).in_stock
    assert len(provider.launch("ack-hz-h", 2)) == 2


def test_external_clock() -> None:
    now = [0.0]
    provider = FakeProvider(SCRIPT, clock=lambda: now[0])
    ack = pool_spec("ack-hz-h", instanceType=None, zone=None)
    now[0] = 5400.0
    assert not quote(provider, ack).in_stock
    with pytest.raises(RuntimeError, match="external clock"):
        provider.advance(1)


def test_clock_never_goes_backwards() -> None:
    with pytest.raises(ValueError, match="backwards"):
        FakeProvider(SCRIPT).advance(-1)


def test_quota_counts_alive_instances() -> None:
    provider = FakeProvider(SCRIPT)
    pool = pool_spec()
    launched = provider.launch("tke-gz6", 3)
    assert quote(provider, pool).quota_headroom_nodes == 2
    with pytest.raises(QuotaExceeded, match="launching 3 instances exceeds the quota \\(room for 2\\)"):
        provider.launch("tke-gz6", 3)
    terminate(provider, pool, [launched[0].id])
    assert quote(provider, pool).quota_headroom_nodes == 3


def test_account_quota_spans_pools() -> None:
    provider = FakeProvider({"quota": 4, "pools": {"a": {"quota": 10}, "b": {"quota": 10}}})
    provider.launch("a", 3)
    assert provider.quota_headroom("b") == 1
    with pytest.raises(QuotaExceeded):
        provider.launch("b", 2)
    assert len(provider.launch("b", 1)) == 1
    assert provider.quota_headroom("a") == 0


def test_instances_move_through_their_states() -> None:
    provider = FakeProvider({"pools": {"p": {"launchDelay": "90s", "terminateDelay": 30}}}, start=1000.0)
    pool = pool_spec("p", instanceType=None, zone=None)
    first, second = provider.launch("p", 2)
    assert first.id != second.id
    assert (first.state, first.created_at, first.pool) == (InstanceState.PENDING, 1000.0, "p")
    provider.advance(89)
    assert {i.state for i in instances(provider, pool)} == {InstanceState.PENDING}
    provider.advance(1)
    assert {i.state for i in instances(provider, pool)} == {InstanceState.RUNNING}
    terminate(provider, pool, [first.id])
    provider.advance(29)
    states = {i.id: i.state for i in instances(provider, pool)}
    assert states == {first.id: InstanceState.STOPPING, second.id: InstanceState.RUNNING}
    provider.advance(1)
    states = {i.id: i.state for i in instances(provider, pool)}
    assert states == {first.id: InstanceState.TERMINATED, second.id: InstanceState.RUNNING}
    assert provider.alive("p") == 1
    terminate(provider, pool, [first.id])  # terminating again changes nothing
    assert provider.alive() == 1


def test_instances_are_per_pool() -> None:
    provider = FakeProvider({"pools": {"a": {}, "b": {}}})
    provider.launch("a", 2)
    provider.launch("b", 1)
    assert len(instances(provider, pool_spec("a", instanceType=None, zone=None))) == 2
    assert [i.pool for i in instances(provider, pool_spec("b", instanceType=None, zone=None))] == ["b"]


# ------------------------------------------------------------------------------------------- strict inputs


def test_unknown_pool_is_an_invalid_request() -> None:
    provider = FakeProvider(SCRIPT)
    with pytest.raises(InvalidRequest, match=r"unknown pool 'nope' \(known pools: ack-hz-h, tke-gz6\)"):
        quote(provider, pool_spec("nope"))
    with pytest.raises(InvalidRequest, match="unknown pool"):
        instances(provider, pool_spec("nope"))
    with pytest.raises(InvalidRequest, match="unknown pool"):
        provider.launch("nope")
    assert [(c.call, c.failed) for c in provider.calls] == [
        ("quote", "InvalidRequest"),
        ("instances", "InvalidRequest"),
        ("launch", "InvalidRequest"),
    ]


def test_instance_type_and_zone_must_match_the_script() -> None:
    provider = FakeProvider(SCRIPT)
    with pytest.raises(InvalidRequest, match=r"instance type 'S5\.LARGE8' is not offered"):
        quote(provider, pool_spec(instanceType="S5.LARGE8"))
    with pytest.raises(InvalidRequest, match="zone 'ap-guangzhou-3'"):
        quote(provider, pool_spec(zone="ap-guangzhou-3"))


@pytest.mark.parametrize("nodes", [-1, True, 1.5])
def test_quote_needs_a_node_count(nodes: Any) -> None:
    with pytest.raises(InvalidRequest, match="non-negative integer"):
        quote(FakeProvider(SCRIPT), pool_spec(), nodes)


@pytest.mark.parametrize("nodes", [0, -2, False])
def test_launch_needs_a_positive_count(nodes: Any) -> None:
    with pytest.raises(InvalidRequest, match="positive integer"):
        FakeProvider(SCRIPT).launch("tke-gz6", nodes)


def test_terminate_unknown_ids_terminates_nothing() -> None:
    provider = FakeProvider(SCRIPT)
    [instance] = provider.launch("tke-gz6", 1)
    with pytest.raises(InvalidRequest, match="unknown instance ids: i-404"):
        terminate(provider, pool_spec(), [instance.id, "i-404"])
    assert provider.alive("tke-gz6") == 1


def test_terminate_ids_of_another_pool_terminates_nothing() -> None:
    provider = FakeProvider(SCRIPT)
    [mine] = provider.launch("tke-gz6", 1)
    [theirs] = provider.launch("ack-hz-h", 1)
    with pytest.raises(InvalidRequest, match=f"instances not in pool 'tke-gz6': {theirs.id}"):
        terminate(provider, pool_spec(), [mine.id, theirs.id])
    assert provider.alive() == 2


# ------------------------------------------------------------------------------------------- injected errors


def test_next_quotes_are_throttled_then_succeed() -> None:
    provider = FakeProvider(
        {
            **SCRIPT,
            "errors": [
                {
                    "call": "quote",
                    "error": "Throttled",
                    "times": 2,
                    "retryAfter": "2s",
                    "code": "RequestLimitExceeded",
                }
            ],
        }
    )
    for _ in range(2):
        with pytest.raises(Throttled) as caught:
            quote(provider, pool_spec())
        assert caught.value.retry_after == 2.0
        assert caught.value.code == "RequestLimitExceeded"
        assert caught.value.pool == "tke-gz6"
    assert quote(provider, pool_spec()).in_stock
    assert [c.failed for c in provider.calls_of("quote")] == ["Throttled", "Throttled", None]


def test_errors_can_target_a_pool_and_wait() -> None:
    provider = FakeProvider(
        {
            **SCRIPT,
            "errors": [
                {
                    "call": "launch",
                    "pool": "tke-gz6",
                    "error": "StockOut",
                    "after": 1,
                    "message": "ResourceInsufficient.SpecifiedInstanceType",
                }
            ],
        }
    )
    provider.launch("ack-hz-h")  # another pool: not counted
    provider.launch("tke-gz6")  # the first matching call goes through
    with pytest.raises(StockOut, match=r"ResourceInsufficient\.SpecifiedInstanceType"):
        provider.launch("tke-gz6")
    provider.launch("tke-gz6")  # used up
    assert provider.alive() == 3


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("StockOut", StockOut),
        ("QuotaExceeded", QuotaExceeded),
        ("Throttled", Throttled),
        ("AuthFailed", AuthFailed),
        ("InvalidRequest", InvalidRequest),
        ("Unavailable", Unavailable),
    ],
)
def test_every_error_kind_can_be_injected(name: Any, error: type[ProviderError]) -> None:
    provider = FakeProvider(SCRIPT)
    provider.inject("instances", name)
    with pytest.raises(error, match="injected"):
        instances(provider, pool_spec())
    assert instances(provider, pool_spec()) == []


def test_injected_errors_apply_to_terminate() -> None:
    provider = FakeProvider(SCRIPT)
    [instance] = provider.launch("tke-gz6")
    provider.inject("terminate", "Unavailable")
    with pytest.raises(Unavailable):
        terminate(provider, pool_spec(), [instance.id])
    assert provider.alive() == 1
    terminate(provider, pool_spec(), [instance.id])
    assert provider.alive() == 0


def test_inject_validates() -> None:
    provider = FakeProvider(SCRIPT)
    with pytest.raises(InvalidRequest, match="unknown pool"):
        provider.inject("quote", "Throttled", pool="nope")
    with pytest.raises(ValidationError):
        provider.inject("quote", "Boom")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        provider.inject("quote", "Throttled", times=0)


# ------------------------------------------------------------------------------------------- classify


def test_classify() -> None:
    provider = FakeProvider(SCRIPT)
    stock_out = StockOut("sold out")
    assert provider.classify(stock_out) is stock_out
    assert isinstance(provider.classify(TimeoutError()), Unavailable)
    assert isinstance(provider.classify(ConnectionResetError("reset by peer")), Unavailable)
    assert isinstance(provider.classify(ValueError("bad")), InvalidRequest)
    unexpected = provider.classify(RuntimeError("SecretKey=abc123 leaked into an exception"))
    assert isinstance(unexpected, Unavailable)
    assert "abc123" not in str(unexpected)


# ------------------------------------------------------------------------------------------- the script


@pytest.mark.parametrize(
    ("script", "fragment"),
    [
        ({"pools": {"p": {"prize": 1}}}, "pools.p.prize: unknown key"),
        ({"pool": {}}, "pool: unknown key"),
        ({"pools": {"p": {"price": -1}}}, "pools.p.price: Input should be greater than or equal to 0"),
        ({"pools": {"p": {"quota": "5"}}}, "pools.p.quota: Input should be a valid integer"),
        ({"pools": {"p": {"stock": "yes"}}}, "pools.p.stock"),
        ({"pools": {"p": {"launchDelay": "soon"}}}, "pools.p.launchDelay: invalid duration 'soon'"),
        (
            {"pools": {"p": {"stock": [{"at": 60, "inStock": False}, {"at": 30, "inStock": True}]}}},
            "strictly increasing",
        ),
        ({"errors": [{"call": "quote", "error": "Boom"}]}, "errors[0].error"),
        ({"errors": [{"call": "reboot", "error": "Throttled"}]}, "errors[0].call"),
        (
            {"pools": {}, "errors": [{"call": "quote", "error": "StockOut", "pool": "p"}]},
            "errors[0].pool 'p' is not among the scripted pools",
        ),
        ({"errors": [{"call": "quote", "error": "StockOut", "retryAfter": 1}]}, "retryAfter only applies"),
    ],
)
def test_script_is_validated_strictly(script: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScriptError) as caught:
        FakeProvider(script)
    assert fragment in str(caught.value)


def test_script_must_be_a_mapping() -> None:
    with pytest.raises(ScriptError, match="must be a mapping, got list"):
        FakeProvider([1, 2])  # type: ignore[arg-type]


def test_script_from_yaml_and_file(tmp_path: Path) -> None:
    text = "pools:\n  tke-gz6:\n    price: 2.5\n    quota: 3\nerrors:\n  - {call: quote, error: Throttled}\n"
    provider = FakeProvider.from_yaml(text)
    assert provider.script.pools["tke-gz6"].quota == 3
    path = tmp_path / "cloud.yaml"
    path.write_text(text)
    from_file = FakeProvider(script_file=path)
    with pytest.raises(Throttled):
        quote(from_file, pool_spec(instanceType=None))
    assert quote(from_file, pool_spec()).price_per_node_hour == 2.5


def test_script_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="cannot read fake provider script"):
        FakeProvider(script_file=tmp_path / "missing.yaml")
    with pytest.raises(ScriptError, match="not valid YAML"):
        FakeProvider.from_yaml("pools: [")
    with pytest.raises(ScriptError, match="either script or script_file"):
        FakeProvider({}, script_file=tmp_path / "x.yaml")


# ------------------------------------------------------------------------------------------- closing


def test_aclose_is_idempotent_and_counted() -> None:
    provider = FakeProvider(SCRIPT)

    async def close_twice() -> None:
        await provider.aclose()
        await provider.aclose()

    run(close_twice())
    assert provider.closed == 2


# ------------------------------------------------------------------------------------------- leaks


def test_an_added_instance_is_held_in_its_state_until_terminated() -> None:
    provider = FakeProvider({"pools": {"p": {"terminateDelay": 30}}}, start=100.0)
    pool = pool_spec("p", instanceType=None, zone=None)
    leak = provider.add_instance("p", InstanceState.PENDING, created_at=50.0)
    hidden = provider.add_instance("p", tagged=False)
    gone = provider.add_instance("p", InstanceState.TERMINATED)
    provider.advance(3600)
    by_id = {i.id: i for i in instances(provider, pool)}
    assert set(by_id) == {leak, gone}  # the untagged one is not found by the pool tag
    assert (by_id[leak].state, by_id[leak].created_at) == (InstanceState.PENDING, 50.0)
    assert by_id[gone].state is InstanceState.TERMINATED
    assert provider.alive_ids("p") == {leak, hidden}  # quota counts untagged instances too
    assert [c.call for c in provider.calls] == ["instances"]  # the helpers are not calls
    terminate(provider, pool, [leak, gone])
    assert {i.id: i.state for i in instances(provider, pool)}[leak] is InstanceState.STOPPING
    provider.advance(30)
    assert provider.alive_ids("p") == {hidden}


def test_add_instance_needs_a_known_pool() -> None:
    with pytest.raises(InvalidRequest, match="add_instance: unknown pool 'nope'"):
        FakeProvider(SCRIPT).add_instance("nope")


# ------------------------------------------------------------------------------------------- changing the script


def test_set_pool_adds_and_changes_pools_strictly() -> None:
    provider = FakeProvider()
    provider.set_pool("new", price=2.5, currency="USD", stock=False)
    pool = pool_spec("new", instanceType=None, zone=None)
    assert quote(provider, pool) == Quote(False, 1000, 2.5, "USD")
    provider.set_pool("new", stock=True, quota=0)
    assert quote(provider, pool) == Quote(True, 0, 2.5, "USD")
    with pytest.raises(ScriptError, match="invalid fake provider script for pool new: price"):
        provider.set_pool("new", price=-1)
    with pytest.raises(ScriptError, match="add_node_pool"):
        provider.set_pool("new", node_pool={"clusterId": "c", "nodePoolId": "n"})
    assert provider.script.pools["new"].price == 2.5


# ------------------------------------------------------------------------------------------- rules


def test_a_rule_without_call_fails_every_call_always() -> None:
    provider = FakeProvider(
        {
            **SCRIPT,
            "errors": [{"error": "AuthFailed", "times": "always", "code": "AuthFailure.SecretIdNotFound"}],
        }
    )
    for _ in range(3):
        with pytest.raises(AuthFailed, match=r"AuthFailure\.SecretIdNotFound"):
            quote(provider, pool_spec())
        with pytest.raises(AuthFailed):
            instances(provider, pool_spec())
        with pytest.raises(AuthFailed):
            provider.launch("tke-gz6")
    assert provider.alive() == 0


def test_inject_always() -> None:
    provider = FakeProvider(SCRIPT)
    provider.inject("instances", "Unavailable", times="always", pool="tke-gz6")
    for _ in range(5):
        with pytest.raises(Unavailable):
            instances(provider, pool_spec())
    assert instances(provider, pool_spec("ack-hz-h", instanceType=None, zone=None)) == []
    with pytest.raises(ValidationError):
        provider.inject("instances", "Unavailable", times="forever")


# ------------------------------------------------------------------------------------------- native node pools

NODE_POOL_SCRIPT: dict[str, Any] = {
    "pools": {
        "tke-np": {
            "price": 2.88,
            "quota": 6,
            "launchDelay": "90s",
            "terminateDelay": "30s",
            "nodePool": {"clusterId": "cls-a1", "nodePoolId": "np-b2", "desired": 2},
        },
        "ack-np": {"nodePool": {"clusterId": "c-x", "nodePoolId": "np-y", "autoscaling": True}},
    }
}


def native(name: str = "tke-np", cluster_id: str = "cls-a1", node_pool_id: str = "np-b2") -> PoolSpec:
    return pool_spec(
        name,
        backend="tke-nodepool",
        ref=None,
        nodePool={"clusterId": cluster_id, "nodePoolId": node_pool_id},
        instanceType=None,
        zone=None,
    )


def node_pool(provider: FakeProvider, pool: PoolSpec) -> NodePool:
    return run(provider.node_pool(pool))


def test_satisfies_the_node_pool_protocol() -> None:
    backend: NodePoolBackend = FakeProvider(NODE_POOL_SCRIPT)  # checked by mypy as well as at run time
    assert isinstance(backend, NodePoolBackend)


def test_a_scripted_node_pool_starts_with_ready_members() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT, start=1000.0)
    pool = native()
    found = node_pool(provider, pool)
    assert (found.id, found.desired, found.autoscaling) == ("np-b2", 2, False)
    assert [m.ready for m in found.members] == [True, True]
    assert all(m.node_name == f"node-{m.instance_id}" for m in found.members)
    # the members are the pool's instances, found by the pool tag
    assert {i.id for i in instances(provider, pool)} == {m.instance_id for m in found.members}
    assert node_pool(provider, native("ack-np", "c-x", "np-y")).autoscaling is True


def test_scaling_up_launches_members_that_become_ready_after_the_launch_delay() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    run(provider.scale_node_pool(pool, 4))
    found = node_pool(provider, pool)
    assert found.desired == 4
    assert [(m.ready, m.node_name is None) for m in found.members] == [
        (True, False),
        (True, False),
        (False, True),
        (False, True),
    ]
    provider.advance(90)
    assert all(m.ready for m in node_pool(provider, pool).members)
    assert provider.quota_headroom("tke-np") == 2


def test_scaling_up_is_subject_to_quota_and_stock() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    with pytest.raises(QuotaExceeded, match="room for 4"):
        run(provider.scale_node_pool(pool, 7))
    assert node_pool(provider, pool).desired == 2
    provider.set_pool("tke-np", stock=False)
    with pytest.raises(StockOut):
        run(provider.scale_node_pool(pool, 3))
    assert len(node_pool(provider, pool).members) == 2
    run(provider.scale_node_pool(pool, 1))  # scaling down needs no stock
    assert node_pool(provider, pool).desired == 1


def test_scaling_down_removes_the_newest_members() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    oldest = provider.node_pool_members("cls-a1", "np-b2")
    run(provider.scale_node_pool(pool, 4))
    run(provider.scale_node_pool(pool, 2))
    assert provider.node_pool_members("cls-a1", "np-b2") == oldest
    found = node_pool(provider, pool)
    assert found.desired == 2
    assert [m.deleting for m in found.members] == [False, False, True, True]  # terminateDelay 30s
    provider.advance(30)
    assert [m.instance_id for m in node_pool(provider, pool).members] == oldest
    assert provider.alive("tke-np") == 2


def test_remove_nodes_removes_exactly_those() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    run(provider.scale_node_pool(pool, 4))
    first, second, third, fourth = provider.node_pool_members("cls-a1", "np-b2")
    run(provider.remove_nodes(pool, [second, fourth]))
    assert provider.node_pool_members("cls-a1", "np-b2") == [first, third]
    assert provider.node_pool_desired("cls-a1", "np-b2") == 2
    run(provider.remove_nodes(pool, [second]))  # already being removed: no error, no second drop
    assert provider.node_pool_desired("cls-a1", "np-b2") == 2


def test_remove_nodes_rejects_non_members_and_removes_nothing() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    [member, _] = provider.node_pool_members("cls-a1", "np-b2")
    leak = provider.add_instance("tke-np")
    with pytest.raises(InvalidRequest, match=f"instances not in node pool cls-a1/np-b2: {leak}"):
        run(provider.remove_nodes(pool, [member, leak]))
    with pytest.raises(InvalidRequest, match="unknown instance ids: ins-404"):
        run(provider.remove_nodes(pool, ["ins-404"]))
    assert len(provider.node_pool_members("cls-a1", "np-b2")) == 2
    assert provider.node_pool_desired("cls-a1", "np-b2") == 2


def test_a_leaked_instance_is_no_node_pool_member() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    leak = provider.add_instance("tke-np")
    members = {m.instance_id for m in node_pool(provider, pool).members}
    tagged = {i.id for i in instances(provider, pool)}
    assert tagged - members == {leak}


@pytest.mark.parametrize(
    ("pool", "fragment"),
    [
        (
            native(node_pool_id="np-404"),
            "unknown node pool cls-a1/np-404 (known node pools: c-x/np-y, cls-a1/np-b2)",
        ),
        (native("ack-np"), "node pool cls-a1/np-b2 belongs to pool 'tke-np'"),
        (pool_spec("tke-np", instanceType=None, zone=None), "names no native node pool"),
        (native("nope"), "unknown pool 'nope'"),
    ],
    ids=["unknown", "another-pools", "not-native", "unknown-pool"],
)
def test_an_unknown_node_pool_is_an_invalid_request(pool: PoolSpec, fragment: str) -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    for call in (
        lambda: provider.node_pool(pool),
        lambda: provider.scale_node_pool(pool, 1),
        lambda: provider.remove_nodes(pool, []),
    ):
        with pytest.raises(InvalidRequest) as caught:
            run(call())
        assert fragment in str(caught.value)
    assert [c.failed for c in provider.calls] == ["InvalidRequest"] * 3


@pytest.mark.parametrize("desired", [-1, True, 2.0])
def test_scale_node_pool_needs_a_count(desired: Any) -> None:
    with pytest.raises(InvalidRequest, match="non-negative integer"):
        run(FakeProvider(NODE_POOL_SCRIPT).scale_node_pool(native(), desired))


@pytest.mark.parametrize("call", ["node_pool", "scale_node_pool", "remove_nodes"])
def test_errors_can_be_injected_into_node_pool_calls(call: Any) -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    provider.inject(call, "Throttled", retry_after=1.0)
    calls: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
        "node_pool": lambda: provider.node_pool(native()),
        "scale_node_pool": lambda: provider.scale_node_pool(native(), 3),
        "remove_nodes": lambda: provider.remove_nodes(
            native(), provider.node_pool_members("cls-a1", "np-b2")[:1]
        ),
    }
    with pytest.raises(Throttled):
        run(calls[call]())
    assert provider.node_pool_desired("cls-a1", "np-b2") == 2  # nothing changed
    assert len(provider.node_pool_members("cls-a1", "np-b2")) == 2
    run(calls[call]())
    assert [c.failed for c in provider.calls_of(call)] == ["Throttled", None]


def test_add_node_pool_helper() -> None:
    provider = FakeProvider(SCRIPT)
    ids = provider.add_node_pool("tke-gz6", "cls-1", "np-1", [True, False], autoscaling=True)
    pool = native("tke-gz6", "cls-1", "np-1")
    found = node_pool(provider, pool)
    assert [m.instance_id for m in found.members] == ids
    assert [m.ready for m in found.members] == [True, False]
    assert (found.desired, found.autoscaling) == (2, True)
    with pytest.raises(ScriptError, match="exists already"):
        provider.add_node_pool("ack-hz-h", "cls-1", "np-1")
    with pytest.raises(ScriptError, match="has a node pool already"):
        provider.add_node_pool("tke-gz6", "cls-1", "np-2")


def test_two_pools_cannot_share_a_node_pool() -> None:
    node_pool_ref = {"clusterId": "c", "nodePoolId": "n"}
    with pytest.raises(ScriptError, match="pools a and b both name node pool c/n"):
        FakeProvider({"pools": {"a": {"nodePool": node_pool_ref}, "b": {"nodePool": node_pool_ref}}})
    with pytest.raises(ScriptError, match=r"pools\.a\.nodePool\.nodePoolId: unknown key|nodePoolId"):
        FakeProvider({"pools": {"a": {"nodePool": {"clusterId": "c"}}}})
    with pytest.raises(ScriptError, match=r"pools\.a\.nodePool\.size: unknown key"):
        FakeProvider({"pools": {"a": {"nodePool": {**node_pool_ref, "size": 2}}}})


# ------------------------------------------------------------------------------------------- simulator helpers


def test_release_is_the_counterpart_of_launch() -> None:
    provider = FakeProvider({"pools": {"p": {"terminateDelay": 30}, "q": {}}}, record_calls=False)
    first, second = provider.launch("p", 2)
    provider.release("p", [first.id])
    assert provider.alive("p") == 2  # stopping for 30 s
    provider.advance(30)
    assert provider.alive("p") == 1
    assert provider.alive_ids("p") == {second.id}
    provider.release("p", [first.id])  # gone already: nothing changes
    with pytest.raises(InvalidRequest, match=f"release: no instance '{second.id}' in pool 'q'"):
        provider.release("q", [second.id])
    assert provider.calls == []  # record_calls=False


def test_alive_counts_every_state() -> None:
    provider = FakeProvider({"pools": {"p": {"terminateDelay": 10}}})
    provider.add_instance("p", InstanceState.STOPPING)
    provider.add_instance("p", InstanceState.TERMINATED)
    provider.add_instance("p", InstanceState.PENDING, tagged=False)
    [launched] = provider.launch("p")
    assert provider.alive("p") == provider.alive() == 3
    provider.release("p", [launched.id])
    provider.advance(10)
    assert provider.alive("p") == len(provider.alive_ids("p")) == 2


def test_in_stock_now_peeks_without_a_call() -> None:
    provider = FakeProvider(SCRIPT)
    assert provider.in_stock_now("ack-hz-h")
    provider.advance(3600)
    assert not provider.in_stock_now("ack-hz-h")
    assert provider.calls == []
    with pytest.raises(InvalidRequest, match="unknown pool"):
        provider.in_stock_now("nope")


def test_sync_cores_answer_as_the_async_methods() -> None:
    provider = FakeProvider(NODE_POOL_SCRIPT)
    pool = native()
    assert provider.quote_sync(pool, 1) == quote(provider, pool)
    assert provider.instances_sync(pool) == list(instances(provider, pool))
    assert provider.node_pool_sync(pool) == node_pool(provider, pool)
    provider.scale_node_pool_sync(pool, 3)
    provider.remove_nodes_sync(pool, provider.node_pool_members("cls-a1", "np-b2")[-1:])
    assert provider.node_pool_desired("cls-a1", "np-b2") == 2
    provider.terminate_sync(pool, provider.node_pool_members("cls-a1", "np-b2")[:1])
    assert [c.call for c in provider.calls] == [
        "quote",
        "quote",
        "instances",
        "instances",
        "node_pool",
        "node_pool",
        "scale_node_pool",
        "remove_nodes",
        "terminate",
    ]
